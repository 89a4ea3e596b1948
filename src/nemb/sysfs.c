/*
 * sysfs.c - reading the small text files of /sys, /proc and /dev, under the CODEGREEN_SYSFS_ROOT
 * prefix that lets tests substitute a fixture tree for the real machine.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "secure_env.h"

const char *nemb__sysfs_root(void) {
  const char *root = nemb__env_get("CODEGREEN_SYSFS_ROOT"); /* ignored when privileged */
  return root ? root : "";
}

int nemb__path(char *buf, size_t len, const char *fmt, ...) {
  const char *root = nemb__sysfs_root();
  size_t rlen = strlen(root);
  while (rlen > 0 && root[rlen - 1] == '/') {
    rlen--; /* "/tmp/fx/" and "/tmp/fx" mean the same tree */
  }
  if (rlen >= len) {
    return -ENAMETOOLONG;
  }
  memcpy(buf, root, rlen);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + rlen, len - rlen, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= len - rlen) {
    return -ENAMETOOLONG;
  }
  return 0;
}

int nemb__read_text(const char *path, char *buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return -errno;
  }
  size_t got = 0;
  while (got + 1 < len) {
    ssize_t n = read(fd, buf + got, len - 1 - got);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int e = errno;
      close(fd);
      return -e;
    }
    if (n == 0) {
      break;
    }
    got += (size_t)n;
  }
  close(fd);
  buf[got] = '\0';
  while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r' || buf[got - 1] == ' ')) {
    buf[--got] = '\0';
  }
  return 0;
}

int nemb__parse_u64(const char *text, uint64_t *out) {
  /* By hand rather than strtoull: this parses every counter every tick, and strtoull's locale and
   * sign handling cost more than the digits (it would also accept "-1" and wrap it). */
  while (isspace((unsigned char)*text)) {
    text++;
  }
  if (*text < '0' || *text > '9') {
    return NEMB_EPARSE;
  }
  uint64_t v = 0;
  for (; *text >= '0' && *text <= '9'; text++) {
    unsigned d = (unsigned)(*text - '0');
    if (v > (UINT64_MAX - d) / 10) {
      return NEMB_EPARSE; /* past 2^64 - 1 */
    }
    v = v * 10 + d;
  }
  while (isspace((unsigned char)*text)) {
    text++;
  }
  if (*text != '\0') {
    return NEMB_EPARSE;
  }
  *out = v;
  return 0;
}

long nemb__pread_text(int fd, char *buf, size_t len) {
  ssize_t n;
  do {
    n = pread(fd, buf, len - 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return -errno;
  }
  buf[n] = '\0';
  return (long)n;
}

int nemb__pread_u64(int fd, uint64_t *out) {
  char buf[32];
  long n = nemb__pread_text(fd, buf, sizeof buf);
  if (n <= 0) {
    return n < 0 ? (int)n : NEMB_EPARSE;
  }
  return nemb__parse_u64(buf, out);
}

/* The DMI strings that name a hypervisor, and the name to show for each. */
static const struct {
  const char *needle;
  const char *name;
} vm_vendors[] = {
    {"KVM", "KVM"},
    {"QEMU", "QEMU"},
    {"VMware", "VMware"},
    {"VirtualBox", "VirtualBox"},
    {"Xen", "Xen"},
    {"Microsoft Corporation", "Hyper-V"},
    {"Amazon EC2", "Amazon EC2"},
    {"Google", "Google Compute Engine"},
    {"Parallels", "Parallels"},
    {"Bochs", "Bochs"},
    {"OpenStack", "OpenStack"},
};

bool nemb__detect_vm(char *name, size_t len) {
  char path[4096];
  char text[256];
  static const char *const dmi_files[] = {"sys_vendor", "product_name", "bios_vendor"};
  for (size_t f = 0; f < NEMB__ARRAY_LEN(dmi_files); f++) {
    if (nemb__path(path, sizeof path, "/sys/class/dmi/id/%s", dmi_files[f]) != 0 ||
        nemb__read_text(path, text, sizeof text) != 0) {
      continue;
    }
    for (size_t i = 0; i < NEMB__ARRAY_LEN(vm_vendors); i++) {
      if (strstr(text, vm_vendors[i].needle) != NULL) {
        snprintf(name, len, "%s", vm_vendors[i].name);
        return true;
      }
    }
  }
  /* The CPU's "hypervisor" flag is set by every mainstream hypervisor (CPUID leaf 1, ECX
   * bit 31). */
  if (nemb__path(path, sizeof path, "/proc/cpuinfo") != 0) {
    return false;
  }
  FILE *fp = fopen(path, "re");
  if (fp == NULL) {
    return false;
  }
  char line[8192];
  bool vm = false;
  while (fgets(line, sizeof line, fp) != NULL) {
    if (strncmp(line, "flags", 5) == 0) {
      vm = strstr(line, " hypervisor") != NULL;
      break;
    }
  }
  fclose(fp);
  if (vm) {
    snprintf(name, len, "unknown hypervisor");
  }
  return vm;
}
