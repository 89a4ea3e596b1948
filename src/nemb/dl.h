/*
 * dl.h - binding functions of a library loaded at run time with dlopen() (NVML, libcurl, cairo,
 * yajl, libzstd). Not installed.
 */
#ifndef NEMB_DL_H
#define NEMB_DL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Looks @p symbol up in @p lib (a dlopen() handle) and stores it in the function pointer at
 * @p fn_ptr, of @p size bytes. POSIX guarantees that a dlsym() result converts to a function
 * pointer; ISO C does not allow the cast directly, so it goes through memcpy. Returns false, with
 * the pointer untouched, when the library has no such symbol. Thread-safe (dlsym is). */
bool nemb__dl_bind(void *lib, const char *symbol, void *fn_ptr, size_t size);

/* Binds the function pointer @p field (an lvalue) to the symbol @p name of @p lib. */
#define NEMB__DL_BIND(lib, field, name) nemb__dl_bind((lib), (name), &(field), sizeof(field))

/* One function of a table of function pointers (a struct whose fields are all function pointers):
 * the symbol's name and where its field lies in the table. */
typedef struct nemb__dl_sym {
  const char *name;
  size_t offset;
  size_t size;
} nemb__dl_sym;

/* The entry for the field @p field of the table type @p type, bound to the symbol @p name. */
#define NEMB__DL_SYM(type, field, name)                                                            \
  { (name), offsetof(type, field), sizeof(((type *)0)->field) }

/* A library loaded once, when first needed, into a table of function pointers. Define one per
 * library as a static with NEMB__DL_LIB_INIT; the loader owns the fields after the first six. */
typedef struct nemb__dl_lib {
  const char *soname;  /* the fixed soname dlopen()ed, "libzstd.so.1" */
  const char *need;    /* what needs it, a sentence's start: "plotting a saved report needs yajl" */
  const char *package; /* the Debian package that installs it, "libyajl2" */
  const char *fix; /* appended to why it cannot be loaded ("; an .html plot needs none"), or "" */
  const char *too_old; /* why a function may be missing ("yajl older than 2.0"), or NULL */
  const nemb__dl_sym *syms;
  size_t n_syms;
  void *table; /* the table the symbols are bound into; all zero unless the load succeeded */
  pthread_mutex_t lock;
  bool done;
  char why[320]; /* empty once loaded; else why it is not */
} nemb__dl_lib;

#define NEMB__DL_LIB_INIT(soname, need, package, fix, too_old, syms, table)                        \
  {                                                                                                \
    (soname), (need), (package), (fix), (too_old), (syms), sizeof(syms) / sizeof((syms)[0]),       \
        (table), PTHREAD_MUTEX_INITIALIZER, false, {                                               \
      0                                                                                            \
    }                                                                                              \
  }

/* Loads @p lib on the first call and binds every function of its table; later calls return the
 * first's outcome. Returns NULL, or why the library cannot be used (a sentence in @p lib: "<need>
 * (<soname>, Debian package <package>), which cannot be loaded: <dlerror><fix>", or that it lacks
 * a function, with too_old). On failure the table is left all zero. The library stays loaded to
 * the process's end. Thread-safe: any thread, any number of times; a caller's reads of the table
 * after a NULL return see the binding's writes. */
const char *nemb__dl_load(nemb__dl_lib *lib);

#endif /* NEMB_DL_H */
