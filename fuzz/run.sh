#!/usr/bin/env bash
# fuzz/run.sh: builds the libFuzzer harnesses and fuzzes them one after the
# other: fuzz_kernel (the numerics) and fuzz_validate (the validation
# decisions of options, arrays and sizes).
#
# Usage: fuzz/run.sh [SECONDS]          default 60 (CI: 30), the total:
#                                       two thirds to fuzz_kernel, one third
#                                       to fuzz_validate (it saturates fast)
#   FUZZ_TARGETS="kernel validate"      which harnesses (default both); a
#                                       single one gets all the time
#   FUZZ_WORK=dir   where binaries, grown corpora and crash files go
#                   (default /tmp/ntk-fuzz: fuzz_kernel's in it, as before,
#                   fuzz_validate's in its validate/ subdirectory; the
#                   committed seeds in fuzz/corpus and fuzz/corpus_validate
#                   are read, never written)
#   FUZZ_JOBS=N     parallel fuzzing processes (default 1)
#   FUZZ_ARGS=...   extra libFuzzer flags
#
# Exits non-zero if a build fails or a fuzzer finds a crash, a sanitizer
# report or a failed assertion; the input is then in the crash-* file named
# (replay: the harness binary with the file as its argument).
set -u
cd "$(dirname "$0")/.."

SECS=${1:-60}
WORK=${FUZZ_WORK:-/tmp/ntk-fuzz}
JOBS=${FUZZ_JOBS:-1}
CC=${FUZZ_CC:-clang}
TARGETS=${FUZZ_TARGETS:-kernel validate}

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

# one BLAS thread: the sizes are tiny, and the harness compares against
# BLAS calls repeated with the same shapes
export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

ntargets=$(echo "$TARGETS" | wc -w)

# run_target NAME SECONDS: builds fuzz/fuzz_NAME.c and fuzzes it from its
# committed seeds; 0 if clean
run_target() {
    local name=$1 secs=$2 seeds out bin log rc start crashes runs cov
    case $name in
        kernel)   seeds=fuzz/corpus;          out=$WORK ;;
        validate) seeds=fuzz/corpus_validate; out=$WORK/validate ;;
        *) echo "fuzz: unknown target $name" >&2; return 2 ;;
    esac
    mkdir -p "$out/corpus" || return 2
    bin="$WORK/fuzz_$name"
    # shellcheck disable=SC2086
    $CC -g -O1 -std=gnu99 -Wall -Wextra -Werror -Isrc \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -o "$bin" "fuzz/fuzz_$name.c" $UNIT_SRCS -lopenblas -llapacke -lm -lpthread \
        || { echo "fuzz: fuzz_$name build FAILED"; return 1; }

    rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*
    log="$out/fuzz.log"
    start=$(date +%s)
    echo "fuzz: fuzz_$name $secs s, $JOBS job(s), corpus $out/corpus + $seeds"
    # shellcheck disable=SC2086
    if [ "$JOBS" -gt 1 ]; then
        "$bin" "$out/corpus" "$seeds" -max_total_time="$secs" -max_len=4096 \
            -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$out/" -jobs="$JOBS" -workers="$JOBS" ${FUZZ_ARGS:-} >"$log" 2>&1
    else
        "$bin" "$out/corpus" "$seeds" -max_total_time="$secs" -max_len=4096 \
            -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$out/" ${FUZZ_ARGS:-} >"$log" 2>&1
    fi
    rc=$?
    [ "$JOBS" -gt 1 ] && cat fuzz-*.log >>"$log" 2>/dev/null && rm -f fuzz-*.log
    crashes=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    if [ $rc != 0 ] || [ -n "$crashes" ]; then
        grep -E 'ASSERTION FAILED|ERROR:|runtime error|SUMMARY|^  |^    #[0-9]' "$log" | head -40
        echo "fuzz: fuzz_$name FOUND a problem (exit $rc); input(s):"
        for c in $crashes; do echo "  $c   (replay: $bin $c)"; done
        echo "fuzz: log in $log"
        return 1
    fi
    echo "fuzz: fuzz_$name clean: $runs runs, $cov, corpus $(ls "$out/corpus" | wc -l) + $(ls "$seeds" | wc -l) seeds, $(( $(date +%s) - start )) s"
}

status=0
for t in $TARGETS; do
    if [ "$ntargets" -gt 1 ]; then
        # fuzz_validate is fast and small: a third of the time is plenty
        case $t in
            validate) secs=$(( SECS / 3 )) ;;
            *)        secs=$(( SECS - SECS / 3 )) ;;
        esac
        [ "$secs" -ge 1 ] || secs=1
    else
        secs=$SECS
    fi
    run_target "$t" "$secs" || status=1
done
[ $status = 0 ] && echo "fuzz: all clean ($TARGETS)"
exit $status
