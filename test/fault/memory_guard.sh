#!/usr/bin/env bash
# test/fault/memory_guard.sh: ntk.max_memory refuses a fit that needs more,
# with SQLSTATE 54000, quickly and before allocating; other sessions and
# smaller fits are unaffected.  The checks are in memory_guard.py.
. "$(dirname "$0")/lib.sh"
need_superuser
fault_db || { not_ok "create the database"; fault_finish; }
cd "$FAULT_TMP" || exit 1
PYTHONPATH="$FAULT_DIR" timeout 120 "$PY" "$FAULT_DIR/memory_guard.py" "$FAULT_DB"
rc=$?
[ $rc = 0 ] || [ $rc = 1 ] || echo "not ok - memory_guard: memory_guard.py ended with status $rc"
exit $rc
