"""security.py: the multi-session findings of the security audit (see security.sh).

Each check failed on 0.1.0 unless it says it keeps something that held.
"""

import os
import subprocess
import time

import psycopg2

from faultlib import (DB, check, connect, finish, not_ok, ok, one, run,
                      sqlstate_of)

ROLES = ["ntk_sec_alice", "ntk_sec_bob", "ntk_sec_carol", "ntk_sec_team", "ntk_sec_etl"]
PG_BIN = os.environ.get("PG_BIN", "")
TMP = os.environ.get("FAULT_TMP", "/tmp")

su = connect()
for r in ROLES:
    run(su, "DROP ROLE IF EXISTS %s" % r)
run(su, "CREATE ROLE ntk_sec_alice LOGIN")
run(su, "CREATE ROLE ntk_sec_bob LOGIN")
run(su, "CREATE ROLE ntk_sec_carol LOGIN")
run(su, "CREATE ROLE ntk_sec_team NOLOGIN")
run(su, "GRANT ntk_sec_team TO ntk_sec_carol")
run(su, """CREATE TABLE tr AS SELECT i, ARRAY[sin(i), cos(i), (i % 7)::float8]::float8[] AS x,
                  (i % 5)::float8 AS y FROM generate_series(1, 200) i""")
run(su, "GRANT SELECT ON tr TO PUBLIC")
run(su, "CREATE TABLE other (i int)")
run(su, "GRANT ALL ON other TO PUBLIC")


def as_role(role, dbname=DB, autocommit=True):
    conn = psycopg2.connect(dbname=dbname, user=role)
    conn.autocommit = autocommit
    return conn


alice = as_role("ntk_sec_alice")
bob = as_role("ntk_sec_bob")
run(alice, "SELECT ntk_fit('alice_m', x, y) FROM tr")
run(bob, "SELECT ntk_fit('bob_m', x, y) FROM tr")
PRED = one(alice, "SELECT ntk_predict('alice_m', '{1,2,3}'::float8[])")

# F2: a role's open transaction cannot freeze the store -------------------------

bobtx = as_role("ntk_sec_bob", autocommit=False)
code, _ = sqlstate_of(lambda: run(bobtx, "LOCK TABLE ntk_models, ntk_model_data IN ACCESS EXCLUSIVE MODE"))
check(code == "42501", "F2 bob: LOCK TABLE ntk_models, ntk_model_data IN ACCESS EXCLUSIVE MODE is 42501",
      "got %s" % code)
bobtx.rollback()
# what INSERT still allows (ROW EXCLUSIVE) blocks neither predictions nor fits
run(bobtx, """INSERT INTO ntk_models (name, task, kernel, activation, depth, sigma_w, sigma_b,
              ridge, n_train, n_features, n_outputs, options, metrics)
              VALUES ('bob_row', 'regression', 'ntk', 'relu', 1, 1, 0, 0, 1, 1, 1, '{}', '{}')""")
code, _ = sqlstate_of(lambda: run(bobtx, "LOCK TABLE ntk_models IN ROW EXCLUSIVE MODE"))
run(alice, "SET lock_timeout = '2s'")
run(su, "SET lock_timeout = '2s'")
c1, v = sqlstate_of(lambda: one(alice, "SELECT ntk_predict('alice_m', '{1,2,3}'::float8[])"))
c2, _ = sqlstate_of(lambda: run(alice, "SELECT ntk_fit('lockfit', x, y) FROM tr"))
c3, _ = sqlstate_of(lambda: one(su, "SELECT count(*) FROM ntk_models"))
check(code is None and c1 is None and c2 is None and c3 is None and v == PRED,
      "F2: while bob holds ROW EXCLUSIVE in an open transaction, alice predicts and fits and "
      "the superuser reads ntk_models (kept from 0.1.0)",
      "lock %s, predict %s (%s), fit %s, count %s" % (code, c1, v, c2, c3))
bobtx.rollback()
bobtx.close()
run(alice, "RESET lock_timeout")
run(su, "RESET lock_timeout")

# F5: only the model tables' invalidations make a session reload ----------------


def data_scans(conn):
    return one(conn, """SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0)
                          FROM pg_stat_xact_user_tables WHERE relname = 'ntk_model_data'""")


def reloads_while(other_action, n=5):
    """Scans of ntk_model_data by alice's n+1 predictions in one READ COMMITTED
    transaction while another session commits other_action between them."""
    alice.autocommit = False
    try:
        one(alice, "SELECT ntk_predict('alice_m', '{1,2,3}'::float8[])")
        first = data_scans(alice)
        for _ in range(n):
            other_action()
            one(alice, "SELECT ntk_predict('alice_m', '{1,2,3}'::float8[])")
        return first, data_scans(alice) - first
    finally:
        alice.rollback()
        alice.autocommit = True


def temp_table():
    run(bob, "CREATE TEMP TABLE z (i int)")
    run(bob, "DROP TABLE z")


def analyze():
    # a row more each time, so that ANALYZE changes the table's pg_class row
    run(su, "INSERT INTO other VALUES (1)")
    run(su, "ANALYZE other")


def bob_refits():
    run(bob, "SELECT ntk_fit('bob_m', x, y) FROM tr")


run(bob, "CREATE TEMP TABLE bob_t (i int)")
run(bob, """CREATE TRIGGER bob_inval AFTER INSERT ON bob_t
            FOR EACH STATEMENT EXECUTE FUNCTION ntk_models_invalidate('data')""")


def bob_trigger():
    run(bob, "INSERT INTO bob_t VALUES (1)")


def analyze_store():
    # what autovacuum does to the model tables after fits
    bob_refits()
    run(bob, "SELECT ntk_fit('bob_m' || (SELECT count(*) FROM other), x, y) FROM tr")
    run(su, "INSERT INTO other VALUES (1)")
    run(su, "ANALYZE ntk_models, ntk_model_data")


# a fresh session, so that its first prediction loads the model
alice.close()
alice = as_role("ntk_sec_alice")
for desc, action in (("another role's CREATE/DROP TEMP TABLE", temp_table),
                     ("ANALYZE of another table", analyze),
                     ("another role's refit of its own model", bob_refits),
                     ("ANALYZE of the model tables after other roles' fits", analyze_store),
                     ("insert into bob's table with ntk's invalidation trigger", bob_trigger)):
    first, more = reloads_while(action)
    check(more == 0, "F5: alice's cached model is not loaded again after each %s" % desc,
          "scans of ntk_model_data: %s for the first prediction, %s more for the next 5" % (first, more))


def edit_alice_chunks():
    run(su, """UPDATE ntk_model_data SET data = data
                WHERE model_id = (SELECT id FROM ntk_models WHERE name = 'alice_m') AND chunk = 0
                  AND part = 'alpha'""")


first, more = reloads_while(edit_alice_chunks, n=2)
check(more == 2, "F5: an edit of the model's chunks committed by the tables' owner still reloads it "
      "(kept from 0.1.0)", "scans after the 2 edits: %s" % more)
# fits and drops send no invalidation: another session sees them by the row's
# id and xmin, checked once per snapshot
alice2 = as_role("ntk_sec_alice")
one(alice2, "SELECT ntk_predict('alice_m', '{1,2,3}'::float8[])")
run(alice, "SELECT ntk_fit('alice_m', x, 2 * y) FROM tr")
v = one(alice2, "SELECT ntk_predict('alice_m', '{1,2,3}'::float8[])")
run(alice, "SELECT ntk_drop_model('alice_m')")
code, _ = sqlstate_of(lambda: one(alice2, "SELECT ntk_predict('alice_m', '{1,2,3}'::float8[])"))
check(v == 2 * PRED and code == "42704",
      "a session that cached a model sees another session's refit and drop (kept from 0.1.0)",
      "after the refit %s (want %s), after the drop %s" % (v, 2 * PRED, code))
alice2.close()
run(alice, "SELECT ntk_fit('alice_m', x, y) FROM tr")

# F6: a revocation reaches a REPEATABLE READ transaction -------------------------

teamc = as_role("ntk_sec_carol")
run(teamc, "SET ROLE ntk_sec_team")
run(teamc, "SELECT ntk_fit('team_m', x, y) FROM tr")
teamc.close()
carol = as_role("ntk_sec_carol", autocommit=False)
run(carol, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
v = one(carol, "SELECT ntk_predict('team_m', '{1,2,3}'::float8[])")
run(su, "REVOKE ntk_sec_team FROM ntk_sec_carol")
code, v2 = sqlstate_of(lambda: one(carol, "SELECT ntk_predict('team_m', '{1,2,3}'::float8[])"))
check(v == PRED and code == "42704",
      "F6 carol: in REPEATABLE READ, the group's model is gone (42704) once her membership is revoked",
      "before %s, after: %s %s" % (v, code, v2))
carol.rollback()
carol.close()
run(su, "CREATE ROLE ntk_sec_etl LOGIN BYPASSRLS")
etl = as_role("ntk_sec_etl", autocommit=False)
run(etl, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
v = one(etl, "SELECT ntk_predict('alice_m', '{1,2,3}'::float8[])")
run(su, "ALTER ROLE ntk_sec_etl NOBYPASSRLS")
code, v2 = sqlstate_of(lambda: one(etl, "SELECT ntk_predict('alice_m', '{1,2,3}'::float8[])"))
check(v == PRED and code == "42704",
      "F6 etl: in REPEATABLE READ, alice's model is gone (42704) once BYPASSRLS is taken from it",
      "before %s, after: %s %s" % (v, code, v2))
etl.rollback()
etl.close()

# F7: an administrator's thread cap holds ----------------------------------------

run(su, "ALTER ROLE ntk_sec_bob SET ntk.max_threads = 2")
bob2 = as_role("ntk_sec_bob")
run(bob2, "SET ntk.threads = 1024")
pid = one(bob2, "SELECT pg_backend_pid()")
run(bob2, """SELECT ntk_fit('thr', x, y, '{"depth": 20}') FROM (SELECT i, array_agg(random()) x, random() y
             FROM generate_series(1, 800) i, generate_series(1, 32) j GROUP BY i) s""")
with open("/proc/%d/status" % pid) as f:
    threads = int([l.split()[1] for l in f if l.startswith("Threads:")][0])
check(threads <= 3, "F7 bob: with ntk.threads = 1024 under ntk.max_threads = 2 his backend runs at most "
      "3 threads (2 and the fit's worker)", "threads: %d" % threads)
bob2.close()
run(su, "ALTER ROLE ntk_sec_bob RESET ntk.max_threads")

# F1: no installation into a schema every role may write ---------------------------


def fresh_db(name):
    run(su, "DROP DATABASE IF EXISTS %s" % name)
    run(su, "CREATE DATABASE %s" % name)
    return psycopg2.connect(dbname=name)


pub = fresh_db("ntk_fault_security_pub")
pub.autocommit = True
run(pub, "GRANT CREATE ON SCHEMA public TO PUBLIC")
code, e = sqlstate_of(lambda: run(pub, "CREATE EXTENSION ntk"))
check(code == "42501" and "every role may create" in str(e),
      "F1: CREATE EXTENSION ntk in a public schema every role may write is refused", "%s %s" % (code, e))
run(pub, "CREATE SCHEMA ntk")
code, e = sqlstate_of(lambda: run(pub, "CREATE EXTENSION ntk SCHEMA ntk"))
check(code is None, "F1: CREATE EXTENSION ntk SCHEMA ntk in that database works", "%s %s" % (code, e))
run(pub, "GRANT USAGE ON SCHEMA ntk TO PUBLIC")
run(pub, """CREATE TABLE tr AS SELECT i, ARRAY[sin(i), cos(i), (i % 7)::float8]::float8[] AS x,
            (i % 5)::float8 AS y FROM generate_series(1, 200) i""")
run(pub, "GRANT SELECT ON tr TO PUBLIC")
pbob = as_role("ntk_sec_bob", "ntk_fault_security_pub")
code, _ = sqlstate_of(lambda: run(pbob, """CREATE FUNCTION ntk.ntk_predict(model text, x text) RETURNS float8
                                           LANGUAGE sql AS 'SELECT 0::float8'"""))
check(code == "42501", "F1 bob: cannot add an overload to the extension's schema", "got %s" % code)
# bob plants his overload in public, where he may
run(pbob, "CREATE TABLE public.loot (who name, n bigint)")
run(pbob, "GRANT INSERT ON public.loot TO PUBLIC")
run(pbob, """CREATE FUNCTION public.ntk_predict(model text, x text) RETURNS float8 LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO public.loot SELECT current_user, count(*) FROM ntk.ntk_model_data;
                   RETURN ntk.ntk_predict(model, x::float8[]); END $$""")
palice = as_role("ntk_sec_alice", "ntk_fault_security_pub")
run(palice, "SET search_path = ntk, public")
run(palice, "SELECT ntk_fit('alice_m', x, y) FROM tr")
v = one(palice, "SELECT ntk_predict('alice_m', '{1,2,3}'::float8[])")
n = one(pbob, "SELECT count(*) FROM public.loot")
check(v == PRED and n == 0,
      "F1 alice: with typed arguments (the README's advice) her call reaches ntk's function, not bob's",
      "prediction %s, bob's loot rows %s" % (v, n))
pbob.close()
palice.close()
# (kept from 0.1.0) a schema whose name needs quoting: a non-superuser fits,
# refits (a new id from the sequence) and drops there
run(pub, 'CREATE SCHEMA "ML x"')
run(pub, 'GRANT USAGE ON SCHEMA "ML x" TO PUBLIC')
run(pub, 'DROP EXTENSION ntk')
run(pub, 'CREATE EXTENSION ntk SCHEMA "ML x"')
palice = as_role("ntk_sec_alice", "ntk_fault_security_pub")
run(palice, 'SET search_path = "ML x", public')
try:
    i1 = one(palice, "SELECT ntk_fit('q', x, y) FROM tr")
    i2 = one(palice, "SELECT ntk_fit('q', x, y) FROM tr")
    v = one(palice, "SELECT ntk_predict('q', '{1,2,3}'::float8[])")
    d = one(palice, "SELECT ntk_drop_model('q')")
    check(i2 > i1 and v == PRED and d, "alice fits, refits, predicts and drops in schema \"ML x\"",
          "ids %s %s, prediction %s, dropped %s" % (i1, i2, v, d))
except psycopg2.Error as e:
    not_ok("alice fits, refits, predicts and drops in schema \"ML x\"", e.pgerror)
palice.close()
pub.close()

# F9: a non-superuser database owner dumps (and a superuser restores) her models --

run(su, "CREATE DATABASE ntk_fault_security_own OWNER ntk_sec_alice")
own = psycopg2.connect(dbname="ntk_fault_security_own")
own.autocommit = True
run(own, "CREATE EXTENSION ntk")
own.close()
oa = as_role("ntk_sec_alice", "ntk_fault_security_own")
run(oa, "SELECT ntk_fit('dumped', ARRAY[i::float8, sin(i)], cos(i)) FROM generate_series(1, 50) i")
v = one(oa, "SELECT ntk_predict('dumped', '{3, 0.5}'::float8[])")
oa.close()
dump = os.path.join(TMP, "alice.dump")
p = subprocess.run([os.path.join(PG_BIN, "pg_dump"), "-U", "ntk_sec_alice", "-d", "ntk_fault_security_own",
                    "--enable-row-security", "-Fc", "-f", dump], capture_output=True, text=True)
check(p.returncode == 0, "F9 alice (database owner, not superuser): pg_dump --enable-row-security succeeds",
      p.stderr)
if p.returncode == 0:
    run(su, "CREATE DATABASE ntk_fault_security_own2")
    p = subprocess.run([os.path.join(PG_BIN, "pg_restore"), "-d", "ntk_fault_security_own2", dump],
                       capture_output=True, text=True)
    r = as_role("ntk_sec_alice", "ntk_fault_security_own2")
    code, v2 = sqlstate_of(lambda: one(r, "SELECT ntk_predict('dumped', '{3, 0.5}'::float8[])"))
    check(p.returncode == 0 and v2 == v,
          "F9: the superuser's pg_restore of alice's dump gives her model back, same predictions",
          p.stderr, "%s %s vs %s" % (code, v2, v))
    r.close()

for c in (alice, bob):
    c.close()
run(su, "DROP OWNED BY ntk_sec_alice, ntk_sec_bob, ntk_sec_carol, ntk_sec_team, ntk_sec_etl")
su.close()
finish()
