"""eigh_child.py DB: the eigendecomposition's child process (see eigh_child.sh).

A fit with "ridge": "auto" on N rows (EIGH_N, default 6000) spends most of
its time in one eigendecomposition, which runs in a child of the backend.
EIGH_TIMEOUTS (default 4,7,12) are the statement_timeouts tried.

- statement_timeout at three moments of it (the reduction, the tridiagonal
  step, the back-transformation at this size): SQLSTATE 57014 within 1 s
  of the timeout, the child reaped (no process left whose parent is the
  backend), the same session fits and predicts afterwards with the very
  same results as a fresh session (the backend's BLAS survives the fork).
- pg_cancel_backend and pg_terminate_backend during it: the child is gone
  within 1 s.
- kill -9 of the backend during it: the child is gone within 1 s
  (PR_SET_PDEATHSIG), and the server recovers.
- The peak proportional set size of the backend and its child during a fit
  with the option "t" stays within the memory guard's estimate (3 n^2
  doubles and the inputs), plus a constant for the child process itself.
"""

import os
import signal
import threading
import time

import psycopg2

from faultlib import (check, connect, finish, not_ok, one, run, wait_ready)

N = int(os.environ.get("EIGH_N", "6000"))
# seconds after which statement_timeout fires (EIGH_TIMEOUTS=4,30,60 for larger N)
TIMEOUTS = [float(t) for t in os.environ.get("EIGH_TIMEOUTS", "4,7,12").split(",")]
FIT = ("SELECT ntk_fit('auto', x, y, '{\"depth\": 0, \"ridge\": \"auto\"}') "
       "FROM big WHERE id <= %d" % N)


def children(pid):
    """Pids of the processes whose parent is pid."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return out


def alive(pid):
    """Whether pid exists and is no zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def gone_within(pids, limit):
    """Seconds until every pid is gone (or None if not within limit)."""
    t0 = time.time()
    while time.time() - t0 < limit:
        if not any(alive(p) for p in pids):
            return time.time() - t0
        time.sleep(0.01)
    return None


def pss_mb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class Watch(threading.Thread):
    """Records the backend's children and their combined Pss while a query runs."""

    def __init__(self, pid):
        threading.Thread.__init__(self, daemon=True)
        self.pid = pid
        self.seen = set()
        self.first_child_at = None
        self.peak = 0.0
        self.stop = False

    def run(self):
        while not self.stop:
            kids = children(self.pid)
            if kids and self.first_child_at is None:
                self.first_child_at = time.time()
            self.seen.update(kids)
            self.peak = max(self.peak, pss_mb(self.pid) + sum(pss_mb(k) for k in kids))
            time.sleep(0.05)


def start_fit(what, sql=FIT):
    """Runs sql on a new session in a thread; returns (conn, pid, watch, thread, result)."""
    conn = connect()
    pid = one(conn, "SELECT pg_backend_pid()")
    result = {"idle_pss": pss_mb(pid)}
    watch = Watch(pid)
    watch.start()

    def go():
        t0 = time.time()
        try:
            one(conn, sql)
            result["error"] = None
        except psycopg2.Error as e:
            result["error"] = e.pgcode or str(e).strip().splitlines()[0]
        result["end"] = time.time()
        result["start"] = t0

    th = threading.Thread(target=go, daemon=True)
    th.start()
    return conn, pid, watch, th, result


def wait_child(watch, limit=30.0):
    t0 = time.time()
    while watch.first_child_at is None and time.time() - t0 < limit:
        time.sleep(0.02)
    return watch.first_child_at is not None


setup = connect()
run(setup, """
CREATE TABLE big AS
SELECT i AS id, ARRAY[sin(i * 0.37), cos(i * 0.71)]::float8[] AS x, sin(i * 0.3) AS y
  FROM generate_series(1, %d) i""" % N)


def small_fit(conn):
    one(conn, "SELECT ntk_fit('small', x, y, '{\"depth\": 2, \"t\": 50}') FROM big WHERE id <= 300")
    p = one(conn, "SELECT array_agg(ntk_predict('small', x) ORDER BY id)::text FROM big WHERE id <= 40")
    one(conn, "SELECT ntk_drop_model('small')")
    return p


reference = small_fit(setup)

# -- statement_timeout at three moments ----------------------------------------

for timeout in TIMEOUTS:
    s = connect()
    pid = one(s, "SELECT pg_backend_pid()")
    watch = Watch(pid)
    watch.start()
    run(s, "SET statement_timeout = '%dms'" % int(timeout * 1000))
    t0 = time.time()
    try:
        one(s, FIT)
        code = None
    except psycopg2.Error as e:
        code = e.pgcode
    lag = time.time() - t0 - timeout
    run(s, "RESET statement_timeout")
    watch.stop = True
    watch.join()
    what = "statement_timeout %.0f s" % timeout
    if not watch.seen or watch.first_child_at - t0 > timeout:
        not_ok("%s: the timeout came during the eigendecomposition" % what,
               "child seen: %s; the fit ended after %.2f s" % (sorted(watch.seen), timeout + lag))
    check(code == "57014", "%s: the fit fails with 57014" % what, "got %s" % code)
    check(lag < 1.0, "%s: the error comes within 1 s of the timeout (%.2f s)" % (what, lag))
    check(not children(pid) and not any(alive(c) for c in watch.seen),
          "%s: the child %s was reaped" % (what, sorted(watch.seen)),
          "children now: %s" % children(pid))
    try:
        check(small_fit(s) == reference,
              "%s: the same session fits and predicts as a fresh one" % what)
    except psycopg2.Error as e:
        not_ok("%s: the same session fits and predicts as a fresh one" % what, e.pgerror)
    s.close()

# -- pg_cancel_backend, pg_terminate_backend --------------------------------------

for how in ("pg_cancel_backend", "pg_terminate_backend"):
    conn, pid, watch, th, result = start_fit(how)
    if not wait_child(watch):
        not_ok("%s: the fit started its child" % how)
        continue
    time.sleep(1.0)
    kids = children(pid)
    t0 = time.time()
    one(setup, "SELECT %s(%%s)" % how, (pid,))
    took = gone_within(kids, 5.0)
    check(kids and took is not None and took < 1.0,
          "%s: the child %s is gone within 1 s (%s)"
          % (how, kids, "%.2f s" % took if took is not None else "still there after 5 s"))
    th.join(10)
    check(result.get("error") is not None, "%s: the fit fails (%s)" % (how, result.get("error")))
    watch.stop = True
    if how == "pg_terminate_backend":
        check(gone_within([pid], 2.0) is not None, "%s: the backend exits" % how)
    else:
        check(not children(pid), "%s: the backend has no child left" % how)
    try:
        conn.close()
    except psycopg2.Error:
        pass

# -- kill -9 of the backend ----------------------------------------------------------

conn, pid, watch, th, result = start_fit("kill -9")
if wait_child(watch):
    time.sleep(1.0)
    kids = children(pid)
    os.kill(pid, signal.SIGKILL)
    took = gone_within(kids, 5.0)
    check(kids and took is not None and took < 1.0,
          "kill -9 of the backend: the child %s is gone within 1 s (%s)"
          % (kids, "%.2f s" % took if took is not None else "still there after 5 s"))
else:
    not_ok("kill -9 of the backend: the fit started its child")
th.join(10)
watch.stop = True
check(wait_ready(), "kill -9 of the backend: the server recovers")
setup = connect()
check(small_fit(setup) == reference, "kill -9 of the backend: fits afterwards give the same results")

# -- memory ---------------------------------------------------------------------------

M = min(N, 4000)
# ntk_fit_peak_bytes (src/fit.c) without its small terms: 8 (3 n^2 + n d + 4 n k)
estimate = 8.0 * (3.0 * M * M + M * 2 + 4.0 * M) / 2**20
# what a process costs whatever n: the child's stack, malloc state and
# OpenBLAS's thread buffers, its own once written after the fork (~6 MB here)
PROCESS_MB = 16.0
conn, pid, watch, th, result = start_fit(
    "memory", "SELECT ntk_fit('mem', x, y, '{\"depth\": 0, \"t\": 100}') FROM big WHERE id <= %d" % M)
th.join(120)
watch.stop = True
watch.join()
used = watch.peak - result["idle_pss"]
check(result.get("error") is None and watch.seen, "memory: the fit of %d rows with \"t\" ran in a child" % M)
check(used <= estimate + PROCESS_MB,
      "memory: peak of backend and child %.0f MB over the idle backend, the guard's estimate %.0f MB "
      "(+ %.0f MB for a process)" % (used, estimate, PROCESS_MB))
one(setup, "SELECT ntk_drop_model('mem')")
finish()
