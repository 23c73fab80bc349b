/*-------------------------------------------------------------------------
 *
 * ntk.c
 *	  Module initialization: GUCs and the status-to-error mapping.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "gram.h"
#include "memory.h"
#include "model.h"
#include "ntk.h"

#include <cblas.h>
#include <limits.h>

PG_MODULE_MAGIC;

int			ntk_threads = 0;
int			ntk_max_threads = 0;
int			ntk_model_cache_memory_kb = 1024 * 1024;

void		_PG_init(void);

void
_PG_init(void)
{
	/* the recursion's workers stop at a cancel between rows (gram.h) */
	ntk_set_stop_flags(&QueryCancelPending, &ProcDiePending);

	DefineCustomIntVariable("ntk.threads",
							"Threads a fit or batch prediction may use.",
							"0 means one per core.",
							&ntk_threads,
							0, 0, 1024,
							PGC_USERSET, 0,
							NULL, NULL, NULL);

	/* caps on the two settings above that only a superuser can raise */
	DefineCustomIntVariable("ntk.max_threads",
							"Most threads a fit or batch prediction may use, whatever ntk.threads says.",
							"0 means one per core.",
							&ntk_max_threads,
							0, 0, 1024,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	ntk_memory_init();

	DefineCustomIntVariable("ntk.model_cache_memory",
							"Memory this session's cache of decoded models may hold.",
							"Beyond it the least recently used models are dropped (and "
							"loaded again when used); the model in use is always kept.",
							&ntk_model_cache_memory_kb,
							1024 * 1024, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("ntk");
	ntk_model_init();
}

/* Sets the BLAS and recursion thread counts, skipping calls that change nothing. */
static void
SetThreads(int n)
{
	static int	current = -1;

	if (n == current)
		return;
	ntk_blas_set_threads(n);
	ntk_set_threads(n);
	current = n;
}

void
ntk_set_blas_threads(void)
{
	int			cores = openblas_get_num_procs();
	int			cap = ntk_max_threads > 0 ? ntk_max_threads : cores;
	int			want = ntk_threads > 0 ? ntk_threads : cores;

	SetThreads(Max(1, Min(want, cap)));
}

void
ntk_set_single_thread(void)
{
	SetThreads(1);
}

void
ntk_status_error(NtkStatus st, const char *context)
{
	switch (st)
	{
		case NTK_OK:
			return;
		case NTK_BAD_DEPTH:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("depth must be between 0 and %d", NTK_MAX_DEPTH)));
			break;
		case NTK_BAD_SIGMA_W:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sigma_w must be positive and finite")));
			break;
		case NTK_BAD_SIGMA_B:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sigma_b must be non-negative and finite")));
			break;
		case NTK_BAD_ACTIVATION:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown activation"),
					 errhint("Valid activations are \"relu\" and \"erf\".")));
			break;
		case NTK_BAD_DIMENSION:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("invalid dimension in %s", context)));
			break;
		case NTK_NOT_FINITE:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("NaN or Infinity not allowed in %s", context)));
			break;
		case NTK_OVERFLOW:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("kernel value out of range in %s", context),
					 errdetail("An intermediate value exceeded the range of double precision."),
					 errhint("Scale the inputs to a smaller norm.")));
			break;
		case NTK_NOT_POSITIVE_DEFINITE:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("kernel matrix is not positive definite in %s", context),
					 errdetail("The Cholesky factorization failed; the training set likely has duplicate or nearly dependent rows."),
					 errhint("Raise the \"ridge\" option, for example to 1e-4.")));
			break;
		case NTK_LAPACK_ERROR:
			elog(ERROR, "LAPACK argument error in %s", context);
			break;
		case NTK_CANCELED:
			/* the interrupt itself is raised by CHECK_FOR_INTERRUPTS */
			CHECK_FOR_INTERRUPTS();
			elog(ERROR, "%s canceled", context);
			break;
	}
	elog(ERROR, "unexpected status %d in %s", (int) st, context);
}
