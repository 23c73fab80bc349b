/*-------------------------------------------------------------------------
 *
 * ntk.c
 *	  Module initialization: each subsystem registers its own settings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "memory.h"
#include "model.h"
#include "parallel.h"
#include "threads.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/* the recursion's workers stop at a cancel between rows (parallel.h) */
	ntk_set_stop_flags(&QueryCancelPending, &ProcDiePending);

	ntk_threads_init();
	ntk_memory_init();
	ntk_model_cache_init();

	MarkGUCPrefixReserved("ntk");
}
