/* dl.c - see dl.h. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "dl.h"

bool nemb__dl_bind(void *lib, const char *symbol, void *fn_ptr, size_t size) {
  void *p = dlsym(lib, symbol);
  if (p == NULL || size != sizeof p) {
    return false;
  }
  memcpy(fn_ptr, &p, size);
  return true;
}

static void load(nemb__dl_lib *l) {
  dlerror();
  void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    const char *err = dlerror();
    snprintf(l->why, sizeof l->why, "%s (%s, Debian package %s), which cannot be loaded: %s%s",
             l->need, l->soname, l->package, err ? err : "not found", l->fix);
    return;
  }
  for (size_t i = 0; i < l->n_syms; i++) {
    const nemb__dl_sym *s = &l->syms[i];
    if (!nemb__dl_bind(h, s->name, (char *)l->table + s->offset, s->size)) {
      /* The library stays open: harmless, and it happens once. */
      if (l->too_old != NULL) {
        snprintf(l->why, sizeof l->why, "%s has no %s (%s)", l->soname, s->name, l->too_old);
      } else {
        snprintf(l->why, sizeof l->why, "%s has no %s", l->soname, s->name);
      }
      for (size_t j = 0; j < i; j++) {
        memset((char *)l->table + l->syms[j].offset, 0, l->syms[j].size);
      }
      return;
    }
  }
}

const char *nemb__dl_load(nemb__dl_lib *lib) {
  pthread_mutex_lock(&lib->lock);
  if (!lib->done) {
    load(lib);
    lib->done = true;
  }
  pthread_mutex_unlock(&lib->lock);
  return lib->why[0] != '\0' ? lib->why : NULL;
}
