/*-------------------------------------------------------------------------
 *
 * fit.c
 *	  The ntk_fit and ntk_fit_classifier aggregates.
 *
 * The transition functions collect rows into a growing buffer in the
 * aggregate context (capacity doubling, so no quadratic copying).  The final
 * function standardizes the inputs if asked, selects the model
 * (fit_select.c) if given candidates, builds the Gram matrix, solves
 * (K + lambda I) alpha = Y by Cholesky (or runs gradient flow to a finite
 * time) and stores the model; for large fits the training inputs are
 * stored while a worker thread factorizes (fit_worker.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/pg_list.h"
#include "portability/instr_time.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "chol.h"
#include "compute_child.h"
#include "fit.h"
#include "fit_nystrom.h"		/* ntk: "method": "nystrom" */
#include "gram.h"
#include "krr.h"
#include "memory.h"
#include "model.h"
#include "arrays.h"
#include "errors.h"
#include "threads.h"
#include "packed.h"

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
				 errdetail_plural("The name has %zu byte; model names have at most %d.",
								  "The name has %zu bytes; model names have at most %d.",
								  (unsigned long) strlen(name),
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
				 errmsg_plural("array \"x\" has %d element, but the first row had %d",
							   "array \"x\" has %d elements, but the first row had %d",
							   len, len, st->d),
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
				 errmsg_plural("array \"y\" has %d element, but the first row had %d",
							   "array \"y\" has %d elements, but the first row had %d",
							   ylen, ylen, st->k),
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

static int
CompareLabels(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Standardizes the inputs in place (krr.h); a feature whose values span
 * more than the range of double precision cannot be, and is an error.
 */
static void
Standardize(const char *name, double *X, int n, int d, double *mean, double *scale)
{
	double	   *work = palloc(2 * (size_t) d * sizeof(double));
	int			bad_feature = 0;
	NtkStatus	status = ntk_standardize(X, n, d, mean, scale, work, &bad_feature);

	if (status == NTK_OVERFLOW)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("standardized feature %d of model \"%s\" is out of range for type double precision",
						bad_feature + 1, name),
				 errdetail("Its values span more than the range of type double precision."),
				 errhint("Rescale the feature.")));
	ntk_fit_status(status, name);
	pfree(work);
}

/* The classes sorted, and each row's label as an index into them. */
static void
SortClasses(const FitState *st, NtkFitData *fd)
{
	int		   *remap = palloc(fd->k * sizeof(int));
	int			i;
	int			j;

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
	fd->label = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) fd->n * sizeof(int));
	for (i = 0; i < fd->n; i++)
		fd->label[i] = remap[st->labels[i]];
	pfree(remap);
}

/* Targets as a column-major matrix; one-hot over sorted classes. */
static void
PrepareData(FitState *st, NtkFitData *fd)
{
	int			n = (int) st->n;
	int			i;
	int			j;

	fd->name = st->name;
	fd->n = n;
	fd->d = st->d;
	fd->k = st->target == TARGET_LABEL ? st->nlabels : st->k;
	fd->X = st->X;
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
		SortClasses(st, fd);
		memset(fd->Y, 0, (size_t) n * fd->k * sizeof(double));
		for (i = 0; i < n; i++)
			fd->Y[i + (size_t) fd->label[i] * n] = 1.0;
	}
	else
	{
		for (i = 0; i < n; i++)
			for (j = 0; j < fd->k; j++)
				fd->Y[i + (size_t) j * n] = st->Y[(size_t) i * fd->k + j];
	}
}

/* The diagonal states of the inputs and the kernel's mean diagonal. */
static double *
FitDiag(const NtkFitData *fd, const NtkParams *params, NtkKernelKind kind,
		double *mean_diag)
{
	int			n = fd->n;
	size_t		len = ntk_diag_len(params);
	double	   *diag;
	double		sum = 0.0;
	int			i;

	diag = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * len * sizeof(double));
	ntk_fit_status(ntk_points_diag(params, fd->X, n, fd->d, diag), fd->name);
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
	return diag;
}

double *
ntk_fit_gram(const NtkFitData *fd, const NtkParams *params, NtkKernelKind kind,
			 NtkFitProgress *pr, double *mean_diag)
{
	int			n = fd->n;
	double	   *diag = FitDiag(fd, params, kind, mean_diag);
	double	   *work;
	double	   *K;

	work = MemoryContextAllocHuge(CurrentMemoryContext,
								  ntk_gram_work_len(params, n) * sizeof(double));
	K = ntk_alloc_huge(CurrentMemoryContext, (size_t) n * n * sizeof(double));
	ntk_fit_status(ntk_gram_sym(params, kind, fd->X, n, fd->d, diag, work, K,
								  ntk_fit_progress, pr),
					 fd->name);
	pfree(work);
	pfree(diag);
	return K;
}

double *
ntk_fit_gram_packed(const NtkFitData *fd, const NtkParams *params,
					NtkKernelKind kind, NtkFitProgress *pr, double *mean_diag)
{
	int			n = fd->n;
	double	   *diag = FitDiag(fd, params, kind, mean_diag);
	double	   *work;
	double	   *A;

	work = MemoryContextAllocHuge(CurrentMemoryContext,
								  ntk_gram_work_len(params, n) * sizeof(double));
	A = ntk_alloc_huge(CurrentMemoryContext, ntk_packed_len(n) * sizeof(double));
	ntk_fit_status(ntk_gram_packed(params, kind, fd->X, n, fd->d, diag, work, A,
								   ntk_fit_progress, pr),
				   fd->name);
	pfree(work);
	pfree(diag);
	return A;
}

/*
 * Columns of the targets per step of the products and solves that run over
 * all of them (n^2 multiply-adds a column each), with a check for interrupts
 * between steps: about 2^33 multiply-adds a step (0.1-0.2 s here), and never
 * fewer than 32 columns, below which the steps re-read the n x n matrix for
 * too little work.  A classifier with thousands of classes would otherwise
 * spend minutes in one uninterruptible call.
 */
int
ntk_fit_rhs_columns(int n, int k)
{
	double		cols = floor(8589934592.0 / ((double) n * n));

	return (int) Min((double) k, Max(cols, 32.0));
}

/* Training error from training predictions P (column-major n x k). */
static void
TrainingError(const NtkFitData *fd, const double *P, StringInfo metrics)
{
	double		v;

	if (fd->label)
	{
		ntk_fit_status(ntk_train_accuracy(P, fd->n, fd->k, fd->label, &v), fd->name);
		appendStringInfo(metrics, ", \"train_accuracy\": %s", float8out_internal(v));
	}
	else
	{
		ntk_fit_status(ntk_train_rmse(P, fd->Y, fd->n, fd->k, &v), fd->name);
		appendStringInfo(metrics, ", \"train_rmse\": %s",
						 isfinite(v) ? float8out_internal(v) : "null");
	}
}

/*
 * Dual coefficients or training predictions out of the range of double
 * precision: the kernel matrix was too small (inputs near the smallest
 * doubles, where the relative ridge underflows) or the targets too large for
 * the ridge.  Stored, such a model would only ever predict Infinity or NaN.
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
					 errmsg("dual coefficients of model \"%s\" are out of range for type double precision",
							name),
					 errdetail("The kernel matrix has mean diagonal %g, and the absolute ridge is %g.",
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

/* What the steps of the final function share. */
typedef struct FitRun
{
	FitState   *st;
	NtkFitOptions *opts;
	NtkFitData	fd;
	NtkModelData md;			/* what the store needs */
	NtkFitProgress pr;
	StringInfoData metrics;
	int			threads;		/* BLAS threads of the fit */
	double		mean_diag;
	double		lambda;			/* the absolute ridge */
	bool		packed;			/* K is the lower triangle (packed.h) */
	double	   *K;				/* the Gram matrix, then its factor */
	double	   *alpha;			/* dual coefficients, column-major n x k */
	double	   *P;				/* training predictions, likewise */
	int64		id;				/* set once the model's row is stored */
	bool		inputs_stored;	/* by the overlapped factorization */
	/* phase seconds, for the metrics */
	double		t_read;
	double		t_select;
	double		t_gram;
	double		t_factor;
	double		t_solve;
	double		t_store_inputs;
} FitRun;

/* Checks what the options and memory allow, and readies data and metrics. */
static void
PrepareFit(FitState *st, FitRun *run)
{
	NtkFitOptions *opts = &st->opts;

	memset(run, 0, sizeof(*run));
	run->st = st;
	run->opts = opts;
	run->t_store_inputs = -1.0;
	if (opts->has_t && ntk_options_searching(opts))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model selection cannot be combined with a finite training time \"t\""),
				 errhint("Select \"ridge\" and \"depth\" without \"t\" first, then refit with \"t\".")));
	ntk_check_memory(st->name, st->n, st->d,
					 st->target == TARGET_LABEL ? st->nlabels : st->k, opts, false);
	run->packed = ntk_fit_packed(st->n, st->d,
								 st->target == TARGET_LABEL ? st->nlabels : st->k, opts);
	ntk_threads_for_big_work();
	run->threads = openblas_get_num_threads();

	run->pr.model = st->name;
	run->pr.phase = "preparing";
	run->pr.last_notice = 0.0;
	run->pr.start = st->start;
	run->t_read = ntk_fit_elapsed(&run->pr);

	PrepareData(st, &run->fd);
	initStringInfo(&run->metrics);
	appendStringInfo(&run->metrics, "{\"n_rows\": %d, \"n_train\": %d, \"n_skipped\": " INT64_FORMAT,
					 run->fd.n, run->fd.n, st->n_skipped);
}

/* The Gram matrix plus the ridge, and what the store knows before the factor. */
static void
BuildKernel(FitRun *run)
{
	const NtkFitOptions *opts = run->opts;
	NtkFitData *fd = &run->fd;
	NtkModelData *md = &run->md;
	int			n = fd->n;

	run->pr.phase = run->packed ? "building the kernel matrix (lower triangle)" :
		"building the kernel matrix";
	run->t_gram = ntk_fit_elapsed(&run->pr);
	if (run->packed)
		run->K = ntk_fit_gram_packed(fd, &opts->params, opts->kind, &run->pr,
									 &run->mean_diag);
	else
		run->K = ntk_fit_gram(fd, &opts->params, opts->kind, &run->pr, &run->mean_diag);
	run->t_gram = ntk_fit_elapsed(&run->pr) - run->t_gram;
	run->t_factor = ntk_fit_elapsed(&run->pr);
	run->lambda = opts->ridge_absolute ? opts->ridge : opts->ridge * run->mean_diag;
	if (isinf(run->lambda))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ridge of model \"%s\" is out of range for type double precision", fd->name),
				 errdetail("The relative ridge %g times the kernel matrix's mean diagonal %g overflows.",
						   opts->ridge, run->mean_diag),
				 errhint("Lower \"ridge\".")));
	if (run->packed)
		ntk_packed_add_diagonal(run->K, n, run->lambda);
	else
		ntk_add_diagonal(run->K, n, run->lambda);

	run->alpha = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * fd->k * sizeof(double));
	run->P = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * fd->k * sizeof(double));

	md->name = fd->name;
	md->task = run->st->target == TARGET_LABEL ? NTK_TASK_CLASSIFICATION : NTK_TASK_REGRESSION;
	md->opts = opts;
	md->ridge = opts->ridge;
	md->n = n;
	md->d = fd->d;
	md->k = fd->k;
	md->nclasses = fd->classes ? fd->k : 0;
	md->classes = fd->classes;
	md->X = fd->X;
	md->alpha = run->alpha;
	md->mean = fd->mean;
	md->scale = fd->scale;
	md->factor = NULL;
	md->factor_kind = NULL;
	md->metrics_json = "{}";
}

/* Gradient flow stopped at time t, from an eigendecomposition of K + lambda I. */
static void
SolveFiniteTime(FitRun *run)
{
	NtkFitData *fd = &run->fd;
	int			n = fd->n;
	int			cols = ntk_fit_rhs_columns(n, fd->k);
	double		s = run->opts->learning_rate * run->opts->t / ((double) n * fd->k);
	double	   *w = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * sizeof(double));
	double	   *work;
	int			j0;

	run->pr.phase = "eigendecomposition";
	ntk_fit_status(ntk_eigh_child(run->K, n, w, ntk_fit_progress, &run->pr), run->fd.name);
	run->t_factor = ntk_fit_elapsed(&run->pr) - run->t_factor;
	run->t_solve = ntk_fit_elapsed(&run->pr);

	work = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * cols * sizeof(double));
	run->pr.phase = "solving";
	for (j0 = 0; j0 < fd->k; j0 += cols)
	{
		size_t		off = (size_t) j0 * n;

		ntk_fit_status(ntk_finite_time(run->K, w, n, s, fd->Y + off, Min(cols, fd->k - j0),
										 run->alpha + off, run->P + off, work),
						 run->fd.name);
		(void) ntk_fit_progress(&run->pr, (double) Min(j0 + cols, fd->k) / fd->k);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(work);

	if (run->opts->variance)
	{
		/* whitening W = V diag(w^-1/2): variance = k(x,x) - |W^T k|^2 */
		size_t		i;
		int			j;

		for (j = 0; j < n; j++)
		{
			double		c = w[j] > 0.0 ? 1.0 / sqrt(w[j]) : 0.0;

			for (i = 0; i < (size_t) n; i++)
				run->K[i + (size_t) j * n] *= c;
		}
		run->md.factor = run->K;
		run->md.factor_kind = "whiten";
	}
}

/*
 * The Cholesky factorization of K + lambda I, overlapped with storing the
 * training inputs where that pays; not positive definite is an error.
 */
static void
Factorize(FitRun *run)
{
	int			n = run->fd.n;
	int			failed_at;
	NtkStatus	status;
	NtkFactorStore fs;

	run->pr.phase = run->packed ? "factorizing (lower triangle)" : "factorizing";
	if (ntk_fit_factor_while_storing(run->K, n, run->packed, run->threads, &run->md,
									 &run->pr, &fs))
	{
		run->id = fs.id;
		run->inputs_stored = true;
		run->t_store_inputs = fs.store_seconds;
		status = fs.status;
		failed_at = fs.failed_at;
	}
	else if (run->packed)
		status = ntk_packed_cholesky(run->K, n, &failed_at, ntk_fit_progress, &run->pr);
	else
		status = ntk_cholesky(run->K, n, &failed_at, ntk_fit_progress, &run->pr);
	if (status == NTK_NOT_POSITIVE_DEFINITE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("kernel matrix of model \"%s\" is not positive definite", run->fd.name),
				 errdetail("The Cholesky factorization failed at row %d of %d with ridge %g (absolute %g).",
						   failed_at, n, run->opts->ridge, run->lambda),
		/* a relative ridge that underflowed cannot be raised enough */
				 run->mean_diag < DBL_MIN * 1e10 ?
				 errhint("The kernel values (mean diagonal %g) are too small for type double precision: rescale the inputs (the option \"standardize\": true does).",
						 run->mean_diag) :
				 errhint("Raise the \"ridge\" option, for example to 1e-4, or remove duplicate rows.")));
	ntk_fit_status(status, run->fd.name);
}

/* Kernel ridge regression: alpha = (K + lambda I)^-1 Y by Cholesky. */
static void
SolveByCholesky(FitRun *run)
{
	NtkFitData *fd = &run->fd;
	int			n = fd->n;
	int			cols = ntk_fit_rhs_columns(n, fd->k);
	size_t		i;
	int			j0;

	Factorize(run);
	run->t_factor = ntk_fit_elapsed(&run->pr) - run->t_factor;
	run->t_solve = ntk_fit_elapsed(&run->pr);
	memcpy(run->alpha, fd->Y, (size_t) n * fd->k * sizeof(double));
	run->pr.phase = "solving";
	for (j0 = 0; j0 < fd->k; j0 += cols)
	{
		if (run->packed)
			ntk_fit_status(ntk_packed_solve(run->K, n, run->alpha + (size_t) j0 * n,
											n, Min(cols, fd->k - j0)),
						   fd->name);
		else
			ntk_cholesky_solve(run->K, n, run->alpha + (size_t) j0 * n,
							   Min(cols, fd->k - j0));
		(void) ntk_fit_progress(&run->pr, (double) Min(j0 + cols, fd->k) / fd->k);
		CHECK_FOR_INTERRUPTS();
	}
	/* training predictions for free: K alpha = Y - lambda alpha */
	for (i = 0; i < (size_t) n * fd->k; i++)
		run->P[i] = fd->Y[i] - run->lambda * run->alpha[i];
	if (run->opts->variance && run->packed)
	{
		/* the model stores the factor as a full matrix, zeros above */
		double	   *F = ntk_alloc_huge(CurrentMemoryContext,
									   (size_t) n * n * sizeof(double));

		ntk_packed_unpack(run->K, n, F, n, 1);
		pfree(run->K);
		run->K = F;
		run->md.factor = run->K;
		run->md.factor_kind = "chol";
	}
	else if (run->opts->variance)
	{
		int			j;

		/* the upper triangle holds stale Gram entries: store zeros */
		for (j = 1; j < n; j++)
			memset(run->K + (size_t) j * n, 0, j * sizeof(double));
		run->md.factor = run->K;
		run->md.factor_kind = "chol";
	}
}

/* Training error, ridge and phase seconds: the rest of the metrics JSON. */
static void
MetricsJson(FitRun *run)
{
	StringInfo	metrics = &run->metrics;

	TrainingError(&run->fd, run->P, metrics);
	appendStringInfo(metrics, ", \"ridge_absolute_value\": %s, \"mean_diag\": %s, "
					 "\"phase_seconds\": {\"read\": %.3f",
					 float8out_internal(run->lambda), float8out_internal(run->mean_diag),
					 run->t_read);
	if (ntk_options_searching(run->opts))
		appendStringInfo(metrics, ", \"select\": %.3f", run->t_select);
	appendStringInfo(metrics, ", \"gram\": %.3f, \"%s\": %.3f",
					 run->t_gram, run->opts->has_t ? "eigh" : "cholesky", run->t_factor);
	if (run->inputs_stored)
		appendStringInfo(metrics, ", \"store_inputs\": %.3f", run->t_store_inputs);
	appendStringInfo(metrics, ", \"solve\": %.3f}, \"kernel_storage\": \"%s\", "
					 "\"fit_seconds\": %.3f}",
					 run->t_solve, run->packed ? "packed" : "full",
					 ntk_fit_elapsed(&run->pr));
}

Datum
ntk_fit_final(PG_FUNCTION_ARGS)
{
	FitState   *st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	FitRun		run;

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

	/* ntk: "method": "nystrom" solves and stores in fit_nystrom.c */
	if (st->opts.method == NTK_METHOD_NYSTROM)
	{
		NtkNystromRows rows = {.name = st->name, .opts = &st->opts, .n = (int) st->n,
			.d = st->d, .X = st->X, .k = st->k, .Y = st->Y, .labels = st->labels,
			.labelnames = st->labelnames, .nlabels = st->nlabels,
		.n_skipped = st->n_skipped, .start = st->start};

		st->result = ntk_fit_nystrom_rows(&rows);
		st->finalized = true;
		PG_RETURN_INT64(st->result);
	}

	PrepareFit(st, &run);
	if (ntk_options_searching(run.opts))
	{
		run.t_select = ntk_fit_elapsed(&run.pr);
		ntk_fit_select(&run.fd, run.opts, &run.pr, &run.metrics);
		run.t_select = ntk_fit_elapsed(&run.pr) - run.t_select;
	}
	BuildKernel(&run);
	if (run.opts->has_t)
		SolveFiniteTime(&run);
	else
		SolveByCholesky(&run);
	run.t_solve = ntk_fit_elapsed(&run.pr) - run.t_solve;
	CheckSolution(st->name, run.alpha, run.P, (size_t) run.fd.n * run.fd.k,
				  run.mean_diag, run.lambda);
	MetricsJson(&run);

	run.pr.phase = "storing";
	run.md.metrics_json = run.metrics.data;
	if (run.inputs_stored)
		ntk_model_store_finish(run.id, &run.md, true);
	else
		run.id = ntk_model_store(&run.md);

	st->finalized = true;
	st->result = run.id;
	PG_RETURN_INT64(run.id);
}
