/*-------------------------------------------------------------------------
 *
 * arrays.h
 *	  Validation of float8[] and real[] arguments.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_ARRAYS_H
#define NTK_ARRAYS_H

#include "postgres.h"

#include "utils/array.h"

/*
 * A pointer into the (detoasted) array and its length, after checking: one
 * dimension, not empty, no NULLs, all finite.  what names the argument in
 * messages ("x").  The array must be a float8[].
 */
extern const double *ntk_array_data(ArrayType *arr, const char *what, int *len);

/* The elements of a checked float8[] or real[], read where they are. */
typedef struct NtkArrayView
{
	const double *f8;			/* the doubles of a float8[], or NULL */
	const float *f4;			/* the floats of a real[], or NULL */
	int			len;
} NtkArrayView;

/* Checks a float8[] or real[] as ntk_array_data does. */
extern NtkArrayView ntk_array_view(ArrayType *arr, const char *what);

/* Element j as a double (a real widened exactly). */
static inline double
ntk_array_value(const NtkArrayView *v, int j)
{
	return v->f8 ? v->f8[j] : (double) v->f4[j];
}

/* Copies the elements into dst, widened exactly. */
extern void ntk_array_copy(const NtkArrayView *v, double *dst);

#endif							/* NTK_ARRAYS_H */
