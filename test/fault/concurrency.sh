#!/usr/bin/env bash
# test/fault/concurrency.sh: predictions stay exact while the model is refitted.
#
# pgbench clients and watcher sessions predict while another session refits
# the same model; cache invalidation across backends; two sessions refitting
# one name at once.  The checks are in concurrency.py.
. "$(dirname "$0")/lib.sh"
need_superuser
fault_db || { not_ok "create the database"; fault_finish; }
cd "$FAULT_TMP" || exit 1
PYTHONPATH="$FAULT_DIR" timeout 150 "$PY" "$FAULT_DIR/concurrency.py" "$FAULT_DB"
rc=$?
[ $rc = 0 ] || [ $rc = 1 ] || echo "not ok - concurrency: concurrency.py ended with status $rc"
exit $rc
