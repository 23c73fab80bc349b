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
#include "kernel_math.h"

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
	/* k_l and sqrt(k_l) for each of depth+1 layers, then Theta(x,x) */
	return 2 * (size_t) (p->depth + 1) + 1;
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
