/*-------------------------------------------------------------------------
 *
 * eigh.c
 *	  Symmetric eigendecomposition: LAPACK's dsyevd, step by step.
 *
 *-------------------------------------------------------------------------
 */
#include "eigh.h"

#include <float.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* orders whose n^2 + 4n + 1 doubles of dstedc workspace fit a LAPACK int */
#define EIGH_DSTEDC_MAX 46339

/* lapack_ints in the workspace: dstedc's 3 + 5n, or dstemr's 2n + 10n */
static size_t
IworkLen(int n)
{
	return n > EIGH_DSTEDC_MAX ? 12 * (size_t) n : 3 + 5 * (size_t) n;
}

size_t
ntk_eigh_work_len(int n)
{
	size_t		nn = (size_t) n * n;

	if (n < 1)
		return 1;
	return 2 * nn + 6 * (size_t) n + 1 +
		(IworkLen(n) * sizeof(lapack_int) + sizeof(double) - 1) / sizeof(double);
}

/* a workspace length as LAPACK's int, saturating (LAPACK uses what it needs) */
static lapack_int
LapackLen(size_t len)
{
	return len > (size_t) INT_MAX ? INT_MAX : (lapack_int) len;
}

/*
 * The eigenvectors of the tridiagonal matrix (d, e) into Z: dstedc, as
 * dsyevd does, or dstemr where dstedc's workspace would pass LAPACK's int.
 */
static lapack_int
Tridiagonal(int n, double *d, double *e, double *Z, double *work, size_t lwork,
			lapack_int *iwork)
{
	lapack_int	m;
	lapack_int	tryrac = 1;
	lapack_int	info;

	if (n <= EIGH_DSTEDC_MAX)
		return LAPACKE_dstedc_work(LAPACK_COL_MAJOR, 'I', n, d, e, Z, n,
								   work, LapackLen(lwork), iwork, 3 + 5 * n);
	/* the eigenvalues into work first: dstemr's w must not overlap d */
	info = LAPACKE_dstemr_work(LAPACK_COL_MAJOR, 'V', 'A', n, d, e, 0.0, 0.0, 0, 0,
							   &m, work, Z, n, n, iwork, &tryrac,
							   work + n, 18 * (lapack_int) n, iwork + 2 * n,
							   10 * (lapack_int) n);
	if (info == 0)
		memcpy(d, work, (size_t) n * sizeof(double));
	return info;
}

NtkStatus
ntk_eigh(double *A, int n, double *w, double *work,
		 NtkProgressFn progress, void *arg)
{
	size_t		nn;
	double	   *e;
	double	   *tau;
	double	   *Z;
	double	   *wk2;
	size_t		lwk2;
	lapack_int *iwork;
	double		safmin = DBL_MIN;
	double		smlnum = safmin / DBL_EPSILON;
	double		rmin = sqrt(smlnum);
	double		rmax = sqrt(1.0 / smlnum);
	double		anrm;
	double		sigma = 1.0;
	lapack_int	info;

	if (n < 1)
		return NTK_BAD_DIMENSION;
	/* dsyevd's layout: e, tau, the eigenvectors Z, then the steps' workspace */
	nn = (size_t) n * n;
	e = work;
	tau = e + n;
	Z = tau + n;
	wk2 = Z + nn;
	lwk2 = nn + 4 * (size_t) n + 1;
	iwork = (lapack_int *) (wk2 + lwk2);
	if (progress && progress(arg, 0.0))
		return NTK_CANCELED;
	if (n == 1)
	{
		w[0] = A[0];
		A[0] = 1.0;
		return progress && progress(arg, 1.0) ? NTK_CANCELED : NTK_OK;
	}

	/* dsyevd's scaling of a matrix whose norm is too small or too large */
	anrm = LAPACKE_dlansy_work(LAPACK_COL_MAJOR, 'M', 'L', n, A, n, NULL);
	if (anrm > 0.0 && anrm < rmin)
		sigma = rmin / anrm;
	else if (anrm > rmax)
		sigma = rmax / anrm;
	if (sigma != 1.0 &&
		LAPACKE_dlascl_work(LAPACK_COL_MAJOR, 'L', 0, 0, 1.0, sigma, n, n, A, n) != 0)
		return NTK_LAPACK_ERROR;

	/* A = Q T Q^T: T into (w, e), Q's reflectors into A and tau */
	info = LAPACKE_dsytrd_work(LAPACK_COL_MAJOR, 'L', n, A, n, w, e, tau,
							   Z, LapackLen(nn + lwk2));
	if (info != 0)
		return NTK_LAPACK_ERROR;
	if (progress && progress(arg, 0.35))
		return NTK_CANCELED;

	/* T = S diag(w) S^T, S into Z */
	if (Tridiagonal(n, w, e, Z, wk2, lwk2, iwork) != 0)
		return NTK_LAPACK_ERROR;
	if (progress && progress(arg, 0.55))
		return NTK_CANCELED;

	/* V = Q S into Z, then A */
	info = LAPACKE_dormtr_work(LAPACK_COL_MAJOR, 'L', 'L', 'N', n, n, A, n, tau,
							   Z, n, wk2, LapackLen(lwk2));
	if (info != 0)
		return NTK_LAPACK_ERROR;
	memcpy(A, Z, nn * sizeof(double));
	if (sigma != 1.0)
	{
		double		inv = 1.0 / sigma;
		int			i;

		for (i = 0; i < n; i++)
			w[i] *= inv;
	}
	if (progress && progress(arg, 1.0))
		return NTK_CANCELED;
	return NTK_OK;
}
