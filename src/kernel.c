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

#include <float.h>
#include <math.h>
#include <string.h>

#define NTK_PI 3.14159265358979323846

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
	/* k_l and sqrt(k_l) for each of depth+1 layers, then Theta(x,x) */
	return 2 * (size_t) (p->depth + 1) + 1;
}

/*
 * sqrt(kx kz) without overflow; exact when kx == kz.  sqrt of the product is
 * preferred while the product is a normal number: it is correctly rounded to
 * within an ulp and exact for kz = 4^j kx (x and 2^j x), where rx * rz can be
 * an ulp above the cross term and so fake an angle of ~1e-8 rad, an error of
 * ~1e-8 in the NTK of parallel inputs.  The roots take over on over/underflow.
 */
static inline double
geo_mean(double kx, double kz, double rx, double rz)
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
 */
static inline void
relu_layer(double a, double b, double sw2,
		   double kx, double kz, double rx, double rz,
		   double knx, double knz, double rnx, double rnz,
		   double *K, double *delta, double *theta)
{
	double		s = geo_mean(kx, kz, rx, rz);
	double		k = *K;
	double		t;
	double		sg;
	double		kn;
	double		dn;

	if (s > 0.0)
	{
		double		spk = s + k;
		double		prod = *delta * (spk > 0.0 ? spk : 0.0);
		/* for variances beyond ~1e154 the product overflows: split the root */
		double		y = isfinite(prod) ? sqrt(prod) : sqrt(*delta) * sqrt(spk);

		t = atan2(y, k);
		sg = y - t * k;
	}
	else
	{
		t = NTK_PI / 2;
		sg = 0.0;
	}

	kn = a * (k + sg / NTK_PI) + b;
	dn = a * (*delta - sg / NTK_PI);
	if (b > 0.0)
	{
		double		dr = rx - rz;
		double		sn = geo_mean(knx, knz, rnx, rnz);

		dn += a * b * dr * dr / (sn + a * s + b);
	}
	*delta = dn > 0.0 ? dn : 0.0;
	*theta = kn + sw2 * ((NTK_PI - t) / (2 * NTK_PI)) * *theta;
	*K = kn;
}

/*
 * kx kz - K^2 without cancellation for a point with itself and without
 * overflow for huge variances: scaled by a power of two, then fma to recover
 * the rounding error of K^2.
 */
static inline double
gram_det(double kx, double kz, double k)
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
erf_layer(double b, double sw2, double kx, double kz, double *K, double *theta)
{
	double		k = *K;
	double		dx = 1.0 + 2.0 * kx;
	double		dz = 1.0 + 2.0 * kz;
	double		norm = dx == dz ? dx : sqrt(dx) * sqrt(dz);
	double		c = 2.0 * k / norm;
	double		det;
	double		kn;

	if (c > 1.0)
		c = 1.0;
	else if (c < -1.0)
		c = -1.0;
	/* (1 + 2kx)(1 + 2kz) - 4k^2, expanded so a self pair loses nothing */
	det = 1.0 + 2.0 * (kx + kz) + 4.0 * gram_det(kx, kz, k);
	if (det < 1.0)
		det = 1.0;				/* the exact value is >= 1 */
	kn = sw2 * (2.0 / NTK_PI) * asin(c) + b;
	*theta = kn + sw2 * (4.0 / NTK_PI) / sqrt(det) * *theta;
	*K = kn;
}

/* Kernel of the first (input) layer from a dot product. */
static inline double
input_layer(const NtkParams *p, double dot, int dim)
{
	return p->sigma_w * p->sigma_w * dot / (double) dim
		+ p->sigma_b * p->sigma_b;
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

	k[0] = input_layer(p, sqnorm, dim);
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

			relu_layer(sw2 / 2, b, sw2, k[l], k[l], r[l], r[l],
					   kn, kn, rn, rn, &K, &delta, &theta);
		}
		else
			erf_layer(b, sw2, k[l], k[l], &K, &theta);
		k[l + 1] = K;
		r[l + 1] = sqrt(K);
	}
	diag[2 * L1] = theta;
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
	double		sw2 = p->sigma_w * p->sigma_w;
	double		b = p->sigma_b * p->sigma_b;
	const double *kx = diag_x;
	const double *kz = diag_z;
	const double *rx = diag_x + L1;
	const double *rz = diag_z + L1;
	double		K;
	double		theta;
	int			l;

	if (dim < 1)
		return NTK_BAD_DIMENSION;
	K = theta = input_layer(p, dot, dim);

	if (p->activation == NTK_RELU)
	{
		double		delta = geo_mean(kx[0], kz[0], rx[0], rz[0]) - K;

		if (delta < 0.0)
			delta = 0.0;
		for (l = 0; l < p->depth; l++)
			relu_layer(sw2 / 2, b, sw2, kx[l], kz[l], rx[l], rz[l],
					   kx[l + 1], kz[l + 1], rx[l + 1], rz[l + 1],
					   &K, &delta, &theta);
	}
	else
	{
		for (l = 0; l < p->depth; l++)
			erf_layer(b, sw2, kx[l], kz[l], &K, &theta);
	}

	if (!isfinite(K) || !isfinite(theta))
		return NTK_OVERFLOW;
	if (nngp)
		*nngp = K;
	if (ntk)
		*ntk = theta;
	return NTK_OK;
}

NtkStatus
ntk_kernel_vectors(const NtkParams *p, const double *x, const double *z,
				   int dim, double *workspace, double *nngp, double *ntk)
{
	size_t		len = ntk_diag_len(p);
	double		xx = 0.0;
	double		zz = 0.0;
	double		xz = 0.0;
	NtkStatus	st;
	int			i;

	if ((st = ntk_params_check(p)) != NTK_OK)
		return st;
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
	return ntk_pair(p, xz, dim, workspace, workspace + len, nngp, ntk);
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
