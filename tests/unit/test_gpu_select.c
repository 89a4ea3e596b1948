/*
 * test_gpu_select.c - the GPUs of a Slurm job step, as the SPANK plugin hands them to the NVML
 * provider's device selection (src/slurm/gpu_select.c).
 */
#include <jansson.h>

#include "gpu_select.h"
#include "nemb_test.h"

static char *dump(const json_t *v) {
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  assert_non_null(s);
  return s;
}

static void expect(json_t *v, const char *text) {
  char *s = dump(v);
  assert_string_equal(s, text);
  free(s);
  json_decref(v);
}

static void test_order_of_sources(void **state) {
  (void)state;
  const char *src = NULL;
  /* SLURM_JOB_GPUS (physical, as slurmstepd's NVML sees them) wins over the job's view. */
  expect(cg_gpu_select("0,2", "0,1", NULL, &src), "[\"0\",\"2\"]");
  assert_string_equal(src, "SLURM_JOB_GPUS");
  expect(cg_gpu_select(NULL, " GPU-8a2f , 3 ", "5", &src), "[\"GPU-8a2f\",\"3\"]");
  assert_string_equal(src, "CUDA_VISIBLE_DEVICES");
  expect(cg_gpu_select("", "", "MIG-1,MIG-2", &src), "[\"MIG-1\",\"MIG-2\"]");
  assert_string_equal(src, "NVIDIA_VISIBLE_DEVICES");
}

static void test_all_and_none(void **state) {
  (void)state;
  const char *src = "x";
  assert_null(cg_gpu_select(NULL, NULL, NULL, &src)); /* not restricted */
  assert_null(src);
  assert_null(cg_gpu_select(NULL, NULL, "all", &src));
  assert_string_equal(src, "NVIDIA_VISIBLE_DEVICES");
  expect(cg_gpu_select(NULL, "NoDevFiles", NULL, &src), "[]"); /* Slurm: no GPU given */
  expect(cg_gpu_select(NULL, NULL, "void", &src), "[]");
  expect(cg_gpu_select(",,", NULL, NULL, &src), "[]");
}

static void test_apply(void **state) {
  (void)state;
  json_t *conf = json_loads("{\"providers\":{\"list\":\"nvml\",\"nvml\":{\"devices\":[\"9\"]}},"
                            "\"coordinator\":{\"measurement_interval_ms\":5}}",
                            0, NULL);
  const char *src;
  assert_int_equal(cg_gpu_apply(conf, cg_gpu_select("1", NULL, NULL, &src)), 0);
  char *s = dump(conf);
  assert_string_equal(s, "{\"providers\":{\"list\":\"nvml\",\"nvml\":{\"devices\":\"1\"}},"
                         "\"coordinator\":{\"measurement_interval_ms\":5}}");
  free(s);
  json_decref(conf);
  conf = json_object();
  assert_int_equal(cg_gpu_apply(conf, cg_gpu_select(NULL, "0", NULL, &src)), 0);
  s = dump(conf);
  assert_string_equal(s, "{\"providers\":{\"nvml\":{\"devices\":\"0\"}}}");
  free(s);
  json_decref(conf);
  /* The result is a config the library accepts, in the provider's comma-separated form. */
  conf = json_object();
  cg_gpu_apply(conf, cg_gpu_select("0,1", NULL, NULL, &src));
  s = dump(conf);
  assert_string_equal(s, "{\"providers\":{\"nvml\":{\"devices\":\"0,1\"}}}");
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string(s, "test", &cfg));
  nemb_config_destroy(cfg);
  free(s);
  json_decref(conf);
  /* No GPU given: "none", never "" (which would mean every GPU). */
  conf = json_object();
  assert_int_equal(cg_gpu_apply(conf, cg_gpu_select(NULL, "NoDevFiles", NULL, &src)), 0);
  s = dump(conf);
  assert_string_equal(s, "{\"providers\":{\"nvml\":{\"devices\":\"none\"}}}");
  free(s);
  json_decref(conf);
  json_t *arr = json_array();
  assert_int_equal(cg_gpu_apply(arr, json_array()), -1);
  json_decref(arr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_of_sources),
      cmocka_unit_test(test_all_and_none),
      cmocka_unit_test(test_apply),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
