/*-------------------------------------------------------------------------
 *
 * test_nystrom.c
 *	  Server-less unit tests of the Nystrom numerics (src/core/nystrom.c): the
 *	  hashed center choice (independent of row order, of splits and merges;
 *	  duplicates collapsed), the statistics (merged equal one pass, packed
 *	  and unpacked, fingerprints refused), the blocked reduction against
 *	  LAPACK's dsygst, the solve against exact kernel ridge regression
 *	  by LAPACK's dposv when every row is a center, and the ridge selection
 *	  (coefficients, residuals, degrees of freedom from one
 *	  eigendecomposition) against direct computations.
 *
 * The numpy reference of the whole method is test/python/test_nystrom.py.
 * Built and run by `make unitcheck`; ends with "N passed, M failed".
 *
 *-------------------------------------------------------------------------
 */
#include "kernel.h"
#include "gram.h"
#include "nystrom.h"
#include "recursion.h"
#include "chol.h"
#include "eigh.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "unit_data.h"

static double
nrand(void)
{
	double		u = urand();
	double		v = urand();

	return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static NtkCenters *
centers_new(int m, int d, uint64_t seed)
{
	NtkCenters *s = (NtkCenters *) xmalloc(ntk_centers_size(m, d));

	check_status(ntk_centers_init(s, m, d, seed), NTK_OK, "ntk_centers_init");
	return s;
}

/* Whether two sets hold the same centers in the same order. */
static int
same_centers(const NtkCenters *a, const NtkCenters *b)
{
	int			d = a->d;
	double	   *ca;
	double	   *cb;
	int			same;

	if (a->count != b->count)
		return 0;
	ca = dalloc((size_t) a->count * d + 1);
	cb = dalloc((size_t) b->count * d + 1);
	ntk_centers_rows(a, ca);
	ntk_centers_rows(b, cb);
	same = memcmp(ca, cb, (size_t) a->count * d * sizeof(double)) == 0;
	free(ca);
	free(cb);
	return same;
}

/*
 * Rows of small integers (so that duplicates are exact), one row in five a
 * copy of an earlier one.
 */
static void
fill_rows(double *X, int n, int d)
{
	int			i;
	int			j;

	for (i = 0; i < n; i++)
	{
		if (i > 0 && urand() < 0.2)
		{
			int			src = (int) (urand() * i);

			memcpy(X + (size_t) i * d, X + (size_t) src * d, d * sizeof(double));
			continue;
		}
		for (j = 0; j < d; j++)
			X[(size_t) i * d + j] = (double) (int) (urand() * 7.0) - 3.0;
	}
}

/* Distinct rows of X, by brute force. */
static int
count_distinct(const double *X, int n, int d)
{
	int			count = 0;
	int			i;
	int			j;

	for (i = 0; i < n; i++)
	{
		for (j = 0; j < i; j++)
			if (memcmp(X + (size_t) i * d, X + (size_t) j * d, d * sizeof(double)) == 0)
				break;
		count += j == i;
	}
	return count;
}

static void
test_centers(void)
{
	int			n = 600;
	int			d = 3;
	int			m = 40;
	double	   *X = dalloc((size_t) n * d);
	double	   *Xp = dalloc((size_t) n * d);
	int		   *perm = (int *) xmalloc(n * sizeof(int));
	NtkCenters *one = centers_new(m, d, 42);
	NtkCenters *shuf = centers_new(m, d, 42);
	NtkCenters *parts[3];
	NtkCenters *all;
	double	   *C;
	int			distinct;
	int			i;
	int			ok;

	fill_rows(X, n, d);
	distinct = count_distinct(X, n, d);
	check(distinct > 2 * m, "test data: more distinct rows than centers");

	ntk_centers_add(one, X, n);
	check(ntk_centers_count(one) == m, "m centers kept");
	check_status(ntk_centers_check(one, ntk_centers_size(m, d)), NTK_OK,
				 "a built set passes ntk_centers_check");

	/* the same rows in another order, one at a time */
	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n - 1; i > 0; i--)
	{
		int			j = (int) (urand() * (i + 1));
		int			t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < n; i++)
		memcpy(Xp + (size_t) i * d, X + (size_t) perm[i] * d, d * sizeof(double));
	for (i = 0; i < n; i++)
		ntk_centers_add(shuf, Xp + (size_t) i * d, 1);
	check(same_centers(one, shuf), "centers independent of row order");

	/* three uneven parts, merged in two groupings */
	for (i = 0; i < 3; i++)
		parts[i] = centers_new(m, d, 42);
	ntk_centers_add(parts[0], Xp, 17);
	ntk_centers_add(parts[1], Xp + 17 * d, 400);
	ntk_centers_add(parts[2], Xp + 417 * d, n - 417);
	all = centers_new(m, d, 42);
	check_status(ntk_centers_merge(all, parts[2]), NTK_OK, "merge");
	check_status(ntk_centers_merge(all, parts[0]), NTK_OK, "merge");
	check_status(ntk_centers_merge(all, parts[1]), NTK_OK, "merge");
	check(same_centers(one, all), "centers independent of split and merge order");
	check(all->rows_seen == (uint64_t) n, "rows_seen adds up");
	check_status(ntk_centers_merge(parts[1], parts[0]), NTK_OK, "merge");
	check_status(ntk_centers_merge(parts[2], parts[1]), NTK_OK, "merge");
	check(same_centers(one, parts[2]), "centers independent of grouping");

	/* the m smallest hashes among the distinct rows, by brute force */
	C = dalloc((size_t) m * d);
	ntk_centers_rows(one, C);
	ok = 1;
	for (i = 0; i < m; i++)
	{
		uint64_t	h = ntk_row_hash(42, C + (size_t) i * d, d);
		int			smaller = 0;
		int			r;

		for (r = 0; r < n; r++)
		{
			int			first = 1;
			int			q;

			for (q = 0; q < r && first; q++)
				first = memcmp(X + (size_t) q * d, X + (size_t) r * d, d * sizeof(double)) != 0;
			if (first && ntk_row_hash(42, X + (size_t) r * d, d) < h)
				smaller++;
		}
		ok &= smaller == i;
		if (i > 0)
			ok &= memcmp(C + (size_t) i * d, C + (size_t) (i - 1) * d, d * sizeof(double)) != 0;
	}
	check(ok, "center i has exactly i distinct rows of smaller hash");

	/* another seed, another choice */
	{
		NtkCenters *other = centers_new(m, d, 43);

		ntk_centers_add(other, X, n);
		check(!same_centers(one, other), "another seed chooses other centers");
		check_status(ntk_centers_merge(one, other), NTK_BAD_DIMENSION,
					 "sets of different seeds do not merge");
		free(other);
	}

	/* m at least the distinct rows: all of them, each once */
	{
		NtkCenters *big = centers_new(distinct + 5, d, 42);
		NtkCenters *big2 = centers_new(distinct + 5, d, 42);

		ntk_centers_add(big, X, n);
		check(ntk_centers_count(big) == distinct, "m >= distinct rows: all distinct rows");
		ntk_centers_add(big2, Xp, n);
		ntk_centers_add(big2, X, n);	/* everything twice */
		check(same_centers(big, big2), "duplicates collapsed");
		free(big);
		free(big2);
	}

	/* a damaged buffer is refused */
	{
		size_t		size = ntk_centers_size(m, d);
		NtkCenters *bad = (NtkCenters *) xmalloc(size);
		uint64_t   *hash = (uint64_t *) ((char *) bad + sizeof(NtkCenters));
		uint64_t	t;

		memcpy(bad, one, size);
		check_status(ntk_centers_check(bad, size - 8), NTK_BAD_DIMENSION, "wrong length refused");
		t = hash[0];
		hash[0] = hash[1];
		hash[1] = t;
		check_status(ntk_centers_check(bad, size), NTK_BAD_DIMENSION, "keys out of order refused");
		memcpy(bad, one, size);
		bad->magic ^= 1;
		check_status(ntk_centers_check(bad, size), NTK_BAD_DIMENSION, "bad magic refused");
		free(bad);
	}

	/* rows equal but for one word: distinct, ordered by their hashes */
	{
		NtkCenters *s = centers_new(4, 2, 7);
		double		rows[6] = {1.0, 2.0, 1.0, 2.0000000000000004, 1.0, 2.0};

		ntk_centers_add(s, rows, 3);
		check(ntk_centers_count(s) == 2, "two distinct of three rows");
		free(s);
	}

	free(C);
	free(all);
	for (i = 0; i < 3; i++)
		free(parts[i]);
	free(one);
	free(shuf);
	free(perm);
	free(X);
	free(Xp);
}

/* max |a - b| / max |b| over count entries (H: lower triangle only if m > 0) */
static double
rel_diff(const double *a, const double *b, size_t count, int m)
{
	double		num = 0.0;
	double		den = 0.0;
	size_t		i;

	for (i = 0; i < count; i++)
	{
		if (m > 0 && (int) (i % m) < (int) (i / m))
			continue;
		num = fmax(num, fabs(a[i] - b[i]));
		den = fmax(den, fabs(b[i]));
	}
	return den > 0.0 ? num / den : num;
}

static int
lower_equal(const double *a, const double *b, int m)
{
	int			i;
	int			j;

	for (j = 0; j < m; j++)
		for (i = j; i < m; i++)
			if (memcmp(&a[i + (size_t) j * m], &b[i + (size_t) j * m], sizeof(double)) != 0)
				return 0;
	return 1;
}

static int
cancel_now(void *arg, double fraction)
{
	(void) fraction;
	return ++*(int *) arg >= 2;
}

static void
test_statistics(void)
{
	NtkParams	p = params(3, NTK_RELU, 1.3, 0.2);
	/*
	 * A full block, then one of 200 rows: BLAS sums the 200 products of an
	 * entry in one pass (fewer than the inner blocking of OpenBLAS's
	 * dgemm/dsyrk kernels, 256 or more), so the second block's sum is
	 * the same number whether it starts from zero (its own state) or from
	 * the first block's (one pass): the merged state is bit for bit.
	 */
	int			n = 2048 + 200;
	int			d = 6;
	int			m = 50;
	int			k = 3;
	double	   *X = dalloc((size_t) n * d);
	double	   *Y = dalloc((size_t) n * k);
	double	   *C = dalloc((size_t) m * d);
	double	   *cdiag = dalloc((size_t) m * ntk_diag_len(&p));
	double	   *ctable = dalloc(ntk_gram_work_len(&p, m));
	double	   *work = dalloc(ntk_nystrom_work_len(&p, m));
	double	   *H[4];
	double	   *B[4];
	NtkNystromStats st[4];
	size_t		i;
	int			calls;

	for (i = 0; i < (size_t) n * d; i++)
		X[i] = nrand();
	for (i = 0; i < (size_t) n * k; i++)
		Y[i] = nrand();
	memcpy(C, X + 100 * d, (size_t) m * d * sizeof(double));
	for (i = 0; i < 4; i++)
	{
		H[i] = dalloc((size_t) m * m);
		B[i] = dalloc((size_t) m * k);
		check_status(ntk_nystrom_init(&st[i], &p, NTK_KERNEL_NTK, C, m, d, k, H[i], B[i]),
					 NTK_OK, "ntk_nystrom_init");
	}
	check_status(ntk_nystrom_center_table(&p, C, m, d, cdiag, ctable), NTK_OK,
				 "center table");

	/* one pass; then the same blocks in two states, merged */
	check_status(ntk_nystrom_accumulate(&st[0], &p, NTK_KERNEL_NTK, C, ctable, X, Y, n,
										work, NULL, NULL), NTK_OK, "accumulate");
	check(st[0].n == n, "n counted");
	ntk_nystrom_accumulate(&st[1], &p, NTK_KERNEL_NTK, C, ctable, X, Y, 2048, work, NULL, NULL);
	ntk_nystrom_accumulate(&st[2], &p, NTK_KERNEL_NTK, C, ctable, X + 2048 * d, Y + 2048 * k,
						   n - 2048, work, NULL, NULL);
	check_status(ntk_nystrom_merge(&st[1], &st[2]), NTK_OK, "merge");
	check(lower_equal(st[1].H, st[0].H, m) &&
		  memcmp(st[1].B, st[0].B, (size_t) m * k * sizeof(double)) == 0 &&
		  st[1].n == st[0].n && st[1].diag_sum == st[0].diag_sum,
		  "merged statistics of the same blocks equal one pass bit for bit");

	/* a three-way split at other rows, merged in another order */
	ntk_nystrom_init(&st[1], &p, NTK_KERNEL_NTK, C, m, d, k, H[1], B[1]);
	ntk_nystrom_init(&st[2], &p, NTK_KERNEL_NTK, C, m, d, k, H[2], B[2]);
	ntk_nystrom_init(&st[3], &p, NTK_KERNEL_NTK, C, m, d, k, H[3], B[3]);
	ntk_nystrom_accumulate(&st[1], &p, NTK_KERNEL_NTK, C, ctable, X, Y, 333, work, NULL, NULL);
	ntk_nystrom_accumulate(&st[2], &p, NTK_KERNEL_NTK, C, ctable, X + 333 * d, Y + 333 * k,
						   1500, work, NULL, NULL);
	ntk_nystrom_accumulate(&st[3], &p, NTK_KERNEL_NTK, C, ctable, X + 1833 * d, Y + 1833 * k,
						   n - 1833, work, NULL, NULL);
	ntk_nystrom_merge(&st[3], &st[1]);
	ntk_nystrom_merge(&st[3], &st[2]);
	check(rel_diff(st[3].H, st[0].H, (size_t) m * m, m) < 1e-13 &&
		  rel_diff(st[3].B, st[0].B, (size_t) m * k, 0) < 1e-13 && st[3].n == n &&
		  fabs(st[3].diag_sum - st[0].diag_sum) < 1e-13 * st[0].diag_sum,
		  "three-way split merged equals one pass to rounding");

	/* H and B against their definitions through ntk_gram_cross */
	{
		double	   *qdiag = dalloc((size_t) n * ntk_diag_len(&p));
		double	   *K = dalloc((size_t) n * m);
		double	   *Hr = dalloc((size_t) m * m);
		double	   *Br = dalloc((size_t) m * k);
		size_t		a;
		size_t		b;
		size_t		r;

		ntk_points_diag(&p, X, n, d, qdiag);
		ntk_gram_cross(&p, NTK_KERNEL_NTK, X, n, qdiag, C, m, ctable, d, K, NULL, NULL);
		for (a = 0; a < (size_t) m; a++)
		{
			for (b = 0; b < (size_t) m; b++)
			{
				long double s = 0;

				for (r = 0; r < (size_t) n; r++)
					s += (long double) K[r * m + a] * K[r * m + b];
				Hr[a + b * m] = (double) s;
			}
			for (b = 0; b < (size_t) k; b++)
			{
				long double s = 0;

				for (r = 0; r < (size_t) n; r++)
					s += (long double) K[r * m + a] * Y[r * k + b];
				Br[a + b * m] = (double) s;
			}
		}
		check(rel_diff(st[0].H, Hr, (size_t) m * m, m) < 1e-13, "H = sum k(C,x) k(x,C)");
		check(rel_diff(st[0].B, Br, (size_t) m * k, 0) < 1e-12, "B = sum k(C,x) y^T");
		free(qdiag);
		free(K);
		free(Hr);
		free(Br);
	}

	/* pack, unpack: the same state */
	{
		size_t		size = ntk_nystrom_packed_size(m, k);
		char	   *buf = (char *) xmalloc(size);
		NtkNystromStats u;

		memset(H[2], 0, (size_t) m * m * sizeof(double));
		ntk_nystrom_pack(&st[0], buf);
		check_status(ntk_nystrom_unpack(buf, size, &u, H[2], B[2]), NTK_OK, "unpack");
		check(ntk_nystrom_key_equal(&u.key, &st[0].key) && u.n == st[0].n &&
			  lower_equal(u.H, st[0].H, m) &&
			  memcmp(u.B, st[0].B, (size_t) m * k * sizeof(double)) == 0,
			  "pack and unpack give the same state");
		check(size == sizeof(NtkNystromPacked) + ((size_t) m * (m + 1) / 2 + (size_t) m * k) * 8,
			  "packed size: lower triangle of H and B");
		check_status(ntk_nystrom_unpack(buf, size - 8, &u, H[2], B[2]), NTK_BAD_DIMENSION,
					 "unpack refuses a short buffer");
		buf[0] ^= 1;
		check_status(ntk_nystrom_unpack(buf, size, &u, H[2], B[2]), NTK_BAD_DIMENSION,
					 "unpack refuses a bad magic");
		buf[0] ^= 1;
		((NtkNystromPacked *) (void *) buf)->key.depth = -1;
		check_status(ntk_nystrom_unpack(buf, size, &u, H[2], B[2]), NTK_BAD_DEPTH,
					 "unpack refuses a bad depth");
		((NtkNystromPacked *) (void *) buf)->key.depth = p.depth;
		((NtkNystromPacked *) (void *) buf)->key.kind = 7;
		check_status(ntk_nystrom_unpack(buf, size, &u, H[2], B[2]), NTK_BAD_DIMENSION,
					 "unpack refuses an unknown kernel kind");
		free(buf);
	}

	/* fingerprints: other centers, other kernel, other k */
	{
		NtkNystromStats o;
		NtkParams	q = p;
		double	   *C2 = dalloc((size_t) m * d);
		int64_t		n0 = st[0].n;

		memcpy(C2, C, (size_t) m * d * sizeof(double));
		C2[7] = nextafter(C2[7], 10.0);
		ntk_nystrom_init(&o, &p, NTK_KERNEL_NTK, C2, m, d, k, H[3], B[3]);
		check_status(ntk_nystrom_merge(&st[0], &o), NTK_BAD_DIMENSION,
					 "merge refuses states of other centers");
		check(st[0].n == n0, "a refused merge leaves the state");
		q.sigma_b = 0.3;
		ntk_nystrom_init(&o, &q, NTK_KERNEL_NTK, C, m, d, k, H[3], B[3]);
		check_status(ntk_nystrom_merge(&st[0], &o), NTK_BAD_DIMENSION,
					 "merge refuses states of another sigma_b");
		ntk_nystrom_init(&o, &p, NTK_KERNEL_NNGP, C, m, d, k, H[3], B[3]);
		check_status(ntk_nystrom_merge(&st[0], &o), NTK_BAD_DIMENSION,
					 "merge refuses states of another kernel kind");
		q = p;
		q.depth = 2;
		check_status(ntk_nystrom_accumulate(&st[0], &q, NTK_KERNEL_NTK, C, ctable, X, Y, 1,
											work, NULL, NULL), NTK_BAD_DIMENSION,
					 "accumulate refuses parameters not the state's");
		free(C2);
	}

	/* cancel between blocks */
	calls = 0;
	check_status(ntk_nystrom_accumulate(&st[1], &p, NTK_KERNEL_NTK, C, ctable, X, Y, n,
										work, cancel_now, &calls), NTK_CANCELED,
				 "accumulate cancels");

	for (i = 0; i < 4; i++)
	{
		free(H[i]);
		free(B[i]);
	}
	free(X);
	free(Y);
	free(C);
	free(cdiag);
	free(ctable);
	free(work);
}

static void
test_sygst(void)
{
	int			m = 300;		/* several blocks of NTK_SYGST_BLOCK */
	double	   *A = dalloc((size_t) m * m);
	double	   *A2 = dalloc((size_t) m * m);
	double	   *L = dalloc((size_t) m * m);
	double	   *G = dalloc((size_t) m * m);
	int			i;
	int			j;

	for (i = 0; i < m * m; i++)
		G[i] = nrand();
	/* A = G G^T / m + I, L a well-conditioned lower factor */
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, m, m, m, 1.0 / m, G, m, G, m,
				0.0, A, m);
	memcpy(L, A, (size_t) m * m * sizeof(double));
	ntk_add_diagonal(L, m, 1.0);
	LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', m, L, m);
	for (j = 0; j < m; j++)
		for (i = 0; i < j; i++)
			L[i + (size_t) j * m] = 0.0;
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, m, m, m, 1.0, G, m, G, m,
				0.0, A, m);
	memcpy(A2, A, (size_t) m * m * sizeof(double));
	check_status(ntk_sygst_lower(A, L, m, NULL, NULL, 0, 1), NTK_OK, "ntk_sygst_lower");
	LAPACKE_dsygst(LAPACK_COL_MAJOR, 1, 'L', m, A2, m, L, m);
	check(rel_diff(A, A2, (size_t) m * m, m) < 1e-12,
		  "ntk_sygst_lower equals LAPACK's dsygst");
	{
		int			calls = 0;

		check_status(ntk_sygst_lower(A, L, m, cancel_now, &calls, 0, 1), NTK_CANCELED,
					 "ntk_sygst_lower cancels between blocks");
		check(calls == 2, "after the second block");
	}
	free(A);
	free(A2);
	free(L);
	free(G);
}

/*
 * Every row a center: the Nystrom predictions at new points equal exact
 * kernel ridge regression's, (K + lambda I) alpha = Y by LAPACK's dposv.
 */
static void
test_exact(NtkParams p, NtkKernelKind kind, int d, double ridge, double tol)
{
	int			n = 160;
	int			k = 2;
	int			t = 40;
	size_t		len = ntk_diag_len(&p);
	double	   *X = dalloc((size_t) n * d);
	double	   *Y = dalloc((size_t) n * k);
	double	   *T = dalloc((size_t) t * d);
	double	   *C = dalloc((size_t) n * d);
	double	   *diag = dalloc((size_t) n * len);
	double	   *tdiag = dalloc((size_t) t * len);
	double	   *table = dalloc(ntk_gram_work_len(&p, n));
	double	   *K = dalloc((size_t) n * n);
	double	   *Kmm = dalloc((size_t) n * n);
	double	   *H = dalloc((size_t) n * n);
	double	   *B = dalloc((size_t) n * k);
	double	   *A1 = dalloc((size_t) n * k);
	double	   *A2 = dalloc((size_t) n * k);
	double	   *Kt = dalloc((size_t) t * n);
	double	   *P1 = dalloc((size_t) t * k);
	double	   *P2 = dalloc((size_t) t * k);
	double	   *work = dalloc(ntk_nystrom_work_len(&p, n));
	double	   *swork = dalloc(2 * (size_t) n);
	double		jused;
	NtkCenters *set = centers_new(n, d, 1);
	NtkNystromStats st;
	double		mean = 0.0;
	double		lambda;
	int			failed;
	int			which;
	int			i;
	char		what[200];

	for (i = 0; i < n * d; i++)
		X[i] = nrand();
	for (i = 0; i < t * d; i++)
		T[i] = nrand();
	for (i = 0; i < n * k; i++)
		Y[i] = nrand();

	/* exact: K + lambda I, lambda = ridge * mean diag K */
	ntk_points_diag(&p, X, n, d, diag);
	ntk_gram_sym(&p, kind, X, n, d, diag, table, K, NULL, NULL);
	for (i = 0; i < n; i++)
		mean += K[i + (size_t) i * n];
	lambda = ridge * mean / n;
	ntk_add_diagonal(K, n, lambda);
	memcpy(A1, Y, (size_t) n * k * sizeof(double));
	/* Y row-major n x k -> column-major */
	for (i = 0; i < n * k; i++)
		A1[(i % k) * n + i / k] = Y[i];
	LAPACKE_dposv(LAPACK_COL_MAJOR, 'L', n, k, K, n, A1, n);
	ntk_points_diag(&p, T, t, d, tdiag);
	ntk_gram_cross(&p, kind, T, t, tdiag, X, n, table, d, Kt, NULL, NULL);
	cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, t, k, n, 1.0, Kt, n, A1, n,
				0.0, P1, t);

	/* Nystrom with every row a center */
	ntk_centers_add(set, X, n);
	check(ntk_centers_count(set) == n, "every row a center");
	ntk_centers_rows(set, C);
	ntk_nystrom_init(&st, &p, kind, C, n, d, k, H, B);
	ntk_nystrom_center_table(&p, C, n, d, diag, table);
	ntk_nystrom_accumulate(&st, &p, kind, C, table, X, Y, n, work, NULL, NULL);
	check(fabs(st.diag_sum / st.n - mean / n) <= 1e-14 * mean / n, "mean self kernel");
	ntk_gram_sym(&p, kind, C, n, d, diag, table, Kmm, NULL, NULL);
	check_status(ntk_nystrom_solve(Kmm, H, B, n, k, ridge * st.diag_sum / st.n,
								   NTK_NYSTROM_JITTER, A2, swork, &jused, &failed, &which, NULL, NULL),
				 NTK_OK, "ntk_nystrom_solve");
	check(jused == NTK_NYSTROM_JITTER * n, "the first jitter sufficed");
	{
		int			calls = 0;

		ntk_gram_sym(&p, kind, C, n, d, diag, table, Kmm, NULL, NULL);
		check_status(ntk_nystrom_solve(Kmm, H, B, n, k, 1.0, 0.0, A2, swork, &jused, &failed,
									   &which, cancel_now, &calls), NTK_CANCELED,
					 "ntk_nystrom_solve cancels");
	}
	ntk_points_diag(&p, C, n, d, diag);
	ntk_diag_transpose(&p, diag, n, table, table + (size_t) (p.depth + 1) * n);
	ntk_gram_cross(&p, kind, T, t, tdiag, C, n, table, d, Kt, NULL, NULL);
	cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, t, k, n, 1.0, Kt, n, A2, n,
				0.0, P2, t);
	snprintf(what, sizeof(what),
			 "m = n equals exact KRR: d %d depth %d %s sigma_b %g %s ridge %g (rel err %.2e, tol %g)",
			 d, p.depth, p.activation == NTK_ERF ? "erf" : "relu", p.sigma_b,
			 kind == NTK_KERNEL_NNGP ? "nngp" : "ntk", ridge,
			 rel_diff(P2, P1, (size_t) t * k, 0), tol);
	check(rel_diff(P2, P1, (size_t) t * k, 0) < tol, what);
	if (getenv("NTK_TEST_VERBOSE"))
		printf("%s\n", what);

	free(X);
	free(Y);
	free(T);
	free(C);
	free(diag);
	free(tdiag);
	free(table);
	free(K);
	free(Kmm);
	free(H);
	free(B);
	free(A1);
	free(A2);
	free(Kt);
	free(P1);
	free(P2);
	free(work);
	free(swork);
	free(set);
}

static void
test_solve_errors(void)
{
	int			m = 3;
	double		Kmm[9] = {1, 0, 0, 0, -1, 0, 0, 0, 1};
	double		H[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
	double		B[3] = {1, 1, 1};
	double		alpha[3];
	double		swork[6];
	double		jused;
	int			failed;
	int			which;

	check_status(ntk_nystrom_solve(Kmm, H, B, m, 1, 1e-3, 0.0, alpha, swork, &jused, &failed, &which,
								   NULL, NULL), NTK_NOT_POSITIVE_DEFINITE,
				 "indefinite K_mm refused");
	check(which == 1 && failed == 2, "reported at K_mm's second row");
	check_status(ntk_nystrom_solve(Kmm, H, B, m, 1, NAN, 0.0, alpha, swork, &jused, &failed, &which,
								   NULL, NULL), NTK_NOT_FINITE, "NaN ridge refused");
	check_status(ntk_nystrom_solve(Kmm, H, B, 0, 1, 1e-3, 0.0, alpha, swork, &jused, &failed, &which,
								   NULL, NULL), NTK_BAD_DIMENSION, "m = 0 refused");
}

/*
 * Ridge selection from one eigendecomposition against direct computations
 * for each ridge: the coefficients of ntk_nystrom_solve, the residuals of
 * the predictions K_nm alpha (long double sums), the trace of
 * (H + r K~)^-1 H by LAPACK's dposv; the statistics' sum of squared
 * targets; ntk_nystrom_rss.
 */
static void
test_select(void)
{
	NtkParams	p = params(3, NTK_RELU, 1.0, 0.1);
	NtkKernelKind kind = NTK_KERNEL_NTK;
	int			n = 300;
	int			d = 4;
	int			m = 40;
	int			k = 2;
	size_t		mm = (size_t) m * m;
	double	   *X = dalloc((size_t) n * d);
	double	   *Y = dalloc((size_t) n * k);
	double	   *C = dalloc((size_t) m * d);
	double	   *diag = dalloc((size_t) n * ntk_diag_len(&p));
	double	   *table = dalloc(ntk_gram_work_len(&p, m));
	double	   *work = dalloc(ntk_nystrom_work_len(&p, m));
	double	   *H = dalloc(mm);
	double	   *H0 = dalloc(mm);
	double	   *B = dalloc((size_t) m * k);
	double	   *Kmm = dalloc(mm);
	double	   *Kmm0 = dalloc(mm);
	double	   *L = dalloc(mm);
	double	   *V = dalloc(mm);
	double	   *lam = dalloc(m);
	double	   *bt = dalloc((size_t) m * k);
	double	   *tmp = dalloc((size_t) m * k);
	double	   *ae = dalloc((size_t) m * k);
	double	   *as = dalloc((size_t) m * k);
	double	   *Knm = dalloc((size_t) n * m);
	double	   *P = dalloc((size_t) n * k);
	double	   *P2 = dalloc((size_t) n * k);
	double	   *M = dalloc(mm);
	double	   *T = dalloc(mm);
	double	   *ework = dalloc(ntk_eigh_work_len(m));
	double	   *swork = dalloc(2 * (size_t) m);
	double		ridges[3] = {1e-4, 1e-2, 1.0};
	double		jitter;
	double		jused;
	double		mean_diag;
	double		e;
	long double y2 = 0.0L;
	NtkCenters *set = centers_new(m, d, 7);
	NtkNystromStats st;
	int			failed;
	int			which;
	int			r;
	size_t		i;
	int			j;
	char		what[200];

	for (i = 0; i < (size_t) n * d; i++)
		X[i] = nrand();
	for (i = 0; i < (size_t) n; i++)
		for (j = 0; j < k; j++)
		{
			Y[i * k + j] = sin(X[i * d] + j * X[i * d + 1]) + 0.3 * nrand();
			y2 += (long double) Y[i * k + j] * Y[i * k + j];
		}
	ntk_centers_add(set, X, n);
	ntk_centers_rows(set, C);
	ntk_nystrom_init(&st, &p, kind, C, m, d, k, H, B);
	ntk_nystrom_center_table(&p, C, m, d, diag, table);
	check_status(ntk_nystrom_accumulate(&st, &p, kind, C, table, X, Y, n, work, NULL, NULL),
				 NTK_OK, "select: accumulate");
	check(fabsl(st.y2_sum - y2) <= 1e-14L * y2, "y2_sum is the sum of the squared targets");
	mean_diag = st.diag_sum / st.n;
	ntk_gram_sym(&p, kind, C, m, d, diag, table, Kmm, NULL, NULL);
	memcpy(Kmm0, Kmm, mm * sizeof(double));
	memcpy(H0, H, mm * sizeof(double));
	ntk_nystrom_center_table(&p, C, m, d, diag, table);
	ntk_points_diag(&p, X, n, d, diag);
	/* K_nm row-major n x m */
	ntk_gram_cross(&p, kind, X, n, diag, C, m, table, d, Knm, NULL, NULL);

	/* one reduction and one eigendecomposition */
	memcpy(L, Kmm0, mm * sizeof(double));
	memcpy(V, H0, mm * sizeof(double));
	check_status(ntk_nystrom_reduce(L, V, m, NTK_NYSTROM_JITTER, swork, &jitter, &failed,
									NULL, NULL), NTK_OK, "ntk_nystrom_reduce");
	check(jitter == NTK_NYSTROM_JITTER * m, "the first jitter sufficed");
	check_status(ntk_eigh(V, m, lam, ework, NULL, NULL), NTK_OK, "eigh of C");
	check_status(ntk_nystrom_project(L, V, B, m, k, bt, tmp), NTK_OK, "ntk_nystrom_project");
	{
		double		mk = 0.0;

		for (j = 0; j < m; j++)
			mk += Kmm0[j + (size_t) j * m];
		e = jitter * mk / m;
	}

	for (r = 0; r < 3; r++)
	{
		double		lambda = ridges[r] * mean_diag;
		double		rss;
		double		rss2;
		double		df;
		double		gcv;
		long double rd = 0.0L;
		double		tr = 0.0;

		check_status(ntk_nystrom_gcv(lam, bt, m, k, n, st.y2_sum, lambda, &rss, &df, &gcv),
					 NTK_OK, "ntk_nystrom_gcv");
		check_status(ntk_nystrom_eigen_coef(L, V, lam, bt, m, k, lambda, ae, tmp), NTK_OK,
					 "ntk_nystrom_eigen_coef");
		memcpy(Kmm, Kmm0, mm * sizeof(double));
		memcpy(H, H0, mm * sizeof(double));
		check_status(ntk_nystrom_solve(Kmm, H, B, m, k, lambda, NTK_NYSTROM_JITTER, as, swork,
									   &jused, &failed, &which, NULL, NULL), NTK_OK,
					 "select: ntk_nystrom_solve");
		snprintf(what, sizeof(what), "ridge %g: eigen coefficients equal the solve's (rel err %.2e)",
				 ridges[r], rel_diff(ae, as, (size_t) m * k, 0));
		check(rel_diff(ae, as, (size_t) m * k, 0) < 1e-10, what);

		/* residuals of K_nm alpha (P row-major n x k; alpha column-major m x k) */
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, k, m, 1.0, Knm, m,
					as, m, 0.0, P, k);
		for (i = 0; i < (size_t) n * k; i++)
			rd += ((long double) Y[i] - P[i]) * ((long double) Y[i] - P[i]);
		snprintf(what, sizeof(what), "ridge %g: RSS from the eigenvalues %.12g, direct %.12Lg",
				 ridges[r], rss, rd);
		check(fabsl(rss - rd) <= 1e-10L * rd, what);
		check_status(ntk_nystrom_rss(Kmm, as, B, m, k, lambda, st.y2_sum, tmp, &rss2), NTK_OK,
					 "ntk_nystrom_rss");
		snprintf(what, sizeof(what), "ridge %g: RSS at the solve's solution %.12g, direct %.12Lg",
				 ridges[r], rss2, rd);
		check(fabsl(rss2 - rd) <= 1e-10L * rd, what);

		/* df = tr((H + lambda K~)^-1 H), K~ = K_mm + e I */
		for (i = 0; i < mm; i++)
		{
			size_t		a = i % m;
			size_t		b = i / m;
			double		h = a >= b ? H0[i] : H0[b + a * m];
			double		kk = a >= b ? Kmm0[i] : Kmm0[b + a * m];

			M[i] = h + lambda * (kk + (a == b ? e : 0.0));
			T[i] = h;
		}
		LAPACKE_dposv(LAPACK_COL_MAJOR, 'L', m, m, M, m, T, m);
		for (j = 0; j < m; j++)
			tr += T[j + (size_t) j * m];
		snprintf(what, sizeof(what), "ridge %g: df %.12g, trace of the hat matrix %.12g",
				 ridges[r], df, tr);
		check(fabs(df - tr) <= 1e-9 * tr, what);
		check(gcv == n * rss / (k * (n - df) * (n - df)), "the GCV score");
	}

	/* an eigenvalue below -r: no score */
	{
		double		rss;
		double		df;
		double		gcv;
		double		l0 = lam[0];

		lam[0] = -1e-3;
		check_status(ntk_nystrom_gcv(lam, bt, m, k, n, st.y2_sum, 1e-4, &rss, &df, &gcv),
					 NTK_NOT_POSITIVE_DEFINITE, "gcv: lam_1 + r <= 0 refused");
		check_status(ntk_nystrom_eigen_coef(L, V, lam, bt, m, k, 1e-4, ae, tmp),
					 NTK_NOT_POSITIVE_DEFINITE, "eigen_coef: lam_1 + r <= 0 refused");
		check_status(ntk_nystrom_gcv(lam, bt, m, k, n, st.y2_sum, NAN, &rss, &df, &gcv),
					 NTK_NOT_FINITE, "gcv: NaN ridge refused");
		lam[0] = l0;
		check_status(ntk_nystrom_gcv(lam, bt, m, k, n, 0.0, 1e-4, &rss, &df, &gcv),
					 NTK_OK, "gcv: residuals below zero");
		check(isnan(gcv), "residuals below zero: no score");
	}

	free(X);
	free(Y);
	free(C);
	free(diag);
	free(table);
	free(work);
	free(H);
	free(H0);
	free(B);
	free(Kmm);
	free(Kmm0);
	free(L);
	free(V);
	free(lam);
	free(bt);
	free(tmp);
	free(ae);
	free(as);
	free(Knm);
	free(P);
	free(P2);
	free(M);
	free(T);
	free(ework);
	free(swork);
	free(set);
}

int
main(void)
{
	rng_state = unit_seed(0x5EED0000C0FFEEULL);
	ntk_set_threads(2);

	test_centers();
	test_statistics();
	test_sygst();
	test_exact(params(3, NTK_RELU, 1.0, 0.0), NTK_KERNEL_NTK, 5, 1e-3, 1e-8);
	test_exact(params(1, NTK_RELU, 1.4, 0.3), NTK_KERNEL_NTK, 5, 1e-4, 1e-8);
	test_exact(params(5, NTK_ERF, 1.2, 0.1), NTK_KERNEL_NTK, 5, 1e-3, 1e-8);
	test_exact(params(2, NTK_ERF, 1.0, 0.5), NTK_KERNEL_NNGP, 5, 1e-2, 1e-8);
	test_exact(params(2, NTK_ERF, 1.0, 0.5), NTK_KERNEL_NNGP, 20, 1e-2, 1e-8);
	test_exact(params(2, NTK_ERF, 1.0, 0.5), NTK_KERNEL_NTK, 5, 1e-2, 1e-8);
	/*
	 * The NNGP of 160 points in 5 dimensions is numerically of low rank
	 * (eigenvalues down to ~1e-16 of the largest): H = K^2 squares that,
	 * and the Nystrom predictions differ from the exact ones by 3e-8 to
	 * 9e-8 (seeds 0 to 3).  Inherent in forming H (docs/nystrom.md).
	 */
	test_exact(params(2, NTK_RELU, 1.0, 0.5), NTK_KERNEL_NNGP, 5, 1e-3, 5e-7);
	test_exact(params(3, NTK_RELU, 1.0, 0.0), NTK_KERNEL_NTK, 5, 1e-6, 1e-8);
	test_solve_errors();
	test_select();

	printf("%d passed, %d failed\n", n_passed, n_failed);
	unit_seed_report("test/unit/test_nystrom");
	return n_failed ? 1 : 0;
}
