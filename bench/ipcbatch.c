// SPDX-License-Identifier: MIT
//
// ipcbatch: what one gateway <-> worker exchange costs on this machine, as a function of how
// many invocations share one wake-up of the worker, and of the channel. Not fngate code: a
// model of its function path for bench/functions.sh.
//
//   ipcbatch [CPU_PARENT CPU_CHILD] [MESSAGES=200000]
//
// A parent ("gateway") and a forked child ("worker") exchange frames of hello's sizes: for each
// batch size K in 1 2 4 8 16 32, the parent writes K request frames of 509 bytes (hello's
// INVOKE) in one write(2) and reads until K response frames of 125 bytes (hello's RESULT) are
// back. The child reads what is there with one read(2) and answers. Variants:
//
//   runtime  a SOCK_STREAM socketpair (as fngate's), one write per RESULT (as sdk/runtime.c)
//   batched  the socketpair, one write for all the RESULTs of what one read brought
//   poll     batched, and the child waits in poll(POLLIN) before each read
//   pipes    batched, over two pipes (one each way) instead of the socketpair
//
// Why poll and pipes: when the parent reads RESULTs from a socketpair, the freed send buffer
// wakes the child's socket wait queue (unix_write_space, EPOLLOUT), and a child blocked in
// read(2) on that socket is woken for nothing and sleeps again. poll(POLLIN) waits are keyed
// and ignore that wake-up; a pipe has separate queues for readers and writers.
//
// CPU_PARENT / CPU_CHILD pin the two processes (-1: not pinned). Output: one line per
// (variant, K): nanoseconds per invocation (wall clock, parent side), and the context switches
// per invocation of the parent and of the child (getrusage: voluntary + involuntary).
//
// Build: gcc -O2 -Wall -o ipcbatch bench/ipcbatch.c

#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REQ 509
#define RESP 125
#define MAXK 32

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0) {
		return;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		perror("sched_setaffinity");
		exit(1);
	}
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void frame(uint8_t *p, size_t len, uint8_t type)
{
	uint32_t l = (uint32_t)(len - 4);

	memset(p, 0x61, len);
	p[0] = (uint8_t)(l >> 24);
	p[1] = (uint8_t)(l >> 16);
	p[2] = (uint8_t)(l >> 8);
	p[3] = (uint8_t)l;
	p[4] = type;
}

// The worker: reads what is there, answers every complete frame (type 9 ends it).
static void child(int rfd, int wfd, bool batch, bool poll_first)
{
	static uint8_t in[REQ * MAXK * 2], out[RESP * MAXK * 2];
	size_t have = 0;

	for (;;) {
		ssize_t r;
		size_t off = 0, nout = 0;

		if (poll_first) {
			struct pollfd pfd = { rfd, POLLIN, 0 };

			while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
			}
		}
		r = read(rfd, in + have, sizeof(in) - have);
		if (r <= 0) {
			_exit(r == 0 ? 0 : 1);
		}
		have += (size_t)r;
		while (have - off >= 5 && in[off + 4] != 9 && have - off >= REQ) {
			frame(out + nout, RESP, 3);
			nout += RESP;
			off += REQ;
			if (!batch) {
				if (write_full(wfd, out, RESP)) {
					_exit(1);
				}
				nout = 0;
			}
		}
		if (nout && write_full(wfd, out, nout)) {
			_exit(1);
		}
		if (have - off >= 5 && in[off + 4] == 9) {
			_exit(0);
		}
		memmove(in, in + off, have - off);
		have -= off;
	}
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static long switches(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

static void run(const char *variant, int k, long messages, int cpu_c)
{
	static uint8_t req[REQ * MAXK], resp[RESP * MAXK];
	int sv[2], down[2], up[2], prd, pwr, crd, cwr;
	bool pipes = strcmp(variant, "pipes") == 0;
	long batches = messages / k, warm = 1000 / k + 1, sw0;
	double t0, t1;
	uint8_t bye[5];
	struct rusage cru;
	pid_t pid;
	int st;

	if (pipes) {
		if (pipe(down) != 0 || pipe(up) != 0) {
			perror("pipe");
			exit(1);
		}
		prd = up[0];
		pwr = down[1];
		crd = down[0];
		cwr = up[1];
	} else {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
			perror("socketpair");
			exit(1);
		}
		prd = pwr = sv[0];
		crd = cwr = sv[1];
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		close(prd);
		if (pwr != prd) {
			close(pwr);
		}
		pin(cpu_c);
		child(crd, cwr, strcmp(variant, "runtime") != 0, strcmp(variant, "poll") == 0);
	}
	close(crd);
	if (cwr != crd) {
		close(cwr);
	}
	for (int i = 0; i < k; i++) {
		frame(req + i * REQ, REQ, 2);
	}
	// Warm up, then measure.
	for (long b = 0; b < warm; b++) {
		if (write_full(pwr, req, (size_t)k * REQ) || read_full(prd, resp, (size_t)k * RESP)) {
			exit(1);
		}
	}
	sw0 = switches(RUSAGE_SELF);
	t0 = now_ns();
	for (long b = 0; b < batches; b++) {
		if (write_full(pwr, req, (size_t)k * REQ) || read_full(prd, resp, (size_t)k * RESP)) {
			fprintf(stderr, "ipcbatch: the child went away\n");
			exit(1);
		}
	}
	t1 = now_ns();
	sw0 = switches(RUSAGE_SELF) - sw0;
	frame(bye, 5, 9);
	write_full(pwr, bye, 5);
	close(pwr);
	if (prd != pwr) {
		close(prd);
	}
	wait4(pid, &st, 0, &cru);
	printf("%s k=%d ns_per_invocation=%.0f parent_switches_per_invocation=%.2f "
	       "child_switches_per_invocation=%.2f\n",
		variant, k, (t1 - t0) / (double)(batches * k), (double)sw0 / (double)(batches * k),
		(double)(cru.ru_nvcsw + cru.ru_nivcsw) / (double)((batches + warm) * k));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const int ks[] = { 1, 2, 4, 8, 16, 32 };
	static const char *const variants[] = { "runtime", "batched", "poll", "pipes" };
	int cpu_p = argc > 2 ? atoi(argv[1]) : -1, cpu_c = argc > 2 ? atoi(argv[2]) : -1;
	long messages = argc > 3 ? atol(argv[3]) : 200000;

	signal(SIGPIPE, SIG_IGN);
	pin(cpu_p);
	for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
			run(variants[v], ks[i], messages, cpu_c);
		}
	}
	return 0;
}
