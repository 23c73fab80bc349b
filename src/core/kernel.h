/*-------------------------------------------------------------------------
 *
 * kernel.h
 *	  Pure numerics of the infinite-width NNGP and NTK of a fully-connected
 *	  network (no PostgreSQL headers, no allocation).
 *
 * The caller owns every buffer.  Functions return an NtkStatus; the SQL glue
 * (ntk_status_error in ntk.c) turns a status into an ereport in one place.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_KERNEL_H
#define NTK_KERNEL_H

#include <stddef.h>

/* Deepest network accepted; deeper kernels are numerically constant anyway. */
#define NTK_MAX_DEPTH 1000

typedef enum NtkStatus
{
	NTK_OK = 0,
	NTK_BAD_DEPTH,				/* depth < 0 or > NTK_MAX_DEPTH */
	NTK_BAD_SIGMA_W,			/* sigma_w not finite or <= 0 */
	NTK_BAD_SIGMA_B,			/* sigma_b not finite or < 0 */
	NTK_BAD_ACTIVATION,
	NTK_BAD_DIMENSION,			/* d < 1 or mismatched sizes */
	NTK_NOT_FINITE,				/* input contains NaN or Infinity */
	NTK_OVERFLOW,				/* a kernel value left the float64 range */
	NTK_NOT_POSITIVE_DEFINITE,	/* Cholesky failed */
	NTK_LAPACK_ERROR,			/* a LAPACK routine reported an argument error */
	NTK_CANCELED				/* a progress callback asked to stop */
} NtkStatus;

typedef enum NtkActivation
{
	NTK_RELU = 0,
	NTK_ERF = 1
} NtkActivation;

/*
 * Progress callback: called between blocks of work with the fraction of the
 * phase done (0..1).  A nonzero return cancels; the routine then returns
 * NTK_CANCELED with its outputs unspecified.
 */
typedef int (*NtkProgressFn) (void *arg, double fraction);

typedef enum NtkKernelKind
{
	NTK_KERNEL_NTK = 0,
	NTK_KERNEL_NNGP = 1
} NtkKernelKind;

typedef struct NtkParams
{
	int			depth;			/* number of nonlinearities, >= 0 */
	NtkActivation activation;
	double		sigma_w;		/* > 0 */
	double		sigma_b;		/* >= 0 */
} NtkParams;

/* Checks a parameter set; NTK_OK if usable. */
extern NtkStatus ntk_params_check(const NtkParams *p);

/* Parses "relu" / "erf"; returns 0 on success, -1 if unknown. */
extern int	ntk_activation_parse(const char *name, NtkActivation *out);
extern const char *ntk_activation_name(NtkActivation act);

/*
 * Number of doubles ntk_point_diag writes for one input point.
 */
extern size_t ntk_diag_len(const NtkParams *p);

/*
 * Per-point diagonal state: the variances K_l(x,x) and their square roots for
 * l = 1 .. depth+1, the self NTK Theta(x,x), then |x| = sqrt(sqnorm).
 *
 * Inputs: sqnorm = <x,x>, dim = d.  Output: diag[ntk_diag_len(p)].
 */
extern NtkStatus ntk_point_diag(const NtkParams *p, double sqnorm, int dim,
								double *diag);

/* Self kernels of a point from its diagonal state. */
extern double ntk_diag_nngp(const NtkParams *p, const double *diag);
extern double ntk_diag_ntk(const NtkParams *p, const double *diag);

/*
 * Kernel of a pair from the raw dot product <x,z> and both points' diagonal
 * states.  Writes NNGP K_{depth+1}(x,z) and NTK Theta_{depth+1}(x,z); either
 * output pointer may be NULL.
 */
extern NtkStatus ntk_pair(const NtkParams *p, double dot, int dim,
						  const double *diag_x, const double *diag_z,
						  double *nngp, double *ntk);

/*
 * ntk_pair for a pair whose vectors are at hand (dot = <x,z> as the caller
 * summed it): a pair within NTK_CLOSE of parallel or antiparallel takes the
 * exact route, from the vectors (kernel.c), so that nearly parallel inputs
 * and a point with itself are exact whatever rounding the dot product has.
 * Every Gram routine gives these values.
 */
extern NtkStatus ntk_pair_vectors(const NtkParams *p, double dot,
								  const double *x, const double *z, int dim,
								  const double *diag_x, const double *diag_z,
								  double *nngp, double *ntk);

/*
 * Convenience: the kernel of two vectors of length dim.  workspace must hold
 * 2 * ntk_diag_len(p) doubles.  Checks parameters and finiteness.
 */
extern NtkStatus ntk_kernel_vectors(const NtkParams *p, const double *x,
									const double *z, int dim,
									double *workspace,
									double *nngp, double *ntk);

/* Describes a status in English (for tests and the glue's fallback). */
extern const char *ntk_status_string(NtkStatus s);

/* Self kernel of a point from its diagonal state. */
static inline double
ntk_diag_value(const NtkParams *p, NtkKernelKind kind, const double *diag)
{
	return kind == NTK_KERNEL_NNGP ? ntk_diag_nngp(p, diag) : ntk_diag_ntk(p, diag);
}

#endif							/* NTK_KERNEL_H */
