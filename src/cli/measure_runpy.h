/*
 * measure_runpy.h - the Python programs that python itself runs through runpy (measure_runpy.c):
 * `python -m MODULE`, `python DIR` and `python ARCHIVE.zip` (a directory or zip file with
 * __main__.py). `codegreen measure` runs these as python would, unchanged, and begins the
 * measurement before them through a sitecustomize module of its own.
 */
#ifndef CG_MEASURE_RUNPY_H
#define CG_MEASURE_RUNPY_H

#include <stdbool.h>

typedef enum cg_run_kind {
  CG_RUN_SCRIPT, /* a source file: compiled by measure's runner, run as a .pyc */
  CG_RUN_MODULE, /* -m MODULE */
  CG_RUN_DIR,    /* a directory (python runs its __main__.py) */
  CG_RUN_ZIP     /* a zip file, whatever its name (python runs its __main__.py) */
} cg_run_kind;

/* What `python TARGET` runs: a directory, a zip archive (python's own test: the file has a zip
 * end-of-central-directory record), else a script. Never fails (an unreadable target is a
 * script, and reading it says why). */
cg_run_kind cg_run_kind_of(const char *target);

/* Writes DIR/sitecustomize.py (DIR is created, mode 0700): imported by site at the
 * interpreter's start-up, before python looks for the program, it imports codegreen_runtime,
 * which begins the session, installs the import hook of the instrumented modules and undoes
 * measure's environment, and then hands over to the interpreter's own sitecustomize, if it
 * has one (codegreen_runtime._chain_sitecustomize). @return 0, or -1 (errno). */
int cg_runpy_write_boot(const char *dir);

#endif /* CG_MEASURE_RUNPY_H */
