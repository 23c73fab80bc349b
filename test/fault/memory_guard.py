"""memory_guard.py DB: ntk.max_memory refuses fits before they allocate.

- SET ntk.max_memory = '64MB' as the first statement of a session (before
  the library is loaded) takes effect.
- A fit that needs more is refused with SQLSTATE 54000 within 1 s, with the
  needed and allowed sizes in the detail and a hint; nothing is stored; the
  backend did not grow.
- A fit over a million rows is refused early, while reading its rows, not
  after collecting them all.
- A classifier is refused too; so is a fit with "t" whose three n x n
  matrices (the eigendecomposition's) exceed the limit though one would not.
- Other sessions keep working meanwhile; the same session fits under the
  limit afterwards; a fit that fits under the limit succeeds.
- The estimate against the measured peak: the backend's VmHWM grows by
  80% .. 105% + 16 MB of the guard's estimate in a fit of 6000 rows of 50
  features,
  with the full matrix and with its lower triangle (about half as much);
  "auto" takes the triangle when only it fits.
"""

import re
import threading
import time

import psycopg2

from faultlib import check, connect, finish, not_ok, one, proc_stat, run

setup = connect()
run(setup, """
CREATE TABLE wide AS
SELECT i AS id, array(SELECT sin(i * j * 0.01) FROM generate_series(1, 10) j) AS x,
       cos(i * 0.1) AS y, 'c' || (i % 4) AS label
  FROM generate_series(1, 5000) i""")
one(setup, "SELECT ntk_fit('keep', x, y) FROM wide WHERE id <= 200")
keep_pred = one(setup, "SELECT ntk_predict('keep', x) FROM wide WHERE id = 7")
models0 = one(setup, "SELECT count(*) FROM ntk_models")
data0 = one(setup, "SELECT count(*) FROM ntk_model_data")

s = connect()
pid = one(s, "SELECT pg_backend_pid()")
run(s, "SET ntk.max_memory = '64MB'")                  # before the library is loaded
check(one(s, "SHOW ntk.max_memory") == "64MB", "SET ntk.max_memory = '64MB' before the library loads",
      "SHOW says %s" % one(s, "SHOW ntk.max_memory"))
one(s, "SELECT ntk_kernel('{1}', '{1}')")              # loads the library
check(one(s, "SHOW ntk.max_memory") == "64MB", "the setting survives loading the library",
      "SHOW says %s" % one(s, "SHOW ntk.max_memory"))
rss0, _ = proc_stat(pid)


def refused(sql, what):
    t0 = time.time()
    try:
        one(s, sql)
        not_ok("%s: refused with 54000" % what, "the fit succeeded")
        return
    except psycopg2.Error as e:
        err = e
    elapsed = time.time() - t0
    check(err.pgcode == "54000", "%s: refused with 54000" % what, "got %s: %s" % (err.pgcode, err.pgerror))
    check(elapsed < 1.0, "%s: refused within 1 s (%.2f s)" % (what, elapsed))
    detail = err.diag.message_detail or ""
    sizes = [float(v) for v in re.findall(r"(\d+(?:\.\d+)?)\s*(?:[kMGT]i?B|bytes)", detail)]
    check(len(sizes) >= 2 and "64" in detail and max(sizes) > 64,
          "%s: the detail gives the needed and the allowed size" % what, "detail: %r" % detail)
    check(bool(err.diag.message_hint), "%s: with a hint" % what, "hint: %r" % err.diag.message_hint)
    rss, _ = proc_stat(pid)
    if rss is not None and rss0 is not None:
        check(rss - rss0 < 48, "%s: the backend did not allocate the fit (grew %.0f MB)" % (what, rss - rss0))


# other sessions keep predicting while the refusals happen
stop = threading.Event()
other = {"n": 0, "bad": []}


def other_session():
    c = connect()
    while not stop.is_set():
        try:
            if one(c, "SELECT ntk_predict('keep', x) FROM wide WHERE id = 7") != keep_pred:
                other["bad"].append("wrong prediction")
            other["n"] += 1
        except psycopg2.Error as e:
            other["bad"].append(e.pgerror)
            break
    c.close()


t = threading.Thread(target=other_session)
t.start()
refused("SELECT ntk_fit('too_big', x, y) FROM wide", "5000 x 10 regression under 64MB")
refused("SELECT ntk_fit_classifier('too_big', x, label) FROM wide", "5000 x 10 classifier under 64MB")
refused("SELECT ntk_fit('too_big', ARRAY[i::float8, 1], 1.0) FROM generate_series(1, 1000000) i",
        "a million rows under 64MB (refused while reading)")
stop.set()
t.join(30)
check(not other["bad"] and other["n"] > 0,
      "another session predicted %d times meanwhile without a problem" % other["n"], *other["bad"][:3])
check(one(setup, "SELECT count(*) FROM ntk_models") == models0
      and one(setup, "SELECT count(*) FROM ntk_model_data") == data0, "the refused fits stored nothing")

# under the limit: 2000 rows need about 32 MB
try:
    mid = one(s, "SELECT ntk_fit('fits', x, y) FROM wide WHERE id <= 2000")
    p = one(s, "SELECT ntk_predict('fits', x) FROM wide WHERE id = 7")
    check(mid is not None and p is not None, "the same session fits 2000 x 10 under 64MB and predicts")
except psycopg2.Error as e:
    not_ok("the same session fits 2000 x 10 under 64MB and predicts", e.pgerror)

# an eigendecomposition (the option "t") holds three n x n matrices: 1700 rows
# need 66 MiB (two matrices, 44 MiB, would pass), so it is refused where the
# plain 2000-row fit above was not
refused("SELECT ntk_fit('t1700', x, y, '{\"t\": 10}') FROM wide WHERE id <= 1700",
        "a 't' fit of 1700 rows (three 1700 x 1700 matrices) under 64MB")

# another session with a small limit of its own does not change this one's
c = connect()
run(c, "SET ntk.max_memory = '1MB'")
code = None
try:
    one(c, "SELECT ntk_fit('tiny', x, y) FROM wide WHERE id <= 1000")
except psycopg2.Error as e:
    code = e.pgcode
check(code == "54000", "ntk.max_memory = '1MB' refuses a 1000-row fit", "got %s" % code)
try:
    one(s, "SELECT ntk_fit('fits2', x, y) FROM wide WHERE id <= 1000")
    ok_ = True
except psycopg2.Error:
    ok_ = False
check(ok_, "the other session's setting is its own")
c.close()

# the default allows an ordinary fit
run(s, "RESET ntk.max_memory")
try:
    one(s, "SELECT ntk_fit('fits3', x, y) FROM wide")
    check(True, "after RESET, the 5000 x 10 fit succeeds")
except psycopg2.Error as e:
    not_ok("after RESET, the 5000 x 10 fit succeeds", e.pgerror)
s.close()

# -- the estimate against the measured peak ------------------------------------------

def hwm_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        return [int(l.split()[1]) for l in f if l.startswith("VmHWM:")][0] / 1024.0


N_MID, D_MID = 6000, 50
run(setup, """
CREATE TABLE mid AS
SELECT i AS id, array(SELECT sin(i * j * 0.013) FROM generate_series(1, %d) j) AS x,
       cos(i * 0.1) AS y
  FROM generate_series(1, %d) i""" % (D_MID, N_MID))
# ntk_fit_peak_bytes and ntk_fit_packed_peak_bytes (src/core/krr.c): depth 3
# holds 10 doubles of diagonal state a row, one output
rest = N_MID * D_MID + 4 * N_MID + 2 * N_MID * 10
estimate = {"full": 8.0 * (N_MID * N_MID + rest) / 2**20,
            "packed": 8.0 * (N_MID * (N_MID + 1) / 2 + rest) / 2**20}
peak = {}
for storage in ("full", "packed", "auto"):
    c = connect()
    cpid = one(c, "SELECT pg_backend_pid()")
    if storage == "auto":
        # the full matrix (~280 MB) does not fit, its triangle (~140 MB) does
        run(c, "SET ntk.max_memory = '200MB'")
    else:
        run(c, "SET ntk.exact_storage = %s" % storage)
    # the library, OpenBLAS's buffers and the model tables' pages, before measuring
    one(c, "SELECT ntk_fit('warm', x, y) FROM mid WHERE id <= 300")
    one(c, "SELECT ntk_drop_model('warm')")
    before = hwm_mb(cpid)
    try:
        one(c, "SELECT ntk_fit('mid', x, y, '{\"ridge\": 1e-3}') FROM mid")
        grown = hwm_mb(cpid) - before
        got = one(c, "SELECT metrics->>'kernel_storage' FROM ntk_models WHERE name = 'mid'")
        one(c, "SELECT ntk_drop_model('mid')")
    except psycopg2.Error as e:
        not_ok("a %d x %d fit with ntk.exact_storage = %s" % (N_MID, D_MID, storage), e.pgerror)
        c.close()
        continue
    c.close()
    want = "packed" if storage == "auto" else storage
    check(got == want, "%s storage: the fit used the %s matrix" % (storage, want), "got %s" % got)
    est = estimate[want]
    peak[storage] = grown
    print("# %s storage: peak grew %.0f MB, the guard estimated %.0f MB (%.2f)"
          % (storage, grown, est, grown / est), flush=True)
    # beyond the buffers the estimate counts: thread stacks, OpenBLAS's and
    # libc's arenas, rounding to huge pages (6-10 MB at this size)
    check(0.80 * est <= grown <= 1.05 * est + 16,
          "%s storage: the measured peak (VmHWM grew %.0f MB) is within 80%% .. 105%% + 16 MB "
          "of the guard's estimate (%.0f MB)" % (storage, grown, est))
if "full" in peak and "packed" in peak:
    check(peak["packed"] < 0.6 * peak["full"],
          "the lower triangle's peak is about half the full matrix's (%.0f MB vs %.0f MB)"
          % (peak["packed"], peak["full"]))
setup.close()
finish()
