/*
 * session.h - the inside of a nemb_session, shared by session.c (begin/end, threads, tasks),
 * checkpoint.c (checkpoints and their per-function aggregates), report.c (the JSON/CSV
 * envelope) and energy.c (interpolation). Not installed.
 *
 * Threads. Every thread that records into a session gets a nemb__thread of its own, found through
 * a thread-local pointer, so recording never takes a lock. Registration (a thread's first call)
 * takes threads_lock once. A recording call brackets its work with nemb__thread_enter() and
 * nemb__thread_leave(); nemb_session_end() sets `ended` and then waits until no thread is inside a
 * call, after which it owns every nemb__thread and may read them without races.
 *
 * Times are CLOCK_MONOTONIC nanoseconds. Wall-clock times are derived at report time from the
 * pair (t_begin, wall_begin) taken together at begin, so the hot path reads one clock only. The
 * hot path itself records stamps of the session's boundary clock (clock.h: TSC ticks or
 * CLOCK_MONOTONIC ns): task records and open tasks hold stamps until nemb_session_end() turns them
 * into CLOCK_MONOTONIC ns (after which every reader sees ns), and checkpoint events are converted
 * as they are resolved.
 */
#ifndef NEMB_SESSION_H
#define NEMB_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "clock.h"
#include "meter.h"

#define NEMB__MAX_DEPTH 256
#define NEMB__TASK_CHUNK 512

/* One finished (or, at end, force-closed) task. */
typedef struct nemb__task_rec {
  const char *name;   /* interned in the recording thread's pool: lives as long as the session */
  const char *parent; /* the enclosing task's name; NULL at depth 0 */
  uint32_t depth;
  uint32_t thread;         /* the recording thread's index (registration order, from 0) */
  uint64_t seq;            /* global start order, so the report lists tasks as they started */
  uint64_t t_start, t_end; /* boundary-clock stamps until the end converts them to ns */
  bool closed_at_end;      /* still open at nemb_session_end(): closed there */
} nemb__task_rec;

typedef struct nemb__task_chunk {
  struct nemb__task_chunk *next;
  size_t n;
  nemb__task_rec recs[NEMB__TASK_CHUNK];
} nemb__task_chunk;

typedef struct nemb__open_task {
  const char *name;
  uint64_t t_start; /* a boundary-clock stamp until the end */
  uint64_t seq;
} nemb__open_task;

/* A small string pool: each distinct name is copied once; lookups allocate nothing. */
typedef struct nemb__intern {
  char **slots; /* open addressing, power-of-two size */
  size_t cap;
  size_t n;
} nemb__intern;

struct nemb__cp_thread; /* checkpoint.c */
struct nemb__node;      /* node.c: the node-local leader of a parallel job */
struct nemb__cp_registry;

typedef struct nemb__thread {
  struct nemb__thread *next;
  uint64_t owner; /* the identity of the thread these records belong to (never reused, unlike a
                     pthread_t: see session.c's thread_identity) */
  uint32_t index;
  atomic_int in_call; /* 1 while inside a recording call */
  nemb__open_task stack[NEMB__MAX_DEPTH];
  uint32_t depth;
  nemb__task_chunk *first, *last;
  nemb__intern names;
  struct nemb__cp_thread *cp; /* created by checkpoint.c on the thread's first checkpoint */
} nemb__thread;

/* Report thresholds, read from the config at begin (measurement.report.noise_warning.*). */
typedef struct nemb__noise_cfg {
  double cv_percent;           /* warn at or above this within-task power CV */
  double drop_ratio;           /* warn at or above this share of missing samples */
  double excellent_cv_percent; /* quality buckets: excellent < this */
  double good_cv_percent;      /* good < this; moderate < cv_percent; else high-noise */
} nemb__noise_cfg;

struct nemb_session {
  /* Options, copied at begin. */
  char *name;                /* NULL: session_name is null (CLI runs) */
  char *output_path;         /* NULL: no file */
  nemb_output_format format; /* resolved: JSON, CSV or NONE */
  bool record_time_series;
  char *python_version; /* NULL: null in the report */
  char **argv;
  size_t argc;
  nemb__noise_cfg noise;
  uint64_t detail_limit;      /* measurement.checkpoints.detail_limit */
  uint64_t task_detail_limit; /* measurement.report.task_detail_limit */

  /* Measurement. */
  nemb_meter *meter;        /* NULL: no provider could be opened ("no_backend") */
  char backend_error[1024]; /* why, when meter is NULL */
  uint64_t t_begin, t_end;  /* t_end is 0 until the end */
  nemb__clock clock;        /* the boundary clock: its begin point is t_begin, its end t_end */
  double wall_begin;        /* CLOCK_REALTIME seconds at t_begin */
  char run_id[13];
  int pid;                 /* the process that began it: a forked child does not report */
  bool exclusive;          /* holds the process's one exclusive slot (see nemb.h) */
  uint64_t generation;     /* tells a thread-local pointer of an older session from ours */
  struct nemb__node *node; /* in an MPI/Slurm job: leader or follower (node.c) */

  /* Recording. */
  atomic_bool ended;
  pthread_mutex_t threads_lock;
  nemb__thread *threads; /* newest first */
  uint32_t n_threads;
  atomic_uint_fast64_t task_seq;
  struct nemb__cp_registry *cp;

  /* The result. */
  char *report_json;
  char *write_error;             /* why the file could not be written, or NULL */
  struct nemb__results *results; /* results.c's table, built on first query after the end */

  /* Carbon (carbon.c): grams CO2e per kWh the user gave, 0 for none, and where it came from. */
  double carbon_g_per_kwh;
  char carbon_from[512];
};

/* ----- session.c ----- */

/* The calling thread's record for @p s, registering it on first use, with in_call raised.
 * Returns NULL with *rc = NEMB_ESTATE after the end, or NEMB_ENOMEM. */
nemb__thread *nemb__thread_enter(nemb_session *s, int *rc);
/* Lowers in_call: the end may now read this thread's records. */
void nemb__thread_leave(nemb__thread *t);

/* Returns the pooled copy of @p str (copying it the first time), or NULL when out of memory. */
const char *nemb__intern_get(nemb__intern *pool, const char *str);
void nemb__intern_release(nemb__intern *pool);

/* Every task record of the session, sorted by seq, in a new array the caller frees. Only after
 * the end. Returns 0 or NEMB_ENOMEM. */
int nemb__session_tasks(const nemb_session *s, nemb__task_rec **out, size_t *n);

/* ----- energy.c: cumulative energy at any instant, interpolated between samples ----- */

/* Writes into @p uj (one value per domain) the energy in microjoules accumulated from the first
 * sample to @p t_ns, linearly interpolated between the two samples that bracket it. Before the
 * first sample it gives the first; after the last, the last, and returns false (the instant is
 * outside what was sampled). @p hint, if not NULL, carries a sample index between calls with
 * nearby times, making a run of increasing instants cost O(1) each; start it at 0. Only samples
 * below @p count are used. */
bool nemb__energy_at(const nemb_meter *m, size_t count, uint64_t t_ns, double *uj, size_t *hint);

/* The sum of the in-total domains of @p uj (what energy_j adds up). */
double nemb__energy_total(const nemb_meter *m, const double *uj);

/* A span shorter than this many update periods of an in-total domain gets an uncertainty. */
#define NEMB__FEW_UPDATES 4
/* An end of a span whose two stored samples around it lie more than this many times their
 * usual spacing apart (the domain's update period or the sampler's interval, whichever is
 * longer, doubled for each time the store coarsened) fell where the sampler missed counter
 * updates, a starved sampler on a busy machine: it gets an uncertainty whatever the length. */
#define NEMB__GAP_UPDATES 3

/* Why a span's energy has an uncertainty (bits of nemb__uncertainty.why). */
#define NEMB__UNC_SHORT 1u /* shorter than NEMB__FEW_UPDATES update periods */
#define NEMB__UNC_GAP 2u   /* an end in a stretch where the sampler missed updates */

/* What the counters allow either side of a span's energy. */
typedef struct nemb__uncertainty {
  double uj;    /* half-width in microjoules, summed over in-total domains; 0: fixed */
  unsigned why; /* NEMB__UNC_* bits; 0 when uj is 0 */
} nemb__uncertainty;

/* The in-total energy from @p a to @p b in microjoules, each domain's share into @p dom (NULL:
 * not wanted). @p unc (NULL: not wanted) receives what the counters allow either way for a span
 * shorter than NEMB__FEW_UPDATES update periods of a domain or with an end in a sampler gap
 * (NEMB__GAP_UPDATES), else zeroes. The report, the plot and the checkpoints all take span
 * energies from here. */
double nemb__energy_span(const nemb_meter *m, size_t count, uint64_t a, uint64_t b, double *dom,
                         nemb__uncertainty *unc, size_t *hint);

/* The in-total cumulative energy at @p t_ns (nemb__energy_at summed). */
double nemb__energy_total_at(const nemb_meter *m, size_t count, uint64_t t_ns, size_t *hint);

/* The in-total power in watts of the stored interval containing @p t_ns (the last one when it is
 * past the end); 0 with fewer than two samples. */
double nemb__energy_power_w(const nemb_meter *m, size_t count, uint64_t t_ns, size_t *hint);

/* The two stored samples around @p t_ns (ta <= t_ns <= tb, ta < tb) with their in-total
 * cumulative energies in microjoules, so a caller can interpolate many instants inside them (as
 * nemb__energy_total_at would) and take their power (as nemb__energy_power_w would) without the
 * store's lock. Returns false when no such pair exists (fewer than two samples, t_ns before the
 * first or at or after the last). The values are copies: later coarsening cannot change them. */
bool nemb__energy_bracket(const nemb_meter *m, size_t count, uint64_t t_ns, uint64_t *ta,
                          double *ea, uint64_t *tb, double *eb, size_t *hint);

/* The number of stored samples and the time of the newest (0 when none), read together. */
size_t nemb__energy_extent(const nemb_meter *m, uint64_t *last_t);

/* Each domain's power in watts over the stored interval containing @p t_ns, into @p w. */
void nemb__energy_rates(const nemb_meter *m, size_t count, uint64_t t_ns, double *w);

/* ----- checkpoint.c ----- */

/* Per-function aggregate over all threads, after nemb__cp_finish(). Energies are in-total sums. */
typedef struct nemb__func_stats {
  const char *name;
  const char *context; /* may be NULL */
  int line;
  uint64_t calls;
  uint64_t incl_ns, self_ns; /* inclusive of callees; self excludes time in checkpointed callees */
  double incl_uj, self_uj;
  uint64_t max_depth; /* deepest recursion seen */
} nemb__func_stats;

/* One kept per-invocation event (up to detail_limit), in the reference's result-block shape. */
typedef struct nemb__cp_detail {
  const char *name;
  const char *context;       /* the function's context (its file), or NULL */
  const char *checkpoint_id; /* as given to nemb_checkpoint(), or NULL for the id-based calls */
  bool enter;
  int line;
  uint64_t invocation; /* per function, across threads: 1, 2, ... */
  uint32_t thread;
  uint64_t t_ns;
  double energy_uj; /* cumulative in-total energy since the session began, at t_ns */
  double power_w;   /* in-total power of the sample interval containing t_ns */
} nemb__cp_detail;

typedef struct nemb__cp_summary {
  uint64_t events;      /* enter and exit calls recorded */
  uint64_t invocations; /* completed enter/exit pairs */
  uint64_t details_kept;
  uint64_t details_dropped; /* beyond detail_limit: counted, not stored */
  uint64_t unbalanced;      /* exits with no matching enter, and enters still open at the end */
  uint64_t extrapolated;    /* events whose energy had to be extrapolated (see checkpoint.c) */
} nemb__cp_summary;

int nemb__cp_init(nemb_session *s);    /* at begin: 0 or NEMB_ENOMEM */
void nemb__cp_finish(nemb_session *s); /* after the sampler stopped: resolve and merge */
void nemb__cp_free(nemb_session *s);   /* at destroy, frees every thread's cp state too */
size_t nemb__cp_functions(const nemb_session *s, const nemb__func_stats **out);
size_t nemb__cp_details(const nemb_session *s, const nemb__cp_detail **out);
void nemb__cp_get_summary(const nemb_session *s, nemb__cp_summary *out);

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

/* Builds the JSON envelope (after the end, with the sampler stopped). Returns 0 or NEMB_ENOMEM;
 * *out is the caller's (free()). */
int nemb__report_json(const nemb_session *s, char **out);
/* The same report as CSV, one row per task. */
int nemb__report_csv(const nemb_session *s, char **out);

/* report_meta.c, for report.c: the meta object (a jansson json_t *), the wall-clock time of a
 * monotonic instant, and a JSON string that tolerates NULL and invalid UTF-8. */
struct json_t;
struct json_t *nemb__report_meta(const nemb_session *s, const char *quality);
double nemb__report_wall(const nemb_session *s, uint64_t t_ns);
struct json_t *nemb__report_string(const char *v);

#endif /* NEMB_SESSION_H */
