/*-------------------------------------------------------------------------
 *
 * recursion_avx2.c
 *	  The layer recursion four pairs per instruction, with AVX2 and FMA.
 *
 * recursion_simd.h's template on __m256d; masks are vectors of all-ones or
 * zero lanes, and a select is a blend.  recursion.c calls these functions
 * only where the processor has AVX2 and FMA (checked at run time, so the
 * build runs anywhere).
 *
 *-------------------------------------------------------------------------
 */
#include "recursion.h"
#include "layer.h"

#include <string.h>

#ifdef NTK_HAVE_SIMD_PATHS
#include <immintrin.h>

#define SIMD_TARGET __attribute__((target("avx2,fma")))
#define SIMD(name) name##_avx2
#define V __m256d
#define M __m256d
#define LANES 4
#define SIMD_ALIGN 32
#define SIMD_RELU_PASSES 3
#define SIMD_RELU_GROUP 8

/*
 * blend: mask ? a : b.  In assembly because GCC 12 rewrites
 * _mm256_blendv_pd of a comparison's mask into a vpcmpgtq on the mask's
 * sign and a blend: an extra instruction per select.
 */
SIMD_TARGET static inline __attribute__((always_inline)) __m256d
Select(__m256d mask, __m256d a, __m256d b)
{
	__m256d		r;

	__asm__("vblendvpd %3, %2, %1, %0" : "=x"(r) : "x"(b), "xm"(a), "x"(mask));
	return r;
}

#define VSET1(x) _mm256_set1_pd(x)
#define VZERO() _mm256_setzero_pd()
#define VLOAD(p) _mm256_load_pd(p)
#define VLOADU(p) _mm256_loadu_pd(p)
#define VSTORE(p, v) _mm256_store_pd(p, v)
#define VSTOREU(p, v) _mm256_storeu_pd(p, v)
#define VADD(a, b) _mm256_add_pd(a, b)
#define VSUB(a, b) _mm256_sub_pd(a, b)
#define VMUL(a, b) _mm256_mul_pd(a, b)
#define VDIV(a, b) _mm256_div_pd(a, b)
#define VSQRT(a) _mm256_sqrt_pd(a)
#define VMIN(a, b) _mm256_min_pd(a, b)
#define VMAX(a, b) _mm256_max_pd(a, b)
#define VABS(a) _mm256_andnot_pd(_mm256_set1_pd(-0.0), a)
#define VAND(a, b) _mm256_and_pd(a, b)
#define VOR(a, b) _mm256_or_pd(a, b)
#define VFMADD(a, b, c) _mm256_fmadd_pd(a, b, c)
#define VFNMADD(a, b, c) _mm256_fnmadd_pd(a, b, c)
#define VFMSUB(a, b, c) _mm256_fmsub_pd(a, b, c)
#define VBARRIER(v) __asm__("" : "+x"(v))
#define VCMP(a, b, pred) _mm256_cmp_pd(a, b, pred)
#define MAND(m, n) _mm256_and_pd(m, n)
#define MOR(m, n) _mm256_or_pd(m, n)
#define MANDNOT(m, n) _mm256_andnot_pd(m, n)
#define MANY(m) (_mm256_movemask_pd(m) != 0)
#define MALL(m) (_mm256_movemask_pd(m) == 0xf)
#define VSEL(m, a, b) Select(m, a, b)
#define VMASKZ(m, a) _mm256_and_pd(m, a)
/* GCC fuses the product this is given into an fma with the sum */
#define VMASK_ADD(a, m, b) _mm256_add_pd(a, _mm256_and_pd(m, b))
#define VREFLECT(a, m, c) Select(m, _mm256_sub_pd(c, a), a)
/* a mask per pair, so that pair i's is at arr + i as its values are */
#define MASKS(name) double name[CHUNK]
#define MSTORE(arr, i, m) _mm256_store_pd((arr) + (i), m)
#define MLOAD(arr, i) _mm256_load_pd((arr) + (i))

#include "recursion_simd.h"

/*
 * A prefilter of recursion.c's FindClose, four pairs per instruction: bit i
 * set where pair i may be close, by a threshold twice as wide (so that no
 * rounding of this test can miss a pair that ntk_pair_is_close takes).
 */
SIMD_TARGET uint64_t
ntk_close_candidates_avx2(const NtkParams *p, int d, const double *vals,
						  int count, const double *rt, double rz0)
{
	__m256d		a = _mm256_set1_pd(p->sigma_w * p->sigma_w / d);
	__m256d		b = _mm256_set1_pd(p->sigma_b * p->sigma_b);
	__m256d		thr = _mm256_set1_pd((1.0 - 2 * NTK_CLOSE) * rz0);
	__m256d		zero = _mm256_setzero_pd();
	__m256d		absmask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffLL));
	uint64_t	mask = 0;
	int			i;

	for (i = 0; i + 4 <= count; i += 4)
	{
		__m256d		s = _mm256_mul_pd(_mm256_loadu_pd(rt + i), thr);
		__m256d		k1 = _mm256_and_pd(_mm256_add_pd(_mm256_mul_pd(a, _mm256_loadu_pd(vals + i)), b), absmask);
		__m256d		m = _mm256_and_pd(_mm256_cmp_pd(s, zero, _CMP_GT_OQ),
									  _mm256_cmp_pd(k1, s, _CMP_GE_OQ));

		mask |= (uint64_t) _mm256_movemask_pd(m) << i;
	}
	for (; i < count; i++)
		mask |= (uint64_t) 1 << i;	/* the tail: the exact test decides */
	return mask;
}

#endif							/* NTK_HAVE_SIMD_PATHS */
