// SPDX-License-Identifier: MIT
/*
 * The handler runtime inside a worker process: after the sandbox has loaded the handler and
 * locked the process down, fng__rt_serve() reads INVOKE frames from the socketpair, runs the
 * handler on a struct fng_ctx and writes one RESULT per INVOKE. It is the last code between a
 * request and a handler, and it runs under the narrowest seccomp policy fngate has: read,
 * write, poll, clock_gettime, getrusage(RUSAGE_SELF) and the allocator's memory calls.
 * Nothing here may use stdio or ask the kernel anything else (no getpid, no fstat).
 *
 * Each RESULT carries what its invocation cost (Lambda's REPORT line): the CPU time the
 * process used while the handler ran and its peak resident set, from one getrusage() before
 * the handler and one after (two system calls; CLOCK_PROCESS_CPUTIME_ID would need a third
 * for the peak). The worker runs one invocation at a time and nothing else, so the process's
 * time is the invocation's; the peak is the worker's since it started, which is what bounds
 * its memory.
 *
 * The wait for the next INVOKE is poll(POLLIN), then read(2): a task blocked in read(2) on a
 * socket is woken by every wake-up of the socket's queue, including the one the gateway
 * causes each time it reads RESULTs and frees send-buffer space (unix_write_space) — a
 * wake-up, on the other vCPU, for nothing. poll's wait is keyed and ignores it.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"
#include "sdk_internal.h"
#include "wire.h"
#include "wire_limits.h"

/* Buffers bigger than this are freed after an invocation instead of kept for the next. */
#define KEEP_BUFFER (256 * 1024)

int fng__rt_ready(int fd, const struct fng_handler_desc *desc)
{
	struct fng_wire_buf b = { 0 };
	int err;

	if (!desc) {
		return -EINVAL;
	}
	err = fng__wire_encode_ready(&b, desc->abi, desc->name);
	if (!err) {
		err = fng__sdk_write_all(fd, b.p, b.len);
	}
	fng__wire_buf_finish(&b);
	return err;
}

/* Puts the response back to its defaults and releases what the last invocation used. */
static void ctx_reset(struct fng_ctx *ctx)
{
	fng__wire_free(ctx->ev_handle);
	ctx->ev_handle = NULL;
	memset(&ctx->ev, 0, sizeof(ctx->ev));
	ctx->status = 200;
	ctx->nheaders = 0;
	ctx->ncookies = 0;
	ctx->budget = FNG__RESULT_FIXED;
	ctx->overflowed = false;
	ctx->body_written = false;
	memset(&ctx->authz, 0, sizeof(ctx->authz));
	memset(&ctx->cache, 0, sizeof(ctx->cache));
	ctx->cache_charged = 0;
	ctx->body.len = 0;
	if (ctx->body.cap > KEEP_BUFFER) {
		fng__wire_buf_finish(&ctx->body);
	}
	ctx->out.len = 0;
	if (ctx->out.cap > KEEP_BUFFER) {
		fng__wire_buf_finish(&ctx->out);
	}
	fng__sarena_reset(&ctx->scratch);
}

static void ctx_finish(struct fng_ctx *ctx)
{
	ctx_reset(ctx);
	free(ctx->headers);
	free(ctx->cookies);
	free(ctx->authz_ctx);
	fng__wire_buf_finish(&ctx->body);
	fng__wire_buf_finish(&ctx->out);
	fng__sarena_finish(&ctx->scratch);
}

static uint64_t cpu_us(const struct rusage *ru)
{
	return (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000 +
	       (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec);
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * The cost of the invocation that started at *before and at t0 (monotonic µs; getrusage
 * failed then: not measured). Kept within the wire's caps, so that a handler burning a day of
 * CPU still gets its RESULT.
 */
static struct fng_wire_cost cost_since(const struct rusage *before, bool measured, uint64_t t0)
{
	struct fng_wire_cost c = { 0 };
	struct rusage now;
	uint64_t a, b, t1 = mono_us();

	if (!measured || getrusage(RUSAGE_SELF, &now) != 0) {
		return c;
	}
	c.wall_us = t1 > t0 ? t1 - t0 : 0;
	c.wall_us = c.wall_us < FNG_WIRE_MAX_CPU_US ? c.wall_us : FNG_WIRE_MAX_CPU_US;
	a = cpu_us(before);
	b = cpu_us(&now);
	c.set = true;
	c.cpu_us = b > a ? b - a : 0;
	c.cpu_us = c.cpu_us < FNG_WIRE_MAX_CPU_US ? c.cpu_us : FNG_WIRE_MAX_CPU_US;
	c.max_rss_kb = now.ru_maxrss > 0 ? (uint64_t)now.ru_maxrss : 0;
	c.max_rss_kb = c.max_rss_kb < FNG_WIRE_MAX_RSS_KB ? c.max_rss_kb : FNG_WIRE_MAX_RSS_KB;
	return c;
}

/*
 * One INVOKE: decode, run the handler, send RESULT. A handler that returned < 0, or whose
 * response outgrew the payload cap (even if it ignored the -1), gets a RESULT with failed set,
 * its cost and nothing of what it built (the gateway answers 502 either way, and a half-built
 * response should not leak). 0 or -errno; errors end the serve loop.
 */
static int invoke(struct fng_ctx *ctx, const struct fng_handler_desc *desc,
	const uint8_t *body, size_t len)
{
	struct fng_wire_result r = { 0 };
	struct fng_wire_cost cost;
	struct rusage before;
	uint64_t t0;
	bool measured;
	int rc, err;

	ctx_reset(ctx);
	err = fng__wire_decode_invoke(body, len, &ctx->ev, &ctx->ev_handle);
	if (err) {
		return err;
	}
	measured = getrusage(RUSAGE_SELF, &before) == 0;
	t0 = mono_us();
	rc = desc->handle ? desc->handle(ctx) : -1;
	cost = cost_since(&before, measured, t0);
	if (rc >= 0 && !ctx->overflowed) {
		r.status = ctx->status;
		r.headers = ctx->headers;
		r.nheaders = ctx->nheaders;
		r.cookies = ctx->cookies;
		r.ncookies = ctx->ncookies;
		r.body = ctx->body.p;
		r.body_len = ctx->body.len;
		r.has_body = ctx->body_written;
		r.authz = ctx->authz;
		r.authz.context = ctx->authz_ctx;
		r.cache = ctx->cache;
	} else {
		r.status = 502;
		r.failed = true;
	}
	r.cost = cost; /* a failure costs too: it is the one RESULT key a failed one keeps */
	ctx->out.len = 0;
	err = fng__wire_encode_result(&ctx->out, &r);
	if (err == -ENOMEM && !r.failed) {
		/* Out of memory for the copy: the gateway still gets its one RESULT (a 502). */
		r = (struct fng_wire_result){ .status = 502, .failed = true, .cost = cost };
		err = fng__wire_encode_result(&ctx->out, &r);
	}
	if (!err) {
		err = fng__sdk_write_all(ctx->fd, ctx->out.p, ctx->out.len);
	}
	ctx_reset(ctx);
	return err;
}

int fng__rt_serve(int fd, const struct fng_handler_desc *desc, const char *function,
	size_t max_body, const struct fng_grants *grants)
{
	struct fng_ctx ctx = { 0 };
	struct fng_wire_buf in = { 0 };
	size_t off = 0;
	int err;

	if (!desc) {
		return -EINVAL;
	}
	ctx.fd = fd;
	ctx.max_body = max_body ? max_body : FNG_WIRE_MAX_DEFAULT;
	ctx.function = function ? function : "";
	ctx.grants = grants;
	/*
	 * Buffered: one read(2) usually brings a whole INVOKE (header and body), so an
	 * invocation costs the worker one read and one write.
	 */
	for (;;) {
		uint8_t type;
		const uint8_t *body;
		size_t blen;
		long n = fng__wire_frame(in.p ? in.p + off : (const uint8_t *)"", in.len - off,
			ctx.max_body, &type, &body, &blen);
		ssize_t r;

		if (n < 0) {
			err = -EPROTO;
			break;
		}
		if (n == 0) {
			size_t need = 64 * 1024;

			if (off) {
				memmove(in.p, in.p + off, in.len - off);
				in.len -= off;
				off = 0;
			}
			if (in.len >= FNG_WIRE_HEADER) {
				size_t total = FNG_WIRE_HEADER - 1 + ((size_t)in.p[0] << 24 |
					(size_t)in.p[1] << 16 | (size_t)in.p[2] << 8 | in.p[3]);

				need = total > need ? total : need;
			}
			if (in.cap < need) {
				uint8_t *q = realloc(in.p, need);

				if (!q) {
					err = -ENOMEM;
					break;
				}
				in.p = q;
				in.cap = need;
			}
			do {
				struct pollfd pfd = { fd, POLLIN, 0 };

				r = poll(&pfd, 1, -1);
				if (r >= 0) {
					r = read(fd, in.p + in.len, in.cap - in.len);
				}
			} while (r < 0 && errno == EINTR);
			if (r == 0) {
				/* EOF between frames: the gateway is done with us. */
				err = in.len ? -EPROTO : 0;
				break;
			}
			if (r < 0) {
				err = -errno;
				break;
			}
			in.len += (size_t)r;
			continue;
		}
		off += (size_t)n;
		if (type == FNG_WIRE_INVOKE) {
			err = invoke(&ctx, desc, body, blen);
		} else if (type == FNG_WIRE_SHUTDOWN) {
			/* The body is an empty map; anything else is not the gateway talking. */
			if (blen != 1 || body[0] != 0x80) {
				err = -EPROTO;
				break;
			}
			if (desc->shutdown) {
				desc->shutdown();
			}
			break;
		} else {
			err = -EPROTO;
		}
		if (err) {
			break;
		}
		if (off == in.len) {
			off = in.len = 0;
			if (in.cap > KEEP_BUFFER) {
				fng__wire_buf_finish(&in);
			}
		}
	}
	fng__wire_buf_finish(&in);
	ctx_finish(&ctx);
	return err;
}
