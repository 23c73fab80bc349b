#!/usr/bin/python3
"""ntk_evaluate against scikit-learn's sklearn.metrics on the same predictions
(those of ntk_predict_batch on the same query), and real[] inputs against
float8[] ones.

Counts, accuracy and the per-label figures must be equal; the means over
labels and outputs and the regression figures (sums in another order) equal
to a few units in the last place.  Runs against the cluster in the PG*
environment variables; creates and drops its own database.  Ends with
"N passed, M failed".
"""
import json
import os
import sys
import warnings

import numpy as np
from sklearn import metrics

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402

DB = "ntk_evaluate_test"
CHECKS = testlib.Checks(verbose=True)
warnings.simplefilter("ignore")   # sklearn's zero_division warnings


def check(name, ok, detail=""):
    return CHECKS(ok, "%s %s" % (name, detail))


def close(a, b, rel=1e-12):
    """Equal up to rel of the larger magnitude (None for NaN)."""
    if a is None or b is None or (isinstance(b, float) and np.isnan(b)):
        return a is None and (b is None or np.isnan(b))
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def arr(v):
    return "{" + ",".join(repr(float(x)) for x in v) + "}"


def evaluate(cur, model, query):
    cur.execute("SELECT ntk_evaluate(%s, %s)", (model, query))
    v = cur.fetchone()[0]
    return v if isinstance(v, dict) else json.loads(v)


def batch(cur, model, query):
    """ntk_predict_batch's outputs (rows x k) and labels, in query order."""
    cur.execute("SELECT outputs, label FROM ntk_predict_batch(%s, %s) ORDER BY id",
                (model, query))
    rows = cur.fetchall()
    return np.array([r[0] for r in rows], float), [r[1] for r in rows]


def check_regression(cur, name, model, table, k):
    y = "y" if k == 1 else "y2"
    got = evaluate(cur, model, f"SELECT x, {y} FROM {table} ORDER BY id")
    P, _ = batch(cur, model, f"SELECT id::bigint, x FROM {table}")
    cur.execute(f"SELECT {y} FROM {table} ORDER BY id")
    Y = np.array([r[0] for r in cur.fetchall()], float).reshape(len(P), k)
    n = len(Y)
    check(f"{name}: n", got["n"] == n, f"{got['n']} {n}")
    rmse = np.sqrt(metrics.mean_squared_error(Y, P, multioutput="raw_values"))
    mae = metrics.mean_absolute_error(Y, P, multioutput="raw_values")
    r2 = metrics.r2_score(Y, P, multioutput="raw_values") if n >= 2 else [np.nan] * k
    ok = all(close(got["outputs"][j]["rmse"], rmse[j]) and close(got["outputs"][j]["mae"], mae[j])
             and close(got["outputs"][j]["r2"], r2[j]) for j in range(k))
    check(f"{name}: rmse, mae, r2 of every output equal sklearn's", ok,
          f"r2 {[o['r2'] for o in got['outputs']]} {list(r2)}")
    r2avg = metrics.r2_score(Y, P) if n >= 2 else np.nan
    rmseavg = metrics.mean_squared_error(Y, P, squared=False)
    ok = (close(got["rmse"], rmseavg) and close(got["mae"], metrics.mean_absolute_error(Y, P))
          and close(got["r2"], r2avg))
    check(f"{name}: averaged rmse, mae, r2 equal sklearn's (uniform_average)", ok,
          f"{got['rmse']} {rmseavg} {got['r2']} {r2avg}")
    return got


def check_classification(cur, name, model, query, idquery):
    got = evaluate(cur, model, query)
    _, pred = batch(cur, model, idquery)
    cur.execute(query)
    true = [r[1] for r in cur.fetchall()]
    labels = sorted(set(true) | set(pred))   # sklearn's labels=None
    check(f"{name}: labels are sklearn's (sorted union of true and predicted)",
          got["labels"] == labels and list(np.unique(true + pred)) == labels, f"{got['labels']}")
    cm = metrics.confusion_matrix(true, pred)
    check(f"{name}: confusion matrix equals sklearn's", got["confusion_matrix"] == cm.tolist(),
          f"{got['confusion_matrix']}")
    check(f"{name}: accuracy equals sklearn's",
          got["accuracy"] == metrics.accuracy_score(true, pred), f"{got['accuracy']}")
    p, r, f, s = metrics.precision_recall_fscore_support(true, pred)
    per = got["classes"]
    ok = ([c["label"] for c in per] == labels
          and all(per[i]["precision"] == p[i] and per[i]["recall"] == r[i]
                  and per[i]["f1"] == f[i] and per[i]["support"] == s[i]
                  for i in range(len(labels))))
    check(f"{name}: per-label precision, recall, F1, support equal sklearn's", ok,
          f"f1 {[c['f1'] for c in per]} {list(f)}")
    for avg in ("macro", "weighted"):
        p, r, f, _ = metrics.precision_recall_fscore_support(true, pred, average=avg)
        g = got[avg]
        ok = close(g["precision"], p, 4e-16) and close(g["recall"], r, 4e-16) and close(g["f1"], f, 4e-16)
        check(f"{name}: {avg} precision, recall, F1 equal sklearn's", ok,
              f"{g} {(p, r, f)}")
    return got


def main():
    conn = testlib.create_database(DB)
    cur = conn.cursor()
    rng = testlib.rng(22)

    # 1. regression, one output; the test set spans several blocks (1024 rows)
    d = 4
    Xtr = rng.normal(size=(80, d))
    w = rng.normal(size=d)
    ytr = np.sin(Xtr @ w)
    Xte = rng.normal(size=(2500, d))
    yte = np.sin(Xte @ w) + 0.1 * rng.normal(size=len(Xte))
    cur.execute("CREATE TABLE tr (id int, x float8[], y float8, y2 float8[], label text)")
    cur.execute("CREATE TABLE te (id int, x float8[], y float8, y2 float8[], label text)")
    classes = np.array(["a", "b", "c", "d"])
    for table, X, y in (("tr", Xtr, ytr), ("te", Xte, yte)):
        lab = classes[np.digitize(X[:, 0], [-0.7, 0.0, 0.7])]
        rows = [(i, arr(X[i]), float(y[i]), arr([y[i], 2.0]), lab[i]) for i in range(len(X))]
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s)", rows)
    cur.execute("SELECT ntk_fit('reg', x, y, '{\"ridge\": 1e-2}') FROM tr")
    check_regression(cur, "regression, 2500 rows", "reg", "te", 1)

    # 2. two outputs, the second constant in training and test: r2 1 when
    # predicted exactly, 0 otherwise (sklearn's force_finite)
    cur.execute("SELECT ntk_fit('reg2', x, y2, '{\"ridge\": 1e-2}') FROM tr")
    got = check_regression(cur, "two outputs, one constant", "reg2", "te", 2)
    check("two outputs: the constant output's r2 is 0 or 1", got["outputs"][1]["r2"] in (0, 1),
          f"{got['outputs'][1]['r2']}")
    cur.execute("CREATE TABLE one AS SELECT * FROM te WHERE id = 7")
    check_regression(cur, "one row (r2 null, as sklearn's NaN)", "reg", "one", 1)
    cur.execute("CREATE TABLE const AS SELECT id, x, 0.25::float8 AS y FROM te WHERE id < 50")
    check_regression(cur, "constant target", "reg", "const", 1)

    # 3. classification: class d absent from the test set, label zz unknown
    # to the model, rows beyond the first block
    cur.execute("SELECT ntk_fit_classifier('clf', x, label, '{\"ridge\": 1e-2}') FROM tr")
    q = ("SELECT x, CASE WHEN id % 13 = 0 THEN 'zz' ELSE label END FROM te "
         "WHERE label <> 'd' ORDER BY id")
    qid = "SELECT id::bigint, x FROM te WHERE label <> 'd'"
    got = check_classification(cur, "classifier, absent class and unknown label", "clf", q, qid)
    check("classifier: the unknown label is a row of the matrix, never predicted",
          "zz" in got["labels"] and all(r[got["labels"].index("zz")] == 0
                                        for r in got["confusion_matrix"]))
    check_classification(cur, "classifier, all classes", "clf",
                         "SELECT x, label FROM te ORDER BY id", "SELECT id::bigint, x FROM te")
    check_classification(cur, "a single class in the test set", "clf",
                         "SELECT x, label FROM te WHERE label = 'b' ORDER BY id",
                         "SELECT id::bigint, x FROM te WHERE label = 'b'")
    check_classification(cur, "a single unknown label", "clf",
                         "SELECT x, 'zz'::text FROM te WHERE id < 30 ORDER BY id",
                         "SELECT id::bigint, x FROM te WHERE id < 30")
    cur.execute("SELECT ntk_fit_classifier('one', x, 'only', '{\"ridge\": 1e-2}') FROM tr")
    check_classification(cur, "a classifier of a single class", "one",
                         "SELECT x, label FROM te WHERE id < 40 ORDER BY id",
                         "SELECT id::bigint, x FROM te WHERE id < 40")

    # 4. real[]: values exactly representable in float4 give bit-identical results
    cur.execute("CREATE TABLE te4 AS SELECT id, x::real[] AS x4, (x::real[])::float8[] AS x8, "
                "y, label FROM te")
    for fn in ("ntk_predict", "ntk_predict_vector"):
        cur.execute(f"SELECT count(*) FILTER (WHERE {fn}('reg', x4) = {fn}('reg', x8)), "
                    "count(*) FROM te4")
        same, n = cur.fetchone()
        check(f"{fn} of real[] is bit-identical to float8[]", same == n, f"{same}/{n}")
    cur.execute("SELECT count(*) FILTER (WHERE ntk_predict_class('clf', x4) = "
                "ntk_predict_class('clf', x8) AND ntk_predict_vector('clf', x4) = "
                "ntk_predict_vector('clf', x8)), count(*) FROM te4")
    same, n = cur.fetchone()
    check("ntk_predict_class of real[] is identical to float8[]", same == n, f"{same}/{n}")
    cur.execute("SELECT count(*) FILTER (WHERE ntk_kernel(a.x4, b.x4) = ntk_kernel(a.x8, b.x8) "
                "AND nngp_kernel(a.x4, b.x4, 2, 'erf') = nngp_kernel(a.x8, b.x8, 2, 'erf')), "
                "count(*) FROM te4 a JOIN te4 b ON b.id = a.id + 1 WHERE a.id < 300")
    same, n = cur.fetchone()
    check("ntk_kernel, nngp_kernel of real[] are bit-identical to float8[]", same == n, f"{same}/{n}")
    cur.execute("SELECT count(*) FILTER (WHERE a.outputs = b.outputs), count(*) FROM "
                "ntk_predict_batch('reg2', 'SELECT id::bigint, x4 FROM te4') a JOIN "
                "ntk_predict_batch('reg2', 'SELECT id::bigint, x8 FROM te4') b USING (id)")
    same, n = cur.fetchone()
    check("ntk_predict_batch of a real[] column is bit-identical", same == n, f"{same}/{n}")
    a = evaluate(cur, "clf", "SELECT x4, label FROM te4")
    b = evaluate(cur, "clf", "SELECT x8, label FROM te4")
    check("ntk_evaluate of a real[] column is identical", a == b)
    a = evaluate(cur, "reg", "SELECT x4, y FROM te4")
    b = evaluate(cur, "reg", "SELECT x8, y FROM te4")
    check("ntk_evaluate (regression) of a real[] column is identical", a == b)
    cur.execute("EXPLAIN VERBOSE SELECT ntk_predict('reg', x4) FROM te4")
    plan = " ".join(r[0] for r in cur.fetchall())
    check("a real[] argument is passed without the cast to float8[]",
          "ntk_predict('reg'::text, x4)" in plan and "float8" not in plan
          and "double precision" not in plan, plan)

    conn.close()
    testlib.drop_database(DB)
    return CHECKS.finish("22")


if __name__ == "__main__":
    sys.exit(main())
