/*
 * output.h - the files the verbs write for the user (-o), all through the one atomic writer
 * (src/nemb/atomic_file.h): whole or not at all, devices written in place, the old file kept
 * when a write fails.
 */
#ifndef CG_OUTPUT_H
#define CG_OUTPUT_H

#include <jansson.h>
#include <stddef.h>

/* Writes @p doc as indented JSON (key order kept, doubles to 17 digits) and a newline.
 * @return 0 or an errno. */
int cg_write_json(const char *path, const json_t *doc);

/* Writes @p len bytes of @p text. @return 0 or an errno. */
int cg_write_text(const char *path, const char *text, size_t len);

/* Checks that each non-NULL path in @p paths (@p n of them) can be written, before anything is
 * measured; on the first that cannot, prints "codegreen VERB: cannot write PATH: REASON; nothing
 * was run" and returns its errno, else 0. */
int cg_check_outputs(const char *verb, const char *const *paths, size_t n);

#endif /* CG_OUTPUT_H */
