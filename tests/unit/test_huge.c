/* test_huge.c - huge.h's mappings: lengths rounded up to whole 2 MiB, the start aligned to 2 MiB
 * (what a transparent huge page needs), zeroed and writable to the last byte. */
#include <stdint.h>
#include <string.h>

#include "nemb_test.h"

#include "huge.h"

static void test_lengths(void **unused) {
  (void)unused;
  assert_int_equal(nemb__huge_len(0), 0);
  assert_int_equal(nemb__huge_len(1), NEMB__HUGE_BYTES);
  assert_int_equal(nemb__huge_len(NEMB__HUGE_BYTES), NEMB__HUGE_BYTES);
  assert_int_equal(nemb__huge_len(NEMB__HUGE_BYTES + 1), 2 * NEMB__HUGE_BYTES);
  assert_null(nemb__huge_map(0));
}

static void test_mappings_are_aligned_zeroed_and_whole(void **unused) {
  (void)unused;
  size_t lens[] = {1, NEMB__HUGE_BYTES, 3 * NEMB__HUGE_BYTES - 4096, 5 * NEMB__HUGE_BYTES + 1};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    unsigned char *p = nemb__huge_map(lens[i]);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % NEMB__HUGE_BYTES, 0);
    size_t len = nemb__huge_len(lens[i]);
    for (size_t at = 0; at < len; at += 4096) { /* every page reads zero and takes a write */
      assert_int_equal(p[at], 0);
      p[at] = 0xA5;
    }
    assert_int_equal(p[len - 1], 0);
    p[len - 1] = 0x5A;
    nemb__huge_unmap(p, lens[i]);
  }
  nemb__huge_unmap(NULL, 4096); /* nothing to do */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lengths),
      cmocka_unit_test(test_mappings_are_aligned_zeroed_and_whole),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
