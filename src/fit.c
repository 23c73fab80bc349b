/*-------------------------------------------------------------------------
 *
 * fit.c
 *	  The ntk_fit and ntk_fit_classifier aggregates.
 *
 * The transition functions collect rows into a growing buffer in the
 * aggregate context (capacity doubling, so no quadratic copying).  The final
 * function builds the Gram matrix, solves
 * (K + lambda I) alpha = Y by Cholesky and stores the model; for large fits
 * the training inputs are stored while a worker thread factorizes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/pg_list.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "fit.h"
#include "model.h"
#include "ntk.h"
#include "chol.h"
#include "eigh.h"
#include "krr.h"

#include <cblas.h>

typedef enum TargetKind
{
	TARGET_SCALAR,
	TARGET_VECTOR,
	TARGET_LABEL
} TargetKind;

typedef struct LabelEntry
{
	char	   *label;			/* hash key */
	int			index;			/* order of first appearance */
} LabelEntry;

/* Bytes in a model name. */
#define NTK_MAX_NAME_BYTES 1024

typedef struct FitState
{
	MemoryContext ctx;			/* the aggregate context */
	TargetKind	target;
	char	   *name;
	NtkFitOptions opts;
	bytea	   *raw_options;	/* to check every row passes the same */
	int			d;
	int			k;				/* outputs per row (regression) */
	int64		n;
	int64		cap;
	NtkGrowable *xbuf;			/* holds X */
	double	   *X;				/* cap x d, row-major */
	double	   *Y;				/* cap x k, row-major (regression) */
	int		   *labels;			/* cap (classification) */
	HTAB	   *labelmap;
	int			nlabels;
	char	  **labelnames;		/* by index */
	int			labelcap;
	int64		n_skipped;
	instr_time	start;
	bool		finalized;		/* the final function ran: X is standardized */
	int64		result;			/* and stored this model id */
} FitState;

PG_FUNCTION_INFO_V1(ntk_fit_trans_scalar);
PG_FUNCTION_INFO_V1(ntk_fit_trans_vector);
PG_FUNCTION_INFO_V1(ntk_fit_trans_label);
PG_FUNCTION_INFO_V1(ntk_fit_final);

/* string keys for the label map */
static uint32
LabelHash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return string_hash(s, strlen(s) + 1);
}

static int
LabelMatch(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

/* The deepest network a fit will build (the largest depth candidate). */
static int
MaxDepth(const NtkFitOptions *opts)
{
	int			depth = opts->params.depth;
	int			i;

	for (i = 0; i < opts->n_depths; i++)
		depth = Max(depth, opts->depths[i]);
	return depth;
}

/* Bytes needed for a fit of n points, with overflow saturating to +inf. */
double
ntk_fit_peak_bytes(double n, double d, double k, const NtkFitOptions *opts)
{
	NtkParams	p = opts->params;
	double		len;
	double		grams;

	p.depth = MaxDepth(opts);
	len = (double) ntk_diag_len(&p);
	/* an eigendecomposition: the matrix, its eigenvectors, the merges' workspace */
	grams = (opts->has_t || ntk_options_searching(opts)) ? 3.0 : 1.0;
	/* Gram(s), inputs, targets, coefficients and scratch, diagonal states and tables */
	return 8.0 * (grams * n * n + n * d + 4.0 * n * k + 2.0 * n * len);
}

/*
 * Refuses a fit whose estimated peak exceeds ntk.max_memory.  While the rows
 * are being read (partial), n is the count so far: the fit needs at least that.
 */
void
ntk_check_memory(const char *name, double n, double d, double k,
				 const NtkFitOptions *opts, bool partial)
{
	double		need = ntk_fit_peak_bytes(n, d, k, opts);
	const char *setting;
	double		allowed = (double) ntk_allowed_memory_kb(&setting) * 1024.0;
	NtkFitSizes sizes;

	/* the size_t products the buffers will be allocated with must not wrap */
	if (need > allowed ||
		ntk_fit_sizes((int64_t) n, (int64_t) d, (int64_t) Max(k, 1.0), &sizes) != NTK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ntk fit of model \"%s\" needs more memory than allowed", name),
				 partial ?
				 errdetail("With the %.0f rows of %.0f features read so far, the fit needs at least %.0f MB, and %s is %.0f MB; the remaining rows were not read.",
						   n, d, ceil(need / (1024.0 * 1024.0)), setting,
						   floor(allowed / (1024.0 * 1024.0))) :
				 errdetail("A fit of %.0f rows of %.0f features needs about %.0f MB, and %s is %.0f MB.",
						   n, d, ceil(need / (1024.0 * 1024.0)), setting,
						   floor(allowed / (1024.0 * 1024.0))),
				 errhint("Raise ntk.max_memory, or fit on fewer rows (for example with TABLESAMPLE).")));
}

static FitState *
InitState(FunctionCallInfo fcinfo, TargetKind target)
{
	MemoryContext aggctx;
	MemoryContext old;
	FitState   *st;
	char	   *name;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "ntk_fit called in non-aggregate context");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	/* well inside what the unique index on ntk_models.name can hold */
	if (strlen(name) > NTK_MAX_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("model name is too long"),
				 errdetail("The name has %zu bytes; model names have at most %d.",
						   strlen(name), NTK_MAX_NAME_BYTES)));

	/* before reading a single row: a fit writes */
	PreventCommandIfReadOnly("ntk_fit()");

	old = MemoryContextSwitchTo(aggctx);
	st = palloc0(sizeof(FitState));
	st->ctx = aggctx;
	st->target = target;
	st->name = pstrdup(name);
	ntk_options_default(&st->opts);
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(4);

		ntk_options_parse(jb, &st->opts);
		st->raw_options = (bytea *) PG_DETOAST_DATUM_COPY(PG_GETARG_DATUM(4));
	}
	if (target == TARGET_LABEL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(LabelEntry);
		ctl.hash = LabelHash;
		ctl.match = LabelMatch;
		ctl.hcxt = aggctx;
		st->labelmap = hash_create("ntk labels", 64, &ctl,
								   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	INSTR_TIME_SET_CURRENT(st->start);
	MemoryContextSwitchTo(old);
	return st;
}

/* Checks that the name and options did not change inside the group. */
static void
CheckSameGroup(FunctionCallInfo fcinfo, FitState *st)
{
	text	   *name;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be null")));
	name = PG_GETARG_TEXT_PP(1);
	if (strlen(st->name) != VARSIZE_ANY_EXHDR(name) ||
		memcmp(st->name, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must be the same for every row of a group"),
				 errdetail("The group started with \"%s\" and then had \"%s\".",
						   st->name, text_to_cstring(name)),
				 errhint("Use GROUP BY on the expression that gives the model name.")));
	if (PG_NARGS() > 4)
	{
		bool		same;

		if (PG_ARGISNULL(4) || st->raw_options == NULL)
			same = PG_ARGISNULL(4) && st->raw_options == NULL;
		else
		{
			bytea	   *o = (bytea *) PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(4));

			same = VARSIZE_ANY_EXHDR(o) == VARSIZE_ANY_EXHDR(st->raw_options) &&
				memcmp(VARDATA_ANY(o), VARDATA_ANY(st->raw_options),
					   VARSIZE_ANY_EXHDR(o)) == 0;
		}
		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options must be the same for every row of a group")));
	}
}

/* Makes room for one more row. */
static void
Grow(FitState *st)
{
	int64		newcap;

	/*
	 * Refuse as soon as the rows read so far need more than ntk.max_memory,
	 * long before the Gram matrix would be allocated (a few flops a row).
	 */
	ntk_check_memory(st->name, (double) st->n + 1, st->d, Max(st->k, st->nlabels),
					 &st->opts, true);
	if (st->n < st->cap)
		return;
	if (st->n >= INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ntk fit cannot use more than %d rows", INT_MAX)));
	newcap = st->cap == 0 ? 1024 : st->cap * 2;
	if (newcap > INT_MAX)
		newcap = INT_MAX;

	if (st->xbuf == NULL)
		st->xbuf = ntk_growable_create(st->ctx);
	st->X = ntk_growable_resize(st->xbuf, (size_t) newcap * st->d * sizeof(double));
	if (st->cap == 0)
	{
		if (st->target == TARGET_LABEL)
			st->labels = MemoryContextAllocHuge(st->ctx, (size_t) newcap * sizeof(int));
		else
			st->Y = MemoryContextAllocHuge(st->ctx, (size_t) newcap * st->k * sizeof(double));
	}
	else
	{
		if (st->target == TARGET_LABEL)
			st->labels = repalloc_huge(st->labels, (size_t) newcap * sizeof(int));
		else
			st->Y = repalloc_huge(st->Y, (size_t) newcap * st->k * sizeof(double));
	}
	st->cap = newcap;
}

/* Adds x (already validated) to the state; returns the row index. */
static int64
AddInput(FitState *st, const double *x, int len)
{
	if (st->n == 0 && st->d == 0)
		st->d = len;
	else if (len != st->d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array \"x\" has %d elements, but the first row had %d", len, st->d),
				 errdetail("Every row of a fit must have the same number of features.")));
	Grow(st);
	memcpy(st->X + (size_t) st->n * st->d, x, (size_t) st->d * sizeof(double));
	return st->n++;
}

/* Common start of a transition: the state, or NULL if the row is skipped. */
static FitState *
Transition(FunctionCallInfo fcinfo, TargetKind target)
{
	FitState   *st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);

	if (st == NULL)
		st = InitState(fcinfo, target);
	else
		CheckSameGroup(fcinfo, st);
	return st;
}

Datum
ntk_fit_trans_scalar(PG_FUNCTION_ARGS)
{
	FitState   *st = Transition(fcinfo, TARGET_SCALAR);
	const double *x;
	double		y;
	int			len;
	int64		row;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		st->n_skipped++;
		PG_RETURN_POINTER(st);
	}
	x = ntk_array_data(PG_GETARG_ARRAYTYPE_P(2), "x", &len);
	y = PG_GETARG_FLOAT8(3);
	if (!isfinite(y))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("target \"y\" must not be NaN or Infinity")));
	st->k = 1;
	row = AddInput(st, x, len);
	st->Y[row] = y;
	PG_RETURN_POINTER(st);
}

Datum
ntk_fit_trans_vector(PG_FUNCTION_ARGS)
{
	FitState   *st = Transition(fcinfo, TARGET_VECTOR);
	const double *x;
	const double *y;
	int			len;
	int			ylen;
	int64		row;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		st->n_skipped++;
		PG_RETURN_POINTER(st);
	}
	x = ntk_array_data(PG_GETARG_ARRAYTYPE_P(2), "x", &len);
	y = ntk_array_data(PG_GETARG_ARRAYTYPE_P(3), "y", &ylen);
	if (st->k == 0)
		st->k = ylen;
	else if (ylen != st->k)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array \"y\" has %d elements, but the first row had %d", ylen, st->k),
				 errdetail("Every row of a multi-output fit must have the same number of targets.")));
	row = AddInput(st, x, len);
	memcpy(st->Y + (size_t) row * st->k, y, (size_t) st->k * sizeof(double));
	PG_RETURN_POINTER(st);
}

Datum
ntk_fit_trans_label(PG_FUNCTION_ARGS)
{
	FitState   *st = Transition(fcinfo, TARGET_LABEL);
	const double *x;
	int			len;
	int64		row;
	char	   *label;
	LabelEntry *e;
	bool		found;

	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		st->n_skipped++;
		PG_RETURN_POINTER(st);
	}
	x = ntk_array_data(PG_GETARG_ARRAYTYPE_P(2), "x", &len);
	label = text_to_cstring(PG_GETARG_TEXT_PP(3));
	row = AddInput(st, x, len);

	e = hash_search(st->labelmap, &label, HASH_ENTER, &found);
	if (!found)
	{
		MemoryContext old = MemoryContextSwitchTo(st->ctx);

		e->label = pstrdup(label);
		e->index = st->nlabels;
		if (st->nlabels == st->labelcap)
		{
			st->labelcap = st->labelcap ? st->labelcap * 2 : 16;
			st->labelnames = st->labelnames ?
				repalloc(st->labelnames, st->labelcap * sizeof(char *)) :
				palloc(st->labelcap * sizeof(char *));
		}
		st->labelnames[st->nlabels++] = e->label;
		MemoryContextSwitchTo(old);
	}
	st->labels[row] = e->index;
	pfree(label);
	PG_RETURN_POINTER(st);
}

/* Progress of the final function: cancellation and NOTICE lines. */
typedef struct Progress
{
	const char *model;
	const char *phase;
	instr_time	start;
	double		last_notice;	/* seconds since start */
} Progress;

#define NOTICE_AFTER 5.0		/* seconds before the first line */
#define NOTICE_EVERY 5.0		/* seconds between lines */

static double
Elapsed(const Progress *pr)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, pr->start);
	return INSTR_TIME_GET_DOUBLE(now);
}

/* NtkProgressFn: runs on the backend's own thread between BLAS calls. */
static int
ReportProgress(void *arg, double fraction)
{
	Progress   *pr = (Progress *) arg;
	double		t;

	if (QueryCancelPending || ProcDiePending)
		return 1;
	CHECK_FOR_INTERRUPTS();

	t = Elapsed(pr);
	if (t >= NOTICE_AFTER && t - pr->last_notice >= NOTICE_EVERY)
	{
		ereport(NOTICE,
				(errmsg("ntk_fit \"%s\": %s %.0f%% (%.0f s elapsed)",
						pr->model, pr->phase, 100.0 * fraction, t)));
		pr->last_notice = t;
	}
	return 0;
}

/*
 * The Cholesky factorization on a worker thread while the backend stores the
 * model's training inputs, which it knows before the factorization: storing
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
 */
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
CholTaskStart(CholTask *t, double *K, int n, double store_bytes, int threads)
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
CholTaskWait(CholTask *t, Progress *pr)
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
		(void) ReportProgress(pr, fraction);
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
StoreWhileFactorizing(CholTask *t, const NtkModelData *md, Progress *pr,
					  double *store_seconds)
{
	volatile int64 id = 0;

	PG_TRY();
	{
		double		t0 = Elapsed(pr);

		id = ntk_model_store_begin(md);
		*store_seconds = Elapsed(pr) - t0;
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

static int
CompareLabels(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The data of a fit, ready for the numerics. */
typedef struct FitData
{
	int			n;
	int			d;
	int			k;
	double	   *Y;				/* targets, column-major n x k */
	double	   *mean;			/* standardization, or NULL */
	double	   *scale;
	char	  **classes;		/* sorted, classifiers only */
	int		   *label;			/* class index per row, classifiers only */
} FitData;

/*
 * Standardizes X in place (population std; constant features centered).
 *
 * Each feature's sums run on the feature scaled by a power of two that
 * brings its largest magnitude to [1, 2): the sums can then neither overflow
 * (features near 1e155 squared) nor underflow (near 1e-162 squared), and
 * since scaling by a power of two is exact, on any other feature mean and
 * scale are the very bits of the plain sums.  Where x - mean overflows (a
 * feature spanning more than the float64 range) ntk_standardize_value halves
 * its operands; a value still not finite is an error, never a lost feature.
 */
static void
Standardize(const char *name, double *X, int n, int d, double *mean, double *scale)
{
	double	   *down = palloc(d * sizeof(double));
	double	   *up = palloc(d * sizeof(double));
	int			i;
	int			j;

	/* the largest magnitude, then the power of two that scales it to [1, 2) */
	for (j = 0; j < d; j++)
		mean[j] = scale[j] = 0.0;
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			mean[j] = fmax(mean[j], fabs(X[(size_t) i * d + j]));
	for (j = 0; j < d; j++)
	{
		/* 2^-e and 2^e are both doubles for e in [-1023, 1023] */
		int			e = mean[j] > 0.0 ? Max(ilogb(mean[j]), -1023) : 0;

		down[j] = ldexp(1.0, -e);
		up[j] = ldexp(1.0, e);
		mean[j] = 0.0;
	}

	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
			mean[j] += X[(size_t) i * d + j] * down[j];
	for (j = 0; j < d; j++)
		mean[j] /= n;
	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
		{
			double		c = X[(size_t) i * d + j] * down[j] - mean[j];

			scale[j] += c * c;
		}
	for (j = 0; j < d; j++)
	{
		scale[j] = sqrt(scale[j] / n);
		scale[j] = scale[j] > 0.0 ? scale[j] * up[j] : 1.0;
		mean[j] *= up[j];
	}

	for (i = 0; i < n; i++)
		for (j = 0; j < d; j++)
		{
			double		v = ntk_standardize_value(X[(size_t) i * d + j], mean[j], scale[j]);

			if (!isfinite(v))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("feature %d of model \"%s\" cannot be standardized in float64",
								j + 1, name),
						 errdetail("Its values span more than the float64 range."),
						 errhint("Rescale the feature.")));
			X[(size_t) i * d + j] = v;
		}
	pfree(down);
	pfree(up);
}

/* Targets as a column-major matrix; one-hot over sorted classes. */
static void
PrepareData(FitState *st, FitData *fd)
{
	int			n = (int) st->n;
	int			i;
	int			j;

	fd->n = n;
	fd->d = st->d;
	fd->k = st->target == TARGET_LABEL ? st->nlabels : st->k;
	fd->mean = fd->scale = NULL;
	fd->classes = NULL;
	fd->label = NULL;
	if (st->opts.standardize)
	{
		fd->mean = palloc(fd->d * sizeof(double));
		fd->scale = palloc(fd->d * sizeof(double));
		Standardize(st->name, st->X, n, fd->d, fd->mean, fd->scale);
	}

	fd->Y = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * fd->k * sizeof(double));
	if (st->target == TARGET_LABEL)
	{
		int		   *remap = palloc(fd->k * sizeof(int));

		fd->classes = palloc(fd->k * sizeof(char *));
		memcpy(fd->classes, st->labelnames, fd->k * sizeof(char *));
		qsort(fd->classes, fd->k, sizeof(char *), CompareLabels);
		for (i = 0; i < fd->k; i++)
		{
			for (j = 0; j < fd->k; j++)
				if (st->labelnames[i] == fd->classes[j])
					break;
			remap[i] = j;
		}
		fd->label = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * sizeof(int));
		memset(fd->Y, 0, (size_t) n * fd->k * sizeof(double));
		for (i = 0; i < n; i++)
		{
			fd->label[i] = remap[st->labels[i]];
			fd->Y[i + (size_t) fd->label[i] * n] = 1.0;
		}
	}
	else
	{
		for (i = 0; i < n; i++)
			for (j = 0; j < fd->k; j++)
				fd->Y[i + (size_t) j * n] = st->Y[(size_t) i * fd->k + j];
	}
}

/* The Gram matrix of the (standardized) inputs; returns mean(diag K). */
static double *
BuildGram(FitState *st, const NtkParams *params, NtkKernelKind kind,
		  Progress *pr, double *mean_diag)
{
	int			n = (int) st->n;
	size_t		len = ntk_diag_len(params);
	double	   *diag;
	double	   *work;
	double	   *K;
	double		sum = 0.0;
	int			i;

	diag = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * len * sizeof(double));
	ntk_status_error(ntk_points_diag(params, st->X, n, st->d, diag), "ntk_fit");
	for (i = 0; i < n; i++)
		sum += ntk_diag_value(params, kind, diag + (size_t) i * len);
	*mean_diag = sum / n;
	/* kernel values near the largest double: the sum overflowed, not the mean */
	if (isinf(*mean_diag))
	{
		sum = 0.0;
		for (i = 0; i < n; i++)
			sum += ntk_diag_value(params, kind, diag + (size_t) i * len) / n;
		*mean_diag = sum;
	}

	work = MemoryContextAllocHuge(CurrentMemoryContext,
								  ntk_gram_work_len(params, n) * sizeof(double));
	K = ntk_alloc_huge(CurrentMemoryContext, (size_t) n * n * sizeof(double));
	ntk_status_error(ntk_gram_sym(params, kind, st->X, n, st->d, diag, work, K,
								  ReportProgress, pr),
					 "ntk_fit");
	pfree(work);
	pfree(diag);
	return K;
}

/*
 * Columns of the targets per step of the products and solves that run over
 * all of them (n^2 multiply-adds a column each), with a check for interrupts
 * between steps: about 2^33 multiply-adds a step (0.1-0.2 s here), and never
 * fewer than 32 columns, below which the steps re-read the n x n matrix for
 * too little work.  A classifier with thousands of classes would otherwise
 * spend minutes in one uninterruptible call.
 */
static int
RhsColumns(int n, int k)
{
	double		cols = floor(8589934592.0 / ((double) n * n));

	return (int) Min((double) k, Max(cols, 32.0));
}

/* Candidate relative ridges of "auto": 4 per decade from 1e-8 to 10. */
#define AUTO_RIDGES 37

/*
 * Model selection by closed-form leave-one-out error: one eigendecomposition
 * per depth serves every ridge.  Sets opts->params.depth and opts->ridge to
 * the best combination and appends every candidate's score to metrics.
 */
static void
SelectModel(FitState *st, FitData *fd, Progress *pr, StringInfo metrics)
{
	NtkFitOptions *opts = &st->opts;
	int			n = fd->n;
	int			k = fd->k;
	int			ndepths = opts->n_depths > 0 ? opts->n_depths : 1;
	double		ridges[Max(NTK_MAX_CANDIDATES, AUTO_RIDGES)];
	int			nridges;
	double	   *w = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * sizeof(double));
	double	   *VtY = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * k * sizeof(double));
	int			cols = RhsColumns(n, k);
	double	   *work = MemoryContextAllocHuge(CurrentMemoryContext,
											  (2 * (size_t) n * cols + n) * sizeof(double));
	double	   *eigh_work = MemoryContextAllocHuge(CurrentMemoryContext,
												   ntk_eigh_work_len(n) * sizeof(double));
	double		best = INFINITY;
	int			best_depth = opts->params.depth;
	double		best_ridge = opts->ridge;
	bool		first = true;
	int			di;
	int			ri;
	int			j0;

	if (opts->ridge_auto)
	{
		nridges = AUTO_RIDGES;
		for (ri = 0; ri < nridges; ri++)
			ridges[ri] = pow(10.0, -8.0 + ri / 4.0);
	}
	else if (opts->n_ridges > 0)
	{
		nridges = opts->n_ridges;
		memcpy(ridges, opts->ridges, nridges * sizeof(double));
	}
	else
	{
		nridges = 1;
		ridges[0] = opts->ridge;
	}

	appendStringInfoString(metrics, ", \"selection\": [");
	for (di = 0; di < ndepths; di++)
	{
		NtkParams	params = opts->params;
		double		mean_diag;
		double	   *V;
		char		phase[64];
		char		eigh_phase[96];

		if (opts->n_depths > 0)
			params.depth = opts->depths[di];
		snprintf(phase, sizeof(phase), "model selection, depth %d (%d of %d)",
				 params.depth, di + 1, ndepths);
		pr->phase = phase;
		V = BuildGram(st, &params, opts->kind, pr, &mean_diag);
		snprintf(eigh_phase, sizeof(eigh_phase), "%s: eigendecomposition", phase);
		pr->phase = eigh_phase;
		ntk_status_error(ntk_eigh(V, n, w, eigh_work, ReportProgress, pr),
						 "ntk_fit model selection");
		pr->phase = phase;
		for (j0 = 0; j0 < k; j0 += cols)
		{
			cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, n, Min(cols, k - j0), n,
						1.0, V, n, fd->Y + (size_t) j0 * n, n, 0.0, VtY + (size_t) j0 * n, n);
			CHECK_FOR_INTERRUPTS();
		}
		for (ri = 0; ri < nridges; ri++)
		{
			double		lambda = opts->ridge_absolute ? ridges[ri] : ridges[ri] * mean_diag;
			double		mse = INFINITY;

			if (ntk_loo_diag(V, w, n, lambda, work + 2 * (size_t) n * cols))
			{
				double		sse = 0.0;

				for (j0 = 0; j0 < k; j0 += cols)
				{
					sse += ntk_loo_sse(V, w, n, VtY + (size_t) j0 * n, Min(cols, k - j0),
									   lambda, work + 2 * (size_t) n * cols, work);
					CHECK_FOR_INTERRUPTS();
				}
				mse = sse / ((double) n * k);
			}
			CHECK_FOR_INTERRUPTS();
			appendStringInfo(metrics, "%s{\"depth\": %d, \"ridge\": %s, \"loo_mse\": %s}",
							 first ? "" : ", ", params.depth,
							 float8out_internal(ridges[ri]),
							 isfinite(mse) ? float8out_internal(mse) : "null");
			first = false;
			if (mse < best)
			{
				best = mse;
				best_depth = params.depth;
				best_ridge = ridges[ri];
			}
		}
		pfree(V);
		(void) ReportProgress(pr, (double) (di + 1) / ndepths);
	}
	appendStringInfoChar(metrics, ']');
	if (!isfinite(best))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no candidate of model \"%s\" gives a positive definite kernel matrix", st->name),
				 errhint("Add larger \"ridge\" candidates.")));
	appendStringInfo(metrics, ", \"loo_mse\": %s", float8out_internal(best));
	opts->params.depth = best_depth;
	opts->ridge = best_ridge;
	pfree(w);
	pfree(VtY);
	pfree(work);
	pfree(eigh_work);
}

/* Training error from training predictions P (column-major n x k). */
static void
TrainingError(const FitData *fd, const double *P, StringInfo metrics)
{
	int			n = fd->n;
	size_t		i;
	int			j;

	if (fd->label)
	{
		int			correct = 0;

		for (i = 0; i < (size_t) n; i++)
		{
			int			bestj = 0;

			for (j = 1; j < fd->k; j++)
				if (P[i + (size_t) j * n] > P[i + (size_t) bestj * n])
					bestj = j;
			correct += bestj == fd->label[i];
		}
		appendStringInfo(metrics, ", \"train_accuracy\": %s",
						 float8out_internal((double) correct / n));
	}
	else
	{
		double		big = 0.0;
		double		ss = 0.0;
		double		rmse;

		/* scaled by the largest residual, so that huge targets do not overflow */
		for (i = 0; i < (size_t) n * fd->k; i++)
			big = fmax(big, fabs(P[i] - fd->Y[i]));
		if (big > 0.0)
			for (i = 0; i < (size_t) n * fd->k; i++)
			{
				double		r = (P[i] - fd->Y[i]) / big;

				ss += r * r;
			}
		rmse = big * sqrt(ss / ((double) n * fd->k));
		appendStringInfo(metrics, ", \"train_rmse\": %s",
						 isfinite(rmse) ? float8out_internal(rmse) : "null");
	}
}

/*
 * Dual coefficients or training predictions out of the float64 range: the
 * kernel matrix was too small (inputs near the smallest doubles, where the
 * relative ridge underflows) or the targets too large for the ridge.  Stored,
 * such a model would only ever predict Infinity or NaN.
 */
static void
CheckSolution(const char *name, const double *alpha, const double *P, size_t len,
			  double mean_diag, double lambda)
{
	size_t		i;

	for (i = 0; i < len; i++)
		if (!isfinite(alpha[i]) || !isfinite(P[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("model \"%s\" cannot be fitted in float64", name),
					 errdetail("Its dual coefficients leave the float64 range (kernel matrix mean diagonal %g, absolute ridge %g).",
							   mean_diag, lambda),
					 errhint("Rescale the inputs (the option \"standardize\": true does) or the targets, or raise \"ridge\".")));
}

/*
 * The model names a query has fitted: two groups (or two aggregates) of one
 * query that fit the same name would store one model and return an id that
 * no longer exists for the other.  The list lives in the query's executor
 * memory and leaves this list with it, so a retry after an error (ROLLBACK
 * TO, an exception block) or the next query of a function starts afresh.
 */
typedef struct FittedNames
{
	EState	   *estate;
	List	   *names;
	struct FittedNames *next;
	MemoryContextCallback cb;
} FittedNames;

static FittedNames *fitted_queries = NULL;

static void
FittedNamesGone(void *arg)
{
	FittedNames **link;

	for (link = &fitted_queries; *link != NULL; link = &(*link)->next)
		if (*link == (FittedNames *) arg)
		{
			*link = (*link)->next;
			break;
		}
}

static void
CheckFittedOnce(FunctionCallInfo fcinfo, const char *name)
{
	EState	   *estate;
	FittedNames *f;
	ListCell   *lc;
	MemoryContext old;

	if (fcinfo->context == NULL || !IsA(fcinfo->context, AggState))
		return;
	estate = ((AggState *) fcinfo->context)->ss.ps.state;
	for (f = fitted_queries; f != NULL; f = f->next)
		if (f->estate == estate)
			break;
	if (f == NULL)
	{
		f = MemoryContextAllocZero(estate->es_query_cxt, sizeof(FittedNames));
		f->estate = estate;
		f->cb.func = FittedNamesGone;
		f->cb.arg = f;
		MemoryContextRegisterResetCallback(estate->es_query_cxt, &f->cb);
		f->next = fitted_queries;
		fitted_queries = f;
	}
	foreach(lc, f->names)
		if (strcmp((const char *) lfirst(lc), name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CARDINALITY_VIOLATION),
					 errmsg("model \"%s\" is fitted more than once in one statement", name),
					 errdetail("Two groups or two aggregates of the statement name the same model."),
					 errhint("Give each group a model name of its own, for example 'price_' || region.")));
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	f->names = lappend(f->names, pstrdup(name));
	MemoryContextSwitchTo(old);
}

Datum
ntk_fit_final(PG_FUNCTION_ARGS)
{
	FitState   *st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	NtkFitOptions *opts;
	FitData		fd;
	NtkModelData md;
	Progress	pr;
	StringInfoData metrics;
	double		mean_diag;
	double		lambda;
	double	   *K;
	double	   *alpha;
	double	   *P;
	const double *factor = NULL;
	const char *factor_kind = NULL;
	double		t_read;
	double		t_select = 0.0;
	double		t_gram;
	double		t_factor;
	double		t_solve;
	double		t_store_inputs = -1.0;
	int			n;
	int			threads;
	int64		id = 0;
	bool		inputs_stored = false;
	CholTask	task;
	size_t		i;

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();

	/*
	 * A hashed aggregate that is rescanned with unchanged parameters runs its
	 * final function again on the same state.  The first call standardized
	 * the inputs in place and stored the model: answer with that model.
	 */
	if (st->finalized)
		PG_RETURN_INT64(st->result);
	CheckFittedOnce(fcinfo, st->name);

	opts = &st->opts;
	if (opts->has_t && ntk_options_searching(opts))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model selection cannot be combined with a finite training time \"t\""),
				 errhint("Select \"ridge\" and \"depth\" without \"t\" first, then refit with \"t\".")));
	ntk_check_memory(st->name, st->n, st->d,
					 st->target == TARGET_LABEL ? st->nlabels : st->k, opts, false);
	ntk_set_blas_threads();
	threads = openblas_get_num_threads();

	pr.model = st->name;
	pr.phase = "preparing";
	pr.last_notice = 0.0;
	pr.start = st->start;
	t_read = Elapsed(&pr);

	PrepareData(st, &fd);
	n = fd.n;
	initStringInfo(&metrics);
	appendStringInfo(&metrics, "{\"n_rows\": %d, \"n_skipped\": " INT64_FORMAT,
					 n, st->n_skipped);

	if (ntk_options_searching(opts))
	{
		t_select = Elapsed(&pr);
		SelectModel(st, &fd, &pr, &metrics);
		t_select = Elapsed(&pr) - t_select;
	}

	pr.phase = "building the kernel matrix";
	t_gram = Elapsed(&pr);
	K = BuildGram(st, &opts->params, opts->kind, &pr, &mean_diag);
	t_gram = Elapsed(&pr) - t_gram;
	t_factor = Elapsed(&pr);
	lambda = opts->ridge_absolute ? opts->ridge : opts->ridge * mean_diag;
	if (isinf(lambda))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ridge of model \"%s\" is out of range for type double precision", st->name),
				 errdetail("The relative ridge %g times the kernel matrix's mean diagonal %g overflows.",
						   opts->ridge, mean_diag),
				 errhint("Lower \"ridge\".")));
	ntk_add_diagonal(K, n, lambda);

	alpha = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * fd.k * sizeof(double));
	P = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * fd.k * sizeof(double));

	/* what the store needs, but the factor and the metrics, is known now */
	md.name = st->name;
	md.task = st->target == TARGET_LABEL ? NTK_TASK_CLASSIFICATION : NTK_TASK_REGRESSION;
	md.opts = opts;
	md.ridge = opts->ridge;
	md.n = n;
	md.d = fd.d;
	md.k = fd.k;
	md.nclasses = fd.classes ? fd.k : 0;
	md.classes = fd.classes;
	md.X = st->X;
	md.alpha = alpha;
	md.mean = fd.mean;
	md.scale = fd.scale;
	md.factor = NULL;
	md.factor_kind = NULL;
	md.metrics_json = "{}";
	if (opts->has_t)
	{
		double	   *w = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * sizeof(double));
		double		s = opts->learning_rate * opts->t / ((double) n * fd.k);
		double	   *eigh_work = MemoryContextAllocHuge(CurrentMemoryContext,
												   ntk_eigh_work_len(n) * sizeof(double));

		pr.phase = "eigendecomposition";
		ntk_status_error(ntk_eigh(K, n, w, eigh_work, ReportProgress, &pr), "ntk_fit");
		pfree(eigh_work);
		t_factor = Elapsed(&pr) - t_factor;
		t_solve = Elapsed(&pr);
		{
			int			cols = RhsColumns(n, fd.k);
			double	   *work = MemoryContextAllocHuge(CurrentMemoryContext,
													  (size_t) n * cols * sizeof(double));
			int			j0;

			pr.phase = "solving";
			for (j0 = 0; j0 < fd.k; j0 += cols)
			{
				size_t		off = (size_t) j0 * n;

				ntk_finite_time(K, w, n, s, fd.Y + off, Min(cols, fd.k - j0),
								alpha + off, P + off, work);
				(void) ReportProgress(&pr, (double) Min(j0 + cols, fd.k) / fd.k);
				CHECK_FOR_INTERRUPTS();
			}
			pfree(work);
		}
		if (opts->variance)
		{
			/* whitening W = V diag(w^-1/2): variance = k(x,x) - |W^T k|^2 */
			int			j;

			for (j = 0; j < n; j++)
			{
				double		c = w[j] > 0.0 ? 1.0 / sqrt(w[j]) : 0.0;

				for (i = 0; i < (size_t) n; i++)
					K[i + (size_t) j * n] *= c;
			}
			factor = K;
			factor_kind = "whiten";
		}
	}
	else
	{
		int			failed_at;
		NtkStatus	status;

		pr.phase = "factorizing";
		if (threads > 1 && n >= OVERLAP_MIN_ROWS &&
			CholTaskStart(&task, K, n, (double) n * fd.d * sizeof(double), threads))
		{
			id = StoreWhileFactorizing(&task, &md, &pr, &t_store_inputs);
			inputs_stored = true;
			status = task.status;
			failed_at = task.failed_at;
		}
		else
			status = ntk_cholesky(K, n, &failed_at, ReportProgress, &pr);
		if (status == NTK_NOT_POSITIVE_DEFINITE)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("kernel matrix of model \"%s\" is not positive definite", st->name),
					 errdetail("The Cholesky factorization failed at row %d of %d with ridge %g (absolute %g).",
							   failed_at, n, opts->ridge, lambda),
			/* a relative ridge that underflowed cannot be raised enough */
					 mean_diag < DBL_MIN * 1e10 ?
					 errhint("The kernel values (mean diagonal %g) are too small for float64: rescale the inputs (the option \"standardize\": true does).",
							 mean_diag) :
					 errhint("Raise the \"ridge\" option, for example to 1e-4, or remove duplicate rows.")));
		ntk_status_error(status, "ntk_fit");
		t_factor = Elapsed(&pr) - t_factor;
		t_solve = Elapsed(&pr);
		memcpy(alpha, fd.Y, (size_t) n * fd.k * sizeof(double));
		{
			int			cols = RhsColumns(n, fd.k);
			int			j0;

			pr.phase = "solving";
			for (j0 = 0; j0 < fd.k; j0 += cols)
			{
				ntk_cholesky_solve(K, n, alpha + (size_t) j0 * n, Min(cols, fd.k - j0));
				(void) ReportProgress(&pr, (double) Min(j0 + cols, fd.k) / fd.k);
				CHECK_FOR_INTERRUPTS();
			}
		}
		/* training predictions for free: K alpha = Y - lambda alpha */
		for (i = 0; i < (size_t) n * fd.k; i++)
			P[i] = fd.Y[i] - lambda * alpha[i];
		if (opts->variance)
		{
			int			j;

			/* the upper triangle holds stale Gram entries: store zeros */
			for (j = 1; j < n; j++)
				memset(K + (size_t) j * n, 0, j * sizeof(double));
			factor = K;
			factor_kind = "chol";
		}
	}

	t_solve = Elapsed(&pr) - t_solve;
	CheckSolution(st->name, alpha, P, (size_t) n * fd.k, mean_diag, lambda);
	TrainingError(&fd, P, &metrics);
	appendStringInfo(&metrics, ", \"ridge_absolute_value\": %s, \"mean_diag\": %s, "
					 "\"phase_seconds\": {\"read\": %.3f",
					 float8out_internal(lambda), float8out_internal(mean_diag), t_read);
	if (ntk_options_searching(opts))
		appendStringInfo(&metrics, ", \"select\": %.3f", t_select);
	appendStringInfo(&metrics, ", \"gram\": %.3f, \"%s\": %.3f",
					 t_gram, opts->has_t ? "eigh" : "cholesky", t_factor);
	if (inputs_stored)
		appendStringInfo(&metrics, ", \"store_inputs\": %.3f", t_store_inputs);
	appendStringInfo(&metrics, ", \"solve\": %.3f}, \"fit_seconds\": %.3f}",
					 t_solve, Elapsed(&pr));

	pr.phase = "storing";
	md.factor = factor;
	md.factor_kind = factor_kind;
	md.metrics_json = metrics.data;
	if (inputs_stored)
		ntk_model_store_finish(id, &md, true);
	else
		id = ntk_model_store(&md);

	st->finalized = true;
	st->result = id;
	PG_RETURN_INT64(id);
}
