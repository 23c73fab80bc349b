"""testlib: what the Python tests share: the seeds of their random inputs,
their checks and their summary line.

Seeds.  Every test here draws its random inputs from numpy generators seeded with
fixed numbers, so that it checks the same inputs on every run and every
machine.  NTK_TEST_SEED=N (a non-negative integer) in the environment draws
other inputs: each generator is then seeded with (N, its fixed number).  A
test that fails prints its seed and how to repeat the run (footer()).

Checks.  A test counts its checks in one Checks object: checks(ok, msg)
records one, printing it when it fails (every one with verbose=True);
checks.finish(seeds) prints the seeds after a failure and the last line,
"N passed, M failed", and returns the exit status.

Databases.  The SQL tests connect with the PG* environment variables:
connect(dbname) gives an autocommit connection, create_database(name) a
fresh database with the extension (dropping one left by an earlier run) and
a connection to it, drop_database(name) removes it.  run_in_database(name,
body, check) runs body(conn, cur) in such a database, checks that it left no
model behind, records an unexpected exception as a failed check, and drops
the database whatever happened.

Paths.  HERE is test/python, ROOT the repository; other scripts import the
numpy reference with sys.path.insert(0, os.path.join(ROOT, "test", "python"))
followed by import ntk_ref.
"""

import os
import sys
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
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


class Checks:
    """The outcome of a test's checks: counts, failures printed as they come."""

    def __init__(self, verbose=False):
        self.passed = 0
        self.failed = 0
        self.verbose = verbose

    def __call__(self, ok, msg):
        """Records one check; returns ok."""
        if ok:
            self.passed += 1
            if self.verbose:
                print("ok   " + msg)
        else:
            self.failed += 1
            print(("FAIL " if self.verbose else "FAIL: ") + msg)
        return ok

    def finish(self, fixed):
        """The seed note after a failure (fixed: the fixed seeds, as text), the
        summary line; returns the exit status (1 after any failure)."""
        footer(self.failed, fixed)
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


def connect(dbname=None):
    """An autocommit psycopg2 connection to dbname (default: PGDATABASE)."""
    import psycopg2

    conn = psycopg2.connect(dbname=dbname or os.environ.get("PGDATABASE", "postgres"))
    conn.autocommit = True
    return conn


def drop_database(name):
    """Drops the database name if it exists, closing its connections."""
    admin = connect()
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
    admin.close()


def create_database(name):
    """A fresh database name with the extension; returns a connection to it."""
    drop_database(name)
    admin = connect()
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE " + name)
    admin.close()
    conn = connect(name)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION ntk")
    return conn


def run_in_database(name, body, check):
    """Runs body(conn, cur) in a fresh database name (create_database), then
    checks with check(ok, msg) that ntk_models is empty; an exception is
    printed and recorded as a failed check; the database is dropped in every
    case."""
    conn = create_database(name)
    cur = conn.cursor()
    try:
        body(conn, cur)
        cur.execute("SELECT string_agg(name, ', ' ORDER BY name) FROM ntk_models")
        left = cur.fetchone()[0]
        check(left is None, "every test model was dropped: ntk_models is empty (left: %s)" % left)
    except Exception as e:     # report, then still clean up
        traceback.print_exc()
        check(False, "unexpected exception: %s" % e)
    finally:
        conn.close()
        drop_database(name)
