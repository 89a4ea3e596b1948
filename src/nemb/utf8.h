/*
 * utf8.h - text that JSON can carry, from bytes that may not be UTF-8 (a command's arguments, a
 * path, an environment value, a name from C code). Not installed. Thread-safe: no state.
 *
 * The rule, in one place for the library and the CLI: every valid UTF-8 sequence (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF) is kept as it is, and each byte that
 * does not start one becomes U+FFFD (the replacement character), so the text keeps its length in
 * characters and shows where the bad bytes were.
 */
#ifndef NEMB_UTF8_H
#define NEMB_UTF8_H

/* @p bytes (NUL-terminated) with the rule applied, malloc'd: the caller frees it. NULL only when
 * out of memory. */
char *nemb__utf8_text(const char *bytes);

#endif
