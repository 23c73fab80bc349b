/*-------------------------------------------------------------------------
 *
 * krr.c
 *	  Kernel regression around the Gram matrix: standardization, gradient
 *	  flow stopped at a finite time, leave-one-out error, posterior
 *	  variance, training error and a fit's peak memory.
 *
 *-------------------------------------------------------------------------
 */
#include "krr.h"
#include "nystrom.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

/* The power of two 2^e that brings the largest magnitude of each feature to [1, 2). */
static void
FeatureExponents(const double *X, int n, int d, double *down, double *up)
{
	int			i;
	int			j;

	for (j = 0; j < d; j++)
		up[j] = 0.0;
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			up[j] = fmax(up[j], fabs(X[(size_t) i * d + j]));
	for (j = 0; j < d; j++)
	{
		/* 2^-e and 2^e are both doubles for e in [-1023, 1023] */
		int			e = up[j] > 0.0 ? ilogb(up[j]) : 0;

		if (e < -1023)
			e = -1023;
		down[j] = ldexp(1.0, -e);
		up[j] = ldexp(1.0, e);
	}
}

NtkStatus
ntk_standardize(double *X, int n, int d, double *mean, double *scale,
				double *work, int *bad_feature)
{
	double	   *down = work;
	double	   *up = work + d;
	int			i;
	int			j;

	if (n < 1 || d < 1)
		return NTK_BAD_DIMENSION;
	FeatureExponents(X, n, d, down, up);
	for (j = 0; j < d; j++)
		mean[j] = scale[j] = 0.0;
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			mean[j] += X[(size_t) i * d + j] * down[j];
	for (j = 0; j < d; j++)
		mean[j] /= n;
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
		{
			double		c = X[(size_t) i * d + j] * down[j] - mean[j];

			scale[j] += c * c;
		}
	for (j = 0; j < d; j++)
	{
		scale[j] = sqrt(scale[j] / n);
		scale[j] = scale[j] > 0.0 ? scale[j] * up[j] : 1.0;
		mean[j] *= up[j];
	}

	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
		{
			double		v = ntk_standardize_value(X[(size_t) i * d + j], mean[j], scale[j]);

			if (!isfinite(v))
			{
				*bad_feature = j;
				return NTK_OVERFLOW;
			}
			X[(size_t) i * d + j] = v;
		}
	return NTK_OK;
}

NtkStatus
ntk_finite_time(const double *V, const double *w, int n, double s,
				const double *Y, int k, double *alpha, double *train,
				double *work)
{
	int			i;
	int			j;

	if (n < 1 || k < 1)
		return NTK_BAD_DIMENSION;

	/* work = V^T Y */
	cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, n, k, n, 1.0,
				V, n, Y, n, 0.0, work, n);
	if (train)
	{
		for (j = 0; j < k; j++)
			for (i = 0; i < n; i++)
				alpha[i + (size_t) j * n] = -expm1(-fmax(w[i], 0.0) * s) * work[i + (size_t) j * n];
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, k, n, 1.0,
					V, n, alpha, n, 0.0, train, n);
	}
	for (j = 0; j < k; j++)
		for (i = 0; i < n; i++)
		{
			double		f = w[i] == 0.0 ? s : -expm1(-fmax(w[i], 0.0) * s) / fabs(w[i]);

			work[i + (size_t) j * n] *= f;
		}
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, k, n, 1.0,
				V, n, work, n, 0.0, alpha, n);
	return NTK_OK;
}

NtkStatus
ntk_loo_diag(const double *V, const double *w, int n, double lambda, double *g)
{
	int			i;
	int			j;

	if (n < 1)
		return NTK_BAD_DIMENSION;
	for (j = 0; j < n; j++)
		if (!(w[j] + lambda > 0.0))
			return NTK_NOT_POSITIVE_DEFINITE;

	for (i = 0; i < n; i++)
		g[i] = 0.0;
	for (j = 0; j < n; j++)
	{
		const double *vj = V + (size_t) j * n;
		double		c = 1.0 / (w[j] + lambda);

		for (i = 0; i < n; i++)
			g[i] += vj[i] * vj[i] * c;
	}
	return NTK_OK;
}

NtkStatus
ntk_loo_sse(const double *V, const double *w, int n, const double *VtY,
			int k, double lambda, const double *g, double *work, double *sse)
{
	double	   *C = work;		/* n x k: diag(1 / (w + lambda)) V^T Y */
	double	   *alpha = work + (size_t) n * k;	/* V C */
	double		sum = 0.0;
	int			i;
	int			j;

	if (n < 1 || k < 1)
		return NTK_BAD_DIMENSION;

	for (j = 0; j < k; j++)
		for (i = 0; i < n; i++)
			C[i + (size_t) j * n] = VtY[i + (size_t) j * n] / (w[i] + lambda);
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, k, n, 1.0,
				V, n, C, n, 0.0, alpha, n);
	for (j = 0; j < k; j++)
		for (i = 0; i < n; i++)
		{
			double		r = alpha[i + (size_t) j * n] / g[i];

			sum += r * r;
		}
	*sse = sum;
	return NTK_OK;
}

double
ntk_posterior_variance(const double *F, int n, int is_chol,
					   const double *kvec, double kxx, double *work)
{
	double		v;

	if (is_chol)
	{
		memcpy(work, kvec, (size_t) n * sizeof(double));
		cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit,
					n, F, n, work, 1);
	}
	else
		cblas_dgemv(CblasColMajor, CblasTrans, n, n, 1.0, F, n, kvec, 1,
					0.0, work, 1);
	v = kxx - cblas_ddot(n, work, 1, work, 1);
	/* clamps rounding below zero; a NaN (a damaged factor) stays one */
	return v < 0.0 ? 0.0 : v;
}

NtkStatus
ntk_train_accuracy(const double *P, int n, int k, const int *label,
				   double *accuracy)
{
	int			correct = 0;
	size_t		i;
	int			j;

	if (n < 1 || k < 1)
		return NTK_BAD_DIMENSION;
	for (i = 0; i < (size_t) n; i++)
	{
		int			best = 0;

		for (j = 1; j < k; j++)
			if (P[i + (size_t) j * n] > P[i + (size_t) best * n])
				best = j;
		correct += best == label[i];
	}
	*accuracy = (double) correct / n;
	return NTK_OK;
}

NtkStatus
ntk_train_rmse(const double *P, const double *Y, int n, int k, double *rmse)
{
	size_t		len = (size_t) n * (size_t) k;
	double		big = 0.0;
	double		ss = 0.0;
	size_t		i;

	if (n < 1 || k < 1)
		return NTK_BAD_DIMENSION;
	for (i = 0; i < len; i++)
		big = fmax(big, fabs(P[i] - Y[i]));
	if (big > 0.0)
		for (i = 0; i < len; i++)
		{
			double		r = (P[i] - Y[i]) / big;

			ss += r * r;
		}
	*rmse = big * sqrt(ss / ((double) n * k));
	return NTK_OK;
}

double
ntk_fit_peak_bytes(double n, double d, double k, const NtkFitOptions *opts)
{
	NtkParams	p = opts->params;
	double		grams;
	int			i;

	if (opts->method == NTK_METHOD_NYSTROM)
		return ntk_nystrom_fit_peak_bytes(n, d, k, opts->centers,
										  ntk_options_searching(opts), &opts->params);
	/* the deepest network the fit builds: the largest depth candidate */
	for (i = 0; i < opts->n_depths; i++)
		if (opts->depths[i] > p.depth)
			p.depth = opts->depths[i];
	/* an eigendecomposition: the matrix, its eigenvectors, the merges' workspace */
	grams = (opts->has_t || ntk_options_searching(opts)) ? 3.0 : 1.0;
	/* Gram(s), inputs, targets, coefficients and scratch, diagonal states and tables */
	return 8.0 * (grams * n * n + n * d + 4.0 * n * k + 2.0 * n * (double) ntk_diag_len(&p));
}

double
ntk_fit_packed_peak_bytes(double n, double d, double k, const NtkFitOptions *opts)
{
	double		full = opts->variance ? n * n : 0.0;

	if (opts->has_t || ntk_options_searching(opts))
		return ntk_fit_peak_bytes(n, d, k, opts);
	/* the lower triangle, the stored factor, inputs, targets, ... as above */
	return 8.0 * (n * (n + 1.0) / 2.0 + full + n * d + 4.0 * n * k +
				  2.0 * n * (double) ntk_diag_len(&opts->params));
}
