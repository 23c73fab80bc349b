/*-------------------------------------------------------------------------
 *
 * predict.h
 *	  What the one-point and the batch predictions share (predict.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_PREDICT_H
#define NTK_PREDICT_H

#include "postgres.h"

#include "utils/array.h"

#include "model.h"

/* Standardizes x into m->xbuf after checking its length. */
extern void ntk_model_prepare_input(NtkModel *m, const double *x, int len);

/* Refuses predictions (or variances) that left the double precision range: 22003. */
extern void ntk_model_check_output(const NtkModel *m, const double *v, size_t count);

/* The index of the largest of k values (the first of equals). */
extern int	ntk_argmax(const double *v, int k);

/* A float8[] of k values. */
extern ArrayType *ntk_float8_array(const double *v, int k);

#endif							/* NTK_PREDICT_H */
