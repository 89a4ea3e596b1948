/*
 * linetable.c - the runner's position mover in C: what runner.py's make_mapper(),
 * line_only_mapper(), position_mapper() and code_mover()'s loop do in Python, for one code
 * object's location table at a time (the Python loop costs more than CPython's compile of a big
 * file; this is ~50x faster). The results are the Python functions' exactly: same positions,
 * same entries, same refusals (ValueError where they raise NotExact).
 *
 *   linemap(lines, source) -> capsule
 *       lines: the engine's line map, a list (one item per instrumented line) of lists of
 *       [out_col, user_line, user_col, inserted] segments, by increasing out_col; source: the
 *       instrumented text (bytes) the lines describe.
 *   move_linetable(map, linetable, firstlineno, top) -> (first, new_linetable)
 *       linetable: a code object's co_linetable (CPython 3.11-3.13, Objects/locations.md),
 *       firstlineno its co_firstlineno, top: true for the module's code (whose first line stays).
 *       Raises ValueError when the positions cannot be moved exactly (the runner then takes the
 *       syntax tree's round trip).
 *
 * Location table (Objects/locations.md): each entry covers 1-8 code units; its first byte is
 * 0x80 | code << 3 | (units - 1). Code 15: no location; 14: long form (svarint line delta, varint
 * end line delta, varint column + 1, varint end column + 1, 0 meaning none); 13: a line without
 * columns (svarint line delta); 10-12: one line (line delta code - 10, column byte, end column
 * byte); 0-9: short form (same line; column = code << 3 | second byte >> 4, end column = column +
 * (second byte & 15)). A varint is 6-bit chunks, least significant first, 0x40 set on all but the
 * last; a svarint is (-v << 1) | 1 for a negative v, else v << 1. Line deltas are from the
 * previous entry's line (co_firstlineno for the first); an entry without a location leaves it.
 *
 * "None" (no line, no column) is -1 here, as in CPython's own decoder.
 */
#define PY_SSIZE_T_CLEAN
#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x03080000
#endif
#include <Python.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linetable.h"

#define CAPSULE_NAME "_codegreen_fast.linemap"
#define NONE (-1L)

struct seg {
  long out_col, line, col;
  int inserted;
};

struct linemap {
  Py_ssize_t n_lines; /* lines of the map */
  Py_ssize_t *first;  /* n_lines + 1: line i's segments are segs[first[i] .. first[i + 1]) */
  struct seg *segs;
  Py_ssize_t n_text; /* lines of the text (split at LF) */
  long *indent;      /* n_text: each text line's leading blanks (" \t\f") */
  long *only;        /* n_lines: line_only's answer, LONG_MIN when not yet asked */
};

static void linemap_free(struct linemap *m) {
  if (m != NULL) {
    free(m->first);
    free(m->segs);
    free(m->indent);
    free(m->only);
    free(m);
  }
}

static void capsule_free(PyObject *capsule) {
  linemap_free(PyCapsule_GetPointer(capsule, CAPSULE_NAME));
}

static PyObject *not_exact(const char *what, long line) {
  PyErr_Format(PyExc_ValueError, what, line);
  return NULL;
}

static long seg_field(PyObject *seg, Py_ssize_t i) {
  PyObject *v = PyList_GetItem(seg, i);
  return v == NULL ? -1 : PyLong_AsLong(v);
}

static PyObject *lt_linemap(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *lines;
  const char *text;
  Py_ssize_t text_len;
  if (!PyArg_ParseTuple(args, "O!y#", &PyList_Type, &lines, &text, &text_len)) {
    return NULL;
  }
  struct linemap *m = calloc(1, sizeof *m);
  if (m == NULL) {
    return PyErr_NoMemory();
  }
  m->n_lines = PyList_Size(lines);
  Py_ssize_t n_segs = 0;
  for (Py_ssize_t i = 0; i < m->n_lines; i++) {
    PyObject *segs = PyList_GetItem(lines, i);
    if (!PyList_Check(segs)) {
      linemap_free(m);
      PyErr_SetString(PyExc_TypeError, "linemap: a line is not a list");
      return NULL;
    }
    n_segs += PyList_Size(segs);
  }
  Py_ssize_t n_text = 1;
  for (const char *p = text; (p = memchr(p, '\n', (size_t)(text + text_len - p))) != NULL; p++) {
    n_text++;
  }
  m->n_text = n_text;
  m->first = malloc(sizeof *m->first * (size_t)(m->n_lines + 1));
  m->segs = malloc(sizeof *m->segs * (size_t)(n_segs > 0 ? n_segs : 1));
  m->indent = malloc(sizeof *m->indent * (size_t)n_text);
  m->only = malloc(sizeof *m->only * (size_t)(m->n_lines > 0 ? m->n_lines : 1));
  if (m->first == NULL || m->segs == NULL || m->indent == NULL || m->only == NULL) {
    linemap_free(m);
    return PyErr_NoMemory();
  }
  Py_ssize_t k = 0;
  for (Py_ssize_t i = 0; i < m->n_lines; i++) {
    PyObject *segs = PyList_GetItem(lines, i);
    Py_ssize_t n = PyList_Size(segs);
    m->first[i] = k;
    m->only[i] = LONG_MIN;
    for (Py_ssize_t j = 0; j < n; j++, k++) {
      PyObject *seg = PyList_GetItem(segs, j);
      if (!PyList_Check(seg) || PyList_Size(seg) != 4) {
        linemap_free(m);
        PyErr_SetString(PyExc_TypeError, "linemap: a segment is not a list of 4");
        return NULL;
      }
      struct seg *s = &m->segs[k];
      s->out_col = seg_field(seg, 0);
      s->line = seg_field(seg, 1);
      s->col = seg_field(seg, 2);
      PyObject *ins = PyList_GetItem(seg, 3);
      s->inserted = ins != NULL ? PyObject_IsTrue(ins) : -1;
      if (PyErr_Occurred()) {
        linemap_free(m);
        return NULL;
      }
    }
  }
  m->first[m->n_lines] = k;
  const char *p = text, *end = text + text_len;
  for (Py_ssize_t i = 0; i < n_text; i++) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *q = p;
    while (q < (eol != NULL ? eol : end) && (*q == ' ' || *q == '\t' || *q == '\f')) {
      q++;
    }
    m->indent[i] = (long)(q - p);
    p = eol != NULL ? eol + 1 : end;
  }
  PyObject *capsule = PyCapsule_New(m, CAPSULE_NAME, capsule_free);
  if (capsule == NULL) {
    linemap_free(m);
  }
  return capsule;
}

/* runner.py's make_mapper(): (line, col) of the instrumented text -> the user's. */
static void map_point(const struct linemap *m, long line, long col, long *out_line, long *out_col) {
  if (line == NONE || line < 1 || line > m->n_lines || m->first[line - 1] == m->first[line]) {
    *out_line = line;
    *out_col = col;
    return;
  }
  const struct seg *s = &m->segs[m->first[line - 1]];
  Py_ssize_t n = m->first[line] - m->first[line - 1];
  Py_ssize_t lo = 0, hi = n; /* bisect_right of col among the segments' out_col */
  while (lo < hi) {
    Py_ssize_t mid = (lo + hi) / 2;
    if (col < s[mid].out_col) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  Py_ssize_t i = lo > 0 ? lo - 1 : 0;
  *out_line = s[i].line;
  *out_col = s[i].inserted ? s[i].col : s[i].col + (col - s[i].out_col);
}

/* runner.py's line_only_mapper(): the one user line a column-less LINE maps to; 0 and a
 * ValueError when several. */
static int line_only(struct linemap *m, long line, long *out) {
  if (line < 1 || line > m->n_lines || m->first[line - 1] == m->first[line]) {
    *out = line;
    return 0;
  }
  if (m->only[line - 1] != LONG_MIN) {
    *out = m->only[line - 1];
    return 0;
  }
  const struct seg *s = &m->segs[m->first[line - 1]];
  Py_ssize_t n = m->first[line] - m->first[line - 1];
  long first = line <= m->n_text ? m->indent[line - 1] : 0;
  long found = LONG_MIN;
  for (Py_ssize_t i = 0; i < n; i++) {
    if (i + 1 < n && s[i + 1].out_col <= first) {
      continue; /* wholly in the indentation */
    }
    if (found != LONG_MIN && found != s[i].line) {
      not_exact("line %ld maps to several lines", line);
      return -1;
    }
    found = s[i].line;
  }
  m->only[line - 1] = found;
  *out = found;
  return 0;
}

struct pos {
  long line, end_line, col, end_col;
};

/* runner.py's position_mapper(). 0, or -1 with a ValueError. */
static int map_pos(struct linemap *m, struct pos p, struct pos *out) {
  if (p.line == NONE) {
    *out = p;
    return 0;
  }
  if (p.col == NONE || p.end_col == NONE || p.end_line == NONE) {
    if ((p.col == NONE) != (p.end_col == NONE)) {
      not_exact("position with one column (line %ld)", p.line);
      return -1;
    }
    long nl, nel = NONE;
    if (line_only(m, p.line, &nl) != 0 ||
        (p.end_line != NONE && line_only(m, p.end_line, &nel) != 0)) {
      return -1;
    }
    if (nel != NONE && nel < nl) {
      not_exact("position without columns ends before it starts (line %ld)", p.line);
      return -1;
    }
    *out = (struct pos){nl, nel, NONE, NONE};
    return 0;
  }
  map_point(m, p.line, p.col, &out->line, &out->col);
  map_point(m, p.end_line, p.end_col, &out->end_line, &out->end_col);
  if (out->end_line < out->line || (out->end_line == out->line && out->end_col < out->col)) {
    out->end_line = out->line;
    out->end_col = out->col;
  }
  return 0;
}

struct reader {
  const unsigned char *p, *end;
};

static int read_byte(struct reader *r) {
  return r->p < r->end ? *r->p++ : -1;
}

static long read_varint(struct reader *r) {
  long v = 0;
  int shift = 0, b;
  do {
    b = read_byte(r);
    if (b < 0 || shift > 56) {
      return LONG_MIN;
    }
    v |= (long)(b & 63) << shift;
    shift += 6;
  } while (b & 64);
  return v;
}

static long read_svarint(struct reader *r) {
  long v = read_varint(r);
  if (v == LONG_MIN) {
    return v;
  }
  return (v & 1) ? -(v >> 1) : (v >> 1);
}

struct writer {
  unsigned char *buf;
  size_t len, cap;
};

static int put(struct writer *w, unsigned v) {
  if (w->len == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 256;
    unsigned char *b = realloc(w->buf, cap);
    if (b == NULL) {
      return -1;
    }
    w->buf = b;
    w->cap = cap;
  }
  w->buf[w->len++] = (unsigned char)v;
  return 0;
}

static int put_varint(struct writer *w, unsigned long v) {
  while (v >= 64) {
    if (put(w, 0x40 | (v & 63)) != 0) {
      return -1;
    }
    v >>= 6;
  }
  return put(w, (unsigned)v);
}

static int put_svarint(struct writer *w, long v) {
  return put_varint(w, v < 0 ? ((unsigned long)-v << 1) | 1 : (unsigned long)v << 1);
}

/* Writes N code units at position Q (the user's), as code_mover()'s encoder does. */
static int encode(struct writer *w, struct pos q, long n, long *prev) {
  while (n > 0) {
    long k = n > 8 ? 8 : n;
    n -= k;
    unsigned head = 0x80 | (unsigned)(k - 1);
    if (q.line == NONE) {
      if (put(w, head | 0x78) != 0) {
        return -1;
      }
      continue;
    }
    long d = q.line - *prev;
    *prev = q.line;
    int rc;
    if (q.end_line == q.line && q.col != NONE && d == 0 && q.col < 80 && q.end_col - q.col >= 0 &&
        q.end_col - q.col < 16) {
      rc = put(w, head | (unsigned)(q.col >> 3) << 3) ||
           put(w, (unsigned)((q.col & 7) << 4 | (q.end_col - q.col)));
    } else if (q.end_line == q.line && q.col != NONE && d >= 0 && d <= 2 && q.col < 128 &&
               q.col <= q.end_col && q.end_col < 128) {
      rc = put(w, head | (unsigned)(10 + d) << 3) || put(w, (unsigned)q.col) ||
           put(w, (unsigned)q.end_col);
    } else if (q.col == NONE && q.end_line == q.line) {
      rc = put(w, head | 13 << 3) || put_svarint(w, d);
    } else {
      rc = put(w, head | 14 << 3) || put_svarint(w, d) ||
           put_varint(w, (unsigned long)(q.end_line - q.line)) ||
           put_varint(w, q.col == NONE ? 0 : (unsigned long)q.col + 1) ||
           put_varint(w, q.end_col == NONE ? 0 : (unsigned long)q.end_col + 1);
    }
    if (rc != 0) {
      return -1;
    }
  }
  return 0;
}

/* Maps the run of N units at P and writes it. 0, or -1 with an exception. */
static int flush(struct linemap *m, struct writer *w, struct pos p, long n, long *prev) {
  struct pos q;
  if (map_pos(m, p, &q) != 0) {
    return -1;
  }
  if (encode(w, q, n, prev) != 0) {
    PyErr_NoMemory();
    return -1;
  }
  return 0;
}

static PyObject *lt_move(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *capsule;
  const char *table;
  Py_ssize_t table_len;
  long firstlineno;
  int top;
  if (!PyArg_ParseTuple(args, "Oy#lp", &capsule, &table, &table_len, &firstlineno, &top)) {
    return NULL;
  }
  struct linemap *m = PyCapsule_GetPointer(capsule, CAPSULE_NAME);
  if (m == NULL) {
    return NULL;
  }
  /* A module's first line is 1 whatever its statements; a function's, class's, lambda's or
   * comprehension's is its node's line. */
  long first = firstlineno;
  if (!top && line_only(m, firstlineno, &first) != 0) {
    return NULL;
  }
  struct reader r = {(const unsigned char *)table, (const unsigned char *)table + table_len};
  struct writer w = {NULL, 0, 0};
  long computed = firstlineno, prev = first, run_n = 0;
  struct pos run = {0, 0, 0, 0};
  while (r.p < r.end) {
    int b = read_byte(&r);
    int code = (b >> 3) & 15;
    long units = (b & 7) + 1;
    struct pos p;
    if ((b & 0x80) == 0) {
      goto bad;
    }
    if (code == 15) {
      p = (struct pos){NONE, NONE, NONE, NONE};
    } else if (code == 14) {
      long d = read_svarint(&r), de = read_varint(&r), c = read_varint(&r), ec = read_varint(&r);
      if (d == LONG_MIN || de == LONG_MIN || c == LONG_MIN || ec == LONG_MIN) {
        goto bad;
      }
      computed += d;
      p = (struct pos){computed, computed + de, c - 1, ec - 1};
    } else if (code == 13) {
      long d = read_svarint(&r);
      if (d == LONG_MIN) {
        goto bad;
      }
      computed += d;
      p = (struct pos){computed, computed, NONE, NONE};
    } else if (code >= 10) {
      computed += code - 10;
      int c = read_byte(&r), ec = read_byte(&r);
      if (c < 0 || ec < 0) {
        goto bad;
      }
      p = (struct pos){computed, computed, c, ec};
    } else {
      int second = read_byte(&r);
      if (second < 0) {
        goto bad;
      }
      long c = (long)code << 3 | (second >> 4);
      p = (struct pos){computed, computed, c, c + (second & 15)};
    }
    /* consecutive units at one position are one run (itertools.groupby over co_positions()) */
    if (run_n > 0 && memcmp(&p, &run, sizeof p) == 0) {
      run_n += units;
      continue;
    }
    if (run_n > 0 && flush(m, &w, run, run_n, &prev) != 0) {
      free(w.buf);
      return NULL;
    }
    run = p;
    run_n = units;
  }
  if (run_n > 0 && flush(m, &w, run, run_n, &prev) != 0) {
    free(w.buf);
    return NULL;
  }
  PyObject *out = PyBytes_FromStringAndSize((const char *)w.buf, (Py_ssize_t)w.len);
  free(w.buf);
  if (out == NULL) {
    return NULL;
  }
  PyObject *result = Py_BuildValue("(lN)", first, out);
  return result;
bad:
  free(w.buf);
  PyErr_SetString(PyExc_ValueError, "a location table that is not CPython 3.11-3.13's");
  return NULL;
}

static PyMethodDef lt_methods[] = {
    {"linemap", lt_linemap, METH_VARARGS,
     "linemap($module, lines, source, /)\n--\n\nThe runner's line map, for move_linetable()."},
    {"move_linetable", lt_move, METH_VARARGS,
     "move_linetable($module, map, linetable, firstlineno, top, /)\n--\n\n"
     "(first line, location table) with the user's positions; ValueError if not exact."},
    {NULL, NULL, 0, NULL}};

int cg_linetable_add(PyObject *module) {
  return PyModule_AddFunctions(module, lt_methods);
}
