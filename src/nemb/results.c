/*
 * results.c - an ended session's figures as numbers (nemb_session_task_info() and friends), for C
 * programs that should not have to parse the JSON report.
 *
 * The figures are the report's own: the table holds the report's model
 * (nemb__report_model_build(), report.h), the one computation of every task's energy and of the
 * totals that the JSON and CSV reports write, so the rules for unions of overlapping tasks and
 * for gaps stay in report.c alone and nothing is parsed back from the report's text.
 *
 * The table is built on the first query after the end, under the session's threads_lock (the end
 * has finished with it by then), and kept until nemb_session_destroy(); later queries only read.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "energy.h"
#include "report.h"

struct nemb__results {
  nemb__report_model md; /* tasks in start order, their energies, the totals */
  size_t n, nd;          /* tasks; domains */
  size_t *parent;        /* n: index of the enclosing task, or NEMB_NO_PARENT */
  nemb_totals_info totals;
};

void nemb__results_free(nemb_session *s) {
  nemb__results *r = s->results;
  if (r == NULL) {
    return;
  }
  nemb__report_model_release(&r->md);
  free(r->parent);
  free(r);
  s->results = NULL;
}

static uint64_t to_uj(double uj) {
  return uj > 0 ? (uint64_t)llround(uj) : 0;
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
    const nemb__task_rec *t = &r->md.tasks[i];
    size_t *row = last + (size_t)(t->thread < n_threads ? t->thread : 0) * per;
    size_t p = t->depth > 0 ? row[t->depth - 1] : NEMB_NO_PARENT;
    if (p != NEMB_NO_PARENT && t->parent != NULL && strcmp(r->md.tasks[p].name, t->parent) != 0) {
      /* Tasks of nemb_task_open() interleave in a thread, so the latest one at that depth may
       * be another's: the latest before it with the parent's name. */
      for (size_t j = p; j-- > 0;) {
        const nemb__task_rec *c = &r->md.tasks[j];
        if (c->thread == t->thread && c->depth + 1 == t->depth && strcmp(c->name, t->parent) == 0) {
          p = j;
          break;
        }
      }
    }
    r->parent[i] = p;
    if (t->depth < per) {
      row[t->depth] = i;
    }
  }
  free(last);
  return 0;
}

static int build(const nemb_session *s, nemb__results *r) {
  int rc = nemb__report_model_build(s, false, &r->md);
  if (rc != 0) {
    return rc;
  }
  r->n = r->md.n;
  r->nd = r->md.nd;
  r->parent = malloc((r->n ? r->n : 1) * sizeof *r->parent);
  if (r->parent == NULL) {
    return NEMB_ENOMEM;
  }
  rc = link_parents(r, s->n_threads);
  if (rc != 0) {
    return rc;
  }
  const nemb__report_totals *m = &r->md.totals;
  nemb_totals_info *t = &r->totals;
  t->energy_uj = to_uj(m->energy_uj);
  t->session_energy_uj = to_uj(m->session_energy_uj);
  t->gap_energy_uj = to_uj(m->session_energy_uj - m->union_energy_uj);
  t->task_duration_ns = m->task_ns;
  t->wall_duration_ns = m->wall_ns;
  t->gap_duration_ns = m->wall_ns > m->union_ns ? m->wall_ns - m->union_ns : 0;
  t->n_tasks = r->n;
  t->n_top_level_tasks = m->n_top;
  t->carbon_intensity_g_per_kwh = s->carbon_g_per_kwh;
  t->co2e_g = nemb__co2e_g(m->energy_uj / 1e6, s->carbon_g_per_kwh);
  t->session_co2e_g = nemb__co2e_g(m->session_energy_uj / 1e6, s->carbon_g_per_kwh);
  return 0;
}

/* The table, built on first use. NULL with *rc set before the end or on failure. */
static const nemb__results *results(const nemb_session *s, int *rc) {
  *rc = 0;
  if (s == NULL || !atomic_load(&s->report_ready)) {
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
  if (out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_session_task_info: out is NULL");
  }
  int rc;
  const nemb__results *r = results(s, &rc);
  if (r == NULL) {
    return rc;
  }
  if (out == NULL || index >= r->n) {
    return nemb__fail(out ? NEMB_ERANGE : NEMB_EINVAL, "task %zu does not exist (%zu tasks)", index,
                      r->n);
  }
  const nemb__task_rec *t = &r->md.tasks[index];
  *out = (nemb_task_info){
      .name = t->name,
      .parent = t->parent,
      .parent_index = r->parent[index],
      .depth = t->depth,
      .thread = t->thread,
      .energy_uj = to_uj(r->md.energy_uj[index]),
      .duration_ns = t->t_end - t->t_start,
      .started_at_ns = t->t_start,
      .ended_at_ns = t->t_end,
      .closed_at_end = t->closed_at_end,
      .co2e_g = nemb__co2e_g(r->md.energy_uj[index] / 1e6, s->carbon_g_per_kwh),
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
  if (energy_uj == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_session_task_domain_energy: energy_uj is NULL");
  }
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
  *energy_uj = to_uj(r->md.dom_uj[index * r->nd + domain]);
  return 0;
}

int nemb_session_totals(const nemb_session *s, nemb_totals_info *out) {
  nemb__clear_error();
  if (out == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_session_totals: out is NULL");
  }
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
  if (energy_uj == NULL) {
    return nemb__fail(NEMB_EINVAL, "nemb_session_total_domain_energy: energy_uj is NULL");
  }
  int rc;
  const nemb__results *r = results(s, &rc);
  if (r == NULL) {
    return rc;
  }
  if (energy_uj == NULL || domain >= r->nd) {
    return nemb__fail(energy_uj ? NEMB_ERANGE : NEMB_EINVAL,
                      "domain %zu does not exist (%zu domains)", domain, r->nd);
  }
  *energy_uj = to_uj(r->md.totals.dom_uj[domain]);
  return 0;
}
