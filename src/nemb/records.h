/*
 * records.h - the records a session keeps while it runs, below everything that reads them: the
 * session struct itself, each recording thread's record (its open tasks, finished task records
 * and string pool), and the functions that find, fill, gather and free them (records.c). The
 * lifecycle (session.c), the checkpoints (checkpoint.c) and the report (report.c) all sit on
 * top of this layer and never call each other through it. Not installed.
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
#ifndef NEMB_RECORDS_H
#define NEMB_RECORDS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "chunks.h"
#include "clock.h"
#include "meter.h"

#define NEMB__MAX_DEPTH 256
#define NEMB__TASK_CHUNK 512 /* records in a thread's first chunk (records.c: task_rule) */

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

typedef struct nemb__open_task {
  const char *name;
  uint64_t t_start; /* a boundary-clock stamp until the end */
  uint64_t seq;
} nemb__open_task;

/* A task opened with nemb_task_open(): outside the thread's stack, with the parent and depth it
 * was given. A slot is free while seq is NEMB__LOOSE_FREE. */
#define NEMB__LOOSE_FREE UINT64_MAX
#define NEMB__LOOSE_SLOT_BITS 20 /* an id is slot | seq << 20 (nemb_task_open()) */
typedef struct nemb__loose_task {
  const char *name;
  const char *parent; /* NULL at depth 0 */
  uint32_t depth;
  uint32_t next_free; /* while free: the next free slot + 1, 0 for none */
  uint64_t t_start;   /* a boundary-clock stamp until the end */
  uint64_t seq;
} nemb__loose_task;

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
  nemb__loose_task *loose; /* nemb_task_open()'s open tasks, by slot (grown by realloc) */
  uint32_t n_loose, loose_cap, loose_free; /* slots used; allocated; first free slot + 1 */
  nemb__chunks tasks; /* nemb__task_rec records, in records.c's task_rule's chunks */
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
  bool columnar;        /* measurement.report.timeseries_layout "columnar" (report_columnar.c) */
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
  atomic_bool report_ready;      /* the end finished: the report can be built (session.c) */
  pthread_mutex_t report_lock;   /* guards the first build of report_json and report_summary */
  char *report_json;             /* the whole text, built on the first nemb_session_report_json() */
  char *report_summary;          /* the same without series: nemb_session_report_summary_json() */
  char *report_warnings;         /* meta.sampler.warnings alone: nemb_session_warnings_json() */
  char *write_error;             /* why the file could not be written, or NULL */
  struct nemb__results *results; /* results.c's table, built on first query after the end */

  /* Carbon (carbon.c): grams CO2e per kWh the user gave, 0 for none, and where it came from. */
  double carbon_g_per_kwh;
  char carbon_from[512];
};

/* ----- records.c ----- */

/* The calling thread's record for @p s, registering it on first use, with in_call raised.
 * Returns NULL with *rc = NEMB_ESTATE after the end, or NEMB_ENOMEM. */
nemb__thread *nemb__thread_enter(nemb_session *s, int *rc);
/* Lowers in_call: the end may now read this thread's records. */
void nemb__thread_leave(nemb__thread *t);

/* Returns the pooled copy of @p str (copying it the first time), or NULL when out of memory. */
const char *nemb__intern_get(nemb__intern *pool, const char *str);
void nemb__intern_release(nemb__intern *pool);

/* The record of thread @p t's innermost open task (depth > 0), ended at @p t_end. */
nemb__task_rec nemb__thread_top_record(const nemb__thread *t, uint64_t t_end, bool closed_at_end);

/* A free slot of thread @p t's loose tasks (its own thread, inside a recording call), growing the
 * table. Returns the slot, or -1 when out of memory or past 2^20 slots. */
int64_t nemb__thread_loose_slot(nemb__thread *t);
/* Frees slot @p slot after its task was recorded. */
void nemb__thread_loose_release(nemb__thread *t, uint32_t slot);
/* The record of loose task @p slot, ended at @p t_end. */
nemb__task_rec nemb__thread_loose_record(const nemb__thread *t, uint32_t slot, uint64_t t_end,
                                         bool closed_at_end);

/* Appends @p rec to thread @p t's task records (its own thread, inside a recording call, or the
 * end). Returns 0 or NEMB_ENOMEM. */
int nemb__thread_append_task(nemb__thread *t, const nemb__task_rec *rec);

/* Every task record of the session, sorted by seq, in a new array the caller frees. Only after
 * the end. Returns 0 or NEMB_ENOMEM. */
int nemb__session_tasks(const nemb_session *s, nemb__task_rec **out, size_t *n);

/* At the end, with every thread out of its calls: turns the task stamps and open tasks' starts
 * into CLOCK_MONOTONIC ns (records.h's times), then closes at t_end the tasks left open, marked
 * closed_at_end (a forgotten stop loses no data). */
void nemb__records_to_ns(nemb_session *s);
void nemb__records_close_open(nemb_session *s);

/* Frees every thread's records (at destroy). */
void nemb__records_free(nemb_session *s);

#endif /* NEMB_RECORDS_H */
