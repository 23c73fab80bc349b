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

/*
 * Refuses a query that is not a single plain SELECT: fn names the function
 * in messages, columns the row it wants ("(id bigint, x float8[])").
 */
void
ntk_batch_check_query(SPIPlanPtr plan, const char *fn, const char *columns)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *ps;
	ListCell   *lc;

	if (list_length(sources) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query of %s must be a single SELECT statement", fn)));
	ps = linitial(sources);
	foreach(lc, ps->query_list)
	{
		Query	   *q = lfirst_node(Query, lc);

		if (q->commandType != CMD_SELECT || q->hasModifyingCTE ||
			q->rowMarks != NIL || q->utilityStmt != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
					 errmsg("query of %s must be read-only", fn),
					 errdetail("The query is not a plain SELECT, or it locks or modifies rows."),
					 errhint("Pass a plain SELECT returning %s.", columns)));
	}
}

void
ntk_batch_run_query(const char *query, const char *fn, const char *columns,
					int block, NtkBatchColumnsFn columns_fn,
					NtkBatchBlockFn block_fn, void *arg)
{
	bool		save_read_only = XactReadOnly;

	PG_TRY();
	{
		SPIPlanPtr	plan;
		Portal		portal;
		MemoryContext blockcxt;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		plan = SPI_prepare(query, 0, NULL);
		if (plan == NULL)
			elog(ERROR, "could not prepare the %s query: %s", fn,
				 SPI_result_code_string(SPI_result));
		ntk_batch_check_query(plan, fn, columns);

		XactReadOnly = true;
		portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
		columns_fn(arg, portal->tupDesc);
		blockcxt = AllocSetContextCreate(CurrentMemoryContext, "ntk query block",
										 ALLOCSET_DEFAULT_SIZES);
		for (;;)
		{
			MemoryContext old;

			CHECK_FOR_INTERRUPTS();
			SPI_cursor_fetch(portal, true, block);
			if (SPI_processed == 0)
				break;
			old = MemoryContextSwitchTo(blockcxt);
			block_fn(arg, SPI_tuptable, SPI_processed);
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
	}
	PG_END_TRY();
}

static void
CheckBatchColumns(void *arg, TupleDesc desc)
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
	if (!ntk_batch_x_type_ok(TupleDescAttr(desc, 1)->atttypid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("second column of the ntk_predict_batch query must be double precision[] or real[], not %s",
						format_type_be(TupleDescAttr(desc, 1)->atttypid))));
}

bool
ntk_batch_x_type_ok(Oid type)
{
	return type == FLOAT8ARRAYOID || type == FLOAT4ARRAYOID;
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

void
ntk_batch_predict(NtkModel *m, const double *Q, int nq, double *qdiag,
				  double *Kq, double *P)
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

int
ntk_batch_block_rows(const NtkModel *m)
{
	size_t		len = ntk_diag_len(&m->params);

	/* a row's share of the buffers: its kernel row, input, outputs, diagonal */
	return (int) Min((size_t) BATCH_MAX_ROWS,
					 Max((size_t) 1, BATCH_BLOCK_DOUBLES /
						 ((size_t) m->n + (size_t) m->d + (size_t) m->k + len)));
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
			ntk_model_prepare_array(m, DatumGetArrayTypeP(v));
			memcpy(Q + (size_t) nq * m->d, m->xbuf, m->d * sizeof(double));
			nq++;
		}
	}

	if (nq > 0)
		ntk_batch_predict(m, Q, nq, qdiag, Kq, P);

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


/* The buffers of ntk_predict_batch's blocks. */
typedef struct BatchRun
{
	NtkModel   *m;
	ReturnSetInfo *rsinfo;
	double	   *Q;
	double	   *qdiag;
	double	   *Kq;
	double	   *P;
	int64	   *ids;
	bool	   *idnull;
	bool	   *xnull;
} BatchRun;

/* NtkBatchBlockFn: detoasted inputs and result arrays live one block */
static void
BatchBlock(void *arg, SPITupleTable *tt, uint64 rows)
{
	BatchRun   *br = (BatchRun *) arg;

	PredictBlock(br->m, tt, rows, br->rsinfo, br->Q, br->qdiag, br->Kq, br->P,
				 br->ids, br->idnull, br->xnull);
}

Datum
ntk_predict_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	NtkModel   *m;

	InitMaterializedSRF(fcinfo, 0);
	m = ntk_model_get(name);
	ntk_model_pin(m);
	ntk_threads_for_big_work();

	PG_TRY();
	{
		size_t		len = ntk_diag_len(&m->params);
		int			block = ntk_batch_block_rows(m);
		BatchRun	br;

		br.m = m;
		br.rsinfo = rsinfo;
		br.Q = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) block * m->d * sizeof(double));
		br.qdiag = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) block * len * sizeof(double));
		br.Kq = ntk_alloc_huge(CurrentMemoryContext, (size_t) block * m->n * sizeof(double));
		br.P = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) block * m->k * sizeof(double));
		br.ids = palloc(block * sizeof(int64));
		br.idnull = palloc(block * sizeof(bool));
		br.xnull = palloc(block * sizeof(bool));

		ntk_batch_run_query(query, "ntk_predict_batch", "(id bigint, x float8[])",
							block, CheckBatchColumns, BatchBlock, &br);
	}
	PG_FINALLY();
	{
		ntk_model_unpin(m);
	}
	PG_END_TRY();

	return (Datum) 0;
}
