// SPDX-License-Identifier: MIT
/*
 * Landlock for a worker, applied after it dropped privileges and before it loads the
 * function, so the .so's constructors and init hook already run inside it: reading is
 * limited to the function's .so file and the system library directories dlopen needs
 * (libc-dependent handlers pull in libc, libm, ...), writing, creating, removing, executing
 * and truncating are refused everywhere, TCP bind always and TCP connect unless the function
 * opted into the net group (ABI 4), and signals and abstract UNIX sockets cannot leave the
 * worker's own domain (ABI 6: no killing the supervisor, the gateway or a sibling worker).
 *
 * Only the .so file, not its directory: functions/ is shared by every function and holds all
 * their manifests, whose env may carry one function's secrets.
 *
 * Debian 12's headers describe ABI 2; the later structure fields and flags are spelled out
 * here, and each is used only when the running kernel's ABI has it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "runtime.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2

/* Filesystem rights, by the ABI that introduced them. */
#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_ABI1 ((1ull << 13) - 1) /* EXECUTE .. MAKE_SYM */
#define LL_FS_REFER (1ull << 13)      /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14)   /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ull << 15)  /* ABI 5 */
#define LL_NET_BIND_TCP (1ull << 0)   /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ull << 1)

/* struct landlock_ruleset_attr as of ABI 6; the kernel is told how much of it we fill. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

/* Read-only places every worker needs: the dynamic loader's search path and its cache. */
static const char *const system_paths[] = {
	"/lib",
	"/lib64",
	"/usr/lib",
	"/usr/lib64",
	"/usr/local/lib",
	"/etc/ld.so.cache",
};

int fng__landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);

	if (abi < 0) {
		/* ENOSYS: not built in; EOPNOTSUPP: built in but not enabled at boot. */
		return errno == ENOSYS || errno == EOPNOTSUPP ? 0 : -errno;
	}
	return (int)abi;
}

/* Allows reading path (a directory, or one file). Missing paths are skipped. */
static int allow_read(int ruleset, const char *path, uint64_t handled)
{
	struct ll_path_beneath_attr rule = { 0 };
	int fd = open(path, O_PATH | O_CLOEXEC);
	struct stat st;
	int rc = 0;

	if (fd < 0) {
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	}
	rule.parent_fd = fd;
	rule.allowed_access = LL_FS_READ_FILE | LL_FS_READ_DIR;
	/* A rule on a file may only carry file rights. */
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) {
		rule.allowed_access = LL_FS_READ_FILE;
	}
	rule.allowed_access &= handled;
	if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &rule, 0) < 0) {
		rc = -errno;
	}
	close(fd);
	return rc;
}

int fng__landlock_apply(const char *so_path, bool net)
{
	struct ll_ruleset_attr attr = { 0 };
	size_t attr_size;
	int abi = fng__landlock_abi();
	int ruleset, rc = 0;
	Dl_info info;

	if (abi <= 0) {
		return abi;
	}
	attr.handled_access_fs = LL_FS_ABI1;
	if (abi >= 2) {
		attr.handled_access_fs |= LL_FS_REFER;
	}
	if (abi >= 3) {
		attr.handled_access_fs |= LL_FS_TRUNCATE;
	}
	if (abi >= 5) {
		attr.handled_access_fs |= LL_FS_IOCTL_DEV;
	}
	attr_size = sizeof(attr.handled_access_fs);
	if (abi >= 4) {
		/* Handled with no rule: refused. The net group may connect out, never listen. */
		attr.handled_access_net = LL_NET_BIND_TCP | (net ? 0 : LL_NET_CONNECT_TCP);
		attr_size = offsetof(struct ll_ruleset_attr, scoped);
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (ruleset < 0) {
		return -errno;
	}
	for (size_t i = 0; i < sizeof(system_paths) / sizeof(system_paths[0]) && !rc; i++) {
		rc = allow_read(ruleset, system_paths[i], attr.handled_access_fs);
	}
	if (!rc) {
		rc = allow_read(ruleset, so_path, attr.handled_access_fs);
	}
	/*
	 * libfngate, when it is a shared library outside the system directories (a build tree):
	 * a handler's DT_NEEDED on it normally matches the copy already loaded, but the loader
	 * may still look at the file.
	 */
	if (!rc && dladdr((void *)fng_log, &info) && info.dli_fname &&
		info.dli_fname[0] == '/' && strstr(info.dli_fname, ".so")) {
		rc = allow_read(ruleset, info.dli_fname, attr.handled_access_fs);
	}
	if (!rc && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
		rc = -errno;
	}
	close(ruleset);
	return rc ? rc : abi;
}
