/* test_sampler.c - the sampler thread at 1 ms: order, no silent loss, lateness bookkeeping,
 * run-time interval changes, prompt stop, and the store's cap. Runs under ThreadSanitizer in CI,
 * with readers racing the sampler on purpose. */
#include <pthread.h>
#include <time.h>

#include "meter.h"
#include "nemb_test.h"

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static nemb_meter *sim_meter(const char *config_json) {
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string(config_json ? config_json : "{}", "test", &cfg));
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(cfg, &m));
  nemb_config_destroy(cfg);
  return m;
}

typedef struct {
  nemb_meter *m;
  atomic_bool stop;
  uint64_t reads;
  uint64_t violations; /* cmocka cannot fail from another thread: count, assert in main */
} reader_arg;

/* Reads the newest sample and the latest reading over and over while the sampler writes. */
static void *reader(void *p) {
  reader_arg *a = p;
  uint64_t t, e[8], last_t = 0;
  while (!atomic_load(&a->stop)) {
    size_t n = nemb_meter_sample_count(a->m);
    if (n > 0) {
      /* the package contains the core in the default sim */
      if (nemb_meter_sample(a->m, n - 1, &t, e, 8) != 0 || e[0] < e[1]) {
        a->violations++;
      }
    }
    if (nemb_meter_latest(a->m, &t, e, 8) == 0) {
      a->violations += t < last_t;
      last_t = t;
    }
    a->reads++;
  }
  return NULL;
}

static void test_two_seconds_at_one_millisecond(void **state) {
  (void)state;
  nemb_meter *m = sim_meter(NULL);
  assert_int_equal(nemb_measurement_interval_ms(m), 1);
  NEMB_ASSERT_OK(nemb_meter_start(m));
  reader_arg a = {.m = m};
  atomic_init(&a.stop, false);
  pthread_t t;
  pthread_create(&t, NULL, reader, &a);
  sleep_ms(2000);
  NEMB_ASSERT_OK(nemb_meter_stop(m));
  atomic_store(&a.stop, true);
  pthread_join(t, NULL);
  assert_true(a.reads > 0);
  assert_int_equal(a.violations, 0);

  nemb_sampler_stats s;
  nemb_meter_stats(m, &s);
  size_t count = nemb_meter_sample_count(m);
  /* Nothing lost silently: every stored sample is counted, nothing dropped, and every deadline
   * of the 2 s is either a sample or a counted miss. */
  assert_int_equal(s.samples, count);
  assert_int_equal(s.dropped_at_cap, 0);
  assert_int_equal(s.read_errors, 0);
  uint64_t t0, tl, e[8], prev_e[8];
  nemb_meter_sample(m, 0, &t0, prev_e, 8);
  nemb_meter_sample(m, count - 1, &tl, e, 8);
  double ticks = (double)(tl - t0) / 1e6;
  print_message("samples %zu, missed %llu, late %llu, worst %.3f ms, mean %.3f ms over %.1f ms\n",
                count, (unsigned long long)s.missed_deadlines, (unsigned long long)s.late_wakeups,
                (double)s.worst_lateness_ns / 1e6, (double)s.mean_lateness_ns / 1e6, ticks);
  assert_true(ticks >= 2000);
  /* A deadline whose read showed the update already stored adds no sample (same_update). */
  double accounted = (double)(count + s.missed_deadlines + s.same_update);
  assert_true(accounted >= ticks - 2 && accounted <= ticks + 3);
  /* In order, and each gap explained by the interval and the misses. */
  uint64_t prev_t = t0;
  for (size_t i = 1; i < count; i++) {
    uint64_t ti;
    nemb_meter_sample(m, i, &ti, e, 8);
    assert_true(ti > prev_t);
    for (size_t d = 0; d < 3; d++) {
      assert_true(e[d] >= prev_e[d]);
      prev_e[d] = e[d];
    }
    prev_t = ti;
  }
  /* Lateness statistics hang together. */
  assert_true(s.worst_lateness_ns >= s.mean_lateness_ns);
  assert_true(s.late_wakeups <= s.reads);
  assert_true(s.reads >= count);
  assert_int_equal(s.interval_ns, 1000000);
  assert_false(s.running);
  nemb_meter_destroy(m);
  unsetenv("CODEGREEN_PROVIDERS");
}

static void test_interval_changes_at_run_time(void **state) {
  (void)state;
  nemb_meter *m = sim_meter(NULL);
  NEMB_ASSERT_OK(nemb_meter_start(m));
  sleep_ms(100);
  NEMB_ASSERT_OK(nemb_set_measurement_interval_ms(m, 10));
  assert_int_equal(nemb_measurement_interval_ms(m), 10);
  size_t from = nemb_meter_sample_count(m) + 1; /* skip the sample at the change itself */
  sleep_ms(500);
  NEMB_ASSERT_OK(nemb_meter_stop(m));
  size_t to = nemb_meter_sample_count(m) - 1; /* and the closing sample */
  assert_true(to > from + 10);
  /* The median gap is the new interval: deadlines are 10 ms apart and wake-ups are late by
   * similar amounts. */
  uint64_t gaps[128], t, prev, e[8];
  size_t n = 0;
  nemb_meter_sample(m, from, &prev, e, 8);
  for (size_t i = from + 1; i < to && n < 128; i++) {
    nemb_meter_sample(m, i, &t, e, 8);
    gaps[n++] = t - prev;
    prev = t;
  }
  for (size_t i = 1; i < n; i++) { /* insertion sort, n is small */
    for (size_t j = i; j > 0 && gaps[j - 1] > gaps[j]; j--) {
      uint64_t g = gaps[j];
      gaps[j] = gaps[j - 1];
      gaps[j - 1] = g;
    }
  }
  double median_ms = (double)gaps[n / 2] / 1e6;
  print_message("median gap after the change: %.3f ms over %zu gaps\n", median_ms, n);
  assert_true(median_ms > 8); /* 10 ms, not the 1 ms before (a busy machine wakes late) */
  assert_int_equal(nemb_set_measurement_interval_ms(m, 0), NEMB_ERANGE);
  assert_non_null(strstr(nemb_last_error(), "allowed 1 to 60000"));
  assert_int_equal(nemb_set_measurement_interval_ms(m, 60001), NEMB_ERANGE);
  nemb_meter_destroy(m);
  unsetenv("CODEGREEN_PROVIDERS");
}

static void test_stop_does_not_wait_for_the_next_tick(void **state) {
  (void)state;
  nemb_meter *m = sim_meter("{\"coordinator\":{\"measurement_interval_ms\":60000}}");
  NEMB_ASSERT_OK(nemb_meter_start(m));
  sleep_ms(50);
  uint64_t before = nemb_now_ns();
  NEMB_ASSERT_OK(nemb_meter_stop(m));
  /* A sampler that slept out its interval would take a minute; the ctest timeout would fire. */
  assert_true(nemb_now_ns() - before < 5000000000ull);
  /* the first sample and the closing one (with, when the counter's phase is known, one at its
   * last update before the stop) */
  assert_true(nemb_meter_sample_count(m) >= 2 && nemb_meter_sample_count(m) <= 3);
  nemb_meter_destroy(m);
  unsetenv("CODEGREEN_PROVIDERS");
}

/* At its cap the store halves its resolution instead of dropping samples: bounded memory,
 * nothing dropped, the first sample kept, the newest still arriving (issue 10, item 6). */
static void test_cap_coarsens_and_latest_keeps_moving(void **state) {
  (void)state;
  nemb_meter *m = sim_meter("{\"coordinator\":{\"max_samples\":1000}}");
  NEMB_ASSERT_OK(nemb_meter_start(m));
  uint64_t t_first, e0[8];
  NEMB_ASSERT_OK(nemb_meter_sample(m, 0, &t_first, e0, 8));
  sleep_ms(2500);
  uint64_t t_latest, e[8], t_last;
  NEMB_ASSERT_OK(nemb_meter_latest(m, &t_latest, e, 8));
  NEMB_ASSERT_OK(nemb_meter_stop(m));
  nemb_sampler_stats s;
  nemb_meter_stats(m, &s);
  size_t count = nemb_meter_sample_count(m);
  assert_true(count <= 1000);
  assert_int_equal(s.capacity, 1000);
  assert_int_equal(s.dropped_at_cap, 0);
  if (s.samples > 1000) { /* how many a busy machine managed is not the point: what it did is */
    assert_true(s.coarsened >= 1);
    assert_true(count >= 500);
  }
  uint64_t t0;
  nemb_meter_sample(m, 0, &t0, e0, 8);
  assert_int_equal(t0, t_first);
  nemb_meter_sample(m, count - 1, &t_last, e, 8);
  assert_true(t_last >= t_latest); /* the newest sample is the closing one, after the stop */
  nemb_meter_destroy(m);
  unsetenv("CODEGREEN_PROVIDERS");
}

static void test_states(void **state) {
  (void)state;
  nemb_meter *m = sim_meter(NULL);
  uint64_t t, e[8];
  assert_int_equal(nemb_meter_latest(m, &t, e, 8), NEMB_ESTATE);
  assert_int_equal(nemb_meter_stop(m), NEMB_ESTATE);
  assert_int_equal(nemb_meter_sample(m, 0, &t, e, 8), NEMB_EINVAL);
  assert_int_equal(nemb_meter_latest(m, &t, e, 1), NEMB_EINVAL); /* too small for 3 domains */
  NEMB_ASSERT_OK(nemb_meter_start(m));
  assert_true(nemb_meter_sample_count(m) >= 1); /* the first sample exists at once */
  assert_int_equal(nemb_meter_start(m), NEMB_ESTATE);
  NEMB_ASSERT_OK(nemb_meter_stop(m));
  assert_int_equal(nemb_meter_start(m), NEMB_ESTATE);
  nemb_meter_destroy(m);
  nemb_meter_destroy(NULL);
  unsetenv("CODEGREEN_PROVIDERS");
}

static void test_read_errors_are_counted_and_lose_no_energy(void **state) {
  (void)state;
  /* A real provider over a fixture tree whose counter turns to garbage for a while. */
  char root[4096];
  nemb_test_copy_fixture("amd-epyc", root, sizeof root);
  setenv("CODEGREEN_SYSFS_ROOT", root, 1);
  setenv("CODEGREEN_PROVIDERS", "powercap", 1);
  const char *counter = "sys/devices/virtual/powercap/intel-rapl/intel-rapl:0/energy_uj";
  nemb_test_write(root, counter, "1000000\n");
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(nemb__config_defaults(), &m));
  NEMB_ASSERT_OK(nemb_meter_start(m));
  sleep_ms(30);
  nemb_test_write(root, counter, "garbage\n");
  sleep_ms(30);
  nemb_test_write(root, counter, "1500000\n"); /* 0.5 J later */
  sleep_ms(30);
  NEMB_ASSERT_OK(nemb_meter_stop(m));
  nemb_sampler_stats s;
  nemb_meter_stats(m, &s);
  assert_true(s.read_errors > 0);
  /* The failed reads repeat the previous value; the next good read brings the whole 0.5 J. */
  uint64_t t, e;
  NEMB_ASSERT_OK(nemb_meter_sample(m, nemb_meter_sample_count(m) - 1, &t, &e, 1));
  assert_int_equal(e, 500000);
  nemb_meter_destroy(m);
  nemb_test_rmtree(root);
  unsetenv("CODEGREEN_SYSFS_ROOT");
  unsetenv("CODEGREEN_PROVIDERS");
}

/* A reference counter that never changes (the fixture's powercap files are static, as an idle or
 * frozen counter reads) has no update to learn: the sampler must not read it eight times a
 * period looking for one (it did: 4.5 reads per sample, a fifth of a core), nor probe it. */
static void test_a_frozen_counter_is_not_read_densely(void **state) {
  (void)state;
  nemb_test_use_fixture("intel-server-2s");
  setenv("CODEGREEN_PROVIDERS", "powercap", 1);
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(NULL, &m));
  NEMB_ASSERT_OK(nemb_meter_start(m));
  sleep_ms(300);
  nemb_sampler_stats st;
  NEMB_ASSERT_OK(nemb_meter_stats(m, &st));
  nemb_meter_destroy(m);
  unsetenv("CODEGREEN_SYSFS_ROOT");
  unsetenv("CODEGREEN_PROVIDERS");
  assert_true(st.samples > 0);
  assert_int_equal(st.probes, 0);
}

int main(void) {
  unsetenv("CODEGREEN_CONFIG");
  unsetenv("CODEGREEN_SIM_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_seconds_at_one_millisecond),
      cmocka_unit_test(test_interval_changes_at_run_time),
      cmocka_unit_test(test_stop_does_not_wait_for_the_next_tick),
      cmocka_unit_test(test_cap_coarsens_and_latest_keeps_moving),
      cmocka_unit_test(test_states),
      cmocka_unit_test(test_read_errors_are_counted_and_lose_no_energy),
      cmocka_unit_test(test_a_frozen_counter_is_not_read_densely),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
