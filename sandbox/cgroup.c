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
 *
 * CPU (docs/config.md, "CPU isolation"), so that a function spinning on every worker it has
 * cannot slow the others down. In v1's cpu hierarchy (found in /proc/self/mounts, perhaps
 * shared with cpuacct) the supervisor's directory holds two groups: "active", with the
 * gateway itself (moved into "active/gateway" at start) and "workers", and "busy", which is
 * cpu.idle. Each worker has a cpu cgroup of its own below "workers" (the spare too: a
 * hand-off writes values, it moves nothing) whose weight is its function's split among the
 * workers the function may have, so that CPU is shared per function. A worker found running
 * without a pause for BUSY_WINDOWS windows of WATCH_MS is moved into "busy" until it sleeps,
 * then back into its own cgroup (fng__cg_watch): a request of another function, or the
 * gateway, that wakes up then takes the CPU from it at once, rather than after its time
 * slice. Why a group apart rather than the busy worker's own cgroup made idle: the
 * scheduler (EEVDF) places a woken entity by the lag it had against the others of its
 * queue; beside other workers of the same queue a victim worker often has a negative lag,
 * and then waits, behind an idle spinner that the scheduler picks again, for the next tick.
 * "active" meets "busy" alone one level up, and weighs ACTIVE_SHARES (v1's most) against it,
 * so that "busy" runs only when nothing in "active" can: a spinner's fair share of a CPU kept
 * busy by the gateway would otherwise come as a tick-long stall every second or so. The
 * supervisor's directory as a whole weighs one process against the rest of the machine.
 * v2 delegates cpu next to memory and sets the weights; a busy worker's own cgroup (which
 * holds its memory limit too) is made cpu.idle there. Without a cpu controller the workers
 * lower their own priority instead (fng__cg_cpu_fallback).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define CG_ROOT "/sys/fs/cgroup"

/*
 * The busy-worker watch: every WATCH_MS the supervisor reads each worker's state and count of
 * voluntary context switches (/proc/PID/status). Runnable at both ends of a window without
 * having slept in it (a handler computing, or spinning: a worker between invocations sleeps
 * in read) for BUSY_WINDOWS windows in a row, the worker is demoted until it sleeps again
 * (set_busy): any other worker that wakes up then takes the CPU from it at once, where a
 * mere lower weight (1/DEMOTE, v2's fallback without cpu.idle) still lets it finish its time
 * slice (3 ms here) and the scheduler notice at the next tick (4 ms). Not the time it spent
 * on a CPU: a worker held back by others would look idle; nor schedstat's run_delay, credited
 * only when the task gets the CPU back. Chosen with bench/cpu_isolation.sh and the figures in
 * docs/BENCHMARKS.md.
 */
#define WATCH_MS 20
#define BUSY_WINDOWS 2
#define DEMOTE 64
#define CPU_DEPTH 3
#define ACTIVE_SHARES "262144"

/* The directories workers go in: this supervisor's, or "" when the controller is not used. */
struct cg_state {
	enum fng_cg_mode mode;
	char mem[PATH_MAX];   /* v1 memory or v2 unified: ".../fngate-<supervisor pid>" */
	char pids[PATH_MAX];  /* v1 pids; v2 uses mem for both */
	char cpu[PATH_MAX];   /* v1: ".../fngate-<supervisor pid>/active/workers"; v2: mem */
	char top[PATH_MAX];   /* v1: ".../fngate-<supervisor pid>" in the cpu hierarchy */
	char busy[PATH_MAX];  /* v1: ".../fngate-<supervisor pid>/busy", idle */
	bool memsw;           /* v1 memory.memsw.* exists (swap accounting) */
	bool cpu_wanted;      /* the latest request had a CPU policy (spares follow it) */
	pid_t gateway;        /* v1: moved into ".../fngate-<pid>/active/gateway"; 0: not */
	char home[PATH_MAX];  /* the cpu cgroup it was moved from, where it goes back */
	char desc[2 * PATH_MAX + 128];
};

static struct cg_state cg = { .cpu_wanted = true };

/* A worker under watch (supervisor only): its weight, and what the last tick saw. */
struct watched {
	pid_t pid;
	uint32_t weight;      /* as requested, v2 scale */
	unsigned busy;        /* windows in a row it was runnable and did not sleep */
	bool demoted;
	bool runnable;        /* state R at the last tick */
	unsigned long long slept; /* voluntary context switches at the last tick */
};

static struct {
	struct watched *w;
	size_t n, cap;
	long long last;       /* CLOCK_MONOTONIC ns of the last tick */
} watch;

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

	return (size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) < sizeof(path) &&
		access(path, F_OK) == 0;
}

/*
 * Removes a supervisor's directory, depth levels of (empty) cgroups below it first: its
 * workers' (1), or in v1's cpu hierarchy "busy", and "active" with "gateway" and "workers"
 * and theirs (CPU_DEPTH).
 */
static void remove_dir(const char *path, int depth)
{
	DIR *d = depth > 0 ? opendir(path) : NULL;
	struct dirent *w;

	while (d && (w = readdir(d))) {
		char wpath[PATH_MAX];

		if (w->d_type == DT_DIR && w->d_name[0] != '.' &&
			(size_t)snprintf(wpath, sizeof(wpath), "%s/%s", path, w->d_name) <
				sizeof(wpath)) {
			remove_dir(wpath, depth - 1);
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
		remove_dir(path, CPU_DEPTH);
	}
	closedir(d);
}

/*
 * Cuts a trailing "/fngate-<pid>/active/gateway" off path: a gateway still in an earlier
 * supervisor's directory (it died, or a test forks several) gets the new one beside it.
 * True if it did.
 */
static bool unnest(char *path)
{
	char *p = strstr(path, "/fngate-"), *last = NULL, *end;

	for (; p; p = strstr(p + 1, "/fngate-")) {
		last = p;
	}
	if (last && strtol(last + 8, &end, 10) > 0 && strcmp(end, "/active/gateway") == 0) {
		*last = '\0';
		return true;
	}
	return false;
}

/* parent = mount + own path; dir = parent + "/fngate-<pid>". Creates dir when make. */
static int place(const char *mount, const char *controller, bool make, char *dir, size_t size)
{
	char own[PATH_MAX], parent[PATH_MAX];
	int rc = own_cgroup(controller, own, sizeof(own));

	if (rc < 0) {
		return rc;
	}
	unnest(own);
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

/* True if word is one of the words (separated by spaces, commas or newlines) of text. */
static bool has_word(const char *text, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = text; (p = strstr(p, word)); p += len) {
		if ((p == text || strchr(" ,\n", p[-1])) && (!p[len] || strchr(" ,\n", p[len]))) {
			return true;
		}
	}
	return false;
}

/*
 * v2: enables controllers ("+memory +pids") for dir's children and, unless word (one of them)
 * is there already, for parent's. 0 or -errno: the parent's fails (EBUSY) unless it is the
 * root or delegates them already.
 */
static int delegate(const char *parent, const char *dir, const char *word, const char *ctrls)
{
	char buf[512];
	int rc = 0;

	if (read_file(parent, "cgroup.subtree_control", buf, sizeof(buf)) >= 0 &&
		!has_word(buf, word)) {
		rc = write_file(parent, "cgroup.subtree_control", ctrls);
	}
	return rc < 0 ? rc : write_file(dir, "cgroup.subtree_control", ctrls);
}

/* Finds (and with make, creates) the memory and pids directories; fills *st. */
static enum fng_cg_mode probe_memory(struct cg_state *st, bool make, const char **why, int *err)
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
			rc = delegate(parent, st->mem, "memory", "+memory +pids");
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

/*
 * Where the v1 hierarchy holding controller is mounted ("/sys/fs/cgroup/cpu", or
 * ".../cpu,cpuacct" where the two share one), from /proc/self/mounts. 0 or -errno.
 */
static int v1_mount(const char *controller, char *out, size_t size)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char *line = NULL;
	size_t cap = 0;
	int rc = -ENOENT;

	if (!f) {
		return -errno;
	}
	while (rc == -ENOENT && getline(&line, &cap, f) > 0) {
		/* "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,...,cpu,cpuacct 0 0" */
		char *save = NULL, *dir, *type, *opts;

		strtok_r(line, " ", &save);
		dir = strtok_r(NULL, " ", &save);
		type = strtok_r(NULL, " ", &save);
		opts = strtok_r(NULL, " ", &save);
		/* A mount point with an escaped character (\040 ...) is not worth unescaping. */
		if (opts && strcmp(type, "cgroup") == 0 && has_word(opts, controller) &&
			!strchr(dir, '\\')) {
			rc = (size_t)snprintf(out, size, "%s", dir) >= size ? -ENAMETOOLONG : 0;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

/* Writes cpu.idle 1 into dir, or where the kernel has none (before 5.15) the least weight. */
static int make_idle(const char *dir)
{
	int rc = write_file(dir, "cpu.idle", "1");

	return rc == -ENOENT ? write_file(dir, "cpu.shares", "2") : rc;
}

/*
 * v1's layout below the supervisor's directory st->top (see the top of this file): "busy"
 * idle, "active" holding "workers" and the gateway (our parent), moved into "gateway".
 * Where the gateway cannot be moved, the top itself is made idle instead: the gateway still
 * goes first, but the workers then also yield to everything else in the gateway's cgroup.
 * 0 or -errno.
 */
static int cpu_layout(struct cg_state *st, const char *mount)
{
	char dir[PATH_MAX], num[16];
	bool nested;
	int rc;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/active", st->top) >= sizeof(dir) ||
		(size_t)snprintf(st->busy, sizeof(st->busy), "%s/busy", st->top) >=
			sizeof(st->busy)) {
		return -ENAMETOOLONG;
	}
	if ((mkdir(dir, 0755) < 0 && errno != EEXIST) ||
		(mkdir(st->cpu, 0755) < 0 && errno != EEXIST) ||
		(mkdir(st->busy, 0755) < 0 && errno != EEXIST)) {
		return -errno;
	}
	rc = make_idle(st->busy);
	if (rc < 0) {
		return rc;
	}
	write_file(dir, "cpu.shares", ACTIVE_SHARES);
	/*
	 * Forked a moment ago, we are where the gateway is; in an earlier supervisor's
	 * "gateway" both of us move out, beside it, so that it can go (and the gateway
	 * comes back there, not into it).
	 */
	rc = own_cgroup("cpu", dir, sizeof(dir));
	nested = rc == 0 && unnest(dir);
	if (rc < 0 || (size_t)snprintf(st->home, sizeof(st->home), "%s%s", mount, dir) >=
		sizeof(st->home)) {
		return make_idle(st->top);
	}
	snprintf(num, sizeof(num), "%d", (int)getpid());
	if (nested) {
		write_file(st->home, "cgroup.procs", num);
	}
	st->gateway = getppid();
	snprintf(num, sizeof(num), "%d", (int)st->gateway);
	if ((size_t)snprintf(dir, sizeof(dir), "%s/active/gateway", st->top) >= sizeof(dir) ||
		(mkdir(dir, 0755) < 0 && errno != EEXIST) ||
		write_file(dir, "cgroup.procs", num) < 0) {
		rmdir(dir);
		st->gateway = 0;
		return make_idle(st->top);
	}
	/* An earlier supervisor's directory the gateway has just left can go now. */
	sweep(st->home);
	return 0;
}

/*
 * Finds (and with make, creates) the cpu directories, after probe_memory: v2 delegates the
 * cpu controller to the directory memory uses, v1 makes its own layout in the cpu hierarchy.
 * Leaves st->cpu "" and says why when there is none.
 */
static void probe_cpu(struct cg_state *st, bool make, const char **why, int *err)
{
	char buf[512], parent[PATH_MAX];
	int rc;

	*why = NULL;
	*err = 0;
	st->cpu[0] = '\0';
	if (st->mode == FNG_CG_V2) {
		snprintf(parent, sizeof(parent), "%s", st->mem);
		*strrchr(parent, '/') = '\0';
		if (read_file(parent, "cgroup.controllers", buf, sizeof(buf)) < 0 ||
			!has_word(buf, "cpu")) {
			*why = "cgroup v2 without the cpu controller";
			return;
		}
		rc = make ? delegate(parent, st->mem, "cpu", "+cpu") : 0;
		if (rc < 0) {
			*why = "cgroup v2: cannot delegate cpu below our own cgroup";
			*err = -rc;
			return;
		}
		snprintf(st->cpu, sizeof(st->cpu), "%s", st->mem);
		return;
	}
	if (v1_mount("cpu", parent, sizeof(parent)) < 0 || !exists(parent, "cpu.shares")) {
		*why = "no cgroup cpu controller mounted";
		return;
	}
	rc = place(parent, "cpu", make, st->top, sizeof(st->top));
	if (rc == 0 && (size_t)snprintf(st->cpu, sizeof(st->cpu), "%s/active/workers",
		st->top) >= sizeof(st->cpu)) {
		rc = -ENAMETOOLONG;
	}
	if (rc == 0 && make) {
		rc = cpu_layout(st, parent);
		if (rc < 0) {
			remove_dir(st->top, CPU_DEPTH);
		}
	}
	if (rc < 0) {
		*why = "cgroup v1 cpu: cannot create a child cgroup";
		*err = -rc;
		st->cpu[0] = st->top[0] = st->busy[0] = '\0';
	}
}

/* Both probes; the description names what is in effect for memory and for CPU. */
static enum fng_cg_mode probe(struct cg_state *st, bool make, const char **why, int *err)
{
	const char *cpu_why;
	int cpu_err;
	size_t len;

	probe_memory(st, make, why, err);
	if (st->mode == FNG_CG_NONE) {
		if (*err) {
			snprintf(st->desc, sizeof(st->desc), "no memory cgroups (%s: %s)", *why,
				strerror(*err));
		} else {
			snprintf(st->desc, sizeof(st->desc), "no memory cgroups (%s)", *why);
		}
	}
	probe_cpu(st, make, &cpu_why, &cpu_err);
	len = strlen(st->desc);
	if (st->cpu[0] && st->mode == FNG_CG_V2) {
		snprintf(st->desc + len, sizeof(st->desc) - len, ", cpu weights per function");
	} else if (st->cpu[0]) {
		/* ".../fngate-<pid>": the parent of the supervisor's directory. */
		int plen = (int)(strrchr(st->top, '/') - st->top);

		snprintf(st->desc + len, sizeof(st->desc) - len, ", cpu weights per function "
			"(v1 cpu.shares) under %.*s%s", plen > 1 ? plen : 1, st->top,
			make && !st->gateway ? " (gateway not moved: workers idle)" :
			", busy workers idle beside the gateway and the others");
	} else {
		snprintf(st->desc + len, sizeof(st->desc) - len,
			", NO cpu cgroups (%s%s%s): workers at nice %d", cpu_why,
			cpu_err ? ": " : "", cpu_err ? strerror(cpu_err) : "", FNG_WORKER_NICE);
	}
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

	probe(&st, false, &why, &err);
	return st.desc;
}

void fng__cg_teardown(void)
{
	if (cg.mem[0]) {
		remove_dir(cg.mem, 1);
	}
	if (cg.pids[0]) {
		remove_dir(cg.pids, 1);
	}
	if (cg.top[0]) {
		char num[16], up[PATH_MAX];

		/* A gateway that outlives us goes back where it was, so that all this can go. */
		if (cg.gateway && getppid() == cg.gateway) {
			snprintf(num, sizeof(num), "%d", (int)cg.gateway);
			snprintf(up, sizeof(up), "%s", cg.top);
			*strrchr(up, '/') = '\0';
			if (write_file(cg.home, "cgroup.procs", num) < 0) {
				write_file(up, "cgroup.procs", num);
			}
		}
		remove_dir(cg.top, CPU_DEPTH);
		/* A gateway that has just died leaves its directory once its exit is through. */
		for (int i = 0; i < 50 && cg.gateway && access(cg.top, F_OK) == 0; i++) {
			usleep(2000);
			remove_dir(cg.top, CPU_DEPTH);
		}
	}
	cg.mode = FNG_CG_NONE;
	cg.cpu[0] = cg.top[0] = cg.busy[0] = '\0';
	free(watch.w);
	watch.w = NULL;
	watch.n = watch.cap = 0;
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

static int set_memory(pid_t pid, uint32_t memory_mb)
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

/* True if pid has a directory of its own in v1's cpu hierarchy (v2: its memory one is it). */
static bool own_cpu_dir(pid_t pid)
{
	char num[16];

	snprintf(num, sizeof(num), "%d", (int)pid);
	return exists(cg.cpu, num);
}

/* Writes weight (v2 scale, 1-10000) into pid's cpu cgroup: v2 cpu.weight, v1 cpu.shares. */
static int set_weight(pid_t pid, uint32_t weight)
{
	char w[16];
	const char *lim[] = { cg.mode == FNG_CG_V2 ? "cpu.weight" : "cpu.shares", w };

	weight = weight < 1 ? 1 : weight > 10000 ? 10000 : weight;
	/* v1 counts 1024 where v2 counts 100, with 2 at least. */
	snprintf(w, sizeof(w), "%u", cg.mode == FNG_CG_V2 ? weight :
		weight * 1024 / 100 < 2 ? 2 : weight * 1024 / 100);
	return set_limits(cg.cpu, pid, lim, 2);
}

/* Puts pid under watch with weight, or updates it (a spare handed out). */
static void watch_add(pid_t pid, uint32_t weight)
{
	struct watched *w = NULL;

	for (size_t i = 0; i < watch.n && !w; i++) {
		w = watch.w[i].pid == pid ? &watch.w[i] : NULL;
	}
	if (!w && watch.n == watch.cap) {
		size_t cap = watch.cap ? watch.cap * 2 : 16;
		struct watched *grown = realloc(watch.w, cap * sizeof(*grown));

		if (!grown) {
			return; /* not watched: it keeps its full weight */
		}
		watch.w = grown;
		watch.cap = cap;
	}
	if (!w) {
		w = &watch.w[watch.n++];
	}
	*w = (struct watched){ .pid = pid, .weight = weight };
}

int fng__cg_limit(pid_t pid, const struct fng_sb_spawn *req)
{
	uint32_t weight = req->cpu_weight ? req->cpu_weight : 100;
	int rc;

	/* A spare made while the requests had the other CPU mode is no use for this one. */
	cg.cpu_wanted = !req->cpu_off;
	if (cg.cpu[0] && cg.mode != FNG_CG_V2 && own_cpu_dir(pid) != cg.cpu_wanted) {
		return -EXDEV;
	}
	rc = set_memory(pid, req->memory_mb);
	if (rc < 0 || !cg.cpu[0] || req->cpu_off) {
		return rc;
	}
	rc = set_weight(pid, weight);
	if (rc == 0) {
		watch_add(pid, weight);
	}
	return rc;
}

int fng__cg_create(pid_t pid, const struct fng_sb_spawn *req)
{
	const char *pids[] = { "pids.max", "1" };
	int rc = 0;

	if (req) {
		cg.cpu_wanted = !req->cpu_off;
	}
	switch (cg.mode) {
	case FNG_CG_NONE:
		break;
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
	/* Right after the other moves, this one finds the grace period already passed. */
	if (rc == 0 && cg.cpu[0] && cg.mode != FNG_CG_V2 && cg.cpu_wanted) {
		rc = join(cg.cpu, pid, NULL, 0);
	}
	return rc < 0 || !req ? rc : fng__cg_limit(pid, req);
}

void fng__cg_cpu_fallback(const struct fng_sb_spawn *req)
{
	int fd;

	if (cg.cpu[0] || req->cpu_off) {
		return;
	}
	/*
	 * With autogroups (CONFIG_SCHED_AUTOGROUP, sched_autogroup_enabled) a process in the root
	 * cgroup competes as its session, and the worker has a session of its own: lower that
	 * session's nice too, or the process's own nice would weigh against nothing.
	 */
	if (setpriority(PRIO_PROCESS, 0, FNG_WORKER_NICE) < 0) {
		/* only a preference, like the OOM score */
	}
	fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		char nice[8];
		int len = snprintf(nice, sizeof(nice), "%d", FNG_WORKER_NICE);

		if (write(fd, nice, (size_t)len) < 0) {
			/* no autogroups, or refused: the process nice above still holds */
		}
		close(fd);
	}
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

/*
 * Demotes a busy worker or gives it back its place. v1: moves it into the idle "busy"
 * group, or back into its own cgroup below "workers" (which kept its weight). v2, where its
 * own cgroup also holds its memory limit: makes that cgroup cpu.idle, or on kernels without
 * it (before 5.15) gives it 1/DEMOTE of its weight; leaving idle resets the weight, hence
 * the weight written again. 0 or -errno.
 */
static int set_busy(const struct watched *w, bool busy)
{
	const char *lim[] = { "cpu.idle", busy ? "1" : "0" };
	char num[16], dir[PATH_MAX];
	int rc;

	if (cg.busy[0]) {
		snprintf(num, sizeof(num), "%d", (int)w->pid);
		if ((size_t)snprintf(dir, sizeof(dir), "%s/%d", cg.cpu, (int)w->pid) >= sizeof(dir)) {
			return -ENAMETOOLONG;
		}
		return write_file(busy ? cg.busy : dir, "cgroup.procs", num);
	}
	rc = set_limits(cg.cpu, w->pid, lim, 2);

	if (rc == -ENOENT) {
		return set_weight(w->pid, busy ? w->weight / DEMOTE : w->weight);
	}
	return rc < 0 || busy ? rc : set_weight(w->pid, w->weight);
}

/* Reads pid's state letter and voluntary context switches from /proc/PID/status. */
static bool task_state(pid_t pid, char *state, unsigned long long *slept)
{
	char dir[32], buf[2048];
	const char *st, *vol;

	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	if (read_file(dir, "status", buf, sizeof(buf)) <= 0 || !(st = strstr(buf, "\nState:")) ||
		!(vol = strstr(buf, "\nvoluntary_ctxt_switches:"))) {
		return false;
	}
	st += strlen("\nState:");
	*state = st[strspn(st, " \t")];
	*slept = strtoull(vol + strlen("\nvoluntary_ctxt_switches:"), NULL, 10);
	return true;
}

int fng__cg_watch(void)
{
	struct timespec ts;
	long long now, left;

	if (!watch.n) {
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
	left = watch.last + (long long)WATCH_MS * 1000000 - now;
	if (watch.last && left > 0) {
		return (int)((left + 999999) / 1000000);
	}
	for (size_t i = 0; i < watch.n; i++) {
		struct watched *w = &watch.w[i];
		unsigned long long slept;
		char state;
		bool busy;

		if (!task_state(w->pid, &state, &slept)) {
			continue; /* exiting: fng__cg_remove takes it off */
		}
		busy = w->runnable && state == 'R' && slept == w->slept;
		w->busy = busy ? w->busy + 1 : 0;
		w->runnable = state == 'R';
		w->slept = slept;
		if ((w->busy >= BUSY_WINDOWS) != w->demoted && set_busy(w, !w->demoted) == 0) {
			w->demoted = !w->demoted;
		}
	}
	watch.last = now;
	return WATCH_MS;
}

void fng__cg_remove(pid_t pid)
{
	const char *bases[] = { cg.mode != FNG_CG_NONE ? cg.mem : "", cg.pids,
		cg.mode != FNG_CG_V2 ? cg.cpu : "" };
	char dir[PATH_MAX];

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		size_t n = (size_t)snprintf(dir, sizeof(dir), "%s/%d", bases[i], (int)pid);

		if (bases[i][0] && n < sizeof(dir)) {
			rmdir(dir);
		}
	}
	for (size_t i = 0; i < watch.n; i++) {
		if (watch.w[i].pid == pid) {
			watch.w[i] = watch.w[--watch.n];
			break;
		}
	}
}
