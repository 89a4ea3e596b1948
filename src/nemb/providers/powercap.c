/*
 * powercap.c - Intel and AMD RAPL energy counters through the Linux powercap sysfs interface.
 *
 * The kernel's RAPL driver (intel_rapl_common with intel_rapl_msr underneath; AMD processors use
 * the same driver and the same "intel-rapl" control type) publishes one entry per RAPL zone in
 * /sys/class/powercap: "intel-rapl:N" for a zone and "intel-rapl:N:M" for a sub-zone of zone N.
 * What a zone measures is told by its `name` file alone. The index N is only the order in which
 * the driver registered the zone: on a laptop intel-rapl:1 is psys, not socket 1, and on some
 * servers intel-rapl:0 is package-1. So the socket always comes from the name "package-N".
 *
 * Containment, which decides what may be added into a total:
 *   package-N   a socket; contains its core (pp0) and uncore (pp1, graphics) sub-zones;
 *   dram        a physically separate counter (MSR 0x619, not inside the package), whether the
 *               kernel shows it as a sub-zone (Skylake-SP and later) or a zone (older Xeons);
 *   psys        the whole platform (client SoCs); it contains the packages, so adding it to them
 *               would count the same energy twice.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch_read.h"
#include "internal.h"
#include "provider.h"

#define CLASS_DIR "/sys/class/powercap"
#define ZONE_PREFIX "intel-rapl:"
#define ENTRY_MAX 64
#define KNAME_MAX 64

/* The kernel refreshes the RAPL energy status registers about once a millisecond. */

enum role { ROLE_PACKAGE, ROLE_NESTED, ROLE_DRAM, ROLE_PSYS, ROLE_UNKNOWN };

/* One powercap entry while the domain list is being built. */
typedef struct zone {
  char entry[ENTRY_MAX]; /* the entry under /sys/class/powercap, "intel-rapl:0:1" */
  char kname[KNAME_MAX]; /* the kernel's name for it, "core" */
  unsigned long idx;     /* N of intel-rapl:N[:M] */
  unsigned long sub;     /* M, for a sub-zone */
  bool is_sub;
  enum role role;
  unsigned long socket; /* for a package: N of "package-N" */
  /* Sort keys, a sub-zone's taken from its zone: the group (packages, zone-level DRAM, psys, the
   * rest), then the socket for a package or the zone index for the others, then the die. */
  int group;
  unsigned long key;
  unsigned long die;
  /* For a sub-zone: its zone's role and name, and (after sorting) its zone's position. */
  enum role parent_role;
  char parent_kname[KNAME_MAX];
  size_t parent;
  bool orphan; /* a sub-zone whose zone is missing: dropped */
} zone;

typedef struct powercap_state {
  size_t n;
  nemb__domain domains[NEMB__MAX_DOMAINS];
  int fds[NEMB__MAX_DOMAINS]; /* energy_uj of each domain, opened once */
  nemb__batch batch;          /* reads them all with one system call a tick (batch_read.h) */
  size_t n_unused;            /* zones found but left out (or used with a limitation) */
  nemb__unused unused[NEMB__MAX_UNUSED];
} powercap_state;

static void note_unused(powercap_state *st, const char *name, const char *reason, const char *fix) {
  if (st->n_unused >= NEMB__MAX_UNUSED) {
    return;
  }
  nemb__unused *u = &st->unused[st->n_unused++];
  /* Copied with a length: @p name may be a domain name inside *st itself. */
  size_t nl = strnlen(name, sizeof u->name - 1);
  memmove(u->name, name, nl);
  u->name[nl] = '\0';
  size_t rl = strnlen(reason, sizeof u->reason - 1);
  memcpy(u->reason, reason, rl);
  u->reason[rl] = '\0';
  size_t fl = strnlen(fix, sizeof u->fix - 1);
  memcpy(u->fix, fix, fl);
  u->fix[fl] = '\0';
}

/* Parses a run of decimal digits at *s, advancing *s past it; false when there is none. */
static bool take_number(const char **s, unsigned long *out) {
  if (!isdigit((unsigned char)**s)) {
    return false;
  }
  char *end;
  errno = 0;
  unsigned long v = strtoul(*s, &end, 10);
  if (errno == ERANGE) {
    return false;
  }
  *out = v;
  *s = end;
  return true;
}

/* "intel-rapl:N" or "intel-rapl:N:M", nothing else: this also turns away "intel-rapl" (the
 * control type itself) and "intel-rapl-mmio:N", a second interface to the very counter that
 * intel-rapl:N already reads, which would count each package twice. */
static bool parse_entry(const char *entry, zone *z) {
  size_t plen = strlen(ZONE_PREFIX);
  if (strncmp(entry, ZONE_PREFIX, plen) != 0 || strlen(entry) >= ENTRY_MAX) {
    return false;
  }
  const char *s = entry + plen;
  if (!take_number(&s, &z->idx)) {
    return false;
  }
  z->is_sub = false;
  if (*s == ':') {
    s++;
    if (!take_number(&s, &z->sub)) {
      return false;
    }
    z->is_sub = true;
  }
  if (*s != '\0') {
    return false;
  }
  snprintf(z->entry, sizeof z->entry, "%s", entry);
  return true;
}

/* "package-N" or, on multi-die parts, "package-N-die-D". */
static bool parse_package(const char *name, unsigned long *socket, unsigned long *die) {
  const char *s = name;
  if (strncmp(s, "package-", 8) != 0) {
    return false;
  }
  s += 8;
  if (!take_number(&s, socket)) {
    return false;
  }
  *die = 0;
  if (strncmp(s, "-die-", 5) == 0) {
    s += 5;
    if (!take_number(&s, die)) {
      return false;
    }
  }
  return *s == '\0';
}

/* "dram" or "dram-N" (the zone-level form of older Xeons). */
static bool is_dram_name(const char *name) {
  if (strcmp(name, "dram") == 0) {
    return true;
  }
  if (strncmp(name, "dram-", 5) != 0) {
    return false;
  }
  const char *s = name + 5;
  unsigned long n;
  return take_number(&s, &n) && *s == '\0';
}

static void classify(zone *z) {
  if (!z->is_sub) {
    if (parse_package(z->kname, &z->socket, &z->die)) {
      z->role = ROLE_PACKAGE;
    } else if (is_dram_name(z->kname)) {
      z->role = ROLE_DRAM;
    } else if (strcmp(z->kname, "psys") == 0) {
      z->role = ROLE_PSYS;
    } else {
      z->role = ROLE_UNKNOWN;
    }
    return;
  }
  if (strcmp(z->kname, "core") == 0 || strcmp(z->kname, "uncore") == 0) {
    z->role = ROLE_NESTED;
  } else if (strcmp(z->kname, "dram") == 0) {
    z->role = ROLE_DRAM;
  } else {
    z->role = ROLE_UNKNOWN;
  }
}

static int compare_ul(unsigned long a, unsigned long b) {
  return a < b ? -1 : a > b;
}

/* Packages by socket (and die), each followed by its sub-zones in the kernel's sub-zone order;
 * then zone-level DRAM, psys, and anything unknown, by zone index. readdir() order is arbitrary,
 * so this order is what makes the domain list the same from one run to the next. */
static int compare_zones(const void *pa, const void *pb) {
  const zone *a = pa;
  const zone *b = pb;
  if (a->group != b->group) {
    return a->group < b->group ? -1 : 1;
  }
  int c = compare_ul(a->key, b->key);
  if (c == 0) {
    c = compare_ul(a->die, b->die);
  }
  if (c == 0) {
    c = compare_ul(a->idx, b->idx);
  }
  if (c == 0 && a->is_sub != b->is_sub) {
    c = a->is_sub ? 1 : -1; /* the zone before its own sub-zones */
  }
  return c != 0 ? c : compare_ul(a->sub, b->sub);
}

static bool name_taken(const powercap_state *st, size_t upto, const char *name) {
  for (size_t i = 0; i < upto; i++) {
    if (strcmp(st->domains[i].name, name) == 0) {
      return true;
    }
  }
  return false;
}

/* Names domain @p i after its zone: the kernel's name, with the socket appended to sub-zones when
 * there are several packages ("dram-1"), and the zone index appended if it would still collide. */
static void assign_name(powercap_state *st, size_t i, const zone *z, size_t n_packages) {
  char base[NEMB__NAME_MAX];
  char *name = st->domains[i].name;
  if (z->is_sub && n_packages >= 2 && z->parent_role == ROLE_PACKAGE) {
    /* "package-0" gives "-0", "package-0-die-1" gives "-0-die-1". */
    snprintf(base, sizeof base, "%.16s-%.14s", z->kname, z->parent_kname + 8);
  } else {
    snprintf(base, sizeof base, "%.31s", z->kname);
  }
  snprintf(name, NEMB__NAME_MAX, "%s", base);
  if (!name_taken(st, i, name)) {
    return;
  }
  if (z->is_sub) {
    snprintf(name, NEMB__NAME_MAX, "%.16s-%lu-%lu", base, z->idx, z->sub);
  } else {
    snprintf(name, NEMB__NAME_MAX, "%.16s-%lu", base, z->idx);
  }
  for (unsigned k = 2; name_taken(st, i, name) && k < 1000; k++) {
    snprintf(name, NEMB__NAME_MAX, "%.16s-%lu-%u", base, z->idx, k);
  }
}

/* The counters exist but the kernel keeps them from this user. */
static int deny(char *why, size_t len, const char *path, const char *file) {
  nemb__say(
      why, len,
      "The RAPL energy counters exist but this user cannot read them: %s: permission denied. "
      "Since Linux 5.10 they are readable by root only, because of CVE-2020-8694 (PLATYPUS, a "
      "power side channel that leaks data from other processes), so do not make them "
      "world-readable. Give one group read access instead: "
      "`sudo groupadd -f codegreen && sudo usermod -aG codegreen $USER`, put the lines "
      "`z /sys/class/powercap/intel-rapl:*/%s 0440 root codegreen -` and "
      "`z /sys/class/powercap/intel-rapl:*:*/%s 0440 root codegreen -` in "
      "/etc/tmpfiles.d/codegreen.conf, apply them with `sudo systemd-tmpfiles --create` (sysfs "
      "permissions reset at boot; the rule reapplies them), then log in again. Or run as root.",
      path, file, file);
  return NEMB_EACCES;
}

static bool is_denied(int rc) {
  return rc == -EACCES || rc == -EPERM;
}

/* Reads an unsigned number from one file of a zone. Returns 0, NEMB_EACCES, NEMB_EPARSE or
 * another negative code, with @p why filled on failure. */
static int read_zone_u64(const zone *z, const char *file, uint64_t *out, char *why, size_t len) {
  char path[4096];
  char text[64];
  int rc = nemb__path(path, sizeof path, CLASS_DIR "/%s/%s", z->entry, file);
  if (rc == 0) {
    rc = nemb__read_text(path, text, sizeof text);
  }
  if (is_denied(rc)) {
    return deny(why, len, path, file);
  }
  if (rc != 0) {
    nemb__say(why, len, "cannot read %s: %s", path, strerror(-rc));
    return nemb__from_errno(-rc);
  }
  if (nemb__parse_u64(text, out) != 0) {
    nemb__say(why, len,
              "%s holds \"%.32s\", not a count of microjoules; the RAPL zone %s (%s) cannot "
              "be used",
              path, text, z->entry, z->kname);
    return NEMB_EPARSE;
  }
  return 0;
}

/* Opens energy_uj of a zone, keeps the descriptor and checks that it reads. */
static int open_counter(const zone *z, int *fd_out, char *why, size_t len) {
  char path[4096];
  int rc = nemb__path(path, sizeof path, CLASS_DIR "/%s/energy_uj", z->entry);
  if (rc != 0) {
    nemb__say(why, len, "the path of %s/energy_uj under CODEGREEN_SYSFS_ROOT is too long",
              z->entry);
    return rc;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == EACCES || e == EPERM) {
      return deny(why, len, path, "energy_uj");
    }
    nemb__say(why, len, "cannot open %s: %s", path, strerror(e));
    return nemb__from_errno(e);
  }
  /* A file can open and still refuse reads (security modules, lockdown): try one now, so the
   * sampler never meets a counter that cannot be read. */
  uint64_t v;
  rc = nemb__pread_u64(fd, &v);
  if (rc != 0) {
    close(fd);
    if (is_denied(rc)) {
      return deny(why, len, path, "energy_uj");
    }
    if (rc == NEMB_EPARSE) {
      nemb__say(why, len, "%s does not hold a count of microjoules", path);
      return rc;
    }
    nemb__say(why, len, "cannot read %s: %s", path, strerror(-rc));
    return nemb__from_errno(-rc);
  }
  *fd_out = fd;
  return 0;
}

/* Lists the RAPL entries of /sys/class/powercap with their names, into a new array. */
static int list_zones(zone **out, size_t *n_out, char *why, size_t len) {
  char dir_path[4096];
  char path[4096];
  int rc = nemb__path(dir_path, sizeof dir_path, CLASS_DIR);
  if (rc != 0) {
    nemb__say(why, len, "the path of " CLASS_DIR " under CODEGREEN_SYSFS_ROOT is too long");
    return rc;
  }
  DIR *dir = opendir(dir_path);
  if (dir == NULL) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) {
      nemb__say(why, len,
                "no RAPL zones under %s: the kernel exposes none (intel_rapl_msr/intel_rapl_common "
                "not loaded, an unsupported CPU, or a virtual machine, which hides RAPL). On a "
                "physical Intel or AMD machine, try `sudo modprobe intel_rapl_msr`.",
                dir_path);
      return NEMB_ENOTSUP;
    }
    nemb__say(why, len, "cannot list %s: %s", dir_path, strerror(e));
    return nemb__from_errno(e);
  }
  zone *zones = NULL;
  size_t n = 0;
  size_t cap = 0;
  int err = 0;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    zone z;
    memset(&z, 0, sizeof z);
    if (!parse_entry(de->d_name, &z)) {
      continue;
    }
    rc = nemb__path(path, sizeof path, CLASS_DIR "/%s/name", z.entry);
    if (rc == 0) {
      rc = nemb__read_text(path, z.kname, sizeof z.kname);
    }
    if (is_denied(rc)) {
      err = deny(why, len, path, "name");
      break;
    }
    if (rc != 0) {
      nemb__log(NEMB_LOG_WARN, "powercap: skipping %s: cannot read %s: %s", z.entry, path,
                strerror(-rc));
      continue;
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      zone *grown = realloc(zones, ncap * sizeof *zones);
      if (grown == NULL) {
        nemb__say(why, len, "out of memory while listing %s", dir_path);
        err = NEMB_ENOMEM;
        break;
      }
      zones = grown;
      cap = ncap;
    }
    zones[n++] = z;
  }
  closedir(dir);
  if (err == 0 && n == 0) {
    nemb__say(why, len,
              "no RAPL zones under %s: the directory exists but holds no intel-rapl:N zone (the "
              "RAPL driver intel_rapl_msr is not loaded, the CPU is not supported, or this is a "
              "virtual machine, which hides RAPL). On a physical Intel or AMD machine, try "
              "`sudo modprobe intel_rapl_msr`.",
              dir_path);
    err = NEMB_ENOTSUP;
  }
  if (err != 0) {
    free(zones);
    return err;
  }
  *out = zones;
  *n_out = n;
  return 0;
}

/* Classifies the zones, gives each sub-zone its zone's sort keys, sorts, and records each
 * sub-zone's zone position. Sub-zones without a zone (never seen from a real kernel) are dropped.
 * Returns the number of zones kept. */
static size_t order_zones(zone *zones, size_t n) {
  for (size_t i = 0; i < n; i++) {
    zone *z = &zones[i];
    classify(z);
    static const int group_of[] = {[ROLE_PACKAGE] = 0,
                                   [ROLE_DRAM] = 1,
                                   [ROLE_PSYS] = 2,
                                   [ROLE_NESTED] = 3,
                                   [ROLE_UNKNOWN] = 3};
    z->group = group_of[z->role];
    z->key = z->role == ROLE_PACKAGE ? z->socket : z->idx;
    z->die = z->role == ROLE_PACKAGE ? z->die : 0;
  }
  /* First give every sub-zone its zone's keys, while the array is still whole... */
  for (size_t i = 0; i < n; i++) {
    zone *z = &zones[i];
    if (!z->is_sub) {
      continue;
    }
    const zone *top = NULL;
    for (size_t j = 0; j < n && top == NULL; j++) {
      if (!zones[j].is_sub && zones[j].idx == z->idx) {
        top = &zones[j];
      }
    }
    if (top == NULL) {
      nemb__log(NEMB_LOG_WARN, "powercap: skipping %s: its zone " ZONE_PREFIX "%lu is missing",
                z->entry, z->idx);
      z->orphan = true;
      continue;
    }
    z->group = top->group;
    z->key = top->key;
    z->die = top->die;
    z->parent_role = top->role;
    snprintf(z->parent_kname, sizeof z->parent_kname, "%s", top->kname);
  }
  /* ...then drop the orphans. */
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    if (!zones[i].orphan) {
      zones[kept++] = zones[i];
    }
  }
  qsort(zones, kept, sizeof *zones, compare_zones);
  for (size_t i = 0; i < kept; i++) {
    for (size_t j = 0; j < i; j++) {
      if (zones[i].is_sub && !zones[j].is_sub && zones[j].idx == zones[i].idx) {
        zones[i].parent = j;
      }
    }
  }
  return kept;
}

/* One physical counter, counted once. Multi-die AMD parts (and some kernels on others) expose
 * "package-N-die-D" zones that all show the one socket counter: added up, the socket would
 * count once per die. Dies with counters of their own (Intel Cascade Lake-AP) read different
 * values. So the dies of a socket whose energy_uj all read the same value at the same moment are
 * one counter: the first die is kept, named "package-N", and the others (with their sub-zones)
 * are dropped. Returns the number of zones kept (the array stays sorted). */
static size_t merge_shared_dies(zone *zones, size_t n) {
  for (size_t i = 0; i < n; i++) {
    zone *a = &zones[i];
    if (a->is_sub || a->role != ROLE_PACKAGE || strstr(a->kname, "-die-") == NULL) {
      continue;
    }
    char path[4096], text[64];
    uint64_t va, vb;
    if (nemb__path(path, sizeof path, CLASS_DIR "/%s/energy_uj", a->entry) != 0 ||
        nemb__read_text(path, text, sizeof text) != 0 || nemb__parse_u64(text, &va) != 0) {
      continue;
    }
    bool shared = false, other = false;
    for (size_t j = i + 1; j < n; j++) {
      zone *b = &zones[j];
      if (b->is_sub || b->role != ROLE_PACKAGE || b->socket != a->socket) {
        continue;
      }
      other = true;
      if (nemb__path(path, sizeof path, CLASS_DIR "/%s/energy_uj", b->entry) != 0 ||
          nemb__read_text(path, text, sizeof text) != 0 || nemb__parse_u64(text, &vb) != 0 ||
          vb != va) {
        shared = false;
        break;
      }
      shared = true;
    }
    if (!other || !shared) {
      continue;
    }
    /* Drop the socket's other dies and their sub-zones. */
    size_t kept = 0;
    unsigned long socket = a->socket;
    size_t a_idx = a->idx;
    for (size_t j = 0; j < n; j++) {
      zone *z = &zones[j];
      bool other_die =
          !z->is_sub && z->role == ROLE_PACKAGE && z->socket == socket && z->idx != a_idx;
      bool under_other = false;
      for (size_t k = 0; k < n && z->is_sub; k++) {
        under_other = under_other || (!zones[k].is_sub && zones[k].idx == z->idx &&
                                      zones[k].role == ROLE_PACKAGE && zones[k].socket == socket &&
                                      zones[k].idx != a_idx);
      }
      if (other_die || under_other) {
        nemb__log(NEMB_LOG_INFO,
                  "powercap: %s (%s) shows the same counter as another die of "
                  "socket %lu: counted once",
                  z->entry, z->kname, socket);
        continue;
      }
      zones[kept++] = *z;
    }
    n = kept;
    for (size_t j = 0; j < n; j++) {
      if (!zones[j].is_sub && zones[j].idx == a_idx) {
        snprintf(zones[j].kname, sizeof zones[j].kname, "package-%lu", socket);
      }
      if (zones[j].is_sub && zones[j].idx == a_idx) {
        snprintf(zones[j].parent_kname, sizeof zones[j].parent_kname, "package-%lu", socket);
      }
    }
    /* Re-derive sub-zone positions after the removal. */
    for (size_t j = 0; j < n; j++) {
      for (size_t k = 0; k < j; k++) {
        if (zones[j].is_sub && !zones[k].is_sub && zones[k].idx == zones[j].idx) {
          zones[j].parent = k;
        }
      }
    }
  }
  return n;
}

/* Builds the domains from the sorted zones. Returns 0 or a negative code with @p why filled. */
static int build_domains(powercap_state *st, zone *zones, size_t n, char *why, size_t len) {
  size_t n_packages = 0;
  for (size_t i = 0; i < n; i++) {
    n_packages += !zones[i].is_sub && zones[i].role == ROLE_PACKAGE;
  }
  if (n > NEMB__MAX_DOMAINS) {
    nemb__log(NEMB_LOG_WARN, "powercap: %zu RAPL zones, only the first %d are used", n,
              NEMB__MAX_DOMAINS);
    n = NEMB__MAX_DOMAINS;
  }
  /* Each zone stands on its own: one that cannot be opened is left out (and listed with its
   * reason by `codegreen info`), the others are used. Only when none can be used does the
   * provider fail, with the first zone's reason. */
  int first_rc = 0;
  char first_why[1024] = "";
  size_t *pos = calloc(n ? n : 1, sizeof *pos); /* zone index -> domain index, or SIZE_MAX */
  if (pos == NULL) {
    nemb__say(why, len, "out of memory");
    return NEMB_ENOMEM;
  }
  for (size_t zi = 0; zi < n; zi++) {
    const zone *z = &zones[zi];
    size_t i = st->n;
    pos[zi] = SIZE_MAX;
    if (z->is_sub && pos[z->parent] == SIZE_MAX) {
      note_unused(st, z->kname, "its zone could not be used", "");
      continue;
    }
    int orc = open_counter(z, &st->fds[i], why, len);
    for (int attempt = 1; orc != 0 && orc != NEMB_EACCES && attempt < 3; attempt++) {
      /* A counter that fails once while probing (a transient EIO, EAGAIN) gets two more tries. */
      struct timespec pause = {0, 2000000};
      nanosleep(&pause, NULL);
      orc = open_counter(z, &st->fds[i], why, len);
    }
    if (orc != 0) {
      if (first_rc == 0) {
        first_rc = orc;
        snprintf(first_why, sizeof first_why, "%s", why); /* the provider's reason if all fail */
      }
      char reason[256];
      snprintf(reason, sizeof reason, "%s: energy_uj cannot be read (%s)", z->entry,
               nemb_strerror(orc));
      note_unused(st, z->kname, reason,
                  orc == NEMB_EACCES ? "sudo codegreen setup-permissions"
                                     : "check the kernel log (dmesg) for the RAPL driver");
      continue;
    }
    nemb__domain *d = &st->domains[i];
    pos[zi] = i;
    assign_name(st, i, z, n_packages);
    switch (z->role) {
    case ROLE_PACKAGE:
      d->kind = NEMB__KIND_PACKAGE;
      d->top_level = true;
      d->in_total = true;
      break;
    case ROLE_DRAM:
      d->kind = NEMB__KIND_DRAM;
      d->top_level = true;
      d->in_total = true;
      break;
    case ROLE_PSYS:
      d->kind = NEMB__KIND_PLATFORM;
      d->top_level = true;
      d->in_total = false;
      break;
    case ROLE_NESTED:
      d->kind = NEMB__KIND_NESTED;
      break;
    case ROLE_UNKNOWN:
      d->kind = NEMB__KIND_NESTED;
      nemb__log(NEMB_LOG_INFO,
                "powercap: %s is named \"%s\", which codegreen does not know; it is reported "
                "as domain %s but not added into totals",
                z->entry, z->kname, d->name);
      break;
    }
    st->n = i + 1;
    /* A package contains every sub-zone the kernel puts under it except DRAM, which is a
     * separate counter. */
    if (z->is_sub && z->role != ROLE_DRAM && z->parent_role == ROLE_PACKAGE) {
      nemb__domain *pkg = &st->domains[pos[z->parent]];
      if (!nemb__domain_add_include(pkg, d->name)) {
        nemb__log(NEMB_LOG_INFO, "powercap: too many nested domains to list under %s", pkg->name);
      }
    }
    char rwhy[512];
    int rc = read_zone_u64(z, "max_energy_range_uj", &d->range_uj, rwhy, sizeof rwhy);
    if (rc != 0) {
      /* Still measurable: without the range a backward step cannot be told from a wrap by the
       * range, so it is judged by time and power alone and taken as a reset (unwrap.h). */
      d->range_uj = 0;
      note_unused(st, d->name, rwhy,
                  "measured anyway; a counter wrap will be taken as a reset (reload the RAPL "
                  "driver: sudo modprobe -r intel_rapl_msr && sudo modprobe intel_rapl_msr)");
    }
    char text[64];
    char path[4096];
    uint64_t mw;
    /* Absent on core/uncore, and unreadable (ENODATA) on some kernels: 0 means unknown. */
    if (nemb__path(path, sizeof path, CLASS_DIR "/%s/constraint_0_max_power_uw", z->entry) == 0 &&
        nemb__read_text(path, text, sizeof text) == 0 && nemb__parse_u64(text, &mw) == 0) {
      d->max_power_uw = mw;
    }
  }
  /* psys is the whole platform: it holds every package and what the packages hold. Packages go
   * first so that they are the ones listed if the list fills up. */
  for (size_t zi = 0; zi < n; zi++) {
    if (zones[zi].role != ROLE_PSYS || zones[zi].is_sub || pos[zi] == SIZE_MAX) {
      continue;
    }
    size_t i = pos[zi];
    for (int pass = 0; pass < 2; pass++) {
      for (size_t zj = 0; zj < n; zj++) {
        const zone *z = &zones[zj];
        /* psys is the whole SoC and platform: the packages, what they hold, and DRAM. */
        bool want = pass == 0 ? (!z->is_sub && (z->role == ROLE_PACKAGE || z->role == ROLE_DRAM))
                              : (z->is_sub && z->parent_role == ROLE_PACKAGE);
        if (want && pos[zj] != SIZE_MAX &&
            !nemb__domain_add_include(&st->domains[i], st->domains[pos[zj]].name)) {
          nemb__log(NEMB_LOG_INFO, "powercap: too many domains to list under %s",
                    st->domains[i].name);
        }
      }
    }
  }
  free(pos);
  if (st->n == 0) {
    snprintf(why, len, "%s", first_why);
    return first_rc ? first_rc : NEMB_ENOTSUP;
  }
  why[0] = '\0';
  return 0;
}

static void powercap_close(void *state) {
  powercap_state *st = state;
  if (st == NULL) {
    return;
  }
  nemb__batch_release(&st->batch);
  for (size_t i = 0; i < NEMB__MAX_DOMAINS; i++) {
    if (st->fds[i] >= 0) {
      close(st->fds[i]);
    }
  }
  free(st);
}

static int powercap_open(const nemb__provider_env *env, void **state, char *why, size_t why_len) {
  *state = NULL;
  int enabled = 1;
  if (env != NULL && env->cfg != NULL &&
      nemb_config_get_bool(env->cfg, "providers.powercap.enabled", &enabled) == 0 && !enabled) {
    nemb__say(why, why_len, "disabled by providers.powercap.enabled in the configuration");
    return NEMB_ENOTSUP;
  }
  zone *zones = NULL;
  size_t n = 0;
  int rc = list_zones(&zones, &n, why, why_len);
  if (rc != 0) {
    return rc;
  }
  n = order_zones(zones, n);
  n = merge_shared_dies(zones, n);
  powercap_state *st = calloc(1, sizeof *st);
  if (st == NULL) {
    free(zones);
    nemb__say(why, why_len, "out of memory");
    return NEMB_ENOMEM;
  }
  for (size_t i = 0; i < NEMB__MAX_DOMAINS; i++) {
    st->fds[i] = -1;
  }
  rc = build_domains(st, zones, n, why, why_len);
  free(zones);
  if (rc != 0) {
    powercap_close(st);
    return rc;
  }
  nemb__batch_init(&st->batch, st->fds, st->n);
  *state = st;
  return 0;
}

static size_t powercap_domains(void *state, const nemb__domain **out) {
  const powercap_state *st = state;
  *out = st->domains;
  return st->n;
}

static int powercap_read(void *state, uint64_t t_ns, uint64_t *raw_uj) {
  (void)t_ns;
  powercap_state *st = state;
  int rc[NEMB__MAX_DOMAINS];
  size_t ok = nemb__batch_read_u64(&st->batch, raw_uj, rc);
  int first_rc = 0;
  for (size_t i = 0; i < st->n; i++) {
    if (rc[i] != 0) {
      raw_uj[i] = NEMB__RAW_INVALID; /* this zone only: the others' values stand */
      first_rc = first_rc ? first_rc : rc[i] == NEMB_EPARSE ? rc[i] : nemb__from_errno(-rc[i]);
    }
  }
  return ok > 0 || st->n == 0 ? 0 : first_rc;
}

static size_t powercap_unused(void *state, const nemb__unused **out) {
  const powercap_state *st = state;
  *out = st->unused;
  return st->n_unused;
}

static uint64_t powercap_update_interval_ns(void *state) {
  (void)state;
  return NEMB__RAPL_UPDATE_NS;
}

const struct nemb__provider_ops nemb__provider_powercap = {
    .name = "powercap",
    .permission_fix = "sudo codegreen setup-permissions",
    .hidden_in_vm = true,
    .measured = true,
    .open = powercap_open,
    .domains = powercap_domains,
    .read = powercap_read,
    .update_interval_ns = powercap_update_interval_ns,
    .unused = powercap_unused,
    .close = powercap_close,
};
