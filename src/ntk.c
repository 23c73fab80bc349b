/*-------------------------------------------------------------------------
 *
 * ntk.c
 *	  Module initialization (each subsystem registers its own settings), and
 *	  big allocations with the memory settings of a fit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/memnodes.h"
#include "utils/guc.h"

#include "gram.h"
#include "model.h"
#include "ntk.h"
#include "threads.h"

#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>

PG_MODULE_MAGIC;

int			ntk_max_memory_kb = 0;
int			ntk_max_memory_limit_kb = 0;

void		_PG_init(void);

/* Half of the physical memory in kB, or 4GB if the system does not say. */
static int
DefaultMaxMemoryKb(void)
{
	long		pages = sysconf(_SC_PHYS_PAGES);
	long		page_size = sysconf(_SC_PAGESIZE);
	double		kb;

	if (pages <= 0 || page_size <= 0)
		return 4 * 1024 * 1024;
	kb = (double) pages * (double) page_size / 1024.0 / 2.0;
	return kb > (double) INT_MAX ? INT_MAX : (int) kb;
}

void
_PG_init(void)
{
	/* the recursion's workers stop at a cancel between rows (gram.h) */
	ntk_set_stop_flags(&QueryCancelPending, &ProcDiePending);

	ntk_threads_init();

	DefineCustomIntVariable("ntk.max_memory",
							"Memory a single fit may use.",
							"A fit whose estimated peak is larger is refused before allocating. "
							"The default is half of the physical memory.",
							&ntk_max_memory_kb,
							DefaultMaxMemoryKb(), 1024, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ntk.max_memory_limit",
							"Most memory a single fit may use, whatever ntk.max_memory says.",
							"The default is half of the physical memory.",
							&ntk_max_memory_limit_kb,
							DefaultMaxMemoryKb(), 1024, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	ntk_model_cache_init();

	MarkGUCPrefixReserved("ntk");
}

/* below this, huge pages would not pay for themselves */
#define NTK_HUGEPAGE_MIN ((size_t) 8 * 1024 * 1024)

void
ntk_advise_huge(void *ptr, size_t size)
{
#ifdef MADV_HUGEPAGE
	long		page_size = sysconf(_SC_PAGESIZE);
	uintptr_t	start;
	uintptr_t	end;

	if (size < NTK_HUGEPAGE_MIN || page_size <= 0)
		return;
	start = TYPEALIGN(page_size, (uintptr_t) ptr);
	end = TYPEALIGN_DOWN(page_size, (uintptr_t) ptr + size);
	/* advice only: a kernel without transparent huge pages just says no */
	if (end > start)
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
#endif
}

void *
ntk_alloc_huge(MemoryContext cxt, size_t size)
{
	void	   *ptr = MemoryContextAllocHuge(cxt, size);

	ntk_advise_huge(ptr, size);
	return ptr;
}

struct NtkGrowable
{
	MemoryContextCallback cb;
	MemoryContext cxt;
	void	   *addr;			/* NULL until the first resize */
	size_t		size;			/* mapped bytes, a multiple of the page size */
};

static void
GrowableRelease(void *arg)
{
	NtkGrowable *g = (NtkGrowable *) arg;

	if (g->addr != NULL)
		(void) munmap(g->addr, g->size);
	g->addr = NULL;
	g->size = 0;
}

NtkGrowable *
ntk_growable_create(MemoryContext cxt)
{
	NtkGrowable *g = MemoryContextAllocZero(cxt, sizeof(NtkGrowable));

	g->cxt = cxt;
	g->cb.func = GrowableRelease;
	g->cb.arg = g;
	MemoryContextRegisterResetCallback(cxt, &g->cb);
	return g;
}

void *
ntk_growable_resize(NtkGrowable *g, size_t size)
{
	long		page_size = sysconf(_SC_PAGESIZE);
	size_t		want;
	void	   *addr;

	if (page_size <= 0)
		page_size = 4096;
	if (size == 0 || size > SIZE_MAX - (size_t) page_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("invalid memory alloc request size %zu", size)));
	want = TYPEALIGN((size_t) page_size, size);
	if (want == g->size)
		return g->addr;
	if (g->addr == NULL)
		addr = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else
	{
#ifdef MREMAP_MAYMOVE
		addr = mremap(g->addr, g->size, want, MREMAP_MAYMOVE);
#else
		/* no mremap (not Linux): a new mapping and one copy */
		addr = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (addr != MAP_FAILED)
		{
			memcpy(addr, g->addr, Min(g->size, want));
			(void) munmap(g->addr, g->size);
		}
#endif
	}
	if (addr == MAP_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu in memory context \"%s\".",
						   size, g->cxt->name)));
	g->addr = addr;
	g->size = want;
	ntk_advise_huge(addr, want);
	return addr;
}

int
ntk_allowed_memory_kb(const char **setting)
{
	if (ntk_max_memory_limit_kb < ntk_max_memory_kb)
	{
		*setting = "ntk.max_memory_limit";
		return ntk_max_memory_limit_kb;
	}
	*setting = "ntk.max_memory";
	return ntk_max_memory_kb;
}
