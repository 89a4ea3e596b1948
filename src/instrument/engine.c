/*
 * engine.c - instruments one source text: parse, query, plan, emit.
 *
 * 1. Check the bytes (UTF-8, no NUL, no lone CR line ends) and parse with tree-sitter; any ERROR
 *    or MISSING node refuses the file with its line and column.
 * 2. Run the language's query. Captures become ITEMS (functions, classes, opaque expressions such
 *    as lambdas, loops, suspension points); a sweep over their byte ranges gives each item its
 *    innermost container, hence qualified names, the function owning each yield/await and the
 *    loops between them.
 * 3. Plan. Each instrumented REGION (a function body; at fine granularity also each loop and the
 *    module body) becomes a GUARD: "enter" then "try:" before its statements, "finally:" and
 *    "exit" after them, the statements re-indented one level. A suspension point either becomes a
 *    guard of its own (statement form: exits / try: STATEMENT / finally: enters) or is wrapped in
 *    place (expression form: ((yield (VALUE, exits)[0]), enters)[0]).
 * 4. Emit. Everything is an insertion (or the deletion of blanks before a statement moved onto a
 *    line of its own) at a byte offset of the original; insertions at the same offset are
 *    ordered so that closings come innermost first and openings outermost first. Re-indentation
 *    inserts the unit U once per enclosing guard at the start of each line, after any form feed,
 *    never on a line that starts inside a string. U is a tab when any indentation holds a tab
 *    (a tab at the start shifts Python's column by 8 and its alternate column by 1, whatever
 *    follows, so every comparison of indentation keeps its result), else the file's own number of
 *    spaces. Every emitted byte is recorded in the line map with the original position it comes
 *    from, so compiled code can keep the user's lines and columns.
 */
#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine.h"

/* ----- result ----- */

struct cgi_result {
  char *error;
  int err_line, err_col;
  char *text;
  size_t text_len;
  cgi_point *points;
  size_t n_points;
  char *line_map;
  bool uses_support;
};

const char *cgi_result_error(const cgi_result *r) {
  return r->error;
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
  free(r->error);
  free(r->text);
  free(r->line_map);
  free(r);
}

/* ----- working state ----- */

typedef enum { IT_FUNCTION, IT_CLASS, IT_OPAQUE, IT_LOOP, IT_SUSPEND } item_type;

typedef struct item {
  item_type type;
  TSNode node;
  uint32_t start, end;
  int parent; /* innermost containing item, or -1 */
  TSNode name, body;
  bool has_name, has_body;
  const char *arg;  /* suspension kind or loop label (owned by the language) */
  const char *kind; /* @kind.X of a function */
  bool async, generator;
  int n_susp;
  char *qualname; /* functions, classes, loops */
  int region;     /* index of the region, or -1 */
} item;

typedef struct region {
  int item;   /* -1 for the module body */
  int index;  /* in the id table */
  char *name; /* borrowed from the item, or owned for the module */
  const char *kind;
  int line, column, end_line;
} region;

typedef struct guard {
  uint32_t first_start, last_end; /* the wrapped statements (first_start only for empty guards) */
  uint32_t empty_pos;             /* empty guards: where enter/exit go */
  int owner_depth;                /* tree depth of what the guard belongs to */
  int a;                          /* guards around this one */
  bool split, inline_block, empty;
  char *B;          /* the block's indentation in the original (inline: header + U) */
  char *pre, *post; /* statement-form texts before "try:" and in "finally:" */
} guard;

typedef struct edit {
  uint32_t pos;
  uint32_t del_end; /* > pos: deletes [pos, del_end) */
  uint32_t anchor;  /* the original position inserted text stands for */
  int cls;          /* -1 deletion, 0 closing, 1 line opening, 2 indentation, 3 inline opening */
  int key;
  uint32_t seq;
  bool line_start; /* the text must start a line */
  char *text;
} edit;

struct ctx;
typedef struct ctx {
  const struct cgi_language *lang;
  const char *src;
  uint32_t len;
  const char *context;
  cgi_granularity gran;
  cgi_result *res;
  TSTree *tree;
  TSNode root;

  uint32_t *line_starts; /* line_starts[r] = offset of row r; n_lines entries */
  uint32_t n_lines;
  bool *verbatim; /* per row: the row starts inside a verbatim node */
  const char *nl; /* "\n" or "\r\n" */
  char U[16];     /* one indentation unit */

  item *items;
  size_t n_items, cap_items;
  /* node sets by id */
  const void **docstrings, **not_docstrings, **prologue;
  size_t n_doc, n_notdoc, n_pro, cap_doc, cap_notdoc, cap_pro;
  struct {
    uint32_t start, end;
  } * verb;
  size_t n_verb, cap_verb;
  struct {
    const void *id;
    int async;
    const char *kind;
  } * marks;
  size_t n_marks, cap_marks;

  region *regions;
  size_t n_regions;
  guard *guards;
  size_t n_guards, cap_guards;
  edit *edits;
  size_t n_edits, cap_edits;

  char rt[64], table[96], tag[16], support[96];
  bool uses_support;
  bool oom;
} ctx;

static bool grow(void **p, size_t *cap, size_t n, size_t size) {
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
#define PUSH(c, arr, n, cap)                                                                       \
  (grow((void **)&(arr), &(cap), (n), sizeof *(arr)) || ((c)->oom = true, false))

static int fail_at(ctx *c, uint32_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(ctx *c, uint32_t offset, const char *fmt, ...) {
  /* line and column (in characters, 1-based) of the offset */
  int line = 1, col = 1;
  for (uint32_t i = 0; i < offset && i < c->len; i++) {
    if (c->src[i] == '\n') {
      line++;
      col = 1;
    } else if (((unsigned char)c->src[i] & 0xC0) != 0x80) {
      col++;
    }
  }
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  free(c->res->error);
  c->res->error = NULL;
  if (asprintf(&c->res->error, "%s:%d:%d: %s", c->context, line, col, msg) < 0) {
    c->res->error = NULL;
  }
  c->res->err_line = line;
  c->res->err_col = col;
  return -1;
}

static bool is_type(const struct ctx *c, TSNode n, const char *key);

/* ----- bytes ----- */

/* Checks UTF-8, NUL bytes and line ends. @return 0 or -1 (error set). */
static int check_bytes(ctx *c) {
  const unsigned char *s = (const unsigned char *)c->src;
  uint32_t n = c->len;
  for (uint32_t i = 0; i < n;) {
    unsigned char b = s[i];
    if (b == 0) {
      return fail_at(c, i, "the file contains a NUL byte; it is not a source file");
    }
    if (b == '\r' && (i + 1 >= n || s[i + 1] != '\n')) {
      return fail_at(c, i,
                     "a carriage return that does not end a CR LF line end; convert the "
                     "file to LF or CR LF line ends");
    }
    if (b < 0x80) {
      i++;
      continue;
    }
    uint32_t need;
    uint32_t cp;
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
      cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      cp = b & 0x07;
    } else {
      goto bad;
    }
    for (uint32_t k = 1; k <= need; k++) {
      if (i + k >= n || (s[i + k] & 0xC0) != 0x80) {
        goto bad;
      }
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (need == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
      goto bad;
    }
    i += need + 1;
    continue;
  bad:
    return fail_at(c, i,
                   "not valid UTF-8 (byte 0x%02X); codegreen reads source files as UTF-8: "
                   "convert the file, for example with iconv -f latin1 -t utf-8",
                   b);
  }
  return 0;
}

static int build_lines(ctx *c) {
  uint32_t n = 1;
  for (uint32_t i = 0; i < c->len; i++) {
    n += c->src[i] == '\n';
  }
  c->line_starts = malloc((n + 1) * sizeof *c->line_starts);
  c->verbatim = calloc(n + 1, sizeof *c->verbatim);
  if (c->line_starts == NULL || c->verbatim == NULL) {
    return -1;
  }
  uint32_t r = 0;
  c->line_starts[r++] = 0;
  for (uint32_t i = 0; i < c->len; i++) {
    if (c->src[i] == '\n') {
      c->line_starts[r++] = i + 1;
    }
  }
  c->line_starts[n] = c->len + 1; /* sentinel */
  c->n_lines = n;
  const char *first = memchr(c->src, '\n', c->len);
  c->nl = first != NULL && first > c->src && first[-1] == '\r' ? "\r\n" : "\n";
  return 0;
}

static uint32_t row_of(const ctx *c, uint32_t off) {
  uint32_t lo = 0, hi = c->n_lines - 1;
  while (lo < hi) {
    uint32_t mid = (lo + hi + 1) / 2;
    if (c->line_starts[mid] <= off) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

static uint32_t line_start(const ctx *c, uint32_t off) {
  return c->line_starts[row_of(c, off)];
}

static bool is_blank_char(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\f';
}

/* Is @p pos the first token of a logical line: only blanks before it on its physical line, and
 * that line not the continuation of a backslash-ended one? */
static bool at_logical_line_start(const ctx *c, uint32_t pos) {
  uint32_t i = pos;
  while (i > 0 && is_blank_char(c->src[i - 1])) {
    i--;
  }
  if (i == 0) {
    return true;
  }
  if (c->src[i - 1] != '\n') {
    return false;
  }
  uint32_t j = i - 1; /* the '\n' */
  if (j > 0 && c->src[j - 1] == '\r') {
    j--;
  }
  if (!(j > 0 && c->src[j - 1] == '\\')) {
    return true;
  }
  /* a backslash at the end of a comment continues nothing */
  TSNode n = ts_node_descendant_for_byte_range(c->root, j - 1, j);
  return !ts_node_is_null(n) && is_type(c, n, "line_comment_types");
}

/* The end of the logical line that a statement ending at @p end closes: the offset after its
 * newline, or the file's length. -1 if something other than blanks, a comment or a trailing ';'
 * follows on the line. */
static int64_t logical_line_end(const ctx *c, uint32_t end) {
  uint32_t i = end;
  for (;;) {
    while (i < c->len && (is_blank_char(c->src[i]) || c->src[i] == ';')) {
      i++;
    }
    if (i >= c->len) {
      return c->len;
    }
    char ch = c->src[i];
    if (ch == '#') {
      while (i < c->len && c->src[i] != '\n') {
        i++;
      }
      return i < c->len ? i + 1 : c->len;
    }
    if (ch == '\\') {
      uint32_t k = i + 1;
      if (k < c->len && c->src[k] == '\r') {
        k++;
      }
      if (k < c->len && c->src[k] == '\n') {
        i = k + 1;
        continue;
      }
      return -1;
    }
    if (ch == '\r' || ch == '\n') {
      while (i < c->len && c->src[i] != '\n') {
        i++;
      }
      return i < c->len ? i + 1 : c->len;
    }
    return -1;
  }
}

/* Is the statement [start, end) alone on its line(s)? */
static bool alone_on_line(const ctx *c, uint32_t start, uint32_t end) {
  if (!at_logical_line_start(c, start)) {
    return false;
  }
  uint32_t i = end;
  while (i < c->len && is_blank_char(c->src[i])) {
    i++;
  }
  return i >= c->len || c->src[i] == '#' || c->src[i] == '\r' || c->src[i] == '\n';
}

/* The leading blanks of the line holding @p pos, as a new string. */
static char *leading_ws(const ctx *c, uint32_t pos) {
  uint32_t a = line_start(c, pos), b = a;
  while (b < c->len && is_blank_char(c->src[b])) {
    b++;
  }
  return strndup(c->src + a, b - a);
}

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

static int node_depth(TSNode n) {
  int d = 0;
  for (TSNode p = ts_node_parent(n); !ts_node_is_null(p); p = ts_node_parent(p)) {
    d++;
  }
  return d;
}

static bool is_type(const struct ctx *c, TSNode n, const char *key) {
  return cgi__conf_has_word(c->lang, key, ts_node_type(n));
}

/* The statements of a block: its named children that are not comments. */
static uint32_t statements(const ctx *c, TSNode block, TSNode *out, uint32_t cap) {
  uint32_t n = 0, count = ts_node_named_child_count(block);
  for (uint32_t i = 0; i < count; i++) {
    TSNode ch = ts_node_named_child(block, i);
    if (is_type(c, ch, "comment_types")) {
      continue;
    }
    if (out != NULL && n < cap) {
      out[n] = ch;
    }
    n++;
  }
  return n;
}

static int cmp_ptr(const void *x, const void *y) {
  uintptr_t a = (uintptr_t) * (const void *const *)x, b = (uintptr_t) * (const void *const *)y;
  return (a > b) - (a < b);
}

/* Membership in a set of node ids sorted by sort_set(). */
static bool in_set(const void *const *set, size_t n, const void *id) {
  return n > 0 && bsearch(&id, set, n, sizeof *set, cmp_ptr) != NULL;
}

static void sort_set(const void **set, size_t n) {
  if (n > 1) {
    qsort(set, n, sizeof *set, cmp_ptr);
  }
}

static bool is_docstring(const ctx *c, TSNode stmt) {
  return in_set(c->docstrings, c->n_doc, stmt.id) &&
         !in_set(c->not_docstrings, c->n_notdoc, stmt.id);
}

/* ----- templates ----- */

typedef struct var {
  const char *name, *value;
} var;

/* Expands {name} placeholders of @p tpl. */
static char *expand(ctx *c, const char *tpl, const var *vars, size_t n_vars) {
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
      cgi__buf_add(&b, open, n + 2);
    }
    p = close + 1;
  }
  char *s = cgi__buf_take(&b);
  if (s == NULL) {
    c->oom = true;
  }
  return s;
}

static const char *conf(const ctx *c, const char *key) {
  const char *v = cgi_language_get(c->lang, key);
  return v ? v : "";
}

/* A string literal of the target language (double quotes, backslash escapes, ASCII only). */
static char *quote(ctx *c, const char *s) {
  cgi__buf b = {0};
  const char *q = conf(c, "string_quote");
  cgi__buf_puts(&b, q);
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    unsigned char ch = *p;
    if (ch == '\\' || (q[0] && ch == (unsigned char)q[0])) {
      cgi__buf_printf(&b, "\\%c", ch);
      p++;
    } else if (ch == '\n') {
      cgi__buf_puts(&b, "\\n");
      p++;
    } else if (ch < 0x20 || ch == 0x7F) {
      cgi__buf_printf(&b, "\\x%02x", ch);
      p++;
    } else if (ch < 0x80) {
      cgi__buf_add(&b, (const char *)p, 1);
      p++;
    } else {
      /* decode one UTF-8 sequence; invalid bytes become \xNN */
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
        cgi__buf_printf(&b, "\\x%02x", ch);
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

static char *call_text(ctx *c, const char *which, int index) {
  char idx[16];
  snprintf(idx, sizeof idx, "%d", index);
  var v[] = {{"rt", c->rt}, {"table", c->table}, {"index", idx}};
  return expand(c, conf(c, which), v, 3);
}

/* enter/exit calls of @p regions (indices into c->regions), joined by @p sep. */
static char *calls(ctx *c, const char *which, const int *regs, int n, bool reverse,
                   const char *sep) {
  cgi__buf b = {0};
  for (int k = 0; k < n; k++) {
    int r = regs[reverse ? n - 1 - k : k];
    char *t = call_text(c, which, c->regions[r].index);
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

/* ----- collecting ----- */

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

static int collect(ctx *c) {
  const struct cgi_language *L = c->lang;
  TSQueryCursor *qc = ts_query_cursor_new();
  if (qc == NULL) {
    return -1;
  }
  ts_query_cursor_exec(qc, L->query, c->root);
  TSQueryMatch m;
  while (ts_query_cursor_next_match(qc, &m)) {
    if (!cgi__match_passes(L, &m, c->src)) {
      continue;
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
        idx = add_item(c, role == ROLE_SUSPEND ? IT_SUSPEND : IT_LOOP, n);
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
        c->marks[c->n_marks].id = n.id;
        c->marks[c->n_marks].async = role == ROLE_ASYNC;
        c->marks[c->n_marks].kind = role == ROLE_KIND ? L->role_arg[cap] : NULL;
        c->n_marks++;
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
  }
  ts_query_cursor_delete(qc);
  return 0;
oom:
  ts_query_cursor_delete(qc);
  c->oom = true;
  return -1;
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
  return t != IT_SUSPEND;
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
      if (c->marks[k].async) {
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
static int scope_of(const ctx *c, int i) {
  int p = c->items[i].parent;
  while (p >= 0 && c->items[p].type == IT_LOOP) {
    p = c->items[p].parent;
  }
  return p;
}

static int name_items(ctx *c) {
  const char *cls_sep = conf(c, "class_separator"), *fn_sep = conf(c, "nested_separator");
  for (size_t i = 0; i < c->n_items; i++) {
    item *it = &c->items[i];
    if (it->type != IT_FUNCTION && it->type != IT_CLASS && it->type != IT_LOOP) {
      continue;
    }
    int s = scope_of(c, (int)i);
    const char *outer = s >= 0 ? c->items[s].qualname : NULL;
    cgi__buf b = {0};
    if (it->type == IT_LOOP) {
      char *label = NULL;
      var v[] = {{"scope", outer ? outer : conf(c, "module_name")}, {"label", it->arg}};
      label = expand(c, conf(c, "loop_name"), v, 2);
      if (label == NULL) {
        return -1;
      }
      it->qualname = label;
      continue;
    }
    if (outer != NULL && c->items[s].type != IT_OPAQUE) {
      cgi__buf_puts(&b, outer);
      cgi__buf_puts(&b, c->items[s].type == IT_CLASS ? cls_sep : fn_sep);
    }
    if (it->has_name) {
      uint32_t a = ts_node_start_byte(it->name), e = ts_node_end_byte(it->name);
      cgi__buf_add(&b, c->src + a, e - a);
    } else {
      cgi__buf_puts(&b, "?");
    }
    it->qualname = cgi__buf_take(&b);
    if (it->qualname == NULL) {
      return -1;
    }
    if (it->type == IT_FUNCTION && it->kind == NULL) {
      it->kind = s >= 0 && c->items[s].type == IT_CLASS      ? "method"
                 : s >= 0 && c->items[s].type == IT_FUNCTION ? "nested function"
                                                             : "function";
    }
  }
  return 0;
}

/* ----- planning ----- */

static int add_edit(ctx *c, uint32_t pos, int cls, int key, char *text, uint32_t anchor,
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

static int add_delete(ctx *c, uint32_t a, uint32_t b) {
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

static guard *new_guard(ctx *c) {
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

/* Where the module's own code starts: the first statement that is neither the docstring nor in
 * the prologue. Sets *first_stmt (null node if none). */
static TSNode module_first(const ctx *c, TSNode *after_prologue_end) {
  uint32_t n = statements(c, c->root, NULL, 0);
  TSNode *st = malloc((n ? n : 1) * sizeof *st);
  TSNode none = {{0}, NULL, NULL};
  *after_prologue_end = none;
  if (st == NULL) {
    return none;
  }
  statements(c, c->root, st, n);
  uint32_t i = 0;
  if (i < n && is_docstring(c, st[i])) {
    *after_prologue_end = st[i];
    i++;
  }
  while (i < n && in_set(c->prologue, c->n_pro, st[i].id)) {
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
  guard *g = new_guard(c);
  if (g == NULL) {
    free(pre);
    free(post);
    return -1;
  }
  g->pre = pre;
  g->post = post;
  g->owner_depth = owner_depth;
  uint32_t k = allow_docstring && n > 0 && is_docstring(c, st[0]) ? 1 : 0;
  g->inline_block = n > 0 && !at_logical_line_start(c, ts_node_start_byte(st[0]));
  if (g->inline_block) {
    char *D = leading_ws(c, header);
    g->B = D ? indent_with(c, D, 1) : NULL;
    free(D);
  } else {
    g->B = leading_ws(c, n > 0 ? ts_node_start_byte(st[0]) : header);
  }
  if (g->B == NULL) {
    c->oom = true;
    return -1;
  }
  if (k >= n) {
    g->empty = true;
    uint32_t doc_end = ts_node_end_byte(st[0]);
    int64_t e = logical_line_end(c, doc_end);
    if (e < 0) {
      return fail_at(c, doc_end, "cannot find the end of this line (instrumenter limitation)");
    }
    g->empty_pos = (uint32_t)e;
    g->first_start = ts_node_start_byte(st[0]);
    g->last_end = doc_end;
    return 0;
  }
  g->first_start = ts_node_start_byte(st[k]);
  g->last_end = ts_node_end_byte(st[n - 1]);
  g->split = !at_logical_line_start(c, g->first_start);
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

/* Regions in source order (the module body first at fine granularity). */
static int make_regions(ctx *c) {
  size_t n = c->n_items + 1;
  c->regions = calloc(n, sizeof *c->regions);
  if (c->regions == NULL) {
    return -1;
  }
  if (c->gran == CGI_FINE) {
    add_region(c, -1, (char *)conf(c, "module_name"), "module", c->root);
    c->regions[0].line = 1;
    c->regions[0].column = 1;
  }
  for (size_t i = 0; i < c->n_items; i++) {
    item *it = &c->items[i];
    if (it->type == IT_FUNCTION && it->has_body) {
      int s = scope_of(c, (int)i);
      if (s >= 0 && c->items[s].type == IT_OPAQUE) {
        continue;
      }
      /* the def line: the function node itself, not its decorators */
      add_region(c, (int)i, it->qualname, it->kind, it->node);
    } else if (it->type == IT_LOOP && c->gran == CGI_FINE) {
      add_region(c, (int)i, it->qualname, "loop", it->node);
    }
  }
  return 0;
}

/* An implicit suspension (async for, async with): the expression is handed to a helper of the
 * support module with the ids of the open spans (innermost first). */
static int plan_wrap(ctx *c, TSNode node, const char *tpl, const int *regs, int n, int depth) {
  if (is_type(c, node, "wrap_unwrap_types") && ts_node_named_child_count(node) > 0) {
    node = ts_node_named_child(node, 0);
  }
  cgi__buf ids = {0};
  for (int k = 0; k < n; k++) {
    char idx[16];
    snprintf(idx, sizeof idx, "%d", c->regions[regs[k]].index);
    var v[] = {{"rt", c->rt}, {"table", c->table}, {"index", idx}};
    char *t = expand(c, conf(c, "id_item"), v, 3);
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
  char *whole = expand(c, tpl, v, 4);
  free(idtext);
  if (whole == NULL) {
    return -1;
  }
  char *bar = strchr(whole, '|');
  if (bar == NULL) {
    free(whole);
    return fail_at(c, ts_node_start_byte(node), "wrap template without '|' (language.conf)");
  }
  *bar = '\0';
  char *prefix = strdup(whole), *suffix = strdup(bar + 1);
  free(whole);
  uint32_t s = ts_node_start_byte(node), e = ts_node_end_byte(node);
  c->uses_support = true;
  if (add_edit(c, s, 3, 2 * depth, prefix, s, false) != 0) {
    free(suffix);
    return -1;
  }
  return add_edit(c, e, 0, 2 * depth + 1, suffix, e, false);
}

/* Suspension points: the owning function, the regions between, and the form. */
static int plan_suspensions(ctx *c) {
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
    int depth = node_depth(y->node);
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
      if (is_blank_char(ch) || ch == '\n' || ch == '\r' || ch == '\\') {
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
    const char *mode = conf(c, key);
    bool stmt_form = false;
    TSNode stmt = y->node;
    if (strcmp(mode, "always") == 0 || strcmp(mode, "cheap") == 0) {
      TSNode cur = y->node;
      for (;;) {
        TSNode p = ts_node_parent(cur);
        if (ts_node_is_null(p)) {
          break;
        }
        if (is_type(c, p, "statement_types")) {
          if (statements(c, p, NULL, 0) == 1) {
            stmt = p;
            stmt_form = true;
          }
          break;
        }
        if (!is_type(c, p, "value_path_types")) {
          break;
        }
        bool ok = ts_node_named_child_count(p) == 1;
        const char *fields = conf(c, "value_fields");
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
      if (stmt_form && !alone_on_line(c, ts_node_start_byte(stmt), ts_node_end_byte(stmt))) {
        stmt_form = false;
      }
      if (stmt_form && strcmp(mode, "cheap") == 0 && has_operand) {
        /* no named node of the operand may be of a costly type */
        TSTreeCursor tc = ts_tree_cursor_new(operand);
        bool cheap = true;
        for (;;) {
          TSNode cn = ts_tree_cursor_current_node(&tc);
          if (ts_node_is_named(cn) && is_type(c, cn, "costly_types")) {
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
      guard *g = new_guard(c);
      if (g == NULL) {
        free(regs);
        return -1;
      }
      g->pre = calls(c, "exit", regs, n, false, conf(c, "statement_separator"));
      g->post = calls(c, "enter", regs, n, true, conf(c, "statement_separator"));
      g->B = leading_ws(c, ts_node_start_byte(stmt));
      g->first_start = ts_node_start_byte(stmt);
      g->last_end = ts_node_end_byte(stmt);
      g->owner_depth = node_depth(stmt);
      if (g->pre == NULL || g->post == NULL || g->B == NULL) {
        c->oom = true;
        free(regs);
        return -1;
      }
      continue;
    }
    char *exits = calls(c, "exit", regs, n, false, conf(c, "expression_separator"));
    char *enters = calls(c, "enter", regs, n, true, conf(c, "expression_separator"));
    if (exits == NULL || enters == NULL) {
      free(exits);
      free(enters);
      free(regs);
      c->oom = true;
      return -1;
    }
    var v[] = {{"exits", exits}, {"enters", enters}};
    uint32_t ys = ts_node_start_byte(y->node), ye = ts_node_end_byte(y->node);
    int rc = add_edit(c, ys, 3, 2 * depth, expand(c, conf(c, "suspend_prefix"), v, 2), ys, false);
    if (rc == 0 && has_operand) {
      uint32_t os = ts_node_start_byte(operand), oe = ts_node_end_byte(operand);
      rc = add_edit(c, os, 3, 2 * depth + 1, expand(c, conf(c, "operand_prefix"), v, 2), os, false);
      if (rc == 0) {
        rc = add_edit(c, oe, 0, 2 * depth + 1, expand(c, conf(c, "operand_suffix"), v, 2), oe,
                      false);
      }
    } else if (rc == 0) {
      rc = add_edit(c, ye, 0, 2 * depth + 1, expand(c, conf(c, "bare_suffix"), v, 2), ye, false);
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

static int plan_regions(ctx *c) {
  for (size_t r = 0; r < c->n_regions; r++) {
    region *rg = &c->regions[r];
    if (rg->item < 0) {
      continue; /* the module body: planned with the prelude */
    }
    item *it = &c->items[rg->item];
    char *pre = call_text(c, "enter", rg->index);
    char *post = call_text(c, "exit", rg->index);
    if (it->type == IT_LOOP) {
      /* the loop statement as a whole */
      guard *g = new_guard(c);
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
      g->owner_depth = node_depth(it->node);
      g->B = leading_ws(c, it->start);
      if (g->B == NULL) {
        c->oom = true;
        return -1;
      }
      if (!at_logical_line_start(c, it->start)) {
        return fail_at(c, it->start,
                       "a loop that does not start its line (instrumenter "
                       "limitation)");
      }
      continue;
    }
    uint32_t n = statements(c, it->body, NULL, 0);
    TSNode *st = malloc((n ? n : 1) * sizeof *st);
    if (st == NULL) {
      free(pre);
      free(post);
      return -1;
    }
    statements(c, it->body, st, n);
    if (n == 0) {
      free(st);
      free(pre);
      free(post);
      return fail_at(c, it->start, "a function without statements");
    }
    int rc = plan_body(c, st, n, true, it->start, node_depth(it->node), pre, post);
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
    const char *tb = conf(c, "guard_begin"), *te = conf(c, "guard_end");
    cgi__buf b = {0};
    int rc = 0;
    if (g->empty) {
      if (g->inline_block) {
        /* move the docstring (starting at first_start) onto its own line */
        uint32_t ws = g->first_start;
        while (ws > 0 && is_blank_char(c->src[ws - 1])) {
          ws--;
        }
        rc |= add_delete(c, ws, g->first_start);
        cgi__buf_printf(&b, "%s%s", NL, W);
        rc |= add_edit(c, g->first_start, 1, g->owner_depth, cgi__buf_take(&b), g->first_start,
                       false);
      }
      /* ordered as a closing: it ends the function, before whatever encloses it closes */
      cgi__buf_printf(&b, "%s%s%s%s%s%s", W, g->pre, NL, W, g->post, NL);
      rc |= add_edit(c, g->empty_pos, 0, g->owner_depth, cgi__buf_take(&b), g->last_end, true);
    } else {
      if (g->split) {
        uint32_t ws = g->first_start;
        while (ws > 0 && is_blank_char(c->src[ws - 1])) {
          ws--;
        }
        rc |= add_delete(c, ws, g->first_start);
        cgi__buf_printf(&b, "%s%s%s%s%s%s%s%s", NL, W, g->pre, NL, W, tb, NL, W1);
        rc |= add_edit(c, g->first_start, 1, g->owner_depth, cgi__buf_take(&b), g->first_start,
                       false);
      } else {
        cgi__buf_printf(&b, "%s%s%s%s%s%s", W, g->pre, NL, W, tb, NL);
        rc |= add_edit(c, line_start(c, g->first_start), 1, g->owner_depth, cgi__buf_take(&b),
                       g->first_start, true);
      }
      int64_t e = logical_line_end(c, g->last_end);
      if (e < 0) {
        free(W);
        free(W1);
        return fail_at(c, g->last_end,
                       "cannot find the end of this statement's line "
                       "(instrumenter limitation)");
      }
      cgi__buf_printf(&b, "%s%s%s%s%s%s", W, te, NL, W1, g->post, NL);
      rc |= add_edit(c, (uint32_t)e, 0, g->owner_depth, cgi__buf_take(&b), g->last_end, true);
      /* rows re-indented by this guard */
      if (!g->inline_block) {
        uint32_t r0 = row_of(c, g->first_start) + (g->split ? 1 : 0);
        uint32_t r1 = row_of(c, (uint32_t)e > 0 ? (uint32_t)e - 1 : 0);
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
    uint32_t n = statements(c, it->body, st, 2);
    if (n < 2 || !is_docstring(c, st[0]) || at_logical_line_start(c, ts_node_start_byte(st[0]))) {
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
    while (ws > 0 && is_blank_char(c->src[ws - 1])) {
      ws--;
    }
    cgi__buf b = {0};
    cgi__buf_printf(&b, "%s%s", c->nl, W);
    free(W);
    if (add_delete(c, ws, ds) != 0 ||
        add_edit(c, ds, 1, g->owner_depth, cgi__buf_take(&b), ds, false) != 0) {
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
    return fail_at(c, 0, "nothing to instrument after the module's prologue");
  }
  uint32_t P = ts_node_start_byte(first);
  bool split = !at_logical_line_start(c, P);
  const char *NL = c->nl;
  cgi__buf b = {0};
  var v0[] = {{"rt", c->rt}, {"table", c->table}, {"context", c->context}};
  char *prelude = expand(c, conf(c, "prelude"), v0, 3);
  char *tb = expand(c, conf(c, "table_begin"), v0, 3);
  char *te = expand(c, conf(c, "table_end"), v0, 3);
  if (prelude == NULL || tb == NULL || te == NULL) {
    free(prelude);
    free(tb);
    free(te);
    return -1;
  }
  if (split) {
    cgi__buf_puts(&b, NL);
  }
  const char *cm = conf(c, "comment_prefix");
  if (*cm) {
    cgi__buf_printf(&b, "%s codegreen: instrumented (%s granularity); checkpoints below%s", cm,
                    c->gran == CGI_FINE ? "fine" : "coarse", NL);
  }
  cgi__buf_printf(&b, "%s%s", prelude, NL);
  if (c->uses_support) {
    var vs[] = {
        {"rt", c->rt}, {"support", c->support}, {"support_module", conf(c, "support_module")}};
    char *sp = expand(c, conf(c, "support_prelude"), vs, 3);
    if (sp != NULL) {
      cgi__buf_printf(&b, "%s%s", sp, NL);
    }
    free(sp);
  }
  cgi__buf_printf(&b, "%s%s", tb, NL);
  char *qctx = quote(c, c->context);
  for (size_t r = 0; r < c->n_regions && qctx != NULL; r++) {
    char *qn = quote(c, c->regions[r].name);
    char line[16];
    snprintf(line, sizeof line, "%d", c->regions[r].line);
    var v[] = {{"rt", c->rt},
               {"table", c->table},
               {"name", qn ? qn : ""},
               {"context", qctx},
               {"line", line}};
    char *t = expand(c, conf(c, "table_item"), v, 5);
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
    while (ws > 0 && is_blank_char(c->src[ws - 1])) {
      ws--;
    }
    rc = add_delete(c, ws, P);
    rc |= add_edit(c, P, 1, -1, cgi__buf_take(&b), P, false);
  } else {
    rc = add_edit(c, line_start(c, P), 1, -1, cgi__buf_take(&b), P, true);
  }
  if (rc != 0 || c->gran != CGI_FINE) {
    return rc;
  }
  /* the module body, from P to the last statement */
  uint32_t n = statements(c, c->root, NULL, 0);
  TSNode *st = malloc(n * sizeof *st);
  if (st == NULL) {
    return -1;
  }
  statements(c, c->root, st, n);
  uint32_t last_end = ts_node_end_byte(st[n - 1]);
  free(st);
  char *pre = call_text(c, "enter", c->regions[0].index);
  char *post = call_text(c, "exit", c->regions[0].index);
  guard *g = new_guard(c);
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
    while (i < c->len && is_blank_char(c->src[i])) {
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
    if (add_edit(c, ff, 2, 0, t, ff, false) != 0) {
      return -1;
    }
  }
  return 0;
}

/* ----- emitting ----- */

static int cmp_edit(const void *x, const void *y) {
  const edit *a = x, *b = y;
  if (a->pos != b->pos) {
    return a->pos < b->pos ? -1 : 1;
  }
  if (a->cls != b->cls) {
    return a->cls - b->cls;
  }
  if (a->key != b->key) {
    /* closings: innermost (largest key) first; openings: outermost first */
    return a->cls == 0 ? (a->key > b->key ? -1 : 1) : (a->key < b->key ? -1 : 1);
  }
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

typedef struct emitter {
  ctx *c;
  cgi__buf out, map;
  bool want_map;
  uint32_t out_col;
  bool line_open; /* segments written on the current output line */
  bool first_line;
  /* the last segment written on this line, to replace it if the next starts at the same col */
  size_t seg_mark;
  uint32_t seg_col;
  bool seg_any;
} emitter;

static void seg(emitter *e, uint32_t orig_off, bool inserted) {
  if (!e->want_map) {
    return;
  }
  if (!e->line_open) {
    cgi__buf_puts(&e->map, e->first_line ? "[" : ",[");
    e->first_line = false;
    e->line_open = true;
    e->seg_any = false;
  }
  if (e->seg_any && e->seg_col == e->out_col) {
    e->map.len = e->seg_mark; /* the previous segment is empty: replace it */
    if (e->map.data) {
      e->map.data[e->map.len] = '\0';
    }
  }
  e->seg_mark = e->map.len;
  uint32_t row = row_of(e->c, orig_off);
  uint32_t col = orig_off - e->c->line_starts[row];
  if (orig_off > e->c->len) {
    col = 0;
  }
  cgi__buf_printf(&e->map, "%s[%u,%u,%u,%d]", e->seg_any ? "," : "", e->out_col, row + 1, col,
                  inserted ? 1 : 0);
  e->seg_any = true;
  e->seg_col = e->out_col;
}

static void end_line(emitter *e) {
  if (!e->want_map) {
    return;
  }
  if (!e->line_open) {
    cgi__buf_puts(&e->map, e->first_line ? "[" : ",[");
    e->first_line = false;
  }
  cgi__buf_puts(&e->map, "]");
  e->line_open = false;
  e->seg_any = false;
}

/* Emits bytes; @p orig is the original offset of text[0] (or the anchor when inserted). */
static void put(emitter *e, const char *text, size_t n, uint32_t orig, bool inserted) {
  size_t i = 0;
  while (i < n) {
    const char *nlp = memchr(text + i, '\n', n - i);
    size_t chunk = nlp ? (size_t)(nlp - text) + 1 - i : n - i;
    seg(e, inserted ? orig : orig + (uint32_t)i, inserted);
    cgi__buf_add(&e->out, text + i, chunk);
    i += chunk;
    if (nlp != NULL) {
      end_line(e);
      e->out_col = 0;
    } else {
      e->out_col += (uint32_t)chunk;
    }
  }
}

static int emit(ctx *c, bool want_map) {
  if (c->n_edits > 0) {
    qsort(c->edits, c->n_edits, sizeof *c->edits, cmp_edit);
  }
  emitter e = {.c = c, .want_map = want_map, .first_line = true};
  if (want_map) {
    cgi__buf_puts(&e.map, "{\"version\":1,\"lines\":[");
  }
  uint32_t cur = 0;
  for (size_t i = 0; i < c->n_edits; i++) {
    edit *d = &c->edits[i];
    if (d->pos > cur) {
      put(&e, c->src + cur, d->pos - cur, cur, false);
      cur = d->pos;
    }
    if (d->cls < 0) {
      if (d->del_end > cur) {
        cur = d->del_end;
      }
      continue;
    }
    if (d->line_start && e.out.len > 0 && e.out.data[e.out.len - 1] != '\n') {
      put(&e, c->nl, strlen(c->nl), d->anchor, true);
    }
    put(&e, d->text, strlen(d->text), d->anchor, true);
  }
  if (cur < c->len) {
    put(&e, c->src + cur, c->len - cur, cur, false);
  }
  if (want_map) {
    if (e.line_open) {
      end_line(&e); /* a last line without a newline */
    }
    cgi__buf_puts(&e.map, "]}");
  }
  c->res->text_len = e.out.len;
  c->res->text = cgi__buf_take(&e.out);
  if (c->res->text == NULL) {
    cgi__buf_free(&e.map);
    return -1;
  }
  if (want_map) {
    c->res->line_map = cgi__buf_take(&e.map);
    if (c->res->line_map == NULL) {
      return -1;
    }
  }
  return 0;
}

/* ----- errors from the parse ----- */

static bool first_error(TSNode n, TSNode *out) {
  if (!ts_node_has_error(n)) {
    return false;
  }
  if (ts_node_is_missing(n) || strcmp(ts_node_type(n), "ERROR") == 0) {
    /* prefer an error inside (a smaller region) */
    uint32_t cnt = ts_node_child_count(n);
    for (uint32_t i = 0; i < cnt; i++) {
      if (first_error(ts_node_child(n, i), out)) {
        return true;
      }
    }
    *out = n;
    return true;
  }
  uint32_t cnt = ts_node_child_count(n);
  for (uint32_t i = 0; i < cnt; i++) {
    if (first_error(ts_node_child(n, i), out)) {
      return true;
    }
  }
  return false;
}

static int report_parse_error(ctx *c) {
  TSNode e;
  if (!first_error(c->root, &e)) {
    e = c->root;
  }
  uint32_t at = ts_node_start_byte(e);
  if (ts_node_is_missing(e)) {
    return fail_at(c, at, "syntax error: missing '%s'", ts_node_type(e));
  }
  /* the first token of the erroneous region */
  uint32_t end = ts_node_end_byte(e), n = at;
  while (n < end && n < c->len && c->src[n] != '\n' && n - at < 24) {
    n++;
  }
  return fail_at(c, at, "syntax error near '%.*s' (the file does not parse as %s)", (int)(n - at),
                 c->src + at, cgi_language_name(c->lang));
}

/* ----- declared encodings (PEP 263 for Python) ----- */

/* The encoding declared on the first two lines (encoding_declaration in language.conf), as a new
 * string, or NULL. The second line counts only when the first is blank or a comment. */
static char *declared_encoding(const ctx *c, const char *src, size_t len) {
  const char *pat = cgi_language_get(c->lang, "encoding_declaration");
  regex_t re;
  if (pat == NULL || regcomp(&re, pat, REG_EXTENDED) != 0) {
    return NULL;
  }
  char *name = NULL;
  const char *p = src, *end = src + len;
  for (int line = 0; line < 2 && p < end && name == NULL; line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    char *l = strndup(p, n);
    if (l == NULL) {
      break;
    }
    regmatch_t m[2];
    if (regexec(&re, l, 2, m, 0) == 0 && m[1].rm_so >= 0) {
      name = strndup(l + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
    }
    size_t i = 0;
    while (i < n && (is_blank_char(l[i]) || l[i] == '\r')) {
      i++;
    }
    bool blank_or_comment = i == n || l[i] == '#';
    free(l);
    if (!blank_or_comment) {
      break;
    }
    p = nl ? nl + 1 : end;
  }
  regfree(&re);
  return name;
}

static bool is_utf8_name(const char *name) {
  char n[16];
  size_t i = 0;
  for (; name[i] && i < sizeof n - 1; i++) {
    char ch = name[i];
    n[i] = ch == '_' ? '-' : (ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch);
  }
  n[i] = '\0';
  return strcmp(n, "utf-8") == 0 || strcmp(n, "utf8") == 0 || strncmp(n, "utf-8-", 6) == 0;
}

/* iconv_open() with Python's spellings of a few names that iconv spells otherwise. */
static iconv_t open_codec(const char *to, const char *from, bool from_named) {
  const char *named = from_named ? from : to;
  char alt[64];
  snprintf(alt, sizeof alt, "%s", named);
  for (char *s = alt; *s; s++) {
    *s = *s == '_' ? '-' : *s;
  }
  const char *tries[] = {named, alt, NULL};
  if (strcasecmp(alt, "latin-1") == 0 || strcasecmp(alt, "iso-latin-1") == 0 ||
      strcasecmp(alt, "l1") == 0) {
    tries[2] = "LATIN1";
  }
  for (int k = 0; k < 3; k++) {
    if (tries[k] == NULL) {
      continue;
    }
    iconv_t cd = from_named ? iconv_open(to, tries[k]) : iconv_open(tries[k], from);
    if (cd != (iconv_t)-1) {
      return cd;
    }
  }
  return (iconv_t)-1;
}

/* Converts with @p cd; *bad receives the input offset of a byte that does not convert.
 * @return 0, -1 (not convertible) or -2 (memory). */
static int convert(iconv_t cd, const char *in, size_t len, char **out, size_t *out_len,
                   size_t *bad) {
  size_t cap = len * 2 + 16;
  char *buf = malloc(cap);
  if (buf == NULL) {
    return -2;
  }
  char *ip = (char *)in, *op = buf;
  size_t il = len, ol = cap;
  while (il > 0) {
    if (iconv(cd, &ip, &il, &op, &ol) != (size_t)-1) {
      continue;
    }
    if (errno == E2BIG) {
      size_t used = (size_t)(op - buf);
      cap *= 2;
      char *g = realloc(buf, cap);
      if (g == NULL) {
        free(buf);
        return -2;
      }
      buf = g;
      op = buf + used;
      ol = cap - used;
      continue;
    }
    *bad = (size_t)(ip - in);
    free(buf);
    return -1;
  }
  *out = buf;
  *out_len = (size_t)(op - buf);
  return 0;
}

/* ----- entry point ----- */

static uint32_t fnv(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) {
    h = (h ^ (unsigned char)*s) * 16777619u;
  }
  return h;
}

static void free_ctx(ctx *c) {
  for (size_t i = 0; i < c->n_items; i++) {
    free(c->items[i].qualname);
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
  free(c->docstrings);
  free(c->not_docstrings);
  free(c->prologue);
  free(c->verb);
  free(c->marks);
  free(c->line_starts);
  free(c->verbatim);
  if (c->tree != NULL) {
    ts_tree_delete(c->tree);
  }
}

static void choose_unit(ctx *c) {
  /* a tab if any line's indentation holds one */
  for (uint32_t r = 0; r < c->n_lines; r++) {
    if (c->verbatim[r]) {
      continue;
    }
    for (uint32_t i = c->line_starts[r]; i < c->len && is_blank_char(c->src[i]); i++) {
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
    if (statements(c, it->body, st, 1) == 0) {
      continue;
    }
    uint32_t s = ts_node_start_byte(st[0]);
    if (!at_logical_line_start(c, s)) {
      continue;
    }
    uint32_t hdr = it->start - line_start(c, it->start);
    uint32_t body = s - line_start(c, s);
    if (body > hdr && body - hdr <= 8) {
      uint32_t w = body - hdr;
      memset(c->U, ' ', w);
      c->U[w] = '\0';
    }
    return;
  }
}

int cgi_instrument(const cgi_language *lang, const char *src, size_t len, const cgi_options *opts,
                   cgi_result **out) {
  *out = calloc(1, sizeof **out);
  if (*out == NULL) {
    return -2;
  }
  cgi_options defaults = {CGI_COARSE, "<source>", 0};
  if (opts == NULL) {
    opts = &defaults;
  }
  ctx c = {.lang = lang,
           .src = src,
           .len = (uint32_t)len,
           .context = opts->context ? opts->context : "<source>",
           .gran = opts->granularity,
           .res = *out};
  int rc = -1;
  char *converted = NULL;
  size_t converted_len = 0;
  iconv_t back_cd = (iconv_t)-1;
  if (len > UINT32_MAX / 2) {
    fail_at(&c, 0, "the file is too large");
    goto done;
  }
  if (cgi__language_load((struct cgi_language *)lang) != 0) {
    fail_at(&c, 0, "%s", cgi_language_error());
    goto done;
  }
  /* A file that declares another encoding is instrumented as UTF-8 and written back in its own
   * encoding (all inserted text is ASCII), so its bytes and its declaration stay as they were. */
  char *encoding = declared_encoding(&c, src, len);
  if (encoding != NULL && !is_utf8_name(encoding)) {
    iconv_t in_cd = open_codec("UTF-8", encoding, true);
    iconv_t out_cd = open_codec(encoding, "UTF-8", false);
    if (in_cd == (iconv_t)-1 || out_cd == (iconv_t)-1) {
      fail_at(&c, 0, "the file declares the encoding '%s', which this system cannot convert",
              encoding);
      if (in_cd != (iconv_t)-1) {
        iconv_close(in_cd);
      }
      if (out_cd != (iconv_t)-1) {
        iconv_close(out_cd);
      }
      free(encoding);
      goto done;
    }
    size_t bad = 0, back_len = 0;
    char *back = NULL;
    int crc = convert(in_cd, src, len, &converted, &converted_len, &bad);
    if (crc == 0) {
      crc = convert(out_cd, converted, converted_len, &back, &back_len, &bad);
      if (crc == 0 && (back_len != len || memcmp(back, src, len) != 0)) {
        crc = -3;
      }
      free(back);
    }
    iconv_close(in_cd);
    if (crc != 0) {
      iconv_close(out_cd);
      if (crc == -2) {
        c.oom = true;
      } else if (crc == -3) {
        fail_at(&c, 0, "the file's encoding '%s' does not survive a round trip through UTF-8",
                encoding);
      } else {
        fail_at(&c, (uint32_t)bad, "not valid %s (byte 0x%02X), the encoding the file declares",
                encoding, (unsigned char)src[bad]);
      }
      free(encoding);
      goto done;
    }
    back_cd = out_cd;
    c.src = converted;
    c.len = (uint32_t)converted_len;
  }
  free(encoding);
  if (check_bytes(&c) != 0) {
    goto done;
  }
  if (build_lines(&c) != 0) {
    c.oom = true;
    goto done;
  }
  TSParser *parser = ts_parser_new();
  if (parser == NULL || !ts_parser_set_language(parser, lang->src->grammar())) {
    ts_parser_delete(parser);
    c.oom = true;
    goto done;
  }
  c.tree = ts_parser_parse_string(parser, NULL, c.src, c.len);
  ts_parser_delete(parser);
  if (c.tree == NULL) {
    c.oom = true;
    goto done;
  }
  c.root = ts_tree_root_node(c.tree);
  if (ts_node_has_error(c.root)) {
    report_parse_error(&c);
    goto done;
  }
  if (collect(&c) != 0 || link_items(&c) != 0 || name_items(&c) != 0) {
    c.oom = true;
    goto done;
  }
  for (size_t i = 0; i < c.n_verb; i++) {
    uint32_t r0 = row_of(&c, c.verb[i].start), r1 = row_of(&c, c.verb[i].end);
    for (uint32_t r = r0 + 1; r <= r1 && r < c.n_lines; r++) {
      c.verbatim[r] = true;
    }
  }
  choose_unit(&c);

  /* names in the instrumented file that the source does not use */
  snprintf(c.rt, sizeof c.rt, "%s", conf(&c, "runtime_name"));
  for (unsigned k = 1; memmem(c.src, c.len, c.rt, strlen(c.rt)) != NULL && k < 1000; k++) {
    snprintf(c.rt, sizeof c.rt, "%s_%u", conf(&c, "runtime_name"), k);
  }
  snprintf(c.tag, sizeof c.tag, "%08x", fnv(c.context));
  var tv[] = {{"rt", c.rt}, {"tag", c.tag}};
  char *table = expand(&c, conf(&c, "table_name"), tv, 2);
  if (table == NULL) {
    goto done;
  }
  snprintf(c.table, sizeof c.table, "%s", table);
  free(table);
  char *support = expand(&c, conf(&c, "support_name"), tv, 2);
  if (support == NULL) {
    goto done;
  }
  snprintf(c.support, sizeof c.support, "%s", support);
  free(support);

  if (make_regions(&c) != 0) {
    c.oom = true;
    goto done;
  }
  bool has_function = false;
  for (size_t r = 0; r < c.n_regions; r++) {
    has_function |= c.regions[r].item >= 0;
  }
  int *row_depth = NULL;
  if (has_function || c.gran == CGI_FINE) {
    if (!has_function && c.gran == CGI_FINE && statements(&c, c.root, NULL, 0) == 0) {
      goto points; /* an empty module */
    }
    row_depth = calloc(c.n_lines + 2, sizeof *row_depth);
    if (row_depth == NULL) {
      c.oom = true;
      goto done;
    }
    TSNode lp;
    bool has_code = !ts_node_is_null(module_first(&c, &lp));
    if (!has_code) {
      /* only a docstring and __future__ imports: nothing runs, nothing to measure */
      free(row_depth);
      row_depth = NULL;
      c.n_regions = 0;
      goto points;
    }
    if (plan_regions(&c) != 0 || plan_suspensions(&c) != 0 || plan_prelude(&c) != 0 ||
        finish_guards(&c, row_depth) != 0 || split_inline_docstrings(&c) != 0 ||
        plan_indentation(&c, row_depth) != 0) {
      free(row_depth);
      goto done;
    }
    free(row_depth);
  }
points:
  if (c.oom) {
    goto done;
  }
  if (emit(&c, opts->line_map != 0) != 0) {
    c.oom = true;
    goto done;
  }
  if (back_cd != (iconv_t)-1) {
    char *text = NULL;
    size_t text_len = 0, bad = 0;
    int crc = convert(back_cd, (*out)->text, (*out)->text_len, &text, &text_len, &bad);
    if (crc != 0) {
      if (crc == -2) {
        c.oom = true;
      } else {
        fail_at(&c, 0, "cannot write the instrumented file back in its declared encoding");
      }
      goto done;
    }
    char *t = realloc(text, text_len + 1);
    if (t == NULL) {
      free(text);
      c.oom = true;
      goto done;
    }
    t[text_len] = '\0';
    free((*out)->text);
    (*out)->text = t;
    (*out)->text_len = text_len;
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
  (*out)->uses_support = c.uses_support;
  rc = 0;
done:
  if (c.oom && (*out)->error == NULL) {
    rc = -2;
    free((*out)->error);
    (*out)->error = strdup("out of memory");
  }
  if (rc != 0) {
    free((*out)->text);
    (*out)->text = NULL;
    free((*out)->line_map);
    (*out)->line_map = NULL;
  }
  free_ctx(&c);
  if (back_cd != (iconv_t)-1) {
    iconv_close(back_cd);
  }
  free(converted);
  return rc;
}
