/* test_proc_stat.c - /proc/PID/stat lines as the kernel writes them, including command names
 * with spaces and parentheses, and truncated lines; then this process's own. */
#include "nemb_test.h"
#include <unistd.h>

#include "proc_stat.h"

/* A real line (python3, a zombie, started 12345678 ticks after boot) with 52 fields. */
#define TAIL                                                                                       \
  " 4242 4242 0 -1 4194560 1234 0 0 0 5 3 0 0 20 0 1 0 12345678 12000000 900 "                     \
  "18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0"

static void test_plain_line(void **unused) {
  (void)unused;
  nemb__proc_stat st;
  NEMB_ASSERT_OK(nemb__proc_stat_parse("4243 (python3) Z 4242" TAIL, &st));
  assert_int_equal(st.state, 'Z');
  assert_int_equal(st.ppid, 4242);
  assert_int_equal(st.start_ticks, 12345678);
}

static void test_command_name_with_spaces_and_parens(void **unused) {
  (void)unused;
  /* comm "a) (b c)" (prctl(PR_SET_NAME) allows anything): fields count from the last ')'. */
  nemb__proc_stat st;
  NEMB_ASSERT_OK(nemb__proc_stat_parse("77 (a) (b c)) S 1" TAIL, &st));
  assert_int_equal(st.state, 'S');
  assert_int_equal(st.ppid, 1);
  assert_int_equal(st.start_ticks, 12345678);
}

static void test_broken_lines(void **unused) {
  (void)unused;
  nemb__proc_stat st;
  assert_int_equal(nemb__proc_stat_parse("", &st), NEMB_EPARSE);
  assert_int_equal(nemb__proc_stat_parse("77 (x", &st), NEMB_EPARSE);
  assert_int_equal(nemb__proc_stat_parse("77 (x)", &st), NEMB_EPARSE);
  assert_int_equal(nemb__proc_stat_parse("77 (x) S", &st), NEMB_EPARSE);
  assert_int_equal(nemb__proc_stat_parse("77 (x) S one 2 3", &st), NEMB_EPARSE);
  /* Cut off before field 22. */
  assert_int_equal(nemb__proc_stat_parse("77 (x) S 1 4242 4242 0 -1 4194560 1234 0", &st),
                   NEMB_EPARSE);
}

static void test_own_process(void **unused) {
  (void)unused;
  nemb__proc_stat st;
  NEMB_ASSERT_OK(nemb__proc_stat_read(getpid(), &st));
  assert_int_equal(st.state, 'R');
  assert_int_equal(st.ppid, getppid());
  assert_true(st.start_ticks > 0);
  assert_int_equal(nemb__proc_stat_read(-5, &st), -ENOENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_line),
      cmocka_unit_test(test_command_name_with_spaces_and_parens),
      cmocka_unit_test(test_broken_lines),
      cmocka_unit_test(test_own_process),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
