// SPDX-License-Identifier: MIT
/*
 * fn_bench: a bench-only handler for bench/functions.sh (never deployed by `make demo`).
 *
 * It answers what examples/hello answers for GET /.../{name}, plus three headers that let the
 * benchmark tell workers and versions apart from outside:
 *
 *   x-bench-pid        the worker's pid (taken in the init hook, before the sandbox locks)
 *   x-bench-loaded-ns  CLOCK_REALTIME in ns when the .so's constructor ran (dlopen) in that
 *                      worker: the cold-start driver compares it with its own clock
 *   x-bench-build      BENCH_VERSION, given at compile time (-DBENCH_VERSION="\"7\""), so that
 *                      every cold-start variant is a different file with a different hash
 *
 * `?crash=1` makes it write through a NULL pointer (SIGSEGV): the respawn benchmark.
 *
 *     cc -shared -fPIC -O2 -o fn_bench.so bench/fn_bench.c $(pkg-config --cflags --libs fngate)
 */
#include <fngate.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_VERSION
#define BENCH_VERSION "0"
#endif

static char loaded_ns[24];
static char pid[16];

__attribute__((constructor)) static void at_load(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(loaded_ns, sizeof(loaded_ns), "%lld",
		(long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

static int bench_init(void)
{
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return 0;
}

static int bench(struct fng_ctx *ctx)
{
	const char *crash = fng_event_query(ctx, "crash");
	const char *name = fng_event_path_param(ctx, "name");
	const char *greeting = fng_event_stage_var(ctx, "greeting");

	if (crash && crash[0] == '1') {
		*(volatile int *)0 = 1;
	}
	fng_response_header(ctx, "x-bench-pid", pid);
	fng_response_header(ctx, "x-bench-loaded-ns", loaded_ns);
	fng_response_header(ctx, "x-bench-build", BENCH_VERSION);
	return fng_response_json(ctx, 200, "{\"message\":\"%s, %s\",\"stage\":\"%s\"}\n",
		fng_json_str(ctx, greeting ? greeting : "hello"),
		fng_json_str(ctx, name ? name : "world"), fng_json_str(ctx, fng_event_stage(ctx)));
}

FNG_HANDLER_EX(bench, bench_init, NULL)
