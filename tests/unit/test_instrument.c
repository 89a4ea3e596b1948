/*
 * test_instrument.c - the instrumenter's engine on small Python sources: what it refuses and
 * where, what it leaves alone, the points it finds, and the layout of what it writes. (The
 * instrumented programs are run by tests/instrument/run_corpus.py; the whole standard library is
 * compiled by tests/instrument/check_stdlib.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h must come after the headers above. */
#include <cmocka.h>

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instrument.h"

static const cgi_language *python(void) {
  const cgi_language *l = NULL;
  char why[256];
  if (cgi_language_lookup("python", &l, why, sizeof why) != CGI_OK) {
    print_error("no python language: %s\n", why);
  }
  assert_non_null(l);
  return l;
}

static cgi_result *run(const char *src, cgi_granularity g, int expect_rc) {
  cgi_options o = {g, "t.py", 1, NULL, NULL};
  cgi_result *r = NULL;
  int rc = cgi_instrument(python(), src, strlen(src), &o, &r);
  if (rc != expect_rc) {
    print_error("rc %d, expected %d: %s\n", rc, expect_rc,
                cgi_result_error(r) ? cgi_result_error(r) : "(no error)");
  }
  assert_int_equal(rc, expect_rc);
  return r;
}

static const cgi_point *point(const cgi_result *r, const char *name) {
  for (size_t i = 0; i < cgi_result_point_count(r); i++) {
    if (strcmp(cgi_result_point(r, i)->name, name) == 0) {
      return cgi_result_point(r, i);
    }
  }
  print_error("no point %s\n", name);
  fail();
  return NULL;
}

/* @p n functions nested in each other (one blank per level, so the grammar reads them all), the
 * innermost with @p inner as its body line; every level calls the next. */
static char *nested_defs(int n, const char *inner) {
  size_t cap = (size_t)n * (size_t)n * 2 + 4096;
  char *s = malloc(cap), *p = s;
  for (int i = 0; i < n; i++) {
    p += sprintf(p, "%*sdef f%d():\n", i, "", i);
  }
  p += sprintf(p, "%*s%s\n", n, "", inner);
  for (int i = n - 1; i > 0; i--) {
    p += sprintf(p, "%*sreturn f%d()\n", i, "", i);
  }
  sprintf(p, "print(f0())\n");
  return s;
}

/* CPython compiles 99 levels of indentation and each guard adds one: the guards that would go
 * past them are left out innermost first, and those functions listed with the reason. */
static void test_indentation_limit(void **state) {
  (void)state;
  char *src = nested_defs(50, "return 1"); /* f49's body at level 50: + 50 guards is 100 */
  cgi_result *r = run(src, CGI_COARSE, CGI_OK);
  assert_int_equal(cgi_result_point_count(r), 49);
  assert_int_equal(cgi_result_left_count(r), 1);
  const cgi_point *p = cgi_result_left(r, 0);
  assert_true(p->flags & CGI_SKIPPED);
  assert_int_equal(p->line, 50);
  assert_non_null(strstr(p->skipped, "99 levels"));
  assert_non_null(strstr(p->name, ".<locals>.f49"));
  cgi_result_destroy(r);
  free(src);
  /* 49 levels: all fit (49 + 49 guards); an inline innermost body becomes a block of its own */
  src = nested_defs(49, "return 1");
  r = run(src, CGI_COARSE, CGI_OK);
  assert_int_equal(cgi_result_point_count(r), 49);
  assert_int_equal(cgi_result_left_count(r), 0);
  cgi_result_destroy(r);
  free(src);
  src = nested_defs(49, "def g(): return 1");
  r = run(src, CGI_COARSE, CGI_OK);
  assert_int_equal(cgi_result_point_count(r), 49); /* g's would be 49 + 49 + 2 */
  assert_int_equal(cgi_result_left_count(r), 1);
  cgi_result_destroy(r);
  free(src);
  /* 99 levels of the user's own: every function holds the row of level 99, so none fits, nor
   * does the module body's guard at fine granularity; the file is still instrumented */
  src = nested_defs(99, "return 1");
  r = run(src, CGI_FINE, CGI_OK);
  assert_int_equal(cgi_result_point_count(r), 0);
  assert_int_equal(cgi_result_left_count(r), 99);
  cgi_result_destroy(r);
  free(src);
}

static void test_languages(void **state) {
  (void)state;
  assert_ptr_equal(cgi_language_find("py"), python());
  assert_ptr_equal(cgi_language_for_path("dir/x.py"), python());
  assert_null(cgi_language_for_path("x.txt"));
  assert_null(cgi_language_for_path("py"));
  assert_non_null(cgi_language_runner(python()));
  const char *module = NULL;
  /* Python's async for/with helpers are the runtime's: no support module of its own. */
  assert_null(cgi_language_support(python(), &module));
  assert_null(module);
}

static void test_refusals(void **state) {
  (void)state;
  cgi_result *r = run("def f(x):\n    return x +\n\ndef g():\n    pass\n", CGI_COARSE, -1);
  assert_int_equal(cgi_result_error_line(r), 2);
  assert_non_null(strstr(cgi_result_error(r), "t.py:2:"));
  assert_non_null(strstr(cgi_result_error(r), "syntax error"));
  assert_null(cgi_result_text(r, NULL));
  cgi_result_destroy(r);

  r = run("x = 1\ns = 'caf\xe9'\n", CGI_COARSE, -1);
  assert_string_equal(cgi_result_error(r),
                      "t.py:2:9: not valid UTF-8 (byte 0xE9); codegreen reads source files as "
                      "UTF-8: convert the file, for example with iconv -f latin1 -t utf-8");
  cgi_result_destroy(r);

  cgi_options o = {CGI_COARSE, "n.py", 0, NULL, NULL};
  r = NULL;
  assert_int_equal(cgi_instrument(python(), "x = 1\n\0y = 2\n", 13, &o, &r), -1);
  assert_non_null(strstr(cgi_result_error(r), "n.py:2:1: the file contains a NUL byte"));
  cgi_result_destroy(r);

  r = run("x = 1\ry = 2\n", CGI_COARSE, -1);
  assert_non_null(strstr(cgi_result_error(r), "carriage return"));
  cgi_result_destroy(r);
}

static void test_nothing_to_do(void **state) {
  (void)state;
  const char *src = "\"\"\"only a module\"\"\"\nimport os\nprint(os.sep)\nlambda: 1\n";
  cgi_result *r = run(src, CGI_COARSE, 0);
  assert_int_equal(cgi_result_point_count(r), 0);
  assert_string_equal(cgi_result_text(r, NULL), src);
  cgi_result_destroy(r);
  r = run("", CGI_FINE, 0);
  assert_string_equal(cgi_result_text(r, NULL), "");
  cgi_result_destroy(r);
}

static void test_prologue_stays_first(void **state) {
  (void)state;
  const char *src = "#!/usr/bin/env python3\n"
                    "# -*- coding: utf-8 -*-\n"
                    "\"\"\"Doc.\"\"\"\n"
                    "from __future__ import annotations\n"
                    "import os\n"
                    "def f():\n"
                    "    return 1\n";
  cgi_result *r = run(src, CGI_COARSE, 0);
  const char *t = cgi_result_text(r, NULL);
  assert_memory_equal(t, src,
                      strlen("#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n"
                             "\"\"\"Doc.\"\"\"\nfrom __future__ import annotations\n"));
  const char *prelude = strstr(t, "__import__(\"codegreen_runtime\").install(\"_codegreen\")");
  assert_non_null(prelude);
  assert_true(prelude > strstr(t, "from __future__"));
  assert_true(prelude < strstr(t, "import os"));
  cgi_result_destroy(r);
}

static void test_points(void **state) {
  (void)state;
  const char *src = "class Shape:\n"
                    "    @staticmethod\n"
                    "    def unit(): return 1\n"
                    "    @property\n"
                    "    def side(self):\n"
                    "        return 2\n"
                    "    async def co(self):\n"
                    "        await x()\n"
                    "    def gen(self):\n"
                    "        yield 1\n"
                    "        key = lambda v: (yield v)\n"
                    "def outer():\n"
                    "    def inner():\n"
                    "        class Local:\n"
                    "            def m(self): pass\n"
                    "    async def agen():\n"
                    "        yield 2\n"
                    "        async for v in it(): pass\n";
  cgi_result *r = run(src, CGI_COARSE, 0);
  assert_int_equal(cgi_result_point_count(r), 8);
  assert_string_equal(point(r, "Shape.unit")->kind, "staticmethod");
  assert_int_equal(point(r, "Shape.unit")->line, 3);
  assert_string_equal(point(r, "Shape.side")->kind, "property");
  assert_int_equal(point(r, "Shape.side")->line, 5);
  assert_int_equal(point(r, "Shape.co")->flags, CGI_ASYNC);
  assert_int_equal(point(r, "Shape.co")->suspensions, 1);
  assert_int_equal(point(r, "Shape.gen")->flags, CGI_GENERATOR);
  assert_int_equal(point(r, "Shape.gen")->suspensions, 1); /* the lambda's yield is its own */
  assert_string_equal(point(r, "outer")->kind, "function");
  assert_string_equal(point(r, "outer.<locals>.inner")->kind, "nested function");
  assert_string_equal(point(r, "outer.<locals>.inner.<locals>.Local.m")->kind, "method");
  assert_int_equal(point(r, "outer.<locals>.agen")->flags, CGI_ASYNC | CGI_GENERATOR);
  assert_int_equal(point(r, "outer.<locals>.agen")->suspensions, 2);
  assert_int_equal(cgi_result_uses_support(r), 1);
  char kind[64];
  cgi_point_kind(point(r, "outer.<locals>.agen"), kind, sizeof kind);
  assert_string_equal(kind, "nested function (async generator)");
  cgi_result_destroy(r);

  r = run("x = 0\nfor i in range(3):\n    x += i\ndef f():\n    while x:\n        pass\n", CGI_FINE,
          0);
  assert_int_equal(cgi_result_point_count(r), 4);
  assert_string_equal(point(r, "<module>")->kind, "module");
  assert_int_equal(point(r, "<module>:for")->line, 2);
  assert_string_equal(point(r, "f:while")->kind, "loop");
  assert_int_equal(point(r, "<module>")->index, 0);
  cgi_result_destroy(r);
}

static void test_layout(void **state) {
  (void)state;
  /* a body on the header line, a docstring kept first, statements after ';' */
  cgi_result *r = run("def f(x): return x\ndef g():\n    \"d\"; return 2\n", CGI_COARSE, 0);
  const char *t = cgi_result_text(r, NULL);
  assert_non_null(strstr(t, "def f(x):\n    _codegreen_"));
  assert_non_null(strstr(t, "    try:\n        return x\n    finally:\n        _codegreen_"));
  assert_non_null(strstr(t, "def g():\n    \"d\";\n    _codegreen_"));
  /* a boundary is the file's enter/exit and the table index; the table is names and lines */
  const char *pub = strstr(t, "_codegreen.publish(\"_codegreen\", \"_codegreen_");
  assert_non_null(pub);
  char table[64];
  assert_int_equal(sscanf(pub, "_codegreen.publish(\"_codegreen\", \"%63[^\"]", table), 1);
  assert_int_equal(strlen(table), strlen("_codegreen_") + 8);
  assert_non_null(strstr(pub, "\", \"t.py\", (\n    \"f\", 1,\n    \"g\", 2,\n))\n"));
  char want[256];
  snprintf(want, sizeof want,
           "def f(x):\n    %s_enter(0)\n    try:\n        return x\n"
           "    finally:\n        %s_exit(0)\n",
           table, table);
  assert_non_null(strstr(t, want));
  cgi_result_destroy(r);

  /* tabs: the added level is a tab; CR LF: every inserted line ends with CR LF */
  r = run("def f():\r\n\tif 1:\r\n\t\treturn 1\r\n", CGI_COARSE, 0);
  t = cgi_result_text(r, NULL);
  assert_non_null(strstr(t, "def f():\r\n\t_codegreen_"));
  assert_non_null(strstr(t, "\t\tif 1:\r\n\t\t\treturn 1\r\n\tfinally:\r\n\t\t_codegreen_"));
  for (const char *p = strchr(t, '\n'); p != NULL; p = strchr(p + 1, '\n')) {
    assert_int_equal(p[-1], '\r');
  }
  cgi_result_destroy(r);

  /* a multi-line string is never re-indented */
  r = run("def f():\n    s = '''a\nb'''\n    return s\n", CGI_COARSE, 0);
  assert_non_null(strstr(cgi_result_text(r, NULL), "        s = '''a\nb'''\n        return s\n"));
  cgi_result_destroy(r);

  /* yield: statement form for a cheap value, expression form for a call */
  r = run("def g():\n    yield 1\n    x = yield f()\n", CGI_COARSE, 0);
  t = cgi_result_text(r, NULL);
  assert_non_null(strstr(t, "        _codegreen_"));
  assert_non_null(strstr(t, "            yield 1\n        finally:\n            _codegreen_"));
  assert_non_null(strstr(t, "x = ((yield ((f()), _codegreen_"));
  cgi_result_destroy(r);

  /* a tuple value stays one value */
  r = run("def g():\n    yield f(), 2\n", CGI_COARSE, 0);
  assert_non_null(strstr(cgi_result_text(r, NULL), "((yield ((f(), 2), _codegreen_"));
  cgi_result_destroy(r);

  /* the source uses the runtime's name: another one is chosen */
  r = run("_codegreen = 1\ndef f():\n    return _codegreen\n", CGI_COARSE, 0);
  assert_non_null(strstr(cgi_result_text(r, NULL), ".install(\"_codegreen_1\")"));
  cgi_result_destroy(r);
}

static void test_declared_encoding(void **state) {
  (void)state;
  /* latin-1 declared: instrumented through UTF-8, written back as latin-1 */
  const char *src = "# -*- coding: latin-1 -*-\ndef f():\n    return 'caf\xe9'\n";
  cgi_result *r = run(src, CGI_COARSE, 0);
  const char *t = cgi_result_text(r, NULL);
  assert_non_null(strstr(t, "# -*- coding: latin-1 -*-\n"));
  assert_non_null(strstr(t, "        return 'caf\xe9'\n"));
  cgi_result_destroy(r);
  r = run("# coding: ascii\nx = '\xc3\xa9'\n", CGI_COARSE, -1);
  assert_non_null(strstr(cgi_result_error(r), "the encoding the file declares"));
  cgi_result_destroy(r);
}

static void test_line_map(void **state) {
  (void)state;
  cgi_result *r = run("import os\ndef f():\n    return os.sep\n", CGI_COARSE, 0);
  json_error_t e;
  json_t *m = json_loads(cgi_result_line_map(r), 0, &e);
  assert_non_null(m);
  json_t *lines = json_object_get(m, "lines");
  /* one entry per line of the instrumented text */
  size_t n = 0;
  for (const char *p = cgi_result_text(r, NULL); *p; p++) {
    n += *p == '\n';
  }
  assert_int_equal(json_array_size(lines), n);
  /* the last line, "        _codegreen_TAG_exit(0)", is inserted text standing for line 3 */
  json_t *last = json_array_get(lines, n - 1);
  assert_int_equal(json_integer_value(json_array_get(json_array_get(last, 0), 1)), 3);
  assert_int_equal(json_integer_value(json_array_get(json_array_get(last, 0), 3)), 1);
  /* "        return os.sep": 8 inserted blanks, then line 3 from column 4 */
  size_t i;
  json_t *line;
  bool found = false;
  json_array_foreach(lines, i, line) {
    json_t *seg = json_array_get(line, json_array_size(line) - 1);
    if (json_array_size(line) == 2 && json_integer_value(json_array_get(seg, 1)) == 3 &&
        json_integer_value(json_array_get(seg, 0)) == 4 &&
        json_integer_value(json_array_get(seg, 3)) == 0) {
      found = true;
    }
  }
  assert_true(found);
  json_decref(m);
  cgi_result_destroy(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_languages),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_nothing_to_do),
      cmocka_unit_test(test_prologue_stays_first),
      cmocka_unit_test(test_points),
      cmocka_unit_test(test_layout),
      cmocka_unit_test(test_declared_encoding),
      cmocka_unit_test(test_line_map),
      cmocka_unit_test(test_indentation_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
