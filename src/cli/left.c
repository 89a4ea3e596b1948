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
  json_t *a = cgi_left_json(r);
  cg_print_left_json(fp, indent, a);
  json_decref(a);
}

void cg_print_left_json(FILE *fp, const char *indent, json_t *left) {
  size_t i;
  json_t *p;
  json_array_foreach(left, i, p) {
    const char *dec = json_string_value(json_object_get(p, "decorator"));
    const char *why = json_string_value(json_object_get(p, "why"));
    const char *file = json_string_value(json_object_get(p, "file"));
    fprintf(fp, "%s%s %s (%s%sline %lld): left as it is, ", indent,
            json_string_value(json_object_get(p, "kind")),
            json_string_value(json_object_get(p, "name")), file ? file : "", file ? " " : "",
            (long long)json_integer_value(json_object_get(p, "line")));
    if (dec != NULL) {
      fprintf(fp, "decorated by @%s (a JIT compiler)\n", dec);
    } else {
      fprintf(fp, "%s\n", why ? why : "by the language's rules");
    }
  }
}

json_t *cgi_left_json(const cgi_result *r) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < cgi_result_left_count(r); i++) {
    const cgi_point *p = cgi_result_left(r, i);
    /* a JIT compiler's decorator (Python), or the language's reason (C++ constexpr, ...) */
    json_array_append_new(a, p->decorator != NULL
                                 ? json_pack("{s:s, s:s, s:i, s:s}", "name", p->name, "kind",
                                             p->kind, "line", p->line, "decorator", p->decorator)
                                 : json_pack("{s:s, s:s, s:i, s:s}", "name", p->name, "kind",
                                             p->kind, "line", p->line, "why", p->skipped));
  }
  return a;
}
