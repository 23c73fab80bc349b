#!/usr/bin/python3
"""bench_db: ntk in the database against the Python path a user would take.

A benchmark, not a test: it prints numbers and ratios and fails only when
something cannot run.  Needs a running PostgreSQL with ntk installed; connects
with the PG* environment variables (PGHOST, PGPORT, PGUSER, PGDATABASE) and
creates the extension and its tables in that database.

    /usr/bin/python3 bench/bench_db.py [--quick] [--threads 2] [--reps 1] ...

Measured, in one run and with the same thread count everywhere:

  fit      (i)   SELECT ntk_fit(name, x, y) FROM table          (in the database)
           (ii)  fetch the rows with psycopg2, build the same NTK Gram with numpy
                 (test/python/ntk_ref.py, the tests' reference), scipy
                 cho_factor / cho_solve
           (iii) the floor: scipy.linalg.blas.dsyrk + scipy.linalg.lapack.dpotrf
                 (the OpenBLAS numpy and scipy load, called in this process)
  nystrom  (i)   SELECT ntk_fit(name, x, y, '{"method": "nystrom", "centers": m}')
                 FROM table, with the fit's phases (metrics.phase_seconds)
           (ii)  the same fit in numpy: fetch the rows, the cross kernels in
                 blocks (ntk_ref.py), H and B by numpy's BLAS, K_mm, then
                 L = chol(K_mm + jitter), C = L^-1 H L^-T, chol(C + lambda I)
                 and the triangular solves (scipy), on the model's centers
  predict  ntk_predict_batch vs SELECT ntk_predict(...) per row, per-row time
  point    pgbench -n -f script -T secs -c 1: SELECT ntk_predict(model, '<x>')
           vs SELECT '<x>'::float8[] (the cost of a round trip with the array)

See bench/README.md for what each number means.
"""
import argparse
import contextlib
import ctypes
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (fit n=2000, predict model n=2000, pgbench 3 s)")
    ap.add_argument("--threads", type=int, default=2,
                    help="ntk.threads and OPENBLAS_NUM_THREADS (default 2)")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions of the in-db fit and the floor (median; default 1, quick 3)")
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--fit-n", type=int, default=None, help="fit rows (8000; quick 2000)")
    ap.add_argument("--fit-d", type=int, default=None, help="fit features (784)")
    ap.add_argument("--pred-n", type=int, default=None, help="prediction model rows (6000; quick 2000)")
    ap.add_argument("--pred-d", type=int, default=None, help="prediction model features (784)")
    ap.add_argument("--batch-rows", type=int, default=None,
                    help="rows predicted by ntk_predict_batch (2000; quick 500)")
    ap.add_argument("--scalar-rows", type=int, default=None,
                    help="rows predicted by per-row ntk_predict (200; quick 50)")
    ap.add_argument("--small-n", type=int, default=1000, help="pgbench model rows (1000)")
    ap.add_argument("--small-d", type=int, default=16, help="pgbench model features (16)")
    ap.add_argument("--pgbench-seconds", type=int, default=None, help="pgbench -T (10; quick 3)")
    ap.add_argument("--pgbench", default=None, help="pgbench binary (default: on PATH, else pg_config --bindir)")
    ap.add_argument("--nys-n", type=int, default=None, help="Nystrom fit rows (20000; quick 4000)")
    ap.add_argument("--nys-m", type=int, default=None, help="Nystrom centers (5000; quick 1000)")
    ap.add_argument("--nys-d", type=int, default=None, help="Nystrom features (784)")
    ap.add_argument("--nys-reps", type=int, default=1,
                    help="repetitions of the in-db Nystrom fit (median; default 1)")
    ap.add_argument("--skip-nystrom", action="store_true")
    ap.add_argument("--skip-fit", action="store_true", help="no exact fit (e.g. to run the Nystrom part alone)")
    ap.add_argument("--skip-python", action="store_true", help="no Python path (fit floor and in-db only)")
    ap.add_argument("--skip-predict", action="store_true")
    ap.add_argument("--skip-pgbench", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the bench tables and models")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    quick = {"fit_n": 2000, "fit_d": 784, "pred_n": 2000, "pred_d": 784,
             "batch_rows": 500, "scalar_rows": 50, "pgbench_seconds": 3, "reps": 3,
             "nys_n": 4000, "nys_m": 1000, "nys_d": 784}
    full = {"fit_n": 8000, "fit_d": 784, "pred_n": 6000, "pred_d": 784,
            "batch_rows": 2000, "scalar_rows": 200, "pgbench_seconds": 10, "reps": 5,
            "nys_n": 20000, "nys_m": 5000, "nys_d": 784}
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.scalar_rows = min(a.scalar_rows, a.batch_rows)
    return a


ARGS = parse_args()
# Same thread count for numpy/scipy's OpenBLAS as for ntk.threads; must be set
# before numpy loads OpenBLAS.  OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as
# the environment has them.
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import scipy.linalg  # noqa: E402
import scipy.linalg.blas  # noqa: E402
import scipy.linalg.lapack  # noqa: E402
import psycopg2  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "test", "python"))
import ntk_ref  # noqa: E402


def log(msg):
    print(f"[bench_db {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def now():
    return time.perf_counter()


# ---------------------------------------------------------------- BLAS config

def blas_report():
    """numpy's BLAS: numpy.show_config (condensed), the libraries actually
    loaded in this process and, for OpenBLAS, its own config string."""
    out = []
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            np.show_config()
        except Exception as e:  # pragma: no cover
            print(f"show_config failed: {e}")
    section, keep = None, []
    for line in buf.getvalue().splitlines():
        if line and not line.startswith(" "):
            section = line.rstrip(":")
        elif section in ("blas_opt_info", "lapack_opt_info") and "libraries" in line:
            keep.append(f"{section}: {line.strip()}")
    out.append("numpy.show_config: " + ("; ".join(keep) if keep else "(no blas_opt_info)"))
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            out.append("threadpoolctl: " + ", ".join(
                f"{k}={info.get(k)}" for k in ("internal_api", "version", "num_threads",
                                               "threading_layer", "architecture", "filepath")))
    except ImportError:
        out.append("threadpoolctl: not installed (libraries read from /proc/self/maps)")
    libs = []
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(path)
            if re.match(r"lib(open)?blas|liblapack|libmkl|libblis", base) and path not in libs:
                libs.append(path)
    configs = set()
    for path in libs:
        desc = path
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
            cfg = lib.openblas_get_config().decode()
            desc += (f" -> {cfg}; core {lib.openblas_get_corename().decode()}; "
                     f"threads {lib.openblas_get_num_threads()}")
            configs.add(cfg)
        except (OSError, AttributeError):
            pass
        out.append("loaded: " + desc)
    env = " ".join(f"{k}={os.environ[k]}" for k in sorted(os.environ) if k.startswith("OPENBLAS_"))
    out.append("env: " + (env or "(no OPENBLAS_* variables)"))
    return out


# --------------------------------------------------------- the Python path

def ntk_numpy(X, Z=None, depth=3, sigma_w=1.0, sigma_b=0.0):
    """NTK (relu) of the rows of X against the rows of Z: the tests' numpy
    reference (test/python/ntk_ref.py), vectorized over the whole matrix,
    arccos of the clipped cosine, neural-tangents' conventions (the
    contract's)."""
    return ntk_ref.ntk(X, Z, depth, "relu", sigma_w, sigma_b)


# --------------------------------------------------------------- database

def connect():
    conn = psycopg2.connect("")
    conn.autocommit = True
    return conn


def sql1(cur, q, args=None):
    cur.execute(q, args)
    return cur.fetchone()[0]


def arr_literal(v):
    return "{" + ",".join(repr(float(a)) for a in v) + "}"


def make_table(cur, name, X, y=None):
    """Creates name(id bigint, x float8[], y float8) from numpy data via COPY."""
    cur.execute(f"DROP TABLE IF EXISTS {name}")
    cur.execute(f"CREATE TABLE {name} (id bigint PRIMARY KEY, x float8[] NOT NULL, y float8)")
    buf = io.StringIO()
    for i in range(X.shape[0]):
        yv = "\\N" if y is None else repr(float(y[i]))
        buf.write(f"{i + 1}\t{arr_literal(X[i])}\t{yv}\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {name} (id, x, y) FROM STDIN", buf)
    cur.execute(f"VACUUM (ANALYZE) {name}")


def random_data(rng, n, d):
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    y = np.sin(X @ w / np.sqrt(d)) + 0.1 * rng.standard_normal(n)
    return X, y


def fetch_xy(cur, table):
    """The Python path's fetch: x and y of every row of table as numpy arrays."""
    cur.execute("SELECT x, y FROM %s" % table)
    fetched = cur.fetchall()
    return (np.array([r[0] for r in fetched], dtype=np.float64),
            np.array([r[1] for r in fetched], dtype=np.float64))


def timed(fn, reps):
    """Runs fn reps times; returns (median seconds, min seconds, last result)."""
    ts, res = [], None
    for _ in range(reps):
        t0 = now()
        res = fn()
        ts.append(now() - t0)
    return statistics.median(ts), min(ts), res


# ------------------------------------------------------------------- parts

def bench_fit(cur, rng, rows):
    n, d, depth, th = ARGS.fit_n, ARGS.fit_d, ARGS.depth, ARGS.threads
    log(f"fit: creating bench_fit_data {n} x {d}")
    X, y = random_data(rng, n, d)
    make_table(cur, "bench_fit_data", X, y)
    t0 = now()
    sql1(cur, "SELECT sum(array_length(x, 1)) FROM bench_fit_data")
    t_scan_cold = now() - t0
    t_scan, _, _ = timed(lambda: sql1(cur, "SELECT sum(array_length(x, 1)) FROM bench_fit_data"), 3)
    res = {"scan": t_scan}
    opts = json.dumps({"depth": depth})

    def fit():
        cur.execute("SELECT ntk_fit('bench_fit', x, y, %s::jsonb) FROM bench_fit_data", (opts,))
        return cur.fetchone()[0]

    # warm-up, as for the floor below: the backend's first fit also pays for
    # starting OpenBLAS and mapping its buffers
    log(f"fit: in-db ntk_fit, 1 untimed + {ARGS.reps} (n={n}, d={d}, depth={depth}, threads={th})")
    fit()
    t_all, fs_all, phases = [], [], {}
    for _ in range(ARGS.reps):
        t0 = now()
        fit()
        t_all.append(now() - t0)
        metrics = sql1(cur, "SELECT metrics FROM ntk_models WHERE name = 'bench_fit'")
        fs_all.append(float(metrics.get("fit_seconds", float("nan"))))
        for k, v in metrics.get("phase_seconds", {}).items():
            phases.setdefault(k, []).append(float(v))
    t_db = statistics.median(t_all)
    res["db"] = t_db
    res["db_min"] = min(t_all)
    res["db_fit_seconds"] = statistics.median(fs_all)
    # the fit's own account of its phases (metrics.phase_seconds), medians
    res["db_phases"] = {k: statistics.median(v) for k, v in phases.items()}

    # PostgreSQL's own cost of storing the model: the fit's chunks copied by
    # INSERT ... SELECT into a table like ntk_model_data, the previous copy
    # deleted in the same transaction, as a refit replaces a model
    log(f"fit: PostgreSQL storing the same model data, 1 untimed + {ARGS.reps}")
    cur.execute("SELECT m.id, (SELECT sum(length(data)) FROM ntk_model_data WHERE model_id = m.id) "
                "FROM ntk_models m WHERE name = 'bench_fit'")
    mid, mbytes = cur.fetchone()
    cur.execute("DROP TABLE IF EXISTS bench_store")
    cur.execute("CREATE TABLE bench_store (LIKE ntk_model_data INCLUDING STORAGE INCLUDING INDEXES)")

    def store():
        cur.execute("BEGIN; DELETE FROM bench_store; INSERT INTO bench_store "
                    "SELECT model_id, part, chunk, data FROM ntk_model_data WHERE model_id = %s; COMMIT",
                    (mid,))
    store()
    res["store"], _, _ = timed(store, ARGS.reps)
    res["store_mb"] = mbytes / 1048576.0
    cur.execute("DROP TABLE bench_store")

    # the floor through scipy's BLAS/LAPACK wrappers (numpy's OpenBLAS)
    log("fit: floor dsyrk + dpotrf (scipy.linalg.blas / lapack)")
    A = X.T  # d x n, Fortran-contiguous: dsyrk trans=1 gives X X^T without a copy
    scipy.linalg.blas.dsyrk(1.0, A, trans=1, lower=1)  # warm-up
    t_syrk, _, G = timed(lambda: scipy.linalg.blas.dsyrk(1.0, A, trans=1, lower=1), ARGS.reps)
    # an SPD n x n matrix for dpotrf: the NTK of the data + the default ridge
    # (the Python path below builds it; without it, X X^T / d + I)
    spd = None

    py = {}
    if not ARGS.skip_python:
        log("fit: Python path: fetch with psycopg2")
        t0 = now()
        Xp, yp = fetch_xy(cur, "bench_fit_data")
        py["fetch"] = now() - t0
        log("fit: Python path: numpy NTK Gram")
        t0 = now()
        K = ntk_numpy(Xp, depth=depth)
        py["gram"] = now() - t0
        log("fit: Python path: scipy cho_factor / cho_solve")
        t0 = now()
        lam = 1e-6 * np.mean(np.diag(K))
        K[np.diag_indices_from(K)] += lam
        cf = scipy.linalg.cho_factor(K, lower=True)
        alpha = scipy.linalg.cho_solve(cf, yp)
        py["solve"] = now() - t0
        del cf
        py["total"] = py["fetch"] + py["gram"] + py["solve"]
        py["compute"] = py["gram"] + py["solve"]
        spd = K
        # the same model?  predictions on fresh points, database vs numpy
        Q = rng.standard_normal((20, d))
        db_pred = np.array([sql1(cur, "SELECT ntk_predict('bench_fit', %s::float8[])", (arr_literal(q),))
                            for q in Q])
        np_pred = ntk_numpy(Q, Xp, depth=depth) @ alpha
        py["pred_diff"] = float(np.max(np.abs(db_pred - np_pred)) / np.max(np.abs(np_pred)))
        del Xp
    if spd is None:
        spd = G / d
        spd[np.diag_indices_from(spd)] += 1.0
    P = np.asfortranarray(spd)
    del spd

    def potrf(P):
        W = P.copy(order="F")
        t0 = now()
        _, info = scipy.linalg.lapack.dpotrf(W, lower=1, clean=0, overwrite_a=1)
        el = now() - t0
        if info != 0:
            raise RuntimeError(f"dpotrf info {info}")
        return el
    potrf(P)  # warm-up
    t_potrf = statistics.median([potrf(P) for _ in range(ARGS.reps)])
    del P, G
    res["syrk"], res["potrf"] = t_syrk, t_potrf
    res["floor"] = t_syrk + t_potrf
    res["py"] = py

    cfg = f"n={n} d={d} depth={depth} relu ntk, ridge 1e-6 relative, threads={th}"
    rows.append(("fit", cfg, None, None, None))
    rows.append(("fit", "floor: dsyrk (scipy.linalg.blas, OpenBLAS)", t_syrk, None, None))
    rows.append(("fit", "floor: dpotrf (scipy.linalg.lapack, OpenBLAS)", t_potrf, None, None))
    rows.append(("fit", "floor: dsyrk + dpotrf", res["floor"], 1.0, "floor"))
    rows.append(("fit", "in-db: scan only, sum(array_length(x,1))", t_scan, None, None))
    rows.append(("fit", "in-db: SELECT ntk_fit(...) FROM t", t_db, t_db / res["floor"], "floor"))
    rows.append(("fit", "  of which metrics.fit_seconds (rows in..solved)", res["db_fit_seconds"],
                 res["db_fit_seconds"] / res["floor"], "floor"))
    ph = res["db_phases"]
    for key, what, floor, vs in (("read", "reading the rows (first row to final function)", None, None),
                                 ("gram", "kernel matrix (Gram + recursion)", t_syrk, "dsyrk"),
                                 ("cholesky", "Cholesky (the inputs stored meanwhile)", t_potrf, "dpotrf"),
                                 ("store_inputs", "  of which the backend storing the inputs", None, None),
                                 ("solve", "solve (2 triangular solves)", None, None)):
        if key in ph:
            rows.append(("fit", f"    {what}", ph[key], ph[key] / floor if floor else None, vs))
    rows.append(("fit", "  rest: storing the model, returning", t_db - res["db_fit_seconds"], None, None))
    rows.append(("fit", f"PostgreSQL alone: INSERT ... SELECT of the model's {res['store_mb']:.0f} MB",
                 res["store"], None, None))
    rows.append(("fit", "in-db fit vs floor + PostgreSQL alone storing",
                 t_db, t_db / (res["floor"] + res["store"]), "floor + store"))
    rows.append(("fit", f"in-db: fastest of the {ARGS.reps} fits", res["db_min"],
                 res["db_min"] / res["floor"], "floor"))
    if py:
        rows.append(("fit", "python: fetch rows (psycopg2) to numpy", py["fetch"], py["fetch"] / t_db, "in-db fit"))
        rows.append(("fit", "python: NTK Gram (numpy, textbook)", py["gram"], py["gram"] / t_db, "in-db fit"))
        rows.append(("fit", "python: cho_factor + cho_solve (scipy)", py["solve"], py["solve"] / t_db, "in-db fit"))
        rows.append(("fit", "python: compute only (Gram + solve)", py["compute"], py["compute"] / t_db, "in-db fit"))
        rows.append(("fit", "python: total (fetch + Gram + solve)", py["total"], py["total"] / t_db, "in-db fit"))
        rows.append(("fit", "python: total vs floor", py["total"], py["total"] / res["floor"], "floor"))
    log(f"fit: cold first scan {t_scan_cold:.3f} s (not reported)")
    return res


def model_part(cur, name, part, cols):
    """A stored array of a model (ntk_model_data), row-major rows x cols."""
    cur.execute("SELECT d.data FROM ntk_model_data d JOIN ntk_models m ON m.id = d.model_id "
                "WHERE m.name = %s AND d.part = %s ORDER BY d.chunk", (name, part))
    v = np.frombuffer(b"".join(bytes(r[0]) for r in cur.fetchall()), dtype=np.float64)
    return v.reshape(-1, cols)


def numpy_nystrom(X, y, C, depth, ridge, jitter, block=2048):
    """The Nystrom fit in numpy/scipy with the server's centers, ridge and
    jitter: statistics in blocks, then the solve through K_mm's factor (the
    same flops as the server's).  Returns alpha and the phase times."""
    t = {}
    n, m = X.shape[0], C.shape[0]
    t0 = now()
    H = np.zeros((m, m))
    B = np.zeros(m)
    for i0 in range(0, n, block):
        Kb = ntk_numpy(X[i0:i0 + block], C, depth=depth)
        H += Kb.T @ Kb
        B += Kb.T @ y[i0:i0 + block]
    lam = ridge * float(np.mean(ntk_ref.self_kernels(X, depth, "relu", 1.0, 0.0)[1]))
    t["statistics"] = now() - t0
    t0 = now()
    Kmm = ntk_numpy(C, depth=depth)
    Kmm[np.diag_indices_from(Kmm)] += jitter * float(np.mean(np.diag(Kmm)))
    t["kmm"] = now() - t0
    t0 = now()
    L = scipy.linalg.cholesky(Kmm, lower=True, overwrite_a=True, check_finite=False)
    T = scipy.linalg.solve_triangular(L, H, lower=True, overwrite_b=True, check_finite=False)
    G = scipy.linalg.solve_triangular(L, T.T, lower=True, overwrite_b=True, check_finite=False)
    del T
    G[np.diag_indices_from(G)] += lam
    R = scipy.linalg.cho_factor(G, lower=True, overwrite_a=True, check_finite=False)
    a = scipy.linalg.solve_triangular(L, B, lower=True, check_finite=False)
    a = scipy.linalg.cho_solve(R, a, overwrite_b=True, check_finite=False)
    alpha = scipy.linalg.solve_triangular(L, a, lower=True, trans="T", check_finite=False)
    t["solve"] = now() - t0
    return alpha, t


def bench_nystrom_fit(cur, rng, rows):
    n, m, d, depth, th = ARGS.nys_n, ARGS.nys_m, ARGS.nys_d, ARGS.depth, ARGS.threads
    ridge = 1e-3
    log(f"nystrom: creating bench_nys_data {n} x {d}")
    X, y = random_data(rng, n, d)
    make_table(cur, "bench_nys_data", X, y)
    del X
    opts = json.dumps({"method": "nystrom", "centers": m, "depth": depth, "ridge": ridge})
    log(f"nystrom: in-db ntk_fit, {ARGS.nys_reps} run(s) (n={n}, m={m}, d={d}, depth={depth}, threads={th})")
    t_all, phases = [], {}
    for _ in range(ARGS.nys_reps):
        t0 = now()
        sql1(cur, "SELECT ntk_fit('bench_nys', x, y, %s::jsonb) FROM bench_nys_data", (opts,))
        t_all.append(now() - t0)
        metrics = sql1(cur, "SELECT metrics FROM ntk_models WHERE name = 'bench_nys'")
        for k, v in metrics.get("phase_seconds", {}).items():
            phases.setdefault(k, []).append(float(v))
    res = {"db": statistics.median(t_all), "db_phases": {k: statistics.median(v) for k, v in phases.items()}}
    cfg = f"n={n} m={m} d={d} depth={depth} relu ntk, ridge {ridge:g} relative, threads={th}"
    rows.append(("nystrom", cfg, None, None, None))
    rows.append(("nystrom", "in-db: SELECT ntk_fit(..., method nystrom) FROM t", res["db"], None, None))
    ph = res["db_phases"]
    for key, what in (("read", "reading the rows"), ("centers", "choosing the centers, standardizing"),
                      ("statistics", "statistics H, B (cross kernels, dsyrk, dgemm)"),
                      ("kmm", "K_mm"), ("solve", "solve (chol, dsygst, chol)")):
        if key in ph:
            rows.append(("nystrom", f"    {what}", ph[key], ph[key] / res["db"], "in-db fit"))
    if ARGS.skip_python:
        return res
    log("nystrom: numpy path: fetch with psycopg2")
    t0 = now()
    Xp, yp = fetch_xy(cur, "bench_nys_data")
    t_fetch = now() - t0
    C = model_part(cur, "bench_nys", "x", d)
    log(f"nystrom: numpy path: statistics, K_mm, solve on the model's {C.shape[0]} centers")
    alpha, tp = numpy_nystrom(Xp, yp, C, depth, ridge, float(metrics["jitter"]))
    del Xp
    Q = rng.standard_normal((20, d))
    db_pred = np.array([sql1(cur, "SELECT ntk_predict('bench_nys', %s::float8[])", (arr_literal(q),))
                        for q in Q])
    np_pred = ntk_numpy(Q, C, depth=depth) @ alpha
    res["pred_diff"] = float(np.max(np.abs(db_pred - np_pred)) / np.max(np.abs(np_pred)))
    compute = tp["statistics"] + tp["kmm"] + tp["solve"]
    res["py_total"] = t_fetch + compute
    res["py_compute"] = compute
    for what, sec in (("numpy: fetch rows (psycopg2)", t_fetch),
                      ("numpy: statistics (ntk_ref kernels in blocks, H, B)", tp["statistics"]),
                      ("numpy: K_mm", tp["kmm"]),
                      ("numpy: solve (scipy chol, 2 trsm, chol, solves)", tp["solve"]),
                      ("numpy: compute only", compute),
                      ("numpy: total (fetch + compute)", res["py_total"])):
        rows.append(("nystrom", what, sec, sec / res["db"], "in-db fit"))
    return res


def bench_predict(cur, rng, rows):
    n, d, depth = ARGS.pred_n, ARGS.pred_d, ARGS.depth
    m, ms = ARGS.batch_rows, ARGS.scalar_rows
    log(f"predict: model data {n} x {d}, query rows {m}")
    X, y = random_data(rng, n, d)
    make_table(cur, "bench_pred_train", X, y)
    Q, _ = random_data(rng, m, d)
    make_table(cur, "bench_pred_query", Q)
    del X, Q
    opts = json.dumps({"depth": depth})
    t0 = now()
    sql1(cur, "SELECT ntk_fit('bench_pred', x, y, %s::jsonb) FROM bench_pred_train", (opts,))
    t_fit = now() - t0
    # load the model into this backend's cache before timing anything
    sql1(cur, "SELECT ntk_predict('bench_pred', x) FROM bench_pred_query WHERE id = 1")

    def batch():
        cur.execute("SELECT id, prediction FROM ntk_predict_batch('bench_pred', "
                    "'SELECT id, x FROM bench_pred_query') ORDER BY id")
        return cur.fetchall()

    def scalar():
        cur.execute("SELECT id, ntk_predict('bench_pred', x) FROM bench_pred_query "
                    "WHERE id <= %s ORDER BY id", (ms,))
        return cur.fetchall()

    log(f"predict: ntk_predict_batch {m} rows")
    t_batch, _, b = timed(batch, max(ARGS.reps, 1))
    log(f"predict: per-row ntk_predict {ms} rows")
    t_scalar, _, s = timed(scalar, max(ARGS.reps, 1))
    bmap = dict(b)
    diff = max(abs(bmap[i] - v) for i, v in s) / max(abs(v) for _, v in s)
    per_b, per_s = t_batch / m, t_scalar / ms
    rows.append(("predict", f"model n={n} d={d} depth={depth} (fit {t_fit:.1f} s), threads={ARGS.threads}",
                 None, None, None))
    rows.append(("predict", f"ntk_predict_batch, {m} rows: per row", per_b, 1.0, "batch"))
    rows.append(("predict", f"SELECT ntk_predict(m, x) FROM t, {ms} rows: per row", per_s,
                 per_s / per_b, "batch"))
    rows.append(("predict", f"  batch total {t_batch:.3f} s, per-row total {t_scalar:.3f} s; "
                 f"max |batch - per-row| / max|pred| = {diff:.1e}", None, None, None))
    return {"batch_per_row": per_b, "scalar_per_row": per_s, "diff": diff}


def pgbench_bin():
    if ARGS.pgbench:
        return ARGS.pgbench
    p = shutil.which("pgbench")
    if p:
        return p
    bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
    return os.path.join(bindir, "pgbench")


def run_pgbench(sql, secs):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(sql + "\n")
        path = f.name
    os.chmod(path, 0o644)
    env = dict(os.environ)
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + f" -c ntk.threads={ARGS.threads}").strip()
    try:
        r = subprocess.run([pgbench_bin(), "-n", "-f", path, "-T", str(secs), "-c", "1"],
                           capture_output=True, text=True, env=env)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{r.stdout}\n{r.stderr}")
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", r.stdout)
    lat = re.search(r"latency average = ([0-9.]+) ms", r.stdout)
    if not tps:
        raise RuntimeError(f"no tps in pgbench output:\n{r.stdout}")
    return float(tps.group(1)), float(lat.group(1)) if lat else float("nan")


def bench_point(cur, rng, rows):
    n, d, depth, secs = ARGS.small_n, ARGS.small_d, ARGS.depth, ARGS.pgbench_seconds
    log(f"point: model {n} x {d}, pgbench -T {secs} x 2")
    X, y = random_data(rng, n, d)
    make_table(cur, "bench_small_train", X, y)
    sql1(cur, "SELECT ntk_fit('bench_small', x, y, %s::jsonb) FROM bench_small_train",
         (json.dumps({"depth": depth}),))
    lit = arr_literal(rng.standard_normal(d))
    tps_p, lat_p = run_pgbench(f"SELECT ntk_predict('bench_small', '{lit}'::float8[]);", secs)
    tps_b, lat_b = run_pgbench(f"SELECT '{lit}'::float8[];", secs)
    rows.append(("point", f"model n={n} d={d} depth={depth}; pgbench -n -f script -T {secs} -c 1; "
                 "ratio = TPS / baseline TPS", None, None, None))
    rows.append(("point", f"SELECT '<x>'::float8[]: {tps_b:.0f} tps; latency", lat_b / 1e3,
                 1.0, "baseline TPS"))
    rows.append(("point", f"SELECT ntk_predict(m, '<x>'): {tps_p:.0f} tps; latency", lat_p / 1e3,
                 tps_p / tps_b, "baseline TPS"))
    return {"tps_predict": tps_p, "tps_baseline": tps_b, "lat_predict": lat_p, "lat_baseline": lat_b}


# -------------------------------------------------------------------- main

def main():
    rng = np.random.default_rng(ARGS.seed)
    conn = connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS ntk")
    cur.execute("SET ntk.threads = %s", (ARGS.threads,))
    server = sql1(cur, "SHOW server_version")
    ntkver = sql1(cur, "SELECT extversion FROM pg_extension WHERE extname = 'ntk'")
    header = [
        f"== bench_db: ntk {ntkver} on PostgreSQL {server}; ntk.threads={sql1(cur, 'SHOW ntk.threads')}, "
        f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']} for numpy/scipy; "
        f"mode {'quick' if ARGS.quick else 'full'}",
        f"   python {sys.version.split()[0]} ({sys.executable}), numpy {np.__version__}, "
        f"scipy {scipy.__version__}, psycopg2 {psycopg2.__version__.split()[0]}",
    ] + ["   " + s for s in blas_report()]
    header.append("   floor = scipy.linalg.blas.dsyrk + scipy.linalg.lapack.dpotrf in this process "
                  "(numpy/scipy's OpenBLAS); seconds are the median of "
                  f"{ARGS.reps} run(s) (Python path: 1 run)")
    rows = []
    results = {}
    if not ARGS.skip_fit:
        results["fit"] = bench_fit(cur, rng, rows)
    if not ARGS.skip_nystrom:
        results["nystrom"] = bench_nystrom_fit(cur, rng, rows)
    if not ARGS.skip_predict:
        results["predict"] = bench_predict(cur, rng, rows)
    if not ARGS.skip_pgbench:
        results["point"] = bench_point(cur, rng, rows)

    print("\n".join(header))
    print()
    print(f"  {'part':8} {'what':58} {'seconds':>10} {'ratio':>8}  vs")
    for part, what, sec, ratio, vs in rows:
        if sec is None and ratio is None:
            print(f"  {part:8} {what}")
            continue
        s = "" if sec is None else (f"{sec * 1e3:8.3f} ms" if sec < 0.1 else f"{sec:10.3f}")
        r = "" if ratio is None else f"{ratio:7.2f}x"
        print(f"  {part:8} {what:58} {s:>10} {r:>8}  {vs or ''}")

    f = results.get("fit")
    print("\n  RATIOS")
    if f:
        print(f"    in-db fit / floor (dsyrk + dpotrf)          {f['db'] / f['floor']:8.2f}")
        print(f"    in-db fit / (floor + PostgreSQL storing)    {f['db'] / (f['floor'] + f['store']):8.2f}")
    if f and f["py"]:
        print(f"    Python path total / in-db fit               {f['py']['total'] / f['db']:8.2f}")
        print(f"    Python compute only / in-db fit             {f['py']['compute'] / f['db']:8.2f}")
        print(f"    in-db vs numpy predictions, max rel. diff   {f['py']['pred_diff']:8.1e}")
    if "nystrom" in results and "py_total" in results["nystrom"]:
        y = results["nystrom"]
        print(f"    Nystrom: numpy total / in-db fit            {y['py_total'] / y['db']:8.2f}")
        print(f"    Nystrom: numpy compute only / in-db fit     {y['py_compute'] / y['db']:8.2f}")
        print(f"    Nystrom: in-db vs numpy predictions, max rel. diff {y['pred_diff']:8.1e}")
    if "predict" in results:
        p = results["predict"]
        print(f"    per-row ntk_predict / ntk_predict_batch     {p['scalar_per_row'] / p['batch_per_row']:8.2f}"
              "  (per-row time)")
    if "point" in results:
        p = results["point"]
        print(f"    ntk_predict TPS / '<x>'::float8[] TPS       {p['tps_predict'] / p['tps_baseline']:8.2f}")
    sys.stdout.flush()

    if not ARGS.keep:
        for t in ("bench_fit_data", "bench_nys_data", "bench_pred_train", "bench_pred_query",
                  "bench_small_train"):
            cur.execute(f"DROP TABLE IF EXISTS {t}")
        for mname in ("bench_fit", "bench_nys", "bench_pred", "bench_small"):
            cur.execute("SELECT ntk_drop_model(%s) WHERE EXISTS (SELECT 1 FROM ntk_models WHERE name = %s)",
                        (mname, mname))
    conn.close()


if __name__ == "__main__":
    main()
