/*-------------------------------------------------------------------------
 *
 * fit_progress.c
 *	  Progress of a fit's final function: cancellation between BLAS calls
 *	  and a NOTICE line every few seconds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "errors.h"
#include "fit.h"

#define NOTICE_AFTER 5.0		/* seconds before the first line */
#define NOTICE_EVERY 5.0		/* seconds between lines */

double
ntk_fit_elapsed(const NtkFitProgress *pr)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, pr->start);
	return INSTR_TIME_GET_DOUBLE(now);
}

int
ntk_fit_progress(void *arg, double fraction)
{
	NtkFitProgress *pr = (NtkFitProgress *) arg;
	double		t;

	if (QueryCancelPending || ProcDiePending)
		return 1;
	CHECK_FOR_INTERRUPTS();

	t = ntk_fit_elapsed(pr);
	if (t >= NOTICE_AFTER && t - pr->last_notice >= NOTICE_EVERY)
	{
		ereport(NOTICE,
				(errmsg("ntk_fit \"%s\": %s %.0f%% (%.0f s elapsed)",
						pr->model, pr->phase, 100.0 * fraction, t)));
		pr->last_notice = t;
	}
	return 0;
}

void
ntk_fit_status(NtkStatus st, const char *name)
{
	if (st != NTK_OK)
		ntk_status_error(st, psprintf("while fitting model \"%s\"", name));
}
