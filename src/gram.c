/*-------------------------------------------------------------------------
 *
 * gram.c
 *	  Kernel matrices: dot products by BLAS in panels, then the layer
 *	  recursion applied to each panel while it is in cache.
 *
 * Panels of NTK_PANEL columns keep every BLAS call short, so a progress
 * callback (and with it cancellation) runs at least a few times a second
 * even for n = 20000, d = 784.
 *
 *-------------------------------------------------------------------------
 */
#include "gram.h"

#include <cblas.h>
#include <math.h>

#define NTK_PANEL 256

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

/* Turns dot products in place into kernel values for one column. */
static NtkStatus
RecurseColumn(const NtkParams *p, NtkKernelKind kind, int d,
			  double *col, int count, const double *rowdiag,
			  const double *coldiag, size_t len)
{
	int			i;

	for (i = 0; i < count; i++)
	{
		double		nngp;
		double		ntk;
		NtkStatus	st;

		st = ntk_pair(p, col[i], d, rowdiag + (size_t) i * len, coldiag,
					  &nngp, &ntk);
		if (st != NTK_OK)
			return st;
		col[i] = kind == NTK_KERNEL_NNGP ? nngp : ntk;
	}
	return NTK_OK;
}

NtkStatus
ntk_gram_sym(const NtkParams *p, NtkKernelKind kind,
			 const double *X, int n, int d, const double *diag, double *K,
			 NtkProgressFn progress, void *arg)
{
	size_t		len = ntk_diag_len(p);
	size_t		ld = (size_t) n;
	double		total = (double) n * (n + 1) / 2.0;
	double		done = 0.0;
	int			jb;

	if (n < 1 || d < 1)
		return NTK_BAD_DIMENSION;

	for (jb = 0; jb < n; jb += NTK_PANEL)
	{
		int			w = n - jb < NTK_PANEL ? n - jb : NTK_PANEL;
		int			rows = n - jb;
		int			j;

		/* K[jb:n, jb:jb+w] = X[jb:n] X[jb:jb+w]^T */
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans,
					rows, w, d, 1.0,
					X + (size_t) jb * d, d,
					X + (size_t) jb * d, d,
					0.0, K + jb + (size_t) jb * ld, (int) ld);

		for (j = jb; j < jb + w; j++)
		{
			double	   *col = K + j + (size_t) j * ld;
			const double *dj = diag + (size_t) j * len;
			NtkStatus	st;

			col[0] = ntk_diag_value(p, kind, dj);
			st = RecurseColumn(p, kind, d, col + 1, n - j - 1,
							   diag + (size_t) (j + 1) * len, dj, len);
			if (st != NTK_OK)
				return st;
		}
		done += (double) w * (rows - (w - 1) / 2.0);
		if (progress && progress(arg, done / total))
			return NTK_CANCELED;
	}
	return NTK_OK;
}

NtkStatus
ntk_gram_cross(const NtkParams *p, NtkKernelKind kind,
			   const double *Q, int m, const double *qdiag,
			   const double *X, int n, const double *xdiag,
			   int d, double *K, NtkProgressFn progress, void *arg)
{
	size_t		len = ntk_diag_len(p);
	int			ib;

	if (m < 1 || n < 1 || d < 1)
		return NTK_BAD_DIMENSION;

	for (ib = 0; ib < m; ib += NTK_PANEL)
	{
		int			h = m - ib < NTK_PANEL ? m - ib : NTK_PANEL;
		int			i;

		/* rows ib..ib+h of K (row-major) = column-major X Q[ib:ib+h]^T */
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans,
					n, h, d, 1.0, X, d, Q + (size_t) ib * d, d,
					0.0, K + (size_t) ib * n, n);
		for (i = ib; i < ib + h; i++)
		{
			NtkStatus	st;

			st = RecurseColumn(p, kind, d, K + (size_t) i * n, n, xdiag,
							   qdiag + (size_t) i * len, len);
			if (st != NTK_OK)
				return st;
		}
		if (progress && progress(arg, (double) (ib + h) / m))
			return NTK_CANCELED;
	}
	return NTK_OK;
}

NtkStatus
ntk_predict_point(const NtkParams *p, NtkKernelKind kind,
				  const double *X, int n, int d, const double *xdiag,
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
	if ((st = RecurseColumn(p, kind, d, kbuf, n, xdiag, qdiag,
							ntk_diag_len(p))) != NTK_OK)
		return st;
	cblas_dgemv(CblasColMajor, CblasTrans, n, k, 1.0, alpha, n, kbuf, 1,
				0.0, out, 1);
	return NTK_OK;
}
