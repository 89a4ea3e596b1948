/*
 * config.c - config.json: the search order, parsing with jansson, the range check of every key
 * the library knows, and typed getters that fall back to the documented defaults.
 *
 * known_keys[] is the one list of keys, types, defaults and ranges: validation at load and the
 * getters' defaults both read it, so a key's default and its allowed range cannot drift apart.
 * Checking everything at load means a typo in a value fails `codegreen` at start, with the file
 * and key named, instead of surfacing as an odd measurement later.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "secure_env.h"

#define ORIGIN_MAX 4096
#define SEGMENT_MAX 128

struct nemb_config {
  json_t *root; /* a JSON object; NULL (read as an empty object) in the static defaults */
  char origin[ORIGIN_MAX];
};

typedef enum key_type {
  T_NUMBER,
  T_INTEGER, /* a number with no fractional part: 2 and 2.0 pass, 1.5 does not */
  T_BOOL,
  T_STRING, /* a string, or an array of strings that getters read back joined with "," */
  T_OTHER   /* structured; validated by the code that reads it */
} key_type;

typedef struct known_key {
  const char *key;
  key_type type;
  double num;      /* default of T_NUMBER, T_INTEGER and T_BOOL (1 = true) */
  const char *str; /* default of T_STRING */
  double min, max; /* inclusive range of T_NUMBER and T_INTEGER */
  const char *description;
} known_key;

static const known_key known_keys[] = {
    {"coordinator.measurement_interval_ms", T_INTEGER, 1, NULL, NEMB_INTERVAL_MS_MIN,
     NEMB_INTERVAL_MS_MAX, "sampler interval in milliseconds"},
    {"coordinator.max_samples", T_INTEGER, 7200000, NULL, NEMB__MIN_BUFFER_SAMPLES, 1000000000,
     "sample store cap (the default holds 2 h at 1 ms; then it halves its resolution)"},
    {"coordinator.sampler_jitter_us", T_NUMBER, 0, NULL, 0, 100000,
     "random delay added to each read, microseconds (tests and benchmarks)"},
    {"providers.list", T_STRING, 0, "", 0, 0, "forced provider list; empty = automatic choice"},
    {"providers.powercap.enabled", T_BOOL, 1, NULL, 0, 0, "use RAPL through powercap"},
    {"providers.nvml.devices", T_STRING, 0, "", 0, 0,
     "GPUs to measure: NVML indices or UUIDs; empty = all (CUDA_VISIBLE_DEVICES and "
     "NVIDIA_VISIBLE_DEVICES take precedence)"},
    {"providers.estimate.enabled", T_BOOL, 1, NULL, 0, 0, "fall back to a CPU-time estimate"},
    {"providers.estimate.watts_per_cpu", T_NUMBER, 4.0, NULL, 0.1, 1000,
     "busy power per logical CPU, watts"},
    {"providers.estimate.tdp_w", T_NUMBER, 0, NULL, 0, 100000,
     "busy power of the machine, watts; 0 = logical CPUs x watts_per_cpu"},
    {"providers.estimate.idle_fraction", T_NUMBER, 0.1, NULL, 0, 1,
     "share of the busy power drawn when idle"},
    {"providers.sim.update_interval_us", T_NUMBER, 976.5625, NULL, 1, 10000000,
     "how often the simulated counter advances, microseconds (RAPL: 1/1024 s)"},
    {"providers.sim.update_phase_us", T_NUMBER, -1, NULL, -1, 10000000,
     "offset of the simulated counter's first update, microseconds; -1 = random"},
    {"providers.sim.energy_unit_uj", T_NUMBER, 61.03515625, NULL, 0.000001, 1000000,
     "size of one simulated counter step, microjoules"},
    {"providers.sim.max_energy_range_uj", T_INTEGER, 262143328850.0, NULL, 1000, 9007199254740992.0,
     "the simulated counter wraps after this many microjoules"},
    {"providers.sim.domains", T_OTHER, 0, NULL, 0, 0, "simulated domains (checked by sim.c)"},
    {"measurement.report.noise_warning.cv_percent", T_NUMBER, 10, NULL, 0, 1000,
     "coefficient of variation above which a report warns of noise"},
    {"measurement.report.noise_warning.drop_ratio", T_NUMBER, 0.2, NULL, 0, 1,
     "share of dropped samples above which a report warns"},
    {"measurement.report.noise_warning.excellent_cv_percent", T_NUMBER, 2, NULL, 0, 1000,
     "coefficient of variation below which a run is rated excellent"},
    {"measurement.report.noise_warning.good_cv_percent", T_NUMBER, 5, NULL, 0, 1000,
     "coefficient of variation below which a run is rated good"},
    {"providers.perf.enabled", T_BOOL, 1, NULL, 0, 0, "use the perf_event power PMU"},
    {"providers.msr.enabled", T_BOOL, 1, NULL, 0, 0, "read RAPL MSRs through /dev/cpu/N/msr"},
    {"providers.msr.per_core", T_BOOL, 1, NULL, 0, 0,
     "AMD per-core energy domains (each read interrupts that core)"},
    {"providers.hwmon.enabled", T_BOOL, 1, NULL, 0, 0, "read hwmon energy and power sensors"},
    {"providers.hwmon.all_chips", T_BOOL, 0, NULL, 0, 0,
     "also read hwmon chips of unknown meaning (never added to totals)"},
    {"providers.nvml.enabled", T_BOOL, 1, NULL, 0, 0, "read NVIDIA GPUs through NVML"},
    {"providers.nvml.poll_ms", T_NUMBER, 10, NULL, 10, 1000,
     "mean gap between NVML reads, on a thread of their own (never faster than 100 Hz)"},
    {"providers.nvml.deadline_ms", T_NUMBER, 1000, NULL, 10, 600000,
     "an NVML call still running this long is hung: the GPU is marked failed, the rest goes on"},
    {"providers.nvml.process_poll_ms", T_NUMBER, 100, NULL, 10, 60000,
     "gap between reads of the GPUs' per-process utilisation samples (for GPU attribution)"},
    {"providers.cross_check_ms", T_INTEGER, 100, NULL, 0, 10000,
     "gap between the two readings that compare providers seeing the same domain; 0 skips"},
    {"measurement.report.carbon_intensity_g_per_kwh", T_NUMBER, 0, NULL, 0, 10000,
     "grams CO2e per kWh of the electricity, given by the user; adds co2e_g to reports (0: off)"},
    {"measurement.checkpoints.detail_limit", T_INTEGER, 100000, NULL, 0, 100000000,
     "per-invocation checkpoint events kept in the report; beyond it they are counted only"},
    {"measurement.report.task_detail_limit", T_INTEGER, 10000, NULL, 0, 1000000000,
     "tasks of one name and parent detailed in a report's tasks; beyond it they are counted in "
     "task_groups only"},
    {"measurement.report.timeseries_layout", T_STRING, 0, "samples", 0, 0,
     "how a report holds time series: samples (the reference's: every task lists its points as "
     "objects) or columnar (the session's points once, as columns; each task a window into "
     "them)"},
    {"mpi.node_leader_wait_s", T_NUMBER, 60, NULL, 0, 86400,
     "in a job, the longest a node's leader waits for its followers' ends, and a follower for "
     "the leader's samples, seconds"},
    {"measurement.boundary_clock", T_STRING, 0, "auto", 0, 0,
     "task and checkpoint timestamps: auto (the invariant TSC when the CPU has one, else "
     "CLOCK_MONOTONIC) or clock_monotonic; CODEGREEN_BOUNDARY_CLOCK overrides it"},
};

/* Static and constant, so it needs no initialisation and is safe to share between threads. */
static const nemb_config defaults_config = {NULL, "built-in defaults"};

static const known_key *find_known(const char *key) {
  for (size_t i = 0; i < NEMB__ARRAY_LEN(known_keys); i++) {
    if (strcmp(known_keys[i].key, key) == 0) {
      return &known_keys[i];
    }
  }
  return NULL;
}

static const char *json_kind(const json_t *v) {
  /* In json_type order, which is part of jansson's ABI. */
  static const char *const kinds[] = {"an object", "an array",  "a string",  "a number",
                                      "a number",  "a boolean", "a boolean", "null"};
  size_t t = (size_t)json_typeof(v);
  return t < NEMB__ARRAY_LEN(kinds) ? kinds[t] : "a value";
}

static bool is_whole(double v) {
  double ipart;
  return !(fabs(modf(v, &ipart)) > 0.0);
}

/* Whole numbers in full, others in the shortest text that reads back as @p v, so messages show
 * 60000, 9007199254740992 and 0.1 rather than 6e+04, 9.0072e+15 or 0.10000000000000001. */
static void format_double(char *buf, size_t len, double v) {
  if (is_whole(v) && fabs(v) < 1e18) {
    snprintf(buf, len, "%.0f", v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, len, "%.*g", prec, v);
    double back = strtod(buf, NULL);
    if (!(back < v) && !(back > v)) {
      return;
    }
  }
}

/* Walks a dotted key from @p root. Returns the value or NULL when absent. When a component on
 * the way exists but is not an object, *blocked receives the length of the key prefix that names
 * it (so "coordinator": 5 can be reported), else 0. */
static json_t *walk(json_t *root, const char *key, size_t *blocked) {
  json_t *node = root;
  const char *seg = key;
  *blocked = 0;
  while (node != NULL) {
    if (!json_is_object(node)) {
      *blocked = seg > key ? (size_t)(seg - key - 1) : 0;
      return NULL;
    }
    const char *dot = strchr(seg, '.');
    size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
    char name[SEGMENT_MAX];
    if (n >= sizeof name) {
      return NULL; /* longer than any key we know; it cannot be set through this API */
    }
    memcpy(name, seg, n);
    name[n] = '\0';
    node = json_object_get(node, name);
    if (dot == NULL) {
      return node;
    }
    seg = dot + 1;
  }
  return NULL;
}

static int check_string(const nemb_config *cfg, const known_key *k, json_t *v) {
  if (json_is_string(v)) {
    return 0;
  }
  if (!json_is_array(v)) {
    return nemb__fail(NEMB_ECONFIG, "%s: %s is %s, expected a string or an array of strings",
                      cfg->origin, k->key, json_kind(v));
  }
  size_t i;
  json_t *item;
  json_array_foreach(v, i, item) {
    /* The joined form is what readers parse, so an element must survive the round trip. */
    if (!json_is_string(item) || json_string_value(item)[0] == '\0' ||
        strchr(json_string_value(item), ',') != NULL) {
      return nemb__fail(NEMB_ECONFIG, "%s: %s[%zu] must be a non-empty string without commas",
                        cfg->origin, k->key, i);
    }
  }
  return 0;
}

static int check_key(const nemb_config *cfg, const known_key *k) {
  size_t blocked;
  json_t *v = walk(cfg->root, k->key, &blocked);
  if (blocked > 0) {
    return nemb__fail(NEMB_ECONFIG, "%s: %.*s must be an object (it holds %s)", cfg->origin,
                      (int)blocked, k->key, k->key);
  }
  if (v == NULL || k->type == T_OTHER) {
    return 0;
  }
  char lo[32], hi[32], val[32];
  switch (k->type) {
  case T_BOOL:
    if (!json_is_boolean(v)) {
      return nemb__fail(NEMB_ECONFIG, "%s: %s is %s, expected a boolean (true or false)",
                        cfg->origin, k->key, json_kind(v));
    }
    return 0;
  case T_STRING:
    return check_string(cfg, k, v);
  default:
    break;
  }
  const char *type = k->type == T_INTEGER ? "integer" : "number";
  format_double(lo, sizeof lo, k->min);
  format_double(hi, sizeof hi, k->max);
  if (!json_is_number(v)) {
    return nemb__fail(NEMB_ECONFIG, "%s: %s is %s, expected %s %s from %s to %s", cfg->origin,
                      k->key, json_kind(v), k->type == T_INTEGER ? "an" : "a", type, lo, hi);
  }
  double d = json_number_value(v);
  bool out_of_range = d < k->min || d > k->max;
  if (json_is_integer(v)) {
    snprintf(val, sizeof val, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    /* Compare integers exactly: above 2^53 a double cannot tell max from max + 1. */
    if (k->type == T_INTEGER) {
      json_int_t iv = json_integer_value(v);
      out_of_range = iv < (json_int_t)k->min || iv > (json_int_t)k->max;
    }
  } else {
    format_double(val, sizeof val, d);
    if (k->type == T_INTEGER && !is_whole(d)) {
      return nemb__fail(NEMB_ECONFIG, "%s: %s = %s is not an integer: allowed %s to %s (integer)",
                        cfg->origin, k->key, val, lo, hi);
    }
  }
  if (out_of_range) {
    return nemb__fail(NEMB_ECONFIG, "%s: %s = %s is out of range: allowed %s to %s (%s)",
                      cfg->origin, k->key, val, lo, hi, type);
  }
  return 0;
}

/* ----- keys that are not known: a warning naming the nearest known one ----- */

size_t nemb__edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 200 || lb > 200) {
    return (size_t)-1;
  }
  size_t row[201];
  for (size_t j = 0; j <= lb; j++) {
    row[j] = j;
  }
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      best = row[j] + 1 < best ? row[j] + 1 : best;
      best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

const char *nemb__nearest(const char *word, const char *const *candidates, size_t n) {
  const char *best = NULL;
  size_t best_d = (size_t)-1;
  for (size_t i = 0; i < n; i++) {
    size_t d = nemb__edit_distance(word, candidates[i]);
    if (d < best_d) {
      best_d = d;
      best = candidates[i];
    }
  }
  /* A suggestion only when it is plausibly a typo: at most a third of the word changed. */
  size_t len = strlen(word);
  return best != NULL && best_d <= (len < 9 ? 3 : len / 3) ? best : NULL;
}

/* The known names at the depth of @p path (its number of dots), under the same parent: for
 * "coordinater" the sections (coordinator, providers, measurement), for "coordinator.interval"
 * the keys of coordinator. Writes up to @p cap distinct names into @p out (static storage is not
 * needed: they are cut from known_keys into @p buf). */
static size_t names_at_depth(const char *path, char (*buf)[SEGMENT_MAX * 4], size_t cap) {
  const char *last_dot = strrchr(path, '.');
  size_t parent_len = last_dot ? (size_t)(last_dot - path) : 0;
  size_t n = 0;
  for (size_t i = 0; i < NEMB__ARRAY_LEN(known_keys) && n < cap; i++) {
    const char *k = known_keys[i].key;
    if (parent_len > 0 && (strncmp(k, path, parent_len) != 0 || k[parent_len] != '.')) {
      continue;
    }
    const char *seg = parent_len > 0 ? k + parent_len + 1 : k;
    size_t seg_len = strcspn(seg, ".");
    size_t full = (size_t)(seg - k) + seg_len;
    if (full >= sizeof buf[0]) {
      continue;
    }
    char name[SEGMENT_MAX * 4];
    snprintf(name, sizeof name, "%.*s", (int)full, k);
    bool seen = false;
    for (size_t j = 0; j < n && !seen; j++) {
      seen = strcmp(buf[j], name) == 0;
    }
    if (!seen) {
      snprintf(buf[n++], sizeof buf[0], "%s", name);
    }
  }
  return n;
}

/* Says each warning once per process: a config is loaded more than once by some commands. */
static void warn_once(const char *text) {
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  static char said[16][1024];
  static size_t n_said;
  pthread_mutex_lock(&lock);
  bool seen = false;
  for (size_t i = 0; i < n_said && i < 16 && !seen; i++) {
    seen = strncmp(said[i], text, sizeof said[i] - 1) == 0;
  }
  if (!seen) {
    snprintf(said[n_said % 16], sizeof said[0], "%s", text);
    n_said++;
  }
  pthread_mutex_unlock(&lock);
  if (!seen) {
    nemb__log(NEMB_LOG_WARN, "%s", text);
  }
}

/* Walks @p node (the object at dotted @p path, "" for the top) and warns of every key that is
 * neither a known key nor on the way to one. */
static void warn_unknown(const json_t *node, const char *path, const char *origin) {
  const char *name;
  json_t *v;
  json_object_foreach((json_t *)node, name, v) {
    char full[SEGMENT_MAX * 4];
    int n = snprintf(full, sizeof full, "%s%s%s", path, path[0] ? "." : "", name);
    if (n < 0 || (size_t)n >= sizeof full) {
      continue;
    }
    const known_key *k = find_known(full);
    if (k != NULL) {
      continue; /* a leaf (T_OTHER included: its reader checks inside) */
    }
    bool on_the_way = false;
    for (size_t i = 0; i < NEMB__ARRAY_LEN(known_keys) && !on_the_way; i++) {
      on_the_way = strncmp(known_keys[i].key, full, (size_t)n) == 0 && known_keys[i].key[n] == '.';
    }
    if (on_the_way) {
      if (json_is_object(v)) {
        warn_unknown(v, full, origin);
      }
      continue;
    }
    char names[64][SEGMENT_MAX * 4];
    const char *ptrs[64];
    size_t count = names_at_depth(full, names, 64);
    for (size_t i = 0; i < count; i++) {
      ptrs[i] = names[i];
    }
    const char *near = nemb__nearest(full, ptrs, count);
    char text[1024];
    if (near != NULL) {
      snprintf(text, sizeof text, "%s: unknown key %s is ignored; did you mean %s?", origin, full,
               near);
    } else {
      snprintf(text, sizeof text,
               "%s: unknown key %s is ignored (codegreen info lists the "
               "configuration; README: Configuration)",
               origin, full);
    }
    warn_once(text);
  }
}

int nemb__config_check_section(const char *prefix, const void *section, const char *origin) {
  if (!json_is_object((const json_t *)section)) {
    return nemb__fail(NEMB_ECONFIG, "%s must be a JSON object ({...})", origin);
  }
  /* The section is checked in place, as if it sat at @p prefix in a config.json. */
  json_t *root = json_object();
  json_t *node = root;
  char seg[SEGMENT_MAX];
  const char *p = prefix;
  while (root != NULL && *p) {
    size_t n = strcspn(p, ".");
    snprintf(seg, sizeof seg, "%.*s", (int)n, p);
    p += n + (p[n] == '.');
    json_t *child = *p ? json_object() : json_incref((json_t *)section);
    json_object_set_new(node, seg, child);
    node = child;
  }
  if (root == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory checking %s", origin);
  }
  nemb_config cfg = {.root = root};
  snprintf(cfg.origin, sizeof cfg.origin, "%s", origin);
  size_t plen = strlen(prefix);
  int rc = 0;
  for (size_t i = 0; i < NEMB__ARRAY_LEN(known_keys) && rc == 0; i++) {
    if (strncmp(known_keys[i].key, prefix, plen) == 0 && known_keys[i].key[plen] == '.') {
      rc = check_key(&cfg, &known_keys[i]);
    }
  }
  if (rc == 0) {
    warn_unknown(section, prefix, origin);
  }
  json_decref(root);
  return rc;
}

/* Takes ownership of @p root, checks it and wraps it in a new config. */
static int adopt(json_t *root, const char *origin, nemb_config **out) {
  if (!json_is_object(root)) {
    int rc = nemb__fail(NEMB_ECONFIG, "%s: the top level must be a JSON object ({...}), not %s",
                        origin, json_kind(root));
    json_decref(root);
    return rc;
  }
  nemb_config *cfg = calloc(1, sizeof *cfg);
  if (cfg == NULL) {
    json_decref(root);
    return nemb__fail(NEMB_ENOMEM, "out of memory loading the configuration from %s", origin);
  }
  cfg->root = root;
  snprintf(cfg->origin, sizeof cfg->origin, "%s", origin);
  for (size_t i = 0; i < NEMB__ARRAY_LEN(known_keys); i++) {
    int rc = check_key(cfg, &known_keys[i]);
    if (rc != 0) {
      nemb_config_destroy(cfg);
      return rc;
    }
  }
  warn_unknown(root, "", origin);
  *out = cfg;
  return 0;
}

/* @p named_by is the environment variable that named @p path, for the message, or NULL. */
static int load_file(const char *path, const char *named_by, nemb_config **out) {
  char via[64] = "";
  if (named_by != NULL) {
    snprintf(via, sizeof via, " (named by $%s)", named_by);
  }
  FILE *fp = fopen(path, "re");
  if (fp == NULL) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) {
      return nemb__fail(NEMB_ENOENT, "config file %s%s does not exist", path, via);
    }
    if (e == EACCES || e == EPERM) {
      return nemb__fail(NEMB_EACCES,
                        "cannot read config file %s%s: permission denied; make it "
                        "readable or remove it",
                        path, via);
    }
    return nemb__fail(nemb__from_errno(e), "cannot read config file %s%s: %s", path, via,
                      strerror(e));
  }
  struct stat st;
  if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
    fclose(fp); /* fopen accepts a directory; the read would fail with a confusing message */
    return nemb__fail(NEMB_ECONFIG, "config file %s%s is a directory", path, via);
  }
  json_error_t jerr;
  json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
  fclose(fp);
  if (root == NULL) {
    return nemb__fail(NEMB_ECONFIG, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
  }
  return adopt(root, path, out);
}

/* A privileged process (secure_env.h) takes a configuration named on its command line only from
 * a file as trusted as /etc/codegreen/config.json: a regular file owned by root that no one else
 * can write. Otherwise any user allowed to run it would choose what it does with its privilege,
 * as $CODEGREEN_CONFIG would (which is ignored there). */
static int privileged_may_read(const char *path) {
  if (!nemb__env_privileged()) {
    return 0;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    return 0; /* load_file says what is wrong with the path */
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return nemb__fail(NEMB_EACCES,
                      "config file %s: this codegreen is privileged (file capabilities or "
                      "set-user-ID), so it reads a config named with -c only from a regular file "
                      "owned by root and writable by no one else (this one is %s, uid %u, mode "
                      "%03o); put the settings in /etc/codegreen/config.json or your user config",
                      path, S_ISREG(st.st_mode) ? "a regular file" : "not a regular file",
                      (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
  }
  return 0;
}

int nemb_config_load(const char *path, nemb_config **out) {
  nemb__clear_error();
  if (out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_config_load: out is NULL");
  }
  *out = NULL;
  if (path != NULL) {
    int rc = privileged_may_read(path);
    return rc != 0 ? rc : load_file(path, NULL, out);
  }
  /* An explicit $CODEGREEN_CONFIG that is missing is a mistake worth stopping for. */
  const char *env = nemb__env_get("CODEGREEN_CONFIG"); /* ignored when privileged */
  if (env != NULL && env[0] != '\0') {
    return load_file(env, "CODEGREEN_CONFIG", out);
  }
  char user[ORIGIN_MAX];
  int n = 0;
  const char *xdg = getenv("XDG_CONFIG_HOME");
  const char *home = getenv("HOME");
  if (xdg != NULL && xdg[0] == '/') { /* the XDG spec says to ignore relative paths */
    n = snprintf(user, sizeof user, "%s/codegreen/config.json", xdg);
  } else if (home != NULL && home[0] != '\0') {
    n = snprintf(user, sizeof user, "%s/.config/codegreen/config.json", home);
  }
  if (n < 0 || (size_t)n >= sizeof user) {
    return nemb__fail(NEMB_EINVAL, "the user config path under $XDG_CONFIG_HOME or $HOME is too "
                                   "long");
  }
  const char *candidates[] = {n > 0 ? user : NULL, "/etc/codegreen/config.json"};
  for (size_t i = 0; i < NEMB__ARRAY_LEN(candidates); i++) {
    if (candidates[i] == NULL) {
      continue;
    }
    int rc = load_file(candidates[i], NULL, out);
    if (rc != NEMB_ENOENT) {
      return rc;
    }
    nemb__clear_error(); /* a missing file in the search order is normal */
  }
  json_t *empty = json_object();
  if (empty == NULL) {
    return nemb__fail(NEMB_ENOMEM, "out of memory creating the default configuration");
  }
  return adopt(empty, defaults_config.origin, out);
}

int nemb_config_from_string(const char *json, const char *origin, nemb_config **out) {
  nemb__clear_error();
  if (json == NULL || out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_config_from_string: json and out must not be NULL");
  }
  *out = NULL;
  origin = origin ? origin : "string";
  json_error_t jerr;
  json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL) {
    return nemb__fail(NEMB_ECONFIG, "%s:%d:%d: %s", origin, jerr.line, jerr.column, jerr.text);
  }
  return adopt(root, origin, out);
}

void nemb_config_destroy(nemb_config *cfg) {
  if (cfg != NULL) {
    json_decref(cfg->root);
    free(cfg);
  }
}

const char *nemb_config_origin(const nemb_config *cfg) {
  return (cfg ? cfg : &defaults_config)->origin;
}

int nemb__config_copy(const nemb_config *cfg, nemb_config **out) {
  *out = NULL;
  if (cfg == NULL || cfg->root == NULL) {
    return 0; /* the defaults: NULL stands for them */
  }
  nemb_config *c = calloc(1, sizeof *c);
  json_t *root = json_deep_copy(cfg->root);
  if (c == NULL || root == NULL) {
    free(c);
    json_decref(root);
    return nemb__fail(NEMB_ENOMEM, "out of memory copying the configuration");
  }
  c->root = root;
  snprintf(c->origin, sizeof c->origin, "%s", cfg->origin);
  *out = c;
  return 0;
}

const nemb_config *nemb__config_defaults(void) {
  return &defaults_config;
}

void *nemb__config_lookup(const nemb_config *cfg, const char *key) {
  size_t blocked;
  return cfg ? walk(cfg->root, key, &blocked) : NULL;
}

int nemb__config_resolve(const nemb_config *cfg, const nemb_config **use, nemb_config **owned) {
  *owned = NULL;
  *use = cfg;
  if (cfg != NULL) {
    return 0;
  }
  int rc = nemb_config_load(NULL, owned);
  *use = *owned;
  return rc;
}

/* The common start of the getters: the value the file sets (*v) or, failing that, the table
 * entry whose default applies (*k). A NULL config reads as the built-in defaults. */
static int find(const nemb_config **cfg, const char *key, json_t **v, const known_key **k) {
  nemb__clear_error();
  if (key == NULL) {
    return nemb__fail(NEMB_EINVAL, "config getter called with a NULL key");
  }
  *cfg = *cfg ? *cfg : &defaults_config;
  *v = nemb__config_lookup(*cfg, key);
  *k = find_known(key);
  if (*v == NULL && *k == NULL) {
    return nemb__fail(NEMB_ENOENT, "%s: config key %s is not set and has no built-in default",
                      (*cfg)->origin, key);
  }
  return 0;
}

static int mismatch(const nemb_config *cfg, const char *key, const json_t *v, const char *want) {
  return nemb__fail(NEMB_ECONFIG, "%s: %s is %s, not %s", cfg->origin, key,
                    v ? json_kind(v) : "a structured value with no scalar default", want);
}

int nemb_config_get_double(const nemb_config *cfg, const char *key, double *out) {
  if (out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_config_get_double: out is NULL");
  }
  json_t *v;
  const known_key *k;
  int rc = find(&cfg, key, &v, &k);
  if (rc != 0) {
    return rc;
  }
  if (v != NULL) {
    if (!json_is_number(v)) {
      return mismatch(cfg, key, v, "a number");
    }
    *out = json_number_value(v);
    return 0;
  }
  if (k->type != T_NUMBER && k->type != T_INTEGER) {
    return mismatch(cfg, key, NULL, "a number");
  }
  *out = k->num;
  return 0;
}

double nemb__config_number(const nemb_config *cfg, const char *key) {
  double v;
  if (nemb_config_get_double(cfg, key, &v) == 0) {
    return v;
  }
  const known_key *k = find_known(key);
  return k != NULL ? k->num : 0;
}

int nemb_config_get_bool(const nemb_config *cfg, const char *key, int *out) {
  if (out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_config_get_bool: out is NULL");
  }
  json_t *v;
  const known_key *k;
  int rc = find(&cfg, key, &v, &k);
  if (rc != 0) {
    return rc;
  }
  if (v != NULL) {
    if (!json_is_boolean(v)) {
      return mismatch(cfg, key, v, "a boolean");
    }
    *out = json_is_true(v);
    return 0;
  }
  if (k->type != T_BOOL) {
    return mismatch(cfg, key, NULL, "a boolean");
  }
  *out = k->num > 0.5;
  return 0;
}

/* Appends @p s at *pos with snprintf semantics; *pos counts the length the whole would need. */
static void put(char *buf, size_t len, size_t *pos, const char *s) {
  size_t n = strlen(s);
  if (*pos < len) {
    size_t room = len - 1 - *pos;
    size_t c = n < room ? n : room;
    memcpy(buf + *pos, s, c);
    buf[*pos + c] = '\0';
  }
  *pos += n;
}

int nemb_config_get_string(const nemb_config *cfg, const char *key, char *buf, size_t len) {
  json_t *v;
  const known_key *k;
  int rc = find(&cfg, key, &v, &k);
  if (rc != 0) {
    return rc;
  }
  if (buf == NULL && len > 0) {
    return nemb__fail(NEMB_EINVAL, "nemb_config_get_string: buf is NULL");
  }
  if (len > 0) {
    buf[0] = '\0';
  }
  size_t pos = 0;
  if (v == NULL) {
    if (k->type != T_STRING) {
      return mismatch(cfg, key, NULL, "a string");
    }
    put(buf, len, &pos, k->str);
  } else if (json_is_string(v)) {
    put(buf, len, &pos, json_string_value(v));
  } else if (json_is_array(v)) {
    /* A list such as providers.list reads back as "a,b", the form $CODEGREEN_PROVIDERS takes. */
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
      if (!json_is_string(item)) {
        return mismatch(cfg, key, v, "a string or an array of strings");
      }
      put(buf, len, &pos, i > 0 ? "," : "");
      put(buf, len, &pos, json_string_value(item));
    }
  } else {
    return mismatch(cfg, key, v, "a string");
  }
  if (pos >= len) {
    return nemb__fail(NEMB_ERANGE, "%s: %s needs %zu bytes, the buffer holds %zu", cfg->origin, key,
                      pos + 1, len);
  }
  return 0;
}
