/*
 * json_load.h - the one loader of a report FILE into a jansson tree, for every reader that needs
 * the whole document (the CLI's diff, merge, run --baseline, measure's result files). It reads
 * through zsource.h, so a .json.zst (or any zstd file) is decompressed on the fly and fed to
 * json_load_callback() in chunks: no copy of the whole text is held beside the tree.
 *
 * The plot does not build a tree: plot_stream.c parses the same source in bounded memory.
 *
 * The library and the codegreen executable both compile this file (the executable links the
 * shared library, whose internal symbols are hidden), so failures come back as a sentence in the
 * caller's buffer, not through nemb__fail(). Thread-safe (no state of its own).
 */
#ifndef NEMB_JSON_LOAD_H
#define NEMB_JSON_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;

/* The most of a report's (decompressed) text nemb__report_load() takes in: the tree costs several
 * times the text (a one-hour time series at 1 ms in the per-sample layout is ~2 GB). */
#define NEMB__REPORT_MAX_BYTES ((uint64_t)1 << 30)

/**
 * Reads and parses the report at @p path (plain JSON or zstd-compressed JSON) into *@p out, which
 * the caller owns (json_decref). On failure *out is NULL and @p msg (of @p msg_len bytes) holds a
 * sentence naming the file: a directory, a missing or unreadable file, a file over
 * NEMB__REPORT_MAX_BYTES (decompressed), corrupt or truncated zstd data, memory, and bad JSON
 * ("X is not valid JSON (line L, column C): ...") each get their own.
 * @return 0, or a negative NEMB_E* code (NEMB_EINVAL for bad content, NEMB_ENOMEM, NEMB_ENOENT,
 * NEMB_EACCES, NEMB_EIO).
 */
int nemb__report_load(const char *path, struct json_t **out, char *msg, size_t msg_len);

/* True when the file name @p name (a directory entry) is a report's: "*.json" or "*.json.zst",
 * with something before the extension. The verbs that gather reports from a directory (merge,
 * measure's children) take these. */
bool nemb__report_file_name(const char *name);

#endif /* NEMB_JSON_LOAD_H */
