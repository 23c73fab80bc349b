/*-------------------------------------------------------------------------
 *
 * fit_nystrom.c
 *	  The "method": "nystrom" fit of ntk_fit and ntk_fit_classifier, and the
 *	  solve-and-store shared with the fit from statistics (nystrom_sql.c).
 *
 * From gathered rows: the centers are the min(m, distinct rows) rows with
 * the smallest hashes of (seed, raw row) (ntk_centers_*), chosen before
 * standardization so that the streaming fit, which standardizes with sums
 * it only knows at the end of its first pass, picks the same; then the
 * statistics H and B over all rows, K_mm, the solve (ntk_nystrom_solve) and
 * the store, with the centers in place of the training inputs, so every
 * predict function works on the model unchanged.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "fit_nystrom.h"
#include "memory.h"
#include "model.h"
#include "errors.h"
#include "threads.h"

/* Rows hashed between checks for interrupts while choosing centers. */
#define CENTER_ROWS 4096

/* Progress of one call over a part of the rows, as a fraction of all. */
typedef struct PartProgress
{
	NtkFitProgress *pr;
	double		base;
	double		share;
} PartProgress;

static int
ReportPart(void *arg, double fraction)
{
	PartProgress *pp = (PartProgress *) arg;

	return ntk_fit_progress(pp->pr, pp->base + pp->share * fraction);
}

/* Runs a step of the numerics, turning a cancel into the pending interrupt. */
static void
Check(NtkStatus s, const char *context)
{
	if (s == NTK_CANCELED)
		CHECK_FOR_INTERRUPTS();
	ntk_status_error(s, context);
}

void
ntk_nystrom_moments_add(double *mean, double *m2, int64 *count,
						const double *x, int d)
{
	double		c = (double) ++(*count);
	int			j;

	for (j = 0; j < d; j++)
	{
		double		delta = x[j] - mean[j];

		mean[j] += delta / c;
		m2[j] += delta * (x[j] - mean[j]);
	}
}

void
ntk_nystrom_moments_merge(double *mean, double *m2, int64 *count,
						  const double *mean2, const double *m22, int64 count2,
						  int d)
{
	double		na = (double) *count;
	double		nb = (double) count2;
	double		n = na + nb;
	int			j;

	if (count2 == 0)
		return;
	for (j = 0; j < d; j++)
	{
		double		delta = mean2[j] - mean[j];

		mean[j] += delta * (nb / n);
		m2[j] += m22[j] + delta * delta * (na / n) * nb;
	}
	*count += count2;
}

void
ntk_nystrom_scale(const char *name, const double *m2, double count, int d,
				  double *scale)
{
	int			j;

	for (j = 0; j < d; j++)
	{
		double		s = sqrt(m2[j] / count);

		if (!isfinite(s))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 name ?
					 errmsg("feature %d of model \"%s\" cannot be standardized in float64",
							j + 1, name) :
					 errmsg("feature %d cannot be standardized in float64", j + 1),
					 errdetail("The sum of its squared deviations leaves the float64 range."),
					 errhint("Rescale the feature.")));
		scale[j] = s > 0.0 ? s : 1.0;
	}
}

/* Standardizes n rows in place; a value still not finite is an error. */
static void
StandardizeRows(const char *name, double *X, int n, int d, const double *mean,
				const double *scale)
{
	size_t		i;
	int			j;

	for (i = 0; i < (size_t) n; i++)
		for (j = 0; j < d; j++)
		{
			double		v = ntk_standardize_value(X[i * d + j], mean[j], scale[j]);

			if (!isfinite(v))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("feature %d of model \"%s\" cannot be standardized in float64",
								j + 1, name),
						 errdetail("Its values span more than the float64 range."),
						 errhint("Rescale the feature.")));
			X[i * d + j] = v;
		}
}

static int
CompareNames(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int64
ntk_fit_nystrom_rows(NtkNystromRows *rows)
{
	NtkFitOptions *opts = rows->opts;
	int			n = rows->n;
	int			d = rows->d;
	int			k = rows->nlabels > 0 ? rows->nlabels : rows->k;
	NtkFitProgress pr;
	NtkNystromSolveInput in;
	NtkNystromStats stats;
	StringInfoData timings;
	NtkCenters *set;
	double	   *Y;
	double	   *C;
	double	   *cdiag;
	double	   *ctable;
	double	   *work;
	double	   *mean = NULL;
	double	   *scale = NULL;
	char	  **classes = NULL;
	int			m;
	int			i0;
	size_t		i;
	double		t0;

	ntk_check_memory(rows->name, n, d, k, opts, false);
	ntk_threads_for_big_work();

	pr.model = rows->name;
	pr.phase = "choosing centers";
	pr.last_notice = 0.0;
	pr.start = rows->start;
	initStringInfo(&timings);
	appendStringInfo(&timings, ", \"read\": %.3f", ntk_fit_elapsed(&pr));

	/* -0.0 as +0.0: equal values hash equally (X is ours) */
	for (i = 0; i < (size_t) n * d; i++)
		rows->X[i] += 0.0;

	/* the centers, from the raw rows */
	t0 = ntk_fit_elapsed(&pr);
	m = Min(opts->centers, n);
	set = MemoryContextAllocHuge(CurrentMemoryContext, ntk_centers_size(m, d));
	Check(ntk_centers_init(set, m, d, opts->seed), "ntk_fit");
	for (i0 = 0; i0 < n; i0 += CENTER_ROWS)
	{
		Check(ntk_centers_add(set, rows->X + (size_t) i0 * d, Min(CENTER_ROWS, n - i0)),
			  "ntk_fit");
		(void) ntk_fit_progress(&pr, (double) Min(i0 + CENTER_ROWS, n) / n);
	}
	m = ntk_centers_count(set);
	C = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) m * d * sizeof(double));
	ntk_centers_rows(set, C);
	pfree(set);

	if (opts->standardize)
	{
		double	   *m2 = palloc0(d * sizeof(double));
		int64		count = 0;

		mean = palloc0(d * sizeof(double));
		scale = palloc(d * sizeof(double));
		for (i = 0; i < (size_t) n; i++)
			ntk_nystrom_moments_add(mean, m2, &count, rows->X + i * d, d);
		ntk_nystrom_scale(rows->name, m2, (double) n, d, scale);
		StandardizeRows(rows->name, rows->X, n, d, mean, scale);
		StandardizeRows(rows->name, C, m, d, mean, scale);
		pfree(m2);
	}
	appendStringInfo(&timings, ", \"centers\": %.3f", ntk_fit_elapsed(&pr) - t0);

	/* targets, row-major n x k; one-hot over the sorted classes */
	if (rows->nlabels > 0)
	{
		int		   *remap = palloc(k * sizeof(int));
		int			a;
		int			b;

		classes = palloc(k * sizeof(char *));
		memcpy(classes, rows->labelnames, k * sizeof(char *));
		qsort(classes, k, sizeof(char *), CompareNames);
		for (a = 0; a < k; a++)
		{
			for (b = 0; b < k; b++)
				if (rows->labelnames[a] == classes[b])
					break;
			remap[a] = b;
		}
		Y = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * k * sizeof(double));
		memset(Y, 0, (size_t) n * k * sizeof(double));
		for (i = 0; i < (size_t) n; i++)
			Y[i * k + remap[rows->labels[i]]] = 1.0;
		pfree(remap);
	}
	else
		Y = (double *) rows->Y;

	/* the statistics over every row */
	t0 = ntk_fit_elapsed(&pr);
	pr.phase = "accumulating statistics";
	stats.H = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) m * m * sizeof(double));
	stats.B = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) m * k * sizeof(double));
	Check(ntk_nystrom_init(&stats, &opts->params, opts->kind, C, m, d, k,
						   stats.H, stats.B), "ntk_fit");
	cdiag = MemoryContextAllocHuge(CurrentMemoryContext,
								   (size_t) m * ntk_diag_len(&opts->params) * sizeof(double));
	ctable = MemoryContextAllocHuge(CurrentMemoryContext,
									ntk_gram_work_len(&opts->params, m) * sizeof(double));
	work = MemoryContextAllocHuge(CurrentMemoryContext,
								  ntk_nystrom_work_len(&opts->params, m) * sizeof(double));
	Check(ntk_nystrom_center_table(&opts->params, C, m, d, cdiag, ctable), "ntk_fit");
	for (i0 = 0; i0 < n; i0 += NTK_NYSTROM_FLUSH_ROWS)
	{
		int			b = Min(NTK_NYSTROM_FLUSH_ROWS, n - i0);
		PartProgress pp = {&pr, (double) i0 / n, (double) b / n};

		Check(ntk_nystrom_accumulate(&stats, &opts->params, opts->kind, C, ctable,
									 rows->X + (size_t) i0 * d, Y + (size_t) i0 * k, b,
									 work, ReportPart, &pp),
			  "ntk_fit");
	}
	pfree(work);
	pfree(ctable);
	pfree(cdiag);
	if (Y != rows->Y)
		pfree(Y);
	appendStringInfo(&timings, ", \"statistics\": %.3f", ntk_fit_elapsed(&pr) - t0);

	in.name = rows->name;
	in.task = rows->nlabels > 0 ? NTK_TASK_CLASSIFICATION : NTK_TASK_REGRESSION;
	in.opts = opts;
	in.params = &opts->params;
	in.kind = opts->kind;
	in.C = C;
	in.m = m;
	in.d = d;
	in.k = k;
	in.mean = mean;
	in.scale = scale;
	in.classes = classes;
	in.nclasses = classes ? k : 0;
	in.stats = &stats;
	in.n_skipped = rows->n_skipped;
	in.timings = timings.data;
	return ntk_nystrom_solve_store(&in, &pr);
}

int64
ntk_nystrom_solve_store(const NtkNystromSolveInput *in, NtkFitProgress *pr)
{
	const NtkFitOptions *opts = in->opts;
	NtkNystromStats *st = in->stats;
	int			m = in->m;
	int			k = in->k;
	NtkModelData md;
	StringInfoData metrics;
	double	   *cdiag;
	double	   *gwork;
	double	   *Kmm;
	double	   *alpha;
	double	   *swork;
	double		mean_diag;
	double		lambda;
	double		jitter_used = 0.0;
	double		t0;
	double		t_kmm;
	int			failed_at = 0;
	int			which = 0;
	NtkStatus	s;
	size_t		i;

	if (st->n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("statistics of model \"%s\" hold no rows", in->name)));

	/* K_mm of the (standardized) centers */
	t0 = ntk_fit_elapsed(pr);
	pr->phase = "building the centers' kernel matrix";
	cdiag = MemoryContextAllocHuge(CurrentMemoryContext,
								   (size_t) m * ntk_diag_len(in->params) * sizeof(double));
	gwork = MemoryContextAllocHuge(CurrentMemoryContext,
								   ntk_gram_work_len(in->params, m) * sizeof(double));
	Kmm = ntk_alloc_huge(CurrentMemoryContext, (size_t) m * m * sizeof(double));
	Check(ntk_points_diag(in->params, in->C, m, in->d, cdiag), "ntk_fit");
	Check(ntk_gram_sym(in->params, in->kind, in->C, m, in->d, cdiag, gwork, Kmm,
					   ntk_fit_progress, pr), "ntk_fit");
	pfree(gwork);
	pfree(cdiag);
	t_kmm = ntk_fit_elapsed(pr) - t0;

	mean_diag = st->diag_sum / (double) st->n;
	lambda = opts->ridge_absolute ? opts->ridge : opts->ridge * mean_diag;
	if (!isfinite(lambda))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("ridge of model \"%s\" is out of range for type double precision", in->name),
				 errdetail("The relative ridge %g times the rows' mean self kernel %g overflows.",
						   opts->ridge, mean_diag),
				 errhint("Lower \"ridge\".")));

	t0 = ntk_fit_elapsed(pr);
	pr->phase = "solving";
	alpha = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) m * k * sizeof(double));
	swork = MemoryContextAllocHuge(CurrentMemoryContext, 2 * (size_t) m * sizeof(double));
	s = ntk_nystrom_solve(Kmm, st->H, st->B, m, k, lambda, NTK_NYSTROM_JITTER, alpha,
						  swork, &jitter_used, &failed_at, &which,
						  ntk_fit_progress, pr);
	if (s == NTK_NOT_POSITIVE_DEFINITE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("Nystrom system of model \"%s\" is not positive definite", in->name),
				 errdetail("The Cholesky factorization of %s failed at row %d of %d with ridge %g (absolute %g), after raising the jitter to %g.",
						   which == 1 ? "the centers' kernel matrix" : "the reduced system",
						   failed_at, m, opts->ridge, lambda, jitter_used),
				 errhint("Raise the \"ridge\" option, for example to 1e-4, or use fewer centers.")));
	Check(s, "ntk_fit");
	pfree(swork);
	pfree(Kmm);
	for (i = 0; i < (size_t) m * k; i++)
		if (!isfinite(alpha[i]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("model \"%s\" cannot be fitted in float64", in->name),
					 errdetail("Its coefficients leave the float64 range (mean self kernel %g, absolute ridge %g).",
							   mean_diag, lambda),
					 errhint("Rescale the inputs (the option \"standardize\": true does) or the targets, or raise \"ridge\".")));

	initStringInfo(&metrics);
	appendStringInfo(&metrics,
					 "{\"n_rows\": " INT64_FORMAT ", \"n_train\": %d, \"n_centers\": %d, "
					 "\"n_skipped\": " INT64_FORMAT ", \"ridge_absolute_value\": %s, "
					 "\"mean_diag\": %s, \"jitter\": %s, \"phase_seconds\": {",
					 (int64) st->n, m, m, in->n_skipped, float8out_internal(lambda),
					 float8out_internal(mean_diag), float8out_internal(jitter_used));
	appendStringInfo(&metrics, "%s%s\"kmm\": %.3f, \"solve\": %.3f}, \"fit_seconds\": %.3f}",
					 in->timings[0] ? in->timings + 2 : "", in->timings[0] ? ", " : "",
					 t_kmm, ntk_fit_elapsed(pr) - t0, ntk_fit_elapsed(pr));

	pr->phase = "storing";
	md.name = in->name;
	md.task = in->task;
	md.opts = opts;
	md.ridge = opts->ridge;
	md.n = m;
	md.d = in->d;
	md.k = k;
	md.nclasses = in->nclasses;
	md.classes = in->classes;
	md.X = in->C;
	md.alpha = alpha;
	md.mean = in->mean;
	md.scale = in->scale;
	md.factor = NULL;
	md.factor_kind = NULL;
	md.metrics_json = metrics.data;
	return ntk_model_store(&md);
}
