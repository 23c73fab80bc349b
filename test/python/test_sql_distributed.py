#!/usr/bin/python3
"""test_sql_distributed: a distributed Nystrom fit over several PostgreSQL
servers, with what Debian has (dblink), equal to the single-node fit.

Three throwaway clusters ("shards", started here, each with the extension)
each hold their part of a seeded training table, split by a hash of id.  The
server in the PG* environment variables is the coordinator: it holds the
whole table (for the single-node fits) and, through dblink, runs pass 1 on
every shard at once (ntk_nystrom_centers), merges the partial states
(ntk_nystrom_merge), sends the merged centers back to the shards as a
constant for pass 2 (ntk_nystrom_statistics), merges the statistics and fits
(ntk_nystrom_fit).  States travel in their text form.

Checks:
- the distributed model predicts every training row within 1e-9 (relative,
  norm-wise) of the single-node fits, the ntk_fit aggregate and
  ntk_fit_query, for a regression and a classifier, with and without
  "standardize";
- combine invariance: the dual coefficients from one statistics state, two
  (a seeded random split), a seeded random three-way split merged in every
  order and as a tree of ntk_nystrom_combine calls, and the three shards'
  states in several orders, within 1e-9 of each other;
- states built differently (other centers, kernel, standardization, target,
  pass) are refused with 22000, on the coordinator and through dblink,
  and the coordinator and its dblink connections keep working after;
  an error on a shard reaches the coordinator with the shard's SQLSTATE.

Creates its own database ntk_distributed_test on the coordinator and drops
it; the shards' clusters live in a temporary directory (sockets only, ports
PGPORT+1 to PGPORT+3) and are removed at exit.  Run as root, the shards run
as postgres, as test/cluster.sh does.  Ends with "N passed, M failed".
"""

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import psycopg2
import psycopg2.extras

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402

DB = "ntk_distributed_test"
SEED = 20261221
N_SHARDS = 3
TOL = 1e-9
CHECKS = testlib.Checks(verbose=True)
max_err = {}


def check(ok, msg):
    return CHECKS(ok, msg)


def rel(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return np.inf
    return float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) or 1.0))


def check_close(got, want, msg, category, tol=TOL):
    e = rel(got, want)
    max_err[category] = max(max_err.get(category, 0.0), e)
    return check(e <= tol, "%s (rel err %.2e)" % (msg, e))


# --- the shards' clusters ---------------------------------------------------

class Shards:
    """N_SHARDS throwaway clusters in one temporary directory: one initdb,
    copied, each started on its own port with a socket in the directory."""

    def __init__(self, base_port, user):
        self.bindir = os.environ.get("PG_BIN") or subprocess.check_output(
            ["pg_config", "--bindir"], text=True).strip()
        self.user = user
        self.ports = [base_port + 1 + i for i in range(N_SHARDS)]
        self.dir = tempfile.mkdtemp(prefix="ntk-shards.", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.run = []
        if os.getuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.run = ["runuser", "-u", "postgres", "--"]
        self.started = []

    def _do(self, *args):
        r = subprocess.run(self.run + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(args), r.stdout[-2000:]))

    def start(self):
        template = os.path.join(self.dir, "template")
        self._do(os.path.join(self.bindir, "initdb"), "-D", template, "-U", self.user, "-A", "trust",
                 "-E", "UTF8", "--no-locale")
        for i, port in enumerate(self.ports):
            data = os.path.join(self.dir, "shard%d" % (i + 1))
            self._do("cp", "-a", template, data)
            conf = ("listen_addresses = ''\nunix_socket_directories = '%s'\nport = %d\n"
                    "fsync = off\nshared_buffers = 32MB\nmax_connections = 20\n" % (self.dir, port))
            with open(os.path.join(data, "postgresql.conf"), "a") as f:
                f.write(conf)
            self._do(os.path.join(self.bindir, "pg_ctl"), "-D", data, "-l", data + ".log", "-w", "start")
            self.started.append(data)

    def stop(self):
        for data in self.started:
            subprocess.run(self.run + [os.path.join(self.bindir, "pg_ctl"), "-D", data, "-m", "immediate",
                                       "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.started = []
        shutil.rmtree(self.dir, ignore_errors=True)

    def dsn(self, i):
        return "host=%s port=%d user=%s dbname=postgres" % (self.dir, self.ports[i], self.user)


def connect(dsn):
    """An autocommit connection to a shard."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


# --- the coordinator's SQL --------------------------------------------------

# A pass on every shard at once (dblink_send_query, then the results in
# shard order), each shard's state as text: one command for every shard, or
# one per shard.  After an error on a shard or here, every connection is
# read to its end before the error goes on, so the connections stay usable.
ON_SHARDS = r"""
CREATE FUNCTION on_shards(VARIADIC cmds text[]) RETURNS TABLE (shard int, s text)
LANGUAGE plpgsql AS $f$
DECLARE
    conns text[] := (SELECT array_agg(n ORDER BY n) FROM unnest(dblink_get_connections()) n
                      WHERE n LIKE 'shard%');
    i int;
BEGIN
    FOR i IN 1 .. cardinality(conns) LOOP
        PERFORM dblink_send_query(conns[i], CASE WHEN cardinality(cmds) = 1 THEN cmds[1] ELSE cmds[i] END);
    END LOOP;
    BEGIN
        FOR i IN 1 .. cardinality(conns) LOOP
            RETURN QUERY SELECT i, r.s FROM dblink_get_result(conns[i]) AS r(s text);
            PERFORM FROM dblink_get_result(conns[i]) AS r(s text);
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        FOR i IN 1 .. cardinality(conns) LOOP
            PERFORM FROM dblink_get_result(conns[i], false) AS r(s text);
            PERFORM FROM dblink_get_result(conns[i], false) AS r(s text);
        END LOOP;
        RAISE;
    END;
END
$f$;
"""


def target_col(task):
    return "label" if task == "classification" else "y"


def distributed_fit(cur, name, task, opts, shard_opts=None):
    """The two passes on the shards, the fit here; the per-shard statistics
    states are left in the temporary table shard_stats."""
    o = json.dumps(opts)
    t = target_col(task)
    cur.execute("DROP TABLE IF EXISTS shard_centers, centers, shard_stats")
    cur.execute("CREATE TEMP TABLE shard_centers AS SELECT * FROM on_shards("
                "format('SELECT ntk_nystrom_centers(x, %%s, %%L)::text FROM train', %s, %s::text))", (t, o))
    cur.execute("CREATE TEMP TABLE centers AS SELECT ntk_nystrom_merge(s::ntk_nystrom_state) AS s "
                "FROM shard_centers")
    so = [json.dumps(x) for x in (shard_opts or [opts])]
    # the merged centers go back to every shard as a constant of pass 2
    cur.execute("CREATE TEMP TABLE shard_stats AS SELECT * FROM on_shards(VARIADIC (SELECT "
                "array_agg(format(%s, c.s::text, u.o) ORDER BY u.k) "
                "FROM centers c, unnest(%s::text[]) WITH ORDINALITY u(o, k)))",
                ("SELECT ntk_nystrom_statistics(%%L::ntk_nystrom_state, x, %s, %%L)::text FROM train" % t, so))
    cur.execute("SELECT ntk_nystrom_fit(%s, (SELECT ntk_nystrom_merge(s::ntk_nystrom_state) FROM shard_stats), %s)",
                (name, o))
    return cur.fetchone()[0]


def readme_recipe(cur, opts):
    """The README's SQL (Distributed fits), with the shards' connections."""
    p = {"o": json.dumps(opts)}
    cur.execute("DROP TABLE IF EXISTS r_centers")
    cur.execute("""
CREATE TEMP TABLE r_centers AS
SELECT ntk_nystrom_merge(t.s) AS s
FROM unnest(ARRAY['shard1', 'shard2', 'shard3']) AS node,
     dblink(node, format('SELECT ntk_nystrom_centers(x, y, %%L) FROM train', %(o)s)) AS t(s ntk_nystrom_state)""", p)
    cur.execute("""
SELECT ntk_nystrom_fit('readme', ntk_nystrom_merge(t.s), %(o)s)
FROM r_centers c, unnest(ARRAY['shard1', 'shard2', 'shard3']) AS node,
     dblink(node, format('SELECT ntk_nystrom_statistics(%%L, x, y, %%L) FROM train', c.s, %(o)s))
         AS t(s ntk_nystrom_state)""", p)


def outputs(cur, name):
    """Every output of a model on every training row, rows in id order."""
    cur.execute("SELECT ntk_predict_vector(%s, x) FROM train ORDER BY id", (name,))
    return np.array([r[0] for r in cur.fetchall()])


def alpha(cur, name):
    cur.execute("SELECT string_agg(d.data, ''::bytea ORDER BY d.chunk) FROM ntk_model_data d "
                "JOIN ntk_models m ON m.id = d.model_id WHERE m.name = %s AND d.part = 'alpha'", (name,))
    return np.frombuffer(bytes(cur.fetchone()[0]), dtype="<f8")


def sqlstate(cur, sql, args=None):
    try:
        cur.execute(sql, args)
        return "ok", None
    except psycopg2.Error as e:
        return e.pgcode, e


# --- the checks -------------------------------------------------------------

def load(coord, shard_conns, rng, n, d):
    X = rng.standard_normal((n, d))
    y = np.sin(X @ rng.standard_normal(d)) + 0.1 * rng.standard_normal(n)
    cut = np.quantile(y, [1 / 3, 2 / 3])
    label = np.where(y < cut[0], "low", np.where(y < cut[1], "mid", "high"))
    part2 = rng.integers(0, 2, n)
    part3 = rng.integers(0, 3, n)
    rows = [(i + 1, [float(v) for v in X[i]], float(y[i]), str(label[i]), int(part2[i]), int(part3[i]))
            for i in range(n)]
    with coord.cursor() as cur:
        cur.execute("CREATE TABLE train (id bigint PRIMARY KEY, x float8[], y float8, label text, "
                    "part2 int, part3 int)")
        psycopg2.extras.execute_values(cur, "INSERT INTO train VALUES %s", rows, page_size=1000)
        # the shard of a row: a hash of its id
        cur.execute("SELECT id, (hashint8(id)::bigint + 2147483648) %% %d FROM train ORDER BY id" % N_SHARDS)
        shard_of = dict(cur.fetchall())
    sizes = []
    for k, sc in enumerate(shard_conns):
        part = [r[:4] for r in rows if shard_of[r[0]] == k]
        sizes.append(len(part))
        with sc.cursor() as cur:
            cur.execute("CREATE TABLE train (id bigint PRIMARY KEY, x float8[], y float8, label text)")
            psycopg2.extras.execute_values(cur, "INSERT INTO train VALUES %s", part, page_size=1000)
    return sizes


def test_equal_single(cur, n, sizes):
    # H = K_nm^T K_nm squares the conditioning of K_nm: a sum taken in another
    # order moves a prediction by rounding times about the condition number.
    # These kernels stay near 1e-10; smooth shallow NNGP kernels in 5
    # features do not (relu depth 2: 8e-9, erf depth 2: 1.4e-9 at ridge
    # 1e-3, as much between the streaming fit and ntk_fit on one server).
    kernels = {"regression": {"depth": 3, "activation": "relu"},
               "classification": {"depth": 3, "activation": "erf", "sigma_b": 0.2}}
    for task in ("regression", "classification"):
        for std in (False, True):
            opts = dict(kernels[task], method="nystrom", centers=150, seed=7, ridge=1e-3, standardize=std)
            what = "%s%s" % (task, ", standardize" if std else "")
            distributed_fit(cur, "dist", task, opts)
            cur.execute("SELECT shard, (ntk_nystrom_state_info(s::ntk_nystrom_state)->>'rows')::int "
                        "FROM shard_stats ORDER BY shard")
            per = [r[1] for r in cur.fetchall()]
            check(per == sizes and sum(per) == n and all(0 < p < n for p in per),
                  "%s: each shard's statistics hold its own rows only (%s of %d)" % (what, per, n))
            agg = "ntk_fit_classifier" if task == "classification" else "ntk_fit"
            cur.execute("SELECT %s('single', x, %s, %%s) FROM train" % (agg, target_col(task)),
                        (json.dumps(opts),))
            cur.execute("SELECT ntk_fit_query('query', %s, %s)",
                        ("SELECT x, %s FROM train" % target_col(task), json.dumps(dict(opts, task=task))))
            p_dist, p_single, p_query = outputs(cur, "dist"), outputs(cur, "single"), outputs(cur, "query")
            check_close(p_dist, p_single, "%s: the 3-shard model predicts the %d rows as the single-node "
                        "ntk_fit model" % (what, n), "distributed vs single node")
            check_close(p_dist, p_query, "%s: ... and as ntk_fit_query's" % what, "distributed vs single node")
            cur.execute("SELECT name, n_train, classes, metrics->'n_rows', options->'centers', options->'standardize' "
                        "FROM ntk_models WHERE name IN ('dist', 'single') ORDER BY name")
            (_, *dm), (_, *sm) = cur.fetchall()
            check(dm == sm and dm[2] == n and dm[0] == 150,
                  "%s: the stored models agree: n_train %s, classes %s, n_rows %s, options" % (what, dm[0], dm[1], dm[2]))
            if task == "regression" and std:
                readme_recipe(cur, opts)
                check_close(outputs(cur, "readme"), p_dist, "%s: the README's recipe (dblink, one shard after "
                            "the other) gives the same model" % what, "distributed vs single node")
                cur.execute("SELECT ntk_drop_model('readme')")
            if task == "classification":
                cur.execute("SELECT count(*) FILTER (WHERE ntk_predict_class('dist', x) = ntk_predict_class('single', x)) "
                            "FROM train")
                agree = cur.fetchone()[0]
                check(agree == n, "%s: the predicted classes agree on %d of %d rows" % (what, agree, n))
    for m in ("dist", "single", "query"):
        cur.execute("SELECT ntk_drop_model(%s)", (m,))


def test_invariance(cur):
    """One state, two, three in every order and as a tree, the shards'."""
    for task, std in (("regression", True), ("classification", False)):
        opts = {"centers": 120, "seed": 3, "ridge": 1e-3, "standardize": std}
        o = json.dumps(opts)
        t = target_col(task)
        distributed_fit(cur, "shards_a", task, opts)
        cur.execute("SELECT ntk_nystrom_fit('shards_b', (SELECT ntk_nystrom_merge(s::ntk_nystrom_state ORDER BY shard DESC) "
                    "FROM shard_stats), %s)", (o,))
        cur.execute("SELECT ntk_nystrom_fit('shards_c', ntk_nystrom_combine(ntk_nystrom_combine("
                    "(SELECT s::ntk_nystrom_state FROM shard_stats WHERE shard = 2), "
                    "(SELECT s::ntk_nystrom_state FROM shard_stats WHERE shard = 3)), "
                    "(SELECT s::ntk_nystrom_state FROM shard_stats WHERE shard = 1)), %s)", (o,))
        stats = "ntk_nystrom_statistics((SELECT s FROM centers), x, %s, %%s)" % t
        cur.execute("SELECT ntk_nystrom_fit('one', %s, %%s) FROM train" % stats, (o, o))
        cur.execute("DROP TABLE IF EXISTS p2, p3")
        cur.execute("CREATE TEMP TABLE p2 AS SELECT part2 AS part, %s::text AS s FROM train GROUP BY part2" % stats, (o,))
        cur.execute("CREATE TEMP TABLE p3 AS SELECT part3 AS part, %s::text AS s FROM train GROUP BY part3" % stats, (o,))
        cur.execute("SELECT ntk_nystrom_fit('two', ntk_nystrom_merge(s::ntk_nystrom_state ORDER BY part DESC), %s) FROM p2",
                    (o,))
        names = ["shards_a", "shards_b", "shards_c", "two"]
        for k, order in enumerate(([0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0])):
            names.append("three_%d%d%d" % tuple(order))
            cur.execute("SELECT ntk_nystrom_fit(%s, ntk_nystrom_merge(s::ntk_nystrom_state "
                        "ORDER BY array_position(%s::int[], part)), %s) FROM p3", (names[-1], order, o))
        names.append("three_tree")
        cur.execute("SELECT ntk_nystrom_fit('three_tree', ntk_nystrom_combine("
                    "(SELECT s::ntk_nystrom_state FROM p3 WHERE part = 1), ntk_nystrom_combine("
                    "(SELECT s::ntk_nystrom_state FROM p3 WHERE part = 2), "
                    "(SELECT s::ntk_nystrom_state FROM p3 WHERE part = 0))), %s)", (o,))
        cur.execute("SELECT count(DISTINCT ntk_nystrom_state_info(s::ntk_nystrom_state)->>'fingerprint'), "
                    "sum((ntk_nystrom_state_info(s::ntk_nystrom_state)->>'rows')::int) FROM "
                    "(SELECT s FROM shard_stats UNION ALL SELECT s FROM p2 UNION ALL SELECT s FROM p3) q")
        fps, rows = cur.fetchone()
        check(fps == 1, "%s: every partial state has the one fingerprint of the centers and kernel" % task)
        a1 = alpha(cur, "one")
        for nm in names:
            check_close(alpha(cur, nm), a1, "%s%s: coefficients from %s equal those from one state"
                        % (task, ", standardize" if std else "", nm), "combine invariance")
        for nm in ["one"] + names:
            cur.execute("SELECT ntk_drop_model(%s)", (nm,))


def test_mismatch(cur):
    base = {"centers": 60, "seed": 1, "ridge": 1e-3}
    o = json.dumps(base)
    cur.execute("DROP TABLE IF EXISTS mm")
    cur.execute("CREATE TEMP TABLE mm AS SELECT "
                "ntk_nystrom_centers(x, y, %s) AS c, "
                "ntk_nystrom_centers(x, y, %s) AS c_seed, "
                "ntk_nystrom_centers(x, y, %s) AS c_std, "
                "ntk_nystrom_centers(x, label, %s) AS c_label FROM train",
                (o, json.dumps(dict(base, seed=2)), json.dumps(dict(base, standardize=True)), o))
    cur.execute("ALTER TABLE mm ADD COLUMN s ntk_nystrom_state, ADD COLUMN s_seed ntk_nystrom_state, "
                "ADD COLUMN s_depth ntk_nystrom_state")
    cur.execute("UPDATE mm SET s = (SELECT ntk_nystrom_statistics(mm.c, x, y, %s) FROM train), "
                "s_seed = (SELECT ntk_nystrom_statistics(mm.c_seed, x, y, %s) FROM train), "
                "s_depth = (SELECT ntk_nystrom_statistics(mm.c, x, y, %s) FROM train)",
                (o, o, json.dumps(dict(base, depth=2))))
    cases = [
        ("statistics against other centers (seed)", "SELECT ntk_nystrom_combine(s, s_seed) FROM mm"),
        ("statistics of another kernel (depth)", "SELECT ntk_nystrom_merge(v) FROM mm, LATERAL (VALUES (s), (s_depth)) q(v)"),
        ("centers of other seeds", "SELECT ntk_nystrom_combine(c, c_seed) FROM mm"),
        ("centers with and without standardize", "SELECT ntk_nystrom_merge(v) FROM mm, LATERAL (VALUES (c), (c_std)) q(v)"),
        ("centers of a regression and of a classifier", "SELECT ntk_nystrom_combine(c, c_label) FROM mm"),
        ("centers and statistics", "SELECT ntk_nystrom_merge(v) FROM mm, LATERAL (VALUES (c), (s)) q(v)"),
    ]
    for what, sql in cases:
        code, e = sqlstate(cur, sql)
        check(code == "22000", "refused with 22000: %s (%s: %s)" % (
            what, code, e.diag.message_detail if e is not None else "combined"))
    # through the shards: one shard accumulates with another kernel
    opts = dict(base, method="nystrom")
    try:
        distributed_fit(cur, "bad", "regression", opts,
                        shard_opts=[opts, dict(opts, depth=2), opts])
        code, e = "ok", None
    except psycopg2.Error as err:
        code, e = err.pgcode, err
    check(code == "22000" and "fingerprint" in (e.diag.message_detail or ""),
          "a shard's statistics of another kernel are refused when merged: %s %s" % (
              code, e.diag.message_primary if e is not None else ""))
    # an error on a shard arrives with the shard's SQLSTATE
    code, e = sqlstate(cur, "SELECT * FROM on_shards('SELECT ''AAAA''::ntk_nystrom_state::text')")
    check(code == "22P03", "a shard's error reaches the coordinator with its SQLSTATE (%s)" % code)
    cur.execute("SELECT count(*) FROM ntk_models WHERE name = 'bad'")
    check(cur.fetchone()[0] == 0, "nothing was stored by the refused fits")
    # the coordinator and its connections to the shards still work
    distributed_fit(cur, "after", "regression", opts)
    cur.execute("SELECT count(*) FROM train WHERE ntk_predict('after', x) IS NOT NULL")
    check(cur.fetchone()[0] > 0, "after the errors the coordinator and every dblink connection still fit and predict")
    cur.execute("SELECT ntk_drop_model('after')")


def main():
    t0 = time.time()
    rng = testlib.rng(SEED)
    base_port = int(os.environ.get("PGPORT", "5432"))
    user = os.environ.get("PGUSER") or pwd.getpwuid(os.getuid()).pw_name
    shards = Shards(base_port, user)
    shard_conns = []
    try:
        shards.start()
        check(True, "%d shard clusters started (ports %s) in %.1f s" % (N_SHARDS, shards.ports, time.time() - t0))
        for i in range(N_SHARDS):
            sc = connect(shards.dsn(i))
            sc.cursor().execute("CREATE EXTENSION ntk")
            shard_conns.append(sc)
        coord = testlib.create_database(DB)
        cur = coord.cursor()
        cur.execute("CREATE EXTENSION dblink")
        cur.execute(ON_SHARDS)
        for i in range(N_SHARDS):
            cur.execute("SELECT dblink_connect(%s, %s)", ("shard%d" % (i + 1), shards.dsn(i)))
        n, d = 2400, 5
        sizes = load(coord, shard_conns, rng, n, d)
        test_equal_single(cur, n, sizes)
        test_invariance(cur)
        test_mismatch(cur)
        cur.execute("SELECT string_agg(name, ', ') FROM ntk_models")
        left = cur.fetchone()[0]
        check(left is None, "every test model was dropped (left: %s)" % left)
        coord.close()
    except Exception as e:  # report, then clean up
        import traceback
        traceback.print_exc()
        check(False, "unexpected exception: %s" % e)
    finally:
        for sc in shard_conns:
            sc.close()
        shards.stop()
        testlib.drop_database(DB)
    for cat in sorted(max_err):
        print("max relative error %s: %.3g" % (cat, max_err[cat]))
    print("time %.1f s" % (time.time() - t0))
    return CHECKS.finish(str(SEED))


if __name__ == "__main__":
    sys.exit(main())
