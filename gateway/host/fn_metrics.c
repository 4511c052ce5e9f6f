// SPDX-License-Identifier: MIT
/*
 * The function host's metrics (functions.h lists them): invocations, failures by cause,
 * refusals, queue depth and workers (computed when scraped), cold starts, respawns, deploys,
 * and each invocation's CPU time and peak memory as its worker reported them. The pools,
 * the queue and the deploy path record here; the request path's final stage `metrics`
 * records what only a finished request knows (its cost, a 429 of a full queue).
 */
#include <string.h>

#include "errors.h"
#include "host.h"
#include "metrics.h"
#include "server.h"

/* Cold starts: a worker's fork, sandbox, dlopen, init and verification, 1 ms to 30 s. */
static const uint64_t start_ns[] = { 1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
	100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
	30000000000 };
/* CPU time of an invocation, in µs: 10 µs to 30 s. */
static const uint64_t cpu_us[] = { 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000,
	50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000 };
/* Peak resident memory, in KiB: 1 MiB to 4 GiB, doubling. */
static const uint64_t rss_kb[] = { 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072,
	262144, 524288, 1048576, 2097152, 4194304 };

#define FN_VERSION { "function", "version" }
#define NB(a) (sizeof(a) / sizeof((a)[0]))

struct fng_metric_def fng__m_fn_invocations = {
	"fngate_function_invocations_total", "Invocations sent to a worker.", FNG_METRIC_COUNTER,
	FN_VERSION,
};
struct fng_metric_def fng__m_fn_errors = {
	"fngate_function_errors_total",
	"Invocations that failed, by cause (crash, seccomp, oom, cpu_limit, timeout, malformed).",
	FNG_METRIC_COUNTER, { "function", "version", "cause" },
};
struct fng_metric_def fng__m_fn_throttled = {
	"fngate_function_throttled_total",
	"Requests refused with 429 because the function's pool and queue were full.",
	FNG_METRIC_COUNTER, { "function" },
};
struct fng_metric_def fng__m_fn_cold_start = {
	"fngate_function_cold_start_seconds",
	"Time from asking for a worker to its verified READY.", FNG_METRIC_HISTOGRAM, FN_VERSION,
	start_ns, NB(start_ns), 1e9,
};
struct fng_metric_def fng__m_fn_respawns = {
	"fngate_function_respawns_total",
	"Workers of a live version that ended unexpectedly and are replaced on demand.",
	FNG_METRIC_COUNTER, FN_VERSION,
};
struct fng_metric_def fng__m_fn_deploys = {
	"fngate_function_deploys_total", "Deploy events by result (deployed, failed, removed).",
	FNG_METRIC_COUNTER, { "function", "result" },
};
struct fng_metric_def fng__m_fn_cpu = {
	"fngate_function_cpu_seconds",
	"CPU time (user + system) of an invocation, as its worker reported it.",
	FNG_METRIC_HISTOGRAM, FN_VERSION, cpu_us, NB(cpu_us), 1e6,
};
struct fng_metric_def fng__m_fn_rss = {
	"fngate_function_max_rss_bytes",
	"The worker's peak resident memory after an invocation, as it reported it.",
	FNG_METRIC_HISTOGRAM, FN_VERSION, rss_kb, NB(rss_kb), 1.0 / 1024,
};

static void collect_queue(struct fng_server *srv, struct fng_metric_def *def)
{
	struct fng_functions *fns = srv->fns;

	fng__metrics_zero(srv, def);
	for (unsigned i = 0; fns && i < fns->nfns; i++) {
		const char *v[] = { fns->fns[i]->name };

		fng__metric_set(fng__metric_series(srv, def, v), fns->fns[i]->nqueue);
	}
}

struct fng_metric_def fng__m_fn_queue = {
	"fngate_function_queue_depth", "Requests waiting for a worker.", FNG_METRIC_GAUGE,
	{ "function" }, .collect = collect_queue,
};

static void collect_workers(struct fng_server *srv, struct fng_metric_def *def)
{
	static const char *const names[W__COUNT] = { "starting", "starting", "idle", "busy",
		"retiring", "dead" };
	struct fng_functions *fns = srv->fns;

	fng__metrics_zero(srv, def);
	if (!fns) {
		return;
	}
	for (struct fng_list *it = fns->workers.next; it != &fns->workers; it = it->next) {
		const struct fng_worker *w = fng__container_of(it, struct fng_worker, all);
		const char *v[] = { w->gen ? w->gen->fn->name : "", w->gen ? w->gen->version : "",
			names[w->state] };

		if (w->state != W_DEAD) {
			fng__metric_gauge_add(fng__metric_series(srv, def, v), 1);
		}
	}
}

struct fng_metric_def fng__m_fn_workers = {
	"fngate_function_workers", "Workers by state (starting, idle, busy, retiring).",
	FNG_METRIC_GAUGE, { "function", "version", "state" }, .collect = collect_workers,
};

struct fng_metric_def *const fng__host_metrics[] = {
	&fng__m_fn_invocations, &fng__m_fn_errors, &fng__m_fn_throttled, &fng__m_fn_queue,
	&fng__m_fn_workers, &fng__m_fn_cold_start, &fng__m_fn_respawns, &fng__m_fn_deploys,
	&fng__m_fn_cpu, &fng__m_fn_rss, NULL,
};

const char *fng__host_cause(const struct fng_worker *w, int err)
{
	if (err == FNG_EGATEWAY_TIMEOUT) {
		return "timeout";
	}
	if (w->malformed) {
		return "malformed";
	}
	if (strcmp(w->cause, "seccomp") == 0) {
		return "seccomp";
	}
	if (strcmp(w->cause, "out of memory") == 0) {
		return "oom";
	}
	if (strcmp(w->cause, "cpu limit") == 0) {
		return "cpu_limit";
	}
	return "crash";
}

void fng__host_metric_fail(struct fng_worker *w, struct fng_req *req, int err)
{
	struct fng_server *srv = w->fns->srv;
	const char *cause = fng__host_cause(w, err);

	req->fn_cause = cause;
	if (srv && w->gen) {
		const char *v[] = { w->gen->fn->name, w->gen->version, cause };

		fng__metric_inc(srv, &fng__m_fn_errors, v);
	}
}

void fng__host_metric_deploy(struct fng_functions *fns, const char *function,
	const char *version, const char *event, const char *detail)
{
	const char *v[] = { function, event };

	if (fns->srv) {
		fng__metric_inc(fns->srv, &fng__m_fn_deploys, v);
		fng__metrics_recent_deploy(fns->srv, function, version, event, detail);
	}
}
