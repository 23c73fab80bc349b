/*-------------------------------------------------------------------------
 *
 * gram.c
 *	  Kernel matrices: dot products by BLAS, then the layer recursion split
 *	  across worker threads.
 *
 * A symmetric Gram matrix takes its dot products from OpenBLAS's own
 * threaded dsyrk and dgemm in blocks of NTK_DOT_BLOCK columns, then the
 * recursion runs over panels of NTK_PANEL columns.  Short steps keep the
 * progress callback (and with it cancellation) running several times a
 * second even for n = 20000, d = 784.  Worker threads only run the
 * recursion; they never call back and have every signal blocked, so the
 * PostgreSQL backend's handlers always run on its own thread.
 *
 *-------------------------------------------------------------------------
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* dladdr, RTLD_DEFAULT */
#endif

#include "gram.h"
#include "recursion.h"

#include <cblas.h>
#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#define NTK_PANEL 256

/*
 * Columns per step of a Gram matrix's dot products: a dsyrk on the diagonal
 * block and a dgemm below it, each threaded by OpenBLAS.  All dot products
 * first, then all of the recursion: 1.04x the time of one dsyrk, where
 * single-threaded dgemm panels per worker interleaved with the recursion
 * took 1.2x.
 */
#define NTK_DOT_BLOCK 1024

/*
 * Query rows per parallel step of a cross kernel.  Each worker's dgemm packs
 * all n training rows again, so the more query rows share a call the less
 * that costs (8% of a batch prediction at 128 rows per call, n = 6000);
 * progress is still reported every ~0.1 s at n = 6000, d = 784.
 */
#define NTK_CROSS_PANEL 1024
#define NTK_MAX_THREADS 64

static int	gram_threads = 1;

void
ntk_set_threads(int n)
{
	gram_threads = n < 1 ? 1 : (n > NTK_MAX_THREADS ? NTK_MAX_THREADS : n);
}

int
ntk_get_threads(void)
{
	return gram_threads;
}

/*
 * OpenBLAS's pthreads server keeps its idle threads spinning on sched_yield
 * for ~2^28 cycles after each threaded call, so when the recursion's workers
 * start right after a dgemm those threads take a share of the cores from
 * them (sched_yield was 12% of a batch prediction's samples).  The library's
 * exported blas_thread_shutdown_ ends them at once, and its next threaded
 * call starts them again, as it does after a fork.  Older releases' lazy
 * restart does not cover openblas_set_num_threads raising the count while
 * the threads are gone (it creates the new ones, then the restart all of
 * them again; 0.3.21 restarts first), so every count goes through
 * ntk_blas_set_threads, which restarts them itself before raising.  Only
 * for the pthreads build and only if its symbols are found: with any other
 * BLAS both calls do what openblas_set_num_threads alone does.
 */
static struct
{
	int			resolved;
	int			(*shutdown) (void);
	int			(*init) (void);
	int		   *count;			/* blas_num_threads */
}			blas_server;

/* Whether addr lies in the shared object loaded at base. */
static int
InObject(void *addr, void *base)
{
	Dl_info		info;

	return addr != NULL && dladdr(addr, &info) != 0 && info.dli_fbase == base;
}

static void
ResolveBlasServer(void)
{
	Dl_info		blas;

	if (blas_server.resolved)
		return;
	blas_server.resolved = 1;
	if (openblas_get_parallel() != 1 ||
		dladdr((void *) openblas_set_num_threads, &blas) == 0)
		return;
	/* by global lookup (no dlopen, which allocates), from that same library */
	blas_server.shutdown = (int (*) (void)) dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
	blas_server.init = (int (*) (void)) dlsym(RTLD_DEFAULT, "blas_thread_init");
	blas_server.count = (int *) dlsym(RTLD_DEFAULT, "blas_num_threads");
	if (!InObject((void *) blas_server.shutdown, blas.dli_fbase) ||
		!InObject((void *) blas_server.init, blas.dli_fbase) ||
		!InObject((void *) blas_server.count, blas.dli_fbase))
		blas_server.shutdown = NULL;
}

void
ntk_blas_set_threads(int n)
{
	ResolveBlasServer();
	if (blas_server.shutdown && n > *blas_server.count)
		blas_server.init();
	openblas_set_num_threads(n);
}

/* Lets OpenBLAS's idle threads go before the workers start (see above). */
static void
BlasRest(void)
{
	ResolveBlasServer();
	if (blas_server.shutdown)
		blas_server.shutdown();
}

size_t
ntk_gram_work_len(const NtkParams *p, int n)
{
	return 2 * (size_t) (p->depth + 1) * (size_t) n;
}

NtkStatus
ntk_points_diag(const NtkParams *p, const double *X, int n, int d,
				double *diag)
{
	size_t		len = ntk_diag_len(p);
	int			i;

	for (i = 0; i < n; i++)
	{
		const double *x = X + (size_t) i * d;
		double		sq = 0.0;
		NtkStatus	st;
		int			k;

		for (k = 0; k < d; k++)
			sq += x[k] * x[k];
		st = ntk_point_diag(p, sq, d, diag + (size_t) i * len);
		if (st != NTK_OK)
			return st;
	}
	return NTK_OK;
}

/* One share of a parallel loop. */
typedef void (*WorkFn) (void *arg, int worker, int nworkers);

typedef struct Worker
{
	WorkFn		fn;
	void	   *arg;
	int			index;
	int			count;
} Worker;

static void *
WorkerMain(void *arg)
{
	Worker	   *w = (Worker *) arg;

	w->fn(w->arg, w->index, w->count);
	return NULL;
}

/*
 * Runs fn on nworkers shares: the caller's thread takes share 0.  If a thread
 * cannot be created its share runs on the caller's thread instead.
 */
static void
RunParallel(WorkFn fn, void *arg, int nworkers)
{
	pthread_t	tids[NTK_MAX_THREADS];
	Worker		ws[NTK_MAX_THREADS];
	int			started[NTK_MAX_THREADS];
	sigset_t	all;
	sigset_t	old;
	int			i;

	if (nworkers <= 1)
	{
		fn(arg, 0, 1);
		return;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 1; i < nworkers; i++)
	{
		ws[i].fn = fn;
		ws[i].arg = arg;
		ws[i].index = i;
		ws[i].count = nworkers;
		started[i] = pthread_create(&tids[i], NULL, WorkerMain, &ws[i]) == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	fn(arg, 0, nworkers);
	for (i = 1; i < nworkers; i++)
	{
		if (started[i])
			pthread_join(tids[i], NULL);
		else
			fn(arg, i, nworkers);
	}
}

/* A panel of columns whose dot products are in place, for the recursion. */
typedef struct SymPanel
{
	const NtkParams *p;
	NtkKernelKind kind;
	int			n;
	int			d;
	int			jb;
	int			w;
	const double *diag;
	const double *kt;
	const double *rt;
	double	   *K;
	int			overflow[NTK_MAX_THREADS];	/* per worker: an Inf or NaN seen */
} SymPanel;

/* Any Inf or NaN among v[0 .. count - 1]; branch-free so it vectorizes. */
static int
AnyNonFinite(const double *v, int count)
{
	int			bad = 0;
	int			i;

	for (i = 0; i < count; i++)
		bad |= !(fabs(v[i]) <= DBL_MAX);
	return bad;
}

static void
SymPanelWork(void *arg, int worker, int nworkers)
{
	SymPanel   *sp = (SymPanel *) arg;
	size_t		len = ntk_diag_len(sp->p);
	size_t		ld = (size_t) sp->n;
	int			j;

	for (j = sp->jb; j < sp->jb + sp->w; j++)
	{
		/*
		 * This worker's share of the rows strictly below the diagonal, in
		 * whole NTK_RECURSE_BLOCKs counted from j + 1: every entry then takes
		 * the same path as with one thread, and the Gram does not depend on
		 * the thread count.
		 */
		long		blocks = (sp->n - j - 1 + NTK_RECURSE_BLOCK - 1) / NTK_RECURSE_BLOCK;
		int			r0 = j + 1 + (int) (blocks * worker / nworkers) * NTK_RECURSE_BLOCK;
		int			r1 = j + 1 + (int) (blocks * (worker + 1) / nworkers) * NTK_RECURSE_BLOCK;

		if (r1 > sp->n)
			r1 = sp->n;
		if (worker == 0)
		{
			sp->K[j + j * ld] = ntk_diag_value(sp->p, sp->kind, sp->diag + (size_t) j * len);
			sp->overflow[worker] |= !isfinite(sp->K[j + j * ld]);
		}
		if (r0 < r1)
		{
			ntk_recurse_segment(sp->p, sp->kind, sp->d, sp->K + r0 + j * ld,
								r1 - r0, sp->kt + r0, sp->rt + r0, ld,
								sp->diag + (size_t) j * len);
			/* checked while the segment is still in cache */
			sp->overflow[worker] |= AnyNonFinite(sp->K + r0 + j * ld, r1 - r0);
		}
	}
}

NtkStatus
ntk_gram_sym(const NtkParams *p, NtkKernelKind kind,
			 const double *X, int n, int d, const double *diag,
			 double *work, double *K,
			 NtkProgressFn progress, void *arg)
{
	double		total = (double) n * (n + 1) / 2.0;
	double		done = 0.0;
	double	   *kt = work;
	double	   *rt = work + (size_t) (p->depth + 1) * n;
	SymPanel	sp;
	int			nworkers = gram_threads;
	int			blas_threads = openblas_get_num_threads();
	double		dot_share;
	NtkStatus	st = NTK_OK;
	int			jb;
	int			i;

	if (n < 1 || d < 1)
		return NTK_BAD_DIMENSION;
	ntk_diag_transpose(p, diag, n, kt, rt);

	/* progress: the dot products' share of the work, by measured costs */
	dot_share = d / (d + 60.0 * (p->depth + 1));

	/* K[j:n, j:j+w] = X[j:n] X[j:j+w]^T, lower triangle only */
	ntk_blas_set_threads(nworkers);
	for (jb = 0; jb < n; jb += NTK_DOT_BLOCK)
	{
		int			w = n - jb < NTK_DOT_BLOCK ? n - jb : NTK_DOT_BLOCK;
		int			rows = n - jb;

		cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, w, d, 1.0,
					X + (size_t) jb * d, d, 0.0, K + jb + (size_t) jb * n, n);
		if (rows > w)
			cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, rows - w, w, d, 1.0,
						X + (size_t) (jb + w) * d, d, X + (size_t) jb * d, d,
						0.0, K + jb + w + (size_t) jb * n, n);
		done += (double) w * (rows - (w - 1) / 2.0);
		if (progress && progress(arg, dot_share * done / total))
		{
			st = NTK_CANCELED;
			break;
		}
	}
	ntk_blas_set_threads(blas_threads);
	if (nworkers > 1)
		BlasRest();

	sp.p = p;
	sp.kind = kind;
	sp.n = n;
	sp.d = d;
	sp.diag = diag;
	sp.kt = kt;
	sp.rt = rt;
	sp.K = K;
	memset(sp.overflow, 0, sizeof(sp.overflow));
	done = 0.0;
	for (jb = 0; jb < n && st == NTK_OK; jb += NTK_PANEL)
	{
		int			w = n - jb < NTK_PANEL ? n - jb : NTK_PANEL;
		int			rows = n - jb;

		sp.jb = jb;
		sp.w = w;
		RunParallel(SymPanelWork, &sp, rows < 4 * NTK_PANEL ? 1 : nworkers);
		for (i = 0; i < nworkers; i++)
			if (sp.overflow[i])
				st = NTK_OVERFLOW;
		if (st != NTK_OK)
			break;

		done += (double) w * (rows - (w - 1) / 2.0);
		/* written so that the last step reports exactly 1 */
		if (progress && progress(arg, 1.0 - (1.0 - dot_share) * (1.0 - done / total)))
			st = NTK_CANCELED;
	}
	return st;
}

/* Query rows of a cross-kernel block, split across workers. */
typedef struct CrossBlock
{
	const NtkParams *p;
	NtkKernelKind kind;
	int			n;
	int			d;
	int			ib;
	int			h;
	const double *Q;
	const double *X;
	const double *qdiag;
	const double *xkt;
	const double *xrt;
	double	   *K;
	int			overflow[NTK_MAX_THREADS];	/* per worker: an Inf or NaN seen */
} CrossBlock;

static void
CrossBlockWork(void *arg, int worker, int nworkers)
{
	CrossBlock *cb = (CrossBlock *) arg;
	size_t		len = ntk_diag_len(cb->p);
	int			lo = cb->ib + cb->h * worker / nworkers;
	int			hi = cb->ib + cb->h * (worker + 1) / nworkers;
	int			i;

	/* this worker's rows of K (row-major) = column-major X Q[lo:hi]^T */
	if (hi > lo)
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans,
					cb->n, hi - lo, cb->d, 1.0, cb->X, cb->d,
					cb->Q + (size_t) lo * cb->d, cb->d,
					0.0, cb->K + (size_t) lo * cb->n, cb->n);
	for (i = lo; i < hi; i++)
	{
		ntk_recurse_segment(cb->p, cb->kind, cb->d, cb->K + (size_t) i * cb->n,
							cb->n, cb->xkt, cb->xrt, (size_t) cb->n,
							cb->qdiag + (size_t) i * len);
		cb->overflow[worker] |= AnyNonFinite(cb->K + (size_t) i * cb->n, cb->n);
	}
}

NtkStatus
ntk_gram_cross(const NtkParams *p, NtkKernelKind kind,
			   const double *Q, int m, const double *qdiag,
			   const double *X, int n, const double *xtable,
			   int d, double *K, NtkProgressFn progress, void *arg)
{
	CrossBlock	cb;
	int			blas_threads = openblas_get_num_threads();
	NtkStatus	st = NTK_OK;
	int			ib;

	if (m < 1 || n < 1 || d < 1)
		return NTK_BAD_DIMENSION;
	/* workers make their own single-threaded BLAS calls (see ntk_gram_sym) */
	if (gram_threads > 1)
	{
		ntk_blas_set_threads(1);
		BlasRest();
	}

	cb.p = p;
	cb.kind = kind;
	cb.n = n;
	cb.d = d;
	cb.qdiag = qdiag;
	cb.Q = Q;
	cb.X = X;
	cb.xkt = xtable;
	cb.xrt = xtable + (size_t) (p->depth + 1) * n;
	cb.K = K;
	memset(cb.overflow, 0, sizeof(cb.overflow));
	for (ib = 0; ib < m; ib += NTK_CROSS_PANEL)
	{
		int			h = m - ib < NTK_CROSS_PANEL ? m - ib : NTK_CROSS_PANEL;
		int			i;

		cb.ib = ib;
		cb.h = h;
		RunParallel(CrossBlockWork, &cb,
					(double) h * n < 65536.0 ? 1 : (h < gram_threads ? h : gram_threads));
		for (i = 0; i < NTK_MAX_THREADS; i++)
			if (cb.overflow[i])
				st = NTK_OVERFLOW;
		if (st == NTK_OK && progress && progress(arg, (double) (ib + h) / m))
			st = NTK_CANCELED;
		if (st != NTK_OK)
			break;
	}
	if (gram_threads > 1)
		ntk_blas_set_threads(blas_threads);
	return st;
}

NtkStatus
ntk_predict_point(const NtkParams *p, NtkKernelKind kind,
				  const double *X, int n, int d, const double *xtable,
				  const double *alpha, int k, const double *q,
				  double *qdiag, double *kbuf, double *out)
{
	double		sq = 0.0;
	NtkStatus	st;
	int			j;

	if (n < 1 || d < 1 || k < 1)
		return NTK_BAD_DIMENSION;
	for (j = 0; j < d; j++)
		sq += q[j] * q[j];
	if ((st = ntk_point_diag(p, sq, d, qdiag)) != NTK_OK)
		return st;
	cblas_dgemv(CblasRowMajor, CblasNoTrans, n, d, 1.0, X, d, q, 1, 0.0, kbuf, 1);
	ntk_recurse_segment(p, kind, d, kbuf, n, xtable,
						xtable + (size_t) (p->depth + 1) * n, (size_t) n, qdiag);
	for (j = 0; j < n; j++)
		if (!isfinite(kbuf[j]))
			return NTK_OVERFLOW;
	cblas_dgemv(CblasColMajor, CblasTrans, n, k, 1.0, alpha, n, kbuf, 1,
				0.0, out, 1);
	return NTK_OK;
}
