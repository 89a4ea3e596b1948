/*
 * engine.c - the entry point: cgi_instrument() runs one source text through the stages described
 * in stages.h (source, collect, plan, emit) and hands the result to the caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

/* ----- the result ----- */

const char *cgi_result_error(const cgi_result *r) {
  if (r == NULL) {
    return "out of memory"; /* cgi_instrument() could not allocate the result itself */
  }
  if (r->error == NULL && r->status == CGI_ENOMEM) {
    return "out of memory"; /* not even the message could be allocated */
  }
  return r->error;
}
int cgi_result_status(const cgi_result *r) {
  return r == NULL ? CGI_ENOMEM : r->status;
}
int cgi_result_error_line(const cgi_result *r) {
  return r->err_line;
}
int cgi_result_error_column(const cgi_result *r) {
  return r->err_col;
}
const char *cgi_result_text(const cgi_result *r, size_t *len) {
  if (len != NULL) {
    *len = r->text_len;
  }
  return r->text;
}
size_t cgi_result_point_count(const cgi_result *r) {
  return r->n_points;
}
const cgi_point *cgi_result_point(const cgi_result *r, size_t i) {
  return i < r->n_points ? &r->points[i] : NULL;
}
size_t cgi_result_left_count(const cgi_result *r) {
  return r->n_left;
}
const cgi_point *cgi_result_left(const cgi_result *r, size_t i) {
  return i < r->n_left ? &r->left[i] : NULL;
}
int cgi_result_uses_support(const cgi_result *r) {
  return r->uses_support;
}
const char *cgi_result_line_map(const cgi_result *r) {
  return r->line_map;
}

void cgi_result_destroy(cgi_result *r) {
  if (r == NULL) {
    return;
  }
  for (size_t i = 0; i < r->n_points; i++) {
    free((char *)r->points[i].name);
  }
  free(r->points);
  for (size_t i = 0; i < r->n_left; i++) {
    free((char *)r->left[i].name);
    free((char *)r->left[i].decorator);
  }
  free(r->left);
  free(r->error);
  free(r->text);
  free(r->line_map);
  free(r);
}

/* ----- planners, by block_style ----- */

static const cgi__planner planners[] = {
    {"indent", cgi__plan_indent, cgi__indent_limits},
    {"brace", cgi__plan_brace, NULL},
};

const cgi__planner *cgi__planner_find(const char *block_style) {
  for (size_t i = 0; block_style != NULL && i < sizeof planners / sizeof planners[0]; i++) {
    if (strcmp(planners[i].block_style, block_style) == 0) {
      return &planners[i];
    }
  }
  return NULL;
}

bool cgi__block_style_known(const char *block_style) {
  return cgi__planner_find(block_style) != NULL;
}

const char *cgi__block_styles(void) {
  static char list[128];
  if (list[0] == '\0') {
    for (size_t i = 0; i < sizeof planners / sizeof planners[0]; i++) {
      size_t used = strlen(list);
      snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "", planners[i].block_style);
    }
  }
  return list;
}

/* ----- the entry point ----- */

static void free_ctx(ctx *c) {
  for (size_t i = 0; i < c->n_items; i++) {
    free(c->items[i].qualname);
    free(c->items[i].leave);
  }
  free(c->items);
  for (size_t i = 0; i < c->n_guards; i++) {
    free(c->guards[i].B);
    free(c->guards[i].pre);
    free(c->guards[i].post);
  }
  free(c->guards);
  for (size_t i = 0; i < c->n_edits; i++) {
    free(c->edits[i].text);
  }
  free(c->edits);
  free(c->regions);
  free(c->skipped);
  free(c->docstrings);
  free(c->not_docstrings);
  free(c->prologue);
  free(c->verb);
  free(c->marks);
  free(c->line_starts);
  free(c->verbatim);
  if (c->tree != NULL && !cgi__arena_holds_all()) { /* else cgi__arena_end() frees it */
    ts_tree_delete(c->tree);
  }
  if (c->back_cd != (iconv_t)-1) {
    iconv_close(c->back_cd);
  }
  free(c->converted);
}

static int cmp_point(const void *x, const void *y) {
  const cgi_point *a = x, *b = y;
  if (a->line != b->line) {
    return a->line < b->line ? -1 : 1;
  }
  return (a->column > b->column) - (a->column < b->column);
}

/* The functions the language leaves as they are (@skip.X, or a syntax error it tolerates), among
 * the left ones (cgi_result_left()), in source order. */
static int add_skipped_points(ctx *c) {
  if (c->n_skipped == 0) {
    return 0;
  }
  for (size_t k = 0; k < c->n_skipped; k++) {
    item *it = &c->items[c->skipped[k]];
    cgi_point *p = &c->res->left[c->res->n_left];
    p->name = strdup(it->qualname);
    if (p->name == NULL) {
      return -1;
    }
    c->res->n_left++;
    char key[96];
    snprintf(key, sizeof key, "skip.%s", it->skip);
    const char *note = cgi_language_get(c->lang, key);
    p->skipped = note != NULL ? note : it->skip;
    p->kind = it->kind != NULL ? it->kind : (it->type == IT_LOOP ? "loop" : "function");
    TSPoint sp = ts_node_start_point(it->node), ep = ts_node_end_point(it->node);
    p->line = (int)sp.row + 1;
    p->column = (int)sp.column + 1;
    p->end_line = (int)ep.row + 1;
    p->index = -1;
    p->flags = CGI_SKIPPED;
  }
  qsort(c->res->left, c->res->n_left, sizeof *c->res->left, cmp_point);
  return 0;
}

int cgi_instrument(const cgi_language *lang, const char *src, size_t len, const cgi_options *opts,
                   cgi_result **out) {
  *out = calloc(1, sizeof **out);
  if (*out == NULL) {
    return CGI_ENOMEM;
  }
  cgi__arena_begin(); /* tree-sitter's memory until the end of this call (arena.c) */
  cgi_options defaults = {CGI_COARSE, "<source>", 0, NULL, NULL};
  if (opts == NULL) {
    opts = &defaults;
  }
  ctx c = {.lang = lang,
           .src = src,
           .len = (uint32_t)len,
           .context = opts->context ? opts->context : "<source>",
           .leave_decorated = opts->leave_decorated,
           .gran = opts->granularity,
           .res = *out,
           .runtime_header = opts->runtime_header,
           .back_cd = (iconv_t)-1};
  int rc = CGI_ESOURCE;
  if (len > UINT32_MAX / 2) {
    cgi__fail_at(&c, 0, "the file is too large");
    goto done;
  }
  if (lang->state != 1) { /* cgi_language_find() hands out loaded languages only */
    cgi__fail_at(&c, 0, "%s", lang->error);
    goto done;
  }
  const cgi__planner *planner = cgi__planner_find(cgi_language_get(lang, "block_style"));
  if (cgi__source_decode(&c) != 0 || cgi__check_bytes(&c) != 0) {
    goto done;
  }
  if (cgi__build_lines(&c) != 0) {
    c.oom = true;
    goto done;
  }
  if (cgi__parse(&c) != 0) {
    goto done;
  }
  if (cgi__collect(&c) != 0) {
    c.oom = true;
    goto done;
  }
  if (cgi__choose_names(&c) != 0) {
    goto done;
  }
  if (planner->prepare != NULL && planner->prepare(&c) != 0) {
    c.oom = true;
    goto done;
  }
  if (cgi__make_regions(&c) != 0) {
    c.oom = true;
    goto done;
  }
  if (planner->plan(&c) != 0 || c.oom) {
    goto done;
  }
  if (cgi__emit(&c, opts->line_map != 0) != 0) {
    c.oom = true;
    goto done;
  }
  if (cgi__source_encode(&c) != 0) {
    goto done;
  }
  (*out)->points = calloc(c.n_regions ? c.n_regions : 1, sizeof *(*out)->points);
  if ((*out)->points == NULL) {
    c.oom = true;
    goto done;
  }
  for (size_t r = 0; r < c.n_regions; r++) {
    region *rg = &c.regions[r];
    cgi_point *p = &(*out)->points[r];
    p->name = strdup(rg->name);
    if (p->name == NULL) {
      c.oom = true;
      goto done;
    }
    (*out)->n_points++;
    p->kind = rg->kind;
    p->line = rg->line;
    p->column = rg->column;
    p->end_line = rg->end_line;
    p->index = rg->index;
    if (rg->item >= 0) {
      item *it = &c.items[rg->item];
      p->flags = (it->async ? CGI_ASYNC : 0) | (it->generator ? CGI_GENERATOR : 0);
      p->suspensions = it->n_susp;
    }
  }
  (*out)->left = calloc(c.n_items ? c.n_items : 1, sizeof *(*out)->left);
  if ((*out)->left == NULL) {
    c.oom = true;
    goto done;
  }
  for (size_t i = 0; i < c.n_items; i++) {
    item *it = &c.items[i];
    if (it->leave == NULL) {
      continue;
    }
    cgi_point *p = &(*out)->left[(*out)->n_left];
    p->name = strdup(it->qualname);
    p->decorator = strdup(it->leave);
    if (p->name == NULL || p->decorator == NULL) {
      free((char *)p->name);
      free((char *)p->decorator);
      c.oom = true;
      goto done;
    }
    (*out)->n_left++;
    p->kind = it->kind;
    TSPoint sp = ts_node_start_point(it->node), ep = ts_node_end_point(it->node);
    p->line = (int)sp.row + 1;
    p->column = (int)sp.column + 1;
    p->end_line = (int)ep.row + 1;
    p->index = -1;
  }
  if (add_skipped_points(&c) != 0) {
    c.oom = true;
    goto done;
  }
  (*out)->uses_support = c.uses_support;
  rc = CGI_OK;
done:
  /* Every stage names a real failure with cgi__fail_at(); one that failed without saying why ran
   * out of memory. And whatever else went wrong, memory ran out first or on the way. */
  if (c.oom || (rc != CGI_OK && (*out)->error == NULL)) {
    rc = CGI_ENOMEM;
    free((*out)->error);
    (*out)->error = NULL;
    if (asprintf(&(*out)->error, "%s: out of memory", c.context) < 0) {
      (*out)->error = NULL; /* cgi_result_error() still says "out of memory" */
    }
  }
  (*out)->status = rc;
  if (rc != 0) {
    free((*out)->text);
    (*out)->text = NULL;
    free((*out)->line_map);
    (*out)->line_map = NULL;
  }
  free_ctx(&c);
  cgi__arena_end();
  return rc;
}
