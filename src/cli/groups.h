/*
 * groups.h - the comparable figures of a saved report, for `codegreen diff` and
 * `codegreen run --baseline`.
 *
 * A group is one named thing measured one or more times:
 *   run report      (has "runs")      one group per command, over the runs in its statistics
 *                                     (completed, not warm-ups; outliers go by the same iqr_1.5
 *                                     filter when the statistics are computed);
 *   measure report  (has "functions") one group per function ("name (file:line)"), one value;
 *   Session report                    one group per task name: a name used by several tasks
 *                                     (a loop's iterations) gives several values.
 * Group 0 is always the whole: the first command of a run report, else "(total)", the report's
 * totals.energy_j over totals.wall_duration_s.
 */
#ifndef CG_GROUPS_H
#define CG_GROUPS_H

#include <jansson.h>
#include <stddef.h>

#include "nemb.h"

typedef struct cg_group {
  char *name;
  double *energy_j, *duration_s; /* n values each */
  size_t n;
} cg_group;

typedef struct cg_groups {
  const char *kind; /* "run", "measure" or "session" */
  cg_group *g;
  size_t n;
} cg_groups;

/* Reads the groups of @p report. @return 0, or -1 (out of memory, or not a codegreen report). */
int cg_groups_from_report(json_t *report, cg_groups *out);
void cg_groups_free(cg_groups *gs);

/* The group named @p name, or NULL. */
const cg_group *cg_groups_find(const cg_groups *gs, const char *name);

/* Statistics of a group's energy and duration (iqr_1.5 filter on). @return 0 or -1 when empty. */
int cg_group_stats(const cg_group *g, nemb_stats *energy, nemb_stats *duration);

/* Whether B regressed against A by more than @p pct percent: the mean grew by more than pct and,
 * when both sides have two or more values, Welch's test says the difference is significant at
 * alpha 0.05. With one value on a side no test is possible and the threshold alone decides.
 * Fills @p c. */
int cg_regressed(const nemb_stats *a, const nemb_stats *b, double pct, nemb_comparison *c);

/* "significant (p = 0.0012, Welch's t-test)", "not significant (p = 0.31, ...)" or
 * "not tested (fewer than 2 values on a side)" into buf. */
void cg_significance_words(const nemb_comparison *c, char *buf, size_t len);

#endif /* CG_GROUPS_H */
