#!/usr/bin/env bash
# demo/fashion_mnist.sh: Neural Tangent Kernel classification of Fashion-MNIST, in SQL.
#
#   sudo bash demo/fashion_mnist.sh               # 10000 training images, 10000 test images
#   sudo bash demo/fashion_mnist.sh --quick       # 2000 training images (about half a minute)
#   sudo bash demo/fashion_mnist.sh --train 20000 # any number up to 60000
#   sudo bash demo/fashion_mnist.sh --full        # all 60000: the exact solve holds the
#                                                 #   lower triangle of the 60000^2 float8
#                                                 #   kernel matrix, 14.4 GB of memory
#   --test N       test images, 1..10000 (default 10000)
#   --options JSON fit options (default: {"kernel": "ntk", "depth": 3, "ridge": 1e-3, ...})
#   --method nystrom --centers M   a Nystrom fit on M centers (default 10000) instead of
#                  the exact one: memory of a few M^2, any --train up to 60000
#   --min-accuracy A  fail below this accuracy (default 0.80 from 5000 images up)
#   --keep         leave the cluster running afterwards, to explore it with psql
#   --no-install   use the extension as installed for the server of $PG_BIN (default:
#                  pg_config's); build and install nothing
#   Environment: NTK_DEMO_TRAIN, NTK_DEMO_TEST, NTK_DEMO_OPTIONS, NTK_DEMO_MIN_ACCURACY;
#   NTK_DEMO_INSTALL_LOCK=FILE holds flock FILE around `make install` (a shared machine).
#
# On a fresh Debian 12 machine it installs the packages it needs (PostgreSQL 15,
# OpenBLAS, numpy, psycopg2 and Debian's dataset-fashion-mnist), builds and installs
# the extension, starts a throwaway PostgreSQL cluster, loads the images into tables,
# fits a classifier with the aggregate ntk_fit_classifier, predicts the test set with
# ntk_evaluate, and prints its accuracy, F1, confusion matrix and per-class figures
# (those of scikit-learn's sklearn.metrics), all computed in SQL.  It exits non-zero if any step fails or the accuracy is below
# a sanity floor.
set -euo pipefail
SELF=$(readlink -f "$0")
cd "$(dirname "$SELF")/.."
PY=/usr/bin/python3   # Debian's python: numpy and psycopg2 come from Debian packages

# Default fit options, from a numpy sweep on these 10000/10000 images
# (demo/experiment_numpy.py; numbers in demo/README.md): the ReLU NTK scores 0.876-0.877
# for every depth 1..5 and ridge 1e-6..1e-2 (depth 3 = the extension's default),
# ridge 0.1 loses 0.3-0.6 points and ridge 1 2-3, standardize loses ~0.6 points; ridge 1e-3 keeps the
# solve well conditioned at no cost.  (NNGP depth 5 reaches 0.8795: --options.)
FIT_OPTIONS_DEFAULT='{"kernel": "ntk", "depth": 3, "ridge": 1e-3, "standardize": false}'

N_TRAIN=${NTK_DEMO_TRAIN:-10000}
N_TEST=${NTK_DEMO_TEST:-10000}
FIT_OPTIONS=${NTK_DEMO_OPTIONS:-$FIT_OPTIONS_DEFAULT}
MIN_ACC=${NTK_DEMO_MIN_ACCURACY:-}
KEEP=0
INSTALL=1
METHOD=exact
CENTERS=10000
usage() { sed -n '2,19p' "$SELF" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
        --train) N_TRAIN=${2:?--train needs a number}; shift 2 ;;
        --test) N_TEST=${2:?--test needs a number}; shift 2 ;;
        --full) N_TRAIN=60000; N_TEST=10000; shift ;;
        --quick) N_TRAIN=2000; shift ;;
        --options) FIT_OPTIONS=${2:?--options needs a JSON object}; shift 2 ;;
        --method) METHOD=${2:?--method needs exact or nystrom}; shift 2 ;;
        --centers) CENTERS=${2:?--centers needs a number}; shift 2 ;;
        --min-accuracy) MIN_ACC=${2:?--min-accuracy needs a number}; shift 2 ;;
        --keep) KEEP=1; shift ;;
        --no-install) INSTALL=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
case $N_TRAIN in ''|*[!0-9]*) echo "--train must be a number" >&2; exit 2 ;; esac
case $N_TEST in ''|*[!0-9]*) echo "--test must be a number" >&2; exit 2 ;; esac
case $CENTERS in ''|*[!0-9]*) echo "--centers must be a number" >&2; exit 2 ;; esac
case $METHOD in
    exact) ;;
    nystrom) FIT_OPTIONS="${FIT_OPTIONS%\}}, \"method\": \"nystrom\", \"centers\": $CENTERS}" ;;
    *) echo "--method must be exact or nystrom" >&2; exit 2 ;;
esac
if [ "$N_TRAIN" -lt 10 ] || [ "$N_TRAIN" -gt 60000 ] || [ "$N_TEST" -lt 1 ] || [ "$N_TEST" -gt 10000 ]; then
    echo "--train must be in 10..60000 and --test in 1..10000" >&2; exit 2
fi
# Sanity floor for the accuracy: a kernel regressor is far above chance (0.10) even on
# a few hundred images; 10000 images give ~0.87.
if [ -z "$MIN_ACC" ]; then
    if [ "$N_TRAIN" -ge 5000 ]; then MIN_ACC=0.80
    elif [ "$N_TRAIN" -ge 1000 ]; then MIN_ACC=0.75
    else MIN_ACC=0.50; fi
fi

# An exact fit holds the n x n kernel matrix: 8 n^2 bytes, or where that does not fit
# its lower triangle, 4 n^2 (ntk.exact_storage = auto; the estimate is the extension's
# ntk_fit_peak_bytes and ntk_fit_packed_peak_bytes for 784 features, 10 classes, depth 3).
# Say so now rather than after installing and loading; the extension itself would refuse
# the fit too (ntk.max_memory, SQLSTATE 54000).
AVAIL_MB=$(( $(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) / 1024 ))
FIT_MAX_MB=$(( AVAIL_MB * 8 / 10 ))                  # what the fit below may use
# peak MB of a fit of n rows: the full matrix if it fits, else the triangle
need_mb() { awk -v n="$1" -v m="$FIT_MAX_MB" 'BEGIN {
    rest = n * 784 + 4 * n * 10 + 2 * n * 10
    full = 8 * (n * n + rest) / 1048576; tri = 8 * (n * (n + 1) / 2 + rest) / 1048576
    printf "%d", (full <= m ? full : tri) + 1 }'; }
# the largest n the guard allows (the triangle's quadratic, rounded down to a thousand)
FIT_N=$(awk -v m="$FIT_MAX_MB" 'BEGIN { b = 0.5 + 784 + 40 + 20; c = m * 1048576 / 8
    printf "%d", int((-b + sqrt(b * b + 2 * c)) / 1000) * 1000 }')
NEED_MB=$(need_mb "$N_TRAIN")
if [ "$METHOD" = nystrom ]; then
    # the rows, and the statistics and solve of m centers: a few m^2 doubles
    NEED_MB=$(awk -v n="$N_TRAIN" -v m="$CENTERS" 'BEGIN { printf "%d", 8 * (n * 794 + 4 * m * m + 2 * m * 794) / 1048576 + 1 }')
fi
if [ "$NEED_MB" -gt "$FIT_MAX_MB" ]; then
    echo "A fit on $N_TRAIN images needs about $(( NEED_MB / 1024 + 1 )) GB of memory; this machine has" >&2
    echo "$(( AVAIL_MB / 1024 )) GB available, of which the demo lets a fit use 80%." >&2
    echo "Use --train $FIT_N or fewer, or a machine with more memory." >&2
    exit 2
fi

if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
    echo "run as root or with sudo: installing packages and the extension needs it" >&2
    exit 2
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
step() { printf '\n== %s\n' "$*"; }
die() { echo "demo FAILED: $*" >&2; exit 1; }

echo "ntk demo: Fashion-MNIST, $N_TRAIN training images, $N_TEST test images"
echo "memory: a fit may use $FIT_MAX_MB MB (80% of the available), about $NEED_MB MB needed;" \
     "the largest exact fit that fits has about $FIT_N images"

# 1. packages --------------------------------------------------------------------------
step "1/6 packages"
. test/deps.sh
ntk_install_deps dataset-fashion-mnist || die "package installation failed"
DATA=${NTK_DEMO_DATA:-/usr/share/datasets/fashion-mnist}
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    [ -r "$DATA/$f" ] || die "missing $DATA/$f (Debian package dataset-fashion-mnist)"
done
echo "ok: PostgreSQL $(pg_config --version | awk '{print $2}'), dataset in $DATA"

# 2. build and install -----------------------------------------------------------------
step "2/6 build and install the extension"
t0=$(now)
if [ "$INSTALL" = 1 ]; then
    # from clean: a tree left with another build (a sanitizer one, another server's
    # headers) would otherwise be installed as it is
    make -s clean >/dev/null 2>&1 || true
    make -s >/dev/null || die "make failed"
    if [ -n "${NTK_DEMO_INSTALL_LOCK:-}" ]; then
        flock "$NTK_DEMO_INSTALL_LOCK" $SUDO make -s install >/dev/null || die "make install failed"
    else
        $SUDO make -s install >/dev/null || die "make install failed"
    fi
    echo "ok ($(secs "$t0" "$(now)") s)"
else
    echo "skipped (--no-install: the extension as installed for $("${PG_BIN:-$(pg_config --bindir)}"/pg_config --sharedir 2>/dev/null || echo "the server"))"
fi

# 3. a throwaway cluster ---------------------------------------------------------------
step "3/6 start a throwaway PostgreSQL cluster"
. test/cluster.sh
cluster_start || die "could not start the cluster"
export PGDATABASE=ntk_demo
psql -X -q -d postgres -c "CREATE DATABASE ntk_demo" || die "CREATE DATABASE failed"
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION ntk" || die "CREATE EXTENSION ntk failed"
echo "ok: $PGHOST port $PGPORT, database $PGDATABASE"

# psql: echoes each statement and its time (\timing), stops at the first error.
PSQL=(psql -X -q -v ON_ERROR_STOP=1 --pset=footer=off)
run_sql() { { printf '\\timing on\n\\set ECHO queries\n'; cat; } | "${PSQL[@]}" "$@"; }
sql_value() { "${PSQL[@]}" -At -c "$1"; }

# 4. load ------------------------------------------------------------------------------
step "4/6 load the images (demo/load_fmnist.py: binary COPY, pixels / 255)"
t0=$(now)
$PY demo/load_fmnist.py --train "$N_TRAIN" --test "$N_TEST" || die "loading failed"
T_LOAD=$(secs "$t0" "$(now)")
"${PSQL[@]}" -c "SELECT id, label, array_length(x, 1) AS pixels, x[407:411]::numeric(4,3)[] AS \"x[407:411]\"
                 FROM fmnist_train ORDER BY id LIMIT 3" || die "query failed"
echo "load: $T_LOAD s"

# 5. fit -------------------------------------------------------------------------------
step "5/6 fit: kernel regression on one-hot labels, in one aggregate"
# ntk.max_memory and ntk.max_memory_limit (defaults: half the physical memory) cap what
# one fit may allocate; the demo allows 80% of the memory available when it started.  Progress NOTICEs come
# every few seconds of a long fit; the backend's peak resident memory (VmHWM of
# /proc/self/status, read by the backend itself) is printed after the fit.
FIT_OPTIONS_SQL=${FIT_OPTIONS//\'/\'\'}      # as an SQL string literal
t0=$(now)
run_sql <<SQL || die "fit failed"
SET ntk.max_memory_limit = '${FIT_MAX_MB}MB';
SET ntk.max_memory = '${FIT_MAX_MB}MB';
SELECT ntk_fit_classifier('fmnist', x, label, '$FIT_OPTIONS_SQL'::jsonb) AS model_id
FROM fmnist_train;
SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\\s*(\\d+) kB') AS vmhwm_kb
\\gset
\\o $CLUSTER_DIR/vmhwm
\\qecho :vmhwm_kb
\\o
SQL
T_FIT=$(secs "$t0" "$(now)")
PEAK_MB=$(awk 'NF { printf "%.0f", $1 / 1024 }' "$CLUSTER_DIR/vmhwm" 2>/dev/null || true)
echo "fit: $T_FIT s, backend peak resident memory (VmHWM) ${PEAK_MB:-?} MB"

# 6. predict and evaluate --------------------------------------------------------------
step "6/6 predict and evaluate the test set (ntk_evaluate, ntk_predict_batch)"
t0=$(now)
run_sql <<'SQL' || die "evaluation failed"
CREATE TABLE fmnist_eval AS
SELECT ntk_evaluate('fmnist', 'SELECT x, label FROM fmnist_test') AS m;
SQL
T_PRED=$(secs "$t0" "$(now)")
echo
echo "-- predictions of a set of rows (ntk_predict_batch), or one row at a time:"
run_sql <<'SQL' || die "prediction failed"
SELECT b.id, t.label AS truth, b.label AS predicted, ntk_predict_class('fmnist', t.x) AS one_at_a_time
FROM ntk_predict_batch('fmnist', 'SELECT id, x FROM fmnist_test ORDER BY id LIMIT 5') b
JOIN fmnist_test t USING (id)
ORDER BY b.id;
SQL

echo
echo "-- accuracy and F1 (ntk_evaluate: the figures of scikit-learn's sklearn.metrics)"
run_sql <<'SQL' || die "query failed"
SELECT (m->>'n')::int AS test_images,
       round((m->>'accuracy')::numeric, 4) AS accuracy,
       round((m#>>'{macro,f1}')::numeric, 4) AS macro_f1,
       round((m#>>'{weighted,f1}')::numeric, 4) AS weighted_f1
FROM fmnist_eval;
SQL

echo
echo "-- confusion matrix: rows = true class, columns = predicted class (psql's \\crosstabview)"
run_sql <<'SQL' || die "query failed"
SELECT tc.k || ' ' || tc.label AS "true \ predicted", pc.k AS predicted,
       (m->'confusion_matrix'->(t.i::int - 1)->>(p.i::int - 1))::int AS n
FROM fmnist_eval,
     jsonb_array_elements_text(m->'labels') WITH ORDINALITY AS t(label, i),
     jsonb_array_elements_text(m->'labels') WITH ORDINALITY AS p(label, i),
     fmnist_classes tc, fmnist_classes pc
WHERE tc.label = t.label AND pc.label = p.label
ORDER BY tc.k, pc.k
\crosstabview
SQL

echo
echo "-- per class"
run_sql <<'SQL' || die "query failed"
SELECT k.k, c.label AS class, c.support AS images, round(c.precision::numeric, 4) AS precision,
       round(c.recall::numeric, 4) AS recall, round(c.f1::numeric, 4) AS f1
FROM fmnist_eval,
     jsonb_to_recordset(m->'classes') AS c(label text, precision float8, recall float8,
                                           f1 float8, support int)
JOIN fmnist_classes k ON k.label = c.label
ORDER BY k.k;
SQL

echo
echo "-- the model as stored in ntk_models (its training inputs and coefficients are in ntk_model_data)"
run_sql -x <<'SQL' || die "query failed"
SELECT id, name, owner, created_at, task, kernel, activation, depth, sigma_w, sigma_b,
       ridge, n_train, n_features, n_outputs, classes, options, metrics
FROM ntk_models;
SQL

ACC=$(sql_value "SELECT round((m->>'accuracy')::numeric, 4) FROM fmnist_eval")
N_PRED=$(sql_value "SELECT m->>'n' FROM fmnist_eval")
PHASES=$(sql_value "SELECT string_agg(key || ' ' || value || ' s', ', ' ORDER BY ord)
                    FROM ntk_models, jsonb_each_text(metrics->'phase_seconds') WITH ORDINALITY AS p(key, value, ord)
                    WHERE name = 'fmnist'")
STORAGE=$(sql_value "SELECT coalesce(metrics->>'kernel_storage', options->>'method') FROM ntk_models WHERE name = 'fmnist'")
PHASES="$PHASES ($STORAGE)"
MODEL_SIZE=$(sql_value "SELECT pg_size_pretty(pg_total_relation_size('ntk_models')
                                        + pg_total_relation_size('ntk_model_data'))")

echo
echo "== summary"
printf '  %-9s %s\n' data "Fashion-MNIST, $N_TRAIN train / $N_TEST test images, 784 pixels in [0,1]" \
    options "$FIT_OPTIONS" \
    load "$T_LOAD s" fit "$T_FIT s" evaluate "$T_PRED s ($N_PRED images predicted and scored)" \
    "fit peak" "${PEAK_MB:-?} MB resident in the backend (VmHWM); ntk.max_memory ${FIT_MAX_MB}MB" \
    phases "$PHASES" \
    model "ntk_models + ntk_model_data take $MODEL_SIZE on disk" \
    accuracy "$ACC (sanity floor $MIN_ACC)"

[ "$N_PRED" = "$N_TEST" ] || die "predicted $N_PRED of $N_TEST test images"
awk -v a="$ACC" -v m="$MIN_ACC" 'BEGIN { exit !(a + 0 >= m + 0) }' \
    || die "accuracy $ACC is below the sanity floor $MIN_ACC"

if [ "$KEEP" = 1 ]; then
    trap - EXIT
    echo
    echo "The cluster keeps running. Explore it with:"
    echo "  psql -h $PGHOST -p $PGPORT -U $PGUSER $PGDATABASE"
    echo "Stop and remove it with:"
    echo "  ${CLUSTER_RUN:+$CLUSTER_RUN }$PG_BIN/pg_ctl -D $CLUSTER_DIR/data stop && rm -rf $CLUSTER_DIR"
fi
echo "demo OK"
