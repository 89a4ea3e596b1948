/*
 * bench_hotpath.c - what recording costs the program being measured, per boundary, against one
 * clock_gettime(CLOCK_MONOTONIC) read.
 *
 * In one session on the simulated device (sampler at 1 ms), each round times, in a turning order,
 * a batch of bare clock_gettime(CLOCK_MONOTONIC) reads and a batch of each of:
 *   - the session's boundary-clock stamp alone (clock.h: rdtsc where the TSC is invariant);
 *   - task start+stop pairs (nemb_task_start/nemb_task_stop);
 *   - checkpoint enter+exit pairs through registered ids (nemb_checkpoint_enter/exit);
 *   - checkpoint enter+exit pairs through the string form (nemb_checkpoint), as the Python
 *     runtime calls it.
 * A pair holds two boundaries, so each figure is (pair time / 2) / (clock read time) of the same
 * round: 1.0 means a boundary costs what reading the clock costs. Printed as the median of the
 * per-round ratios with their IQR (bench_common.h).
 *
 * Then the cold start: in a fresh session per round, the first 100 000 checkpoint events
 * (50 000 enter+exit pairs) against 100 000 events of the same session after 300 000 more, by the
 * wall clock and by the recording thread's CPU time (which leaves out what other processes of a
 * busy machine took from it).
 * Then the memory per stored sample and per task record. Figures, not assertions.
 *
 * usage: bench_hotpath [--cold] [rounds] [checkpoint-pairs-per-round] [task-pairs-per-round]
 *   --cold  only the cold start, @p rounds fresh sessions (default 21)
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_common.h"
#include "session.h"

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
  uint64_t t0 = bench_now_ns(), acc = 0;
  for (long i = 0; i < n; i++) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    acc += (uint64_t)ts.tv_nsec;
  }
  sink = acc;
  return (double)(bench_now_ns() - t0) / (double)n;
}

/* The session's own boundary clock (clock.h: rdtsc where the TSC is invariant). */
static double bench_stamp(const nemb_session *s, long n) {
  uint64_t t0 = bench_now_ns(), acc = 0;
  for (long i = 0; i < n; i++) {
    acc += nemb__clock_stamp(&s->clock);
  }
  sink = acc;
  return (double)(bench_now_ns() - t0) / (double)n;
}

static double bench_tasks(nemb_session *s, long n) {
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n; i++) {
    check(nemb_task_start(s, "bench-task"), "nemb_task_start");
    check(nemb_task_stop(s, "bench-task"), "nemb_task_stop");
  }
  return (double)(bench_now_ns() - t0) / (double)n;
}

static double bench_ids(nemb_session *s, uint32_t id, long n) {
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n; i++) {
    check(nemb_checkpoint_enter(s, id), "nemb_checkpoint_enter");
    check(nemb_checkpoint_exit(s, id), "nemb_checkpoint_exit");
  }
  return (double)(bench_now_ns() - t0) / (double)n;
}

static double bench_strings(nemb_session *s, long n) {
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n; i++) {
    check(nemb_checkpoint(s, "17", "bench_function", "enter", 42, "bench/bench_hotpath.py"),
          "nemb_checkpoint enter");
    check(nemb_checkpoint(s, "18", "bench_function", "exit", 57, "bench/bench_hotpath.py"),
          "nemb_checkpoint exit");
  }
  return (double)(bench_now_ns() - t0) / (double)n;
}

static nemb_session *begin(const char *name) {
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = name;
  o.save_to_file = 0;
  nemb_session *s = NULL;
  check(nemb_session_begin(&o, &s), "nemb_session_begin");
  return s;
}

/* This thread's page faults so far (minor and major). */
static double thread_faults(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_THREAD, &ru) != 0) {
    return 0;
  }
  return (double)(ru.ru_minflt + ru.ru_majflt);
}

/* This thread's CPU time in nanoseconds: the time the batch ran, less what other processes of a
 * busy machine took from it (which the wall clock counts). */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* What one cold round measures: ns per pair by the wall clock and by the thread's CPU time, and
 * the thread's page faults, for the first 50 000 pairs and for pairs 200 000-250 000. */
typedef struct cold_figures {
  double wall, cpu, faults;
} cold_figures;

static void cold_batch(nemb_session *s, uint32_t id, cold_figures *out) {
  double f0 = thread_faults();
  uint64_t c0 = thread_cpu_ns();
  out->wall = bench_ids(s, id, 50000);
  out->cpu = (double)(thread_cpu_ns() - c0) / 50000.0;
  out->faults = thread_faults() - f0;
}

static void cold_round(cold_figures *first, cold_figures *steady) {
  nemb_session *s = begin("bench_hotpath_cold");
  uint32_t id;
  check(nemb_checkpoint_register(s, "cold_function", "bench_hotpath.c", 1, &id),
        "nemb_checkpoint_register");
  cold_batch(s, id, first);
  bench_ids(s, id, 150000);
  cold_batch(s, id, steady);
  nemb_session_destroy(s);
}

/* The cold start over @p rounds fresh sessions. */
static int cold_figure(int rounds) {
  enum { WALL0, WALL1, CPU0, CPU1, FLT0, FLT1, N };
  double *v[N];
  for (int k = 0; k < N; k++) {
    v[k] = calloc((size_t)rounds, sizeof *v[k]);
    if (v[k] == NULL) {
      return 1;
    }
  }
  for (int r = 0; r < rounds; r++) {
    cold_figures a, b;
    cold_round(&a, &b);
    v[WALL0][r] = a.wall;
    v[WALL1][r] = b.wall;
    v[CPU0][r] = a.cpu;
    v[CPU1][r] = b.cpu;
    v[FLT0][r] = a.faults;
    v[FLT1][r] = b.faults;
  }
  printf("cold start: a fresh session per round; ns per checkpoint enter+exit pair (by id)\n");
  bench_ratio_line("first 100k events vs events 400k-500k", v[WALL0], v[WALL1], rounds, 1.0,
                   "steady", "ns/pair", 1.0);
  bench_ratio_line("  the same by the thread's CPU time", v[CPU0], v[CPU1], rounds, 1.0, "steady",
                   "ns/pair", 1.0);
  printf("  recording thread's page faults: first 100k events %.0f, events 400k-500k %.0f "
         "(medians)\n",
         bench_median(v[FLT0], rounds), bench_median(v[FLT1], rounds));
  for (int k = 0; k < N; k++) {
    free(v[k]);
  }
  return 0;
}

int main(int argc, char **argv) {
  bool cold_only = argc > 1 && strcmp(argv[1], "--cold") == 0;
  if (cold_only) {
    argc--;
    argv++;
  }
  if (argc > 1 && argv[1][0] == '-') {
    printf("usage: bench_hotpath [--cold] [rounds] [checkpoint-pairs] [task-pairs]\n"
           "  --cold  only the cold-start figure, over [rounds] fresh sessions (default 21)\n");
    return strcmp(argv[1], "--help") == 0 ? 0 : 2;
  }
  int rounds = argc > 1 ? atoi(argv[1]) : 21;
  long cp_pairs = argc > 2 ? atol(argv[2]) : 200000;
  long task_pairs = argc > 3 ? atol(argv[3]) : 20000;
  if (rounds < 1 || cp_pairs < 1 || task_pairs < 1) {
    fprintf(stderr, "usage: bench_hotpath [--cold] [rounds] [checkpoint-pairs] [task-pairs]\n");
    return 2;
  }
  setenv("CODEGREEN_PROVIDERS", "sim", 1);
  if (cold_only) {
    return cold_figure(rounds);
  }
  nemb_session *s = begin("bench_hotpath");
  uint32_t id;
  check(nemb_checkpoint_register(s, "bench_function", "bench_hotpath.c", 1, &id),
        "nemb_checkpoint_register");

  enum { CLK, STAMP, TASK, IDS, STR, KINDS };
  double *v[KINDS];
  for (int k = 0; k < KINDS; k++) {
    v[k] = calloc((size_t)rounds, sizeof *v[k]);
    if (v[k] == NULL) {
      return 1;
    }
  }
  /* Warm-up: the first calls register the thread and allocate its queue. */
  bench_clock(cp_pairs / 10 + 1);
  bench_tasks(s, 100);
  bench_ids(s, id, cp_pairs / 10 + 1);
  bench_strings(s, cp_pairs / 10 + 1);
  for (int r = 0; r < rounds; r++) {
    for (int j = 0; j < KINDS; j++) {
      int k = (r + j) % KINDS; /* the order turns, so no kind always follows another */
      switch (k) {
      case CLK:
        v[k][r] = bench_clock(cp_pairs);
        break;
      case STAMP:
        v[k][r] = bench_stamp(s, cp_pairs);
        break;
      case TASK:
        v[k][r] = bench_tasks(s, task_pairs);
        break;
      case IDS:
        v[k][r] = bench_ids(s, id, cp_pairs);
        break;
      default:
        v[k][r] = bench_strings(s, cp_pairs);
        break;
      }
    }
  }
  check(nemb_session_end(s), "nemb_session_end");

  printf("bench_hotpath: libcodegreen-nemb %s, sim provider, sampler at 1 ms; per boundary "
         "(half a pair) against one clock read of the same round\n",
         nemb_version_string());
  bench_ratio_line("clock_gettime(CLOCK_MONOTONIC)", v[CLK], v[CLK], rounds, 1.0, "clock", "ns", 0);
  char label[96];
  snprintf(label, sizeof label, "boundary clock stamp (%s)", nemb__clock_kind_name(s->clock.kind));
  bench_ratio_line(label, v[STAMP], v[CLK], rounds, 1.0, "clock", "ns", 0);
  bench_ratio_line("task start/stop, per boundary", v[TASK], v[CLK], rounds, 0.5, "clock", "ns",
                   1.0);
  bench_ratio_line("checkpoint by id, per boundary", v[IDS], v[CLK], rounds, 0.5, "clock", "ns",
                   1.0);
  bench_ratio_line("checkpoint string form, per boundary", v[STR], v[CLK], rounds, 0.5, "clock",
                   "ns", 0);

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
  printf("  task record: %zu B (sizeof(nemb__task_rec)); chunks of %d records doubling, then of "
         "2 MiB, with a %zu B header each\n",
         sizeof(nemb__task_rec), NEMB__TASK_CHUNK, offsetof(nemb__chunk, recs));
  nemb_session_destroy(s);

  for (int k = 0; k < KINDS; k++) {
    free(v[k]);
  }
  return cold_figure(rounds / 2 > 5 ? rounds / 2 : 5);
}
