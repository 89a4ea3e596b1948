/* placeholder, replaced below */
#include "measure.h"
#include "cli.h"
#include <stdio.h>
int cg_measure_java(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "codegreen measure: java: work in progress\n");
  return CG_EXIT_FAIL;
}
