/*-------------------------------------------------------------------------
 *
 * compute_child.h
 *	  Uninterruptible numerics in a child process that a cancel kills.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_COMPUTE_CHILD_H
#define NTK_COMPUTE_CHILD_H

#include "kernel.h"

/*
 * ntk_eigh (src/core/eigh.h) in a forked child: A = V diag(w) V^T of the
 * symmetric n x n matrix A (column-major, lower triangle read), A
 * overwritten by V, w by the ascending eigenvalues; bit-identical to
 * ntk_eigh and LAPACKE_dsyevd in the backend.  The caller needs no
 * workspace: the child allocates its own (about 2 n^2 doubles) and A's
 * pages are given back while the child runs, so the peak stays at dsyevd's
 * 3 n^2 doubles.  The backend polls the child every 10 ms, calling progress
 * (the child's last step: fractions 0, 0.35, 0.55) and CHECK_FOR_INTERRUPTS;
 * on cancel, error or process exit the child is killed and reaped.
 *
 * Return: NTK_OK, NTK_CANCELED (progress asked to stop; A is then
 * undefined), NTK_LAPACK_ERROR, NTK_BAD_DIMENSION.  Raises an error if the
 * child cannot be started, runs out of memory or dies of a signal.
 */
extern NtkStatus ntk_eigh_child(double *A, int n, double *w,
								NtkProgressFn progress, void *arg);

#endif							/* NTK_COMPUTE_CHILD_H */
