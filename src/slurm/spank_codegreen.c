/*
 * spank_codegreen.c - a Slurm SPANK plugin that measures the energy of every job step on every
 * node, inside slurmstepd, when the job asks for it: `srun --codegreen[=DIR] ...` or
 * `#SBATCH --codegreen[=DIR]`.
 *
 * In slurmstepd (the remote context), per node and step:
 *   init_post_opt    begins a codegreen session (one meter: the node's counters, and only the
 *                    job's GPUs: SLURM_JOB_GPUS / CUDA_VISIBLE_DEVICES become the NVML provider's
 *                    providers.nvml.devices), and opens the task "step";
 *   task_post_fork   notes each task (rank): pid, global and local id, start time;
 *   task_exit        notes its end and its CPU time: slurmstepd reaps each task just before this
 *                    call, so the growth of getrusage(RUSAGE_CHILDREN) since the previous reap is
 *                    that task's user + system time;
 *   exit             ends the session and writes one report, codegreen_<job>_<step>_<node>.json,
 *                    into DIR (default: <submit dir>/codegreen-<job>), as the job's user.
 * The report is the usual envelope, with the step as the top-level task, each rank as a task
 * inside it (energy_j of a rank is the node's energy during the rank's window: measured, but
 * node-wide), and a "slurm" object for `codegreen merge`: window, the node's in-total energy as a
 * cumulative series, the tasks' CPU times, and whether the node was shared with other jobs.
 *
 * plugstack.conf arguments: config=PATH (a codegreen config.json), dir=PATH (default DIR).
 * Errors never fail the job: the plugin logs them (slurm_error) and measures nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slurm/spank.h>

#include "atomic_file.h"
#include "gpu_select.h"
#include "nemb.h"
#include "session.h"

SPANK_PLUGIN(codegreen, 1) /* defines plugin_name, plugin_type, plugin_version */

/* From slurm/slurm.h (not included: it is large and not needed otherwise). */
#define CG_SLURM_EXTERN_CONT 0xfffffffcu
#define CG_SLURM_BATCH_SCRIPT 0xfffffffbu

#define MAX_TASKS 1024
#define MAX_SERIES 2000 /* points of the node's energy series in a report */

typedef struct task_rec {
  uint32_t global_id;
  int local_id;
  pid_t pid;
  uint64_t t_start, t_end;
  double cpu_s;
  int exit_status;
  int ended;
} task_rec;

static struct {
  int enabled;
  char dir[PATH_MAX];
  char conf_path[PATH_MAX];
  char conf_dir[PATH_MAX];
  nemb_session *session;
  uint32_t job_id, step_id;
  uid_t uid;
  gid_t gid;
  char node[256];
  char step_name[32];
  char gpu_source[32];
  json_t *gpus; /* the devices given to the NVML selection, or NULL (every GPU) */
  long cpus_on_node, node_cpus;
  double busy0;
  double wall0, wall1;
  uint64_t t0, t1;
  struct rusage children; /* RUSAGE_CHILDREN at the previous reap */
  task_rec tasks[MAX_TASKS];
  size_t n_tasks;
} cg;

static int opt_codegreen(int val, const char *arg, int remote);

/* Registered from slurm_spank_init() in every context: sbatch and salloc (the allocator
 * context) take options only through spank_option_register(), not from a spank_options table. */
static struct spank_option codegreen_option = {
    "codegreen",
    "[DIR]",
    "Measure the energy of each step on each node (codegreen); reports go to DIR (default "
    "<submit dir>/codegreen-<jobid>). Merge them with `codegreen merge DIR -o job.json`.",
    2,
    0,
    opt_codegreen};

static int opt_codegreen(int val, const char *arg, int remote) {
  (void)val;
  (void)remote;
  cg.enabled = 1;
  if (arg != NULL && arg[0] != '\0') {
    snprintf(cg.dir, sizeof cg.dir, "%s", arg);
  }
  return 0;
}

int slurm_spank_init(spank_t sp, int ac, char **av) {
  if (spank_option_register(sp, &codegreen_option) != ESPANK_SUCCESS) {
    slurm_error("codegreen: cannot register --codegreen");
  }
  for (int i = 0; i < ac; i++) {
    if (strncmp(av[i], "config=", 7) == 0) {
      snprintf(cg.conf_path, sizeof cg.conf_path, "%s", av[i] + 7);
    } else if (strncmp(av[i], "dir=", 4) == 0) {
      snprintf(cg.conf_dir, sizeof cg.conf_dir, "%s", av[i] + 4);
    } else {
      slurm_error("codegreen: unknown plugstack.conf argument '%s' (config=, dir=)", av[i]);
    }
  }
  return 0;
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time the whole node spent busy (all processes, all CPUs), from /proc/stat, in seconds. */
static double node_busy_s(void) {
  FILE *fp = fopen("/proc/stat", "re");
  unsigned long long v[8] = {0};
  if (fp == NULL) {
    return 0;
  }
  int n = fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                 &v[4], &v[5], &v[6], &v[7]);
  fclose(fp);
  if (n < 4) {
    return 0;
  }
  /* user nice system [idle iowait] irq softirq steal */
  double ticks = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]);
  return ticks / (double)sysconf(_SC_CLK_TCK);
}

static void job_env(spank_t sp, const char *name, char *buf, size_t len) {
  buf[0] = '\0';
  if (spank_getenv(sp, name, buf, (int)len) != ESPANK_SUCCESS) {
    buf[0] = '\0';
  }
}

/* The config: the plugstack's config.json (or built-in defaults), with the job's GPUs. */
static int make_config(spank_t sp, nemb_config **out) {
  json_t *conf = NULL;
  if (cg.conf_path[0] != '\0') {
    json_error_t err;
    conf = json_load_file(cg.conf_path, 0, &err);
    if (conf == NULL) {
      slurm_error("codegreen: cannot read %s: %s (line %d)", cg.conf_path, err.text, err.line);
      return -1;
    }
  } else {
    conf = json_object();
  }
  char gpus[1024], cuda[1024], nvidia[1024];
  job_env(sp, "SLURM_JOB_GPUS", gpus, sizeof gpus);
  job_env(sp, "CUDA_VISIBLE_DEVICES", cuda, sizeof cuda);
  job_env(sp, "NVIDIA_VISIBLE_DEVICES", nvidia, sizeof nvidia);
  const char *source = NULL;
  json_t *devices = cg_gpu_select(gpus, cuda, nvidia, &source);
  snprintf(cg.gpu_source, sizeof cg.gpu_source, "%s", source ? source : "");
  if (devices != NULL) {
    cg.gpus = json_incref(devices);
    cg_gpu_apply(conf, devices);
  }
  char *text = json_dumps(conf, 0);
  json_decref(conf);
  int rc = text ? nemb_config_from_string(text, cg.conf_path[0] ? cg.conf_path : "spank", out)
                : NEMB_ENOMEM;
  free(text);
  if (rc != 0) {
    slurm_error("codegreen: configuration: %s", nemb_last_error());
    return -1;
  }
  return 0;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av) {
  (void)ac;
  (void)av;
  if (spank_context() != S_CTX_REMOTE || !cg.enabled) {
    return 0;
  }
  if (spank_get_item(sp, S_JOB_ID, &cg.job_id) != ESPANK_SUCCESS ||
      spank_get_item(sp, S_JOB_STEPID, &cg.step_id) != ESPANK_SUCCESS ||
      spank_get_item(sp, S_JOB_UID, &cg.uid) != ESPANK_SUCCESS ||
      spank_get_item(sp, S_JOB_GID, &cg.gid) != ESPANK_SUCCESS) {
    slurm_error("codegreen: cannot read the job's id, step or user; not measuring");
    return 0;
  }
  if (cg.step_id == CG_SLURM_EXTERN_CONT) {
    return 0; /* the extern step runs no task of the job */
  }
  if (cg.step_id == CG_SLURM_BATCH_SCRIPT) {
    snprintf(cg.step_name, sizeof cg.step_name, "batch");
  } else {
    snprintf(cg.step_name, sizeof cg.step_name, "%u", cg.step_id);
  }
  /* The host name, as rank reports name their node too (SLURMD_NODENAME is not in every step's
   * environment at this point, and may differ from it), so `codegreen merge` counts it once. */
  gethostname(cg.node, sizeof cg.node - 1);
  if (cg.dir[0] == '\0') {
    char submit[PATH_MAX - 64];
    job_env(sp, "SLURM_SUBMIT_DIR", submit, sizeof submit);
    if (cg.conf_dir[0] != '\0') {
      snprintf(cg.dir, sizeof cg.dir, "%s", cg.conf_dir);
    } else {
      snprintf(cg.dir, sizeof cg.dir, "%s/codegreen-%u", submit[0] ? submit : "/tmp", cg.job_id);
    }
  } else if (cg.dir[0] != '/') {
    char cwd[PATH_MAX / 2], rel[PATH_MAX];
    job_env(sp, "PWD", cwd, sizeof cwd);
    memcpy(rel, cg.dir, sizeof rel);
    snprintf(cg.dir, sizeof cg.dir, "%s/%.*s", cwd[0] ? cwd : "/tmp", PATH_MAX / 2 - 2, rel);
  }
  uint16_t ncpus = 0; /* the CPUs the job has on this node */
  if (spank_get_item(sp, S_JOB_NCPUS, &ncpus) == ESPANK_SUCCESS && ncpus > 0) {
    cg.cpus_on_node = ncpus;
  } else {
    char cpus[32];
    job_env(sp, "SLURM_CPUS_ON_NODE", cpus, sizeof cpus);
    cg.cpus_on_node = cpus[0] ? strtol(cpus, NULL, 10) : -1;
  }
  cg.node_cpus = sysconf(_SC_NPROCESSORS_ONLN);

  nemb_config *cfg = NULL;
  if (make_config(sp, &cfg) != 0) {
    return 0;
  }
  char name[96];
  snprintf(name, sizeof name, "slurm job %u step %s", cg.job_id, cg.step_name);
  nemb_session_options o;
  nemb_session_options_init(&o);
  o.name = name;
  o.save_to_file = 0;
  o.config = cfg;
  int argc = 0;
  char **argv = NULL;
  if (spank_get_item(sp, S_JOB_ARGV, &argc, &argv) == ESPANK_SUCCESS && argc > 0) {
    o.argv = (const char *const *)argv;
    o.argc = (size_t)argc;
  }
  int rc = nemb_session_begin(&o, &cg.session);
  nemb_config_destroy(cfg);
  if (rc != 0) {
    slurm_error("codegreen: cannot begin measuring: %s", nemb_last_error());
    cg.session = NULL;
    return 0;
  }
  getrusage(RUSAGE_CHILDREN, &cg.children);
  cg.busy0 = node_busy_s();
  cg.wall0 = wall_now();
  cg.t0 = nemb_now_ns();
  nemb_task_start(cg.session, "step");
  return 0;
}

static task_rec *find_task(pid_t pid) {
  for (size_t i = 0; i < cg.n_tasks; i++) {
    if (cg.tasks[i].pid == pid) {
      return &cg.tasks[i];
    }
  }
  return NULL;
}

int slurm_spank_task_post_fork(spank_t sp, int ac, char **av) {
  (void)ac;
  (void)av;
  if (cg.session == NULL || cg.n_tasks == MAX_TASKS) {
    return 0;
  }
  task_rec *t = &cg.tasks[cg.n_tasks];
  memset(t, 0, sizeof *t);
  if (spank_get_item(sp, S_TASK_PID, &t->pid) != ESPANK_SUCCESS) {
    return 0;
  }
  spank_get_item(sp, S_TASK_GLOBAL_ID, &t->global_id);
  spank_get_item(sp, S_TASK_ID, &t->local_id);
  t->t_start = nemb_now_ns();
  cg.n_tasks++;
  return 0;
}

static double tv_s(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int slurm_spank_task_exit(spank_t sp, int ac, char **av) {
  (void)ac;
  (void)av;
  if (cg.session == NULL) {
    return 0;
  }
  uint64_t now = nemb_now_ns();
  pid_t pid = 0;
  if (spank_get_item(sp, S_TASK_PID, &pid) != ESPANK_SUCCESS) {
    return 0;
  }
  task_rec *t = find_task(pid);
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  double cpu = tv_s(ru.ru_utime) + tv_s(ru.ru_stime) - tv_s(cg.children.ru_utime) -
               tv_s(cg.children.ru_stime);
  cg.children = ru;
  if (t != NULL) {
    t->t_end = now;
    t->cpu_s = cpu > 0 ? cpu : 0;
    t->ended = 1;
    spank_get_item(sp, S_TASK_EXIT_STATUS, &t->exit_status);
  }
  return 0;
}

/* The node's in-total energy over the step as [t_ns, uj] pairs, at most MAX_SERIES of them
 * (every k-th sample plus the last: each point is exact, only the shape between is coarser). */
static json_t *energy_series(nemb_meter *m) {
  json_t *series = json_array();
  size_t nd = nemb_meter_domain_count(m), count = nemb_meter_sample_count(m);
  uint64_t e[NEMB__MAX_DOMAINS];
  int in_total[NEMB__MAX_DOMAINS];
  for (size_t d = 0; d < nd; d++) {
    nemb_domain_info info;
    nemb_meter_domain(m, d, &info);
    in_total[d] = info.in_total;
  }
  size_t step = count > MAX_SERIES ? (count + MAX_SERIES - 1) / MAX_SERIES : 1;
  for (size_t i = 0; i < count; i += step) {
    size_t idx = i + step >= count ? count - 1 : i;
    uint64_t t;
    if (nemb_meter_sample(m, idx, &t, e, NEMB__MAX_DOMAINS) != 0) {
      break;
    }
    double uj = 0;
    for (size_t d = 0; d < nd; d++) {
      uj += in_total[d] ? (double)e[d] : 0;
    }
    json_array_append_new(series, json_pack("[I,f]", (json_int_t)t, uj));
    if (idx == count - 1) {
      break;
    }
  }
  return series;
}

/* Node energy (J, in-total domains) between two instants, by the library's interpolation. */
static double energy_between(nemb_meter *m, uint64_t a, uint64_t b) {
  double ea[NEMB__MAX_DOMAINS], eb[NEMB__MAX_DOMAINS];
  size_t count = nemb_meter_sample_count(m);
  nemb__energy_at(m, count, a, ea, NULL);
  nemb__energy_at(m, count, b, eb, NULL);
  return (nemb__energy_total(m, eb) - nemb__energy_total(m, ea)) / 1e6;
}

/* Writes @p text to DIR/NAME as the job's user (a forked child drops to the user first, so root
 * never writes into a directory the user controls), whole or not at all through the library's one
 * file writer (atomic_file.h). Returns 0 or an errno value. */
static int write_as_user(const char *name, const char *text) {
  pid_t pid = fork();
  if (pid < 0) {
    return errno;
  }
  if (pid == 0) {
    if (getuid() == 0 && (setgroups(0, NULL) != 0 || setgid(cg.gid) != 0 || setuid(cg.uid) != 0)) {
      _exit(EPERM);
    }
    if (mkdir(cg.dir, 0755) != 0 && errno != EEXIST) {
      _exit(errno);
    }
    char path[PATH_MAX + 600];
    snprintf(path, sizeof path, "%s/%s", cg.dir, name);
    _exit(nemb__atomic_write(path, text, strlen(text)));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

int slurm_spank_exit(spank_t sp, int ac, char **av) {
  (void)sp;
  (void)ac;
  (void)av;
  if (cg.session == NULL || spank_context() != S_CTX_REMOTE) {
    return 0;
  }
  cg.t1 = nemb_now_ns();
  cg.wall1 = wall_now();
  double busy = node_busy_s() - cg.busy0;
  nemb_task_stop(cg.session, "step");
  nemb_session_end(cg.session);
  /* The window is the session's own, so merge's sums match the report's session_energy_j. */
  cg.t0 = cg.session->t_begin;
  cg.t1 = cg.session->t_end;
  cg.wall0 = cg.session->wall_begin;
  json_t *report = json_loads(nemb_session_report_json(cg.session), 0, NULL);
  nemb_meter *m = nemb_session_meter(cg.session);
  if (report == NULL) {
    slurm_error("codegreen: no report for job %u step %s", cg.job_id, cg.step_name);
    nemb_session_destroy(cg.session);
    cg.session = NULL;
    return 0;
  }
  json_t *tasks = json_object_get(report, "tasks");
  json_t *slurm_tasks = json_array();
  double job_cpu = 0;
  for (size_t i = 0; i < cg.n_tasks; i++) {
    task_rec *t = &cg.tasks[i];
    uint64_t end = t->ended ? t->t_end : cg.t1;
    double dur = (double)(end - t->t_start) / 1e9;
    double e = m ? energy_between(m, t->t_start, end) : 0;
    char name[48];
    snprintf(name, sizeof name, "rank %u", t->global_id);
    job_cpu += t->cpu_s;
    /* A rank's energy_j is the node's during its window: measured, but node-wide (every rank
     * of the node sees the same joules); its own share is attributed by `codegreen merge`. */
    json_array_append_new(
        tasks, json_pack("{s:s,s:i,s:s,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:i,s:I,s:f,s:b,s:s}", "name",
                         name, "depth", 1, "parent", "step", "energy_j", e, "avg_power_w",
                         dur > 0 ? e / dur : 0.0, "duration_s", dur, "started_at",
                         cg.wall0 + (double)(t->t_start - cg.t0) / 1e9, "ended_at",
                         cg.wall0 + (double)(end - cg.t0) / 1e9, "started_at_mono_ns",
                         (json_int_t)t->t_start, "ended_at_mono_ns", (json_int_t)end, "rank",
                         (int)t->global_id, "pid", (json_int_t)t->pid, "cpu_time_s", t->cpu_s,
                         "closed_at_end", !t->ended, "energy_is",
                         "node-wide energy during this rank's window"));
    json_array_append_new(
        slurm_tasks, json_pack("{s:i,s:i,s:I,s:f,s:i,s:I,s:I}", "rank", (int)t->global_id,
                               "local_id", t->local_id, "pid", (json_int_t)t->pid, "cpu_time_s",
                               t->cpu_s, "exit_status", t->exit_status, "started_mono_ns",
                               (json_int_t)t->t_start, "ended_mono_ns", (json_int_t)end));
  }
  /* Only the job's share of a shared node can be attributed, never measured: say which. */
  int shared = cg.cpus_on_node > 0 && cg.cpus_on_node < cg.node_cpus;
  char job_id[32];
  snprintf(job_id, sizeof job_id, "%u", cg.job_id);
  json_t *slurm = json_pack(
      "{s:s,s:s,s:I,s:s,s:[I,I],s:f,s:f,s:o,s:o,s:I,s:I,s:b,s:f,s:f,s:s,s:s?,s:O?}", "job_id",
      job_id, "step", cg.step_name, "step_id",
      (json_int_t)(cg.step_id == CG_SLURM_BATCH_SCRIPT ? -1 : (json_int_t)cg.step_id), "node",
      cg.node, "window_mono_ns", (json_int_t)cg.t0, (json_int_t)cg.t1, "started_at", cg.wall0,
      "ended_at", cg.wall1, "tasks", slurm_tasks, "node_energy_series",
      m ? energy_series(m) : json_array(), "cpus_on_node", (json_int_t)cg.cpus_on_node, "node_cpus",
      (json_int_t)cg.node_cpus, "node_shared", shared, "node_busy_cpu_s", busy, "job_cpu_s",
      job_cpu, "measured",
      shared ? "the whole node, including other jobs' work: the job's share is attributed"
             : "the whole node, which the job had to itself",
      "gpu_selection_from", cg.gpu_source[0] ? cg.gpu_source : NULL, "gpu_devices", cg.gpus);
  json_object_set_new(report, "slurm", slurm);
  char *text = json_dumps(report, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
  json_decref(report);
  char file[512];
  snprintf(file, sizeof file, "codegreen_%u_%s_%s.json", cg.job_id, cg.step_name, cg.node);
  int err = text ? write_as_user(file, text) : ENOMEM;
  if (err != 0) {
    slurm_error("codegreen: cannot write %s/%s: %s", cg.dir, file, strerror(err));
  } else {
    slurm_info("codegreen: job %u step %s on %s -> %s/%s", cg.job_id, cg.step_name, cg.node, cg.dir,
               file);
  }
  free(text);
  nemb_session_destroy(cg.session);
  cg.session = NULL;
  json_decref(cg.gpus);
  cg.gpus = NULL;
  return 0;
}
