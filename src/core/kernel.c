/*-------------------------------------------------------------------------
 *
 * kernel.c
 *	  The NNGP / NTK layer recursion of a fully-connected network.
 *
 * Conventions are those of neural-tangents (Novak et al. 2020),
 * stax.serial(Dense(W_std=sw, b_std=sb), *[act, Dense(W_std=sw, b_std=sb)] * depth)
 * in the NTK parameterization, readout layer included:
 *
 *	K_1(x,z)	 = sw^2 <x,z> / d + sb^2					Theta_1 = K_1
 *	K_{l+1}		 = sw^2 E[phi(u) phi(v)] + sb^2
 *	Theta_{l+1}	 = K_{l+1} + sw^2 E[phi'(u) phi'(v)] Theta_l
 *
 * with (u,v) ~ N(0, [[K_l(x,x), K_l(x,z)], [K_l(x,z), K_l(z,z)]]).
 *
 * ReLU uses the arc-cosine kernels of Cho & Saul (2009):
 *	E[relu relu] = s (sin t + (pi - t) cos t) / (2 pi),
 *	E[step step] = (pi - t) / (2 pi),
 * with s = sqrt(K(x,x) K(z,z)) and cos t = K(x,z) / s.
 * Erf uses Williams (1998):
 *	E[erf erf]	 = (2/pi) asin(2 K(x,z) / sqrt((1 + 2 K(x,x)) (1 + 2 K(z,z)))),
 *	E[erf' erf'] = (4/pi) / sqrt((1 + 2 K(x,x)) (1 + 2 K(z,z)) - 4 K(x,z)^2).
 *
 * Numerical care.  The textbook ReLU code computes t = acos(clip(K / s)).
 * Near t = 0 that is ill-conditioned: one ulp of drift between the cross term
 * and the diagonals becomes t ~ 1.5e-8, so a point with itself comes out
 * wrong by ~1e-8 after two layers.  We instead carry the gap
 * delta = s - K(x,z) >= 0 through the layers with its own recursion, free of
 * cancellation:
 *
 *	s'		 = sqrt((a k_x + b)(a k_z + b)),   a = sw^2 / 2, b = sb^2
 *	delta'	 = a b (sqrt k_x - sqrt k_z)^2 / (s' + a s + b)
 *			   + a (delta - s g(t) / pi),	   s g(t) = s sin t - t K(x,z)
 *
 * and take t = atan2(sqrt(delta (s + K)), K), which is accurate everywhere.
 * A point with itself (delta = 0, equal diagonals) then reproduces the
 * diagonal recursion bit for bit.  A zero-variance input (zero vector with
 * sb = 0) follows neural-tangents' arctan2 convention t = pi/2; its kernel is
 * exactly zero in every layer, so the convention only matters for clarity.
 *
 *-------------------------------------------------------------------------
 */
#include "kernel.h"
#include "layer.h"
#include "recursion.h"

#include <float.h>
#include <math.h>
#include <string.h>


NtkStatus
ntk_params_check(const NtkParams *p)
{
	if (p->depth < 0 || p->depth > NTK_MAX_DEPTH)
		return NTK_BAD_DEPTH;
	if (!isfinite(p->sigma_w) || p->sigma_w <= 0.0)
		return NTK_BAD_SIGMA_W;
	if (!isfinite(p->sigma_b) || p->sigma_b < 0.0)
		return NTK_BAD_SIGMA_B;
	if (p->activation != NTK_RELU && p->activation != NTK_ERF)
		return NTK_BAD_ACTIVATION;
	return NTK_OK;
}

int
ntk_activation_parse(const char *name, NtkActivation *out)
{
	if (strcmp(name, "relu") == 0)
		*out = NTK_RELU;
	else if (strcmp(name, "erf") == 0)
		*out = NTK_ERF;
	else
		return -1;
	return 0;
}

const char *
ntk_activation_name(NtkActivation act)
{
	return act == NTK_ERF ? "erf" : "relu";
}

size_t
ntk_diag_len(const NtkParams *p)
{
	/*
	 * k_l and sqrt(k_l) for each of depth+1 layers, then Theta(x,x) and the
	 * input's norm |x| (for the exact route of close pairs)
	 */
	return 2 * (size_t) (p->depth + 1) + 2;
}

NtkStatus
ntk_point_diag(const NtkParams *p, double sqnorm, int dim, double *diag)
{
	int			L1 = p->depth + 1;
	double	   *k = diag;
	double	   *r = diag + L1;
	double		sw2 = p->sigma_w * p->sigma_w;
	double		b = p->sigma_b * p->sigma_b;
	double		theta;
	double		K;
	int			l;

	if (dim < 1)
		return NTK_BAD_DIMENSION;
	if (!isfinite(sqnorm))
		return NTK_OVERFLOW;

	k[0] = ntk_input_layer(p, sqnorm, dim);
	r[0] = sqrt(k[0]);
	theta = K = k[0];

	/*
	 * Run the pair recursion on (x, x) itself, so that a cross term between
	 * identical inputs matches the diagonal bit for bit.
	 */
	for (l = 0; l < p->depth; l++)
	{
		if (p->activation == NTK_RELU)
		{
			double		delta = 0.0;
			double		kn = sw2 / 2 * k[l] + b;
			double		rn = sqrt(kn);

			ntk_relu_layer(sw2 / 2, b, sw2, k[l], k[l], r[l], r[l],
					   kn, kn, rn, rn, &K, &delta, &theta);
		}
		else
			ntk_erf_layer(b, sw2, k[l], k[l], &K, &theta);
		k[l + 1] = K;
		r[l + 1] = sqrt(K);
	}
	diag[2 * L1] = theta;
	diag[2 * L1 + 1] = sqrt(sqnorm);
	if (!isfinite(theta) || !isfinite(K))
		return NTK_OVERFLOW;
	return NTK_OK;
}

double
ntk_diag_nngp(const NtkParams *p, const double *diag)
{
	return diag[p->depth];
}

double
ntk_diag_ntk(const NtkParams *p, const double *diag)
{
	return diag[2 * (p->depth + 1)];
}

NtkStatus
ntk_pair(const NtkParams *p, double dot, int dim,
		 const double *diag_x, const double *diag_z,
		 double *nngp, double *ntk)
{
	int			L1 = p->depth + 1;
	double		k;
	double		t;

	if (dim < 1)
		return NTK_BAD_DIMENSION;
	ntk_pair_strided(p, dot, dim, diag_x, diag_x + L1, 1,
					 diag_z, diag_z + L1, 1, &k, &t);
	if (!isfinite(k) || !isfinite(t))
		return NTK_OVERFLOW;
	if (nngp)
		*nngp = k;
	if (ntk)
		*ntk = t;
	return NTK_OK;
}

/*
 * The exact route of nearly parallel and antiparallel pairs.
 *
 * From a dot product, the input layer's gap s - K1 of a nearly parallel pair
 * (s = sqrt(k(x,x) k(z,z))) is a difference of two nearly equal numbers: a
 * few ulps of s of rounding, an angle error of eps / angle, which the layers
 * carry on (1.5e-6 of the NTK for an angle of 1e-8 at depth 30).  From the
 * vectors it needs no cancellation.  With a = sw^2 / d, b = sb^2, X = |x|,
 * Z = |z| and the unit vectors x^ = x / X, z^ = z / Z:
 *
 *	s - K1 = a X Z |x^ - z^|^2 / 2 + E,
 *	s + K1 = a X Z |x^ + z^|^2 / 2 + E + 2 b,
 *	E	   = s - (a X Z + b) = a b (X - Z)^2 / (s + a X Z + b),
 *
 * (s^2 - (a X Z + b)^2 = a b (X - Z)^2), each term a sum of non-negative
 * parts.  The small one of the two (by the sign of K1) starts the recursion:
 * ReLU carries the gap through the layers already (kernel.c's header), and
 * its first layer takes s + K1 as given, which is what decides the angle of
 * an antiparallel pair; after it K >= 0.  Erf carries both G = s - K and
 * P = s + K (ErfLayerClose).  A point with itself (x = z to the bit) gets
 * G = 0 and K1 = s exactly, so its layers are its diagonal's, bit for bit,
 * whatever rounding BLAS gave its dot product.  The norms come with the
 * points' diagonal states (ntk_point_diag), computed once per point.
 */

/*
 * Beyond these erf variances a layer's products could overflow; such a
 * layer runs ntk_erf_layer and takes its gaps back from K (as the
 * dot-product route does).
 */
#define ERF_CLOSE_MAX_VAR 1e100

/* atan2 from ntk_atan2_pos (within an ulp of libm's, several times faster) */
static inline double
Atan2(double y, double x)
{
	return y >= 0.0 ? ntk_atan2_pos(y, x) : -ntk_atan2_pos(-y, x);
}

/*
 * s' - M for erf: the next layer's geometric mean s' = sqrt(k'_x k'_z) less
 * M = c asin(rho_s) + b, the next kernel of a parallel pair with these
 * variances (rho_s = 2 s / sqrt((1 + 2 kx)(1 + 2 kz)), c = 2 sw^2 / pi).  It
 * is s'^2 - M^2 = M (Dx + Dz) + Dx Dz over s' + M, with Dx = k'_x - M =
 * c (asin rho_x - asin rho_s) from the angle difference's sine and cosine
 * (rho_x = 2 kx / (1 + 2 kx)):
 *
 *	sin (Ax - As) = 2 kx (kx - kz) / ((kx q + s ex) R),
 *	cos (Ax - As) = (ex q + 4 kx s) / ((1 + 2 kx) R),
 *
 * ex = sqrt(1 + 4 kx), q = sqrt(1 + 2 kx + 2 kz), R = sqrt((1 + 2 kx)(1 + 2 kz)),
 * free of cancellation; Dx + Dz cancels only to the precision their
 * difference of norms needs.  Zero for equal variances.
 */
static double
ErfNormTerm(double c, double kx, double kz, double s, double q,
			double knx, double knz, double rnx, double rnz)
{
	double		ex;
	double		ez;
	double		dx;
	double		dz;
	double		m;

	if (kx == kz)
		return 0.0;
	ex = sqrt(1.0 + 4.0 * kx);
	ez = sqrt(1.0 + 4.0 * kz);
	dx = c * Atan2(2.0 * kx * (kx - kz) * (1.0 + 2.0 * kx),
				   (kx * q + s * ex) * (ex * q + 4.0 * kx * s));
	dz = c * Atan2(2.0 * kz * (kz - kx) * (1.0 + 2.0 * kz),
				   (kz * q + s * ez) * (ez * q + 4.0 * kz * s));
	m = 0.5 * ((knx - dx) + (knz - dz));	/* symmetric in x and z */
	return (m * (dx + dz) + dx * dz) / (ntk_geo_mean(knx, knz, rnx, rnz) + m);
}

/* ntk_erf_layer with Atan2: for the layers once a pair is no longer close */
static void
ErfLayerFar(double b, double sw2, double kx, double kz, double *K, double *theta)
{
	double		det = 1.0 + 2.0 * (kx + kz) + 4.0 * ntk_gram_det(kx, kz, *K);
	double		root = sqrt(det < 1.0 ? 1.0 : det);
	double		kn = sw2 * (2.0 / NTK_PI) * Atan2(2.0 * *K, root) + b;

	*theta = kn + sw2 * (4.0 / NTK_PI) / root * *theta;
	*K = kn;
}

/*
 * One erf layer of a close pair: ntk_erf_layer's K and theta, with the
 * determinant (1 + 2 kx)(1 + 2 kz) - 4 K^2 = 1 + 2 (kx + kz) + 4 G P taken
 * from the carried gaps, and the next layer's gaps
 *
 *	G' = (s' - M) + c (asin rho_s - asin rho),
 *	P' = (s' - M) + c (asin rho_s + asin rho) + 2 b,
 *
 * rho = 2 K / R, the angle differences again from their sines and cosines:
 * sin (As - A) R^2 = 2 s root - 2 K q = 2 G (4 s P / (root + q) + q) (as
 * root^2 - q^2 = 4 G P), cos (As - A) R^2 = q root + 4 s K; for the sum K
 * turns into -K and G into P.
 */
static void
ErfLayerClose(double b, double sw2, double kx, double kz, double rx, double rz,
			  double knx, double knz, double rnx, double rnz,
			  double *K, double *G, double *P, double *theta)
{
	double		c = sw2 * (2.0 / NTK_PI);
	double		k = *K;
	double		g = *G;
	double		pp = *P;
	double		s;
	double		det;
	double		root;
	double		q;
	double		norm;
	double		gn;
	double		pn;

	if (!(kx <= ERF_CLOSE_MAX_VAR && kz <= ERF_CLOSE_MAX_VAR))
	{
		ErfLayerFar(b, sw2, kx, kz, K, theta);
		s = ntk_geo_mean(knx, knz, rnx, rnz);
		*G = s - *K > 0.0 ? s - *K : 0.0;
		*P = s + *K > 0.0 ? s + *K : 0.0;
		return;
	}
	s = ntk_geo_mean(kx, kz, rx, rz);
	/* the determinant from the carried gaps: 4 G P = 4 (kx kz - K^2) */
	det = 1.0 + 2.0 * (kx + kz) + 4.0 * (g * pp);
	if (det < 1.0)
		det = 1.0;
	root = sqrt(det);
	*K = sw2 * (2.0 / NTK_PI) * Atan2(2.0 * k, root) + b;
	*theta = *K + sw2 * (4.0 / NTK_PI) / root * *theta;

	q = sqrt(1.0 + 2.0 * (kx + kz));
	norm = ErfNormTerm(c, kx, kz, s, q, knx, knz, rnx, rnz);
	gn = norm + c * Atan2(2.0 * g * (4.0 * s * pp / (root + q) + q), q * root + 4.0 * s * k);
	pn = norm + c * Atan2(2.0 * pp * (4.0 * s * g / (root + q) + q), q * root - 4.0 * s * k) + 2.0 * b;
	*G = gn > 0.0 ? gn : 0.0;
	*P = pn > 0.0 ? pn : 0.0;
}

/*
 * sum_i (x_i xs + z_i zs)^2 in four partial sums, so that the loop is not
 * one chain of additions.  With xs = 1/|x|, zs = -+1/|z|: |x^ -+ z^|^2.
 * Symmetric in x and z (a - b and b - a square alike); no product may be
 * fused into an fma, or it would not be.
 */
static inline __attribute__((always_inline)) double
CloseSumBody(const double *x, double xs, const double *z, double zs, int dim)
{
	double		s0 = 0.0;
	double		s1 = 0.0;
	double		s2 = 0.0;
	double		s3 = 0.0;
	int			i;

	for (i = 0; i + 4 <= dim; i += 4)
	{
		double		t0 = x[i] * xs + z[i] * zs;
		double		t1 = x[i + 1] * xs + z[i + 1] * zs;
		double		t2 = x[i + 2] * xs + z[i + 2] * zs;
		double		t3 = x[i + 3] * xs + z[i + 3] * zs;

		s0 += t0 * t0;
		s1 += t1 * t1;
		s2 += t2 * t2;
		s3 += t3 * t3;
	}
	for (; i < dim; i++)
	{
		double		t = x[i] * xs + z[i] * zs;

		s0 += t * t;
	}
	return (s0 + s1) + (s2 + s3);
}

#if defined(__x86_64__) && defined(__GNUC__)
/*
 * The same with AVX2 (without FMA: nothing fused, the same bits), where the
 * processor has it: the loop is most of a close pair's time (2.8 s to 1.8 s
 * for a Gram of 3000 points of d = 784 that are all close).
 */
__attribute__((target("avx2"))) static double
CloseSumAvx2(const double *x, double xs, const double *z, double zs, int dim)
{
	return CloseSumBody(x, xs, z, zs, dim);
}
#endif

static double
CloseSum(const double *x, double xs, const double *z, double zs, int dim)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (ntk_cpu_level() > 0)
		return CloseSumAvx2(x, xs, z, zs, dim);
#endif
	return CloseSumBody(x, xs, z, zs, dim);
}

/*
 * Whether rounding in an erf pair with these variances can grow through the
 * layers: by sigma_w^2 E[erf'^2] = sw^2 (4/pi) / q at a layer where the
 * correlation is near 1, q = sqrt(1 + 2 kx + 2 kz), a factor above 1 in the
 * chaotic phase.  Where the factors' product stays below ERF_GROWTH the
 * dot-product route is accurate (erf has no singularity at correlation 1,
 * unlike ReLU's arc-cosine): the rounding of a dot product, a few ulps of
 * the scale, stays below 1e-13 (test_near_parallel: with 16, 1.6e-13 at
 * depth 30 with sigma_w = 1.5, sigma_b = 0.5; with 1024, 1.8e-12).
 */
#define ERF_GROWTH 4.0

static int
ErfAmplifies(const NtkParams *p, const double *kx, size_t sx, const double *kz)
{
	double		chi = p->sigma_w * p->sigma_w * (4.0 / NTK_PI);
	double		chi2 = chi * chi;
	double		growth2 = 1.0;	/* the product's square */
	int			l;

	if (chi2 <= 1.0)
		return 0;
	for (l = 0; l < p->depth; l++)
	{
		double		q2 = 1.0 + 2.0 * (kx[l * sx] + kz[l]);

		if (q2 < chi2)
		{
			growth2 *= chi2 / q2;
			if (growth2 > ERF_GROWTH * ERF_GROWTH)
				return 1;
		}
	}
	return 0;
}

int
ntk_pair_close(const NtkParams *p, double dot, const double *x,
			   const double *z, int dim, double X, const double *kx,
			   const double *rx, size_t sx, const double *zdiag,
			   double *nngp, double *ntk)
{
	int			L1 = p->depth + 1;
	const double *kz = zdiag;
	const double *rz = zdiag + L1;
	size_t		sz = 1;
	double		Z = zdiag[2 * L1 + 1];
	double		sw2 = p->sigma_w * p->sigma_w;
	double		b = p->sigma_b * p->sigma_b;
	double		axz;
	double		sd;
	double		s;
	double		e = 0.0;
	double		sum = 0.0;
	double		k1;
	double		gap;
	double		spk;
	double		K;
	double		theta;
	int			l;

	/*
	 * A point with itself: its layers are its diagonal's, bit for bit
	 * (kernel.c's header), and so is its result.  memcmp stops at the first
	 * difference, so other pairs of equal norm cost a few compares.
	 */
	if (X == Z && kx[0] == kz[0] && memcmp(x, z, (size_t) dim * sizeof(double)) == 0)
	{
		*nngp = ntk_diag_nngp(p, zdiag);
		*ntk = ntk_diag_ntk(p, zdiag);
		return 1;
	}
	if (p->activation == NTK_ERF && !ErfAmplifies(p, kx, sx, kz))
		return 0;

	s = ntk_geo_mean(kx[0], kz[0], rx[0], rz[0]);
	sd = sqrt((double) dim);
	axz = sw2 * ((X / sd) * (Z / sd));	/* symmetric in x and z, no overflow */
	if (b > 0.0 && X != Z)
	{
		double		dr = X - Z;

		e = (sw2 * (dr / dim)) * (dr * (b / (s + axz + b)));
	}

	/*
	 * The dot product decides which side the pair is close to (it is not
	 * near 0); nothing else of it is used, so its rounding changes no bit.
	 */
	k1 = ntk_input_layer(p, dot, dim);
	if (X > 0.0 && Z > 0.0)
	{
		double		xi = 1.0 / X;
		double		zi = 1.0 / Z;
		sum = CloseSum(x, xi, z, k1 >= 0.0 ? -zi : zi, dim);
	}
	if (k1 >= 0.0)
	{
		gap = axz * (sum / 2) + e;
		K = s - gap;
		spk = s + K;
	}
	else
	{
		spk = axz * (sum / 2) + e + 2.0 * b;
		K = spk - s;
		gap = s - K;
	}
	theta = K;

	/*
	 * No gap and equal variances: the same point to rounding (equal norms,
	 * x^ = z^ to the bit), whose layers are its diagonal's.
	 */
	if (gap == 0.0 && kx[0] == kz[0])
	{
		*nngp = ntk_diag_nngp(p, zdiag);
		*ntk = ntk_diag_ntk(p, zdiag);
		return 1;
	}

	if (p->activation == NTK_RELU)
	{
		double		a = sw2 / 2;
		double		delta = gap;

		for (l = 0; l < p->depth; l++)
		{
			double		kxl = kx[l * sx];
			double		kzl = kz[l * sz];
			double		sl = l == 0 ? s : ntk_geo_mean(kxl, kzl, rx[l * sx], rz[l * sz]);

			ntk_relu_layer_given(a, b, sw2, sl, l == 0 ? spk : sl + K,
								 rx[l * sx], rz[l * sz],
								 kx[(l + 1) * sx], kz[(l + 1) * sz],
								 rx[(l + 1) * sx], rz[(l + 1) * sz],
								 &K, &delta, &theta);
		}
	}
	else
	{
		double		g = gap;
		double		pp = spk;

		/*
		 * The gaps are carried while the pair is close; once both are
		 * beyond NTK_CLOSE of the scale (pairs drift apart through the
		 * layers, fast in the chaotic phase), K alone is accurate enough,
		 * and the rest of the layers take it (the gaps are no longer kept).
		 */
		for (l = 0; l < p->depth; l++)
		{
			double		sl = ntk_geo_mean(kx[l * sx], kz[l * sz], rx[l * sx], rz[l * sz]);

			if (g > NTK_CLOSE * sl && pp > NTK_CLOSE * sl)
				break;
			ErfLayerClose(b, sw2, kx[l * sx], kz[l * sz], rx[l * sx], rz[l * sz],
						  kx[(l + 1) * sx], kz[(l + 1) * sz],
						  rx[(l + 1) * sx], rz[(l + 1) * sz],
						  &K, &g, &pp, &theta);
		}
		for (; l < p->depth; l++)
			ErfLayerFar(b, sw2, kx[l * sx], kz[l * sz], &K, &theta);
	}
	*nngp = K;
	*ntk = theta;
	return 1;
}

NtkStatus
ntk_pair_vectors(const NtkParams *p, double dot, const double *x,
				 const double *z, int dim, const double *diag_x,
				 const double *diag_z, double *nngp, double *ntk)
{
	int			L1 = p->depth + 1;
	double		k;
	double		t;

	if (dim < 1)
		return NTK_BAD_DIMENSION;
	if (!ntk_pair_is_close(ntk_input_layer(p, dot, dim), diag_x[L1], diag_z[L1]) ||
		!ntk_pair_close(p, dot, x, z, dim, diag_x[2 * L1 + 1],
						diag_x, diag_x + L1, 1, diag_z, &k, &t))
		ntk_pair_strided(p, dot, dim, diag_x, diag_x + L1, 1,
						 diag_z, diag_z + L1, 1, &k, &t);
	if (!isfinite(k) || !isfinite(t))
		return NTK_OVERFLOW;
	if (nngp)
		*nngp = k;
	if (ntk)
		*ntk = t;
	return NTK_OK;
}

NtkStatus
ntk_kernel_vectors(const NtkParams *p, const double *x, const double *z,
				   int dim, double *workspace, double *nngp, double *ntk)
{
	size_t		len;
	double		xx = 0.0;
	double		zz = 0.0;
	double		xz = 0.0;
	NtkStatus	st;
	int			i;

	/* before ntk_diag_len: depth + 1 overflows for depth = INT_MAX */
	if ((st = ntk_params_check(p)) != NTK_OK)
		return st;
	len = ntk_diag_len(p);
	if (dim < 1)
		return NTK_BAD_DIMENSION;
	for (i = 0; i < dim; i++)
	{
		if (!isfinite(x[i]) || !isfinite(z[i]))
			return NTK_NOT_FINITE;
		xx += x[i] * x[i];
		zz += z[i] * z[i];
		xz += x[i] * z[i];
	}
	if (!isfinite(xx) || !isfinite(zz) || !isfinite(xz))
		return NTK_OVERFLOW;
	if ((st = ntk_point_diag(p, xx, dim, workspace)) != NTK_OK)
		return st;
	if ((st = ntk_point_diag(p, zz, dim, workspace + len)) != NTK_OK)
		return st;
	return ntk_pair_vectors(p, xz, x, z, dim, workspace, workspace + len,
							nngp, ntk);
}

const char *
ntk_status_string(NtkStatus s)
{
	switch (s)
	{
		case NTK_OK:
			return "success";
		case NTK_BAD_DEPTH:
			return "depth out of range";
		case NTK_BAD_SIGMA_W:
			return "sigma_w must be positive and finite";
		case NTK_BAD_SIGMA_B:
			return "sigma_b must be non-negative and finite";
		case NTK_BAD_ACTIVATION:
			return "unknown activation";
		case NTK_BAD_DIMENSION:
			return "bad dimension";
		case NTK_NOT_FINITE:
			return "input contains NaN or Infinity";
		case NTK_OVERFLOW:
			return "kernel value out of range";
		case NTK_NOT_POSITIVE_DEFINITE:
			return "matrix is not positive definite";
		case NTK_LAPACK_ERROR:
			return "LAPACK reported an argument error";
		case NTK_CANCELED:
			return "canceled";
	}
	return "unknown status";
}
