/*
 * plot_build.c - the plot model (plot.h) from a saved report's parts, as a reader (plot_stream.c)
 * meets them. The one place for the rules that turn a report's tasks and samples into the chart.
 *
 * Only the samples inside task windows were saved (each task's "timeseries", or in the columnar
 * layout a window of the report's one series), so the series is rebuilt from them as pieces of
 * constant power:
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
 * and are merged into one series (sorted by start, the first inserted wins). A piece equal in
 * both ends to one already held is dropped as it comes: the merge would skip it anyway, so the
 * chart is the same and a parent's repeats of its children cost no memory. Time outside every
 * task is unknown (a hole in the chart).
 *
 * In the columnar layout a task's samples are its bounding start point, the window's samples of
 * the one series (the first with the window's first_power: its power since the task's start) and
 * its end point: the same list the per-sample layout writes, so the same rule and the same chart.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plot.h"

typedef struct piece {
  uint64_t a, b; /* CLOCK_MONOTONIC ns */
  size_t row;    /* its powers: rows[row * nd ...] */
  size_t order;  /* insertion order, to keep the sort stable */
} piece;

/* A task whose window of the one series was not read yet (the series came after the tasks). */
typedef struct later {
  size_t task;     /* its index in p->tasks */
  uint64_t t0, t1; /* its window (monotonic) */
  uint64_t first, count;
  uint64_t start_t, end_t;
  bool has_start, has_end, has_first_w;
  size_t vals; /* 4 x nd doubles in later_vals: dom_j, start_w, end_w, first_w */
} later;

struct nemb__plot_rb {
  nemb__plot *p;
  char *label;
  nemb__plot_rmeta meta;
  bool frozen; /* the domains are fixed (rows have nd columns) */

  /* Pieces, and the set of their (a, b) (open addressing, linear probing, at most half full). */
  piece *v;
  size_t n, cap;
  double *rows;
  struct slot {
    uint32_t idx; /* piece index + 1; 0: empty */
    uint32_t fp;  /* a fingerprint of (a, b): most probes never touch the piece */
  } * set;
  size_t set_cap;

  /* Tasks. */
  size_t n_tasks, with_series, bad_task;
  uint64_t first_t0, last_t1, mono0;
  double wall0;

  /* The one series (columnar). */
  uint64_t *ct;
  size_t cn, ccap;
  double *cw[NEMB__MAX_DOMAINS];
  size_t cwn[NEMB__MAX_DOMAINS], cwcap[NEMB__MAX_DOMAINS];
  later *later;
  size_t n_later, later_cap;
  double *later_vals;
  size_t n_vals, vals_cap;

  /* Scratch: one window's samples. */
  uint64_t *st;
  double *sw;
  size_t scap;
};

nemb__plot_rb *nemb__plot_rb_create(nemb__plot *p, const char *label) {
  nemb__plot_rb *b = calloc(1, sizeof *b);
  if (b == NULL) {
    return NULL;
  }
  b->p = p;
  b->label = strdup(label ? label : "");
  if (b->label == NULL) {
    free(b);
    return NULL;
  }
  b->meta.duration_total_s = b->meta.energy_j = NAN;
  b->meta.session_energy_j = b->meta.interval_ms = NAN;
  b->meta.argv_title = (nemb__buf)NEMB__BUF_INIT;
  b->bad_task = SIZE_MAX;
  b->first_t0 = UINT64_MAX;
  b->wall0 = NAN;
  return b;
}

void nemb__plot_rb_destroy(nemb__plot_rb *b) {
  if (b == NULL) {
    return;
  }
  free(b->meta.session_name);
  free(b->meta.energy_source);
  free(b->meta.quality);
  free(b->meta.started_at);
  nemb__buf_release(&b->meta.argv_title);
  free(b->v);
  free(b->rows);
  free(b->set);
  free(b->ct);
  for (size_t d = 0; d < NEMB__MAX_DOMAINS; d++) {
    free(b->cw[d]);
  }
  free(b->later);
  free(b->later_vals);
  free(b->st);
  free(b->sw);
  free(b->label);
  free(b);
}

nemb__plot_rmeta *nemb__plot_rb_meta(nemb__plot_rb *b) {
  return &b->meta;
}

void nemb__plot_rb_argv(nemb__plot_rb *b, const char *arg, size_t len) {
  b->meta.argc++;
  /* "codegreen:" and then " arg" while the title is under 200 bytes. */
  if (arg != NULL && 10 + b->meta.argv_title.len < 200) {
    nemb__buf_printf(&b->meta.argv_title, " %.*s", (int)len, arg);
  }
}

/* ----- domains ----- */

int nemb__plot_rb_domain_index(const nemb__plot_rb *b, const char *name, size_t len) {
  for (size_t d = 0; d < b->p->nd; d++) {
    const char *have = b->p->domains[d].name;
    if (strncmp(have, name, len) == 0 && have[len] == '\0') {
      return (int)d;
    }
  }
  return -1;
}

int nemb__plot_rb_domain(nemb__plot_rb *b, const char *name, size_t len, const char *kind,
                         const bool *in_total) {
  nemb__plot *p = b->p;
  int have = nemb__plot_rb_domain_index(b, name, len);
  if (have >= 0 || b->frozen || p->nd == NEMB__MAX_DOMAINS) {
    return have;
  }
  nemb__plot_domain *d = &p->domains[p->nd];
  snprintf(d->name, sizeof d->name, "%.*s", (int)len, name);
  snprintf(d->kind, sizeof d->kind, "%s", kind ? kind : "");
  d->in_total = in_total ? *in_total : true;
  return (int)p->nd++;
}

/* ----- pieces ----- */

static uint64_t hash_of(uint64_t a, uint64_t b) {
  uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
  return h ^ (h >> 29);
}

static bool set_grow(nemb__plot_rb *b) {
  size_t cap = b->set_cap ? b->set_cap * 2 : 1024;
  struct slot *set = calloc(cap, sizeof *set);
  if (set == NULL) {
    return false;
  }
  for (size_t i = 0; i < b->n; i++) {
    uint64_t h = hash_of(b->v[i].a, b->v[i].b);
    size_t s = (size_t)h & (cap - 1);
    while (set[s].idx != 0) {
      s = (s + 1) & (cap - 1);
    }
    set[s] = (struct slot){(uint32_t)(i + 1), (uint32_t)(h >> 32)};
  }
  free(b->set);
  b->set = set;
  b->set_cap = cap;
  return true;
}

/* Adds the piece (a, b] with powers @p row (nd values) unless one with the same ends is held.
 * Returns 0 or NEMB_ENOMEM. */
static int add_piece(nemb__plot_rb *b, uint64_t a, uint64_t e, const double *row) {
  size_t nd = b->p->nd;
  if (e <= a || nd == 0) {
    return 0;
  }
  if (2 * (b->n + 1) > b->set_cap && !set_grow(b)) {
    return NEMB_ENOMEM;
  }
  uint64_t h = hash_of(a, e);
  size_t s = (size_t)h & (b->set_cap - 1);
  for (; b->set[s].idx != 0; s = (s + 1) & (b->set_cap - 1)) {
    const piece *q = &b->v[b->set[s].idx - 1];
    if (b->set[s].fp == (uint32_t)(h >> 32) && q->a == a && q->b == e) {
      return 0; /* a parent's repeat of its child's piece (or the reverse): merged away */
    }
  }
  if (b->n == UINT32_MAX - 1) {
    return NEMB_ENOMEM;
  }
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    piece *v = realloc(b->v, cap * sizeof *v);
    if (v == NULL) {
      return NEMB_ENOMEM;
    }
    b->v = v;
    double *rows = realloc(b->rows, cap * nd * sizeof *rows);
    if (rows == NULL) {
      return NEMB_ENOMEM;
    }
    b->rows = rows;
    b->cap = cap;
  }
  b->v[b->n] = (piece){a, e, b->n, b->n};
  memcpy(b->rows + b->n * nd, row, nd * sizeof *row);
  b->set[s] = (struct slot){(uint32_t)(b->n + 1), (uint32_t)(h >> 32)};
  b->n++;
  return 0;
}

/* The pieces of constant power of one task from its samples (see the file comment): @p n samples
 * at t[i] with powers w[i * nd + d], @p dom_j its per-domain energies, over [t0, t1]. */
static int task_pieces(nemb__plot_rb *b, uint64_t t0, uint64_t t1, const double *dom_j,
                       const uint64_t *t, const double *w, size_t n) {
  size_t nd = b->p->nd;
  double used_j[NEMB__MAX_DOMAINS] = {0}, row[NEMB__MAX_DOMAINS];
  uint64_t prev = t0;
  for (size_t i = 0; i < n; i++) {
    if (t[i] <= prev || t[i] > t1) {
      continue; /* a repeated timestamp, or a sample outside the window */
    }
    int rc = add_piece(b, prev, t[i], w + i * nd);
    if (rc != 0) {
      return rc;
    }
    for (size_t d = 0; d < nd; d++) {
      used_j[d] += w[i * nd + d] * (double)(t[i] - prev) / 1e9;
    }
    prev = t[i];
  }
  if (t1 > prev) {
    /* The tail (or the whole of a task too short to hold a sample). */
    double secs = (double)(t1 - prev) / 1e9;
    for (size_t d = 0; d < nd; d++) {
      row[d] = (dom_j[d] - used_j[d]) / secs;
    }
    return add_piece(b, prev, t1, row);
  }
  return 0;
}

/* ----- the one series (columnar layout) ----- */

static bool grow(void **v, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) {
    return true;
  }
  size_t c = *cap ? *cap * 2 : 4096;
  while (c < need) {
    c *= 2;
  }
  void *g = realloc(*v, c * size);
  if (g == NULL) {
    return false;
  }
  *v = g;
  *cap = c;
  return true;
}

int nemb__plot_rb_col_time(nemb__plot_rb *b, uint64_t t_ns) {
  if (!grow((void **)&b->ct, &b->ccap, b->cn + 1, sizeof *b->ct)) {
    return NEMB_ENOMEM;
  }
  b->ct[b->cn++] = t_ns;
  return 0;
}

int nemb__plot_rb_col_power(nemb__plot_rb *b, size_t d, double w) {
  b->frozen = true;
  if (d >= b->p->nd) {
    return 0;
  }
  if (!grow((void **)&b->cw[d], &b->cwcap[d], b->cwn[d] + 1, sizeof *b->cw[d])) {
    return NEMB_ENOMEM;
  }
  b->cw[d][b->cwn[d]++] = w;
  return 0;
}

/* How many of the one series' points are read in full (time and every domain's power). */
static size_t cols_read(const nemb__plot_rb *b) {
  size_t n = b->cn;
  for (size_t d = 0; d < b->p->nd; d++) {
    n = b->cwn[d] < n ? b->cwn[d] : n;
  }
  return n;
}

/* A window task's samples: start, the window of the one series, end; then its pieces. */
static int window_pieces(nemb__plot_rb *b, const later *l, const double *vals) {
  size_t nd = b->p->nd;
  size_t avail = b->cn;
  uint64_t first = l->first < avail ? l->first : avail;
  uint64_t count = l->count < avail - first ? l->count : avail - first;
  size_t n = (size_t)count + 2;
  if (!grow((void **)&b->st, &b->scap, n, sizeof *b->st)) {
    return NEMB_ENOMEM;
  }
  double *sw = realloc(b->sw, b->scap * (nd ? nd : 1) * sizeof *sw);
  if (sw == NULL) {
    return NEMB_ENOMEM;
  }
  b->sw = sw;
  size_t k = 0;
  if (l->has_start) {
    b->st[k] = l->start_t;
    memcpy(sw + k * nd, vals + nd, nd * sizeof *sw);
    k++;
  }
  for (uint64_t i = first; i < first + count; i++, k++) {
    b->st[k] = b->ct[i];
    for (size_t d = 0; d < nd; d++) {
      sw[k * nd + d] = i < b->cwn[d] ? b->cw[d][i] : NAN;
    }
    if (i == l->first && l->has_first_w) {
      memcpy(sw + k * nd, vals + 3 * nd, nd * sizeof *sw); /* its power since the task's start */
    }
  }
  if (l->has_end) {
    b->st[k] = l->end_t;
    memcpy(sw + k * nd, vals + 2 * nd, nd * sizeof *sw);
    k++;
  }
  return task_pieces(b, l->t0, l->t1, vals, b->st, sw, k);
}

/* ----- tasks ----- */

int nemb__plot_rb_task(nemb__plot_rb *b, const nemb__plot_rtask *t) {
  nemb__plot *p = b->p;
  size_t i = b->n_tasks++;
  if (!t->has_mono) {
    b->bad_task = b->bad_task < i ? b->bad_task : i;
  }
  uint64_t t0 = t->has_mono ? t->t0 : 0, t1 = t->has_mono ? t->t1 : 0;
  if (t->has_mono) {
    b->first_t0 = t0 < b->first_t0 ? t0 : b->first_t0;
    b->last_t1 = t1 > b->last_t1 ? t1 : b->last_t1;
  }
  if (i == 0) {
    b->wall0 = t->wall_t0;
    b->mono0 = t->has_mono ? t0 : 0;
  }
  int rc =
      nemb__plot_add_task(p, t->name, t->parent, t->depth, t0, t1, t->energy_j, t->closed_at_end);
  if (rc != 0 || t->series == NEMB__PLOT_SERIES_NONE) {
    return rc;
  }
  b->with_series++;
  b->frozen = true;
  if (!t->has_mono || p->nd == 0) {
    return 0; /* refused (the first such task) or nothing to draw */
  }
  t1 = p->tasks[i].t1; /* never before t0 */
  if (t->series == NEMB__PLOT_SERIES_POINTS) {
    return task_pieces(b, t0, t1, t->dom_j, t->t, t->w, t->n);
  }
  size_t nd = p->nd;
  later l = {i,        t0,           t1,         t->first,       t->count, t->start_t,
             t->end_t, t->has_start, t->has_end, t->has_first_w, b->n_vals};
  double vals[4 * NEMB__MAX_DOMAINS];
  memcpy(vals, t->dom_j, nd * sizeof *vals);
  memcpy(vals + nd, t->start_w, nd * sizeof *vals);
  memcpy(vals + 2 * nd, t->end_w, nd * sizeof *vals);
  memcpy(vals + 3 * nd, t->first_w, nd * sizeof *vals);
  size_t have = cols_read(b);
  if (t->count <= have && t->first <= have - t->count) {
    return window_pieces(b, &l, vals);
  }
  /* The one series is not read yet (it follows the tasks): keep the window for the end. */
  if (!grow((void **)&b->later, &b->later_cap, b->n_later + 1, sizeof *b->later) ||
      !grow((void **)&b->later_vals, &b->vals_cap, b->n_vals + 4 * nd, sizeof *b->later_vals)) {
    return NEMB_ENOMEM;
  }
  memcpy(b->later_vals + b->n_vals, vals, 4 * nd * sizeof *vals);
  b->n_vals += 4 * nd;
  b->later[b->n_later++] = l;
  return 0;
}

/* ----- the model ----- */

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

static int cmp_piece(const void *x, const void *y) {
  const piece *p = x, *q = y;
  if (p->a != q->a) {
    return p->a < q->a ? -1 : 1;
  }
  return (p->order > q->order) - (p->order < q->order);
}

/* The merged series, on x = 0 at @p origin. */
static int series(nemb__plot_rb *b, uint64_t origin) {
  nemb__plot *p = b->p;
  if (b->n > 1) {
    qsort(b->v, b->n, sizeof *b->v, cmp_piece);
  }
  /* Count the merged intervals first: the plot resamples above its limit. */
  uint64_t reach = 0, merged = 0;
  for (size_t j = 0; j < b->n; j++) {
    if (b->v[j].b > reach) {
      merged++;
      reach = b->v[j].b;
    }
  }
  int rc = nemb__plot_series_begin(p, merged);
  reach = 0;
  for (size_t j = 0; rc == 0 && j < b->n; j++) {
    const piece *pc = &b->v[j];
    if (pc->b <= reach) {
      continue; /* covered already, by an enclosing task's identical samples */
    }
    uint64_t a = pc->a > reach ? pc->a : reach;
    nemb__plot_series_add(p, a - origin, pc->b - origin, b->rows + pc->row * p->nd);
    reach = pc->b;
  }
  return rc != 0 ? rc : nemb__plot_series_end(p);
}

static int take_meta(nemb__plot_rb *b) {
  nemb__plot *p = b->p;
  nemb__plot_rmeta *m = &b->meta;
  p->session_name = m->session_name;
  p->energy_source = m->energy_source;
  p->quality = m->quality;
  p->started_at = m->started_at;
  m->session_name = m->energy_source = m->quality = m->started_at = NULL;
  p->origin = strdup(b->label);
  if (p->session_name != NULL) {
    p->title = strdup(p->session_name);
  } else if (m->argc > 0) {
    nemb__buf t = NEMB__BUF_INIT;
    nemb__buf_printf(&t, "codegreen:%s", m->argv_title.data ? m->argv_title.data : "");
    p->title = nemb__buf_detach(&t);
  } else {
    p->title = strdup("codegreen session");
  }
  if (p->title == NULL || p->origin == NULL) {
    return NEMB_ENOMEM;
  }
  p->energy_j = m->energy_j;
  p->session_energy_j = m->session_energy_j;
  p->n_top_level_tasks = m->n_top_level_tasks;
  p->interval_ms = m->interval_ms;
  return 0;
}

int nemb__plot_rb_finish(nemb__plot_rb *b, bool have_tasks) {
  nemb__plot *p = b->p;
  const char *label = b->label;
  if (!have_tasks) {
    return nemb__fail(NEMB_EINVAL, "%s is not a codegreen report (it has no \"tasks\" list)",
                      label);
  }
  if (b->n_tasks == 0) {
    return nemb__fail(NEMB_EINVAL, "%s has no tasks, so it holds no time series to plot", label);
  }
  if (b->with_series == 0) {
    return nemb__fail(NEMB_EINVAL,
                      "%s holds no time series (its tasks' \"timeseries\" are null): record "
                      "with Session(record_time_series=True), record_time_series = 1 in C, or "
                      "codegreen run --time-series; or plot the session itself before it is "
                      "destroyed (nemb_session_export_plot, codegreen run --export-plot, "
                      "codegreen measure --export-plot: a measure report keeps no series)",
                      label);
  }
  int rc = take_meta(b);
  if (rc != 0) {
    return rc;
  }
  if (b->bad_task != SIZE_MAX) {
    return nemb__fail(NEMB_EINVAL,
                      "task %zu of %s has no started_at_mono_ns / ended_at_mono_ns, which "
                      "place it on the time series' clock",
                      b->bad_task, label);
  }
  for (size_t i = 0; i < b->n_later && rc == 0; i++) {
    rc = window_pieces(b, &b->later[i], b->later_vals + b->later[i].vals);
  }
  if (rc != 0) {
    return rc;
  }

  /* Where x = 0 lies on the monotonic clock: the session's start. The report gives it in wall
   * time (meta.started_at) and each task in both clocks, so the first task's two stamps place
   * it; without them the first task's start serves. */
  uint64_t origin = b->first_t0;
  double wall_begin = parse_rfc3339(p->started_at);
  if (isfinite(wall_begin) && isfinite(b->wall0)) {
    double back_ns = (b->wall0 - wall_begin) * 1e9;
    if (back_ns > 0 && back_ns < (double)b->mono0) {
      origin = b->mono0 - (uint64_t)llround(back_ns);
    }
  }
  origin = origin < b->first_t0 ? origin : b->first_t0;
  p->t0_mono_ns = origin;
  uint64_t span = b->last_t1 - origin;
  double dur_s = b->meta.duration_total_s;
  if (isfinite(dur_s) && dur_s * 1e9 > (double)span) {
    span = (uint64_t)llround(dur_s * 1e9);
  }
  p->span_ns = span;
  for (size_t i = 0; i < p->n_tasks; i++) {
    p->tasks[i].t0 -= origin;
    p->tasks[i].t1 -= origin;
  }
  return series(b, origin);
}
