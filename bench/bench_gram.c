/*-------------------------------------------------------------------------
 *
 * bench_gram.c
 *	  Benchmark (not a test) of the fit numerics without a server: the NTK
 *	  Gram matrix and the Cholesky solve against the BLAS/LAPACK floor.
 *
 *	  floor: cblas_dsyrk of the n x d data (lower triangle) and LAPACKE_dpotrf
 *	         of an SPD n x n matrix (the same kernel matrix ours factors);
 *	  ours:  ntk_points_diag + ntk_gram_sym, ntk_cholesky + ntk_cholesky_solve.
 *
 *	  Every time is the median of the repetitions (clock_gettime,
 *	  CLOCK_MONOTONIC).  The recursion cost is
 *	  (Gram - dsyrk) / (n (n+1) / 2 * depth) in ns per lower-triangle entry
 *	  per layer.
 *
 * Usage: bench_gram [n [d [depth [threads [reps]]]]] [options]
 *	  -n N, -d D, -L depth, -t threads, -r reps
 *	  -a relu|erf       activation (relu)
 *	  -k ntk|nngp       kernel (ntk)
 *	  -C                no Cholesky (Gram and recursion only)
 *	  -p PAIRS          pairs for the 1-thread ntk_pair sample (2000000, 0 = off)
 *	  -s SEED           data seed (1)
 *	  -w WARMUP         untimed repetitions first (1)
 *	  -P auto|avx2|portable  recursion path (auto: the best the processor has)
 *
 * Threads: ntk_blas_set_threads(threads) for BLAS/LAPACK and
 * ntk_set_threads(threads) for the kernel recursion.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <lapacke.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernel.h"
#include "gram.h"
#include "recursion.h"
#include "chol.h"
#include "eigh.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double
median(const double *v, int r)
{
	double	   *s = malloc(r * sizeof(double));
	double		m;

	memcpy(s, v, r * sizeof(double));
	qsort(s, r, sizeof(double), cmp_double);
	m = r % 2 ? s[r / 2] : 0.5 * (s[r / 2 - 1] + s[r / 2]);
	free(s);
	return m;
}

static double
minimum(const double *v, int r)
{
	double		m = v[0];
	int			i;

	for (i = 1; i < r; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

/* splitmix64 + Box-Muller: reproducible standard normals */
static uint64_t rng_state;

static double
uniform01(void)
{
	uint64_t	z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return ((double) (z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double
normal(void)
{
	return sqrt(-2.0 * log(uniform01())) * cos(2.0 * M_PI * uniform01());
}

static void *
xmalloc(size_t bytes)
{
	void	   *p = malloc(bytes);

	if (p == NULL)
	{
		fprintf(stderr, "bench_gram: out of memory (%.0f MB)\n", bytes / 1048576.0);
		exit(2);
	}
	return p;
}

static void
die_status(NtkStatus st, const char *what)
{
	if (st != NTK_OK)
	{
		fprintf(stderr, "bench_gram: %s failed: %s\n", what, ntk_status_string(st));
		exit(1);
	}
}

static void
usage(void)
{
	fprintf(stderr,
			"usage: bench_gram [n [d [depth [threads [reps]]]]] [-n N] [-d D] [-L depth]\n"
			"                  [-t threads] [-r reps] [-a relu|erf] [-k ntk|nngp] [-C]\n"
			"                  [-p pairs] [-s seed] [-w warmup] [-e eigh_n] [-P auto|avx2|portable]\n");
	exit(2);
}

static void
row(const char *what, const double *t, int reps, double ratio, const char *vs)
{
	if (t)
		printf("  %-38s %10.4f %10.4f", what, median(t, reps), minimum(t, reps));
	else
		printf("  %-38s %10s %10s", what, "", "");
	if (ratio > 0)
		printf("  %8.2fx  %s", ratio, vs);
	printf("\n");
}

/* the longest time between two progress reports of ntk_eigh */
typedef struct StepClock
{
	double		last;
	double		longest;
} StepClock;

static int
step_clock(void *arg, double fraction)
{
	StepClock  *c = (StepClock *) arg;
	double		t = now();

	(void) fraction;
	if (t - c->last > c->longest)
		c->longest = t - c->last;
	c->last = t;
	return 0;
}

/*
 * ntk_eigh against LAPACK's dsyevd on the leading ne x ne block of the
 * kernel matrix K (order n): medians of reps after warmup, the eigenvalues
 * compared, and the longest stretch without a progress report (how long a
 * cancel can wait).
 */
static void
bench_eigh(const double *K, int n, int ne, int reps, int warmup, int threads)
{
	size_t		nn = (size_t) ne * ne;
	double	   *A = xmalloc(nn * sizeof(double));
	double	   *work = xmalloc(ntk_eigh_work_len(ne) * sizeof(double));
	double	   *w_ref = xmalloc((size_t) ne * sizeof(double));
	double	   *w = xmalloc((size_t) ne * sizeof(double));
	double	   *t_ref = xmalloc(reps * sizeof(double));
	double	   *t_ours = xmalloc(reps * sizeof(double));
	double		longest = 0.0;
	double		diff = 0.0;
	double		wmax = 0.0;
	int			i, j, r;

	memset(work, 0, ntk_eigh_work_len(ne) * sizeof(double));
	for (r = -warmup; r < reps; r++)
	{
		StepClock	clock;
		double		t0;
		lapack_int	info;

		for (j = 0; j < ne; j++)
			memcpy(A + (size_t) j * ne, K + (size_t) j * n, ne * sizeof(double));
		t0 = now();
		info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', ne, A, ne, w_ref);
		if (info != 0)
		{
			fprintf(stderr, "bench_gram: dsyevd info %d\n", (int) info);
			exit(1);
		}
		if (r >= 0)
			t_ref[r] = now() - t0;

		for (j = 0; j < ne; j++)
			memcpy(A + (size_t) j * ne, K + (size_t) j * n, ne * sizeof(double));
		clock.last = t0 = now();
		clock.longest = 0.0;
		die_status(ntk_eigh(A, ne, w, work, step_clock, &clock), "ntk_eigh");
		if (r >= 0)
		{
			t_ours[r] = now() - t0;
			if (clock.longest > longest)
				longest = clock.longest;
		}
	}
	for (i = 0; i < ne; i++)
	{
		diff = fmax(diff, fabs(w[i] - w_ref[i]));
		wmax = fmax(wmax, fabs(w_ref[i]));
	}
	printf("\n  eigendecomposition of the kernel matrix's leading %d x %d block (t, model selection)\n", ne, ne);
	row("floor  LAPACKE_dsyevd (vectors)", t_ref, reps, 0, "");
	row("ours   ntk_eigh (dsyevd's steps)", t_ours, reps,
		median(t_ours, reps) / median(t_ref, reps), "vs dsyevd");
	printf("  longest step between progress reports %.3f s; eigenvalues max |diff| / max |w| %.1e\n",
		   longest, diff / wmax);
	printf("RESULT eigh n=%d threads=%d dsyevd_s=%.6f ntk_eigh_s=%.6f ratio=%.4f longest_step_s=%.4f\n",
		   ne, threads, median(t_ref, reps), median(t_ours, reps),
		   median(t_ours, reps) / median(t_ref, reps), longest);
	free(A);
	free(work);
	free(w_ref);
	free(w);
	free(t_ref);
	free(t_ours);
}

int
main(int argc, char **argv)
{
	int			n = 8000;
	int			d = 784;
	int			threads = 2;
	int			reps = 3;
	int			warmup = 1;
	int			chol = 1;
	int			eigh_n = 0;
	long		pairs = 2000000;
	uint64_t	seed = 1;
	NtkParams	p = {3, NTK_RELU, 1.0, 0.0};
	NtkKernelKind kind = NTK_KERNEL_NTK;
	int			npos = 0;
	int			c;
	size_t		len;
	size_t		nn;
	double	   *X;
	double	   *F;				/* floor: dsyrk output, later the pair dots */
	double	   *K;				/* our Gram, then Gram + ridge (pristine) */
	double	   *W = NULL;		/* working copy for the factorizations */
	double	   *diag;
	double	   *work;			/* ntk_gram_sym's workspace */
	double	   *y = NULL;
	double	   *b = NULL;
	double	   *t_syrk, *t_diag, *t_gram, *t_ours;
	double	   *t_potrf = NULL, *t_chol = NULL, *t_solve = NULL;
	double		lambda = 0.0;
	double		mean_diag = 0.0;
	double		entries;
	double		m_syrk, m_ours, m_gram;
	const char *coretype = getenv("OPENBLAS_CORETYPE");
	const char *l2 = getenv("OPENBLAS_L2_SIZE");
	const char *envthreads = getenv("OPENBLAS_NUM_THREADS");
	int			i, j, r;

	/* positional n d depth threads reps, options anywhere */
	while (optind < argc)
	{
		if ((c = getopt(argc, argv, "+n:d:L:t:r:a:k:Cp:s:w:e:P:h")) != -1)
		{
			switch (c)
			{
				case 'n': n = atoi(optarg); break;
				case 'd': d = atoi(optarg); break;
				case 'L': p.depth = atoi(optarg); break;
				case 't': threads = atoi(optarg); break;
				case 'r': reps = atoi(optarg); break;
				case 'a':
					if (ntk_activation_parse(optarg, &p.activation) != 0)
						usage();
					break;
				case 'k':
					if (strcmp(optarg, "ntk") == 0)
						kind = NTK_KERNEL_NTK;
					else if (strcmp(optarg, "nngp") == 0)
						kind = NTK_KERNEL_NNGP;
					else
						usage();
					break;
				case 'C': chol = 0; break;
				case 'p': pairs = atol(optarg); break;
				case 's': seed = strtoull(optarg, NULL, 10); break;
				case 'w': warmup = atoi(optarg); break;
				case 'e': eigh_n = atoi(optarg); break;
				case 'P':
					if (strcmp(optarg, "auto") == 0)
						ntk_recursion_force_path(NTK_PATH_AUTO);
					else if (strcmp(optarg, "avx2") == 0)
						ntk_recursion_force_path(NTK_PATH_AVX2);
					else if (strcmp(optarg, "portable") == 0)
						ntk_recursion_force_path(NTK_PATH_PORTABLE);
					else
						usage();
					break;
				default: usage();
			}
			continue;
		}
		switch (npos++)
		{
			case 0: n = atoi(argv[optind]); break;
			case 1: d = atoi(argv[optind]); break;
			case 2: p.depth = atoi(argv[optind]); break;
			case 3: threads = atoi(argv[optind]); break;
			case 4: reps = atoi(argv[optind]); break;
			default: usage();
		}
		optind++;
	}
	if (n < 2 || d < 1 || reps < 1 || warmup < 0 || threads < 1 || eigh_n < 0 ||
		eigh_n > n || ntk_params_check(&p) != NTK_OK)
		usage();

	ntk_blas_set_threads(threads);
	ntk_set_threads(threads);

	len = ntk_diag_len(&p);
	nn = (size_t) n * n;
	X = xmalloc((size_t) n * d * sizeof(double));
	F = xmalloc(nn * sizeof(double));
	K = xmalloc(nn * sizeof(double));
	diag = xmalloc((size_t) n * len * sizeof(double));
	work = xmalloc(ntk_gram_work_len(&p, n) * sizeof(double));
	t_syrk = xmalloc(reps * sizeof(double));
	t_diag = xmalloc(reps * sizeof(double));
	t_gram = xmalloc(reps * sizeof(double));
	t_ours = xmalloc(reps * sizeof(double));

	rng_state = seed;
	for (i = 0; i < n * d; i++)
		X[i] = normal();
	/* touch the outputs once so page faults are not timed */
	memset(F, 0, nn * sizeof(double));
	memset(K, 0, nn * sizeof(double));

	printf("== bench_gram: n=%d d=%d depth=%d activation=%s kernel=%s threads=%d reps=%d\n",
		   n, d, p.depth, ntk_activation_name(p.activation),
		   kind == NTK_KERNEL_NNGP ? "nngp" : "ntk", threads, reps);
	printf("   BLAS: %s | core %s | openblas threads %d | OPENBLAS_NUM_THREADS=%s "
		   "OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s\n",
		   openblas_get_config(), openblas_get_corename(),
		   openblas_get_num_threads(), envthreads ? envthreads : "(unset)",
		   coretype ? coretype : "(unset)", l2 ? l2 : "(unset)");
	printf("   recursion: %d threads (ntk_set_threads), %s path\n",
		   ntk_get_threads(),
		   ntk_recursion_vectorized() == 2 ? "AVX-512, 8 lanes" :
		   ntk_recursion_vectorized() ? "AVX2/FMA" : "portable C");
	printf("   seconds are the median (and min) of %d repetitions after %d untimed, CLOCK_MONOTONIC\n",
		   reps, warmup);
	fflush(stdout);

	/* (a) floor dsyrk and (b) our Gram, interleaved per repetition */
	for (r = -warmup; r < reps; r++)
	{
		double		t0;
		double		t1, t2, t3;

		t0 = now();
		cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, n, d, 1.0,
					X, d, 0.0, F, n);
		t1 = now();
		die_status(ntk_points_diag(&p, X, n, d, diag), "ntk_points_diag");
		t2 = now();
		die_status(ntk_gram_sym(&p, kind, X, n, d, diag, work, K, NULL, NULL), "ntk_gram_sym");
		t3 = now();
		if (r < 0)
			continue;
		t_syrk[r] = t1 - t0;
		t_diag[r] = t2 - t1;
		t_gram[r] = t3 - t2;
		t_ours[r] = t3 - t1;
	}

	/* the kernel matrix + the fit's default ridge: 1e-6 * mean(diag K) */
	for (i = 0; i < n; i++)
		mean_diag += K[i + (size_t) i * n];
	mean_diag /= n;
	lambda = 1e-6 * mean_diag;
	ntk_add_diagonal(K, n, lambda);

	if (chol)
	{
		W = xmalloc(nn * sizeof(double));
		y = xmalloc((size_t) n * sizeof(double));
		b = xmalloc((size_t) n * sizeof(double));
		t_potrf = xmalloc(reps * sizeof(double));
		t_chol = xmalloc(reps * sizeof(double));
		t_solve = xmalloc(reps * sizeof(double));
		for (i = 0; i < n; i++)
			y[i] = normal();

		for (r = -warmup; r < reps; r++)
		{
			double		t0;
			double		tp, tc, ts;
			lapack_int	info;
			int			failed_at;

			/* a fresh copy of K + lambda I for each factorization */
			memcpy(W, K, nn * sizeof(double));
			t0 = now();
			info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', n, W, n);
			tp = now() - t0;
			if (info != 0)
			{
				fprintf(stderr, "bench_gram: dpotrf info %d\n", (int) info);
				return 1;
			}

			memcpy(W, K, nn * sizeof(double));
			t0 = now();
			die_status(ntk_cholesky(W, n, &failed_at, NULL, NULL), "ntk_cholesky");
			tc = now() - t0;
			memcpy(b, y, n * sizeof(double));
			t0 = now();
			ntk_cholesky_solve(W, n, b, 1);
			ts = now() - t0;
			if (r >= 0)
			{
				t_potrf[r] = tp;
				t_chol[r] = tc;
				t_solve[r] = ts;
			}
		}
	}

	m_syrk = median(t_syrk, reps);
	m_gram = median(t_gram, reps);
	m_ours = median(t_ours, reps);
	entries = (double) n * (n + 1) / 2.0;

	printf("\n  %-38s %10s %10s  %9s\n", "step", "median s", "min s", "ours/floor");
	row("floor  cblas_dsyrk (lower, n x d)", t_syrk, reps, 0, "");
	if (chol)
		row("floor  LAPACKE_dpotrf (n x n)", t_potrf, reps, 0, "");
	row("ours   ntk_points_diag", t_diag, reps, 0, "");
	row("ours   ntk_gram_sym", t_gram, reps, 0, "");
	row("ours   Gram = diag + gram_sym", t_ours, reps, m_ours / m_syrk, "vs dsyrk");
	if (chol)
	{
		double		m_potrf = median(t_potrf, reps);
		double		m_chol = median(t_chol, reps);
		double		m_solve = median(t_solve, reps);
		double	   *t_tot = xmalloc(reps * sizeof(double));
		double	   *t_floor = xmalloc(reps * sizeof(double));
		double		res = 0.0;
		double		ny = 0.0;
		double		ratio = m_chol / m_potrf;

		row("ours   ntk_cholesky", t_chol, reps, ratio, "vs dpotrf");
		row("ours   ntk_cholesky_solve (1 rhs)", t_solve, reps, 0, "");
		for (r = 0; r < reps; r++)
		{
			t_tot[r] = t_ours[r] + t_chol[r] + t_solve[r];
			t_floor[r] = t_syrk[r] + t_potrf[r];
		}
		row("floor  total dsyrk + dpotrf", t_floor, reps, 0, "");
		row("ours   total Gram + Cholesky + solve", t_tot, reps,
			median(t_tot, reps) / median(t_floor, reps), "vs dsyrk + dpotrf");

		/* residual of the solve: (K + lambda I) b - y, K symmetric lower */
		memcpy(W, y, n * sizeof(double));
		cblas_dsymv(CblasColMajor, CblasLower, n, 1.0, K, n, b, 1, -1.0, W, 1);
		for (i = 0; i < n; i++)
		{
			res += W[i] * W[i];
			ny += y[i] * y[i];
		}
		printf("\n  cholesky check: ntk_cholesky / dpotrf = %.3f by medians (%s 5%%), %.3f by minima; "
			   "solve relative residual %.1e (ridge %.3g)\n",
			   ratio, fabs(ratio - 1.0) <= 0.05 ? "within" : "NOT within",
			   minimum(t_chol, reps) / minimum(t_potrf, reps), sqrt(res / ny), lambda);
		printf("RESULT cholesky n=%d threads=%d dpotrf_s=%.6f ntk_cholesky_s=%.6f solve_s=%.6f "
			   "ratio=%.4f min_ratio=%.4f floor_total_s=%.6f ours_total_s=%.6f total_ratio=%.4f\n",
			   n, threads, m_potrf, m_chol, m_solve, ratio,
			   minimum(t_chol, reps) / minimum(t_potrf, reps),
			   median(t_floor, reps), median(t_tot, reps),
			   median(t_tot, reps) / median(t_floor, reps));
		free(t_tot);
		free(t_floor);
	}

	if (eigh_n > 0)
		bench_eigh(K, n, eigh_n, reps, warmup, threads);

	if (p.depth > 0)
	{
		double		ns = (m_ours - m_syrk) / (entries * p.depth) * 1e9;

		printf("\n  recursion: (Gram - dsyrk) / (n(n+1)/2 * depth) = %.2f ns per entry per layer"
			   " (%d threads, %.3g entries x %d layers)\n",
			   ns, threads, entries, p.depth);

		/* the same recursion through the scalar ntk_pair on one thread */
		if (pairs > 0)
		{
			long		want = pairs < (long) entries ? pairs : (long) entries;
			long		done = 0;
			double		sink = 0.0;
			double		t0;
			double		el;

			t0 = now();
			for (j = 0; j < n && done < want; j++)
			{
				const double *dj = diag + (size_t) j * len;

				for (i = j; i < n && done < want; i++, done++)
				{
					double		nngp;
					double		ntk;

					die_status(ntk_pair(&p, F[i + (size_t) j * n], d,
										diag + (size_t) i * len, dj, &nngp, &ntk),
							   "ntk_pair");
					sink += kind == NTK_KERNEL_NNGP ? nngp : ntk;
				}
			}
			el = now() - t0;
			printf("  scalar ntk_pair loop, 1 thread, %ld entries: %.2f ns per entry per layer"
				   " (checksum %.6g)\n", done, el / ((double) done * p.depth) * 1e9, sink);
			printf("RESULT recursion n=%d d=%d depth=%d threads=%d dsyrk_s=%.6f gram_s=%.6f "
				   "ns_per_entry_layer=%.4f scalar_pair_ns_per_entry_layer=%.4f\n",
				   n, d, p.depth, threads, m_syrk, m_ours, ns,
				   el / ((double) done * p.depth) * 1e9);
		}
	}
	printf("RESULT gram n=%d d=%d depth=%d threads=%d dsyrk_s=%.6f diag_s=%.6f gram_sym_s=%.6f "
		   "gram_s=%.6f ratio=%.4f\n",
		   n, d, p.depth, threads, m_syrk, median(t_diag, reps), m_gram, m_ours,
		   m_ours / m_syrk);

	free(X);
	free(F);
	free(K);
	free(W);
	free(diag);
	free(work);
	free(y);
	free(b);
	return 0;
}
