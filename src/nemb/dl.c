/* dl.c - see dl.h. */
#include <dlfcn.h>
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
