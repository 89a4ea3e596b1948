/*
 * test_nvml.c - the NVML provider against the fake NVML library the tests build
 * (tests/fake_nvml/fake_nvml.c; ctest passes its path in NEMB_FAKE_NVML): GPUs with and without
 * an energy counter, integrated power from the field API and from nvmlDeviceGetPowerUsage, init
 * failures, a missing library, a meter with its sampler, and `codegreen info` showing the GPUs.
 * The real library is checked on a GPU machine when one is lent (see the report of issue 7).
 */
#include "nemb_test.h"

#ifdef NEMB_WITH_NVML

#include <dlfcn.h>
#include <jansson.h>
#include <math.h>

extern const struct nemb__provider_ops nemb__provider_nvml;

static char why[1024];
static void *fake; /* the fake library, held open so its state survives the provider's dlclose */
static void (*set_energy_mj)(unsigned, long long);
static void (*set_power_mw)(unsigned, long long);
static int (*live)(void);
static void (*release_hang)(void);
static int (*hung_calls)(void);
static void (*hang_now)(void);
static long long (*last_energy_ns)(void);
static long long (*first_lost_ns)(unsigned);
static long long (*last_good_ns)(unsigned);

static int group_setup(void **state) {
  (void)state;
  const char *path = getenv("NEMB_FAKE_NVML");
  fake = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (fake == NULL) {
    print_error("cannot load %s: %s\n", path, dlerror());
    return -1;
  }
  void *p = dlsym(fake, "fake_nvml_set_energy_mj");
  memcpy(&set_energy_mj, &p, sizeof p);
  p = dlsym(fake, "fake_nvml_set_power_mw");
  memcpy(&set_power_mw, &p, sizeof p);
  p = dlsym(fake, "fake_nvml_live");
  memcpy(&live, &p, sizeof p);
  p = dlsym(fake, "fake_nvml_release");
  memcpy(&release_hang, &p, sizeof p);
  p = dlsym(fake, "fake_nvml_hung");
  memcpy(&hung_calls, &p, sizeof p);
  p = dlsym(fake, "fake_nvml_hang_now");
  memcpy(&hang_now, &p, sizeof p);
  p = dlsym(fake, "fake_nvml_last_energy_ns");
  memcpy(&last_energy_ns, &p, sizeof p);
  p = dlsym(fake, "fake_nvml_first_lost_ns");
  memcpy(&first_lost_ns, &p, sizeof p);
  p = dlsym(fake, "fake_nvml_last_good_ns");
  memcpy(&last_good_ns, &p, sizeof p);
  return set_energy_mj && set_power_mw && live && release_hang && hung_calls && hang_now &&
                 first_lost_ns && last_good_ns
             ? 0
             : -1;
}

static int group_teardown(void **state) {
  (void)state;
  if (fake != NULL) {
    dlclose(fake);
  }
  return 0;
}

static int setup(void **state) {
  (void)state;
  setenv("CODEGREEN_NVML_LIB", getenv("NEMB_FAKE_NVML"), 1);
  unsetenv("CODEGREEN_SYSFS_ROOT");
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("FAKE_NVML_INIT");
  setenv("FAKE_NVML_DEVICES", "energy:250", 1);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  release_hang(); /* a test that failed while the fake driver hung must not stall the next */
  for (int k = 0; k < 5000 && live() != 0; k++) {
    usleep(1000); /* a reading thread left behind closes NVML once its call returns */
  }
  assert_int_equal(live(), 0); /* every nvmlInit_v2 was matched by nvmlShutdown */
  return 0;
}

static int open_nvml(void **st) {
  nemb__provider_env env = {nemb__config_defaults()};
  why[0] = '\0';
  return nemb__provider_nvml.open(&env, st, why, sizeof why);
}

static void *open_ok(void) {
  void *st = NULL;
  int rc = open_nvml(&st);
  if (rc != 0) {
    print_error("open: %d (%s): %s\n", rc, nemb_err_name(rc), why);
  }
  assert_int_equal(rc, 0);
  return st;
}

static void test_ops(void **unused) {
  (void)unused;
  assert_string_equal(nemb__provider_nvml.name, "nvml");
  assert_true(nemb__provider_nvml.measured);
  nemb__provider_nvml.close(NULL);
}

/* Four GPUs: an energy counter (Volta+), instant power by field, power usage only, nothing. The
 * last is left out; the others are gpu0..gpu2, top-level, in the total, each stating its source. */
static void test_sources(void **unused) {
  (void)unused;
  setenv("FAKE_NVML_DEVICES", "energy:250,field:120,usage:80,none:0", 1);
  void *st = open_ok();
  const nemb__domain *d;
  assert_int_equal(nemb__provider_nvml.domains(st, &d), 3);
  for (size_t i = 0; i < 3; i++) {
    char name[8];
    snprintf(name, sizeof name, "gpu%zu", i);
    assert_string_equal(d[i].name, name);
    assert_string_equal(d[i].kind, NEMB__KIND_GPU);
    assert_true(d[i].top_level);
    assert_true(d[i].in_total);
    assert_int_equal(d[i].range_uj, 0);
    assert_int_equal(d[i].n_includes, 0);
  }
  /* The detail names the GPU so it can be matched to cuda:N: name, UUID, PCI bus id, source. */
  assert_string_equal(d[0].method, NEMB__METHOD_COUNTER);
  assert_string_equal(d[0].detail, "Fake H100 GPU-00000000-fake-0000-0000-000000000000 "
                                   "00000000:01:00.0: energy counter, timestamped");
  assert_string_equal(d[1].method, NEMB__METHOD_INTEGRATED);
  assert_string_equal(d[1].detail, "Fake A100 GPU-00000000-fake-0000-0000-000000000001 "
                                   "00000000:02:00.0: power integrated");
  assert_string_equal(d[2].method, NEMB__METHOD_INTEGRATED);
  /* nvmlDeviceGetPowerUsage is instantaneous before Ampere: the detail says which applies. */
  assert_string_equal(d[2].detail, "Fake V100 GPU-00000000-fake-0000-0000-000000000002 "
                                   "00000000:03:00.0: power integrated, instantaneous");

  set_energy_mj(0, 1000); /* 1 J since the driver loaded */
  uint64_t raw[3];
  NEMB_ASSERT_OK(nemb__provider_nvml.read(st, 5000000000ULL, raw));
  assert_int_equal(raw[0], 1000000);
  assert_int_equal(raw[1], 0); /* the first reading of a power sets the time base */
  assert_int_equal(raw[2], 0);
  set_energy_mj(0, 3500);
  NEMB_ASSERT_OK(nemb__provider_nvml.read(st, 7000000000ULL, raw)); /* 2 s later */
  assert_int_equal(raw[0], 3500000);
  assert_int_equal(raw[1], 240000000); /* 120 W x 2 s */
  assert_int_equal(raw[2], 160000000); /* 80 W x 2 s */
  set_power_mw(1, 60000);
  NEMB_ASSERT_OK(nemb__provider_nvml.read(st, 8000000000ULL, raw)); /* (120 + 60) / 2 x 1 s */
  assert_int_equal(raw[1], 330000000);
  nemb__provider_nvml.close(st);
}

static void test_no_usable_gpu(void **unused) {
  (void)unused;
  setenv("FAKE_NVML_DEVICES", "none:0,none:0", 1);
  void *st = NULL;
  assert_int_equal(open_nvml(&st), NEMB_ENOTSUP);
  assert_null(st);
  assert_string_equal(why, "NVML finds 2 GPUs but none reports energy or power");
}

static void test_init_failures(void **unused) {
  (void)unused;
  void *st = NULL;
  setenv("FAKE_NVML_INIT", "9", 1); /* NVML_ERROR_DRIVER_NOT_LOADED */
  assert_int_equal(open_nvml(&st), NEMB_ENOTSUP);
  assert_non_null(strstr(why, "nvmlInit failed: Driver Not Loaded (9)"));
  assert_non_null(strstr(why, "the NVIDIA kernel driver is not running"));
  setenv("FAKE_NVML_INIT", "4", 1); /* NVML_ERROR_NO_PERMISSION */
  assert_int_equal(open_nvml(&st), NEMB_EACCES);
  assert_non_null(strstr(why, "/dev/nvidiactl"));
  setenv("FAKE_NVML_INIT", "999", 1);
  assert_int_equal(open_nvml(&st), NEMB_EIO);
  assert_non_null(strstr(why, "nvmlInit failed: Unknown Error (999)"));
  assert_null(st);
}

/* No driver installed: a plain reason, NEMB_ENOTSUP, never a failed meter. */
static void test_missing_library(void **unused) {
  (void)unused;
  setenv("CODEGREEN_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
  void *st = NULL;
  assert_int_equal(open_nvml(&st), NEMB_ENOTSUP);
  assert_non_null(strstr(why, "cannot load /nonexistent/libnvidia-ml.so.1"));
  assert_non_null(strstr(why, "no NVIDIA driver is installed"));
  /* A library that is not NVML at all (libc has none of its functions). */
  setenv("CODEGREEN_NVML_LIB", "libc.so.6", 1);
  assert_int_equal(open_nvml(&st), NEMB_ENOTSUP);
  assert_non_null(strstr(why, "lacks nvmlInit_v2"));
}

/* A fixture machine has no GPU driver: with CODEGREEN_SYSFS_ROOT set and no explicit library,
 * NVML is not probed, so fixture tests read the same on machines with GPUs. */
static void test_fixture_root_skips_real_nvml(void **unused) {
  (void)unused;
  nemb_test_use_fixture("intel-client");
  unsetenv("CODEGREEN_NVML_LIB");
  void *st = NULL;
  assert_int_equal(open_nvml(&st), NEMB_ENOTSUP);
  assert_non_null(strstr(why, "CODEGREEN_SYSFS_ROOT"));
  assert_non_null(strstr(why, "CODEGREEN_NVML_LIB"));
}

static void test_disabled(void **unused) {
  (void)unused;
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\":{\"nvml\":{\"enabled\":false}}}", "test", &cfg));
  nemb__provider_env env = {cfg};
  void *st = NULL;
  assert_int_equal(nemb__provider_nvml.open(&env, &st, why, sizeof why), NEMB_ENOTSUP);
  assert_string_equal(why, "disabled by providers.nvml.enabled in the configuration");
  nemb_config_destroy(cfg);
}

/* Through a meter: the counter GPU at 250 W and the field GPU at 120 W for ~300 ms. */
static void test_meter(void **unused) {
  (void)unused;
  setenv("FAKE_NVML_DEVICES", "energy:250,field:120", 1);
  setenv("CODEGREEN_PROVIDERS", "nvml", 1);
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(nemb__config_defaults(), &m));
  assert_int_equal(nemb_meter_domain_count(m), 2);
  NEMB_ASSERT_OK(nemb_meter_start(m));
  usleep(300000);
  NEMB_ASSERT_OK(nemb_meter_stop(m));
  size_t n = nemb_meter_sample_count(m);
  uint64_t t0, t1, e0[2], e1[2];
  NEMB_ASSERT_OK(nemb_meter_sample(m, 0, &t0, e0, 2));
  NEMB_ASSERT_OK(nemb_meter_sample(m, n - 1, &t1, e1, 2));
  double s = (double)(t1 - t0) / 1e9;
  assert_float_equal((double)(e1[0] - e0[0]) / 1e6 / s, 250, 12.5);
  assert_float_equal((double)(e1[1] - e0[1]) / 1e6 / s, 120, 1);
  nemb_meter_destroy(m);
}

/* Issue 10, item 2: two GPUs (energy counters, 250 W and 100 W), GPU 1 returning
 * NVML_ERROR_GPU_IS_LOST from 0.7 s on, a one-second task. gpu0 keeps counting (it froze with its
 * neighbour: 169.6 J), gpu1 has its 70 J and is reported lost at 0.7 s with a warning naming it,
 * and the quality is not "ok". */
static void test_one_gpu_lost(void **unused) {
  (void)unused;
  setenv("FAKE_NVML_DEVICES", "energy:250,energy:100:lost=0.7", 1);
  setenv("CODEGREEN_PROVIDERS", "nvml", 1);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  nemb_session *s = NULL;
  uint64_t t_pre = nemb_now_ns(); /* nvmlInit (the fake's clock for lost=) happens after this */
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  NEMB_ASSERT_OK(nemb_task_start(s, "run"));
  usleep(1000000);
  NEMB_ASSERT_OK(nemb_task_stop(s, "run"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  json_error_t err;
  json_t *root = json_loads(nemb_session_report_json(s), 0, &err);
  assert_non_null(root);
  json_t *task = json_array_get(json_object_get(root, "tasks"), 0);
  double dur = json_number_value(json_object_get(task, "duration_s"));
  json_t *doms = json_object_get(task, "domains");
  double g0 = json_number_value(json_object_get(doms, "gpu0"));
  double g1 = json_number_value(json_object_get(doms, "gpu1"));
  print_message("  gpu0 %.2f J, gpu1 %.2f J over %.3f s\n", g0, g1, dur);
  assert_true(fabs(g0 - 250 * dur) < 0.03 * 250 * dur);
  json_t *meta = json_object_get(root, "meta");
  json_t *fail =
      json_array_get(json_object_get(json_object_get(meta, "sampler"), "domain_failures"), 0);
  assert_non_null(fail);
  assert_string_equal(json_string_value(json_object_get(fail, "domain")), "gpu1");
  double lost_at = json_number_value(json_object_get(fail, "lost_at_s"));
  /* What the driver did, by its own clock: gpu1 last answered a call at `good` and first answered
   * "lost" at `lost` (0.7 s after nvmlInit, which came after t_pre). codegreen cannot know of the
   * loss before the driver said so, and must say so before the session ends; how much later it
   * notices depends on when a loaded machine lets its threads run, so that is printed, not
   * asserted. The session began between t_pre and the task's start. */
  double good = (double)last_good_ns(1), lost = (double)first_lost_ns(1);
  double task_start = json_number_value(json_object_get(task, "started_at_mono_ns"));
  assert_true(good > 0 && lost > good && lost - (double)t_pre >= 0.7e9);
  double noticed_lo = (double)t_pre + lost_at * 1e9, noticed_hi = task_start + lost_at * 1e9;
  print_message("  gpu1 lost at %.3f s; the driver said so %.1f to %.1f ms before\n", lost_at,
                (noticed_lo - lost) / 1e6, (noticed_hi - lost) / 1e6);
  assert_true(noticed_hi >= lost - 1e6);
  assert_true(lost_at < dur + (task_start - (double)t_pre) / 1e9);
  /* gpu1 counted 100 W from the task's start until its last good answer, and no further than the
   * loss. */
  assert_true(g1 > 100 * (good - task_start) / 1e9 - 3 && g1 < 100 * (lost - task_start) / 1e9 + 3);
  bool named = false;
  size_t i;
  json_t *w;
  json_array_foreach(json_object_get(json_object_get(meta, "sampler"), "warnings"), i, w) {
    named |= strstr(json_string_value(w), "gpu1") != NULL && strstr(json_string_value(w), "lost");
  }
  assert_true(named);
  assert_string_equal(json_string_value(json_object_get(meta, "measurement_quality")), "degraded");
  json_decref(root);
  nemb_session_destroy(s);
  unsetenv("CODEGREEN_PROVIDERS");
}

/* A session on the simulated CPU package (10 W) and the fake GPU(s) of @p devices, with the
 * configuration @p extra merged in; one task of @p task_us. Returns the parsed report. */
static json_t *sim_and_gpu_session(const char *devices, const char *extra, useconds_t task_us,
                                   useconds_t hang_after_us, nemb_session **out,
                                   nemb_config **cfg_out) {
  setenv("FAKE_NVML_DEVICES", devices, 1);
  setenv("CODEGREEN_SIM_CONFIG",
         "{\"domains\":[{\"name\":\"package-0\",\"waveform\":\"constant\",\"power_w\":10}]}", 1);
  char json[512];
  snprintf(json, sizeof json, "{\"providers\":{\"list\":\"sim,nvml\"%s}}", extra);
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string(json, "test", &cfg));
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.record_time_series = 1;
  o.config = cfg;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  NEMB_ASSERT_OK(nemb_task_start(s, "run"));
  if (hang_after_us > 0) {
    usleep(hang_after_us);
    hang_now(); /* from here on every driver call blocks */
    usleep(task_us - hang_after_us);
  } else {
    usleep(task_us);
  }
  NEMB_ASSERT_OK(nemb_task_stop(s, "run"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  unsetenv("CODEGREEN_SIM_CONFIG");
  json_error_t err;
  json_t *root = json_loads(nemb_session_report_json(s), 0, &err);
  assert_non_null(root);
  *out = s;
  *cfg_out = cfg; /* the session's until it is destroyed */
  return root;
}

/* Issue 10, item 8: NVML calls that block never hold up the CPU counters. The GPU's driver hangs
 * 0.3 s into a 1 s task (every call blocks from then on, as a hung driver's do) and is still hung
 * when the session ends: the session ends anyway, the simulated CPU package is measured in full
 * with stored samples through the hang, and the GPU has its energy up to the driver's last answer
 * and is reported failed ("timed out", lost when the first hung call began), so the quality is not
 * "ok". How long before the hang the last answer came is the scheduler's business (a starved
 * poller answers late), so the bounds come from the fake driver's own record of that answer. */
static void test_hung_driver_keeps_cpu_samples(void **unused) {
  (void)unused;
  nemb_session *s = NULL;
  nemb_config *cfg = NULL;
  json_t *root = sim_and_gpu_session("energy:250", ",\"nvml\":{\"deadline_ms\":200}", 1000000,
                                     300000, &s, &cfg);
  assert_true(hung_calls() >= 1); /* the session ended while the driver call still hangs */
  json_t *task = json_array_get(json_object_get(root, "tasks"), 0);
  double dur = json_number_value(json_object_get(task, "duration_s"));
  json_t *doms = json_object_get(task, "domains");
  double cpu = json_number_value(json_object_get(doms, "package-0"));
  double gpu = json_number_value(json_object_get(doms, "gpu0"));
  print_message("  package-0 %.4f J, gpu0 %.2f J over %.3f s\n", cpu, gpu, dur);
  assert_true(fabs(cpu - 10 * dur) < 0.01 * 10 * dur);
  /* Stored samples through the hang: the CPU counter went on being read and stored. */
  double t_begin = json_number_value(json_object_get(task, "started_at_mono_ns"));
  size_t i, inside = 0;
  json_t *pt;
  json_array_foreach(json_object_get(task, "timeseries"), i, pt) {
    double t = json_number_value(json_object_get(pt, "t_ns"));
    inside += t > t_begin + 0.6e9 && t < t_begin + 0.95e9;
  }
  print_message("  %zu stored samples between 0.6 and 0.95 s, while the driver hung\n", inside);
  assert_true(inside > 0);
  json_t *meta = json_object_get(root, "meta");
  json_t *fail =
      json_array_get(json_object_get(json_object_get(meta, "sampler"), "domain_failures"), 0);
  assert_non_null(fail);
  assert_string_equal(json_string_value(json_object_get(fail, "domain")), "gpu0");
  assert_non_null(strstr(json_string_value(json_object_get(fail, "error")), "timed out"));
  double lost_at = json_number_value(json_object_get(fail, "lost_at_s"));
  print_message("  gpu0 lost at %.3f s\n", lost_at);
  /* The GPU's energy is 250 W from the task's start to the value of the driver's last answer
   * (a constant power interpolates exactly between polls), within 50 ms of the GPU's power: a
   * poll's timestamp can trail the driver's answer by a preemption on a busy machine. The first
   * hung call began after that answer, and before the task ended. */
  double last_s = ((double)last_energy_ns() - t_begin) / 1e9;
  print_message("  the driver last answered at %.3f s\n", last_s);
  assert_true(last_s > 0 && last_s < dur);
  assert_true(fabs(gpu - 250 * last_s) < 250 * 0.05);
  assert_true(lost_at >= last_s - 1e-3 && lost_at < dur);
  bool named = false;
  json_t *w;
  json_array_foreach(json_object_get(json_object_get(meta, "sampler"), "warnings"), i, w) {
    named |= strstr(json_string_value(w), "gpu0") != NULL &&
             strstr(json_string_value(w), "did not return") != NULL;
  }
  assert_true(named);
  assert_string_equal(json_string_value(json_object_get(meta, "measurement_quality")), "degraded");
  json_decref(root);
  nemb_session_destroy(s);
  nemb_config_destroy(cfg);
  /* The driver answers again: the reading thread left behind closes NVML (teardown checks). */
  release_hang();
  for (int k = 0; k < 5000 && live() != 0; k++) {
    usleep(1000);
  }
}

/* A slow driver (every call 10 ms, an energy counter updating every 100 ms) is not a failure: the
 * GPU's energy is still right and the CPU's untouched. A value read by a 10 ms call is the
 * counter's at some instant within the call, so its update is known to ~20 ms at worst (the
 * bound below; measured: within 1.5 % over 1 s). */
static void test_slow_driver_still_right(void **unused) {
  (void)unused;
  nemb_session *s = NULL;
  nemb_config *cfg = NULL;
  json_t *root = sim_and_gpu_session("energy:250:step=100:slow=10", "", 1000000, 0, &s, &cfg);
  json_t *task = json_array_get(json_object_get(root, "tasks"), 0);
  double dur = json_number_value(json_object_get(task, "duration_s"));
  json_t *doms = json_object_get(task, "domains");
  double cpu = json_number_value(json_object_get(doms, "package-0"));
  double gpu = json_number_value(json_object_get(doms, "gpu0"));
  print_message("  package-0 %.4f J, gpu0 %.2f J (%+.2f %%) over %.3f s\n", cpu, gpu,
                (gpu / (250 * dur) - 1) * 100, dur);
  assert_true(fabs(cpu - 10 * dur) < 0.01 * 10 * dur);
  assert_true(fabs(gpu - 250 * dur) < 0.03 * 250 * dur);
  json_t *meta = json_object_get(root, "meta");
  assert_int_equal(
      json_array_size(json_object_get(json_object_get(meta, "sampler"), "domain_failures")), 0);
  assert_string_equal(json_string_value(json_object_get(meta, "measurement_quality")), "ok");
  json_decref(root);
  nemb_session_destroy(s);
  nemb_config_destroy(cfg);
}

/* Issue 10: the energy counter's update period measured at open (nvml.c measure_update_ns) at
 * random phases of a 20 ms counter behind 1 ms calls, stamped and not: within 3 % every time,
 * where the update-edge model starts (edges.c). The mean of the gaps between changes was
 * 17-21 % off in one open in twenty on this busy machine (a delayed read merged two updates);
 * tests/unit/test_edges.c runs the same arithmetic thousands of times in simulated time. */
static void test_period_measured_at_open(void **unused) {
  (void)unused;
  srand(12345);
  for (int k = 0; k < 12; k++) {
    char devs[96];
    snprintf(devs, sizeof devs, "energy:100:step=20:slow=1:phase=%.3f%s",
             (double)(rand() % 20000) / 1e3, k % 2 ? ":nofield" : "");
    setenv("FAKE_NVML_DEVICES", devs, 1);
    void *st = open_ok();
    double u = (double)nemb__provider_nvml.update_interval_ns(st);
    nemb__provider_nvml.close(st);
    if (fabs(u - 20e6) > 0.03 * 20e6) {
      print_error("%s: measured %.1f us\n", devs, u / 1e3);
    }
    assert_true(fabs(u - 20e6) <= 0.03 * 20e6);
  }
}

/* The energy counter read as the field NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION carries the instant
 * NVML took it (stamps()); one whose driver does not serve the field has none. */
static void test_field_stamps(void **unused) {
  (void)unused;
  setenv("FAKE_NVML_DEVICES", "energy:100:slow=3,energy:100:slow=3:nofield", 1);
  void *st = open_ok();
  const nemb__domain *d;
  assert_int_equal(nemb__provider_nvml.domains(st, &d), 2);
  assert_non_null(strstr(d[0].detail, "energy counter, timestamped"));
  assert_null(strstr(d[1].detail, "timestamped"));
  uint64_t raw[2], at[2];
  for (int k = 0; k < 5; k++) {
    uint64_t t0 = nemb__now_ns();
    NEMB_ASSERT_OK(nemb__provider_nvml.read(st, t0, raw));
    uint64_t t1 = nemb__now_ns();
    nemb__provider_nvml.stamps(st, at);
    /* Within the call (3 ms: gpu0's own, then gpu1's), to NVML's 1 us and the clock pair's
     * conversion; gpu1's instant is unknown. */
    assert_true(at[0] + 2000 >= t0 && at[0] <= t1 + 2000);
    assert_int_equal(at[1], 0);
    assert_true(raw[0] > 0 && raw[1] > 0);
  }
  nemb__provider_nvml.close(st);
}

/* Issue 10, what remained of item 8: a 20 ms energy counter read on the poller thread (every
 * ~10 ms, learning reads every 2.5 ms at the start), whose driver calls take 1 ms each. gpu0's
 * counter is read as a field value stamped with the instant NVML took it, gpu1's (an older
 * driver) through nvmlDeviceGetTotalEnergyConsumption, known only to lie within the call. Both
 * draw 100 W; tasks of 30 ms at every phase of the counter. Printed: each GPU's worst and mean
 * error over the tasks, from the same run (the figures of the closing note).
 *
 * The bound. A stamped bracket is the gap between two reads' instants, so reads 2.5 ms apart
 * bracket an update within a quarter period (5 ms) and start the update model (edges.h); gpu1's
 * brackets hold a whole read (2 x 1 ms) more and never do. Once the model is locked (a
 * prediction ten periods ahead good to a tenth of a period, edges.c) with the period right, each
 * update is placed within P / 10 = 2 ms of its instant, so at 100 W a task's two boundaries are
 * off by at most 2 x 100 W x 2 ms = 0.4 J. A model whose period is not yet learned that well (a
 * starved machine) is printed and not held to that bound; its period must still be within 1 %
 * (a wrong one was learned in one run in eight while the period measured at open, where the
 * model starts within 3 %, was the mean of the gaps between changes: a delayed read that
 * merged two updates made it 17-21 % too long). */
static void test_stamped_counter_brackets(void **unused) {
  (void)unused;
  setenv("FAKE_NVML_DEVICES", "energy:100:step=20:slow=1,energy:100:step=20:slow=1:nofield", 1);
  setenv("CODEGREEN_SIM_CONFIG",
         "{\"domains\":[{\"name\":\"package-0\",\"waveform\":\"constant\",\"power_w\":10}]}", 1);
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string("{\"providers\":{\"list\":\"sim,nvml\"}}", "t", &cfg));
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.config = cfg;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  usleep(1000000); /* the counters' update models start */
  enum { TASKS = 12 };
  for (int i = 0; i < TASKS; i++) {
    char name[16];
    snprintf(name, sizeof name, "t%d", i);
    NEMB_ASSERT_OK(nemb_task_start(s, name));
    usleep(30000);
    NEMB_ASSERT_OK(nemb_task_stop(s, name));
    usleep(7000 + 3000 * (useconds_t)i); /* the next task at another phase of the counter */
  }
  usleep(100000);
  NEMB_ASSERT_OK(nemb_session_end(s));
  unsetenv("CODEGREEN_SIM_CONFIG");
  json_error_t err;
  json_t *root = json_loads(nemb_session_report_json(s), 0, &err);
  assert_non_null(root);
  double worst[2] = {0, 0}, sum[2] = {0, 0};
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(root, "tasks"), i, t) {
    double dur = json_number_value(json_object_get(t, "duration_s"));
    json_t *doms = json_object_get(t, "domains");
    for (int g = 0; g < 2; g++) {
      double e = json_number_value(json_object_get(doms, g ? "gpu1" : "gpu0")) - 100 * dur;
      worst[g] = fmax(worst[g], fabs(e));
      sum[g] += fabs(e);
    }
  }
  json_t *periods = json_object_get(json_object_get(json_object_get(root, "meta"), "sampler"),
                                    "update_period_us");
  double p0 = json_number_value(json_object_get(periods, "gpu0"));
  print_message("  20 ms counter, 1 ms calls, %d tasks of 30 ms at 100 W (3 J): stamped gpu0 worst "
                "%.3f J mean %.3f J (period learned %.1f us); unstamped gpu1 worst %.3f J mean "
                "%.3f J\n",
                TASKS, worst[0], sum[0] / TASKS, p0, worst[1], sum[1] / TASKS);
  /* A late read on a busy machine (the sampler's worst lateness, as test_report's allowed())
   * may place an update off by that much: at 100 W, 2 x 100 W x the lateness more at the two
   * boundaries (seen twice at load 6-10: one task 0.4-0.5 J off with the period right). */
  json_t *sm = json_object_get(json_object_get(root, "meta"), "sampler");
  double late_s = (double)json_integer_value(json_object_get(sm, "worst_lateness_ns")) / 1e9;
  double bound = 0.4 + 2 * 100 * late_s;
  print_message("  bound %.3f J (sampler's worst lateness %.2f ms)\n", bound, late_s * 1e3);
  /* Freed before the checks: a failed check must not leave NVML open for the next test. */
  json_decref(root);
  nemb_session_destroy(s);
  /* The period is measured at open to within 3 % and learned from there (test_edges: never
   * outside the model's bounds); to 20 us once ~50 updates were bracketed. */
  assert_true(fabs(p0 - 20000) <= 200);
  if (fabs(p0 - 20000) <= 20) {
    assert_true(worst[0] <= bound);
  } else {
    print_message("  gpu0's period not yet learned to 20 us: not held to the bound\n");
  }
  nemb_config_destroy(cfg);
}

/* Issue 10, item 8: only the GPUs the program may use, named so they match cuda:N; a GPU this
 * user may not query is listed with the fix; MIG said. */
static void test_visible_devices_and_permission(void **unused) {
  (void)unused;
  setenv("FAKE_NVML_DEVICES", "energy:250,energy:100:mig,energy:300,energy:50:noperm", 1);
  void *st = NULL;
  /* All four but the one we may not query. */
  unsetenv("CUDA_VISIBLE_DEVICES");
  unsetenv("NVIDIA_VISIBLE_DEVICES");
  assert_int_equal(open_nvml(&st), 0);
  const nemb__domain *d;
  assert_int_equal(nemb__provider_nvml.domains(st, &d), 3);
  assert_non_null(strstr(d[0].detail, "GPU-00000000-fake-0000-0000-000000000000"));
  assert_non_null(strstr(d[0].detail, "00000000:01:00.0"));
  assert_non_null(strstr(d[1].detail, "MIG on"));
  const nemb__unused *u;
  assert_int_equal(nemb__provider_nvml.unused(st, &u), 1);
  assert_string_equal(u[0].name, "gpu3");
  assert_non_null(strstr(u[0].reason, "Insufficient Permissions"));
  assert_non_null(strstr(u[0].fix, "/dev/nvidia"));
  nemb__provider_nvml.close(st);
  /* A job given one GPU by index, and one by UUID prefix. */
  setenv("CUDA_VISIBLE_DEVICES", "2", 1);
  assert_int_equal(open_nvml(&st), 0);
  assert_int_equal(nemb__provider_nvml.domains(st, &d), 1);
  assert_string_equal(d[0].name, "gpu2");
  nemb__provider_nvml.close(st);
  setenv("CUDA_VISIBLE_DEVICES", "GPU-00000000-fake-0000-0000-000000000001", 1);
  assert_int_equal(open_nvml(&st), 0);
  assert_int_equal(nemb__provider_nvml.domains(st, &d), 1);
  assert_string_equal(d[0].name, "gpu1");
  nemb__provider_nvml.close(st);
  unsetenv("CUDA_VISIBLE_DEVICES");
  setenv("NVIDIA_VISIBLE_DEVICES", "0,2", 1);
  assert_int_equal(open_nvml(&st), 0);
  assert_int_equal(nemb__provider_nvml.domains(st, &d), 2);
  assert_string_equal(d[1].name, "gpu2");
  nemb__provider_nvml.close(st);
  unsetenv("NVIDIA_VISIBLE_DEVICES");
  /* The configuration key, which a Slurm plugin can set from the job's allocation. */
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(
      nemb_config_from_string("{\"providers\":{\"nvml\":{\"devices\":\"1\"}}}", "t", &cfg));
  nemb__provider_env env = {cfg};
  why[0] = '\0';
  assert_int_equal(nemb__provider_nvml.open(&env, &st, why, sizeof why), 0);
  assert_int_equal(nemb__provider_nvml.domains(st, &d), 1);
  assert_string_equal(d[0].name, "gpu1");
  nemb__provider_nvml.close(st);
  nemb_config_destroy(cfg);
  /* Only a GPU we may not query: a permission problem with its fix, not "none reports". */
  setenv("FAKE_NVML_DEVICES", "energy:50:noperm", 1);
  assert_int_equal(open_nvml(&st), NEMB_EACCES);
  assert_non_null(strstr(why, "NVML_ERROR_NO_PERMISSION"));
}

/* Issue 10, item 8: a job given a MIG instance ("MIG-<uuid>", or CUDA 11.0's
 * "MIG-GPU-<uuid>/<gi>/<ci>") measures the GPU it is part of, and says honestly that the energy
 * is the whole GPU's: NVML has no per-instance energy. */
static void test_mig_instance_selects_its_gpu(void **unused) {
  (void)unused;
  setenv("FAKE_NVML_DEVICES", "energy:250,energy:100:mig,energy:300", 1);
  static const char *const picks[] = {"MIG-00000000-fake-0001-0001-000000000000",
                                      "MIG-GPU-00000000-fake-0000-0000-000000000001/1/0"};
  for (size_t k = 0; k < 2; k++) {
    setenv("CUDA_VISIBLE_DEVICES", picks[k], 1);
    void *st = NULL;
    assert_int_equal(open_nvml(&st), 0);
    const nemb__domain *d;
    assert_int_equal(nemb__provider_nvml.domains(st, &d), 1);
    assert_string_equal(d[0].name, "gpu1");
    assert_true(d[0].whole_device);
    assert_non_null(strstr(d[0].detail, "GPU-00000000-fake-0000-0000-000000000001"));
    assert_non_null(strstr(d[0].detail, "a MIG instance chosen: the whole GPU's energy"));
    nemb__provider_nvml.close(st);
  }
  /* An instance NVML does not know: nothing measured, and `info` says which and why. */
  setenv("CUDA_VISIBLE_DEVICES", "MIG-00000000-fake-0009-0000-000000000000", 1);
  void *st = NULL;
  assert_int_equal(open_nvml(&st), NEMB_ENOTSUP);
  assert_non_null(strstr(why, "lists none of the 3 GPUs"));
  /* Through a session: the report marks the domain's scope and warns. */
  setenv("CUDA_VISIBLE_DEVICES", picks[0], 1);
  setenv("CODEGREEN_PROVIDERS", "nvml", 1);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  NEMB_ASSERT_OK(nemb_task_start(s, "run"));
  usleep(200000);
  NEMB_ASSERT_OK(nemb_task_stop(s, "run"));
  NEMB_ASSERT_OK(nemb_session_end(s));
  json_error_t err;
  json_t *root = json_loads(nemb_session_report_json(s), 0, &err);
  assert_non_null(root);
  json_t *meta = json_object_get(root, "meta");
  json_t *topo = json_object_get(json_object_get(meta, "domain_topology"), "gpu1");
  assert_string_equal(json_string_value(json_object_get(topo, "scope")), "whole_gpu");
  bool said = false;
  size_t i;
  json_t *w;
  json_array_foreach(json_object_get(json_object_get(meta, "sampler"), "warnings"), i, w) {
    said |= strstr(json_string_value(w), "gpu1") != NULL &&
            strstr(json_string_value(w), "the whole GPU's") != NULL;
  }
  assert_true(said);
  json_t *task = json_array_get(json_object_get(root, "tasks"), 0);
  double dur = json_number_value(json_object_get(task, "duration_s"));
  double g1 = json_number_value(json_object_get(json_object_get(task, "domains"), "gpu1"));
  assert_true(fabs(g1 - 100 * dur) < 0.05 * 100 * dur); /* the whole GPU's 100 W */
  json_decref(root);
  nemb_session_destroy(s);
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("CUDA_VISIBLE_DEVICES");
}

/* With a GPU but no CPU counter, the meter adds the CPU-time estimate, and says so. */
static void test_gpu_only_machine_gets_cpu_estimate(void **unused) {
  (void)unused;
  nemb_test_use_fixture("estimate"); /* no RAPL at all; CODEGREEN_NVML_LIB still loads the fake */
  setenv("FAKE_NVML_DEVICES", "energy:250", 1);
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(nemb__config_defaults(), &m));
  assert_int_equal(nemb_meter_domain_count(m), 2);
  nemb_domain_info d;
  NEMB_ASSERT_OK(nemb_meter_domain(m, 0, &d));
  assert_string_equal(d.name, "gpu0");
  assert_string_equal(d.source, "nvml");
  assert_true(d.measured);
  NEMB_ASSERT_OK(nemb_meter_domain(m, 1, &d));
  assert_string_equal(d.name, "cpu-estimate");
  assert_true(nemb_meter_is_estimated(m));
  nemb_meter_destroy(m);
}

/* Per-process utilisation as the driver gives it: the samples of this process (pid given) and of
 * pid 1, summed exactly, each sample read once (lastSeenTimeStamp); the driver's refusals end the
 * figures with the reason. */
static void read_procs(void *st, int reads) {
  uint64_t raw[4];
  for (int i = 0; i < reads; i++) {
    usleep(30000);
    /* t_ns 200 ms apart: every read is due for the per-process samples (process_poll_ms 100) */
    assert_int_equal(nemb__provider_nvml.read(st, 1000000000ull + (uint64_t)i * 200000000ull, raw),
                     0);
  }
}

static void test_process_utilisation(void **unused) {
  (void)unused;
  char procs[64];
  snprintf(procs, sizeof procs, "%d=60;1=20", (int)getpid());
  setenv("FAKE_NVML_PROCS", procs, 1);
  setenv("FAKE_NVML_SAMPLE_MS", "10", 1);
  setenv("FAKE_NVML_DEVICES", "energy:250,energy:100:procnotsup,energy:80:procnoperm,energy:50:mig",
         1);
  void *st = open_ok();
  read_procs(st, 5);
  nemb_gpu_usage u;
  nemb__provider_nvml.gpu_usage(st, 0, 0, UINT64_MAX, &u);
  assert_int_equal(u.status, 0);
  assert_string_equal(u.method, "nvml_process_utilization");
  assert_true(u.samples >= 4 && u.samples % 2 == 0); /* two processes per sample period */
  assert_int_equal(u.own_samples * 2, u.samples);
  assert_true(u.own_sm == 60.0 * (double)u.own_samples);
  assert_true(u.all_sm == 80.0 * (double)u.own_samples); /* share 0.75 exactly */
  nemb__provider_nvml.gpu_usage(st, 1, 0, UINT64_MAX, &u);
  assert_int_equal(u.status, NEMB_ENOTSUP);
  assert_non_null(strstr(u.reason, "Not Supported (3)"));
  assert_string_equal(u.method, "");
  nemb__provider_nvml.gpu_usage(st, 2, 0, UINT64_MAX, &u);
  assert_int_equal(u.status, NEMB_EACCES);
  assert_non_null(strstr(u.reason, "Insufficient Permissions (4)"));
  nemb__provider_nvml.gpu_usage(st, 3, 0, UINT64_MAX, &u);
  assert_int_equal(u.status, NEMB_ENOTSUP);
  assert_non_null(strstr(u.reason, "MIG mode"));
  nemb__provider_nvml.close(st);
  /* No process on the GPU: NVML_ERROR_NOT_FOUND at every read, figures with no sample. */
  unsetenv("FAKE_NVML_PROCS");
  setenv("FAKE_NVML_DEVICES", "energy:250", 1);
  st = open_ok();
  read_procs(st, 3);
  nemb__provider_nvml.gpu_usage(st, 0, 0, UINT64_MAX, &u);
  assert_int_equal(u.status, 0);
  assert_int_equal(u.samples, 0);
  nemb__provider_nvml.close(st);
  /* Through the meter's public call: a GPU domain, and the reason for a domain without figures. */
  setenv("CODEGREEN_PROVIDERS", "nvml", 1);
  nemb_meter *m = NULL;
  NEMB_ASSERT_OK(nemb_meter_create(nemb__config_defaults(), &m));
  NEMB_ASSERT_OK(nemb_meter_gpu_usage(m, 0, &u));
  assert_int_equal(u.status, 0);
  assert_int_equal(nemb_meter_gpu_usage(m, 5, &u), NEMB_EINVAL);
  nemb_meter_destroy(m);
  unsetenv("CODEGREEN_PROVIDERS");
  unsetenv("FAKE_NVML_SAMPLE_MS");
}

/* `codegreen info --json` names the GPUs with their sources. */
static void test_cli_info(void **unused) {
  (void)unused;
  const char *bin = getenv("CODEGREEN_BIN");
  if (bin == NULL) {
    skip();
  }
  setenv("FAKE_NVML_DEVICES", "energy:250,usage:80", 1);
  nemb_test_use_fixture("estimate");
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' info --json", bin);
  FILE *fp = popen(cmd, "r");
  assert_non_null(fp);
  json_error_t err;
  json_t *doc = json_loadf(fp, 0, &err);
  assert_int_equal(pclose(fp), 0);
  assert_non_null(doc);
  json_t *doms = json_object_get(json_object_get(doc, "selection"), "domains");
  assert_int_equal(json_array_size(doms), 3);
  json_t *g0 = json_array_get(doms, 0);
  json_t *g1 = json_array_get(doms, 1);
  assert_string_equal(json_string_value(json_object_get(g0, "name")), "gpu0");
  assert_string_equal(json_string_value(json_object_get(g0, "method")), "energy_counter");
  assert_string_equal(json_string_value(json_object_get(g1, "name")), "gpu1");
  assert_string_equal(json_string_value(json_object_get(g1, "method")), "integrated_power");
  assert_non_null(strstr(json_string_value(json_object_get(g1, "detail")), "power integrated"));
  assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "selection"), "mode")),
                      "estimated");
  json_decref(doc);
}

int main(void) {
  if (getenv("NEMB_FAKE_NVML") == NULL) {
    fprintf(stderr, "NEMB_FAKE_NVML is not set (ctest sets it to the fake library): skipped\n");
    return 77;
  }
  unsetenv("CODEGREEN_CONFIG");
  setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ops, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sources, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_usable_gpu, setup, teardown),
      cmocka_unit_test_setup_teardown(test_init_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_library, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fixture_root_skips_real_nvml, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disabled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_meter, setup, teardown),
      cmocka_unit_test_setup_teardown(test_one_gpu_lost, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hung_driver_keeps_cpu_samples, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slow_driver_still_right, setup, teardown),
      cmocka_unit_test_setup_teardown(test_period_measured_at_open, setup, teardown),
      cmocka_unit_test_setup_teardown(test_field_stamps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stamped_counter_brackets, setup, teardown),
      cmocka_unit_test_setup_teardown(test_visible_devices_and_permission, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mig_instance_selects_its_gpu, setup, teardown),
      cmocka_unit_test_setup_teardown(test_gpu_only_machine_gets_cpu_estimate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cli_info, setup, teardown),
      cmocka_unit_test_setup_teardown(test_process_utilisation, setup, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

#else

int main(void) {
  return 77; /* built without NEMB_WITH_NVML */
}

#endif
