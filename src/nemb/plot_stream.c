/*
 * plot_stream.c - a saved report read for the plot as a stream of JSON events (yajl 2's SAX-style
 * parser), in chunks from zsource.h (so .json.zst is read too), handing plot_build.c only what
 * the chart uses: meta's words, domains, clock and argv; totals' energies; each task's name,
 * parent, depth, window, energies and samples (t_ns and domain_w; the rest of a sample is
 * skipped); in the columnar layout the one series' t_ns and domain_w columns and each task's
 * window of them. Memory is what the builder keeps plus one task's samples, whatever the size of
 * the file: a tree of the report (jansson) would cost about nine times the file.
 *
 * The reader expects the report's objects as codegreen writes them: meta (with domain_topology)
 * before the tasks; without a topology the first sample's domain_w names the domains.
 * Thread safety: none needed; each call has its own state.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "yajl_lib.h"
#include "zsource.h"

/* What an open container of the report is, for the plot. */
typedef enum frame {
  F_TOP,
  F_META,
  F_TOPO,     /* meta.domain_topology */
  F_TOPO_DOM, /* one domain's facts */
  F_ARGV,
  F_TOTALS,
  F_TASKS,
  F_TASK,
  F_TASK_DOMS, /* a task's "domains": joules per domain */
  F_SERIES,    /* a task's samples (per-sample layout) */
  F_SAMPLE,    /* one sample, or a window's start/end point */
  F_SAMPLE_DW, /* its domain_w */
  F_WINDOW,    /* a task's window of the one series (columnar layout) */
  F_COLS,      /* the report's one series (columnar layout) */
  F_COL_T,     /* its t_ns */
  F_COL_DW,    /* its domain_w: one array per domain */
  F_COL_DW_ARR
} frame;

#define MAX_FRAMES 16
#define CHUNK (256 * 1024)

typedef struct dom_pair {
  char name[NEMB__NAME_MAX];
  double j;
} dom_pair;

typedef struct reader {
  nemb__plot_rb *b;
  nemb__plot *p;
  frame stack[MAX_FRAMES];
  size_t depth, skip; /* open frames; containers inside a skipped value */
  char key[NEMB__NAME_MAX + 8];
  size_t key_len; /* SIZE_MAX: a key longer than any the plot reads */
  bool top_seen, have_tasks, topo_seen, dw_named;
  int rc; /* a builder's failure, which stops the parse */

  /* The domain being read from the topology. */
  char topo_name[NEMB__NAME_MAX];
  size_t topo_len;
  char kind[32];
  int in_total, top_level; /* -1 unknown, 0, 1 */

  /* The task being read. */
  nemb__plot_rtask task;
  char *name, *parent;
  bool has_t0, has_t1;
  dom_pair doms[NEMB__MAX_DOMAINS];
  size_t n_doms;
  uint64_t *pt; /* its samples (per-sample layout): times, and nd powers each */
  double *pw;
  size_t pn, pcap, pwcap;

  /* The sample being read: 0 a task's sample, 1 a window's start, 2 its end, 3 its first_power
   * (no t_ns: the power of the window's first sample since the task's start). */
  int target;
  bool s_has_t;
  uint64_t s_t;
  double s_w[NEMB__MAX_DOMAINS];

  int col_d; /* the domain of the columnar power array being read; -1 none */
} reader;

/* ----- values ----- */

static bool key_is(const reader *r, const char *k) {
  size_t n = strlen(k);
  return r->key_len == n && memcmp(r->key, k, n) == 0;
}

/* A JSON number's text as a double (NAN if it is not one). */
static double num(const char *s, size_t len) {
  char buf[64];
  if (len >= sizeof buf) {
    return NAN;
  }
  memcpy(buf, s, len);
  buf[len] = '\0';
  return strtod(buf, NULL);
}

static bool is_integer(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '.' || s[i] == 'e' || s[i] == 'E') {
      return false;
    }
  }
  return true;
}

/* A monotonic stamp: a non-negative integer, or a non-negative real rounded. */
static bool mono(const char *s, size_t len, uint64_t *out) {
  if (len > 0 && len <= 19 && s[0] != '-' && is_integer(s, len)) {
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
      v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
  }
  double d = num(s, len);
  if (is_integer(s, len) || !(d >= 0) || d >= 9.2e18) {
    return false; /* a negative or huge integer, or NAN */
  }
  *out = (uint64_t)llround(d);
  return true;
}

static char *dup_n(const unsigned char *s, size_t len) {
  char *out = malloc(len + 1);
  if (out != NULL) {
    memcpy(out, s, len);
    out[len] = '\0';
  }
  return out;
}

static frame top(const reader *r) {
  return r->stack[r->depth - 1];
}

static int stop(reader *r, int rc) {
  r->rc = rc;
  return 0; /* yajl: cancel the parse */
}

/* Replaces *slot with a copy of the string (strings the plot keeps). */
static int keep(reader *r, char **slot, const unsigned char *s, size_t len) {
  free(*slot);
  *slot = dup_n(s, len);
  return *slot != NULL ? 1 : stop(r, NEMB_ENOMEM);
}

static int domain_of(reader *r, const char *name, size_t len) {
  if (!r->topo_seen && !r->dw_named) { /* no topology: the first domain_w names them */
    return nemb__plot_rb_domain(r->b, name, len, NULL, NULL);
  }
  return nemb__plot_rb_domain_index(r->b, name, len);
}

/* A scalar of the current container, by its key: the parts the plot uses. */
static int scalar(reader *r, const unsigned char *str, size_t len, const char *number, int boolean,
                  bool is_null) {
  nemb__plot_rmeta *m = nemb__plot_rb_meta(r->b);
  nemb__plot_rtask *t = &r->task;
  switch (top(r)) {
  case F_META:
    if (str != NULL && key_is(r, "session_name")) {
      return keep(r, &m->session_name, str, len);
    }
    if (str != NULL && key_is(r, "energy_source")) {
      return keep(r, &m->energy_source, str, len);
    }
    if (str != NULL && key_is(r, "measurement_quality")) {
      return keep(r, &m->quality, str, len);
    }
    if (str != NULL && key_is(r, "started_at")) {
      return keep(r, &m->started_at, str, len);
    }
    if (number != NULL && key_is(r, "duration_total_s")) {
      m->duration_total_s = num(number, len);
    }
    return 1;
  case F_TOPO_DOM:
    if (str != NULL && key_is(r, "kind")) {
      snprintf(r->kind, sizeof r->kind, "%.*s", (int)len, (const char *)str);
    } else if (boolean >= 0 && key_is(r, "in_total")) {
      r->in_total = boolean;
    } else if (boolean >= 0 && key_is(r, "top_level")) {
      r->top_level = boolean;
    }
    return 1;
  case F_ARGV:
    nemb__plot_rb_argv(r->b, str != NULL ? (const char *)str : NULL, len);
    return 1;
  case F_TOTALS:
    if (number != NULL && key_is(r, "energy_j")) {
      m->energy_j = num(number, len);
    } else if (number != NULL && key_is(r, "session_energy_j")) {
      m->session_energy_j = num(number, len);
    } else if (number != NULL && key_is(r, "sample_interval_ms")) {
      m->interval_ms = num(number, len);
    } else if (number != NULL && key_is(r, "n_top_level_tasks")) {
      double n = num(number, len);
      m->n_top_level_tasks = n >= 0 && n < 1e15 ? (size_t)n : 0;
    }
    return 1;
  case F_TASKS: /* not an object: a task off the clock, refused at the end */
    r->task.has_mono = false;
    r->rc = nemb__plot_rb_task(r->b, &r->task);
    return r->rc == 0;
  case F_TASK:
    if (key_is(r, "name")) {
      return str != NULL ? keep(r, &r->name, str, len) : 1;
    }
    if (key_is(r, "parent")) {
      return str != NULL ? keep(r, &r->parent, str, len) : 1;
    }
    if (number == NULL) {
      if (key_is(r, "closed_at_end")) {
        t->closed_at_end = boolean == 1;
      }
      (void)is_null;
      return 1;
    }
    if (key_is(r, "started_at_mono_ns")) {
      r->has_t0 = mono(number, len, &t->t0);
    } else if (key_is(r, "ended_at_mono_ns")) {
      r->has_t1 = mono(number, len, &t->t1);
    } else if (key_is(r, "started_at")) {
      t->wall_t0 = num(number, len);
    } else if (key_is(r, "energy_j")) {
      t->energy_j = num(number, len);
    } else if (key_is(r, "depth")) {
      double d = num(number, len);
      t->depth = is_integer(number, len) && fabs(d) < 9.2e18 ? (uint32_t)(long long)d : 0;
    }
    return 1;
  case F_TASK_DOMS:
    if (number != NULL && r->key_len < NEMB__NAME_MAX && r->n_doms < NEMB__MAX_DOMAINS) {
      dom_pair *d = &r->doms[r->n_doms++];
      memcpy(d->name, r->key, r->key_len);
      d->name[r->key_len] = '\0';
      d->j = num(number, len);
    }
    return 1;
  case F_SAMPLE:
    if (number != NULL && key_is(r, "t_ns")) {
      r->s_has_t = mono(number, len, &r->s_t);
    }
    return 1;
  case F_SAMPLE_DW:
    if (number != NULL && r->key_len != SIZE_MAX) {
      int d = domain_of(r, r->key, r->key_len);
      if (d >= 0) {
        r->s_w[d] = num(number, len);
      }
    }
    return 1;
  case F_WINDOW:
    if (number != NULL && key_is(r, "first")) {
      mono(number, len, &t->first);
    } else if (number != NULL && key_is(r, "count")) {
      mono(number, len, &t->count);
    }
    return 1;
  case F_COL_T: {
    uint64_t v = 0;
    if (number == NULL || !mono(number, len, &v)) {
      v = 0; /* keeps the indices; a time of 0 lies before every window */
    }
    r->rc = nemb__plot_rb_col_time(r->b, v);
    return r->rc == 0;
  }
  case F_COL_DW_ARR:
    if (r->col_d >= 0) {
      r->rc = nemb__plot_rb_col_power(r->b, (size_t)r->col_d, number ? num(number, len) : NAN);
      return r->rc == 0;
    }
    return 1;
  default:
    return 1;
  }
}

static int on_null(void *ctx) {
  reader *r = ctx;
  return r->skip || r->depth == 0 ? 1 : scalar(r, NULL, 0, NULL, -1, true);
}

static int on_bool(void *ctx, int v) {
  reader *r = ctx;
  return r->skip || r->depth == 0 ? 1 : scalar(r, NULL, 0, NULL, v != 0, false);
}

static int on_number(void *ctx, const char *s, size_t len) {
  reader *r = ctx;
  return r->skip || r->depth == 0 ? 1 : scalar(r, NULL, len, s, -1, false);
}

static int on_string(void *ctx, const unsigned char *s, size_t len) {
  reader *r = ctx;
  return r->skip || r->depth == 0 ? 1 : scalar(r, s, len, NULL, -1, false);
}

static int on_key(void *ctx, const unsigned char *s, size_t len) {
  reader *r = ctx;
  if (r->skip == 0) {
    if (len < sizeof r->key) {
      memcpy(r->key, s, len);
      r->key[len] = '\0';
      r->key_len = len;
    } else {
      r->key_len = SIZE_MAX;
    }
  }
  return 1;
}

/* ----- containers ----- */

static void task_reset(reader *r) {
  free(r->name);
  free(r->parent);
  r->name = r->parent = NULL;
  memset(&r->task, 0, sizeof r->task);
  r->task.wall_t0 = r->task.energy_j = NAN;
  r->has_t0 = r->has_t1 = false;
  r->n_doms = 0;
  r->pn = 0;
}

static void sample_reset(reader *r, int target) {
  r->target = target;
  r->s_has_t = false;
  for (size_t d = 0; d < NEMB__MAX_DOMAINS; d++) {
    r->s_w[d] = NAN;
  }
}

static int push(reader *r, frame f) {
  if (r->depth == MAX_FRAMES) {
    r->skip++;
    return 1;
  }
  r->stack[r->depth++] = f;
  return 1;
}

/* The frame a container opened at the current key becomes, or -1 to skip it. */
static int child_of(reader *r, bool map) {
  switch (top(r)) {
  case F_TOP:
    if (map && key_is(r, "meta")) {
      return F_META;
    }
    if (map && key_is(r, "totals")) {
      return F_TOTALS;
    }
    if (map && key_is(r, "timeseries")) {
      return F_COLS;
    }
    if (!map && key_is(r, "tasks")) {
      r->have_tasks = true;
      return F_TASKS;
    }
    return -1;
  case F_META:
    if (map && key_is(r, "domain_topology")) {
      return F_TOPO;
    }
    return !map && key_is(r, "argv") ? F_ARGV : -1;
  case F_TOPO:
    if (!map || r->key_len == SIZE_MAX) {
      return -1;
    }
    memcpy(r->topo_name, r->key, r->key_len < NEMB__NAME_MAX ? r->key_len : NEMB__NAME_MAX - 1);
    r->topo_len = r->key_len < NEMB__NAME_MAX ? r->key_len : NEMB__NAME_MAX - 1;
    r->kind[0] = '\0';
    r->in_total = r->top_level = -1;
    return F_TOPO_DOM;
  case F_ARGV:
    nemb__plot_rb_argv(r->b, NULL, 0);
    return -1;
  case F_TASKS:
    task_reset(r);
    if (!map) {
      r->rc = nemb__plot_rb_task(r->b, &r->task); /* not an object: refused at the end */
      return r->rc == 0 ? -1 : -2;
    }
    return F_TASK;
  case F_TASK:
    if (map && key_is(r, "domains")) {
      return F_TASK_DOMS;
    }
    if (key_is(r, "timeseries")) {
      r->task.series = map ? NEMB__PLOT_SERIES_WINDOW : NEMB__PLOT_SERIES_POINTS;
      return map ? F_WINDOW : F_SERIES;
    }
    return -1;
  case F_SERIES:
    if (map) {
      sample_reset(r, 0);
      return F_SAMPLE;
    }
    return -1;
  case F_SAMPLE:
    return map && key_is(r, "domain_w") ? F_SAMPLE_DW : -1;
  case F_WINDOW:
    if (map && (key_is(r, "start") || key_is(r, "end") || key_is(r, "first_power"))) {
      sample_reset(r, key_is(r, "start") ? 1 : key_is(r, "end") ? 2 : 3);
      return F_SAMPLE;
    }
    return -1;
  case F_COLS:
    if (map && key_is(r, "domain_w")) {
      return F_COL_DW;
    }
    return !map && key_is(r, "t_ns") ? F_COL_T : -1;
  case F_COL_DW:
    if (map || r->key_len == SIZE_MAX) {
      return -1;
    }
    r->col_d = domain_of(r, r->key, r->key_len);
    return F_COL_DW_ARR;
  default:
    return -1;
  }
}

static int open_container(reader *r, bool map) {
  if (r->skip > 0) {
    r->skip++;
    return 1;
  }
  if (r->depth == 0) {
    if (!map || r->top_seen) {
      r->skip++; /* not an object: not a report */
      return 1;
    }
    r->top_seen = true;
    return push(r, F_TOP);
  }
  int f = child_of(r, map);
  if (f == -2) {
    return 0;
  }
  if (f < 0) {
    r->skip++;
    return 1;
  }
  return push(r, (frame)f);
}

static int on_start_map(void *ctx) {
  return open_container(ctx, true);
}

static int on_start_array(void *ctx) {
  return open_container(ctx, false);
}

/* A task's sample, read: into its list (or its window's start or end). */
static int sample_done(reader *r) {
  size_t nd = r->p->nd;
  if (r->target == 3) {
    r->task.has_first_w = true;
    memcpy(r->task.first_w, r->s_w, sizeof r->s_w);
    return 1;
  }
  if (r->target != 0) {
    nemb__plot_rtask *t = &r->task;
    bool *has = r->target == 1 ? &t->has_start : &t->has_end;
    *has = r->s_has_t;
    *(r->target == 1 ? &t->start_t : &t->end_t) = r->s_t;
    memcpy(r->target == 1 ? t->start_w : t->end_w, r->s_w, sizeof r->s_w);
    return 1;
  }
  r->dw_named = true; /* the first sample names the domains, with or without a domain_w */
  if (!r->s_has_t) {
    return 1; /* no time: the sample places nothing */
  }
  if (r->pn == r->pcap) {
    size_t cap = r->pcap ? r->pcap * 2 : 1024;
    uint64_t *pt = realloc(r->pt, cap * sizeof *pt);
    if (pt == NULL) {
      return stop(r, NEMB_ENOMEM);
    }
    r->pt = pt;
    r->pcap = cap;
  }
  if ((r->pn + 1) * nd > r->pwcap) {
    size_t cap = r->pwcap ? r->pwcap * 2 : 1024;
    cap = cap < (r->pn + 1) * nd ? (r->pn + 1) * nd * 2 : cap;
    double *pw = realloc(r->pw, cap * sizeof *pw);
    if (pw == NULL) {
      return stop(r, NEMB_ENOMEM);
    }
    r->pw = pw;
    r->pwcap = cap;
  }
  r->pt[r->pn] = r->s_t;
  if (nd > 0) {
    memcpy(r->pw + r->pn * nd, r->s_w, nd * sizeof *r->pw);
  }
  r->pn++;
  return 1;
}

static int task_done(reader *r) {
  nemb__plot_rtask *t = &r->task;
  t->name = r->name;
  t->parent = r->parent;
  t->has_mono = r->has_t0 && r->has_t1;
  for (size_t d = 0; d < NEMB__MAX_DOMAINS; d++) {
    t->dom_j[d] = NAN;
  }
  for (size_t i = 0; i < r->n_doms; i++) {
    int d = nemb__plot_rb_domain_index(r->b, r->doms[i].name, strlen(r->doms[i].name));
    if (d >= 0) {
      t->dom_j[d] = r->doms[i].j;
    }
  }
  t->t = r->pt;
  t->w = r->pw;
  t->n = r->pn;
  r->rc = nemb__plot_rb_task(r->b, t);
  task_reset(r);
  return r->rc == 0;
}

static int close_container(void *ctx) {
  reader *r = ctx;
  if (r->skip > 0) {
    r->skip--;
    return 1;
  }
  if (r->depth == 0) {
    return 1;
  }
  frame f = r->stack[--r->depth];
  switch (f) {
  case F_TOPO_DOM: {
    bool in_total = r->in_total >= 0 ? r->in_total == 1 : r->top_level == 1;
    bool known = r->in_total >= 0 || r->top_level >= 0;
    nemb__plot_rb_domain(r->b, r->topo_name, r->topo_len, r->kind, known ? &in_total : NULL);
    r->topo_seen = true;
    return 1;
  }
  case F_SAMPLE_DW:
    r->dw_named = true;
    return 1;
  case F_SAMPLE:
    return sample_done(r);
  case F_TASK:
    return task_done(r);
  case F_COL_DW:
    r->dw_named = true;
    return 1;
  default:
    return 1;
  }
}

/* Numbers come as text (yajl_number): yajl's own integer parse would refuse any above 2^63. */
static const yajl_callbacks callbacks = {on_null,         on_bool,        NULL,           NULL,
                                         on_number,       on_string,      on_start_map,   on_key,
                                         close_container, on_start_array, close_container};

/* ----- the parse ----- */

typedef struct parse {
  reader r;
  yajl_handle h;
  uint64_t fed; /* bytes parsed before the chunk being parsed */
  const char *label;
  const char *path;          /* the file, read again to place an error; NULL for bytes */
  const unsigned char *data; /* the bytes, when there is no file */
} parse;

/* Line and column (from 1) of byte @p at of the text: counted only when an error needs them, so
 * the parse itself never looks at newlines. */
typedef struct where {
  uint64_t line, col;
} where;

static void count(where *w, const unsigned char *s, size_t n) {
  for (const unsigned char *nl; n > 0 && (nl = memchr(s, '\n', n)) != NULL;) {
    w->line++;
    w->col = 1;
    n -= (size_t)(nl + 1 - s);
    s = nl + 1;
  }
  w->col += n;
}

static where place(const parse *ps, uint64_t at) {
  where w = {1, 1};
  if (ps->path == NULL) {
    count(&w, ps->data, (size_t)at);
    return w;
  }
  nemb__zsrc src;
  unsigned char *buf = malloc(CHUNK);
  if (buf != NULL && nemb__zsrc_open(&src, ps->path, 0) == 0) {
    for (size_t got; at > 0 && nemb__zsrc_read(&src, buf, CHUNK, &got) == 0 && got > 0;) {
      size_t n = got < at ? got : (size_t)at;
      count(&w, buf, n);
      at -= n;
    }
  }
  nemb__zsrc_close(&src);
  free(buf);
  return w;
}

/* The parse's failure as the error: the builder's, or bad JSON at its line and column. */
static int json_fail(parse *ps, size_t consumed) {
  if (ps->r.rc != 0) {
    return ps->r.rc == NEMB_ENOMEM
               ? nemb__fail(NEMB_ENOMEM, "out of memory reading the report %s", ps->label)
               : ps->r.rc;
  }
  where w = place(ps, ps->fed + consumed);
  unsigned char *text = nemb__yajl.get_error(ps->h, 0, NULL, 0);
  const char *what = text ? (const char *)text : "parse error";
  if (strncmp(what, "parse error: ", 13) == 0) {
    what += 13;
  } else if (strncmp(what, "lexical error: ", 15) == 0) {
    what += 15;
  }
  size_t len = strcspn(what, "\n");
  while (len > 0 && (what[len - 1] == ' ' || what[len - 1] == '.')) {
    len--;
  }
  int rc = nemb__fail(NEMB_EINVAL, "%s is not valid JSON (line %llu, column %llu): %.*s", ps->label,
                      (unsigned long long)w.line, (unsigned long long)w.col, (int)len, what);
  if (text != NULL) {
    nemb__yajl.free_error(ps->h, text);
  }
  return rc;
}

static int parse_begin(parse *ps, nemb__plot *p, const char *label, const char *path,
                       const void *data) {
  memset(ps, 0, sizeof *ps);
  ps->label = label;
  ps->path = path;
  ps->data = data;
  ps->r.p = p;
  ps->r.col_d = -1;
  task_reset(&ps->r);
  int rc = nemb__yajl_load();
  if (rc != 0) {
    return rc;
  }
  ps->r.b = nemb__plot_rb_create(p, label);
  ps->h = ps->r.b ? nemb__yajl.alloc(&callbacks, NULL, &ps->r) : NULL;
  return ps->h != NULL ? 0 : nemb__fail(NEMB_ENOMEM, "out of memory reading the report %s", label);
}

/* Parses @p n bytes; 0 or the error. */
static int parse_chunk(parse *ps, const unsigned char *s, size_t n) {
  if (nemb__yajl.parse(ps->h, s, n) != yajl_status_ok) {
    return json_fail(ps, nemb__yajl.get_bytes_consumed(ps->h));
  }
  ps->fed += n;
  return 0;
}

static int parse_end(parse *ps) {
  if (nemb__yajl.complete_parse(ps->h) != yajl_status_ok) {
    return json_fail(ps, 0);
  }
  return nemb__plot_rb_finish(ps->r.b, ps->r.have_tasks);
}

static void parse_release(parse *ps) {
  if (ps->h != NULL) {
    nemb__yajl.free(ps->h);
  }
  nemb__plot_rb_destroy(ps->r.b);
  task_reset(&ps->r);
  free(ps->r.pt);
  free(ps->r.pw);
}

int nemb__plot_from_report_bytes(const void *data, size_t len, const char *label, nemb__plot *p) {
  parse ps;
  int rc = parse_begin(&ps, p, label, NULL, data);
  if (rc == 0) {
    rc = parse_chunk(&ps, data, len);
  }
  if (rc == 0) {
    rc = parse_end(&ps);
  }
  parse_release(&ps);
  return rc;
}

int nemb__plot_from_report_file(const char *path, const char *label, nemb__plot *p) {
  nemb__zsrc src;
  int rc = nemb__zsrc_open(&src, path, 0);
  if (rc != 0) {
    rc = nemb__fail(rc, "%s", src.msg);
    nemb__zsrc_close(&src);
    return rc;
  }
  unsigned char *buf = malloc(CHUNK);
  parse ps;
  rc = buf ? parse_begin(&ps, p, label, path, NULL)
           : nemb__fail(NEMB_ENOMEM, "out of memory reading the report %s", label);
  bool begun = buf != NULL;
  while (rc == 0) {
    size_t got = 0;
    rc = nemb__zsrc_read(&src, buf, CHUNK, &got);
    if (rc != 0) {
      rc = nemb__fail(rc, "%s", src.msg);
    } else if (got == 0) {
      rc = parse_end(&ps);
      break;
    } else {
      rc = parse_chunk(&ps, buf, got);
    }
  }
  if (begun) {
    parse_release(&ps);
  }
  free(buf);
  nemb__zsrc_close(&src);
  return rc;
}
