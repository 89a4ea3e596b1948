/*
 * plot_model.c - the plot's model (plot.h): tasks, the series builder (raw intervals, or
 * energy-preserving buckets for long sessions) and what the writers share (colours, the
 * provenance line, UTF-8 lengths). Below everything else of the plot: plot_source.c fills it,
 * plot_html.c and plot_png.c draw it, plot.c's entry points tie them together.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"

static size_t max_points_override;

void nemb__plot_set_max_points(size_t n) {
  max_points_override = n;
}

void nemb__plot_init(nemb__plot *p) {
  memset(p, 0, sizeof *p);
  p->session_energy_j = NAN;
  p->interval_ms = NAN;
}

size_t nemb__plot_top_level_tasks(const nemb__plot *p) {
  size_t top = 0;
  for (size_t i = 0; i < p->n_tasks; i++) {
    top += p->tasks[i].depth == 0;
  }
  return p->n_top_level_tasks > top ? p->n_top_level_tasks : top;
}

void nemb__plot_release(nemb__plot *p) {
  free(p->title);
  free(p->session_name);
  free(p->energy_source);
  free(p->quality);
  free(p->started_at);
  free(p->origin);
  for (size_t i = 0; i < p->n_tasks; i++) {
    free(p->tasks[i].name);
    free(p->tasks[i].parent);
  }
  free(p->tasks);
  free(p->t);
  free(p->w);
  free(p->total_w);
  free(p->min_w);
  free(p->max_w);
  free(p->grid);
  nemb__plot_init(p);
}

int nemb__plot_add_task(nemb__plot *p, const char *name, const char *parent, uint32_t depth,
                        uint64_t t0, uint64_t t1, double energy_j, bool closed_at_end) {
  if ((p->n_tasks & (p->n_tasks - 1)) == 0) { /* full at 0, 1, 2, 4, 8, ...: double it */
    size_t cap = p->n_tasks ? p->n_tasks * 2 : 1;
    nemb__plot_task *tasks = realloc(p->tasks, cap * sizeof *tasks);
    if (tasks == NULL) {
      return NEMB_ENOMEM;
    }
    p->tasks = tasks;
  }
  nemb__plot_task *t = &p->tasks[p->n_tasks];
  t->name = strdup(name ? name : "");
  t->parent = parent ? strdup(parent) : NULL;
  if (t->name == NULL || (parent != NULL && t->parent == NULL)) {
    free(t->name);
    free(t->parent);
    return NEMB_ENOMEM;
  }
  t->depth = depth;
  t->t0 = t0;
  t->t1 = t1 > t0 ? t1 : t0;
  t->energy_j = energy_j;
  t->closed_at_end = closed_at_end;
  p->n_tasks++;
  return 0;
}

/* ----- the series ----- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static bool reserve(nemb__plot *p, size_t need) {
  if (p->oom) {
    return false;
  }
  if (need <= p->cap) {
    return true;
  }
  size_t cap = p->cap ? p->cap : 1024;
  while (cap < need) {
    cap *= 2;
  }
  size_t nd = p->nd ? p->nd : 1;
  uint64_t *t = realloc(p->t, cap * sizeof *t);
  if (t != NULL) {
    p->t = t;
  }
  double *w = realloc(p->w, cap * nd * sizeof *w);
  if (w != NULL) {
    p->w = w;
  }
  double *tot = realloc(p->total_w, cap * sizeof *tot);
  if (tot != NULL) {
    p->total_w = tot;
  }
  bool ok = t != NULL && w != NULL && tot != NULL;
  if (ok && p->resampled) {
    double *mn = realloc(p->min_w, cap * sizeof *mn);
    if (mn != NULL) {
      p->min_w = mn;
    }
    double *mx = realloc(p->max_w, cap * sizeof *mx);
    if (mx != NULL) {
      p->max_w = mx;
    }
    ok = mn != NULL && mx != NULL;
  }
  if (!ok) {
    p->oom = true;
    return false;
  }
  p->cap = cap;
  return true;
}

static double total_of(const nemb__plot *p, const double *w) {
  if (p->nd == 0) {
    return NAN;
  }
  double sum = 0;
  for (size_t d = 0; d < p->nd; d++) {
    if (p->domains[d].in_total) {
      sum += w[d];
    }
  }
  return sum;
}

/* Appends the point (t, watts): the power over (previous point, t]. */
static void push_point(nemb__plot *p, uint64_t t, const double *watts, double mn, double mx) {
  if (!reserve(p, p->n + 1)) {
    return;
  }
  size_t i = p->n++;
  p->t[i] = t;
  double *row = p->w + i * (p->nd ? p->nd : 1);
  for (size_t d = 0; d < p->nd; d++) {
    row[d] = watts ? watts[d] : NAN;
  }
  p->total_w[i] = watts ? total_of(p, watts) : NAN;
  if (p->resampled) {
    p->min_w[i] = mn;
    p->max_w[i] = mx;
  }
}

int nemb__plot_series_begin(nemb__plot *p, uint64_t expected) {
  p->max_points = max_points_override ? max_points_override : NEMB__PLOT_MAX_POINTS;
  p->raw_intervals = 0;
  p->resampled = expected > p->max_points && p->span_ns > p->max_points;
  if (p->resampled) {
    /* Bucket boundaries: a uniform grid, plus every task's ends so that no bucket straddles
     * one and the area over each task window stays exact. */
    size_t n_uniform = p->max_points;
    size_t cap = n_uniform + 1 + 2 * p->n_tasks;
    p->grid = malloc(cap * sizeof *p->grid);
    if (p->grid == NULL) {
      return NEMB_ENOMEM;
    }
    size_t g = 0;
    for (size_t k = 0; k <= n_uniform; k++) {
      /* In double: exact to well under a nanosecond for any session shorter than 100 days. */
      p->grid[g++] = (uint64_t)((double)p->span_ns * (double)k / (double)n_uniform);
    }
    p->grid[n_uniform] = p->span_ns;
    for (size_t i = 0; i < p->n_tasks; i++) {
      p->grid[g++] = p->tasks[i].t0 < p->span_ns ? p->tasks[i].t0 : p->span_ns;
      p->grid[g++] = p->tasks[i].t1 < p->span_ns ? p->tasks[i].t1 : p->span_ns;
    }
    qsort(p->grid, g, sizeof *p->grid, cmp_u64);
    size_t u = 0;
    for (size_t k = 0; k < g; k++) {
      if (u == 0 || p->grid[k] != p->grid[u - 1]) {
        p->grid[u++] = p->grid[k];
      }
    }
    p->n_grid = u;
    p->k = 1;
    memset(p->acc, 0, sizeof p->acc);
    p->acc_known_ns = 0;
    p->acc_min = INFINITY;
    p->acc_max = -INFINITY;
  }
  if (!reserve(p, p->resampled ? p->n_grid : (size_t)expected + 2)) {
    return NEMB_ENOMEM;
  }
  push_point(p, 0, NULL, NAN, NAN);
  return 0;
}

/* Closes the bucket ending at grid[k] as a point. */
static void flush_bucket(nemb__plot *p) {
  double w[NEMB__MAX_DOMAINS];
  bool known = p->acc_known_ns > 0;
  for (size_t d = 0; d < p->nd; d++) {
    w[d] = known ? p->acc[d] / p->acc_known_ns : NAN;
  }
  push_point(p, p->grid[p->k], known ? w : NULL, known ? p->acc_min : NAN,
             known ? p->acc_max : NAN);
  memset(p->acc, 0, sizeof p->acc);
  p->acc_known_ns = 0;
  p->acc_min = INFINITY;
  p->acc_max = -INFINITY;
  p->k++;
}

void nemb__plot_series_add(nemb__plot *p, uint64_t a, uint64_t b, const double *watts) {
  if (b > p->span_ns) {
    b = p->span_ns;
  }
  if (p->oom || b <= a) {
    return;
  }
  p->raw_intervals++;
  bool known = watts != NULL && p->nd > 0;
  for (size_t d = 0; known && d < p->nd; d++) {
    known = !isnan(watts[d]);
  }
  if (!p->resampled) {
    uint64_t last = p->t[p->n - 1];
    if (a > last) {
      push_point(p, a, NULL, NAN, NAN); /* a hole: nothing known over (last, a] */
    } else if (a < last) {
      return; /* overlaps what was added: callers add in order, so this is a duplicate */
    }
    push_point(p, b, known ? watts : NULL, NAN, NAN);
    return;
  }
  double total = known ? total_of(p, watts) : NAN;
  while (p->k < p->n_grid && p->grid[p->k] <= a) {
    flush_bucket(p);
  }
  while (p->k < p->n_grid) {
    uint64_t lo = p->grid[p->k - 1] > a ? p->grid[p->k - 1] : a;
    uint64_t hi = p->grid[p->k] < b ? p->grid[p->k] : b;
    if (known && hi > lo) {
      double ns = (double)(hi - lo);
      for (size_t d = 0; d < p->nd; d++) {
        p->acc[d] += watts[d] * ns;
      }
      p->acc_known_ns += ns;
      p->acc_min = total < p->acc_min ? total : p->acc_min;
      p->acc_max = total > p->acc_max ? total : p->acc_max;
    }
    if (p->grid[p->k] >= b) {
      break;
    }
    flush_bucket(p);
  }
}

int nemb__plot_series_end(nemb__plot *p) {
  if (p->resampled) {
    while (!p->oom && p->k < p->n_grid) {
      flush_bucket(p);
    }
    free(p->grid);
    p->grid = NULL;
    p->n_grid = 0;
  } else if (!p->oom && p->t[p->n - 1] < p->span_ns) {
    push_point(p, p->span_ns, NULL, NAN, NAN);
  }
  return p->oom ? NEMB_ENOMEM : 0;
}

/* ----- colours, labels and text shared by the writers ----- */

size_t nemb__plot_utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || len > n || (len == 2 && c < 0xc2)) {
    return 0;
  }
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) {
      return 0;
    }
  }
  if (len == 3) {
    unsigned cp = ((c & 0xfu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
    if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) {
      return 0;
    }
  } else if (len == 4) {
    unsigned cp =
        ((c & 0x7u) << 18) | ((s[1] & 0x3fu) << 12) | ((s[2] & 0x3fu) << 6) | (s[3] & 0x3fu);
    if (cp < 0x10000 || cp > 0x10ffff) {
      return 0;
    }
  }
  return len;
}

uint32_t nemb__plot_color(size_t i) {
  /* Total first (near-black), then a colour-blind-friendly set (Okabe-Ito, then Tableau). */
  static const uint32_t colors[] = {0x1a1a1a, 0x0072b2, 0xd55e00, 0x009e73, 0xcc79a7, 0xe69f00,
                                    0x56b4e9, 0x8c564b, 0x7f7f7f, 0xbcbd22, 0x17becf};
  if (i == 0) {
    return colors[0];
  }
  return colors[1 + (i - 1) % (NEMB__ARRAY_LEN(colors) - 1)];
}

uint32_t nemb__plot_task_color(size_t i) {
  static const uint32_t colors[] = {0x4e79a7, 0xf28e2b, 0x59a14f, 0xb07aa1, 0xedc948, 0x76b7b2};
  return colors[i % NEMB__ARRAY_LEN(colors)];
}

const char *nemb__plot_provenance(const nemb__plot *p) {
  const char *src = p->energy_source;
  if (src == NULL) {
    return "ENERGY SOURCE NOT STATED";
  }
  return strcmp(src, "measured") == 0 ? NULL : nemb_energy_source_words(src);
}
