"""test_nystrom: the Nystrom numerics (src/core/nystrom.c) against numpy.

1. The row hash against an implementation written here from its definition
   in docs/nystrom.md (Python integers), on random rows and special values.
2. The center choice against a brute-force one (distinct rows by their
   bytes, sorted by (hash, words)), the C set built from random parts merged
   in random order.
3. The fit against an independent numpy Nystrom: kernels from ntk_ref.py,
   coefficients by least squares on the stacked system
       [K_nm; sqrt(lambda) S^1/2 U^T] a = [Y; 0]   (K_mm = U S U^T),
   which never forms K_nm^T K_nm; predictions compared at new points.
   Several kernels; and ill-conditioned K_mm (pairs of centers 1e-7 apart),
   where the predictions must still agree.
4. Every row a center: equal to numpy exact kernel ridge regression
   (ntk_ref.krr_fit_predict).

Seeded (testlib.py): NTK_TEST_SEED draws other inputs; a failure prints the
seed.
"""

import ctypes
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ntk_mp  # noqa: E402
import ntk_ref  # noqa: E402
import testlib  # noqa: E402
from ntkcore import ACT, KIND, NTK_OK, NtkParams, load_lib  # noqa: E402

SEED = 20261220
DP = ctypes.POINTER(ctypes.c_double)
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


check = testlib.Checks()


def ptr(a):
    return a.ctypes.data_as(DP)


def setup(lib):
    P = ctypes.POINTER(NtkParams)
    dp = DP
    ci = ctypes.c_int
    vp = ctypes.c_void_p
    u64 = ctypes.c_uint64
    sz = ctypes.c_size_t
    for name, args, res in [
            ("ntk_row_hash", [u64, dp, ci], u64),
            ("ntk_centers_size", [ci, ci], sz),
            ("ntk_centers_init", [vp, ci, ci, u64], ci),
            ("ntk_centers_add", [vp, dp, ci], ci),
            ("ntk_centers_merge", [vp, vp], ci),
            ("ntk_centers_check", [vp, sz], ci),
            ("ntk_centers_rows", [vp, dp], None),
            ("ntk_nystrom_init", [vp, P, ci, dp, ci, ci, ci, dp, dp], ci),
            ("ntk_nystrom_work_len", [P, ci], sz),
            ("ntk_nystrom_center_table", [P, dp, ci, ci, dp, dp], ci),
            ("ntk_nystrom_accumulate", [vp, P, ci, dp, dp, dp, dp, ci, dp, vp, vp], ci),
            ("ntk_nystrom_solve", [dp, dp, dp, ci, ci, ctypes.c_double, ctypes.c_double,
                                   dp, dp, dp, ctypes.POINTER(ci), ctypes.POINTER(ci),
                                   vp, vp], ci),
            ("ntk_set_threads", [ci], None)]:
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res


# --- the hash and the center choice, from docs/nystrom.md ---------------

def mix64(z):
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & M64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return z


def row_words(x):
    return [int(w) for w in np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)]


def row_hash(seed, x):
    words = row_words(x)
    h = mix64((seed ^ ((len(words) * GOLDEN) & M64)) & M64)
    for w in words:
        h = mix64(((h ^ w) + GOLDEN) & M64)
    return h


def ref_centers(X, m, seed):
    keys = {}
    for x in X:
        words = tuple(row_words(x))
        keys[words] = (row_hash(seed, x), words)
    chosen = sorted(keys.values())[:m]
    return np.array([np.array(w, dtype=np.uint64).view(np.float64) for _, w in chosen])


class CenterSet:
    """An NtkCenters buffer (numpy bytes, 8-byte aligned)."""

    def __init__(self, lib, m, d, seed):
        self.lib = lib
        self.size = lib.ntk_centers_size(m, d)
        self.buf = np.zeros((self.size + 7) // 8, dtype=np.uint64)
        self.d = d
        assert lib.ntk_centers_init(self.vp(), m, d, seed) == NTK_OK

    def vp(self):
        return ctypes.c_void_p(self.buf.ctypes.data)

    def add(self, X):
        X = np.ascontiguousarray(X, dtype=np.float64)
        assert self.lib.ntk_centers_add(self.vp(), ptr(X), X.shape[0]) == NTK_OK

    def merge(self, other):
        return self.lib.ntk_centers_merge(self.vp(), other.vp())

    def count(self):
        return int(self.buf.view(np.int32)[3])

    def rows(self):
        C = np.zeros((max(self.count(), 1), self.d))
        self.lib.ntk_centers_rows(self.vp(), ptr(C))
        return C[:self.count()]


# --- the fit through the C core -----------------------------------------

class Stats(ctypes.Structure):
    _fields_ = [("depth", ctypes.c_int32), ("activation", ctypes.c_int32),
                ("kind", ctypes.c_int32), ("d", ctypes.c_int32), ("k", ctypes.c_int32),
                ("m", ctypes.c_int32), ("sigma_w", ctypes.c_double),
                ("sigma_b", ctypes.c_double), ("centers_hash", ctypes.c_uint64),
                ("n", ctypes.c_int64), ("diag_sum", ctypes.c_double), ("y2_sum", ctypes.c_double),
                ("H", DP), ("B", DP)]


def c_fit(lib, X, Y, C, kp, ridge, jitter=1e-15, info=None):
    """Nystrom coefficients (m x k) by the C core; relative ridge.  info
    (a dict) gets the jitter used."""
    p = NtkParams(kp["depth"], ACT[kp["activation"]], kp["sigma_w"], kp["sigma_b"])
    kind = KIND[kp["kind"]]
    X = np.ascontiguousarray(X)
    Y = np.ascontiguousarray(Y)
    C = np.ascontiguousarray(C)
    n, d = X.shape
    m = C.shape[0]
    k = Y.shape[1]
    H = np.zeros(m * m)
    B = np.zeros(m * k)
    st = Stats()
    assert lib.ntk_nystrom_init(ctypes.byref(st), ctypes.byref(p), kind, ptr(C), m, d, k,
                                ptr(H), ptr(B)) == NTK_OK
    cdiag = np.zeros(m * lib.ntk_diag_len(ctypes.byref(p)))
    table = np.zeros(lib.ntk_gram_work_len(ctypes.byref(p), m))
    work = np.zeros(lib.ntk_nystrom_work_len(ctypes.byref(p), m))
    assert lib.ntk_nystrom_center_table(ctypes.byref(p), ptr(C), m, d, ptr(cdiag),
                                        ptr(table)) == NTK_OK
    # in two parts, as a worker would
    half = n // 3
    for lo, hi in [(0, half), (half, n)]:
        Xp = np.ascontiguousarray(X[lo:hi])
        Yp = np.ascontiguousarray(Y[lo:hi])
        assert lib.ntk_nystrom_accumulate(ctypes.byref(st), ctypes.byref(p), kind, ptr(C),
                                          ptr(table), ptr(Xp), ptr(Yp), hi - lo, ptr(work),
                                          None, None) == NTK_OK
    Kmm = np.zeros(m * m)
    gwork = np.zeros(lib.ntk_gram_work_len(ctypes.byref(p), m))
    assert lib.ntk_gram_sym(ctypes.byref(p), kind, ptr(C), m, d, ptr(cdiag), ptr(gwork),
                            ptr(Kmm), None, None) == NTK_OK
    alpha = np.zeros(m * k)
    failed_at = ctypes.c_int()
    which = ctypes.c_int()
    used = ctypes.c_double()
    swork = np.zeros(2 * m)
    lam = ridge * st.diag_sum / st.n
    s = lib.ntk_nystrom_solve(ptr(Kmm), ptr(H), ptr(B), m, k, lam, jitter, ptr(alpha),
                              ptr(swork), ctypes.byref(used), ctypes.byref(failed_at),
                              ctypes.byref(which), None, None)
    assert s == NTK_OK, (s, which.value, failed_at.value)
    if info is not None:
        info["jitter"] = used.value
    return alpha.reshape(k, m).T


def ref_kernel(A, Bm, kp):
    """ntk_ref's kernel, with pairs within 1e-4 of parallel (whose angle
    float64's arccos cannot resolve) from ntk_mp in 80 digits."""
    args = dict(depth=kp["depth"], activation=kp["activation"], sigma_w=kp["sigma_w"],
                sigma_b=kp["sigma_b"])
    K = ntk_ref.kernel(A, Bm, kind=kp["kind"], **args)
    Z = A if Bm is None else Bm
    cos = (A @ Z.T) / np.outer(np.linalg.norm(A, axis=1), np.linalg.norm(Z, axis=1))
    for i, j in zip(*np.nonzero(cos > 1 - 1e-4)):
        if Bm is None and i == j:
            continue
        v = ntk_mp.kernels(A[i], Z[j], **args)
        K[i, j] = float(v[1] if kp["kind"] == "ntk" else v[0])
    return K


def ref_fit(X, Y, C, kp, ridge, jitter=0.0):
    """Independent numpy Nystrom: least squares on the stacked system, the
    penalty's K_mm with jitter * mean(diag K_mm) on its diagonal."""
    Knm = ref_kernel(X, C, kp)
    Kmm = ref_kernel(C, None, kp)
    Kmm = (Kmm + Kmm.T) / 2
    Kmm += jitter * np.mean(np.diag(Kmm)) * np.eye(Kmm.shape[0])
    _, self_ntk = ntk_ref.self_kernels(X, kp["depth"], kp["activation"], kp["sigma_w"],
                                       kp["sigma_b"])
    self_nngp, _ = ntk_ref.self_kernels(X, kp["depth"], kp["activation"], kp["sigma_w"],
                                        kp["sigma_b"])
    lam = ridge * float(np.mean(self_ntk if kp["kind"] == "ntk" else self_nngp))
    s, U = np.linalg.eigh(Kmm)
    s = np.clip(s, 0.0, None)
    A = np.vstack([Knm, np.sqrt(lam) * (np.sqrt(s)[:, None] * U.T)])
    rhs = np.vstack([Y, np.zeros((C.shape[0], Y.shape[1]))])
    alpha, *_ = np.linalg.lstsq(A, rhs, rcond=None)
    return alpha


def predict(T, C, alpha, kp):
    return ref_kernel(T, C, kp) @ alpha


def naive_fit(X, Y, C, kp, ridge):
    """The normal equations (H + lambda K_mm) a = B solved as they stand."""
    Knm = ref_kernel(X, C, kp)
    Kmm = ref_kernel(C, None, kp)
    sk = ntk_ref.self_kernels(X, kp["depth"], kp["activation"], kp["sigma_w"], kp["sigma_b"])
    lam = ridge * float(np.mean(sk[1] if kp["kind"] == "ntk" else sk[0]))
    return np.linalg.solve(Knm.T @ Knm + lam * Kmm, Knm.T @ Y)


def rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def kp_(depth, activation, sigma_w, sigma_b, kind="ntk"):
    return dict(depth=depth, activation=activation, sigma_w=sigma_w, sigma_b=sigma_b,
                kind=kind)


def main():
    lib = load_lib()
    setup(lib)
    lib.ntk_set_threads(2)
    rng = testlib.rng(SEED)

    # 1. the hash
    rows = [rng.standard_normal(7) for _ in range(50)]
    rows += [np.array([0.0]), np.array([1.0, -1.0]), np.array([5e-324, 1.7976931348623157e308]),
             np.array([np.inf, -np.inf, 2.0 ** -1074])]
    ok = True
    for seed in (0, 1, 0xDEADBEEFCAFEF00D):
        for x in rows:
            x = np.ascontiguousarray(x)
            ok &= lib.ntk_row_hash(seed, ptr(x), x.size) == row_hash(seed, x)
    check(ok, "ntk_row_hash equals the definition")

    # 2. the center choice: integer rows, many duplicates, parts merged
    for n, d, m, seed in [(500, 3, 30, 5), (400, 2, 1000, 9), (300, 4, 100, 2**63 + 1)]:
        X = rng.integers(-2, 3, size=(n, d)).astype(np.float64)
        X = np.vstack([X, X[rng.integers(0, n, size=n // 2)]])
        want = ref_centers(X, m, seed)
        order = rng.permutation(X.shape[0])
        cuts = np.sort(rng.choice(np.arange(1, X.shape[0]), size=4, replace=False))
        parts = []
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, X.shape[0]]):
            s = CenterSet(lib, m, d, seed)
            s.add(X[order[lo:hi]])
            parts.append(s)
        total = CenterSet(lib, m, d, seed)
        for i in rng.permutation(len(parts)):
            check(total.merge(parts[i]) == NTK_OK, "merge")
        got = total.rows()
        check(got.shape == want.shape and np.array_equal(got.view(np.uint64), want.view(np.uint64)),
              "centers (n %d, m %d, seed %d) equal the brute-force choice (%d of %d distinct)"
              % (n, m, seed, got.shape[0], want.shape[0]))
        check(lib.ntk_centers_check(total.vp(), total.size) == NTK_OK, "merged set checks")

    # 3. against an independent numpy Nystrom, several kernels: 1e-14..3e-11
    cases = [kp_(3, "relu", 1.0, 0.0), kp_(1, "relu", 1.5, 0.2), kp_(4, "erf", 1.3, 0.1),
             kp_(2, "relu", 1.0, 0.3, "nngp")]
    for kp in cases:
        n, d, m, k = 400, 12, 60, 2
        X = rng.standard_normal((n, d))
        Y = np.column_stack([np.sin(X[:, 0]) + 0.1 * rng.standard_normal(n),
                             X[:, 1] * X[:, 2]])
        T = rng.standard_normal((50, d))
        s = CenterSet(lib, m, d, 77)
        s.add(X)
        C = s.rows()
        for ridge in (1e-3, 1e-5):
            a = c_fit(lib, X, Y, C, kp, ridge)
            r = ref_fit(X, Y, C, kp, ridge)
            want = predict(T, C, r, kp)
            err = rel(predict(T, C, a, kp), want)
            nerr = rel(predict(T, C, naive_fit(X, Y, C, kp, ridge), kp), want)
            check(err < 1e-9, "Nystrom %s ridge %g equals numpy's (rel err %.2e, numpy's "
                  "normal equations %.2e)" % (kp, ridge, err, nerr))
            if os.environ.get("NTK_TEST_VERBOSE"):
                print("%s ridge %g: %.2e, numpy's normal equations %.2e" % (kp, ridge, err, nerr))

    # Ill-conditioned K_mm: every other center eps (relative) from the one
    # before.  The C fit against the reference solution of the problem it
    # solves (the penalty's K_mm with the jitter the solve reports); numpy's
    # normal equations solved as they stand printed alongside.  Seeds 0-2:
    # cond 1e9 errors 1e-6..6e-6 (numpy's 1e-6..1e-5); the erf at 1e-7,
    # cond 2e15, jitter raised to 6e-10, 2e-4..5e-4 (numpy's 0.1..5); the
    # NNGP at cond 1e18, jitter 6e-8, 2e-7..5e-7 (numpy's 5e-4..4e-3).
    for kp, eps, tol in [(cases[0], 1e-7, 3e-5), (cases[1], 1e-7, 3e-5), (cases[2], 1e-4, 3e-5),
                         (cases[2], 1e-7, 5e-3), (cases[3], 1e-7, 1e-5)]:
        n, d, m, k = 400, 12, 60, 1
        X = rng.standard_normal((n, d))
        Y = (np.tanh(X[:, 0] - X[:, 1]))[:, None]
        T = rng.standard_normal((50, d))
        base = X[:m // 2]
        C = np.empty((m, d))
        C[0::2] = base
        C[1::2] = base * (1.0 + eps * rng.standard_normal(base.shape))
        cond = np.linalg.cond(ref_kernel(C, None, kp))
        ridge = 1e-4
        info = {}
        a = c_fit(lib, X, Y, C, kp, ridge, info=info)
        r = ref_fit(X, Y, C, kp, ridge, info["jitter"])
        want = predict(T, C, r, kp)
        err = rel(predict(T, C, a, kp), want)
        nerr = rel(predict(T, C, naive_fit(X, Y, C, kp, ridge), kp), want)
        check(err < tol, "near-duplicate centers (cond K_mm %.1e) %s: rel err %.2e "
              "(numpy's normal equations %.2e, jitter %.0e)"
              % (cond, kp, err, nerr, info["jitter"]))
        if os.environ.get("NTK_TEST_VERBOSE"):
            print("near-duplicate centers %g apart, cond %.1e, %s: %.2e, numpy's normal "
                  "equations %.2e, jitter %.0e" % (eps, cond, kp, err, nerr, info["jitter"]))

    # 4. every row a center: exact kernel ridge regression
    for kp, ridge in [(kp_(3, "relu", 1.0, 0.0), 1e-3), (kp_(2, "erf", 1.2, 0.4), 1e-4),
                      (kp_(5, "relu", 1.4, 0.1), 1e-6)]:
        n, d = 200, 10
        X = rng.standard_normal((n, d))
        Y = rng.standard_normal((n, 2))
        T = rng.standard_normal((40, d))
        s = CenterSet(lib, n, d, 3)
        s.add(X)
        C = s.rows()
        check(C.shape[0] == n, "every row a center")
        a = c_fit(lib, X, Y, C, kp, ridge)
        want = ntk_ref.krr_fit_predict(X, Y, T, depth=kp["depth"], activation=kp["activation"],
                                       sigma_w=kp["sigma_w"], sigma_b=kp["sigma_b"],
                                       kernel=kp["kind"], ridge=ridge)
        err = rel(predict(T, C, a, kp), want)
        check(err < 1e-8, "m = n equals numpy exact KRR, %s ridge %g (rel err %.2e)"
              % (kp, ridge, err))

    return check.finish(SEED)


if __name__ == "__main__":
    sys.exit(main())
