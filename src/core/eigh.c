/*-------------------------------------------------------------------------
 *
 * eigh.c
 *	  Interruptible symmetric eigendecomposition (the steps of dsyevd).
 *
 *-------------------------------------------------------------------------
 */
#include "eigh.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

/* LAPACK's unblocked reduction, which LAPACKE does not wrap */
extern void dsytd2_(const char *uplo, const int *n, double *a, const int *lda,
					double *d, double *e, double *tau, int *info,
					size_t uplo_len);

/*
 * One panel of the blocked reduction (dlatrd's lower case, Golub & Van Loan
 * section 8.3.1): reduces the first nb columns of the rows x rows trailing
 * matrix a (leading dimension ld) and builds W (rows x nb, leading
 * dimension ld) such that the rest of the matrix is updated by
 * a22 -= V W^T + W V^T afterwards.  Column c's reflector v is left in
 * a(c+1:, c) with a(c+1, c) = 1, its beta in e[c], its scalar in tau[c].
 * Progress is reported after each column: one column is a dsymv over the
 * trailing matrix (~30 ms at n = 20000), where LAPACK's dlatrd would have
 * done the whole panel in one call.
 */
static NtkStatus
ReducePanel(double *a, int rows, int nb, size_t ld, double *e, double *tau,
			double *W, NtkProgressFn progress, void *arg, double at)
{
	int			c;

	for (c = 0; c < nb; c++)
	{
		double	   *ac = a + c + (size_t) c * ld;	/* a(c, c) */
		double	   *v = ac + 1;		/* a(c+1:, c) */
		double	   *wc = W + c + 1 + (size_t) c * ld;	/* W(c+1:, c) */
		double	   *wtop = W + (size_t) c * ld;	/* W(0:c, c), scratch */
		int			len = rows - c - 1;
		double		alpha;

		/* bring column c up to date with the panel's earlier reflectors */
		if (c > 0)
		{
			cblas_dgemv(CblasColMajor, CblasNoTrans, rows - c, c, -1.0, a + c, ld,
						W + c, ld, 1.0, ac, 1);
			cblas_dgemv(CblasColMajor, CblasNoTrans, rows - c, c, -1.0, W + c, ld,
						a + c, ld, 1.0, ac, 1);
		}
		/* H = I - tau v v^T takes a(c+2:, c) to zero */
		LAPACKE_dlarfg_work(len, v, len > 1 ? v + 1 : v, 1, tau + c);
		e[c] = *v;
		*v = 1.0;

		/* w = tau (A22 v - V (W^T v) - W (V^T v)), then w -= tau/2 (w.v) v */
		cblas_dsymv(CblasColMajor, CblasLower, len, 1.0, ac + 1 + ld, ld, v, 1,
					0.0, wc, 1);
		if (c > 0)
		{
			cblas_dgemv(CblasColMajor, CblasTrans, len, c, 1.0, W + c + 1, ld, v, 1,
						0.0, wtop, 1);
			cblas_dgemv(CblasColMajor, CblasNoTrans, len, c, -1.0, a + c + 1, ld,
						wtop, 1, 1.0, wc, 1);
			cblas_dgemv(CblasColMajor, CblasTrans, len, c, 1.0, a + c + 1, ld, v, 1,
						0.0, wtop, 1);
			cblas_dgemv(CblasColMajor, CblasNoTrans, len, c, -1.0, W + c + 1, ld,
						wtop, 1, 1.0, wc, 1);
		}
		cblas_dscal(len, tau[c], wc, 1);
		alpha = -0.5 * tau[c] * cblas_ddot(len, wc, 1, v, 1);
		cblas_daxpy(len, alpha, v, 1, wc, 1);

		if (progress && progress(arg, at))
			return NTK_CANCELED;
	}
	return NTK_OK;
}

/* columns per panel of the reduction; the last ones go unblocked (dsytd2) */
#define NTK_EIGH_PANEL 32
#define NTK_EIGH_UNBLOCKED 128
/*
 * Reflectors per back-transformation step: about 2^35 flops (4 n^2 a
 * reflector), a fraction of a second, within 32 .. 512.
 */
static int
ReflectorBlock(int n)
{
	double		k = 8589934592.0 / ((double) n * n);

	return k >= 512.0 ? 512 : (k <= 32.0 ? 32 : ((int) k / 8) * 8);
}

/*
 * LAPACK workspace after Z, d, e and tau, used by one step at a time: the
 * panel's n x NTK_EIGH_PANEL block, dormqr's n x 64 + 64 x 65 (its largest
 * block size and block reflector), or the tridiagonal eigensolver's.
 */
#define EIGH_LAPACK_WORK(n) ((size_t) (n) * 64 + 64 * 65)

size_t
ntk_eigh_work_len(int n)
{
	size_t		step = ntk_tridiag_work_len(n);

	if (step < EIGH_LAPACK_WORK(n))
		step = EIGH_LAPACK_WORK(n);
	return (size_t) n * n + 3 * (size_t) n + step;
}

NtkStatus
ntk_eigh(double *A, int n, double *w, double *work,
		 NtkProgressFn progress, void *arg)
{
	size_t		ld = (size_t) n;
	double	   *Z = work;
	double	   *d = Z + (size_t) n * n;
	double	   *e = d + n;
	double	   *tau = e + n;
	double	   *W = tau + n;
	/*
	 * progress: the reduction is 0.35 of the time, the tridiagonal
	 * eigenproblem 0.2, the back-transformation 0.45
	 */
	double		reduce_total = (double) n * n * n / 3.0;
	double		done = 0.0;
	int			nb = NTK_EIGH_PANEL;
	int			ldn = n;
	int			info = 0;
	NtkStatus	st;
	int			i;
	int			jb;
	int			rb = ReflectorBlock(n);

	if (n < 1)
		return NTK_BAD_DIMENSION;

	/* A = Q T Q^T: the reflectors stay in A below the subdiagonal */
	for (i = 0; i < n - NTK_EIGH_UNBLOCKED; i += nb)
	{
		int			rows = n - i;
		int			j;

		st = ReducePanel(A + i + (size_t) i * ld, rows, nb, ld, e + i, tau + i, W,
						 progress, arg, 0.35 * fmin(done / reduce_total, 1.0));
		if (st != NTK_OK)
			return st;
		cblas_dsyr2k(CblasColMajor, CblasLower, CblasNoTrans, rows - nb, nb, -1.0,
					 A + i + nb + (size_t) i * ld, n, W + nb, n,
					 1.0, A + i + nb + (size_t) (i + nb) * ld, n);
		for (j = i; j < i + nb; j++)
		{
			A[j + 1 + (size_t) j * ld] = e[j];
			d[j] = A[j + (size_t) j * ld];
		}
		done += (double) nb * rows * rows;
		if (progress && progress(arg, 0.35 * fmin(done / reduce_total, 1.0)))
			return NTK_CANCELED;
	}
	{
		int			rows = n - i;

		dsytd2_("L", &rows, A + i + (size_t) i * ld, &ldn, d + i, e + i, tau + i,
				&info, 1);
	}
	if (info != 0)
		return NTK_LAPACK_ERROR;
	if (progress && progress(arg, 0.35))
		return NTK_CANCELED;

	/* T = S diag(w) S^T, S into Z */
	st = ntk_tridiag_eig(n, d, e, Z, n, W, progress, arg, 0.35, 0.55);
	if (st != NTK_OK)
		return st;
	memcpy(w, d, (size_t) n * sizeof(double));

	/*
	 * V = Q S with Q = H(0) H(1) ... H(n - 2), reflector j stored in A below
	 * row j + 1 of column j (dormtr's lower case): blocks of reflectors from
	 * the last to the first, each applied to every column at once by dormqr
	 * (so that each call is as efficient as dormtr's single one).  The
	 * LAPACKE _work variants skip LAPACKE's NaN scans of the inputs, which
	 * would read the upper triangle of A that no one wrote.
	 */
	for (jb = n >= 2 ? ((n - 2) / rb) * rb : -1; jb >= 0; jb -= rb)
	{
		int			k = n - 1 - jb < rb ? n - 1 - jb : rb;
		double		done_rows = 1.0 - (double) jb / n;

		info = LAPACKE_dormqr_work(LAPACK_COL_MAJOR, 'L', 'N', n - 1 - jb, n, k,
								   A + jb + 1 + (size_t) jb * ld, n, tau + jb,
								   Z + jb + 1, n, W, (lapack_int) EIGH_LAPACK_WORK(n));
		if (info != 0)
			return NTK_LAPACK_ERROR;
		/* a block's work goes as its rows: done so far ~ (n - jb)^2 */
		if (progress && progress(arg, jb == 0 ? 1.0 : 0.55 + 0.45 * done_rows * done_rows))
			return NTK_CANCELED;
	}
	if (n < 2 && progress && progress(arg, 1.0))
		return NTK_CANCELED;
	memcpy(A, Z, (size_t) n * n * sizeof(double));
	return NTK_OK;
}

