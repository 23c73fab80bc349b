"""ctypes binding of the pure-C core (test/unit/libntkcore.so) for the tests.

One place for the library's path, its status codes, NtkParams and the
argument types of the functions the tests call; the tests compare what it
returns against independent references (ntk_ref.py, hand-derived values).
"""

import ctypes
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LIB = os.path.join(ROOT, "test", "unit", "libntkcore.so")

# NtkStatus (src/core/kernel.h), in order
STATUS_NAMES = ["OK", "BAD_DEPTH", "BAD_SIGMA_W", "BAD_SIGMA_B", "BAD_ACTIVATION",
                "BAD_DIMENSION", "NOT_FINITE", "OVERFLOW", "NOT_POSITIVE_DEFINITE",
                "LAPACK_ERROR", "CANCELED"]
NTK_OK = 0
NTK_BAD_DEPTH = 1
NTK_BAD_SIGMA_W = 2
NTK_BAD_SIGMA_B = 3
NTK_BAD_ACTIVATION = 4
NTK_BAD_DIMENSION = 5
NTK_NOT_FINITE = 6
NTK_OVERFLOW = 7

ACT = {"relu": 0, "erf": 1}
KIND = {"ntk": 0, "nngp": 1}


class NtkParams(ctypes.Structure):
    _fields_ = [("depth", ctypes.c_int),
                ("activation", ctypes.c_int),
                ("sigma_w", ctypes.c_double),
                ("sigma_b", ctypes.c_double)]


def load_lib():
    """Builds libntkcore.so if needed (make is a no-op when it is current)."""
    subprocess.check_call(["make", "-s", "test/unit/libntkcore.so"], cwd=ROOT)
    lib = ctypes.CDLL(LIB)
    P = ctypes.POINTER(NtkParams)
    dp = ctypes.POINTER(ctypes.c_double)
    ci = ctypes.c_int
    vp = ctypes.c_void_p
    for name, args, res in [
            ("ntk_diag_len", [P], ctypes.c_size_t),
            ("ntk_gram_work_len", [P, ci], ctypes.c_size_t),
            ("ntk_points_diag", [P, dp, ci, ci, dp], ci),
            ("ntk_gram_sym", [P, ci, dp, ci, ci, dp, dp, dp, vp, vp], ci),
            ("ntk_gram_cross", [P, ci, dp, ci, dp, dp, ci, dp, ci, dp, vp, vp], ci),
            ("ntk_diag_transpose", [P, dp, ci, dp, dp], None),
            ("ntk_kernel_vectors", [P, dp, dp, ci, dp, dp, dp], ci),
            ("ntk_recursion_force_path", [ci], None),
            ("ntk_recursion_vectorized", [], ci)]:
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib
