/*-------------------------------------------------------------------------
 *
 * fit.c
 *	  The ntk_fit and ntk_fit_classifier aggregates.
 *
 * The transition functions collect rows into a growing buffer in the
 * aggregate context (capacity doubling, so no quadratic copying).  The final
 * function builds the Gram matrix, solves
 * (K + lambda I) alpha = Y by Cholesky and stores the model.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "fit.h"
#include "model.h"
#include "ntk.h"
#include "solve.h"

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
	double	   *X;				/* cap x d, row-major */
	double	   *Y;				/* cap x k, row-major (regression) */
	int		   *labels;			/* cap (classification) */
	HTAB	   *labelmap;
	int			nlabels;
	char	  **labelnames;		/* by index */
	int			labelcap;
	int64		n_skipped;
	instr_time	start;
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

/* Bytes needed for a fit of n points, with overflow saturating to +inf. */
double
ntk_fit_peak_bytes(double n, double d, double k, const NtkParams *p)
{
	double		len = (double) ntk_diag_len(p);

	/* Gram, inputs, targets and coefficients, diagonal states and tables */
	return 8.0 * (n * n + n * d + 2.0 * n * k + 2.0 * n * len);
}

/* Refuses a fit whose estimated peak exceeds ntk.max_memory. */
void
ntk_check_memory(double n, double d, double k, const NtkParams *p)
{
	double		need = ntk_fit_peak_bytes(n, d, k, p);
	double		allowed = (double) ntk_max_memory_kb * 1024.0;

	if (need > allowed || n * n > (double) SIZE_MAX / 8.0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ntk fit of %.0f rows with %.0f features needs more memory than allowed", n, d),
				 errdetail("The fit needs about %.0f MB, and ntk.max_memory is %.0f MB.",
						   ceil(need / (1024.0 * 1024.0)),
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

	if (st->n < st->cap)
		return;
	if (st->n >= INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ntk fit cannot use more than %d rows", INT_MAX)));
	newcap = st->cap == 0 ? 1024 : st->cap * 2;
	if (newcap > INT_MAX)
		newcap = INT_MAX;

	/* refuse early, long before the Gram matrix would be allocated */
	ntk_check_memory((double) st->n + 1, st->d, Max(st->k, st->nlabels),
					 &st->opts.params);

	if (st->X == NULL)
	{
		st->X = MemoryContextAllocHuge(st->ctx, (size_t) newcap * st->d * sizeof(double));
		if (st->target == TARGET_LABEL)
			st->labels = MemoryContextAllocHuge(st->ctx, (size_t) newcap * sizeof(int));
		else
			st->Y = MemoryContextAllocHuge(st->ctx, (size_t) newcap * st->k * sizeof(double));
	}
	else
	{
		st->X = repalloc_huge(st->X, (size_t) newcap * st->d * sizeof(double));
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

static int
CompareLabels(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

Datum
ntk_fit_final(PG_FUNCTION_ARGS)
{
	FitState   *st = PG_ARGISNULL(0) ? NULL : (FitState *) PG_GETARG_POINTER(0);
	NtkFitOptions *opts;
	NtkModelData md;
	Progress	pr;
	int			n;
	int			d;
	int			k;
	size_t		len;
	double	   *mean = NULL;
	double	   *scale = NULL;
	double	   *diag;
	double	   *work;
	double	   *K;
	double	   *A;
	double		mean_diag = 0.0;
	double		lambda;
	double		train_err = 0.0;
	char	  **classes = NULL;
	int		   *remap = NULL;
	int			failed_at;
	NtkStatus	status;
	StringInfoData metrics;
	int64		id;
	int			i;
	int			j;

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();

	opts = &st->opts;
	if (ntk_options_searching(opts) || opts->has_t || opts->variance)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("options \"t\", \"variance\" and candidate lists are not supported by this version of ntk")));

	n = (int) st->n;
	d = st->d;
	k = st->target == TARGET_LABEL ? st->nlabels : st->k;
	ntk_check_memory(n, d, k, &opts->params);
	ntk_set_blas_threads();

	pr.model = st->name;
	pr.phase = "preparing";
	pr.last_notice = 0.0;
	pr.start = st->start;

	/* standardize in place: z-score with population std, constant features centered */
	if (opts->standardize)
	{
		mean = palloc0(d * sizeof(double));
		scale = palloc0(d * sizeof(double));
		for (i = 0; i < n; i++)
			for (j = 0; j < d; j++)
				mean[j] += st->X[(size_t) i * d + j];
		for (j = 0; j < d; j++)
			mean[j] /= n;
		for (i = 0; i < n; i++)
			for (j = 0; j < d; j++)
			{
				double		c = st->X[(size_t) i * d + j] - mean[j];

				scale[j] += c * c;
			}
		for (j = 0; j < d; j++)
		{
			scale[j] = sqrt(scale[j] / n);
			if (!(scale[j] > 0.0))
				scale[j] = 1.0;
		}
		for (i = 0; i < n; i++)
			for (j = 0; j < d; j++)
				st->X[(size_t) i * d + j] = (st->X[(size_t) i * d + j] - mean[j]) / scale[j];
	}

	/* targets as a column-major n x k matrix, solved in place */
	A = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * k * sizeof(double));
	if (st->target == TARGET_LABEL)
	{
		/* classes in sorted order; one-hot targets */
		classes = palloc(k * sizeof(char *));
		remap = palloc(k * sizeof(int));
		memcpy(classes, st->labelnames, k * sizeof(char *));
		qsort(classes, k, sizeof(char *), CompareLabels);
		for (i = 0; i < k; i++)
		{
			for (j = 0; j < k; j++)
				if (st->labelnames[i] == classes[j])
					break;
			remap[i] = j;
		}
		memset(A, 0, (size_t) n * k * sizeof(double));
		for (i = 0; i < n; i++)
			A[i + (size_t) remap[st->labels[i]] * n] = 1.0;
	}
	else
	{
		for (i = 0; i < n; i++)
			for (j = 0; j < k; j++)
				A[i + (size_t) j * n] = st->Y[(size_t) i * k + j];
	}

	len = ntk_diag_len(&opts->params);
	diag = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * len * sizeof(double));
	ntk_status_error(ntk_points_diag(&opts->params, st->X, n, d, diag), "ntk_fit");
	for (i = 0; i < n; i++)
		mean_diag += ntk_diag_value(&opts->params, opts->kind, diag + (size_t) i * len);
	mean_diag /= n;
	lambda = opts->ridge_absolute ? opts->ridge : opts->ridge * mean_diag;

	work = MemoryContextAllocHuge(CurrentMemoryContext,
								  ntk_gram_work_len(&opts->params, n) * sizeof(double));
	K = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * n * sizeof(double));
	pr.phase = "building the kernel matrix";
	status = ntk_gram_sym(&opts->params, opts->kind, st->X, n, d, diag, work, K,
						  ReportProgress, &pr);
	ntk_status_error(status, "ntk_fit");

	ntk_add_diagonal(K, n, lambda);
	pr.phase = "factorizing";
	status = ntk_cholesky(K, n, &failed_at, ReportProgress, &pr);
	if (status == NTK_NOT_POSITIVE_DEFINITE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("kernel matrix of model \"%s\" is not positive definite", st->name),
				 errdetail("The Cholesky factorization failed at row %d of %d with ridge %g (absolute %g).",
						   failed_at, n, opts->ridge, lambda),
				 errhint("Raise the \"ridge\" option, for example to 1e-4, or remove duplicate rows.")));
	ntk_status_error(status, "ntk_fit");
	ntk_cholesky_solve(K, n, A, k);
	pfree(K);

	/* training residuals for free: K alpha = Y - lambda alpha */
	if (st->target == TARGET_LABEL)
	{
		int			correct = 0;

		for (i = 0; i < n; i++)
		{
			int			best = 0;
			double		bestv = -INFINITY;

			for (j = 0; j < k; j++)
			{
				double		yhat = (remap[st->labels[i]] == j ? 1.0 : 0.0)
					- lambda * A[i + (size_t) j * n];

				if (yhat > bestv)
				{
					bestv = yhat;
					best = j;
				}
			}
			correct += best == remap[st->labels[i]];
		}
		train_err = (double) correct / n;
	}
	else
	{
		double		ss = 0.0;

		for (i = 0; i < n; i++)
			for (j = 0; j < k; j++)
			{
				double		r = lambda * A[i + (size_t) j * n];

				ss += r * r;
			}
		train_err = sqrt(ss / ((double) n * k));
	}

	initStringInfo(&metrics);
	appendStringInfo(&metrics,
					 "{\"fit_seconds\": %.3f, \"n_rows\": %d, \"n_skipped\": " INT64_FORMAT ", "
					 "\"ridge_absolute_value\": %s, \"mean_diag\": %s, \"%s\": %s}",
					 Elapsed(&pr), n, st->n_skipped,
					 float8out_internal(lambda), float8out_internal(mean_diag),
					 st->target == TARGET_LABEL ? "train_accuracy" : "train_rmse",
					 float8out_internal(train_err));

	pr.phase = "storing";
	md.name = st->name;
	md.task = st->target == TARGET_LABEL ? NTK_TASK_CLASSIFICATION : NTK_TASK_REGRESSION;
	md.opts = opts;
	md.ridge = opts->ridge;
	md.n = n;
	md.d = d;
	md.k = k;
	md.nclasses = st->target == TARGET_LABEL ? k : 0;
	md.classes = classes;
	md.X = st->X;
	md.alpha = A;
	md.mean = mean;
	md.scale = scale;
	md.metrics_json = metrics.data;
	id = ntk_model_store(&md);

	PG_RETURN_INT64(id);
}
