/* test_sampler_rows.c - where the stored rows go while the reference counter's update phase is
 * still being learned (issue 10). Drives nemb__meter_read / nemb__meter_store by hand at chosen
 * times on the simulated device (which computes its counter at the time it is given), so every
 * run is the same: a constant 20 W RAPL-like counter adds exactly 320 units (19.53125 mJ) every
 * 976.5625 us, and every stored interval's power must then be 20 W, within what placing its two
 * rows an eighth of a period off (the model's usable uncertainty) can make of it. Rows placed at
 * the middle of a wide bracket made intervals of 0.6 ms hold one update and 1.4 ms two. */
#include <math.h>
#include <stdlib.h>

#include "meter.h"
#include "nemb_test.h"
#include "sim.h"

#define PERIOD_NS 976562.5
#define UPDATE_UJ 19531.25

static nemb_meter *constant_sim(void) {
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG",
         "{\"update_phase_us\":300,\"domains\":[{\"name\":\"package-0\",\"waveform\":"
         "\"constant\",\"power_w\":20}]}",
         1);
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string("{}", "test", &cfg));
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(cfg, &m));
  nemb_config_destroy(cfg);
  assert_true(m->simulated);
  assert_int_equal(m->n_domains, 1);
  /* What nemb__sampler_start sets up, without its thread or its learning reads. */
  m->rows = calloc(NEMB__PENDING * (2 + m->n_domains), sizeof *m->rows);
  assert_non_null(m->rows);
  m->ref_dom = 0;
  m->slow_dom = SIZE_MAX;
  return m;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static double uniform(void) { /* [0, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

/* Every stored interval after the first (the first row is the zero of the totals, at its read)
 * against the truth: |energy - 20 W x length| at most two eighths of a period's energy. Returns
 * the number of intervals that are not, and the worst ratio of power to 20 W in *worst. */
static size_t misplaced(const nemb_meter *m, double *worst) {
  size_t n = nemb_meter_sample_count(m), bad = 0;
  assert_true(n > 50);
  uint64_t t, pt, e[1], pe[1];
  nemb_meter_sample(m, 1, &pt, pe, 1);
  *worst = 1;
  for (size_t i = 2; i < n; i++) {
    nemb_meter_sample(m, i, &t, e, 1);
    double got = (double)(e[0] - pe[0]), want = 20.0 * (double)(t - pt) / 1e3; /* uJ */
    bad += fabs(got - want) > 2 * UPDATE_UJ / 8 + 1;
    if (want > 0) {
      *worst = fmax(*worst, got > 0 ? fmax(got / want, want / got) : INFINITY);
    }
    pt = t;
    pe[0] = e[0];
  }
  return bad;
}

/* Reads 0.5 to 1.5 ms apart, each stored, as a busy machine's 1 ms sampler makes them, with now
 * and then a learning read just before one (a narrow bracket): the model learns slowly, and
 * until it does most changes are known only to within half a millisecond. */
static void test_rows_while_learning_hold_whole_updates(void **state) {
  (void)state;
  nemb_meter *m = constant_sim();
  uint64_t t = nemb__sim_epoch_ns(m->providers[0].state) + 1000000;
  nemb__meter_read(m, t);
  nemb__meter_store(m, t);
  for (int i = 0; i < 400; i++) {
    uint64_t gap = (uint64_t)(500000 + uniform() * 1000000);
    if (i % 7 == 3) {
      nemb__meter_read(m, t + gap - 60000); /* a learning read, not stored */
    }
    t += gap;
    nemb__meter_read(m, t);
    nemb__meter_store(m, t);
  }
  nemb__meter_flush(m, t);
  double worst;
  size_t bad = misplaced(m, &worst);
  print_message("  stored intervals off by more than a quarter period's energy: %zu, worst "
                "power ratio %.3f\n",
                bad, worst);
  assert_int_equal(bad, 0);
  /* Energy stays exact: the last row holds the counter's value at its instant. */
  size_t n = nemb_meter_sample_count(m);
  uint64_t t0, tl, e0[1], el[1];
  nemb_meter_sample(m, 0, &t0, e0, 1);
  nemb_meter_sample(m, n - 2, &tl, el, 1);
  double span_uj = 20.0 * (double)(tl - t0) / 1e3;
  assert_true(fabs((double)(el[0] - e0[0]) - span_uj) <= 2 * UPDATE_UJ);
  nemb_meter_destroy(m);
}

/* Reads every 1 ms, no learning reads: no bracket is ever narrow, so the model never starts.
 * The rows must still hold whole updates for their lengths (they wait for the curve's next
 * point), and the curve still gets points (after STALE_PERIODS at the latest), so nothing
 * waits forever. */
static void test_no_narrow_bracket_still_stores(void **state) {
  (void)state;
  nemb_meter *m = constant_sim();
  uint64_t t = nemb__sim_epoch_ns(m->providers[0].state) + 1000000;
  nemb__meter_read(m, t);
  nemb__meter_store(m, t);
  for (int i = 0; i < 300; i++) {
    t += (uint64_t)(700000 + uniform() * 600000);
    nemb__meter_read(m, t);
    nemb__meter_store(m, t);
  }
  assert_false(m->edges[0].have_ref);
  /* Published as they resolve: most rows are out before the flush. */
  assert_true(nemb_meter_sample_count(m) > 200);
  nemb__meter_flush(m, t);
  double worst;
  size_t bad = misplaced(m, &worst);
  print_message("  without a narrow bracket: %zu misplaced, worst power ratio %.3f\n", bad, worst);
  assert_true(worst < 1.25);
  nemb_meter_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows_while_learning_hold_whole_updates),
      cmocka_unit_test(test_no_narrow_bracket_still_stores),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
