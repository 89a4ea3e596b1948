/* test_stats.c - statistics over runs, on values whose answers are worked out by hand. */
#include <math.h>

#include "nemb_test.h"

static void test_known_values_without_outliers(void **state) {
  (void)state;
  const double v[] = {10, 12, 11, 13, 9};
  nemb_stats s;
  unsigned char out[5];
  NEMB_ASSERT_OK(nemb_stats_compute(v, 5, 1, &s, out));
  assert_int_equal(s.n, 5);
  assert_int_equal(s.n_used, 5);
  assert_int_equal(s.n_outliers, 0);
  assert_float_equal(s.mean, 11, 1e-12);
  assert_float_equal(s.median, 11, 1e-12);
  /* squares of deviations: 1 + 1 + 0 + 4 + 4 = 10, over n - 1 = 4: variance 2.5 */
  assert_float_equal(s.std, sqrt(2.5), 1e-12);
  assert_float_equal(s.cv_percent, 100 * sqrt(2.5) / 11, 1e-9);
  assert_float_equal(s.min, 9, 0);
  assert_float_equal(s.max, 13, 0);
  /* t(0.975, 4) = 2.776 */
  assert_float_equal(s.ci95_low, 11 - 2.776 * sqrt(2.5) / sqrt(5), 1e-9);
  assert_float_equal(s.ci95_high, 11 + 2.776 * sqrt(2.5) / sqrt(5), 1e-9);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(out[i], 0);
  }
}

static void test_an_outlier_is_set_aside_and_reported(void **state) {
  (void)state;
  /* Sorted: 10 10 11 11 12 12 40. Q1 at position 1.5 = 10.5, Q3 at 4.5 = 12, IQR 1.5:
   * fences 8.25 and 14.25, so 40 is out. */
  const double v[] = {10, 11, 40, 12, 10, 12, 11};
  nemb_stats s;
  unsigned char out[7];
  NEMB_ASSERT_OK(nemb_stats_compute(v, 7, 1, &s, out));
  assert_int_equal(s.n_used, 6);
  assert_int_equal(s.n_outliers, 1);
  assert_int_equal(out[2], 1);
  assert_int_equal(out[0] + out[1] + out[3] + out[4] + out[5] + out[6], 0);
  assert_float_equal(s.mean, 11, 1e-12);
  assert_float_equal(s.max, 12, 0);
  assert_float_equal(s.median, 11, 1e-12);
  /* Without the filter the outlier stays. */
  NEMB_ASSERT_OK(nemb_stats_compute(v, 7, 0, &s, out));
  assert_int_equal(s.n_used, 7);
  assert_float_equal(s.mean, 106.0 / 7, 1e-12); /* (10+11+40+12+10+12+11) / 7 */
  assert_float_equal(s.max, 40, 0);
}

static void test_small_and_bad_inputs(void **state) {
  (void)state;
  nemb_stats s;
  const double one[] = {5};
  NEMB_ASSERT_OK(nemb_stats_compute(one, 1, 1, &s, NULL));
  assert_float_equal(s.mean, 5, 0);
  assert_float_equal(s.std, 0, 0);
  assert_float_equal(s.ci95_low, 5, 0);
  assert_int_equal(nemb_stats_compute(one, 0, 1, &s, NULL), NEMB_EINVAL);
  const double bad[] = {1, NAN};
  assert_int_equal(nemb_stats_compute(bad, 2, 1, &s, NULL), NEMB_EINVAL);
  assert_non_null(strstr(nemb_last_error(), "value 1 is not a finite number"));
  /* 40 values: t for 39 degrees of freedom is 2.0227 */
  double many[40];
  for (int i = 0; i < 40; i++) {
    many[i] = i % 2 ? 1 : -1;
  }
  NEMB_ASSERT_OK(nemb_stats_compute(many, 40, 0, &s, NULL));
  double half = (s.ci95_high - s.ci95_low) / 2;
  assert_float_equal(half / (s.std / sqrt(40)), 2.0227, 0.001);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_values_without_outliers),
      cmocka_unit_test(test_an_outlier_is_set_aside_and_reported),
      cmocka_unit_test(test_small_and_bad_inputs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
