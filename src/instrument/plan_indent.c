/*
 * plan_indent.c - the planner of blocks made by indentation (block_style = indent; Python).
 *
 * Each region becomes a guard: "enter" then "try:" before its statements, "finally:" and "exit"
 * after them, the statements re-indented one level. A suspension point either becomes a guard of
 * its own (statement form: exits / try: STATEMENT / finally: enters) or is wrapped in place
 * (expression form: ((yield (VALUE, exits)[0]), enters)[0]); see plan.c.
 *
 * Everything is an insertion (or the deletion of blanks before a statement moved onto a line of
 * its own) at a byte offset of the original; insertions at the same offset are ordered so that
 * closings come innermost first and openings outermost first. Re-indentation inserts the unit U
 * once per enclosing guard at the start of each line, after any form feed, never on a line that
 * starts inside a string. U is a tab when any indentation holds a tab (a tab at the start shifts
 * Python's column by 8 and its alternate column by 1, whatever follows, so every comparison of
 * indentation keeps its result), else the file's own number of spaces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

/* @p B with @p k units inserted after its last form feed (or at its start). */
static char *indent_with(const ctx *c, const char *B, int k) {
  size_t n = strlen(B), u = strlen(c->U);
  const char *ff = strrchr(B, '\f');
  size_t at = ff ? (size_t)(ff - B) + 1 : 0;
  char *s = malloc(n + u * (size_t)(k > 0 ? k : 0) + 1);
  if (s == NULL) {
    return NULL;
  }
  memcpy(s, B, at);
  size_t o = at;
  for (int i = 0; i < k; i++) {
    memcpy(s + o, c->U, u);
    o += u;
  }
  memcpy(s + o, B + at, n - at);
  s[o + n - at] = '\0';
  return s;
}

/* Where the module's own code starts: the first statement that is neither the docstring nor in
 * the prologue, or a null node (with c->oom set when memory runs out). */
static TSNode module_first(ctx *c, TSNode *after_prologue_end) {
  uint32_t n = cgi__statements(c, c->root, NULL, 0);
  TSNode *st = malloc((n ? n : 1) * sizeof *st);
  TSNode none = {{0}, NULL, NULL};
  *after_prologue_end = none;
  if (st == NULL) {
    c->oom = true;
    return none;
  }
  cgi__statements(c, c->root, st, n);
  uint32_t i = 0;
  if (i < n && cgi__is_docstring(c, st[i])) {
    *after_prologue_end = st[i];
    i++;
  }
  while (i < n && cgi__in_set(c->prologue, c->n_pro, st[i].id)) {
    *after_prologue_end = st[i];
    i++;
  }
  TSNode r = i < n ? st[i] : none;
  free(st);
  return r;
}

/* Plans the guard of a body: @p stmts are the block's statements, @p D the header's indentation
 * (for inline bodies), @p pre/@p post the enter and exit texts. Takes pre and post. */
static int plan_body(ctx *c, const TSNode *st, uint32_t n, bool allow_docstring, uint32_t header,
                     int owner_depth, char *pre, char *post) {
  if (pre == NULL || post == NULL) {
    free(pre);
    free(post);
    c->oom = true;
    return -1;
  }
  guard *g = cgi__new_guard(c);
  if (g == NULL) {
    free(pre);
    free(post);
    return -1;
  }
  g->pre = pre;
  g->post = post;
  g->owner_depth = owner_depth;
  uint32_t k = allow_docstring && n > 0 && cgi__is_docstring(c, st[0]) ? 1 : 0;
  g->inline_block = n > 0 && !cgi__at_logical_line_start(c, ts_node_start_byte(st[0]));
  if (g->inline_block) {
    char *D = cgi__leading_ws(c, header);
    g->B = D ? indent_with(c, D, 1) : NULL;
    free(D);
  } else {
    g->B = cgi__leading_ws(c, n > 0 ? ts_node_start_byte(st[0]) : header);
  }
  if (g->B == NULL) {
    c->oom = true;
    return -1;
  }
  if (k >= n) {
    g->empty = true;
    uint32_t doc_end = ts_node_end_byte(st[0]);
    int64_t e = cgi__logical_line_end(c, doc_end);
    if (e < 0) {
      return cgi__fail_at(c, doc_end, "cannot find the end of this line (instrumenter limitation)");
    }
    g->empty_pos = (uint32_t)e;
    g->first_start = ts_node_start_byte(st[0]);
    g->last_end = doc_end;
    return 0;
  }
  g->first_start = ts_node_start_byte(st[k]);
  g->last_end = ts_node_end_byte(st[n - 1]);
  g->split = !cgi__at_logical_line_start(c, g->first_start);
  return 0;
}

static int cmp_guard(const void *x, const void *y) {
  const guard *a = x, *b = y;
  if (a->first_start != b->first_start) {
    return a->first_start < b->first_start ? -1 : 1;
  }
  if (a->last_end != b->last_end) {
    return a->last_end > b->last_end ? -1 : 1;
  }
  return a->owner_depth - b->owner_depth;
}

static int plan_regions(ctx *c) {
  for (size_t r = 0; r < c->n_regions; r++) {
    region *rg = &c->regions[r];
    if (rg->item < 0) {
      continue; /* the module body: planned with the prelude */
    }
    item *it = &c->items[rg->item];
    char *pre = cgi__call_text(c, "enter", rg->index);
    char *post = cgi__call_text(c, "exit", rg->index);
    if (it->type == IT_LOOP) {
      /* the loop statement as a whole */
      guard *g = cgi__new_guard(c);
      if (g == NULL || pre == NULL || post == NULL) {
        free(pre);
        free(post);
        c->oom = true;
        return -1;
      }
      g->pre = pre;
      g->post = post;
      g->first_start = it->start;
      g->last_end = it->end;
      g->owner_depth = cgi__node_depth(it->node);
      g->B = cgi__leading_ws(c, it->start);
      if (g->B == NULL) {
        c->oom = true;
        return -1;
      }
      if (!cgi__at_logical_line_start(c, it->start)) {
        return cgi__fail_at(c, it->start,
                            "a loop that does not start its line (instrumenter "
                            "limitation)");
      }
      continue;
    }
    uint32_t n = cgi__statements(c, it->body, NULL, 0);
    TSNode *st = malloc((n ? n : 1) * sizeof *st);
    if (st == NULL) {
      free(pre);
      free(post);
      return -1;
    }
    cgi__statements(c, it->body, st, n);
    if (n == 0) {
      free(st);
      free(pre);
      free(post);
      return cgi__fail_at(c, it->start, "a function without statements");
    }
    int rc = plan_body(c, st, n, true, it->start, cgi__node_depth(it->node), pre, post);
    free(st);
    if (rc != 0) {
      return -1;
    }
  }
  return 0;
}

/* Nesting of guards, then their texts and the rows they re-indent. */
static int finish_guards(ctx *c, int *row_depth) {
  if (c->n_guards > 0) {
    qsort(c->guards, c->n_guards, sizeof *c->guards, cmp_guard);
  }
  int *stack = malloc((c->n_guards ? c->n_guards : 1) * sizeof *stack);
  if (stack == NULL) {
    return -1;
  }
  size_t top = 0;
  const char *NL = c->nl;
  for (size_t i = 0; i < c->n_guards; i++) {
    guard *g = &c->guards[i];
    while (top > 0 && c->guards[stack[top - 1]].last_end <= g->first_start) {
      top--; /* empty guards are never on the stack */
    }
    g->a = (int)top;
    if (!g->empty) {
      stack[top++] = (int)i;
    }
  }
  free(stack);

  for (size_t i = 0; i < c->n_guards; i++) {
    guard *g = &c->guards[i];
    char *W = indent_with(c, g->B, g->a);
    char *W1 = indent_with(c, g->B, g->a + 1);
    if (W == NULL || W1 == NULL) {
      free(W);
      free(W1);
      return -1;
    }
    const char *tb = cgi__conf(c, "guard_begin"), *te = cgi__conf(c, "guard_end");
    cgi__buf b = {0};
    int rc = 0;
    if (g->empty) {
      if (g->inline_block) {
        /* move the docstring (starting at first_start) onto its own line */
        uint32_t ws = g->first_start;
        while (ws > 0 && cgi__is_blank(c->src[ws - 1])) {
          ws--;
        }
        rc |= cgi__add_delete(c, ws, g->first_start);
        cgi__buf_printf(&b, "%s%s", NL, W);
        rc |= cgi__add_edit(c, g->first_start, 1, g->owner_depth, cgi__buf_take(&b), g->first_start,
                            false);
      }
      /* ordered as a closing: it ends the function, before whatever encloses it closes */
      cgi__buf_printf(&b, "%s%s%s%s%s%s", W, g->pre, NL, W, g->post, NL);
      rc |= cgi__add_edit(c, g->empty_pos, 0, g->owner_depth, cgi__buf_take(&b), g->last_end, true);
    } else {
      if (g->split) {
        uint32_t ws = g->first_start;
        while (ws > 0 && cgi__is_blank(c->src[ws - 1])) {
          ws--;
        }
        rc |= cgi__add_delete(c, ws, g->first_start);
        cgi__buf_printf(&b, "%s%s%s%s%s%s%s%s", NL, W, g->pre, NL, W, tb, NL, W1);
        rc |= cgi__add_edit(c, g->first_start, 1, g->owner_depth, cgi__buf_take(&b), g->first_start,
                            false);
      } else {
        cgi__buf_printf(&b, "%s%s%s%s%s%s", W, g->pre, NL, W, tb, NL);
        rc |= cgi__add_edit(c, cgi__line_start(c, g->first_start), 1, g->owner_depth,
                            cgi__buf_take(&b), g->first_start, true);
      }
      int64_t e = cgi__logical_line_end(c, g->last_end);
      if (e < 0) {
        free(W);
        free(W1);
        return cgi__fail_at(c, g->last_end,
                            "cannot find the end of this statement's line "
                            "(instrumenter limitation)");
      }
      cgi__buf_printf(&b, "%s%s%s%s%s%s", W, te, NL, W1, g->post, NL);
      rc |= cgi__add_edit(c, (uint32_t)e, 0, g->owner_depth, cgi__buf_take(&b), g->last_end, true);
      /* rows re-indented by this guard */
      if (!g->inline_block) {
        uint32_t r0 = cgi__row_of(c, g->first_start) + (g->split ? 1 : 0);
        uint32_t r1 = cgi__row_of(c, (uint32_t)e > 0 ? (uint32_t)e - 1 : 0);
        if (r0 <= r1) {
          row_depth[r0]++;
          row_depth[r1 + 1]--;
        }
      }
    }
    free(W);
    free(W1);
    if (rc != 0) {
      c->oom = true;
      return -1;
    }
  }
  return 0;
}

/* An inline body whose first statement is a docstring followed by more statements: the docstring
 * goes on its own line (the split guard then opens after it). */
static int split_inline_docstrings(ctx *c) {
  for (size_t r = 0; r < c->n_regions; r++) {
    region *rg = &c->regions[r];
    if (rg->item < 0 || c->items[rg->item].type != IT_FUNCTION) {
      continue;
    }
    item *it = &c->items[rg->item];
    TSNode st[2];
    uint32_t n = cgi__statements(c, it->body, st, 2);
    if (n < 2 || !cgi__is_docstring(c, st[0]) ||
        cgi__at_logical_line_start(c, ts_node_start_byte(st[0]))) {
      continue;
    }
    /* find the guard of this function to learn its depth */
    guard *g = NULL;
    for (size_t i = 0; i < c->n_guards; i++) {
      if (c->guards[i].first_start == ts_node_start_byte(st[1]) && !c->guards[i].empty &&
          c->guards[i].inline_block) {
        g = &c->guards[i];
      }
    }
    if (g == NULL) {
      continue;
    }
    char *W = indent_with(c, g->B, g->a);
    if (W == NULL) {
      return -1;
    }
    uint32_t ds = ts_node_start_byte(st[0]), ws = ds;
    while (ws > 0 && cgi__is_blank(c->src[ws - 1])) {
      ws--;
    }
    cgi__buf b = {0};
    cgi__buf_printf(&b, "%s%s", c->nl, W);
    free(W);
    if (cgi__add_delete(c, ws, ds) != 0 ||
        cgi__add_edit(c, ds, 1, g->owner_depth, cgi__buf_take(&b), ds, false) != 0) {
      return -1;
    }
  }
  return 0;
}

/* The prelude (runtime and id table) and, at fine granularity, the module body's guard. */
static int plan_prelude(ctx *c) {
  TSNode last_pro;
  TSNode first = module_first(c, &last_pro);
  if (ts_node_is_null(first)) {
    return cgi__fail_at(c, 0, "nothing to instrument after the module's prologue");
  }
  uint32_t P = ts_node_start_byte(first);
  bool split = !cgi__at_logical_line_start(c, P);
  const char *NL = c->nl;
  cgi__buf b = {0};
  char *qctx = cgi__quote(c, c->context); /* {context}: a string literal, as in plan_brace.c */
  if (qctx == NULL) {
    return -1;
  }
  var v0[] = {{"rt", c->rt}, {"table", c->table}, {"context", qctx}};
  char *prelude = cgi__expand(c, cgi__conf(c, "prelude"), v0, 3);
  char *tb = cgi__expand(c, cgi__conf(c, "table_begin"), v0, 3);
  char *te = cgi__expand(c, cgi__conf(c, "table_end"), v0, 3);
  if (prelude == NULL || tb == NULL || te == NULL) {
    free(qctx);
    free(prelude);
    free(tb);
    free(te);
    return -1;
  }
  if (split) {
    cgi__buf_puts(&b, NL);
  }
  const char *cm = cgi__conf(c, "comment_prefix");
  if (*cm) {
    cgi__buf_printf(&b, "%s codegreen: instrumented (%s granularity); checkpoints below%s", cm,
                    c->gran == CGI_FINE ? "fine" : "coarse", NL);
  }
  cgi__buf_printf(&b, "%s%s", prelude, NL);
  if (c->uses_support) {
    var vs[] = {
        {"rt", c->rt}, {"support", c->support}, {"support_module", cgi__conf(c, "support_module")}};
    char *sp = cgi__expand(c, cgi__conf(c, "support_prelude"), vs, 3);
    if (sp != NULL) {
      cgi__buf_printf(&b, "%s%s", sp, NL);
    }
    free(sp);
  }
  cgi__buf_printf(&b, "%s%s", tb, NL);
  for (size_t r = 0; r < c->n_regions; r++) {
    char *qn = cgi__quote(c, c->regions[r].name);
    char line[16];
    snprintf(line, sizeof line, "%d", c->regions[r].line);
    var v[] = {{"rt", c->rt},
               {"table", c->table},
               {"name", qn ? qn : ""},
               {"context", qctx},
               {"line", line}};
    char *t = cgi__expand(c, cgi__conf(c, "table_item"), v, 5);
    if (t != NULL) {
      cgi__buf_printf(&b, "%s%s%s", c->U[0] == '\t' ? "    " : c->U, t, NL);
    }
    free(t);
    free(qn);
  }
  free(qctx);
  cgi__buf_printf(&b, "%s%s", te, NL);
  free(prelude);
  free(tb);
  free(te);
  int rc;
  if (split) {
    uint32_t ws = P;
    while (ws > 0 && cgi__is_blank(c->src[ws - 1])) {
      ws--;
    }
    rc = cgi__add_delete(c, ws, P);
    rc |= cgi__add_edit(c, P, 1, -1, cgi__buf_take(&b), P, false);
  } else {
    rc = cgi__add_edit(c, cgi__line_start(c, P), 1, -1, cgi__buf_take(&b), P, true);
  }
  if (rc != 0 || c->gran != CGI_FINE || c->module_unguarded) {
    return rc;
  }
  /* the module body, from P to the last statement */
  uint32_t n = cgi__statements(c, c->root, NULL, 0);
  TSNode *st = malloc(n * sizeof *st);
  if (st == NULL) {
    return -1;
  }
  cgi__statements(c, c->root, st, n);
  uint32_t last_end = ts_node_end_byte(st[n - 1]);
  free(st);
  char *pre = cgi__call_text(c, "enter", c->regions[0].index);
  char *post = cgi__call_text(c, "exit", c->regions[0].index);
  guard *g = cgi__new_guard(c);
  if (g == NULL || pre == NULL || post == NULL) {
    free(pre);
    free(post);
    return -1;
  }
  g->pre = pre;
  g->post = post;
  g->first_start = P;
  g->last_end = last_end;
  g->owner_depth = 0;
  g->split = split; /* P after a ';' on a prologue line: the guard opens on a new line there */
  g->B = strdup("");
  return g->B ? 0 : -1;
}

/* Re-indentation edits from the per-row depths. */
static int plan_indentation(ctx *c, int *row_depth) {
  int depth = 0;
  size_t u = strlen(c->U);
  for (uint32_t r = 0; r < c->n_lines; r++) {
    depth += row_depth[r];
    if (depth <= 0 || c->verbatim[r]) {
      continue;
    }
    uint32_t a = c->line_starts[r], i = a, ff = a;
    while (i < c->len && cgi__is_blank(c->src[i])) {
      if (c->src[i] == '\f') {
        ff = i + 1;
      }
      i++;
    }
    if (i >= c->len || c->src[i] == '\n' || c->src[i] == '\r') {
      continue; /* blank line */
    }
    char *t = malloc(u * (size_t)depth + 1);
    if (t == NULL) {
      return -1;
    }
    for (int k = 0; k < depth; k++) {
      memcpy(t + u * (size_t)k, c->U, u);
    }
    t[u * (size_t)depth] = '\0';
    if (cgi__add_edit(c, ff, 2, 0, t, ff, false) != 0) {
      return -1;
    }
  }
  return 0;
}

static void choose_unit(ctx *c) {
  /* a tab if any line's indentation holds one */
  for (uint32_t r = 0; r < c->n_lines; r++) {
    if (c->verbatim[r]) {
      continue;
    }
    for (uint32_t i = c->line_starts[r]; i < c->len && cgi__is_blank(c->src[i]); i++) {
      if (c->src[i] == '\t') {
        strcpy(c->U, "\t");
        return;
      }
    }
  }
  /* else the indentation of the first indented body under an unindented header */
  strcpy(c->U, "    ");
  for (size_t i = 0; i < c->n_items; i++) {
    item *it = &c->items[i];
    if ((it->type != IT_FUNCTION && it->type != IT_CLASS) || !it->has_body) {
      continue;
    }
    TSNode st[1];
    if (cgi__statements(c, it->body, st, 1) == 0) {
      continue;
    }
    uint32_t s = ts_node_start_byte(st[0]);
    if (!cgi__at_logical_line_start(c, s)) {
      continue;
    }
    uint32_t hdr = it->start - cgi__line_start(c, it->start);
    uint32_t body = s - cgi__line_start(c, s);
    if (body > hdr && body - hdr <= 8) {
      uint32_t w = body - hdr;
      memset(c->U, ' ', w);
      c->U[w] = '\0';
    }
    return;
  }
}

/* ----- the interpreter's limit on indentation levels ----- */

/* Would this item get a guard of its own (a function's body, a loop at fine granularity)? */
static bool guarded(const ctx *c, const item *it) {
  return (it->type == IT_FUNCTION && it->has_body && it->skip == NULL) ||
         (it->type == IT_LOOP && c->gran == CGI_FINE && it->skip == NULL);
}

/* The rows an item's guard re-indents, and the levels the guard adds to them: a function's body
 * (2 for a body on its header's line, which becomes a block of its own), a loop statement. */
static void guard_rows(const ctx *c, const item *it, uint32_t *r0, uint32_t *r1, int *adds) {
  uint32_t a = it->type == IT_FUNCTION ? ts_node_start_byte(it->body) : it->start;
  uint32_t b = it->type == IT_FUNCTION ? ts_node_end_byte(it->body) : it->end;
  *r0 = cgi__row_of(c, a);
  *r1 = cgi__row_of(c, b > a ? b - 1 : a);
  *adds = it->type == IT_FUNCTION && !cgi__at_logical_line_start(c, a) ? 2 : 1;
}

/* The indentation level of every row as the interpreter's tokenizer counts it: the blocks
 * (block_types) around it whose statements start lines of their own (one on its header's line
 * opens no level). @return the array (n_lines entries), or NULL when memory runs out. */
static int *row_levels(ctx *c) {
  int *lv = calloc(c->n_lines + 1, sizeof *lv);
  if (lv == NULL) {
    return NULL;
  }
  TSTreeCursor cur = ts_tree_cursor_new(c->root);
  for (;;) {
    TSNode n = ts_tree_cursor_current_node(&cur);
    if (cgi__is_type(c, n, "block_types") && ts_node_named_child_count(n) > 0 &&
        cgi__at_logical_line_start(c, ts_node_start_byte(n))) {
      uint32_t e = ts_node_end_byte(n);
      lv[cgi__row_of(c, ts_node_start_byte(n))]++;
      lv[cgi__row_of(c, e > 0 ? e - 1 : 0) + 1]--;
    }
    if (ts_tree_cursor_goto_first_child(&cur)) {
      continue;
    }
    while (!ts_tree_cursor_goto_next_sibling(&cur)) {
      if (!ts_tree_cursor_goto_parent(&cur)) {
        ts_tree_cursor_delete(&cur);
        for (uint32_t r = 1; r < c->n_lines; r++) {
          lv[r] += lv[r - 1];
        }
        return lv;
      }
    }
  }
}

/* Can no row reach the limit whatever is guarded? A level needs a blank more than the one it is
 * in (the tokenizer compares both the column and the count of blanks), and each guard adds at
 * most one level (two for an inline body, one more for a suspension's, one for the module's). */
static bool surely_within(ctx *c, int limit) {
  uint32_t widest = 0;
  for (uint32_t r = 0; r < c->n_lines; r++) {
    uint32_t i = c->line_starts[r];
    while (i < c->len && cgi__is_blank(c->src[i])) {
      i++;
    }
    widest = i - c->line_starts[r] > widest ? i - c->line_starts[r] : widest;
  }
  int nest = 0;
  int *d = malloc((c->n_items ? c->n_items : 1) * sizeof *d);
  if (d == NULL) {
    c->oom = true;
    return false;
  }
  for (size_t i = 0; i < c->n_items; i++) {
    const item *it = &c->items[i];
    d[i] = (it->parent >= 0 ? d[it->parent] : 0) + (guarded(c, it) ? 1 : 0);
    nest = d[i] > nest ? d[i] : nest;
  }
  free(d);
  return (int64_t)widest + nest + 3 <= limit;
}

/* Guards that would take a row past the interpreter's indentation levels (max_indent_levels:
 * CPython's tokenizer refuses a 100th) are left out, innermost first: the outermost guards are
 * kept while every row they re-indent fits, with the guards kept around them. The functions
 * (and loops) left are listed with skip.depth; a module body guard that does not fit is left
 * too. @return 0, or -1 when memory runs out. */
int cgi__indent_limits(ctx *c) {
  int limit = atoi(cgi__conf(c, "max_indent_levels"));
  if (limit <= 0 || surely_within(c, limit) || c->oom) {
    return c->oom ? -1 : 0;
  }
  int *lv = row_levels(c);
  int *k = calloc(c->n_items ? c->n_items : 1, sizeof *k);     /* guards kept around an item */
  int *sus = calloc(c->n_items ? c->n_items : 1, sizeof *sus); /* statement-form suspensions */
  if (lv == NULL || k == NULL || sus == NULL) {
    free(lv);
    free(k);
    free(sus);
    return -1;
  }
  int deepest = 0;
  for (uint32_t r = 0; r < c->n_lines; r++) {
    deepest = lv[r] > deepest ? lv[r] : deepest;
  }
  int base = 0;
  if (c->gran == CGI_FINE) {
    c->module_unguarded = deepest + 1 > limit;
    base = c->module_unguarded ? 0 : 1;
  }
  /* a suspension may become a guard of its own (statement form): one level more on its row
   * for its owner and the loops between (counted whatever form it takes) */
  for (size_t i = 0; i < c->n_items; i++) {
    if (c->items[i].type != IT_SUSPEND) {
      continue;
    }
    int at = lv[cgi__row_of(c, c->items[i].start)] + 1;
    for (int p = c->items[i].parent; p >= 0; p = c->items[p].parent) {
      sus[p] = at > sus[p] ? at : sus[p];
      if (c->items[p].type != IT_LOOP) {
        break;
      }
    }
  }
  for (size_t i = 0; i < c->n_items; i++) {
    item *it = &c->items[i];
    int p = it->parent;
    k[i] = p < 0 ? base : k[p] + (guarded(c, &c->items[p]) ? 1 : 0);
    if (p >= 0 && (c->items[p].type == IT_OPAQUE || k[p] < 0)) {
      k[i] = -1; /* inside a lambda or a function left as it is: no guard (make_regions) */
    }
    if (k[i] < 0 || !guarded(c, it)) {
      continue;
    }
    uint32_t r0, r1;
    int adds;
    guard_rows(c, it, &r0, &r1, &adds);
    int need = sus[i];
    for (uint32_t r = r0; r <= r1 && r < c->n_lines; r++) {
      need = lv[r] > need ? lv[r] : need;
    }
    if (need + k[i] + adds > limit) {
      it->skip = "depth"; /* then not guarded: the items inside count one guard less */
    }
  }
  free(lv);
  free(k);
  free(sus);
  return 0;
}

int cgi__plan_indent(ctx *c) {
  choose_unit(c);
  bool has_function = false;
  for (size_t r = 0; r < c->n_regions; r++) {
    has_function |= c->regions[r].item >= 0;
  }
  if (!has_function && c->gran != CGI_FINE) {
    return 0;
  }
  if (!has_function && cgi__statements(c, c->root, NULL, 0) == 0) {
    return 0; /* an empty module */
  }
  TSNode lp;
  if (ts_node_is_null(module_first(c, &lp))) {
    /* only a docstring and __future__ imports: nothing runs, nothing to measure */
    c->n_regions = 0;
    return 0;
  }
  int *row_depth = calloc(c->n_lines + 2, sizeof *row_depth);
  if (row_depth == NULL) {
    c->oom = true;
    return -1;
  }
  int rc = 0;
  if (plan_regions(c) != 0 || cgi__plan_suspensions(c) != 0 || plan_prelude(c) != 0 ||
      finish_guards(c, row_depth) != 0 || split_inline_docstrings(c) != 0 ||
      plan_indentation(c, row_depth) != 0) {
    rc = -1;
  }
  free(row_depth);
  return rc;
}
