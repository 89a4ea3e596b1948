/*
 * test_instrument_errors.c - the instrumenter's error paths: named codes from the language
 * lookup (CGI_ENOLANG with the known names), the message kept in each result (not in hidden
 * state), lookups and instrumenting from several threads at once, and running out of memory at
 * every allocation of cgi_instrument() in turn: each such run returns CGI_ENOMEM with "out of
 * memory", never a wrong text or another error, and leaks nothing (the ASan build checks).
 *
 * The allocation seam: this test is linked with -Wl,--wrap for malloc, calloc, realloc, strdup,
 * strndup and asprintf (cmake/instrument.cmake), so the instrumenter's own calls (a static
 * library) come here; fail_at picks the one allocation that fails. tree-sitter and iconv, shared
 * libraries, allocate unwrapped; the grammars' external scanners, compiled into the same static
 * library but third-party code that does not handle running out, allocate with the seam paused
 * (ts_parser_set_language and ts_parser_parse_string, which call them, are wrapped too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h must come after the headers above. */
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tree_sitter/api.h>

#include "instrument.h"

/* ----- the allocation seam (single-threaded use only: armed by the OOM tests alone) ----- */

static long fail_at = -1;        /* the index of the allocation that fails; -1: none fails */
static long n_allocs;            /* allocations counted since arm() */
static bool failed;              /* did the armed allocation happen? */
static const char *oom_language; /* the language under test (to break on in a debugger) */

static void arm(long n) {
  fail_at = n;
  n_allocs = 0;
  failed = false;
}

/* @return whether the armed allocation happened (and failed). */
static bool disarm(void) {
  fail_at = -1;
  return failed;
}

static bool fail_now(void) {
  if (fail_at < 0) {
    return false;
  }
  if (n_allocs++ == fail_at) {
    failed = true;
    return true;
  }
  return false;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_asprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void *__wrap_malloc(size_t n) {
  return fail_now() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
  return fail_now() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
  return fail_now() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s) {
  return fail_now() ? NULL : __real_strdup(s);
}
char *__wrap_strndup(const char *s, size_t n) {
  return fail_now() ? NULL : __real_strndup(s, n);
}
int __wrap_asprintf(char **out, const char *fmt, ...) {
  if (fail_now()) {
    *out = NULL; /* glibc leaves it undefined; the engine must not read it */
    return -1;
  }
  va_list ap;
  va_start(ap, fmt);
  int rc = vasprintf(out, fmt, ap);
  va_end(ap);
  return rc;
}

bool __real_ts_parser_set_language(TSParser *p, const TSLanguage *l);
TSTree *__real_ts_parser_parse_string(TSParser *p, const TSTree *old, const char *s, uint32_t n);
bool __wrap_ts_parser_set_language(TSParser *p, const TSLanguage *l);
TSTree *__wrap_ts_parser_parse_string(TSParser *p, const TSTree *old, const char *s, uint32_t n);

bool __wrap_ts_parser_set_language(TSParser *p, const TSLanguage *l) {
  if (fail_at < 0) { /* unarmed (the threads test): touch nothing */
    return __real_ts_parser_set_language(p, l);
  }
  long saved = fail_at;
  fail_at = -1;
  bool ok = __real_ts_parser_set_language(p, l);
  fail_at = saved;
  return ok;
}
TSTree *__wrap_ts_parser_parse_string(TSParser *p, const TSTree *old, const char *s, uint32_t n) {
  if (fail_at < 0) { /* unarmed (the threads test): touch nothing */
    return __real_ts_parser_parse_string(p, old, s, n);
  }
  long saved = fail_at;
  fail_at = -1;
  TSTree *t = __real_ts_parser_parse_string(p, old, s, n);
  fail_at = saved;
  return t;
}

/* ----- helpers ----- */

static const cgi_language *lang(const char *name) {
  const cgi_language *l = NULL;
  char why[256];
  int rc = cgi_language_lookup(name, &l, why, sizeof why);
  if (rc != CGI_OK) {
    print_error("%s: %s\n", name, why);
  }
  assert_int_equal(rc, CGI_OK);
  assert_non_null(l);
  return l;
}

/* Instruments @p src once with every allocation in turn failing, then with none failing.
 * @return the number of allocations a successful run makes (each was failed once). */
static long fail_each_allocation(const char *language, const char *src, cgi_granularity g,
                                 const char *want_text) {
  const cgi_language *l = lang(language); /* loaded before the seam is armed */
  oom_language = language;
  cgi_options o = {g, "dir/t.src", 1, NULL, NULL};
  for (long n = 0;; n++) {
    cgi_result *r = NULL;
    arm(n);
    int rc = cgi_instrument(l, src, strlen(src), &o, &r);
    if (!disarm()) { /* every allocation succeeded: the ordinary result */
      if (rc != CGI_OK) {
        print_error("%s\n", cgi_result_error(r));
      }
      assert_int_equal(rc, CGI_OK);
      assert_int_equal(cgi_result_status(r), CGI_OK);
      assert_null(cgi_result_error(r));
      assert_non_null(strstr(cgi_result_text(r, NULL), want_text));
      cgi_result_destroy(r);
      return n;
    }
    if (rc != CGI_ENOMEM) {
      print_error("allocation %ld failed: rc %d, %s\n", n, rc,
                  cgi_result_error(r) ? cgi_result_error(r) : "(no message)");
    }
    assert_int_equal(rc, CGI_ENOMEM);
    assert_int_equal(cgi_result_status(r), CGI_ENOMEM);
    assert_non_null(strstr(cgi_result_error(r), "out of memory"));
    if (r != NULL) {
      assert_null(cgi_result_text(r, NULL));
      assert_null(cgi_result_line_map(r));
    }
    cgi_result_destroy(r);
  }
}

/* ----- tests ----- */

static void test_lookup_codes(void **state) {
  (void)state;
  const cgi_language *l = (const cgi_language *)1;
  char why[256];
  assert_int_equal(cgi_language_lookup("cobol", &l, why, sizeof why), CGI_ENOLANG);
  assert_null(l);
  assert_string_equal(why, "no language called 'cobol' (known: c, cpp, java, python)");
  assert_int_equal(cgi_language_lookup("cobol", &l, NULL, 0), CGI_ENOLANG);
  assert_null(cgi_language_find("cobol"));
  /* an alias and a folder name both find the language */
  assert_int_equal(cgi_language_lookup("py", &l, why, sizeof why), CGI_OK);
  assert_string_equal(cgi_language_name(l), "python");
  assert_int_equal(cgi_language_check(why, sizeof why), CGI_OK);
  assert_string_equal(why, "");
  assert_string_equal(cgi_language_list(), "c, cpp, java, python");
}

/* Each result keeps its own message: a later failure does not change an earlier one's. */
static void test_message_per_result(void **state) {
  (void)state;
  const cgi_language *py = lang("python");
  cgi_options o = {CGI_COARSE, "a.py", 0, NULL, NULL};
  cgi_result *a = NULL, *b = NULL, *ok = NULL;
  assert_int_equal(cgi_instrument(py, "def f(:\n", 8, &o, &a), CGI_ESOURCE);
  o.context = "b.py";
  assert_int_equal(cgi_instrument(py, "x = 1\0\n", 7, &o, &b), CGI_ESOURCE);
  assert_int_equal(cgi_instrument(py, "def f():\n    pass\n", 18, &o, &ok), CGI_OK);
  assert_int_equal(cgi_result_status(a), CGI_ESOURCE);
  assert_non_null(strstr(cgi_result_error(a), "a.py:1:"));
  assert_non_null(strstr(cgi_result_error(a), "syntax error"));
  assert_string_equal(cgi_result_error(b),
                      "b.py:1:6: the file contains a NUL byte; it is not a source file");
  assert_null(cgi_result_error(ok));
  cgi_result_destroy(a);
  cgi_result_destroy(b);
  cgi_result_destroy(ok);
  /* no result at all (its own allocation failed) still reads as out of memory */
  assert_string_equal(cgi_result_error(NULL), "out of memory");
  assert_int_equal(cgi_result_status(NULL), CGI_ENOMEM);
}

static const char py_src[] = "# -*- coding: latin-1 -*-\n"
                             "import functools\n"
                             "class Shape:\n"
                             "    \"\"\"A shape.\"\"\"\n"
                             "    def area(self):\n"
                             "        for i in range(3):\n"
                             "            pass\n"
                             "        return 'caf\xe9'\n"
                             "    @staticmethod\n"
                             "    def make():\n"
                             "        def helper():\n"
                             "            yield 1\n"
                             "        return helper\n"
                             "    @property\n"
                             "    def size(self):\n"
                             "        return 1\n"
                             "async def fetch():\n"
                             "    await other()\n"
                             "@numba.njit\n"
                             "def fast(x):\n"
                             "    return x\n"
                             "while True:\n"
                             "    break\n";

static void test_oom_python(void **state) {
  (void)state;
  long n = fail_each_allocation("python", py_src, CGI_FINE, "return 'caf\xe9'");
  assert_true(n > 20); /* the seam saw the engine's allocations */
}

/* Past the indentation limit's quick test (plan_indent.c): 50 functions nested one blank apart,
 * with a loop and a yield inside, at fine granularity. */
static void test_oom_python_deep(void **state) {
  (void)state;
  char src[8192], *p = src;
  for (int i = 0; i < 50; i++) {
    p += sprintf(p, "%*sdef f%d():\n", i, "", i);
  }
  sprintf(p, "%*sfor i in range(2):\n%*s yield i\nprint(f0)\n", 50, "", 50, "");
  assert_true(fail_each_allocation("python", src, CGI_FINE, "yield i") > 20);
}

static void test_oom_c(void **state) {
  (void)state;
  const char *src = "#include <stdio.h>\n"
                    "struct s { int a; };\n"
                    "static int add(int a, int b) {\n"
                    "  for (int i = 0; i < a; i++) {\n"
                    "    b++;\n"
                    "  }\n"
                    "  return a + b;\n"
                    "}\n"
                    "int main(void) {\n"
                    "  printf(\"%d\\n\", add(1, 2));\n"
                    "  return 0;\n"
                    "}\n";
  assert_true(fail_each_allocation("c", src, CGI_COARSE, "return a + b;") > 10);
}

static void test_oom_java(void **state) {
  (void)state;
  /* package names, lambdas in methods and fields, anonymous and local classes, initialisers */
  const char *src = "package p;\n"
                    "public class Main {\n"
                    "  interface F { int f(int x); }\n"
                    "  static F h = x -> x * 3;\n"
                    "  static { System.out.println(0); }\n"
                    "  static int twice(int x) { return 2 * x; }\n"
                    "  public static void main(String[] args) {\n"
                    "    F g = x -> x + 1;\n"
                    "    class Local { int k() { return 4; } }\n"
                    "    Runnable r = new Runnable() { public void run() { } };\n"
                    "    System.out.println(twice(g.f(new Local().k())));\n"
                    "  }\n"
                    "}\n";
  assert_true(fail_each_allocation("java", src, CGI_COARSE, "return 2 * x;") > 10);
}

static void test_oom_cpp(void **state) {
  (void)state;
  const char *src = "#include <vector>\n"
                    "namespace geo {\n"
                    "struct Shape {\n"
                    "  virtual ~Shape() {}\n"
                    "  double area() const { return 1.0; }\n"
                    "};\n"
                    "template <typename T> T twice(T x) { return x + x; }\n"
                    "constexpr int k() { return 3; }\n"
                    "}\n"
                    "int main() {\n"
                    "  auto f = [](int x) { return x + 1; };\n"
                    "  return f(geo::twice(1)) - 4;\n"
                    "}\n";
  assert_true(fail_each_allocation("cpp", src, CGI_COARSE, "return x + x;") > 10);
}

/* ----- threads: the table is built once whoever asks first ----- */

static void *instrument_in_thread(void *arg) {
  (void)arg;
  const cgi_language *l = NULL;
  if (cgi_language_lookup("python", &l, NULL, 0) != CGI_OK) {
    return (void *)1;
  }
  cgi_options o = {CGI_FINE, "t.py", 1, NULL, NULL};
  const char *src = "def f():\n    for i in range(2):\n        pass\n";
  for (int k = 0; k < 20; k++) {
    cgi_result *r = NULL;
    int rc = cgi_instrument(l, src, strlen(src), &o, &r);
    bool good = rc == CGI_OK && cgi_result_point_count(r) == 3;
    cgi_result_destroy(r);
    if (!good) {
      return (void *)1;
    }
  }
  cgi_result *bad = NULL;
  int rc = cgi_instrument(l, "def (\n", 6, &o, &bad);
  bool good = rc == CGI_ESOURCE && strstr(cgi_result_error(bad), "t.py:1:") != NULL;
  cgi_result_destroy(bad);
  return good ? NULL : (void *)1;
}

static void test_threads(void **state) {
  (void)state;
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_create(&t[i], NULL, instrument_in_thread, NULL), 0);
  }
  for (int i = 0; i < 4; i++) {
    void *res = (void *)1;
    assert_int_equal(pthread_join(t[i], &res), 0);
    assert_null(res);
  }
}

int main(void) {
  /* The threads test runs first so that they race to build the language table. */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_lookup_codes),
      cmocka_unit_test(test_message_per_result),
      cmocka_unit_test(test_oom_python),
      cmocka_unit_test(test_oom_python_deep),
      cmocka_unit_test(test_oom_c),
      cmocka_unit_test(test_oom_java),
      cmocka_unit_test(test_oom_cpp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
