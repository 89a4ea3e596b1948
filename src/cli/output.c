/*
 * output.c - see output.h.
 */
#include "output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"

int cg_write_json(const char *path, const json_t *doc) {
  char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  if (text == NULL) {
    return ENOMEM;
  }
  size_t n = strlen(text);
  char *line = realloc(text, n + 2);
  if (line == NULL) {
    free(text);
    return ENOMEM;
  }
  line[n] = '\n';
  int e = nemb__atomic_write(path, line, n + 1);
  free(line);
  return e;
}

int cg_write_text(const char *path, const char *text, size_t len) {
  return nemb__atomic_write(path, text, len);
}

int cg_check_outputs(const char *verb, const char *const *paths, size_t n) {
  for (size_t k = 0; k < n; k++) {
    int e = paths[k] != NULL ? nemb__atomic_check(paths[k]) : 0;
    if (e != 0) {
      fprintf(stderr, "codegreen %s: cannot write %s: %s; nothing was run\n", verb, paths[k],
              strerror(e));
      return e;
    }
  }
  return 0;
}
