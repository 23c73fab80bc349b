#!/usr/bin/env bash
# test/fuzz/run.sh: builds the libFuzzer harnesses and runs them one after the
# other: fuzz_kernel (the numerics) and fuzz_validate (the validation
# decisions of options, arrays and sizes).
#
# Usage:
#   test/fuzz/run.sh            the deterministic run (what CI runs): per
#                               harness, replay the committed seeds, grow a
#                               fresh corpus from them alone with a fixed
#                               number of runs from a fixed -seed (one job),
#                               replay that corpus on every recursion path.
#                               A given commit passes or fails the same way
#                               on every run and, but for the AVX-512 path
#                               and the BLAS kernels the replays check
#                               natively, on every machine.
#   test/fuzz/run.sh --time SECONDS  time-boxed random fuzzing (local, or a
#                               scheduled job: .ci/scheduled): two thirds
#                               of the time to fuzz_kernel, one third to
#                               fuzz_validate (it saturates fast), a random
#                               seed, a corpus kept in FUZZ_WORK between runs
#   test/fuzz/run.sh SECONDS    the same as --time SECONDS
#
#   FUZZ_TARGETS="kernel validate"   which harnesses (default both); with
#                   --time a single one gets all the time
#   FUZZ_WORK=dir   binaries, corpora, logs and crash files (default
#                   /tmp/ntk-fuzz; fuzz_validate's in its validate/
#                   subdirectory; the deterministic run's in ci/ and
#                   validate/ci/, emptied first). The committed seeds in
#                   test/fuzz/corpus and test/fuzz/corpus_validate are read, never
#                   written.
#   deterministic run: FUZZ_SEED (default 20261207), FUZZ_RUNS_KERNEL
#                   (default 4000), FUZZ_RUNS_VALIDATE (default 100000)
#   --time: FUZZ_JOBS=N parallel processes (default 1), FUZZ_ARGS=... extra
#                   libFuzzer flags
#
# Exits non-zero if a build fails or a fuzzer finds a crash, a sanitizer
# report or a failed assertion; it prints the input's file, the command that
# replays it, and for the deterministic run the seed and the command that
# repeats the whole run.
set -u
cd "$(dirname "$0")/../.." || exit 2

MODE=ci
SECS=0
case ${1:-} in
    "") ;;
    --time)
        [ -n "${2:-}" ] || { echo "usage: test/fuzz/run.sh [--time SECONDS]" >&2; exit 2; }
        MODE="time"; SECS=$2 ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) MODE="time"; SECS=$1 ;;
esac
if [ $MODE = time ] && ! [ "$SECS" -ge 1 ] 2>/dev/null; then
    echo "fuzz: --time wants a number of seconds, not '$SECS'" >&2
    exit 2
fi

WORK=${FUZZ_WORK:-/tmp/ntk-fuzz}
JOBS=${FUZZ_JOBS:-1}
CC=${FUZZ_CC:-clang}
TARGETS=${FUZZ_TARGETS:-kernel validate}
SEED=${FUZZ_SEED:-20261207}

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

UNIT_SRCS=$(ls src/core/*.c)  # the core: CORE_SRCS of the Makefile
[ -n "$UNIT_SRCS" ] || { echo "fuzz: no sources in src/core" >&2; exit 2; }

# one BLAS thread: the sizes are tiny, and the harness compares against
# BLAS calls repeated with the same shapes
export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# What steers libFuzzer is the coverage of each input, so the deterministic
# run grows its corpus where the coverage is the same on every x86-64
# machine we run on: fuzz_kernel without its automatic recursion path
# (AVX-512 where the processor has it; AVX2 and portable forced still run),
# OpenBLAS on its Haswell kernels (AVX2; their roundings decide branches of
# the code), and the processor check itself left out of the coverage
# instrumentation. And without -use_cmp: libFuzzer records the operands of
# compared integers to splice them into inputs, and some are addresses,
# which change from run to run with address-space randomization.
# The replays then run natively.
GROW_ENV="FUZZ_KERNEL_NO_AUTO=1"
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
    GROW_ENV="$GROW_ENV OPENBLAS_CORETYPE=Haswell"
fi
mkdir -p "$WORK" || exit 2
IGNORE="$WORK/coverage-ignore.txt"
printf '%s\n' "# the processor check: taken differently with and without AVX-512" \
    "fun:CpuLevel" "fun:ntk_recursion_vectorized" >"$IGNORE"

# build NAME: test/fuzz/fuzz_NAME.c into $WORK/fuzz_NAME
build() {
    # shellcheck disable=SC2086
    $CC -g -O1 -std=gnu99 -Wall -Wextra -Werror -Isrc/core \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -fsanitize-coverage-ignorelist="$IGNORE" \
        -o "$WORK/fuzz_$1" "test/fuzz/fuzz_$1.c" $UNIT_SRCS -lopenblas -llapacke -lm -lpthread \
        || { echo "fuzz: fuzz_$1 build FAILED"; return 1; }
}

# report_failure LOG OUTDIR REPLAY_PREFIX: what failed and how to replay it
report_failure() {
    local log=$1 out=$2 prefix=$3 crashes c
    grep -E 'ASSERTION FAILED|ERROR:|runtime error|SUMMARY|^  |^    #[0-9]' "$log" | head -40
    crashes=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null)
    if [ -z "$crashes" ]; then
        # a replay of files: the input is the last one started
        crashes=$(grep -o '^Running: .*' "$log" | tail -1 | cut -c10-)
    fi
    for c in $crashes; do echo "  input: $c"; echo "  replay: $prefix$c"; done
    echo "  log: $log"
}

# replay NAME BIN LOG DIR...: runs every file in the directories once
replay() {
    local name=$1 bin=$2 log=$3 files
    shift 3
    files=$(find "$@" -maxdepth 1 -type f | sort)
    [ -n "$files" ] || return 0
    # shellcheck disable=SC2086
    "$bin" -timeout=20 -rss_limit_mb=2048 $files >"$log" 2>&1
}

# ci_target NAME: the deterministic run of one harness; 0 if clean
ci_target() {
    local name=$1 seeds out bin runs start n executed cov digest rc
    case $name in
        kernel)   seeds=test/fuzz/corpus;          out=$WORK/ci;          runs=${FUZZ_RUNS_KERNEL:-4000} ;;
        validate) seeds=test/fuzz/corpus_validate; out=$WORK/validate/ci; runs=${FUZZ_RUNS_VALIDATE:-100000} ;;
        *) echo "fuzz: unknown target $name" >&2; return 2 ;;
    esac
    bin="$WORK/fuzz_$name"
    rm -rf "$out" && mkdir -p "$out/corpus" || return 2
    build "$name" || return 1
    start=$(date +%s)
    n=$(find "$seeds" -maxdepth 1 -type f | wc -l)
    echo "fuzz: fuzz_$name: replay $n seeds, grow from them with -seed=$SEED -runs=$runs, replay what grew"

    # 1. the committed seeds, natively
    if ! replay "$name" "$bin" "$out/replay-seeds.log" "$seeds"; then
        echo "fuzz: fuzz_$name FAILED on a committed seed"
        report_failure "$out/replay-seeds.log" "$out" "$bin "
        return 1
    fi

    # 2. a fixed number of runs from a fixed seed, one job, from the seeds alone
    # shellcheck disable=SC2086
    env $GROW_ENV "$bin" "$out/corpus" "$seeds" -seed="$SEED" -runs="$runs" -reload=0 \
        -use_cmp=0 -max_len=4096 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/" >"$out/grow.log" 2>&1
    rc=$?
    if [ $rc != 0 ] || ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* >/dev/null 2>&1; then
        echo "fuzz: fuzz_$name FAILED while growing the corpus (exit $rc; seed $SEED, runs $runs)"
        report_failure "$out/grow.log" "$out" "$GROW_ENV $bin "
        echo "  repeat the run: FUZZ_SEED=$SEED FUZZ_RUNS_$(echo "$name" | tr "[:lower:]" "[:upper:]")=$runs FUZZ_TARGETS=$name bash test/fuzz/run.sh"
        return 1
    fi

    # 3. what grew, natively (the automatic path, the processor's BLAS kernels)
    if ! replay "$name" "$bin" "$out/replay-grown.log" "$out/corpus"; then
        echo "fuzz: fuzz_$name FAILED replaying the grown corpus natively (seed $SEED, runs $runs)"
        report_failure "$out/replay-grown.log" "$out" "$bin "
        echo "  repeat the run: FUZZ_SEED=$SEED FUZZ_RUNS_$(echo "$name" | tr "[:lower:]" "[:upper:]")=$runs FUZZ_TARGETS=$name bash test/fuzz/run.sh"
        return 1
    fi

    executed=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/grow.log" | awk '{print $2}')
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$out/grow.log" | tail -1)
    digest=$(cd "$out/corpus" && ls | sort | sha1sum | cut -c1-12)
    echo "fuzz: fuzz_$name clean: $n seeds, $executed runs (-seed=$SEED), $cov," \
        "$(ls "$out/corpus" | wc -l) inputs grown (digest $digest), $(( $(date +%s) - start )) s"
}

# time_target NAME SECONDS: time-boxed random fuzzing of one harness from
# its committed seeds and the corpus kept in FUZZ_WORK; 0 if clean
time_target() {
    local name=$1 secs=$2 seeds out bin log rc start crashes runs cov seeds_used
    case $name in
        kernel)   seeds=test/fuzz/corpus;          out=$WORK ;;
        validate) seeds=test/fuzz/corpus_validate; out=$WORK/validate ;;
        *) echo "fuzz: unknown target $name" >&2; return 2 ;;
    esac
    mkdir -p "$out/corpus" || return 2
    bin="$WORK/fuzz_$name"
    build "$name" || return 1

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
    seeds_used=$(grep -o 'INFO: Seed: [0-9]*' "$log" | awk '{print $3}' | sort -u | tr '\n' ' ')
    if [ $rc != 0 ] || [ -n "$crashes" ]; then
        echo "fuzz: fuzz_$name FOUND a problem (exit $rc; libFuzzer seed(s) $seeds_used)"
        report_failure "$log" "$out" "$bin "
        echo "  make the input a committed seed: see test/fuzz/README.md, \"When it finds something\""
        return 1
    fi
    echo "fuzz: fuzz_$name clean: $runs runs, $cov, corpus $(ls "$out/corpus" | wc -l) + $(ls "$seeds" | wc -l) seeds, $(( $(date +%s) - start )) s"
}

ntargets=$(echo "$TARGETS" | wc -w)
status=0
for t in $TARGETS; do
    if [ $MODE = ci ]; then
        ci_target "$t" || status=1
        continue
    fi
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
    time_target "$t" "$secs" || status=1
done
[ $status = 0 ] && echo "fuzz: all clean ($TARGETS)"
exit $status
