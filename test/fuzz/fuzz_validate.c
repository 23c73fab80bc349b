/*-------------------------------------------------------------------------
 *
 * fuzz_validate.c
 *	  libFuzzer harness of the validation decisions (src/core/validate.c): the
 *	  options of ntk_fit, float8[] checks, dimensions and fit sizes.
 *
 * Build (test/fuzz/run.sh does this):
 *	  clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/core \
 *		  test/fuzz/fuzz_validate.c src/core/kernel.c src/core/gram.c src/core/recursion.c \
 *		  src/core/chol.c src/core/validate.c -lopenblas -llapacke -lm -lpthread
 *
 * Input bytes: a sequence of records until the input ends (missing bytes
 * read as zero).  Each record starts with a tag byte; tag % 4 is
 *	  0 an option entry: a key, then a value;
 *	  1 a float8[] argument: a shape byte, then the elements;
 *	  2 fit sizes: three 64-bit integers n, d, k;
 *	  3 a size product and a dimension agreement: two 64-bit integers.
 * The option entries of an input form one options document.
 *
 *	  key		1 byte: % 16 < 11 -> that known key (validate.h order),
 *				11..14 -> a near miss ("depht", "Depth", "", "ridge "),
 *				15 -> raw: 1 length byte (% 16), then the bytes (a NUL ends it)
 *	  value		1 kind byte, % 8: 0 null, 1 string, 2 and 7 number, 3 boolean
 *				(1 byte), 4 array, 5 object, 6 another kind
 *	  string	1 byte: < 224 -> one of "relu", "erf", "ntk", "nngp", "auto",
 *				"Auto", "", "tanh", "RELU", "relu ", "ntk\n", "nngp ", "1";
 *				else raw: 1 length byte (% 16), then the bytes
 *	  number	a decoded double (below)
 *	  array		1 count byte (% 80, so past the 64-candidate limit), then
 *				that many elements, each a kind byte and its value (arrays
 *				and objects in an array are empty)
 *	  shape		bits 0-1 ndim (0..3), bit 2 has NULLs, bits 3-7 the first
 *				dimension (0..31); further dimensions are 1 byte each (% 4)
 *	  elements	first dimension's count of decoded doubles
 *	  64-bit	1 tag byte, % 4: 0 small (int8), 1 raw 8 bytes, 2 one of
 *				the edges (0, +-1, 2^30, 1518500249, 1518500250, 2^31,
 *				2^32, 2^61, 2^62, INT64_MAX, INT64_MIN, SIZE_MAX / 8, ...),
 *				3 2^(byte % 64) + int8
 * A decoded double: 1 tag byte, then by tag % 8: 0-1 small integer
 * (int8), 2 int8 / 8, 3 a special (+-0, 0.5, the depth and int edges,
 * 1e10, 1e300, DBL_MAX, subnormals, NaN, +-Inf, ...), 4 raw 8 bytes,
 * 5 int16, 6 int8 * 2^(int8), 7 int16 / 1000.
 *
 * Checks:
 *	  - no crash and no sanitizer report (UBSan includes float-cast
 *		overflow: every double-to-int cast must be in range);
 *	  - every status a valid enum value;
 *	  - the options document, read the way options.c reads jsonb (keys
 *		unique, the last one kept, in jsonb's order: shorter first, then
 *		bytewise; stop at the first error), gives at each entry exactly
 *		the status of an independent reference written from the options
 *		table (reference_entry below), with the same noun phrase for a
 *		wrong type, and a failed setter changes nothing;
 *	  - the setters called directly refuse a key that does not take their
 *		kind, and an unknown key, without changing anything;
 *	  - accepted options are within the documented ranges, pass the
 *		numerics' own ntk_params_check, and hold the values given;
 *	  - ntk_vector_check: the checks apply in their order (shape, empty,
 *		NULLs, elements); a vector reported valid has only finite values;
 *		a non-finite report names the first non-finite element and what it
 *		is; the data is never read when the shape or NULLs decide (it is
 *		NULL then) nor past its end (ASan);
 *	  - ntk_size_mul and ntk_fit_sizes agree with 128-bit arithmetic;
 *		ntk_dims_agree is equality.
 * A failed check prints what failed and aborts: libFuzzer saves the input
 * as a crash file.  With FUZZ_VALIDATE_TRACE set in the environment the
 * harness prints what each record did (for replaying a crash or a seed).
 *
 *-------------------------------------------------------------------------
 */
#include "validate.h"
#include "fuzz_reader.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 32

/* FUZZ_VALIDATE_TRACE=1 in the environment: print what each record did */
static bool trace = false;
#define MAX_ELEMS 80
#define MAX_STR 16

static const double specials[] = {
	0.0, -0.0, 0.5, 1.0, -1.0, 3.0, 1000.0, 1001.0, 999.5, -1e-300,
	1000.0000000001, 2147483647.0, 2147483648.0, -2147483648.0,
	-2147483649.0, 4294967296.0, 1e10, 1e300, -1e300, DBL_MAX, -DBL_MAX,
	DBL_MIN, 4.9406564584124654e-324, -4.9406564584124654e-324, 1e-8, 10.0,
	NAN, -NAN, INFINITY, -INFINITY, 9007199254740993.0, 0.1
};

static double
get_double(Reader *r)
{
	uint8_t		tag = get_u8(r);

	switch (tag % 8)
	{
		case 0:
		case 1:
			return (int8_t) get_u8(r);
		case 2:
			return (int8_t) get_u8(r) / 8.0;
		case 3:
			return specials[get_u8(r) % (sizeof specials / sizeof specials[0])];
		case 4:
			return get_f64_bits(r);
		case 5:
			return (int16_t) (get_u8(r) | (get_u8(r) << 8));
		case 6:
			{
				int8_t		mant = (int8_t) get_u8(r);
				int8_t		ex = (int8_t) get_u8(r);

				return ldexp((double) mant, ex);
			}
		default:
			return (int16_t) (get_u8(r) | (get_u8(r) << 8)) / 1000.0;
	}
}

static int64_t
get_i64(Reader *r)
{
	static const int64_t edges[] = {
		0, 1, -1, 2, 7, 8, (int64_t) 1 << 30, 1518500249, 1518500250,
		(int64_t) 1 << 31, ((int64_t) 1 << 31) - 1, (int64_t) 1 << 32,
		(int64_t) 1 << 61, ((int64_t) 1 << 61) - 1, (int64_t) 1 << 62,
		INT64_MAX, INT64_MIN, INT64_MAX / 8, INT64_MAX / 8 + 1, 4294967295,
		65536, 784, 60000
	};
	uint8_t		tag = get_u8(r);

	switch (tag % 4)
	{
		case 0:
			return (int8_t) get_u8(r);
		case 1:
			{
				uint64_t	v = 0;
				int			i;

				for (i = 0; i < 8; i++)
					v = (v << 8) | get_u8(r);
				return (int64_t) v;
			}
		case 2:
			return edges[get_u8(r) % (sizeof edges / sizeof edges[0])];
		default:
			{
				int			sh = get_u8(r) % 63;

				return ((int64_t) 1 << sh) + (int8_t) get_u8(r);
			}
	}
}

static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "ASSERTION FAILED: %s\n  %s\n", what, detail);
	abort();
}

#define ASSERT(cond, what, ...) \
	do { \
		if (!(cond)) \
		{ \
			char		detail_[400]; \
			snprintf(detail_, sizeof detail_, __VA_ARGS__); \
			fail(what, detail_); \
		} \
	} while (0)

/* --- the options document ------------------------------------------------ */

typedef struct Value
{
	NtkJsonKind kind;
	double		number;
	char		str[MAX_STR + 1];
	bool		boolean;
	int			n;				/* array: elements */
	NtkJsonKind ekind[MAX_ELEMS];
	double		enumber[MAX_ELEMS];
} Value;

typedef struct Entry
{
	char		key[MAX_STR + 1];
	Value		v;
} Entry;

static void
get_raw_string(Reader *r, char *out)
{
	int			len = get_u8(r) % (MAX_STR + 1);
	int			i;

	for (i = 0; i < len; i++)
		out[i] = (char) get_u8(r);
	out[len] = '\0';			/* an embedded NUL ends it early, as in C */
}

static NtkJsonKind
get_kind(Reader *r)
{
	static const NtkJsonKind kinds[8] = {
		NTK_JSON_NULL, NTK_JSON_STRING, NTK_JSON_NUMBER, NTK_JSON_BOOL,
		NTK_JSON_ARRAY, NTK_JSON_OBJECT, NTK_JSON_OTHER, NTK_JSON_NUMBER
	};

	return kinds[get_u8(r) % 8];
}

static void
get_scalar(Reader *r, NtkJsonKind kind, Value *v)
{
	static const char *const strings[] = {
		"relu", "erf", "ntk", "nngp", "auto", "Auto", "", "tanh", "RELU",
		"relu ", "ntk\n", "nngp ", "1"
	};

	v->kind = kind;
	if (kind == NTK_JSON_NUMBER)
		v->number = get_double(r);
	else if (kind == NTK_JSON_BOOL)
		v->boolean = get_u8(r) & 1;
	else if (kind == NTK_JSON_STRING)
	{
		uint8_t		b = get_u8(r);

		if (b < 224)
			snprintf(v->str, sizeof v->str, "%s",
					 strings[b % (sizeof strings / sizeof strings[0])]);
		else
			get_raw_string(r, v->str);
	}
}

static void
get_entry(Reader *r, Entry *e)
{
	static const char *const near[] = {"depht", "Depth", "", "ridge "};
	uint8_t		k = get_u8(r) % 16;
	NtkJsonKind kind;

	memset(e, 0, sizeof(*e));
	if (k < NTK_OPT_NKEYS)
		snprintf(e->key, sizeof e->key, "%s", ntk_option_name((NtkOptionKey) k));
	else if (k < 15)
		snprintf(e->key, sizeof e->key, "%s", near[k - NTK_OPT_NKEYS]);
	else
		get_raw_string(r, e->key);

	kind = get_kind(r);
	get_scalar(r, kind, &e->v);
	if (kind == NTK_JSON_ARRAY)
	{
		int			i;

		e->v.n = get_u8(r) % MAX_ELEMS;
		for (i = 0; i < e->v.n; i++)
		{
			Value		el;

			get_scalar(r, get_kind(r), &el);
			e->v.ekind[i] = el.kind;
			e->v.enumber[i] = el.number;
		}
	}
}

/* jsonb's key order: shorter keys first, then bytewise. */
static int
jsonb_key_cmp(const void *a, const void *b)
{
	const Entry *x = a;
	const Entry *y = b;
	size_t		lx = strlen(x->key);
	size_t		ly = strlen(y->key);

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return memcmp(x->key, y->key, lx);
}

/*
 * The reference: the status an entry must get, from the options table
 * alone (README.md "Options"), without validate.c.  *noun is the expected
 * type's noun phrase for a wrong type.
 */
static NtkOptStatus
reference_entry(const Entry *e, const char **noun)
{
	const char *key = e->key;
	const Value *v = &e->v;
	bool		is_depth = strcmp(key, "depth") == 0;
	bool		is_ridge = strcmp(key, "ridge") == 0;
	bool		numeric = is_depth || is_ridge || strcmp(key, "sigma_w") == 0 ||
		strcmp(key, "sigma_b") == 0 || strcmp(key, "t") == 0 ||
		strcmp(key, "learning_rate") == 0;
	bool		textual = strcmp(key, "activation") == 0 || strcmp(key, "kernel") == 0;
	bool		boolean = strcmp(key, "ridge_absolute") == 0 ||
		strcmp(key, "standardize") == 0 || strcmp(key, "variance") == 0;
	double		x = v->number;
	int			i;

	*noun = "";
	if (!numeric && !textual && !boolean)
		return NTK_OPT_UNKNOWN_KEY;
	if (v->kind == NTK_JSON_OBJECT || (v->kind == NTK_JSON_ARRAY && !is_depth && !is_ridge))
	{
		*noun = "a scalar";
		return NTK_OPT_WRONG_TYPE;
	}
	if (v->kind == NTK_JSON_ARRAY)
	{
		for (i = 0; i < v->n; i++)
		{
			if (i >= 64)
				return NTK_OPT_TOO_MANY;
			if (v->ekind[i] != NTK_JSON_NUMBER)
			{
				*noun = "a number";
				return NTK_OPT_WRONG_TYPE;
			}
			if (isnan(v->enumber[i]) || isinf(v->enumber[i]))
				return NTK_OPT_NOT_FINITE;
		}
		if (v->n == 0)
			return NTK_OPT_EMPTY_LIST;
		for (i = 0; i < v->n; i++)
		{
			double		c = v->enumber[i];

			if (is_ridge && c < 0)
				return NTK_OPT_NEGATIVE;
			if (is_depth && c != trunc(c))
				return NTK_OPT_NOT_INTEGERS;
			if (is_depth && !(c >= 0 && c <= 1000))
				return NTK_OPT_DEPTH_RANGE;
		}
		return NTK_OPT_OK;
	}
	if (is_ridge && v->kind == NTK_JSON_STRING)
		return strcmp(v->str, "auto") == 0 ? NTK_OPT_OK : NTK_OPT_BAD_RIDGE;
	if (numeric && v->kind != NTK_JSON_NUMBER)
	{
		*noun = "a number";
		return NTK_OPT_WRONG_TYPE;
	}
	if (textual && v->kind != NTK_JSON_STRING)
	{
		*noun = "a string";
		return NTK_OPT_WRONG_TYPE;
	}
	if (boolean)
	{
		*noun = v->kind == NTK_JSON_BOOL ? "" : "a boolean";
		return v->kind == NTK_JSON_BOOL ? NTK_OPT_OK : NTK_OPT_WRONG_TYPE;
	}
	if (strcmp(key, "activation") == 0)
		return strcmp(v->str, "relu") == 0 || strcmp(v->str, "erf") == 0 ?
			NTK_OPT_OK : NTK_OPT_BAD_ACTIVATION;
	if (strcmp(key, "kernel") == 0)
		return strcmp(v->str, "ntk") == 0 || strcmp(v->str, "nngp") == 0 ?
			NTK_OPT_OK : NTK_OPT_BAD_KERNEL;
	if (isnan(x) || isinf(x))
		return NTK_OPT_NOT_FINITE;
	if (is_depth)
	{
		if (x != trunc(x) || x < -2147483648.0 || x > 2147483647.0)
			return NTK_OPT_NOT_INTEGER;
		return x >= 0 && x <= 1000 ? NTK_OPT_OK : NTK_OPT_DEPTH_RANGE;
	}
	if (strcmp(key, "sigma_w") == 0 || strcmp(key, "learning_rate") == 0)
		return x > 0 ? NTK_OPT_OK : NTK_OPT_NOT_POSITIVE;
	return x >= 0 ? NTK_OPT_OK : NTK_OPT_NEGATIVE;
}

static bool
valid_opt_status(NtkOptStatus st)
{
	return (unsigned) st <= (unsigned) NTK_OPT_EMPTY_LIST;
}

/* One entry through validate.c the way options.c drives it. */
static NtkOptStatus
apply_entry(NtkFitOptions *opts, const Entry *e, const char **noun)
{
	const Value *v = &e->v;
	NtkOptionKey k = ntk_option_lookup(e->key);
	NtkFitOptions saved = *opts;
	NtkOptStatus st;

	*noun = "";
	if (k == NTK_OPT_UNKNOWN)
		return NTK_OPT_UNKNOWN_KEY;
	ASSERT(k >= 0 && k < NTK_OPT_NKEYS && strcmp(ntk_option_name(k), e->key) == 0,
		   "ntk_option_lookup finds the key named", "key \"%s\" -> %d", e->key, (int) k);
	st = ntk_option_kind(k, v->kind, noun);
	if (st != NTK_OPT_OK)
		return st;
	switch (v->kind)
	{
		case NTK_JSON_ARRAY:
			{
				NtkCandidates c;
				int			i;

				ntk_candidates_init(&c, k);
				for (i = 0; i < v->n; i++)
				{
					st = ntk_candidates_kind(&c, v->ekind[i], noun);
					if (st != NTK_OPT_OK)
						return st;
					st = ntk_candidates_add(&c, v->enumber[i]);
					if (st != NTK_OPT_OK)
						return st;
				}
				*noun = "";
				st = ntk_candidates_apply(opts, &c);
			}
			break;
		case NTK_JSON_NUMBER:
			st = ntk_option_set_number(opts, k, v->number);
			break;
		case NTK_JSON_STRING:
			st = ntk_option_set_string(opts, k, v->str);
			break;
		case NTK_JSON_BOOL:
			st = ntk_option_set_bool(opts, k, v->boolean);
			break;
		default:
			ASSERT(0, "ntk_option_kind accepted a kind no setter takes",
				   "key \"%s\" kind %d", e->key, (int) v->kind);
	}
	if (st != NTK_OPT_OK)
		ASSERT(memcmp(opts, &saved, sizeof saved) == 0, "a failed setter changes nothing",
			   "key \"%s\" status %d", e->key, (int) st);
	return st;
}

/* The value given is the value stored. */
static void
check_stored(const NtkFitOptions *o, const Entry *e)
{
	const Value *v = &e->v;
	NtkOptionKey k = ntk_option_lookup(e->key);
	int			i;

	if (v->kind == NTK_JSON_ARRAY)
	{
		if (k == NTK_OPT_RIDGE)
		{
			ASSERT(o->n_ridges == v->n && o->ridge == v->enumber[0],
				   "ridge list stored", "n_ridges %d of %d", o->n_ridges, v->n);
			for (i = 0; i < v->n; i++)
				ASSERT(o->ridges[i] == v->enumber[i], "ridge candidate stored", "at %d", i);
		}
		else
		{
			ASSERT(o->n_depths == v->n && o->params.depth == o->depths[0],
				   "depth list stored", "n_depths %d of %d", o->n_depths, v->n);
			for (i = 0; i < v->n; i++)
				ASSERT(o->depths[i] == v->enumber[i], "depth candidate stored", "at %d", i);
		}
		return;
	}
	switch (k)
	{
		case NTK_OPT_DEPTH:
			ASSERT(o->params.depth == v->number, "depth stored", "%.17g", v->number);
			break;
		case NTK_OPT_SIGMA_W:
			ASSERT(o->params.sigma_w == v->number, "sigma_w stored", "%.17g", v->number);
			break;
		case NTK_OPT_SIGMA_B:
			ASSERT(o->params.sigma_b == v->number, "sigma_b stored", "%.17g", v->number);
			break;
		case NTK_OPT_RIDGE:
			if (v->kind == NTK_JSON_STRING)
				ASSERT(o->ridge_auto, "ridge auto stored", "%s", v->str);
			else
				ASSERT(o->ridge == v->number, "ridge stored", "%.17g", v->number);
			break;
		case NTK_OPT_T:
			ASSERT(o->has_t && o->t == v->number, "t stored", "%.17g", v->number);
			break;
		case NTK_OPT_LEARNING_RATE:
			ASSERT(o->learning_rate == v->number, "learning_rate stored", "%.17g", v->number);
			break;
		case NTK_OPT_ACTIVATION:
			ASSERT(strcmp(ntk_activation_name(o->params.activation), v->str) == 0,
				   "activation stored", "%s", v->str);
			break;
		case NTK_OPT_KERNEL:
			ASSERT(strcmp(ntk_kernel_kind_name(o->kind), v->str) == 0,
				   "kernel stored", "%s", v->str);
			break;
		case NTK_OPT_RIDGE_ABSOLUTE:
			ASSERT(o->ridge_absolute == v->boolean, "ridge_absolute stored", "%d", v->boolean);
			break;
		case NTK_OPT_STANDARDIZE:
			ASSERT(o->standardize == v->boolean, "standardize stored", "%d", v->boolean);
			break;
		case NTK_OPT_VARIANCE:
			ASSERT(o->variance == v->boolean, "variance stored", "%d", v->boolean);
			break;
		default:
			ASSERT(0, "an unknown key was accepted", "\"%s\"", e->key);
	}
}

/* Accepted options are within the documented ranges. */
static void
check_ranges(const NtkFitOptions *o)
{
	int			i;

	ASSERT(o->params.depth >= 0 && o->params.depth <= NTK_MAX_DEPTH, "depth in range",
		   "%d", o->params.depth);
	ASSERT(o->params.activation == NTK_RELU || o->params.activation == NTK_ERF,
		   "activation valid", "%d", (int) o->params.activation);
	ASSERT(isfinite(o->params.sigma_w) && o->params.sigma_w > 0, "sigma_w > 0",
		   "%.17g", o->params.sigma_w);
	ASSERT(isfinite(o->params.sigma_b) && o->params.sigma_b >= 0, "sigma_b >= 0",
		   "%.17g", o->params.sigma_b);
	ASSERT(o->kind == NTK_KERNEL_NTK || o->kind == NTK_KERNEL_NNGP, "kernel valid",
		   "%d", (int) o->kind);
	ASSERT(isfinite(o->ridge) && o->ridge >= 0, "ridge >= 0", "%.17g", o->ridge);
	ASSERT(!o->has_t || (isfinite(o->t) && o->t >= 0), "t >= 0", "%.17g", o->t);
	ASSERT(isfinite(o->learning_rate) && o->learning_rate > 0, "learning_rate > 0",
		   "%.17g", o->learning_rate);
	ASSERT(o->n_ridges >= 0 && o->n_ridges <= NTK_MAX_CANDIDATES, "n_ridges in range",
		   "%d", o->n_ridges);
	ASSERT(o->n_depths >= 0 && o->n_depths <= NTK_MAX_CANDIDATES, "n_depths in range",
		   "%d", o->n_depths);
	for (i = 0; i < o->n_ridges; i++)
		ASSERT(isfinite(o->ridges[i]) && o->ridges[i] >= 0, "ridge candidate >= 0",
			   "%.17g", o->ridges[i]);
	for (i = 0; i < o->n_depths; i++)
		ASSERT(o->depths[i] >= 0 && o->depths[i] <= NTK_MAX_DEPTH, "depth candidate in range",
			   "%d", o->depths[i]);
	ASSERT(o->n_ridges == 0 || o->ridge == o->ridges[0], "ridge is the first candidate", "%.17g", o->ridge);
	ASSERT(o->n_depths == 0 || o->params.depth == o->depths[0], "depth is the first candidate",
		   "%d", o->params.depth);
	/* what the options accept, the numerics accept */
	ASSERT(ntk_params_check(&o->params) == NTK_OK, "accepted options pass ntk_params_check",
		   "depth %d sigma_w %.17g sigma_b %.17g", o->params.depth, o->params.sigma_w,
		   o->params.sigma_b);
	ASSERT(ntk_options_searching(o) ==
		   (o->ridge_auto || o->n_ridges > 0 || o->n_depths > 0),
		   "ntk_options_searching", "%d %d %d", o->ridge_auto, o->n_ridges, o->n_depths);
}

/*
 * The setters called directly with any key, as a caller that skipped
 * ntk_option_kind would: a key that does not take the kind is refused
 * (an unknown one as such) and nothing changes.
 */
static void
check_setters(const Entry *e)
{
	static const int odd_keys[] = {NTK_OPT_UNKNOWN, NTK_OPT_NKEYS, -1000, 1 << 30};
	NtkOptionKey k = ntk_option_lookup(e->key);
	NtkFitOptions o;
	NtkFitOptions saved;
	int			pass;

	for (pass = 0; pass < 2; pass++)
	{
		NtkOptStatus sn;
		NtkOptStatus ss;
		NtkOptStatus sb;
		bool		takes_number;
		bool		takes_string;
		bool		takes_bool;

		if (pass == 1)
			k = (NtkOptionKey) odd_keys[(unsigned char) e->key[0] % 4];
		takes_number = k == NTK_OPT_DEPTH || k == NTK_OPT_SIGMA_W || k == NTK_OPT_SIGMA_B ||
			k == NTK_OPT_RIDGE || k == NTK_OPT_T || k == NTK_OPT_LEARNING_RATE;
		takes_string = k == NTK_OPT_ACTIVATION || k == NTK_OPT_KERNEL || k == NTK_OPT_RIDGE;
		takes_bool = k == NTK_OPT_RIDGE_ABSOLUTE || k == NTK_OPT_STANDARDIZE ||
			k == NTK_OPT_VARIANCE;

		ntk_options_default(&o);
		saved = o;
		sn = ntk_option_set_number(&o, k, e->v.number);
		ss = ntk_option_set_string(&o, k, e->v.str);
		sb = ntk_option_set_bool(&o, k, e->v.boolean);
		ASSERT(valid_opt_status(sn) && valid_opt_status(ss) && valid_opt_status(sb),
			   "setters return valid statuses", "%d %d %d", (int) sn, (int) ss, (int) sb);
		if (k < 0 || k >= NTK_OPT_NKEYS)
		{
			ASSERT(sn == NTK_OPT_UNKNOWN_KEY && ss == NTK_OPT_UNKNOWN_KEY && sb == NTK_OPT_UNKNOWN_KEY,
				   "setters refuse an unknown key", "key %d: %d %d %d", (int) k, (int) sn, (int) ss, (int) sb);
			ASSERT(strcmp(ntk_option_name(k), "?") == 0, "an unknown key's name", "%d", (int) k);
		}
		else
		{
			ASSERT(takes_number || sn == NTK_OPT_WRONG_TYPE, "set_number refuses a key without numbers",
				   "key %d: %d", (int) k, (int) sn);
			ASSERT(takes_string || ss == NTK_OPT_WRONG_TYPE, "set_string refuses a key without strings",
				   "key %d: %d", (int) k, (int) ss);
			ASSERT(takes_bool || sb == NTK_OPT_WRONG_TYPE, "set_bool refuses a key without booleans",
				   "key %d: %d", (int) k, (int) sb);
		}
		if (sn != NTK_OPT_OK && ss != NTK_OPT_OK && sb != NTK_OPT_OK)
			ASSERT(memcmp(&o, &saved, sizeof o) == 0, "refused setters change nothing", "key %d", (int) k);
	}
}

static void
run_document(Entry *entries, int n)
{
	NtkFitOptions opts;
	int			unique = 0;
	int			i;
	int			j;

	/* jsonb keeps one value per key, the last one given */
	for (i = 0; i < n; i++)
	{
		for (j = 0; j < unique; j++)
			if (strcmp(entries[j].key, entries[i].key) == 0)
				break;
		if (j < unique)
			entries[j] = entries[i];
		else
			entries[unique++] = entries[i];
	}
	qsort(entries, unique, sizeof(Entry), jsonb_key_cmp);

	ASSERT(ntk_options_root(NTK_JSON_OBJECT) == NTK_OPT_OK, "an object holds options", "%s", "");
	ntk_options_default(&opts);
	check_ranges(&opts);
	for (i = 0; i < unique; i++)
	{
		const char *noun;
		const char *want_noun;
		NtkOptStatus st = apply_entry(&opts, &entries[i], &noun);
		NtkOptStatus want = reference_entry(&entries[i], &want_noun);

		check_setters(&entries[i]);
		if (trace)
			fprintf(stderr, "entry \"%s\" kind %d number %.17g string \"%s\" elements %d: status %d\n",
					entries[i].key, (int) entries[i].v.kind, entries[i].v.number,
					entries[i].v.str, entries[i].v.n, (int) st);

		ASSERT(valid_opt_status(st), "a valid NtkOptStatus", "%d", (int) st);
		ASSERT(st == want, "the status the options table gives",
			   "key \"%s\" kind %d number %.17g string \"%s\" elements %d: status %d, want %d",
			   entries[i].key, (int) entries[i].v.kind, entries[i].v.number,
			   entries[i].v.str, entries[i].v.n, (int) st, (int) want);
		if (st == NTK_OPT_WRONG_TYPE)
		{
			static const char *const kind_names[] = {
				"null", "a string", "a number", "a boolean", "an array", "an object",
				"an unsupported value"
			};
			NtkJsonKind got = entries[i].v.kind;
			int			j;

			ASSERT(strcmp(noun, want_noun) == 0, "the expected type named in the message",
				   "key \"%s\": \"%s\", want \"%s\"", entries[i].key, noun, want_noun);
			/* ... and the kind given (of the first element that is not a number) */
			for (j = 0; got == NTK_JSON_ARRAY && j < entries[i].v.n; j++)
				if (entries[i].v.ekind[j] != NTK_JSON_NUMBER)
				{
					got = entries[i].v.ekind[j];
					break;
				}
			ASSERT(strcmp(ntk_json_kind_name(got), kind_names[got]) == 0,
				   "the kind given named in the message", "kind %d: \"%s\"", (int) got,
				   ntk_json_kind_name(got));
		}
		if (st != NTK_OPT_OK)
			return;				/* the glue reports the first error */
		check_stored(&opts, &entries[i]);
	}
	check_ranges(&opts);
}

/* --- float8[] checks ----------------------------------------------------- */

static void
run_vector(Reader *r)
{
	uint8_t		shape = get_u8(r);
	int			ndim = shape & 3;
	bool		has_nulls = (shape >> 2) & 1;
	int			dims[3];
	int			n;
	int			i;
	int			len = -7;
	int			bad = -7;
	double	   *data;
	bool		readable;
	NtkVectorStatus st;
	NtkVectorStatus want;
	int			first_bad = -1;

	dims[0] = shape >> 3;
	dims[1] = get_u8(r) % 4;
	dims[2] = get_u8(r) % 4;
	n = ndim == 0 ? 0 : dims[0];

	/* exactly n doubles on the heap, so ASan sees a read past the end */
	data = malloc((n > 0 ? n : 1) * sizeof(double));
	if (data == NULL)
		abort();
	for (i = 0; i < n; i++)
	{
		data[i] = get_double(r);
		if (first_bad < 0 && !isfinite(data[i]))
			first_bad = i;
	}

	if (ndim > 1)
		want = NTK_VEC_MULTIDIM;
	else if (n == 0)
		want = NTK_VEC_EMPTY;
	else if (has_nulls)
		want = NTK_VEC_NULLS;
	else if (first_bad < 0)
		want = NTK_VEC_OK;
	else
		want = isnan(data[first_bad]) ? NTK_VEC_NAN :
			data[first_bad] > 0 ? NTK_VEC_POS_INF : NTK_VEC_NEG_INF;

	/* data is readable only when the shape and NULLs leave the elements to decide */
	readable = ndim == 1 && n > 0 && !has_nulls;
	st = ntk_vector_check(ndim, dims, has_nulls, readable ? data : NULL, &len, &bad);
	ASSERT((unsigned) st <= (unsigned) NTK_VEC_NEG_INF, "a valid NtkVectorStatus", "%d", (int) st);
	if (trace)
		fprintf(stderr, "vector ndim %d dims %d nulls %d: status %d, bad %d\n",
				ndim, dims[0], (int) has_nulls, (int) st, bad);
	ASSERT(st == want, "ntk_vector_check applies its checks in order",
		   "ndim %d dims %d nulls %d first non-finite %d: status %d, want %d",
		   ndim, dims[0], (int) has_nulls, first_bad, (int) st, (int) want);
	if (st == NTK_VEC_OK)
	{
		ASSERT(len == n, "a valid vector's length", "%d of %d", len, n);
		for (i = 0; i < len; i++)
			ASSERT(isfinite(data[i]), "a valid vector has only finite values", "element %d", i);
	}
	else if (st == NTK_VEC_NAN || st == NTK_VEC_POS_INF || st == NTK_VEC_NEG_INF)
	{
		const char *name = ntk_vector_nonfinite_name(st);

		ASSERT(bad == first_bad, "the first non-finite element is named", "%d, want %d", bad, first_bad);
		ASSERT(strcmp(name, isnan(data[bad]) ? "NaN" : data[bad] > 0 ? "Infinity" : "-Infinity") == 0,
			   "what the element is", "%s for %.17g", name, data[bad]);
	}
	free(data);
}

/* --- sizes ----------------------------------------------------------------- */

static void
run_sizes(Reader *r)
{
	int64_t		n = get_i64(r);
	int64_t		d = get_i64(r);
	int64_t		k = get_i64(r);
	unsigned __int128 lim = (unsigned __int128) SIZE_MAX;
	unsigned __int128 xb;
	unsigned __int128 yb;
	unsigned __int128 gb;
	NtkFitSizes sz;
	NtkStatus	st = ntk_fit_sizes(n, d, k, &sz);

	if (trace)
		fprintf(stderr, "sizes %lld %lld %lld: status %d\n",
				(long long) n, (long long) d, (long long) k, (int) st);

	if (n < 1 || d < 1 || k < 1)
	{
		ASSERT(st == NTK_BAD_DIMENSION, "ntk_fit_sizes refuses sizes below 1",
			   "n %lld d %lld k %lld: %d", (long long) n, (long long) d, (long long) k, (int) st);
		return;
	}
	/* n, d, k < 2^63: each product of two below 2^126, times 8 below 2^129... */
	xb = (unsigned __int128) n * (unsigned __int128) d;
	yb = (unsigned __int128) n * (unsigned __int128) k;
	gb = (unsigned __int128) n * (unsigned __int128) n;
	/* ... so compare before multiplying by 8 to stay within 128 bits */
	if (xb > lim / 8 || yb > lim / 8 || gb > lim / 8)
	{
		ASSERT(st == NTK_OVERFLOW, "ntk_fit_sizes overflows exactly when 128-bit arithmetic does",
			   "n %lld d %lld k %lld: %d", (long long) n, (long long) d, (long long) k, (int) st);
		return;
	}
	ASSERT(st == NTK_OK, "ntk_fit_sizes fits exactly when 128-bit arithmetic does",
		   "n %lld d %lld k %lld: %d", (long long) n, (long long) d, (long long) k, (int) st);
	ASSERT(sz.x_bytes == xb * 8 && sz.y_bytes == yb * 8 && sz.gram_bytes == gb * 8,
		   "ntk_fit_sizes bytes", "n %lld d %lld k %lld", (long long) n, (long long) d, (long long) k);
}

static void
run_product(Reader *r)
{
	uint64_t	a = (uint64_t) get_i64(r);
	uint64_t	b = (uint64_t) get_i64(r);
	unsigned __int128 p = (unsigned __int128) (size_t) a * (size_t) b;
	size_t		out = 12345;
	bool		ok = ntk_size_mul((size_t) a, (size_t) b, &out);

	ASSERT(ok == (p <= (unsigned __int128) SIZE_MAX), "ntk_size_mul overflows exactly when 128-bit arithmetic does",
		   "%llu * %llu", (unsigned long long) a, (unsigned long long) b);
	ASSERT(ok ? out == (size_t) p : out == 12345, "ntk_size_mul result, or out untouched",
		   "%llu * %llu", (unsigned long long) a, (unsigned long long) b);
	ASSERT(ntk_dims_agree((int) a, (int) b) == ((int) a == (int) b), "ntk_dims_agree is equality",
		   "%d %d", (int) a, (int) b);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static Entry entries[MAX_ENTRIES];
	Reader		r = {data, size};
	int			n = 0;

	trace = getenv("FUZZ_VALIDATE_TRACE") != NULL;

	while (r.n > 0)
	{
		switch (get_u8(&r) % 4)
		{
			case 0:
				if (n < MAX_ENTRIES)
					get_entry(&r, &entries[n++]);
				else
				{
					Entry		skip;

					get_entry(&r, &skip);
				}
				break;
			case 1:
				run_vector(&r);
				break;
			case 2:
				run_sizes(&r);
				break;
			default:
				run_product(&r);
				break;
		}
	}
	run_document(entries, n);
	return 0;
}
