/*-------------------------------------------------------------------------
 *
 * arrays.c
 *	  Validation of float8[] arguments and kernel parameters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"

#include "ntk.h"

const double *
ntk_array_data(ArrayType *arr, const char *what, int *len)
{
	const double *data;
	int			n;
	int			i;

	if (ARR_ELEMTYPE(arr) != FLOAT8OID)
		elog(ERROR, "%s: expected float8[]", what);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("array \"%s\" must be one-dimensional", what),
				 errdetail("It has %d dimensions.", ARR_NDIM(arr))));
	n = ARR_NDIM(arr) == 0 ? 0 : ARR_DIMS(arr)[0];
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array \"%s\" must not be empty", what)));
	/* not ARR_HASNULL: a slice keeps its source's bitmap without any NULLs */
	if (array_contains_nulls(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("array \"%s\" must not contain nulls", what)));
	data = (const double *) ARR_DATA_PTR(arr);
	for (i = 0; i < n; i++)
	{
		if (!isfinite(data[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("array \"%s\" must not contain NaN or Infinity", what),
					 errdetail("Element %d is %s.", i + 1,
							   isnan(data[i]) ? "NaN" :
							   data[i] > 0 ? "Infinity" : "-Infinity")));
	}
	*len = n;
	return data;
}

void
ntk_check_dims(int expected, int actual, const char *what)
{
	if (expected != actual)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("array \"%s\" has %d elements, expected %d",
						what, actual, expected)));
}

NtkActivation
ntk_parse_activation(const char *name)
{
	NtkActivation act;

	if (ntk_activation_parse(name, &act) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown activation \"%s\"", name),
				 errhint("Valid activations are \"relu\" and \"erf\".")));
	return act;
}

void
ntk_check_params(const NtkParams *p)
{
	NtkStatus	st = ntk_params_check(p);

	if (st != NTK_OK)
		ntk_status_error(st, "kernel parameters");
}
