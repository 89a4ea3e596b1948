/*
 * test_job.c - a process's place in a parallel job (job.c), and the node-local leader and its
 * followers (node.c), across two real processes on the sim provider.
 */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <time.h>

#include "job.h"
#include "meter.h"
#include "nemb_test.h"
#include <sys/stat.h>

static const char *const job_vars[] = {"OMPI_COMM_WORLD_RANK",
                                       "OMPI_COMM_WORLD_LOCAL_RANK",
                                       "OMPI_COMM_WORLD_SIZE",
                                       "OMPI_MCA_ess_base_jobid",
                                       "PMIX_RANK",
                                       "PMIX_NAMESPACE",
                                       "PMI_RANK",
                                       "PMI_SIZE",
                                       "PMI_KVSNAME",
                                       "MPI_LOCALRANKID",
                                       "PMI_LOCAL_RANK",
                                       "SLURM_PROCID",
                                       "SLURM_LOCALID",
                                       "SLURM_NTASKS",
                                       "SLURM_JOB_ID",
                                       "SLURM_STEP_ID",
                                       "CODEGREEN_JOB_ID",
                                       "CODEGREEN_NODE_LEADER",
                                       NULL};

static int clear_env(void **state) {
  (void)state;
  for (size_t i = 0; job_vars[i] != NULL; i++) {
    unsetenv(job_vars[i]);
  }
  return 0;
}

static void test_not_in_a_job(void **state) {
  (void)state;
  nemb__job job;
  nemb__job_detect(&job);
  assert_false(job.present);
  char buf[64] = "untouched";
  assert_int_equal(nemb_job_default_output("json", buf, sizeof buf), NEMB_ENOENT);
  assert_string_equal(buf, "untouched");
}

static void test_open_mpi(void **state) {
  (void)state;
  setenv("OMPI_COMM_WORLD_RANK", "3", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "8", 1);
  setenv("OMPI_MCA_ess_base_jobid", "12345", 1);
  setenv("SLURM_PROCID", "7", 1); /* Open MPI's own rank wins */
  nemb__job job;
  nemb__job_detect(&job);
  assert_true(job.present);
  assert_int_equal(job.rank, 3);
  assert_int_equal(job.local_rank, 1);
  assert_int_equal(job.size, 8);
  assert_string_equal(job.launcher, "openmpi");
  assert_string_equal(job.id, "12345");
  char buf[128];
  NEMB_ASSERT_OK(nemb_job_default_output("json", buf, sizeof buf));
  assert_string_equal(buf, "codegreen_12345_3.json");
}

static void test_slurm_and_mpich(void **state) {
  (void)state;
  setenv("SLURM_PROCID", "2", 1);
  setenv("SLURM_LOCALID", "0", 1);
  setenv("SLURM_NTASKS", "4", 1);
  setenv("SLURM_JOB_ID", "991", 1);
  setenv("SLURM_STEP_ID", "4", 1);
  nemb__job job;
  nemb__job_detect(&job);
  assert_string_equal(job.launcher, "slurm");
  assert_int_equal(job.rank, 2);
  assert_string_equal(job.id, "991.4"); /* two steps of a job never share files */
  setenv("PMI_RANK", "5", 1);
  setenv("MPI_LOCALRANKID", "1", 1);
  nemb__job_detect(&job);
  assert_string_equal(job.launcher, "pmi");
  assert_int_equal(job.rank, 5);
  assert_int_equal(job.local_rank, 1);
  assert_string_equal(job.id, "991.4"); /* under srun the Slurm job id still names the job */
  /* An override, reduced to characters that can name a file. */
  setenv("CODEGREEN_JOB_ID", "exp/1 a", 1);
  nemb__job_detect(&job);
  assert_string_equal(job.id, "exp_1_a");
  /* A malformed rank is not a rank. */
  clear_env(NULL);
  setenv("PMI_RANK", "x1", 1);
  nemb__job_detect(&job);
  assert_false(job.present);
}

static const char sim_constant[] =
    "{\"update_interval_us\":1000,\"domains\":[{\"name\":\"package-0\",\"kind\":\"cpu_package\","
    "\"waveform\":\"constant\",\"power_w\":20}]}";

static nemb_session *begin(int exclusive) {
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.exclusive = exclusive;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  return s;
}

static json_t *end(nemb_session *s) {
  NEMB_ASSERT_OK(nemb_session_end(s));
  json_t *r = json_loads(nemb_session_report_json(s), 0, NULL);
  assert_non_null(r);
  return r;
}

static double job_number(const json_t *r, const char *key) {
  return json_number_value(
      json_object_get(json_object_get(json_object_get(r, "meta"), "job"), key));
}

static const char *job_string(const json_t *r, const char *key) {
  return json_string_value(
      json_object_get(json_object_get(json_object_get(r, "meta"), "job"), key));
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The child: a follower. Exits 0 when its report is what a follower's must be. */
static int follower(int ready_fd, int begun_fd) {
  char c;
  if (read(ready_fd, &c, 1) != 1) {
    return 10;
  }
  setenv("OMPI_COMM_WORLD_RANK", "1", 1);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  nemb_session *s = NULL;
  if (nemb_session_begin(&o, &s) != 0) {
    return 11;
  }
  /* Tell the leader we follow: only then may it end (a rank that begins while its leader is
   * already ending samples for itself, which is another test). */
  bool follows = nemb_session_meter(s) == NULL; /* a follower samples nothing */
  if (write(begun_fd, "x", 1) != 1 || !follows) {
    nemb_session_destroy(s);
    return 17;
  }
  nemb_task_start(s, "work");
  sleep_ms(150);
  nemb_task_stop(s, "work");
  if (nemb_session_end(s) != 0) {
    return 12;
  }
  json_t *r = json_loads(nemb_session_report_json(s), 0, NULL);
  int code = 0;
  const char *role = job_string(r, "role");
  json_t *task = json_array_get(json_object_get(r, "tasks"), 0);
  double e = json_number_value(json_object_get(task, "energy_j"));
  double d = json_number_value(json_object_get(task, "duration_s"));
  const char *source =
      json_string_value(json_object_get(json_object_get(r, "meta"), "energy_source"));
  if (role == NULL || strcmp(role, "follower") != 0) {
    code = 13;
  } else if (!(d > 0.1) || fabs(e - 20 * d) > 0.01 * 20 * d + 0.01) {
    code = 14; /* its task's energy comes from the leader's samples */
  } else if (source == NULL || strcmp(source, "simulated") != 0) {
    code = 15;
  } else if ((long)job_number(r, "sampled_by_pid") != (long)getppid()) {
    code = 16;
  }
  /* Its window, for the leader's node window to be checked against. */
  const json_t *win =
      json_object_get(json_object_get(json_object_get(r, "meta"), "job"), "window_mono_ns");
  uint64_t w[2] = {(uint64_t)json_integer_value(json_array_get(win, 0)),
                   (uint64_t)json_integer_value(json_array_get(win, 1))};
  if (write(begun_fd, w, sizeof w) != (ssize_t)sizeof w) {
    code = code ? code : 18;
  }
  json_decref(r);
  nemb_session_destroy(s);
  return code;
}

static void test_leader_and_follower(void **state) {
  (void)state;
  char dir[256], job[64];
  nemb_test_mkdtemp(dir, sizeof dir);
  snprintf(job, sizeof job, "unit%d", (int)getpid());
  setenv("CODEGREEN_NODE_DIR", dir, 1);
  setenv("CODEGREEN_JOB_ID", job, 1);
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG", sim_constant, 1);
  setenv("OMPI_COMM_WORLD_RANK", "0", 1);
  int ready[2], begun[2];
  assert_int_equal(pipe(ready), 0);
  assert_int_equal(pipe(begun), 0);
  /* Fork before any thread exists; the child begins once the parent leads. */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(ready[1]);
    close(begun[0]);
    _exit(follower(ready[0], begun[1]));
  }
  close(ready[0]);
  close(begun[1]);
  nemb_session *s = begin(1);
  assert_non_null(nemb_session_meter(s)); /* the leader samples */
  assert_int_equal(write(ready[1], "x", 1), 1);
  close(ready[1]);
  char c;
  assert_int_equal(read(begun[0], &c, 1), 1);
  /* The leader ends first; its end waits for the follower to have its samples. */
  json_t *r = end(s);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  uint64_t fw[2];
  assert_int_equal(read(begun[0], fw, sizeof fw), sizeof fw);
  close(begun[0]);
  assert_string_equal(job_string(r, "role"), "leader");
  const json_t *jm = json_object_get(json_object_get(r, "meta"), "job");
  const json_t *win = json_object_get(jm, "node_window_mono_ns");
  const json_t *own = json_object_get(jm, "window_mono_ns");
  /* The node window is the ranks' span: from the leader's begin (the follower began later) to
   * the follower's end (the leader ended first), not to the moment the follower let go. */
  assert_int_equal(json_integer_value(json_array_get(win, 0)),
                   json_integer_value(json_array_get(own, 0)));
  assert_int_equal(json_integer_value(json_array_get(win, 1)), (json_int_t)fw[1]);
  double window_s =
      (json_number_value(json_array_get(win, 1)) - json_number_value(json_array_get(win, 0))) / 1e9;
  assert_true(window_s > 0.15); /* it held on until the follower's 150 ms task was done */
  double node_j = job_number(r, "node_energy_j");
  assert_true(fabs(node_j - 20 * window_s) <= 0.01 * 20 * window_s + 0.01);
  json_decref(r);
  nemb_session_destroy(s);
  /* The leader removed the samples (32 B each: over 100 MB an hour) and the followers' file;
   * the empty lock stays. */
  char path[512];
  struct stat st;
  snprintf(path, sizeof path, "%s/codegreen-%u-%s.samples", dir, (unsigned)getuid(), job);
  assert_int_equal(stat(path, &st), -1);
  snprintf(path, sizeof path, "%s/codegreen-%u-%s.followers", dir, (unsigned)getuid(), job);
  assert_int_equal(stat(path, &st), -1);
  snprintf(path, sizeof path, "%s/codegreen-%u-%s.lock", dir, (unsigned)getuid(), job);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, 0);

  /* Afterwards the lock is free: the next session on the node leads again. */
  s = begin(1);
  assert_non_null(nemb_session_meter(s));
  r = end(s);
  assert_string_equal(job_string(r, "role"), "leader");
  json_decref(r);
  nemb_session_destroy(s);
  unsetenv("CODEGREEN_NODE_DIR");
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("CODEGREEN_SIM_CONFIG");
}

/* The child: a leader that begins, says so, and waits to be killed. */
static void doomed_leader(int led_fd) {
  setenv("OMPI_COMM_WORLD_RANK", "0", 1);
  nemb_session *s = begin(1);
  if (nemb_session_meter(s) == NULL || write(led_fd, "x", 1) != 1) {
    _exit(20);
  }
  for (;;) {
    pause();
  }
}

/* Forks a doomed_leader() (before any thread of this process) and returns its pid once it leads. */
static pid_t fork_doomed_leader(void) {
  int led[2];
  assert_int_equal(pipe(led), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(led[0]);
    doomed_leader(led[1]);
  }
  close(led[1]);
  char c;
  assert_int_equal(read(led[0], &c, 1), 1);
  close(led[0]);
  return pid;
}

static const json_t *meta_of(const json_t *r, const char *key) {
  return json_object_get(json_object_get(r, "meta"), key);
}

/* A follower whose leader is killed mid-run: it was stuck 60 s for a dead leader, then reported
 * the leader's 0.3 s of samples for its 1.5 s as "ok" (about 20 % of the energy). Now it sees
 * the leader gone (its lock released), samples for itself from then on, and reports the whole
 * window: the sim's 20 W times its duration, within the uncertainty it states for the span
 * between the two samplers, with the verdict "degraded" and why. When it cannot sample for
 * itself (its providers fail), it reports no energy rather than the part the leader covered. */
/* The child: a rank that begins once told (@p go_fd), after the first leader died, so it leads
 * in its stead; says so (@p led_fd) and ends. */
static int successor(int go_fd, int led_fd) {
  char c;
  if (read(go_fd, &c, 1) != 1) {
    return 30;
  }
  setenv("OMPI_COMM_WORLD_RANK", "2", 1);
  nemb_session *s = begin(1);
  int code = nemb_session_meter(s) == NULL ? 31 : 0; /* it leads */
  if (write(led_fd, "x", 1) != 1) {
    code = 32;
  }
  sleep_ms(50);
  if (nemb_session_end(s) != 0) {
    code = code ? code : 33;
  }
  nemb_session_destroy(s);
  return code;
}

/* With @p successor_too, a rank begins after the leader died and leads in its stead, before the
 * follower's end (it writes a new sample file: the follower still has the old leader's). */
static void run_follower_of_doomed_leader(bool can_sample, bool successor_too, json_t **out) {
  int go[2] = {-1, -1}, took[2] = {-1, -1};
  pid_t next = -1;
  if (successor_too) {
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(took), 0);
    next = fork(); /* before any thread of this process */
    assert_true(next >= 0);
    if (next == 0) {
      close(go[1]);
      close(took[0]);
      _exit(successor(go[0], took[1]));
    }
    close(go[0]);
    close(took[1]);
  }
  pid_t pid = fork_doomed_leader();
  setenv("OMPI_COMM_WORLD_RANK", "1", 1);
  if (!can_sample) {
    /* Read only when the rank takes over (a follower opens no provider at its begin); set
     * here, before the watcher thread exists, never while it may read the environment. */
    setenv("CODEGREEN_PROVIDERS", "nosuchprovider", 1);
  }
  nemb_session *s = begin(1);
  assert_null(nemb_session_meter(s)); /* a follower */
  nemb_task_start(s, "work");
  sleep_ms(100);
  assert_int_equal(kill(pid, SIGKILL), 0);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  sleep_ms(100);
  if (successor_too) {
    char c;
    assert_int_equal(write(go[1], "x", 1), 1);
    assert_int_equal(read(took[0], &c, 1), 1); /* the new leader began */
    close(go[1]);
    close(took[0]);
  }
  sleep_ms(200);
  nemb_task_stop(s, "work");
  *out = end(s);
  if (successor_too) {
    assert_int_equal(waitpid(next, &status, 0), next);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  nemb_session_destroy(s);
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  char path[512];
  snprintf(path, sizeof path, "pid %ld", (long)pid);
  const char *text =
      can_sample ? job_string(*out, "note") : json_string_value(meta_of(*out, "backend_error"));
  assert_non_null(text);
  assert_non_null(strstr(text, path)); /* names the leader */
}

static void test_follower_of_a_dead_leader(void **state) {
  (void)state;
  char dir[256], job[64];
  nemb_test_mkdtemp(dir, sizeof dir);
  snprintf(job, sizeof job, "dead%d", (int)getpid());
  setenv("CODEGREEN_NODE_DIR", dir, 1);
  setenv("CODEGREEN_JOB_ID", job, 1);
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG", sim_constant, 1);
  json_t *r = NULL;
  run_follower_of_doomed_leader(true, false, &r);
  json_t *task = json_array_get(json_object_get(r, "tasks"), 0);
  double e = json_number_value(json_object_get(task, "energy_j"));
  double d = json_number_value(json_object_get(task, "duration_s"));
  double unc = json_number_value(json_object_get(task, "energy_uncertainty_j"));
  assert_true(d > 0.35);
  assert_true(unc > 0 && unc < 0.2 * 20 * d); /* the span between the samplers, not the run */
  assert_true(fabs(e - 20 * d) <=
              unc + 0.01 * 20 * d); /* the whole window, not the leader's part */
  json_t *cause = json_object_get(task, "energy_uncertainty_cause");
  bool joined = false;
  for (size_t i = 0; i < json_array_size(cause); i++) {
    joined = joined || strcmp(json_string_value(json_array_get(cause, i)), "samplers_joined") == 0;
  }
  assert_true(joined);
  assert_string_equal(json_string_value(meta_of(r, "measurement_quality")), "degraded");
  /* The verdict says why: the unmeasured span between the two samplers. */
  const char *reason = json_string_value(meta_of(r, "measurement_quality_reason"));
  assert_non_null(reason);
  assert_non_null(strstr(reason, "between two samplers' samples is not measured"));
  assert_non_null(strstr(reason, "this rank sampled for itself"));
  assert_string_equal(job_string(r, "role"), "self"); /* its node energy is its own window's */
  assert_true(fabs(job_number(r, "node_energy_j") - e) < 0.05 * e);
  const json_t *warnings = json_object_get(meta_of(r, "sampler"), "warnings");
  assert_non_null(strstr(json_string_value(json_array_get(warnings, 0)), "no sample covers"));
  json_decref(r);

  /* The leader's lock is free again: the next rank leads; then one that cannot sample. */
  snprintf(job, sizeof job, "dead2%d", (int)getpid());
  setenv("CODEGREEN_JOB_ID", job, 1);
  run_follower_of_doomed_leader(false, false, &r);
  assert_string_equal(json_string_value(meta_of(r, "measurement_quality")), "no_backend");
  /* Timings only (energy 0 under "no_backend"), rather than the leader's 0.1 s of the 0.4 s. */
  assert_true(json_number_value(json_object_get(json_array_get(json_object_get(r, "tasks"), 0),
                                                "energy_j")) == 0);
  const char *why = json_string_value(meta_of(r, "backend_error"));
  assert_non_null(strstr(why, "could not sample for itself"));
  json_decref(r);
  unsetenv("CODEGREEN_NODE_DIR");
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("CODEGREEN_SIM_CONFIG");
}

/* A follower whose leader died, with a rank that began afterwards and leads in the dead one's
 * stead before the follower's end: the follower still joins the dead leader's samples with its
 * own. (The new leader truncated the shared sample file, so the follower found none of the old
 * leader's samples and reported no energy: "no_backend".) */
static void test_follower_of_a_dead_leader_with_a_successor(void **state) {
  (void)state;
  char dir[256], job[64];
  nemb_test_mkdtemp(dir, sizeof dir);
  snprintf(job, sizeof job, "succ%d", (int)getpid());
  setenv("CODEGREEN_NODE_DIR", dir, 1);
  setenv("CODEGREEN_JOB_ID", job, 1);
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG", sim_constant, 1);
  json_t *r = NULL;
  run_follower_of_doomed_leader(true, true, &r);
  assert_string_equal(json_string_value(meta_of(r, "measurement_quality")), "degraded");
  assert_string_equal(job_string(r, "role"), "self");
  json_t *task = json_array_get(json_object_get(r, "tasks"), 0);
  double e = json_number_value(json_object_get(task, "energy_j"));
  double d = json_number_value(json_object_get(task, "duration_s"));
  double unc = json_number_value(json_object_get(task, "energy_uncertainty_j"));
  assert_true(d > 0.35);
  assert_true(fabs(e - 20 * d) <= unc + 0.01 * 20 * d); /* the whole window */
  json_decref(r);
  unsetenv("CODEGREEN_NODE_DIR");
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("CODEGREEN_SIM_CONFIG");
}

static void on_alarm(int sig) {
  nemb_session_interrupt_wait(sig);
}

/* A follower whose leader is stopped (SIGSTOP: it holds its lock, publishes nothing) waits at its
 * end for samples that do not come; a signal cuts that wait short (it went on to the end of
 * mpi.node_leader_wait_s, 60 s), and the report says what was observed: the leader never seen
 * gone (it said "gone only after this rank's end"). */
static void test_follower_of_a_stopped_leader_is_interrupted(void **state) {
  (void)state;
  char dir[256], job[64];
  nemb_test_mkdtemp(dir, sizeof dir);
  snprintf(job, sizeof job, "stop%d", (int)getpid());
  setenv("CODEGREEN_NODE_DIR", dir, 1);
  setenv("CODEGREEN_JOB_ID", job, 1);
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG", sim_constant, 1);
  pid_t pid = fork_doomed_leader();
  setenv("OMPI_COMM_WORLD_RANK", "1", 1);
  nemb_session *s = begin(1);
  assert_null(nemb_session_meter(s)); /* a follower */
  nemb_task_start(s, "work");
  sleep_ms(100);
  assert_int_equal(kill(pid, SIGSTOP), 0);
  sleep_ms(100);
  nemb_task_stop(s, "work");
  struct sigaction sa = {.sa_handler = on_alarm}, old;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
  alarm(1); /* during the end's wait for the leader */
  json_t *r = end(s);
  alarm(0);
  sigaction(SIGALRM, &old, NULL);
  nemb_session_destroy(s);
  kill(pid, SIGKILL);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_string_equal(json_string_value(meta_of(r, "measurement_quality")), "no_backend");
  const char *why = json_string_value(meta_of(r, "backend_error"));
  assert_non_null(why);
  char sig[32];
  snprintf(sig, sizeof sig, "signal %d", SIGALRM);
  assert_non_null(strstr(why, sig));
  assert_non_null(strstr(why, "cut short this rank's wait"));
  assert_non_null(strstr(why, "the leader was never seen gone"));
  assert_null(strstr(why, "gone only after this rank's end"));
  json_decref(r);
  unsetenv("CODEGREEN_NODE_DIR");
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("CODEGREEN_SIM_CONFIG");
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* A leader whose store compacts (the cap reached: it keeps every other sample) goes on
 * publishing: the samples stored after the compaction reach the file in time order. (The file was
 * written by store index, so it stood still until the store grew back past the old count, and
 * the samples meanwhile never reached it.) Checked by content: every sample the store holds, up
 * to the file's last, is in the file. */
static void test_leader_publishes_across_a_compaction(void **state) {
  (void)state;
  char dir[256], job[64], path[512];
  nemb_test_mkdtemp(dir, sizeof dir);
  snprintf(job, sizeof job, "compact%d", (int)getpid());
  setenv("CODEGREEN_NODE_DIR", dir, 1);
  setenv("CODEGREEN_JOB_ID", job, 1);
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG", sim_constant, 1);
  setenv("OMPI_COMM_WORLD_RANK", "0", 1);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.exclusive = 1;
  o.buffer_samples = 1000; /* the least cap: a compaction after about a second at 1 ms */
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  nemb_meter *m = nemb_session_meter(s);
  assert_non_null(m);
  snprintf(path, sizeof path, "%s/codegreen-%u-%s.samples", dir, (unsigned)getuid(), job);
  /* Past the first compaction, and then until the file holds a sample stored after it. */
  uint64_t newest = 0;
  for (int i = 0; i < 6000 && newest == 0; i++) {
    if (nemb__store_coarsened(&m->store) > 0) {
      size_t n = nemb__store_count(&m->store);
      newest = nemb__store_at(&m->store, n - 1)[0];
    } else {
      sleep_ms(10);
    }
  }
  assert_true(newest > 0);
  static uint64_t file_t[20000];
  long in_file = 0;
  for (int i = 0; i < 6000; i++) {
    in_file = nemb__node_file_times(path, file_t, 20000);
    if (in_file > 0 && in_file <= 20000 && file_t[in_file - 1] >= newest) {
      break;
    }
    sleep_ms(10);
  }
  assert_true(in_file > 0 && in_file <= 20000);
  assert_true(file_t[in_file - 1] >= newest);
  for (long i = 1; i < in_file; i++) {
    assert_true(file_t[i] > file_t[i - 1]); /* in time order, none twice */
  }
  pthread_rwlock_rdlock(&m->store.lock);
  size_t n = nemb__store_count(&m->store), missing = 0, checked = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t t = nemb__store_at(&m->store, i)[0];
    if (t <= file_t[in_file - 1]) {
      checked++;
      missing += bsearch(&t, file_t, (size_t)in_file, sizeof t, cmp_u64) == NULL;
    }
  }
  pthread_rwlock_unlock(&m->store.lock);
  assert_true(checked > 100);
  assert_int_equal(missing, 0);
  json_t *r = end(s);
  assert_string_equal(job_string(r, "role"), "leader");
  json_decref(r);
  nemb_session_destroy(s);
  unsetenv("CODEGREEN_NODE_DIR");
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("CODEGREEN_SIM_CONFIG");
}

static void test_self_sampling(void **state) {
  (void)state;
  char dir[256];
  nemb_test_mkdtemp(dir, sizeof dir);
  setenv("CODEGREEN_NODE_DIR", dir, 1);
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG", sim_constant, 1);
  setenv("PMI_RANK", "0", 1);
  setenv("CODEGREEN_JOB_ID", "selfjob", 1);
  /* Switched off: the rank samples for itself and says why. */
  setenv("CODEGREEN_NODE_LEADER", "0", 1);
  nemb_session *s = begin(1);
  assert_non_null(nemb_session_meter(s));
  /* Past a few of the sim counter's ~1 ms updates: a session that ends before the counter
   * moved has, rightly, no energy (a loaded machine under ASan got there). */
  sleep_ms(20);
  json_t *r = end(s);
  assert_string_equal(job_string(r, "role"), "self");
  assert_non_null(strstr(job_string(r, "note"), "CODEGREEN_NODE_LEADER=0"));
  assert_true(job_number(r, "node_energy_j") > 0);
  json_decref(r);
  nemb_session_destroy(s);
  /* A value that is neither is refused with both choices, never taken as the default: the
   * session goes on without energy, saying why (as for any backend that cannot be used). */
  setenv("CODEGREEN_NODE_LEADER", "banana", 1);
  s = begin(1);
  assert_null(nemb_session_meter(s));
  r = end(s);
  const char *why = json_string_value(json_object_get(json_object_get(r, "meta"), "backend_error"));
  assert_non_null(why);
  assert_non_null(strstr(why, "CODEGREEN_NODE_LEADER=banana: use 1"));
  json_decref(r);
  nemb_session_destroy(s);
  unsetenv("CODEGREEN_NODE_LEADER");
  /* A non-exclusive session (the instrumenter's runtime beside a Session) never leads. */
  s = begin(0);
  r = end(s);
  assert_string_equal(job_string(r, "role"), "self");
  json_decref(r);
  nemb_session_destroy(s);
  unsetenv("CODEGREEN_NODE_DIR");
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("CODEGREEN_SIM_CONFIG");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_not_in_a_job, clear_env),
      cmocka_unit_test_setup(test_open_mpi, clear_env),
      cmocka_unit_test_setup(test_slurm_and_mpich, clear_env),
      cmocka_unit_test_setup(test_leader_and_follower, clear_env),
      cmocka_unit_test_setup(test_self_sampling, clear_env),
      cmocka_unit_test_setup(test_leader_publishes_across_a_compaction, clear_env),
      cmocka_unit_test_setup(test_follower_of_a_dead_leader, clear_env),
      cmocka_unit_test_setup(test_follower_of_a_dead_leader_with_a_successor, clear_env),
      cmocka_unit_test_setup(test_follower_of_a_stopped_leader_is_interrupted, clear_env),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
