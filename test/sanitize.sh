#!/usr/bin/env bash
# test/sanitize.sh: the C unit tests of the numerics under AddressSanitizer
# and UndefinedBehaviorSanitizer.
#
# Builds every test/unit/test_*.c with the numerics sources (CORE_SRCS of the
# Makefile) by clang with -fsanitize=address,undefined
# -fno-sanitize-recover=all -g -O1, in a temporary directory (the tree's own
# build products are not touched), runs them, and exits non-zero if a build
# fails, a test fails or a sanitizer reports anything.  Needs clang and
# Debian's libclang-rt-14-dev (installed with apt-get if missing and root).
#
# Usage: test/sanitize.sh [-k]     -k keeps the build directory
set -u
cd "$(dirname "$0")/.."

keep=0
[ "${1:-}" = "-k" ] && keep=1

CC=${SANITIZE_CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.asan-x86_64.a >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "sanitize: installing clang and libclang-rt-14-dev" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang libclang-rt-14-dev >/dev/null \
            || { echo "sanitize: could not install clang" >&2; exit 2; }
    else
        echo "sanitize: needs clang and libclang-rt-14-dev (apt-get install clang libclang-rt-14-dev)" >&2
        exit 2
    fi
fi

UNIT_SRCS=$(ls src/core/*.c)  # the core: CORE_SRCS of the Makefile
[ -n "$UNIT_SRCS" ] || { echo "sanitize: no sources in src/core" >&2; exit 2; }

OUT=$(mktemp -d /tmp/ntk-sanitize.XXXXXX)
[ "$keep" = 1 ] || trap 'rm -rf "$OUT"' EXIT

CFLAGS="-std=gnu99 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Isrc/core
        -fsanitize=address,undefined -fno-sanitize-recover=all"
LIBS="-lopenblas -llapacke -lm -lpthread"

# detect_leaks: OpenBLAS keeps its thread buffers to the end, which LSan sees
# as reachable, not leaked; a real leak in a test or the numerics is reported.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

start=$(date +%s)
passed=0; failed=0; failures=""
for src in test/unit/test_*.c; do
    name=$(basename "$src" .c)
    bin="$OUT/$name"
    log="$OUT/$name.log"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    if ! $CC $CFLAGS -o "$bin" "$src" $UNIT_SRCS $LIBS >"$OUT/$name.build" 2>&1; then
        cat "$OUT/$name.build"
        echo "sanitize: FAILED to build $name"
        failed=$((failed + 1)); failures="$failures $name(build)"
        continue
    fi
    if [ -s "$OUT/$name.build" ]; then
        # a warning is not a sanitizer finding, but show it
        cat "$OUT/$name.build"
    fi
    "$bin" >"$log" 2>&1
    rc=$?
    t1=$(date +%s)
    if [ $rc != 0 ] || grep -qE 'runtime error|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|SUMMARY: ' "$log"; then
        grep -E 'FAIL|runtime error|Sanitizer|SUMMARY|^    #[0-9]' "$log" | head -60
        tail -1 "$log"
        echo "sanitize: $name FAILED (exit $rc, $((t1 - t0)) s)"
        failed=$((failed + 1)); failures="$failures $name"
    else
        echo "sanitize: $name clean: $(tail -1 "$log") ($((t1 - t0)) s)"
        passed=$((passed + 1))
    fi
done

[ "$keep" = 1 ] && echo "sanitize: binaries and logs kept in $OUT"
[ -z "$failures" ] || echo "sanitize: failed:$failures"
echo "sanitize: $passed clean, $failed failed ($CC, address+undefined, $(( $(date +%s) - start )) s)"
[ "$failed" = 0 ]
