/*
 * task_groups.c - tasks grouped by (name, parent, depth) with an open-addressing hash table
 * over the strings' contents (names are pooled per thread, so equal names from two threads are
 * different pointers).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "task_groups.h"

/* FNV-1a over name, a separator, parent and depth. */
static uint64_t key_hash(const nemb__task_rec *t) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = t->name; *p; p++) {
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  }
  h = (h ^ 0xff) * 1099511628211ull;
  for (const char *p = t->parent ? t->parent : ""; *p; p++) {
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  }
  return (h ^ t->depth) * 1099511628211ull;
}

static bool same_key(const nemb__task_group *g, const nemb__task_rec *t) {
  const char *gp = g->parent ? g->parent : "", *tp = t->parent ? t->parent : "";
  return g->depth == t->depth && strcmp(g->name, t->name) == 0 && strcmp(gp, tp) == 0;
}

int nemb__task_groups_build(const nemb__task_rec *tasks, const double *energy_uj, size_t n,
                            uint64_t detail_limit, nemb__task_groups *out) {
  *out = (nemb__task_groups){0};
  size_t slots = 16;
  while (slots < 2 * n) {
    slots *= 2;
  }
  size_t *table = malloc(slots * sizeof *table); /* group index + 1; 0 = empty */
  size_t cap = 16;
  out->g = malloc(cap * sizeof *out->g);
  out->detailed = calloc(n ? n : 1, sizeof *out->detailed);
  if (table == NULL || out->g == NULL || out->detailed == NULL) {
    free(table);
    nemb__task_groups_release(out);
    return NEMB_ENOMEM;
  }
  memset(table, 0, slots * sizeof *table);
  for (size_t i = 0; i < n; i++) {
    const nemb__task_rec *t = &tasks[i];
    size_t s = (size_t)key_hash(t) & (slots - 1);
    while (table[s] != 0 && !same_key(&out->g[table[s] - 1], t)) {
      s = (s + 1) & (slots - 1);
    }
    double e = energy_uj[i];
    uint64_t d = t->t_end - t->t_start;
    if (table[s] == 0) {
      if (out->n == cap) {
        nemb__task_group *grown = realloc(out->g, 2 * cap * sizeof *grown);
        if (grown == NULL) {
          free(table);
          nemb__task_groups_release(out);
          return NEMB_ENOMEM;
        }
        out->g = grown;
        cap *= 2;
      }
      out->g[out->n] = (nemb__task_group){.name = t->name,
                                          .parent = t->parent,
                                          .depth = t->depth,
                                          .energy_min_uj = e,
                                          .energy_max_uj = e,
                                          .duration_min_ns = d,
                                          .duration_max_ns = d};
      table[s] = ++out->n;
    }
    nemb__task_group *g = &out->g[table[s] - 1];
    g->count++;
    g->energy_sum_uj += e;
    g->energy_min_uj = e < g->energy_min_uj ? e : g->energy_min_uj;
    g->energy_max_uj = e > g->energy_max_uj ? e : g->energy_max_uj;
    g->duration_sum_ns += d;
    g->duration_min_ns = d < g->duration_min_ns ? d : g->duration_min_ns;
    g->duration_max_ns = d > g->duration_max_ns ? d : g->duration_max_ns;
    if (g->detailed < detail_limit) {
      g->detailed++;
      out->detailed[i] = true;
      out->n_detailed++;
    }
  }
  free(table);
  return 0;
}

void nemb__task_groups_release(nemb__task_groups *gs) {
  free(gs->g);
  free(gs->detailed);
  *gs = (nemb__task_groups){0};
}
