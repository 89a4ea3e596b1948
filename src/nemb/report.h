/*
 * report.h - the figures of an ended session: the JSON and CSV reports (report.c, with its meta
 * object from report_meta.c), the numbers API's table (results.c) and the carbon figures
 * (carbon.c). They read the records, the checkpoints' results and the energy below them.
 * Not installed.
 */
#ifndef NEMB_REPORT_H
#define NEMB_REPORT_H

#include "energy.h"
#include "records.h"
#include "task_groups.h"

/* ----- results.c: the figures as numbers (nemb_session_task_info() and friends) ----- */

typedef struct nemb__results nemb__results;
void nemb__results_free(nemb_session *s); /* at destroy */

/* ----- carbon.c ----- */

/* Reads the carbon intensity the user gave: $CODEGREEN_CARBON_INTENSITY, else the config key
 * measurement.report.carbon_intensity_g_per_kwh; *g_per_kwh is 0 when neither is set, and
 * @p from names the one used. Returns 0 or NEMB_ECONFIG for a bad environment value. */
int nemb__carbon_resolve(const nemb_config *cfg, double *g_per_kwh, char *from, size_t len);
/* Grams CO2e of @p energy_j joules at @p g_per_kwh; 0 when the intensity is 0. */
double nemb__co2e_g(double energy_j, double g_per_kwh);

/* ----- report.c ----- */

/* The totals of an ended session as numbers: the report's "totals", computed once. */
typedef struct nemb__report_totals {
  double energy_uj;                 /* the depth-0 tasks' in-total energy, summed */
  double dom_uj[NEMB__MAX_DOMAINS]; /* the same per domain */
  double session_energy_uj;         /* from the session's begin to its end */
  double union_energy_uj;           /* over the union of the depth-0 tasks' intervals */
  uint64_t task_ns;                 /* the depth-0 tasks' durations, summed */
  uint64_t union_ns;                /* the union of their intervals */
  uint64_t wall_ns;                 /* the session's begin to end */
  size_t n_top;                     /* depth-0 tasks */
  nemb__uncertainty session_unc;    /* what the counters allow around session_energy_uj */
  double worst_cv_percent;          /* the highest within-task power CV (any_cv: there is one) */
  bool any_cv;
} nemb__report_totals;

/* The figures of an ended session, computed once by nemb__report_model_build(): the JSON and CSV
 * writers emit them and the numbers API (results.c) reads them. Nothing is computed while
 * writing, so no figure depends on the order things are written in. After the end, with the
 * sampler stopped; owned by the caller (nemb__report_model_release()). */
typedef struct nemb__report_model {
  const nemb_session *s;
  const nemb_meter *m;   /* NULL without a backend */
  size_t nd;             /* domains (0 without a meter) */
  size_t count;          /* stored samples */
  nemb__task_rec *tasks; /* n, in start order */
  size_t n;
  double *dom_uj;                    /* n x nd: per-task per-domain energy, microjoules */
  double *energy_uj;                 /* n: per-task in-total energy */
  nemb__uncertainty *unc;            /* n: what the counters allow either side; 0 = fixed */
  nemb__task_groups groups;          /* the tasks by name, parent and depth; which are detailed */
  struct nemb__report_noise *noise;  /* n (the detailed tasks'), when time series are on */
  double base_uj[NEMB__MAX_DOMAINS]; /* cumulative energy at t_begin: the time series' zero */
  nemb__report_totals totals;
  double *scratch; /* series workspace: window powers, then gaps */
  size_t scratch_cap;
} nemb__report_model;

/* Computes every figure of ended session @p s into @p out; the series' noise statistics (a walk
 * over every detailed task's samples) only with @p series_stats, which the report's writers need
 * and the numbers API and the plot do not (noise stays NULL, totals.any_cv false). Returns 0 or
 * NEMB_ENOMEM (then @p out holds nothing to release). */
int nemb__report_model_build(const nemb_session *s, bool series_stats, nemb__report_model *out);
void nemb__report_model_release(nemb__report_model *md);

/* Builds the JSON envelope (after the end, with the sampler stopped). Returns 0 or NEMB_ENOMEM;
 * *out is the caller's (free()). */
int nemb__report_json(const nemb_session *s, char **out);
/* The same report as CSV, one row per task. */
int nemb__report_csv(const nemb_session *s, char **out);

/* report_meta.c, for report.c: the meta object (a jansson json_t *), the wall-clock time of a
 * monotonic instant, and a JSON string that tolerates NULL and invalid UTF-8. */
struct json_t;
struct json_t *nemb__report_meta(const nemb_session *s, const char *quality);
double nemb__report_wall(const nemb_session *s, uint64_t t_ns);
struct json_t *nemb__report_string(const char *v);

#endif /* NEMB_REPORT_H */
