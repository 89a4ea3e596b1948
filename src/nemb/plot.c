/*
 * plot.c - power-over-time charts of a session: the public entry points, and the model's series
 * builder (raw intervals, or energy-preserving buckets for long sessions; see plot.h).
 *
 * One core serves both entry points: nemb_session_export_plot() builds the model from the
 * session's sample store, nemb_report_export_plot() from a saved report's time series, and the
 * same writers draw it. The file goes through the one atomic writer (atomic_file.h), so a reader
 * never sees half a page and a failed write keeps the old one.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "plot.h"
#include "records.h"

static size_t max_points_override;

void nemb__plot_set_max_points(size_t n) {
  max_points_override = n;
}

void nemb__plot_init(nemb__plot *p) {
  memset(p, 0, sizeof *p);
  p->session_energy_j = NAN;
  p->interval_ms = NAN;
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

/* ----- entry points ----- */

typedef enum kind { KIND_NONE, KIND_HTML, KIND_PNG, KIND_SVG } kind;

static kind kind_of(const char *path) {
  const char *dot = strrchr(path, '.');
  const char *slash = strrchr(path, '/');
  if (dot == NULL || (slash != NULL && dot < slash)) {
    return KIND_NONE;
  }
  if (strcasecmp(dot, ".html") == 0 || strcasecmp(dot, ".htm") == 0) {
    return KIND_HTML;
  }
  if (strcasecmp(dot, ".svg") == 0) {
    return KIND_SVG;
  }
  return strcasecmp(dot, ".png") == 0 ? KIND_PNG : KIND_NONE;
}

static int write_file(const char *path, const char *data, size_t len) {
  int e = nemb__atomic_write(path, data, len);
  return e == 0 ? 0
                : nemb__fail(nemb__from_errno(e), "cannot write the plot to %s: %s", path,
                             strerror(e));
}

/* Draws @p p into @p path, by the path's extension. */
static int render(const nemb__plot *p, const char *path, kind k) {
  nemb__buf out = NEMB__BUF_INIT;
  int rc = k == KIND_HTML  ? nemb__plot_html(p, &out)
           : k == KIND_SVG ? nemb__plot_svg(p, &out)
                           : nemb__plot_png(p, &out);
  if (rc == 0 && out.oom) {
    rc = NEMB_ENOMEM;
  }
  if (rc == 0) {
    rc = write_file(path, out.data ? out.data : "", out.len);
  } else if (rc == NEMB_ENOMEM) {
    rc = nemb__fail(rc, "out of memory drawing the plot %s", path);
  }
  nemb__buf_release(&out);
  return rc;
}

static int check_path(const char *fn, const char *path, kind *k) {
  if (path == NULL || path[0] == '\0') {
    return nemb__fail(NEMB_EINVAL, "%s needs a file name ending in .html, .png or .svg", fn);
  }
  *k = kind_of(path);
  if (*k == KIND_NONE) {
    return nemb__fail(NEMB_EINVAL,
                      "cannot tell what kind of plot '%s' should be: use the extension .html "
                      "(interactive page), .png or .svg (static image)",
                      path);
  }
  return 0;
}

int nemb_session_export_plot(const nemb_session *s, const char *path) {
  nemb__clear_error();
  kind k;
  if (s == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_session_export_plot needs a session");
  }
  int rc = check_path("nemb_session_export_plot", path, &k);
  if (rc != 0) {
    return rc;
  }
  if (s->report_json == NULL) {
    return nemb__fail(NEMB_ESTATE, "a session can be plotted only after nemb_session_end() (and "
                                   "only by the process that began it)");
  }
  nemb__plot p;
  nemb__plot_init(&p);
  rc = nemb__plot_from_session(s, &p);
  if (rc == 0) {
    rc = render(&p, path, k);
  } else if (rc == NEMB_ENOMEM) {
    rc = nemb__fail(rc, "out of memory preparing the plot %s", path);
  }
  nemb__plot_release(&p);
  return rc;
}

int nemb__report_read(const char *path, struct json_t **out) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return nemb__fail(nemb__from_errno(e), "cannot read the report %s: %s", path, strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    return nemb__fail(NEMB_EINVAL,
                      "%s is a directory; give the report's file (a .json written "
                      "by codegreen run -o, measure -o or a Session)",
                      path);
  }
  /* Read it whole (up to the cap) so that a read error, the cap and memory are told apart from
   * bad JSON: jansson reports them all as a parse error at line -1. */
  size_t cap = 0, n = 0;
  char *buf = NULL;
  int e = 0;
  for (;;) {
    if (n == cap) {
      if (cap >= NEMB__REPORT_MAX_BYTES) {
        e = EFBIG;
        break;
      }
      size_t ncap = cap ? cap * 2 : 65536;
      ncap = ncap > NEMB__REPORT_MAX_BYTES ? NEMB__REPORT_MAX_BYTES : ncap;
      char *g = realloc(buf, ncap);
      if (g == NULL) {
        e = ENOMEM;
        break;
      }
      buf = g;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      e = errno;
      break;
    }
    if (r == 0) {
      break;
    }
    n += (size_t)r;
  }
  close(fd);
  if (e == EFBIG) {
    free(buf);
    return nemb__fail(NEMB_EINVAL,
                      "the report %s is larger than %d MiB, more than codegreen "
                      "reads",
                      path, (int)(NEMB__REPORT_MAX_BYTES >> 20));
  }
  if (e != 0) {
    free(buf);
    return nemb__fail(nemb__from_errno(e), "cannot read the report %s: %s", path, strerror(e));
  }
  json_error_t err;
  json_t *report = json_loadb(buf ? buf : "", n, 0, &err);
  free(buf);
  if (report == NULL) {
    if (json_error_code(&err) == json_error_out_of_memory) {
      return nemb__fail(NEMB_ENOMEM, "out of memory reading the report %s", path);
    }
    if (err.line < 0) {
      return nemb__fail(NEMB_EINVAL, "%s is not a valid report: %s", path, err.text);
    }
    return nemb__fail(NEMB_EINVAL, "%s is not valid JSON (line %d, column %d): %s", path, err.line,
                      err.column, err.text);
  }
  *out = report;
  return 0;
}

int nemb_report_export_plot(const char *report_json, const char *path) {
  nemb__clear_error();
  kind k;
  if (report_json == NULL || report_json[0] == '\0') {
    return nemb__fail(NEMB_EINVAL, "nemb_report_export_plot needs the path of a report");
  }
  int rc = check_path("nemb_report_export_plot", path, &k);
  if (rc != 0) {
    return rc;
  }
  json_t *report = NULL;
  rc = nemb__report_read(report_json, &report);
  if (rc != 0) {
    return rc;
  }
  nemb__plot p;
  nemb__plot_init(&p);
  rc = nemb__plot_from_report(report, report_json, &p);
  json_decref(report);
  if (rc == 0) {
    rc = render(&p, path, k);
  } else if (rc == NEMB_ENOMEM) {
    rc = nemb__fail(rc, "out of memory preparing the plot %s", path);
  }
  nemb__plot_release(&p);
  return rc;
}
