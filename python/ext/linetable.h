/*
 * linetable.h - the runner's position mover in C (linetable.c), two functions of the
 * `_codegreen_fast` module: src/instrument/python/runner.py's code_mover() calls them on CPython
 * 3.11-3.13 when it finds the module, and does the same in Python otherwise.
 */
#ifndef CG_LINETABLE_H
#define CG_LINETABLE_H

#include <Python.h>

/* Adds linemap() and move_linetable() to MODULE. 0, or -1 with a Python exception set. */
int cg_linetable_add(PyObject *module);

#endif
