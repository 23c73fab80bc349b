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

/* GUCs (ntk.c) */
extern int	ntk_threads;
extern int	ntk_max_memory_kb;
extern int	ntk_max_threads;
extern int	ntk_max_memory_limit_kb;

/* A fit's memory bound: ntk.max_memory capped by ntk.max_memory_limit. */
extern int	ntk_allowed_memory_kb(const char **setting);
extern int	ntk_model_cache_memory_kb;

/*
 * Big buffers (n x n kernels, training inputs): MemoryContextAllocHuge, with
 * the memory advised for transparent huge pages.  First touching 512 MB in
 * 4 kB pages costs a page fault each, 1.5-2 s on a virtual machine here,
 * and the BLAS calls then miss the TLB; in 2 MB pages it takes 0.05 s.
 * ntk_advise_huge gives the advice for memory allocated otherwise
 * (repalloc_huge).
 */
extern void *ntk_alloc_huge(MemoryContext cxt, size_t size);
extern void ntk_advise_huge(void *ptr, size_t size);

/*
 * A buffer that grows in place: a private anonymous mapping resized by
 * mremap, which moves page tables instead of copying, and unmapped when the
 * memory context it was created in is reset or deleted.  For the training
 * rows of a fit, which arrive one by one: repalloc_huge copied them at each
 * doubling once glibc served the smaller sizes from its heap, a quarter of
 * the time spent reading 8000 rows of 784 features.
 */
typedef struct NtkGrowable NtkGrowable;

extern NtkGrowable *ntk_growable_create(MemoryContext cxt);
/* Resizes to size bytes (contents kept); returns the possibly moved start. */
extern void *ntk_growable_resize(NtkGrowable *g, size_t size);

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
