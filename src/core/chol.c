/*-------------------------------------------------------------------------
 *
 * chol.c
 *	  Interruptible blocked Cholesky factorization and triangular solves.
 *
 *-------------------------------------------------------------------------
 */
#include "chol.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

/* diagonal block size and trailing-update chunk width */
#define NTK_CHOL_BLOCK 512
#define NTK_CHOL_CHUNK 1024

void
ntk_add_diagonal(double *A, int n, double lambda)
{
	int			i;

	for (i = 0; i < n; i++)
		A[i + (size_t) i * n] += lambda;
}

NtkStatus
ntk_cholesky(double *A, int n, int *failed_at,
			 NtkProgressFn progress, void *arg)
{
	size_t		ld = (size_t) n;
	double		total = (double) n * n * n / 6.0;	/* multiply-adds of the updates */
	double		done = 0.0;
	int			kb;

	*failed_at = 0;
	for (kb = 0; kb < n; kb += NTK_CHOL_BLOCK)
	{
		int			b = n - kb < NTK_CHOL_BLOCK ? n - kb : NTK_CHOL_BLOCK;
		int			rest = n - kb - b;
		double	   *A11 = A + kb + (size_t) kb * ld;
		double	   *A21 = A11 + b;
		lapack_int	info;
		int			cb;

		info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', b, A11, n);
		if (info > 0)
		{
			*failed_at = kb + info;
			return NTK_NOT_POSITIVE_DEFINITE;
		}
		if (info < 0)
			return NTK_LAPACK_ERROR;

		/*
		 * OpenBLAS's dpotrf, unlike the reference one, lets a NaN pivot
		 * through, and an infinite one factors "successfully": a NaN or Inf
		 * anywhere in the block's lower triangle ends on its diagonal.
		 */
		for (cb = 0; cb < b; cb++)
			if (!isfinite(A11[cb + (size_t) cb * ld]))
			{
				*failed_at = kb + cb + 1;
				return NTK_NOT_POSITIVE_DEFINITE;
			}
		if (rest == 0)
			break;

		/* A21 := A21 L11^-T */
		cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans,
					CblasNonUnit, rest, b, 1.0, A11, n, A21, n);

		/* A22 -= A21 A21^T, lower triangle, in column chunks */
		for (cb = 0; cb < rest; cb += NTK_CHOL_CHUNK)
		{
			int			w = rest - cb < NTK_CHOL_CHUNK ? rest - cb : NTK_CHOL_CHUNK;
			double	   *C = A21 + cb + (size_t) (b + cb) * ld;

			cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, w, b,
						-1.0, A21 + cb, n, 1.0, C, n);
			if (rest - cb - w > 0)
				cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans,
							rest - cb - w, w, b, -1.0,
							A21 + cb + w, n, A21 + cb, n,
							1.0, C + w, n);
			done += (double) b * w * (rest - cb - w / 2.0);
			if (progress && progress(arg, done / total))
				return NTK_CANCELED;
		}
	}
	if (progress)
		(void) progress(arg, 1.0);
	return NTK_OK;
}

void
ntk_cholesky_solve(const double *L, int n, double *B, int k)
{
	cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans,
				CblasNonUnit, n, k, 1.0, L, n, B, n);
	cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasTrans,
				CblasNonUnit, n, k, 1.0, L, n, B, n);
}

