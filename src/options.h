/*-------------------------------------------------------------------------
 *
 * options.h
 *	  The jsonb options of ntk_fit and their resolved form.
 *
 * NtkFitOptions and the decisions about each key and value are pure C in
 * validate.h; this is the jsonb side.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NTK_OPTIONS_H
#define NTK_OPTIONS_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "validate.h"

/* Parses a jsonb object over the defaults; errors name the bad key. */
extern void ntk_options_parse(Jsonb *jb, NtkFitOptions *opts);

/* Appends the resolved options as a JSON object. */
extern void ntk_options_to_json(const NtkFitOptions *opts, StringInfo out);

#endif							/* NTK_OPTIONS_H */
