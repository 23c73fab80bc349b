/*-------------------------------------------------------------------------
 *
 * krr.h
 *	  Kernel regression numerics around the Gram matrix (pure numerics):
 *	  standardization of the inputs, gradient flow stopped at a finite time,
 *	  leave-one-out error, posterior variance, training error and the
 *	  memory a fit needs.
 *
 * As in kernel.h: no allocation, caller-owned buffers, and a status where
 * a call can fail (the dimensions are checked on entry).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_KRR_H
#define NTK_KRR_H

#include <math.h>
#include <stddef.h>

#include "kernel.h"
#include "validate.h"

/*
 * A feature value standardized with a stored mean and scale, the same at fit
 * and at prediction.  Only a feature whose values span more than the range
 * of double precision makes x - mean overflow; halved, it stays finite where
 * the result is.
 */
static inline double
ntk_standardize_value(double x, double mean, double scale)
{
	double		c = x - mean;

	if (isinf(c))
		return (0.5 * x - 0.5 * mean) / (0.5 * scale);
	return c / scale;
}

/*
 * Standardizes X (n x d, row-major) in place, feature by feature, to mean 0
 * and population standard deviation 1; a constant feature is only centered
 * (scale 1).  mean, scale: d each, filled; work: 2 * d doubles.
 *
 * Each feature's sums run on the feature scaled by a power of two that
 * brings its largest magnitude to [1, 2): the sums can then neither overflow
 * (features near 1e155 squared) nor underflow (near 1e-162 squared), and
 * since scaling by a power of two is exact, on any other feature mean and
 * scale are the very bits of the plain sums.
 *
 * Returns NTK_BAD_DIMENSION if n or d is below 1, NTK_OVERFLOW if a
 * standardized value is not finite, with *bad_feature its feature (from 0;
 * X is then partly standardized).
 */
extern NtkStatus ntk_standardize(double *X, int n, int d, double *mean,
								 double *scale, double *work,
								 int *bad_feature);

/*
 * Dual coefficients of gradient flow on MSE stopped at scaled time s
 * (s = learning_rate * t / number of target entries, as neural-tangents
 * gradient_descent_mse with zero initial outputs):
 *	alpha = V diag(f(w)) V^T Y,  f(w) = (1 - exp(-max(w, 0) s)) / |w|,
 * with the exact limit f(0) = s.  If train is not NULL it receives the
 * training predictions V diag(1 - exp(-max(w, 0) s)) V^T Y.
 * Y, alpha, train: column-major n x k; work: n * k doubles.  Returns
 * NTK_BAD_DIMENSION if n or k is below 1.
 */
extern NtkStatus ntk_finite_time(const double *V, const double *w, int n,
								 double s, const double *Y, int k,
								 double *alpha, double *train, double *work);

/*
 * Leave-one-out mean squared error of kernel ridge regression with ridge
 * lambda, in closed form from the eigendecomposition of the unregularized
 * Gram (V, w) and VtY = V^T Y (n x k): with G = (K + lambda I)^-1 and
 * alpha = G Y, the held-out residual of row i is alpha_i / G_ii (Rifkin &
 * Lippert 2007, "Notes on regularized least squares").  In two steps, so
 * that the columns of Y can go in blocks: ntk_loo_diag fills g (n) with the
 * diagonal of G (NTK_NOT_POSITIVE_DEFINITE if K + lambda I is not), then
 * ntk_loo_sse sets *sse to the sum of the squared held-out residuals of k
 * columns (work: 2 * n * k doubles); the error is their total over n times
 * all columns.  Both return NTK_BAD_DIMENSION if n or k is below 1.
 */
extern NtkStatus ntk_loo_diag(const double *V, const double *w, int n,
							  double lambda, double *g);
extern NtkStatus ntk_loo_sse(const double *V, const double *w, int n,
							 const double *VtY, int k, double lambda,
							 const double *g, double *work, double *sse);

/*
 * Posterior variance k(x,x) - k^T (K + lambda I)^-1 k of a Gaussian process,
 * from the Cholesky factor L (is_chol) or a whitening W = V diag(w^-1/2)
 * of K + lambda I, never negative.  kvec: k(X, x) (n); work: n doubles.
 */
extern double ntk_posterior_variance(const double *F, int n, int is_chol,
									 const double *kvec, double kxx,
									 double *work);

/*
 * Training error from the training predictions P against the targets.
 * ntk_train_accuracy: the share of the n rows whose largest prediction (the
 * first of equal ones) is in the column of label[i]; P is n x k
 * column-major.  ntk_train_rmse: the root mean square of P - Y over n x k
 * entries, computed on residuals scaled by the largest one so that huge
 * targets do not overflow; +Infinity or NaN only if a residual is one.
 * Both return NTK_BAD_DIMENSION if n or k is below 1.
 */
extern NtkStatus ntk_train_accuracy(const double *P, int n, int k,
									const int *label, double *accuracy);
extern NtkStatus ntk_train_rmse(const double *P, const double *Y, int n, int k,
								double *rmse);

/*
 * Estimated peak bytes of a fit of n rows of d features and k outputs with
 * these options: the Gram matrix (three n x n matrices for an
 * eigendecomposition: model selection or a finite time), inputs, targets,
 * coefficients and scratch, and the diagonal states of the deepest
 * candidate network (a Nystrom fit's: ntk_nystrom_fit_peak_bytes).
 * Saturates to +Infinity instead of wrapping.
 */
extern double ntk_fit_peak_bytes(double n, double d, double k,
								 const NtkFitOptions *opts);

/*
 * The same with the Gram matrix and its factor as their lower triangle
 * (packed.h): n (n + 1) / 2 doubles instead of n^2, plus the full n x n
 * factor a fit with "variance" stores.  Options that need an
 * eigendecomposition (model selection, a finite time) cannot use it: for
 * them this is ntk_fit_peak_bytes.
 */
extern double ntk_fit_packed_peak_bytes(double n, double d, double k,
										const NtkFitOptions *opts);

#endif							/* NTK_KRR_H */
