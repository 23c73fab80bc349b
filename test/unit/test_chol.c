/*-------------------------------------------------------------------------
 *
 * test_chol.c
 *	  Server-less unit tests of the blocked Cholesky (src/core/chol.c),
 *	  against LAPACK's own dpotrf / dpotrs.
 *
 * No framework: every check prints one line when it fails, and the program
 * ends with exactly "N passed, M failed" and exits 1 on any failure.
 *
 * Built and run by `make unitcheck`.
 *
 *-------------------------------------------------------------------------
 */
#include "kernel.h"
#include "gram.h"
#include "chol.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "unit_data.h"

/* Tolerance of the Cholesky factor and solution against LAPACK (relative). */
#define CHOL_TOL 1e-12


static void
test_cholesky(void)
{
	static const int ns[] = {1, 255, 256, 257, 511, 512, 513, 600, 2100};
	size_t		ni;
	double		worst_l = 0.0;
	double		worst_x = 0.0;

	for (ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
	{
		int			n = ns[ni];
		int			k = 3;
		size_t		nn = (size_t) n * n;
		double	   *A = dalloc(nn);
		double	   *L = dalloc(nn);
		double	   *R = dalloc(nn);
		double	   *B = dalloc((size_t) n * k);
		double	   *Bref = dalloc((size_t) n * k);
		double		maxl = 0.0;
		double		errl = 0.0;
		double		nx = 0.0;
		double		ex = 0.0;
		int			failed_at = -1;
		lapack_int	info;
		Progress	pr;
		NtkStatus	st;
		char		msg[200];
		size_t		e;
		int			i;
		int			j;

		fill_spd(A, n);
		memcpy(L, A, nn * sizeof(double));
		memcpy(R, A, nn * sizeof(double));
		for (e = 0; e < (size_t) n * k; e++)
			B[e] = Bref[e] = 2 * urand() - 1;

		progress_init(&pr, 0);
		st = ntk_cholesky(L, n, &failed_at, progress_fn, &pr);
		snprintf(msg, sizeof msg, "cholesky n %d status", n);
		check_status(st, NTK_OK, msg);
		snprintf(msg, sizeof msg, "cholesky n %d failed_at %d", n, failed_at);
		check(failed_at == 0, msg);
		snprintf(msg, sizeof msg, "cholesky n %d progress: %d calls, %d out of order, last %g",
				 n, pr.calls, pr.bad_order, pr.last);
		check(pr.calls >= 1 && pr.bad_order == 0 && pr.last == 1.0, msg);

		info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, R, n);
		snprintf(msg, sizeof msg, "reference dpotrf n %d info %d", n, (int) info);
		check(info == 0, msg);
		for (j = 0; j < n; j++)
			for (i = j; i < n; i++)
			{
				maxl = fmax(maxl, fabs(R[i + (size_t) j * n]));
				errl = fmax(errl, fabs(L[i + (size_t) j * n] - R[i + (size_t) j * n]));
			}
		errl /= maxl;
		worst_l = fmax(worst_l, errl);
		snprintf(msg, sizeof msg, "cholesky n %d: factor vs dpotrf max rel err %.3g", n, errl);
		check(errl <= CHOL_TOL, msg);

		ntk_cholesky_solve(L, n, B, k);
		info = LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', n, k, R, n, Bref, n);
		check(info == 0, "reference dpotrs");
		for (e = 0; e < (size_t) n * k; e++)
		{
			nx = fmax(nx, fabs(Bref[e]));
			ex = fmax(ex, fabs(B[e] - Bref[e]));
		}
		ex /= nx;
		worst_x = fmax(worst_x, ex);
		snprintf(msg, sizeof msg, "cholesky solve n %d: vs dpotrs max rel err %.3g", n, ex);
		check(ex <= CHOL_TOL, msg);

		/* the lower triangle is all the factorization reads */
		if (n >= 256)
		{
			memcpy(L, A, nn * sizeof(double));
			for (j = 0; j < n; j++)
				for (i = 0; i < j; i++)
					L[i + (size_t) j * n] = NAN;
			st = ntk_cholesky(L, n, &failed_at, NULL, NULL);
			errl = 0.0;
			for (j = 0; j < n; j++)
				for (i = j; i < n; i++)
					errl = fmax(errl, fabs(L[i + (size_t) j * n] - R[i + (size_t) j * n]));
			snprintf(msg, sizeof msg, "cholesky n %d ignores the upper triangle (err %.3g)",
					 n, errl / maxl);
			check(st == NTK_OK && errl / maxl <= CHOL_TOL, msg);
		}

		/* not positive definite: minor fpos + 1 fails, in each block */
		if (n >= 255)
		{
			int			fposs[6];
			int			nf = 0;
			int			f;

			fposs[nf++] = 0;
			fposs[nf++] = n / 3;
			fposs[nf++] = n - 1;
			if (n > 256)
			{
				fposs[nf++] = 255;
				fposs[nf++] = 256;
			}
			if (n > 2048 + 256)
				fposs[nf++] = 2048 + 256 + 5;
			else if (n == 2100)
				fposs[nf++] = 2050;
			for (f = 0; f < nf; f++)
			{
				int			fpos = fposs[f];

				memcpy(L, A, nn * sizeof(double));
				memcpy(R, A, nn * sizeof(double));
				L[fpos + (size_t) fpos * n] = R[fpos + (size_t) fpos * n] = -1.0;
				failed_at = -1;
				st = ntk_cholesky(L, n, &failed_at, NULL, NULL);
				info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, R, n);
				snprintf(msg, sizeof msg,
						 "cholesky n %d, diagonal %d negative: status %s failed_at %d, dpotrf info %d",
						 n, fpos, ntk_status_string(st), failed_at, (int) info);
				check(st == NTK_NOT_POSITIVE_DEFINITE && failed_at == fpos + 1 &&
					  info == fpos + 1, msg);
			}
			/* a NaN on the diagonal is not positive definite either */
			memcpy(L, A, nn * sizeof(double));
			L[(size_t) (n / 2) * (n + 1)] = NAN;
			st = ntk_cholesky(L, n, &failed_at, NULL, NULL);
			snprintf(msg, sizeof msg, "cholesky n %d, NaN diagonal: status %s failed_at %d",
					 n, ntk_status_string(st), failed_at);
			check(st == NTK_NOT_POSITIVE_DEFINITE && failed_at == n / 2 + 1, msg);
		}

		/* cancellation at the first and at a later progress call */
		if (n >= 2100)
		{
			int			stop;

			/* the last call (fraction 1) comes after the work: not a cancel point */
			for (stop = 1; stop <= 2; stop++)
			{
				memcpy(L, A, nn * sizeof(double));
				progress_init(&pr, stop);
				st = ntk_cholesky(L, n, &failed_at, progress_fn, &pr);
				snprintf(msg, sizeof msg, "cholesky n %d canceled at call %d: status %s, %d calls",
						 n, stop, ntk_status_string(st), pr.calls);
				check(st == NTK_CANCELED && pr.calls == stop, msg);
			}
		}
		free(A);
		free(L);
		free(R);
		free(B);
		free(Bref);
	}
	printf("cholesky: max rel err vs LAPACK: factor %.3g, solution %.3g\n", worst_l, worst_x);
}

/* Progress callback that raises the BLAS threads to *arg on its first call. */
static int
raise_threads_fn(void *arg, double fraction)
{
	int		   *threads = (int *) arg;

	(void) fraction;
	if (*threads > 0)
	{
		ntk_blas_set_threads(*threads);
		*threads = 0;
	}
	return 0;
}

/*
 * A factorization whose BLAS thread count goes up between panels (as in the
 * fit, which starts on one thread fewer while it stores the model's inputs)
 * gives the same bits every time for the same schedule, and agrees with the
 * factor on a fixed count to rounding.
 */
static void
test_cholesky_threads(void)
{
	int			n = 1300;		/* three diagonal blocks */
	size_t		nn = (size_t) n * n;
	double	   *A = dalloc(nn);
	double	   *L2 = dalloc(nn);
	double	   *La = dalloc(nn);
	double	   *Lb = dalloc(nn);
	double		err = 0.0;
	double		scale = 0.0;
	int			failed_at;
	int			differ = 0;
	int			raise;
	int			i;
	size_t		e;
	char		msg[120];

	fill_spd(A, n);
	memcpy(L2, A, nn * sizeof(double));
	memcpy(La, A, nn * sizeof(double));
	memcpy(Lb, A, nn * sizeof(double));
	ntk_blas_set_threads(2);
	check_status(ntk_cholesky(L2, n, &failed_at, NULL, NULL), NTK_OK, "cholesky threads: 2 threads");
	ntk_blas_set_threads(1);
	raise = 2;
	check_status(ntk_cholesky(La, n, &failed_at, raise_threads_fn, &raise), NTK_OK,
				 "cholesky threads: 1 raised to 2");
	ntk_blas_set_threads(1);
	raise = 2;
	check_status(ntk_cholesky(Lb, n, &failed_at, raise_threads_fn, &raise), NTK_OK,
				 "cholesky threads: 1 raised to 2, again");
	for (i = 0; i < n; i++)
		differ |= memcmp(La + i + (size_t) i * n, Lb + i + (size_t) i * n,
						 (size_t) (n - i) * sizeof(double)) != 0;
	check(!differ && raise == 0, "cholesky threads: the same thread schedule gives the same bits");
	for (i = 0; i < n; i++)
		for (e = (size_t) i * n + i; e < (size_t) (i + 1) * n; e++)
		{
			err = fmax(err, fabs(La[e] - L2[e]));
			scale = fmax(scale, fabs(L2[e]));
		}
	snprintf(msg, sizeof msg, "cholesky threads: 1 raised to 2 vs 2 throughout: max rel diff %.2g",
			 err / scale);
	check(err <= 1e-13 * scale, msg);
	ntk_blas_set_threads(2);
	free(A);
	free(L2);
	free(La);
	free(Lb);
}

/*
 * Regression inputs found by fuzzing (fuzz/README.md).
 */
static void
test_regressions(void)
{
	/*
	 * OpenBLAS's dpotrf passes a NaN pivot and factors an infinite one:
	 * ntk_cholesky returned NTK_OK with a NaN or Inf factor.
	 */
	{
		double		A[9];
		int			failed_at;
		int			c;

		for (c = 0; c < 4; c++)
		{
			char		msg[100];
			NtkStatus	st;

			memset(A, 0, sizeof A);
			A[0] = A[4] = A[8] = 4.0;
			A[1] = A[2] = A[5] = 1.0;
			if (c == 0)
				A[4] = NAN;			/* diagonal (2,2) */
			else if (c == 1)
				A[4] = INFINITY;
			else if (c == 2)
				A[1] = NAN;			/* below the diagonal: reaches (2,2) */
			else
				A[5] = INFINITY;	/* reaches (3,3) */
			failed_at = -1;
			st = ntk_cholesky(A, 3, &failed_at, NULL, NULL);
			snprintf(msg, sizeof msg, "cholesky with %s at case %d: failed_at %d",
					 c % 2 ? "Inf" : "NaN", c, failed_at);
			check_status(st, NTK_NOT_POSITIVE_DEFINITE, msg);
			check(failed_at == (c == 3 ? 3 : 2), msg);
		}
	}
}

int
main(int argc, char **argv)
{
	(void) argc;
	rng_state = unit_seed(0x2545F4914F6CDD1DULL);
	test_cholesky();
	test_cholesky_threads();
	test_regressions();

	unit_seed_report(argv[0]);
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
