/*-------------------------------------------------------------------------
 *
 * model.c
 *	  The model store: writing models to ntk_models / ntk_model_data with
 *	  SPI, reading and decoding them, and a per-backend cache of decoded
 *	  models invalidated across backends.
 *
 * Large arrays (training inputs, dual coefficients) live in ntk_model_data
 * as raw float64 chunks of at most NTK_CHUNK_DOUBLES values each, so no
 * single value approaches the 1 GB limit of a datum.
 *
 * Every read goes through SPI as the current user, so row-level security on
 * ntk_models decides what a role can see.  Writes (a fit, ntk_drop_model) run
 * as the tables' owner after checking that the current user is a member of
 * the model's owner: PUBLIC holds no UPDATE or DELETE on the tables, which
 * would let any role LOCK them.  Every SPI statement runs with search_path
 * pinned to pg_catalog, so the caller's search_path cannot put operators or
 * functions of its own into them.
 *
 * A cached model is checked against its ntk_models row (id and xmin) once per
 * snapshot; a fit or drop changes that row, so it needs no invalidation.
 * Chunks edited outside a fit (by the tables' owner) fire a statement trigger
 * (ntk_models_invalidate) that sends a relcache invalidation of
 * ntk_model_data at commit; every backend drops its cached models when it
 * arrives, and ignores invalidations of other relations.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <limits.h>
#include <math.h>

#include "access/detoast.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "catalog/pg_class.h"

#include "model.h"
#include "recursion.h"
#include "ntk.h"

/*
 * 8K doubles = 64 kB per stored chunk.  Every chunk is copied a few times on
 * its way into the table (bytea, tuple, TOAST).  50 MB values went to fresh
 * mappings and paid a page fault per 4 kB (storing an n = 8000, d = 784
 * model took 1.2 s, most of it in page faults); 1 MB chunks still did, as
 * glibc maps and unmaps blocks that size; 64 kB blocks come from its heap
 * and are reused (storing 0.55-0.58 s -> 0.26-0.29 s, medians of 7, and
 * loading no slower).
 */
#define NTK_CHUNK_DOUBLES ((size_t) 8 * 1024)

static NtkModel *model_cache = NULL;
static uint64 cache_generation = 1;
static uint64 use_clock = 0;	/* counts the cache's uses, for eviction */
static double cache_bytes = 0.0;	/* sum of the cached models' bytes */
static char *schema_name = NULL;
static Oid	schema_oid = InvalidOid;	/* its namespace */
static Oid	models_relid = InvalidOid;	/* ntk_models in it */
static Oid	data_relid = InvalidOid;	/* ntk_model_data in it */
static Oid	seq_relid = InvalidOid;	/* ntk_models_id_seq: the edits' signal */
static int	writing_models = 0;	/* > 0 while this backend stores or drops */
static bool schema_stale = false;	/* look schema_name up again on next use */

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
		schema_stale = true;
		return;
	}
	if (relid == seq_relid || !OidIsValid(seq_relid))
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
		schema_stale = true;
}

void
ntk_model_init(void)
{
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

const char *
ntk_schema(void)
{
	if (schema_name == NULL || schema_stale)
	{
		Oid			ext;
		HeapTuple	tup;
		char	   *nsp;
		char	   *fresh;

		/* an invalidation during the lookup marks it stale again */
		schema_stale = false;
		ext = get_extension_oid("ntk", false);
		tup = SearchSysCache1(EXTENSIONOID, ObjectIdGetDatum(ext));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for extension %u", ext);
		schema_oid = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
		nsp = get_namespace_name(schema_oid);
		ReleaseSysCache(tup);
		models_relid = get_relname_relid("ntk_models", schema_oid);
		data_relid = get_relname_relid("ntk_model_data", schema_oid);
		seq_relid = get_relname_relid("ntk_models_id_seq", schema_oid);

		/*
		 * The old string is never freed: callers hold it across SPI calls,
		 * which may process invalidations and call this again (a trigger
		 * that predicts).  It leaks a name each time the extension's schema
		 * changes.
		 */
		fresh = MemoryContextStrdup(TopMemoryContext, quote_identifier(nsp));
		schema_name = fresh;
	}
	return schema_name;
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
		relid != data_relid || !OidIsValid(seq_relid))
		return PointerGetDatum(NULL);
	cache_generation++;
	if (writing_models > 0)
		return PointerGetDatum(NULL);
	if (data_inval_lxid == MyProc->lxid &&
		data_inval_subid == GetCurrentSubTransactionId())
		return PointerGetDatum(NULL);
	data_inval_lxid = MyProc->lxid;
	data_inval_subid = GetCurrentSubTransactionId();
	CacheInvalidateRelcacheByRelid(seq_relid);
	return PointerGetDatum(NULL);
}

/* A bytea holding count doubles. */
static bytea *
DoublesToBytea(const double *v, size_t count)
{
	size_t		bytes = count * sizeof(double);
	bytea	   *b = palloc(VARHDRSZ + bytes);

	SET_VARSIZE(b, VARHDRSZ + bytes);
	memcpy(VARDATA(b), v, bytes);
	return b;
}

/* Inserts one part (a named array of doubles) in chunks. */
static void
StorePart(SPIPlanPtr plan, int64 id, const char *part, const double *v,
		  size_t count)
{
	size_t		off;
	int			chunk = 0;

	for (off = 0; off < count; off += NTK_CHUNK_DOUBLES, chunk++)
	{
		size_t		len = Min(NTK_CHUNK_DOUBLES, count - off);
		bytea	   *b = DoublesToBytea(v + off, len);
		Datum		values[4];
		int			rc;

		CHECK_FOR_INTERRUPTS();
		values[0] = Int64GetDatum(id);
		values[1] = CStringGetTextDatum(part);
		values[2] = Int32GetDatum(chunk);
		values[3] = PointerGetDatum(b);
		rc = SPI_execute_plan(plan, values, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not store model data: %s", SPI_result_code_string(rc));
		pfree(b);
	}
}

/* The chunk insert, with a generic plan: a custom one would copy each chunk into a Const. */
static SPIPlanPtr
PrepareChunkInsert(const char *schema)
{
	Oid			argtypes[4] = {INT8OID, TEXTOID, INT4OID, BYTEAOID};
	char	   *sql = psprintf("INSERT INTO %s.ntk_model_data (model_id, part, chunk, data) "
							   "VALUES ($1, $2, $3, $4)", schema);
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, 4, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "could not prepare model data insert: %s",
			 SPI_result_code_string(SPI_result));
	return plan;
}
/*
 * Runs SPI statements with search_path = pg_catalog, pg_temp, so that no
 * operator, function or type of the caller's schemas can stand in for the
 * built-in ones the statements mean.  Undone by ResetSearchPath, or by the
 * abort of the (sub)transaction on error.
 */
static int
PinSearchPath(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

static void
ResetSearchPath(int level)
{
	AtEOXact_GUC(true, level);
}

/* The role that owns ntk_models, as whom fits and drops write. */
static Oid
TablesOwner(void)
{
	HeapTuple	tup;
	Oid			owner;

	(void) ntk_schema();
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(models_relid));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.ntk_models\" does not exist", ntk_schema())));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* A write as the tables' owner: what to restore afterwards. */
typedef struct OwnerWrite
{
	Oid			caller;
	int			sec_context;
	int			guc_level;
} OwnerWrite;

static void
BeginOwnerWrite(OwnerWrite *w)
{
	Oid			owner = TablesOwner();

	GetUserIdAndSecContext(&w->caller, &w->sec_context);
	w->guc_level = PinSearchPath();
	SetUserIdAndSecContext(owner, w->sec_context | SECURITY_LOCAL_USERID_CHANGE);
	writing_models++;
}

static void
EndOwnerWrite(OwnerWrite *w)
{
	writing_models--;
	SetUserIdAndSecContext(w->caller, w->sec_context);
	ResetSearchPath(w->guc_level);
}

/*
 * Fits and drops write owner_oid, which the tables have from version 0.2.0:
 * between installing this library and ALTER EXTENSION ntk UPDATE they say so
 * (predictions work on 0.1.0's tables).
 */
static void
CheckTablesUpdated(void)
{
	(void) ntk_schema();
	if (get_attnum(models_relid, "owner_oid") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the ntk extension in this database is older than its library"),
				 errdetail("Fits and drops need the model tables of version 0.2.0."),
				 errhint("Run ALTER EXTENSION ntk UPDATE.")));
}

/* PostgreSQL's own error unless the caller may insert into ntk_models. */
static void
CheckMayFit(Oid user)
{
	AclResult	acl;

	CheckTablesUpdated();
	acl = pg_class_aclcheck(models_relid, user, ACL_INSERT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, "ntk_models");
}

static void
BelongsToAnother(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("model \"%s\" belongs to another role", name),
			 errdetail("Model names are unique in a database; a role can replace only the models of roles it is a member of."),
			 errhint("Choose another model name.")));
}

/*
 * Writes the model's row, replacing a model of the same name if the caller is
 * a member of its owner (membership itself: superuser or BYPASSRLS roles do
 * not replace, and so hand over, other roles' models), and its training
 * inputs.  The row and chunks are written as the tables' owner.
 */
int64
ntk_model_store_begin(const NtkModelData *md)
{
	StringInfoData opts;
	Oid			argtypes[15] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
		FLOAT8OID, FLOAT8OID, FLOAT8OID, INT4OID, INT4OID, INT4OID,
	TEXTARRAYOID, TEXTOID, NAMEOID, REGROLEOID};
	Datum		values[15];
	char		nulls[15];
	Oid			argtypes1[1] = {TEXTOID};
	Oid			dargtypes[1] = {INT8OID};
	volatile int64 id = 0;
	const char *schema = ntk_schema();
	Oid			user = GetUserId();
	char	   *insert_sql;
	char	   *update_sql;
	char	   *find_sql;
	char	   *delete_sql;
	OwnerWrite	w;
	NameData	owner_name;

	CheckMayFit(user);
	initStringInfo(&opts);
	ntk_options_to_json(md->opts, &opts);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(md->name);
	values[1] = CStringGetTextDatum(md->task == NTK_TASK_CLASSIFICATION ?
									"classification" : "regression");
	values[2] = CStringGetTextDatum(md->opts->kind == NTK_KERNEL_NNGP ? "nngp" : "ntk");
	values[3] = CStringGetTextDatum(ntk_activation_name(md->opts->params.activation));
	values[4] = Int32GetDatum(md->opts->params.depth);
	values[5] = Float8GetDatum(md->opts->params.sigma_w);
	values[6] = Float8GetDatum(md->opts->params.sigma_b);
	values[7] = Float8GetDatum(md->ridge);
	values[8] = Int32GetDatum(md->n);
	values[9] = Int32GetDatum(md->d);
	values[10] = Int32GetDatum(md->k);
	if (md->nclasses > 0)
	{
		Datum	   *elems = palloc(md->nclasses * sizeof(Datum));
		int			i;

		for (i = 0; i < md->nclasses; i++)
			elems[i] = CStringGetTextDatum(md->classes[i]);
		values[11] = PointerGetDatum(construct_array(elems, md->nclasses, TEXTOID,
													 -1, false, TYPALIGN_INT));
	}
	else
		nulls[11] = 'n';
	values[12] = CStringGetTextDatum(md->metrics_json);
	namestrcpy(&owner_name, GetUserNameFromId(user, false));
	values[13] = NameGetDatum(&owner_name);
	values[14] = ObjectIdGetDatum(user);

	find_sql = psprintf("SELECT id, owner_oid::pg_catalog.oid FROM %s.ntk_models "
						"WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE", schema);
	insert_sql = psprintf("INSERT INTO %s.ntk_models (name, owner, owner_oid, task, kernel, "
						  "activation, depth, sigma_w, sigma_b, ridge, n_train, n_features, "
						  "n_outputs, classes, options, metrics) "
						  "VALUES ($1, $14, $15, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
						  "%s::pg_catalog.jsonb, $13::pg_catalog.jsonb) "
						  "ON CONFLICT (name) DO NOTHING RETURNING id",
						  schema, quote_literal_cstr(opts.data));
	/* a replaced model gets a new id: sessions that cached it see the change */
	update_sql = psprintf("UPDATE %s.ntk_models SET "
						  "id = pg_catalog.nextval(%s::pg_catalog.regclass), "
						  "created_at = pg_catalog.now(), task = $2, kernel = $3, activation = $4, "
						  "depth = $5, sigma_w = $6, sigma_b = $7, ridge = $8, n_train = $9, "
						  "n_features = $10, n_outputs = $11, classes = $12, "
						  "options = %s::pg_catalog.jsonb, metrics = $13::pg_catalog.jsonb "
						  "WHERE id OPERATOR(pg_catalog.=) $16 RETURNING id",
						  schema, quote_literal_cstr(psprintf("%s.ntk_models_id_seq", schema)),
						  quote_literal_cstr(opts.data));
	delete_sql = psprintf("DELETE FROM %s.ntk_model_data WHERE model_id OPERATOR(pg_catalog.=) $1",
						  schema);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	BeginOwnerWrite(&w);
	PG_TRY();
	{
		int			attempt;

		/*
		 * Lock the row of the name, or insert one; a concurrent fit of a new
		 * name that commits first makes the insert do nothing: look again.
		 */
		for (attempt = 0; id == 0; attempt++)
		{
			int			rc;
			bool		isnull;

			rc = SPI_execute_with_args(find_sql, 1, argtypes1, values, NULL, false, 1);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "could not read model \"%s\": %s", md->name,
					 SPI_result_code_string(rc));
			if (SPI_processed == 1)
			{
				int64		old_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
																 SPI_tuptable->tupdesc, 1, &isnull));
				Oid			owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
																   SPI_tuptable->tupdesc, 2, &isnull));
				Oid			uargtypes[16];
				Datum		uvalues[16];
				char		unulls[16];

				if (!is_member_of_role_nosuper(w.caller, owner))
					BelongsToAnother(md->name);
				values[0] = Int64GetDatum(old_id);
				rc = SPI_execute_with_args(delete_sql, 1, dargtypes, values, NULL, false, 0);
				if (rc != SPI_OK_DELETE)
					elog(ERROR, "could not replace model data: %s", SPI_result_code_string(rc));
				values[0] = CStringGetTextDatum(md->name);
				memcpy(uargtypes, argtypes, sizeof(argtypes));
				memcpy(uvalues, values, sizeof(values));
				memcpy(unulls, nulls, sizeof(nulls));
				uargtypes[15] = INT8OID;
				uvalues[15] = Int64GetDatum(old_id);
				unulls[15] = ' ';
				rc = SPI_execute_with_args(update_sql, 16, uargtypes, uvalues, unulls, false, 0);
				if (rc != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
					elog(ERROR, "could not store model \"%s\": %s", md->name,
						 SPI_result_code_string(rc));
			}
			else
			{
				rc = SPI_execute_with_args(insert_sql, 15, argtypes, values, nulls, false, 0);
				if (rc != SPI_OK_INSERT_RETURNING)
					elog(ERROR, "could not store model \"%s\": %s", md->name,
						 SPI_result_code_string(rc));
				if (SPI_processed == 0)
				{
					if (attempt >= 10)
						elog(ERROR, "could not store model \"%s\": its name keeps being taken",
							 md->name);
					continue;
				}
			}
			id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 1, &isnull));
		}
		StorePart(PrepareChunkInsert(schema), id, "x", md->X, (size_t) md->n * md->d);
	}
	PG_FINALLY();
	{
		EndOwnerWrite(&w);
	}
	PG_END_TRY();
	SPI_finish();
	return id;
}

void
ntk_model_store_finish(int64 id, const NtkModelData *md, bool set_metrics)
{
	const char *schema = ntk_schema();
	SPIPlanPtr	plan;
	OwnerWrite	w;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	BeginOwnerWrite(&w);
	PG_TRY();
	{
		plan = PrepareChunkInsert(schema);
		StorePart(plan, id, "alpha", md->alpha, (size_t) md->n * md->k);
		if (md->mean)
		{
			StorePart(plan, id, "mean", md->mean, md->d);
			StorePart(plan, id, "scale", md->scale, md->d);
		}
		if (md->factor)
			StorePart(plan, id, md->factor_kind, md->factor, (size_t) md->n * md->n);
		if (set_metrics)
		{
			Oid			argtypes[2] = {TEXTOID, INT8OID};
			Datum		values[2];
			int			rc;

			values[0] = CStringGetTextDatum(md->metrics_json);
			values[1] = Int64GetDatum(id);
			rc = SPI_execute_with_args(psprintf("UPDATE %s.ntk_models SET metrics = $1::pg_catalog.jsonb "
												"WHERE id OPERATOR(pg_catalog.=) $2", schema),
									   2, argtypes, values, NULL, false, 0);
			if (rc != SPI_OK_UPDATE || SPI_processed != 1)
				elog(ERROR, "could not store the metrics of model %lld: %s",
					 (long long) id, SPI_result_code_string(rc));
		}
	}
	PG_FINALLY();
	{
		EndOwnerWrite(&w);
	}
	PG_END_TRY();
	SPI_finish();
}

int64
ntk_model_store(const NtkModelData *md)
{
	int64		id = ntk_model_store_begin(md);

	ntk_model_store_finish(id, md, false);
	return id;
}

/* Deletes the model row id (and by cascade its chunks) as the tables' owner. */
static uint64
DeleteModelRow(int64 id, const char *name)
{
	Oid			dargtypes[1] = {INT8OID};
	Datum		values[1];
	volatile uint64 deleted = 0;
	OwnerWrite	w;

	BeginOwnerWrite(&w);
	PG_TRY();
	{
		int			rc;

		values[0] = Int64GetDatum(id);
		rc = SPI_execute_with_args(psprintf("DELETE FROM %s.ntk_models WHERE id OPERATOR(pg_catalog.=) $1",
											ntk_schema()),
								   1, dargtypes, values, NULL, false, 0);
		if (rc != SPI_OK_DELETE)
			elog(ERROR, "could not drop model \"%s\": %s", name, SPI_result_code_string(rc));
		deleted = SPI_processed;
	}
	PG_FINALLY();
	{
		EndOwnerWrite(&w);
	}
	PG_END_TRY();
	return deleted;
}

/*
 * Drops a model the caller sees (row-level security) and is a member of the
 * owner of (a BYPASSRLS role sees every model but drops only its own).
 */
bool
ntk_model_drop(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			rc;
	bool		found = false;
	int			level;
	int64		id = 0;
	Oid			owner = InvalidOid;

	PreventCommandIfReadOnly("ntk_drop_model()");
	CheckTablesUpdated();
	values[0] = CStringGetTextDatum(name);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	level = PinSearchPath();
	rc = SPI_execute_with_args(psprintf("SELECT id, owner_oid::pg_catalog.oid FROM %s.ntk_models "
										"WHERE name OPERATOR(pg_catalog.=) $1", ntk_schema()),
							   1, argtypes, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not drop model \"%s\": %s", name, SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;

		found = true;
		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	ResetSearchPath(level);
	if (found)
	{
		if (!is_member_of_role(GetUserId(), owner))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("model \"%s\" belongs to another role", name),
					 errdetail("A role can drop only the models of roles it is a member of.")));
		found = DeleteModelRow(id, name) > 0;
	}
	SPI_finish();
	return found;
}

/*
 * Checks, before anything is allocated for it, that a part's chunks in the
 * SPI result hold count doubles: the counts come from the model's row,
 * which its owner can write.
 */
static void
CheckPartSize(const char *name, const char *part, double count)
{
	double		values = 0.0;
	uint64		i;

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *p = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		bool		match = strcmp(p, part) == 0;
		Size		bytes;

		pfree(p);
		if (!match)
			continue;
		bytes = toast_raw_datum_size(SPI_getbinval(tup, desc, 3, &isnull)) - VARHDRSZ;
		if (bytes % sizeof(double) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model \"%s\" is damaged", name),
					 errdetail("A chunk of part \"%s\" has %zu bytes, not a whole number of doubles.",
							   part, (size_t) bytes)));
		values += (double) (bytes / sizeof(double));
	}
	if (values != count)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" is damaged", name),
				 errdetail("Part \"%s\" has %.0f values, expected %.0f.", part, values, count)));
}

/*
 * Copies a part's chunks (already in chunk order) into dst of count doubles,
 * which CheckPartSize has vouched for.  Every value must be finite (and a
 * scale positive): a NaN would otherwise come out of every prediction, or be
 * clamped into a variance of 0.
 */
static void
LoadPart(const char *name, const char *part, double *dst, size_t count)
{
	size_t		off = 0;
	uint64		i;
	bool		scale = strcmp(part, "scale") == 0;

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *p = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		Datum		raw;
		bytea	   *b;
		size_t		len;
		size_t		j;
		int			bad = 0;
		bool		match = strcmp(p, part) == 0;

		pfree(p);
		if (!match)
			continue;
		raw = SPI_getbinval(tup, desc, 3, &isnull);
		b = DatumGetByteaPP(raw);
		len = VARSIZE_ANY_EXHDR(b) / sizeof(double);
		if (off + len > count)
		{
			off += len;			/* too many values: reported below */
			break;
		}
		memcpy(dst + off, VARDATA_ANY(b), len * sizeof(double));
		/* branch-free, so that it vectorizes */
		for (j = off; j < off + len; j++)
			bad |= (!(fabs(dst[j]) <= DBL_MAX)) | (scale & !(dst[j] > 0.0));
		if (bad)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model \"%s\" is damaged", name),
					 errdetail(scale ? "Part \"%s\" holds a value that is not a positive number." :
							   "Part \"%s\" holds a value that is not finite.", part)));
		off += len;
		if ((Pointer) b != DatumGetPointer(raw))
			pfree(b);
		CHECK_FOR_INTERRUPTS();
	}
	if (off != count)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" is damaged", name),
				 errdetail("Part \"%s\" has %zu values, expected %zu.", part, off, count)));
}

/* Frees a model that has left the cache list. */
static void
FreeModel(NtkModel *m)
{
	cache_bytes -= m->bytes;
	MemoryContextDelete(m->ctx);
}
/* A boolean option of a model row (column col: its text, or NULL if absent). */
static bool
OptionFlag(const char *name, HeapTuple tup, TupleDesc desc, int col, const char *key)
{
	bool		isnull;
	Datum		v = SPI_getbinval(tup, desc, col, &isnull);
	char	   *s;

	if (isnull)
		return false;
	s = TextDatumGetCString(v);
	if (strcmp(s, "true") == 0)
		return true;
	if (strcmp(s, "false") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" is damaged", name),
				 errdetail("Its option \"%s\" is not a boolean.", key)));
	return false;
}

/* Reads and decodes a model visible to the current user; NULL if none. */
static NtkModel *
LoadModel(const char *name)
{
	StringInfoData sql;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	MemoryContext ctx;
	MemoryContext old;
	NtkModel   *m;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	bool		standardized;
	size_t		len;
	int			rc;
	int			i;
	int			guc_level;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT id, task, kernel, activation, depth, sigma_w, sigma_b, "
					 "n_train, n_features, n_outputs, classes, "
					 "options OPERATOR(pg_catalog.->>) 'standardize', "
					 "options OPERATOR(pg_catalog.->>) 'variance', "
					 "options OPERATOR(pg_catalog.?) 't', xmin "
					 "FROM %s.ntk_models WHERE name OPERATOR(pg_catalog.=) $1", ntk_schema());
	values[0] = CStringGetTextDatum(name);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guc_level = PinSearchPath();
	rc = SPI_execute_with_args(sql.data, 1, argtypes, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read model \"%s\": %s", name, SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		ResetSearchPath(guc_level);
		SPI_finish();
		return NULL;
	}
	elog(DEBUG1, "ntk: loading model \"%s\"", name);

	ctx = AllocSetContextCreate(TopMemoryContext, "ntk model", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(ctx);
	m = palloc0(sizeof(NtkModel));
	m->ctx = ctx;
	m->name = pstrdup(name);

	PG_TRY();
	{
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		m->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		m->row_xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 15, &isnull));
		m->task = strcmp(TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull)),
						 "classification") == 0 ? NTK_TASK_CLASSIFICATION : NTK_TASK_REGRESSION;
		m->kind = strcmp(TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull)),
						 "nngp") == 0 ? NTK_KERNEL_NNGP : NTK_KERNEL_NTK;
		/* the row is writable by its owner: a bad value is damage, not a bad argument */
		if (ntk_activation_parse(TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull)),
								 &m->params.activation) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model \"%s\" is damaged", name),
					 errdetail("Its activation is unknown.")));
		m->params.depth = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
		m->params.sigma_w = DatumGetFloat8(SPI_getbinval(tup, desc, 6, &isnull));
		m->params.sigma_b = DatumGetFloat8(SPI_getbinval(tup, desc, 7, &isnull));
		m->n = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
		m->d = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
		m->k = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
		if (ntk_params_check(&m->params) != NTK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model \"%s\" is damaged", name),
					 errdetail("Its kernel parameters are out of range (depth %d, sigma_w %g, sigma_b %g).",
							   m->params.depth, m->params.sigma_w, m->params.sigma_b)));
		if (m->n < 1 || m->d < 1 || m->k < 1)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model \"%s\" is damaged", name)));
		{
			Datum		c = SPI_getbinval(tup, desc, 11, &isnull);

			if (!isnull)
			{
				Datum	   *elems;
				bool	   *enulls;

				deconstruct_array(DatumGetArrayTypeP(c), TEXTOID, -1, false,
								  TYPALIGN_INT, &elems, &enulls, &m->nclasses);
				m->classes = palloc(m->nclasses * sizeof(char *));
				for (i = 0; i < m->nclasses; i++)
				{
					if (enulls[i])
						ereport(ERROR,
								(errcode(ERRCODE_DATA_CORRUPTED),
								 errmsg("model \"%s\" is damaged", name),
								 errdetail("Class label %d is null.", i + 1)));
					m->classes[i] = TextDatumGetCString(elems[i]);
				}
			}
		}
		/* the rows are writable by their owner: check what indexes arrays */
		if (m->task == NTK_TASK_CLASSIFICATION && m->nclasses != m->k)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model \"%s\" is damaged", name),
					 errdetail("The classifier has %d outputs and %d class labels.",
							   m->k, m->nclasses)));
		standardized = OptionFlag(name, tup, desc, 12, "standardize");
		if (OptionFlag(name, tup, desc, 13, "variance"))
			m->factor_kind = DatumGetBool(SPI_getbinval(tup, desc, 14, &isnull)) ?
				NTK_FACTOR_WHITEN : NTK_FACTOR_CHOL;

		resetStringInfo(&sql);
		appendStringInfo(&sql,
						 "SELECT part, chunk, data FROM %s.ntk_model_data "
						 "WHERE model_id OPERATOR(pg_catalog.=) $1 ORDER BY part, chunk", ntk_schema());
		argtypes[0] = INT8OID;
		values[0] = Int64GetDatum(m->id);
		rc = SPI_execute_with_args(sql.data, 1, argtypes, values, NULL, true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "could not read model data: %s", SPI_result_code_string(rc));
		/* SPI leaves its own procedure context current */
		MemoryContextSwitchTo(ctx);
		CheckPartSize(name, "x", (double) m->n * m->d);
		CheckPartSize(name, "alpha", (double) m->n * m->k);
		if (standardized)
		{
			CheckPartSize(name, "mean", m->d);
			CheckPartSize(name, "scale", m->d);
		}
		if (m->factor_kind != NTK_FACTOR_NONE)
			CheckPartSize(name, m->factor_kind == NTK_FACTOR_CHOL ? "chol" : "whiten",
						  (double) m->n * m->n);

		len = ntk_diag_len(&m->params);
		m->X = ntk_alloc_huge(ctx, (size_t) m->n * m->d * sizeof(double));
		m->alpha = MemoryContextAllocHuge(ctx, (size_t) m->n * m->k * sizeof(double));
		m->xtable = MemoryContextAllocHuge(ctx, ntk_gram_work_len(&m->params, m->n) * sizeof(double));
		m->xbuf = MemoryContextAllocHuge(ctx, m->d * sizeof(double));
		m->kbuf = MemoryContextAllocHuge(ctx, (size_t) m->n * sizeof(double));
		m->qdiag = MemoryContextAlloc(ctx, len * sizeof(double));
		m->out = MemoryContextAllocHuge(ctx, m->k * sizeof(double));
		if (standardized)
		{
			m->mean = MemoryContextAllocHuge(ctx, m->d * sizeof(double));
			m->scale = MemoryContextAllocHuge(ctx, m->d * sizeof(double));
		}
		if (m->factor_kind != NTK_FACTOR_NONE)
		{
			m->factor = ntk_alloc_huge(ctx, (size_t) m->n * m->n * sizeof(double));
			m->vbuf = MemoryContextAllocHuge(ctx, (size_t) m->n * sizeof(double));
		}
		m->bytes = sizeof(double) *
			((double) m->n * (m->d + m->k + 1) + (double) ntk_gram_work_len(&m->params, m->n) +
			 (m->factor_kind != NTK_FACTOR_NONE ? (double) m->n * (m->n + 1) : 0.0));

		LoadPart(name, "x", m->X, (size_t) m->n * m->d);
		LoadPart(name, "alpha", m->alpha, (size_t) m->n * m->k);
		if (standardized)
		{
			LoadPart(name, "mean", m->mean, m->d);
			LoadPart(name, "scale", m->scale, m->d);
		}
		if (m->factor_kind != NTK_FACTOR_NONE)
			LoadPart(name, m->factor_kind == NTK_FACTOR_CHOL ? "chol" : "whiten",
					 m->factor, (size_t) m->n * m->n);
		/* a Cholesky factor of a positive definite matrix has a positive diagonal */
		if (m->factor_kind == NTK_FACTOR_CHOL)
		{
			int			bad = 0;

			for (i = 0; i < m->n; i++)
				bad |= !(m->factor[(size_t) i * m->n + i] > 0.0);
			if (bad)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("model \"%s\" is damaged", name),
						 errdetail("Its Cholesky factor has a diagonal entry that is not positive.")));
		}
		{
			double	   *xdiag = MemoryContextAllocHuge(ctx, (size_t) m->n * len * sizeof(double));

			ntk_status_error(ntk_points_diag(&m->params, m->X, m->n, m->d, xdiag),
							 "model training inputs");
			ntk_diag_transpose(&m->params, xdiag, m->n, m->xtable,
							   m->xtable + (size_t) (m->params.depth + 1) * m->n);
			pfree(xdiag);
		}
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(ctx);
		PG_RE_THROW();
	}
	PG_END_TRY();

	MemoryContextSwitchTo(old);
	ResetSearchPath(guc_level);
	SPI_finish();
	return m;
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
	guc_level = PinSearchPath();
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
	ResetSearchPath(guc_level);
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

	m = LoadModel(name);
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

void
ntk_model_prepare_input(NtkModel *m, const double *x, int len)
{
	int			j;

	if (len != m->d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array \"x\" has %d elements, but model \"%s\" has %d features",
						len, m->name, m->d)));
	if (m->mean)
	{
		for (j = 0; j < m->d; j++)
			m->xbuf[j] = ntk_standardize_value(x[j], m->mean[j], m->scale[j]);
	}
	else
		memcpy(m->xbuf, x, m->d * sizeof(double));
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

void
ntk_model_predict_one(NtkModel *m, const double *x, int len)
{
	ntk_model_prepare_input(m, x, len);
	ntk_set_single_thread();
	ntk_status_error(ntk_predict_point(&m->params, m->kind, m->X, m->n, m->d,
									   m->xtable, m->alpha, m->k, m->xbuf,
									   m->qdiag, m->kbuf, m->out),
					 "prediction");
	ntk_model_check_output(m, m->out, m->k);
}
