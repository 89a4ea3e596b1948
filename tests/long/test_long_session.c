/* test_long_session.c - a one-hour session at 1 ms, kept out of CI's default run (ctest label
 * "long"; run it with `ctest --test-dir build -L long`). NEMB_LONG_SECONDS shortens it.
 *
 * An hour is 3.6 million samples: this checks that the store grows in chunks without loss, that
 * energy stays accurate to the end, that the sampler keeps time, and what memory it all takes. */
#include <jansson.h>
#include <time.h>

#include "nemb_test.h"
#include "session.h"

static void test_one_hour(void **state) {
  (void)state;
  const char *env = getenv("NEMB_LONG_SECONDS");
  long seconds = env ? atol(env) : 3600;
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG",
         "{\"update_interval_us\":1,\"energy_unit_uj\":0.001,\"domains\":[{\"name\":\"package-0\","
         "\"waveform\":\"constant\",\"power_w\":50}]}",
         1);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  for (long i = 0; i < seconds; i++) {
    NEMB_ASSERT_OK(nemb_task_start(s, "second"));
    struct timespec ts = {0, 990000000};
    nanosleep(&ts, NULL);
    NEMB_ASSERT_OK(nemb_task_stop(s, "second"));
  }
  NEMB_ASSERT_OK(nemb_session_end(s));
  nemb_sampler_stats st;
  nemb_meter_stats(nemb_session_meter(s), &st);
  print_message("%ld s: %llu samples, %llu missed deadlines, worst lateness %.3f ms, store %zu "
                "bytes\n",
                seconds, (unsigned long long)st.samples, (unsigned long long)st.missed_deadlines,
                (double)st.worst_lateness_ns / 1e6,
                nemb__store_bytes(&nemb_session_meter(s)->store));
  assert_int_equal(st.dropped_at_cap, 0);
  assert_true(st.samples + st.missed_deadlines >= (uint64_t)seconds * 990);
  json_t *doc = json_loads(nemb_session_report_json(s), 0, NULL);
  assert_non_null(doc);
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(doc, "tasks"), i, t) {
    double e = json_number_value(json_object_get(t, "energy_j"));
    double d = json_number_value(json_object_get(t, "duration_s"));
    assert_float_equal(e, 50 * d, 50 * d * 0.0005);
  }
  json_decref(doc);
  nemb_session_destroy(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_one_hour)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
