#!/usr/bin/python3
"""Finite training time, predictive variance and model selection in SQL,
against an independent numpy reference (ntk_ref.py + textbook formulas).

Runs against the cluster in the PG* environment variables; creates and drops
its own database.  Ends with "N passed, M failed".
"""
import os
import sys

import numpy as np
import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ntk_ref  # noqa: E402
import testlib  # noqa: E402

DB = "ntk_inference_test"


CHECKS = testlib.Checks(verbose=True)


def check(name, ok, detail=""):
    return CHECKS(ok, "%s %s" % (name, detail))


def rel(a, b):
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def arr(v):
    return "{" + ",".join(repr(float(x)) for x in v) + "}"


def load(cur, table, X, Y):
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    if Y.ndim == 1:
        cur.execute(f"CREATE TABLE {table} (id int, x float8[], y float8)")
        rows = [(i, arr(X[i]), float(Y[i])) for i in range(len(X))]
    else:
        cur.execute(f"CREATE TABLE {table} (id int, x float8[], y float8[])")
        rows = [(i, arr(X[i]), arr(Y[i])) for i in range(len(X))]
    cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", rows)


def predict_table(cur, fn, model, Xte):
    out = []
    for x in Xte:
        cur.execute(f"SELECT {fn}(%s, %s::float8[])", (model, arr(x)))
        out.append(cur.fetchone()[0])
    return np.array(out, dtype=float if not isinstance(out[0], list) else object)


def ref_finite_time(Xtr, Y, Xte, depth, act, sw, sb, kind, ridge, lr, t):
    """neural-tangents gradient_descent_mse at time t, zero initial outputs."""
    Ktr = ntk_ref.kernel(Xtr, None, depth, act, sw, sb, kind)
    Kte = ntk_ref.kernel(Xte, Xtr, depth, act, sw, sb, kind)
    lam = ridge * np.mean(np.diag(Ktr))
    w, V = np.linalg.eigh(Ktr + lam * np.eye(len(Ktr)))
    Y2 = Y.reshape(len(Y), -1)
    s = lr * t / Y2.size
    f = np.where(w > 0, -np.expm1(-np.maximum(w, 0) * s) / np.abs(w), s)
    return (Kte @ (V @ (f[:, None] * (V.T @ Y2)))).reshape(len(Xte), *Y.shape[1:])


def ref_variance(Xtr, Xte, depth, act, sw, sb, kind, ridge):
    Ktr = ntk_ref.kernel(Xtr, None, depth, act, sw, sb, kind)
    Kte = ntk_ref.kernel(Xte, Xtr, depth, act, sw, sb, kind)
    kxx = np.diag(ntk_ref.kernel(Xte, None, depth, act, sw, sb, kind))
    lam = ridge * np.mean(np.diag(Ktr))
    A = Ktr + lam * np.eye(len(Ktr))
    return np.maximum(kxx - np.einsum("ij,ji->i", Kte, np.linalg.solve(A, Kte.T)), 0.0)


def ref_loo(Xtr, Y, depth, act, sw, sb, kind, ridge):
    """Leave-one-out MSE by actually refitting n times (brute force)."""
    n = len(Xtr)
    K = ntk_ref.kernel(Xtr, None, depth, act, sw, sb, kind)
    lam = ridge * np.mean(np.diag(K))
    Y2 = Y.reshape(n, -1)
    err = 0.0
    for i in range(n):
        keep = np.arange(n) != i
        alpha = np.linalg.solve(K[np.ix_(keep, keep)] + lam * np.eye(n - 1), Y2[keep])
        err += np.sum((K[i, keep] @ alpha - Y2[i]) ** 2)
    return err / Y2.size


def main():
    conn = testlib.create_database(DB)
    cur = conn.cursor()
    rng = testlib.rng(7)

    # 1. finite training time
    n, d = 60, 5
    Xtr = rng.normal(size=(n, d))
    Xte = rng.normal(size=(15, d))
    y = np.sin(Xtr[:, 0]) + 0.3 * Xtr[:, 1]
    load(cur, "tr", Xtr, y)
    for (depth, act, sw, sb, kind, t, lr) in [
            (3, "relu", 1.0, 0.0, "ntk", 10.0, 1.0),
            (2, "relu", 1.5, 0.3, "ntk", 500.0, 0.5),
            (2, "erf", 1.2, 0.1, "nngp", 50.0, 2.0),
            (1, "relu", 1.0, 0.2, "ntk", 0.0, 1.0),
            (3, "relu", 1.0, 0.0, "ntk", 1e9, 1.0)]:
        opts = (f'{{"depth": {depth}, "activation": "{act}", "sigma_w": {sw}, "sigma_b": {sb}, '
                f'"kernel": "{kind}", "t": {t}, "learning_rate": {lr}}}')
        cur.execute("SELECT ntk_fit('ft', x, y, %s::jsonb) FROM tr", (opts,))
        got = predict_table(cur, "ntk_predict", "ft", Xte)
        want = ref_finite_time(Xtr, y, Xte, depth, act, sw, sb, kind, 1e-6, lr, t)
        if t == 0.0:
            check(f"finite time t=0 predicts zero ({act} d{depth})", np.max(np.abs(got)) == 0.0)
        else:
            check(f"finite time {act} d{depth} {kind} t={t} lr={lr}", rel(got, want) <= 1e-6,
                  f"rel {rel(got, want):.2e}")
    # t large equals t = infinity (kernel ridge regression)
    cur.execute("SELECT ntk_fit('finf', x, y, '{\"ridge\": 1e-3}') FROM tr")
    cur.execute("SELECT ntk_fit('fbig', x, y, '{\"ridge\": 1e-3, \"t\": 1e12}') FROM tr")
    a = predict_table(cur, "ntk_predict", "finf", Xte)
    b = predict_table(cur, "ntk_predict", "fbig", Xte)
    check("finite time t -> infinity equals ridge regression", rel(b, a) <= 1e-6, f"rel {rel(b, a):.2e}")
    # multi-output: time scaled by the number of target entries
    Y2 = np.stack([y, np.cos(Xtr[:, 2])], axis=1)
    load(cur, "tr2", Xtr, Y2)
    cur.execute("SELECT ntk_fit('ft2', x, y, '{\"t\": 30}') FROM tr2")
    got = np.array([np.array(v, dtype=float) for v in predict_table(cur, "ntk_predict_vector", "ft2", Xte)])
    want = ref_finite_time(Xtr, Y2, Xte, 3, "relu", 1.0, 0.0, "ntk", 1e-6, 1.0, 30.0)
    check("finite time multi-output (t scaled by n*k)", rel(got, want) <= 1e-6, f"rel {rel(got, want):.2e}")

    # 2. predictive variance, both with Cholesky (t absent) and eigen (t given)
    for (depth, act, sb, kind, ridge, extra) in [
            (3, "relu", 0.0, "ntk", 1e-4, ""),
            (2, "erf", 0.2, "nngp", 1e-3, ""),
            (2, "relu", 0.1, "ntk", 1e-3, ', "t": 100')]:
        opts = (f'{{"depth": {depth}, "activation": "{act}", "sigma_b": {sb}, "kernel": "{kind}", '
                f'"ridge": {ridge}, "variance": true{extra}}}')
        cur.execute("SELECT ntk_fit('var', x, y, %s::jsonb) FROM tr", (opts,))
        X_all = np.vstack([Xte, Xtr[:5]])
        got = predict_table(cur, "ntk_predict_var", "var", X_all)
        want = ref_variance(Xtr, X_all, depth, act, 1.0, sb, kind, ridge)
        # absolute error relative to the prior variance scale k(x,x)
        scale = np.max(np.diag(ntk_ref.kernel(X_all, None, depth, act, 1.0, sb, kind)))
        err = float(np.max(np.abs(got - want)) / scale)
        check(f"variance {act} d{depth} {kind}{extra}", err <= 1e-6 and np.all(got >= 0),
              f"err/k(x,x) {err:.2e}")
        check(f"variance at training points is small ({act})",
              np.all(got[-5:] <= 1e-2 * scale))
    cur.execute("SELECT ntk_fit('novar', x, y) FROM tr")
    try:
        cur.execute("SELECT ntk_predict_var('novar', %s::float8[])", (arr(Xte[0]),))
        check("variance of a model without it is an error", False)
    except psycopg2.Error as e:
        check("variance of a model without it is an error (55000)", e.pgcode == "55000", e.pgcode)

    # 3. model selection: closed-form LOO equals brute-force LOO
    n2 = 40
    Xs = rng.normal(size=(n2, 4))
    ys = np.tanh(Xs[:, 0] * 2) + 0.1 * rng.normal(size=n2)
    load(cur, "sel", Xs, ys)
    cands = [1e-6, 1e-3, 1e-2, 1e-1, 1.0]
    cur.execute("SELECT ntk_fit('sel', x, y, %s::jsonb) FROM sel",
                ('{"ridge": [1e-6, 1e-3, 1e-2, 1e-1, 1.0], "depth": [1, 3]}',))
    cur.execute("SELECT depth, ridge, metrics FROM ntk_models WHERE name = 'sel'")
    depth_sel, ridge_sel, metrics = cur.fetchone()
    scores = {(c["depth"], c["ridge"]): c["loo_mse"] for c in metrics["selection"]}
    worst = 0.0
    for dd in (1, 3):
        for r in cands:
            want = ref_loo(Xs, ys, dd, "relu", 1.0, 0.0, "ntk", r)
            worst = max(worst, abs(scores[(dd, r)] - want) / want)
    check("closed-form LOO equals brute-force refits", worst <= 1e-6, f"rel {worst:.2e}")
    best = min(scores, key=scores.get)
    check("the chosen depth and ridge have the lowest LOO error", (depth_sel, ridge_sel) == best,
          f"chose {(depth_sel, ridge_sel)}, best {best}")
    got = predict_table(cur, "ntk_predict", "sel", Xte[:, :4])
    want = ntk_ref.krr_fit_predict(Xs, ys, Xte[:, :4], depth=depth_sel, ridge=ridge_sel)
    check("selected model predicts as a plain fit with the chosen values", rel(got, want) <= 1e-6,
          f"rel {rel(got, want):.2e}")

    # "auto": within a few percent of the best on a fine grid
    cur.execute("SELECT ntk_fit('auto', x, y, '{\"ridge\": \"auto\", \"depth\": 2}') FROM sel")
    cur.execute("SELECT ridge, metrics->>'loo_mse' FROM ntk_models WHERE name = 'auto'")
    r_auto, loo_auto = cur.fetchone()
    fine = [ref_loo(Xs, ys, 2, "relu", 1.0, 0.0, "ntk", r) for r in np.logspace(-8, 1, 91)]
    check("ridge \"auto\" is within 5% of the best on a fine grid",
          float(loo_auto) <= 1.05 * min(fine), f"auto {float(loo_auto):.4g} fine best {min(fine):.4g}")

    # 4. GROUP BY: hundreds of small per-group models in one query
    G, per = 300, 12
    Xg = rng.normal(size=(G * per, 3))
    yg = Xg[:, 0] * np.repeat(np.arange(G), per) / G + np.sin(Xg[:, 1])
    cur.execute("DROP TABLE IF EXISTS grp")
    cur.execute("CREATE TABLE grp (g int, x float8[], y float8)")
    cur.executemany("INSERT INTO grp VALUES (%s, %s, %s)",
                    [(i // per, arr(Xg[i]), float(yg[i])) for i in range(G * per)])
    cur.execute("SELECT g, ntk_fit('g_' || g, x, y, '{\"ridge\": 1e-3}') FROM grp GROUP BY g")
    cur.execute("SELECT count(*) FROM ntk_models WHERE name LIKE 'g\\_%'")
    check("GROUP BY fits one model per group (300)", cur.fetchone()[0] == G)
    worst = 0.0
    for g in (0, 17, 150, 299):
        sl = slice(g * per, (g + 1) * per)
        got = predict_table(cur, "ntk_predict", f"g_{g}", Xte[:5, :3])
        want = ntk_ref.krr_fit_predict(Xg[sl], yg[sl], Xte[:5, :3], ridge=1e-3)
        worst = max(worst, rel(got, want))
    check("per-group models match their own numpy fits", worst <= 1e-6, f"rel {worst:.2e}")

    # 5. the model cache keeps at most ntk.model_cache_memory: with 0 it keeps
    # only the model in use, and models dropped from it load again unchanged
    first = {g: predict_table(cur, "ntk_predict", f"g_{g}", Xte[:3, :3]) for g in (0, 17, 150)}
    cur.execute("SET ntk.model_cache_memory = 0")
    cur.execute("SET client_min_messages = debug1")
    del conn.notices[:]
    again = {g: predict_table(cur, "ntk_predict", f"g_{g}", Xte[:3, :3]) for g in (0, 17, 150, 0)}
    left = [n for n in conn.notices if "left the model cache" in n]
    cur.execute("RESET client_min_messages")
    cur.execute("RESET ntk.model_cache_memory")
    check("ntk.model_cache_memory = 0: each model leaves the cache when the next one loads",
          len(left) >= 3, f"{len(left)} evictions")
    check("models that left the cache predict the same once loaded again",
          all(np.array_equal(first[g], again[g]) for g in first))

    # 6. many outputs: the solve, the finite-time products and the
    # leave-one-out products go in blocks of targets (about 2^33 / n^2
    # columns: 954 at n = 3000), so 1000 classes take two blocks
    n, k = 3000, 1000
    Xm = rng.normal(size=(n, 3))
    lab = np.arange(n) % k
    Ym = np.zeros((n, k))
    Ym[np.arange(n), lab] = 1.0
    cur.execute("DROP TABLE IF EXISTS many")
    cur.execute("CREATE TABLE many (x float8[], label text)")
    cur.executemany("INSERT INTO many VALUES (%s, %s)",
                    [(arr(Xm[i]), "c%04d" % lab[i]) for i in range(n)])
    Km = ntk_ref.kernel(Xm, None, 3, "relu", 1.0, 0.0, "ntk")
    Kq = ntk_ref.kernel(Xte[:3, :3], Xm, 3, "relu", 1.0, 0.0, "ntk")
    lam = 1e-3 * np.mean(np.diag(Km))
    G = np.linalg.inv(Km + lam * np.eye(n))
    alpha = G @ Ym
    cur.execute("SELECT ntk_fit_classifier('many', x, label, '{\"ridge\": 1e-3}') FROM many")
    got = np.array([v for v in predict_table(cur, "ntk_predict_vector", "many", Xte[:3, :3])], float)
    check("1000 classes (two blocks of targets): scores equal numpy's", rel(got, Kq @ alpha) <= 1e-8,
          f"rel {rel(got, Kq @ alpha):.2e}")
    cur.execute("SELECT ntk_fit_classifier('many_loo', x, label, '{\"ridge\": [1e-3]}') FROM many")
    cur.execute("SELECT (metrics->>'loo_mse')::float8 FROM ntk_models WHERE name = 'many_loo'")
    loo = cur.fetchone()[0]
    want = float(np.mean((alpha / np.diag(G)[:, None]) ** 2))
    check("1000 classes: leave-one-out error equals numpy's alpha / diag(G)", abs(loo - want) / want <= 1e-8,
          f"{loo:.10g} vs {want:.10g}")
    cur.execute("SELECT ntk_fit_classifier('many_t', x, label, '{\"ridge\": 1e-3, \"t\": 1e5}') FROM many")
    got = np.array([v for v in predict_table(cur, "ntk_predict_vector", "many_t", Xte[:3, :3])], float)
    want = ref_finite_time(Xm, Ym, Xte[:3, :3], 3, "relu", 1.0, 0.0, "ntk", 1e-3, 1.0, 1e5)
    check("1000 classes at finite time t: scores equal numpy's", rel(got, want) <= 1e-8,
          f"rel {rel(got, want):.2e}")

    conn.close()
    testlib.drop_database(DB)
    return CHECKS.finish("7")


if __name__ == "__main__":
    sys.exit(main())
