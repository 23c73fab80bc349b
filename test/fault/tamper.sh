#!/usr/bin/env bash
# test/fault/tamper.sh: a model whose rows were edited gives an error, never a
# server crash or garbage.
#
# Since 0.2.0 only the tables' owner (an administrator) can edit the rows of
# ntk_models and ntk_model_data (0.1.0 let every model's owner do it), but a
# model is still decoded as untrusted input: rows may be damaged on disk, by a
# restore of an edited dump or by hand.  Each case fits a model as a
# non-superuser role, damages one thing in its rows as the tables' owner and
# predicts as the role: the prediction must fail with an SQLSTATE and the
# postmaster must not have restarted.  One case re-chunks the stored arrays,
# which is legal, and must predict exactly as before.
. "$(dirname "$0")/lib.sh"
need_superuser
ROLE=ntk_fault_mallory
fault_db || { not_ok "create the database"; fault_finish; }
fault_role $ROLE || { not_ok "create the role $ROLE"; fault_finish; }

q >/dev/null <<SQL || { not_ok "create the training data"; fault_finish; }
CREATE TABLE train AS
SELECT i AS id, ARRAY[(i % 3)::float8 + 0.01 * sin(i), 1.0 + 0.01 * cos(i)] AS x,
       sin(i * 0.3) AS y, 'class' || (i % 3) AS label
  FROM generate_series(1, 60) i;
GRANT SELECT ON train TO $ROLE;
SQL

# damaged DESCRIPTION MODEL_SQL TAMPER_SQL PREDICT_SQL...: fit, damage, predict
EPOCH=$(server_epoch)
damaged() {
    local desc=$1 fit=$2 tamper=$3; shift 3
    local out p nerr
    out=$(q 2>&1 <<SQL
\\set VERBOSITY sqlstate
SET ROLE $ROLE;
$fit;
RESET ROLE;
$tamper;
SET ROLE $ROLE;
\\set ON_ERROR_STOP 0
$(for p in "$@"; do echo "$p;"; done)
SQL
)
    nerr=$(printf '%s\n' "$out" | grep -cE '^(psql:[^ ]* )?ERROR:  [0-9A-Z]{5}$')
    if printf '%s\n' "$out" | grep -q "connection to server was lost\|server closed the connection"; then
        not_ok "$desc: an error, not a server crash" "psql said:" "$(printf '%s\n' "$out" | tail -4)"
        fault_wait_ready 60
        EPOCH=$(server_epoch)
    elif [ "$nerr" != $# ]; then
        not_ok "$desc: every prediction fails with an SQLSTATE" "psql said:" "$(printf '%s\n' "$out" | head -6)"
    elif printf '%s\n' "$out" | grep -qE 'ERROR:  XX000$'; then
        not_ok "$desc: an error that says what is wrong, not an internal one (XX000)" "psql said:" "$(printf '%s\n' "$out" | head -6)"
    else
        ok "$desc: an error ($(printf '%s\n' "$out" | grep -oE '[0-9A-Z]{5}$' | sort -u | tr '\n' ' '))"
    fi
}

REG="SELECT ntk_fit('m', x, y) FROM train"
CLS="SELECT ntk_fit_classifier('m', x, label) FROM train"
P="SELECT ntk_predict('m', '{2, 1}')"
PV="SELECT ntk_predict_vector('m', '{2, 1}')"
PC="SELECT ntk_predict_class('m', '{2, 1}')"
PB="SELECT * FROM ntk_predict_batch('m', \$\$SELECT 1::bigint, '{2, 1}'::float8[]\$\$)"

damaged "classes with a NULL label" "$CLS" \
    "UPDATE ntk_models SET classes = ARRAY[NULL, 'class1', 'class2'] WHERE name = 'm'" "$PC" "$PB"
damaged "a regression model marked as a classifier" "$REG" \
    "UPDATE ntk_models SET task = 'classification' WHERE name = 'm'" "$PC" "$PB"
damaged "fewer classes than outputs (the best class is the last)" "$CLS" \
    "UPDATE ntk_models SET classes = ARRAY['class0'] WHERE name = 'm'" "$PC" "$PB"
damaged "more classes than outputs" "$CLS" \
    "UPDATE ntk_models SET classes = ARRAY['class0', 'class1', 'class2', 'class3'] WHERE name = 'm'" "$PC"
damaged "a data chunk cut mid-double" "$REG" \
    "UPDATE ntk_model_data SET data = substring(data FROM 1 FOR length(data) - 3) WHERE part = 'alpha'" "$P" "$PB"
damaged "a missing data part" "$REG" "DELETE FROM ntk_model_data WHERE part = 'x'" "$P" "$PB"
damaged "an extra chunk" "$REG" \
    "INSERT INTO ntk_model_data SELECT model_id, part, 1, data FROM ntk_model_data WHERE part = 'alpha'" "$P"
damaged "standardize without mean and scale" "$REG" \
    "UPDATE ntk_models SET options = options || '{\"standardize\": true}' WHERE name = 'm'" "$P" "$PB"
damaged "variance without its factor" "$REG" \
    "UPDATE ntk_models SET options = options || '{\"variance\": true}' WHERE name = 'm'" \
    "SELECT ntk_predict_var('m', '{2, 1}')"
damaged "n_train 0" "$REG" "UPDATE ntk_models SET n_train = 0 WHERE name = 'm'" "$P" "$PB"
damaged "n_train negative" "$REG" "UPDATE ntk_models SET n_train = -5 WHERE name = 'm'" "$P"
damaged "n_train larger than the data" "$REG" "UPDATE ntk_models SET n_train = 61 WHERE name = 'm'" "$P" "$PB"
damaged "n_train of two billion" "$REG" "UPDATE ntk_models SET n_train = 2000000000 WHERE name = 'm'" "$P"
damaged "n_features changed" "$REG" "UPDATE ntk_models SET n_features = 1 WHERE name = 'm'" \
    "SELECT ntk_predict('m', '{2}')" "SELECT * FROM ntk_predict_batch('m', \$\$SELECT 1::bigint, '{2}'::float8[]\$\$)"
damaged "n_outputs 0" "$REG" "UPDATE ntk_models SET n_outputs = 0 WHERE name = 'm'" "$PV" "$PB"
damaged "n_outputs larger than the data" "$CLS" "UPDATE ntk_models SET n_outputs = 4 WHERE name = 'm'" "$PC" "$PB"
damaged "depth -1" "$REG" "UPDATE ntk_models SET depth = -1 WHERE name = 'm'" "$P"
damaged "depth 100000" "$REG" "UPDATE ntk_models SET depth = 100000 WHERE name = 'm'" "$P" "$PB"
# sizes whose products wrap around 64 bits: refused before anything is allocated
damaged "n_train and n_features of 2^31 - 1" "$REG" \
    "UPDATE ntk_models SET n_train = 2147483647, n_features = 2147483647 WHERE name = 'm'" "$P" "$PB"
damaged "n_outputs of 2^31 - 1" "$REG" "UPDATE ntk_models SET n_outputs = 2147483647 WHERE name = 'm'" "$PV"
# values no fit stores: a NaN would come out of every prediction, or a variance of 0
NAN="'\\x000000000000f87f'::bytea"
damaged "a NaN among the dual coefficients" "$REG" \
    "UPDATE ntk_model_data SET data = overlay(data PLACING $NAN FROM 9 FOR 8) WHERE part = 'alpha'" "$P" "$PB"
damaged "an Infinity among the training inputs" "$REG" \
    "UPDATE ntk_model_data SET data = overlay(data PLACING '\\x000000000000f07f'::bytea FROM 1 FOR 8) WHERE part = 'x'" "$P"
damaged "a NaN in the variance's Cholesky factor" \
    "SELECT ntk_fit('m', x, y, '{\"variance\": true}') FROM train" \
    "UPDATE ntk_model_data SET data = overlay(data PLACING $NAN FROM 9 FOR 8) WHERE part = 'chol'" \
    "SELECT ntk_predict_var('m', '{2, 1}')"
damaged "a zero standardization scale" \
    "SELECT ntk_fit('m', x, y, '{\"standardize\": true}') FROM train" \
    "UPDATE ntk_model_data SET data = overlay(data PLACING '\\x0000000000000000'::bytea FROM 1 FOR 8) WHERE part = 'scale'" "$P"
damaged "sigma_w 0" "$REG" "UPDATE ntk_models SET sigma_w = 0 WHERE name = 'm'" "$P"
damaged "sigma_b NaN" "$REG" "UPDATE ntk_models SET sigma_b = 'NaN' WHERE name = 'm'" "$P"
damaged "standardize neither true nor false" "$REG" \
    "UPDATE ntk_models SET options = options || '{\"standardize\": \"maybe\"}' WHERE name = 'm'" "$P"
damaged "an unknown activation" "$REG" "UPDATE ntk_models SET activation = 'tanh' WHERE name = 'm'" "$P"

# re-chunking is legal: the arrays split into 12 chunks predict identically
out=$(q 2>&1 <<SQL
SET ROLE $ROLE;
SELECT ntk_fit('chunks', x, y, '{"standardize": true}') FROM train \\gset
SELECT ntk_predict('chunks', '{1.5, 0.5}') AS before \\gset
\\connect
WITH old AS (DELETE FROM ntk_model_data WHERE model_id = :ntk_fit AND part IN ('x', 'alpha') RETURNING *)
INSERT INTO ntk_model_data (model_id, part, chunk, data)
SELECT model_id, part, k,
       substring(data FROM 1 + k * (length(data) / 8 / 12) * 8
                      FOR CASE WHEN k = 11 THEN length(data) ELSE (length(data) / 8 / 12) * 8 END)
  FROM old, generate_series(0, 11) k
 WHERE part IN ('x', 'alpha');
SET ROLE $ROLE;
SELECT count(*) FROM ntk_model_data WHERE model_id = :ntk_fit;
SELECT ntk_predict('chunks', '{1.5, 0.5}') = :before;
SQL
)
if [ "$(printf '%s\n' "$out" | tail -2 | tr '\n' ' ')" = "26 t " ]; then
    ok "arrays stored in 12 chunks each predict exactly as in one"
else
    not_ok "arrays stored in 12 chunks each predict exactly as in one" "$out"
fi

# a session that cached a model sees an edit of its chunks committed by another
out=$(q 2>&1 <<SQL
SET ROLE $ROLE;
SELECT ntk_fit('edited', x, y) > 0 FROM train;
SELECT ntk_fit('doubled', x, 2 * y) > 0 FROM train;
SELECT ntk_predict('edited', '{1.5, 0.5}') * 2 = ntk_predict('doubled', '{1.5, 0.5}');
\\! psql -X -q -At -d "$FAULT_DB" -c "UPDATE ntk_model_data d SET data = s.data FROM ntk_model_data s WHERE d.model_id = (SELECT id FROM ntk_models WHERE name = 'edited') AND s.model_id = (SELECT id FROM ntk_models WHERE name = 'doubled') AND d.part = 'alpha' AND s.part = 'alpha' AND s.chunk = d.chunk"
SELECT ntk_predict('edited', '{1.5, 0.5}') = ntk_predict('doubled', '{1.5, 0.5}');
RESET ROLE;
UPDATE ntk_model_data SET data = overlay(data PLACING '\\x000000000000f87f'::bytea FROM 1 FOR 8)
 WHERE part = 'alpha' AND model_id = (SELECT id FROM ntk_models WHERE name = 'edited');
SET ROLE $ROLE;
\\set ON_ERROR_STOP 0
\\set VERBOSITY sqlstate
SELECT ntk_predict('edited', '{1.5, 0.5}');
SQL
)
if [ "$(printf '%s\n' "$out" | sed 's/^psql:[^ ]* //' | tr '\n' ' ')" = "t t t t ERROR:  XX001 " ]; then
    ok "a cached model follows edits of its chunks, by another session and by its own"
else
    not_ok "a cached model follows edits of its chunks, by another session and by its own" "$out"
fi

# the same when the edit commits while the caching session's statement runs
# under an older snapshot: the model it loads then must not outlive that snapshot
X="(SELECT x FROM train WHERE id = 1)"
q >/dev/null <<SQL
SET ROLE $ROLE;
SELECT ntk_fit('race1', x, 1.0::float8) FROM train;
SELECT ntk_fit('race2', x, 2.0::float8) FROM train;
SQL
q >/tmp/ntk-race.$$ 2>&1 <<SQL &
SET ROLE $ROLE;
SELECT round(ntk_predict('race1', $X)::numeric, 1);
SELECT pg_sleep(0.3);
SELECT string_agg(round(ntk_predict('race1', $X)::numeric, 1)::text, ',') FROM (SELECT pg_sleep(1.5) FROM generate_series(1, 2) OFFSET 0) s;
SELECT round(ntk_predict('race1', $X)::numeric, 1);
SELECT round(prediction::numeric, 1) FROM ntk_predict_batch('race1', 'SELECT 1::bigint, x FROM train WHERE id = 1');
SQL
sleep 0.1
q -c "SELECT txid_current()" >/dev/null
sleep 0.9
q -c "UPDATE ntk_model_data d SET data = s.data FROM ntk_model_data s WHERE d.model_id = (SELECT id FROM ntk_models WHERE name = 'race1') AND s.model_id = (SELECT id FROM ntk_models WHERE name = 'race2') AND d.part = 'alpha' AND s.part = 'alpha' AND s.chunk = d.chunk"
wait
out=$(grep -v '^$' /tmp/ntk-race.$$ | tr '\n' ' '); rm -f /tmp/ntk-race.$$
if [ "$out" = "1.0 1.0,1.0 2.0 2.0 " ]; then
    ok "a model loaded under a snapshot older than a committed chunk edit is loaded again by the next statement"
else
    not_ok "a model loaded under a snapshot older than a committed chunk edit is loaded again by the next statement" \
        "the session predicted (before, during, after, batch after): $out"
fi

[ "$(server_epoch)" = "$EPOCH" ] && ok "the server did not restart unnoticed" \
    || not_ok "the server did not restart unnoticed"
fault_finish
