/* test_unwrap.c - counters judged by what is physically possible: wraps add exactly what passed,
 * resets and misreads add nothing invented, and a long gap counts the wraps it must have hidden. */
#include "nemb_test.h"
#include <math.h>

#include "unwrap.h"

#define MS 1000000ull

static void test_first_reading_adds_nothing(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 1000, 0);
  assert_int_equal(nemb__unwrap_feed(&u, 700, 0), 0);
  assert_int_equal(u.total, 0);
  assert_int_equal(nemb__unwrap_feed(&u, 750, MS), 50);
  assert_int_equal(u.total, 50);
}

static void test_wrap_adds_the_distance_through_the_maximum(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 1000, 100000000); /* 100 W: 100 uJ per us */
  nemb__unwrap_feed(&u, 950, 0);
  /* 950 -> 1000 is 50, then 0 -> 30 is 30. */
  assert_int_equal(nemb__unwrap_feed(&u, 30, 1000), 80);
  assert_int_equal(u.wraps, 1);
  assert_int_equal(u.total, 80);
}

static void test_many_wraps_sum_exactly(void **state) {
  (void)state;
  /* A counter of range 1000 uJ advanced by 170 uJ per 1 us reading (170 W; ceiling 200 W). */
  nemb__unwrap u;
  nemb__unwrap_init(&u, 1000, 200000000);
  uint64_t truth = 123;
  nemb__unwrap_feed(&u, truth % 1000, 0);
  for (uint64_t i = 1; i <= 100; i++) {
    truth += 170;
    uint64_t d = nemb__unwrap_feed(&u, truth % 1000, i * 1000);
    assert_int_equal(d, 170);
  }
  assert_int_equal(u.total, 17000);
  assert_int_equal(u.wraps, 17);
  assert_int_equal(u.resets, 0);
  assert_int_equal(u.rejected, 0);
}

static void test_without_ceiling_large_backward_jump_is_a_reset(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 1000, 0);
  nemb__unwrap_feed(&u, 900, 0);
  assert_int_equal(nemb__unwrap_feed(&u, 800, MS), 0);
  assert_int_equal(u.resets, 1);
  assert_int_equal(u.wraps, 0);
  assert_int_equal(nemb__unwrap_feed(&u, 810, 2 * MS), 10);
  assert_int_equal(u.total, 10);
}

/* Issue 10, 4b: a package at 15 W (max power 65 W) whose energy_uj drops from 200 000 000 000 to
 * 100 000 000 and continues, read every 1 ms for 1 s: a wrap would invent 62 258 J; it is a
 * reset, and the second is measured: about 15 J. */
static void test_reset_from_the_upper_half_is_not_a_wrap(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 262143328850ull, 65000000);
  uint64_t raw = 200000000000ull - 7500000; /* 15 W for 0.5 s before the reset */
  uint64_t t = 0;
  nemb__unwrap_feed(&u, raw, t);
  for (int i = 0; i < 500; i++) {
    t += MS;
    raw += 15000;
    nemb__unwrap_feed(&u, raw, t);
  }
  raw = 100000000;
  for (int i = 0; i < 500; i++) {
    t += MS;
    nemb__unwrap_feed(&u, raw, t);
    raw += 15000;
  }
  double joules = (double)u.total / 1e6;
  assert_true(fabs(joules - 15.0) < 0.05);
  assert_int_equal(u.resets, 1);
  assert_int_equal(u.wraps, 0);
  assert_int_equal(u.rejected, 0); /* the readings after the reset were energy, not misreads */
}

/* Issue 10, 4: package-0 at 6 W whose energy_uj reads 700 000 000 uJ lower for 5 ms in the
 * middle of 1.2 s: about 7.2 J, not 707 J; every rejected reading counted. */
static void test_dip_that_returns_is_a_glitch(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 262143328850ull, 65000000);
  uint64_t raw = 5000000000ull, t = 0;
  nemb__unwrap_feed(&u, raw, t);
  for (int i = 1; i <= 1200; i++) {
    t += MS;
    raw += 6000;
    bool dip = i >= 600 && i < 605;
    nemb__unwrap_feed(&u, dip ? raw - 700000000ull : raw, t);
  }
  assert_true(fabs((double)u.total / 1e6 - 7.2) < 0.001);
  assert_int_equal(u.rejected, 5);
  assert_int_equal(u.resets, 0);
  assert_int_equal(u.wraps, 0);
}

/* A single reading far too high (a forward spike) is rejected the same way. */
static void test_forward_spike_is_rejected(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 0, 65000000);
  nemb__unwrap_feed(&u, 1000000, 0);
  assert_int_equal(nemb__unwrap_feed(&u, 900000000000ull, MS), 0);
  assert_int_equal(u.rejected, 1);
  assert_int_equal(nemb__unwrap_feed(&u, 1000000 + 2 * 6000, 2 * MS), 12000);
  assert_int_equal(u.total, 12000);
}

/* Issue 10, 4b: range 5 J at 10 W, the process (and the sampler with it) stopped for 0.7 s: the
 * counter advanced 7 J, which is one wrap plus 2 J. The gap may hide 0, 1 or 2 wraps within the
 * ceiling: the recent power picks 1, and the gap is counted as ambiguous with its uncertainty. */
static void test_long_gap_counts_hidden_wraps(void **state) {
  (void)state;
  nemb__unwrap u;
  uint64_t range = 5000000;
  nemb__unwrap_init(&u, range, 10000001);
  uint64_t truth = 0, t = 0;
  nemb__unwrap_feed(&u, 0, 0);
  for (int i = 0; i < 200; i++) { /* 0.2 s at 10 W, read every 1 ms */
    t += MS;
    truth += 10000;
    nemb__unwrap_feed(&u, truth % range, t);
  }
  t += 700 * MS;
  truth += 7000000;
  nemb__unwrap_feed(&u, truth % range, t);
  for (int i = 0; i < 150; i++) {
    t += MS;
    truth += 10000;
    nemb__unwrap_feed(&u, truth % range, t);
  }
  assert_int_equal(u.total, truth); /* 9.05 J in all, exactly */
  assert_int_equal(u.ambiguous_gaps, 1);
  assert_true(u.uncertain_uj >= (double)range); /* one range either way */
}

/* A counter that updates every second, read every 1 ms (the sim at update_interval_us 1000000,
 * a slow hwmon or NVML-like counter): each step holds a second of energy, 10 J at 10 W, where the
 * previous reading was 1 ms ago. The step is judged over the time since the reading before the
 * last change, so it is plausible; judged over 1 ms it was rejected, then taken for a reset, and
 * `codegreen run -- sleep 2` read 0 J with two counter resets. */
static void test_slow_counter_steps_are_plausible(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 262143328850ull, 20000000); /* a 20 W ceiling */
  uint64_t counter = 1000000, t = 0;
  nemb__unwrap_feed(&u, counter, 0);
  for (int ms = 1; ms <= 3500; ms++) {
    t += MS;
    if (ms % 1000 == 0) {
      counter += 10000000; /* 10 J: one update a second at 10 W */
    }
    nemb__unwrap_feed(&u, counter, t);
  }
  assert_int_equal(u.total, 30000000);
  assert_int_equal(u.rejected, 0);
  assert_int_equal(u.resets, 0);
  assert_int_equal(u.ambiguous_gaps, 0);
  /* A glitch is still one: 30 J more, half a second after the last change, is beyond 2 x 20 W. */
  t += MS;
  assert_int_equal(nemb__unwrap_feed(&u, counter + 30000000, t), 0);
  assert_int_equal(u.rejected, 1);
}

static void test_counter_without_range_never_wraps(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 0, 0);
  nemb__unwrap_feed(&u, UINT64_MAX - 5, 0);
  assert_int_equal(nemb__unwrap_feed(&u, 3, MS), 0);
  assert_int_equal(u.resets, 1);
  assert_int_equal(nemb__unwrap_feed(&u, 13, 2 * MS), 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_first_reading_adds_nothing),
      cmocka_unit_test(test_wrap_adds_the_distance_through_the_maximum),
      cmocka_unit_test(test_many_wraps_sum_exactly),
      cmocka_unit_test(test_without_ceiling_large_backward_jump_is_a_reset),
      cmocka_unit_test(test_reset_from_the_upper_half_is_not_a_wrap),
      cmocka_unit_test(test_dip_that_returns_is_a_glitch),
      cmocka_unit_test(test_forward_spike_is_rejected),
      cmocka_unit_test(test_long_gap_counts_hidden_wraps),
      cmocka_unit_test(test_slow_counter_steps_are_plausible),
      cmocka_unit_test(test_counter_without_range_never_wraps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
