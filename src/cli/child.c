/*
 * child.c - see child.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "child.h"
#include "nemb.h"
#include "outputs.h"

/* The signals that end codegreen's wait the way SIGTERM does: passed on to the command's
 * process group, after which the report is still written. */
static const int handled[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGPIPE};
#define N_HANDLED (sizeof handled / sizeof handled[0])

static volatile sig_atomic_t caught;
static volatile sig_atomic_t forward_pending;
static struct sigaction old_action[N_HANDLED];
static int installed[N_HANDLED];

static void on_signal(int sig) {
  caught = sig;
  forward_pending = 1;
  nemb_session_interrupt_wait(sig); /* a follower rank waiting for a stopped leader stops waiting */
}

void cg_signals_catch(void) {
  struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: the wait must see EINTR */
  sigemptyset(&sa.sa_mask);
  caught = 0;
  forward_pending = 0;
  for (size_t i = 0; i < N_HANDLED; i++) {
    installed[i] = 0;
    if (sigaction(handled[i], NULL, &old_action[i]) != 0) {
      continue;
    }
    /* A signal codegreen was started with ignored (`cmd &` in a script ignores SIGINT) stays
     * ignored, here and in the command, which inherits the disposition through exec. */
    if (old_action[i].sa_handler == SIG_IGN) {
      continue;
    }
    installed[i] = sigaction(handled[i], &sa, NULL) == 0;
  }
}

void cg_signals_restore(void) {
  for (size_t i = 0; i < N_HANDLED; i++) {
    if (installed[i]) {
      sigaction(handled[i], &old_action[i], NULL);
      installed[i] = 0;
    }
  }
}

int cg_signals_caught(void) {
  return (int)caught;
}

/* The whole process group: a shell's own children (sh -c 'sleep 30; true') get it too. Every
 * signal passed on ends a process by default, and a stopped one (SIGSTOP, a debugger) would hold
 * it pending forever, so SIGCONT follows, as shells and timeout(1) do. */
static void forward(pid_t pid) {
  if (forward_pending && pid > 0) {
    forward_pending = 0;
    kill(-pid, (int)caught);
    kill(-pid, SIGCONT);
  }
}

/* The controlling terminal when codegreen is in its foreground, else -1: then the command's
 * process group is made the foreground one, so that it can read the terminal and Ctrl-C/Ctrl-Z
 * reach it as they would without codegreen. */
static int foreground_tty(void) {
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    return -1;
  }
  if (tcgetpgrp(fd) != getpgrp()) {
    close(fd);
    return -1;
  }
  return fd;
}

/* tcsetpgrp from a background group raises SIGTTOU: blocked around the call. */
static void give_tty(int fd, pid_t pgid) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGTTOU);
  sigprocmask(SIG_BLOCK, &block, &old);
  tcsetpgrp(fd, pgid);
  sigprocmask(SIG_SETMASK, &old, NULL);
}

static int tty_fd = -1;

pid_t cg_child_start(char *const argv[], bool search_path, bool null_stdin, int *err) {
  return cg_child_start_env(argv, NULL, search_path, null_stdin, err);
}

pid_t cg_child_start_env(char *const argv[], char *const envp[], bool search_path, bool null_stdin,
                         int *err) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    *err = errno;
    return -1;
  }
  if (tty_fd < 0) {
    tty_fd = foreground_tty();
  }
  pid_t pid = fork();
  if (pid < 0) {
    *err = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    return -1;
  }
  if (pid == 0) {
    /* Its own process group, so that a signal reaches the command's whole tree. Both sides call
     * setpgid so that neither can act on the group before it exists. Handlers become SIG_DFL at
     * exec by themselves; ignored signals stay ignored (inherited, never forced back). */
    setpgid(0, 0);
    if (tty_fd >= 0) {
      give_tty(tty_fd, getpid());
    }
    cg_std_unreserve();
    if (null_stdin) {
      int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        close(fd);
      }
    }
    char *const *env = envp != NULL ? envp : environ;
    if (search_path) {
      execvpe(argv[0], argv, env);
    } else {
      execve(argv[0], argv, env);
    }
    int e = errno; /* exec failed: tell the parent why through the close-on-exec pipe */
    struct stat st;
    if (e == EACCES && strchr(argv[0], '/') != NULL && stat(argv[0], &st) == 0 &&
        S_ISDIR(st.st_mode)) {
      e = EISDIR; /* the kernel says EACCES for a directory; a shell says what it is (126) */
    }
    ssize_t ignored = write(pipefd[1], &e, sizeof e);
    (void)ignored;
    _exit(CG_EXIT_CANNOT_RUN);
  }
  setpgid(pid, pid);
  if (tty_fd >= 0) {
    give_tty(tty_fd, pid);
  }
  close(pipefd[1]);
  int e = 0;
  ssize_t n;
  do {
    n = read(pipefd[0], &e, sizeof e); /* EOF (0 bytes) means exec succeeded */
  } while (n < 0 && errno == EINTR);
  close(pipefd[0]);
  if (n == (ssize_t)sizeof e) {
    waitpid(pid, NULL, 0);
    if (tty_fd >= 0) {
      give_tty(tty_fd, getpgrp());
    }
    *err = e;
    return -1;
  }
  return pid;
}

int cg_exit_cannot_start(int err) {
  return err == ENOENT || err == ENOTDIR || err == ELOOP || err == ENAMETOOLONG
             ? CG_EXIT_CANNOT_RUN
             : CG_EXIT_NOT_EXECUTABLE;
}

int cg_child_wait(pid_t pid, bool pass_on, struct rusage *ru) {
  int signo;
  return cg_child_wait_signal(pid, pass_on, ru, &signo);
}

int cg_child_wait_signal(pid_t pid, bool pass_on, struct rusage *ru, int *signo) {
  int status = 0;
  struct rusage scratch;
  for (;;) {
    if (pass_on) {
      forward(pid); /* also a kill that came while the child was starting */
    }
    pid_t w = wait4(pid, &status, tty_fd >= 0 ? WUNTRACED : 0, ru ? ru : &scratch);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      status = 0;
      break;
    }
    if (WIFSTOPPED(status)) {
      /* Ctrl-Z stopped the command's group: stop codegreen too so the shell sees a stopped job,
       * and hand everything back to the command when the job is continued. */
      if (tty_fd >= 0) {
        give_tty(tty_fd, getpgrp());
      }
      kill(getpid(), SIGSTOP);
      if (tty_fd >= 0) {
        give_tty(tty_fd, pid);
      }
      kill(-pid, SIGCONT);
      continue;
    }
    break;
  }
  if (tty_fd >= 0) {
    give_tty(tty_fd, getpgrp());
  }
  *signo = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void cg_signal_name(int sig, char *buf, size_t len) {
  const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;
  if (abbrev != NULL) {
    snprintf(buf, len, "SIG%s", abbrev);
  } else {
    snprintf(buf, len, "signal %d", sig);
  }
}
