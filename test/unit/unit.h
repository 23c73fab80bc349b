/*-------------------------------------------------------------------------
 *
 * unit.h
 *	  What the C unit tests share: pass/fail counters and small checks.
 *	  Each test is a program of its own, so the statics are per test; the
 *	  helpers are inline so that a test need not use every one of them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_UNIT_H
#define NTK_UNIT_H

#include <stdio.h>
#include <stdlib.h>

#include "kernel.h"

static int	n_passed = 0;
static int	n_failed = 0;

static inline void
check(int ok, const char *what)
{
	if (ok)
		n_passed++;
	else
	{
		n_failed++;
		printf("FAIL: %s\n", what);
	}
}

static inline void
check_status(NtkStatus got, NtkStatus want, const char *what)
{
	if (got == want)
		n_passed++;
	else
	{
		n_failed++;
		printf("FAIL: %s: status %d (%s), want %d (%s)\n", what,
			   (int) got, ntk_status_string(got),
			   (int) want, ntk_status_string(want));
	}
}

static inline NtkParams
params(int depth, NtkActivation act, double sw, double sb)
{
	NtkParams	p;

	p.depth = depth;
	p.activation = act;
	p.sigma_w = sw;
	p.sigma_b = sb;
	return p;
}

/*
 * The random inputs of a test come from a generator whose state starts at a
 * fixed value, the same on every run and machine.  NTK_TEST_SEED=N in the
 * environment starts it from N instead (through splitmix64, so that small N
 * make good states); unit_seed_report says, after a failure, which seed the
 * inputs came from and how to draw them again.
 */
static unsigned long long unit_seed_fixed;
static const char *unit_seed_env;

static inline unsigned long long
unit_seed(unsigned long long fixed)
{
	unsigned long long z;
	char	   *end;

	unit_seed_fixed = fixed;
	unit_seed_env = getenv("NTK_TEST_SEED");
	if (unit_seed_env == NULL || *unit_seed_env == '\0')
	{
		unit_seed_env = NULL;
		return fixed;
	}
	z = strtoull(unit_seed_env, &end, 0);
	if (*end != '\0' || *unit_seed_env == '-')
	{
		fprintf(stderr, "NTK_TEST_SEED must be a non-negative integer, not \"%s\"\n", unit_seed_env);
		exit(2);
	}
	z += 0x9E3779B97F4A7C15ULL;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return z ? z : fixed;
}

static inline void
unit_seed_report(const char *program)
{
	if (n_failed == 0)
		return;
	if (unit_seed_env == NULL)
		printf("random inputs from the fixed seed 0x%llx: %s draws them again; NTK_TEST_SEED=N draws others\n",
			   unit_seed_fixed, program);
	else
		printf("random inputs from NTK_TEST_SEED=%s: NTK_TEST_SEED=%s %s draws them again\n",
			   unit_seed_env, unit_seed_env, program);
}

#endif							/* NTK_UNIT_H */
