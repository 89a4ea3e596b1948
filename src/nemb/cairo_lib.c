/* cairo_lib.c - see cairo_lib.h. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "cairo_lib.h"
#include "dl.h"
#include "internal.h"

#define CAIRO_LIB "libcairo.so.2"

nemb__cairo_api nemb__cairo;
static char why[320]; /* empty once loaded; else why it is not */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
  dlerror();
  void *lib = dlopen(CAIRO_LIB, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    const char *err = dlerror();
    snprintf(why, sizeof why,
             "drawing a PNG or SVG plot needs cairo (%s, Debian package libcairo2), which cannot "
             "be loaded: %s; an .html plot needs no cairo",
             CAIRO_LIB, err ? err : "not found");
    return;
  }
  nemb__cairo_api a;
  const char *missing = NULL;
#define BIND(field)                                                                                \
  if (missing == NULL && !NEMB__DL_BIND(lib, a.field, "cairo_" #field)) {                          \
    missing = "cairo_" #field;                                                                     \
  }
  BIND(image_surface_create)
  BIND(svg_surface_create_for_stream)
  BIND(surface_write_to_png_stream)
  BIND(surface_finish)
  BIND(surface_status)
  BIND(surface_destroy)
  BIND(create)
  BIND(status)
  BIND(status_to_string)
  BIND(destroy)
  BIND(save)
  BIND(restore)
  BIND(set_source_rgba)
  BIND(set_line_width)
  BIND(set_line_join)
  BIND(set_dash)
  BIND(move_to)
  BIND(line_to)
  BIND(rectangle)
  BIND(rotate)
  BIND(stroke)
  BIND(fill)
  BIND(clip)
  BIND(paint)
  BIND(select_font_face)
  BIND(set_font_size)
  BIND(show_text)
  BIND(text_extents)
#undef BIND
  if (missing != NULL) {
    /* The library stays open: harmless, and it happens once. */
    snprintf(why, sizeof why, "%s has no %s (cairo too old, or built without SVG)", CAIRO_LIB,
             missing);
    return;
  }
  nemb__cairo = a;
}

int nemb__cairo_load(void) {
  pthread_once(&once, load);
  return why[0] != '\0' ? nemb__fail(NEMB_ENOTSUP, "%s", why) : 0;
}
