/*-------------------------------------------------------------------------
 *
 * packed.c
 *	  The Gram matrix, its Cholesky factor and the solves in rectangular
 *	  full packed storage (packed.h; docs/packed.md).
 *
 * Every step is one or a few Level 3 BLAS calls on the packed blocks, which
 * are ordinary full-format matrices with leading dimension ld, so each runs
 * at full-format speed; steps are sized so that the progress callback (and
 * with it cancellation) runs every fraction of a second, as in gram.c and
 * solve.c.
 *
 *-------------------------------------------------------------------------
 */
#include "packed.h"
#include "recursion.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

/*
 * Step sizes of the Gram: gram.c's (NTK_PANEL, NTK_PANEL_NS,
 * NTK_PANEL_SERIAL_NS, NTK_DOT_FLOPS), so that both builders report
 * progress alike.
 */
#define PACKED_PANEL 256
#define PACKED_PANEL_NS 2.5e8
#define PACKED_PANEL_SERIAL_NS 2e7
#define PACKED_DOT_FLOPS 3.2e10
#define PACKED_MAX_THREADS 64

/*
 * Cholesky: diagonal blocks of PACKED_CHOL_BLOCK (as solve.c), trailing
 * updates in column chunks of at most PACKED_CHOL_MADDS multiply-adds
 * (2^34: ~0.5 s on two cores), a multiple of 64 columns from 64 to 1024.
 */
#define PACKED_CHOL_BLOCK 512
#define PACKED_CHOL_MADDS 17179869184.0

void
ntk_packed_pack(const double *F, int n, size_t ldf, double *A)
{
	NtkPackedLayout l = ntk_packed_layout(n);
	int			i;
	int			j;

	for (j = 0; j < l.n1; j++)
		memcpy(A + ntk_packed_index(&l, j, j), F + j + (size_t) j * ldf,
			   (size_t) (n - j) * sizeof(double));
	for (j = l.n1; j < n; j++)
		for (i = j; i < n; i++)
			A[ntk_packed_index(&l, i, j)] = F[i + (size_t) j * ldf];
}

void
ntk_packed_unpack(const double *A, int n, double *F, size_t ldf, int zero_upper)
{
	NtkPackedLayout l = ntk_packed_layout(n);
	int			i;
	int			j;

	for (j = 0; j < n; j++)
	{
		if (zero_upper)
			memset(F + (size_t) j * ldf, 0, (size_t) j * sizeof(double));
		if (j < l.n1)
			memcpy(F + j + (size_t) j * ldf, A + ntk_packed_index(&l, j, j),
				   (size_t) (n - j) * sizeof(double));
		else
			for (i = j; i < n; i++)
				F[i + (size_t) j * ldf] = A[ntk_packed_index(&l, i, j)];
	}
}

void
ntk_packed_add_diagonal(double *A, int n, double lambda)
{
	NtkPackedLayout l = ntk_packed_layout(n);
	int			i;

	for (i = 0; i < n; i++)
		A[ntk_packed_index(&l, i, i)] += lambda;
}

void
ntk_packed_get_diagonal(const double *A, int n, double *diag)
{
	NtkPackedLayout l = ntk_packed_layout(n);
	int			i;

	for (i = 0; i < n; i++)
		diag[i] = A[ntk_packed_index(&l, i, i)];
}

/* ---------------------------------------------------------------------
 * The Gram matrix
 * ---------------------------------------------------------------------
 */

/* Progress of a phase made of parts: fraction lo + (hi - lo) done / total. */
typedef struct Progress
{
	NtkProgressFn fn;
	void	   *arg;
	double		done;
	double		total;
	double		lo;
	double		hi;
} Progress;

static int
Report(Progress *pg)
{
	double		f = pg->total > 0 ? fmin(pg->done / pg->total, 1.0) : 1.0;

	return pg->fn != NULL && pg->fn(pg->arg, pg->lo + (pg->hi - pg->lo) * f) != 0;
}

/*
 * Entry (i, j) of a lower triangle stored column-major (A's first panel) or
 * row-major (A22, whose transpose is stored column-major) with leading
 * dimension ld.
 */
static inline double *
Entry(CBLAS_ORDER order, double *K, size_t ld, int i, int j)
{
	return order == CblasColMajor ? K + i + (size_t) j * ld : K + (size_t) i * ld + j;
}

/*
 * OpenBLAS (0.3.21, Haswell kernels) splits a threaded dgemm's columns (its
 * N, in column-major terms) evenly among its threads and computes the last
 * column of an odd share with another kernel, whose sums differ in the last
 * bits (see gram.c's CrossBlockWork): a call whose N is not a multiple of
 * 64 would make the Gram depend on the thread count.  So such calls (at
 * most 63 columns wide: the end of a block) run on one BLAS thread.
 */
static void
BlasThreadsFor(int cols, int nthreads)
{
	int			want = cols % 64 ? 1 : nthreads;

	if (openblas_get_num_threads() != want)
		ntk_blas_set_threads(want);
}

/*
 * K(i, j) = <x_i, x_j> for j < cols, j <= i < rows: ntk_gram_sym's loop
 * (a dsyrk on each diagonal block of dot_block columns, a dgemm below it in
 * row chunks within PACKED_DOT_FLOPS), in either storage order.  A block
 * that ends the columns and is not a multiple of 64 wide is cut into one
 * that is and the rest; in row-major order the dgemm's N is its rows,
 * which are cut the same way.
 */
static NtkStatus
DotProducts(CBLAS_ORDER order, const double *X, int rows, int cols, int d,
			double *K, size_t ld, int dot_block, int nthreads, Progress *pg)
{
	int			col_major = order == CblasColMajor;
	int			jb;
	int			w;

	for (jb = 0; jb < cols; jb += w)
	{
		int			i0 = jb;

		w = cols - jb < dot_block ? cols - jb : dot_block;
		if (w > 64 && w % 64)
			w = w / 64 * 64;
		do
		{
			double		room = PACKED_DOT_FLOPS / (2.0 * w * d);
			int			r;

			if (i0 == jb)
			{
				BlasThreadsFor(w, nthreads);
				cblas_dsyrk(order, CblasLower, col_major ? CblasTrans : CblasNoTrans,
							w, d, 1.0, X + (size_t) jb * d, d,
							0.0, Entry(order, K, ld, jb, jb), ld);
				pg->done += w * (w + 1) / 2.0;
				room -= w / 2.0;
				i0 = jb + w;
			}
			r = rows - i0;
			if (r > room)
			{
				r = room >= 64 ? (int) (room / 64) * 64 : 0;
				if (r < 64 && i0 > jb + w)
					r = 64;
				if (r > rows - i0)
					r = rows - i0;
			}
			if (!col_major && r > 64 && r % 64)
				r = r / 64 * 64;
			if (r > 0)
			{
				BlasThreadsFor(col_major ? w : r, nthreads);
				cblas_dgemm(order, col_major ? CblasTrans : CblasNoTrans,
							col_major ? CblasNoTrans : CblasTrans, r, w, d, 1.0,
							X + (size_t) i0 * d, d, X + (size_t) jb * d, d,
							0.0, Entry(order, K, ld, i0, jb), ld);
			}
			i0 += r;
			pg->done += (double) w * r;
			if (Report(pg))
				return NTK_CANCELED;
		} while (i0 < rows);
	}
	return NTK_OK;
}

/*
 * Lines of the recursion.  A line is one point z's kernel values against a
 * run of points stored contiguously, followed or preceded by k(z, z):
 *	- first panel, line j < n1: column j of A, z = x_j, values against
 *	  x_{j+1} .. x_{n-1} below the diagonal entry (as ntk_gram_sym);
 *	- A22, line i < n2: row n1 + i of A (a column of the stored transpose),
 *	  z = x_{n1+i}, values against x_{n1} .. x_{n1+i-1} before it.
 */
typedef struct Lines
{
	const NtkParams *p;
	NtkKernelKind kind;
	int			n;
	int			d;
	int			upper;			/* 0: first panel, 1: A22 */
	int			first;			/* the panel's lines: first .. first + count - 1 */
	int			count;
	int			n1;
	size_t		ld;
	double	   *K;				/* the block's first entry */
	const double *X;
	const double *diag;
	const double *kt;
	const double *rt;
	int			overflow[PACKED_MAX_THREADS];
} Lines;

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
LinesWork(void *arg, int worker, int nworkers)
{
	Lines	   *ln = (Lines *) arg;
	size_t		len = ntk_diag_len(ln->p);
	int			t;

	for (t = ln->first; t < ln->first + ln->count; t++)
	{
		int			z;			/* the line's point */
		int			s0;			/* point of its first value */
		int			cnt;
		double	   *vals;
		double	   *self;
		long		blocks;
		int			r0;
		int			r1;

		if (!ln->upper)
		{
			z = t;
			s0 = t + 1;
			cnt = ln->n - t - 1;
			self = ln->K + t + (size_t) t * ln->ld;
			vals = self + 1;
		}
		else
		{
			z = ln->n1 + t;
			s0 = ln->n1;
			cnt = t;
			vals = ln->K + (size_t) t * ln->ld;
			self = vals + t;
		}

		/* shares of whole NTK_RECURSE_BLOCKs from the line's start (gram.c) */
		blocks = (cnt + NTK_RECURSE_BLOCK - 1) / NTK_RECURSE_BLOCK;
		r0 = (int) (blocks * worker / nworkers) * NTK_RECURSE_BLOCK;
		r1 = (int) (blocks * (worker + 1) / nworkers) * NTK_RECURSE_BLOCK;
		if (r1 > cnt)
			r1 = cnt;
		if (worker == 0)
		{
			*self = ntk_diag_value(ln->p, ln->kind, ln->diag + (size_t) z * len);
			ln->overflow[worker] |= !isfinite(*self);
		}
		if (r0 < r1)
		{
			ntk_recurse_segment(ln->p, ln->kind, ln->d, vals + r0, r1 - r0,
								ln->kt + s0 + r0, ln->rt + s0 + r0, (size_t) ln->n,
								ln->diag + (size_t) z * len,
								ln->X + (size_t) (s0 + r0) * ln->d,
								ln->X + (size_t) z * ln->d);
			ln->overflow[worker] |= AnyNonFinite(vals + r0, r1 - r0);
		}
	}
}

/* The recursion over all lines of one block, in panels within the budget. */
static NtkStatus
RecurseLines(Lines *ln, int nlines, double entry_ns, Progress *pg)
{
	int			nworkers = ntk_get_threads();
	int			t;
	int			w;
	int			i;

	for (t = 0; t < nlines; t += w)
	{
		/* the longest line of the panel: its first (panel) or last (A22) */
		int			longest = ln->upper ? (t + PACKED_PANEL < nlines ? t + PACKED_PANEL : nlines)
			: ln->n - t;
		double		cols = PACKED_PANEL_NS / ((longest + 1) * entry_ns);
		double		entries;

		w = cols >= PACKED_PANEL ? PACKED_PANEL : (cols >= 1.0 ? (int) cols : 1);
		if (w > nlines - t)
			w = nlines - t;
		entries = ln->upper ? w * (t + (w + 1) / 2.0) : w * (ln->n - t - (w - 1) / 2.0);
		ln->first = t;
		ln->count = w;
		ntk_run_parallel(LinesWork, ln,
						 longest < 4 * PACKED_PANEL &&
						 entries * entry_ns < PACKED_PANEL_SERIAL_NS ? 1 : nworkers);
		for (i = 0; i < PACKED_MAX_THREADS; i++)
			if (ln->overflow[i])
				return NTK_OVERFLOW;
		pg->done += entries;
		if (Report(pg))
			return NTK_CANCELED;
	}
	return NTK_OK;
}

NtkStatus
ntk_gram_packed(const NtkParams *p, NtkKernelKind kind,
				const double *X, int n, int d, const double *diag,
				double *work, double *A, NtkProgressFn progress, void *arg)
{
	NtkPackedLayout l;
	double	   *kt = work;
	double	   *rt = work + (size_t) (p->depth + 1) * n;
	int			nworkers = ntk_get_threads();
	int			blas_threads = openblas_get_num_threads();
	double		dot_share;
	Progress	pg;
	Lines		ln;
	NtkStatus	st;

	if (n < 1 || d < 1)
		return NTK_BAD_DIMENSION;
	l = ntk_packed_layout(n);
	ntk_diag_transpose(p, diag, n, kt, rt);
	dot_share = d / (d + 60.0 * (p->depth + 1));	/* as ntk_gram_sym */

	pg.fn = progress;
	pg.arg = arg;
	pg.done = 0.0;
	pg.total = (double) ntk_packed_len(n);
	pg.lo = 0.0;
	pg.hi = dot_share;
	ntk_blas_set_threads(nworkers);
	st = DotProducts(CblasColMajor, X, n, l.n1, d, A + l.off1, l.ld,
					 ntk_gram_dot_block(d), nworkers, &pg);
	if (st == NTK_OK && l.n2 > 0)
		st = DotProducts(CblasRowMajor, X + (size_t) l.n1 * d, l.n2, l.n2, d,
						 A + l.off22, l.ld, ntk_gram_dot_block(d), nworkers, &pg);
	ntk_blas_set_threads(blas_threads);
	if (nworkers > 1)
		ntk_blas_rest();
	if (st != NTK_OK)
		return st;

	memset(&ln, 0, sizeof(ln));
	ln.p = p;
	ln.kind = kind;
	ln.n = n;
	ln.d = d;
	ln.n1 = l.n1;
	ln.ld = l.ld;
	ln.X = X;
	ln.diag = diag;
	ln.kt = kt;
	ln.rt = rt;
	pg.done = 0.0;
	pg.lo = dot_share;
	pg.hi = 1.0;

	ln.upper = 0;
	ln.K = A + l.off1;
	st = RecurseLines(&ln, l.n1, ntk_gram_entry_ns(p), &pg);
	if (st == NTK_OK && l.n2 > 0)
	{
		ln.upper = 1;
		ln.K = A + l.off22;
		st = RecurseLines(&ln, l.n2, ntk_gram_entry_ns(p), &pg);
	}
	return st;
}

/* ---------------------------------------------------------------------
 * Cholesky factorization and solves
 * ---------------------------------------------------------------------
 */

/* Columns per update chunk: at most PACKED_CHOL_MADDS for rows x b. */
static int
ChunkWidth(double rows, int b)
{
	double		w = PACKED_CHOL_MADDS / (rows * b);

	if (w >= 1024.0)
		return 1024;
	return w >= 128.0 ? (int) w / 64 * 64 : 64;
}

/*
 * Factors the b x b diagonal block at D (leading dimension ld) in the given
 * triangle; *failed_at as ntk_cholesky's, counted from base.
 */
static NtkStatus
FactorDiagonal(char uplo, double *D, int b, size_t ld, int base, int *failed_at)
{
	lapack_int	info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, uplo, b, D,
										   (lapack_int) ld);
	int			c;

	if (info > 0)
	{
		*failed_at = base + info;
		return NTK_NOT_POSITIVE_DEFINITE;
	}
	if (info < 0)
		return NTK_LAPACK_ERROR;
	/* OpenBLAS's dpotrf lets NaN and Inf pivots through (see solve.c) */
	for (c = 0; c < b; c++)
		if (!isfinite(D[c + (size_t) c * ld]))
		{
			*failed_at = base + c + 1;
			return NTK_NOT_POSITIVE_DEFINITE;
		}
	return NTK_OK;
}

NtkStatus
ntk_packed_cholesky(double *A, int n, int *failed_at,
					NtkProgressFn progress, void *arg)
{
	NtkPackedLayout l;
	double	   *P;				/* the n x n1 panel */
	double	   *U;				/* A22 = U^T U, upper, n2 x n2 */
	size_t		ld;
	Progress	pg;
	NtkStatus	st;
	int			kb;

	*failed_at = 0;
	if (n < 1)
		return NTK_BAD_DIMENSION;
	l = ntk_packed_layout(n);
	P = A + l.off1;
	U = A + l.off22;
	ld = l.ld;
	pg.fn = progress;
	pg.arg = arg;
	pg.done = 0.0;
	pg.total = (double) n * n * n / 6.0;	/* multiply-adds */
	pg.lo = 0.0;
	pg.hi = 1.0;

	/* the first n1 columns, with their updates of the rest of the matrix */
	for (kb = 0; kb < l.n1; kb += PACKED_CHOL_BLOCK)
	{
		int			b = l.n1 - kb < PACKED_CHOL_BLOCK ? l.n1 - kb : PACKED_CHOL_BLOCK;
		int			rest = n - kb - b;
		double	   *D = P + kb + (size_t) kb * ld;
		double	   *S = D + b;	/* rows kb + b .. n - 1 of the block column */
		int			c;
		int			w;

		if ((st = FactorDiagonal('L', D, b, ld, kb, failed_at)) != NTK_OK)
			return st;
		if (rest == 0)
			break;
		/* S := S L11^-T */
		cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans,
					CblasNonUnit, rest, b, 1.0, D, ld, S, ld);
		pg.done += (double) rest * b * b / 2.0;
		if (Report(&pg))
			return NTK_CANCELED;

		/*
		 * A(c:n, c:c+w) -= S S^T for the columns c = kb + b .. n - 1 in
		 * chunks, lower triangle; those from n1 on in A22's transpose.
		 */
		for (c = kb + b; c < n; c += w)
		{
			w = ChunkWidth(n - c, b);
			if (c < l.n1 && c + w > l.n1)
				w = l.n1 - c;
			if (w > n - c)
				w = n - c;
			if (c < l.n1)
			{
				double	   *Sc = S + (c - kb - b);
				double	   *C = P + c + (size_t) c * ld;

				cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, w, b,
							-1.0, Sc, ld, 1.0, C, ld);
				if (n - c - w > 0)
					cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans,
								n - c - w, w, b, -1.0, Sc + w, ld, Sc, ld,
								1.0, C + w, ld);
				pg.done += (double) b * w * (n - c - w / 2.0);
			}
			else
			{
				/* U(0:c', c':c'+w) -= Q(0:c'+w)... with Q = S's rows n1 .. n - 1 */
				int			u = c - l.n1;
				double	   *Q = S + (l.n1 - kb - b);
				double	   *C = U + (size_t) u * ld;

				cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, w, b,
							-1.0, Q + u, ld, 1.0, C + u, ld);
				if (u > 0)
					cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans,
								u, w, b, -1.0, Q, ld, Q + u, ld, 1.0, C, ld);
				pg.done += (double) b * w * (u + w / 2.0);
			}
			if (Report(&pg))
				return NTK_CANCELED;
		}
	}

	/* A22 = U^T U: the same algorithm, transposed */
	for (kb = 0; kb < l.n2; kb += PACKED_CHOL_BLOCK)
	{
		int			b = l.n2 - kb < PACKED_CHOL_BLOCK ? l.n2 - kb : PACKED_CHOL_BLOCK;
		int			rest = l.n2 - kb - b;
		double	   *D = U + kb + (size_t) kb * ld;
		double	   *R = D + (size_t) b * ld;	/* U(kb:kb+b, kb+b:n2) */
		int			c;
		int			w;

		if ((st = FactorDiagonal('U', D, b, ld, l.n1 + kb, failed_at)) != NTK_OK)
			return st;
		if (rest == 0)
			break;
		/* R := U11^-T R */
		cblas_dtrsm(CblasColMajor, CblasLeft, CblasUpper, CblasTrans,
					CblasNonUnit, b, rest, 1.0, D, ld, R, ld);
		pg.done += (double) rest * b * b / 2.0;
		if (Report(&pg))
			return NTK_CANCELED;

		/* T(0:c+w, c:c+w) -= R^T R, upper triangle, T = U(kb+b:, kb+b:) */
		for (c = 0; c < rest; c += w)
		{
			double	   *T = D + b + (size_t) b * ld;

			w = ChunkWidth(c + 1, b);
			if (w > rest - c)
				w = rest - c;
			cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, w, b,
						-1.0, R + (size_t) c * ld, ld, 1.0, T + c + (size_t) c * ld, ld);
			if (c > 0)
				cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, c, w, b,
							-1.0, R, ld, R + (size_t) c * ld, ld,
							1.0, T + (size_t) c * ld, ld);
			pg.done += (double) b * w * (c + w / 2.0);
			if (Report(&pg))
				return NTK_CANCELED;
		}
	}
	if (progress)
		(void) progress(arg, 1.0);
	return NTK_OK;
}

NtkStatus
ntk_packed_solve(const double *L, int n, double *B, size_t ldb, int k)
{
	NtkPackedLayout l;
	const double *T1;
	const double *S;
	const double *U;
	double	   *B2;

	if (n < 1 || k < 0 || ldb < (size_t) n)
		return NTK_BAD_DIMENSION;
	if (k == 0)
		return NTK_OK;
	l = ntk_packed_layout(n);
	T1 = L + l.off1;
	S = T1 + l.n1;
	U = L + l.off22;
	B2 = B + l.n1;

	/* L y = b */
	cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
				l.n1, k, 1.0, T1, l.ld, B, ldb);
	if (l.n2 > 0)
	{
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, l.n2, k, l.n1,
					-1.0, S, l.ld, B, ldb, 1.0, B2, ldb);
		cblas_dtrsm(CblasColMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit,
					l.n2, k, 1.0, U, l.ld, B2, ldb);
		/* L^T x = y */
		cblas_dtrsm(CblasColMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit,
					l.n2, k, 1.0, U, l.ld, B2, ldb);
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, l.n1, k, l.n2,
					-1.0, S, l.ld, B2, ldb, 1.0, B, ldb);
	}
	cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit,
				l.n1, k, 1.0, T1, l.ld, B, ldb);
	return NTK_OK;
}

NtkStatus
ntk_packed_forward(const double *L, int n, double *v)
{
	NtkPackedLayout l;

	if (n < 1)
		return NTK_BAD_DIMENSION;
	l = ntk_packed_layout(n);
	cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit,
				l.n1, L + l.off1, l.ld, v, 1);
	if (l.n2 > 0)
	{
		cblas_dgemv(CblasColMajor, CblasNoTrans, l.n2, l.n1, -1.0,
					L + l.off1 + l.n1, l.ld, v, 1, 1.0, v + l.n1, 1);
		cblas_dtrsv(CblasColMajor, CblasUpper, CblasTrans, CblasNonUnit,
					l.n2, L + l.off22, l.ld, v + l.n1, 1);
	}
	return NTK_OK;
}
