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
  char *energy_source;     /* "measured", "estimated", "simulated", "none"; NULL if not stated */
  char *quality;           /* measurement_quality */
  char *started_at;        /* RFC 3339 */
  char *origin;            /* "session" or the report's path */
  double energy_j;         /* totals.energy_j: the depth-0 tasks */
  double session_energy_j; /* NAN when not known */
  uint64_t span_ns;        /* the x axis runs over [0, span_ns]: the session's duration */
  uint64_t t0_mono_ns;     /* CLOCK_MONOTONIC of x = 0 */
  double interval_ms;      /* the sampling interval; NAN when not known */

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
struct json_t;
/* From an ended session: every stored sample, whether or not time series were recorded. */
int nemb__plot_from_session(const struct nemb_session *s, nemb__plot *p);
/* From a parsed report (its tasks' time series); @p label names it in messages. */
/* The most of a report nemb__report_read() takes in (a one-hour time series at 1 ms is ~300 MiB).
 */
#define NEMB__REPORT_MAX_BYTES ((size_t)1 << 30)

/* Reads and parses the report at @p path into *out (caller decrefs). A directory, a file over
 * NEMB__REPORT_MAX_BYTES, a read error, memory and bad JSON each get their own message.
 * @return 0 or a NEMB_E* code (with nemb__fail's detail). */
int nemb__report_read(const char *path, struct json_t **out);

int nemb__plot_from_report(struct json_t *report, const char *label, nemb__plot *p);

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
