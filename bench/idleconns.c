// SPDX-License-Identifier: MIT
//
// idleconns: hold N idle HTTP/1.1 keep-alive connections open against a server so that its
// per-connection memory can be measured.
//
//   idleconns HOST PORT PATH [N=5000] [HOLD_SECONDS=600]
//
// Opens N TCP connections one after the other; on each it sends one complete keep-alive request
// (`GET PATH HTTP/1.1\r\nHost: x\r\n\r\n`) and reads the complete response (headers plus a
// Content-Length body), so that every connection has gone through a full request cycle and sits
// idle in the server's keep-alive state. It then prints `ready N STATUS` on stdout and waits
// HOLD_SECONDS or until SIGTERM/SIGINT. Before exiting it checks every socket without blocking and
// prints `held OPEN CLOSED`: CLOSED counts the connections the server closed meanwhile, which
// would make the memory measurement meaningless. Exit status 0 only when all N were established,
// answered 2xx and still open at the end.
//
// Build: gcc -O2 -Wall -o idleconns idleconns.c

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

// Reads one HTTP response on fd: headers, then Content-Length bytes of body. Returns the status
// code, or -1 on error. Chunked responses are not supported (the benchmark routes send
// Content-Length).
static int read_response(int fd)
{
	char buf[16384];
	size_t len = 0;
	char *end = NULL;

	while (!end) {
		if (len == sizeof(buf) - 1)
			return -1;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	int status = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;

	long clen = 0;
	for (char *p = strstr(buf, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, "content-length:", 15) == 0) {
			clen = strtol(p + 2 + 15, NULL, 10);
			break;
		}
		if (strncasecmp(p + 2, "transfer-encoding:", 18) == 0)
			return -1;
	}
	size_t have = len - (size_t)(end + 4 - buf);
	while ((long)have < clen) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	if ((long)have != clen)
		return -1; // extra bytes: not a clean single response
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s HOST PORT PATH [N=5000] [HOLD_SECONDS=600]\n", argv[0]);
		return 2;
	}
	const char *host = argv[1];
	int port = atoi(argv[2]);
	const char *path = argv[3];
	int n = argc > 4 ? atoi(argv[4]) : 5000;
	int hold = argc > 5 ? atoi(argv[5]) : 600;
	if (n <= 0 || port <= 0 || port > 65535) {
		fprintf(stderr, "idleconns: bad arguments\n");
		return 2;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; // no SA_RESTART: sleep() returns early
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		fprintf(stderr, "idleconns: bad IPv4 address %s\n", host);
		return 2;
	}

	char req[1024];
	int reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	if (reqlen <= 0 || (size_t)reqlen >= sizeof(req))
		return 2;

	int *fds = calloc((size_t)n, sizeof(int));
	if (!fds)
		return 1;
	int last_status = 0, bad = 0;
	struct timeval tv = { .tv_sec = 10 };
	for (int i = 0; i < n && !stop; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fprintf(stderr, "idleconns: socket #%d: %s\n", i, strerror(errno));
			return 1;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
			fprintf(stderr, "idleconns: connect #%d: %s\n", i, strerror(errno));
			return 1;
		}
		if (write(fd, req, (size_t)reqlen) != reqlen) {
			fprintf(stderr, "idleconns: write #%d: %s\n", i, strerror(errno));
			return 1;
		}
		int st = read_response(fd);
		if (st < 0) {
			fprintf(stderr, "idleconns: bad or missing response on #%d\n", i);
			return 1;
		}
		if (st < 200 || st > 299)
			bad++;
		last_status = st;
		fds[i] = fd;
	}
	if (stop)
		return 1;
	printf("ready %d %d\n", n, last_status);
	fflush(stdout);

	time_t deadline = time(NULL) + hold;
	while (!stop && time(NULL) < deadline)
		sleep(1);

	int open = 0, closed = 0;
	for (int i = 0; i < n; i++) {
		char c;
		ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT | MSG_PEEK);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			open++;
		else
			closed++; // EOF, reset, or unexpected bytes
	}
	printf("held %d %d\n", open, closed);
	fflush(stdout);
	if (bad)
		fprintf(stderr, "idleconns: %d responses were not 2xx\n", bad);
	return (bad || closed) ? 1 : 0;
}
