"""test_sql_nystrom: the Nystrom fits in a live server ("method": "nystrom" of
ntk_fit / ntk_fit_classifier, the streaming aggregates and ntk_fit_query)
against an independent numpy Nystrom.

The reference (test_nystrom.py's ref_centers and ref_fit): the centers are
the rows with the smallest hashes written from docs/nystrom.md in Python
integers, the kernels come from ntk_ref.py, and the coefficients from least
squares on the stacked system [K_nm; sqrt(lambda) K_mm^1/2] a = [Y; 0] with
the jitter the server reports.  Predictions are compared at new points with
the norm-wise relative error max|sql - ref| / max|ref|.

Ridge selection ("ridge": "auto" or a list) against a numpy refit per
candidate: the coefficients by least squares on the stacked system, the
training predictions K_nm alpha and their residuals, the trace of the hat
matrix K_nm (H + lambda K_mm)^-1 K_nm^T as |Q_1|_F^2 of the stacked
system's QR (Q_1 its first n rows), GCV = n RSS / (k (n - df)^2); the
chosen ridge is numpy's argmin; a fit with that ridge fixed has the same
coefficients; the training error (rmse, accuracy) from predictions in the
aggregate and in closed form from the statistics.

Covered: m < n and m >= n (every row a center: the exact fit's predictions
within 1e-8 on several kernels), relu/erf NTK and NNGP, standardize,
multi-output, classifiers, the seed, the ntk_models row (n_train, options,
metrics), the streaming path (ntk_fit_query and the building blocks) equal
to the aggregate, a parallel plan (Gather, Partial Aggregate, workers
launched; auto_explain) equal to the serial one, states split three ways and
combined in any order, the text and binary forms of a state.

Connects with the PG* environment variables (test/cluster.sh sets them),
creates its own database ntk_nystrom_test and drops it at the end.  Prints
one line per check and "N passed, M failed"; exits 1 on failure.
"""

import base64
import json
import os
import random
import sys
import time

import numpy as np
import psycopg2
import psycopg2.extras

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ntk_ref  # noqa: E402
import testlib  # noqa: E402
from test_nystrom import kp_, ref_centers, ref_fit, ref_kernel, predict  # noqa: E402

DBNAME = "ntk_nystrom_test"
TOL_REF = 1e-8      # SQL vs numpy Nystrom
TOL_EXACT = 1e-8    # m >= n vs the exact fit
TOL_SPLIT = 1e-9    # parallel / split / combined vs one pass (issue 21's target)
TOL_GCV = 1e-8      # GCV scores and training errors vs numpy refits
TOL_FIXED = 1e-10   # the selection's coefficients vs a fit with the chosen ridge

passed = 0
failed = 0
max_err = {}


def check(ok, msg):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + msg)
    else:
        failed += 1
        print("FAIL " + msg)
    return ok


def rel(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return np.inf
    scale = np.max(np.abs(want)) or 1.0
    return float(np.max(np.abs(got - want)) / scale)


def check_close(got, want, msg, tol, category):
    e = rel(got, want)
    max_err[category] = max(max_err.get(category, 0.0), e)
    return check(e <= tol, "%s (rel err %.2e)" % (msg, e))


def load(cur, table, X, Y=None, labels=None):
    vector = Y is not None and np.ndim(Y) == 2
    cur.execute("DROP TABLE IF EXISTS %s" % table)
    cur.execute("CREATE TABLE %s (id bigint PRIMARY KEY, x float8[], y %s, label text)"
                % (table, "float8[]" if vector else "float8"))
    rows = []
    for i in range(len(X)):
        y = None
        if Y is not None:
            y = [float(v) for v in Y[i]] if vector else float(Y[i])
        rows.append((i + 1, [float(v) for v in X[i]], y,
                     None if labels is None else labels[i]))
    psycopg2.extras.execute_values(cur, "INSERT INTO %s VALUES %%s" % table, rows,
                                   template="(%s, %s::float8[], %s, %s)", page_size=1000)
    cur.execute("ANALYZE %s" % table)


def fit(cur, name, table, opts, agg="ntk_fit", target="y"):
    cur.execute("SELECT %s(%%s, x, %s, %%s) FROM %s" % (agg, target, table),
                (name, json.dumps(opts)))
    return cur.fetchone()[0]


def predict_rows(cur, name, T):
    out = []
    for t in T:
        cur.execute("SELECT ntk_predict_vector(%s, %s::float8[])", (name, [float(v) for v in t]))
        out.append(cur.fetchone()[0])
    return np.array(out)


def model(cur, name):
    cur.execute("SELECT n_train, n_features, n_outputs, classes, options, metrics "
                "FROM ntk_models WHERE name = %s", (name,))
    r = cur.fetchone()
    return dict(zip(("n_train", "n_features", "n_outputs", "classes", "options", "metrics"), r))


def data(rng, n, d):
    X = rng.standard_normal((n, d))
    y = np.sin(X @ rng.standard_normal(d)) + 0.1 * rng.standard_normal(n)
    return X, y


# --- against the numpy reference -------------------------------------------

def test_reference(cur, rng):
    n, d = 120, 4
    X, y = data(rng, n, d)
    T = rng.standard_normal((15, d))
    load(cur, "ref", X, y)
    cases = [
        (kp_(3, "relu", 1.0, 0.0), 1e-3, 40, 0, False),
        (kp_(2, "erf", 1.3, 0.2), 1e-4, 60, 7, False),
        (kp_(3, "relu", 1.0, 0.1, "nngp"), 1e-3, 50, 3, True),
        (kp_(1, "erf", 1.0, 0.0, "nngp"), 1e-2, 30, 11, True),
    ]
    for kp, ridge, m, seed, std in cases:
        opts = {"method": "nystrom", "centers": m, "seed": seed, "ridge": ridge,
                "depth": kp["depth"], "activation": kp["activation"], "sigma_w": kp["sigma_w"],
                "sigma_b": kp["sigma_b"], "kernel": kp["kind"], "standardize": std}
        fit(cur, "r", "ref", opts)
        mod = model(cur, "r")
        C = ref_centers(X, m, seed)
        Xs, Ts, Cs = X, T, C
        if std:
            mean, scale = ntk_ref.standardize_fit(X)
            Xs, Ts, Cs = (X - mean) / scale, (T - mean) / scale, (C - mean) / scale
        alpha = ref_fit(Xs, y[:, None], Cs, kp, ridge, jitter=mod["metrics"]["jitter"])
        want = predict(Ts, Cs, alpha, kp)
        got = predict_rows(cur, "r", T)
        what = "%s %s depth %d, m %d of %d, seed %d%s" % (
            kp["activation"], kp["kind"], kp["depth"], m, n, seed, ", standardize" if std else "")
        check_close(got, want, "vs numpy Nystrom: " + what, TOL_REF, "vs numpy Nystrom")
        check(mod["n_train"] == m and mod["metrics"]["n_rows"] == n and
              mod["metrics"]["n_train"] == m and mod["options"]["method"] == "nystrom" and
              mod["options"]["centers"] == m and mod["options"]["seed"] == seed,
              "model row: n_train = m, metrics n_rows/n_train, options method/centers/seed: " + what)
    cur.execute("SELECT ntk_drop_model('r')")


def test_every_row(cur, rng):
    """m >= n: every row a center, the exact fit's predictions."""
    # H = K^2 squares K's conditioning: smooth kernels of few features (erf,
    # NNGP in 3 dimensions) reach only 1e-7 (docs/nystrom.md); 8 features here
    n, d = 90, 8
    X, y = data(rng, n, d)
    T = rng.standard_normal((20, d))
    load(cur, "ev", X, y)
    for kernel, act, depth, sb, ridge in (("ntk", "relu", 3, 0.0, 1e-4), ("ntk", "erf", 2, 0.1, 1e-3),
                                          ("ntk", "relu", 5, 0.2, 1e-3), ("nngp", "relu", 3, 0.3, 1e-3),
                                          ("ntk", "erf", 4, 0.0, 1e-4)):
        base = {"kernel": kernel, "activation": act, "depth": depth, "sigma_b": sb, "ridge": ridge}
        fit(cur, "ex", "ev", base)
        fit(cur, "ny", "ev", dict(base, method="nystrom", centers=n + 10))
        mod = model(cur, "ny")
        check_close(predict_rows(cur, "ny", T), predict_rows(cur, "ex", T),
                    "m >= n equals the exact fit: %s %s depth %d" % (act, kernel, depth),
                    TOL_EXACT, "vs exact (m >= n)")
        check(mod["n_train"] == n and mod["options"]["centers"] == n + 10,
              "m >= n: n_train is the %d rows, options keep the %d asked for" % (n, n + 10))
    # duplicates collapse to one center each
    load(cur, "dup", np.vstack([X[:30], X[:30]]), np.concatenate([y[:30], y[:30]]))
    fit(cur, "ny", "dup", {"method": "nystrom", "centers": 100})
    mod = model(cur, "ny")
    check(mod["n_train"] == 30 and mod["metrics"]["n_rows"] == 60,
          "duplicate rows are one center (30 of 60 rows)")
    cur.execute("SELECT ntk_drop_model('ex'), ntk_drop_model('ny')")


def test_classifier_and_multi(cur, rng):
    n, d = 150, 3
    X, y = data(rng, n, d)
    labels = np.where(y > 0.3, "hi", np.where(y < -0.3, "lo", "mid")).tolist()
    Y2 = np.stack([y, np.cos(X[:, 0])], axis=1)
    T = rng.standard_normal((12, d))
    load(cur, "cl", X, labels=labels)
    load(cur, "mo", X, Y2)
    kp = kp_(3, "relu", 1.0, 0.0)
    C = ref_centers(X, 50, 5)
    mean, scale = ntk_ref.standardize_fit(X)
    Xs, Ts, Cs = (X - mean) / scale, (T - mean) / scale, (C - mean) / scale
    fit(cur, "c", "cl", {"method": "nystrom", "centers": 50, "seed": 5, "standardize": True,
                         "ridge": 1e-3}, agg="ntk_fit_classifier", target="label")
    mod = model(cur, "c")
    classes = sorted(set(labels))
    Y = np.array([[1.0 if l == c else 0.0 for c in classes] for l in labels])
    alpha = ref_fit(Xs, Y, Cs, kp, 1e-3, jitter=mod["metrics"]["jitter"])
    want = predict(Ts, Cs, alpha, kp)
    check_close(predict_rows(cur, "c", T), want, "classifier scores vs numpy (standardize, 3 classes)",
                TOL_REF, "vs numpy Nystrom")
    cur.execute("SELECT ntk_predict_class('c', %s::float8[])", ([float(v) for v in T[0]],))
    check(cur.fetchone()[0] == classes[int(np.argmax(want[0]))], "ntk_predict_class is the argmax")
    check(mod["classes"] == classes and mod["n_outputs"] == 3, "classifier: sorted classes stored")
    cur.execute("SELECT count(*), count(label) FROM ntk_predict_batch('c', 'SELECT id, x FROM cl')")
    check(cur.fetchone() == (n, n), "ntk_predict_batch works on a Nystrom classifier")

    fit(cur, "m", "mo", {"method": "nystrom", "centers": 40, "ridge": 1e-3})
    mod = model(cur, "m")
    alpha = ref_fit(X, Y2, ref_centers(X, 40, 0), kp, 1e-3, jitter=mod["metrics"]["jitter"])
    check_close(predict_rows(cur, "m", T), predict(T, ref_centers(X, 40, 0), alpha, kp),
                "multi-output vs numpy", TOL_REF, "vs numpy Nystrom")

    # the streaming paths give the same models
    for name, q, agg, opts in (
            ("c", "SELECT x, label FROM cl", "classification",
             {"method": "nystrom", "centers": 50, "seed": 5, "standardize": True, "ridge": 1e-3}),
            ("m", "SELECT x, y FROM mo", None, {"method": "nystrom", "centers": 40, "ridge": 1e-3})):
        o = dict(opts, task=agg) if agg else opts
        cur.execute("SELECT ntk_fit_query(%s, %s, %s)", (name + "_q", q, json.dumps(o)))
        check_close(predict_rows(cur, name + "_q", T), predict_rows(cur, name, T),
                    "ntk_fit_query equals the aggregate: %s" % name, 1e-12, "streaming vs aggregate")
        cur.execute("SELECT ntk_drop_model(%s), ntk_drop_model(%s)", (name, name + "_q"))


# --- ridge selection by GCV --------------------------------------------------

def ref_select(Xs, Y, Cs, kp, ridges, absolute, jitter):
    """Per candidate ridge: (gcv, rss, df, alpha, predictions), each by a
    numpy refit of the stacked least squares [K_nm; sqrt(lambda) K~^1/2] a =
    [Y; 0] (K~ = K_mm with the server's jitter): alpha by lstsq, the training
    predictions K_nm a and the hat matrix's trace from its QR."""
    n, k = Y.shape
    m = Cs.shape[0]
    Knm = ref_kernel(Xs, Cs, kp)
    Kmm = ref_kernel(Cs, None, kp)
    Kmm = (Kmm + Kmm.T) / 2
    Kmm += jitter * np.mean(np.diag(Kmm)) * np.eye(m)
    nngp, theta = ntk_ref.self_kernels(Xs, kp["depth"], kp["activation"], kp["sigma_w"],
                                       kp["sigma_b"])
    mean_self = float(np.mean(theta if kp["kind"] == "ntk" else nngp))
    s, U = np.linalg.eigh(Kmm)
    root = np.sqrt(np.clip(s, 0.0, None))[:, None] * U.T
    out = []
    for r in ridges:
        lam = r if absolute else r * mean_self
        A = np.vstack([Knm, np.sqrt(lam) * root])
        rhs = np.vstack([Y, np.zeros((m, k))])
        alpha, *_ = np.linalg.lstsq(A, rhs, rcond=None)
        # the hat matrix K_nm (A^T A)^-1 K_nm^T is Q_1 Q_1^T (A = Q R): the
        # training predictions and its trace without inverting anything
        Q, _ = np.linalg.qr(A)
        Q1 = Q[:n]
        F = Q1 @ (Q1.T @ Y)
        rss = float(np.sum((Y - F) ** 2))
        df = float(np.sum(Q1 ** 2))
        out.append((n * rss / (k * (n - df) ** 2), rss, df, alpha, F))
    return out


def alpha_of(cur, name):
    cur.execute("SELECT d.data FROM ntk_model_data d JOIN ntk_models m ON m.id = d.model_id "
                "WHERE m.name = %s AND d.part = 'alpha' ORDER BY d.chunk", (name,))
    return np.frombuffer(b"".join(bytes(r[0]) for r in cur.fetchall()), dtype=np.float64)


def ridge_of(cur, name):
    cur.execute("SELECT ridge, (options->>'ridge')::float8 FROM ntk_models WHERE name = %s", (name,))
    return cur.fetchone()


def check_selection(cur, name, ref, ridges, what):
    """The model's candidates, scores, choice and training error against ref."""
    mod = model(cur, name)
    sel = mod["metrics"]["selection"]
    got_r = [c["ridge"] for c in sel]
    check(got_r == list(ridges) and mod["metrics"]["selection_criterion"] == "gcv",
          "%s: the %d candidates in order, criterion gcv" % (what, len(ridges)))
    check_close([c["gcv"] for c in sel], [g for g, *_ in ref],
                "%s: every candidate's GCV vs a numpy refit" % what, TOL_GCV, "GCV vs numpy refit")
    check_close([c["df"] for c in sel], [df for _, _, df, *_ in ref],
                "%s: every candidate's df vs the hat matrix's trace" % what, TOL_GCV,
                "GCV vs numpy refit")
    best = int(np.argmin([g for g, *_ in ref]))
    ridge, opt_ridge = ridge_of(cur, name)
    check(ridge == ridges[best] and opt_ridge == ridges[best] and
          mod["metrics"]["gcv"] == min(c["gcv"] for c in sel),
          "%s: chosen ridge %g is numpy's argmin (%g), in the ridge column and options"
          % (what, ridge, ridges[best]))
    return best


def test_selection(cur, rng):
    n, d = 250, 4
    X, y = data(rng, n, d)
    y = y + 0.3 * rng.standard_normal(n)
    Y2 = np.stack([y, np.cos(X[:, 0]) + 0.2 * rng.standard_normal(n)], axis=1)
    labels = np.where(y > 0.3, "hi", np.where(y < -0.3, "lo", "mid")).tolist()
    load(cur, "gs", X, y, labels)
    load(cur, "gm", X, Y2)
    mean, scale = ntk_ref.standardize_fit(X)
    Xs = (X - mean) / scale

    # a list, relu NTK; then "auto" (37 candidates), erf, standardized
    ridges = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    kp = kp_(3, "relu", 1.0, 0.0)
    fit(cur, "g1", "gs", {"method": "nystrom", "centers": 60, "seed": 2, "ridge": ridges})
    mod = model(cur, "g1")
    C = ref_centers(X, 60, 2)
    ref = ref_select(X, y[:, None], C, kp, ridges, False, mod["metrics"]["jitter"])
    best = check_selection(cur, "g1", ref, ridges, "list, relu ntk")
    check_close(mod["metrics"]["train_rmse"], np.sqrt(ref[best][1] / n),
                "list: train_rmse vs numpy", TOL_GCV,
                "training error vs numpy")
    # the chosen ridge fixed: the same coefficients
    fit(cur, "g1f", "gs", {"method": "nystrom", "centers": 60, "seed": 2, "ridge": ridges[best]})
    check_close(alpha_of(cur, "g1"), alpha_of(cur, "g1f"),
                "the selection's coefficients equal a fit with the chosen ridge fixed",
                TOL_FIXED, "selected vs fixed ridge")
    check_close(alpha_of(cur, "g1"), ref[best][3][:, 0], "the selection's coefficients vs numpy",
                TOL_REF, "vs numpy Nystrom")
    f1 = model(cur, "g1f")
    check("selection" not in f1["metrics"] and
          abs(f1["metrics"]["train_rmse"] - mod["metrics"]["train_rmse"]) <= 1e-10 * mod["metrics"]["train_rmse"],
          "a fixed ridge: no selection in metrics, the same train_rmse")

    auto = [10.0 ** (-8 + i / 4.0) for i in range(37)]
    kp = kp_(2, "erf", 1.2, 0.1)
    opts = {"method": "nystrom", "centers": 70, "seed": 5, "ridge": "auto", "standardize": True,
            "activation": "erf", "depth": 2, "sigma_w": 1.2, "sigma_b": 0.1}
    fit(cur, "g2", "gs", opts)
    mod = model(cur, "g2")
    C = ref_centers(X, 70, 5)
    Cs = (C - mean) / scale
    ref = ref_select(Xs, y[:, None], Cs, kp, auto, False, mod["metrics"]["jitter"])
    got_r = [c["ridge"] for c in mod["metrics"]["selection"]]
    check(np.allclose(got_r, auto, rtol=1e-15, atol=0), "auto: the exact fits' grid, 1e-8 to 10")
    best = check_selection(cur, "g2", ref, got_r, "auto, erf ntk, standardize")
    # the statistics' path: the same scores, the training rmse in closed form
    cur.execute("SELECT ntk_fit_query('g2q', 'SELECT x, y FROM gs', %s)", (json.dumps(opts),))
    q = model(cur, "g2q")
    check_close([c["gcv"] for c in q["metrics"]["selection"]],
                [c["gcv"] for c in mod["metrics"]["selection"]],
                "ntk_fit_query selects as the aggregate", 1e-12, "streaming vs aggregate")
    check_close(q["metrics"]["train_rmse"], np.sqrt(ref[best][1] / n),
                "ntk_fit_query: train_rmse from the statistics vs numpy", TOL_GCV,
                "training error vs numpy")
    check_close(mod["metrics"]["train_rmse"], np.sqrt(ref[best][1] / n),
                "auto: train_rmse vs numpy", TOL_GCV,
                "training error vs numpy")

    # absolute ridges, two outputs; ntk_nystrom_fit from a state
    ridges = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
    kp = kp_(3, "relu", 1.0, 0.1, "nngp")
    opts = {"method": "nystrom", "centers": 50, "kernel": "nngp", "sigma_b": 0.1,
            "ridge": ridges, "ridge_absolute": True}
    fit(cur, "g3", "gm", opts)
    mod = model(cur, "g3")
    C = ref_centers(X, 50, 0)
    ref = ref_select(X, Y2, C, kp, ridges, True, mod["metrics"]["jitter"])
    best = check_selection(cur, "g3", ref, ridges, "absolute ridges, nngp, 2 outputs")
    check_close(mod["metrics"]["train_rmse"], np.sqrt(ref[best][1] / (2 * n)),
                "2 outputs: train_rmse vs numpy", TOL_GCV, "training error vs numpy")
    o = json.dumps(opts)
    cur.execute("SELECT ntk_nystrom_fit('g3b', ntk_nystrom_statistics("
                "(SELECT ntk_nystrom_centers(x, y, %s) FROM gm), x, y, %s), %s) FROM gm", (o, o, o))
    b = model(cur, "g3b")
    check_close([c["gcv"] for c in b["metrics"]["selection"]], [g for g, *_ in ref],
                "ntk_nystrom_fit: every candidate's GCV vs numpy", TOL_GCV, "GCV vs numpy refit")
    check_close(alpha_of(cur, "g3b"), alpha_of(cur, "g3"), "ntk_nystrom_fit: the aggregate's coefficients",
                1e-12, "streaming vs aggregate")

    # a classifier: GCV of the one-hot targets; the training accuracy
    ridges = [1e-4, 1e-3, 1e-2, 1e-1]
    kp = kp_(3, "relu", 1.0, 0.0)
    opts = {"method": "nystrom", "centers": 60, "seed": 9, "standardize": True, "ridge": ridges}
    fit(cur, "g4", "gs", opts, agg="ntk_fit_classifier", target="label")
    mod = model(cur, "g4")
    classes = sorted(set(labels))
    lab = np.array([classes.index(v) for v in labels])
    onehot = np.eye(len(classes))[lab]
    Cs = (ref_centers(X, 60, 9) - mean) / scale
    ref = ref_select(Xs, onehot, Cs, kp, ridges, False, mod["metrics"]["jitter"])
    best = check_selection(cur, "g4", ref, ridges, "classifier, 3 classes")
    want = float(np.sqrt(np.mean((ref[best][4] - onehot) ** 2)))
    check("train_accuracy" not in mod["metrics"],
          "classifier: no train_accuracy (it would need every row's prediction)")
    check_close(mod["metrics"]["train_rmse"], want,
                "classifier: train_rmse of the one-hot targets vs numpy", TOL_GCV,
                "training error vs numpy")
    cur.execute("SELECT ntk_fit_query('g4q', 'SELECT x, label FROM gs', %s)", (json.dumps(opts),))
    q = model(cur, "g4q")
    check("train_accuracy" not in q["metrics"] and ridge_of(cur, "g4q")[0] == ridges[best],
          "classifier from statistics: the same choice, no training accuracy")
    check_close(q["metrics"]["train_rmse"], want,
                "classifier from statistics: train_rmse vs numpy", TOL_GCV,
                "training error vs numpy")
    for name in ("g1", "g1f", "g2", "g2q", "g3", "g3b", "g4", "g4q"):
        cur.execute("SELECT ntk_drop_model(%s)", (name,))


def test_training_error(cur, rng):
    """Without selection: train_rmse in closed form from the statistics, in
    the aggregate and in ntk_fit_query, against numpy's residuals of the
    training predictions."""
    n, d = 200, 3
    X, y = data(rng, n, d)
    load(cur, "te", X, y)
    kp = kp_(3, "relu", 1.0, 0.0)
    opts = {"method": "nystrom", "centers": 40, "ridge": 1e-3}
    fit(cur, "t1", "te", opts)
    cur.execute("SELECT ntk_fit_query('t1q', 'SELECT x, y FROM te', %s)", (json.dumps(opts),))
    mod = model(cur, "t1")
    C = ref_centers(X, 40, 0)
    alpha = ref_fit(X, y[:, None], C, kp, 1e-3, jitter=mod["metrics"]["jitter"])
    want = float(np.sqrt(np.mean((predict(X, C, alpha, kp)[:, 0] - y) ** 2)))
    check_close(mod["metrics"]["train_rmse"], want, "train_rmse of the aggregate vs numpy",
                TOL_GCV, "training error vs numpy")
    check_close(model(cur, "t1q")["metrics"]["train_rmse"], want,
                "train_rmse from the statistics (closed form) vs numpy", TOL_GCV,
                "training error vs numpy")
    cur.execute("SELECT ntk_drop_model('t1'), ntk_drop_model('t1q')")


# --- streaming, parallel, combined ------------------------------------------

def test_parallel(cur, rng):
    n, d = 60000, 6
    X, y = data(rng, n, d)
    T = rng.standard_normal((10, d))
    load(cur, "big", X, y)
    opts = {"method": "nystrom", "centers": 300, "ridge": 1e-3, "standardize": True}
    cur.execute("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; "
                "SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2")
    cur.execute("EXPLAIN (COSTS OFF) SELECT ntk_nystrom_centers(x, y, %s) FROM big", (json.dumps(opts),))
    plan = "\n".join(r[0] for r in cur.fetchall())
    check("Gather" in plan and "Partial Aggregate" in plan and "Finalize Aggregate" in plan,
          "EXPLAIN of pass 1: Finalize Aggregate, Gather, Partial Aggregate")
    # the plans ntk_fit_query's passes run with, as auto_explain reports them
    conn = cur.connection
    del conn.notices[:]
    cur.execute("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
                "SET auto_explain.log_nested_statements = on; SET auto_explain.log_analyze = on; "
                "SET auto_explain.log_timing = off; SET auto_explain.log_level = notice")
    t0 = time.time()
    cur.execute("SELECT ntk_fit_query('par', 'SELECT x, y FROM big', %s)", (json.dumps(opts),))
    t_par = time.time() - t0
    cur.execute("SET auto_explain.log_min_duration = -1")
    stat_plans = [msg for msg in conn.notices if "ntk_nystrom_statistics" in msg]
    check(len(stat_plans) == 1 and "Partial Aggregate" in stat_plans[0] and
          "Workers Launched: 2" in stat_plans[0],
          "pass 2 of ntk_fit_query ran as a Partial Aggregate with 2 workers launched")
    cur.execute("SET max_parallel_workers_per_gather = 0")
    t0 = time.time()
    cur.execute("SELECT ntk_fit_query('ser', 'SELECT x, y FROM big', %s)", (json.dumps(opts),))
    t_ser = time.time() - t0
    fit(cur, "agg", "big", opts)
    p_ser = predict_rows(cur, "ser", T)
    check_close(predict_rows(cur, "par", T), p_ser, "parallel fit equals the serial one",
                TOL_SPLIT, "parallel / combined vs one pass")
    check_close(predict_rows(cur, "agg", T), p_ser, "ntk_fit aggregate equals ntk_fit_query",
                1e-12, "streaming vs aggregate")
    print("     (parallel %.2f s, serial %.2f s)" % (t_par, t_ser))
    cur.execute("RESET max_parallel_workers_per_gather")
    for name in ("par", "ser", "agg"):
        cur.execute("SELECT ntk_drop_model(%s)", (name,))


def test_combine(cur, rng):
    """One state, and three-way splits combined in any order, via the text form."""
    n, d = 3000, 4
    X, y = data(rng, n, d)
    T = rng.standard_normal((10, d))
    load(cur, "sp", X, y)
    part = rng.integers(0, 3, n)
    cur.execute("ALTER TABLE sp ADD COLUMN part int")
    psycopg2.extras.execute_values(cur, "UPDATE sp SET part = v.p FROM (VALUES %s) v(id, p) WHERE sp.id = v.id",
                                   [(i + 1, int(p)) for i, p in enumerate(part)])
    o = json.dumps({"centers": 200, "ridge": 1e-3, "standardize": True})
    cur.execute("SET max_parallel_workers_per_gather = 0")
    cur.execute("CREATE TEMP TABLE c1 AS SELECT ntk_nystrom_centers(x, y, %s) AS s FROM sp", (o,))
    # centers per part, through the text form, combined
    cur.execute("CREATE TEMP TABLE cp AS SELECT part, ntk_nystrom_centers(x, y, %s)::text AS s "
                "FROM sp GROUP BY part", (o,))
    cur.execute("CREATE TEMP TABLE c3 AS SELECT ntk_nystrom_combine(ntk_nystrom_combine("
                "(SELECT s::ntk_nystrom_state FROM cp WHERE part = 2), (SELECT s::ntk_nystrom_state FROM cp WHERE part = 0)), "
                "(SELECT s::ntk_nystrom_state FROM cp WHERE part = 1)) AS s")
    cur.execute("SELECT ntk_nystrom_state_info(s) FROM c1")
    info1 = cur.fetchone()[0]
    check(info1["centers"] == 200 and info1["rows"] == n, "pass 1 state: 200 centers of %d rows" % n)
    cur.execute("SELECT ntk_nystrom_state_info(s) FROM c3")
    check(cur.fetchone()[0] == info1, "pass 1 states of three parts, combined by a plain call, hold the same")
    # statistics: one pass, and per part combined in two orders
    cur.execute("SELECT ntk_nystrom_fit('one', ntk_nystrom_statistics((SELECT s FROM c1), x, y, %s), %s) FROM sp",
                (o, o))
    cur.execute("CREATE TEMP TABLE sp3 AS SELECT part, ntk_nystrom_statistics((SELECT s FROM c1), x, y, %s) AS s "
                "FROM sp GROUP BY part", (o,))
    # combining through an aggregate of states: a one-line SQL aggregate over the combine function
    cur.execute("CREATE AGGREGATE pg_temp.combine_all(ntk_nystrom_state) "
                "(SFUNC = ntk_nystrom_combine, STYPE = ntk_nystrom_state)")
    for name, order in (("split_a", [0, 1, 2]), ("split_b", [2, 0, 1])):
        cur.execute("SELECT ntk_nystrom_fit(%s, (SELECT pg_temp.combine_all(s::text::ntk_nystrom_state "
                    "ORDER BY array_position(%s::int[], part)) FROM sp3), %s)", (name, order, o))
    p1 = predict_rows(cur, "one", T)
    for name in ("split_a", "split_b"):
        check_close(predict_rows(cur, name, T), p1, "three-way split combined (%s) equals one pass" % name,
                    TOL_SPLIT, "parallel / combined vs one pass")
    cur.execute("SELECT ntk_fit('agg', x, y, %s) FROM sp",
                (json.dumps({"method": "nystrom", "centers": 200, "ridge": 1e-3, "standardize": True}),))
    check_close(predict_rows(cur, "agg", T), p1, "building blocks equal the ntk_fit aggregate",
                TOL_SPLIT, "parallel / combined vs one pass")
    # different centers: refused
    cur.execute("CREATE TEMP TABLE c2 AS SELECT ntk_nystrom_centers(x, y, %s) AS s FROM sp WHERE part = 0", (o,))
    try:
        cur.execute("SELECT ntk_nystrom_combine((SELECT ntk_nystrom_statistics((SELECT s FROM c1), x, y, %s) FROM sp), "
                    "(SELECT ntk_nystrom_statistics((SELECT s FROM c2), x, y, %s) FROM sp))", (o, o))
        check(False, "states of other centers are refused")
    except psycopg2.Error as e:
        check(e.pgcode == "22000" and "fingerprint" in (e.diag.message_detail or ""),
              "states of other centers are refused with 22000: %s" % e.diag.message_primary)
    # binary form: a round trip through COPY BINARY
    cur.execute("CREATE TEMP TABLE bin (s ntk_nystrom_state)")
    cur.execute("INSERT INTO bin SELECT ntk_nystrom_statistics((SELECT s FROM c1), x, y, %s) FROM sp", (o,))
    cur.execute("SELECT ntk_nystrom_state_send(s) FROM bin")
    raw = bytes(cur.fetchone()[0])
    cur.execute("SELECT ntk_nystrom_state_info(s), s::text = (SELECT s::text FROM bin) FROM "
                "(SELECT ntk_nystrom_state_in(ntk_nystrom_state_out(s)) AS s FROM bin) q")
    info, same = cur.fetchone()
    check(same and info["rows"] == n and len(raw) + 4 == info["bytes"],
          "text form round trip; binary form has the state's bytes")
    cur.execute("RESET max_parallel_workers_per_gather")
    for name in ("one", "split_a", "split_b", "agg"):
        cur.execute("SELECT ntk_drop_model(%s)", (name,))


def test_corrupt_states(cur, rng):
    """Damaged states (bytes changed, truncated, sizes overwritten) in text
    form: a clean error or a result, never an internal error or a crash."""
    X, y = data(rng, 200, 2)
    labels = ["a" if v > 0 else "b" for v in y]
    load(cur, "cz", X, y, labels)
    states = []
    for q in ("""SELECT ntk_nystrom_centers(x, y, '{"centers": 20, "standardize": true}')::text FROM cz""",
              """SELECT ntk_nystrom_centers(x, label, '{"centers": 20}')::text FROM cz""",
              """SELECT ntk_nystrom_statistics((SELECT ntk_nystrom_centers(x, y, '{"centers": 20}') FROM cz),
                        x, y, '{}')::text FROM cz""",
              """SELECT ntk_nystrom_statistics((SELECT ntk_nystrom_centers(x, label, '{"centers": 20}') FROM cz),
                        x, label, '{}')::text FROM cz"""):
        cur.execute(q)
        states.append(base64.b64decode(cur.fetchone()[0]))
    r = random.Random(int(rng.integers(1 << 30)))
    bad = []
    codes = {}
    for _ in range(400):
        b = bytearray(r.choice(states))
        c = r.random()
        if c < 0.3:
            for _ in range(r.randint(1, 4)):
                b[r.randrange(len(b))] = r.randrange(256)
        elif c < 0.5:
            b = b[:r.randrange(len(b))]
        elif c < 0.7:
            i = r.randrange(0, 60)
            b[i:i + 4] = r.choice([b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\x00\x00\x00\x00"])
        else:
            i = r.randrange(len(b))
            b[i] ^= 1 << r.randrange(8)
        t = base64.b64encode(bytes(b)).decode()
        for q in ("SELECT ntk_nystrom_state_info(%s::ntk_nystrom_state)",
                  "SELECT ntk_nystrom_fit('cz', %s::ntk_nystrom_state, '{}')",
                  "SELECT ntk_nystrom_combine(%s::ntk_nystrom_state, %s::ntk_nystrom_state)"):
            try:
                cur.execute(q, (t,) * q.count("%s"))
                codes["ok"] = codes.get("ok", 0) + 1
            except psycopg2.Error as e:
                codes[e.pgcode] = codes.get(e.pgcode, 0) + 1
                if e.pgcode is None or e.pgcode.startswith("XX"):
                    bad.append((q, e.pgcode, str(e)))
    cur.execute("SELECT 1")
    check(not bad and cur.fetchone()[0] == 1,
          "1200 calls on damaged states: clean errors or results (%s)%s"
          % (", ".join("%s x%d" % kv for kv in sorted(codes.items())), "; " + str(bad[:2]) if bad else ""))
    cur.execute("SELECT ntk_drop_model('cz') WHERE EXISTS (SELECT 1 FROM ntk_models WHERE name = 'cz')")


def run_tests(conn, cur):
    rng = testlib.rng(20261207)
    test_reference(cur, rng)
    test_every_row(cur, rng)
    test_classifier_and_multi(cur, rng)
    # their own generator: the data of the tests after them stay as they were
    test_selection(cur, testlib.rng(20261220))
    test_training_error(cur, testlib.rng(20261221))
    test_combine(cur, rng)
    test_corrupt_states(cur, rng)
    test_parallel(cur, rng)


def main():
    t0 = time.time()
    testlib.run_in_database(DBNAME, run_tests, check)
    for cat in sorted(max_err):
        print("max relative error %s: %.3g" % (cat, max_err[cat]))
    print("time %.1f s" % (time.time() - t0))
    testlib.footer(failed, "20261207, 20261220, 20261221")
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
