/*-------------------------------------------------------------------------
 *
 * recursion_simd.h
 *	  The vector layer recursion, written once for any lane width.
 *
 * Included by recursion_avx2.c (four lanes) and recursion_avx512.c (eight),
 * each of which first defines the vector and mask types, the lane count,
 * the target attribute and the operations below (V* on vectors, M* on
 * masks), and SIMD(name), which names its instance of each function.  The
 * operations are the same in both, step for step, so the two paths differ
 * only where their rounding is meant to: the sum of the reduction's pi/4
 * in the ReLU angle (VMASK_ADD: GCC fuses the four-lane form into an fma,
 * the eight-lane one is a masked add) and the lanes over which GeoMeanFast
 * decides (7.4e4 of 1.4e6 ReLU kernels differ, by 5e-13 relative at most).
 * The erf values of the two are the same bits (with GCC 12; clang fuses
 * fewer products into fma, and there they differ by rounding).
 *
 * The macros a width defines:
 *	V, M, LANES, SIMD_TARGET, SIMD_ALIGN (bytes), SIMD_RELU_PASSES (2 or 3),
 *	SIMD_RELU_GROUP (ReLU rows go in multiples of it, the rest padded to one)
 *	VSET1 VZERO VLOAD VLOADU VSTORE VSTOREU VADD VSUB VMUL VDIV VSQRT VMIN
 *	VMAX VABS VAND VOR VFMADD(a,b,c) = a b + c, VFNMADD = c - a b,
 *	VFMSUB = a b - c, VBARRIER(v) (keeps GCC from fusing across it)
 *	VCMP(a,b,pred) -> M, MAND, MOR, MANDNOT(m, n) = ~m & n, MANY(m) (any lane),
 *	MALL(m) (every lane), VSEL(m,a,b) = m ? a : b, VMASKZ(m,a) = m ? a : 0,
 *	VMASK_ADD(a,m,b) = m ? a + b : a, VREFLECT(a,m,c) = m ? c - a : a,
 *	MASKS(name) (declares an array of the masks of CHUNK pairs),
 *	MSTORE(arr,i,m), MLOAD(arr,i) (the mask of pairs i .. i + LANES - 1)
 *
 *-------------------------------------------------------------------------
 */

#define CHUNK NTK_RECURSE_BLOCK	/* a multiple of 16 */

/*
 * Beyond this variance the ReLU vector path hands a chunk to the portable
 * one, and below NTK_VEC_MIN_VAR too (a positive one): there delta (s + K)
 * underflows, which the portable layer handles by splitting the root (deep
 * ReLU kernels with sigma_w^2 <= 2 shrink by half a layer: 1e-181 at depth
 * 600).  A ReLU variance goes through an affine map a layer, K' = sigma_w^2
 * K / 2 + sigma_b^2, so over the layers it is monotone: a point's smallest
 * and largest variance are at its first and last layer, and the range
 * checks read only those two.
 */
#define NTK_VEC_MAX_VAR 1e150
#define NTK_VEC_MIN_VAR 1e-140

/*
 * Erf variances outside [NTK_ERF_MIN_VAR, NTK_ERF_MAX_VAR] (other than 0)
 * send a chunk to the portable path, where ntk_gram_det scales them by a
 * power of two; inside, its unscaled arithmetic is exact to the same bits
 * (k^2 and its rounding error stay normal numbers).  After the input layer
 * an erf variance is below sigma_w^2 + sigma_b^2.
 */
#define NTK_ERF_MIN_VAR 1e-100
#define NTK_ERF_MAX_VAR 1e99

/* ntk_geo_mean */
SIMD_TARGET static inline __attribute__((always_inline)) V
SIMD(GeoMean) (V kx, V kz, V rx, V rz)
{
	V			prod = VMUL(kx, kz);
	M			normal = MAND(VCMP(prod, VSET1(DBL_MIN), _CMP_GE_OQ),
							  VCMP(prod, VSET1(DBL_MAX), _CMP_LE_OQ));
	V			s = VSEL(normal, VSQRT(prod), VMUL(rx, rz));

	return VSEL(VCMP(kx, kz, _CMP_EQ_OQ), kx, s);
}

/*
 * GeoMean where it matters, rx * rz elsewhere.  The layer uses s only in
 * s + K (the gap K's distance from s is carried separately), so an ulp of s
 * matters only where s + K cancels: nearly antiparallel pairs (K below
 * -0.99 s), where it would move the angle by up to ~1e-8.  Elsewhere the
 * product of the roots (1.5 ulp) moves s + K by at most 1.5 ulp and saves a
 * square root per pair and layer; from the second layer on K >= 0 and the
 * root is never needed.  The choice is per vector of LANES pairs, so it does
 * not depend on how a column is split between threads.
 */
SIMD_TARGET static inline __attribute__((always_inline)) V
SIMD(GeoMeanFast) (V kx, V kz, V rx, V rz, V K)
{
	V			s = VMUL(rx, rz);

	if (MANY(VCMP(VADD(s, K), VMUL(VSET1(1e-2), s), _CMP_LE_OQ)))
		return SIMD(GeoMean) (kx, kz, rx, rz);
	return VSEL(VCMP(kx, kz, _CMP_EQ_OQ), kx, s);
}

#define C(k) VSET1(ntk_atan_coef[k])

/*
 * The polynomial in z of ntk_atan_poly by Estrin's scheme: the same
 * coefficients with a dependency chain of 4 FMAs instead of Horner's 11, so
 * the pipelines stay full.  Rounding differs from Horner by an ulp.
 */
#if NTK_ATAN_TERMS != 12
#error "AtanPoly is written for 12 coefficients"
#endif
SIMD_TARGET static inline __attribute__((always_inline)) V
SIMD(AtanPoly) (V z)
{
	V			z2 = VMUL(z, z);
	V			z4 = VMUL(z2, z2);
	V			z8 = VMUL(z4, z4);
	V			q0 = VFMADD(C(1), z, C(0));
	V			q1 = VFMADD(C(3), z, C(2));
	V			q2 = VFMADD(C(5), z, C(4));
	V			q3 = VFMADD(C(7), z, C(6));
	V			q4 = VFMADD(C(9), z, C(8));
	V			q5 = VFMADD(C(11), z, C(10));
	V			r0 = VFMADD(q1, z2, q0);
	V			r1 = VFMADD(q3, z2, q2);
	V			r2 = VFMADD(q5, z2, q4);
	V			s0 = VFMADD(r1, z4, r0);

	return VFMADD(r2, z8, s0);
}

#undef C

/*
 * A layer runs in passes over a chunk.  One layer of a vector of pairs is a
 * dependency chain of ~100 cycles (a square root, a division, the
 * polynomial) and ~75 instructions; as one loop, the out-of-order window
 * held two or three such chains and waited on their latency (14 cycles per
 * pair on Zen 3, 3.4 ns on a Cooper Lake core).  Cut at the division (and,
 * on four lanes, at the angle), each pass is a short chain repeated over the
 * whole chunk, so many are in flight and the divider and the FMA pipes stay
 * busy (9 cycles per pair on Zen 3).  Eight lanes take the angle and the
 * update in one pass (a third was 4% slower there): their masks fold most
 * selects into the arithmetic (a reflection pi - a is one masked
 * subtraction), and a pair and layer take about half the instructions.
 * Between the passes the chunk's intermediates and masks wait in L1.  The
 * operations and their order are those of a single loop, so no value
 * changes.
 */
typedef struct SIMD(LayerTemp)
{
	double		y[CHUNK];		/* ReLU sqrt(delta (s + K)); erf the NTK
								 * term's factor, sigma_w^2 (4/pi) / root */
	double		u[CHUNK];		/* the reduced atan argument */
	double		bias[CHUNK];	/* the gap's bias term (sigma_b > 0) */
	double		theta[CHUNK];	/* the angle (three passes) */
	MASKS(big);		/* the argument was reduced: + pi/4 */
	MASKS(swap);		/* y > |x|: the angle is pi/2 - a */
	MASKS(neg);		/* K < 0: the angle is pi - a */
	MASKS(use);		/* s > 0 and (y, K) != (0, 0), else pi/2 */
	MASKS(pos);		/* s > 0 */
} __attribute__((aligned(SIMD_ALIGN))) SIMD(LayerTemp);

/*
 * The reduction of ntk_atan2_pos(y, x) for y, x >= 0, up to and including
 * its division: keeps u, big and swap in t and returns max(y, x).
 */
SIMD_TARGET static inline __attribute__((always_inline)) V
SIMD(Atan2Reduce) (V y, V x, SIMD(LayerTemp) *t, int i)
{
	V			lo = VMIN(y, x);
	V			hi = VMAX(y, x);
	M			big = VCMP(lo, VMUL(VSET1(NTK_TAN_PI_8), hi), _CMP_GT_OQ);
	V			num = VSEL(big, VSUB(lo, hi), lo);
	V			den = VSEL(big, VADD(lo, hi), hi);

	VSTORE(t->u + i, VDIV(num, den));
	MSTORE(t->big, i, big);
	MSTORE(t->swap, i, VCMP(y, x, _CMP_GT_OQ));
	return hi;
}

/*
 * First pass of ntk_relu_layer: the geometric mean, y, the reduction of
 * ntk_atan2_pos(y, K) up to its division, and the bias term of the gap.
 * The caller guarantees variances below NTK_VEC_MAX_VAR, so delta (s + K)
 * <= 4 kx kz cannot overflow.
 */
SIMD_TARGET static inline __attribute__((always_inline)) void
SIMD(ReluReduce) (V a, V b, V ab, const int has_b, V kxl, V rxl, V kzl, V rzl,
				  V rnx, V rnz, const double *Kp, const double *Dp,
				  SIMD(LayerTemp) *t, int i)
{
	V			zero = VZERO();
	V			K = VLOAD(Kp);
	V			s = SIMD(GeoMeanFast) (kxl, kzl, rxl, rzl, K);
	V			spk = VMAX(VADD(s, K), zero);
	V			y = VSQRT(VMUL(VLOAD(Dp), spk));
	M			pos = VCMP(s, zero, _CMP_GT_OQ);
	V			hi = SIMD(Atan2Reduce) (y, VABS(K), t, i);

	VSTORE(t->y + i, y);
	MSTORE(t->neg, i, VCMP(K, zero, _CMP_LT_OQ));
	/* ntk_atan2_pos gives pi/2 for (0, 0), as the layer does for s = 0 */
	MSTORE(t->use, i, MANDNOT(VCMP(hi, zero, _CMP_EQ_OQ), pos));
	MSTORE(t->pos, i, pos);
	if (has_b)
	{
		/*
		 * The gap grows by ab (rx - rz)^2 / (s' + a s + b), s' the next
		 * layer's geometric mean; in a denominator the product of the roots
		 * is as good as the correctly rounded root.
		 */
		V			dr = VSUB(rxl, rzl);
		V			bden = VADD(VFMADD(a, s, VMUL(rnx, rnz)), b);

		VSTORE(t->bias + i, VDIV(VMUL(ab, VMUL(dr, dr)), bden));
	}
}

/* The polynomial and the reflections of ntk_atan2_pos, and K's sign. */
SIMD_TARGET static inline __attribute__((always_inline)) V
SIMD(ReluAngle) (const SIMD(LayerTemp) *t, int i)
{
	V			u = VLOAD(t->u + i);
	V			at = VMUL(u, SIMD(AtanPoly) (VMUL(u, u)));

	at = VMASK_ADD(at, MLOAD(t->big, i), VSET1(NTK_PI_4));
	at = VREFLECT(at, MLOAD(t->swap, i), VSET1(NTK_PI_2));
	at = VREFLECT(at, MLOAD(t->neg, i), VSET1(NTK_PI));
	return VSEL(MLOAD(t->use, i), at, VSET1(NTK_PI_2));
}

/*
 * The layer's update of K, delta and theta from the angle th; the last
 * layer's delta is never read, and is left alone.
 */
SIMD_TARGET static inline __attribute__((always_inline)) void
SIMD(ReluUpdate) (V a, V b, V sw2, const int has_b, const int last, V th,
				  double *Kp, double *Dp, double *Tp,
				  const SIMD(LayerTemp) *t, int i)
{
	V			K = VLOAD(Kp);
	V			sg = VMASKZ(MLOAD(t->pos, i), VFNMADD(th, K, VLOAD(t->y + i)));
	V			kn = VFMADD(a, VFMADD(sg, VSET1(NTK_1_PI), K), b);

	if (!last)
	{
		V			dn = VMUL(a, VFNMADD(sg, VSET1(NTK_1_PI), VLOAD(Dp)));

		if (has_b)
			dn = VADD(dn, VLOAD(t->bias + i));
		VSTORE(Dp, VMAX(dn, VZERO()));
	}
	VSTORE(Tp, VFMADD(VMUL(sw2, VMUL(VSUB(VSET1(NTK_PI), th), VSET1(NTK_1_2PI))),
					  VLOAD(Tp), kn));
	VSTORE(Kp, kn);
}

/*
 * Layer l over c (a multiple of LANES) pairs held in K, D, T; has_b: the
 * bias term of the gap (not needed by the last layer, whose gap is unused).
 */
SIMD_TARGET static inline __attribute__((always_inline)) void
SIMD(ReluLayer) (const NtkParams *p, const int has_b, const int last, int l, int c,
				 const double *kt, const double *rt, size_t stride,
				 const double *kz, const double *rz,
				 double *K, double *D, double *T, SIMD(LayerTemp) *tmp)
{
	double		sw2_ = p->sigma_w * p->sigma_w;
	double		b_ = p->sigma_b * p->sigma_b;
	V			a = VSET1(sw2_ / 2);
	V			b = VSET1(b_);
	V			ab = VSET1(sw2_ / 2 * b_);
	V			sw2 = VSET1(sw2_);
	const double *kx = kt + (size_t) l * stride;
	const double *rx = rt + (size_t) l * stride;
	V			kzl = VSET1(kz[l]);
	V			rzl = VSET1(rz[l]);
	V			rnz = VSET1(rz[l + 1]);
	int			i;

	/* the next layer's roots are loaded only where the bias needs them */
	for (i = 0; i < c; i += LANES)
		SIMD(ReluReduce) (a, b, ab, has_b && !last, VLOADU(kx + i), VLOADU(rx + i), kzl, rzl,
						  has_b && !last ? VLOADU(rx + stride + i) : VZERO(), rnz,
						  K + i, D + i, tmp, i);
#if SIMD_RELU_PASSES == 3
	for (i = 0; i < c; i += LANES)
		VSTORE(tmp->theta + i, SIMD(ReluAngle) (tmp, i));
	for (i = 0; i < c; i += LANES)
		SIMD(ReluUpdate) (a, b, sw2, has_b, last, VLOAD(tmp->theta + i),
						  K + i, D + i, T + i, tmp, i);
#else
	for (i = 0; i < c; i += LANES)
		SIMD(ReluUpdate) (a, b, sw2, has_b, last, SIMD(ReluAngle) (tmp, i),
						  K + i, D + i, T + i, tmp, i);
#endif
}

/* Runs every layer over c (a multiple of LANES) pairs held in K, D, T. */
SIMD_TARGET static inline __attribute__((always_inline)) void
SIMD(ReluLayers) (const NtkParams *p, const int has_b, int c,
				  const double *kt, const double *rt, size_t stride,
				  const double *kz, const double *rz,
				  double *K, double *D, double *T, SIMD(LayerTemp) *tmp)
{
	int			l;

	for (l = 0; l + 1 < p->depth; l++)
		SIMD(ReluLayer) (p, has_b, 0, l, c, kt, rt, stride, kz, rz, K, D, T, tmp);
	if (p->depth > 0)
		SIMD(ReluLayer) (p, has_b, 1, p->depth - 1, c, kt, rt, stride, kz, rz, K, D, T, tmp);
}

/*
 * The last count < group pairs of a segment (a column's last rows) take the
 * vector path too: copied with their diagonals into a whole group, the
 * missing pairs copies of the last one, so that their values depend on the
 * tail alone, not on where the column was split between threads.  On the
 * portable path they took 7% of a Gram's recursion (n = 8000, depth 3,
 * AVX-512 on a Zen 5 EPYC), all on the thread with the column's end.  Past
 * depth NTK_TAIL_LAYERS - 2 the tail stays portable (its copy is on the
 * stack).
 */
#define NTK_TAIL_LAYERS 64
#define NTK_TAIL_GROUP 16		/* the largest group of either activation */

typedef void (*SIMD(ChunkFn)) (const NtkParams *p, NtkKernelKind kind, int d,
							   double *vals, int c, const double *kt,
							   const double *rt, size_t stride,
							   const double *zdiag);

SIMD_TARGET static void
SIMD(RecurseTail) (SIMD(ChunkFn) chunk, int group, const NtkParams *p,
				   NtkKernelKind kind, int d, double *vals, int count,
				   const double *kt, const double *rt, size_t stride,
				   const double *zdiag)
{
	int			L1 = p->depth + 1;
	double		tv[NTK_TAIL_GROUP];
	double		tk[NTK_TAIL_LAYERS * NTK_TAIL_GROUP];
	double		tr[(NTK_TAIL_LAYERS + 1) * NTK_TAIL_GROUP];
	int			i;
	int			l;

	if (L1 + 1 > NTK_TAIL_LAYERS)
	{
		ntk_recurse_portable(p, kind, d, vals, count, kt, rt, stride, zdiag);
		return;
	}
	for (i = 0; i < group; i++)
	{
		int			src = i < count ? i : count - 1;

		tv[i] = vals[src];
		for (l = 0; l < L1; l++)
			tk[l * group + i] = kt[(size_t) l * stride + src];
		for (l = 0; l <= L1; l++)	/* the roots, then the norm */
			tr[l * group + i] = rt[(size_t) l * stride + src];
	}
	chunk(p, kind, d, tv, group, tk, tr, (size_t) group, zdiag);
	memcpy(vals, tv, count * sizeof(double));
}

/* count pairs by chunk: CHUNK at a time, then the tail past a whole group */
SIMD_TARGET static inline __attribute__((always_inline)) void
SIMD(RecurseChunks) (SIMD(ChunkFn) chunk, int group, const NtkParams *p,
					 NtkKernelKind kind, int d, double *vals, int count,
					 const double *kt, const double *rt, size_t stride,
					 const double *zdiag)
{
	int			full = count - count % group;
	int			c0;

	for (c0 = 0; c0 < full; c0 += CHUNK)
		chunk(p, kind, d, vals + c0, full - c0 < CHUNK ? full - c0 : CHUNK,
			  kt + c0, rt + c0, stride, zdiag);
	if (full < count)
		SIMD(RecurseTail) (chunk, group, p, kind, d, vals + full, count - full,
						   kt + full, rt + full, stride, zdiag);
}

/*
 * One chunk of c <= CHUNK pairs (a multiple of SIMD_RELU_GROUP) of
 * ntk_recurse_relu, kept in L1 across all layers; with a variance out of
 * range (NTK_VEC_MIN_VAR, NTK_VEC_MAX_VAR) the portable path.
 */
SIMD_TARGET static void
SIMD(ReluChunk) (const NtkParams *p, NtkKernelKind kind, int d,
				 double *vals, int c, const double *kt,
				 const double *rt, size_t stride, const double *zdiag)
{
	int			L1 = p->depth + 1;
	const double *kz = zdiag;
	const double *rz = zdiag + L1;
	double		sw2 = p->sigma_w * p->sigma_w;
	double		b = p->sigma_b * p->sigma_b;
	V			vsw2 = VSET1(sw2);
	V			vd = VSET1((double) d);
	V			vb = VSET1(b);
	V			k0z = VSET1(kz[0]);
	V			r0z = VSET1(rz[0]);
	double		K[CHUNK] __attribute__((aligned(SIMD_ALIGN)));
	double		D[CHUNK] __attribute__((aligned(SIMD_ALIGN)));
	double		T[CHUNK] __attribute__((aligned(SIMD_ALIGN)));
	SIMD(LayerTemp) tmp;
	V			vmax = VZERO();
	V			vmin = VSET1(INFINITY);	/* of the positive ones */
	int			i;
	int			l;

	/* the extremes over the layers are at the ends (NTK_VEC_MIN_VAR) */
	for (l = 0; l < L1; l += (L1 > 1 ? L1 - 1 : 1))
		for (i = 0; i < c; i += LANES)
		{
			V			v = VLOADU(kt + (size_t) l * stride + i);

			vmax = VMAX(vmax, v);
			vmin = VMIN(vmin, VSEL(VCMP(v, VZERO(), _CMP_GT_OQ), v, VSET1(INFINITY)));
		}
	if (MANY(VCMP(vmax, VSET1(NTK_VEC_MAX_VAR), _CMP_GE_OQ)) ||
		MANY(VCMP(vmin, VSET1(NTK_VEC_MIN_VAR), _CMP_LT_OQ)))
	{
		ntk_recurse_portable(p, kind, d, vals, c, kt, rt, stride, zdiag);
		return;
	}

	for (i = 0; i < c; i += LANES)
	{
		/* K1 = sw^2 (<x,z> / d) + sb^2, as ntk_input_layer rounds it */
		V			k1 = VADD(VMUL(vsw2, VDIV(VLOADU(vals + i), vd)), vb);
		V			s = SIMD(GeoMean) (VLOADU(kt + i), k0z, VLOADU(rt + i), r0z);

		VSTORE(K + i, k1);
		VSTORE(T + i, k1);
		VSTORE(D + i, VSUB(s, k1));
	}
	if (b > 0.0)
		SIMD(ReluLayers) (p, 1, c, kt, rt, stride, kz, rz, K, D, T, &tmp);
	else
		SIMD(ReluLayers) (p, 0, c, kt, rt, stride, kz, rz, K, D, T, &tmp);
	memcpy(vals, kind == NTK_KERNEL_NNGP ? K : T, c * sizeof(double));
}

/*
 * The ReLU recursion of count pairs (ntk_recurse_segment), LANES at a time
 * over chunks of rows that stay in L1 across all layers (ReluChunk), the
 * rows past the last multiple of SIMD_RELU_GROUP padded to one more group
 * (RecurseTail).  Where z's variances are out of range every pair takes the
 * portable path.  The input layer has no snap of a gap of a few ulps
 * (ntk_pair_strided's): such pairs are close, and ntk_recurse_segment
 * recomputes them on the exact route.
 */
SIMD_TARGET void
SIMD(ntk_recurse_relu) (const NtkParams *p, NtkKernelKind kind, int d,
						double *vals, int count, const double *kt,
						const double *rt, size_t stride, const double *zdiag)
{
	int			L1 = p->depth + 1;
	const double *kz = zdiag;
	double		zmax = 0.0;
	int			l;

	for (l = 0; l < L1; l++)
	{
		zmax = kz[l] > zmax ? kz[l] : zmax;
		if (kz[l] > 0.0 && kz[l] < NTK_VEC_MIN_VAR)
			zmax = INFINITY;	/* tiny: as well the portable path */
	}
	if (!(zmax < NTK_VEC_MAX_VAR))
	{
		ntk_recurse_portable(p, kind, d, vals, count, kt, rt, stride, zdiag);
		return;
	}

	SIMD(RecurseChunks) (SIMD(ReluChunk), SIMD_RELU_GROUP, p, kind, d, vals, count,
						 kt, rt, stride, zdiag);
}

/* Whether a variance is 0 or within the erf vector path's range (per lane). */
SIMD_TARGET static inline __attribute__((always_inline)) M
SIMD(ErfVarOk) (V v)
{
	return MOR(VCMP(v, VZERO(), _CMP_EQ_OQ),
			   MAND(VCMP(v, VSET1(NTK_ERF_MIN_VAR), _CMP_GE_OQ),
					VCMP(v, VSET1(NTK_ERF_MAX_VAR), _CMP_LE_OQ)));
}

/*
 * First pass of ntk_erf_layer: the determinant, its root and the reduction
 * of atan2(2K, root) up to its division (root >= 1 > 0, so atan2(y, root) =
 * sign(y) ntk_atan2_pos(|y|, root)), and the factor of the NTK term,
 * sigma_w^2 (4/pi) / root.
 */
SIMD_TARGET static inline __attribute__((always_inline)) void
SIMD(ErfReduce) (V sw2, V kxl, V kzl, const double *Kp, SIMD(LayerTemp) *t, int i)
{
	V			k = VLOAD(Kp);
	V			kk = VMUL(k, k);
	V			err = VFMSUB(k, k, kk);
	V			g = VSUB(VFMSUB(kxl, kzl, kk), err);
	V			det = VADD(VADD(VSET1(1.0), VMUL(VSET1(2.0), VADD(kxl, kzl))),
						   VMUL(VSET1(4.0), g));
	/* the exact value is >= 1; max's second operand keeps a NaN */
	V			root = VSQRT(VMAX(VSET1(1.0), det));

	(void) SIMD(Atan2Reduce) (VABS(VMUL(VSET1(2.0), k)), root, t, i);
	VSTORE(t->y + i, VDIV(VMUL(sw2, VSET1(4.0 / NTK_PI)), root));
}

/* Second pass: the angle (the sign of y = 2K is K's), the update of K, theta. */
SIMD_TARGET static inline __attribute__((always_inline)) void
SIMD(ErfUpdate) (V sw2, V b, double *Kp, double *Tp, const SIMD(LayerTemp) *t, int i)
{
	V			u = VLOAD(t->u + i);
	/* u p(u^2) + pi/4 or + 0 in one fma */
	V			at = VFMADD(u, SIMD(AtanPoly) (VMUL(u, u)),
							VMASKZ(MLOAD(t->big, i), VSET1(NTK_PI_4)));
	V			kn;

	at = VREFLECT(at, MLOAD(t->swap, i), VSET1(NTK_PI_2));
	at = VOR(at, VAND(VLOAD(Kp), VSET1(-0.0)));	/* copysign */
	kn = VADD(VMUL(VMUL(sw2, VSET1(2.0 / NTK_PI)), at), b);
	VSTORE(Tp, VADD(kn, VMUL(VLOAD(t->y + i), VLOAD(Tp))));
	VSTORE(Kp, kn);
}

/*
 * One chunk of c <= CHUNK pairs (a multiple of NTK_ERF_GROUP) of
 * ntk_recurse_erf; with a variance out of range the portable path.
 */
#define NTK_ERF_GROUP 8

SIMD_TARGET static void
SIMD(ErfChunk) (const NtkParams *p, NtkKernelKind kind, int d,
				double *vals, int c, const double *kt,
				const double *rt, size_t stride, const double *zdiag)
{
	int			L1 = p->depth + 1;
	const double *kz = zdiag;
	V			sw2 = VSET1(p->sigma_w * p->sigma_w);
	V			b = VSET1(p->sigma_b * p->sigma_b);
	V			vd = VSET1((double) d);
	double		K[CHUNK] __attribute__((aligned(SIMD_ALIGN)));
	double		T[CHUNK] __attribute__((aligned(SIMD_ALIGN)));
	MASKS(same) __attribute__((aligned(SIMD_ALIGN)));
	V			self = VSET1(ntk_diag_value(p, kind, zdiag));
	SIMD(LayerTemp) tmp;
	M			ok = VCMP(VZERO(), VZERO(), _CMP_EQ_OQ);	/* all set */
	int			i;
	int			l;

	for (l = 0; l < L1; l++)
		for (i = 0; i < c; i += LANES)
			ok = MAND(ok, SIMD(ErfVarOk) (VLOADU(kt + (size_t) l * stride + i)));
	if (!MALL(ok))
	{
		ntk_recurse_portable(p, kind, d, vals, c, kt, rt, stride, zdiag);
		return;
	}

	for (i = 0; i < c; i += LANES)
	{
		/*
		 * K1 = sw^2 (<x,z> / d) + sb^2, as ntk_input_layer rounds it: the
		 * barrier keeps GCC from fusing the two into an fma, so that a point
		 * with itself gets its diagonal's K1 to the bit.
		 */
		V			k1 = VMUL(sw2, VDIV(VLOADU(vals + i), vd));

		VBARRIER(k1);
		k1 = VADD(k1, b);
		VSTORE(K + i, k1);
		VSTORE(T + i, k1);
		MSTORE(same, i, MAND(VCMP(k1, VSET1(kz[0]), _CMP_EQ_OQ),
							 VCMP(k1, VLOADU(kt + i), _CMP_EQ_OQ)));
	}
	for (l = 0; l < p->depth; l++)
	{
		const double *kx = kt + (size_t) l * stride;
		V			kzl = VSET1(kz[l]);

		for (i = 0; i < c; i += LANES)
			SIMD(ErfReduce) (sw2, VLOADU(kx + i), kzl, K + i, &tmp, i);
		for (i = 0; i < c; i += LANES)
			SIMD(ErfUpdate) (sw2, b, K + i, T + i, &tmp, i);
	}

	/*
	 * A pair with K1 equal to both diagonals gets its self kernel, as on the
	 * portable path, whose layers are the diagonal's to the bit.  A point
	 * with itself is recomputed on the exact route anyway; this serves
	 * distinct points whose dot product rounds to both squared norms, whose
	 * erf layers do not amplify rounding (ntk_pair_close leaves them to this
	 * path).
	 */
	for (i = 0; i < c; i += LANES)
		VSTOREU(vals + i, VSEL(MLOAD(same, i), self,
							   VLOAD((kind == NTK_KERNEL_NNGP ? K : T) + i)));
}

/*
 * The erf recursion of count pairs: ntk_erf_layer's steps in its order (GCC
 * fuses some products and sums into fma), with ntk_atan2_pos's reduction
 * and polynomial in place of libm's atan2, an ulp apart: over random pairs
 * the mean error against an 80-bit reference is 0.84 ulp, against 0.79 for
 * the portable path.  Two passes per layer, as for ReLU; 3.5 ns per pair
 * and layer on a Zen 3 core with four lanes, 56 on the portable path; eight
 * lanes 1.5 ns on a Zen 5 core, four 2.5.  Chunks and the padded tail as
 * for ReLU; where z's variances are out of range the portable path.
 */
SIMD_TARGET void
SIMD(ntk_recurse_erf) (const NtkParams *p, NtkKernelKind kind, int d,
					   double *vals, int count, const double *kt,
					   const double *rt, size_t stride, const double *zdiag)
{
	int			L1 = p->depth + 1;
	const double *kz = zdiag;
	int			l;

	for (l = 0; l < L1; l++)
		if (!(kz[l] == 0.0 || (kz[l] >= NTK_ERF_MIN_VAR && kz[l] <= NTK_ERF_MAX_VAR)))
		{
			ntk_recurse_portable(p, kind, d, vals, count, kt, rt, stride, zdiag);
			return;
		}

	SIMD(RecurseChunks) (SIMD(ErfChunk), NTK_ERF_GROUP, p, kind, d, vals, count,
						 kt, rt, stride, zdiag);
}

#undef NTK_ERF_GROUP
#undef NTK_TAIL_GROUP
#undef NTK_TAIL_LAYERS
#undef CHUNK
