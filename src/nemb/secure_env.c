/*
 * secure_env.c - see secure_env.h.
 */
#include "secure_env.h"

#include <stdlib.h>
#include <sys/auxv.h>

const char *const nemb__gated_env[] = {"CODEGREEN_NVML_LIB", "CODEGREEN_SYSFS_ROOT",
                                       "CODEGREEN_CONFIG",   "CODEGREEN_PYTHON_DIR",
                                       "CODEGREEN_LIB_PATH", NULL};

static int forced = -1;

int nemb__env_privileged(void) {
  return forced >= 0 ? forced : getauxval(AT_SECURE) != 0;
}

const char *nemb__env_get(const char *name) {
  if (forced >= 0) {
    return forced ? NULL : getenv(name);
  }
  /* secure_getenv: NULL exactly when AT_SECURE is set, so the rule is glibc's own. */
  return secure_getenv(name);
}

void nemb__env_force_privileged(int v) {
  forced = v < 0 ? -1 : v != 0;
}
