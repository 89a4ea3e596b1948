/*
 * edges.c - update instants by set membership; the model is explained in edges.h.
 */
#include <math.h>

#include "edges.h"

/* Before anything is learned the period is the provider's nominal one, within 3 %: real RAPL
 * parts say "about 1 ms" and update every 976.6 us (2.4 % less) or 1 ms. Wider would make the
 * count of updates between two brackets ambiguous after a few periods on a busy machine. */
#define WIDE 0.03

void nemb__edges_init(nemb__edges *e, uint64_t nominal_ns) {
  *e = (nemb__edges){.nominal_ns = (double)nominal_ns};
  e->p_lo = e->nominal_ns * (1 - WIDE);
  e->p_hi = e->nominal_ns * (1 + WIDE);
}

double nemb__edges_period(const nemb__edges *e) {
  return (e->p_lo + e->p_hi) / 2;
}

static void restart(nemb__edges *e, double lo, double hi) {
  double p = nemb__edges_period(e);
  e->have_ref = e->have_anchor = true;
  e->ref_lo = e->anchor_lo = lo;
  e->ref_hi = e->anchor_hi = hi;
  /* Keep the period learned so far, loosened: what broke may have been the phase. */
  double w = fmax(e->p_hi - e->p_lo, p * 0.01);
  e->p_lo = fmax(p - w, e->nominal_ns * (1 - WIDE));
  e->p_hi = fmin(p + w, e->nominal_ns * (1 + WIDE));
  e->locked = false;
}

bool nemb__edges_observe(nemb__edges *e, uint64_t lo_ns, uint64_t hi_ns) {
  double lo = (double)lo_ns, hi = (double)hi_ns;
  double p = nemb__edges_period(e);
  double w = hi - lo;
  if (!(w > 0)) {
    return false;
  }
  if (!e->have_ref) {
    if (w > p / 4) {
      return false; /* only a narrow bracket can start a model */
    }
    e->narrow++;
    restart(e, lo, hi);
    return true;
  }
  /* Which predicted update this bracket holds: the one whose predicted interval meets it. A
   * bracket that could hold two (wider than a period less the uncertainty) says nothing. */
  double mid = (e->ref_lo + e->ref_hi) / 2;
  double half_ref = (e->ref_hi - e->ref_lo) / 2, half_p = (e->p_hi - e->p_lo) / 2;
  double k = ceil((lo - mid) / p - 0.5);
  double unc = half_ref + fabs(k) * half_p;
  if (!e->locked && unc > p / 3 && w <= p / 4) {
    /* Too long since the reference for a model that is still learning: start from here. */
    e->narrow++;
    restart(e, lo, hi);
    return true;
  }
  if (k < 1 || w + 2 * unc >= p) {
    return false;
  }
  double pred = mid + k * p;
  if (pred + unc <= lo || pred - unc > hi) {
    k += pred + unc <= lo ? 1 : -1;
    pred = mid + k * p;
    unc = half_ref + fabs(k) * half_p;
    if (k < 1 || pred + unc <= lo || pred - unc > hi) {
      goto inconsistent;
    }
  }
  double amid = (e->anchor_lo + e->anchor_hi) / 2;
  double ka = nearbyint((pred - amid) / p);
  if (ka * half_p + (e->anchor_hi - e->anchor_lo) / 2 + unc > p / 4) {
    /* So far back that the count of updates since it could be off by one: re-anchor at the
     * reference (the period's bounds are kept). */
    e->anchor_lo = e->ref_lo;
    e->anchor_hi = e->ref_hi;
    amid = mid;
    ka = k;
  }
  if (ka < 1) {
    return false;
  }
  double plo = fmax(e->p_lo, (lo - e->anchor_hi) / ka);
  double phi = fmin(e->p_hi, (hi - e->anchor_lo) / ka);
  double nlo = fmax(lo, e->ref_lo + k * plo);
  double nhi = fmin(hi, e->ref_hi + k * phi);
  if (plo > phi || nlo > nhi) {
    goto inconsistent;
  }
  e->misses = 0;
  e->narrow += w <= p / 4;
  e->p_lo = plo;
  e->p_hi = phi;
  e->ref_lo = nlo;
  e->ref_hi = nhi;
  /* The anchor's update is ka periods before this one: narrow it too, so the period's bound
   * tightens with the best brackets seen rather than staying as wide as the first. */
  e->anchor_lo = fmax(e->anchor_lo, nlo - ka * phi);
  e->anchor_hi = fmin(e->anchor_hi, nhi - ka * plo);
  if ((nhi - nlo) * 4 < e->anchor_hi - e->anchor_lo) {
    /* A much narrower bracket makes the better anchor; the period's bounds are kept. */
    e->anchor_lo = nlo;
    e->anchor_hi = nhi;
  }
  /* Locked once a prediction ten periods ahead is good to a tenth of a period. */
  e->locked = (e->ref_hi - e->ref_lo) / 2 + 10 * (e->p_hi - e->p_lo) / 2 < p / 10;
  return true;

inconsistent:
  /* The model does not explain this change: the period drifted, the counter was reset or read
   * wrongly. A narrow bracket starts over at once; wide ones only after three misses in a row. */
  if (w <= p / 4) {
    e->relocks += e->locked;
    e->narrow++;
    restart(e, lo, hi);
    return true;
  }
  if (++e->misses >= 3) {
    e->relocks += e->locked;
    e->have_ref = e->have_anchor = e->locked = false;
    e->misses = 0;
  }
  return false;
}

bool nemb__edges_before(const nemb__edges *e, uint64_t t_ns, double *edge_ns, double *unc_ns) {
  if (!e->have_ref) {
    return false;
  }
  double p = nemb__edges_period(e);
  double mid = (e->ref_lo + e->ref_hi) / 2;
  double k = floor(((double)t_ns - mid) / p);
  *edge_ns = mid + k * p;
  *unc_ns = (e->ref_hi - e->ref_lo) / 2 + fabs(k) * (e->p_hi - e->p_lo) / 2;
  return true;
}
