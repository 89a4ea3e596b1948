/* yajl_lib.c - see yajl_lib.h. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "dl.h"
#include "internal.h"
#include "yajl_lib.h"

#define YAJL_LIB "libyajl.so.2"

nemb__yajl_api nemb__yajl;
static char why[320]; /* empty once loaded; else why it is not */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
  dlerror();
  void *lib = dlopen(YAJL_LIB, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    const char *err = dlerror();
    snprintf(why, sizeof why,
             "plotting a saved report needs yajl (%s, Debian package libyajl2), which cannot be "
             "loaded: %s",
             YAJL_LIB, err ? err : "not found");
    return;
  }
  nemb__yajl_api a;
  const char *missing = NULL;
#define BIND(field)                                                                                \
  if (missing == NULL && !NEMB__DL_BIND(lib, a.field, "yajl_" #field)) {                           \
    missing = "yajl_" #field;                                                                      \
  }
  BIND(alloc)
  BIND(free)
  BIND(parse)
  BIND(complete_parse)
  BIND(get_error)
  BIND(free_error)
  BIND(get_bytes_consumed)
#undef BIND
  if (missing != NULL) {
    snprintf(why, sizeof why, "%s has no %s (yajl older than 2.0)", YAJL_LIB, missing);
    return;
  }
  nemb__yajl = a;
}

int nemb__yajl_load(void) {
  pthread_once(&once, load);
  return why[0] != '\0' ? nemb__fail(NEMB_ENOTSUP, "%s", why) : 0;
}
