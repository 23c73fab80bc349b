/*-------------------------------------------------------------------------
 *
 * fit_worker.c
 *	  A fit's Cholesky factorization on a worker thread while the backend
 *	  stores the model's training inputs.
 *
 * The backend knows the training inputs before the factorization: storing
 * is the backend's work alone (0.3-0.6 s for n = 8000, d = 784, where the
 * factorization takes 2 s), so the factorization starts on one BLAS thread
 * fewer and takes all of them after the share of its work that one thread
 * does in about the time of the store.  That share comes from the sizes
 * alone, not from when the store ends: OpenBLAS rounds some products
 * differently on different thread counts, and a fit must give the same model
 * every time.  The worker makes no PostgreSQL call and has every signal
 * blocked; the backend waits for it in steps of 0.1 s, checking for
 * interrupts, and on any error (or process exit) tells it to stop at its next
 * check and joins it before the Gram buffer can be freed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "miscadmin.h"
#include "storage/ipc.h"

#include "chol.h"
#include "fit.h"
#include "gram.h"
#include "model.h"
#include "errors.h"
#include "memory.h"
#include "packed.h"
#include "threads.h"

#define OVERLAP_MIN_ROWS 1024	/* below, factorizing is too short to bother */

/*
 * Storing one byte of training inputs costs about as long as this many
 * multiply-adds of the factorization on one thread (measured here: ~10 ns a
 * byte through SPI and TOAST, ~2e10 multiply-adds a second on one thread).
 * A wrong value costs speed only: an idle core until the switch, or three
 * threads on two cores after it.
 */
#define STORE_FMA_PER_BYTE 200.0

typedef struct CholTask
{
	double	   *K;
	int			n;
	bool		packed;			/* K is the lower triangle (packed.h) */
	int			threads;		/* BLAS threads after switch_at */
	double		switch_at;		/* fraction of the work done on one fewer */
	bool		raised;			/* the worker's own: threads in use */
	NtkStatus	status;			/* the worker's result ... */
	int			failed_at;		/* ... read after the join */
	pthread_t	tid;
	pthread_mutex_t lock;
	pthread_cond_t finished_cv;
	/* under lock */
	bool		cancel;			/* stop at the next check */
	bool		finished;
	double		fraction;
} CholTask;

static CholTask *running_task = NULL;	/* for CholTaskAtExit */

/* NtkProgressFn on the worker: no PostgreSQL calls here. */
static int
CholTaskProgress(void *arg, double fraction)
{
	CholTask   *t = (CholTask *) arg;
	bool		cancel;

	pthread_mutex_lock(&t->lock);
	t->fraction = fraction;
	cancel = t->cancel;
	pthread_mutex_unlock(&t->lock);
	if (!t->raised && fraction >= t->switch_at)
	{
		ntk_blas_set_threads(t->threads);
		t->raised = true;
	}
	return cancel;
}

static void *
CholTaskMain(void *arg)
{
	CholTask   *t = (CholTask *) arg;

	if (t->packed)
		t->status = ntk_packed_cholesky(t->K, t->n, &t->failed_at, CholTaskProgress, t);
	else
		t->status = ntk_cholesky(t->K, t->n, &t->failed_at, CholTaskProgress, t);
	pthread_mutex_lock(&t->lock);
	t->finished = true;
	pthread_cond_signal(&t->finished_cv);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* Joins the worker and releases what it shared with the backend. */
static void
CholTaskJoin(CholTask *t)
{
	pthread_join(t->tid, NULL);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->finished_cv);
	running_task = NULL;
}

/* Stops the worker at its next check and joins it. */
static void
CholTaskStop(CholTask *t)
{
	pthread_mutex_lock(&t->lock);
	t->cancel = true;
	pthread_mutex_unlock(&t->lock);
	CholTaskJoin(t);
}

/* A FATAL error exits without unwinding: the worker must not outlive us. */
static void
CholTaskAtExit(int code, Datum arg)
{
	if (running_task != NULL)
		CholTaskStop(running_task);
}

/* Starts the worker; false if no thread could be created. */
static bool
CholTaskStart(CholTask *t, double *K, int n, bool packed, double store_bytes,
			  int threads)
{
	static bool exit_hook = false;
	sigset_t	all;
	sigset_t	old;
	int			rc;

	if (!exit_hook)
	{
		before_shmem_exit(CholTaskAtExit, (Datum) 0);
		exit_hook = true;
	}
	memset(t, 0, sizeof(*t));
	t->K = K;
	t->n = n;
	t->packed = packed;
	t->threads = threads;
	t->switch_at = STORE_FMA_PER_BYTE * store_bytes / ((double) n * n * n / 6.0);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->finished_cv, NULL);
	/* one core for the backend while it stores the inputs */
	ntk_blas_set_threads(threads - 1);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t->tid, NULL, CholTaskMain, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
	{
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->finished_cv);
		ntk_blas_set_threads(threads);
		return false;
	}
	running_task = t;
	return true;
}

/* Waits for the worker, reporting progress. */
static void
CholTaskWait(CholTask *t, NtkFitProgress *pr)
{
	for (;;)
	{
		struct timespec until;
		bool		finished;
		double		fraction;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000 * 1000;
		if (until.tv_nsec >= 1000 * 1000 * 1000)
		{
			until.tv_sec++;
			until.tv_nsec -= 1000 * 1000 * 1000;
		}
		pthread_mutex_lock(&t->lock);
		if (!t->finished)
			(void) pthread_cond_timedwait(&t->finished_cv, &t->lock, &until);
		finished = t->finished;
		fraction = t->fraction;
		pthread_mutex_unlock(&t->lock);
		if (finished)
			break;
		(void) ntk_fit_progress(pr, fraction);
		CHECK_FOR_INTERRUPTS();
	}
	CholTaskJoin(t);
}

/*
 * Writes the model's row and training inputs while the worker factorizes,
 * then waits for it; on any error stops it before passing the error on.
 * Returns the model's id.
 */
static int64
StoreWhileFactorizing(CholTask *t, const NtkModelData *md, NtkFitProgress *pr,
					  double *store_seconds)
{
	volatile int64 id = 0;

	PG_TRY();
	{
		double		t0 = ntk_fit_elapsed(pr);

		id = ntk_model_store_begin(md);
		*store_seconds = ntk_fit_elapsed(pr) - t0;
		CholTaskWait(t, pr);
	}
	PG_CATCH();
	{
		CholTaskStop(t);
		ntk_blas_set_threads(t->threads);
		PG_RE_THROW();
	}
	PG_END_TRY();
	/* the worker raised the count unless it finished first */
	ntk_blas_set_threads(t->threads);
	return id;
}

bool
ntk_fit_factor_while_storing(double *K, int n, bool packed, int threads,
							 const NtkModelData *md, NtkFitProgress *pr,
							 NtkFactorStore *out)
{
	CholTask   *task;

	if (threads <= 1 || n < OVERLAP_MIN_ROWS)
		return false;
	/* not on the stack: running_task points to it until the join */
	task = palloc(sizeof(CholTask));
	if (!CholTaskStart(task, K, n, packed, (double) n * md->d * sizeof(double), threads))
	{
		pfree(task);
		return false;
	}
	out->id = StoreWhileFactorizing(task, md, pr, &out->store_seconds);
	out->status = task->status;
	out->failed_at = task->failed_at;
	pfree(task);
	return true;
}
