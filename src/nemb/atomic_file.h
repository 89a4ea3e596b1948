/*
 * atomic_file.h - the one way codegreen writes a file it was asked to write (reports, CSV, plots,
 * instrumented copies): whole or not at all, and never through a name someone else planted.
 *
 * A regular destination (or a new path) is replaced by rename(2) from a temporary file created
 * in the same directory with O_CREAT|O_EXCL|O_NOFOLLOW under an unpredictable name, written and
 * fsync'd first: a reader sees the old file or the new one, never half of one, and a failed write
 * (a full disk) leaves the old file as it was and no temporary behind. A destination that is not
 * a regular file (a character device such as /dev/null, a FIFO, a terminal) is written in place
 * and is never replaced. A symbolic link is followed: the file it names is replaced (or written in
 * place) and the link stays. A directory is refused with EISDIR.
 *
 * A path ending in ".zst" (report.json.zst) is written zstd-compressed: one zstd frame (level
 * NEMB__ZSTD_LEVEL), streamed, so a writer never holds the compressed file either; what `zstd -d`
 * gives back is exactly the bytes written. Any other path is written as it is. libzstd is
 * dlopen()ed at the first ".zst" path (zstd_lib.h); when it cannot be, such a path is refused
 * with NEMB__ATOMIC_ENOZSTD (never written uncompressed).
 *
 * The library and the codegreen executable both compile this file (the executable links the
 * shared library, whose internal symbols are hidden). The functions are thread-safe (no state
 * but a handle's own) and async-signal-unsafe (malloc).
 */
#ifndef NEMB_ATOMIC_FILE_H
#define NEMB_ATOMIC_FILE_H

#include <errno.h>
#include <stddef.h>

/**
 * Writes @p len bytes of @p data to @p path as described above. The file's mode is the old
 * file's when one is replaced, else 0666 less the umask.
 * @return 0, or the errno of the step that failed (positive: ENOSPC, EACCES, EISDIR, ...).
 */
int nemb__atomic_write(const char *path, const void *data, size_t len);

/* The zstd level of ".zst" files: 1, zstd's fastest regular level, which on reports' text is
 * also the smallest of levels 1-3 (a columnar series: 6.2x against 6.0x at level 3, the
 * samples layout 14.8x against 13.3x, in a third of the CPU; measured with zstd(1) on
 * bench_scale's reports, issue 18). */
#define NEMB__ZSTD_LEVEL 1

/* A file being written piece by piece, with the same guarantees as nemb__atomic_write(): nothing
 * is visible under @p path until nemb__atomic_commit() succeeds. Owned by the caller until
 * commit or abort, which free it; one thread at a time. */
typedef struct nemb__atomic_file nemb__atomic_file;

/**
 * Starts writing @p path (created as nemb__atomic_write() would, compressed when it ends in
 * ".zst").
 * @return 0 with *out set, or an errno (then *out is NULL).
 */
int nemb__atomic_open(const char *path, nemb__atomic_file **out);

/** Appends @p len bytes. @return 0 or an errno (sticky: commit then fails with it). */
int nemb__atomic_append(nemb__atomic_file *f, const void *data, size_t len);

/**
 * Finishes: ends the compressed frame, sets the replaced file's mode, fsyncs, renames into place.
 * Frees @p f whatever happens; on failure nothing replaced the destination.
 * @return 0 or the errno of the first step that failed (including a failed append's).
 */
int nemb__atomic_commit(nemb__atomic_file *f);

/** Gives up: removes the temporary file (a destination written in place keeps what it got) and
 *  frees @p f. Accepts NULL. */
void nemb__atomic_abort(nemb__atomic_file *f);

/* What nemb__atomic_open(), _write() and _check() return for a ".zst" path when libzstd
 * (loaded at the first ".zst" written, zstd_lib.h) cannot be loaded: nothing is written. */
#define NEMB__ATOMIC_ENOZSTD ELIBACC

/* The sentence for an errno these functions returned: strerror(), or for NEMB__ATOMIC_ENOZSTD
 * why libzstd cannot be loaded (naming libzstd.so.1 and Debian's libzstd1) and the two fixes.
 * The text is static or the calling thread's, valid until its next call. */
const char *nemb__atomic_strerror(int e);

/**
 * Checks, before any work is done, that nemb__atomic_write(@p path, ...) can succeed as far as
 * can be told now: the directory exists and a file can be created in it (tested by creating and
 * removing a temporary file, which also catches a read-only file system and root on a
 * root-squashed mount), or the existing non-regular destination can be opened for writing.
 * @return 0, or the errno that the write would meet (ENOENT for a missing directory, ...).
 */
int nemb__atomic_check(const char *path);

/* Checks only what no later change to the file system can mend: a .zst @p path needs libzstd.
 * @return 0, or NEMB__ATOMIC_ENOZSTD. */
int nemb__atomic_check_kind(const char *path);

#endif /* NEMB_ATOMIC_FILE_H */
