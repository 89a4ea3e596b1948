/*
 * version.c - the version of the library that is actually loaded, for fronts to check.
 */
#include <stdlib.h>
#include <time.h>

#include "internal.h"

#define NEMB__STR2(x) #x
#define NEMB__STR(x) NEMB__STR2(x)

int nemb_abi_version(void) {
  return NEMB_ABI_VERSION;
}

unsigned nemb_version(void) {
  return NEMB_VERSION_HEX;
}

const char *nemb_version_string(void) {
  return NEMB__STR(NEMB_VERSION_MAJOR) "." NEMB__STR(NEMB_VERSION_MINOR) "." NEMB__STR(
      NEMB_VERSION_PATCH);
}

uint64_t nemb__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t nemb_now_ns(void) {
  return nemb__now_ns();
}

void nemb_free(void *p) {
  free(p);
}
