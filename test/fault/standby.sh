#!/usr/bin/env bash
# test/fault/standby.sh: models replicate to a hot standby and predict there.
#
# Takes a pg_basebackup of the cluster, starts it as a streaming standby on
# this host, and checks: every model predicts on the standby exactly as on
# the primary; a session on the standby sees a refit made on the primary on
# its next statement once it is replayed (the cache invalidation comes with
# the WAL); a dropped model disappears; fitting and dropping on the standby
# are refused as read-only (25006); row-level security holds there too.
. "$(dirname "$0")/lib.sh"
need_superuser
fault_db || { not_ok "create the database"; fault_finish; }
ROLE=ntk_fault_standby_other
fault_role $ROLE || { not_ok "create the role $ROLE"; fault_finish; }

RUN=""
[ "$(id -u)" = 0 ] && RUN="runuser -u postgres --"
SB_DIR=$FAULT_TMP/standby
SB_PORT=$((56000 + $$ % 1000))
mkdir -p "$SB_DIR" && chmod 700 "$SB_DIR"
[ -n "$RUN" ] && chown postgres:postgres "$FAULT_TMP" "$SB_DIR"

q >/dev/null <<'SQL' || { not_ok "fit the models"; fault_finish; }
CREATE TABLE train AS
SELECT i::bigint AS id, ARRAY[sin(i * 0.37), cos(i * 0.71), (i % 5) / 5.0]::float8[] AS x,
       sin(i * 0.3) AS y, 'c' || (i % 3) AS label
  FROM generate_series(1, 150) i;
SELECT ntk_fit('reg', x, y) FROM train;
SELECT ntk_fit_classifier('cls', x, label, '{"standardize": true}') FROM train;
SELECT ntk_fit('gone', x, y) FROM train;
SQL

out=$($RUN "$PG_BIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -D "$SB_DIR/data" -R -X stream -c fast 2>&1)
if [ $? != 0 ]; then
    not_ok "pg_basebackup of the cluster (needs a replication connection)" "$out"
    fault_finish
fi
ok "pg_basebackup of the cluster"
out=$($RUN "$PG_BIN/pg_ctl" -D "$SB_DIR/data" -l "$SB_DIR/server.log" -w -t 60 \
      -o "-p $SB_PORT -k $FAULT_TMP -c listen_addresses= -c hot_standby=on" start 2>&1)
if [ $? != 0 ]; then
    not_ok "start the standby" "$out" "$(tail -5 "$SB_DIR/server.log" 2>/dev/null)"
    fault_finish
fi
stop_standby() { $RUN "$PG_BIN/pg_ctl" -D "$SB_DIR/data" -m immediate stop >/dev/null 2>&1; }
trap 'stop_standby; fault_cleanup' EXIT
ok "the standby runs"

cd "$FAULT_TMP" || exit 1
FAULT_NAME=standby SB_HOST=$FAULT_TMP SB_PORT=$SB_PORT ROLE=$ROLE PYTHONPATH="$FAULT_DIR" \
    timeout 90 "$PY" - "$FAULT_DB" <<'PY'
import os
import time

import psycopg2

from faultlib import DB, check, connect, finish, not_ok, one, run

prim = connect()
sb_args = dict(host=os.environ["SB_HOST"], port=int(os.environ["SB_PORT"]))
sb = connect(**sb_args)
PRED = ("SELECT string_agg(concat_ws(' ', ntk_predict('reg', x), ntk_predict_class('cls', x),"
        " ntk_predict_vector('cls', x)), ';' ORDER BY id) FROM train")


def caught_up():
    """Waits until the standby replayed everything the primary wrote so far."""
    lsn = one(prim, "SELECT pg_current_wal_lsn()")
    end = time.time() + 30
    while time.time() < end:
        if one(sb, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)):
            return True
        time.sleep(0.05)
    return False


check(one(sb, "SELECT pg_is_in_recovery()"), "the standby is in recovery")
check(caught_up(), "the standby catches up")
check(one(sb, PRED) == one(prim, PRED), "every model predicts on the standby exactly as on the primary")
batch = "SELECT string_agg(concat_ws(' ', id, prediction, outputs, label), ';' ORDER BY id) " \
        "FROM ntk_predict_batch('cls', 'SELECT id, x FROM train')"
check(one(sb, batch) == one(prim, batch), "ntk_predict_batch on the standby equals the primary's")

# a session on the standby with the model cached sees the primary's refit
before = one(sb, "SELECT ntk_predict('reg', '{0.1, 0.2, 0.3}')")
one(prim, "SELECT ntk_fit('reg', x, y * 2 + 1) FROM train")
want = one(prim, "SELECT ntk_predict('reg', '{0.1, 0.2, 0.3}')")
check(caught_up(), "the standby replays the refit")
got = one(sb, "SELECT ntk_predict('reg', '{0.1, 0.2, 0.3}')")
check(got == want and got != before,
      "the standby session's next statement after the replay predicts with the refitted model",
      "before %r, got %r, primary %r" % (before, got, want))

one(sb, "SELECT ntk_predict('gone', '{0.1, 0.2, 0.3}')")
one(prim, "SELECT ntk_drop_model('gone')")
caught_up()
try:
    one(sb, "SELECT ntk_predict('gone', '{0.1, 0.2, 0.3}')")
    code = None
except psycopg2.Error as e:
    code = e.pgcode
check(code == "42704", "a model dropped on the primary is gone on the standby (42704)", "got %s" % code)

for what, sql in (("ntk_fit", "SELECT ntk_fit('sb', x, y) FROM train"),
                  ("ntk_fit_classifier", "SELECT ntk_fit_classifier('sb', x, label) FROM train"),
                  ("ntk_drop_model", "SELECT ntk_drop_model('reg')")):
    try:
        one(sb, sql)
        code = None
    except psycopg2.Error as e:
        code = e.pgcode
    check(code == "25006", "%s on the standby is refused as read-only (25006)" % what, "got %s" % code)

run(sb, "SET ROLE " + os.environ["ROLE"])
try:
    one(sb, "SELECT ntk_predict('reg', '{0.1, 0.2, 0.3}')")
    code = None
except psycopg2.Error as e:
    code = e.pgcode
check(code == "42704" and one(sb, "SELECT count(*) FROM ntk_models") == 0,
      "row-level security on the standby: another role sees no model", "got %s" % code)
sb.close()
prim.close()
finish()
PY
rc=$?
[ $rc = 0 ] || [ $rc = 1 ] || echo "not ok - standby: ended with status $rc"
fault_finish_rc=$rc
stop_standby
exit $fault_finish_rc
