#!/usr/bin/env bash
# test/fault/eigh_child.sh: the eigendecomposition's child process (see
# src/compute_child.c) stops within a second of a cancel, never outlives its
# backend, and keeps the fit within its memory estimate.  The checks are in
# eigh_child.py; they read /proc and kill -9 a backend, so run this on the
# server's host as root or as the server's user.
. "$(dirname "$0")/lib.sh"
need_superuser
fault_db || { not_ok "create the database"; fault_finish; }
cd "$FAULT_TMP" || exit 1
PYTHONPATH="$FAULT_DIR" timeout 160 "$PY" "$FAULT_DIR/eigh_child.py" "$FAULT_DB"
rc=$?
[ $rc = 0 ] || [ $rc = 1 ] || echo "not ok - eigh_child: eigh_child.py ended with status $rc"
exit $rc
