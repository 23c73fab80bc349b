/*-------------------------------------------------------------------------
 *
 * test_eigh.c
 *	  Server-less unit tests of the symmetric eigendecomposition
 *	  (src/core/eigh.c), against LAPACK's dsyevd bit for bit.
 *
 * The fit runs ntk_eigh in a child process that a cancel kills
 * (src/compute_child.c); that part is tested with a server, in
 * test/fault/eigh_child.sh.
 *
 * No framework: every check prints one line when it fails, and the program
 * ends with exactly "N passed, M failed" and exits 1 on any failure.
 *
 * Built and run by `make unitcheck`.
 *
 *-------------------------------------------------------------------------
 */
#include "kernel.h"
#include "eigh.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "unit_data.h"


/* A kernel-like matrix: X X^T / 3 + 1e-9 I for 3 features, many tiny eigenvalues. */
static void
fill_kernel(double *A, int n)
{
	double	   *X = dalloc((size_t) n * 3);
	int			i;

	for (i = 0; i < n * 3; i++)
		X[i] = 2 * urand() - 1;
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, n, n, 3, 1.0 / 3,
				X, n, X, n, 0.0, A, n);
	for (i = 0; i < n; i++)
		A[i + (size_t) i * n] += 1e-9;
	free(X);
}

/*
 * ntk_eigh against LAPACKE_dsyevd: the very same bits (eigenvalues and
 * vectors) on well-conditioned and kernel-like matrices, at sizes around
 * LAPACK's block sizes, and on matrices dsyevd scales (norms near 1e-160 and
 * 1e160); only the lower triangle is read; A V = V diag(w) and V^T V = I to
 * rounding; the eigenvalues ascend.
 */
static void
test_eigh_dsyevd(void)
{
	static const int ns[] = {1, 2, 3, 31, 32, 33, 64, 65, 100, 129, 300, 700};
	static const double scales[] = {1.0, 1e-160, 1e160};
	size_t		ni;
	size_t		si;
	int			kind;
	double		worst = 0.0;

	for (kind = 0; kind < 2; kind++)
		for (si = 0; si < sizeof scales / sizeof scales[0]; si++)
			for (ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
			{
				int			n = ns[ni];
				size_t		nn = (size_t) n * n;
				double	   *A = dalloc(nn);
				double	   *V = dalloc(nn);
				double	   *R = dalloc(nn);
				double	   *work = dalloc(ntk_eigh_work_len(n));
				double	   *w = dalloc(n);
				double	   *wref = dalloc(n);
				double		amax = 0.0;
				double		res = 0.0;
				double		orth = 0.0;
				int			ascending = 1;
				NtkStatus	st;
				lapack_int	info;
				char		msg[200];
				size_t		e;
				int			i;
				int			j;

				if (kind == 0)
					fill_spd(A, n);
				else
					fill_kernel(A, n);
				for (e = 0; e < nn; e++)
				{
					A[e] *= scales[si];
					amax = fmax(amax, fabs(A[e]));
				}
				memcpy(R, A, nn * sizeof(double));
				info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', n, R, n, wref);
				check(info == 0, "eigh: dsyevd reference");
				/* only the lower triangle is read: the fit leaves the upper one unset */
				memcpy(V, A, nn * sizeof(double));
				for (j = 1; j < n; j++)
					for (i = 0; i < j; i++)
						V[i + (size_t) j * n] = NAN;
				st = ntk_eigh(V, n, w, work, NULL, NULL);
				snprintf(msg, sizeof msg, "eigh n %d %s scale %g: status", n,
						 kind ? "kernel" : "spd", scales[si]);
				check_status(st, NTK_OK, msg);
				snprintf(msg, sizeof msg, "eigh n %d %s scale %g: bit-identical to dsyevd", n,
						 kind ? "kernel" : "spd", scales[si]);
				check(memcmp(w, wref, (size_t) n * sizeof(double)) == 0 &&
					  memcmp(V, R, nn * sizeof(double)) == 0, msg);

				/* R = A V - V diag(w) (A symmetric: both triangles set), then V^T V - I */
				for (j = 0; j < n; j++)
				{
					for (i = 0; i < n; i++)
						R[i + (size_t) j * n] = V[i + (size_t) j * n] * w[j];
					if (j > 0 && w[j] < w[j - 1])
						ascending = 0;
				}
				cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, A, n,
							V, n, -1.0, R, n);
				for (e = 0; e < nn; e++)
					res = fmax(res, fabs(R[e]));
				cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, n, n, n, 1.0, V, n,
							V, n, 0.0, R, n);
				for (j = 0; j < n; j++)
					for (i = 0; i < n; i++)
						orth = fmax(orth, fabs(R[i + (size_t) j * n] - (i == j)));
				snprintf(msg, sizeof msg,
						 "eigh n %d %s scale %g: ascending %d, |AV - Vw| %.2g, |V'V - I| %.2g (|A| %.3g)",
						 n, kind ? "kernel" : "spd", scales[si], ascending, res / amax, orth, amax);
				check(ascending && res <= 1e-13 * n * amax && orth <= 1e-13 * n, msg);
				worst = fmax(worst, fmax(res / amax, orth) / n);
				free(A);
				free(V);
				free(R);
				free(work);
				free(w);
				free(wref);
			}
	printf("eigh: worst error per n in the identities: %.3g\n", worst);
}

/*
 * Progress: reports at 0, 0.35, 0.55 and 1 in order; a stop asked at each
 * report in turn gives NTK_CANCELED at once; bad orders.
 */
static void
test_eigh_progress(void)
{
	int			n = 200;
	size_t		nn = (size_t) n * n;
	double	   *A = dalloc(nn);
	double	   *V = dalloc(nn);
	double	   *work = dalloc(ntk_eigh_work_len(n));
	double	   *w = dalloc(n);
	Progress	pr;
	NtkStatus	st;
	char		msg[120];
	int			k;

	fill_spd(A, n);
	memcpy(V, A, nn * sizeof(double));
	progress_init(&pr, 0);
	st = ntk_eigh(V, n, w, work, progress_fn, &pr);
	snprintf(msg, sizeof msg, "eigh progress: %s, %d reports, %d out of order, last %g",
			 ntk_status_string(st), pr.calls, pr.bad_order, pr.last);
	check(st == NTK_OK && pr.calls == 4 && pr.bad_order == 0 && pr.last == 1.0, msg);
	for (k = 1; k <= 4; k++)
	{
		memcpy(V, A, nn * sizeof(double));
		progress_init(&pr, k);
		st = ntk_eigh(V, n, w, work, progress_fn, &pr);
		snprintf(msg, sizeof msg, "eigh canceled at report %d: %s after %d reports",
				 k, ntk_status_string(st), pr.calls);
		check(st == NTK_CANCELED && pr.calls == k, msg);
	}
	check_status(ntk_eigh(V, 0, w, work, NULL, NULL), NTK_BAD_DIMENSION, "eigh n 0");
	check_status(ntk_eigh(V, -1, w, work, NULL, NULL), NTK_BAD_DIMENSION, "eigh n -1");
	/* the workspace is dsyevd's: 1 + 6n + 2n^2 doubles and 3 + 5n ints */
	check(ntk_eigh_work_len(n) * sizeof(double) >=
		  (1 + 6 * (size_t) n + 2 * nn) * sizeof(double) + (3 + 5 * (size_t) n) * sizeof(lapack_int),
		  "eigh workspace holds dsyevd's");
	free(A);
	free(V);
	free(work);
	free(w);
}

int
main(int argc, char **argv)
{
	(void) argc;
	rng_state = unit_seed(0x2545F4914F6CDD1DULL);
	test_eigh_dsyevd();
	test_eigh_progress();

	unit_seed_report(argv[0]);
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
