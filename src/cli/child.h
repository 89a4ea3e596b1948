/*
 * child.h - starting and waiting for the program codegreen measures (`run`, `measure`).
 *
 * An exec that fails is reported back to the parent through a close-on-exec pipe, so "cannot
 * run X: No such file or directory" is told apart from a program that ran and exited 127.
 * The command runs in a process group of its own (the foreground one when codegreen owns the
 * terminal, so it reads the terminal and gets Ctrl-C/Ctrl-Z as without codegreen). SIGINT,
 * SIGTERM, SIGHUP, SIGUSR1 and SIGPIPE sent to codegreen are passed on to that whole group (a
 * shell's children too) by the waiting thread, followed by SIGCONT so that a stopped command
 * acts on it, after which codegreen still writes its report.
 * A signal codegreen was started with ignored stays ignored, for codegreen and for the command.
 * The handlers are installed without SA_RESTART so the wait returns EINTR and can pass the
 * signal on outside the handler.
 */
#ifndef CG_CHILD_H
#define CG_CHILD_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#define CG_EXIT_CANNOT_RUN 127     /* what a shell returns for a command it cannot find */
#define CG_EXIT_NOT_EXECUTABLE 126 /* ... and for one it found but cannot execute (EACCES) */

/* The exit status a shell gives for a command that could not be started with errno @p err:
 * 126 when it exists but cannot be executed (EACCES, ENOEXEC, EISDIR...), else 127. */
int cg_exit_cannot_start(int err);

/* Installs the handlers of the signals above (saving the old ones), and restores them. */
void cg_signals_catch(void);
void cg_signals_restore(void);

/* "SIGTERM" for SIGTERM, "signal N" for a number without a name, into @p buf. */
void cg_signal_name(int sig, char *buf, size_t len);

/* The last of those signals caught since cg_signals_catch(), or 0. */
int cg_signals_caught(void);

/* Starts @p argv (looked up on PATH when @p search_path; with /dev/null as stdin when
 * @p null_stdin). Returns the pid, or -1 with *err set to the errno of the failed fork or exec. */
pid_t cg_child_start(char *const argv[], bool search_path, bool null_stdin, int *err);

/* cg_child_start() with the environment @p envp (NULL-terminated "NAME=VALUE" strings, read in
 * the child only; NULL: this process's). */
pid_t cg_child_start_env(char *const argv[], char *const envp[], bool search_path, bool null_stdin,
                         int *err);

/* Waits for @p pid, passing on signals from other processes when @p forward. Returns its exit
 * code, or 128 + the signal that killed it. @p ru (may be NULL) receives the resources used by
 * the child and the descendants it waited for. */
int cg_child_wait(pid_t pid, bool forward, struct rusage *ru);

/* cg_child_wait() that also says how the child ended: *@p signo gets the signal that killed it
 * (WIFSIGNALED: the exit status is then 128 + that signal), or 0 when it exited by itself (a
 * status above 128 is then its own: a shell's way of saying that its command died of a
 * signal, for one). */
int cg_child_wait_signal(pid_t pid, bool forward, struct rusage *ru, int *signo);

#endif /* CG_CHILD_H */
