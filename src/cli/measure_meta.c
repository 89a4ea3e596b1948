/*
 * measure_meta.c - see measure.h (cg_measure_user_meta).
 */
#include <string.h>

#include "measure.h"
#include "outputs.h"

/* Whether @p name is one of measure's own variables: CODEGREEN_MEASURE_* (its temporary paths,
 * the list of what it set, the user's values it replaced) and CODEGREEN_RESULT_FILE (where the
 * program writes its report). */
static bool internal(const char *name) {
  return strncmp(name, "CODEGREEN_MEASURE_", 18) == 0 || strcmp(name, "CODEGREEN_RESULT_FILE") == 0;
}

/* meta.codegreen_env as the user's environment had it: measure's own variables left out, and a
 * variable measure set for the program (named in CODEGREEN_MEASURE_SET, e.g. CODEGREEN_LIB_PATH)
 * given back the user's value (CODEGREEN_MEASURE_ORIG_<NAME>), or left out when the user had
 * none. */
static json_t *user_env(json_t *env) {
  json_t *out = json_object();
  const char *set = json_string_value(json_object_get(env, "CODEGREEN_MEASURE_SET"));
  const char *key;
  json_t *v;
  json_object_foreach(env, key, v) {
    if (internal(key)) {
      continue;
    }
    size_t n = strlen(key);
    bool ours = false;
    for (const char *q = set ? set : ""; *q && !ours;
         q = strchr(q, ',') ? strchr(q, ',') + 1 : "") {
      ours = strncmp(q, key, n) == 0 && (q[n] == ',' || q[n] == '\0');
    }
    if (!ours) {
      json_object_set(out, key, v);
      continue;
    }
    char orig[300];
    snprintf(orig, sizeof orig, "CODEGREEN_MEASURE_ORIG_%s", key);
    json_t *was = json_object_get(env, orig);
    if (was != NULL) {
      json_object_set(out, key, was);
    }
  }
  return out;
}

void cg_measure_user_meta(json_t *report, char *const *cmd, bool module) {
  json_t *meta = json_object_get(report, "meta");
  if (!json_is_object(meta)) {
    return;
  }
  json_t *argv = json_array();
  if (module) {
    json_array_append_new(argv, json_string("-m"));
  }
  for (char *const *a = cmd; a != NULL && *a != NULL; a++) {
    json_array_append_new(argv, cg_json_text(*a));
  }
  json_object_set_new(meta, "argv", argv);
  json_t *env = json_object_get(meta, "codegreen_env");
  if (json_is_object(env)) {
    json_object_set_new(meta, "codegreen_env", user_env(env));
  }
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(report, "processes"), i, p) {
    if (json_is_true(json_object_get(p, "parent"))) {
      json_object_set(p, "argv", argv);
    }
  }
}
