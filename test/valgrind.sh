#!/usr/bin/env bash
# test/valgrind.sh: every SQL function of ntk once under valgrind memcheck, in a
# single-user backend (postgres --single) of a throwaway data directory.
#
# Fails on any memcheck error not in test/valgrind.supp, which lists only
# PostgreSQL's own known reports.  Leak checking is off: PostgreSQL frees
# memory contexts wholesale, by design.  ntk must be installed.  ~1 minute.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PG_BIN=$(pg_config --bindir)
DIR=$(mktemp -d /tmp/ntk-valgrind.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
chmod 755 "$DIR"
run=""
if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; run="runuser -u postgres --"; fi
cp test/valgrind.supp "$DIR/"
$run "$PG_BIN/initdb" -D "$DIR/data" -A trust --no-locale -E UTF8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log"; exit 1; }

# -j: a statement ends with a semicolon and an empty line; errors do not stop the run
cat >"$DIR/script.sql" <<'SQL'
CREATE EXTENSION ntk;

SELECT ntk_kernel('{1,0}', '{0,1}', 1), nngp_kernel('{1,2,3}', '{3,2,1}', 3, 'erf', 1.5, 0.2);

SELECT ntk_kernel('{1,NaN}', '{0,1}');

SELECT ntk_kernel('{{1,2},{3,4}}', '{0,1}');

CREATE TABLE t AS SELECT i AS id, ARRAY[sin(i), cos(i), (i % 7)::float8] AS x, sin(i) AS y, (i % 3)::text AS lab FROM generate_series(1, 300) i;

SELECT ntk_fit('r', x, y, '{"standardize": true, "variance": true}') FROM t;

SELECT ntk_fit('m', x, ARRAY[y, 2*y], '{"t": 10, "variance": true}') FROM t;

SELECT ntk_fit_classifier('c', x, lab, '{"depth": [1,2], "ridge": "auto", "activation": "erf"}') FROM t;

SELECT ntk_fit('g' || (id % 4), x, y, '{"kernel": "nngp"}') FROM t GROUP BY id % 4;

SELECT sum(ntk_predict('r', x)), sum(ntk_predict_var('r', x)), sum(ntk_predict_var('m', x)) FROM t;

SELECT count(*), sum(prediction) FROM ntk_predict_batch('c', 'SELECT id, x FROM t');

SELECT ntk_predict_class('c', x), ntk_predict_vector('m', x) FROM t LIMIT 3;

SELECT ntk_fit('bad', x, y, '{"bogus": 1}') FROM t;

SELECT ntk_fit('dup', ARRAY[1.0, 2.0]::float8[], 1.0, '{"ridge": 0, "ridge_absolute": true}') FROM generate_series(1, 3);

SELECT ntk_predict('missing', '{1,2,3}');

SELECT ntk_predict('r', '{1,2}');

SELECT * FROM ntk_predict_batch('r', 'DELETE FROM t RETURNING id, x');

SELECT ntk_drop_model('r'), ntk_drop_model('r');

SQL

$run valgrind --error-limit=no --num-callers=40 --leak-check=no \
    --suppressions="$DIR/valgrind.supp" --xml=yes --xml-file="$DIR/vg.xml" \
    "$PG_BIN/postgres" --single -D "$DIR/data" -j postgres \
    <"$DIR/script.sql" >"$DIR/out.txt" 2>&1
rc=$?
statements=$(grep -c '^backend>' "$DIR/out.txt")
errors=$(grep -c '<error>' "$DIR/vg.xml")
echo "valgrind: backend exit status $rc, $statements statements, $errors unsuppressed memcheck errors"
if [ "$errors" != 0 ]; then
    /usr/bin/python3 - "$DIR/vg.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
for e in ET.parse(sys.argv[1]).getroot().findall('error'):
    frames = [(f.findtext('fn') or '?') + ' (' + (f.findtext('obj') or '') + ')'
              for f in e.find('stack').findall('frame')]
    print(e.findtext('kind'), e.findtext('what') or e.findtext('xwhat/text'))
    for f in frames[:12]:
        print('    ', f)
PY
fi
grep -q 'ERROR:  unrecognized option "bogus"' "$DIR/out.txt" && grep -q 'does not exist' "$DIR/out.txt" \
    || { echo "valgrind: the script did not run to the end"; tail -20 "$DIR/out.txt"; exit 1; }
[ "$rc" = 0 ] && [ "$errors" = 0 ]
