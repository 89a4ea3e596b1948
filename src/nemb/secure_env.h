/*
 * secure_env.h - environment variables that load code or redirect what codegreen reads, and
 * the rule that a privileged process ignores them.
 *
 * `codegreen setup-permissions --perf` gives the executable CAP_PERFMON; a set-user-ID install
 * would give more. Such a process is started by people who do not hold the privilege, and must
 * not let them choose the library it dlopen()s (CODEGREEN_NVML_LIB), the tree it reads as /sys
 * and /dev (CODEGREEN_SYSFS_ROOT) or the file it takes as configuration (CODEGREEN_CONFIG), nor
 * (for `measure`) the runtime or library the program loads (CODEGREEN_PYTHON_DIR,
 * CODEGREEN_LIB_PATH). A process is privileged when the kernel says so: getauxval(AT_SECURE) is
 * non-zero (set-user/group-ID, file capabilities, or an LSM transition), which is also when
 * glibc's secure_getenv() returns NULL and the dynamic loader ignores LD_LIBRARY_PATH.
 *
 * The library and the codegreen executable both compile this file. Thread-safe except
 * nemb__env_force_privileged() (tests only, before any thread starts).
 */
#ifndef NEMB_SECURE_ENV_H
#define NEMB_SECURE_ENV_H

#include <stddef.h>

/* The gated variables, NULL-terminated, for `codegreen info`. */
extern const char *const nemb__gated_env[];

/* @return non-zero when this process is privileged (AT_SECURE, or the test override). */
int nemb__env_privileged(void);

/* The value of the gated variable @p name: getenv() normally, NULL in a privileged process. */
const char *nemb__env_get(const char *name);

/* Tests: @p v 1 or 0 decides nemb__env_privileged() as AT_SECURE would; -1 goes back to the
 * kernel's answer. */
void nemb__env_force_privileged(int v);

#endif /* NEMB_SECURE_ENV_H */
