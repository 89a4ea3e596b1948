/* test_task_open.c - tasks outside the thread's stack (nemb_task_open/nemb_task_close), as
 * Python's asyncio tasks use them: interleaved opens and closes in one thread, each task with
 * the parent it was given, closes in any order, stale ids refused, open ones closed at the end,
 * and parent_index following the parent's name. */
#include "nemb_test.h"
#include "session.h"

static int setup(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  unsetenv("CODEGREEN_SIM_CONFIG");
  unsetenv("CODEGREEN_SYSFS_ROOT");
  return 0;
}

static nemb_session *begin_quiet(void) {
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "test";
  o.save_to_file = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  return s;
}

/* Two "coroutines" interleave: job1 opens, job2 opens, job1 closes first, each has a child. */
static void test_interleaved_tasks_keep_their_own_parents(void **state) {
  (void)state;
  nemb_session *s = begin_quiet();
  NEMB_ASSERT_OK(nemb_task_start(s, "main")); /* the thread's stack: both nest in it */
  uint64_t j1, j2, c1, c2;
  uint32_t d1 = 99, d2 = 99, dc = 99;
  NEMB_ASSERT_OK(nemb_task_open(s, "job1", NULL, 0, &j1, &d1));
  NEMB_ASSERT_OK(nemb_task_open(s, "job2", NULL, 0, &j2, &d2));
  assert_int_equal(d1, 1);
  assert_int_equal(d2, 1);
  NEMB_ASSERT_OK(nemb_task_open(s, "step1", "job1", d1 + 1, &c1, &dc));
  assert_int_equal(dc, 2);
  NEMB_ASSERT_OK(nemb_task_open(s, "step2", "job2", d2 + 1, &c2, NULL));
  assert_string_equal(nemb_task_current(s), "main"); /* the stack is untouched */
  NEMB_ASSERT_OK(nemb_task_close(s, c1));
  NEMB_ASSERT_OK(nemb_task_close(s, j1));                /* before job2, opened later */
  assert_int_equal(nemb_task_close(s, j1), NEMB_EINVAL); /* closed already */
  assert_non_null(strstr(nemb_last_error(), "no task with that id is open in this thread"));
  NEMB_ASSERT_OK(nemb_task_close(s, c2));
  NEMB_ASSERT_OK(nemb_task_close(s, j2));
  NEMB_ASSERT_OK(nemb_task_stop(s, "main"));
  NEMB_ASSERT_OK(nemb_session_end(s));

  const char *names[] = {"main", "job1", "job2", "step1", "step2"};
  const char *parents[] = {NULL, "main", "main", "job1", "job2"};
  const uint32_t depths[] = {0, 1, 1, 2, 2};
  const size_t parent_index[] = {NEMB_NO_PARENT, 0, 0, 1, 2};
  assert_int_equal(nemb_session_task_count(s), 5);
  for (size_t i = 0; i < 5; i++) {
    nemb_task_info t;
    NEMB_ASSERT_OK(nemb_session_task_info(s, i, &t));
    assert_string_equal(t.name, names[i]);
    if (parents[i] == NULL) {
      assert_null(t.parent);
    } else {
      assert_string_equal(t.parent, parents[i]);
    }
    assert_int_equal(t.depth, depths[i]);
    assert_int_equal(t.parent_index, parent_index[i]);
    assert_int_equal(t.closed_at_end, 0);
  }
  nemb_session_destroy(s);
}

static void test_open_tasks_are_closed_at_the_end_and_slots_reused(void **state) {
  (void)state;
  nemb_session *s = begin_quiet();
  uint64_t ids[40];
  for (int i = 0; i < 40; i++) { /* past the first table of 16 slots */
    NEMB_ASSERT_OK(nemb_task_open(s, "t", NULL, 0, &ids[i], NULL));
  }
  for (int i = 0; i < 39; i++) {
    NEMB_ASSERT_OK(nemb_task_close(s, ids[i]));
  }
  uint64_t again;
  NEMB_ASSERT_OK(nemb_task_open(s, "again", NULL, 0, &again, NULL));
  assert_int_not_equal(again, ids[38]);                       /* a reused slot, a new id */
  assert_int_equal(nemb_task_close(s, ids[38]), NEMB_EINVAL); /* the stale id is refused */
  assert_int_equal(nemb_task_open(s, "", NULL, 0, &again, NULL), NEMB_EINVAL);
  assert_int_equal(nemb_task_open(s, "x", "p", 0, &again, NULL), NEMB_ERANGE);
  assert_int_equal(nemb_task_open(s, "x", "p", 256, &again, NULL), NEMB_ERANGE);
  assert_int_equal(nemb_task_open(s, "x", NULL, 0, NULL, NULL), NEMB_EINVAL);
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_int_equal(nemb_task_open(s, "late", NULL, 0, &again, NULL), NEMB_ESTATE);
  size_t n = nemb_session_task_count(s);
  assert_int_equal(n, 41);
  int closed = 0;
  for (size_t i = 0; i < n; i++) {
    nemb_task_info t;
    NEMB_ASSERT_OK(nemb_session_task_info(s, i, &t));
    closed += t.closed_at_end;
    assert_true(t.duration_ns <= 10ull * 1000 * 1000 * 1000);
  }
  assert_int_equal(closed, 2); /* ids[39] and "again" */
  nemb_session_destroy(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_interleaved_tasks_keep_their_own_parents, setup),
      cmocka_unit_test_setup(test_open_tasks_are_closed_at_the_end_and_slots_reused, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
