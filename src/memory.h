/*-------------------------------------------------------------------------
 *
 * memory.h
 *	  Memory: the fit memory guard and its settings (ntk.max_memory,
 *	  ntk.max_memory_limit), big allocations and growable buffers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_MEMORY_H
#define NTK_MEMORY_H

#include "postgres.h"

#include "validate.h"

/* ntk.exact_storage: how an exact fit stores its kernel matrix. */
typedef enum NtkStorage
{
	NTK_STORAGE_AUTO,			/* full if that fits the guard, else packed */
	NTK_STORAGE_FULL,
	NTK_STORAGE_PACKED
} NtkStorage;

/*
 * Registers ntk.max_memory, ntk.max_memory_limit and ntk.exact_storage
 * (from _PG_init).
 */
extern void ntk_memory_init(void);

/* A fit's memory bound: ntk.max_memory capped by ntk.max_memory_limit. */
extern int	ntk_allowed_memory_kb(const char **setting);

/*
 * True if an exact fit of n rows stores its kernel matrix and factor as the
 * lower triangle (packed.h): as ntk.exact_storage says, and for "auto" when
 * the full matrix would not fit the guard; never for model selection or a
 * finite time (an eigendecomposition of the full matrix), and in "auto"
 * not for "variance" (it stores the full factor).
 */
extern bool ntk_fit_packed(double n, double d, double k,
						   const NtkFitOptions *opts);

/*
 * Refuses, with SQLSTATE 54000, a fit whose estimated peak exceeds the
 * bound.  While the rows are being read (partial), n is the count so far:
 * the fit needs at least that.  The estimate is of the storage
 * ntk_fit_packed chooses; the hint gives the most rows that fit and, for
 * options that need the full matrix, whether a fit without them would.
 */
extern void ntk_check_memory(const char *name, double n, double d, double k,
							 const NtkFitOptions *opts, bool partial);

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

#endif							/* NTK_MEMORY_H */
