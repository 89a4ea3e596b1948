/* zstd_lib.c - see zstd_lib.h. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "dl.h"
#include "zstd_lib.h"

#define ZSTD_LIB "libzstd.so.1"

nemb__zstd_api nemb__zstd;
static char why[320]; /* empty once loaded; else why it is not */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
  dlerror();
  void *lib = dlopen(ZSTD_LIB, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    const char *err = dlerror();
    snprintf(why, sizeof why,
             "reading a zstd-compressed report needs libzstd (%s, Debian package libzstd1), "
             "which cannot be loaded: %s; decompress it with `zstd -d` instead",
             ZSTD_LIB, err ? err : "not found");
    return;
  }
  nemb__zstd_api a;
  const char *missing = NULL;
#define BIND(field)                                                                                \
  if (missing == NULL && !NEMB__DL_BIND(lib, a.field, "ZSTD_" #field)) {                           \
    missing = "ZSTD_" #field;                                                                      \
  }
  BIND(createDCtx)
  BIND(freeDCtx)
  BIND(DCtx_setParameter)
  BIND(DStreamInSize)
  BIND(decompressStream)
  BIND(isError)
  BIND(getErrorName)
  BIND(getErrorCode)
#undef BIND
  if (missing != NULL) {
    snprintf(why, sizeof why, "%s has no %s (libzstd older than 1.4)", ZSTD_LIB, missing);
    return;
  }
  nemb__zstd = a;
}

const char *nemb__zstd_load(void) {
  pthread_once(&once, load);
  return why[0] != '\0' ? why : NULL;
}
