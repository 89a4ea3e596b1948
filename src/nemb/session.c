/*
 * session.c - sessions and tasks: begin, the per-thread records that make recording lock-free,
 * task start/stop, and the end that turns the records into a report and a file.
 *
 * The protocol between recording threads and the end is in session.h. In short: a recording call
 * raises its thread's in_call flag and then checks `ended`; the end sets `ended` and then waits
 * for every in_call to fall. Both use sequentially consistent operations, so either the call sees
 * `ended` and backs out, or the end sees in_call and waits: no record is half-written when the end
 * reads it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "job.h"
#include "session.h"

/* The one active session of this process, and a counter that makes every session's thread-local
 * pointers distinct from those of the sessions before it. */
static _Atomic(nemb_session *) active;

size_t nemb__min_buffer_samples = NEMB__MIN_BUFFER_SAMPLES;
static atomic_uint_fast64_t generations;

/* ----- begin ----- */

/* meta.run_id is "unique per process invocation, for log correlation" (the reference): one id
 * for every session of the process, the instrumenter's runtime included, drawn at the first
 * session. A forked child that measures on its own is another process, so it draws anew. */
static pthread_mutex_t run_id_lock = PTHREAD_MUTEX_INITIALIZER;
static char process_run_id[13];
static pid_t process_run_id_pid;

static void draw_run_id(char out[13]) {
  unsigned char bytes[6];
  if (getrandom(bytes, sizeof bytes, GRND_NONBLOCK) != (ssize_t)sizeof bytes) {
    /* No entropy yet (very early boot): time and pid still make a run distinguishable. */
    uint64_t x = nemb__now_ns() ^ ((uint64_t)getpid() << 32);
    memcpy(bytes, &x, sizeof bytes);
  }
  for (size_t i = 0; i < sizeof bytes; i++) {
    snprintf(out + 2 * i, 3, "%02x", bytes[i]);
  }
}

static void make_run_id(char out[13]) {
  pthread_mutex_lock(&run_id_lock);
  if (process_run_id_pid != getpid() || process_run_id[0] == '\0') {
    draw_run_id(process_run_id);
    process_run_id_pid = getpid();
  }
  memcpy(out, process_run_id, 13);
  pthread_mutex_unlock(&run_id_lock);
}

/* How many sessions of this process have taken the default file name: the first keeps the
 * reference's codegreen_<pid>.json, the next ones (a notebook's next cell) get
 * codegreen_<pid>_2.json, _3, ... so that none overwrites another. */
static unsigned default_files;
static pid_t default_files_pid;

static unsigned next_default_file(void) {
  pthread_mutex_lock(&run_id_lock);
  if (default_files_pid != getpid()) {
    default_files_pid = getpid();
    default_files = 0;
  }
  unsigned n = ++default_files;
  pthread_mutex_unlock(&run_id_lock);
  return n;
}

/* This process's argv from /proc/self/cmdline (NUL-separated). The real /proc: it is the
 * program's identity, not hardware, so CODEGREEN_SYSFS_ROOT does not apply. */
static void read_own_argv(nemb_session *s) {
  char buf[8192];
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) {
    return;
  }
  buf[n] = '\0';
  size_t count = 0;
  for (ssize_t i = 0; i < n; i++) {
    count += buf[i] == '\0';
  }
  s->argv = calloc(count + 1, sizeof *s->argv);
  if (s->argv == NULL) {
    return;
  }
  for (char *p = buf; p < buf + n && s->argc < count; p += strlen(p) + 1) {
    s->argv[s->argc] = strdup(p);
    if (s->argv[s->argc] != NULL) {
      s->argc++;
    }
  }
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* The one rule for NEMB_FORMAT_AUTO, whichever front asks (C, Python, Java, the runtime): ".csv"
 * is CSV and ".json" JSON, each also with ".zst" (atomic_file.h compresses it), in any case; an
 * existing destination that is not a regular file (/dev/null, a FIFO) is JSON, as the CLI's -o
 * takes it (a directory too: the write then refuses it with EISDIR); any other name is refused
 * (NEMB_EINVAL), never written as JSON under a name that says otherwise. An explicit format is
 * taken whatever the name. @return 0 with *format set. */
static int format_of(const char *path, nemb_output_format *format) {
  if (*format != NEMB_FORMAT_AUTO) {
    return 0;
  }
  struct stat st;
  if (ends_with(path, ".csv") || ends_with(path, ".csv.zst")) {
    *format = NEMB_FORMAT_CSV;
  } else if (ends_with(path, ".json") || ends_with(path, ".json.zst") ||
             (stat(path, &st) == 0 && !S_ISREG(st.st_mode))) {
    *format = NEMB_FORMAT_JSON;
  } else {
    return nemb__fail(NEMB_EINVAL,
                      "cannot write the report to %s: unknown kind of file; the extensions known "
                      "are .json, .csv, each also with .zst (zstd-compressed); or give the "
                      "output format",
                      path);
  }
  return 0;
}

/* Decides the output path and format now, so a chdir() in the program does not move the file. */
static int resolve_output(nemb_session *s, const nemb_session_options *o) {
  s->format = o->output_format;
  if (!o->save_to_file || o->output_format == NEMB_FORMAT_NONE) {
    s->format = NEMB_FORMAT_NONE;
    return 0;
  }
  char name[128];
  const char *file = o->output_file;
  if (file == NULL || file[0] == '\0') {
    const char *ext = o->output_format == NEMB_FORMAT_CSV ? "csv" : "json";
    nemb__job job; /* a rank of a parallel job: codegreen_<job>_<rank>.json (job.h) */
    nemb__job_detect(&job);
    unsigned nth = next_default_file();
    if (!nemb__job_default_file(&job, ext, name, sizeof name)) {
      if (nth == 1) {
        snprintf(name, sizeof name, "codegreen_%d.%s", (int)getpid(), ext);
      } else {
        snprintf(name, sizeof name, "codegreen_%d_%u.%s", (int)getpid(), nth, ext);
      }
    }
    file = name;
  }
  int rc = format_of(file, &s->format); /* refused now, before the work, not at the end */
  if (rc != 0) {
    return rc;
  }
  if (file[0] == '/') {
    s->output_path = strdup(file);
  } else {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == NULL) {
      return nemb__fail(nemb__from_errno(errno), "cannot resolve output file %s: %s", file,
                        strerror(errno));
    }
    size_t len = strlen(cwd) + strlen(file) + 2;
    s->output_path = malloc(len);
    if (s->output_path != NULL) {
      snprintf(s->output_path, len, "%s/%s", cwd, file);
    }
  }
  if (s->output_path == NULL) {
    return NEMB_ENOMEM;
  }
  /* A .zst path without libzstd is refused now, not after the workload ran, and so is a
   * destination the report cannot be written to as things stand (no permission in its directory,
   * a read-only file system, a directory in its place): the end would otherwise fail after all
   * the work (a new user's hour of training died at its last line). A missing directory is not:
   * the program may create it; the write at the end says so, and the report stays readable
   * through nemb_session_report_json(). */
  int e = nemb__atomic_check_kind(s->output_path);
  if (e == 0) {
    e = nemb__atomic_check(s->output_path);
    e = e == ENOENT ? 0 : e;
  }
  if (e != 0) {
    return nemb__fail(nemb__from_errno(e), "cannot write the report to %s: %s", s->output_path,
                      nemb__atomic_strerror(e));
  }
  return 0;
}

void nemb_session_options_init(nemb_session_options *opts) {
  nemb_session_options init = NEMB_SESSION_OPTIONS_INIT;
  *opts = init;
}

/* The settings, the meter (or the reason there is none), and the clock pair. */
static int prepare(nemb_session *s, const nemb_session_options *o) {
  if (o->output_format > NEMB_FORMAT_NONE) {
    return nemb__fail(NEMB_EINVAL, "unknown output format %d", (int)o->output_format);
  }
  if (o->sample_interval_ms > NEMB_INTERVAL_MS_MAX) {
    return nemb__fail(NEMB_ERANGE, "sample_interval_ms %u is out of range: allowed %d to %d",
                      o->sample_interval_ms, NEMB_INTERVAL_MS_MIN, NEMB_INTERVAL_MS_MAX);
  }
  if (o->name != NULL && o->name[0] == '\0') {
    return nemb__fail(NEMB_EINVAL, "a session name must be a non-empty string (NULL leaves the "
                                   "session unnamed)");
  }
  s->name = o->name ? strdup(o->name) : NULL;
  s->python_version = o->python_version ? strdup(o->python_version) : NULL;
  if ((o->name && s->name == NULL) || (o->python_version && s->python_version == NULL)) {
    return NEMB_ENOMEM;
  }
  s->record_time_series = o->record_time_series != 0;
  if (o->argv != NULL) {
    s->argv = calloc(o->argc + 1, sizeof *s->argv);
    for (size_t i = 0; s->argv != NULL && i < o->argc; i++) {
      s->argv[s->argc] = strdup(o->argv[i] ? o->argv[i] : "");
      s->argc += s->argv[s->argc] != NULL;
    }
  } else {
    read_own_argv(s);
  }
  int rc = resolve_output(s, o);
  if (rc != 0) {
    return rc;
  }

  const nemb_config *cfg;
  nemb_config *owned = NULL;
  rc = nemb__config_resolve(o->config, &cfg, &owned);
  if (rc != 0) {
    return rc;
  }
  s->noise.cv_percent = nemb__config_number(cfg, "measurement.report.noise_warning.cv_percent");
  s->noise.drop_ratio = nemb__config_number(cfg, "measurement.report.noise_warning.drop_ratio");
  s->noise.excellent_cv_percent =
      nemb__config_number(cfg, "measurement.report.noise_warning.excellent_cv_percent");
  s->noise.good_cv_percent =
      nemb__config_number(cfg, "measurement.report.noise_warning.good_cv_percent");
  s->detail_limit = (uint64_t)nemb__config_number(cfg, "measurement.checkpoints.detail_limit");
  s->task_detail_limit = (uint64_t)nemb__config_number(cfg, "measurement.report.task_detail_limit");
  rc = nemb__carbon_resolve(cfg, &s->carbon_g_per_kwh, s->carbon_from, sizeof s->carbon_from);
  if (rc == 0) {
    char layout[32] = "";
    nemb_config_get_string(cfg, "measurement.report.timeseries_layout", layout, sizeof layout);
    rc = nemb__columnar_layout(layout, "measurement.report.timeseries_layout", &s->columnar);
  }
  if (rc == 0) {
    char want[32] = "";
    nemb_config_get_string(cfg, "measurement.boundary_clock", want, sizeof want);
    rc = nemb__clock_init(&s->clock, want); /* the begin point is taken again at t_begin */
  }
  if (rc != 0) {
    nemb_config_destroy(owned);
    return rc;
  }

  rc = nemb__node_meter_create(s, cfg, &s->meter); /* one sampler per node in a job: node.c */
  nemb_config_destroy(owned);
  if (rc != 0) {
    /* Measuring must not break the program: go on without energy, and say why in the report. */
    snprintf(s->backend_error, sizeof s->backend_error, "%s", nemb_last_error());
    nemb__log(NEMB_LOG_WARN, "no energy backend: %s", s->backend_error);
    s->meter = NULL;
    rc = 0;
  }
  if (nemb__node_follows(s)) {
    return 0; /* the leader's meter: its capacity and interval are the leader's */
  }
  if (s->meter != NULL && o->buffer_samples > 0) {
    rc = nemb__meter_set_capacity(s->meter, o->buffer_samples);
  }
  if (rc == 0 && s->meter != NULL && o->sample_interval_ms > 0) {
    rc = nemb_set_measurement_interval_ms(s->meter, o->sample_interval_ms);
  }
  return rc;
}

static void free_session(nemb_session *s) {
  /* In a forked child the sampler thread does not exist: joining it would hang or crash, so the
   * child leaves the meter alone (its memory goes with the process). */
  if (s->meter != NULL && getpid() == s->pid) {
    nemb_meter_destroy(s->meter);
  }
  if (s->cp != NULL) {
    nemb__cp_free(s);
  }
  nemb__node_free(s);
  nemb__results_free(s);
  nemb__records_free(s);
  for (size_t i = 0; i < s->argc; i++) {
    free(s->argv[i]);
  }
  free(s->argv);
  free(s->name);
  free(s->python_version);
  free(s->output_path);
  free(s->report_json);
  free(s->report_summary);
  free(s->report_warnings);
  free(s->write_error);
  pthread_mutex_destroy(&s->report_lock);
  pthread_mutex_destroy(&s->threads_lock);
  free(s);
}

int nemb_session_begin(const nemb_session_options *opts, nemb_session **out) {
  nemb__clear_error();
  if (out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_session_begin: out is NULL");
  }
  *out = NULL;
  nemb_session_options defaults;
  if (opts == NULL) {
    nemb_session_options_init(&defaults);
    opts = &defaults;
  }
  if (opts->buffer_samples > 0 && opts->buffer_samples < nemb__min_buffer_samples) {
    /* The same floor as coordinator.max_samples in config.json: one place for the rule. */
    return nemb__fail(NEMB_EINVAL, "buffer_samples = %zu is below the minimum of %zu samples",
                      opts->buffer_samples, nemb__min_buffer_samples);
  }
  nemb_session *s = calloc(1, sizeof *s);
  if (s == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory creating a session");
  }
  s->exclusive = opts->exclusive != 0;
  nemb_session *expected = NULL;
  if (s->exclusive && !atomic_compare_exchange_strong(&active, &expected, s)) {
    free(s);
    return nemb__fail(NEMB_ESTATE,
                      "another session is already active in this process (one at a time: RAPL "
                      "counters are machine-wide, so two sessions would measure the same energy)");
  }
  pthread_mutex_init(&s->threads_lock, NULL);
  pthread_mutex_init(&s->report_lock, NULL);
  atomic_init(&s->ended, false);
  atomic_init(&s->report_ready, false);
  atomic_init(&s->task_seq, 0);
  s->generation = atomic_fetch_add(&generations, 1) + 1;
  s->pid = getpid();
  make_run_id(s->run_id);

  int rc = prepare(s, opts);
  if (rc == 0) {
    rc = nemb__cp_init(s);
  }
  if (rc == 0 && s->meter != NULL && !nemb__node_follows(s)) {
    rc = nemb_meter_start(s->meter); /* a follower's meter holds the leader's samples */
  }
  if (rc == 0) {
    nemb__node_start_publishing(s);
  }
  if (rc != 0) {
    nemb_session *self = s;
    atomic_compare_exchange_strong(&active, &self, NULL);
    free_session(s);
    return rc;
  }
  /* The clock pair for wall-clock times: read back to back after the first sample exists. */
  struct timespec wall;
  nemb__clock_point_now(&s->clock, &s->clock.begin);
  s->t_begin = s->clock.begin.ns;
  clock_gettime(CLOCK_REALTIME, &wall);
  s->wall_begin = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
  *out = s;
  return 0;
}

/* ----- tasks ----- */

int nemb_task_start(nemb_session *s, const char *name) {
  if (s == NULL || name == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_task_start needs a session and a name");
  }
  if (name[0] == '\0') {
    /* A report row without a name cannot be told apart or looked up; every front refuses it. */
    return nemb__fail(NEMB_EINVAL, "a task name must be a non-empty string");
  }
  int rc;
  nemb__thread *t = nemb__thread_enter(s, &rc);
  if (t == NULL) {
    return rc;
  }
  if (t->depth >= NEMB__MAX_DEPTH) {
    nemb__thread_leave(t);
    return nemb__fail(NEMB_ERANGE, "cannot start task '%s': tasks nest at most %d deep", name,
                      NEMB__MAX_DEPTH);
  }
  const char *pooled = nemb__intern_get(&t->names, name);
  if (pooled == NULL) {
    nemb__thread_leave(t);
    return nemb__fail(NEMB_ENOMEM, "out of memory starting task '%s'", name);
  }
  nemb__open_task *open = &t->stack[t->depth++];
  open->name = pooled;
  open->seq = atomic_fetch_add_explicit(&s->task_seq, 1, memory_order_relaxed);
  open->t_start = nemb__clock_stamp(&s->clock); /* last: the bookkeeping above is not in it */
  nemb__thread_leave(t);
  return 0;
}

int nemb_task_stop(nemb_session *s, const char *name) {
  if (s == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_task_stop needs a session");
  }
  uint64_t now = nemb__clock_stamp(&s->clock); /* first: the bookkeeping below is not in it */
  int rc;
  nemb__thread *t = nemb__thread_enter(s, &rc);
  if (t == NULL) {
    return rc;
  }
  if (t->depth == 0) {
    nemb__thread_leave(t);
    return nemb__fail(NEMB_ESTATE, "cannot stop task '%s': no task is open in this thread",
                      name ? name : "(innermost)");
  }
  nemb__open_task *open = &t->stack[t->depth - 1];
  if (name != NULL && strcmp(name, open->name) != 0) {
    nemb__thread_leave(t);
    return nemb__fail(NEMB_EINVAL,
                      "cannot stop task '%s': the innermost open task in this thread is '%s'", name,
                      open->name);
  }
  nemb__task_rec rec = nemb__thread_top_record(t, now, false);
  rc = nemb__thread_append_task(t, &rec);
  if (rc == 0) {
    t->depth--;
  }
  nemb__thread_leave(t);
  return rc ? nemb__fail(rc, "out of memory recording task '%s'", rec.name) : 0;
}

int nemb_task_open(nemb_session *s, const char *name, const char *parent, uint32_t depth,
                   uint64_t *id, uint32_t *depth_out) {
  if (s == NULL || name == NULL || id == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_task_open needs a session, a name and an id");
  }
  if (name[0] == '\0' || (parent != NULL && parent[0] == '\0')) {
    return nemb__fail(NEMB_EINVAL, "a task name must be a non-empty string");
  }
  if (parent != NULL && (depth == 0 || depth >= NEMB__MAX_DEPTH)) {
    return nemb__fail(NEMB_ERANGE, "cannot open task '%s' at depth %u: tasks nest at most %d deep",
                      name, depth, NEMB__MAX_DEPTH);
  }
  int rc;
  nemb__thread *t = nemb__thread_enter(s, &rc);
  if (t == NULL) {
    return rc;
  }
  if (parent == NULL) { /* in the thread's innermost open task */
    depth = t->depth;
    parent = depth ? t->stack[depth - 1].name : NULL;
    if (depth >= NEMB__MAX_DEPTH) {
      nemb__thread_leave(t);
      return nemb__fail(NEMB_ERANGE, "cannot open task '%s': tasks nest at most %d deep", name,
                        NEMB__MAX_DEPTH);
    }
  } else {
    parent = nemb__intern_get(&t->names, parent);
  }
  const char *pooled = nemb__intern_get(&t->names, name);
  int64_t slot = pooled != NULL && (depth == 0 || parent != NULL) ? nemb__thread_loose_slot(t) : -1;
  if (slot < 0) {
    nemb__thread_leave(t);
    return nemb__fail(NEMB_ENOMEM, "out of memory opening task '%s'", name);
  }
  nemb__loose_task *open = &t->loose[slot];
  open->name = pooled;
  open->parent = parent;
  open->depth = depth;
  open->next_free = 0;
  open->seq = atomic_fetch_add_explicit(&s->task_seq, 1, memory_order_relaxed);
  *id = (uint64_t)slot | open->seq << NEMB__LOOSE_SLOT_BITS;
  if (depth_out != NULL) {
    *depth_out = depth;
  }
  open->t_start = nemb__clock_stamp(&s->clock); /* last: the bookkeeping above is not in it */
  nemb__thread_leave(t);
  return 0;
}

int nemb_task_close(nemb_session *s, uint64_t id) {
  if (s == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_task_close needs a session");
  }
  uint64_t now = nemb__clock_stamp(&s->clock); /* first: the bookkeeping below is not in it */
  int rc;
  nemb__thread *t = nemb__thread_enter(s, &rc);
  if (t == NULL) {
    return rc;
  }
  uint64_t slot = id & ((UINT64_C(1) << NEMB__LOOSE_SLOT_BITS) - 1);
  if (slot >= t->n_loose || t->loose[slot].seq == NEMB__LOOSE_FREE ||
      t->loose[slot].seq != id >> NEMB__LOOSE_SLOT_BITS) {
    nemb__thread_leave(t);
    return nemb__fail(
        NEMB_EINVAL,
        "cannot close task id %" PRIu64 ": no task with that id is open in this thread", id);
  }
  nemb__task_rec rec = nemb__thread_loose_record(t, (uint32_t)slot, now, false);
  rc = nemb__thread_append_task(t, &rec);
  if (rc == 0) {
    nemb__thread_loose_release(t, (uint32_t)slot);
  }
  nemb__thread_leave(t);
  return rc ? nemb__fail(rc, "out of memory recording task '%s'", rec.name) : 0;
}

const char *nemb_task_current(nemb_session *s) {
  if (s == NULL) {
    return NULL;
  }
  int rc;
  nemb__thread *t = nemb__thread_enter(s, &rc);
  if (t == NULL) {
    return NULL;
  }
  const char *name = t->depth ? t->stack[t->depth - 1].name : NULL;
  nemb__thread_leave(t);
  return name;
}

/* ----- end ----- */

static int write_report(const nemb_session *s, const char *path, nemb_output_format format,
                        bool with_summary);

int nemb_session_end(nemb_session *s) {
  nemb__clear_error();
  if (s == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_session_end needs a session");
  }
  if (atomic_exchange(&s->ended, true)) {
    return nemb__fail(NEMB_ESTATE, "the session has already ended");
  }
  if (getpid() != s->pid) {
    /* A forked child: the parent reports; the child's copy must not write or stop anything. */
    return 0;
  }
  nemb__clock_finish(&s->clock);
  s->t_end = s->clock.end.ns;
  /* Wait until no thread is inside a recording call; new calls now see `ended` and back out. */
  pthread_mutex_lock(&s->threads_lock);
  for (nemb__thread *t = s->threads; t != NULL; t = t->next) {
    while (atomic_load(&t->in_call)) {
      sched_yield();
    }
  }
  pthread_mutex_unlock(&s->threads_lock);

  nemb__records_to_ns(s);
  nemb__records_close_open(s);
  nemb__node_before_stop(s); /* a node's leader waits for its followers */
  if (s->meter != NULL && !nemb__node_follows(s)) {
    nemb_meter_stop(s->meter); /* its closing sample comes after t_end */
  }
  nemb__node_after_stop(s); /* a follower takes the leader's samples as its meter */
  nemb__cp_finish(s);
  nemb_session *self = s;
  atomic_compare_exchange_strong(&active, &self, NULL); /* a new session may begin now */

  /* From here the report can be built: the file is written straight from the figures (streamed:
   * the whole text is built only when nemb_session_report_json() asks for it). */
  atomic_store(&s->report_ready, true);
  int rc = 0;
  if (s->format != NEMB_FORMAT_NONE && s->output_path != NULL) {
    rc = write_report(s, s->output_path, s->format, s->record_time_series);
    if (rc != 0) {
      s->write_error = strdup(nemb_last_error());
    }
  }
  return rc;
}

int nemb_session_set_timeseries_layout(nemb_session *s, const char *layout) {
  nemb__clear_error();
  if (s == NULL || layout == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_session_set_timeseries_layout: NULL argument");
  }
  if (atomic_load(&s->ended)) {
    return nemb__fail(NEMB_ESTATE, "the session has ended: its report is written");
  }
  return nemb__columnar_layout(layout, "timeseries_layout", &s->columnar);
}

/* One of the session's cached texts, built by @p build on the first call: NULL before the end
 * (or in a forked child) and when the build fails (the message says why; a later call tries
 * again). */
static const char *cached_text(const nemb_session *s, char *const *slot,
                               int (*build)(const nemb_session *, char **)) {
  if (s == NULL || !atomic_load(&s->report_ready)) {
    return NULL;
  }
  nemb_session *w = (nemb_session *)s; /* the cache is not part of the session's value */
  pthread_mutex_lock(&w->report_lock);
  if (*slot == NULL) {
    build(s, (char **)slot);
  }
  const char *text = *slot;
  pthread_mutex_unlock(&w->report_lock);
  return text;
}

const char *nemb_session_report_json(const nemb_session *s) {
  return s ? cached_text(s, &s->report_json, nemb__report_json) : NULL;
}

const char *nemb_session_report_summary_json(const nemb_session *s) {
  return s ? cached_text(s, &s->report_summary, nemb__report_json_summary) : NULL;
}

const char *nemb_session_warnings_json(const nemb_session *s) {
  return s ? cached_text(s, &s->report_warnings, nemb__report_warnings_json) : NULL;
}

const char *nemb_session_output_path(const nemb_session *s) {
  return s && s->format != NEMB_FORMAT_NONE ? s->output_path : NULL;
}

nemb_meter *nemb_session_meter(nemb_session *s) {
  return s ? s->meter : NULL;
}

int nemb_session_write(const nemb_session *s, const char *path, nemb_output_format format) {
  nemb__clear_error();
  return write_report(s, path, format, false);
}

/* nemb_session_write(); with @p with_summary (the end's write, with time series) the summary is
 * built from the same figures as the streamed file, when it is not built yet. */
static int write_report(const nemb_session *s, const char *path, nemb_output_format format,
                        bool with_summary) {
  if (path == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_session_write: path is NULL");
  }
  if (s == NULL || !atomic_load(&s->report_ready)) {
    return nemb__fail(NEMB_ESTATE, "the report exists only after the session ended");
  }
  int frc = format_of(path, &format);
  if (frc != 0) {
    return frc;
  }
  if (format == NEMB_FORMAT_NONE) {
    return 0;
  }
  char *csv = NULL;
  if (format == NEMB_FORMAT_CSV) {
    int rc = nemb__report_csv(s, &csv);
    if (rc != 0) {
      return rc;
    }
  }
  /* One writer for every output: whole or not at all, devices written in place, compressed for a
   * ".zst" path (atomic_file.h). The JSON is the text already built when there is one, else it is
   * streamed from the figures; its closing newline is appended, not part of the text. */
  nemb__atomic_file *f = NULL;
  int e = nemb__atomic_open(path, &f);
  if (e != 0) {
    free(csv);
    return nemb__fail(nemb__from_errno(e), "cannot write the report to %s: %s", path,
                      nemb__atomic_strerror(e));
  }
  nemb_session *w = (nemb_session *)s;
  pthread_mutex_lock(&w->report_lock); /* report_json is not being built now */
  const char *text = csv ? csv : s->report_json;
  int rc = 0;
  if (text != NULL) {
    nemb__atomic_append(f, text, strlen(text));
  } else {
    rc = nemb__report_json_stream(
        s, f, with_summary && s->report_summary == NULL ? &w->report_summary : NULL);
  }
  pthread_mutex_unlock(&w->report_lock);
  free(csv);
  if (rc != 0) {
    nemb__atomic_abort(f);
    return rc;
  }
  if (format != NEMB_FORMAT_CSV) {
    nemb__atomic_append(f, "\n", 1);
  }
  e = nemb__atomic_commit(f);
  if (e != 0) {
    return nemb__fail(nemb__from_errno(e), "cannot write the report to %s: %s", path,
                      nemb__atomic_strerror(e));
  }
  return 0;
}

void nemb_session_destroy(nemb_session *s) {
  if (s == NULL) {
    return;
  }
  if (!atomic_load(&s->ended)) {
    nemb_session_end(s);
  }
  nemb_session *self = s;
  atomic_compare_exchange_strong(&active, &self, NULL);
  free_session(s);
}
