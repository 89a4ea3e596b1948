/*
 * emit.c - the last stage: the edits applied to the source in order, and the line map that
 * records for every emitted byte the original position it comes from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages.h"

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

/* @p v in decimal at @p q; returns the end. */
static char *put_u32(char *q, uint32_t v) {
  char d[10];
  int n = 0;
  do {
    d[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) {
    *q++ = d[--n];
  }
  return q;
}

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
  uint32_t row = cgi__row_of(e->c, orig_off);
  uint32_t col = orig_off - e->c->line_starts[row];
  if (orig_off > e->c->len) {
    col = 0;
  }
  /* "[out_col,line,col,inserted]", written by hand: one per line and edit, the map of a big
   * file has hundreds of thousands (printf was a tenth of the instrumenter's time) */
  char t[48], *q = t;
  if (e->seg_any) {
    *q++ = ',';
  }
  *q++ = '[';
  q = put_u32(q, e->out_col);
  *q++ = ',';
  q = put_u32(q, row + 1);
  *q++ = ',';
  q = put_u32(q, col);
  *q++ = ',';
  *q++ = inserted ? '1' : '0';
  *q++ = ']';
  cgi__buf_add(&e->map, t, (size_t)(q - t));
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

int cgi__emit(ctx *c, bool want_map) {
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
