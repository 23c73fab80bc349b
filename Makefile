# contrib-style PGXS Makefile for ntk
#
# The numerics (src/core, no postgres.h) are built once as a static library,
# libntkcore.a, and linked by the module, the unit tests, the benchmarks and
# (as libntkcore.so, from the same objects) the Python tests.  The fuzzers
# compile CORE_SRCS themselves, with coverage instrumentation.

EXTENSION = ntk
MODULE_big = ntk
PGFILEDESC = "ntk - neural tangent kernel regression"
DATA = $(wildcard sql/ntk--*.sql)

OBJS = \
	src/arrays.o \
	src/fit.o \
	src/fit_progress.o \
	src/fit_select.o \
	src/fit_worker.o \
	src/kernel_sql.o \
	src/memory.o \
	src/model.o \
	src/ntk.o \
	src/options.o \
	src/predict.o

CORE_SRCS = $(sort $(wildcard src/core/*.c))
CORE_OBJS = $(CORE_SRCS:.c=.o)
CORE_LIB = src/core/libntkcore.a
NUMERICS_LIBS = -lopenblas -llapacke -lm -lpthread

REGRESS = kernel fit packed
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

# libFuzzer harnesses (fuzz/README.md).  CI runs the deterministic
# `bash fuzz/run.sh`; `make fuzz` fuzzes at random for FUZZ_SECONDS, keeping
# the grown corpus in FUZZ_WORK (default /tmp/ntk-fuzz) for the next run.
FUZZ_SECONDS = 600
.PHONY: fuzz
fuzz:
	bash fuzz/run.sh --time $(FUZZ_SECONDS)

# Benchmarks (not tests): C Gram/solve without a server, then fit/predict in
# the database against the Python path.  See bench/README.md.
BENCH_PROGS = bench/bench_gram bench/bench_nystrom bench/bench_packed

bench/bench_%: bench/bench_%.c $(CORE_LIB)
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_LIB) $(NUMERICS_LIBS)

.PHONY: bench
bench: $(BENCH_PROGS)
	bash bench/run.sh

EXTRA_CLEAN += $(BENCH_PROGS)
