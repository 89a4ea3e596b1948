/* test_session.c - sessions and tasks: one session at a time, nesting and per-thread stacks,
 * mismatched stops, forgotten stops, recording after the end, output files, no backend, fork. */
#include <pthread.h>
#include <sys/wait.h>

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

static void test_one_session_at_a_time(void **state) {
  (void)state;
  nemb_session *s = begin_quiet();
  nemb_session *t = NULL;
  assert_int_equal(nemb_session_begin(NULL, &t), NEMB_ESTATE);
  assert_null(t);
  assert_non_null(strstr(nemb_last_error(), "another session is already active"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_int_equal(nemb_session_end(s), NEMB_ESTATE);
  /* After the end a new session may begin, even before the old one is destroyed. */
  nemb_session *u = begin_quiet();
  nemb_session_destroy(u);
  nemb_session_destroy(s);
}

static void test_nesting_depth_and_parent(void **state) {
  (void)state;
  nemb_session *s = begin_quiet();
  NEMB_ASSERT_OK(nemb_task_start(s, "outer"));
  NEMB_ASSERT_OK(nemb_task_start(s, "inner"));
  assert_string_equal(nemb_task_current(s), "inner");
  NEMB_ASSERT_OK(nemb_task_stop(s, "inner"));
  NEMB_ASSERT_OK(nemb_task_start(s, "inner2"));
  NEMB_ASSERT_OK(nemb_task_stop(s, NULL));
  NEMB_ASSERT_OK(nemb_task_stop(s, "outer"));
  assert_null(nemb_task_current(s));
  NEMB_ASSERT_OK(nemb_session_end(s));
  nemb__task_rec *recs;
  size_t n;
  NEMB_ASSERT_OK(nemb__session_tasks(s, &recs, &n));
  assert_int_equal(n, 3);
  /* in start order */
  assert_string_equal(recs[0].name, "outer");
  assert_int_equal(recs[0].depth, 0);
  assert_null(recs[0].parent);
  assert_string_equal(recs[1].name, "inner");
  assert_int_equal(recs[1].depth, 1);
  assert_string_equal(recs[1].parent, "outer");
  assert_string_equal(recs[2].name, "inner2");
  assert_string_equal(recs[2].parent, "outer");
  assert_true(recs[0].t_start <= recs[1].t_start && recs[1].t_end <= recs[2].t_start);
  assert_true(recs[2].t_end <= recs[0].t_end);
  assert_false(recs[0].closed_at_end);
  free(recs);
  nemb_session_destroy(s);
}

/* More task records than a thread's first chunk and two of the later, larger ones hold: every
 * record is kept, in order, with its own stamps (records.c's chunks). */
static void test_records_past_several_chunks(void **state) {
  (void)state;
  nemb_session *s = begin_quiet();
  static const char *const names[] = {"a", "b", "c"};
  const size_t n_tasks = 90000; /* 512 + 1024 + 2048, 2 x ~37 000, the rest */
  NEMB_ASSERT_OK(nemb_task_start(s, "outer"));
  for (size_t i = 0; i < n_tasks; i++) {
    NEMB_ASSERT_OK(nemb_task_start(s, names[i % 3]));
    NEMB_ASSERT_OK(nemb_task_stop(s, names[i % 3]));
  }
  NEMB_ASSERT_OK(nemb_task_stop(s, "outer"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  nemb__task_rec *recs;
  size_t n;
  NEMB_ASSERT_OK(nemb__session_tasks(s, &recs, &n));
  assert_int_equal(n, n_tasks + 1);
  assert_string_equal(recs[0].name, "outer");
  for (size_t i = 1; i < n; i++) {
    assert_string_equal(recs[i].name, names[(i - 1) % 3]);
    assert_string_equal(recs[i].parent, "outer");
    assert_int_equal(recs[i].depth, 1);
    assert_true(recs[i].t_start <= recs[i].t_end);
    assert_true(recs[i - 1].t_start <= recs[i].t_start);
  }
  free(recs);
  nemb_session_destroy(s);
}

static void test_mismatched_stop_names_the_innermost(void **state) {
  (void)state;
  nemb_session *s = begin_quiet();
  assert_int_equal(nemb_task_stop(s, "x"), NEMB_ESTATE);
  assert_non_null(strstr(nemb_last_error(), "no task is open in this thread"));
  NEMB_ASSERT_OK(nemb_task_start(s, "load"));
  NEMB_ASSERT_OK(nemb_task_start(s, "parse"));
  assert_int_equal(nemb_task_stop(s, "load"), NEMB_EINVAL);
  assert_string_equal(nemb_last_error(),
                      "cannot stop task 'load': the innermost open task in this thread is 'parse'");
  assert_string_equal(nemb_task_current(s), "parse"); /* nothing was stopped */
  NEMB_ASSERT_OK(nemb_task_stop(s, "parse"));
  NEMB_ASSERT_OK(nemb_task_stop(s, "load"));
  nemb_session_destroy(s);
}

/* An empty name is refused by the library itself, so every front (C, Python's extension and
 * ctypes paths, JNI) meets the same rule; nothing is recorded for it. */
static void test_empty_names_are_refused(void **state) {
  (void)state;
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "";
  o.save_to_file = 0;
  nemb_session *t = NULL;
  assert_int_equal(nemb_session_begin(&o, &t), NEMB_EINVAL);
  assert_null(t);
  assert_non_null(strstr(nemb_last_error(), "a session name must be a non-empty string"));
  nemb_session *s = begin_quiet();
  assert_int_equal(nemb_task_start(s, ""), NEMB_EINVAL);
  assert_string_equal(nemb_last_error(), "a task name must be a non-empty string");
  assert_null(nemb_task_current(s));
  NEMB_ASSERT_OK(nemb_session_end(s));
  nemb__task_rec *recs;
  size_t n;
  NEMB_ASSERT_OK(nemb__session_tasks(s, &recs, &n));
  assert_int_equal(n, 0);
  free(recs);
  nemb_session_destroy(s);
}

static void test_forgotten_stop_is_closed_at_end(void **state) {
  (void)state;
  nemb_session *s = begin_quiet();
  NEMB_ASSERT_OK(nemb_task_start(s, "a"));
  NEMB_ASSERT_OK(nemb_task_start(s, "b"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_int_equal(nemb_task_start(s, "late"), NEMB_ESTATE);
  assert_int_equal(nemb_task_stop(s, "b"), NEMB_ESTATE);
  nemb__task_rec *recs;
  size_t n;
  NEMB_ASSERT_OK(nemb__session_tasks(s, &recs, &n));
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) {
    assert_true(recs[i].closed_at_end);
    assert_int_equal(recs[i].t_end, s->t_end);
  }
  assert_string_equal(recs[1].parent, "a");
  free(recs);
  assert_non_null(nemb_session_report_json(s));
  nemb_session_destroy(s);
}

#define THREADS 8
#define TASKS 10000

static void *worker(void *arg) {
  nemb_session *s = arg;
  char name[32];
  for (int i = 0; i < TASKS; i++) {
    snprintf(name, sizeof name, "job-%d", i % 7);
    if (nemb_task_start(s, name) != 0 || nemb_task_start(s, "step") != 0 ||
        nemb_task_stop(s, "step") != 0 || nemb_task_stop(s, name) != 0) {
      return (void *)1;
    }
  }
  return NULL;
}

static void test_threads_keep_their_own_stacks(void **state) {
  (void)state;
  nemb_session *s = begin_quiet();
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) {
    pthread_create(&th[i], NULL, worker, s);
  }
  for (int i = 0; i < THREADS; i++) {
    void *ret;
    pthread_join(th[i], &ret);
    assert_null(ret);
  }
  NEMB_ASSERT_OK(nemb_session_end(s));
  nemb__task_rec *recs;
  size_t n;
  NEMB_ASSERT_OK(nemb__session_tasks(s, &recs, &n));
  assert_int_equal(n, THREADS * TASKS * 2);
  size_t per_thread[THREADS + 1] = {0};
  for (size_t i = 0; i < n; i++) {
    assert_true(recs[i].thread < THREADS + 1);
    per_thread[recs[i].thread]++;
    if (recs[i].depth == 1) {
      assert_string_equal(recs[i].name, "step");
      assert_int_equal(strncmp(recs[i].parent, "job-", 4), 0);
    } else {
      assert_int_equal(recs[i].depth, 0);
      assert_null(recs[i].parent);
    }
    assert_true(i == 0 || recs[i].seq > recs[i - 1].seq);
  }
  for (int t = 0; t < THREADS; t++) {
    assert_int_equal(per_thread[t], 2 * TASKS);
  }
  free(recs);
  nemb_session_destroy(s);
}

static void test_default_output_file_and_csv(void **state) {
  (void)state;
  char dir[4096], old[4096];
  nemb_test_mkdtemp(dir, sizeof dir);
  assert_non_null(getcwd(old, sizeof old));
  assert_int_equal(chdir(dir), 0);
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(NULL, &s));
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  NEMB_ASSERT_OK(nemb_task_stop(s, "t"));
  assert_int_equal(chdir("/"), 0); /* the file still goes where the session began */
  NEMB_ASSERT_OK(nemb_session_end(s));
  char expect[4200];
  snprintf(expect, sizeof expect, "%s/codegreen_%d.json", dir, (int)getpid());
  assert_string_equal(nemb_session_output_path(s), expect);
  FILE *fp = fopen(expect, "r");
  assert_non_null(fp);
  char head[512] = "";
  assert_non_null(fgets(head, sizeof head, fp));
  fclose(fp);
  assert_int_equal(head[0], '{');
  char csv[4200];
  snprintf(csv, sizeof csv, "%s/out.csv", dir);
  NEMB_ASSERT_OK(nemb_session_write(s, csv, NEMB_FORMAT_AUTO));
  fp = fopen(csv, "r");
  assert_non_null(fp);
  assert_non_null(fgets(head, sizeof head, fp));
  fclose(fp);
  assert_int_equal(strncmp(head, "run_id,session_name,started_at,", 31), 0);
  assert_non_null(strstr(head, ",measurement_quality,name,depth,parent,energy_j,"));
  nemb_session_destroy(s);
  assert_int_equal(chdir(old), 0);
  nemb_test_rmtree(dir);
}

/* NEMB_FORMAT_AUTO has one rule (session.c format_of): .json and .csv (each also .zst), a
 * device as JSON, any other name refused with NEMB_EINVAL, at begin for output_file (before any
 * work) and at nemb_session_write, writing nothing. */
static void test_auto_format_refuses_an_unknown_extension(void **state) {
  (void)state;
  char dir[4096], path[4200];
  nemb_test_mkdtemp(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/x.exe", dir);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.output_file = path;
  nemb_session *s = NULL;
  assert_int_equal(nemb_session_begin(&o, &s), NEMB_EINVAL);
  assert_null(s);
  assert_non_null(strstr(nemb_last_error(), "x.exe: unknown kind of file; the extensions known "
                                            "are .json, .csv, each also with .zst"));
  o.output_format = NEMB_FORMAT_JSON; /* said outright: taken */
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  NEMB_ASSERT_OK(nemb_session_end(s));
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  snprintf(path, sizeof path, "%s/x.weird", dir);
  assert_int_equal(nemb_session_write(s, path, NEMB_FORMAT_AUTO), NEMB_EINVAL);
  assert_non_null(strstr(nemb_last_error(), "x.weird: unknown kind of file"));
  assert_int_equal(stat(path, &st), -1);
  NEMB_ASSERT_OK(nemb_session_write(s, path, NEMB_FORMAT_JSON));
  snprintf(path, sizeof path, "%s/X.JSON", dir);
  NEMB_ASSERT_OK(nemb_session_write(s, path, NEMB_FORMAT_AUTO));
  NEMB_ASSERT_OK(nemb_session_write(s, "/dev/null", NEMB_FORMAT_AUTO));
  assert_int_equal(nemb_session_write(s, NULL, NEMB_FORMAT_AUTO), NEMB_EINVAL);
  nemb_session_destroy(s);
  nemb_test_rmtree(dir);
}

static void test_unwritable_output_keeps_the_report(void **state) {
  (void)state;
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.output_file = "/nonexistent-dir/deeper/report.json";
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  NEMB_ASSERT_OK(nemb_task_stop(s, "t"));
  assert_int_equal(nemb_session_end(s), NEMB_ENOENT);
  assert_non_null(strstr(nemb_last_error(), "/nonexistent-dir/deeper/report.json"));
  assert_non_null(nemb_session_report_json(s));
  nemb_session_destroy(s);
}

static void test_no_backend_still_records(void **state) {
  (void)state;
  char empty[4096];
  nemb_test_mkdtemp(empty, sizeof empty);
  setenv("CODEGREEN_SYSFS_ROOT", empty, 1);
  unsetenv("CODEGREEN_PROVIDERS");
  nemb_config *cfg;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\":{\"estimate\":{\"enabled\":false}}}", "t", &cfg));
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.config = cfg;
  o.save_to_file = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  nemb_config_destroy(cfg);
  assert_null(nemb_session_meter(s));
  assert_non_null(strstr(s->backend_error, "no energy provider"));
  NEMB_ASSERT_OK(nemb_task_start(s, "t"));
  NEMB_ASSERT_OK(nemb_task_stop(s, "t"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_non_null(strstr(nemb_session_report_json(s), "\"no_backend\""));
  nemb_session_destroy(s);
  nemb_test_rmtree(empty);
}

static void test_options_reach_the_meter(void **state) {
  (void)state;
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.sample_interval_ms = 5;
  o.buffer_samples = 5000;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  nemb_sampler_stats st;
  nemb_meter_stats(nemb_session_meter(s), &st);
  assert_int_equal(st.capacity, 5000);
  assert_int_equal(nemb_measurement_interval_ms(nemb_session_meter(s)), 5);
  nemb_session_destroy(s);
  o.output_format = (nemb_output_format)7;
  assert_int_equal(nemb_session_begin(&o, &s), NEMB_EINVAL);
  o.output_format = NEMB_FORMAT_JSON;
  o.sample_interval_ms = 70000;
  assert_int_equal(nemb_session_begin(&o, &s), NEMB_ERANGE);
  /* a failed begin leaves no active session behind */
  o.sample_interval_ms = 0;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  nemb_session_destroy(s);
}

static void test_forked_child_does_not_report(void **state) {
  (void)state;
  char dir[4096];
  nemb_test_mkdtemp(dir, sizeof dir);
  char path[4200];
  snprintf(path, sizeof path, "%s/r.json", dir);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.output_file = path;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  pid_t pid = fork();
  if (pid == 0) {
    /* The child: its end is a no-op, its destroy must not touch the parent's sampler. */
    int rc = nemb_session_end(s);
    nemb_session_destroy(s);
    _exit(rc == 0 && access(path, F_OK) != 0 ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_int_equal(access(path, F_OK), 0);
  nemb_session_destroy(s);
  nemb_test_rmtree(dir);
}

static void test_non_exclusive_sessions_run_beside_the_active_one(void **state) {
  (void)state;
  nemb_session *user = begin_quiet();
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.exclusive = 0;
  /* Five runtime-like sessions beside the user's: more than a thread's cache of four. */
  nemb_session *rt[5];
  for (int i = 0; i < 5; i++) {
    NEMB_ASSERT_OK(nemb_session_begin(&o, &rt[i]));
  }
  for (int round = 0; round < 3; round++) {
    NEMB_ASSERT_OK(nemb_task_start(user, "u"));
    for (int i = 0; i < 5; i++) {
      NEMB_ASSERT_OK(nemb_task_start(rt[i], "r"));
    }
    for (int i = 4; i >= 0; i--) {
      NEMB_ASSERT_OK(nemb_task_stop(rt[i], "r"));
    }
    NEMB_ASSERT_OK(nemb_task_stop(user, "u"));
  }
  for (int i = 0; i < 5; i++) {
    NEMB_ASSERT_OK(nemb_session_end(rt[i]));
    assert_int_equal(rt[i]->n_threads, 1); /* one record per thread, however often evicted */
    nemb__task_rec *recs;
    size_t n;
    NEMB_ASSERT_OK(nemb__session_tasks(rt[i], &recs, &n));
    assert_int_equal(n, 3);
    free(recs);
    nemb_session_destroy(rt[i]);
  }
  NEMB_ASSERT_OK(nemb_session_end(user));
  assert_int_equal(user->n_threads, 1);
  nemb_session_destroy(user);
}

int main(void) {
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_one_session_at_a_time, setup),
      cmocka_unit_test_setup(test_nesting_depth_and_parent, setup),
      cmocka_unit_test_setup(test_mismatched_stop_names_the_innermost, setup),
      cmocka_unit_test_setup(test_forgotten_stop_is_closed_at_end, setup),
      cmocka_unit_test_setup(test_threads_keep_their_own_stacks, setup),
      cmocka_unit_test_setup(test_default_output_file_and_csv, setup),
      cmocka_unit_test_setup(test_unwritable_output_keeps_the_report, setup),
      cmocka_unit_test_setup(test_auto_format_refuses_an_unknown_extension, setup),
      cmocka_unit_test_setup(test_no_backend_still_records, setup),
      cmocka_unit_test_setup(test_empty_names_are_refused, setup),
      cmocka_unit_test_setup(test_options_reach_the_meter, setup),
      cmocka_unit_test_setup(test_forked_child_does_not_report, setup),
      cmocka_unit_test_setup(test_records_past_several_chunks, setup),
      cmocka_unit_test_setup(test_non_exclusive_sessions_run_beside_the_active_one, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
