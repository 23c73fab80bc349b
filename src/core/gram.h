/*-------------------------------------------------------------------------
 *
 * gram.h
 *	  Kernel matrices from data matrices (pure numerics, caller-owned buffers).
 *
 * Layouts: data matrices are row-major (one point per row of d doubles).
 * The symmetric Gram is column-major n x n with its lower triangle filled
 * (LAPACK's 'L' convention).  The cross kernel of m query points against n
 * training points is row-major m x n (one query per row).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_GRAM_H
#define NTK_GRAM_H

#include "kernel.h"
#include "parallel.h"

/*
 * Per-point diagonal states of n row-major points: diag must hold
 * n * ntk_diag_len(p) doubles.
 */
extern NtkStatus ntk_points_diag(const NtkParams *p, const double *X, int n,
								 int d, double *diag);


/*
 * Doubles of a layer-major diagonal table of n points (see recursion.h):
 * the workspace of ntk_gram_sym, and the training-side input of
 * ntk_gram_cross and ntk_predict_point.
 */
extern size_t ntk_gram_work_len(const NtkParams *p, int n);

/*
 * Lower triangle of the n x n Gram of X (column-major, leading dimension n),
 * diag from ntk_points_diag, work of ntk_gram_work_len(p, n) doubles (on
 * return it holds X's layer-major table).  Exact on the diagonal.
 */
extern NtkStatus ntk_gram_sym(const NtkParams *p, NtkKernelKind kind,
							  const double *X, int n, int d,
							  const double *diag, double *work, double *K,
							  NtkProgressFn progress, void *arg);

/*
 * Cross kernel of m query points Q against n points X: row-major m x n,
 * K[i * n + j] = k(Q_i, X_j).  qdiag from ntk_points_diag; xtable is X's
 * layer-major table (ntk_diag_transpose into ntk_gram_work_len doubles).
 */
extern NtkStatus ntk_gram_cross(const NtkParams *p, NtkKernelKind kind,
								const double *Q, int m, const double *qdiag,
								const double *X, int n, const double *xtable,
								int d, double *K,
								NtkProgressFn progress, void *arg);

/*
 * Predicts one point q (d values): kbuf (n) receives k(q, X_j), qdiag (one
 * diagonal state) q's own state, out (k) = sum_j k(q, X_j) alpha[j, :] with
 * alpha column-major n x k.
 */
extern NtkStatus ntk_predict_point(const NtkParams *p, NtkKernelKind kind,
								   const double *X, int n, int d,
								   const double *xtable, const double *alpha,
								   int k, const double *q, double *qdiag,
								   double *kbuf, double *out);

/*
 * Shared with packed.c, which builds the same Gram into packed storage:
 * the step-size estimates (gram.c's "Step sizes").
 */
extern double ntk_gram_entry_ns(const NtkParams *p);
extern int	ntk_gram_dot_block(int d);

/*
 * For tests: nonzero makes ntk_gram_sym compute its dot products in blocks
 * even where one dsyrk would do (NTK_DOT_WHOLE_FLOPS in gram.c), so that
 * small matrices cover the blocked path too.
 */
extern void ntk_gram_force_blocks(int on);

#endif							/* NTK_GRAM_H */
