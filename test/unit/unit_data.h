/*-------------------------------------------------------------------------
 *
 * unit_data.h
 *	  Inputs and recorders shared by the unit tests of the numerics: the
 *	  seeded generator, checked allocation, a progress recorder, and a
 *	  well-conditioned SPD matrix.
 *
 * Each test sets rng_state in main, from unit_seed(its fixed seed).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_UNIT_DATA_H
#define NTK_UNIT_DATA_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long long rng_state;

/* Deterministic pseudo-random numbers (xorshift64*), uniform in [0,1). */
static inline double
urand(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double) ((rng_state * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static inline void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
	{
		printf("out of memory (%zu bytes)\n", n);
		exit(2);
	}
	return p;
}

static inline double *
dalloc(size_t n)
{
	return (double *) xmalloc(n * sizeof(double));
}

/* Progress callbacks: record the fractions, cancel at call number stop_at. */
typedef struct Progress
{
	int			calls;
	int			stop_at;		/* 0: never */
	int			bad_order;
	double		last;
} Progress;

static inline int
progress_fn(void *arg, double fraction)
{
	Progress   *pr = (Progress *) arg;

	pr->calls++;
	if (!(fraction >= pr->last && fraction <= 1.0 + 1e-12))
		pr->bad_order++;
	pr->last = fraction;
	return pr->stop_at > 0 && pr->calls >= pr->stop_at;
}

static inline void
progress_init(Progress *pr, int stop_at)
{
	pr->calls = 0;
	pr->stop_at = stop_at;
	pr->bad_order = 0;
	pr->last = 0.0;
}

/*
 * A well-conditioned SPD matrix: 2 I + S, S symmetric with entries
 * uniform in +-1/sqrt(n) (spectrum within about 2 +- 1.2).  Column-major,
 * both triangles filled.
 */
static inline void
fill_spd(double *A, int n)
{
	double		c = 1.0 / sqrt((double) n);
	int			i;
	int			j;

	for (j = 0; j < n; j++)
	{
		A[j + (size_t) j * n] = 2.0 + c * (2 * urand() - 1);
		for (i = j + 1; i < n; i++)
		{
			double		v = c * (2 * urand() - 1);

			A[i + (size_t) j * n] = v;
			A[j + (size_t) i * n] = v;
		}
	}
}

#endif							/* NTK_UNIT_DATA_H */
