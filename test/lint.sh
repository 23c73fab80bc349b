#!/usr/bin/env bash
# test/lint.sh: static checks of src/.
#
#  1. cppcheck on src/ with the PostgreSQL server headers
#     (--enable=warning,portability,performance, errors fail the check),
#     and once more on the pure numerics without x86-64 (the portable-only
#     build of recursion.c);
#  2. a warnings-as-errors build of the extension with -Wextra, in a
#     temporary copy of the tree (the tree's own build products are not
#     touched), the C unit tests likewise, and a clang -Wall -Wextra -Werror
#     syntax check of the numerics, the unit tests and the fuzz harness.
#
# Usage: test/lint.sh            exits non-zero on any finding
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PG_CONFIG=${PG_CONFIG:-pg_config}
PGINC=$($PG_CONFIG --includedir-server) || { echo "lint: pg_config not found" >&2; exit 2; }
if ! command -v cppcheck >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q cppcheck >/dev/null \
            || { echo "lint: could not install cppcheck" >&2; exit 2; }
    else
        echo "lint: needs cppcheck (apt-get install cppcheck)" >&2; exit 2
    fi
fi

start=$(date +%s)
failed=""
NUMERICS=$(ls src/core/*.c)  # the core: CORE_SRCS of the Makefile

# --- 1. cppcheck ------------------------------------------------------------
#
# Pinned configuration (-D...): the one we build, gcc on x86-64 Linux.  Left
# to itself cppcheck tries every #ifdef combination of the PostgreSQL headers
# (minutes) and checks only 12 of them anyway.
#
# Suppressions, all false positives from PostgreSQL's own headers and macros:
#  - '*:$PGINC/*': findings located inside the server headers (Assert()
#    followed by a dereference in pg_list.h reads as a redundant NULL check;
#    float.h's get_float8_nan() casts NAN's bits);
#  - invalidPointerCast in src/arrays.c: ARR_DATA_PTR() is a char *, and the
#    MAXALIGNed data of a float8[] is read as double * the way PostgreSQL
#    itself does.
t0=$(date +%s)
CPPCHECK_COMMON="-q --enable=warning,portability,performance --error-exitcode=1
    --inline-suppr --std=c99 -j $(nproc)"
# shellcheck disable=SC2086
cppcheck $CPPCHECK_COMMON \
    -D__GNUC__=12 -D__x86_64__ -D__linux__ \
    -I src -I src/core -I "$PGINC" \
    "--suppress=*:$PGINC/*" \
    --suppress=invalidPointerCast:src/arrays.c \
    src/ 2>&1 | tee /tmp/ntk-lint-cppcheck.$$
rc1=${PIPESTATUS[0]}
# shellcheck disable=SC2086
cppcheck $CPPCHECK_COMMON -D__GNUC__=12 -U__x86_64__ -D__linux__ -I src/core \
    $NUMERICS 2>&1 | tee -a /tmp/ntk-lint-cppcheck.$$
rc2=${PIPESTATUS[0]}
nfind=$(grep -cE '^[^ ].*: (error|warning|portability|performance|style):' /tmp/ntk-lint-cppcheck.$$)
rm -f /tmp/ntk-lint-cppcheck.$$
if [ "$rc1" != 0 ] || [ "$rc2" != 0 ]; then
    echo "lint: cppcheck FAILED ($nfind findings)"
    failed="$failed cppcheck"
else
    echo "lint: cppcheck clean ($(( $(date +%s) - t0 )) s)"
fi

# --- 2. warnings as errors ----------------------------------------------------
#
# The server headers are given again with -isystem, which makes gcc treat them
# as system headers: their -Wextra noise (unused parameters in ilist.h and
# bufpage.h inline functions, a signed/unsigned ?: in array.h) is silenced
# without turning those warnings off for src/.  -Wno-unused-parameter stays:
# callbacks in src/ must match PostgreSQL's signatures (hash functions'
# keysize, syscache callbacks' arg and hashvalue) whether they use every
# argument or not.
t0=$(date +%s)
B=$(mktemp -d /tmp/ntk-lint.XXXXXX)
trap 'rm -rf "$B"' EXIT
mkdir -p "$B/test/unit"
cp -r Makefile ntk.control ntk--*.sql src sql "$B/" && cp test/unit/*.c test/unit/*.h "$B/test/unit/" \
    && rm -f "$B"/src/*.o "$B"/src/*.bc "$B"/src/core/*.o "$B"/src/core/*.a "$B"/ntk.so
WFLAGS="-Werror -Wextra -Wno-unused-parameter -isystem $PGINC"
if make -s -C "$B" COPT="$WFLAGS" >"$B/build.log" 2>&1; then
    echo "lint: extension builds with $WFLAGS ($(( $(date +%s) - t0 )) s)"
else
    grep -E 'error|warning' "$B/build.log" | grep -v '^make' | head -40
    echo "lint: extension build with -Werror FAILED"
    failed="$failed werror-build"
fi

t0=$(date +%s)
units=$(cd "$B" && ls test/unit/test_*.c | sed 's/\.c$//')
# shellcheck disable=SC2086
if make -s -C "$B" UNIT_CFLAGS="-O2 -g -std=gnu99 -Wall -Wextra -Werror -I$B/src/core" \
        $units test/unit/libntkcore.so >"$B/unit.log" 2>&1; then
    echo "lint: unit tests and libntkcore.so build with -Wall -Wextra -Werror"
else
    grep -E 'error|warning' "$B/unit.log" | head -40
    echo "lint: unit test build with -Werror FAILED"
    failed="$failed werror-unit"
fi

if command -v clang >/dev/null 2>&1; then
    ok=1
    for f in $NUMERICS test/unit/test_*.c test/fuzz/fuzz_kernel.c; do
        [ -e "$f" ] || continue
        clang -fsyntax-only -std=gnu99 -Wall -Wextra -Werror -Isrc/core "$f" || ok=0
    done
    if [ $ok = 1 ]; then
        echo "lint: clang -Wall -Wextra -Werror clean on the numerics, unit tests and fuzz harness ($(( $(date +%s) - t0 )) s)"
    else
        echo "lint: clang -Werror FAILED"
        failed="$failed clang"
    fi
fi

# --- 4. the numerics/glue boundary -------------------------------------------
#
# src/core is the server-free core (libntkcore.a): no PostgreSQL header, and
# no include of a glue header from src/.
if grep -nE '#include[[:space:]]+[<"](postgres|postgres_fe|fmgr|c)\.h[>"]|#include[[:space:]]+"(utils|catalog|access|executor|nodes|storage|miscadmin)' src/core/*.[ch]; then
    echo "lint: src/core includes a PostgreSQL header"
    failed="$failed core-boundary"
else
    for f in src/core/*.[ch]; do
        for inc in $(sed -n 's/^#include "\(.*\)"/\1/p' "$f"); do
            [ -e "src/core/$inc" ] || { echo "lint: $f includes $inc, which is not in src/core"; failed="$failed core-boundary"; }
        done
    done
    echo "lint: src/core includes no PostgreSQL or glue header"
fi

[ -z "$failed" ] || echo "lint: failed:$failed"
echo "lint: $([ -z "$failed" ] && echo clean || echo FAILED) ($(( $(date +%s) - start )) s)"
[ -z "$failed" ]
