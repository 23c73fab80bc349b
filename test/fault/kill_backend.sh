#!/usr/bin/env bash
# test/fault/kill_backend.sh: a backend killed with SIGKILL in the middle of a
# fit leaves the committed models intact and no trace of the partial one.
#
# Fits a few models (one of them large), then starts a long fit (4000 x 200)
# twice and kills its backend with kill -9: once while it refits an existing
# name, once while it fits a new one, at different moments.  After crash
# recovery: ntk_models and ntk_model_data are exactly as before, every model
# predicts exactly as before, the partial model left no row and no chunk, and
# a new fit gets a new id.  Must run on the server's host as root or as the
# server's user (kill -9 of the backend process).
. "$(dirname "$0")/lib.sh"
need_superuser
fault_db || { not_ok "create the database"; fault_finish; }

q >/dev/null <<'SQL' || { not_ok "fit the committed models"; fault_finish; }
CREATE TABLE small AS
SELECT i::bigint AS id, ARRAY[sin(i * 0.37), cos(i * 0.71), (i % 5) / 5.0, i / 200.0]::float8[] AS x,
       sin(i * 0.3) AS y, 'c' || (i % 3) AS label
  FROM generate_series(1, 200) i;
CREATE TABLE big AS
SELECT i::bigint AS id, array(SELECT sin(i * 0.013 * j + j) FROM generate_series(1, 200) j) AS x,
       cos(i * 0.05) AS y
  FROM generate_series(1, 4000) i;
SELECT ntk_fit('keep_reg', x, y) FROM small;
SELECT ntk_fit_classifier('keep_cls', x, label, '{"standardize": true}') FROM small;
SELECT ntk_fit('victim', x, y, '{"depth": 2}') FROM small;
SQL

# the large committed model, and how long such a fit takes here
q -c "SELECT ntk_fit('keep_big', x, y) FROM big WHERE id <= 2000" >/dev/null \
    || { not_ok "fit the large committed model"; fault_finish; }
t1=$(now_ms)
q -c "SELECT ntk_fit('timing', x, y) FROM big" >/dev/null || { not_ok "time the long fit"; fault_finish; }
t2=$(now_ms)
q -c "SELECT ntk_drop_model('timing')" >/dev/null
FIT_MS=$((t2 - t1))
echo "# the long fit takes $FIT_MS ms here"

state() {   # state FILE: everything a crash must not change
    q >"$1" 2>&1 <<'SQL'
SELECT * FROM ntk_models ORDER BY id;
SELECT model_id, part, chunk, length(data), md5(data) FROM ntk_model_data ORDER BY 1, 2, 3;
SELECT id, ntk_predict('keep_reg', x), ntk_predict_class('keep_cls', x), ntk_predict_vector('keep_cls', x),
       ntk_predict('victim', x)
  FROM small ORDER BY id;
SELECT id, ntk_predict('keep_big', x) FROM big WHERE id % 97 = 0 ORDER BY id;
SELECT 'batch', * FROM ntk_predict_batch('keep_big', 'SELECT id, x FROM big WHERE id % 89 = 0') ORDER BY id;
SQL
}
state "$FAULT_TMP/before"

# kill_fit NAME FRACTION: starts the long fit of NAME, kill -9s it at FRACTION of its time
kill_fit() {
    local name=$1 frac=$2 pid="" delay
    PGAPPNAME=ntk_fault_kill q -c "SELECT ntk_fit('$name', x, y) FROM big" >"$FAULT_TMP/fit.out" 2>&1 &
    local client=$!
    for _ in $(seq 1 100); do
        pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'ntk_fault_kill'
                     AND state = 'active' AND query LIKE '%ntk_fit%'")
        [ -n "$pid" ] && break
        sleep 0.05
    done
    if [ -z "$pid" ]; then
        not_ok "$name: find the fitting backend"
        wait $client
        return 1
    fi
    delay=$(awk -v ms="$FIT_MS" -v f="$frac" 'BEGIN { printf "%.2f", ms * f / 1000 }')
    sleep "$delay"
    # the backend outlives its query: the client still waiting is what says
    # the fit is running
    if ! kill -0 "$client" 2>/dev/null || ! kill -0 "$pid" 2>/dev/null; then
        # the machine is faster than it was a moment ago: try earlier
        wait $client
        echo "# $name: the fit ended before $delay s; again, earlier"
        q -c "SELECT ntk_drop_model('$name')" >/dev/null
        [ "$name" = victim ] && q -c "SELECT ntk_fit('victim', x, y, '{\"depth\": 2}') FROM small" >/dev/null
        state "$FAULT_TMP/before"
        return 2
    fi
    if kill -9 "$pid"; then
        ok "$name: kill -9 of the fitting backend $pid after $delay s"
    else
        not_ok "$name: kill -9 of the fitting backend $pid (run as root or as the server's user)"
        wait $client
        return 1
    fi
    wait $client
    if ! fault_wait_ready 60; then
        not_ok "$name: the server recovered within 60 s"
        fault_finish
    fi
    if grep -qE '^[0-9]+$' "$FAULT_TMP/fit.out"; then
        # the fit committed and answered while the kill was on its way: a
        # finished fit, not a partial one; try earlier
        echo "# $name: the fit committed just before the kill at $delay s; again, earlier"
        q -c "SELECT ntk_drop_model('$name')" >/dev/null
        [ "$name" = victim ] && q -c "SELECT ntk_fit('victim', x, y, '{\"depth\": 2}') FROM small" >/dev/null
        state "$FAULT_TMP/before"
        return 2
    fi
    ok "$name: the server recovered"
    if grep -q "connection to server was lost\|server closed the connection" "$FAULT_TMP/fit.out"; then
        ok "$name: the fitting client lost its connection"
    else
        not_ok "$name: the fitting client lost its connection" "$(cat "$FAULT_TMP/fit.out")"
    fi
}

verify() {   # verify NAME
    local name=$1 n
    state "$FAULT_TMP/after.$name"
    same_file "$FAULT_TMP/before" "$FAULT_TMP/after.$name" \
        "$name: every committed row, chunk and prediction is exactly as before"
    if [ "$name" != victim ]; then   # the victim's old row is compared above
        n=$(q -c "SELECT count(*) FROM ntk_models WHERE name = '$name'" 2>&1)
        is "$n" 0 "$name: no row of the partial model"
    fi
    n=$(q -c "SELECT count(*) FROM ntk_model_data d WHERE NOT EXISTS
                (SELECT 1 FROM ntk_models m WHERE m.id = d.model_id)" 2>&1)
    is "$n" 0 "$name: no orphan chunks"
    n=$(q -c "SELECT count(*) FROM ntk_model_data d JOIN ntk_models m ON m.id = d.model_id
               WHERE d.part = 'x' AND length(d.data) = 4000 * 200 * 8" 2>&1)
    is "$n" 0 "$name: no chunk of the killed fit anywhere"
}

# kill_at NAME FRACTION...: kill_fit at the first fraction at which the fit still runs
kill_at() {
    local name=$1 frac rc; shift
    for frac in "$@"; do
        kill_fit "$name" "$frac"
        rc=$?
        [ $rc = 2 ] || break
    done
    if [ $rc = 2 ]; then
        not_ok "$name: catch the fit running (it ended too early every time)"
    elif [ $rc = 0 ]; then
        verify "$name"
    fi
}

kill_at victim 0.4 0.2 0.1
kill_at fresh 0.8 0.6 0.4 0.2

maxid=$(q -c "SELECT max(id) FROM ntk_models")
newid=$(q -c "SELECT ntk_fit('after_crash', x, y) FROM small" 2>&1)
if [[ "$newid" =~ ^[0-9]+$ ]] && [ "$newid" -gt "$maxid" ]; then
    ok "a fit after the crashes gets a new id ($newid > $maxid)"
else
    not_ok "a fit after the crashes gets a new id" "got $newid, max before $maxid"
fi
is "$(q -c "SELECT ntk_fit('victim', x, y, '{\"depth\": 2}') FROM small" >/dev/null 2>&1 && \
      q -c "SELECT count(*) FROM ntk_models WHERE name = 'victim'")" 1 "the victim name can be refitted after the crashes"

fault_finish
