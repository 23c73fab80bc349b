/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Parsing and printing of ntk_fit options (a jsonb object).
 *
 * Unknown keys and values of the wrong type are errors that name the key,
 * so a typo never silently falls back to a default.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/numeric.h"

#include "ntk.h"
#include "options.h"

#define VALID_OPTIONS "depth, activation, sigma_w, sigma_b, kernel, ridge, " \
	"ridge_absolute, standardize, t, learning_rate, variance"

static const char *const valid_options[] = {
	"depth", "activation", "sigma_w", "sigma_b", "kernel", "ridge",
	"ridge_absolute", "standardize", "t", "learning_rate", "variance"
};

static bool
IsOption(const char *key)
{
	int			i;

	for (i = 0; i < (int) lengthof(valid_options); i++)
		if (strcmp(key, valid_options[i]) == 0)
			return true;
	return false;
}

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
}

static const char *
JsonTypeName(enum jbvType type)
{
	switch (type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvArray:
			return "an array";
		case jbvObject:
			return "an object";
		default:
			return "an unsupported value";
	}
}

static void
WrongType(const char *key, const char *expected, enum jbvType got)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("option \"%s\" must be %s, not %s", key, expected,
					JsonTypeName(got))));
}

static double
NumberValue(const char *key, JsonbValue *v)
{
	double		d;

	if (v->type != jbvNumeric)
		WrongType(key, "a number", v->type);
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
										   NumericGetDatum(v->val.numeric)));
	if (!isfinite(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be finite", key)));
	return d;
}

static int
IntValue(const char *key, JsonbValue *v)
{
	double		d = NumberValue(key, v);

	if (d != floor(d) || d < INT_MIN || d > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be an integer", key)));
	return (int) d;
}

static bool
BoolValue(const char *key, JsonbValue *v)
{
	if (v->type != jbvBool)
		WrongType(key, "a boolean", v->type);
	return v->val.boolean;
}

static char *
StringValue(const char *key, JsonbValue *v)
{
	if (v->type != jbvString)
		WrongType(key, "a string", v->type);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static void
CheckDepth(int depth)
{
	if (depth < 0 || depth > NTK_MAX_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"depth\" must be between 0 and %d", NTK_MAX_DEPTH)));
}

static void
CheckRidge(double ridge)
{
	if (ridge < 0.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"ridge\" must not be negative")));
}

/* Reads an array value of a candidate list; *n receives the count. */
static void
CandidateList(const char *key, JsonbIterator **it, double *out, int *n)
{
	JsonbValue	v;
	JsonbIteratorToken tok;

	*n = 0;
	while ((tok = JsonbIteratorNext(it, &v, true)) != WJB_END_ARRAY)
	{
		if (tok != WJB_ELEM)
			WrongType(key, "a number or an array of numbers", v.type);
		if (*n >= NTK_MAX_CANDIDATES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("option \"%s\" has more than %d candidates",
							key, NTK_MAX_CANDIDATES)));
		out[(*n)++] = NumberValue(key, &v);
	}
	if (*n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must not be an empty array", key)));
}

void
ntk_options_parse(Jsonb *jb, NtkFitOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a jsonb object"),
				 errhint("Valid options are: " VALID_OPTIONS ".")));

	it = JsonbIteratorInit(&jb->root);
	tok = JsonbIteratorNext(&it, &v, false);	/* WJB_BEGIN_OBJECT */
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_END_OBJECT)
	{
		char	   *key;

		if (tok != WJB_KEY)
			elog(ERROR, "unexpected jsonb token %d", (int) tok);
		key = pnstrdup(v.val.string.val, v.val.string.len);

		/* nested arrays and objects come back whole, as jbvBinary */
		tok = JsonbIteratorNext(&it, &v, true);

		if (v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data))
		{
			if (!IsOption(key))
				goto unknown;
			WrongType(key, "a scalar", jbvObject);
		}
		if (v.type == jbvBinary)
		{
			JsonbIterator *ait = JsonbIteratorInit(v.val.binary.data);
			JsonbValue	av;

			(void) JsonbIteratorNext(&ait, &av, true);	/* WJB_BEGIN_ARRAY */
			if (strcmp(key, "ridge") == 0)
			{
				int			i;

				CandidateList(key, &ait, opts->ridges, &opts->n_ridges);
				for (i = 0; i < opts->n_ridges; i++)
					CheckRidge(opts->ridges[i]);
				opts->ridge = opts->ridges[0];
			}
			else if (strcmp(key, "depth") == 0)
			{
				double		d[NTK_MAX_CANDIDATES];
				int			i;

				CandidateList(key, &ait, d, &opts->n_depths);
				for (i = 0; i < opts->n_depths; i++)
				{
					if (d[i] != floor(d[i]))
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("option \"depth\" must contain integers")));
					CheckDepth((int) d[i]);
					opts->depths[i] = (int) d[i];
				}
				opts->params.depth = opts->depths[0];
			}
			else if (IsOption(key))
				WrongType(key, "a scalar", jbvArray);
			else
				goto unknown;
			continue;
		}

		if (strcmp(key, "depth") == 0)
		{
			opts->params.depth = IntValue(key, &v);
			CheckDepth(opts->params.depth);
		}
		else if (strcmp(key, "activation") == 0)
			opts->params.activation = ntk_parse_activation(StringValue(key, &v));
		else if (strcmp(key, "sigma_w") == 0)
		{
			opts->params.sigma_w = NumberValue(key, &v);
			if (opts->params.sigma_w <= 0.0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"sigma_w\" must be positive")));
		}
		else if (strcmp(key, "sigma_b") == 0)
		{
			opts->params.sigma_b = NumberValue(key, &v);
			if (opts->params.sigma_b < 0.0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"sigma_b\" must not be negative")));
		}
		else if (strcmp(key, "kernel") == 0)
		{
			char	   *s = StringValue(key, &v);

			if (strcmp(s, "ntk") == 0)
				opts->kind = NTK_KERNEL_NTK;
			else if (strcmp(s, "nngp") == 0)
				opts->kind = NTK_KERNEL_NNGP;
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown kernel \"%s\"", s),
						 errhint("Valid kernels are \"ntk\" and \"nngp\".")));
		}
		else if (strcmp(key, "ridge") == 0)
		{
			if (v.type == jbvString)
			{
				char	   *s = StringValue(key, &v);

				if (strcmp(s, "auto") != 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"ridge\" must be a number, an array of numbers or \"auto\"")));
				opts->ridge_auto = true;
			}
			else
			{
				opts->ridge = NumberValue(key, &v);
				CheckRidge(opts->ridge);
			}
		}
		else if (strcmp(key, "ridge_absolute") == 0)
			opts->ridge_absolute = BoolValue(key, &v);
		else if (strcmp(key, "standardize") == 0)
			opts->standardize = BoolValue(key, &v);
		else if (strcmp(key, "t") == 0)
		{
			opts->t = NumberValue(key, &v);
			opts->has_t = true;
			if (opts->t < 0.0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"t\" must not be negative")));
		}
		else if (strcmp(key, "learning_rate") == 0)
		{
			opts->learning_rate = NumberValue(key, &v);
			if (opts->learning_rate <= 0.0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"learning_rate\" must be positive")));
		}
		else if (strcmp(key, "variance") == 0)
			opts->variance = BoolValue(key, &v);
		else
			goto unknown;
		continue;

unknown:
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown option \"%s\"", key),
				 errhint("Valid options are: " VALID_OPTIONS ".")));
	}
}

bool
ntk_options_searching(const NtkFitOptions *opts)
{
	return opts->ridge_auto || opts->n_ridges > 1 || opts->n_depths > 1;
}

void
ntk_options_to_json(const NtkFitOptions *opts, StringInfo out)
{
	appendStringInfo(out,
					 "{\"depth\": %d, \"activation\": \"%s\", \"sigma_w\": %s, "
					 "\"sigma_b\": %s, \"kernel\": \"%s\", \"ridge\": %s, "
					 "\"ridge_absolute\": %s, \"standardize\": %s, "
					 "\"learning_rate\": %s, \"variance\": %s",
					 opts->params.depth,
					 ntk_activation_name(opts->params.activation),
					 float8out_internal(opts->params.sigma_w),
					 float8out_internal(opts->params.sigma_b),
					 opts->kind == NTK_KERNEL_NNGP ? "nngp" : "ntk",
					 float8out_internal(opts->ridge),
					 opts->ridge_absolute ? "true" : "false",
					 opts->standardize ? "true" : "false",
					 float8out_internal(opts->learning_rate),
					 opts->variance ? "true" : "false");
	if (opts->has_t)
		appendStringInfo(out, ", \"t\": %s", float8out_internal(opts->t));
	appendStringInfoChar(out, '}');
}
