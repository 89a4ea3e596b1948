/*
 * sampler.c - the one thread per meter that reads the counters, and the update-edge model that
 * turns its readings into the stored energy curve.
 *
 * Schedule. It wakes on absolute CLOCK_MONOTONIC deadlines (start + k x interval), never on
 * "sleep for an interval", so lateness does not accumulate into drift. A wake-up that comes a
 * whole interval or more late skips the deadlines it missed instead of firing a burst of
 * back-to-back reads, and counts them. Between stored samples it still reads often enough that no
 * counter can wrap twice unseen (guard_ns).
 *
 * Update edges (edges.h). When the reference domain (the fastest-updating counter) updates about
 * as often as the sampler reads, each read is moved to just after the predicted update before its
 * deadline, so every reading is a point of the energy curve at a known instant; when the
 * prediction's uncertainty has grown, a probe read just before the update brackets it again
 * (meta.sampler.probes). Every domain's reads make points (update instant, cumulative energy):
 * at its model's predicted instant once learned, else at the middle of the reads that bracket the
 * change when that is narrow (change_placeable: a change known only to within a wide bracket makes
 * no point, so no row sits a fraction of a period off its update). Rows are queued at the
 * reference's update instants and stored once every domain has a point at or after them, each value
 * interpolated between the domain's points around the row, so a 100 ms GPU counter and a 1 ms CPU
 * counter share rows without either being stale.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "meter.h"

#define ALIGN_MARGIN_NS 15000.0 /* aim reads this far past a predicted update */
#define MIN_ALIGN_NS 80000.0    /* a counter updating faster than this is read as continuous */
#define PROBE_UNC_NS 10000.0    /* probe again once an update's prediction is this uncertain */
#define PROBE_BACKOFF_MAX 63u
#define STILL_PERIODS                                                                              \
  4.0 /* a reference unchanged this many periods is not learned densely */ /* deadlines between    \
                                                                              probes that keep     \
                                                                              narrowing nothing */
#define LATE_CAP_NS 200000.0       /* lateness beyond this is a preemption, not a wake-up's habit */
#define STALE_PERIODS 32.0         /* a domain's curve takes a poorly known change after this */
#define ACQUIRE_PERIODS 40         /* learning at the start watches this many updates ... */
#define ACQUIRE_MAX_NS 60000000ull /* ... for at most 60 ms */

static uint64_t *row_at(const nemb_meter *m, uint64_t i) {
  return m->rows + (i % NEMB__PENDING) * (2 + m->n_domains);
}

double nemb__meter_period_ns(const nemb_meter *m, size_t d) {
  return (double)atomic_load_explicit(&((nemb_meter *)m)->period_ns[d], memory_order_relaxed);
}

void nemb__meter_period_set(nemb_meter *m, size_t d) {
  atomic_store_explicit(&m->period_ns[d], (uint64_t)llround(nemb__edges_period(&m->edges[d])),
                        memory_order_relaxed);
}

/* ----- reading ----- */

/* Domain @p d failed at @p since (its read at @p now_ns, or a hung read that began then). */
static void domain_failed(nemb_meter *m, size_t d, uint64_t since, uint64_t now_ns, int rc) {
  m->read_ok[d] = false;
  m->dom_errors[d]++;
  m->dom_last_rc[d] = rc;
  if (m->dom_fail_since[d] == 0) {
    m->dom_fail_since[d] = since;
    /* Once per run of failures, not once per read. */
    nemb__log(NEMB_LOG_WARN, "[%s] domain %s: read failed: %s", m->source[d], m->domains[d].name,
              nemb_strerror(rc));
  }
  if (m->dom_lost_at[d] == 0 && now_ns - m->dom_fail_since[d] >= NEMB__LOST_NS) {
    m->dom_lost_at[d] = m->dom_fail_since[d];
    nemb__log(NEMB_LOG_WARN, "[%s] domain %s is lost: no good read for %.0f ms", m->source[d],
              m->domains[d].name, (double)(now_ns - m->dom_fail_since[d]) / 1e6);
  }
}

static void domain_read(nemb_meter *m, size_t d) {
  m->read_ok[d] = true;
  if (m->dom_fail_since[d] != 0 && m->dom_lost_at[d] == 0) {
    m->dom_fail_since[d] = 0; /* a short run of failures: the cumulative counter recovers */
  } else if (m->dom_lost_at[d] != 0) {
    m->dom_fail_since[d] = 0; /* back after being lost: the loss stays reported */
  }
}

/* A polled provider (poller.h): its latest publication, never waiting for the driver. Fills
 * fresh[], lo[], hi[] and seen_t[] for its domains. */
static void take_polled(nemb_meter *m, nemb__open_provider *op, uint64_t t_ns, bool *fresh,
                        uint64_t *lo, uint64_t *hi) {
  nemb__poll_dom pd[NEMB__MAX_DOMAINS];
  uint64_t hung = 0;
  bool got = nemb__poller_take(op->poller, t_ns, &op->poll_gen, pd, &hung);
  for (size_t i = 0; i < op->count; i++) {
    size_t d = op->first + i;
    fresh[d] = false;
    if (hung != 0) {
      /* A read that never returned: failed since it began (counted once, then until lost). */
      if (m->dom_fail_since[d] == 0 || m->dom_lost_at[d] == 0) {
        domain_failed(m, d, hung < m->seen_t[d] ? m->seen_t[d] : hung, t_ns, NEMB_ETIMEDOUT);
      }
      continue;
    }
    if (!got) {
      continue; /* nothing new: the domain stands as it was */
    }
    if (pd[i].raw == NEMB__RAW_INVALID) {
      domain_failed(m, d, t_ns, t_ns, pd[i].rc != 0 ? pd[i].rc : NEMB_EIO);
      continue;
    }
    domain_read(m, d);
    m->raw[d] = pd[i].raw;
    m->seen_t[d] = pd[i].seen_t;
    fresh[d] = true;
    lo[d] = pd[i].changed ? pd[i].chg_lo : 0;
    hi[d] = pd[i].changed ? pd[i].chg_hi : 0;
  }
  if (got && hung == 0) {
    for (size_t i = 0; i < op->count; i++) {
      if (pd[i].raw == NEMB__RAW_INVALID) {
        atomic_fetch_add_explicit(&m->st_read_errors, 1, memory_order_relaxed);
        break;
      }
    }
  }
}

void nemb__meter_read(nemb_meter *m, uint64_t t_ns) {
  bool fresh[NEMB__MAX_DOMAINS];
  uint64_t lo[NEMB__MAX_DOMAINS], hi[NEMB__MAX_DOMAINS];
  for (size_t p = 0; p < m->n_providers; p++) {
    nemb__open_provider *op = &m->providers[p];
    if (op->poller != NULL) {
      take_polled(m, op, t_ns, fresh, lo, hi);
      continue;
    }
    int rc = op->ops->read(op->state, t_ns, m->raw + op->first);
    /* The values were taken somewhere in [t_ns, now]: a change is bracketed by now. */
    uint64_t after = m->simulated ? t_ns : nemb__now_ns();
    for (size_t d = op->first; d < op->first + op->count; d++) {
      fresh[d] = false;
      if (rc != 0 || m->raw[d] == NEMB__RAW_INVALID) {
        domain_failed(m, d, t_ns, t_ns, rc != 0 ? rc : NEMB_EIO);
        continue;
      }
      domain_read(m, d);
      fresh[d] = true;
      lo[d] = m->prev_ok_t[d]; /* the last read that did not see the change, if any */
      hi[d] = after;
      m->seen_t[d] = t_ns;
    }
    if (rc != 0) {
      atomic_fetch_add_explicit(&m->st_read_errors, 1, memory_order_relaxed);
      atomic_store_explicit(&m->st_last_read_error, rc, memory_order_relaxed);
      atomic_store_explicit(&m->st_last_read_provider, op->ops->name, memory_order_relaxed);
    }
  }
  for (size_t d = 0; d < m->n_domains; d++) {
    if (!fresh[d]) {
      continue; /* not fed: the next good reading is judged over the whole gap */
    }
    nemb__unwrap_feed(&m->unwrap[d], m->raw[d], m->seen_t[d]);
    m->total[d] = m->unwrap[d].total;
    if (m->prev_ok[d] && m->raw[d] != m->prev_raw[d] && hi[d] > lo[d]) {
      nemb__edges_observe(&m->edges[d], lo[d], hi[d]);
      nemb__meter_period_set(m, d);
      m->chg_lo[d] = lo[d]; /* the latest change, for meter_store() */
      m->chg_hi[d] = hi[d];
    }
    m->prev_raw[d] = m->raw[d];
    m->prev_ok_t[d] = m->seen_t[d];
    m->prev_ok[d] = true;
  }
  atomic_fetch_add_explicit(&m->st_reads, 1, memory_order_relaxed);

  /* Publish under the sequence lock: odd while writing. Every field is an atomic, so a reader
   * racing with us reads a torn value at worst, sees the sequence change, and retries. */
  uint64_t seq = atomic_load_explicit(&m->latest_seq, memory_order_relaxed);
  atomic_store_explicit(&m->latest_seq, seq + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
  atomic_store_explicit(&m->latest_t, t_ns, memory_order_relaxed);
  for (size_t d = 0; d < m->n_domains; d++) {
    atomic_store_explicit(&m->latest_uj[d], m->total[d], memory_order_relaxed);
  }
  atomic_store_explicit(&m->latest_seq, seq + 2, memory_order_release);
}

/* ----- points, rows and the store ----- */

static void store_row(nemb_meter *m, uint64_t t_ns, const uint64_t *uj) {
  int rc = nemb__store_append(&m->store, t_ns, uj);
  if (rc == 0) {
    atomic_fetch_add_explicit(&m->st_samples, 1, memory_order_relaxed);
    return;
  }
  /* Only out of memory can refuse a row (the store compacts at its cap). Never silent. */
  if (atomic_fetch_add_explicit(&m->st_dropped, 1, memory_order_relaxed) == 0) {
    nemb__log(NEMB_LOG_WARN,
              "out of memory storing samples (%zu stored): later samples are "
              "counted but not stored",
              nemb__store_count(&m->store));
  }
}

/* Stores the queued rows every domain has resolved, oldest first. */
static void publish(nemb_meter *m) {
  while (m->row_head < m->row_tail) {
    uint64_t *r = row_at(m, m->row_head);
    if (r[1] != 0) {
      return;
    }
    store_row(m, r[0], r + 2);
    m->row_head++;
  }
}

/* Domain @p d's curve has a new point: resolve its queued rows up to it. */
static void add_point(nemb_meter *m, size_t d, uint64_t t, uint64_t v) {
  if (m->have_pt[d] && t <= m->pt_t[d]) {
    return;
  }
  if (m->cursor[d] < m->row_head) {
    m->cursor[d] = m->row_head;
  }
  for (; m->cursor[d] < m->row_tail; m->cursor[d]++) {
    uint64_t *r = row_at(m, m->cursor[d]);
    if (r[0] > t) {
      break;
    }
    double val;
    if (!m->have_pt[d] || r[0] <= m->pt_t[d]) {
      val = m->have_pt[d] ? (double)m->pt_v[d] : (double)v;
    } else {
      double f = (double)(r[0] - m->pt_t[d]) / (double)(t - m->pt_t[d]);
      val = (double)m->pt_v[d] + f * ((double)v - (double)m->pt_v[d]);
    }
    r[2 + d] = (uint64_t)llround(val);
    r[1] &= ~(1ull << d);
  }
  m->pt2_t[d] = m->pt_t[d];
  m->pt2_v[d] = m->pt_v[d];
  m->pt_t[d] = t;
  m->pt_v[d] = v;
  if (!m->have_pt[d]) {
    m->pt2_t[d] = t;
    m->pt2_v[d] = v;
  }
  m->have_pt[d] = true;
}

/* The instant of the update domain @p d's reading at @p t shows: 1 with it in *out; 0 when the
 * model cannot tell (still learning); -1 when @p t is too close to a predicted update to know
 * which one the reading shows (the next read will). */
static int update_instant(const nemb_meter *m, size_t d, uint64_t t, uint64_t *out) {
  double e, unc;
  const nemb__edges *ed = &m->edges[d];
  if (!nemb__edges_before(ed, t, &e, &unc) || unc > nemb__edges_period(ed) / 8 || e <= 0) {
    return 0;
  }
  /* Clear of both the update before @p t and the one after it, or the reading may show either. */
  if ((double)t - e < unc || e + nemb__edges_period(ed) - (double)t < unc) {
    return -1;
  }
  *out = (uint64_t)llround(e);
  return 1;
}

/* The extrapolated energy of domain @p d at @p t past its last point, by its last power. */
static uint64_t extrapolate(const nemb_meter *m, size_t d, uint64_t t) {
  if (!m->have_pt[d] || t <= m->pt_t[d] || m->pt_t[d] <= m->pt2_t[d]) {
    return m->have_pt[d] ? m->pt_v[d] : m->total[d];
  }
  double p = (double)(m->pt_v[d] - m->pt2_v[d]) / (double)(m->pt_t[d] - m->pt2_t[d]);
  /* At most two update periods, or two gaps between a polled provider's reads (its last read
   * can be that old). */
  double cap = fmax(2 * nemb__edges_period(&m->edges[d]), 2 * (double)m->lag_ns[d]);
  double span = fmin((double)(t - m->pt_t[d]), cap);
  return m->pt_v[d] + (uint64_t)llround(p * span);
}

/* Queues a row at @p row_t (after the last one). A domain whose curve already reaches past it
 * resolves it at once; the others when their next point comes. */
static void enqueue(nemb_meter *m, uint64_t row_t) {
  if (m->row_tail - m->row_head >= NEMB__PENDING) {
    /* Full: the oldest row waits for a domain that stopped updating; it gets that domain's last
     * value (flat), so nothing waits forever. */
    uint64_t *r = row_at(m, m->row_head);
    for (size_t d = 0; d < m->n_domains; d++) {
      if (r[1] & (1ull << d)) {
        r[2 + d] = m->have_pt[d] ? m->pt_v[d] : m->total[d];
        r[1] &= ~(1ull << d);
      }
    }
    publish(m);
  }
  uint64_t idx = m->row_tail++;
  uint64_t *r = row_at(m, idx);
  r[0] = row_t;
  r[1] = m->n_domains >= 64 ? ~0ull : (1ull << m->n_domains) - 1;
  m->last_row_t = row_t;
  for (size_t d = 0; d < m->n_domains; d++) {
    if (!m->have_pt[d] || m->pt_t[d] < row_t) {
      continue;
    }
    double val = (double)m->pt_v[d];
    if (m->pt2_t[d] < row_t && m->pt_t[d] > m->pt2_t[d]) {
      double f = (double)(row_t - m->pt2_t[d]) / (double)(m->pt_t[d] - m->pt2_t[d]);
      val = (double)m->pt2_v[d] + f * ((double)m->pt_v[d] - (double)m->pt2_v[d]);
    }
    r[2 + d] = (uint64_t)llround(val);
    r[1] &= ~(1ull << d);
    if (m->cursor[d] == idx) {
      m->cursor[d] = idx + 1;
    }
  }
}

/* The instant of the update a reading shows, when the value changed between the read at @p lo
 * and the one at @p t, into *out, with the half-width of the interval it is known within in
 * *half; false when it cannot be told yet (the next read will). The update shown is the last one
 * before t: the model's prediction of it (or of the one after, which may already have happened)
 * intersected with the bracket (lo, t], else the middle of the bracket. A counter much faster
 * than the reads updated within a period of t (*half 0: its curve is as good as continuous). */
static bool change_instant(const nemb_meter *m, size_t d, uint64_t lo, uint64_t t, uint64_t *out,
                           double *half) {
  const nemb__edges *ed = &m->edges[d];
  double per = nemb__edges_period(ed);
  double flo = (double)lo, ft = (double)t;
  if (ft - flo > 4 * per) {
    *out = t - (uint64_t)(per / 2);
    *half = 0;
    return true;
  }
  double e, unc;
  if (nemb__edges_before(ed, t, &e, &unc) && unc <= per / 8) {
    bool a = e + unc > flo;       /* the predicted update before t may be in the bracket */
    bool b = e + per - unc <= ft; /* the one after it may already have happened */
    if (a && b) {
      return false;
    }
    if (a || b) {
      double c = a ? e : e + per;
      double ilo = fmax(flo, c - unc), ihi = fmin(ft, c + unc);
      *out = (uint64_t)llround((ilo + ihi) / 2);
      *half = (ihi - ilo) / 2;
      return true;
    }
  }
  *out = lo + (t - lo) / 2;
  *half = (ft - flo) / 2;
  return true;
}

/* Whether a change of domain @p d known to within +- @p half (change_instant) may make a point
 * of its curve, and so a row when it is the reference's. The rows are cumulative energies at
 * update instants: one placed a quarter period early or late makes the interval before it hold
 * an update too many for its length and the one after one too few (power 20-50 % off, twice,
 * while the phase is learned). So a change known no better than the model's own usable
 * prediction (an eighth of a period, update_instant) makes no point: the rows meanwhile wait for
 * the next one that is known, and are interpolated between the two. Only a domain without a
 * point for STALE_PERIODS (a machine so busy that no narrow bracket comes) takes it anyway. A
 * counter much slower than the reads (a GPU's) is not held to it: reads a sampling interval apart
 * bracket its changes narrowly for its period, and a polled one's brackets are its poller's. */
static bool change_placeable(const nemb_meter *m, size_t d, double half, uint64_t ts) {
  double per = nemb__edges_period(&m->edges[d]);
  uint64_t since = m->have_pt[d] ? m->pt_t[d] : m->have_chg1[d] ? m->chg1_t[d] : m->first_t[d];
  return half <= per / 8 || (double)(ts - since) > STALE_PERIODS * per;
}

/* A first change still waiting for a second one to tell the period: placed with @p per. */
static void place_first_change(nemb_meter *m, size_t d, double per) {
  if (m->have_pt[d] || !m->have_chg1[d]) {
    return;
  }
  uint64_t p1 = (uint64_t)per;
  add_point(m, d, m->chg1_t[d] > p1 ? m->chg1_t[d] - p1 : 0, m->first_v[d]);
  add_point(m, d, m->chg1_t[d], m->chg1_v[d]);
}

void nemb__meter_store(nemb_meter *m, uint64_t t_ns) {
  uint64_t at[NEMB__MAX_DOMAINS];
  bool placed[NEMB__MAX_DOMAINS];
  for (size_t d = 0; d < m->n_domains; d++) {
    placed[d] = false;
    if (!m->read_ok[d]) {
      continue;
    }
    uint64_t ts = m->seen_t[d]; /* when this value was read (t_ns unless polled) */
    if (!m->have_first[d]) {
      /* The first reading: at the model's update before it when that is known (after the
       * learning at the start), else placed once the first change shows when updates come. */
      m->have_first[d] = true;
      m->first_t[d] = ts;
      m->first_v[d] = m->total[d];
      if (nemb__edges_period(&m->edges[d]) < MIN_ALIGN_NS) {
        at[d] = ts; /* a continuous counter (integrated power): the reading is its own instant */
        placed[d] = true;
      } else if (update_instant(m, d, ts, &at[d]) > 0) {
        placed[d] = true;
      }
      continue;
    }
    uint64_t since_t = m->have_pt[d] ? m->pt_t[d] : m->have_chg1[d] ? m->chg1_t[d] : m->first_t[d];
    uint64_t since_v = m->have_pt[d] ? m->pt_v[d] : m->have_chg1[d] ? m->chg1_v[d] : m->first_v[d];
    if (m->total[d] != since_v) {
      /* Bracketed by the reads around its latest change (a probe read may have seen it). */
      uint64_t lo = m->chg_lo[d] > since_t ? m->chg_lo[d] : since_t;
      uint64_t hi = m->chg_hi[d] > lo ? m->chg_hi[d] : ts;
      /* A counter updating about as often as the reads: the model's instant (reads are aimed
       * just past its updates). One much slower (a GPU's): the reads around its change, which
       * are then narrow, intersected with the model. */
      bool slow = nemb__edges_period(&m->edges[d]) > 2.0 * (double)atomic_load(&m->interval_ns);
      int known = slow ? 0 : update_instant(m, d, ts, &at[d]);
      if (known != 0) {
        placed[d] = known > 0; /* < 0: too close to an update to tell; the next read places it */
      } else {
        double half;
        placed[d] = change_instant(m, d, lo, hi, &at[d], &half) &&
                    (slow || change_placeable(m, d, half, ts));
      }
    }
  }
  uint64_t row_t = t_ns;
  if (m->ref_dom != SIZE_MAX && placed[m->ref_dom]) {
    row_t = at[m->ref_dom];
  }
  if (row_t > m->last_row_t) {
    enqueue(m, row_t);
  } else {
    /* The same update as the last row: only new points. */
    atomic_fetch_add_explicit(&m->st_same, 1, memory_order_relaxed);
  }
  for (size_t d = 0; d < m->n_domains; d++) {
    double per = nemb__edges_period(&m->edges[d]);
    uint64_t since_t = m->have_pt[d] ? m->pt_t[d] : m->have_first[d] ? m->first_t[d] : 0;
    uint64_t since_v = m->have_pt[d] ? m->pt_v[d] : m->have_first[d] ? m->first_v[d] : 0;
    if (!m->read_ok[d]) {
      /* A failing domain stays flat at its last value once its rows have waited long enough. */
      if (since_t != 0 && (double)(t_ns - since_t) > 3 * per + 20e6) {
        add_point(m, d, t_ns - (uint64_t)per, since_v);
      } else if (since_t == 0 && !m->have_first[d]) {
        m->have_first[d] = true; /* never read: its curve starts flat at 0 from here */
        m->first_t[d] = t_ns;
        m->first_v[d] = 0;
      }
      continue;
    }
    uint64_t ts = m->seen_t[d];
    if (placed[d] && !m->have_pt[d] && m->first_t[d] != ts) {
      /* The reading before the first change shows the update one period before that change,
       * not the time it was read; the period is the time to the second change (a counter may
       * update much faster than its provider says). Until then the change waits. */
      if (!m->have_chg1[d]) {
        m->have_chg1[d] = true;
        m->chg1_t[d] = at[d];
        m->chg1_v[d] = m->total[d];
      } else if (at[d] > m->chg1_t[d]) {
        uint64_t p1 = at[d] - m->chg1_t[d];
        add_point(m, d, m->chg1_t[d] > p1 ? m->chg1_t[d] - p1 : 0, m->first_v[d]);
        add_point(m, d, m->chg1_t[d], m->chg1_v[d]);
        add_point(m, d, at[d], m->total[d]);
      }
    } else if (placed[d]) {
      add_point(m, d, at[d], m->total[d]);
    } else if (m->have_pt[d] || m->first_t[d] != ts) {
      if (!m->have_pt[d] && m->have_chg1[d]) {
        since_t = m->chg1_t[d];
        since_v = m->chg1_v[d];
      }
      if (m->total[d] == since_v && ts > since_t && (double)(ts - since_t) > 2 * per) {
        /* No change for two periods: the counter's last update, at most a period ago, left it
         * where it was. */
        place_first_change(m, d, per);
        add_point(m, d, ts - (uint64_t)per, m->total[d]);
      }
    }
  }
  publish(m);
}

void nemb__meter_flush(nemb_meter *m, uint64_t t_ns) {
  /* A closing row at t_ns; every domain reaches it by extrapolation from its last update. */
  if (t_ns > m->last_row_t) {
    enqueue(m, t_ns);
  }
  for (size_t d = 0; d < m->n_domains; d++) {
    place_first_change(m, d, nemb__edges_period(&m->edges[d]));
    if (m->read_ok[d] && m->have_pt[d] && m->total[d] != m->pt_v[d]) {
      uint64_t lo = m->chg_lo[d] > m->pt_t[d] ? m->chg_lo[d] : m->pt_t[d];
      uint64_t hi = m->chg_hi[d] > lo ? m->chg_hi[d] : t_ns;
      uint64_t at;
      double half; /* the last change: placed however well it is known */
      if (change_instant(m, d, lo, hi, &at, &half)) {
        add_point(m, d, at, m->total[d]);
      }
    }
    add_point(m, d, t_ns,
              m->read_ok[d] || m->dom_lost_at[d] == 0 ? extrapolate(m, d, t_ns) : m->pt_v[d]);
  }
  publish(m);
}

/* ----- the thread ----- */

static struct timespec to_timespec(uint64_t ns) {
  struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
  return ts;
}

static void record_lateness(nemb_meter *m, uint64_t late, uint64_t step) {
  m->wake_late_ns += (fmin((double)late, LATE_CAP_NS) - m->wake_late_ns) / 16;
  atomic_fetch_add_explicit(&m->st_late_sum, late, memory_order_relaxed);
  if (late > atomic_load_explicit(&m->st_worst_late, memory_order_relaxed)) {
    atomic_store_explicit(&m->st_worst_late, late, memory_order_relaxed);
  }
  if (late > step / 2) {
    atomic_fetch_add_explicit(&m->st_late, 1, memory_order_relaxed);
  }
}

/* Waits (lock held) until @p until or a stop/retime; false when the loop must act on those. */
static bool wait_until(nemb_meter *m, uint64_t until) {
  struct timespec ts = to_timespec(until);
  while (atomic_load(&m->running) && !atomic_load(&m->retime) &&
         pthread_cond_timedwait(&m->wake, &m->lock, &ts) == 0) {
    /* Woken by a signal that was not for us (spurious): wait again for the same deadline. */
  }
  return atomic_load(&m->running) && !atomic_load(&m->retime);
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

/* Where the read for @p deadline goes: just after the reference's predicted update before it,
 * when reads and updates come at about the same rate; *probe gets the time of a read inside the
 * predicted interval of that update when its prediction needs checking (0: none).
 *
 * The probe is aimed at the predicted instant itself, less a wake-up's usual lateness, so that it
 * lands inside the interval: whether it sees the change or not, it cuts the interval near its
 * middle (the update was before it, or after). A read before the interval, or after it, would
 * add nothing to the prediction. A probe costs a wake-up of its own, so one that narrowed nothing
 * (the wake-up came too late, or too early, to land inside) is not repeated at once: the next
 * waits 1, 3, 7 ... up to PROBE_BACKOFF_MAX deadlines, until one narrows the interval again. */
static uint64_t aim(nemb_meter *m, uint64_t deadline, uint64_t step, uint64_t floor_t,
                    uint64_t *probe) {
  *probe = 0;
  if (m->ref_dom == SIZE_MAX) {
    return deadline;
  }
  const nemb__edges *ed = &m->edges[m->ref_dom];
  double per = nemb__edges_period(ed);
  double e, unc;
  if (per > 2.0 * (double)step || per < MIN_ALIGN_NS ||
      !nemb__edges_before(ed, deadline, &e, &unc) || unc > per / 8) {
    return deadline;
  }
  if (m->probe_unc_ns > 0) {
    /* The last probe's outcome: did the interval shrink (by a quarter, at least)? */
    bool narrowed = unc < 0.75 * m->probe_unc_ns;
    m->probe_backoff = narrowed ? 0 : m->probe_backoff * 2 + 1;
    if (m->probe_backoff > PROBE_BACKOFF_MAX) {
      m->probe_backoff = PROBE_BACKOFF_MAX;
    }
    m->probe_wait = m->probe_backoff;
    m->probe_unc_ns = 0;
  }
  double margin = ALIGN_MARGIN_NS + unc;
  uint64_t target = (uint64_t)llround(e + margin);
  if (target <= floor_t) {
    return deadline; /* that update was already read */
  }
  if (!ed->locked || unc > PROBE_UNC_NS) {
    double at = e - fmin(m->wake_late_ns, unc);
    if (m->probe_wait > 0) {
      m->probe_wait--;
    } else if (at > (double)floor_t) {
      *probe = (uint64_t)llround(at);
      m->probe_unc_ns = unc;
      atomic_fetch_add_explicit(&m->st_probes, 1, memory_order_relaxed);
    }
  }
  return target;
}

/* While the reference's update instants cannot be predicted well enough to aim at them, the
 * gap between learning reads (an eighth of its period); 0 when no learning is needed (learned,
 * or the reference updates so much slower than the reads that they bracket it anyway) or
 * possible (it has not changed lately). */
static uint64_t learning_gap(const nemb_meter *m, uint64_t step) {
  if (m->ref_dom == SIZE_MAX) {
    return 0;
  }
  const nemb__edges *ed = &m->edges[m->ref_dom];
  double per = nemb__edges_period(ed);
  if (per > 2.0 * (double)step || per < MIN_ALIGN_NS) {
    return 0;
  }
  double e, unc;
  if (nemb__edges_before(ed, m->prev_read_t, &e, &unc) && unc <= per / 8) {
    return 0;
  }
  if ((double)m->chg_hi[m->ref_dom] + STILL_PERIODS * per < (double)m->prev_read_t) {
    /* No change for a few periods (an idle or frozen counter): dense reads would find no update
     * to bracket, at eight wake-ups per period. The regular reads see its next change. */
    return 0;
  }
  return (uint64_t)(per / 8);
}

/* A read just before and one just after the next predicted update of the slowest counter (a
 * GPU's, 10-100 ms) when it falls before @p until: two extra reads per update that pin its update
 * instants to tens of microseconds instead of the sampling interval. Lock held on entry/exit. */
static void slow_probes(nemb_meter *m, uint64_t after, uint64_t until, uint64_t *last_read) {
  if (m->slow_dom == SIZE_MAX) {
    return;
  }
  const nemb__edges *ed = &m->edges[m->slow_dom];
  double per = nemb__edges_period(ed);
  double e, unc;
  if (!nemb__edges_before(ed, until, &e, &unc) || unc > per / 8 || e <= (double)after) {
    return;
  }
  double margin = ALIGN_MARGIN_NS + unc;
  uint64_t pre = (uint64_t)llround(e - margin), post = (uint64_t)llround(e + margin);
  if (pre <= after) {
    return;
  }
  for (int i = 0; i < 2; i++) {
    if (!wait_until(m, i == 0 ? pre : post)) {
      return;
    }
    pthread_mutex_unlock(&m->lock);
    uint64_t now = nemb__now_ns();
    nemb__meter_read(m, now);
    atomic_fetch_add_explicit(&m->st_probes, 1, memory_order_relaxed);
    m->prev_read_t = now;
    *last_read = now;
    pthread_mutex_lock(&m->lock);
  }
}

static void *sampler_main(void *arg) {
  nemb_meter *m = arg;
  /* The default 50 us timer slack would make every 1 ms wake-up late by design. */
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  uint64_t interval = atomic_load(&m->interval_ns);
  uint64_t deadline = atomic_load_explicit(&m->latest_t, memory_order_relaxed);
  uint64_t store_due = deadline + interval;
  uint64_t last_read = deadline;

  pthread_mutex_lock(&m->lock);
  while (atomic_load(&m->running)) {
    interval = atomic_load(&m->interval_ns);
    uint64_t step = interval < m->guard_ns ? interval : m->guard_ns;
    uint64_t dense = learning_gap(m, step);
    if (dense != 0 && last_read + dense < deadline + step) {
      /* Still learning when the reference updates: read every eighth of its period between
       * the deadlines, so consecutive reads bracket its updates narrowly (not stored). */
      if (wait_until(m, last_read + dense)) {
        pthread_mutex_unlock(&m->lock);
        uint64_t now = nemb__now_ns();
        nemb__meter_read(m, now);
        atomic_fetch_add_explicit(&m->st_probes, 1, memory_order_relaxed);
        m->prev_read_t = now;
        last_read = now;
        pthread_mutex_lock(&m->lock);
        continue;
      }
      if (!atomic_load(&m->running)) {
        break;
      }
    }
    deadline += step;
    uint64_t probe = 0;
    uint64_t target = aim(m, deadline, step, last_read, &probe);
    if (m->jitter_ns > 0) {
      target += xorshift(&m->rng) % m->jitter_ns;
    }
    if (probe != 0 && wait_until(m, probe)) {
      pthread_mutex_unlock(&m->lock);
      uint64_t now = nemb__now_ns();
      if (now < target) {
        nemb__meter_read(m, now);
        m->prev_read_t = now;
        last_read = now;
      }
      pthread_mutex_lock(&m->lock);
    }
    slow_probes(m, last_read, target < deadline ? target : deadline, &last_read);
    bool woke = wait_until(m, target);
    if (!atomic_load(&m->running)) {
      break;
    }
    uint64_t now = nemb__now_ns();
    atomic_fetch_add_explicit(&m->st_wakeups, 1, memory_order_relaxed);
    if (!woke && atomic_exchange(&m->retime, false)) {
      /* A new interval: restart the schedule from now rather than finish the old wait. */
      deadline = now;
      store_due = now;
    } else if (now > target) {
      uint64_t late = now - target;
      record_lateness(m, late, step);
      if (late >= step) {
        uint64_t missed = late / step;
        deadline += missed * step;
        atomic_fetch_add_explicit(&m->st_missed, missed, memory_order_relaxed);
      }
    }
    pthread_mutex_unlock(&m->lock); /* never hold the lock while reading hardware */
    nemb__meter_read(m, now);
    if (deadline >= store_due) {
      nemb__meter_store(m, now);
      store_due += interval;
      if (store_due <= deadline) {
        store_due = deadline + interval;
      }
    }
    m->prev_read_t = now;
    last_read = now;
    pthread_mutex_lock(&m->lock);
  }
  pthread_mutex_unlock(&m->lock);
  /* Read by nemb__sampler_stop() after the join, which orders these writes before its reads. */
  m->last_deadline = deadline;
  m->last_step = interval < m->guard_ns ? interval : m->guard_ns;
  return NULL;
}

/* The reference: the in-total domain (else any) with the shortest update period. */
static size_t choose_reference(const nemb_meter *m) {
  size_t best = SIZE_MAX;
  for (int pass = 0; pass < 2 && best == SIZE_MAX; pass++) {
    for (size_t d = 0; d < m->n_domains; d++) {
      if (pass == 0 && !m->domains[d].in_total) {
        continue;
      }
      if (best == SIZE_MAX || m->edges[d].nominal_ns < m->edges[best].nominal_ns) {
        best = d;
      }
    }
  }
  return best;
}

/* Reads at the start, eight per update of the reference, until its update instants can be
 * predicted (peers measure the update period at open the same way), so the first stored sample
 * already sits on an update: at most ACQUIRE_PERIODS updates or ACQUIRE_MAX_NS. A counter much
 * slower than the sampler (a GPU's) is learned from the regular reads instead. */
static void acquire(nemb_meter *m) {
  if (m->ref_dom == SIZE_MAX) {
    return;
  }
  const nemb__edges *ref = &m->edges[m->ref_dom];
  double per = ref->nominal_ns;
  if (per < MIN_ALIGN_NS || per > 2.0 * (double)atomic_load(&m->interval_ns)) {
    return;
  }
  uint64_t span = (uint64_t)(ACQUIRE_PERIODS * per);
  span = span < ACQUIRE_MAX_NS ? span : ACQUIRE_MAX_NS;
  uint64_t gap = (uint64_t)(per / 8);
  uint64_t start = nemb__now_ns();
  uint64_t raw[NEMB__MAX_DOMAINS], prev[NEMB__MAX_DOMAINS], prev_t = 0;
  bool have[NEMB__MAX_DOMAINS] = {false};
  for (uint64_t now = start; now - start < span; now = nemb__now_ns()) {
    for (size_t p = 0; p < m->n_providers; p++) {
      nemb__open_provider *op = &m->providers[p];
      if (op->poller != NULL || op->ops->read(op->state, now, raw + op->first) != 0) {
        for (size_t d = op->first; d < op->first + op->count; d++) {
          raw[d] = NEMB__RAW_INVALID;
        }
      }
    }
    for (size_t d = 0; d < m->n_domains; d++) {
      if (raw[d] == NEMB__RAW_INVALID) {
        continue;
      }
      if (have[d] && raw[d] != prev[d]) {
        nemb__edges_observe(&m->edges[d], prev_t, now);
        nemb__meter_period_set(m, d);
      }
      prev[d] = raw[d];
      have[d] = true;
    }
    prev_t = now;
    double e, unc;
    if (ref->locked && nemb__edges_before(ref, now, &e, &unc) && unc < per / 16) {
      return;
    }
    struct timespec ts = to_timespec(gap);
    nanosleep(&ts, NULL);
  }
}

static bool polled_domain(const nemb_meter *m, size_t d) {
  for (size_t p = 0; p < m->n_providers; p++) {
    const nemb__open_provider *op = &m->providers[p];
    if (d >= op->first && d < op->first + op->count) {
      return op->polled;
    }
  }
  return false;
}

/* Stops every poller; one stuck in a hung driver call keeps its provider (meter.c leaves it). */
static void stop_pollers(nemb_meter *m) {
  for (size_t p = 0; p < m->n_providers; p++) {
    nemb__open_provider *op = &m->providers[p];
    if (op->poller != NULL) {
      op->poll_cpu_ns += nemb__poller_cpu_ns(op->poller);
      if (!nemb__poller_stop(op->poller)) {
        op->left_behind = true;
        nemb__log(NEMB_LOG_WARN,
                  "[%s] a read is still hung in the driver: left running, the "
                  "provider is not closed",
                  op->ops->name);
      }
      op->poller = NULL;
    }
  }
}

int nemb__sampler_start(nemb_meter *m) {
  m->rows = calloc(NEMB__PENDING * (2 + m->n_domains), sizeof *m->rows);
  if (m->rows == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory for the sampler's queue");
  }
  m->ref_dom = choose_reference(m);
  m->slow_dom = SIZE_MAX;
  double slowest = 2.0 * (double)atomic_load(&m->interval_ns);
  for (size_t d = 0; d < m->n_domains; d++) {
    if (m->domains[d].in_total && m->edges[d].nominal_ns > slowest && !polled_domain(m, d)) {
      slowest = m->edges[d].nominal_ns;
      m->slow_dom = d;
    }
  }
  /* Providers whose calls can block are read on threads of their own from now on. */
  for (size_t p = 0; p < m->n_providers; p++) {
    nemb__open_provider *op = &m->providers[p];
    if (!op->polled) {
      continue;
    }
    uint64_t nominal = op->ops->update_interval_ns(op->state);
    for (size_t d = op->first; d < op->first + op->count; d++) {
      m->lag_ns[d] = op->every_ns + op->every_ns / 2; /* the longest gap between its reads */
    }
    int prc = nemb__poller_start(op->ops, op->state, op->count, op->every_ns, op->deadline_ns,
                                 nominal, &op->poller);
    if (prc != 0) {
      stop_pollers(m);
      return nemb__fail(prc, "cannot start the %s provider's reading thread: %s", op->ops->name,
                        nemb_strerror(prc));
    }
  }
  acquire(m);
  /* The first reading primes every unwrapper; its sample is the zero of every total. */
  uint64_t t0 = nemb__now_ns();
  nemb__meter_read(m, t0);
  nemb__meter_store(m, t0);
  m->prev_read_t = t0;
  if (m->row_head < m->row_tail) {
    /* The first sample is the zero of every total, and exists when start returns, except with
     * a polled provider (a GPU's): its value at that instant comes from its curve once its
     * next updates are seen, since its first reading may be a whole update period old. */
    uint64_t *r = row_at(m, m->row_head);
    for (size_t d = 0; d < m->n_domains; d++) {
      if ((r[1] & (1ull << d)) && m->lag_ns[d] == 0) {
        r[2 + d] = m->total[d];
        r[1] &= ~(1ull << d);
        m->cursor[d] = m->row_head + 1;
      }
    }
    publish(m);
  }

  atomic_store(&m->running, true);
  int rc = pthread_create(&m->thread, NULL, sampler_main, m);
  if (rc != 0) {
    atomic_store(&m->running, false);
    stop_pollers(m);
    return nemb__fail(nemb__from_errno(rc), "cannot start the sampler thread: %s", strerror(rc));
  }
  m->thread_live = true;
  return 0;
}

void nemb__sampler_stop(nemb_meter *m) {
  if (!m->thread_live) {
    return;
  }
  /* A counter shows the energy up to its last update, up to an update period ago. Sampling on
   * for one more update period of the slowest counter gives every domain a point after "now",
   * so the last moments before the stop are interpolated rather than extrapolated (capped: a
   * slow model need not stall). */
  uint64_t settle = m->update_ns + m->update_ns / 10 + 1000000u;
  settle = settle < 250000000u ? settle : 250000000u;
  struct timespec ts = to_timespec(settle);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  pthread_mutex_lock(&m->lock);
  atomic_store(&m->running, false);
  pthread_cond_signal(&m->wake);
  pthread_mutex_unlock(&m->lock);
  pthread_join(m->thread, NULL);
  m->thread_live = false;

  /* The closing sample, so the last window ends at stop time and not up to an interval before.
   * Deadlines that passed while the thread was not scheduled at the end were neither read nor
   * counted; the closing read stands for one of them and the rest count as missed, so samples
   * plus missed deadlines always account for the whole schedule. */
  uint64_t t = nemb__now_ns();
  if (m->last_step > 0 && t >= m->last_deadline) {
    atomic_fetch_add_explicit(&m->st_missed, (t - m->last_deadline) / m->last_step,
                              memory_order_relaxed);
  }
  nemb__meter_read(m, t);
  nemb__meter_store(m, t);
  m->prev_read_t = t;
  nemb__meter_flush(m, t);
  stop_pollers(m);
  for (size_t d = 0; d < m->n_domains; d++) {
    if (m->dom_fail_since[d] != 0 && m->dom_lost_at[d] == 0) {
      m->dom_lost_at[d] = m->dom_fail_since[d]; /* still failing at the end: lost */
    }
  }
}
