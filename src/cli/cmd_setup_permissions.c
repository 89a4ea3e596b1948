/*
 * cmd_setup_permissions.c - `codegreen setup-permissions`: lets one group read the energy
 * counters without root, the safe way.
 *
 * Since Linux 5.10 the RAPL counters are readable by root only, because of CVE-2020-8694
 * (PLATYPUS: energy read often enough leaks data of other processes). Making them world-readable
 * again would undo that fix, so this command never does; it gives read access to one group
 * (`codegreen`, or --group) whose members the administrator chooses:
 *
 *   /etc/tmpfiles.d/codegreen.conf   applied at every boot (sysfs modes are reset at boot) and
 *                                    once now;
 *   /etc/udev/rules.d/60-codegreen.rules
 *                                    reapplies them whenever a zone appears later (the RAPL
 *                                    module loaded after boot, CPU hotplug), which tmpfiles
 *                                    alone would miss;
 *   with --msr, group read on /dev/cpu/N/msr and /etc/modules-load.d/codegreen.conf to load the
 *   msr module at boot (the kernel still demands CAP_SYS_RAWIO of each process: said plainly);
 *   with --perf, the codegreen executable gets CAP_PERFMON and becomes runnable by the group only
 *   (the "privileged perf users group" of the kernel's perf-security guide), which is how a
 *   group, and not every user, may open system-wide perf counters.
 *
 * --root DIR writes the files under DIR and applies nothing (no group, no chmod, no capability):
 * that is how the tests check the files' exact contents. Root is required either way, so the
 * command behaves the same when tried.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cli.h"

#define TMPFILES_CONF "/etc/tmpfiles.d/codegreen.conf"
#define UDEV_RULES "/etc/udev/rules.d/60-codegreen.rules"
#define MODULES_CONF "/etc/modules-load.d/codegreen.conf"

typedef struct options {
  const char *group;
  const char *user; /* who to add to the group; SUDO_USER by default */
  const char *root; /* NULL: the real system */
  bool msr;
  bool perf;
} options;

static void print_usage(FILE *fp) {
  fprintf(fp,
          "usage: codegreen setup-permissions [--group NAME] [--user NAME] [--msr] [--perf]\n"
          "                                   [--root DIR]\n\n"
          "Run as root. Lets the members of one group read the energy counters without root:\n"
          "creates the group, adds the user who ran sudo to it, and installs a tmpfiles.d rule\n"
          "and a udev rule that give the group read access to the powercap (RAPL) counters\n"
          "and the amd_energy/zenergy hwmon counters. Never makes them world-readable\n"
          "(CVE-2020-8694). Log in again afterwards for the new group to take effect.\n\n"
          "  --group NAME  the group (default: codegreen)\n"
          "  --user NAME   the user to add to it (default: $SUDO_USER; none if unset)\n"
          "  --msr         also group read access to /dev/cpu/*/msr and load the msr module at\n"
          "                boot (each process still needs CAP_SYS_RAWIO to open it)\n"
          "  --perf        also give this codegreen executable CAP_PERFMON and make it\n"
          "                runnable by the group only, so it may open RAPL perf events\n"
          "  --root DIR    write the files under DIR and apply nothing (for tests and review)\n"
          "  -h, --help    this help\n");
}

/* Names go into udev and tmpfiles lines and onto command lines: only the portable set
 * [a-z_][a-z0-9_-]*, at most 32 characters, so nothing can be smuggled into a rule. */
static bool valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) {
    return false;
  }
  for (size_t i = 1; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

/* mkdir -p of the directory part of @p path (mode 0755). */
static int make_parents(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') {
      continue;
    }
    *p = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
      return -errno;
    }
    *p = '/';
  }
  return 0;
}

/* Writes @p text to root + @p rel through the one atomic writer (atomic_file.h: a temporary
 * that nobody can plant, fsync, rename), so that a reader (udev, systemd-tmpfiles) never sees
 * half a file. Mode 0644: rules are public, counters are not. */
static int write_file(const options *o, const char *rel, const char *text) {
  char path[4096];
  snprintf(path, sizeof path, "%s%s", o->root ? o->root : "", rel);
  int rc = make_parents(path);
  if (rc != 0) {
    fprintf(stderr, "codegreen: cannot create the directory of %s: %s\n", path, strerror(-rc));
    return -1;
  }
  int e = nemb__atomic_write(path, text, strlen(text));
  if (e == 0 && chmod(path, 0644) != 0) {
    e = errno;
  }
  if (e != 0) {
    fprintf(stderr, "codegreen: cannot install %s: %s\n", path, strerror(e));
    return -1;
  }
  printf("  wrote %s\n", path);
  return 0;
}

static void tmpfiles_text(const options *o, char *buf, size_t len) {
  int n = snprintf(
      buf, len,
      "# Written by `codegreen setup-permissions`: members of group %s may read the energy\n"
      "# counters. Mode 0440 root:%s: the kernel keeps them root-only since Linux 5.10\n"
      "# (CVE-2020-8694, PLATYPUS) and this only widens that to one group; never make them\n"
      "# world-readable. sysfs modes are reset at boot; systemd-tmpfiles reapplies these lines.\n"
      "z /sys/class/powercap/intel-rapl:*/energy_uj 0440 root %s -\n"
      "z /sys/class/powercap/intel-rapl:*:*/energy_uj 0440 root %s -\n",
      o->group, o->group, o->group, o->group);
  if (o->msr && n > 0 && (size_t)n < len) {
    snprintf(buf + n, len - (size_t)n,
             "# MSR devices (--msr): group read; the kernel also demands CAP_SYS_RAWIO.\n"
             "z /dev/cpu/*/msr 0640 root %s -\n",
             o->group);
  }
}

static void udev_text(const options *o, char *buf, size_t len) {
  int n = snprintf(
      buf, len,
      "# Written by `codegreen setup-permissions`: members of group %s may read the energy\n"
      "# counters whenever they (re)appear: the RAPL module loaded after boot, CPU hotplug.\n"
      "# Never world-readable (CVE-2020-8694).\n"
      "ACTION==\"add\", SUBSYSTEM==\"powercap\", KERNEL==\"intel-rapl:*\", "
      "RUN+=\"/bin/chgrp %s /sys%%p/energy_uj\", RUN+=\"/bin/chmod 0440 /sys%%p/energy_uj\"\n"
      "ACTION==\"add\", SUBSYSTEM==\"hwmon\", ATTR{name}==\"amd_energy|zenergy\", "
      "RUN+=\"/bin/sh -c '/bin/chgrp %s /sys%%p/energy*_input; "
      "/bin/chmod 0440 /sys%%p/energy*_input'\"\n",
      o->group, o->group, o->group);
  if (o->msr && n > 0 && (size_t)n < len) {
    snprintf(buf + n, len - (size_t)n,
             "# MSR devices (--msr): group read; the kernel also demands CAP_SYS_RAWIO.\n"
             "ACTION==\"add\", SUBSYSTEM==\"msr\", KERNEL==\"msr[0-9]*\", GROUP=\"%s\", "
             "MODE=\"0640\"\n",
             o->group);
  }
}

/* Runs a program (searched in PATH) and waits; returns its exit status, or -1 if it could not
 * run. No shell: arguments pass unchanged. */
static int run(char *const argv[]) {
  pid_t pid = fork();
  if (pid < 0) {
    return -1;
  }
  if (pid == 0) {
    execvp(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return -1;
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Gives every file matching @p pattern group @p gid and mode @p mode: what the rules do at boot,
 * done now so the user need not reboot. Returns how many files were changed. */
static int apply_glob(const char *pattern, gid_t gid, mode_t mode) {
  glob_t g;
  int changed = 0;
  if (glob(pattern, 0, NULL, &g) != 0) {
    return 0;
  }
  for (size_t i = 0; i < g.gl_pathc; i++) {
    if (chown(g.gl_pathv[i], 0, gid) == 0 && chmod(g.gl_pathv[i], mode) == 0) {
      changed++;
    } else {
      fprintf(stderr, "codegreen: cannot change %s: %s\n", g.gl_pathv[i], strerror(errno));
    }
  }
  globfree(&g);
  return changed;
}

static bool in_group(const char *user, const struct group *gr) {
  for (char **m = gr->gr_mem; m != NULL && *m != NULL; m++) {
    if (strcmp(*m, user) == 0) {
      return true;
    }
  }
  struct passwd *pw = getpwnam(user);
  return pw != NULL && pw->pw_gid == gr->gr_gid;
}

/* CAP_PERFMON (38) as the security.capability attribute of a file: revision 2 with the effective
 * bit, so the program starts with it; no inheritable bits, so commands that codegreen runs do not
 * get it. Little-endian, as the kernel stores it (struct vfs_cap_data). */
static int set_perfmon_capability(const char *exe) {
  unsigned char data[20];
  uint32_t words[5] = {0x02000000u | 0x1u, 0, 0, 1u << (38 - 32), 0};
  for (size_t w = 0; w < 5; w++) {
    for (size_t b = 0; b < 4; b++) {
      data[w * 4 + b] = (unsigned char)(words[w] >> (8 * b));
    }
  }
  return setxattr(exe, "security.capability", data, sizeof data, 0);
}

static int apply_perf(const options *o, gid_t gid) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    fprintf(stderr, "codegreen: cannot find this executable: %s\n", strerror(errno));
    return -1;
  }
  exe[n] = '\0';
  /* Group-only before the capability, so there is never a moment when anyone may run it with
   * the capability. chown clears file capabilities, so it comes first of all. */
  if (chown(exe, 0, gid) != 0 || chmod(exe, 0750) != 0) {
    fprintf(stderr, "codegreen: cannot restrict %s to group %s: %s\n", exe, o->group,
            strerror(errno));
    return -1;
  }
  if (set_perfmon_capability(exe) != 0) {
    fprintf(stderr,
            "codegreen: cannot give %s CAP_PERFMON: %s (Linux 5.8 or later and a file system "
            "with extended attributes are needed)\n",
            exe, strerror(errno));
    return -1;
  }
  printf("  %s: root:%s 0750, CAP_PERFMON (runnable by group %s only)\n", exe, o->group, o->group);
  return 0;
}

/* Creates the group and adds the user: the only steps that change accounts. */
static int apply_group(const options *o, gid_t *gid) {
  struct group *gr = getgrnam(o->group);
  if (gr == NULL) {
    char *argv[] = {"groupadd", "--system", (char *)o->group, NULL};
    if (run(argv) != 0 || (gr = getgrnam(o->group)) == NULL) {
      fprintf(stderr, "codegreen: cannot create group %s (groupadd failed)\n", o->group);
      return -1;
    }
    printf("  created group %s\n", o->group);
  } else {
    printf("  group %s exists\n", o->group);
  }
  *gid = gr->gr_gid;
  if (o->user == NULL) {
    printf("  no user added (run through sudo, or pass --user NAME)\n");
    return 0;
  }
  if (in_group(o->user, gr)) {
    printf("  %s is already in group %s\n", o->user, o->group);
    return 0;
  }
  char *argv[] = {"usermod", "-aG", (char *)o->group, (char *)o->user, NULL};
  if (run(argv) != 0) {
    fprintf(stderr, "codegreen: cannot add %s to group %s (usermod failed)\n", o->user, o->group);
    return -1;
  }
  printf("  added %s to group %s\n", o->user, o->group);
  return 0;
}

static int parse(int argc, char **argv, options *o) {
  static const struct option opts[] = {{"group", required_argument, NULL, 'g'},
                                       {"user", required_argument, NULL, 'u'},
                                       {"root", required_argument, NULL, 'r'},
                                       {"msr", no_argument, NULL, 'm'},
                                       {"perf", no_argument, NULL, 'p'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'g':
      o->group = optarg;
      break;
    case 'u':
      o->user = optarg;
      break;
    case 'r':
      o->root = optarg;
      break;
    case 'm':
      o->msr = true;
      break;
    case 'p':
      o->perf = true;
      break;
    case 'h':
      print_usage(stdout);
      return CG_EXIT_OK + 100; /* done, successfully */
    default:
      print_usage(stderr);
      return CG_EXIT_USAGE;
    }
  }
  if (!cg_no_operand(argc, argv, "setup-permissions", print_usage)) {
    return CG_EXIT_USAGE;
  }
  if (!valid_name(o->group)) {
    fprintf(stderr,
            "codegreen setup-permissions: '%s' is not a usable group name (lowercase letters, "
            "digits, '_' and '-', starting with a letter or '_', at most 32)\n",
            o->group);
    return CG_EXIT_USAGE;
  }
  if (o->user != NULL && !valid_name(o->user)) {
    fprintf(stderr, "codegreen setup-permissions: '%s' is not a usable user name\n", o->user);
    return CG_EXIT_USAGE;
  }
  if (o->root != NULL && o->root[0] != '/') {
    fprintf(stderr, "codegreen setup-permissions: --root needs an absolute path\n");
    return CG_EXIT_USAGE;
  }
  return 0;
}

int cg_cmd_setup_permissions(int argc, char **argv) {
  options o = {"codegreen", NULL, NULL, false, false};
  int rc = parse(argc, argv, &o);
  if (rc != 0) {
    return rc == CG_EXIT_OK + 100 ? CG_EXIT_OK : rc;
  }
  if (geteuid() != 0) {
    fprintf(stderr,
            "codegreen setup-permissions changes system files (a group, udev and tmpfiles "
            "rules) and must be run as root: `sudo codegreen setup-permissions`. Nothing was "
            "changed.\n");
    return CG_EXIT_FAIL;
  }
  if (o.user == NULL && o.root == NULL) {
    const char *sudo_user = getenv("SUDO_USER");
    if (sudo_user != NULL && valid_name(sudo_user) && strcmp(sudo_user, "root") != 0) {
      o.user = sudo_user;
    }
  }

  printf("codegreen setup-permissions: group %s%s\n", o.group,
         o.root ? " (--root: files only, nothing applied)" : "");
  gid_t gid = 0;
  if (o.root == NULL && apply_group(&o, &gid) != 0) {
    return CG_EXIT_FAIL;
  }
  char text[4096];
  tmpfiles_text(&o, text, sizeof text);
  if (write_file(&o, TMPFILES_CONF, text) != 0) {
    return CG_EXIT_FAIL;
  }
  udev_text(&o, text, sizeof text);
  if (write_file(&o, UDEV_RULES, text) != 0) {
    return CG_EXIT_FAIL;
  }
  if (o.msr && write_file(&o, MODULES_CONF,
                          "# Written by `codegreen setup-permissions --msr`: the MSR device "
                          "driver, loaded at boot.\nmsr\n") != 0) {
    return CG_EXIT_FAIL;
  }

  if (o.root != NULL) {
    if (o.perf) {
      printf("  would give this codegreen executable CAP_PERFMON, root:%s 0750 (not done "
             "under --root)\n",
             o.group);
    }
    printf("Nothing was applied (--root).\n");
    return CG_EXIT_OK;
  }

  /* Now, rather than at the next boot. */
  int n = apply_glob("/sys/class/powercap/intel-rapl:*/energy_uj", gid, 0440);
  n += apply_glob("/sys/class/powercap/intel-rapl:*:*/energy_uj", gid, 0440);
  printf("  %d powercap counter%s now readable by group %s\n", n, n == 1 ? "" : "s", o.group);
  char *reload[] = {"udevadm", "control", "--reload", NULL};
  if (run(reload) != 0) {
    printf("  (udevadm not found or failed: the udev rule takes effect at the next boot)\n");
  }
  char *trigger[] = {"udevadm", "trigger", "--action=add", "--subsystem-match=hwmon", NULL};
  run(trigger);
  if (o.msr) {
    char *modprobe[] = {"modprobe", "msr", NULL};
    if (run(modprobe) != 0) {
      printf("  (modprobe msr failed: /dev/cpu/*/msr may not exist on this kernel)\n");
    }
    n = apply_glob("/dev/cpu/*/msr", gid, 0640);
    printf("  %d MSR device%s now readable by group %s; each process also needs "
           "CAP_SYS_RAWIO (`sudo setcap cap_sys_rawio=ep PROGRAM`), a near-root privilege:\n"
           "  prefer the powercap counters\n",
           n, n == 1 ? "" : "s", o.group);
  }
  if (o.perf && apply_perf(&o, gid) != 0) {
    return CG_EXIT_FAIL;
  }
  printf("\nDone. %s%s must log out and in again (or run `newgrp %s`) for the new group to\n"
         "take effect; then `codegreen info` shows which counters it can read.\n",
         o.user ? "User " : "Members of the group", o.user ? o.user : "", o.group);
  return CG_EXIT_OK;
}
