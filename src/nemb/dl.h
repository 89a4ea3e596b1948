/*
 * dl.h - binding functions of a library loaded at run time with dlopen() (NVML, libcurl, cairo).
 * Not installed.
 */
#ifndef NEMB_DL_H
#define NEMB_DL_H

#include <stdbool.h>
#include <stddef.h>

/* Looks @p symbol up in @p lib (a dlopen() handle) and stores it in the function pointer at
 * @p fn_ptr, of @p size bytes. POSIX guarantees that a dlsym() result converts to a function
 * pointer; ISO C does not allow the cast directly, so it goes through memcpy. Returns false, with
 * the pointer untouched, when the library has no such symbol. Thread-safe (dlsym is). */
bool nemb__dl_bind(void *lib, const char *symbol, void *fn_ptr, size_t size);

/* Binds the function pointer @p field (an lvalue) to the symbol @p name of @p lib. */
#define NEMB__DL_BIND(lib, field, name) nemb__dl_bind((lib), (name), &(field), sizeof(field))

#endif /* NEMB_DL_H */
