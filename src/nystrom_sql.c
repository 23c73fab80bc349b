/*-------------------------------------------------------------------------
 *
 * nystrom_sql.c
 *	  The streaming, parallel and distributed Nystrom fit: the state type
 *	  ntk_nystrom_state, its aggregates (centers, statistics) with a combine
 *	  function, the fit from statistics, and ntk_fit_query, which runs both
 *	  passes through SPI so that PostgreSQL can plan them in parallel.
 *
 * One type holds either state.  Pass 1 (ntk_nystrom_centers) keeps the
 * bounded set of the rows with the smallest hashes (NtkCenters), the
 * running mean and sum of squared deviations of each feature (merged with
 * Chan's formula) and, for a classifier, the sorted set of labels.  Pass 2
 * (ntk_nystrom_statistics) keeps the standardized centers, H, B and up to
 * NTK_NYSTROM_FLUSH_ROWS buffered rows, flushed as one block of the accumulation
 * (cross kernel, dsyrk, dgemm).  Both merge: states travel between
 * processes (parallel workers, the nodes of a distributed engine) as the
 * type's flat form.
 *
 * In an aggregate the state is an expanded object (utils/expandeddatum.h)
 * in the aggregate's context, updated in place: H as a full m x m matrix
 * for the BLAS calls.  Flattened (to leave a parallel worker, to be
 * stored, sent or printed), it holds H's lower triangle only
 * (ntk_nystrom_pack), so a state fits the 1 GB limit of a value up to
 * m of about 16,000 (docs/nystrom.md); a larger one is refused when pass 2
 * starts.  The flat form is in native byte order (x86-64 everywhere).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/parallel.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/expandeddatum.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "arrays.h"
#include "errors.h"
#include "fit_nystrom.h"
#include "memory.h"
#include "model.h"
#include "options.h"
#include "threads.h"

#define NYS_STATE_MAGIC 0x4e535431u /* "NST1" */
#define NYS_CENTERS 1
#define NYS_STATS 2
#define NYS_TASK_UNKNOWN (-1)

/* Bytes in a model name (as ntk_fit). */
#define NYS_MAX_NAME_BYTES 1024

/* The flat form's header; the parts follow, each a multiple of 8 bytes. */
typedef struct NysFlat
{
	int32		vl_len_;
	uint32		magic;
	int32		what;			/* NYS_CENTERS or NYS_STATS */
	int32		task;			/* NtkTask, or NYS_TASK_UNKNOWN */
	int32		d;
	int32		k;				/* outputs (statistics) */
	int32		nclasses;
	int32		standardize;
	int32		nbuf;			/* buffered rows (statistics) */
	int32		label_bytes;	/* the class names, NUL-terminated, padded to 8 */
	int64		n_skipped;
	int64		count;			/* rows in the moments (centers) */

	/*
	 * centers: NtkCenters [ntk_centers_size(m, d)], mean [d], m2 [d], labels
	 * statistics: NtkNystromPacked [ntk_nystrom_packed_size(m, k)], mean [d],
	 * scale [d], centers [m d], labels, rows [nbuf d], targets [nbuf k]
	 */
} NysFlat;

#define NYS_HDR MAXALIGN(sizeof(NysFlat))
#define PAD8(n) (((n) + 7) & ~(size_t) 7)

/* The working state: an expanded object. */
typedef struct NysState
{
	ExpandedObjectHeader hdr;
	MemoryContext cxt;
	int			what;
	int			task;
	int			d;
	int			k;
	bool		standardize;
	int64		n_skipped;
	int64		count;
	int			nclasses;
	int			classcap;
	char	  **classes;		/* sorted */
	size_t		label_bytes;

	/* centers */
	NtkCenters *set;
	double	   *mean;			/* also the statistics' standardization */
	double	   *m2;

	/* statistics */
	NtkNystromStats st;
	NtkParams	params;
	NtkKernelKind kind;
	int			m;
	double	   *scale;
	double	   *C;				/* m x d, standardized */
	double	   *xbuf;			/* NTK_NYSTROM_FLUSH_ROWS x d */
	double	   *ybuf;			/* NTK_NYSTROM_FLUSH_ROWS x k */
	int			nbuf;
	double	   *ctable;			/* caches of the flush, not part of the flat form */
	double	   *cdiag;
	double	   *work;
} NysState;

PG_FUNCTION_INFO_V1(ntk_nystrom_state_in);
PG_FUNCTION_INFO_V1(ntk_nystrom_state_out);
PG_FUNCTION_INFO_V1(ntk_nystrom_state_recv);
PG_FUNCTION_INFO_V1(ntk_nystrom_state_send);
PG_FUNCTION_INFO_V1(ntk_nystrom_centers_trans_scalar);
PG_FUNCTION_INFO_V1(ntk_nystrom_centers_trans_vector);
PG_FUNCTION_INFO_V1(ntk_nystrom_centers_trans_label);
PG_FUNCTION_INFO_V1(ntk_nystrom_statistics_trans_scalar);
PG_FUNCTION_INFO_V1(ntk_nystrom_statistics_trans_vector);
PG_FUNCTION_INFO_V1(ntk_nystrom_statistics_trans_label);
PG_FUNCTION_INFO_V1(ntk_nystrom_combine);
PG_FUNCTION_INFO_V1(ntk_nystrom_fit);
PG_FUNCTION_INFO_V1(ntk_nystrom_state_info);
PG_FUNCTION_INFO_V1(ntk_fit_query);

static Size NysFlatSize(ExpandedObjectHeader *eohptr);
static void NysFlatten(ExpandedObjectHeader *eohptr, void *result, Size allocated_size);

static const ExpandedObjectMethods nys_methods = {NysFlatSize, NysFlatten};

/* ---------------------------------------------------------------------
 * Sizes and the flat form
 * ---------------------------------------------------------------------
 */

static size_t
StatsFlatSize(int m, int d, int k, size_t label_bytes, int nbuf)
{
	return NYS_HDR + ntk_nystrom_packed_size(m, k) + 2 * (size_t) d * sizeof(double) +
		(size_t) m * d * sizeof(double) + label_bytes +
		(size_t) nbuf * (d + k) * sizeof(double);
}

static size_t
CentersFlatSize(int m, int d, size_t label_bytes)
{
	return NYS_HDR + ntk_centers_size(m, d) + 2 * (size_t) d * sizeof(double) + label_bytes;
}

static Size
NysFlatSize(ExpandedObjectHeader *eohptr)
{
	NysState   *s = (NysState *) eohptr;

	if (s->what == NYS_CENTERS)
		return CentersFlatSize(s->set->m, s->d, s->label_bytes);
	return StatsFlatSize(s->m, s->d, s->k, s->label_bytes, s->nbuf);
}

static char *
WriteLabels(char *p, char **classes, int n, size_t bytes)
{
	char	   *start = p;
	int			i;

	for (i = 0; i < n; i++)
	{
		size_t		len = strlen(classes[i]) + 1;

		memcpy(p, classes[i], len);
		p += len;
	}
	memset(p, 0, bytes - (p - start));
	return start + bytes;
}

static void
NysFlatten(ExpandedObjectHeader *eohptr, void *result, Size allocated_size)
{
	NysState   *s = (NysState *) eohptr;
	NysFlat    *f = (NysFlat *) result;
	char	   *p = (char *) result + NYS_HDR;
	size_t		dbytes = (size_t) s->d * sizeof(double);

	memset(result, 0, NYS_HDR);
	SET_VARSIZE(f, allocated_size);
	f->magic = NYS_STATE_MAGIC;
	f->what = s->what;
	f->task = s->task;
	f->d = s->d;
	f->k = s->k;
	f->nclasses = s->nclasses;
	f->standardize = s->standardize;
	f->nbuf = s->nbuf;
	f->label_bytes = (int32) s->label_bytes;
	f->n_skipped = s->n_skipped;
	f->count = s->count;
	if (s->what == NYS_CENTERS)
	{
		size_t		sz = ntk_centers_size(s->set->m, s->d);

		memcpy(p, s->set, sz);
		p += sz;
		memcpy(p, s->mean, dbytes);
		p += dbytes;
		memcpy(p, s->m2, dbytes);
		p += dbytes;
		p = WriteLabels(p, s->classes, s->nclasses, s->label_bytes);
	}
	else
	{
		ntk_nystrom_pack(&s->st, p);
		p += ntk_nystrom_packed_size(s->m, s->k);
		memcpy(p, s->mean, dbytes);
		p += dbytes;
		memcpy(p, s->scale, dbytes);
		p += dbytes;
		memcpy(p, s->C, (size_t) s->m * dbytes);
		p += (size_t) s->m * dbytes;
		p = WriteLabels(p, s->classes, s->nclasses, s->label_bytes);
		memcpy(p, s->xbuf, (size_t) s->nbuf * dbytes);
		p += (size_t) s->nbuf * dbytes;
		memcpy(p, s->ybuf, (size_t) s->nbuf * s->k * sizeof(double));
		p += (size_t) s->nbuf * s->k * sizeof(double);
	}
	Assert((Size) (p - (char *) result) == allocated_size);
}

static void
BadState(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("invalid ntk_nystrom_state"),
			 errdetail("%s", detail)));
}

/*
 * Checks a flat state of len bytes (from text, binary or a tuple): the
 * header, each part's size, the center set and the packed statistics'
 * header, the labels.
 */
static void
CheckFlat(const NysFlat *f, size_t len)
{
	const char *p = (const char *) f + NYS_HDR;
	const char *labels;
	size_t		want;
	int			i;

	if (len < NYS_HDR || f->magic != NYS_STATE_MAGIC ||
		(f->what != NYS_CENTERS && f->what != NYS_STATS))
		BadState("The header is not that of a state.");
	if (f->d < 1 || f->nclasses < 0 || f->label_bytes < 0 || f->label_bytes % 8 != 0 ||
		f->n_skipped < 0 || f->count < 0 ||
		(f->task != NYS_TASK_UNKNOWN && f->task != NTK_TASK_REGRESSION &&
		 f->task != NTK_TASK_CLASSIFICATION) ||
		(f->nclasses > 0 && f->task != NTK_TASK_CLASSIFICATION))
		BadState("The header's sizes are out of range.");
	if (f->what == NYS_CENTERS)
	{
		const NtkCenters *set = (const NtkCenters *) p;

		if (len < NYS_HDR + sizeof(NtkCenters))
			BadState("The state is truncated.");
		if (set->d != f->d || set->m < 1)
			BadState("The center set does not match the header.");
		want = CentersFlatSize(set->m, f->d, f->label_bytes);
		if (want == 0 || want != len)
			BadState("The state's length does not match its sizes.");
		if (ntk_centers_check(set, ntk_centers_size(set->m, f->d)) != NTK_OK)
			BadState("The center set is inconsistent.");
		labels = p + ntk_centers_size(set->m, f->d) + 2 * (size_t) f->d * sizeof(double);
	}
	else
	{
		const NtkNystromPacked *pk = (const NtkNystromPacked *) p;
		NtkParams	params;

		if (len < NYS_HDR + sizeof(NtkNystromPacked))
			BadState("The state is truncated.");
		/* statistics of version 1 lack the targets' sum of squares */
		if (pk->magic == NTK_NYSTROM_MAGIC_V1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid ntk_nystrom_state"),
					 errdetail("The statistics are of an earlier version of ntk, without the sum of the squared targets."),
					 errhint("Accumulate them again with ntk_nystrom_statistics; states of ntk_nystrom_centers can be kept.")));
		if (pk->magic != NTK_NYSTROM_MAGIC || !(pk->y2_sum >= 0.0) ||
			pk->key.d != f->d || pk->key.k != f->k ||
			pk->key.m < 1 || f->k < 1 || f->nbuf < 0 || f->nbuf > NTK_NYSTROM_FLUSH_ROWS ||
			pk->n < 0)
			BadState("The statistics do not match the header.");
		params.depth = pk->key.depth;
		params.activation = (NtkActivation) pk->key.activation;
		params.sigma_w = pk->key.sigma_w;
		params.sigma_b = pk->key.sigma_b;
		if (ntk_params_check(&params) != NTK_OK ||
			(pk->key.kind != NTK_KERNEL_NTK && pk->key.kind != NTK_KERNEL_NNGP))
			BadState("The kernel parameters are invalid.");
		if (f->task == NTK_TASK_CLASSIFICATION && f->nclasses != f->k)
			BadState("The classes do not match the outputs.");
		want = StatsFlatSize(pk->key.m, f->d, f->k, f->label_bytes, f->nbuf);
		if (ntk_nystrom_packed_size(pk->key.m, f->k) == 0 || want != len)
			BadState("The state's length does not match its sizes.");
		labels = p + ntk_nystrom_packed_size(pk->key.m, f->k) +
			(2 + (size_t) pk->key.m) * f->d * sizeof(double);
	}
	/* nclasses NUL-terminated names in strictly increasing order, then zeros */
	{
		const char *q = labels;
		const char *end = labels + f->label_bytes;
		const char *prev = NULL;

		for (i = 0; i < f->nclasses; i++)
		{
			size_t		len = strnlen(q, end - q);

			if (len == (size_t) (end - q) || (prev && strcmp(prev, q) >= 0))
				BadState("The class labels are not sorted names.");
			prev = q;
			q += len + 1;
		}
		if (end - q >= 8)
			BadState("The class labels are not sorted names.");
	}
}

/* A new, empty state object in parent (an aggregate's context). */
static NysState *
NewState(MemoryContext parent, int what)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "ntk_nystrom_state",
											  ALLOCSET_DEFAULT_SIZES);
	NysState   *s = MemoryContextAllocZero(cxt, sizeof(NysState));

	EOH_init_header(&s->hdr, &nys_methods, cxt);
	s->cxt = cxt;
	s->what = what;
	s->task = NYS_TASK_UNKNOWN;
	return s;
}

static void
ReadLabels(NysState *s, const char *p, int n, size_t bytes)
{
	int			i;

	s->classcap = Max(n, 8);
	s->classes = MemoryContextAlloc(s->cxt, s->classcap * sizeof(char *));
	for (i = 0; i < n; i++)
	{
		s->classes[i] = MemoryContextStrdup(s->cxt, p);
		p += strlen(p) + 1;
	}
	s->nclasses = n;
	s->label_bytes = bytes;
}

/* Allocates the statistics' buffers of a state whose m, d, k are set. */
static void
AllocStats(NysState *s)
{
	size_t		dbytes = (size_t) s->d * sizeof(double);

	s->st.H = MemoryContextAllocHuge(s->cxt, (size_t) s->m * s->m * sizeof(double));
	s->st.B = MemoryContextAllocHuge(s->cxt, (size_t) s->m * s->k * sizeof(double));
	s->mean = MemoryContextAllocZero(s->cxt, dbytes);
	s->scale = MemoryContextAlloc(s->cxt, dbytes);
	s->C = MemoryContextAllocHuge(s->cxt, (size_t) s->m * dbytes);
	s->xbuf = MemoryContextAllocHuge(s->cxt, (size_t) NTK_NYSTROM_FLUSH_ROWS * dbytes);
	s->ybuf = MemoryContextAllocHuge(s->cxt, (size_t) NTK_NYSTROM_FLUSH_ROWS * s->k * sizeof(double));
}

/* A state object in parent from a checked flat state. */
static NysState *
Expand(MemoryContext parent, const NysFlat *f)
{
	NysState   *s = NewState(parent, f->what);
	const char *p = (const char *) f + NYS_HDR;
	size_t		dbytes = (size_t) f->d * sizeof(double);

	s->task = f->task;
	s->d = f->d;
	s->k = f->k;
	s->standardize = f->standardize != 0;
	s->n_skipped = f->n_skipped;
	s->count = f->count;
	if (f->what == NYS_CENTERS)
	{
		const NtkCenters *set = (const NtkCenters *) p;
		size_t		sz = ntk_centers_size(set->m, f->d);

		s->set = MemoryContextAllocHuge(s->cxt, sz);
		memcpy(s->set, p, sz);
		p += sz;
		s->mean = MemoryContextAlloc(s->cxt, dbytes);
		memcpy(s->mean, p, dbytes);
		p += dbytes;
		s->m2 = MemoryContextAlloc(s->cxt, dbytes);
		memcpy(s->m2, p, dbytes);
		p += dbytes;
		ReadLabels(s, p, f->nclasses, f->label_bytes);
	}
	else
	{
		const NtkNystromPacked *pk = (const NtkNystromPacked *) p;
		size_t		psz = ntk_nystrom_packed_size(pk->key.m, f->k);
		NtkStatus	st;

		s->m = pk->key.m;
		AllocStats(s);
		st = ntk_nystrom_unpack(p, psz, &s->st, s->st.H, s->st.B);
		if (st != NTK_OK)
			BadState("The packed statistics are inconsistent.");
		s->params.depth = pk->key.depth;
		s->params.activation = (NtkActivation) pk->key.activation;
		s->params.sigma_w = pk->key.sigma_w;
		s->params.sigma_b = pk->key.sigma_b;
		s->kind = (NtkKernelKind) pk->key.kind;
		p += psz;
		memcpy(s->mean, p, dbytes);
		p += dbytes;
		memcpy(s->scale, p, dbytes);
		p += dbytes;
		memcpy(s->C, p, (size_t) s->m * dbytes);
		p += (size_t) s->m * dbytes;
		ReadLabels(s, p, f->nclasses, f->label_bytes);
		p += f->label_bytes;
		s->nbuf = f->nbuf;
		memcpy(s->xbuf, p, (size_t) s->nbuf * dbytes);
		p += (size_t) s->nbuf * dbytes;
		memcpy(s->ybuf, p, (size_t) s->nbuf * s->k * sizeof(double));
	}
	return s;
}

/* The flat form of a datum (a toasted or expanded one flattened), checked. */
static NysFlat *
FlatArg(Datum d)
{
	NysFlat    *f = (NysFlat *) PG_DETOAST_DATUM(d);

	CheckFlat(f, VARSIZE(f));
	return f;
}

/* The working state of an aggregate's argument: ours to update, or a copy. */
static NysState *
WritableArg(Datum d, MemoryContext aggctx)
{
	if (VARATT_IS_EXTERNAL_EXPANDED_RW(DatumGetPointer(d)))
	{
		ExpandedObjectHeader *eoh = DatumGetEOHP(d);

		if (eoh->eoh_methods == &nys_methods &&
			MemoryContextGetParent(eoh->eoh_context) == aggctx)
			return (NysState *) eoh;
	}
	return Expand(aggctx, FlatArg(d));
}

/* ---------------------------------------------------------------------
 * Input and output
 * ---------------------------------------------------------------------
 */

/* Text form: the flat state (without its length word) in base64. */
Datum
ntk_nystrom_state_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		len = strlen(str);
	int			dlen;
	NysFlat    *f;

	if (len > (size_t) INT_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ntk_nystrom_state text is too long")));
	f = palloc_extended(VARHDRSZ + pg_b64_dec_len((int) len), MCXT_ALLOC_HUGE);
	dlen = pg_b64_decode(str, (int) len, (char *) f + VARHDRSZ, pg_b64_dec_len((int) len));
	if (dlen < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type ntk_nystrom_state"),
				 errdetail("The text is not base64.")));
	SET_VARSIZE(f, VARHDRSZ + dlen);
	CheckFlat(f, VARHDRSZ + (size_t) dlen);
	PG_RETURN_POINTER(f);
}

Datum
ntk_nystrom_state_out(PG_FUNCTION_ARGS)
{
	NysFlat    *f = FlatArg(PG_GETARG_DATUM(0));
	size_t		len = VARSIZE(f) - VARHDRSZ;
	size_t		tlen = (len + 2) / 3 * 4;
	char	   *out;
	int			n;

	if (tlen + 1 > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ntk_nystrom_state of %zu bytes is too large for its text form", len + VARHDRSZ),
				 errdetail("The text form (base64) would have %zu bytes; a value has at most 1 GB.", tlen),
				 errhint("Use fewer centers, or move states in binary form.")));
	out = palloc(tlen + 1);
	n = pg_b64_encode((char *) f + VARHDRSZ, (int) len, out, (int) tlen);
	if (n < 0)
		elog(ERROR, "could not encode ntk_nystrom_state");
	out[n] = '\0';
	PG_RETURN_CSTRING(out);
}

Datum
ntk_nystrom_state_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	NysFlat    *f = palloc_extended(VARHDRSZ + (size_t) len, MCXT_ALLOC_HUGE);

	pq_copymsgbytes(buf, (char *) f + VARHDRSZ, len);
	SET_VARSIZE(f, VARHDRSZ + len);
	CheckFlat(f, VARHDRSZ + (size_t) len);
	PG_RETURN_POINTER(f);
}

Datum
ntk_nystrom_state_send(PG_FUNCTION_ARGS)
{
	NysFlat    *f = FlatArg(PG_GETARG_DATUM(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, (char *) f + VARHDRSZ, VARSIZE(f) - VARHDRSZ);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* A jsonb summary of a state: what it holds, for users and tests. */
Datum
ntk_nystrom_state_info(PG_FUNCTION_ARGS)
{
	NysFlat    *f = FlatArg(PG_GETARG_DATUM(0));
	const char *p = (const char *) f + NYS_HDR;
	StringInfoData out;

	initStringInfo(&out);
	if (f->what == NYS_CENTERS)
	{
		const NtkCenters *set = (const NtkCenters *) p;

		appendStringInfo(&out, "{\"state\": \"centers\", \"centers\": %d, \"capacity\": %d, "
						 "\"features\": %d, \"seed\": " UINT64_FORMAT ", \"rows\": " UINT64_FORMAT
						 ", \"classes\": %d",
						 set->count, set->m, f->d, (uint64) set->seed,
						 (uint64) set->rows_seen, f->nclasses);
	}
	else
	{
		const NtkNystromPacked *pk = (const NtkNystromPacked *) p;

		appendStringInfo(&out, "{\"state\": \"statistics\", \"centers\": %d, \"features\": %d, "
						 "\"outputs\": %d, \"rows\": " INT64_FORMAT ", \"buffered\": %d, "
						 "\"skipped\": " INT64_FORMAT ", \"classes\": %d, "
						 "\"fingerprint\": \"%016llx\"",
						 pk->key.m, f->d, f->k, (int64) pk->n + f->nbuf, f->nbuf,
						 (int64) f->n_skipped, f->nclasses,
						 (unsigned long long) pk->key.centers_hash);
	}
	appendStringInfo(&out, ", \"bytes\": %zu}", (size_t) VARSIZE(f));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

/* ---------------------------------------------------------------------
 * Options and checks
 * ---------------------------------------------------------------------
 */

/* The options of a building block: "method" defaults to "nystrom". */
static void
BlockOptions(FunctionCallInfo fcinfo, int argno, NtkFitOptions *opts)
{
	ntk_options_default(opts);
	opts->method = NTK_METHOD_NYSTROM;
	if (!PG_ARGISNULL(argno))
		ntk_options_parse(PG_GETARG_JSONB_P(argno), opts);
	if (opts->method != NTK_METHOD_NYSTROM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the Nystrom building blocks need \"method\": \"nystrom\""),
				 errhint("Fit with \"method\": \"exact\" by ntk_fit or ntk_fit_query.")));
}

/* Refuses a statistics state larger than a value may be, or than allowed. */
static void
CheckStatsSize(int m, int d, int k, size_t label_bytes, const NtkParams *p)
{
	size_t		flat = StatsFlatSize(m, d, k, label_bytes, NTK_NYSTROM_FLUSH_ROWS);
	double		mem;
	const char *setting;
	double		allowed = (double) ntk_allowed_memory_kb(&setting) * 1024.0;

	if (ntk_nystrom_packed_size(m, k) == 0 || flat > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("Nystrom statistics of %d centers, %d features and %d outputs do not fit in a value", m, d, k),
				 errdetail("The state would have %.0f MB; a value has at most 1 GB (about 16,000 centers with few features and outputs).",
						   ceil((double) flat / (1024.0 * 1024.0))),
				 errhint("Use fewer centers, or ntk_fit with \"method\": \"nystrom\", which keeps its statistics in one backend.")));
	/* H and B, the centers, the buffered rows, one flush's work, the flat copy */
	mem = 8.0 * ((double) m * m + (double) m * k + 2.0 * m * d +
				 (double) NTK_NYSTROM_FLUSH_ROWS * (d + k) +
				 (double) ntk_nystrom_work_len(p, m) + (double) ntk_gram_work_len(p, m) +
				 (double) m * ntk_diag_len(p)) + (double) flat;
	if (mem > allowed)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("Nystrom statistics of %d centers need more memory than allowed", m),
				 errdetail("A state needs about %.0f MB, and %s is %.0f MB.",
						   ceil(mem / (1024.0 * 1024.0)), setting, floor(allowed / (1024.0 * 1024.0))),
				 errhint("Raise ntk.max_memory, or use fewer centers.")));
}

/*
 * The type of a pass's target: each overload has an entry point of its own
 * rather than read the type from the call's expression, which a caller need
 * not pass (Citus's worker_partial_agg calls the transition function without
 * one).
 */
typedef enum NysTarget
{
	NYS_TARGET_SCALAR,
	NYS_TARGET_VECTOR,
	NYS_TARGET_LABEL
} NysTarget;

static int
FindClass(char **classes, int n, const char *label)
{
	int			lo = 0;
	int			hi = n;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(classes[mid], label);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(lo + 1);
}

/* Adds a label to a sorted class set. */
static void
AddClass(NysState *s, const char *label)
{
	int			pos = FindClass(s->classes, s->nclasses, label);

	if (pos >= 0)
		return;
	pos = -pos - 1;
	if (s->nclasses == s->classcap)
	{
		s->classcap = Max(8, s->classcap * 2);
		s->classes = s->classes ?
			repalloc(s->classes, s->classcap * sizeof(char *)) :
			MemoryContextAlloc(s->cxt, s->classcap * sizeof(char *));
	}
	memmove(s->classes + pos + 1, s->classes + pos, (s->nclasses - pos) * sizeof(char *));
	s->classes[pos] = MemoryContextStrdup(s->cxt, label);
	s->nclasses++;
	s->label_bytes = 0;
	for (pos = 0; pos < s->nclasses; pos++)
		s->label_bytes += strlen(s->classes[pos]) + 1;
	s->label_bytes = PAD8(s->label_bytes);
}

/* ---------------------------------------------------------------------
 * Pass 1: centers
 * ---------------------------------------------------------------------
 */

/*
 * ntk_nystrom_centers(x, target, options): the centers of the rows whose x
 * and target are not NULL, the moments of their features, their labels.
 */
static Datum
CentersTrans(FunctionCallInfo fcinfo, NysTarget target)
{
	MemoryContext aggctx;
	NysState   *s;
	const double *x;
	double	   *xc;
	int			len;
	int			ylen = 1;
	int			j;
	bool		label;

	label = target == NYS_TARGET_LABEL;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "ntk_nystrom_centers_trans called in non-aggregate context");
	if (PG_ARGISNULL(0))
		s = NULL;
	else
		s = WritableArg(PG_GETARG_DATUM(0), aggctx);

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_DATUM(EOHPGetRWDatum(&s->hdr));
	}
	x = ntk_array_data(PG_GETARG_ARRAYTYPE_P(1), "x", &len);
	if (target == NYS_TARGET_VECTOR)
		(void) ntk_array_data(PG_GETARG_ARRAYTYPE_P(2), "y", &ylen);
	if (s == NULL)
	{
		NtkFitOptions opts;
		size_t		sz;

		BlockOptions(fcinfo, 3, &opts);
		sz = ntk_centers_size(opts.centers, len);
		if (sz == 0 || CentersFlatSize(opts.centers, len, 0) > MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%d centers of %d features do not fit in a value", opts.centers, len),
					 errhint("Use fewer centers.")));
		s = NewState(aggctx, NYS_CENTERS);
		s->d = len;
		s->k = label ? 0 : ylen;
		s->task = label ? NTK_TASK_CLASSIFICATION : NTK_TASK_REGRESSION;
		s->standardize = opts.standardize;
		s->set = MemoryContextAllocHuge(s->cxt, sz);
		ntk_status_error(ntk_centers_init(s->set, opts.centers, len, opts.seed),
						 "ntk_nystrom_centers");
		s->mean = MemoryContextAllocZero(s->cxt, len * sizeof(double));
		s->m2 = MemoryContextAllocZero(s->cxt, len * sizeof(double));
	}
	else if (len != s->d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array \"x\" has %d elements, but the first row had %d", len, s->d),
				 errdetail("Every row of a fit must have the same number of features.")));
	if (!label && ylen != s->k)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array \"y\" has %d elements, but the first row had %d", ylen, s->k),
				 errdetail("Every row of a multi-output fit must have the same number of targets.")));

	/* -0.0 as +0.0: equal values, equal hashes */
	xc = palloc(len * sizeof(double));
	for (j = 0; j < len; j++)
		xc[j] = x[j] + 0.0;
	ntk_status_error(ntk_centers_add(s->set, xc, 1), "ntk_nystrom_centers");
	ntk_nystrom_moments_add(s->mean, s->m2, &s->count, xc, len);
	pfree(xc);
	if (label)
	{
		char	   *l = text_to_cstring(PG_GETARG_TEXT_PP(2));

		AddClass(s, l);
		pfree(l);
	}
	PG_RETURN_DATUM(EOHPGetRWDatum(&s->hdr));
}

Datum
ntk_nystrom_centers_trans_scalar(PG_FUNCTION_ARGS)
{
	return CentersTrans(fcinfo, NYS_TARGET_SCALAR);
}

Datum
ntk_nystrom_centers_trans_vector(PG_FUNCTION_ARGS)
{
	return CentersTrans(fcinfo, NYS_TARGET_VECTOR);
}

Datum
ntk_nystrom_centers_trans_label(PG_FUNCTION_ARGS)
{
	return CentersTrans(fcinfo, NYS_TARGET_LABEL);
}

/* ---------------------------------------------------------------------
 * Pass 2: statistics
 * ---------------------------------------------------------------------
 */

/* NtkProgressFn of a flush: cancellation only (workers send no NOTICEs). */
static int
FlushProgress(void *arg, double fraction)
{
	if (QueryCancelPending || ProcDiePending)
		return 1;
	CHECK_FOR_INTERRUPTS();
	return 0;
}

/* Adds the buffered rows to H and B. */
static void
Flush(NysState *s)
{
	NtkStatus	st;

	if (s->nbuf == 0)
		return;
	if (s->ctable == NULL)
	{
		s->cdiag = MemoryContextAllocHuge(s->cxt, (size_t) s->m * ntk_diag_len(&s->params) * sizeof(double));
		s->ctable = MemoryContextAllocHuge(s->cxt, ntk_gram_work_len(&s->params, s->m) * sizeof(double));
		ntk_status_error(ntk_nystrom_center_table(&s->params, s->C, s->m, s->d, s->cdiag, s->ctable),
						 "ntk_nystrom_statistics");
	}
	if (s->work == NULL)
		s->work = MemoryContextAllocHuge(s->cxt, ntk_nystrom_work_len(&s->params, s->m) * sizeof(double));
	/* a parallel worker is one of several processes: one thread each */
	if (IsParallelWorker())
		ntk_threads_for_one_point();
	else
		ntk_threads_for_big_work();
	st = ntk_nystrom_accumulate(&s->st, &s->params, s->kind, s->C, s->ctable,
								s->xbuf, s->ybuf, s->nbuf, s->work, FlushProgress, NULL);
	if (st == NTK_CANCELED)
		CHECK_FOR_INTERRUPTS();
	ntk_status_error(st, "ntk_nystrom_statistics");
	s->nbuf = 0;
}

/* Appends one standardized row and its targets; flushes a full block. */
static void
BufferRow(NysState *s, const double *x, const double *y)
{
	double	   *xb = s->xbuf + (size_t) s->nbuf * s->d;
	int			j;

	for (j = 0; j < s->d; j++)
	{
		double		v = s->standardize ?
			ntk_standardize_value(x[j], s->mean[j], s->scale[j]) : x[j];

		if (!isfinite(v))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("feature %d cannot be standardized in float64", j + 1),
					 errhint("Rescale the feature.")));
		xb[j] = v;
	}
	memcpy(s->ybuf + (size_t) s->nbuf * s->k, y, s->k * sizeof(double));
	if (++s->nbuf == NTK_NYSTROM_FLUSH_ROWS)
		Flush(s);
}

/* A statistics state from a centers state, the kernel and k. */
static NysState *
StatsFromCenters(MemoryContext aggctx, const NysFlat *cf, const NtkFitOptions *opts,
				 bool label)
{
	const NtkCenters *set = (const NtkCenters *) ((const char *) cf + NYS_HDR);
	const double *cmean;
	const double *cm2;
	const char *labels;
	NysState   *s;
	int			m = set->count;
	int			d = cf->d;
	int			k;
	size_t		i;

	if (cf->what != NYS_CENTERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"centers\" must be a state of ntk_nystrom_centers"),
				 errdetail("It holds statistics.")));
	if (m < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("argument \"centers\" holds no centers")));
	if (label != (cf->task == NTK_TASK_CLASSIFICATION))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the centers were chosen for %s, the statistics are for %s",
						cf->task == NTK_TASK_CLASSIFICATION ? "classification" : "regression",
						label ? "classification" : "regression"),
				 errhint("Give both passes the same kind of target.")));
	k = label ? cf->nclasses : cf->k;
	CheckStatsSize(m, d, k, cf->label_bytes, &opts->params);

	s = NewState(aggctx, NYS_STATS);
	s->task = cf->task;
	s->d = d;
	s->k = k;
	s->m = m;
	s->standardize = cf->standardize != 0;
	s->params = opts->params;
	s->kind = opts->kind;
	AllocStats(s);
	cmean = (const double *) (const void *) ((const char *) set + ntk_centers_size(set->m, d));
	cm2 = cmean + d;
	labels = (const char *) (cm2 + d);
	ReadLabels(s, labels, cf->nclasses, cf->label_bytes);
	ntk_centers_rows(set, s->C);
	if (s->standardize)
	{
		memcpy(s->mean, cmean, d * sizeof(double));
		ntk_nystrom_scale(NULL, cm2, (double) cf->count, d, s->scale);
		for (i = 0; i < (size_t) m * d; i++)
		{
			int			j = (int) (i % d);

			s->C[i] = ntk_standardize_value(s->C[i], s->mean[j], s->scale[j]);
		}
	}
	else
		for (i = 0; i < (size_t) d; i++)
			s->scale[i] = 1.0;
	ntk_status_error(ntk_nystrom_init(&s->st, &s->params, s->kind, s->C, m, d, k,
									  s->st.H, s->st.B), "ntk_nystrom_statistics");
	return s;
}

/*
 * ntk_nystrom_statistics(centers, x, target, options): H and B of the rows
 * against the centers of pass 1.
 */
static Datum
StatisticsTrans(FunctionCallInfo fcinfo, NysTarget target)
{
	MemoryContext aggctx;
	NysState   *s;
	const double *x;
	const double *y;
	double		yv;
	double	   *onehot = NULL;
	int			len;
	int			ylen = 1;
	bool		label;

	label = target == NYS_TARGET_LABEL;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "ntk_nystrom_statistics_trans called in non-aggregate context");
	s = PG_ARGISNULL(0) ? NULL : WritableArg(PG_GETARG_DATUM(0), aggctx);

	if (s == NULL)
	{
		NtkFitOptions opts;

		if (PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument \"centers\" must not be null")));
		BlockOptions(fcinfo, 4, &opts);
		s = StatsFromCenters(aggctx, FlatArg(PG_GETARG_DATUM(1)), &opts, label);
	}
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		s->n_skipped++;
		PG_RETURN_DATUM(EOHPGetRWDatum(&s->hdr));
	}

	if (target == NYS_TARGET_VECTOR)
		y = ntk_array_data(PG_GETARG_ARRAYTYPE_P(3), "y", &ylen);
	else if (!label)
	{
		yv = PG_GETARG_FLOAT8(3);
		if (!isfinite(yv))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("target \"y\" must not be NaN or Infinity")));
		y = &yv;
	}
	else
		y = NULL;

	x = ntk_array_data(PG_GETARG_ARRAYTYPE_P(2), "x", &len);
	if (len != s->d)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array \"x\" has %d elements, but the centers have %d", len, s->d),
				 errdetail("Every row of a fit must have the same number of features.")));
	if (label)
	{
		char	   *l = text_to_cstring(PG_GETARG_TEXT_PP(3));
		int			c = FindClass(s->classes, s->nclasses, l);

		if (c < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("label \"%s\" is not among the labels of the centers' pass", l),
					 errhint("Run both passes over the same rows.")));
		onehot = palloc0(s->k * sizeof(double));
		onehot[c] = 1.0;
		y = onehot;
		pfree(l);
	}
	else if (ylen != s->k)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array \"y\" has %d elements, but the first row had %d", ylen, s->k),
				 errdetail("Every row of a multi-output fit must have the same number of targets.")));
	BufferRow(s, x, y);
	if (onehot)
		pfree(onehot);
	PG_RETURN_DATUM(EOHPGetRWDatum(&s->hdr));
}

Datum
ntk_nystrom_statistics_trans_scalar(PG_FUNCTION_ARGS)
{
	return StatisticsTrans(fcinfo, NYS_TARGET_SCALAR);
}

Datum
ntk_nystrom_statistics_trans_vector(PG_FUNCTION_ARGS)
{
	return StatisticsTrans(fcinfo, NYS_TARGET_VECTOR);
}

Datum
ntk_nystrom_statistics_trans_label(PG_FUNCTION_ARGS)
{
	return StatisticsTrans(fcinfo, NYS_TARGET_LABEL);
}

/* ---------------------------------------------------------------------
 * Combine
 * ---------------------------------------------------------------------
 */

static void
CombineRefused(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("cannot combine Nystrom states built differently"),
			 errdetail("%s", detail),
			 errhint("Combine only states of one fit: the same centers, kernel, options and kind of target.")));
}

static bool
SameClasses(NysState *a, const NysFlat *fb, const char *labels)
{
	int			i;

	if (a->nclasses != fb->nclasses)
		return false;
	for (i = 0; i < a->nclasses; i++)
	{
		if (strcmp(a->classes[i], labels) != 0)
			return false;
		labels += strlen(labels) + 1;
	}
	return true;
}

/* dst += src, src in flat form. */
static void
CombineFlat(NysState *dst, const NysFlat *src)
{
	const char *p = (const char *) src + NYS_HDR;
	size_t		dbytes = (size_t) src->d * sizeof(double);

	if (dst->what != src->what)
		CombineRefused("One holds centers, the other statistics.");
	if (dst->d != src->d || dst->k != src->k || dst->task != src->task ||
		dst->standardize != (src->standardize != 0))
		CombineRefused("Their features, kinds of target or standardization differ.");
	if (dst->what == NYS_CENTERS)
	{
		const NtkCenters *set = (const NtkCenters *) p;
		const double *mean2 = (const double *) (const void *) (p + ntk_centers_size(set->m, src->d));
		const double *m22 = mean2 + src->d;
		const char *labels = (const char *) (m22 + src->d);
		int			i;

		if (ntk_centers_merge(dst->set, set) != NTK_OK)
			CombineRefused("Their numbers of centers or seeds differ.");
		ntk_nystrom_moments_merge(dst->mean, dst->m2, &dst->count, mean2, m22, src->count, dst->d);
		for (i = 0; i < src->nclasses; i++)
		{
			AddClass(dst, labels);
			labels += strlen(labels) + 1;
		}
		dst->n_skipped += src->n_skipped;
	}
	else
	{
		const NtkNystromPacked *pk = (const NtkNystromPacked *) p;
		int			m = dst->m;
		const double *Hp = (const double *) (pk + 1);
		const double *Bp = Hp + (size_t) m * (m + 1) / 2;
		const char *q = p + ntk_nystrom_packed_size(pk->key.m, src->k);
		const double *xs;
		const double *ys;
		int			i;
		int			j;

		if (!ntk_nystrom_key_equal(&dst->st.key, &pk->key))
			CombineRefused("They were built against different centers or kernels (their fingerprints differ).");
		if (memcmp(dst->mean, q, dbytes) != 0 || memcmp(dst->scale, q + dbytes, dbytes) != 0)
			CombineRefused("Their standardizations differ.");
		q += 2 * dbytes + (size_t) m * dbytes;
		if (!SameClasses(dst, src, q))
			CombineRefused("Their class labels differ.");
		q += src->label_bytes;
		/* H's lower triangle, column by column, as ntk_nystrom_pack wrote it */
		for (j = 0; j < m; j++)
		{
			double	   *h = dst->st.H + j + (size_t) j * m;

			for (i = 0; i < m - j; i++)
				h[i] += *Hp++;
			CHECK_FOR_INTERRUPTS();
		}
		for (i = 0; i < m * dst->k; i++)
			dst->st.B[i] += Bp[i];
		dst->st.n += pk->n;
		dst->st.diag_sum += pk->diag_sum;
		dst->st.y2_sum += pk->y2_sum;
		dst->n_skipped += src->n_skipped;
		xs = (const double *) (const void *) q;
		ys = xs + (size_t) src->nbuf * src->d;
		for (i = 0; i < src->nbuf; i++)
		{
			memcpy(dst->xbuf + (size_t) dst->nbuf * dst->d, xs + (size_t) i * dst->d, dbytes);
			memcpy(dst->ybuf + (size_t) dst->nbuf * dst->k, ys + (size_t) i * dst->k,
				   dst->k * sizeof(double));
			if (++dst->nbuf == NTK_NYSTROM_FLUSH_ROWS)
				Flush(dst);
		}
	}
}

Datum
ntk_nystrom_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx;
	NysState   *dst;
	NysFlat    *src;

	/* called as a plain function: the result is a new object */
	if (!AggCheckCallContext(fcinfo, &aggctx))
		aggctx = CurrentMemoryContext;
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(EOHPGetRWDatum(&WritableArg(PG_GETARG_DATUM(0), aggctx)->hdr));
	}
	if (PG_ARGISNULL(0))
		PG_RETURN_DATUM(EOHPGetRWDatum(&Expand(aggctx, FlatArg(PG_GETARG_DATUM(1)))->hdr));
	dst = WritableArg(PG_GETARG_DATUM(0), aggctx);
	src = FlatArg(PG_GETARG_DATUM(1));
	CombineFlat(dst, src);
	if ((Pointer) src != DatumGetPointer(PG_GETARG_DATUM(1)))
		pfree(src);
	PG_RETURN_DATUM(EOHPGetRWDatum(&dst->hdr));
}

/* ---------------------------------------------------------------------
 * The fit from statistics
 * ---------------------------------------------------------------------
 */

static char *
ModelName(text *t)
{
	char	   *name = text_to_cstring(t);

	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	if (strlen(name) > NYS_MAX_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("model name is too long"),
				 errdetail("The name has %zu bytes; model names have at most %d.",
						   strlen(name), NYS_MAX_NAME_BYTES)));
	return name;
}

/* Solves and stores the statistics s under name; the model's id. */
static int64
FitStats(const char *name, NysState *s, NtkFitOptions *opts, NtkFitProgress *pr,
		 const char *timings)
{
	NtkNystromSolveInput in;

	if (s->what != NYS_STATS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"statistics\" must be a state of ntk_nystrom_statistics"),
				 errdetail("It holds centers.")));
	if (opts->params.depth != s->params.depth || opts->params.activation != s->params.activation ||
		opts->params.sigma_w != s->params.sigma_w || opts->params.sigma_b != s->params.sigma_b ||
		opts->kind != s->kind || opts->standardize != s->standardize)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options of model \"%s\" do not match its statistics", name),
				 errdetail("The kernel (kernel, activation, depth, sigma_w, sigma_b) and \"standardize\" must be those the statistics were accumulated with."),
				 errhint("Pass the same options to ntk_nystrom_statistics and ntk_nystrom_fit.")));
	pr->phase = "accumulating statistics";
	Flush(s);

	in.name = name;
	in.task = s->task == NTK_TASK_CLASSIFICATION ? NTK_TASK_CLASSIFICATION : NTK_TASK_REGRESSION;
	in.opts = opts;
	in.params = &s->params;
	in.kind = s->kind;
	in.C = s->C;
	in.m = s->m;
	in.d = s->d;
	in.k = s->k;
	in.mean = s->standardize ? s->mean : NULL;
	in.scale = s->standardize ? s->scale : NULL;
	in.classes = s->nclasses > 0 ? s->classes : NULL;
	in.nclasses = s->nclasses;
	in.stats = &s->st;
	in.n_skipped = s->n_skipped;
	in.timings = timings;
	in.guarded = false;
	return ntk_nystrom_solve_store(&in, pr);
}

/* ntk_nystrom_fit(model, statistics, options): solves and stores. */
Datum
ntk_nystrom_fit(PG_FUNCTION_ARGS)
{
	char	   *name;
	NtkFitOptions opts;
	NysState   *s;
	NtkFitProgress pr;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be null")));
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	name = ModelName(PG_GETARG_TEXT_PP(0));
	PreventCommandIfReadOnly("ntk_nystrom_fit()");
	BlockOptions(fcinfo, 2, &opts);

	INSTR_TIME_SET_CURRENT(pr.start);
	pr.model = name;
	pr.phase = "reading statistics";
	pr.last_notice = 0.0;
	s = Expand(CurrentMemoryContext, FlatArg(PG_GETARG_DATUM(1)));
	if (!opts.centers_given)
		opts.centers = s->m;	/* recorded: the centers the state holds */
	ntk_threads_for_big_work();
	PG_RETURN_INT64(FitStats(name, s, &opts, &pr, ""));
}

/* ---------------------------------------------------------------------
 * ntk_fit_query
 * ---------------------------------------------------------------------
 */

/* Runs one pass; its single value (NULL if no rows), in SPI's memory. */
static Datum
RunPass(const char *sql, int nargs, Oid *types, Datum *values, bool *isnull)
{
	char		nulls[2] = {' ', ' '};
	int			rc;

	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, true, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "ntk_fit_query: pass returned %d (%llu rows)", rc,
			 (unsigned long long) SPI_processed);
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
}

/*
 * Checks that query is a single read-only SELECT; its result's columns, and
 * in *stmt the statement's own text (without a trailing semicolon or
 * comment), to be embedded as a subquery.
 */
static TupleDesc
DescribeQuery(const char *query, char **stmt)
{
	SPIPlanPtr	plan = SPI_prepare(query, 0, NULL);
	List	   *sources;
	CachedPlanSource *ps;
	ListCell   *lc;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	if (list_length(sources) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query of ntk_fit_query must be a single SELECT statement")));
	ps = linitial(sources);
	foreach(lc, ps->query_list)
	{
		Query	   *q = lfirst_node(Query, lc);

		if (q->commandType != CMD_SELECT || q->hasModifyingCTE ||
			q->rowMarks != NIL || q->utilityStmt != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
					 errmsg("query of ntk_fit_query must be read-only"),
					 errdetail("The query is not a plain SELECT, or it locks or modifies rows."),
					 errhint("Pass a plain SELECT returning (x, target).")));
	}
	if (ps->resultDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("query of ntk_fit_query must return rows")));
	if (ps->raw_parse_tree != NULL && ps->raw_parse_tree->stmt_location >= 0)
	{
		int			loc = ps->raw_parse_tree->stmt_location;
		int			len = ps->raw_parse_tree->stmt_len;

		*stmt = len > 0 ? pnstrdup(query + loc, len) : pstrdup(query + loc);
	}
	else
		*stmt = pstrdup(query);
	/* on a line of its own: a comment inside stays one */
	*stmt = psprintf("%s\n", *stmt);
	return ps->resultDesc;
}

/*
 * ntk_fit_query(model, query, options): query returns (x, target).  The
 * exact method runs the ntk_fit aggregate on it; "nystrom" runs pass 1
 * (centers) and pass 2 (statistics) as two queries that PostgreSQL may plan
 * in parallel, then solves and stores in this backend.  An option "task"
 * ("regression" or "classification") is accepted and checked against the
 * target's type, which decides.
 */
Datum
ntk_fit_query(PG_FUNCTION_ARGS)
{
	MemoryContext outer = CurrentMemoryContext;
	char	   *name;
	char	   *query;
	Jsonb	   *jb;
	Datum		optdatum;
	NtkFitOptions opts;
	const char *schema = ntk_schema();
	TupleDesc	desc;
	Oid			xtype;
	Oid			ttype;
	bool		label;
	bool		vector;
	const char *tcast;
	const char *tname;
	char	   *src;
	Datum		values[2];
	Oid			types[2];
	bool		isnull;
	Datum		res;
	int64		id;
	NtkFitProgress pr;
	StringInfoData timings;
	double		t0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("query must not be null")));
	name = ModelName(PG_GETARG_TEXT_PP(0));
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	PreventCommandIfReadOnly("ntk_fit_query()");
	INSTR_TIME_SET_CURRENT(pr.start);
	pr.model = name;
	pr.last_notice = 0.0;

	/* "task" is ntk_fit_query's own option: checked below, then removed */
	optdatum = PG_ARGISNULL(2) ?
		DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")) : PG_GETARG_DATUM(2);
	jb = DatumGetJsonbP(optdatum);
	tname = NULL;
	if (JB_ROOT_IS_OBJECT(jb))
	{
		JsonbValue	tv;

		if (getKeyJsonValueFromContainer(&jb->root, "task", 4, &tv) != NULL)
		{
			if (tv.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"task\" must be a string")));
			tname = pnstrdup(tv.val.string.val, tv.val.string.len);
			if (strcmp(tname, "regression") != 0 && strcmp(tname, "classification") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unrecognized task \"%s\"", tname),
						 errhint("Valid tasks are \"regression\" and \"classification\".")));
			optdatum = DirectFunctionCall2(jsonb_delete, optdatum, CStringGetTextDatum("task"));
			jb = DatumGetJsonbP(optdatum);
		}
	}
	ntk_options_default(&opts);
	ntk_options_parse(jb, &opts);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* one plain SELECT, embedded below as a subquery */
	desc = DescribeQuery(query, &query);

	/* the query's columns: x, then the target, whose type decides the task */
	if (desc->natts != 2)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("query of ntk_fit_query must return two columns (x, target)"),
				 errdetail("It returns %d column(s).", desc->natts)));
	xtype = SPI_gettypeid(desc, 1);
	ttype = SPI_gettypeid(desc, 2);
	if (get_element_type(xtype) == InvalidOid)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the first column of the query must be an array of features, not type %s",
						format_type_be(xtype))));
	label = ttype == TEXTOID || ttype == VARCHAROID || ttype == BPCHAROID;
	vector = !label && get_element_type(ttype) != InvalidOid;
	tcast = label ? "text" : vector ? "pg_catalog.float8[]" : "pg_catalog.float8";
	if (tname && (strcmp(tname, "classification") == 0) != label)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"task\" is \"%s\", but the target column has type %s",
						tname, format_type_be(ttype)),
				 errhint("Labels of a classifier are text; targets of a regression are float8 or float8[].")));

	types[0] = JSONBOID;
	values[0] = optdatum;
	if (opts.method != NTK_METHOD_NYSTROM)
	{
		src = psprintf("SELECT %s.%s($1, q.x::pg_catalog.float8[], q.t::%s, $2) FROM (%s) AS q(x, t)",
					   schema, label ? "ntk_fit_classifier" : "ntk_fit", tcast, query);
		types[0] = TEXTOID;
		values[0] = CStringGetTextDatum(name);
		types[1] = JSONBOID;
		values[1] = optdatum;
		res = RunPass(src, 2, types, values, &isnull);
		id = isnull ? 0 : DatumGetInt64(res);
		SPI_finish();
		if (isnull)
			PG_RETURN_NULL();
		PG_RETURN_INT64(id);
	}

	initStringInfo(&timings);
	t0 = ntk_fit_elapsed(&pr);
	src = psprintf("SELECT %s.ntk_nystrom_centers(q.x::pg_catalog.float8[], q.t::%s, $1) "
				   "FROM (%s) AS q(x, t)", schema, tcast, query);
	res = RunPass(src, 1, types, values, &isnull);
	if (isnull)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	appendStringInfo(&timings, ", \"centers\": %.3f", ntk_fit_elapsed(&pr) - t0);

	t0 = ntk_fit_elapsed(&pr);
	types[0] = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
	values[0] = res;
	types[1] = JSONBOID;
	values[1] = optdatum;
	src = psprintf("SELECT %s.ntk_nystrom_statistics($1, q.x::pg_catalog.float8[], q.t::%s, $2) "
				   "FROM (%s) AS q(x, t)", schema, tcast, query);
	{
		SPITupleTable *centers = SPI_tuptable;
		NysState   *s;

		res = RunPass(src, 2, types, values, &isnull);
		if (isnull)
			elog(ERROR, "ntk_fit_query: the statistics pass saw no rows");
		appendStringInfo(&timings, ", \"statistics\": %.3f", ntk_fit_elapsed(&pr) - t0);
		s = Expand(outer, FlatArg(res));
		SPI_freetuptable(centers);
		SPI_finish();
		ntk_threads_for_big_work();
		id = FitStats(name, s, &opts, &pr, timings.data);
	}
	PG_RETURN_INT64(id);
}
