/*
 * zstd_lib.h - libzstd, loaded when the first zstd-compressed report is read (zsource.c) or the
 * first ".zst" file is written (atomic_file.c).
 *
 * The library is not linked with libzstd, as it is not with cairo (cairo_lib.h): every process
 * that opens libcodegreen-nemb (each Python process `codegreen measure` runs) would pay for
 * loading it at start-up, while only reading or writing a .zst file uses it. The soname is fixed
 * ("libzstd.so.1", Debian's libzstd1), so nothing in the environment chooses the library. Only
 * zstd's headers are used at build time (libzstd-dev). The library and the codegreen executable
 * both compile this file (with dl.c), so a failure comes back as text, not through nemb__fail().
 *
 * Thread safety: nemb__zstd_load() may be called from any thread, any number of times (the load
 * runs once); the table is never written afterwards. Not installed.
 */
#ifndef NEMB_ZSTD_LIB_H
#define NEMB_ZSTD_LIB_H

#include <stdbool.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "dl.h"

/* The zstd functions zsource.c and atomic_file.c use (all stable since libzstd 1.4.0); each field
 * is the zstd function of the same name without its "ZSTD_" prefix, with zstd's own signature. */
typedef struct nemb__zstd_api {
  ZSTD_DCtx *(*createDCtx)(void);
  size_t (*freeDCtx)(ZSTD_DCtx *);
  size_t (*DCtx_setParameter)(ZSTD_DCtx *, ZSTD_dParameter, int);
  size_t (*DStreamInSize)(void);
  size_t (*decompressStream)(ZSTD_DStream *, ZSTD_outBuffer *, ZSTD_inBuffer *);
  unsigned (*isError)(size_t);
  const char *(*getErrorName)(size_t);
  ZSTD_ErrorCode (*getErrorCode)(size_t);
  ZSTD_CCtx *(*createCCtx)(void);
  size_t (*freeCCtx)(ZSTD_CCtx *);
  size_t (*CCtx_setParameter)(ZSTD_CCtx *, ZSTD_cParameter, int);
  size_t (*CStreamOutSize)(void);
  size_t (*compressStream2)(ZSTD_CCtx *, ZSTD_outBuffer *, ZSTD_inBuffer *, ZSTD_EndDirective);
} nemb__zstd_api;

/* The table, filled by the first nemb__zstd_load() that succeeds: call that first (it orders the
 * table's writes before the caller's reads). */
extern nemb__zstd_api nemb__zstd;

/* Loads libzstd on the first call. Returns NULL, or why it cannot be used (a sentence: "a
 * zstd-compressed (.zst) file needs libzstd (libzstd.so.1, Debian package libzstd1), which cannot
 * be loaded: <dlerror>", or that it lacks a function); the text is static. The caller adds
 * what it was doing and its own way out. */
const char *nemb__zstd_load(void);

/* The library's description for the loader (dl.h). Only a test changes it: pointing .soname at a
 * name that does not exist, before the first load, shows what happens without libzstd. */
extern nemb__dl_lib nemb__zstd_lib;

/* True when @p path names a zstd file by its extension (".zst", any case): the one rule for
 * reading (zsource.c) and writing (atomic_file.c). NULL gives false. */
bool nemb__zstd_is_zst_name(const char *path);

#endif /* NEMB_ZSTD_LIB_H */
