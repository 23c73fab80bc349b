/*-------------------------------------------------------------------------
 *
 * test_kernel.c
 *	  Server-less unit tests of the NNGP / NTK core (src/core/kernel.c).
 *
 * No framework: every check prints one line when it fails, and the program
 * ends with exactly "N passed, M failed" and exits 1 on any failure.
 *
 * Built and run by `make unitcheck`.
 *
 *-------------------------------------------------------------------------
 */
#include "kernel.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "unit_data.h"

#define PI 3.14159265358979323846

/* |got - want| <= tol * max(|want|, tiny) ; NaN never passes */
static void
check_rel(double got, double want, double tol, const char *what)
{
	double		scale = fabs(want) > 1e-300 ? fabs(want) : 1e-300;
	double		err = fabs(got - want) / scale;

	if (isfinite(got) && isfinite(want) && err <= tol)
		n_passed++;
	else
	{
		n_failed++;
		printf("FAIL: %s: got %.17g, want %.17g (rel err %.3g > %.3g)\n",
			   what, got, want, err, tol);
	}
}

/* Workspace large enough for NTK_MAX_DEPTH. */
static double ws[2 * (2 * (NTK_MAX_DEPTH + 1) + 2)];

static NtkStatus
kern(const NtkParams *p, const double *x, const double *z, int dim,
	 double *nngp, double *ntk)
{
	*nngp = *ntk = NAN;
	return ntk_kernel_vectors(p, x, z, dim, ws, nngp, ntk);
}


/*
 * Hand-derived values, depth 1, d = 2.
 *
 * ReLU, x = [1,0], z = [0,1], sigma_w = 1, sigma_b = 0:
 *	 K1(x,x) = K1(z,z) = 1*1/2 = 1/2, K1(x,z) = 0, so cos t = 0, t = pi/2.
 *	 E[relu relu] = s (sin t + (pi - t) cos t) / (2 pi) = (1/2)(1 + 0)/(2 pi)
 *				  = 1/(4 pi)                       -> NNGP = 1/(4 pi)
 *	 Theta2 = K2 + sw^2 (pi - t)/(2 pi) Theta1 = 1/(4 pi) + (1/4) * 0
 *				  = 1/(4 pi)                       -> NTK = 1/(4 pi)
 *	 Diagonal (x with x): t = 0, E = s pi / (2 pi) = s/2 = 1/4 -> NNGP 1/4,
 *	 Theta2 = 1/4 + (pi/(2 pi)) * 1/2 = 1/2                   -> NTK 1/2.
 *
 * ReLU, same x, z, sigma_w = sqrt(2), sigma_b = 1:
 *	 K1(x,x) = 2*1/2 + 1 = 2, K1(x,z) = 0 + 1 = 1, cos t = 1/2, t = pi/3.
 *	 E = 2 (sqrt(3)/2 + (2 pi/3)(1/2)) / (2 pi) = sqrt(3)/(2 pi) + 1/3
 *	 K2 = 2 E + 1 = sqrt(3)/pi + 5/3
 *	 Theta2 = K2 + 2 * ((pi - pi/3)/(2 pi)) * 1 = K2 + 2/3 = sqrt(3)/pi + 7/3.
 *
 * Erf, x = [1,0] with itself, sigma_w = 1, sigma_b = 0:
 *	 k = 1/2, E[erf erf] = (2/pi) asin(2k/(1 + 2k)) = (2/pi) asin(1/2)
 *				  = (2/pi)(pi/6) = 1/3               -> NNGP 1/3
 *	 E[erf' erf'] = (4/pi) / sqrt((1+2k)^2 - 4k^2) = (4/pi)/sqrt(3)
 *	 Theta2 = 1/3 + (4/pi)/sqrt(3) * 1/2 = 1/3 + 2/(pi sqrt 3).
 *
 * Erf, x = [1,1], z = [1,0], sigma_w = 1, sigma_b = 0:
 *	 k11 = 2/2 = 1, k22 = 1/2, k12 = 1/2.
 *	 NNGP = (2/pi) asin(2*(1/2)/sqrt(3*2)) = (2/pi) asin(1/sqrt 6)
 *	 NTK = NNGP + (4/pi)/sqrt(3*2 - 4/4) * 1/2 = NNGP + (2/pi)/sqrt(5).
 */
static void
test_hand_values(void)
{
	double		x[2] = {1, 0};
	double		z[2] = {0, 1};
	double		y[2] = {1, 1};
	double		k, t;
	NtkParams	p;
	NtkStatus	st;

	p = params(1, NTK_RELU, 1.0, 0.0);
	st = kern(&p, x, z, 2, &k, &t);
	check_status(st, NTK_OK, "relu orthogonal status");
	check_rel(k, 1 / (4 * PI), 1e-15, "relu orthogonal NNGP = 1/(4 pi)");
	check_rel(t, 1 / (4 * PI), 1e-15, "relu orthogonal NTK = 1/(4 pi)");

	st = kern(&p, x, x, 2, &k, &t);
	check_status(st, NTK_OK, "relu diagonal status");
	check(k == 0.25, "relu diagonal NNGP == 0.25 exactly");
	check(t == 0.5, "relu diagonal NTK == 0.5 exactly");

	p = params(1, NTK_RELU, sqrt(2.0), 1.0);
	st = kern(&p, x, z, 2, &k, &t);
	check_status(st, NTK_OK, "relu sb=1 status");
	check_rel(k, sqrt(3.0) / PI + 5.0 / 3.0, 1e-14, "relu sb=1 NNGP = sqrt3/pi + 5/3");
	check_rel(t, sqrt(3.0) / PI + 7.0 / 3.0, 1e-14, "relu sb=1 NTK = sqrt3/pi + 7/3");

	p = params(1, NTK_ERF, 1.0, 0.0);
	st = kern(&p, x, x, 2, &k, &t);
	check_status(st, NTK_OK, "erf diagonal status");
	check_rel(k, 1.0 / 3.0, 1e-15, "erf diagonal NNGP = 1/3");
	check_rel(t, 1.0 / 3.0 + 2.0 / (PI * sqrt(3.0)), 1e-15,
			  "erf diagonal NTK = 1/3 + 2/(pi sqrt3)");

	st = kern(&p, y, x, 2, &k, &t);
	check_status(st, NTK_OK, "erf pair status");
	check_rel(k, (2 / PI) * asin(1 / sqrt(6.0)), 1e-15,
			  "erf pair NNGP = (2/pi) asin(1/sqrt6)");
	check_rel(t, (2 / PI) * asin(1 / sqrt(6.0)) + (2 / PI) / sqrt(5.0), 1e-15,
			  "erf pair NTK = NNGP + (2/pi)/sqrt5");

	/* orthogonal erf inputs with sigma_b = 0: everything vanishes */
	st = kern(&p, x, z, 2, &k, &t);
	check_status(st, NTK_OK, "erf orthogonal status");
	check(k == 0.0 && t == 0.0, "erf orthogonal NNGP = NTK = 0");

	/* depth 0: the input layer only, for both activations */
	p = params(0, NTK_RELU, 2.0, 0.5);
	st = kern(&p, y, x, 2, &k, &t);
	check_status(st, NTK_OK, "depth 0 status");
	check_rel(k, 4.0 * 1 / 2 + 0.25, 1e-15, "depth 0 relu NNGP = K1");
	check_rel(t, 4.0 * 1 / 2 + 0.25, 1e-15, "depth 0 relu NTK = K1");
	p.activation = NTK_ERF;
	st = kern(&p, y, x, 2, &k, &t);
	check_rel(k, 2.25, 1e-15, "depth 0 erf NNGP = K1");
	check_rel(t, 2.25, 1e-15, "depth 0 erf NTK = K1");
}

/* Textbook one-layer formulas for a general pair, any sigmas (depth 1). */
static void
test_depth1_formula(void)
{
	int			trial;
	char		msg[128];

	for (trial = 0; trial < 200; trial++)
	{
		double		x[7], z[7];
		int			d = 1 + trial % 7;
		double		sw = 0.5 + 1.5 * urand();
		double		sb = urand();
		double		xx = 0, zz = 0, xz = 0;
		double		k11, k22, k12, want_k, want_t, k, t;
		int			i;
		NtkParams	p;

		for (i = 0; i < d; i++)
		{
			x[i] = 2 * urand() - 1;
			z[i] = 2 * urand() - 1;
			xx += x[i] * x[i];
			zz += z[i] * z[i];
			xz += x[i] * z[i];
		}
		if (d == 1 || fabs(xz) > 0.99 * sqrt(xx * zz))
			continue;			/* keep away from the ill-conditioned t ~ 0 */
		k11 = sw * sw * xx / d + sb * sb;
		k22 = sw * sw * zz / d + sb * sb;
		k12 = sw * sw * xz / d + sb * sb;

		/* ReLU */
		{
			double		s = sqrt(k11 * k22);
			double		th = acos(k12 / s);

			want_k = sw * sw * s * (sin(th) + (PI - th) * cos(th)) / (2 * PI) + sb * sb;
			want_t = want_k + sw * sw * (PI - th) / (2 * PI) * k12;
		}
		p = params(1, NTK_RELU, sw, sb);
		kern(&p, x, z, d, &k, &t);
		snprintf(msg, sizeof msg, "relu depth-1 formula NNGP, trial %d", trial);
		check_rel(k, want_k, 1e-13, msg);
		snprintf(msg, sizeof msg, "relu depth-1 formula NTK, trial %d", trial);
		check_rel(t, want_t, 1e-13, msg);

		/* Erf: K = sw^2 (2/pi) asin(2k12/sqrt((1+2k11)(1+2k22))) + sb^2 */
		want_k = sw * sw * (2 / PI) *
			asin(2 * k12 / sqrt((1 + 2 * k11) * (1 + 2 * k22))) + sb * sb;
		want_t = want_k + sw * sw * (4 / PI) /
			sqrt((1 + 2 * k11) * (1 + 2 * k22) - 4 * k12 * k12) * k12;
		p = params(1, NTK_ERF, sw, sb);
		kern(&p, x, z, d, &k, &t);
		snprintf(msg, sizeof msg, "erf depth-1 formula NNGP, trial %d", trial);
		check_rel(k, want_k, 1e-13, msg);
		snprintf(msg, sizeof msg, "erf depth-1 formula NTK, trial %d", trial);
		check_rel(t, want_t, 1e-13, msg);
	}
}

/*
 * Textbook recursion in long double, any depth: cos t = K(x,z)/sqrt(K(x,x)K(z,z)),
 * t = acos(cos t), for pairs well away from parallel (where acos is fine).
 */
static void
textbook_long_double(const NtkParams *p, double xx, double zz, double xz, int d,
					 double *nngp, double *ntk)
{
	long double sw2 = (long double) p->sigma_w * p->sigma_w;
	long double sb2 = (long double) p->sigma_b * p->sigma_b;
	long double kx = sw2 * xx / d + sb2;
	long double kz = sw2 * zz / d + sb2;
	long double k = sw2 * xz / d + sb2;
	long double th = k;
	long double pi = acosl(-1.0L);
	int			l;

	for (l = 0; l < p->depth; l++)
	{
		long double e, de;

		if (p->activation == NTK_RELU)
		{
			long double s = sqrtl(kx * kz);
			long double t = acosl(fminl(fmaxl(k / s, -1.0L), 1.0L));

			e = s * (sinl(t) + (pi - t) * cosl(t)) / (2 * pi);
			de = (pi - t) / (2 * pi);
			kx = sw2 * kx / 2 + sb2;
			kz = sw2 * kz / 2 + sb2;
		}
		else
		{
			long double dx = 1 + 2 * kx, dz = 1 + 2 * kz;

			e = (2 / pi) * asinl(2 * k / sqrtl(dx * dz));
			de = (4 / pi) / sqrtl(dx * dz - 4 * k * k);
			kx = sw2 * (2 / pi) * asinl(2 * kx / dx) + sb2;
			kz = sw2 * (2 / pi) * asinl(2 * kz / dz) + sb2;
		}
		k = sw2 * e + sb2;
		th = k + sw2 * de * th;
	}
	*nngp = (double) k;
	*ntk = (double) th;
}

static void
test_deep_formula(void)
{
	int			trial;
	char		msg[160];
	double		maxerr = 0;

	for (trial = 0; trial < 400; trial++)
	{
		double		x[9], z[9];
		int			d = 2 + trial % 8;
		NtkParams	p = params(1 + trial % 8, (NtkActivation) ((trial / 8) % 2),
							   0.5 + 1.5 * urand(), (trial % 5) ? urand() : 0.0);
		double		xx = 0, zz = 0, xz = 0, wk, wt, k, t, ek, et;
		int			i;

		for (i = 0; i < d; i++)
		{
			x[i] = 2 * urand() - 1;
			z[i] = (2 * urand() - 1) * (trial % 3 ? 1.0 : 5.0);	/* unequal norms */
			xx += x[i] * x[i];
			zz += z[i] * z[i];
			xz += x[i] * z[i];
		}
		if (fabs(xz) > 0.99 * sqrt(xx * zz))
			continue;
		textbook_long_double(&p, xx, zz, xz, d, &wk, &wt);
		check_status(kern(&p, x, z, d, &k, &t), NTK_OK, "deep formula status");
		/* relative, floored at 1e-3 of the Cauchy-Schwarz scale (erf can cancel to ~0) */
		{
			double		kxx, txx, kzz, tzz;

			kern(&p, x, x, d, &kxx, &txx);
			kern(&p, z, z, d, &kzz, &tzz);
			ek = fabs(k - wk) / fmax(fabs(wk), 1e-3 * sqrt(kxx * kzz));
			et = fabs(t - wt) / fmax(fabs(wt), 1e-3 * sqrt(txx * tzz));
		}
		maxerr = fmax(maxerr, fmax(ek, et));
		snprintf(msg, sizeof msg, "%s depth %d sw %.3g sb %.3g d %d vs long double textbook: "
				 "rel err %.3g %.3g", p.activation ? "erf" : "relu", p.depth,
				 p.sigma_w, p.sigma_b, d, ek, et);
		check(ek <= 1e-12 && et <= 1e-12, msg);
	}
	printf("deep pairs vs long double textbook: max rel err %.3g\n", maxerr);
}

/*
 * Closed form of the ReLU self kernel: with t = 0 every layer is linear,
 *	 k_1 = sw^2 |x|^2 / d + sb^2, k_{l+1} = sw^2/2 k_l + sb^2,
 *	 Theta_1 = k_1, Theta_{l+1} = k_{l+1} + sw^2/2 Theta_l.
 */
static void
relu_self_closed_form(const NtkParams *p, double sqnorm, int d,
					  double *nngp, double *ntk)
{
	double		sw2 = p->sigma_w * p->sigma_w;
	double		k = sw2 * sqnorm / d + p->sigma_b * p->sigma_b;
	double		t = k;
	int			l;

	for (l = 0; l < p->depth; l++)
	{
		k = sw2 / 2 * k + p->sigma_b * p->sigma_b;
		t = k + sw2 / 2 * t;
	}
	*nngp = k;
	*ntk = t;
}

static void
test_relu_self_closed_form(void)
{
	static const int depths[] = {0, 1, 2, 3, 5, 8, 13, 20};
	static const double sws[] = {0.5, 1.0, 1.2345, 1.4142135623730951, 2.0};
	static const double sbs[] = {0.0, 0.1, 0.5, 1.0, 3.0};
	double		x[13];
	size_t		a, b, c;
	int			i;
	char		msg[160];
	double		maxerr = 0;

	for (i = 0; i < 13; i++)
		x[i] = 2 * urand() - 1;
	for (a = 0; a < sizeof depths / sizeof depths[0]; a++)
		for (b = 0; b < sizeof sws / sizeof sws[0]; b++)
			for (c = 0; c < sizeof sbs / sizeof sbs[0]; c++)
			{
				NtkParams	p = params(depths[a], NTK_RELU, sws[b], sbs[c]);
				int			d = 1 + (int) ((a + b + c) % 13);
				double		xx = 0, wk, wt, k, t, diag[2 * 21 + 2];
				NtkStatus	st;

				for (i = 0; i < d; i++)
					xx += x[i] * x[i];
				relu_self_closed_form(&p, xx, d, &wk, &wt);
				st = kern(&p, x, x, d, &k, &t);
				snprintf(msg, sizeof msg,
						 "relu self closed form depth %d sw %g sb %g d %d",
						 p.depth, p.sigma_w, p.sigma_b, d);
				check_status(st, NTK_OK, msg);
				check_rel(k, wk, 1e-14, msg);
				check_rel(t, wt, 1e-14, msg);
				maxerr = fmax(maxerr, fabs(k - wk) / wk);
				maxerr = fmax(maxerr, fabs(t - wt) / wt);

				/* the diagonal state gives the same self kernels */
				st = ntk_point_diag(&p, xx, d, diag);
				check_status(st, NTK_OK, "ntk_point_diag status");
				check(ntk_diag_nngp(&p, diag) == k, "diag NNGP == pair NNGP bit for bit");
				check(ntk_diag_ntk(&p, diag) == t, "diag NTK == pair NTK bit for bit");
			}
	printf("relu self closed form: max rel err %.3g\n", maxerr);
}

/*
 * Homogeneity: with sigma_b = 0 the ReLU net is positively homogeneous, so
 * K(x, 2x) = 2 K(x, x) and Theta(x, 2x) = 2 Theta(x, x) at every depth.  Both
 * are computed exactly, so only rounding of the layers separates them.
 * Also K(x, -x) for depth >= 1: t = pi, E[relu relu] = 0.
 */
static void
test_homogeneity(void)
{
	int			trial;
	char		msg[128];
	double		maxerr = 0;

	for (trial = 0; trial < 60; trial++)
	{
		double		x[9], x2[9], mx[9];
		int			d = 1 + trial % 9;
		int			depth = trial % 11;
		double		sw = 0.5 + 1.5 * urand();
		double		k1, t1, k2, t2, k2r, t2r;
		int			i;
		NtkParams	p = params(depth, NTK_RELU, sw, 0.0);

		for (i = 0; i < d; i++)
		{
			x[i] = 2 * urand() - 1;
			x2[i] = 2 * x[i];
			mx[i] = -x[i];
		}
		kern(&p, x, x, d, &k1, &t1);
		kern(&p, x, x2, d, &k2, &t2);
		kern(&p, x2, x, d, &k2r, &t2r);
		snprintf(msg, sizeof msg, "homogeneity K(x,2x)=2K(x,x) depth %d d %d", depth, d);
		check_rel(k2, 2 * k1, 1e-14, msg);
		snprintf(msg, sizeof msg, "homogeneity Theta(x,2x)=2Theta(x,x) depth %d d %d", depth, d);
		check_rel(t2, 2 * t1, 1e-14, msg);
		check(k2 == k2r && t2 == t2r, "homogeneity: symmetric in its arguments");
		maxerr = fmax(maxerr, fabs(k2 - 2 * k1) / (2 * k1));
		maxerr = fmax(maxerr, fabs(t2 - 2 * t1) / (2 * t1));

		if (depth >= 1)
		{
			kern(&p, x, mx, d, &k2, &t2);
			/*
			 * x and -x: K1 = -k, t = pi, K2 = 0, Theta2 = 0 + sw^2 * 0 * ... = 0;
			 * deeper layers then see orthogonal inputs of equal variance.
			 */
			if (depth == 1)
			{
				snprintf(msg, sizeof msg, "antiparallel depth 1 d %d: K = Theta = 0", d);
				check(fabs(k2) <= 1e-15 * k1 && fabs(t2) <= 1e-15 * t1, msg);
			}
			else
			{
				snprintf(msg, sizeof msg, "antiparallel depth %d finite, >= 0", depth);
				check(isfinite(k2) && isfinite(t2) && k2 >= 0 && t2 >= 0, msg);
			}
		}
	}
	printf("homogeneity: max rel err %.3g\n", maxerr);
}

/* Zero vectors: finite values, zero when sigma_b = 0, never NaN. */
static void
test_zero_vector(void)
{
	double		zero[4] = {0, 0, 0, 0};
	double		x[4] = {0.3, -1.2, 0.7, 2.0};
	int			depth;
	int			act;
	char		msg[128];

	for (act = 0; act < 2; act++)
		for (depth = 0; depth <= 20; depth += 4)
		{
			NtkParams	p = params(depth, (NtkActivation) act, 1.3, 0.0);
			double		k, t;
			NtkStatus	st;

			st = kern(&p, zero, zero, 4, &k, &t);
			snprintf(msg, sizeof msg, "%s depth %d K(0,0) = Theta(0,0) = 0",
					 act ? "erf" : "relu", depth);
			check(st == NTK_OK && k == 0.0 && t == 0.0, msg);
			st = kern(&p, zero, x, 4, &k, &t);
			snprintf(msg, sizeof msg, "%s depth %d K(0,x) = Theta(0,x) = 0",
					 act ? "erf" : "relu", depth);
			check(st == NTK_OK && k == 0.0 && t == 0.0, msg);

			p.sigma_b = 0.7;
			st = kern(&p, zero, x, 4, &k, &t);
			snprintf(msg, sizeof msg, "%s depth %d sb>0: K(0,x) finite and positive",
					 act ? "erf" : "relu", depth);
			check(st == NTK_OK && isfinite(k) && isfinite(t) && k > 0 && t > 0, msg);
			st = kern(&p, zero, zero, 4, &k, &t);
			snprintf(msg, sizeof msg, "%s depth %d sb>0: K(0,0) finite and positive",
					 act ? "erf" : "relu", depth);
			check(st == NTK_OK && isfinite(k) && isfinite(t) && k > 0 && t > 0, msg);
			if (act == NTK_RELU && depth > 0)
			{
				/* zero input: K1 = sb^2, then the self closed form holds */
				double		wk, wt;

				relu_self_closed_form(&p, 0.0, 4, &wk, &wt);
				check_rel(k, wk, 1e-14, "relu K(0,0) with sb>0: closed form");
				check_rel(t, wt, 1e-14, "relu Theta(0,0) with sb>0: closed form");
			}
		}
}

/* Symmetry, Cauchy-Schwarz and consistency of the split API. */
static void
test_structure(void)
{
	int			trial;
	double		maxasym = 0;

	for (trial = 0; trial < 300; trial++)
	{
		double		x[6], z[6];
		int			d = 1 + trial % 6;
		NtkParams	p = params(trial % 12, (NtkActivation) (trial % 2),
							   0.5 + 1.5 * urand(), urand());
		double		kxz, txz, kzx, tzx, kxx, txx, kzz, tzz;
		double		dx[2 * 13 + 2], dz[2 * 13 + 2], xx = 0, zz = 0, xz = 0;
		double		kp, tp, only;
		int			i;

		for (i = 0; i < d; i++)
		{
			x[i] = 4 * urand() - 2;
			z[i] = (trial % 5 == 0) ? 3 * x[i] : 4 * urand() - 2;	/* some parallel */
			xx += x[i] * x[i];
			zz += z[i] * z[i];
			xz += x[i] * z[i];
		}
		kern(&p, x, z, d, &kxz, &txz);
		kern(&p, z, x, d, &kzx, &tzx);
		kern(&p, x, x, d, &kxx, &txx);
		kern(&p, z, z, d, &kzz, &tzz);
		maxasym = fmax(maxasym, fabs(kxz - kzx) / fabs(kxz));
		maxasym = fmax(maxasym, fabs(txz - tzx) / fabs(txz));
		check(fabs(kxz - kzx) <= 1e-15 * fabs(kxz) &&
			  fabs(txz - tzx) <= 1e-15 * fabs(txz), "symmetry K(x,z) = K(z,x)");
		check(kxz * kxz <= kxx * kzz * (1 + 1e-14), "Cauchy-Schwarz for NNGP");
		check(txz * txz <= txx * tzz * (1 + 1e-14), "Cauchy-Schwarz for NTK");
		if (p.activation == NTK_RELU && p.depth > 0)
			check(kxz >= 0 && txz >= 0, "relu kernels non-negative for depth >= 1");

		/* split API == convenience API, bit for bit */
		ntk_point_diag(&p, xx, d, dx);
		ntk_point_diag(&p, zz, d, dz);
		check_status(ntk_pair_vectors(&p, xz, x, z, d, dx, dz, &kp, &tp), NTK_OK,
					 "ntk_pair_vectors status");
		check(kp == kxz && tp == txz, "ntk_pair_vectors == ntk_kernel_vectors");
		only = NAN;
		ntk_pair_vectors(&p, xz, x, z, d, dx, dz, &only, NULL);
		check(only == kxz, "ntk_pair_vectors with ntk = NULL");
		only = NAN;
		ntk_pair_vectors(&p, xz, x, z, d, dx, dz, NULL, &only);
		check(only == txz, "ntk_pair_vectors with nngp = NULL");
		/* away from parallel, the dot product alone gives the same bits */
		if (trial % 5 != 0 && fabs(xz) < 0.99 * sqrt(xx * zz))
		{
			check_status(ntk_pair(&p, xz, d, dx, dz, &kp, &tp), NTK_OK, "ntk_pair status");
			check(kp == kxz && tp == txz, "ntk_pair == ntk_kernel_vectors");
		}
		check(ntk_diag_nngp(&p, dx) == kxx && ntk_diag_ntk(&p, dx) == txx,
			  "diag state == self kernel");
	}
	printf("symmetry: max rel asymmetry %.3g\n", maxasym);
}

/* Every error status. */
static void
test_errors(void)
{
	double		x[3] = {1, 2, 3};
	double		z[3] = {-1, 0.5, 2};
	double		bad[3];
	double		k, t;
	NtkParams	p;
	NtkActivation act;
	int			i;
	NtkStatus	st;
	static const double nonfinite[3] = {NAN, INFINITY, -INFINITY};

	p = params(-1, NTK_RELU, 1, 0);
	check_status(kern(&p, x, z, 3, &k, &t), NTK_BAD_DEPTH, "depth -1");
	check_status(ntk_params_check(&p), NTK_BAD_DEPTH, "params_check depth -1");
	check(isnan(k) && isnan(t), "outputs untouched on error");
	p.depth = NTK_MAX_DEPTH + 1;
	check_status(kern(&p, x, z, 3, &k, &t), NTK_BAD_DEPTH, "depth NTK_MAX_DEPTH + 1");
	p.depth = NTK_MAX_DEPTH;
	check_status(kern(&p, x, z, 3, &k, &t), NTK_OK, "depth NTK_MAX_DEPTH is accepted");
	check(isfinite(k) && isfinite(t), "depth NTK_MAX_DEPTH finite");
	p.activation = NTK_ERF;
	check_status(kern(&p, x, z, 3, &k, &t), NTK_OK, "erf depth NTK_MAX_DEPTH is accepted");
	check(isfinite(k) && isfinite(t), "erf depth NTK_MAX_DEPTH finite");
	check(ntk_diag_len(&p) == 2 * (size_t) (NTK_MAX_DEPTH + 1) + 2, "ntk_diag_len");

	p = params(2, NTK_RELU, 0.0, 0);
	check_status(kern(&p, x, z, 3, &k, &t), NTK_BAD_SIGMA_W, "sigma_w = 0");
	p.sigma_w = -1;
	check_status(kern(&p, x, z, 3, &k, &t), NTK_BAD_SIGMA_W, "sigma_w < 0");
	p.sigma_w = -0.0;
	check_status(kern(&p, x, z, 3, &k, &t), NTK_BAD_SIGMA_W, "sigma_w = -0");
	p.sigma_w = NAN;
	check_status(kern(&p, x, z, 3, &k, &t), NTK_BAD_SIGMA_W, "sigma_w NaN");
	p.sigma_w = INFINITY;
	check_status(kern(&p, x, z, 3, &k, &t), NTK_BAD_SIGMA_W, "sigma_w Inf");
	p.sigma_w = 1e-300;
	check_status(kern(&p, x, z, 3, &k, &t), NTK_OK, "tiny sigma_w accepted");
	check(isfinite(k) && isfinite(t), "tiny sigma_w finite");

	p = params(2, NTK_RELU, 1.0, -1e-300);
	check_status(kern(&p, x, z, 3, &k, &t), NTK_BAD_SIGMA_B, "sigma_b < 0");
	p.sigma_b = NAN;
	check_status(kern(&p, x, z, 3, &k, &t), NTK_BAD_SIGMA_B, "sigma_b NaN");
	p.sigma_b = INFINITY;
	check_status(kern(&p, x, z, 3, &k, &t), NTK_BAD_SIGMA_B, "sigma_b Inf");
	p.sigma_b = 0.0;
	check_status(kern(&p, x, z, 3, &k, &t), NTK_OK, "sigma_b = 0 accepted");

	p = params(2, (NtkActivation) 7, 1.0, 0.0);
	check_status(kern(&p, x, z, 3, &k, &t), NTK_BAD_ACTIVATION, "unknown activation");

	p = params(2, NTK_RELU, 1.0, 0.0);
	check_status(kern(&p, x, z, 0, &k, &t), NTK_BAD_DIMENSION, "dim 0");
	check_status(kern(&p, x, z, -3, &k, &t), NTK_BAD_DIMENSION, "dim < 0");

	for (i = 0; i < 3; i++)
	{
		int			j;

		for (j = 0; j < 3; j++)
		{
			memcpy(bad, x, sizeof bad);
			bad[j] = nonfinite[i];
			check_status(kern(&p, bad, z, 3, &k, &t), NTK_NOT_FINITE, "non-finite in x");
			check_status(kern(&p, z, bad, 3, &k, &t), NTK_NOT_FINITE, "non-finite in z");
		}
	}

	/* activation names */
	check(ntk_activation_parse("relu", &act) == 0 && act == NTK_RELU, "parse relu");
	check(ntk_activation_parse("erf", &act) == 0 && act == NTK_ERF, "parse erf");
	check(ntk_activation_parse("tanh", &act) == -1, "parse tanh fails");
	check(ntk_activation_parse("", &act) == -1, "parse empty fails");
	check(ntk_activation_parse("RELU", &act) == -1, "parse is case sensitive");
	check(strcmp(ntk_activation_name(NTK_RELU), "relu") == 0, "name relu");
	check(strcmp(ntk_activation_name(NTK_ERF), "erf") == 0, "name erf");
	for (st = NTK_OK; st <= NTK_CANCELED; st++)
		check(ntk_status_string(st) != NULL && *ntk_status_string(st) != '\0'
			  && strcmp(ntk_status_string(st), "unknown status") != 0,
			  "every status has a description");
	check(strcmp(ntk_status_string((NtkStatus) 99), "unknown status") == 0,
		  "unknown status string");
}

/* Huge and tiny inputs: finite values or NTK_OVERFLOW, never NaN. */
static void
test_extremes(void)
{
	static const double scales[] = {1e-300, 1e-200, 1e-160, 1e-100, 1e-10, 1,
	1e10, 1e100, 1e150, 1e153, 1e154, 1e155, 1e160, 1e200, 1e300, DBL_MAX};
	static const double sws[] = {0.5, 1.0, 1.5, 10.0, 1e10};
	static const int depths[] = {0, 1, 3, 10, 100, 1000};
	size_t		a, b, c;
	int			act, n_ok = 0, n_over = 0;
	char		msg[200];
	double		k, t;
	double		huge[2] = {1e200, 1e200};
	double		one[2] = {1, 1};
	NtkParams	p;

	for (a = 0; a < sizeof scales / sizeof scales[0]; a++)
		for (b = 0; b < sizeof sws / sizeof sws[0]; b++)
			for (c = 0; c < sizeof depths / sizeof depths[0]; c++)
				for (act = 0; act < 2; act++)
				{
					double		x[3] = {scales[a], -0.5 * scales[a], 0.25 * scales[a]};
					double		z[3] = {0.3 * scales[a], scales[a], -scales[a]};
					NtkStatus	st;
					int			pair;

					p = params(depths[c], (NtkActivation) act, sws[b], (a + c) % 2 ? 0.5 : 0.0);
					for (pair = 0; pair < 2; pair++)
					{
						st = kern(&p, x, pair ? z : x, 3, &k, &t);
						snprintf(msg, sizeof msg,
								 "extreme scale %g sw %g depth %d %s %s: status %s k %g t %g",
								 scales[a], p.sigma_w, p.depth, act ? "erf" : "relu",
								 pair ? "pair" : "self", ntk_status_string(st), k, t);
						if (st == NTK_OK)
						{
							n_ok++;
							check(isfinite(k) && isfinite(t), msg);
						}
						else
						{
							n_over++;
							check(st == NTK_OVERFLOW, msg);
						}
					}
				}
	printf("extremes: %d finite, %d NTK_OVERFLOW\n", n_ok, n_over);

	/* specific ones */
	p = params(3, NTK_RELU, 1.0, 0.0);
	check_status(kern(&p, huge, one, 2, &k, &t), NTK_OVERFLOW, "|x|^2 overflows");
	p = params(3, NTK_RELU, 1e100, 0.0);
	check_status(kern(&p, one, one, 2, &k, &t), NTK_OVERFLOW, "sigma_w^2 growth overflows");
	p = params(3, NTK_ERF, 1e100, 0.0);
	check_status(kern(&p, one, one, 2, &k, &t), NTK_OVERFLOW, "erf sigma_w^2 overflows");
	/* erf saturates: a huge but finite input still gives a finite kernel */
	{
		double		big[2] = {1e150, -3e150};

		p = params(3, NTK_ERF, 1.0, 0.0);
		check_status(kern(&p, big, one, 2, &k, &t), NTK_OK, "erf huge input finite");
		check(isfinite(k) && isfinite(t), "erf huge input finite values");
		check_status(kern(&p, big, big, 2, &k, &t), NTK_OK, "erf huge self finite");
		check(isfinite(k) && isfinite(t), "erf huge self finite values");
	}
}

/*
 * Regimes where float64 arithmetic once lost the answer without a sign,
 * against values computed in 60-digit arithmetic (mpmath, from the
 * contract's formulas, by an independent audit).
 */
static void
test_lost_digits(void)
{
	double		x3[3] = {1, 2, 0};
	double		z3[3] = {2, 0.5, 1};
	double		xs[3] = {1e-100, 2e-100, 0};
	double		zs[3] = {2e-100, 0.5e-100, 1e-100};
	double		xa[2] = {-0.1, 0.2};
	double		za[2] = {0.3, -0.6};
	double		x1 = -0.1;
	double		z1 = 0.3;
	double		big = 1e8;
	double		k, t, kx, tx, kz, tz;
	NtkParams	p;

	/* ReLU variances halve a layer: 1e-179 at depth 600, where delta (s + K) underflows */
	p = params(600, NTK_RELU, 1.0, 0.0);
	check_status(kern(&p, x3, z3, 3, &k, &t), NTK_OK, "depth 600 status");
	check_rel(t, 6.3398624766518124e-179, 1e-11, "relu depth 600: NTK near 1e-179 (no underflowed angle)");
	p = params(1, NTK_RELU, 1.0, 0.0);
	check_status(kern(&p, xs, zs, 3, &k, &t), NTK_OK, "tiny inputs status");
	check_rel(t, 9.194575457780886e-201, 1e-13, "relu inputs near 1e-100: NTK near 1e-200");

	/* antiparallel inputs of unequal norms: s + K is rounding, the angle is pi */
	p = params(3, NTK_RELU, 1.0, 0.0);
	check_status(kern(&p, xa, za, 2, &k, &t), NTK_OK, "antiparallel status");
	check_rel(t, 0.006428518465152586, 1e-13, "relu antiparallel x, -3x at depth 3");
	p = params(1, NTK_RELU, 1.0, 0.0);
	check_status(kern(&p, &x1, &z1, 1, &k, &t), NTK_OK, "antiparallel d = 1 status");
	check_status(kern(&p, &x1, &x1, 1, &kx, &tx), NTK_OK, "self status");
	check_status(kern(&p, &z1, &z1, 1, &kz, &tz), NTK_OK, "self status");
	check(fabs(t) <= 1e-15 * sqrt(tx * tz) && fabs(k) <= 1e-15 * sqrt(kx * kz),
		  "relu antiparallel d = 1 at depth 1: kernels 0 to rounding, not -2.4e-9 of the scale");

	/* erf with a large first-layer variance: asin near 1 */
	p = params(1, NTK_ERF, 1.0, 0.0);
	check_status(kern(&p, &big, &big, 1, &k, &t), NTK_OK, "erf 1e8 status");
	check_rel(k, 0.99999999363380232, 1e-14, "erf NNGP of x = 1e8 with itself");
}

int
main(int argc, char **argv)
{
	(void) argc;
	rng_state = unit_seed(0x9E3779B97F4A7C15ULL);
	test_hand_values();
	test_depth1_formula();
	test_deep_formula();
	test_relu_self_closed_form();
	test_homogeneity();
	test_zero_vector();
	test_structure();
	test_errors();
	test_extremes();
	test_lost_digits();

	unit_seed_report(argv[0]);
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
