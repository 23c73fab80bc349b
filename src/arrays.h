/*-------------------------------------------------------------------------
 *
 * arrays.h
 *	  Validation of float8[] arguments.
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
 * messages ("x").
 */
extern const double *ntk_array_data(ArrayType *arr, const char *what, int *len);

#endif							/* NTK_ARRAYS_H */
