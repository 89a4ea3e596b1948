/*
 * checkpoint.h - function enter/exit checkpoints from instrumented code, per thread while the
 * session runs and aggregated per function at its end (checkpoint.c). Reads the records layer
 * and the energy below it; the report reads these results. Not installed.
 */
#ifndef NEMB_CHECKPOINT_H
#define NEMB_CHECKPOINT_H

#include "records.h"

/* Per-function aggregate over all threads, after nemb__cp_finish(). Energies are in-total sums. */
typedef struct nemb__func_stats {
  const char *name;
  const char *context; /* may be NULL */
  int line;
  uint64_t calls;
  uint64_t incl_ns, self_ns; /* inclusive of callees; self excludes time in checkpointed callees */
  double incl_uj, self_uj;
  /* What the counters allow either side of incl_uj: the sum over the outermost calls of
   * energy.h's rule in its per-call form (nemb__short_rule_uj) plus what sampler gaps at the
   * calls' ends leave open, microjoules; NEMB__UNC_* bits of its causes. */
  double unc_uj;
  unsigned unc_why;
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

/* Test seams (checkpoint.c): the most events a thread's queue grows to (QUEUE_MAX, 2^20; a power
 * of two from 1024 up, never above QUEUE_MAX) and the longest a full queue waits for a sample
 * (WAIT_MAX_NS, 100 ms). Tests lower the first so a queue fills within a few samples, and set the
 * second to 0 (extrapolate at once, as a stalled sampler makes it) or high. */
extern size_t nemb__cp_queue_max;
extern uint64_t nemb__cp_wait_max_ns;

int nemb__cp_init(nemb_session *s);    /* at begin: 0 or NEMB_ENOMEM */
void nemb__cp_finish(nemb_session *s); /* after the sampler stopped: resolve and merge */
void nemb__cp_free(nemb_session *s);   /* at destroy, frees every thread's cp state too */
size_t nemb__cp_functions(const nemb_session *s, const nemb__func_stats **out);
size_t nemb__cp_details(const nemb_session *s, const nemb__cp_detail **out);
void nemb__cp_get_summary(const nemb_session *s, nemb__cp_summary *out);

#endif /* NEMB_CHECKPOINT_H */
