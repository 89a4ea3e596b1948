/*
 * edges.c - update instants by set membership; the model is explained in edges.h.
 */
#include <math.h>
#include <stdint.h>

#include "edges.h"

/* Before anything is learned the period is the provider's nominal one, within 3 %: real RAPL
 * parts say "about 1 ms" and update every 976.6 us (2.4 % less) or 1 ms. Wider would make the
 * count of updates between two brackets ambiguous after a few periods on a busy machine, so only
 * a provider that knows its figure is worse (NVML's measured at open) widens it, up to WIDEST. */
#define WIDE 0.03
#define WIDEST 0.5

void nemb__edges_init(nemb__edges *e, uint64_t nominal_ns) {
  nemb__edges_init_within(e, nominal_ns, 0);
}

void nemb__edges_init_within(nemb__edges *e, uint64_t nominal_ns, double rel) {
  double w = rel > WIDE ? fmin(rel, WIDEST) : WIDE; /* NaN: the default */
  *e = (nemb__edges){.nominal_ns = (double)nominal_ns, .wide = w};
  e->p_lo = e->nominal_ns * (1 - w);
  e->p_hi = e->nominal_ns * (1 + w);
}

double nemb__edges_period(const nemb__edges *e) {
  return (e->p_lo + e->p_hi) / 2;
}

static void restart(nemb__edges *e, double lo, double hi) {
  double p = nemb__edges_period(e);
  e->have_ref = e->have_anchor = true;
  e->ref_lo = e->anchor_lo = lo;
  e->ref_hi = e->anchor_hi = hi;
  e->anchor_k = 0;
  /* Keep the period learned so far, loosened: what broke may have been the phase. */
  double w = fmax(e->p_hi - e->p_lo, p * 0.01);
  e->p_lo = fmax(p - w, e->nominal_ns * (1 - e->wide));
  e->p_hi = fmin(p + w, e->nominal_ns * (1 + e->wide));
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
  /* The anchor's update is anchor_k periods before the reference's, counted bracket by bracket
   * (each count unambiguous, as checked above), so this one is ka after it however far back it
   * is: the period's bounds tighten with every update counted. (Recounting from the anchor with
   * the period's bounds instead had to re-anchor once those bounds times the count reached a
   * quarter period: a counter read every period / 8 from a 3 % prior never locked.) */
  double ka = e->anchor_k + k;
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
  e->anchor_k = ka;
  if ((nhi - nlo) * 4 < e->anchor_hi - e->anchor_lo) {
    /* A much narrower bracket makes the better anchor; the period's bounds are kept. */
    e->anchor_lo = nlo;
    e->anchor_hi = nhi;
    e->anchor_k = 0;
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

/* Bracket i's midpoint and full width. */
static double mid_of(const uint64_t *lo, const uint64_t *hi, size_t i) {
  return ((double)lo[i] + (double)hi[i]) / 2;
}

static double width_of(const uint64_t *lo, const uint64_t *hi, size_t i) {
  return (double)hi[i] - (double)lo[i];
}

/* Updates every @p p (within +- @p dp per period) through @p ref (within +- @p dref): whether
 * one may lie in (a, b] (*maybe), and whether one surely does (*surely). */
static void predicted_in(double ref, double dref, double p, double dp, double a, double b,
                         bool *maybe, bool *surely) {
  *maybe = *surely = false;
  double far = fmax(fabs(a - ref), fabs(b - ref)) / p + 1;
  double slack = dref + far * dp;
  for (double m = floor((a - ref - slack) / p); m <= ceil((b - ref + slack) / p); m++) {
    double u = ref + m * p, tol = dref + fabs(m) * dp;
    *maybe = *maybe || (u + tol > a && u - tol <= b);
    *surely = *surely || (u - tol > a && u + tol <= b);
  }
}

/* Whether updates every @p p (within +- @p dp per period), at the phase of the kept brackets
 * (indices @p keep), may put one in each of the @p n brackets and surely put none in the spans
 * between them; each judged from the kept bracket nearest it, so the doubt does not pile up. */
static bool explains(const uint64_t *lo, const uint64_t *hi, size_t n, const size_t *keep, size_t k,
                     double p, double dp) {
  for (size_t i = 0; i < n; i++) {
    size_t r = keep[0];
    for (size_t j = 1; j < k; j++) {
      double dj = fabs(mid_of(lo, hi, keep[j]) - mid_of(lo, hi, i));
      r = dj < fabs(mid_of(lo, hi, r) - mid_of(lo, hi, i)) ? keep[j] : r;
    }
    double ref = mid_of(lo, hi, r), dref = width_of(lo, hi, r) / 2;
    bool maybe, surely;
    predicted_in(ref, dref, p, dp, (double)lo[i], (double)hi[i], &maybe, &surely);
    if (!maybe) {
      return false; /* no update in the bracket */
    }
    if (i + 1 < n && lo[i + 1] > hi[i]) {
      predicted_in(ref, dref, p, dp, (double)hi[i], (double)lo[i + 1], &maybe, &surely);
      if (surely) {
        return false; /* an update where two reads saw none */
      }
    }
  }
  return true;
}

/* Counts the periods between the @p k brackets kept (indices @p keep, gaps between their
 * middles @p gaps) on the hypothesis that gap @p first (the shortest) is @p d periods, and
 * bounds the period by set membership: update j is count(i, j) periods after update
 * i, each within its bracket, so every pair bounds it, as do @p p_min and @p p_max. The other
 * gaps are counted from the shortest up, each with the bounds so far, where one whole count
 * fits (a gap that holds a missed update is two periods, not one, where a mean of the gaps
 * erred). BOUND_NO when the brackets contradict the hypothesis, BOUND_AMBIGUOUS when a gap
 * could hold two counts (more reads tell), else BOUND_OK. */
enum { BOUND_NO, BOUND_OK, BOUND_AMBIGUOUS };

static int bound(const uint64_t *lo, const uint64_t *hi, const size_t *keep, size_t k,
                 const double *gaps, size_t first, double d, double p_min, double p_max,
                 double *p_lo, double *p_hi) {
  double c[NEMB__EDGES_MEASURE_MAX]; /* periods in gap i; 0 = not counted yet */
  *p_lo = p_min;
  *p_hi = p_max;
  for (size_t i = 0; i + 1 < k; i++) {
    c[i] = i == first ? d : 0;
    if (c[i] > 0) {
      *p_lo = fmax(*p_lo, ((double)lo[keep[i + 1]] - (double)hi[keep[i]]) / d);
      *p_hi = fmin(*p_hi, ((double)hi[keep[i + 1]] - (double)lo[keep[i]]) / d);
    }
  }
  for (;;) {
    size_t next = SIZE_MAX;
    for (size_t i = 0; i + 1 < k; i++) {
      next = c[i] == 0 && (next == SIZE_MAX || gaps[i] < gaps[next]) ? i : next;
    }
    if (next == SIZE_MAX) {
      break;
    }
    double g_lo = (double)lo[keep[next + 1]] - (double)hi[keep[next]];
    double g_hi = (double)hi[keep[next + 1]] - (double)lo[keep[next]];
    double c_lo = fmax(1, ceil(g_lo / *p_hi)), c_hi = floor(g_hi / *p_lo);
    if (!(*p_lo < *p_hi) || c_lo > c_hi) {
      return BOUND_NO; /* no count fits */
    }
    if (c_lo < c_hi) {
      return BOUND_AMBIGUOUS; /* more than one does */
    }
    c[next] = c_lo;
    *p_lo = fmax(*p_lo, g_lo / c_lo);
    *p_hi = fmin(*p_hi, g_hi / c_lo);
  }
  double count[NEMB__EDGES_MEASURE_MAX];
  count[0] = 0;
  for (size_t i = 1; i < k; i++) {
    count[i] = count[i - 1] + c[i - 1];
  }
  for (size_t i = 0; i < k; i++) {
    for (size_t j = i + 1; j < k; j++) {
      double n = count[j] - count[i];
      *p_lo = fmax(*p_lo, ((double)lo[keep[j]] - (double)hi[keep[i]]) / n);
      *p_hi = fmin(*p_hi, ((double)hi[keep[j]] - (double)lo[keep[i]]) / n);
    }
  }
  return *p_lo <= *p_hi ? BOUND_OK : BOUND_NO;
}

double nemb__edges_measure(const uint64_t *lo, const uint64_t *hi, size_t n, double *rel_unc) {
  *rel_unc = INFINITY;
  n = n < NEMB__EDGES_MEASURE_MAX ? n : NEMB__EDGES_MEASURE_MAX;
  /* Whatever the count, no update fell between two changes (the reads between saw none), and two
   * changes are at least a period apart: the period is longer than the longest span without a
   * change and no longer than the shortest from one bracket's start to the next one's end. */
  double p_min = 0, p_max = INFINITY, narrowest = INFINITY, ws[NEMB__EDGES_MEASURE_MAX];
  for (size_t i = 0; i < n; i++) {
    ws[i] = width_of(lo, hi, i);
    narrowest = fmin(narrowest, ws[i]);
    if (i + 1 < n) {
      p_min = fmax(p_min, (double)lo[i + 1] - (double)hi[i]);
      p_max = fmin(p_max, (double)hi[i + 1] - (double)lo[i]);
    }
  }
  /* The brackets a delayed read widened are left out: wider than three times the narrowest (a
   * read's own length varies: the driver takes its value anywhere within the call), or than
   * half the shortest period possible. */
  double limit = 3 * narrowest + 1000;
  if (p_min / 2 > narrowest) {
    limit = fmin(limit, p_min / 2);
  }
  size_t keep[NEMB__EDGES_MEASURE_MAX], k = 0;
  for (size_t i = 0; i < n; i++) {
    if (ws[i] >= 0 && ws[i] <= limit) {
      keep[k++] = i;
    }
  }
  /* Failing a count, those two bounds alone (a counter read far faster than it updates has them
   * close: reads 1 ms apart bound a 20 ms period to about 10 %; one that changes at every read
   * has no span without a change, and the period is only known to be below the reads' spacing). */
  double fallback = 0;
  if (p_max < INFINITY && p_min <= p_max) {
    fallback = (p_min + p_max) / 2;
    *rel_unc = (p_max - p_min) / (p_max + p_min);
  }
  if (k < 2) {
    return fallback;
  }
  double gaps[NEMB__EDGES_MEASURE_MAX];
  size_t first = 0;
  for (size_t i = 1; i < k; i++) {
    gaps[i - 1] = mid_of(lo, hi, keep[i]) - mid_of(lo, hi, keep[i - 1]);
    first = gaps[i - 1] < gaps[first] ? i - 1 : first;
  }
  double guess = gaps[first];
  if (!(guess > 0)) {
    return fallback;
  }
  /* The shortest gap kept is one period, unless reads missed updates in it: then d. Only a d
   * that alone explains every change, while every other is ruled out, is taken. */
  double found = 0, found_rel = INFINITY;
  for (double d = 1; d <= NEMB__EDGES_MEASURE_MAX && guess / d * 1.5 > p_min; d++) {
    double p_lo, p_hi;
    int b = bound(lo, hi, keep, k, gaps, first, d, p_min, p_max, &p_lo, &p_hi);
    if (b == BOUND_AMBIGUOUS) {
      return fallback; /* this count cannot be ruled out: more reads must tell */
    }
    if (b == BOUND_OK && explains(lo, hi, n, keep, k, (p_lo + p_hi) / 2, (p_hi - p_lo) / 2)) {
      if (found > 0) {
        return fallback; /* two periods explain it all: more reads must tell */
      }
      found = (p_lo + p_hi) / 2;
      found_rel = (p_hi - p_lo) / (p_hi + p_lo);
    }
  }
  if (found > 0) {
    *rel_unc = found_rel;
    return found;
  }
  return fallback; /* explained by none */
}
