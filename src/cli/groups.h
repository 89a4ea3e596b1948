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
#include <stdbool.h>
#include <stddef.h>

#include "nemb.h"

typedef struct cg_group {
  char *name;
  double *energy_j, *duration_s; /* n values each: the instances the report details */
  size_t n;
  /* Session reports that detail only the first measurement.report.task_detail_limit instances
   * of a name: count > n instances in all, with these sums (from task_groups); else count 0. */
  size_t count;
  double energy_sum_j, duration_sum_s;
} cg_group;

typedef struct cg_groups {
  const char *kind; /* "run", "measure" or "session" */
  cg_group *g;
  size_t n;
  char source[16];  /* meta.energy_source: "measured", "estimated", "simulated", "none", "?" */
  char quality[32]; /* meta.measurement_quality, "?" when absent */
  /* How group 0 (a Session report's "(total)") is timed: "wall_duration_s" or
   * "task_duration_s"; the energy is always the report's energy_j (or the run's). */
  const char *total_time;
} cg_groups;

/* Reads the groups of @p report. @return 0, or -1 (out of memory, or not a codegreen report). */
int cg_groups_from_report(json_t *report, cg_groups *out);
void cg_groups_free(cg_groups *gs);

/* The group named @p name, or NULL. */
const cg_group *cg_groups_find(const cg_groups *gs, const char *name);

/* Statistics of a group's energy and duration (iqr_1.5 filter on). @return 0 or -1 when empty. */
int cg_group_stats(const cg_group *g, nemb_stats *energy, nemb_stats *duration);

/* Whether the report details only some of @p g's instances (count > n): its statistics then
 * give the mean, min and max of all instances (task_groups) and no test is made. */
bool cg_group_partial(const cg_group *g);

/* Whether a report's figures are a measurement of energy at all: false when its energy_source
 * is "none" or its measurement_quality "no_backend" (no provider opened: zeros, not joules).
 * The one rule for diff and run --baseline. */
bool cg_groups_measured(const cg_groups *gs);

/* Whether A and B may be compared as energies: 0, or 1 with the reason in @p why ("A (path) was
 * not measured ...", "A is estimated and B simulated ..."). A gate (--fail-if-regressed) refuses
 * to decide when this is 1: an estimate never passes for a measurement, nor zeros for either. */
int cg_groups_incomparable(const cg_groups *a, const char *a_path, const cg_groups *b,
                           const char *b_path, char *why, size_t len);

/* B against A (nemb_stats_compare, alpha 0.05); with @p test false, no Welch test is made
 * (significant -1: a partial group's detailed instances are not a sample of all of them). */
int cg_compare(const nemb_stats *a, const nemb_stats *b, bool test, nemb_comparison *c);

/* Whether B regressed against A by more than @p pct percent: the mean grew by more than pct and,
 * when both sides have two or more values (and @p test), Welch's test says the difference is
 * significant at alpha 0.05. Without a test the threshold alone decides. Fills @p c. */
int cg_regressed(const nemb_stats *a, const nemb_stats *b, bool test, double pct,
                 nemb_comparison *c);

/* "significant (p = 0.0012, Welch's t-test)", "not significant (p = 0.31, ...)" or
 * "not tested (fewer than 2 values on a side)" into buf; @p untested, when not NULL, says why
 * no test was made instead. */
void cg_significance_words(const nemb_comparison *c, const char *untested, char *buf, size_t len);

#endif /* CG_GROUPS_H */
