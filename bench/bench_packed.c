/*-------------------------------------------------------------------------
 *
 * bench_packed.c
 *	  Benchmark (not a test) of the packed (RFP) fit numerics against full
 *	  storage and LAPACK (docs/packed.md).
 *
 *	  Gram:     ntk_gram_sym (full n x n)   vs ntk_gram_packed;
 *	  Cholesky: LAPACKE_dpotrf, ntk_cholesky (full) vs LAPACKE_dpftrf,
 *	            ntk_packed_cholesky (packed), all on the same ridged Gram;
 *	  solve:    ntk_cholesky_solve vs ntk_packed_solve, k right-hand sides;
 *	  fit:      Gram + Cholesky + solve, ours packed vs ours full.
 *
 *	  The variants run interleaved within each repetition (the machine may
 *	  be shared) and every time is the median over the repetitions.
 *
 * Usage: bench_packed [-n N] [-d D] [-L depth] [-t threads] [-r reps] [-k rhs]
 *	  defaults n 8000, d 784, depth 3 (ReLU), 2 threads, 3 repetitions, 10 rhs
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <lapacke.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gram.h"
#include "packed.h"
#include "chol.h"

#define MAX_REPS 15

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the process, all threads (OpenBLAS's spinning included) */
static double
cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static void *
xmalloc(size_t bytes)
{
	void	   *p = malloc(bytes);

	if (p == NULL)
	{
		fprintf(stderr, "bench_packed: out of memory (%zu bytes)\n", bytes);
		exit(1);
	}
	return p;
}

static void
die_status(NtkStatus st, const char *what)
{
	if (st != NTK_OK)
	{
		fprintf(stderr, "bench_packed: %s: %s\n", what, ntk_status_string(st));
		exit(1);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double
minimum(const double *v, int count)
{
	double		m = v[0];
	int			i;

	for (i = 1; i < count; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

static double
median(double *v, int count)
{
	double		s[MAX_REPS];

	memcpy(s, v, count * sizeof(double));
	qsort(s, count, sizeof(double), cmp_double);
	return count % 2 ? s[count / 2] : 0.5 * (s[count / 2 - 1] + s[count / 2]);
}

static unsigned long long rng = 0x853C49E6748FEA9BULL;

static double
urand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (double) ((rng * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

/* The longest time between progress reports (the cancel latency). */
typedef struct Gap
{
	double		last;
	double		longest;
} Gap;

static int
gap_fn(void *arg, double fraction)
{
	Gap		   *g = (Gap *) arg;
	double		t = now();

	(void) fraction;
	if (t - g->last > g->longest)
		g->longest = t - g->last;
	g->last = t;
	return 0;
}

static Gap
gap_start(void)
{
	Gap			g;

	g.last = now();
	g.longest = 0.0;
	return g;
}

enum
{
	GRAM_FULL, GRAM_PACKED, POTRF, CHOL_FULL, PFTRF, CHOL_PACKED,
	SOLVE_FULL, SOLVE_PACKED, NTIMES
};

int
main(int argc, char **argv)
{
	int			n = 8000;
	int			d = 784;
	int			depth = 3;
	int			threads = 2;
	int			reps = 3;
	int			k = 10;
	int			opt;
	NtkParams	p;
	double	   *X;
	double	   *diag;
	double	   *work;
	double	   *K;				/* full Gram, then factors */
	double	   *A;				/* packed Gram, then factors */
	double	   *K0;				/* the ridged full Gram kept for the factors */
	double	   *A0;
	double	   *B;
	double	   *Y;
	double		t[NTIMES][MAX_REPS];
	double		cpu[NTIMES][MAX_REPS];
	double		c0;
	double		med[NTIMES];
	double		mins[NTIMES];
	double		lambda;
	double		gap_gram = 0.0;
	double		gap_chol = 0.0;
	Gap			gap;
	double		maxdiff = 0.0;
	double		scale = 0.0;
	size_t		len;
	size_t		i;
	int			r;
	int			failed_at;
	static const char *names[NTIMES] = {
		"ntk_gram_sym (full)", "ntk_gram_packed",
		"LAPACKE_dpotrf (full)", "ntk_cholesky (full)",
		"LAPACKE_dpftrf (packed)", "ntk_packed_cholesky",
		"ntk_cholesky_solve", "ntk_packed_solve"
	};

	while ((opt = getopt(argc, argv, "n:d:L:t:r:k:")) != -1)
	{
		switch (opt)
		{
			case 'n':
				n = atoi(optarg);
				break;
			case 'd':
				d = atoi(optarg);
				break;
			case 'L':
				depth = atoi(optarg);
				break;
			case 't':
				threads = atoi(optarg);
				break;
			case 'r':
				reps = atoi(optarg);
				break;
			case 'k':
				k = atoi(optarg);
				break;
			default:
				fprintf(stderr, "usage: bench_packed [-n N] [-d D] [-L depth] [-t threads] [-r reps] [-k rhs]\n");
				return 2;
		}
	}
	if (n < 2 || d < 1 || reps < 1 || reps > MAX_REPS || k < 1)
	{
		fprintf(stderr, "bench_packed: bad arguments\n");
		return 2;
	}
	p.depth = depth;
	p.activation = NTK_RELU;
	p.sigma_w = 1.4142135623730951;
	p.sigma_b = 0.1;
	ntk_set_threads(threads);
	ntk_blas_set_threads(threads);
	len = ntk_packed_len(n);

	X = xmalloc((size_t) n * d * sizeof(double));
	diag = xmalloc((size_t) n * ntk_diag_len(&p) * sizeof(double));
	work = xmalloc(ntk_gram_work_len(&p, n) * sizeof(double));
	K = xmalloc((size_t) n * n * sizeof(double));
	K0 = xmalloc((size_t) n * n * sizeof(double));
	A = xmalloc(len * sizeof(double));
	A0 = xmalloc(len * sizeof(double));
	B = xmalloc((size_t) n * k * sizeof(double));
	Y = xmalloc((size_t) n * k * sizeof(double));
	for (i = 0; i < (size_t) n * d; i++)
		X[i] = urand();			/* pixel-like: nonnegative */
	for (i = 0; i < (size_t) n * k; i++)
		Y[i] = urand() - 0.5;
	die_status(ntk_points_diag(&p, X, n, d, diag), "ntk_points_diag");

	printf("bench_packed: n=%d d=%d depth=%d relu threads=%d reps=%d rhs=%d\n",
		   n, d, depth, threads, reps, k);
	printf("memory: full %.2f GB, packed %.2f GB\n",
		   8.0 * n * n / 1e9, 8.0 * len / 1e9);
	fflush(stdout);

	for (r = 0; r < reps; r++)
	{
		double		t0;
		int			first = r % 2;	/* alternate which goes first */
		int			v;

		for (v = 0; v < 2; v++)
		{
			t0 = now();
			c0 = cpu_now();
			if ((v ^ first) == 0)
			{
				die_status(ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K, NULL, NULL),
						   "ntk_gram_sym");
				t[GRAM_FULL][r] = now() - t0;
				cpu[GRAM_FULL][r] = cpu_now() - c0;
			}
			else
			{
				gap = gap_start();
				die_status(ntk_gram_packed(&p, NTK_KERNEL_NTK, X, n, d, diag, work, A, gap_fn, &gap),
						   "ntk_gram_packed");
				gap_gram = fmax(gap_gram, gap.longest);
				t[GRAM_PACKED][r] = now() - t0;
				cpu[GRAM_PACKED][r] = cpu_now() - c0;
			}
		}
		printf("rep %d: gram full %.2f s (cpu %.2f s), packed %.2f s (cpu %.2f s)\n", r,
			   t[GRAM_FULL][r], cpu[GRAM_FULL][r], t[GRAM_PACKED][r], cpu[GRAM_PACKED][r]);
		fflush(stdout);
	}
	{
		NtkPackedLayout l = ntk_packed_layout(n);
		int			c;
		int			rr;
		double		mean = 0.0;

		for (c = 0; c < n; c++)
			for (rr = c; rr < n; rr++)
			{
				double		a = A[ntk_packed_index(&l, rr, c)];
				double		b = K[rr + (size_t) c * n];

				maxdiff = fmax(maxdiff, fabs(a - b));
				scale = fmax(scale, fabs(b));
			}
		for (c = 0; c < n; c++)
			mean += K[c + (size_t) c * n];
		lambda = 1e-3 * mean / n;
	}
	printf("packed vs full Gram: max |diff| / max |K| = %.2e\n", maxdiff / scale);
	ntk_add_diagonal(K, n, lambda);
	ntk_packed_add_diagonal(A, n, lambda);
	memcpy(K0, K, (size_t) n * n * sizeof(double));
	memcpy(A0, A, len * sizeof(double));

	for (r = 0; r < reps; r++)
	{
		static const int order[2][4] = {{POTRF, CHOL_FULL, PFTRF, CHOL_PACKED},
		{CHOL_PACKED, PFTRF, CHOL_FULL, POTRF}};
		int			v;

		for (v = 0; v < 4; v++)
		{
			int			which = order[r % 2][v];
			double		t0;
			lapack_int	info = 0;
			NtkStatus	st = NTK_OK;

			if (which == POTRF || which == CHOL_FULL)
				memcpy(K, K0, (size_t) n * n * sizeof(double));
			else
				memcpy(A, A0, len * sizeof(double));
			t0 = now();
			c0 = cpu_now();
			switch (which)
			{
				case POTRF:
					info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', n, K, n);
					break;
				case CHOL_FULL:
					st = ntk_cholesky(K, n, &failed_at, NULL, NULL);
					break;
				case PFTRF:
					info = LAPACKE_dpftrf_work(LAPACK_COL_MAJOR, 'N', 'L', n, A);
					break;
				case CHOL_PACKED:
					gap = gap_start();
					st = ntk_packed_cholesky(A, n, &failed_at, gap_fn, &gap);
					gap_chol = fmax(gap_chol, gap.longest);
					break;
			}
			t[which][r] = now() - t0;
			cpu[which][r] = cpu_now() - c0;
			if (info != 0 || st != NTK_OK)
			{
				fprintf(stderr, "bench_packed: %s failed (info %d, status %d)\n",
						names[which], (int) info, (int) st);
				return 1;
			}
			printf("rep %d: %s %.2f s (cpu %.2f s)\n", r, names[which], t[which][r],
				   cpu[which][r]);
			fflush(stdout);
		}
	}

	/* solves on our factors */
	memcpy(K, K0, (size_t) n * n * sizeof(double));
	memcpy(A, A0, len * sizeof(double));
	die_status(ntk_cholesky(K, n, &failed_at, NULL, NULL), "ntk_cholesky");
	die_status(ntk_packed_cholesky(A, n, &failed_at, NULL, NULL), "ntk_packed_cholesky");
	maxdiff = 0.0;
	scale = 0.0;
	for (r = 0; r < reps; r++)
	{
		double		t0;

		memcpy(B, Y, (size_t) n * k * sizeof(double));
		t0 = now();
		ntk_cholesky_solve(K, n, B, k);
		t[SOLVE_FULL][r] = now() - t0;
		cpu[SOLVE_FULL][r] = 0.0;
		{
			double	   *C = xmalloc((size_t) n * k * sizeof(double));

			memcpy(C, Y, (size_t) n * k * sizeof(double));
			t0 = now();
			die_status(ntk_packed_solve(A, n, C, n, k), "ntk_packed_solve");
			t[SOLVE_PACKED][r] = now() - t0;
			cpu[SOLVE_PACKED][r] = 0.0;
			if (r == 0)
				for (i = 0; i < (size_t) n * k; i++)
				{
					maxdiff = fmax(maxdiff, fabs(C[i] - B[i]));
					scale = fmax(scale, fabs(B[i]));
				}
			free(C);
		}
	}
	printf("packed vs full coefficients: max |diff| / max |alpha| = %.2e\n", maxdiff / scale);

	printf("longest step between progress reports: packed Gram %.3f s, packed Cholesky %.3f s\n",
		   gap_gram, gap_chol);
	printf("\nmedians of %d interleaved repetitions:\n", reps);
	for (i = 0; i < NTIMES; i++)
	{
		med[i] = median(t[i], reps);
		mins[i] = minimum(t[i], reps);
		printf("  %-26s %9.3f s  (min %9.3f s; cpu median %9.3f s)\n", names[i], med[i],
			   mins[i], median(cpu[i], reps));
	}
	{
		double		fit_p = med[GRAM_PACKED] + med[CHOL_PACKED] + med[SOLVE_PACKED];
		double		fit_f = med[GRAM_FULL] + med[CHOL_FULL] + med[SOLVE_FULL];

		printf("ratios: gram packed/full %.3f; cholesky packed/dpftrf %.3f, packed/dpotrf %.3f, "
			   "packed/ntk_cholesky %.3f, dpftrf/dpotrf %.3f; solve packed/full %.3f; "
			   "fit (gram+cholesky+solve) packed/full %.3f\n",
			   med[GRAM_PACKED] / med[GRAM_FULL], med[CHOL_PACKED] / med[PFTRF],
			   med[CHOL_PACKED] / med[POTRF], med[CHOL_PACKED] / med[CHOL_FULL],
			   med[PFTRF] / med[POTRF], med[SOLVE_PACKED] / med[SOLVE_FULL], fit_p / fit_f);
		printf("ratios by minima (the better guide on a busy machine, bench/README.md): "
			   "gram packed/full %.3f; cholesky packed/dpftrf %.3f, packed/dpotrf %.3f, "
			   "packed/ntk_cholesky %.3f\n",
			   mins[GRAM_PACKED] / mins[GRAM_FULL], mins[CHOL_PACKED] / mins[PFTRF],
			   mins[CHOL_PACKED] / mins[POTRF], mins[CHOL_PACKED] / mins[CHOL_FULL]);
		printf("ratios by cpu time (all threads; less sensitive to time taken by other processes): "
			   "gram packed/full %.3f; cholesky packed/dpftrf %.3f, packed/dpotrf %.3f, "
			   "packed/ntk_cholesky %.3f\n",
			   median(cpu[GRAM_PACKED], reps) / median(cpu[GRAM_FULL], reps),
			   median(cpu[CHOL_PACKED], reps) / median(cpu[PFTRF], reps),
			   median(cpu[CHOL_PACKED], reps) / median(cpu[POTRF], reps),
			   median(cpu[CHOL_PACKED], reps) / median(cpu[CHOL_FULL], reps));
		printf("RESULT packed n=%d d=%d depth=%d gram_full_s=%.3f gram_packed_s=%.3f "
			   "dpotrf_s=%.3f chol_full_s=%.3f dpftrf_s=%.3f chol_packed_s=%.3f "
			   "solve_full_s=%.4f solve_packed_s=%.4f fit_full_s=%.3f fit_packed_s=%.3f "
			   "min_chol_packed_s=%.3f min_dpftrf_s=%.3f\n",
			   n, d, depth, med[GRAM_FULL], med[GRAM_PACKED], med[POTRF], med[CHOL_FULL],
			   med[PFTRF], med[CHOL_PACKED], med[SOLVE_FULL], med[SOLVE_PACKED], fit_f, fit_p,
			   mins[CHOL_PACKED], mins[PFTRF]);
	}
	free(X);
	free(diag);
	free(work);
	free(K);
	free(K0);
	free(A);
	free(A0);
	free(B);
	free(Y);
	return 0;
}
