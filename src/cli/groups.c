/*
 * groups.c - see groups.h.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "groups.h"
#include "outputs.h"

static cg_group *add_group(cg_groups *gs, const char *name) {
  for (size_t i = 0; i < gs->n; i++) {
    if (strcmp(gs->g[i].name, name) == 0) {
      return &gs->g[i];
    }
  }
  cg_group *g = realloc(gs->g, (gs->n + 1) * sizeof *g);
  if (g == NULL) {
    return NULL;
  }
  gs->g = g;
  g = &gs->g[gs->n];
  *g = (cg_group){strdup(name), NULL, NULL, 0, 0, 0, 0};
  if (g->name == NULL) {
    return NULL;
  }
  gs->n++;
  return g;
}

static int add_value(cg_group *g, double e, double d) {
  double *a = realloc(g->energy_j, (g->n + 1) * sizeof *a);
  if (a == NULL) {
    return -1;
  }
  g->energy_j = a;
  double *b = realloc(g->duration_s, (g->n + 1) * sizeof *b);
  if (b == NULL) {
    return -1;
  }
  g->duration_s = b;
  g->energy_j[g->n] = e;
  g->duration_s[g->n] = d;
  g->n++;
  return 0;
}

static double num(json_t *o, const char *k) {
  return json_number_value(json_object_get(o, k));
}

/* The command of run report runs' index @p k: from "commands" (this version) or meta.argv. */
static char *command_name(json_t *report, size_t k) {
  json_t *cmd = json_array_get(json_object_get(report, "commands"), k);
  const char *s = json_string_value(json_object_get(cmd, "command"));
  if (s != NULL) {
    return strdup(s);
  }
  json_t *argv = json_object_get(json_object_get(report, "meta"), "argv");
  size_t n = json_array_size(argv);
  char **words = calloc(n + 1, sizeof *words);
  if (words == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    const char *w = json_string_value(json_array_get(argv, i));
    words[i] = (char *)(w ? w : "");
  }
  char *out = n ? cg_command_string(words) : strdup("command");
  free(words);
  return out;
}

static bool listed_outlier(json_t *report, const char *task) {
  size_t i;
  json_t *o;
  json_array_foreach(json_object_get(json_object_get(report, "statistics"), "outliers"), i, o) {
    const char *run = json_string_value(json_object_get(o, "run"));
    if (run != NULL && task != NULL && strcmp(run, task) == 0) {
      return true;
    }
  }
  return false;
}

static int from_runs(json_t *report, cg_groups *gs) {
  gs->kind = "run";
  size_t n_cmds = json_array_size(json_object_get(report, "commands"));
  for (size_t k = 0; k < (n_cmds ? n_cmds : 1); k++) {
    char *name = command_name(report, k);
    cg_group *g = name ? add_group(gs, name) : NULL;
    free(name);
    if (g == NULL) {
      return -1;
    }
  }
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(report, "runs"), i, r) {
    json_t *in = json_object_get(r, "in_statistics");
    /* An outlier set aside (in_statistics false since it is out of the figures) is counted
     * back: cg_group_stats() applies the same iqr_1.5 filter to the same runs. */
    bool counted = json_is_boolean(in)
                       ? json_is_true(in) || json_is_true(json_object_get(r, "outlier"))
                       /* an older report: every measured run but the listed outliers */
                       : !json_is_true(json_object_get(r, "warmup")) &&
                             !listed_outlier(report, json_string_value(json_object_get(r, "task")));
    size_t k = (size_t)json_integer_value(json_object_get(r, "command_index"));
    if (counted && k < gs->n &&
        add_value(&gs->g[k], num(r, "energy_j"), num(r, "duration_s")) != 0) {
      return -1;
    }
  }
  return 0;
}

static int from_totals(json_t *report, cg_groups *gs) {
  json_t *totals = json_object_get(report, "totals");
  double e = json_is_number(json_object_get(totals, "energy_j")) ? num(totals, "energy_j") : NAN;
  if (!(e > 0) && json_is_number(json_object_get(totals, "session_energy_j"))) {
    e = num(totals, "session_energy_j"); /* a measure report of an earlier version */
  }
  /* A Session's energy_j is its tasks' energy: over the tasks' time (threads overlapping count
   * twice in both), never over the wall time it does not cover. */
  gs->total_time = "wall_duration_s";
  if (strcmp(gs->kind, "session") == 0 && num(totals, "task_duration_s") > 0) {
    gs->total_time = "task_duration_s";
  }
  double d = num(totals, gs->total_time);
  cg_group *g = add_group(gs, "(total)");
  return g != NULL && isfinite(e) ? add_value(g, e, d) : -1;
}

/* A Session report's task_groups (one per name, parent and depth, written when tasks does not
 * detail every instance): each name's count and sums over all its instances. */
static int from_task_groups(json_t *report, cg_groups *gs) {
  size_t i;
  json_t *tg;
  json_array_foreach(json_object_get(report, "task_groups"), i, tg) {
    const char *name = json_string_value(json_object_get(tg, "name"));
    json_int_t count = json_integer_value(json_object_get(tg, "count"));
    cg_group *g = name != NULL && count > 0 ? add_group(gs, name) : NULL;
    if (g == NULL) {
      return name != NULL && count > 0 ? -1 : 0;
    }
    g->count += (size_t)count;
    g->energy_sum_j += num(json_object_get(tg, "energy_j"), "sum");
    g->duration_sum_s += num(json_object_get(tg, "duration_s"), "sum");
  }
  for (size_t k = 1; k < gs->n; k++) {
    if (gs->g[k].count <= gs->g[k].n) {
      gs->g[k].count = 0; /* every instance detailed: the values themselves */
    }
  }
  return 0;
}

int cg_groups_from_report(json_t *report, cg_groups *out) {
  *out = (cg_groups){0};
  out->total_time = "duration_s";
  if (!json_is_object(report) || !json_is_object(json_object_get(report, "meta"))) {
    return -1;
  }
  int rc = 0;
  if (json_is_array(json_object_get(report, "runs"))) {
    rc = from_runs(report, out);
  } else if (json_is_array(json_object_get(report, "functions"))) {
    out->kind = "measure";
    rc = from_totals(report, out);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(report, "functions"), i, f) {
      char *name = NULL;
      if (rc != 0 || asprintf(&name, "%s (%s:%lld)", json_string_value(json_object_get(f, "name")),
                              json_string_value(json_object_get(f, "context"))
                                  ? json_string_value(json_object_get(f, "context"))
                                  : "?",
                              (long long)json_integer_value(json_object_get(f, "line"))) < 0) {
        rc = -1;
        break;
      }
      cg_group *g = add_group(out, name);
      free(name);
      rc = g ? add_value(g, num(f, "energy_j"), num(f, "duration_s")) : -1;
    }
  } else {
    out->kind = "session";
    rc = from_totals(report, out);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(report, "tasks"), i, t) {
      const char *name = json_string_value(json_object_get(t, "name"));
      cg_group *g = rc == 0 && name ? add_group(out, name) : NULL;
      rc = g ? add_value(g, num(t, "energy_j"), num(t, "duration_s")) : -1;
    }
    if (rc == 0) {
      rc = from_task_groups(report, out);
    }
  }
  if (rc == 0) {
    json_t *meta = json_object_get(report, "meta");
    const char *src = json_string_value(json_object_get(meta, "energy_source"));
    const char *q = json_string_value(json_object_get(meta, "measurement_quality"));
    snprintf(out->source, sizeof out->source, "%s", src ? src : "?");
    snprintf(out->quality, sizeof out->quality, "%s", q ? q : "?");
  }
  if (rc != 0) {
    cg_groups_free(out);
  }
  return rc;
}

void cg_groups_free(cg_groups *gs) {
  for (size_t i = 0; i < gs->n; i++) {
    free(gs->g[i].name);
    free(gs->g[i].energy_j);
    free(gs->g[i].duration_s);
  }
  free(gs->g);
  *gs = (cg_groups){0};
}

const cg_group *cg_groups_find(const cg_groups *gs, const char *name) {
  for (size_t i = 0; i < gs->n; i++) {
    if (strcmp(gs->g[i].name, name) == 0) {
      return &gs->g[i];
    }
  }
  return NULL;
}

bool cg_group_partial(const cg_group *g) {
  return g->count > g->n;
}

/* The mean of all instances in place of the detailed ones' (std, min and max stay the detailed
 * instances': the mean is what is compared). */
static void all_instances(nemb_stats *st, size_t count, double sum) {
  st->n = st->n_used = count;
  st->n_outliers = 0;
  st->mean = st->median = sum / (double)count;
  st->ci95_low = st->ci95_high = st->mean;
}

int cg_group_stats(const cg_group *g, nemb_stats *energy, nemb_stats *duration) {
  if (g->n == 0 || nemb_stats_compute(g->energy_j, g->n, 1, energy, NULL) != 0 ||
      nemb_stats_compute(g->duration_s, g->n, 1, duration, NULL) != 0) {
    return -1;
  }
  if (cg_group_partial(g)) {
    all_instances(energy, g->count, g->energy_sum_j);
    all_instances(duration, g->count, g->duration_sum_s);
  }
  return 0;
}

bool cg_groups_measured(const cg_groups *gs) {
  return strcmp(gs->source, "none") != 0 && strcmp(gs->quality, "no_backend") != 0;
}

int cg_groups_incomparable(const cg_groups *a, const char *a_path, const cg_groups *b,
                           const char *b_path, char *why, size_t len) {
  const cg_groups *side[2] = {a, b};
  const char *path[2] = {a_path, b_path};
  for (int k = 0; k < 2; k++) {
    if (!cg_groups_measured(side[k])) {
      snprintf(why, len,
               "%s (%s) was not measured (energy_source %s, measurement_quality %s: no energy "
               "backend opened, its energies are zeros)",
               k ? "B" : "A", path[k], side[k]->source, side[k]->quality);
      return 1;
    }
  }
  if (strcmp(a->source, b->source) != 0) {
    snprintf(why, len,
             "A (%s) is %s and B (%s) is %s: the energies come from different sources (an "
             "estimate never passes for a measurement, nor a simulation)",
             a_path, a->source, b_path, b->source);
    return 1;
  }
  return 0;
}

int cg_compare(const nemb_stats *a, const nemb_stats *b, bool test, nemb_comparison *c) {
  if (nemb_stats_compare(a, b, 0.05, c) != 0) {
    return -1;
  }
  if (!test) {
    c->t = c->df = c->p_value = NAN;
    c->significant = -1;
  }
  return 0;
}

int cg_regressed(const nemb_stats *a, const nemb_stats *b, bool test, double pct,
                 nemb_comparison *c) {
  if (cg_compare(a, b, test, c) != 0) {
    return 0;
  }
  bool grew = isfinite(c->diff_percent) ? c->diff_percent > pct : b->mean > a->mean;
  return grew && c->significant != 0;
}

void cg_significance_words(const nemb_comparison *c, const char *untested, char *buf, size_t len) {
  if (c->significant < 0 && untested != NULL) {
    snprintf(buf, len, "not tested (%s)", untested);
  } else if (c->significant < 0) {
    snprintf(buf, len, "not tested (fewer than 2 runs on a side)");
  } else {
    snprintf(buf, len, "%s (p = %.2g, Welch's t-test)",
             c->significant ? "significant" : "not significant", c->p_value);
  }
}
