/*
 * bench_hotpath.c - what recording costs the program being measured.
 *
 * In one session on the simulated device (sampler at 1 ms), measured in alternating rounds so
 * machine noise hits every kind alike, and reported as the median round:
 *   - a bare clock_gettime(CLOCK_MONOTONIC), the floor every recording call pays once;
 *   - a task start+stop pair (nemb_task_start/nemb_task_stop);
 *   - a checkpoint enter+exit pair through registered ids (nemb_checkpoint_enter/exit);
 *   - a checkpoint enter+exit pair through the string form (nemb_checkpoint), as the Python
 *     runtime calls it;
 * each in nanoseconds and as a ratio to one bare clock read (a pair reads the clock twice, so 2 is
 * the floor). Then the memory per stored sample and per task record. Figures, not assertions.
 *
 * usage: bench_hotpath [rounds] [checkpoint-pairs-per-round] [task-pairs-per-round]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "session.h"

static uint64_t now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void check(int rc, const char *what) {
  if (rc != 0) {
    fprintf(stderr, "bench_hotpath: %s failed: %s (%s)\n", what, nemb_err_name(rc),
            nemb_last_error());
    exit(1);
  }
}

/* ns per iteration of each kind; sink keeps the compiler from dropping the clock reads. */
static volatile uint64_t sink;

static double bench_clock(long n) {
  uint64_t t0 = now(), acc = 0;
  for (long i = 0; i < n; i++) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    acc += (uint64_t)ts.tv_nsec;
  }
  sink = acc;
  return (double)(now() - t0) / (double)n;
}

static double bench_tasks(nemb_session *s, long n) {
  uint64_t t0 = now();
  for (long i = 0; i < n; i++) {
    check(nemb_task_start(s, "bench-task"), "nemb_task_start");
    check(nemb_task_stop(s, "bench-task"), "nemb_task_stop");
  }
  return (double)(now() - t0) / (double)n;
}

static double bench_ids(nemb_session *s, uint32_t id, long n) {
  uint64_t t0 = now();
  for (long i = 0; i < n; i++) {
    check(nemb_checkpoint_enter(s, id), "nemb_checkpoint_enter");
    check(nemb_checkpoint_exit(s, id), "nemb_checkpoint_exit");
  }
  return (double)(now() - t0) / (double)n;
}

static double bench_strings(nemb_session *s, long n) {
  uint64_t t0 = now();
  for (long i = 0; i < n; i++) {
    check(nemb_checkpoint(s, "17", "bench_function", "enter", 42, "bench/bench_hotpath.py"),
          "nemb_checkpoint enter");
    check(nemb_checkpoint(s, "18", "bench_function", "exit", 57, "bench/bench_hotpath.py"),
          "nemb_checkpoint exit");
  }
  return (double)(now() - t0) / (double)n;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 9;
  long cp_pairs = argc > 2 ? atol(argv[2]) : 1000000;
  long task_pairs = argc > 3 ? atol(argv[3]) : 20000;
  if (rounds < 1 || cp_pairs < 1 || task_pairs < 1) {
    fprintf(stderr, "usage: bench_hotpath [rounds] [checkpoint-pairs] [task-pairs]\n");
    return 2;
  }
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = "bench_hotpath";
  o.save_to_file = 0;
  nemb_session *s = NULL;
  check(nemb_session_begin(&o, &s), "nemb_session_begin");
  uint32_t id;
  check(nemb_checkpoint_register(s, "bench_function", "bench_hotpath.c", 1, &id),
        "nemb_checkpoint_register");

  double *clk = calloc((size_t)rounds, sizeof *clk), *task = calloc((size_t)rounds, sizeof *task);
  double *ids = calloc((size_t)rounds, sizeof *ids), *str = calloc((size_t)rounds, sizeof *str);
  if (clk == NULL || task == NULL || ids == NULL || str == NULL) {
    return 1;
  }
  /* Warm-up: the first calls register the thread and allocate its queue. */
  bench_clock(cp_pairs / 10 + 1);
  bench_tasks(s, 100);
  bench_ids(s, id, cp_pairs / 10 + 1);
  bench_strings(s, cp_pairs / 10 + 1);
  for (int r = 0; r < rounds; r++) {
    clk[r] = bench_clock(cp_pairs);
    task[r] = bench_tasks(s, task_pairs);
    ids[r] = bench_ids(s, id, cp_pairs);
    str[r] = bench_strings(s, cp_pairs);
  }
  check(nemb_session_end(s), "nemb_session_end");

  qsort(clk, (size_t)rounds, sizeof *clk, cmp_double);
  qsort(task, (size_t)rounds, sizeof *task, cmp_double);
  qsort(ids, (size_t)rounds, sizeof *ids, cmp_double);
  qsort(str, (size_t)rounds, sizeof *str, cmp_double);
  double c = clk[rounds / 2];
  printf("bench_hotpath: libcodegreen-nemb %s, sim provider, sampler at 1 ms, median of %d "
         "rounds\n",
         nemb_version_string(), rounds);
  printf("  %-44s %8.1f ns\n", "clock_gettime(CLOCK_MONOTONIC)", c);
  printf("  %-44s %8.1f ns  = %5.2f x clock\n", "task start+stop pair", task[rounds / 2],
         task[rounds / 2] / c);
  printf("  %-44s %8.1f ns  = %5.2f x clock\n", "checkpoint enter+exit pair (registered id)",
         ids[rounds / 2], ids[rounds / 2] / c);
  printf("  %-44s %8.1f ns  = %5.2f x clock\n", "checkpoint enter+exit pair (string form)",
         str[rounds / 2], str[rounds / 2] / c);

  nemb__cp_summary sum;
  nemb__cp_get_summary(s, &sum);
  printf("  checkpoints: %llu events, %llu kept as detail, %llu counted only, %llu extrapolated "
         "(queue overtook the sampler)\n",
         (unsigned long long)sum.events, (unsigned long long)sum.details_kept,
         (unsigned long long)sum.details_dropped, (unsigned long long)sum.extrapolated);

  const nemb_meter *m = nemb_session_meter(s);
  if (m != NULL) {
    size_t n = nemb__store_count(&m->store);
    size_t bytes = nemb__store_bytes(&m->store);
    printf("  stored sample: %zu B each (%zu domains); this run: %zu samples in %zu B = %.1f B "
           "per sample with the chunk table and the unfilled chunk\n",
           m->store.stride * sizeof(uint64_t), m->n_domains, n, bytes,
           n ? (double)bytes / (double)n : 0.0);
  }
  printf("  task record: %zu B (sizeof(nemb__task_rec)); %.1f B with its chunk's overhead\n",
         sizeof(nemb__task_rec), (double)sizeof(nemb__task_chunk) / NEMB__TASK_CHUNK);
  nemb_session_destroy(s);
  free(clk);
  free(task);
  free(ids);
  free(str);
  return 0;
}
