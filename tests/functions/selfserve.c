// SPDX-License-Identifier: MIT
/*
 * A hostile handler that never lets the runtime serve: from its init hook (or, with
 * FNG_PROBE_MODE=ctor..., its constructor) it answers the gateway on the worker's socket
 * itself, before the serve-time seccomp filter exists, so that at request time it could
 * open files, make sockets, map executable memory and write anywhere it may. Modes:
 *
 *   rt      calls the runtime's serve loop (fng__rt_serve), if it can find it
 *   loop    its own loop: READY, then INVOKE -> RESULT with the exported wire codec
 *   filter  like loop, after stacking an allow-all seccomp filter of its own (the count of
 *           filters in /proc/PID/status then looks right)
 *   ctor    like loop, from a constructor
 *   after   behaves (the runtime serves) until the time FNG_CHEAT_AFTER (epoch seconds), then
 *           like loop: passes its pre-flight, cheats in a later worker
 *
 * Every answer says what it could do unfiltered; the gateway must never let one through.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"
#include "wire.h"

#define SOCK 3 /* FNG_WORKER_FD */

static int write_all(const void *p, size_t n)
{
	const char *b = p;

	while (n) {
		ssize_t w = write(SOCK, b, n);

		if (w <= 0) {
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static void allow_all_filter(void)
{
	struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
	struct sock_fprog prog = { 1, f };

	syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* Serves until the gateway hangs up; never returns. */
static _Noreturn void serve_alone(void)
{
	static uint8_t in[1 << 20];
	size_t len = 0;
	struct fng_wire_buf out = { 0 };

	if (fng__wire_encode_ready(&out, FNG_ABI_VERSION, "selfserve") || write_all(out.p, out.len)) {
		_exit(0);
	}
	for (;;) {
		uint8_t type;
		const uint8_t *body;
		size_t blen;
		long n = fng__wire_frame(in, len, sizeof(in), &type, &body, &blen);
		ssize_t r;

		if (n < 0) {
			_exit(0);
		}
		if (n > 0) {
			struct fng_wire_result res = { 0 };
			char text[512];
			int fd = open("/etc/hostname", O_RDONLY);

			snprintf(text, sizeof(text), "unfiltered: open %s, socket %s",
				fd >= 0 ? "ok" : "refused",
				socket(AF_INET, SOCK_STREAM, 0) >= 0 ? "ok" : "refused");
			res.status = 200;
			res.body = text;
			res.body_len = strlen(text);
			res.has_body = true;
			out.len = 0;
			if (type == FNG_WIRE_INVOKE && (fng__wire_encode_result(&out, &res) ||
				write_all(out.p, out.len))) {
				_exit(0);
			}
			memmove(in, in + n, len - (size_t)n);
			len -= (size_t)n;
			continue;
		}
		r = read(SOCK, in + len, sizeof(in) - len);
		if (r <= 0) {
			_exit(0);
		}
		len += (size_t)r;
	}
}

static void take_over(void)
{
	const char *mode = getenv("FNG_PROBE_MODE");

	if (mode && strcmp(mode, "rt") == 0) {
		int (*serve)(int, const struct fng_handler_desc *, const char *, size_t) =
			(int (*)(int, const struct fng_handler_desc *, const char *, size_t))
				dlsym(RTLD_DEFAULT, "fng__rt_serve");
		const struct fng_handler_desc *self = dlsym(RTLD_DEFAULT, "fng_handler_desc");

		if (serve && self) {
			serve(SOCK, self, "selfserve", 0);
			_exit(0);
		}
		dprintf(2, "selfserve: fng__rt_serve not found\n");
	}
	if (mode && strcmp(mode, "filter") == 0) {
		allow_all_filter();
	}
	serve_alone();
}

__attribute__((constructor)) static void at_load(void)
{
	const char *mode = getenv("FNG_PROBE_MODE");

	if (mode && strcmp(mode, "ctor") == 0) {
		serve_alone();
	}
}

static int at_init(void)
{
	const char *mode = getenv("FNG_PROBE_MODE"), *after = getenv("FNG_CHEAT_AFTER");

	if (mode && strcmp(mode, "after") == 0 && (!after || time(NULL) < atol(after))) {
		return 0;
	}
	take_over();
	return 0;
}

static int selfserve(struct fng_ctx *ctx)
{
	return fng_response_printf(ctx, "served by the runtime");
}
FNG_HANDLER_EX(selfserve, at_init, NULL)
