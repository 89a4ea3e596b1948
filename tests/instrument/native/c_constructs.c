// The constructs a C instrumenter must leave working: every function below is instrumented and
// the program prints the same thing, with the same __LINE__ and __FILE__, and exits the same.
// expect-calls: square=10 sum_squares=1 knr_add=2 sum_ints=2 get_seven=1 get_eight=1 fib=177 early=3 classify=4 jump=1 thrower=1 catcher=1 dies=1 main=1 cmp_int=1 clamp=3
// expect-exit: 7
// expect-unbalanced: 3
// files: lib_c_helpers.c
// cflags: -std=c11 -Wall -Wextra -Werror -Wno-old-style-definition -O1
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_constructs.h"

/* Functions made by a macro are not definitions the grammar sees: they stay as they are, so
 * their calls are not counted (get_seven and get_eight below are plain functions). */
#define DEFINE_GETTER(name, value)                                                               \
  static int name(void) { return value; }
DEFINE_GETTER(get_six, 6)

#define TWICE(x) ((x) + (x))

static int square(int x) { return x * x; }

static int sum_squares(int n) {
  int s = 0;
  for (int i = 0; i < n; i++)
    s += square(i);
  return s; /* the return value is computed inside the span */
}

int knr_add(a, b)
int a;
int b;
{
  return a + b;
}

static int sum_ints(int n, ...) {
  va_list ap;
  va_start(ap, n);
  int s = 0;
  for (int i = 0; i < n; i++)
    s += va_arg(ap, int);
  va_end(ap);
  return s;
}

static int get_seven(void) { return 7; }
static int get_eight(void) {
  return TWICE(4);
}

static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static int early(int x) {
  if (x < 0)
    return -1;
  if (x == 0) {
    return 0;
  }
  return 1;
}

static const char *classify(int x) {
  switch (x) {
  case 0:
    return "zero";
  case 1:
    return "one";
  default:
    break;
  }
  return "many";
}

static int jump(int n) {
  int i = 0;
again:
  if (++i < n)
    goto again;
  return i;
}

static jmp_buf env;

static void thrower(void) { longjmp(env, 1); } /* leaves its span open: closed at the end */

static int catcher(void) {
  if (setjmp(env) == 0) {
    thrower();
    return 0;
  }
  return 1;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

_Noreturn static void dies(int code) {
  fflush(stdout);
  exit(code); /* main's and dies' spans stay open: closed at the end */
}

int main(void) {
  printf("sum %d\n", sum_squares(10));
  printf("knr %d %d\n", knr_add(1, 2), knr_add(3, 4));
  printf("var %d %d\n", sum_ints(3, 1, 2, 3), sum_ints(0));
  printf("get %d %d %d\n", get_six(), get_seven(), get_eight());
  printf("fib %d\n", fib(10));
  printf("early %d %d %d\n", early(-5), early(0), early(5));
  printf("class %s %s %s %s\n", classify(0), classify(1), classify(2), classify(3));
  printf("jump %d\n", jump(5));
  printf("catch %d\n", catcher());
  int v[] = {3, 1};
  qsort(v, 2, sizeof v[0], cmp_int); /* called back from the C library: one comparison */
  printf("sorted %d %d\n", v[0], v[1]);
  printf("clamp %d %d %d\n", clamp(-1, 0, 9), clamp(5, 0, 9), clamp(12, 0, 9));
  printf("where %s:%d\n", __FILE__, __LINE__);
  fprintf(stderr, "to stderr %s\n", strchr("abc", 'b'));
  dies(7);
}
