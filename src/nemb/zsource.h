/*
 * zsource.h - the one way codegreen reads a report FILE: in chunks, decompressing zstd on the
 * fly. A file whose name ends in ".zst", or whose first four bytes are zstd's frame magic
 * (28 B5 2F FD), is decompressed with libzstd's streaming API (ZSTD_decompressStream, any number
 * of concatenated frames; libzstd is loaded at the first compressed file, zstd_lib.h); any other
 * file is read as it is. Memory is bounded: one input buffer
 * (ZSTD_DStreamInSize(), about 128 KiB) and libzstd's window (at most 8 MiB for frames written
 * by the zstd tool's default levels; a frame asking for more than 128 MiB is refused).
 *
 * Readers: json_load.c (a whole report into jansson, for the CLI's verbs) and plot_stream.c (the
 * plot's streaming parse). The library and the codegreen executable both compile this file (the
 * executable links the shared library, whose internal symbols are hidden), so it reports errors
 * as text in the source (msg), not through nemb__fail().
 *
 * Thread safety: a source is used by one thread at a time; different sources are independent.
 */
#ifndef NEMB_ZSOURCE_H
#define NEMB_ZSOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nemb__zsrc {
  int fd;
  bool zst;          /* decompressing */
  bool eof;          /* the file is read to its end */
  bool done;         /* no more bytes will come (end, or an error) */
  bool pending;      /* the last decompression filled its output: more may be buffered */
  void *dctx;        /* ZSTD_DCtx *, when zst */
  unsigned char *in; /* compressed input, when zst */
  size_t in_cap, in_len, in_pos;
  size_t frame_left;  /* ZSTD_decompressStream's last hint: 0 between frames */
  uint64_t out_bytes; /* bytes handed out so far (decompressed) */
  uint64_t limit;     /* refuse more than this many bytes (0: no limit) */
  int err;            /* 0, or the negative NEMB_E* code of the failure */
  char msg[512];      /* the failure, as a sentence naming the file; "" when none */
  char *path;         /* owned copy, for messages */
} nemb__zsrc;

/**
 * Opens @p path for reading into @p s (caller-owned; any contents). A directory, a missing,
 * unreadable or empty (0-byte) file, or memory failure is refused with its message in s->msg.
 * @p limit caps the (decompressed) bytes read (0: none); the read that would pass it fails with
 * NEMB_EINVAL and the message "... is larger than N MiB, more than codegreen reads".
 * @return 0, or a negative NEMB_E* code (s->err, s->msg set). nemb__zsrc_close() is safe after
 * either.
 */
int nemb__zsrc_open(nemb__zsrc *s, const char *path, uint64_t limit);

/**
 * Reads up to @p cap bytes of the report's (decompressed) text into @p buf; *got is how many
 * (0 at the end). A read error, corrupt or truncated zstd data ("... is truncated: its zstd
 * stream ends in the middle of a frame") and the limit fail with s->err and s->msg set; after a
 * failure every call fails the same way.
 * @return 0 or a negative NEMB_E* code.
 */
int nemb__zsrc_read(nemb__zsrc *s, void *buf, size_t cap, size_t *got);

/* Closes the file and frees everything @p s holds; safe after nemb__zsrc_open() whether it
 * succeeded or failed, and twice. */
void nemb__zsrc_close(nemb__zsrc *s);

#endif /* NEMB_ZSOURCE_H */
