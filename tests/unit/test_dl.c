/* test_dl.c - the one loader of the libraries codegreen dlopen()s when first needed (dl.c): what
 * it binds, and the sentence it gives when the library is missing or lacks a function. */
#include "dl.h"
#include "nemb_test.h"

typedef struct two_fns {
  double (*cos)(double);
  double (*sqrt)(double);
} two_fns;

static const nemb__dl_sym libm_syms[] = {
    NEMB__DL_SYM(two_fns, cos, "cos"),
    NEMB__DL_SYM(two_fns, sqrt, "sqrt"),
};

static void test_binds_every_function_once(void **state) {
  (void)state;
  two_fns t = {0};
  nemb__dl_lib lib =
      NEMB__DL_LIB_INIT("libm.so.6", "testing needs libm", "libc6", "", NULL, libm_syms, &t);
  assert_null(nemb__dl_load(&lib));
  assert_non_null(t.cos);
  assert_true(t.sqrt(16.0) == 4.0);
  assert_null(nemb__dl_load(&lib)); /* the second call returns the first's outcome */
  pthread_mutex_destroy(&lib.lock);
}

static void test_a_missing_library_says_what_needs_it_and_the_package(void **state) {
  (void)state;
  two_fns t = {0};
  nemb__dl_lib lib = NEMB__DL_LIB_INIT("libcodegreen-absent.so.9", "testing needs absent",
                                       "libabsent9", "; do without it", NULL, libm_syms, &t);
  const char *why = nemb__dl_load(&lib);
  assert_non_null(why);
  assert_non_null(strstr(why, "testing needs absent (libcodegreen-absent.so.9, Debian package "
                              "libabsent9), which cannot be loaded: "));
  assert_non_null(strstr(why, "libcodegreen-absent.so.9: cannot open shared object file"));
  assert_string_equal(why + strlen(why) - strlen("; do without it"), "; do without it");
  assert_ptr_equal(nemb__dl_load(&lib), why);
  assert_null(t.cos);
  pthread_mutex_destroy(&lib.lock);
}

static void test_a_missing_function_is_named_and_nothing_stays_bound(void **state) {
  (void)state;
  static const nemb__dl_sym syms[] = {
      NEMB__DL_SYM(two_fns, cos, "cos"),
      NEMB__DL_SYM(two_fns, sqrt, "codegreen_no_such_function"),
  };
  two_fns t = {0};
  nemb__dl_lib lib = NEMB__DL_LIB_INIT("libm.so.6", "testing needs libm", "libc6", "",
                                       "libm older than 1990", syms, &t);
  assert_string_equal(nemb__dl_load(&lib),
                      "libm.so.6 has no codegreen_no_such_function (libm older than 1990)");
  assert_null(t.cos); /* bound before the missing one, then cleared */
  assert_null(t.sqrt);
  pthread_mutex_destroy(&lib.lock);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_binds_every_function_once),
      cmocka_unit_test(test_a_missing_library_says_what_needs_it_and_the_package),
      cmocka_unit_test(test_a_missing_function_is_named_and_nothing_stays_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
