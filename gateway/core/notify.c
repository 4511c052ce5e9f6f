// SPDX-License-Identifier: MIT
/*
 * sd_notify(3) without libsystemd (notify.h): one non-blocking AF_UNIX datagram socket,
 * opened on the first notification, to the address NOTIFY_SOCKET names. A path is used as it
 * is; a leading '@' names an abstract socket (the '@' becomes the NUL the kernel expects and
 * the length excludes any trailing NUL). Called from the loop thread (daemon.c): ready, reload
 * and drain are rare, so each is one sendto(2) and nothing is queued.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

static struct {
	bool tried;       /* NOTIFY_SOCKET was read */
	bool logged;      /* a failure was logged: the next ones are not */
	int fd;           /* -1: no manager, or no socket */
	struct sockaddr_un addr;
	socklen_t addr_len;
} nt = { .fd = -1 };

static void fail_once(const char *what, int err)
{
	if (!nt.logged) {
		nt.logged = true;
		fng__log("warn", "sd_notify failed (not logged again)", "step", what, "error",
			strerror(err), NULL);
	}
}

/* Reads NOTIFY_SOCKET once; true when there is a socket to send to. */
static bool notify_open(void)
{
	const char *e;
	size_t n;

	if (nt.tried) {
		return nt.fd >= 0;
	}
	nt.tried = true;
	e = getenv("NOTIFY_SOCKET");
	if (!e || !*e) {
		return false;
	}
	n = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || n >= sizeof(nt.addr.sun_path)) {
		fail_once("NOTIFY_SOCKET is neither a path nor an abstract name", EINVAL);
		unsetenv("NOTIFY_SOCKET");
		return false;
	}
	nt.addr.sun_family = AF_UNIX;
	memcpy(nt.addr.sun_path, e, n);
	if (e[0] == '@') {
		nt.addr.sun_path[0] = '\0';
	}
	nt.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	unsetenv("NOTIFY_SOCKET");
	nt.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (nt.fd < 0) {
		fail_once("socket", errno);
		return false;
	}
	return true;
}

bool fng__notify(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	if (!notify_open()) {
		return false;
	}
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		fail_once("message too long", EMSGSIZE);
		return true;
	}
	if (sendto(nt.fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
		    (const struct sockaddr *)&nt.addr, nt.addr_len) < 0) {
		fail_once("sendto", errno);
	}
	return true;
}

unsigned long long fng__notify_monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
}
