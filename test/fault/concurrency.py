"""concurrency.py DB: predictions under concurrent refits (see concurrency.sh).

1. Four pgbench clients predict (one-point and batch) in a loop for ~10 s while
   another session refits the same model over and over, alternating between
   two training targets A and B, and two persistent sessions watch: no
   statement fails, every prediction pair is exactly A's or B's (never an
   error or a mixture), both are seen, and after the last refit every
   persistent session sees the final model on its next statement.
2. Cache invalidation across backends, step by step: in autocommit; after a
   statement whose snapshot predates a refit but which loaded the model after
   the refit committed; inside a READ COMMITTED transaction block; after a
   REPEATABLE READ transaction that had to use the old model; after a
   two-phase commit; after a drop.
3. Two sessions refitting one name at once end with one clean winner: one
   row, one set of chunks of the right sizes, the winner's predictions.
"""

import subprocess
import threading
import time

from faultlib import (DB, check, connect, finish, ok, one, run,
                      sqlstate_of)

P1 = "{0.3, -0.2, 0.5, 0.1, 0.7}"
P2 = "{-0.4, 0.9, 0.0, 0.2, -0.6}"
N, D = 300, 5
TARGETS = {"A": "ya", "B": "yb"}
DURATION = 10

PAIR_SQL = ("SELECT ntk_predict(%(m)s, '" + P1 + "')::text, "
            "ntk_predict(%(m)s, '" + P2 + "')::text")
BATCH_QUERY = ("SELECT 1::bigint, '" + P1 + "'::float8[] "
               "UNION ALL SELECT 2::bigint, '" + P2 + "'::float8[]")
BATCH_SQL = ("SELECT (max(prediction) FILTER (WHERE id = 1))::text, "
             "(max(prediction) FILTER (WHERE id = 2))::text "
             "FROM ntk_predict_batch(%(m)s, %(q)s)")


def fit(conn, name, which):
    return one(conn, "SELECT ntk_fit(%%s, x, %s) FROM train" % TARGETS[which], (name,))


def pair(conn, name="cm"):
    with conn.cursor() as cur:
        cur.execute(PAIR_SQL, {"m": name})
        return tuple(cur.fetchone())


def batch_pair(conn, name="cm"):
    with conn.cursor() as cur:
        cur.execute(BATCH_SQL, {"m": name, "q": BATCH_QUERY})
        return tuple(cur.fetchone())


def store_shape(conn, name):
    """(rows for the name, chunks of its model as 'part:chunk:bytes')."""
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT array_agg(d.part || ':' || d.chunk || ':' || length(d.data)"
                    "                         ORDER BY d.part, d.chunk)"
                    "          FROM ntk_model_data d WHERE d.model_id = m.id)"
                    "  FROM ntk_models m WHERE m.name = %s", (name,))
        rows = cur.fetchall()
    return len(rows), (rows[0][0] if rows else None)


GOOD_SHAPE = ["alpha:0:%d" % (N * 8), "x:0:%d" % (N * D * 8)]


def orphans(conn):
    return one(conn, "SELECT count(*) FROM ntk_model_data d "
                     "WHERE NOT EXISTS (SELECT 1 FROM ntk_models m WHERE m.id = d.model_id)")


# -- setup: the two models' exact predictions -------------------------------------

setup = connect()
run(setup, """
CREATE TABLE train AS
SELECT i AS id,
       ARRAY[sin(i * 0.37), cos(i * 0.71), sin(i * 1.3), cos(i * 0.23), (i %% 11) / 11.0]::float8[] AS x,
       sin(i * 0.3) AS ya, 2 * cos(i * 0.17) + 0.5 AS yb
  FROM generate_series(1, %d) i""" % N)

ref = {}
bref = {}
for which in ("A", "B"):
    fit(setup, "cm", which)
    ref[which] = pair(setup)
    bref[which] = batch_pair(setup)
fit(setup, "cm", "A")
check(pair(setup) == ref["A"] and batch_pair(setup) == bref["A"],
      "refitting the same data gives bit-identical predictions (premise of the checks)",
      "first: %s, again: %s" % (ref["A"], pair(setup)))
check(ref["A"] != ref["B"], "models A and B predict differently")
legal = {ref["A"]: "A", ref["B"]: "B"}
blegal = {bref["A"]: "A", bref["B"]: "B"}

# -- 1. pgbench predicting while a session refits --------------------------------

with open("predict.sql", "w") as f:
    # the ELSE divides by zero, but not as a constant the planner would fold
    f.write("SELECT CASE WHEN (p1, p2) IN ((:a1::float8, :a2::float8), (:b1::float8, :b2::float8))"
            " THEN 1 ELSE 1 / (p1 - p1) END FROM (SELECT ntk_predict('cm', '%s') AS p1,"
            " ntk_predict('cm', '%s') AS p2) s;\n" % (P1, P2))
with open("batch.sql", "w") as f:
    f.write("SELECT CASE WHEN (q1, q2) IN ((:c1::float8, :c2::float8), (:d1::float8, :d2::float8))"
            " THEN 1 ELSE 1 / (q1 - q1) END FROM (SELECT max(prediction) FILTER (WHERE id = 1) AS q1,"
            " max(prediction) FILTER (WHERE id = 2) AS q2 FROM ntk_predict_batch('cm',"
            " $q$%s$q$)) s;\n" % BATCH_QUERY)
defs = []
for var, val in (("a1", ref["A"][0]), ("a2", ref["A"][1]), ("b1", ref["B"][0]), ("b2", ref["B"][1]),
                 ("c1", bref["A"][0]), ("c2", bref["A"][1]), ("d1", bref["B"][0]), ("d2", bref["B"][1])):
    defs += ["-D", "%s=%s" % (var, val)]
bench = subprocess.Popen(["pgbench", "-n", "-c", "4", "-j", "2", "-T", str(DURATION),
                          "-f", "predict.sql@3", "-f", "batch.sql@1"] + defs + [DB],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

stop = threading.Event()
refits = {"n": 0, "last": "A", "errors": []}


def refitter():
    conn = connect()
    which = "A"
    try:
        while not stop.is_set():
            which = "B" if which == "A" else "A"
            try:
                fit(conn, "cm", which)
                refits["n"] += 1
                refits["last"] = which
            except Exception as e:   # noqa: BLE001 - reported below
                refits["errors"].append(repr(e))
                break
    finally:
        conn.close()


watch = []


def watcher(k):
    conn = connect()
    seen = {"A": 0, "B": 0}
    bad = []
    while not stop.is_set():
        try:
            p = pair(conn)
            if p in legal:
                seen[legal[p]] += 1
            else:
                bad.append(p)
            b = batch_pair(conn)
            if b in blegal:
                seen[blegal[b]] += 1
            else:
                bad.append(("batch",) + b)
        except Exception as e:       # noqa: BLE001 - reported below
            bad.append(repr(e))
            time.sleep(0.05)
    watch.append((k, conn, seen, bad))


threads = [threading.Thread(target=refitter)] + [threading.Thread(target=watcher, args=(k,)) for k in (1, 2)]
for t in threads:
    t.start()
time.sleep(DURATION)
stop.set()
for t in threads:
    t.join(timeout=60)
out, _ = bench.communicate(timeout=60)

check(bench.returncode == 0 and "number of failed transactions: 0 " in out
      and "aborted" not in out,
      "pgbench: 4 clients predicting during the refits, zero failed statements",
      *[l for l in out.splitlines() if "fail" in l or "abort" in l or "ERROR" in l][:8])
processed = [l for l in out.splitlines() if "number of transactions actually processed" in l]
check(processed and int(processed[0].split(":")[1].split("/")[0]) > 100,
      "pgbench: predictions ran throughout (%s)" % (processed[0].strip() if processed else "none"))
check(not refits["errors"] and refits["n"] >= 10,
      "the refitting session refitted %d times without error" % refits["n"], *refits["errors"][:3])
for k, conn, seen, bad in sorted(watch, key=lambda w: w[0]):
    check(not bad, "watcher %d: every prediction was exactly model A's or B's (%d A, %d B)"
          % (k, seen["A"], seen["B"]), *[repr(b) for b in bad[:5]])
    check(seen["A"] > 0 and seen["B"] > 0, "watcher %d: saw both models" % k)
final = ref[refits["last"]]
for k, conn, seen, bad in sorted(watch, key=lambda w: w[0]):
    got = pair(conn)
    check(got == final, "watcher %d: its next statement after the last refit sees the final model" % k,
          "got %s (%s), final is %s" % (got, legal.get(got, "neither"), refits["last"]))
    conn.close()
n_rows, shape = store_shape(setup, "cm")
check(n_rows == 1 and shape == GOOD_SHAPE, "after the refits: one row, one x and one alpha chunk",
      "rows %d, chunks %s" % (n_rows, shape))
check(orphans(setup) == 0, "after the refits: no orphan data rows")

# -- 2. cache invalidation across backends -----------------------------------------

a = connect()
b = connect()
fit(b, "cm", "A")
pair(a)                               # cached in a
fit(b, "cm", "B")
got = pair(a)
check(got == ref["B"], "autocommit: the next statement after another session's refit sees the new model",
      "got %s" % legal.get(got, got))
got = batch_pair(a)
check(got == bref["B"], "autocommit: ntk_predict_batch sees the new model too", "got %s" % blegal.get(got, got))

# a statement whose snapshot predates a refit, but that loads the model after
# the refit committed (the first lock on ntk_models takes in the invalidation)
a.close()
a = connect()
fit(b, "cm", "A")
res = {}
t = threading.Thread(target=lambda: res.update(p=one(
    a, "SELECT ARRAY[(SELECT pg_sleep(1.0))::text, ntk_predict('cm', '" + P1 + "')::text, "
       "ntk_predict('cm', '" + P2 + "')::text]")))
t.start()
time.sleep(0.3)
fit(b, "cm", "B")
t.join(30)
during = tuple(res["p"][1:]) if "p" in res else None
got = pair(a)
check(during == ref["A"] and got == ref["B"],
      "autocommit: a statement that loaded the model while a refit committed does not pin the old "
      "model for the next statements",
      "during the refit: model %s (its snapshot is older: A is right); next statement: model %s, want B"
      % (legal.get(during, during), legal.get(got, got)))
got = pair(a)
check(got == ref["B"], "autocommit: nor for any later statement", "got model %s" % legal.get(got, got))

# each scenario below in a fresh session
a.close()
a = connect()
fit(b, "cm", "B")
a.autocommit = False
pair(a)                               # B, cached, inside a transaction block
new_id = fit(b, "cm", "A")
got = pair(a)
row_id = one(a, "SELECT id FROM ntk_models WHERE name = 'cm'")
check(got == ref["A"],
      "READ COMMITTED transaction block: the next statement after another session's refit sees the new model",
      "got model %s, want A, while a SELECT on ntk_models in the same transaction sees the new row: %s"
      % (legal.get(got, got), "yes" if row_id == new_id else "no (id %s, new %s)" % (row_id, new_id)))
a.rollback()

a.close()
a = connect()
fit(b, "cm", "A")
a.set_session(isolation_level="REPEATABLE READ", autocommit=False)
one(a, "SELECT count(*) FROM pg_class")  # takes the transaction snapshot: model A
fit(b, "cm", "B")
one(a, "SELECT count(*) FROM ntk_models")  # reads the table, as any statement may
got = pair(a)
check(got == ref["A"], "REPEATABLE READ: a transaction keeps the model of its snapshot",
      "got model %s" % legal.get(got, got))
a.commit()
got = pair(a)
check(got == ref["B"], "REPEATABLE READ: the next transaction after it sees the new model",
      "got model %s, want B: the old model stays cached" % legal.get(got, got))
a.commit()
got = pair(a)
check(got == ref["B"], "REPEATABLE READ: and so does every later transaction",
      "got model %s, want B" % legal.get(got, got))
a.commit()
a.close()

# a refit committed with two-phase commit, by a third session
a = connect()
if int(one(a, "SHOW max_prepared_transactions")) > 0:
    fit(b, "cm", "A")
    pair(a)
    run(b, "BEGIN; SELECT ntk_fit('cm', x, yb) FROM train; PREPARE TRANSACTION 'ntk_fault_2pc'")
    got1 = pair(a)
    c = connect()
    run(c, "COMMIT PREPARED 'ntk_fault_2pc'")
    c.close()
    got2 = pair(a)
    check(got1 == ref["A"] and got2 == ref["B"],
          "two-phase commit: the old model while prepared, the new one after COMMIT PREPARED",
          "while prepared %s, after %s" % (legal.get(got1, got1), legal.get(got2, got2)))
else:
    ok("two-phase commit # SKIP max_prepared_transactions = 0")

pair(a)
one(b, "SELECT ntk_drop_model('cm')")
code, _ = sqlstate_of(lambda: pair(a))
check(code == "42704", "a model dropped by another session is gone on the next statement", "got %s" % code)
a.close()
b.close()

# -- 3. two sessions refitting one name at once --------------------------------------


def race(name, first, second, prefit):
    """Both sessions fit the name at the same moment; returns their errors."""
    c1, c2 = connect(), connect()
    if prefit:
        fit(c1, name, "A")
    go = threading.Barrier(2)
    errs = []

    def go_fit(conn, which):
        go.wait()
        try:
            fit(conn, name, which)
        except Exception as e:   # noqa: BLE001
            errs.append(repr(e))

    t1 = threading.Thread(target=go_fit, args=(c1, first))
    t2 = threading.Thread(target=go_fit, args=(c2, second))
    t1.start(); t2.start(); t1.join(60); t2.join(60)
    c1.close(); c2.close()
    return errs


chk = connect()
for prefit in (True, False):
    bad = []
    for r in range(4):
        name = "race_%s_%d" % ("old" if prefit else "new", r)
        errs = race(name, "A" if r % 2 else "B", "B" if r % 2 else "A", prefit)
        n_rows, shape = store_shape(chk, name)
        p = pair(chk, name) if n_rows == 1 else None
        if errs or n_rows != 1 or shape != GOOD_SHAPE or p not in legal:
            bad.append("round %d: errors %s, rows %d, chunks %s, prediction %s"
                       % (r, errs, n_rows, shape, legal.get(p, p)))
    check(not bad, "two simultaneous fits of one %s name: both succeed, one clean winner (4 rounds)"
          % ("existing" if prefit else "new"), *bad)

# one holds the name in an open transaction; the other waits, then wins
for end in ("commit", "rollback"):
    name = "race_wait_" + end
    c1, c2 = connect(autocommit=False), connect()
    fit(c2, name, "A")
    fit(c1, name, "A")                   # c1 holds the row, uncommitted
    res = {}
    t = threading.Thread(target=lambda: res.update(err=sqlstate_of(lambda: fit(c2, name, "B"))[0]))
    t.start()
    time.sleep(0.5)
    waiting = t.is_alive()
    getattr(c1, end)()
    t.join(60)
    n_rows, shape = store_shape(chk, name)
    p = pair(chk, name) if n_rows == 1 else None
    check(waiting and res.get("err") is None and n_rows == 1 and shape == GOOD_SHAPE and p == ref["B"],
          "a fit waits for another session's uncommitted refit of the name, then wins after its %s" % end,
          "waited %s, error %s, rows %d, chunks %s, prediction %s"
          % (waiting, res.get("err"), n_rows, shape, legal.get(p, p)))
    c1.close(); c2.close()

check(orphans(chk) == 0, "no orphan data rows at the end")
chk.close()
setup.close()
finish()
