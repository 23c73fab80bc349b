/*-------------------------------------------------------------------------
 *
 * test_krr.c
 *	  Server-less unit tests of the kernel regression numerics
 *	  (src/core/krr.c): standardization, gradient flow at a finite time,
 *	  closed-form leave-one-out error, training error, a fit's peak memory
 *	  and the dimension checks on entry.
 *
 * Expectations are derived by hand (small cases written out below) or by
 * an independent computation: means and deviations in long double (whose
 * wider exponent neither overflows nor underflows where double does), and
 * the leave-one-out error by refitting without each row.  Built and run by
 * `make unitcheck`; the program ends with "N passed, M failed" and exits 1
 * on any failure.
 *
 *-------------------------------------------------------------------------
 */
#include "krr.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"

static int
close_rel(double got, double want, double tol)
{
	if (got == want)
		return 1;
	return fabs(got - want) <= tol * fabs(want);
}

/* Mean and population deviation of column j of X (n x d) in long double. */
static void
reference_moments(const double *X, int n, int d, int j, long double *mean,
				  long double *sd)
{
	long double s = 0.0L;
	long double ss = 0.0L;
	int			i;

	for (i = 0; i < n; i++)
		s += X[i * d + j];
	*mean = s / n;
	for (i = 0; i < n; i++)
	{
		long double c = X[i * d + j] - *mean;

		ss += c * c;
	}
	*sd = sqrtl(ss / n);
}

static void
test_standardize_small(void)
{
	/* column 0: 1, 3, 5 (mean 3, deviation sqrt(8/3)); column 1 constant */
	double		X[6] = {1, 10, 3, 10, 5, 10};
	double		mean[2];
	double		scale[2];
	double		work[4];
	double		sd = sqrt(8.0 / 3.0);
	int			bad = -1;

	check_status(ntk_standardize(X, 3, 2, mean, scale, work, &bad), NTK_OK,
				 "standardize 3 x 2");
	check(mean[0] == 3.0 && mean[1] == 10.0, "means 3 and 10");
	check(close_rel(scale[0], sd, 1e-15), "scale sqrt(8/3)");
	check(scale[1] == 1.0, "a constant feature keeps scale 1");
	check(close_rel(X[0], -2.0 / sd, 1e-15) && X[2] == 0.0 &&
		  close_rel(X[4], 2.0 / sd, 1e-15), "column 0 is -2/sd, 0, 2/sd");
	check(X[1] == 0.0 && X[3] == 0.0 && X[5] == 0.0, "a constant feature is centered to 0");
	check(bad == -1, "no bad feature reported on success");
}

/*
 * On ordinary values the scaled sums are the plain sums to the bit: compare
 * with the textbook two-pass formula in double.
 */
static void
test_standardize_bits(void)
{
	enum
	{
		N = 7, D = 3
	};
	double		X[N * D];
	double		X0[N * D];
	double		mean[D];
	double		scale[D];
	double		work[2 * D];
	int			bad;
	int			i;
	int			j;
	int			same = 1;

	for (i = 0; i < N; i++)
		for (j = 0; j < D; j++)
			X[i * D + j] = X0[i * D + j] = sin(1.0 + i * 0.7 + j * 1.3) * pow(10.0, j - 1) + 0.1 * j;
	check_status(ntk_standardize(X, N, D, mean, scale, work, &bad), NTK_OK, "standardize 7 x 3");
	for (j = 0; j < D; j++)
	{
		double		m = 0.0;
		double		v = 0.0;

		for (i = 0; i < N; i++)
			m += X0[i * D + j];
		m /= N;
		for (i = 0; i < N; i++)
			v += (X0[i * D + j] - m) * (X0[i * D + j] - m);
		v = sqrt(v / N);
		same &= mean[j] == m && scale[j] == v;
		for (i = 0; i < N; i++)
			same &= X[i * D + j] == (X0[i * D + j] - m) / v;
	}
	check(same, "mean, scale and values are the bits of the plain two-pass sums");
}

/* Features near 1e155 and 1e-162 (squares out of range) against long double. */
static void
test_standardize_extremes(void)
{
	double		X[8] = {1e155, 3e-162, -2e155, 1e-162, 5e154, -4e-162, 7e154, 2e-162};
	double		X0[8];
	double		mean[2];
	double		scale[2];
	double		work[4];
	int			bad;
	int			i;
	int			j;
	int			ok = 1;

	memcpy(X0, X, sizeof(X));
	check_status(ntk_standardize(X, 4, 2, mean, scale, work, &bad), NTK_OK,
				 "standardize features near 1e155 and 1e-162");
	for (j = 0; j < 2; j++)
	{
		long double m;
		long double sd;

		reference_moments(X0, 4, 2, j, &m, &sd);
		ok &= close_rel(mean[j], (double) m, 1e-14) && close_rel(scale[j], (double) sd, 1e-14);
		for (i = 0; i < 4; i++)
			ok &= close_rel(X[i * 2 + j], (double) ((X0[i * 2 + j] - m) / sd), 1e-14);
	}
	check(ok, "extreme features match the long double moments");
}

/* A feature spanning more than the range: x - mean overflows, the halved form does not. */
static void
test_standardize_span(void)
{
	double		X[3] = {1.7e308, -1.7e308, -1.7e308};
	double		X0[3];
	double		mean;
	double		scale;
	double		work[2];
	long double m;
	long double sd;
	int			bad;
	int			i;
	int			ok = 1;

	memcpy(X0, X, sizeof(X));
	check_status(ntk_standardize(X, 3, 1, &mean, &scale, work, &bad), NTK_OK,
				 "a feature spanning more than the double range");
	reference_moments(X0, 3, 1, 0, &m, &sd);
	for (i = 0; i < 3; i++)
		ok &= isfinite(X[i]) && close_rel(X[i], (double) ((X0[i] - m) / sd), 1e-14);
	check(ok, "its values are finite and match long double (2/sqrt2, -1/sqrt2, -1/sqrt2)");
	check(close_rel(X[0], sqrt(2.0), 1e-15), "the largest is sqrt(2)");
}

/*
 * The smallest subnormals: 0 and 2^-1074 have mean and deviation 2^-1075,
 * which round to 0; the standardized value is then 0/0, and the feature is
 * reported by its index.
 */
static void
test_standardize_failure(void)
{
	double		X[4] = {1.0, 0.0, 2.0, 4.9406564584124654e-324};
	double		mean[2];
	double		scale[2];
	double		work[4];
	int			bad = -1;

	check_status(ntk_standardize(X, 2, 2, mean, scale, work, &bad), NTK_OVERFLOW,
				 "a feature of subnormals whose deviation rounds to 0");
	check(bad == 1, "the failing feature is reported (index 1)");
	check_status(ntk_standardize(X, 0, 2, mean, scale, work, &bad), NTK_BAD_DIMENSION,
				 "standardize n = 0");
	check_status(ntk_standardize(X, 2, 0, mean, scale, work, &bad), NTK_BAD_DIMENSION,
				 "standardize d = 0");
}

/*
 * V = I: alpha_i = (1 - exp(-w_i s)) / w_i y_i, with s at w = 0, and the
 * training predictions (1 - exp(-w_i s)) y_i; a negative eigenvalue counts
 * as 0 in the exponent (no growth) and by its magnitude in the divisor.
 */
static void
test_finite_time(void)
{
	double		V[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
	double		w[3] = {2.0, 0.0, -1e-3};
	double		Y[6] = {1.0, 3.0, -2.0, 0.5, 0.25, 4.0};
	double		alpha[6];
	double		train[6];
	double		work[6];
	double		s = 0.75;
	double		f0 = (1.0 - exp(-1.5)) / 2.0;
	int			j;
	int			ok = 1;

	check_status(ntk_finite_time(V, w, 3, s, Y, 2, alpha, train, work), NTK_OK,
				 "finite time, 3 points, 2 outputs");
	for (j = 0; j < 2; j++)
	{
		ok &= close_rel(alpha[3 * j], f0 * Y[3 * j], 1e-15);
		ok &= close_rel(alpha[3 * j + 1], s * Y[3 * j + 1], 1e-15);
		ok &= alpha[3 * j + 2] == 0.0;
		ok &= close_rel(train[3 * j], (1.0 - exp(-1.5)) * Y[3 * j], 1e-15);
		ok &= train[3 * j + 1] == 0.0 && train[3 * j + 2] == 0.0;
	}
	check(ok, "alpha = (1 - exp(-w s)) / w y, s y at w = 0, 0 at w < 0");
	check_status(ntk_finite_time(V, w, 3, s, Y, 2, alpha, NULL, work), NTK_OK,
				 "finite time without training predictions");
	check(close_rel(alpha[0], f0 * Y[0], 1e-15), "the same alpha without them");
	check_status(ntk_finite_time(V, w, 0, s, Y, 2, alpha, NULL, work), NTK_BAD_DIMENSION,
				 "finite time n = 0");
	check_status(ntk_finite_time(V, w, 3, s, Y, 0, alpha, NULL, work), NTK_BAD_DIMENSION,
				 "finite time k = 0");
}

/* Solves the 2 x 2 system A x = b by Cramer's rule. */
static void
solve2(const double A[4], const double b[2], double x[2])
{
	double		det = A[0] * A[3] - A[1] * A[2];

	x[0] = (b[0] * A[3] - A[1] * b[1]) / det;
	x[1] = (A[0] * b[1] - A[2] * b[0]) / det;
}

/*
 * K = V diag(w) V^T with V a Householder reflection; the leave-one-out
 * error of the closed form against refitting on the two other rows and
 * predicting the held-out one, for each row and output.
 */
static void
test_loo(void)
{
	const int	n = 3;
	double		u[3] = {1.0, 2.0, -1.0};
	double		w[3] = {3.0, 1.0, 0.5};
	double		Y[6] = {1.0, -0.5, 2.0, 0.3, 0.8, -1.1};
	double		lambda = 0.2;
	double		V[9];
	double		K[9];
	double		VtY[6];
	double		g[3];
	double		work[12];
	double		sse = -1.0;
	double		want = 0.0;
	double		uu = 6.0;
	int			i;
	int			j;
	int			l;
	int			held;

	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			V[i + j * n] = (i == j) - 2.0 * u[i] * u[j] / uu;
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
		{
			K[i + j * n] = 0.0;
			for (l = 0; l < n; l++)
				K[i + j * n] += V[i + l * n] * w[l] * V[j + l * n];
		}
	for (l = 0; l < 2; l++)
		for (i = 0; i < n; i++)
		{
			VtY[i + l * n] = 0.0;
			for (j = 0; j < n; j++)
				VtY[i + l * n] += V[j + i * n] * Y[j + l * n];
		}

	/* refit without each row */
	for (held = 0; held < n; held++)
	{
		int			keep[2];
		int			m = 0;
		double		A[4];

		for (i = 0; i < n; i++)
			if (i != held)
				keep[m++] = i;
		for (i = 0; i < 2; i++)
			for (j = 0; j < 2; j++)
				A[i + 2 * j] = K[keep[i] + keep[j] * n] + (i == j ? lambda : 0.0);
		for (l = 0; l < 2; l++)
		{
			double		b[2] = {Y[keep[0] + l * n], Y[keep[1] + l * n]};
			double		a[2];
			double		r;

			solve2(A, b, a);
			r = Y[held + l * n] - (K[held + keep[0] * n] * a[0] + K[held + keep[1] * n] * a[1]);
			want += r * r;
		}
	}

	check_status(ntk_loo_diag(V, w, n, lambda, g), NTK_OK, "loo diagonal");
	check_status(ntk_loo_sse(V, w, n, VtY, 2, lambda, g, work, &sse), NTK_OK, "loo sse");
	check(close_rel(sse, want, 1e-13), "closed-form leave-one-out = refitting without each row");

	/* the columns in two blocks give the same total */
	{
		double		s0;
		double		s1;

		(void) ntk_loo_sse(V, w, n, VtY, 1, lambda, g, work, &s0);
		(void) ntk_loo_sse(V, w, n, VtY + n, 1, lambda, g, work, &s1);
		check(close_rel(s0 + s1, sse, 1e-15), "loo sse column by column adds up");
	}

	{
		double		wneg[3] = {3.0, -0.5, 0.5};

		check_status(ntk_loo_diag(V, wneg, n, 0.2, g), NTK_NOT_POSITIVE_DEFINITE,
					 "an eigenvalue below -lambda is not positive definite");
	}
	check_status(ntk_loo_diag(V, w, 0, lambda, g), NTK_BAD_DIMENSION, "loo diagonal n = 0");
	check_status(ntk_loo_sse(V, w, n, VtY, 0, lambda, g, work, &sse), NTK_BAD_DIMENSION,
				 "loo sse k = 0");
}

static void
test_train_error(void)
{
	/* 4 rows, 3 classes, column-major; row 3 ties columns 0 and 2 */
	double		P[12] = {0.9, 0.1, 0.2, 0.5,
		0.05, 0.8, 0.3, 0.1,
	0.05, 0.1, 0.5, 0.5};
	int			label[4] = {0, 1, 0, 0};
	double		acc = -1.0;
	double		Pr[4] = {1.0, 2.0, 3.0, 4.0};
	double		Yr[4] = {4.0, 6.0, 3.0, 4.0};
	double		Ph[2] = {1e200, -1e200};
	double		Yh[2] = {-1e200, 1e200};
	double		rmse = -1.0;

	check_status(ntk_train_accuracy(P, 4, 3, label, &acc), NTK_OK, "accuracy");
	/* rows 0, 1 right; row 2 picks 2; row 3 ties 0 and 2 and takes the first */
	check(acc == 0.75, "accuracy 3 of 4 (a tie goes to the first class)");

	/* residuals -3, -4, 0, 0 over 4 entries: sqrt(25 / 4) */
	check_status(ntk_train_rmse(Pr, Yr, 2, 2, &rmse), NTK_OK, "rmse");
	check(rmse == 2.5, "rmse sqrt(25/4) = 2.5");
	check_status(ntk_train_rmse(Pr, Pr, 4, 1, &rmse), NTK_OK, "rmse of exact predictions");
	check(rmse == 0.0, "rmse 0");
	check_status(ntk_train_rmse(Ph, Yh, 2, 1, &rmse), NTK_OK, "rmse of residuals 2e200");
	check(close_rel(rmse, 2e200, 1e-15), "residuals of 2e200 give 2e200, not Infinity");
	check_status(ntk_train_accuracy(P, 0, 3, label, &acc), NTK_BAD_DIMENSION, "accuracy n = 0");
	check_status(ntk_train_rmse(Pr, Yr, 2, 0, &rmse), NTK_BAD_DIMENSION, "rmse k = 0");
}

/*
 * 8 (grams n^2 + n d + 4 n k + 2 n len) bytes, where a diagonal state of
 * depth L holds 2 (L + 1) + 2 doubles: k and sqrt(k) per layer, Theta and
 * the input norm.
 */
static void
test_peak_bytes(void)
{
	NtkFitOptions o;
	double		n = 1000.0;

	ntk_options_default(&o);	/* depth 3: len 10 */
	check(ntk_fit_peak_bytes(n, 20, 2, &o) ==
		  8.0 * (n * n + n * 20 + 4 * n * 2 + 2 * n * 10), "peak bytes, one Gram, depth 3");
	o.has_t = true;
	check(ntk_fit_peak_bytes(n, 20, 2, &o) ==
		  8.0 * (3 * n * n + n * 20 + 4 * n * 2 + 2 * n * 10), "peak bytes with t: three n x n");
	o.has_t = false;
	o.n_depths = 3;
	o.depths[0] = 2;
	o.depths[1] = 7;
	o.depths[2] = 5;
	check(ntk_fit_peak_bytes(n, 20, 2, &o) ==
		  8.0 * (3 * n * n + n * 20 + 4 * n * 2 + 2 * n * 18),
		  "peak bytes of a depth search: three n x n, the deepest candidate (7: len 18)");
	check(isinf(ntk_fit_peak_bytes(1e300, 1, 1, &o)), "saturates to Infinity");
}

/* 8 (n (n + 1) / 2 + n d + 4 n k + 2 n len), n^2 more with "variance" */
static void
test_packed_peak_bytes(void)
{
	NtkFitOptions o;
	double		n = 1001.0;

	ntk_options_default(&o);
	check(ntk_fit_packed_peak_bytes(n, 20, 2, &o) ==
		  8.0 * (n * (n + 1) / 2 + n * 20 + 4 * n * 2 + 2 * n * 10),
		  "packed peak bytes: the lower triangle");
	check(ntk_fit_packed_peak_bytes(60000, 784, 10, &o) < 0.51 * ntk_fit_peak_bytes(60000, 784, 10, &o),
		  "packed peak bytes: about half the full storage's at n = 60000");
	o.variance = true;
	check(ntk_fit_packed_peak_bytes(n, 20, 2, &o) ==
		  8.0 * (n * (n + 1) / 2 + n * n + n * 20 + 4 * n * 2 + 2 * n * 10),
		  "packed peak bytes with variance: and the full factor stored");
	o.variance = false;
	o.has_t = true;
	check(ntk_fit_packed_peak_bytes(n, 20, 2, &o) == ntk_fit_peak_bytes(n, 20, 2, &o),
		  "packed peak bytes with t: the eigendecomposition's three n x n");
	o.has_t = false;
	o.n_depths = 2;
	o.depths[0] = 2;
	o.depths[1] = 4;
	check(ntk_fit_packed_peak_bytes(n, 20, 2, &o) == ntk_fit_peak_bytes(n, 20, 2, &o),
		  "packed peak bytes of a search: the eigendecomposition's three n x n");
	o.n_depths = 0;
	check(isinf(ntk_fit_packed_peak_bytes(1e300, 1, 1, &o)), "packed: saturates to Infinity");
}

int
main(void)
{
	test_standardize_small();
	test_standardize_bits();
	test_standardize_extremes();
	test_standardize_span();
	test_standardize_failure();
	test_finite_time();
	test_loo();
	test_train_error();
	test_peak_bytes();
	test_packed_peak_bytes();

	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
