/*
 * source.c - the first stage: the source's bytes. A declared encoding (PEP 263 for Python) is
 * converted to UTF-8 for the engine and back at the end; the bytes are checked; the text is
 * parsed; and the line table answers where lines and logical lines start and end.
 */
#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stages.h"

int cgi__fail_at(ctx *c, uint32_t offset, const char *fmt, ...) {
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
    c->oom = true; /* a failure with no message to say it would be worse than this one */
  }
  c->res->err_line = line;
  c->res->err_col = col;
  return -1;
}

/* Checks UTF-8, NUL bytes and line ends. @return 0 or -1 (error set). */
int cgi__check_bytes(ctx *c) {
  const unsigned char *s = (const unsigned char *)c->src;
  uint32_t n = c->len;
  for (uint32_t i = 0; i < n;) {
    unsigned char b = s[i];
    if (b == 0) {
      return cgi__fail_at(c, i, "the file contains a NUL byte; it is not a source file");
    }
    if (b == '\r' && (i + 1 >= n || s[i + 1] != '\n')) {
      return cgi__fail_at(c, i,
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
    return cgi__fail_at(c, i,
                        "not valid UTF-8 (byte 0x%02X); codegreen reads source files as UTF-8: "
                        "convert the file, for example with iconv -f latin1 -t utf-8",
                        b);
  }
  return 0;
}

int cgi__build_lines(ctx *c) {
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

uint32_t cgi__row_of(const ctx *c, uint32_t off) {
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

uint32_t cgi__line_start(const ctx *c, uint32_t off) {
  return c->line_starts[cgi__row_of(c, off)];
}

/* Is @p pos the first token of a logical line: only blanks before it on its physical line, and
 * that line not the continuation of a backslash-ended one? */
bool cgi__at_logical_line_start(const ctx *c, uint32_t pos) {
  uint32_t i = pos;
  while (i > 0 && cgi__is_blank(c->src[i - 1])) {
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
  return !ts_node_is_null(n) && cgi__is_type(c, n, "line_comment_types");
}

/* The end of the logical line that a statement ending at @p end closes: the offset after its
 * newline, or the file's length. -1 if something other than blanks, a comment or a trailing ';'
 * follows on the line. */
int64_t cgi__logical_line_end(const ctx *c, uint32_t end) {
  uint32_t i = end;
  for (;;) {
    while (i < c->len && (cgi__is_blank(c->src[i]) || c->src[i] == ';')) {
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
bool cgi__alone_on_line(const ctx *c, uint32_t start, uint32_t end) {
  if (!cgi__at_logical_line_start(c, start)) {
    return false;
  }
  uint32_t i = end;
  while (i < c->len && cgi__is_blank(c->src[i])) {
    i++;
  }
  return i >= c->len || c->src[i] == '#' || c->src[i] == '\r' || c->src[i] == '\n';
}

/* The leading blanks of the line holding @p pos, as a new string. */
char *cgi__leading_ws(const ctx *c, uint32_t pos) {
  uint32_t a = cgi__line_start(c, pos), b = a;
  while (b < c->len && cgi__is_blank(c->src[b])) {
    b++;
  }
  return strndup(c->src + a, b - a);
}

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

/* The grammar's own limit on indentation (max_indent_columns: tree-sitter-python keeps each
 * level's width in one byte, so a line indented 256 columns or more, which Python compiles,
 * does not parse): "; line N is indented W columns, ..." into @p out for the first such line. */
static void wide_indentation(const ctx *c, char *out, size_t cap) {
  long max = atol(cgi__conf(c, "max_indent_columns"));
  for (uint32_t r = 0; max > 0 && r < c->n_lines; r++) {
    long w = 0;
    uint32_t i = c->line_starts[r];
    for (; i < c->len && cgi__is_blank(c->src[i]); i++) {
      w = c->src[i] == '\t' ? (w / 8 + 1) * 8 : (c->src[i] == '\f' ? 0 : w + 1);
    }
    if (w > max && i < c->len && c->src[i] != '\n' && c->src[i] != '\r' && c->src[i] != '#') {
      snprintf(out, cap,
               "; line %u is indented %ld columns and the %s grammar (tree-sitter) reads "
               "indentation up to %ld",
               r + 1, w, cgi_language_name(c->lang), max);
      return;
    }
  }
}

static int report_parse_error(ctx *c) {
  TSNode e;
  if (!first_error(c->root, &e)) {
    e = c->root;
  }
  uint32_t at = ts_node_start_byte(e);
  if (ts_node_is_missing(e)) {
    return cgi__fail_at(c, at, "syntax error: missing '%s'", ts_node_type(e));
  }
  /* the first token of the erroneous region */
  uint32_t end = ts_node_end_byte(e), n = at;
  while (n < end && n < c->len && c->src[n] != '\n' && n - at < 24) {
    n++;
  }
  char wide[160] = "";
  wide_indentation(c, wide, sizeof wide);
  return cgi__fail_at(c, at, "syntax error near '%.*s' (the file does not parse as %s%s)",
                      (int)(n - at), c->src + at, cgi_language_name(c->lang), wide);
}

/* The encoding declared on the first two lines (encoding_declaration in language.conf), as a new
 * string, or NULL (with c->oom set when memory ran out). The second line counts only when the
 * first is blank or a comment. */
static char *declared_encoding(ctx *c, const char *src, size_t len) {
  const char *pat = cgi_language_get(c->lang, "encoding_declaration");
  regex_t re;
  if (pat == NULL) {
    return NULL;
  }
  int rrc = regcomp(&re, pat, REG_EXTENDED);
  if (rrc != 0) {
    c->oom = rrc == REG_ESPACE;
    return NULL;
  }
  char *name = NULL;
  const char *p = src, *end = src + len;
  for (int line = 0; line < 2 && p < end && name == NULL; line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    char *l = strndup(p, n);
    if (l == NULL) {
      c->oom = true;
      break;
    }
    regmatch_t m[2];
    int xrc = regexec(&re, l, 2, m, 0);
    if (xrc == 0 && m[1].rm_so >= 0) {
      name = strndup(l + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
      c->oom |= name == NULL;
    }
    c->oom |= xrc == REG_ESPACE;
    size_t i = 0;
    while (i < n && (cgi__is_blank(l[i]) || l[i] == '\r')) {
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

int cgi__source_decode(ctx *c) {
  /* A file that declares another encoding is instrumented as UTF-8 and written back in its own
   * encoding (all inserted text is ASCII), so its bytes and its declaration stay as they were. */
  const char *src = c->src;
  size_t len = c->len;
  char *encoding = declared_encoding(c, src, len);
  if (encoding == NULL || is_utf8_name(encoding)) {
    free(encoding);
    return c->oom ? -1 : 0;
  }
  iconv_t in_cd = open_codec("UTF-8", encoding, true);
  iconv_t out_cd = open_codec(encoding, "UTF-8", false);
  if (in_cd == (iconv_t)-1 || out_cd == (iconv_t)-1) {
    cgi__fail_at(c, 0, "the file declares the encoding '%s', which this system cannot convert",
                 encoding);
    if (in_cd != (iconv_t)-1) {
      iconv_close(in_cd);
    }
    if (out_cd != (iconv_t)-1) {
      iconv_close(out_cd);
    }
    free(encoding);
    return -1;
  }
  size_t bad = 0, back_len = 0, converted_len = 0;
  char *back = NULL;
  int crc = convert(in_cd, src, len, &c->converted, &converted_len, &bad);
  if (crc == 0) {
    crc = convert(out_cd, c->converted, converted_len, &back, &back_len, &bad);
    if (crc == 0 && (back_len != len || memcmp(back, src, len) != 0)) {
      crc = -3;
    }
    free(back);
  }
  iconv_close(in_cd);
  if (crc != 0) {
    iconv_close(out_cd);
    if (crc == -2) {
      c->oom = true;
    } else if (crc == -3) {
      cgi__fail_at(c, 0, "the file's encoding '%s' does not survive a round trip through UTF-8",
                   encoding);
    } else {
      cgi__fail_at(c, (uint32_t)bad, "not valid %s (byte 0x%02X), the encoding the file declares",
                   encoding, (unsigned char)src[bad]);
    }
    free(encoding);
    return -1;
  }
  free(encoding);
  c->back_cd = out_cd;
  c->src = c->converted;
  c->len = (uint32_t)converted_len;
  return 0;
}

int cgi__source_encode(ctx *c) {
  if (c->back_cd == (iconv_t)-1) {
    return 0;
  }
  char *text = NULL;
  size_t text_len = 0, bad = 0;
  int crc = convert(c->back_cd, c->res->text, c->res->text_len, &text, &text_len, &bad);
  if (crc != 0) {
    if (crc == -2) {
      c->oom = true;
    } else {
      cgi__fail_at(c, 0, "cannot write the instrumented file back in its declared encoding");
    }
    return -1;
  }
  char *t = realloc(text, text_len + 1);
  if (t == NULL) {
    free(text);
    c->oom = true;
    return -1;
  }
  t[text_len] = '\0';
  free(c->res->text);
  c->res->text = t;
  c->res->text_len = text_len;
  return 0;
}

int cgi__parse(ctx *c) {
  TSParser *parser = ts_parser_new();
  if (parser == NULL || !ts_parser_set_language(parser, c->lang->src->grammar())) {
    ts_parser_delete(parser);
    c->oom = true;
    return -2;
  }
  c->tree = ts_parser_parse_string(parser, NULL, c->src, c->len);
  ts_parser_delete(parser);
  if (c->tree == NULL) {
    c->oom = true;
    return -2;
  }
  c->root = ts_tree_root_node(c->tree);
  /* on_syntax_error = skip (C, C++: macros the grammar cannot see through): the functions that
   * hold an error are left alone (make_regions), the others are instrumented */
  if (ts_node_has_error(c->root) && strcmp(cgi__conf(c, "on_syntax_error"), "skip") != 0) {
    report_parse_error(c);
    return -1;
  }
  return 0;
}
