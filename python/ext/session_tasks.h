/*
 * session_tasks.h - codegreen.Session's task boundaries, the part of `_codegreen_fast` in
 * session_tasks.c (its header comment says what the types do, and their thread safety).
 */
#ifndef CG_SESSION_TASKS_H
#define CG_SESSION_TASKS_H

#include <Python.h>

/* Adds the Recorder and TaskCall types to @p module (creating them, and the fork handler, once).
 * Returns 0, or -1 with an exception set. Call with the GIL held, from the module's init. */
int cg_session_tasks_add(PyObject *module);

#endif
