#!/usr/bin/env bash
# test/run_all.sh: every test of ntk, from a fresh Debian/Ubuntu machine.
#
# Installs the packages it needs, builds and installs the extension, runs the
# C unit tests and the numpy-reference tests of the numerics (no server),
# then starts a throwaway cluster for pg_regress and pgTAP, and removes it.
# The last line is "checks: N passed, N failed"; the exit status is non-zero
# on any failure.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3
. test/deps.sh
. test/cluster.sh

if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
    echo "run as root or with sudo: installing packages and the extension needs it" >&2
    exit 2
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

ntk_install_deps clang libclang-rt-14-dev cppcheck valgrind || { echo "checks: 0 passed, 1 failed"; exit 1; }

passed=0; failed=0; failures=""
check() {   # check NAME COMMAND...: runs one check, records the outcome
    local name=$1; shift
    echo "=== $name"
    if "$@"; then
        passed=$((passed + 1)); echo "--- ok: $name"
    else
        failed=$((failed + 1)); failures="$failures $name"; echo "--- FAILED: $name"
    fi
}
finish() {
    [ -z "$failures" ] || echo "failed:$failures"
    echo "checks: $passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit $?
}

build() { make -s clean >/dev/null && make -s ${NTK_CFLAGS:+COPT="$NTK_CFLAGS"} && $SUDO make -s install >/dev/null; }
check build build || finish

# 1. numerics without a server
check unit-c make -s unitcheck
check numpy-reference bash -c "make -s test/unit/libntkcore.so && $PY test/python/test_kernel_ref.py"
check near-parallel $PY test/python/test_near_parallel.py
check finite-width $PY test/python/test_finite_width.py
check properties $PY test/python/test_properties.py
check nystrom $PY test/python/test_nystrom.py

# 2. the numerics under AddressSanitizer + UBSan, the deterministic fuzz run
# of the numerics and the validation decisions (committed seeds, then a fixed
# number of runs from a fixed seed), lint
check sanitizers bash test/sanitize.sh
check fuzz bash test/fuzz/run.sh
check lint bash test/lint.sh
build >/dev/null 2>&1 || true   # lint rebuilt with other flags: reinstall the normal build

# 3. SQL: pg_regress and pgTAP on a throwaway cluster
cluster_start || { failed=$((failed + 1)); failures="$failures cluster"; finish; }
chmod -R a+rwX "$ROOT" 2>/dev/null   # pg_regress writes results/ as the cluster owner

installcheck() {
    if [ -n "$CLUSTER_RUN" ]; then
        $CLUSTER_RUN make -s installcheck PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER"
    else
        make -s installcheck
    fi
    local rc=$?
    [ $rc = 0 ] || { [ -f regression.diffs ] && head -200 regression.diffs; }
    return $rc
}
check pg_regress installcheck

check pgtap make -s tapcheck

for t in test/python/test_sql_*.py; do
    [ -e "$t" ] || continue
    check "$(basename "$t" .py)" $PY "$t"
done

# malformed calls of every SQL function from a fixed seed: clean errors only
check fuzz-sql $PY test/fuzz/fuzz_sql.py

# the SQL functions once under valgrind memcheck, in a single-user backend
check valgrind bash test/valgrind.sh

# 4. faults: dump/restore, concurrency, cancel, memory guard, standby, kill -9
# (last: it restarts the cluster)
check fault bash test/fault/run.sh

cluster_stop
finish
