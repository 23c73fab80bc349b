#!/usr/bin/env bash
# bench/run.sh: the benchmarks of ntk (what `make bench` runs).  Benchmarks,
# not tests: they print times and ratios and fail only if something cannot run.
#
# Installs the packages (test/deps.sh), builds and installs the extension,
# runs the C benchmark of the numerics (bench/bench_gram, no server), starts a
# throwaway cluster (test/cluster.sh), runs bench/bench_db.py against it, and
# prints one combined report, also saved to bench/results-latest.txt.
#
#   bash bench/run.sh [--quick] [--threads N] [--reps N] [--no-install]
#                     [--no-c] [--no-db] [--gram "n d depth"] [--rec "n d depth"]
#                     [--eigh n] [--nys "n m d"] [--packed "n ..."]
#                     [--nys-db "n m d"] [-- bench_db.py options...]
#
# Defaults (the issue's sizes): Gram/Cholesky n=8000 d=784 depth 3 (and the
# same Gram with erf), recursion n=8000 d=16 depth 5, eigendecomposition
# n=4000 (the Gram's leading block), Nystrom statistics and solve n=60000
# m=10000 d=784 depth 3 (bench/bench_nystrom, 2 repetitions: ~10 minutes on
# an idle 2-core machine),
# n=4000 (the Gram's leading block), packed (RFP) Gram/Cholesky against
# full storage, dpftrf and dpotrf n=8000 (bench/bench_packed; --packed
# "8000 20000" for the issue's second size, ~10 GB and ~10 min),
# in-db fit n=8000 d=784 depth 3, in-db Nystrom fit n=20000 m=5000 d=784
# against the numpy Nystrom path (--nys-db), 2 threads
# (OPENBLAS_NUM_THREADS=2 and ntk.threads=2).  --quick: n=2000 everywhere
# (Nystrom n=4000 m=1000).
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as the environment sets them.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3

QUICK=0
THREADS=2
REPS=""
INSTALL=1
RUN_C=1
RUN_DB=1
GRAM=""
REC=""
EIGH_N=""
NYS=""
NYS_DB=""
PACKED_N=""
DB_ARGS=()

usage() {
    sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
        --quick) QUICK=1 ;;
        --threads) THREADS=$2; shift ;;
        --threads=*) THREADS=${1#*=} ;;
        --reps) REPS=$2; shift ;;
        --reps=*) REPS=${1#*=} ;;
        --no-install) INSTALL=0 ;;
        --no-c) RUN_C=0 ;;
        --no-db) RUN_DB=0 ;;
        --gram) GRAM=$2; shift ;;
        --rec) REC=$2; shift ;;
        --eigh) EIGH_N=$2; shift ;;
        --nys) NYS=$2; shift ;;
        --nys-db) NYS_DB=$2; shift ;;
        --packed) PACKED_N=$2; shift ;;
        --) shift; DB_ARGS+=("$@"); break ;;
        -h|--help) usage ;;
        *) echo "bench/run.sh: unknown option $1" >&2; usage ;;
    esac
    shift
done

DB_REPS=()
[ -n "$REPS" ] && DB_REPS=(--reps "$REPS")
if [ -n "$NYS_DB" ]; then
    nd=($NYS_DB)
    DB_ARGS=(--nys-n "${nd[0]}" --nys-m "${nd[1]}" --nys-d "${nd[2]}" "${DB_ARGS[@]}")
fi
if [ "$QUICK" = 1 ]; then
    : "${GRAM:=2000 784 3}" "${REC:=2000 16 5}" "${REPS:=3}" "${EIGH_N:=1000}" "${NYS:=4000 1000 784}" "${PACKED_N:=2000}"
else
    : "${GRAM:=8000 784 3}" "${REC:=8000 16 5}" "${REPS:=3}" "${EIGH_N:=4000}" "${NYS:=60000 10000 784}" "${PACKED_N:=8000}"
fi
export OPENBLAS_NUM_THREADS=$THREADS

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
OUT=bench/results-latest.txt
TMP_OUT=$(mktemp /tmp/ntk-bench-report.XXXXXX)
LOG=$(mktemp /tmp/ntk-bench-build.XXXXXX)

note() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

prepare() {     # packages, extension and C bench; logs to $LOG
    . test/deps.sh
    if [ "$INSTALL" = 1 ]; then
        if [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; then
            note "installing packages and the extension needs root or sudo (or use --no-install)"
            return 1
        fi
        note "packages (test/deps.sh)"
        ntk_install_deps >>"$LOG" 2>&1 || { note "package install failed"; return 1; }
        note "building and installing the extension"
        { make -s && $SUDO make -s install; } >>"$LOG" 2>&1 \
            || { note "build failed:"; tail -30 "$LOG" >&2; return 1; }
    fi
    if [ "$RUN_C" = 1 ]; then
        make -s bench/bench_gram bench/bench_nystrom bench/bench_packed >>"$LOG" 2>&1 \
            || { note "a bench program's build failed:"; tail -30 "$LOG" >&2; return 1; }
    fi
}

report() {      # everything on stdout is the report
    local rc=0
    echo "==== ntk benchmarks $(date -u '+%Y-%m-%d %H:%M:%S UTC') ($([ "$QUICK" = 1 ] && echo quick || echo full))"
    echo "git: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted changes in src/')"
    echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB, $(uname -sr)"
    echo "threads: $THREADS (OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS, ntk.threads=$THREADS);" \
         "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-(unset)}"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the numbers)"
    echo

    local cout
    cout=$(mktemp /tmp/ntk-bench-c.XXXXXX)
    if [ "$RUN_C" = 1 ]; then
        local g=($GRAM) r=($REC)
        note "bench_gram: Gram + Cholesky n=${g[0]} d=${g[1]} depth=${g[2]}"
        bench/bench_gram -n "${g[0]}" -d "${g[1]}" -L "${g[2]}" -t "$THREADS" -r "$REPS" \
            -e "$EIGH_N" | tee -a "$cout" || rc=1
        echo
        note "bench_gram: recursion n=${r[0]} d=${r[1]} depth=${r[2]}"
        bench/bench_gram -n "${r[0]}" -d "${r[1]}" -L "${r[2]}" -t "$THREADS" -r "$REPS" -C \
            | sed 's/^RESULT recursion/RESULT recursion-only/; s/^RESULT gram/RESULT gram-rec/' \
            | tee -a "$cout" || rc=1
        echo
        note "bench_gram: erf Gram n=${g[0]} d=${g[1]} depth=${g[2]}"
        bench/bench_gram -n "${g[0]}" -d "${g[1]}" -L "${g[2]}" -a erf -t "$THREADS" -r "$REPS" -C \
            | sed 's/^RESULT recursion/RESULT recursion-erf/; s/^RESULT gram/RESULT gram-erf/' \
            | tee -a "$cout" || rc=1
        echo
        local y=($NYS)
        note "bench_nystrom: statistics + solve n=${y[0]} m=${y[1]} d=${y[2]} depth=${g[2]}"
        bench/bench_nystrom -n "${y[0]}" -m "${y[1]}" -d "${y[2]}" -L "${g[2]}" -t "$THREADS" \
            -r 2 | tee -a "$cout" || rc=1
        echo
        local pn
        for pn in $PACKED_N; do
            note "bench_packed: packed (RFP) vs full n=$pn d=${g[1]} depth=${g[2]}"
            bench/bench_packed -n "$pn" -d "${g[1]}" -L "${g[2]}" -t "$THREADS" -r "$REPS" \
                | tee -a "$cout" || rc=1
            echo
        done
    fi

    if [ "$RUN_DB" = 1 ]; then
        . test/cluster.sh
        trap 'exit 130' INT TERM
        note "starting a throwaway cluster"
        NTK_TEST_PORT=${NTK_BENCH_PORT:-54349} cluster_start >&2 || return 1
        psql -X -q -c "CREATE DATABASE ntk_bench" >&2 || return 1
        export PGDATABASE=ntk_bench
        local qa=()
        [ "$QUICK" = 1 ] && qa=(--quick)
        note "bench_db.py ${qa[*]} --threads $THREADS ${DB_REPS[*]} ${DB_ARGS[*]}"
        $PY bench/bench_db.py "${qa[@]}" --threads "$THREADS" "${DB_REPS[@]}" "${DB_ARGS[@]}" || rc=1
        cluster_stop
        echo
    fi
    if [ "$RUN_C" = 1 ]; then
        echo "==== C summary (threads $THREADS; medians; ratio = ours / floor)"
        c_summary <"$cout"
        echo
    fi
    rm -f "$cout"
    echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    return $rc
}

c_summary() {   # the RESULT lines of bench_gram as a short table
    awk '
    /^RESULT / {
        kind = $2; delete v
        for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        if (kind == "gram")
            printf "  Gram      n=%s d=%s depth=%s: dsyrk %.3f s, diag+gram_sym %.3f s, ratio %.2f\n",
                v["n"], v["d"], v["depth"], v["dsyrk_s"], v["gram_s"], v["ratio"]
        else if (kind == "gram-erf")
            printf "  erf Gram  n=%s d=%s depth=%s: dsyrk %.3f s, diag+gram_sym %.3f s, ratio %.2f\n",
                v["n"], v["d"], v["depth"], v["dsyrk_s"], v["gram_s"], v["ratio"]
        else if (kind == "cholesky") {
            printf "  Cholesky  n=%s: dpotrf %.3f s, ntk_cholesky %.3f s, ratio %.3f (by minima %.3f); solve %.4f s\n",
                v["n"], v["dpotrf_s"], v["ntk_cholesky_s"], v["ratio"], v["min_ratio"], v["solve_s"]
            printf "  fit numerics n=%s: dsyrk+dpotrf %.3f s, ours %.3f s, ratio %.2f\n",
                v["n"], v["floor_total_s"], v["ours_total_s"], v["total_ratio"]
        } else if (kind == "eigh")
            printf "  eigh      n=%s: dsyevd %.3f s, ntk_eigh %.3f s, ratio %.2f; longest step between reports %.3f s\n",
                v["n"], v["dsyevd_s"], v["ntk_eigh_s"], v["ratio"], v["longest_step_s"]
        else if (kind == "nystrom")
            printf "  Nystrom   n=%s m=%s d=%s depth=%s: floor %.2f s (dgemm %.2f + dsyrk %.2f + K_mm %.2f + dpotrf/dsygst/dpotrf %.2f), ours %.2f s (statistics %.2f, K_mm %.2f, solve %.2f), ratio %.2f (per repetition %.2f); centers %.2f s\n",
                v["n"], v["m"], v["d"], v["depth"], v["floor_s"], v["floor_dots_s"], v["floor_syrk_s"],
                v["floor_kmm_s"], v["floor_fact_s"], v["ours_s"], v["stats_s"], v["kmm_s"], v["solve_s"],
                v["ratio"], v["rep_ratio"], v["centers_s"]
        else if (kind == "recursion")
            printf "  recursion n=%s d=%s depth=%s: %.2f ns per entry per layer (from the Gram run); scalar ntk_pair, 1 thread: %.2f ns\n",
                v["n"], v["d"], v["depth"], v["ns_per_entry_layer"], v["scalar_pair_ns_per_entry_layer"]
        else if (kind == "packed") {
            printf "  packed    n=%s: Gram %.3f s vs full %.3f s (%.3f); Cholesky %.3f s vs dpftrf %.3f s (%.3f), dpotrf %.3f s (%.3f)\n",
                v["n"], v["gram_packed_s"], v["gram_full_s"], v["gram_packed_s"] / v["gram_full_s"],
                v["chol_packed_s"], v["dpftrf_s"], v["chol_packed_s"] / v["dpftrf_s"],
                v["dpotrf_s"], v["chol_packed_s"] / v["dpotrf_s"]
            printf "  packed    n=%s: Cholesky by minima %.3f s vs dpftrf %.3f s (%.3f)\n",
                v["n"], v["min_chol_packed_s"], v["min_dpftrf_s"], v["min_chol_packed_s"] / v["min_dpftrf_s"]
            printf "  packed fit numerics n=%s: %.3f s vs full %.3f s, ratio %.3f\n",
                v["n"], v["fit_packed_s"], v["fit_full_s"], v["fit_packed_s"] / v["fit_full_s"]
        } else if (kind == "recursion-only")
            printf "  recursion n=%s d=%s depth=%s: %.2f ns per entry per layer (Gram %.3f s, dsyrk %.4f s); scalar ntk_pair, 1 thread: %.2f ns\n",
                v["n"], v["d"], v["depth"], v["ns_per_entry_layer"], v["gram_s"], v["dsyrk_s"],
                v["scalar_pair_ns_per_entry_layer"]
    }'
}

prepare || exit 1
report | tee "$TMP_OUT"
rc=${PIPESTATUS[0]}
cp "$TMP_OUT" "$OUT" && rm -f "$TMP_OUT" "$LOG"
note "report saved to $OUT"
[ "$rc" = 0 ] || note "some benchmark failed (exit $rc)"
exit "$rc"
