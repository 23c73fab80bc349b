# shellcheck shell=bash
# test/fault/lib.sh: helpers shared by the fault tests; source it.
#
# Every test connects to the cluster given by the PG* environment variables as
# a superuser, works in a database of its own (fault_db creates it and drops
# it at exit), prints one "ok - ..." or "not ok - ..." line per check and ends
# with fault_finish, which exits non-zero if any check failed.

set -u

FAULT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PY:-/usr/bin/python3}
PG_BIN=${PG_BIN:-$(pg_config --bindir)}
FAULT_NAME=$(basename "$0" .sh)
FAULT_PASSED=0
FAULT_FAILED=0
FAULT_DBS=""
FAULT_TMP=$(mktemp -d "/tmp/ntk-fault-$FAULT_NAME.XXXXXX")
chmod 755 "$FAULT_TMP"

# ok DESCRIPTION / not_ok DESCRIPTION [DETAIL...]
ok() {
    FAULT_PASSED=$((FAULT_PASSED + 1))
    echo "ok - $FAULT_NAME: $1"
}
not_ok() {
    FAULT_FAILED=$((FAULT_FAILED + 1))
    echo "not ok - $FAULT_NAME: $1"
    shift
    local line
    for line in "$@"; do printf '%s\n' "$line" | sed 's/^/#   /'; done
}

# check DESCRIPTION COMMAND...: ok if the command succeeds
check() {
    local desc=$1; shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# is GOT WANT DESCRIPTION: ok if the two strings are equal
is() {
    if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3" "got:  $1" "want: $2"; fi
}

# same_file A B DESCRIPTION: ok if the two files are identical (diff shown if not)
same_file() {
    if cmp -s "$1" "$2"; then
        ok "$3"
    else
        not_ok "$3" "files differ: $1 $2"
        diff "$1" "$2" | head -20 | sed 's/^/#     /'
    fi
}

# q [psql args...]: psql in the test database, unaligned, no headers, stop on error
q() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$FAULT_DB" "$@"
}

# qdb DB [psql args...]
qdb() {
    local db=$1; shift
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"
}

# fault_db [SUFFIX]: creates a fresh database with ntk, sets FAULT_DB
fault_db() {
    local db="ntk_fault_${FAULT_NAME}${1:+_$1}"
    fault_new_db "$db" || return 1
    FAULT_DB=$db
}

# fault_new_db NAME: a fresh database with ntk, dropped at exit
fault_new_db() {
    local db=$1
    psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null || return 1
    FAULT_DBS="$FAULT_DBS $db"
    qdb "$db" -c "CREATE EXTENSION ntk" >/dev/null
}

# fault_role NAME: a fresh NOSUPERUSER role, dropped at exit after the databases
fault_role() {
    psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
        -c "DROP ROLE IF EXISTS $1" -c "CREATE ROLE $1 NOSUPERUSER NOLOGIN" >/dev/null || return 1
    FAULT_ROLES="$FAULT_ROLES $1"
}
FAULT_ROLES=""

fault_cleanup() {
    local db role
    fault_wait_ready 30 >/dev/null 2>&1
    for db in $FAULT_DBS; do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    done
    for role in $FAULT_ROLES; do
        psql -X -q -d postgres -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1
    done
    rm -rf "$FAULT_TMP"
}
trap fault_cleanup EXIT
trap "exit 143" TERM INT

# fault_wait_ready SECONDS: waits until the server accepts connections again
fault_wait_ready() {
    local limit=$1 t=0
    while [ "$t" -lt $((limit * 10)) ]; do
        psql -X -q -At -d postgres -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.1
        t=$((t + 1))
    done
    return 1
}

# server_epoch: changes whenever the server restarts, also after a crash of a
# backend (the postmaster stays, but restarts every auxiliary process)
server_epoch() {
    psql -X -q -At -d postgres -c "SELECT pg_postmaster_start_time() || ' ' || backend_start
                                      FROM pg_stat_activity WHERE backend_type = 'checkpointer'" 2>/dev/null
}

# now_ms: wall clock in milliseconds
now_ms() { date +%s%3N; }

# need_superuser: the fault tests create databases and roles and kill backends
need_superuser() {
    local su
    su=$(psql -X -q -At -d postgres -c "SELECT rolsuper FROM pg_roles WHERE rolname = current_user" 2>&1)
    if [ "$su" != t ]; then
        not_ok "connect as a superuser to the cluster of the PG* variables" "$su"
        fault_finish
    fi
}

fault_finish() {
    echo "# $FAULT_NAME: $FAULT_PASSED passed, $FAULT_FAILED failed"
    [ "$FAULT_FAILED" = 0 ]
    exit $?
}
