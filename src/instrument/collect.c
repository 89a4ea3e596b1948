/*
 * collect.c - the second stage: the language's query runs over the tree and its captures become
 * items (functions, classes, opaque expressions, loops, suspension points) with their innermost
 * container, their kind and their qualified name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

int cgi__node_depth(TSNode n) {
  /* Down from the root to the child holding n's first byte: ts_node_parent() walks down from the
   * root itself each time, which made this quadratic in the depth. */
  uint32_t at = ts_node_start_byte(n);
  int d = 0;
  if (ts_node_end_byte(n) > at) { /* (a node of no width is in no child "for" its byte) */
    TSTreeCursor cur = ts_tree_cursor_new(ts_tree_root_node(n.tree));
    bool found = false;
    for (;;) {
      TSNode here = ts_tree_cursor_current_node(&cur);
      if (here.id == n.id) {
        found = true;
        break;
      }
      if (ts_tree_cursor_goto_first_child_for_byte(&cur, at) < 0) {
        break;
      }
      d++;
    }
    ts_tree_cursor_delete(&cur);
    if (found) {
      return d;
    }
  }
  d = 0;
  for (TSNode p = ts_node_parent(n); !ts_node_is_null(p); p = ts_node_parent(p)) {
    d++;
  }
  return d;
}

bool cgi__is_type(const ctx *c, TSNode n, const char *key) {
  return cgi__conf_has_word(c->lang, key, ts_node_type(n));
}

/* The statements of a block: its named children that are not comments. */
uint32_t cgi__statements(const ctx *c, TSNode block, TSNode *out, uint32_t cap) {
  /* a cursor: ts_node_named_child(block, i) walks from the first child each time, which made a
   * module of 9000 functions quadratic */
  uint32_t n = 0;
  const char *comments = cgi_language_get(c->lang, "comment_types"); /* (once, not per child) */
  TSTreeCursor cur = ts_tree_cursor_new(block);
  for (bool more = ts_tree_cursor_goto_first_child(&cur); more;
       more = ts_tree_cursor_goto_next_sibling(&cur)) {
    TSNode ch = ts_tree_cursor_current_node(&cur);
    if (!ts_node_is_named(ch) || cgi__has_word(comments, ts_node_type(ch))) {
      continue;
    }
    if (out != NULL && n < cap) {
      out[n] = ch;
    }
    n++;
  }
  ts_tree_cursor_delete(&cur);
  return n;
}

static int cmp_ptr(const void *x, const void *y) {
  uintptr_t a = (uintptr_t) * (const void *const *)x, b = (uintptr_t) * (const void *const *)y;
  return (a > b) - (a < b);
}

/* Membership in a set of node ids sorted by sort_set(). */
bool cgi__in_set(const void *const *set, size_t n, const void *id) {
  return n > 0 && bsearch(&id, set, n, sizeof *set, cmp_ptr) != NULL;
}

static void sort_set(const void **set, size_t n) {
  if (n > 1) {
    qsort(set, n, sizeof *set, cmp_ptr);
  }
}

bool cgi__is_docstring(const ctx *c, TSNode stmt) {
  return cgi__in_set(c->docstrings, c->n_doc, stmt.id) &&
         !cgi__in_set(c->not_docstrings, c->n_notdoc, stmt.id);
}

static int add_item(ctx *c, item_type t, TSNode n) {
  if (!PUSH(c, c->items, c->n_items, c->cap_items)) {
    return -1;
  }
  item *it = &c->items[c->n_items];
  memset(it, 0, sizeof *it);
  it->type = t;
  it->node = n;
  it->start = ts_node_start_byte(n);
  it->end = ts_node_end_byte(n);
  it->parent = -1;
  it->region = -1;
  return (int)c->n_items++;
}

/* One match of the language's query: its captures become items, marks and node sets.
 * @return 0, or -1 when memory runs out (c->oom set). */
static int on_match(void *arg, const TSQueryMatch *match) {
  ctx *c = arg;
  const struct cgi_language *L = c->lang;
  const TSQueryMatch m = *match;
  int pass = cgi__match_passes(L, &m, c->src);
  if (pass < 0) {
    goto oom;
  }
  if (pass == 0) {
    return 0;
  }
  for (uint16_t i = 0; i < m.capture_count; i++) {
    TSNode n = m.captures[i].node;
    uint32_t cap = m.captures[i].index;
    cgi__role role = L->roles[cap];
    int idx;
    switch (role) {
    case ROLE_FUNCTION:
    case ROLE_CLASS:
      idx = add_item(c, role == ROLE_FUNCTION ? IT_FUNCTION : IT_CLASS, n);
      if (idx < 0) {
        goto oom;
      }
      for (uint16_t k = 0; k < m.capture_count; k++) {
        cgi__role r2 = L->roles[m.captures[k].index];
        if (r2 == ROLE_FUNCTION_NAME || r2 == ROLE_CLASS_NAME) {
          c->items[idx].name = m.captures[k].node;
          c->items[idx].has_name = true;
        } else if (r2 == ROLE_FUNCTION_BODY || r2 == ROLE_CLASS_BODY) {
          c->items[idx].body = m.captures[k].node;
          c->items[idx].has_body = true;
        }
      }
      break;
    case ROLE_OPAQUE:
      if (add_item(c, IT_OPAQUE, n) < 0) {
        goto oom;
      }
      break;
    case ROLE_SUSPEND:
    case ROLE_LOOP:
    case ROLE_SKIP:
      idx = add_item(c,
                     role == ROLE_SUSPEND ? IT_SUSPEND
                     : role == ROLE_LOOP  ? IT_LOOP
                                          : IT_SKIP,
                     n);
      if (idx < 0) {
        goto oom;
      }
      c->items[idx].arg = L->role_arg[cap];
      break;
    case ROLE_ASYNC:
    case ROLE_KIND:
      if (!PUSH(c, c->marks, c->n_marks, c->cap_marks)) {
        goto oom;
      }
      memset(&c->marks[c->n_marks], 0, sizeof c->marks[c->n_marks]);
      c->marks[c->n_marks].id = n.id;
      c->marks[c->n_marks].async = role == ROLE_ASYNC;
      c->marks[c->n_marks].kind = role == ROLE_KIND ? L->role_arg[cap] : NULL;
      c->n_marks++;
      break;
    case ROLE_DECORATOR:
      for (uint16_t k = 0; k < m.capture_count; k++) {
        if (L->roles[m.captures[k].index] != ROLE_DECORATED) {
          continue;
        }
        if (!PUSH(c, c->marks, c->n_marks, c->cap_marks)) {
          goto oom;
        }
        memset(&c->marks[c->n_marks], 0, sizeof c->marks[c->n_marks]);
        c->marks[c->n_marks].id = m.captures[k].node.id;
        c->marks[c->n_marks].dec_start = ts_node_start_byte(n);
        c->marks[c->n_marks].dec_end = ts_node_end_byte(n);
        c->n_marks++;
      }
      break;
    case ROLE_VERBATIM:
      if (!PUSH(c, c->verb, c->n_verb, c->cap_verb)) {
        goto oom;
      }
      c->verb[c->n_verb].start = ts_node_start_byte(n);
      c->verb[c->n_verb].end = ts_node_end_byte(n);
      c->n_verb++;
      break;
    case ROLE_PROLOGUE:
      if (!PUSH(c, c->prologue, c->n_pro, c->cap_pro)) {
        goto oom;
      }
      c->prologue[c->n_pro++] = n.id;
      break;
    case ROLE_DOCSTRING:
      if (!PUSH(c, c->docstrings, c->n_doc, c->cap_doc)) {
        goto oom;
      }
      c->docstrings[c->n_doc++] = n.id;
      break;
    case ROLE_DOCSTRING_NOT:
      if (!PUSH(c, c->not_docstrings, c->n_notdoc, c->cap_notdoc)) {
        goto oom;
      }
      c->not_docstrings[c->n_notdoc++] = n.id;
      break;
    default:
      break;
    }
  }
  return 0;
oom:
  c->oom = true;
  return -1;
}

/* The language's query over the tree: by one walk (match.c) where the language's patterns allow
 * it, else by tree-sitter's query cursor. Both give the same matches; see match.c on order. */
static int collect(ctx *c) {
  const struct cgi_language *L = c->lang;
  if (L->matcher != NULL) {
    int rc = cgi__matcher_run(L->matcher, c->root, on_match, c);
    c->oom |= rc != 0;
    return rc == 0 ? 0 : -1;
  }
  TSQueryCursor *qc = ts_query_cursor_new();
  if (qc == NULL) {
    c->oom = true;
    return -1;
  }
  ts_query_cursor_exec(qc, L->query, c->root);
  TSQueryMatch m;
  int rc = 0;
  while (rc == 0 && ts_query_cursor_next_match(qc, &m)) {
    rc = on_match(c, &m);
  }
  ts_query_cursor_delete(qc);
  return rc;
}

static int cmp_item(const void *x, const void *y) {
  const item *a = x, *b = y;
  if (a->start != b->start) {
    return a->start < b->start ? -1 : 1;
  }
  if (a->end != b->end) {
    return a->end > b->end ? -1 : 1;
  }
  return (int)a->type - (int)b->type;
}

static bool is_container(item_type t) {
  return t != IT_SUSPEND && t != IT_SKIP;
}

/* @skip.X: on a function node it marks that function; on a node inside one (co_await), the
 * function it belongs to (not through a class or an opaque expression). */
static void mark_skips(ctx *c) {
  for (size_t i = 0; i < c->n_items; i++) {
    if (c->items[i].type != IT_SKIP) {
      continue;
    }
    int p = c->items[i].parent;
    while (p >= 0 && c->items[p].type == IT_LOOP) {
      p = c->items[p].parent;
    }
    if (p >= 0 && c->items[p].type == IT_FUNCTION && c->items[p].skip == NULL) {
      c->items[p].skip = c->items[i].arg;
    }
  }
}

/* A decorator's name without blanks ("numba . njit" is numba.njit), or NULL when out of memory. */
static char *decorator_name(const ctx *c, uint32_t a, uint32_t b) {
  char *s = malloc(b - a + 1);
  if (s == NULL) {
    return NULL;
  }
  size_t n = 0;
  for (uint32_t i = a; i < b; i++) {
    if (c->src[i] != ' ' && c->src[i] != '\t' && c->src[i] != '\\' && c->src[i] != '\n' &&
        c->src[i] != '\r') {
      s[n++] = c->src[i];
    }
  }
  s[n] = '\0';
  return s;
}

/* Whether @p word names the decorator @p name: the same, or its last dotted part(s). */
static bool names_decorator(const char *name, const char *word, size_t wlen) {
  size_t n = strlen(name);
  return wlen > 0 && n >= wlen && strncmp(name + n - wlen, word, wlen) == 0 &&
         (n == wlen || name[n - wlen - 1] == '.');
}

static bool listed(const char *list, const char *name) {
  for (const char *p = list; p != NULL && *p;) {
    p += strspn(p, " \t");
    size_t w = strcspn(p, " \t");
    if (names_decorator(name, p, w)) {
      return true;
    }
    p += w;
  }
  return false;
}

/* A function decorated by the name in src[a, b) is left as it is: the language's
 * `leave_decorated` or the caller's cgi_options.leave_decorated lists it.
 * @return 1 (left), 0 (instrumented) or -1 (out of memory). */
static int leave_it(const ctx *c, uint32_t a, uint32_t b) {
  char *name = decorator_name(c, a, b);
  if (name == NULL) {
    return -1;
  }
  bool yes = listed(cgi__conf(c, "leave_decorated"), name) || listed(c->leave_decorated, name);
  free(name);
  return yes;
}

/* Sorts the items, removes duplicates and links each to its innermost container. */
static int link_items(ctx *c) {
  if (c->n_items > 0) {
    qsort(c->items, c->n_items, sizeof *c->items, cmp_item);
  }
  size_t w = 0;
  for (size_t i = 0; i < c->n_items; i++) {
    if (w > 0 && c->items[w - 1].type == c->items[i].type &&
        c->items[w - 1].node.id == c->items[i].node.id) {
      continue; /* the same node captured twice */
    }
    c->items[w++] = c->items[i];
  }
  c->n_items = w;
  int *stack = malloc((w ? w : 1) * sizeof *stack);
  if (stack == NULL) {
    return -1;
  }
  size_t top = 0;
  for (size_t i = 0; i < w; i++) {
    item *it = &c->items[i];
    while (top > 0 && c->items[stack[top - 1]].end <= it->start) {
      top--;
    }
    it->parent = top > 0 ? stack[top - 1] : -1;
    if (is_container(it->type)) {
      stack[top++] = (int)i;
    }
  }
  free(stack);
  /* async and kind marks, by node id */
  if (c->n_marks > 1) {
    qsort(c->marks, c->n_marks, sizeof *c->marks, cmp_ptr); /* id is the first member */
  }
  for (size_t i = 0; i < w && c->n_marks > 0; i++) {
    if (c->items[i].type != IT_FUNCTION) {
      continue;
    }
    const void *id = c->items[i].node.id;
    size_t lo = 0, hi = c->n_marks;
    while (lo < hi) { /* the first mark with this id or a greater one */
      size_t mid = (lo + hi) / 2;
      if ((uintptr_t)c->marks[mid].id < (uintptr_t)id) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    for (size_t k = lo; k < c->n_marks && c->marks[k].id == id; k++) {
      if (c->marks[k].dec_end > c->marks[k].dec_start) {
        int left =
            c->items[i].leave == NULL ? leave_it(c, c->marks[k].dec_start, c->marks[k].dec_end) : 0;
        if (left < 0) {
          return -1;
        }
        if (left > 0) {
          c->items[i].leave = decorator_name(c, c->marks[k].dec_start, c->marks[k].dec_end);
          if (c->items[i].leave == NULL) {
            return -1;
          }
        }
      } else if (c->marks[k].async) {
        c->items[i].async = true;
      } else if (c->items[i].kind == NULL) {
        c->items[i].kind = c->marks[k].kind;
      }
    }
  }
  sort_set(c->docstrings, c->n_doc);
  sort_set(c->not_docstrings, c->n_notdoc);
  sort_set(c->prologue, c->n_pro);
  return 0;
}

/* The nearest container that is a function, class or opaque expression, or -1. */
int cgi__scope_of(const ctx *c, int i) {
  int p = c->items[i].parent;
  while (p >= 0 && c->items[p].type == IT_LOOP) {
    p = c->items[p].parent;
  }
  return p;
}

/* The text of @p n, stopping before a child of name_end_types ("operator bool() const"). */
static char *name_text(const ctx *c, TSNode n) {
  uint32_t a = ts_node_start_byte(n), e = ts_node_end_byte(n);
  for (uint32_t k = 0; k < ts_node_named_child_count(n); k++) {
    TSNode ch = ts_node_named_child(n, k);
    if (cgi__is_type(c, ch, "name_end_types")) {
      e = ts_node_start_byte(ch);
      while (e > a && cgi__is_blank(c->src[e - 1])) {
        e--;
      }
      break;
    }
  }
  return strndup(c->src + a, e - a);
}

/* The nearest class around item @p i (through functions and loops), or -1. */
static int enclosing_class(const ctx *c, size_t i) {
  int p = c->items[i].parent;
  while (p >= 0 && c->items[p].type != IT_CLASS) {
    p = c->items[p].parent;
  }
  return p;
}

/* The method a lambda sits in, as javac names its synthetic method: the method's name, "new" in
 * constructors and instance initialisers (and instance field initialisers), "static" in static
 * initialisers and static field initialisers. A new string, NULL when memory runs out. */
static char *lambda_owner(const ctx *c, size_t i) {
  for (int p = c->items[i].parent; p >= 0 && c->items[p].type != IT_CLASS; p = c->items[p].parent) {
    const item *q = &c->items[p];
    if (q->type != IT_FUNCTION || (q->kind != NULL && strcmp(q->kind, "lambda") == 0)) {
      continue;
    }
    if (q->has_name && (q->kind == NULL || strcmp(q->kind, "constructor") != 0)) {
      return name_text(c, q->name);
    }
    return strdup(strcmp(ts_node_type(q->node), "static_initializer") == 0 ? "static" : "new");
  }
  for (TSNode n = ts_node_parent(c->items[i].node); !ts_node_is_null(n); n = ts_node_parent(n)) {
    if (strcmp(ts_node_type(n), "field_declaration") == 0) {
      TSNode m = ts_node_named_child(n, 0);
      bool is_static = false;
      if (!ts_node_is_null(m) && strcmp(ts_node_type(m), "modifiers") == 0) {
        uint32_t a = ts_node_start_byte(m), e = ts_node_end_byte(m);
        char *t = strndup(c->src + a, e - a);
        if (t == NULL) {
          return NULL;
        }
        is_static = strstr(t, "static") != NULL;
        free(t);
      }
      return strdup(is_static ? "static" : "new");
    }
  }
  return strdup("new");
}

static int name_items(ctx *c) {
  const char *cls_sep = cgi__conf(c, "class_separator"), *fn_sep = cgi__conf(c, "nested_separator");
  const char *nest_sep = cgi__conf(c, "class_nesting_separator");
  const char *anon_tpl = cgi__conf(c, "anonymous_class"), *local_tpl = cgi__conf(c, "local_class");
  const char *lambda_tpl = cgi__conf(c, "anonymous_function");
  bool by_class = strcmp(cgi__conf(c, "function_scope"), "class") == 0;
  /* per class (index + 1; 0: no class): anonymous classes and lambdas numbered so far */
  int *anon = calloc(c->n_items + 1, sizeof *anon),
      *lambdas = calloc(c->n_items + 1, sizeof *lambdas);
  if (anon == NULL || lambdas == NULL) {
    free(anon);
    free(lambdas);
    return -1;
  }
  /* package_types: top-level classes are named in their package (Java: app.Main) */
  char *pkg = NULL;
  bool packages = cgi__conf(c, "package_types")[0] != '\0'; /* (the loop is quadratic) */
  for (uint32_t k = 0; packages && k < ts_node_named_child_count(c->root) && pkg == NULL; k++) {
    TSNode d = ts_node_named_child(c->root, k);
    if (cgi__is_type(c, d, "package_types") && ts_node_named_child_count(d) > 0) {
      TSNode id = ts_node_named_child(d, ts_node_named_child_count(d) - 1);
      pkg = strndup(c->src + ts_node_start_byte(id), ts_node_end_byte(id) - ts_node_start_byte(id));
      c->oom |= pkg == NULL;
    }
  }
  int rc = 0;
  for (size_t i = 0; i < c->n_items && rc == 0; i++) {
    item *it = &c->items[i];
    if (it->type != IT_FUNCTION && it->type != IT_CLASS && it->type != IT_LOOP) {
      continue;
    }
    int s = cgi__scope_of(c, (int)i);
    const char *outer = s >= 0 ? c->items[s].qualname : NULL;
    if (it->type == IT_LOOP) {
      var v[] = {{"scope", outer ? outer : cgi__conf(c, "module_name")}, {"label", it->arg}};
      it->qualname = cgi__expand(c, cgi__conf(c, "loop_name"), v, 2);
      rc = it->qualname == NULL ? -1 : 0;
      continue;
    }
    int oc = enclosing_class(c, i);
    const char *ocq = oc >= 0 ? c->items[oc].qualname : "";
    char *own = it->has_name ? name_text(c, it->name) : NULL;
    if (it->has_name && own == NULL) {
      rc = -1;
      break;
    }
    char n[16];
    cgi__buf b = {0};
    if (it->type == IT_CLASS && !it->has_name && *anon_tpl) {
      /* javac: Outer$1, Outer$2, ... in the order they appear */
      snprintf(n, sizeof n, "%d", ++anon[oc + 1]);
      var v[] = {{"outer", ocq}, {"n", n}};
      it->qualname = cgi__expand(c, anon_tpl, v, 2);
    } else if (it->type == IT_CLASS && own != NULL && s >= 0 && c->items[s].type == IT_FUNCTION &&
               *local_tpl) {
      /* javac: Outer$1Local, or Outer$2Local for a second local class of that name */
      int k = 1;
      for (size_t j = 0; j < i; j++) {
        const item *q = &c->items[j];
        int qs = q->type == IT_CLASS && q->has_name ? cgi__scope_of(c, (int)j) : -1;
        if (qs >= 0 && c->items[qs].type == IT_FUNCTION && enclosing_class(c, j) == oc) {
          char *qn = name_text(c, q->name);
          c->oom |= qn == NULL;
          k += qn != NULL && strcmp(qn, own) == 0;
          free(qn);
        }
      }
      snprintf(n, sizeof n, "%d", k);
      var v[] = {{"outer", ocq}, {"n", n}, {"name", own}};
      it->qualname = cgi__expand(c, local_tpl, v, 3);
    } else {
      if (it->type == IT_FUNCTION && by_class) {
        if (oc >= 0) {
          cgi__buf_printf(&b, "%s%s", ocq, cls_sep);
        }
      } else if (it->type == IT_CLASS && s < 0 && pkg != NULL) {
        cgi__buf_printf(&b, "%s.", pkg);
      } else if (outer != NULL && c->items[s].type != IT_OPAQUE) {
        cgi__buf_puts(&b, outer);
        cgi__buf_puts(&b, c->items[s].type != IT_CLASS        ? fn_sep
                          : it->type == IT_CLASS && *nest_sep ? nest_sep
                                                              : cls_sep);
      }
      if (own != NULL) {
        cgi__buf_puts(&b, own);
      } else if (it->type == IT_FUNCTION) {
        char key[96];
        snprintf(key, sizeof key, "unnamed.%s", ts_node_type(it->node));
        const char *unnamed = cgi_language_get(c->lang, key);
        if (unnamed != NULL) {
          cgi__buf_puts(&b, unnamed);
        } else if (*lambda_tpl) {
          /* javac: lambda$main$0, numbered per class */
          char *m = lambda_owner(c, i);
          c->oom |= m == NULL;
          snprintf(n, sizeof n, "%d", lambdas[oc + 1]++);
          var v[] = {{"method", m ? m : "?"}, {"n", n}};
          char *t = cgi__expand(c, lambda_tpl, v, 2);
          cgi__buf_puts(&b, t ? t : "?");
          free(t);
          free(m);
        } else {
          cgi__buf_puts(&b, "?");
        }
      } else {
        cgi__buf_puts(&b, "?");
      }
      it->qualname = cgi__buf_take(&b);
    }
    free(own);
    if (it->qualname == NULL) {
      rc = -1;
      break;
    }
    if (it->type == IT_FUNCTION && it->kind == NULL) {
      bool in_class = s >= 0 && c->items[s].type == IT_CLASS &&
                      !cgi__is_type(c, c->items[s].node, "namespace_types");
      it->kind = in_class                                    ? "method"
                 : s >= 0 && c->items[s].type == IT_FUNCTION ? "nested function"
                                                             : "function";
    }
  }
  free(anon);
  free(lambdas);
  free(pkg);
  return rc;
}

int cgi__collect(ctx *c) {
  if (collect(c) != 0 || link_items(c) != 0 || name_items(c) != 0) {
    return -1;
  }
  /* A function left as it is becomes opaque, like a lambda: nothing inside it is instrumented
   * (names were given first, so its own and its contents' stay the usual ones). */
  for (size_t i = 0; i < c->n_items; i++) {
    if (c->items[i].type == IT_FUNCTION && c->items[i].leave != NULL) {
      bool inside = false; /* inside another left function: only the outermost is listed */
      for (int p = c->items[i].parent; p >= 0 && !inside; p = c->items[p].parent) {
        inside = c->items[p].leave != NULL;
      }
      c->items[i].type = IT_OPAQUE;
      if (inside) {
        free(c->items[i].leave);
        c->items[i].leave = NULL;
      }
    }
  }
  mark_skips(c);
  for (size_t i = 0; i < c->n_verb; i++) {
    uint32_t r0 = cgi__row_of(c, c->verb[i].start), r1 = cgi__row_of(c, c->verb[i].end);
    for (uint32_t r = r0 + 1; r <= r1 && r < c->n_lines; r++) {
      c->verbatim[r] = true;
    }
  }
  return 0;
}
