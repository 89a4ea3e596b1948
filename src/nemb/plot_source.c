/*
 * plot_source.c - the plot model (plot.h) from an ended session or from a saved report.
 *
 * From a session: the sample store holds every sample whether or not time series were recorded,
 * so the series is the power between each pair of consecutive samples, clipped to the session's
 * span. Task energies are computed exactly as report.c computes them (the same interpolation, the
 * same sums), so the numbers on the chart are the report's to the last bit.
 *
 * From a report: only the samples inside task windows were saved (each task's "timeseries"), so
 * the series is rebuilt from them as pieces of constant power:
 *   - between two consecutive samples of a task, the later sample's domain_w (the report's power
 *     is the average over the interval that ends at the sample);
 *   - from the task's start to its first sample, that first sample's domain_w too: the interval
 *     it averages over began before the task did;
 *   - from the task's last sample to its end, the power that makes the task's per-domain energy
 *     come out exactly: the counters' next sample, the one that ends this interval, lies outside
 *     the window and is not in the report, but the task's energies were interpolated from it, so
 *     they determine it;
 *   - a task too short to hold a sample lies between two samples: constant power, its energy over
 *     its duration.
 * Nested tasks repeat their parent's samples; the pieces of all tasks agree where they overlap
 * and are merged into one series. Time outside every task is unknown (a hole in the chart).
 */
#include <jansson.h>
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
  p->energy_source = meta_word(s->report_json, "energy_source");
  p->quality = meta_word(s->report_json, "measurement_quality");
  p->started_at = meta_word(s->report_json, "started_at");
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

/* ----- from a report ----- */

typedef struct piece {
  uint64_t a, b; /* ns since the origin */
  size_t row;    /* its powers: rows[row * nd ...] */
  size_t order;  /* insertion order, to keep the sort stable */
} piece;

typedef struct pieces {
  piece *v;
  size_t n, cap;
  double *rows;
  size_t nd;
  bool oom;
} pieces;

static double *add_piece(pieces *ps, uint64_t a, uint64_t b) {
  if (b <= a || ps->oom) {
    return NULL;
  }
  if (ps->n == ps->cap) {
    size_t cap = ps->cap ? ps->cap * 2 : 256;
    piece *v = realloc(ps->v, cap * sizeof *v);
    if (v != NULL) {
      ps->v = v;
    }
    double *rows = realloc(ps->rows, cap * (ps->nd ? ps->nd : 1) * sizeof *rows);
    if (rows != NULL) {
      ps->rows = rows;
    }
    if (v == NULL || rows == NULL) {
      ps->oom = true;
      return NULL;
    }
    ps->cap = cap;
  }
  piece *pc = &ps->v[ps->n];
  *pc = (piece){a, b, ps->n, ps->n};
  ps->n++;
  return ps->rows + pc->row * (ps->nd ? ps->nd : 1);
}

static int cmp_piece(const void *x, const void *y) {
  const piece *p = x, *q = y;
  if (p->a != q->a) {
    return p->a < q->a ? -1 : 1;
  }
  return (p->order > q->order) - (p->order < q->order);
}

/* Seconds since the epoch of an RFC 3339 time ("2026-05-10T18:16:56.209074+00:00"), or NAN. */
static double parse_rfc3339(const char *text) {
  if (text == NULL) {
    return NAN;
  }
  struct tm tm = {0};
  const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == NULL) {
    return NAN;
  }
  double frac = 0;
  if (*rest == '.') {
    char *end;
    frac = strtod(rest, &end);
    rest = end;
  }
  long off = 0;
  if (*rest == '+' || *rest == '-') {
    int hh = 0, mm = 0;
    if (sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) {
      return NAN;
    }
    off = (*rest == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
  } else if (*rest != 'Z' && *rest != 'z') {
    return NAN;
  }
  return (double)timegm(&tm) - (double)off + frac;
}

static const char *jstr(json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}

static bool jnum(json_t *obj, const char *key, double *out) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_number(v)) {
    return false;
  }
  *out = json_number_value(v);
  return true;
}

static bool jmono(json_t *obj, const char *key, uint64_t *out) {
  json_t *v = json_object_get(obj, key);
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (uint64_t)json_integer_value(v);
    return true;
  }
  if (json_is_real(v) && json_real_value(v) >= 0) {
    *out = (uint64_t)llround(json_real_value(v));
    return true;
  }
  return false;
}

/* The report's domains: meta.domain_topology in order, else the first sample's domain_w. */
static void report_domains(json_t *meta, json_t *tasks, nemb__plot *p) {
  json_t *topo = json_object_get(meta, "domain_topology");
  const char *name;
  json_t *info;
  if (json_object_size(topo) == 0) {
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t) {
      json_t *series = json_object_get(t, "timeseries");
      if (json_array_size(series) > 0) {
        topo = json_object_get(json_array_get(series, 0), "domain_w");
        break;
      }
    }
  }
  json_object_foreach(topo, name, info) {
    if (p->nd == NEMB__MAX_DOMAINS) {
      break;
    }
    nemb__plot_domain *d = &p->domains[p->nd++];
    snprintf(d->name, sizeof d->name, "%s", name);
    const char *kind = jstr(info, "kind");
    snprintf(d->kind, sizeof d->kind, "%s", kind ? kind : "");
    json_t *in_total = json_object_get(info, "in_total");
    json_t *top = json_object_get(info, "top_level");
    d->in_total = json_is_boolean(in_total) ? json_is_true(in_total)
                  : json_is_boolean(top)    ? json_is_true(top)
                                            : true;
  }
}

/* The pieces of constant power of one task (see the file comment). */
static int task_pieces(json_t *task, const nemb__plot_task *pt, const nemb__plot *p,
                       uint64_t origin, pieces *ps) {
  json_t *series = json_object_get(task, "timeseries");
  json_t *doms = json_object_get(task, "domains");
  size_t nd = p->nd;
  double dom_j[NEMB__MAX_DOMAINS], used_j[NEMB__MAX_DOMAINS] = {0};
  for (size_t d = 0; d < nd; d++) {
    json_t *v = json_object_get(doms, p->domains[d].name);
    dom_j[d] = json_is_number(v) ? json_number_value(v) : NAN;
  }
  uint64_t prev = pt->t0;
  size_t i;
  json_t *smp;
  json_array_foreach(series, i, smp) {
    uint64_t t;
    if (!jmono(smp, "t_ns", &t) || t < origin) {
      continue;
    }
    t -= origin;
    if (t <= prev || t > pt->t1) {
      continue; /* a repeated timestamp, or a sample outside the window */
    }
    double *row = add_piece(ps, prev, t);
    if (row == NULL) {
      return ps->oom ? NEMB_ENOMEM : 0;
    }
    json_t *dw = json_object_get(smp, "domain_w");
    for (size_t d = 0; d < nd; d++) {
      json_t *v = json_object_get(dw, p->domains[d].name);
      row[d] = json_is_number(v) ? json_number_value(v) : NAN;
      used_j[d] += row[d] * (double)(t - prev) / 1e9;
    }
    prev = t;
  }
  if (pt->t1 > prev) {
    /* The tail (or the whole of a task too short to hold a sample). */
    double *row = add_piece(ps, prev, pt->t1);
    if (row == NULL) {
      return ps->oom ? NEMB_ENOMEM : 0;
    }
    double secs = (double)(pt->t1 - prev) / 1e9;
    for (size_t d = 0; d < nd; d++) {
      row[d] = (dom_j[d] - used_j[d]) / secs;
    }
  }
  return 0;
}

static int report_series(json_t *tasks, nemb__plot *p, uint64_t origin) {
  pieces ps = {.nd = p->nd};
  size_t i, k = 0;
  json_t *t;
  int rc = 0;
  json_array_foreach(tasks, i, t) {
    if (json_is_array(json_object_get(t, "timeseries")) && p->nd > 0) {
      rc = task_pieces(t, &p->tasks[k], p, origin, &ps);
      if (rc != 0) {
        break;
      }
    }
    k++;
  }
  if (rc == 0) {
    if (ps.n > 1) {
      qsort(ps.v, ps.n, sizeof *ps.v, cmp_piece);
    }
    /* Count the merged intervals first: the plot resamples above its limit. */
    uint64_t reach = 0, merged = 0;
    for (size_t j = 0; j < ps.n; j++) {
      if (ps.v[j].b > reach) {
        merged++;
        reach = ps.v[j].b;
      }
    }
    rc = nemb__plot_series_begin(p, merged);
    reach = 0;
    for (size_t j = 0; rc == 0 && j < ps.n; j++) {
      const piece *pc = &ps.v[j];
      if (pc->b <= reach) {
        continue; /* covered already, by an enclosing task's identical samples */
      }
      uint64_t a = pc->a > reach ? pc->a : reach;
      nemb__plot_series_add(p, a, pc->b, ps.rows + pc->row * p->nd);
      reach = pc->b;
    }
    if (rc == 0) {
      rc = nemb__plot_series_end(p);
    }
  }
  free(ps.v);
  free(ps.rows);
  return rc;
}

int nemb__plot_from_report(json_t *report, const char *label, nemb__plot *p) {
  json_t *meta = json_object_get(report, "meta");
  json_t *tasks = json_object_get(report, "tasks");
  json_t *totals = json_object_get(report, "totals");
  if (!json_is_object(report) || !json_is_array(tasks)) {
    return nemb__fail(NEMB_EINVAL, "%s is not a codegreen report (it has no \"tasks\" list)",
                      label);
  }
  size_t n = json_array_size(tasks), with_series = 0, i;
  json_t *t;
  json_array_foreach(tasks, i, t) {
    with_series += json_is_array(json_object_get(t, "timeseries"));
  }
  if (n == 0) {
    return nemb__fail(NEMB_EINVAL, "%s has no tasks, so it holds no time series to plot", label);
  }
  if (with_series == 0) {
    return nemb__fail(NEMB_EINVAL,
                      "%s holds no time series (its tasks' \"timeseries\" are null): record "
                      "with Session(record_time_series=True), record_time_series = 1 in C, or "
                      "codegreen run --time-series; or plot the session itself before it is "
                      "destroyed (nemb_session_export_plot, codegreen run --export-plot)",
                      label);
  }
  const char *name = jstr(meta, "session_name");
  p->session_name = dup_or_null(name);
  p->energy_source = dup_or_null(jstr(meta, "energy_source"));
  p->quality = dup_or_null(jstr(meta, "measurement_quality"));
  p->started_at = dup_or_null(jstr(meta, "started_at"));
  p->origin = strdup(label);
  if (name != NULL) {
    p->title = strdup(name);
  } else {
    nemb__buf b = NEMB__BUF_INIT;
    json_t *argv = json_object_get(meta, "argv");
    nemb__buf_printf(&b, "%s", json_array_size(argv) ? "codegreen:" : "codegreen session");
    json_t *a;
    json_array_foreach(argv, i, a) {
      if (json_is_string(a) && b.len < 200) {
        nemb__buf_printf(&b, " %s", json_string_value(a));
      }
    }
    p->title = nemb__buf_detach(&b);
  }
  if (p->title == NULL || p->origin == NULL) {
    return NEMB_ENOMEM;
  }
  if (!jnum(totals, "energy_j", &p->energy_j)) {
    p->energy_j = NAN;
  }
  if (!jnum(totals, "session_energy_j", &p->session_energy_j)) {
    p->session_energy_j = NAN;
  }
  if (!jnum(totals, "sample_interval_ms", &p->interval_ms)) {
    p->interval_ms = NAN;
  }
  report_domains(meta, tasks, p);

  /* Where x = 0 lies on the monotonic clock: the session's start. The report gives it in wall
   * time (meta.started_at) and each task in both clocks, so the first task's two stamps place
   * it; without them the first task's start serves. */
  uint64_t first_t0 = UINT64_MAX, last_t1 = 0;
  json_array_foreach(tasks, i, t) {
    uint64_t a, b;
    if (!jmono(t, "started_at_mono_ns", &a) || !jmono(t, "ended_at_mono_ns", &b)) {
      return nemb__fail(NEMB_EINVAL,
                        "task %zu of %s has no started_at_mono_ns / ended_at_mono_ns, which "
                        "place it on the time series' clock",
                        i, label);
    }
    first_t0 = a < first_t0 ? a : first_t0;
    last_t1 = b > last_t1 ? b : last_t1;
  }
  uint64_t origin = first_t0;
  double wall_begin = parse_rfc3339(jstr(meta, "started_at"));
  double wall0;
  uint64_t mono0;
  t = json_array_get(tasks, 0);
  if (isfinite(wall_begin) && jnum(t, "started_at", &wall0) &&
      jmono(t, "started_at_mono_ns", &mono0)) {
    double back_ns = (wall0 - wall_begin) * 1e9;
    if (back_ns > 0 && back_ns < (double)mono0) {
      origin = mono0 - (uint64_t)llround(back_ns);
    }
  }
  origin = origin < first_t0 ? origin : first_t0;
  p->t0_mono_ns = origin;
  double dur_s;
  uint64_t span = last_t1 - origin;
  if (jnum(meta, "duration_total_s", &dur_s) && dur_s * 1e9 > (double)span) {
    span = (uint64_t)llround(dur_s * 1e9);
  }
  p->span_ns = span;

  json_array_foreach(tasks, i, t) {
    uint64_t a = 0, b = 0;
    jmono(t, "started_at_mono_ns", &a);
    jmono(t, "ended_at_mono_ns", &b);
    json_t *depth = json_object_get(t, "depth");
    double energy;
    if (!jnum(t, "energy_j", &energy)) {
      energy = NAN;
    }
    int rc = nemb__plot_add_task(p, jstr(t, "name"), jstr(t, "parent"),
                                 json_is_integer(depth) ? (uint32_t)json_integer_value(depth) : 0,
                                 a - origin, b - origin, energy,
                                 json_is_true(json_object_get(t, "closed_at_end")));
    if (rc != 0) {
      return rc;
    }
  }
  return report_series(tasks, p, origin);
}
