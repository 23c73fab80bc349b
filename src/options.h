/*-------------------------------------------------------------------------
 *
 * options.h
 *	  The jsonb options of ntk_fit and their resolved form.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_OPTIONS_H
#define NTK_OPTIONS_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "gram.h"

#define NTK_MAX_CANDIDATES 64

typedef struct NtkFitOptions
{
	NtkParams	params;			/* depth, activation, sigma_w, sigma_b */
	NtkKernelKind kind;
	double		ridge;			/* relative unless ridge_absolute */
	bool		ridge_absolute;
	bool		standardize;
	bool		has_t;			/* finite training time given */
	double		t;
	double		learning_rate;
	bool		variance;

	/* model selection: ridge "auto" or a list, depth a list */
	bool		ridge_auto;
	int			n_ridges;		/* 0 = the single ridge above */
	double		ridges[NTK_MAX_CANDIDATES];
	int			n_depths;		/* 0 = the single depth above */
	int			depths[NTK_MAX_CANDIDATES];
} NtkFitOptions;

/* Fills opts with the contract's defaults. */
extern void ntk_options_default(NtkFitOptions *opts);

/* Parses a jsonb object over the defaults; errors name the bad key. */
extern void ntk_options_parse(Jsonb *jb, NtkFitOptions *opts);

/* True if the options ask for a model search. */
extern bool ntk_options_searching(const NtkFitOptions *opts);

/* Appends the resolved options as a JSON object. */
extern void ntk_options_to_json(const NtkFitOptions *opts, StringInfo out);

#endif							/* NTK_OPTIONS_H */
