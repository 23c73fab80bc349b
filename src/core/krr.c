/*-------------------------------------------------------------------------
 *
 * krr.c
 *	  Kernel regression from a factored or decomposed Gram: gradient flow
 *	  stopped at a finite time, leave-one-out error, posterior variance.
 *
 *-------------------------------------------------------------------------
 */
#include "krr.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

void
ntk_finite_time(const double *V, const double *w, int n, double s,
				const double *Y, int k, double *alpha, double *train,
				double *work)
{
	int			i;
	int			j;

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
}

int
ntk_loo_diag(const double *V, const double *w, int n, double lambda, double *g)
{
	int			i;
	int			j;

	for (j = 0; j < n; j++)
		if (!(w[j] + lambda > 0.0))
			return 0;

	for (i = 0; i < n; i++)
		g[i] = 0.0;
	for (j = 0; j < n; j++)
	{
		const double *vj = V + (size_t) j * n;
		double		c = 1.0 / (w[j] + lambda);

		for (i = 0; i < n; i++)
			g[i] += vj[i] * vj[i] * c;
	}
	return 1;
}

double
ntk_loo_sse(const double *V, const double *w, int n, const double *VtY,
			int k, double lambda, const double *g, double *work)
{
	double	   *C = work;		/* n x k: diag(1 / (w + lambda)) V^T Y */
	double	   *alpha = work + (size_t) n * k;	/* V C */
	double		sse = 0.0;
	int			i;
	int			j;

	for (j = 0; j < k; j++)
		for (i = 0; i < n; i++)
			C[i + (size_t) j * n] = VtY[i + (size_t) j * n] / (w[i] + lambda);
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, k, n, 1.0,
				V, n, C, n, 0.0, alpha, n);
	for (j = 0; j < k; j++)
		for (i = 0; i < n; i++)
		{
			double		r = alpha[i + (size_t) j * n] / g[i];

			sse += r * r;
		}
	return sse;
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
