/*-------------------------------------------------------------------------
 *
 * nystrom.c
 *	  Nystrom kernel ridge regression: hashed center choice, additive
 *	  statistics and the solve through K_mm's Cholesky factor.
 *
 * docs/nystrom.md describes the method, the layouts and their sizes.
 *
 *-------------------------------------------------------------------------
 */
#include "nystrom.h"
#include "recursion.h"
#include "chol.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * Center choice
 * ---------------------------------------------------------------------
 */

#define GOLDEN 0x9E3779B97F4A7C15ULL

/* splitmix64's finalizer (Steele, Lea & Flood, OOPSLA 2014): a bijection */
static inline uint64_t
Mix64(uint64_t z)
{
	z ^= z >> 30;
	z *= 0xBF58476D1CE4E5B9ULL;
	z ^= z >> 27;
	z *= 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return z;
}

uint64_t
ntk_row_hash(uint64_t seed, const double *x, int d)
{
	uint64_t	h = Mix64(seed ^ ((uint64_t) d * GOLDEN));
	int			j;

	for (j = 0; j < d; j++)
	{
		uint64_t	w;

		memcpy(&w, x + j, sizeof(w));
		h = Mix64((h ^ w) + GOLDEN);
	}
	return h;
}

/* the parts of a set's buffer */
static inline uint64_t *
SetHashes(const NtkCenters *set)
{
	return (uint64_t *) ((char *) set + sizeof(NtkCenters));
}

static inline int32_t *
SetSlots(const NtkCenters *set)
{
	return (int32_t *) (SetHashes(set) + set->m);
}

static inline double *
SetRows(const NtkCenters *set)
{
	return (double *) (void *) ((char *) SetSlots(set) + ((size_t) set->m * 4 + 7) / 8 * 8);
}

static inline const double *
SetRow(const NtkCenters *set, int slot)
{
	return SetRows(set) + (size_t) slot * set->d;
}

size_t
ntk_centers_size(int m, int d)
{
	double		bytes;

	if (m < 1 || d < 1)
		return 0;
	bytes = sizeof(NtkCenters) + 8.0 * m + ((double) m * 4 + 7) / 8 * 8 +
		8.0 * m * d;
	if (bytes > (double) (SIZE_MAX / 2))
		return 0;
	return sizeof(NtkCenters) + (size_t) m * 8 + ((size_t) m * 4 + 7) / 8 * 8 +
		(size_t) m * d * 8;
}

NtkStatus
ntk_centers_init(NtkCenters *set, int m, int d, uint64_t seed)
{
	if (ntk_centers_size(m, d) == 0)
		return NTK_BAD_DIMENSION;
	set->magic = NTK_CENTERS_MAGIC;
	set->m = m;
	set->d = d;
	set->count = 0;
	set->seed = seed;
	set->rows_seen = 0;
	/* every byte defined, so that the buffer can be copied and compared */
	memset(SetHashes(set), 0, ntk_centers_size(m, d) - sizeof(NtkCenters));
	return NTK_OK;
}

/* Order of the keys (ha, a) and (hb, b): the hash, then the words. */
static inline int
KeyCmp(uint64_t ha, const double *a, uint64_t hb, const double *b, int d)
{
	int			j;

	if (ha != hb)
		return ha < hb ? -1 : 1;
	for (j = 0; j < d; j++)
	{
		uint64_t	wa;
		uint64_t	wb;

		memcpy(&wa, a + j, sizeof(wa));
		memcpy(&wb, b + j, sizeof(wb));
		if (wa != wb)
			return wa < wb ? -1 : 1;
	}
	return 0;
}

/* Inserts the entry (h, x) unless the set holds it or is full of smaller ones. */
static void
Insert(NtkCenters *set, uint64_t h, const double *x)
{
	uint64_t   *hash = SetHashes(set);
	int32_t    *slot = SetSlots(set);
	int			d = set->d;
	int			lo = 0;
	int			hi = set->count;
	int			s;

	if (set->count == set->m &&
		KeyCmp(h, x, hash[set->m - 1], SetRow(set, slot[set->m - 1]), d) >= 0)
		return;
	/* first entry not less than (h, x) */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (KeyCmp(hash[mid], SetRow(set, slot[mid]), h, x, d) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < set->count && KeyCmp(hash[lo], SetRow(set, slot[lo]), h, x, d) == 0)
		return;					/* a duplicate */
	if (set->count < set->m)
		s = set->count++;
	else
		s = slot[set->m - 1];	/* the largest goes */
	memmove(hash + lo + 1, hash + lo, (size_t) (set->count - 1 - lo) * sizeof(*hash));
	memmove(slot + lo + 1, slot + lo, (size_t) (set->count - 1 - lo) * sizeof(*slot));
	hash[lo] = h;
	slot[lo] = s;
	memcpy(SetRows(set) + (size_t) s * d, x, (size_t) d * sizeof(double));
}

NtkStatus
ntk_centers_add(NtkCenters *set, const double *X, int n)
{
	int			i;

	if (n < 0)
		return NTK_BAD_DIMENSION;
	for (i = 0; i < n; i++)
	{
		const double *x = X + (size_t) i * set->d;

		Insert(set, ntk_row_hash(set->seed, x, set->d), x);
	}
	set->rows_seen += (uint64_t) n;
	return NTK_OK;
}

NtkStatus
ntk_centers_merge(NtkCenters *dst, const NtkCenters *src)
{
	const uint64_t *hash = SetHashes(src);
	const int32_t *slot = SetSlots(src);
	int			i;

	if (dst->m != src->m || dst->d != src->d || dst->seed != src->seed)
		return NTK_BAD_DIMENSION;
	if (dst == src)
		return NTK_OK;
	for (i = 0; i < src->count; i++)
	{
		const double *x = SetRow(src, slot[i]);

		/* src is in key order: once one is too large, all that follow are */
		if (dst->count == dst->m &&
			KeyCmp(hash[i], x, SetHashes(dst)[dst->m - 1],
				   SetRow(dst, SetSlots(dst)[dst->m - 1]), dst->d) >= 0)
			break;
		Insert(dst, hash[i], x);
	}
	dst->rows_seen += src->rows_seen;
	return NTK_OK;
}

NtkStatus
ntk_centers_check(const NtkCenters *set, size_t len)
{
	const uint64_t *hash;
	const int32_t *slot;
	int			i;

	if (len < sizeof(NtkCenters) || set->magic != NTK_CENTERS_MAGIC ||
		set->m < 1 || set->d < 1 || ntk_centers_size(set->m, set->d) != len ||
		set->count < 0 || set->count > set->m)
		return NTK_BAD_DIMENSION;
	hash = SetHashes(set);
	slot = SetSlots(set);
	/*
	 * Each hash is its row's, and the keys strictly increase: then no two
	 * entries share a slot (they would share the row, hence the key).
	 */
	for (i = 0; i < set->count; i++)
	{
		if (slot[i] < 0 || slot[i] >= set->count ||
			hash[i] != ntk_row_hash(set->seed, SetRow(set, slot[i]), set->d))
			return NTK_BAD_DIMENSION;
		if (i > 0 && KeyCmp(hash[i - 1], SetRow(set, slot[i - 1]), hash[i],
							SetRow(set, slot[i]), set->d) >= 0)
			return NTK_BAD_DIMENSION;
	}
	return NTK_OK;
}

void
ntk_centers_rows(const NtkCenters *set, double *C)
{
	const int32_t *slot = SetSlots(set);
	int			i;

	for (i = 0; i < set->count; i++)
		memcpy(C + (size_t) i * set->d, SetRow(set, slot[i]),
			   (size_t) set->d * sizeof(double));
}

/* ---------------------------------------------------------------------
 * Statistics
 * ---------------------------------------------------------------------
 */

uint64_t
ntk_centers_fingerprint(const double *C, int m, int d)
{
	uint64_t	h = Mix64((uint64_t) m * GOLDEN);
	int			i;

	for (i = 0; i < m; i++)
		h = Mix64(h ^ ntk_row_hash(0, C + (size_t) i * d, d)) + GOLDEN;
	return h;
}

NtkStatus
ntk_nystrom_init(NtkNystromStats *st, const NtkParams *p, NtkKernelKind kind,
				 const double *C, int m, int d, int k, double *H, double *B)
{
	NtkStatus	s = ntk_params_check(p);

	if (s != NTK_OK)
		return s;
	if (m < 1 || d < 1 || k < 1 || (kind != NTK_KERNEL_NTK && kind != NTK_KERNEL_NNGP))
		return NTK_BAD_DIMENSION;
	memset(&st->key, 0, sizeof(st->key));	/* padding too: keys compare by field */
	st->key.depth = p->depth;
	st->key.activation = (int32_t) p->activation;
	st->key.kind = (int32_t) kind;
	st->key.d = d;
	st->key.k = k;
	st->key.m = m;
	st->key.sigma_w = p->sigma_w;
	st->key.sigma_b = p->sigma_b;
	st->key.centers_hash = ntk_centers_fingerprint(C, m, d);
	st->n = 0;
	st->diag_sum = 0.0;
	st->y2_sum = 0.0;
	st->H = H;
	st->B = B;
	memset(H, 0, (size_t) m * m * sizeof(double));
	memset(B, 0, (size_t) m * k * sizeof(double));
	return NTK_OK;
}

int
ntk_nystrom_key_equal(const NtkNystromKey *a, const NtkNystromKey *b)
{
	/* sigmas compared as bit patterns: the same parameters, not close ones */
	return a->depth == b->depth && a->activation == b->activation &&
		a->kind == b->kind && a->d == b->d && a->k == b->k && a->m == b->m &&
		memcmp(&a->sigma_w, &b->sigma_w, sizeof(double)) == 0 &&
		memcmp(&a->sigma_b, &b->sigma_b, sizeof(double)) == 0 &&
		a->centers_hash == b->centers_hash;
}

size_t
ntk_nystrom_work_len(const NtkParams *p, int m)
{
	return (size_t) NTK_NYSTROM_BLOCK * (ntk_diag_len(p) + (size_t) m);
}

NtkStatus
ntk_nystrom_center_table(const NtkParams *p, const double *C, int m, int d,
						 double *cdiag, double *ctable)
{
	NtkStatus	s;

	if (m < 1 || d < 1)
		return NTK_BAD_DIMENSION;
	s = ntk_points_diag(p, C, m, d, cdiag);
	if (s != NTK_OK)
		return s;
	ntk_diag_transpose(p, cdiag, m, ctable, ctable + (size_t) (p->depth + 1) * m);
	return NTK_OK;
}

/*
 * Columns of H per step of its update: the dsyrk of a diagonal block and
 * the dgemm below it, ~2^35 flops at most (0.4 s at m = 10000 on two
 * threads), so that progress and cancellation run between them.
 */
#define NTK_NYSTROM_HCHUNK 2048

NtkStatus
ntk_nystrom_accumulate(NtkNystromStats *st, const NtkParams *p,
					   NtkKernelKind kind, const double *C,
					   const double *ctable, const double *X, const double *Y,
					   int n, double *work, NtkProgressFn progress, void *arg)
{
	int			m = st->key.m;
	int			d = st->key.d;
	int			k = st->key.k;
	size_t		len = ntk_diag_len(p);
	double	   *qdiag = work;
	double	   *Kb = work + (size_t) NTK_NYSTROM_BLOCK * len;
	int			ib;

	if (n < 0 || p->depth != st->key.depth ||
		(int32_t) p->activation != st->key.activation ||
		(int32_t) kind != st->key.kind ||
		memcmp(&p->sigma_w, &st->key.sigma_w, sizeof(double)) != 0 ||
		memcmp(&p->sigma_b, &st->key.sigma_b, sizeof(double)) != 0)
		return NTK_BAD_DIMENSION;

	for (ib = 0; ib < n; ib += NTK_NYSTROM_BLOCK)
	{
		int			b = n - ib < NTK_NYSTROM_BLOCK ? n - ib : NTK_NYSTROM_BLOCK;
		const double *Xb = X + (size_t) ib * d;
		const double *Yb = Y + (size_t) ib * k;
		double		dsum = 0.0;
		double		ysum = 0.0;
		NtkStatus	s;
		size_t		i;
		int			c0;

		s = ntk_points_diag(p, Xb, b, d, qdiag);
		if (s != NTK_OK)
			return s;
		for (i = 0; i < (size_t) b; i++)
			dsum += ntk_diag_value(p, kind, qdiag + i * len);
		if (!isfinite(dsum))
			return NTK_OVERFLOW;

		/* Kb: row-major b x m = column-major m x b, K_b^T */
		s = ntk_gram_cross(p, kind, Xb, b, qdiag, C, m, ctable, d, Kb, NULL, NULL);
		if (s != NTK_OK)
			return s;

		/* H += K_b^T K_b, lower triangle, in column chunks */
		for (c0 = 0; c0 < m; c0 += NTK_NYSTROM_HCHUNK)
		{
			int			w = m - c0 < NTK_NYSTROM_HCHUNK ? m - c0 : NTK_NYSTROM_HCHUNK;
			double	   *Hc = st->H + c0 + (size_t) c0 * m;

			cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, w, b, 1.0,
						Kb + c0, m, 1.0, Hc, m);
			if (m - c0 - w > 0)
				cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, m - c0 - w, w, b,
							1.0, Kb + c0 + w, m, Kb + c0, m, 1.0, Hc + w, m);
			if (progress && c0 + w < m &&
				progress(arg, (ib + (double) b * (c0 + w) / m) / n))
				return NTK_CANCELED;
		}
		/* B += K_b^T Y_b; Y_b row-major b x k is column-major k x b */
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, m, k, b, 1.0,
					Kb, m, Yb, k, 1.0, st->B, m);
		/* may overflow to +Infinity: the fit itself does not need it */
		for (i = 0; i < (size_t) b * k; i++)
			ysum += Yb[i] * Yb[i];
		st->n += b;
		st->diag_sum += dsum;
		st->y2_sum += ysum;
		if (progress && progress(arg, (double) (ib + b) / n))
			return NTK_CANCELED;
	}
	return NTK_OK;
}

NtkStatus
ntk_nystrom_merge(NtkNystromStats *dst, const NtkNystromStats *src)
{
	size_t		m = (size_t) dst->key.m;
	size_t		k = (size_t) dst->key.k;
	size_t		i;
	size_t		j;

	if (!ntk_nystrom_key_equal(&dst->key, &src->key))
		return NTK_BAD_DIMENSION;
	for (j = 0; j < m; j++)
		for (i = j; i < m; i++)
			dst->H[i + j * m] += src->H[i + j * m];
	for (i = 0; i < m * k; i++)
		dst->B[i] += src->B[i];
	dst->n += src->n;
	dst->diag_sum += src->diag_sum;
	dst->y2_sum += src->y2_sum;
	return NTK_OK;
}

size_t
ntk_nystrom_packed_size(int m, int k)
{
	if (m < 1 || k < 1 ||
		8.0 * ((double) m * (m + 1.0) / 2 + (double) m * k) > (double) (SIZE_MAX / 2))
		return 0;
	return sizeof(NtkNystromPacked) +
		((size_t) m * ((size_t) m + 1) / 2 + (size_t) m * k) * sizeof(double);
}

void
ntk_nystrom_pack(const NtkNystromStats *st, void *out)
{
	NtkNystromPacked *hdr = (NtkNystromPacked *) out;
	char	   *v = (char *) out + sizeof(NtkNystromPacked);
	size_t		m = (size_t) st->key.m;
	size_t		j;

	memset(hdr, 0, sizeof(*hdr));
	hdr->magic = NTK_NYSTROM_MAGIC;
	hdr->key = st->key;
	hdr->n = st->n;
	hdr->diag_sum = st->diag_sum;
	hdr->y2_sum = st->y2_sum;
	for (j = 0; j < m; j++)
	{
		memcpy(v, st->H + j + j * m, (m - j) * sizeof(double));
		v += (m - j) * sizeof(double);
	}
	memcpy(v, st->B, m * (size_t) st->key.k * sizeof(double));
}

NtkStatus
ntk_nystrom_unpack(const void *in, size_t len, NtkNystromStats *st,
				   double *H, double *B)
{
	NtkNystromPacked hdr;
	const char *v = (const char *) in + sizeof(NtkNystromPacked);
	size_t		m;
	size_t		j;

	if (len < sizeof(hdr))
		return NTK_BAD_DIMENSION;
	memcpy(&hdr, in, sizeof(hdr));
	if (hdr.magic != NTK_NYSTROM_MAGIC || hdr.key.m < 1 || hdr.key.k < 1 ||
		hdr.key.d < 1 || hdr.n < 0 || !(hdr.y2_sum >= 0.0) ||
		(hdr.key.kind != NTK_KERNEL_NTK && hdr.key.kind != NTK_KERNEL_NNGP) ||
		ntk_nystrom_packed_size(hdr.key.m, hdr.key.k) != len)
		return NTK_BAD_DIMENSION;
	{
		NtkParams	p;
		NtkStatus	s;

		p.depth = hdr.key.depth;
		p.activation = (NtkActivation) hdr.key.activation;
		p.sigma_w = hdr.key.sigma_w;
		p.sigma_b = hdr.key.sigma_b;
		if ((s = ntk_params_check(&p)) != NTK_OK)
			return s;
	}
	m = (size_t) hdr.key.m;
	st->key = hdr.key;
	st->n = hdr.n;
	st->diag_sum = hdr.diag_sum;
	st->y2_sum = hdr.y2_sum;
	st->H = H;
	st->B = B;
	for (j = 0; j < m; j++)
	{
		memcpy(H + j + j * m, v, (m - j) * sizeof(double));
		v += (m - j) * sizeof(double);
	}
	memcpy(B, v, m * (size_t) hdr.key.k * sizeof(double));
	return NTK_OK;
}

/* ---------------------------------------------------------------------
 * Solve
 * ---------------------------------------------------------------------
 */

/* Progress of a sub-phase mapped onto [p0, p1] of the caller's. */
typedef struct SubProgress
{
	NtkProgressFn fn;
	void	   *arg;
	double		p0;
	double		p1;
} SubProgress;

static int
SubReport(void *arg, double fraction)
{
	SubProgress *sp = (SubProgress *) arg;

	return sp->fn(sp->arg, sp->p0 + (sp->p1 - sp->p0) * fraction);
}

/* LAPACK's unblocked reduction, which LAPACKE does not wrap */
extern void dsygs2_(const int *itype, const char *uplo, const int *n,
					double *a, const int *lda, const double *b, const int *ldb,
					int *info, size_t uplo_len);

/* columns per block of the reduction: ~0.3 s a block at m = 10000 */
#define NTK_SYGST_BLOCK 128

NtkStatus
ntk_sygst_lower(double *A, const double *L, int m, NtkProgressFn progress,
				void *arg, double p0, double p1)
{
	size_t		ld = (size_t) m;
	double		total = (double) m * m * m;
	int			kb;

	/*
	 * dsygst's blocked algorithm, lower case, itype 1 (LAPACK's dsygst;
	 * Golub & Van Loan, Matrix Computations, 4th ed., section 8.7.2): with
	 * A and L split at the block, G11 = L11^-1 A11 L11^-T, X = A21 L11^-T,
	 * A22 -= (X - L21 G11 / 2) L21^T + L21 (X - L21 G11 / 2)^T,
	 * G21 = L22^-1 (X - L21 G11), and the trailing A22 reduced by L22 next.
	 */
	for (kb = 0; kb < m; kb += NTK_SYGST_BLOCK)
	{
		int			b = m - kb < NTK_SYGST_BLOCK ? m - kb : NTK_SYGST_BLOCK;
		int			rest = m - kb - b;
		double	   *A11 = A + kb + (size_t) kb * ld;
		double	   *A21 = A11 + b;
		double	   *A22 = A21 + (size_t) b * ld;
		const double *L11 = L + kb + (size_t) kb * ld;
		const double *L21 = L11 + b;
		const double *L22 = L21 + (size_t) b * ld;
		int			itype = 1;
		int			info = 0;

		dsygs2_(&itype, "L", &b, A11, &m, L11, &m, &info, 1);
		if (info != 0)
			return NTK_LAPACK_ERROR;
		if (rest > 0)
		{
			cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans,
						CblasNonUnit, rest, b, 1.0, L11, m, A21, m);
			cblas_dsymm(CblasColMajor, CblasRight, CblasLower, rest, b, -0.5,
						A11, m, L21, m, 1.0, A21, m);
			cblas_dsyr2k(CblasColMajor, CblasLower, CblasNoTrans, rest, b, -1.0,
						 A21, m, L21, m, 1.0, A22, m);
			cblas_dsymm(CblasColMajor, CblasRight, CblasLower, rest, b, -0.5,
						A11, m, L21, m, 1.0, A21, m);
			cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans,
						CblasNonUnit, rest, b, 1.0, L22, m, A21, m);
		}
		if (progress)
		{
			double		r = (double) rest;

			if (progress(arg, p0 + (p1 - p0) * (1.0 - r * r * r / total)))
				return NTK_CANCELED;
		}
	}
	return NTK_OK;
}

/* Strict lower triangle into the strict upper one, the diagonal into diag. */
static void
SaveLower(const double *A, int m, double *diag)
{
	size_t		ld = (size_t) m;
	int			i;
	int			j;

	for (j = 0; j < m; j++)
	{
		diag[j] = A[j + j * ld];
		for (i = j + 1; i < m; i++)
			((double *) A)[j + i * ld] = A[i + j * ld];
	}
}

/* The inverse of SaveLower. */
static void
RestoreLower(double *A, int m, const double *diag)
{
	size_t		ld = (size_t) m;
	int			i;
	int			j;

	for (j = 0; j < m; j++)
	{
		A[j + j * ld] = diag[j];
		for (i = j + 1; i < m; i++)
			A[i + j * ld] = A[j + i * ld];
	}
}

NtkStatus
ntk_nystrom_solve(double *Kmm, double *H, const double *B, int m, int k,
				  double lambda, double jitter, double *alpha, double *work,
				  double *jitter_used, int *failed_at, int *which,
				  NtkProgressFn progress, void *arg)
{
	SubProgress sp;
	double		mean = 0.0;
	double		rel = jitter;
	NtkStatus	s = NTK_OK;
	size_t		j;
	int			attempt;
	int			i;

	*failed_at = 0;
	*which = 0;
	*jitter_used = 0.0;
	if (m < 1 || k < 1)
		return NTK_BAD_DIMENSION;
	if (!(lambda >= 0.0) || !isfinite(lambda) || !(jitter >= 0.0) || !isfinite(jitter))
		return NTK_NOT_FINITE;
	sp.fn = progress;
	sp.arg = arg;
	for (i = 0; i < m; i++)
		mean += Kmm[i + (size_t) i * m];
	mean /= m;
	/* the inputs, kept in the upper triangles for another attempt */
	SaveLower(Kmm, m, work);
	SaveLower(H, m, work + m);

	for (attempt = 0; attempt < NTK_NYSTROM_ATTEMPTS; attempt++)
	{
		if (attempt > 0)
		{
			RestoreLower(Kmm, m, work);
			RestoreLower(H, m, work + m);
			rel = fmax(rel, NTK_NYSTROM_JITTER) * 100.0;
		}
		*jitter_used = rel * m;

		/* L = chol(K_mm + e I) */
		ntk_add_diagonal(Kmm, m, rel * m * mean);
		sp.p0 = 0.0;
		sp.p1 = 0.3;
		s = ntk_cholesky(Kmm, m, failed_at, progress ? SubReport : NULL, &sp);
		if (s == NTK_NOT_POSITIVE_DEFINITE)
		{
			*which = 1;
			continue;
		}
		if (s != NTK_OK)
			return s;

		/* G = L^-1 H L^-T, then R = chol(G + lambda I) */
		s = ntk_sygst_lower(H, Kmm, m, progress, arg, 0.3, 0.8);
		if (s != NTK_OK)
			return s;
		ntk_add_diagonal(H, m, lambda);
		sp.p0 = 0.8;
		sp.p1 = 1.0;
		s = ntk_cholesky(H, m, failed_at, progress ? SubReport : NULL, &sp);
		if (s == NTK_NOT_POSITIVE_DEFINITE)
		{
			*which = 2;
			continue;
		}
		if (s != NTK_OK)
			return s;
		*which = 0;
		*failed_at = 0;
		break;
	}
	if (s != NTK_OK)
		return s;

	/* alpha = L^-T R^-T R^-1 L^-1 B */
	memcpy(alpha, B, (size_t) m * k * sizeof(double));
	cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
				m, k, 1.0, Kmm, m, alpha, m);
	ntk_cholesky_solve(H, m, alpha, k);
	cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit,
				m, k, 1.0, Kmm, m, alpha, m);
	for (j = 0; j < (size_t) m * k; j++)
		if (!isfinite(alpha[j]))
			return NTK_OVERFLOW;
	return NTK_OK;
}

/* ---------------------------------------------------------------------
 * Ridge selection
 * ---------------------------------------------------------------------
 */

NtkStatus
ntk_nystrom_reduce(double *Kmm, double *H, int m, double jitter, double *work,
				   double *jitter_used, int *failed_at, NtkProgressFn progress,
				   void *arg)
{
	SubProgress sp;
	double		mean = 0.0;
	double		rel = jitter;
	NtkStatus	s = NTK_OK;
	int			attempt;
	int			i;

	*failed_at = 0;
	*jitter_used = 0.0;
	if (m < 1)
		return NTK_BAD_DIMENSION;
	if (!(jitter >= 0.0) || !isfinite(jitter))
		return NTK_NOT_FINITE;
	sp.fn = progress;
	sp.arg = arg;
	sp.p0 = 0.0;
	sp.p1 = 0.25;
	for (i = 0; i < m; i++)
		mean += Kmm[i + (size_t) i * m];
	mean /= m;
	SaveLower(Kmm, m, work);

	/* the jitters of ntk_nystrom_solve, so that both reduce alike */
	for (attempt = 0; attempt < NTK_NYSTROM_ATTEMPTS; attempt++)
	{
		if (attempt > 0)
		{
			RestoreLower(Kmm, m, work);
			rel = fmax(rel, NTK_NYSTROM_JITTER) * 100.0;
		}
		*jitter_used = rel * m;
		ntk_add_diagonal(Kmm, m, rel * m * mean);
		s = ntk_cholesky(Kmm, m, failed_at, progress ? SubReport : NULL, &sp);
		if (s != NTK_NOT_POSITIVE_DEFINITE)
			break;
	}
	if (s != NTK_OK)
		return s;
	*failed_at = 0;
	return ntk_sygst_lower(H, Kmm, m, progress, arg, 0.25, 1.0);
}

NtkStatus
ntk_nystrom_project(const double *L, const double *V, const double *B, int m,
					int k, double *b, double *tmp)
{
	if (m < 1 || k < 1)
		return NTK_BAD_DIMENSION;
	memcpy(tmp, B, (size_t) m * k * sizeof(double));
	cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
				m, k, 1.0, L, m, tmp, m);
	cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, m, k, m, 1.0, V, m,
				tmp, m, 0.0, b, m);
	return NTK_OK;
}

NtkStatus
ntk_nystrom_gcv(const double *lam, const double *b, int m, int k, double n,
				double y2_sum, double r, double *rss, double *df, double *gcv)
{
	long double explained = 0.0L;
	long double trace = 0.0L;
	int			i;
	int			j;

	*rss = *df = *gcv = NAN;
	if (m < 1 || k < 1 || !(n >= 1.0))
		return NTK_BAD_DIMENSION;
	if (!(r >= 0.0) || !isfinite(r))
		return NTK_NOT_FINITE;
	if (!(lam[0] + r > 0.0))
		return NTK_NOT_POSITIVE_DEFINITE;

	/*
	 * With a = L^-T V D b, D = diag(1 / (lam + r)): tr(a^T B) = b^T D b and
	 * tr(a^T H a) = b^T D diag(lam) D b, so RSS = y2 - 2 a^T B + a^T H a is
	 * y2 minus the sum of b_i^2 (2 (lam_i + r) - lam_i) / (lam_i + r)^2,
	 * each term bounded: no matrix is formed and nothing is inverted.
	 */
	for (i = 0; i < m; i++)
	{
		long double s = (long double) lam[i] + r;
		long double w = ((long double) lam[i] + 2.0L * r) / (s * s);
		long double bb = 0.0L;

		for (j = 0; j < k; j++)
		{
			long double v = b[i + (size_t) j * m];

			bb += v * v;
		}
		explained += w * bb;
		trace += (long double) lam[i] / s;
	}
	*rss = (double) ((long double) y2_sum - explained);
	*df = (double) trace;
	if (*rss >= 0.0 && isfinite(*rss) && n - *df > 0.0)
	{
		double		dof = n - *df;

		*gcv = n * *rss / ((double) k * dof * dof);
		if (!isfinite(*gcv))
			*gcv = NAN;
	}
	return NTK_OK;
}

NtkStatus
ntk_nystrom_eigen_coef(const double *L, const double *V, const double *lam,
					   const double *b, int m, int k, double r, double *alpha,
					   double *tmp)
{
	size_t		i;
	int			j;

	if (m < 1 || k < 1)
		return NTK_BAD_DIMENSION;
	if (!(lam[0] + r > 0.0))
		return NTK_NOT_POSITIVE_DEFINITE;
	for (j = 0; j < k; j++)
		for (i = 0; i < (size_t) m; i++)
			tmp[i + (size_t) j * m] = b[i + (size_t) j * m] / (lam[i] + r);
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, k, m, 1.0, V, m,
				tmp, m, 0.0, alpha, m);
	cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit,
				m, k, 1.0, L, m, alpha, m);
	for (i = 0; i < (size_t) m * k; i++)
		if (!isfinite(alpha[i]))
			return NTK_OVERFLOW;
	return NTK_OK;
}

NtkStatus
ntk_nystrom_rss(const double *L, const double *alpha, const double *B, int m,
				int k, double lambda, double y2_sum, double *tmp, double *rss)
{
	long double ab = 0.0L;
	long double la = 0.0L;
	size_t		i;

	if (m < 1 || k < 1)
		return NTK_BAD_DIMENSION;
	memcpy(tmp, alpha, (size_t) m * k * sizeof(double));
	cblas_dtrmm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit,
				m, k, 1.0, L, m, tmp, m);
	for (i = 0; i < (size_t) m * k; i++)
	{
		ab += (long double) alpha[i] * B[i];
		la += (long double) tmp[i] * tmp[i];
	}
	*rss = (double) ((long double) y2_sum - ab - (long double) lambda * la);
	return NTK_OK;
}

double
ntk_nystrom_solve_peak_bytes(double m, double d, double k, int select,
							 const NtkParams *p)
{
	double		len = (double) ntk_diag_len(p);

	/*
	 * H and K_mm; selecting, K_mm's factor, the eigendecomposition's shared
	 * copy and workspace (H's pages are given back meanwhile), b and alpha
	 */
	return 8.0 * ((select ? 4.0 : 2.0) * m * m + 3.0 * m * d + m * (2.0 * len + 4.0) +
				  (select ? 4.0 : 2.0) * m * k + NTK_NYSTROM_BLOCK * (m + len));
}

double
ntk_nystrom_fit_peak_bytes(double n, double d, double k, int centers,
						   int select, const NtkParams *p)
{
	double		m = (double) centers < n ? (double) centers : n;

	/* rows, targets and a one-hot copy; the solve */
	return 8.0 * (n * d + 2.0 * n * k) + ntk_nystrom_solve_peak_bytes(m, d, k, select, p);
}
