/*
 * interval.h - `codegreen run -I MS`: perf stat -I's habit, one line per interval on stderr with
 * the energy and average power of each domain over that interval (and of energy_j, the sum of
 * the domains counted in totals). With -x SEP the lines are separator-delimited rows under one
 * header row, for a spreadsheet or a plotting script.
 */
#ifndef CG_INTERVAL_H
#define CG_INTERVAL_H

#include <stdio.h>

#include "nemb.h"

typedef struct cg_interval cg_interval;

/* Starts a thread that prints to @p fp every @p ms milliseconds from @p m's latest readings.
 * @p sep: NULL for aligned text, else the field separator. @return 0 or -1 (errno). */
int cg_interval_start(nemb_meter *m, long ms, const char *sep, FILE *fp, cg_interval **out);

/* Prints the last (partial) interval, stops the thread and frees. Accepts NULL. */
void cg_interval_stop(cg_interval *iv);

#endif /* CG_INTERVAL_H */
