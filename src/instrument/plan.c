/*
 * plan.c - the third stage, its parts every planner shares: the texts written into the program
 * (language.conf templates), the regions (what is measured, in table order), guards and edits,
 * and the suspension points (yield, await) of the functions that have them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

bool cgi__grow(void **p, size_t *cap, size_t n, size_t size) {
  if (n < *cap) {
    return true;
  }
  size_t nc = *cap ? *cap * 2 : 16;
  void *q = realloc(*p, nc * size);
  if (q == NULL) {
    return false;
  }
  *p = q;
  *cap = nc;
  return true;
}

/* ----- templates ----- */

/* Expands {name} placeholders of @p tpl. */
char *cgi__expand(ctx *c, const char *tpl, const var *vars, size_t n_vars) {
  cgi__buf b = {0};
  for (const char *p = tpl; p != NULL && *p != '\0';) {
    const char *open = strchr(p, '{');
    if (open == NULL) {
      cgi__buf_puts(&b, p);
      break;
    }
    const char *close = strchr(open, '}');
    if (close == NULL) {
      cgi__buf_puts(&b, p);
      break;
    }
    cgi__buf_add(&b, p, (size_t)(open - p));
    size_t n = (size_t)(close - open - 1);
    bool found = false;
    for (size_t i = 0; i < n_vars; i++) {
      if (strlen(vars[i].name) == n && strncmp(vars[i].name, open + 1, n) == 0) {
        cgi__buf_puts(&b, vars[i].value);
        found = true;
        break;
      }
    }
    if (!found) {
      /* not a placeholder: keep the brace and read on after it (a template may hold code such
       * as C's "{{name}, {line}}") */
      cgi__buf_add(&b, open, 1);
      p = open + 1;
      continue;
    }
    p = close + 1;
  }
  char *s = cgi__buf_take(&b);
  if (s == NULL) {
    c->oom = true;
  }
  return s;
}

const char *cgi__conf(const ctx *c, const char *key) {
  const char *v = cgi_language_get(c->lang, key);
  return v ? v : "";
}

/* A control character or a byte that is not UTF-8 (a Latin-1 file name in {context}), as the
 * language's byte_escape says: "octal" (C, C++: the byte itself, which __FILE__ and #line need;
 * \ooo, as \x would also take the hex digits that follow) or "unicode" (Python, Java: strings
 * of characters; such a byte is U+FFFD, as the CLI writes it in every output, so a report names
 * a file one way). */
static void put_byte(ctx *c, cgi__buf *b, unsigned char ch, bool invalid) {
  const char *how = cgi__conf(c, "byte_escape");
  if (strcmp(how, "octal") == 0) {
    cgi__buf_printf(b, "\\%03o", ch);
  } else if (strcmp(how, "unicode") == 0) {
    cgi__buf_printf(b, "\\u%04x", invalid ? 0xFFFDu : ch);
  } else {
    cgi__buf_printf(b, "\\x%02x", ch);
  }
}

/* A string literal of the target language (double quotes, backslash escapes, ASCII only). */
char *cgi__quote(ctx *c, const char *s) {
  cgi__buf b = {0};
  const char *q = cgi__conf(c, "string_quote");
  cgi__buf_puts(&b, q);
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    unsigned char ch = *p;
    if (ch == '\\' || (q[0] && ch == (unsigned char)q[0])) {
      cgi__buf_printf(&b, "\\%c", ch);
      p++;
    } else if (ch == '\n' || ch == '\r') { /* never \u000a: Java reads it as a line end */
      cgi__buf_puts(&b, ch == '\n' ? "\\n" : "\\r");
      p++;
    } else if (ch < 0x20 || ch == 0x7F) {
      put_byte(c, &b, ch, false);
      p++;
    } else if (ch < 0x80) {
      cgi__buf_add(&b, (const char *)p, 1);
      p++;
    } else {
      /* decode one UTF-8 sequence; an invalid byte goes to put_byte() */
      uint32_t cp = 0, need = 0;
      if (ch >= 0xC2 && ch <= 0xDF) {
        need = 1, cp = ch & 0x1F;
      } else if (ch >= 0xE0 && ch <= 0xEF) {
        need = 2, cp = ch & 0x0F;
      } else if (ch >= 0xF0 && ch <= 0xF4) {
        need = 3, cp = ch & 0x07;
      }
      bool ok = need > 0;
      for (uint32_t k = 1; ok && k <= need; k++) {
        if ((p[k] & 0xC0) != 0x80) {
          ok = false;
        } else {
          cp = (cp << 6) | (p[k] & 0x3F);
        }
      }
      if (!ok) {
        put_byte(c, &b, ch, true);
        p++;
      } else if (cp <= 0xFFFF) {
        cgi__buf_printf(&b, "\\u%04x", (unsigned)cp);
        p += need + 1;
      } else {
        cgi__buf_printf(&b, "\\U%08x", (unsigned)cp);
        p += need + 1;
      }
    }
  }
  cgi__buf_puts(&b, q);
  char *r = cgi__buf_take(&b);
  if (r == NULL) {
    c->oom = true;
  }
  return r;
}

char *cgi__call_text(ctx *c, const char *which, int index) {
  char idx[16];
  snprintf(idx, sizeof idx, "%d", index);
  var v[] = {{"rt", c->rt}, {"table", c->table}, {"index", idx}};
  return cgi__expand(c, cgi__conf(c, which), v, 3);
}

/* enter/exit calls of @p regions (indices into c->regions), joined by @p sep. */
char *cgi__calls(ctx *c, const char *which, const int *regs, int n, bool reverse, const char *sep) {
  cgi__buf b = {0};
  for (int k = 0; k < n; k++) {
    int r = regs[reverse ? n - 1 - k : k];
    char *t = cgi__call_text(c, which, c->regions[r].index);
    if (t == NULL) {
      cgi__buf_free(&b);
      return NULL;
    }
    if (k > 0) {
      cgi__buf_puts(&b, sep);
    }
    cgi__buf_puts(&b, t);
    free(t);
  }
  char *s = cgi__buf_take(&b);
  if (s == NULL) {
    c->oom = true;
  }
  return s;
}

/* ----- edits and guards ----- */

int cgi__add_edit(ctx *c, uint32_t pos, int cls, int key, char *text, uint32_t anchor,
                  bool line_start_flag) {
  if (text == NULL) {
    c->oom = true;
    return -1;
  }
  if (!PUSH(c, c->edits, c->n_edits, c->cap_edits)) {
    free(text);
    return -1;
  }
  c->edits[c->n_edits] = (edit){.pos = pos,
                                .anchor = anchor,
                                .cls = cls,
                                .key = key,
                                .seq = (uint32_t)c->n_edits,
                                .line_start = line_start_flag,
                                .text = text};
  c->n_edits++;
  return 0;
}

int cgi__add_delete(ctx *c, uint32_t a, uint32_t b) {
  if (b <= a) {
    return 0;
  }
  if (!PUSH(c, c->edits, c->n_edits, c->cap_edits)) {
    return -1;
  }
  c->edits[c->n_edits] =
      (edit){.pos = a, .del_end = b, .anchor = a, .cls = -1, .seq = (uint32_t)c->n_edits};
  c->n_edits++;
  return 0;
}

guard *cgi__new_guard(ctx *c) {
  if (!PUSH(c, c->guards, c->n_guards, c->cap_guards)) {
    return NULL;
  }
  guard *g = &c->guards[c->n_guards++];
  memset(g, 0, sizeof *g);
  return g;
}

static int add_region(ctx *c, int item_index, char *name, const char *kind, TSNode n) {
  region *r = &c->regions[c->n_regions];
  r->item = item_index;
  r->index = (int)c->n_regions;
  r->name = name;
  r->kind = kind;
  TSPoint sp = ts_node_start_point(n), ep = ts_node_end_point(n);
  r->line = (int)sp.row + 1;
  r->column = (int)sp.column + 1;
  r->end_line = (int)ep.row + 1;
  if (item_index >= 0) {
    c->items[item_index].region = (int)c->n_regions;
  }
  return (int)c->n_regions++;
}

/* ----- regions, guards, edits ----- */

/* Regions in source order (the module body first at fine granularity). */
int cgi__make_regions(ctx *c) {
  size_t n = c->n_items + 1;
  c->regions = calloc(n, sizeof *c->regions);
  if (c->regions == NULL) {
    return -1;
  }
  if (c->gran == CGI_FINE && cgi__conf(c, "module_name")[0] != '\0' && !c->module_unguarded) {
    add_region(c, -1, (char *)cgi__conf(c, "module_name"), "module", c->root);
    c->regions[0].line = 1;
    c->regions[0].column = 1;
  }
  for (size_t i = 0; i < c->n_items; i++) {
    item *it = &c->items[i];
    bool in_opaque = false; /* a lambda, or a function left as it is (a JIT compiler's) */
    for (int p = it->parent; p >= 0 && !in_opaque; p = c->items[p].parent) {
      in_opaque = c->items[p].type == IT_OPAQUE;
    }
    if (in_opaque) {
      continue;
    }
    if (it->type == IT_FUNCTION && it->has_body) {
      if (it->skip == NULL && ts_node_has_error(it->node)) {
        it->skip = "syntax"; /* only where on_syntax_error = skip lets such a tree through */
      }
      if (it->skip != NULL) {
        if (!PUSH(c, c->skipped, c->n_skipped, c->cap_skipped)) {
          return -1;
        }
        c->skipped[c->n_skipped++] = (int)i;
        continue;
      }
      /* the def line: the function node itself, not its decorators */
      add_region(c, (int)i, it->qualname, it->kind, it->node);
    } else if (it->type == IT_LOOP && c->gran == CGI_FINE && it->skip != NULL) {
      if (!PUSH(c, c->skipped, c->n_skipped, c->cap_skipped)) {
        return -1;
      }
      c->skipped[c->n_skipped++] = (int)i; /* too deep to guard (plan_indent.c) */
    } else if (it->type == IT_LOOP && c->gran == CGI_FINE) {
      add_region(c, (int)i, it->qualname, "loop", it->node);
    }
  }
  return 0;
}

/* An implicit suspension (async for, async with): the expression is handed to a helper of the
 * support module with the ids of the open spans (innermost first). */
static int plan_wrap(ctx *c, TSNode node, const char *tpl, const int *regs, int n, int depth) {
  if (cgi__is_type(c, node, "wrap_unwrap_types") && ts_node_named_child_count(node) > 0) {
    node = ts_node_named_child(node, 0);
  }
  cgi__buf ids = {0};
  for (int k = 0; k < n; k++) {
    char idx[16];
    snprintf(idx, sizeof idx, "%d", c->regions[regs[k]].index);
    var v[] = {{"rt", c->rt}, {"table", c->table}, {"index", idx}};
    char *t = cgi__expand(c, cgi__conf(c, "id_item"), v, 3);
    if (t == NULL) {
      cgi__buf_free(&ids);
      return -1;
    }
    cgi__buf_printf(&ids, "%s%s", k ? ", " : "", t);
    free(t);
  }
  char *idtext = cgi__buf_take(&ids);
  if (idtext == NULL) {
    c->oom = true;
    return -1;
  }
  var v[] = {{"rt", c->rt}, {"table", c->table}, {"support", c->support}, {"ids", idtext}};
  char *whole = cgi__expand(c, tpl, v, 4);
  free(idtext);
  if (whole == NULL) {
    return -1;
  }
  char *bar = strchr(whole, '|');
  if (bar == NULL) {
    free(whole);
    return cgi__fail_at(c, ts_node_start_byte(node), "wrap template without '|' (language.conf)");
  }
  *bar = '\0';
  char *prefix = strdup(whole), *suffix = strdup(bar + 1);
  free(whole);
  uint32_t s = ts_node_start_byte(node), e = ts_node_end_byte(node);
  c->uses_support = true;
  if (cgi__add_edit(c, s, 3, 2 * depth, prefix, s, false) != 0) {
    free(suffix);
    return -1;
  }
  return cgi__add_edit(c, e, 0, 2 * depth + 1, suffix, e, false);
}

/* Suspension points: the owning function, the regions between, and the form. */
int cgi__plan_suspensions(ctx *c) {
  int *regs = malloc((c->n_items + 2) * sizeof *regs);
  if (regs == NULL) {
    return -1;
  }
  for (size_t i = 0; i < c->n_items; i++) {
    item *y = &c->items[i];
    if (y->type != IT_SUSPEND) {
      continue;
    }
    int n = 0, owner = -1;
    for (int p = y->parent; p >= 0; p = c->items[p].parent) {
      item *q = &c->items[p];
      if (q->type == IT_LOOP) {
        if (q->region >= 0) {
          regs[n++] = q->region;
        }
        continue;
      }
      if (q->type == IT_FUNCTION) {
        owner = p;
      }
      break;
    }
    if (owner < 0 || c->items[owner].region < 0) {
      continue; /* inside a lambda or a class body, or at module level */
    }
    item *f = &c->items[owner];
    regs[n++] = f->region;
    f->n_susp++;
    if (strcmp(y->arg, "yield") == 0) {
      f->generator = true;
    }
    /* regs[0..n) innermost first */
    int depth = cgi__node_depth(y->node);
    char wkey[64];
    snprintf(wkey, sizeof wkey, "wrap.%s", y->arg);
    const char *wrap = cgi_language_get(c->lang, wkey);
    if (wrap != NULL) {
      if (plan_wrap(c, y->node, wrap, regs, n, depth) != 0) {
        free(regs);
        return -1;
      }
      continue;
    }
    /* operand: the last named child */
    uint32_t nc = ts_node_named_child_count(y->node);
    TSNode operand = nc > 0 ? ts_node_named_child(y->node, nc - 1) : (TSNode){{0}, NULL, NULL};
    bool has_operand = nc > 0;

    /* statement form? By the suspension's keywords first ("yield from" -> yield_from), then
     * by its kind. */
    char key[96];
    size_t kw_end = has_operand ? ts_node_start_byte(operand) : ts_node_end_byte(y->node);
    size_t kw_start = ts_node_start_byte(y->node), o = strlen("statement_form.");
    snprintf(key, sizeof key, "statement_form.");
    for (size_t k = kw_start; k < kw_end && o + 1 < sizeof key; k++) {
      char ch = c->src[k];
      if (cgi__is_blank(ch) || ch == '\n' || ch == '\r' || ch == '\\') {
        if (o > strlen("statement_form.") && key[o - 1] != '_') {
          key[o++] = '_';
        }
      } else {
        key[o++] = ch;
      }
    }
    while (o > strlen("statement_form.") && key[o - 1] == '_') {
      o--;
    }
    key[o] = '\0';
    if (cgi_language_get(c->lang, key) == NULL) {
      snprintf(key, sizeof key, "statement_form.%s", y->arg);
    }
    const char *mode = cgi__conf(c, key);
    bool stmt_form = false;
    TSNode stmt = y->node;
    if (strcmp(mode, "always") == 0 || strcmp(mode, "cheap") == 0) {
      TSNode cur = y->node;
      for (;;) {
        TSNode p = ts_node_parent(cur);
        if (ts_node_is_null(p)) {
          break;
        }
        if (cgi__is_type(c, p, "statement_types")) {
          if (cgi__statements(c, p, NULL, 0) == 1) {
            stmt = p;
            stmt_form = true;
          }
          break;
        }
        if (!cgi__is_type(c, p, "value_path_types")) {
          break;
        }
        bool ok = ts_node_named_child_count(p) == 1;
        const char *fields = cgi__conf(c, "value_fields");
        for (const char *fl = fields; !ok && *fl;) {
          while (*fl == ' ') {
            fl++;
          }
          size_t w = strcspn(fl, " ");
          if (w > 0) {
            TSNode fc = ts_node_child_by_field_name(p, fl, (uint32_t)w);
            ok = !ts_node_is_null(fc) && ts_node_eq(fc, cur);
          }
          fl += w;
        }
        if (!ok) {
          break;
        }
        cur = p;
      }
      if (stmt_form && !cgi__alone_on_line(c, ts_node_start_byte(stmt), ts_node_end_byte(stmt))) {
        stmt_form = false;
      }
      if (stmt_form && strcmp(mode, "cheap") == 0 && has_operand) {
        /* no named node of the operand may be of a costly type */
        TSTreeCursor tc = ts_tree_cursor_new(operand);
        bool cheap = true;
        for (;;) {
          TSNode cn = ts_tree_cursor_current_node(&tc);
          if (ts_node_is_named(cn) && cgi__is_type(c, cn, "costly_types")) {
            cheap = false;
            break;
          }
          if (ts_tree_cursor_goto_first_child(&tc)) {
            continue;
          }
          bool moved = false;
          while (!moved) {
            if (ts_tree_cursor_goto_next_sibling(&tc)) {
              moved = true;
            } else if (!ts_tree_cursor_goto_parent(&tc)) {
              break;
            }
          }
          if (!moved) {
            break;
          }
        }
        ts_tree_cursor_delete(&tc);
        stmt_form = cheap;
      }
    }
    if (stmt_form) {
      guard *g = cgi__new_guard(c);
      if (g == NULL) {
        free(regs);
        return -1;
      }
      g->pre = cgi__calls(c, "exit", regs, n, false, cgi__conf(c, "statement_separator"));
      g->post = cgi__calls(c, "enter", regs, n, true, cgi__conf(c, "statement_separator"));
      g->B = cgi__leading_ws(c, ts_node_start_byte(stmt));
      g->first_start = ts_node_start_byte(stmt);
      g->last_end = ts_node_end_byte(stmt);
      g->owner_depth = cgi__node_depth(stmt);
      if (g->pre == NULL || g->post == NULL || g->B == NULL) {
        c->oom = true;
        free(regs);
        return -1;
      }
      continue;
    }
    char *exits = cgi__calls(c, "exit", regs, n, false, cgi__conf(c, "expression_separator"));
    char *enters = cgi__calls(c, "enter", regs, n, true, cgi__conf(c, "expression_separator"));
    if (exits == NULL || enters == NULL) {
      free(exits);
      free(enters);
      free(regs);
      c->oom = true;
      return -1;
    }
    var v[] = {{"exits", exits}, {"enters", enters}};
    uint32_t ys = ts_node_start_byte(y->node), ye = ts_node_end_byte(y->node);
    int rc = cgi__add_edit(c, ys, 3, 2 * depth,
                           cgi__expand(c, cgi__conf(c, "suspend_prefix"), v, 2), ys, false);
    if (rc == 0 && has_operand) {
      uint32_t os = ts_node_start_byte(operand), oe = ts_node_end_byte(operand);
      rc = cgi__add_edit(c, os, 3, 2 * depth + 1,
                         cgi__expand(c, cgi__conf(c, "operand_prefix"), v, 2), os, false);
      if (rc == 0) {
        rc = cgi__add_edit(c, oe, 0, 2 * depth + 1,
                           cgi__expand(c, cgi__conf(c, "operand_suffix"), v, 2), oe, false);
      }
    } else if (rc == 0) {
      rc = cgi__add_edit(c, ye, 0, 2 * depth + 1, cgi__expand(c, cgi__conf(c, "bare_suffix"), v, 2),
                         ye, false);
    }
    free(exits);
    free(enters);
    if (rc != 0) {
      free(regs);
      return -1;
    }
  }
  free(regs);
  return 0;
}

static uint32_t fnv(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) {
    h = (h ^ (unsigned char)*s) * 16777619u;
  }
  return h;
}

int cgi__choose_names(ctx *c) {
  /* names in the instrumented file that the source does not use */
  snprintf(c->rt, sizeof c->rt, "%s", cgi__conf(c, "runtime_name"));
  for (unsigned k = 1; memmem(c->src, c->len, c->rt, strlen(c->rt)) != NULL && k < 1000; k++) {
    snprintf(c->rt, sizeof c->rt, "%s_%u", cgi__conf(c, "runtime_name"), k);
  }
  snprintf(c->tag, sizeof c->tag, "%08x", fnv(c->context));
  var tv[] = {{"rt", c->rt}, {"tag", c->tag}};
  char *table = cgi__expand(c, cgi__conf(c, "table_name"), tv, 2);
  if (table == NULL) {
    return -1;
  }
  snprintf(c->table, sizeof c->table, "%s", table);
  free(table);
  char *support = cgi__expand(c, cgi__conf(c, "support_name"), tv, 2);
  if (support == NULL) {
    return -1;
  }
  snprintf(c->support, sizeof c->support, "%s", support);
  free(support);
  return 0;
}
