"""Writes the seeds of test/fuzz/corpus_validate/ in fuzz_validate.c's byte format
(see the comment at the top of fuzz_validate.c and test/fuzz/README.md).

Run from the repository root: /usr/bin/python3 test/fuzz/seeds_validate.py
"""

import os
import struct

KEYS = ["depth", "activation", "sigma_w", "sigma_b", "kernel", "ridge",
        "ridge_absolute", "standardize", "t", "learning_rate", "variance"]
STRINGS = ["relu", "erf", "ntk", "nngp", "auto", "Auto", "", "tanh", "RELU",
           "relu ", "ntk\n", "nngp ", "1"]
SPECIALS = {"1000": 6, "1001": 7, "2^31": 12, "2^32": 15, "1e10": 16,
            "1e300": 17, "DBL_MAX": 19, "-0": 1, "0.5": 2, "1e-8": 24,
            "10": 25, "NaN": 26, "Inf": 28, "-Inf": 29, "5e-324": 22}
EDGES = {"0": 0, "1": 1, "-1": 2, "1518500249": 7, "1518500250": 8,
         "2^61": 12, "INT64_MAX": 15, "INT64_MIN": 16, "INT64_MAX/8+1": 18,
         "784": 21, "60000": 22}


def num(v):
    """A decoded double: small integers directly, names from SPECIALS,
    anything else as its raw 8 bytes."""
    if isinstance(v, str):
        return bytes([3, SPECIALS[v]])
    if v == int(v) and -128 <= v <= 127:
        return bytes([0, int(v) & 0xFF])
    return bytes([4]) + struct.pack("<d", v)


def key(k):
    if k in KEYS:
        return bytes([KEYS.index(k)])
    return bytes([15, len(k)]) + k.encode()


def value(v):
    if v is None:
        return bytes([0])
    if isinstance(v, bool):
        return bytes([3, int(v)])
    if isinstance(v, (int, float)) or (isinstance(v, str) and v.startswith("#")):
        return bytes([2]) + num(v[1:] if isinstance(v, str) else v)
    if isinstance(v, str):
        if v in STRINGS:
            return bytes([1, STRINGS.index(v)])
        return bytes([1, 224, len(v)]) + v.encode()
    if isinstance(v, dict):
        return bytes([5])
    # a list: numbers, or [] / {} elements (empty containers)
    out = bytes([4, len(v)])
    for e in v:
        if isinstance(e, list):
            out += bytes([4])
        elif isinstance(e, dict):
            out += bytes([5])
        else:
            out += value(e)
    return out


def doc(**entries):
    return b"".join(bytes([0]) + key(k) + value(v) for k, v in entries.items())


def vector(vals, ndim=1, nulls=False, dims=(0, 0)):
    shape = ndim | (4 if nulls else 0) | (len(vals) << 3)
    return bytes([1, shape, dims[0], dims[1]]) + b"".join(num(x) for x in vals)


def i64(name):
    return bytes([2, EDGES[name]])


def sizes(n, d, k):
    return bytes([2]) + i64(n) + i64(d) + i64(k)


def product(a, b):
    return bytes([3]) + i64(a) + i64(b)


SEEDS = {
    "seed_all_valid": doc(depth=3, activation="erf", sigma_w=1.5, sigma_b="#0.5",
                          kernel="nngp", ridge="#1e-8", ridge_absolute=True,
                          standardize=True, t="#10", learning_rate=0.25, variance=True),
    "seed_search": doc(depth=[1, 2, 3, 4, 5], ridge="auto"),
    "seed_lists_edges": doc(depth=["#1000", 0, "#-0"], ridge=[0, "#1e300", "#5e-324"]),
    "seed_ridge_65": doc(ridge=[1] * 65),
    "seed_depth_1e10": doc(depth="#1e10"),
    "seed_depth_list_frac": doc(depth=[1, 2.5, "#1001"]),
    # fuzz find: a depth candidate beyond int was cast to int (UBSan)
    "seed_regress_depth_cast": doc(depth=["#2^32"]),
    "seed_wrong_kinds": doc(kernel={}) + doc(activation=1) + doc(depth=[[], {}]),
    "seed_unknown_key": doc(colour=1),
    "seed_bad_kernel": doc(kernel="NTK"),
    "seed_vectors": (vector([1, "-0", "DBL_MAX"]) + vector([1, 2, "NaN"]) +
                     vector([1, 2], nulls=True) + vector([1, 2], ndim=2, dims=(3, 1)) +
                     vector([]) + vector(["-Inf", "Inf"])),
    "seed_sizes": (sizes("1518500249", "1", "1") + sizes("1518500250", "1", "1") +
                   sizes("0", "784", "1") + sizes("60000", "INT64_MAX/8+1", "1") +
                   product("2^61", "INT64_MAX") + product("INT64_MIN", "-1")),
}

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus_validate")
os.makedirs(here, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(here, name), "wb") as f:
        f.write(data)
    print("%-28s %4d bytes" % (name, len(data)))
