/*-------------------------------------------------------------------------
 *
 * threads.h
 *	  How many threads the numerics use: the settings ntk.threads and
 *	  ntk.max_threads.
 *
 * Each sets both the BLAS threads and the kernel recursion's workers (the
 * core's ntk_blas_set_threads and ntk_set_threads), skipping calls that
 * change nothing.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_THREADS_H
#define NTK_THREADS_H

/* Registers ntk.threads and ntk.max_threads (from _PG_init). */
extern void ntk_threads_init(void);

/* For big work (a fit, a batch prediction): ntk.threads, capped by ntk.max_threads. */
extern void ntk_threads_for_big_work(void);

/* One thread, for one-point predictions, where threads cost more than they give. */
extern void ntk_threads_for_one_point(void);

#endif							/* NTK_THREADS_H */
