"""ntk_mp: the ntk kernels in 80-digit arithmetic (mpmath), for the
near-parallel tests.

Textbook formulas of the contract (/work/shared/API.md), evaluated on the
exact values of float64 inputs with mpmath at 80 significant digits: the
cosines of nearly (anti)parallel inputs, which float64 cannot resolve, are
exact here to far more digits than the kernels need.  Not a port of
src/core/kernel.c (no carried gap, just acos / asin of the cosine).
"""

import mpmath as mp

DPS = 80


def kernels(x, z, depth, activation="relu", sigma_w=1.0, sigma_b=0.0):
    """(nngp, ntk, s_nngp, s_ntk) of float64 vectors x, z as mpf, where
    s_nngp = sqrt(K(x,x) K(z,z)) and s_ntk = sqrt(Theta(x,x) Theta(z,z)): the
    scales the accuracy targets are relative to."""
    k, th, _, _ = _kernels(x, z, depth, activation, sigma_w, sigma_b)
    kxx, thxx, _, _ = _kernels(x, x, depth, activation, sigma_w, sigma_b)
    kzz, thzz, _, _ = _kernels(z, z, depth, activation, sigma_w, sigma_b)
    with mp.workdps(DPS):
        return k, th, mp.sqrt(kxx * kzz), mp.sqrt(thxx * thzz)


def _kernels(x, z, depth, activation, sigma_w, sigma_b):
    with mp.workdps(DPS):
        xs = [mp.mpf(float(v)) for v in x]
        zs = [mp.mpf(float(v)) for v in z]
        d = len(xs)
        sw2 = mp.mpf(float(sigma_w)) ** 2
        sb2 = mp.mpf(float(sigma_b)) ** 2
        kx = sw2 * mp.fsum(a * a for a in xs) / d + sb2
        kz = sw2 * mp.fsum(b * b for b in zs) / d + sb2
        k = sw2 * mp.fsum(a * b for a, b in zip(xs, zs)) / d + sb2
        th = k
        for _ in range(depth):
            if activation == "relu":
                s = mp.sqrt(kx * kz)
                if s == 0:
                    t = mp.pi / 2
                    c = mp.mpf(0)
                else:
                    c = max(mp.mpf(-1), min(mp.mpf(1), k / s))
                    t = mp.acos(c)
                e_phi = s * (mp.sin(t) + (mp.pi - t) * c) / (2 * mp.pi)
                e_dphi = (mp.pi - t) / (2 * mp.pi)
                nkx = sw2 * kx / 2 + sb2
                nkz = sw2 * kz / 2 + sb2
            else:
                dx = 1 + 2 * kx
                dz = 1 + 2 * kz
                e_phi = (2 / mp.pi) * mp.asin(2 * k / mp.sqrt(dx * dz))
                e_dphi = (4 / mp.pi) / mp.sqrt(dx * dz - 4 * k * k)
                nkx = sw2 * (2 / mp.pi) * mp.asin(2 * kx / dx) + sb2
                nkz = sw2 * (2 / mp.pi) * mp.asin(2 * kz / dz) + sb2
            k = sw2 * e_phi + sb2
            th = k + sw2 * e_dphi * th
            kx, kz = nkx, nkz
        return k, th, kx, kz
