"""faultlib: what the Python halves of the fault tests share.

Connections use the PG* environment variables; the database is the first
command-line argument (the shell half creates it and drops it at exit).
Checks print "ok - NAME: ..." or "not ok - NAME: ..." like test/fault/lib.sh.
"""

import os
import sys
import time

import psycopg2
import psycopg2.extensions

NAME = os.environ.get("FAULT_NAME") or os.path.splitext(os.path.basename(sys.argv[0]))[0]
DB = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PGDATABASE", "postgres")
passed = 0
failed = 0


def ok(desc):
    global passed
    passed += 1
    print("ok - %s: %s" % (NAME, desc), flush=True)


def not_ok(desc, *detail):
    global failed
    failed += 1
    print("not ok - %s: %s" % (NAME, desc), flush=True)
    for line in detail:
        for sub in str(line).rstrip().splitlines():
            print("#   " + sub, flush=True)


def check(cond, desc, *detail):
    if cond:
        ok(desc)
    else:
        not_ok(desc, *detail)
    return cond


def connect(autocommit=True, **kw):
    conn = psycopg2.connect(dbname=DB, **kw)
    conn.autocommit = autocommit
    return conn


def one(conn, sql, args=None):
    """The first column of the first row."""
    with conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
        return None if row is None else row[0]


def run(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)


def sqlstate_of(fn):
    """Runs fn(); returns (None, result) or (sqlstate, exception)."""
    try:
        return None, fn()
    except psycopg2.Error as e:
        return e.pgcode, e


def wait_ready(limit=60.0):
    """Waits until the server accepts connections (after a crash)."""
    end = time.time() + limit
    while time.time() < end:
        try:
            c = psycopg2.connect(dbname=DB, connect_timeout=2)
            c.close()
            return True
        except psycopg2.Error:
            time.sleep(0.1)
    return False


def server_epoch():
    """Changes whenever the server restarts, also after a backend crash (the
    postmaster stays, but restarts every auxiliary process)."""
    c = connect()
    try:
        return one(c, "SELECT pg_postmaster_start_time() || ' ' || backend_start "
                      "FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
    finally:
        c.close()


def proc_stat(pid):
    """(resident MB, CPU seconds) of a backend from /proc, or (None, None)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            rss = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0] / 1024.0
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return rss, cpu
    except (OSError, IndexError, ValueError):
        return None, None


def finish():
    print("# %s: %d passed, %d failed" % (NAME, passed, failed), flush=True)
    sys.exit(1 if failed else 0)
