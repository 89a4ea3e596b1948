/*
 * yajl_lib.h - yajl 2 (the streaming JSON parser), loaded when the first saved report is plotted
 * (plot_stream.c).
 *
 * The library is not linked with libyajl, as it is not with cairo (cairo_lib.h): every process
 * that opens libcodegreen-nemb would pay for loading it at start-up, while only plotting a saved
 * report uses it. The soname is fixed ("libyajl.so.2", Debian's libyajl2), so nothing in the
 * environment chooses the library. Only yajl's headers are used at build time.
 *
 * Thread safety: nemb__yajl_load() may be called from any thread, any number of times (the load
 * runs once); the table is never written afterwards. Not installed.
 */
#ifndef NEMB_YAJL_LIB_H
#define NEMB_YAJL_LIB_H

#include <yajl/yajl_parse.h>

/* The yajl functions plot_stream.c uses; each field is the yajl function of the same name without
 * its "yajl_" prefix, with yajl's own signature. */
typedef struct nemb__yajl_api {
  yajl_handle (*alloc)(const yajl_callbacks *, yajl_alloc_funcs *, void *);
  void (*free)(yajl_handle);
  yajl_status (*parse)(yajl_handle, const unsigned char *, size_t);
  yajl_status (*complete_parse)(yajl_handle);
  unsigned char *(*get_error)(yajl_handle, int, const unsigned char *, size_t);
  void (*free_error)(yajl_handle, unsigned char *);
  size_t (*get_bytes_consumed)(yajl_handle);
} nemb__yajl_api;

/* The table, filled by the first nemb__yajl_load() that succeeds: call that first (it orders the
 * table's writes before the caller's reads). */
extern nemb__yajl_api nemb__yajl;

/* Loads yajl on the first call. Returns 0, or NEMB_ENOTSUP after setting the thread's last error
 * (nemb__fail) with why: the library cannot be loaded (with the fix: install Debian's libyajl2)
 * or lacks one of the functions. */
int nemb__yajl_load(void);

#endif /* NEMB_YAJL_LIB_H */
