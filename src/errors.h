/*-------------------------------------------------------------------------
 *
 * errors.h
 *	  Numerics statuses and names as PostgreSQL errors (the glue's leaf).
 *
 * The numerics return statuses and parse names without reporting; these
 * turn a failure into an ereport with its SQLSTATE, in one place.  The
 * _or_error functions are the glue's versions of the core function of the
 * same name.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_ERRORS_H
#define NTK_ERRORS_H

#include "postgres.h"

#include "kernel.h"

/*
 * Raises the error of a failed status; returns only for NTK_OK.  context, if
 * not NULL, is the error's CONTEXT line, written at the call site to say what
 * was being computed ("while computing the kernel of arrays \"x\" and \"z\"").
 */
extern void ntk_status_error(NtkStatus st, const char *context);

/* ntk_params_check, raising its error (22023). */
extern void ntk_params_check_or_error(const NtkParams *p);

/* ntk_activation_parse and ntk_kernel_kind_parse, raising "unrecognized" (22023). */
extern NtkActivation ntk_activation_parse_or_error(const char *name);
extern NtkKernelKind ntk_kernel_kind_parse_or_error(const char *name);

#endif							/* NTK_ERRORS_H */
