#!/usr/bin/env bash
# fuzz/run.sh: builds the libFuzzer harness of the numerics and fuzzes it.
#
# Usage: fuzz/run.sh [SECONDS]          default 60 (CI: 30)
#   FUZZ_WORK=dir   where the binary, the grown corpus and crash files go
#                   (default /tmp/ntk-fuzz; the committed seeds in
#                   fuzz/corpus are read, never written)
#   FUZZ_JOBS=N     parallel fuzzing processes (default 1)
#   FUZZ_ARGS=...   extra libFuzzer flags
#
# Exits non-zero if the build fails or the fuzzer finds a crash, a sanitizer
# report or a failed assertion; the input is then in $FUZZ_WORK/crash-*
# (replay: $FUZZ_WORK/fuzz_kernel $FUZZ_WORK/crash-...).
set -u
cd "$(dirname "$0")/.."

SECS=${1:-60}
WORK=${FUZZ_WORK:-/tmp/ntk-fuzz}
JOBS=${FUZZ_JOBS:-1}
CC=${FUZZ_CC:-clang}

if ! command -v "$CC" >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "fuzz: installing clang and libclang-rt-14-dev" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang libclang-rt-14-dev >/dev/null \
            || { echo "fuzz: could not install clang" >&2; exit 2; }
    else
        echo "fuzz: needs clang and libclang-rt-14-dev (apt-get install clang libclang-rt-14-dev)" >&2
        exit 2
    fi
fi

UNIT_SRCS=$(sed -n 's/^UNIT_SRCS[[:space:]]*=[[:space:]]*//p' Makefile)
[ -n "$UNIT_SRCS" ] || { echo "fuzz: no UNIT_SRCS in the Makefile" >&2; exit 2; }

mkdir -p "$WORK/corpus" || exit 2
BIN="$WORK/fuzz_kernel"
# shellcheck disable=SC2086
$CC -g -O1 -std=gnu99 -Wall -Wextra -Isrc \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -o "$BIN" fuzz/fuzz_kernel.c $UNIT_SRCS -lopenblas -llapacke -lm -lpthread \
    || { echo "fuzz: build FAILED"; exit 1; }

# one BLAS thread: the sizes are tiny, and the harness compares against
# BLAS calls repeated with the same shapes
export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

rm -f "$WORK"/crash-* "$WORK"/leak-* "$WORK"/timeout-* "$WORK"/oom-*
LOG="$WORK/fuzz.log"
start=$(date +%s)
echo "fuzz: $SECS s, $JOBS job(s), corpus $WORK/corpus + fuzz/corpus"
# shellcheck disable=SC2086
if [ "$JOBS" -gt 1 ]; then
    "$BIN" "$WORK/corpus" fuzz/corpus -max_total_time="$SECS" -max_len=4096 \
        -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$WORK/" -jobs="$JOBS" -workers="$JOBS" ${FUZZ_ARGS:-} >"$LOG" 2>&1
else
    "$BIN" "$WORK/corpus" fuzz/corpus -max_total_time="$SECS" -max_len=4096 \
        -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$WORK/" ${FUZZ_ARGS:-} >"$LOG" 2>&1
fi
rc=$?
[ "$JOBS" -gt 1 ] && cat fuzz-*.log >>"$LOG" 2>/dev/null && rm -f fuzz-*.log
crashes=$(ls "$WORK"/crash-* "$WORK"/leak-* "$WORK"/timeout-* "$WORK"/oom-* 2>/dev/null)
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$LOG" | awk '{s += $2} END {print s + 0}')
cov=$(grep -oE 'cov: [0-9]+' "$LOG" | tail -1)
if [ $rc != 0 ] || [ -n "$crashes" ]; then
    grep -E 'ASSERTION FAILED|ERROR:|runtime error|SUMMARY|^  depth|^    #[0-9]' "$LOG" | head -40
    echo "fuzz: FOUND a problem (exit $rc); input(s):"
    for c in $crashes; do echo "  $c   (replay: $BIN $c)"; done
    echo "fuzz: log in $LOG"
    exit 1
fi
echo "fuzz: clean: $runs runs, $cov, corpus $(ls "$WORK/corpus" | wc -l) + $(ls fuzz/corpus | wc -l) seeds, $(( $(date +%s) - start )) s"
