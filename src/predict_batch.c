/*-------------------------------------------------------------------------
 *
 * predict_batch.c
 *	  SQL function ntk_predict_batch: predictions for the rows of a query.
 *
 * The caller's query runs read-only (a single plain SELECT, and nothing it
 * calls may write); its rows are predicted in blocks with matrix-matrix
 * products.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cblas.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/portal.h"

#include "arrays.h"
#include "errors.h"
#include "gram.h"
#include "model.h"
#include "memory.h"
#include "predict.h"
#include "threads.h"

PG_FUNCTION_INFO_V1(ntk_predict_batch);

/* doubles of a batch block's buffers: kernel values, inputs, outputs (256 MB) */
#define BATCH_BLOCK_DOUBLES ((size_t) 32 * 1024 * 1024)
#define BATCH_MAX_ROWS 1024

/* Refuses a batch query that is not a single plain SELECT. */
static void
CheckReadOnlyQuery(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *ps;
	ListCell   *lc;

	if (list_length(sources) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query of ntk_predict_batch must be a single SELECT statement")));
	ps = linitial(sources);
	foreach(lc, ps->query_list)
	{
		Query	   *q = lfirst_node(Query, lc);

		if (q->commandType != CMD_SELECT || q->hasModifyingCTE ||
			q->rowMarks != NIL || q->utilityStmt != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
					 errmsg("query of ntk_predict_batch must be read-only"),
					 errdetail("The query is not a plain SELECT, or it locks or modifies rows."),
					 errhint("Pass a plain SELECT returning (id bigint, x float8[]).")));
	}
}

static void
CheckBatchColumns(TupleDesc desc)
{
	Oid			idtype;

	if (desc->natts != 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("query of ntk_predict_batch must return two columns (id bigint, x float8[])"),
				 errdetail_plural("It returns %d column.", "It returns %d columns.",
								  desc->natts, desc->natts)));
	idtype = TupleDescAttr(desc, 0)->atttypid;
	if (idtype != INT8OID && idtype != INT4OID && idtype != INT2OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("first column of the ntk_predict_batch query must be an integer id, not %s",
						format_type_be(idtype))));
	if (TupleDescAttr(desc, 1)->atttypid != FLOAT8ARRAYOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("second column of the ntk_predict_batch query must be double precision[], not %s",
						format_type_be(TupleDescAttr(desc, 1)->atttypid))));
}

/*
 * NtkProgressFn of a batch's cross kernel: runs on the backend's thread
 * between the kernel's steps, so a cancel stops a block of a deep kernel.
 */
static int
BatchInterrupted(void *arg, double fraction)
{
	return QueryCancelPending || ProcDiePending;
}

/* Predicts one fetched block of rows and appends them to the result. */
static void
PredictBlock(NtkModel *m, SPITupleTable *tt, uint64 rows, ReturnSetInfo *rsinfo,
			 double *Q, double *qdiag, double *Kq, double *P,
			 int64 *ids, bool *idnull, bool *xnull)
{
	Oid			idtype = TupleDescAttr(tt->tupdesc, 0)->atttypid;
	int			nq = 0;
	int			qi;
	uint64		r;

	/* gather the block's inputs, standardized, into Q */
	for (r = 0; r < rows; r++)
	{
		bool		isnull;
		Datum		v = SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull);

		idnull[r] = isnull;
		if (!isnull)
			ids[r] = idtype == INT8OID ? DatumGetInt64(v) :
				idtype == INT4OID ? DatumGetInt32(v) : DatumGetInt16(v);
		v = SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull);
		xnull[r] = isnull;
		if (!isnull)
		{
			const double *x;
			int			xlen;

			x = ntk_array_data(DatumGetArrayTypeP(v), "x", &xlen);
			ntk_model_prepare_input(m, x, xlen);
			memcpy(Q + (size_t) nq * m->d, m->xbuf, m->d * sizeof(double));
			nq++;
		}
	}

	if (nq > 0)
	{
		NtkStatus	st = ntk_points_diag(&m->params, Q, nq, m->d, qdiag);

		if (st == NTK_OK)
			st = ntk_gram_cross(&m->params, m->kind, Q, nq, qdiag,
								m->X, m->n, m->xtable, m->d, Kq,
								BatchInterrupted, NULL);
		if (st != NTK_OK)
			ntk_status_error(st, psprintf("while predicting a block of rows with model \"%s\"",
										  m->name));
		/* P (nq x k, row-major) = Kq (nq x n) alpha (n x k) */
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m->k, nq, m->n,
					1.0, m->alpha, m->n, Kq, m->n, 0.0, P, m->k);
		ntk_model_check_output(m, P, (size_t) nq * m->k);
	}

	for (r = 0, qi = 0; r < rows; r++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = Int64GetDatum(ids[r]);
		nulls[0] = idnull[r];
		if (xnull[r])
			nulls[1] = nulls[2] = nulls[3] = true;
		else
		{
			const double *p = P + (size_t) qi * m->k;

			values[1] = Float8GetDatum(p[0]);
			values[2] = PointerGetDatum(ntk_float8_array(p, m->k));
			if (m->task == NTK_TASK_CLASSIFICATION)
				values[3] = CStringGetTextDatum(m->classes[ntk_argmax(p, m->k)]);
			else
				nulls[3] = true;
			qi++;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

Datum
ntk_predict_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		save_read_only = XactReadOnly;
	NtkModel   *m;

	InitMaterializedSRF(fcinfo, 0);
	m = ntk_model_get(name);
	ntk_model_pin(m);
	ntk_threads_for_big_work();

	PG_TRY();
	{
		SPIPlanPtr	plan;
		Portal		portal;
		size_t		len = ntk_diag_len(&m->params);
		int			block;
		double	   *Q;
		double	   *qdiag;
		double	   *Kq;
		double	   *P;
		int64	   *ids;
		bool	   *idnull;
		bool	   *xnull;
		MemoryContext blockcxt;

		/* a row's share of the buffers: its kernel row, input, outputs, diagonal */
		block = (int) Min((size_t) BATCH_MAX_ROWS,
						  Max((size_t) 1, BATCH_BLOCK_DOUBLES /
							  ((size_t) m->n + (size_t) m->d + (size_t) m->k + len)));
		Q = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) block * m->d * sizeof(double));
		qdiag = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) block * len * sizeof(double));
		Kq = ntk_alloc_huge(CurrentMemoryContext, (size_t) block * m->n * sizeof(double));
		P = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) block * m->k * sizeof(double));
		ids = palloc(block * sizeof(int64));
		idnull = palloc(block * sizeof(bool));
		xnull = palloc(block * sizeof(bool));

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		plan = SPI_prepare(query, 0, NULL);
		if (plan == NULL)
			elog(ERROR, "could not prepare the ntk_predict_batch query: %s",
				 SPI_result_code_string(SPI_result));
		CheckReadOnlyQuery(plan);

		/* whatever the query calls must not write either */
		XactReadOnly = true;
		portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
		CheckBatchColumns(portal->tupDesc);
		blockcxt = AllocSetContextCreate(CurrentMemoryContext, "ntk_predict_batch block",
										 ALLOCSET_DEFAULT_SIZES);
		for (;;)
		{
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();
			SPI_cursor_fetch(portal, true, block);
			if (SPI_processed == 0)
				break;
			/* detoasted inputs and result arrays live one block */
			old = MemoryContextSwitchTo(blockcxt);
			PredictBlock(m, SPI_tuptable, SPI_processed, rsinfo,
						 Q, qdiag, Kq, P, ids, idnull, xnull);
			MemoryContextSwitchTo(old);
			MemoryContextReset(blockcxt);
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
		XactReadOnly = save_read_only;
		SPI_finish();
	}
	PG_FINALLY();
	{
		XactReadOnly = save_read_only;
		ntk_model_unpin(m);
	}
	PG_END_TRY();

	return (Datum) 0;
}
