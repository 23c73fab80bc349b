/*-------------------------------------------------------------------------
 *
 * evaluate.c
 *	  SQL function ntk_evaluate: the metrics of a model on the rows of a
 *	  query returning (x, target).
 *
 * The query is checked and run as ntk_predict_batch's (read-only), and its
 * rows predicted in the same blocks with matrix-matrix products.  Only sums
 * and counts are kept from block to block, so the memory does not grow with
 * the number of rows.  The figures are those of scikit-learn's
 * sklearn.metrics with its default arguments:
 *
 * regression (target double precision, or double precision[] for a model
 * with several outputs), per output and as their unweighted mean:
 *	rmse	sqrt(mean_squared_error)
 *	mae		mean_absolute_error
 *	r2		r2_score: 1 - SS_res/SS_tot; a constant target (SS_tot = 0) gives
 *			1 if the predictions are exact and 0 otherwise (force_finite);
 *			fewer than two rows give null (scikit-learn's NaN)
 *
 * classification (target text): accuracy, and per label precision, recall,
 * F1 and support with their macro and support-weighted means.  The labels
 * are those of scikit-learn's labels=None: the union of the labels in the
 * test rows and the predicted ones, in code point order (strcmp of UTF-8).
 * A precision or recall whose denominator is 0 is 0 (zero_division="warn"
 * without the warning), and so is an F1 whose precision and recall are both
 * 0.  The confusion matrix has a row per true label and a column per
 * predicted label, in the order of "labels".
 *
 * Rows whose x or target is NULL are skipped and counted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "arrays.h"
#include "memory.h"
#include "model.h"
#include "predict.h"
#include "threads.h"

PG_FUNCTION_INFO_V1(ntk_evaluate);

#define EVAL_COLUMNS "(x float8[], target)"

typedef struct EvalLabel
{
	char	   *label;			/* hash key */
	int			index;			/* model classes first, then test labels */
} EvalLabel;

typedef struct EvalState
{
	NtkModel   *m;
	MemoryContext cxt;			/* of the labels */
	int			k;
	bool		classify;
	Oid			target_type;
	int64		n;
	int64		n_skipped;

	/* regression: per output */
	double	   *sse;			/* sum of squared errors */
	double	   *sae;			/* sum of absolute errors */
	double	   *mean;			/* running mean of the target (Welford) */
	double	   *m2;				/* sum of squared deviations from it */

	/* classification */
	HTAB	   *labelmap;
	char	  **labels;			/* by index */
	int			nlabels;
	int			labelcap;
	int64	   *cm;				/* labelcap x k: true label by predicted class */
} EvalState;

static uint32
LabelHash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
LabelMatch(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

/* The index of a label, added (after the model's classes) if new. */
static int
LabelIndex(EvalState *es, const char *label)
{
	EvalLabel  *e;
	bool		found;

	e = hash_search(es->labelmap, &label, HASH_ENTER, &found);
	if (!found)
	{
		e->label = MemoryContextStrdup(es->cxt, label);
		e->index = es->nlabels;
		if (es->nlabels == es->labelcap)
		{
			int			newcap = es->labelcap * 2;

			es->labels = repalloc(es->labels, newcap * sizeof(char *));
			es->cm = repalloc_huge(es->cm, (size_t) newcap * es->k * sizeof(int64));
			memset(es->cm + (size_t) es->labelcap * es->k, 0,
				   (size_t) (newcap - es->labelcap) * es->k * sizeof(int64));
			es->labelcap = newcap;
		}
		es->labels[es->nlabels++] = e->label;
	}
	return e->index;
}

static void
InitState(EvalState *es, NtkModel *m)
{
	int			j;

	memset(es, 0, sizeof(*es));
	es->m = m;
	es->cxt = CurrentMemoryContext;
	es->k = m->k;
	es->classify = m->task == NTK_TASK_CLASSIFICATION;
	if (es->classify)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(char *);
		ctl.entrysize = sizeof(EvalLabel);
		ctl.hash = LabelHash;
		ctl.match = LabelMatch;
		ctl.hcxt = CurrentMemoryContext;
		es->labelmap = hash_create("ntk_evaluate labels", 64, &ctl,
								   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
		es->labelcap = Max(m->k, 8);
		es->labels = palloc(es->labelcap * sizeof(char *));
		es->cm = palloc0_array(int64, (size_t) es->labelcap * m->k);
		for (j = 0; j < m->k; j++)
			(void) LabelIndex(es, m->classes[j]);
	}
	else
	{
		es->sse = palloc0_array(double, m->k);
		es->sae = palloc0_array(double, m->k);
		es->mean = palloc0_array(double, m->k);
		es->m2 = palloc0_array(double, m->k);
	}
}

static void
CheckColumns(EvalState *es, TupleDesc desc)
{
	Oid			xtype;
	Oid			ttype;
	Oid			want;

	if (desc->natts != 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("query of ntk_evaluate must return two columns (x float8[], target)"),
				 errdetail_plural("It returns %d column.", "It returns %d columns.",
								  desc->natts, desc->natts)));
	xtype = TupleDescAttr(desc, 0)->atttypid;
	if (!ntk_batch_x_type_ok(xtype))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("first column of the ntk_evaluate query must be double precision[] or real[], not %s",
						format_type_be(xtype))));
	ttype = TupleDescAttr(desc, 1)->atttypid;
	want = es->classify ? TEXTOID : es->k == 1 ? FLOAT8OID : FLOAT8ARRAYOID;
	if (ttype != want)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("second column of the ntk_evaluate query must be %s for model \"%s\", not %s",
						format_type_be(want), es->m->name, format_type_be(ttype)),
				 es->classify ? 0 :
				 errdetail_plural("The model has %d output.", "The model has %d outputs.",
								  es->k, es->k)));
	es->target_type = ttype;
}

/* Adds one predicted row of a regression model. */
static void
AddRegression(EvalState *es, const double *y, const double *p)
{
	int			j;

	es->n++;
	for (j = 0; j < es->k; j++)
	{
		double		e = y[j] - p[j];
		double		delta = y[j] - es->mean[j];

		es->sse[j] += e * e;
		es->sae[j] += fabs(e);
		es->mean[j] += delta / es->n;
		es->m2[j] += delta * (y[j] - es->mean[j]);
	}
}

/* Predicts one fetched block and adds it to the sums. */
static void
EvaluateBlock(EvalState *es, SPITupleTable *tt, uint64 rows,
			  double *Q, double *qdiag, double *Kq, double *P, double *Y, int *T)
{
	NtkModel   *m = es->m;
	int			nq = 0;
	int			qi;
	uint64		r;

	for (r = 0; r < rows; r++)
	{
		bool		xnull;
		bool		tnull;
		Datum		x = SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &xnull);
		Datum		t = SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &tnull);

		if (xnull || tnull)
		{
			es->n_skipped++;
			continue;
		}
		ntk_model_prepare_array(m, DatumGetArrayTypeP(x));
		memcpy(Q + (size_t) nq * m->d, m->xbuf, m->d * sizeof(double));
		if (es->classify)
		{
			char	   *label = TextDatumGetCString(t);

			T[nq] = LabelIndex(es, label);
			pfree(label);
		}
		else if (es->k == 1)
		{
			Y[nq] = DatumGetFloat8(t);
			if (!isfinite(Y[nq]))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("target must not be NaN or Infinity")));
		}
		else
		{
			int			len;
			const double *y = ntk_array_data(DatumGetArrayTypeP(t), "target", &len);

			if (len != es->k)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("array \"target\" has %d elements, but model \"%s\" has %d outputs",
								len, m->name, es->k)));
			memcpy(Y + (size_t) nq * es->k, y, es->k * sizeof(double));
		}
		nq++;
	}
	if (nq == 0)
		return;
	ntk_batch_predict(m, Q, nq, qdiag, Kq, P);
	for (qi = 0; qi < nq; qi++)
	{
		const double *p = P + (size_t) qi * m->k;

		if (es->classify)
		{
			es->n++;
			es->cm[(size_t) T[qi] * es->k + ntk_argmax(p, m->k)]++;
		}
		else
			AddRegression(es, Y + (size_t) qi * es->k, p);
	}
}

/* Appends "key": number (null if not finite). */
static void
PutNumber(StringInfo s, const char *key, double v, bool comma)
{
	if (comma)
		appendStringInfoString(s, ", ");
	escape_json(s, key);
	appendStringInfoString(s, ": ");
	if (isfinite(v))
		appendStringInfoString(s, float8out_internal(v));
	else
		appendStringInfoString(s, "null");
}

static void
PutCount(StringInfo s, const char *key, int64 v, bool comma)
{
	if (comma)
		appendStringInfoString(s, ", ");
	escape_json(s, key);
	appendStringInfo(s, ": " INT64_FORMAT, v);
}

static void
RegressionJson(EvalState *es, StringInfo s)
{
	double		rmse = 0;
	double		mae = 0;
	double		r2 = 0;
	int			j;

	appendStringInfoString(s, ", \"outputs\": [");
	for (j = 0; j < es->k; j++)
	{
		double		o_rmse = sqrt(es->sse[j] / es->n);
		double		o_mae = es->sae[j] / es->n;
		double		o_r2;

		if (es->n < 2)
			o_r2 = NAN;
		else if (es->sse[j] == 0)
			o_r2 = 1.0;
		else if (es->m2[j] == 0)
			o_r2 = 0.0;
		else
			o_r2 = 1.0 - es->sse[j] / es->m2[j];
		rmse += o_rmse;
		mae += o_mae;
		r2 += o_r2;
		appendStringInfoString(s, j ? ", {" : "{");
		PutNumber(s, "rmse", o_rmse, false);
		PutNumber(s, "mae", o_mae, true);
		PutNumber(s, "r2", o_r2, true);
		appendStringInfoChar(s, '}');
	}
	appendStringInfoChar(s, ']');
	PutNumber(s, "rmse", rmse / es->k, true);
	PutNumber(s, "mae", mae / es->k, true);
	PutNumber(s, "r2", r2 / es->k, true);
}

static int
LabelCmp(const void *a, const void *b, void *arg)
{
	char	  **labels = (char **) arg;

	return strcmp(labels[*(const int *) a], labels[*(const int *) b]);
}

static void
ClassificationJson(EvalState *es, StringInfo s)
{
	int			k = es->k;
	int			nl = es->nlabels;
	int64	   *support = palloc0_array(int64, nl);
	int64	   *predicted = palloc0_array(int64, nl);
	int64	   *tp = palloc0_array(int64, nl);
	int		   *order = palloc_array(int, nl);
	int			used = 0;
	int64		correct = 0;
	double		sums[2][3] = {{0}};	/* macro, weighted: precision, recall, F1 */
	int			i;
	int			j;

	/* predicted class j is label j (the model's classes come first) */
	for (i = 0; i < nl; i++)
		for (j = 0; j < k; j++)
		{
			int64		c = es->cm[(size_t) i * k + j];

			support[i] += c;
			predicted[j] += c;
			if (i == j)
				tp[i] = c;
		}
	for (i = 0; i < nl; i++)
	{
		correct += tp[i];
		if (support[i] > 0 || predicted[i] > 0)
			order[used++] = i;
	}
	qsort_arg(order, used, sizeof(int), LabelCmp, es->labels);

	PutNumber(s, "accuracy", es->n ? (double) correct / es->n : NAN, true);
	appendStringInfoString(s, ", \"labels\": [");
	for (i = 0; i < used; i++)
	{
		if (i)
			appendStringInfoString(s, ", ");
		escape_json(s, es->labels[order[i]]);
	}
	appendStringInfoString(s, "], \"classes\": [");
	for (i = 0; i < used; i++)
	{
		int			c = order[i];
		double		prec = predicted[c] ? (double) tp[c] / (double) predicted[c] : 0.0;
		double		rec = support[c] ? (double) tp[c] / (double) support[c] : 0.0;
		double		f1 = prec + rec == 0.0 ? 0.0 : 2.0 * prec * rec / (prec + rec);

		sums[0][0] += prec;
		sums[0][1] += rec;
		sums[0][2] += f1;
		sums[1][0] += prec * support[c];
		sums[1][1] += rec * support[c];
		sums[1][2] += f1 * support[c];
		appendStringInfoString(s, i ? ", {" : "{");
		escape_json(s, "label");
		appendStringInfoString(s, ": ");
		escape_json(s, es->labels[c]);
		PutNumber(s, "precision", prec, true);
		PutNumber(s, "recall", rec, true);
		PutNumber(s, "f1", f1, true);
		PutCount(s, "support", support[c], true);
		appendStringInfoChar(s, '}');
	}
	appendStringInfoString(s, "], \"macro\": {");
	PutNumber(s, "precision", used ? sums[0][0] / used : NAN, false);
	PutNumber(s, "recall", used ? sums[0][1] / used : NAN, true);
	PutNumber(s, "f1", used ? sums[0][2] / used : NAN, true);
	appendStringInfoString(s, "}, \"weighted\": {");
	PutNumber(s, "precision", es->n ? sums[1][0] / es->n : NAN, false);
	PutNumber(s, "recall", es->n ? sums[1][1] / es->n : NAN, true);
	PutNumber(s, "f1", es->n ? sums[1][2] / es->n : NAN, true);
	appendStringInfoString(s, "}, \"confusion_matrix\": [");
	for (i = 0; i < used; i++)
	{
		appendStringInfoString(s, i ? ", [" : "[");
		for (j = 0; j < used; j++)
		{
			int			pc = order[j];
			int64		c = pc < k ? es->cm[(size_t) order[i] * k + pc] : 0;

			appendStringInfo(s, j ? ", " INT64_FORMAT : INT64_FORMAT, c);
		}
		appendStringInfoChar(s, ']');
	}
	appendStringInfoChar(s, ']');
}

/* The buffers of ntk_evaluate's blocks. */
typedef struct EvalRun
{
	EvalState  *es;
	double	   *Q;
	double	   *qdiag;
	double	   *Kq;
	double	   *P;
	double	   *Y;
	int		   *T;
} EvalRun;

/* NtkBatchColumnsFn */
static void
EvalColumns(void *arg, TupleDesc desc)
{
	CheckColumns(((EvalRun *) arg)->es, desc);
}

/* NtkBatchBlockFn: detoasted inputs live one block; new labels go to es's context */
static void
EvalBlock(void *arg, SPITupleTable *tt, uint64 rows)
{
	EvalRun    *er = (EvalRun *) arg;

	EvaluateBlock(er->es, tt, rows, er->Q, er->qdiag, er->Kq, er->P, er->Y, er->T);
}

Datum
ntk_evaluate(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Jsonb	   *opts = PG_GETARG_JSONB_P(2);
	NtkModel   *m;
	EvalState	es;
	StringInfoData s;

	if (!JB_ROOT_IS_OBJECT(opts) || JB_ROOT_IS_SCALAR(opts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a jsonb object")));
	if (JB_ROOT_COUNT(opts) > 0)
	{
		JsonbIterator *it = JsonbIteratorInit(&opts->root);
		JsonbValue	v;

		(void) JsonbIteratorNext(&it, &v, false);
		(void) JsonbIteratorNext(&it, &v, false);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized option \"%s\" of ntk_evaluate",
						pnstrdup(v.val.string.val, v.val.string.len)),
				 errdetail("ntk_evaluate takes no options yet.")));
	}

	m = ntk_model_get(name);
	ntk_model_pin(m);
	ntk_threads_for_big_work();
	InitState(&es, m);

	PG_TRY();
	{
		int			block = ntk_batch_block_rows(m);
		size_t		len = ntk_diag_len(&m->params);
		EvalRun		er;

		er.es = &es;
		er.Q = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) block * m->d * sizeof(double));
		er.qdiag = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) block * len * sizeof(double));
		er.Kq = ntk_alloc_huge(CurrentMemoryContext, (size_t) block * m->n * sizeof(double));
		er.P = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) block * m->k * sizeof(double));
		er.Y = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) block * m->k * sizeof(double));
		er.T = palloc(block * sizeof(int));

		ntk_batch_run_query(query, "ntk_evaluate", EVAL_COLUMNS, block,
							EvalColumns, EvalBlock, &er);
	}
	PG_FINALLY();
	{
		ntk_model_unpin(m);
	}
	PG_END_TRY();

	initStringInfo(&s);
	appendStringInfoString(&s, "{");
	escape_json(&s, "task");
	appendStringInfoString(&s, es.classify ? ": \"classification\"" : ": \"regression\"");
	PutCount(&s, "n", es.n, true);
	PutCount(&s, "n_skipped", es.n_skipped, true);
	if (es.n > 0)
	{
		if (es.classify)
			ClassificationJson(&es, &s);
		else
			RegressionJson(&es, &s);
	}
	appendStringInfoChar(&s, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data)));
}
