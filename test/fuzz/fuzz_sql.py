"""fuzz_sql: a randomized fuzzer of every SQL entry point of ntk, in a live
server.

From a fixed seed it generates a few thousand malformed calls of
ntk_kernel, nngp_kernel, the ntk_fit and ntk_fit_classifier aggregates, the
ntk_predict functions, ntk_predict_batch, ntk_evaluate, ntk_drop_model and
the Nystrom building blocks (ntk_fit_query, the pass aggregates, states):

  - arrays: multi-dimensional, with NULL elements, non-1 lower bounds,
    slices (with and without a NULL bitmap), NaN and +-Infinity, subnormal
    and huge values, empty, mismatched lengths, long;
  - jsonb options: wrong types, out-of-range values (and valid ones at their
    extremes), unknown and misspelt keys, nested objects and arrays, numbers
    beyond float8 (1e400, 1e-400, 400 digits), "auto" and its misspellings,
    candidate lists (empty, too long, nested, non-integer, huge depths),
    roots that are not objects, duplicate keys;
  - kernel parameters: depths around the limits, odd activation names,
    sigmas that are NaN, infinite, negative, -0, subnormal or huge;
  - models that do not exist or have the wrong task, and batch queries
    that are not a single read-only SELECT of (bigint, float8[]) or that
    fail while running;
  - Nystrom states (ntk_nystrom_state) in their text form truncated, with
    characters flipped, padded or replaced, fed to ntk_nystrom_state_info,
    ntk_nystrom_fit, ntk_nystrom_combine and ntk_nystrom_merge; states of
    other centers, kernels or passes combined; the passes' aggregates and
    ntk_fit_query with the option and query mutations above;
  - the aggregates as window functions, with DISTINCT, FILTER, ORDER BY,
    GROUP BY, no rows, options changing within a group, in a read-only
    transaction and under a 1 ms statement_timeout; some calls under
    force_parallel_mode.

Every statement must either succeed or fail with a clean PostgreSQL error
whose SQLSTATE is in the allowed set (never XX000 internal_error, never a
lost connection or a statement_timeout), must not make the server warn
(leaked buffers, snapshots, references), must not fail inside the
extension's own statements on its tables, and the session must still answer
SELECT 1 afterwards.  Successful calls are checked too: kernels and
predictions finite, posterior variances not negative, a fitted model's
resolved options within the documented ranges, and whatever a fit accepted
predicting finite values.  Before the random cases, REGRESSIONS (statements
that once misbehaved, with their exact error or success now) and the
reproducers of KNOWN_ISSUES (open problems found here; none now) run.

Connects with the PG* environment variables (test/cluster.sh sets them),
creates its own database ntk_fuzz_sql with CREATE EXTENSION ntk, and drops
it at the end.

Environment: NTK_FUZZ_SQL_SEED (default NTK_TEST_SEED if that is set,
else 20261129), NTK_FUZZ_SQL_CASES (default 3000), NTK_FUZZ_SQL_SECONDS
(stop generating after this many seconds; unset by default, so that every
run, on any machine, tries the same statements), NTK_FUZZ_SQL_STRICT=1
(known issues fail the run too).  A failure prints the statement, so it
can be pasted into psql, and the seed with the command that replays the
same statements.

Prints "fuzz_sql: N cases, ... N failed" and exits 1 on any failure.
Run with /usr/bin/python3 (needs psycopg2).
"""

import json
import math
import os
import random
import sys
import time

import psycopg2
import psycopg2.extensions

DBNAME = "ntk_fuzz_sql"
SEED = int(os.environ.get("NTK_FUZZ_SQL_SEED") or os.environ.get("NTK_TEST_SEED") or "20261129", 0)
CASES = int(os.environ.get("NTK_FUZZ_SQL_CASES", "3000"))
BUDGET = float(os.environ.get("NTK_FUZZ_SQL_SECONDS") or "inf")

# Clean errors: data exceptions (22), syntax and access rules (42: undefined
# objects, wrong types, privileges), feature not supported (0A), read-only
# transaction (25), program limits (54), object not in prerequisite state
# (55000), a trigger function not called as a trigger (39P01).  Everything
# else, XX000 above all, is a failure.
ALLOWED_CLASSES = {"22", "42", "0A", "25", "54"}
ALLOWED_CODES = {"55000", "39P01"}
# errors the extension's own statements on ntk_models / ntk_model_data may
# end with: read-only transaction, privileges; any other error there means
# it wrote something invalid
INTERNAL_OK = {"25006", "42501"}

# Regressions: statements that once misbehaved, with the exact error they
# must give now.  FIT is a training set; %s is the options.
FIT = "SELECT ntk_fit('fz_regress', x, y, %s) FROM fz_train"
SUBNORMAL_X = "(VALUES ('{1e-160}'::float8[], %s)) v(x, y)"
REGRESSIONS = [
    # fuzz_validate (UBSan): a depth candidate beyond int was cast to int
    # before its range check
    (FIT % "'{\"depth\": [4294967296]}'", "22023", 'option "depth" must be between 0 and 1000'),
    (FIT % "'{\"depth\": [1e300, 1]}'", "22023", 'option "depth" must be between 0 and 1000'),
    (FIT % "'{\"depth\": [-2147483649]}'", "22023", 'option "depth" must be between 0 and 1000'),
    # a nested container in a candidate list was "an unsupported value"
    (FIT % "'{\"depth\": [1, [2]]}'", "22023", 'option "depth" must be a number, not an array'),
    (FIT % "'{\"ridge\": [{\"a\": 1}]}'", "22023", 'option "ridge" must be a number, not an object'),
    # the limits and their messages
    (FIT % ("'{\"ridge\": [%s]}'" % ", ".join(["1"] * 65)), "54000",
     'option "ridge" has more than 64 candidates'),
    (FIT % "'{\"depth\": []}'", "22023", 'option "depth" must not be an empty array'),
    # fit.c wrote train_rmse Infinity into its metrics JSON (its own INSERT
    # failed with 22P02); subnormal kernels gave infinite coefficients that a
    # classifier stored; the trigger function called directly was an XX000
    ("SELECT ntk_fit('fz_big', x, y) FROM (VALUES ('{1,2}'::float8[], 1e200::float8), "
     "('{2,1}', -1e200)) v(x, y)", None, None),
    ("SELECT ntk_predict('fz_big', '{1.5,1.5}')", None, "finite"),
    # predictions that overflow were returned as Infinity or NaN
    ("SELECT ntk_predict('fz_big', '{1e110,1e99}')", "22003",
     'prediction of model "fz_big" is out of range for type double precision'),
    ("SELECT * FROM ntk_predict_batch('fz_big', 'SELECT 1::bigint, ''{1e110,1e99}''::float8[]')",
     "22003", 'prediction of model "fz_big" is out of range for type double precision'),
    ("SELECT ntk_fit('fz_tiny', x, y) FROM " + SUBNORMAL_X % "1.0::float8", "22003",
     'dual coefficients of model "fz_tiny" are out of range for type double precision'),
    ("SELECT ntk_fit_classifier('fz_tiny', x, y) FROM " + SUBNORMAL_X % "'a'", "22003",
     'dual coefficients of model "fz_tiny" are out of range for type double precision'),
    ("SELECT ntk_fit('fz_tiny', x, y) FROM (VALUES ('{1e-160}'::float8[], 1.0::float8), "
     "('{2e-160}', 2.0)) v(x, y)", "22000", 'kernel matrix of model "fz_tiny" is not positive definite'),
    ("SELECT ntk_models_invalidate()", "39P01",
     'function "ntk_models_invalidate" was not called by trigger manager'),
    (FIT % "'{\"depth\": 1e10}'", "22023", 'option "depth" must be an integer'),
    ("SELECT ntk_kernel('[5:6]={1,NaN}', '{1,1}')", "22000", 'array "x" must not contain NaN or Infinity'),
    ("SELECT ntk_kernel((ARRAY[1, NULL, 2, 3]::float8[])[3:4], '{1,1,1}')", "22000",
     'arrays "x" and "z" have different lengths'),
]

# Known issues: found by this fuzzer in files its author was not to change.
# A failure that matches one is counted under it instead of failing the run
# (NTK_FUZZ_SQL_STRICT=1 fails it anyway), and each one's reproducer runs
# every time: when it no longer reproduces the summary says so, and its
# statements belong in REGRESSIONS then.
STRICT = os.environ.get("NTK_FUZZ_SQL_STRICT", "") not in ("", "0")
KNOWN_ISSUES = []
known_seen = {}     # id -> [count, first failure]

MAX_DEPTH = 1000
MAX_CANDIDATES = 64
KNOWN_KEYS = ["depth", "activation", "sigma_w", "sigma_b", "kernel", "ridge",
              "ridge_absolute", "standardize", "t", "learning_rate",
              "variance", "method", "centers", "seed"]
NEAR_KEYS = ["depht", "Depth", "DEPTH", "", " depth", "depth ", "ridge_abs",
             "sigma", "sigmaw", "lr", "learningrate", "kernel_kind", "t ",
             "T", "variance\t", "activation2", "\u00e9", "d\u00e9pth",
             "x" * 300, "ridge\\u0000", "null", "1"]
SETUP_MODELS = {}   # name -> (task, d, k, variance)

rng = random.Random(SEED)
conn = None
cur = None
stats = {"cases": 0, "statements": 0, "ok": 0, "errors": 0, "failed": 0}
random_cases = [0]  # how many random cases were generated
codes = {}
failures = []
per_kind = {}       # case kind -> [succeeded, errors]
kind_now = ["setup"]
after = [None]      # the statement a follow-up check depends on
known_mode = [None]     # the known issue a reproducer is for


# --- connection ---------------------------------------------------------------

def connect(dbname):
    c = psycopg2.connect(dbname=dbname)
    c.autocommit = True
    k = c.cursor()
    k.execute("SET client_min_messages = warning")
    k.execute("SET statement_timeout = '20s'")
    k.execute("SET ntk.threads = 1")
    k.execute("SET ntk.max_memory = '1GB'")
    k.execute("SET extra_float_digits = 3")
    return c, k


def reconnect():
    """After a lost connection: wait for the server to accept us again."""
    global conn, cur
    try:
        conn.close()
    except Exception:
        pass
    for _ in range(60):
        try:
            conn, cur = connect(DBNAME)
            return True
        except psycopg2.Error:
            time.sleep(0.5)
    return False


# --- literals -----------------------------------------------------------------

def f8(v):
    """A float8 SQL literal for any double, NaN and infinities included."""
    if math.isnan(v):
        return "'NaN'::float8"
    if math.isinf(v):
        return "'Infinity'::float8" if v > 0 else "'-Infinity'::float8"
    return "'%r'::float8" % v


def text_elem(v):
    """An element of a float8[] text literal."""
    if v is None:
        return "NULL"
    if math.isnan(v):
        return rng.choice(["NaN", "nan", "NAN"])
    if math.isinf(v):
        return rng.choice(["Infinity", "inf"]) if v > 0 else rng.choice(["-Infinity", "-inf"])
    return repr(v)


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


EXTREMES = [0.0, -0.0, 1.0, -1.0, 5e-324, -5e-324, 2.2250738585072014e-308,
            1e-310, 1e-160, 1e150, 1.3407807929942596e154, 1e155, 1e200,
            1e300, 1.7976931348623157e308, -1.7976931348623157e308, 0.1,
            1e-20, 1e20, 3.0]


def gen_elem(finite=True):
    r = rng.random()
    if r < 0.6:
        return round(rng.uniform(-3, 3), rng.choice([0, 1, 3, 17]))
    if r < 0.85 or finite:
        return rng.choice(EXTREMES)
    return rng.choice([math.nan, math.inf, -math.inf])


def valid_array(d):
    """A float8[] expression of length d with finite values, in some form."""
    vals = [gen_elem() for _ in range(d)]
    form = rng.randrange(5)
    if form == 0:
        return "ARRAY[%s]::float8[]" % ", ".join(f8(v) for v in vals)
    if form == 1:
        return "%s::float8[]" % sql_str("{" + ",".join(text_elem(v) for v in vals) + "}")
    if form == 2:
        # lower bound other than 1
        lo = rng.choice([-5, 0, 2, 1000, -2147483647])
        return "%s::float8[]" % sql_str("[%d:%d]={%s}" % (lo, lo + d - 1, ",".join(text_elem(v) for v in vals)))
    if form == 3:
        # a slice of a longer array that has a NULL outside the slice: the
        # slice keeps a NULL bitmap without any NULL in it
        return "(ARRAY[NULL, %s, NULL]::float8[])[2:%d]" % (", ".join(f8(v) for v in vals), d + 1)
    return "array_fill(%s, ARRAY[%d])" % (f8(vals[0]), d)


def bad_array(d):
    """A float8[] expression that is malformed for a length-d argument."""
    vals = [gen_elem() for _ in range(max(d, 1))]
    kind = rng.randrange(17)
    if kind == 0:
        return "'{}'::float8[]"
    if kind == 1:
        return "ARRAY[]::float8[]"
    if kind == 2:
        # 2-D and 3-D
        return rng.choice(["'{{1,2},{3,4}}'::float8[]", "ARRAY[[1,0],[0,1]]::float8[]",
                           "'{{{1}}}'::float8[]", "'[0:0][2:3]={{1,2}}'::float8[]",
                           "array_fill(1::float8, ARRAY[1, %d])" % d,
                           "(ARRAY[[1,2],[3,4]]::float8[])[1:1]"])
    if kind == 3:
        i = rng.randrange(len(vals))
        vals[i] = None
        return "ARRAY[%s]::float8[]" % ", ".join("NULL" if v is None else f8(v) for v in vals)
    if kind == 4:
        return "ARRAY[NULL]::float8[]"
    if kind == 5:
        i = rng.randrange(len(vals))
        vals[i] = rng.choice([math.nan, math.inf, -math.inf])
        if rng.random() < 0.5:
            return "ARRAY[%s]::float8[]" % ", ".join(f8(v) for v in vals)
        return "%s::float8[]" % sql_str("{" + ",".join(text_elem(v) for v in vals) + "}")
    if kind == 6:
        # wrong length
        n = rng.choice([d + 1, max(d - 1, 1), 1, d * 2, 100])
        return valid_array(n) if n != d else valid_array(d + 1)
    if kind == 7:
        # a slice containing a NULL
        return "(ARRAY[1, NULL, 3]::float8[])[1:2]"
    if kind == 8:
        # an empty slice
        return rng.choice(["(ARRAY[1,2]::float8[])[3:4]", "(ARRAY[1,2]::float8[])[2:1]",
                           "trim_array(ARRAY[1]::float8[], 1)"])
    if kind == 9:
        return "NULL::float8[]"
    if kind == 10:
        # values that overflow float8 on the way in (22003) or do not parse
        return rng.choice(["ARRAY[1e400]::float8[]", "'{1e400}'::float8[]",
                           "'{1,x}'::float8[]", "'{1,,2}'::float8[]",
                           "'{1e-400}'::float8[]", "'1,2'::float8[]",
                           "ARRAY['1'::text]::float8[]"])
    if kind == 11:
        # long: a length mismatch for sure, maybe the memory guard
        return "array_fill(%s, ARRAY[%d])" % (f8(gen_elem()), rng.choice([5000, 100000]))
    if kind == 12:
        # huge but finite: dot products overflow
        return "array_fill(1e300::float8, ARRAY[%d])" % d
    if kind == 13:
        # lower bound and NULL bitmap together
        return "%s::float8[]" % sql_str("[-3:%d]={%s,NULL}" % (-3 + d, ",".join(text_elem(v) for v in vals[:d])))
    if kind == 14:
        return "array_fill(%s, ARRAY[%d], ARRAY[%d])" % (
            f8(rng.choice([math.nan, math.inf, 1.0])), d, rng.choice([0, -7, 2147483000]))
    if kind == 15:
        # a subnormal-only vector: valid, but numerically nasty
        return "array_fill(5e-324::float8, ARRAY[%d])" % d
    return valid_array(d)


def any_array(d, p_bad=0.5):
    return bad_array(d) if rng.random() < p_bad else valid_array(d)


# --- options ------------------------------------------------------------------

HUGE_NUMBERS = ["1e400", "-1e400", "1e-400", "-1e-400", "1" + "0" * 400,
                "0." + "0" * 400 + "1", "1e308", "1.7976931348623157e308",
                "2e308", "4.9e-324", "1e-320", "-0", "-0.0", "0e5",
                "123456789012345678901234567890.5", "2147483648", "-2147483649",
                "9223372036854775808", "1e10", "1e300", "-1e300"]


def number_text():
    r = rng.random()
    if r < 0.3:
        return rng.choice(HUGE_NUMBERS)
    if r < 0.6:
        return repr(rng.choice([0, 1, 2, 3, 1000, 1001, -1, 0.5, 1.5, 999.9999999999,
                                1000.0, 1e-8, 10, 100, 1e6, 1e-300, 0.1]))
    return repr(round(rng.uniform(-10, 10), rng.choice([0, 2, 9])))


def string_text():
    return json.dumps(rng.choice([
        "relu", "erf", "ntk", "nngp", "auto", "Auto", "AUTO", " auto", "auto ",
        "", "tanh", "RELU", "relu\n", "ReLU", "sigmoid", "gelu", "nngp ",
        "'; DROP TABLE ntk_models; --", "\u00e9rf", "x" * 1000, "1e-3", "3",
        "true", "null", "\\", "\"", "\u2028"]))


def scalar_text():
    r = rng.randrange(5)
    if r == 0:
        return number_text()
    if r == 1:
        return string_text()
    if r == 2:
        return rng.choice(["true", "false"])
    if r == 3:
        return "null"
    return number_text()


def list_text(key):
    r = rng.randrange(9)
    if r == 0:
        return "[]"
    if r == 1:
        n = rng.choice([MAX_CANDIDATES, MAX_CANDIDATES + 1, 200])
        return "[" + ", ".join(str(1 + i % 5) if key == "depth" else repr(10.0 ** (i % 9 - 8))
                               for i in range(n)) + "]"
    if r == 2:
        return "[" + ", ".join(rng.choice(["[1]", "[]", "{}", "{\"a\": 1}", "[[2]]"])
                               for _ in range(rng.randint(1, 3))) + "]"
    if r == 3:
        return "[" + ", ".join(scalar_text() for _ in range(rng.randint(1, 5))) + "]"
    if r == 4:
        # depths that are huge, negative, fractional or just past the limit
        return "[" + ", ".join(rng.choice(["1e300", "-1e300", "1e10", "2.5", "1001", "-1",
                                           "1000", "0", "2147483648", "-2147483649",
                                           "1e400", "4294967296", "-0"])
                               for _ in range(rng.randint(1, 4))) + "]"
    if r == 5:
        return "[" + ", ".join(number_text() for _ in range(rng.randint(1, 6))) + "]"
    if r == 6:
        return "[" * 50 + "1" + "]" * 50
    if key == "depth":
        return "[" + ", ".join(str(rng.randint(0, 6)) for _ in range(rng.randint(1, 5))) + "]"
    return "[" + ", ".join(repr(10.0 ** rng.randint(-9, 2)) for _ in range(rng.randint(1, 5))) + "]"


def valid_value_text(key):
    """A value within the documented range, sometimes at its extremes."""
    edge = rng.random() < 0.3
    if key == "depth":
        return str(rng.choice([0, 1, 100, 1000]) if edge else rng.randint(0, 5))
    if key == "activation":
        return json.dumps(rng.choice(["relu", "erf"]))
    if key == "kernel":
        return json.dumps(rng.choice(["ntk", "nngp"]))
    if key == "sigma_w":
        return rng.choice(["1e-300", "1e-3", "1e3", "1e150", "5e-324"] if edge else ["0.5", "1.0", "1.5", "2"])
    if key == "sigma_b":
        return rng.choice(["1e-300", "1e3", "1e150", "5e-324"] if edge else ["0", "0.1", "1.0"])
    if key == "ridge":
        return rng.choice(["1e300", "1e-300", "5e-324", "1.7976931348623157e308", "[0, 1e300]"] if edge
                          else ["1e-6", "1e-3", "0.1", "\"auto\"", "[1e-4, 1e-2]", "0"])
    if key in ("ridge_absolute", "standardize", "variance"):
        return rng.choice(["true", "false"])
    if key == "t":
        return rng.choice(["1e308", "1e-300", "5e-324", "1e30"] if edge else ["0", "1", "10", "1000"])
    if key == "learning_rate":
        return rng.choice(["1e-300", "1e300", "5e-324", "1e30"] if edge else ["0.1", "1", "2"])
    if key == "method":
        return json.dumps(rng.choice(["exact", "nystrom"]))
    if key == "centers":
        return rng.choice(["1", "2147483647", "100000"] if edge else ["2", "5", "50"])
    if key == "seed":
        return rng.choice(["0", "9007199254740991"] if edge else ["1", "42"])
    return "1"


def value_text(key):
    r = rng.random()
    if r < 0.4:
        return valid_value_text(key)
    if r < 0.65:
        return scalar_text()
    if r < 0.85:
        return list_text(key)
    return rng.choice(["{}", "{\"name\": \"ntk\"}", "{\"depth\": 3}",
                       "{\"a\": {\"b\": [1, {\"c\": null}]}}"])


def options_expr():
    """A jsonb expression for the options argument, or None to omit it."""
    r = rng.random()
    if r < 0.1:
        return None
    if r < 0.15:
        return "NULL::jsonb"
    if r < 0.25:
        return sql_str(rng.choice([
            "[]", "[1, 2]", "\"depth\"", "3", "null", "true", "{}", "[{\"depth\": 2}]",
            "{\"depth\": -1, \"depth\": 2}", "{\"depth\": 2, \"depth\": -1}",
            "{\"ridge\": [1e-3], \"ridge\": \"auto\"}",
            "{\"depth\": " + "[" * 100 + "]" * 100 + "}",
            "{" + ", ".join("\"k%d\": %d" % (i, i) for i in range(100)) + "}"])) + "::jsonb"
    entries = []
    for _ in range(rng.randint(1, 4)):
        key = rng.choice(KNOWN_KEYS) if rng.random() < 0.85 else rng.choice(NEAR_KEYS)
        entries.append("%s: %s" % (json.dumps(key), value_text(key)))
    return sql_str("{" + ", ".join(entries) + "}") + "::jsonb"


# --- checks -------------------------------------------------------------------

def finite_rows(rows):
    """Every float (or float array element) of the result finite."""
    for r in rows or []:
        for v in r:
            if isinstance(v, float) and not math.isfinite(v):
                return "non-finite value %r" % v
            if isinstance(v, list) and any(isinstance(x, float) and not math.isfinite(x) for x in v):
                return "non-finite value in %r" % v
    return None


def variance_rows(rows):
    msg = finite_rows(rows)
    if msg is None:
        for r in rows or []:
            if r[0] is not None and r[0] < 0:
                return "negative posterior variance %r" % r[0]
    return msg


def fitted_model_ok(names):
    """After a fit that succeeded: the stored models obey the documented ranges."""
    def check(rows):
        if not rows:
            return None
        for r in rows:
            if r[0] is not None and not isinstance(r[0], int):
                return "fit returned %r" % (r[0],)
        cur.execute("""SELECT name, depth, sigma_w, sigma_b, ridge, options, n_train, n_features, n_outputs
                       FROM ntk_models WHERE name = ANY(%s) AND NOT (name = ANY(%s))""",
                    (names, list(SETUP_MODELS)))
        for name, depth, sw, sb, ridge, opts, n, d, k in cur.fetchall():
            problems = []
            if not 0 <= depth <= MAX_DEPTH:
                problems.append("depth %r" % depth)
            if not (math.isfinite(sw) and sw > 0):
                problems.append("sigma_w %r" % sw)
            if not (math.isfinite(sb) and sb >= 0):
                problems.append("sigma_b %r" % sb)
            if not (math.isfinite(ridge) and ridge >= 0):
                problems.append("ridge %r" % ridge)
            if opts.get("activation") not in ("relu", "erf"):
                problems.append("activation %r" % opts.get("activation"))
            if opts.get("kernel") not in ("ntk", "nngp"):
                problems.append("kernel %r" % opts.get("kernel"))
            lr = opts.get("learning_rate")
            if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
                problems.append("learning_rate %r" % lr)
            if "t" in opts and not (math.isfinite(opts["t"]) and opts["t"] >= 0):
                problems.append("t %r" % opts["t"])
            if n < 1 or d < 1 or k < 1:
                problems.append("sizes %r" % ((n, d, k),))
            if problems:
                return "model %r stored with %s" % (name, ", ".join(problems))
        return None
    return check


# --- running ------------------------------------------------------------------

def allowed(code):
    return code in ALLOWED_CODES or code[:2] in ALLOWED_CLASSES


def record_failure(sql, what):
    if after[0]:
        sql = after[0] + ";\n    " + sql
    for issue in KNOWN_ISSUES:
        if known_mode[0] is issue or (not STRICT and known_mode[0] is None and issue["match"](what, sql)):
            seen = known_seen.setdefault(issue["id"], [0, None])
            seen[0] += 1
            seen[1] = seen[1] or "%s\n    %s" % (what, sql[:600])
            return
    stats["failed"] += 1
    shown = sql if len(sql) <= 1500 else sql[:1500] + " ..."
    failures.append("%s\n    %s" % (what, shown))
    print("FAIL %s\n    %s" % (what, shown))


def run(sql, check=None, expect=(), parallel=False, want_message=None):
    """Runs one statement (or a short script); returns True if it succeeded.
    expect: further SQLSTATEs this statement may end with.  parallel: run it
    with force_parallel_mode on (parallel workers for the parallel-safe
    functions).  want_message: (SQLSTATE, primary message) it must fail
    with exactly."""
    stats["statements"] += 1
    ok = False
    del conn.notices[:]
    try:
        if parallel:
            cur.execute("SET force_parallel_mode = on")
        cur.execute(sql)
        rows = cur.fetchall() if cur.description else None
        ok = True
        stats["ok"] += 1
        per_kind.setdefault(kind_now[0], [0, 0])[0] += 1
        if check is not None:
            msg = check(rows)
            if msg:
                record_failure(sql, "wrong result: " + msg)
        if want_message is not None:
            record_failure(sql, "succeeded, want %s %r" % want_message)
    except psycopg2.Error as e:
        code = e.pgcode
        if code is None or conn.closed:
            record_failure(sql, "connection lost: %s" % str(e).strip())
            if not reconnect():
                print("fuzz_sql: the server does not come back; giving up")
                finish()
            return False
        stats["errors"] += 1
        per_kind.setdefault(kind_now[0], [0, 0])[1] += 1
        codes[code] = codes.get(code, 0) + 1
        context = e.diag.context or ""
        if not allowed(code) and code not in expect:
            stats["errors"] -= 1
            record_failure(sql, "SQLSTATE %s: %s" % (code, e.pgerror.strip() if e.pgerror else e))
        elif (("ntk_models" in context or "ntk_model_data" in context)
              and code not in INTERNAL_OK and code not in expect):
            # a data error raised by the extension's own statement on its
            # tables: it fed itself something invalid (a NaN in JSON, say)
            stats["errors"] -= 1
            record_failure(sql, "SQLSTATE %s from the extension's own statement: %s" % (
                code, e.diag.message_primary))
        elif want_message is not None and (code, e.diag.message_primary) != want_message:
            stats["errors"] -= 1
            record_failure(sql, "got %s %r, want %s %r" % (code, e.diag.message_primary,
                                                          want_message[0], want_message[1]))
        if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            cur.execute("ROLLBACK")     # a script left its transaction open
    if parallel:
        try:
            cur.execute("RESET force_parallel_mode")
        except psycopg2.Error:
            pass
    # PostgreSQL reports leaked buffers, snapshots, relcache or plancache
    # references and the like as WARNINGs at the end of a transaction
    for n in conn.notices:
        if n.startswith("WARNING"):
            record_failure(sql, "server warning: " + n.strip())
    del conn.notices[:]
    # the session still answers
    try:
        cur.execute("SELECT 1")
        if cur.fetchone() != (1,):
            record_failure(sql, "SELECT 1 afterwards gave a wrong answer")
    except psycopg2.Error as e:
        record_failure(sql, "session dead afterwards: %s" % str(e).strip())
        if not reconnect():
            finish()
    return ok


def sometimes():
    """Sometimes a call runs with parallel workers forced."""
    return rng.random() < 0.1


# --- the entry points -----------------------------------------------------------

def depth_arg():
    return rng.choice([str(rng.randint(0, 6)), "-1", "1000", "1001", "2147483647",
                       "-2147483648", "NULL", "0", "100"])


def sigma_arg():
    r = rng.random()
    if r < 0.6:
        return repr(rng.choice([0.5, 1.0, 1.5, 2.0]))
    return rng.choice(["0", "-0", "'-0'::float8", "-1", "'NaN'", "'Infinity'", "'-Infinity'",
                       "1e-300", "5e-324", "1e200", "1.7976931348623157e308", "NULL", "1e154"])


def act_arg():
    if rng.random() < 0.6:
        return sql_str(rng.choice(["relu", "erf"]))
    return rng.choice(["'tanh'", "''", "'RELU'", "'relu '", "NULL", "'erf\\'",
                       "repeat('x', 10000)", "'\u00e9'"])


def case_kernel():
    d = rng.randint(1, 4)
    fn = rng.choice(["ntk_kernel", "nngp_kernel"])
    x = any_array(d, 0.4)
    z = any_array(d, 0.4)
    nargs = rng.randint(2, 6)
    args = [x, z, depth_arg(), act_arg(), sigma_arg(), sigma_arg()][:nargs]
    if rng.random() < 0.2:
        names = ["x", "z", "depth", "activation", "sigma_w", "sigma_b"]
        picked = list(zip(names, args))
        rng.shuffle(picked)
        call = "%s(%s)" % (fn, ", ".join("%s => %s" % p for p in picked))
    else:
        call = "%s(%s)" % (fn, ", ".join(args))
    run("SELECT " + call, finite_rows, parallel=sometimes())


def model_name(i):
    r = rng.random()
    if r < 0.8:
        return sql_str("fz_rand_%d" % (i % 6))
    return rng.choice(["''", "NULL", sql_str("fz \"quoted\" 'name'"), sql_str("x" * 2000),
                       sql_str("fz_\u00e9\u4e2d"), sql_str("fz_rand_0 ")])


def fit_rows(n, d, target):
    """VALUES rows (x, target); some rows malformed or NULL."""
    rows = []
    p_bad = rng.choice([0.0, 0.0, 0.1, 0.3])
    for i in range(n):
        x = any_array(d, p_bad)
        if target == "scalar":
            y = f8(gen_elem(finite=rng.random() > p_bad))
            if rng.random() < 0.05:
                y = "NULL::float8"
        elif target == "vector":
            k = 2 if rng.random() > p_bad else rng.choice([1, 3])
            y = any_array(k, p_bad)
        else:
            y = rng.choice(["'a'", "'b'", "'c'", "NULL", "''", "'b'"])
        if rng.random() < 0.05:
            x = "NULL::float8[]"
        rows.append("(%d, %s, %s)" % (i % 2, x, y))
    return rows


def case_fit(i):
    target = rng.choice(["scalar", "vector", "label"])
    agg = "ntk_fit_classifier" if target == "label" else "ntk_fit"
    n = rng.choice([0, 1, 2, 3, 5, 8])
    d = rng.randint(1, 4)
    rows = fit_rows(n, d, target)
    ytype = {"scalar": "float8", "vector": "float8[]", "label": "text"}[target]
    if rows:
        src = "(VALUES %s) v(g, x, y)" % ", ".join(rows)
    else:
        src = "(SELECT 0, NULL::float8[], NULL::%s WHERE false) v(g, x, y)" % ytype
    name = model_name(i)
    opts = options_expr()
    args = "%s, x::float8[], y::%s" % (name, ytype) + (", " + opts if opts else "")
    shape = rng.random()
    if shape < 0.7:
        sql = "SELECT %s(%s) FROM %s" % (agg, args, src)
    elif shape < 0.8:
        gname = "%s || g" % name if name != "NULL" else name
        args = "%s, x::float8[], y::%s" % (gname, ytype) + (", " + opts if opts else "")
        sql = "SELECT g, %s(%s) FROM %s GROUP BY g" % (agg, args, src)
    elif shape < 0.85:
        sql = "SELECT %s(%s) OVER () FROM %s" % (agg, args, src)
    elif shape < 0.9:
        sql = "SELECT %s(%s) FILTER (WHERE g = 1) FROM %s" % (agg, args, src)
    elif shape < 0.95:
        sql = "BEGIN READ ONLY; SELECT %s(%s) FROM %s; COMMIT" % (agg, args, src)
    else:
        sql = "SELECT %s(%s ORDER BY g DESC) FROM %s" % (agg, args, src)
    names = ["fz_rand_%d" % j for j in range(6)] + ["fz_rand_%d%d" % (j, g) for j in range(6) for g in (0, 1)]
    if run(sql, fitted_model_ok(names)) and shape < 0.7 and name.startswith("'fz_rand_"):
        # whatever the fit accepted must predict finite values (or fail
        # cleanly: the fit may have stored nothing, or in a rolled-back
        # transaction)
        fn = "ntk_predict_var" if rng.random() < 0.3 else "ntk_predict_vector"
        after[0] = sql
        run("SELECT %s(%s, %s)" % (fn, name, valid_array(d)), variance_rows if fn == "ntk_predict_var" else finite_rows)
        after[0] = None


def case_predict():
    name = rng.choice(list(SETUP_MODELS) + ["fz_missing", "", "fz_rand_0", "fz_rand_1"])
    task, d, k, var = SETUP_MODELS.get(name, ("regression", 3, 1, False))
    fn = rng.choice(["ntk_predict", "ntk_predict_vector", "ntk_predict_class", "ntk_predict_var"])
    x = any_array(d, 0.5)
    check = {"ntk_predict": finite_rows, "ntk_predict_var": variance_rows}.get(fn, finite_rows)
    sql = "SELECT %s(%s, %s)" % (fn, sql_str(name), x)
    if rng.random() < 0.15:
        # a column of inputs, some rows NULL (STRICT) or malformed
        sql = "SELECT %s(%s, x) FROM (VALUES (%s), (NULL::float8[]), (%s)) v(x)" % (
            fn, sql_str(name), valid_array(d), any_array(d))
    run(sql, check, parallel=sometimes())


def batch_query(d):
    r = rng.randrange(22)
    if r < 4:
        rows = ", ".join("(%s::bigint, %s)" % (rng.choice(["1", "NULL", "-9223372036854775808", "42"]),
                                              any_array(d, 0.4)) for _ in range(rng.randint(1, 4)))
        return "SELECT * FROM (VALUES %s) v(id, x)" % rows
    if r == 4:
        return "SELECT id, x FROM fz_q"
    if r == 5:
        return "SELECT id, x FROM fz_qbad WHERE id = %d" % rng.randint(1, 8)
    if r == 6:
        return "SELECT i::bigint, array_fill(i::float8 / 100, ARRAY[%d]) FROM generate_series(1, %d) i" % (
            d, rng.choice([0, 1, 1023, 1024, 1025, 3000]))
    if r == 7:
        return "SELECT id::int2, x FROM fz_q"
    if r == 8:
        return "SELECT id::int4, x::fz_vec FROM fz_q"
    return rng.choice([
        "", " ", ";", "SELECT", "SELECT 1", "SELECT 1, 2", "SELECT 1::bigint, ARRAY[1]::float8[], 3",
        "SELECT 'a', '{1,2,3}'::float8[]", "SELECT 1.5, '{1,2,3}'::float8[]",
        "SELECT NULL::bigint, NULL::float8[]", "SELECT 1::bigint, '{1,2,3}'::numeric[]",
        "SELECT 1::bigint, '{1,2,3}'::float4[]", "SELECT id, x FROM fz_q; SELECT 1",
        "DELETE FROM fz_q RETURNING id, x", "INSERT INTO fz_q VALUES (99, '{1,2,3}') RETURNING id, x",
        "SELECT id, x FROM fz_q FOR UPDATE",
        "WITH d AS (DELETE FROM fz_q RETURNING *) SELECT id, x FROM d",
        "SELECT id, x FROM fz_q WHERE 1 / 0 = 1", "SELECT $1::bigint, $2::float8[]",
        "VACUUM", "COMMIT", "CREATE TABLE fz_evil (a int)", "SELECT pg_sleep(0.01)::text::int::bigint, x FROM fz_q",
        "SELECT id, x FROM fz_nonexistent", "SELECT * FROM ntk_predict_batch('fz_reg', 'SELECT id, x FROM fz_q')",
        "SELECT ntk_fit('fz_rand_5', x, 1.0) , x FROM fz_q",
        "SELECT id, ntk_predict_vector('fz_multi', x) FROM fz_q",
        "SELECT 1::bigint, x FROM fz_q, generate_series(1, 3)",
        "EXPLAIN SELECT id, x FROM fz_q", "SHOW ALL", "SELECT id, x FROM fz_q LIMIT -1",
        "TABLE fz_q", "VALUES (1::bigint, '{1,2,3}'::float8[])",
        "SELECT id, x FROM fz_q UNION ALL SELECT id, x FROM fz_qbad",
        "SELECT 9223372036854775807, '{1e308,1e308,1e308}'::float8[]",
    ])


def case_batch():
    name = rng.choice(list(SETUP_MODELS) + ["fz_missing", "''", "NULL"])
    d = SETUP_MODELS.get(name, ("regression", 3, 1, False))[1]
    q = batch_query(d)
    if name in ("''", "NULL"):
        mname = name
    else:
        mname = sql_str(name)
    qarg = "NULL" if rng.random() < 0.03 else "$fzq$%s$fzq$" % q
    run("SELECT * FROM ntk_predict_batch(%s, %s)" % (mname, qarg), finite_rows)


def case_evaluate():
    name = rng.choice(list(SETUP_MODELS) + ["fz_missing"])
    d = SETUP_MODELS.get(name, ("regression", 3, 1, False))[1]
    target = rng.choice(["1.5::float8", "NULL::float8", "'a'::text", "'fz'::text", "NULL::text",
                         "ARRAY[1.0, 2.0]::float8[]", "'{1,2,3}'::float8[]", "'NaN'::float8",
                         "'{1,NULL}'::float8[]", "2", "x", "id::text"])
    x = rng.choice(["x", "x", "x::real[]", "x::text"])
    q = "SELECT %s, %s FROM (%s) s(id, x)" % (x, target, batch_query(d))
    run("SELECT ntk_evaluate(%s, $fzq$%s$fzq$%s)" % (
        sql_str(name), q, rng.choice(["", "", ", '{}'", ", '[]'", ", '{\"a\": 1}'", ", NULL"])))


def case_misc():
    r = rng.randrange(8)
    if r == 0:
        run("SELECT ntk_drop_model(%s)" % rng.choice(
            ["'fz_missing'", "''", "NULL", "'fz_rand_%d'" % rng.randrange(6), sql_str("x" * 5000)]))
    elif r == 1:
        run("SELECT ntk_fit(m, x, y) FROM (VALUES ('fz_rand_1', '{1,2}'::float8[], 1.0::float8), "
            "('fz_rand_2', '{1,2}', 2.0)) v(m, x, y)")
    elif r == 2:
        run("SELECT ntk_fit(DISTINCT 'fz_rand_3', x, y) FROM (VALUES (%s, 1.0::float8), (%s, 2.0)) v(x, y)"
            % (valid_array(2), any_array(2)))
    elif r == 3:
        # options that change within a group
        run("SELECT ntk_fit('fz_rand_4', x, y, o) FROM (VALUES ('{1,2}'::float8[], 1.0::float8, '{\"depth\": 1}'::jsonb), "
            "('{2,1}', 2.0, %s)) v(x, y, o)" % (options_expr() or "NULL"))
    elif r == 4:
        run("SELECT count(*) FROM ntk_predict_batch('fz_reg', $q$SELECT id, x FROM fz_q$q$) p, "
            "LATERAL ntk_predict_batch('fz_cls', $q$SELECT 1::bigint, '{1,2,3}'::float8[]$q$) c")
    elif r == 5:
        # the kernel over a table, with malformed rows in it
        run("SELECT sum(ntk_kernel(a.x, b.x, 2)) FROM fz_qbad a, fz_q b")
    elif r == 6:
        run("SELECT ntk_predict('fz_reg', x) FROM fz_qbad")
    else:
        # cancelled fit: the statement_timeout must not leave anything behind
        run("BEGIN; SET LOCAL statement_timeout = '1ms'; "
            "SELECT ntk_fit('fz_rand_5', array_fill(i::float8, ARRAY[50]), i::float8) FROM generate_series(1, 400) i; COMMIT",
            expect=("57014",))


# --- setup ---------------------------------------------------------------------

NYS_OPTS = '{"centers": 5, "seed": 1}'
NYS_STATES = {}     # kind -> a valid state's text form, made by the first case


def nys_states():
    """Valid states of the fuzz table: centers, statistics, and the same
    passes with another seed (other centers) and another kernel."""
    if NYS_STATES:
        return NYS_STATES
    for kind, opts in (("c", NYS_OPTS), ("c_seed", '{"centers": 5, "seed": 2}'),
                       ("c_erf", '{"centers": 5, "seed": 1, "activation": "erf"}')):
        cur.execute("SELECT ntk_nystrom_centers(x, y, %s)::text FROM fz_train", (opts,))
        NYS_STATES[kind] = cur.fetchone()[0]
        cur.execute("SELECT ntk_nystrom_statistics(%s::ntk_nystrom_state, x, y, %s)::text FROM fz_train",
                    (NYS_STATES[kind], opts))
        NYS_STATES["s" + kind[1:]] = cur.fetchone()[0]
    return NYS_STATES


def mutate_state(text):
    """A state's text form, damaged in one of several ways."""
    r = rng.randrange(7)
    if r == 0:
        return text[:rng.randrange(len(text))]
    if r == 1:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice("AZaz09+/=") + text[i + 1:]
    if r == 2:
        return text + rng.choice(["A", "AAAA", "====", " ", "\n", "@"])
    if r == 3:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice(["!", "\u00e9", " ", "-", "_"]) + text[i + 1:]
    if r == 4:
        return rng.choice(["", "A", "AAAA", "====", "x" * 100, "NYS2", "TllTMg=="])
    if r == 5:
        # a block of bytes rewritten in the middle (the doubles, the header)
        i = rng.randrange(len(text) - 8)
        return text[:i] + "".join(rng.choice("ABCDEFGHIJ/+") for _ in range(8)) + text[i + 8:]
    return text


def nys_fit_check(rows):
    """After a Nystrom fit succeeded: its model predicts finite values, or
    refuses the rows with a data exception (a model of other dimensions)."""
    cur2 = conn.cursor()
    try:
        cur2.execute("SELECT ntk_predict_vector('fz_nys', x) FROM fz_train")
        return finite_rows(cur2.fetchall())
    except psycopg2.Error as e:
        if e.pgcode and e.pgcode.startswith("22"):
            return None
        return "its model does not predict: %s %s" % (e.pgcode, e.diag.message_primary)


def case_nystrom():
    st = nys_states()
    r = rng.randrange(6)
    if r == 0:
        run("SELECT ntk_nystrom_state_info(%s::ntk_nystrom_state)"
            % sql_str(mutate_state(st[rng.choice(list(st))])))
    elif r == 1:
        run("SELECT ntk_nystrom_fit('fz_nys', %s::ntk_nystrom_state, %s)" % (
            sql_str(mutate_state(st[rng.choice(["s", "s", "s_seed", "s_erf", "c"])])),
            rng.choice(["NULL", "'{}'", "'{\"ridge\": 1e-3}'", "'{\"ridge\": \"auto\"}'",
                        "'{\"ridge\": [1e-2, 10]}'", options_expr() or "NULL"])), nys_fit_check)
    elif r == 2:
        a, b = rng.choice(list(st)), rng.choice(list(st))
        run("SELECT ntk_nystrom_state_info(ntk_nystrom_combine(%s::ntk_nystrom_state, %s::ntk_nystrom_state))"
            % (sql_str(st[a] if rng.random() < 0.7 else mutate_state(st[a])), sql_str(st[b])))
    elif r == 3:
        states = [st[rng.choice(["s", "s", "s_seed", "s_erf", "c"])] for _ in range(rng.randrange(1, 4))]
        run("SELECT ntk_nystrom_fit('fz_nys', ntk_nystrom_merge(s::ntk_nystrom_state)) FROM unnest(%s::text[]) s"
            % sql_str("{" + ",".join('"%s"' % t for t in states) + "}"), nys_fit_check)
    elif r == 4:
        target = rng.choice(["y", "yv", "label", "NULL::float8", "x", "i::float8"])
        centers = sql_str(rng.choice([st["c"], st["c_erf"], st["s"], mutate_state(st["c"])]))
        run(rng.choice([
            "SELECT ntk_nystrom_state_info(ntk_nystrom_centers(%s, %s, %s)) FROM fz_train" % (
                rng.choice(["x", any_array(3)]), target, options_expr() or "NULL"),
            "SELECT ntk_nystrom_state_info(ntk_nystrom_statistics(%s::ntk_nystrom_state, %s, %s, %s)) FROM fz_train" % (
                centers, rng.choice(["x", any_array(3)]), target, rng.choice([sql_str(NYS_OPTS), options_expr() or "NULL"]))]),
            parallel=rng.random() < 0.2)
    else:
        q = rng.choice(["SELECT x, y FROM fz_train", "SELECT x, label FROM fz_train",
                        "SELECT x, yv FROM fz_train", "SELECT x FROM fz_train",
                        "SELECT x, y, y FROM fz_train", "SELECT %s, 1.0::float8" % any_array(3),
                        "SELECT x, y FROM fz_train WHERE false", "SELECT x::real[], y FROM fz_train",
                        "DELETE FROM fz_train RETURNING x, y", "SELECT x, y FROM fz_missing",
                        "SELECT x, 1 / (i - 6) FROM fz_train"])
        opts = rng.choice([sql_str('{"method": "nystrom", "centers": 4}'), sql_str(NYS_OPTS),
                           options_expr() or "NULL"])
        run("SELECT ntk_fit_query('fz_nys', $fzq$%s$fzq$, %s)" % (q, opts), nys_fit_check)


def setup():
    global conn, cur
    c0 = psycopg2.connect(dbname="postgres")
    c0.autocommit = True
    k0 = c0.cursor()
    k0.execute("DROP DATABASE IF EXISTS %s" % DBNAME)
    k0.execute("CREATE DATABASE %s" % DBNAME)
    c0.close()
    conn, cur = connect(DBNAME)
    cur.execute("CREATE EXTENSION ntk")
    cur.execute("CREATE DOMAIN fz_vec AS float8[]")
    cur.execute("""CREATE TABLE fz_train AS
                   SELECT i, ARRAY[sin(i), cos(i), (i % 3)::float8] AS x, sin(2 * i) AS y,
                          ARRAY[sin(2 * i), cos(3 * i)] AS yv, chr(97 + i % 3) AS label
                   FROM generate_series(1, 12) i""")
    cur.execute("""CREATE TABLE fz_q AS
                   SELECT i::bigint AS id, ARRAY[i / 3.0, -i / 5.0, 1.0]::float8[] AS x
                   FROM generate_series(1, 5) i""")
    cur.execute("""CREATE TABLE fz_qbad (id bigint, x float8[]);
                   INSERT INTO fz_qbad VALUES (1, '{1,2,3}'), (2, NULL), (3, '{1,NaN,3}'),
                       (4, '{1,2}'), (5, '{{1,2,3}}'), (6, '{1,NULL,3}'),
                       (7, '[0:2]={1,2,3}'), (8, '{}')""")
    fits = [
        ("fz_reg", "ntk_fit('fz_reg', x, y)", ("regression", 3, 1, False)),
        ("fz_multi", "ntk_fit('fz_multi', x, yv, '{\"depth\": 2, \"kernel\": \"nngp\"}')", ("regression", 3, 2, False)),
        ("fz_cls", "ntk_fit_classifier('fz_cls', x, label, '{\"activation\": \"erf\"}')", ("classification", 3, 3, False)),
        ("fz_var", "ntk_fit('fz_var', x, y, '{\"variance\": true, \"ridge\": 1e-3}')", ("regression", 3, 1, True)),
        ("fz_std", "ntk_fit('fz_std', x, y, '{\"standardize\": true, \"depth\": [1, 2], \"ridge\": \"auto\"}')",
         ("regression", 3, 1, False)),
        ("fz_t", "ntk_fit('fz_t', x, y, '{\"t\": 10, \"learning_rate\": 0.5, \"variance\": true}')",
         ("regression", 3, 1, True)),
    ]
    for name, call, info in fits:
        cur.execute("SELECT %s FROM fz_train" % call)
        SETUP_MODELS[name] = info


def finish():
    took = time.time() - START
    try:
        conn.close()
        c0 = psycopg2.connect(dbname="postgres")
        c0.autocommit = True
        c0.cursor().execute("DROP DATABASE IF EXISTS %s" % DBNAME)
        c0.close()
    except psycopg2.Error:
        pass
    report_known()
    print("cases by kind (succeeded/errors): " + ", ".join(
        "%s %d/%d" % (k, v[0], v[1]) for k, v in sorted(per_kind.items())))
    print("SQLSTATEs of the errors: " + ", ".join("%s x%d" % kv for kv in sorted(codes.items())))
    if failures:
        print("failures:")
        for f in failures:
            print("  " + f)
    print("fuzz_sql: %d cases, %d statements, %d succeeded, %d clean errors, %d known issues, "
          "%d failed (seed %d, %.1f s)" % (
              stats["cases"], stats["statements"], stats["ok"], stats["errors"],
              sum(v[0] for v in known_seen.values()), stats["failed"], SEED, took))
    if stats["failed"]:
        print("fuzz_sql: replay against a server (PGHOST, PGPORT, PGUSER): "
              "NTK_FUZZ_SQL_SEED=%d NTK_FUZZ_SQL_CASES=%d /usr/bin/python3 test/fuzz/fuzz_sql.py"
              % (SEED, random_cases[0]))
    sys.exit(1 if stats["failed"] else 0)


START = time.time()


def directed():
    """The regressions, then the known issues."""
    kind_now[0] = "regression"
    for sql, code, message in REGRESSIONS:
        stats["cases"] += 1
        if code is None:        # must succeed; "finite": with finite values
            run(sql, finite_rows if message == "finite" else None)
        else:
            run(sql, want_message=(code, message))
    kind_now[0] = "known"
    for issue in KNOWN_ISSUES:
        before = known_seen.get(issue["id"], [0, None])[0]
        known_mode[0] = issue
        for sql, check in issue["reproduce"]:
            run(sql, finite_rows if check == "finite" else None)
        known_mode[0] = None
        if known_seen.get(issue["id"], [0, None])[0] == before:
            issue["fixed"] = True


def report_known():
    for issue in KNOWN_ISSUES:
        seen = known_seen.get(issue["id"], [0, None])
        if issue.get("fixed"):
            print("KNOWN ISSUE %s (%s) NO LONGER REPRODUCES: move its statements from "
                  "KNOWN_ISSUES to REGRESSIONS in test/fuzz/fuzz_sql.py\n    %s" % (
                      issue["id"], issue["where"], issue["what"]))
        else:
            print("KNOWN ISSUE %s (%s, not fixed here; %d statements hit it%s): %s\n    first: %s" % (
                issue["id"], issue["where"], seen[0], ", failing" if STRICT else "",
                issue["what"], seen[1]))


def main():
    setup()
    directed()
    kinds = [(case_kernel, 20), (case_fit, 35), (case_predict, 20), (case_batch, 15), (case_misc, 10),
             (case_evaluate, 8), (case_nystrom, 8)]
    total = sum(w for _, w in kinds)
    for i in range(CASES):
        if time.time() - START > BUDGET:
            print("fuzz_sql: time budget of %.0f s reached after %d cases" % (BUDGET, i))
            break
        r = rng.uniform(0, total)
        for fn, w in kinds:
            if r < w:
                break
            r -= w
        stats["cases"] += 1
        random_cases[0] = i + 1
        kind_now[0] = fn.__name__[5:]
        if fn is case_fit:
            fn(i)
        else:
            fn()
    finish()


if __name__ == "__main__":
    main()
