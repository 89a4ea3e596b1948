/*
 * cmd_merge.c - `codegreen merge DIR -o job.json`: one report for a parallel job, from the
 * reports its nodes and ranks wrote into DIR.
 *
 * Two kinds of input are recognised (anything else in DIR is named and left out):
 *   step reports   written by the Slurm plugin (spank_codegreen.so), one per node and job step,
 *                  with a "slurm" object: the step's window, the node's in-total energy over it
 *                  as a series of cumulative samples, and the step's tasks (ranks) with their CPU
 *                  time;
 *   rank reports   written by a Session or `codegreen run` inside an MPI/Slurm job, with a
 *                  meta.job object: rank, node, role (the node's leader sampled; followers used
 *                  its samples), the process's CPU time and, for the leader, the node's energy.
 *
 * The rules, each in one place below:
 *   - A node's energy is counted once: its steps' windows are swept in order of start, and each
 *     step adds only the part of its window that no earlier step covered (read from its own
 *     series). Rank reports of a node add the leader's node energy once; followers add nothing.
 *   - What is measured is the whole node. On a node the job shared with others (fewer CPUs
 *     allocated than the node has), the job's share is attributed, never measured: node energy
 *     times the job's CPU time over all the CPU time the node spent in the window (/proc/stat).
 *   - Ranks are attributed the job's energy of their node by their share of its CPU time. This is
 *     a model, labelled so in the report; the attributions of a node add up to its job energy.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json_load.h"
#include "nemb.h"
#include "outputs.h"

#define MAX_STEPS 4096
#define MAX_NODES 1024

typedef struct step {
  const char *file;
  const char *node;
  json_t *report;       /* owned by the inputs array */
  const json_t *series; /* [[t_ns, uj], ...] */
  double t0, t1;        /* window, CLOCK_MONOTONIC ns of its node */
  double energy_j;      /* the step's node energy over its whole window (measured) */
  double counted_j;     /* the part no earlier step of the node covered */
  bool shared;          /* fewer CPUs allocated than the node has */
  double job_cpu_s, node_busy_cpu_s;
  long step_id;
} step;

typedef struct node {
  const char *name;
  double measured_j;   /* counted once */
  double attributed_j; /* the job's share: measured_j unless the node was shared */
  bool shared;
  bool from_ranks; /* no step report: energy from the rank reports' leader */
  const char *note;
  double cpu_s;        /* CPU time of the job's ranks on it */
  double wall0, wall1; /* its reports' span, POSIX seconds (+-INFINITY until one is seen) */
  /* The time its measured energy covers, seconds (the steps' windows less their overlaps, the
   * leaders' node windows, or the window of the self-sampled rank counted): its task's
   * duration_s and avg_power_w are over this, never over the reports' span, which is a
   * different window (a leader samples on until its last follower is done). */
  double energy_window_s;
  double uncertainty_j; /* the energy_uncertainty_j of the reports whose energy it counts */
  json_t *steps;        /* array for the output */
} node;

static void print_usage(FILE *fp) {
  fprintf(fp,
          "usage: codegreen merge DIR [-o job.json]\n\n"
          "Merges the reports of one parallel job into one report: the Slurm plugin's per-node\n"
          "and per-step reports and/or the per-rank reports of Sessions and `codegreen run` in\n"
          "an MPI job (codegreen_<job>_<rank>.json; .json.zst files are read too). Each node's\n"
          "energy is counted once; the job's total is the sum over nodes; each rank is\n"
          "attributed its node's energy by its share of CPU time (a model, labelled as such).\n\n"
          "  -o, --output FILE   write the merged report there (default: standard output)\n"
          "  -q, --quiet         do not list the files left out\n");
}

/* Cumulative energy (uj) of a series at time t, linear between samples, clamped at the ends. */
static double series_at(const json_t *series, double t) {
  size_t n = json_array_size(series);
  if (n == 0) {
    return 0;
  }
  size_t lo = 0, hi = n - 1;
  double t_lo = json_number_value(json_array_get(json_array_get(series, 0), 0));
  double t_hi = json_number_value(json_array_get(json_array_get(series, n - 1), 0));
  if (t <= t_lo) {
    return json_number_value(json_array_get(json_array_get(series, 0), 1));
  }
  if (t >= t_hi) {
    return json_number_value(json_array_get(json_array_get(series, n - 1), 1));
  }
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (json_number_value(json_array_get(json_array_get(series, mid), 0)) <= t) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  const json_t *a = json_array_get(series, lo), *b = json_array_get(series, hi);
  double ta = json_number_value(json_array_get(a, 0)), tb = json_number_value(json_array_get(b, 0));
  double ea = json_number_value(json_array_get(a, 1)), eb = json_number_value(json_array_get(b, 1));
  return tb > ta ? ea + (eb - ea) * (t - ta) / (tb - ta) : ea;
}

static double num(const json_t *o, const char *key, double dflt) {
  const json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : dflt;
}

/* Element @p i of a JSON array of numbers, or NAN. */
static double num_at(const json_t *a, size_t i) {
  const json_t *v = json_array_get(a, i);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The CPU time a rank report stands for: a `codegreen run` rank's is its measured command's
 * (runs[].cpu_time_s, the command's process tree, summed over its runs); meta.job.cpu_time_s is
 * the CPU time of the process that wrote the report, which for `run` is codegreen itself, not
 * the work (two ranks of equal work were split 90/10 by it). A Session's process is the work. */
static double rank_cpu_s(const json_t *r, const char **from) {
  const json_t *runs = json_object_get(r, "runs");
  if (json_is_array(runs) && json_array_size(runs) > 0) {
    double sum = 0;
    const json_t *x;
    size_t i;
    json_array_foreach(runs, i, x) {
      sum += num(x, "cpu_time_s", 0);
    }
    *from = "runs[].cpu_time_s (the measured command's process tree)";
    return sum;
  }
  *from = "meta.job.cpu_time_s (the reporting process)";
  return num(json_object_get(json_object_get(r, "meta"), "job"), "cpu_time_s", 0);
}

/* Widens @p nd's span to the tasks of rank report @p r. */
static void node_span_tasks(node *nd, const json_t *r) {
  const json_t *tk;
  size_t k;
  json_array_foreach(json_object_get(r, "tasks"), k, tk) {
    nd->wall0 = fmin(nd->wall0, num(tk, "started_at", INFINITY));
    nd->wall1 = fmax(nd->wall1, num(tk, "ended_at", -INFINITY));
  }
}

static int by_node_then_start(const void *x, const void *y) {
  const step *a = x, *b = y;
  int c = strcmp(a->node, b->node);
  if (c != 0) {
    return c;
  }
  return (a->t0 > b->t0) - (a->t0 < b->t0);
}

static node *find_node(node *nodes, size_t *n, const char *name) {
  for (size_t i = 0; i < *n; i++) {
    if (strcmp(nodes[i].name, name) == 0) {
      return &nodes[i];
    }
  }
  if (*n == MAX_NODES) {
    return NULL;
  }
  node *nd = &nodes[(*n)++];
  memset(nd, 0, sizeof *nd);
  nd->name = name;
  nd->wall0 = INFINITY;
  nd->wall1 = -INFINITY;
  nd->steps = json_array();
  return nd;
}

/* The strings of @p a joined by @p sep, as a new JSON string. */
static json_t *join(const json_t *a, const char *sep) {
  size_t len = 1;
  const json_t *v;
  size_t i;
  json_array_foreach(a, i, v) {
    len += strlen(json_string_value(v)) + strlen(sep);
  }
  char *buf = calloc(1, len);
  if (buf == NULL) {
    return NULL;
  }
  json_array_foreach(a, i, v) {
    if (i > 0) {
      strcat(buf, sep);
    }
    strcat(buf, json_string_value(v));
  }
  json_t *out = json_string(buf);
  free(buf);
  return out;
}

/* A window of node energy from a rank report (CLOCK_MONOTONIC ns of its node). */
typedef struct energy_window {
  node *nd;
  double t0, t1, energy_j;
  bool leader; /* a leader's node window: counted whole; else a self-sampled rank's */
} energy_window;

static int by_start(const void *x, const void *y) {
  const energy_window *a = x, *b = y;
  return (a->t0 > b->t0) - (a->t0 < b->t0);
}

/* The part of [t0, t1] that none of the @p n windows of @p w marked counted covers, ns. */
static double uncovered_ns(const energy_window *w, const bool *counted, size_t n, double t0,
                           double t1) {
  double left = t1 - t0, reach = t0; /* w is sorted by start: sweep once */
  for (size_t i = 0; i < n; i++) {
    if (!counted[i]) {
      continue;
    }
    double a = fmax(w[i].t0, reach), b = fmin(w[i].t1, t1);
    if (b > a) {
      left -= b - a;
      reach = b;
    }
  }
  return fmax(0, left);
}

/* Self-sampled ranks' windows (role "self": a follower whose leader was gone, or every rank with
 * CODEGREEN_NODE_LEADER=0) add to their node what no leader's window and no earlier counted self
 * window covers, at the window's mean power: each instant of the node counted once. (The
 * leader's window alone was counted: 34.8 J of 1.5 s for ranks that measured 3 s.) */
static void count_self_windows(energy_window *w, size_t n) {
  qsort(w, n, sizeof *w, by_start);
  bool *counted = calloc(n ? n : 1, sizeof *counted), *same = calloc(n ? n : 1, sizeof *same);
  for (size_t i = 0; counted != NULL && same != NULL && i < n; i++) {
    counted[i] = w[i].leader;
  }
  for (size_t i = 0; counted != NULL && same != NULL && i < n; i++) {
    if (w[i].leader || !(w[i].t1 > w[i].t0)) {
      continue;
    }
    for (size_t j = 0; j < n; j++) {
      same[j] = counted[j] && w[j].nd == w[i].nd; /* only its node's windows cover it */
    }
    double left = uncovered_ns(w, same, n, w[i].t0, w[i].t1);
    node *nd = w[i].nd;
    bool had = nd->energy_window_s > 0 || nd->measured_j > 0;
    nd->measured_j += w[i].energy_j * left / (w[i].t1 - w[i].t0);
    nd->energy_window_s += left / 1e9;
    counted[i] = true;
    if (left > 0 && had && nd->note != NULL && strstr(nd->note, "leader") != NULL) {
      nd->note = "node energy from its leader ranks' samples, each counted once, and the parts of "
                 "self-sampled ranks' windows no leader covered (at each window's mean power)";
    } else if (!had) {
      nd->note = "ranks sampled for themselves: each instant of the node counted once, from the "
                 "windows that cover it (at each window's mean power)";
    }
  }
  free(counted);
  free(same);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_t *rfc3339(double wall) {
  time_t sec = (time_t)wall;
  struct tm tm;
  gmtime_r(&sec, &tm);
  char buf[64];
  int us = (int)((wall - (double)sec) * 1e6);
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us < 0 ? 0 : us);
  return json_string(buf);
}

/* How bad an input's measurement_quality is, for the merged verdict (the worst of its inputs):
 * verdicts about tasks rather than energy (no_tasks, checkpoints_only) and unknown ones count as
 * ok, since the merged report's energy is the nodes'. */
static int quality_badness(const char *q) {
  static const char *const order[] = {"estimated", "energy_zero", "degraded", "failed",
                                      "no_backend"};
  for (size_t i = 0; q != NULL && i < sizeof order / sizeof order[0]; i++) {
    if (strcmp(q, order[i]) == 0) {
      return (int)i + 1;
    }
  }
  return 0;
}

/* The sum of the energy_uncertainty_j of report @p r's top-level tasks. */
static double report_uncertainty_j(const json_t *r) {
  double sum = 0;
  const json_t *tk;
  size_t k;
  json_array_foreach(json_object_get(r, "tasks"), k, tk) {
    if (num(tk, "depth", 0) == 0) {
      sum += num(tk, "energy_uncertainty_j", 0);
    }
  }
  return sum;
}

/* Appends @p text to @p warnings and, unless @p quiet, says it on stderr. */
static void merge_warn(json_t *warnings, int quiet, const char *text) {
  json_array_append_new(warnings, json_string(text));
  if (!quiet) {
    fprintf(stderr, "codegreen merge: warning: %s\n", text);
  }
}

/* The ranks of the job (meta.job.size of its rank reports) that wrote no report, in words into
 * @p buf; false when none is missing or no size is known. */
static bool missing_ranks(const json_t *rank_reports, char *buf, size_t len) {
  long size = 0;
  const json_t *r;
  size_t k;
  json_array_foreach(rank_reports, k, r) {
    long n = (long)num(json_object_get(json_object_get(r, "meta"), "job"), "size", 0);
    size = n > size ? n : size;
  }
  if (size <= 0 || size > 1000000) {
    return false;
  }
  bool *seen = calloc((size_t)size, sizeof *seen);
  if (seen == NULL) {
    return false;
  }
  json_array_foreach(rank_reports, k, r) {
    long rank = (long)num(json_object_get(json_object_get(r, "meta"), "job"), "rank", -1);
    if (rank >= 0 && rank < size) {
      seen[rank] = true;
    }
  }
  size_t used = 0;
  long n_missing = 0;
  for (long i = 0; i < size; i++) {
    if (!seen[i]) {
      n_missing++;
      if (used < len) {
        used += (size_t)snprintf(buf + used, len - used, "%s%ld", n_missing > 1 ? ", " : "", i);
      }
    }
  }
  free(seen);
  if (n_missing == 0) {
    return false;
  }
  char head[96];
  snprintf(head, sizeof head, "%ld of the job's %ld ranks wrote no report (rank%s ", n_missing,
           size, n_missing > 1 ? "s" : "");
  size_t hl = strlen(head), bl = strnlen(buf, len);
  if (hl + bl + 64 < len) {
    memmove(buf + hl, buf, bl + 1);
    memcpy(buf, head, hl);
    snprintf(buf + hl + bl, len - hl - bl,
             "): their energy is in their node's only if a leader measured it");
  }
  return true;
}

int cg_cmd_merge(int argc, char **argv) {
  static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *output = NULL;
  int quiet = 0, c;
  while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'o':
      output = optarg;
      break;
    case 'q':
      quiet = 1;
      break;
    case 'h':
      print_usage(stdout);
      return CG_EXIT_OK;
    default:
      print_usage(stderr);
      return CG_EXIT_USAGE;
    }
  }
  const char *dir = cg_one_operand(argc, argv, "merge", "directory", print_usage);
  if (dir == NULL) {
    return CG_EXIT_USAGE;
  }
  DIR *d = opendir(dir);
  if (d == NULL) {
    fprintf(stderr, "codegreen merge: cannot open directory %s: %s\n", dir, strerror(errno));
    return CG_EXIT_FAIL;
  }
  /* The file names, sorted, so the output does not depend on the directory's order. */
  char **names = NULL;
  size_t n_names = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (!nemb__report_file_name(e->d_name)) {
      continue;
    }
    char **grown = realloc(names, (n_names + 1) * sizeof *names);
    if (grown == NULL) {
      break;
    }
    names = grown;
    names[n_names++] = strdup(e->d_name);
  }
  closedir(d);
  if (n_names > 0) {
    qsort(names, n_names, sizeof *names, by_name);
  }

  json_t *inputs = json_array(), *merged_from = json_array(), *left_out = json_array();
  step *steps = calloc(MAX_STEPS, sizeof *steps);
  size_t n_steps = 0;
  json_t *rank_reports = json_array();
  double wall0 = INFINITY, wall1 = -INFINITY;
  json_t *topology = json_object(), *sources = json_object();
  const char *job_id = NULL;
  const char *worst = "ok"; /* the worst measurement_quality of the inputs */
  json_t *quality_why = json_array(), *warnings = json_array();

  for (size_t i = 0; i < n_names; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (output != NULL && strcmp(path, output) == 0) {
      continue;
    }
    json_t *r = NULL;
    char why[4608];
    int rc = nemb__report_load(path, &r, why, sizeof why);
    const json_t *meta = json_object_get(r, "meta");
    const json_t *slurm = json_object_get(r, "slurm");
    const json_t *jobm = json_object_get(meta, "job");
    if (!json_is_object(meta) || (!json_is_object(slurm) && !json_is_object(jobm))) {
      /* A file that cannot be read says why (truncated, corrupt, not JSON); a readable one
       * that is not a job's report says that. Either is left out, and the merge goes on. */
      if (rc == 0) {
        snprintf(why, sizeof why, "%s is not a step or rank report of a job", path);
      }
      json_array_append_new(left_out, json_string(names[i]));
      if (!quiet) {
        fprintf(stderr, "codegreen merge: %s; left out\n", why);
      }
      json_decref(r);
      continue;
    }
    json_array_append_new(inputs, r);
    json_array_append_new(merged_from, json_string(names[i]));
    const char *q = json_string_value(json_object_get(meta, "measurement_quality"));
    if (quality_badness(q) > quality_badness(worst)) {
      worst = q;
    }
    if (quality_badness(q) > 0) {
      const char *why_q = json_string_value(json_object_get(meta, "measurement_quality_reason"));
      char text[1024];
      snprintf(text, sizeof text, "%s: %s%s%s", names[i], q, why_q ? " (" : "", why_q ? why_q : "");
      if (why_q != NULL && strlen(text) + 1 < sizeof text) {
        strcat(text, ")");
      }
      json_array_append_new(quality_why, json_string(text));
    }
    const json_t *totals = json_object_get(r, "totals");
    const char *src = json_string_value(json_object_get(meta, "energy_source"));
    if (src != NULL) {
      json_object_set_new(sources, src, json_true());
    }
    json_object_update_missing(topology, json_object_get(meta, "domain_topology"));
    if (json_is_object(slurm)) {
      if (n_steps == MAX_STEPS) {
        continue;
      }
      step *s = &steps[n_steps++];
      s->file = names[i];
      s->report = r;
      s->node = json_string_value(json_object_get(slurm, "node"));
      s->node = s->node ? s->node : "unknown";
      s->series = json_object_get(slurm, "node_energy_series");
      const json_t *win = json_object_get(slurm, "window_mono_ns");
      s->t0 = json_number_value(json_array_get(win, 0));
      s->t1 = json_number_value(json_array_get(win, 1));
      s->energy_j = num(totals, "session_energy_j", 0);
      s->shared = json_is_true(json_object_get(slurm, "node_shared"));
      s->node_busy_cpu_s = num(slurm, "node_busy_cpu_s", 0);
      s->step_id = (long)num(slurm, "step_id", -1);
      const json_t *t;
      size_t k;
      json_array_foreach(json_object_get(slurm, "tasks"), k, t) {
        s->job_cpu_s += num(t, "cpu_time_s", 0);
      }
      if (job_id == NULL) {
        job_id = json_string_value(json_object_get(slurm, "job_id"));
      }
    } else {
      json_array_append(rank_reports, r);
      if (job_id == NULL) {
        job_id = json_string_value(json_object_get(jobm, "id"));
      }
    }
    /* The job's wall-clock span: a step report gives its window in POSIX seconds, a rank
     * report its tasks'. */
    double end = num(json_object_get(r, "slurm"), "ended_at", NAN);
    if (isnan(end)) {
      const json_t *tk;
      size_t k;
      json_array_foreach(json_object_get(r, "tasks"), k, tk) {
        wall0 = fmin(wall0, num(tk, "started_at", INFINITY));
        wall1 = fmax(wall1, num(tk, "ended_at", -INFINITY));
      }
    } else {
      wall0 = fmin(wall0, num(slurm, "started_at", INFINITY));
      wall1 = fmax(wall1, end);
    }
  }

  /* ----- nodes: each counted once ----- */
  node *nodes = calloc(MAX_NODES, sizeof *nodes);
  size_t n_nodes = 0;
  json_t *ranks = json_array();
  qsort(steps, n_steps, sizeof *steps, by_node_then_start);
  for (size_t i = 0; i < n_steps;) {
    node *nd = find_node(nodes, &n_nodes, steps[i].node);
    double covered = -INFINITY;
    size_t j = i;
    for (; j < n_steps && strcmp(steps[j].node, steps[i].node) == 0; j++) {
      step *s = &steps[j];
      double from = fmax(s->t0, covered);
      s->counted_j =
          from < s->t1 ? (series_at(s->series, s->t1) - series_at(s->series, from)) / 1e6 : 0;
      nd->energy_window_s += from < s->t1 ? (s->t1 - from) / 1e9 : 0;
      covered = fmax(covered, s->t1);
      nd->measured_j += s->counted_j;
      nd->uncertainty_j += report_uncertainty_j(s->report);
      /* On a shared node only the job's share is the job's: attributed by CPU time. */
      double share = 1;
      if (s->shared) {
        nd->shared = true;
        share = s->node_busy_cpu_s > 0 ? fmin(1, s->job_cpu_s / s->node_busy_cpu_s) : 0;
      }
      double job_j = s->counted_j * share;
      nd->attributed_j += job_j;
      json_t *tasks = json_object_get(json_object_get(s->report, "slurm"), "tasks");
      const json_t *t;
      size_t k;
      json_array_foreach(tasks, k, t) {
        double cpu = num(t, "cpu_time_s", 0);
        double r_j =
            s->job_cpu_s > 0 ? job_j * cpu / s->job_cpu_s : job_j / (double)json_array_size(tasks);
        json_array_append_new(ranks,
                              json_pack("{s:O?,s:s,s:I,s:O?,s:f,s:f}", "rank",
                                        json_object_get(t, "rank"), "node", nd->name, "step_id",
                                        (json_int_t)s->step_id, "pid", json_object_get(t, "pid"),
                                        "cpu_time_s", cpu, "attributed_energy_j", r_j));
      }
      json_array_append_new(
          nd->steps, json_pack("{s:I,s:s,s:f,s:f,s:f,s:b,s:f}", "step_id", (json_int_t)s->step_id,
                               "file", s->file, "energy_j", s->energy_j, "counted_energy_j",
                               s->counted_j, "duration_s", (s->t1 - s->t0) / 1e9, "node_shared",
                               s->shared, "job_attributed_energy_j", job_j));
      nd->cpu_s += s->job_cpu_s;
      const json_t *sl = json_object_get(s->report, "slurm");
      nd->wall0 = fmin(nd->wall0, num(sl, "started_at", INFINITY));
      nd->wall1 = fmax(nd->wall1, num(sl, "ended_at", -INFINITY));
    }
    i = j;
  }

  /* Rank reports of nodes that have no step report: the leader's node energy, once, and what
   * self-sampled ranks measured beyond it. */
  {
    const json_t *r;
    size_t k;
    energy_window *wins = calloc(json_array_size(rank_reports) + 1, sizeof *wins);
    size_t n_wins = 0;
    json_array_foreach(rank_reports, k, r) {
      const json_t *jm = json_object_get(json_object_get(r, "meta"), "job");
      const char *name = json_string_value(json_object_get(jm, "node"));
      name = name ? name : "unknown";
      bool has_steps = false;
      for (size_t s = 0; s < n_steps; s++) {
        has_steps = has_steps || strcmp(steps[s].node, name) == 0;
      }
      if (has_steps) {
        continue; /* the plugin measured this node; the ranks' own reports add detail only */
      }
      node *nd = find_node(nodes, &n_nodes, name);
      if (nd == NULL) {
        continue;
      }
      nd->from_ranks = true;
      const char *role = json_string_value(json_object_get(jm, "role"));
      double e = num(jm, "node_energy_j", NAN);
      const json_t *win = json_object_get(jm, "node_window_mono_ns");
      double win_s = (num_at(win, 1) - num_at(win, 0)) / 1e9; /* NAN without a window */
      if (role != NULL && strcmp(role, "leader") == 0 && !isnan(e)) {
        /* Leaders of one node follow each other (the lock is exclusive, and each one's window
         * holds its followers'): their windows never overlap, so they add up. */
        if (nd->note == NULL || strstr(nd->note, "leader") == NULL) {
          nd->measured_j = 0;
          nd->energy_window_s = 0;
        }
        nd->measured_j += e;
        nd->energy_window_s += win_s;
        nd->note = "node energy from its leader ranks' samples, each counted once";
        if (wins != NULL && win_s > 0) {
          wins[n_wins++] = (energy_window){nd, num_at(win, 0), num_at(win, 1), e, true};
        }
      } else if (role != NULL && strcmp(role, "follower") != 0 && !isnan(e) && win_s > 0 &&
                 wins != NULL) {
        wins[n_wins++] = (energy_window){nd, num_at(win, 0), num_at(win, 1), e, false};
      } else if (role != NULL && strcmp(role, "follower") != 0 && !isnan(e) && e > nd->measured_j &&
                 (nd->note == NULL || strstr(nd->note, "leader") == NULL)) {
        /* Ranks that sampled for themselves all saw the whole node: take the largest window
         * once, never the sum. */
        nd->measured_j = e;
        nd->energy_window_s = win_s;
        nd->note = "ranks sampled for themselves; the node counted once, from the longest";
      }
      const char *from;
      nd->cpu_s += rank_cpu_s(r, &from);
      node_span_tasks(nd, r);
      if (role == NULL || strcmp(role, "follower") != 0) {
        nd->uncertainty_j += report_uncertainty_j(r); /* a follower's is its leader's copy */
      }
    }
    if (wins != NULL) {
      count_self_windows(wins, n_wins);
      free(wins);
    }
    json_array_foreach(rank_reports, k, r) {
      const json_t *jm = json_object_get(json_object_get(r, "meta"), "job");
      const char *name = json_string_value(json_object_get(jm, "node"));
      name = name ? name : "unknown";
      node *nd = NULL;
      for (size_t i = 0; i < n_nodes; i++) {
        if (strcmp(nodes[i].name, name) == 0 && nodes[i].from_ranks) {
          nd = &nodes[i];
        }
      }
      if (nd == NULL) {
        continue;
      }
      nd->attributed_j = nd->measured_j;
      const char *from;
      double cpu = rank_cpu_s(r, &from);
      double r_j = nd->cpu_s > 0 ? nd->measured_j * cpu / nd->cpu_s : 0;
      json_array_append_new(
          ranks,
          json_pack("{s:O?,s:s,s:O?,s:O?,s:f,s:s,s:f,s:O?}", "rank", json_object_get(jm, "rank"),
                    "node", name, "role", json_object_get(jm, "role"), "pid",
                    json_object_get(json_object_get(r, "meta"), "pid"), "cpu_time_s", cpu,
                    "cpu_time_from", from, "attributed_energy_j", r_j, "tasks_energy_j",
                    json_object_get(json_object_get(r, "totals"), "energy_j")));
    }
  }

  /* ----- the envelope ----- */
  double total_measured = 0, total_job = 0, total_uncertainty = 0;
  char missing[1024];
  if (missing_ranks(rank_reports, missing, sizeof missing)) {
    merge_warn(warnings, quiet, missing);
  }
  json_t *nodes_out = json_array(), *tasks_out = json_array();
  bool any_shared = false;
  for (size_t i = 0; i < n_nodes; i++) {
    node *nd = &nodes[i];
    total_measured += nd->measured_j;
    total_job += nd->attributed_j;
    any_shared = any_shared || nd->shared;
    bool have_span = isfinite(nd->wall0) && isfinite(nd->wall1) && nd->wall1 > nd->wall0;
    bool have_window = isfinite(nd->energy_window_s) && nd->energy_window_s > 0;
    json_t *node_out = json_pack(
        "{s:s,s:f,s:f,s:s,s:b,s:f,s:o,s:s?}", "node", nd->name, "measured_energy_j", nd->measured_j,
        "job_energy_j", nd->attributed_j, "job_energy_is",
        nd->shared ? "attributed (shared node: CPU-time share of the node's energy)"
                   : "measured (the job had the node to itself)",
        "node_shared", nd->shared, "cpu_time_s", nd->cpu_s, "steps", nd->steps, "note", nd->note);
    json_object_set_new(node_out, "energy_window_s",
                        have_window ? json_real(nd->energy_window_s) : json_null());
    json_object_set_new(node_out, "reports_span_s",
                        have_span ? json_real(nd->wall1 - nd->wall0) : json_null());
    json_array_append_new(nodes_out, node_out);
    if (nd->from_ranks && have_window && have_span &&
        nd->energy_window_s < 0.95 * (nd->wall1 - nd->wall0)) {
      char text[512];
      snprintf(text, sizeof text,
               "node %s: its energy covers %.3f s of its ranks' %.3f s span; the rest (a rank "
               "before or after every window that sampled, or a report missing) is not measured",
               nd->name, nd->energy_window_s, nd->wall1 - nd->wall0);
      merge_warn(warnings, quiet, text);
    }
    /* The node's task: its job energy over the window that energy covers (the reference's task
     * fields), so avg_power_w is a power the node drew; the reports' span only when no window
     * is known (reports of older versions). */
    json_t *task = json_pack("{s:s,s:i,s:n,s:f}", "name", nd->name, "depth", 0, "parent",
                             "energy_j", nd->attributed_j);
    if (have_window || have_span) {
      double window = have_window ? nd->energy_window_s : nd->wall1 - nd->wall0;
      json_object_set_new(task, "duration_s", json_real(window));
      json_object_set_new(task, "avg_power_w", json_real(nd->attributed_j / window));
    }
    if (nd->uncertainty_j > 0) {
      json_object_set_new(task, "energy_uncertainty_j", json_real(nd->uncertainty_j));
      total_uncertainty += nd->uncertainty_j;
    }
    json_array_append_new(tasks_out, task);
  }
  char run_id[13];
  snprintf(run_id, sizeof run_id, "%06lx%06lx", (unsigned long)(getpid() & 0xffffff),
           (unsigned long)(time(NULL) & 0xffffff));
  const char *source = json_object_size(sources) == 1
                           ? json_object_iter_key(json_object_iter(sources))
                       : json_object_size(sources) == 0 ? "none"
                                                        : "mixed";
  bool have_window = isfinite(wall0) && isfinite(wall1);
  json_t *meta =
      json_pack("{s:s,s:s,s:s,s:n,s:o,s:o,s:f,s:n,s:s,s:s,s:s,s:s,s:s,s:i,s:o,s:o,s:o,s:s}",
                "schema_version", "1", "codegreen_version", nemb_version_string(), "run_id", run_id,
                "session_name", "started_at", have_window ? rfc3339(wall0) : json_null(),
                "ended_at", have_window ? rfc3339(wall1) : json_null(), "duration_total_s",
                have_window ? wall1 - wall0 : 0.0, "hostname", "platform", "linux",
                "measurement_quality", n_nodes ? worst : "no_tasks", "energy_source", source,
                "outlier_method", "iqr_1.5", "iso_timestamp_format", "rfc3339_utc",
                "nemb_abi_version", nemb_abi_version(), "domain_topology", topology, "merged_from",
                merged_from, "left_out", left_out, "report_kind", "job");
  /* Which inputs made the verdict what it is (each input's own reason), or null. */
  json_object_set_new(meta, "measurement_quality_reason",
                      json_array_size(quality_why) > 0 ? join(quality_why, "; ") : json_null());
  json_decref(quality_why);
  json_t *attribution = json_pack(
      "{s:s,s:b,s:s}", "method", "cpu_time_share", "is_model", 1, "note",
      "Energy counters measure a whole node (every socket, every process). Per-rank energy and a "
      "job's share of a shared node are attributed by CPU time, a model, never a measurement.");
  json_t *job = json_pack("{s:s?,s:o,s:o,s:o,s:f,s:f,s:b}", "id", job_id, "nodes", nodes_out,
                          "ranks", ranks, "attribution", attribution, "measured_energy_j",
                          total_measured, "job_energy_j", total_job, "any_node_shared", any_shared);
  json_t *totals = json_pack("{s:f,s:f,s:f,s:i,s:i}", "energy_j", total_job, "measured_energy_j",
                             total_measured, "wall_duration_s", have_window ? wall1 - wall0 : 0.0,
                             "n_tasks", (int)n_nodes, "n_top_level_tasks", (int)n_nodes);
  if (total_uncertainty > 0) {
    json_object_set_new(totals, "energy_uncertainty_j", json_real(total_uncertainty));
  }
  json_t *out = json_pack("{s:o,s:o,s:o,s:o,s:o}", "meta", meta, "job", job, "tasks", tasks_out,
                          "totals", totals, "warnings", warnings);

  int code = CG_EXIT_OK;
  if (n_nodes == 0) {
    fprintf(stderr, "codegreen merge: no step or rank report of a job in %s\n", dir);
    code = CG_EXIT_FAIL;
  } else if (out == NULL) {
    fprintf(stderr, "codegreen merge: out of memory building the report\n");
    code = CG_EXIT_FAIL;
  } else if (output != NULL) {
    if (cg_write_json("merge", out, output, NULL) != 0) {
      code = CG_EXIT_FAIL;
    } else if (!quiet) {
      fprintf(stderr, "codegreen merge: %zu node(s), %.3f J for the job -> %s\n", n_nodes,
              total_job, output);
    }
  } else {
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
    if (text != NULL) {
      puts(text);
      free(text);
    }
  }
  json_decref(out);
  json_decref(inputs);
  json_decref(rank_reports);
  json_decref(sources);
  free(nodes);
  free(steps);
  for (size_t i = 0; i < n_names; i++) {
    free(names[i]);
  }
  free(names);
  return code;
}
