/*-------------------------------------------------------------------------
 *
 * recursion.c
 *	  The layer recursion over a column of pairs, vectorized.
 *
 * A Gram panel holds dot products <x_i, z> for many rows i and one column
 * point z.  The portable path runs layer.h's scalar recursion on each
 * pair.  On x86-64 processors with AVX2 and FMA (checked at run time, so the
 * build runs anywhere) the ReLU and erf recursions run four pairs per
 * instruction over chunks of rows that stay in L1 cache across all layers
 * (recursion_avx2.c), with AVX-512 eight (recursion_avx512.c), both from
 * one template (recursion_simd.h); atan2 is the same range reduction and
 * minimax polynomial as ntk_atan2_pos.  This file chooses the path and
 * sends the close pairs to the exact route.
 *
 *-------------------------------------------------------------------------
 */
#include "recursion.h"
#include "layer.h"

#include <stdint.h>
#include <string.h>

static int	force_path = NTK_PATH_AUTO;

void
ntk_diag_transpose(const NtkParams *p, const double *diag, int n,
				   double *kt, double *rt)
{
	size_t		len = ntk_diag_len(p);
	int			L1 = p->depth + 1;
	int			i;
	int			l;

	for (i = 0; i < n; i++)
	{
		const double *di = diag + (size_t) i * len;

		for (l = 0; l < L1; l++)
		{
			kt[(size_t) l * n + i] = di[l];
			rt[(size_t) l * n + i] = di[L1 + l];
		}
		rt[(size_t) L1 * n + i] = di[2 * L1 + 1];	/* the norm */
	}
}

void
ntk_recurse_portable(const NtkParams *p, NtkKernelKind kind, int d,
					 double *vals, int count, const double *kt,
					 const double *rt, size_t stride, const double *zdiag)
{
	int			L1 = p->depth + 1;
	int			i;

	for (i = 0; i < count; i++)
	{
		double		nngp;
		double		ntk;

		ntk_pair_strided(p, vals[i], d, kt + i, rt + i, stride,
						 zdiag, zdiag + L1, 1, &nngp, &ntk);
		vals[i] = kind == NTK_KERNEL_NNGP ? nngp : ntk;
	}
}

#ifdef NTK_HAVE_SIMD_PATHS

/* 0: portable only, 1: AVX2 and FMA, 2: also AVX-512 F, DQ and VL */
static int
CpuLevel(void)
{
	static int	level = -1;

	if (level < 0)
	{
		__builtin_cpu_init();
		level = 0;
		if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
			level = 1;
		if (level == 1 && __builtin_cpu_supports("avx512f") &&
			__builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
			level = 2;
	}
	return level;
}

#else

static int
CpuLevel(void)
{
	return 0;
}

#endif							/* NTK_HAVE_SIMD_PATHS */

int
ntk_cpu_level(void)
{
	return CpuLevel();
}

int
ntk_recursion_vectorized(void)
{
	int			level = CpuLevel();

	if (force_path == NTK_PATH_PORTABLE)
		return 0;
	if (force_path == NTK_PATH_AVX2 && level > 1)
		return 1;
	return level;
}

void
ntk_recursion_force_path(int path)
{
	force_path = path;
}

/* The path's recursion of count pairs (see ntk_recurse_segment). */
static void
RecursePath(const NtkParams *p, NtkKernelKind kind, int d,
			double *vals, int count, const double *kt,
			const double *rt, size_t stride, const double *zdiag)
{
#ifdef NTK_HAVE_SIMD_PATHS
	switch (ntk_recursion_vectorized())
	{
		case 2:
			if (p->activation == NTK_RELU)
				ntk_recurse_relu_avx512(p, kind, d, vals, count, kt, rt, stride, zdiag);
			else
				ntk_recurse_erf_avx512(p, kind, d, vals, count, kt, rt, stride, zdiag);
			return;
		case 1:
			if (p->activation == NTK_RELU)
				ntk_recurse_relu_avx2(p, kind, d, vals, count, kt, rt, stride, zdiag);
			else
				ntk_recurse_erf_avx2(p, kind, d, vals, count, kt, rt, stride, zdiag);
			return;
		default:
			break;
	}
#endif
	ntk_recurse_portable(p, kind, d, vals, count, kt, rt, stride, zdiag);
}

/*
 * Finds the pairs among count (<= NTK_RECURSE_BLOCK) dot products that
 * ntk_pair_is_close sends to the exact route: their indices into idx, their
 * dot products into dots; returns how many.  The test is ntk_pair_is_close's
 * own on every path (so every path picks the same pairs), after a vector
 * prefilter where the processor has one.
 */
static int
FindClose(const NtkParams *p, int d, const double *vals, int count,
		  const double *rt, double rz0, int *idx, double *dots)
{
	uint64_t	mask = count >= 64 ? ~(uint64_t) 0 : ((uint64_t) 1 << count) - 1;
	int			n = 0;

#ifdef NTK_HAVE_SIMD_PATHS
	if (CpuLevel() > 0)
		mask = ntk_close_candidates_avx2(p, d, vals, count, rt, rz0);
#endif
	while (mask)
	{
		int			i = __builtin_ctzll(mask);

		mask &= mask - 1;
		if (ntk_pair_is_close(ntk_input_layer(p, vals[i], d), rt[i], rz0))
		{
			idx[n] = i;
			dots[n++] = vals[i];
		}
	}
	return n;
}

void
ntk_recurse_segment(const NtkParams *p, NtkKernelKind kind, int d,
					double *vals, int count, const double *kt,
					const double *rt, size_t stride, const double *zdiag,
					const double *X, const double *z)
{
	int			L1 = p->depth + 1;
	int			b0;

	if (X == NULL)
	{
		RecursePath(p, kind, d, vals, count, kt, rt, stride, zdiag);
		return;
	}

	/*
	 * Block by block (the vector paths' own chunks, so no value changes):
	 * the close pairs are found before the recursion overwrites their dot
	 * products, then recomputed on the exact route.
	 */
	for (b0 = 0; b0 < count; b0 += NTK_RECURSE_BLOCK)
	{
		int			c = count - b0 < NTK_RECURSE_BLOCK ? count - b0 : NTK_RECURSE_BLOCK;
		int			idx[NTK_RECURSE_BLOCK];
		double		dots[NTK_RECURSE_BLOCK];
		int			nclose = FindClose(p, d, vals + b0, c, rt + b0, zdiag[L1], idx, dots);
		int			j;

		RecursePath(p, kind, d, vals + b0, c, kt + b0, rt + b0, stride, zdiag);
		for (j = 0; j < nclose; j++)
		{
			int			i = b0 + idx[j];
			double		k;
			double		t;

			if (ntk_pair_close(p, dots[j], X + (size_t) i * d, z, d,
							   rt[(size_t) L1 * stride + i], kt + i, rt + i, stride,
							   zdiag, &k, &t))
				vals[i] = kind == NTK_KERNEL_NNGP ? k : t;
		}
	}
}
