"""ntk_ref: an independent numpy reference of the ntk kernels and kernel regression.

Textbook formulas straight from the contract (/work/shared/API.md, "The kernel"),
vectorized over Gram matrices; deliberately NOT a port of src/core/kernel.c (no
carried angle gap, just arccos / arcsin of clipped cosines):

    K1(x,z)     = sw^2 <x,z> / d + sb^2                 Theta1 = K1
    K_{l+1}     = sw^2 E[phi(u) phi(v)] + sb^2
    Theta_{l+1} = K_{l+1} + sw^2 E[phi'(u) phi'(v)] Theta_l

ReLU (Cho & Saul 2009), s = sqrt(K(x,x) K(z,z)), t = arccos(K(x,z) / s):
    E[relu relu] = s (sin t + (pi - t) cos t) / (2 pi)
    E[step step] = (pi - t) / (2 pi)
Erf (Williams 1998):
    E[erf erf]   = (2/pi) arcsin(2 K(x,z) / sqrt((1 + 2 K(x,x)) (1 + 2 K(z,z))))
    E[erf' erf'] = (4/pi) / sqrt((1 + 2 K(x,x)) (1 + 2 K(z,z)) - 4 K(x,z)^2)

`nngp` is K_{depth+1}, `ntk` is Theta_{depth+1}.  float64 throughout.
"""

import numpy as np

__all__ = ["kernels", "nngp", "ntk", "kernel", "self_kernels", "relu_layer", "erf_layer",
           "relu_self_closed_form", "standardize_fit", "krr_fit_predict"]


def _as2d(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2:
        raise ValueError("inputs must be vectors or matrices (rows = points)")
    return X


def relu_layer(k12, k11, k22, sw2, sb2):
    """One ReLU layer.  k12: (n1,n2) cross, k11: (n1,), k22: (n2,) diagonals."""
    s = np.sqrt(np.outer(k11, k22))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(s > 0, k12 / np.where(s > 0, s, 1.0), 0.0)
    c = np.clip(c, -1.0, 1.0)
    t = np.arccos(c)      # zero-variance input: c = 0, t = pi/2 (neural-tangents' arctan2)
    e_phi = s * (np.sin(t) + (np.pi - t) * c) / (2 * np.pi)
    e_dphi = (np.pi - t) / (2 * np.pi)
    # diagonals: t = 0, E = k/2
    return sw2 * e_phi + sb2, sw2 * e_dphi, sw2 * k11 / 2 + sb2, sw2 * k22 / 2 + sb2


def erf_layer(k12, k11, k22, sw2, sb2):
    """One erf layer; same shapes as relu_layer."""
    d1 = 1 + 2 * k11
    d2 = 1 + 2 * k22
    norm = np.sqrt(np.outer(d1, d2))
    c = np.clip(2 * k12 / norm, -1.0, 1.0)
    e_phi = (2 / np.pi) * np.arcsin(c)
    det = np.outer(d1, d2) - 4 * k12 ** 2
    e_dphi = (4 / np.pi) / np.sqrt(np.maximum(det, 1.0))   # the exact det is >= 1
    n11 = sw2 * (2 / np.pi) * np.arcsin(2 * k11 / d1) + sb2
    n22 = sw2 * (2 / np.pi) * np.arcsin(2 * k22 / d2) + sb2
    return sw2 * e_phi + sb2, sw2 * e_dphi, n11, n22


def kernels(X1, X2=None, depth=3, activation="relu", sigma_w=1.0, sigma_b=0.0):
    """(NNGP, NTK) Gram matrices of the rows of X1 against the rows of X2.

    Returns two float64 arrays of shape (n1, n2).  X2 = None means X1.
    """
    same = X2 is None or X2 is X1
    X1 = _as2d(X1)
    X2 = X1 if same else _as2d(X2)
    if X1.shape[1] != X2.shape[1]:
        raise ValueError("dimension mismatch")
    if int(depth) != depth or depth < 0:
        raise ValueError("depth must be an integer >= 0")
    if not (np.isfinite(sigma_w) and sigma_w > 0):
        raise ValueError("sigma_w must be positive")
    if not (np.isfinite(sigma_b) and sigma_b >= 0):
        raise ValueError("sigma_b must be non-negative")
    if activation == "relu":
        layer = relu_layer
    elif activation == "erf":
        layer = erf_layer
    else:
        raise ValueError("unknown activation %r" % (activation,))

    d = X1.shape[1]
    sw2 = float(sigma_w) ** 2
    sb2 = float(sigma_b) ** 2
    k12 = sw2 * (X1 @ X2.T) / d + sb2
    k11 = sw2 * np.einsum("ij,ij->i", X1, X1) / d + sb2
    k22 = k11 if same else sw2 * np.einsum("ij,ij->i", X2, X2) / d + sb2
    if same:
        k12 = (k12 + k12.T) / 2         # exactly symmetric
    theta = k12.copy()
    for _ in range(int(depth)):
        k12, dphi, k11, k22 = layer(k12, k11, k22, sw2, sb2)
        theta = k12 + dphi * theta
    if same:
        # A Gram matrix of X with itself: every entry evolves on its own, so the
        # diagonal is exactly the self recursion (t = 0).  Take it from there:
        # BLAS may sum the diagonal of X X^T in another order than <x,x>, and
        # arccos would turn that last-bit difference into an angle of ~1e-8.
        kd, td = self_kernels(X1, depth, activation, sigma_w, sigma_b)
        np.fill_diagonal(k12, kd)
        np.fill_diagonal(theta, td)
    return k12, theta


def nngp(X1, X2=None, depth=3, activation="relu", sigma_w=1.0, sigma_b=0.0):
    return kernels(X1, X2, depth, activation, sigma_w, sigma_b)[0]


def ntk(X1, X2=None, depth=3, activation="relu", sigma_w=1.0, sigma_b=0.0):
    return kernels(X1, X2, depth, activation, sigma_w, sigma_b)[1]


def _kernel_kind(X1, X2, depth, activation, sigma_w, sigma_b, kind):
    if kind not in ("ntk", "nngp"):
        raise ValueError("kernel must be 'ntk' or 'nngp'")
    k, t = kernels(X1, X2, depth, activation, sigma_w, sigma_b)
    return t if kind == "ntk" else k


def kernel(X1, X2=None, depth=3, activation="relu", sigma_w=1.0, sigma_b=0.0,
           kind="ntk"):
    """The Gram matrix of one kernel: kind = 'ntk' or 'nngp'."""
    return _kernel_kind(X1, X2, depth, activation, sigma_w, sigma_b, kind)


def self_kernels(X, depth=3, activation="relu", sigma_w=1.0, sigma_b=0.0):
    """(NNGP, NTK) of every row with itself, shape (n,) each (diagonal recursion)."""
    X = _as2d(X)
    d = X.shape[1]
    sw2 = float(sigma_w) ** 2
    sb2 = float(sigma_b) ** 2
    k = sw2 * np.einsum("ij,ij->i", X, X) / d + sb2
    theta = k.copy()
    for _ in range(int(depth)):
        if activation == "relu":
            kn, dphi = sw2 * k / 2 + sb2, sw2 / 2
        elif activation == "erf":
            kn = sw2 * (2 / np.pi) * np.arcsin(2 * k / (1 + 2 * k)) + sb2
            dphi = sw2 * (4 / np.pi) / np.sqrt(1 + 4 * k)   # (1+2k)^2 - 4k^2
        else:
            raise ValueError("unknown activation %r" % (activation,))
        theta = kn + dphi * theta
        k = kn
    return k, theta


def relu_self_closed_form(sqnorm, d, depth, sigma_w, sigma_b):
    """ReLU self kernel from |x|^2: k1 = sw^2|x|^2/d + sb^2, k' = sw^2/2 k + sb^2,
    Theta' = k' + sw^2/2 Theta (every layer is linear at angle 0).
    Returns (nngp, ntk)."""
    sw2 = sigma_w ** 2
    sb2 = sigma_b ** 2
    k = sw2 * sqnorm / d + sb2
    t = k
    for _ in range(depth):
        k = sw2 / 2 * k + sb2
        t = k + sw2 / 2 * t
    return k, t


def standardize_fit(X):
    """Training mean and population std (ddof 0); a constant feature gets scale 1
    (only centered), as scikit-learn's StandardScaler."""
    X = _as2d(X)
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    return mean, scale


def krr_fit_predict(Xtr, Ytr, Xte, depth=3, activation="relu", sigma_w=1.0,
                    sigma_b=0.0, kernel="ntk", ridge=1e-6, ridge_absolute=False,
                    standardize=False, return_alpha=False):
    """Kernel ridge regression with the infinite-width NTK or NNGP.

    Solves (K + lam I) alpha = Y with lam = ridge * mean(diag K) (neural-tangents'
    diag_reg) or lam = ridge if ridge_absolute, and predicts K(Xte, Xtr) alpha.
    Ytr may be a vector (returns a vector) or a matrix (n, outputs).
    With return_alpha, returns (pred, alpha, lam).
    """
    Xtr = _as2d(Xtr)
    Xte = _as2d(Xte)
    Y = np.asarray(Ytr, dtype=np.float64)
    vec = Y.ndim == 1
    if vec:
        Y = Y[:, None]
    if Y.shape[0] != Xtr.shape[0]:
        raise ValueError("Xtr and Ytr have different numbers of rows")
    if standardize:
        mean, scale = standardize_fit(Xtr)
        Xtr = (Xtr - mean) / scale
        Xte = (Xte - mean) / scale
    Ktr = _kernel_kind(Xtr, None, depth, activation, sigma_w, sigma_b, kernel)
    Kte = _kernel_kind(Xte, Xtr, depth, activation, sigma_w, sigma_b, kernel)
    lam = float(ridge) if ridge_absolute else float(ridge) * float(np.mean(np.diag(Ktr)))
    A = Ktr + lam * np.eye(Ktr.shape[0])
    try:
        import scipy.linalg
        alpha = scipy.linalg.solve(A, Y, assume_a="pos")
    except Exception:
        alpha = np.linalg.solve(A, Y)
    pred = Kte @ alpha
    if vec:
        pred = pred[:, 0]
        alpha = alpha[:, 0]
    if return_alpha:
        return pred, alpha, lam
    return pred


if __name__ == "__main__":
    # tiny self-check of the hand values in the contract's conventions
    x = np.array([[1.0, 0.0]])
    z = np.array([[0.0, 1.0]])
    k, t = kernels(x, z, 1, "relu", 1.0, 0.0)
    assert abs(k[0, 0] - 1 / (4 * np.pi)) < 1e-15 and abs(t[0, 0] - 1 / (4 * np.pi)) < 1e-15
    k, t = kernels(x, x, 1, "relu", 1.0, 0.0)
    assert abs(k[0, 0] - 0.25) < 1e-15 and abs(t[0, 0] - 0.5) < 1e-15
    print("ntk_ref ok")
