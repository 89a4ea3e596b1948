// GNU C nested functions: each gets its own guard (named by its index, so none shadows another).
// expect-calls: outer=1 outer.inner=3 outer.inner.innermost=3 apply=1 main=1
// cflags: -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wl,-z,execstack
// compiler: gcc
// (a nested function whose address is taken runs through a trampoline on the stack, hence
// -z execstack, which also keeps the linker quiet about it)
#include <stdio.h>

static int apply(int (*f)(int), int x) { return f(x); }

static int outer(int k) {
  int inner(int x) {
    int innermost(int y) { return y + k; }
    return innermost(x) * 2;
  }
  return inner(1) + inner(2) + apply(inner, 3);
}

int main(void) {
  printf("%d\n", outer(10));
  return 0;
}
