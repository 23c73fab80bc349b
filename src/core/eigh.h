/*-------------------------------------------------------------------------
 *
 * eigh.h
 *	  Symmetric eigendecomposition (pure numerics).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_EIGH_H
#define NTK_EIGH_H

#include "kernel.h"

/*
 * Eigendecomposition A = V diag(w) V^T of the symmetric n x n matrix A
 * (column-major, lower triangle read); A is overwritten by V, w gets the
 * eigenvalues in ascending order.  work holds ntk_eigh_work_len(n) doubles
 * (about 2 n^2).  progress, if not NULL, is called between the steps
 * (fractions 0, 0.35, 0.55, 1).
 *
 * Return: NTK_OK, NTK_LAPACK_ERROR if a LAPACK step failed, NTK_CANCELED,
 * NTK_BAD_DIMENSION for n < 1.
 * Notes: LAPACK's dsyevd in its three steps (dsytrd, dstedc, dormtr) with
 * dsyevd's scaling and workspace, so the results are bit-identical to
 * LAPACKE_dsyevd's on the same BLAS thread count.  Above order 46339, where
 * dstedc's workspace passes LAPACK's 32-bit int, the tridiagonal step is
 * dstemr's (NTK_LAPACK_ERROR on very tight clusters, never a wrong answer).
 * No step can be interrupted: a fit runs this in a child process that it
 * kills on cancel (src/compute_child.c, docs/eigensolver.md).
 */
extern size_t ntk_eigh_work_len(int n);
extern NtkStatus ntk_eigh(double *A, int n, double *w, double *work,
						  NtkProgressFn progress, void *arg);

#endif							/* NTK_EIGH_H */
