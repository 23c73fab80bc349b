#!/usr/bin/env bash
# test/fault/cancel.sh: statement_timeout, pg_cancel_backend and
# pg_terminate_backend stop a long fit promptly, store nothing and leave the
# session usable.  The checks are in cancel.py; they read the backend's
# /proc entry, so run this on the server's host.
. "$(dirname "$0")/lib.sh"
need_superuser
fault_db || { not_ok "create the database"; fault_finish; }
cd "$FAULT_TMP" || exit 1
PYTHONPATH="$FAULT_DIR" timeout 300 "$PY" "$FAULT_DIR/cancel.py" "$FAULT_DB"
rc=$?
[ $rc = 0 ] || [ $rc = 1 ] || echo "not ok - cancel: cancel.py ended with status $rc"
exit $rc
