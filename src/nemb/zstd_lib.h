/*
 * zstd_lib.h - libzstd, loaded when the first zstd-compressed report is read (zsource.c).
 *
 * The library is not linked with libzstd, as it is not with cairo (cairo_lib.h): every process
 * that opens libcodegreen-nemb (each Python process `codegreen measure` runs) would pay for
 * loading it at start-up, while only reading a .json.zst report uses it. The soname is fixed
 * ("libzstd.so.1", Debian's libzstd1), so nothing in the environment chooses the library. Only
 * zstd's headers are used at build time. The library and the codegreen executable both compile
 * this file (with dl.c), so a failure comes back as text, not through nemb__fail().
 *
 * Thread safety: nemb__zstd_load() may be called from any thread, any number of times (the load
 * runs once); the table is never written afterwards. Not installed.
 */
#ifndef NEMB_ZSTD_LIB_H
#define NEMB_ZSTD_LIB_H

#include <zstd.h>
#include <zstd_errors.h>

/* The zstd functions zsource.c uses; each field is the zstd function of the same name without its
 * "ZSTD_" prefix, with zstd's own signature. */
typedef struct nemb__zstd_api {
  ZSTD_DCtx *(*createDCtx)(void);
  size_t (*freeDCtx)(ZSTD_DCtx *);
  size_t (*DCtx_setParameter)(ZSTD_DCtx *, ZSTD_dParameter, int);
  size_t (*DStreamInSize)(void);
  size_t (*decompressStream)(ZSTD_DStream *, ZSTD_outBuffer *, ZSTD_inBuffer *);
  unsigned (*isError)(size_t);
  const char *(*getErrorName)(size_t);
  ZSTD_ErrorCode (*getErrorCode)(size_t);
} nemb__zstd_api;

/* The table, filled by the first nemb__zstd_load() that succeeds: call that first (it orders the
 * table's writes before the caller's reads). */
extern nemb__zstd_api nemb__zstd;

/* Loads libzstd on the first call. Returns NULL, or why it cannot be used (a sentence: the
 * library cannot be loaded, with the fix, or lacks a function); the text is static. */
const char *nemb__zstd_load(void);

#endif /* NEMB_ZSTD_LIB_H */
