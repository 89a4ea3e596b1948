/*
 * poller.c - a provider read on a thread of its own (poller.h says why and what it publishes).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edges.h"
#include "internal.h"
#include "poller.h"

#define PROBE_UNC_NS 100000.0    /* read around a predicted update once it is this uncertain */
#define PROBE_MARGIN_NS 100000.0 /* aim that far from it (a driver call takes about as long) */
/* A read is stamped with its start, t0, but the driver takes its value somewhere inside the
 * call (one device after another, for several GPUs). A read much longer than usual was
 * preempted inside the call, and its value belongs to an unknown moment up to t1: such a read
 * is set aside (the next one sees the same counter, with a narrow bracket) unless reads have
 * been that long WIDE_RUN_MAX times in a row, when the driver is simply slow. */
#define WIDE_SLACK_NS 1000000u /* longer than WIDE_FACTOR x usual + this: a wide read */
#define WIDE_FACTOR 4u
#define WIDE_RUN_MAX 3u
#define LEARN_READS 128 /* reads every period / 8 while a domain has no model, at the start ... */
#define LEARN_MIN_GAP_NS 1e6 /* never learning reads faster than 1 kHz (nor for a 1 ms counter) */
#define LEARN_REFILL 5 /* ... and one more per this many reads after (at most 20 % more reads) */
/* The most of a core the reads may take, on average: a driver call can spin rather than wait.
 * NVIDIA's 580 driver in a Firecracker guest spent 3.8 ms of CPU in each energy-counter call
 * (bench_nvml, README nvml), so reading every 10 ms kept 40 % of a core busy; the reads are
 * spaced so that their CPU time stays within this share (a call of 0.5 ms CPU or less, as on
 * bare metal, is read at `every_ns` as before). */
#define CPU_SHARE 0.05

struct nemb__poller {
  const struct nemb__provider_ops *ops;
  void *state;
  size_t n;
  uint64_t every_ns, deadline_ns;
  pthread_t thread;

  /* Control, under ctl: the thread sleeps on wake; start and stop wait on ended. */
  pthread_mutex_t ctl;
  pthread_cond_t wake, ended;
  bool running, first_done, done, left_behind;

  _Atomic uint64_t busy_since; /* start of the read in progress; 0 when none */
  _Atomic uint64_t reads;

  /* The publication, under snap (held only to copy). */
  pthread_mutex_t snap;
  uint64_t gen;
  nemb__poll_dom pub[NEMB__MAX_DOMAINS];

  /* The thread's own. */
  nemb__poll_dom cur[NEMB__MAX_DOMAINS];
  uint64_t last_val[NEMB__MAX_DOMAINS];
  bool have[NEMB__MAX_DOMAINS];
  nemb__edges edges[NEMB__MAX_DOMAINS];
  uint64_t raw[NEMB__MAX_DOMAINS];
  uint64_t at[NEMB__MAX_DOMAINS]; /* the instants the provider stamped the values with */
  uint64_t post_at;               /* a read due just after a predicted update; 0 = none */
  uint64_t usual_ns;              /* a running mean of how long a read takes; 0 before the first */
  unsigned wide_run;              /* wide reads set aside in a row */
  _Atomic uint64_t wide_reads;
  unsigned learn_left;     /* learning reads still allowed */
  uint64_t rested_at;      /* when the reads so far are within CPU_SHARE of a core (their CPU time
                              over CPU_SHARE since then); no tick or learning read comes before */
  _Atomic uint64_t cpu_ns; /* CPU time the reads took, in all */
  uint64_t rng;
};

static struct timespec to_timespec(uint64_t ns) {
  struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
  return ts;
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

/* This thread's CPU time, ns. */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One read of the provider, turned into the per-domain view and published. */
static void poll_once(nemb__poller *p) {
  uint64_t t0 = nemb__now_ns(), c0 = thread_cpu_ns();
  atomic_store(&p->busy_since, t0);
  int rc = p->ops->read(p->state, t0, p->raw);
  uint64_t cpu = thread_cpu_ns() - c0;
  atomic_fetch_add_explicit(&p->cpu_ns, cpu, memory_order_relaxed);
  p->rested_at = (p->rested_at > t0 ? p->rested_at : t0) + (uint64_t)((double)cpu / CPU_SHARE);
  memset(p->at, 0, p->n * sizeof p->at[0]);
  if (rc == 0 && p->ops->stamps != NULL) {
    p->ops->stamps(p->state, p->at);
  }
  uint64_t t1 = nemb__now_ns();
  atomic_store(&p->busy_since, 0);
  uint64_t reads = atomic_fetch_add_explicit(&p->reads, 1, memory_order_relaxed) + 1;
  if (reads % LEARN_REFILL == 0 && p->learn_left < LEARN_READS) {
    p->learn_left++;
  }
  uint64_t took = t1 - t0;
  bool wide = p->usual_ns > 0 && took > WIDE_FACTOR * p->usual_ns + WIDE_SLACK_NS;
  /* Slow reads move the mean too, so a driver that got slow for good is accepted soon. */
  p->usual_ns = p->usual_ns == 0 ? took : p->usual_ns - p->usual_ns / 8 + took / 8;
  /* A read whose every value carries the instant it was taken is placed by those instants,
   * however long the call took. */
  bool all_stamped = rc == 0;
  for (size_t d = 0; d < p->n; d++) {
    all_stamped = all_stamped && p->at[d] != 0;
  }
  wide = wide && !all_stamped;
  if (wide && p->wide_run < WIDE_RUN_MAX) {
    p->wide_run++;
    atomic_fetch_add_explicit(&p->wide_reads, 1, memory_order_relaxed);
    return;
  }
  p->wide_run = 0;
  for (size_t d = 0; d < p->n; d++) {
    nemb__poll_dom *c = &p->cur[d];
    uint64_t v = rc == 0 ? p->raw[d] : NEMB__RAW_INVALID;
    if (v == NEMB__RAW_INVALID) {
      c->raw = NEMB__RAW_INVALID;
      c->rc = rc != 0 ? rc : NEMB_EIO;
      continue;
    }
    /* The value was taken somewhere within the call, or at the instant the provider stamped it
     * with (one inside what is known: not after the call, not before the last value's). */
    uint64_t v_lo = t0, v_hi = t1, at = p->at[d];
    if (at != 0 && at <= t1 && (!p->have[d] || at >= c->seen_t)) {
      v_lo = v_hi = at;
    }
    if (p->have[d] && v != p->last_val[d]) {
      c->chg_lo = c->seen_t; /* the last read that still showed the old value */
      c->chg_hi = v_hi;
      c->changed = true;
      nemb__edges_observe(&p->edges[d], c->chg_lo, c->chg_hi);
    }
    c->raw = v;
    c->rc = 0;
    c->seen_t = v_lo;
    p->last_val[d] = v;
    p->have[d] = true;
  }
  pthread_mutex_lock(&p->snap);
  memcpy(p->pub, p->cur, p->n * sizeof p->pub[0]);
  p->gen++;
  pthread_mutex_unlock(&p->snap);
}

/* When to read next after a read that ended at @p t1: the next jittered tick, or a read just
 * before a predicted update whose prediction has grown uncertain (then one just after it), or,
 * while a domain has no model narrow enough for that (at the start: a 20 ms counter read every
 * ~10 ms never shows a bracket of a quarter period), a learning read a period / 8 on, so that a
 * change is soon bracketed narrowly and the model can start (LEARN_READS bounds what it costs). */
static uint64_t next_read(nemb__poller *p, uint64_t t1) {
  if (p->post_at > t1) {
    uint64_t at = p->post_at;
    p->post_at = 0;
    return at;
  }
  p->post_at = 0;
  double u = (double)(xorshift(&p->rng) >> 11) / 9007199254740992.0; /* [0, 1) */
  uint64_t next = t1 + (uint64_t)((double)p->every_ns * (0.5 + u));
  uint64_t learn_at = UINT64_MAX;
  for (size_t d = 0; d < p->n; d++) {
    double e, unc, per = nemb__edges_period(&p->edges[d]);
    bool model = nemb__edges_before(&p->edges[d], t1, &e, &unc);
    if ((!model || unc > per / 8) && p->learn_left > 0 && per / 8 < (double)p->every_ns &&
        per / 8 >= LEARN_MIN_GAP_NS) {
      learn_at = t1 + (uint64_t)(per / 8) < learn_at ? t1 + (uint64_t)(per / 8) : learn_at;
      continue;
    }
    if (!model || unc > per / 8 || unc <= PROBE_UNC_NS) {
      continue;
    }
    double upd = e + per, margin = PROBE_MARGIN_NS + unc;
    if (upd - margin > (double)t1 && upd - margin < (double)next) {
      next = (uint64_t)llround(upd - margin);
      p->post_at = (uint64_t)llround(upd + margin);
    }
  }
  if (learn_at < next) {
    next = learn_at;
    p->post_at = 0;
    p->learn_left--;
  }
  /* Within the CPU share: a read just after a predicted update still follows the one just
   * before it (the pair's cost delays the reads after it instead). */
  if (next < p->rested_at) {
    next = p->rested_at;
    p->post_at = 0;
  }
  return next;
}

static void *poller_main(void *arg) {
  nemb__poller *p = arg;
  pthread_mutex_lock(&p->ctl);
  while (p->running) {
    pthread_mutex_unlock(&p->ctl); /* never hold a lock while calling the driver */
    poll_once(p);
    uint64_t next = next_read(p, nemb__now_ns());
    pthread_mutex_lock(&p->ctl);
    if (!p->first_done) {
      p->first_done = true;
      pthread_cond_broadcast(&p->ended);
    }
    struct timespec ts = to_timespec(next);
    while (p->running && pthread_cond_timedwait(&p->wake, &p->ctl, &ts) == 0) {
      /* woken early: by stop (running is false) or spuriously (wait again) */
    }
  }
  p->done = true;
  bool left_behind = p->left_behind;
  pthread_cond_broadcast(&p->ended);
  pthread_mutex_unlock(&p->ctl);
  if (left_behind) {
    /* The meter gave up on this read and went on: the provider is ours to close. */
    p->ops->close(p->state);
    pthread_mutex_destroy(&p->snap);
    pthread_mutex_destroy(&p->ctl);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->ended);
    free(p);
  }
  return NULL;
}

int nemb__poller_start(const struct nemb__provider_ops *ops, void *state, size_t n,
                       uint64_t every_ns, uint64_t deadline_ns, uint64_t nominal_ns,
                       nemb__poller **out) {
  *out = NULL;
  nemb__poller *p = calloc(1, sizeof *p);
  if (p == NULL) {
    return NEMB_ENOMEM;
  }
  p->ops = ops;
  p->state = state;
  p->n = n < NEMB__MAX_DOMAINS ? n : NEMB__MAX_DOMAINS;
  p->every_ns = every_ns > 0 ? every_ns : 10000000u;
  p->deadline_ns = deadline_ns > 0 ? deadline_ns : 1000000000u;
  p->rng = nemb__now_ns() | 1;
  p->learn_left = LEARN_READS;
  for (size_t d = 0; d < p->n; d++) {
    nemb__edges_init_within(&p->edges[d], nominal_ns ? nominal_ns : p->every_ns,
                            nominal_ns && ops->update_interval_rel ? ops->update_interval_rel(state)
                                                                   : 0);
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->wake, &ca);
  pthread_cond_init(&p->ended, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&p->ctl, NULL);
  pthread_mutex_init(&p->snap, NULL);
  p->running = true;
  int rc = pthread_create(&p->thread, NULL, poller_main, p);
  if (rc != 0) {
    pthread_mutex_destroy(&p->snap);
    pthread_mutex_destroy(&p->ctl);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->ended);
    free(p);
    return nemb__from_errno(rc);
  }
  /* The first reading, so the sampler's first sample has the provider's domains; a driver that
   * does not answer within the deadline is left to the meter's hang detection. */
  struct timespec ts = to_timespec(nemb__now_ns() + p->deadline_ns);
  pthread_mutex_lock(&p->ctl);
  while (!p->first_done && pthread_cond_timedwait(&p->ended, &p->ctl, &ts) != ETIMEDOUT) {
  }
  pthread_mutex_unlock(&p->ctl);
  *out = p;
  return 0;
}

bool nemb__poller_take(nemb__poller *p, uint64_t now_ns, uint64_t *gen, nemb__poll_dom *out,
                       uint64_t *hung_since) {
  uint64_t b = atomic_load(&p->busy_since);
  *hung_since = b != 0 && now_ns > b && now_ns - b > p->deadline_ns ? b : 0;
  if (pthread_mutex_trylock(&p->snap) != 0) {
    return false;
  }
  bool fresh = p->gen != *gen;
  if (fresh) {
    memcpy(out, p->pub, p->n * sizeof out[0]);
    *gen = p->gen;
  }
  pthread_mutex_unlock(&p->snap);
  return fresh;
}

uint64_t nemb__poller_reads(const nemb__poller *p) {
  return atomic_load(&((nemb__poller *)p)->reads);
}

uint64_t nemb__poller_cpu_ns(const nemb__poller *p) {
  return atomic_load_explicit(&((nemb__poller *)p)->cpu_ns, memory_order_relaxed);
}

uint64_t nemb__poller_wide_reads(const nemb__poller *p) {
  return atomic_load(&((nemb__poller *)p)->wide_reads);
}

bool nemb__poller_stop(nemb__poller *p) {
  if (p == NULL) {
    return true;
  }
  pthread_mutex_lock(&p->ctl);
  p->running = false;
  pthread_cond_signal(&p->wake);
  uint64_t busy = atomic_load(&p->busy_since);
  uint64_t until = (busy != 0 ? busy : nemb__now_ns()) + p->deadline_ns;
  struct timespec ts = to_timespec(until);
  while (!p->done && pthread_cond_timedwait(&p->ended, &p->ctl, &ts) != ETIMEDOUT) {
  }
  if (!p->done) {
    /* Stuck in the driver: leave the thread there; it owns the provider from now on. */
    p->left_behind = true;
    pthread_t t = p->thread;
    pthread_mutex_unlock(&p->ctl);
    pthread_detach(t);
    return false;
  }
  pthread_mutex_unlock(&p->ctl);
  pthread_join(p->thread, NULL);
  pthread_mutex_destroy(&p->snap);
  pthread_mutex_destroy(&p->ctl);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->ended);
  free(p);
  return true;
}
