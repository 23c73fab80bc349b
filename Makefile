# ntk: Neural Tangent Kernel regression inside PostgreSQL

EXTENSION = ntk
MODULE_big = ntk
DATA = $(wildcard sql/ntk--*.sql)

OBJS = \
	src/arrays.o \
	src/fit.o \
	src/gram.o \
	src/kernel.o \
	src/kernel_sql.o \
	src/model.o \
	src/ntk.o \
	src/nystrom.o \
	src/options.o \
	src/packed.o \
	src/predict.o \
	src/recursion.o \
	src/solve.o \
	src/tridiag.o \
	src/validate.o


REGRESS = kernel fit
REGRESS_OPTS = --inputdir=. --load-extension=ntk

PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK = -lopenblas -llapacke -lm -lpthread

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: every object depends on every header.
$(OBJS): $(wildcard src/*.h)

# C unit tests of the numerics: no server needed.
UNIT_CFLAGS = -O2 -g -std=gnu99 -Wall -Wextra -I$(srcdir)/src
UNIT_SRCS = src/kernel.c src/gram.c src/nystrom.c src/packed.c src/recursion.c src/solve.c src/tridiag.c src/validate.c

UNIT_TESTS = $(patsubst %.c,%,$(wildcard test/unit/test_*.c))

test/unit/test_%: test/unit/test_%.c test/unit/unit.h $(UNIT_SRCS) $(wildcard src/*.h)
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(UNIT_SRCS) -lopenblas -llapacke -lm -lpthread

.PHONY: unitcheck
unitcheck: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "$$t"; $$t; done

EXTRA_CLEAN = $(UNIT_TESTS)

# libFuzzer harnesses (fuzz/README.md).  CI runs the deterministic
# `bash fuzz/run.sh`; `make fuzz` fuzzes at random for FUZZ_SECONDS, keeping
# the grown corpus in FUZZ_WORK (default /tmp/ntk-fuzz) for the next run.
FUZZ_SECONDS = 600
.PHONY: fuzz
fuzz:
	bash fuzz/run.sh --time $(FUZZ_SECONDS)

# The pure numerics as a shared library, for the numpy-reference tests (ctypes).
test/unit/libntkcore.so: $(UNIT_SRCS) $(wildcard src/*.h)
	$(CC) $(UNIT_CFLAGS) -fPIC -shared -o $@ $(UNIT_SRCS) -lopenblas -llapacke -lm -lpthread

EXTRA_CLEAN += test/unit/libntkcore.so

# Benchmarks (not tests): C Gram/solve without a server, then fit/predict in
# the database against the Python path.  See bench/README.md.
bench/bench_gram: bench/bench_gram.c $(UNIT_SRCS) $(wildcard src/*.h)
	$(CC) -O2 -g -std=gnu99 -Wall -Wextra -I$(srcdir)/src -o $@ bench/bench_gram.c $(UNIT_SRCS) -lopenblas -llapacke -lm -lpthread

bench/bench_nystrom: bench/bench_nystrom.c $(UNIT_SRCS) $(wildcard src/*.h)
	$(CC) -O2 -g -std=gnu99 -Wall -Wextra -I$(srcdir)/src -o $@ bench/bench_nystrom.c $(UNIT_SRCS) -lopenblas -llapacke -lm -lpthread

bench/bench_packed: bench/bench_packed.c $(UNIT_SRCS) $(wildcard src/*.h)
	$(CC) -O2 -g -std=gnu99 -Wall -Wextra -I$(srcdir)/src -o $@ bench/bench_packed.c $(UNIT_SRCS) -lopenblas -llapacke -lm -lpthread

.PHONY: bench
bench: bench/bench_gram bench/bench_nystrom bench/bench_packed
	bash bench/run.sh

EXTRA_CLEAN += bench/bench_gram bench/bench_nystrom bench/bench_packed
