/*-------------------------------------------------------------------------
 *
 * model.h
 *	  Stored models: writing them to the ntk_models and ntk_model_data
 *	  tables (model_store.c), reading and decoding them (model_load.c) and
 *	  the per-backend cache of decoded models (model_cache.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_MODEL_H
#define NTK_MODEL_H

#include "postgres.h"

#include <math.h>

#include "lib/stringinfo.h"

#include "kernel.h"
#include "krr.h"
#include "validate.h"

typedef enum NtkTask
{
	NTK_TASK_REGRESSION = 0,
	NTK_TASK_CLASSIFICATION = 1
} NtkTask;

typedef enum NtkFactorKind
{
	NTK_FACTOR_NONE = 0,
	NTK_FACTOR_CHOL,			/* lower Cholesky factor of K + lambda I */
	NTK_FACTOR_WHITEN			/* V diag(w^-1/2) of K + lambda I = V diag(w) V^T */
} NtkFactorKind;

/*
 * What decides which rows a snapshot sees: two snapshots with equal
 * signatures see the same committed rows.  Copies of active snapshots carry
 * no completion count (CopySnapshot zeroes it), so the model cache compares
 * these fields instead.
 */
typedef struct NtkSnapSig
{
	bool		valid;
	bool		suboverflowed;
	bool		recovery;
	TransactionId xmin;
	TransactionId xmax;
	CommandId	curcid;
	uint32		xcnt;
	int32		subxcnt;
	TransactionId *xids;		/* xip then subxip, in the model's context */
	int			cap;			/* allocated length of xids */
} NtkSnapSig;

/* A decoded model, ready to predict. */
typedef struct NtkModel
{
	MemoryContext ctx;			/* owns everything below */
	struct NtkModel *next;		/* cache list */
	char	   *name;
	Oid			userid;			/* the role it was loaded for */
	uint64		generation;		/* cache generation at load */
	int			pins;			/* > 0 while a batch prediction uses it */
	uint64		last_used;		/* the cache's clock at its last use */
	double		bytes;			/* its arrays, for ntk.model_cache_memory */

	int64		id;
	TransactionId row_xmin;		/* of the ntk_models row it was decoded from */
	NtkSnapSig	seen;			/* the snapshot the row was last seen under */
	bool		tainted;		/* valid only under seen (model_cache.c) */
	NtkTask		task;
	NtkParams	params;
	NtkKernelKind kind;
	int			n;				/* training points */
	int			d;				/* features */
	int			k;				/* outputs */
	int			nclasses;
	char	  **classes;
	double	   *X;				/* n x d row-major, standardized */
	double	   *alpha;			/* n x k column-major dual coefficients */
	double	   *xtable;			/* layer-major diagonal table of X */
	double	   *mean;			/* d, or NULL if not standardized */
	double	   *scale;			/* d, or NULL */
	NtkFactorKind factor_kind;	/* what ntk_predict_var uses */
	double	   *factor;			/* n x n, or NULL */

	/* scratch for one-point prediction */
	double	   *xbuf;			/* d */
	double	   *kbuf;			/* n */
	double	   *qdiag;			/* one diagonal state */
	double	   *out;			/* k */
	double	   *vbuf;			/* n, for variances */
} NtkModel;

/* What the fit hands to the store. */
typedef struct NtkModelData
{
	const char *name;
	NtkTask		task;
	const NtkFitOptions *opts;
	double		ridge;			/* the chosen ridge (option value) */
	int			n;
	int			d;
	int			k;
	int			nclasses;
	char	  **classes;
	const double *X;
	const double *alpha;
	const double *mean;
	const double *scale;
	const double *factor;		/* n x n, for ntk_predict_var, or NULL */
	const char *factor_kind;	/* "chol" (lower Cholesky factor) or "whiten" */
	const char *metrics_json;
} NtkModelData;

/* model_store.c: writing and dropping */

/* Stores a model, replacing one of the same name; returns the new id. */
extern int64 ntk_model_store(const NtkModelData *md);

/*
 * The same in two steps, for a fit that stores its training inputs while it
 * factorizes: _begin writes the ntk_models row (with md->metrics_json) and
 * the inputs md->X, replacing a model of the same name, and returns the new
 * id; _finish writes the rest of md and, if set_metrics, md->metrics_json
 * over the first.  Both run in the caller's transaction, so an error between
 * them leaves nothing stored.
 */
extern int64 ntk_model_store_begin(const NtkModelData *md);
extern void ntk_model_store_finish(int64 id, const NtkModelData *md, bool set_metrics);

/* Drops a model; false if none visible under that name. */
extern bool ntk_model_drop(const char *name);

/* model_cache.c: the decoded models of this backend */

/* Registers ntk.model_cache_memory and the invalidation callbacks (from _PG_init). */
extern void ntk_model_cache_init(void);

/* A decoded model from the cache or the table; errors if it does not exist. */
extern NtkModel *ntk_model_get(const char *name);

/* Pins / unpins a model across code that may process invalidations. */
extern void ntk_model_pin(NtkModel *m);
extern void ntk_model_unpin(NtkModel *m);

/*
 * Brackets this backend's own writes of the model tables: their trigger then
 * leaves the other sessions' caches alone (model_store.c).
 */
extern void ntk_model_cache_write_begin(void);
extern void ntk_model_cache_write_end(void);

/* model_load.c: where the model tables are, and reading them */

/* The model tables' oids as last looked up (InvalidOid before that). */
typedef struct NtkModelTables
{
	Oid			schema;			/* the extension's namespace */
	Oid			models;			/* ntk_models */
	Oid			data;			/* ntk_model_data */
	Oid			seq;			/* ntk_models_id_seq: the edits' signal */
} NtkModelTables;

/* The quoted schema of the extension, e.g. "public"; looks the tables up if needed. */
extern const char *ntk_schema(void);

/* The tables as last looked up, without a lookup (for callbacks). */
extern const NtkModelTables *ntk_model_tables(void);

/* Makes the next ntk_schema() look the extension's schema up again. */
extern void ntk_model_tables_forget(void);

/*
 * Sets search_path to pg_catalog, pg_temp for the SPI statements on the
 * model tables, so that no operator, function or type of the caller's
 * schemas can stand in for the built-in ones they mean; returns the GUC
 * nest level for ntk_search_path_restore (an abort undoes it too).
 */
extern int	ntk_search_path_set_safe(void);
extern void ntk_search_path_restore(int level);

/* Reads and decodes a model visible to the current user; NULL if none. */
extern NtkModel *ntk_model_load(const char *name);

#endif							/* NTK_MODEL_H */
