/*-------------------------------------------------------------------------
 *
 * layer.h
 *	  Inline scalar pieces of the layer recursion, shared by the pair kernel
 *	  (kernel.c) and the Gram tiles (recursion.c and its vector paths).  See kernel.c for the
 *	  formulas and their references.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_LAYER_H
#define NTK_LAYER_H

#include <float.h>
#include <math.h>
#include <stddef.h>

#include "kernel.h"

#define NTK_PI		3.14159265358979323846
#define NTK_PI_2	1.57079632679489661923
#define NTK_PI_4	0.78539816339744830962
#define NTK_1_PI	0.31830988618379067154
#define NTK_1_2PI	0.15915494309189533577
#define NTK_TAN_PI_8 0.41421356237309504880

/* input-layer gaps up to this fraction of sqrt(kx kz) count as zero */
#define NTK_GAP_SNAP (4 * DBL_EPSILON)

/*
 * Minimax polynomial for atan(u) / u in z = u^2 on |u| <= tan(pi/8), from
 * the Remez exchange in 60-digit arithmetic (tools/atan_coef.py): relative
 * error of atan below 6e-18 with these rounded coefficients, a twentieth of
 * an ulp, in 12 terms where the Taylor series needs 20.
 */
#define NTK_ATAN_TERMS 12

static const double ntk_atan_coef[NTK_ATAN_TERMS] = {
	1.0,
	-0.33333333333333198,
	0.19999999999953247,
	-0.14285714280166598,
	0.11111110782156604,
	-0.090908977252941572,
	0.076920597181374631,
	-0.066630992113782928,
	0.058478593260842295,
	-0.050391906538217603,
	0.038062145472093675,
	-0.017905045403658396
};

static inline double
ntk_atan_poly(double u)
{
	double		z = u * u;
	double		p = 0.0;
	int			k;

	for (k = NTK_ATAN_TERMS - 1; k >= 0; k--)
		p = p * z + ntk_atan_coef[k];
	return u * p;
}

/*
 * atan2(y, x) for y >= 0, by reduction to |u| <= tan(pi/8):
 * t = min/max of (y, |x|), u = t or (t - 1) / (t + 1) with pi/4 added back,
 * then the reflections pi/2 - a and pi - a.  Returns pi/2 for (0, 0), the
 * convention of neural-tangents.  The same steps run four or eight lanes at
 * a time in recursion_simd.h.
 */
static inline double
ntk_atan2_pos(double y, double x)
{
	double		ax = fabs(x);
	double		lo = y < ax ? y : ax;
	double		hi = y < ax ? ax : y;
	double		a;

	if (hi == 0.0)
		return NTK_PI_2;
	if (lo > NTK_TAN_PI_8 * hi)
		a = NTK_PI_4 + ntk_atan_poly((lo - hi) / (lo + hi));
	else
		a = ntk_atan_poly(lo / hi);
	if (y > ax)
		a = NTK_PI_2 - a;
	if (x < 0.0)
		a = NTK_PI - a;
	return a;
}

/*
 * sqrt(kx kz) without overflow; exact when kx == kz.  sqrt of the product is
 * preferred while the product is a normal number: it is correctly rounded to
 * within an ulp and exact for kz = 4^j kx (x and 2^j x), where rx * rz can be
 * an ulp above the cross term and so fake an angle of ~1e-8 rad, an error of
 * ~1e-8 in the NTK of parallel inputs.  The roots take over on over/underflow.
 */
static inline double
ntk_geo_mean(double kx, double kz, double rx, double rz)
{
	double		prod;

	if (kx == kz)
		return kx;
	prod = kx * kz;
	if (prod >= DBL_MIN && prod <= DBL_MAX)
		return sqrt(prod);
	return rx * rz;
}

/*
 * One ReLU layer on a pair.  k*, r* are this layer's diagonals and their
 * roots, kn* / rn* the next layer's.  Updates *K, *delta, *theta in place.
 * s is the geometric mean of kx and kz, spk = s + K; ntk_relu_layer passes
 * s + *K, the exact route of nearly antiparallel inputs (ntk_pair_close) its
 * own cancellation-free value for the input layer.
 */
static inline void
ntk_relu_layer_given(double a, double b, double sw2,
					 double s, double spk, double rx, double rz,
					 double knx, double knz, double rnx, double rnz,
					 double *K, double *delta, double *theta)
{
	double		k = *K;
	double		t;
	double		sg;
	double		kn;
	double		dn;

	if (s > 0.0)
	{
		double		prod = *delta * (spk > 0.0 ? spk : 0.0);

		/*
		 * For variances beyond ~1e154 the product overflows, below ~1e-154
		 * (deep ReLU kernels with sigma_w^2 <= 2 shrink by half a layer) it
		 * underflows into subnormals or zero, which would fake a parallel
		 * pair: split the root.
		 */
		double		y = (prod >= DBL_MIN && prod <= DBL_MAX) ? sqrt(prod) :
			(*delta == 0.0 || !(spk > 0.0) ? 0.0 : sqrt(*delta) * sqrt(spk));

		t = ntk_atan2_pos(y, k);
		sg = y - t * k;
	}
	else
	{
		t = NTK_PI / 2;
		sg = 0.0;
	}

	kn = a * (k + sg * NTK_1_PI) + b;
	dn = a * (*delta - sg * NTK_1_PI);
	if (b > 0.0)
	{
		double		dr = rx - rz;
		double		sn = ntk_geo_mean(knx, knz, rnx, rnz);

		dn += a * b * dr * dr / (sn + a * s + b);
	}
	*delta = dn > 0.0 ? dn : 0.0;
	*theta = kn + sw2 * ((NTK_PI - t) * NTK_1_2PI) * *theta;
	*K = kn;
}

static inline void
ntk_relu_layer(double a, double b, double sw2,
			   double kx, double kz, double rx, double rz,
			   double knx, double knz, double rnx, double rnz,
			   double *K, double *delta, double *theta)
{
	double		s = ntk_geo_mean(kx, kz, rx, rz);

	ntk_relu_layer_given(a, b, sw2, s, s + *K, rx, rz, knx, knz, rnx, rnz,
						 K, delta, theta);
}

/*
 * kx kz - K^2 without cancellation for a point with itself and without
 * overflow for huge variances: scaled by a power of two, then fma to recover
 * the rounding error of K^2.
 */
static inline double
ntk_gram_det(double kx, double kz, double k)
{
	double		m = fmax(fabs(kx), fmax(fabs(kz), fabs(k)));
	int			e = 0;
	double		t;
	double		err;

	if (m > 1e100 || (m > 0.0 && m < 1e-100))
	{
		(void) frexp(m, &e);
		kx = ldexp(kx, -e);
		kz = ldexp(kz, -e);
		k = ldexp(k, -e);
	}
	t = k * k;
	err = fma(k, k, -t);
	return ldexp(fma(kx, kz, -t) - err, 2 * e);
}

/* One erf layer on a pair.  Updates *K and *theta in place. */
static inline void
ntk_erf_layer(double b, double sw2, double kx, double kz, double *K, double *theta)
{
	double		k = *K;
	double		det;
	double		root;
	double		kn;

	/* (1 + 2kx)(1 + 2kz) - 4k^2, expanded so a self pair loses nothing */
	det = 1.0 + 2.0 * (kx + kz) + 4.0 * ntk_gram_det(kx, kz, k);
	if (det < 1.0)
		det = 1.0;				/* the exact value is >= 1 */
	root = sqrt(det);

	/*
	 * asin(2k / sqrt((1 + 2kx)(1 + 2kz))) as the angle of (root, 2k): near
	 * an argument of 1 (large variances) asin turns the argument's rounding
	 * into an error of up to 1e-8; the cancellation-free det does not lose it.
	 */
	kn = sw2 * (2.0 / NTK_PI) * atan2(2.0 * k, root) + b;
	*theta = kn + sw2 * (4.0 / NTK_PI) / root * *theta;
	*K = kn;
}

/* Kernel of the first (input) layer from a dot product. */
static inline double
ntk_input_layer(const NtkParams *p, double dot, int dim)
{
	/* divide first: sw^2 <x,z> may overflow where the kernel does not */
	return p->sigma_w * p->sigma_w * (dot / (double) dim)
		+ p->sigma_b * p->sigma_b;
}

/*
 * Pairs whose input cosine is within NTK_CLOSE of +1 or -1 take the exact
 * route (ntk_pair_close): from a dot product, the gap s - K1 (or s + K1) of
 * such a pair has an absolute error of a few ulps of s, which is an error of
 * eps / angle in its angle and grows through the layers (1.5e-6 for an angle
 * of 1e-8 at depth 30).  Measured against 80-digit values, pairs outside the
 * threshold (angles above ~0.02 rad) keep errors below 1e-13 of
 * sqrt(k(x,x) k(z,z)) on the dot-product route.
 */
#define NTK_CLOSE (1.0 / 256)

/*
 * Whether a pair with this input-layer kernel k1 and diagonal roots rx, rz
 * (of the input layer) is close to parallel or antiparallel.  A threshold
 * only: the product of the roots is as good as the geometric mean here.
 */
static inline int
ntk_pair_is_close(double k1, double rx, double rz)
{
	double		s = rx * rz;

	return s > 0.0 && fabs(k1) >= (1.0 - NTK_CLOSE) * s;
}

/*
 * Both kernels of a pair that ntk_pair_is_close: the exact route, from the
 * vectors x and z themselves: x's state strided as for ntk_pair_strided and
 * its norm, z's whole diagonal state (ntk_point_diag); dot only tells the
 * side, parallel or antiparallel.  Returns 0 where the dot-product route
 * (ntk_pair_strided) is accurate after all, an erf pair whose layers do not
 * amplify rounding (kernel.c), and sets no output then.  Defined in kernel.c;
 * every path of every Gram calls it for such pairs, so they get the same
 * bits everywhere.
 */
extern int	ntk_pair_close(const NtkParams *p, double dot, const double *x,
						   const double *z, int dim, double xnorm,
						   const double *kx, const double *rx, size_t sx,
						   const double *zdiag, double *nngp, double *ntk);

/*
 * Both kernels of a pair from its dot product.  The points' diagonal states
 * are given as k_l = kx[l * sx], sqrt(k_l) = rx[l * sx] (and likewise for z),
 * so rows of a layer-major table work as well as one point's own state.
 */
static inline void
ntk_pair_strided(const NtkParams *p, double dot, int dim,
				 const double *kx, const double *rx, size_t sx,
				 const double *kz, const double *rz, size_t sz,
				 double *nngp, double *ntk)
{
	double		sw2 = p->sigma_w * p->sigma_w;
	double		b = p->sigma_b * p->sigma_b;
	double		K;
	double		theta;
	int			l;

	K = theta = ntk_input_layer(p, dot, dim);
	if (p->activation == NTK_RELU)
	{
		double		s = ntk_geo_mean(kx[0], kz[0], rx[0], rz[0]);
		double		delta = s - K;

		/*
		 * (Callers that have the vectors send such pairs to ntk_pair_close
		 * first; this serves ntk_pair, which has only the dot product.)
		 * A gap of a few ulps is rounding in the dot product of a point with
		 * itself (or a parallel one), which BLAS sums in another order than
		 * the norms: snap it to 0, or it would fake an angle of ~1e-8.
		 */
		if (delta <= NTK_GAP_SNAP * s)
			delta = 0.0;

		/*
		 * Likewise s + K of a few ulps is an antiparallel pair (x and -c x):
		 * left alone, it fakes an angle of pi - 1e-8 (an error of ~3e-9 in
		 * the NTK, and a negative kernel at depth 1).
		 */
		else if (s > 0.0 && s + K <= NTK_GAP_SNAP * s)
		{
			K = theta = -s;
			delta = 2.0 * s;
		}
		for (l = 0; l < p->depth; l++)
			ntk_relu_layer(sw2 / 2, b, sw2,
						   kx[l * sx], kz[l * sz], rx[l * sx], rz[l * sz],
						   kx[(l + 1) * sx], kz[(l + 1) * sz],
						   rx[(l + 1) * sx], rz[(l + 1) * sz],
						   &K, &delta, &theta);
	}
	else
	{
		for (l = 0; l < p->depth; l++)
			ntk_erf_layer(b, sw2, kx[l * sx], kz[l * sz], &K, &theta);
	}
	*nngp = K;
	*ntk = theta;
}

#endif							/* NTK_LAYER_H */
