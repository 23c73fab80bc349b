/*-------------------------------------------------------------------------
 *
 * fuzz_kernel.c
 *	  libFuzzer harness of the pure numerics (kernel, Gram tiles, vector
 *	  recursion, Cholesky).
 *
 * Build (test/fuzz/run.sh does this):
 *	  clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/core \
 *		  test/fuzz/fuzz_kernel.c src/core/kernel.c src/core/gram.c src/core/recursion*.c src/core/chol.c \
 *		  -lopenblas -llapacke -lm -lpthread
 *
 * Input bytes (missing bytes read as zero):
 *	  depth		1 byte: < 224 -> 0..8, else one of -1, 1000, 1001, INT_MIN,
 *				INT_MAX, 100, 30, -1000
 *	  activation 1 byte: < 240 -> relu / erf by parity, else 2, 3, -1, 255, ...
 *	  sigma_w	1 byte mode (< 192: (1 + mode % 16) / 4, else a decoded double)
 *	  sigma_b	1 byte mode (< 64: 0, < 192: (mode % 16) / 8, else a double)
 *	  flags		1 byte: bit 0 kernel (NTK / NNGP), bit 1 run the raw Cholesky
 *	  n, m, d	1 byte each: 1 + byte % 16
 *	  lambda	a decoded double (ridge for the Cholesky of the Gram)
 *	  X, Q		n*d and m*d decoded doubles, then alpha (n) and the raw
 *				Cholesky matrix (n*n) if flag bit 1
 * A decoded double: 1 tag byte, then by tag % 8: 0-2 small dyadic
 * (int8 / 8), 3 a special (0, -0, DBL_MIN, subnormals, DBL_MAX, 1e150,
 * NaN, +-Inf, ...), 4 raw 8 bytes (any bit pattern), 5-6 int8 * 2^(4 int8),
 * 7 int16 / 1000.
 *
 * Each input runs on every recursion path (automatic: AVX-512 or AVX2+FMA
 * when the processor has them; AVX2+FMA forced; portable forced) and
 * asserts:
 *	  - no crash, no sanitizer report, every status a valid NtkStatus;
 *	  - with NTK_OK every value finite;
 *	  - ntk_kernel_vectors: NaN/Inf input -> NTK_NOT_FINITE (valid
 *		parameters), symmetric in its two vectors bit for bit;
 *	  - ntk_pair symmetric bit for bit;
 *	  - ntk_gram_sym, ntk_gram_cross, ntk_predict_point: the status is
 *		NTK_OVERFLOW exactly when ntk_pair on the same dot products leaves
 *		the float64 range; the diagonal is the self kernel exactly; entries
 *		equal ntk_pair bit for bit on the portable path and within 1e-10 of
 *		the Cauchy-Schwarz scale on the vector path;
 *	  - ntk_cholesky: NTK_OK only with a finite factor with a positive
 *		diagonal, failed_at in 1..n exactly when not positive definite.
 * A failed assertion prints what failed and aborts: libFuzzer saves the
 * input as a crash file.
 *
 * FUZZ_KERNEL_NO_AUTO=1 in the environment leaves out the automatic path:
 * everything runs on AVX2+FMA forced and portable forced.  test/fuzz/run.sh sets
 * it while it grows a corpus from a fixed seed, so that the coverage that
 * steers libFuzzer, and with it the inputs tried, is the same on a processor
 * with AVX-512 and on one without; it then replays that corpus without it.
 *
 *-------------------------------------------------------------------------
 */
#include "kernel.h"
#include "layer.h"
#include "gram.h"
#include "recursion.h"
#include "chol.h"
#include "fuzz_reader.h"

#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 16

/* the automatic path in the list of paths, unless FUZZ_KERNEL_NO_AUTO */
static int	first_path = -1;

static const double specials[] = {
	0.0, -0.0, 1.0, -1.0, 0.5, 2.0, DBL_MIN, -DBL_MIN, 4.9406564584124654e-324,
	2.2250738585072009e-308, 1e-300, 1e-160, 1e-150, 1e150, 1.5e150, 1e154,
	1.3407807929942596e154, 1e155, 1e300, DBL_MAX, -DBL_MAX, NAN, -NAN,
	INFINITY, -INFINITY, 1e-20, 1e20, 3.0, 0.1, DBL_EPSILON, 1 + DBL_EPSILON,
	1 - DBL_EPSILON / 2
};

static double
get_double(Reader *r)
{
	uint8_t		tag = get_u8(r);

	switch (tag % 8)
	{
		case 0:
		case 1:
		case 2:
			return (int8_t) get_u8(r) / 8.0;
		case 3:
			return specials[get_u8(r) % (sizeof specials / sizeof specials[0])];
		case 4:
			return get_f64_bits(r);
		case 5:
		case 6:
			{
				int8_t		mant = (int8_t) get_u8(r);
				int8_t		ex = (int8_t) get_u8(r);

				return ldexp((double) mant, 4 * (int) ex);
			}
		default:
			{
				int16_t		v = (int16_t) (get_u8(r) | (get_u8(r) << 8));

				return v / 1000.0;
			}
	}
}

static char last_entry[300];

static void
fail(const char *what, const NtkParams *p, int path, int n, int m, int d)
{
	fprintf(stderr, "ASSERTION FAILED: %s\n  depth %d activation %d sigma_w %.17g "
			"sigma_b %.17g path %s n %d m %d d %d\n  last entry: %s\n",
			what, p->depth, (int) p->activation, p->sigma_w, p->sigma_b,
			path == NTK_PATH_PORTABLE ? "portable" : path == NTK_PATH_AVX2 ? "avx2" :
			(ntk_recursion_vectorized() ? "vectorized" : "auto (portable)"),
			n, m, d, last_entry);
	abort();
}

#define ASSERT(cond, what) \
	do { if (!(cond)) fail(what, &p, path, n, m, d); } while (0)

static int
valid_status(NtkStatus s)
{
	return (unsigned) s <= (unsigned) NTK_CANCELED;
}

/*
 * Both kernels of a pair (x a row, z the column point, as the Gram routines
 * pass them), then the selected one; *ok = both finite.  ntk_pair_vectors's
 * steps: a nearly (anti)parallel pair takes the exact route.
 */
static double
ref_value(const NtkParams *p, NtkKernelKind kind, double dot, const double *x,
		  const double *z, int d, const double *dx, const double *dz, int *ok)
{
	size_t		L1 = (size_t) p->depth + 1;
	double		k;
	double		t;

	if (!ntk_pair_is_close(ntk_input_layer(p, dot, d), dx[L1], dz[L1]) ||
		!ntk_pair_close(p, dot, x, z, d, dx[2 * L1 + 1], dx, dx + L1, 1, dz, &k, &t))
		ntk_pair_strided(p, dot, d, dx, dx + L1, 1, dz, dz + L1, 1, &k, &t);
	*ok = isfinite(kind == NTK_KERNEL_NNGP ? k : t);
	return kind == NTK_KERNEL_NNGP ? k : t;
}

/*
 * got vs want from ntk_pair on the same dot product: bit for bit on the
 * portable path, else within 1e-10 of the Cauchy-Schwarz scale
 * sqrt(k(x,x) k(z,z)) (every entry of a positive semi-definite kernel is
 * below it) plus an absolute 1e-290 for underflow.  A point whose variance
 * is subnormal (or nearly) in some layer carries only a few significant
 * bits there, and the vector path's fma rounds them differently: its pairs
 * are only checked for status and finiteness.
 */
static int
close_enough(double got, double want, double sx, double sz, int portable)
{
	double		cs;

	if (portable)
		return memcmp(&got, &want, sizeof got) == 0 || got == want;
	cs = sqrt(fabs(sx)) * sqrt(fabs(sz));
	return fabs(got - want) <= 1e-10 * fmax(cs, fabs(want)) + 1e-290;
}

/* some layer's variance of the point is positive but below 1e-290 */
static int
tiny_variance(const NtkParams *p, const double *diag)
{
	int			l;

	for (l = 0; l <= p->depth; l++)
		if (diag[l] > 0.0 && diag[l] < 1e-290)
			return 1;
	return 0;
}

/* the last entry compared (last_entry), printed with a failed assertion */
static int
entry_ok(const char *what, int i, int j, double got, double want,
		 const NtkParams *p, NtkKernelKind kind, const double *dx,
		 const double *dz, int portable)
{
	double		sx = ntk_diag_value(p, kind, dx);
	double		sz = ntk_diag_value(p, kind, dz);

	snprintf(last_entry, sizeof last_entry,
			 "%s [%d,%d]: got %.17g, ntk_pair %.17g, self kernels %.17g %.17g",
			 what, i, j, got, want, sx, sz);
	if (!portable && (tiny_variance(p, dx) || tiny_variance(p, dz)))
		return 1;
	return close_enough(got, want, sx, sz, portable);
}

static double diag_x[MAXN * (2 * (NTK_MAX_DEPTH + 1) + 2)];
static double diag_q[MAXN * (2 * (NTK_MAX_DEPTH + 1) + 2)];
static double one_diag[2 * (NTK_MAX_DEPTH + 1) + 2];
static double workspace[2 * (2 * (NTK_MAX_DEPTH + 1) + 2)];

/* Everything on one recursion path (NTK_PATH_AUTO, _PORTABLE or _AVX2). */
static void
run_path(NtkParams p, NtkKernelKind kind, int path, int n, int m, int d,
		 const double *X, const double *Q, const double *alpha, double lambda,
		 const double *raw, int use_raw)
{
	size_t		len = ntk_diag_len(&p);
	double	   *xtable;
	double	   *Ksym;
	double	   *Kcross;
	double	   *D;
	double	   *kbuf;
	double		out[2];
	NtkStatus	st;
	NtkStatus	sx;
	NtkStatus	sq;
	int			over;
	int			i;
	int			j;

	ntk_recursion_force_path(path);

	sx = ntk_points_diag(&p, X, n, d, diag_x);
	ASSERT(sx == NTK_OK || sx == NTK_OVERFLOW, "ntk_points_diag status");
	sq = ntk_points_diag(&p, Q, m, d, diag_q);
	ASSERT(sq == NTK_OK || sq == NTK_OVERFLOW, "ntk_points_diag status (Q)");
	if (sx != NTK_OK || sq != NTK_OK)
		return;
	for (i = 0; i < n; i++)
		ASSERT(isfinite(ntk_diag_value(&p, kind, diag_x + i * len)), "self kernel finite");

	xtable = malloc(ntk_gram_work_len(&p, n) * sizeof(double));
	Ksym = malloc((size_t) n * n * sizeof(double));
	Kcross = malloc((size_t) m * n * sizeof(double));
	D = malloc((size_t) (n > m ? n : m) * n * sizeof(double));
	kbuf = malloc((size_t) n * sizeof(double));
	if (!xtable || !Ksym || !Kcross || !D || !kbuf)
		abort();

	/* ntk_pair is symmetric bit for bit */
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
		{
			double		dot = 0.0;
			double		a[2];
			double		b[2];
			NtkStatus	s1;
			NtkStatus	s2;
			int			k;

			for (k = 0; k < d; k++)
				dot += X[i * d + k] * X[j * d + k];
			s1 = ntk_pair(&p, dot, d, diag_x + i * len, diag_x + j * len, &a[0], &a[1]);
			s2 = ntk_pair(&p, dot, d, diag_x + j * len, diag_x + i * len, &b[0], &b[1]);
			ASSERT(valid_status(s1) && s1 == s2, "ntk_pair status symmetric");
			if (s1 == NTK_OK)
			{
				ASSERT(isfinite(a[0]) && isfinite(a[1]), "ntk_pair finite");
				ASSERT(a[0] == b[0] && a[1] == b[1], "ntk_pair symmetric");
			}
		}

	/* the symmetric Gram, against ntk_pair on the dot products BLAS gives */
	for (i = 0; i < n * n; i++)
		Ksym[i] = NAN;
	st = ntk_gram_sym(&p, kind, X, n, d, diag_x, xtable, Ksym, NULL, NULL);
	ASSERT(st == NTK_OK || st == NTK_OVERFLOW, "ntk_gram_sym status");
	cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, n, n, d, 1.0,
				X, d, X, d, 0.0, D, n);
	over = 0;
	for (j = 0; j < n; j++)
		for (i = j + 1; i < n; i++)
		{
			int			ok;

			(void) ref_value(&p, kind, D[i + j * n], X + i * d, X + j * d, d, diag_x + i * len,
							 diag_x + j * len, &ok);
			over |= !ok;
		}
	ASSERT(st == (over ? NTK_OVERFLOW : NTK_OK), "ntk_gram_sym overflows exactly when ntk_pair does");
	if (st == NTK_OK)
		for (j = 0; j < n; j++)
		{
			double		sj = ntk_diag_value(&p, kind, diag_x + j * len);

			ASSERT(Ksym[j + j * n] == sj, "ntk_gram_sym diagonal is the self kernel");
			for (i = j + 1; i < n; i++)
			{
				int			ok;
				double		want = ref_value(&p, kind, D[i + j * n], X + i * d, X + j * d, d, diag_x + i * len,
											 diag_x + j * len, &ok);

				ASSERT(isfinite(Ksym[i + j * n]), "ntk_gram_sym finite with NTK_OK");
				ASSERT(entry_ok("gram_sym", i, j, Ksym[i + j * n], want, &p, kind,
								diag_x + i * len, diag_x + j * len, path == NTK_PATH_PORTABLE),
					   "ntk_gram_sym entry equals ntk_pair");
			}
		}
	/* work holds X's layer-major table: the cross kernel's input */
	ntk_diag_transpose(&p, diag_x, n, xtable, xtable + (size_t) (p.depth + 1) * n);

	/* the cross kernel of Q against X */
	for (i = 0; i < m * n; i++)
		Kcross[i] = NAN;
	st = ntk_gram_cross(&p, kind, Q, m, diag_q, X, n, xtable, d, Kcross, NULL, NULL);
	ASSERT(st == NTK_OK || st == NTK_OVERFLOW, "ntk_gram_cross status");
	cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, n, m, d, 1.0,
				X, d, Q, d, 0.0, D, n);
	over = 0;
	for (i = 0; i < m; i++)
		for (j = 0; j < n; j++)
		{
			int			ok;

			(void) ref_value(&p, kind, D[i * n + j], X + j * d, Q + i * d, d, diag_x + j * len,
							 diag_q + i * len, &ok);
			over |= !ok;
		}
	ASSERT(st == (over ? NTK_OVERFLOW : NTK_OK), "ntk_gram_cross overflows exactly when ntk_pair does");
	if (st == NTK_OK)
		for (i = 0; i < m; i++)
			for (j = 0; j < n; j++)
			{
				int			ok;
				double		want = ref_value(&p, kind, D[i * n + j], X + j * d, Q + i * d, d, diag_x + j * len,
											 diag_q + i * len, &ok);

				ASSERT(isfinite(Kcross[i * n + j]), "ntk_gram_cross finite with NTK_OK");
				ASSERT(entry_ok("gram_cross", i, j, Kcross[i * n + j], want, &p, kind,
								diag_x + j * len, diag_q + i * len, path == NTK_PATH_PORTABLE),
					   "ntk_gram_cross entry equals ntk_pair");
			}

	/* one-point predictions */
	for (i = 0; i < m; i++)
	{
		const double *q = Q + i * d;
		double		bound[2] = {0.0, 0.0};
		int			c;

		out[0] = out[1] = NAN;
		st = ntk_predict_point(&p, kind, X, n, d, xtable, alpha, 2, q, one_diag, kbuf, out);
		ASSERT(st == NTK_OK || st == NTK_OVERFLOW, "ntk_predict_point status");
		cblas_dgemv(CblasRowMajor, CblasNoTrans, n, d, 1.0, X, d, q, 1, 0.0, D, 1);
		over = 0;
		for (j = 0; j < n; j++)
		{
			int			ok;

			(void) ref_value(&p, kind, D[j], X + j * d, q, d, diag_x + j * len, diag_q + i * len, &ok);
			over |= !ok;
		}
		ASSERT(st == (over ? NTK_OVERFLOW : NTK_OK), "ntk_predict_point overflows exactly when ntk_pair does");
		if (st != NTK_OK)
			continue;
		ASSERT(memcmp(one_diag, diag_q + i * len, len * sizeof(double)) == 0,
			   "ntk_predict_point's diagonal state is ntk_points_diag's");
		for (j = 0; j < n; j++)
		{
			int			ok;
			double		want = ref_value(&p, kind, D[j], X + j * d, q, d, diag_x + j * len,
										 diag_q + i * len, &ok);

			ASSERT(isfinite(kbuf[j]), "ntk_predict_point kernel finite with NTK_OK");
			ASSERT(entry_ok("predict", i, j, kbuf[j], want, &p, kind,
							diag_x + j * len, diag_q + i * len, path == NTK_PATH_PORTABLE),
				   "ntk_predict_point kernel equals ntk_pair");
			for (c = 0; c < 2; c++)
				bound[c] += fabs(kbuf[j]) * fabs(alpha[j + c * n]);
		}
		for (c = 0; c < 2; c++)
			if (bound[c] < DBL_MAX / 4)
				ASSERT(isfinite(out[c]) && fabs(out[c]) <= bound[c] * (1 + 1e-12) + 1e-300,
					   "ntk_predict_point output finite and bounded");
	}

	/* Cholesky of the Gram plus lambda, if the Gram is finite */
	st = ntk_gram_sym(&p, kind, X, n, d, diag_x, xtable, Ksym, NULL, NULL);
	if (st == NTK_OK || use_raw)
	{
		int			failed_at = -1;
		NtkStatus	cs;

		if (use_raw)
			memcpy(Ksym, raw, (size_t) n * n * sizeof(double));
		else
			ntk_add_diagonal(Ksym, n, lambda);
		cs = ntk_cholesky(Ksym, n, &failed_at, NULL, NULL);
		ASSERT(cs == NTK_OK || cs == NTK_NOT_POSITIVE_DEFINITE, "ntk_cholesky status");
		if (cs == NTK_OK)
		{
			double		b[MAXN];

			ASSERT(failed_at == 0, "ntk_cholesky failed_at 0 on success");
			for (j = 0; j < n; j++)
			{
				ASSERT(Ksym[j + j * n] > 0.0 && isfinite(Ksym[j + j * n]),
					   "ntk_cholesky: positive finite diagonal");
				for (i = j + 1; i < n; i++)
					ASSERT(isfinite(Ksym[i + j * n]), "ntk_cholesky: finite factor");
				b[j] = 1.0;
			}
			ntk_cholesky_solve(Ksym, n, b, 1);	/* must not crash */
		}
		else
			ASSERT(failed_at >= 1 && failed_at <= n, "ntk_cholesky failed_at in 1..n");
	}

	free(xtable);
	free(Ksym);
	free(Kcross);
	free(D);
	free(kbuf);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int odd_depths[] = {-1, 1000, 1001, INT_MIN, INT_MAX, 100, 30, -1000};
	static const int odd_acts[] = {2, 3, -1, 255, 1 << 20, -100};
	Reader		r = {data, size};
	Reader	   *rd = &r;
	NtkParams	p;
	NtkKernelKind kind;
	uint8_t		b;
	uint8_t		flags;
	int			path = 0;
	int			n;
	int			m;
	int			d;
	double		lambda;
	double		X[MAXN * MAXN];
	double		Q[MAXN * MAXN];
	double		alpha[2 * MAXN];
	double		raw[MAXN * MAXN];
	double		kv[2];
	NtkStatus	st;
	NtkStatus	st2;
	int			nonfinite;
	int			i;

	if (first_path < 0)
	{
		const char *no_auto = getenv("FUZZ_KERNEL_NO_AUTO");

		first_path = no_auto != NULL && strcmp(no_auto, "1") == 0 ? 1 : 0;
	}
	path = first_path == 0 ? NTK_PATH_AUTO : NTK_PATH_AVX2;
	ntk_recursion_force_path(path);

	b = get_u8(rd);
	p.depth = b < 224 ? b % 9 : odd_depths[b % 8];
	b = get_u8(rd);
	p.activation = b < 240 ? (NtkActivation) (b % 2) : (NtkActivation) odd_acts[b % 6];
	b = get_u8(rd);
	p.sigma_w = b < 192 ? (1 + b % 16) / 4.0 : get_double(rd);
	b = get_u8(rd);
	p.sigma_b = b < 64 ? 0.0 : (b < 192 ? (b % 16) / 8.0 : get_double(rd));
	flags = get_u8(rd);
	kind = (NtkKernelKind) (flags & 1);
	n = 1 + get_u8(rd) % MAXN;
	m = 1 + get_u8(rd) % MAXN;
	d = 1 + get_u8(rd) % MAXN;
	lambda = get_double(rd);
	for (i = 0; i < n * d; i++)
		X[i] = get_double(rd);
	for (i = 0; i < m * d; i++)
		Q[i] = get_double(rd);
	for (i = 0; i < 2 * n; i++)
	{
		alpha[i] = get_double(rd);
		if (!isfinite(alpha[i]))
			alpha[i] = 1.0;
	}
	for (i = 0; i < n * n; i++)
		raw[i] = get_double(rd);

	st = ntk_params_check(&p);
	ASSERT(valid_status(st), "ntk_params_check status valid");
	ASSERT(st == NTK_OK || st == NTK_BAD_DEPTH || st == NTK_BAD_SIGMA_W ||
		   st == NTK_BAD_SIGMA_B || st == NTK_BAD_ACTIVATION, "ntk_params_check status");

	/* ntk_kernel_vectors checks everything itself: any input is fair */
	kv[0] = kv[1] = NAN;
	st2 = ntk_kernel_vectors(&p, X, Q, d, workspace, &kv[0], &kv[1]);
	ASSERT(valid_status(st2), "ntk_kernel_vectors status valid");
	if (st != NTK_OK)
	{
		ASSERT(st2 == st, "ntk_kernel_vectors reports the parameter error");
		ntk_recursion_force_path(0);
		return 0;
	}
	nonfinite = 0;
	for (i = 0; i < d; i++)
		nonfinite |= !isfinite(X[i]) || !isfinite(Q[i]);
	if (nonfinite)
		ASSERT(st2 == NTK_NOT_FINITE, "ntk_kernel_vectors: NaN or Inf input is NTK_NOT_FINITE");
	else
		ASSERT(st2 == NTK_OK || st2 == NTK_OVERFLOW, "ntk_kernel_vectors status");
	if (st2 == NTK_OK)
	{
		double		kv2[2];

		ASSERT(isfinite(kv[0]) && isfinite(kv[1]), "ntk_kernel_vectors finite with NTK_OK");
		st2 = ntk_kernel_vectors(&p, Q, X, d, workspace, &kv2[0], &kv2[1]);
		ASSERT(st2 == NTK_OK && kv2[0] == kv[0] && kv2[1] == kv[1],
			   "ntk_kernel_vectors symmetric");
	}

	/*
	 * The Gram routines take finite data (the SQL glue rejects NaN and Inf
	 * first); ntk_points_diag still reports a non-finite |x|^2 as overflow.
	 */
	for (path = first_path; path < 3; path++)
		run_path(p, kind, path, n, m, d, X, Q, alpha, lambda, raw, flags & 2);
	ntk_recursion_force_path(0);
	return 0;
}
