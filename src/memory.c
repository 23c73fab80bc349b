/*-------------------------------------------------------------------------
 *
 * memory.c
 *	  Memory: the fit memory guard and its settings, big allocations advised
 *	  for transparent huge pages, and buffers that grow in place.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nodes/memnodes.h"
#include "utils/guc.h"

#include "krr.h"
#include "memory.h"

static int	ntk_max_memory_kb = 0;
static int	ntk_max_memory_limit_kb = 0;
static int	ntk_exact_storage = NTK_STORAGE_AUTO;

static const struct config_enum_entry storage_options[] = {
	{"auto", NTK_STORAGE_AUTO, false},
	{"full", NTK_STORAGE_FULL, false},
	{"packed", NTK_STORAGE_PACKED, false},
	{NULL, 0, false}
};

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
ntk_memory_init(void)
{
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

	DefineCustomEnumVariable("ntk.exact_storage",
							 "How an exact fit stores its kernel matrix.",
							 "auto: the full n x n matrix if the fit fits ntk.max_memory so, "
							 "otherwise its lower triangle (half the memory); "
							 "full or packed: always that.",
							 &ntk_exact_storage,
							 NTK_STORAGE_AUTO, storage_options,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
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

/* An eigendecomposition or the stored factor needs the full n x n matrix. */
static bool
NeedsFullMatrix(const NtkFitOptions *opts)
{
	return opts->has_t || opts->variance || ntk_options_searching(opts);
}

bool
ntk_fit_packed(double n, double d, double k, const NtkFitOptions *opts)
{
	const char *setting;

	/* an eigendecomposition works on the full matrix; Nystrom on none */
	if (opts->has_t || ntk_options_searching(opts) ||
		opts->method == NTK_METHOD_NYSTROM)
		return false;
	switch ((NtkStorage) ntk_exact_storage)
	{
		case NTK_STORAGE_FULL:
			return false;
		case NTK_STORAGE_PACKED:
			return true;
		case NTK_STORAGE_AUTO:
			break;
	}
	/* "variance" stores the full factor: the triangle would only add to it */
	return !opts->variance &&
		ntk_fit_peak_bytes(n, d, k, opts) >
		(double) ntk_allowed_memory_kb(&setting) * 1024.0;
}

/* What the guard estimates for n rows, in the storage the fit would use. */
static double
NeedBytes(double n, double d, double k, const NtkFitOptions *opts)
{
	return ntk_fit_packed(n, d, k, opts) ?
		ntk_fit_packed_peak_bytes(n, d, k, opts) : ntk_fit_peak_bytes(n, d, k, opts);
}

/* The most rows whose fit the guard allows (bisection: the need grows with n). */
static double
MaxRows(double d, double k, const NtkFitOptions *opts, double allowed)
{
	double		lo = 0.0;
	double		hi = (double) INT_MAX;

	while (hi - lo > 1.0)
	{
		double		mid = floor((lo + hi) / 2.0);

		if (NeedBytes(mid, d, k, opts) <= allowed)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

void
ntk_check_memory(const char *name, double n, double d, double k,
				 const NtkFitOptions *opts, bool partial)
{
	double		need = NeedBytes(n, d, k, opts);
	const char *setting;
	double		allowed = (double) ntk_allowed_memory_kb(&setting) * 1024.0;
	double		need_mb = ceil(need / (1024.0 * 1024.0));
	double		allowed_mb = floor(allowed / (1024.0 * 1024.0));
	unsigned long rows = n < (double) ULONG_MAX ? (unsigned long) n : ULONG_MAX;
	NtkFitSizes sizes;
	NtkFitOptions plain;
	unsigned long max_rows;
	unsigned long plain_rows;

	/* the size_t products the buffers will be allocated with must not wrap */
	if (need <= allowed &&
		ntk_fit_sizes((int64_t) n, (int64_t) d, (int64_t) Max(k, 1.0), &sizes) == NTK_OK)
		return;

	max_rows = (unsigned long) MaxRows(d, k, opts, allowed);
	/* an exact fit without what needs the full matrix */
	plain = *opts;
	plain.has_t = plain.variance = plain.ridge_auto = false;
	plain.n_ridges = plain.n_depths = 0;
	plain_rows = (unsigned long) MaxRows(d, k, &plain, allowed);

	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("ntk fit of model \"%s\" needs more memory than allowed", name),
			 partial ?
			 errdetail_plural("With the %.0f row of %.0f features read so far, the fit needs at least %.0f MB, and %s is %.0f MB; the remaining rows were not read.",
							  "With the %.0f rows of %.0f features read so far, the fit needs at least %.0f MB, and %s is %.0f MB; the remaining rows were not read.",
							  rows, n, d, need_mb, setting, allowed_mb) :
			 errdetail_plural("A fit of %.0f row of %.0f features needs about %.0f MB, and %s is %.0f MB.",
							  "A fit of %.0f rows of %.0f features needs about %.0f MB, and %s is %.0f MB.",
							  rows, n, d, need_mb, setting, allowed_mb),
			 opts->method == NTK_METHOD_NYSTROM ?
			 errhint("Raise ntk.max_memory, or use fewer \"centers\".") :
			 NeedsFullMatrix(opts) ?
			 errhint("%s needs the full n x n kernel matrix: at most %lu rows fit with it, and %lu without it.",
					 opts->has_t ? "The option \"t\"" :
					 ntk_options_searching(opts) ? "Model selection" :
					 "The option \"variance\"",
					 max_rows, plain_rows) :
			 errhint("Raise ntk.max_memory, or fit on at most %lu rows (for example with TABLESAMPLE).",
					 max_rows)));
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
