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
 * The library and the codegreen executable both compile this file (the executable links the
 * shared library, whose internal symbols are hidden). The functions are thread-safe (no state)
 * and async-signal-unsafe (malloc).
 */
#ifndef NEMB_ATOMIC_FILE_H
#define NEMB_ATOMIC_FILE_H

#include <stddef.h>

/**
 * Writes @p len bytes of @p data to @p path as described above. The file's mode is the old
 * file's when one is replaced, else 0666 less the umask.
 * @return 0, or the errno of the step that failed (positive: ENOSPC, EACCES, EISDIR, ...).
 */
int nemb__atomic_write(const char *path, const void *data, size_t len);

/**
 * Checks, before any work is done, that nemb__atomic_write(@p path, ...) can succeed as far as
 * can be told now: the directory exists and a file can be created in it (tested by creating and
 * removing a temporary file, which also catches a read-only file system and root on a
 * root-squashed mount), or the existing non-regular destination can be opened for writing.
 * @return 0, or the errno that the write would meet (ENOENT for a missing directory, ...).
 */
int nemb__atomic_check(const char *path);

#endif /* NEMB_ATOMIC_FILE_H */
