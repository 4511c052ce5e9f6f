// SPDX-License-Identifier: MIT
/*
 * The supervisor's check, from outside, that a worker which said READY is under the filters
 * it was meant to install before answering (sandbox.h, FNG_SB_VERIFY). The worker cannot vouch
 * for itself: its .so's constructors and init hook ran before the serve filter, with the
 * socketpair in reach, and could answer the gateway in the runtime's place — or stack a filter
 * of their own to make a count look right.
 *
 * As root (CAP_SYS_ADMIN and CAP_SYS_PTRACE), the worker is stopped for a moment with
 * PTRACE_SEIZE + PTRACE_INTERRUPT, its filters are read back with PTRACE_SECCOMP_GET_FILTER
 * and compared, instruction by instruction, with what fng__seccomp_expected builds for its
 * pid, groups and learn mode: exactly two, the load-time filter and the serve filter above it.
 * The stop costs ~0.15 ms per worker start here. Without those rights (fngate not run as
 * root), /proc/PID/status must show seccomp filter mode with exactly two filters, which an
 * extra filter of the handler's own would change (weaker: the content is not seen).
 *
 * Runs in the supervisor, which is single-threaded and the worker's parent: the ptrace stop
 * is waited for here with waitpid(pid), so the reap loop never sees it.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

/*
 * How long a worker may take to reach the ptrace stop: it is blocked in poll, microseconds
 * normally, but a loaded machine may not run it for a while. Past it the answer is not a
 * verdict (-ETIMEDOUT) and the gateway asks again.
 */
#define STOP_WAIT_MS 2000

/* The filters' count and the seccomp mode from /proc/PID/status. 0 or -errno. */
static int status_filters(pid_t pid, int *mode, int *count)
{
	char path[64], buf[4096], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return -EIO;
	}
	buf[n] = '\0';
	p = strstr(buf, "\nSeccomp:");
	*mode = p ? atoi(p + 9) : -1;
	p = strstr(buf, "\nSeccomp_filters:");
	*count = p ? atoi(p + 17) : -1;
	return 0;
}

/* Waits (bounded) for pid's ptrace stop. 0, -ECHILD if it died (*wstatus set), -ETIMEDOUT. */
static int await_stop(pid_t pid, int *wstatus, struct rusage *ru)
{
	struct timespec start, now;
	long waited;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int st;
		pid_t r = wait4(pid, &st, WNOHANG | __WALL, ru);

		if (r == pid) {
			if (WIFSTOPPED(st)) {
				return 0;
			}
			*wstatus = st;
			return -ECHILD;
		}
		if (r < 0 && errno != EINTR) {
			return -errno;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - start.tv_sec) * 1000000 + (now.tv_nsec - start.tv_nsec) / 1000;
		if (waited > STOP_WAIT_MS * 1000) {
			return -ETIMEDOUT;
		}
		/*
		 * The stop usually takes a few microseconds: yield at first (a nap is at least the
		 * timer slack, 50 us), then nap.
		 */
		if (waited < 1000) {
			sched_yield();
		} else {
			usleep(500);
		}
	}
}

/*
 * Compares the filters attached to the stopped tracee pid with want[0] and want[1]. The
 * kernel numbers them from the first installed (get_nth_filter counts from the oldest), so
 * 0 is the load-time filter and 1 the serve filter. -EPERM with why: they differ; -ENOTSUP:
 * the kernel cannot show them (no CONFIG_CHECKPOINT_RESTORE, or no right).
 */
static int compare(pid_t pid, const struct sock_fprog want[2], char *why, size_t whylen)
{
	static struct sock_filter got[BPF_MAXINSNS];
	static const char *const names[] = { "load-time filter", "serve-time filter" };

	for (unsigned long i = 0; i < 3; i++) {
		long n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)i, got);

		if (i == 2) {
			if (n >= 0 || errno != ENOENT) {
				snprintf(why, whylen, "%s", "more seccomp filters than the worker installs");
				return -EPERM;
			}
			return 0;
		}
		if (n < 0 && errno == ENOENT) {
			snprintf(why, whylen, "the %s is missing", names[i]);
			return -EPERM;
		}
		if (n < 0) {
			return -ENOTSUP;
		}
		if ((size_t)n != want[i].len ||
			memcmp(got, want[i].filter, (size_t)n * sizeof(got[0])) != 0) {
			snprintf(why, whylen, "the %s is not the one fngate installs",
				names[i]);
			return -EPERM;
		}
	}
	return 0;
}

static int by_ptrace(pid_t pid, const struct sock_fprog want[2], int *wstatus,
	struct rusage *ru, char *why, size_t whylen)
{
	int rc;

	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)PTRACE_O_EXITKILL) < 0) {
		return -errno;
	}
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0) {
		rc = -errno;
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return rc;
	}
	rc = await_stop(pid, wstatus, ru);
	if (rc == -ECHILD) {
		snprintf(why, whylen, "%s", "the worker died while being verified");
		return -ESRCH;
	}
	if (rc == 0) {
		rc = compare(pid, want, why, whylen);
	} else {
		snprintf(why, whylen, "%s", "the worker did not stop to be verified");
	}
	/* Detaching resumes it (a poll or read interrupted by the stop restarts). */
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	return rc;
}

int fng__sb_verify(pid_t pid, uint32_t groups, bool learn, const struct sock_fprog *serve,
	int *wstatus, struct rusage *ru, char *why, size_t whylen)
{
	struct sock_fprog want[2] = { { 0 } };
	const struct sock_fprog *load = NULL;
	int rc, mode, count;

	*wstatus = -1;
	why[0] = '\0';
	/* The serve filter built ahead, while the worker was starting, or now. */
	rc = fng__seccomp_expected(pid, groups, learn, &load, serve ? NULL : &want[1]);
	if (serve) {
		want[1] = *serve;
	}
	if (rc == -ENOSYS) {
		return 0; /* built without seccomp: nothing to check (the build warned) */
	}
	if (rc < 0) {
		snprintf(why, whylen, "%s", "cannot build the expected filters");
		return rc;
	}
	want[0] = *load;
	rc = geteuid() == 0 ? by_ptrace(pid, want, wstatus, ru, why, whylen) : -EPERM;
	if ((rc == -EPERM && !why[0]) || rc == -ENOTSUP) {
		/* Not allowed to look inside, or the kernel cannot show it: the mode and count. */
		rc = status_filters(pid, &mode, &count);
		if (rc == 0 && (mode != SECCOMP_MODE_FILTER || count != 2)) {
			snprintf(why, whylen, "seccomp mode %d with %d filters, not 2 with 2", mode,
				count);
			rc = -EPERM;
		} else if (rc < 0) {
			snprintf(why, whylen, "%s", "cannot read its status");
		}
	} else if (rc < 0 && !why[0]) {
		snprintf(why, whylen, "ptrace: %s", strerror(-rc));
	}
	if (!serve) {
		free(want[1].filter);
	}
	return rc;
}

const char *fng__sb_verify_describe(void)
{
	return geteuid() == 0 ? "serve filter verified by content (ptrace)" :
		"serve filter verified by count (/proc)";
}
