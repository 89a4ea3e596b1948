/*
 * test_instrument_match.c - the walk that matches a language's query patterns (match.c) against
 * tree-sitter's query cursor it replaced: every file of the instrumenter's corpora, in every
 * language and at both granularities, and sources written to catch an order that differs (one
 * node captured twice, several decorators and kinds on one function), must come out byte for
 * byte the same, with the same points and line map. Also: every language's query is read by the
 * walk, and a pattern it does not read leaves the language on the query cursor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h must come after the headers above. */
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "instrument.h"
#include "language.h"

static const cgi_language *lang(const char *name) {
  const cgi_language *l = NULL;
  char why[256];
  if (cgi_language_lookup(name, &l, why, sizeof why) != CGI_OK) {
    print_error("no language %s: %s\n", name, why);
  }
  assert_non_null(l);
  return l;
}

static void same_point(const cgi_point *a, const cgi_point *b) {
  assert_string_equal(a->name, b->name);
  assert_string_equal(a->kind, b->kind);
  assert_int_equal(a->line, b->line);
  assert_int_equal(a->column, b->column);
  assert_int_equal(a->end_line, b->end_line);
  assert_int_equal(a->flags, b->flags);
  assert_int_equal(a->index, b->index);
  assert_int_equal(a->suspensions, b->suspensions);
  assert_true((a->decorator == NULL) == (b->decorator == NULL));
  if (a->decorator != NULL) {
    assert_string_equal(a->decorator, b->decorator);
  }
}

/* Instruments @p src with the walk and with the query cursor; both must agree in everything.
 * @return how many points the walk found (so callers know a file was not trivially empty). */
static size_t compare(const cgi_language *l, const char *what, const char *src, size_t len,
                      cgi_granularity g) {
  struct cgi_language *L = (struct cgi_language *)l; /* the seam: the query cursor for a while */
  assert_non_null(L->matcher);
  cgi_options o = {g, what, 1, NULL, NULL};
  cgi_result *walk = NULL, *cursor = NULL;
  int rc_walk = cgi_instrument(l, src, len, &o, &walk);
  cgi__matcher *keep = L->matcher;
  L->matcher = NULL;
  int rc_cursor = cgi_instrument(l, src, len, &o, &cursor);
  L->matcher = keep;
  assert_int_equal(rc_walk, rc_cursor);
  size_t n = 0;
  if (rc_walk == CGI_OK) {
    size_t la, lb;
    const char *ta = cgi_result_text(walk, &la), *tb = cgi_result_text(cursor, &lb);
    if (la != lb || memcmp(ta, tb, la) != 0) {
      print_error("%s (granularity %d): the walk's text differs from the query cursor's\n", what,
                  (int)g);
      fail();
    }
    assert_string_equal(cgi_result_line_map(walk), cgi_result_line_map(cursor));
    n = cgi_result_point_count(walk);
    assert_int_equal(n, cgi_result_point_count(cursor));
    for (size_t i = 0; i < n; i++) {
      same_point(cgi_result_point(walk, i), cgi_result_point(cursor, i));
    }
    assert_int_equal(cgi_result_left_count(walk), cgi_result_left_count(cursor));
    for (size_t i = 0; i < cgi_result_left_count(walk); i++) {
      same_point(cgi_result_left(walk, i), cgi_result_left(cursor, i));
    }
  } else {
    assert_string_equal(cgi_result_error(walk), cgi_result_error(cursor));
  }
  cgi_result_destroy(walk);
  cgi_result_destroy(cursor);
  return n;
}

/* Every file below @p dir that some language instruments: how many, and their points. */
static void compare_tree(const char *dir, size_t *files, size_t *points) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    print_error("cannot open %s\n", dir);
    fail();
  }
  for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
    if (e->d_name[0] == '.') {
      continue;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0) {
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      compare_tree(path, files, points);
      continue;
    }
    /* crlf.py.in is a Python source with CRLF line ends */
    size_t pl = strlen(path);
    const cgi_language *l =
        pl > 3 && strcmp(path + pl - 3, ".in") == 0 ? lang("python") : cgi_language_for_path(path);
    if (l == NULL) {
      continue;
    }
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *src = malloc((size_t)st.st_size + 1);
    assert_non_null(src);
    size_t n = fread(src, 1, (size_t)st.st_size, f);
    fclose(f);
    src[n] = '\0';
    *points += compare(l, path, src, n, CGI_COARSE);
    *points += compare(l, path, src, n, CGI_FINE);
    (*files)++;
    free(src);
  }
  closedir(d);
}

static void test_corpora(void **state) {
  (void)state;
  const char *fixtures = getenv("NEMB_FIXTURES"); /* tests/fixtures, set by cmake/nemb.cmake */
  assert_non_null(fixtures);
  static const char *const dirs[] = {"instrument/corpus", "instrument/native",
                                     "instrument/projects", "fuzz/corpus/instrument"};
  size_t files = 0, points = 0;
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/../%s", fixtures, dirs[i]);
    compare_tree(dir, &files, &points);
  }
  assert_true(files >= 20);
  assert_true(points >= 200);
}

/* Sources where the order of matches decides something: one node captured by two patterns with
 * the same role (async for over an await, async with over awaits), several decorators that leave
 * a function, several kinds on one function, docstrings of every shape. */
static const char tricky_py[] =
    "\"\"\"doc\"\"\" \"more\"\n"
    "from __future__ import annotations\n"
    "import numba, functools\n"
    "@numba.jit(nopython=True)\n@numba.njit\n@jit\ndef left(a):\n    return a\n"
    "@staticmethod\n@property\ndef both(a):\n    return a\n"
    "class K:\n"
    "    (\"doc\" f\"x\")\n"
    "    @property\n    @staticmethod\n    def p(self):\n        f\"not doc\"\n        return 1\n"
    "    @classmethod\n    @staticmethod\n    @functools.cached_property\n"
    "    async def q(cls):\n"
    "        b\"bytes\"\n"
    "        async for x in await cls.src():\n            yield x\n"
    "        async with a, await b, await c as d:\n            await d\n"
    "        async with await e:\n            pass\n"
    "        r = [x async for x in await cls.g() async for y in (yield x)]\n"
    "        async for z in (yield):\n            pass\n"
    "        return (lambda: (yield))\n"
    "    @x.setter\n    @y.getter\n    def r(self):\n"
    "        (\"a\"\n         \"b\")\n"
    "        while True:\n            for i in range(3):\n                yield (await i)\n"
    "async def g():\n"
    "    async with (await h()) as k, l as m:\n        await (await k)\n"
    "    lambda: lambda: 1\n";

static const char tricky_cpp[] =
    "namespace n { struct S { int f() const { return [](){ return 1; }(); } }; }\n"
    "constexpr int c() { return 1; }\n"
    "int **pp(void) { return 0; }\n"
    "auto co() -> int { co_return 1; }\n"
    "class A { public: operator bool() const { return true; } A() {} ~A() {} };\n";

static const char tricky_java[] =
    "package p;\n"
    "class M {\n  static { int x = 1; }\n  { int y = 2; }\n"
    "  M() { Runnable r = () -> { }; }\n"
    "  record R(int a) { R { } }\n"
    "  enum E { A { void f() {} }; void g() {} }\n"
    "  void h() { new Object() { public String toString() { return \"\"; } }; }\n}\n";

static void test_tricky(void **state) {
  (void)state;
  const struct {
    const char *lang, *src;
  } cases[] = {{"python", tricky_py}, {"cpp", tricky_cpp}, {"java", tricky_java}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const cgi_language *l = lang(cases[i].lang);
    size_t n = compare(l, cases[i].lang, cases[i].src, strlen(cases[i].src), CGI_FINE);
    assert_true(n > 3);
    compare(l, cases[i].lang, cases[i].src, strlen(cases[i].src), CGI_COARSE);
  }
}

/* A pattern the walk does not read (a quantifier, an anchor, a sibling sequence): no matcher,
 * so the language keeps the query cursor. */
static void test_unsupported(void **state) {
  (void)state;
  const cgi_language *l = lang("python");
  const TSLanguage *ts = l->src->grammar();
  static const char *const queries[] = {
      "(block (comment)* @c)",
      "(block . (expression_statement) @first)",
      "((identifier) @a (identifier) @b)",
      "(function_definition !return_type) @f",
  };
  for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
    uint32_t off;
    TSQueryError err;
    TSQuery *q = ts_query_new(ts, queries[i], (uint32_t)strlen(queries[i]), &off, &err);
    assert_non_null(q);
    cgi__matcher *m = (cgi__matcher *)1;
    assert_int_equal(cgi__matcher_new(ts, q, queries[i], &m), 0);
    assert_null(m);
    ts_query_delete(q);
  }
  /* and one it reads */
  const char *ok = "((expression_statement (string) @s) @e (#eq? @s \"x\")) (lambda) @l";
  uint32_t off;
  TSQueryError err;
  TSQuery *q = ts_query_new(ts, ok, (uint32_t)strlen(ok), &off, &err);
  assert_non_null(q);
  cgi__matcher *m = NULL;
  assert_int_equal(cgi__matcher_new(ts, q, ok, &m), 1);
  assert_non_null(m);
  cgi__matcher_free(m);
  ts_query_delete(q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_corpora),
      cmocka_unit_test(test_tricky),
      cmocka_unit_test(test_unsupported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
