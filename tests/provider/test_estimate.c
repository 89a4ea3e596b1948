/*
 * test_estimate.c - the CPU-utilisation model against a fake /proc/stat.
 *
 * The fixture tests/fixtures/estimate has 4 CPUs and an aggregate line
 *   cpu  3000 0 1000 4800 500 200 300 200 400 0
 * (user nice system idle iowait irq softirq steal guest guest_nice), so since boot
 *   busy  = 3000 + 0 + 1000 + 200 + 300 = 4500
 *   total = 4500 + 4800 + 500 + 200     = 10000, u0 = 0.45.
 * With the defaults (4 W per CPU, idle fraction 0.1) TDP = 16 W = 16,000,000 uW and
 *   P0 = 16,000,000 * (0.1 + 0.9 * 0.45) = 8,080,000 uW.
 * Every expected energy below is power (uW) * dt (ns) / 1e9 uJ. u is recomputed once a window
 * W has passed: 10 ticks of machine CPU time, 10 ms x 10 / 4 CPUs = 25 ms here.
 */
#include "nemb_test.h"

#define MS 1000000ull
#define T0 (1000 * MS) /* an arbitrary sampler time for the first read */
#define W (25 * MS)    /* the fixture's window */

extern const struct nemb__provider_ops nemb__provider_estimate;

static const struct nemb__provider_ops *const ops = &nemb__provider_estimate;

typedef struct fixture {
  char root[4096];
  void *state;
} fixture;

static int setup(void **ts) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  nemb_test_copy_fixture("estimate", f->root, sizeof f->root);
  setenv("CODEGREEN_SYSFS_ROOT", f->root, 1);
  *ts = f;
  return 0;
}

static int teardown(void **ts) {
  fixture *f = *ts;
  if (f->state != NULL) {
    ops->close(f->state);
  }
  nemb_test_rmtree(f->root);
  unsetenv("CODEGREEN_SYSFS_ROOT");
  free(f);
  return 0;
}

/* Opens with the built-in defaults, failing the test with the provider's reason if it cannot. */
static void open_defaults(fixture *f) {
  nemb__provider_env env = {nemb__config_defaults()};
  char why[512] = "";
  int rc = ops->open(&env, &f->state, why, sizeof why);
  if (rc != 0) {
    print_error("open: %s\n", why);
  }
  assert_int_equal(rc, 0);
}

/* Rewrites the aggregate line (in place: the provider's descriptor must see the new content). */
static void write_stat(const fixture *f, uint64_t user, uint64_t nice, uint64_t system,
                       uint64_t idle, uint64_t iowait, uint64_t irq, uint64_t softirq,
                       uint64_t steal, uint64_t guest, uint64_t guest_nice) {
  char text[512];
  snprintf(text, sizeof text,
           "cpu  %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu\n"
           "cpu0 0 0 0 0 0 0 0 0 0 0\nintr 0\nctxt 0\n",
           (unsigned long long)user, (unsigned long long)nice, (unsigned long long)system,
           (unsigned long long)idle, (unsigned long long)iowait, (unsigned long long)irq,
           (unsigned long long)softirq, (unsigned long long)steal, (unsigned long long)guest,
           (unsigned long long)guest_nice);
  nemb_test_write(f->root, "proc/stat", text);
}

static uint64_t read_at(const fixture *f, uint64_t t_ns) {
  uint64_t uj = UINT64_MAX;
  NEMB_ASSERT_OK(ops->read(f->state, t_ns, &uj));
  return uj;
}

static void test_domain(void **ts) {
  fixture *f = *ts;
  assert_string_equal(ops->name, "estimate");
  assert_false(ops->measured);
  open_defaults(f);
  const nemb__domain *d;
  assert_int_equal(ops->domains(f->state, &d), 1);
  assert_string_equal(d->name, "cpu-estimate");
  assert_string_equal(d->kind, NEMB__KIND_ESTIMATE);
  assert_true(d->top_level);
  assert_true(d->in_total);
  assert_int_equal(d->n_includes, 0);
  assert_int_equal(d->range_uj, 0);
  assert_int_equal(d->max_power_uw, 16000000); /* 4 CPUs * 4 W */
  assert_int_equal(ops->update_interval_ns(f->state), 10 * MS);
}

/* Until /proc/stat is read again, power is the model at the average since boot. */
static void test_initial_guess_is_boot_average(void **ts) {
  fixture *f = *ts;
  open_defaults(f);
  assert_int_equal(read_at(f, T0), 0); /* the first read only sets the time base */
  /* P0 * 5 ms = 8,080,000 * 5,000,000 / 1e9 = 40,400 uJ */
  assert_int_equal(read_at(f, T0 + 5 * MS), 40400);
}

/* No busy jiffies between reads: only the idle share of TDP. */
static void test_idle(void **ts) {
  fixture *f = *ts;
  open_defaults(f);
  read_at(f, T0);
  write_stat(f, 3000, 0, 1000, 5800, 500, 200, 300, 200, 400, 0); /* idle +1000: u = 0 */
  /* TDP * idle_fraction * dt = 16,000,000 * 0.1 * 25 ms = 1,600,000 * 0.025 = 40,000 uJ */
  assert_int_equal(read_at(f, T0 + W), 40000);
  /* Same power for the next 5 ms: + 1,600,000 * 0.005 = 8,000 */
  assert_int_equal(read_at(f, T0 + W + 5 * MS), 48000);
}

/* Every jiffy busy: full TDP. guest rises too, but inside user, so it must not count twice. */
static void test_fully_busy(void **ts) {
  fixture *f = *ts;
  open_defaults(f);
  read_at(f, T0);
  /* user +600 (of which guest +300), system +200, irq +100, softirq +100: busy +1000, total
   * +1000, u = 1 */
  write_stat(f, 3600, 0, 1200, 4800, 500, 300, 400, 200, 700, 0);
  /* TDP * dt = 16,000,000 * 0.025 = 400,000 uJ */
  assert_int_equal(read_at(f, T0 + W), 400000);
}

/* Half busy, with steal in the total and guest kept out of busy. */
static void test_half_busy(void **ts) {
  fixture *f = *ts;
  open_defaults(f);
  read_at(f, T0);
  /* user +500 (guest +200 inside it), idle +300, iowait +100, steal +100:
   *   busy +500, total +500+300+100+100 = +1000, u = 0.5.
   * Were guest added: 700/1200. Were steal left out: 500/900. Both would change the result. */
  write_stat(f, 3500, 0, 1000, 5100, 600, 200, 300, 300, 600, 0);
  /* P = 16,000,000 * (0.1 + 0.9 * 0.5) = 8,800,000 uW; * 25 ms = 220,000 uJ */
  assert_int_equal(read_at(f, T0 + W), 220000);
}

/* /proc/stat is read again only once a window (25 ms) of sampler time passed since it was last
 * read. */
static void test_reread_every_window(void **ts) {
  fixture *f = *ts;
  open_defaults(f);
  read_at(f, T0);
  write_stat(f, 4000, 0, 1000, 4800, 500, 200, 300, 200, 400, 0); /* user +1000: u = 1 */
  /* +20 ms: not re-read, still P0: 8,080,000 * 0.02 = 161,600 */
  assert_int_equal(read_at(f, T0 + 20 * MS), 161600);
  /* +25 ms: re-read, u = 1, P = 16,000,000; this 5 ms step: 80,000 -> 241,600 */
  assert_int_equal(read_at(f, T0 + 25 * MS), 241600);
  write_stat(f, 4000, 0, 1000, 5800, 500, 200, 300, 200, 400, 0); /* idle +1000: u = 0 */
  /* +49 ms: 24 ms after the re-read, not re-read: 16,000,000 * 0.024 = 384,000 -> 625,600 */
  assert_int_equal(read_at(f, T0 + 49 * MS), 625600);
  /* +50 ms: re-read, u = 0, P = 1,600,000; 1 ms step: 1,600 -> 627,200 */
  assert_int_equal(read_at(f, T0 + 50 * MS), 627200);
}

/* A /proc/stat aggregate line at u0 = 0.45 followed by @p cpus cpuN lines. */
static void write_cpus(const fixture *f, unsigned cpus) {
  char text[4096] = "cpu  3000 0 1000 4800 500 200 300 200 400 0\n";
  for (unsigned i = 0; i < cpus; i++) {
    size_t n = strlen(text);
    snprintf(text + n, sizeof text - n, "cpu%u 1 0 1 8 0 0 0 0 0 0\n", i);
  }
  strcat(text, "intr 1 2 3\nctxt 4\n");
  nemb_test_write(f->root, "proc/stat", text);
}

/* The window is the time the machine takes to accrue 10 ticks of CPU time, from one tick (10 ms,
 * 10 or more CPUs) to five (50 ms, 2 CPUs or fewer): u is recomputed at the window's end and not
 * a millisecond before it. TDP = CPUs x 4 W; P0 = TDP x 0.505; u = 1 after the first read. */
static void test_window_follows_cpu_count(void **ts) {
  fixture *f = *ts;
  static const struct {
    unsigned cpus;
    uint64_t window_ms, before_uj, at_uj;
  } cases[] = {
      /* 16 CPUs: 64,000,000 uW; P0 x 9 ms = 290,880; + 64,000,000 x 1 ms */
      {16, 10, 290880, 354880},
      /* 8 CPUs: 32,000,000 uW; 12.5 ms, so the 13 ms read; P0 x 12 ms = 193,920; + 32,000 */
      {8, 13, 193920, 225920},
      /* 2 CPUs: 8,000,000 uW; P0 x 49 ms = 197,960; + 8,000 */
      {2, 50, 197960, 205960},
      /* 1 CPU: 100 ms capped at 50; 4,000,000 uW; P0 x 49 ms = 98,980; + 4,000 */
      {1, 50, 98980, 102980},
  };
  for (size_t i = 0; i < NEMB__ARRAY_LEN(cases); i++) {
    write_cpus(f, cases[i].cpus);
    open_defaults(f);
    read_at(f, T0);
    write_stat(f, 4000, 0, 1000, 4800, 500, 200, 300, 200, 400, 0); /* user +1000: u = 1 */
    assert_int_equal(read_at(f, T0 + (cases[i].window_ms - 1) * MS), cases[i].before_uj);
    assert_int_equal(read_at(f, T0 + cases[i].window_ms * MS), cases[i].at_uj);
    ops->close(f->state);
    f->state = NULL;
  }
}

/* If no jiffy passed between re-reads the previous u stays. */
static void test_unchanged_file_keeps_u(void **ts) {
  fixture *f = *ts;
  open_defaults(f);
  read_at(f, T0);
  write_stat(f, 4000, 0, 1000, 4800, 500, 200, 300, 200, 400, 0); /* u = 1 */
  assert_int_equal(read_at(f, T0 + W), 400000);                   /* 16,000,000 * 0.025 */
  /* Same file a window later: total delta 0, u stays 1: + 400,000 */
  assert_int_equal(read_at(f, T0 + 2 * W), 800000);
}

/* Fractions of a microjoule carry over: 320 steps of 3,125 ns at P0 are 25.25 uJ each, 8,080 in
 * all; truncating each step would give 25 * 320 = 8,000. */
static void test_fractions_carry(void **ts) {
  fixture *f = *ts;
  open_defaults(f);
  read_at(f, T0);
  uint64_t t = T0, uj = 0;
  for (int i = 1; i <= 320; i++) {
    t += 3125;
    uj = read_at(f, t);
    if (i == 1) {
      assert_int_equal(uj, 25); /* floor(25.25) */
    } else if (i == 4) {
      assert_int_equal(uj, 101); /* 4 * 25.25 */
    }
  }
  assert_int_equal(uj, 8080);
}

/* Never decreases: not when the load drops, nor when counters step back (iowait can), nor when
 * the timestamp repeats or goes backwards. */
static void test_monotonic(void **ts) {
  fixture *f = *ts;
  open_defaults(f);
  uint64_t prev = read_at(f, T0);
  static const uint64_t idle[] = {4800, 4800, 6000, 5900, 5900, 9000, 8000, 12000};
  static const int64_t dt_ms[] = {3, 25, 25, 0, -2, 26, 25, 60};
  uint64_t t = T0, user = 3000;
  for (size_t i = 0; i < NEMB__ARRAY_LEN(idle); i++) {
    user += (i % 3) * 100;
    write_stat(f, user, 0, 1000, idle[i], 500, 200, 300, 200, 400, 0);
    t = (uint64_t)((int64_t)t + dt_ms[i] * (int64_t)MS);
    uint64_t now = read_at(f, t);
    assert_true(now >= prev);
    prev = now;
  }
  assert_true(prev > 0);
}

/* TDP counts the "cpuN" lines, whatever their numbers, and not the aggregate "cpu " line. */
static void test_cpu_count(void **ts) {
  fixture *f = *ts;
  nemb_test_write(f->root, "proc/stat",
                  "cpu  10 0 10 80 0 0 0 0 0 0\n"
                  "cpu0 1 0 1 8 0 0 0 0 0 0\ncpu1 1 0 1 8 0 0 0 0 0 0\n"
                  "cpu2 1 0 1 8 0 0 0 0 0 0\ncpu4 1 0 1 8 0 0 0 0 0 0\n"
                  "cpu5 1 0 1 8 0 0 0 0 0 0\ncpu7 1 0 1 8 0 0 0 0 0 0\n"
                  "intr 1 2 3\nctxt 4\nsoftirq 5 6\n");
  open_defaults(f);
  const nemb__domain *d;
  ops->domains(f->state, &d);
  assert_int_equal(d->max_power_uw, 24000000); /* 6 CPUs * 4 W */
}

static void test_missing_stat(void **ts) {
  fixture *f = *ts;
  char path[8192];
  snprintf(path, sizeof path, "%s/proc/stat", f->root);
  assert_int_equal(unlink(path), 0);
  nemb__provider_env env = {nemb__config_defaults()};
  char why[512] = "";
  assert_int_equal(ops->open(&env, &f->state, why, sizeof why), NEMB_ENOENT);
  assert_non_null(strstr(why, path));
}

static void test_malformed_stat(void **ts) {
  fixture *f = *ts;
  nemb_test_write(f->root, "proc/stat", "intr 1 2 3\ncpu0 1 2 3 4\n");
  nemb__provider_env env = {nemb__config_defaults()};
  char why[512] = "";
  assert_int_equal(ops->open(&env, &f->state, why, sizeof why), NEMB_EPARSE);
  assert_non_null(strstr(why, "/proc/stat"));
}

/* ----- configuration: these need config.c's nemb_config_from_string ----- */

static int open_json(fixture *f, const char *json, char *why, size_t why_len) {
  nemb_config *cfg = NULL;
  NEMB_ASSERT_OK(nemb_config_from_string(json, "test", &cfg));
  nemb__provider_env env = {cfg};
  int rc = ops->open(&env, &f->state, why, why_len);
  nemb_config_destroy(cfg); /* the provider keeps nothing of the config */
  return rc;
}

static void test_config_tdp_and_idle_fraction(void **ts) {
  fixture *f = *ts;
  char why[512] = "";
  int rc = open_json(f, "{\"providers\":{\"estimate\":{\"tdp_w\":100,\"idle_fraction\":0.2}}}", why,
                     sizeof why);
  if (rc != 0) {
    print_error("open: %s\n", why);
  }
  assert_int_equal(rc, 0);
  const nemb__domain *d;
  ops->domains(f->state, &d);
  assert_int_equal(d->max_power_uw, 100000000); /* tdp_w wins over 4 CPUs * 4 W */
  read_at(f, T0);
  /* u0 = 0.45: P = 100,000,000 * (0.2 + 0.8 * 0.45) = 56,000,000 uW; * 5 ms = 280,000 */
  assert_int_equal(read_at(f, T0 + 5 * MS), 280000);
  write_stat(f, 3000, 0, 1000, 5800, 500, 200, 300, 200, 400, 0); /* idle +1000: u = 0 */
  /* At the window's end: P = 100,000,000 * 0.2 = 20,000,000 uW; * 20 ms = 400,000 -> 680,000 */
  assert_int_equal(read_at(f, T0 + W), 680000);
}

static void test_config_watts_per_cpu(void **ts) {
  fixture *f = *ts;
  char why[512] = "";
  assert_int_equal(
      open_json(f, "{\"providers\":{\"estimate\":{\"watts_per_cpu\":10}}}", why, sizeof why), 0);
  const nemb__domain *d;
  ops->domains(f->state, &d);
  assert_int_equal(d->max_power_uw, 40000000); /* 4 CPUs * 10 W */
}

static void test_config_disabled(void **ts) {
  fixture *f = *ts;
  char why[512] = "";
  assert_int_equal(
      open_json(f, "{\"providers\":{\"estimate\":{\"enabled\":false}}}", why, sizeof why),
      NEMB_ENOTSUP);
  assert_string_equal(why, "disabled by providers.estimate.enabled in the configuration");
  assert_null(f->state);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_domain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_initial_guess_is_boot_average, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fully_busy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_half_busy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reread_every_window, setup, teardown),
      cmocka_unit_test_setup_teardown(test_window_follows_cpu_count, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unchanged_file_keeps_u, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fractions_carry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_monotonic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cpu_count, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_stat, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_stat, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_tdp_and_idle_fraction, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_watts_per_cpu, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_disabled, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
