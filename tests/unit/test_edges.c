/* test_edges.c - a counter's update period learned from the reads that bracket its changes, at
 * every phase: measured at open (nemb__edges_measure, as the NVML provider does) from reads
 * every ~1 ms that a busy machine delays past whole updates, then narrowed by the update-edge
 * model (nemb__edges_observe) from a poller's reads. Simulated time, so every trial is
 * deterministic and thousands run in a moment; each trial draws the period, the phase, the
 * call's length and the delays from a fixed seed. */
#include "nemb_test.h"
#include <math.h>

#include "edges.h"

#define MS 1e6

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static double uniform(void) { /* [0, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

/* A counter updating every @p period ns from @p phase on: the number of updates by @p t. */
static long long updates_by(double t, double period, double phase) {
  return t < phase ? -1 : (long long)floor((t - phase) / period);
}

/* One simulated read: the call starts at *t, takes @p call ns, and the driver takes the value at
 * a random instant within it. Returns the counter's update count; *lo / *hi get the instants
 * known for it (the call, or the value's own instant when @p stamped). */
static long long read_at(double *t, double call, bool stamped, double period, double phase,
                         double *lo, double *hi) {
  double at = *t + call * uniform();
  *lo = stamped ? at : *t;
  *hi = stamped ? at : *t + call;
  *t += call;
  return updates_by(at, period, phase);
}

/* What the NVML provider does at open (nvml.c measure_update_ns): reads every 1 ms (plus the
 * call) until six changes give the period to 1 %, or for 250 ms, longer (up to 1 s) while it
 * is not known to 2.5 %, on a machine that delays one read in ten by up to @p worst_delay. */
static double measure(double period, double phase, double call, bool stamped, double worst_delay,
                      double *rel) {
  uint64_t lo[NEMB__EDGES_MEASURE_MAX], hi[NEMB__EDGES_MEASURE_MAX];
  size_t n = 0;
  double t = 1e9, start = t, prev_lo = 0;
  long long last = -2;
  *rel = INFINITY;
  while (t < start + 1000 * MS && n < NEMB__EDGES_MEASURE_MAX &&
         !(t >= start + 250 * MS && *rel <= 0.025)) {
    double vlo, vhi;
    long long u = read_at(&t, call, stamped, period, phase, &vlo, &vhi);
    if (last != -2 && u != last) {
      lo[n] = (uint64_t)prev_lo;
      hi[n] = (uint64_t)vhi;
      n++;
      if (n >= 6 && nemb__edges_measure(lo, hi, n, rel) > 0 && *rel <= 0.01) {
        break;
      }
    }
    last = u;
    prev_lo = vlo;
    t += 1 * MS;
    if (uniform() < 0.05) {
      t += worst_delay * uniform(); /* the thread was not scheduled */
    }
  }
  return nemb__edges_measure(lo, hi, n, rel);
}

/* Counters of 10-100 ms at random phases, reads of 0.05-2 ms, one in twenty delayed by up to
 * 40 ms (so some changes of the faster counters hold two or three updates): the period measured
 * is within its own stated uncertainty, never off by the missed updates (the mean of the gaps
 * was: 17-21 % in such runs, test_nvml); nearly always that is 2.5 % or better (the update-edge
 * model starts within 3 % of it, edges.c WIDE), and where the reads cannot tell, it says so
 * (an infinite uncertainty). */
static void test_measure_at_random_phases(void **state) {
  (void)state;
  int sure = 0, unknown = 0;
  for (int trial = 0; trial < 4000; trial++) {
    double period = (10 + 90 * uniform()) * MS, phase = period * uniform();
    double call = (0.05 + 1.95 * uniform()) * MS;
    bool stamped = trial % 2 == 0;
    double rel, p = measure(period, phase, call, stamped, 40 * MS, &rel);
    double err = fabs(p - period) / period;
    /* rel is of p, not of the truth; an infinite one says the reads could not tell */
    bool within = isinf(rel) || fabs(p - period) <= rel * p * (1 + 1e-6);
    if (!within) {
      print_error("trial %d: period %.3f ms, call %.3f ms%s: measured %.3f ms (%.2f %%), "
                  "uncertainty %.2f %%\n",
                  trial, period / MS, call / MS, stamped ? ", stamped" : "", p / MS, err * 100,
                  rel * 100);
    }
    assert_true(within);
    sure += rel <= 0.025;
    unknown += rel > 0.03;
  }
  print_message("  measured to 2.5 %% or better in %d of 4000 trials, not to 3 %% in %d\n", sure,
                unknown);
  assert_true(sure > 3800);
  assert_true(unknown < 100);
}

/* Two updates merged into one change by a delayed read count as two periods. */
static void test_measure_counts_a_missed_update(void **state) {
  (void)state;
  /* A 20 ms counter updating at 5, 25, 45, ... ms; reads see 5, 25, 45, then a read delayed
   * from 45.5 to 85.5 ms sees 65 and 85 at once, then 105: the gap 45 -> 105 holds three
   * periods. */
  uint64_t lo[] = {4500000, 24500000, 44500000, 45500000, 104500000};
  uint64_t hi[] = {5500000, 25500000, 45500000, 85500000, 105500000};
  double rel, p = nemb__edges_measure(lo, hi, 5, &rel);
  assert_true(fabs(p - 20 * MS) < 0.01 * MS);
  assert_true(rel < 0.02);
  assert_true(nemb__edges_measure(lo, hi, 1, &rel) == 0);
  assert_true(isinf(rel));
}

/* One learning after an open (as below): the model started from @p nominal known to @p rel
 * (nemb__edges_init_within; 0: nemb__edges_init's 3 %), fed for 6 s by a poller reading every
 * 10 ms at jittered phases, every period / 8 while not locked (poller.c), one read in twenty
 * delayed by up to 40 ms. */
static nemb__edges learn(double period, double phase, double call, double nominal, double rel) {
  nemb__edges e;
  nemb__edges_init_within(&e, (uint64_t)llround(nominal), rel);
  double t = 2e9, end = t + 6000 * MS, seen = 0;
  long long last = -2;
  while (t < end) {
    double vlo, vhi;
    long long u = read_at(&t, call, true, period, phase, &vlo, &vhi);
    if (last != -2 && u != last) {
      nemb__edges_observe(&e, (uint64_t)seen, (uint64_t)vhi);
    }
    last = u;
    seen = vlo;
    double per = nemb__edges_period(&e);
    t += e.locked || per / 8 < 1 * MS ? 10 * MS * (0.5 + uniform()) : per / 8;
    if (uniform() < 0.05) {
      t += 40 * MS * uniform();
    }
  }
  return e;
}

/* The whole learning: the period measured at open (as above) starts the update-edge model with
 * the measure's own uncertainty, which a poller then feeds for 6 s (60 updates of the slowest).
 * Stamped values (the field NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION) must keep the true period within
 * the model's bounds at every phase, and nearly always end locked (the period known to 1 %, the
 * phase to a tenth of a period ten periods ahead). */
static void test_learning_at_random_phases(void **state) {
  (void)state;
  int locked = 0, started = 0;
  for (int trial = 0; trial < 1000; trial++) {
    double period = (10 + 90 * uniform()) * MS, phase = period * uniform();
    double call = (0.05 + 1.95 * uniform()) * MS, rel;
    double nominal = measure(period, phase, call, true, 40 * MS, &rel);
    if (!(nominal > 0)) {
      continue; /* no period measured: the provider's default (not this test's) */
    }
    nemb__edges e = learn(period, phase, call, nominal, rel);
    double learned = nemb__edges_period(&e);
    bool within = e.p_lo <= period && period <= e.p_hi;
    if (!within) {
      print_error("trial %d: period %.4f ms, phase %.3f ms, call %.3f ms: measured at open "
                  "%.4f ms (%.2f %%), learned %.4f ms [%.4f, %.4f], %slocked, narrow %llu "
                  "relocks %llu ref width %.3f ms\n",
                  trial, period / MS, phase / MS, call / MS, nominal / MS, rel * 100, learned / MS,
                  e.p_lo / MS, e.p_hi / MS, e.locked ? "" : "not ", (unsigned long long)e.narrow,
                  (unsigned long long)e.relocks, (e.ref_hi - e.ref_lo) / MS);
    }
    assert_true(within);
    assert_true(!e.locked || fabs(learned - period) <= period * 0.01);
    locked += e.locked;
    started++;
  }
  /* Not locked: a 10 ms counter behind 1.7 ms calls sees few brackets narrower than a quarter
   * period; its period is still within the bounds. */
  print_message("  %d of %d started models locked\n", locked, started);
  assert_true(locked >= started - started / 100);
  assert_true(started > 990);
}

/* The opens whose period could not be pinned to 3 % within 1 s (about one in two hundred of
 * these harsh ones): started from the measured figure taken to 3 % (nemb__edges_init), the model
 * can settle on a wrong period; told the measure's uncertainty, it keeps the truth within its
 * bounds and locks on it. The same trials, paired. */
static void test_learning_after_an_uncertain_measure(void **state) {
  (void)state;
  int uncertain = 0, wrong_before = 0, locked = 0;
  for (int trial = 0; trial < 20000 && uncertain < 40; trial++) {
    double period = (10 + 90 * uniform()) * MS, phase = period * uniform();
    double call = (0.05 + 1.95 * uniform()) * MS, rel;
    /* Harsher than above (delays up to 80 ms, unstamped reads half the time), so that such
     * opens are found in a few thousand trials. */
    double nominal = measure(period, phase, call, trial % 2 == 0, 80 * MS, &rel);
    if (!(nominal > 0) || rel <= 0.03) {
      continue;
    }
    uncertain++;
    uint64_t saved = rng; /* the same reads for both */
    nemb__edges before = learn(period, phase, call, nominal, 0);
    rng = saved;
    nemb__edges after = learn(period, phase, call, nominal, rel);
    bool before_ok = before.p_lo <= period && period <= before.p_hi;
    wrong_before +=
        !before_ok || (before.locked && fabs(nemb__edges_period(&before) - period) > period * 0.01);
    bool within = after.p_lo <= period && period <= after.p_hi;
    if (!within) {
      print_error("trial %d: period %.4f ms measured %.4f ms (%.2f %%): learned [%.4f, %.4f]\n",
                  trial, period / MS, nominal / MS, rel * 100, after.p_lo / MS, after.p_hi / MS);
    }
    assert_true(within);
    assert_true(!after.locked || fabs(nemb__edges_period(&after) - period) <= period * 0.01);
    locked += after.locked;
  }
  print_message("  %d opens not pinned to 3 %%: from a 3 %% window %d ended on a wrong period; "
                "from the measure's own uncertainty none, %d locked\n",
                uncertain, wrong_before, locked);
  assert_true(uncertain >= 10);
  assert_true(locked >= uncertain * 3 / 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_measure_at_random_phases),
      cmocka_unit_test(test_measure_counts_a_missed_update),
      cmocka_unit_test(test_learning_at_random_phases),
      cmocka_unit_test(test_learning_after_an_uncertain_measure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
