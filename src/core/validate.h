/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  The decisions of argument validation, without PostgreSQL: the options
 *	  of ntk_fit, float8[] arguments, dimensions and buffer sizes.
 *
 * The glue walks the jsonb document (options.c) or the array header
 * (arrays.c) and turns a status into an ereport; which key, which type,
 * which range, which element is decided here, so that the unit tests
 * (test/unit/test_validate.c) and the libFuzzer harness
 * (test/fuzz/fuzz_validate.c) exercise the code the server runs.  As in
 * kernel.h: no allocation, caller-owned buffers, status returns.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_VALIDATE_H
#define NTK_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernel.h"

/* Longest candidate list of "ridge" or "depth". */
#define NTK_MAX_CANDIDATES 64

/* The option keys, in the order ntk_option_name and the hint list them. */
typedef enum NtkOptionKey
{
	NTK_OPT_UNKNOWN = -1,
	NTK_OPT_DEPTH = 0,
	NTK_OPT_ACTIVATION,
	NTK_OPT_SIGMA_W,
	NTK_OPT_SIGMA_B,
	NTK_OPT_KERNEL,
	NTK_OPT_RIDGE,
	NTK_OPT_RIDGE_ABSOLUTE,
	NTK_OPT_STANDARDIZE,
	NTK_OPT_T,
	NTK_OPT_LEARNING_RATE,
	NTK_OPT_VARIANCE,
	NTK_OPT_METHOD,
	NTK_OPT_CENTERS,
	NTK_OPT_SEED,
	NTK_OPT_NKEYS
} NtkOptionKey;

/* ntk_option_name of every key joined by ", ", for the hint of an error. */
#define NTK_VALID_OPTIONS "depth, activation, sigma_w, sigma_b, kernel, ridge, " \
	"ridge_absolute, standardize, t, learning_rate, variance, method, centers, seed"

/* What a JSON value is; the glue maps jsonb's jbvType onto it. */
typedef enum NtkJsonKind
{
	NTK_JSON_NULL = 0,
	NTK_JSON_STRING,
	NTK_JSON_NUMBER,
	NTK_JSON_BOOL,
	NTK_JSON_ARRAY,
	NTK_JSON_OBJECT,
	NTK_JSON_OTHER				/* anything else jsonb may hand back */
} NtkJsonKind;

/*
 * Outcome of an option decision.  options.c owns the message of each; all
 * are invalid_parameter_value except NTK_OPT_TOO_MANY (a program limit).
 */
typedef enum NtkOptStatus
{
	NTK_OPT_OK = 0,
	NTK_OPT_NOT_OBJECT,			/* the document is not an object */
	NTK_OPT_UNKNOWN_KEY,
	NTK_OPT_WRONG_TYPE,			/* see the expected noun phrase */
	NTK_OPT_NOT_FINITE,
	NTK_OPT_NOT_INTEGER,		/* a scalar depth with a fraction or beyond int */
	NTK_OPT_NOT_INTEGERS,		/* a depth candidate with a fraction */
	NTK_OPT_DEPTH_RANGE,		/* outside 0 .. NTK_MAX_DEPTH */
	NTK_OPT_NEGATIVE,			/* sigma_b, ridge, t below 0 */
	NTK_OPT_NOT_POSITIVE,		/* sigma_w, learning_rate not above 0 */
	NTK_OPT_BAD_ACTIVATION,
	NTK_OPT_BAD_KERNEL,
	NTK_OPT_BAD_RIDGE,			/* a ridge string other than "auto" */
	NTK_OPT_TOO_MANY,			/* more than NTK_MAX_CANDIDATES candidates */
	NTK_OPT_EMPTY_LIST,
	NTK_OPT_BAD_METHOD,			/* a method other than "exact" or "nystrom" */
	NTK_OPT_SEED_RANGE,			/* seed outside 0 .. NTK_MAX_SEED */
	NTK_OPT_NEEDS_NYSTROM,		/* centers or seed with the exact method */
	NTK_OPT_NOT_NYSTROM			/* an option the Nystrom fit does not support
								 * (feature_not_supported) */
} NtkOptStatus;

/* How a fit solves: all rows, or m centers (docs/nystrom.md). */
typedef enum NtkFitMethod
{
	NTK_METHOD_EXACT = 0,
	NTK_METHOD_NYSTROM
} NtkFitMethod;

/* Centers of a Nystrom fit unless "centers" says otherwise. */
#define NTK_DEFAULT_CENTERS 10000

/*
 * The largest seed: 2^53 - 1, the last integer every JSON reader holds
 * exactly (options arrive as jsonb numbers and are read as doubles).
 */
#define NTK_MAX_SEED 9007199254740991.0

/* The resolved options of a fit. */
typedef struct NtkFitOptions
{
	NtkParams	params;			/* depth, activation, sigma_w, sigma_b */
	NtkKernelKind kind;
	double		ridge;			/* relative unless ridge_absolute */
	bool		ridge_absolute;
	bool		standardize;
	bool		has_t;			/* finite training time given */
	double		t;
	double		learning_rate;
	bool		variance;

	/* Nystrom: method, centers (m) and the seed of their choice */
	NtkFitMethod method;
	int			centers;
	bool		centers_given;
	uint64_t	seed;
	bool		seed_given;

	/* model selection: ridge "auto" or a list, depth a list */
	bool		ridge_auto;
	int			n_ridges;		/* 0 = the single ridge above */
	double		ridges[NTK_MAX_CANDIDATES];
	int			n_depths;		/* 0 = the single depth above */
	int			depths[NTK_MAX_CANDIDATES];
} NtkFitOptions;

/* A candidate list being read, element by element. */
typedef struct NtkCandidates
{
	NtkOptionKey key;
	int			n;
	double		values[NTK_MAX_CANDIDATES];
} NtkCandidates;

/* Fills opts with the contract's defaults. */
extern void ntk_options_default(NtkFitOptions *opts);

/* True if the options ask for a model search. */
extern bool ntk_options_searching(const NtkFitOptions *opts);

/*
 * The checks that involve several keys, after every key was read (so they
 * do not depend on the keys' order): "centers" and "seed" need "method":
 * "nystrom" (NTK_OPT_NEEDS_NYSTROM), which does not support "t",
 * "variance" or a list of depths (NTK_OPT_NOT_NYSTROM; its ridge selection
 * is by GCV from the statistics, which depend on the depth).  *key receives the
 * option at fault.
 */
extern NtkOptStatus ntk_options_check(const NtkFitOptions *opts, NtkOptionKey *key);

/* "exact" / "nystrom"; returns 0 on success, -1 if unknown. */
extern int	ntk_fit_method_parse(const char *name, NtkFitMethod *out);
extern const char *ntk_fit_method_name(NtkFitMethod method);

/* The key named key (NUL-terminated), or NTK_OPT_UNKNOWN. */
extern NtkOptionKey ntk_option_lookup(const char *key);
extern const char *ntk_option_name(NtkOptionKey key);

/* "null", "a string", "a number", ... for messages. */
extern const char *ntk_json_kind_name(NtkJsonKind kind);

/* NTK_OPT_OK if a document of this kind can hold options. */
extern NtkOptStatus ntk_options_root(NtkJsonKind kind);

/*
 * May a value of this kind be given for key?  NTK_OPT_OK, or
 * NTK_OPT_WRONG_TYPE with *expected set to the noun phrase of the message
 * ("a number", "a scalar", ...).  An array is accepted for "depth" and
 * "ridge": it is a candidate list, read with ntk_candidates_*.  key must
 * be a known key.
 */
extern NtkOptStatus ntk_option_kind(NtkOptionKey key, NtkJsonKind kind,
									const char **expected);

/*
 * Store a scalar value of the kind ntk_option_kind accepted, after the
 * range checks of the key; on failure opts is unchanged.  A setter called
 * for a key that does not take its kind returns NTK_OPT_WRONG_TYPE.
 */
extern NtkOptStatus ntk_option_set_number(NtkFitOptions *opts, NtkOptionKey key,
										  double value);
extern NtkOptStatus ntk_option_set_string(NtkFitOptions *opts, NtkOptionKey key,
										  const char *value);
extern NtkOptStatus ntk_option_set_bool(NtkFitOptions *opts, NtkOptionKey key,
										bool value);

/*
 * A candidate list: init, then for each element ntk_candidates_kind (room
 * and type, before the glue converts the value) and ntk_candidates_add,
 * then ntk_candidates_apply (not empty, every candidate in range; stores
 * the list and its first value in opts, or leaves opts unchanged).
 */
extern void ntk_candidates_init(NtkCandidates *c, NtkOptionKey key);
extern NtkOptStatus ntk_candidates_kind(const NtkCandidates *c, NtkJsonKind kind,
										const char **expected);
extern NtkOptStatus ntk_candidates_add(NtkCandidates *c, double value);
extern NtkOptStatus ntk_candidates_apply(NtkFitOptions *opts,
										 const NtkCandidates *c);

/* "ntk" / "nngp"; returns 0 on success, -1 if unknown. */
extern int	ntk_kernel_kind_parse(const char *name, NtkKernelKind *out);
extern const char *ntk_kernel_kind_name(NtkKernelKind kind);

/* Outcome of the checks of a float8[] argument, in the order they apply. */
typedef enum NtkVectorStatus
{
	NTK_VEC_OK = 0,
	NTK_VEC_MULTIDIM,			/* more than one dimension */
	NTK_VEC_EMPTY,
	NTK_VEC_NULLS,				/* a NULL element */
	NTK_VEC_NAN,				/* the first non-finite element is NaN */
	NTK_VEC_POS_INF,			/* ... is +Infinity */
	NTK_VEC_NEG_INF				/* ... is -Infinity */
} NtkVectorStatus;

/*
 * Checks a float8[] from its header: ndim and dims as in the array,
 * has_nulls whether any element is NULL, data its ndims[0] doubles (read
 * only if the shape is right and there are no NULLs).  *len receives the
 * length; *bad the 0-based index of the first non-finite element.
 */
extern NtkVectorStatus ntk_vector_check(int ndim, const int *dims, bool has_nulls,
										const double *data, int *len, int *bad);

/* The same for a real[] of ndims[0] floats. */
extern NtkVectorStatus ntk_vector_check_float4(int ndim, const int *dims, bool has_nulls,
											   const float *data, int *len, int *bad);

/* "NaN", "Infinity" or "-Infinity" for the non-finite statuses. */
extern const char *ntk_vector_nonfinite_name(NtkVectorStatus st);

/* True if a vector of actual elements fits where expected are needed. */
extern bool ntk_dims_agree(int expected, int actual);

/* a * b into *out; false (and *out untouched) if it does not fit in size_t. */
extern bool ntk_size_mul(size_t a, size_t b, size_t *out);

/* Bytes of the buffers of a fit that grow with its sizes. */
typedef struct NtkFitSizes
{
	size_t		x_bytes;		/* inputs, n x d doubles */
	size_t		y_bytes;		/* targets, n x k doubles */
	size_t		gram_bytes;		/* one Gram matrix, n x n doubles */
} NtkFitSizes;

/*
 * The sizes above for n rows, d features and k outputs: NTK_BAD_DIMENSION
 * if any is below 1, NTK_OVERFLOW if a size does not fit in size_t (*out
 * is then untouched).
 */
extern NtkStatus ntk_fit_sizes(int64_t n, int64_t d, int64_t k, NtkFitSizes *out);

#endif							/* NTK_VALIDATE_H */
