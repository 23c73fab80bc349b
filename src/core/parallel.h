/*-------------------------------------------------------------------------
 *
 * parallel.h
 *	  Worker threads of the recursion, OpenBLAS's thread count, and the
 *	  backend's stop flags (pure C, no PostgreSQL header).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_PARALLEL_H
#define NTK_PARALLEL_H

#include <signal.h>

#define NTK_MAX_THREADS 64

/*
 * Flags that ask a step to stop early (the backend's cancel and die flags):
 * the recursion's workers read them between rows and columns, so a cancel
 * does not wait for the end of a step however long the step turns out to be.
 * A step that stopped returns NTK_CANCELED.  Process-wide; NULL to unset.
 */
extern void ntk_set_stop_flags(const volatile sig_atomic_t *a,
							   const volatile sig_atomic_t *b);
extern const volatile sig_atomic_t *ntk_stop_flags[2];

/* Whether the backend asked to stop; cheap enough per row. */
static inline int
ntk_stop_requested(void)
{
	return (ntk_stop_flags[0] && *ntk_stop_flags[0]) ||
		(ntk_stop_flags[1] && *ntk_stop_flags[1]);
}

/* Threads the recursion may use (1 .. NTK_MAX_THREADS); process-wide. */
extern void ntk_set_threads(int n);
extern int	ntk_get_threads(void);

/* openblas_set_num_threads, also after idle BLAS threads were ended here */
extern void ntk_blas_set_threads(int n);

/* Lets OpenBLAS's idle threads go, before worker threads start. */
extern void ntk_blas_rest(void);

/*
 * Runs fn on nworkers shares: share 0 on the caller's thread, the others on
 * threads with every signal blocked (the backend's handlers stay on its own
 * thread).  If a thread cannot be created its share runs on the caller's.
 */
typedef void (*NtkWorkFn) (void *arg, int worker, int nworkers);
extern void ntk_run_parallel(NtkWorkFn fn, void *arg, int nworkers);

#endif							/* NTK_PARALLEL_H */
