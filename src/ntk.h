/*-------------------------------------------------------------------------
 *
 * ntk.h
 *	  Declarations shared by the PostgreSQL glue of the ntk extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_NTK_H
#define NTK_NTK_H

#include "postgres.h"

#include "utils/array.h"

#include "kernel.h"
#include "memory.h"

/* GUCs (ntk.c) */
extern int	ntk_threads;
extern int	ntk_max_threads;

extern int	ntk_model_cache_memory_kb;

/* Turns a numerics status into an ereport; never returns for a failure. */
extern void ntk_status_error(NtkStatus st, const char *context);

/* Threads for big work (fit, batch prediction) from ntk.threads. */
extern void ntk_set_blas_threads(void);

/* One thread, for one-point predictions where threads cost more than they give. */
extern void ntk_set_single_thread(void);

/*
 * Array checks (arrays.c).  what names the argument in messages ("x").
 * ntk_array_data returns a pointer into the (detoasted) array and its length,
 * after checking: one dimension, not empty, no NULLs, all finite.
 */
extern const double *ntk_array_data(ArrayType *arr, const char *what, int *len);
extern void ntk_check_dims(int expected, int actual, const char *what);
extern NtkActivation ntk_parse_activation(const char *name);
extern void ntk_check_params(const NtkParams *p);

#endif							/* NTK_NTK_H */
