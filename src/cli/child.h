/*
 * child.h - starting and waiting for the program codegreen measures (`run`, `measure`).
 *
 * An exec that fails is reported back to the parent through a close-on-exec pipe, so "cannot
 * run X: No such file or directory" is told apart from a program that ran and exited 127.
 * The command runs in a process group of its own (the foreground one when codegreen owns the
 * terminal, so it reads the terminal and gets Ctrl-C/Ctrl-Z as without codegreen). SIGINT,
 * SIGTERM, SIGHUP, SIGUSR1 and SIGPIPE sent to codegreen are passed on to that whole group (a
 * shell's children too) by the waiting thread, after which codegreen still writes its report.
 * A signal codegreen was started with ignored stays ignored, for codegreen and for the command.
 * The handlers are installed without SA_RESTART so the wait returns EINTR and can pass the
 * signal on outside the handler.
 */
#ifndef CG_CHILD_H
#define CG_CHILD_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#define CG_EXIT_CANNOT_RUN 127 /* what a shell returns for a command it cannot start */

/* Installs the handlers of the signals above (saving the old ones), and restores them. */
void cg_signals_catch(void);
void cg_signals_restore(void);

/* The last of those signals caught since cg_signals_catch(), or 0. */
int cg_signals_caught(void);

/* Starts @p argv (looked up on PATH when @p search_path; with /dev/null as stdin when
 * @p null_stdin). Returns the pid, or -1 with *err set to the errno of the failed fork or exec. */
pid_t cg_child_start(char *const argv[], bool search_path, bool null_stdin, int *err);

/* Waits for @p pid, passing on signals from other processes when @p forward. Returns its exit
 * code, or 128 + the signal that killed it. @p ru (may be NULL) receives the resources used by
 * the child and the descendants it waited for. */
int cg_child_wait(pid_t pid, bool forward, struct rusage *ru);

#endif /* CG_CHILD_H */
