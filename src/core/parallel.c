/*-------------------------------------------------------------------------
 *
 * parallel.c
 *	  Worker threads of the recursion, OpenBLAS's thread count, and the
 *	  backend's stop flags that the workers read.
 *
 *-------------------------------------------------------------------------
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* dladdr, RTLD_DEFAULT */
#endif

#include "parallel.h"

#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>

static int	threads = 1;
const volatile sig_atomic_t *ntk_stop_flags[2];

void
ntk_set_stop_flags(const volatile sig_atomic_t *a, const volatile sig_atomic_t *b)
{
	ntk_stop_flags[0] = a;
	ntk_stop_flags[1] = b;
}

void
ntk_set_threads(int n)
{
	threads = n < 1 ? 1 : (n > NTK_MAX_THREADS ? NTK_MAX_THREADS : n);
}

int
ntk_get_threads(void)
{
	return threads;
}

/*
 * OpenBLAS's pthreads server keeps its idle threads spinning on sched_yield
 * for ~2^28 cycles after each threaded call, so when the recursion's workers
 * start right after a dgemm those threads take a share of the cores from
 * them (sched_yield was 12% of a batch prediction's samples).  The library's
 * exported blas_thread_shutdown_ ends them at once, and its next threaded
 * call starts them again, as it does after a fork.  Older releases' lazy
 * restart does not cover openblas_set_num_threads raising the count while
 * the threads are gone (it creates the new ones, then the restart all of
 * them again; 0.3.21 restarts first), so every count goes through
 * ntk_blas_set_threads, which restarts them itself before raising.  Only
 * for the pthreads build and only if its symbols are found: with any other
 * BLAS both calls do what openblas_set_num_threads alone does.
 */
static struct
{
	int			resolved;
	int			(*shutdown) (void);
	int			(*init) (void);
	int		   *count;			/* blas_num_threads */
}			blas_server;

/* Whether addr lies in the shared object loaded at base. */
static int
InObject(void *addr, void *base)
{
	Dl_info		info;

	return addr != NULL && dladdr(addr, &info) != 0 && info.dli_fbase == base;
}

static void
ResolveBlasServer(void)
{
	Dl_info		blas;

	if (blas_server.resolved)
		return;
	blas_server.resolved = 1;
	if (openblas_get_parallel() != 1 ||
		dladdr((void *) openblas_set_num_threads, &blas) == 0)
		return;
	/* by global lookup (no dlopen, which allocates), from that same library */
	blas_server.shutdown = (int (*) (void)) dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
	blas_server.init = (int (*) (void)) dlsym(RTLD_DEFAULT, "blas_thread_init");
	blas_server.count = (int *) dlsym(RTLD_DEFAULT, "blas_num_threads");
	if (!InObject((void *) blas_server.shutdown, blas.dli_fbase) ||
		!InObject((void *) blas_server.init, blas.dli_fbase) ||
		!InObject((void *) blas_server.count, blas.dli_fbase))
		blas_server.shutdown = NULL;
}

void
ntk_blas_set_threads(int n)
{
	ResolveBlasServer();
	if (blas_server.shutdown && n > *blas_server.count)
		blas_server.init();
	openblas_set_num_threads(n);
}

/* Lets OpenBLAS's idle threads go before the workers start (see above). */
void
ntk_blas_rest(void)
{
	ResolveBlasServer();
	if (blas_server.shutdown)
		blas_server.shutdown();
}

typedef struct Worker
{
	NtkWorkFn	fn;
	void	   *arg;
	int			index;
	int			count;
} Worker;

static void *
WorkerMain(void *arg)
{
	Worker	   *w = (Worker *) arg;

	w->fn(w->arg, w->index, w->count);
	return NULL;
}

/*
 * Runs fn on nworkers shares: the caller's thread takes share 0.  If a thread
 * cannot be created its share runs on the caller's thread instead.
 */
void
ntk_run_parallel(NtkWorkFn fn, void *arg, int nworkers)
{
	pthread_t	tids[NTK_MAX_THREADS];
	Worker		ws[NTK_MAX_THREADS];
	int			started[NTK_MAX_THREADS];
	sigset_t	all;
	sigset_t	old;
	int			i;

	if (nworkers <= 1)
	{
		fn(arg, 0, 1);
		return;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 1; i < nworkers; i++)
	{
		ws[i].fn = fn;
		ws[i].arg = arg;
		ws[i].index = i;
		ws[i].count = nworkers;
		started[i] = pthread_create(&tids[i], NULL, WorkerMain, &ws[i]) == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	fn(arg, 0, nworkers);
	for (i = 1; i < nworkers; i++)
	{
		if (started[i])
			pthread_join(tids[i], NULL);
		else
			fn(arg, i, nworkers);
	}
}
