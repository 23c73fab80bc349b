/*-------------------------------------------------------------------------
 *
 * tridiag.c
 *	  Interruptible divide-and-conquer eigensolver for symmetric tridiagonal
 *	  matrices (the middle step of ntk_eigh).
 *
 * Cuppen's method as LAPACK's dstedc runs it (Cuppen, Numer. Math. 36
 * (1981) 177-195; Gu and Eisenstat, SIAM J. Matrix Anal. Appl. 16 (1995)
 * 172-191 for the eigenvectors): T is cut in two by a rank-one term, both
 * halves are solved (recursively; small ones by dstedc), and the merge
 * solves D + rho z z^T.  Deflation is LAPACK's dlaed2 and the roots are
 * dlaed4's, but the rest of each merge (dlaed3's work) is done here in
 * pieces, so that progress and cancellation are reported every few hundred
 * roots and every few hundred million flops of the back-multiplication.
 * dstemr, one O(n^2) LAPACK call, took 11 s at n = 8000 with no way to
 * stop it.
 *
 *-------------------------------------------------------------------------
 */
#include "eigh.h"

#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* subproblems of at most this order go to dstedc in one call (~0.05 s) */
#define NTK_TRIDIAG_LEAF 512
/* roots (or vector columns) between progress reports */
#define NTK_TRIDIAG_ROOTS 64

/* LAPACK's merge steps, which LAPACKE does not wrap */
extern void dlaed2_(int *k, const int *n, const int *n1, double *d, double *q,
					const int *ldq, int *indxq, double *rho, double *z,
					double *dlamda, double *w, double *q2, int *indx,
					int *indxc, int *indxp, int *coltyp, int *info);
extern void dlaed4_(const int *n, const int *i, const double *d, const double *z,
					double *delta, const double *rho, double *dlam, int *info);
extern void dlamrg_(const int *n1, const int *n2, const double *a,
					const int *dtrd1, const int *dtrd2, int *index);

typedef struct SortPair
{
	double		value;
	int			column;
} SortPair;

/* By value, then by column: the same order every time. */
static int
ComparePairs(const void *a, const void *b)
{
	const SortPair *x = (const SortPair *) a;
	const SortPair *y = (const SortPair *) b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return (x->column > y->column) - (x->column < y->column);
}

typedef struct TridiagRun
{
	double	   *d;
	double	   *e;
	double	   *Z;
	int			ldz;
	double	   *work;			/* 4 n + n^2 doubles: one merge at a time */
	int		   *iwork;			/* 4 n merge indices, then dstedc's */
	int		   *indxq;			/* n: each solved node's sorting permutation */
	NtkProgressFn progress;
	void	   *arg;
	double		p0;				/* progress at the start ... */
	double		p1;				/* ... and at the end */
	double		total;			/* sum of node orders cubed */
	double		done;
} TridiagRun;

/* Sum of m^3 over the nodes of the tree below a node of order m. */
static double
TreeCost(int m)
{
	if (m <= NTK_TRIDIAG_LEAF)
		return (double) m * m * m;
	return (double) m * m * m + TreeCost(m / 2) + TreeCost(m - m / 2);
}

/* Reports progress done + part of a node's cost; nonzero to stop. */
static int
Report(TridiagRun *r, double part)
{
	double		f;

	if (r->progress == NULL)
		return 0;
	f = r->total > 0.0 ? fmin((r->done + part) / r->total, 1.0) : 1.0;
	return r->progress(r->arg, r->p0 + (r->p1 - r->p0) * f);
}

/*
 * Columns per dgemm call so that one call is about 2^31 multiply-adds
 * (a few hundredths of a second).
 */
static int
GemmColumns(int rows, int inner)
{
	double		c = 2147483648.0 / ((double) rows * (inner > 0 ? inner : 1));

	return c >= 4096.0 ? 4096 : (c <= 16.0 ? 16 : (int) c);
}

/*
 * Q(:, 0:k) = Q2 (rows x inner, leading dimension rows) times S (inner x k),
 * in blocks of columns; a zero block if inner is 0.
 */
static int
BackMultiply(TridiagRun *r, int rows, int inner, int k, const double *Q2,
			 const double *S, double *Q, int ldq, double cost, double *part)
{
	int			cb = GemmColumns(rows, inner);
	int			c0;

	for (c0 = 0; c0 < k; c0 += cb)
	{
		int			cols = k - c0 < cb ? k - c0 : cb;

		if (inner > 0)
			cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, rows, cols,
						inner, 1.0, Q2, rows, S + (size_t) c0 * inner, inner,
						0.0, Q + (size_t) c0 * ldq, ldq);
		else
			LAPACKE_dlaset_work(LAPACK_COL_MAJOR, 'A', rows, cols, 0.0, 0.0,
								Q + (size_t) c0 * ldq, ldq);
		*part += cost * cols / k;
		if (Report(r, *part))
			return 1;
	}
	return 0;
}

/*
 * Merges the solved halves of the node at row/column lo, order m, cut after
 * n1 rows, coupled by rho (dlaed1's steps, dlaed3's in pieces).
 */
static NtkStatus
Merge(TridiagRun *r, int lo, int m, int n1, double rho)
{
	int			ldq = r->ldz;
	double	   *Q = r->Z + lo + (size_t) lo * ldq;
	double	   *d = r->d + lo;
	int		   *indxq = r->indxq + lo;
	double	   *z = r->work;
	double	   *dlamda = z + m;
	double	   *w = dlamda + m;
	double	   *s = w + m;		/* k: the signs, then a vector */
	double	   *q2 = s + m;
	int		   *indx = r->iwork;
	int		   *indxc = indx + m;
	int		   *coltyp = indxc + m;
	int		   *indxp = coltyp + m;
	double		cost = (double) m * m * m;
	double		part = 0.0;
	int			n2 = m - n1;
	int			k = 0;
	int			info = 0;
	int			i;
	int			j;

	/* z = (last row of the first block, first row of the second) */
	cblas_dcopy(n1, Q + (n1 - 1), ldq, z, 1);
	cblas_dcopy(n2, Q + n1 + (size_t) n1 * ldq, ldq, z + n1, 1);
	dlaed2_(&k, &m, &n1, d, Q, &ldq, indxq, &rho, z, dlamda, w, q2, indx,
			indxc, indxp, coltyp, &info);
	if (info != 0)
		return NTK_LAPACK_ERROR;
	if (k == 0)
	{
		for (i = 0; i < m; i++)
			indxq[i] = i + 1;
		r->done += cost;
		return Report(r, 0.0) ? NTK_CANCELED : NTK_OK;
	}

	/* the roots: column j of Q(0:k, 0:k) gets dlamda - root j */
	for (j = 0; j < k; j++)
	{
		int			j1 = j + 1;

		dlaed4_(&k, &j1, dlamda, w, Q + (size_t) j * ldq, &rho, d + j, &info);
		if (info != 0)
			return NTK_LAPACK_ERROR;
		if ((j + 1) % NTK_TRIDIAG_ROOTS == 0 &&
			Report(r, 0.1 * cost * (j + 1) / k))
			return NTK_CANCELED;
	}
	part = 0.1 * cost;

	if (k == 2)
	{
		/* dlaed4 returned the normalized vectors; put them in INDX order */
		for (j = 0; j < 2; j++)
		{
			double		v0 = Q[(size_t) j * ldq];
			double		v1 = Q[1 + (size_t) j * ldq];

			Q[(size_t) j * ldq] = indxc[0] == 1 ? v0 : v1;
			Q[1 + (size_t) j * ldq] = indxc[1] == 1 ? v0 : v1;
		}
	}
	else if (k > 2)
	{
		/*
		 * Gu and Eisenstat: the z for which the computed roots are exact,
		 * from the products of (dlamda_i - root_j) / (dlamda_i - dlamda_j),
		 * with the signs of the z that deflation left.
		 */
		cblas_dcopy(k, w, 1, s, 1);
		for (i = 0; i < k; i++)
			w[i] = Q[i + (size_t) i * ldq];
		for (j = 0; j < k; j++)
		{
			const double *qj = Q + (size_t) j * ldq;

			for (i = 0; i < j; i++)
				w[i] *= qj[i] / (dlamda[i] - dlamda[j]);
			for (i = j + 1; i < k; i++)
				w[i] *= qj[i] / (dlamda[i] - dlamda[j]);
			if ((j + 1) % (4 * NTK_TRIDIAG_ROOTS) == 0 &&
				Report(r, part + 0.05 * cost * (j + 1) / k))
				return NTK_CANCELED;
		}
		for (i = 0; i < k; i++)
			w[i] = copysign(sqrt(-w[i]), s[i]);
		part += 0.05 * cost;

		/* eigenvector j of D + rho z z^T: z_i / (dlamda_i - root_j), normalized */
		for (j = 0; j < k; j++)
		{
			double	   *qj = Q + (size_t) j * ldq;
			double		norm;

			for (i = 0; i < k; i++)
				s[i] = w[i] / qj[i];
			norm = cblas_dnrm2(k, s, 1);
			for (i = 0; i < k; i++)
				qj[i] = s[indxc[i] - 1] / norm;
			if ((j + 1) % (4 * NTK_TRIDIAG_ROOTS) == 0 &&
				Report(r, part + 0.05 * cost * (j + 1) / k))
				return NTK_CANCELED;
		}
		part += 0.05 * cost;
	}

	/*
	 * Back to the basis of T: the lower rows from the packed columns with
	 * entries there (types 2 and 3), then the upper rows (types 1 and 2).
	 * The rows each product reads are copied out first, since it writes
	 * over Q.
	 */
	{
		int			ct1 = coltyp[0];
		int			n12 = coltyp[0] + coltyp[1];
		int			n23 = coltyp[1] + coltyp[2];
		double	   *S = q2 + (size_t) n1 * n12 + (size_t) n2 * n23;
		double		share = 0.8 * cost * n23 / (double) (n12 + n23 > 0 ? n12 + n23 : 1);

		LAPACKE_dlacpy_work(LAPACK_COL_MAJOR, 'A', n23, k, Q + ct1, ldq, S,
							n23 > 0 ? n23 : 1);
		if (BackMultiply(r, n2, n23, k, q2 + (size_t) n1 * n12, S, Q + n1, ldq,
						 share, &part))
			return NTK_CANCELED;
		LAPACKE_dlacpy_work(LAPACK_COL_MAJOR, 'A', n12, k, Q, ldq, S,
							n12 > 0 ? n12 : 1);
		if (BackMultiply(r, n1, n12, k, q2, S, Q, ldq, 0.8 * cost - share, &part))
			return NTK_CANCELED;
	}

	/* the permutation that sorts the roots and the deflated values together */
	{
		int			n1m = k;
		int			n2m = m - k;
		int			one = 1;
		int			minus_one = -1;

		dlamrg_(&n1m, &n2m, d, &one, &minus_one, indxq);
	}
	r->done += cost;
	return Report(r, 0.0) ? NTK_CANCELED : NTK_OK;
}

/*
 * A subproblem of order m <= NTK_TRIDIAG_LEAF by dstedc in one call, its
 * eigenvalues ascending; work: 1 + 4 m + m^2 doubles, iwork: 3 + 5 m.
 */
static NtkStatus
Leaf(int m, double *d, double *e, double *Z, int ldz, double *work, int *iwork)
{
	return LAPACKE_dstedc_work(LAPACK_COL_MAJOR, 'I', m, d, e, Z, ldz, work,
							   1 + 4 * m + m * m, iwork, 3 + 5 * m) == 0
		? NTK_OK : NTK_LAPACK_ERROR;
}

/* Solves the node at row/column lo of order m (d already cut). */
static NtkStatus
Solve(TridiagRun *r, int lo, int m)
{
	NtkStatus	st;
	int			n1;
	double		rho;
	int			i;

	if (m <= NTK_TRIDIAG_LEAF)
	{
		if (Leaf(m, r->d + lo, r->e + lo, r->Z + lo + (size_t) lo * r->ldz, r->ldz,
				 r->work, r->iwork) != NTK_OK)
			return NTK_LAPACK_ERROR;
		for (i = 0; i < m; i++)
			r->indxq[lo + i] = i + 1;
		r->done += (double) m * m * m;
		return Report(r, 0.0) ? NTK_CANCELED : NTK_OK;
	}

	/* T = diag(T1, T2) + |rho| v v^T, v = e_{n1} +- e_{n1+1} */
	n1 = m / 2;
	rho = r->e[lo + n1 - 1];
	r->d[lo + n1 - 1] -= fabs(rho);
	r->d[lo + n1] -= fabs(rho);
	if ((st = Solve(r, lo, n1)) != NTK_OK)
		return st;
	if ((st = Solve(r, lo + n1, m - n1)) != NTK_OK)
		return st;
	return Merge(r, lo, m, n1, rho);
}

/*
 * Doubles at the start of the workspace: a merge's 4 n + n^2 (or dstedc's
 * 1 + 4 n + n^2), and at least dstemr's 19 n; then d and e saved (2 n), then
 * the integers.
 */
static size_t
DoubleRegion(size_t m)
{
	return 4 * m + m * m > 19 * m ? 4 * m + m * m : 19 * m;
}

size_t
ntk_tridiag_work_len(int n)
{
	size_t		m = (size_t) (n > 0 ? n : 1);
	size_t		leaf = m < NTK_TRIDIAG_LEAF ? m : NTK_TRIDIAG_LEAF;
	size_t		dbl = DoubleRegion(m);
	/* indices: indxq n + the merge's 4n or dstedc's 3 + 5 leaf; dstemr 12 n */
	size_t		ints = 4 * m > 3 + 5 * leaf ? 4 * m : 3 + 5 * leaf;

	ints = (ints + m > 12 * m ? ints + m : 12 * m);
	/* + d and e kept for dstemr, in doubles; ints packed two per double */
	return dbl + 2 * m + 8 + (ints + 1) / 2 + 1;
}

NtkStatus
ntk_tridiag_eig_mrrr(int n, double *d, double *e, double *Z, int ldz,
					 double *work)
{
	size_t		m = (size_t) (n > 0 ? n : 1);
	/* the same places as in ntk_tridiag_eig: 19 n doubles, then 12 n ints */
	int		   *iwork = (int *) (void *) (work + DoubleRegion(m) + 8 + 2 * m);
	lapack_int	found = 0;
	lapack_int	tryrac = 1;
	lapack_int *isuppz = (lapack_int *) iwork;
	int			info;

	if (n < 1 || ldz < n)
		return NTK_BAD_DIMENSION;
	e[n - 1] = 0.0;
	info = LAPACKE_dstemr_work(LAPACK_COL_MAJOR, 'V', 'A', n, d, e, 0.0, 0.0,
							   0, 0, &found, work, Z, ldz, n, isuppz, &tryrac,
							   work + m, 18 * n, isuppz + 2 * m, 10 * n);
	if (info != 0 || found != n)
		return NTK_LAPACK_ERROR;
	memcpy(d, work, m * sizeof(double));
	return NTK_OK;
}

NtkStatus
ntk_tridiag_eig(int n, double *d, double *e, double *Z, int ldz,
				double *work, NtkProgressFn progress, void *arg,
				double p0, double p1)
{
	size_t		m = (size_t) n;
	double	   *mwork = work;
	double	   *d0 = work + DoubleRegion(m) + 8;
	double	   *e0 = d0 + m;
	int		   *iwork = (int *) (void *) (e0 + m);
	TridiagRun	r;
	NtkStatus	st;
	double		scale = 0.0;
	int			i;

	if (n < 1 || ldz < n)
		return NTK_BAD_DIMENSION;
	if (n <= NTK_TRIDIAG_LEAF)
	{
		if (Leaf(n, d, e, Z, ldz, work, iwork) != NTK_OK)
			return NTK_LAPACK_ERROR;
		return progress && progress(arg, p1) ? NTK_CANCELED : NTK_OK;
	}
	/* dlaed2 indexes its n^2 workspace with Fortran's 32-bit integers */
	if ((size_t) n * n > (size_t) INT_MAX)
	{
		st = ntk_tridiag_eig_mrrr(n, d, e, Z, ldz, work);
		if (st != NTK_OK)
			return st;
		return progress && progress(arg, p1) ? NTK_CANCELED : NTK_OK;
	}

	/* unit max-norm, as dstedc does: deflation tolerances are relative to it */
	for (i = 0; i < n; i++)
		scale = fmax(scale, fabs(d[i]));
	for (i = 0; i < n - 1; i++)
		scale = fmax(scale, fabs(e[i]));
	if (scale == 0.0 || !isfinite(scale))
		scale = 1.0;
	memcpy(d0, d, m * sizeof(double));
	memcpy(e0, e, (m - 1) * sizeof(double));
	for (i = 0; i < n; i++)
		d[i] /= scale;
	for (i = 0; i < n - 1; i++)
		e[i] /= scale;

	/*
	 * The merges rotate whole columns: the blocks off the diagonal must be 0.
	 * The merges' workspace is written now too, n doubles at a time: its
	 * first touch costs page faults (seconds for gigabytes on a virtual
	 * machine), which inside dlaed2 could not be interrupted.
	 */
	for (i = 0; i < n; i++)
	{
		memset(Z + (size_t) i * ldz, 0, m * sizeof(double));
		memset(mwork + (size_t) i * m, 0, m * sizeof(double));
		if ((i + 1) % 256 == 0 && progress && progress(arg, p0))
			return NTK_CANCELED;
	}

	r.d = d;
	r.e = e;
	r.Z = Z;
	r.ldz = ldz;
	r.work = mwork;
	r.iwork = iwork + n;
	r.indxq = iwork;
	r.progress = progress;
	r.arg = arg;
	r.p0 = p0;
	r.p1 = p1;
	r.total = TreeCost(n);
	r.done = 0.0;
	st = Solve(&r, 0, n);
	if (st == NTK_LAPACK_ERROR)
	{
		/* a leaf or a merge failed (dlaed4 not converging; not seen in practice) */
		memcpy(d, d0, m * sizeof(double));
		memcpy(e, e0, (m - 1) * sizeof(double));
		st = ntk_tridiag_eig_mrrr(n, d, e, Z, ldz, work);
		if (st != NTK_OK)
			return st;
		return progress && progress(arg, p1) ? NTK_CANCELED : NTK_OK;
	}
	if (st != NTK_OK)
		return st;

	/*
	 * Ascending order: the merges leave d[indxq[i] - 1] ascending up to
	 * rounding (dstedc sorts at the end too); sort the pairs and move the
	 * columns along each cycle of the permutation, with one spare column.
	 */
	{
		SortPair   *pairs = (SortPair *) mwork;
		double	   *tmp = mwork + 2 * m;
		int		   *perm = r.indxq;
		size_t		moved = 0;

		for (i = 0; i < n; i++)
		{
			pairs[i].value = d[perm[i] - 1];
			pairs[i].column = perm[i] - 1;
		}
		qsort(pairs, m, sizeof(SortPair), ComparePairs);
		for (i = 0; i < n; i++)
		{
			d[i] = pairs[i].value * scale;
			perm[i] = pairs[i].column + 1;
		}
		for (i = 0; i < n; i++)
		{
			int			j;
			int			next;

			/* new column i is old column perm[i] - 1; 0 marks a moved one */
			if (perm[i] <= 0 || perm[i] - 1 == i)
				continue;
			memcpy(tmp, Z + (size_t) i * ldz, m * sizeof(double));
			j = i;
			while ((next = perm[j] - 1) != i)
			{
				memcpy(Z + (size_t) j * ldz, Z + (size_t) next * ldz,
					   m * sizeof(double));
				perm[j] = 0;
				j = next;
				if (++moved % 1024 == 0 && progress && progress(arg, p1))
					return NTK_CANCELED;
			}
			memcpy(Z + (size_t) j * ldz, tmp, m * sizeof(double));
			perm[j] = 0;
		}
	}
	return progress && progress(arg, p1) ? NTK_CANCELED : NTK_OK;
}
