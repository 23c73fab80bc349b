"""test_kernel_ref: the C kernel core (test/unit/libntkcore.so, via ctypes)
against the independent numpy reference ntk_ref.py.

  * random pairs: both activations, depths 0..10, sigma_w in [0.5, 2],
    sigma_b in [0, 1], dims 1..50, near-parallel pairs (|cos| > 0.999)
    skipped: relative error <= 1e-12 (denominator floored at 1e-3 of the
    Cauchy-Schwarz scale sqrt(K(x,x) K(z,z)), so a cross kernel that cancels
    to ~0 is not judged on its last digits);
  * Gram matrices: ntk_gram_sym on each recursion path (vectorized where the
    processor has AVX2+FMA, and the portable one forced), both activations
    and kernels, against the reference's Gram (the same 1e-12 and the same
    near-parallel pairs skipped; the vector paths evaluate their own atan2),
    and a duplicate row's kernel within 16 ulp of its self kernel (no 1e-8
    angle from rounding);
  * self kernels: C vs numpy reference diagonal for both activations (1e-12),
    and ReLU against the closed form (1e-14);
  * near-parallel pairs against an extended-precision (long double) run of
    the textbook formulas, where arccos is ill-conditioned: the C core must
    be within what the float64 rounding of the inputs' dot products allows
    (backward stability);
  * error statuses through the ABI;
  * ntk_ref.krr_fit_predict (the oracle of the SQL tests): interpolation with a
    tiny ridge, relative / absolute ridge and two outputs against an explicit
    solve, standardize=True (population std, constant feature only centered).

Prints one line per failure, then "N passed, M failed"; exits 1 on failure.
Run with /usr/bin/python3 (needs numpy).
"""

import ctypes
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ntk_ref  # noqa: E402
import testlib  # noqa: E402

from ntkcore import (ACT, NTK_BAD_ACTIVATION, NTK_BAD_DEPTH,  # noqa: E402
                     NTK_BAD_SIGMA_B, NTK_BAD_SIGMA_W, NTK_NOT_FINITE, NTK_OK,
                     NTK_OVERFLOW, NtkParams, load_lib)


class CKernel:
    """Calls ntk_kernel_vectors for one parameter set."""

    def __init__(self, lib, depth, activation, sigma_w, sigma_b):
        self.lib = lib
        self.p = NtkParams(depth, ACT.get(activation, activation) if isinstance(activation, str)
                           else activation, sigma_w, sigma_b)
        n = 2 * (2 * (max(depth, 0) + 1) + 2)     # 2 * ntk_diag_len
        self.ws = (ctypes.c_double * n)()
        self.k = ctypes.c_double()
        self.t = ctypes.c_double()

    def __call__(self, x, z):
        x = np.ascontiguousarray(x, dtype=np.float64)
        z = np.ascontiguousarray(z, dtype=np.float64)
        dp = ctypes.POINTER(ctypes.c_double)
        st = self.lib.ntk_kernel_vectors(ctypes.byref(self.p),
                                         x.ctypes.data_as(dp), z.ctypes.data_as(dp),
                                         len(x), self.ws,
                                         ctypes.byref(self.k), ctypes.byref(self.t))
        return st, self.k.value, self.t.value


check = testlib.Checks()


# --------------------------------------------------------------------------
# extended-precision textbook recursion (np.longdouble, 64-bit mantissa on x86)

def kernels_longdouble(x, z, depth, activation, sigma_w, sigma_b, pert=(0, 0, 0)):
    """Textbook recursion in long double.  pert = absolute perturbations added
    to the layer-1 values (K1(x,x), K1(z,z), K1(x,z)), to measure conditioning."""
    L = np.longdouble
    x = np.asarray(x, dtype=L)
    z = np.asarray(z, dtype=L)
    d = L(len(x))
    sw2 = L(sigma_w) * L(sigma_w)
    sb2 = L(sigma_b) * L(sigma_b)
    pi = np.arccos(L(-1))
    kxx = sw2 * np.sum(x * x) / d + sb2 + L(pert[0])
    kzz = sw2 * np.sum(z * z) / d + sb2 + L(pert[1])
    kxz = sw2 * np.sum(x * z) / d + sb2 + L(pert[2])
    theta = kxz
    for _ in range(depth):
        if activation == "relu":
            s = np.sqrt(kxx * kzz)
            c = min(max(kxz / s, L(-1)), L(1)) if s > 0 else L(0)
            t = np.arccos(c)
            e = s * (np.sin(t) + (pi - t) * c) / (2 * pi)
            de = (pi - t) / (2 * pi)
            kxx, kzz = sw2 * kxx / 2 + sb2, sw2 * kzz / 2 + sb2
        else:
            dx, dz = 1 + 2 * kxx, 1 + 2 * kzz
            c = min(max(2 * kxz / np.sqrt(dx * dz), L(-1)), L(1))
            e = (2 / pi) * np.arcsin(c)
            de = (4 / pi) / np.sqrt(max(dx * dz - 4 * kxz * kxz, L(1)))
            kxx = sw2 * (2 / pi) * np.arcsin(2 * kxx / dx) + sb2
            kzz = sw2 * (2 / pi) * np.arcsin(2 * kzz / dz) + sb2
        kxz = sw2 * e + sb2
        theta = kxz + sw2 * de * theta
    return kxz, theta


def conditioning_budget(x, z, depth, activation, sigma_w, sigma_b, ref):
    """How far the exact kernel moves when the layer-1 values move by what
    float64 arithmetic on the inputs costs anyway: |K1(x,x)|, |K1(z,z)| by 4u
    relative, K1(x,z) by 4u (sqrt(d) + 2) sqrt(K1(x,x) K1(z,z)) absolute."""
    u = np.finfo(np.float64).eps / 2
    d = len(x)
    sw2 = sigma_w ** 2
    sb2 = sigma_b ** 2
    kxx = sw2 * float(x @ x) / d + sb2
    kzz = sw2 * float(z @ z) / d + sb2
    dxz = 4 * u * (np.sqrt(d) + 2) * np.sqrt(kxx * kzz)
    worst_k = worst_t = 0.0
    for p in [(4 * u * kxx, 0, 0), (-4 * u * kxx, 0, 0), (0, 4 * u * kzz, 0),
              (0, -4 * u * kzz, 0), (0, 0, dxz), (0, 0, -dxz)]:
        pk, pt = kernels_longdouble(x, z, depth, activation, sigma_w, sigma_b, p)
        worst_k = max(worst_k, abs(float(pk) - ref[0]))
        worst_t = max(worst_t, abs(float(pt) - ref[1]))
    return worst_k, worst_t


def rel_err(got, want, scale):
    return abs(got - want) / max(abs(want), 1e-3 * scale, 1e-300)


def test_random_pairs(lib, rng):
    maxerr = {"relu": 0.0, "erf": 0.0}
    n_pairs = 0
    n_skipped = 0
    for trial in range(240):
        act = ("relu", "erf")[trial % 2]
        depth = int(rng.integers(0, 11))
        sw = float(rng.uniform(0.5, 2.0))
        sb = float(rng.uniform(0.0, 1.0)) if trial % 7 else 0.0
        d = int(rng.integers(1, 51))
        n = 8
        # mixed scales: some points small, some large
        X = rng.standard_normal((n, d)) * np.exp(rng.uniform(-2, 2, size=(n, 1)))
        if trial % 5 == 0:
            X[0] = 0.0                      # a zero vector
        if trial % 3 == 0:
            X[1] = -X[2] * 0.5              # exactly anti-parallel (skipped, cos = -1)
        Kr, Tr = ntk_ref.kernels(X, X, depth, act, sw, sb)
        ck = CKernel(lib, depth, act, sw, sb)
        norms = np.linalg.norm(X, axis=1)
        for i in range(n):
            for j in range(n):
                if i == j:
                    continue
                if norms[i] > 0 and norms[j] > 0:
                    cos = X[i] @ X[j] / (norms[i] * norms[j])
                    if abs(cos) > 0.999:
                        n_skipped += 1
                        continue
                st, k, t = ck(X[i], X[j])
                n_pairs += 1
                if st != NTK_OK:
                    check(False, "status %d for %s depth %d d %d" % (st, act, depth, d))
                    continue
                sk = np.sqrt(Kr[i, i] * Kr[j, j])
                st_ = np.sqrt(Tr[i, i] * Tr[j, j])
                ek = rel_err(k, Kr[i, j], sk)
                et = rel_err(t, Tr[i, j], st_)
                maxerr[act] = max(maxerr[act], ek, et)
                check(ek <= 1e-12 and et <= 1e-12,
                      "%s depth %d sw %.4g sb %.4g d %d pair (%d,%d): "
                      "C (%.17g, %.17g) ref (%.17g, %.17g) rel err (%.3g, %.3g)"
                      % (act, depth, sw, sb, d, i, j, k, t, Kr[i, j], Tr[i, j], ek, et))
    print("random pairs: %d compared (%d near-parallel skipped); max rel err relu %.3g, erf %.3g"
          % (n_pairs, n_skipped, maxerr["relu"], maxerr["erf"]))


def c_gram(lib, X, depth, act, sw, sb, kind):
    """(status, full symmetric Gram) from ntk_gram_sym's lower triangle."""
    dp = ctypes.POINTER(ctypes.c_double)
    X = np.ascontiguousarray(X, dtype=np.float64)
    n, d = X.shape
    p = NtkParams(depth, ACT[act], sw, sb)
    D = np.empty(n * lib.ntk_diag_len(ctypes.byref(p)))
    st = lib.ntk_points_diag(ctypes.byref(p), X.ctypes.data_as(dp), n, d, D.ctypes.data_as(dp))
    if st != NTK_OK:
        return st, None
    work = np.empty(lib.ntk_gram_work_len(ctypes.byref(p), n))
    K = np.full(n * n, np.nan)
    st = lib.ntk_gram_sym(ctypes.byref(p), kind, X.ctypes.data_as(dp), n, d,
                          D.ctypes.data_as(dp), work.ctypes.data_as(dp),
                          K.ctypes.data_as(dp), None, None)
    L = np.tril(K.reshape(n, n).T)     # column-major lower triangle
    return st, L + np.tril(L, -1).T


def test_gram_paths(lib, rng):
    paths = [("auto", 0), ("portable", 1), ("avx2", 2)]
    maxerr = {}
    for pname, path in paths:
        lib.ntk_recursion_force_path(path)
        vec = lib.ntk_recursion_vectorized()
        # the four-lane path (the auto one where there is no AVX-512) draws
        # from its own generator, so that the later tests' draws stay as they were
        prng = np.random.default_rng(20240611 + path) if pname == "avx2" else rng
        for trial in range(60):
            act = ("relu", "erf")[trial % 2]
            kind = (trial // 2) % 2          # 0 ntk, 1 nngp
            depth = int(prng.integers(0, 9))
            sw = float(prng.uniform(0.5, 2.0))
            sb = float(prng.uniform(0.0, 1.0)) if trial % 3 else 0.0
            d = int(prng.integers(1, 41))
            n = 70                           # a full chunk of 64 rows and a tail
            X = prng.standard_normal((n, d)) * np.exp(prng.uniform(-2, 2, size=(n, 1)))
            if trial % 5 == 0:
                X[3] = 0.0
            if trial % 4 == 0:
                X[5] = X[9]                  # a duplicate row
            st, G = c_gram(lib, X, depth, act, sw, sb, kind)
            if not check(st == NTK_OK, "gram %s path status %d (%s depth %d)" % (pname, st, act, depth)):
                continue
            Kr, Tr = ntk_ref.kernels(X, X, depth, act, sw, sb)
            R = Tr if kind == 0 else Kr
            norms = np.linalg.norm(X, axis=1)
            worst = 0.0
            where = None
            for i in range(n):
                for j in range(i):
                    if norms[i] > 0 and norms[j] > 0 and \
                            abs(X[i] @ X[j]) > 0.999 * norms[i] * norms[j]:
                        continue         # near-parallel: the reference's arccos is the weak side
                    e = rel_err(G[i, j], R[i, j], np.sqrt(R[i, i] * R[j, j]))
                    if e > worst:
                        worst, where = e, (i, j)
            if trial % 4 == 0:
                # to rounding: BLAS sums the dot product in another order than the norm
                check(abs(G[9, 5] - G[5, 5]) <= 16 * np.finfo(float).eps * abs(G[5, 5]),
                      "gram %s path, %s depth %d: a duplicate row gets the self kernel "
                      "(%.17g vs %.17g)" % (pname, act, depth, G[9, 5], G[5, 5]))
            key = (pname, act)
            maxerr[key] = max(maxerr.get(key, 0.0), worst)
            check(worst <= 1e-12,
                  "gram %s path (vectorized %d), %s %s depth %d sw %.4g sb %.4g d %d: "
                  "rel err %.3g at %s" % (pname, vec, act, ("ntk", "nngp")[kind], depth,
                                          sw, sb, d, worst, where))
    lib.ntk_recursion_force_path(0)
    print("gram vs reference: max rel err " +
          ", ".join("%s %s %.3g" % (k[0], k[1], v) for k, v in sorted(maxerr.items())))


def test_self_kernels(lib, rng):
    maxerr_closed = 0.0
    maxerr_ref = 0.0
    for trial in range(400):
        act = ("relu", "erf")[trial % 2]
        depth = int(rng.integers(0, 21))
        sw = float(rng.uniform(0.5, 2.0))
        sb = float(rng.uniform(0.0, 1.0)) if trial % 4 else 0.0
        d = int(rng.integers(1, 51))
        x = rng.standard_normal(d) * np.exp(rng.uniform(-3, 3))
        st, k, t = CKernel(lib, depth, act, sw, sb)(x, x)
        check(st == NTK_OK, "self status %d" % st)
        rk, rt = ntk_ref.self_kernels(x, depth, act, sw, sb)
        ek = abs(k - rk[0]) / abs(rk[0]) if rk[0] else abs(k)
        et = abs(t - rt[0]) / abs(rt[0]) if rt[0] else abs(t)
        maxerr_ref = max(maxerr_ref, ek, et)
        check(ek <= 1e-12 and et <= 1e-12,
              "self %s depth %d: C (%.17g, %.17g) ref (%.17g, %.17g)" % (act, depth, k, t, rk[0], rt[0]))
        # a self Gram matrix of the reference has the self kernels on its diagonal
        gk, gt = ntk_ref.kernels(x, x, depth, act, sw, sb)
        check(gk[0, 0] == rk[0] and gt[0, 0] == rt[0],
              "reference Gram diagonal vs reference self kernel (%s depth %d)" % (act, depth))
        if act == "relu":
            ck_, ct_ = ntk_ref.relu_self_closed_form(float(x @ x), d, depth, sw, sb)
            e = max(abs(k - ck_) / ck_, abs(t - ct_) / ct_)
            maxerr_closed = max(maxerr_closed, e)
            check(e <= 1e-14, "relu self closed form depth %d sw %.4g sb %.4g: C (%.17g, %.17g) "
                  "closed (%.17g, %.17g)" % (depth, sw, sb, k, t, ck_, ct_))
    print("self kernels: max rel err vs closed form (relu) %.3g, vs reference %.3g"
          % (maxerr_closed, maxerr_ref))


def test_near_parallel(lib, rng):
    """Near-parallel pairs, 1 - cos down to ~1e-14, where arccos is ill-conditioned.

    Reference: the textbook recursion in long double (64-bit mantissa).  No
    float64 code can beat the conditioning of the problem: rounding the input
    dot products moves the angle, and with it the NTK, by up to ~u / t.  So the
    C core must be within the kernel's own sensitivity to such perturbations
    (conditioning_budget, times 2) plus 1e-14 relative: backward stability."""
    maxerr = 0.0
    maxerr_ref64 = 0.0
    maxratio = 0.0
    for trial in range(200):
        act = ("relu", "erf")[trial % 2]
        depth = int(rng.integers(1, 11))
        sw = float(rng.uniform(0.5, 2.0))
        sb = float(rng.uniform(0.0, 1.0)) if trial % 3 else 0.0
        d = int(rng.integers(2, 20))
        x = rng.standard_normal(d)
        eps = 10.0 ** rng.uniform(-7, -1.5)
        z = x * np.exp(rng.uniform(-1, 1)) + eps * rng.standard_normal(d)
        if trial % 10 == 0:
            z = -z
        st, k, t = CKernel(lib, depth, act, sw, sb)(x, z)
        check(st == NTK_OK, "near-parallel status %d" % st)
        lk, lt = kernels_longdouble(x, z, depth, act, sw, sb)
        lk, lt = float(lk), float(lt)
        bk, bt = conditioning_budget(x, z, depth, act, sw, sb, (lk, lt))
        ek, et = abs(k - lk), abs(t - lt)
        maxerr = max(maxerr, ek / abs(lk), et / abs(lt))
        maxratio = max(maxratio, ek / (bk + 1e-14 * abs(lk)), et / (bt + 1e-14 * abs(lt)))
        rk, rt = ntk_ref.kernels(x, z, depth, act, sw, sb)
        maxerr_ref64 = max(maxerr_ref64, abs(rk[0, 0] - lk) / abs(lk), abs(rt[0, 0] - lt) / abs(lt))
        check(ek <= 2 * bk + 1e-14 * abs(lk) and et <= 2 * bt + 1e-14 * abs(lt),
              "near-parallel %s depth %d eps %.3g: C (%.17g, %.17g) long double "
              "(%.17g, %.17g), errors (%.3g, %.3g), conditioning budget (%.3g, %.3g)"
              % (act, depth, eps, k, t, lk, lt, ek, et, bk, bt))
    print("near-parallel: max rel err vs long double: C %.3g, float64 textbook %.3g; "
          "C error / conditioning budget at most %.3g" % (maxerr, maxerr_ref64, maxratio))


def test_statuses(lib):
    x = np.array([1.0, 2.0, 3.0])
    z = np.array([-1.0, 0.5, 2.0])
    check(CKernel(lib, -1, "relu", 1, 0)(x, z)[0] == NTK_BAD_DEPTH, "depth -1")
    check(CKernel(lib, 1001, "relu", 1, 0)(x, z)[0] == NTK_BAD_DEPTH, "depth 1001")
    check(CKernel(lib, 2, "relu", 0.0, 0)(x, z)[0] == NTK_BAD_SIGMA_W, "sigma_w 0")
    check(CKernel(lib, 2, "relu", float("nan"), 0)(x, z)[0] == NTK_BAD_SIGMA_W, "sigma_w nan")
    check(CKernel(lib, 2, "relu", 1, -0.5)(x, z)[0] == NTK_BAD_SIGMA_B, "sigma_b < 0")
    check(CKernel(lib, 2, 5, 1, 0)(x, z)[0] == NTK_BAD_ACTIVATION, "activation 5")
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[1] = bad
        check(CKernel(lib, 2, "erf", 1, 0)(y, z)[0] == NTK_NOT_FINITE, "non-finite %r" % bad)
    st, k, t = CKernel(lib, 2, "relu", 1, 0)(np.full(3, 1e200), z)
    check(st == NTK_OVERFLOW, "huge input overflows (status %d)" % st)


def test_krr_reference(rng):
    """Sanity of ntk_ref.krr_fit_predict, which the SQL tests use as their oracle."""
    n, d = 30, 4
    X = rng.standard_normal((n, d))
    X[:, 2] = 3.0                                     # a constant feature
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    Xte = rng.standard_normal((5, d))
    for kind in ("ntk", "nngp"):
        for act in ("relu", "erf"):
            # tiny ridge: interpolates the training targets
            p = ntk_ref.krr_fit_predict(X, y, X, 3, act, 1.3, 0.2, kernel=kind, ridge=1e-10)
            check(np.max(np.abs(p - y)) < 1e-5, "krr %s %s interpolates (%.3g)"
                  % (kind, act, np.max(np.abs(p - y))))
            # against an explicit solve, relative and absolute ridge, vector and matrix Y
            K = ntk_ref.kernel(X, None, 3, act, 1.3, 0.2, kind)
            Kt = ntk_ref.kernel(Xte, X, 3, act, 1.3, 0.2, kind)
            lam = 0.1 * np.mean(np.diag(K))
            want = Kt @ np.linalg.solve(K + lam * np.eye(n), y)
            got, alpha, lam_used = ntk_ref.krr_fit_predict(X, y, Xte, 3, act, 1.3, 0.2, kernel=kind,
                                                           ridge=0.1, return_alpha=True)
            check(np.allclose(got, want, rtol=1e-10, atol=1e-12) and abs(lam_used - lam) <= 1e-15 * lam,
                  "krr %s %s relative ridge" % (kind, act))
            want = Kt @ np.linalg.solve(K + 0.5 * np.eye(n), y)
            got = ntk_ref.krr_fit_predict(X, np.c_[y, 2 * y], Xte, 3, act, 1.3, 0.2, kernel=kind,
                                          ridge=0.5, ridge_absolute=True)
            check(got.shape == (5, 2) and np.allclose(got[:, 0], want, rtol=1e-10, atol=1e-12)
                  and np.allclose(got[:, 1], 2 * want, rtol=1e-10, atol=1e-12),
                  "krr %s %s absolute ridge, two outputs" % (kind, act))
    # standardize: z-score with training mean / population std, constant feature centered only
    mean, scale = ntk_ref.standardize_fit(X)
    check(scale[2] == 1.0 and mean[2] == 3.0 and np.allclose(scale[[0, 1, 3]], X[:, [0, 1, 3]].std(axis=0)),
          "standardize_fit: population std, constant feature scale 1")
    Z = (X - mean) / scale
    Zte = (Xte - mean) / scale
    want = ntk_ref.krr_fit_predict(Z, y, Zte, 2, "relu", 1.0, 0.1, ridge=1e-3)
    got = ntk_ref.krr_fit_predict(X, y, Xte, 2, "relu", 1.0, 0.1, ridge=1e-3, standardize=True)
    check(np.allclose(got, want, rtol=1e-12, atol=1e-14), "krr standardize=True")


def main():
    t0 = time.time()
    lib = load_lib()
    rng = testlib.rng(20240611)
    test_random_pairs(lib, rng)
    test_gram_paths(lib, rng)
    test_self_kernels(lib, rng)
    test_near_parallel(lib, rng)
    test_statuses(lib)
    test_krr_reference(rng)
    print("time %.1f s" % (time.time() - t0))
    return check.finish("20240611")


if __name__ == "__main__":
    sys.exit(main())
