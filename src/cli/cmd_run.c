/*
 * cmd_run.c - `codegreen run [options] -- CMD [ARGS...]`: the joules of a whole command, like
 * `perf stat`, once or over repeats with statistics.
 *
 * Each run is one task of a session ("run-1", "run-2", ...; warm-ups are "warmup-1", ... and
 * stay out of the statistics). The task spans fork to exit; fork and exec add well under a
 * millisecond. The command's stdin, stdout and stderr are untouched: codegreen writes its summary
 * to stderr and the report to a file (-o) or to stdout (--json).
 *
 * On top of the library's envelope this verb adds:
 *   runs        per run: exit status, energy, duration, CPU time of the command's process tree,
 *               the machine's CPU time, and the energy attributed to the command by CPU share;
 *   statistics  mean, median, std, CV, min, max and 95 % CI over the runs after the iqr_1.5
 *               filter, with the outliers listed;
 *   attribution the model behind the attributed figures, named as a model;
 *   idle        with --idle S: the machine's power while idle, and each run's energy above it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "cli.h"
#include "nemb.h"
#include "output.h"


typedef struct run_opts {
  long repeat, warmup;
  long interval_ms;
  double idle_s;
  bool time_series, json, shell, quiet;
  const char *output, *plot, *config;
  const char *push; /* a Prometheus Pushgateway URL, or NULL */
  char **cmd; /* NULL-terminated */
} run_opts;

typedef struct run_result {
  char task[32];
  int status;           /* exit code, or 128 + signal */
  double cpu_s;         /* user + system time of the command's process tree */
  double machine_cpu_s; /* busy CPU time of the whole machine meanwhile, from /proc/stat */
  bool warmup;
} run_result;

static void print_usage(FILE *fp) {
  fprintf(fp,
          "usage: codegreen run [options] -- COMMAND [ARGS...]\n\n"
          "Measures the energy of a command from start to exit.\n\n"
          "  -r, --repeat N       run it N times and report statistics (default 1)\n"
          "  -w, --warmup K       run it K times first, unmeasured by the statistics\n"
          "  -o, --output FILE    write the report to FILE (.json, or .csv for one row per run)\n"
          "  --json               print the report (JSON) to stdout\n"
          "  -i, --interval-ms M  sampling interval in ms (default: the config's, normally 1)\n"
          "  --idle S             measure idle power for S seconds first; report energy above it\n"
          "  --time-series        keep per-sample power in the report\n"
          "  --export-plot FILE   draw power over time (.html or .png)\n"
          "  --shell              run COMMAND through /bin/sh -c\n"
          "  -q, --quiet          no summary on stderr\n"
          "  -c, --config FILE    use this config.json instead of the search order\n"
          "  --push URL           push the totals to a Prometheus Pushgateway at the end\n\n"
          "The exit status is the command's (128 + signal if it was killed). The command runs in\n"
          "its own process group; SIGINT, SIGTERM, SIGHUP, SIGUSR1 and SIGPIPE sent to codegreen\n"
          "are passed on to that group, and the report is still written.\n");
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

static int parse_args(int argc, char **argv, run_opts *o) {
  static const struct option opts[] = {{"repeat", required_argument, NULL, 'r'},
                                       {"warmup", required_argument, NULL, 'w'},
                                       {"output", required_argument, NULL, 'o'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"interval-ms", required_argument, NULL, 'i'},
                                       {"idle", required_argument, NULL, 'I'},
                                       {"time-series", no_argument, NULL, 't'},
                                       {"export-plot", required_argument, NULL, 'p'},
                                       {"shell", no_argument, NULL, 's'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"config", required_argument, NULL, 'c'},
                                       {"push", required_argument, NULL, 'P'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  *o = (run_opts){.repeat = 1};
  int c;
  /* '+': stop at the first non-option, so the command's own options are never ours. */
  while ((c = getopt_long(argc, argv, "+r:w:o:i:c:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'r':
      if (!parse_long(optarg, 1, 100000, &o->repeat)) {
        fprintf(stderr, "codegreen run: --repeat wants a whole number from 1 to 100000\n");
        return CG_EXIT_USAGE;
      }
      break;
    case 'w':
      if (!parse_long(optarg, 0, 100000, &o->warmup)) {
        fprintf(stderr, "codegreen run: --warmup wants a whole number from 0 to 100000\n");
        return CG_EXIT_USAGE;
      }
      break;
    case 'i':
      if (!parse_long(optarg, 1, 60000, &o->interval_ms)) {
        fprintf(stderr, "codegreen run: --interval-ms wants whole ms from 1 to 60000\n");
        return CG_EXIT_USAGE;
      }
      break;
    case 'I': {
      char *end;
      o->idle_s = strtod(optarg, &end);
      if (end == optarg || *end != '\0' || !(o->idle_s > 0 && o->idle_s <= 3600)) {
        fprintf(stderr, "codegreen run: --idle wants seconds from 0 to 3600\n");
        return CG_EXIT_USAGE;
      }
      break;
    }
    case 'o':
      o->output = optarg;
      break;
    case 'j':
      o->json = true;
      break;
    case 't':
      o->time_series = true;
      break;
    case 'p':
      o->plot = optarg;
      break;
    case 's':
      o->shell = true;
      break;
    case 'q':
      o->quiet = true;
      break;
    case 'c':
      o->config = optarg;
      break;
    case 'P':
      o->push = optarg;
      break;
    case 'h':
      print_usage(stdout);
      return -1;
    default:
      print_usage(stderr);
      return CG_EXIT_USAGE;
    }
  }
  if (optind >= argc || optind < 2 || strcmp(argv[optind - 1], "--") != 0) {
    fprintf(stderr, "codegreen run: %s\n\n",
            optind >= argc ? "no command given" : "put '--' before the command");
    print_usage(stderr);
    return CG_EXIT_USAGE;
  }
  o->cmd = argv + optind;
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

/* Starts the command (through /bin/sh -c with --shell); returns its pid, or -1 with *err set. */
static pid_t spawn(const run_opts *o, int *err) {
  if (!o->shell) {
    return cg_child_start(o->cmd, true, false, err);
  }
  /* The words after -- form one shell command line. */
  size_t len = 1;
  for (char **a = o->cmd; *a; a++) {
    len += strlen(*a) + 1;
  }
  char *line = malloc(len);
  if (line == NULL) {
    *err = ENOMEM;
    return -1;
  }
  line[0] = '\0';
  for (char **a = o->cmd; *a; a++) {
    strcat(line, *a);
    strcat(line, a[1] ? " " : "");
  }
  char *argv[] = {"/bin/sh", "-c", line, NULL};
  pid_t pid = cg_child_start(argv, false, false, err);
  free(line);
  return pid;
}

static void progress(const run_opts *o, long done, long total) {
  if (o->quiet || total < 2 || !isatty(STDERR_FILENO)) {
    return;
  }
  int width = 30, filled = (int)(width * done / total);
  fprintf(stderr, "\rcodegreen run: [%.*s%*s] %ld/%ld", filled,
          "##############################", width - filled, "", done, total);
  if (done == total) {
    fprintf(stderr, "\r%*s\r", width + 40, "");
  }
  fflush(stderr);
}

/* Runs the command once as task @p r->task. Returns 0, or CG_EXIT_CANNOT_RUN when it could not
 * start (already reported). */
static int run_once(nemb_session *s, const run_opts *o, run_result *r) {
  double busy0 = machine_busy_seconds();
  nemb_task_start(s, r->task);
  int exec_errno = 0;
  pid_t pid = spawn(o, &exec_errno);
  if (pid < 0) {
    nemb_task_stop(s, r->task);
    fprintf(stderr, "codegreen run: cannot run '%s': %s\n", o->cmd[0], strerror(exec_errno));
    return CG_EXIT_CANNOT_RUN;
  }
  struct rusage ru;
  r->status = cg_child_wait(pid, true, &ru);
  nemb_task_stop(s, r->task);
  r->machine_cpu_s = machine_busy_seconds() - busy0;
  r->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  return 0;
}

/* The machine's energy over an idle stretch, from the meter's live readings. */
static json_t *measure_idle(nemb_session *s, double seconds) {
  nemb_meter *m = nemb_session_meter(s);
  if (m == NULL) {
    return json_null();
  }
  size_t n = nemb_meter_domain_count(m);
  uint64_t *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b), ta = 0, tb = 0;
  json_t *out = json_null();
  struct timespec ts = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
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

static json_t *stats_json(const double *v, size_t n, const run_result *runs, size_t first,
                          const char *field, json_t *outliers) {
  nemb_stats st;
  unsigned char *flag = calloc(n, 1);
  if (flag == NULL || nemb_stats_compute(v, n, 1, &st, flag) != 0) {
    free(flag);
    return json_null();
  }
  for (size_t i = 0; outliers != NULL && i < n; i++) {
    if (flag[i]) {
      json_array_append_new(outliers, json_pack("{s:s, s:s, s:f}", "run", runs[first + i].task,
                                                "field", field, "value", v[i]));
    }
  }
  free(flag);
  return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I}", "mean", st.mean,
                   "median", st.median, "std", st.std, "cv_percent", st.cv_percent, "min", st.min,
                   "max", st.max, "ci95_low", st.ci95_low, "ci95_high", st.ci95_high, "n_used",
                   (json_int_t)st.n_used, "n_outliers", (json_int_t)st.n_outliers);
}

/* Adds runs, statistics, attribution and idle to the library's envelope. */
static void extend_report(json_t *report, const run_result *runs, size_t n_runs, size_t first,
                          json_t *idle) {
  json_t *arr = json_array();
  size_t n = n_runs - first;
  double *energy = calloc(n ? n : 1, sizeof *energy), *dur = calloc(n ? n : 1, sizeof *dur),
         *power = calloc(n ? n : 1, sizeof *power);
  double idle_w = json_number_value(json_object_get(idle, "power_w"));
  for (size_t i = 0; i < n_runs; i++) {
    json_t *t = find_task(report, runs[i].task);
    double e = json_number_value(json_object_get(t, "energy_j"));
    double d = json_number_value(json_object_get(t, "duration_s"));
    double share = runs[i].machine_cpu_s > 0 ? runs[i].cpu_s / runs[i].machine_cpu_s : NAN;
    share = share > 1 ? 1 : share; /* jiffy rounding can put the tree above the machine */
    json_t *r = json_pack("{s:s, s:b, s:i, s:f, s:f, s:f, s:f}", "task", runs[i].task, "warmup",
                          runs[i].warmup, "exit_status", runs[i].status, "energy_j", e,
                          "duration_s", d, "cpu_time_s", runs[i].cpu_s, "machine_cpu_time_s",
                          isnan(runs[i].machine_cpu_s) ? 0 : runs[i].machine_cpu_s);
    json_object_set_new(r, "attributed_share", isnan(share) ? json_null() : json_real(share));
    json_object_set_new(r, "attributed_energy_j",
                        isnan(share) ? json_null() : json_real(share * e));
    json_object_set_new(r, "energy_above_idle_j",
                        json_is_object(idle) ? json_real(e - idle_w * d) : json_null());
    json_array_append_new(arr, r);
    if (i >= first && energy && dur && power) {
      energy[i - first] = e;
      dur[i - first] = d;
      power[i - first] = d > 0 ? e / d : 0;
    }
  }
  json_object_set_new(report, "runs", arr);
  json_t *outliers = json_array();
  json_t *stats = json_pack("{s:I, s:I, s:s}", "n_runs", (json_int_t)n, "warmup_runs",
                            (json_int_t)first, "outlier_method", "iqr_1.5");
  if (n > 0 && energy && dur && power) {
    json_object_set_new(stats, "energy_j",
                        stats_json(energy, n, runs, first, "energy_j", outliers));
    json_object_set_new(stats, "duration_s", stats_json(dur, n, runs, first, "duration_s", NULL));
    json_object_set_new(stats, "avg_power_w",
                        stats_json(power, n, runs, first, "avg_power_w", NULL));
  }
  json_object_set_new(stats, "outliers", outliers);
  json_object_set_new(report, "statistics", stats);
  json_object_set_new(
      report, "attribution",
      json_pack("{s:s, s:s}", "model", "cpu_time_share", "description",
                "An attribution model, not a measurement: the energy counters are machine-wide, "
                "so attributed_energy_j = energy_j x (CPU time of the command's process tree / "
                "busy CPU time of the whole machine during the run)."));
  json_object_set_new(report, "idle", idle);
  free(energy);
  free(dur);
  free(power);
}

static bool is_outlier(json_t *stats, const char *task) {
  size_t i;
  json_t *o;
  json_array_foreach(json_object_get(stats, "outliers"), i, o) {
    if (task != NULL && strcmp(json_string_value(json_object_get(o, "run")), task) == 0) {
      return true;
    }
  }
  return false;
}

static void print_summary(json_t *report, const run_opts *o) {
  json_t *meta = json_object_get(report, "meta");
  json_t *stats = json_object_get(report, "statistics");
  json_t *e = json_object_get(stats, "energy_j");
  const char *source = json_string_value(json_object_get(meta, "energy_source"));
  const char *quality = json_string_value(json_object_get(meta, "measurement_quality"));
  long n = (long)json_integer_value(json_object_get(stats, "n_runs"));
  fprintf(stderr, "\ncodegreen run: %s", o->cmd[0]);
  for (char **a = o->cmd + 1; *a; a++) {
    fprintf(stderr, " %s", *a);
  }
  fprintf(stderr, "  (%ld run%s%s)\n", n, n == 1 ? "" : "s", o->warmup ? ", after warm-up" : "");
  if (!json_is_object(e)) {
    fprintf(stderr, "  no completed run to report\n");
    return;
  }
  const char *how = source == NULL                     ? "?"
                    : strcmp(source, "estimated") == 0 ? "ESTIMATED from CPU time, not measured"
                    : strcmp(source, "simulated") == 0 ? "SIMULATED device, not hardware"
                    : strcmp(source, "none") == 0      ? "NOT MEASURED: no energy backend"
                                                       : "measured";
  double mean = json_number_value(json_object_get(e, "mean"));
  fprintf(stderr, "  energy      %.4f J", mean);
  if (n > 1) {
    fprintf(stderr, "  (95%% CI %.4f .. %.4f, CV %.2f %%, median %.4f)",
            json_number_value(json_object_get(e, "ci95_low")),
            json_number_value(json_object_get(e, "ci95_high")),
            json_number_value(json_object_get(e, "cv_percent")),
            json_number_value(json_object_get(e, "median")));
  }
  fprintf(stderr, "   [%s]\n", how);
  fprintf(stderr, "  avg power   %.3f W\n",
          json_number_value(json_object_get(json_object_get(stats, "avg_power_w"), "mean")));
  fprintf(stderr, "  duration    %.4f s\n",
          json_number_value(json_object_get(json_object_get(stats, "duration_s"), "mean")));

  /* Per domain: the mean over the same runs as the energy mean (measured, not outliers). */
  json_t *topo = json_object_get(meta, "domain_topology");
  const char *dname;
  json_t *dinfo;
  json_t *runs = json_object_get(report, "runs");
  if (json_object_size(topo) > 0) {
    fprintf(stderr, "  per domain (mean per run, outliers aside):\n");
  }
  json_object_foreach(topo, dname, dinfo) {
    double sum = 0;
    size_t k = 0, i;
    json_t *r;
    json_array_foreach(runs, i, r) {
      const char *task = json_string_value(json_object_get(r, "task"));
      if (json_is_true(json_object_get(r, "warmup")) || is_outlier(stats, task)) {
        continue;
      }
      json_t *t = find_task(report, task);
      sum += json_number_value(json_object_get(json_object_get(t, "domains"), dname));
      k++;
    }
    fprintf(stderr, "    %-14s %12.4f J  %s (%s)\n", dname, k ? sum / (double)k : 0,
            json_is_true(json_object_get(dinfo, "in_total")) ? "in total"
            : json_is_true(json_object_get(dinfo, "top_level"))
                ? "not added: contains the domains in total"
                : "not added: nested",
            json_string_value(json_object_get(dinfo, "source")));
  }
  double attributed = 0;
  size_t k = 0, i;
  json_t *r;
  json_array_foreach(runs, i, r) {
    json_t *a = json_object_get(r, "attributed_energy_j");
    const char *task = json_string_value(json_object_get(r, "task"));
    if (!json_is_true(json_object_get(r, "warmup")) && !is_outlier(stats, task) &&
        json_is_number(a)) {
      attributed += json_number_value(a);
      k++;
    }
  }
  if (k > 0) {
    fprintf(stderr,
            "  attributed  %.4f J to the command's processes (model: cpu_time_share, not a "
            "measurement)\n",
            attributed / (double)k);
  }
  json_t *idle = json_object_get(report, "idle");
  if (json_is_object(idle)) {
    fprintf(stderr, "  idle power  %.3f W over %.2f s; mean energy above idle %.4f J\n",
            json_number_value(json_object_get(idle, "power_w")),
            json_number_value(json_object_get(idle, "duration_s")),
            mean - json_number_value(json_object_get(idle, "power_w")) *
                       json_number_value(json_object_get(json_object_get(stats, "duration_s"),
                                                         "mean")));
  }
  json_array_foreach(json_object_get(stats, "outliers"), i, r) {
    fprintf(stderr, "  outlier     %s: %.4f J set aside by iqr_1.5\n",
            json_string_value(json_object_get(r, "run")),
            json_number_value(json_object_get(r, "value")));
  }
  if (quality != NULL && strcmp(quality, "ok") != 0) {
    fprintf(stderr, "  warning     measurement_quality is \"%s\"\n", quality);
  }
  json_array_foreach(json_object_get(json_object_get(report, "totals"), "noise_warnings"), i, r) {
    fprintf(stderr, "  warning     %s is noisy (power CV %.1f %%)\n",
            json_string_value(json_object_get(r, "task")),
            json_number_value(json_object_get(r, "within_task_power_cv_percent")));
  }
  if (source != NULL && strcmp(source, "none") == 0) {
    fprintf(stderr, "  why         %s\n",
            json_string_value(json_object_get(meta, "backend_error")));
  }
}

static int write_outputs(nemb_session *s, json_t *report, const run_opts *o) {
  int code = 0;
  if (o->output != NULL) {
    size_t len = strlen(o->output);
    if (len >= 4 && strcasecmp(o->output + len - 4, ".csv") == 0) {
      if (nemb_session_write(s, o->output, NEMB_FORMAT_CSV) != 0) {
        code = cg_fail(NEMB_EIO, "cannot write the report");
      }
    } else {
      int e = cg_write_json(o->output, report);
      if (e != 0) {
        fprintf(stderr, "codegreen run: cannot write the report to %s: %s\n", o->output,
                strerror(e));
        code = CG_EXIT_FAIL;
      }
    }
  }
  if (o->json) {
    char *text = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (text != NULL) {
      printf("%s\n", text);
      free(text);
    }
  }
  return code;
}

int cg_cmd_run(int argc, char **argv) {
  run_opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0) {
    return rc < 0 ? CG_EXIT_OK : rc;
  }
  if (o.plot != NULL) {
    /* Refuse a name the plot writer will not take before running anything. */
    const char *dot = strrchr(o.plot, '.');
    if (dot == NULL || (strcasecmp(dot, ".html") != 0 && strcasecmp(dot, ".htm") != 0 &&
                        strcasecmp(dot, ".png") != 0)) {
      fprintf(stderr, "codegreen run: --export-plot wants a file ending in .html (interactive "
                      "page) or .png (image); nothing was run\n");
      return CG_EXIT_USAGE;
    }
  }
  /* Every destination is tried before anything runs: a typo in -o must not cost 100 runs. */
  const char *dests[] = {o.output, o.plot};
  if (cg_check_outputs("run", dests, 2) != 0) {
    return CG_EXIT_FAIL;
  }
  nemb_config *cfg = NULL;
  if (nemb_config_load(o.config, &cfg) != 0) {
    return cg_fail(NEMB_ECONFIG, "cannot load the configuration");
  }
  size_t cmd_argc = 0;
  while (o.cmd[cmd_argc] != NULL) {
    cmd_argc++;
  }
  nemb_session_options so;
  nemb_session_options_init(&so);
  so.name = NULL; /* session_name is null for CLI runs */
  so.save_to_file = 0;
  so.record_time_series = o.time_series;
  so.sample_interval_ms = (unsigned)o.interval_ms;
  so.argv = (const char *const *)o.cmd;
  so.argc = cmd_argc;
  so.config = cfg;
  nemb_session *s = NULL;
  rc = nemb_session_begin(&so, &s);
  nemb_config_destroy(cfg);
  if (rc != 0) {
    return cg_fail(rc, "cannot begin measuring");
  }
  if (nemb_session_meter(s) == NULL && !o.quiet) {
    fprintf(stderr, "codegreen run: warning: no energy backend, timings only\n");
  }

  cg_signals_catch();

  json_t *idle = o.idle_s > 0 ? measure_idle(s, o.idle_s) : json_null();
  size_t total = (size_t)(o.warmup + o.repeat);
  run_result *runs = calloc(total, sizeof *runs);
  size_t done = 0;
  int status = 0;
  for (size_t i = 0; runs != NULL && i < total && !cg_signals_caught(); i++) {
    run_result *r = &runs[i];
    r->warmup = i < (size_t)o.warmup;
    snprintf(r->task, sizeof r->task, "%s-%zu", r->warmup ? "warmup" : "run",
             r->warmup ? i + 1 : i + 1 - (size_t)o.warmup);
    if (run_once(s, &o, r) != 0) {
      nemb_session_destroy(s);
      free(runs);
      json_decref(idle);
      cg_signals_restore();
      return CG_EXIT_CANNOT_RUN;
    }
    done++;
    status = r->status;
    progress(&o, (long)done, (long)total);
    if (r->status != 0) {
      if (!o.quiet && i + 1 < total) {
        fprintf(stderr, "codegreen run: %s exited with status %d; stopping the repeats\n",
                r->task, r->status);
      }
      break;
    }
  }

  rc = nemb_session_end(s);
  json_t *report = json_loads(nemb_session_report_json(s) ? nemb_session_report_json(s) : "",
                              0, NULL);
  if (report == NULL || runs == NULL) {
    nemb_session_destroy(s);
    free(runs);
    json_decref(idle);
    cg_signals_restore();
    return cg_fail(rc ? rc : NEMB_ENOMEM, "cannot build the report");
  }
  size_t first = done < (size_t)o.warmup ? done : (size_t)o.warmup;
  extend_report(report, runs, done, first, idle);
  if (!o.quiet) {
    print_summary(report, &o);
  }
  char job_file[128]; /* a rank of an MPI/Slurm job writes codegreen_<job>_<rank>.json */
  if (o.output == NULL && nemb_job_default_output("json", job_file, sizeof job_file) == 0) {
    o.output = job_file;
  }
  int wrc = write_outputs(s, report, &o);
  int push_rc = 0; /* a failed push fails the run (issue 16); a lost file keeps its status */
  if (o.push != NULL) {
    char *text = json_dumps(report, 0);
    if (text == NULL || nemb_report_push(text, o.push, NULL) != 0) {
      push_rc = cg_fail(NEMB_EIO, "cannot push the totals");
    } else if (!o.quiet) {
      fprintf(stderr, "codegreen run: totals pushed to %s\n", o.push);
    }
    free(text);
  }
  if (o.plot != NULL && nemb_session_export_plot(s, o.plot) != 0) {
    int prc = cg_fail(NEMB_EIO, "cannot draw the plot");
    wrc = wrc ? wrc : prc;
  }
  json_decref(report);
  nemb_session_destroy(s);
  free(runs);
  /* Kept until the report is out: a second signal (or a closed pipe) must not cut it short. */
  cg_signals_restore();
  if (cg_signals_caught()) {
    return 128 + (int)cg_signals_caught();
  }
  if (wrc != 0) {
    /* The command ran: its status is the answer a script waits for; the report's loss is said. */
    fprintf(stderr, "codegreen run: the report was not written; the exit status is the "
                    "command's (%d)\n",
            status);
  }
  return status != 0 ? status : push_rc;
}
