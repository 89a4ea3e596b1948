/* cmd_analyze.c - placeholder until its work lands: says so plainly and fails. */
#include "cli.h"

int cg_cmd_analyze(int argc, char **argv) {
  (void)argc;
  fprintf(stderr, "codegreen: '%s' is not available in this build yet\n", argv[0]);
  return CG_EXIT_FAIL;
}
