/*
 * bench_sampler.c - what the 1 kHz sampler costs the program it measures, against the floor of
 * any 1 kHz sampler: a bare thread that only wakes every 1 ms (an absolute CLOCK_MONOTONIC
 * deadline through pthread_cond_timedwait with 1 ns timer slack, as the sampler waits) and does
 * nothing else.
 *
 * For each provider set (sim, estimate, and whatever a default meter picks here), paired and
 * interleaved rounds (bench_common.h), the order turning from round to round:
 *   1. CPU: this process's CPU time while the main thread sleeps, with the sampler running and
 *      with the bare wake-up thread running instead; the figure is sampler / bare thread. For
 *      powercap also a third thread, the bare one that makes the provider's reads after each
 *      wake-up (a pread of each zone's energy_uj): what the kernel's reads cost on their own, and
 *      the sampler against that floor, the part its own work adds.
 *   2. Slowdown pinned: the main thread runs a short CPU-bound loop (about 10 ms) pinned to one
 *      core X, while the bare thread and the meter's threads run all along, each either on X
 *      (beside the loop) or on another core Y (away from it). A round is three loops: both away
 *      (the loop alone), the bare thread on X, the sampler on X, in an order that runs through
 *      all six from round to round (for powercap a fourth loop, beside the bare thread making
 *      the provider's reads, each order a rotation); moving a thread takes a
 *      sched_setaffinity() instead of a start, a 200 ms settle and a stop, so there are many
 *      short rounds (40 x rounds of them). The cost of a loop is CPU time: the loop thread's
 *      plus that of the thread on X beside it
 *      (on the one core they take turns, so that is the loop's wall time without the other
 *      processes of a shared machine, whose preemptions made wall-time figures swing by tens of
 *      percent). The figures are the median over rounds of each round's slowdown against its
 *      loop alone, and of the round's difference sampler - bare thread, in points of the loop
 *      alone (the part a better sampler could remove), with the 95 % confidence interval of
 *      that median; the wall-time difference follows. Needs two CPUs.
 *   3. Unpinned: the loop thread's own CPU time (the thread beside it runs on another core and
 *      costs the loop through shared caches and interrupts), sampler against the loop alone.
 * The CPU figure takes a quarter of the rounds (each is two runs of the given seconds), the
 * pinned slowdown forty times as many (each three loops of about 10 ms: about a minute at the
 * default 41). All are taken from
 * SETTLE_NS after the thread started (below).
 * Figures, not assertions: the machines are shared and noisy.
 *
 * usage: bench_sampler [seconds-per-cpu-run] [rounds] [providers...]
 *   defaults: 1 s, 41 rounds, providers sim, estimate and default (the meter's own choice)
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "nemb.h"

/* Every figure is taken this long after the thread started: a new meter first learns when its
 * counters update, with extra reads (about 50 in the first 100 ms on the sim's 976.6 us
 * counter), a one-off cost of the start rather than of sampling. */
#define SETTLE_NS 200000000ull

static void sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* ----- the bare 1 ms wake-up thread ----- */

#define MAX_READS 16

/* The counter files the provider reads each tick, for the floor that makes the same reads (the
 * powercap zones' energy_uj: a provider that reads every domain every tick cannot do less). */
static int floor_fds[MAX_READS];
static int n_floor_fds;

typedef struct bare {
  pthread_t th;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  atomic_bool running;
  uint64_t wakeups;
  int n_reads; /* pread()s of floor_fds after each wake-up: 0 for the bare thread */
} bare;

static void *bare_main(void *arg) {
  bare *b = arg;
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  uint64_t deadline = bench_now_ns();
  pthread_mutex_lock(&b->lock);
  while (atomic_load(&b->running)) {
    deadline += 1000000;
    struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
    while (atomic_load(&b->running) && pthread_cond_timedwait(&b->wake, &b->lock, &ts) == 0) {
    }
    b->wakeups++;
    for (int i = 0; i < b->n_reads; i++) {
      char text[32];
      if (pread(floor_fds[i], text, sizeof text - 1, 0) < 0) {
        b->n_reads = i; /* a file gone: the floor reads what it can */
      }
    }
    uint64_t now = bench_now_ns();
    if (now > deadline + 1000000) {
      deadline = now; /* missed: start again from now, as the sampler does */
    }
  }
  pthread_mutex_unlock(&b->lock);
  return NULL;
}

static void bare_start_reading(bare *b, int n_reads) {
  memset(b, 0, sizeof *b);
  b->n_reads = n_reads;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&b->wake, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&b->lock, NULL);
  atomic_init(&b->running, true);
  if (pthread_create(&b->th, NULL, bare_main, b) != 0) {
    fprintf(stderr, "bench_sampler: cannot start a thread\n");
    exit(1);
  }
}

static void bare_start(bare *b) {
  bare_start_reading(b, 0);
}

static void bare_stop(bare *b) {
  pthread_mutex_lock(&b->lock);
  atomic_store(&b->running, false);
  pthread_cond_signal(&b->wake);
  pthread_mutex_unlock(&b->lock);
  pthread_join(b->th, NULL);
  pthread_cond_destroy(&b->wake);
  pthread_mutex_destroy(&b->lock);
}

/* ----- the sampler ----- */

static nemb_meter *meter_start(void) {
  nemb_meter *m = NULL;
  if (nemb_meter_create(NULL, &m) != 0 || nemb_meter_start(m) != 0) {
    fprintf(stderr, "bench_sampler: cannot start a meter: %s\n", nemb_last_error());
    exit(1);
  }
  return m;
}

/* ----- the loads ----- */

#define WORK_LONG 4000000l  /* about 20 ms on a current core */
#define WORK_SHORT 2000000l /* about 10 ms */

/* A fixed amount of arithmetic, @p n steps. */
static double work_n(long n) {
  volatile double x = 1.0;
  for (long i = 0; i < n; i++) {
    x = x * 1.0000001 + 1e-9;
  }
  return x;
}

static double work(void) {
  return work_n(WORK_LONG);
}

/* This thread's CPU time in nanoseconds. */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

enum { ALONE, BARE, SAMPLER, BARE_READS };

/* ----- pinned: threads moved beside the loop and away from it ----- */

#define MAX_TIDS 16

/* The thread ids of this process, ascending; returns how many (at most @p cap). */
static int list_tids(pid_t *tids, int cap) {
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL && n < cap) {
    if (e->d_name[0] != '.') {
      tids[n++] = (pid_t)atoi(e->d_name);
    }
  }
  if (d != NULL) {
    closedir(d);
  }
  return n;
}

/* CPU time of thread @p tid of this process: the kernel's per-thread CPU clock id, ((~tid) << 3)
 * | CPUCLOCK_PERTHREAD_MASK (4) | CPUCLOCK_SCHED (2) (include/linux/posix-timers_types.h,
 * MAKE_THREAD_CPUCLOCK; what glibc's pthread_getcpuclockid() computes from a pthread_t). */
static uint64_t tid_cpu_ns(pid_t tid) {
  struct timespec ts = {0, 0};
  clock_gettime((clockid_t)((~(unsigned)tid) << 3) | 6, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct group {
  pid_t tids[MAX_TIDS];
  int n;
} group;

static void group_place(const group *g, int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  for (int i = 0; i < g->n; i++) {
    sched_setaffinity(g->tids[i], sizeof one, &one);
  }
}

static uint64_t group_cpu_ns(const group *g) {
  uint64_t sum = 0;
  for (int i = 0; i < g->n; i++) {
    sum += tid_cpu_ns(g->tids[i]);
  }
  return sum;
}

/* The threads that appeared since @p before (@p nb ids) into @p g. */
static void group_new(group *g, const pid_t *before, int nb) {
  pid_t now[MAX_TIDS];
  int n = list_tids(now, MAX_TIDS);
  g->n = 0;
  for (int i = 0; i < n; i++) {
    bool old = false;
    for (int j = 0; j < nb; j++) {
      old = old || now[i] == before[j];
    }
    if (!old) {
      g->tids[g->n++] = now[i];
    }
  }
}

static void slowdown_pinned(int rounds) {
  cpu_set_t saved;
  sched_getaffinity(0, sizeof saved, &saved);
  int x = sched_getcpu(), y = -1;
  x = x < 0 || !CPU_ISSET(x, &saved) ? 0 : x;
  for (int c = 0; c < CPU_SETSIZE && y < 0; c++) {
    y = c != x && CPU_ISSET(c, &saved) ? c : -1;
  }
  if (y < 0 || !CPU_ISSET(x, &saved)) {
    printf("  slowdown pinned: needs two CPUs in this process's affinity mask\n");
    return;
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(x, &one);
  sched_setaffinity(0, sizeof one, &one); /* this thread: the loop, on X */

  pid_t tids[MAX_TIDS];
  int nt = list_tids(tids, MAX_TIDS);
  bare b, br;
  bare_start(&b);
  group gb, gs, gr = {.n = 0};
  group_new(&gb, tids, nt);
  nt = list_tids(tids, MAX_TIDS);
  nemb_meter *m = meter_start();
  group_new(&gs, tids, nt);
  int nk = 3; /* ALONE, BARE, SAMPLER; and BARE_READS where the provider reads files */
  if (n_floor_fds > 0) {
    nt = list_tids(tids, MAX_TIDS);
    bare_start_reading(&br, n_floor_fds);
    group_new(&gr, tids, nt);
    nk = 4;
  }
  group_place(&gb, y);
  group_place(&gs, y);
  group_place(&gr, y);
  sleep_ns(SETTLE_NS);

  static const int orders[6][3] = {{ALONE, BARE, SAMPLER}, {SAMPLER, ALONE, BARE},
                                   {BARE, SAMPLER, ALONE}, {ALONE, SAMPLER, BARE},
                                   {BARE, ALONE, SAMPLER}, {SAMPLER, BARE, ALONE}};
  double *v[4], *w[4];
  for (int k = 0; k < 4; k++) {
    v[k] = calloc((size_t)rounds, sizeof *v[k]);
    w[k] = calloc((size_t)rounds, sizeof *w[k]);
  }
  work_n(WORK_SHORT); /* warm-up */
  for (int r = 0; r < rounds; r++) {
    for (int j = 0; j < nk; j++) {
      /* three: all six orders in turn; four: each place in turn, forwards then backwards */
      int k = nk == 3 ? orders[r % 6][j] : (r / 2 + (r % 2 ? nk - j : j)) % nk;
      group_place(&gb, k == BARE ? x : y);
      group_place(&gs, k == SAMPLER ? x : y);
      group_place(&gr, k == BARE_READS ? x : y);
      const group *beside = k == BARE ? &gb : k == SAMPLER ? &gs : k == BARE_READS ? &gr : NULL;
      uint64_t c0 = thread_cpu_ns() + (beside ? group_cpu_ns(beside) : 0), t0 = bench_now_ns();
      work_n(WORK_SHORT);
      uint64_t t1 = bench_now_ns(), c1 = thread_cpu_ns() + (beside ? group_cpu_ns(beside) : 0);
      v[k][r] = (double)(c1 - c0);
      w[k][r] = (double)(t1 - t0);
    }
  }
  group_place(&gb, y);
  group_place(&gs, y);
  group_place(&gr, y);
  nemb_sampler_stats st = {0};
  nemb_meter_stats(m, &st);
  nemb_meter_destroy(m);
  bare_stop(&b);
  if (nk == 4) {
    bare_stop(&br);
  }
  uint64_t bare_wakeups = b.wakeups; /* after the join */
  sched_setaffinity(0, sizeof saved, &saved);
  printf("  slowdown of a CPU-bound loop pinned to the sampler's core (CPU %d; away: CPU %d), "
         "against the loop alone (%.1f ms); CPU time of the loop and the thread beside it:\n",
         x, y, bench_median(v[ALONE], rounds) / 1e6);
  bench_diff_line("beside the bare 1 ms wake-up thread (floor)", v[BARE], v[ALONE], v[ALONE],
                  rounds, NAN);
  bench_diff_line("beside the sampler", v[SAMPLER], v[ALONE], v[ALONE], rounds, NAN);
  bench_diff_line("sampler - floor", v[SAMPLER], v[BARE], v[ALONE], rounds, 0.5);
  bench_diff_line("wall time, sampler - floor (others' noise)", w[SAMPLER], w[BARE], w[ALONE],
                  rounds, NAN);
  if (nk == 4) {
    bench_diff_line("bare thread + the same reads - floor", v[BARE_READS], v[BARE], v[ALONE],
                    rounds, NAN);
    bench_diff_line("sampler - (bare thread + the same reads)", v[SAMPLER], v[BARE_READS], v[ALONE],
                    rounds, 0.5);
  }
  /* Extra wake-ups (probes, learning reads) cost a whole wake-up each: say how many there were. */
  printf(
      "    over these rounds: the sampler %llu reads (%llu of them probes), the bare thread %llu "
      "wake-ups\n",
      (unsigned long long)st.reads, (unsigned long long)st.probes,
      (unsigned long long)bare_wakeups);
  for (int k = 0; k < 4; k++) {
    free(v[k]);
    free(w[k]);
  }
}

/* ----- unpinned: the thread started and stopped around each loop ----- */

/* One loop beside @p who; the thread starts before the clock and stops after it. Its wall time
 * in *wall, and in *cost the loop thread's own CPU time (what the thread beside it, on another
 * core, costs the loop through caches and interrupts, without the other processes' preemptions
 * that make wall time on a shared machine too noisy to resolve 0.5 %). */
static void loop_beside(int who, double *wall, double *cost) {
  bare b;
  nemb_meter *m = NULL;
  if (who == BARE) {
    bare_start(&b);
  } else if (who == SAMPLER) {
    m = meter_start();
  }
  sleep_ns(SETTLE_NS); /* past the start: the sampler's first reads learn the update edges */
  uint64_t c0 = thread_cpu_ns(), t0 = bench_now_ns();
  work();
  uint64_t t1 = bench_now_ns(), c1 = thread_cpu_ns();
  *wall = (double)(t1 - t0);
  *cost = (double)(c1 - c0);
  if (who == BARE) {
    bare_stop(&b);
  } else if (who == SAMPLER) {
    nemb_meter_destroy(m);
  }
}

static void slowdown_unpinned(int rounds) {
  double *v[3], *w[3];
  for (int k = 0; k < 3; k++) {
    v[k] = calloc((size_t)rounds, sizeof *v[k]);
    w[k] = calloc((size_t)rounds, sizeof *w[k]);
  }
  work(); /* warm-up */
  for (int r = 0; r < rounds; r++) {
    for (int j = 0; j < 3; j++) {
      int k = (r + j) % 3;
      loop_beside(k, &w[k][r], &v[k][r]);
    }
  }
  printf("  slowdown of a CPU-bound loop, unpinned, against the loop alone (%.0f ms); the loop "
         "thread's own CPU time:\n",
         bench_median(w[ALONE], rounds) / 1e6);
  bench_diff_line("beside the bare 1 ms wake-up thread (floor)", v[BARE], v[ALONE], v[ALONE],
                  rounds, NAN);
  bench_diff_line("beside the sampler", v[SAMPLER], v[ALONE], v[ALONE], rounds, 0.5);
  bench_diff_line("wall time, sampler - floor (others' noise)", w[SAMPLER], w[BARE], w[ALONE],
                  rounds, NAN);
  for (int k = 0; k < 3; k++) {
    free(v[k]);
    free(w[k]);
  }
}

/* CPU ns per wall ns while the main thread sleeps @p ns beside @p who. */
static double cpu_share(int who, uint64_t ns, nemb_sampler_stats *st) {
  bare b;
  nemb_meter *m = NULL;
  if (who == BARE || who == BARE_READS) {
    bare_start_reading(&b, who == BARE_READS ? n_floor_fds : 0);
  } else {
    m = meter_start();
  }
  sleep_ns(SETTLE_NS);
  uint64_t c0 = bench_cpu_ns(), w0 = bench_now_ns();
  sleep_ns(ns);
  uint64_t c1 = bench_cpu_ns(), w1 = bench_now_ns();
  if (who == BARE || who == BARE_READS) {
    bare_stop(&b);
  } else {
    nemb_meter_stats(m, st);
    nemb_meter_destroy(m);
  }
  return (double)(c1 - c0) / (double)(w1 - w0);
}

/* Opens the energy_uj files of the powercap zones a powercap meter reads (@p n_domains of
 * them: the RAPL zones intel-rapl:* or amd-rapl:*, not the MMIO copy of a package, as the provider
 * picks them; under $CODEGREEN_SYSFS_ROOT when set). Nothing for another provider. */
static void open_floor_reads(const char *source, size_t n_domains) {
  n_floor_fds = 0;
  if (strcmp(source, "powercap") != 0) {
    return;
  }
  const char *root = getenv("CODEGREEN_SYSFS_ROOT");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/sys/class/powercap", root ? root : "");
  struct dirent **names = NULL;
  int n = scandir(dir, &names, NULL, alphasort);
  for (int i = 0; i < n; i++) {
    const char *z = names[i]->d_name;
    bool rapl = strncmp(z, "intel-rapl:", 11) == 0 || strncmp(z, "amd-rapl:", 9) == 0;
    if (rapl && (size_t)n_floor_fds < n_domains && n_floor_fds < MAX_READS) {
      char path[8192];
      snprintf(path, sizeof path, "%s/%s/energy_uj", dir, z);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        floor_fds[n_floor_fds++] = fd;
      }
    }
    free(names[i]);
  }
  free(names);
  printf("  the floor with reads: %d energy_uj files, each read once a wake-up\n", n_floor_fds);
}

static void close_floor_reads(void) {
  for (int i = 0; i < n_floor_fds; i++) {
    close(floor_fds[i]);
  }
  n_floor_fds = 0;
}

static void bench(const char *providers, double seconds, int rounds) {
  if (providers != NULL) {
    setenv("CODEGREEN_PROVIDERS", providers, 1);
  } else {
    unsetenv("CODEGREEN_PROVIDERS");
  }
  nemb_meter *m = meter_start();
  nemb_domain_info d;
  const char *source = nemb_meter_domain(m, 0, &d) == 0 ? d.source : "?";
  printf("%s (provider %s)\n", providers ? providers : "default", source);
  open_floor_reads(source, nemb_meter_domain_count(m));
  nemb_meter_destroy(m);

  int cr = rounds / 4 > 3 ? rounds / 4 : 3;
  double *cs = calloc((size_t)cr, sizeof *cs), *cb = calloc((size_t)cr, sizeof *cb);
  double *cf = calloc((size_t)cr, sizeof *cf);
  nemb_sampler_stats st = {0};
  uint64_t ns = (uint64_t)(seconds * 1e9);
  /* The order turns from round to round; the floor with reads only where there are reads. */
  static const int orders[6][3] = {{BARE, SAMPLER, BARE_READS}, {SAMPLER, BARE_READS, BARE},
                                   {BARE_READS, BARE, SAMPLER}, {BARE, BARE_READS, SAMPLER},
                                   {SAMPLER, BARE, BARE_READS}, {BARE_READS, SAMPLER, BARE}};
  for (int r = 0; r < cr; r++) {
    for (int j = 0; j < 3; j++) {
      int k = orders[r % 6][j];
      if (k == BARE) {
        cb[r] = cpu_share(BARE, ns, NULL) * 100; /* percent of one core */
      } else if (k == SAMPLER) {
        cs[r] = cpu_share(SAMPLER, ns, &st) * 100;
      } else if (n_floor_fds > 0) {
        cf[r] = cpu_share(BARE_READS, ns, NULL) * 100;
      }
    }
  }
  bench_ratio_line("sampler CPU, % of a core, vs bare thread", cs, cb, cr, 1.0, "bare thread",
                   "% of a core", 1.1);
  if (n_floor_fds > 0) {
    /* What the reads alone cost, and the sampler against a floor that makes them too: the
     * part of the first line that the sampler's own work (not the kernel's reads) adds. */
    bench_ratio_line("bare thread + the same reads, vs bare thread", cf, cb, cr, 1.0, "bare thread",
                     "% of a core", NAN);
    bench_ratio_line("sampler CPU, vs bare thread + the same reads", cs, cf, cr, 1.0, "bare+reads",
                     "% of a core", 1.1);
  }
  printf("    last run: %llu reads, %llu samples, %llu probes, worst lateness %.3f ms, %llu missed "
         "deadlines\n",
         (unsigned long long)st.reads, (unsigned long long)st.samples,
         (unsigned long long)st.probes, (double)st.worst_lateness_ns / 1e6,
         (unsigned long long)st.missed_deadlines);
  free(cs);
  free(cb);
  free(cf);
  slowdown_pinned(40 * rounds);
  close_floor_reads();
  slowdown_unpinned(rounds);
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 1;
  int rounds = argc > 2 ? atoi(argv[2]) : 41;
  if (seconds <= 0 || rounds < 1) {
    fprintf(stderr, "usage: bench_sampler [seconds-per-cpu-run] [rounds] [providers...]\n");
    return 2;
  }
  printf("bench_sampler: sampler at 1 ms (1 kHz), libcodegreen-nemb %s; paired interleaved "
         "rounds, medians with IQR\n",
         nemb_version_string());
  if (argc > 3) {
    for (int i = 3; i < argc; i++) {
      bench(strcmp(argv[i], "default") == 0 ? NULL : argv[i], seconds, rounds);
    }
  } else {
    bench("sim", seconds, rounds);
    bench("estimate", seconds, rounds);
    bench(NULL, seconds, rounds);
  }
  return 0;
}
