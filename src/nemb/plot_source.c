/*
 * plot_source.c - the plot model (plot.h) from an ended session.
 *
 * From a session: the sample store holds every sample whether or not time series were recorded,
 * so the series is the power between each pair of consecutive samples, clipped to the session's
 * span. Task energies are computed exactly as report.c computes them (the same interpolation, the
 * same sums), so the numbers on the chart are the report's to the last bit.
 *
 * From a saved report: plot_stream.c reads it and plot_build.c builds the model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "energy.h"
#include "plot.h"
#include "records.h"
#include "report.h"

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

/* ----- from a session ----- */

/* The string value of "key" in the meta block of the report text (the block comes first, so
 * the search stops long before a large task list), or NULL. The value is a plain word here
 * (energy_source, measurement_quality, started_at), never one that needs unescaping. */
static char *meta_word(const char *report, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\n    \"%s\": \"", key);
  const char *end = strstr(report, "\n  \"tasks\": ");
  const char *at = strstr(report, pat);
  if (at == NULL || (end != NULL && at > end)) {
    return NULL;
  }
  at += strlen(pat);
  size_t len = strcspn(at, "\"\\\n");
  if (at[len] != '"') {
    return NULL;
  }
  char *out = malloc(len + 1);
  if (out != NULL) {
    memcpy(out, at, len);
    out[len] = '\0';
  }
  return out;
}

/* "codegreen run: sleep 1": the command line, for sessions without a name (CLI runs). */
static char *command_title(const nemb_session *s) {
  if (s->argc == 0 || s->argv == NULL) {
    return strdup("codegreen session");
  }
  nemb__buf b = NEMB__BUF_INIT;
  nemb__buf_printf(&b, "codegreen:");
  for (size_t i = 0; i < s->argc && b.len < 200; i++) {
    nemb__buf_printf(&b, " %s", s->argv[i] ? s->argv[i] : "");
  }
  return nemb__buf_detach(&b);
}

/* The tasks and their energies from the report's model (report.h): the figures the report
 * writes, computed by the same code. */
static int session_tasks(const nemb_session *s, nemb__plot *p, double *base) {
  nemb__report_model md;
  int rc = nemb__report_model_build(s, false, &md);
  if (rc != 0) {
    return rc;
  }
  for (size_t i = 0; i < md.n && rc == 0; i++) {
    const nemb__task_rec *t = &md.tasks[i];
    uint64_t t0 = t->t_start > s->t_begin ? t->t_start - s->t_begin : 0;
    uint64_t t1 = t->t_end > s->t_begin ? t->t_end - s->t_begin : 0;
    rc = nemb__plot_add_task(p, t->name, t->parent, t->depth, t0, t1, md.energy_uj[i] / 1e6,
                             t->closed_at_end);
  }
  p->energy_j = md.totals.energy_uj / 1e6;
  p->n_top_level_tasks = md.totals.n_top;
  if (md.m != NULL) {
    memcpy(base, md.base_uj, md.nd * sizeof *base);
    p->session_energy_j = md.totals.session_energy_uj / 1e6;
  }
  nemb__report_model_release(&md);
  return rc;
}

int nemb__plot_from_session(const nemb_session *s, nemb__plot *p) {
  const nemb_meter *m = s->meter;
  p->session_name = dup_or_null(s->name);
  p->title = s->name ? strdup(s->name) : command_title(s);
  /* The meta words from the summary: the whole text is not built for them. */
  const char *summary = nemb_session_report_summary_json(s);
  if (summary == NULL) {
    return NEMB_ENOMEM;
  }
  p->energy_source = meta_word(summary, "energy_source");
  p->quality = meta_word(summary, "measurement_quality");
  p->started_at = meta_word(summary, "started_at");
  p->origin = strdup("session");
  if (p->title == NULL || p->origin == NULL) {
    return NEMB_ENOMEM;
  }
  p->t0_mono_ns = s->t_begin;
  p->span_ns = s->t_end > s->t_begin ? s->t_end - s->t_begin : 0;
  p->nd = m ? m->n_domains : 0;
  for (size_t d = 0; d < p->nd; d++) {
    snprintf(p->domains[d].name, sizeof p->domains[d].name, "%s", m->domains[d].name);
    nemb_domain_info info;
    nemb_meter_domain(m, d, &info);
    snprintf(p->domains[d].kind, sizeof p->domains[d].kind, "%s", info.kind);
    p->domains[d].in_total = m->domains[d].in_total;
  }
  if (m != NULL) {
    p->interval_ms = (double)nemb_measurement_interval_ms(m);
  }
  double prev_uj[NEMB__MAX_DOMAINS] = {0};
  int rc = session_tasks(s, p, prev_uj);
  if (rc != 0) {
    return rc;
  }
  if (m == NULL) {
    rc = nemb__plot_series_begin(p, 0);
    return rc ? rc : nemb__plot_series_end(p);
  }
  size_t count = nemb_meter_sample_count(m);
  /* Samples strictly inside (t_begin, t_end): each closes one interval; one more closes at t_end.
   * The store is sorted by time, so find the first after t_begin by bisection. */
  size_t lo = 0, hi = count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (nemb__store_at(&m->store, mid)[0] <= s->t_begin) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  size_t first = lo, last = first;
  while (last < count && nemb__store_at(&m->store, last)[0] < s->t_end) {
    last++;
  }
  rc = nemb__plot_series_begin(p, (uint64_t)(last - first) + 1);
  if (rc != 0) {
    return rc;
  }
  uint64_t t_prev = s->t_begin;
  double w[NEMB__MAX_DOMAINS], cur[NEMB__MAX_DOMAINS];
  for (size_t i = first; i <= last; i++) {
    uint64_t t;
    if (i < last) {
      const uint64_t *smp = nemb__store_at(&m->store, i);
      t = smp[0];
      for (size_t d = 0; d < p->nd; d++) {
        cur[d] = (double)smp[1 + d];
      }
    } else {
      t = s->t_end;
      nemb__energy_at(m, count, t, cur, NULL);
    }
    if (t <= t_prev) {
      continue; /* a repeated timestamp: no time passed */
    }
    double dt = (double)(t - t_prev);
    for (size_t d = 0; d < p->nd; d++) {
      w[d] = (cur[d] - prev_uj[d]) / dt * 1e3; /* microjoules per nanosecond = kilowatts */
      prev_uj[d] = cur[d];
    }
    nemb__plot_series_add(p, t_prev - s->t_begin, t - s->t_begin, w);
    t_prev = t;
  }
  return nemb__plot_series_end(p);
}
