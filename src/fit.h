/*-------------------------------------------------------------------------
 *
 * fit.h
 *	  Fitting: the memory guard shared by the aggregates.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_FIT_H
#define NTK_FIT_H

#include "options.h"

/* Estimated peak bytes of a fit (saturates to +inf instead of wrapping). */
extern double ntk_fit_peak_bytes(double n, double d, double k,
								 const NtkFitOptions *opts);

/* Refuses, with SQLSTATE 54000, a fit whose peak exceeds ntk.max_memory. */
extern void ntk_check_memory(const char *name, double n, double d, double k,
							 const NtkFitOptions *opts, bool partial);

#endif							/* NTK_FIT_H */
