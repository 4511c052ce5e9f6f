/* SPDX-License-Identifier: MIT */
#ifndef FNG_TESTS_UNIT_REDIS_TEST_H
#define FNG_TESTS_UNIT_REDIS_TEST_H

/*
 * A redis-server of a unit test's own on a free loopback port (the cluster client's and the
 * shared limits' tests): started with no persistence and stopped by its pid. The tests skip
 * where redis-server is not installed.
 */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A loopback port nobody listens on now, or -1. */
static inline int fng_test_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		getsockname(fd, (struct sockaddr *)&a, &n) == 0) {
		port = ntohs(a.sin_port);
	}
	close(fd);
	return port;
}

/* Whether something accepts connections on 127.0.0.1:port. */
static inline bool fng_test_port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001),
		.sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	close(fd);
	return ok;
}

/*
 * Starts redis-server on 127.0.0.1:port, its files in dir (NULL: its working directory), with
 * a password when pw; waits up to 5 s for it to listen. Its pid, or -1.
 */
static inline pid_t fng_test_redis_start(int port, const char *dir, const char *pw)
{
	char p[16];
	pid_t pid;

	snprintf(p, sizeof(p), "%d", port);
	pid = fork();
	if (pid == 0) {
		const char *argv[16] = { "redis-server", "--port", p, "--bind", "127.0.0.1", "--save",
			"", "--appendonly", "no" };
		int argc = 9, null = open("/dev/null", O_WRONLY);

		if (dir) {
			argv[argc++] = "--dir";
			argv[argc++] = dir;
		}
		if (pw) {
			argv[argc++] = "--requirepass";
			argv[argc++] = pw;
		}
		dup2(null, 1);
		dup2(null, 2);
		execvp("redis-server", (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500 && pid > 0; i++) {
		if (fng_test_port_open(port)) {
			return pid;
		}
		usleep(10000);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

/* Stops the server of pid with sig and reaps it; pid <= 0 is a no-op. */
static inline void fng_test_redis_stop(pid_t pid, int sig)
{
	if (pid > 0) {
		kill(pid, sig);
		waitpid(pid, NULL, 0);
	}
}

#endif
