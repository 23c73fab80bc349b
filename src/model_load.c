/*-------------------------------------------------------------------------
 *
 * model_load.c
 *	  Reading stored models: where the model tables are, the search_path of
 *	  every statement on them, and decoding a model row and its chunks.
 *
 * Every read goes through SPI as the current user, so row-level security on
 * ntk_models decides what a role can see.  The rows are writable by the
 * tables' owner, and may be damaged on disk or by a restore: everything read
 * is checked before it is used to allocate or to index, and a bad value is
 * an error (XX001), not a bad argument.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/detoast.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "errors.h"
#include "gram.h"
#include "model.h"
#include "memory.h"
#include "recursion.h"

static char *schema_name = NULL;
static bool schema_stale = false;	/* look schema_name up again on next use */
static NtkModelTables tables = {InvalidOid, InvalidOid, InvalidOid, InvalidOid};

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
		tables.schema = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
		nsp = get_namespace_name(tables.schema);
		ReleaseSysCache(tup);
		tables.models = get_relname_relid("ntk_models", tables.schema);
		tables.data = get_relname_relid("ntk_model_data", tables.schema);
		tables.seq = get_relname_relid("ntk_models_id_seq", tables.schema);

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

const NtkModelTables *
ntk_model_tables(void)
{
	return &tables;
}

void
ntk_model_tables_forget(void)
{
	schema_stale = true;
}

int
ntk_search_path_set_safe(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

void
ntk_search_path_restore(int level)
{
	AtEOXact_GUC(true, level);
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


/* The model is damaged: its row or chunks hold what no fit stores. */
static void
Damaged(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("model \"%s\" is damaged", name)));
}

/* The class labels of a model row (column 11), if it has any. */
static void
LoadClasses(NtkModel *m, Datum c, bool isnull)
{
	Datum	   *elems;
	bool	   *enulls;
	int			i;

	if (isnull)
		return;
	deconstruct_array(DatumGetArrayTypeP(c), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &enulls, &m->nclasses);
	m->classes = palloc(m->nclasses * sizeof(char *));
	for (i = 0; i < m->nclasses; i++)
	{
		if (enulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model \"%s\" is damaged", m->name),
					 errdetail("Class label %d is null.", i + 1)));
		m->classes[i] = TextDatumGetCString(elems[i]);
	}
}

/*
 * Decodes the model row (the query of ntk_model_load) into m; sets
 * *standardized.  The row is writable by its owner: a bad value is damage,
 * not a bad argument.
 */
static void
LoadRow(NtkModel *m, HeapTuple tup, TupleDesc desc, bool *standardized)
{
	const char *name = m->name;
	char	   *value;
	Datum		classes;
	bool		isnull;

	m->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	m->row_xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 15, &isnull));
	m->task = strcmp(TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull)),
					 "classification") == 0 ? NTK_TASK_CLASSIFICATION : NTK_TASK_REGRESSION;
	value = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
	if (ntk_kernel_kind_parse(value, &m->kind) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" is damaged", name),
				 errdetail("Its kernel \"%s\" is unrecognized.", value)));
	value = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
	if (ntk_activation_parse(value, &m->params.activation) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" is damaged", name),
				 errdetail("Its activation \"%s\" is unrecognized.", value)));
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
		Damaged(name);
	classes = SPI_getbinval(tup, desc, 11, &isnull);
	LoadClasses(m, classes, isnull);
	/* the rows are writable by their owner: check what indexes arrays */
	if (m->task == NTK_TASK_CLASSIFICATION && m->nclasses != m->k)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" is damaged", name),
				 errdetail("The classifier has %d outputs and %d class labels.",
						   m->k, m->nclasses)));
	*standardized = OptionFlag(name, tup, desc, 12, "standardize");
	if (OptionFlag(name, tup, desc, 13, "variance"))
		m->factor_kind = DatumGetBool(SPI_getbinval(tup, desc, 14, &isnull)) ?
			NTK_FACTOR_WHITEN : NTK_FACTOR_CHOL;
}

/* The part that holds a model's variance factor. */
static const char *
FactorPart(NtkFactorKind kind)
{
	return kind == NTK_FACTOR_CHOL ? "chol" : "whiten";
}

/* Allocates m's arrays and scratch in m->ctx (the part sizes are checked). */
static void
AllocArrays(NtkModel *m, bool standardized)
{
	MemoryContext ctx = m->ctx;
	size_t		len = ntk_diag_len(&m->params);

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
}

/*
 * Reads m's chunks from ntk_model_data, checks their sizes, then copies them
 * into its arrays and computes the training inputs' diagonal table.
 */
static void
LoadArrays(NtkModel *m, bool standardized)
{
	const char *name = m->name;
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	char	   *sql;
	NtkStatus	st;
	double	   *xdiag;
	int			rc;

	sql = psprintf("SELECT part, chunk, data FROM %s.ntk_model_data "
				   "WHERE model_id OPERATOR(pg_catalog.=) $1 ORDER BY part, chunk",
				   ntk_schema());
	values[0] = Int64GetDatum(m->id);
	rc = SPI_execute_with_args(sql, 1, argtypes, values, NULL, true, 0);
	pfree(sql);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read model data: %s", SPI_result_code_string(rc));
	/* SPI leaves its own procedure context current */
	MemoryContextSwitchTo(m->ctx);
	CheckPartSize(name, "x", (double) m->n * m->d);
	CheckPartSize(name, "alpha", (double) m->n * m->k);
	if (standardized)
	{
		CheckPartSize(name, "mean", m->d);
		CheckPartSize(name, "scale", m->d);
	}
	if (m->factor_kind != NTK_FACTOR_NONE)
		CheckPartSize(name, FactorPart(m->factor_kind), (double) m->n * m->n);

	AllocArrays(m, standardized);
	LoadPart(name, "x", m->X, (size_t) m->n * m->d);
	LoadPart(name, "alpha", m->alpha, (size_t) m->n * m->k);
	if (standardized)
	{
		LoadPart(name, "mean", m->mean, m->d);
		LoadPart(name, "scale", m->scale, m->d);
	}
	if (m->factor_kind != NTK_FACTOR_NONE)
		LoadPart(name, FactorPart(m->factor_kind), m->factor, (size_t) m->n * m->n);
	/* a Cholesky factor of a positive definite matrix has a positive diagonal */
	if (m->factor_kind == NTK_FACTOR_CHOL)
	{
		int			bad = 0;
		int			i;

		for (i = 0; i < m->n; i++)
			bad |= !(m->factor[(size_t) i * m->n + i] > 0.0);
		if (bad)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model \"%s\" is damaged", name),
					 errdetail("Its Cholesky factor has a diagonal entry that is not positive.")));
	}
	xdiag = MemoryContextAllocHuge(m->ctx, (size_t) m->n * ntk_diag_len(&m->params) * sizeof(double));
	st = ntk_points_diag(&m->params, m->X, m->n, m->d, xdiag);
	if (st != NTK_OK)
		ntk_status_error(st, psprintf("while loading model \"%s\"", name));
	ntk_diag_transpose(&m->params, xdiag, m->n, m->xtable,
					   m->xtable + (size_t) (m->params.depth + 1) * m->n);
	pfree(xdiag);
}

NtkModel *
ntk_model_load(const char *name)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	MemoryContext ctx;
	MemoryContext old;
	NtkModel   *m;
	bool		standardized;
	int			rc;
	int			guc_level;

	values[0] = CStringGetTextDatum(name);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	guc_level = ntk_search_path_set_safe();
	rc = SPI_execute_with_args(psprintf("SELECT id, task, kernel, activation, depth, sigma_w, sigma_b, "
										"n_train, n_features, n_outputs, classes, "
										"options OPERATOR(pg_catalog.->>) 'standardize', "
										"options OPERATOR(pg_catalog.->>) 'variance', "
										"options OPERATOR(pg_catalog.?) 't', xmin "
										"FROM %s.ntk_models WHERE name OPERATOR(pg_catalog.=) $1",
										ntk_schema()),
							   1, argtypes, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read model \"%s\": %s", name, SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		ntk_search_path_restore(guc_level);
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
		LoadRow(m, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &standardized);
		LoadArrays(m, standardized);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(ctx);
		PG_RE_THROW();
	}
	PG_END_TRY();

	MemoryContextSwitchTo(old);
	ntk_search_path_restore(guc_level);
	SPI_finish();
	return m;
}
