/* test_energy.c - a span's energy and what the counters allow either side of it, on stored
 * curves laid out by hand (no sampler thread, no clock): a span the counter fixes has no
 * uncertainty; a short one has the bound of a period at each end; an end where the sampler
 * missed updates (a starved thread on a busy machine, a long sampling interval, a coarsened
 * store) has the bound of the samples around it, which covers whatever the power did there. */
#include "nemb_test.h"
#include <math.h>

#include "session.h"

#define MS 1000000ull

/* A one-domain meter with no thread: a RAPL-like counter updating every 1 ms, read every 1 ms. */
static nemb_meter *curve(void) {
  nemb_meter *m = calloc(1, sizeof *m);
  assert_non_null(m);
  m->n_domains = 1;
  snprintf(m->domains[0].name, sizeof m->domains[0].name, "package-0");
  m->domains[0].in_total = true;
  NEMB_ASSERT_OK(nemb__store_init(&m->store, 1, 1 << 16));
  atomic_init(&m->interval_ns, 1 * MS);
  nemb__edges_init(&m->edges[0], 1 * MS);
  nemb__meter_period_set(m, 0);
  return m;
}

static void drop(nemb_meter *m) {
  nemb__store_release(&m->store);
  free(m);
}

/* Appends samples every 1 ms from @p *t (ms) to @p until_ms at @p watts, and returns the energy
 * so far (uJ). */
static uint64_t run_at(nemb_meter *m, uint64_t *t_ms, uint64_t until_ms, uint64_t *e_uj,
                       double watts) {
  for (; *t_ms <= until_ms; (*t_ms)++) {
    NEMB_ASSERT_OK(nemb__store_append(&m->store, *t_ms * MS, e_uj));
    *e_uj += (uint64_t)(watts * 1000); /* W x 1 ms in uJ */
  }
  return *e_uj;
}

static void test_fixed_span_has_no_uncertainty(void **unused) {
  (void)unused;
  nemb_meter *m = curve();
  uint64_t t = 0, e = 1000000;
  run_at(m, &t, 200, &e, 10);
  size_t count = nemb__store_count(&m->store);
  nemb__uncertainty u;
  double got = nemb__energy_span(m, count, 50 * MS + 300000, 150 * MS + 300000, NULL, &u, NULL);
  assert_float_equal(got, 10 * 100 * 1000, 1e-6); /* 10 W x 100 ms */
  assert_true(u.uj == 0 && u.why == 0);
  drop(m);
}

static void test_short_span_has_a_period_each_side(void **unused) {
  (void)unused;
  nemb_meter *m = curve();
  uint64_t t = 0, e = 0;
  run_at(m, &t, 200, &e, 10);
  size_t count = nemb__store_count(&m->store);
  nemb__uncertainty u;
  /* 2 ms, under 4 updates: E(a) in [E(a - 1 ms), E(a + 1 ms)], E(b) likewise: 20 mJ + 20 mJ
   * of widening at most, 20 mJ the figure. */
  double got = nemb__energy_span(m, count, 100 * MS, 102 * MS, NULL, &u, NULL);
  assert_float_equal(got, 20000, 1e-6);
  assert_float_equal(u.uj, 20000, 1e-6);
  assert_int_equal(u.why, NEMB__UNC_SHORT);
  drop(m);
}

/* The checkpoints' per-call form of the rule (nemb__short_rule_uj, from the in-total power at
 * the call) gives what nemb__energy_span gives a span at constant power, for every length, with
 * two domains whose periods differ (a RAPL-like 1 ms one at 30 W, an NVML-like 20 ms one at
 * 90 W): a span under 4 ms is short for both, one under 80 ms for the slow one only. */
static void test_per_call_rule_is_the_span_rule(void **unused) {
  (void)unused;
  nemb_meter *m = calloc(1, sizeof *m);
  assert_non_null(m);
  m->n_domains = 2;
  snprintf(m->domains[0].name, sizeof m->domains[0].name, "package-0");
  snprintf(m->domains[1].name, sizeof m->domains[1].name, "gpu0");
  m->domains[0].in_total = m->domains[1].in_total = true;
  NEMB_ASSERT_OK(nemb__store_init(&m->store, 2, 1 << 16));
  atomic_init(&m->interval_ns, 1 * MS);
  nemb__edges_init(&m->edges[0], 1 * MS);
  nemb__edges_init(&m->edges[1], 20 * MS);
  nemb__meter_period_set(m, 0);
  nemb__meter_period_set(m, 1);
  uint64_t e[2] = {0, 0};
  for (uint64_t t = 0; t <= 1000; t++) {
    NEMB_ASSERT_OK(nemb__store_append(&m->store, t * MS, e));
    e[0] += 30 * 1000; /* 30 W x 1 ms in uJ */
    e[1] += 90 * 1000;
  }
  size_t count = nemb__store_count(&m->store);
  nemb__short_rule r;
  nemb__energy_short_rule(m, count, &r);
  assert_int_equal(r.n, 2);
  assert_float_equal(r.limit_ns[0], 80.0 * MS, 1e-6); /* the slow domain first */
  assert_float_equal(r.limit_ns[1], 4.0 * MS, 1e-6);
  static const double lengths_ms[] = {0.001, 0.5, 2, 3.999, 4, 10, 50, 79.9, 80, 300};
  for (size_t i = 0; i < sizeof lengths_ms / sizeof *lengths_ms; i++) {
    uint64_t a = 400 * MS + 123457, b = a + (uint64_t)(lengths_ms[i] * MS);
    nemb__uncertainty u;
    nemb__energy_span(m, count, a, b, NULL, &u, NULL);
    double per_call = nemb__short_rule_uj(&r, b - a, 120.0 / 1e3 /* 120 W in uJ per ns */);
    print_message("  %g ms: span rule %.1f uJ, per call %.1f uJ\n", lengths_ms[i], u.uj, per_call);
    assert_float_equal(per_call, u.uj, 1e-6 * (1 + u.uj));
  }
  nemb__store_release(&m->store);
  free(m);
}

/* The sampler ran at 1 ms, starved for 60 ms (no samples from 100 to 160 ms) while the power
 * went from 10 W to 100 W somewhere inside, then ran again. A 1 s span ending inside the gap
 * looks fixed by its length, but its end lies between two samples 60 ms apart: the counter only
 * says E(b) is between them. Whatever the power did in the gap, the truth is in the bound. */
static void test_end_in_a_sampler_gap(void **unused) {
  (void)unused;
  nemb_meter *m = curve();
  uint64_t t = 0, e = 0;
  run_at(m, &t, 100, &e, 10);
  uint64_t e100 = e - 10000; /* the value stored at 100 ms */
  /* In the gap: 10 W until 150 ms, then 100 W (not known to the store). */
  uint64_t e160 = e100 + 50 * 10000 + 10 * 100000;
  t = 160;
  e = e160;
  run_at(m, &t, 1500, &e, 100);
  size_t count = nemb__store_count(&m->store);
  uint64_t a = 20 * MS, b = 155 * MS; /* 135 ms: long enough to be fixed but for the gap */
  double truth = (double)(e100 + 50 * 10000 + 5 * 100000) - 20 * 10000.0;
  nemb__uncertainty u;
  double got = nemb__energy_span(m, count, a, b, NULL, &u, NULL);
  print_message("  got %.0f uJ, truth %.0f uJ, +/- %.0f uJ\n", got, truth, u.uj);
  assert_true(fabs(got - truth) > 100000); /* the straight line across the gap is a guess */
  assert_int_equal(u.why, NEMB__UNC_GAP);
  assert_true(fabs(got - truth) <= u.uj);
  /* The bound is the samples around the end: E(b) in [E(100 ms), E(160 ms)]. */
  double e_b = got + 20 * 10000.0; /* E(b) on the curve (E(a) = 200 mJ above the start) */
  assert_float_equal(u.uj, fmax((double)e160 - e_b, e_b - (double)e100), 1e-6);
  /* A span entirely after the gap is fixed again; one starting inside it is not. */
  nemb__energy_span(m, count, 300 * MS, 1400 * MS, NULL, &u, NULL);
  assert_true(u.uj == 0 && u.why == 0);
  nemb__energy_span(m, count, 130 * MS, 1400 * MS, NULL, &u, NULL);
  assert_int_equal(u.why, NEMB__UNC_GAP);
  /* Short and in the gap: both causes. */
  nemb__energy_span(m, count, 130 * MS, 132 * MS, NULL, &u, NULL);
  assert_int_equal(u.why, NEMB__UNC_SHORT | NEMB__UNC_GAP);
  drop(m);
}

/* A gap of under NEMB__GAP_UPDATES update periods (a sampler read a little late, two updates
 * in one read) is not one. */
static void test_small_gaps_are_not_gaps(void **unused) {
  (void)unused;
  nemb_meter *m = curve();
  uint64_t t = 0, e = 0;
  run_at(m, &t, 100, &e, 10);
  t = 103; /* 3 ms without a sample: not over 3 x 1 ms */
  e += 2 * 10000;
  run_at(m, &t, 300, &e, 10);
  size_t count = nemb__store_count(&m->store);
  nemb__uncertainty u;
  nemb__energy_span(m, count, 20 * MS, 101 * MS + 500000, NULL, &u, NULL);
  assert_true(u.uj == 0);
  drop(m);
}

/* A store that coarsened at its cap (every other sample dropped, over and over) holds none of
 * the counter's updates between its samples, as a late sampler would: an end midway between two
 * samples S ms apart gets their bound, S/2 ms of 10 W either way; one 0.3 ms from a sample does
 * not. */
static void test_coarsened_store_is_a_gap(void **unused) {
  (void)unused;
  nemb_meter *m = curve();
  nemb__store_release(&m->store);
  NEMB_ASSERT_OK(nemb__store_init(&m->store, 1, 64)); /* compacts every ~32 samples */
  uint64_t t = 0, e = 0;
  run_at(m, &t, 200, &e, 10);
  assert_true(nemb__store_coarsened(&m->store) >= 3);
  size_t count = nemb__store_count(&m->store), i = 0;
  while (nemb__store_at(&m->store, i + 1)[0] - nemb__store_at(&m->store, i)[0] < 8 * MS) {
    i++;
    assert_true(i + 1 < count);
  }
  uint64_t t0 = nemb__store_at(&m->store, i)[0], t1 = nemb__store_at(&m->store, i + 1)[0];
  uint64_t end = nemb__store_at(&m->store, count - 1)[0]; /* a stored sample: fixed */
  nemb__uncertainty u;
  double got = nemb__energy_span(m, count, (t0 + t1) / 2, end, NULL, &u, NULL);
  assert_float_equal(got, 10.0 * (double)(end - (t0 + t1) / 2) / 1e3, 1e-6); /* uJ */
  assert_float_equal(u.uj, 10.0 * (double)(t1 - t0) / 2 / 1e3, 1e-6);
  assert_int_equal(u.why, NEMB__UNC_GAP);
  nemb__energy_span(m, count, t0 + 300000, end, NULL, &u, NULL);
  assert_true(u.uj == 0);
  drop(m);
}

/* Issue F13b: a Session sampling every 1000 ms on purpose, a 20 ms task between two samples.
 * The counter (1 ms updates) is read once a second, so the line across that second is a guess
 * about the 20 ms inside it: the task gets the monotonic counter's bound, E at each end between
 * the samples at 1 s and 2 s, at constant power as at a 10/30 W square wave (100 ms period, the
 * sim's default shape), and the truth lies inside it. The checkpoints' per-call form uses the
 * same threshold: 3 update periods, not 3 sampling intervals. */
static nemb_meter *every_second(const double *watts_per_ms, size_t n_ms) {
  nemb_meter *m = curve();
  atomic_store(&m->interval_ns, 1000 * MS);
  uint64_t e = 0;
  for (size_t ms = 0; ms <= n_ms; ms++) {
    if (ms % 1000 == 0) {
      NEMB_ASSERT_OK(nemb__store_append(&m->store, ms * MS, &e));
    }
    e += ms < n_ms ? (uint64_t)(watts_per_ms[ms] * 1000) : 0; /* W x 1 ms in uJ */
  }
  return m;
}

static void test_long_interval_short_task(void **unused) {
  (void)unused;
  enum { N = 3000 };
  static double flat[N], square[N];
  for (size_t ms = 0; ms < N; ms++) {
    flat[ms] = 10;
    square[ms] = ms % 100 < 50 ? 10 : 30;
  }
  uint64_t a = 1300 * MS, b = 1320 * MS;
  nemb__uncertainty u;

  nemb_meter *m = every_second(flat, N);
  size_t count = nemb__store_count(&m->store);
  assert_int_equal(count, 4);
  double got = nemb__energy_span(m, count, a, b, NULL, &u, NULL);
  assert_float_equal(got, 200000, 1e-6); /* 10 W x 20 ms */
  /* [0, E(2 s) - E(1 s)] = [0, 10 J] around 0.2 J: 9.8 J either way. */
  assert_float_equal(u.uj, 9800000, 1e-6);
  assert_int_equal(u.why, NEMB__UNC_GAP);
  nemb__short_rule r;
  nemb__energy_short_rule(m, count, &r);
  assert_float_equal(r.gap_ns, 3.0 * MS, 1e-6);
  drop(m);

  m = every_second(square, N);
  count = nemb__store_count(&m->store);
  got = nemb__energy_span(m, count, a, b, NULL, &u, NULL);
  assert_float_equal(got, 400000, 1e-6); /* the second's mean, 20 W, x 20 ms */
  assert_float_equal(u.uj, 20000000 - 400000, 1e-6);
  assert_int_equal(u.why, NEMB__UNC_GAP);
  double truth = 10 * 20 * 1000; /* 1300-1320 ms is in a 10 W half */
  assert_true(fabs(got - truth) <= u.uj);
  /* The whole session, from sample to sample, is fixed. */
  nemb__energy_span(m, count, 0, 3000 * MS, NULL, &u, NULL);
  assert_true(u.uj == 0);
  drop(m);
}

/* The true energy in uJ at @p t_ms of a GPU drawing 100 W until 1030 ms, then 700 W. */
static double gpu_truth(double t_ms) {
  return t_ms < 1030 ? 100 * t_ms * 1000 : (100 * 1030 + 700 * (t_ms - 1030)) * 1000;
}

/* A slow counter (an NVML-like 100 ms update) whose power steps inside an update: the stored
 * curve is the straight line between updates, so an end at the step is split wrongly (the
 * H200's matrix-product task, README nvml); that end gets the step bound, which covers the
 * error, and a span whose ends lie in steady power gets none. A RAPL-like 1 ms counter with
 * the same step gets no step bound (NEMB__STEP_PERIOD_NS). */
static void test_step_at_a_slow_counter_end(void **unused) {
  (void)unused;
  nemb_meter *m = curve();
  nemb__edges_init(&m->edges[0], 100 * MS);
  nemb__meter_period_set(m, 0);
  for (uint64_t t = 0; t <= 2000; t++) {
    uint64_t k = t / 100;
    double e0 = gpu_truth((double)k * 100), e1 = gpu_truth((double)(k + 1) * 100);
    uint64_t e = (uint64_t)llround(e0 + (e1 - e0) * (double)(t - k * 100) / 100);
    NEMB_ASSERT_OK(nemb__store_append(&m->store, t * MS, &e));
  }
  size_t count = nemb__store_count(&m->store);
  nemb__uncertainty u;
  double got = nemb__energy_span(m, count, 500 * MS, 1030 * MS, NULL, &u, NULL);
  double truth = gpu_truth(1030) - gpu_truth(500);
  /* The line puts 30 % of the update's 52 J before the end: 15.6 J where 3 J were. */
  assert_float_equal(got - truth, 12.6e6, 1e3);
  assert_int_equal(u.why, NEMB__UNC_STEP);
  /* Windows before, around and after the end: 100 W, 100/700 W mixed, and 664 W (1080-1180 ms,
   * a fifth of it in the update holding the step): (664 - 100) W x 50 ms. */
  assert_float_equal(u.uj, (0.2 * 520 + 0.8 * 700 - 100) * 0.05 * 1e6, 1e3);
  assert_true(fabs(got - truth) <= u.uj);
  /* Steady power at both ends: nothing to add. */
  nemb__energy_span(m, count, 200 * MS, 800 * MS, NULL, &u, NULL);
  assert_true(u.uj == 0 && u.why == 0);
  drop(m);

  /* The same step on a 1 ms counter: split to within a millisecond, no step bound. */
  m = curve();
  for (uint64_t t = 0; t <= 2000; t++) {
    uint64_t e = (uint64_t)llround(gpu_truth((double)t));
    NEMB_ASSERT_OK(nemb__store_append(&m->store, t * MS, &e));
  }
  count = nemb__store_count(&m->store);
  nemb__energy_span(m, count, 500 * MS, 1030 * MS, NULL, &u, NULL);
  assert_true(u.uj == 0 && u.why == 0);
  drop(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixed_span_has_no_uncertainty),
      cmocka_unit_test(test_short_span_has_a_period_each_side),
      cmocka_unit_test(test_per_call_rule_is_the_span_rule),
      cmocka_unit_test(test_end_in_a_sampler_gap),
      cmocka_unit_test(test_small_gaps_are_not_gaps),
      cmocka_unit_test(test_coarsened_store_is_a_gap),
      cmocka_unit_test(test_long_interval_short_task),
      cmocka_unit_test(test_step_at_a_slow_counter_end),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
