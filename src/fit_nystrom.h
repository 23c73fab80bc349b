/*-------------------------------------------------------------------------
 *
 * fit_nystrom.h
 *	  Nystrom fits: from the rows an ntk_fit aggregate gathered, or from
 *	  statistics accumulated elsewhere (nystrom_sql.c), solved and stored
 *	  like an exact model (docs/nystrom.md).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_FIT_NYSTROM_H
#define NTK_FIT_NYSTROM_H

#include "postgres.h"

#include "portability/instr_time.h"

#include "fit.h"
#include "model.h"
#include "nystrom.h"
#include "options.h"

/*
 * Rows per call of ntk_nystrom_accumulate, in both fits, so that they add
 * the same blocks and give the same model: a quarter of the core's block,
 * so that one uninterruptible step (one column chunk of H's update, 512 m
 * 2048 multiply-adds) stays short, also when parallel processes share the
 * cores, and a streaming state carries fewer buffered rows.
 */
#define NTK_NYSTROM_FLUSH_ROWS (NTK_NYSTROM_BLOCK / 4)

/* The rows an ntk_fit / ntk_fit_classifier aggregate gathered. */
typedef struct NtkNystromRows
{
	const char *name;
	NtkFitOptions *opts;		/* method nystrom */
	int			n;
	int			d;
	double	   *X;				/* n x d row-major; standardized in place */
	int			k;				/* regression: outputs */
	const double *Y;			/* regression: n x k row-major */
	const int  *labels;			/* classification: index into labelnames */
	char	  **labelnames;		/* by first appearance */
	int			nlabels;		/* > 0 for a classifier */
	int64		n_skipped;
	instr_time	start;			/* when the first row arrived */
} NtkNystromRows;

/* Chooses the centers, accumulates, solves and stores; the model's id. */
extern int64 ntk_fit_nystrom_rows(NtkNystromRows *rows);

/* A fit from statistics: what the store needs besides them. */
typedef struct NtkNystromSolveInput
{
	const char *name;
	NtkTask		task;
	const NtkFitOptions *opts;
	const NtkParams *params;
	NtkKernelKind kind;
	const double *C;			/* m x d row-major, standardized */
	int			m;
	int			d;
	int			k;
	const double *mean;			/* d, or NULL */
	const double *scale;
	char	  **classes;		/* sorted, classifiers only */
	int			nclasses;
	NtkNystromStats *stats;		/* H (lower triangle) and B, overwritten */
	int64		n_skipped;
	const char *timings;		/* ", \"phase\": s" pairs of the earlier phases */
	bool		guarded;		/* the memory guard counted a ridge selection */
} NtkNystromSolveInput;

/*
 * K_mm, the solve (or, with ridge candidates, the selection by GCV and the
 * solve with the chosen ridge), the training error from the statistics
 * and the store; the model's id.
 */
extern int64 ntk_nystrom_solve_store(const NtkNystromSolveInput *in,
									 NtkFitProgress *pr);

/*
 * The population scale (constant features: 1) from the sum of squared
 * deviations; errors name a feature that cannot be standardized (and the
 * model, unless name is NULL).
 */
extern void ntk_nystrom_scale(const char *name, const double *m2, double count,
							  int d, double *scale);

/* Welford's update of a running mean and sum of squared deviations. */
extern void ntk_nystrom_moments_add(double *mean, double *m2, int64 *count,
									const double *x, int d);

/* Chan's merge of two running means and sums of squared deviations. */
extern void ntk_nystrom_moments_merge(double *mean, double *m2, int64 *count,
									  const double *mean2, const double *m22,
									  int64 count2, int d);

#endif							/* NTK_FIT_NYSTROM_H */
