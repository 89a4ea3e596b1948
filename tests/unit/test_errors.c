/* test_errors.c - error names and texts, the thread-local detail message, versions. */
#include <pthread.h>

#include "nemb_test.h"

static void test_every_code_has_a_name_and_text(void **state) {
  (void)state;
  assert_string_equal(nemb_err_name(NEMB_EACCES), "EACCES");
  assert_string_equal(nemb_strerror(NEMB_EACCES), "permission denied");
  assert_int_equal(NEMB_EACCES, -EACCES);
  assert_string_equal(nemb_err_name(NEMB_ENOPROVIDER), "ENOPROVIDER");
  assert_string_equal(nemb_strerror(NEMB_ENOPROVIDER),
                      "no energy provider could be opened on this machine");
  assert_string_equal(nemb_err_name(0), "OK");
  assert_string_equal(nemb_err_name(-99999), "UNKNOWN");
  assert_string_equal(nemb_strerror(-99999), "unknown error");
#define NEMB_T_CHECK(name, value, text)                                                            \
  assert_string_equal(nemb_err_name(value), #name);                                                \
  assert_string_equal(nemb_strerror(value), text);                                                 \
  assert_true((value) < 0);
  NEMB_ERRNO_MAP(NEMB_T_CHECK)
#undef NEMB_T_CHECK
}

static void *fail_in_thread(void *arg) {
  (void)arg;
  nemb__fail(NEMB_EIO, "failure in the other thread");
  return NULL;
}

static void test_last_error_is_per_thread(void **state) {
  (void)state;
  nemb__clear_error();
  assert_int_equal(nemb__fail(NEMB_ECONFIG, "bad key %s", "x.y"), NEMB_ECONFIG);
  pthread_t t;
  pthread_create(&t, NULL, fail_in_thread, NULL);
  pthread_join(t, NULL);
  assert_string_equal(nemb_last_error(), "bad key x.y");
  nemb__clear_error();
  assert_string_equal(nemb_last_error(), "");
}

static void test_errno_mapping(void **state) {
  (void)state;
  assert_int_equal(nemb__from_errno(EACCES), NEMB_EACCES);
  assert_int_equal(nemb__from_errno(EPERM), NEMB_EACCES);
  assert_int_equal(nemb__from_errno(ENOENT), NEMB_ENOENT);
  assert_int_equal(nemb__from_errno(EBADF), NEMB_EIO);
}

static void test_versions(void **state) {
  (void)state;
  assert_int_equal(nemb_abi_version(), 3);
  assert_int_equal(nemb_version(), NEMB_VERSION_HEX);
  char expect[32];
  snprintf(expect, sizeof expect, "%d.%d.%d", NEMB_VERSION_MAJOR, NEMB_VERSION_MINOR,
           NEMB_VERSION_PATCH);
  assert_string_equal(nemb_version_string(), expect);
}

static void test_buf_grows_and_detaches(void **state) {
  (void)state;
  nemb__buf b = NEMB__BUF_INIT;
  for (int i = 0; i < 1000; i++) {
    nemb__buf_printf(&b, "%d,", i);
  }
  assert_false(b.oom);
  char *s = nemb__buf_detach(&b);
  assert_non_null(s);
  assert_int_equal(strncmp(s, "0,1,2,", 6), 0);
  assert_int_equal(strlen(s), 3890); /* 10x2 + 90x3 + 900x4 */
  free(s);
  assert_null(b.data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code_has_a_name_and_text),
      cmocka_unit_test(test_last_error_is_per_thread),
      cmocka_unit_test(test_errno_mapping),
      cmocka_unit_test(test_versions),
      cmocka_unit_test(test_buf_grows_and_detaches),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
