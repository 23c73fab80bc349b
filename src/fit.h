/*-------------------------------------------------------------------------
 *
 * fit.h
 *	  Fitting: what the files of the fit share.  fit.c holds the aggregates
 *	  (state, transitions, final function) and the Gram matrix;
 *	  fit_select.c model selection by leave-one-out error; fit_worker.c the
 *	  factorization on a worker thread while the inputs are stored;
 *	  fit_progress.c cancellation and progress notices.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_FIT_H
#define NTK_FIT_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "portability/instr_time.h"

#include "model.h"
#include "options.h"

/* The data of a fit, ready for the numerics. */
typedef struct NtkFitData
{
	const char *name;			/* the model's */
	int			n;
	int			d;
	int			k;
	const double *X;			/* inputs, n x d row-major, standardized if asked */
	double	   *Y;				/* targets, column-major n x k */
	double	   *mean;			/* standardization, or NULL */
	double	   *scale;
	char	  **classes;		/* sorted, classifiers only */
	int		   *label;			/* class index per row, classifiers only */
} NtkFitData;

/* Progress of the final function: cancellation and NOTICE lines. */
typedef struct NtkFitProgress
{
	const char *model;
	const char *phase;
	instr_time	start;
	double		last_notice;	/* seconds since start */
} NtkFitProgress;

/* fit_progress.c */

/* Seconds since the fit started. */
extern double ntk_fit_elapsed(const NtkFitProgress *pr);

/*
 * NtkProgressFn (arg: an NtkFitProgress): runs on the backend's own thread
 * between BLAS calls; asks to stop on a pending cancel, and says how far
 * the phase is in a NOTICE every few seconds.
 */
extern int	ntk_fit_progress(void *arg, double fraction);

/* ntk_status_error with the CONTEXT line "while fitting model ..." */
extern void ntk_fit_status(NtkStatus st, const char *name);

/* fit.c */

/* The Gram matrix of the fit's inputs, n x n; *mean_diag its mean diagonal. */
extern double *ntk_fit_gram(const NtkFitData *fd, const NtkParams *params,
							NtkKernelKind kind, NtkFitProgress *pr,
							double *mean_diag);

/*
 * The same as its lower triangle (packed.h, ntk_packed_len(n) doubles),
 * with no n x n buffer.
 */
extern double *ntk_fit_gram_packed(const NtkFitData *fd, const NtkParams *params,
								   NtkKernelKind kind, NtkFitProgress *pr,
								   double *mean_diag);

/* Columns of the targets per interruptible step of an n x n product. */
extern int	ntk_fit_rhs_columns(int n, int k);

/* fit_select.c */

/* Candidate relative ridges of "auto": 4 per decade from 1e-8 to 10. */
#define NTK_AUTO_RIDGES 37

/*
 * The ridge candidates of the options (the "auto" grid, the list, or the
 * single ridge) into ridges (Max(NTK_MAX_CANDIDATES, NTK_AUTO_RIDGES)
 * doubles); returns their count.
 */
extern int	ntk_fit_ridge_candidates(const NtkFitOptions *opts, double *ridges);

/*
 * Model selection by closed-form leave-one-out error: sets
 * opts->params.depth and opts->ridge to the best candidates and appends
 * every candidate's score to metrics.
 */
extern void ntk_fit_select(const NtkFitData *fd, NtkFitOptions *opts,
						   NtkFitProgress *pr, StringInfo metrics);

/* fit_worker.c */

/* What a factorization overlapped with the store gives. */
typedef struct NtkFactorStore
{
	int64		id;				/* the stored model's */
	double		store_seconds;	/* writing the row and inputs took */
	NtkStatus	status;			/* of the factorization */
	int			failed_at;		/* its row, if not positive definite */
} NtkFactorStore;

/*
 * Factorizes K (n x n, or its lower triangle if packed; the ridge added) by
 * Cholesky on a worker thread while
 * the backend writes md's row and training inputs (ntk_model_store_begin),
 * when that pays (threads > 1, n large enough).  Returns false, having done
 * neither, when it does not or no thread could be created.
 */
extern bool ntk_fit_factor_while_storing(double *K, int n, bool packed,
										 int threads,
										 const NtkModelData *md,
										 NtkFitProgress *pr,
										 NtkFactorStore *out);

#endif							/* NTK_FIT_H */
