/*-------------------------------------------------------------------------
 *
 * predict.c
 *	  SQL functions that predict one point (values, class, variance), and
 *	  ntk_drop_model.
 *
 * They take the decoded model from the per-backend cache (model_cache.c),
 * so a call costs one matrix-vector product and the recursion over the
 * training points.  Batches of rows are predicted by predict_batch.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cblas.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "arrays.h"
#include "errors.h"
#include "gram.h"
#include "krr.h"
#include "model.h"
#include "predict.h"
#include "threads.h"

PG_FUNCTION_INFO_V1(ntk_predict);
PG_FUNCTION_INFO_V1(ntk_predict_vector);
PG_FUNCTION_INFO_V1(ntk_predict_class);
PG_FUNCTION_INFO_V1(ntk_predict_var);
PG_FUNCTION_INFO_V1(ntk_drop_model);

/*
 * How far below zero, relative to the prior variance, a computed posterior
 * variance may fall by rounding before the factor counts as damaged.  Solving
 * with a Cholesky factor loses about n eps sqrt(cond) of it (2e-5 at n = 1000
 * and a condition number of 1e16, where the factorization fails); the
 * whitening factor of an eigendecomposition loses eps cond, which may be all
 * of it for a model fitted with no ridge: there only gross damage (a factor
 * out by orders of magnitude) is told from rounding.
 */
#define NTK_VARIANCE_SLACK_CHOL 1e-3
#define NTK_VARIANCE_SLACK_WHITEN 1e3

/* Standardizes a checked x into m->xbuf after checking its length. */
static void
PrepareView(NtkModel *m, const NtkArrayView *x)
{
	NtkArrayView v = *x;
	int			j;

	if (v.len != m->d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array \"x\" has %d elements, but model \"%s\" has %d features",
						v.len, m->name, m->d)));
	if (m->mean)
	{
		for (j = 0; j < m->d; j++)
			m->xbuf[j] = ntk_standardize_value(ntk_array_value(&v, j),
											   m->mean[j], m->scale[j]);
	}
	else
		ntk_array_copy(&v, m->xbuf);
}

void
ntk_model_prepare_array(NtkModel *m, ArrayType *x)
{
	NtkArrayView v = ntk_array_view(x, "x");

	PrepareView(m, &v);
}

void
ntk_model_check_output(const NtkModel *m, const double *v, size_t count)
{
	size_t		i;

	for (i = 0; i < count; i++)
		if (!isfinite(v[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("prediction of model \"%s\" is out of range for type double precision",
							m->name),
					 errdetail("The kernel values are finite, but their sum weighted by the dual coefficients is not."),
					 errhint("Scale the inputs to a smaller norm, or refit on rescaled targets.")));
}

/* Predicts every output for one input (writes m->out). */
static void
PredictOne(NtkModel *m, const NtkArrayView *x)
{
	NtkStatus	st;

	PrepareView(m, x);
	ntk_threads_for_one_point();
	st = ntk_predict_point(&m->params, m->kind, m->X, m->n, m->d,
						   m->xtable, m->alpha, m->k, m->xbuf,
						   m->qdiag, m->kbuf, m->out);
	if (st != NTK_OK)
		ntk_status_error(st, psprintf("while predicting with model \"%s\"", m->name));
	ntk_model_check_output(m, m->out, m->k);
}

/* The model named by argument 0 and the checked x (float8[] or real[]) of argument 1. */
static NtkModel *
ModelAndInput(FunctionCallInfo fcinfo, NtkArrayView *x)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	NtkModel   *m = ntk_model_get(name);

	*x = ntk_array_view(PG_GETARG_ARRAYTYPE_P(1), "x");
	pfree(name);
	return m;
}

int
ntk_argmax(const double *v, int k)
{
	int			best = 0;
	int			j;

	for (j = 1; j < k; j++)
		if (v[j] > v[best])
			best = j;
	return best;
}

Datum
ntk_predict(PG_FUNCTION_ARGS)
{
	NtkArrayView x;
	NtkModel   *m = ModelAndInput(fcinfo, &x);

	if (m->task == NTK_TASK_CLASSIFICATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is a classifier", m->name),
				 errhint("Use ntk_predict_class() for labels or ntk_predict_vector() for class scores.")));
	if (m->k != 1)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" has %d outputs", m->name, m->k),
				 errhint("Use ntk_predict_vector() for multi-output models.")));
	PredictOne(m, &x);
	PG_RETURN_FLOAT8(m->out[0]);
}

ArrayType *
ntk_float8_array(const double *v, int k)
{
	Datum	   *elems = palloc(k * sizeof(Datum));
	int			j;

	for (j = 0; j < k; j++)
		elems[j] = Float8GetDatum(v[j]);
	return construct_array(elems, k, FLOAT8OID, sizeof(float8),
						   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

Datum
ntk_predict_vector(PG_FUNCTION_ARGS)
{
	NtkArrayView x;
	NtkModel   *m = ModelAndInput(fcinfo, &x);

	PredictOne(m, &x);
	PG_RETURN_ARRAYTYPE_P(ntk_float8_array(m->out, m->k));
}

Datum
ntk_predict_class(PG_FUNCTION_ARGS)
{
	NtkArrayView x;
	NtkModel   *m = ModelAndInput(fcinfo, &x);

	if (m->task != NTK_TASK_CLASSIFICATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("model \"%s\" is not a classifier", m->name),
				 errhint("Use ntk_predict() or ntk_predict_vector() for regression models.")));
	PredictOne(m, &x);
	PG_RETURN_TEXT_P(cstring_to_text(m->classes[ntk_argmax(m->out, m->k)]));
}

Datum
ntk_predict_var(PG_FUNCTION_ARGS)
{
	NtkArrayView x;
	NtkModel   *m = ModelAndInput(fcinfo, &x);
	double		kxx;
	double		var;

	if (m->factor_kind == NTK_FACTOR_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" was fitted without variance", m->name),
				 errhint("Refit it with the option '{\"variance\": true}'.")));
	PredictOne(m, &x);
	kxx = ntk_diag_value(&m->params, m->kind, m->qdiag);
	var = ntk_posterior_variance(m->factor, m->n, m->factor_kind == NTK_FACTOR_CHOL,
								 m->kbuf, kxx, m->vbuf);
	ntk_model_check_output(m, &var, 1);

	/*
	 * The variance was clamped at 0; below it by more than rounding (of a
	 * difference of two numbers near kxx, amplified by the conditioning of
	 * the kernel matrix: see the slacks above) means the stored factor does
	 * not factor it.
	 */
	if (var == 0.0)
	{
		double		quad = cblas_ddot(m->n, m->vbuf, 1, m->vbuf, 1);
		double		slack = m->factor_kind == NTK_FACTOR_CHOL ?
			NTK_VARIANCE_SLACK_CHOL : NTK_VARIANCE_SLACK_WHITEN;

		if (!(quad - kxx <= slack * kxx))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model \"%s\" is damaged", m->name),
					 errdetail("Its variance factor gives a variance of %g for a point whose prior variance is %g.",
							   kxx - quad, kxx)));
	}
	PG_RETURN_FLOAT8(var);
}

Datum
ntk_drop_model(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_BOOL(ntk_model_drop(name));
}
