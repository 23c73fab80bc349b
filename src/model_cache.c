/*-------------------------------------------------------------------------
 *
 * model_cache.c
 *	  The per-backend cache of decoded models, kept right across backends
 *	  by invalidations, and the setting ntk.model_cache_memory.
 *
 * A cached model is checked against its ntk_models row (id and xmin) once per
 * snapshot; a fit or drop changes that row, so it needs no invalidation.
 * Chunks edited outside a fit (by the tables' owner) fire a statement trigger
 * (ntk_models_invalidate) that sends a relcache invalidation of
 * ntk_models_id_seq at commit; every backend drops its cached models when it
 * arrives, and ignores invalidations of other relations.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "model.h"

static int	ntk_model_cache_memory_kb = 1024 * 1024;

static NtkModel *model_cache = NULL;
static uint64 cache_generation = 1;
static uint64 use_clock = 0;	/* counts the cache's uses, for eviction */
static double cache_bytes = 0.0;	/* sum of the cached models' bytes */
static int	writing_models = 0;	/* > 0 while this backend stores or drops */

PG_FUNCTION_INFO_V1(ntk_models_invalidate);

/*
 * An invalidation that arrives while a snapshot is in use may stand for a
 * commit that snapshot does not see: a model loaded under it (in the rest of
 * the statement, or of a REPEATABLE READ transaction) may hold arrays older
 * than the committed ones, with a model row identical to the committed one
 * when only ntk_model_data changed.  Such entries are tainted: they serve the
 * snapshot they were loaded under and are loaded again under any other.
 */
static bool SnapSigMatches(const NtkSnapSig *sig, Snapshot snap);
static void SnapSigRemember(NtkSnapSig *sig, Snapshot snap, MemoryContext ctx);

static NtkSnapSig inval_sig;	/* the active snapshot at the last one */
static LocalTransactionId inval_lxid = InvalidLocalTransactionId;	/* a transaction
																	 * whose loads are all
																	 * tainted */

static void
NoteInvalidation(void)
{
	cache_generation++;
	if (!IsTransactionState())
		return;
	if (ActiveSnapshotSet())
	{
		SnapSigRemember(&inval_sig, GetActiveSnapshot(), TopMemoryContext);
		if (!inval_sig.valid)
			inval_lxid = MyProc->lxid;	/* cannot tell the snapshot: all of it */
	}
	if (IsolationUsesXactSnapshot())
		inval_lxid = MyProc->lxid;
}

/* Whether a model loaded now, under snap, is tainted (above). */
static bool
LoadedTainted(Snapshot snap)
{
	if (inval_lxid == MyProc->lxid)
		return true;
	return snap != NULL && SnapSigMatches(&inval_sig, snap);
}

/*
 * A relcache invalidation of ntk_models_id_seq, which the chunk trigger sends
 * for an edit of chunks, or of every relation (InvalidOid: a lost
 * invalidation queue), makes every cached model stale.  One of any other
 * relation does not concern the models: a temporary table, ANALYZE or VACUUM
 * of any table (the model tables' too, by autovacuum after fits), DDL.
 * Nothing that does not own the sequence invalidates it (nextval does not).
 * With its oid not yet known nothing is cached but what was loaded before a
 * lookup: then any one counts.
 */
static void
InvalidateCache(Datum arg, Oid relid)
{
	if (!OidIsValid(relid))
	{
		NoteInvalidation();
		ntk_model_tables_forget();
		return;
	}
	if (relid == ntk_model_tables()->seq || !OidIsValid(ntk_model_tables()->seq))
		NoteInvalidation();
}

/*
 * Role membership, a role or an extension changed.  DROP and CREATE EXTENSION may
 * move the model tables to another schema: look it up again on next use.
 */
static void
InvalidateCacheSyscache(Datum arg, int cacheid, uint32 hashvalue)
{
	NoteInvalidation();
	if (cacheid == EXTENSIONOID)
		ntk_model_tables_forget();
}

void
ntk_model_cache_init(void)
{
	DefineCustomIntVariable("ntk.model_cache_memory",
							"Memory this session's cache of decoded models may hold.",
							"Beyond it the least recently used models are dropped (and "
							"loaded again when used); the model in use is always kept.",
							&ntk_model_cache_memory_kb,
							1024 * 1024, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	/*
	 * Invalidations processed in this transaction before the library was
	 * loaded reached no callback; under a transaction snapshot (REPEATABLE
	 * READ) the models loaded in it may be older than what they stood for.
	 * (A statement snapshot is taken after its locks, so their invalidations
	 * are already visible to it.)
	 */
	if (IsTransactionState() && IsolationUsesXactSnapshot())
		inval_lxid = MyProc->lxid;

	CacheRegisterRelcacheCallback(InvalidateCache, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, InvalidateCacheSyscache, (Datum) 0);
	/* a role's BYPASSRLS attribute decides what it sees too */
	CacheRegisterSyscacheCallback(AUTHOID, InvalidateCacheSyscache, (Datum) 0);
	CacheRegisterSyscacheCallback(EXTENSIONOID, InvalidateCacheSyscache, (Datum) 0);
}

/*
 * Statement trigger on ntk_model_data: after an edit of chunks other
 * backends must reload their models once this transaction commits, and this
 * one at once; the signal is a relcache invalidation of ntk_models_id_seq
 * (see InvalidateCache).  The writes of a fit or drop (writing_models)
 * replace or delete the model's row as well, which every cached copy is
 * checked against: they invalidate only this backend's cache, not every
 * session's.  An edit of many chunks, one statement each, queues the
 * invalidation once per subtransaction.  On any other table (a role may
 * attach the function to its own) and as version 0.1.0's trigger on
 * ntk_models (no argument) it does nothing.
 */
static LocalTransactionId data_inval_lxid = InvalidLocalTransactionId;
static SubTransactionId data_inval_subid = InvalidSubTransactionId;

Datum
ntk_models_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const NtkModelTables *tables = ntk_model_tables();
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager",
						"ntk_models_invalidate")));
	relid = RelationGetRelid(trigdata->tg_relation);
	(void) ntk_schema();
	if (trigdata->tg_trigger->tgnargs != 1 ||
		strcmp(trigdata->tg_trigger->tgargs[0], "data") != 0 ||
		relid != tables->data || !OidIsValid(tables->seq))
		return PointerGetDatum(NULL);
	cache_generation++;
	if (writing_models > 0)
		return PointerGetDatum(NULL);
	if (data_inval_lxid == MyProc->lxid &&
		data_inval_subid == GetCurrentSubTransactionId())
		return PointerGetDatum(NULL);
	data_inval_lxid = MyProc->lxid;
	data_inval_subid = GetCurrentSubTransactionId();
	CacheInvalidateRelcacheByRelid(tables->seq);
	return PointerGetDatum(NULL);
}

void
ntk_model_cache_write_begin(void)
{
	writing_models++;
}

void
ntk_model_cache_write_end(void)
{
	writing_models--;
}

/* Frees a model that has left the cache list. */
static void
FreeModel(NtkModel *m)
{
	cache_bytes -= m->bytes;
	MemoryContextDelete(m->ctx);
}

/* Whether snapshot snap sees what the snapshot remembered in sig saw. */
static bool
SnapSigMatches(const NtkSnapSig *sig, Snapshot snap)
{
	if (!sig->valid || snap == NULL)
		return false;
	if (sig->xmin != snap->xmin || sig->xmax != snap->xmax ||
		sig->curcid != snap->curcid || sig->xcnt != snap->xcnt ||
		sig->subxcnt != snap->subxcnt ||
		sig->suboverflowed != snap->suboverflowed ||
		sig->recovery != snap->takenDuringRecovery)
		return false;
	/* the same xids in another order only costs one more check */
	if (snap->xcnt > 0 &&
		memcmp(sig->xids, snap->xip, snap->xcnt * sizeof(TransactionId)) != 0)
		return false;
	if (snap->subxcnt > 0 &&
		memcmp(sig->xids + snap->xcnt, snap->subxip,
			   snap->subxcnt * sizeof(TransactionId)) != 0)
		return false;
	return true;
}

static void
SnapSigRemember(NtkSnapSig *sig, Snapshot snap, MemoryContext ctx)
{
	int			len;

	sig->valid = false;
	if (snap == NULL || snap->subxcnt < 0)
		return;
	len = (int) snap->xcnt + snap->subxcnt;
	if (len > sig->cap)
	{
		if (sig->xids)
			pfree(sig->xids);
		sig->xids = MemoryContextAlloc(ctx, len * sizeof(TransactionId));
		sig->cap = len;
	}
	if (snap->xcnt > 0)
		memcpy(sig->xids, snap->xip, snap->xcnt * sizeof(TransactionId));
	if (snap->subxcnt > 0)
		memcpy(sig->xids + snap->xcnt, snap->subxip, snap->subxcnt * sizeof(TransactionId));
	sig->xmin = snap->xmin;
	sig->xmax = snap->xmax;
	sig->curcid = snap->curcid;
	sig->xcnt = snap->xcnt;
	sig->subxcnt = snap->subxcnt;
	sig->suboverflowed = snap->suboverflowed;
	sig->recovery = snap->takenDuringRecovery;
	sig->valid = true;
}

/* The kept plan of StillCurrent's query, for the schema it names. */
static SPIPlanPtr check_plan = NULL;
static char *check_plan_schema = NULL;

static SPIPlanPtr
CheckPlan(void)
{
	const char *schema = ntk_schema();
	StringInfoData sql;
	Oid			argtypes[1] = {TEXTOID};
	SPIPlanPtr	plan;

	if (check_plan != NULL && strcmp(check_plan_schema, schema) == 0)
		return check_plan;
	if (check_plan != NULL)
	{
		SPI_freeplan(check_plan);
		check_plan = NULL;
		pfree(check_plan_schema);
	}
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT id, xmin FROM %s.ntk_models "
					 "WHERE name OPERATOR(pg_catalog.=) $1", schema);
	plan = SPI_prepare(sql.data, 1, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare model check: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep model check plan");
	check_plan_schema = MemoryContextStrdup(TopMemoryContext, schema);
	check_plan = plan;
	pfree(sql.data);
	return plan;
}

/*
 * Whether the model row seen by the current snapshot is still the one a
 * cached entry was decoded from.  Invalidations alone cannot tell: a model
 * may have been loaded under a snapshot older than a refit whose
 * invalidation had already arrived.  So an entry is checked again (one index
 * lookup) whenever the running statement's snapshot may see other rows than
 * the one it was last checked under; a read-only workload never pays it.
 */
static bool
StillCurrent(NtkModel *m)
{
	Snapshot	snap = ActiveSnapshotSet() ? GetActiveSnapshot() : NULL;
	Datum		values[1];
	bool		current = false;
	int			rc;
	int			guc_level;

	if (SnapSigMatches(&m->seen, snap))
		return true;

	values[0] = CStringGetTextDatum(m->name);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guc_level = ntk_search_path_set_safe();
	rc = SPI_execute_plan(CheckPlan(), values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read model \"%s\": %s", m->name, SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 1, &isnull));
		TransactionId xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0],
																 SPI_tuptable->tupdesc, 2, &isnull));

		current = id == m->id && TransactionIdEquals(xmin, m->row_xmin);
	}
	ntk_search_path_restore(guc_level);
	SPI_finish();
	if (current)
		SnapSigRemember(&m->seen, snap, m->ctx);
	return current;
}

/*
 * Frees the least recently used unpinned models until the cache holds at
 * most limit bytes of arrays, keeping keep (the model being used) whatever
 * its size.  A session that predicts with many large models would otherwise
 * hold them all until it ends.
 */
static void
EvictOver(double limit, NtkModel *keep)
{
	NtkModel   *m;

	while (cache_bytes > limit)
	{
		NtkModel  **link;
		NtkModel  **oldest = NULL;

		for (link = &model_cache; *link != NULL; link = &(*link)->next)
			if (*link != keep && (*link)->pins == 0 &&
				(oldest == NULL || (*link)->last_used < (*oldest)->last_used))
				oldest = link;
		if (oldest == NULL)
			break;
		m = *oldest;
		*oldest = m->next;
		elog(DEBUG1, "ntk: model \"%s\" left the model cache, which now holds %.1f MB and may hold %.1f MB",
			 m->name, (cache_bytes - m->bytes) / 1048576.0, limit / 1048576.0);
		FreeModel(m);
	}
}

NtkModel *
ntk_model_get(const char *name)
{
	Oid			userid = GetUserId();
	NtkModel  **link = &model_cache;
	NtkModel   *m;

	/*
	 * A revoked membership must reach the cache before an entry is served,
	 * also in a REPEATABLE READ transaction, where an entry's snapshot
	 * matches until the transaction ends (cheap when nothing is pending).
	 */
	AcceptInvalidationMessages();

	/* find a fresh entry; free stale, unpinned ones on the way */
	while ((m = *link) != NULL)
	{
		if (m->generation != cache_generation && m->pins == 0)
		{
			*link = m->next;
			FreeModel(m);
			continue;
		}
		if (m->generation == cache_generation && m->userid == userid &&
			strcmp(m->name, name) == 0)
		{
			if (m->tainted ? SnapSigMatches(&m->seen, ActiveSnapshotSet() ? GetActiveSnapshot() : NULL) :
				StillCurrent(m))
			{
				m->last_used = ++use_clock;
				/* one comparison, unless ntk.model_cache_memory was lowered */
				if (cache_bytes > (double) ntk_model_cache_memory_kb * 1024.0)
					EvictOver((double) ntk_model_cache_memory_kb * 1024.0, m);
				return m;
			}
			/* outdated for this snapshot: drop it (or let its pin holder finish) */
			m->generation = 0;
			if (m->pins == 0)
			{
				*link = m->next;
				FreeModel(m);
				continue;
			}
		}
		link = &m->next;
	}

	m = ntk_model_load(name);
	if (m == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name)));
	m->userid = userid;
	m->generation = cache_generation;
	m->last_used = ++use_clock;
	SnapSigRemember(&m->seen, ActiveSnapshotSet() ? GetActiveSnapshot() : NULL, m->ctx);
	m->tainted = LoadedTainted(ActiveSnapshotSet() ? GetActiveSnapshot() : NULL);
	m->next = model_cache;
	model_cache = m;
	cache_bytes += m->bytes;
	EvictOver((double) ntk_model_cache_memory_kb * 1024.0, m);
	return m;
}

void
ntk_model_pin(NtkModel *m)
{
	m->pins++;
}

void
ntk_model_unpin(NtkModel *m)
{
	Assert(m->pins > 0);
	m->pins--;
}
