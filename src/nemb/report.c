/*
 * report.c - the session's report: the JSON envelope of the reference (meta, tasks, totals, and
 * functions/checkpoints when instrumented code ran) and the CSV form, one row per task.
 *
 * It runs once, after nemb_session_end() stopped the sampler, so the sample store no longer
 * changes and every thread's records are ours to read. All energy comes from interpolating the
 * stored samples at the recorded timestamps (energy.c); nothing here talks to a provider.
 *
 * Numbers keep full double precision (JSON_REAL_PRECISION(17) and %.17g), so a consumer that
 * recomputes a sum or a ratio from the report gets the same bits we did.
 *
 * The JSON is written as a stream: the envelope's skeleton (the task list, each task's time
 * series, the checkpoint measurements) goes straight into one text buffer, and jansson builds and
 * dumps only the small pieces (one task's fields, one sample), which are freed at once. A tree of
 * the whole report would cost several times the text (a one-hour series at 1 ms holds millions of
 * samples), so memory stays near the size of the text itself. The layout is exactly the one
 * json_dumps(JSON_INDENT(2)) gives.
 */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "checkpoint.h"
#include "energy.h"
#include "json_text.h"
#include "report.h"
#include "task_groups.h"

/* Noise statistics of one task's time series. */
typedef struct nemb__report_noise {
  bool present;      /* time series on and a meter exists */
  uint64_t captured; /* samples in the task's window */
  uint64_t filled;   /* points its series fills into long stored intervals (report_series.c) */
  uint64_t expected; /* whole sampling intervals in the window */
  bool observed;     /* interval from the median observed gap (else the configured one) */
  double interval_ns;
  double window_ns; /* the span of the windows whose power the statistics are computed on */
  double drop_ratio;
  double mean_w, std_w, cv_percent;
  bool has_mean, has_cv; /* at least 1 / at least 2 samples */
  const char *quality;
} noise;

typedef nemb__report_model model;

/* A writer's state: the model it writes and the text. */
typedef struct rep {
  model *md;
  char *dom_key[NEMB__MAX_DOMAINS]; /* each domain's name as a JSON string literal */
  nemb__buf out;                    /* the JSON text being written (not yet spilled) */
  bool oom;
  nemb__atomic_file *sink; /* NULL: the whole text stays in out; else out is passed on to it
                              whenever it holds SPILL_AT bytes */
  int sink_error;          /* the first failed append's errno (the file's commit fails too) */
  bool summary;            /* every time series left out (nemb__report_json_summary) */
} rep;

/* What a streaming writer holds before passing the text on: large enough that a write is a
 * fraction of the cost of the text it carries, small beside any report worth streaming. */
size_t nemb__report_spill_at = (size_t)1 << 20;

/* Passes the text written so far on to the sink, once there is enough of it. */
static void spill(rep *r) {
  if (r->sink == NULL || r->out.len < nemb__report_spill_at) {
    return;
  }
  if (r->sink_error == 0 && !r->out.oom) {
    r->sink_error = nemb__atomic_append(r->sink, r->out.data, r->out.len);
  }
  r->out.len = 0;
  r->out.data[0] = '\0';
}

static void spill_cb(void *ctx) {
  spill(ctx);
}

/* ----- small JSON helpers: out-of-memory is sticky in r->oom, checked once at the end ----- */

static json_t *num(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}

static json_t *integer(uint64_t v) {
  return json_integer((json_int_t)v);
}

static void set(rep *r, json_t *obj, const char *key, json_t *v) {
  /* json_object_set_new() consumes v also on failure, and fails for a NULL obj or v. */
  if (v == NULL || json_object_set_new(obj, key, v) != 0) {
    r->oom = true;
  }
}

static void push(rep *r, json_t *arr, json_t *v) {
  if (v == NULL || json_array_append_new(arr, v) != 0) {
    r->oom = true;
  }
}

static json_t *object(rep *r) {
  json_t *o = json_object();
  r->oom |= o == NULL;
  return o;
}

static json_t *array(rep *r) {
  json_t *a = json_array();
  r->oom |= a == NULL;
  return a;
}

static const char *domain_name(const model *md, size_t d) {
  return md->m->domains[d].name;
}

/* {domain: joules} from microjoules per domain ({} without a meter). */
static json_t *per_domain_j(rep *r, const double *uj) {
  json_t *o = object(r);
  for (size_t d = 0; d < r->md->nd; d++) {
    set(r, o, domain_name(r->md, d), num(uj[d] / 1e6));
  }
  return o;
}

/* {domain: watts}: the energy over @p secs; 0 for a zero-length span. */
static json_t *per_domain_w(rep *r, const double *uj, double secs) {
  json_t *o = object(r);
  for (size_t d = 0; d < r->md->nd; d++) {
    set(r, o, domain_name(r->md, d), num(secs > 0 ? uj[d] / 1e6 / secs : 0));
  }
  return o;
}

/* ----- the streaming writer: text straight into r->out, pieces dumped by jansson ----- */

#define DUMP_FLAGS                                                                                 \
  (JSON_REAL_PRECISION(17) | JSON_PRESERVE_ORDER | JSON_INDENT(2) | JSON_ENCODE_ANY)

static void text(rep *r, const char *s) {
  nemb__buf_append(&r->out, s, strlen(s));
}

static void indent(rep *r, int level) {
  nemb__series_indent(&r->out, level);
}

/* Writes @p v (consuming it) as it would appear @p level levels deep: jansson indents from 0,
 * so every line after the first is shifted. JSON strings hold no raw newline, so each '\n' in the
 * dump is a line break of the layout. */
static void emit(rep *r, json_t *v, int level) {
  if (v == NULL) {
    r->oom = true;
    return;
  }
  char *dump = json_dumps(v, DUMP_FLAGS);
  json_decref(v);
  if (dump == NULL) {
    r->oom = true;
    return;
  }
  const char *p = dump;
  for (const char *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
    nemb__buf_append(&r->out, p, (size_t)(nl - p + 1));
    indent(r, level);
  }
  text(r, p);
  free(dump);
}

/* Starts the next element of an array or object whose elements sit at @p level. */
static void item(rep *r, int level, bool *first) {
  text(r, *first ? "\n" : ",\n");
  *first = false;
  indent(r, level);
}

/* Starts the member @p key (a plain name: no escaping needed) of an object at @p level. */
static void key(rep *r, const char *k, int level, bool *first) {
  item(r, level, first);
  text(r, "\"");
  text(r, k);
  text(r, "\": ");
}

static void member(rep *r, const char *k, json_t *v, int level, bool *first) {
  key(r, k, level, first);
  emit(r, v, level);
}

/* Every member of @p obj (consumed), in order. */
static void members(rep *r, json_t *obj, int level, bool *first) {
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v) {
    member(r, k, json_incref(v), level, first);
  }
  r->oom |= obj == NULL;
  json_decref(obj);
}

/* Closes an array or object opened at @p level: "[]" / "{}" when it stayed empty. */
static void close_(rep *r, int level, bool first, const char *bracket) {
  if (!first) {
    text(r, "\n");
    indent(r, level);
  }
  text(r, bracket);
}

/* ----- the model's samples ----- */

static bool grow_scratch(model *md, size_t need) {
  if (need <= md->scratch_cap) {
    return true;
  }
  size_t cap = need; /* exactly: the largest task's gaps, an hour's at most (millions) */
  double *p = realloc(md->scratch, cap * sizeof *p);
  if (p == NULL) {
    return false;
  }
  md->scratch = p;
  md->scratch_cap = cap;
  return true;
}

static const uint64_t *sample(const model *md, size_t i) {
  return nemb__store_at(&md->m->store, i);
}

/* In-total energy between two instants, microjoules. */
static double energy_between(const model *md, uint64_t a, uint64_t b, size_t *hint) {
  if (md->m == NULL) {
    return 0;
  }
  return nemb__energy_span(md->m, md->count, a, b, NULL, NULL, hint);
}

static double seconds(uint64_t ns) {
  return (double)ns / 1e9;
}

/* ----- per-task time series and noise ----- */

/* The @p k-th smallest of a[0, n) (0-based; n > k), found by Hoare's selection in linear time
 * on average, not by sorting (a task's gaps are millions in an hour). Moves the elements so that
 * a[0, k) holds none larger than the result. */
static double kth_smallest(double *a, size_t n, size_t k) {
  ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, want = (ptrdiff_t)k;
  while (lo < hi) {
    double pivot = a[lo + (hi - lo) / 2];
    ptrdiff_t i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) {
        i++;
      }
      while (a[j] > pivot) {
        j--;
      }
      if (i <= j) {
        double t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    /* a[lo, j] <= pivot <= a[i, hi], and a(j, i) == pivot */
    if (want <= j) {
      hi = j;
    } else if (want >= i) {
      lo = i;
    } else {
      return a[want];
    }
  }
  return a[want];
}

/* The largest of a[0, n), n > 0. */
static double largest(const double *a, size_t n) {
  double m = a[0];
  for (size_t i = 1; i < n; i++) {
    m = a[i] > m ? a[i] : m;
  }
  return m;
}

static const char *quality_bucket(const nemb__noise_cfg *c, double cv) {
  if (cv < c->excellent_cv_percent) {
    return "excellent";
  }
  if (cv < c->good_cv_percent) {
    return "good";
  }
  return cv < c->cv_percent ? "moderate" : "high-noise";
}

/* Walks a task's series (report_series.c's rule): the points the report writes for it, as the
 * reference's sample objects (an array at @p level) into @p w when it is not NULL, and its noise
 * statistics into @p nz when that is not NULL (the model computes these before anything is
 * written; a writer walks again to write the same points). Returns false when out of memory. */
/* Walks task @p t's series in windows of @p window_ns (a window closes at the first point at
 * least that far from where it opened): the points into *n, the windows into *k, and returns
 * the sum of the windows' mean powers, or with @p mean not NULL the sum of their squared
 * deviations from *mean. Two walks give the variance exactly as two passes over the stored
 * powers would, without storing millions of them (an hour at 1 ms). */
static double window_walk(const model *md, const nemb__task_rec *t, double window_ns,
                          const double *mean, size_t *k, size_t *n, size_t *filled, double *keep,
                          size_t keep_cap) {
  double acc = 0;
  bool have_win = false;
  uint64_t win_t = 0;
  double win_e = 0;
  *k = *n = *filled = 0;
  nemb__series_iter it;
  nemb__series_point p;
  nemb__series_start(&it, md, t->t_start, t->t_end);
  while (nemb__series_next(&it, &p)) {
    if (!have_win) {
      have_win = true;
      win_t = p.t_ns;
      win_e = p.cum_uj;
    } else if ((double)(p.t_ns - win_t) >= window_ns) {
      double wp = (p.cum_uj - win_e) / (double)(p.t_ns - win_t) * 1e3;
      acc += mean != NULL ? (wp - *mean) * (wp - *mean) : wp;
      if (*k < keep_cap) {
        keep[*k] = wp;
      }
      (*k)++;
      win_t = p.t_ns;
      win_e = p.cum_uj;
    }
    (*n)++;
    *filled += p.filled;
  }
  return acc;
}

static bool series_walk(model *md, const nemb__task_rec *t, noise *nz, rep *w, int level) {
  if (w != NULL) {
    text(w, "[");
  }
  if (md->m == NULL) {
    if (w != NULL) {
      text(w, "]");
    }
    return true;
  }
  if (w != NULL) {
    bool first = true;
    nemb__series_iter it;
    nemb__series_point p;
    nemb__series_start(&it, md, t->t_start, t->t_end);
    while (nemb__series_next(&it, &p)) {
      item(w, level + 1, &first);
      nemb__series_point_text(&w->out, level + 1, &p, md->nd, w->dom_key);
      spill(w);
    }
    close_(w, level, first, "]");
  }
  if (nz == NULL) {
    return true;
  }
  /* Stored samples sit on the counters' updates (sampler.c), so the power between two of them
   * is the counter's, free of the 0-or-double artefact of reading a counter between updates:
   * windows of one sampling interval, or the slowest in-total counter's update period. */
  double window_ns = (double)nemb_measurement_interval_ms(md->m) * 1e6;
  for (size_t d = 0; d < md->nd; d++) {
    if (md->m->domains[d].in_total) {
      window_ns = fmax(window_ns, nemb__meter_period_ns(md->m, d));
    }
  }
  window_ns *= 0.999; /* samples a period apart are a window, whatever their rounding */
  size_t n = 0, k = 0, filled = 0;
  /* The windows' powers are kept for the second pass when the scratch holds them (it holds the
   * task's gaps below, as many): the second walk was a tenth of an hour's report. The bound:
   * fewer windows than the task's points, the session's inside it and its start and end. */
  size_t inner = t->t_end > t->t_start ? nemb__series_points_before(md, t->t_end) -
                                             nemb__series_points_before(md, t->t_start + 1)
                                       : 0;
  size_t keep_cap = grow_scratch(md, inner + 2) ? inner + 2 : 0;
  double sum = window_walk(md, t, window_ns, NULL, &k, &n, &filled, md->scratch, keep_cap);

  /* Noise: power spread over the window, and how many samples the window should have held. */
  nz->present = true;
  nz->captured = n - filled; /* the filled points are the line between two samples */
  nz->filled = filled;
  nz->window_ns = window_ns;
  nz->has_mean = k >= 1;
  nz->mean_w = k ? sum / (double)k : 0;
  double var = 0;
  if (k > 0 && k <= keep_cap) {
    for (size_t i = 0; i < k; i++) { /* the sum the second walk would make, in its order */
      var += (md->scratch[i] - nz->mean_w) * (md->scratch[i] - nz->mean_w);
    }
  } else if (k > 0) {
    var = window_walk(md, t, window_ns, &nz->mean_w, &k, &n, &filled, NULL, 0);
  }
  nz->std_w = k ? sqrt(var / (double)k) : 0;
  nz->has_cv = k >= 2;
  nz->cv_percent = nz->mean_w > 0 ? nz->std_w / nz->mean_w * 100 : 0;
  nz->quality = nz->has_cv ? quality_bucket(&md->s->noise, nz->cv_percent) : "insufficient_samples";

  n = (size_t)nz->captured; /* below: samples taken against samples expected */
  nz->observed = n >= 3;
  nz->interval_ns = (double)nemb_measurement_interval_ms(md->m) * 1e6;
  if (nz->observed) {
    if (!grow_scratch(md, n)) {
      return false;
    }
    double *gaps = md->scratch;
    size_t g = 0;
    for (size_t i = nemb__series_first_at_or_after(md, t->t_start); g < n - 1 && i + 1 < md->count;
         i++) {
      uint64_t a = sample(md, i)[0], b = sample(md, i + 1)[0];
      if (b > t->t_end) {
        break;
      }
      if (b > a) {
        gaps[g++] = (double)(b - a);
      }
    }
    if (g > 0) { /* the median */
      double upper = kth_smallest(gaps, g, g / 2);
      nz->interval_ns = g % 2 ? upper : (largest(gaps, g / 2) + upper) / 2;
    }
  }
  /* A store that coarsened at its cap kept every 2^c-th sample of its oldest stretch, and a task
   * can span stretches coarsened differently (its median gap the newest's): what it should hold
   * is counted at the effective resolution, so coarsening is never reported as dropped samples. */
  unsigned coarsened = nemb__store_coarsened(&md->m->store);
  if (coarsened > 0) {
    nz->interval_ns = fmax(nz->interval_ns, (double)nemb_measurement_interval_ms(md->m) * 1e6 *
                                                ldexp(1.0, (int)(coarsened < 60 ? coarsened : 60)));
  }
  /* A window of length L holds floor(L / interval) or one more samples; expecting the smaller
   * never reports a drop for a schedule that kept time. */
  double window = (double)(t->t_end - t->t_start);
  nz->expected = nz->interval_ns > 0 ? (uint64_t)floor(window / nz->interval_ns) : 0;
  nz->drop_ratio = nz->expected ? fmax(0, 1 - (double)n / (double)nz->expected) : 0;
  return true;
}

static json_t *noise_json(rep *r, const noise *nz) {
  if (!nz->present) {
    return json_null();
  }
  json_t *o = object(r);
  set(r, o, "samples_captured", integer(nz->captured));
  set(r, o, "series_points_filled", integer(nz->filled));
  set(r, o, "samples_expected", integer(nz->expected));
  set(r, o, "samples_expected_method",
      json_string(nz->observed ? "observed_median" : "configured"));
  set(r, o, "drop_ratio", num(nz->drop_ratio));
  set(r, o, "power_mean_w", nz->has_mean ? num(nz->mean_w) : json_null());
  set(r, o, "power_std_w", nz->has_cv ? num(nz->std_w) : json_null());
  set(r, o, "power_cv_percent", nz->has_cv ? num(nz->cv_percent) : json_null());
  set(r, o, "sample_interval_ms", num(nz->interval_ns / 1e6));
  set(r, o, "power_window_ms", num(nz->window_ns / 1e6));
  set(r, o, "quality", json_string(nz->quality));
  return o;
}

/* ----- tasks ----- */

/* co2e_g beside an energy, only when the user gave a carbon intensity (carbon.c). */
static void co2e(rep *r, json_t *o, const char *k, double energy_j) {
  if (r->md->s->carbon_g_per_kwh > 0) {
    set(r, o, k, num(nemb__co2e_g(energy_j, r->md->s->carbon_g_per_kwh)));
  }
}

/* Writes task @p i as an object at @p level. */
/* <prefix>_j and <prefix>_cause when the counters do not fix a span's energy: it is energy_j
 * +/- <prefix>_j, because the span is shorter than a few counter updates ("short_span") and/or
 * an end fell where the sampler missed updates ("sampler_gap") and/or the power changed at an
 * end within a slow counter's update ("power_step") and/or an end lay past the stored samples
 * and its energy was extrapolated ("extrapolated", checkpoint.c). Nothing when it is fixed. */
static void uncertainty(rep *r, json_t *o, const char *prefix, const nemb__uncertainty *u) {
  if (!(u->uj > 0)) {
    return;
  }
  char k[64];
  snprintf(k, sizeof k, "%s_j", prefix);
  set(r, o, k, num(u->uj / 1e6));
  json_t *why = array(r);
  if (u->why & NEMB__UNC_SHORT) {
    push(r, why, nemb__report_string("short_span"));
  }
  if (u->why & NEMB__UNC_GAP) {
    push(r, why, nemb__report_string("sampler_gap"));
  }
  if (u->why & NEMB__UNC_STEP) {
    push(r, why, nemb__report_string("power_step"));
  }
  if (u->why & NEMB__UNC_EXTRA) {
    push(r, why, nemb__report_string("extrapolated"));
  }
  if (u->why & NEMB__UNC_JOIN) {
    push(r, why, nemb__report_string("samplers_joined"));
  }
  snprintf(k, sizeof k, "%s_cause", prefix);
  set(r, o, k, why);
}

static void write_task(rep *r, size_t i, int level) {
  const nemb__task_rec *t = &r->md->tasks[i];
  const nemb_session *s = r->md->s;
  double dur = seconds(t->t_end - t->t_start);
  double energy = r->md->energy_uj[i] / 1e6;
  const double *dom = r->md->dom_uj + i * r->md->nd;

  json_t *o = object(r);
  set(r, o, "name", nemb__report_string(t->name));
  set(r, o, "depth", integer(t->depth));
  set(r, o, "parent", nemb__report_string(t->parent));
  set(r, o, "energy_j", num(energy));
  set(r, o, "avg_power_w", num(dur > 0 ? energy / dur : 0));
  set(r, o, "duration_s", num(dur));
  set(r, o, "started_at", num(nemb__report_wall(s, t->t_start)));
  set(r, o, "ended_at", num(nemb__report_wall(s, t->t_end)));
  set(r, o, "started_at_mono_ns", integer(t->t_start));
  set(r, o, "ended_at_mono_ns", integer(t->t_end));
  set(r, o, "domains", per_domain_j(r, dom));
  set(r, o, "domains_power_w", per_domain_w(r, dom, dur));
  uncertainty(r, o, "energy_uncertainty", &r->md->unc[i]);
  co2e(r, o, "co2e_g", energy);
  bool first = true;
  text(r, "{");
  members(r, o, level + 1, &first);
  key(r, "timeseries", level + 1, &first);
  if (s->record_time_series && r->summary) {
    text(r, "null"); /* the summary leaves every series out */
  } else if (s->record_time_series && s->columnar) {
    nemb__columnar_window(r->md, t, &r->out, level + 1, r->dom_key);
  } else if (s->record_time_series) {
    r->oom |= !series_walk(r->md, t, NULL, r, level + 1);
  } else {
    text(r, "null");
  }
  member(r, "noise", r->md->noise ? noise_json(r, &r->md->noise[i]) : json_null(), level + 1,
         &first);
  member(r, "closed_at_end", json_boolean(t->closed_at_end), level + 1, &first);
  member(r, "thread", integer(t->thread), level + 1, &first);
  close_(r, level, first, "}");
}

/* Every group of tasks (name, parent, depth) with its count, how many are detailed in tasks
 * (the first measurement.report.task_detail_limit), and its energy and duration over all its
 * instances: sum, mean, min, max. Written after totals when tasks does not list every task. */
static json_t *task_groups_json(rep *r) {
  json_t *list = array(r);
  for (size_t k = 0; k < r->md->groups.n; k++) {
    const nemb__task_group *g = &r->md->groups.g[k];
    double n = (double)g->count;
    json_t *o = object(r), *e = object(r), *d = object(r);
    set(r, e, "sum", num(g->energy_sum_uj / 1e6));
    set(r, e, "mean", num(g->energy_sum_uj / 1e6 / n));
    set(r, e, "min", num(g->energy_min_uj / 1e6));
    set(r, e, "max", num(g->energy_max_uj / 1e6));
    set(r, d, "sum", num(seconds(g->duration_sum_ns)));
    set(r, d, "mean", num(seconds(g->duration_sum_ns) / n));
    set(r, d, "min", num(seconds(g->duration_min_ns)));
    set(r, d, "max", num(seconds(g->duration_max_ns)));
    set(r, o, "name", nemb__report_string(g->name));
    set(r, o, "parent", nemb__report_string(g->parent));
    set(r, o, "depth", integer(g->depth));
    set(r, o, "count", integer(g->count));
    set(r, o, "detailed", integer(g->detailed));
    set(r, o, "energy_j", e);
    set(r, o, "duration_s", d);
    push(r, list, o);
  }
  return list;
}

/* ----- totals ----- */

typedef struct span {
  uint64_t a, b;
} span;

static int cmp_span(const void *x, const void *y) {
  const span *p = x, *q = y;
  return (p->a > q->a) - (p->a < q->a);
}

static json_t *noise_warnings(rep *r) {
  const nemb__noise_cfg *c = &r->md->s->noise;
  json_t *list = array(r);
  for (size_t i = 0; i < r->md->n; i++) {
    const noise *nz = r->md->noise ? &r->md->noise[i] : NULL;
    if (nz == NULL || !nz->present) {
      continue;
    }
    bool noisy = nz->has_cv && nz->cv_percent >= c->cv_percent;
    bool dropping = nz->drop_ratio >= c->drop_ratio;
    if (!noisy && !dropping) {
      continue;
    }
    json_t *reasons = array(r);
    char reason[96];
    if (noisy) {
      snprintf(reason, sizeof reason, "within_task_power_cv_above_%gpct", c->cv_percent);
      push(r, reasons, json_string(reason));
    }
    if (dropping) {
      snprintf(reason, sizeof reason, "drop_ratio_above_%gpct", c->drop_ratio * 100);
      push(r, reasons, json_string(reason));
    }
    json_t *w = object(r);
    set(r, w, "task", nemb__report_string(r->md->tasks[i].name));
    set(r, w, "depth", integer(r->md->tasks[i].depth));
    set(r, w, "within_task_power_cv_percent", nz->has_cv ? num(nz->cv_percent) : json_null());
    set(r, w, "drop_ratio", num(nz->drop_ratio));
    set(r, w, "quality", json_string(nz->quality));
    set(r, w, "reasons", reasons);
    push(r, list, w);
  }
  return list;
}

/* Totals over the depth-0 tasks. Their intervals may overlap (several threads), so durations
 * and energies of "the time covered by tasks" use the union of the intervals, never the sum.
 * After the tasks' energies and noise statistics. Returns false when out of memory. */
static bool compute_totals(model *md) {
  const nemb_session *s = md->s;
  nemb__report_totals *t = &md->totals;
  span *spans = malloc((md->n ? md->n : 1) * sizeof *spans);
  if (spans == NULL) {
    return false;
  }
  for (size_t i = 0; i < md->n; i++) {
    const nemb__task_rec *k = &md->tasks[i];
    if (k->depth != 0) {
      continue;
    }
    spans[t->n_top++] = (span){k->t_start, k->t_end};
    t->task_ns += k->t_end - k->t_start;
    t->energy_uj += md->energy_uj[i];
    for (size_t d = 0; d < md->nd; d++) {
      t->dom_uj[d] += md->dom_uj[i * md->nd + d];
    }
  }
  qsort(spans, t->n_top, sizeof *spans, cmp_span);
  size_t hint = 0;
  for (size_t k = 0; k < t->n_top;) {
    uint64_t a = spans[k].a, b = spans[k].b;
    for (k++; k < t->n_top && spans[k].a <= b; k++) {
      b = spans[k].b > b ? spans[k].b : b;
    }
    t->union_ns += b - a;
    t->union_energy_uj += energy_between(md, a, b, &hint);
  }
  free(spans);
  hint = 0;
  t->session_energy_uj = energy_between(md, s->t_begin, s->t_end, &hint);
  if (md->m != NULL) {
    hint = 0;
    nemb__energy_span(md->m, md->count, s->t_begin, s->t_end, NULL, &t->session_unc, &hint);
  }
  t->wall_ns = s->t_end - s->t_begin;
  for (size_t i = 0; md->noise != NULL && i < md->n; i++) {
    const noise *nz = &md->noise[i];
    if (nz->present && nz->has_cv && (!t->any_cv || nz->cv_percent > t->worst_cv_percent)) {
      t->worst_cv_percent = nz->cv_percent;
      t->any_cv = true;
    }
  }
  return true;
}

static json_t *totals_json(rep *r) {
  const nemb__report_totals *t = &r->md->totals;
  double task_s = seconds(t->task_ns);
  json_t *o = object(r);
  set(r, o, "energy_j", num(t->energy_uj / 1e6));
  set(r, o, "duration_s", num(task_s));
  set(r, o, "wall_duration_s", num(seconds(t->wall_ns)));
  set(r, o, "task_duration_s", num(task_s));
  set(r, o, "gap_duration_s",
      num(seconds(t->wall_ns > t->union_ns ? t->wall_ns - t->union_ns : 0)));
  set(r, o, "concurrent_overlap_s", num(seconds(t->task_ns - t->union_ns)));
  set(r, o, "n_tasks", integer(r->md->n));
  set(r, o, "n_tasks_detailed", integer(r->md->groups.n_detailed));
  set(r, o, "n_top_level_tasks", integer(t->n_top));
  set(r, o, "domains", per_domain_j(r, t->dom_uj));
  /* Energy-weighted: with a meter every domain is reported on every task, so the duration of
   * the tasks "where d was reported" is the whole depth-0 task duration. */
  set(r, o, "domains_power_w", per_domain_w(r, t->dom_uj, task_s));
  set(r, o, "sample_interval_ms",
      r->md->m ? integer(nemb_measurement_interval_ms(r->md->m)) : json_null());
  set(r, o, "worst_within_task_power_cv_percent",
      t->any_cv ? num(t->worst_cv_percent) : json_null());
  set(r, o, "noise_warnings", noise_warnings(r));
  set(r, o, "session_energy_j", num(t->session_energy_uj / 1e6));
  uncertainty(r, o, "session_energy_uncertainty", &t->session_unc);
  set(r, o, "gap_energy_j", num((t->session_energy_uj - t->union_energy_uj) / 1e6));
  /* The identity that holds with threads: union + gap = session (issue 10, item 7). */
  set(r, o, "top_level_union_energy_j", num(t->union_energy_uj / 1e6));
  co2e(r, o, "co2e_g", t->energy_uj / 1e6);
  co2e(r, o, "session_co2e_g", t->session_energy_uj / 1e6);
  return o;
}

/* ----- the model ----- */

int nemb__report_model_build(const nemb_session *s, bool series_stats, model *md) {
  memset(md, 0, sizeof *md);
  md->s = s;
  md->m = s->meter;
  if (md->m != NULL) {
    md->nd = nemb_meter_domain_count(md->m);
    md->count = nemb_meter_sample_count(md->m);
  }
  int rc = nemb__session_tasks(s, &md->tasks, &md->n);
  if (rc != 0) {
    return rc;
  }
  size_t n = md->n ? md->n : 1;
  md->dom_uj = calloc(n * (md->nd ? md->nd : 1), sizeof *md->dom_uj);
  md->energy_uj = calloc(n, sizeof *md->energy_uj);
  /* Noise statistics come from the series: without it, none is kept (a million tasks). */
  bool stats = series_stats && s->record_time_series;
  md->noise = stats ? calloc(n, sizeof *md->noise) : NULL;
  md->unc = calloc(n, sizeof *md->unc);
  if (md->dom_uj == NULL || md->energy_uj == NULL || md->unc == NULL ||
      (stats && md->noise == NULL)) {
    nemb__report_model_release(md);
    return NEMB_ENOMEM;
  }
  md->span_a = s->t_begin;
  md->span_b = s->t_end;
  for (size_t i = 0; i < md->n; i++) {
    md->span_a = md->tasks[i].t_start < md->span_a ? md->tasks[i].t_start : md->span_a;
    md->span_b = md->tasks[i].t_end > md->span_b ? md->tasks[i].t_end : md->span_b;
  }
  if (md->m != NULL && nemb__series_fill_build(md) != 0) {
    nemb__report_model_release(md);
    return NEMB_ENOMEM;
  }
  if (md->m != NULL) {
    md->span_first = nemb__series_first_at_or_after(md, md->span_a);
    if (md->span_first < md->count &&
        nemb__store_at(&md->m->store, md->span_first)[0] == md->span_a) {
      md->span_first++; /* the begin point itself */
    }
    nemb__energy_at(md->m, md->count, s->t_begin, md->base_uj, NULL);
    /* Tasks come in start order, so the start hint mostly walks forward. */
    size_t hint = 0;
    for (size_t i = 0; i < md->n; i++) {
      const nemb__task_rec *t = &md->tasks[i];
      md->energy_uj[i] = nemb__energy_span(md->m, md->count, t->t_start, t->t_end,
                                           md->dom_uj + i * md->nd, &md->unc[i], &hint);
    }
  }
  rc = nemb__task_groups_build(md->tasks, md->energy_uj, md->n, s->task_detail_limit, &md->groups);
  /* The series' statistics of the tasks the report details (it writes their series). */
  for (size_t i = 0; rc == 0 && md->noise != NULL && i < md->n; i++) {
    if (md->groups.detailed[i] && !series_walk(md, &md->tasks[i], &md->noise[i], NULL, 0)) {
      rc = NEMB_ENOMEM;
    }
  }
  if (rc == 0 && !compute_totals(md)) {
    rc = NEMB_ENOMEM;
  }
  if (rc != 0) {
    nemb__report_model_release(md);
  }
  return rc;
}

void nemb__report_model_release(model *md) {
  free(md->tasks);
  free(md->dom_uj);
  free(md->energy_uj);
  free(md->unc);
  nemb__task_groups_release(&md->groups);
  free(md->noise);
  free(md->scratch);
  nemb__series_fill_release(md);
  memset(md, 0, sizeof *md);
}

/* A writer over a built model: each domain's name as a JSON string. Returns 0 or NEMB_ENOMEM
 * (then writer_release() is still due). */
static int writer_init(rep *r, model *md) {
  memset(r, 0, sizeof *r);
  r->md = md;
  for (size_t d = 0; d < md->nd; d++) {
    json_t *name = json_string(domain_name(md, d));
    r->dom_key[d] = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
    json_decref(name);
    if (r->dom_key[d] == NULL) {
      return NEMB_ENOMEM;
    }
  }
  return 0;
}

static void writer_release(rep *r) {
  for (size_t d = 0; d < NEMB__MAX_DOMAINS; d++) {
    free(r->dom_key[d]);
  }
  nemb__buf_release(&r->out);
}

/* ----- functions and checkpoints (instrumented code) ----- */

static int cmp_func(const void *x, const void *y) {
  const nemb__func_stats *p = *(const nemb__func_stats *const *)x;
  const nemb__func_stats *q = *(const nemb__func_stats *const *)y;
  if (p->incl_uj != q->incl_uj) {
    return p->incl_uj < q->incl_uj ? 1 : -1;
  }
  int c = strcmp(p->name, q->name);
  return c ? c : (p->line > q->line) - (p->line < q->line);
}

static json_t *functions_json(rep *r, double session_j) {
  const nemb__func_stats *fs = NULL;
  size_t n = nemb__cp_functions(r->md->s, &fs);
  const nemb__func_stats **order = malloc((n ? n : 1) * sizeof *order);
  json_t *list = array(r);
  if (order == NULL) {
    r->oom = true;
    return list;
  }
  for (size_t i = 0; i < n; i++) {
    order[i] = &fs[i];
  }
  qsort(order, n, sizeof *order, cmp_func);
  for (size_t i = 0; i < n; i++) {
    const nemb__func_stats *f = order[i];
    double incl_j = f->incl_uj / 1e6, incl_s = seconds(f->incl_ns);
    json_t *o = object(r);
    set(r, o, "name", nemb__report_string(f->name));
    set(r, o, "context", nemb__report_string(f->context));
    set(r, o, "line", json_integer(f->line));
    set(r, o, "calls", integer(f->calls));
    set(r, o, "energy_j", num(incl_j));
    uncertainty(r, o, "energy_uncertainty", &(nemb__uncertainty){f->unc_uj, f->unc_why});
    set(r, o, "self_energy_j", num(f->self_uj / 1e6));
    set(r, o, "duration_s", num(incl_s));
    set(r, o, "self_duration_s", num(seconds(f->self_ns)));
    set(r, o, "avg_power_w", num(incl_s > 0 ? incl_j / incl_s : 0));
    set(r, o, "share_of_total", num(session_j > 0 ? incl_j / session_j : 0));
    set(r, o, "max_depth", integer(f->max_depth));
    co2e(r, o, "co2e_g", incl_j);
    push(r, list, o);
  }
  free(order);
  return list;
}

/* ----- invocation numbers in call order ----- */

/* The recorder numbers a function's invocations as each thread's records are resolved, so across
 * threads the numbers follow resolution, not calls. The details are in time order; the report
 * renumbers them here, 1, 2, ... per function (name and context) in the order of the enters,
 * and gives each exit its enter's new number. */
typedef struct inv_slot {
  const char *name, *context;
  uint64_t key; /* the recorder's number, or 0 for a function's counter slot */
  uint64_t value;
  bool used;
} inv_slot;

static bool same_str(const char *a, const char *b) {
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static uint64_t slot_hash(const char *name, const char *context, uint64_t key) {
  uint64_t h = 14695981039346656037ull;
  for (const char *s = name ? name : ""; *s; s++) {
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  }
  h = (h ^ 0xff) * 1099511628211ull;
  for (const char *s = context ? context : ""; *s; s++) {
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  }
  return (h ^ key) * 1099511628211ull;
}

static inv_slot *slot(inv_slot *t, size_t cap, const char *name, const char *context,
                      uint64_t key) {
  size_t i = (size_t)slot_hash(name, context, key) & (cap - 1);
  while (t[i].used &&
         !(t[i].key == key && same_str(t[i].name, name) && same_str(t[i].context, context))) {
    i = (i + 1) & (cap - 1);
  }
  if (!t[i].used) {
    t[i] = (inv_slot){name, context, key, 0, true};
  }
  return &t[i];
}

/* New invocation numbers for the @p n details, or NULL (out of memory: the recorder's stay). */
static uint64_t *call_order_numbers(const nemb__cp_detail *det, size_t n) {
  size_t cap = 16;
  while (cap < 4 * n) {
    cap *= 2;
  }
  inv_slot *t = calloc(cap, sizeof *t);
  uint64_t *out = malloc((n ? n : 1) * sizeof *out);
  if (t == NULL || out == NULL) {
    free(t);
    free(out);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    const nemb__cp_detail *e = &det[i];
    inv_slot *s = slot(t, cap, e->name, e->context, e->invocation + 1);
    if (e->enter) {
      inv_slot *counter = slot(t, cap, e->name, e->context, 0);
      s->value = ++counter->value;
    }
    out[i] = s->value ? s->value : e->invocation; /* an exit whose enter was not kept */
  }
  free(t);
  return out;
}

/* Writes the checkpoints block at @p level; its measurements (up to detail_limit) are streamed. */
static void write_checkpoints(rep *r, const nemb__cp_summary *sum, int level) {
  json_t *o = object(r);
  set(r, o, "events", integer(sum->events));
  set(r, o, "invocations", integer(sum->invocations));
  set(r, o, "details_kept", integer(sum->details_kept));
  set(r, o, "details_dropped", integer(sum->details_dropped));
  set(r, o, "unbalanced", integer(sum->unbalanced));
  set(r, o, "extrapolated", integer(sum->extrapolated));
  set(r, o, "detail_limit", integer(r->md->s->detail_limit));
  bool first = true;
  text(r, "{");
  members(r, o, level + 1, &first);
  key(r, "measurements", level + 1, &first);
  text(r, "[");
  bool first_m = true;
  const nemb__cp_detail *det = NULL;
  size_t n = nemb__cp_details(r->md->s, &det);
  uint64_t *inv = call_order_numbers(det, n);
  for (size_t i = 0; i < n && !r->oom; i++) {
    const nemb__cp_detail *e = &det[i];
    uint64_t number = inv ? inv[i] : e->invocation;
    /* The reference's id: "enter:main:1#inv_1_t<thread>", where "1" is the caller's
     * checkpoint_id (nemb_checkpoint()); the id-based fast path has none and uses the line. */
    char *id = NULL;
    char line[16];
    snprintf(line, sizeof line, "%d", e->line);
    if (asprintf(&id, "%s:%s:%s#inv_%llu_t%u", e->enter ? "enter" : "exit", e->name,
                 e->checkpoint_id ? e->checkpoint_id : line, (unsigned long long)number,
                 (unsigned)e->thread) < 0) {
      id = NULL;
    }
    json_t *m = object(r);
    set(r, m, "checkpoint_id", id ? nemb__report_string(id) : NULL);
    free(id);
    /* The same, as fields: what call-graph views (folded stacks, speedscope) read. */
    set(r, m, "name", nemb__report_string(e->name));
    set(r, m, "context", nemb__report_string(e->context));
    set(r, m, "type", json_string(e->enter ? "enter" : "exit"));
    set(r, m, "invocation", integer(number));
    set(r, m, "thread", integer(e->thread));
    set(r, m, "timestamp", integer(e->t_ns));
    set(r, m, "joules", num(e->energy_uj / 1e6));
    set(r, m, "watts", num(e->power_w));
    item(r, level + 2, &first_m);
    emit(r, m, level + 2);
    spill(r);
  }
  free(inv);
  close_(r, level + 1, first_m, "]");
  close_(r, level, first, "}");
}

/* ----- the verdict ----- */

static const char *quality(const model *md, const nemb__cp_summary *cp) {
  if (md->m == NULL) {
    return "no_backend";
  }
  nemb_sampler_stats st;
  nemb_meter_stats(md->m, &st);
  if (st.dropped_at_cap > 0 || st.read_errors * 2 > st.reads || st.samples < 2) {
    return "failed";
  }
  bool lost = false;
  for (size_t d = 0; d < md->m->n_domains; d++) {
    lost = lost || md->m->dom_lost_at[d] != 0;
  }
  bool bridged = md->m->bridge_to_ns > md->m->bridge_from_ns; /* two samplers' samples */
  if (lost || bridged || st.counter_resets > 0 || st.ambiguous_gaps > 0) {
    return "degraded"; /* a domain lost, or energy estimated across a reset or a long gap */
  }
  if (md->n == 0 && cp->invocations == 0 && cp->events == 0) {
    return "no_tasks"; /* nothing measured: even a call still open at the end is a checkpoint */
  }
  if (nemb_meter_is_estimated(md->m)) {
    return "estimated";
  }
  if (md->n == 0) {
    return "checkpoints_only";
  }
  double energy_uj = 0;
  for (size_t i = 0; i < md->n; i++) {
    energy_uj += md->tasks[i].depth == 0 ? md->energy_uj[i] : 0;
  }
  return energy_uj > 0 ? "ok" : "energy_zero";
}

/* ----- entry points ----- */

/* Writes the JSON report of built model @p md: the whole text into *out when @p sink is NULL,
 * else streamed
 * into @p sink (a failed append is sticky there: its commit says so) with *out left NULL.
 * @p summary leaves every time series out. Returns 0 or NEMB_ENOMEM (with the message set). */
static int write_json(model *md, bool summary, nemb__atomic_file *sink, char **out) {
  *out = NULL;
  const nemb_session *s = md->s;
  rep r;
  int rc = writer_init(&r, md);
  if (rc != 0) {
    writer_release(&r);
    return nemb__fail(rc, "out of memory building the report");
  }
  r.sink = sink;
  r.summary = summary;
  nemb__cp_summary cp;
  nemb__cp_get_summary(s, &cp);

  bool first = true;
  text(&r, "{");
  member(&r, "meta", nemb__report_meta(s, quality(r.md, &cp)), 1, &first);
  key(&r, "tasks", 1, &first);
  text(&r, "[");
  bool first_task = true;
  for (size_t i = 0; i < r.md->n && !r.oom; i++) {
    if (r.md->groups.detailed[i]) {
      item(&r, 2, &first_task);
      write_task(&r, i, 2);
      spill(&r);
    }
  }
  close_(&r, 1, first_task, "]");
  member(&r, "totals", totals_json(&r), 1, &first);
  if (r.md->groups.n_detailed < r.md->n) {
    /* Only when some task's instances were not all detailed: the envelope stays the
     * reference's otherwise. */
    member(&r, "task_groups", task_groups_json(&r), 1, &first);
  }
  if (cp.events > 0) {
    member(&r, "functions", functions_json(&r, md->totals.session_energy_uj / 1e6), 1, &first);
    spill(&r);
    key(&r, "checkpoints", 1, &first);
    write_checkpoints(&r, &cp, 1);
  }
  if (s->record_time_series && s->columnar && !summary) {
    /* Last: a reader streaming the file meets every small part before the big columns. */
    key(&r, "timeseries", 1, &first);
    nemb__columnar_session(md, &r.out, 1, r.dom_key, sink ? spill_cb : NULL, &r);
  }
  close_(&r, 0, first, "}");

  bool failed = r.oom || r.out.oom;
  if (!failed && sink != NULL) {
    if (r.sink_error == 0) {
      nemb__atomic_append(sink, r.out.data, r.out.len);
    }
  } else if (!failed) {
    *out = nemb__buf_detach(&r.out);
    failed = *out == NULL;
  }
  writer_release(&r);
  return failed ? nemb__fail(NEMB_ENOMEM, "out of memory building the report") : 0;
}

/* Builds the model of @p s and writes from it: the whole text or the summary into *out (sink
 * NULL), or the report streamed into @p sink and, when @p summary_out is not NULL, the summary
 * from the same model into it. */
static int build_and_write(const nemb_session *s, bool summary, nemb__atomic_file *sink, char **out,
                           char **summary_out) {
  model md;
  int rc = nemb__report_model_build(s, true, &md);
  if (rc != 0) {
    *out = NULL;
    return nemb__fail(rc, "out of memory building the report");
  }
  rc = write_json(&md, summary, sink, out);
  if (rc == 0 && summary_out != NULL && write_json(&md, true, NULL, summary_out) != 0) {
    *summary_out = NULL; /* the file is not at fault: the summary is built again when asked */
    nemb__clear_error();
  }
  nemb__report_model_release(&md);
  return rc;
}

int nemb__report_json(const nemb_session *s, char **out) {
  return build_and_write(s, false, NULL, out, NULL);
}

int nemb__report_json_summary(const nemb_session *s, char **out) {
  return build_and_write(s, true, NULL, out, NULL);
}

int nemb__report_json_stream(const nemb_session *s, nemb__atomic_file *f, char **summary) {
  char *none = NULL;
  return build_and_write(s, false, f, &none, summary);
}

/* A CSV field, by the one rule (nemb_csv_field); NULL writes an empty field. */
static void csv_field(nemb__buf *b, const char *v) {
  if (v != NULL) {
    nemb__buf_csv_field(b, v);
  }
}

/* The cells every row starts with, NEMB_CSV_META_COLUMNS from the report's meta (the values
 * its JSON holds; null as an empty field), each followed by a comma, into @p b. */
static bool csv_meta_cells(const model *md, nemb__buf *b) {
  static const char *const keys[] = {NEMB_CSV_META_COLUMNS};
  nemb__cp_summary cp;
  nemb__cp_get_summary(md->s, &cp);
  json_t *meta = nemb__report_meta(md->s, quality(md, &cp));
  if (meta == NULL) {
    return false;
  }
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    csv_field(b, json_string_value(json_object_get(meta, keys[k])));
    nemb__buf_append(b, ",", 1);
  }
  json_decref(meta);
  return true;
}

int nemb__report_csv(const nemb_session *s, char **out) {
  /* Columns, one row per task in start order, units in the names as in the JSON report:
   *   run_id ... measurement_quality   NEMB_CSV_META_COLUMNS: the provenance and identity of
   *                        the session on every row, as in the CLI's CSVs (meta's values)
   *   name                 the task's name
   *   depth                0 for a top-level task, 1 inside one, ...
   *   parent               the enclosing task's name; empty at depth 0
   *   energy_j             in-total energy (top-level domains: packages, DRAM, GPUs), joules
   *   avg_power_w          energy_j / duration_s, watts
   *   duration_s           monotonic-clock duration, seconds
   *   task_started_at, task_ended_at   the task's wall-clock POSIX seconds (display only; the
   *                        JSON's started_at/ended_at, renamed apart from the session's started_at)
   *   started_at_mono_ns, ended_at_mono_ns   CLOCK_MONOTONIC stamps, nanoseconds
   *   closed_at_end        true when the task was still open at the session's end
   *   <domain>_j           one column per domain, in the meter's order: that domain's energy,
   *                        joules (nested domains such as core are listed, not added to energy_j)
   * Numbers are written with %.17g, so they read back to the same doubles. Without a backend
   * there are no domain columns and energies are 0. */
  *out = NULL;
  model md;
  int rc = nemb__report_model_build(s, false, &md);
  if (rc != 0) {
    return nemb__fail(rc, "out of memory building the CSV report");
  }
  model *r = &md;
  nemb__buf b = NEMB__BUF_INIT, meta = NEMB__BUF_INIT;
  static const char *const meta_cols[] = {NEMB_CSV_META_COLUMNS};
  for (size_t k = 0; k < sizeof meta_cols / sizeof meta_cols[0]; k++) {
    nemb__buf_printf(&b, "%s,", meta_cols[k]);
  }
  bool meta_ok = csv_meta_cells(r, &meta);
  nemb__buf_printf(&b, "name,depth,parent,energy_j,avg_power_w,duration_s,task_started_at,"
                       "task_ended_at,started_at_mono_ns,ended_at_mono_ns,closed_at_end");
  for (size_t d = 0; d < r->nd; d++) {
    char col[NEMB__NAME_MAX + 8];
    snprintf(col, sizeof col, "%s_j", domain_name(r, d));
    nemb__buf_append(&b, ",", 1);
    csv_field(&b, col);
  }
  nemb__buf_append(&b, "\n", 1);
  for (size_t i = 0; i < r->n; i++) {
    const nemb__task_rec *t = &r->tasks[i];
    double dur = seconds(t->t_end - t->t_start);
    double energy = r->energy_uj[i] / 1e6;
    if (meta.len > 0) {
      nemb__buf_append(&b, meta.data, meta.len);
    }
    csv_field(&b, t->name);
    nemb__buf_printf(&b, ",%u,", (unsigned)t->depth);
    csv_field(&b, t->parent);
    nemb__buf_printf(&b, ",%.17g,%.17g,%.17g,%.17g,%.17g,%llu,%llu,%s", energy,
                     dur > 0 ? energy / dur : 0, dur, nemb__report_wall(s, t->t_start),
                     nemb__report_wall(s, t->t_end), (unsigned long long)t->t_start,
                     (unsigned long long)t->t_end, t->closed_at_end ? "true" : "false");
    for (size_t d = 0; d < r->nd; d++) {
      nemb__buf_printf(&b, ",%.17g", r->dom_uj[i * r->nd + d] / 1e6);
    }
    nemb__buf_append(&b, "\n", 1);
  }
  nemb__report_model_release(&md);
  meta_ok = meta_ok && !meta.oom;
  nemb__buf_release(&meta);
  *out = nemb__buf_detach(&b);
  if (*out == NULL || !meta_ok) {
    free(*out);
    *out = NULL;
    return nemb__fail(NEMB_ENOMEM, "out of memory building the CSV report");
  }
  return 0;
}
