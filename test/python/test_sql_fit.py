"""test_sql_fit: ntk_fit / ntk_fit_classifier and the predict functions in a
live server against the independent numpy reference (ntk_ref.py).

Connects with the PG* environment variables (test/cluster.sh sets them),
creates its own database ntk_fit_test with CREATE EXTENSION ntk, and drops it
at the end.  Every numeric comparison uses the norm-wise relative error
max|sql - ref| / max|ref| with a tolerance of 1e-6 (1e-12 between the SQL
prediction paths, which share the stored model).  The largest errors are
printed per category at the end: at new points, at the training points
(where the fit's conditioning shows), between paths, and in metrics.

Covered: scalar and multi-output regression, NTK and NNGP, relu and erf,
depths 0..10, several sigma_w / sigma_b, relative and absolute ridge,
standardize (with a constant feature), classifiers (one-hot kernel
regression, sorted classes, argmax), ntk_predict vs ntk_predict_batch vs
ntk_predict_vector, NULL rows skipped and counted, GROUP BY fits (hash and
sort aggregation), replacing a model (also rolled back, also under a
savepoint, also as seen from another session), no rows, the ntk_models
columns, ntk_drop_model.

Prints one line per check and "N passed, M failed"; exits 1 on failure.
Run with /usr/bin/python3 (needs numpy, scipy, psycopg2).
"""

import json
import os
import sys
import time

import numpy as np
import psycopg2
import psycopg2.extras

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ntk_ref  # noqa: E402
import testlib  # noqa: E402

DBNAME = "ntk_fit_test"
TOL = 1e-6          # SQL vs numpy reference
TOL_PATHS = 1e-12   # SQL prediction paths against each other

max_err = {}        # category -> largest relative error seen


check = testlib.Checks(verbose=True)


def rel_err(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return np.inf
    scale = np.max(np.abs(want))
    if scale == 0:
        scale = 1.0
    return float(np.max(np.abs(got - want)) / scale)


def check_close(got, want, msg, tol=TOL, category="vs numpy at new points"):
    e = rel_err(got, want)
    max_err[category] = max(max_err.get(category, 0.0), e)
    return check(e <= tol, "%s (rel err %.2e)" % (msg, e))


# --- connections and data ----------------------------------------------------

def tolist(a):
    return None if a is None else [float(v) for v in a]


def load_table(cur, table, X, Y=None, labels=None, groups=None, vector=False):
    """Creates table (id int, x float8[], y float8 | float8[], label text, grp text)."""
    cur.execute("DROP TABLE IF EXISTS %s" % table)
    cur.execute("CREATE TABLE %s (id int PRIMARY KEY, x float8[], y %s, label text, grp text)"
                % (table, "float8[]" if vector else "float8"))
    rows = []
    for i in range(len(X)):
        y = None
        if Y is not None and Y[i] is not None:
            y = tolist(Y[i]) if vector else float(Y[i])
        rows.append((i + 1, tolist(X[i]), y,
                     None if labels is None else labels[i],
                     None if groups is None else groups[i]))
    psycopg2.extras.execute_values(
        cur, "INSERT INTO %s VALUES %%s" % table, rows,
        template="(%s, %s::float8[], %s, %s, %s)", page_size=500)


def fit(cur, name, table, options=None, target="y", agg="ntk_fit"):
    if options is None:
        cur.execute("SELECT %s(%%s, x, %s) FROM %s" % (agg, target, table), (name,))
    else:
        cur.execute("SELECT %s(%%s, x, %s, %%s::jsonb) FROM %s" % (agg, target, table),
                    (name, json.dumps(options)))
    return cur.fetchone()[0]


def predict(cur, name, table, fn="ntk_predict"):
    cur.execute("SELECT %s(%%s, x) FROM %s ORDER BY id" % (fn, table), (name,))
    return [r[0] for r in cur.fetchall()]


def predict_batch(cur, name, table):
    cur.execute("SELECT id, prediction, outputs, label FROM ntk_predict_batch(%%s, "
                "'SELECT id::bigint, x FROM %s') ORDER BY id" % table, (name,))
    return cur.fetchall()


def model_row(cur, name):
    cur.execute("SELECT id, name, owner, created_at, task, kernel, activation, depth, "
                "sigma_w, sigma_b, ridge, n_train, n_features, n_outputs, classes, "
                "options, metrics, owner = current_user AS own "
                "FROM ntk_models WHERE name = %s", (name,))
    cols = [d[0] for d in cur.description]
    rows = cur.fetchall()
    return [dict(zip(cols, r)) for r in rows]


def count_models(cur, name=None):
    if name is None:
        cur.execute("SELECT count(*) FROM ntk_models")
    else:
        cur.execute("SELECT count(*) FROM ntk_models WHERE name = %s", (name,))
    return cur.fetchone()[0]


def ref_opts(o):
    """ntk_ref.krr_fit_predict keyword arguments from a SQL options object."""
    return dict(depth=o.get("depth", 3), activation=o.get("activation", "relu"),
                sigma_w=o.get("sigma_w", 1.0), sigma_b=o.get("sigma_b", 0.0),
                kernel=o.get("kernel", "ntk"), ridge=o.get("ridge", 1e-6),
                ridge_absolute=o.get("ridge_absolute", False),
                standardize=o.get("standardize", False))


def make_data(rng, n, d, k=None):
    X = rng.standard_normal((n, d))
    w = rng.standard_normal((d,) if k is None else (d, k))
    Y = np.sin(X @ w) + 0.1 * rng.standard_normal((n,) if k is None else (n, k))
    return X, Y


# --- the tests -----------------------------------------------------------------

def test_scalar_grid(cur, rng):
    """Scalar regression over kernels, activations, depths, sigmas and ridges."""
    cases = [
        ({}, 200, 5),
        ({"kernel": "nngp"}, 150, 5),
        ({"activation": "erf"}, 150, 4),
        ({"activation": "erf", "kernel": "nngp"}, 120, 6),
        ({"depth": 0, "ridge": 1e-3}, 100, 8),
        ({"depth": 1}, 120, 3),
        ({"depth": 2, "sigma_w": 1.5, "sigma_b": 0.3}, 150, 10),
        ({"depth": 5, "sigma_w": 2 ** 0.5, "sigma_b": 0.1}, 150, 6),
        ({"depth": 10, "activation": "erf", "sigma_w": 0.8, "sigma_b": 0.5}, 100, 7),
        ({"depth": 4, "activation": "relu", "kernel": "nngp", "sigma_w": 1.2, "sigma_b": 1.0}, 100, 3),
        ({"ridge": 1e-2}, 150, 5),
        ({"ridge": 0.5, "kernel": "nngp", "activation": "erf"}, 100, 5),
        ({"ridge": 1e-3, "ridge_absolute": True}, 150, 5),
        ({"ridge": 0.1, "ridge_absolute": True, "activation": "erf", "depth": 2}, 150, 5),
        ({"ridge": 0, "ridge_absolute": True, "depth": 1, "sigma_b": 0.5}, 60, 12),
        ({"depth": 3, "sigma_w": 1.3, "sigma_b": 0.2, "ridge": 1e-4}, 300, 20),
    ]
    for i, (o, n, d) in enumerate(cases):
        X, Y = make_data(rng, n, d)
        Xte = rng.standard_normal((50, d))
        load_table(cur, "tr", X, Y)
        load_table(cur, "te", Xte)
        name = "grid_%d" % i
        fit(cur, name, "tr", o)
        got = predict(cur, name, "te")
        want, alpha, lam = ntk_ref.krr_fit_predict(X, Y, Xte, return_alpha=True, **ref_opts(o))
        check_close(got, want, "scalar %s n=%d d=%d: test predictions" % (json.dumps(o), n, d))
        got_tr = predict(cur, name, "tr")
        want_tr = ntk_ref.krr_fit_predict(X, Y, X, **ref_opts(o))
        check_close(got_tr, want_tr, "scalar %s: predictions at the training points" % json.dumps(o),
                    category="vs numpy at training points")
        m = model_row(cur, name)[0]
        met = m["metrics"]
        rmse = float(np.sqrt(np.mean((lam * alpha) ** 2)))
        check_close(met["ridge_absolute_value"], lam,
                    "scalar %s: metrics ridge_absolute_value = lambda" % json.dumps(o))
        if rmse > 1e-300:
            check_close(met["train_rmse"], rmse,
                        "scalar %s: metrics train_rmse = rms(lambda alpha)" % json.dumps(o),
                        category="metrics")
        else:
            check(met["train_rmse"] == 0.0, "scalar %s: train_rmse is 0 without ridge" % json.dumps(o))
        cur.execute("SELECT ntk_drop_model(%s)", (name,))


def test_standardize(cur, rng):
    """z-scores with the training mean and population std; a constant feature is centered."""
    n, d = 150, 6
    X = rng.standard_normal((n, d)) * np.array([1.0, 100.0, 0.01, 5.0, 1.0, 1.0]) \
        + np.array([0.0, 50.0, -3.0, 10.0, 0.0, 0.0])
    X[:, 4] = 7.5          # a constant feature
    Y = np.sin(X[:, 0]) + np.cos(X[:, 1] / 100.0) + X[:, 2] * 10
    Xte = rng.standard_normal((40, d)) * np.array([1.0, 100.0, 0.01, 5.0, 1.0, 1.0]) \
        + np.array([0.0, 50.0, -3.0, 10.0, 0.0, 0.0])
    Xte[:20, 4] = 7.5      # the constant value, then other values (only centered)
    Xte[20:, 4] = rng.standard_normal(20) + 7.0
    load_table(cur, "tr", X, Y)
    load_table(cur, "te", Xte)
    for o in ({"standardize": True},
              {"standardize": True, "kernel": "nngp", "activation": "erf", "depth": 2, "sigma_b": 0.2},
              {"standardize": True, "ridge": 1e-3, "ridge_absolute": True}):
        fit(cur, "std", "tr", o)
        got = predict(cur, "std", "te")
        want = ntk_ref.krr_fit_predict(X, Y, Xte, **ref_opts(o))
        check_close(got, want, "standardize %s: predictions (constant feature centered only)"
                    % json.dumps(o))
        batch = [r[1] for r in predict_batch(cur, "std", "te")]
        check_close(batch, got, "standardize %s: ntk_predict_batch applies the scaling too"
                    % json.dumps(o), tol=TOL_PATHS, category="paths")
    # without standardize the same data gives the unscaled reference, not the scaled one
    fit(cur, "nostd", "tr", {"standardize": False})
    got = predict(cur, "nostd", "te")
    want_raw = ntk_ref.krr_fit_predict(X, Y, Xte, standardize=False)
    want_std = ntk_ref.krr_fit_predict(X, Y, Xte, standardize=True)
    check_close(got, want_raw, "standardize false: raw features")
    check(rel_err(got, want_std) > 1e-3, "standardize false differs from standardize true")
    cur.execute("SELECT options->'standardize' FROM ntk_models WHERE name = 'std'")
    check(cur.fetchone()[0] is True, "standardize is recorded in options")
    cur.execute("SELECT count(*) FROM ntk_model_data d JOIN ntk_models m ON m.id = d.model_id "
                "WHERE m.name = 'std' AND part IN ('mean', 'scale')")
    check(cur.fetchone()[0] == 2, "standardize stores the mean and scale parts")
    cur.execute("SELECT count(*) FROM ntk_model_data d JOIN ntk_models m ON m.id = d.model_id "
                "WHERE m.name = 'nostd' AND part IN ('mean', 'scale')")
    check(cur.fetchone()[0] == 0, "no mean/scale parts without standardize")
    for nm in ("std", "nostd"):
        cur.execute("SELECT ntk_drop_model(%s)", (nm,))


def test_multi_output(cur, rng):
    """float8[] targets: every output equals its own scalar fit."""
    n, d, k = 180, 6, 3
    X, Y = make_data(rng, n, d, k)
    Xte = rng.standard_normal((60, d))
    load_table(cur, "trv", X, Y, vector=True)
    load_table(cur, "te", Xte)
    for o in ({}, {"kernel": "nngp", "activation": "erf", "depth": 2, "sigma_b": 0.1, "ridge": 1e-4}):
        mid = fit(cur, "multi", "trv", o)
        got = np.array(predict(cur, "multi", "te", "ntk_predict_vector"))
        want, alpha, lam = ntk_ref.krr_fit_predict(X, Y, Xte, return_alpha=True, **ref_opts(o))
        check_close(got, want, "multi-output %s: ntk_predict_vector (60 x %d)" % (json.dumps(o), k))
        b = predict_batch(cur, "multi", "te")
        check_close(np.array([r[2] for r in b]), got,
                    "multi-output %s: batch outputs = ntk_predict_vector" % json.dumps(o),
                    tol=TOL_PATHS, category="paths")
        check(all(r[1] == r[2][0] for r in b) and all(r[3] is None for r in b),
              "multi-output: batch prediction is the first output, label NULL")
        m = model_row(cur, "multi")[0]
        check(m["id"] == mid and m["n_outputs"] == k and m["n_train"] == n and
              m["n_features"] == d and m["task"] == "regression" and m["classes"] is None,
              "multi-output: id, n_outputs=%d, n_train, n_features, task, classes NULL" % k)
        rmse = float(np.sqrt(np.mean((lam * alpha) ** 2)))
        check_close(m["metrics"]["train_rmse"], rmse,
                    "multi-output %s: train_rmse over all outputs" % json.dumps(o),
                    category="metrics")
        # each output column equals a scalar fit of that column
        for j in range(k):
            cur.execute("DROP TABLE IF EXISTS trj")
            cur.execute("CREATE TABLE trj AS SELECT id, x, y[%d] AS y FROM trv" % (j + 1))
            fit(cur, "multi_col", "trj", o)
            col = predict(cur, "multi_col", "te")
            check_close(got[:, j], col, "multi-output %s: output %d = scalar fit of column %d"
                        % (json.dumps(o), j + 1, j + 1), tol=1e-10, category="paths")
    # a one-element y array is a multi-output model with one output
    cur.execute("DROP TABLE IF EXISTS tr1")
    cur.execute("CREATE TABLE tr1 AS SELECT id, x, ARRAY[y[1]] AS y FROM trv")
    fit(cur, "multi_one", "tr1")
    one = predict(cur, "multi_one", "te")
    check_close(one, ntk_ref.krr_fit_predict(X, Y[:, 0], Xte), "y float8[] of length 1 equals scalar fit")
    for nm in ("multi", "multi_col", "multi_one"):
        cur.execute("SELECT ntk_drop_model(%s)", (nm,))


def test_classifier(cur, rng):
    """ntk_fit_classifier = ridge regression on one-hot targets over sorted classes."""
    d = 4
    names = ["zeta", "alpha", "Beta", "10"]       # first appearance differs from sorted order
    centers = rng.standard_normal((4, d)) * 2.0
    n = 200
    lab_idx = rng.integers(0, 4, n)
    lab_idx[:4] = [0, 1, 2, 3]
    X = centers[lab_idx] + 0.8 * rng.standard_normal((n, d))
    labels = [names[i] for i in lab_idx]
    Xte = centers[rng.integers(0, 4, 60)] + 0.8 * rng.standard_normal((60, d))
    classes = sorted(set(labels))
    onehot = np.array([[1.0 if lab == c else 0.0 for c in classes] for lab in labels])
    load_table(cur, "trc", X, labels=labels)
    load_table(cur, "te", Xte)
    for o in ({}, {"kernel": "nngp", "activation": "erf", "depth": 1, "ridge": 1e-2},
              {"standardize": True, "depth": 2, "sigma_b": 0.5}):
        mid = fit(cur, "clf", "trc", o, target="label", agg="ntk_fit_classifier")
        m = model_row(cur, "clf")[0]
        check(m["id"] == mid and m["task"] == "classification" and m["classes"] == classes and
              m["n_outputs"] == 4 and m["n_train"] == n and m["n_features"] == d,
              "classifier %s: task, classes sorted %s, n_outputs 4" % (json.dumps(o), classes))
        scores = np.array(predict(cur, "clf", "te", "ntk_predict_vector"))
        want, alpha, lam = ntk_ref.krr_fit_predict(X, onehot, Xte, return_alpha=True, **ref_opts(o))
        check_close(scores, want, "classifier %s: class scores = one-hot kernel regression"
                    % json.dumps(o))
        cls = predict(cur, "clf", "te", "ntk_predict_class")
        check(cls == [classes[int(j)] for j in np.argmax(scores, axis=1)],
              "classifier %s: ntk_predict_class = argmax of the scores" % json.dumps(o))
        check(cls == [classes[int(j)] for j in np.argmax(want, axis=1)],
              "classifier %s: ntk_predict_class = numpy argmax" % json.dumps(o))
        b = predict_batch(cur, "clf", "te")
        check_close(np.array([r[2] for r in b]), scores,
                    "classifier %s: batch outputs = ntk_predict_vector" % json.dumps(o),
                    tol=TOL_PATHS, category="paths")
        check([r[3] for r in b] == cls and all(r[1] == r[2][0] for r in b),
              "classifier %s: batch label = ntk_predict_class, prediction = first score"
              % json.dumps(o))
        acc_ref = np.mean(np.argmax(onehot - lam * alpha, axis=1) == np.argmax(onehot, axis=1))
        check(abs(m["metrics"]["train_accuracy"] - acc_ref) < 1e-12,
              "classifier %s: train_accuracy %.4f = numpy" % (json.dumps(o), acc_ref))
        cur.execute("SELECT count(*) FROM trc WHERE ntk_predict_class('clf', x) = label")
        check(abs(cur.fetchone()[0] / n - acc_ref) < 1e-12,
              "classifier %s: train_accuracy = share of training rows predicted right"
              % json.dumps(o))
    # two classes given as labels that sort differently by byte than by case
    lab2 = ["b" if v > 0 else "B" for v in X[:, 0]]
    load_table(cur, "trc2", X, labels=lab2)
    fit(cur, "clf2", "trc2", {"ridge": 1e-3}, target="label", agg="ntk_fit_classifier")
    cur.execute("SELECT classes FROM ntk_models WHERE name = 'clf2'")
    check(cur.fetchone()[0] == ["B", "b"], "classifier: classes in byte order ['B', 'b']")
    oh2 = np.array([[1.0 * (l == "B"), 1.0 * (l == "b")] for l in lab2])
    scores = np.array(predict(cur, "clf2", "te", "ntk_predict_vector"))
    check_close(scores, ntk_ref.krr_fit_predict(X, oh2, Xte, ridge=1e-3),
                "classifier with two classes: scores")
    # a single class: a constant one-hot column
    load_table(cur, "trc1", X[:50], labels=["only"] * 50)
    fit(cur, "clf1", "trc1", None, target="label", agg="ntk_fit_classifier")
    cur.execute("SELECT classes, n_outputs FROM ntk_models WHERE name = 'clf1'")
    check(cur.fetchone() == (["only"], 1), "classifier with one class: classes {only}")
    cls = predict(cur, "clf1", "te", "ntk_predict_class")
    check(set(cls) == {"only"}, "classifier with one class predicts it")
    for nm in ("clf", "clf2", "clf1"):
        cur.execute("SELECT ntk_drop_model(%s)", (nm,))


def test_paths(cur, rng):
    """ntk_predict, ntk_predict_vector and ntk_predict_batch agree; batch keeps ids and NULLs."""
    n, d = 250, 8
    X, Y = make_data(rng, n, d)
    Xte = rng.standard_normal((2100, d))     # more than one batch block of 1024
    load_table(cur, "tr", X, Y)
    load_table(cur, "te", Xte)
    fit(cur, "paths", "tr", {"depth": 2, "sigma_b": 0.1})
    p = np.array(predict(cur, "paths", "te"))
    v = predict(cur, "paths", "te", "ntk_predict_vector")
    check(all(len(r) == 1 for r in v), "ntk_predict_vector of a scalar model has one element")
    check_close(np.array(v)[:, 0], p, "ntk_predict_vector[1] = ntk_predict (2100 points)",
                tol=TOL_PATHS, category="paths")
    b = predict_batch(cur, "paths", "te")
    check([r[0] for r in b] == list(range(1, 2101)), "ntk_predict_batch returns every id once")
    check_close(np.array([r[1] for r in b]), p, "ntk_predict_batch = ntk_predict (3 blocks)",
                tol=TOL_PATHS, category="paths")
    check(all(r[2] == [r[1]] and r[3] is None for r in b),
          "ntk_predict_batch: outputs = {prediction}, label NULL for regression")
    want = ntk_ref.krr_fit_predict(X, Y, Xte, depth=2, sigma_b=0.1)
    check_close(p, want, "ntk_predict on 2100 points vs numpy")
    # int4 / int2 ids, NULL ids and NULL inputs, an empty result
    cur.execute("SELECT id, prediction, outputs, label FROM ntk_predict_batch('paths', "
                "'SELECT id, x FROM te WHERE id <= 5 UNION ALL SELECT NULL::int, x FROM te WHERE id = 6 "
                "UNION ALL SELECT 7, NULL::float8[]') ORDER BY id NULLS LAST")
    r = cur.fetchall()
    check([x[0] for x in r] == [1, 2, 3, 4, 5, 7, None], "batch with int4 ids, a NULL id, a NULL x")
    check(r[5][1] is None and r[5][2] is None and r[5][3] is None,
          "batch: a NULL x gives NULL prediction and outputs")
    check(abs(r[6][1] - p[5]) <= TOL_PATHS * np.max(np.abs(p)), "batch: a NULL id still predicts")
    cur.execute("SELECT count(*) FROM ntk_predict_batch('paths', 'SELECT id::int2, x FROM te WHERE false')")
    check(cur.fetchone()[0] == 0, "batch over an empty query returns no rows")
    cur.execute("SELECT ntk_predict('paths', NULL), ntk_predict_vector('paths', NULL), "
                "ntk_predict(NULL, '{1}')")
    check(cur.fetchone() == (None, None, None), "predict functions are STRICT")
    # lower bound of x does not matter
    cur.execute("SELECT ntk_predict('paths', ('[0:7]={' || array_to_string(x, ',') || '}')::float8[]) "
                "= ntk_predict('paths', x) FROM te WHERE id = 1")
    check(cur.fetchone()[0] is True, "ntk_predict ignores the lower bound of x")
    # ntk_predict in a parallel query
    cur.execute("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
                "SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2")
    cur.execute("SELECT sum(ntk_predict('paths', x)) FROM te")
    s = cur.fetchone()[0]
    cur.execute("RESET parallel_setup_cost; RESET parallel_tuple_cost; "
                "RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather")
    check(abs(s - p.sum()) <= 1e-9 * np.abs(p).sum(), "ntk_predict in a parallel query sums the same")
    cur.execute("SELECT ntk_drop_model('paths')")


def test_nulls(cur, rng):
    """NULL x or target rows are skipped and counted in metrics.n_skipped."""
    n, d = 120, 5
    X, Y = make_data(rng, n, d)
    Xte = rng.standard_normal((30, d))
    Xn = [None if i % 10 == 3 else X[i] for i in range(n)]
    Yn = [None if i % 7 == 2 else Y[i] for i in range(n)]
    keep = [i for i in range(n) if Xn[i] is not None and Yn[i] is not None]
    skipped = n - len(keep)
    load_table(cur, "trn", Xn, Yn)
    load_table(cur, "te", Xte)
    fit(cur, "nulls", "trn")
    m = model_row(cur, "nulls")[0]
    check(m["metrics"]["n_skipped"] == skipped and m["n_train"] == len(keep) and
          m["metrics"]["n_rows"] == len(keep),
          "NULL x / y: n_skipped = %d, n_train = n_rows = %d" % (skipped, len(keep)))
    check_close(predict(cur, "nulls", "te"), ntk_ref.krr_fit_predict(X[keep], Y[keep], Xte),
                "NULL rows skipped: predictions = fit of the other rows")
    # multi-output
    Yv = [None if i % 7 == 2 else [Y[i], -Y[i]] for i in range(n)]
    load_table(cur, "trnv", Xn, Yv, vector=True)
    fit(cur, "nullsv", "trnv")
    m = model_row(cur, "nullsv")[0]
    check(m["metrics"]["n_skipped"] == skipped and m["n_train"] == len(keep),
          "multi-output NULL rows: n_skipped = %d" % skipped)
    Yk = np.stack([Y[keep], -Y[keep]], axis=1)
    check_close(np.array(predict(cur, "nullsv", "te", "ntk_predict_vector")),
                ntk_ref.krr_fit_predict(X[keep], Yk, Xte), "multi-output NULL rows skipped")
    # classifier with NULL labels
    labels = [None if i % 7 == 2 else ("p" if Y[i] > 0 else "n") for i in range(n)]
    load_table(cur, "trnc", Xn, labels=labels)
    fit(cur, "nullsc", "trnc", target="label", agg="ntk_fit_classifier")
    m = model_row(cur, "nullsc")[0]
    check(m["metrics"]["n_skipped"] == skipped and m["n_train"] == len(keep) and
          m["classes"] == ["n", "p"], "classifier NULL x / label: n_skipped = %d" % skipped)
    oh = np.array([[1.0 * (labels[i] == "n"), 1.0 * (labels[i] == "p")] for i in keep])
    check_close(np.array(predict(cur, "nullsc", "te", "ntk_predict_vector")),
                ntk_ref.krr_fit_predict(X[keep], oh, Xte), "classifier NULL rows skipped")
    # options NULL means the defaults; a NULL first row is skipped too
    cur.execute("SELECT ntk_fit('nullopt', x, y, NULL::jsonb) FROM "
                "(SELECT 0 AS id, NULL::float8[] AS x, 1.0::float8 AS y UNION ALL "
                "SELECT id, x, y FROM trn) s")
    m = model_row(cur, "nullopt")[0]
    check(m["metrics"]["n_skipped"] == skipped + 1 and m["options"]["depth"] == 3 and
          m["options"]["ridge"] == 1e-6, "options NULL = defaults; a NULL first row is skipped")
    check_close(predict(cur, "nullopt", "te"), predict(cur, "nulls", "te"),
                "options NULL fits the same model", tol=0.0, category="paths")
    for nm in ("nulls", "nullsv", "nullsc", "nullopt"):
        cur.execute("SELECT ntk_drop_model(%s)", (nm,))


def test_group_by(cur, rng):
    """GROUP BY fits one model per group, each equal to its own numpy fit."""
    d = 5
    groups, Xs, Ys = [], [], []
    spec = {"a": (80, 1), "b": (110, 2), "c": (60, 4)}
    for g, (n, depth) in spec.items():
        X, Y = make_data(rng, n, d)
        Xs.append(X)
        Ys.append(Y)
        groups += [g] * n
    X = np.vstack(Xs)
    Y = np.concatenate(Ys)
    perm = rng.permutation(len(Y))            # interleave the groups
    X, Y, groups = X[perm], Y[perm], [groups[i] for i in perm]
    Xte = rng.standard_normal((40, d))
    load_table(cur, "trg", X, Y, groups=groups)
    load_table(cur, "te", Xte)
    for hashagg in ("on", "off"):
        cur.execute("SET enable_hashagg = " + hashagg)
        cur.execute("SELECT grp, ntk_fit('grp_' || grp, x, y, jsonb_build_object('depth', "
                    "CASE grp WHEN 'a' THEN 1 WHEN 'b' THEN 2 ELSE 4 END)) "
                    "FROM trg GROUP BY grp ORDER BY grp")
        ids = dict(cur.fetchall())
        cur.execute("RESET enable_hashagg")
        check(sorted(ids) == ["a", "b", "c"] and len(set(ids.values())) == 3,
              "GROUP BY (hashagg %s): three models, three ids" % hashagg)
        for g, (n, depth) in spec.items():
            sel = [i for i in range(len(Y)) if groups[i] == g]
            m = model_row(cur, "grp_" + g)[0]
            check(m["id"] == ids[g] and m["n_train"] == n and m["depth"] == depth,
                  "GROUP BY (hashagg %s): model grp_%s has its id, n_train %d, depth %d"
                  % (hashagg, g, n, depth))
            check_close(predict(cur, "grp_" + g, "te"),
                        ntk_ref.krr_fit_predict(X[sel], Y[sel], Xte, depth=depth),
                        "GROUP BY (hashagg %s): grp_%s = numpy fit of its rows" % (hashagg, g))
    cur.execute("SELECT count(*) FROM ntk_models WHERE name LIKE 'grp\\_%'")
    check(cur.fetchone()[0] == 3, "GROUP BY twice: still one row per model name")
    # a FILTER and an ORDER BY inside the aggregate
    cur.execute("SELECT ntk_fit('grp_filter', x, y ORDER BY id DESC) FILTER (WHERE grp = 'b') FROM trg")
    sel = [i for i in range(len(Y)) if groups[i] == "b"]
    check_close(predict(cur, "grp_filter", "te"), ntk_ref.krr_fit_predict(X[sel], Y[sel], Xte),
                "ntk_fit(... ORDER BY) FILTER (WHERE ...) fits the filtered rows")
    # two fits in one statement
    cur.execute("SELECT ntk_fit('two_a', x, y), ntk_fit('two_b', x, y, '{\"kernel\": \"nngp\"}') FROM trg")
    a, b = cur.fetchone()
    check(a != b and count_models(cur, "two_a") == 1 and count_models(cur, "two_b") == 1,
          "two ntk_fit aggregates in one SELECT store two models")
    check_close(predict(cur, "two_b", "te"), ntk_ref.krr_fit_predict(X, Y, Xte, kernel="nngp"),
                "second aggregate of the SELECT uses its own options")
    for nm in ("grp_a", "grp_b", "grp_c", "grp_filter", "two_a", "two_b"):
        cur.execute("SELECT ntk_drop_model(%s)", (nm,))


def test_replace(conn, cur, rng):
    """Refitting a name replaces the model; rollback keeps the old one; other sessions."""
    d = 4
    XA, YA = make_data(rng, 90, d)
    XB, YB = make_data(rng, 70, d)
    Xte = rng.standard_normal((30, d))
    load_table(cur, "tra", XA, YA)
    load_table(cur, "trb", XB, YB)
    load_table(cur, "te", Xte)
    predA = ntk_ref.krr_fit_predict(XA, YA, Xte)
    oB = {"kernel": "nngp", "activation": "erf", "depth": 2, "ridge": 1e-4}
    predB = ntk_ref.krr_fit_predict(XB, YB, Xte, **ref_opts(oB))
    idA = fit(cur, "rep", "tra")
    check_close(predict(cur, "rep", "te"), predA, "replace: first model")
    cur.execute("SELECT count(*) FROM ntk_model_data WHERE model_id = %s", (idA,))
    partsA = cur.fetchone()[0]
    idB = fit(cur, "rep", "trb", oB)
    check(idB != idA, "replace: the new model has a new id")
    check(count_models(cur, "rep") == 1, "replace: one row in ntk_models")
    check_close(predict(cur, "rep", "te"), predB, "replace: predictions of the new model")
    m = model_row(cur, "rep")[0]
    check(m["id"] == idB and m["n_train"] == 70 and m["kernel"] == "nngp" and
          m["activation"] == "erf" and m["depth"] == 2 and m["ridge"] == 1e-4,
          "replace: the row describes the new model")
    cur.execute("SELECT count(*) FROM ntk_model_data WHERE model_id = %s", (idA,))
    check(cur.fetchone()[0] == 0 and partsA >= 2, "replace: the old model's data is gone")
    cur.execute("SELECT count(*) FROM ntk_model_data WHERE model_id = %s", (idB,))
    check(cur.fetchone()[0] == 2, "replace: the new model has its x and alpha parts")
    # replacing with a different task and shape
    XC = rng.standard_normal((40, 3))
    load_table(cur, "trcls", XC, labels=["u" if v > 0 else "v" for v in XC[:, 0]])
    fit(cur, "rep", "trcls", None, target="label", agg="ntk_fit_classifier")
    m = model_row(cur, "rep")[0]
    check(m["task"] == "classification" and m["n_features"] == 3 and m["classes"] == ["u", "v"],
          "replace: a regression model replaced by a classifier")
    try:
        cur.execute("SELECT ntk_predict('rep', '{1,2,3}')")
        check(False, "replace: ntk_predict on the new classifier must fail")
    except psycopg2.Error as e:
        check(e.pgcode == "42809", "replace: the cached regression model is not used (%s)" % e.pgcode)
    fit(cur, "rep", "tra")
    check_close(predict(cur, "rep", "te"), predA, "replace: back to the first data")

    # a rolled back refit leaves the old model, also in this backend's cache
    conn.autocommit = False
    cur.execute("SELECT 1")
    fit(cur, "rep", "trb", oB)
    check_close(predict(cur, "rep", "te"), predB, "rollback: new model visible inside the transaction")
    conn.rollback()
    conn.autocommit = True
    check_close(predict(cur, "rep", "te"), predA, "rollback: old model after ROLLBACK")
    check(count_models(cur, "rep") == 1, "rollback: still one row")
    # the same under a savepoint
    conn.autocommit = False
    cur.execute("SELECT 1")
    check_close(predict(cur, "rep", "te"), predA, "savepoint: old model before")
    cur.execute("SAVEPOINT s")
    fit(cur, "rep", "trb", oB)
    check_close(predict(cur, "rep", "te"), predB, "savepoint: new model after the refit")
    cur.execute("ROLLBACK TO SAVEPOINT s")
    check_close(predict(cur, "rep", "te"), predA, "savepoint: old model after ROLLBACK TO SAVEPOINT")
    fit(cur, "rep", "trb", oB)
    conn.commit()
    conn.autocommit = True
    check_close(predict(cur, "rep", "te"), predB, "savepoint: committed refit after the rollback")

    # another session sees the old model until the refit commits
    other = testlib.connect(DBNAME)
    ocur = other.cursor()
    check_close(predict(ocur, "rep", "te"), predB, "other session: current model (now cached)")
    conn.autocommit = False
    fit(cur, "rep", "tra")
    check_close(predict(ocur, "rep", "te"), predB, "other session: old model while the refit is open")
    conn.commit()
    conn.autocommit = True
    check_close(predict(ocur, "rep", "te"), predA, "other session: new model after commit")
    b = predict_batch(ocur, "rep", "te")
    check_close([r[1] for r in b], predA, "other session: ntk_predict_batch uses the new model")
    cur.execute("SELECT ntk_drop_model('rep')")
    try:
        ocur.execute("SELECT ntk_predict('rep', '{1,2,3,4}')")
        check(False, "other session: predict after drop must fail")
    except psycopg2.Error as e:
        check(e.pgcode == "42704", "other session: dropped model does not exist (%s)" % e.pgcode)
    other.close()


def test_no_rows(cur, rng):
    """No rows: NULL and nothing stored."""
    before = count_models(cur)
    cur.execute("SELECT nextval('ntk_models_id_seq')")
    cur.execute("SELECT ntk_fit('empty', x, y) FROM tr WHERE false")
    check(cur.fetchone()[0] is None, "no rows: ntk_fit returns NULL")
    cur.execute("SELECT ntk_fit('empty', x, y::float8[], '{\"depth\": 1}') FROM trv WHERE false")
    check(cur.fetchone()[0] is None, "no rows: multi-output ntk_fit returns NULL")
    cur.execute("SELECT ntk_fit_classifier('empty', x, 'a') FROM tr WHERE false")
    check(cur.fetchone()[0] is None, "no rows: ntk_fit_classifier returns NULL")
    cur.execute("SELECT ntk_fit('empty', NULL::float8[], y) FROM tr")
    check(cur.fetchone()[0] is None, "only NULL rows: ntk_fit returns NULL")
    cur.execute("SELECT g, ntk_fit('empty_' || g, x, y) FROM tr, generate_series(1, 2) g "
                "WHERE false GROUP BY g")
    check(cur.fetchall() == [], "no rows with GROUP BY: no groups")
    check(count_models(cur) == before and count_models(cur, "empty") == 0,
          "no rows: nothing stored")
    # an existing model is not touched by an empty refit
    X, Y = make_data(rng, 30, 3)
    load_table(cur, "tre", X, Y)
    mid = fit(cur, "keep", "tre")
    cur.execute("SELECT ntk_fit('keep', x, y) FROM tre WHERE false")
    check(cur.fetchone()[0] is None, "empty refit returns NULL")
    m = model_row(cur, "keep")[0]
    check(m["id"] == mid and m["n_train"] == 30, "empty refit leaves the existing model")
    cur.execute("SELECT ntk_drop_model('keep'), ntk_drop_model('keep'), ntk_drop_model('never')")
    check(cur.fetchone() == (True, False, False), "ntk_drop_model: true once, then false")
    cur.execute("SELECT count(*) FROM ntk_model_data WHERE model_id = %s", (mid,))
    check(cur.fetchone()[0] == 0, "ntk_drop_model removes the model's data")


def test_model_columns(cur, rng):
    """The ntk_models row: every contract column and the resolved options."""
    n, d = 100, 7
    X, Y = make_data(rng, n, d)
    load_table(cur, "trm", X, Y)
    o = {"depth": 2, "activation": "erf", "sigma_w": 1.5, "sigma_b": 0.25, "kernel": "nngp",
         "ridge": 0.001, "ridge_absolute": True, "standardize": True}
    mid = fit(cur, "cols", "trm", o)
    rows = model_row(cur, "cols")
    check(len(rows) == 1, "model columns: one row")
    m = rows[0]
    check(m["id"] == mid, "model columns: id = the value ntk_fit returned")
    check(m["own"] and m["created_at"] is not None, "model columns: owner = current_user, created_at")
    check((m["task"], m["kernel"], m["activation"], m["depth"], m["sigma_w"], m["sigma_b"],
           m["ridge"], m["n_train"], m["n_features"], m["n_outputs"], m["classes"])
          == ("regression", "nngp", "erf", 2, 1.5, 0.25, 0.001, n, d, 1, None),
          "model columns: task, kernel, activation, depth, sigmas, ridge, n_train, n_features, "
          "n_outputs, classes")
    want_opts = {"depth": 2, "activation": "erf", "sigma_w": 1.5, "sigma_b": 0.25, "kernel": "nngp",
                 "ridge": 0.001, "ridge_absolute": True, "standardize": True,
                 "learning_rate": 1, "variance": False, "method": "exact"}
    check(m["options"] == want_opts, "model columns: options as resolved: %s" % json.dumps(m["options"]))
    met = m["metrics"]
    check(all(k in met for k in ("fit_seconds", "n_skipped", "train_rmse")) and
          met["n_skipped"] == 0 and met["fit_seconds"] >= 0,
          "model columns: metrics has fit_seconds, n_skipped, train_rmse: %s" % sorted(met))
    _, alpha, lam = ntk_ref.krr_fit_predict(X, Y, X[:1], return_alpha=True, **ref_opts(o))
    check_close(met["train_rmse"], float(np.sqrt(np.mean((lam * alpha) ** 2))),
                "model columns: train_rmse", category="metrics")
    check(met["ridge_absolute_value"] == 0.001, "model columns: absolute ridge used as is")
    # defaults
    fit(cur, "cols_default", "trm")
    m = model_row(cur, "cols_default")[0]
    check((m["task"], m["kernel"], m["activation"], m["depth"], m["sigma_w"], m["sigma_b"],
           m["ridge"]) == ("regression", "ntk", "relu", 3, 1.0, 0.0, 1e-6),
          "model columns: defaults ntk, relu, depth 3, sigma_w 1, sigma_b 0, ridge 1e-6")
    check(m["options"] == {"depth": 3, "activation": "relu", "sigma_w": 1, "sigma_b": 0,
                           "kernel": "ntk", "ridge": 1e-6, "ridge_absolute": False,
                           "standardize": False, "learning_rate": 1, "variance": False,
                           "method": "exact"},
          "model columns: default options resolved")
    Kd = ntk_ref.self_kernels(X)[1]
    check_close(met_of(cur, "cols_default")["mean_diag"], float(np.mean(Kd)),
                "model columns: metrics mean_diag = mean of the NTK diagonal", category="metrics")
    check_close(met_of(cur, "cols_default")["ridge_absolute_value"], 1e-6 * float(np.mean(Kd)),
                "model columns: relative ridge = 1e-6 * mean(diag K)", category="metrics")
    # where the fit's time went: one entry per phase, within fit_seconds
    for name, opts, keys in (("cols_default", None, ["cholesky", "gram", "read", "solve"]),
                             ("cols_select", {"ridge": [1e-3, 1e-1], "depth": [1, 2]},
                              ["cholesky", "gram", "read", "select", "solve"]),
                             ("cols_t", {"t": 10}, ["eigh", "gram", "read", "solve"])):
        if opts is not None:
            fit(cur, name, "trm", opts)
        met = met_of(cur, name)
        ph = met.get("phase_seconds", {})
        check(sorted(ph) == keys and all(v >= 0 for v in ph.values()) and
              sum(ph.values()) <= met["fit_seconds"] + 0.003,
              "model columns: metrics.phase_seconds %s within fit_seconds %s (%s)"
              % (json.dumps(ph), met["fit_seconds"], json.dumps(opts)))
    cur.execute("SELECT ntk_drop_model('cols'), ntk_drop_model('cols_default'), "
                "ntk_drop_model('cols_select'), ntk_drop_model('cols_t')")


def backend_vm_kb(cur):
    """The backend's mapped memory (VmSize, kB), or None if its /proc is not readable."""
    cur.execute("SELECT pg_backend_pid()")
    try:
        with open("/proc/%d/status" % cur.fetchone()[0]) as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def test_rows_released(cur, rng):
    """The training rows' buffer (a mapping of its own) is released after every fit,
    failed or canceled ones included: mapped memory does not grow from fit to fit."""
    n, d = 3000, 300        # 7.2 MB of rows, in a buffer doubled to 4096 rows (9.8 MB)
    X, Y = make_data(rng, n, d)
    load_table(cur, "trr", X, Y)
    if backend_vm_kb(cur) is None:
        check(True, "rows released: the backend's /proc is not readable here, skipped")
        return
    bad = "SELECT ntk_fit('rel', x, y, '{\"t\": 1, \"ridge\": \"auto\"}') FROM trr"
    sizes = []
    for i in range(6):
        try:
            if i % 2 == 0:      # fails in the final function, after every row was read
                cur.execute(bad)
            else:               # canceled while the rows are read (or later)
                cur.execute("SET statement_timeout = '15ms'")
                cur.execute("SELECT ntk_fit('rel', x, y) FROM trr")
            check(False, "rows released: fit %d must fail" % i)
        except psycopg2.Error as e:
            check(e.pgcode in ("0A000", "57014"), "rows released: fit %d fails cleanly (%s)" % (i, e.pgcode))
        cur.execute("RESET statement_timeout")
        fit(cur, "rel", "trr", {"depth": 1})
        sizes.append(backend_vm_kb(cur))
    growth = sizes[-1] - sizes[0]
    check(growth < 8 * 1024,
          "rows released: mapped memory grew by %d kB over 5 failed and 5 good fits "
          "(a leaked rows buffer is ~10 MB each): %s" % (growth, sizes))
    check(count_models(cur, "rel") == 1, "rows released: one model stored")
    cur.execute("SELECT ntk_drop_model('rel')")


def test_overlap(cur, rng):
    """n >= 1024 on 2 threads: the inputs are stored while a worker factorizes."""
    n, d = 1100, 6
    X, Y = make_data(rng, n, d)
    Xte = rng.standard_normal((40, d))
    load_table(cur, "tro", X, Y)
    load_table(cur, "teo", Xte)
    cur.execute("SET ntk.threads = 2")
    o = {"ridge": 1e-4, "variance": True}
    mid = fit(cur, "ovl", "tro", o)
    met = met_of(cur, "ovl")
    check("store_inputs" in met.get("phase_seconds", {}) and met.get("n_rows") == n,
          "overlap: the inputs were stored during the factorization, metrics complete (%s)"
          % json.dumps(met.get("phase_seconds")))
    p1 = predict(cur, "ovl", "teo")
    check_close(p1, ntk_ref.krr_fit_predict(X, Y, Xte, **ref_opts(o)),
                "overlap: predictions vs numpy", category="paths")
    cur.execute("SELECT part, count(*), sum(length(data)) FROM ntk_model_data "
                "WHERE model_id = %s GROUP BY part ORDER BY part", (mid,))
    parts = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
    check(parts.get("x", (0, 0))[1] == 8 * n * d and parts.get("alpha", (0, 0))[1] == 8 * n and
          parts.get("chol", (0, 0))[1] == 8 * n * n,
          "overlap: every part stored in full: %s" % sorted(parts))
    v1 = predict(cur, "ovl", "teo", "ntk_predict_var")
    # the same fit again: the same model, bit for bit
    mid2 = fit(cur, "ovl", "tro", o)
    check(mid2 != mid and predict(cur, "ovl", "teo") == p1 and
          predict(cur, "ovl", "teo", "ntk_predict_var") == v1,
          "overlap: refitting the same rows gives the same predictions and variances, bit for bit")
    # a factorization that fails after the inputs were stored keeps the old model
    cur.execute("DROP TABLE IF EXISTS trdup")
    cur.execute("CREATE TABLE trdup AS SELECT id, x, y FROM tro UNION ALL "
                "SELECT id + %s, x, y FROM tro WHERE id <= 200", (n,))
    try:
        fit(cur, "ovl", "trdup", {"ridge": 0, "ridge_absolute": True})
        check(False, "overlap: duplicate rows without ridge fail")
    except psycopg2.Error as e:
        check(e.pgcode == "22000" and "not positive definite" in e.pgerror,
              "overlap: duplicate rows without ridge fail with 22000: %s" % e.pgerror.strip())
    cur.execute("SELECT id FROM ntk_models WHERE name = 'ovl'")
    check(cur.fetchone()[0] == mid2 and predict(cur, "ovl", "teo") == p1,
          "overlap: the failed refit left the model as it was")
    cur.execute("SELECT count(*) FROM ntk_model_data d WHERE NOT EXISTS "
                "(SELECT 1 FROM ntk_models m WHERE m.id = d.model_id)")
    check(cur.fetchone()[0] == 0, "overlap: no chunks of the failed refit remain")
    # canceled while storing or factorizing: nothing of it remains, the session works
    for ms in (5, 20, 60):
        try:
            cur.execute("SET statement_timeout = '%dms'" % ms)
            fit(cur, "ovl_cancel", "tro", o)
        except psycopg2.Error:
            pass
        finally:
            cur.execute("RESET statement_timeout")
    check(count_models(cur, "ovl_cancel") in (0, 1) and predict(cur, "ovl", "teo") == p1,
          "overlap: canceled fits leave the session working")
    cur.execute("SELECT ntk_drop_model('ovl'), ntk_drop_model('ovl_cancel')")
    cur.execute("RESET ntk.threads")


def met_of(cur, name):
    cur.execute("SELECT metrics FROM ntk_models WHERE name = %s", (name,))
    return cur.fetchone()[0]


def run_tests(conn, cur):
    rng = testlib.rng(20240611)
    cur.execute("SET extra_float_digits = 3")
    test_scalar_grid(cur, rng)
    test_standardize(cur, rng)
    test_multi_output(cur, rng)
    test_classifier(cur, rng)
    test_paths(cur, rng)
    test_nulls(cur, rng)
    test_group_by(cur, rng)
    test_replace(conn, cur, rng)
    test_no_rows(cur, rng)
    test_model_columns(cur, rng)
    test_rows_released(cur, rng)
    test_overlap(cur, rng)


def main():
    t0 = time.time()
    testlib.run_in_database(DBNAME, run_tests, check)
    for cat in sorted(max_err):
        print("max relative error %s: %.3g" % (cat, max_err[cat]))
    print("time %.1f s" % (time.time() - t0))
    return check.finish("20240611")


if __name__ == "__main__":
    sys.exit(main())
