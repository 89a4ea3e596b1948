/*
 * measure_children.c - merges the reports of a measured program's child processes into its own
 * (measure_children.h).
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_load.h"
#include "measure_children.h"

static size_t called(json_t *funcs) {
  size_t n = 0, i;
  json_t *f;
  json_array_foreach(funcs, i, f) {
    n += json_integer_value(json_object_get(f, "calls")) > 0;
  }
  return n;
}

/* Appends child report @p kid's checkpoint records to @p report's, each with the child's pid, so
 * the call graph and the folded stacks (funcviews.c) replay every process's calls on its own
 * threads' stacks; the counts add up. */
static void merge_checkpoints(json_t *report, json_t *kid, json_t *pid) {
  json_t *theirs = json_object_get(kid, "checkpoints");
  if (!json_is_object(theirs)) {
    return;
  }
  json_t *ours = json_object_get(report, "checkpoints");
  if (!json_is_object(ours)) {
    ours = json_object();
    json_object_set_new(report, "checkpoints", ours);
  }
  static const char *const counts[] = {"events",          "invocations", "details_kept",
                                       "details_dropped", "unbalanced",  "extrapolated"};
  for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
    json_int_t sum = json_integer_value(json_object_get(ours, counts[c])) +
                     json_integer_value(json_object_get(theirs, counts[c]));
    json_object_set_new(ours, counts[c], json_integer(sum));
  }
  if (json_object_get(ours, "detail_limit") == NULL) {
    json_object_set(ours, "detail_limit", json_object_get(theirs, "detail_limit"));
  }
  json_t *all = json_object_get(ours, "measurements");
  if (!json_is_array(all)) {
    all = json_array();
    json_object_set_new(ours, "measurements", all);
  }
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(theirs, "measurements"), i, m) {
    json_object_set(m, "pid", pid);
    json_array_append(all, m);
  }
}

/* {"pid", "name", "argv", "parent", "functions", "energy_j", "duration_s"} of one report. */
static json_t *process_entry(json_t *r, bool parent) {
  json_t *meta = json_object_get(r, "meta");
  json_t *totals = json_object_get(r, "totals");
  json_t *argv = json_object_get(meta, "argv");
  const char *name = json_string_value(json_object_get(meta, "session_name"));
  return json_pack("{s:I, s:s, s:O, s:b, s:I, s:f, s:f}", "pid",
                   (json_int_t)json_integer_value(json_object_get(meta, "pid")), "name",
                   name ? name : "python", "argv", argv ? argv : json_null(), "parent", parent,
                   "functions", (json_int_t)called(json_object_get(r, "functions")), "energy_j",
                   json_number_value(json_object_get(totals, "session_energy_j")), "duration_s",
                   json_number_value(json_object_get(totals, "wall_duration_s")));
}

static json_int_t pid_of(json_t *r) {
  return json_integer_value(json_object_get(json_object_get(r, "meta"), "pid"));
}

static int by_pid(const void *a, const void *b) {
  json_int_t x = pid_of(*(json_t *const *)a);
  json_int_t y = pid_of(*(json_t *const *)b);
  return (x > y) - (x < y);
}

/* "name\x1fcontext\x1fline": one function of the program, whichever process's row it is. */
static void function_key(json_t *f, char *key, size_t len) {
  const char *name = json_string_value(json_object_get(f, "name"));
  const char *context = json_string_value(json_object_get(f, "context"));
  snprintf(key, len, "%s\x1f%s\x1f%lld", name ? name : "", context ? context : "",
           (long long)json_integer_value(json_object_get(f, "line")));
}

/* Every process registers every function it imports, so each one's report has a row of 0 calls
 * for each function it did not call (a worker's function in the parent, the parent's in each
 * worker). Merged, a function keeps its rows with calls, and one row of 0 calls only when no
 * process called it (it was instrumented and never ran: the program's first, the parent's). */
static void drop_idle_repeats(json_t *funcs) {
  json_t *called_keys = json_object(), *idle_keys = json_object(), *kept = json_array();
  char key[2048];
  size_t i;
  json_t *f;
  json_array_foreach(funcs, i, f) {
    if (json_integer_value(json_object_get(f, "calls")) > 0) {
      function_key(f, key, sizeof key);
      json_object_set_new(called_keys, key, json_true());
    }
  }
  json_array_foreach(funcs, i, f) {
    function_key(f, key, sizeof key);
    bool idle = json_integer_value(json_object_get(f, "calls")) <= 0;
    if (idle &&
        (json_object_get(called_keys, key) != NULL || json_object_get(idle_keys, key) != NULL)) {
      continue;
    }
    if (idle) {
      json_object_set_new(idle_keys, key, json_true());
    }
    json_array_append(kept, f);
  }
  json_array_clear(funcs);
  json_array_extend(funcs, kept);
  json_decref(kept);
  json_decref(called_keys);
  json_decref(idle_keys);
}

size_t cg_measure_merge_children(json_t *report, const char *dir) {
  if (dir == NULL) {
    return 0;
  }
  DIR *d = opendir(dir);
  if (d == NULL) {
    return 0;
  }
  json_t **kids = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!nemb__report_file_name(e->d_name) || e->d_name[0] == '.') {
      continue;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    json_t *r = NULL;
    nemb__report_load(path, &r, NULL, 0);
    if (!json_is_object(r) || !json_is_object(json_object_get(r, "meta"))) {
      json_decref(r);
      continue;
    }
    if (n == cap) {
      size_t nc = cap ? 2 * cap : 8;
      json_t **grown = realloc(kids, nc * sizeof *grown);
      if (grown == NULL) {
        json_decref(r);
        break;
      }
      kids = grown;
      cap = nc;
    }
    kids[n++] = r;
  }
  closedir(d);
  if (n == 0) {
    free(kids);
    return 0;
  }
  qsort(kids, n, sizeof *kids, by_pid);
  /* A parent that called no instrumented function (a __main__ that only starts a Pool) wrote no
   * rows, and its verdict says so; the children's rows are the program's measured calls. */
  json_t *funcs = json_object_get(report, "functions");
  if (!json_is_array(funcs)) {
    funcs = json_array();
    json_object_set_new(report, "functions", funcs);
  }
  json_t *meta = json_object_get(report, "meta");
  const char *verdict = json_string_value(json_object_get(meta, "measurement_quality"));
  bool kids_measured = false;
  for (size_t k = 0; k < n; k++) {
    kids_measured = kids_measured || json_array_size(json_object_get(kids[k], "functions")) > 0;
  }
  if (kids_measured && verdict != NULL && strcmp(verdict, "no_tasks") == 0) {
    json_object_set_new(meta, "measurement_quality", json_string("checkpoints_only"));
  }
  json_t *own_pid = json_object_get(meta, "pid");
  /* A child's rows come with shares of its own run's energy; in the merged table every share is
   * of the program's whole run (a child runs inside it), so the column adds up across processes. */
  double whole_j =
      json_number_value(json_object_get(json_object_get(report, "totals"), "session_energy_j"));
  size_t i;
  json_t *f;
  json_array_foreach(funcs, i, f) {
    json_object_set(f, "pid", own_pid ? own_pid : json_null());
  }
  json_array_foreach(json_object_get(json_object_get(report, "checkpoints"), "measurements"), i,
                     f) {
    json_object_set(f, "pid", own_pid ? own_pid : json_null());
  }
  json_t *procs = json_array();
  json_array_append_new(procs, process_entry(report, true));
  for (size_t k = 0; k < n; k++) {
    json_t *pid = json_object_get(json_object_get(kids[k], "meta"), "pid");
    json_array_append_new(procs, process_entry(kids[k], false));
    if (json_is_integer(pid)) {
      merge_checkpoints(report, kids[k], pid);
    }
    json_array_foreach(json_object_get(kids[k], "functions"), i, f) {
      json_object_set(f, "pid", pid ? pid : json_null());
      double fj = json_number_value(json_object_get(f, "energy_j"));
      json_object_set_new(f, "share_of_total", json_real(whole_j > 0 ? fj / whole_j : 0));
      json_array_append(funcs, f);
    }
    json_decref(kids[k]);
  }
  free(kids);
  drop_idle_repeats(funcs);
  json_object_set_new(report, "processes", procs);
  return n;
}
