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

#include "compute_child.h"
#include "fit_nystrom.h"
#include "krr.h"
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
	in.guarded = true;			/* ntk_check_memory above */
	return ntk_nystrom_solve_store(&in, &pr);
}

/* The solve's "not positive definite" error. */
static void
NotPositiveDefinite(const char *name, bool kmm, int failed_at, int m, double ridge,
					double lambda, double jitter_used)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("Nystrom system of model \"%s\" is not positive definite", name),
			 errdetail("The Cholesky factorization of %s failed at row %d of %d with ridge %g (absolute %g), after raising the jitter to %g.",
					   kmm ? "the centers' kernel matrix" : "the reduced system",
					   failed_at, m, ridge, lambda, jitter_used),
			 errhint("Raise the \"ridge\" option, for example to 1e-4, or use fewer centers.")));
}

/* A fit from statistics refuses a selection that the guard would not allow. */
static void
CheckSelectMemory(const NtkNystromSolveInput *in)
{
	const char *setting;
	double		allowed = (double) ntk_allowed_memory_kb(&setting) * 1024.0;
	double		need = ntk_nystrom_solve_peak_bytes(in->m, in->d, in->k, 1, in->params);

	if (need > allowed)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ridge selection of model \"%s\" needs more memory than allowed", in->name),
				 errdetail("Selecting the ridge of %d centers needs about %.0f MB, and %s is %.0f MB.",
						   in->m, ceil(need / (1024.0 * 1024.0)), setting,
						   floor(allowed / (1024.0 * 1024.0))),
				 errhint("Raise ntk.max_memory, give a single \"ridge\", or use fewer centers.")));
}

/* What the selection chose. */
typedef struct Choice
{
	double		ridge;			/* as given: relative unless ridge_absolute */
	double		lambda;			/* absolute */
	double		rss;			/* its residual sum of squares */
	double		jitter_used;
	double		t_reduce;
	double		t_eigh;
	double		t_select;
} Choice;

/*
 * Ridge selection by GCV from one eigendecomposition (docs/nystrom.md):
 * the reduction C = L^-1 H L^-T, C's eigendecomposition in a child process
 * that a cancel kills, every candidate's score from the projections
 * b = V^T L^-1 B, and alpha for the best.  Kmm and the statistics' H are
 * overwritten (L, V).
 */
static void
SelectRidge(const NtkNystromSolveInput *in, NtkFitProgress *pr, double *Kmm,
			double mean_diag, double *alpha, Choice *out, StringInfo metrics)
{
	const NtkFitOptions *opts = in->opts;
	NtkNystromStats *st = in->stats;
	int			m = in->m;
	int			k = in->k;
	double		ridges[Max(NTK_MAX_CANDIDATES, NTK_AUTO_RIDGES)];
	int			nridges = ntk_fit_ridge_candidates(opts, ridges);
	double		n = (double) st->n;
	double		best = INFINITY;
	int			best_i = -1;
	double	   *work;
	double	   *lam;
	double	   *b;
	double	   *tmp;
	double		t0;
	int			failed_at = 0;
	int			i;
	NtkStatus	s;

	if (!isfinite(st->y2_sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("targets of model \"%s\" are too large to select a ridge", in->name),
				 errdetail("The sum of their squares leaves the float64 range."),
				 errhint("Rescale the targets, or give a single \"ridge\".")));

	t0 = ntk_fit_elapsed(pr);
	pr->phase = "selecting the ridge: reduction";
	work = palloc((size_t) m * sizeof(double));
	s = ntk_nystrom_reduce(Kmm, st->H, m, NTK_NYSTROM_JITTER, work, &out->jitter_used,
						   &failed_at, ntk_fit_progress, pr);
	if (s == NTK_NOT_POSITIVE_DEFINITE)
		NotPositiveDefinite(in->name, true, failed_at, m, ridges[0],
							opts->ridge_absolute ? ridges[0] : ridges[0] * mean_diag,
							out->jitter_used);
	Check(s, "ntk_fit");
	pfree(work);
	out->t_reduce = ntk_fit_elapsed(pr) - t0;

	t0 = ntk_fit_elapsed(pr);
	pr->phase = "selecting the ridge: eigendecomposition";
	lam = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) m * sizeof(double));
	Check(ntk_eigh_child(st->H, m, lam, ntk_fit_progress, pr), "ntk_fit");
	out->t_eigh = ntk_fit_elapsed(pr) - t0;

	t0 = ntk_fit_elapsed(pr);
	pr->phase = "selecting the ridge";
	b = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) m * k * sizeof(double));
	tmp = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) m * k * sizeof(double));
	Check(ntk_nystrom_project(Kmm, st->H, st->B, m, k, b, tmp), "ntk_fit");
	CHECK_FOR_INTERRUPTS();

	appendStringInfoString(metrics, ", \"selection\": [");
	for (i = 0; i < nridges; i++)
	{
		double		lambda = opts->ridge_absolute ? ridges[i] : ridges[i] * mean_diag;
		double		rss = NAN;
		double		df = NAN;
		double		gcv = NAN;

		s = ntk_nystrom_gcv(lam, b, m, k, n, st->y2_sum, lambda, &rss, &df, &gcv);
		if (s != NTK_NOT_POSITIVE_DEFINITE && s != NTK_NOT_FINITE)
			Check(s, "ntk_fit");
		appendStringInfo(metrics, "%s{\"depth\": %d, \"ridge\": %s, \"gcv\": %s, \"df\": %s}",
						 i > 0 ? ", " : "", in->params->depth, float8out_internal(ridges[i]),
						 isfinite(gcv) ? float8out_internal(gcv) : "null",
						 isfinite(df) ? float8out_internal(df) : "null");
		if (isfinite(gcv) && gcv < best)
		{
			best = gcv;
			best_i = i;
			out->rss = rss;
		}
	}
	appendStringInfoChar(metrics, ']');
	if (best_i < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no candidate of model \"%s\" gives a positive definite Nystrom system", in->name),
				 errdetail("The reduced system's smallest eigenvalue came out at %g (rounding), at or below minus every candidate's absolute ridge, or the candidates' residuals came out below zero.",
						   lam[0]),
				 errhint("Add larger \"ridge\" candidates.")));
	appendStringInfo(metrics, ", \"gcv\": %s, \"selection_criterion\": \"gcv\"",
					 float8out_internal(best));
	out->ridge = ridges[best_i];
	out->lambda = opts->ridge_absolute ? ridges[best_i] : ridges[best_i] * mean_diag;

	/* the coefficients of the best; not finite: the caller's error */
	s = ntk_nystrom_eigen_coef(Kmm, st->H, lam, b, m, k, out->lambda, alpha, tmp);
	if (s != NTK_OVERFLOW)
		Check(s, "ntk_fit");
	pfree(tmp);
	pfree(b);
	pfree(lam);
	out->t_select = ntk_fit_elapsed(pr) - t0;
}

/*
 * The training RMSE from the statistics: sqrt(RSS / (n k)), null if not
 * computable.  Closed form for every task (a classifier's on its one-hot
 * targets): predicting the n training rows would cost another pass of cross
 * kernels, about a sixth of the fit; ntk_evaluate over the training query
 * gives a classifier's training accuracy when it is wanted.
 */
static void
TrainingErrorFromStatistics(const NtkNystromSolveInput *in, double rss,
							StringInfo metrics)
{
	double		v = sqrt(rss / ((double) in->stats->n * in->k));

	appendStringInfo(metrics, ", \"train_rmse\": %s",
					 rss >= 0.0 && isfinite(v) ? float8out_internal(v) : "null");
}

int64
ntk_nystrom_solve_store(const NtkNystromSolveInput *in, NtkFitProgress *pr)
{
	const NtkFitOptions *opts = in->opts;
	NtkNystromStats *st = in->stats;
	int			m = in->m;
	int			k = in->k;
	bool		selecting = ntk_options_searching(opts);
	NtkFitOptions chosen = *opts;
	NtkModelData md;
	StringInfoData metrics;
	StringInfoData selection;
	Choice		choice;
	double	   *cdiag;
	double	   *gwork;
	double	   *Kmm;
	double	   *alpha;
	double		mean_diag;
	double		lambda;
	double		rss = NAN;
	double		jitter_used = 0.0;
	double		t0;
	double		t_kmm;
	double		t_solve = 0.0;
	size_t		i;

	if (st->n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("statistics of model \"%s\" hold no rows", in->name)));
	if (selecting && !in->guarded)
		CheckSelectMemory(in);

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

	alpha = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) m * k * sizeof(double));
	initStringInfo(&selection);
	if (selecting)
	{
		SelectRidge(in, pr, Kmm, mean_diag, alpha, &choice, &selection);
		chosen.ridge = choice.ridge;
		lambda = choice.lambda;
		rss = choice.rss;
		jitter_used = choice.jitter_used;
	}
	else
	{
		double	   *swork;
		int			failed_at = 0;
		int			which = 0;
		NtkStatus	s;

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
		swork = MemoryContextAllocHuge(CurrentMemoryContext, 2 * (size_t) m * sizeof(double));
		s = ntk_nystrom_solve(Kmm, st->H, st->B, m, k, lambda, NTK_NYSTROM_JITTER, alpha,
							  swork, &jitter_used, &failed_at, &which,
							  ntk_fit_progress, pr);
		if (s == NTK_NOT_POSITIVE_DEFINITE)
			NotPositiveDefinite(in->name, which == 1, failed_at, m, opts->ridge, lambda,
								jitter_used);
		Check(s, "ntk_fit");
		pfree(swork);
		/* the training error from the statistics: Kmm holds L */
		if (isfinite(st->y2_sum))
		{
			double	   *tmp = MemoryContextAllocHuge(CurrentMemoryContext,
													 (size_t) m * k * sizeof(double));

			Check(ntk_nystrom_rss(Kmm, alpha, st->B, m, k, lambda, st->y2_sum, tmp, &rss),
				  "ntk_fit");
			pfree(tmp);
		}
		t_solve = ntk_fit_elapsed(pr) - t0;
	}
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
					 "\"mean_diag\": %s, \"jitter\": %s%s",
					 (int64) st->n, m, m, in->n_skipped, float8out_internal(lambda),
					 float8out_internal(mean_diag), float8out_internal(jitter_used),
					 selection.data);
	TrainingErrorFromStatistics(in, rss, &metrics);

	appendStringInfo(&metrics, ", \"phase_seconds\": {%s%s\"kmm\": %.3f",
					 in->timings[0] ? in->timings + 2 : "", in->timings[0] ? ", " : "",
					 t_kmm);
	if (selecting)
		appendStringInfo(&metrics, ", \"reduce\": %.3f, \"eigh\": %.3f, \"select\": %.3f",
						 choice.t_reduce, choice.t_eigh, choice.t_select);
	else
		appendStringInfo(&metrics, ", \"solve\": %.3f", t_solve);
	appendStringInfo(&metrics, "}, \"fit_seconds\": %.3f}", ntk_fit_elapsed(pr));

	pr->phase = "storing";
	md.name = in->name;
	md.task = in->task;
	md.opts = &chosen;
	md.ridge = chosen.ridge;
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
