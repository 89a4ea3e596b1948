/*
 * test_instrument_brace.c - the brace planner (block_style = brace) on small C, C++ and Java
 * sources: where the guard texts go, that no line of the program moves (C and C++ through #line,
 * Java by never adding a line before the last), what is left alone and why, and the names of
 * C++ scopes and of Java's classes and lambdas. (The instrumented programs are compiled and run
 * by tests/instrument/run_native_corpus.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h must come after the headers above. */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instrument.h"

static cgi_result *run_lang(const char *lang, const char *src, const char *header) {
  const cgi_language *l = NULL;
  char why[256];
  if (cgi_language_lookup(lang, &l, why, sizeof why) != CGI_OK) {
    print_error("no %s language: %s\n", lang, why);
  }
  assert_non_null(l);
  cgi_options o = {CGI_COARSE, "dir/t.src", 1, NULL, header};
  cgi_result *r = NULL;
  int rc = cgi_instrument(l, src, strlen(src), &o, &r);
  if (rc != 0) {
    print_error("%s\n", cgi_result_error(r) ? cgi_result_error(r) : "(no error)");
  }
  assert_int_equal(rc, 0);
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

/* A function the language leaves as it is (cgi_result_left()). */
static const cgi_point *left(const cgi_result *r, const char *name) {
  for (size_t i = 0; i < cgi_result_left_count(r); i++) {
    if (strcmp(cgi_result_left(r, i)->name, name) == 0) {
      return cgi_result_left(r, i);
    }
  }
  print_error("nothing left as %s\n", name);
  fail();
  return NULL;
}

static size_t count(const char *s, const char *what) {
  size_t n = 0;
  for (const char *p = strstr(s, what); p != NULL; p = strstr(p + 1, what)) {
    n++;
  }
  return n;
}

static void test_c_layout(void **state) {
  (void)state;
  const char *src = "#define _GNU_SOURCE\n"
                    "#include <stdio.h>\n"
                    "\n"
                    "static int sq(int x) { return x * x; }\n"
                    "int main(void) {\n"
                    "  return sq(3) - 9;\n"
                    "}\n";
  cgi_result *r = run_lang("c", src, NULL);
  const char *t = cgi_result_text(r, NULL);
  /* __FILE__ is the user's from the first line on */
  assert_int_equal(strncmp(t, "#line 1 \"dir/t.src\"\n#define _GNU_SOURCE\n#include <stdio.h>\n\n",
                           strlen("#line 1 \"dir/t.src\"\n#define _GNU_SOURCE\n#include <stdio."
                                  "h>\n\n")),
                   0);
  /* the runtime comes after the user's #define and #include lines, then #line 4 */
  const char *inc = strstr(t, "#include <codegreen_runtime.h>\n");
  assert_non_null(inc);
  assert_true(inc > strstr(t, "#include <stdio.h>"));
  const char *resync = strstr(inc, "#line 4 \"dir/t.src\"\nstatic int sq(int x) {");
  assert_non_null(resync);
  assert_non_null(strstr(t, "{\"sq\", 4},"));
  assert_non_null(strstr(t, "{\"main\", 5},"));
  /* code after a '{' on its line: the guard on a line of its own, then #line and blanks as wide
   * as the text before, so the user's line and columns stay (a compiler's diagnostics); a '{'
   * that ends its line: the guard after it, no line added */
  assert_non_null(strstr(resync,
                         "static int sq(int x) {\n__attribute__((cleanup(codegreen_rt_leave)"
                         ", unused)) const codegreen_rt_id codegreen_g0 = "
                         "codegreen_rt_enter("));
  assert_non_null(strstr(resync,
                         "]);\n#line 4 \"dir/t.src\"\n                       return x * x; }\n"
                         "int main(void) {__attribute__"));
  assert_non_null(strstr(resync, "codegreen_g1 = codegreen_rt_enter(codegreen_ids_"));
  const char *after = strstr(resync, "int main(void) {");
  assert_int_equal(count(after, "\n"), 3); /* lines 5 to 7, none added */
  assert_non_null(strstr(after, "]);\n  return sq(3) - 9;\n}\n"));
  assert_int_equal(cgi_result_point_count(r), 2);
  assert_int_equal(point(r, "main")->line, 5);
  cgi_result_destroy(r);
}

static void test_c_skips_what_does_not_parse(void **state) {
  (void)state;
  /* a macro the grammar cannot see through, inside one function */
  const char *src = "int ok(void) { return 1; }\n"
                    "int odd(void) { return FOREACH(x) { x++ } ; }\n"
                    "int fine(int a) { return a; }\n";
  cgi_result *r = run_lang("c", src, "\"/opt/cg/include/codegreen_runtime.h\"");
  const char *t = cgi_result_text(r, NULL);
  assert_non_null(strstr(t, "#include \"/opt/cg/include/codegreen_runtime.h\"\n"));
  const cgi_point *odd = left(r, "odd");
  assert_true(odd->flags & CGI_SKIPPED);
  assert_int_equal(odd->index, -1);
  assert_null(odd->decorator);
  assert_non_null(strstr(odd->skipped, "the grammar cannot parse it"));
  assert_int_equal(cgi_result_left_count(r), 1);
  assert_int_equal(cgi_result_point_count(r), 2);
  assert_non_null(point(r, "ok"));
  assert_non_null(point(r, "fine"));
  /* the odd one is left exactly as written */
  assert_non_null(strstr(t, "int odd(void) { return FOREACH(x) { x++ } ; }\n"));
  assert_int_equal(count(t, "codegreen_rt_enter("), 2);
  cgi_result_destroy(r);
}

static void test_cpp_names_and_skips(void **state) {
  (void)state;
  const char *src = "namespace ns {\n"
                    "struct S {\n"
                    "  S() : v(1) {}\n"
                    "  explicit operator bool() const { return v != 0; }\n"
                    "  constexpr int c() const { return 2; }\n"
                    "  int v;\n"
                    "};\n"
                    "int f() { auto g = [](int x) { return x; }; return g(1); }\n"
                    "}\n"
                    "int ns_free();\n"
                    "int ns::S2::m() { return 0; }\n";
  cgi_result *r = run_lang("cpp", src, NULL);
  const char *t = cgi_result_text(r, NULL);
  assert_string_equal(point(r, "ns::S::S")->kind, "method");
  assert_string_equal(point(r, "ns::f")->kind, "function");
  assert_non_null(point(r, "ns::S::operator bool"));
  assert_non_null(point(r, "ns::S2::m"));
  const cgi_point *c = left(r, "ns::S::c");
  assert_true(c->flags & CGI_SKIPPED);
  assert_non_null(strstr(c->skipped, "constexpr"));
  /* the constructor's guard goes in its body, after the member initialiser list */
  assert_non_null(strstr(t, "S() : v(1) {\nconst codegreen_rt_guard codegreen_g0("));
  /* the lambda is left as it is */
  assert_non_null(strstr(t, "auto g = [](int x) { return x; };"));
  assert_int_equal(count(t, "codegreen_rt_guard codegreen_g"), 4);
  cgi_result_destroy(r);
}

static void test_java_bodies(void **state) {
  (void)state;
  const char *src = "package p.q;\n"
                    "class A {\n"
                    "  A() { this(1); }\n"
                    "  A(int x) { super(); }\n"
                    "  void empty() {}\n"
                    "  static { }\n"
                    "  void m() { Runnable r = () -> { }; Runnable s = new Runnable() {\n"
                    "    public void run() { class L { void f() {} } } }; }\n"
                    "  enum E { X { void g() {} }; void g() {} }\n"
                    "}\n";
  cgi_result *r = run_lang("java", src, NULL);
  const char *t = cgi_result_text(r, NULL);
  /* this(...) stays first; the try opens after it and closes before the body's brace */
  assert_non_null(strstr(t, "A() { this(1);codegreen.runtime.CodeGreenRuntime.enter("));
  assert_non_null(strstr(t, "ids[0]); try { } finally { codegreen.runtime.CodeGreenRuntime.exit("
                            "CodeGreenIds_"));
  /* an empty body: enter, then the exit right after it */
  assert_non_null(strstr(t, "void empty() {codegreen.runtime.CodeGreenRuntime.enter("));
  assert_non_null(point(r, "p.q.A.A"));
  assert_non_null(point(r, "p.q.A.<clinit>"));
  assert_string_equal(point(r, "p.q.A.lambda$m$0")->kind, "lambda");
  assert_non_null(point(r, "p.q.A$1.run"));
  assert_non_null(point(r, "p.q.A$1$1L.f"));
  assert_non_null(point(r, "p.q.A$E$1.g"));
  assert_non_null(point(r, "p.q.A$E.g"));
  /* no line added before the last one: the table is a class after it */
  const char *table = strstr(t, "final class CodeGreenIds_");
  assert_non_null(table);
  assert_int_equal(count(src, "\n"), 10);
  size_t before = 0;
  for (const char *p = t; p < table; p++) {
    before += *p == '\n';
  }
  assert_int_equal(before, 10);
  assert_non_null(strstr(table, "codegreen.runtime.CodeGreenRuntime.register(\"p.q.A.A\", "
                                "\"dir/t.src\", 3),"));
  cgi_result_destroy(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_c_layout),
      cmocka_unit_test(test_c_skips_what_does_not_parse),
      cmocka_unit_test(test_cpp_names_and_skips),
      cmocka_unit_test(test_java_bodies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
