/*-------------------------------------------------------------------------
 *
 * fit_select.c
 *	  Model selection: the ridge and depth candidates of a fit scored by
 *	  their closed-form leave-one-out error.  One eigendecomposition per
 *	  depth serves every ridge.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"

#include "compute_child.h"
#include "fit.h"
#include "krr.h"
#include "errors.h"

#include <cblas.h>

/* Buffers of a selection, sized for n rows and k outputs. */
typedef struct SelectWork
{
	int			cols;			/* columns of the targets per step */
	double	   *w;				/* eigenvalues, n */
	double	   *VtY;			/* V^T Y, n x k */
	double	   *work;			/* 2 n cols + n: loo_sse's and the diagonal */
} SelectWork;

static void
SelectWorkAlloc(SelectWork *sw, int n, int k)
{
	sw->cols = ntk_fit_rhs_columns(n, k);
	sw->w = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * sizeof(double));
	sw->VtY = MemoryContextAllocHuge(CurrentMemoryContext, (size_t) n * k * sizeof(double));
	sw->work = MemoryContextAllocHuge(CurrentMemoryContext,
									  (2 * (size_t) n * sw->cols + n) * sizeof(double));
}

static void
SelectWorkFree(SelectWork *sw)
{
	pfree(sw->w);
	pfree(sw->VtY);
	pfree(sw->work);
}

int
ntk_fit_ridge_candidates(const NtkFitOptions *opts, double *ridges)
{
	int			i;

	if (opts->ridge_auto)
	{
		for (i = 0; i < NTK_AUTO_RIDGES; i++)
			ridges[i] = pow(10.0, -8.0 + i / 4.0);
		return NTK_AUTO_RIDGES;
	}
	if (opts->n_ridges > 0)
	{
		memcpy(ridges, opts->ridges, opts->n_ridges * sizeof(double));
		return opts->n_ridges;
	}
	ridges[0] = opts->ridge;
	return 1;
}

/* Leave-one-out mean squared error with ridge lambda; Infinity if not positive definite. */
static double
LooError(const double *V, const NtkFitData *fd, SelectWork *sw, double lambda)
{
	int			n = fd->n;
	int			k = fd->k;
	double	   *g = sw->work + 2 * (size_t) n * sw->cols;
	double		total = 0.0;
	NtkStatus	status;
	int			j0;

	status = ntk_loo_diag(V, sw->w, n, lambda, g);
	if (status == NTK_NOT_POSITIVE_DEFINITE)
		return INFINITY;
	ntk_fit_status(status, fd->name);
	for (j0 = 0; j0 < k; j0 += sw->cols)
	{
		double		sse;

		ntk_fit_status(ntk_loo_sse(V, sw->w, n, sw->VtY + (size_t) j0 * n,
									 Min(sw->cols, k - j0), lambda, g, sw->work, &sse),
						 fd->name);
		total += sse;
		CHECK_FOR_INTERRUPTS();
	}
	return total / ((double) n * k);
}

/* The eigendecomposition of the Gram matrix of one depth, and V^T Y. */
static double *
DecomposeGram(const NtkFitData *fd, const NtkFitOptions *opts, const NtkParams *params,
			  SelectWork *sw, NtkFitProgress *pr, double *mean_diag)
{
	int			n = fd->n;
	int			k = fd->k;
	const char *phase = pr->phase;
	char		eigh_phase[96];
	double	   *V;
	int			j0;

	V = ntk_fit_gram(fd, params, opts->kind, pr, mean_diag);
	snprintf(eigh_phase, sizeof(eigh_phase), "%s: eigendecomposition", phase);
	pr->phase = eigh_phase;
	ntk_fit_status(ntk_eigh_child(V, n, sw->w, ntk_fit_progress, pr),
					 fd->name);
	pr->phase = phase;
	for (j0 = 0; j0 < k; j0 += sw->cols)
	{
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, n, Min(sw->cols, k - j0), n,
					1.0, V, n, fd->Y + (size_t) j0 * n, n, 0.0, sw->VtY + (size_t) j0 * n, n);
		CHECK_FOR_INTERRUPTS();
	}
	return V;
}

void
ntk_fit_select(const NtkFitData *fd, NtkFitOptions *opts, NtkFitProgress *pr,
			   StringInfo metrics)
{
	int			n = fd->n;
	int			ndepths = opts->n_depths > 0 ? opts->n_depths : 1;
	double		ridges[Max(NTK_MAX_CANDIDATES, NTK_AUTO_RIDGES)];
	int			nridges = ntk_fit_ridge_candidates(opts, ridges);
	SelectWork	sw;
	double		best = INFINITY;
	int			best_depth = opts->params.depth;
	double		best_ridge = opts->ridge;
	bool		first = true;
	int			di;
	int			ri;

	SelectWorkAlloc(&sw, n, fd->k);
	appendStringInfoString(metrics, ", \"selection\": [");
	for (di = 0; di < ndepths; di++)
	{
		NtkParams	params = opts->params;
		double		mean_diag;
		double	   *V;
		char		phase[64];

		if (opts->n_depths > 0)
			params.depth = opts->depths[di];
		snprintf(phase, sizeof(phase), "model selection, depth %d (%d of %d)",
				 params.depth, di + 1, ndepths);
		pr->phase = phase;
		V = DecomposeGram(fd, opts, &params, &sw, pr, &mean_diag);
		for (ri = 0; ri < nridges; ri++)
		{
			double		lambda = opts->ridge_absolute ? ridges[ri] : ridges[ri] * mean_diag;
			double		mse = LooError(V, fd, &sw, lambda);

			CHECK_FOR_INTERRUPTS();
			appendStringInfo(metrics, "%s{\"depth\": %d, \"ridge\": %s, \"loo_mse\": %s}",
							 first ? "" : ", ", params.depth,
							 float8out_internal(ridges[ri]),
							 isfinite(mse) ? float8out_internal(mse) : "null");
			first = false;
			if (mse < best)
			{
				best = mse;
				best_depth = params.depth;
				best_ridge = ridges[ri];
			}
		}
		pfree(V);
		(void) ntk_fit_progress(pr, (double) (di + 1) / ndepths);
	}
	appendStringInfoChar(metrics, ']');
	if (!isfinite(best))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("no candidate of model \"%s\" gives a positive definite kernel matrix", fd->name),
				 errhint("Add larger \"ridge\" candidates.")));
	appendStringInfo(metrics, ", \"loo_mse\": %s", float8out_internal(best));
	opts->params.depth = best_depth;
	opts->ridge = best_ridge;
	SelectWorkFree(&sw);
}
