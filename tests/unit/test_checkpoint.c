/* test_checkpoint.c - checkpoints from instrumented code: per-function aggregates (calls,
 * inclusive and self time and energy), recursion, threads, invocation numbering, the detail
 * limit, bounded memory, unbalanced and open frames, and sessions without a backend. Runs under
 * ThreadSanitizer in CI, with four threads recording at once. */
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "energy.h"
#include "nemb_test.h"
#include "session.h"

/* A constant 20 W. The counter updates every 10 us rather than RAPL's 1 ms: a sample's counter
 * lags its timestamp by up to one update, which would otherwise cost up to 20 mJ at each end. */
#define SIM_20W                                                                                    \
  "{\"update_interval_us\":10,"                                                                    \
  "\"domains\":[{\"name\":\"package-0\",\"waveform\":\"constant\",\"power_w\":20}]}"

static int setup(void **state) {
  (void)state;
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  setenv("CODEGREEN_SIM_CONFIG", SIM_20W, 1);
  unsetenv("CODEGREEN_SYSFS_ROOT");
  return 0;
}

static nemb_session *begin_with(const char *config_json) {
  nemb_config *cfg = NULL;
  if (config_json != NULL) {
    NEMB_ASSERT_OK(nemb_config_from_string(config_json, "test", &cfg));
  }
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "checkpoints";
  o.save_to_file = 0;
  o.config = cfg;
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  nemb_config_destroy(cfg);
  return s;
}

/* Keeps the CPU busy (the sim's power does not depend on it; the clock must advance). */
static void spin_ns(uint64_t ns) {
  uint64_t end = nemb_now_ns() + ns;
  while (nemb_now_ns() < end) {
  }
}

static const nemb__func_stats *find_func(const nemb_session *s, const char *name) {
  const nemb__func_stats *f;
  size_t n = nemb__cp_functions(s, &f);
  for (size_t i = 0; i < n; i++) {
    if (strcmp(f[i].name, name) == 0) {
      return &f[i];
    }
  }
  print_error("no function %s\n", name);
  fail();
  return NULL;
}

static void assert_close(double got, double want, double rel) {
  if (!(got >= want * (1 - rel) && got <= want * (1 + rel))) {
    print_error("%.6f is not within %.3f %% of %.6f\n", got, 100 * rel, want);
    fail();
  }
}

static void test_calls_and_energy(void **state) {
  (void)state;
  nemb_session *s = begin_with(NULL);
  uint32_t id;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "work", "test.c", 10, &id));
  uint32_t again;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "work", "test.c", 10, &again));
  assert_int_equal(id, again);
  for (int i = 0; i < 1000; i++) {
    NEMB_ASSERT_OK(nemb_checkpoint_enter(s, id));
    NEMB_ASSERT_OK(nemb_checkpoint_exit(s, id));
  }
  NEMB_ASSERT_OK(nemb_checkpoint_enter(s, id));
  spin_ns(60 * 1000000ull);
  NEMB_ASSERT_OK(nemb_checkpoint_exit(s, id));
  NEMB_ASSERT_OK(nemb_session_end(s));

  const nemb__func_stats *f = find_func(s, "work");
  assert_int_equal(f->calls, 1001);
  assert_string_equal(f->context, "test.c");
  assert_int_equal(f->line, 10);
  assert_int_equal(f->max_depth, 1);
  assert_true(f->incl_ns >= 60 * 1000000ull);
  assert_int_equal(f->incl_ns, f->self_ns);
  /* 20 W is 20 uJ per microsecond, i.e. 0.02 uJ per ns. */
  assert_close(f->incl_uj, 0.02 * (double)f->incl_ns, 0.005);
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.events, 2002);
  assert_int_equal(sum.invocations, 1001);
  assert_int_equal(sum.unbalanced, 0);
  assert_int_equal(sum.details_kept, 2002);
  assert_int_equal(sum.details_dropped, 0);
  nemb_session_destroy(s);
}

static void test_self_and_inclusive(void **state) {
  (void)state;
  nemb_session *s = begin_with(NULL);
  /* The string form, as instrumented code calls it: enter and exit sit on different lines. The
   * clock reads around the calls bound what a busy machine's preemptions may add. */
  uint64_t w0 = nemb_now_ns();
  NEMB_ASSERT_OK(nemb_checkpoint(s, "1", "outer", "enter", 1, "m.py"));
  spin_ns(30 * 1000000ull);
  uint64_t w1 = nemb_now_ns();
  NEMB_ASSERT_OK(nemb_checkpoint(s, "3", "inner", "enter", 5, "m.py"));
  spin_ns(50 * 1000000ull);
  NEMB_ASSERT_OK(nemb_checkpoint(s, "4", "inner", "exit", 7, "m.py"));
  uint64_t w2 = nemb_now_ns();
  spin_ns(20 * 1000000ull);
  NEMB_ASSERT_OK(nemb_checkpoint(s, "2", "outer", "exit", 3, "m.py"));
  uint64_t w3 = nemb_now_ns();
  NEMB_ASSERT_OK(nemb_session_end(s));

  const nemb__func_stats *outer = find_func(s, "outer"), *inner = find_func(s, "inner");
  assert_int_equal(outer->calls, 1);
  assert_int_equal(inner->calls, 1);
  assert_int_equal(outer->line, 1);
  assert_int_equal(inner->line, 5);
  assert_int_equal(outer->self_ns, outer->incl_ns - inner->incl_ns);
  assert_true(outer->self_ns >= 50 * 1000000ull);
  assert_true(outer->self_ns <= (w3 - w0) - 50 * 1000000ull);
  assert_true(inner->incl_ns >= 50 * 1000000ull && inner->incl_ns <= w2 - w1);
  assert_close(outer->self_uj, outer->incl_uj - inner->incl_uj, 1e-9);
  assert_close(inner->incl_uj, 0.02 * (double)inner->incl_ns, 0.005);
  assert_close(outer->incl_uj, 0.02 * (double)outer->incl_ns, 0.005);
  assert_close(outer->self_uj, 0.02 * (double)outer->self_ns, 0.005);

  /* The details, in time order, with the reference's shape. */
  nemb_sampler_stats st;
  NEMB_ASSERT_OK(nemb_meter_stats(nemb_session_meter(s), &st));
  double late_fraction = st.interval_ns ? (double)st.worst_lateness_ns / (double)st.interval_ns : 0;
  const nemb__cp_detail *d;
  size_t n = nemb__cp_details(s, &d);
  assert_int_equal(n, 4);
  const char *order[] = {"outer", "inner", "inner", "outer"};
  const char *ids[] = {"1", "3", "4", "2"};
  const int lines[] = {1, 5, 7, 3};
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(d[i].name, order[i]);
    assert_string_equal(d[i].checkpoint_id, ids[i]);
    assert_int_equal(d[i].line, lines[i]);
    assert_int_equal(d[i].invocation, 1);
    assert_true(i == 0 || d[i].t_ns >= d[i - 1].t_ns);
    /* One sample interval: 61 uJ units and 10 us of lag make 3 %; a busy machine's late reads
     * can stretch the bracket the power is taken over by up to the sampler's worst lateness. */
    assert_close(d[i].power_w, 20, 0.03 + late_fraction);
  }
  assert_true(d[0].enter && d[1].enter && !d[2].enter && !d[3].enter);
  assert_close(d[3].energy_uj - d[0].energy_uj, outer->incl_uj, 1e-9);
  nemb_session_destroy(s);
}

static void rec(nemb_session *s, uint32_t id, int depth) {
  NEMB_ASSERT_OK(nemb_checkpoint_enter(s, id));
  spin_ns(10 * 1000000ull);
  if (depth > 1) {
    rec(s, id, depth - 1);
  }
  NEMB_ASSERT_OK(nemb_checkpoint_exit(s, id));
}

static void test_recursion_counts_inclusive_once(void **state) {
  (void)state;
  nemb_session *s = begin_with(NULL);
  uint32_t id, top;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "fact", "r.c", 3, &id));
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "main", "r.c", 1, &top));
  NEMB_ASSERT_OK(nemb_checkpoint_enter(s, top));
  rec(s, id, 5);
  NEMB_ASSERT_OK(nemb_checkpoint_exit(s, top));
  NEMB_ASSERT_OK(nemb_session_end(s));

  const nemb__func_stats *f = find_func(s, "fact"), *m = find_func(s, "main");
  assert_int_equal(f->calls, 5);
  assert_int_equal(f->max_depth, 5);
  /* Five nested frames of 10 ms: counted once, about 50 ms, not 10+20+30+40+50 = 150 ms. */
  /* Counted once: not more than main's own time (double counting would give three times it). */
  assert_true(f->incl_ns >= 50 * 1000000ull && f->incl_ns <= m->incl_ns);
  assert_int_equal(f->self_ns, f->incl_ns); /* each frame's self excludes the frame inside it */
  assert_close(f->self_uj, f->incl_uj, 1e-9);
  assert_close(f->incl_uj, 0.02 * (double)f->incl_ns, 0.005);
  assert_true(m->incl_ns >= f->incl_ns);
  assert_int_equal(m->self_ns, m->incl_ns - f->incl_ns);

  /* Each exit carries its own enter's invocation number: 5 4 3 2 1 on the way out. */
  const nemb__cp_detail *d;
  size_t n = nemb__cp_details(s, &d);
  assert_int_equal(n, 12);
  for (size_t i = 0; i < 5; i++) {
    assert_true(d[1 + i].enter);
    assert_int_equal(d[1 + i].invocation, i + 1);
    assert_false(d[6 + i].enter);
    assert_int_equal(d[6 + i].invocation, 5 - i);
  }
  nemb_session_destroy(s);
}

#define N_THREADS 4
#define PER_THREAD 5000

typedef struct {
  nemb_session *s;
  uint32_t id;
  int failures;
} worker_arg;

static void *worker(void *p) {
  worker_arg *a = p;
  for (int i = 0; i < PER_THREAD; i++) {
    if (i % 2 == 0) {
      a->failures += nemb_checkpoint_enter(a->s, a->id) != 0;
      a->failures += nemb_checkpoint(a->s, "in", "leaf", "enter", 20, "t.c") != 0;
      a->failures += nemb_checkpoint(a->s, "out", "leaf", "exit", 22, "t.c") != 0;
      a->failures += nemb_checkpoint_exit(a->s, a->id) != 0;
    } else {
      /* The string form for the shared function too, from its own call sites. */
      a->failures += nemb_checkpoint(a->s, "e", "shared", "enter", 10, "t.c") != 0;
      a->failures += nemb_checkpoint(a->s, "x", "shared", "exit", 12, "t.c") != 0;
    }
  }
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static void check_numbering(const nemb__cp_detail *d, size_t n, const char *name, bool enter,
                            size_t want) {
  uint64_t *inv = malloc(want * sizeof *inv);
  assert_non_null(inv);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (d[i].enter == enter && strcmp(d[i].name, name) == 0) {
      assert_true(k < want);
      inv[k++] = d[i].invocation;
    }
  }
  assert_int_equal(k, want);
  qsort(inv, k, sizeof *inv, cmp_u64);
  for (size_t i = 0; i < k; i++) {
    assert_int_equal(inv[i], i + 1); /* unique, 1..N, across threads */
  }
  free(inv);
}

static void test_threads_and_invocation_numbers(void **state) {
  (void)state;
  nemb_session *s = begin_with(NULL);
  uint32_t id;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "shared", "t.c", 10, &id));
  pthread_t th[N_THREADS];
  worker_arg args[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) {
    args[i] = (worker_arg){s, id, 0};
    assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
  }
  for (int i = 0; i < N_THREADS; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(args[i].failures, 0);
  }
  NEMB_ASSERT_OK(nemb_session_end(s));

  const nemb__func_stats *shared = find_func(s, "shared"), *leaf = find_func(s, "leaf");
  assert_int_equal(shared->calls, N_THREADS * PER_THREAD);
  assert_int_equal(leaf->calls, N_THREADS * PER_THREAD / 2);
  assert_int_equal(shared->max_depth, 1);
  assert_true(shared->incl_ns >= leaf->incl_ns);
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.unbalanced, 0);
  assert_int_equal(sum.invocations, N_THREADS * PER_THREAD * 3 / 2);
  assert_int_equal(sum.events, 2 * sum.invocations);
  assert_int_equal(sum.details_dropped, 0);

  const nemb__cp_detail *d;
  size_t n = nemb__cp_details(s, &d);
  assert_int_equal(n, sum.events);
  check_numbering(d, n, "shared", true, N_THREADS * PER_THREAD);
  check_numbering(d, n, "shared", false, N_THREADS * PER_THREAD);
  check_numbering(d, n, "leaf", true, N_THREADS * PER_THREAD / 2);
  /* Sorted by time; every exit follows its own enter in the same thread. */
  for (size_t i = 1; i < n; i++) {
    assert_true(d[i].t_ns >= d[i - 1].t_ns);
  }
  nemb_session_destroy(s);
}

/* Threads that race for fewer details than they record: the session keeps exactly the limit (the
 * earliest, in time order), counts the rest as dropped, numbers each function's enters 1..N in
 * time order across threads, and gives each exit the number of its own enter (an earlier enter of
 * the same function in the same thread, whose number no other exit has). */
static void test_threads_share_the_limit(void **state) {
  (void)state;
  nemb_session *s = begin_with("{\"measurement\":{\"checkpoints\":{\"detail_limit\":3001}}}");
  uint32_t id;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "shared", "t.c", 10, &id));
  pthread_t th[N_THREADS];
  worker_arg args[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) {
    args[i] = (worker_arg){s, id, 0};
    assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
  }
  for (int i = 0; i < N_THREADS; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(args[i].failures, 0);
  }
  NEMB_ASSERT_OK(nemb_session_end(s));
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.events, N_THREADS * PER_THREAD * 3);
  assert_int_equal(sum.details_kept, 3001);
  assert_int_equal(sum.details_dropped, sum.events - 3001);
  const nemb__cp_detail *d;
  size_t n = nemb__cp_details(s, &d);
  assert_int_equal(n, 3001);
  uint64_t enters[2] = {0, 0}; /* shared, leaf */
  bool *exited = calloc(n + 1, 2 * sizeof *exited);
  assert_non_null(exited);
  for (size_t i = 0; i < n; i++) {
    int f = strcmp(d[i].name, "shared") == 0 ? 0 : 1;
    assert_true(f == 0 || strcmp(d[i].name, "leaf") == 0);
    if (i > 0) {
      assert_true(d[i].t_ns >= d[i - 1].t_ns);
    }
    if (d[i].enter) {
      assert_int_equal(d[i].invocation, ++enters[f]); /* in time order, across threads */
      continue;
    }
    /* An exit: its enter is earlier, in the same thread, with the same number. */
    size_t j = i;
    while (j > 0 &&
           !(d[j - 1].enter && d[j - 1].thread == d[i].thread &&
             strcmp(d[j - 1].name, d[i].name) == 0 && d[j - 1].invocation == d[i].invocation)) {
      j--;
    }
    assert_true(j > 0);
    assert_true(d[i].invocation >= 1 && d[i].invocation <= n);
    assert_false(exited[2 * d[i].invocation + (size_t)f]);
    exited[2 * d[i].invocation + (size_t)f] = true;
  }
  free(exited);
  nemb_session_destroy(s);
}

static void test_detail_limit(void **state) {
  (void)state;
  nemb_session *s = begin_with("{\"measurement\":{\"checkpoints\":{\"detail_limit\":10}}}");
  assert_int_equal(s->detail_limit, 10);
  for (int i = 0; i < 100; i++) {
    NEMB_ASSERT_OK(nemb_checkpoint(s, "a", "f", "enter", 1, NULL));
    NEMB_ASSERT_OK(nemb_checkpoint(s, "b", "f", "exit", 2, NULL));
  }
  NEMB_ASSERT_OK(nemb_session_end(s));
  const nemb__cp_detail *d;
  assert_int_equal(nemb__cp_details(s, &d), 10);
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.details_kept, 10);
  assert_int_equal(sum.details_dropped, 190);
  assert_int_equal(sum.events, 200);
  assert_int_equal(find_func(s, "f")->calls, 100); /* aggregates see everything */
  assert_null(find_func(s, "f")->context);
  /* The first ten, in order: five pairs. */
  for (size_t i = 0; i < 10; i++) {
    assert_int_equal(d[i].invocation, i / 2 + 1);
    assert_int_equal(d[i].enter, i % 2 == 0);
  }
  nemb_session_destroy(s);
}

/* Details past every boundary of their chunks (a thread's first 512 from malloc(), then blocks
 * of the session's 2 MiB arena, 64 blocks to a mapping): all kept, in order, each the right one.
 * The bursts outrun the sampler, so the queue grows (into its mapping, then in place) with
 * events wrapped round its ring; an event out of order would pair wrongly (unbalanced). */
static void test_details_across_chunks(void **state) {
  (void)state;
  nemb_session *s = begin_with("{\"measurement\":{\"checkpoints\":{\"detail_limit\":40000}}}");
  uint32_t outer, inner;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "outer", "o.c", 3, &outer));
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "inner", "i.c", 7, &inner));
  const int bursts = 5, pairs = 3000; /* 12 000 events a burst */
  for (int b = 0; b < bursts; b++) {
    for (int i = 0; i < pairs; i++) {
      NEMB_ASSERT_OK(nemb_checkpoint_enter(s, outer));
      NEMB_ASSERT_OK(nemb_checkpoint_enter(s, inner));
      NEMB_ASSERT_OK(nemb_checkpoint_exit(s, inner));
      NEMB_ASSERT_OK(nemb_checkpoint_exit(s, outer));
    }
    spin_ns(3 * 1000000ull); /* samples arrive: the next burst starts by resolving this one */
  }
  NEMB_ASSERT_OK(nemb_session_end(s));
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.events, 4 * bursts * pairs);
  assert_int_equal(sum.unbalanced, 0);
  assert_int_equal(sum.details_kept, 40000);
  assert_int_equal(sum.details_dropped, 4 * bursts * pairs - 40000);
  const nemb__cp_detail *d;
  assert_int_equal(nemb__cp_details(s, &d), 40000);
  for (size_t i = 0; i < 40000; i++) {
    bool is_outer = i % 4 == 0 || i % 4 == 3;
    assert_string_equal(d[i].name, is_outer ? "outer" : "inner");
    assert_string_equal(d[i].context, is_outer ? "o.c" : "i.c");
    assert_int_equal(d[i].line, is_outer ? 3 : 7);
    assert_int_equal(d[i].enter, i % 4 < 2);
    assert_int_equal(d[i].invocation, i / 4 + 1);
    assert_null(d[i].checkpoint_id);
    assert_int_equal(d[i].thread, 0);
    if (i > 0) {
      assert_true(d[i].t_ns >= d[i - 1].t_ns);
      assert_true(d[i].energy_uj >= d[i - 1].energy_uj);
    }
  }
  assert_int_equal(find_func(s, "outer")->calls, bursts * pairs);
  assert_int_equal(find_func(s, "inner")->calls, bursts * pairs);
  nemb_session_destroy(s);
}

/* The resident set now, in KiB (not the peak: earlier tests may have set a higher one). */
static long rss_kib(void) {
  long pages = 0, resident = 0;
  FILE *fp = fopen("/proc/self/statm", "r");
  if (fp != NULL) {
    if (fscanf(fp, "%ld %ld", &pages, &resident) != 2) {
      resident = 0;
    }
    fclose(fp);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_memory_is_bounded(void **state) {
  (void)state;
  nemb_session *s = begin_with("{\"measurement\":{\"checkpoints\":{\"detail_limit\":1000}}}");
  uint32_t a, b;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "a", NULL, 1, &a));
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "b", NULL, 2, &b));
  long rss0 = rss_kib();
  for (long i = 0; i < 1000000; i++) {
    NEMB_ASSERT_OK(nemb_checkpoint_enter(s, a));
    NEMB_ASSERT_OK(nemb_checkpoint_enter(s, b));
    NEMB_ASSERT_OK(nemb_checkpoint_exit(s, b));
    NEMB_ASSERT_OK(nemb_checkpoint_exit(s, a));
  }
  long grown = rss_kib() - rss0;
  NEMB_ASSERT_OK(nemb_session_end(s));
  const nemb__cp_detail *d;
  assert_int_equal(nemb__cp_details(s, &d), 1000);
  const nemb__func_stats *f;
  assert_int_equal(nemb__cp_functions(s, &f), 2);
  assert_int_equal(f[0].calls, 1000000);
  assert_int_equal(f[1].calls, 1000000);
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.events, 4000000);
  assert_int_equal(sum.details_kept + sum.details_dropped, 4000000);
  /* Two million pairs would take 4 M x 24 B = 96 MB as raw events: the queue is at most 24 MiB
   * (2^20 events, reached only where the sampler falls behind: a busy machine), the details 1000
   * records. Sanitizers keep their own shadow memory, so only without them. */
  print_message("RSS grew by %ld KiB over 2 M enter/exit pairs\n", grown);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  assert_true(grown < 40 * 1024);
#endif
  nemb_session_destroy(s);
}

static void test_unbalanced_and_open_frames(void **state) {
  (void)state;
  nemb_session *s = begin_with(NULL);
  /* An exit with no enter, by name and by id. */
  NEMB_ASSERT_OK(nemb_checkpoint(s, "x", "never", "exit", 9, NULL));
  uint32_t id, lost, open;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "f", NULL, 1, &id));
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "lost", NULL, 5, &lost));
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "open", NULL, 7, &open));
  NEMB_ASSERT_OK(nemb_checkpoint_exit(s, id));
  /* f calls lost, which never exits (an exception): f's exit closes it. */
  NEMB_ASSERT_OK(nemb_checkpoint_enter(s, id));
  NEMB_ASSERT_OK(nemb_checkpoint_enter(s, lost));
  spin_ns(5 * 1000000ull);
  NEMB_ASSERT_OK(nemb_checkpoint_exit(s, id));
  /* open is still running at the end. */
  NEMB_ASSERT_OK(nemb_checkpoint_enter(s, open));
  spin_ns(20 * 1000000ull);
  NEMB_ASSERT_OK(nemb_session_end(s));

  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.events, 6);
  assert_int_equal(sum.invocations, 1); /* f */
  assert_int_equal(sum.unbalanced, 4);  /* two orphan exits, lost, open */
  assert_int_equal(find_func(s, "f")->calls, 1);
  const nemb__func_stats *l = find_func(s, "lost"), *o = find_func(s, "open");
  assert_int_equal(l->calls, 1);
  assert_true(l->incl_ns >= 5 * 1000000ull);
  assert_int_equal(o->calls, 1);
  assert_true(o->incl_ns >= 20 * 1000000ull);
  assert_true(s->t_end >= o->incl_ns);
  assert_close(o->incl_uj, 0.02 * (double)o->incl_ns, 0.005);
  nemb_session_destroy(s);
}

static void test_bad_calls(void **state) {
  (void)state;
  nemb_session *s = begin_with(NULL);
  assert_int_equal(nemb_checkpoint(s, "1", "f", "entry", 1, NULL), NEMB_EINVAL);
  assert_non_null(strstr(nemb_last_error(), "entry"));
  assert_int_equal(nemb_checkpoint(s, "1", NULL, "enter", 1, NULL), NEMB_EINVAL);
  static const char *const not_types[] = {"",   "e",   "en",    "ente",  "enters",
                                          "ex", "exi", "exits", "Enter", "EXIT"};
  for (size_t i = 0; i < NEMB__ARRAY_LEN(not_types); i++) {
    assert_int_equal(nemb_checkpoint(s, "1", "f", not_types[i], 1, NULL), NEMB_EINVAL);
  }
  assert_int_equal(nemb_checkpoint_enter(s, 12345), NEMB_EINVAL);
  uint32_t id;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "f", NULL, 1, &id));
  NEMB_ASSERT_OK(nemb_checkpoint(s, NULL, "f", "enter", 1, NULL)); /* no checkpoint id: fine */
  NEMB_ASSERT_OK(nemb_session_end(s));
  assert_int_equal(nemb_checkpoint(s, "1", "f", "enter", 1, NULL), NEMB_ESTATE);
  assert_int_equal(nemb_checkpoint_enter(s, id), NEMB_ESTATE);
  assert_int_equal(nemb_checkpoint_exit(s, id), NEMB_ESTATE);
  assert_int_equal(nemb_checkpoint_register(s, "g", NULL, 1, &id), NEMB_ESTATE);
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.events, 1);
  assert_int_equal(sum.unbalanced, 1);
  nemb_session_destroy(s);
}

/* A caller may write each name into the same buffer: the same pointers with other contents are
 * other functions (the call-site cache keyed by pointers compares the strings too). */
static void test_reused_buffers_are_other_functions(void **state) {
  (void)state;
  nemb_session *s = begin_with(NULL);
  char name[32], context[32];
  for (int pass = 0; pass < 3; pass++) {
    for (int i = 0; i < 4; i++) {
      snprintf(name, sizeof name, "f%d", i);
      snprintf(context, sizeof context, "m%d.c", i % 2);
      NEMB_ASSERT_OK(nemb_checkpoint(s, "1", name, "enter", 1, context));
      NEMB_ASSERT_OK(nemb_checkpoint(s, "2", name, "exit", 2, context));
    }
  }
  NEMB_ASSERT_OK(nemb_session_end(s));
  for (int i = 0; i < 4; i++) {
    snprintf(name, sizeof name, "f%d", i);
    const nemb__func_stats *f = find_func(s, name);
    assert_int_equal(f->calls, 3);
    snprintf(context, sizeof context, "m%d.c", i % 2);
    assert_string_equal(f->context, context);
  }
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.events, 24);
  assert_int_equal(sum.unbalanced, 0);
  nemb_session_destroy(s);
}

/* A forked child's own session takes over the parent's functions under the same ids: the child's
 * code calls enter/exit with the ids the parent's session gave. */
static void test_inherit_keeps_every_id(void **state) {
  (void)state;
  nemb_session *parent = begin_with(NULL);
  uint32_t f, g, h, f2;
  NEMB_ASSERT_OK(nemb_checkpoint_register(parent, "f", "a.py", 1, &f));
  NEMB_ASSERT_OK(nemb_checkpoint_register(parent, "g", NULL, 7, &g));
  NEMB_ASSERT_OK(nemb_checkpoint_register(parent, "f", "b.py", 3, &h)); /* same name, other file */
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "child";
  o.save_to_file = 0;
  o.exclusive = 0; /* beside the parent's, as codegreen_runtime begins it */
  nemb_session *child = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &child));
  NEMB_ASSERT_OK(nemb_checkpoint_inherit(child, parent));
  NEMB_ASSERT_OK(nemb_checkpoint_register(child, "g", NULL, 7, &f2));
  assert_int_equal(f2, g);
  NEMB_ASSERT_OK(nemb_checkpoint_register(child, "f", "b.py", 3, &f2));
  assert_int_equal(f2, h);
  NEMB_ASSERT_OK(nemb_checkpoint_enter(child, h));
  spin_ns(2000000);
  NEMB_ASSERT_OK(nemb_checkpoint_exit(child, h));
  NEMB_ASSERT_OK(nemb_checkpoint_enter(child, f));
  NEMB_ASSERT_OK(nemb_checkpoint_exit(child, f));
  /* again, or into a session that has functions: refused, nothing changed */
  assert_int_equal(nemb_checkpoint_inherit(child, parent), NEMB_ESTATE);
  assert_int_equal(nemb_checkpoint_inherit(child, child), NEMB_EINVAL);
  assert_int_equal(nemb_checkpoint_inherit(NULL, parent), NEMB_EINVAL);
  NEMB_ASSERT_OK(nemb_session_end(child));
  const nemb__func_stats *st;
  size_t n = nemb__cp_functions(child, &st);
  assert_int_equal(n, 3);
  uint64_t b_calls = 0, a_calls = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(st[i].name, "f") == 0 && st[i].context && strcmp(st[i].context, "b.py") == 0) {
      b_calls = st[i].calls;
      assert_true(st[i].incl_ns >= 2000000);
    } else if (strcmp(st[i].name, "f") == 0) {
      a_calls = st[i].calls;
    }
  }
  assert_int_equal(b_calls, 1);
  assert_int_equal(a_calls, 1);
  NEMB_ASSERT_OK(nemb_session_end(parent));
  assert_int_equal(nemb__cp_functions(parent, &st), 3);
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(st[i].calls, 0); /* the child's calls are the child's */
  }
  nemb_session_destroy(child);
  nemb_session_destroy(parent);
}

static void test_no_backend_still_counts(void **state) {
  (void)state;
  char empty[4096];
  nemb_test_mkdtemp(empty, sizeof empty);
  setenv("CODEGREEN_SYSFS_ROOT", empty, 1);
  unsetenv("CODEGREEN_PROVIDERS");
  nemb_session *s = begin_with("{\"providers\":{\"estimate\":{\"enabled\":false}}}");
  assert_null(nemb_session_meter(s));
  for (int i = 0; i < 300; i++) {
    NEMB_ASSERT_OK(nemb_checkpoint(s, "1", "f", "enter", 1, "c"));
    NEMB_ASSERT_OK(nemb_checkpoint(s, "2", "f", "exit", 2, "c"));
  }
  NEMB_ASSERT_OK(nemb_session_end(s));
  const nemb__func_stats *f = find_func(s, "f");
  assert_int_equal(f->calls, 300);
  assert_true(f->incl_ns > 0);
  assert_true(f->incl_uj == 0 && f->self_uj == 0);
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.invocations, 300);
  assert_int_equal(sum.extrapolated, 0);
  nemb_session_destroy(s);
  nemb_test_rmtree(empty);
}

/* A tiny store (5 samples) coarsens rather than stalls: events long after it first filled are
 * still resolved against stored samples, and their energy stays right with constant power. */
static void test_small_store_still_resolves(void **state) {
  (void)state;
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.save_to_file = 0;
  o.buffer_samples = 5;
  nemb__min_buffer_samples = 1; /* below the public floor of 1000: a store full in 5 samples */
  nemb_session *s = NULL;
  NEMB_ASSERT_OK(nemb_session_begin(&o, &s));
  nemb__min_buffer_samples = NEMB__MIN_BUFFER_SAMPLES;
  spin_ns(20 * 1000000ull); /* the store fills and coarsens */
  uint32_t id;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "late", NULL, 1, &id));
  NEMB_ASSERT_OK(nemb_checkpoint_enter(s, id));
  spin_ns(30 * 1000000ull);
  NEMB_ASSERT_OK(nemb_checkpoint_exit(s, id));
  /* Many events while the store coarsens: resolved against its coarser samples. */
  uint32_t quick;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "quick", NULL, 2, &quick));
  for (int i = 0; i < 100000; i++) {
    NEMB_ASSERT_OK(nemb_checkpoint_enter(s, quick));
    NEMB_ASSERT_OK(nemb_checkpoint_exit(s, quick));
  }
  NEMB_ASSERT_OK(nemb_session_end(s));
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.events, 200002);
  assert_true(sum.extrapolated < sum.events); /* the late pair is resolved by interpolation */
  assert_int_equal(sum.unbalanced, 0);
  nemb_sampler_stats st;
  nemb_meter_stats(s->meter, &st);
  assert_true(st.coarsened >= 1);
  assert_int_equal(st.dropped_at_cap, 0);
  const nemb__func_stats *f = find_func(s, "late");
  assert_close(f->incl_uj, 0.02 * (double)f->incl_ns, 0.02);
  assert_int_equal(find_func(s, "quick")->calls, 100000);
  nemb_session_destroy(s);
}

/* A thread that records faster than the samples come (newuser2 #2: a C++ program's 573 000
 * events in 30 ms filled its queue before measure published a sample): with a queue of 2048
 * events and samples every 5 ms the queue fills about fifty times, and each time the thread
 * waits for the next sample, so every instant is interpolated and no span gets more energy than
 * the session, or more power than the device's 20 W. The wait is set long (only a sampler that
 * stops for 30 s would end it), so this holds on a busy machine. */
static void test_outrunning_thread_waits_for_samples(void **state) {
  (void)state;
  nemb__cp_queue_max = 2048;
  nemb__cp_wait_max_ns = 30000000000ull;
  nemb_session *s = begin_with("{\"coordinator\":{\"measurement_interval_ms\":5}}");
  uint32_t outer, quick;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "outer", NULL, 1, &outer));
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "quick", NULL, 2, &quick));
  NEMB_ASSERT_OK(nemb_checkpoint_enter(s, outer));
  for (int i = 0; i < 50000; i++) {
    NEMB_ASSERT_OK(nemb_checkpoint_enter(s, quick));
    NEMB_ASSERT_OK(nemb_checkpoint_exit(s, quick));
  }
  NEMB_ASSERT_OK(nemb_checkpoint_exit(s, outer));
  NEMB_ASSERT_OK(nemb_session_end(s));
  nemb__cp_queue_max = 1u << 20;
  nemb__cp_wait_max_ns = 100000000ull;
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.events, 100002);
  assert_int_equal(sum.extrapolated, 0);
  assert_int_equal(sum.unbalanced, 0);
  nemb_totals_info t;
  NEMB_ASSERT_OK(nemb_session_totals(s, &t));
  const nemb__func_stats *o = find_func(s, "outer"), *q = find_func(s, "quick");
  assert_int_equal(q->calls, 50000);
  assert_true(o->incl_uj <= (double)t.session_energy_uj);
  assert_true(q->incl_uj <= o->incl_uj);
  assert_close(o->incl_uj, 0.02 * (double)o->incl_ns, 0.02); /* 20 W: uJ per ns / 1000 */
  assert_false(o->unc_why & NEMB__UNC_EXTRA);
  assert_false(q->unc_why & NEMB__UNC_EXTRA);
  nemb_session_destroy(s);
}

/* A sampler that sends nothing in time (here: the wait set to 0, as a stalled sampler or an
 * interval longer than the wait leaves it): the events past the last sample are extrapolated,
 * counted, and the calls they end carry the energy since that sample as their uncertainty
 * (cause "extrapolated"), within which the truth (a constant 20 W) lies. */
static void test_stalled_sampler_flags_extrapolation(void **state) {
  (void)state;
  nemb__cp_queue_max = 2048;
  nemb__cp_wait_max_ns = 0;
  nemb_session *s = begin_with("{\"coordinator\":{\"measurement_interval_ms\":20}}");
  spin_ns(60 * 1000000ull); /* two samples or more: the power is known */
  uint32_t outer, quick;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "outer", NULL, 1, &outer));
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "quick", NULL, 2, &quick));
  NEMB_ASSERT_OK(nemb_checkpoint_enter(s, outer));
  for (int i = 0; i < 50000; i++) {
    NEMB_ASSERT_OK(nemb_checkpoint_enter(s, quick));
    NEMB_ASSERT_OK(nemb_checkpoint_exit(s, quick));
  }
  NEMB_ASSERT_OK(nemb_checkpoint_exit(s, outer));
  NEMB_ASSERT_OK(nemb_session_end(s));
  nemb__cp_queue_max = 1u << 20;
  nemb__cp_wait_max_ns = 100000000ull;
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_true(sum.extrapolated > 0);
  nemb_totals_info t;
  NEMB_ASSERT_OK(nemb_session_totals(s, &t));
  const nemb__func_stats *o = find_func(s, "outer"), *q = find_func(s, "quick");
  assert_true(q->unc_why & NEMB__UNC_EXTRA);
  assert_true(q->unc_uj > 0);
  double truth = 0.02 * (double)o->incl_ns;
  assert_true(fabs(o->incl_uj - truth) <= o->unc_uj + 0.02 * truth);
  assert_true(o->incl_uj - o->unc_uj <= (double)t.session_energy_uj);
  nemb_session_destroy(s);
}

/* Recursion deeper than the shadow stack's 65536 frames: the frames beyond are counted, not
 * stored, and their exits are matched to them so the rest still pairs. */
static void test_very_deep_recursion(void **state) {
  (void)state;
  nemb_session *s = begin_with(NULL);
  uint32_t id;
  NEMB_ASSERT_OK(nemb_checkpoint_register(s, "deep", NULL, 1, &id));
  const int depth = 70000, cap = 65536;
  for (int i = 0; i < depth; i++) {
    NEMB_ASSERT_OK(nemb_checkpoint_enter(s, id));
  }
  for (int i = 0; i < depth; i++) {
    NEMB_ASSERT_OK(nemb_checkpoint_exit(s, id));
  }
  NEMB_ASSERT_OK(nemb_session_end(s));
  const nemb__func_stats *f = find_func(s, "deep");
  assert_int_equal(f->calls, cap);
  assert_int_equal(f->max_depth, cap);
  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  assert_int_equal(sum.invocations, cap);
  assert_int_equal(sum.unbalanced, 2 * (depth - cap));
  nemb_session_destroy(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_calls_and_energy, setup),
      cmocka_unit_test_setup(test_self_and_inclusive, setup),
      cmocka_unit_test_setup(test_recursion_counts_inclusive_once, setup),
      cmocka_unit_test_setup(test_threads_and_invocation_numbers, setup),
      cmocka_unit_test_setup(test_detail_limit, setup),
      cmocka_unit_test_setup(test_threads_share_the_limit, setup),
      cmocka_unit_test_setup(test_details_across_chunks, setup),
      cmocka_unit_test_setup(test_memory_is_bounded, setup),
      cmocka_unit_test_setup(test_unbalanced_and_open_frames, setup),
      cmocka_unit_test_setup(test_bad_calls, setup),
      cmocka_unit_test_setup(test_reused_buffers_are_other_functions, setup),
      cmocka_unit_test_setup(test_inherit_keeps_every_id, setup),
      cmocka_unit_test_setup(test_no_backend_still_counts, setup),
      cmocka_unit_test_setup(test_small_store_still_resolves, setup),
      cmocka_unit_test_setup(test_outrunning_thread_waits_for_samples, setup),
      cmocka_unit_test_setup(test_stalled_sampler_flags_extrapolation, setup),
      cmocka_unit_test_setup(test_very_deep_recursion, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
