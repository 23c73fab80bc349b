/*-------------------------------------------------------------------------
 *
 * test_validate.c
 *	  Server-less unit tests of the validation decisions (src/core/validate.c):
 *	  option keys, kinds, ranges and candidate lists, float8[] checks,
 *	  dimensions and size overflow.
 *
 * Every expectation is written out by hand from the contract (API.md,
 * README's options table) and the messages options.c and arrays.c give
 * for each status.  Built and run by `make unitcheck`; the program ends
 * with "N passed, M failed" and exits 1 on any failure.
 *
 *-------------------------------------------------------------------------
 */
#include "validate.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"

static void
check_opt(NtkOptStatus got, NtkOptStatus want, const char *what)
{
	if (got == want)
		n_passed++;
	else
	{
		n_failed++;
		printf("FAIL: %s: status %d, want %d\n", what, (int) got, (int) want);
	}
}

/* opts equal to a saved copy, byte for byte: a failed setter changed nothing */
static void
check_unchanged(const NtkFitOptions *opts, const NtkFitOptions *saved,
				const char *what)
{
	check(memcmp(opts, saved, sizeof(*opts)) == 0, what);
}

static void
test_defaults(void)
{
	NtkFitOptions o;

	ntk_options_default(&o);
	check(o.params.depth == 3, "default depth 3");
	check(o.params.activation == NTK_RELU, "default activation relu");
	check(o.params.sigma_w == 1.0 && o.params.sigma_b == 0.0, "default sigmas 1, 0");
	check(o.kind == NTK_KERNEL_NTK, "default kernel ntk");
	check(o.ridge == 1e-6 && !o.ridge_absolute, "default ridge 1e-6 relative");
	check(!o.standardize && !o.variance && !o.has_t, "default flags off");
	check(o.learning_rate == 1.0, "default learning_rate 1");
	check(!o.ridge_auto && o.n_ridges == 0 && o.n_depths == 0, "no candidates");
	check(!ntk_options_searching(&o), "defaults do not search");

	o.n_ridges = 1;
	check(ntk_options_searching(&o), "a list of one ridge searches (its loo score)");
	o.n_ridges = 0;
	o.n_depths = 1;
	check(ntk_options_searching(&o), "a list of one depth searches");
	o.n_depths = 0;
	o.n_ridges = 2;
	check(ntk_options_searching(&o), "two ridges search");
	o.n_ridges = 0;
	o.n_depths = 2;
	check(ntk_options_searching(&o), "two depths search");
	o.n_depths = 0;
	o.ridge_auto = true;
	check(ntk_options_searching(&o), "ridge auto searches");
}

static void
test_keys(void)
{
	static const char *const names[] = {
		"depth", "activation", "sigma_w", "sigma_b", "kernel", "ridge",
		"ridge_absolute", "standardize", "t", "learning_rate", "variance",
		"method", "centers", "seed"
	};
	static const char *const unknown[] = {
		"depht", "Depth", "DEPTH", "", " depth", "depth ", "ridge_abs",
		"sigma", "lr", "T", "variance\t", "ridge\\u0000", "tt"
	};
	char		joined[256] = "";
	int			i;

	check((int) (sizeof names / sizeof names[0]) == NTK_OPT_NKEYS, "fourteen keys");
	for (i = 0; i < NTK_OPT_NKEYS; i++)
	{
		check(ntk_option_lookup(names[i]) == (NtkOptionKey) i, names[i]);
		check(strcmp(ntk_option_name((NtkOptionKey) i), names[i]) == 0,
			  "ntk_option_name round trip");
		if (i > 0)
			strcat(joined, ", ");
		strcat(joined, names[i]);
	}
	/* the hint lists exactly the keys that are looked up */
	check(strcmp(joined, NTK_VALID_OPTIONS) == 0, "NTK_VALID_OPTIONS lists every key");
	for (i = 0; i < (int) (sizeof unknown / sizeof unknown[0]); i++)
		check(ntk_option_lookup(unknown[i]) == NTK_OPT_UNKNOWN, "near-miss keys are unknown");
	check(strcmp(ntk_option_name(NTK_OPT_UNKNOWN), "?") == 0, "name of an unknown key");
	check(strcmp(ntk_option_name(NTK_OPT_NKEYS), "?") == 0, "name past the last key");

	check(strcmp(ntk_json_kind_name(NTK_JSON_NULL), "null") == 0, "kind null");
	check(strcmp(ntk_json_kind_name(NTK_JSON_STRING), "a string") == 0, "kind string");
	check(strcmp(ntk_json_kind_name(NTK_JSON_NUMBER), "a number") == 0, "kind number");
	check(strcmp(ntk_json_kind_name(NTK_JSON_BOOL), "a boolean") == 0, "kind boolean");
	check(strcmp(ntk_json_kind_name(NTK_JSON_ARRAY), "an array") == 0, "kind array");
	check(strcmp(ntk_json_kind_name(NTK_JSON_OBJECT), "an object") == 0, "kind object");
	check(strcmp(ntk_json_kind_name(NTK_JSON_OTHER), "an unsupported value") == 0, "kind other");

	check_opt(ntk_options_root(NTK_JSON_OBJECT), NTK_OPT_OK, "an object holds options");
	check_opt(ntk_options_root(NTK_JSON_ARRAY), NTK_OPT_NOT_OBJECT, "an array root");
	check_opt(ntk_options_root(NTK_JSON_NUMBER), NTK_OPT_NOT_OBJECT, "a scalar root");
	check_opt(ntk_options_root(NTK_JSON_NULL), NTK_OPT_NOT_OBJECT, "a null root");
}

/* The kind table, from README's options table. */
static void
test_kinds(void)
{
	static const struct
	{
		NtkOptionKey key;
		NtkJsonKind kind;
		NtkOptStatus want;
		const char *noun;
	}			cases[] = {
		{NTK_OPT_DEPTH, NTK_JSON_NUMBER, NTK_OPT_OK, ""},
		{NTK_OPT_DEPTH, NTK_JSON_ARRAY, NTK_OPT_OK, ""},
		{NTK_OPT_DEPTH, NTK_JSON_STRING, NTK_OPT_WRONG_TYPE, "a number"},
		{NTK_OPT_DEPTH, NTK_JSON_NULL, NTK_OPT_WRONG_TYPE, "a number"},
		{NTK_OPT_DEPTH, NTK_JSON_BOOL, NTK_OPT_WRONG_TYPE, "a number"},
		{NTK_OPT_DEPTH, NTK_JSON_OBJECT, NTK_OPT_WRONG_TYPE, "a scalar"},
		{NTK_OPT_RIDGE, NTK_JSON_NUMBER, NTK_OPT_OK, ""},
		{NTK_OPT_RIDGE, NTK_JSON_STRING, NTK_OPT_OK, ""},
		{NTK_OPT_RIDGE, NTK_JSON_ARRAY, NTK_OPT_OK, ""},
		{NTK_OPT_RIDGE, NTK_JSON_BOOL, NTK_OPT_WRONG_TYPE, "a number"},
		{NTK_OPT_RIDGE, NTK_JSON_NULL, NTK_OPT_WRONG_TYPE, "a number"},
		{NTK_OPT_RIDGE, NTK_JSON_OBJECT, NTK_OPT_WRONG_TYPE, "a scalar"},
		{NTK_OPT_ACTIVATION, NTK_JSON_STRING, NTK_OPT_OK, ""},
		{NTK_OPT_ACTIVATION, NTK_JSON_NUMBER, NTK_OPT_WRONG_TYPE, "a string"},
		{NTK_OPT_ACTIVATION, NTK_JSON_ARRAY, NTK_OPT_WRONG_TYPE, "a scalar"},
		{NTK_OPT_KERNEL, NTK_JSON_STRING, NTK_OPT_OK, ""},
		{NTK_OPT_KERNEL, NTK_JSON_NULL, NTK_OPT_WRONG_TYPE, "a string"},
		{NTK_OPT_KERNEL, NTK_JSON_OBJECT, NTK_OPT_WRONG_TYPE, "a scalar"},
		{NTK_OPT_SIGMA_W, NTK_JSON_NUMBER, NTK_OPT_OK, ""},
		{NTK_OPT_SIGMA_W, NTK_JSON_STRING, NTK_OPT_WRONG_TYPE, "a number"},
		{NTK_OPT_SIGMA_W, NTK_JSON_ARRAY, NTK_OPT_WRONG_TYPE, "a scalar"},
		{NTK_OPT_SIGMA_B, NTK_JSON_NUMBER, NTK_OPT_OK, ""},
		{NTK_OPT_SIGMA_B, NTK_JSON_BOOL, NTK_OPT_WRONG_TYPE, "a number"},
		{NTK_OPT_T, NTK_JSON_NUMBER, NTK_OPT_OK, ""},
		{NTK_OPT_T, NTK_JSON_ARRAY, NTK_OPT_WRONG_TYPE, "a scalar"},
		{NTK_OPT_LEARNING_RATE, NTK_JSON_NUMBER, NTK_OPT_OK, ""},
		{NTK_OPT_LEARNING_RATE, NTK_JSON_STRING, NTK_OPT_WRONG_TYPE, "a number"},
		{NTK_OPT_RIDGE_ABSOLUTE, NTK_JSON_BOOL, NTK_OPT_OK, ""},
		{NTK_OPT_RIDGE_ABSOLUTE, NTK_JSON_NUMBER, NTK_OPT_WRONG_TYPE, "a boolean"},
		{NTK_OPT_STANDARDIZE, NTK_JSON_BOOL, NTK_OPT_OK, ""},
		{NTK_OPT_STANDARDIZE, NTK_JSON_STRING, NTK_OPT_WRONG_TYPE, "a boolean"},
		{NTK_OPT_VARIANCE, NTK_JSON_BOOL, NTK_OPT_OK, ""},
		{NTK_OPT_VARIANCE, NTK_JSON_ARRAY, NTK_OPT_WRONG_TYPE, "a scalar"},
		{NTK_OPT_VARIANCE, NTK_JSON_OTHER, NTK_OPT_WRONG_TYPE, "a boolean"},
		{NTK_OPT_UNKNOWN, NTK_JSON_NUMBER, NTK_OPT_UNKNOWN_KEY, ""},
		{NTK_OPT_NKEYS, NTK_JSON_NUMBER, NTK_OPT_UNKNOWN_KEY, ""},
	};
	int			i;

	for (i = 0; i < (int) (sizeof cases / sizeof cases[0]); i++)
	{
		const char *noun = NULL;
		char		what[120];

		snprintf(what, sizeof what, "kind %d for \"%s\"", (int) cases[i].kind,
				 ntk_option_name(cases[i].key));
		check_opt(ntk_option_kind(cases[i].key, cases[i].kind, &noun), cases[i].want, what);
		check(noun != NULL && strcmp(noun, cases[i].noun) == 0, what);
	}
}

/* set_number: (key, value) -> status and the stored value. */
static void
test_numbers(void)
{
	static const struct
	{
		NtkOptionKey key;
		double		value;
		NtkOptStatus want;
	}			cases[] = {
		{NTK_OPT_DEPTH, 0, NTK_OPT_OK},
		{NTK_OPT_DEPTH, 1000, NTK_OPT_OK},
		{NTK_OPT_DEPTH, -0.0, NTK_OPT_OK},
		{NTK_OPT_DEPTH, 1001, NTK_OPT_DEPTH_RANGE},
		{NTK_OPT_DEPTH, -1, NTK_OPT_DEPTH_RANGE},
		{NTK_OPT_DEPTH, 2147483647.0, NTK_OPT_DEPTH_RANGE},
		{NTK_OPT_DEPTH, -2147483648.0, NTK_OPT_DEPTH_RANGE},
		/* beyond int, as 1e10 in pgTAP: "must be an integer" */
		{NTK_OPT_DEPTH, 2147483648.0, NTK_OPT_NOT_INTEGER},
		{NTK_OPT_DEPTH, -2147483649.0, NTK_OPT_NOT_INTEGER},
		{NTK_OPT_DEPTH, 1e10, NTK_OPT_NOT_INTEGER},
		{NTK_OPT_DEPTH, 1e300, NTK_OPT_NOT_INTEGER},
		{NTK_OPT_DEPTH, 2.5, NTK_OPT_NOT_INTEGER},
		{NTK_OPT_DEPTH, 1000.0000000001, NTK_OPT_NOT_INTEGER},
		{NTK_OPT_DEPTH, NAN, NTK_OPT_NOT_FINITE},
		{NTK_OPT_DEPTH, INFINITY, NTK_OPT_NOT_FINITE},
		{NTK_OPT_SIGMA_W, 1.5, NTK_OPT_OK},
		{NTK_OPT_SIGMA_W, 4.9406564584124654e-324, NTK_OPT_OK},
		{NTK_OPT_SIGMA_W, DBL_MAX, NTK_OPT_OK},
		{NTK_OPT_SIGMA_W, 0, NTK_OPT_NOT_POSITIVE},
		{NTK_OPT_SIGMA_W, -0.0, NTK_OPT_NOT_POSITIVE},
		{NTK_OPT_SIGMA_W, -1, NTK_OPT_NOT_POSITIVE},
		{NTK_OPT_SIGMA_W, -INFINITY, NTK_OPT_NOT_FINITE},
		{NTK_OPT_SIGMA_B, 0, NTK_OPT_OK},
		{NTK_OPT_SIGMA_B, -0.0, NTK_OPT_OK},
		{NTK_OPT_SIGMA_B, 0.25, NTK_OPT_OK},
		{NTK_OPT_SIGMA_B, -4.9406564584124654e-324, NTK_OPT_NEGATIVE},
		{NTK_OPT_SIGMA_B, NAN, NTK_OPT_NOT_FINITE},
		{NTK_OPT_RIDGE, 0, NTK_OPT_OK},
		{NTK_OPT_RIDGE, 1e300, NTK_OPT_OK},
		{NTK_OPT_RIDGE, -1e-300, NTK_OPT_NEGATIVE},
		{NTK_OPT_RIDGE, INFINITY, NTK_OPT_NOT_FINITE},
		{NTK_OPT_T, 0, NTK_OPT_OK},
		{NTK_OPT_T, 1e308, NTK_OPT_OK},
		{NTK_OPT_T, -1, NTK_OPT_NEGATIVE},
		{NTK_OPT_LEARNING_RATE, 1e-300, NTK_OPT_OK},
		{NTK_OPT_LEARNING_RATE, 0, NTK_OPT_NOT_POSITIVE},
		{NTK_OPT_LEARNING_RATE, -2, NTK_OPT_NOT_POSITIVE},
		/* keys that take no number */
		{NTK_OPT_ACTIVATION, 1, NTK_OPT_WRONG_TYPE},
		{NTK_OPT_KERNEL, 1, NTK_OPT_WRONG_TYPE},
		{NTK_OPT_VARIANCE, 1, NTK_OPT_WRONG_TYPE},
		{NTK_OPT_UNKNOWN, 1, NTK_OPT_UNKNOWN_KEY},
	};
	int			i;

	for (i = 0; i < (int) (sizeof cases / sizeof cases[0]); i++)
	{
		NtkFitOptions o;
		NtkFitOptions saved;
		NtkOptStatus st;
		char		what[120];
		double		v = cases[i].value;

		snprintf(what, sizeof what, "\"%s\": %.17g", ntk_option_name(cases[i].key), v);
		ntk_options_default(&o);
		saved = o;
		st = ntk_option_set_number(&o, cases[i].key, v);
		check_opt(st, cases[i].want, what);
		if (st != NTK_OPT_OK)
		{
			check_unchanged(&o, &saved, what);
			continue;
		}
		switch (cases[i].key)
		{
			case NTK_OPT_DEPTH:
				check(o.params.depth == (int) v, what);
				break;
			case NTK_OPT_SIGMA_W:
				check(o.params.sigma_w == v, what);
				break;
			case NTK_OPT_SIGMA_B:
				check(o.params.sigma_b == v, what);
				break;
			case NTK_OPT_RIDGE:
				check(o.ridge == v && o.n_ridges == 0 && !o.ridge_auto, what);
				break;
			case NTK_OPT_T:
				check(o.t == v && o.has_t, what);
				break;
			case NTK_OPT_LEARNING_RATE:
				check(o.learning_rate == v, what);
				break;
			default:
				check(0, "unexpected key accepted a number");
		}
	}
}

static void
test_strings_and_bools(void)
{
	NtkFitOptions o;
	NtkFitOptions saved;
	NtkKernelKind kind;

	ntk_options_default(&o);
	check_opt(ntk_option_set_string(&o, NTK_OPT_ACTIVATION, "erf"), NTK_OPT_OK, "activation erf");
	check(o.params.activation == NTK_ERF, "activation erf stored");
	check_opt(ntk_option_set_string(&o, NTK_OPT_ACTIVATION, "relu"), NTK_OPT_OK, "activation relu");
	check(o.params.activation == NTK_RELU, "activation relu stored");
	check_opt(ntk_option_set_string(&o, NTK_OPT_KERNEL, "nngp"), NTK_OPT_OK, "kernel nngp");
	check(o.kind == NTK_KERNEL_NNGP, "kernel nngp stored");
	check_opt(ntk_option_set_string(&o, NTK_OPT_KERNEL, "ntk"), NTK_OPT_OK, "kernel ntk");
	check(o.kind == NTK_KERNEL_NTK, "kernel ntk stored");
	check_opt(ntk_option_set_string(&o, NTK_OPT_RIDGE, "auto"), NTK_OPT_OK, "ridge auto");
	check(o.ridge_auto && ntk_options_searching(&o), "ridge auto stored and searching");

	ntk_options_default(&o);
	saved = o;
	check_opt(ntk_option_set_string(&o, NTK_OPT_ACTIVATION, "tanh"), NTK_OPT_BAD_ACTIVATION, "activation tanh");
	check_opt(ntk_option_set_string(&o, NTK_OPT_ACTIVATION, "RELU"), NTK_OPT_BAD_ACTIVATION, "activation is case sensitive");
	check_opt(ntk_option_set_string(&o, NTK_OPT_ACTIVATION, "relu "), NTK_OPT_BAD_ACTIVATION, "activation with a blank");
	check_opt(ntk_option_set_string(&o, NTK_OPT_ACTIVATION, ""), NTK_OPT_BAD_ACTIVATION, "activation empty");
	check_opt(ntk_option_set_string(&o, NTK_OPT_KERNEL, "NTK"), NTK_OPT_BAD_KERNEL, "kernel NTK");
	check_opt(ntk_option_set_string(&o, NTK_OPT_KERNEL, "rbf"), NTK_OPT_BAD_KERNEL, "kernel rbf");
	check_opt(ntk_option_set_string(&o, NTK_OPT_RIDGE, "Auto"), NTK_OPT_BAD_RIDGE, "ridge Auto");
	check_opt(ntk_option_set_string(&o, NTK_OPT_RIDGE, "1e-3"), NTK_OPT_BAD_RIDGE, "ridge as a string number");
	check_opt(ntk_option_set_string(&o, NTK_OPT_DEPTH, "3"), NTK_OPT_WRONG_TYPE, "depth as a string");
	check_opt(ntk_option_set_string(&o, NTK_OPT_VARIANCE, "true"), NTK_OPT_WRONG_TYPE, "variance as a string");
	check_opt(ntk_option_set_string(&o, NTK_OPT_UNKNOWN, "x"), NTK_OPT_UNKNOWN_KEY, "string for an unknown key");
	check_opt(ntk_option_set_bool(&o, NTK_OPT_DEPTH, true), NTK_OPT_WRONG_TYPE, "depth as a boolean");
	check_opt(ntk_option_set_bool(&o, NTK_OPT_RIDGE, true), NTK_OPT_WRONG_TYPE, "ridge as a boolean");
	check_opt(ntk_option_set_bool(&o, NTK_OPT_NKEYS, true), NTK_OPT_UNKNOWN_KEY, "boolean for an unknown key");
	check_unchanged(&o, &saved, "failed string and boolean setters change nothing");

	check_opt(ntk_option_set_bool(&o, NTK_OPT_RIDGE_ABSOLUTE, true), NTK_OPT_OK, "ridge_absolute");
	check_opt(ntk_option_set_bool(&o, NTK_OPT_STANDARDIZE, true), NTK_OPT_OK, "standardize");
	check_opt(ntk_option_set_bool(&o, NTK_OPT_VARIANCE, true), NTK_OPT_OK, "variance");
	check(o.ridge_absolute && o.standardize && o.variance, "booleans stored");
	check_opt(ntk_option_set_bool(&o, NTK_OPT_VARIANCE, false), NTK_OPT_OK, "variance false");
	check(!o.variance, "false stored");

	check(ntk_kernel_kind_parse("ntk", &kind) == 0 && kind == NTK_KERNEL_NTK, "parse ntk");
	check(ntk_kernel_kind_parse("nngp", &kind) == 0 && kind == NTK_KERNEL_NNGP, "parse nngp");
	check(ntk_kernel_kind_parse("ntk ", &kind) == -1, "parse 'ntk ' fails");
	check(strcmp(ntk_kernel_kind_name(NTK_KERNEL_NTK), "ntk") == 0, "name ntk");
	check(strcmp(ntk_kernel_kind_name(NTK_KERNEL_NNGP), "nngp") == 0, "name nngp");
}

/* Reads a list of n numbers for key into opts; the status of the first failure. */
static NtkOptStatus
read_list(NtkFitOptions *opts, NtkOptionKey key, const double *v, int n)
{
	NtkCandidates c;
	NtkOptStatus st;
	const char *noun;
	int			i;

	ntk_candidates_init(&c, key);
	for (i = 0; i < n; i++)
	{
		if ((st = ntk_candidates_kind(&c, NTK_JSON_NUMBER, &noun)) != NTK_OPT_OK)
			return st;
		if ((st = ntk_candidates_add(&c, v[i])) != NTK_OPT_OK)
			return st;
	}
	return ntk_candidates_apply(opts, &c);
}

static void
test_candidates(void)
{
	static const double ridges[] = {1e-4, 1e-2, 0};
	static const double depths[] = {2, 1, 5, -0.0};
	double		many[NTK_MAX_CANDIDATES + 1];
	NtkFitOptions o;
	NtkFitOptions saved;
	NtkCandidates c;
	const char *noun = NULL;
	int			i;

	ntk_options_default(&o);
	check_opt(read_list(&o, NTK_OPT_RIDGE, ridges, 3), NTK_OPT_OK, "ridge [1e-4, 1e-2, 0]");
	check(o.n_ridges == 3 && o.ridges[0] == 1e-4 && o.ridges[2] == 0, "ridge list stored");
	check(o.ridge == 1e-4, "ridge is the first candidate");
	check(ntk_options_searching(&o), "a ridge list searches");
	check_opt(read_list(&o, NTK_OPT_DEPTH, depths, 4), NTK_OPT_OK, "depth [2, 1, 5, -0]");
	check(o.n_depths == 4 && o.depths[0] == 2 && o.depths[2] == 5 && o.depths[3] == 0,
		  "depth list stored");
	check(o.params.depth == 2, "depth is the first candidate");

	ntk_options_default(&o);
	saved = o;
	check_opt(read_list(&o, NTK_OPT_RIDGE, ridges, 0), NTK_OPT_EMPTY_LIST, "ridge []");
	check_opt(read_list(&o, NTK_OPT_DEPTH, depths, 0), NTK_OPT_EMPTY_LIST, "depth []");

	/* a list for a key that takes none is refused whole */
	check_opt(read_list(&o, NTK_OPT_SIGMA_W, ridges, 1), NTK_OPT_WRONG_TYPE, "sigma_w list");

	{
		static const double neg[] = {1e-3, -1e-9};
		static const double frac[] = {1, 2.5};
		static const double far[] = {3, 1001};
		static const double frac_then_far[] = {2.5, 1001};
		static const double far_then_frac[] = {1001, 2.5};
		static const double negative[] = {-1};

		check_opt(read_list(&o, NTK_OPT_RIDGE, neg, 2), NTK_OPT_NEGATIVE, "ridge [1e-3, -1e-9]");
		check_opt(read_list(&o, NTK_OPT_DEPTH, frac, 2), NTK_OPT_NOT_INTEGERS, "depth [1, 2.5]");
		check_opt(read_list(&o, NTK_OPT_DEPTH, far, 2), NTK_OPT_DEPTH_RANGE, "depth [3, 1001]");
		check_opt(read_list(&o, NTK_OPT_DEPTH, negative, 1), NTK_OPT_DEPTH_RANGE, "depth [-1]");
		/* the first bad candidate decides the message */
		check_opt(read_list(&o, NTK_OPT_DEPTH, frac_then_far, 2), NTK_OPT_NOT_INTEGERS, "depth [2.5, 1001]");
		check_opt(read_list(&o, NTK_OPT_DEPTH, far_then_frac, 2), NTK_OPT_DEPTH_RANGE, "depth [1001, 2.5]");
	}
	/*
	 * fuzz (test/fuzz/fuzz_validate.c, UBSan): a depth candidate beyond int was
	 * cast to int before its range check, undefined behaviour (options.c
	 * did the same before validate.c); x86-64 happened to give INT_MIN.
	 */
	{
		static const double beyond[] = {4294967296.0, 1e300, -1e300, 2147483648.0,
		-2147483649.0, 9.2233720368547758e18};

		for (i = 0; i < (int) (sizeof beyond / sizeof beyond[0]); i++)
			check_opt(read_list(&o, NTK_OPT_DEPTH, beyond + i, 1), NTK_OPT_DEPTH_RANGE,
					  "depth candidate beyond int");
	}
	check_unchanged(&o, &saved, "failed lists change nothing");

	/* exactly NTK_MAX_CANDIDATES is fine, one more is a program limit */
	for (i = 0; i <= NTK_MAX_CANDIDATES; i++)
		many[i] = 1 + i % 7;
	check_opt(read_list(&o, NTK_OPT_DEPTH, many, NTK_MAX_CANDIDATES), NTK_OPT_OK, "64 depths");
	check(o.n_depths == NTK_MAX_CANDIDATES && o.depths[63] == 1 + 63 % 7, "64 depths stored");
	check_opt(read_list(&o, NTK_OPT_DEPTH, many, NTK_MAX_CANDIDATES + 1), NTK_OPT_TOO_MANY, "65 depths");

	/* room is reported before the type of the element past the end */
	ntk_candidates_init(&c, NTK_OPT_RIDGE);
	for (i = 0; i < NTK_MAX_CANDIDATES; i++)
		check_opt(ntk_candidates_add(&c, 1.0), NTK_OPT_OK, "add a ridge");
	check_opt(ntk_candidates_kind(&c, NTK_JSON_STRING, &noun), NTK_OPT_TOO_MANY, "65th element, a string");
	check_opt(ntk_candidates_add(&c, 1.0), NTK_OPT_TOO_MANY, "add past the end");
	check(c.n == NTK_MAX_CANDIDATES, "nothing added past the end");

	ntk_candidates_init(&c, NTK_OPT_DEPTH);
	check_opt(ntk_candidates_kind(&c, NTK_JSON_STRING, &noun), NTK_OPT_WRONG_TYPE, "element a string");
	check(strcmp(noun, "a number") == 0, "elements must be numbers");
	check_opt(ntk_candidates_kind(&c, NTK_JSON_ARRAY, &noun), NTK_OPT_WRONG_TYPE, "element an array");
	check_opt(ntk_candidates_kind(&c, NTK_JSON_OTHER, &noun), NTK_OPT_WRONG_TYPE, "element other");
	check_opt(ntk_candidates_kind(&c, NTK_JSON_NUMBER, &noun), NTK_OPT_OK, "element a number");
	check_opt(ntk_candidates_add(&c, NAN), NTK_OPT_NOT_FINITE, "element NaN");
	check_opt(ntk_candidates_add(&c, -INFINITY), NTK_OPT_NOT_FINITE, "element -Infinity");
	check(c.n == 0, "non-finite elements are not added");
}

static void
test_vectors(void)
{
	static const double good[] = {1.0, -0.0, DBL_MAX, -4.9406564584124654e-324, 1e-310};
	double		v[3];
	int			dims[3] = {3, 2, 2};
	int			zero = 0;
	int			five = 5;
	int			len;
	int			bad;

	check(ntk_vector_check(1, &five, false, good, &len, &bad) == NTK_VEC_OK, "finite extremes");
	check(len == 5 && bad == -1, "length 5, nothing bad");

	check(ntk_vector_check(0, dims, false, good, &len, &bad) == NTK_VEC_EMPTY, "no dimension");
	check(len == 0, "empty has length 0");
	check(ntk_vector_check(1, &zero, false, good, &len, &bad) == NTK_VEC_EMPTY, "zero length");
	check(ntk_vector_check(2, dims, false, good, &len, &bad) == NTK_VEC_MULTIDIM, "2-D");
	check(ntk_vector_check(3, dims, true, NULL, &len, &bad) == NTK_VEC_MULTIDIM,
		  "3-D with NULLs: the shape is reported first");
	check(ntk_vector_check(0, dims, true, NULL, &len, &bad) == NTK_VEC_EMPTY,
		  "empty is reported before NULLs");
	/* with NULLs the data is not read: NULL would crash */
	check(ntk_vector_check(1, dims, true, NULL, &len, &bad) == NTK_VEC_NULLS, "NULLs");

	v[0] = 1;
	v[1] = NAN;
	v[2] = INFINITY;
	check(ntk_vector_check(1, dims, false, v, &len, &bad) == NTK_VEC_NAN && bad == 1,
		  "first non-finite is the NaN at 1");
	v[1] = 2;
	check(ntk_vector_check(1, dims, false, v, &len, &bad) == NTK_VEC_POS_INF && bad == 2,
		  "+Infinity at 2");
	v[0] = -INFINITY;
	check(ntk_vector_check(1, dims, false, v, &len, &bad) == NTK_VEC_NEG_INF && bad == 0,
		  "-Infinity at 0");
	check(len == 3, "length given with a non-finite element");

	{
		float		f[3] = {FLT_MAX, -FLT_MIN, 0.0f};

		check(ntk_vector_check_float4(1, dims, false, f, &len, &bad) == NTK_VEC_OK && len == 3,
			  "float4: finite extremes");
		check(ntk_vector_check_float4(2, dims, false, f, &len, &bad) == NTK_VEC_MULTIDIM,
			  "float4: 2-D");
		check(ntk_vector_check_float4(1, dims, true, NULL, &len, &bad) == NTK_VEC_NULLS,
			  "float4: NULLs, data not read");
		check(ntk_vector_check_float4(1, &zero, false, f, &len, &bad) == NTK_VEC_EMPTY,
			  "float4: zero length");
		f[1] = NAN;
		f[2] = INFINITY;
		check(ntk_vector_check_float4(1, dims, false, f, &len, &bad) == NTK_VEC_NAN && bad == 1,
			  "float4: first non-finite is the NaN at 1");
		f[1] = 1.0f;
		check(ntk_vector_check_float4(1, dims, false, f, &len, &bad) == NTK_VEC_POS_INF && bad == 2,
			  "float4: +Infinity at 2");
		f[0] = -INFINITY;
		check(ntk_vector_check_float4(1, dims, false, f, &len, &bad) == NTK_VEC_NEG_INF && bad == 0,
			  "float4: -Infinity at 0");
	}

	check(strcmp(ntk_vector_nonfinite_name(NTK_VEC_NAN), "NaN") == 0, "name NaN");
	check(strcmp(ntk_vector_nonfinite_name(NTK_VEC_POS_INF), "Infinity") == 0, "name Infinity");
	check(strcmp(ntk_vector_nonfinite_name(NTK_VEC_NEG_INF), "-Infinity") == 0, "name -Infinity");

	check(ntk_dims_agree(3, 3), "3 agrees with 3");
	check(!ntk_dims_agree(3, 2), "2 does not agree with 3");
}

static void
test_sizes(void)
{
	NtkFitSizes sz;
	size_t		out = 12345;

	check(ntk_size_mul(0, SIZE_MAX, &out) && out == 0, "0 * SIZE_MAX");
	check(ntk_size_mul(SIZE_MAX, 1, &out) && out == SIZE_MAX, "SIZE_MAX * 1");
	check(ntk_size_mul(3, SIZE_MAX / 3, &out) && out == SIZE_MAX / 3 * 3, "3 * (SIZE_MAX / 3)");
	out = 12345;
	check(!ntk_size_mul(SIZE_MAX, 2, &out) && out == 12345, "SIZE_MAX * 2 overflows, out untouched");
	check(!ntk_size_mul(3, SIZE_MAX / 3 + 1, &out), "3 * (SIZE_MAX / 3 + 1) overflows");

	check_status(ntk_fit_sizes(10, 3, 2, &sz), NTK_OK, "fit sizes 10 x 3 x 2");
	check(sz.x_bytes == 240 && sz.y_bytes == 160 && sz.gram_bytes == 800, "10 x 3 x 2 bytes");
	check_status(ntk_fit_sizes(0, 3, 2, &sz), NTK_BAD_DIMENSION, "n = 0");
	check_status(ntk_fit_sizes(10, 0, 2, &sz), NTK_BAD_DIMENSION, "d = 0");
	check_status(ntk_fit_sizes(10, 3, -1, &sz), NTK_BAD_DIMENSION, "k < 0");
	check_status(ntk_fit_sizes(INT64_MIN, 1, 1, &sz), NTK_BAD_DIMENSION, "n = INT64_MIN");

	if (sizeof(size_t) == 8)
	{
		/*
		 * 8 n^2 fits in 64 bits up to n = 1518500249 (8 n^2 =
		 * 18446744049704496008 < 2^64); n = 1518500250 gives
		 * 18446744074000500000 > 2^64 - 1.
		 */
		check_status(ntk_fit_sizes(1518500249, 1, 1, &sz), NTK_OK, "largest n whose Gram fits");
		check(sz.gram_bytes == (size_t) 18446744049704496008ULL, "its Gram bytes");
		check_status(ntk_fit_sizes(1518500250, 1, 1, &sz), NTK_OVERFLOW, "one more row overflows");
		check_status(ntk_fit_sizes(1000, INT64_MAX / 8, 1, &sz), NTK_OVERFLOW, "n d overflows");
		check_status(ntk_fit_sizes(1000, 1, (int64_t) 1 << 61, &sz), NTK_OVERFLOW, "n k overflows");
		check_status(ntk_fit_sizes(1, (int64_t) 1 << 61, 1, &sz), NTK_OVERFLOW, "d * 8 overflows");
		check_status(ntk_fit_sizes(1, ((int64_t) 1 << 61) - 1, 1, &sz), NTK_OK, "d * 8 just fits");
		check(sz.x_bytes == (((size_t) 1 << 61) - 1) * 8, "its input bytes");
	}
}

/* method, centers, seed and the checks across keys */
static void
test_nystrom_options(void)
{
	NtkFitOptions o;
	NtkFitOptions saved;
	NtkOptionKey key;
	const char *expected;

	ntk_options_default(&o);
	check(o.method == NTK_METHOD_EXACT && o.centers == NTK_DEFAULT_CENTERS && o.seed == 0 &&
		  !o.centers_given && !o.seed_given, "default method exact, 10000 centers, seed 0");
	check_opt(ntk_options_check(&o, &key), NTK_OPT_OK, "defaults pass the checks");

	check_opt(ntk_option_kind(NTK_OPT_METHOD, NTK_JSON_STRING, &expected), NTK_OPT_OK, "method a string");
	check_opt(ntk_option_kind(NTK_OPT_METHOD, NTK_JSON_NUMBER, &expected), NTK_OPT_WRONG_TYPE, "method a number");
	check(strcmp(expected, "a string") == 0, "method's noun");
	check_opt(ntk_option_kind(NTK_OPT_CENTERS, NTK_JSON_ARRAY, &expected), NTK_OPT_WRONG_TYPE, "centers a list");
	check_opt(ntk_option_kind(NTK_OPT_SEED, NTK_JSON_STRING, &expected), NTK_OPT_WRONG_TYPE, "seed a string");

	saved = o;
	check_opt(ntk_option_set_string(&o, NTK_OPT_METHOD, "Nystrom"), NTK_OPT_BAD_METHOD, "method is case sensitive");
	check_opt(ntk_option_set_string(&o, NTK_OPT_METHOD, "falkon"), NTK_OPT_BAD_METHOD, "unknown method");
	check_opt(ntk_option_set_number(&o, NTK_OPT_CENTERS, 0.0), NTK_OPT_NOT_POSITIVE, "0 centers");
	check_opt(ntk_option_set_number(&o, NTK_OPT_CENTERS, -3.0), NTK_OPT_NOT_POSITIVE, "negative centers");
	check_opt(ntk_option_set_number(&o, NTK_OPT_CENTERS, 2.5), NTK_OPT_NOT_INTEGER, "fractional centers");
	check_opt(ntk_option_set_number(&o, NTK_OPT_CENTERS, 3e9), NTK_OPT_NOT_INTEGER, "centers beyond int");
	check_opt(ntk_option_set_number(&o, NTK_OPT_SEED, -1.0), NTK_OPT_SEED_RANGE, "negative seed");
	check_opt(ntk_option_set_number(&o, NTK_OPT_SEED, 0.5), NTK_OPT_SEED_RANGE, "fractional seed");
	check_opt(ntk_option_set_number(&o, NTK_OPT_SEED, 9007199254740992.0), NTK_OPT_SEED_RANGE, "seed 2^53");
	check_unchanged(&o, &saved, "refused values change nothing");

	check_opt(ntk_option_set_number(&o, NTK_OPT_SEED, 9007199254740991.0), NTK_OPT_OK, "seed 2^53 - 1");
	check(o.seed == 9007199254740991ULL && o.seed_given, "seed stored");
	check_opt(ntk_options_check(&o, &key), NTK_OPT_NEEDS_NYSTROM, "seed needs nystrom");
	check(key == NTK_OPT_SEED, "the seed named");
	check_opt(ntk_option_set_number(&o, NTK_OPT_CENTERS, 64.0), NTK_OPT_OK, "64 centers");
	check(o.centers == 64 && o.centers_given, "centers stored");
	check_opt(ntk_options_check(&o, &key), NTK_OPT_NEEDS_NYSTROM, "centers need nystrom");
	check(key == NTK_OPT_CENTERS, "the centers named first");
	check_opt(ntk_option_set_string(&o, NTK_OPT_METHOD, "nystrom"), NTK_OPT_OK, "method nystrom");
	check(o.method == NTK_METHOD_NYSTROM, "method stored");
	check_opt(ntk_options_check(&o, &key), NTK_OPT_OK, "nystrom with centers and seed");

	saved = o;
	o.has_t = true;
	check_opt(ntk_options_check(&o, &key), NTK_OPT_NOT_NYSTROM, "t with nystrom");
	check(key == NTK_OPT_T, "t named");
	o = saved;
	o.variance = true;
	check_opt(ntk_options_check(&o, &key), NTK_OPT_NOT_NYSTROM, "variance with nystrom");
	check(key == NTK_OPT_VARIANCE, "variance named");
	o = saved;
	o.ridge_auto = true;
	check_opt(ntk_options_check(&o, &key), NTK_OPT_OK, "ridge auto with nystrom (GCV)");
	o = saved;
	o.n_ridges = 3;
	check_opt(ntk_options_check(&o, &key), NTK_OPT_OK, "ridge list with nystrom (GCV)");
	o = saved;
	o.ridge_auto = true;
	o.n_depths = 2;
	check_opt(ntk_options_check(&o, &key), NTK_OPT_NOT_NYSTROM, "ridge auto and a depth list with nystrom");
	check(key == NTK_OPT_DEPTH, "depth named");
	o = saved;
	o.n_depths = 2;
	check_opt(ntk_options_check(&o, &key), NTK_OPT_NOT_NYSTROM, "depth list with nystrom");
	check(key == NTK_OPT_DEPTH, "depth named");
	o = saved;
	o.standardize = true;
	o.kind = NTK_KERNEL_NNGP;
	check_opt(ntk_options_check(&o, &key), NTK_OPT_OK, "standardize and nngp with nystrom");
	check_opt(ntk_option_set_string(&o, NTK_OPT_METHOD, "exact"), NTK_OPT_OK, "method exact");
	check(strcmp(ntk_fit_method_name(o.method), "exact") == 0 &&
		  strcmp(ntk_fit_method_name(NTK_METHOD_NYSTROM), "nystrom") == 0, "method names");
}

int
main(void)
{
	test_defaults();
	test_keys();
	test_kinds();
	test_numbers();
	test_strings_and_bools();
	test_candidates();
	test_vectors();
	test_sizes();
	test_nystrom_options();

	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
