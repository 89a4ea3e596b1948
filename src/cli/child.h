/*
 * child.h - starting and waiting for the program codegreen measures (`run`, `measure`).
 *
 * An exec that fails is reported back to the parent through a close-on-exec pipe, so "cannot
 * run X: No such file or directory" is told apart from a program that ran and exited 127.
 * SIGINT and SIGTERM sent to codegreen by another process (`kill`) are passed on to the child by
 * the waiting thread; signals from the terminal already reach the child, which shares our process
 * group, and are not sent twice. The handlers are installed without SA_RESTART so the wait
 * returns EINTR and can pass the signal on outside the handler.
 */
#ifndef CG_CHILD_H
#define CG_CHILD_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#define CG_EXIT_CANNOT_RUN 127 /* what a shell returns for a command it cannot start */

/* Installs the SIGINT/SIGTERM handlers (saving the old ones), and restores them. */
void cg_signals_catch(void);
void cg_signals_restore(void);

/* The last SIGINT/SIGTERM caught since cg_signals_catch(), or 0. */
int cg_signals_caught(void);

/* Starts @p argv (looked up on PATH when @p search_path; with /dev/null as stdin when
 * @p null_stdin). Returns the pid, or -1 with *err set to the errno of the failed fork or exec. */
pid_t cg_child_start(char *const argv[], bool search_path, bool null_stdin, int *err);

/* Waits for @p pid, passing on signals from other processes when @p forward. Returns its exit
 * code, or 128 + the signal that killed it. @p ru (may be NULL) receives the resources used by
 * the child and the descendants it waited for. */
int cg_child_wait(pid_t pid, bool forward, struct rusage *ru);

#endif /* CG_CHILD_H */
