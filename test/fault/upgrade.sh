#!/usr/bin/env bash
# test/fault/upgrade.sh: a database with 0.1.0 models keeps every model, with
# bit-identical predictions, through ALTER EXTENSION ntk UPDATE to 0.2.0.
#
# Builds 0.1.0 (commit 6032c31) from this repository's history in a temporary
# directory and installs it, fits models of every kind as several roles (a
# group's model and a dropped role's too), records every prediction as the
# bits of its float8, installs this tree again, updates and predicts again.
# The updated database must describe the same objects as a fresh install of
# 0.2.0, and the update must refuse a schema every role may write.  Installs
# system-wide, like make install: run it under the install lock.  Reinstalls
# this tree at exit whatever happens.
. "$(dirname "$0")/lib.sh"
need_superuser
OLD_COMMIT=6032c31
ROOT=$(cd "$FAULT_DIR/../.." && pwd)
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"

install_current() { (cd "$ROOT" && make -s >/dev/null && $SUDO make -s install >/dev/null); }
trap 'install_current; fault_cleanup' EXIT

OLD=$FAULT_TMP/ntk-$OLD_COMMIT
mkdir -p "$OLD"
if ! git -C "$ROOT" archive "$OLD_COMMIT" | tar -x -C "$OLD"; then
    not_ok "extract $OLD_COMMIT from the repository (a shallow clone lacks it: git fetch --unshallow)"
    fault_finish
fi
if ! (cd "$OLD" && make -s -j2 >build.log 2>&1 && $SUDO make -s install >>build.log 2>&1); then
    not_ok "build and install 0.1.0" "$(tail -5 "$OLD/build.log")"
    fault_finish
fi
ok "0.1.0 built and installed from $OLD_COMMIT"

fault_db || { not_ok "create the database"; fault_finish; }
fault_new_db ntk_fault_upgrade_pub || { not_ok "create the second database"; fault_finish; }
for r in ntk_up_alice ntk_up_team ntk_up_carol ntk_up_gone ntk_up_bob; do fault_role $r; done
is "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'ntk'")" 0.1.0 "the database has ntk 0.1.0"

q >/dev/null <<'SQL' || { not_ok "fit the 0.1.0 models"; fault_finish; }
GRANT ntk_up_team TO ntk_up_carol;
CREATE TABLE tr AS
SELECT i, ARRAY[sin(i), cos(i), (i % 7)::float8]::float8[] AS x, (i % 5)::float8 + 0.1 * sin(3 * i) AS y,
       ARRAY[(i % 5)::float8, cos(i)] AS yv, 'c' || (i % 3) AS label
  FROM generate_series(1, 120) i;
CREATE TABLE qs AS
SELECT j::bigint AS id, ARRAY[sin(j / 3.0), cos(j / 5.0), (j % 7)::float8 + 0.5]::float8[] AS x
  FROM generate_series(1, 7) j;
GRANT SELECT ON tr, qs TO PUBLIC;
SET ROLE ntk_up_alice;
SELECT ntk_fit('reg', x, y) FROM tr;
SELECT ntk_fit('reg_std_erf', x, y, '{"standardize": true, "activation": "erf", "depth": 4, "sigma_b": 0.1}') FROM tr;
SELECT ntk_fit('vec', x, yv, '{"kernel": "nngp"}') FROM tr;
SELECT ntk_fit_classifier('cls', x, label) FROM tr;
SELECT ntk_fit('var', x, y, '{"variance": true}') FROM tr;
SELECT ntk_fit('var_t', x, y, '{"variance": true, "t": 50}') FROM tr;
SELECT ntk_fit('tuned', x, y, '{"depth": [1, 2, 3], "ridge": "auto"}') FROM tr;
RESET ROLE;
SET ROLE ntk_up_team;
SELECT ntk_fit('team_m', x, y) FROM tr;
RESET ROLE;
SET ROLE ntk_up_gone;
SELECT ntk_fit('orphan', x, y) FROM tr;
RESET ROLE;
DROP ROLE ntk_up_gone;
SQL

# every prediction as the bits of its float8
PREDICT=$(cat <<'SQL'
SET ROLE ntk_up_alice;
SELECT m, id, encode(float8send(v), 'hex') FROM (
  SELECT 'reg' m, id, ntk_predict('reg', x) v FROM qs
  UNION ALL SELECT 'reg_std_erf', id, ntk_predict('reg_std_erf', x) FROM qs
  UNION ALL SELECT 'vec' || k, id, (ntk_predict_vector('vec', x))[k] FROM qs, generate_series(1, 2) k
  UNION ALL SELECT 'cls' || k, id, (ntk_predict_vector('cls', x))[k] FROM qs, generate_series(1, 3) k
  UNION ALL SELECT 'var', id, ntk_predict('var', x) FROM qs
  UNION ALL SELECT 'var.var', id, ntk_predict_var('var', x) FROM qs
  UNION ALL SELECT 'var_t.var', id, ntk_predict_var('var_t', x) FROM qs
  UNION ALL SELECT 'var_t', id, ntk_predict('var_t', x) FROM qs
  UNION ALL SELECT 'tuned', id, ntk_predict('tuned', x) FROM qs
  UNION ALL SELECT 'batch', id, prediction FROM ntk_predict_batch('reg', 'SELECT id, x FROM qs')
  UNION ALL SELECT 'batch.cls.' || label, id, outputs[1] FROM ntk_predict_batch('cls', 'SELECT id, x FROM qs')
) s ORDER BY 1, 2;
SELECT 'class', id, ntk_predict_class('cls', x) FROM qs ORDER BY id;
SET ROLE ntk_up_carol;
SELECT 'team', id, encode(float8send(ntk_predict('team_m', x)), 'hex') FROM qs ORDER BY id;
RESET ROLE;
SELECT 'models', string_agg(name || ':' || owner, ',' ORDER BY name) FROM ntk_models;
SQL
)
q -c "$PREDICT" >"$FAULT_TMP/before" 2>&1
[ "$(wc -l <"$FAULT_TMP/before")" -ge 100 ] && ok "0.1.0 predicts ($(wc -l <"$FAULT_TMP/before") lines)" \
    || not_ok "0.1.0 predicts" "$(head -5 "$FAULT_TMP/before")"

# 0.1.0 in a public schema every role may write (a cluster from PostgreSQL 14)
qdb ntk_fault_upgrade_pub -c "GRANT CREATE ON SCHEMA public TO PUBLIC" >/dev/null

if ! install_current; then
    not_ok "build and install this tree"
    fault_finish
fi
q -c "$PREDICT" >"$FAULT_TMP/between" 2>&1
# The library's numerics may move the last bits of a kernel value between
# releases (the exact route of nearly parallel pairs, block sizes of a batch's
# matrix products), which predictions of these nearly interpolating models
# (ridge 1e-6) amplify up to 1e-10: within 1e-8 of 0.1.0's (relative to the
# value, or 1), then bit for bit across the update.
close_files() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import struct, sys
a = open(sys.argv[1]).read().splitlines()
b = open(sys.argv[2]).read().splitlines()
def val(f):
    try:
        return struct.unpack(">d", bytes.fromhex(f))[0] if len(f) == 16 else None
    except ValueError:
        return None
bad = [(x, y) for x, y in zip(a, b) if x != y and not (
    x.rsplit("|", 1)[0] == y.rsplit("|", 1)[0]
    and val(x.rsplit("|", 1)[-1]) is not None and val(y.rsplit("|", 1)[-1]) is not None
    and abs(val(x.rsplit("|", 1)[-1]) - val(y.rsplit("|", 1)[-1]))
        <= 1e-8 * max(abs(val(x.rsplit("|", 1)[-1])), 1.0))]
if len(a) != len(b) or bad:
    print("%d lines against %d; differing beyond 1e-8: %s" % (len(a), len(b), bad[:5]))
    sys.exit(1)
PY
}
if out=$(close_files "$FAULT_TMP/before" "$FAULT_TMP/between"); then
    ok "the new library predicts the 0.1.0 models as 0.1.0 did, to 1e-8, before the update ($(grep -c . "$FAULT_TMP/before") lines)"
else
    not_ok "the new library predicts the 0.1.0 models as 0.1.0 did, to 1e-8, before the update" "$out"
fi
# pg_dump of the 0.1.0 database, restored into a new database of this
# version: CREATE EXTENSION makes 0.2.0, the models come back with their ids,
# owners (owner_oid from the owner's name) and chunks, and predict as the
# models of the 0.1.0 database do with this library, bit for bit.
RESTORED=ntk_fault_upgrade_restored
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $RESTORED WITH (FORCE)" \
    -c "CREATE DATABASE $RESTORED" >/dev/null && FAULT_DBS="$FAULT_DBS $RESTORED"
if out=$(pg_dump -Fc -d "$FAULT_DB" -f "$FAULT_TMP/v010.dump" 2>&1 \
         && pg_restore -d "$RESTORED" --exit-on-error "$FAULT_TMP/v010.dump" 2>&1); then
    ok "pg_dump of the 0.1.0 database restores into a new database with this version"
else
    not_ok "pg_dump of the 0.1.0 database restores into a new database with this version" "$out"
fi
is "$(qdb "$RESTORED" -c "SELECT extversion FROM pg_extension WHERE extname = 'ntk'")" 0.2.0 \
   "the restored database has ntk 0.2.0"
qdb "$RESTORED" -c "$PREDICT" >"$FAULT_TMP/restored" 2>&1
same_file "$FAULT_TMP/between" "$FAULT_TMP/restored" \
   "every restored model predicts bit for bit as in the 0.1.0 database (and keeps its owner)"
is "$(qdb "$RESTORED" -c "SELECT string_agg(name || ':' || owner_oid::text, ',' ORDER BY name) FROM ntk_models")" \
   "cls:ntk_up_alice,orphan:-,reg:ntk_up_alice,reg_std_erf:ntk_up_alice,team_m:ntk_up_team,tuned:ntk_up_alice,var:ntk_up_alice,var_t:ntk_up_alice,vec:ntk_up_alice" \
   "the restored models' owner_oid is each owner's role; the dropped role's model has none"
out=$(qdb "$RESTORED" 2>&1 <<'SQL'
SET ROLE ntk_up_alice;
SELECT ntk_fit('after_restore', x, y) > 0 FROM tr;
SELECT ntk_fit('reg', x, 2 * y) > 0 FROM tr;
SELECT abs(ntk_predict('reg', x) - 2 * ntk_predict('var', x)) <= 1e-9 * abs(ntk_predict('reg', x)) FROM qs WHERE id = 1;
SELECT count(*) FROM ntk_models WHERE id > 0;
SQL
)
is "$(printf '%s\n' "$out" | tr '\n' ' ')" "t t t 8 " \
   "in the restored database alice fits a new model and refits an old one"

out=$(q -c "\\set VERBOSITY sqlstate" -c "SET ROLE ntk_up_alice" -c "SELECT ntk_fit('between', x, y) FROM tr" 2>&1)
out2=$(q -c "\\set VERBOSITY sqlstate" -c "SET ROLE ntk_up_alice" -c "SELECT ntk_drop_model('reg')" 2>&1)
is "$(printf '%s %s' "$out" "$out2" | sed 's/psql:[^ ]* //g')" "ERROR:  55000 ERROR:  55000" \
   "before the update a fit and a drop are 55000 (ALTER EXTENSION ntk UPDATE), and change nothing"

out=$(q -c "ALTER EXTENSION ntk UPDATE" -c "SELECT extversion FROM pg_extension WHERE extname = 'ntk'" 2>&1)
is "$out" 0.2.0 "ALTER EXTENSION ntk UPDATE goes to 0.2.0"
q -c "$PREDICT" >"$FAULT_TMP/after" 2>&1
same_file "$FAULT_TMP/between" "$FAULT_TMP/after" "every model predicts bit for bit as before the update (and the owners are kept)"

is "$(q -c "SELECT string_agg(name || ':' || owner_oid::text, ',' ORDER BY name) FROM ntk_models")" \
   "cls:ntk_up_alice,orphan:-,reg:ntk_up_alice,reg_std_erf:ntk_up_alice,team_m:ntk_up_team,tuned:ntk_up_alice,var:ntk_up_alice,var_t:ntk_up_alice,vec:ntk_up_alice" \
   "owner_oid is each owner's role; the dropped role's model has none"

# the updated store behaves as 0.2.0's
out=$(q 2>&1 <<'SQL'
\set ON_ERROR_STOP 0
\set VERBOSITY sqlstate
CREATE ROLE ntk_up_gone;
SET ROLE ntk_up_gone;
SELECT count(*) FROM ntk_models;
RESET ROLE;
DROP ROLE ntk_up_gone;
SET ROLE ntk_up_bob;
SELECT count(*) FROM ntk_models;
BEGIN;
LOCK TABLE ntk_models IN ACCESS EXCLUSIVE MODE;
ROLLBACK;
SELECT ntk_fit('reg', x, y) FROM tr;
RESET ROLE;
SELECT ntk_fit('reg', x, y) FROM tr;
SET ROLE ntk_up_alice;
SELECT ntk_fit('reg', x, 2 * y) > 0 FROM tr;
SELECT abs(ntk_predict('reg', x) - 2 * ntk_predict('var', x)) <= 1e-9 * abs(ntk_predict('reg', x)) FROM qs WHERE id = 1;
SELECT ntk_drop_model('reg');
SQL
)
is "$(printf '%s\n' "$out" | sed 's/^psql:[^ ]* //' | tr '\n' ' ')" \
   "0 0 ERROR:  42501 ERROR:  42501 ERROR:  42501 t t t " \
   "after the update: a new role with a dropped owner's name sees nothing, bob cannot lock, neither bob nor the superuser takes alice's name, alice refits and drops"

# the same objects as a fresh install of 0.2.0
DESCRIBE=$(cat <<'SQL'
SELECT 'member', pg_describe_object(classid, objid, objsubid) FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ntk')
UNION ALL
SELECT 'column', c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE c.relname IN ('ntk_models', 'ntk_model_data')
UNION ALL
SELECT 'acl', c.relname || ' ' || coalesce(c.relacl::text, '')
  FROM pg_class c WHERE c.relname IN ('ntk_models', 'ntk_model_data', 'ntk_models_id_seq')
UNION ALL
SELECT 'policy', polname || ' ' || coalesce(pg_get_expr(polqual, polrelid), '') || ' '
       || coalesce(pg_get_expr(polwithcheck, polrelid), '') FROM pg_policy
UNION ALL
SELECT 'trigger', pg_get_triggerdef(oid) FROM pg_trigger
 WHERE tgrelid IN ('ntk_models'::regclass, 'ntk_model_data'::regclass) AND NOT tgisinternal
UNION ALL
SELECT 'function', p.proname || '(' || pg_get_function_arguments(p.oid) || ') ' || md5(p.prosrc)
       || coalesce(array_to_string(p.proconfig, ','), '') || p.prosecdef::text
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
   AND p.proname LIKE 'ntk%' OR p.proname = 'nngp_kernel'
ORDER BY 1, 2;
SQL
)
q -c "$DESCRIBE" >"$FAULT_TMP/updated" 2>&1
fault_new_db ntk_fault_upgrade_fresh || not_ok "create a fresh 0.2.0 database"
qdb ntk_fault_upgrade_fresh -c "$DESCRIBE" >"$FAULT_TMP/fresh" 2>&1
[ "$(grep -c . "$FAULT_TMP/fresh")" -ge 40 ] || not_ok "describe the objects of ntk" "$(head -5 "$FAULT_TMP/fresh")"
same_file "$FAULT_TMP/fresh" "$FAULT_TMP/updated" "the updated database describes the same ntk objects ($(grep -c . "$FAULT_TMP/fresh") lines) as a fresh install of 0.2.0"

# the update refuses a schema every role may write, until that is revoked
out=$(qdb ntk_fault_upgrade_pub -c "\\set VERBOSITY sqlstate" -c "ALTER EXTENSION ntk UPDATE" 2>&1)
is "$(printf '%s\n' "$out" | sed 's/^psql:[^ ]* //')" "ERROR:  42501" \
   "ALTER EXTENSION ntk UPDATE in a public schema every role may write is refused"
out=$(qdb ntk_fault_upgrade_pub -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC" -c "ALTER EXTENSION ntk UPDATE" \
        -c "SELECT extversion FROM pg_extension WHERE extname = 'ntk'" 2>&1)
is "$out" 0.2.0 "after REVOKE CREATE ON SCHEMA public FROM PUBLIC the update goes through"

fault_finish
