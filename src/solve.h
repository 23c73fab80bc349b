/*-------------------------------------------------------------------------
 *
 * solve.h
 *	  Linear algebra for the dual coefficients (pure numerics).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_SOLVE_H
#define NTK_SOLVE_H

#include "gram.h"

/*
 * Adds lambda to the diagonal of the column-major n x n matrix A.
 */
extern void ntk_add_diagonal(double *A, int n, double lambda);

/*
 * Cholesky factorization A = L L^T in place (column-major, lower triangle,
 * leading dimension n), blocked so that progress (and cancellation) is
 * reported between panels.
 *
 * Return: NTK_OK, NTK_NOT_POSITIVE_DEFINITE (*failed_at gets the 1-based
 * order of the leading minor that is not positive definite, or whose
 * factor came out NaN or Inf: a NaN or Inf in the matrix), NTK_CANCELED.
 * Notes: right-looking blocked algorithm (Golub & Van Loan, Matrix
 * Computations, 4th ed., section 4.2.9): dpotrf on the diagonal block, dtrsm
 * on the panel below it, dsyrk/dgemm on the trailing matrix in column chunks.
 */
extern NtkStatus ntk_cholesky(double *A, int n, int *failed_at,
							  NtkProgressFn progress, void *arg);

/*
 * Solves L L^T X = B in place for k right-hand sides (B column-major n x k).
 */
extern void ntk_cholesky_solve(const double *L, int n, double *B, int k);

/*
 * Eigendecomposition A = V diag(w) V^T of the symmetric n x n matrix A
 * (column-major, lower triangle read); A is overwritten by V, w gets the
 * eigenvalues in ascending order.  work holds ntk_eigh_work_len(n) doubles.
 * Progress (and cancellation) is reported between BLAS and LAPACK calls.
 *
 * Return: NTK_OK, NTK_LAPACK_ERROR if the tridiagonal eigensolver failed,
 * NTK_CANCELED, NTK_BAD_DIMENSION for n < 1.
 * Notes: the steps of LAPACK's dsyevd, each in pieces: tridiagonal
 * reduction in panels of NTK_EIGH_PANEL columns (dlatrd's algorithm with a
 * report after each column, then a dsyr2k update of the rest: the blocked
 * algorithm of dsytrd), eigenvectors of the tridiagonal matrix by divide
 * and conquer (ntk_tridiag_eig), and the reflectors applied to them in
 * blocks of columns (dormtr).  Golub & Van Loan, Matrix Computations, 4th
 * ed., sections 8.3.1, 8.4 and 8.4.4.  The workspace is n^2 + O(n) doubles
 * for the eigenvectors and as much again for the divide and conquer's
 * merges, as dsyevd's.
 */
extern size_t ntk_eigh_work_len(int n);
extern NtkStatus ntk_eigh(double *A, int n, double *w, double *work,
						  NtkProgressFn progress, void *arg);

/*
 * Eigenvalues (ascending, into d) and eigenvectors (columns of Z, n x n,
 * leading dimension ldz) of the symmetric tridiagonal matrix with diagonal
 * d and subdiagonal e[0 .. n-2]; d and e (n entries each) are overwritten.
 * work holds ntk_tridiag_work_len(n) doubles.  Progress goes from p0 to p1.
 *
 * Return: NTK_OK, NTK_CANCELED, NTK_LAPACK_ERROR, NTK_BAD_DIMENSION.
 * Notes: divide and conquer (tridiag.c), dstedc's algorithm with its merges
 * in interruptible pieces; orders up to 512 go to dstedc in one call, and
 * orders above 46340 (n^2 past LAPACK's 32-bit indices) to dstemr in one
 * uninterruptible call.
 */
extern size_t ntk_tridiag_work_len(int n);
extern NtkStatus ntk_tridiag_eig(int n, double *d, double *e, double *Z,
								 int ldz, double *work, NtkProgressFn progress,
								 void *arg, double p0, double p1);

/*
 * The same by dstemr alone, in one uninterruptible call (ntk_tridiag_eig's
 * way above order 46340 and if a merge fails); the same work.  dstemr can
 * fail on matrices with very tight clusters (glued Wilkinson matrices):
 * NTK_LAPACK_ERROR, never a wrong answer.
 */
extern NtkStatus ntk_tridiag_eig_mrrr(int n, double *d, double *e, double *Z,
									  int ldz, double *work);

#endif							/* NTK_SOLVE_H */

/*
 * Dual coefficients of gradient flow on MSE stopped at scaled time s
 * (s = learning_rate * t / number of target entries, as neural-tangents
 * gradient_descent_mse with zero initial outputs):
 *	alpha = V diag(f(w)) V^T Y,  f(w) = (1 - exp(-max(w, 0) s)) / |w|,
 * with the exact limit f(0) = s.  If train is not NULL it receives the
 * training predictions V diag(1 - exp(-max(w, 0) s)) V^T Y.
 * Y, alpha, train: column-major n x k; work: n * k doubles.
 */
extern void ntk_finite_time(const double *V, const double *w, int n,
							double s, const double *Y, int k,
							double *alpha, double *train, double *work);

/*
 * Leave-one-out mean squared error of kernel ridge regression with ridge
 * lambda, in closed form from the eigendecomposition of the unregularized
 * Gram (V, w) and VtY = V^T Y (n x k): with G = (K + lambda I)^-1 and
 * alpha = G Y, the held-out residual of row i is alpha_i / G_ii (Rifkin &
 * Lippert 2007, "Notes on regularized least squares").  In two steps, so
 * that the columns of Y can go in blocks: ntk_loo_diag fills g (n) with the
 * diagonal of G (returns 0 if K + lambda I is not positive definite), then
 * ntk_loo_sse sums the squared held-out residuals of k columns (work:
 * 2 * n * k doubles); the error is their total over n times all columns.
 */
extern int	ntk_loo_diag(const double *V, const double *w, int n,
						 double lambda, double *g);
extern double ntk_loo_sse(const double *V, const double *w, int n,
						  const double *VtY, int k, double lambda,
						  const double *g, double *work);

/*
 * Posterior variance k(x,x) - k^T (K + lambda I)^-1 k of a Gaussian process,
 * from the Cholesky factor L (is_chol) or a whitening W = V diag(w^-1/2)
 * of K + lambda I, never negative.  kvec: k(X, x) (n); work: n doubles.
 */
extern double ntk_posterior_variance(const double *F, int n, int is_chol,
									 const double *kvec, double kxx,
									 double *work);
