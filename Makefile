# contrib-style PGXS Makefile for ntk
#
# The numerics (src/core, no postgres.h) are built once as a static library,
# libntkcore.a, and linked by the module, the unit tests, the benchmarks and
# (as libntkcore.so, from the same objects) the Python tests.  The fuzzers
# compile CORE_SRCS themselves, with coverage instrumentation.

EXTENSION = ntk
MODULE_big = ntk
PGFILEDESC = "ntk - neural tangent kernel regression"
DATA = $(wildcard ntk--*.sql)

OBJS = \
	src/arrays.o \
	src/compute_child.o \
	src/errors.o \
	src/evaluate.o \
	src/fit.o \
	src/fit_nystrom.o \
	src/fit_progress.o \
	src/fit_select.o \
	src/fit_worker.o \
	src/kernel_sql.o \
	src/memory.o \
	src/model_cache.o \
	src/model_load.o \
	src/model_store.o \
	src/ntk.o \
	src/nystrom_sql.o \
	src/options.o \
	src/predict.o \
	src/predict_batch.o \
	src/real_input.o \
	src/threads.o

CORE_SRCS = $(sort $(wildcard src/core/*.c))
CORE_OBJS = $(CORE_SRCS:.c=.o)
CORE_LIB = src/core/libntkcore.a
NUMERICS_LIBS = -lopenblas -llapacke -lm -lpthread

# One pg_regress file per feature (sql/NAME.sql, expected/NAME.out), each
# self-contained: it fits the models it needs and drops them.
REGRESS = kernel fit classifier predict predict_batch model_table errors nystrom packed
REGRESS_OPTS = --inputdir=. --load-extension=ntk

PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/core
SHLIB_LINK = $(CORE_LIB) $(NUMERICS_LIBS)
EXTRA_CLEAN = $(CORE_OBJS) $(CORE_LIB)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: every object depends on every header.
$(OBJS) $(CORE_OBJS): $(wildcard src/*.h src/core/*.h)

# The core with the module's flags (PGXS's CFLAGS include -fPIC).
$(CORE_LIB): $(CORE_OBJS)
	rm -f $@
	$(AR) crs $@ $(CORE_OBJS)

$(shlib): $(CORE_LIB)

# C unit tests of the numerics: no server needed.
UNIT_CFLAGS = -O2 -g -std=gnu99 -Wall -Wextra -I$(srcdir)/src/core
UNIT_TESTS = $(patsubst %.c,%,$(wildcard test/unit/test_*.c))

test/unit/test_%: test/unit/test_%.c test/unit/unit.h $(CORE_LIB)
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_LIB) $(NUMERICS_LIBS)

.PHONY: unitcheck
unitcheck: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "$$t"; $$t; done

EXTRA_CLEAN += $(UNIT_TESTS)

# The core as a shared library, for the numpy-reference tests (ctypes).
test/unit/libntkcore.so: $(CORE_OBJS)
	$(CC) -shared -o $@ $(CORE_OBJS) $(NUMERICS_LIBS)

EXTRA_CLEAN += test/unit/libntkcore.so

# The layers beyond pg_regress (installcheck).  Like installcheck, tapcheck
# and pysqlcheck run against an existing server with the extension installed
# (PGHOST, PGPORT, PGUSER); pycheck needs no server.  test/run_all.sh runs
# every layer on a throwaway cluster.
PYTHON = /usr/bin/python3
PY_SQL_TESTS = $(sort $(wildcard test/python/test_sql_*.py))
PY_TESTS = $(filter-out $(PY_SQL_TESTS),$(sort $(wildcard test/python/test_*.py)))
TAP_DB = ntk_tap

# the numpy-reference tests of the numerics (no server)
.PHONY: pycheck
pycheck: test/unit/libntkcore.so
	@set -e; for t in $(PY_TESTS); do echo "$$t"; $(PYTHON) $$t; done

# the Python tests of the SQL functions against numpy
.PHONY: pysqlcheck
pysqlcheck:
	@set -e; for t in $(PY_SQL_TESTS); do echo "$$t"; $(PYTHON) $$t; done

# pgTAP (test/pgtap) in a fresh database $(TAP_DB)
.PHONY: tapcheck
tapcheck:
	psql -q -X -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $(TAP_DB)" -c "CREATE DATABASE $(TAP_DB)" >/dev/null
	psql -q -X -v ON_ERROR_STOP=1 -d $(TAP_DB) -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION ntk" >/dev/null
	PGDATABASE=$(TAP_DB) pg_prove --ext .sql -r test/pgtap

# libFuzzer harnesses (test/fuzz/README.md).  CI runs the deterministic
# `bash test/fuzz/run.sh`; `make fuzz` fuzzes at random for FUZZ_SECONDS, keeping
# the grown corpus in FUZZ_WORK (default /tmp/ntk-fuzz) for the next run.
FUZZ_SECONDS = 600
.PHONY: fuzz
fuzz:
	bash test/fuzz/run.sh --time $(FUZZ_SECONDS)

# Benchmarks (not tests): C Gram/solve without a server, then fit/predict in
# the database against the Python path.  See bench/README.md.
BENCH_PROGS = bench/bench_gram bench/bench_nystrom bench/bench_packed

bench/bench_%: bench/bench_%.c $(CORE_LIB)
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_LIB) $(NUMERICS_LIBS)

.PHONY: bench
bench: $(BENCH_PROGS)
	bash bench/run.sh

EXTRA_CLEAN += $(BENCH_PROGS)
