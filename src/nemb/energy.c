/*
 * energy.c - the energy at any instant and over any span: the one place the report, the plot
 * and the checkpoint aggregation get energy from.
 *
 * The stored samples are points of each domain's cumulative energy curve at its counters' update
 * instants (sampler.c, edges.h), so between two samples the power is taken as constant and the
 * cumulative energy is the straight line between them. That is exact for the energy of any
 * interval whose ends fall on counter updates and, for ends between updates, errs by at most the
 * change in power within one update period times that period.
 *
 * Uncertainty. A counter is monotonic and its update period P is known, so whatever happened
 * between updates, the energy at t lies between the curve's values at t - P and t + P (the
 * updates just before and after t are within one period of it). For a span shorter than a few
 * update periods that bound is reported with the energy (nemb__energy_span), instead of the
 * single figure looking more certain than the counter allows. Where the sampler missed updates
 * (its thread starved on a busy machine: two stored samples much further apart than usual), the
 * straight line across the gap is a guess, and a monotonic counter only says that the energy at
 * t lies between the two samples around it; a span with an end there gets that bound too. The
 * same holds whatever put the samples far apart relative to the counter's updates: a long
 * sampling interval chosen on purpose, or the store coarsening at its cap.
 * A slow counter (a GPU's, updated every 100 ms) splits the energy of the update holding a span's
 * end by a straight line, which is right at constant power and errs where the power changed
 * within that update: on an NVIDIA H200 a task ending as a matrix-product load stopped differed
 * from the driver's counter by 17 J of 1420 (README, nvml). If the power inside the update stays
 * within the range [m, M] of the powers around it, the split errs by at most (M - m) P / 4; the
 * powers are read over windows of one period before, around and after the end, which straddle
 * updates and can show half the range, so an end gets (M - m) P / 2. At steady power (the powers
 * within 2 % of each other) that is 0.
 *
 * Readers during the run (a checkpoint resolving its events) hold the store's read lock: the
 * store may compact itself at its cap (store.h). After the stop nothing writes and the lock is
 * uncontended.
 */
#include <math.h>
#include <string.h>

#include "energy.h"

/* The last sample index i with t(i) <= t, or 0 when t precedes every sample. */
static size_t find_left(const nemb_meter *m, size_t count, uint64_t t, size_t hint) {
  const nemb__store *st = &m->store;
  if (hint < count && nemb__store_at(st, hint)[0] <= t) {
    /* Walk forward a few steps: successive instants are usually close together. */
    for (int step = 0; step < 8; step++) {
      if (hint + 1 >= count || nemb__store_at(st, hint + 1)[0] > t) {
        return hint;
      }
      hint++;
    }
  } else if (hint < count) {
    /* Or back a few (a span's bound looks a period before its start). */
    for (int step = 0; step < 8 && hint > 0; step++) {
      hint--;
      if (nemb__store_at(st, hint)[0] <= t) {
        return hint;
      }
    }
  }
  size_t lo = 0, hi = count; /* invariant: t(lo) <= t or lo == 0; t(hi) > t or hi == count */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (nemb__store_at(st, mid)[0] <= t) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

static bool at_locked(const nemb_meter *m, size_t count, uint64_t t_ns, double *uj, size_t *hint) {
  size_t n = m->n_domains;
  if (count == 0) {
    for (size_t d = 0; d < n; d++) {
      uj[d] = 0;
    }
    return false;
  }
  size_t i = find_left(m, count, t_ns, hint ? *hint : 0);
  if (hint) {
    *hint = i;
  }
  const uint64_t *a = nemb__store_at(&m->store, i);
  bool inside = t_ns >= a[0];
  if (!inside || i + 1 >= count) {
    for (size_t d = 0; d < n; d++) {
      uj[d] = (double)a[1 + d];
    }
    return inside && t_ns == a[0];
  }
  const uint64_t *b = nemb__store_at(&m->store, i + 1);
  double f = b[0] > a[0] ? (double)(t_ns - a[0]) / (double)(b[0] - a[0]) : 0;
  for (size_t d = 0; d < n; d++) {
    uj[d] = (double)a[1 + d] + f * ((double)b[1 + d] - (double)a[1 + d]);
  }
  return true;
}

static size_t lock_count(const nemb_meter *m, size_t count) {
  nemb__store *st = (nemb__store *)&m->store;
  pthread_rwlock_rdlock(&st->lock);
  size_t now = nemb__store_count(st);
  return count < now ? count : now;
}

static void unlock(const nemb_meter *m) {
  pthread_rwlock_unlock(&((nemb__store *)&m->store)->lock);
}

bool nemb__energy_at(const nemb_meter *m, size_t count, uint64_t t_ns, double *uj, size_t *hint) {
  count = lock_count(m, count);
  bool r = at_locked(m, count, t_ns, uj, hint);
  unlock(m);
  return r;
}

double nemb__energy_total(const nemb_meter *m, const double *uj) {
  double sum = 0;
  for (size_t d = 0; d < m->n_domains; d++) {
    if (m->domains[d].in_total) {
      sum += uj[d];
    }
  }
  return sum;
}

/* The spacing of stored samples past which the energy at an instant between two of them is
 * known only to lie between theirs, over NEMB__GAP_UPDATES, ns, for domain @p d: its counter's
 * update period, whatever made the samples further apart (a long sampling interval, the store
 * coarsening at its cap, a late sampler): the straight line between them then spans updates the
 * store does not hold. A power integrated at each read (NEMB__METHOD_INTEGRATED) has no updates
 * between reads: its spacing is the sampling interval. A counter that changes faster than 1 ms
 * (one that counts continuously, as the tests' fake NVML does) is taken as updating every 1 ms,
 * codegreen's finest sampling interval by default, or every end at 1 ms sampling would be a gap. */
static double usual_spacing(const nemb_meter *m, size_t d) {
  double per = fmax(nemb__meter_period_ns(m, d), 1e6);
  const char *how = m->domains[d].method;
  if (how != NULL && strcmp(how, NEMB__METHOD_INTEGRATED) == 0) {
    per = fmax(per, (double)atomic_load(&((nemb_meter *)m)->interval_ns));
  }
  return per;
}

/* Domain @p d's cumulative energy at @p t as the counter allows it, [*lo, *hi] around the
 * curve's @p e_t: between the two stored samples around t when t lies more than
 * NEMB__GAP_UPDATES usual spacings from both (then returns true), and with @p wide (a short span)
 * also anywhere between the curve at t - P and t + P, P = @p per; where those fall outside the
 * stored curve (a span at the session's edge) it is extended at @p rate (uJ per ns). */
static bool bound_at(const nemb_meter *m, size_t count, size_t d, uint64_t t, double per, bool wide,
                     double e_t, double rate, double *lo, double *hi, size_t hint) {
  const nemb__store *st = &m->store;
  *lo = *hi = e_t;
  double usual = usual_spacing(m, d);
  size_t i = find_left(m, count, t, hint);
  const uint64_t *s0 = nemb__store_at(st, i);
  bool gap = false;
  if (i + 1 < count && s0[0] <= t) {
    const uint64_t *s1 = nemb__store_at(st, i + 1);
    /* Near a stored sample the line holds the energy as well as anywhere. */
    if ((double)(t - s0[0]) > NEMB__GAP_UPDATES * usual &&
        (double)(s1[0] - t) > NEMB__GAP_UPDATES * usual) {
      gap = true;
      *lo = (double)s0[1 + d];
      *hi = (double)s1[1 + d];
    }
  }
  if (wide) {
    /* E(t) in [E(t - P), E(t + P)]: the updates just before and after t are within P of it. */
    uint64_t p = (uint64_t)ceil(per);
    const uint64_t *f = nemb__store_at(st, 0), *l = nemb__store_at(st, count - 1);
    double v[NEMB__MAX_DOMAINS];
    size_t h = i;
    at_locked(m, count, t > p ? t - p : 0, v, &h);
    double below = v[d] - (t < f[0] + p ? rate * (double)(f[0] + p - t) : 0);
    h = i;
    at_locked(m, count, t + p, v, &h);
    double above = v[d] + (t + p > l[0] ? rate * (double)(t + p - l[0]) : 0);
    *lo = fmin(*lo, below);
    *hi = fmax(*hi, above);
  }
  return gap;
}

/* Domain @p d's power (uJ per ns) over [@p t0, @p t1] on the stored curve, clamped to it; false
 * when less than half of the window is stored. */
static bool window_rate(const nemb_meter *m, size_t count, size_t d, double t0, double t1,
                        double *rate, size_t *hint) {
  double f = (double)nemb__store_at(&m->store, 0)[0];
  double l = (double)nemb__store_at(&m->store, count - 1)[0];
  double lo = fmax(t0, f), hi = fmin(t1, l);
  if (hi - lo < (t1 - t0) / 2) {
    return false;
  }
  double v0[NEMB__MAX_DOMAINS], v1[NEMB__MAX_DOMAINS];
  at_locked(m, count, (uint64_t)lo, v0, hint);
  at_locked(m, count, (uint64_t)hi, v1, hint);
  *rate = (v1[d] - v0[d]) / (hi - lo);
  return true;
}

/* The step bound at an end @p t of a span for domain @p d updated every @p per ns (energy.c's
 * header): (M - m) P / 2 over the powers of the windows [t - 1.5P, t - P/2], [t - P/2, t + P/2]
 * and [t + P/2, t + 1.5P], in microjoules. */
static double step_bound(const nemb_meter *m, size_t count, size_t d, uint64_t t, double per,
                         size_t hint) {
  double lo = INFINITY, hi = -INFINITY, r;
  for (int k = -1; k <= 1; k++) {
    double c = (double)t + k * per;
    if (window_rate(m, count, d, c - per / 2, c + per / 2, &r, &hint)) {
      lo = fmin(lo, r);
      hi = fmax(hi, r);
    }
  }
  /* Under 2 % apart is steady power: the update instants' own timing error shows as much. */
  return hi - lo > 0.02 * fabs(hi) ? (hi - lo) * per / 2 : 0;
}

double nemb__energy_span(const nemb_meter *m, size_t count, uint64_t a, uint64_t b, double *dom,
                         nemb__uncertainty *unc, size_t *hint) {
  double ua[NEMB__MAX_DOMAINS], ub[NEMB__MAX_DOMAINS], d_uj[NEMB__MAX_DOMAINS];
  count = lock_count(m, count);
  size_t ha = hint ? *hint : 0, hb;
  at_locked(m, count, a, ua, &ha);
  hb = ha;
  at_locked(m, count, b, ub, &hb);
  if (hint) {
    *hint = hb;
  }
  nemb__uncertainty u = {0, 0};
  for (size_t d = 0; d < m->n_domains; d++) {
    d_uj[d] = ub[d] - ua[d];
    if (dom != NULL) {
      dom[d] = d_uj[d];
    }
    if (unc == NULL || !m->domains[d].in_total || count == 0) {
      continue;
    }
    double per = nemb__meter_period_ns(m, d);
    bool short_span = (double)(b - a) < NEMB__FEW_UPDATES * per;
    /* Beyond the stored curve what the counter did is unknown: it is extended at the domain's
     * power ceiling, or without one at its mean power over the stored curve. */
    const uint64_t *f = nemb__store_at(&m->store, 0), *l = nemb__store_at(&m->store, count - 1);
    double rate = m->domains[d].max_power_uw > 0 || l[0] <= f[0]
                      ? (double)m->domains[d].max_power_uw / 1e9 /* uJ per ns */
                      : ((double)l[1 + d] - (double)f[1 + d]) / (double)(l[0] - f[0]);
    double lo_a, hi_a, lo_b, hi_b;
    bool gap = bound_at(m, count, d, a, per, short_span, ua[d], rate, &lo_a, &hi_a, ha);
    gap |= bound_at(m, count, d, b, per, short_span, ub[d], rate, &lo_b, &hi_b, hb);
    /* A short span's bound already spans a period either side of each end. */
    double step = !short_span && per >= NEMB__STEP_PERIOD_NS
                      ? step_bound(m, count, d, a, per, ha) + step_bound(m, count, d, b, per, hb)
                      : 0;
    if (step > 0) {
      u.uj += step;
      u.why |= NEMB__UNC_STEP;
    }
    /* Across a bridged span (meter.h) the energy is a straight line between two samplers'
     * samples: anything from none to the rate above could have been drawn there. */
    double over =
        fmin((double)b, (double)m->bridge_to_ns) - fmax((double)a, (double)m->bridge_from_ns);
    if (m->bridge_to_ns > m->bridge_from_ns && over > 0) {
      u.uj += over * rate;
      u.why |= NEMB__UNC_JOIN;
    }
    if (!short_span && !gap) {
      continue;
    }
    double most = hi_b - lo_a;
    double least = fmax(0, lo_b - hi_a);
    double half = fmax(most - d_uj[d], d_uj[d] - least);
    if (half > 0) {
      u.uj += half;
      u.why |= (short_span ? NEMB__UNC_SHORT : 0u) | (gap ? NEMB__UNC_GAP : 0u);
    }
  }
  unlock(m);
  if (unc != NULL) {
    *unc = u;
  }
  return nemb__energy_total(m, d_uj);
}

void nemb__energy_short_rule(const nemb_meter *m, size_t count, nemb__short_rule *out) {
  memset(out, 0, sizeof *out);
  double share[NEMB__MAX_DOMAINS], sum = 0, min_usual = INFINITY;
  size_t in[NEMB__MAX_DOMAINS], n = 0;
  count = lock_count(m, count);
  const uint64_t *f = count >= 2 ? nemb__store_at(&m->store, 0) : NULL;
  const uint64_t *l = count >= 2 ? nemb__store_at(&m->store, count - 1) : NULL;
  for (size_t d = 0; d < m->n_domains; d++) {
    if (!m->domains[d].in_total) {
      continue;
    }
    in[n] = d;
    share[n] = f != NULL ? (double)l[1 + d] - (double)f[1 + d] : 0;
    sum += share[n];
    min_usual = fmin(min_usual, usual_spacing(m, d));
    n++;
  }
  out->gap_ns = n > 0 ? NEMB__GAP_UPDATES * min_usual : 0;
  unlock(m);
  /* Each domain's limit and weight, longest period first (insertion: a handful of domains). */
  for (size_t k = 0; k < n; k++) {
    double per = nemb__meter_period_ns(m, in[k]);
    double s = sum > 0 ? share[k] / sum : 1.0 / (double)n;
    size_t j = out->n++;
    while (j > 0 && out->limit_ns[j - 1] < NEMB__FEW_UPDATES * per) {
      out->limit_ns[j] = out->limit_ns[j - 1];
      out->weight_ns[j] = out->weight_ns[j - 1];
      j--;
    }
    out->limit_ns[j] = NEMB__FEW_UPDATES * per;
    out->weight_ns[j] = 2 * per * s;
  }
  for (size_t k = 1; k < out->n; k++) {
    out->weight_ns[k] += out->weight_ns[k - 1]; /* cumulative: the domains for which it is short */
  }
}

double nemb__short_rule_uj(const nemb__short_rule *r, uint64_t span_ns, double rate) {
  if (r->n == 0 || (double)span_ns >= r->limit_ns[0]) {
    return 0;
  }
  size_t k = r->n - 1; /* the last domain whose limit the span is under */
  while ((double)span_ns >= r->limit_ns[k]) {
    k--;
  }
  return rate * r->weight_ns[k];
}

double nemb__energy_total_at(const nemb_meter *m, size_t count, uint64_t t_ns, size_t *hint) {
  double uj[NEMB__MAX_DOMAINS];
  nemb__energy_at(m, count, t_ns, uj, hint);
  return nemb__energy_total(m, uj);
}

bool nemb__energy_bracket(const nemb_meter *m, size_t count, uint64_t t_ns, uint64_t *ta,
                          double *ea, uint64_t *tb, double *eb, size_t *hint) {
  count = lock_count(m, count);
  bool ok = false;
  if (count >= 2) {
    size_t i = find_left(m, count, t_ns, hint ? *hint : 0);
    if (hint) {
      *hint = i;
    }
    const uint64_t *a = nemb__store_at(&m->store, i);
    if (t_ns >= a[0] && i + 1 < count) {
      const uint64_t *b = nemb__store_at(&m->store, i + 1);
      double sa = 0, sb = 0;
      for (size_t d = 0; d < m->n_domains; d++) {
        if (m->domains[d].in_total) {
          sa += (double)a[1 + d];
          sb += (double)b[1 + d];
        }
      }
      *ta = a[0];
      *tb = b[0];
      *ea = sa;
      *eb = sb;
      ok = b[0] > a[0];
    }
  }
  unlock(m);
  return ok;
}

double nemb__energy_power_w(const nemb_meter *m, size_t count, uint64_t t_ns, size_t *hint) {
  count = lock_count(m, count);
  double w = 0;
  if (count >= 2) {
    size_t i = find_left(m, count, t_ns, hint ? *hint : 0);
    if (hint) {
      *hint = i;
    }
    i = i + 1 < count ? i : count - 2;
    const uint64_t *a = nemb__store_at(&m->store, i), *b = nemb__store_at(&m->store, i + 1);
    if (b[0] > a[0]) {
      double da = 0, db = 0;
      for (size_t d = 0; d < m->n_domains; d++) {
        if (m->domains[d].in_total) {
          da += (double)a[1 + d];
          db += (double)b[1 + d];
        }
      }
      w = (db - da) / (double)(b[0] - a[0]) * 1e3;
    }
  }
  unlock(m);
  return w;
}

void nemb__energy_rates(const nemb_meter *m, size_t count, uint64_t t_ns, double *w) {
  count = lock_count(m, count);
  for (size_t d = 0; d < m->n_domains; d++) {
    w[d] = 0;
  }
  if (count >= 2) {
    size_t i = find_left(m, count, t_ns, 0);
    i = i + 1 < count ? i : count - 2;
    const uint64_t *a = nemb__store_at(&m->store, i), *b = nemb__store_at(&m->store, i + 1);
    if (b[0] > a[0]) {
      for (size_t d = 0; d < m->n_domains; d++) {
        w[d] = ((double)b[1 + d] - (double)a[1 + d]) / (double)(b[0] - a[0]) * 1e3;
      }
    }
  }
  unlock(m);
}

size_t nemb__energy_extent(const nemb_meter *m, uint64_t *last_t) {
  size_t count = lock_count(m, SIZE_MAX);
  *last_t = count > 0 ? nemb__store_at(&m->store, count - 1)[0] : 0;
  unlock(m);
  return count;
}
