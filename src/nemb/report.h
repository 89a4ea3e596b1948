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
  uint64_t span_a, span_b;           /* the session's series: its begin to its end, widened to
                                        every task (report_columnar.c) */
  size_t span_first;                 /* the first stored sample after span_a */
  nemb__report_totals totals;
  double *scratch; /* series workspace: a task's gaps between samples (noise statistics) */
  size_t scratch_cap;
  /* The series' filled stored intervals (report_series.c): the spacing they are filled at, ns
   * (0: none), and, ascending, the stored index ending each filled interval with the number of
   * filled points up to and including it. */
  uint64_t fill_ns;
  size_t n_filled, *filled_at, *filled_cum;
} nemb__report_model;

/* Computes every figure of ended session @p s into @p out; the series' noise statistics (a walk
 * over every detailed task's samples) only with @p series_stats, which the report's writers need
 * and the numbers API and the plot do not (noise stays NULL, totals.any_cv false). Returns 0 or
 * NEMB_ENOMEM (then @p out holds nothing to release). */
int nemb__report_model_build(const nemb_session *s, bool series_stats, nemb__report_model *out);
void nemb__report_model_release(nemb__report_model *md);

/* ----- report_series.c: a span's time series, the one rule for both layouts ----- */

/* One point of a series: a synthesised point at a span's start or end, a stored sample, or a
 * point filled into a long stored interval. */
typedef struct nemb__series_point {
  uint64_t t_ns;                    /* CLOCK_MONOTONIC */
  size_t stored;                    /* the stored sample's index; SIZE_MAX when synthesised */
  bool filled;                      /* a point inside a long stored interval, on its line */
  double cum_uj;                    /* in-total energy since the session's begin, microjoules */
  double energy_j;                  /* the same in joules (cum_uj / 1e6) */
  double power_w;                   /* in-total mean power since the point before, watts */
  double dj[NEMB__MAX_DOMAINS];     /* each domain's energy since the session's begin, joules */
  double dw[NEMB__MAX_DOMAINS];     /* each domain's mean power since the point before, watts */
  double cur_uj[NEMB__MAX_DOMAINS]; /* each domain's cumulative counter value here, microjoules */
} nemb__series_point;

/* Walks the series of the span [a, b] of a built model's meter (md->m not NULL): the point at
 * a, every stored sample strictly between a and b with the points filled into long stored
 * intervals, and the point at b (none for b <= a). The first point's power is the stored
 * interval's that contains a; every other point's, the mean since the point before.
 * report_series.c gives the reason. Plain data: no allocation. */
typedef struct nemb__series_iter {
  const struct nemb__report_model *md;
  uint64_t a, b;
  size_t next; /* the next stored sample to visit */
  int phase;   /* 0: the start point is next; 1: stored samples; 2: the end; 3: done */
  size_t n;    /* points given so far */
  uint64_t prev_t;
  double prev[NEMB__MAX_DOMAINS], w0[NEMB__MAX_DOMAINS];
  size_t hint;
  size_t fill_for;         /* the stored interval (its ending index) being filled */
  uint64_t fill_k, fill_n; /* its next filled point, of fill_n pieces */
  size_t fill_at;          /* md->filled_at[fill_at]: the next filled interval to come */
  int want;                /* nemb__series_want: what a point's values are computed for */
  uint64_t need_e, need_w; /* the domains whose energy, whose power is computed (bit d) */
} nemb__series_iter;

/* What nemb__series_next() computes of a point besides t_ns, stored, filled and cur_uj:
 * everything (the default), or the one column a columnar writer walks for, the rest of the point
 * left unset. The walk, and every value computed, are the same: a column of an hour's series is
 * millions of points, and each one's divisions for the values it does not write were most of
 * the walk. */
typedef enum nemb__series_want {
  NEMB__SERIES_ALL,
  NEMB__SERIES_TIME,     /* t_ns alone */
  NEMB__SERIES_ENERGY,   /* cum_uj and energy_j */
  NEMB__SERIES_POWER,    /* power_w */
  NEMB__SERIES_DOMAIN_J, /* dj[d] of one domain d */
  NEMB__SERIES_DOMAIN_W  /* dw[d] of one domain d */
} nemb__series_want;

void nemb__series_start(nemb__series_iter *it, const struct nemb__report_model *md, uint64_t a,
                        uint64_t b);
/* The next point into @p p; false when the series is over. */
bool nemb__series_next(nemb__series_iter *it, nemb__series_point *p);
/* Computes only @p what (of domain @p d for the domain columns) from the next point on. */
void nemb__series_only(nemb__series_iter *it, nemb__series_want what, size_t d);
/* Skips to stored sample @p stored (the next point given is that sample, or the end; the points
 * filled before it are skipped with the rest): the points after it are as if every point had been
 * walked, except the power of the one given next, which is measured since the last point given. */
void nemb__series_skip_to(nemb__series_iter *it, size_t stored);
/* The first stored sample index with t >= @p t (md->count if none). */
size_t nemb__series_first_at_or_after(const struct nemb__report_model *md, uint64_t t);
/* Finds the stored intervals the series fills (md->m, md->count set): sets md->fill_ns and the
 * filled_* table. Returns 0 or NEMB_ENOMEM; nemb__series_fill_release() frees the table. */
int nemb__series_fill_build(struct nemb__report_model *md);
void nemb__series_fill_release(struct nemb__report_model *md);
/* How many points of the session's series (the span [md->span_a, md->span_b]) lie before
 * @p t (span_a <= t <= span_b + 1): the index the first point at or after t has there. */
size_t nemb__series_points_before(const struct nemb__report_model *md, uint64_t t);

/* A point as the reference's sample object {t_ns, energy_j, power_w, domain_j, domain_w} at
 * nesting level @p lv, laid out as json_dumps(JSON_INDENT(2)) would, with reals as jansson
 * writes them (json_text.h). @p dom_key holds each domain's name as a JSON string literal. */
void nemb__series_point_text(nemb__buf *b, int lv, const nemb__series_point *p, size_t nd,
                             char *const *dom_key);
/* One {domain: value} object of such a point, at level @p lv. */
void nemb__series_domains_text(nemb__buf *b, int lv, const double *v, size_t nd,
                               char *const *dom_key);
/* @p level levels of JSON_INDENT(2) indentation. */
void nemb__series_indent(nemb__buf *b, int level);

/* ----- report_columnar.c: the columnar layout (measurement.report.timeseries_layout) ----- */

/* Reads a layout's name, "samples" or "columnar" (an empty name is "samples"), into
 * *columnar. Returns 0, or NEMB_ECONFIG naming @p from and the choices. */
int nemb__columnar_layout(const char *name, const char *from, bool *columnar);

/* The session's series as columns, the top-level "timeseries" value of a columnar report,
 * written at level @p lv into @p b (see report_columnar.c for the shape). Never builds more than
 * one point at a time; @p spill (may be NULL) is called between points so the caller can pass
 * the text on. */
void nemb__columnar_session(const struct nemb__report_model *md, nemb__buf *b, int lv,
                            char *const *dom_key, void (*spill)(void *), void *spill_ctx);
/* Task @p t's "timeseries" in the columnar layout: its window into the session's columns. */
void nemb__columnar_window(const struct nemb__report_model *md, const nemb__task_rec *t,
                           nemb__buf *b, int lv, char *const *dom_key);

/* Builds the JSON envelope (after the end, with the sampler stopped). Returns 0 or NEMB_ENOMEM;
 * *out is the caller's (free()). */
int nemb__report_json(const nemb_session *s, char **out);
/* The same envelope with every time series left out (each task's "timeseries" null, no
 * top-level "timeseries"): what a front needs at the end (totals, noise warnings) at a fraction
 * of the size. Returns 0 or NEMB_ENOMEM; *out is the caller's. */
int nemb__report_json_summary(const nemb_session *s, char **out);
/* Streams the text nemb__report_json() would give into @p f (an open atomic file, which stays
 * the caller's to commit or abort), holding about a megabyte of it at a time; when @p summary is
 * not NULL, also builds nemb__report_json_summary()'s text into it from the same figures (the
 * series' statistics are computed once). Returns 0 or NEMB_ENOMEM; a failed write is the
 * file's, reported by nemb__atomic_commit(). */
struct nemb__atomic_file;
int nemb__report_json_stream(const nemb_session *s, struct nemb__atomic_file *f, char **summary);
/* How many bytes of text the stream holds before writing them (1 MiB); tests lower it to make
 * every piece of the report cross a write. */
extern size_t nemb__report_spill_at;
/* The same report as CSV, one row per task. */
int nemb__report_csv(const nemb_session *s, char **out);

/* report_meta.c, for report.c: the meta object (a jansson json_t *), the wall-clock time of a
 * monotonic instant, and a JSON string that tolerates NULL and invalid UTF-8. */
struct json_t;
struct json_t *nemb__report_meta(const nemb_session *s, const char *quality);
/* The report's meta.sampler.warnings alone, as JSON text ("[]" without a meter), built from the
 * same figures as the meta (nemb_session_warnings_json()). Returns 0 or NEMB_ENOMEM; *out is
 * the caller's (free()). */
int nemb__report_warnings_json(const nemb_session *s, char **out);
double nemb__report_wall(const nemb_session *s, uint64_t t_ns);
struct json_t *nemb__report_string(const char *v);

#endif /* NEMB_REPORT_H */
