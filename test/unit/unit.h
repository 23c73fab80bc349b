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

#endif							/* NTK_UNIT_H */
