/*-------------------------------------------------------------------------
 *
 * recursion.h
 *	  The layer recursion over many pairs at once (pure numerics).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_RECURSION_H
#define NTK_RECURSION_H

#include "kernel.h"

/*
 * Layer-major copy of n points' diagonal states: kt[l * n + i] = K_l(x_i,x_i)
 * and rt[l * n + i] = its root, for l = 0 .. depth, then the norms
 * rt[(depth + 1) * n + i] = |x_i|.  kt must hold (depth + 1) * n doubles, rt
 * (depth + 2) * n; the table of ntk_gram_work_len is kt followed by rt.
 */
extern void ntk_diag_transpose(const NtkParams *p, const double *diag, int n,
							   double *kt, double *rt);

/*
 * ntk_recurse_segment picks the vector or the portable path per block of
 * NTK_RECURSE_BLOCK rows counted from the start of the segment; a segment
 * split at multiples of it gives bit-identical values, so a caller that
 * divides work that way gets results independent of the thread count.
 */
#define NTK_RECURSE_BLOCK 64

/*
 * Turns count dot products vals[i] = <x_i, z> in place into kernel values
 * k(x_i, z).  Row i's diagonal is kt[l * stride + i], rt[l * stride + i]
 * (its norm rt[(depth + 1) * stride + i]);
 * zdiag is z's own state (ntk_point_diag layout).  Values that leave the
 * float64 range come out as Inf or NaN; the caller checks.  X (row i at
 * X + i * d) and z are the points themselves: pairs within NTK_CLOSE of
 * parallel or antiparallel take the exact route from them
 * (ntk_pair_close), so every path gives ntk_pair_vectors's values.  With X
 * NULL (benchmarks of the recursion alone) no pair does.
 *
 * Uses AVX-512 or AVX2 and FMA when the processor has them (chosen at run
 * time), else portable C; all run the same steps (layer.h), except that the
 * vector erf layer takes its angle from ntk_atan2_pos where the portable
 * one calls libm's atan2 (an ulp apart).
 */
extern void ntk_recurse_segment(const NtkParams *p, NtkKernelKind kind, int d,
								double *vals, int count,
								const double *kt, const double *rt,
								size_t stride, const double *zdiag,
								const double *X, const double *z);

/*
 * The path in use (for benchmarks and tests): 0 portable C, 1 AVX2 and FMA
 * (four pairs per instruction), 2 AVX-512 (eight).
 */
extern int	ntk_recursion_vectorized(void);

/*
 * Path choice, for tests and benchmarks: NTK_PATH_AUTO picks the best the
 * processor has, the others force a path (one the processor lacks falls
 * back to the best it has).
 */
#define NTK_PATH_AUTO 0
#define NTK_PATH_PORTABLE 1
#define NTK_PATH_AVX2 2			/* AVX2 and FMA even where AVX-512 is there */

extern void ntk_recursion_force_path(int path);

/*
 * What the processor has, whatever path is forced: 0 neither of the below,
 * 1 AVX2 and FMA, 2 also AVX-512 F, DQ and VL.  Checked once.
 */
extern int	ntk_cpu_level(void);

/*
 * Between recursion.c and its vector paths, recursion_avx2.c and
 * recursion_avx512.c (one template, recursion_simd.h): the recursion of
 * count pairs on each path, arguments as for ntk_recurse_segment without
 * the points.
 */
extern void ntk_recurse_portable(const NtkParams *p, NtkKernelKind kind, int d,
								 double *vals, int count, const double *kt,
								 const double *rt, size_t stride,
								 const double *zdiag);

#if defined(__x86_64__) && defined(__GNUC__)
#define NTK_HAVE_SIMD_PATHS 1
#include <stdint.h>

#define NTK_SIMD_PATH_DECL(name) \
	extern void name(const NtkParams *p, NtkKernelKind kind, int d, \
					 double *vals, int count, const double *kt, \
					 const double *rt, size_t stride, const double *zdiag)
NTK_SIMD_PATH_DECL(ntk_recurse_relu_avx2);
NTK_SIMD_PATH_DECL(ntk_recurse_erf_avx2);
NTK_SIMD_PATH_DECL(ntk_recurse_relu_avx512);
NTK_SIMD_PATH_DECL(ntk_recurse_erf_avx512);
#undef NTK_SIMD_PATH_DECL

/*
 * A prefilter of the close pairs (recursion.c's FindClose), AVX2: bit i set
 * where pair i of count (<= 64) may be close.
 */
extern uint64_t ntk_close_candidates_avx2(const NtkParams *p, int d,
										  const double *vals, int count,
										  const double *rt, double rz0);
#endif

#endif							/* NTK_RECURSION_H */
