/* yajl_lib.c - see yajl_lib.h. */
#include "yajl_lib.h"

#include "dl.h"
#include "internal.h"

nemb__yajl_api nemb__yajl;

#define SYM(field) NEMB__DL_SYM(nemb__yajl_api, field, "yajl_" #field)
static const nemb__dl_sym syms[] = {
    SYM(alloc),
    SYM(free),
    SYM(parse),
    SYM(complete_parse),
    SYM(get_error),
    SYM(free_error),
    SYM(get_bytes_consumed),
};
#undef SYM

static nemb__dl_lib lib =
    NEMB__DL_LIB_INIT("libyajl.so.2", "plotting a saved report needs yajl", "libyajl2", "",
                      "yajl older than 2.0", syms, &nemb__yajl);

int nemb__yajl_load(void) {
  const char *why = nemb__dl_load(&lib);
  return why != NULL ? nemb__fail(NEMB_ENOTSUP, "%s", why) : 0;
}
