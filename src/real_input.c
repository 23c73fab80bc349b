/*-------------------------------------------------------------------------
 *
 * real_input.c
 *	  Planner support of the functions taking x float8[]: a real[] argument
 *	  is passed as it is, not widened into a new float8[].
 *
 * The functions are declared for float8[] only: overloads for real[] would
 * make calls with integer[], numeric[] or untyped array literals ambiguous
 * (no array type is preferred in its category).  A real[] argument reaches
 * them through the implicit cast, an ArrayCoerceExpr that builds a float8[]
 * copy row by row; this support function removes that cast from the
 * planned call, and the C functions read the real[] in place, widening each
 * value exactly where it is used (arrays.c).  Only calls the planner
 * simplifies are changed: the float8[] a cast would give and the real[] it
 * reads hold the same values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "nodes/supportnodes.h"

PG_FUNCTION_INFO_V1(ntk_real_input_support);

Datum
ntk_real_input_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSimplify *req;
	FuncExpr   *call;
	List	   *args = NIL;
	bool		changed = false;
	ListCell   *lc;

	if (!IsA(rawreq, SupportRequestSimplify))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSimplify *) rawreq;
	foreach(lc, req->fcall->args)
	{
		Node	   *arg = lfirst(lc);

		/* real[] to float8[]: the cast is float8(real), element by element */
		if (IsA(arg, ArrayCoerceExpr) &&
			((ArrayCoerceExpr *) arg)->resulttype == FLOAT8ARRAYOID &&
			exprType((Node *) ((ArrayCoerceExpr *) arg)->arg) == FLOAT4ARRAYOID)
		{
			arg = (Node *) ((ArrayCoerceExpr *) arg)->arg;
			changed = true;
		}
		args = lappend(args, arg);
	}
	if (!changed)
		PG_RETURN_POINTER(NULL);
	call = makeNode(FuncExpr);
	memcpy(call, req->fcall, sizeof(FuncExpr));
	call->args = args;
	PG_RETURN_POINTER(call);
}
