/* test_threads.c - thread identity in a session: a thread that starts after another one exited
 * (glibc hands it the same pthread_t) gets records of its own, not the finished thread's open
 * tasks or counts; and a thread's first recording call racing nemb_session_end() either records
 * whole or is refused with NEMB_ESTATE, with no data race (run under ThreadSanitizer by
 * scripts/test.sh). */
#include <jansson.h>
#include <pthread.h>

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
  o.name = "threads";
  o.save_to_file = 0;
  o.exclusive = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  return s;
}

static void *leave_open(void *arg) {
  return (void *)(intptr_t)nemb_task_start(arg, "left_open");
}

static void *one_task(void *arg) {
  int rc = nemb_task_start(arg, "t");
  if (rc == 0) {
    rc = nemb_task_stop(arg, "t");
  }
  return (void *)(intptr_t)rc;
}

static void test_new_thread_does_not_inherit_a_finished_threads_stack(void **state) {
  (void)state;
  nemb_session *s = begin_quiet();
  pthread_t a, b;
  void *ret;
  assert_int_equal(pthread_create(&a, NULL, leave_open, s), 0);
  assert_int_equal(pthread_join(a, &ret), 0);
  assert_null(ret);
  assert_int_equal(pthread_create(&b, NULL, one_task, s), 0);
  assert_int_equal(pthread_join(b, &ret), 0);
  assert_null(ret);
  NEMB_ASSERT_OK(nemb_session_end(s));
  nemb__task_rec *recs;
  size_t n;
  NEMB_ASSERT_OK(nemb__session_tasks(s, &recs, &n));
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(recs[i].name, "t") == 0) {
      assert_null(recs[i].parent); /* was "left_open" when told apart by pthread_t */
      assert_int_equal(recs[i].depth, 0);
      assert_false(recs[i].closed_at_end);
    } else {
      assert_string_equal(recs[i].name, "left_open");
      assert_true(recs[i].closed_at_end);
    }
  }
  assert_int_not_equal(recs[0].thread, recs[1].thread);
  free(recs);
  assert_int_equal(s->n_threads, 2);
  nemb_session_destroy(s);
}

#define SEQ_THREADS 16
#define SEQ_CALLS 1000

static void *counted_calls(void *arg) {
  nemb_session *s = arg;
  uint32_t id;
  int rc = nemb_checkpoint_register(s, "work", "test_threads.c", 1, &id);
  for (int i = 0; rc == 0 && i < SEQ_CALLS; i++) {
    rc = nemb_checkpoint_enter(s, id);
    rc = rc ? rc : nemb_checkpoint_exit(s, id);
  }
  return (void *)(intptr_t)rc;
}

static void test_threads_one_after_another_keep_their_own_counts(void **state) {
  (void)state;
  nemb_session *s = begin_quiet();
  for (int i = 0; i < SEQ_THREADS; i++) { /* one at a time: every pthread_t is reused */
    pthread_t t;
    void *ret;
    assert_int_equal(pthread_create(&t, NULL, counted_calls, s), 0);
    assert_int_equal(pthread_join(t, &ret), 0);
    assert_null(ret);
  }
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_int_equal(s->n_threads, SEQ_THREADS); /* one record per thread, none shared */
  json_t *report = json_loads(nemb_session_report_json(s), 0, NULL);
  assert_non_null(report);
  json_t *f = json_array_get(json_object_get(report, "functions"), 0);
  assert_string_equal(json_string_value(json_object_get(f, "name")), "work");
  assert_int_equal(json_integer_value(json_object_get(f, "calls")), SEQ_THREADS * SEQ_CALLS);
  json_decref(report);
  nemb_session_destroy(s);
}

#define RACERS 8
#define ROUNDS 60

typedef struct race {
  nemb_session *s;
  pthread_barrier_t *go;
  int rc;
} race;

static void *first_call(void *arg) {
  race *r = arg;
  pthread_barrier_wait(r->go);
  r->rc = nemb_task_start(r->s, "racer");
  if (r->rc == 0) {
    int rc = nemb_task_stop(r->s, "racer");
    r->rc = rc == NEMB_ESTATE ? 1 : rc; /* 1: started, then the end came first */
  }
  return NULL;
}

static void test_first_calls_race_the_end(void **state) {
  (void)state;
  for (int round = 0; round < ROUNDS; round++) {
    nemb_session *s = begin_quiet();
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS + 1);
    pthread_t th[RACERS];
    race r[RACERS];
    for (int i = 0; i < RACERS; i++) {
      r[i] = (race){s, &go, -1};
      assert_int_equal(pthread_create(&th[i], NULL, first_call, &r[i]), 0);
    }
    pthread_barrier_wait(&go);
    NEMB_ASSERT_OK(nemb_session_end(s));
    for (int i = 0; i < RACERS; i++) {
      pthread_join(th[i], NULL);
    }
    pthread_barrier_destroy(&go);
    nemb__task_rec *recs;
    size_t n;
    NEMB_ASSERT_OK(nemb__session_tasks(s, &recs, &n));
    size_t started = 0;
    for (int i = 0; i < RACERS; i++) {
      assert_true(r[i].rc == 0 || r[i].rc == 1 || r[i].rc == NEMB_ESTATE);
      started += r[i].rc != NEMB_ESTATE;
    }
    /* Every task that started is in the report (closed at the end if its stop lost the race),
     * and nothing else is. */
    assert_int_equal(n, started);
    for (size_t i = 0; i < n; i++) {
      assert_string_equal(recs[i].name, "racer");
    }
    free(recs);
    assert_true(s->n_threads <= RACERS);
    nemb_session_destroy(s);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_new_thread_does_not_inherit_a_finished_threads_stack, setup),
      cmocka_unit_test_setup(test_threads_one_after_another_keep_their_own_counts, setup),
      cmocka_unit_test_setup(test_first_calls_race_the_end, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
