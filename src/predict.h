/*-------------------------------------------------------------------------
 *
 * predict.h
 *	  What the one-point and the batch predictions share (predict.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_PREDICT_H
#define NTK_PREDICT_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/array.h"

#include "model.h"


/*
 * Checks x (double precision[] or real[]) and standardizes it into m->xbuf,
 * real values widened exactly.
 */
extern void ntk_model_prepare_array(NtkModel *m, ArrayType *x);

/* Refuses predictions (or variances) that left the double precision range: 22003. */
extern void ntk_model_check_output(const NtkModel *m, const double *v, size_t count);

/* The index of the largest of k values (the first of equals). */
extern int	ntk_argmax(const double *v, int k);

/* A float8[] of k values. */
extern ArrayType *ntk_float8_array(const double *v, int k);

/* predict_batch.c: what ntk_predict_batch shares with ntk_evaluate */

/* Refuses a query that is not a single plain SELECT (fn names the caller). */
extern void ntk_batch_check_query(SPIPlanPtr plan, const char *fn, const char *columns);

/*
 * Runs a caller's query through SPI and hands its rows to block_fn, at most
 * block rows at a time, in a memory context reset after each block: checks
 * the query (ntk_batch_check_query), lets columns_fn check its row type, and
 * runs it with the transaction read-only, so that nothing it calls writes
 * either.  Cancels are seen between blocks.
 */
typedef void (*NtkBatchColumnsFn) (void *arg, TupleDesc desc);
typedef void (*NtkBatchBlockFn) (void *arg, SPITupleTable *tt, uint64 rows);

extern void ntk_batch_run_query(const char *query, const char *fn,
								const char *columns, int block,
								NtkBatchColumnsFn columns_fn,
								NtkBatchBlockFn block_fn, void *arg);

/* Whether a query's x column may have this type (float8[] or real[]). */
extern bool ntk_batch_x_type_ok(Oid type);

/* Rows of a block, so that its buffers stay within 256 MB. */
extern int	ntk_batch_block_rows(const NtkModel *m);

/*
 * Predicts nq standardized inputs Q (nq x d) into P (nq x k), with qdiag
 * (nq x ntk_diag_len) and Kq (nq x n) as work space.
 */
extern void ntk_batch_predict(NtkModel *m, const double *Q, int nq, double *qdiag,
							  double *Kq, double *P);

#endif							/* NTK_PREDICT_H */
