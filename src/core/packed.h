/*-------------------------------------------------------------------------
 *
 * packed.h
 *	  Symmetric matrices as their lower triangle in rectangular full packed
 *	  format: the Gram matrix, its Cholesky factor and solves with it, in
 *	  n (n + 1) / 2 doubles (pure numerics, caller-owned buffers).
 *
 * Layout (LAPACK's RFP with TRANSR = 'N', UPLO = 'L'; Gustavson, Wasniewski,
 * Dongarra and Langou, ACM TOMS 37(2), 2010; docs/packed.md).  With
 * n1 = ceil(n / 2) and n2 = n - n1 the matrix splits into A11 (n1 x n1),
 * A21 (n2 x n1) and A22 (n2 x n2).  The packed array is column-major with
 * leading dimension ld = n (n odd) or n + 1 (n even) and n1 columns:
 *
 *	- the first n1 columns of A, rows 0 .. n-1 (A11's lower triangle and
 *	  A21 below it), start at off1 = ld - n: an ordinary full-format n x n1
 *	  panel with leading dimension ld;
 *	- A22's lower triangle, transposed (so stored as an upper triangle),
 *	  starts at off22 = (n odd) ld : 0.  Read row-major with leading
 *	  dimension ld from there it is again a lower triangle.
 *
 * This is what LAPACK's dtrttf writes and dpftrf, dpftrs and dtfttr read.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_PACKED_H
#define NTK_PACKED_H

#include "gram.h"

/* Where the blocks of an order-n packed matrix are. */
typedef struct NtkPackedLayout
{
	int			n;
	int			n1;				/* columns of the first block, ceil(n / 2) */
	int			n2;				/* order of A22, floor(n / 2) */
	size_t		ld;				/* leading dimension: n odd ? n : n + 1 */
	size_t		off1;			/* A(0, 0): the n x n1 panel */
	size_t		off22;			/* A(n1, n1): A22 transposed */
} NtkPackedLayout;

static inline NtkPackedLayout
ntk_packed_layout(int n)
{
	NtkPackedLayout l;

	l.n = n;
	l.n2 = n / 2;
	l.n1 = n - l.n2;
	l.ld = (n % 2) ? (size_t) n : (size_t) n + 1;
	l.off1 = l.ld - (size_t) n;
	l.off22 = (n % 2) ? l.ld : 0;
	return l;
}

/* Doubles of an order-n packed matrix: n (n + 1) / 2. */
static inline size_t
ntk_packed_len(int n)
{
	return (size_t) n * ((size_t) n + 1) / 2;
}

/* Index of A(i, j), i >= j, in the packed array. */
static inline size_t
ntk_packed_index(const NtkPackedLayout *l, int i, int j)
{
	if (j < l->n1)
		return l->off1 + (size_t) i + (size_t) j * l->ld;
	return l->off22 + (size_t) (j - l->n1) + (size_t) (i - l->n1) * l->ld;
}

/*
 * Packs the lower triangle of the column-major F (leading dimension ldf)
 * into A, and back: ntk_packed_unpack writes F's lower triangle and, if
 * zero_upper, zeros above the diagonal (a Cholesky factor as a full matrix).
 */
extern void ntk_packed_pack(const double *F, int n, size_t ldf, double *A);
extern void ntk_packed_unpack(const double *A, int n, double *F, size_t ldf,
							  int zero_upper);

/* Adds lambda to the diagonal; copies the diagonal out (diag: n). */
extern void ntk_packed_add_diagonal(double *A, int n, double lambda);
extern void ntk_packed_get_diagonal(const double *A, int n, double *diag);

/*
 * The Gram matrix of the n row-major points X (d values each) into the
 * packed A (ntk_packed_len(n) doubles), with no full n x n buffer: the
 * same inputs and workspace as ntk_gram_sym (diag from ntk_points_diag,
 * work of ntk_gram_work_len(p, n) doubles, on return X's layer-major
 * table), the same step sizes, threads (ntk_set_threads) and progress.
 *
 * Return: NTK_OK, NTK_BAD_DIMENSION, NTK_OVERFLOW (an entry left the
 * float64 range), NTK_CANCELED (progress returned nonzero).
 * Notes: the first n1 columns are ntk_gram_sym's loop on an n x n1 panel
 * with leading dimension ld, so their entries are ntk_gram_sym's wherever
 * the BLAS calls are the same; A22 is the same loop through row-major
 * CBLAS calls, its recursion taking each row's point as z (the kernel is
 * symmetric; the values agree with ntk_gram_sym's to rounding, see
 * test_packed.c).
 */
extern NtkStatus ntk_gram_packed(const NtkParams *p, NtkKernelKind kind,
								 const double *X, int n, int d,
								 const double *diag, double *work, double *A,
								 NtkProgressFn progress, void *arg);

/*
 * Cholesky factorization A = L L^T in place in the packed A, blocked so
 * that progress (and cancellation) is reported between steps of at most
 * about 2^35 flops.
 *
 * Return: NTK_OK, NTK_NOT_POSITIVE_DEFINITE (*failed_at: the 1-based
 * order of the first leading minor that is not positive definite, or whose
 * pivot came out NaN or Inf), NTK_CANCELED, NTK_BAD_DIMENSION (n < 1),
 * NTK_LAPACK_ERROR.
 * Notes: the right-looking blocked algorithm of ntk_cholesky (Golub & Van
 * Loan, 4th ed., 4.2.9) over the whole matrix in its packed blocks: for
 * the first n1 columns dpotrf on the diagonal block, dtrsm on the panel
 * below it (A21's rows included), the trailing update of the rest of the
 * n x n1 panel and, as a rank-b dsyrk, of A22; then A22 = U^T U by the
 * upper-triangular form of the same algorithm.  LAPACK's dpftrf does the
 * same work in four calls, the longest of them minutes at n = 60000.
 */
extern NtkStatus ntk_packed_cholesky(double *A, int n, int *failed_at,
									 NtkProgressFn progress, void *arg);

/*
 * Solves L L^T X = B in place for k right-hand sides, B column-major n x k
 * with leading dimension ldb, L from ntk_packed_cholesky (dpftrs's steps).
 *
 * Return: NTK_OK, NTK_BAD_DIMENSION (n < 1, k < 0, ldb < n).
 */
extern NtkStatus ntk_packed_solve(const double *L, int n, double *B,
								  size_t ldb, int k);

/*
 * v := L^-1 v for one vector v (n): the forward half of the solve, as
 * ntk_posterior_variance needs it (variance = k(x,x) - |L^-1 k|^2).
 */
extern NtkStatus ntk_packed_forward(const double *L, int n, double *v);

#endif							/* NTK_PACKED_H */
