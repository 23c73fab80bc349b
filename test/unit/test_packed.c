/*-------------------------------------------------------------------------
 *
 * test_packed.c
 *	  Unit tests of the packed (RFP) Gram, Cholesky and solves: the layout
 *	  against LAPACK's dtrttf/dtfttr, the factor and solve against dpftrf,
 *	  dpftrs and dpotrf, the Gram against ntk_gram_sym packed by dtrttf.
 *
 *-------------------------------------------------------------------------
 */
#include "packed.h"

#include "unit.h"
#include "unit_data.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>


static double *
alloc_doubles(size_t count)
{
	double	   *p = malloc((count ? count : 1) * sizeof(double));

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

/* Column-major SPD n x n: G G^T / n + I with G uniform in +-1 (full). */
static double *
random_spd(int n)
{
	double	   *G = alloc_doubles((size_t) n * n);
	double	   *M = alloc_doubles((size_t) n * n);
	size_t		i;
	int			j;

	for (i = 0; i < (size_t) n * n; i++)
		G[i] = 2.0 * urand() - 1.0;
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0 / n, G, n,
				G, n, 0.0, M, n);
	for (j = 0; j < n; j++)
		M[j + (size_t) j * n] += 1.0;
	free(G);
	return M;
}

static const int sizes[] = {1, 2, 3, 4, 5, 8, 9, 64, 100, 101, 511, 512, 513, 1100, 2101};
#define NSIZES (int) (sizeof(sizes) / sizeof(sizes[0]))

/* The layout against dtrttf and dtfttr, and ntk_packed_index. */
static void
test_layout(void)
{
	int			s;

	for (s = 0; s < NSIZES; s++)
	{
		int			n = sizes[s];
		size_t		len = ntk_packed_len(n);
		NtkPackedLayout l = ntk_packed_layout(n);
		double	   *F = alloc_doubles((size_t) n * n);
		double	   *A = alloc_doubles(len);
		double	   *R = alloc_doubles(len);
		double	   *G = alloc_doubles((size_t) n * n);
		double	   *H = alloc_doubles((size_t) n * n);
		size_t		i;
		int			ok_pack = 1;
		int			ok_unpack = 1;
		int			ok_index = 1;
		int			ok_zero = 1;
		int			r;
		int			c;
		char		what[128];

		for (i = 0; i < (size_t) n * n; i++)
			F[i] = urand();
		ntk_packed_pack(F, n, n, A);
		check(LAPACKE_dtrttf(LAPACK_COL_MAJOR, 'N', 'L', n, F, n, R) == 0, "dtrttf");
		ok_pack = memcmp(A, R, len * sizeof(double)) == 0;

		for (i = 0; i < (size_t) n * n; i++)
			G[i] = H[i] = -7.0;
		ntk_packed_unpack(R, n, G, n, 0);
		check(LAPACKE_dtfttr(LAPACK_COL_MAJOR, 'N', 'L', n, R, H, n) == 0, "dtfttr");
		for (c = 0; c < n; c++)
			for (r = c; r < n; r++)
			{
				ok_unpack &= G[r + (size_t) c * n] == H[r + (size_t) c * n];
				ok_index &= A[ntk_packed_index(&l, r, c)] == F[r + (size_t) c * n];
			}
		/* untouched above the diagonal, or zeroed */
		for (c = 1; c < n; c++)
			for (r = 0; r < c; r++)
				ok_unpack &= G[r + (size_t) c * n] == -7.0;
		ntk_packed_unpack(R, n, G, n, 1);
		for (c = 1; c < n; c++)
			for (r = 0; r < c; r++)
				ok_zero &= G[r + (size_t) c * n] == 0.0;

		snprintf(what, sizeof(what), "n=%d: ntk_packed_pack equals dtrttf", n);
		check(ok_pack, what);
		snprintf(what, sizeof(what), "n=%d: ntk_packed_unpack equals dtfttr", n);
		check(ok_unpack, what);
		snprintf(what, sizeof(what), "n=%d: ntk_packed_index", n);
		check(ok_index, what);
		snprintf(what, sizeof(what), "n=%d: unpack zeroes the upper triangle", n);
		check(ok_zero, what);
		free(F);
		free(A);
		free(R);
		free(G);
		free(H);
	}
}

/* max |a - b| over the lower triangles of two full matrices, over max |b| */
static double
lower_rel_diff(const double *a, const double *b, int n)
{
	double		diff = 0.0;
	double		scale = 0.0;
	int			r;
	int			c;

	for (c = 0; c < n; c++)
		for (r = c; r < n; r++)
		{
			diff = fmax(diff, fabs(a[r + (size_t) c * n] - b[r + (size_t) c * n]));
			scale = fmax(scale, fabs(b[r + (size_t) c * n]));
		}
	return diff / scale;
}

/* The factor against dpftrf and dpotrf, the solve against dpftrs. */
static void
test_factor_solve(void)
{
	int			s;

	for (s = 0; s < NSIZES; s++)
	{
		int			n = sizes[s];
		int			k = 3;
		size_t		len = ntk_packed_len(n);
		double	   *M = random_spd(n);
		double	   *A = alloc_doubles(len);
		double	   *R = alloc_doubles(len);
		double	   *Lp = alloc_doubles((size_t) n * n);
		double	   *Lf = alloc_doubles((size_t) n * n);
		double	   *Lo = alloc_doubles((size_t) n * n);
		double	   *B = alloc_doubles((size_t) n * k);
		double	   *X = alloc_doubles((size_t) n * k);
		double	   *Xr = alloc_doubles((size_t) n * k);
		double	   *v = alloc_doubles(n);
		double	   *w = alloc_doubles(n);
		double		dx = 0.0;
		double		xs = 0.0;
		double		res = 0.0;
		double		bs = 0.0;
		double		dv = 0.0;
		double		vs = 0.0;
		int			failed_at = -1;
		size_t		i;
		char		what[160];

		ntk_packed_pack(M, n, n, A);
		memcpy(R, A, len * sizeof(double));
		memcpy(Lf, M, (size_t) n * n * sizeof(double));
		check_status(ntk_packed_cholesky(A, n, &failed_at, NULL, NULL), NTK_OK,
					 "ntk_packed_cholesky");
		check(failed_at == 0, "failed_at 0 on success");
		check(LAPACKE_dpftrf(LAPACK_COL_MAJOR, 'N', 'L', n, R) == 0, "dpftrf");
		check(LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, Lf, n) == 0, "dpotrf");
		ntk_packed_unpack(A, n, Lp, n, 1);
		ntk_packed_unpack(R, n, Lo, n, 1);

		snprintf(what, sizeof(what), "n=%d: factor within 1e-13 of dpftrf's (%.2e)",
				 n, lower_rel_diff(Lp, Lo, n));
		check(lower_rel_diff(Lp, Lo, n) < 1e-13, what);
		snprintf(what, sizeof(what), "n=%d: factor within 1e-13 of dpotrf's (%.2e)",
				 n, lower_rel_diff(Lp, Lf, n));
		check(lower_rel_diff(Lp, Lf, n) < 1e-13, what);

		/* solve: against dpftrs, and the residual M X - B */
		for (i = 0; i < (size_t) n * k; i++)
			B[i] = X[i] = Xr[i] = 2.0 * urand() - 1.0;
		check_status(ntk_packed_solve(A, n, X, n, k), NTK_OK, "ntk_packed_solve");
		check(LAPACKE_dpftrs(LAPACK_COL_MAJOR, 'N', 'L', n, k, R, Xr, n) == 0, "dpftrs");
		for (i = 0; i < (size_t) n * k; i++)
		{
			dx = fmax(dx, fabs(X[i] - Xr[i]));
			xs = fmax(xs, fabs(Xr[i]));
			bs = fmax(bs, fabs(B[i]));
		}
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, k, n, 1.0, M, n,
					X, n, -1.0, B, n);
		for (i = 0; i < (size_t) n * k; i++)
			res = fmax(res, fabs(B[i]));
		snprintf(what, sizeof(what), "n=%d: solve within 1e-12 of dpftrs's (%.2e)", n, dx / xs);
		check(dx / xs < 1e-12, what);
		snprintf(what, sizeof(what), "n=%d: solve residual (%.2e)", n, res / bs);
		check(res / bs < 1e-12, what);

		/* the forward half against dtrsv on dpotrf's factor */
		for (i = 0; i < (size_t) n; i++)
			v[i] = w[i] = 2.0 * urand() - 1.0;
		check_status(ntk_packed_forward(A, n, v), NTK_OK, "ntk_packed_forward");
		cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, Lf, n, w, 1);
		for (i = 0; i < (size_t) n; i++)
		{
			dv = fmax(dv, fabs(v[i] - w[i]));
			vs = fmax(vs, fabs(w[i]));
		}
		snprintf(what, sizeof(what), "n=%d: forward solve against dtrsv (%.2e)", n, dv / vs);
		check(dv / vs < 1e-12, what);

		free(M);
		free(A);
		free(R);
		free(Lp);
		free(Lf);
		free(Lo);
		free(B);
		free(X);
		free(Xr);
		free(v);
		free(w);
	}
	{
		double		one = 4.0;
		double		b = 2.0;
		int			failed_at;

		check_status(ntk_packed_solve(&one, 0, &b, 1, 1), NTK_BAD_DIMENSION, "solve n = 0");
		check_status(ntk_packed_solve(&one, 2, &b, 1, 1), NTK_BAD_DIMENSION, "solve ldb < n");
		check_status(ntk_packed_cholesky(&one, 0, &failed_at, NULL, NULL),
					 NTK_BAD_DIMENSION, "cholesky n = 0");
		check_status(ntk_packed_cholesky(&one, 1, &failed_at, NULL, NULL), NTK_OK,
					 "cholesky n = 1");
		check(one == 2.0, "n = 1: the factor is the root");
		check_status(ntk_packed_solve(&one, 1, &b, 1, 1), NTK_OK, "solve n = 1");
		check(b == 0.5, "n = 1: 2 / 2^2");
	}
}

/*
 * Not positive definite: the identity with a negative, zero or NaN entry at
 * (m, m) fails at order m + 1, in either half; as dpotrf says (its info)
 * for the finite cases.
 */
static void
test_not_pd(void)
{
	static const int ns[] = {1, 2, 7, 600, 1101};
	static const double bad[] = {-1.0, 0.0, NAN};
	int			s;

	for (s = 0; s < (int) (sizeof(ns) / sizeof(ns[0])); s++)
	{
		int			n = ns[s];
		int			picks[3];
		int			q;

		picks[0] = 0;
		picks[1] = n / 2;		/* the first column of A22 for odd n... */
		picks[2] = n - 1;
		for (q = 0; q < 3; q++)
		{
			int			b;

			for (b = 0; b < 3; b++)
			{
				int			m = picks[q];
				double	   *M = alloc_doubles((size_t) n * n);
				double	   *A = alloc_doubles(ntk_packed_len(n));
				int			failed_at = -1;
				int			j;
				char		what[128];

				memset(M, 0, (size_t) n * n * sizeof(double));
				for (j = 0; j < n; j++)
					M[j + (size_t) j * n] = 1.0;
				/* some coupling so that the updates are not all zero */
				for (j = 1; j < n; j++)
					M[j + (size_t) (j - 1) * n] = 0.25;
				M[m + (size_t) m * n] = bad[b];
				ntk_packed_pack(M, n, n, A);
				snprintf(what, sizeof(what), "n=%d: not positive definite at %d (%g)",
						 n, m + 1, bad[b]);
				check_status(ntk_packed_cholesky(A, n, &failed_at, NULL, NULL),
							 NTK_NOT_POSITIVE_DEFINITE, what);
				if (!isnan(bad[b]))
				{
					lapack_int	info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', n, M, n);

					snprintf(what, sizeof(what), "n=%d: failed_at %d, dpotrf's info %d",
							 n, failed_at, (int) info);
					check(failed_at == info, what);
				}
				else
				{
					snprintf(what, sizeof(what), "n=%d: NaN at %d, failed_at %d",
							 n, m + 1, failed_at);
					check(failed_at == m + 1, what);
				}
				free(M);
				free(A);
			}
		}
	}
}

/* Progress: records the fractions, cancels at call cancel_at or past cancel_frac. */
typedef struct Probe
{
	int			calls;
	int			cancel_at;
	double		cancel_frac;
	double		last;
	int			monotone;
} Probe;

static int
probe_fn(void *arg, double fraction)
{
	Probe	   *pb = (Probe *) arg;

	pb->calls++;
	if (fraction < pb->last || fraction > 1.0)
		pb->monotone = 0;
	pb->last = fraction;
	return pb->calls == pb->cancel_at || fraction > pb->cancel_frac;
}

static Probe
probe(int cancel_at, double cancel_frac)
{
	Probe		pb;

	pb.calls = 0;
	pb.cancel_at = cancel_at;
	pb.cancel_frac = cancel_frac;
	pb.last = 0.0;
	pb.monotone = 1;
	return pb;
}

static void
test_cholesky_progress(void)
{
	int			n = 2101;
	double	   *M = random_spd(n);
	double	   *A = alloc_doubles(ntk_packed_len(n));
	int			failed_at;
	Probe		pb;
	double		cuts[] = {0.01, 0.3, 0.8, 0.9};
	int			c;

	/* without cancel: monotone up to exactly 1 */
	ntk_packed_pack(M, n, n, A);
	pb = probe(-1, 2.0);
	check_status(ntk_packed_cholesky(A, n, &failed_at, probe_fn, &pb), NTK_OK,
				 "cholesky with progress");
	check(pb.monotone && pb.last == 1.0 && pb.calls > 8, "cholesky progress monotone to 1");

	/* a cancel in the first call, and past each fraction (both halves) */
	ntk_packed_pack(M, n, n, A);
	pb = probe(1, 2.0);
	check_status(ntk_packed_cholesky(A, n, &failed_at, probe_fn, &pb), NTK_CANCELED,
				 "cholesky canceled at the first report");
	check(pb.calls == 1, "no report after the cancel");
	for (c = 0; c < 4; c++)
	{
		char		what[96];

		ntk_packed_pack(M, n, n, A);
		pb = probe(-1, cuts[c]);
		snprintf(what, sizeof(what), "cholesky canceled past %.2f", cuts[c]);
		check_status(ntk_packed_cholesky(A, n, &failed_at, probe_fn, &pb), NTK_CANCELED,
					 what);
		check(pb.last < 1.0, "canceled before the end");
	}
	free(M);
	free(A);
}

/*
 * The Gram against ntk_gram_sym's, packed by LAPACK's dtrttf: bit for bit
 * in the first panel where the same BLAS calls make the same dot products,
 * within rounding everywhere; the same at 1 and 2 threads.
 */
static void
test_gram(void)
{
	static const int ns[] = {1, 2, 3, 64, 129, 300, 301, 2101};
	static const int ds[] = {5, 5, 5, 13, 13, 16, 7, 40};
	int			s;
	int			act;

	for (act = 0; act < 2; act++)
		for (s = 0; s < (int) (sizeof(ns) / sizeof(ns[0])); s++)
		{
			int			n = ns[s];
			int			d = ds[s];
			NtkParams	p = params(3, act ? NTK_ERF : NTK_RELU, 1.4, 0.1);
			size_t		len = ntk_packed_len(n);
			double	   *X = alloc_doubles((size_t) n * d);
			double	   *diag = alloc_doubles((size_t) n * ntk_diag_len(&p));
			double	   *work = alloc_doubles(ntk_gram_work_len(&p, n));
			double	   *K = alloc_doubles((size_t) n * n);
			double	   *R = alloc_doubles(len);
			double	   *A = alloc_doubles(len);
			double	   *A2 = alloc_doubles(len);
			double		diff = 0.0;
			double		scale = 0.0;
			/*
			 * A22's values come with the roles of the two points swapped, so
			 * they are rounded differently: a few ulps of the largest entry
			 * (erf's angle goes through atan2, a few more there).
			 */
			double		tol = act ? 2e-15 : 4e-16;
			size_t		same = 0;
			size_t		i;
			char		what[160];

			for (i = 0; i < (size_t) n * d; i++)
				X[i] = urand() - 0.5;
			/* a duplicate and a near-parallel pair: the close-pair route */
			if (n > 3)
			{
				memcpy(X + (size_t) (n - 1) * d, X, d * sizeof(double));
				for (i = 0; i < (size_t) d; i++)
					X[(size_t) (n - 2) * d + i] = 3.0 * X[(size_t) (n / 2) * d + i];
			}
			check_status(ntk_points_diag(&p, X, n, d, diag), NTK_OK, "diag");
			ntk_set_threads(2);
			check_status(ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K, NULL, NULL),
						 NTK_OK, "ntk_gram_sym");
			check(LAPACKE_dtrttf(LAPACK_COL_MAJOR, 'N', 'L', n, K, n, R) == 0, "dtrttf");
			check_status(ntk_gram_packed(&p, NTK_KERNEL_NTK, X, n, d, diag, work, A, NULL, NULL),
						 NTK_OK, "ntk_gram_packed");
			ntk_set_threads(1);
			check_status(ntk_gram_packed(&p, NTK_KERNEL_NTK, X, n, d, diag, work, A2, NULL, NULL),
						 NTK_OK, "ntk_gram_packed, 1 thread");
			for (i = 0; i < len; i++)
			{
				diff = fmax(diff, fabs(A[i] - R[i]));
				scale = fmax(scale, fabs(R[i]));
				same += A[i] == R[i];
			}
			diff /= scale;
			snprintf(what, sizeof(what),
					 "%s n=%d d=%d: packed Gram within %.0e max|K| of ntk_gram_sym's (%.2e; %zu of %zu bit for bit)",
					 act ? "erf" : "relu", n, d, tol, diff, same, len);
			check(diff <= tol, what);
			if (getenv("NTK_TEST_VERBOSE"))
				printf("%s\n", what);
			snprintf(what, sizeof(what), "%s n=%d: the same at 1 and 2 threads",
					 act ? "erf" : "relu", n);
			check(memcmp(A, A2, len * sizeof(double)) == 0, what);
			free(X);
			free(diag);
			free(work);
			free(K);
			free(R);
			free(A);
			free(A2);
		}
}

static void
test_gram_progress(void)
{
	int			n = 2101;
	int			d = 300;
	NtkParams	p = params(3, NTK_RELU, 1.4, 0.1);
	double	   *X = alloc_doubles((size_t) n * d);
	double	   *diag = alloc_doubles((size_t) n * ntk_diag_len(&p));
	double	   *work = alloc_doubles(ntk_gram_work_len(&p, n));
	double	   *A = alloc_doubles(ntk_packed_len(n));
	double		dot_share = d / (d + 60.0 * (p.depth + 1));
	double		cuts[3];
	Probe		pb;
	size_t		i;
	int			c;

	cuts[0] = dot_share / 2.0;	/* in the dot products */
	cuts[1] = dot_share + 0.2 * (1.0 - dot_share);	/* the first panel's recursion */
	cuts[2] = dot_share + 0.9 * (1.0 - dot_share);	/* A22's */
	for (i = 0; i < (size_t) n * d; i++)
		X[i] = urand() - 0.5;
	check_status(ntk_points_diag(&p, X, n, d, diag), NTK_OK, "diag");
	ntk_set_threads(2);
	pb = probe(-1, 2.0);
	check_status(ntk_gram_packed(&p, NTK_KERNEL_NTK, X, n, d, diag, work, A, probe_fn, &pb),
				 NTK_OK, "gram with progress");
	check(pb.monotone && pb.last == 1.0 && pb.calls > 8, "gram progress monotone to 1");
	pb = probe(1, 2.0);
	check_status(ntk_gram_packed(&p, NTK_KERNEL_NTK, X, n, d, diag, work, A, probe_fn, &pb),
				 NTK_CANCELED, "gram canceled at the first report");
	check(pb.calls == 1, "no report after the cancel");
	for (c = 0; c < 3; c++)
	{
		char		what[96];

		pb = probe(-1, cuts[c]);
		snprintf(what, sizeof(what), "gram canceled past %.2f", cuts[c]);
		check_status(ntk_gram_packed(&p, NTK_KERNEL_NTK, X, n, d, diag, work, A, probe_fn, &pb),
					 NTK_CANCELED, what);
		check(pb.last < 1.0, "canceled before the end");
	}
	/* an overflow is reported, not hidden */
	{
		NtkParams	big = params(3, NTK_RELU, 1e100, 0.0);

		for (i = 0; i < (size_t) d; i++)
			X[i] = 1e100;
		if (ntk_points_diag(&big, X, n, d, diag) == NTK_OK)
			check_status(ntk_gram_packed(&big, NTK_KERNEL_NTK, X, n, d, diag, work, A,
										 NULL, NULL), NTK_OVERFLOW, "gram overflow");
	}
	check_status(ntk_gram_packed(&p, NTK_KERNEL_NTK, X, 0, d, diag, work, A, NULL, NULL),
				 NTK_BAD_DIMENSION, "gram n = 0");
	ntk_set_threads(1);
	free(X);
	free(diag);
	free(work);
	free(A);
}

int
main(int argc, char **argv)
{
	(void) argc;
	rng_state = unit_seed(0x9A3F5C21D7E40B61ULL);
	test_layout();
	test_factor_solve();
	test_not_pd();
	test_cholesky_progress();
	test_gram();
	test_gram_progress();

	unit_seed_report(argv[0]);
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
