/* test_utf8.c - utf8.h's rule: valid UTF-8 kept, each byte that starts no valid sequence becomes
 * U+FFFD; the report's strings (meta.argv, names) follow it. */
#include "nemb_test.h"

#include "utf8.h"

#define FFFD "\xEF\xBF\xBD"

static void expect(const char *in, const char *want) {
  char *got = nemb__utf8_text(in);
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void test_the_rule(void **unused) {
  (void)unused;
  expect("", "");
  expect("plain ascii", "plain ascii");
  expect("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\x8B", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\x8B");
  expect("\xFF"
         "abc",
         FFFD "abc");                              /* a byte no sequence starts with */
  expect("\xC0\xAF", FFFD FFFD);                   /* an overlong '/' */
  expect("\xED\xA0\x80", FFFD FFFD FFFD);          /* a surrogate */
  expect("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* above U+10FFFF */
  expect("ab\xE2\x82", "ab" FFFD FFFD);            /* cut short at the end */
  expect("\xC3"
         "A",
         FFFD "A"); /* a lead without its follower */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_rule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
