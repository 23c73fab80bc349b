#!/usr/bin/python3
"""Choose the demo's defaults: an independent numpy NTK on Fashion-MNIST.

Not run by demo/fashion_mnist.sh.  It computes the kernel of API.md
(neural-tangents' stax.serial(Dense, *[Relu, Dense] * depth), NTK
parameterization, sigma_w = 1, sigma_b = 0) with the layer step of the tests'
numpy reference (test/python/ntk_ref.py) and kernel ridge regression on
one-hot targets with a ridge relative to the mean of diag(K), then reports the
test accuracy for each (standardize, kernel, depth, ridge).

    /usr/bin/python3 demo/experiment_numpy.py [--train 10000] [--test 10000]
        [--depths 1,2,3,4,5] [--ridges 1e-6,1e-4,1e-3,1e-2,1e-1,1]
        [--kernels ntk,nngp]

One pass of the layer recursion gives every depth; one Cholesky per ridge.
Peak memory for 10k/10k is about 6 GB; on 2 cores it takes ~15 minutes.
"""
import argparse
import os
import sys
import time

import numpy as np
import scipy.linalg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fmnist_idx import CLASSES, load_split  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "test", "python"))
import ntk_ref  # noqa: E402


def relu_step(kxz, kxx, kzz, theta):
    """One Relu + Dense layer (sigma_w = 1, sigma_b = 0) of the tests' numpy
    reference (test/python/ntk_ref.py); theta is updated in place.

    kxz, theta: (m, n) cross covariances; kxx: (m,), kzz: (n,) variances.
    Returns the new kxz and theta and the new variances.
    """
    k, dphi, kxx, kzz = ntk_ref.relu_layer(kxz, kxx, kzz, 1.0, 0.0)
    theta *= dphi
    theta += k                                 # Theta_{l+1} = K_{l+1} + dot * Theta_l
    return k, theta, kxx, kzz


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--test", type=int, default=10000)
    ap.add_argument("--depths", default="1,2,3,4,5")
    ap.add_argument("--ridges", default="1e-6,1e-4,1e-3,1e-2,1e-1,1")
    ap.add_argument("--kernels", default="ntk,nngp")
    ap.add_argument("--standardize", default="false,true")
    args = ap.parse_args()
    depths = [int(v) for v in args.depths.split(",")]
    ridges = [float(v) for v in args.ridges.split(",")]
    kernels = args.kernels.split(",")
    stds = [v.strip().lower() in ("1", "true", "yes") for v in args.standardize.split(",")]

    Xtr, ytr = load_split("train", args.train)
    Xte, yte = load_split("test", args.test)
    Y = np.eye(len(CLASSES))[ytr]               # one-hot, not centered
    d = Xtr.shape[1]
    print(f"train {Xtr.shape}, test {Xte.shape}", flush=True)
    results = []
    for std in stds:
        A, B = Xtr, Xte
        if std:                                 # StandardScaler, ddof 0; constant -> centred only
            mu = A.mean(0)
            sd = A.std(0)
            sd[sd == 0] = 1.0
            A = (A - mu) / sd
            B = (B - mu) / sd
        t0 = time.time()
        # layer 1: K1 = <x,z>/d  (sigma_w = 1, sigma_b = 0); Theta1 = K1
        Ktr = A @ A.T / d
        Kte = B @ A.T / d
        dtr = np.einsum("ij,ij->i", A, A) / d
        dte = np.einsum("ij,ij->i", B, B) / d
        Ttr, Tte = Ktr.copy(), Kte.copy()
        for depth in range(1, max(depths) + 1):
            Ktr, Ttr, dtr_new, _ = relu_step(Ktr, dtr, dtr, Ttr)
            Kte, Tte, dte_new, _ = relu_step(Kte, dte, dtr, Tte)
            dtr, dte = dtr_new, dte_new
            if depth not in depths:
                continue
            for kern in kernels:
                Ktrain, Ktest = (Ttr, Tte) if kern == "ntk" else (Ktr, Kte)
                mean_diag = np.mean(np.diag(Ktrain))
                for r in ridges:
                    t1 = time.time()
                    M = Ktrain.copy()
                    M[np.diag_indices_from(M)] += r * mean_diag
                    try:
                        c = scipy.linalg.cho_factor(M, lower=True, overwrite_a=True, check_finite=False)
                        alpha = scipy.linalg.cho_solve(c, Y, check_finite=False)
                    except np.linalg.LinAlgError:
                        print(f"std={std!s:5} {kern:4} depth={depth} ridge={r:g}: not positive definite", flush=True)
                        continue
                    del M, c
                    acc = float(np.mean(np.argmax(Ktest @ alpha, 1) == yte))
                    results.append((acc, std, kern, depth, r))
                    print(f"std={std!s:5} {kern:4} depth={depth} ridge={r:<6g} acc={acc:.4f}"
                          f"  ({time.time() - t1:.1f}s)", flush=True)
        print(f"standardize={std}: {time.time() - t0:.0f}s", flush=True)
        del Ktr, Kte, Ttr, Tte
    results.sort(reverse=True)
    print("best 5:")
    for acc, std, kern, depth, r in results[:5]:
        print(f"  acc={acc:.4f} standardize={std} kernel={kern} depth={depth} ridge={r:g}")


if __name__ == "__main__":
    main()
