/*-------------------------------------------------------------------------
 *
 * test_gram.c
 *	  Server-less unit tests of the Gram tiles and the vectorized recursion
 *	  (src/core/gram.c, src/core/recursion.c).
 *
 * The Gram routines are checked entry by entry against ntk_pair, the scalar
 * pair kernel, on every recursion path (automatic: AVX-512 or AVX2+FMA
 * when the processor has them; AVX2+FMA forced; portable C forced).  The
 * random data is dyadic (small integers times a power of two per row), so
 * every dot product is exact whatever order BLAS sums it in: what is
 * compared is the recursion alone.
 *
 * No framework: every check prints one line when it fails, and the program
 * ends with exactly "N passed, M failed" and exits 1 on any failure.
 *
 * Built and run by `make unitcheck`.
 *
 *-------------------------------------------------------------------------
 */
#include "kernel.h"
#include "gram.h"
#include "recursion.h"

#include <cblas.h>
#include <dirent.h>
#include <dlfcn.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "unit_data.h"

/* Tolerance of the Gram entries against ntk_pair (relative). */
#define GRAM_TOL 1e-13

static const char *
act_name(const NtkParams *p)
{
	return p->activation == NTK_ERF ? "erf" : "relu";
}

static const char *
kind_name(NtkKernelKind kind)
{
	return kind == NTK_KERNEL_NNGP ? "nngp" : "ntk";
}


static int
irand(int lo, int hi)
{
	return lo + (int) (urand() * (hi - lo + 1));
}

/*
 * Row i of X: integers in [-32, 32] times 2^(e_i - 4), e_i in [-6, 6].
 * Products within a dot product share one power of two and sum to an
 * integer below 2^11 d in that unit, so every dot product is exact.
 */
static void
fill_dyadic(double *X, int n, int d)
{
	int			i;
	int			k;

	for (i = 0; i < n; i++)
	{
		double		scale = ldexp(1.0, irand(-6, 6) - 4);

		for (k = 0; k < d; k++)
			X[(size_t) i * d + k] = irand(-32, 32) * scale;
	}
}

static double
dot(const double *x, const double *z, int d)
{
	double		s = 0.0;
	int			k;

	for (k = 0; k < d; k++)
		s += x[k] * z[k];
	return s;
}

/*
 * Relative error of a kernel entry, the denominator floored at 1e-2 of the
 * Cauchy-Schwarz scale sqrt(k(x,x) k(z,z)): a cross kernel that cancels to
 * near zero is not judged on its last digits.  Nearly anti-parallel ReLU
 * pairs are such: the NNGP there is ~ s (pi - t)^3 / (6 pi), the sum of
 * terms of size s (pi - t), so any float64 evaluation (and the textbook
 * formula in long double agrees) carries a relative error ~ u / (pi - t)^2,
 * 1e-13 .. 1e-12 at cos t = -0.99; the vector path's fma rounds differently
 * from the scalar path's multiply and add.  NaN or Inf is error Inf.
 */
static double
entry_err(double got, double want, double self_x, double self_z)
{
	double		cs = sqrt(fabs(self_x)) * sqrt(fabs(self_z));
	double		den = fmax(fabs(want), fmax(1e-2 * cs, 1e-300));

	if (!isfinite(got) || !isfinite(want))
		return INFINITY;
	return fabs(got - want) / den;
}

/* Worst entry of a comparison, for the failure message and the summary. */
typedef struct Worst
{
	double		err;
	int			i;
	int			j;
	double		got;
	double		want;
} Worst;

static void
worst_init(Worst *w)
{
	w->err = 0.0;
	w->i = w->j = -1;
	w->got = w->want = 0.0;
}

static void
worst_add(Worst *w, double err, int i, int j, double got, double want)
{
	if (err > w->err || (isnan(err) && !isnan(w->err)))
	{
		w->err = err;
		w->i = i;
		w->j = j;
		w->got = got;
		w->want = want;
	}
}

/* the recursion paths the tests force in turn (ntk_recursion_force_path) */
static const char *
path_name(int path)
{
	return path == NTK_PATH_PORTABLE ? "portable" :
		path == NTK_PATH_AVX2 ? "avx2" : "auto";
}

/* max errors seen per section, printed at the end of each */
static double max_err_vec = 0.0;
static double max_err_port = 0.0;

static void
note_err(double err)
{
	if (ntk_recursion_vectorized())
		max_err_vec = fmax(max_err_vec, err);
	else
		max_err_port = fmax(max_err_port, err);
}

static double
pair_value(const NtkParams *p, NtkKernelKind kind, const double *x,
		   const double *z, int d, const double *dx, const double *dz,
		   NtkStatus *st)
{
	double		k = NAN;
	double		t = NAN;

	*st = ntk_pair_vectors(p, dot(x, z, d), x, z, d, dx, dz, &k, &t);
	return kind == NTK_KERNEL_NNGP ? k : t;
}

/*
 * Everything about one symmetric Gram: status consistent with the pair
 * kernel, the diagonal exactly the self kernel, every entry below it within
 * GRAM_TOL of ntk_pair, no NaN or Inf when the status is NTK_OK.  Returns the
 * status of ntk_gram_sym.  K (n*n) is left holding the Gram.
 */
static NtkStatus
check_sym(const NtkParams *p, NtkKernelKind kind, const double *X, int n, int d,
		  double *K, const char *label)
{
	size_t		len = ntk_diag_len(p);
	double	   *diag = dalloc((size_t) n * len);
	double	   *work = dalloc(ntk_gram_work_len(p, n));
	NtkStatus	st;
	NtkStatus	dst;
	int			any_overflow = 0;
	int			bad_diag = 0;
	int			nonfinite = 0;
	Worst		w;
	char		msg[400];
	int			i;
	int			j;

	dst = ntk_points_diag(p, X, n, d, diag);
	if (dst != NTK_OK)
	{
		snprintf(msg, sizeof msg, "%s: ntk_points_diag", label);
		check_status(dst, NTK_OVERFLOW, msg);
		free(diag);
		free(work);
		return dst;
	}
	for (i = 0; i < n * n; i++)
		K[i] = NAN;
	st = ntk_gram_sym(p, kind, X, n, d, diag, work, K, NULL, NULL);

	worst_init(&w);
	for (j = 0; j < n; j++)
	{
		const double *dj = diag + (size_t) j * len;
		double		selfj = ntk_diag_value(p, kind, dj);

		if (st == NTK_OK && K[j + (size_t) j * n] != selfj)
			bad_diag++;
		for (i = j + 1; i < n; i++)
		{
			const double *di = diag + (size_t) i * len;
			NtkStatus	pst;
			double		want = pair_value(p, kind, X + (size_t) i * d, X + (size_t) j * d,
										  d, di, dj, &pst);
			double		got = K[i + (size_t) j * n];
			double		err;

			if (pst != NTK_OK)
			{
				any_overflow = 1;
				continue;
			}
			if (st != NTK_OK)
				continue;
			if (!isfinite(got))
				nonfinite++;
			err = entry_err(got, want, ntk_diag_value(p, kind, di), selfj);
			worst_add(&w, err, i, j, got, want);
		}
	}
	note_err(w.err);

	snprintf(msg, sizeof msg, "%s: ntk_gram_sym status %s, pair kernel %s",
			 label, ntk_status_string(st),
			 any_overflow ? "overflows somewhere" : "finite everywhere");
	check(st == (any_overflow ? NTK_OVERFLOW : NTK_OK), msg);
	if (st == NTK_OK)
	{
		snprintf(msg, sizeof msg, "%s: %d diagonal entries differ from the self kernel",
				 label, bad_diag);
		check(bad_diag == 0, msg);
		snprintf(msg, sizeof msg, "%s: %d entries not finite with status NTK_OK",
				 label, nonfinite);
		check(nonfinite == 0, msg);
		snprintf(msg, sizeof msg,
				 "%s: K[%d,%d] = %.17g, ntk_pair %.17g, rel err %.3g > %.3g",
				 label, w.i, w.j, w.got, w.want, w.err, GRAM_TOL);
		check(w.err <= GRAM_TOL, msg);
	}
	free(diag);
	free(work);
	return st;
}

/*
 * The cross kernel of Q against X and ntk_predict_point for each query,
 * against ntk_pair.  Returns the status of ntk_gram_cross; K (m*n) keeps it.
 */
static NtkStatus
check_cross(const NtkParams *p, NtkKernelKind kind, const double *Q, int m,
			const double *X, int n, int d, double *K, const char *label)
{
	size_t		len = ntk_diag_len(p);
	double	   *qdiag = dalloc((size_t) m * len);
	double	   *xdiag = dalloc((size_t) n * len);
	double	   *xtable = dalloc(ntk_gram_work_len(p, n));
	double	   *alpha = dalloc((size_t) n * 2);
	double	   *kbuf = dalloc(n);
	double	   *onediag = dalloc(len);
	NtkStatus	st;
	int			any_overflow = 0;
	int			nonfinite = 0;
	int			pred_bad = 0;
	int			pred_status_bad = 0;
	double		pred_err = 0.0;
	Worst		w;
	char		msg[400];
	int			i;
	int			j;

	if (ntk_points_diag(p, Q, m, d, qdiag) != NTK_OK ||
		ntk_points_diag(p, X, n, d, xdiag) != NTK_OK)
	{
		free(qdiag);
		free(xdiag);
		free(xtable);
		free(alpha);
		free(kbuf);
		free(onediag);
		return NTK_OVERFLOW;
	}
	ntk_diag_transpose(p, xdiag, n, xtable, xtable + (size_t) (p->depth + 1) * n);
	for (i = 0; i < m * n; i++)
		K[i] = NAN;
	for (j = 0; j < 2 * n; j++)
		alpha[j] = 2 * urand() - 1;
	st = ntk_gram_cross(p, kind, Q, m, qdiag, X, n, xtable, d, K, NULL, NULL);

	worst_init(&w);
	for (i = 0; i < m; i++)
	{
		const double *di = qdiag + (size_t) i * len;
		double		out[2] = {NAN, NAN};
		double		want_out[2] = {0.0, 0.0};
		double		abs_out[2] = {0.0, 0.0};
		int			row_overflow = 0;
		NtkStatus	pst;

		pst = ntk_predict_point(p, kind, X, n, d, xtable, alpha, 2,
								Q + (size_t) i * d, onediag, kbuf, out);
		for (j = 0; j < n; j++)
		{
			const double *dj = xdiag + (size_t) j * len;
			NtkStatus	est;
			double		want = pair_value(p, kind, X + (size_t) j * d, Q + (size_t) i * d,
										  d, dj, di, &est);
			double		got = K[(size_t) i * n + j];
			double		err;
			double		selfs[2];

			if (est != NTK_OK)
			{
				any_overflow = 1;
				row_overflow = 1;
				continue;
			}
			selfs[0] = ntk_diag_value(p, kind, di);
			selfs[1] = ntk_diag_value(p, kind, dj);
			if (pst == NTK_OK)
			{
				double		e = entry_err(kbuf[j], want, selfs[0], selfs[1]);

				worst_add(&w, e, i, j, kbuf[j], want);
				want_out[0] += want * alpha[j];
				want_out[1] += want * alpha[j + n];
				abs_out[0] += fabs(want * alpha[j]);
				abs_out[1] += fabs(want * alpha[j + n]);
			}
			if (st != NTK_OK)
				continue;
			if (!isfinite(got))
				nonfinite++;
			err = entry_err(got, want, selfs[0], selfs[1]);
			worst_add(&w, err, i, j, got, want);
		}
		if (pst != (row_overflow ? NTK_OVERFLOW : NTK_OK))
			pred_status_bad++;
		else if (pst == NTK_OK)
		{
			int			c;

			for (c = 0; c < 2; c++)
			{
				double		e = fabs(out[c] - want_out[c]) / fmax(abs_out[c], 1e-300);

				if (!isfinite(out[c]) || !(e <= 1e-12))
					pred_bad++;
				if (isfinite(e))
					pred_err = fmax(pred_err, e);
			}
		}
	}
	note_err(w.err);

	snprintf(msg, sizeof msg, "%s: ntk_gram_cross status %s, pair kernel %s",
			 label, ntk_status_string(st),
			 any_overflow ? "overflows somewhere" : "finite everywhere");
	check(st == (any_overflow ? NTK_OVERFLOW : NTK_OK), msg);
	snprintf(msg, sizeof msg, "%s: %d ntk_predict_point statuses disagree with ntk_pair",
			 label, pred_status_bad);
	check(pred_status_bad == 0, msg);
	snprintf(msg, sizeof msg, "%s: %d ntk_predict_point outputs off (worst rel err %.3g)",
			 label, pred_bad, pred_err);
	check(pred_bad == 0, msg);
	if (st == NTK_OK)
	{
		snprintf(msg, sizeof msg, "%s: %d entries not finite with status NTK_OK",
				 label, nonfinite);
		check(nonfinite == 0, msg);
	}
	snprintf(msg, sizeof msg,
			 "%s: cross/predict [%d,%d] = %.17g, ntk_pair %.17g, rel err %.3g > %.3g",
			 label, w.i, w.j, w.got, w.want, w.err, GRAM_TOL);
	check(w.err <= GRAM_TOL, msg);

	free(qdiag);
	free(xdiag);
	free(xtable);
	free(alpha);
	free(kbuf);
	free(onediag);
	return st;
}

static const int sizes[] = {1, 7, 8, 9, 63, 64, 65, 257, 300};
#define NSIZES ((int) (sizeof sizes / sizeof sizes[0]))

/* Random dyadic data: every size, depth 0..6, both activations and kinds. */
static void
test_random(void)
{
	int			path;

	for (path = 0; path < 3; path++)
	{
		int			si;
		int			depth;

		ntk_recursion_force_path(path);
		for (si = 0; si < NSIZES; si++)
		{
			int			n = sizes[si];

			for (depth = 0; depth <= 6; depth++)
			{
				int			act;
				int			d = irand(1, 24);
				double	   *X = dalloc((size_t) n * d);
				double	   *Q;
				double	   *K = dalloc((size_t) n * n);
				int			m = sizes[(si + depth) % NSIZES];

				fill_dyadic(X, n, d);
				Q = dalloc((size_t) m * d);
				fill_dyadic(Q, m, d);
				for (act = 0; act < 2; act++)
				{
					int			sbi;

					for (sbi = 0; sbi < 2; sbi++)
					{
						/* sigma_w, sigma_b dyadic too, so K1 is one rounding */
						NtkParams	p = params(depth, (NtkActivation) act,
											   irand(2, 12) / 4.0,
											   sbi ? irand(1, 8) / 8.0 : 0.0);
						NtkKernelKind kind = (NtkKernelKind) ((depth + act + sbi) % 2);
						double	   *Kc = dalloc((size_t) m * n);
						char		label[200];

						snprintf(label, sizeof label,
								 "random %s path, %s %s depth %d sw %g sb %g n %d m %d d %d",
								 path_name(path), act_name(&p), kind_name(kind),
								 depth, p.sigma_w, p.sigma_b, n, m, d);
						check_status(check_sym(&p, kind, X, n, d, K, label), NTK_OK, label);
						check_status(check_cross(&p, kind, Q, m, X, n, d, Kc, label), NTK_OK, label);
						free(Kc);
					}
				}
				free(X);
				free(Q);
				free(K);
			}
		}
	}
	ntk_recursion_force_path(0);
	printf("random: vectorized path %s; max rel err vs ntk_pair: vectorized %.3g, portable %.3g\n",
		   ntk_recursion_vectorized() == 2 ? "AVX-512" :
		   ntk_recursion_vectorized() ? "AVX2+FMA" : "NOT available",
		   max_err_vec, max_err_port);
}

/*
 * Gaussian (non-dyadic) data: dot products now round differently in BLAS
 * and in the reference loop, so near-parallel pairs are left out (there a
 * last-bit change of the dot product moves the angle by ~1e-8) and the
 * tolerance allows the rounding of the dot product.
 */
static void
test_gaussian(void)
{
	int			path;
	double		worst = 0.0;

	for (path = 0; path < 3; path++)
	{
		int			trial;

		ntk_recursion_force_path(path);
		for (trial = 0; trial < 12; trial++)
		{
			int			n = 100 + trial;
			int			d = 3 + trial;
			NtkParams	p = params(trial % 7, (NtkActivation) (trial % 2),
								   0.5 + 1.5 * urand(), trial % 3 ? urand() : 0.0);
			size_t		len = ntk_diag_len(&p);
			double	   *X = dalloc((size_t) n * d);
			double	   *K = dalloc((size_t) n * n);
			double	   *diag = dalloc((size_t) n * len);
			double	   *work = dalloc(ntk_gram_work_len(&p, n));
			NtkStatus	st;
			Worst		w;
			char		msg[300];
			int			i;
			int			j;

			for (i = 0; i < n * d; i++)
			{
				/* Box-Muller */
				double		u1 = urand() + 1e-300;

				X[i] = sqrt(-2 * log(u1)) * cos(2 * 3.141592653589793 * urand());
			}
			check_status(ntk_points_diag(&p, X, n, d, diag), NTK_OK, "gaussian diag");
			st = ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K, NULL, NULL);
			check_status(st, NTK_OK, "gaussian gram status");
			worst_init(&w);
			for (j = 0; j < n; j++)
				for (i = j + 1; i < n; i++)
				{
					const double *xi = X + (size_t) i * d;
					const double *xj = X + (size_t) j * d;
					double		c = dot(xi, xj, d) / sqrt(dot(xi, xi, d) * dot(xj, xj, d));
					NtkStatus	pst;
					double		want;

					if (fabs(c) > 0.999)
						continue;
					want = pair_value(&p, NTK_KERNEL_NTK, xi, xj, d,
									  diag + (size_t) i * len, diag + (size_t) j * len, &pst);
					worst_add(&w, entry_err(K[i + (size_t) j * n], want,
											ntk_diag_ntk(&p, diag + (size_t) i * len),
											ntk_diag_ntk(&p, diag + (size_t) j * len)),
							  i, j, K[i + (size_t) j * n], want);
				}
			worst = fmax(worst, w.err);
			snprintf(msg, sizeof msg,
					 "gaussian %s path %s depth %d n %d d %d: K[%d,%d] = %.17g, ntk_pair %.17g, rel err %.3g",
					 path_name(path), act_name(&p), p.depth, n, d,
					 w.i, w.j, w.got, w.want, w.err);
			check(w.err <= 1e-12, msg);
			free(X);
			free(K);
			free(diag);
			free(work);
		}
	}
	ntk_recursion_force_path(0);
	printf("gaussian: max rel err vs ntk_pair (dot products rounded) %.3g\n", worst);
}

/*
 * Structured rows: duplicates, x and 2x (and x/2, -x), zero rows, a constant
 * row, at positions that straddle the vector chunks and the panel edge.
 */
static void
test_structured(void)
{
	static const int ns[] = {9, 65, 140};
	int			path;
	int			dup_bad = 0;

	for (path = 0; path < 3; path++)
	{
		size_t		ni;

		ntk_recursion_force_path(path);
		for (ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
		{
			int			n = ns[ni];
			int			d = 5;
			int			depth;
			double	   *X = dalloc((size_t) n * d);
			double	   *K = dalloc((size_t) n * n);
			int			i;
			int			k;

			fill_dyadic(X, n, d);
			for (i = 1; i < n; i++)
			{
				const double *src = X + (size_t) (i / 3) * d;
				double	   *dst = X + (size_t) i * d;

				switch (i % 6)
				{
					case 0:		/* zero row */
						for (k = 0; k < d; k++)
							dst[k] = 0.0;
						break;
					case 1:		/* duplicate */
						memcpy(dst, src, d * sizeof(double));
						break;
					case 2:		/* 2x */
						for (k = 0; k < d; k++)
							dst[k] = 2 * src[k];
						break;
					case 3:		/* x/2 */
						for (k = 0; k < d; k++)
							dst[k] = src[k] / 2;
						break;
					case 4:		/* -x */
						for (k = 0; k < d; k++)
							dst[k] = -src[k];
						break;
					default:	/* leave random */
						break;
				}
			}
			for (depth = 0; depth <= 6; depth += 2)
			{
				int			act;

				for (act = 0; act < 4; act++)
				{
					NtkParams	p = params(depth, (NtkActivation) (act % 2), 1.25,
										   act >= 2 ? 0.375 : 0.0);
					size_t		len = ntk_diag_len(&p);
					char		label[200];
					int			kind;

					for (kind = 0; kind < 2; kind++)
					{
						double	   *Kc = dalloc((size_t) n * n);
						double	   *diag = dalloc((size_t) n * len);
						int			j;

						snprintf(label, sizeof label,
								 "structured %s path, %s %s depth %d sb %g n %d",
								 path_name(path), act_name(&p),
								 kind_name((NtkKernelKind) kind), depth, p.sigma_b, n);
						check_status(check_sym(&p, (NtkKernelKind) kind, X, n, d, K, label),
									 NTK_OK, label);
						check_status(check_cross(&p, (NtkKernelKind) kind, X, n, X, n, d, Kc, label),
									 NTK_OK, label);

						/*
						 * A duplicate row is the same point: with exact dot
						 * products its kernel is the self kernel, to rounding
						 * (the vector path uses fma where the diagonal does
						 * not).  No ~1e-8 angle error may creep in.
						 */
						(void) ntk_points_diag(&p, X, n, d, diag);
						for (i = 1; i < n; i++)
							if (i % 6 == 1)
							{
								double		self = ntk_diag_value(&p, (NtkKernelKind) kind,
																  diag + (size_t) (i / 3) * len);
								double		got = K[i + (size_t) (i / 3) * n];
								double		gotc = Kc[(size_t) i * n + i / 3];

								if (i / 3 == i)
									continue;
								if (!(fabs(got - self) <= 4 * DBL_EPSILON * fabs(self)) ||
									!(fabs(gotc - self) <= 4 * DBL_EPSILON * fabs(self)))
								{
									if (dup_bad++ < 5)
										printf("duplicate row %d of %d: gram %.17g cross %.17g self %.17g (%s)\n",
											   i, i / 3, got, gotc, self, label);
								}
							}
						/* the cross kernel of X with itself: diagonal as the Gram's, to rounding */
						for (j = 0; j < n; j++)
						{
							double		self = K[j + (size_t) j * n];

							if (!(fabs(Kc[(size_t) j * n + j] - self) <= 4 * DBL_EPSILON * fabs(self)))
							{
								if (dup_bad++ < 5)
									printf("cross diagonal %d: %.17g vs self %.17g (%s)\n",
										   j, Kc[(size_t) j * n + j], self, label);
							}
						}
						free(Kc);
						free(diag);
					}
				}
			}
			free(X);
			free(K);
		}
	}
	ntk_recursion_force_path(0);
	check(dup_bad == 0, "duplicate rows and the cross diagonal give the self kernel to 4 ulp");
}

/*
 * Huge rows: layer-1 variances sw^2 |x|^2 / d from 1e140 to 1e160, around
 * NTK_VEC_MAX_VAR = 1e150 where the vector path hands a chunk to the
 * portable path, and from 1e280 up, where |x|^2 or a later layer overflows.
 * A few huge rows among ordinary ones, so that some chunks are handed off
 * and their neighbours are not.  Finite values or NTK_OVERFLOW, never NaN,
 * and the same answer as ntk_pair.  Scales are powers of two: dot products
 * stay exact.
 */
static void
test_huge(void)
{
	static const int exps[] = {140, 145, 149, 150, 151, 155, 160, 280, 300, 305, 308, 310, 320};
	int			path;
	int			n_ok = 0;
	int			n_over = 0;

	for (path = 0; path < 3; path++)
	{
		size_t		ei;

		ntk_recursion_force_path(path);
		for (ei = 0; ei < sizeof exps / sizeof exps[0]; ei++)
		{
			int			cfg;

			for (cfg = 0; cfg < 8; cfg++)
			{
				int			n = cfg % 2 ? 140 : 70;
				int			d = 4;
				int			depth = (cfg / 2) % 2 ? 6 : 2;
				NtkParams	p = params(depth, (NtkActivation) (cfg / 4), 1.0 + (cfg % 3) * 0.5,
									   cfg % 3 == 1 ? 0.5 : 0.0);
				double	   *X = dalloc((size_t) n * d);
				double	   *K = dalloc((size_t) n * n);
				double	   *Kc = dalloc((size_t) n * n);
				/* row (1, -2, 3, -4) * 2^e: |x|^2 = 30 * 4^e */
				double		log2var = exps[ei] * 3.321928094887362;
				int			e = (int) floor((log2var - log2(p.sigma_w * p.sigma_w * 30.0 / d)) / 2);
				char		label[200];
				NtkStatus	st;
				NtkStatus	stc;
				int			i;
				int			k;

				fill_dyadic(X, n, d);
				/* huge rows: near the start, mid-chunk, in the tail, or every fifth */
				for (i = 0; i < n; i++)
					if (i == 3 || i == n / 2 || i == n - 2 || (cfg >= 6 && i % 5 == 0))
						for (k = 0; k < d; k++)
							X[(size_t) i * d + k] = ldexp((k % 2 ? -1.0 : 1.0) * (1 + k), e);
				snprintf(label, sizeof label,
						 "huge variance 1e%d %s path, %s depth %d sw %g sb %g n %d",
						 exps[ei], path_name(path), act_name(&p), depth,
						 p.sigma_w, p.sigma_b, n);
				st = check_sym(&p, NTK_KERNEL_NTK, X, n, d, K, label);
				stc = check_cross(&p, NTK_KERNEL_NNGP, X, n, X, n, d, Kc, label);
				check(st == NTK_OK || st == NTK_OVERFLOW, label);
				check(stc == NTK_OK || stc == NTK_OVERFLOW, label);
				if (st == NTK_OK)
					n_ok++;
				else
					n_over++;
				free(X);
				free(K);
				free(Kc);
			}
		}
	}
	ntk_recursion_force_path(0);
	printf("huge rows: %d Gram matrices finite, %d NTK_OVERFLOW\n", n_ok, n_over);
}

/* Threads 1, 2, 3 give bit-identical matrices (every recursion path). */
static void
test_threads(void)
{
	/* rows >= 4 panels: the first panel of n = 1100 runs on the workers */
	static const int ns[] = {1100};
	int			path;
	int			saved = ntk_get_threads();

	for (path = 0; path < 3; path++)
	{
		size_t		ni;

		ntk_recursion_force_path(path);
		for (ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
		{
			int			n = ns[ni];
			int			m = 300;
			int			d = 12;
			int			act;
			double	   *X = dalloc((size_t) n * d);
			double	   *Q = dalloc((size_t) m * d);

			fill_dyadic(X, n, d);
			fill_dyadic(Q, m, d);
			for (act = 0; act < 4; act++)
			{
				NtkParams	p = params(3, (NtkActivation) (act % 2), 1.5, act ? 0.25 : 0.0);
				size_t		len;
				double	   *diag;
				double	   *qdiag;
				double	   *work;
				double	   *K[3];
				double	   *C[3];
				int			t;
				char		msg[200];

				if (act == 3)
				{
					/*
					 * rows of variance ~1e151 every 37 rows: the vector path
					 * hands their chunks to the portable one
					 */
					int			i;
					int			k;

					p.activation = NTK_RELU;
					for (i = 5; i < n; i += 37)
						for (k = 0; k < d; k++)
							X[(size_t) i * d + k] = ldexp(k % 2 ? -1.0 : 1.0, 250);
				}
				len = ntk_diag_len(&p);
				diag = dalloc((size_t) n * len);
				qdiag = dalloc((size_t) m * len);
				work = dalloc(ntk_gram_work_len(&p, n));
				check_status(ntk_points_diag(&p, X, n, d, diag), NTK_OK, "threads diag");
				check_status(ntk_points_diag(&p, Q, m, d, qdiag), NTK_OK, "threads qdiag");
				for (t = 0; t < 3; t++)
				{
					size_t		e;

					K[t] = dalloc((size_t) n * n);
					C[t] = dalloc((size_t) m * n);
					/* the upper triangle is not written: make it equal */
					for (e = 0; e < (size_t) n * n; e++)
						K[t][e] = 0.0;
					ntk_set_threads(t + 1);
					check(ntk_get_threads() == t + 1, "ntk_set_threads");
					check_status(ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K[t],
											  NULL, NULL), NTK_OK, "threads gram");
					/* work now holds X's table: the cross kernel's input */
					check_status(ntk_gram_cross(&p, NTK_KERNEL_NTK, Q, m, qdiag, X, n, work,
												d, C[t], NULL, NULL), NTK_OK, "threads cross");
				}
				for (t = 1; t < 3; t++)
				{
					size_t		e;
					size_t		ndiff = 0;
					double		maxd = 0.0;

					for (e = 0; e < (size_t) n * n; e++)
						if (K[t][e] != K[0][e])
						{
							ndiff++;
							maxd = fmax(maxd, fabs(K[t][e] - K[0][e]) / fabs(K[0][e]));
						}
					snprintf(msg, sizeof msg,
							 "%s path %s n %d: ntk_gram_sym with %d threads differs from 1 thread "
							 "in %zu entries (max rel %.3g)",
							 path_name(path), act_name(&p), n, t + 1, ndiff, maxd);
					check(ndiff == 0, msg);
					snprintf(msg, sizeof msg,
							 "%s path %s n %d: ntk_gram_cross with %d threads differs from 1 thread",
							 path_name(path), act_name(&p), n, t + 1);
					check(memcmp(C[t], C[0], (size_t) m * n * sizeof(double)) == 0, msg);
				}
				for (t = 0; t < 3; t++)
				{
					free(K[t]);
					free(C[t]);
				}
				free(diag);
				free(qdiag);
				free(work);
			}
			free(X);
			free(Q);
		}
	}
	ntk_set_threads(saved);
	ntk_recursion_force_path(0);
}

/* Progress and cancellation of the Gram routines; dimension errors. */
static void
test_gram_progress(void)
{
	int			n = 600;
	int			m = 600;
	int			d = 3;
	NtkParams	p = params(2, NTK_RELU, 1.0, 0.1);
	size_t		len = ntk_diag_len(&p);
	double	   *X = dalloc((size_t) n * d);
	double	   *K = dalloc((size_t) n * n);
	double	   *diag = dalloc((size_t) n * len);
	double	   *work = dalloc(ntk_gram_work_len(&p, n));
	double		out[1];
	double		alpha[1] = {1.0};
	Progress	pr;
	NtkStatus	st;
	char		msg[200];

	fill_dyadic(X, n, d);
	check_status(ntk_points_diag(&p, X, n, d, diag), NTK_OK, "progress diag");

	progress_init(&pr, 0);
	st = ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K, progress_fn, &pr);
	snprintf(msg, sizeof msg, "gram_sym progress: status %s, %d calls, %d out of order, last %.17g",
			 ntk_status_string(st), pr.calls, pr.bad_order, pr.last);
	/* one block of dot products (n < 1024), then three panels of 256 columns */
	check(st == NTK_OK && pr.calls == 4 && pr.bad_order == 0 && pr.last == 1.0, msg);
	progress_init(&pr, 1);
	st = ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K, progress_fn, &pr);
	check_status(st, NTK_CANCELED, "gram_sym canceled");
	check(pr.calls == 1, "gram_sym stops at the first cancel");

	/* cross kernels report once per 1024 query rows: 2500 rows, 3 calls */
	{
		int			mq = 2500;
		double	   *Q = dalloc((size_t) mq * d);
		double	   *qdiag = dalloc((size_t) mq * len);
		double	   *Kc = dalloc((size_t) mq * n);

		fill_dyadic(Q, mq, d);
		check_status(ntk_points_diag(&p, Q, mq, d, qdiag), NTK_OK, "progress query diag");
		ntk_diag_transpose(&p, diag, n, work, work + (size_t) (p.depth + 1) * n);
		progress_init(&pr, 0);
		st = ntk_gram_cross(&p, NTK_KERNEL_NTK, Q, mq, qdiag, X, n, work, d, Kc, progress_fn, &pr);
		snprintf(msg, sizeof msg, "gram_cross progress: status %s, %d calls, %d out of order, last %.17g",
				 ntk_status_string(st), pr.calls, pr.bad_order, pr.last);
		check(st == NTK_OK && pr.calls == 3 && pr.bad_order == 0 && pr.last == 1.0, msg);
		progress_init(&pr, 2);
		st = ntk_gram_cross(&p, NTK_KERNEL_NTK, Q, mq, qdiag, X, n, work, d, Kc, progress_fn, &pr);
		check_status(st, NTK_CANCELED, "gram_cross canceled");
		check(pr.calls == 2, "gram_cross stops at the cancel");
		free(Q);
		free(qdiag);
		free(Kc);
	}

	/* dimensions */
	check_status(ntk_gram_sym(&p, NTK_KERNEL_NTK, X, 0, d, diag, work, K, NULL, NULL),
				 NTK_BAD_DIMENSION, "gram_sym n = 0");
	check_status(ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, 0, diag, work, K, NULL, NULL),
				 NTK_BAD_DIMENSION, "gram_sym d = 0");
	check_status(ntk_gram_cross(&p, NTK_KERNEL_NTK, X, 0, diag, X, n, work, d, K, NULL, NULL),
				 NTK_BAD_DIMENSION, "gram_cross m = 0");
	check_status(ntk_gram_cross(&p, NTK_KERNEL_NTK, X, m, diag, X, -1, work, d, K, NULL, NULL),
				 NTK_BAD_DIMENSION, "gram_cross n < 0");
	check_status(ntk_predict_point(&p, NTK_KERNEL_NTK, X, n, d, work, alpha, 0, X, diag, K, out),
				 NTK_BAD_DIMENSION, "predict k = 0");
	check_status(ntk_predict_point(&p, NTK_KERNEL_NTK, X, n, 0, work, alpha, 1, X, diag, K, out),
				 NTK_BAD_DIMENSION, "predict d = 0");
	check_status(ntk_points_diag(&p, X, 1, 0, diag), NTK_BAD_DIMENSION, "points_diag d = 0");

	/* ntk_set_threads clamps */
	ntk_set_threads(0);
	check(ntk_get_threads() == 1, "ntk_set_threads(0) -> 1");
	ntk_set_threads(1000);
	check(ntk_get_threads() == 64, "ntk_set_threads(1000) -> 64");
	ntk_set_threads(1);

	free(X);
	free(K);
	free(diag);
	free(work);
}

/*
 * Deep kernels: steps are sized by their work (src/core/gram.c), so at depth
 * 200 and n = 600 both routines report more often than the fixed steps
 * did (4 calls for the symmetric Gram, 1 for up to 1024 query rows), a
 * cancel at a mid report stops them there, and the narrower steps still
 * give the same matrices on 1, 2 and 3 threads (with 3, the fixed blocks'
 * shares of 133 query rows had given the 133rd row other last bits).  Both
 * activations run on the portable path, whose cost the step sizes assume
 * (the vector paths' depth-200 panels are cheap enough to stay full).
 */
/*
 * ntk_set_stop_flags: a raised flag stops the Gram and the cross kernel in
 * their first step, with NTK_CANCELED (the SQL glue points the flags at the
 * backend's cancel and die flags); a lowered one changes nothing.
 */
static void
test_stop_flags(void)
{
	NtkParams	p = params(3, NTK_RELU, 1.0, 0.0);
	int			n = 300;
	int			d = 5;
	size_t		len = ntk_diag_len(&p);
	double	   *X = dalloc((size_t) n * d);
	double	   *diag = dalloc((size_t) n * len);
	double	   *work = dalloc(ntk_gram_work_len(&p, n));
	double	   *K = dalloc((size_t) n * n);
	volatile sig_atomic_t flag = 0;
	volatile sig_atomic_t other = 0;
	Progress	pr;
	int			i;

	for (i = 0; i < n * d; i++)
		X[i] = urand() - 0.5;
	check_status(ntk_points_diag(&p, X, n, d, diag), NTK_OK, "stop flags: diag");
	ntk_set_stop_flags(&flag, &other);
	check_status(ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K, NULL, NULL),
				 NTK_OK, "stop flags lowered: gram_sym runs");
	flag = 1;
	progress_init(&pr, 0);
	check_status(ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K, progress_fn, &pr),
				 NTK_CANCELED, "stop flag raised: gram_sym is canceled");
	check(pr.calls <= 1, "stop flag raised: gram_sym stops in its first recursion step");
	ntk_diag_transpose(&p, diag, n, work, work + (size_t) (p.depth + 1) * n);
	check_status(ntk_gram_cross(&p, NTK_KERNEL_NTK, X, n, diag, X, n, work, d, K, NULL, NULL),
				 NTK_CANCELED, "stop flag raised: gram_cross is canceled");
	flag = 0;
	other = 1;
	check_status(ntk_gram_cross(&p, NTK_KERNEL_NTK, X, n, diag, X, n, work, d, K, NULL, NULL),
				 NTK_CANCELED, "second stop flag raised: gram_cross is canceled");
	other = 0;
	check_status(ntk_gram_cross(&p, NTK_KERNEL_NTK, X, n, diag, X, n, work, d, K, NULL, NULL),
				 NTK_OK, "stop flags lowered again: gram_cross runs");
	ntk_set_stop_flags(NULL, NULL);
	free(X);
	free(diag);
	free(work);
	free(K);
}

static void
test_gram_deep_steps(void)
{
	int			n = 600;
	int			m = 401;		/* odd: the last block's last row alone */
	int			d = 12;
	int			saved = ntk_get_threads();
	double	   *X = dalloc((size_t) n * d);
	double	   *Q = dalloc((size_t) m * d);
	double	   *K[2];
	double	   *C[3];
	int			act;
	int			i;

	/*
	 * Not dyadic: the dot products must round, or no order of summation
	 * (dgemm's kernels differ in it) could change a bit.
	 */
	for (i = 0; i < n * d; i++)
		X[i] = urand() - 0.5;
	for (i = 0; i < m * d; i++)
		Q[i] = urand() - 0.5;
	K[0] = dalloc((size_t) n * n);
	K[1] = dalloc((size_t) n * n);
	for (act = 0; act < 3; act++)
		C[act] = dalloc((size_t) m * n);
	for (act = 0; act < 2; act++)
	{
		NtkParams	p = params(200, (NtkActivation) act, 1.5, 0.1);
		size_t		len = ntk_diag_len(&p);
		double	   *diag = dalloc((size_t) n * len);
		double	   *qdiag = dalloc((size_t) m * len);
		double	   *work = dalloc(ntk_gram_work_len(&p, n));
		Progress	pr;
		NtkStatus	st;
		int			calls;
		int			differ;
		int			t;
		int			j;
		char		msg[200];

		ntk_recursion_force_path(NTK_PATH_PORTABLE);
		check_status(ntk_points_diag(&p, X, n, d, diag), NTK_OK, "deep steps: diag");
		check_status(ntk_points_diag(&p, Q, m, d, qdiag), NTK_OK, "deep steps: qdiag");

		for (t = 0; t < 2; t++)
		{
			ntk_set_threads(t + 1);
			ntk_blas_set_threads(t + 1);
			progress_init(&pr, 0);
			st = ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K[t],
							  progress_fn, &pr);
			snprintf(msg, sizeof msg,
					 "deep steps %s, %d threads: gram_sym %s, %d calls (> 4), %d out of order, last %.17g",
					 act_name(&p), t + 1, ntk_status_string(st), pr.calls, pr.bad_order, pr.last);
			check(st == NTK_OK && pr.calls > 4 && pr.bad_order == 0 && pr.last == 1.0, msg);
		}
		differ = 0;
		for (j = 0; j < n; j++)
			differ |= memcmp(K[0] + j + (size_t) j * n, K[1] + j + (size_t) j * n,
							 (size_t) (n - j) * sizeof(double)) != 0;
		snprintf(msg, sizeof msg, "deep steps %s: gram_sym on 2 threads equals 1 thread",
				 act_name(&p));
		check(!differ, msg);

		/*
		 * Cancel at a report every run reaches: steps that ran slow shrink
		 * the next ones, so how many reports a run makes depends on the
		 * machine's load, but never fewer than the runs above checked.
		 */
		calls = pr.calls;
		progress_init(&pr, 3);
		st = ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K[1], progress_fn, &pr);
		snprintf(msg, sizeof msg, "deep steps %s: gram_sym canceled at report 3 (of %d in a run): %s after %d",
				 act_name(&p), calls, ntk_status_string(st), pr.calls);
		check(st == NTK_CANCELED && pr.calls == 3, msg);

		/* work holds X's table again (the canceled run rewrote it first) */
		for (t = 0; t < 3; t++)
		{
			/* as the SQL glue sets them: on one thread the dgemm is BLAS's */
			ntk_set_threads(t + 1);
			ntk_blas_set_threads(t + 1);
			progress_init(&pr, 0);
			st = ntk_gram_cross(&p, NTK_KERNEL_NTK, Q, m, qdiag, X, n, work, d, C[t],
								progress_fn, &pr);
			snprintf(msg, sizeof msg,
					 "deep steps %s, %d threads: gram_cross %s, %d calls (> 2), %d out of order, last %.17g",
					 act_name(&p), t + 1, ntk_status_string(st), pr.calls, pr.bad_order, pr.last);
			check(st == NTK_OK && pr.calls > 2 && pr.bad_order == 0 && pr.last == 1.0, msg);
			if (t > 0)
			{
				snprintf(msg, sizeof msg, "deep steps %s: gram_cross on %d threads equals 1 thread",
						 act_name(&p), t + 1);
				check(memcmp(C[t], C[0], (size_t) m * n * sizeof(double)) == 0, msg);
			}
		}
		calls = pr.calls;
		progress_init(&pr, 2);
		st = ntk_gram_cross(&p, NTK_KERNEL_NTK, Q, m, qdiag, X, n, work, d, C[1],
							progress_fn, &pr);
		snprintf(msg, sizeof msg, "deep steps %s: gram_cross canceled at report 2 (of %d in a run): %s after %d",
				 act_name(&p), calls, ntk_status_string(st), pr.calls);
		check(st == NTK_CANCELED && pr.calls == 2, msg);

		ntk_recursion_force_path(NTK_PATH_AUTO);
		free(diag);
		free(qdiag);
		free(work);
	}
	ntk_set_threads(saved);
	ntk_blas_set_threads(2);
	free(X);
	free(Q);
	free(K[0]);
	free(K[1]);
	for (act = 0; act < 3; act++)
		free(C[act]);
}

/* Threads of this process, or -1 without /proc. */
static int
process_threads(void)
{
	DIR		   *dir = opendir("/proc/self/task");
	struct dirent *e;
	int			count = 0;

	if (dir == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.')
			count++;
	closedir(dir);
	return count;
}

/*
 * OpenBLAS's idle threads are ended before the recursion's workers start
 * (src/core/gram.c); afterwards every thread count must still give exactly that
 * many threads (none serving a slot of the pool twice) and the same Gram.
 */
static void
test_blas_threads(void)
{
	int			n = 1100;
	int			d = 5;
	NtkParams	p = params(2, NTK_RELU, 1.0, 0.1);
	size_t		len = ntk_diag_len(&p);
	double	   *X = dalloc((size_t) n * d);
	double	   *K2 = dalloc((size_t) n * n);
	double	   *K4 = dalloc((size_t) n * n);
	double	   *diag = dalloc((size_t) n * len);
	double	   *work = dalloc(ntk_gram_work_len(&p, n));
	double	   *A = dalloc(400 * 400);
	double	   *C = dalloc(400 * 400);
	int			saved = ntk_get_threads();
	int			server = openblas_get_parallel() == 1 &&
		dlsym(RTLD_DEFAULT, "blas_thread_shutdown_") != NULL;
	int			t;
	int			i;
	char		msg[120];

	if (process_threads() < 0)
	{
		check(1, "no /proc/self/task: BLAS thread checks skipped");
		goto done;
	}
	fill_dyadic(X, n, d);
	for (i = 0; i < 400 * 400; i++)
		A[i] = (double) (i % 7);
	check_status(ntk_points_diag(&p, X, n, d, diag), NTK_OK, "blas threads: diag");

	ntk_set_threads(2);
	ntk_blas_set_threads(2);
	check_status(ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K2, NULL, NULL),
				 NTK_OK, "blas threads: gram, 2 threads");
	snprintf(msg, sizeof msg, "blas threads: %d threads after a 2-thread Gram", process_threads());
	check(!server || process_threads() == 1, msg);

	/* up to 4 after the pool was ended; 5 after going down to 3 */
	for (t = 4; t <= 5; t++)
	{
		int			differ = 0;
		int			j;

		ntk_blas_set_threads(t);
		if (t == 5)
		{
			ntk_blas_set_threads(3);
			ntk_blas_set_threads(5);
		}
		/* large enough for OpenBLAS to use every thread */
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, 400, 400, 400, 1.0,
					A, 400, A, 400, 0.0, C, 400);
		snprintf(msg, sizeof msg, "blas threads: %d threads after a dgemm on %d",
				 process_threads(), t);
		check(!server || process_threads() == t, msg);

		ntk_set_threads(t);
		check_status(ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K4, NULL, NULL),
					 NTK_OK, "blas threads: gram");
		/* the lower triangle, bit for bit: no result depends on the threads */
		for (j = 0; j < n; j++)
			differ |= memcmp(K2 + j + (size_t) j * n, K4 + j + (size_t) j * n,
							 (size_t) (n - j) * sizeof(double)) != 0;
		snprintf(msg, sizeof msg, "blas threads: Gram on %d threads equals the 2-thread one", t);
		check(!differ, msg);
	}
	ntk_blas_set_threads(2);
	ntk_set_threads(saved);
done:
	free(X);
	free(K2);
	free(K4);
	free(diag);
	free(work);
	free(A);
	free(C);
}

/*
 * Regression inputs found by fuzzing (test/fuzz/README.md) and by this file.
 */
static void
test_regressions(void)
{
	double		x[3] = {1.0, -2.0, 0.5};
	double		z[3] = {0.25, 1.0, 3.0};
	double		k = 0.0;
	double		t = 0.0;
	double		ws[2 * 5];
	NtkParams	p;

	/*
	 * fuzz: ntk_kernel_vectors computed ntk_diag_len (depth + 1, an int)
	 * before checking the depth: signed overflow for depth = INT_MAX (seen
	 * by UBSan in test/sanitize.sh).
	 */
	p = params(2147483647, NTK_RELU, 1.0, 0.0);
	check_status(ntk_kernel_vectors(&p, x, z, 3, ws, &k, &t), NTK_BAD_DEPTH,
				 "ntk_kernel_vectors depth INT_MAX");
	p.depth = -2147483647 - 1;
	check_status(ntk_kernel_vectors(&p, x, z, 3, ws, &k, &t), NTK_BAD_DEPTH,
				 "ntk_kernel_vectors depth INT_MIN");

	/*
	 * fuzz: sigma_b = 1e-160 makes sigma_b^2 subnormal and a zero row's
	 * variance 1e-320, a subnormal with 11 significant bits (1e-320 is
	 * ~2000 times the smallest subnormal), so the vector path (fma) and
	 * ntk_pair differ at up to ~1e-4 of the Cauchy-Schwarz scale there.
	 * Finite, status NTK_OK, and close at the precision the subnormal
	 * carries; the portable path is ntk_pair bit for bit.
	 */
	{
		int			n = 12;
		int			d = 12;
		int			path;

		for (path = 0; path < 3; path++)
		{
			NtkParams	q = params(4, NTK_RELU, 3.25, 1e-160);
			size_t		len = ntk_diag_len(&q);
			double	   *X = dalloc((size_t) n * d);
			double	   *K = dalloc((size_t) n * n);
			double	   *diag = dalloc((size_t) n * len);
			double	   *work = dalloc(ntk_gram_work_len(&q, n));
			double		worst = 0.0;
			int			i;
			int			j;

			ntk_recursion_force_path(path);
			fill_dyadic(X, n, d);
			for (j = 0; j < d; j++)
				X[j] = 0.0;		/* row 0: variance sigma_b^2 = 1e-320 */
			check_status(ntk_points_diag(&q, X, n, d, diag), NTK_OK, "subnormal bias diag");
			check_status(ntk_gram_sym(&q, NTK_KERNEL_NTK, X, n, d, diag, work, K, NULL, NULL),
						 NTK_OK, "subnormal bias gram");
			for (j = 0; j < n; j++)
				for (i = j; i < n; i++)
				{
					NtkStatus	pst;
					double		want = pair_value(&q, NTK_KERNEL_NTK,
												  X + (size_t) i * d, X + (size_t) j * d, d,
												  diag + (size_t) i * len, diag + (size_t) j * len, &pst);
					double		cs = sqrt(ntk_diag_ntk(&q, diag + (size_t) i * len)) *
						sqrt(ntk_diag_ntk(&q, diag + (size_t) j * len));

					check(isfinite(K[i + (size_t) j * n]), "subnormal bias: finite");
					if (i > j)
						worst = fmax(worst, fabs(K[i + (size_t) j * n] - want) / fmax(cs, 1e-300));
				}
			{
				char		msg[100];

				snprintf(msg, sizeof msg, "subnormal bias, %s path: error %.3g of the CS scale",
						 path_name(path), worst);
				check(worst <= (path == NTK_PATH_PORTABLE ? 0.0 : 1e-3), msg);
			}
			free(X);
			free(K);
			free(diag);
			free(work);
		}
		ntk_recursion_force_path(0);
	}

	/*
	 * fuzz: erf at depth 100 with sigma_w = 3 is in the chaotic phase
	 * (sigma_w^2 E[erf'^2] > 1), where the correlation 1 of a point with
	 * itself is unstable: the first vector erf path, an ulp off the
	 * diagonal's angle in one layer, gave a duplicate row 5.197 where its
	 * self kernel is 9.026.  Every path must give a duplicate (and the
	 * cross kernel's point with itself) its self kernel to the bit, in the
	 * symmetric Gram and in the cross kernel, both kernels, with and without
	 * a bias (whose K1 the vector path once rounded as an fma).
	 */
	{
		int			n = 12;
		int			d = 12;
		int			path;
		int			bad = 0;

		for (path = 0; path < 3; path++)
		{
			int			c;

			ntk_recursion_force_path(path);
			for (c = 0; c < 4; c++)
			{
				NtkParams	q = params(100, NTK_ERF, 3.0, c % 2 ? 1.375 : 0.0);
				NtkKernelKind kind = c / 2 ? NTK_KERNEL_NNGP : NTK_KERNEL_NTK;
				size_t		len = ntk_diag_len(&q);
				double	   *X = dalloc((size_t) n * d);
				double	   *K = dalloc((size_t) n * n);
				double	   *C = dalloc((size_t) n * n);
				double	   *diag = dalloc((size_t) n * len);
				double	   *work = dalloc(ntk_gram_work_len(&q, n));
				int			i;

				fill_dyadic(X, n, d);
				memcpy(X + 3 * d, X + 2 * d, d * sizeof(double));	/* row 3 = row 2 */
				check_status(ntk_points_diag(&q, X, n, d, diag), NTK_OK, "chaotic erf diag");
				check_status(ntk_gram_sym(&q, kind, X, n, d, diag, work, K, NULL, NULL),
							 NTK_OK, "chaotic erf gram");
				ntk_diag_transpose(&q, diag, n, work, work + (size_t) (q.depth + 1) * n);
				check_status(ntk_gram_cross(&q, kind, X, n, diag, X, n, work, d, C, NULL, NULL),
							 NTK_OK, "chaotic erf cross");
				bad += K[3 + 2 * n] != ntk_diag_value(&q, kind, diag + 2 * len);
				for (i = 0; i < n; i++)
					bad += C[(size_t) i * n + i] != ntk_diag_value(&q, kind, diag + (size_t) i * len);
				free(X);
				free(K);
				free(C);
				free(diag);
				free(work);
			}
		}
		ntk_recursion_force_path(0);
		check(bad == 0, "chaotic erf: a point with itself gets its self kernel on every path");
	}
}

/*
 * The two regimes the pair kernel once lost silently, on every path: ReLU
 * variances near 1e-179 (depth 600, where delta (s + K) underflows; the
 * vector paths hand such chunks to the portable one) and antiparallel rows
 * of unequal norms (x and -3x, where s + K is rounding).  Dyadic data: the
 * dot products are exact in any order, so the Gram must match ntk_pair.
 */
static void
test_tiny_and_antiparallel(void)
{
	int			path;
	int			depths[2] = {3, 600};

	for (path = 0; path < 3; path++)
	{
		int			di;

		ntk_recursion_force_path(path);
		for (di = 0; di < 2; di++)
		{
			int			n = 48;
			int			d = 3;
			NtkParams	p = params(depths[di], NTK_RELU, 1.0, 0.0);
			size_t		len = ntk_diag_len(&p);
			double	   *X = dalloc((size_t) n * d);
			double	   *K = dalloc((size_t) n * n);
			double	   *diag = dalloc((size_t) n * len);
			double	   *work = dalloc(ntk_gram_work_len(&p, n));
			Worst		w;
			char		msg[300];
			int			i;
			int			j;

			for (i = 0; i < n / 2 * d; i++)
				X[i] = floor(urand() * 9 - 4) / 8;
			for (i = n / 2 * d; i < n * d; i++)
				X[i] = -3 * X[i - n / 2 * d];
			check_status(ntk_points_diag(&p, X, n, d, diag), NTK_OK, "tiny diag");
			check_status(ntk_gram_sym(&p, NTK_KERNEL_NTK, X, n, d, diag, work, K, NULL, NULL),
						 NTK_OK, "tiny gram status");
			worst_init(&w);
			for (j = 0; j < n; j++)
				for (i = j + 1; i < n; i++)
				{
					NtkStatus	pst;
					double		want = pair_value(&p, NTK_KERNEL_NTK,
												  X + (size_t) i * d, X + (size_t) j * d, d,
												  diag + (size_t) i * len, diag + (size_t) j * len, &pst);

					worst_add(&w, entry_err(K[i + (size_t) j * n], want,
											ntk_diag_ntk(&p, diag + (size_t) i * len),
											ntk_diag_ntk(&p, diag + (size_t) j * len)),
							  i, j, K[i + (size_t) j * n], want);
				}
			snprintf(msg, sizeof msg,
					 "x and -3x, depth %d, %s path: K[%d,%d] = %.17g, ntk_pair %.17g, rel err %.3g",
					 p.depth, path_name(path), w.i, w.j, w.got, w.want, w.err);
			check(w.err <= 1e-13, msg);
			free(X);
			free(K);
			free(diag);
			free(work);
		}
	}
	ntk_recursion_force_path(0);
}

/*
 * The dot products in blocks (forced: ntk_gram_force_blocks) and in the one
 * dsyrk that small Grams take: n = 1100 is two blocks of columns, a dsyrk on
 * each diagonal block and a dgemm below the first; both Grams within
 * GRAM_TOL of ntk_pair (check_sym), and of each other.
 */
static void
test_dot_blocks(void)
{
	NtkParams	p = params(3, NTK_RELU, 1.5, 0.25);
	int			n = 1100;
	int			d = 9;
	int			saved = ntk_get_threads();
	double	   *X = dalloc((size_t) n * d);
	double	   *K[2];
	double		worst = 0.0;
	char		msg[160];
	int			b;
	int			i;
	int			j;

	/* not dyadic: the dot products round, so an order of summation shows */
	for (i = 0; i < n * d; i++)
		X[i] = urand() - 0.5;
	ntk_set_threads(2);
	for (b = 0; b < 2; b++)
	{
		K[b] = dalloc((size_t) n * n);
		ntk_gram_force_blocks(b);
		check_status(check_sym(&p, NTK_KERNEL_NTK, X, n, d, K[b],
							   b ? "dot products in blocks" : "dot products in one dsyrk"),
					 NTK_OK, b ? "gram in blocks" : "gram in one dsyrk");
	}
	ntk_gram_force_blocks(0);
	ntk_set_threads(saved);
	for (j = 0; j < n; j++)
		for (i = j; i < n; i++)
		{
			double		a = K[0][i + (size_t) j * n];
			double		c = K[1][i + (size_t) j * n];
			double		scale = sqrt(K[0][i + (size_t) i * n] * K[0][j + (size_t) j * n]);

			worst = fmax(worst, fabs(a - c) / scale);
		}
	snprintf(msg, sizeof msg, "blocked and single-dsyrk Grams within %.3g of each other (scaled)", worst);
	check(worst <= GRAM_TOL, msg);
	free(X);
	free(K[0]);
	free(K[1]);
}

int
main(int argc, char **argv)
{
	(void) argc;
	rng_state = unit_seed(0x2545F4914F6CDD1DULL);
	test_random();
	test_gaussian();
	test_tiny_and_antiparallel();
	test_structured();
	test_huge();
	test_threads();
	test_dot_blocks();
	test_gram_progress();
	test_gram_deep_steps();
	test_stop_flags();
	test_blas_threads();
	test_regressions();

	unit_seed_report(argv[0]);
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
