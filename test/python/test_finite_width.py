"""test_finite_width: the infinite-width kernels against real, randomly
initialized wide networks.

The network is the contract's: stax.serial(Dense(W_std=sw, b_std=sb),
*[act, Dense(W_std=sw, b_std=sb)] * depth), readout width 1, in the NTK
parameterization

    h_1     = sw / sqrt(d) W_1 x       + sb b_1
    h_{l+1} = sw / sqrt(n) W_{l+1} phi(h_l) + sb b_{l+1},    W, b ~ N(0, 1)
    f(x)    = h_{depth+1}

The empirical NTK Theta_emp(x,z) = sum_p df(x)/dp df(z)/dp is computed by explicit
backpropagation in numpy, layer by layer:

    Theta_emp = sum_l (G_l(x) . G_l(z)) (sw^2/fan_in <a_{l-1}(x), a_{l-1}(z)> + sb^2)

with G_l = df/dh_l, a_0 = x, a_l = phi(h_l).  The empirical NNGP of one network is
the conditional covariance of its output given the hidden layers,
sw^2/n <a_depth(x), a_depth(z)> + sb^2.

Checks:
  * the backpropagated NTK equals J J^T from central finite differences of f over
    every parameter of a tiny network (so the estimator itself is right);
  * width 2048, several seeds: the seed mean of the empirical NTK and NNGP agrees
    with the numpy reference ntk_ref.py and with the C core (ctypes) within
    5 Monte-Carlo standard errors plus a small slack for the O(1/width) bias,
    for relu and erf, sigma_b > 0, depth 2 and 3 (and exactly at depth 0);
  * power: the same estimates reject the conventions the contract warns about
    (sigma_w^2 omitted in the derivative term, no 1/d input scaling), so the
    test can tell them apart.

Prints one line per failure, then "N passed, M failed"; exits 1 on failure.
"""

import os
import sys
import time

import numpy as np
from scipy.special import erf as sp_erf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ntk_ref  # noqa: E402
import testlib  # noqa: E402
from test_kernel_ref import CKernel, NTK_OK, load_lib  # noqa: E402

WIDTH = 2048
SEEDS = 32
D_IN = 8
N_SE = 5.0          # standard errors allowed
REL_SLACK = 2e-3    # O(1/width) finite-width bias and the like


check = testlib.Checks()


def phi(h, act):
    return np.maximum(h, 0.0) if act == "relu" else sp_erf(h)


def dphi(h, act):
    if act == "relu":
        return (h > 0).astype(np.float64)
    return (2 / np.sqrt(np.pi)) * np.exp(-h * h)


def init_params(rng, d, width, depth):
    """Standard-normal weights and biases: [(W_1, b_1), ..., (W_{depth+1}, b_{depth+1})]."""
    params = []
    fan_in = d
    for l in range(depth + 1):
        out = width if l < depth else 1
        params.append((rng.standard_normal((out, fan_in)), rng.standard_normal(out)))
        fan_in = out
    return params


def forward(params, X, act, sw, sb):
    """Returns f (P,), the pre-activations H_l and layer inputs A_{l-1}."""
    A = X
    Hs, As = [], []
    for l, (W, b) in enumerate(params):
        As.append(A)
        H = (sw / np.sqrt(W.shape[1])) * (A @ W.T) + sb * b
        Hs.append(H)
        if l < len(params) - 1:
            A = phi(H, act)
    return Hs[-1][:, 0], Hs, As


def empirical_kernels(params, X, act, sw, sb):
    """(empirical NNGP, empirical NTK) Gram matrices of the rows of X for one network."""
    _, Hs, As = forward(params, X, act, sw, sb)
    L = len(params)
    G = np.ones((X.shape[0], 1))            # df/dh_{L} for the readout
    theta = np.zeros((X.shape[0], X.shape[0]))
    for l in range(L - 1, -1, -1):
        W, _ = params[l]
        A = As[l]
        fan_in = W.shape[1]
        theta += (G @ G.T) * ((sw * sw / fan_in) * (A @ A.T) + sb * sb)
        if l > 0:
            G = dphi(Hs[l - 1], act) * ((sw / np.sqrt(fan_in)) * (G @ W))
    A = As[-1]
    nngp = (sw * sw / A.shape[1]) * (A @ A.T) + sb * sb
    return nngp, theta


def test_backprop_vs_finite_differences():
    """J J^T by central differences over every parameter of a tiny network."""
    rng = testlib.rng(7)
    X = rng.standard_normal((4, 3))
    worst = 0.0
    for act, depth, sw, sb in [("relu", 2, 1.3, 0.4), ("erf", 3, 0.9, 0.7), ("erf", 0, 1.1, 0.2)]:
        params = init_params(rng, 3, 7, depth)
        _, theta = empirical_kernels(params, X, act, sw, sb)
        J = []
        h = 1e-6
        for W, b in params:
            for arr in (W, b):
                flat = arr.reshape(-1)
                for i in range(flat.size):
                    old = flat[i]
                    flat[i] = old + h
                    fp = forward(params, X, act, sw, sb)[0]
                    flat[i] = old - h
                    fm = forward(params, X, act, sw, sb)[0]
                    flat[i] = old
                    J.append((fp - fm) / (2 * h))
        J = np.array(J).T                  # (P, n_params)
        fd = J @ J.T
        err = np.max(np.abs(fd - theta)) / np.max(np.abs(theta))
        worst = max(worst, err)
        check(err < 1e-6, "backprop NTK vs finite differences (%s depth %d): rel err %.3g"
              % (act, depth, err))
    print("backprop vs finite differences: max rel err %.3g" % worst)


def inputs():
    rng = testlib.rng(2024)
    x0 = rng.standard_normal(D_IN)
    x1 = rng.standard_normal(D_IN)
    return np.array([
        x0,
        x1,
        x0 + 0.15 * rng.standard_normal(D_IN),      # close to x0
        -x1 + 0.3 * rng.standard_normal(D_IN),      # roughly opposite to x1
        2.0 * x0,                                   # parallel, other scale
        0.5 * rng.standard_normal(D_IN),            # short
    ])


CONFIGS = [
    # activation, depth, sigma_w, sigma_b
    ("relu", 3, 1.4, 0.3),
    ("relu", 2, 1.0, 0.6),
    ("erf", 2, 1.5, 0.5),
    ("erf", 3, 1.2, 0.2),
]


def ntk_without_sw2(X, depth, act, sw, sb):
    """The NTK of the seed paper's snippet: Theta_{l+1} = K_{l+1} + E[phi' phi'] Theta_l
    (sigma_w^2 left out of the derivative term).  Not the contract's kernel."""
    d = X.shape[1]
    sw2, sb2 = sw * sw, sb * sb
    k12 = sw2 * (X @ X.T) / d + sb2
    k11 = np.diag(k12).copy()
    theta = k12.copy()
    layer = ntk_ref.relu_layer if act == "relu" else ntk_ref.erf_layer
    for _ in range(depth):
        k12, dd, k11, _ = layer(k12, k11, k11, sw2, sb2)
        theta = k12 + dd / sw2 * theta
    return theta


def test_wide_networks(lib):
    X = inputs()
    P = X.shape[0]
    iu = np.triu_indices(P)
    dmax = max(c[1] for c in CONFIGS)
    est = {c: ([], []) for c in CONFIGS}
    for seed in range(SEEDS):
        rng = testlib.rng(1000 + seed)
        base = init_params(rng, D_IN, WIDTH, dmax)
        for c in CONFIGS:
            act, depth, sw, sb = c
            # the first `depth` layers and the readout (a fresh width-1 row of the last matrix)
            params = base[:depth] + [(base[depth][0][:1], base[depth][1][:1])]
            k, t = empirical_kernels(params, X, act, sw, sb)
            est[c][0].append(k[iu])
            est[c][1].append(t[iu])

    worst_z = 0.0
    worst_rel = 0.0
    for c in CONFIGS:
        act, depth, sw, sb = c
        rk, rt = ntk_ref.kernels(X, X, depth, act, sw, sb)
        ck = CKernel(lib, depth, act, sw, sb)
        Ck = np.zeros((P, P))
        Ct = np.zeros((P, P))
        for i in range(P):
            for j in range(P):
                st, Ck[i, j], Ct[i, j] = ck(X[i], X[j])
                check(st == NTK_OK, "C status %d" % st)
        check(np.allclose(Ck, rk, rtol=1e-12, atol=0) and np.allclose(Ct, rt, rtol=1e-12, atol=0),
              "%s depth %d: C core and numpy reference agree" % (act, depth))

        # the convention the contract warns about: no sigma_w^2 in the derivative term
        wrong_t = ntk_without_sw2(X, depth, act, sw, sb)

        # and without the 1/d input scaling: K1 = sw^2 <x,z> + sb^2
        nod_k, nod_t = ntk_ref.kernels(X * np.sqrt(X.shape[1]), None, depth, act, sw, sb)

        for name, samples, analytic_ref, analytic_c, wrongs in (
                ("nngp", est[c][0], rk[iu], Ck[iu], [("no 1/d input scaling", nod_k[iu])]),
                ("ntk", est[c][1], rt[iu], Ct[iu], [("no 1/d input scaling", nod_t[iu])]
                 + ([("sigma_w^2-less derivative term", wrong_t[iu])] if sw != 1 else []))):
            S = np.array(samples)
            mean = S.mean(axis=0)
            se = S.std(axis=0, ddof=1) / np.sqrt(S.shape[0])
            for target, label in ((analytic_ref, "numpy reference"), (analytic_c, "C core")):
                dev = np.abs(mean - target)
                tol = N_SE * se + REL_SLACK * np.abs(target) + 1e-12
                for e in range(len(mean)):
                    check(dev[e] <= tol[e],
                          "%s depth %d sw %g sb %g %s entry (%d,%d): empirical %.6g +- %.2g "
                          "vs %s %.6g (%.1f SE)"
                          % (act, depth, sw, sb, name, iu[0][e], iu[1][e], mean[e], se[e],
                             label, target[e], dev[e] / max(se[e], 1e-300)))
                worst_z = max(worst_z, float(np.max(dev / np.maximum(se, 1e-300))))
                scale = np.sqrt(np.diag(rt if name == "ntk" else rk))
                scale = np.outer(scale, scale)[iu]
                worst_rel = max(worst_rel, float(np.max(dev / scale)))
            for what, wrong in wrongs:
                z_wrong = np.abs(mean - wrong) / np.maximum(se, 1e-300)
                check(np.max(z_wrong) > 10,
                      "%s depth %d %s: the convention with %s is rejected (max %.1f SE)"
                      % (act, depth, name, what, np.max(z_wrong)))
                print("  %s depth %d %s: %s would be off by up to %.0f SE"
                      % (act, depth, name, what, np.max(z_wrong)))
        rse = np.max(np.array(est[c][1]).std(axis=0, ddof=1) / np.sqrt(SEEDS) / np.abs(rt[iu]))
        print("%s depth %d sw %g sb %g: NTK relative standard error up to %.3g"
              % (act, depth, sw, sb, rse))
    print("wide networks (width %d, %d seeds): max |mean - analytic| = %.2f SE, "
          "%.3g of sqrt(K(x,x) K(z,z))"
          % (WIDTH, SEEDS, worst_z, worst_rel))


def test_depth0_exact(lib):
    """Depth 0 is linear: the empirical NTK equals the kernel for every network."""
    X = inputs()
    rng = testlib.rng(5)
    params = init_params(rng, D_IN, WIDTH, 0)
    for act in ("relu", "erf"):
        _, t = empirical_kernels(params, X, act, 1.3, 0.4)
        rk, rt = ntk_ref.kernels(X, X, 0, act, 1.3, 0.4)
        ck = CKernel(lib, 0, act, 1.3, 0.4)
        c01 = ck(X[0], X[1])[2]
        check(np.allclose(t, rt, rtol=1e-13, atol=0) and abs(c01 - t[0, 1]) <= 1e-13 * abs(t[0, 1]),
              "depth 0 (%s): empirical NTK == analytic" % act)


def main():
    t0 = time.time()
    lib = load_lib()
    test_backprop_vs_finite_differences()
    test_depth0_exact(lib)
    test_wide_networks(lib)
    print("time %.1f s" % (time.time() - t0))
    return check.finish("7, 2024, 1000-%d, 5" % (1000 + SEEDS - 1))


if __name__ == "__main__":
    sys.exit(main())
