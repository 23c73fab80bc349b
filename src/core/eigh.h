/*-------------------------------------------------------------------------
 *
 * eigh.h
 *	  Interruptible symmetric eigendecomposition (pure numerics).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_EIGH_H
#define NTK_EIGH_H

#include "kernel.h"

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

#endif							/* NTK_EIGH_H */
