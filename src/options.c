/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Parsing and printing of ntk_fit options (a jsonb object).
 *
 * This file walks the jsonb document and reports; what is accepted is
 * decided by the pure functions of validate.c, in the order the document
 * is read, so an error names the first bad key or element.  Unrecognized
 * keys and values of the wrong type are errors that name the key.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/numeric.h"

#include "errors.h"
#include "options.h"

/* Reports a failed decision about key (NULL for the document). */
static void
OptionError(NtkOptStatus st, const char *key, const char *expected,
			NtkJsonKind got, const char *value)
{
	switch (st)
	{
		case NTK_OPT_OK:
			break;
		case NTK_OPT_NOT_OBJECT:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options must be a jsonb object"),
					 errhint("Valid options are: " NTK_VALID_OPTIONS ".")));
			break;
		case NTK_OPT_UNKNOWN_KEY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized option \"%s\"", key),
					 errhint("Valid options are: " NTK_VALID_OPTIONS ".")));
			break;
		case NTK_OPT_WRONG_TYPE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be %s, not %s", key, expected,
							ntk_json_kind_name(got))));
			break;
		case NTK_OPT_NOT_FINITE:
			/* jsonb numbers are finite: this one is beyond the float8 range */
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("option \"%s\" is out of range for type double precision", key)));
			break;
		case NTK_OPT_NOT_INTEGER:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be an integer", key)));
			break;
		case NTK_OPT_NOT_INTEGERS:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must contain integers", key)));
			break;
		case NTK_OPT_DEPTH_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be between 0 and %d", key, NTK_MAX_DEPTH)));
			break;
		case NTK_OPT_NEGATIVE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must not be negative", key)));
			break;
		case NTK_OPT_NOT_POSITIVE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be positive", key)));
			break;
		case NTK_OPT_BAD_ACTIVATION:
			/* the same error as the activation argument of the kernels */
			(void) ntk_activation_parse_or_error(value);
			break;
		case NTK_OPT_BAD_KERNEL:
			(void) ntk_kernel_kind_parse_or_error(value);
			break;
		case NTK_OPT_BAD_RIDGE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be a number, an array of numbers or \"auto\"", key)));
			break;
		case NTK_OPT_TOO_MANY:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("option \"%s\" has more than %d candidates",
							key, NTK_MAX_CANDIDATES)));
			break;
		case NTK_OPT_EMPTY_LIST:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must not be an empty array", key)));
			break;
		case NTK_OPT_BAD_METHOD:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized method \"%s\"", value),
					 errhint("Valid methods are \"exact\" and \"nystrom\".")));
			break;
		case NTK_OPT_SEED_RANGE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be an integer between 0 and %.0f",
							key, NTK_MAX_SEED)));
			break;
		case NTK_OPT_NEEDS_NYSTROM:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" requires \"method\": \"nystrom\"", key),
					 errhint("Add \"method\": \"nystrom\", or remove \"%s\".", key)));
			break;
		case NTK_OPT_NOT_NYSTROM:
			/* the statistics H and B are of one kernel: one depth */
			if (strcmp(key, "depth") == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("option \"depth\" cannot be a list with \"method\": \"nystrom\""),
						 errdetail("The Nystrom statistics depend on the depth; only \"ridge\" can be selected, as \"auto\" or a list."),
						 errhint("Fit one model per depth and compare them with ntk_evaluate on held-out rows, or select the depth with an exact fit on a sample of the rows.")));
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("option \"%s\" is not supported with \"method\": \"nystrom\"", key),
					 errhint("Use \"method\": \"exact\" for \"%s\".", key)));
			break;
	}
	if (st != NTK_OPT_OK)
		elog(ERROR, "unexpected option status %d for \"%s\"", (int) st, key ? key : "");
}

/*
 * The kind of a value as the decisions see it.  Nested arrays and objects
 * come back whole, as jbvBinary: they are the array or object they hold.
 */
static NtkJsonKind
JsonKind(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return NTK_JSON_NULL;
		case jbvString:
			return NTK_JSON_STRING;
		case jbvNumeric:
			return NTK_JSON_NUMBER;
		case jbvBool:
			return NTK_JSON_BOOL;
		case jbvArray:
			return NTK_JSON_ARRAY;
		case jbvObject:
			return NTK_JSON_OBJECT;
		case jbvBinary:
			return JsonContainerIsObject(v->val.binary.data) ?
				NTK_JSON_OBJECT : NTK_JSON_ARRAY;
		default:
			return NTK_JSON_OTHER;
	}
}

/*
 * A jsonb number as a double: beyond the float8 range +-Infinity (which the
 * decisions refuse, naming the option), below it 0.
 */
static double
NumberValue(const JsonbValue *v)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v->val.numeric)));
}

/* Reads the candidate list of key from an array container. */
static void
CandidateList(const char *key, NtkOptionKey k, JsonbContainer *array,
			  NtkFitOptions *opts)
{
	JsonbIterator *it = JsonbIteratorInit(array);
	JsonbValue	v;
	JsonbIteratorToken tok;
	NtkCandidates c;
	NtkOptStatus st;

	ntk_candidates_init(&c, k);
	(void) JsonbIteratorNext(&it, &v, true);	/* WJB_BEGIN_ARRAY */
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_END_ARRAY)
	{
		NtkJsonKind kind = JsonKind(&v);
		const char *expected;

		if (tok != WJB_ELEM)
			elog(ERROR, "unexpected jsonb token %d", (int) tok);
		/* room and type first: the value is converted only if wanted */
		st = ntk_candidates_kind(&c, kind, &expected);
		if (st != NTK_OPT_OK)
			OptionError(st, key, expected, kind, NULL);
		st = ntk_candidates_add(&c, NumberValue(&v));
		if (st != NTK_OPT_OK)
			OptionError(st, key, NULL, kind, NULL);
	}
	st = ntk_candidates_apply(opts, &c);
	if (st != NTK_OPT_OK)
		OptionError(st, key, NULL, NTK_JSON_ARRAY, NULL);
}

void
ntk_options_parse(Jsonb *jb, NtkFitOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	NtkOptStatus st;

	st = ntk_options_root(JB_ROOT_IS_OBJECT(jb) ? NTK_JSON_OBJECT : NTK_JSON_OTHER);
	if (st != NTK_OPT_OK)
		OptionError(st, NULL, NULL, NTK_JSON_OTHER, NULL);

	it = JsonbIteratorInit(&jb->root);
	(void) JsonbIteratorNext(&it, &v, false);	/* WJB_BEGIN_OBJECT */
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_END_OBJECT)
	{
		char	   *key;
		char	   *value = NULL;
		NtkOptionKey k;
		NtkJsonKind kind;
		const char *expected;

		if (tok != WJB_KEY)
			elog(ERROR, "unexpected jsonb token %d", (int) tok);
		key = pnstrdup(v.val.string.val, v.val.string.len);
		k = ntk_option_lookup(key);
		if (k == NTK_OPT_UNKNOWN)
			OptionError(NTK_OPT_UNKNOWN_KEY, key, NULL, NTK_JSON_OTHER, NULL);

		(void) JsonbIteratorNext(&it, &v, true);
		kind = JsonKind(&v);
		st = ntk_option_kind(k, kind, &expected);
		if (st != NTK_OPT_OK)
			OptionError(st, key, expected, kind, NULL);

		switch (kind)
		{
			case NTK_JSON_ARRAY:
				CandidateList(key, k, v.val.binary.data, opts);
				break;
			case NTK_JSON_NUMBER:
				st = ntk_option_set_number(opts, k, NumberValue(&v));
				break;
			case NTK_JSON_STRING:
				value = pnstrdup(v.val.string.val, v.val.string.len);
				st = ntk_option_set_string(opts, k, value);
				break;
			case NTK_JSON_BOOL:
				st = ntk_option_set_bool(opts, k, v.val.boolean);
				break;
			default:
				elog(ERROR, "option \"%s\": unexpected value kind %d", key, (int) kind);
		}
		if (st != NTK_OPT_OK)
			OptionError(st, key, NULL, kind, value);
		pfree(key);
		if (value)
			pfree(value);
	}

	/* the checks across keys, once every key is known (ntk: nystrom) */
	{
		NtkOptionKey bad;

		st = ntk_options_check(opts, &bad);
		if (st != NTK_OPT_OK)
			OptionError(st, ntk_option_name(bad), NULL, NTK_JSON_OTHER, NULL);
	}
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
					 ntk_kernel_kind_name(opts->kind),
					 float8out_internal(opts->ridge),
					 opts->ridge_absolute ? "true" : "false",
					 opts->standardize ? "true" : "false",
					 float8out_internal(opts->learning_rate),
					 opts->variance ? "true" : "false");
	if (opts->has_t)
		appendStringInfo(out, ", \"t\": %s", float8out_internal(opts->t));
	/* ntk: the method, and what chose a Nystrom fit's centers */
	appendStringInfo(out, ", \"method\": \"%s\"", ntk_fit_method_name(opts->method));
	if (opts->method == NTK_METHOD_NYSTROM)
		appendStringInfo(out, ", \"centers\": %d, \"seed\": " UINT64_FORMAT,
						 opts->centers, (uint64) opts->seed);
	appendStringInfoChar(out, '}');
}
