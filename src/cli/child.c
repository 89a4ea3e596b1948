/*
 * child.c - see child.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"

static volatile sig_atomic_t caught;
static volatile sig_atomic_t forward_pending;
static struct sigaction old_int, old_term;

static void on_signal(int sig, siginfo_t *info, void *ctx) {
  (void)ctx;
  caught = sig;
  if (info->si_code == SI_USER) {
    forward_pending = 1;
  }
}

void cg_signals_catch(void) {
  struct sigaction sa = {.sa_sigaction = on_signal, .sa_flags = SA_SIGINFO};
  sigemptyset(&sa.sa_mask);
  caught = 0;
  forward_pending = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
}

void cg_signals_restore(void) {
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
}

int cg_signals_caught(void) {
  return (int)caught;
}

static void forward(pid_t pid) {
  if (forward_pending && pid > 0) {
    forward_pending = 0;
    kill(pid, (int)caught);
  }
}

pid_t cg_child_start(char *const argv[], bool search_path, bool null_stdin, int *err) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    *err = errno;
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    *err = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    return -1;
  }
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (null_stdin) {
      int fd = open("/dev/null", O_RDONLY);
      if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        close(fd);
      }
    }
    if (search_path) {
      execvp(argv[0], argv);
    } else {
      execv(argv[0], argv);
    }
    int e = errno; /* exec failed: tell the parent why through the close-on-exec pipe */
    ssize_t ignored = write(pipefd[1], &e, sizeof e);
    (void)ignored;
    _exit(CG_EXIT_CANNOT_RUN);
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
    *err = e;
    return -1;
  }
  return pid;
}

int cg_child_wait(pid_t pid, bool pass_on, struct rusage *ru) {
  int status = 0;
  struct rusage scratch;
  if (pass_on) {
    forward(pid); /* a kill that came while the child was starting */
  }
  while (wait4(pid, &status, 0, ru ? ru : &scratch) < 0 && errno == EINTR) {
    if (pass_on) {
      forward(pid);
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
