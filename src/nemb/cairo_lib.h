/*
 * cairo_lib.h - cairo, loaded when the first PNG or SVG is drawn.
 *
 * The library is not linked with cairo: cairo brings 18 of the 24 shared libraries the library
 * would otherwise load (pixman, fontconfig, freetype, libpng, X11, xcb, ...), and every process
 * that opens libcodegreen-nemb pays for loading them at start-up, including each Python process
 * `codegreen measure` runs, while only a plot drawn as PNG or SVG uses them. The soname is fixed
 * ("libcairo.so.2", Debian's libcairo2), so nothing in the environment chooses the library.
 * Only cairo's headers are used at build time (for its types and constants).
 *
 * Thread safety: nemb__cairo_load() may be called from any thread, any number of times (the load
 * runs once); the table is never written afterwards. Not installed.
 */
#ifndef NEMB_CAIRO_LIB_H
#define NEMB_CAIRO_LIB_H

#include <cairo-svg.h>
#include <cairo.h>

/* The cairo functions the plot draws with; each field is the cairo function of the same name
 * without its "cairo_" prefix, with cairo's own signature. */
typedef struct nemb__cairo_api {
  cairo_surface_t *(*image_surface_create)(cairo_format_t, int, int);
  cairo_surface_t *(*svg_surface_create_for_stream)(cairo_write_func_t, void *, double, double);
  cairo_status_t (*surface_write_to_png_stream)(cairo_surface_t *, cairo_write_func_t, void *);
  void (*surface_finish)(cairo_surface_t *);
  cairo_status_t (*surface_status)(cairo_surface_t *);
  void (*surface_destroy)(cairo_surface_t *);
  cairo_t *(*create)(cairo_surface_t *);
  cairo_status_t (*status)(cairo_t *);
  const char *(*status_to_string)(cairo_status_t);
  void (*destroy)(cairo_t *);
  void (*save)(cairo_t *);
  void (*restore)(cairo_t *);
  void (*set_source_rgba)(cairo_t *, double, double, double, double);
  void (*set_line_width)(cairo_t *, double);
  void (*set_line_join)(cairo_t *, cairo_line_join_t);
  void (*set_dash)(cairo_t *, const double *, int, double);
  void (*move_to)(cairo_t *, double, double);
  void (*line_to)(cairo_t *, double, double);
  void (*rectangle)(cairo_t *, double, double, double, double);
  void (*rotate)(cairo_t *, double);
  void (*stroke)(cairo_t *);
  void (*fill)(cairo_t *);
  void (*clip)(cairo_t *);
  void (*paint)(cairo_t *);
  void (*select_font_face)(cairo_t *, const char *, cairo_font_slant_t, cairo_font_weight_t);
  void (*set_font_size)(cairo_t *, double);
  void (*show_text)(cairo_t *, const char *);
  void (*text_extents)(cairo_t *, const char *, cairo_text_extents_t *);
} nemb__cairo_api;

/* The table, filled by the first nemb__cairo_load() that succeeds: call that first (it orders
 * the table's writes before the caller's reads). */
extern nemb__cairo_api nemb__cairo;

/* Loads cairo on the first call. Returns 0, or NEMB_ENOTSUP after setting the thread's last error
 * (nemb__fail) to NEMB_ENOTSUP with why: the library cannot be loaded (with the fix: install
 * Debian's libcairo2) or lacks one of the functions. */
int nemb__cairo_load(void);

#endif /* NEMB_CAIRO_LIB_H */
