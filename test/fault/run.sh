#!/usr/bin/env bash
# test/fault/run.sh: the fault tests of the model store, against the cluster
# given by the PG* environment variables (a superuser connection on this host:
# the tests kill backends and read /proc).
#
#   test/fault/run.sh                 every test
#   test/fault/run.sh cancel tamper   some of them
#   test/fault/run.sh --own-cluster   in a throwaway cluster (test/cluster.sh)
#
# ntk must be installed (make install).  Each test works in a database of its
# own and drops it.  The last line is "N passed, M failed"; the exit status is
# non-zero on any failure.  Takes about two minutes.
set -u
FAULT_DIR=$(cd "$(dirname "$0")" && pwd)
ALL="dump_restore concurrency memory_guard cancel eigh_child reinstall standby tamper security upgrade kill_backend"

own=0
tests=""
for arg in "$@"; do
    case $arg in
        --own-cluster) own=1 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) [ -x "$FAULT_DIR/$arg.sh" ] || { echo "no test $arg (tests: $ALL)" >&2; exit 2; }
           tests="$tests $arg" ;;
    esac
done
[ -n "$tests" ] || tests=$ALL

if [ $own = 1 ]; then
    . "$FAULT_DIR/../cluster.sh"
    NTK_TEST_PORT=${NTK_TEST_PORT:-54339} cluster_start || exit 1
fi

# prerequisites, so that a missing tool is one clear failure
PY=${PY:-/usr/bin/python3}
missing=""
for tool in psql pg_dump pg_restore pgbench; do
    command -v $tool >/dev/null || missing="$missing $tool"
done
"$PY" -c "import psycopg2" 2>/dev/null || missing="$missing $PY-with-psycopg2"
if [ -n "$missing" ]; then
    echo "not ok - run: missing:$missing"
    echo "0 passed, 1 failed"
    exit 1
fi
if [ "$(psql -X -q -At -d postgres -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'ntk'" 2>&1)" != 1 ]; then
    echo "not ok - run: the cluster at ${PGHOST:-?}:${PGPORT:-?} has no ntk extension available (make install)"
    echo "0 passed, 1 failed"
    exit 1
fi

passed=0
failed=0
failures=""
start=$(date +%s)
for t in $tests; do
    t0=$(date +%s)
    out=$(timeout 170 bash "$FAULT_DIR/$t.sh" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | grep -c '^ok - ')
    f=$(printf '%s\n' "$out" | grep -c '^not ok - ')
    if [ $rc != 0 ] && [ "$f" = 0 ]; then
        echo "not ok - $t: ended with status $rc$([ $rc = 124 ] && echo ' (timeout)')"
        f=1
    fi
    echo "# $t took $(( $(date +%s) - t0 )) s"
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" = 0 ] || failures="$failures $t"
done
echo "# fault tests took $(( $(date +%s) - start )) s${failures:+; failed in:$failures}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
