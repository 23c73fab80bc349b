/*-------------------------------------------------------------------------
 *
 * kernel_sql.c
 *	  SQL functions ntk_kernel and nngp_kernel: the kernel of one pair.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "arrays.h"
#include "errors.h"
#include "gram.h"

PG_FUNCTION_INFO_V1(ntk_kernel);
PG_FUNCTION_INFO_V1(nngp_kernel);

/* Evaluates both kernels of a pair from the common SQL argument list. */
static void
KernelFromArgs(FunctionCallInfo fcinfo, double *nngp, double *ntk)
{
	ArrayType  *xa = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *za = PG_GETARG_ARRAYTYPE_P(1);
	char	   *act = text_to_cstring(PG_GETARG_TEXT_PP(3));
	NtkParams	p;
	const double *x;
	const double *z;
	int			nx;
	int			nz;
	double	   *work;
	NtkStatus	st;

	p.depth = PG_GETARG_INT32(2);
	p.activation = ntk_activation_parse_or_error(act);
	p.sigma_w = PG_GETARG_FLOAT8(4);
	p.sigma_b = PG_GETARG_FLOAT8(5);
	ntk_params_check_or_error(&p);

	x = ntk_array_data(xa, "x", &nx);
	z = ntk_array_data(za, "z", &nz);
	if (nx != nz)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("arrays \"x\" and \"z\" have different lengths"),
				 errdetail("\"x\" has %d elements and \"z\" has %d.", nx, nz)));

	work = palloc(2 * ntk_diag_len(&p) * sizeof(double));
	st = ntk_kernel_vectors(&p, x, z, nx, work, nngp, ntk);
	pfree(work);
	if (st != NTK_OK)
		ntk_status_error(st, "while computing the kernel of arrays \"x\" and \"z\"");
}

Datum
ntk_kernel(PG_FUNCTION_ARGS)
{
	double		nngp;
	double		ntk;

	KernelFromArgs(fcinfo, &nngp, &ntk);
	PG_RETURN_FLOAT8(ntk);
}

Datum
nngp_kernel(PG_FUNCTION_ARGS)
{
	double		nngp;
	double		ntk;

	KernelFromArgs(fcinfo, &nngp, &ntk);
	PG_RETURN_FLOAT8(nngp);
}
