/*-------------------------------------------------------------------------
 *
 * chol.h
 *	  Blocked, interruptible Cholesky factorization and solves (pure numerics).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_CHOL_H
#define NTK_CHOL_H

#include "kernel.h"

/*
 * Adds lambda to the diagonal of the column-major n x n matrix A.
 */
extern void ntk_add_diagonal(double *A, int n, double lambda);

/*
 * Cholesky factorization A = L L^T in place (column-major, lower triangle,
 * leading dimension n), blocked so that progress (and cancellation) is
 * reported between panels.
 *
 * Return: NTK_OK, NTK_NOT_POSITIVE_DEFINITE (*failed_at gets the 1-based
 * order of the leading minor that is not positive definite, or whose
 * factor came out NaN or Inf: a NaN or Inf in the matrix), NTK_CANCELED.
 * Notes: right-looking blocked algorithm (Golub & Van Loan, Matrix
 * Computations, 4th ed., section 4.2.9): dpotrf on the diagonal block, dtrsm
 * on the panel below it, dsyrk/dgemm on the trailing matrix in column chunks.
 */
extern NtkStatus ntk_cholesky(double *A, int n, int *failed_at,
							  NtkProgressFn progress, void *arg);

/*
 * Solves L L^T X = B in place for k right-hand sides (B column-major n x k).
 */
extern void ntk_cholesky_solve(const double *L, int n, double *B, int k);

#endif							/* NTK_CHOL_H */
