/*-------------------------------------------------------------------------
 *
 * model_store.c
 *	  Writing models to ntk_models / ntk_model_data with SPI, and dropping
 *	  them.
 *
 * Large arrays (training inputs, dual coefficients) live in ntk_model_data
 * as raw float64 chunks of at most NTK_CHUNK_DOUBLES values each, so no
 * single value approaches the 1 GB limit of a datum.
 *
 * Writes (a fit, ntk_drop_model) run as the tables' owner after checking
 * that the current user is a member of the model's owner: PUBLIC holds no
 * UPDATE or DELETE on the tables, which would let any role LOCK them.  Every
 * SPI statement runs with search_path pinned to pg_catalog, so the caller's
 * search_path cannot put operators or functions of its own into them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "model.h"
#include "options.h"

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
/* The role that owns ntk_models, as whom fits and drops write. */
static Oid
TablesOwner(void)
{
	HeapTuple	tup;
	Oid			owner;

	(void) ntk_schema();
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(ntk_model_tables()->models));
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
	w->guc_level = ntk_search_path_set_safe();
	SetUserIdAndSecContext(owner, w->sec_context | SECURITY_LOCAL_USERID_CHANGE);
	ntk_model_cache_write_begin();
}

static void
EndOwnerWrite(OwnerWrite *w)
{
	ntk_model_cache_write_end();
	SetUserIdAndSecContext(w->caller, w->sec_context);
	ntk_search_path_restore(w->guc_level);
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
	if (get_attnum(ntk_model_tables()->models, "owner_oid") == InvalidAttrNumber)
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
	acl = pg_class_aclcheck(ntk_model_tables()->models, user, ACL_INSERT);
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


/* The 15 values of a model row ($1 .. $15), and $16 for an update. */
#define ROW_VALUES 15

typedef struct ModelRow
{
	Oid			argtypes[ROW_VALUES + 1];
	Datum		values[ROW_VALUES + 1];
	char		nulls[ROW_VALUES + 1];
	NameData	owner_name;
} ModelRow;

static void
ModelRowValues(const NtkModelData *md, Oid user, ModelRow *row)
{
	static const Oid argtypes[ROW_VALUES + 1] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
		FLOAT8OID, FLOAT8OID, FLOAT8OID, INT4OID, INT4OID, INT4OID,
	TEXTARRAYOID, TEXTOID, NAMEOID, REGROLEOID, INT8OID};
	Datum	   *values = row->values;

	memcpy(row->argtypes, argtypes, sizeof(argtypes));
	memset(row->nulls, ' ', sizeof(row->nulls));
	values[0] = CStringGetTextDatum(md->name);
	values[1] = CStringGetTextDatum(md->task == NTK_TASK_CLASSIFICATION ?
									"classification" : "regression");
	values[2] = CStringGetTextDatum(ntk_kernel_kind_name(md->opts->kind));
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
		row->nulls[11] = 'n';
	values[12] = CStringGetTextDatum(md->metrics_json);
	namestrcpy(&row->owner_name, GetUserNameFromId(user, false));
	values[13] = NameGetDatum(&row->owner_name);
	values[14] = ObjectIdGetDatum(user);
}

/* The statements that write a model row. */
typedef struct RowStatements
{
	char	   *find;			/* lock the row of a name */
	char	   *insert;
	char	   *update;			/* replace the row of $16 */
	char	   *delete_data;	/* the chunks of a replaced model */
} RowStatements;

static void
RowStatementsInit(RowStatements *sql, const char *schema, const char *opts_json)
{
	sql->find = psprintf("SELECT id, owner_oid::pg_catalog.oid FROM %s.ntk_models "
						 "WHERE name OPERATOR(pg_catalog.=) $1 FOR UPDATE", schema);
	sql->insert = psprintf("INSERT INTO %s.ntk_models (name, owner, owner_oid, task, kernel, "
						   "activation, depth, sigma_w, sigma_b, ridge, n_train, n_features, "
						   "n_outputs, classes, options, metrics) "
						   "VALUES ($1, $14, $15, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
						   "%s::pg_catalog.jsonb, $13::pg_catalog.jsonb) "
						   "ON CONFLICT (name) DO NOTHING RETURNING id",
						   schema, quote_literal_cstr(opts_json));
	/* a replaced model gets a new id: sessions that cached it see the change */
	sql->update = psprintf("UPDATE %s.ntk_models SET "
						   "id = pg_catalog.nextval(%s::pg_catalog.regclass), "
						   "created_at = pg_catalog.now(), task = $2, kernel = $3, activation = $4, "
						   "depth = $5, sigma_w = $6, sigma_b = $7, ridge = $8, n_train = $9, "
						   "n_features = $10, n_outputs = $11, classes = $12, "
						   "options = %s::pg_catalog.jsonb, metrics = $13::pg_catalog.jsonb "
						   "WHERE id OPERATOR(pg_catalog.=) $16 RETURNING id",
						   schema, quote_literal_cstr(psprintf("%s.ntk_models_id_seq", schema)),
						   quote_literal_cstr(opts_json));
	sql->delete_data = psprintf("DELETE FROM %s.ntk_model_data WHERE model_id OPERATOR(pg_catalog.=) $1",
								schema);
}

/* Replaces the model row old_id (found by name, owned by owner) with row. */
static void
ReplaceModelRow(const NtkModelData *md, ModelRow *row, const RowStatements *sql,
				Oid caller, int64 old_id, Oid owner)
{
	Oid			dargtypes[1] = {INT8OID};
	Datum		dvalues[1];
	int			rc;

	if (!is_member_of_role_nosuper(caller, owner))
		BelongsToAnother(md->name);
	dvalues[0] = Int64GetDatum(old_id);
	rc = SPI_execute_with_args(sql->delete_data, 1, dargtypes, dvalues, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "could not replace model data: %s", SPI_result_code_string(rc));
	row->values[ROW_VALUES] = Int64GetDatum(old_id);
	row->nulls[ROW_VALUES] = ' ';
	rc = SPI_execute_with_args(sql->update, ROW_VALUES + 1, row->argtypes, row->values,
							   row->nulls, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not store model \"%s\": %s", md->name,
			 SPI_result_code_string(rc));
}

/*
 * Locks the row of the name and replaces it, or inserts one; returns the
 * model's new id.  A concurrent fit of a new name that commits first makes
 * the insert do nothing: look again.
 */
static int64
WriteModelRow(const NtkModelData *md, ModelRow *row, const RowStatements *sql, Oid caller)
{
	Oid			argtypes1[1] = {TEXTOID};
	int64		id = 0;
	int			attempt;

	for (attempt = 0; id == 0; attempt++)
	{
		int			rc;
		bool		isnull;

		rc = SPI_execute_with_args(sql->find, 1, argtypes1, row->values, NULL, false, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "could not read model \"%s\": %s", md->name,
				 SPI_result_code_string(rc));
		if (SPI_processed == 1)
		{
			int64		old_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 1, &isnull));
			Oid			owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc, 2, &isnull));

			ReplaceModelRow(md, row, sql, caller, old_id, owner);
		}
		else
		{
			rc = SPI_execute_with_args(sql->insert, ROW_VALUES, row->argtypes, row->values,
									   row->nulls, false, 0);
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
	return id;
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
	volatile int64 id = 0;
	const char *schema = ntk_schema();
	Oid			user = GetUserId();
	ModelRow	row;
	RowStatements sql;
	OwnerWrite	w;

	CheckMayFit(user);
	initStringInfo(&opts);
	ntk_options_to_json(md->opts, &opts);
	ModelRowValues(md, user, &row);
	RowStatementsInit(&sql, schema, opts.data);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	BeginOwnerWrite(&w);
	PG_TRY();
	{
		id = WriteModelRow(md, &row, &sql, w.caller);
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
	level = ntk_search_path_set_safe();
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
	ntk_search_path_restore(level);
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
