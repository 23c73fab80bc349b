#!/usr/bin/env bash
# test/fault/reinstall.sh: sessions that used ntk keep working when the
# extension is dropped and created again in another schema.
#
# The model store is found through the extension's schema; a backend that
# remembered the old schema would fit into and predict from a table that no
# longer exists.  Both the session that reinstalls and another one that used
# ntk before must fit and predict afterwards.
. "$(dirname "$0")/lib.sh"
need_superuser
fault_db || { not_ok "create the database"; fault_finish; }

cd "$FAULT_TMP" || exit 1
FAULT_NAME=reinstall PYTHONPATH="$FAULT_DIR" timeout 60 "$PY" - "$FAULT_DB" <<'PY'
from faultlib import check, connect, finish, not_ok, one, run
import psycopg2

a, b = connect(), connect()
FIT = "SELECT %sntk_fit('m', ARRAY[i::float8], %s * i::float8) FROM generate_series(1, 8) i"
one(b, FIT % ("", 1))
one(a, "SELECT ntk_predict('m', '{2}')")              # a remembers where the models are
run(b, "DROP EXTENSION ntk; CREATE SCHEMA ntk_s2; CREATE EXTENSION ntk SCHEMA ntk_s2")
for who, conn in (("the reinstalling session", b), ("another session", a)):
    try:
        one(conn, FIT % ("ntk_s2.", 3))
        p = one(conn, "SELECT ntk_s2.ntk_predict('m', '{2}')")
        check(abs(p - 6.0) < 1e-3, "%s fits and predicts after the extension moved schema" % who,
              "predicted %r for 6" % p)
    except psycopg2.Error as e:
        not_ok("%s fits and predicts after the extension moved schema" % who, e.pgerror.splitlines()[0])
run(b, "DROP EXTENSION ntk; DROP SCHEMA ntk_s2; CREATE EXTENSION ntk")
for who, conn in (("the reinstalling session", b), ("another session", a)):
    try:
        code = None
        one(conn, "SELECT ntk_predict('m', '{2}')")
    except psycopg2.Error as e:
        code = e.pgcode
    check(code == "42704", "%s: after DROP and CREATE EXTENSION the old model is gone (42704)" % who,
          "got %s" % code)
a.close(); b.close()
finish()
PY
rc=$?
[ $rc = 0 ] || [ $rc = 1 ] || echo "not ok - reinstall: ended with status $rc"
exit $rc
