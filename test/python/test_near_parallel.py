"""test_near_parallel: nearly parallel and antiparallel inputs, and duplicate
rows, on every recursion path and every BLAS kernel.

1. Against kernels computed in 80-digit arithmetic (ntk_mp.py, mpmath on the
   exact values of the float64 inputs): pairs at angles 1e-12 ... 1e-4 from 0
   and from pi (and some wider ones), equal and unequal norms, both
   activations, depths 0-30, with and without bias, through
   ntk_kernel_vectors, ntk_gram_sym and ntk_gram_cross on the portable, AVX2
   and best paths.  Target: within 1e-13 of sqrt(k(x,x) k(z,z)) (the NNGP's
   for the NNGP, the NTK's for the NTK).
2. Duplicate rows (the same vector in x and z) get their self kernel bit for
   bit in ntk_gram_sym, ntk_gram_cross and ntk_predict_point, on every
   recursion path, with OpenBLAS forced to each core type this processor can
   run (OPENBLAS_CORETYPE, one child process each): Haswell, Zen, SkylakeX,
   Cooperlake, Nehalem.  BLAS kernels round the dot product of a point with
   itself differently from the norm the diagonal is computed from.

Seeded (testlib.py): NTK_TEST_SEED draws other inputs; a failure prints
the seed.
"""

import ctypes
import math
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ntk_mp  # noqa: E402
import testlib  # noqa: E402
from ntkcore import ACT, NTK_OK, NtkParams, load_lib  # noqa: E402

SEED = 20261207                  # fixed; testlib.rng mixes in NTK_TEST_SEED
TOL = 1e-13
PATHS = [("best", 0), ("portable", 1), ("avx2", 2)]
DP = ctypes.POINTER(ctypes.c_double)


check = testlib.Checks()


def ptr(a):
    return a.ctypes.data_as(DP)


def setup(lib):
    P = ctypes.POINTER(NtkParams)
    ci = ctypes.c_int
    lib.ntk_predict_point.argtypes = [P, ci, DP, ci, ci, DP, DP, ci, DP, DP, DP, DP]
    lib.ntk_predict_point.restype = ci
    lib.openblas_get_corename.restype = ctypes.c_char_p


def diag(lib, p, X):
    n, d = X.shape
    D = np.empty(n * lib.ntk_diag_len(ctypes.byref(p)))
    st = lib.ntk_points_diag(ctypes.byref(p), ptr(X), n, d, ptr(D))
    return st, D


def gram_sym(lib, p, kind, X):
    """Full symmetric Gram from ntk_gram_sym's lower triangle, or None."""
    n, d = X.shape
    st, D = diag(lib, p, X)
    if st != NTK_OK:
        return None
    work = np.empty(lib.ntk_gram_work_len(ctypes.byref(p), n))
    K = np.full(n * n, np.nan)
    st = lib.ntk_gram_sym(ctypes.byref(p), kind, ptr(X), n, d, ptr(D), ptr(work),
                          ptr(K), None, None)
    if st != NTK_OK:
        return None
    L = np.tril(K.reshape(n, n).T)
    return L + np.tril(L, -1).T


def gram_cross(lib, p, kind, Q, X):
    """K[i, j] = k(Q_i, X_j) from ntk_gram_cross, or None."""
    m, d = Q.shape
    n = X.shape[0]
    st1, qd = diag(lib, p, Q)
    st2, xd = diag(lib, p, X)
    if st1 != NTK_OK or st2 != NTK_OK:
        return None
    table = np.empty(lib.ntk_gram_work_len(ctypes.byref(p), n))
    lib.ntk_diag_transpose(ctypes.byref(p), ptr(xd), n, ptr(table),
                           ptr(table[(p.depth + 1) * n:]))
    K = np.full(m * n, np.nan)
    st = lib.ntk_gram_cross(ctypes.byref(p), kind, ptr(Q), m, ptr(qd), ptr(X), n,
                            ptr(table), d, ptr(K), None, None)
    return K.reshape(m, n) if st == NTK_OK else None


def predict_kernels(lib, p, kind, q, X):
    """k(q, X_j) as ntk_predict_point computes them (its kbuf), or None."""
    n, d = X.shape
    st, xd = diag(lib, p, X)
    if st != NTK_OK:
        return None
    table = np.empty(lib.ntk_gram_work_len(ctypes.byref(p), n))
    lib.ntk_diag_transpose(ctypes.byref(p), ptr(xd), n, ptr(table),
                           ptr(table[(p.depth + 1) * n:]))
    alpha = np.zeros(n)
    qd = np.empty(lib.ntk_diag_len(ctypes.byref(p)))
    kbuf = np.full(n, np.nan)
    out = np.empty(1)
    st = lib.ntk_predict_point(ctypes.byref(p), kind, ptr(X), n, d, ptr(table), ptr(alpha),
                               1, ptr(q), ptr(qd), ptr(kbuf), ptr(out))
    return kbuf if st == NTK_OK else None


def kernel_vectors(lib, p, x, z):
    ws = np.empty(2 * lib.ntk_diag_len(ctypes.byref(p)))
    k = ctypes.c_double()
    t = ctypes.c_double()
    st = lib.ntk_kernel_vectors(ctypes.byref(p), ptr(x), ptr(z), len(x), ptr(ws),
                                ctypes.byref(k), ctypes.byref(t))
    return (k.value, t.value) if st == NTK_OK else None


ANGLES = [1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.3]
SCALES = [1.0, 1.0 + 2.0 ** -40, 1.7, 0.3]
# (activation, sigma_w, sigma_b, scale of the inputs): small erf inputs in the
# chaotic phase drift apart within a few layers, so the exact route hands
# over to the ordinary one mid-way
CONFIGS = [("relu", 1.0, 0.0, 1.0), ("relu", 1.5, 0.5, 1.0), ("relu", 2.0, 0.0, 1.0),
           ("erf", 1.0, 0.0, 1.0), ("erf", 1.5, 0.5, 1.0), ("erf", 2.0, 0.0, 1.0),
           ("erf", 1.725, 0.0, 0.3), ("erf", 1.944, 0.0, 0.5)]
DEPTHS = [0, 1, 3, 6, 15, 30]


def variants(rng, d, xscale):
    """A base point x and points z at each angle from x and from -x."""
    x = rng.standard_normal(d) * xscale
    rows = [x]
    what = []
    for ang in ANGLES:
        for anti in (False, True):
            for scale in SCALES:
                w = rng.standard_normal(d)
                w -= (w @ x) / (x @ x) * x
                w /= np.linalg.norm(w)
                z = (x / np.linalg.norm(x) * math.cos(ang) + w * math.sin(ang)) \
                    * np.linalg.norm(x) * scale
                rows.append(-z if anti else z)
                what.append((ang, anti, scale))
    return np.ascontiguousarray(rows), what


def test_against_mp(lib, rng):
    worst = {}
    d = 24
    for act, sw, sb, xscale in CONFIGS:
        for depth in DEPTHS:
            X, what = variants(rng, d, xscale)
            p = NtkParams(depth, ACT[act], sw, sb)
            ref = []
            for i in range(1, len(X)):
                k, t, sk, st = ntk_mp.kernels(X[i], X[0], depth, act, sw, sb)
                ref.append((float(k), float(t), float(sk), float(st),
                            float(k - float(k)), float(t - float(t))))
            results = {}
            sv = kernel_vectors(lib, p, X[0], X[0])
            results["kernel_vectors"] = [kernel_vectors(lib, p, X[i], X[0])
                                         for i in range(1, len(X))]
            for pname, path in PATHS:
                lib.ntk_recursion_force_path(path)
                for kind in (0, 1):
                    G = gram_sym(lib, p, kind, X)
                    C = gram_cross(lib, p, kind, X[:1], X)
                    key = ("gram_sym", pname, kind)
                    results[key] = None if G is None else G[1:, 0]
                    key = ("gram_cross", pname, kind)
                    results[key] = None if C is None else C[0, 1:]
            lib.ntk_recursion_force_path(0)
            check(sv is not None, "%s depth %d: self kernel status" % (act, depth))
            for key, vals in results.items():
                if not check(vals is not None,
                             "%s sw %g sb %g depth %d: %s status" % (act, sw, sb, depth, key)):
                    continue
                for i, (k, t, sk, st, _, _) in enumerate(ref):
                    if key == "kernel_vectors":
                        if not check(vals[i] is not None, "kernel_vectors status"):
                            continue
                        errs = [abs(vals[i][0] - k) / sk, abs(vals[i][1] - t) / st]
                    else:
                        want, scale = (t, st) if key[2] == 0 else (k, sk)
                        errs = [abs(vals[i] - want) / scale]
                    e = max(errs)
                    name = key if isinstance(key, str) else key[0]
                    near = what[i][0] <= 1e-4
                    wk = (name, act, "near" if near else "wider")
                    worst[wk] = max(worst.get(wk, 0.0), e)
                    check(e <= TOL,
                          "%s sw %g sb %g depth %d, %s, angle %g from %s, norm ratio %.17g: "
                          "rel err %.3g > %g" % (act, sw, sb, depth, key, what[i][0],
                                                 "pi" if what[i][1] else "0", what[i][2], e, TOL))
    for k in sorted(worst):
        print("vs 80 digits: %-15s %-4s %-5s angles: max err %.3g of sqrt(k(x,x) k(z,z))"
              % (k[0], k[1], k[2], worst[k]))


def duplicates_child():
    """Run in a child with OPENBLAS_CORETYPE set: duplicate rows keep their
    self kernel bit for bit on every recursion path."""
    lib = load_lib()
    setup(lib)
    print("openblas core: %s" % lib.openblas_get_corename().decode())
    rng = testlib.rng(SEED + 1)
    n, d = 150, 200
    X = rng.standard_normal((n, d)) * np.exp(rng.uniform(-1, 1, size=(n, 1)))
    dups = [(7, 3), (100, 20), (149, 0), (64, 63), (130, 66)]
    for i, j in dups:
        X[i] = X[j]
    configs = [(3, "relu", 1.0, 0.0), (30, "relu", 1.5, 0.5),
               (100, "erf", 3.0, 1.375), (3, "erf", 1.2, 0.2), (0, "relu", 1.0, 0.5)]
    bad = 0
    for depth, act, sw, sb in configs:
        p = NtkParams(depth, ACT[act], sw, sb)
        for pname, path in PATHS:
            lib.ntk_recursion_force_path(path)
            for kind in (0, 1):
                label = "%s depth %d sw %g sb %g %s path %s" % (
                    act, depth, sw, sb, ("ntk", "nngp")[kind], pname)
                G = gram_sym(lib, p, kind, X)
                Q = np.ascontiguousarray(X[[j for _, j in dups] + [i for i, _ in dups]])
                C = gram_cross(lib, p, kind, Q, X)
                if not check(G is not None and C is not None, label + ": status"):
                    continue
                for a, (i, j) in enumerate(dups):
                    self_k = G[j, j]
                    got = {"gram_sym": G[i, j],
                           "gram_cross (query = the original)": C[a, i],
                           "gram_cross (query = the copy)": C[len(dups) + a, j]}
                    kb = predict_kernels(lib, p, kind, np.ascontiguousarray(X[j]), X)
                    got["predict_point"] = np.nan if kb is None else kb[i]
                    for what, v in got.items():
                        if not check(v == self_k, "%s: %s of rows %d = %d: %.17g, self kernel %.17g"
                                     % (label, what, i, j, v, self_k)):
                            bad += 1
    lib.ntk_recursion_force_path(0)
    return check.finish("%d" % (SEED + 1))


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# OpenBLAS core types and what the processor needs to run their kernels
CORETYPES = [("Haswell", {"avx2", "fma"}), ("Zen", {"avx2", "fma"}),
             ("SkylakeX", {"avx512f", "avx512dq", "avx512bw", "avx512vl"}),
             ("Cooperlake", {"avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_bf16"}),
             ("Nehalem", {"sse4_2"})]


def test_duplicates_every_core():
    flags = cpu_flags()
    ran = []
    for core, need in CORETYPES:
        if not need <= flags:
            print("duplicates: OpenBLAS core %s skipped: this processor lacks %s"
                  % (core, " ".join(sorted(need - flags))))
            continue
        env = dict(os.environ, OPENBLAS_CORETYPE=core, OPENBLAS_NUM_THREADS="1")
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--duplicates"],
                           env=env, capture_output=True, text=True)
        out = r.stdout.strip().splitlines()
        got_core = out[0] if out else "?"
        ok = check(r.returncode == 0,
                   "duplicates with OPENBLAS_CORETYPE=%s (%s): exit %d\n%s%s"
                   % (core, got_core, r.returncode, "\n".join(out[-12:]), r.stderr[-2000:]))
        if ok:
            ran.append("%s (%s)" % (core, out[-1]))
    print("duplicates keep their self kernel: " + "; ".join(ran))


def main():
    if "--duplicates" in sys.argv:
        return duplicates_child()
    t0 = time.time()
    lib = load_lib()
    setup(lib)
    rng = testlib.rng(SEED)
    test_duplicates_every_core()
    test_against_mp(lib, rng)
    print("time %.1f s" % (time.time() - t0))
    return check.finish("%d, %d" % (SEED, SEED + 1))


if __name__ == "__main__":
    sys.exit(main())
