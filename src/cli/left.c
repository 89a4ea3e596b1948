/*
 * left.c - the functions the instrumenter leaves as they are on purpose (decorated by a JIT
 * compiler), as `analyze` and `measure` show them: a listing and a JSON array.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "left.h"

int cgi_append_word(char *list, size_t cap, const char *word) {
  size_t n = strlen(list);
  int w = snprintf(list + n, cap - n, "%s%s", n ? " " : "", word);
  if (w < 0 || (size_t)w >= cap - n) {
    list[n] = '\0';
    return -1;
  }
  return 0;
}

void cgi_print_left(FILE *fp, const char *indent, const cgi_result *r) {
  size_t n = cgi_result_left_count(r);
  for (size_t i = 0; i < n; i++) {
    const cgi_point *p = cgi_result_left(r, i);
    fprintf(fp, "%s%s %s (line %d): left as it is, decorated by @%s (a JIT compiler)\n",
            indent, p->kind, p->name, p->line, p->decorator);
  }
}

json_t *cgi_left_json(const cgi_result *r) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < cgi_result_left_count(r); i++) {
    const cgi_point *p = cgi_result_left(r, i);
    json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:s}", "name", p->name, "kind", p->kind,
                                       "line", p->line, "decorator", p->decorator));
  }
  return a;
}
