#!/usr/bin/env bash
# test/fault/dump_restore.sh: pg_dump keeps the models.
#
# Fits a regression model, a multi-output model, a classifier, a standardized
# model, a model with variance and one owned by a non-superuser role; dumps
# the database (custom and plain format), restores each into a new database
# and checks that the ntk_models rows, the ntk_model_data chunks, every
# prediction (exact equality, all predict functions) and the id sequence
# survive, and that a new fit after the restore gets a new unique id.
. "$(dirname "$0")/lib.sh"
need_superuser

ROLE=ntk_fault_dump_owner
fault_db src || { not_ok "create the source database"; fault_finish; }
SRC=$FAULT_DB
fault_role $ROLE || { not_ok "create the role $ROLE"; fault_finish; }

q >/dev/null <<SQL || { not_ok "fit the models"; fault_finish; }
CREATE TABLE train AS
SELECT i AS id,
       ARRAY[sin(i * 0.37), cos(i * 0.71), (i % 5) / 5.0, 1.0 + i / 100.0]::float8[] AS x,
       sin(i * 0.3) + (i % 3) AS y,
       ARRAY[sin(i * 0.3), cos(i * 0.2), i / 200.0]::float8[] AS y3,
       'class ' || (i % 3) AS label
  FROM generate_series(1, 200) i;
CREATE TABLE queries AS
SELECT i::bigint AS id, ARRAY[sin(i * 1.3), cos(i), (i % 7) / 7.0, 1.5 - i / 60.0]::float8[] AS x
  FROM generate_series(1, 60) i;
GRANT SELECT ON train, queries TO $ROLE;
SELECT ntk_fit('reg', x, y) FROM train;
SELECT ntk_fit('multi', x, y3, '{"kernel": "nngp", "depth": 2, "sigma_b": 0.1}') FROM train;
SELECT ntk_fit_classifier('cls', x, label, '{"activation": "erf", "ridge": 1e-3}') FROM train;
SELECT ntk_fit('std', x, y, '{"standardize": true, "ridge": 1e-4, "depth": 5}') FROM train;
SELECT ntk_fit('var', x, y, '{"variance": true, "ridge": 1e-3}') FROM train;
SET ROLE $ROLE;
SELECT ntk_fit('owned', x, y, '{"depth": 1}') FROM train;
RESET ROLE;
SQL

# everything a restore must reproduce, as text (float8 output is exact)
snapshot() {   # snapshot DB FILE
    qdb "$1" >"$2" <<SQL
\\echo models
SELECT * FROM ntk_models ORDER BY id;
\\echo data
SELECT model_id, part, chunk, length(data), md5(data) FROM ntk_model_data ORDER BY 1, 2, 3;
\\echo sequence
SELECT last_value, is_called FROM ntk_models_id_seq;
\\echo predictions
SELECT id, ntk_predict('reg', x), ntk_predict_vector('multi', x), ntk_predict_class('cls', x),
       ntk_predict_vector('cls', x), ntk_predict('std', x), ntk_predict('var', x),
       ntk_predict_var('var', x)
  FROM queries ORDER BY id;
\\echo batch
SELECT 'reg', * FROM ntk_predict_batch('reg', 'SELECT id, x FROM queries') ORDER BY id;
SELECT 'multi', * FROM ntk_predict_batch('multi', 'SELECT id, x FROM queries') ORDER BY id;
SELECT 'cls', * FROM ntk_predict_batch('cls', 'SELECT id, x FROM queries') ORDER BY id;
SELECT 'std', * FROM ntk_predict_batch('std', 'SELECT id, x FROM queries') ORDER BY id;
\\echo owned
SET ROLE $ROLE;
SELECT id, ntk_predict('owned', x) FROM queries ORDER BY id;
SELECT count(*) FROM ntk_models;
RESET ROLE;
SQL
}

# no_errors FILE DESCRIPTION: ok if FILE (a stderr capture) is empty
no_errors() {
    if [ -s "$1" ]; then not_ok "$2" "$(head -5 "$1")"; else ok "$2"; fi
}

# split_sections FILE: FILE.models, FILE.data, ... one per \echo'd section
split_sections() {
    awk -v base="$1" '/^(models|data|sequence|predictions|batch|owned)$/ { f = base "." $0; printf "" > f; next }
                      { print > f }' "$1"
}

snapshot "$SRC" "$FAULT_TMP/before.txt" 2>"$FAULT_TMP/before.err"
no_errors "$FAULT_TMP/before.err" "every predict function works in the source database"
split_sections "$FAULT_TMP/before.txt"
maxid=$(q -c "SELECT max(id) FROM ntk_models")
ids=$(q -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM ntk_models")

restore_and_compare() {   # restore_and_compare FORMAT
    local fmt=$1 dst="ntk_fault_dump_restore_$1" file="$FAULT_TMP/dump.$1" out rc
    if [ "$fmt" = custom ]; then
        out=$(pg_dump -Fc -f "$file" -d "$SRC" 2>&1)
    else
        out=$(pg_dump -Fp -f "$file" -d "$SRC" 2>&1)
    fi
    rc=$?
    if [ $rc != 0 ] || [ -n "$out" ]; then
        not_ok "$fmt: pg_dump runs cleanly" "$out"
        return
    fi
    ok "$fmt: pg_dump runs cleanly"

    psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $dst WITH (FORCE)" -c "CREATE DATABASE $dst" >/dev/null
    FAULT_DBS="$FAULT_DBS $dst"
    if [ "$fmt" = custom ]; then
        out=$(pg_restore --exit-on-error -d "$dst" "$file" 2>&1)
    else
        out=$(psql -X -q -v ON_ERROR_STOP=1 -d "$dst" -f "$file" 2>&1 >/dev/null)
    fi
    rc=$?
    if [ $rc != 0 ] || [ -n "$out" ]; then
        not_ok "$fmt: restore runs without errors or warnings" "$(echo "$out" | head -5)"
        return
    fi
    ok "$fmt: restore runs without errors or warnings"

    snapshot "$dst" "$FAULT_TMP/after.$fmt.txt" 2>"$FAULT_TMP/after.$fmt.err"
    no_errors "$FAULT_TMP/after.$fmt.err" "$fmt: every predict function works after the restore"
    # compare the sections one by one, so a failure says what differs
    split_sections "$FAULT_TMP/after.$fmt.txt"
    local b="$FAULT_TMP/before.txt" a="$FAULT_TMP/after.$fmt.txt"
    same_file "$b.models" "$a.models" "$fmt: ntk_models rows are identical"
    same_file "$b.data" "$a.data" "$fmt: ntk_model_data chunks are identical"
    same_file "$b.sequence" "$a.sequence" "$fmt: the id sequence is restored"
    same_file "$b.predictions" "$a.predictions" \
        "$fmt: one-point predictions are exactly equal (all predict functions)"
    same_file "$b.batch" "$a.batch" "$fmt: ntk_predict_batch output is exactly equal"
    same_file "$b.owned" "$a.owned" \
        "$fmt: the non-superuser owner still has (only) its model"
    local n
    n=$(qdb "$dst" -c "SELECT count(*) FROM ntk_model_data d WHERE NOT EXISTS (SELECT 1 FROM ntk_models m WHERE m.id = d.model_id)" 2>&1)
    is "$n" 0 "$fmt: no orphan data rows"

    # the sequence continues: a new fit gets a new, unique id; a refit too
    local newid refit
    newid=$(qdb "$dst" -c "SELECT ntk_fit('after_restore', x, y) FROM train" 2>&1)
    if [[ "$newid" =~ ^[0-9]+$ ]] && [ "$newid" -gt "$maxid" ]; then
        ok "$fmt: a new fit after the restore gets a new id ($newid > $maxid)"
    else
        not_ok "$fmt: a new fit after the restore gets a new id" "got: $newid, ids before: $ids"
    fi
    refit=$(qdb "$dst" -c "SELECT ntk_fit('reg', x, y + 1) FROM train" 2>&1)
    if [[ "$refit" =~ ^[0-9]+$ ]] && [ "$refit" -gt "$newid" ]; then
        ok "$fmt: a refit after the restore gets a new id"
    else
        not_ok "$fmt: a refit after the restore gets a new id" "got: $refit"
    fi
    n=$(qdb "$dst" -c "SELECT count(*) - count(DISTINCT id) FROM ntk_models" 2>&1)
    is "$n" 0 "$fmt: ids stay unique"
}

restore_and_compare custom
restore_and_compare plain

fault_finish
