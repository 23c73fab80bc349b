/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Decisions of argument validation (options, float8[] arguments,
 *	  dimensions, buffer sizes) as pure functions.
 *
 * No PostgreSQL headers: options.c and arrays.c walk the server's data
 * structures and report, and everything they decide comes from here, so
 * that the unit tests and the libFuzzer harness check the server's code.
 * Unknown keys and values of the wrong type are errors, so a typo never
 * silently falls back to a default.
 *
 *-------------------------------------------------------------------------
 */
#include "validate.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static const char *const option_names[NTK_OPT_NKEYS] = {
	"depth", "activation", "sigma_w", "sigma_b", "kernel", "ridge",
	"ridge_absolute", "standardize", "t", "learning_rate", "variance",
	"method", "centers", "seed"
};

void
ntk_options_default(NtkFitOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->params.depth = 3;
	opts->params.activation = NTK_RELU;
	opts->params.sigma_w = 1.0;
	opts->params.sigma_b = 0.0;
	opts->kind = NTK_KERNEL_NTK;
	opts->ridge = 1e-6;
	opts->learning_rate = 1.0;
	opts->method = NTK_METHOD_EXACT;
	opts->centers = NTK_DEFAULT_CENTERS;
	opts->seed = 0;
}

NtkOptStatus
ntk_options_check(const NtkFitOptions *opts, NtkOptionKey *key)
{
	*key = NTK_OPT_UNKNOWN;
	if (opts->method != NTK_METHOD_NYSTROM)
	{
		/* a center count that would be ignored is a forgotten "method" */
		if (opts->centers_given)
			*key = NTK_OPT_CENTERS;
		else if (opts->seed_given)
			*key = NTK_OPT_SEED;
		return *key == NTK_OPT_UNKNOWN ? NTK_OPT_OK : NTK_OPT_NEEDS_NYSTROM;
	}
	if (opts->has_t)
		*key = NTK_OPT_T;
	else if (opts->variance)
		*key = NTK_OPT_VARIANCE;
	else if (opts->n_depths > 0)
		*key = NTK_OPT_DEPTH;
	return *key == NTK_OPT_UNKNOWN ? NTK_OPT_OK : NTK_OPT_NOT_NYSTROM;
}

int
ntk_fit_method_parse(const char *name, NtkFitMethod *out)
{
	if (strcmp(name, "exact") == 0)
		*out = NTK_METHOD_EXACT;
	else if (strcmp(name, "nystrom") == 0)
		*out = NTK_METHOD_NYSTROM;
	else
		return -1;
	return 0;
}

const char *
ntk_fit_method_name(NtkFitMethod method)
{
	return method == NTK_METHOD_NYSTROM ? "nystrom" : "exact";
}

/*
 * Any list of candidates asks for model selection, a list of one too: the
 * fit then reports that candidate's leave-one-out error.
 */
bool
ntk_options_searching(const NtkFitOptions *opts)
{
	return opts->ridge_auto || opts->n_ridges > 0 || opts->n_depths > 0;
}

NtkOptionKey
ntk_option_lookup(const char *key)
{
	int			i;

	for (i = 0; i < NTK_OPT_NKEYS; i++)
		if (strcmp(key, option_names[i]) == 0)
			return (NtkOptionKey) i;
	return NTK_OPT_UNKNOWN;
}

const char *
ntk_option_name(NtkOptionKey key)
{
	if (key < 0 || key >= NTK_OPT_NKEYS)
		return "?";
	return option_names[key];
}

const char *
ntk_json_kind_name(NtkJsonKind kind)
{
	switch (kind)
	{
		case NTK_JSON_NULL:
			return "null";
		case NTK_JSON_STRING:
			return "a string";
		case NTK_JSON_NUMBER:
			return "a number";
		case NTK_JSON_BOOL:
			return "a boolean";
		case NTK_JSON_ARRAY:
			return "an array";
		case NTK_JSON_OBJECT:
			return "an object";
		default:
			return "an unsupported value";
	}
}

NtkOptStatus
ntk_options_root(NtkJsonKind kind)
{
	return kind == NTK_JSON_OBJECT ? NTK_OPT_OK : NTK_OPT_NOT_OBJECT;
}

/* The scalar kind a key takes and its noun phrase in messages. */
static NtkJsonKind
ScalarKind(NtkOptionKey key, const char **noun)
{
	switch (key)
	{
		case NTK_OPT_ACTIVATION:
		case NTK_OPT_KERNEL:
		case NTK_OPT_METHOD:
			*noun = "a string";
			return NTK_JSON_STRING;
		case NTK_OPT_RIDGE_ABSOLUTE:
		case NTK_OPT_STANDARDIZE:
		case NTK_OPT_VARIANCE:
			*noun = "a boolean";
			return NTK_JSON_BOOL;
		default:
			/* numbers; ridge also takes the string "auto" */
			*noun = "a number";
			return NTK_JSON_NUMBER;
	}
}

static bool
TakesList(NtkOptionKey key)
{
	return key == NTK_OPT_DEPTH || key == NTK_OPT_RIDGE;
}

NtkOptStatus
ntk_option_kind(NtkOptionKey key, NtkJsonKind kind, const char **expected)
{
	const char *noun;
	NtkJsonKind want;

	*expected = "";
	if (key < 0 || key >= NTK_OPT_NKEYS)
		return NTK_OPT_UNKNOWN_KEY;
	if (kind == NTK_JSON_OBJECT || (kind == NTK_JSON_ARRAY && !TakesList(key)))
	{
		*expected = "a scalar";
		return NTK_OPT_WRONG_TYPE;
	}
	if (kind == NTK_JSON_ARRAY)
		return NTK_OPT_OK;
	want = ScalarKind(key, &noun);
	if (kind == want || (key == NTK_OPT_RIDGE && kind == NTK_JSON_STRING))
		return NTK_OPT_OK;
	*expected = noun;
	return NTK_OPT_WRONG_TYPE;
}

/* In double: a cast to int is only defined for values that fit. */
static bool
InDepthRange(double depth)
{
	return depth >= 0.0 && depth <= NTK_MAX_DEPTH;
}

NtkOptStatus
ntk_option_set_number(NtkFitOptions *opts, NtkOptionKey key, double value)
{
	const char *noun;

	if (key < 0 || key >= NTK_OPT_NKEYS)
		return NTK_OPT_UNKNOWN_KEY;
	if (ScalarKind(key, &noun) != NTK_JSON_NUMBER)
		return NTK_OPT_WRONG_TYPE;
	if (!isfinite(value))
		return NTK_OPT_NOT_FINITE;

	switch (key)
	{
		case NTK_OPT_DEPTH:
			/* the comparisons in double: the cast is only defined in range */
			if (value != floor(value) || value < INT_MIN || value > INT_MAX)
				return NTK_OPT_NOT_INTEGER;
			if (!InDepthRange(value))
				return NTK_OPT_DEPTH_RANGE;
			opts->params.depth = (int) value;
			break;
		case NTK_OPT_SIGMA_W:
			if (value <= 0.0)
				return NTK_OPT_NOT_POSITIVE;
			opts->params.sigma_w = value;
			break;
		case NTK_OPT_SIGMA_B:
			if (value < 0.0)
				return NTK_OPT_NEGATIVE;
			opts->params.sigma_b = value;
			break;
		case NTK_OPT_RIDGE:
			if (value < 0.0)
				return NTK_OPT_NEGATIVE;
			opts->ridge = value;
			break;
		case NTK_OPT_T:
			if (value < 0.0)
				return NTK_OPT_NEGATIVE;
			opts->t = value;
			opts->has_t = true;
			break;
		case NTK_OPT_LEARNING_RATE:
			if (value <= 0.0)
				return NTK_OPT_NOT_POSITIVE;
			opts->learning_rate = value;
			break;
		case NTK_OPT_CENTERS:
			if (value != floor(value) || value < INT_MIN || value > INT_MAX)
				return NTK_OPT_NOT_INTEGER;
			if (value < 1.0)
				return NTK_OPT_NOT_POSITIVE;
			opts->centers = (int) value;
			opts->centers_given = true;
			break;
		case NTK_OPT_SEED:
			if (value != floor(value) || value < 0.0 || value > NTK_MAX_SEED)
				return NTK_OPT_SEED_RANGE;
			opts->seed = (uint64_t) value;
			opts->seed_given = true;
			break;
		default:
			return NTK_OPT_WRONG_TYPE;
	}
	return NTK_OPT_OK;
}

NtkOptStatus
ntk_option_set_string(NtkFitOptions *opts, NtkOptionKey key, const char *value)
{
	switch (key)
	{
		case NTK_OPT_ACTIVATION:
			{
				NtkActivation act;

				if (ntk_activation_parse(value, &act) != 0)
					return NTK_OPT_BAD_ACTIVATION;
				opts->params.activation = act;
				return NTK_OPT_OK;
			}
		case NTK_OPT_KERNEL:
			{
				NtkKernelKind kind;

				if (ntk_kernel_kind_parse(value, &kind) != 0)
					return NTK_OPT_BAD_KERNEL;
				opts->kind = kind;
				return NTK_OPT_OK;
			}
		case NTK_OPT_METHOD:
			{
				NtkFitMethod method;

				if (ntk_fit_method_parse(value, &method) != 0)
					return NTK_OPT_BAD_METHOD;
				opts->method = method;
				return NTK_OPT_OK;
			}
		case NTK_OPT_RIDGE:
			if (strcmp(value, "auto") != 0)
				return NTK_OPT_BAD_RIDGE;
			opts->ridge_auto = true;
			return NTK_OPT_OK;
		default:
			return key < 0 || key >= NTK_OPT_NKEYS ?
				NTK_OPT_UNKNOWN_KEY : NTK_OPT_WRONG_TYPE;
	}
}

NtkOptStatus
ntk_option_set_bool(NtkFitOptions *opts, NtkOptionKey key, bool value)
{
	switch (key)
	{
		case NTK_OPT_RIDGE_ABSOLUTE:
			opts->ridge_absolute = value;
			return NTK_OPT_OK;
		case NTK_OPT_STANDARDIZE:
			opts->standardize = value;
			return NTK_OPT_OK;
		case NTK_OPT_VARIANCE:
			opts->variance = value;
			return NTK_OPT_OK;
		default:
			return key < 0 || key >= NTK_OPT_NKEYS ?
				NTK_OPT_UNKNOWN_KEY : NTK_OPT_WRONG_TYPE;
	}
}

void
ntk_candidates_init(NtkCandidates *c, NtkOptionKey key)
{
	c->key = key;
	c->n = 0;
}

NtkOptStatus
ntk_candidates_kind(const NtkCandidates *c, NtkJsonKind kind,
					const char **expected)
{
	*expected = "a number";
	/* a full list is reported before the type of the element past its end */
	if (c->n >= NTK_MAX_CANDIDATES)
		return NTK_OPT_TOO_MANY;
	if (kind != NTK_JSON_NUMBER)
		return NTK_OPT_WRONG_TYPE;
	return NTK_OPT_OK;
}

NtkOptStatus
ntk_candidates_add(NtkCandidates *c, double value)
{
	if (c->n < 0 || c->n >= NTK_MAX_CANDIDATES)
		return NTK_OPT_TOO_MANY;
	if (!isfinite(value))
		return NTK_OPT_NOT_FINITE;
	c->values[c->n++] = value;
	return NTK_OPT_OK;
}

NtkOptStatus
ntk_candidates_apply(NtkFitOptions *opts, const NtkCandidates *c)
{
	int			i;

	if (!TakesList(c->key))
		return NTK_OPT_WRONG_TYPE;
	if (c->n > NTK_MAX_CANDIDATES)
		return NTK_OPT_TOO_MANY;
	if (c->n <= 0)
		return NTK_OPT_EMPTY_LIST;

	/* every candidate checked before any is stored */
	for (i = 0; i < c->n; i++)
	{
		double		v = c->values[i];

		if (c->key == NTK_OPT_RIDGE)
		{
			if (v < 0.0)
				return NTK_OPT_NEGATIVE;
		}
		else
		{
			if (v != floor(v))
				return NTK_OPT_NOT_INTEGERS;
			if (!InDepthRange(v))
				return NTK_OPT_DEPTH_RANGE;
		}
	}

	if (c->key == NTK_OPT_RIDGE)
	{
		memcpy(opts->ridges, c->values, c->n * sizeof(double));
		opts->n_ridges = c->n;
		opts->ridge = c->values[0];
	}
	else
	{
		for (i = 0; i < c->n; i++)
			opts->depths[i] = (int) c->values[i];
		opts->n_depths = c->n;
		opts->params.depth = opts->depths[0];
	}
	return NTK_OPT_OK;
}

int
ntk_kernel_kind_parse(const char *name, NtkKernelKind *out)
{
	if (strcmp(name, "ntk") == 0)
		*out = NTK_KERNEL_NTK;
	else if (strcmp(name, "nngp") == 0)
		*out = NTK_KERNEL_NNGP;
	else
		return -1;
	return 0;
}

const char *
ntk_kernel_kind_name(NtkKernelKind kind)
{
	return kind == NTK_KERNEL_NNGP ? "nngp" : "ntk";
}

/* The shape checks of ntk_vector_check and ntk_vector_check_float4. */
static NtkVectorStatus
VectorShape(int ndim, const int *dims, bool has_nulls, int *len, int *bad)
{
	int			n;

	*len = 0;
	*bad = -1;
	if (ndim > 1)
		return NTK_VEC_MULTIDIM;
	n = ndim <= 0 ? 0 : dims[0];
	if (n <= 0)
		return NTK_VEC_EMPTY;
	if (has_nulls)
		return NTK_VEC_NULLS;
	*len = n;
	return NTK_VEC_OK;
}

#define NTK_NONFINITE_STATUS(v) \
	(isnan(v) ? NTK_VEC_NAN : (v) > 0 ? NTK_VEC_POS_INF : NTK_VEC_NEG_INF)

NtkVectorStatus
ntk_vector_check(int ndim, const int *dims, bool has_nulls,
				 const double *data, int *len, int *bad)
{
	NtkVectorStatus st = VectorShape(ndim, dims, has_nulls, len, bad);
	int			i;

	if (st != NTK_VEC_OK)
		return st;
	for (i = 0; i < *len; i++)
	{
		if (!isfinite(data[i]))
		{
			*bad = i;
			return NTK_NONFINITE_STATUS(data[i]);
		}
	}
	return NTK_VEC_OK;
}

NtkVectorStatus
ntk_vector_check_float4(int ndim, const int *dims, bool has_nulls,
						const float *data, int *len, int *bad)
{
	NtkVectorStatus st = VectorShape(ndim, dims, has_nulls, len, bad);
	int			i;

	if (st != NTK_VEC_OK)
		return st;
	for (i = 0; i < *len; i++)
	{
		if (!isfinite(data[i]))
		{
			*bad = i;
			return NTK_NONFINITE_STATUS(data[i]);
		}
	}
	return NTK_VEC_OK;
}

const char *
ntk_vector_nonfinite_name(NtkVectorStatus st)
{
	switch (st)
	{
		case NTK_VEC_NAN:
			return "NaN";
		case NTK_VEC_POS_INF:
			return "Infinity";
		case NTK_VEC_NEG_INF:
			return "-Infinity";
		default:
			return "finite";
	}
}

bool
ntk_dims_agree(int expected, int actual)
{
	return expected == actual;
}

bool
ntk_size_mul(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return false;
	*out = a * b;
	return true;
}

NtkStatus
ntk_fit_sizes(int64_t n, int64_t d, int64_t k, NtkFitSizes *out)
{
	NtkFitSizes sz;
	size_t		nd;
	size_t		nk;
	size_t		nn;

	if (n < 1 || d < 1 || k < 1)
		return NTK_BAD_DIMENSION;
#if SIZE_MAX < UINT64_MAX
	/* with a 32-bit size_t every count must first fit in it */
	if ((uint64_t) n > SIZE_MAX || (uint64_t) d > SIZE_MAX || (uint64_t) k > SIZE_MAX)
		return NTK_OVERFLOW;
#endif
	if (!ntk_size_mul((size_t) n, (size_t) d, &nd) ||
		!ntk_size_mul(nd, sizeof(double), &sz.x_bytes) ||
		!ntk_size_mul((size_t) n, (size_t) k, &nk) ||
		!ntk_size_mul(nk, sizeof(double), &sz.y_bytes) ||
		!ntk_size_mul((size_t) n, (size_t) n, &nn) ||
		!ntk_size_mul(nn, sizeof(double), &sz.gram_bytes))
		return NTK_OVERFLOW;
	*out = sz;
	return NTK_OK;
}
