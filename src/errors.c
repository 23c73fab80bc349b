/*-------------------------------------------------------------------------
 *
 * errors.c
 *	  Numerics statuses and names as PostgreSQL errors.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "errors.h"
#include "validate.h"

/* The CONTEXT line of a status error, if the caller gave one. */
static int
StatusContext(const char *context)
{
	if (context == NULL)
		return 0;
	return errcontext("%s", context);
}

void
ntk_status_error(NtkStatus st, const char *context)
{
	switch (st)
	{
		case NTK_OK:
			return;
		case NTK_BAD_DEPTH:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("depth must be between 0 and %d", NTK_MAX_DEPTH),
					 StatusContext(context)));
			break;
		case NTK_BAD_SIGMA_W:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sigma_w must be positive and finite"),
					 StatusContext(context)));
			break;
		case NTK_BAD_SIGMA_B:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sigma_b must be non-negative and finite"),
					 StatusContext(context)));
			break;
		case NTK_BAD_DIMENSION:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("kernel inputs have an invalid dimension"),
					 StatusContext(context)));
			break;
		case NTK_NOT_FINITE:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("kernel inputs must not contain NaN or Infinity"),
					 StatusContext(context)));
			break;
		case NTK_OVERFLOW:
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("kernel value out of range for type double precision"),
					 errdetail("An intermediate value of the kernel recursion overflowed."),
					 errhint("Scale the inputs to a smaller norm."),
					 StatusContext(context)));
			break;
		case NTK_LAPACK_ERROR:
			ereport(ERROR,
					(errmsg_internal("LAPACK routine reported an argument error"),
					 StatusContext(context)));
			break;
		case NTK_CANCELED:
			/* the interrupt itself is raised by CHECK_FOR_INTERRUPTS */
			CHECK_FOR_INTERRUPTS();
			ereport(ERROR,
					(errmsg_internal("computation canceled with no interrupt pending"),
					 StatusContext(context)));
			break;

			/*
			 * Not for this function: an activation comes from
			 * ntk_activation_parse_or_error, and the fit reports a matrix
			 * that is not positive definite with the model's name.
			 */
		case NTK_BAD_ACTIVATION:
		case NTK_NOT_POSITIVE_DEFINITE:
			break;
	}
	ereport(ERROR,
			(errmsg_internal("unexpected numerics status %d", (int) st),
			 StatusContext(context)));
}

void
ntk_params_check_or_error(const NtkParams *p)
{
	ntk_status_error(ntk_params_check(p), NULL);
}

NtkActivation
ntk_activation_parse_or_error(const char *name)
{
	NtkActivation act;

	if (ntk_activation_parse(name, &act) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized activation \"%s\"", name),
				 errhint("Valid activations are \"relu\" and \"erf\".")));
	return act;
}

NtkKernelKind
ntk_kernel_kind_parse_or_error(const char *name)
{
	NtkKernelKind kind;

	if (ntk_kernel_kind_parse(name, &kind) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized kernel \"%s\"", name),
				 errhint("Valid kernels are \"ntk\" and \"nngp\".")));
	return kind;
}
