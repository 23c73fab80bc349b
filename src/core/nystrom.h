/*-------------------------------------------------------------------------
 *
 * nystrom.h
 *	  Nystrom kernel ridge regression: center choice, statistics and solve
 *	  (pure numerics, caller-owned buffers; docs/nystrom.md).
 *
 * The model keeps the exact kernel but restricts the coefficients to m
 * centers c_1 .. c_m: it minimizes |K_nm a - Y|^2 + lambda a^T K_mm a, whose
 * normal equations (H + lambda K_mm) a = B need only the statistics
 *	H = sum_i k(C, x_i) k(x_i, C) (m x m) and B = sum_i k(C, x_i) y_i^T (m x k),
 * sums over rows: they can be accumulated over any split of the rows and
 * the parts added.  With every distinct row as a center it is the exact
 * kernel ridge regression.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_NYSTROM_H
#define NTK_NYSTROM_H

#include <stdint.h>

#include "gram.h"

/* ---------------------------------------------------------------------
 * Center choice
 * ---------------------------------------------------------------------
 *
 * The centers are the m distinct rows with the smallest keys (hash, row):
 * hash = ntk_row_hash(seed, row), rows of equal hash ordered by their
 * 8-byte words read as unsigned integers, first word first.  Equal rows
 * have equal keys, so a duplicate is one center; the choice depends on the
 * set of rows only, not on their order nor on how they were split into
 * parts that were merged.  Rows are expected without NaN and with -0.0
 * made +0.0 (the caller's input checks): equal values, equal bytes.
 */

/*
 * 64-bit hash of a row of d doubles: a splitmix64 finalizer chained over
 * the row's 8-byte words, started from the seed and d (docs/nystrom.md
 * gives the definition, test_nystrom.py an independent implementation).
 */
extern uint64_t ntk_row_hash(uint64_t seed, const double *x, int d);

/*
 * A bounded set of at most m (hash, row) entries, in one flat buffer of
 * ntk_centers_size(m, d) bytes that can be copied or sent as is (8-byte
 * aligned, native byte order): a header, then the hashes in key order,
 * then the slot of each entry (int32), then the rows by slot.
 */
typedef struct NtkCenters
{
	uint32_t	magic;			/* NTK_CENTERS_MAGIC */
	int32_t		m;				/* capacity */
	int32_t		d;
	int32_t		count;			/* entries held, <= m */
	uint64_t	seed;
	uint64_t	rows_seen;		/* rows offered, duplicates included */
	/* uint64_t hash[m]; int32_t slot[m] (padded to 8 bytes); double rows[m * d] */
} NtkCenters;

#define NTK_CENTERS_MAGIC 0x4e435331u	/* "NCS1" */

/* Bytes of the set's buffer (0 if m or d < 1 or it exceeds SIZE_MAX / 2). */
extern size_t ntk_centers_size(int m, int d);

/* An empty set in buf (ntk_centers_size(m, d) bytes, 8-byte aligned). */
extern NtkStatus ntk_centers_init(NtkCenters *set, int m, int d, uint64_t seed);

/*
 * Checks a buffer received from elsewhere (len bytes): header, sizes, keys
 * strictly increasing and slots a permutation.  NTK_OK or NTK_BAD_DIMENSION.
 */
extern NtkStatus ntk_centers_check(const NtkCenters *set, size_t len);

/* Offers n row-major rows of d doubles. */
extern NtkStatus ntk_centers_add(NtkCenters *set, const double *X, int n);

/*
 * Adds src's entries to dst.  Both must have the same m, d and seed, else
 * NTK_BAD_DIMENSION and dst unchanged.  Merging is associative and
 * commutative: any grouping of the same rows gives the same entries.
 */
extern NtkStatus ntk_centers_merge(NtkCenters *dst, const NtkCenters *src);

/* Entries held (the number of centers). */
static inline int
ntk_centers_count(const NtkCenters *set)
{
	return set->count;
}

/* The centers in key order into C (count x d, row-major). */
extern void ntk_centers_rows(const NtkCenters *set, double *C);

/* ---------------------------------------------------------------------
 * Statistics
 * ---------------------------------------------------------------------
 */

/*
 * What a state was built against; states merge only if these are equal.
 * centers_hash is ntk_centers_fingerprint of the centers.
 */
typedef struct NtkNystromKey
{
	int32_t		depth;
	int32_t		activation;
	int32_t		kind;			/* NtkKernelKind */
	int32_t		d;
	int32_t		k;				/* target columns */
	int32_t		m;				/* centers */
	double		sigma_w;
	double		sigma_b;
	uint64_t	centers_hash;
} NtkNystromKey;

/*
 * The state: the key, the row count n, the sum of the rows' self kernels
 * (for the relative ridge: mean self kernel = diag_sum / n), the sum of the
 * squared targets over rows and outputs (the residuals and ridge selection
 * need it: |Y - K_nm a|^2 = y2_sum - 2 tr(a^T B) + tr(a^T H a)), H (lower
 * triangle of a column-major m x m, leading dimension m) and B
 * (column-major m x k).  H and B are caller-owned: m^2 + m k doubles.
 */
typedef struct NtkNystromStats
{
	NtkNystromKey key;
	int64_t		n;
	double		diag_sum;
	double		y2_sum;			/* +Infinity if it overflowed */
	double	   *H;
	double	   *B;
} NtkNystromStats;

/* Hash of the centers' values (count x d, row-major), seed 0. */
extern uint64_t ntk_centers_fingerprint(const double *C, int m, int d);

/*
 * Fills the key from the kernel and the centers, zeroes n, diag_sum, y2_sum,
 * H and B.  NTK_BAD_DIMENSION if m, d or k < 1; parameter errors as
 * ntk_params_check.
 */
extern NtkStatus ntk_nystrom_init(NtkNystromStats *st, const NtkParams *p,
								  NtkKernelKind kind, const double *C, int m,
								  int d, int k, double *H, double *B);

/* Whether two keys are equal (states that may be merged). */
extern int	ntk_nystrom_key_equal(const NtkNystromKey *a, const NtkNystromKey *b);

/*
 * Rows per block of the accumulation: one cross kernel, one dsyrk and one
 * dgemm each.  The workspace of ntk_nystrom_accumulate is
 * ntk_nystrom_work_len(p, m) doubles.
 */
#define NTK_NYSTROM_BLOCK 2048
extern size_t ntk_nystrom_work_len(const NtkParams *p, int m);

/*
 * The centers' layer-major table (the input of the cross kernels):
 * ntk_gram_work_len(p, m) doubles, from C (m x d, row-major); cdiag is
 * scratch of m * ntk_diag_len(p) doubles.
 */
extern NtkStatus ntk_nystrom_center_table(const NtkParams *p, const double *C,
										  int m, int d, double *cdiag,
										  double *ctable);

/*
 * Adds n rows X (row-major n x d) with targets Y (row-major n x k) to the
 * state, in blocks of NTK_NYSTROM_BLOCK rows (block boundaries counted from
 * X's first row): per block the cross kernel K_b = k(X_b, C) (ntk_gram_cross,
 * C's table ctable from ntk_nystrom_center_table), H += K_b^T K_b (dsyrk),
 * B += K_b^T Y_b (dgemm).  p and kind must be the state's (else
 * NTK_BAD_DIMENSION).  Progress reports the fraction of X done after each
 * block; a cancel leaves the state partly updated.
 */
extern NtkStatus ntk_nystrom_accumulate(NtkNystromStats *st, const NtkParams *p,
										NtkKernelKind kind, const double *C,
										const double *ctable, const double *X,
										const double *Y, int n, double *work,
										NtkProgressFn progress, void *arg);

/*
 * dst += src (n, diag_sum, y2_sum, H's lower triangle, B);
 * NTK_BAD_DIMENSION and dst unchanged if the keys differ.
 */
extern NtkStatus ntk_nystrom_merge(NtkNystromStats *dst,
								   const NtkNystromStats *src);

/*
 * The state as one flat buffer (to send between processes): a header
 * (NtkNystromPacked), H's lower triangle column by column, then B:
 * ntk_nystrom_packed_size(m, k) bytes (0 if m or k < 1 or too large).
 * Unpacking checks the header (magic, sizes against len: NTK_BAD_DIMENSION;
 * the kernel parameters: ntk_params_check's status) and fills a state whose H and B the caller
 * provides (m^2 and m k doubles).
 */
typedef struct NtkNystromPacked
{
	uint32_t	magic;			/* NTK_NYSTROM_MAGIC */
	uint32_t	pad;
	NtkNystromKey key;
	int64_t		n;
	double		diag_sum;
	double		y2_sum;
	/* double H[m (m + 1) / 2]; double B[m * k] */
} NtkNystromPacked;

/* "NYS2": version 2 carries y2_sum (version 1, "NYS1", did not) */
#define NTK_NYSTROM_MAGIC 0x4e595332u
#define NTK_NYSTROM_MAGIC_V1 0x4e595331u

extern size_t ntk_nystrom_packed_size(int m, int k);
extern void ntk_nystrom_pack(const NtkNystromStats *st, void *out);
extern NtkStatus ntk_nystrom_unpack(const void *in, size_t len,
									NtkNystromStats *st, double *H, double *B);

/*
 * Estimated peak bytes of a Nystrom fit of n gathered rows of d features
 * and k outputs with at most centers centers (m = min(centers, n)): the
 * rows and targets (twice: a classifier's one-hot copy) and the training
 * predictions, the center set, and ntk_nystrom_solve_peak_bytes.
 * select: with ridge selection.  Saturates to +Infinity instead of wrapping.
 */
extern double ntk_nystrom_fit_peak_bytes(double n, double d, double k, int centers,
										 int select, const NtkParams *p);

/*
 * Estimated peak bytes of the solve of m centers: H and K_mm (with ridge
 * selection K_mm's factor and the eigendecomposition's 3 m^2 in place of
 * H: ntk_eigh_child), B, the coefficients and the projections, the centers
 * and their tables, one block's cross kernel.
 */
extern double ntk_nystrom_solve_peak_bytes(double m, double d, double k, int select,
										   const NtkParams *p);

/* ---------------------------------------------------------------------
 * Solve
 * ---------------------------------------------------------------------
 */

/*
 * Default relative jitter of K_mm: jitter * m * mean(diag K_mm) is added to
 * its diagonal before the Cholesky factorization; multiplied by 100 for
 * each further attempt (see ntk_nystrom_solve), at most
 * NTK_NYSTROM_ATTEMPTS in all (1e-15 m up to 1e-7 m).
 */
#define NTK_NYSTROM_JITTER 1e-15
#define NTK_NYSTROM_ATTEMPTS 5

/*
 * Coefficients alpha (column-major m x k) of the Nystrom fit with absolute
 * ridge lambda (>= 0):
 *	L = chol(K_mm + e I),  e = jitter * m * mean(diag K_mm),
 *	G = L^-1 H L^-T,  R = chol(G + lambda I),
 *	alpha = L^-T R^-T R^-1 L^-1 B,
 * which solves (H + lambda (K_mm + e I)) alpha = B without forming that
 * matrix, whose condition number is K_mm's times H's.
 *
 * H is rounded (u |H|) when it is formed, and L^-1 magnifies that by up to
 * 1 / e: with K_mm near singular (near-duplicate centers) G + lambda I can
 * come out indefinite.  Then the whole solve is done again from the inputs
 * with 100 times the jitter, up to NTK_NYSTROM_ATTEMPTS times; the jitter
 * moves the predictions by about e / lambda (relative), *jitter_used gets
 * the last e / mean(diag K_mm).
 *
 * Kmm: the centers' Gram (lower triangle, from ntk_gram_sym), overwritten
 * by L, its upper triangle by a copy of its lower one; H: the statistics'
 * H (lower triangle), overwritten by R and likewise; B (m x k) read; work:
 * 2 m doubles.  Progress: the factorization of K_mm 0 .. 0.3, the
 * reduction 0.3 .. 0.8, the second factorization 0.8 .. 1 (again from 0
 * on another attempt).
 *
 * Return: NTK_OK, NTK_NOT_POSITIVE_DEFINITE on the last attempt (*failed_at
 * as ntk_cholesky's; *which 1 for K_mm, 2 for G + lambda I),
 * NTK_BAD_DIMENSION, NTK_NOT_FINITE (lambda or jitter), NTK_OVERFLOW
 * (alpha), NTK_CANCELED, NTK_LAPACK_ERROR.
 */
extern NtkStatus ntk_nystrom_solve(double *Kmm, double *H, const double *B,
								   int m, int k, double lambda, double jitter,
								   double *alpha, double *work,
								   double *jitter_used, int *failed_at,
								   int *which, NtkProgressFn progress,
								   void *arg);

/*
 * The reduction G = L^-1 A L^-T in place (A's lower triangle, L lower,
 * both column-major m x m): LAPACK's blocked dsygst (itype 1, lower) with
 * progress from p0 to p1 after each block of columns.  Exposed for tests.
 */
extern NtkStatus ntk_sygst_lower(double *A, const double *L, int m,
								 NtkProgressFn progress, void *arg,
								 double p0, double p1);

/* ---------------------------------------------------------------------
 * Ridge selection (docs/nystrom.md, "Ridge selection")
 * ---------------------------------------------------------------------
 *
 * With L = chol(K_mm + e I), C = L^-1 H L^-T = V diag(lam) V^T and
 * b = V^T L^-1 B, the coefficients of ridge r are
 *	alpha(r) = L^-T V diag(1 / (lam + r)) b,
 * the residual sum of squares over the rows and outputs is
 *	RSS(r) = y2_sum - sum_ij b_ij^2 (lam_i + 2 r) / (lam_i + r)^2
 * and the trace of the hat matrix K_nm (H + r (K_mm + e I))^-1 K_nm^T is
 *	df(r) = sum_i lam_i / (lam_i + r):
 * one eigendecomposition serves every ridge, from the statistics alone.
 */

/*
 * L = chol(K_mm + e I) in Kmm and C = L^-1 H L^-T in H (lower triangles):
 * the reduction of ntk_nystrom_solve, with its jitter and its retries when
 * K_mm + e I is not positive definite (Kmm's upper triangle keeps a copy of
 * its input, work holds m doubles).  Progress: the factorization 0 .. 0.25,
 * the reduction 0.25 .. 1.
 *
 * Return: NTK_OK, NTK_NOT_POSITIVE_DEFINITE on the last attempt
 * (*failed_at as ntk_cholesky's), NTK_BAD_DIMENSION, NTK_NOT_FINITE
 * (jitter), NTK_CANCELED, NTK_LAPACK_ERROR.
 */
extern NtkStatus ntk_nystrom_reduce(double *Kmm, double *H, int m, double jitter,
									double *work, double *jitter_used,
									int *failed_at, NtkProgressFn progress,
									void *arg);

/*
 * b = V^T L^-1 B (column-major m x k) from L (lower, ntk_nystrom_reduce),
 * V (column-major m x m, C's eigenvectors) and B (m x k); tmp: m k doubles.
 */
extern NtkStatus ntk_nystrom_project(const double *L, const double *V,
									 const double *B, int m, int k, double *b,
									 double *tmp);

/*
 * The score of ridge r (absolute, as lambda of ntk_nystrom_solve) for
 * n rows: *rss, *df as above and the generalized cross-validation score
 *	*gcv = n RSS / (k (n - df)^2),
 * the mean squared training error per target inflated by (1 - df / n)^-2
 * (Golub, Heath & Wahba, Technometrics 21, 1979).  lam ascending (C's
 * eigenvalues).  *gcv is NaN when no score is defined: RSS below zero
 * (rounding: the fit reproduces the targets to within the statistics'
 * rounding), not finite, or df >= n.
 *
 * Return: NTK_OK, NTK_NOT_POSITIVE_DEFINITE if lam_1 + r <= 0 (rounding
 * left an eigenvalue of C below -r), NTK_BAD_DIMENSION, NTK_NOT_FINITE (r).
 */
extern NtkStatus ntk_nystrom_gcv(const double *lam, const double *b, int m, int k,
								 double n, double y2_sum, double r, double *rss,
								 double *df, double *gcv);

/*
 * alpha = L^-T V diag(1 / (lam + r)) b (column-major m x k); tmp: m k
 * doubles.
 *
 * Return: NTK_OK, NTK_NOT_POSITIVE_DEFINITE if lam_1 + r <= 0,
 * NTK_OVERFLOW (alpha not finite), NTK_BAD_DIMENSION.
 */
extern NtkStatus ntk_nystrom_eigen_coef(const double *L, const double *V,
										const double *lam, const double *b,
										int m, int k, double r, double *alpha,
										double *tmp);

/*
 * The residual sum of squares over the rows and outputs of the solution
 * alpha of (H + lambda L L^T) alpha = B (ntk_nystrom_solve; L its K_mm's
 * factor): at the solution tr(alpha^T H alpha) = tr(alpha^T B) -
 * lambda |L^T alpha|^2, so
 *	*rss = y2_sum - tr(alpha^T B) - lambda |L^T alpha|_F^2.
 * tmp: m k doubles.  NTK_OK or NTK_BAD_DIMENSION.
 */
extern NtkStatus ntk_nystrom_rss(const double *L, const double *alpha,
								 const double *B, int m, int k, double lambda,
								 double y2_sum, double *tmp, double *rss);

#endif							/* NTK_NYSTROM_H */
