// SPDX-License-Identifier: MIT
/*
 * Per-worker cgroups, made by the supervisor: a memory cgroup holding the worker to
 * memory_mb (so running out of memory is an OOM kill of that worker alone, not a failed
 * malloc somewhere in the runtime) and a pids cgroup holding it to one task. The supervisor
 * nests them under its own cgroup — "<own>/fngate-<supervisor pid>/<worker pid>" — so a
 * delegated or accounted parent keeps counting them and two gateways never share a directory;
 * it creates a worker's directories right after fork, before the worker goes on, and removes
 * them once the worker is reaped (after reading whether it was OOM-killed).
 *
 * cgroup v2 is used when /sys/fs/cgroup is the unified hierarchy with the memory controller;
 * otherwise v1 (/sys/fs/cgroup/memory and /sys/fs/cgroup/pids: this machine kind is v1
 * hybrid); otherwise none, and the worker relies on its rlimits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define CG_ROOT "/sys/fs/cgroup"

/* The directories workers go in: this supervisor's, or "" when the controller is not used. */
struct cg_state {
	enum fng_cg_mode mode;
	char mem[PATH_MAX];   /* v1 memory or v2 unified: ".../fngate-<supervisor pid>" */
	char pids[PATH_MAX];  /* v1 pids; v2 uses mem for both */
	bool memsw;           /* v1 memory.memsw.* exists (swap accounting) */
	char desc[PATH_MAX + 64];
};

static struct cg_state cg;

static int write_file(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX];
	size_t len = strlen(text);
	int fd, rc = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
		return -ENAMETOOLONG;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	ssize_t n = write(fd, text, len);

	if (n != (ssize_t)len) {
		rc = n < 0 ? -errno : -EIO;
	}
	close(fd);
	return rc;
}

/* Reads dir/file into buf (NUL-terminated). Bytes read, or -errno. */
static ssize_t read_file(const char *dir, const char *file, char *buf, size_t size)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	n = read(fd, buf, size - 1);
	if (n < 0) {
		n = -errno;
	} else {
		buf[n] = '\0';
	}
	close(fd);
	return n;
}

/* The value after "key " in a "key value\n" file such as memory.events; -1 if absent. */
static long long keyed(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
			return strtoll(p + klen + 1, NULL, 10);
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return -1;
}

/*
 * This process's cgroup path in the hierarchy that has controller ("" for v2's "0::" line),
 * from /proc/self/cgroup. 0 or -errno.
 */
static int own_cgroup(const char *controller, char *out, size_t size)
{
	char buf[4096];
	ssize_t n = read_file("/proc/self", "cgroup", buf, sizeof(buf));

	if (n < 0) {
		return (int)n;
	}
	for (char *line = buf, *next; line && *line; line = next) {
		char *ctrl, *path, *save = NULL;
		bool match = false;

		/* "hierarchy-id:controller,list:/path" */
		next = strchr(line, '\n');
		if (next) {
			*next++ = '\0';
		}
		ctrl = strchr(line, ':');
		path = ctrl ? strchr(ctrl + 1, ':') : NULL;
		if (!path) {
			continue;
		}
		*ctrl++ = '\0';
		*path++ = '\0';
		if (!*controller) {
			match = strcmp(line, "0") == 0 && !*ctrl;
		}
		for (char *tok = strtok_r(ctrl, ",", &save); *controller && tok;
			tok = strtok_r(NULL, ",", &save)) {
			match = match || strcmp(tok, controller) == 0;
		}
		if (match) {
			const char *rel = strcmp(path, "/") ? path : "";

			return (size_t)snprintf(out, size, "%s", rel) >= size ? -ENAMETOOLONG : 0;
		}
	}
	return -ENOENT;
}

static bool exists(const char *dir, const char *file)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

/* Removes a supervisor's directory: its (empty) worker cgroups, then itself. */
static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *w;

	while (d && (w = readdir(d))) {
		char wpath[PATH_MAX];

		if (w->d_type == DT_DIR && w->d_name[0] != '.' &&
			(size_t)snprintf(wpath, sizeof(wpath), "%s/%s", path, w->d_name) <
				sizeof(wpath)) {
			rmdir(wpath);
		}
	}
	if (d) {
		closedir(d);
	}
	rmdir(path);
}

/* Removes stale "fngate-<pid>" directories of supervisors that died without cleaning up. */
static void sweep(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *e;

	if (!d) {
		return;
	}
	while ((e = readdir(d))) {
		char *end, path[PATH_MAX];
		long pid;

		if (strncmp(e->d_name, "fngate-", 7) != 0) {
			continue;
		}
		pid = strtol(e->d_name + 7, &end, 10);
		if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH ||
			(size_t)snprintf(path, sizeof(path), "%s/%s", parent, e->d_name) >=
				sizeof(path)) {
			continue;
		}
		remove_dir(path);
	}
	closedir(d);
}

/* parent = mount + own path; dir = parent + "/fngate-<pid>". Creates dir when make. */
static int place(const char *mount, const char *controller, bool make, char *dir, size_t size)
{
	char own[PATH_MAX], parent[PATH_MAX];
	int rc = own_cgroup(controller, own, sizeof(own));

	if (rc < 0) {
		return rc;
	}
	if ((size_t)snprintf(parent, sizeof(parent), "%s%s", mount, own) >= sizeof(parent) ||
		(size_t)snprintf(dir, size, "%s/fngate-%d", parent, (int)getpid()) >= size) {
		return -ENAMETOOLONG;
	}
	if (!make) {
		return access(parent, W_OK) ? -errno : 0;
	}
	sweep(parent);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		return -errno;
	}
	return 0;
}

/* Finds (and with make, creates) the directories; fills *st. */
static enum fng_cg_mode probe(struct cg_state *st, bool make, const char **why, int *err)
{
	char buf[512];
	int rc;

	*why = NULL;
	*err = 0;
	st->mode = FNG_CG_NONE;
	st->mem[0] = st->pids[0] = '\0';
	if (read_file(CG_ROOT, "cgroup.controllers", buf, sizeof(buf)) >= 0) {
		/* v2: workers need memory (and pids) delegated to our own cgroup's children. */
		if (!strstr(buf, "memory")) {
			*why = "cgroup v2 without the memory controller";
			return FNG_CG_NONE;
		}
		rc = place(CG_ROOT, "", make, st->mem, sizeof(st->mem));
		if (rc == 0 && make) {
			char parent[PATH_MAX];

			snprintf(parent, sizeof(parent), "%s", st->mem);
			*strrchr(parent, '/') = '\0';
			/* Fails (EBUSY) unless our cgroup is the root or already delegates them. */
			if (read_file(parent, "cgroup.subtree_control", buf, sizeof(buf)) >= 0 &&
				!strstr(buf, "memory")) {
				rc = write_file(parent, "cgroup.subtree_control", "+memory +pids");
			}
			if (rc == 0) {
				rc = write_file(st->mem, "cgroup.subtree_control", "+memory +pids");
			}
			if (rc < 0) {
				rmdir(st->mem);
			}
		}
		if (rc < 0) {
			*why = "cgroup v2: cannot delegate memory+pids below our own cgroup";
			*err = -rc;
			return FNG_CG_NONE;
		}
		st->mode = FNG_CG_V2;
		snprintf(st->desc, sizeof(st->desc), "cgroup v2 memory+pids under %.*s",
			(int)(strrchr(st->mem, '/') - st->mem), st->mem);
		return st->mode;
	}
	if (!exists(CG_ROOT "/memory", "memory.limit_in_bytes")) {
		*why = "no cgroup memory controller mounted";
		return FNG_CG_NONE;
	}
	rc = place(CG_ROOT "/memory", "memory", make, st->mem, sizeof(st->mem));
	if (rc < 0) {
		*why = "cgroup v1 memory: cannot create a child cgroup";
		*err = -rc;
		st->mem[0] = '\0';
		return FNG_CG_NONE;
	}
	st->memsw = exists(CG_ROOT "/memory", "memory.memsw.limit_in_bytes");
	if (exists(CG_ROOT "/pids", "cgroup.procs") &&
		place(CG_ROOT "/pids", "pids", make, st->pids, sizeof(st->pids)) < 0) {
		st->pids[0] = '\0';
	}
	st->mode = FNG_CG_V1;
	snprintf(st->desc, sizeof(st->desc), "cgroup v1 memory%s%s under %.*s",
		st->memsw ? "+memsw" : "", st->pids[0] ? "+pids" : "",
		(int)(strrchr(st->mem, '/') - st->mem), st->mem);
	return st->mode;
}

enum fng_cg_mode fng__cg_setup(const char **why, int *err)
{
	return probe(&cg, true, why, err);
}

const char *fng__cg_describe(void)
{
	static struct cg_state st;
	const char *why;
	int err;

	if (probe(&st, false, &why, &err) == FNG_CG_NONE) {
		if (err) {
			snprintf(st.desc, sizeof(st.desc), "no cgroups (%s: %s)", why,
				strerror(err));
		} else {
			snprintf(st.desc, sizeof(st.desc), "no cgroups (%s)", why);
		}
	}
	return st.desc;
}

void fng__cg_teardown(void)
{
	if (cg.mem[0]) {
		remove_dir(cg.mem);
	}
	if (cg.pids[0]) {
		remove_dir(cg.pids);
	}
	cg.mode = FNG_CG_NONE;
}

/* Writes (file, value) pairs into base/<pid>. 0 or -errno. */
static int set_limits(const char *base, pid_t pid, const char *const *limits, size_t nlimits)
{
	char dir[PATH_MAX];
	int rc;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%d", base, (int)pid) >= sizeof(dir)) {
		return -ENAMETOOLONG;
	}
	for (size_t i = 0; i + 1 < nlimits; i += 2) {
		rc = write_file(dir, limits[i], limits[i + 1]);
		if (rc < 0) {
			return rc;
		}
	}
	return 0;
}

/*
 * Makes base/<pid>, writes the limits and moves pid in. Moving a process between cgroups
 * waits for an RCU grace period (cgroup_threadgroup_rwsem, 7-20 ms on this machine kind when
 * no other move happened just before), which is why the supervisor keeps a spare that has
 * already paid it (supervisor.c).
 */
static int join(const char *base, pid_t pid, const char *const *limits, size_t nlimits)
{
	char dir[PATH_MAX], num[16];
	int rc;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%d", base, (int)pid) >= sizeof(dir)) {
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0755) < 0) {
		return -errno;
	}
	rc = set_limits(base, pid, limits, nlimits);
	if (rc < 0) {
		return rc;
	}
	snprintf(num, sizeof(num), "%d", (int)pid);
	return write_file(dir, "cgroup.procs", num);
}

int fng__cg_limit(pid_t pid, uint32_t memory_mb)
{
	char bytes[32];

	if (!memory_mb) {
		return 0;
	}
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)memory_mb << 20);
	switch (cg.mode) {
	case FNG_CG_NONE:
		return 0;
	case FNG_CG_V2: {
		const char *lim[] = { "memory.max", bytes, "memory.swap.max", "0" };

		return set_limits(cg.mem, pid, lim, 4);
	}
	case FNG_CG_V1: {
		/* memory before memsw: memsw may never be below memory. */
		const char *lim[] = { "memory.limit_in_bytes", bytes,
			"memory.memsw.limit_in_bytes", bytes };

		return set_limits(cg.mem, pid, lim, cg.memsw ? 4 : 2);
	}
	}
	return 0;
}

int fng__cg_create(pid_t pid, uint32_t memory_mb)
{
	const char *pids[] = { "pids.max", "1" };
	int rc = 0;

	switch (cg.mode) {
	case FNG_CG_NONE:
		return 0;
	case FNG_CG_V2:
		rc = join(cg.mem, pid, pids, 2);
		break;
	case FNG_CG_V1:
		rc = join(cg.mem, pid, NULL, 0);
		if (rc == 0 && cg.pids[0]) {
			rc = join(cg.pids, pid, pids, 2);
		}
		break;
	}
	return rc < 0 ? rc : fng__cg_limit(pid, memory_mb);
}

bool fng__cg_oom(pid_t pid)
{
	char dir[PATH_MAX], buf[1024];
	long long n;

	if (cg.mode == FNG_CG_NONE ||
		(size_t)snprintf(dir, sizeof(dir), "%s/%d", cg.mem, (int)pid) >= sizeof(dir)) {
		return false;
	}
	if (cg.mode == FNG_CG_V2) {
		return read_file(dir, "memory.events", buf, sizeof(buf)) > 0 &&
			keyed(buf, "oom_kill") > 0;
	}
	if (read_file(dir, "memory.oom_control", buf, sizeof(buf)) > 0 &&
		(n = keyed(buf, "oom_kill")) >= 0) {
		return n > 0;
	}
	/* Kernels before 4.13 do not count OOM kills: hitting the limit is the best hint. */
	return read_file(dir, "memory.failcnt", buf, sizeof(buf)) > 0 && atoll(buf) > 0;
}

void fng__cg_remove(pid_t pid)
{
	char dir[PATH_MAX];

	if (cg.mode == FNG_CG_NONE) {
		return;
	}
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%d", cg.mem, (int)pid) < sizeof(dir)) {
		rmdir(dir);
	}
	if (cg.pids[0] && (size_t)snprintf(dir, sizeof(dir), "%s/%d", cg.pids, (int)pid) <
		sizeof(dir)) {
		rmdir(dir);
	}
}
