/*
 * cmd_run.c - `codegreen run [options] -- CMD [ARGS...] [--vs-- CMD2 [ARGS...] ...]`: the joules
 * of whole commands, like `perf stat`, once or over repeats with statistics, and several commands
 * compared with each other (hyperfine's habit) or with a saved baseline.
 *
 * Each run is one task of a session ("run-1", "run-2", ...; warm-ups are "warmup-1", ... and stay
 * out of the statistics; with several commands the tasks of command k are "c<k>-run-1", ...). The
 * commands' runs are interleaved (A B A B ...) so that a drift of the machine (temperature, other
 * load) reaches every command alike. The task spans fork to exit. The commands' stdin, stdout and
 * stderr are untouched: codegreen writes its summary to stderr and the report where -o and --json
 * say (see outputs.h).
 *
 * Runs that failed (a non-zero exit: the repeats stop there unless --ignore-failure) or were
 * interrupted (SIGINT/SIGTERM to codegreen) are recorded with their status but never enter the
 * statistics. codegreen is the children's subreaper (PR_SET_CHILD_SUBREAPER), so a descendant
 * that the command leaves running in the background is reparented to codegreen rather than to
 * init, and its CPU time counts when it ends.
 *
 * On top of the library's envelope this verb adds:
 *   runs        per run: command, exit status, failed/interrupted/outlier flags (in_statistics:
 *               the run is one the statistics are over; an outlier set aside is not), energy,
 * duration, CPU time of the command's process tree, the machine's CPU time, and the energy
 *               attributed to the command (CPU-time share of the CPU domains; each GPU's
 *               share of SM utilisation where NVML gives per-process samples, gpu_attr.h);
 *   commands    per command: its words and statistics (mean, median, std, CV, min, max, 95 % CI
 *               after the iqr_1.5 filter, outliers listed); "statistics" is the first command's;
 *   comparison  each further command against the first: ratio of mean energies with its spread,
 *               and Welch's t-test;
 *   baseline    with --baseline: the first command against a saved report;
 *   attribution the model behind the attributed figures, per domain, named as a model;
 *   idle        with --idle S: the machine's power while idle, and each run's energy above it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "cli.h"
#include "gpu_attr.h"
#include "groups.h"
#include "interval.h"
#include "json_load.h"
#include "nemb.h"
#include "outputs.h"
#include "push.h"

#define VS "--vs--"
#define MAX_COMMANDS 16
/* Thresholds of the warnings after the summary. */
#define HIGH_CV_PERCENT 10.0   /* the reference's noise threshold for power CV */
#define MIN_COUNTER_UPDATES 50 /* fewer counter updates than this over a run: too short */

typedef struct run_opts {
  long repeat, warmup;
  long interval_ms, print_ms;
  double idle_s, fail_pct;
  bool time_series, json, shell, quiet, ignore_failure, fail_set;
  bool baseline_any; /* --baseline-any: compare with a baseline of another kind or command */
  const char *plot, *config, *baseline, *sep;
  const char *ts_layout; /* --timeseries-layout, or NULL for the config's */
  const char *push;      /* a Prometheus Pushgateway URL, or NULL */
  cg_outputs out;
  char **cmds[MAX_COMMANDS]; /* each NULL-terminated */
  size_t n_cmds;
  char **words; /* everything after --, for meta.argv */
  size_t n_words;
} run_opts;

typedef struct run_result {
  char task[48];
  size_t cmd;
  int status;           /* exit code, or 128 + signal */
  int signo;            /* the signal that killed the command's process (WIFSIGNALED), or 0 */
  int caught;           /* the signal codegreen got and passed on during the run, or 0 */
  double cpu_s;         /* user + system time of the command's process tree */
  double machine_cpu_s; /* busy CPU time of the whole machine meanwhile, from /proc/stat */
  double live_j;        /* the energy seen live, for the progress line only */
  bool warmup, interrupted, in_stats;
  cg_gpu_uses gpu; /* each GPU's per-process utilisation during the run (gpu_attr.h) */
} run_result;

static void free_runs(run_result *runs, size_t n) {
  for (size_t i = 0; runs != NULL && i < n; i++) {
    cg_gpu_free(&runs[i].gpu);
  }
  free(runs);
}

static void print_usage(FILE *fp) {
  fprintf(
      fp,
      "usage: codegreen run [options] -- COMMAND [ARGS...] [--vs-- COMMAND2 [ARGS...] ...]\n\n"
      "Measures the energy of a command from start to exit; with --vs--, of several commands,\n"
      "their runs interleaved, each compared with the first.\n\n"
      "  -r, --repeat N            run each command N times; report statistics (default 1)\n"
      "  -w, --warmup K            run each command K times first, out of the statistics\n"
      "  -i, --ignore-failure      go on after a run that exits non-zero, and count it in\n"
      "                            the statistics (default: stop there; failed runs are\n"
      "                            not counted); the exit status is the first failure's\n"
      "                            either way\n"
      "  -o, --output FILE         write the report; repeatable. The extension says the kind:\n"
      "                            .json, .csv (one row per run, with provenance), .md\n"
      "                            (Markdown table; Relative: each command's energy over\n"
      "                            the first's, as in the summary), each also with .zst\n"
      "                            (zstd-compressed); '-' writes the JSON to stdout\n"
      "  --append                  add the CSV rows to an existing file with the same header\n"
      "  --json                    print the JSON report on stderr instead of the summary\n"
      "  --baseline REPORT.json    compare the first command with the same command line in a\n"
      "                            saved run report; another kind of report (measure,\n"
      "                            Session) or a report without that command is refused\n"
      "                            (exit 2, nothing run)\n"
      "  --baseline-any            compare with the baseline's first row even so (the\n"
      "                            summary and the report's baseline say what was compared)\n"
      "  --fail-if-regressed PCT   exit 1 when the energy grew more than PCT %% over the\n"
      "                            baseline, significantly (Welch's t-test, alpha 0.05)\n"
      "  -I, --interval-print MS   every MS ms, print each domain's energy and power on stderr\n"
      "  -x, --field-separator S   with -I: rows separated by S (CSV with -x ,); stderr then\n"
      "                            has only the rows (no summary or notes: as -q)\n"
      "  --interval-ms M           sampling interval in ms (default: the config's, normally 1)\n"
      "  --idle S                  measure idle power for S seconds first; report energy above\n"
      "  --time-series             keep per-sample power in the report\n"
      "  --timeseries-layout L     samples (default: each task lists its points) or columnar\n"
      "                            (the run's points once, as columns; each task a window)\n"
      "  --export-plot FILE        draw power over time (.html, .png or .svg)\n"
      "  --shell                   run each COMMAND through /bin/sh -c (its words form one\n"
      "                            command line)\n"
      "  -q, --quiet               no summary or progress on stderr\n"
      "  -c, --config FILE         use this config.json instead of the search order\n"
      "  --push URL                push the totals to a Prometheus Pushgateway at the end (the\n"
      "                            URL is checked before anything runs)\n"
      "  --carbon-intensity G      grams CO2e per kWh (user-given): adds co2e_g to the report\n"
      "                            (each run, the CSV, a Markdown CO2e column); the command\n"
      "                            does not inherit it\n"
      "  -h, --help                this help\n\n");
  fprintf(
      fp,
      "Output convention (as perf stat): stdout belongs to the command. The summary goes to\n"
      "stderr; --json replaces it with the JSON report on stderr; -o - puts the JSON on stdout.\n"
      "The exit status is the command's (128 + signal if it was killed; over several runs or\n"
      "commands, the first failure's), else 1 when --fail-if-regressed fires or a --push fails,\n"
      "else 3 when an output (-o, the report on stdout, the plot) could not be written (said on\n"
      "stderr); 2 for a usage error, also an -o that cannot be written (nothing is run); 126 or\n"
      "127 when it cannot be started (found but not executable, not found). The command\n"
      "runs in its own process group; SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGPIPE sent to\n"
      "codegreen are passed on to that group, the interrupted run is recorded but not in the\n"
      "statistics, and the report is still written.\n"
      "Energy attributed to the command (an attribution estimate, never a measurement): the\n"
      "CPU domains (package, core, dram) by the command's share of the machine's CPU time; each\n"
      "NVIDIA GPU by the command's share of its SM utilisation in NVML's per-process samples\n"
      "(nvmlDeviceGetProcessUtilization), where the driver offers them: samples stamped\n"
      "during the run, of every process the command started while it lived (also those that\n"
      "ended before the samples were read; one last read follows the exit). A GPU without them\n"
      "(not supported, no permission, MIG mode) and platform domains are reported as not\n"
      "attributed, with the reason.\n\n"
      "CI recipe:  codegreen run -r 10 -o base.json -- ./bench      (on the main branch)\n"
      "            codegreen run -r 10 --baseline base.json --fail-if-regressed 5 -- ./bench\n");
}

static bool parse_long(const char *text, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || v < lo || v > hi) {
    return false;
  }
  *out = v;
  return true;
}

static bool parse_double(const char *text, double lo, double hi, double *out) {
  char *end;
  double v = strtod(text, &end);
  if (end == text || *end != '\0' || !(v >= lo && v <= hi)) {
    return false;
  }
  *out = v;
  return true;
}

static int usage_error(const char *msg) {
  fprintf(stderr, "codegreen run: %s\n", msg);
  return CG_EXIT_USAGE;
}

static int parse_args(int argc, char **argv, run_opts *o) {
  enum {
    OPT_JSON = 256,
    OPT_IDLE,
    OPT_TS,
    OPT_PLOT,
    OPT_SHELL,
    OPT_APPEND,
    OPT_BASE,
    OPT_FAIL,
    OPT_IMS,
    OPT_PUSH,
    OPT_TSL,
    OPT_BASE_ANY
  };
  static const struct option opts[] = {{"repeat", required_argument, NULL, 'r'},
                                       {"warmup", required_argument, NULL, 'w'},
                                       {"ignore-failure", no_argument, NULL, 'i'},
                                       {"output", required_argument, NULL, 'o'},
                                       {"append", no_argument, NULL, OPT_APPEND},
                                       {"json", no_argument, NULL, OPT_JSON},
                                       {"baseline", required_argument, NULL, OPT_BASE},
                                       {"baseline-any", no_argument, NULL, OPT_BASE_ANY},
                                       {"fail-if-regressed", required_argument, NULL, OPT_FAIL},
                                       {"interval-print", required_argument, NULL, 'I'},
                                       {"field-separator", required_argument, NULL, 'x'},
                                       {"interval-ms", required_argument, NULL, OPT_IMS},
                                       {"idle", required_argument, NULL, OPT_IDLE},
                                       {"time-series", no_argument, NULL, OPT_TS},
                                       {"timeseries-layout", required_argument, NULL, OPT_TSL},
                                       {"export-plot", required_argument, NULL, OPT_PLOT},
                                       {"shell", no_argument, NULL, OPT_SHELL},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"config", required_argument, NULL, 'c'},
                                       {"push", required_argument, NULL, OPT_PUSH},
                                       {"carbon-intensity", required_argument, NULL, 'C'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  o->repeat = 1;
  int c, rc;
  argv[0] =
      "codegreen run"; /* getopt's messages start with it: "codegreen run: unrecognized ..." */
  /* '+': stop at the first non-option, so the command's own options are never ours. */
  while ((c = getopt_long(argc, argv, "+r:w:io:I:x:c:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'r':
      if (!parse_long(optarg, 1, 100000, &o->repeat)) {
        return usage_error("--repeat wants a whole number from 1 to 100000");
      }
      break;
    case 'w':
      if (!parse_long(optarg, 0, 100000, &o->warmup)) {
        return usage_error("--warmup wants a whole number from 0 to 100000");
      }
      break;
    case 'i':
      o->ignore_failure = true;
      break;
    case OPT_IMS:
      if (!cg_parse_interval_ms(optarg, &o->interval_ms)) {
        return usage_error(CG_INTERVAL_MS_RULE);
      }
      break;
    case 'I':
      if (!parse_long(optarg, 10, 3600000, &o->print_ms)) {
        return usage_error("--interval-print wants whole ms from 10 to 3600000");
      }
      break;
    case 'x':
      o->sep = optarg;
      break;
    case OPT_IDLE:
      if (!parse_double(optarg, 1e-3, 3600, &o->idle_s)) {
        return usage_error("--idle wants seconds from 0 to 3600");
      }
      break;
    case OPT_FAIL:
      if (!parse_double(optarg, 0, 1e6, &o->fail_pct)) {
        return usage_error("--fail-if-regressed wants a percentage (0 or more)");
      }
      o->fail_set = true;
      break;
    case OPT_BASE:
      o->baseline = optarg;
      break;
    case OPT_BASE_ANY:
      o->baseline_any = true;
      break;
    case 'o':
      rc = cg_outputs_add(&o->out, "run", optarg, CG_OUT_JSON | CG_OUT_CSV | CG_OUT_MD);
      if (rc != 0) {
        return rc;
      }
      break;
    case OPT_APPEND:
      o->out.append = true;
      break;
    case OPT_JSON:
      o->json = true;
      break;
    case OPT_TS:
      o->time_series = true;
      break;
    case OPT_TSL:
      o->ts_layout = optarg; /* the library checks the name when the session begins */
      break;
    case OPT_PLOT:
      if (o->plot != NULL) { /* the second one silently replaced the first */
        fprintf(stderr,
                "codegreen run: --export-plot is given twice ('%s', '%s'): one plot per "
                "run (`codegreen plot` draws another kind from a -o report); nothing was "
                "run\n",
                o->plot, optarg);
        return CG_EXIT_USAGE;
      }
      o->plot = optarg;
      break;
    case OPT_SHELL:
      o->shell = true;
      break;
    case 'q':
      o->quiet = true;
      break;
    case 'c':
      o->config = optarg;
      break;
    case OPT_PUSH:
      o->push = optarg;
      break;
    case 'C':
      rc = cg_carbon_option("run", optarg);
      if (rc != 0) {
        return rc;
      }
      break;
    case 'h':
      print_usage(stdout);
      return -1;
    default: /* getopt has said what is wrong */
      fprintf(stderr, "codegreen run: the options are listed by codegreen run --help\n");
      return CG_EXIT_USAGE;
    }
  }
  if (optind >= argc || optind < 2 || strcmp(argv[optind - 1], "--") != 0) {
    fprintf(stderr, "codegreen run: %s\n\n",
            optind >= argc ? "no command given" : "put '--' before the command");
    print_usage(stderr);
    return CG_EXIT_USAGE;
  }
  if (o->baseline_any && o->baseline == NULL) {
    return usage_error("--baseline-any goes with --baseline REPORT.json");
  }
  if (o->fail_set && o->baseline == NULL) {
    return usage_error("--fail-if-regressed needs --baseline REPORT.json (or use codegreen diff "
                       "--fail-if-regressed)");
  }
  if (o->sep != NULL && o->print_ms == 0) {
    return usage_error("-x/--field-separator goes with -I/--interval-print");
  }
  /* -x makes stderr a stream of rows (perf stat -I -x's habit: `2>power.csv`): codegreen's own
   * text stays out of it. Errors still go there; the report goes where -o says. */
  o->quiet = o->quiet || o->sep != NULL;
  o->words = argv + optind;
  o->n_words = (size_t)(argc - optind);
  /* Split at --vs--: the separators become the NULLs that end each command's argv. A copy of
   * the words is kept for meta.argv first. */
  char **copy = calloc(o->n_words + 1, sizeof *copy);
  if (copy == NULL) {
    return usage_error("out of memory");
  }
  memcpy(copy, o->words, o->n_words * sizeof *copy);
  o->words = copy;
  o->cmds[o->n_cmds++] = argv + optind;
  for (int k = optind; k < argc; k++) {
    if (strcmp(argv[k], VS) != 0) {
      continue;
    }
    argv[k] = NULL;
    if (o->n_cmds == MAX_COMMANDS) {
      free(copy);
      return usage_error("at most 16 commands in one comparison");
    }
    o->cmds[o->n_cmds++] = argv + k + 1;
  }
  for (size_t k = 0; k < o->n_cmds; k++) {
    if (o->cmds[k][0] == NULL) {
      free(copy);
      return usage_error("an empty command around --vs--");
    }
  }
  return 0;
}

/* Busy CPU seconds of the whole machine so far, from /proc/stat; NAN if unreadable. */
static double machine_busy_seconds(void) {
  FILE *fp = fopen("/proc/stat", "re");
  if (fp == NULL) {
    return NAN;
  }
  unsigned long long f[8] = {0};
  int n = fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2], &f[3],
                 &f[4], &f[5], &f[6], &f[7]);
  fclose(fp);
  if (n < 4) {
    return NAN;
  }
  /* user nice system idle iowait irq softirq steal: busy is all but idle, iowait and steal */
  double busy = (double)(f[0] + f[1] + f[2] + f[5] + f[6]);
  return busy / (double)sysconf(_SC_CLK_TCK);
}

/* Starts command @p cmd (through /bin/sh -c with --shell); returns its pid, or -1 with *err. */
static pid_t spawn(const run_opts *o, char **cmd, int *err) {
  if (!o->shell) {
    return cg_child_start(cmd, true, false, err);
  }
  /* The words form one shell command line. */
  size_t len = 1;
  for (char **a = cmd; *a; a++) {
    len += strlen(*a) + 1;
  }
  char *line = malloc(len);
  if (line == NULL) {
    *err = ENOMEM;
    return -1;
  }
  line[0] = '\0';
  for (char **a = cmd; *a; a++) {
    strcat(line, *a);
    strcat(line, a[1] ? " " : "");
  }
  char *argv[] = {"/bin/sh", "-c", line, NULL};
  pid_t pid = cg_child_start(argv, false, false, err);
  free(line);
  return pid;
}

static double seconds(const struct rusage *ru) {
  return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
         (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

/* Reaps the descendants that were reparented to codegreen (the subreaper) and have ended,
 * adding their CPU time. @return how many are still running. */
static int reap_orphans(double *cpu_s) {
  for (;;) {
    int st;
    struct rusage ru;
    pid_t p = wait4(-1, &st, WNOHANG, &ru);
    if (p > 0) {
      nemb_descendant_ended(p);
      *cpu_s += seconds(&ru);
      continue;
    }
    return p == 0 ? 1 : 0; /* 0: children remain, none ended; -1 ECHILD: none left */
  }
}

/* The in-total energy the meter holds now, in joules (NAN without a meter). */
static double live_energy(nemb_session *s) {
  nemb_meter *m = nemb_session_meter(s);
  if (m == NULL) {
    return NAN;
  }
  size_t n = nemb_meter_domain_count(m);
  uint64_t t, e[64];
  if (n > 64 || nemb_meter_latest(m, &t, e, n) != 0) {
    return NAN;
  }
  double j = 0;
  for (size_t d = 0; d < n; d++) {
    nemb_domain_info info;
    nemb_meter_domain(m, d, &info);
    j += info.in_total ? (double)e[d] / 1e6 : 0;
  }
  return j;
}

/* Runs command @p r->cmd once as task @p r->task. Returns 0, or 127/126 when it could not start
 * (cg_exit_cannot_start(); already reported). */
/* -I's printer (interval.h): started just before the first run's start and stopped just after
 * the last one's exit, so its rows cover the runs (and, with repeats, the pauses between them),
 * not codegreen's own start-up and end. */
typedef struct printer {
  cg_interval *iv;
  bool tried;
} printer;

static void printer_start(printer *p, nemb_session *s, const run_opts *o) {
  nemb_meter *meter = nemb_session_meter(s);
  if (p->tried || o->print_ms == 0 || meter == NULL) {
    return;
  }
  p->tried = true;
  if (cg_interval_start(meter, o->print_ms, o->sep, stderr, &p->iv) != 0) {
    fprintf(stderr, "codegreen run: cannot start the interval printer: %s\n", strerror(errno));
  }
}

static void printer_stop(printer *p) {
  cg_interval_stop(p->iv);
  p->iv = NULL;
}

/* @p last: no run follows this one (the printer stops at its exit). */
static int run_once(nemb_session *s, const run_opts *o, run_result *r, int *background, printer *pr,
                    bool last) {
  char **cmd = o->cmds[r->cmd];
  double busy0 = machine_busy_seconds(), j0 = live_energy(s);
  printer_start(pr, s, o);
  nemb_task_start(s, r->task);
  uint64_t t0_ns = nemb_now_ns();
  int exec_errno = 0;
  pid_t pid = spawn(o, cmd, &exec_errno);
  if (pid < 0) {
    nemb_task_stop(s, r->task);
    fprintf(stderr, "codegreen run: cannot run '%s': %s\n", cmd[0], strerror(exec_errno));
    if (exec_errno == ENOENT && !o->shell && strchr(cmd[0], ' ') != NULL) {
      fprintf(stderr,
              "codegreen run: hint: '%s' is one word with spaces; to run it as a shell "
              "command line, add --shell (codegreen run --shell -- '%s')\n",
              cmd[0], cmd[0]);
    }
    return cg_exit_cannot_start(exec_errno);
  }
  struct rusage ru;
  nemb_descendant_started(pid);
  r->status = cg_child_wait_signal(pid, true, &ru, &r->signo);
  nemb_descendant_ended(pid);
  uint64_t t1_ns = nemb_now_ns();
  nemb_task_stop(s, r->task);
  if (last) {
    printer_stop(pr);
  }
  cg_gpu_take(nemb_session_meter(s), t0_ns, t1_ns, &r->gpu);
  r->caught = cg_signals_caught();
  r->interrupted = r->caught != 0;
  r->machine_cpu_s = machine_busy_seconds() - busy0;
  r->live_j = live_energy(s) - j0;
  r->cpu_s = seconds(&ru);
  *background = reap_orphans(&r->cpu_s);
  return 0;
}

/* The machine's energy over an idle stretch, from the meter's live readings. */
static json_t *measure_idle(nemb_session *s, double secs_wanted) {
  nemb_meter *m = nemb_session_meter(s);
  if (m == NULL) {
    return json_null();
  }
  size_t n = nemb_meter_domain_count(m);
  uint64_t *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b), ta = 0, tb = 0;
  json_t *out = json_null();
  struct timespec ts = {(time_t)secs_wanted, (long)((secs_wanted - floor(secs_wanted)) * 1e9)};
  if (a && b && nemb_meter_latest(m, &ta, a, n) == 0) {
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !cg_signals_caught()) {
    }
    if (nemb_meter_latest(m, &tb, b, n) == 0 && tb > ta) {
      double secs = (double)(tb - ta) / 1e9, total = 0;
      json_t *doms = json_object();
      for (size_t d = 0; d < n; d++) {
        nemb_domain_info info;
        nemb_meter_domain(m, d, &info);
        double j = (double)(b[d] - a[d]) / 1e6;
        json_object_set_new(doms, info.name, json_real(j / secs));
        total += info.in_total ? j : 0;
      }
      out = json_pack("{s:f, s:f, s:f, s:o}", "duration_s", secs, "energy_j", total, "power_w",
                      total / secs, "domains_power_w", doms);
    }
  }
  free(a);
  free(b);
  return out;
}

/* ----- progress ----- */

typedef struct progress {
  bool on, erase_before_run; /* erase: the commands write to the terminal the bar is on */
  struct timespec t0;
  double sum_j;
  size_t n_j;
} progress;

static void progress_init(progress *p, const run_opts *o, size_t total) {
  memset(p, 0, sizeof *p);
  p->on = !o->quiet && !o->json && o->print_ms == 0 && total >= 2 && isatty(STDERR_FILENO);
  p->erase_before_run = p->on && isatty(STDOUT_FILENO);
  clock_gettime(CLOCK_MONOTONIC, &p->t0);
}

static void progress_erase(const progress *p) {
  if (p->on) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
}

static void progress_draw(progress *p, const run_result *r, size_t done, size_t total) {
  if (!r->warmup && !r->interrupted && isfinite(r->live_j)) {
    p->sum_j += r->live_j;
    p->n_j++;
  }
  if (!p->on) {
    return;
  }
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double el = (double)(now.tv_sec - p->t0.tv_sec) + (double)(now.tv_nsec - p->t0.tv_nsec) / 1e9;
  double eta = done ? el / (double)done * (double)(total - done) : 0;
  int width = 24, filled = (int)((size_t)width * done / total);
  fprintf(stderr, "\r\033[Kcodegreen run: [%.*s%*s] %zu/%zu  ETA %d:%02d", filled,
          "########################", width - filled, "", done, total, (int)eta / 60,
          (int)eta % 60);
  if (p->n_j > 0) {
    fprintf(stderr, "  mean ~%.4g J", p->sum_j / (double)p->n_j);
  }
  if (done == total) {
    fputs("\r\033[K", stderr);
  }
  fflush(stderr);
}

/* ----- how a run ended ----- */

/* "SIGKILL" for 9 (sigabbrev_np), "signal 77" for a number without a name. */
static json_t *signal_json(int sig) {
  char name[32];
  cg_signal_name(sig, name, sizeof name);
  return sig > 0 ? json_string(name) : json_null();
}

/* The one wording of how a run ended, from its entry in "runs" (exit_status, signal,
 * interrupted_by), for the summary: "failed (exit status 1)", "killed by SIGKILL (exit status
 * 137)", "interrupted (codegreen got SIGTERM and passed it on; the command was killed by
 * SIGTERM)", "completed". A status above 128 from a process that exited by itself is not called
 * a signal: it is the process's own status (a shell says so when its command was killed: the
 * words add that reading, hedged). */
static void end_words(json_t *r, char *buf, size_t len) {
  int st = (int)json_integer_value(json_object_get(r, "exit_status"));
  const char *sig = json_string_value(json_object_get(r, "signal"));
  const char *by = json_string_value(json_object_get(r, "interrupted_by"));
  char core[160];
  if (sig != NULL) {
    snprintf(core, sizeof core, "killed by %s (exit status %d%s)", sig, st,
             strcmp(sig, "SIGPIPE") == 0 ? "; the reader of its output had gone, as in cmd | head"
                                         : "");
  } else if (st > 128 && st < 128 + 65 && sigabbrev_np(st - 128) != NULL) {
    char name[32];
    cg_signal_name(st - 128, name, sizeof name);
    snprintf(core, sizeof core, "exit status %d, a shell's status for a command killed by %s", st,
             name);
  } else {
    snprintf(core, sizeof core, "exit status %d", st);
  }
  if (by != NULL) {
    snprintf(buf, len, "interrupted (codegreen got %s and passed it on; the command %s %s)", by,
             sig != NULL ? "was" : "ended with", core);
  } else if (sig != NULL) {
    snprintf(buf, len, "%s", core);
  } else if (st != 0) {
    snprintf(buf, len, "failed (%s)", core);
  } else {
    snprintf(buf, len, "completed");
  }
}

/* ----- the report ----- */

static json_t *find_task(json_t *report, const char *name) {
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(report, "tasks"), i, t) {
    const char *tn = json_string_value(json_object_get(t, "name"));
    if (tn != NULL && strcmp(tn, name) == 0) {
      return t;
    }
  }
  return NULL;
}

static json_t *stats_json(const nemb_stats *st) {
  return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I}", "mean", st->mean, "median",
                   st->median, "std", st->std, "cv_percent", st->cv_percent, "min", st->min, "max",
                   st->max, "ci95_low", st->ci95_low, "ci95_high", st->ci95_high, "n_used",
                   (json_int_t)st->n_used, "n_outliers", (json_int_t)st->n_outliers);
}

/* Sets each of @p keys that @p o has to null: a figure that is unknown, not zero (CSV writes an
 * empty cell, Markdown and the summary "unknown"). */
static void null_fields(json_t *o, const char *const *keys, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (json_object_get(o, keys[i]) != NULL) {
      json_object_set_new(o, keys[i], json_null());
    }
  }
}

/* A run's energy figures, and a statistics block's: null when the run's energy is unknown. */
static const char *const run_energy_keys[] = {"energy_j",
                                              "attributed_energy_j",
                                              "attributed_cpu_energy_j",
                                              "attributed_gpu_energy_j",
                                              "unattributed_energy_j",
                                              "energy_above_idle_j",
                                              "co2e_g"};
static const char *const stats_figure_keys[] = {"mean", "median", "std",      "cv_percent",
                                                "min",  "max",    "ci95_low", "ci95_high"};

/* The CPU domains, whose energy the CPU-time share attributes; the others (GPUs, the platform)
 * are not attributed by this model; GPUs have their own, gpu_attr.h). */
static bool cpu_kind(const char *kind) {
  return kind != NULL && (strcmp(kind, "cpu_package") == 0 || strcmp(kind, "nested") == 0 ||
                          strcmp(kind, "dram") == 0 || strcmp(kind, "estimate") == 0);
}

/* @p gpu: the last run's GPU usage, whose methods stand for the report's. */
static json_t *attribution_block(json_t *topo, const cg_gpu_uses *gpu) {
  json_t *doms = json_object();
  const char *name;
  json_t *info;
  json_object_foreach(topo, name, info) {
    const char *kind = json_string_value(json_object_get(info, "kind"));
    char buf[256];
    const char *gm = gpu != NULL ? cg_gpu_method(gpu, name, buf, sizeof buf) : NULL;
    json_object_set_new(doms, name,
                        json_string(cpu_kind(kind) ? "cpu_time_share"
                                    : gm != NULL   ? gm
                                    : kind != NULL && strcmp(kind, "gpu") == 0
                                        ? "not_attributed: no per-process figures for this GPU"
                                        : "not_attributed: a platform-wide domain"));
  }
  return json_pack(
      "{s:s, s:s, s:s, s:o}", "model", "cpu_time_share", "gpu_model", "nvml_process_utilization",
      "description",
      "Attribution estimates, not measurements: the energy counters are machine-wide. CPU "
      "domains (cpu_time_share): (energy of the CPU domains counted in energy_j) x (CPU time of "
      "the command's process tree, background descendants included / busy CPU time of the whole "
      "machine during the run). GPU domains (nvml_process_utilization, where NVML offers "
      "per-process utilisation): the GPU's energy x (SM utilisation of the command's processes "
      "/ SM utilisation of every process, summed over NVML's samples during the run), a "
      "time-share proxy; a GPU without per-process figures is not attributed and says why. "
      "attributed_energy_j = attributed_cpu_energy_j + attributed_gpu_energy_j; the domains "
      "no model covers: unattributed_energy_j.",
      "domains", doms);
}

/* Runs, per-command statistics, comparison, attribution and idle on top of the envelope. */
static void extend_report(json_t *report, const run_opts *o, run_result *runs, size_t n_runs,
                          json_t *idle) {
  json_t *topo = json_object_get(json_object_get(report, "meta"), "domain_topology");
  /* The one rule (cg_total_never_changed): counters that never changed counted nothing, so
   * every energy figure (and power, ratio) is unknown: null, never a measured 0 J. */
  bool unknown = cg_total_never_changed(json_object_get(report, "meta"));
  double idle_w = json_number_value(json_object_get(idle, "power_w"));
  json_t *arr = json_array();
  double *energy = calloc(n_runs ? n_runs : 1, sizeof *energy);
  double *dur = calloc(n_runs ? n_runs : 1, sizeof *dur);
  double *power = calloc(n_runs ? n_runs : 1, sizeof *power);
  size_t *idx = calloc(n_runs ? n_runs : 1, sizeof *idx);
  for (size_t i = 0; i < n_runs; i++) {
    run_result *rr = &runs[i];
    json_t *t = find_task(report, rr->task);
    double e = json_number_value(json_object_get(t, "energy_j"));
    double d = json_number_value(json_object_get(t, "duration_s"));
    double cpu_j = 0, other_j = 0; /* the in-total domains: CPU ones, and the others */
    const char *dn;
    json_t *dv;
    json_object_foreach(json_object_get(t, "domains"), dn, dv) {
      json_t *info = json_object_get(topo, dn);
      if (json_is_true(json_object_get(info, "in_total"))) {
        *(cpu_kind(json_string_value(json_object_get(info, "kind"))) ? &cpu_j : &other_j) +=
            json_number_value(dv);
      }
    }
    /* /proc/stat counts in jiffies (10 ms): a short command on a quiet machine can see none
     * while rusage gave the tree some microseconds. That rounding, as any that puts the tree
     * above the machine, gives the whole share; a tree of no CPU time has none. NAN (null): the
     * machine's time could not be read. */
    double share = isnan(rr->machine_cpu_s) ? NAN
                   : rr->machine_cpu_s > 0  ? rr->cpu_s / rr->machine_cpu_s
                   : rr->cpu_s > 0          ? 1
                                            : 0;
    share = share > 1 ? 1 : share;
    double gpu_j = 0, gpu_covered = 0;
    json_t *gpu_att =
        cg_gpu_attribution(&rr->gpu, json_object_get(t, "domains"), &gpu_j, &gpu_covered);
    rr->in_stats = !rr->warmup && !rr->interrupted && (rr->status == 0 || o->ignore_failure);
    json_t *r = json_pack("{s:s, s:I, s:b, s:i, s:b, s:b, s:b, s:b, s:f, s:f, s:f, s:f}", "task",
                          rr->task, "command_index", (json_int_t)rr->cmd, "warmup", rr->warmup,
                          "exit_status", rr->status, "failed", rr->status != 0, "interrupted",
                          rr->interrupted, "in_statistics", rr->in_stats, "outlier", 0, "energy_j",
                          e, "duration_s", d, "cpu_time_s", rr->cpu_s, "machine_cpu_time_s",
                          isnan(rr->machine_cpu_s) ? 0 : rr->machine_cpu_s);
    json_object_set_new(r, "signal", signal_json(rr->signo));
    json_object_set_new(r, "interrupted_by", signal_json(rr->caught));
    json_object_set_new(r, "attributed_share", isnan(share) ? json_null() : json_real(share));
    json_object_set_new(r, "attributed_energy_j",
                        isnan(share) ? json_null() : json_real(share * cpu_j + gpu_j));
    json_object_set_new(r, "attributed_cpu_energy_j",
                        isnan(share) ? json_null() : json_real(share * cpu_j));
    json_object_set_new(r, "attributed_gpu_energy_j", json_real(gpu_j));
    /* The domains no model covers, summed (not energy_j less the rest: no 1e-16 J left over
     * from rounding where every domain is covered). */
    double unattributed = other_j - gpu_covered;
    json_object_set_new(r, "unattributed_energy_j",
                        json_real(fabs(unattributed) <= 1e-9 * fabs(e) ? 0 : unattributed));
    json_object_set_new(r, "gpu_attribution", gpu_att);
    json_t *co2e = json_object_get(t, "co2e_g"); /* with a carbon intensity only */
    if (json_is_number(co2e)) {
      json_object_set(r, "co2e_g", co2e);
    }
    json_object_set_new(r, "energy_above_idle_j",
                        json_is_object(idle) ? json_real(e - idle_w * d) : json_null());
    json_t *unc = json_object_get(t, "energy_uncertainty_j");
    if (json_is_number(unc)) {
      /* The counters allow e +/- this (the run was short, or the sampler missed updates). */
      json_object_set(r, "energy_uncertainty_j", unc);
      json_object_set(r, "energy_uncertainty_cause",
                      json_object_get(t, "energy_uncertainty_cause"));
    }
    if (unknown) {
      null_fields(r, run_energy_keys, sizeof run_energy_keys / sizeof run_energy_keys[0]);
    }
    json_array_append_new(arr, r);
  }
  json_object_set_new(report, "runs", arr);

  json_t *cmds = json_array();
  nemb_stats first_e = {0};
  json_t *comparisons = json_array();
  for (size_t k = 0; k < o->n_cmds; k++) {
    size_t n = 0;
    for (size_t i = 0; i < n_runs && energy && dur && power && idx; i++) {
      if (runs[i].cmd == k && runs[i].in_stats) {
        json_t *r = json_array_get(arr, i);
        energy[n] = json_number_value(json_object_get(r, "energy_j"));
        dur[n] = json_number_value(json_object_get(r, "duration_s"));
        power[n] = dur[n] > 0 ? energy[n] / dur[n] : 0;
        idx[n++] = i;
      }
    }
    char *cmdline = cg_command_string(o->cmds[k]);
    json_t *argv = json_array();
    for (char **a = o->cmds[k]; *a; a++) {
      json_array_append_new(argv, cg_json_text(*a)); /* bytes, maybe not UTF-8 */
    }
    size_t warm = 0, done = 0;
    for (size_t i = 0; i < n_runs; i++) {
      warm += runs[i].cmd == k && runs[i].warmup;
      done += runs[i].cmd == k && !runs[i].warmup;
    }
    json_t *stats =
        json_pack("{s:I, s:I, s:I, s:s}", "n_runs", (json_int_t)done, "warmup_runs",
                  (json_int_t)warm, "n_in_statistics", (json_int_t)n, "outlier_method", "iqr_1.5");
    json_t *outliers = json_array();
    nemb_stats se, sd, sp;
    unsigned char *flag = calloc(n ? n : 1, 1);
    if (n > 0 && flag && nemb_stats_compute(energy, n, 1, &se, flag) == 0 &&
        nemb_stats_compute(dur, n, 1, &sd, NULL) == 0 &&
        nemb_stats_compute(power, n, 1, &sp, NULL) == 0) {
      /* An outlier set aside is out of the statistics, as the summary says: in_statistics
       * false and not in n_in_statistics (groups.c counts it back to filter alike). */
      json_object_set_new(stats, "n_in_statistics", json_integer((json_int_t)se.n_used));
      for (size_t i = 0; i < n; i++) {
        if (flag[i]) {
          json_t *r = json_array_get(arr, idx[i]);
          json_object_set_new(r, "outlier", json_true());
          json_object_set_new(r, "in_statistics", json_false());
          json_array_append_new(outliers, json_pack("{s:s, s:s, s:f}", "run", runs[idx[i]].task,
                                                    "field", "energy_j", "value", energy[i]));
        }
      }
      json_object_set_new(stats, "energy_j", stats_json(&se));
      json_object_set_new(stats, "duration_s", stats_json(&sd));
      json_object_set_new(stats, "avg_power_w", stats_json(&sp));
      if (unknown) { /* the blocks stay (n_used counts the runs), their figures are null */
        size_t nk = sizeof stats_figure_keys / sizeof stats_figure_keys[0];
        null_fields(json_object_get(stats, "energy_j"), stats_figure_keys, nk);
        null_fields(json_object_get(stats, "avg_power_w"), stats_figure_keys, nk);
      }
      if (k == 0) {
        first_e = se;
      } else if (first_e.n_used > 0 && !unknown) { /* no ratio of unknowns */
        nemb_comparison c;
        if (nemb_stats_compare(&first_e, &se, 0.05, &c) == 0) {
          json_t *cmp = json_pack("{s:I, s:I, s:f, s:f, s:f, s:f, s:s, s:f}", "command_index",
                                  (json_int_t)k, "baseline_index", (json_int_t)0, "energy_ratio",
                                  c.ratio, "energy_ratio_std", c.ratio_std, "energy_diff_j", c.diff,
                                  "energy_diff_percent", c.diff_percent, "test", "welch_t_test",
                                  "alpha", c.alpha);
          json_object_set_new(cmp, "t", isfinite(c.t) ? json_real(c.t) : json_null());
          json_object_set_new(cmp, "df", isfinite(c.df) ? json_real(c.df) : json_null());
          json_object_set_new(cmp, "p_value",
                              isfinite(c.p_value) ? json_real(c.p_value) : json_null());
          json_object_set_new(cmp, "significant",
                              c.significant < 0 ? json_null() : json_boolean(c.significant));
          json_array_append_new(comparisons, cmp);
        }
      }
    }
    free(flag);
    json_object_set_new(stats, "outliers", outliers);
    json_array_append_new(cmds, json_pack("{s:I, s:o, s:o, s:o}", "index", (json_int_t)k, "command",
                                          cg_json_text(cmdline ? cmdline : ""), "argv", argv,
                                          "statistics", stats));
    free(cmdline);
  }
  json_object_set_new(report, "commands", cmds);
  json_object_set(report, "statistics", json_object_get(json_array_get(cmds, 0), "statistics"));
  if (o->n_cmds > 1) {
    json_object_set_new(report, "comparison", comparisons);
  } else {
    json_decref(comparisons);
  }
  json_object_set_new(report, "attribution",
                      attribution_block(topo, n_runs > 0 ? &runs[n_runs - 1].gpu : NULL));
  json_object_set_new(report, "idle", idle);
  free(energy);
  free(dur);
  free(power);
  free(idx);
}

/* The first command's line as the report's commands[0].command holds it (valid UTF-8), the name
 * its group has (groups.h). The caller frees it; NULL when out of memory. */
static char *first_command(const run_opts *o) {
  char *raw = cg_command_string(o->cmds[0]);
  char *text = raw != NULL ? cg_utf8_text(raw) : NULL;
  free(raw);
  return text;
}

/* The baseline's group to compare this run's first command (@p cmd) with: the run report's
 * group of the same command line. A baseline of another kind (a measure or Session report: no
 * runs of a command) or without that command gives NULL and the reason in @p why, and, with
 * --baseline-any, its first group in *@p fallback (NULL otherwise). */
static const cg_group *baseline_group(const cg_groups *a, const char *cmd, const run_opts *o,
                                      const cg_group **fallback, char *why, size_t len) {
  *fallback = NULL;
  if (strcmp(a->kind, "run") != 0) {
    snprintf(why, len, "%s is a %s report, not a codegreen run report of `%s`", o->baseline,
             a->kind, cmd);
  } else {
    const cg_group *g = cg_groups_find(a, cmd);
    if (g != NULL) {
      return g;
    }
    snprintf(why, len, "%s has no run of `%s` (its first command is `%s`)", o->baseline, cmd,
             a->g[0].name);
  }
  *fallback = o->baseline_any ? &a->g[0] : NULL;
  return NULL;
}

/* Before anything runs: a baseline that is not a codegreen report, or (without --baseline-any)
 * not a run report of the first command, is refused. @return 0 or CG_EXIT_USAGE (said). */
static int check_baseline(json_t *base, const char *msg, const run_opts *o) {
  cg_groups g;
  if (base == NULL || cg_groups_from_report(base, &g) != 0) {
    fprintf(stderr, "codegreen run: --baseline %s: %s; nothing was run\n", o->baseline,
            base == NULL ? msg : "not a codegreen report");
    return CG_EXIT_USAGE;
  }
  char *cmd = first_command(o);
  char why[1200];
  const cg_group *fb = NULL;
  int rc = 0;
  if (cmd == NULL) {
    fprintf(stderr, "codegreen run: out of memory; nothing was run\n");
    rc = CG_EXIT_USAGE;
  } else if (baseline_group(&g, cmd, o, &fb, why, sizeof why) == NULL && fb == NULL) {
    fprintf(stderr,
            "codegreen run: --baseline %s: its figure is not this command's; nothing was run "
            "(--baseline-any compares with its first row all the same)\n",
            why);
    rc = CG_EXIT_USAGE;
  }
  free(cmd);
  cg_groups_free(&g);
  return rc;
}

/* --baseline: the first command's energy against the saved run report's runs of the same
 * command (or, with --baseline-any, its first row). Adds "baseline" to the report. @return 1
 * when --fail-if-regressed fires, 2 when it cannot decide (a side not measured, or another
 * energy_source: cg_groups_incomparable), else 0; -1 on a report that cannot be compared
 * (already said). */
static int compare_baseline(json_t *report, json_t *base, const run_opts *o) {
  cg_groups a, b;
  if (cg_groups_from_report(base, &a) != 0) {
    fprintf(stderr, "codegreen run: --baseline %s is not a codegreen report\n", o->baseline);
    return -1;
  }
  if (cg_groups_from_report(report, &b) != 0 || b.n == 0 || a.n == 0) {
    cg_groups_free(&a);
    return -1;
  }
  char other[1200] = "";
  const cg_group *fb = NULL;
  const cg_group *ag = baseline_group(&a, b.g[0].name, o, &fb, other, sizeof other);
  if (ag == NULL && fb == NULL) { /* checked before the runs: not expected */
    fprintf(stderr, "codegreen run: --baseline %s\n", other);
    cg_groups_free(&a);
    cg_groups_free(&b);
    return -1;
  }
  if (ag == NULL) {
    ag = fb;
    if (!o->quiet) {
      fprintf(stderr, "codegreen run: note: --baseline-any: %s; compared with its first row `%s`\n",
              other, ag->name);
    }
  } else {
    other[0] = '\0';
  }
  nemb_stats ae, ad, be, bd;
  nemb_comparison c;
  int fired = 0;
  char why[600];
  if (cg_groups_incomparable(&a, o->baseline, &b, "this run", why, sizeof why) != 0) {
    /* Zeros or another source of energy: no change to state, no gate to pass. */
    json_object_set_new(report, "baseline",
                        json_pack("{s:o, s:s, s:s, s:s, s:n, s:o}", "file",
                                  cg_json_text(o->baseline), "baseline_energy_source", a.source,
                                  "energy_source", b.source, "compared", ag->name, "regressed",
                                  "not_comparable_because", cg_json_text(why)));
    fprintf(stderr, "codegreen run: %s the baseline: %s%s\n",
            o->fail_set ? "--fail-if-regressed cannot decide against"
                        : "WARNING: not compared with",
            why, o->fail_set ? "; exit 2 (compare runs measured the same way)" : "");
    cg_groups_free(&a);
    cg_groups_free(&b);
    return o->fail_set ? 2 : 0;
  }
  if (cg_group_stats(ag, &ae, &ad) != 0 || cg_group_stats(&b.g[0], &be, &bd) != 0) {
    fprintf(stderr, "codegreen run: no completed run to compare with the baseline\n");
    cg_groups_free(&a);
    cg_groups_free(&b);
    return -1;
  }
  bool regressed = cg_regressed(&ae, &be, !cg_group_partial(ag), o->fail_set ? o->fail_pct : 0, &c);
  fired = o->fail_set && regressed;
  char words[96];
  cg_significance_words(&c, NULL, words, sizeof words);
  json_t *bl = json_pack("{s:o, s:s, s:f, s:f, s:I, s:f, s:f, s:f, s:s, s:f}", "file",
                         cg_json_text(o->baseline), "compared", ag->name, "baseline_energy_j",
                         ae.mean, "baseline_std", ae.std, "baseline_n", (json_int_t)ae.n_used,
                         "energy_diff_j", c.diff, "energy_diff_percent", c.diff_percent,
                         "energy_ratio", c.ratio, "test", "welch_t_test", "alpha", c.alpha);
  json_object_set_new(bl, "baseline_energy_source", json_string(a.source));
  json_object_set_new(bl, "baseline_kind", json_string(a.kind));
  /* With --baseline-any, why the figure compared is not this command's; else null. */
  json_object_set_new(bl, "not_this_command_because", other[0] ? cg_json_text(other) : json_null());
  json_object_set_new(bl, "energy_source", json_string(b.source));
  json_object_set_new(bl, "p_value", isfinite(c.p_value) ? json_real(c.p_value) : json_null());
  json_object_set_new(bl, "significant",
                      c.significant < 0 ? json_null() : json_boolean(c.significant));
  json_object_set_new(bl, "fail_if_regressed_percent",
                      o->fail_set ? json_real(o->fail_pct) : json_null());
  json_object_set_new(bl, "regressed", json_boolean(fired));
  json_object_set_new(report, "baseline", bl);
  if (!o->quiet && !o->json) {
    fprintf(stderr, "  vs baseline%s %.4f J -> %.4f J: %+.2f %% (%s; both %s)%s\n",
            other[0] ? " (another command or kind: --baseline-any)" : "", ae.mean, be.mean,
            c.diff_percent, words, b.source, fired ? "  REGRESSION" : "");
  }
  if (fired) {
    fprintf(stderr,
            "codegreen run: energy grew %.2f %% over the baseline (threshold %.2f %%): exit 1\n",
            c.diff_percent, o->fail_pct);
  }
  cg_groups_free(&a);
  cg_groups_free(&b);
  return fired;
}

/* ----- the summary on stderr ----- */

static double getnum(json_t *o, const char *a, const char *b) {
  return json_number_value(json_object_get(json_object_get(o, a), b));
}

/* The runs the summary's figures are over: command @p k's runs in the statistics, outliers
 * aside; or, when @p only is not NULL, the one run of that task (a command none of whose runs
 * are in the statistics, shown alone with how it ended). */
static bool selected(json_t *r, size_t k, const char *only) {
  if ((size_t)json_integer_value(json_object_get(r, "command_index")) != k) {
    return false;
  }
  if (only != NULL) {
    const char *task = json_string_value(json_object_get(r, "task"));
    return task != NULL && strcmp(task, only) == 0;
  }
  return json_is_true(json_object_get(r, "in_statistics"));
}

/* Whether run @p r failed or was interrupted. */
static bool did_not_complete(const json_t *r) {
  return json_is_true(json_object_get(r, "interrupted")) ||
         json_integer_value(json_object_get(r, "exit_status")) != 0;
}

/* The runs of command @p k that failed or were interrupted: each one's energy and how it ended,
 * and what became of it. */
static void print_failed_runs(json_t *report, const run_opts *o, size_t k) {
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(report, "runs"), i, r) {
    /* a warm-up that did not complete too: it stopped the repeats */
    if ((size_t)json_integer_value(json_object_get(r, "command_index")) != k ||
        !did_not_complete(r)) {
      continue;
    }
    char words[320];
    end_words(r, words, sizeof words);
    fprintf(stderr, "  run         %s: %.4f J over %.4f s, %s%s\n",
            json_string_value(json_object_get(r, "task")),
            json_number_value(json_object_get(r, "energy_j")),
            json_number_value(json_object_get(r, "duration_s")), words,
            json_is_true(json_object_get(r, "in_statistics")) ? " (kept: --ignore-failure)"
                                                              : ": not in the statistics");
  }
  (void)o;
}

/* The attributed energy, mean per run over the selected runs (selected()): CPU, then each GPU. */
static void print_attribution(json_t *runs, size_t k, const char *only, bool unknown) {
  if (unknown) {
    fprintf(stderr, "  attributed  unknown: the counters never changed\n");
    return;
  }
  double attributed = 0, cpu = 0, unattributed = 0;
  size_t cnt = 0, i;
  json_t *r, *last = NULL;
  json_array_foreach(runs, i, r) {
    json_t *a = json_object_get(r, "attributed_energy_j");
    if (selected(r, k, only) && json_is_number(a)) {
      attributed += json_number_value(a);
      cpu += json_number_value(json_object_get(r, "attributed_cpu_energy_j"));
      unattributed += json_number_value(json_object_get(r, "unattributed_energy_j"));
      cnt++;
      last = r;
    }
  }
  if (cnt == 0) {
    return;
  }
  double n = (double)cnt;
  fprintf(stderr,
          "  attributed  %.4f J to the command's processes (an attribution estimate, not a "
          "measurement)\n",
          attributed / n);
  fprintf(stderr, "    %-14s %12.4f J  cpu_time_share\n", "CPU domains", cpu / n);
  const char *gname;
  json_t *g;
  json_object_foreach(json_object_get(last, "gpu_attribution"), gname, g) {
    const char *method = json_string_value(json_object_get(g, "method"));
    if (!json_is_number(json_object_get(g, "share"))) {
      fprintf(stderr, "    %-14s %12s    %s\n", gname, "-", method ? method : "not_attributed");
      continue;
    }
    double sum = 0, share = 0;
    json_array_foreach(runs, i, r) {
      json_t *a = json_object_get(r, "attributed_energy_j");
      if (selected(r, k, only) && json_is_number(a)) {
        json_t *gr = json_object_get(json_object_get(r, "gpu_attribution"), gname);
        sum += json_number_value(json_object_get(gr, "attributed_energy_j"));
        share += json_number_value(json_object_get(gr, "share"));
      }
    }
    fprintf(stderr, "    %-14s %12.4f J  %s, share %.3f of the GPU (SM-time)\n", gname, sum / n,
            method, share / n);
  }
  if (unattributed / n > 1e-9) {
    fprintf(stderr, "  not attributed %.4f J (domains without a per-process model)\n",
            unattributed / n);
  }
}

/* The mean over command @p k's selected runs (selected()) of each run's
 * energy_uncertainty_j (0 for a run long enough that the counters fix it): the bound the
 * counters give the mean energy, as each run's bound holds for it. *@p why gets the union of
 * the runs' causes (CG_UNC_*). */
static double mean_uncertainty(json_t *report, size_t k, const char *only, unsigned *why) {
  double sum = 0;
  size_t cnt = 0, i;
  json_t *r;
  *why = 0;
  json_array_foreach(json_object_get(report, "runs"), i, r) {
    if (!selected(r, k, only)) {
      continue;
    }
    sum += json_number_value(json_object_get(r, "energy_uncertainty_j"));
    *why |= cg_uncertainty_cause(json_object_get(r, "energy_uncertainty_cause"));
    cnt++;
  }
  return cnt ? sum / (double)cnt : 0;
}

/* The slowest counter's update period in seconds (meta.sampler.update_period_us, per domain;
 * for a counter never seen to update, whose period is null there, the provider's nominal one),
 * 1 ms when a report does not say; 0 when nothing was measured (no sampler). */
static double counter_period_s(json_t *meta) {
  json_t *sampler = json_object_get(meta, "sampler");
  const char *source = json_string_value(json_object_get(meta, "energy_source"));
  if (!json_is_object(sampler) || (source != NULL && strcmp(source, "none") == 0)) {
    return 0;
  }
  double worst = 0;
  const char *d;
  json_t *v;
  json_object_foreach(json_object_get(sampler, "update_period_us"), d, v) {
    if (json_is_null(v)) {
      v = json_object_get(json_object_get(sampler, "nominal_update_period_us"), d);
    }
    worst = json_number_value(v) > worst ? json_number_value(v) : worst;
  }
  return worst > 0 ? worst / 1e6 : 1e-3;
}

/* Command @p k's one non-warm-up run when it has exactly one; with none (a warm-up failed or
 * was interrupted and stopped the repeats), that last warm-up run when it did not complete, so
 * that it still gets its figures; else NULL. */
static json_t *single_run(json_t *report, size_t k) {
  json_t *one = NULL, *warmup = NULL, *r;
  size_t i, n = 0;
  json_array_foreach(json_object_get(report, "runs"), i, r) {
    if ((size_t)json_integer_value(json_object_get(r, "command_index")) != k) {
      continue;
    }
    if (json_is_true(json_object_get(r, "warmup"))) {
      warmup = r;
    } else {
      one = r;
      n++;
    }
  }
  if (n == 0 && warmup != NULL && did_not_complete(warmup)) {
    return warmup;
  }
  return n == 1 ? one : NULL;
}

/* ----- the warnings: one place for the summary and the report's "warnings" ----- */

static void add_text(json_t *list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_text(json_t *list, const char *fmt, ...) {
  char *text = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&text, fmt, ap);
  va_end(ap);
  if (n >= 0) {
    json_array_append_new(list, cg_json_text(text));
    free(text);
  }
}

/* That something in the method of command @p k is weak, with what to do about it: the energy's
 * CV over its runs, runs shorter than MIN_COUNTER_UPDATES counter updates. Over the runs in its
 * statistics, or its single run outside them (as the summary shows it); none without either.
 * @return a new array of sentences (without "warning: "). */
static json_t *command_warnings(json_t *report, size_t k) {
  json_t *list = json_array();
  json_t *stats =
      json_object_get(json_array_get(json_object_get(report, "commands"), k), "statistics");
  json_t *e = json_object_get(stats, "energy_j");
  json_t *alone = json_is_object(e) ? NULL : single_run(report, k);
  if (!json_is_object(e) && alone == NULL) {
    return list; /* no completed run to report */
  }
  long n = json_is_object(e) ? (long)json_integer_value(json_object_get(e, "n_used")) : 0;
  double dmean = alone != NULL ? json_number_value(json_object_get(alone, "duration_s"))
                               : getnum(stats, "duration_s", "mean");
  double cv = getnum(stats, "energy_j", "cv_percent");
  if (n > 1 && cv >= HIGH_CV_PERCENT) {
    add_text(list,
             "energy varies a lot between runs (CV %.1f %%): warm up (-w 3), run more times "
             "(-r 30), quiet the machine, or measure a longer workload",
             cv);
  }
  /* Counter updates, not samples: the energy between two reads is exact to one update of the
   * slowest counter whatever the sampling interval. No counter at all: said by "why". */
  double period_s = counter_period_s(json_object_get(report, "meta"));
  if (period_s > 0 && dmean < MIN_COUNTER_UPDATES * period_s) {
    add_text(list,
             "the command runs %.2f ms, under %d counter updates (about %.3g ms each): the figure "
             "is mostly counter granularity; measure a longer workload (loop it, e.g. --shell -- "
             "'for i in $(seq 100); do CMD; done')",
             dmean * 1e3, MIN_COUNTER_UPDATES, period_s * 1e3);
  }
  return list;
}

/* The warnings of the whole measurement: its measurement_quality when not "ok", the sampler's
 * own, the tasks whose power is noisy. @return a new array of sentences. */
static json_t *measurement_warnings(json_t *report) {
  json_t *list = cg_measurement_warnings(report, NULL);
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(json_object_get(report, "totals"), "noise_warnings"), i, r) {
    add_text(list, "%s is noisy (power CV %.1f %%)", json_string_value(json_object_get(r, "task")),
             json_number_value(json_object_get(r, "within_task_power_cv_percent")));
  }
  return list;
}

/* Prints the sentences of @p list as the summary's warning lines, and frees it. */
static void print_warnings(json_t *list) {
  size_t i;
  json_t *w;
  json_array_foreach(list, i, w) {
    fprintf(stderr, "  warning     %s\n", json_string_value(w));
  }
  json_decref(list);
}

/* Appends every warning the summary prints to the report's "warnings" (as "warning: ..."; a
 * command's named when there are several), after codegreen's own said while running. */
static void report_summary_warnings(json_t *report, const run_opts *o) {
  json_t *all = json_object_get(report, "warnings");
  size_t i;
  json_t *w;
  for (size_t k = 0; k < o->n_cmds; k++) {
    json_t *list = command_warnings(report, k);
    const char *cmdline = json_string_value(
        json_object_get(json_array_get(json_object_get(report, "commands"), k), "command"));
    json_array_foreach(list, i, w) {
      if (o->n_cmds > 1) {
        add_text(all, "warning: '%s': %s", cmdline ? cmdline : "?", json_string_value(w));
      } else {
        add_text(all, "warning: %s", json_string_value(w));
      }
    }
    json_decref(list);
  }
  json_t *list = measurement_warnings(report);
  cg_report_warnings_add(report, list);
  json_decref(list);
}

static void print_command_summary(json_t *report, const run_opts *o, size_t k) {
  json_t *meta = json_object_get(report, "meta");
  json_t *cmd = json_array_get(json_object_get(report, "commands"), k);
  json_t *stats = json_object_get(cmd, "statistics");
  json_t *e = json_object_get(stats, "energy_j");
  const char *source = json_string_value(json_object_get(meta, "energy_source"));
  /* "In the statistics" counts the runs the figures are over: outliers set aside are not. */
  long n = json_is_object(e) ? (long)json_integer_value(json_object_get(e, "n_used")) : 0;
  long n_out = json_is_object(e) ? (long)json_integer_value(json_object_get(e, "n_outliers")) : 0;
  long n_runs = (long)json_integer_value(json_object_get(stats, "n_runs"));
  const char *cmdline = json_string_value(json_object_get(cmd, "command"));
  /* No run in the statistics (it failed or was interrupted): a single run's figures are still
   * shown, with how it ended, as perf stat prints its counts after Ctrl-C. */
  json_t *alone = json_is_object(e) ? NULL : single_run(report, k);
  const char *only = json_string_value(json_object_get(alone, "task"));
  double mean, dmean, pmean;
  if (alone == NULL && !json_is_object(e) && n_runs == 0) {
    /* it never started (an earlier command failed, or a signal came): not "0 runs" of it */
    fprintf(stderr, "\ncodegreen run: %s  (did not run: the repeats stopped before it)\n", cmdline);
    return;
  }
  if (alone != NULL) {
    char words[320];
    end_words(alone, words, sizeof words);
    fprintf(stderr, "\ncodegreen run: %s  (%s %s: not in the statistics)\n", cmdline, only, words);
    mean = json_number_value(json_object_get(alone, "energy_j"));
    dmean = json_number_value(json_object_get(alone, "duration_s"));
    pmean = dmean > 0 ? mean / dmean : 0;
  } else {
    fprintf(stderr, "\ncodegreen run: %s  (%ld run%s in the statistics", cmdline, n,
            n == 1 ? "" : "s");
    if (n_runs != n) {
      fprintf(stderr, " of %ld", n_runs);
    }
    if (n_out > 0) {
      fprintf(stderr, "; %ld outlier%s set aside", n_out, n_out == 1 ? "" : "s");
    }
    fprintf(stderr, "%s)\n", o->warmup ? ", after warm-up" : "");
    if (!json_is_object(e)) {
      fprintf(stderr, "  no completed run to report\n");
      print_failed_runs(report, o, k);
      return;
    }
    mean = getnum(stats, "energy_j", "mean");
    dmean = getnum(stats, "duration_s", "mean");
    pmean = getnum(stats, "avg_power_w", "mean");
  }
  /* Counters that never changed counted nothing: no figure to show as measured (the warning
   * below says why). */
  bool still = cg_total_never_changed(meta);
  if (still) {
    fprintf(stderr, "  energy      unknown: the counters never changed (their 0 J is no "
                    "measurement of zero)\n");
  } else {
    fprintf(stderr, "  energy      %.4f J", mean);
  }
  if (n > 1 && !still) {
    fprintf(stderr, " ± %.4f (σ)  [min %.4f, max %.4f]  95%% CI %.4f .. %.4f, CV %.2f %%",
            getnum(stats, "energy_j", "std"), getnum(stats, "energy_j", "min"),
            getnum(stats, "energy_j", "max"), getnum(stats, "energy_j", "ci95_low"),
            getnum(stats, "energy_j", "ci95_high"), getnum(stats, "energy_j", "cv_percent"));
  }
  if (!still) {
    fprintf(stderr, "   [%s]\n", cg_source_words(source));
  }
  unsigned why;
  double unc = mean_uncertainty(report, k, only, &why);
  cg_print_uncertainty_of(stderr, "              ", unc, why, n > 1 ? "the runs" : "the run", n > 1,
                          report);
  if (still) {
    fprintf(stderr, "  avg power   unknown");
  } else {
    fprintf(stderr, "  avg power   %.3f W", pmean);
  }
  if (n > 1 && !still) {
    fprintf(stderr, " ± %.3f (σ)", getnum(stats, "avg_power_w", "std"));
  }
  fprintf(stderr, "\n  duration    %.4f s", dmean);
  if (n > 1) {
    fprintf(stderr, " ± %.4f (σ)  [min %.4f, max %.4f]", getnum(stats, "duration_s", "std"),
            getnum(stats, "duration_s", "min"), getnum(stats, "duration_s", "max"));
  }
  fputc('\n', stderr);
  cg_carbon_print(stderr, report, "co2e_g", "for all runs together");

  /* Per domain, attributed and failed runs: the same runs as the energy mean. */
  json_t *topo = json_object_get(meta, "domain_topology");
  json_t *runs = json_object_get(report, "runs");
  const char *dname;
  json_t *dinfo, *r;
  size_t i;
  if (json_object_size(topo) > 0) {
    fprintf(stderr, "  per domain (%s):\n", only ? "the run" : "mean per run, outliers aside");
  }
  json_object_foreach(topo, dname, dinfo) {
    double sum = 0;
    size_t cnt = 0;
    json_array_foreach(runs, i, r) {
      if (!selected(r, k, only)) {
        continue;
      }
      json_t *t = find_task(report, json_string_value(json_object_get(r, "task")));
      sum += json_number_value(json_object_get(json_object_get(t, "domains"), dname));
      cnt++;
    }
    char figure[32];
    if (cg_never_changed(meta, dname)) {
      snprintf(figure, sizeof figure, "never changed");
    } else {
      snprintf(figure, sizeof figure, "%.4f J", cnt ? sum / (double)cnt : 0);
    }
    fprintf(stderr, "    %-14s %14s  %s (%s)\n", dname, figure,
            json_is_true(json_object_get(dinfo, "in_total")) ? "in total"
            : json_is_true(json_object_get(dinfo, "top_level"))
                ? "not added: contains the domains in total"
                : "not added: nested",
            json_string_value(json_object_get(dinfo, "source")));
  }
  print_attribution(runs, k, only, still);
  json_t *idle = json_object_get(report, "idle");
  if (json_is_object(idle)) {
    fprintf(stderr, "  idle power  %.3f W over %.2f s; ",
            json_number_value(json_object_get(idle, "power_w")),
            json_number_value(json_object_get(idle, "duration_s")));
    if (still) {
      fprintf(stderr, "mean energy above idle unknown\n");
    } else {
      fprintf(stderr, "mean energy above idle %.4f J\n",
              mean - json_number_value(json_object_get(idle, "power_w")) * dmean);
    }
  }
  json_array_foreach(json_object_get(stats, "outliers"), i, r) {
    fprintf(stderr, "  outlier     %s: %.4f J set aside by iqr_1.5\n",
            json_string_value(json_object_get(r, "run")),
            json_number_value(json_object_get(r, "value")));
  }
  if (only == NULL) { /* a run shown alone has said how it ended in the first line */
    print_failed_runs(report, o, k);
  }
  print_warnings(command_warnings(report, k));
}

static void print_summary(json_t *report, const run_opts *o) {
  json_t *meta = json_object_get(report, "meta");
  for (size_t k = 0; k < o->n_cmds; k++) {
    print_command_summary(report, o, k);
  }
  size_t i;
  json_t *c;
  json_t *cmds = json_object_get(report, "commands");
  if (json_array_size(json_object_get(report, "comparison")) > 0) {
    fprintf(stderr, "\nComparison (energy; ± is the spread of single runs, propagated):\n");
  }
  json_array_foreach(json_object_get(report, "comparison"), i, c) {
    size_t k = (size_t)json_integer_value(json_object_get(c, "command_index"));
    const char *a = json_string_value(json_object_get(json_array_get(cmds, 0), "command"));
    const char *b = json_string_value(json_object_get(json_array_get(cmds, k), "command"));
    json_t *sig = json_object_get(c, "significant");
    /* The ratio as the Markdown's Relative column has it (write_markdown): ± only when tested. */
    fprintf(stderr, "  '%s' uses %.2f", b, json_number_value(json_object_get(c, "energy_ratio")));
    if (!json_is_null(sig)) {
      fprintf(stderr, " ± %.2f", json_number_value(json_object_get(c, "energy_ratio_std")));
    }
    fprintf(stderr, " × the energy of '%s' (%+.1f %%): ", a,
            json_number_value(json_object_get(c, "energy_diff_percent")));
    if (json_is_null(sig)) {
      fprintf(stderr, "not tested (fewer than 2 runs of a command)\n");
    } else {
      fprintf(stderr, "%s (p = %.2g, Welch's t-test, alpha 0.05)\n",
              json_is_true(sig) ? "the difference is significant"
                                : "the difference is not significant",
              json_number_value(json_object_get(c, "p_value")));
    }
  }
  const char *source = json_string_value(json_object_get(meta, "energy_source"));
  print_warnings(measurement_warnings(report));
  if (source != NULL && strcmp(source, "none") == 0) {
    fprintf(stderr, "  why         %s\n",
            json_string_value(json_object_get(meta, "backend_error")));
  }
}

/* ----- the files ----- */

static const char *const csv_columns[] = {CG_META_COLUMNS,
                                          "command",
                                          "command_index",
                                          "task",
                                          "warmup",
                                          "exit_status",
                                          "signal",
                                          "failed",
                                          "interrupted",
                                          "in_statistics",
                                          "outlier",
                                          "energy_j",
                                          "co2e_g",
                                          "duration_s",
                                          "avg_power_w",
                                          "cpu_time_s",
                                          "attributed_energy_j",
                                          "attributed_gpu_energy_j",
                                          "gpu_attribution",
                                          "unattributed_energy_j",
                                          "energy_above_idle_j"};

/* The CSV's gpu_attribution: "gpu0 nvml_process_utilization share 0.5000; gpu1 not_attributed:
 * ..." (one cell for any number of GPUs). */
static json_t *gpu_words(json_t *att) {
  char buf[1024] = "";
  size_t len = 0;
  const char *name;
  json_t *g;
  json_object_foreach(att, name, g) {
    json_t *share = json_object_get(g, "share");
    int n =
        json_is_number(share)
            ? snprintf(buf + len, sizeof buf - len, "%s%s %s share %.4f", len ? "; " : "", name,
                       json_string_value(json_object_get(g, "method")), json_number_value(share))
            : snprintf(buf + len, sizeof buf - len, "%s%s %s", len ? "; " : "", name,
                       json_string_value(json_object_get(g, "method")));
    if (n < 0 || (size_t)n >= sizeof buf - len) {
      break;
    }
    len += (size_t)n;
  }
  return json_string(buf);
}

static json_t *csv_rows(json_t *report) {
  json_t *cmds = json_object_get(report, "commands");
  json_t *rows = json_array();
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(report, "runs"), i, r) {
    size_t k = (size_t)json_integer_value(json_object_get(r, "command_index"));
    double e = json_number_value(json_object_get(r, "energy_j"));
    double d = json_number_value(json_object_get(r, "duration_s"));
    json_t *row = json_array();
    cg_row_add_meta(row, report);
    json_t *cmd = json_object_get(json_array_get(cmds, k), "command");
    json_array_append_new(row, cmd ? json_incref(cmd) : json_null()); /* never a lost cell */
    const char *rk[] = {"command_index", "task",     "warmup",      "exit_status",
                        "signal",        "failed",   "interrupted", "in_statistics",
                        "outlier",       "energy_j", "co2e_g",      "duration_s"};
    for (size_t m = 0; m < sizeof rk / sizeof rk[0]; m++) {
      json_t *v = json_object_get(r, rk[m]);
      json_array_append_new(row, v ? json_incref(v) : json_null());
    }
    /* energy_j null (unknown): so is the power */
    json_array_append_new(row, d > 0 && json_is_number(json_object_get(r, "energy_j"))
                                   ? json_real(e / d)
                                   : json_null());
    const char *tk[] = {"cpu_time_s", "attributed_energy_j",   "attributed_gpu_energy_j",
                        NULL,         "unattributed_energy_j", "energy_above_idle_j"};
    for (size_t m = 0; m < sizeof tk / sizeof tk[0]; m++) {
      json_t *v = tk[m] != NULL ? json_object_get(r, tk[m]) : NULL;
      if (tk[m] == NULL) {
        json_array_append_new(row, gpu_words(json_object_get(r, "gpu_attribution")));
        continue;
      }
      json_array_append_new(row, v ? json_incref(v) : json_null());
    }
    json_array_append_new(rows, row);
  }
  return rows;
}

static char *pm(double mean, double std, size_t n, int prec) {
  char *s = NULL;
  if ((n > 1 ? asprintf(&s, "%.*f ± %.*f", prec, mean, prec, std)
             : asprintf(&s, "%.*f", prec, mean)) < 0) {
    return NULL;
  }
  return s;
}

/* The mean co2e_g per run over command @p k's runs in the statistics, outliers aside (each
 * run's figure is the library's, carbon.c); NAN without a carbon intensity. */
static double mean_co2e(json_t *report, size_t k) {
  double sum = 0;
  size_t cnt = 0, i;
  json_t *r;
  json_array_foreach(json_object_get(report, "runs"), i, r) {
    json_t *c = json_object_get(r, "co2e_g");
    if (selected(r, k, NULL) && json_is_number(c)) {
      sum += json_number_value(c);
      cnt++;
    }
  }
  return cnt ? sum / (double)cnt : NAN;
}

/* hyperfine's table: one row per command, energy with its spread, CO2e with a carbon intensity,
 * and Relative: the report's comparison (energy_ratio ± energy_ratio_std, each command against
 * the first), the figure the summary prints, so the two never disagree. */
static int write_markdown(json_t *report, const char *path) {
  static const char *const all_cols[] = {"Command",  "Energy [J]", "Min [J]",  "Max [J]",
                                         "Time [s]", "Power [W]",  "CO2e [g]", "Relative"};
  static const char *const plain_cols[] = {"Command",  "Energy [J]", "Min [J]", "Max [J]",
                                           "Time [s]", "Power [W]",  "Relative"};
  bool carbon = json_is_object(json_object_get(json_object_get(report, "meta"), "carbon"));
  /* The summary's rule: counters that never changed give "unknown", and no Relative ratio. */
  bool unknown = cg_total_never_changed(json_object_get(report, "meta"));
  json_t *cmds = json_object_get(report, "commands");
  size_t i;
  json_t *c;
  json_t *rows = json_array();
  json_array_foreach(cmds, i, c) {
    json_t *st = json_object_get(c, "statistics");
    json_t *row = json_array();
    json_t *cmd = json_object_get(c, "command");
    json_array_append_new(row, cmd ? json_incref(cmd) : json_null()); /* never a lost cell */
    json_t *alone = json_is_object(json_object_get(st, "energy_j")) ? NULL : single_run(report, i);
    if (alone != NULL) {
      /* As the summary: a command whose one run is out of the statistics still shows it. */
      double e = json_number_value(json_object_get(alone, "energy_j"));
      double d = json_number_value(json_object_get(alone, "duration_s"));
      json_t *co2e = json_object_get(alone, "co2e_g");
      char words[320], rel[340];
      end_words(alone, words, sizeof words);
      snprintf(rel, sizeof rel, "n/a: %s", words);
      for (int c3 = 0; c3 < 3; c3++) { /* energy, min, max: the one run's */
        json_array_append_new(row, unknown ? json_string("unknown") : json_sprintf("%.4f", e));
      }
      json_array_append_new(row, json_sprintf("%.4f", d));
      json_array_append_new(row, unknown ? json_string("unknown")
                                         : json_sprintf("%.3f", d > 0 ? e / d : 0));
      if (carbon) {
        json_array_append_new(row, unknown ? json_string("unknown")
                                   : json_is_number(co2e)
                                       ? json_sprintf("%.6f", json_number_value(co2e))
                                       : json_string("n/a"));
      }
      json_array_append_new(row, json_string(rel));
      json_array_append_new(rows, row);
      continue;
    }
    if (!json_is_object(json_object_get(st, "energy_j"))) {
      for (int k = 0; k < (carbon ? 7 : 6); k++) {
        json_array_append_new(row, json_string("n/a"));
      }
      json_array_append_new(rows, row);
      continue;
    }
    size_t n =
        (size_t)json_integer_value(json_object_get(json_object_get(st, "energy_j"), "n_used"));
    double m = getnum(st, "energy_j", "mean"), s = getnum(st, "energy_j", "std");
    char *a = pm(m, s, n, 4);
    char *t = pm(getnum(st, "duration_s", "mean"), getnum(st, "duration_s", "std"), n, 4);
    char *p = pm(getnum(st, "avg_power_w", "mean"), getnum(st, "avg_power_w", "std"), n, 3);
    char *rs = NULL;
    if (i == 0) {
      rs = strdup("1.00");
    } else {
      size_t j;
      json_t *cmp;
      json_array_foreach(json_object_get(report, "comparison"), j, cmp) {
        if ((size_t)json_integer_value(json_object_get(cmp, "command_index")) == i) {
          rs = pm(json_number_value(json_object_get(cmp, "energy_ratio")),
                  json_number_value(json_object_get(cmp, "energy_ratio_std")),
                  json_is_null(json_object_get(cmp, "significant")) ? 1 : 2, 2);
        }
      }
    }
    char mn[32], mx[32], co[32];
    snprintf(mn, sizeof mn, "%.4f", getnum(st, "energy_j", "min"));
    snprintf(mx, sizeof mx, "%.4f", getnum(st, "energy_j", "max"));
    snprintf(co, sizeof co, "%.6f", mean_co2e(report, i));
    if (unknown) {
      snprintf(mn, sizeof mn, "unknown");
      snprintf(mx, sizeof mx, "unknown");
      snprintf(co, sizeof co, "unknown");
    }
    json_array_append_new(row, json_string(unknown ? "unknown" : a ? a : ""));
    json_array_append_new(row, json_string(mn));
    json_array_append_new(row, json_string(mx));
    json_array_append_new(row, json_string(t ? t : ""));
    json_array_append_new(row, json_string(unknown ? "unknown" : p ? p : ""));
    if (carbon) {
      json_array_append_new(row, json_string(co));
    }
    json_array_append_new(row, json_string(rs && !unknown ? rs : "n/a"));
    free(a);
    free(t);
    free(p);
    free(rs);
    json_array_append_new(rows, row);
  }
  cg_table tab = {carbon ? all_cols : plain_cols,
                  carbon ? sizeof all_cols / sizeof all_cols[0]
                         : sizeof plain_cols / sizeof plain_cols[0],
                  rows};
  int rc = cg_write_markdown("run", &tab, NULL, path);
  json_decref(rows);
  return rc;
}

static int write_outputs(json_t *report, const run_opts *o) {
  int code = 0;
  for (size_t i = 0; i < o->out.n; i++) {
    const char *path = o->out.item[i].path;
    int rc = 0;
    if (o->out.item[i].kind == CG_OUT_CSV) {
      json_t *rows = csv_rows(report);
      cg_table t = {csv_columns, sizeof csv_columns / sizeof csv_columns[0], rows};
      rc = cg_write_csv("run", &t, path, o->out.append);
      json_decref(rows);
    } else if (o->out.item[i].kind == CG_OUT_MD) {
      rc = write_markdown(report, path);
    } else {
      rc = cg_write_json("run", report, path, NULL);
    }
    code = rc != 0 ? CG_EXIT_OUTPUT : code;
  }
  if (o->json && cg_write_json("run", report, NULL, stderr) != 0) {
    code = CG_EXIT_OUTPUT;
  }
  return code;
}

/* codegreen's own warnings and notes about this run, each "warning: ..." or "note: ...": the
 * report's top-level "warnings" array. Without --json each is also printed on stderr (unless
 * -q); with --json stderr carries the JSON alone (`2>&1 >/dev/null | jq .` must parse whatever
 * else is measuring on the host), so they are only in the report. */
static json_t *said;

static void say(const run_opts *o, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(const run_opts *o, const char *kind, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (said == NULL) {
    said = json_array();
  }
  char *line = NULL;
  if (asprintf(&line, "%s: %s", kind, msg) >= 0) {
    json_array_append_new(said, cg_json_text(line));
    free(line);
  }
  if (!o->json && !o->quiet) {
    fprintf(stderr, "codegreen run: %s: %s\n", kind, msg);
  }
}

/* RAPL is machine-wide: say so when another codegreen process measures at the same time. */
static void warn_concurrent(const run_opts *o, const char *when) {
  char text[CG_CONCURRENT_LEN];
  if (cg_concurrent_warning(when, text, sizeof text)) {
    say(o, "warning", "%s", text);
  }
}

/* An early return, before any run: when a SIGINT/SIGTERM came meanwhile (it may have cut a read
 * short), the exit status is 128 + that signal and a line says that nothing was run. */
static int early(int code) {
  int sig = cg_signals_caught();
  if (sig == 0) {
    return code;
  }
  char name[32];
  cg_signal_name(sig, name, sizeof name);
  fprintf(stderr, "codegreen run: %s came before the command started: nothing was run; exit %d\n",
          name, 128 + sig);
  return 128 + sig;
}

int cg_cmd_run(int argc, char **argv) {
  run_opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0) {
    return rc < 0 ? CG_EXIT_OK : rc;
  }
  /* From here a SIGINT/SIGTERM ends the repeats and still gives a report: also one that comes
   * while the session begins (a provider's opening can take a second), before any run. */
  cg_signals_catch();
  if (o.plot != NULL) {
    /* Refuse a name the plot writer will not take before running anything. */
    const char *dot = strrchr(o.plot, '.');
    if (dot == NULL || (strcasecmp(dot, ".html") != 0 && strcasecmp(dot, ".htm") != 0 &&
                        strcasecmp(dot, ".png") != 0 && strcasecmp(dot, ".svg") != 0)) {
      fprintf(stderr, "codegreen run: --export-plot wants a file ending in .html (interactive "
                      "page), .png or .svg (image); nothing was run\n");
      free(o.words);
      return early(CG_EXIT_USAGE);
    }
  }
  if (cg_outputs_check_append(&o.out, "run") != 0) {
    free(o.words);
    return early(CG_EXIT_USAGE);
  }
  /* Every destination is tried before anything runs: a typo in -o must not cost 100 runs. */
  const char *dests[CG_MAX_OUTPUTS + 1];
  size_t n_dests = 0;
  for (size_t i = 0; i < o.out.n; i++) {
    dests[n_dests++] = o.out.item[i].path;
  }
  dests[n_dests++] = o.plot;
  if (cg_check_outputs("run", dests, n_dests) != 0) {
    free(o.words);
    return early(CG_EXIT_USAGE); /* as an unknown extension is: the command line names it */
  }
  for (size_t i = 0; o.out.append && i < o.out.n; i++) {
    cg_table header = {csv_columns, sizeof csv_columns / sizeof csv_columns[0], NULL};
    if (o.out.item[i].kind == CG_OUT_CSV &&
        cg_check_append("run", &header, o.out.item[i].path) != 0) {
      free(o.words);
      return early(CG_EXIT_USAGE);
    }
  }
  char why[512];
  if (o.push != NULL && nemb__push_url_check(o.push, why, sizeof why) != 0) {
    fprintf(stderr, "codegreen run: --push: %s; nothing was run\n", why);
    free(o.words);
    return early(CG_EXIT_USAGE);
  }
  json_t *base = NULL;
  if (o.baseline != NULL) {
    char msg[600];
    nemb__report_load(o.baseline, &base, msg, sizeof msg);
    if (check_baseline(base, msg, &o) != 0) {
      json_decref(base);
      free(o.words);
      return early(CG_EXIT_USAGE);
    }
  }
  nemb_config *cfg = NULL;
  if (nemb_config_load(o.config, &cfg) != 0) {
    json_decref(base);
    free(o.words);
    return early(cg_fail(NEMB_ECONFIG, "cannot load the configuration"));
  }
  nemb_session_options so;
  nemb_session_options_init(&so);
  so.name = NULL; /* session_name is null for CLI runs */
  so.save_to_file = 0;
  so.record_time_series = o.time_series;
  so.sample_interval_ms = (unsigned)o.interval_ms;
  so.argv = (const char *const *)o.words;
  so.argc = o.n_words;
  so.config = cfg;
  nemb_session *s = NULL;
  rc = nemb_session_begin(&so, &s);
  cg_carbon_env_restore(); /* the session has read it; the command gets the user's environment */
  if (rc == 0 && cg_named_providers_check("run", cfg, nemb_session_meter(s) != NULL) != 0) {
    nemb_config_destroy(cfg);
    nemb_session_destroy(s);
    json_decref(base);
    free(o.words);
    return early(CG_EXIT_FAIL);
  }
  nemb_config_destroy(cfg);
  if (rc == 0 && o.ts_layout != NULL && nemb_session_set_timeseries_layout(s, o.ts_layout) != 0) {
    fprintf(stderr, "codegreen run: %s\n", nemb_last_error());
    nemb_session_destroy(s);
    json_decref(base);
    free(o.words);
    return early(CG_EXIT_USAGE);
  }
  if (rc != 0) {
    json_decref(base);
    free(o.words);
    return early(cg_fail(rc, "cannot begin measuring"));
  }
  bool registered = nemb_procs_register() == 0;
  warn_concurrent(&o, "already");
  /* Descendants the command leaves behind are reparented to us, not to init, so their CPU time
   * reaches the attribution when they end. */
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  json_t *idle = o.idle_s > 0 ? measure_idle(s, o.idle_s) : json_null();
  printer pr = {NULL, false};
  size_t total = (size_t)(o.warmup + o.repeat) * o.n_cmds;
  run_result *runs = calloc(total, sizeof *runs);
  size_t done = 0;
  int status = 0, background = 0;
  bool stop = false;
  progress pg;
  progress_init(&pg, &o, total);
  for (size_t i = 0; runs != NULL && i < (size_t)(o.warmup + o.repeat) && !stop; i++) {
    for (size_t k = 0; k < o.n_cmds && !stop && !cg_signals_caught(); k++) {
      run_result *r = &runs[done];
      r->cmd = k;
      r->warmup = i < (size_t)o.warmup;
      size_t nth = r->warmup ? i + 1 : i + 1 - (size_t)o.warmup;
      if (o.n_cmds > 1) {
        snprintf(r->task, sizeof r->task, "c%zu-%s-%zu", k + 1, r->warmup ? "warmup" : "run", nth);
      } else {
        snprintf(r->task, sizeof r->task, "%s-%zu", r->warmup ? "warmup" : "run", nth);
      }
      if (pg.erase_before_run) {
        progress_erase(&pg);
      }
      int left = 0, cannot = run_once(s, &o, r, &left, &pr, done + 1 == total);
      if (cannot != 0) {
        progress_erase(&pg);
        printer_stop(&pr);
        cg_signals_restore();
        nemb_session_destroy(s);
        free_runs(runs, done);
        json_decref(idle);
        json_decref(base);
        free(o.words);
        if (registered) {
          nemb_procs_unregister();
        }
        json_decref(said);
        said = NULL;
        return cannot;
      }
      background |= left;
      done++;
      progress_draw(&pg, r, done, total);
      if (r->interrupted) {
        stop = true;
      } else if (r->status != 0) {
        /* The exit status is the first failure's, with -i too (-i only goes on past it). */
        status = status ? status : r->status;
        stop = !o.ignore_failure;
        if (stop && done < total) {
          progress_erase(&pg);
          say(&o, "note",
              "%s exited with status %d; stopping the repeats "
              "(-i/--ignore-failure goes on)",
              r->task, r->status);
        }
      }
    }
    if (cg_signals_caught()) {
      stop = true;
    }
  }
  progress_erase(&pg);
  printer_stop(&pr);
  if (done == 0 && cg_signals_caught()) {
    char name[32];
    cg_signal_name(cg_signals_caught(), name, sizeof name);
    fprintf(stderr,
            "codegreen run: %s came before the command started: nothing was run (the report, "
            "where -o says, holds no run); exit %d\n",
            name, 128 + cg_signals_caught());
  }
  if (background) {
    say(&o, "note",
        "the command left processes running in the background; their CPU time is "
        "counted only for those that ended");
  }

  rc = nemb_session_end(s);
  /* Said at the end: a follower rank of an MPI job has no meter until then (its energy is its
   * node leader's samples), and only its end knows whether it got them. */
  if (nemb_session_meter(s) == NULL) {
    say(&o, "warning", "no energy backend, timings only");
  }
  warn_concurrent(&o, "now");
  if (registered) {
    nemb_procs_unregister();
  }
  json_t *report =
      json_loads(nemb_session_report_json(s) ? nemb_session_report_json(s) : "", 0, NULL);
  if (report == NULL || runs == NULL) {
    nemb_session_destroy(s);
    free_runs(runs, done);
    json_decref(idle);
    json_decref(base);
    free(o.words);
    cg_signals_restore();
    json_decref(said);
    said = NULL;
    return cg_fail(rc ? rc : NEMB_ENOMEM, "cannot build the report");
  }
  cg_carbon_label(report);
  extend_report(report, &o, runs, done, idle);
  json_object_set_new(report, "warnings", said != NULL ? said : json_array());
  said = NULL;
  report_summary_warnings(report, &o);
  if (!o.quiet && !o.json) {
    print_summary(report, &o);
  }
  int regressed = base != NULL ? compare_baseline(report, base, &o) : 0;
  char job_file[128]; /* a rank of an MPI/Slurm job writes codegreen_<job>_<rank>.json */
  if (o.out.n == 0 && nemb_job_default_output("json", job_file, sizeof job_file) == 0) {
    cg_outputs_add(&o.out, "run", job_file, CG_OUT_JSON);
  }
  int wrc = write_outputs(report, &o);
  int push_rc = 0; /* a failed push fails the run (issue 16); a lost file keeps its status */
  if (o.push != NULL) {
    char *text = json_dumps(report, 0);
    if (text == NULL || nemb_report_push(text, o.push, NULL) != 0) {
      push_rc = cg_fail(NEMB_EIO, "cannot push the totals");
    } else if (!o.quiet && !o.json) {
      char shown[1024];
      fprintf(stderr, "codegreen run: totals pushed to %s\n",
              nemb__push_url_redact(o.push, shown, sizeof shown));
    }
    free(text);
  }
  bool plot_lost = o.plot != NULL && nemb_session_export_plot(s, o.plot) != 0;
  if (plot_lost) {
    cg_fail(NEMB_EIO, "cannot draw the plot");
  }
  json_decref(report);
  json_decref(base);
  nemb_session_destroy(s);
  free_runs(runs, done);
  free(o.words);
  /* Kept until the report is out: a second signal (or a closed pipe) must not cut it short. */
  cg_signals_restore();
  if (cg_signals_caught()) {
    return 128 + (int)cg_signals_caught();
  }
  /* The order of cli.h: the command's failure, the gate, a failed push, a lost output; the
   * status is decided first, so that a lost output's message states the one the run ends with. */
  int final = status;
  const char *whose = "command";
  if (final == 0 && regressed == 2) {
    final = CG_EXIT_USAGE; /* the gate could not decide (said) */
    whose = "regression gate";
  } else if (final == 0 && regressed > 0) {
    final = CG_EXIT_FAIL;
    whose = "regression gate";
  } else if (final == 0 && push_rc != 0) {
    final = push_rc;
    whose = "failed push";
  }
  if (wrc != 0 || plot_lost) {
    const char *what = wrc == 0 ? "the plot" : plot_lost ? "the report and the plot" : "the report";
    final = cg_output_lost("run", what, whose, final);
  }
  return final;
}
