/*
 * match.c - the language's query patterns (instrument.scm) matched by one walk of the tree,
 * instead of tree-sitter's query cursor.
 *
 * Why: the query cursor keeps, at every node of the tree, a state machine for every pattern that
 * could start or continue there (ts_tree_cursor_current_status() and its fields, supertypes and
 * sibling questions): over the Python standard library it was a quarter of `codegreen analyze`.
 * Our patterns are simple - a node type at the root, children by type or field, captures - so a
 * pre-order walk that tries, at each node, only the patterns rooted at its type finds the same
 * matches for a fraction of that.
 *
 * What it reads: top-level patterns `(type child... ) @capture...`, children written as
 * `field: pattern`, `(type ...)`, `(_ ...)` (any named node), `_` (any node), `"token"` and
 * `[(type) "token" ...]` (alternatives without children), each followed by captures; a pattern
 * may be grouped with predicates, `((pattern) @c (#pred? ...))`, and predicates may stand among
 * children. The predicates themselves are tree-sitter's (parsed by ts_query_new(), evaluated by
 * the caller as before). Anything else (quantifiers, anchors, negated fields, sibling sequences)
 * makes cgi__matcher_new() answer "not supported" and the caller keeps the query cursor.
 *
 * Every way the pattern's children can be found among the node's children (in order, siblings
 * skipped) is one match, as with the query cursor. Matches come in pre-order of their root node,
 * patterns at one node in the order of the file, a pattern's matches in the order of the
 * children they use; captures in the pattern's order. The engine sorts its items, so what the
 * order decides is only which of two captures of one node with one role comes first (tests
 * compare this walk with the query cursor: tests/unit/test_instrument_match.c).
 */
#include <stdlib.h>
#include <string.h>

#include "language.h"

enum { MAX_CAPS = 64, MAX_NAME = 128 };

typedef struct mstep {
  TSSymbol *syms; /* the node types it accepts (several ids may share a name) */
  uint16_t n_syms;
  bool any_named, any; /* (_) and _ */
  TSFieldId field;     /* 0: any child */
  uint16_t caps[8];    /* capture ids */
  uint8_t n_caps;
  uint32_t first_kid, n_kids; /* its children steps: kids[first_kid ...] */
} mstep;

struct cgi__matcher {
  mstep *steps;
  size_t n_steps, cap_steps;
  uint32_t *kids; /* step indices, each step's children together */
  size_t n_kids, cap_kids;
  uint32_t *roots; /* per pattern: its root step */
  uint32_t n_patterns;
  /* per node symbol: the patterns rooted there, in pattern order */
  uint32_t *by_sym_first, *by_sym_n, *by_sym;
  uint32_t n_symbols;
};

/* ----- reading the .scm ----- */

typedef struct rd {
  const char *s;
  size_t i, n;
  const TSLanguage *ts;
  const TSQuery *q;
  cgi__matcher *m;
  int bad; /* 1: a construct we do not read; -1: out of memory */
} rd;

static void skip_ws(rd *r) {
  while (r->i < r->n) {
    char ch = r->s[r->i];
    if (ch == ';') {
      while (r->i < r->n && r->s[r->i] != '\n') {
        r->i++;
      }
    } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
      r->i++;
    } else {
      break;
    }
  }
}

static bool name_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '.' || ch == '-' || ch == '?' || ch == '!';
}

/* A name (node type, field, capture): its length, 0 when none. */
static size_t read_name(rd *r, char *out) {
  size_t k = 0;
  while (r->i < r->n && name_char(r->s[r->i]) && k + 1 < MAX_NAME) {
    out[k++] = r->s[r->i++];
  }
  out[k] = '\0';
  return k;
}

/* A double-quoted string (escapes kept out): its length, or -1. */
static int read_string(rd *r, char *out) {
  size_t k = 0;
  r->i++; /* the opening quote */
  while (r->i < r->n && r->s[r->i] != '"') {
    char ch = r->s[r->i++];
    if (ch == '\\' && r->i < r->n) {
      ch = r->s[r->i++];
      ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch == 'r' ? '\r' : ch == '0' ? '\0' : ch;
    }
    if (k + 1 >= MAX_NAME) {
      return -1;
    }
    out[k++] = ch;
  }
  if (r->i >= r->n) {
    return -1;
  }
  r->i++;
  out[k] = '\0';
  return (int)k;
}

/* Skips a predicate `(#name args...)`, strings and nested parentheses included. */
static void skip_predicate(rd *r) {
  int depth = 0;
  char buf[MAX_NAME];
  while (r->i < r->n) {
    char ch = r->s[r->i];
    if (ch == '"') {
      if (read_string(r, buf) < 0) {
        r->bad = 1;
        return;
      }
      continue;
    }
    r->i++;
    depth += ch == '(';
    depth -= ch == ')';
    if (depth == 0) {
      return;
    }
  }
  r->bad = 1;
}

static bool is_predicate(const rd *r) {
  size_t j = r->i + 1;
  while (j < r->n && (r->s[j] == ' ' || r->s[j] == '\t' || r->s[j] == '\n')) {
    j++;
  }
  return j < r->n && r->s[j] == '#';
}

static int new_step(rd *r) {
  cgi__matcher *m = r->m;
  if (m->n_steps == m->cap_steps) {
    size_t cap = m->cap_steps ? 2 * m->cap_steps : 32;
    mstep *p = realloc(m->steps, cap * sizeof *p);
    if (p == NULL) {
      r->bad = -1;
      return -1;
    }
    m->steps = p;
    m->cap_steps = cap;
  }
  memset(&m->steps[m->n_steps], 0, sizeof m->steps[0]);
  return (int)m->n_steps++;
}

/* Adds to step @p s every symbol called @p name, named or not. */
static void add_syms(rd *r, int s, const char *name, bool named) {
  uint32_t count = ts_language_symbol_count(r->ts);
  size_t found = 0;
  for (uint32_t id = 0; id < count; id++) {
    const char *sn = ts_language_symbol_name(r->ts, (TSSymbol)id);
    TSSymbolType t = ts_language_symbol_type(r->ts, (TSSymbol)id);
    if (sn == NULL || strcmp(sn, name) != 0 || t == TSSymbolTypeAuxiliary ||
        (t == TSSymbolTypeRegular) != named) {
      continue;
    }
    mstep *st = &r->m->steps[s];
    TSSymbol *p = realloc(st->syms, (st->n_syms + 1u) * sizeof *p);
    if (p == NULL) {
      r->bad = -1;
      return;
    }
    p[st->n_syms++] = (TSSymbol)id;
    st->syms = p;
    found++;
  }
  if (found == 0) {
    r->bad = 1; /* a supertype or hidden rule: the query cursor knows those */
  }
}

static void read_captures(rd *r, int s) {
  for (;;) {
    skip_ws(r);
    if (r->i >= r->n || r->s[r->i] != '@') {
      return;
    }
    r->i++;
    char name[MAX_NAME];
    size_t len = read_name(r, name);
    uint32_t count = ts_query_capture_count(r->q), id = count;
    for (uint32_t k = 0; k < count; k++) {
      uint32_t l;
      const char *cn = ts_query_capture_name_for_id(r->q, k, &l);
      if (l == len && memcmp(cn, name, len) == 0) {
        id = k;
        break;
      }
    }
    mstep *st = &r->m->steps[s];
    if (id == count || st->n_caps == sizeof st->caps / sizeof st->caps[0]) {
      r->bad = 1;
      return;
    }
    st->caps[st->n_caps++] = (uint16_t)id;
  }
}

static int read_pattern(rd *r);

/* `(type children...)` from its '(' : the step, or -1. */
static int read_node(rd *r) {
  r->i++;
  skip_ws(r);
  char name[MAX_NAME];
  if (read_name(r, name) == 0) {
    r->bad = 1;
    return -1;
  }
  int s = new_step(r);
  if (s < 0) {
    return -1;
  }
  if (strcmp(name, "_") == 0) {
    r->m->steps[s].any_named = true;
  } else {
    add_syms(r, s, name, true);
  }
  uint32_t kids[64];
  uint32_t n = 0;
  for (;;) {
    skip_ws(r);
    if (r->bad || r->i >= r->n) {
      r->bad = r->bad ? r->bad : 1;
      return -1;
    }
    char ch = r->s[r->i];
    if (ch == ')') {
      r->i++;
      break;
    }
    if (ch == '(' && is_predicate(r)) {
      skip_predicate(r);
      continue;
    }
    TSFieldId field = 0;
    if (name_char(ch) && ch != '_') { /* field: */
      char fname[MAX_NAME];
      size_t fl = read_name(r, fname);
      skip_ws(r);
      if (r->i >= r->n || r->s[r->i] != ':') {
        r->bad = 1;
        return -1;
      }
      r->i++;
      field = ts_language_field_id_for_name(r->ts, fname, (uint32_t)fl);
      if (field == 0) {
        r->bad = 1;
        return -1;
      }
      skip_ws(r);
    }
    int k = read_pattern(r);
    if (k < 0 || n == sizeof kids / sizeof kids[0]) {
      r->bad = r->bad ? r->bad : 1;
      return -1;
    }
    r->m->steps[k].field = field;
    kids[n++] = (uint32_t)k;
  }
  /* the children's steps, together */
  cgi__matcher *m = r->m;
  if (m->n_kids + n > m->cap_kids) {
    size_t cap = (m->cap_kids ? 2 * m->cap_kids : 64) + n;
    uint32_t *p = realloc(m->kids, cap * sizeof *p);
    if (p == NULL) {
      r->bad = -1;
      return -1;
    }
    m->kids = p;
    m->cap_kids = cap;
  }
  m->steps[s].first_kid = (uint32_t)m->n_kids;
  m->steps[s].n_kids = n;
  if (n > 0) { /* a leaf: m->kids may still be NULL, and memcpy wants pointers even for 0 */
    memcpy(m->kids + m->n_kids, kids, n * sizeof *kids);
  }
  m->n_kids += n;
  return s;
}

/* One pattern (a node, a token, alternatives or _) and its captures: the step, or -1. */
static int read_pattern(rd *r) {
  skip_ws(r);
  if (r->i >= r->n) {
    r->bad = 1;
    return -1;
  }
  char ch = r->s[r->i];
  char name[MAX_NAME];
  int s;
  if (ch == '(') {
    s = read_node(r);
  } else if (ch == '"') {
    s = new_step(r);
    if (s >= 0 && read_string(r, name) >= 0) {
      add_syms(r, s, name, false);
    } else {
      r->bad = r->bad ? r->bad : 1;
    }
  } else if (ch == '_' && (r->i + 1 >= r->n || !name_char(r->s[r->i + 1]))) {
    r->i++;
    s = new_step(r);
    if (s >= 0) {
      r->m->steps[s].any = true;
    }
  } else if (ch == '[') {
    r->i++;
    s = new_step(r);
    for (;;) {
      skip_ws(r);
      if (s < 0 || r->bad || r->i >= r->n) {
        r->bad = r->bad ? r->bad : 1;
        return -1;
      }
      if (r->s[r->i] == ']') {
        r->i++;
        break;
      }
      if (r->s[r->i] == '"') {
        if (read_string(r, name) < 0) {
          r->bad = 1;
          return -1;
        }
        add_syms(r, s, name, false);
        continue;
      }
      /* (type) with nothing inside */
      if (r->s[r->i] != '(') {
        r->bad = 1;
        return -1;
      }
      r->i++;
      skip_ws(r);
      if (read_name(r, name) == 0 || strcmp(name, "_") == 0) {
        r->bad = 1;
        return -1;
      }
      skip_ws(r);
      if (r->i >= r->n || r->s[r->i] != ')') {
        r->bad = 1; /* alternatives with children or captures of their own */
        return -1;
      }
      r->i++;
      add_syms(r, s, name, true);
    }
  } else {
    r->bad = 1; /* anchors, negated fields, ... */
    return -1;
  }
  if (s < 0 || r->bad) {
    return -1;
  }
  read_captures(r, s);
  skip_ws(r);
  if (r->i < r->n && (r->s[r->i] == '?' || r->s[r->i] == '*' || r->s[r->i] == '+')) {
    r->bad = 1;
  }
  return r->bad ? -1 : s;
}

/* A top-level pattern, grouped with predicates or not: its root step, or -1. */
static int read_top(rd *r) {
  /* ((pattern) @c (#pred ...)) */
  size_t j = r->i + 1;
  while (j < r->n && (r->s[j] == ' ' || r->s[j] == '\t' || r->s[j] == '\n' || r->s[j] == '\r')) {
    j++;
  }
  if (j < r->n && (r->s[j] == '(' || r->s[j] == '[')) {
    r->i = j;
    int s = read_pattern(r);
    for (;;) {
      skip_ws(r);
      if (s < 0 || r->bad || r->i >= r->n) {
        r->bad = r->bad ? r->bad : 1;
        return -1;
      }
      if (r->s[r->i] == ')') {
        r->i++;
        return s;
      }
      if (r->s[r->i] != '(' || !is_predicate(r)) {
        r->bad = 1; /* a sequence of sibling patterns */
        return -1;
      }
      skip_predicate(r);
    }
  }
  return read_pattern(r);
}

static int index_roots(cgi__matcher *m, const TSLanguage *ts) {
  m->n_symbols = ts_language_symbol_count(ts);
  m->by_sym_first = calloc(m->n_symbols + 1, sizeof *m->by_sym_first);
  m->by_sym_n = calloc(m->n_symbols + 1, sizeof *m->by_sym_n);
  size_t total = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (uint32_t sym = 0; sym < m->n_symbols; sym++) {
      bool named = ts_language_symbol_type(ts, (TSSymbol)sym) == TSSymbolTypeRegular;
      if (pass == 1) {
        m->by_sym_first[sym] = (uint32_t)total;
      }
      for (uint32_t p = 0; p < m->n_patterns; p++) {
        const mstep *st = &m->steps[m->roots[p]];
        bool hit = st->any || (st->any_named && named);
        for (uint16_t k = 0; k < st->n_syms && !hit; k++) {
          hit = st->syms[k] == sym;
        }
        if (hit && pass == 1) {
          m->by_sym[total] = p;
          m->by_sym_n[sym]++;
        }
        total += hit;
      }
    }
    if (pass == 0) {
      m->by_sym = malloc((total ? total : 1) * sizeof *m->by_sym);
      total = 0;
      if (m->by_sym == NULL || m->by_sym_first == NULL || m->by_sym_n == NULL) {
        return -1;
      }
    }
  }
  return 0;
}

void cgi__matcher_free(cgi__matcher *m) {
  if (m == NULL) {
    return;
  }
  for (size_t i = 0; i < m->n_steps; i++) {
    free(m->steps[i].syms);
  }
  free(m->steps);
  free(m->kids);
  free(m->roots);
  free(m->by_sym_first);
  free(m->by_sym_n);
  free(m->by_sym);
  free(m);
}

int cgi__matcher_new(const TSLanguage *ts, const TSQuery *q, const char *scm, cgi__matcher **out) {
  *out = NULL;
  cgi__matcher *m = calloc(1, sizeof *m);
  uint32_t n_patterns = ts_query_pattern_count(q);
  if (m == NULL || (m->roots = calloc(n_patterns ? n_patterns : 1, sizeof *m->roots)) == NULL) {
    cgi__matcher_free(m);
    return -1;
  }
  rd r = {scm, 0, strlen(scm), ts, q, m, 0};
  for (;;) {
    skip_ws(&r);
    if (r.i >= r.n) {
      break;
    }
    /* tree-sitter numbers the patterns in the order of the file: check that we read the same */
    if (r.s[r.i] != '(' || m->n_patterns >= n_patterns ||
        ts_query_start_byte_for_pattern(q, m->n_patterns) != r.i) {
      r.bad = r.bad ? r.bad : 1;
      break;
    }
    int s = read_top(&r);
    if (s < 0) {
      r.bad = r.bad ? r.bad : 1;
      break;
    }
    m->roots[m->n_patterns++] = (uint32_t)s;
  }
  if (r.bad == 0 && m->n_patterns != n_patterns) {
    r.bad = 1;
  }
  if (r.bad == 0 && index_roots(m, ts) != 0) {
    r.bad = -1;
  }
  if (r.bad != 0) {
    cgi__matcher_free(m);
    return r.bad < 0 ? -1 : 0;
  }
  *out = m;
  return 1;
}

/* ----- the walk ----- */

typedef struct kid {
  TSNode node;
  TSFieldId field;
} kid;

typedef struct frame {
  const mstep *st;  /* the step whose children are being found */
  uint32_t k;       /* its next child step */
  uint32_t from;    /* the first node child it may take */
  uint32_t kids, n; /* its node's children: w->kids[kids ...] */
} frame;

typedef struct walk {
  const cgi__matcher *m;
  TSTreeCursor cur; /* for gathering children */
  kid *kids;
  size_t n_kids, cap_kids;
  frame fr[MAX_CAPS];
  int n_fr;
  TSQueryCapture caps[MAX_CAPS];
  uint16_t n_caps;
  uint32_t pattern;
  cgi__match_fn fn;
  void *arg;
} walk;

static bool step_accepts(const mstep *st, TSNode n, TSFieldId field) {
  if (st->field != 0 && st->field != field) {
    return false;
  }
  if (st->any) {
    return true;
  }
  if (st->any_named) {
    return ts_node_is_named(n);
  }
  TSSymbol sym = ts_node_symbol(n);
  for (uint16_t k = 0; k < st->n_syms; k++) {
    if (st->syms[k] == sym) {
      return true;
    }
  }
  return false;
}

/* Pushes a frame for @p st over the children of @p n: 0, or -1 when memory runs out. */
static int push_frame(walk *w, const mstep *st, TSNode n) {
  if (w->n_fr == MAX_CAPS) {
    return -1;
  }
  frame *f = &w->fr[w->n_fr++];
  f->st = st;
  f->k = 0;
  f->from = 0;
  f->kids = (uint32_t)w->n_kids;
  ts_tree_cursor_reset(&w->cur, n);
  for (bool more = ts_tree_cursor_goto_first_child(&w->cur); more;
       more = ts_tree_cursor_goto_next_sibling(&w->cur)) {
    if (w->n_kids == w->cap_kids) {
      size_t cap = w->cap_kids ? 2 * w->cap_kids : 256;
      kid *p = realloc(w->kids, cap * sizeof *p);
      if (p == NULL) {
        return -1;
      }
      w->kids = p;
      w->cap_kids = cap;
    }
    w->kids[w->n_kids].node = ts_tree_cursor_current_node(&w->cur);
    w->kids[w->n_kids].field = ts_tree_cursor_current_field_id(&w->cur);
    w->n_kids++;
  }
  f->n = (uint32_t)(w->n_kids - f->kids);
  return 0;
}

static void pop_frame(walk *w) {
  w->n_fr--;
  w->n_kids = w->fr[w->n_fr].kids;
}

static bool push_caps(walk *w, const mstep *st, TSNode n) {
  if (w->n_caps + st->n_caps > MAX_CAPS) {
    return false;
  }
  for (uint8_t k = 0; k < st->n_caps; k++) {
    w->caps[w->n_caps].node = n;
    w->caps[w->n_caps].index = st->caps[k];
    w->n_caps++;
  }
  return true;
}

/* Finds the rest of the pattern from the innermost unfinished frame at or below @p top, and
 * hands each complete match to the callback: 0, or the callback's or the walk's error. */
static int solve(walk *w, int top) {
  while (top >= 0 && w->fr[top].k == w->fr[top].st->n_kids) {
    top--;
  }
  if (top < 0) {
    TSQueryMatch m = {0, (uint16_t)w->pattern, w->n_caps, w->caps};
    return w->fn(w->arg, &m);
  }
  const cgi__matcher *M = w->m;
  frame *f = &w->fr[top];
  const mstep *st = &M->steps[M->kids[f->st->first_kid + f->k]];
  uint32_t from = f->from;
  for (uint32_t i = from; i < f->n; i++) {
    f = &w->fr[top]; /* (frames do not move; kids may) */
    kid c = w->kids[f->kids + i];
    if (!step_accepts(st, c.node, c.field)) {
      continue;
    }
    uint16_t caps = w->n_caps;
    if (!push_caps(w, st, c.node)) {
      return -1;
    }
    f->k++;
    f->from = i + 1;
    int rc;
    if (st->n_kids > 0) {
      rc = push_frame(w, st, c.node);
      if (rc == 0) {
        rc = solve(w, w->n_fr - 1);
      }
      pop_frame(w);
    } else {
      rc = solve(w, top);
    }
    f = &w->fr[top];
    f->k--;
    f->from = from;
    w->n_caps = caps;
    if (rc != 0) {
      return rc;
    }
  }
  return 0;
}

static int at_node(walk *w, TSNode n) {
  const cgi__matcher *M = w->m;
  TSSymbol sym = ts_node_symbol(n);
  if (sym >= M->n_symbols || M->by_sym_n[sym] == 0) {
    return 0;
  }
  bool gathered = false; /* the node's children, once for all its patterns */
  int rc = 0;
  for (uint32_t j = 0; j < M->by_sym_n[sym] && rc == 0; j++) {
    uint32_t p = M->by_sym[M->by_sym_first[sym] + j];
    const mstep *st = &M->steps[M->roots[p]];
    w->pattern = p;
    w->n_caps = 0;
    if (!push_caps(w, st, n)) {
      rc = -1;
    } else if (st->n_kids == 0) {
      TSQueryMatch m = {0, (uint16_t)p, w->n_caps, w->caps};
      rc = w->fn(w->arg, &m);
    } else {
      if (!gathered) {
        gathered = true;
        rc = push_frame(w, st, n);
      }
      w->fr[0].st = st;
      w->fr[0].k = 0;
      w->fr[0].from = 0;
      rc = rc == 0 ? solve(w, 0) : rc;
    }
  }
  if (gathered) {
    pop_frame(w);
  }
  return rc;
}

int cgi__matcher_run(const cgi__matcher *m, TSNode root, cgi__match_fn fn, void *arg) {
  walk w = {0};
  w.m = m;
  w.fn = fn;
  w.arg = arg;
  w.cur = ts_tree_cursor_new(root);
  TSTreeCursor cur = ts_tree_cursor_new(root);
  int rc = 0;
  for (;;) {
    rc = at_node(&w, ts_tree_cursor_current_node(&cur));
    if (rc != 0 || ts_tree_cursor_goto_first_child(&cur)) {
      if (rc != 0) {
        break;
      }
      continue;
    }
    bool more = true;
    while (more && !ts_tree_cursor_goto_next_sibling(&cur)) {
      more = ts_tree_cursor_goto_parent(&cur);
    }
    if (!more) {
      break;
    }
  }
  ts_tree_cursor_delete(&cur);
  ts_tree_cursor_delete(&w.cur);
  free(w.kids);
  return rc;
}
