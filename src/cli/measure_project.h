/*
 * measure_project.h - the program's own modules for `codegreen measure` (measure_project.c).
 */
#ifndef CG_MEASURE_PROJECT_H
#define CG_MEASURE_PROJECT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "instrument.h"

/* At most this many modules are instrumented (the first found, directory by directory). */
#define CG_PROJECT_MAX_MODULES 2000
/* Directories deeper than this below a walked directory are not looked into. */
#define CG_PROJECT_MAX_DEPTH 12

/* Instruments every file of @p lang under @p dirs (recursively; hidden directories,
 * __pycache__, site-packages, dist-packages, node_modules and virtual environments skipped)
 * except @p script (NULL: none), and those listed in @p extra (NULL, or a file of "key TAB file"
 * lines: a zip archive's members, extracted by the runner), with @p base's granularity and
 * decorators, into TMP/cg-mod/, and lists them for the runner's compile-list in *list_path
 * ("key TAB copy TAB map TAB pyc" lines, key being the real path; NULL when none; free() it).
 * Files that cannot be instrumented, or have nothing to instrument, are left out: the program
 * imports them as they are. *found receives how many are listed, *points their instrumentation
 * points, and @p point_list (NULL: none) one object for each, as the report's
 * instrumentation.points lists them (cg_project_point()). @return 0, or -1 on an I/O error in
 * TMP (errno). */
int cg_project_prepare(const cgi_language *lang, const cgi_options *base, const char *script,
                       char *const *dirs, size_t n_dirs, const char *extra, const char *tmp,
                       char **list_path, size_t *found, size_t *points, json_t *point_list);

/* One instrumentation point of @p file for the report's instrumentation.points (the script's
 * and its modules' alike; @p file as functions[].context has it, U+FFFD per byte not UTF-8). */
json_t *cg_project_point(const cgi_point *p, const char *file);

#endif /* CG_MEASURE_PROJECT_H */
