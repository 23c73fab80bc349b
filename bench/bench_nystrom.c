/*-------------------------------------------------------------------------
 *
 * bench_nystrom.c
 *	  Benchmark (not a test) of the Nystrom numerics without a server
 *	  (src/core/nystrom.c) against their BLAS/LAPACK floor.
 *
 *	  ours:  the center choice (ntk_centers_add over all rows, reported
 *	         apart), the statistics (ntk_nystrom_accumulate over the n rows:
 *	         cross kernels, dsyrk, dgemm), K_mm (ntk_gram_sym of the centers)
 *	         and ntk_nystrom_solve;
 *	  floor: the same blocks of rows' n x m dot products by cblas_dgemm and
 *	         H by cblas_dsyrk, the centers' m x m dot products by dsyrk, and
 *	         the m x m factorizations by LAPACK alone (dpotrf of K_mm, dsygst,
 *	         dpotrf of G + lambda I) on copies of ours' inputs.
 *
 *	  Repetitions alternate ours and the floor (the machine may be shared);
 *	  times are medians; ratio is the medians' ratio, rep_ratio the median of
 *	  each repetition's ratio (ours and the floor run minutes apart).  Data: rows uniform in [0, 1) (pixel-like), k
 *	  one-hot targets.
 *
 * Usage: bench_nystrom [-n N] [-m M] [-d D] [-L depth] [-t threads]
 *	  [-r reps] [-k outputs] [-s seed]
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
#include "nystrom.h"
#include "chol.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory (%zu bytes)\n", n);
		exit(2);
	}
	return p;
}

static double *
dalloc(size_t n)
{
	return (double *) xmalloc(n * sizeof(double));
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	double	   *s = dalloc(n);
	double		m;

	memcpy(s, v, n * sizeof(double));
	qsort(s, n, sizeof(double), cmp_double);
	m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
	free(s);
	return m;
}

static uint64_t rng_state;

static double
urand(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double) ((rng_state * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static void
fail(const char *what, NtkStatus s)
{
	fprintf(stderr, "%s: %s\n", what, ntk_status_string(s));
	exit(1);
}

int
main(int argc, char **argv)
{
	int			n = 60000;
	int			m = 10000;
	int			d = 784;
	int			k = 10;
	int			threads = 2;
	int			reps = 2;
	double		ridge = 1e-3;
	NtkParams	p = {3, NTK_RELU, 1.0, 0.0};
	NtkKernelKind kind = NTK_KERNEL_NTK;
	NtkCenters *set;
	NtkNystromStats st;
	double	   *X, *Y, *C, *cdiag, *ctable, *gwork, *work, *H, *B, *Kmm, *alpha;
	double	   *Hc, *Kc, *swork, *Fb;
	double	   *t_centers, *t_stats, *t_kmm, *t_solve, *t_ours;
	double	   *t_fdots, *t_fsyrk, *t_fkmm, *t_ffact, *t_floor, *rep_ratio;
	double		lambda = 0.0;
	double		jitter_used = 0.0;
	int			c, r;
	size_t		i;

	while ((c = getopt(argc, argv, "n:m:d:L:t:r:k:s:h")) != -1)
	{
		switch (c)
		{
			case 'n': n = atoi(optarg); break;
			case 'm': m = atoi(optarg); break;
			case 'd': d = atoi(optarg); break;
			case 'L': p.depth = atoi(optarg); break;
			case 't': threads = atoi(optarg); break;
			case 'r': reps = atoi(optarg); break;
			case 'k': k = atoi(optarg); break;
			case 's': rng_state = strtoull(optarg, NULL, 0); break;
			default:
				fprintf(stderr, "usage: bench_nystrom [-n N] [-m M] [-d D] [-L depth] "
						"[-t threads] [-r reps] [-k outputs] [-s seed]\n");
				return 2;
		}
	}
	if (n < 1 || m < 1 || m > n || d < 1 || k < 1 || reps < 1)
	{
		fprintf(stderr, "bench_nystrom: need 1 <= m <= n, d, k, reps >= 1\n");
		return 2;
	}
	if (rng_state == 0)
		rng_state = 0x853C49E6748FEA9BULL;
	ntk_set_threads(threads);
	ntk_blas_set_threads(threads);

	X = dalloc((size_t) n * d);
	Y = dalloc((size_t) n * k);
	for (i = 0; i < (size_t) n * d; i++)
		X[i] = urand();
	memset(Y, 0, (size_t) n * k * sizeof(double));
	for (i = 0; i < (size_t) n; i++)
		Y[i * k + (size_t) (urand() * k)] = 1.0;
	set = (NtkCenters *) xmalloc(ntk_centers_size(m, d));
	C = dalloc((size_t) m * d);
	cdiag = dalloc((size_t) m * ntk_diag_len(&p));
	ctable = dalloc(ntk_gram_work_len(&p, m));
	gwork = dalloc(ntk_gram_work_len(&p, m));
	work = dalloc(ntk_nystrom_work_len(&p, m));
	H = dalloc((size_t) m * m);
	B = dalloc((size_t) m * k);
	Kmm = dalloc((size_t) m * m);
	Hc = dalloc((size_t) m * m);
	Kc = dalloc((size_t) m * m);
	alpha = dalloc((size_t) m * k);
	swork = dalloc(2 * (size_t) m);
	Fb = dalloc((size_t) NTK_NYSTROM_BLOCK * m);
	t_centers = dalloc(reps);
	t_stats = dalloc(reps);
	t_kmm = dalloc(reps);
	t_solve = dalloc(reps);
	t_ours = dalloc(reps);
	t_fdots = dalloc(reps);
	t_fsyrk = dalloc(reps);
	t_fkmm = dalloc(reps);
	t_ffact = dalloc(reps);
	t_floor = dalloc(reps);
	rep_ratio = dalloc(reps);

	printf("bench_nystrom: n=%d m=%d d=%d k=%d depth=%d %s ntk, threads=%d, reps=%d, "
		   "block %d rows\n", n, m, d, k, p.depth, ntk_activation_name(p.activation),
		   threads, reps, NTK_NYSTROM_BLOCK);
	fflush(stdout);

	for (r = 0; r < reps; r++)
	{
		double		t0, t1;
		int			failed, which, ib;
		NtkStatus	s;

		/* ours */
		t0 = now();
		ntk_centers_init(set, m, d, 42);
		ntk_centers_add(set, X, n);
		ntk_centers_rows(set, C);
		t1 = now();
		t_centers[r] = t1 - t0;

		t0 = now();
		if ((s = ntk_nystrom_init(&st, &p, kind, C, m, d, k, H, B)) != NTK_OK)
			fail("ntk_nystrom_init", s);
		if ((s = ntk_nystrom_center_table(&p, C, m, d, cdiag, ctable)) != NTK_OK)
			fail("center table", s);
		if ((s = ntk_nystrom_accumulate(&st, &p, kind, C, ctable, X, Y, n, work,
										NULL, NULL)) != NTK_OK)
			fail("ntk_nystrom_accumulate", s);
		t1 = now();
		t_stats[r] = t1 - t0;

		t0 = now();
		if ((s = ntk_gram_sym(&p, kind, C, m, d, cdiag, gwork, Kmm, NULL, NULL)) != NTK_OK)
			fail("ntk_gram_sym", s);
		t1 = now();
		t_kmm[r] = t1 - t0;
		memcpy(Kc, Kmm, (size_t) m * m * sizeof(double));
		memcpy(Hc, H, (size_t) m * m * sizeof(double));

		lambda = ridge * st.diag_sum / st.n;
		t0 = now();
		if ((s = ntk_nystrom_solve(Kmm, H, B, m, k, lambda, NTK_NYSTROM_JITTER, alpha,
								   swork, &jitter_used, &failed, &which,
								   NULL, NULL)) != NTK_OK)
			fail("ntk_nystrom_solve", s);
		t1 = now();
		t_solve[r] = t1 - t0;
		t_ours[r] = t_stats[r] + t_kmm[r] + t_solve[r];
		printf("rep %d ours: centers %.2f s, statistics %.2f s, K_mm %.2f s, solve %.2f s "
			   "(jitter %.1e): %.2f s\n", r, t_centers[r], t_stats[r], t_kmm[r],
			   t_solve[r], jitter_used, t_ours[r]);
		fflush(stdout);

		/* floor: the same blocks' dot products and H, then LAPACK alone */
		t_fdots[r] = 0.0;
		t_fsyrk[r] = 0.0;
		memset(H, 0, (size_t) m * m * sizeof(double));
		for (ib = 0; ib < n; ib += NTK_NYSTROM_BLOCK)
		{
			int			b = n - ib < NTK_NYSTROM_BLOCK ? n - ib : NTK_NYSTROM_BLOCK;

			t0 = now();
			cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m, b, d, 1.0,
						C, d, X + (size_t) ib * d, d, 0.0, Fb, m);
			t1 = now();
			t_fdots[r] += t1 - t0;
			cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, m, b, 1.0, Fb, m,
						1.0, H, m);
			t_fsyrk[r] += now() - t1;
		}
		t0 = now();
		cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, m, d, 1.0, C, d, 0.0, H, m);
		t1 = now();
		t_fkmm[r] = t1 - t0;

		t0 = now();
		{
			double		mean = 0.0;
			lapack_int	info;

			for (i = 0; i < (size_t) m; i++)
				mean += Kc[i + i * m];
			ntk_add_diagonal(Kc, m, jitter_used * mean / m);
			info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', m, Kc, m);
			if (info == 0)
				info = LAPACKE_dsygst_work(LAPACK_COL_MAJOR, 1, 'L', m, Hc, m, Kc, m);
			ntk_add_diagonal(Hc, m, lambda);
			if (info == 0)
				info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', m, Hc, m);
			if (info != 0)
				fprintf(stderr, "floor factorization: info %d\n", (int) info);
		}
		t1 = now();
		t_ffact[r] = t1 - t0;
		t_floor[r] = t_fdots[r] + t_fsyrk[r] + t_fkmm[r] + t_ffact[r];
		rep_ratio[r] = t_ours[r] / t_floor[r];
		printf("rep %d floor: dgemm dots %.2f s, dsyrk H %.2f s, dsyrk K_mm dots %.2f s, "
			   "dpotrf+dsygst+dpotrf %.2f s: %.2f s (ratio %.3f)\n", r, t_fdots[r], t_fsyrk[r],
			   t_fkmm[r], t_ffact[r], t_floor[r], rep_ratio[r]);
		fflush(stdout);
	}

	printf("RESULT nystrom n=%d m=%d d=%d depth=%d threads=%d reps=%d centers_s=%.3f "
		   "stats_s=%.3f kmm_s=%.3f solve_s=%.3f ours_s=%.3f floor_dots_s=%.3f "
		   "floor_syrk_s=%.3f floor_kmm_s=%.3f floor_fact_s=%.3f floor_s=%.3f ratio=%.3f rep_ratio=%.3f\n",
		   n, m, d, p.depth, threads, reps, median(t_centers, reps), median(t_stats, reps),
		   median(t_kmm, reps), median(t_solve, reps), median(t_ours, reps),
		   median(t_fdots, reps), median(t_fsyrk, reps), median(t_fkmm, reps),
		   median(t_ffact, reps), median(t_floor, reps),
		   median(t_ours, reps) / median(t_floor, reps), median(rep_ratio, reps));
	return 0;
}
