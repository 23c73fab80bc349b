#!/usr/bin/env bash
# test/fault/security.sh: the findings of the 0.1.0 security audit that need
# more than one session, a database of their own or pg_dump (the others are in
# test/pgtap/04_security.sql): installing into a schema every role may write
# (F1), locks (F2), cache flushes by other sessions' unrelated invalidations
# (F5), a revocation inside REPEATABLE READ (F6), the thread cap (F7) and a
# non-superuser's pg_dump (F9).  The checks are in security.py; it creates
# LOGIN roles ntk_sec_* and drops them at exit.
. "$(dirname "$0")/lib.sh"
need_superuser
fault_db || { not_ok "create the database"; fault_finish; }
FAULT_ROLES="ntk_sec_alice ntk_sec_bob ntk_sec_carol ntk_sec_team ntk_sec_etl"
FAULT_DBS="$FAULT_DBS ntk_fault_security_pub ntk_fault_security_own ntk_fault_security_own2"
cd "$FAULT_TMP" || exit 1
PYTHONPATH="$FAULT_DIR" FAULT_TMP="$FAULT_TMP" PG_BIN="$PG_BIN" timeout 150 "$PY" "$FAULT_DIR/security.py" "$FAULT_DB"
rc=$?
[ $rc = 0 ] || [ $rc = 1 ] || echo "not ok - security: security.py ended with status $rc"
exit $rc
