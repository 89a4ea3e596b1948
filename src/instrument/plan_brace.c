/*
 * plan_brace.c - the planner of blocks made by braces (block_style = brace; C, C++, Java).
 *
 * Nothing is re-indented and every line keeps its number: the guard texts go on the lines of the
 * body's own braces, or (enter_line = own, C and C++) on a line of their own followed by a line
 * directive, so that the user's columns do not move either.
 *   enter        written just after a body's '{' (or after the statements of
 *                body_prologue_types that must stay first, such as Java's this(...)/super(...)).
 *                C: a variable with __attribute__((cleanup)), whose cleanup is the exit on every
 *                way out (return, break out of the body, end of the body) after a return's value
 *                is computed; C++: an RAII object, which also covers exceptions; Java: the
 *                enter call and "try {".
 *   exit         written just before the body's '}' (Java: "} finally { exit }"; C, C++: none).
 *   the table    the per-file id table (prelude, table_begin, table_item..., table_end), written
 *                where table_at says: "first_function" (before the top-level declaration holding
 *                the first instrumented function, after the user's own #define/#include lines,
 *                so feature macros such as _GNU_SOURCE keep working), or "end" (after the last
 *                line: Java's holder class).
 *   line_directive  written after text that adds lines (C, C++: #line N "file"), and
 *                file_begin at the very start, so __LINE__, __FILE__, diagnostics and debuggers
 *                see the user's file and lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

/* The byte after which the enter text goes: after '{', or after the leading statements that
 * must stay first. */
static uint32_t enter_position(ctx *c, TSNode body) {
  uint32_t pos = ts_node_start_byte(body) + 1;
  uint32_t n = ts_node_named_child_count(body);
  for (uint32_t i = 0; i < n; i++) {
    TSNode ch = ts_node_named_child(body, i);
    if (cgi__is_type(c, ch, "comment_types")) {
      continue;
    }
    if (cgi__is_type(c, ch, "body_prologue_types")) {
      pos = ts_node_end_byte(ch);
      continue;
    }
    break;
  }
  return pos;
}

static char *guard_text(ctx *c, const char *which, const region *rg) {
  char idx[16];
  snprintf(idx, sizeof idx, "%d", rg->index);
  var v[] = {{"rt", c->rt}, {"table", c->table}, {"index", idx}};
  return cgi__expand(c, cgi__conf(c, which), v, 3);
}

/* The line directive that makes the next line line @p line of the user's file. */
static char *line_directive(ctx *c, uint32_t line) {
  const char *tpl = cgi__conf(c, "line_directive");
  if (*tpl == '\0') {
    return strdup("");
  }
  char l[16];
  snprintf(l, sizeof l, "%u", line);
  char *q = cgi__quote(c, c->context);
  if (q == NULL) {
    return NULL;
  }
  var v[] = {{"line", l}, {"context", q}};
  char *t = cgi__expand(c, tpl, v, 2);
  free(q);
  return t;
}

/* Is there code (anything but blanks) after @p pos on its line? */
static bool code_follows(const ctx *c, uint32_t pos) {
  for (uint32_t i = pos; i < c->len && c->src[i] != '\n' && c->src[i] != '\r'; i++) {
    if (!cgi__is_blank(c->src[i])) {
      return true;
    }
  }
  return false;
}

/* enter_line = own: the enter text @p enter (taken) on a line of its own after the '{' at
 * @p pos - 1, then the line directive of the '{' line and blanks as wide as the user's text
 * before @p pos, so the rest of that line keeps its line and column in compilers' diagnostics.
 * One blank per byte, a tab kept a tab: clang counts bytes, and GCC turns the byte column into
 * a display column by reading the line of the file the directive names, the user's. Text
 * inserted within the line would push the user's columns to the right. */
static char *enter_on_own_line(ctx *c, char *enter, uint32_t pos) {
  char *ld = line_directive(c, cgi__row_of(c, pos) + 1);
  cgi__buf b = {0};
  if (enter != NULL && ld != NULL) {
    cgi__buf_printf(&b, "%s%s%s%s%s", c->nl, enter, c->nl, ld, c->nl);
    for (uint32_t i = cgi__line_start(c, pos); i < pos; i++) {
      cgi__buf_puts(&b, c->src[i] == '\t' ? "\t" : " ");
    }
  }
  free(enter);
  free(ld);
  char *s = cgi__buf_take(&b);
  c->oom |= s == NULL;
  return s;
}

/* The table: prelude, table_begin, one table_item per region, table_end. */
static char *table_text(ctx *c) {
  const char *NL = c->nl;
  char *qctx = cgi__quote(c, c->context);
  if (qctx == NULL) {
    return NULL;
  }
  const char *header =
      c->runtime_header != NULL ? c->runtime_header : cgi__conf(c, "runtime_header");
  var v0[] = {{"rt", c->rt}, {"table", c->table}, {"context", qctx}, {"runtime_header", header}};
  cgi__buf b = {0};
  const char *keys[] = {"prelude", "table_begin"};
  for (size_t k = 0; k < 2; k++) {
    char *t = cgi__expand(c, cgi__conf(c, keys[k]), v0, 4);
    if (t == NULL) {
      free(qctx);
      cgi__buf_free(&b);
      return NULL;
    }
    if (*t) {
      cgi__buf_printf(&b, "%s%s", t, NL);
    }
    free(t);
  }
  for (size_t r = 0; r < c->n_regions; r++) {
    char *qn = cgi__quote(c, c->regions[r].name);
    char line[16], idx[16];
    snprintf(line, sizeof line, "%d", c->regions[r].line);
    snprintf(idx, sizeof idx, "%d", c->regions[r].index);
    var v[] = {{"rt", c->rt},     {"table", c->table}, {"name", qn ? qn : ""},
               {"context", qctx}, {"line", line},      {"index", idx}};
    char *t = cgi__expand(c, cgi__conf(c, "table_item"), v, 6);
    if (t != NULL) {
      cgi__buf_printf(&b, "  %s%s", t, NL);
    }
    free(t);
    free(qn);
  }
  char *te = cgi__expand(c, cgi__conf(c, "table_end"), v0, 4);
  free(qctx);
  if (te == NULL) {
    cgi__buf_free(&b);
    return NULL;
  }
  cgi__buf_printf(&b, "%s%s", te, NL);
  free(te);
  char *s = cgi__buf_take(&b);
  if (s == NULL) {
    c->oom = true;
  }
  return s;
}

/* The top-level node (a child of the root) that holds @p n. */
static TSNode top_level(const ctx *c, TSNode n) {
  for (TSNode p = ts_node_parent(n); !ts_node_is_null(p) && !ts_node_eq(p, c->root);
       p = ts_node_parent(p)) {
    n = p;
  }
  return n;
}

static int plan_table(ctx *c) {
  const char *NL = c->nl;
  const char *at = cgi__conf(c, "table_at");
  char *table = table_text(c);
  if (table == NULL) {
    return -1;
  }
  cgi__buf b = {0};
  if (strcmp(at, "end") == 0) {
    uint32_t pos = c->len;
    if (pos > 0 && c->src[pos - 1] != '\n') {
      cgi__buf_puts(&b, NL);
    }
    cgi__buf_puts(&b, table);
    free(table);
    return cgi__add_edit(c, pos, 0, -1, cgi__buf_take(&b), pos > 0 ? pos - 1 : 0, false);
  }
  /* before the top-level declaration holding the first instrumented function */
  const item *first = &c->items[c->regions[0].item];
  uint32_t pos = ts_node_start_byte(top_level(c, first->node));
  bool at_line_start = pos == cgi__line_start(c, pos);
  if (!at_line_start) {
    cgi__buf_puts(&b, NL);
  }
  cgi__buf_puts(&b, table);
  free(table);
  char *ld = line_directive(c, cgi__row_of(c, pos) + 1);
  if (ld == NULL) {
    cgi__buf_free(&b);
    c->oom = true;
    return -1;
  }
  if (*ld) {
    cgi__buf_printf(&b, "%s%s", ld, NL);
  }
  free(ld);
  return cgi__add_edit(c, pos, 1, -1, cgi__buf_take(&b), pos, false);
}

static int plan_file_begin(ctx *c) {
  const char *tpl = cgi__conf(c, "file_begin");
  if (*tpl == '\0') {
    return 0;
  }
  char *ld = line_directive(c, 1);
  char *q = cgi__quote(c, c->context);
  if (ld == NULL || q == NULL) {
    free(ld);
    free(q);
    c->oom = true;
    return -1;
  }
  var v[] = {{"line_directive", ld}, {"context", q}, {"rt", c->rt}, {"table", c->table}};
  char *t = cgi__expand(c, tpl, v, 4);
  free(ld);
  free(q);
  if (t == NULL) {
    return -1;
  }
  cgi__buf b = {0};
  cgi__buf_printf(&b, "%s%s", t, c->nl);
  free(t);
  /* the first of all openings at offset 0 */
  return cgi__add_edit(c, 0, 1, -2, cgi__buf_take(&b), 0, false);
}

int cgi__plan_brace(ctx *c) {
  bool has_function = false;
  for (size_t r = 0; r < c->n_regions; r++) {
    has_function |= c->regions[r].item >= 0;
  }
  if (!has_function) {
    c->n_regions = 0; /* nothing to measure: the text stays as it is */
    return 0;
  }
  bool own_line = strcmp(cgi__conf(c, "enter_line"), "own") == 0;
  for (size_t r = 0; r < c->n_regions; r++) {
    region *rg = &c->regions[r];
    item *it = &c->items[rg->item];
    if (it->type != IT_FUNCTION) {
      return cgi__fail_at(c, it->start, "loops are not instrumented in %s yet (use -g coarse)",
                          cgi_language_name(c->lang));
    }
    uint32_t open = ts_node_start_byte(it->body), close = ts_node_end_byte(it->body);
    if (close <= open || c->src[open] != '{' || c->src[close - 1] != '}') {
      return cgi__fail_at(c, open,
                          "a function body that is not a block in braces "
                          "(instrumenter limitation)");
    }
    close--; /* the '}' */
    int depth = cgi__node_depth(it->node);
    uint32_t pos = enter_position(c, it->body);
    char *enter = guard_text(c, "enter", rg);
    if (own_line && code_follows(c, pos)) {
      enter = enter_on_own_line(c, enter, pos);
    }
    if (cgi__add_edit(c, pos, 3, depth, enter, pos, false) != 0) {
      return -1;
    }
    char *exit_text = guard_text(c, "exit", rg);
    if (exit_text == NULL) {
      return -1;
    }
    if (*exit_text == '\0') {
      free(exit_text);
    } else if (pos == close) {
      /* an empty body: the exit follows the enter at the same offset */
      if (cgi__add_edit(c, close, 3, depth + 1, exit_text, close, false) != 0) {
        return -1;
      }
    } else if (cgi__add_edit(c, close, 0, depth, exit_text, close, false) != 0) {
      return -1;
    }
  }
  if (plan_table(c) != 0 || plan_file_begin(c) != 0) {
    return -1;
  }
  return 0;
}
