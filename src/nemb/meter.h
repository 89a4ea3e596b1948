/*
 * meter.h - the inside of a nemb_meter, shared by meter.c (creation, providers, public getters)
 * and sampler.c (the thread). Not installed.
 *
 * Ownership between threads:
 *   - providers[], unwrap[] and raw[] belong to the sampler thread while it runs, and to the
 *     controlling thread before start and after stop; a polled provider's state belongs to its
 *     poller thread while sampling (poller.h);
 *   - store is written by the sampler only and read by anyone (see store.h);
 *   - latest_* form a sequence lock the sampler writes and anyone reads;
 *   - interval_ns and the statistics are atomics;
 *   - lock/wake only carry "stop now" and "the interval changed" to a sleeping sampler.
 */
#ifndef NEMB_METER_H
#define NEMB_METER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "edges.h"
#include "internal.h"
#include "poller.h"
#include "provider.h"
#include "store.h"
#include "unwrap.h"

#define NEMB__MAX_PROVIDERS 8
#define NEMB__MAX_OVERLAPS (2 * NEMB__MAX_DOMAINS)
#define NEMB__PENDING 4096         /* rows waiting for a slow domain's next update: 4 s at 1 ms */
#define NEMB__LOST_NS 100000000ull /* failing this long without a good read: the domain is lost */

/* What the start-up cross-check concluded about a domain that two providers see. */
typedef enum nemb__xcheck {
  NEMB__XCHECK_SKIPPED = 0, /* not compared (providers.cross_check_ms is 0) */
  NEMB__XCHECK_AGREE,       /* the two powers agree within the tolerance */
  NEMB__XCHECK_DISAGREE,    /* they do not: the note says by how much */
  NEMB__XCHECK_FAILED       /* a reading failed or went backwards: nothing to compare */
} nemb__xcheck;

/* One domain seen by two providers: read from `used` only (the earlier in the registry's order of
 * preference), never added twice, and compared at start-up with `other`. */
typedef struct nemb__overlap {
  char domain[NEMB__NAME_MAX];     /* as the meter names it (the used provider's name) */
  const char *used;                /* provider the domain is read from */
  const char *other;               /* provider that also sees it and is not read for it */
  char other_name[NEMB__NAME_MAX]; /* the other provider's name for it ("dram" for "dram-0") */
  nemb__xcheck verdict;
  double used_w, other_w; /* mean power over the window, when compared */
  uint64_t window_ns;
  char note[160];
} nemb__overlap;

typedef struct nemb__open_provider {
  const struct nemb__provider_ops *ops;
  void *state;
  size_t first; /* index of its first domain in the meter */
  size_t count; /* how many domains it has */
  /* A provider whose calls can block is read on its own thread (poller.h) while sampling. */
  bool polled; /* it has a cadence() */
  uint64_t every_ns, deadline_ns;
  nemb__poller *poller; /* while sampling */
  uint64_t poll_gen;    /* the last publication the sampler took */
  bool left_behind;     /* its poller hung at stop and owns the provider now: never close it */
  uint64_t poll_cpu_ns; /* CPU time its poller's reads took, over every run (set at stop) */
} nemb__open_provider;

struct nemb_meter {
  /* What is measured: fixed at creation. */
  size_t n_domains;
  nemb__domain domains[NEMB__MAX_DOMAINS];
  const char *source[NEMB__MAX_DOMAINS]; /* the provider name of each domain */
  bool measured[NEMB__MAX_DOMAINS];
  const char *include_ptrs[NEMB__MAX_DOMAINS][NEMB__MAX_INCLUDES];
  nemb__open_provider providers[NEMB__MAX_PROVIDERS];
  size_t n_providers;
  /* Domains more than one provider sees, each counted once (automatic selection only). */
  nemb__overlap overlaps[NEMB__MAX_OVERLAPS];
  size_t n_overlaps;

  /* Reading state (sampler thread). */
  nemb__unwrap unwrap[NEMB__MAX_DOMAINS];
  uint64_t raw[NEMB__MAX_DOMAINS];
  uint64_t total[NEMB__MAX_DOMAINS];
  uint64_t guard_ns;                 /* longest safe gap between two reads, so no wrap is missed */
  uint64_t last_deadline, last_step; /* where the thread's schedule stood when it exited */
  uint64_t update_ns; /* the slowest counter's update period: how stale a reading can be */

  nemb__store store;

  /* The update-edge model (sampler thread; read by the report after the stop). Each domain's
   * readings become points (update instant, cumulative energy); rows are queued at their
   * instants until every domain has a point at or after them, then interpolated and stored. */
  nemb__edges edges[NEMB__MAX_DOMAINS];
  /* edges[d]'s period in ns, published by nemb__meter_period_set() for readers on other threads
   * (a checkpoint's uncertainty during the run): the sampler thread owns edges[]. */
  _Atomic uint64_t period_ns[NEMB__MAX_DOMAINS];
  size_t ref_dom;                       /* the domain whose updates time the reads; SIZE_MAX none */
  size_t slow_dom;                      /* the slowest in-total counter, probed at its updates */
  uint64_t prev_read_t;                 /* time of the previous read (any kind) */
  uint64_t prev_raw[NEMB__MAX_DOMAINS]; /* raw value each domain showed at its last good read */
  uint64_t prev_ok_t[NEMB__MAX_DOMAINS]; /* time of that read */
  bool prev_ok[NEMB__MAX_DOMAINS];
  uint64_t chg_lo[NEMB__MAX_DOMAINS], chg_hi[NEMB__MAX_DOMAINS]; /* reads around the last change */
  bool read_ok[NEMB__MAX_DOMAINS];    /* this read's outcome per domain */
  uint64_t seen_t[NEMB__MAX_DOMAINS]; /* the time each domain's latest value was read at (a
                                         polled provider's can be older than the read's) */
  uint64_t lag_ns[NEMB__MAX_DOMAINS]; /* how old a polled domain's value can be; 0 if not */
  bool have_pt[NEMB__MAX_DOMAINS];
  bool have_first[NEMB__MAX_DOMAINS]; /* the first reading, until the first change places it */
  uint64_t first_t[NEMB__MAX_DOMAINS], first_v[NEMB__MAX_DOMAINS];
  bool have_chg1[NEMB__MAX_DOMAINS]; /* the first change, waiting for the second */
  uint64_t chg1_t[NEMB__MAX_DOMAINS], chg1_v[NEMB__MAX_DOMAINS];
  uint64_t pt_t[NEMB__MAX_DOMAINS], pt2_t[NEMB__MAX_DOMAINS]; /* the last two points */
  uint64_t pt_v[NEMB__MAX_DOMAINS], pt2_v[NEMB__MAX_DOMAINS];
  uint64_t *rows;              /* ring of NEMB__PENDING rows of (2 + n_domains) words: t, unresolved
                                  mask, values */
  uint64_t row_head, row_tail; /* absolute indices; rows [head, tail) are queued */
  uint64_t cursor[NEMB__MAX_DOMAINS]; /* each domain's first unresolved row */
  uint64_t last_row_t;
  bool simulated;     /* every provider computes its values at the time it is given */
  uint64_t jitter_ns; /* coordinator.sampler_jitter_us: tests and benchmarks */
  uint64_t rng;

  /* Probes of the reference's updates (sampler.c's aim(); the sampler thread only). */
  double wake_late_ns;    /* a wake-up's usual lateness (running mean, capped): probes lead by it */
  double probe_unc_ns;    /* the reference's uncertainty when the last probe was planned; 0: none */
  unsigned probe_wait;    /* deadlines to let pass before the next probe */
  unsigned probe_backoff; /* what probe_wait restarts from after a probe that narrowed nothing */

  /* Each domain fails on its own (sampler thread writes; the report reads after the stop). */
  uint64_t dom_errors[NEMB__MAX_DOMAINS];     /* failed reads */
  uint64_t dom_fail_since[NEMB__MAX_DOMAINS]; /* first failure of the current run; 0 = fine */
  uint64_t dom_lost_at[NEMB__MAX_DOMAINS];    /* a run of failures that lasted to the end or
                                                 LOST_NS: when it began; 0 = never */
  int dom_last_rc[NEMB__MAX_DOMAINS];

  /* A span no sample measured, [bridge_from_ns, bridge_to_ns]: the store's samples on either
   * side of it come from two samplers (a follower rank whose node leader died: the leader's last
   * sample, then the rank's own first, node.c), and the energy across it is the straight line
   * between them, an estimate. A span overlapping it carries it in its energy_uncertainty_j
   * (energy.c), the verdict is "degraded" and meta.sampler.warnings says why (bridge_why).
   * Both 0: none. Set before the report is built, never changed after. */
  uint64_t bridge_from_ns, bridge_to_ns;
  char bridge_why[192];

  /* The latest reading, under a sequence lock: odd while being written. */
  _Atomic uint64_t latest_seq;
  _Atomic uint64_t latest_t;
  _Atomic uint64_t latest_uj[NEMB__MAX_DOMAINS];

  /* The sampler thread. */
  _Atomic uint64_t interval_ns;
  atomic_bool running;
  atomic_bool retime; /* the interval changed: recompute the deadline now */
  bool started;
  bool thread_live;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;

  /* Statistics (written by the sampler, read by anyone). */
  _Atomic uint64_t st_samples, st_reads, st_late, st_missed, st_worst_late, st_late_sum,
      st_read_errors, st_dropped, st_wakeups, st_probes, st_same;
  _Atomic int st_last_read_error;            /* the code of the latest failed read, or 0 */
  const char *_Atomic st_last_read_provider; /* and its provider's name (static) */
};

/* True when two domain names mean the same counter: equal, or equal once a bare sub-domain name
 * is read as socket 0's ("dram" and "dram-0"), since powercap names DRAM "dram-0" where the MSR
 * and perf providers, on a one-socket machine, say "dram" (meter.c). */
bool nemb__same_domain(const char *a, const char *b);

/* The cross-check's rule (meter.c): two mean powers agree when they differ by at most 10 % of the
 * larger or 1 W, whichever is more. Two interfaces to one RAPL register differ by a fraction of a
 * percent; a unit decoded wrongly is off by a factor of 4 or more. */
nemb__xcheck nemb__xcheck_verdict(double a_w, double b_w);

/* Replaces the (still empty) sample store with one of capacity @p cap; before start only
 * (meter.c). Returns 0, NEMB_ESTATE or NEMB_ENOMEM. */
int nemb__meter_set_capacity(nemb_meter *m, size_t cap);

/* Starts the sampler thread (sampler.c). The first reading is taken in the calling thread before
 * the thread starts, so a sample exists when this returns. */
int nemb__sampler_start(nemb_meter *m);

/* Signals the thread, joins it, and takes the final reading (sampler.c). */
void nemb__sampler_stop(nemb_meter *m);

/* Reads every provider at @p t_ns, unwraps, learns update instants from what changed, and
 * publishes it as the latest reading. */
void nemb__meter_read(nemb_meter *m, uint64_t t_ns);

/* Turns the latest reading (taken at @p t_ns) into points of each domain's energy curve and a row
 * at the update instant it shows, storing every row all domains have reached. */
void nemb__meter_store(nemb_meter *m, uint64_t t_ns);

/* Resolves every queued row (extrapolating a domain past its last update by its last power) and
 * stores them: the closing step, after the last read at @p t_ns. */
void nemb__meter_flush(nemb_meter *m, uint64_t t_ns);

/* The update period of domain @p d as learned (the provider's nominal one until then), ns, as
 * last published; any thread. */
double nemb__meter_period_ns(const nemb_meter *m, size_t d);

/* Publishes edges[@p d]'s period for nemb__meter_period_ns(): after each change of edges[d], by
 * the thread that owns it. */
void nemb__meter_period_set(nemb_meter *m, size_t d);

#endif /* NEMB_METER_H */
