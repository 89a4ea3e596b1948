/*
 * test_csv.c - the one CSV quoting (nemb_csv_field, issue 15): plain fields as they are, a comma,
 * quote or line break quoted with quotes doubled, snprintf semantics for a short buffer.
 */
#include <string.h>

#include "nemb_test.h"

static void test_plain_and_quoted_fields(void **state) {
  (void)state;
  char buf[64];
  assert_int_equal(nemb_csv_field("plain words", buf, sizeof buf), 11);
  assert_string_equal(buf, "plain words");
  assert_int_equal(nemb_csv_field("a,b", buf, sizeof buf), 5);
  assert_string_equal(buf, "\"a,b\"");
  assert_int_equal(nemb_csv_field("say \"hi\"", buf, sizeof buf), 12);
  assert_string_equal(buf, "\"say \"\"hi\"\"\"");
  nemb_csv_field("two\nlines", buf, sizeof buf);
  assert_string_equal(buf, "\"two\nlines\"");
  nemb_csv_field("cr\rhere", buf, sizeof buf);
  assert_string_equal(buf, "\"cr\rhere\"");
  assert_int_equal(nemb_csv_field(NULL, buf, sizeof buf), 0);
  assert_string_equal(buf, "");
}

static void test_short_buffer_truncates_and_says_how_long(void **state) {
  (void)state;
  char buf[4];
  assert_int_equal(nemb_csv_field("a,bcdef", buf, sizeof buf), 9);
  assert_string_equal(buf, "\"a,");
  assert_int_equal(nemb_csv_field("a,bcdef", NULL, 0), 9);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_and_quoted_fields),
      cmocka_unit_test(test_short_buffer_truncates_and_says_how_long),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
