/*-------------------------------------------------------------------------
 *
 * threads.c
 *	  The thread settings ntk.threads and ntk.max_threads, applied to the
 *	  BLAS and to the kernel recursion.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "gram.h"
#include "threads.h"

#include <cblas.h>

static int	ntk_threads = 0;
static int	ntk_max_threads = 0;

void
ntk_threads_init(void)
{
	DefineCustomIntVariable("ntk.threads",
							"Threads a fit or batch prediction may use.",
							"0 means one per core.",
							&ntk_threads,
							0, 0, 1024,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	/* a cap on the setting above that only a superuser can raise */
	DefineCustomIntVariable("ntk.max_threads",
							"Most threads a fit or batch prediction may use, whatever ntk.threads says.",
							"0 means one per core.",
							&ntk_max_threads,
							0, 0, 1024,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
}

/* Sets the BLAS and recursion thread counts, skipping calls that change nothing. */
static void
SetThreads(int n)
{
	static int	current = -1;

	if (n == current)
		return;
	ntk_blas_set_threads(n);
	ntk_set_threads(n);
	current = n;
}

void
ntk_threads_for_big_work(void)
{
	int			cores = openblas_get_num_procs();
	int			cap = ntk_max_threads > 0 ? ntk_max_threads : cores;
	int			want = ntk_threads > 0 ? ntk_threads : cores;

	SetThreads(Max(1, Min(want, cap)));
}

void
ntk_threads_for_one_point(void)
{
	SetThreads(1);
}
