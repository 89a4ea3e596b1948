/*
 * named_providers.c - a provider list the user named must open for the CLI (see cli.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nemb.h"

int cg_named_providers_check(const char *verb, const nemb_config *cfg, bool have_meter) {
  if (have_meter) {
    return 0;
  }
  nemb_config *own = NULL;
  if (cfg == NULL && nemb_config_load(NULL, &own) != 0) {
    return 0; /* the configuration's own error is said where it is loaded */
  }
  cfg = cfg != NULL ? cfg : own;
  const char *env = getenv("CODEGREEN_PROVIDERS");
  char list[512] = "";
  const char *origin = NULL;
  if (env != NULL && env[0] != '\0') {
    origin = "CODEGREEN_PROVIDERS";
  } else if (nemb_config_get_string(cfg, "providers.list", list, sizeof list) == 0 &&
             list[0] != '\0') {
    origin = "providers.list in the configuration";
  }
  if (origin == NULL) {
    nemb_config_destroy(own);
    return 0;
  }
  /* The same opening again gives the library's reason (the session kept only a warning). It
   * opens when the session has no meter of its own for another reason: a rank that follows its
   * node's leader (node.c) takes the leader's samples. */
  nemb_meter *m = NULL;
  if (nemb_meter_create(cfg, &m) == 0) {
    nemb_meter_destroy(m);
    nemb_config_destroy(own);
    return 0;
  }
  /* info has run nothing: it has shown what it could and fails as run would */
  fprintf(stderr, "codegreen %s: cannot measure with the providers named by %s: %s%s\n", verb,
          origin, nemb_last_error(), strcmp(verb, "info") == 0 ? "" : "; nothing was run");
  nemb_config_destroy(own);
  return CG_EXIT_FAIL;
}
