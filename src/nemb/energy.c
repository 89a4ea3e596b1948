/*
 * energy.c - the energy at any instant, from the samples around it.
 *
 * Counters are sampled every interval; between two samples we assume constant power, so the
 * cumulative energy is the straight line between them. That is exact for the energy of any
 * interval whose ends fall on samples and, for ends between samples, errs by at most the change
 * in power within one sampling interval times that interval.
 */
#include "session.h"

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

bool nemb__energy_at(const nemb_meter *m, size_t count, uint64_t t_ns, double *uj, size_t *hint) {
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

double nemb__energy_total(const nemb_meter *m, const double *uj) {
  double sum = 0;
  for (size_t d = 0; d < m->n_domains; d++) {
    if (m->domains[d].in_total) {
      sum += uj[d];
    }
  }
  return sum;
}
