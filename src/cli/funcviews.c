/*
 * funcviews.c - see funcviews.h.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "funcviews.h"
#include "outputs.h"

/* ----- sorting ----- */

static const struct {
  const char *key, *field;
} sort_keys[] = {{"energy", "energy_j"}, {"self-energy", "self_energy_j"},
                 {"time", "duration_s"}, {"self-time", "self_duration_s"},
                 {"calls", "calls"},     {"power", "avg_power_w"},
                 {"name", "name"}};

static const char *sort_field;

static int cmp_functions(const void *a, const void *b) {
  json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  json_t *vx = json_object_get(x, sort_field), *vy = json_object_get(y, sort_field);
  if (json_is_string(vx) || json_is_string(vy)) {
    return strcmp(json_string_value(vx) ? json_string_value(vx) : "",
                  json_string_value(vy) ? json_string_value(vy) : "");
  }
  double dx = json_number_value(vx), dy = json_number_value(vy);
  return (dx < dy) - (dx > dy); /* largest first */
}

bool cg_sort_key_valid(const char *key) {
  for (size_t i = 0; i < sizeof sort_keys / sizeof sort_keys[0]; i++) {
    if (strcmp(key, sort_keys[i].key) == 0) {
      return true;
    }
  }
  return false;
}

int cg_sort_functions(json_t *report, const char *key) {
  sort_field = NULL;
  for (size_t i = 0; i < sizeof sort_keys / sizeof sort_keys[0]; i++) {
    if (strcmp(key, sort_keys[i].key) == 0) {
      sort_field = sort_keys[i].field;
    }
  }
  json_t *funcs = json_object_get(report, "functions");
  size_t n = json_array_size(funcs);
  if (sort_field == NULL) {
    return -1;
  }
  json_t **v = malloc((n ? n : 1) * sizeof *v);
  if (v == NULL) {
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    v[i] = json_incref(json_array_get(funcs, i));
  }
  /* qsort is not stable: ties keep the library's order (by energy) through the index. */
  for (size_t i = 1; i < n; i++) {
    for (size_t j = i; j > 0 && cmp_functions(&v[j - 1], &v[j]) > 0; j--) {
      json_t *t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  }
  json_array_clear(funcs);
  for (size_t i = 0; i < n; i++) {
    json_array_append_new(funcs, v[i]);
  }
  free(v);
  return 0;
}

/* ----- replaying the records ----- */

typedef struct frame {
  size_t func;
  uint64_t inv, t0;
  double e0, child_e;
  size_t span; /* index into spans */
} frame;

typedef struct stack {
  frame *f;
  size_t n, cap;
  uint64_t last_t;
  double last_e;
  char label[48]; /* the thread as the folded views name it: "T", or "pid P thread T" */
} stack;

typedef struct span {
  size_t func, parent_func; /* parent SIZE_MAX: the root */
  uint32_t depth, thread;
  uint64_t t0, t1;
  double energy_j;
} span;

typedef struct edge {
  size_t caller, callee; /* caller SIZE_MAX: the root */
  uint64_t calls;
  double energy_j, duration_s;
} edge;

struct cg_views {
  char **names;
  char **contexts;
  size_t n_funcs;
  json_t *func_index; /* "name\x1fcontext" -> index */
  stack *stacks;      /* per thread of each process */
  size_t n_threads;
  json_t *stack_index; /* "pid:thread" -> index into stacks (pid 0: the report's own) */
  span *spans;
  size_t n_spans, cap_spans;
  edge *edges;
  size_t n_edges, cap_edges;
  json_t *edge_index; /* "caller callee" -> index */
  json_t *folded;     /* thread -> {path -> uJ} */
  bool complete;
  bool oom;
};

static size_t func_id(cg_views *v, const char *name, const char *context) {
  char *key = NULL;
  if (asprintf(&key, "%s\x1f%s", name, context ? context : "") < 0) {
    v->oom = true;
    return 0;
  }
  json_t *idx = json_object_get(v->func_index, key);
  if (idx != NULL) {
    free(key);
    return (size_t)json_integer_value(idx);
  }
  char **n = realloc(v->names, (v->n_funcs + 1) * sizeof *n);
  char **c = n ? realloc(v->contexts, (v->n_funcs + 1) * sizeof *c) : NULL;
  if (n) {
    v->names = n;
  }
  if (c == NULL) {
    v->oom = true;
    free(key);
    return 0;
  }
  v->contexts = c;
  v->names[v->n_funcs] = strdup(name);
  v->contexts[v->n_funcs] = context ? strdup(context) : NULL;
  json_object_set_new(v->func_index, key, json_integer((json_int_t)v->n_funcs));
  free(key);
  return v->n_funcs++;
}

/* The stack of thread @p thread of process @p pid (0: a record without one, the report's own
 * process), its index into *@p index. A merged report (measure's child processes) holds records
 * of several processes whose thread numbers repeat. */
static stack *thread_stack(cg_views *v, json_int_t pid, json_int_t thread, size_t *index) {
  char key[48];
  snprintf(key, sizeof key, "%lld:%lld", (long long)pid, (long long)thread);
  json_t *idx = json_object_get(v->stack_index, key);
  if (idx != NULL) {
    *index = (size_t)json_integer_value(idx);
    return &v->stacks[*index];
  }
  stack *s = realloc(v->stacks, (v->n_threads + 1) * sizeof *s);
  if (s == NULL) {
    v->oom = true;
    return NULL;
  }
  v->stacks = s;
  s = &v->stacks[v->n_threads];
  memset(s, 0, sizeof *s);
  if (pid != 0) {
    snprintf(s->label, sizeof s->label, "pid %lld thread %lld", (long long)pid, (long long)thread);
  } else {
    snprintf(s->label, sizeof s->label, "%lld", (long long)thread);
  }
  json_object_set_new(v->stack_index, key, json_integer((json_int_t)v->n_threads));
  *index = v->n_threads;
  return &v->stacks[v->n_threads++];
}

static void add_edge(cg_views *v, size_t caller, size_t callee, double e, double secs) {
  char key[64];
  snprintf(key, sizeof key, "%zu %zu", caller, callee);
  json_t *idx = json_object_get(v->edge_index, key);
  edge *ed;
  if (idx != NULL) {
    ed = &v->edges[json_integer_value(idx)];
  } else {
    if (v->n_edges == v->cap_edges) {
      size_t cap = v->cap_edges ? 2 * v->cap_edges : 64;
      edge *n = realloc(v->edges, cap * sizeof *n);
      if (n == NULL) {
        v->oom = true;
        return;
      }
      v->edges = n;
      v->cap_edges = cap;
    }
    json_object_set_new(v->edge_index, key, json_integer((json_int_t)v->n_edges));
    ed = &v->edges[v->n_edges++];
    *ed = (edge){caller, callee, 0, 0, 0};
  }
  ed->calls++;
  ed->energy_j += e;
  ed->duration_s += secs;
}

/* The stack's path down to frame @p top (inclusive) as function ids, "3;0;7": names are given at
 * writing (folded_name()), once every function is known. */
static char *path_of(const stack *s, size_t top) {
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&buf, &len);
  if (fp == NULL) {
    return NULL;
  }
  for (size_t i = 0; i <= top; i++) {
    fprintf(fp, "%s%zu", i ? ";" : "", s->f[i].func);
  }
  fclose(fp);
  return buf;
}

/* Closes the top frame of @p s at (@p t, @p e). */
static void close_top(cg_views *v, stack *s, uint64_t t, double e) {
  size_t top = s->n - 1;
  frame *f = &s->f[top];
  double incl = e - f->e0, self = incl - f->child_e;
  double secs = t > f->t0 ? (double)(t - f->t0) / 1e9 : 0;
  size_t parent = top > 0 ? s->f[top - 1].func : SIZE_MAX;
  add_edge(v, parent, f->func, incl, secs);
  if (top > 0) {
    s->f[top - 1].child_e += incl;
  }
  char *path = path_of(s, top);
  json_t *tmap = json_object_get(v->folded, s->label);
  if (tmap == NULL) {
    tmap = json_object();
    json_object_set_new(v->folded, s->label, tmap);
  }
  if (path != NULL) {
    double uj = json_number_value(json_object_get(tmap, path)) + (self > 0 ? self * 1e6 : 0);
    json_object_set_new(tmap, path, json_real(uj));
    free(path);
  } else {
    v->oom = true;
  }
  span *sp = &v->spans[f->span];
  sp->t1 = t;
  sp->energy_j = incl;
  s->n--;
}

cg_views *cg_views_build(json_t *report) {
  cg_views *v = calloc(1, sizeof *v);
  if (v == NULL) {
    return NULL;
  }
  v->func_index = json_object();
  v->edge_index = json_object();
  v->folded = json_object();
  v->stack_index = json_object();
  json_t *cps = json_object_get(report, "checkpoints");
  v->complete = json_integer_value(json_object_get(cps, "details_dropped")) == 0;
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(cps, "measurements"), i, m) {
    const char *name = json_string_value(json_object_get(m, "name"));
    const char *type = json_string_value(json_object_get(m, "type"));
    if (name == NULL || type == NULL) {
      v->complete = false; /* a report of an earlier version: no fields to replay */
      continue;
    }
    size_t func = func_id(v, name, json_string_value(json_object_get(m, "context")));
    size_t thread = 0;
    uint64_t inv = (uint64_t)json_integer_value(json_object_get(m, "invocation"));
    uint64_t t = (uint64_t)json_integer_value(json_object_get(m, "timestamp"));
    double e = json_number_value(json_object_get(m, "joules"));
    stack *s = thread_stack(v, json_integer_value(json_object_get(m, "pid")),
                            json_integer_value(json_object_get(m, "thread")), &thread);
    if (v->oom || s == NULL) {
      break;
    }
    s->last_t = t;
    s->last_e = e;
    if (strcmp(type, "enter") == 0) {
      if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        frame *f = realloc(s->f, cap * sizeof *f);
        if (f == NULL) {
          v->oom = true;
          break;
        }
        s->f = f;
        s->cap = cap;
      }
      if (v->n_spans == v->cap_spans) {
        size_t cap = v->cap_spans ? 2 * v->cap_spans : 256;
        span *sp = realloc(v->spans, cap * sizeof *sp);
        if (sp == NULL) {
          v->oom = true;
          break;
        }
        v->spans = sp;
        v->cap_spans = cap;
      }
      v->spans[v->n_spans] = (span){
          func, s->n ? s->f[s->n - 1].func : SIZE_MAX, (uint32_t)s->n + 1, (uint32_t)thread, t, t,
          0};
      s->f[s->n++] = (frame){func, inv, t, e, 0, v->n_spans++};
      continue;
    }
    /* An exit closes its own frame; frames left above it (an exception) end with it. */
    size_t k = s->n;
    while (k > 0 && !(s->f[k - 1].func == func && s->f[k - 1].inv == inv)) {
      k--;
    }
    if (k == 0) {
      continue;
    }
    while (s->n >= k) {
      close_top(v, s, t, e);
    }
  }
  /* Frames still open (os._exit, a thread still running): closed at their thread's last
   * record. */
  for (size_t th = 0; th < v->n_threads; th++) {
    stack *s = &v->stacks[th];
    if (s->n > 0) {
      v->complete = false;
    }
    while (s->n > 0) {
      close_top(v, s, s->last_t, s->last_e);
    }
  }
  return v;
}

void cg_views_free(cg_views *v) {
  if (v == NULL) {
    return;
  }
  for (size_t i = 0; i < v->n_funcs; i++) {
    free(v->names[i]);
    free(v->contexts[i]);
  }
  for (size_t i = 0; i < v->n_threads; i++) {
    free(v->stacks[i].f);
  }
  free(v->names);
  free(v->contexts);
  free(v->stacks);
  free(v->spans);
  free(v->edges);
  json_decref(v->func_index);
  json_decref(v->edge_index);
  json_decref(v->folded);
  json_decref(v->stack_index);
  free(v);
}

bool cg_views_complete(const cg_views *v) {
  return v->complete && !v->oom;
}

static const char *fname(const cg_views *v, size_t f) {
  return f == SIZE_MAX ? "<root>" : v->names[f];
}

json_t *cg_views_call_graph(const cg_views *v) {
  json_t *edges = json_array();
  for (size_t i = 0; i < v->n_edges; i++) {
    const edge *e = &v->edges[i];
    json_array_append_new(edges,
                          json_pack("{s:s, s:s, s:I, s:f, s:f}", "caller", fname(v, e->caller),
                                    "callee", fname(v, e->callee), "calls", (json_int_t)e->calls,
                                    "energy_j", e->energy_j, "duration_s", e->duration_s));
  }
  return json_pack("{s:o, s:b, s:s}", "edges", edges, "complete", cg_views_complete(v), "source",
                   "checkpoints.measurements replayed per thread; energy_j along an edge is the "
                   "inclusive energy of the callee's invocations made from the caller");
}

static int cmp_edge_energy(const void *a, const void *b) {
  const edge *x = *(const edge *const *)a, *y = *(const edge *const *)b;
  return (x->energy_j < y->energy_j) - (x->energy_j > y->energy_j);
}

void cg_views_print_edges(const cg_views *v, const char *name, FILE *fp) {
  const edge **list = malloc((v->n_edges ? v->n_edges : 1) * sizeof *list);
  if (list == NULL) {
    return;
  }
  for (int side = 0; side < 2; side++) {
    size_t n = 0;
    for (size_t i = 0; i < v->n_edges; i++) {
      const edge *e = &v->edges[i];
      size_t me = side == 0 ? e->callee : e->caller;
      if (me != SIZE_MAX && strcmp(v->names[me], name) == 0) {
        list[n++] = e;
      }
    }
    if (n == 0) {
      continue;
    }
    qsort(list, n, sizeof *list, cmp_edge_energy);
    fprintf(fp, "      %s ", side == 0 ? "called by:" : "calls:    ");
    for (size_t i = 0; i < n && i < 6; i++) {
      fprintf(fp, "%s%s %llux %.4f J", i ? ", " : "",
              fname(v, side == 0 ? list[i]->caller : list[i]->callee),
              (unsigned long long)list[i]->calls, list[i]->energy_j);
    }
    fprintf(fp, "%s\n", n > 6 ? ", ..." : "");
  }
  free(list);
}

/* Function @p f's frame in the folded stacks: its name, and its file after it, "<module>
 * (pkg/util.py)", when another function has the same name (module bodies, same-named methods),
 * so a flame graph does not merge them. ';' separates frames and the last ' ' the weight: a ';'
 * in a name becomes ':'. @p counts: name -> how many functions have it. */
static void put_frame(const cg_views *v, size_t f, json_t *counts, FILE *fp) {
  for (const char *c = v->names[f]; *c; c++) {
    fputc(*c == ';' ? ':' : *c, fp);
  }
  if (json_integer_value(json_object_get(counts, v->names[f])) > 1 && v->contexts[f] != NULL) {
    fputs(" (", fp);
    for (const char *c = v->contexts[f]; *c; c++) {
      fputc(*c == ';' ? ':' : *c, fp);
    }
    fputc(')', fp);
  }
}

int cg_views_write_folded(const cg_views *v, const char *path) {
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream(&buf, &len);
  if (fp == NULL) {
    fprintf(stderr, "codegreen measure: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  /* Threads are merged: the same stack in two threads is one line, as flamegraph tools expect. */
  json_t *all = json_object();
  const char *th, *p;
  json_t *tmap, *uj;
  json_object_foreach(v->folded, th, tmap) {
    json_object_foreach(tmap, p, uj) {
      double sum = json_number_value(json_object_get(all, p)) + json_number_value(uj);
      json_object_set_new(all, p, json_real(sum));
    }
  }
  json_t *counts = json_object();
  for (size_t f = 0; f < v->n_funcs; f++) {
    json_int_t n = json_integer_value(json_object_get(counts, v->names[f]));
    json_object_set_new(counts, v->names[f], json_integer(n + 1));
  }
  json_object_foreach(all, p, uj) {
    long long w = llround(json_number_value(uj));
    if (w <= 0) {
      continue;
    }
    for (const char *id = p; *id != '\0';) {
      char *end;
      put_frame(v, (size_t)strtoull(id, &end, 10), counts, fp);
      id = *end == ';' ? end + 1 : end;
      fputc(*id != '\0' ? ';' : ' ', fp);
    }
    fprintf(fp, "%lld\n", w);
  }
  json_decref(counts);
  json_decref(all);
  if (fclose(fp) != 0) {
    free(buf);
    fprintf(stderr, "codegreen measure: cannot write %s: out of memory\n", path);
    return -1;
  }
  int rc = cg_write_file("measure", path, buf, len);
  free(buf);
  return rc;
}

int cg_views_write_speedscope(const cg_views *v, const char *title, const char *path) {
  /* names, files and the title are bytes, maybe not UTF-8: U+FFFD per byte, as in every report */
  json_t *frames = json_array();
  for (size_t f = 0; f < v->n_funcs; f++) {
    json_t *fr = json_pack("{s:o}", "name", cg_json_text(v->names[f]));
    if (fr != NULL && v->contexts[f] != NULL) {
      json_object_set_new(fr, "file", cg_json_text(v->contexts[f]));
    }
    json_array_append_new(frames, fr);
  }
  json_t *profiles = json_array();
  const char *th, *p;
  json_t *tmap, *uj;
  json_object_foreach(v->folded, th, tmap) {
    json_t *samples = json_array(), *weights = json_array();
    double total = 0;
    json_object_foreach(tmap, p, uj) {
      double w = json_number_value(uj);
      if (w <= 0) {
        continue;
      }
      json_t *stackv = json_array();
      /* the path's frames are the frames' indices already */
      for (const char *id = p; *id != '\0';) {
        char *end;
        json_array_append_new(stackv, json_integer((json_int_t)strtoull(id, &end, 10)));
        id = *end == ';' ? end + 1 : end;
      }
      json_array_append_new(samples, stackv);
      json_array_append_new(weights, json_real(w));
      total += w;
    }
    char name[64];
    snprintf(name, sizeof name, "energy, thread %s (microjoules)", th);
    json_array_append_new(profiles,
                          json_pack("{s:s, s:s, s:s, s:i, s:f, s:o, s:o}", "type", "sampled",
                                    "name", name, "unit", "none", "startValue", 0, "endValue",
                                    total, "samples", samples, "weights", weights));
  }
  json_t *doc =
      json_pack("{s:s, s:{s:o}, s:o, s:o, s:s}", "$schema",
                "https://www.speedscope.app/file-format-schema.json", "shared", "frames", frames,
                "profiles", profiles, "name", cg_json_text(title), "exporter", "codegreen measure");
  int rc = cg_write_json("measure", doc, path, NULL);
  json_decref(doc);
  return rc;
}

static int cmp_span_len(const void *a, const void *b) {
  const span *x = *(const span *const *)a, *y = *(const span *const *)b;
  uint64_t lx = x->t1 - x->t0, ly = y->t1 - y->t0;
  return (lx < ly) - (lx > ly);
}

json_t *cg_views_spans(const cg_views *v, const char *root, uint64_t min_ns, size_t max) {
  json_t *out = json_array();
  const span **list = malloc((v->n_spans ? v->n_spans : 1) * sizeof *list);
  if (list == NULL) {
    return out;
  }
  size_t n = 0;
  for (size_t i = 0; i < v->n_spans; i++) {
    if (v->spans[i].t1 - v->spans[i].t0 >= min_ns) {
      list[n++] = &v->spans[i];
    }
  }
  qsort(list, n, sizeof *list, cmp_span_len);
  for (size_t i = 0; i < n && i < max; i++) {
    const span *s = list[i];
    json_t *t = json_pack(
        "{s:s, s:i, s:s, s:I, s:I, s:f, s:f, s:n}", "name", v->names[s->func], "depth",
        (int)s->depth, "parent", s->parent_func == SIZE_MAX ? root : v->names[s->parent_func],
        "started_at_mono_ns", (json_int_t)s->t0, "ended_at_mono_ns", (json_int_t)s->t1, "energy_j",
        s->energy_j, "duration_s", (double)(s->t1 - s->t0) / 1e9, "timeseries");
    json_array_append_new(out, t);
  }
  free(list);
  return out;
}
