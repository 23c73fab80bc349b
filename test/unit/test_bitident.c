/*-------------------------------------------------------------------------
 *
 * test_bitident.c
 *	  The kernels of every recursion path to the bit, against digests.
 *
 * Computes a fixed set of kernel values (ntk_gram_sym, ntk_gram_cross,
 * ntk_predict_point, ntk_kernel_vectors; ReLU and erf, NTK and NNGP, depths
 * 0 to 40, with and without bias; random rows, duplicates, scaled and
 * negated copies, nearly parallel rows, distinct rows whose norms and dot
 * product round the same, extreme scales) on each recursion
 * path the processor has, hashes each path's outputs (FNV-1a over their
 * bytes) and compares the hash with the one recorded below.  A change of
 * the recursion code that is meant to keep every value (a refactoring, a
 * faster pass) must keep the digests; one that changes values on purpose
 * records new ones (run with -p to print them).
 *
 * The dot products come from OpenBLAS, whose kernels round differently per
 * core type and thread count: the program runs itself again with
 * OPENBLAS_CORETYPE=Haswell and OPENBLAS_NUM_THREADS=1 unless they are set
 * so.  The digests were recorded with GCC 12 on Debian 12 (glibc's atan2 on
 * the portable erf path); another compiler or libm may round differently,
 * and the test then tells which path differs.  Built by clang (the
 * sanitizers' build) it compares the portable path only.
 *
 *	  test_bitident [-p] [-o FILE]
 *		-p	print the digests (to record them)
 *		-o	also write each path's raw outputs to FILE.<path> (to compare two
 *			builds value by value)
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "gram.h"
#include "recursion.h"

#define NPATHS 3

static const char *const path_name[NPATHS] = {"portable", "avx2", "avx512"};

/* recorded digests, per path (see the header) */
static const uint64_t want_digest[NPATHS] = {
	0xecfa7da2e9b89ed4ULL,
	0x81b999c42db422bfULL,
	0xeaf4c86966297d0bULL,
};

static uint64_t rng_state;

static double
uniform(void)
{
	uint64_t	z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double) (z >> 11) / 9007199254740992.0;
}

static double
normal(void)
{
	double		u = uniform();
	double		v = uniform();

	return sqrt(-2.0 * log(u + 1e-300)) * cos(2.0 * M_PI * v);
}

/*
 * n rows of d: by i % 10, random, a copy of the row before, a negated and
 * scaled copy, a nearly parallel one (relative noise 1e-10), a scaled copy,
 * a random row of scale 10^[-3, 3]; with extreme, some rows at 1e70 and
 * 1e-72 (outside the vector paths' ranges, their chunks go portable).
 */
static void
make_points(double *X, int n, int d, int extreme)
{
	int			i;
	int			j;

	for (i = 0; i < n; i++)
	{
		double	   *x = X + (size_t) i * d;
		const double *prev = i > 0 ? x - d : NULL;
		int			kind = prev ? i % 10 : 0;
		double		scale = pow(10.0, 6.0 * uniform() - 3.0);

		for (j = 0; j < d; j++)
		{
			switch (kind)
			{
				case 5:
					x[j] = prev[j];
					break;
				case 6:
					x[j] = -2.5 * prev[j];
					break;
				case 7:
					x[j] = prev[j] * (1.0 + 1e-10 * normal());
					break;
				case 8:
					x[j] = 3.0 * prev[j];
					break;
				case 9:
					x[j] = scale * normal();
					break;
				default:
					x[j] = normal();
			}
		}
		if (extreme && i % 23 == 11)
			for (j = 0; j < d; j++)
				x[j] *= (i % 2) ? 1e70 : 1e-72;
	}
}

typedef struct Sink
{
	uint64_t	hash;
	long		count;
	FILE	   *out;
} Sink;

static void
sink_bytes(Sink *s, const void *p, size_t len)
{
	const unsigned char *c = p;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		s->hash ^= c[i];
		s->hash *= 0x100000001b3ULL;
	}
	if (s->out)
		fwrite(p, 1, len, s->out);
}

static void
sink_values(Sink *s, const double *v, int n)
{
	sink_bytes(s, v, (size_t) n * sizeof(double));
	s->count += n;
}

static void
sink_status(Sink *s, NtkStatus st)
{
	int			v = (int) st;

	sink_bytes(s, &v, sizeof(v));
}

#define N 70					/* rows: more than a block, not a multiple of 16 */
#define M 37					/* query rows */
#define D 7
#define NPRED 5
#define NVEC 40

/* every kernel of one parameter set into s */
static void
run_case(const NtkParams *p, NtkKernelKind kind, const double *X,
		 const double *Q, Sink *s)
{
	size_t		len = ntk_diag_len(p);
	double	   *diag = calloc((size_t) N * len, sizeof(double));
	double	   *qdiag = calloc((size_t) M * len, sizeof(double));
	double	   *work = calloc(ntk_gram_work_len(p, N), sizeof(double));
	double	   *xtable = calloc(ntk_gram_work_len(p, N), sizeof(double));
	double	   *K = calloc((size_t) N * N, sizeof(double));
	double	   *C = calloc((size_t) M * N, sizeof(double));
	double	   *one = calloc(len, sizeof(double));
	double	   *vwork = calloc(3 * len, sizeof(double));
	double		alpha[N * 2];
	double		kbuf[N];
	double		out[2];
	int			i;
	int			j;

	for (i = 0; i < N * 2; i++)
		alpha[i] = (i % 7) - 3.0;
	sink_status(s, ntk_points_diag(p, X, N, D, diag));
	sink_status(s, ntk_points_diag(p, Q, M, D, qdiag));
	sink_status(s, ntk_gram_sym(p, kind, X, N, D, diag, work, K, NULL, NULL));
	for (j = 0; j < N; j++)
		sink_values(s, K + (size_t) j * N + j, N - j);	/* the lower triangle */
	ntk_diag_transpose(p, diag, N, xtable, xtable + (size_t) (p->depth + 1) * N);
	sink_status(s, ntk_gram_cross(p, kind, Q, M, qdiag, X, N, xtable, D, C,
								  NULL, NULL));
	sink_values(s, C, M * N);
	for (i = 0; i < NPRED; i++)
	{
		const double *q = i % 2 ? X + (size_t) (i * 13) * D : Q + (size_t) (i * 7) * D;

		memset(kbuf, 0, sizeof(kbuf));
		memset(out, 0, sizeof(out));
		sink_status(s, ntk_predict_point(p, kind, X, N, D, xtable, alpha, 2, q,
										 one, kbuf, out));
		sink_values(s, kbuf, N);
		sink_values(s, out, 2);
	}
	for (i = 0; i < NVEC; i++)
	{
		double		nngp = 0.0;
		double		ntk = 0.0;

		sink_status(s, ntk_kernel_vectors(p, X + (size_t) i * D,
										  X + (size_t) ((i * 31 + 1) % N) * D,
										  D, vwork, &nngp, &ntk));
		sink_values(s, kind == NTK_KERNEL_NNGP ? &nngp : &ntk, 1);
	}
	free(diag);
	free(qdiag);
	free(work);
	free(xtable);
	free(K);
	free(C);
	free(one);
	free(vwork);
}

static void
run_path(Sink *s)
{
	static const int depths[] = {0, 1, 2, 3, 4, 5, 6, 8, 40};
	static const double sws[] = {1.0, 1.5};
	static const double sbs[] = {0.0, 0.5};
	double	   *X = malloc(sizeof(double) * N * D);
	double	   *Q = malloc(sizeof(double) * M * D);
	int			a;
	int			k;
	int			di;
	int			wi;
	int			bi;
	int			extreme;

	rng_state = 20240601;
	for (extreme = 0; extreme < 2; extreme++)
	{
		make_points(X, N, D, extreme);
		make_points(Q, M, D, extreme);
		/* some queries are training rows */
		memcpy(Q + 3 * D, X + 17 * D, sizeof(double) * D);
		/* distinct points whose norms and dot product round the same */
		memset(X + 40 * D, 0, sizeof(double) * 2 * D);
		X[40 * D] = X[41 * D] = 1.0;
		X[40 * D + 1] = 1e-9;
		X[41 * D + 1] = 1e-9 + 1e-17;
		memcpy(Q + 5 * D, X + 41 * D, sizeof(double) * D);
		for (a = 0; a < 2; a++)
			for (k = 0; k < 2; k++)
				for (di = 0; di < (int) (sizeof(depths) / sizeof(depths[0])); di++)
					for (wi = 0; wi < 2; wi++)
						for (bi = 0; bi < 2; bi++)
						{
							NtkParams	p = params(depths[di], a ? NTK_ERF : NTK_RELU,
												   sws[wi], sbs[bi]);

							run_case(&p, k ? NTK_KERNEL_NNGP : NTK_KERNEL_NTK, X, Q, s);
						}
	}
	free(X);
	free(Q);
}

int
main(int argc, char **argv)
{
	static const int force[NPATHS] = {NTK_PATH_PORTABLE, NTK_PATH_AVX2, NTK_PATH_AUTO};
	const char *ct = getenv("OPENBLAS_CORETYPE");
	const char *nt = getenv("OPENBLAS_NUM_THREADS");
	const char *prefix = NULL;
	int			print = 0;
	int			path;
	int			opt;

	if (!ct || strcmp(ct, "Haswell") != 0 || !nt || strcmp(nt, "1") != 0)
	{
		/* OpenBLAS reads these when it loads: run again with them */
		setenv("OPENBLAS_CORETYPE", "Haswell", 1);
		setenv("OPENBLAS_NUM_THREADS", "1", 1);
		execv("/proc/self/exe", argv);
		perror("execv");
		return 1;
	}
	while ((opt = getopt(argc, argv, "po:")) != -1)
	{
		if (opt == 'p')
			print = 1;
		else if (opt == 'o')
			prefix = optarg;
		else
		{
			fprintf(stderr, "usage: test_bitident [-p] [-o FILE]\n");
			return 2;
		}
	}
	ntk_set_threads(2);

	for (path = 0; path < NPATHS; path++)
	{
		Sink		s = {0xcbf29ce484222325ULL, 0, NULL};
		char		what[128];

		ntk_recursion_force_path(force[path]);
		if (ntk_recursion_vectorized() != path)
		{
			printf("%s: not on this processor, skipped\n", path_name[path]);
			continue;
		}
		if (prefix)
		{
			char		name[512];

			snprintf(name, sizeof(name), "%s.%s", prefix, path_name[path]);
			s.out = fopen(name, "wb");
			if (!s.out)
			{
				perror(name);
				return 1;
			}
		}
		run_path(&s);
		if (s.out)
			fclose(s.out);
		if (print)
			printf("%s: %ld values, digest 0x%016llxULL\n", path_name[path],
				   s.count, (unsigned long long) s.hash);
#ifdef __clang__
		/*
		 * The vector paths' digests are of the GCC build, the one the module
		 * ships: clang contracts other multiply-adds into FMAs.  Under clang
		 * (the sanitizer build) they run, unchecked against the digest.
		 */
		if (force[path] != NTK_PATH_PORTABLE)
		{
			printf("%s path: %ld values; the digest is the GCC build's, not compared under clang\n",
				   path_name[path], s.count);
			continue;
		}
#endif
		snprintf(what, sizeof(what), "%s path: %ld values match the digest",
				 path_name[path], s.count);
		check(s.hash == want_digest[path], what);
	}
	ntk_recursion_force_path(NTK_PATH_AUTO);
	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
