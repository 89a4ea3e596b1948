/*
 * plot.h - the plot writers' shared model: what a chart of a session shows, built either from a
 * live (ended) session or from a saved report, then drawn as an HTML page (plot_html.c, uPlot
 * inlined) or a PNG (plot_png.c, cairo). Not installed.
 *
 * The series is a step function. Point i (i >= 1) holds the average power over the interval
 * (t[i-1], t[i]]: per domain, and the total of the domains that energy_j adds. Between two
 * samples of the energy counters the library assumes constant power (energy.c), so this step
 * function is exactly what the report's energies are computed from: its area over a task's window
 * is the task's energy_j, to rounding. A NAN power marks an interval with no data (in a report,
 * time outside every task that carries a time series).
 *
 * Resampling. A session longer than NEMB__PLOT_MAX_POINTS intervals (100 s at the 1 ms default)
 * is averaged into buckets: a uniform grid of about that many buckets, with every task's start
 * and end added as bucket boundaries. A bucket's power is its energy over its duration, so the
 * area over a task window is still the task's energy exactly, at any resolution; the lowest and
 * highest total power of the raw intervals in each bucket are kept beside it (min_w/max_w) so a
 * chart can show the peaks that averaging hides.
 */
#ifndef NEMB_PLOT_H
#define NEMB_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "provider.h"

/* The power axis of a chart (the PNG's here; plot_html.c's yRange() is the same rule in the
 * page's script): from 0 to a little above the highest line (@p lines_max, every series) and the
 * min-max band's ordinary top, so a long run's columns, which average a square wave while the
 * band holds its high state, show that state. Where a few values tower over the rest (over twice
 * the 99.5th percentile of @p n values or more, 50 at least: with RAPL-like counters an interval
 * shorter than the counter's update shows as a spike) the axis stops at 1.5 x that percentile
 * instead, of the totals or of the band's highs, whichever is higher. @p total and @p band_hi
 * hold each column's total average and highest interval power, W (NAN: no data). */
typedef struct nemb__plot_yaxis {
  double top;     /* the axis' top, W, before rounding to a step */
  size_t n_above; /* columns whose total is above it (then the note names max) */
  double max;     /* the highest total when n_above > 0; else the band's highest where it is
                     above the axis, or 0 */
} nemb__plot_yaxis;
int nemb__plot_y_axis(const double *total, const double *band_hi, size_t n, double lines_max,
                      nemb__plot_yaxis *out);

/* The most intervals a plot keeps before it averages them into buckets. */
#define NEMB__PLOT_MAX_POINTS 100000

typedef struct nemb__plot_domain {
  char name[NEMB__NAME_MAX];
  char kind[32];
  bool in_total; /* added into energy_j (and into the total series) */
} nemb__plot_domain;

typedef struct nemb__plot_task {
  char *name;   /* owned */
  char *parent; /* owned; NULL at depth 0 */
  uint32_t depth;
  uint64_t t0, t1; /* ns since the session's start */
  double energy_j; /* as the report gives it */
  bool closed_at_end;
} nemb__plot_task;

typedef struct nemb__plot {
  /* What the chart is about. Strings are owned; NULL where unknown. */
  char *title; /* the session's name, else its command line, else "codegreen session" */
  char *session_name;
  char *energy_source;      /* "measured", "estimated", "simulated", "none"; NULL if not stated */
  char *quality;            /* measurement_quality */
  char *started_at;         /* RFC 3339 */
  char *origin;             /* "session" or the report's path */
  double energy_j;          /* totals.energy_j: the depth-0 tasks */
  double session_energy_j;  /* NAN when not known */
  size_t n_top_level_tasks; /* totals.n_top_level_tasks: all of them, also those a report does
                               not detail (task_detail_limit); 0: count the depth-0 tasks */
  uint64_t span_ns;         /* the x axis runs over [0, span_ns]: the session's duration */
  uint64_t t0_mono_ns;      /* CLOCK_MONOTONIC of x = 0 */
  double interval_ms;       /* the sampling interval; NAN when not known */

  size_t nd;
  nemb__plot_domain domains[NEMB__MAX_DOMAINS];
  nemb__plot_task *tasks; /* in start order */
  size_t n_tasks;

  /* The series (see the file comment). */
  size_t n;              /* points */
  uint64_t *t;           /* n times, ns since the start */
  double *w;             /* n x nd, point-major: w[i * nd + d] */
  double *total_w;       /* n */
  double *min_w, *max_w; /* n each when resampled, else NULL */
  bool resampled;
  uint64_t raw_intervals; /* intervals before resampling */
  size_t max_points;      /* the limit used (NEMB__PLOT_MAX_POINTS unless a test changed it) */

  /* Building (plot.c). */
  size_t cap;
  uint64_t *grid;                /* bucket boundaries when resampling */
  size_t n_grid, k;              /* boundaries, and the bucket being filled (ends at grid[k]) */
  double acc[NEMB__MAX_DOMAINS]; /* W x ns in the current bucket */
  double acc_known_ns, acc_min, acc_max;
  bool oom;
} nemb__plot;

/* ----- plot.c: the model ----- */

/* Frees everything the plot holds; the struct may be reused after nemb__plot_init(). */
void nemb__plot_release(nemb__plot *p);
void nemb__plot_init(nemb__plot *p);

/* Tests lower the resampling limit to exercise it on short sessions; 0 restores the default. */
void nemb__plot_set_max_points(size_t n);

/* Adds a task (name and parent are copied). Returns 0 or NEMB_ENOMEM. */
/* The top-level tasks the subtitle counts: n_top_level_tasks when the report gives it (every
 * one, detailed or not), else the depth-0 tasks held. */
size_t nemb__plot_top_level_tasks(const nemb__plot *p);

int nemb__plot_add_task(nemb__plot *p, const char *name, const char *parent, uint32_t depth,
                        uint64_t t0, uint64_t t1, double energy_j, bool closed_at_end);

/* Prepares the series once the domains, the tasks and span_ns are set. @p expected is how many
 * intervals will be added: above the limit the plot resamples. Returns 0 or NEMB_ENOMEM. */
int nemb__plot_series_begin(nemb__plot *p, uint64_t expected);

/* Adds the interval (a, b], 0 <= a < b <= span_ns, with per-domain power @p watts (nd values,
 * NAN or NULL for unknown). Intervals come in increasing order; a hole between two is recorded as
 * unknown. */
void nemb__plot_series_add(nemb__plot *p, uint64_t a, uint64_t b, const double *watts);

/* Finishes the series (closing it at span_ns). Returns 0 or NEMB_ENOMEM. */
int nemb__plot_series_end(nemb__plot *p);

/* ----- plot_source.c: building the model ----- */

struct nemb_session;
/* From an ended session: every stored sample, whether or not time series were recorded. */
int nemb__plot_from_session(const struct nemb_session *s, nemb__plot *p);

/* ----- plot_build.c: a saved report's tasks and points into the model ----- */

/* One task of a report as the plot reads it (filled by a reader, plot_stream.c, and handed to
 * nemb__plot_rb_task()). Times are the report's CLOCK_MONOTONIC stamps, in ns. */
typedef struct nemb__plot_rtask {
  const char *name, *parent; /* borrowed for the call; parent NULL at depth 0 */
  uint32_t depth;
  bool has_mono;   /* started_at_mono_ns and ended_at_mono_ns were both given */
  uint64_t t0, t1; /* those stamps */
  double wall_t0;  /* started_at, s since the epoch; NAN when absent */
  double energy_j; /* NAN when absent */
  bool closed_at_end;
  double dom_j[NEMB__MAX_DOMAINS]; /* the task's "domains", in the plot's domain order; NAN */
  int series;                      /* NEMB__PLOT_SERIES_* */
  /* NEMB__PLOT_SERIES_POINTS: the task's own n samples in the report's order: sample i at t[i]
   * with power w[i * nd + d] in domain d (W, NAN when not given); borrowed for the call. */
  size_t n;
  const uint64_t *t;
  const double *w;
  /* NEMB__PLOT_SERIES_WINDOW (the columnar layout): samples [first, first + count) of the
   * report's one series, between the bounding points start and end (each has_* when given);
   * first_w, when given, is the first sample's power since the task's start (the window's
   * "first_power"), which the per-sample layout writes in its place. */
  uint64_t first, count;
  bool has_start, has_end, has_first_w;
  uint64_t start_t, end_t;
  double start_w[NEMB__MAX_DOMAINS], end_w[NEMB__MAX_DOMAINS], first_w[NEMB__MAX_DOMAINS];
} nemb__plot_rtask;

enum { NEMB__PLOT_SERIES_NONE, NEMB__PLOT_SERIES_POINTS, NEMB__PLOT_SERIES_WINDOW };

/* The builder: a report's parts in the order a reader meets them, then the model. It holds the
 * pieces of constant power of every task with a time series (duplicates that a parent repeats
 * from its children kept once), the columnar series when there is one, and the tasks' windows;
 * nothing else of the report. One thread; the plot @p p is written only by the builder. */
typedef struct nemb__plot_rb nemb__plot_rb;

/* Starts a builder for @p p (initialised, empty); @p label names the report in messages.
 * Returns NULL when out of memory. */
nemb__plot_rb *nemb__plot_rb_create(nemb__plot *p, const char *label);
void nemb__plot_rb_destroy(nemb__plot_rb *b);

/* What the chart says about the report, filled by the reader (strings malloc'd, then owned by the
 * builder; NULL/NAN where absent): meta's session_name, energy_source, measurement_quality,
 * started_at, argv (appended, strings only) and duration_total_s; totals' energy_j,
 * session_energy_j and sample_interval_ms. */
typedef struct nemb__plot_rmeta {
  char *session_name, *energy_source, *quality, *started_at;
  nemb__buf argv_title; /* "codegreen: a b c" as argv strings come (the first 200 bytes) */
  size_t argc;
  double duration_total_s, energy_j, session_energy_j, interval_ms;
  size_t n_top_level_tasks; /* 0 when absent */
} nemb__plot_rmeta;

nemb__plot_rmeta *nemb__plot_rb_meta(nemb__plot_rb *b);
/* Appends one argv string to the title (up to 200 bytes of title, as before). */
void nemb__plot_rb_argv(nemb__plot_rb *b, const char *arg, size_t len);

/* meta: the domains in order (domain_topology, else the first sample's domain_w keys; the
 * reader calls this before any task's energies or samples name them). Returns the domain's index,
 * or -1 past NEMB__MAX_DOMAINS. @p in_total: NULL when the report does not say (true then). */
int nemb__plot_rb_domain(nemb__plot_rb *b, const char *name, size_t len, const char *kind,
                         const bool *in_total);
/* The index of domain @p name (@p len bytes), or -1 when the report's topology has no such. */
int nemb__plot_rb_domain_index(const nemb__plot_rb *b, const char *name, size_t len);

/* The report's one series (the columnar layout): point @p i at @p t_ns; its power in domain @p d
 * (W). Points come in index order for the times, and per domain in index order for the powers.
 * Returns 0 or NEMB_ENOMEM. */
int nemb__plot_rb_col_time(nemb__plot_rb *b, uint64_t t_ns);
int nemb__plot_rb_col_power(nemb__plot_rb *b, size_t d, double w);

/* The next task of the report's "tasks" array. Returns 0 or NEMB_ENOMEM. */
int nemb__plot_rb_task(nemb__plot_rb *b, const nemb__plot_rtask *t);

/* Finishes the model: the refusals (no tasks list, no tasks, no time series, a task off the
 * monotonic clock), where x = 0 lies, the tasks' windows, the merged series. @p have_tasks: the
 * report had a "tasks" array. Returns 0 or a NEMB_E* code (with nemb__fail's detail). */
int nemb__plot_rb_finish(nemb__plot_rb *b, bool have_tasks);

/* ----- plot_stream.c: reading a saved report for the plot ----- */

/* Parses the report at @p path (JSON or zstd-compressed JSON, read through zsource.h) as a
 * stream with yajl and builds the model, in memory bounded by what the plot keeps (not by the
 * file's size). @p label names it in messages. Returns 0 or a NEMB_E* code (nemb__fail's detail:
 * unreadable, truncated zstd, invalid JSON with its line and column, not a report, no series). */
int nemb__plot_from_report_file(const char *path, const char *label, nemb__plot *p);
/* The same from @p len bytes of report text in memory (tests, the fuzz harness). */
int nemb__plot_from_report_bytes(const void *data, size_t len, const char *label, nemb__plot *p);

/* ----- the writers ----- */

/* The whole HTML page into @p out. Returns 0 or NEMB_ENOMEM. */
int nemb__plot_html(const nemb__plot *p, nemb__buf *out);
/* The PNG file's bytes into @p out. Returns 0, NEMB_ENOMEM or NEMB_EIO (cairo failed). */
int nemb__plot_png(const nemb__plot *p, nemb__buf *out);

/* The same chart as an SVG document (cairo's SVG surface), into @p out. Same returns. */
int nemb__plot_svg(const nemb__plot *p, nemb__buf *out);

/* The chart's colours, shared so the HTML and the PNG look alike: series colour @p i (the total
 * is drawn in near-black; domains take colours in order) as 0xRRGGBB. */
uint32_t nemb__plot_color(size_t i);
/* Fill colour of task window @p i (by its top-level task) as 0xRRGGBB. */
uint32_t nemb__plot_task_color(size_t i);

/* Length of the valid UTF-8 sequence at @p s (at most @p n bytes), or 0 if it is not one: text
 * from a session can hold any bytes, and neither JSON nor cairo accepts invalid UTF-8. */
size_t nemb__plot_utf8_len(const unsigned char *s, size_t n);

/* Text of the provenance label drawn on the chart ("ESTIMATED: ..."), or NULL for "measured". */
const char *nemb__plot_provenance(const nemb__plot *p);

/* ----- generated at build time from node_modules/uplot (cmake/embed_uplot.cmake) ----- */

extern const unsigned char nemb__plot_uplot_js[];
extern const size_t nemb__plot_uplot_js_len;
extern const unsigned char nemb__plot_uplot_css[];
extern const size_t nemb__plot_uplot_css_len;
extern const char nemb__plot_uplot_version[];

#endif /* NEMB_PLOT_H */
