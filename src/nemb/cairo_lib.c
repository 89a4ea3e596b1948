/* cairo_lib.c - see cairo_lib.h. */
#include "cairo_lib.h"

#include "dl.h"
#include "internal.h"

nemb__cairo_api nemb__cairo;

#define SYM(field) NEMB__DL_SYM(nemb__cairo_api, field, "cairo_" #field)
static const nemb__dl_sym syms[] = {
    SYM(image_surface_create),
    SYM(svg_surface_create_for_stream),
    SYM(surface_write_to_png_stream),
    SYM(surface_finish),
    SYM(surface_status),
    SYM(surface_destroy),
    SYM(create),
    SYM(status),
    SYM(status_to_string),
    SYM(destroy),
    SYM(save),
    SYM(restore),
    SYM(set_source_rgba),
    SYM(set_line_width),
    SYM(set_line_join),
    SYM(set_dash),
    SYM(move_to),
    SYM(line_to),
    SYM(rectangle),
    SYM(rotate),
    SYM(stroke),
    SYM(fill),
    SYM(clip),
    SYM(paint),
    SYM(select_font_face),
    SYM(set_font_size),
    SYM(show_text),
    SYM(text_extents),
};
#undef SYM

static nemb__dl_lib lib = NEMB__DL_LIB_INIT(
    "libcairo.so.2", "drawing a PNG or SVG plot needs cairo", "libcairo2",
    "; an .html plot needs no cairo", "cairo too old, or built without SVG", syms, &nemb__cairo);

int nemb__cairo_load(void) {
  const char *why = nemb__dl_load(&lib);
  return why != NULL ? nemb__fail(NEMB_ENOTSUP, "%s", why) : 0;
}
