/*
 * left.h - the functions the instrumenter leaves as they are (cgi_result_left()), for the
 * `analyze` and `measure` verbs.
 */
#ifndef CG_LEFT_H
#define CG_LEFT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "instrument.h"

/* Appends @p word to the blank-separated @p list (capacity @p cap). Returns 0, or -1 when it
 * does not fit (the list is unchanged). */
int cgi_append_word(char *list, size_t cap, const char *word);

/* One line per function left as it is, each starting with @p indent. */
void cgi_print_left(FILE *fp, const char *indent, const cgi_result *r);

/* [{"name", "kind", "line", "decorator" or "why"}, ...]: a new reference. "decorator" for a
 * function a JIT compiler's decorator leaves as it is, "why" for one the language does (C++
 * constexpr and coroutines, what the grammar cannot parse). */
json_t *cgi_left_json(const cgi_result *r);

/* The listing of such an array (entries may also carry the "file" they are in). */
void cg_print_left_json(FILE *fp, const char *indent, json_t *left);

#endif /* CG_LEFT_H */
