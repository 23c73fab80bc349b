"""test_properties: structural properties of the Gram matrices computed by the
C core (test/unit/libntkcore.so, via ctypes), on both recursion paths
(vectorized when the processor has AVX2+FMA, and the portable one forced).

  * symmetric and positive semi-definite: ntk_gram_cross(X, X) is symmetric
    and agrees with ntk_gram_sym; the smallest eigenvalue of the Gram is
    >= -1e-12 times the largest (random inputs, relu and erf, NTK and NNGP,
    depths 0..10, sigma_b 0 and > 0), and for tight clusters of nearly equal
    points too, except where float64 inputs resolve the angle only to ~1e-8
    (see test_psd_clusters);
  * invariant under a rotation of the inputs: Gram(X Q) = Gram(X) for a random
    orthogonal Q, to 1e-12 (relative, floored at 1e-3 of the Cauchy-Schwarz
    scale sqrt(k(x,x) k(z,z)));
  * equivariant under a permutation of the rows: Gram(X[p]) = Gram(X)[p][:, p]
    and the cross kernel's rows and columns likewise, to 1e-13;
  * positively homogeneous (relu, sigma_b = 0): Gram(2^k X) = 4^k Gram(X)
    exactly, since every step of the recursion scales exactly by a power of two;
  * extreme scales: input norms 1e-150 .. 1e150 (mixed within a matrix and per
    matrix), depth 100, several sigma_w: every status is NTK_OK with finite
    values or a clean NTK_OVERFLOW, never NaN or Inf with NTK_OK.

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
import testlib  # noqa: E402
from ntkcore import (ACT, KIND, NTK_OK, NTK_OVERFLOW, STATUS_NAMES,  # noqa: E402
                     NtkParams, load_lib)


def ptr(a):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))


class Core:
    """Gram matrices from the C core for one parameter set."""

    def __init__(self, lib, depth, activation, sigma_w, sigma_b, kind="ntk"):
        self.lib = lib
        self.p = NtkParams(depth, ACT[activation], sigma_w, sigma_b)
        self.kind = KIND[kind]
        self.len = lib.ntk_diag_len(ctypes.byref(self.p))

    def diag(self, X):
        X = np.ascontiguousarray(X, dtype=np.float64)
        n, d = X.shape
        D = np.empty(n * self.len)
        st = self.lib.ntk_points_diag(ctypes.byref(self.p), ptr(X), n, d, ptr(D))
        return st, D

    def sym(self, X):
        """(status, full symmetric Gram from the lower triangle)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        n, d = X.shape
        st, D = self.diag(X)
        if st != NTK_OK:
            return st, None
        work = np.empty(self.lib.ntk_gram_work_len(ctypes.byref(self.p), n))
        K = np.full(n * n, np.nan)
        st = self.lib.ntk_gram_sym(ctypes.byref(self.p), self.kind, ptr(X), n, d, ptr(D),
                                   ptr(work), ptr(K), None, None)
        if st != NTK_OK:
            return st, None
        L = K.reshape(n, n).T          # column-major: row i of L is K[i, :] lower part
        L = np.tril(L)
        return st, L + np.tril(L, -1).T

    def cross(self, Q, X):
        """(status, m x n cross kernel k(Q_i, X_j))."""
        Q = np.ascontiguousarray(Q, dtype=np.float64)
        X = np.ascontiguousarray(X, dtype=np.float64)
        m, d = Q.shape
        n = X.shape[0]
        st, qd = self.diag(Q)
        if st != NTK_OK:
            return st, None
        st, xd = self.diag(X)
        if st != NTK_OK:
            return st, None
        table = np.empty(self.lib.ntk_gram_work_len(ctypes.byref(self.p), n))
        L1 = self.p.depth + 1
        self.lib.ntk_diag_transpose(ctypes.byref(self.p), ptr(xd), n, ptr(table),
                                    ptr(table[L1 * n:]))
        K = np.full(m * n, np.nan)
        st = self.lib.ntk_gram_cross(ctypes.byref(self.p), self.kind, ptr(Q), m, ptr(qd),
                                     ptr(X), n, ptr(table), d, ptr(K), None, None)
        if st != NTK_OK:
            return st, None
        return st, K.reshape(m, n)

    def pair(self, x, z):
        x = np.ascontiguousarray(x, dtype=np.float64)
        z = np.ascontiguousarray(z, dtype=np.float64)
        ws = np.empty(2 * self.len)
        k = ctypes.c_double(np.nan)
        t = ctypes.c_double(np.nan)
        st = self.lib.ntk_kernel_vectors(ctypes.byref(self.p), ptr(x), ptr(z), len(x), ptr(ws),
                                         ctypes.byref(k), ctypes.byref(t))
        return st, (t.value if self.kind == 0 else k.value)


check = testlib.Checks()


def cs_err(A, B):
    """max |A - B| relative to max(|B|, 1e-3 * sqrt(B_ii B_jj)) over entries (A, B
    square Grams of the same points; the diagonal gives the Cauchy-Schwarz scale)."""
    s = np.sqrt(np.abs(np.diag(B)))
    den = np.maximum(np.abs(B), 1e-3 * np.outer(s, s))
    den = np.maximum(den, 1e-300)
    return float(np.max(np.abs(A - B) / den))


def configs(rng, count):
    for c in range(count):
        act = ("relu", "erf")[c % 2]
        depth = (0, 1, 2, 3, 5, 7, 10)[c % 7]
        sw = float(rng.uniform(0.5, 2.0))
        sb = float(rng.uniform(0.05, 1.0)) if c % 3 else 0.0
        kind = ("ntk", "nngp")[(c // 2) % 2]
        yield act, depth, sw, sb, kind


PATHS = ("auto", "portable", "avx2")


def set_path(lib, path):
    lib.ntk_recursion_force_path(PATHS.index(path))


def test_symmetric_psd(lib, rng):
    worst_eig = 0.0
    worst_sym = 0.0
    for path in PATHS:
        set_path(lib, path)
        for act, depth, sw, sb, kind in configs(rng, 28):
            n = int(rng.integers(40, 130))
            d = int(rng.integers(2, 30))
            X = rng.standard_normal((n, d)) * np.exp(rng.uniform(-1.5, 1.5, size=(n, 1)))
            core = Core(lib, depth, act, sw, sb, kind)
            st, K = core.sym(X)
            tag = "%s path %s %s depth %d sw %.3g sb %.3g n %d d %d" % (path, act, kind, depth,
                                                                         sw, sb, n, d)
            check(st == NTK_OK, "sym status %s (%s)" % (STATUS_NAMES[st], tag))
            if st != NTK_OK:
                continue
            check(np.all(np.isfinite(K)), "finite Gram (%s)" % tag)
            st, C = core.cross(X, X)
            check(st == NTK_OK, "cross status (%s)" % tag)
            # the cross kernel of X with itself: symmetric, and the Gram (the
            # diagonal too: its dot products round like the norms or the gap snaps)
            e_sym = cs_err(C, C.T)
            e_gram = cs_err(C, K)
            worst_sym = max(worst_sym, e_sym, e_gram)
            check(e_sym <= 1e-12, "cross(X, X) symmetric: rel err %.3g (%s)" % (e_sym, tag))
            check(e_gram <= 1e-12, "cross(X, X) = gram_sym: rel err %.3g (%s)" % (e_gram, tag))
            w = np.linalg.eigvalsh(K)
            ratio = w[0] / w[-1]
            worst_eig = min(worst_eig, ratio)
            check(w[-1] > 0 and ratio >= -1e-12,
                  "PSD: smallest / largest eigenvalue %.3g (%s)" % (ratio, tag))
    set_path(lib, "auto")
    print("symmetric/PSD: max rel asymmetry %.3g, most negative eigenvalue ratio %.3g"
          % (worst_sym, worst_eig))


def test_psd_clusters(lib, rng):
    """Tight clusters of nearly equal points, spreads 1e-4 .. 1e-12: the Gram is
    nearly singular, so a kernel evaluation that broke the positive semi-definite
    structure would show as a clearly negative eigenvalue.

    One regime is limited by the float64 inputs themselves, not by the code:
    when 1 - cos t is a few ulps (spreads ~1e-7 .. 1e-8 here), the angle is only
    resolved to ~sqrt(u) ~ 1e-8 (the rounding of the dot products; ntk then
    snaps gaps below 4 ulps to 0), and the ReLU NTK, linear in t near t = 0,
    moves by ~1e-8 relative.  There the bound is -1e-8; elsewhere -1e-12."""
    worst = {True: 0.0, False: 0.0}
    for path in PATHS:
        set_path(lib, path)
        for c, (act, depth, sw, sb, kind) in enumerate(configs(rng, 18)):
            d = 8
            centers = rng.standard_normal((6, d))
            e = 4 + c % 9
            spread = 10.0 ** -e
            limited = e in (6, 7, 8)
            X = np.repeat(centers, 10, axis=0) + spread * rng.standard_normal((60, d))
            st, K = Core(lib, depth, act, sw, sb, kind).sym(X)
            check(st == NTK_OK, "cluster status")
            if st != NTK_OK:
                continue
            w = np.linalg.eigvalsh(K)
            ratio = w[0] / w[-1]
            worst[limited] = min(worst[limited], ratio)
            bound = -1e-8 if limited else -1e-12
            check(ratio >= bound, "PSD clusters: smallest / largest eigenvalue %.3g < %.0e "
                  "(%s path %s %s depth %d spread %.0e)" % (ratio, bound, path, act, kind, depth,
                                                           spread))
    set_path(lib, "auto")
    print("PSD clusters: most negative eigenvalue ratio %.3g (spreads 1e-6 .. 1e-8: %.3g)"
          % (worst[False], worst[True]))


def test_rotation(lib, rng):
    worst = 0.0
    for path in PATHS:
        set_path(lib, path)
        for act, depth, sw, sb, kind in configs(rng, 14):
            n = 70
            d = int(rng.integers(2, 25))
            X = rng.standard_normal((n, d))
            Qm, R = np.linalg.qr(rng.standard_normal((d, d)))
            Qm = Qm * np.sign(np.diag(R))
            core = Core(lib, depth, act, sw, sb, kind)
            _, K = core.sym(X)
            _, KR = core.sym(X @ Qm)
            _, CR = core.cross(X[:9] @ Qm, X @ Qm)
            e = cs_err(KR, K)
            # cross kernel vs the Gram's first rows, the scale from the diagonal
            s = np.sqrt(np.diag(K))
            ec = float(np.max(np.abs(CR - K[:9]) / np.maximum(np.abs(K[:9]), 1e-3 * np.outer(s[:9], s))))
            worst = max(worst, e, ec)
            tag = "%s path %s %s depth %d sw %.3g sb %.3g d %d" % (path, act, kind, depth, sw, sb, d)
            check(e <= 1e-12, "rotation invariance: rel err %.3g (%s)" % (e, tag))
            check(ec <= 1e-12, "rotation invariance, cross: rel err %.3g (%s)" % (ec, tag))
    set_path(lib, "auto")
    print("rotation: max rel change %.3g" % worst)


def test_permutation(lib, rng):
    worst = 0.0
    for path in PATHS:
        set_path(lib, path)
        for act, depth, sw, sb, kind in configs(rng, 14):
            n = int(rng.integers(20, 300))
            d = int(rng.integers(1, 20))
            X = rng.standard_normal((n, d))
            if n > 30:
                X[7] = X[3]                 # a duplicate
                X[11] = 0.0                 # a zero row
            perm = rng.permutation(n)
            core = Core(lib, depth, act, sw, sb, kind)
            _, K = core.sym(X)
            _, KP = core.sym(X[perm])
            e = cs_err(KP, K[np.ix_(perm, perm)])
            m = 17
            Q = rng.standard_normal((m, d))
            qperm = rng.permutation(m)
            _, C = core.cross(Q, X)
            _, CP = core.cross(Q[qperm], X[perm])
            s = np.sqrt(np.abs(np.diag(K)))
            _, Cq = core.sym(Q)
            sq = np.sqrt(np.abs(np.diag(Cq)))
            want = C[np.ix_(qperm, perm)]
            ec = float(np.max(np.abs(CP - want)
                              / np.maximum(np.maximum(np.abs(want), 1e-3 * np.outer(sq[qperm], s[perm])),
                                           1e-300)))
            worst = max(worst, e, ec)
            tag = "%s path %s %s depth %d n %d d %d" % (path, act, kind, depth, n, d)
            check(e <= 1e-13, "permutation: rel err %.3g (%s)" % (e, tag))
            check(ec <= 1e-13, "permutation, cross: rel err %.3g (%s)" % (ec, tag))
    set_path(lib, "auto")
    print("permutation: max rel err %.3g" % worst)


def test_homogeneity(lib, rng):
    for path in PATHS:
        set_path(lib, path)
        for depth in (0, 1, 3, 6):
            for kind in ("ntk", "nngp"):
                X = rng.standard_normal((70, 6))
                core = Core(lib, depth, "relu", float(rng.uniform(0.5, 2)), 0.0, kind)
                _, K = core.sym(X)
                for k in (-3, 5):
                    _, Ks = core.sym(X * 2.0 ** k)
                    check(np.array_equal(Ks, K * 4.0 ** k),
                          "homogeneity: Gram(2^%d X) != 4^%d Gram(X) (%s path depth %d %s, "
                          "max rel %.3g)" % (k, k, path, depth, kind,
                                             float(np.max(np.abs(Ks - K * 4.0 ** k) / np.abs(K)))))
    set_path(lib, "auto")


def test_extreme_scales(lib, rng):
    counts = {"ok": 0, "overflow": 0}
    exps = np.linspace(-150, 150, 13)
    for path in PATHS:
        set_path(lib, path)
        for act in ("relu", "erf"):
            for sw in (0.5, 1.0, np.sqrt(2.0), 2.0, 5.0):
                for sb in (0.0, 0.5):
                    for kind in ("ntk", "nngp"):
                        core = Core(lib, 100, act, sw, sb, kind)
                        d = 5
                        # mixed norms within one matrix, plus one matrix per scale
                        mats = []
                        Xm = rng.standard_normal((26, d))
                        Xm /= np.linalg.norm(Xm, axis=1, keepdims=True)
                        Xm *= 10.0 ** np.repeat(exps, 2)[:, None]
                        mats.append(("mixed", Xm))
                        for e in exps[::3]:
                            X = rng.standard_normal((12, d))
                            X /= np.linalg.norm(X, axis=1, keepdims=True)
                            mats.append(("1e%d" % e, X * 10.0 ** e))
                        for name, X in mats:
                            tag = "%s path %s %s sw %.3g sb %.3g depth 100 norms %s" % (
                                path, act, kind, sw, sb, name)
                            st, K = core.sym(X)
                            check(st in (NTK_OK, NTK_OVERFLOW),
                                  "sym status %s (%s)" % (STATUS_NAMES[st], tag))
                            if st == NTK_OK:
                                counts["ok"] += 1
                                check(np.all(np.isfinite(K)), "sym NaN/Inf with NTK_OK (%s)" % tag)
                            else:
                                counts["overflow"] += 1
                            st, C = core.cross(X[::2], X)
                            check(st in (NTK_OK, NTK_OVERFLOW),
                                  "cross status %s (%s)" % (STATUS_NAMES[st], tag))
                            if st == NTK_OK:
                                check(np.all(np.isfinite(C)), "cross NaN/Inf with NTK_OK (%s)" % tag)
                            for i in (0, len(X) // 2, len(X) - 1):
                                st, v = core.pair(X[i], X[-1 - i])
                                check(st in (NTK_OK, NTK_OVERFLOW) and (st != NTK_OK or np.isfinite(v)),
                                      "pair status %s value %r (%s)" % (STATUS_NAMES[st], v, tag))
    set_path(lib, "auto")
    print("extreme scales (depth 100): %d Grams finite, %d NTK_OVERFLOW" % (counts["ok"],
                                                                         counts["overflow"]))


def main():
    t0 = time.time()
    lib = load_lib()
    rng = testlib.rng(20240612)
    print("vectorized path: %s" % ("available" if lib.ntk_recursion_vectorized() else "not available"))
    test_symmetric_psd(lib, rng)
    test_psd_clusters(lib, rng)
    test_rotation(lib, rng)
    test_permutation(lib, rng)
    test_homogeneity(lib, rng)
    test_extreme_scales(lib, rng)
    print("time %.1f s" % (time.time() - t0))
    return check.finish("20240612")


if __name__ == "__main__":
    sys.exit(main())
