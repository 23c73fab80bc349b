"""cancel.py DB: long fits stop promptly and cleanly (see cancel.sh).

- statement_timeout = '1s' on a fit that takes far longer: SQLSTATE 57014
  within 2 s, nothing stored, the backend frees its memory and stops
  computing, the same session fits and predicts afterwards.
- pg_cancel_backend while the Cholesky factorization runs (recognized by the
  fit's progress NOTICE): 57014 within 1.5 s, same checks; and while the
  eigendecomposition of the option "t" runs, in its reduction and again
  past it (a NOTICE of 35% or more: the tridiagonal step or the
  back-transformation): within 2.5 s.  The same child in a Nystrom fit's ridge selection (the eigendecomposition
  of the reduced system, m = 5000): within 2.5 s.
- pg_cancel_backend in the phases of the lower-triangle storage
  (ntk.exact_storage = packed): while its Gram matrix is built and while it
  is factorized (overlapped with storing the inputs): within 1.5 s.
- statement_timeout in a depth-1000 erf fit and in a batch prediction of
  such a model (steps sized by their work): 57014 within 2 s.
- pg_terminate_backend during a fit: the backend exits within 2 s without
  taking the server down, nothing stored.
"""

import os
import re
import select
import threading
import time

import psycopg2
import psycopg2.extensions as ext

from faultlib import (DB, check, connect, finish, not_ok, one, server_epoch,
                      proc_stat, run)

N_BIG = 15000  # big enough that the factorization outlasts the 5 s before progress NOTICEs
BIG_FIT = ("SELECT ntk_fit('slow', x, y, '{\"depth\": 0, \"ridge\": 1e-3}') FROM big")


def idle_after(pid, what):
    """Checks the backend gave its memory back and computes nothing any more."""
    rss0, cpu0 = proc_stat(pid)
    if rss0 is None:
        not_ok("%s: the backend's /proc entry is readable (run on the server's host)" % what)
        return
    time.sleep(1.0)
    rss1, cpu1 = proc_stat(pid)
    check(rss1 < 300, "%s: the backend freed the fit's memory (resident %.0f MB)" % (what, rss1))
    check(cpu1 - cpu0 < 0.2, "%s: no thread of the backend keeps computing (%.2f s CPU in 1 s idle)"
          % (what, cpu1 - cpu0))


def nothing_stored(conn, what):
    check(one(conn, "SELECT count(*) FROM ntk_models WHERE name = 'slow'") == 0
          and one(conn, "SELECT count(*) FROM ntk_model_data d WHERE NOT EXISTS "
                        "(SELECT 1 FROM ntk_models m WHERE m.id = d.model_id)") == 0
          and one(conn, "SELECT count(*) FROM ntk_model_data") == data_rows,
          "%s: nothing was stored" % what)


def still_works(conn, what):
    try:
        mid = one(conn, "SELECT ntk_fit('after', x, y) FROM big WHERE id <= 50")
        p = one(conn, "SELECT ntk_predict('after', x) FROM big WHERE id = 1")
        keep = one(conn, "SELECT ntk_predict('keep', x) FROM big WHERE id = 1")
        one(conn, "SELECT ntk_drop_model('after')")
        check(mid is not None and p is not None and keep == keep_pred,
              "%s: the same session fits and predicts afterwards" % what)
    except psycopg2.Error as e:
        not_ok("%s: the same session fits and predicts afterwards" % what, e.pgerror or repr(e))


def wait_async(conn, until=None, limit=120.0):
    """Polls an async connection; until() is called between polls."""
    end = time.time() + limit
    while time.time() < end:
        state = conn.poll()
        if state == ext.POLL_OK:
            return True
        if state == ext.POLL_READ:
            select.select([conn.fileno()], [], [], 0.05)
        elif state == ext.POLL_WRITE:
            select.select([], [conn.fileno()], [], 0.05)
        if until is not None and until():
            return False
    raise TimeoutError("query did not finish in %.0f s" % limit)


def timed_error(conn, sql):
    """Runs sql; returns its SQLSTATE (None if it succeeded) and the seconds it took."""
    t0 = time.time()
    try:
        one(conn, sql)
        code = None
    except psycopg2.Error as e:
        code = e.pgcode
    return code, time.time() - t0


setup = connect()
run(setup, """
CREATE TABLE big AS
SELECT i AS id, ARRAY[sin(i * 0.37), cos(i * 0.71)]::float8[] AS x, sin(i * 0.3) AS y
  FROM generate_series(1, %d) i""" % N_BIG)
one(setup, "SELECT ntk_fit('keep', x, y) FROM big WHERE id <= 100")
keep_pred = one(setup, "SELECT ntk_predict('keep', x) FROM big WHERE id = 1")
data_rows = one(setup, "SELECT count(*) FROM ntk_model_data")

# -- statement_timeout -----------------------------------------------------------

s = connect()
pid = one(s, "SELECT pg_backend_pid()")
run(s, "SET statement_timeout = '1s'")
code, elapsed = timed_error(s, BIG_FIT)
check(code == "57014", "statement_timeout 1s: the fit fails with 57014", "got %s" % code)
check(elapsed < 2.0, "statement_timeout 1s: the error comes within 2 s (%.2f s)" % elapsed)
run(s, "RESET statement_timeout")
idle_after(pid, "statement_timeout")
nothing_stored(setup, "statement_timeout")
still_works(s, "statement_timeout")
s.close()

# -- statement_timeout in the steps of deep kernels ---------------------------------
# Steps are sized by their work: a depth-1000 erf kernel (25 ns a layer, before
# its vector path) once ran 20 s between two checks for a cancel, in the Gram and
# in a batch.

s = connect()
run(s, "SET ntk.threads = 1")
one(s, "SELECT ntk_fit('deep', x, y, '{\"depth\": 1000, \"activation\": \"erf\"}') FROM big WHERE id <= 300")
for what, sql in (("a depth-1000 erf fit", "SELECT ntk_fit('slow', x, y, '{\"depth\": 1000, \"activation\": \"erf\"}') "
                                            "FROM big WHERE id <= 3000"),
                  ("a batch prediction of a depth-1000 erf model",
                   "SELECT count(*) FROM ntk_predict_batch('deep', 'SELECT id, x FROM big')")):
    run(s, "SET statement_timeout = '1s'")
    code, elapsed = timed_error(s, sql)
    run(s, "RESET statement_timeout")
    check(code == "57014", "statement_timeout 1s in %s: 57014" % what, "got %s" % code)
    check(elapsed < 2.0, "statement_timeout 1s in %s: within 2 s (%.2f s)" % (what, elapsed))
one(s, "SELECT ntk_drop_model('deep')")
nothing_stored(setup, "statement_timeout in deep kernels")
s.close()

# -- pg_cancel_backend during the factorization and the eigendecomposition ----------

def cancel_on_notice(sql, word, what, lag_limit, min_percent=0, settings=()):
    """Cancels sql once a progress NOTICE names word (at min_percent or more);
    checks 57014 within lag_limit.  settings: SET statements to run first."""
    a = psycopg2.connect(dbname=DB, async_=1)
    wait_async(a)
    cur = a.cursor()
    for stmt in ("SET client_min_messages = notice",) + tuple(settings):
        cur.execute(stmt)
        wait_async(a)
    cur.execute("SELECT pg_backend_pid()")
    wait_async(a)
    pid = cur.fetchone()[0]
    t0 = time.time()
    cur.execute(sql)
    state = {"canceled_at": None, "phase_notice": None}

    def cancel_when_there():
        for n in a.notices:
            pct = re.search(r"(\d+)%", n)
            if (word in n and state["canceled_at"] is None and
                    (min_percent == 0 or (pct is not None and int(pct.group(1)) >= min_percent))):
                state["phase_notice"] = n.strip()
                state["canceled_at"] = time.time()
                one(setup, "SELECT pg_cancel_backend(%s)", (pid,))
        return False

    code = None
    try:
        wait_async(a, cancel_when_there, limit=90)
    except psycopg2.Error as e:
        code = e.pgcode
    done = time.time()
    if state["canceled_at"] is None:
        not_ok("pg_cancel_backend: the fit reached the %s phase (progress NOTICE)" % what,
               "finished after %.1f s without a '%s' NOTICE; notices: %s" % (done - t0, word, a.notices))
        # the fit went through: drop what it stored, or every later check of
        # "nothing was stored" would fail with it
        a.close()
        one(setup, "SELECT ntk_drop_model('slow')")
        return
    else:
        check(code == "57014", "pg_cancel_backend while %s (%s): the fit fails with 57014"
              % (what, state["phase_notice"]), "got %s" % code)
        lag = done - state["canceled_at"]
        check(lag < lag_limit, "pg_cancel_backend while %s: the error comes within %.1f s (%.2f s)"
              % (what, lag_limit, lag))
        idle_after(pid, "pg_cancel_backend while %s" % what)
    a.close()
    nothing_stored(setup, "pg_cancel_backend while %s" % what)


cancel_on_notice(BIG_FIT, "factorizing", "factorizing", 1.5)
# the lower triangle: its Gram (a depth-100 erf kernel of 15000 rows: 1.1e10
# layer steps, over 10 s on two quiet cores, so that the NOTICE at 5 s comes
# on any machine) and its factorization, overlapped with storing the inputs
cancel_on_notice("SELECT ntk_fit('slow', x, y, '{\"depth\": 100, \"activation\": \"erf\"}') FROM big",
                 "building the kernel matrix (lower triangle)",
                 "building the lower triangle of the kernel matrix", 1.5,
                 settings=("SET ntk.exact_storage = packed",))
cancel_on_notice(BIG_FIT, "factorizing (lower triangle)", "factorizing the lower triangle", 1.5,
                 settings=("SET ntk.exact_storage = packed",))
# an eigendecomposition (the option "t") of 6000 rows takes ~20 s here, in a
# child process that the cancel kills in any of its steps (docs/eigensolver.md);
# once during the reduction, once past it
cancel_on_notice("SELECT ntk_fit('slow', x, y, '{\"depth\": 0, \"ridge\": 1e-3, \"t\": 100}') "
                 "FROM big WHERE id <= 6000", "eigendecomposition", "in the eigendecomposition", 2.5)
cancel_on_notice("SELECT ntk_fit('slow', x, y, '{\"depth\": 0, \"ridge\": 1e-3, \"t\": 100}') "
                 "FROM big WHERE id <= 6000", "eigendecomposition",
                 "past the eigendecomposition's reduction", 2.5, min_percent=35)
# a Nystrom fit's ridge selection: the eigendecomposition of its m x m reduced
# system in the same child (m = 5000 rows of 20 features, every row a center)
run(setup, "CREATE TABLE wide AS SELECT i AS id, "
    "ARRAY(SELECT sin(i * j * 0.37 + j) FROM generate_series(1, 20) j)::float8[] AS x, "
    "sin(i * 0.3) AS y FROM generate_series(1, 5000) i")
cancel_on_notice("SELECT ntk_fit('slow', x, y, '{\"method\": \"nystrom\", \"centers\": 5000, "
                 "\"ridge\": [1e-3, 1e-2]}') FROM wide", "selecting the ridge: eigendecomposition",
                 "in a Nystrom fit's ridge selection", 2.5)
run(setup, "DROP TABLE wide")

# the same session after a cancel, with a synchronous connection
s = connect()
pid = one(s, "SELECT pg_backend_pid()")
timer = threading.Timer(1.0, lambda: one(connect(), "SELECT pg_cancel_backend(%s)", (pid,)))
timer.start()
try:
    one(s, BIG_FIT)
    code = None
except psycopg2.Error as e:
    code = e.pgcode
timer.join()
check(code == "57014", "pg_cancel_backend after 1 s: the fit fails with 57014", "got %s" % code)
idle_after(pid, "pg_cancel_backend after 1 s")
nothing_stored(setup, "pg_cancel_backend after 1 s")
still_works(s, "pg_cancel_backend after 1 s")
s.close()

# -- pg_terminate_backend ---------------------------------------------------------

start = server_epoch()
s = connect()
pid = one(s, "SELECT pg_backend_pid()")
timer = threading.Timer(1.0, lambda: one(connect(), "SELECT pg_terminate_backend(%s)", (pid,)))
timer.start()
t0 = time.time()
try:
    one(s, BIG_FIT)
    err = None
except psycopg2.Error as e:
    err = e
timer.join()
gone_after = time.time() - t0 - 1.0
check(err is not None and s.closed, "pg_terminate_backend: the fitting session ends",
      "got %r" % (err,))
check(gone_after < 2.0, "pg_terminate_backend: within 2 s (%.2f s)" % gone_after)
time.sleep(0.3)
check(not os.path.exists("/proc/%d" % pid), "pg_terminate_backend: the backend process is gone")
check(server_epoch() == start, "pg_terminate_backend: the server did not restart")
nothing_stored(setup, "pg_terminate_backend")

setup.close()
finish()
