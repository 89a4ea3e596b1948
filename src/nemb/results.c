/*
 * results.c - an ended session's figures as numbers (nemb_session_task_info() and friends), for C
 * programs that should not have to parse the JSON report.
 *
 * The figures are the report's own. Task energies come from nemb__energy_span(), the one place
 * the report, the plot and the checkpoints take span energies from, and the totals are read
 * back from the report's "totals" object, so the rules for unions of overlapping tasks and for
 * gaps stay in report.c alone.
 *
 * The table is built on the first query after the end, under the session's threads_lock (the end
 * has finished with it by then), and kept until nemb_session_destroy(); later queries only read.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "energy.h"
#include "report.h"

struct nemb__results {
  size_t n;              /* tasks */
  size_t nd;             /* domains */
  nemb__task_rec *tasks; /* start order */
  size_t *parent;        /* n: index of the enclosing task, or NEMB_NO_PARENT */
  double *energy_uj;     /* n: in-total energy */
  double *dom_uj;        /* n x nd */
  double *total_dom_uj;  /* nd: the totals' "domains" */
  nemb_totals_info totals;
};

void nemb__results_free(nemb_session *s) {
  nemb__results *r = s->results;
  if (r == NULL) {
    return;
  }
  free(r->tasks);
  free(r->parent);
  free(r->energy_uj);
  free(r->dom_uj);
  free(r->total_dom_uj);
  free(r);
  s->results = NULL;
}

static uint64_t to_uj(double uj) {
  return uj > 0 ? (uint64_t)llround(uj) : 0;
}

static uint64_t json_j_to_uj(json_t *obj, const char *key) {
  return to_uj(json_number_value(json_object_get(obj, key)) * 1e6);
}

static uint64_t json_s_to_ns(json_t *obj, const char *key) {
  return to_uj(json_number_value(json_object_get(obj, key)) * 1e9);
}

/* The report's "totals" object. The report is written with a fixed layout (report.c): top-level
 * keys sit on their own line, indented by two spaces, and no string can hold a raw line break,
 * so the key is found without parsing the tasks (which may carry millions of samples). */
static json_t *report_totals(const char *report) {
  const char *key = "\n  \"totals\": ";
  const char *p = strstr(report, key);
  json_error_t err;
  if (p != NULL) {
    p += strlen(key);
    return json_loadb(p, strlen(p), JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &err);
  }
  json_t *all = json_loads(report, 0, &err);
  json_t *totals = json_incref(json_object_get(all, "totals"));
  json_decref(all);
  return totals;
}

/* Index of each task's parent: tasks come in start order, and within a thread the parent of a
 * task at depth d is the latest task started before it at depth d - 1. */
static int link_parents(nemb__results *r, uint32_t n_threads) {
  size_t per = NEMB__MAX_DEPTH;
  size_t *last = malloc((n_threads ? n_threads : 1) * per * sizeof *last);
  if (last == NULL) {
    return NEMB_ENOMEM;
  }
  for (size_t i = 0; i < (size_t)(n_threads ? n_threads : 1) * per; i++) {
    last[i] = NEMB_NO_PARENT;
  }
  for (size_t i = 0; i < r->n; i++) {
    const nemb__task_rec *t = &r->tasks[i];
    size_t *row = last + (size_t)(t->thread < n_threads ? t->thread : 0) * per;
    r->parent[i] = t->depth > 0 ? row[t->depth - 1] : NEMB_NO_PARENT;
    if (t->depth < per) {
      row[t->depth] = i;
    }
  }
  free(last);
  return 0;
}

static int build(const nemb_session *s, nemb__results *r) {
  int rc = nemb__session_tasks(s, &r->tasks, &r->n);
  if (rc != 0) {
    return rc;
  }
  const nemb_meter *m = s->meter;
  size_t count = 0;
  if (m != NULL) {
    r->nd = nemb_meter_domain_count(m);
    count = nemb_meter_sample_count(m);
  }
  size_t n = r->n ? r->n : 1, nd = r->nd ? r->nd : 1;
  r->parent = malloc(n * sizeof *r->parent);
  r->energy_uj = calloc(n, sizeof *r->energy_uj);
  r->dom_uj = calloc(n * nd, sizeof *r->dom_uj);
  r->total_dom_uj = calloc(nd, sizeof *r->total_dom_uj);
  if (r->parent == NULL || r->energy_uj == NULL || r->dom_uj == NULL || r->total_dom_uj == NULL) {
    return NEMB_ENOMEM;
  }
  rc = link_parents(r, s->n_threads);
  if (rc != 0) {
    return rc;
  }
  if (m != NULL) {
    size_t hint = 0; /* tasks come in start order, so the hint mostly walks forward */
    for (size_t i = 0; i < r->n; i++) {
      r->energy_uj[i] = nemb__energy_span(m, count, r->tasks[i].t_start, r->tasks[i].t_end,
                                          r->dom_uj + i * r->nd, NULL, &hint);
    }
  }

  json_t *totals = report_totals(s->report_json);
  if (!json_is_object(totals)) {
    json_decref(totals);
    return NEMB_ENOMEM; /* the report is ours; only a failed allocation makes it unreadable */
  }
  nemb_totals_info *t = &r->totals;
  t->energy_uj = json_j_to_uj(totals, "energy_j");
  t->session_energy_uj = json_j_to_uj(totals, "session_energy_j");
  t->gap_energy_uj = json_j_to_uj(totals, "gap_energy_j");
  t->task_duration_ns = json_s_to_ns(totals, "task_duration_s");
  t->wall_duration_ns = json_s_to_ns(totals, "wall_duration_s");
  t->gap_duration_ns = json_s_to_ns(totals, "gap_duration_s");
  t->n_tasks = (size_t)json_integer_value(json_object_get(totals, "n_tasks"));
  t->n_top_level_tasks = (size_t)json_integer_value(json_object_get(totals, "n_top_level_tasks"));
  t->carbon_intensity_g_per_kwh = s->carbon_g_per_kwh;
  t->co2e_g = json_number_value(json_object_get(totals, "co2e_g"));
  t->session_co2e_g = json_number_value(json_object_get(totals, "session_co2e_g"));
  json_t *doms = json_object_get(totals, "domains");
  for (size_t d = 0; d < r->nd; d++) {
    nemb_domain_info info;
    if (nemb_meter_domain(m, d, &info) == 0) {
      r->total_dom_uj[d] = json_number_value(json_object_get(doms, info.name)) * 1e6;
    }
  }
  json_decref(totals);
  return 0;
}

/* The table, built on first use. NULL with *rc set before the end or on failure. */
static const nemb__results *results(const nemb_session *s, int *rc) {
  *rc = 0;
  if (s == NULL || s->report_json == NULL) {
    *rc = nemb__fail(NEMB_ESTATE, "results exist only after nemb_session_end()");
    return NULL;
  }
  nemb_session *w = (nemb_session *)s; /* the cache is not part of the session's value */
  pthread_mutex_lock(&w->threads_lock);
  if (w->results == NULL) {
    nemb__results *r = calloc(1, sizeof *r);
    if (r == NULL) {
      *rc = NEMB_ENOMEM;
    } else {
      w->results = r;
      *rc = build(s, r);
      if (*rc != 0) {
        nemb__results_free(w);
      }
    }
  }
  pthread_mutex_unlock(&w->threads_lock);
  if (*rc != 0) {
    *rc = nemb__fail(*rc, "out of memory gathering the session's results");
    return NULL;
  }
  return w->results;
}

size_t nemb_session_task_count(const nemb_session *s) {
  int rc;
  const nemb__results *r = results(s, &rc);
  return r ? r->n : 0;
}

int nemb_session_task_info(const nemb_session *s, size_t index, nemb_task_info *out) {
  nemb__clear_error();
  int rc;
  const nemb__results *r = results(s, &rc);
  if (r == NULL) {
    return rc;
  }
  if (out == NULL || index >= r->n) {
    return nemb__fail(out ? NEMB_ERANGE : NEMB_EINVAL, "task %zu does not exist (%zu tasks)", index,
                      r->n);
  }
  const nemb__task_rec *t = &r->tasks[index];
  *out = (nemb_task_info){
      .name = t->name,
      .parent = t->parent,
      .parent_index = r->parent[index],
      .depth = t->depth,
      .thread = t->thread,
      .energy_uj = to_uj(r->energy_uj[index]),
      .duration_ns = t->t_end - t->t_start,
      .started_at_ns = t->t_start,
      .ended_at_ns = t->t_end,
      .closed_at_end = t->closed_at_end,
      .co2e_g = nemb__co2e_g(r->energy_uj[index] / 1e6, s->carbon_g_per_kwh),
  };
  return 0;
}

size_t nemb_session_domain_count(const nemb_session *s) {
  return s != NULL && s->meter != NULL ? nemb_meter_domain_count(s->meter) : 0;
}

int nemb_session_domain(const nemb_session *s, size_t domain, nemb_domain_info *out) {
  nemb__clear_error();
  if (out == NULL || domain >= nemb_session_domain_count(s)) {
    return nemb__fail(out ? NEMB_ERANGE : NEMB_EINVAL, "domain %zu does not exist (%zu domains)",
                      domain, nemb_session_domain_count(s));
  }
  return nemb_meter_domain(s->meter, domain, out);
}

int nemb_session_task_domain_energy(const nemb_session *s, size_t index, size_t domain,
                                    uint64_t *energy_uj) {
  nemb__clear_error();
  int rc;
  const nemb__results *r = results(s, &rc);
  if (r == NULL) {
    return rc;
  }
  if (energy_uj == NULL || index >= r->n || domain >= r->nd) {
    return nemb__fail(energy_uj ? NEMB_ERANGE : NEMB_EINVAL,
                      "task %zu, domain %zu does not exist (%zu tasks, %zu domains)", index, domain,
                      r->n, r->nd);
  }
  *energy_uj = to_uj(r->dom_uj[index * r->nd + domain]);
  return 0;
}

int nemb_session_totals(const nemb_session *s, nemb_totals_info *out) {
  nemb__clear_error();
  int rc;
  const nemb__results *r = results(s, &rc);
  if (r == NULL) {
    return rc;
  }
  if (out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_session_totals needs somewhere to write");
  }
  *out = r->totals;
  return 0;
}

int nemb_session_total_domain_energy(const nemb_session *s, size_t domain, uint64_t *energy_uj) {
  nemb__clear_error();
  int rc;
  const nemb__results *r = results(s, &rc);
  if (r == NULL) {
    return rc;
  }
  if (energy_uj == NULL || domain >= r->nd) {
    return nemb__fail(energy_uj ? NEMB_ERANGE : NEMB_EINVAL,
                      "domain %zu does not exist (%zu domains)", domain, r->nd);
  }
  *energy_uj = to_uj(r->total_dom_uj[domain]);
  return 0;
}
