/*-------------------------------------------------------------------------
 *
 * ntk.h
 *	  Big allocations and the memory settings of a fit (ntk.c).
 *
 * The rest of the glue has a header per subsystem (arrays.h, errors.h,
 * threads.h, options.h, model.h); fit.c still reaches some of them through
 * this one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_NTK_H
#define NTK_NTK_H

#include "postgres.h"

#include "arrays.h"
#include "errors.h"
#include "gram.h"
#include "threads.h"

/* GUCs (ntk.c) */
extern int	ntk_max_memory_kb;
extern int	ntk_max_memory_limit_kb;

/* A fit's memory bound: ntk.max_memory capped by ntk.max_memory_limit. */
extern int	ntk_allowed_memory_kb(const char **setting);

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

/* fit.c's name for ntk_threads_for_big_work (threads.h) */
static inline void
ntk_set_blas_threads(void)
{
	ntk_threads_for_big_work();
}

#endif							/* NTK_NTK_H */
