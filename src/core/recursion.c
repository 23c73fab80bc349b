/*-------------------------------------------------------------------------
 *
 * recursion.c
 *	  The layer recursion over a column of pairs, vectorized.
 *
 * A Gram panel holds dot products <x_i, z> for many rows i and one column
 * point z.  The portable path runs layer.h's scalar recursion on each
 * pair.  On x86-64 processors with AVX2 and FMA (checked at run time, so the
 * build runs anywhere) the ReLU and erf recursions run four pairs per
 * instruction over chunks of rows that stay in L1 cache across all layers;
 * atan2 is the same range reduction and minimax polynomial as
 * ntk_atan2_pos.  Processors with AVX-512 run both eight pairs per
 * instruction.
 *
 *-------------------------------------------------------------------------
 */
#include "recursion.h"
#include "layer.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define NTK_HAVE_AVX2_PATH 1
#include <immintrin.h>
#endif

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

static void
RecursePortable(const NtkParams *p, NtkKernelKind kind, int d,
				double *vals, int count, const double *kt, const double *rt,
				size_t stride, const double *zdiag)
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

#ifdef NTK_HAVE_AVX2_PATH

#define AVX2 __attribute__((target("avx2,fma")))
#define CHUNK NTK_RECURSE_BLOCK	/* a multiple of 8 */

/*
 * blend: mask ? a : b.  In assembly because GCC 12 rewrites
 * _mm256_blendv_pd of a comparison's mask into a vpcmpgtq on the mask's
 * sign and a blend: an extra instruction per select.
 */
AVX2 static inline __attribute__((always_inline)) __m256d
Select(__m256d mask, __m256d a, __m256d b)
{
	__m256d		r;

	__asm__("vblendvpd %3, %2, %1, %0" : "=x"(r) : "x"(b), "xm"(a), "x"(mask));
	return r;
}

/* the next layer's diagonal, loaded only where the bias term needs it */
AVX2 static inline __attribute__((always_inline)) __m256d
zero_if_unused(const int has_b, const double *p)
{
	return has_b ? _mm256_loadu_pd(p) : _mm256_setzero_pd();
}

/* ntk_geo_mean, four lanes */
AVX2 static inline __attribute__((always_inline)) __m256d
GeoMean4(__m256d kx, __m256d kz, __m256d rx, __m256d rz)
{
	__m256d		prod = _mm256_mul_pd(kx, kz);
	__m256d		normal = _mm256_and_pd(_mm256_cmp_pd(prod, _mm256_set1_pd(DBL_MIN), _CMP_GE_OQ),
									   _mm256_cmp_pd(prod, _mm256_set1_pd(DBL_MAX), _CMP_LE_OQ));
	__m256d		s = Select(normal, _mm256_sqrt_pd(prod), _mm256_mul_pd(rx, rz));

	return Select(_mm256_cmp_pd(kx, kz, _CMP_EQ_OQ), kx, s);
}

#define C(k) _mm256_set1_pd(ntk_atan_coef[k])

/*
 * The polynomial in z of ntk_atan_poly by Estrin's scheme: the same
 * coefficients with a dependency chain of 4 FMAs instead of Horner's 11, so
 * the pipelines stay full.  Rounding differs from Horner by an ulp.
 */
#if NTK_ATAN_TERMS != 12
#error "AtanPoly4 is written for 12 coefficients"
#endif
AVX2 static inline __attribute__((always_inline)) __m256d
AtanPoly4(__m256d z)
{
	__m256d		z2 = _mm256_mul_pd(z, z);
	__m256d		z4 = _mm256_mul_pd(z2, z2);
	__m256d		z8 = _mm256_mul_pd(z4, z4);
	__m256d		q0 = _mm256_fmadd_pd(C(1), z, C(0));
	__m256d		q1 = _mm256_fmadd_pd(C(3), z, C(2));
	__m256d		q2 = _mm256_fmadd_pd(C(5), z, C(4));
	__m256d		q3 = _mm256_fmadd_pd(C(7), z, C(6));
	__m256d		q4 = _mm256_fmadd_pd(C(9), z, C(8));
	__m256d		q5 = _mm256_fmadd_pd(C(11), z, C(10));
	__m256d		r0 = _mm256_fmadd_pd(q1, z2, q0);
	__m256d		r1 = _mm256_fmadd_pd(q3, z2, q2);
	__m256d		r2 = _mm256_fmadd_pd(q5, z2, q4);
	__m256d		s0 = _mm256_fmadd_pd(r1, z4, r0);

	return _mm256_fmadd_pd(r2, z8, s0);
}

#undef C

/*
 * GeoMean4 where it matters, rx * rz elsewhere.  The layer uses s only in
 * s + K (the gap K's distance from s is carried separately), so an ulp of s
 * matters only where s + K cancels: nearly antiparallel pairs (K below
 * -0.99 s), where it would move the angle by up to ~1e-8.  Elsewhere the
 * product of the roots (1.5 ulp) moves s + K by at most 1.5 ulp and saves a
 * square root per pair and layer; from the second layer on K >= 0 and the
 * root is never needed.  The choice is per vector of four pairs, so it does
 * not depend on how a column is split between threads.
 */
AVX2 static inline __attribute__((always_inline)) __m256d
GeoMeanFast4(__m256d kx, __m256d kz, __m256d rx, __m256d rz, __m256d K)
{
	__m256d		s = _mm256_mul_pd(rx, rz);
	__m256d		close = _mm256_cmp_pd(_mm256_add_pd(s, K),
									  _mm256_mul_pd(_mm256_set1_pd(1e-2), s), _CMP_LE_OQ);

	if (_mm256_movemask_pd(close))
		return GeoMean4(kx, kz, rx, rz);
	return Select(_mm256_cmp_pd(kx, kz, _CMP_EQ_OQ), kx, s);
}

/*
 * A layer runs in three passes over a chunk.  One layer of four pairs is a
 * dependency chain of ~100 cycles (a square root, a division, the
 * polynomial) and ~75 instructions; as one loop, the out-of-order window
 * held two or three such chains and waited on their latency (14 cycles per
 * pair on Zen 3, 3.4 ns on a Cooper Lake core).  Cut at the division and at
 * the angle, each pass is a short chain repeated over the whole chunk, so
 * many are in flight and the divider and the FMA pipes stay busy (9 cycles
 * per pair on Zen 3).  Between the passes the chunk's intermediates wait in
 * L1 (LayerTemp).  The operations and their order are those of the single
 * loop, so no value changes.  The erf layer's two passes use the same
 * buffers: u, off and swap as here, neg for the sign of 2K, y for the NTK
 * term's factor, same for the pairs that are a point with itself.
 */
typedef struct LayerTemp
{
	double		y[CHUNK];		/* sqrt(delta (s + K)) */
	double		u[CHUNK];		/* the reduced atan argument */
	double		off[CHUNK];		/* pi/4 where the argument was reduced, else 0 */
	double		swap[CHUNK];	/* mask: y > |K|, the angle is pi/2 - a */
	double		neg[CHUNK];		/* mask: K < 0, the angle is pi - a */
	double		use[CHUNK];		/* mask: s > 0 and (y, K) != (0, 0), else pi/2 */
	double		pos[CHUNK];		/* mask: s > 0 */
	double		bias[CHUNK];	/* the gap's bias term (sigma_b > 0) */
	double		theta[CHUNK];	/* the angle */
	double		same[CHUNK];	/* erf, mask: the pair is a point with itself */
} __attribute__((aligned(32))) LayerTemp;

/*
 * The reduction of ntk_atan2_pos(y, x) for y, ax = |x| >= 0, up to and
 * including its division: keeps u, off and swap in t and returns max(y, ax).
 */
AVX2 static inline __attribute__((always_inline)) __m256d
Atan2Reduce4(__m256d y, __m256d ax, LayerTemp *t, int i)
{
	__m256d		lo = _mm256_min_pd(y, ax);
	__m256d		hi = _mm256_max_pd(y, ax);
	__m256d		big = _mm256_cmp_pd(lo, _mm256_mul_pd(_mm256_set1_pd(NTK_TAN_PI_8), hi), _CMP_GT_OQ);
	__m256d		num = Select(big, _mm256_sub_pd(lo, hi), lo);
	__m256d		den = Select(big, _mm256_add_pd(lo, hi), hi);

	_mm256_store_pd(t->u + i, _mm256_div_pd(num, den));
	_mm256_store_pd(t->off + i, _mm256_and_pd(big, _mm256_set1_pd(NTK_PI_4)));
	_mm256_store_pd(t->swap + i, _mm256_cmp_pd(y, ax, _CMP_GT_OQ));
	return hi;
}

/* The rest of ntk_atan2_pos(y, |x|) from t: the polynomial, pi/4, pi/2 - a. */
AVX2 static inline __attribute__((always_inline)) __m256d
Atan2Finish4(const LayerTemp *t, int i)
{
	__m256d		u = _mm256_load_pd(t->u + i);
	__m256d		at = _mm256_mul_pd(u, AtanPoly4(_mm256_mul_pd(u, u)));

	at = _mm256_add_pd(at, _mm256_load_pd(t->off + i));
	return Select(_mm256_load_pd(t->swap + i), _mm256_sub_pd(_mm256_set1_pd(NTK_PI_2), at), at);
}

/*
 * First pass of ntk_relu_layer on four pairs: the geometric mean, y, the
 * reduction of ntk_atan2_pos(y, K) up to its division, and the bias term of
 * the gap.  The caller guarantees variances below NTK_VEC_MAX_VAR, so delta
 * (s + K) <= 4 kx kz cannot overflow.
 */
AVX2 static inline __attribute__((always_inline)) void
ReluReduce4(__m256d a, __m256d b, __m256d ab, const int has_b,
			__m256d kxl, __m256d rxl, __m256d kzl, __m256d rzl,
			__m256d rnx, __m256d rnz,
			const double *Kp, const double *Dp, LayerTemp *t, int i)
{
	__m256d		zero = _mm256_setzero_pd();
	__m256d		K = _mm256_load_pd(Kp);
	__m256d		s = GeoMeanFast4(kxl, kzl, rxl, rzl, K);
	__m256d		spk = _mm256_max_pd(_mm256_add_pd(s, K), zero);
	__m256d		y = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_load_pd(Dp), spk));
	__m256d		pos = _mm256_cmp_pd(s, zero, _CMP_GT_OQ);
	__m256d		hi = Atan2Reduce4(y, _mm256_andnot_pd(_mm256_set1_pd(-0.0), K), t, i);

	_mm256_store_pd(t->y + i, y);
	_mm256_store_pd(t->neg + i, _mm256_cmp_pd(K, zero, _CMP_LT_OQ));
	/* ntk_atan2_pos gives pi/2 for (0, 0), as the layer does for s = 0 */
	_mm256_store_pd(t->use + i, _mm256_andnot_pd(_mm256_cmp_pd(hi, zero, _CMP_EQ_OQ), pos));
	_mm256_store_pd(t->pos + i, pos);
	if (has_b)
	{
		/*
		 * The gap grows by ab (rx - rz)^2 / (s' + a s + b), s' the next
		 * layer's geometric mean; in a denominator the product of the roots
		 * is as good as the correctly rounded root.
		 */
		__m256d		dr = _mm256_sub_pd(rxl, rzl);
		__m256d		bden = _mm256_add_pd(_mm256_fmadd_pd(a, s, _mm256_mul_pd(rnx, rnz)), b);

		_mm256_store_pd(t->bias + i, _mm256_div_pd(_mm256_mul_pd(ab, _mm256_mul_pd(dr, dr)), bden));
	}
}

/* Second pass: the polynomial and the reflections of ntk_atan2_pos. */
AVX2 static inline __attribute__((always_inline)) void
ReluAngle4(LayerTemp *t, int i)
{
	__m256d		at = Atan2Finish4(t, i);

	at = Select(_mm256_load_pd(t->neg + i), _mm256_sub_pd(_mm256_set1_pd(NTK_PI), at), at);
	_mm256_store_pd(t->theta + i, Select(_mm256_load_pd(t->use + i), at, _mm256_set1_pd(NTK_PI_2)));
}

/* Third pass: the layer's update of K, delta and theta. */
AVX2 static inline __attribute__((always_inline)) void
ReluUpdate4(__m256d a, __m256d b, __m256d sw2, const int has_b,
			double *Kp, double *Dp, double *Tp, const LayerTemp *t, int i)
{
	__m256d		K = _mm256_load_pd(Kp);
	__m256d		th = _mm256_load_pd(t->theta + i);
	__m256d		sg = _mm256_and_pd(_mm256_load_pd(t->pos + i),
								   _mm256_fnmadd_pd(th, K, _mm256_load_pd(t->y + i)));
	__m256d		kn = _mm256_fmadd_pd(a, _mm256_fmadd_pd(sg, _mm256_set1_pd(NTK_1_PI), K), b);
	__m256d		dn = _mm256_mul_pd(a, _mm256_fnmadd_pd(sg, _mm256_set1_pd(NTK_1_PI), _mm256_load_pd(Dp)));

	if (has_b)
		dn = _mm256_add_pd(dn, _mm256_load_pd(t->bias + i));
	_mm256_store_pd(Dp, _mm256_max_pd(dn, _mm256_setzero_pd()));
	_mm256_store_pd(Tp, _mm256_fmadd_pd(_mm256_mul_pd(sw2,
													  _mm256_mul_pd(_mm256_sub_pd(_mm256_set1_pd(NTK_PI), th),
																	_mm256_set1_pd(NTK_1_2PI))),
										_mm256_load_pd(Tp), kn));
	_mm256_store_pd(Kp, kn);
}

/*
 * Beyond this variance the vector path hands a chunk to the portable one,
 * and below NTK_VEC_MIN_VAR too (a positive one): there delta (s + K)
 * underflows, which the portable layer handles by splitting the root (deep
 * ReLU kernels with sigma_w^2 <= 2 shrink by half a layer: 1e-181 at depth
 * 600).
 */
#define NTK_VEC_MAX_VAR 1e150
#define NTK_VEC_MIN_VAR 1e-140

/*
 * A ReLU variance goes through an affine map a layer, K' = sigma_w^2 K / 2 +
 * sigma_b^2, so over the layers it is monotone: a point's smallest and
 * largest variance are at its first and last layer, and the range checks
 * read only those two.
 */

/* Runs every layer over c (a multiple of 4) pairs held in K, D, T. */
AVX2 static inline __attribute__((always_inline)) void
ReluLayers(const NtkParams *p, const int has_b, int c,
		   const double *kt, const double *rt, size_t stride,
		   const double *kz, const double *rz,
		   double *K, double *D, double *T, LayerTemp *tmp)
{
	double		sw2_ = p->sigma_w * p->sigma_w;
	double		b_ = p->sigma_b * p->sigma_b;
	__m256d		a = _mm256_set1_pd(sw2_ / 2);
	__m256d		b = _mm256_set1_pd(b_);
	__m256d		ab = _mm256_set1_pd(sw2_ / 2 * b_);
	__m256d		sw2 = _mm256_set1_pd(sw2_);
	int			l;
	int			i;

	for (l = 0; l < p->depth; l++)
	{
		const double *kx = kt + (size_t) l * stride;
		const double *rx = rt + (size_t) l * stride;
		__m256d		kzl = _mm256_set1_pd(kz[l]);
		__m256d		rzl = _mm256_set1_pd(rz[l]);
		__m256d		rnz = _mm256_set1_pd(rz[l + 1]);

		for (i = 0; i < c; i += 4)
			ReluReduce4(a, b, ab, has_b,
						_mm256_loadu_pd(kx + i), _mm256_loadu_pd(rx + i), kzl, rzl,
						zero_if_unused(has_b, rx + stride + i), rnz,
						K + i, D + i, tmp, i);
		for (i = 0; i < c; i += 4)
			ReluAngle4(tmp, i);
		for (i = 0; i < c; i += 4)
			ReluUpdate4(a, b, sw2, has_b, K + i, D + i, T + i, tmp, i);
	}
}

AVX2 static void
RecurseReluAvx2(const NtkParams *p, NtkKernelKind kind, int d,
				double *vals, int count, const double *kt, const double *rt,
				size_t stride, const double *zdiag)
{
	int			L1 = p->depth + 1;
	const double *kz = zdiag;
	const double *rz = zdiag + L1;
	double		sw2 = p->sigma_w * p->sigma_w;
	double		b = p->sigma_b * p->sigma_b;
	__m256d		vsw2 = _mm256_set1_pd(sw2);
	__m256d		vd = _mm256_set1_pd((double) d);
	__m256d		vb = _mm256_set1_pd(b);
	__m256d		k0z = _mm256_set1_pd(kz[0]);
	__m256d		r0z = _mm256_set1_pd(rz[0]);
	double		K[CHUNK] __attribute__((aligned(32)));
	double		D[CHUNK] __attribute__((aligned(32)));
	double		T[CHUNK] __attribute__((aligned(32)));
	LayerTemp	tmp;
	double		zmax = 0.0;
	int			full = count - count % 8;
	int			c0;
	int			l;

	for (l = 0; l < L1; l++)
	{
		zmax = kz[l] > zmax ? kz[l] : zmax;
		if (kz[l] > 0.0 && kz[l] < NTK_VEC_MIN_VAR)
			zmax = INFINITY;	/* tiny: as well the portable path */
	}
	if (!(zmax < NTK_VEC_MAX_VAR))
		full = 0;

	for (c0 = 0; c0 < full; c0 += CHUNK)
	{
		int			c = full - c0 < CHUNK ? full - c0 : CHUNK;
		__m256d		vmax = _mm256_setzero_pd();
		__m256d		vmin = _mm256_set1_pd(INFINITY);	/* of the positive ones */
		int			i;

		/* the extremes over the layers are at the ends (NTK_VEC_MIN_VAR) */
		for (l = 0; l < L1; l += (L1 > 1 ? L1 - 1 : 1))
			for (i = 0; i < c; i += 4)
			{
				__m256d		v = _mm256_loadu_pd(kt + (size_t) l * stride + c0 + i);

				vmax = _mm256_max_pd(vmax, v);
				vmin = _mm256_min_pd(vmin, Select(_mm256_cmp_pd(v, _mm256_setzero_pd(), _CMP_GT_OQ),
												  v, _mm256_set1_pd(INFINITY)));
			}
		if (_mm256_movemask_pd(_mm256_or_pd(_mm256_cmp_pd(vmax, _mm256_set1_pd(NTK_VEC_MAX_VAR), _CMP_GE_OQ),
											_mm256_cmp_pd(vmin, _mm256_set1_pd(NTK_VEC_MIN_VAR), _CMP_LT_OQ))))
		{
			RecursePortable(p, kind, d, vals + c0, c, kt + c0, rt + c0, stride, zdiag);
			continue;
		}

		for (i = 0; i < c; i += 4)
		{
			/* K1 = sw^2 (<x,z> / d) + sb^2, as ntk_input_layer rounds it */
			__m256d		k1 = _mm256_add_pd(_mm256_mul_pd(vsw2, _mm256_div_pd(_mm256_loadu_pd(vals + c0 + i), vd)), vb);
			__m256d		s = GeoMean4(_mm256_loadu_pd(kt + c0 + i), k0z,
									 _mm256_loadu_pd(rt + c0 + i), r0z);
			/* as ntk_pair_strided: s + K of a few ulps is an antiparallel pair */
			__m256d		anti = _mm256_and_pd(_mm256_cmp_pd(s, _mm256_setzero_pd(), _CMP_GT_OQ),
											 _mm256_cmp_pd(_mm256_add_pd(s, k1),
														   _mm256_mul_pd(_mm256_set1_pd(NTK_GAP_SNAP), s),
														   _CMP_LE_OQ));
			__m256d		gap;

			k1 = Select(anti, _mm256_sub_pd(_mm256_setzero_pd(), s), k1);
			gap = _mm256_sub_pd(s, k1);

			_mm256_store_pd(K + i, k1);
			_mm256_store_pd(T + i, k1);
			/* as ntk_pair_strided: a gap of a few ulps is rounding, not an angle */
			_mm256_store_pd(D + i, _mm256_andnot_pd(_mm256_cmp_pd(gap, _mm256_mul_pd(_mm256_set1_pd(NTK_GAP_SNAP), s), _CMP_LE_OQ), gap));
		}
		if (b > 0.0)
			ReluLayers(p, 1, c, kt + c0, rt + c0, stride, kz, rz, K, D, T, &tmp);
		else
			ReluLayers(p, 0, c, kt + c0, rt + c0, stride, kz, rz, K, D, T, &tmp);
		memcpy(vals + c0, kind == NTK_KERNEL_NNGP ? K : T, c * sizeof(double));
	}
	if (full < count)
		RecursePortable(p, kind, d, vals + full, count - full, kt + full,
						rt + full, stride, zdiag);
}

/*
 * Erf variances outside [NTK_ERF_MIN_VAR, NTK_ERF_MAX_VAR] (other than 0)
 * send a chunk to the portable path, where ntk_gram_det scales them by a
 * power of two; inside, its unscaled arithmetic is exact to the same bits
 * (k^2 and its rounding error stay normal numbers).  After the input layer
 * an erf variance is below sigma_w^2 + sigma_b^2.
 */
#define NTK_ERF_MIN_VAR 1e-100
#define NTK_ERF_MAX_VAR 1e99

/* Whether a variance is 0 or within the erf vector path's range (per lane). */
AVX2 static inline __attribute__((always_inline)) __m256d
ErfVarOk4(__m256d v)
{
	return _mm256_or_pd(_mm256_cmp_pd(v, _mm256_setzero_pd(), _CMP_EQ_OQ),
						_mm256_and_pd(_mm256_cmp_pd(v, _mm256_set1_pd(NTK_ERF_MIN_VAR), _CMP_GE_OQ),
									  _mm256_cmp_pd(v, _mm256_set1_pd(NTK_ERF_MAX_VAR), _CMP_LE_OQ)));
}

/*
 * First pass of ntk_erf_layer on four pairs: the determinant, its root and
 * the reduction of atan2(2K, root) up to its division (root >= 1 > 0, so
 * atan2(y, root) = sign(y) ntk_atan2_pos(|y|, root)), and the factor of the
 * NTK term, sigma_w^2 (4/pi) / root.
 */
AVX2 static inline __attribute__((always_inline)) void
ErfReduce4(__m256d sw2, __m256d kxl, __m256d kzl, const double *Kp,
		   LayerTemp *t, int i)
{
	__m256d		k = _mm256_load_pd(Kp);
	__m256d		kk = _mm256_mul_pd(k, k);
	__m256d		err = _mm256_fmsub_pd(k, k, kk);
	__m256d		g = _mm256_sub_pd(_mm256_fmsub_pd(kxl, kzl, kk), err);
	__m256d		det = _mm256_add_pd(_mm256_add_pd(_mm256_set1_pd(1.0),
												  _mm256_mul_pd(_mm256_set1_pd(2.0), _mm256_add_pd(kxl, kzl))),
									_mm256_mul_pd(_mm256_set1_pd(4.0), g));
	/* the exact value is >= 1; max_pd's second operand keeps a NaN */
	__m256d		root = _mm256_sqrt_pd(_mm256_max_pd(_mm256_set1_pd(1.0), det));
	__m256d		y = _mm256_mul_pd(_mm256_set1_pd(2.0), k);

	/* ntk_atan2_pos(|y|, root): y > root is its swap */
	(void) Atan2Reduce4(_mm256_andnot_pd(_mm256_set1_pd(-0.0), y), root, t, i);
	_mm256_store_pd(t->neg + i, _mm256_and_pd(y, _mm256_set1_pd(-0.0)));	/* sign of y */
	_mm256_store_pd(t->y + i, _mm256_div_pd(_mm256_mul_pd(sw2, _mm256_set1_pd(4.0 / NTK_PI)), root));
}

/* Second pass: the angle, then the layer's update of K and theta. */
AVX2 static inline __attribute__((always_inline)) void
ErfUpdate4(__m256d sw2, __m256d b, double *Kp, double *Tp, const LayerTemp *t, int i)
{
	__m256d		at = _mm256_or_pd(Atan2Finish4(t, i), _mm256_load_pd(t->neg + i));	/* copysign */
	__m256d		kn;

	kn = _mm256_add_pd(_mm256_mul_pd(_mm256_mul_pd(sw2, _mm256_set1_pd(2.0 / NTK_PI)), at), b);
	_mm256_store_pd(Tp, _mm256_add_pd(kn, _mm256_mul_pd(_mm256_load_pd(t->y + i), _mm256_load_pd(Tp))));
	_mm256_store_pd(Kp, kn);
}

/* The erf layers eight pairs at a time, on AVX-512 (below). */
static void ErfLayers8(const NtkParams *p, int c, const double *kt, size_t stride,
					   const double *kz, double *K, double *T)
			__attribute__((noinline, target("avx2,fma,avx512f,avx512dq,avx512vl")));

/*
 * The erf recursion four pairs at a time: ntk_erf_layer's steps in its
 * order (GCC fuses some products and sums into fma), with ntk_atan2_pos's
 * reduction and polynomial in place of libm's atan2, an ulp apart: over
 * random pairs the mean error against an 80-bit reference is 0.84 ulp,
 * against 0.79 for the portable path.  Two passes per layer, as for ReLU;
 * 3.5 ns per pair and layer on a Zen 3 core, 56 on the portable path.
 * With AVX-512 the layers run eight pairs at a time (ErfLayers8), with the
 * same values.
 */
AVX2 static void
RecurseErfAvx2(const NtkParams *p, NtkKernelKind kind, int d,
			   double *vals, int count, const double *kt, const double *rt,
			   size_t stride, const double *zdiag)
{
	int			L1 = p->depth + 1;
	const double *kz = zdiag;
	double		sw2_ = p->sigma_w * p->sigma_w;
	double		b_ = p->sigma_b * p->sigma_b;
	__m256d		sw2 = _mm256_set1_pd(sw2_);
	__m256d		b = _mm256_set1_pd(b_);
	__m256d		vd = _mm256_set1_pd((double) d);
	double		K[CHUNK] __attribute__((aligned(64)));
	double		T[CHUNK] __attribute__((aligned(64)));
	__m256d		self = _mm256_set1_pd(ntk_diag_value(p, kind, zdiag));
	LayerTemp	tmp;
	const int	eight = ntk_recursion_vectorized() == 2;
	int			full = count - count % 8;
	int			c0;
	int			l;

	for (l = 0; l < L1; l++)
		if (!(kz[l] == 0.0 || (kz[l] >= NTK_ERF_MIN_VAR && kz[l] <= NTK_ERF_MAX_VAR)))
			full = 0;

	for (c0 = 0; c0 < full; c0 += CHUNK)
	{
		int			c = full - c0 < CHUNK ? full - c0 : CHUNK;
		__m256d		ok = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
		int			i;

		for (l = 0; l < L1; l++)
			for (i = 0; i < c; i += 4)
				ok = _mm256_and_pd(ok, ErfVarOk4(_mm256_loadu_pd(kt + (size_t) l * stride + c0 + i)));
		if (_mm256_movemask_pd(ok) != 0xf)
		{
			RecursePortable(p, kind, d, vals + c0, c, kt + c0, rt + c0, stride, zdiag);
			continue;
		}

		for (i = 0; i < c; i += 4)
		{
			/*
			 * K1 = sw^2 (<x,z> / d) + sb^2, as ntk_input_layer rounds it:
			 * the empty asm keeps GCC from fusing the two into an fma, so
			 * that a point with itself gets its diagonal's K1 to the bit.
			 */
			__m256d		k1 = _mm256_mul_pd(sw2, _mm256_div_pd(_mm256_loadu_pd(vals + c0 + i), vd));

			__asm__("" : "+x"(k1));
			k1 = _mm256_add_pd(k1, b);
			_mm256_store_pd(K + i, k1);
			_mm256_store_pd(T + i, k1);
			_mm256_store_pd(tmp.same + i,
							_mm256_and_pd(_mm256_cmp_pd(k1, _mm256_set1_pd(kz[0]), _CMP_EQ_OQ),
										  _mm256_cmp_pd(k1, _mm256_loadu_pd(kt + c0 + i), _CMP_EQ_OQ)));
		}
		if (eight)
			ErfLayers8(p, c, kt + c0, stride, kz, K, T);
		else
			for (l = 0; l < p->depth; l++)
			{
				const double *kx = kt + (size_t) l * stride + c0;
				__m256d		kzl = _mm256_set1_pd(kz[l]);

				for (i = 0; i < c; i += 4)
					ErfReduce4(sw2, _mm256_loadu_pd(kx + i), kzl, K + i, &tmp, i);
				for (i = 0; i < c; i += 4)
					ErfUpdate4(sw2, b, K + i, T + i, &tmp, i);
			}

		/*
		 * A point with itself (K1 equal to both diagonals: the same point,
		 * with exact dot products) gets its self kernel, as on the
		 * portable path, whose layers are the diagonal's to the bit.  Here
		 * an ulp of the angle would be enough to lose it: where sigma_w^2
		 * E[erf'^2] > 1 (the chaotic phase) the correlation 1 is unstable,
		 * and at depth 100 that ulp decorrelates the pair (5.2 for 9.0).
		 */
		for (i = 0; i < c; i += 4)
			_mm256_storeu_pd(vals + c0 + i,
							 Select(_mm256_load_pd(tmp.same + i), self,
									_mm256_load_pd((kind == NTK_KERNEL_NNGP ? K : T) + i)));
	}
	if (full < count)
		RecursePortable(p, kind, d, vals + full, count - full, kt + full,
						rt + full, stride, zdiag);
}

/*
 * The same recursion eight pairs at a time with AVX-512 (F, DQ, VL).  Masks
 * replace the four-lane path's blends, and most of its selects fold into the
 * masked arithmetic itself (a reflection pi - a is one masked subtraction),
 * so a pair and layer take about half the instructions (1.7 instead of 3.4
 * ns per pair and layer on one Cooper Lake core).  On one core of a Zen 5
 * EPYC (cpuid family 26) that gained little as one loop per layer: 2.0 ns,
 * the four-lane path in passes 2.3.  Its divider takes eight lanes in the
 * time of four, and the layer now runs in passes over the chunk like the
 * four-lane one, so that many of its chains are in flight: 1.4-1.5 ns
 * (ReluLayers8; erf, ErfLayers8: 1.5 ns, four lanes 2.5).  The ReLU values
 * are those of the eight-lane path as one loop per layer, bit for bit.  They
 * differ from the four-lane path's by rounding (7.4e4 of 1.4e6 kernels, by
 * 5e-13 relative at most): GeoMeanFast8 chooses the correctly rounded root
 * for eight pairs at once, and the pi/4 of the reduction is added on its
 * own where GCC fuses the four-lane path's into an fma.  The erf values are
 * the four-lane path's, bit for bit, as GCC 12 compiles them (clang fuses
 * fewer products into fma, and there the two differ by rounding).
 */
#define AVX512F __attribute__((target("avx2,fma,avx512f,avx512dq,avx512vl")))
#define CHUNK8 NTK_RECURSE_BLOCK	/* a multiple of 16 */
#define S8(x) _mm512_set1_pd(x)

/* ntk_geo_mean, eight lanes */
AVX512F static inline __attribute__((always_inline)) __m512d
GeoMean8(__m512d kx, __m512d kz, __m512d rx, __m512d rz)
{
	__m512d		prod = _mm512_mul_pd(kx, kz);
	__mmask8	normal = _mm512_cmp_pd_mask(prod, S8(DBL_MIN), _CMP_GE_OQ) &
		_mm512_cmp_pd_mask(prod, S8(DBL_MAX), _CMP_LE_OQ);
	__m512d		s = _mm512_mask_sqrt_pd(_mm512_mul_pd(rx, rz), normal, prod);

	return _mm512_mask_mov_pd(s, _mm512_cmp_pd_mask(kx, kz, _CMP_EQ_OQ), kx);
}

/* GeoMeanFast4, eight lanes: the correctly rounded root only where s + K cancels */
AVX512F static inline __attribute__((always_inline)) __m512d
GeoMeanFast8(__m512d kx, __m512d kz, __m512d rx, __m512d rz, __m512d K)
{
	__m512d		s = _mm512_mul_pd(rx, rz);

	if (_mm512_cmp_pd_mask(_mm512_add_pd(s, K), _mm512_mul_pd(S8(1e-2), s), _CMP_LE_OQ))
		return GeoMean8(kx, kz, rx, rz);
	return _mm512_mask_mov_pd(s, _mm512_cmp_pd_mask(kx, kz, _CMP_EQ_OQ), kx);
}

#define C8(k) S8(ntk_atan_coef[k])

/* AtanPoly4, eight lanes */
AVX512F static inline __attribute__((always_inline)) __m512d
AtanPoly8(__m512d z)
{
	__m512d		z2 = _mm512_mul_pd(z, z);
	__m512d		z4 = _mm512_mul_pd(z2, z2);
	__m512d		z8 = _mm512_mul_pd(z4, z4);
	__m512d		q0 = _mm512_fmadd_pd(C8(1), z, C8(0));
	__m512d		q1 = _mm512_fmadd_pd(C8(3), z, C8(2));
	__m512d		q2 = _mm512_fmadd_pd(C8(5), z, C8(4));
	__m512d		q3 = _mm512_fmadd_pd(C8(7), z, C8(6));
	__m512d		q4 = _mm512_fmadd_pd(C8(9), z, C8(8));
	__m512d		q5 = _mm512_fmadd_pd(C8(11), z, C8(10));
	__m512d		r0 = _mm512_fmadd_pd(q1, z2, q0);
	__m512d		r1 = _mm512_fmadd_pd(q3, z2, q2);
	__m512d		r2 = _mm512_fmadd_pd(q5, z2, q4);
	__m512d		s0 = _mm512_fmadd_pd(r1, z4, r0);

	return _mm512_fmadd_pd(r2, z8, s0);
}

#undef C8

/*
 * The eight-lane layer in two passes over the chunk: the first as the
 * four-lane path's (ReluReduce4), the second its other two (ReluAngle4 and
 * ReluUpdate4) in one; a third pass was 4% slower here.  Between them the
 * intermediates and masks (as bytes) wait in L1.
 */
typedef struct LayerTemp8
{
	double		y[CHUNK8];		/* sqrt(delta (s + K)) */
	double		u[CHUNK8];		/* the reduced atan argument */
	double		bias[CHUNK8];	/* the gap's bias term (sigma_b > 0) */
	__mmask8	big[CHUNK8 / 8];	/* the argument was reduced: + pi/4 */
	__mmask8	swap[CHUNK8 / 8];	/* y > |K|: pi/2 - a */
	__mmask8	neg[CHUNK8 / 8];	/* K < 0: pi - a */
	__mmask8	use[CHUNK8 / 8];	/* s > 0 and (y, K) != (0, 0), else pi/2 */
	__mmask8	pos[CHUNK8 / 8];	/* s > 0 */
} __attribute__((aligned(64))) LayerTemp8;

/*
 * First pass of ntk_relu_layer on eight pairs: the geometric mean, y, the
 * reduction of ntk_atan2_pos(y, K) up to its division, and the bias term of
 * the gap (see ReluReduce4).
 */
AVX512F static inline __attribute__((always_inline)) void
ReluReduce8(__m512d a, __m512d b, __m512d ab, const int has_b,
			__m512d kxl, __m512d rxl, __m512d kzl, __m512d rzl,
			__m512d rnx, __m512d rnz,
			const double *Kp, const double *Dp, LayerTemp8 *t, int i)
{
	__m512d		zero = _mm512_setzero_pd();
	__m512d		K = _mm512_load_pd(Kp);
	__m512d		s = GeoMeanFast8(kxl, kzl, rxl, rzl, K);
	__m512d		spk = _mm512_max_pd(_mm512_add_pd(s, K), zero);
	__m512d		y = _mm512_sqrt_pd(_mm512_mul_pd(_mm512_load_pd(Dp), spk));
	__m512d		ax = _mm512_abs_pd(K);
	__m512d		lo = _mm512_min_pd(y, ax);
	__m512d		hi = _mm512_max_pd(y, ax);
	__mmask8	big = _mm512_cmp_pd_mask(lo, _mm512_mul_pd(S8(NTK_TAN_PI_8), hi), _CMP_GT_OQ);
	__m512d		num = _mm512_mask_sub_pd(lo, big, lo, hi);
	__m512d		den = _mm512_mask_add_pd(hi, big, lo, hi);
	__mmask8	pos = _mm512_cmp_pd_mask(s, zero, _CMP_GT_OQ);

	_mm512_store_pd(t->u + i, _mm512_div_pd(num, den));
	_mm512_store_pd(t->y + i, y);
	t->big[i / 8] = big;
	t->swap[i / 8] = _mm512_cmp_pd_mask(y, ax, _CMP_GT_OQ);
	t->neg[i / 8] = _mm512_cmp_pd_mask(K, zero, _CMP_LT_OQ);
	/* ntk_atan2_pos gives pi/2 for (0, 0), as the layer does for s = 0 */
	t->use[i / 8] = pos & ~_mm512_cmp_pd_mask(hi, zero, _CMP_EQ_OQ);
	t->pos[i / 8] = pos;
	if (has_b)
	{
		__m512d		dr = _mm512_sub_pd(rxl, rzl);
		__m512d		bden = _mm512_add_pd(_mm512_fmadd_pd(a, s, _mm512_mul_pd(rnx, rnz)), b);

		_mm512_store_pd(t->bias + i, _mm512_div_pd(_mm512_mul_pd(ab, _mm512_mul_pd(dr, dr)), bden));
	}
}

/* Second pass: the polynomial and the reflections of ntk_atan2_pos ... */
AVX512F static inline __attribute__((always_inline)) __m512d
ReluAngle8(const LayerTemp8 *t, int i)
{
	__m512d		u = _mm512_load_pd(t->u + i);
	__m512d		at = _mm512_mul_pd(u, AtanPoly8(_mm512_mul_pd(u, u)));

	at = _mm512_mask_add_pd(at, t->big[i / 8], at, S8(NTK_PI_4));
	at = _mm512_mask_sub_pd(at, t->swap[i / 8], S8(NTK_PI_2), at);
	at = _mm512_mask_sub_pd(at, t->neg[i / 8], S8(NTK_PI), at);
	return _mm512_mask_mov_pd(S8(NTK_PI_2), t->use[i / 8], at);
}

/* ... and in the same pass, the layer's update of K, delta and theta. */
AVX512F static inline __attribute__((always_inline)) void
ReluUpdate8(__m512d a, __m512d b, __m512d sw2, const int has_b, __m512d th,
			double *Kp, double *Dp, double *Tp, const LayerTemp8 *t, int i)
{
	__m512d		K = _mm512_load_pd(Kp);
	__m512d		sg = _mm512_maskz_fnmadd_pd(t->pos[i / 8], th, K, _mm512_load_pd(t->y + i));
	__m512d		kn = _mm512_fmadd_pd(a, _mm512_fmadd_pd(sg, S8(NTK_1_PI), K), b);
	__m512d		dn = _mm512_mul_pd(a, _mm512_fnmadd_pd(sg, S8(NTK_1_PI), _mm512_load_pd(Dp)));

	if (has_b)
		dn = _mm512_add_pd(dn, _mm512_load_pd(t->bias + i));
	_mm512_store_pd(Dp, _mm512_max_pd(dn, _mm512_setzero_pd()));
	_mm512_store_pd(Tp, _mm512_fmadd_pd(_mm512_mul_pd(sw2,
													  _mm512_mul_pd(_mm512_sub_pd(S8(NTK_PI), th),
																	S8(NTK_1_2PI))),
										_mm512_load_pd(Tp), kn));
	_mm512_store_pd(Kp, kn);
}

/* ReluLayers, eight lanes; c a multiple of 16 */
AVX512F static inline __attribute__((always_inline)) void
ReluLayers8(const NtkParams *p, const int has_b, int c,
			const double *kt, const double *rt, size_t stride,
			const double *kz, const double *rz,
			double *K, double *D, double *T, LayerTemp8 *tmp)
{
	double		sw2_ = p->sigma_w * p->sigma_w;
	double		b_ = p->sigma_b * p->sigma_b;
	__m512d		a = S8(sw2_ / 2);
	__m512d		b = S8(b_);
	__m512d		ab = S8(sw2_ / 2 * b_);
	__m512d		sw2 = S8(sw2_);
	int			l;
	int			i;

	for (l = 0; l < p->depth; l++)
	{
		const double *kx = kt + (size_t) l * stride;
		const double *rx = rt + (size_t) l * stride;
		__m512d		kzl = S8(kz[l]);
		__m512d		rzl = S8(rz[l]);
		__m512d		rnz = S8(rz[l + 1]);

		for (i = 0; i < c; i += 8)
			ReluReduce8(a, b, ab, has_b,
						_mm512_loadu_pd(kx + i), _mm512_loadu_pd(rx + i), kzl, rzl,
						has_b ? _mm512_loadu_pd(rx + stride + i) : _mm512_setzero_pd(), rnz,
						K + i, D + i, tmp, i);
		for (i = 0; i < c; i += 8)
			ReluUpdate8(a, b, sw2, has_b, ReluAngle8(tmp, i), K + i, D + i, T + i, tmp, i);
	}
}

/* RecurseReluAvx2 eight pairs at a time */
AVX512F static void
RecurseReluAvx512(const NtkParams *p, NtkKernelKind kind, int d,
				  double *vals, int count, const double *kt, const double *rt,
				  size_t stride, const double *zdiag)
{
	int			L1 = p->depth + 1;
	const double *kz = zdiag;
	const double *rz = zdiag + L1;
	double		sw2 = p->sigma_w * p->sigma_w;
	double		b = p->sigma_b * p->sigma_b;
	__m512d		vsw2 = S8(sw2);
	__m512d		vd = S8((double) d);
	__m512d		vb = S8(b);
	__m512d		k0z = S8(kz[0]);
	__m512d		r0z = S8(rz[0]);
	double		K[CHUNK8] __attribute__((aligned(64)));
	double		D[CHUNK8] __attribute__((aligned(64)));
	double		T[CHUNK8] __attribute__((aligned(64)));
	LayerTemp8	tmp;
	double		zmax = 0.0;
	int			full = count - count % 16;
	int			c0;
	int			l;

	for (l = 0; l < L1; l++)
	{
		zmax = kz[l] > zmax ? kz[l] : zmax;
		if (kz[l] > 0.0 && kz[l] < NTK_VEC_MIN_VAR)
			zmax = INFINITY;	/* tiny: as well the portable path */
	}
	if (!(zmax < NTK_VEC_MAX_VAR))
		full = 0;

	for (c0 = 0; c0 < full; c0 += CHUNK8)
	{
		int			c = full - c0 < CHUNK8 ? full - c0 : CHUNK8;
		__m512d		vmax = _mm512_setzero_pd();
		__m512d		vmin = S8(INFINITY);	/* of the positive ones */
		int			i;

		/* the extremes over the layers are at the ends (NTK_VEC_MIN_VAR) */
		for (l = 0; l < L1; l += (L1 > 1 ? L1 - 1 : 1))
			for (i = 0; i < c; i += 8)
			{
				__m512d		v = _mm512_loadu_pd(kt + (size_t) l * stride + c0 + i);

				vmax = _mm512_max_pd(vmax, v);
				vmin = _mm512_mask_min_pd(vmin, _mm512_cmp_pd_mask(v, _mm512_setzero_pd(), _CMP_GT_OQ),
										  vmin, v);
			}
		if (_mm512_cmp_pd_mask(vmax, S8(NTK_VEC_MAX_VAR), _CMP_GE_OQ) |
			_mm512_cmp_pd_mask(vmin, S8(NTK_VEC_MIN_VAR), _CMP_LT_OQ))
		{
			RecursePortable(p, kind, d, vals + c0, c, kt + c0, rt + c0, stride, zdiag);
			continue;
		}

		for (i = 0; i < c; i += 8)
		{
			/* K1 = sw^2 (<x,z> / d) + sb^2, as ntk_input_layer rounds it */
			__m512d		k1 = _mm512_add_pd(_mm512_mul_pd(vsw2, _mm512_div_pd(_mm512_loadu_pd(vals + c0 + i), vd)), vb);
			__m512d		s = GeoMean8(_mm512_loadu_pd(kt + c0 + i), k0z,
									 _mm512_loadu_pd(rt + c0 + i), r0z);
			/* as ntk_pair_strided: s + K of a few ulps is an antiparallel pair */
			__mmask8	anti = _mm512_cmp_pd_mask(s, _mm512_setzero_pd(), _CMP_GT_OQ) &
				_mm512_cmp_pd_mask(_mm512_add_pd(s, k1), _mm512_mul_pd(S8(NTK_GAP_SNAP), s), _CMP_LE_OQ);
			__m512d		gap;

			k1 = _mm512_mask_sub_pd(k1, anti, _mm512_setzero_pd(), s);
			gap = _mm512_sub_pd(s, k1);

			_mm512_store_pd(K + i, k1);
			_mm512_store_pd(T + i, k1);
			/* as ntk_pair_strided: a gap of a few ulps is rounding, not an angle */
			_mm512_store_pd(D + i, _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(gap, _mm512_mul_pd(S8(NTK_GAP_SNAP), s), _CMP_NLE_UQ), gap));
		}
		if (b > 0.0)
			ReluLayers8(p, 1, c, kt + c0, rt + c0, stride, kz, rz, K, D, T, &tmp);
		else
			ReluLayers8(p, 0, c, kt + c0, rt + c0, stride, kz, rz, K, D, T, &tmp);
		memcpy(vals + c0, kind == NTK_KERNEL_NNGP ? K : T, c * sizeof(double));
	}
	if (full < count)
		RecursePortable(p, kind, d, vals + full, count - full, kt + full,
						rt + full, stride, zdiag);
}

/*
 * The erf layers of RecurseErfAvx2 eight pairs at a time, for its chunk of
 * c pairs (a multiple of 8) in K and T (64-byte aligned): ErfReduce4 and
 * ErfUpdate4 on eight lanes, the same operations in the same order, so the
 * same bits as the four-lane path (with GCC 12, which fuses the same
 * products and sums into fma on both).  The sign of the angle is K's
 * (y = 2K).
 */
typedef struct ErfTemp8
{
	double		u[CHUNK8];		/* the reduced atan argument */
	double		f[CHUNK8];		/* the NTK term's factor, sigma_w^2 (4/pi) / root */
	__mmask8	big[CHUNK8 / 8];	/* the argument was reduced: + pi/4 */
	__mmask8	swap[CHUNK8 / 8];	/* |y| > root: pi/2 - a */
} __attribute__((aligned(64))) ErfTemp8;

/* First pass: ErfReduce4 */
AVX512F static inline __attribute__((always_inline)) void
ErfReduce8(__m512d sw2, __m512d kxl, __m512d kzl, const double *Kp,
		   ErfTemp8 *t, int i)
{
	__m512d		k = _mm512_load_pd(Kp);
	__m512d		kk = _mm512_mul_pd(k, k);
	__m512d		err = _mm512_fmsub_pd(k, k, kk);
	__m512d		g = _mm512_sub_pd(_mm512_fmsub_pd(kxl, kzl, kk), err);
	__m512d		det = _mm512_add_pd(_mm512_add_pd(S8(1.0),
												  _mm512_mul_pd(S8(2.0), _mm512_add_pd(kxl, kzl))),
									_mm512_mul_pd(S8(4.0), g));
	/* the exact value is >= 1; max_pd's second operand keeps a NaN */
	__m512d		root = _mm512_sqrt_pd(_mm512_max_pd(S8(1.0), det));
	__m512d		ay = _mm512_abs_pd(_mm512_mul_pd(S8(2.0), k));
	__m512d		lo = _mm512_min_pd(ay, root);
	__m512d		hi = _mm512_max_pd(ay, root);
	__mmask8	big = _mm512_cmp_pd_mask(lo, _mm512_mul_pd(S8(NTK_TAN_PI_8), hi), _CMP_GT_OQ);
	__m512d		num = _mm512_mask_sub_pd(lo, big, lo, hi);
	__m512d		den = _mm512_mask_add_pd(hi, big, lo, hi);

	_mm512_store_pd(t->u + i, _mm512_div_pd(num, den));
	t->big[i / 8] = big;
	t->swap[i / 8] = _mm512_cmp_pd_mask(ay, root, _CMP_GT_OQ);
	_mm512_store_pd(t->f + i, _mm512_div_pd(_mm512_mul_pd(sw2, S8(4.0 / NTK_PI)), root));
}

/* Second pass: ErfUpdate4 */
AVX512F static inline __attribute__((always_inline)) void
ErfUpdate8(__m512d sw2, __m512d b, double *Kp, double *Tp, const ErfTemp8 *t, int i)
{
	__m512d		u = _mm512_load_pd(t->u + i);
	/* u p(u^2) + pi/4 or + 0 in one fma, as GCC fuses Atan2Finish4's sum */
	__m512d		at = _mm512_fmadd_pd(u, AtanPoly8(_mm512_mul_pd(u, u)),
									 _mm512_maskz_mov_pd(t->big[i / 8], S8(NTK_PI_4)));
	__m512d		kn;

	at = _mm512_mask_sub_pd(at, t->swap[i / 8], S8(NTK_PI_2), at);
	at = _mm512_or_pd(at, _mm512_and_pd(_mm512_load_pd(Kp), S8(-0.0)));	/* copysign */
	kn = _mm512_add_pd(_mm512_mul_pd(_mm512_mul_pd(sw2, S8(2.0 / NTK_PI)), at), b);
	_mm512_store_pd(Tp, _mm512_add_pd(kn, _mm512_mul_pd(_mm512_load_pd(t->f + i), _mm512_load_pd(Tp))));
	_mm512_store_pd(Kp, kn);
}

AVX512F static void
ErfLayers8(const NtkParams *p, int c, const double *kt, size_t stride,
		   const double *kz, double *K, double *T)
{
	__m512d		sw2 = S8(p->sigma_w * p->sigma_w);
	__m512d		b = S8(p->sigma_b * p->sigma_b);
	ErfTemp8	tmp;
	int			l;
	int			i;

	for (l = 0; l < p->depth; l++)
	{
		const double *kx = kt + (size_t) l * stride;
		__m512d		kzl = S8(kz[l]);

		for (i = 0; i < c; i += 8)
			ErfReduce8(sw2, _mm512_loadu_pd(kx + i), kzl, K + i, &tmp, i);
		for (i = 0; i < c; i += 8)
			ErfUpdate8(sw2, b, K + i, T + i, &tmp, i);
	}
}

#undef S8

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

#endif							/* NTK_HAVE_AVX2_PATH */

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
ntk_recursion_force_portable(int path)
{
	force_path = path;
}

/* The path's recursion of count pairs (see ntk_recurse_segment). */
static void
RecursePath(const NtkParams *p, NtkKernelKind kind, int d,
			double *vals, int count, const double *kt,
			const double *rt, size_t stride, const double *zdiag)
{
#ifdef NTK_HAVE_AVX2_PATH
	if (p->activation == NTK_ERF && ntk_recursion_vectorized() > 0)
	{
		RecurseErfAvx2(p, kind, d, vals, count, kt, rt, stride, zdiag);
		return;
	}
	if (p->activation == NTK_RELU)
	{
		switch (ntk_recursion_vectorized())
		{
			case 2:
				RecurseReluAvx512(p, kind, d, vals, count, kt, rt, stride, zdiag);
				return;
			case 1:
				RecurseReluAvx2(p, kind, d, vals, count, kt, rt, stride, zdiag);
				return;
			default:
				break;
		}
	}
#endif
	RecursePortable(p, kind, d, vals, count, kt, rt, stride, zdiag);
}

#ifdef NTK_HAVE_AVX2_PATH
/*
 * A prefilter of FindClose, four pairs per instruction: bit i set where
 * pair i may be close, by a threshold twice as wide (so that no rounding of
 * this test can miss a pair that ntk_pair_is_close takes).
 */
AVX2 static uint64_t
CloseCandidates(const NtkParams *p, int d, const double *vals, int count,
				const double *rt, double rz0)
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
#endif

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

#ifdef NTK_HAVE_AVX2_PATH
	if (CpuLevel() > 0)
		mask = CloseCandidates(p, d, vals, count, rt, rz0);
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
