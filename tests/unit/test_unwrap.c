/* test_unwrap.c - wraparound arithmetic: wraps add exactly what passed, resets add nothing. */
#include "nemb_test.h"
#include "unwrap.h"

static void test_first_reading_adds_nothing(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 1000);
  assert_int_equal(nemb__unwrap_feed(&u, 700), 0);
  assert_int_equal(u.total, 0);
  assert_int_equal(nemb__unwrap_feed(&u, 750), 50);
  assert_int_equal(u.total, 50);
}

static void test_wrap_adds_the_distance_through_the_maximum(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 1000);
  nemb__unwrap_feed(&u, 950);
  /* 950 -> 1000 is 50, then 0 -> 30 is 30. */
  assert_int_equal(nemb__unwrap_feed(&u, 30), 80);
  assert_int_equal(u.wraps, 1);
  assert_int_equal(u.total, 80);
}

static void test_many_wraps_sum_exactly(void **state) {
  (void)state;
  /* A counter of range 1000 advanced by 170 per reading, 100 readings: 17000 in all. */
  nemb__unwrap u;
  nemb__unwrap_init(&u, 1000);
  uint64_t truth = 123;
  nemb__unwrap_feed(&u, truth % 1000);
  for (int i = 0; i < 100; i++) {
    truth += 170;
    uint64_t d = nemb__unwrap_feed(&u, truth % 1000);
    assert_int_equal(d, 170);
  }
  assert_int_equal(u.total, 17000);
  assert_int_equal(u.wraps, 17);
  assert_int_equal(u.resets, 0);
}

static void test_large_backward_jump_is_a_reset_not_a_wrap(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 1000);
  nemb__unwrap_feed(&u, 900);
  /* A wrap to 800 would mean 900 units passed between two reads, impossible when reads come
   * four times per wrap period: it must be a reset, and adds 0 rather than 900. */
  assert_int_equal(nemb__unwrap_feed(&u, 800), 0);
  assert_int_equal(u.resets, 1);
  assert_int_equal(u.wraps, 0);
  assert_int_equal(nemb__unwrap_feed(&u, 810), 10);
  assert_int_equal(u.total, 10);
}

static void test_counter_without_range_never_wraps(void **state) {
  (void)state;
  nemb__unwrap u;
  nemb__unwrap_init(&u, 0);
  nemb__unwrap_feed(&u, UINT64_MAX - 5);
  assert_int_equal(nemb__unwrap_feed(&u, 3), 0);
  assert_int_equal(u.resets, 1);
  assert_int_equal(nemb__unwrap_feed(&u, 13), 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_first_reading_adds_nothing),
      cmocka_unit_test(test_wrap_adds_the_distance_through_the_maximum),
      cmocka_unit_test(test_many_wraps_sum_exactly),
      cmocka_unit_test(test_large_backward_jump_is_a_reset_not_a_wrap),
      cmocka_unit_test(test_counter_without_range_never_wraps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
