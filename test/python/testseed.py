"""testseed: the seeds of the randomized tests.

Every test here draws its random inputs from numpy generators seeded with
fixed numbers, so that it checks the same inputs on every run and every
machine.  NTK_TEST_SEED=N (a non-negative integer) in the environment draws
other inputs: each generator is then seeded with (N, its fixed number).  A
test that fails prints its seed and how to repeat the run (footer()).
"""

import os
import sys

import numpy as np

ENV = "NTK_TEST_SEED"


def override():
    """NTK_TEST_SEED as an integer, or None when it is not set."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if value < 0:
        sys.exit("%s must be a non-negative integer, not %r" % (ENV, text))
    return value


def rng(fixed):
    """The generator of one test: seeded with fixed, or (NTK_TEST_SEED, fixed)."""
    extra = override()
    return np.random.default_rng(fixed if extra is None else [extra, fixed])


def footer(failed, fixed):
    """After a failure: the seed (fixed: the fixed seed or seeds, as text)
    and the environment that repeats the run; nothing when none failed."""
    if not failed:
        return
    extra = override()
    script = os.path.relpath(sys.argv[0]) if sys.argv and sys.argv[0] else "the test"
    if extra is None:
        print("random inputs from seed %s (fixed): /usr/bin/python3 %s draws them again; "
              "%s=N draws others" % (fixed, script, ENV))
    else:
        print("random inputs from seed %s with %s=%d: %s=%d /usr/bin/python3 %s draws them again"
              % (fixed, ENV, extra, ENV, extra, script))
