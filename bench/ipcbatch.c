// SPDX-License-Identifier: MIT
//
// ipcbatch: what one gateway <-> worker exchange costs on this machine, as a function of how
// many invocations share one wake-up of the worker. Not fngate code: a model of its function
// path for bench/functions.sh, to put numbers on "send several INVOKE frames per write".
//
//   ipcbatch [CPU_PARENT CPU_CHILD] [MESSAGES=200000]
//
// A parent ("gateway") and a forked child ("worker") share a SOCK_STREAM socketpair, as fngate's
// do. For each batch size K in 1 2 4 8 16 32, the parent writes K request frames of 509 bytes
// (the size of hello's INVOKE frame) in one write(2) and reads until K response frames of 125
// bytes (hello's RESULT) are back; the child reads what is there (a 5-byte header then the body,
// frame by frame, exactly as sdk/runtime.c reads: two read(2)s per frame) and answers each frame
// with its own write(2), as sdk/runtime.c does. A second child variant ("buffered") reads
// everything available with one read(2) and answers the whole batch with one write(2).
//
// CPU_PARENT / CPU_CHILD pin the two processes (-1: not pinned). Output: one line per
// (variant, K): nanoseconds per invocation (wall clock, parent side), and the context switches
// per invocation of both processes (getrusage: voluntary + involuntary).
//
// Build: gcc -O2 -Wall -o ipcbatch bench/ipcbatch.c

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
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

// The worker as sdk/runtime.c is: header read, body read, one write per RESULT.
static void child_runtime(int fd)
{
	uint8_t hdr[5], body[REQ], resp[RESP];

	frame(resp, RESP, 3);
	for (;;) {
		if (read_full(fd, hdr, 5) || hdr[4] == 9) {
			_exit(0);
		}
		if (read_full(fd, body, REQ - 5) || write_full(fd, resp, RESP)) {
			_exit(1);
		}
	}
}

// A worker that reads everything available at once and answers the batch in one write.
static void child_buffered(int fd)
{
	static uint8_t in[REQ * MAXK * 2], out[RESP * MAXK * 2];
	size_t have = 0;

	for (;;) {
		ssize_t r = read(fd, in + have, sizeof(in) - have);
		size_t off = 0, nout = 0;

		if (r <= 0) {
			_exit(r == 0 ? 0 : 1);
		}
		have += (size_t)r;
		while (have - off >= REQ) {
			if (in[off + 4] == 9) {
				_exit(0);
			}
			frame(out + nout, RESP, 3);
			nout += RESP;
			off += REQ;
		}
		if (have - off >= 5 && in[off + 4] == 9) {
			_exit(0);
		}
		memmove(in, in + off, have - off);
		have -= off;
		if (nout && write_full(fd, out, nout)) {
			_exit(1);
		}
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
	int sv[2];
	pid_t pid;
	long batches = messages / k, sw0;
	double t0, t1;
	uint8_t bye[5];
	struct rusage cru;
	int st;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("socketpair");
		exit(1);
	}
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		pin(cpu_c);
		if (strcmp(variant, "runtime") == 0) {
			child_runtime(sv[1]);
		}
		child_buffered(sv[1]);
	}
	close(sv[1]);
	for (int i = 0; i < k; i++) {
		frame(req + i * REQ, REQ, 2);
	}
	// Warm up, then measure.
	for (long b = 0; b < 1000 / k + 1; b++) {
		if (write_full(sv[0], req, (size_t)k * REQ) || read_full(sv[0], resp, (size_t)k * RESP)) {
			exit(1);
		}
	}
	sw0 = switches(RUSAGE_SELF);
	t0 = now_ns();
	for (long b = 0; b < batches; b++) {
		if (write_full(sv[0], req, (size_t)k * REQ) || read_full(sv[0], resp, (size_t)k * RESP)) {
			fprintf(stderr, "ipcbatch: the child went away\n");
			exit(1);
		}
	}
	t1 = now_ns();
	sw0 = switches(RUSAGE_SELF) - sw0;
	frame(bye, 5, 9);
	write_full(sv[0], bye, 5);
	close(sv[0]);
	wait4(pid, &st, 0, &cru);
	printf("%s k=%d ns_per_invocation=%.0f parent_switches_per_invocation=%.2f "
	       "child_switches_per_invocation=%.2f\n",
		variant, k, (t1 - t0) / (double)(batches * k), (double)sw0 / (double)(batches * k),
		(double)(cru.ru_nvcsw + cru.ru_nivcsw) / (double)(batches * k + 1000));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int cpu_p = argc > 2 ? atoi(argv[1]) : -1, cpu_c = argc > 2 ? atoi(argv[2]) : -1;
	long messages = argc > 3 ? atol(argv[3]) : 200000;
	static const int ks[] = { 1, 2, 4, 8, 16, 32 };

	signal(SIGPIPE, SIG_IGN);
	pin(cpu_p);
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		run("runtime", ks[i], messages, cpu_c);
	}
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		run("buffered", ks[i], messages, cpu_c);
	}
	return 0;
}
