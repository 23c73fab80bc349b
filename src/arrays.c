/*-------------------------------------------------------------------------
 *
 * arrays.c
 *	  Validation of float8[] and real[] arguments: the array headers are
 *	  read here, the decisions taken by validate.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"

#include "arrays.h"
#include "validate.h"

/* Reports a status of ntk_vector_check other than NTK_VEC_OK. */
static void
ReportVectorStatus(NtkVectorStatus st, ArrayType *arr, const char *what, int bad)
{
	switch (st)
	{
		case NTK_VEC_OK:
			return;
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
	elog(ERROR, "unexpected status %d of array \"%s\"", (int) st, what);
}

NtkArrayView
ntk_array_view(ArrayType *arr, const char *what)
{
	NtkArrayView v = {NULL, NULL, 0};
	NtkVectorStatus st = NTK_VEC_OK;
	bool		has_nulls;
	int			bad = -1;

	/*
	 * Not ARR_HASNULL: a slice keeps its source's bitmap without any NULLs.
	 * Only looked for once the shape is right, as ntk_vector_check would.
	 */
	has_nulls = ARR_NDIM(arr) == 1 && array_contains_nulls(arr);
	if (ARR_ELEMTYPE(arr) == FLOAT8OID)
	{
		v.f8 = (const double *) ARR_DATA_PTR(arr);
		st = ntk_vector_check(ARR_NDIM(arr), ARR_DIMS(arr), has_nulls, v.f8,
							  &v.len, &bad);
	}
	else if (ARR_ELEMTYPE(arr) == FLOAT4OID)
	{
		v.f4 = (const float *) ARR_DATA_PTR(arr);
		st = ntk_vector_check_float4(ARR_NDIM(arr), ARR_DIMS(arr), has_nulls, v.f4,
									 &v.len, &bad);
	}
	else
		elog(ERROR, "array \"%s\" has element type %u, not double precision or real",
			 what, ARR_ELEMTYPE(arr));
	ReportVectorStatus(st, arr, what, bad);
	return v;
}

const double *
ntk_array_data(ArrayType *arr, const char *what, int *len)
{
	NtkArrayView v;

	if (ARR_ELEMTYPE(arr) != FLOAT8OID)
		elog(ERROR, "array \"%s\" has element type %u, not double precision",
			 what, ARR_ELEMTYPE(arr));
	v = ntk_array_view(arr, what);
	*len = v.len;
	return v.f8;
}

void
ntk_array_copy(const NtkArrayView *v, double *dst)
{
	int			j;

	if (v->f8)
		memcpy(dst, v->f8, (size_t) v->len * sizeof(double));
	else
		for (j = 0; j < v->len; j++)
			dst[j] = (double) v->f4[j];
}
