#!/usr/bin/python3
"""Coefficients of ntk_atan_coef (src/core/layer.h).

Minimax polynomial for atan(u) / u = 1 + z g(z), z = u^2, on
|u| <= tan(pi/8), found by the Remez exchange on the relative error of
atan(u), in 60-digit arithmetic (python3-mpmath from Debian; not needed to
build or test ntk, only to regenerate the table).

    /usr/bin/python3 tools/atan_coef.py [TERMS]      (default 12)

Prints the error of the exact polynomial and of the one with coefficients
rounded to double, then the coefficients.
"""
import sys

import mpmath as mp

mp.mp.dps = 60
H = mp.tan(mp.pi / 8) ** 2
GRID = 4000


def g(z):
    """(atan(sqrt z) / sqrt z - 1) / z, the part fitted."""
    if z == 0:
        return mp.mpf(-1) / 3
    u = mp.sqrt(z)
    return (mp.atan(u) / u - 1) / z


def weight(z):
    """Turns an error in g into a relative error in atan(u)."""
    if z == 0:
        return mp.mpf(0)
    u = mp.sqrt(z)
    return z * u / mp.atan(u)


def remez(m, iterations=30):
    n = m + 1
    xs = [H * (1 - mp.cos(mp.pi * k / (n - 1))) / 2 for k in range(n)]
    xs[0] = H * mp.mpf("1e-6")
    grid = [H * (1 - mp.cos(mp.pi * k / GRID)) / 2 for k in range(GRID + 1)]
    coef = None
    worst = None
    for _ in range(iterations):
        a = mp.matrix(n, n)
        b = mp.matrix(n, 1)
        for i, x in enumerate(xs):
            for j in range(m):
                a[i, j] = x ** j
            a[i, m] = (-1) ** i / weight(x)
            b[i] = g(x)
        sol = mp.lu_solve(a, b)
        coef = [sol[j] for j in range(m)]
        err = [weight(x) * (g(x) - mp.polyval(coef[::-1], x)) for x in grid]
        worst = max(abs(e) for e in err)
        # the new reference: one extremum per run of equal sign
        ext = []
        for k in range(GRID + 1):
            if ext and mp.sign(err[k]) == mp.sign(err[ext[-1]]):
                if abs(err[k]) > abs(err[ext[-1]]):
                    ext[-1] = k
            else:
                ext.append(k)
        while len(ext) > n:
            ext.pop(0 if abs(err[ext[0]]) < abs(err[ext[-1]]) else -1)
        if len(ext) == n:
            xs = [grid[k] if grid[k] > 0 else H * mp.mpf("1e-9") for k in ext]
    return coef, worst


def main():
    terms = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    coef, worst = remez(terms - 1)
    rounded = [1.0] + [float(c) for c in coef]
    check = 0
    for k in range(1, 20001):
        u = mp.tan(mp.pi / 8) * k / 20000
        p = mp.polyval([mp.mpf(c) for c in rounded[::-1]], u * u)
        check = max(check, abs(u * p / mp.atan(u) - 1))
    print("terms %d: max relative error %s exact, %s with double coefficients"
          % (terms, mp.nstr(worst, 3), mp.nstr(check, 3)))
    for c in rounded:
        print("\t%.17g," % c)


if __name__ == "__main__":
    main()
