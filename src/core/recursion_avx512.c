/*-------------------------------------------------------------------------
 *
 * recursion_avx512.c
 *	  The layer recursion eight pairs per instruction, with AVX-512.
 *
 * recursion_simd.h's template on __m512d (AVX-512 F, DQ and VL); masks are
 * mask registers, so most selects fold into masked arithmetic.  On one
 * Cooper Lake core a pair and layer took 1.7 ns instead of the four-lane
 * path's 3.4; on one core of a Zen 5 EPYC (cpuid family 26), whose divider
 * takes eight lanes in the time of four, 1.4-1.5 ns for ReLU and 1.5 for erf
 * (four lanes 2.3 and 2.5).  recursion.c calls these functions only where
 * the processor has AVX-512.
 *
 *-------------------------------------------------------------------------
 */
#include "recursion.h"
#include "layer.h"

#include <string.h>

#ifdef NTK_HAVE_SIMD_PATHS
#include <immintrin.h>

#define SIMD_TARGET __attribute__((target("avx2,fma,avx512f,avx512dq,avx512vl")))
#define SIMD(name) name##_avx512
#define V __m512d
#define M __mmask8
#define LANES 8
#define SIMD_ALIGN 64
#define SIMD_RELU_PASSES 2
#define SIMD_RELU_GROUP 16

#define VSET1(x) _mm512_set1_pd(x)
#define VZERO() _mm512_setzero_pd()
#define VLOAD(p) _mm512_load_pd(p)
#define VLOADU(p) _mm512_loadu_pd(p)
#define VSTORE(p, v) _mm512_store_pd(p, v)
#define VSTOREU(p, v) _mm512_storeu_pd(p, v)
#define VADD(a, b) _mm512_add_pd(a, b)
#define VSUB(a, b) _mm512_sub_pd(a, b)
#define VMUL(a, b) _mm512_mul_pd(a, b)
#define VDIV(a, b) _mm512_div_pd(a, b)
#define VSQRT(a) _mm512_sqrt_pd(a)
#define VMIN(a, b) _mm512_min_pd(a, b)
#define VMAX(a, b) _mm512_max_pd(a, b)
#define VABS(a) _mm512_abs_pd(a)
#define VAND(a, b) _mm512_and_pd(a, b)
#define VOR(a, b) _mm512_or_pd(a, b)
#define VFMADD(a, b, c) _mm512_fmadd_pd(a, b, c)
#define VFNMADD(a, b, c) _mm512_fnmadd_pd(a, b, c)
#define VFMSUB(a, b, c) _mm512_fmsub_pd(a, b, c)
#define VBARRIER(v) __asm__("" : "+v"(v))
#define VCMP(a, b, pred) _mm512_cmp_pd_mask(a, b, pred)
#define MAND(m, n) ((__mmask8) ((m) & (n)))
#define MOR(m, n) ((__mmask8) ((m) | (n)))
#define MANDNOT(m, n) ((__mmask8) (~(m) & (n)))
#define MANY(m) ((m) != 0)
#define MALL(m) ((m) == 0xff)
#define VSEL(m, a, b) _mm512_mask_mov_pd(b, m, a)
#define VMASKZ(m, a) _mm512_maskz_mov_pd(m, a)
/* a masked add: never fused with the product it is given */
#define VMASK_ADD(a, m, b) _mm512_mask_add_pd(a, m, a, b)
#define VREFLECT(a, m, c) _mm512_mask_sub_pd(a, m, c, a)
/* a mask per eight pairs, a byte */
#define MASKS(name) __mmask8 name[CHUNK / 8]
#define MSTORE(arr, i, m) ((arr)[(unsigned) (i) / 8] = (m))
#define MLOAD(arr, i) ((arr)[(unsigned) (i) / 8])

#include "recursion_simd.h"

#endif							/* NTK_HAVE_SIMD_PATHS */
