/*
 * term_guard.h - a termination signal that codegreen_runtime handles in Python is acted on even
 * when it lands just before a blocking call (the part of `_codegreen_fast` in term_guard.c).
 */
#ifndef CG_TERM_GUARD_H
#define CG_TERM_GUARD_H

#include <Python.h>

/* Adds guard_termination() and termination_seen() to @p module. Returns 0, or -1 with an
 * exception set. Call with the GIL held, from the module's init. */
int cg_term_guard_add(PyObject *module);

#endif
