/*-------------------------------------------------------------------------
 *
 * arrays.c
 *	  Validation of float8[] arguments: the array headers are read here,
 *	  the decisions taken by validate.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"

#include "arrays.h"
#include "validate.h"

const double *
ntk_array_data(ArrayType *arr, const char *what, int *len)
{
	const double *data;
	NtkVectorStatus st;
	bool		has_nulls;
	int			n;
	int			bad;

	if (ARR_ELEMTYPE(arr) != FLOAT8OID)
		elog(ERROR, "array \"%s\" has element type %u, not double precision",
			 what, ARR_ELEMTYPE(arr));

	/*
	 * Not ARR_HASNULL: a slice keeps its source's bitmap without any NULLs.
	 * Only looked for once the shape is right, as ntk_vector_check would.
	 */
	has_nulls = ARR_NDIM(arr) == 1 && array_contains_nulls(arr);
	data = (const double *) ARR_DATA_PTR(arr);
	st = ntk_vector_check(ARR_NDIM(arr), ARR_DIMS(arr), has_nulls, data, &n, &bad);
	switch (st)
	{
		case NTK_VEC_OK:
			break;
		case NTK_VEC_MULTIDIM:
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("array \"%s\" must be one-dimensional", what),
					 errdetail("It has %d dimensions.", ARR_NDIM(arr))));
			break;
		case NTK_VEC_EMPTY:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("array \"%s\" must not be empty", what)));
			break;
		case NTK_VEC_NULLS:
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("array \"%s\" must not contain nulls", what)));
			break;
		case NTK_VEC_NAN:
		case NTK_VEC_POS_INF:
		case NTK_VEC_NEG_INF:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("array \"%s\" must not contain NaN or Infinity", what),
					 errdetail("Element %d is %s.", bad + 1,
							   ntk_vector_nonfinite_name(st))));
			break;
	}
	if (st != NTK_VEC_OK)
		elog(ERROR, "unexpected status %d of array \"%s\"", (int) st, what);
	*len = n;
	return data;
}
