/*-------------------------------------------------------------------------
 *
 * gram.c
 *	  Kernel matrices: dot products by BLAS, then the layer recursion split
 *	  across worker threads.
 *
 * A symmetric Gram matrix takes its dot products from OpenBLAS's own
 * threaded dsyrk and dgemm in blocks of NTK_DOT_BLOCK columns, then the
 * recursion runs over panels of up to NTK_PANEL columns.  Every step is
 * sized by an estimate of its work (see "Step sizes" below), so the
 * progress callback (and with it cancellation) runs at least every few
 * tenths of a second whatever n, d, depth and activation.  Worker threads
 * only run the recursion; they never call back and have every signal
 * blocked, so the PostgreSQL backend's handlers always run on its own
 * thread.
 *
 *-------------------------------------------------------------------------
 */
#include "gram.h"
#include "recursion.h"

#include <cblas.h>
#include <float.h>
#ifdef NTK_HAVE_SIMD_PATHS
#include <immintrin.h>
#endif
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#define NTK_PANEL 256

/*
 * Columns per block of a Gram matrix's dot products (fewer for d > 30000,
 * see DotBlockWidth): a dsyrk on the diagonal block and a dgemm below it,
 * each threaded by OpenBLAS (a Gram of up to NTK_DOT_WHOLE_FLOPS: one
 * dsyrk).  All dot products first, then all of the recursion: 1.04x the
 * time of one dsyrk, where single-threaded dgemm panels per worker
 * interleaved with the recursion took 1.2x.
 */
#define NTK_DOT_BLOCK 1024

/*
 * Query rows per parallel step of a cross kernel, at most.  Each worker's
 * dgemm packs all n training rows again, so the more query rows share a
 * call the less that costs (8% of a batch prediction at 128 rows per call,
 * n = 6000); progress is still reported every ~0.2 s at n = 6000, d = 784.
 */
#define NTK_CROSS_PANEL 1024

/*
 * Step sizes.  The backend sees a cancel only through the progress
 * callback, between steps, so no step may run long: statement_timeout and
 * Ctrl-C are to be honoured within about a second.  Fixed step sizes suit
 * depth 3 and d = 784 but not depth 1000 (a panel of 256 erf columns of
 * 3000 rows took 20 s) nor d = 1e5 (a dot-product block of 1024 columns,
 * ~1.6e12 flops at n = 8000).  So each step is sized by an estimate of its
 * work on one thread, from costs measured on a 2-core AMD EPYC (AVX-512;
 * OpenBLAS 0.3.21, Haswell kernels; glibc 2.36) with bench-style runs of
 * ntk_gram_sym and ntk_gram_cross at depths 3 to 1000:
 *
 *	- recursion, per entry: ~25 ns whatever the depth (the store, the
 *	  overflow check, the input layer, the final NTK), plus per layer (depth
 *	  + 1 of them) ~3 ns on the vector paths (AVX-512 ReLU 1.7 ns; AVX2 on a
 *	  Zen 3 EPYC, ReLU 3.3 ns and erf 3.5 ns; AVX-512 in passes on a Zen 5
 *	  EPYC, ReLU and erf 1.4-1.5 ns) and ~50 ns on the portable
 *	  path (ReLU 50 ns; erf, with libm's atan2, 25 ns there and 56 ns on the
 *	  Zen 3);
 *	- dot products: dgemm at ~40 GFLOPS per thread, 2 d flops per entry.
 *
 * The estimates only choose step sizes; no step size changes any entry (see
 * SymPanelWork and CrossBlockWork), so a wrong guess costs latency, never
 * results.
 */
#define NTK_ENTRY_NS 25.0
#define NTK_LAYER_NS_VECTOR 3.0
#define NTK_LAYER_NS_PORTABLE 50.0
#define NTK_DOT_NS_PER_D 0.05	/* 2 flops at 40 GFLOPS */

/*
 * Work of one recursion panel of a symmetric Gram, in ns of one thread:
 * 0.25 s, 0.125 s on two threads.  Depth 3 ReLU keeps full panels of
 * NTK_PANEL columns up to n ~ 26000 (37 ns per entry); depth 1000 gets
 * 27 columns of 3000 rows (three on the portable path).  A panel is at
 * least one column, so past n ~ 80000 at depth 1000 (n ~ 5000 on the
 * portable path) a step takes longer.
 */
#define NTK_PANEL_NS 2.5e8

/*
 * Below this estimate (20 ms) a panel of fewer than 4 * NTK_PANEL rows runs
 * on the caller's thread alone, as all such panels did when panels were
 * fixed (up to 9 ms for depth 3 ReLU); deeper panels are worth the threads.
 */
#define NTK_PANEL_SERIAL_NS 2e7

/*
 * Work of one cross-kernel block, in ns of one thread; its query rows are
 * shared by the workers, so 0.3 s on two threads.  Larger than
 * NTK_PANEL_NS because fewer query rows per dgemm call cost more (above);
 * n = 6000, d = 784, depth 3 ReLU keeps blocks of NTK_CROSS_PANEL rows
 * (76 ns per entry: 1300 rows would fit).
 */
#define NTK_CROSS_NS 6e8

/*
 * The estimates can be low: pairs close to parallel take the exact route
 * (recursion.h), a scalar recursion, and a loaded machine runs slower.  So a
 * step that took longer than NTK_SLOW_STEP_NS of wall time raises the
 * estimate by what it measured, and the next steps shrink to fit; steps
 * faster than that leave the estimate alone (small problems keep their
 * steps whatever the load).  Step sizes never change an entry.
 */
#define NTK_SLOW_STEP_NS 1e8

/* Wall time in ns. */
static double
NowNs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/*
 * Flops of one dot-product step of a symmetric Gram: the dsyrk of a block
 * of columns and (part of) the dgemm below it, on OpenBLAS's threads.  Set
 * by the common case, which keeps one step per block of NTK_DOT_BLOCK
 * columns up to n ~ 20400 at d = 784 (~0.4 s at n = 20000 on two threads,
 * as before).  Beyond that the dgemm is cut into row chunks, and past
 * d ~ 30000 the block itself narrows so that its dsyrk fits.
 */
#define NTK_DOT_FLOPS 3.2e10

/*
 * A symmetric Gram whose whole lower triangle is at most this many flops a
 * thread (n (n + 1) d <= threads x 2.6e10: n = 8000 at d = 784 on two
 * threads, ~5760 on one) is one dsyrk, one step of ~0.65 s at 40 GFLOPS a
 * thread.  Blocks cost 3-4% more than the single call at n = 8000, d = 784
 * on two threads (Zen 5, Haswell kernels), whatever their width (1024 to
 * 4000 columns or rows), and the Haswell and Zen kernels give every entry
 * the same bits either way (dsyrk and dgemm sum a dot product alike; with
 * the SkylakeX ones the blocks differ in the last bits, as their dgemm
 * does between 1 and 2 threads, while one dsyrk gives the same bits on 1
 * and 2).
 */
#define NTK_DOT_WHOLE_FLOPS 2.6e10

static int	force_blocks = 0;	/* ntk_gram_force_blocks */

/*
 * Faults in the pages of K's lower triangle, one store a page, before the
 * single dsyrk of a small Gram, with a cancel check every ~32 MB: the first
 * touch of fresh memory takes up to ~3 ns a byte where transparent huge
 * pages do not apply (n = 15000, d = 2 on this kind of virtual machine:
 * 2.3-2.6 s, against 0.08 s for the dsyrk once the pages are in), and
 * inside one dsyrk it could not be canceled.  Pages already in cost a store
 * each (62,500 of them at n = 8000).
 */
static NtkStatus
PrefaultLower(double *K, int n, NtkProgressFn progress, void *arg)
{
	const size_t page = 4096 / sizeof(double);
	int			every = (1 << 22) / n > 0 ? (1 << 22) / n : 1;
	int			j;

	for (j = 0; j < n; j++)
	{
		volatile double *col = K + (size_t) j * n;
		size_t		i;

		for (i = j; i < (size_t) n; i += page)
			col[i] = 0.0;
		col[n - 1] = 0.0;
		if (progress && (j + 1) % every == 0 && progress(arg, 0.0))
			return NTK_CANCELED;
	}
	return NTK_OK;
}



size_t
ntk_gram_work_len(const NtkParams *p, int n)
{
	return (2 * (size_t) (p->depth + 1) + 1) * (size_t) n;	/* ntk_diag_transpose */
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


/* Estimated ns of one thread for the recursion of one entry (see above). */
static double
EntryNs(const NtkParams *p)
{
	double		layer;

	if (ntk_recursion_vectorized() > 0)
		layer = NTK_LAYER_NS_VECTOR;
	else
		layer = NTK_LAYER_NS_PORTABLE;
	return NTK_ENTRY_NS + (p->depth + 1) * layer;
}

/*
 * Columns per dot-product block of a symmetric Gram: NTK_DOT_BLOCK unless
 * the block's dsyrk alone (w^2 d flops) would exceed NTK_DOT_FLOPS, which
 * takes d > 30000.  Narrowing moves entries between the dsyrk and the
 * dgemm, which may change their last bits, hence only where it must.
 */
static int
DotBlockWidth(int d)
{
	double		w = sqrt(NTK_DOT_FLOPS / d);

	if (w >= NTK_DOT_BLOCK)
		return NTK_DOT_BLOCK;
	if (w >= 64)
		return (int) w / 64 * 64;
	return w >= 1 ? (int) w : 1;
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
	const double *X;
	const double *diag;
	const double *kt;
	const double *rt;
	double	   *K;
	int			overflow[NTK_MAX_THREADS];	/* per worker: an Inf or NaN seen */
	int			stopped[NTK_MAX_THREADS];	/* per worker: left early (StopRequested) */
} SymPanel;

#ifdef NTK_HAVE_SIMD_PATHS

/* AnyNonFinite with AVX2, four values per compare. */
__attribute__((target("avx2")))
static int
AnyNonFiniteAvx2(const double *v, int count)
{
	__m256d		lim = _mm256_set1_pd(DBL_MAX);
	__m256d		sign = _mm256_set1_pd(-0.0);
	__m256d		bad0 = _mm256_setzero_pd();
	__m256d		bad1 = _mm256_setzero_pd();
	int			bad = 0;
	int			i;

	/* |v| > DBL_MAX or unordered (NaN) */
	for (i = 0; i + 8 <= count; i += 8)
	{
		bad0 = _mm256_or_pd(bad0, _mm256_cmp_pd(_mm256_andnot_pd(sign, _mm256_loadu_pd(v + i)),
												lim, _CMP_NLE_UQ));
		bad1 = _mm256_or_pd(bad1, _mm256_cmp_pd(_mm256_andnot_pd(sign, _mm256_loadu_pd(v + i + 4)),
												lim, _CMP_NLE_UQ));
	}
	for (; i < count; i++)
		bad |= !(fabs(v[i]) <= DBL_MAX);
	return bad | (_mm256_movemask_pd(_mm256_or_pd(bad0, bad1)) != 0);
}
#endif

/*
 * Any Inf or NaN among v[0 .. count - 1]: with AVX2 where the recursion
 * takes a vector path, else branch-free.  GCC at -O2 leaves the plain loop scalar, one value
 * per compare: 8% of the samples of a depth-3 ReLU Gram's recursion on a
 * Zen 5 EPYC.
 */
static int
AnyNonFinite(const double *v, int count)
{
	int			bad = 0;
	int			i;

#ifdef NTK_HAVE_SIMD_PATHS
	/* the recursion's path, so that forcing the portable one tests the loop */
	if (ntk_recursion_vectorized() > 0)
		return AnyNonFiniteAvx2(v, count);
#endif
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

		if (ntk_stop_requested())
		{
			sp->stopped[worker] = 1;
			return;
		}

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
								sp->diag + (size_t) j * len,
								sp->X + (size_t) r0 * sp->d, sp->X + (size_t) j * sp->d);
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
	int			nworkers = ntk_get_threads();
	int			blas_threads = openblas_get_num_threads();
	double		dot_share;
	double		entry_ns = EntryNs(p);
	int			dot_block = DotBlockWidth(d);
	NtkStatus	st = NTK_OK;
	int			jb;
	int			w;
	int			i;

	if (n < 1 || d < 1)
		return NTK_BAD_DIMENSION;
	if (!force_blocks && (double) n * (n + 1) * d <= NTK_DOT_WHOLE_FLOPS * nworkers)
	{
		dot_block = n;
		st = PrefaultLower(K, n, progress, arg);
	}
	ntk_diag_transpose(p, diag, n, kt, rt);

	/* progress: the dot products' share of the work, by measured costs */
	dot_share = d / (d + 60.0 * (p->depth + 1));

	/* K[j:n, j:j+w] = X[j:n] X[j:j+w]^T, lower triangle only */
	ntk_blas_set_threads(nworkers);
	for (jb = 0; jb < n && st == NTK_OK; jb += w)
	{
		int			i0 = jb;	/* first row of K not yet computed */

		w = n - jb < dot_block ? n - jb : dot_block;
		do
		{
			/* rows of the dgemm that fit in this step's budget */
			double		room = NTK_DOT_FLOPS / (2.0 * w * d);
			int			r;

			if (i0 == jb)
			{
				cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, w, d, 1.0,
							X + (size_t) jb * d, d, 0.0, K + jb + (size_t) jb * n, n);
				done += w * (w + 1) / 2.0;
				room -= w / 2.0;	/* the dsyrk's w^2 d flops */
				i0 = jb + w;
			}

			/*
			 * Below the diagonal block, in chunks of rows that are multiples
			 * of 64: each entry of K[i0:i0+r, jb:jb+w] is still one dot
			 * product summed over all of d by the same kernel, so the chunks
			 * change no entry.  At least 64 rows after the step that holds
			 * the dsyrk, which gets what its budget leaves, maybe none.
			 */
			r = n - i0;
			if (r > room)
			{
				r = room >= 64 ? (int) (room / 64) * 64 : 0;
				if (r < 64 && i0 > jb + w)
					r = 64;
				if (r > n - i0)
					r = n - i0;
			}
			if (r > 0)
				cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, r, w, d, 1.0,
							X + (size_t) i0 * d, d, X + (size_t) jb * d, d,
							0.0, K + i0 + (size_t) jb * n, n);
			i0 += r;
			done += (double) w * r;
			if (progress && progress(arg, dot_share * done / total))
			{
				st = NTK_CANCELED;
				break;
			}
		} while (i0 < n);
	}
	ntk_blas_set_threads(blas_threads);
	if (nworkers > 1)
		ntk_blas_rest();

	sp.p = p;
	sp.kind = kind;
	sp.n = n;
	sp.d = d;
	sp.X = X;
	sp.diag = diag;
	sp.kt = kt;
	sp.rt = rt;
	sp.K = K;
	memset(sp.overflow, 0, sizeof(sp.overflow));
	memset(sp.stopped, 0, sizeof(sp.stopped));
	done = 0.0;
	for (jb = 0; jb < n && st == NTK_OK; jb += w)
	{
		int			rows = n - jb;
		double		cols = NTK_PANEL_NS / (rows * entry_ns);
		double		panel_ns;
		double		t0;
		double		took;
		int			used;

		/* columns of rows entries each within the budget, at least one */
		w = cols >= NTK_PANEL ? NTK_PANEL : (cols >= 1.0 ? (int) cols : 1);
		if (w > rows)
			w = rows;
		panel_ns = w * (rows - (w - 1) / 2.0) * entry_ns;
		sp.jb = jb;
		sp.w = w;
		used = rows < 4 * NTK_PANEL && panel_ns < NTK_PANEL_SERIAL_NS ? 1 : nworkers;
		t0 = NowNs();
		ntk_run_parallel(SymPanelWork, &sp, used);
		took = NowNs() - t0;
		if (took > NTK_SLOW_STEP_NS && took * used > panel_ns)
			entry_ns *= took * used / panel_ns;	/* see NTK_SLOW_STEP_NS */
		for (i = 0; i < nworkers; i++)
		{
			if (sp.overflow[i])
				st = NTK_OVERFLOW;
			if (sp.stopped[i])
				st = NTK_CANCELED;	/* the entries are incomplete */
		}
		if (st != NTK_OK)
			break;

		done += (double) w * (rows - (w - 1) / 2.0);
		/* written so that the last step reports exactly 1 */
		if (progress && progress(arg, 1.0 - (1.0 - dot_share) * (1.0 - done / total)))
			st = NTK_CANCELED;
	}
	return st;
}

void
ntk_gram_force_blocks(int on)
{
	force_blocks = on;
}

double
ntk_gram_entry_ns(const NtkParams *p)
{
	return EntryNs(p);
}

int
ntk_gram_dot_block(int d)
{
	return DotBlockWidth(d);
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
	int			stopped[NTK_MAX_THREADS];	/* per worker: left early (StopRequested) */
} CrossBlock;

static void
CrossBlockWork(void *arg, int worker, int nworkers)
{
	CrossBlock *cb = (CrossBlock *) arg;
	size_t		len = ntk_diag_len(cb->p);
	int			pairs = (cb->h + 1) / 2;
	int			lo = cb->ib + 2 * (int) ((long) pairs * worker / nworkers);
	int			hi = cb->ib + 2 * (int) ((long) pairs * (worker + 1) / nworkers);
	int			i;

	/*
	 * Shares of whole pairs of query rows.  OpenBLAS's dgemm (0.3.21,
	 * Haswell kernels) computes the last column of a call with an odd
	 * number of columns (here: query rows) with another kernel, whose sums
	 * differ in the last bits; with blocks and shares of even size the only
	 * such row is the last one of the whole batch, whatever the thread count.
	 */
	if (hi > cb->ib + cb->h)
		hi = cb->ib + cb->h;

	/* this worker's rows of K (row-major) = column-major X Q[lo:hi]^T */
	if (hi > lo)
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans,
					cb->n, hi - lo, cb->d, 1.0, cb->X, cb->d,
					cb->Q + (size_t) lo * cb->d, cb->d,
					0.0, cb->K + (size_t) lo * cb->n, cb->n);
	for (i = lo; i < hi; i++)
	{
		if (ntk_stop_requested())
		{
			cb->stopped[worker] = 1;
			return;
		}
		ntk_recurse_segment(cb->p, cb->kind, cb->d, cb->K + (size_t) i * cb->n,
							cb->n, cb->xkt, cb->xrt, (size_t) cb->n,
							cb->qdiag + (size_t) i * len,
							cb->X, cb->Q + (size_t) i * cb->d);
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
	double		row_ns;
	NtkStatus	st = NTK_OK;
	double		rows;
	int			block;
	int			ib;

	if (m < 1 || n < 1 || d < 1)
		return NTK_BAD_DIMENSION;

	/*
	 * Query rows per block: their dot products and recursion against the n
	 * training points within NTK_CROSS_NS, an even number (see
	 * CrossBlockWork) from 2 to NTK_CROSS_PANEL.
	 */
	row_ns = n * (EntryNs(p) + NTK_DOT_NS_PER_D * d);
	rows = NTK_CROSS_NS / row_ns;
	block = rows >= NTK_CROSS_PANEL ? NTK_CROSS_PANEL :
		(rows >= 2.0 ? (int) rows / 2 * 2 : 2);
	/* workers make their own single-threaded BLAS calls (see ntk_gram_sym) */
	if (ntk_get_threads() > 1)
	{
		ntk_blas_set_threads(1);
		ntk_blas_rest();
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
	memset(cb.stopped, 0, sizeof(cb.stopped));
	for (ib = 0; ib < m; ib += cb.h)
	{
		int			h = m - ib < block ? m - ib : block;
		int			pairs = (h + 1) / 2;
		int			used = (double) h * n < 65536.0 ? 1 : (pairs < ntk_get_threads() ? pairs : ntk_get_threads());
		double		t0 = NowNs();
		double		took;
		int			i;

		cb.ib = ib;
		cb.h = h;
		ntk_run_parallel(CrossBlockWork, &cb, used);
		took = NowNs() - t0;
		if (took > NTK_SLOW_STEP_NS && took * used > h * row_ns)
		{
			/* see NTK_SLOW_STEP_NS; blocks stay even (CrossBlockWork) */
			row_ns = took * used / h;
			rows = NTK_CROSS_NS / row_ns;
			block = rows >= block ? block : (rows >= 2.0 ? (int) rows / 2 * 2 : 2);
		}
		for (i = 0; i < NTK_MAX_THREADS; i++)
		{
			if (cb.overflow[i])
				st = NTK_OVERFLOW;
			if (cb.stopped[i])
				st = NTK_CANCELED;	/* the rows are incomplete */
		}
		if (st == NTK_OK && progress && progress(arg, (double) (ib + h) / m))
			st = NTK_CANCELED;
		if (st != NTK_OK)
			break;
	}
	if (ntk_get_threads() > 1)
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
						xtable + (size_t) (p->depth + 1) * n, (size_t) n, qdiag,
						X, q);
	for (j = 0; j < n; j++)
		if (!isfinite(kbuf[j]))
			return NTK_OVERFLOW;
	cblas_dgemv(CblasColMajor, CblasTrans, n, k, 1.0, alpha, n, kbuf, 1,
				0.0, out, 1);
	return NTK_OK;
}
