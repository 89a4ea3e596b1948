/*
 * internal.h - helpers shared by the library's files. Not installed; names are nemb__-prefixed
 * and hidden from the shared object by the visibility preset.
 */
#ifndef NEMB_INTERNAL_H
#define NEMB_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nemb.h"

#define NEMB__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ----- errors: error.c ----- */

/* Records the detailed message for nemb_last_error() in this thread and returns @p err, so a
 * failure path reads `return nemb__fail(NEMB_EACCES, "cannot read %s: ...", path);`. */
int nemb__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears the thread's last-error message (called at the start of public entry points that may
 * fail, so a stale message is never shown for a later success). */
void nemb__clear_error(void);

/* Writes a provider's "why" message (snprintf into @p why; nothing when it is NULL or empty). */
void nemb__say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Maps an errno value to our code: -errno for the ones in NEMB_ERRNO_MAP, else NEMB_EIO. */
int nemb__from_errno(int e);

/* ----- logging: log.c ----- */

void nemb__log(nemb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ----- time ----- */

uint64_t nemb__now_ns(void);

/* ----- paths and files: sysfs.c -----
 * Every /sys, /dev and /proc path the providers read goes through the root prefix taken from
 * CODEGREEN_SYSFS_ROOT (empty on a real machine), so tests can point it at a fixture tree. */

/* The prefix, without trailing slash; "" when unset. Read once per call, not cached, so tests can
 * change it between meters. */
const char *nemb__sysfs_root(void);

/* Writes root + the formatted absolute path into @p buf. Returns 0 or -ENAMETOOLONG. */
int nemb__path(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reads a whole small file into @p buf (NUL-terminated, trailing newline stripped).
 * Returns 0 or -errno. */
int nemb__read_text(const char *path, char *buf, size_t len);

/* Parses a decimal unsigned 64-bit integer, allowing surrounding whitespace.
 * Returns 0 or NEMB_EPARSE. */
int nemb__parse_u64(const char *text, uint64_t *out);

/* Reads up to @p len - 1 bytes at offset 0 of an open descriptor into @p buf and NUL-terminates
 * them (sysfs and procfs regenerate a file's text on every read at offset 0). Returns the byte
 * count or -errno. */
long nemb__pread_text(int fd, char *buf, size_t len);

/* Reads an unsigned decimal from an open descriptor with pread at offset 0 (the sampling hot path:
 * no open, no stdio). Returns 0, -errno or NEMB_EPARSE. */
int nemb__pread_u64(int fd, uint64_t *out);

/* ----- the growable text buffer used by JSON writers: buf.c ----- */

typedef struct nemb__buf {
  char *data; /* always NUL-terminated once anything was appended */
  size_t len;
  size_t cap;
  bool oom; /* sticky: an append failed, the content is incomplete */
} nemb__buf;

#define NEMB__BUF_INIT                                                                             \
  { NULL, 0, 0, false }

void nemb__buf_append(nemb__buf *b, const char *s, size_t n);
/* Makes room for @p n more bytes (and the NUL) at the end. Returns false after an allocation
 * failure (sticky). */
bool nemb__buf_reserve(nemb__buf *b, size_t n);
/* Where up to @p n bytes may be written in place at the end of @p b (then nemb__buf_grew() with
 * how many were), or NULL after an allocation failure: for writers of many small numbers. */
static inline char *nemb__buf_space(nemb__buf *b, size_t n) {
  return b->len + n < b->cap || nemb__buf_reserve(b, n) ? b->data + b->len : NULL;
}
/* Takes @p n bytes written at nemb__buf_space() into the content, NUL-terminated. */
static inline void nemb__buf_grew(nemb__buf *b, size_t n) {
  b->len += n;
  b->data[b->len] = '\0';
}
void nemb__buf_printf(nemb__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends @p field quoted as nemb_csv_field() quotes it (the one CSV rule). */
void nemb__buf_csv_field(nemb__buf *b, const char *field);
/* Hands the content to the caller (who frees it) and resets the buffer; NULL after an OOM. */
char *nemb__buf_detach(nemb__buf *b);
void nemb__buf_release(nemb__buf *b);

/* ----- configuration: config.c ----- */

/* The least sample-store cap: coordinator.max_samples' minimum, and buffer_samples' too. */
#define NEMB__MIN_BUFFER_SAMPLES 1000

/* buffer_samples' floor in nemb_session_begin(): NEMB__MIN_BUFFER_SAMPLES. Tests of what a full
 * store does lower it (session.c), so that a store fills within a few samples. */
extern size_t nemb__min_buffer_samples;

/* Checks @p section (a JSON object given outside config.json, e.g. CODEGREEN_SIM_CONFIG) against
 * the known keys under @p prefix ("providers.sim"), with the rules config.json gets: types,
 * ranges, and a warning naming the nearest known key for one that is not known. @p origin names
 * the source in messages. @return 0 or NEMB_ECONFIG (with nemb__fail's detail). */
int nemb__config_check_section(const char *prefix, const void *section, const char *origin);

/* Levenshtein distance of two strings of at most 200 bytes (SIZE_MAX for longer ones). */
size_t nemb__edit_distance(const char *a, const char *b);

/* The candidate nearest to @p word when it is plausibly a typo of it, else NULL. */
const char *nemb__nearest(const char *word, const char *const *candidates, size_t n);

/* A copy of @p cfg (already checked) into *out, owned by the caller; NULL for the defaults.
 * For a meter created later than the config lives (a follower rank's take-over: node.c). */
int nemb__config_copy(const nemb_config *cfg, nemb_config **out);

/* Built-in defaults, for meters created with a NULL config and for the CLI's help text. */
const nemb_config *nemb__config_defaults(void);

/* Returns the JSON value (a jansson json_t *, untyped here so users of this header need not
 * include jansson) at a dotted key, or NULL when the file does not set it. Borrowed reference. */
void *nemb__config_lookup(const nemb_config *cfg, const char *key);

/* The number at a known key: the value @p cfg sets, else the key's default from config.c's
 * table (the one place defaults are written; callers never repeat them). A value of the wrong
 * type, already refused when the file was loaded, also reads as the default. Never fails; an
 * unknown key (a programming error) reads 0. */
double nemb__config_number(const nemb_config *cfg, const char *key);

/* Loads the config from the search order when @p cfg is NULL; *owned receives what the caller must
 * destroy (NULL when @p cfg was given). */
int nemb__config_resolve(const nemb_config *cfg, const nemb_config **use, nemb_config **owned);

/* ----- virtual-machine detection: sysfs.c ----- */

/* Fills @p name with the hypervisor's name ("KVM", "VMware", ...) or "unknown hypervisor" and
 * returns true when this looks like a virtual machine (cpuinfo's hypervisor flag, DMI vendor). */
bool nemb__detect_vm(char *name, size_t len);

#endif /* NEMB_INTERNAL_H */
