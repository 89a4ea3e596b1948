/*
 * report.h - the figures of an ended session: the JSON and CSV reports (report.c, with its meta
 * object from report_meta.c), the numbers API's table (results.c) and the carbon figures
 * (carbon.c). They read the records, the checkpoints' results and the energy below them.
 * Not installed.
 */
#ifndef NEMB_REPORT_H
#define NEMB_REPORT_H

#include "records.h"

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
