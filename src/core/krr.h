/*-------------------------------------------------------------------------
 *
 * krr.h
 *	  Kernel regression numerics from a factored Gram (pure numerics).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_KRR_H
#define NTK_KRR_H

#include "kernel.h"

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

#endif							/* NTK_KRR_H */
