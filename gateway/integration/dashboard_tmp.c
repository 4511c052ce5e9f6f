// SPDX-License-Identifier: MIT
/*
 * TEMPORARY — replaced by core/metrics.c at merge (branch i16-metrics): the lead deletes this
 * file, its line in meson.build, the call in stages/access_log.c and the declaration of
 * fng__dashboard_tmp_record() in dashboard.h, and the dashboard uses the registry's
 * fng__metrics_render() and fng__metrics_recent_json() instead.
 *
 * Until then, a small stand-in so that the dashboard has something real to show: the access
 * log stage hands every finished request to fng__dashboard_tmp_record(), which counts it by
 * api/stage/route (count, status codes, 4xx, 5xx, latency and integration latency
 * histograms), by function (invocations, errors by cause, CPU and peak memory histograms from
 * the worker's report), WebSocket handshakes, messages and disconnects by API, and keeps the
 * last 100 errors. Function versions, workers, cold starts, topics and deploys are not
 * visible from here and are left out (the page shows them once the registry has them).
 * State is process-wide (one loop serves), bounded by the tables below.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "dashboard.h"
#include "request.h"

#define TMP_SERIES 256
#define TMP_FNS 64
#define TMP_APIS 32
#define TMP_CODES 8
#define TMP_RECENT 100

static const double lat_le[] = { 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NLAT (sizeof(lat_le) / sizeof(lat_le[0]))
static const double cpu_le[] = { 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5 };
#define NCPU (sizeof(cpu_le) / sizeof(cpu_le[0]))
static const double mem_le[] = { 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20,
	1024.0 * (1 << 20) };
#define NMEM (sizeof(mem_le) / sizeof(mem_le[0]))

struct hist {
	uint64_t b[NLAT + 1];  /* per bucket (not cumulative); the last is +Inf */
	uint64_t n;
	double sum;
};

struct series {
	char api[64], stage[64], route[128];
	uint64_t count, e4, e5;
	int codes[TMP_CODES];
	uint64_t ncodes[TMP_CODES];
	struct hist lat, ilat;
};

static const char *const causes[] = { "crash", "seccomp", "oom", "timeout", "malformed",
	"throttled" };
#define NCAUSES (sizeof(causes) / sizeof(causes[0]))

struct fnser {
	char name[64];
	uint64_t inv, err[NCAUSES];
	struct hist cpu, mem;
};

struct apiws {
	char api[64];
	uint64_t opened, closed, msg_in, msg_out;
};

struct recent {
	char time[64], rid[40], api[64], stage[64], route[128], error[192], fn[64];
	int status;
	int cause; /* index in causes, or -1 */
};

static struct {
	struct series s[TMP_SERIES];
	unsigned ns;
	struct fnser f[TMP_FNS];
	unsigned nf;
	struct apiws w[TMP_APIS];
	unsigned nw;
	struct recent r[TMP_RECENT];
	unsigned rhead, rn;
} T;

static void hist_add(struct hist *h, const double *le, size_t n, double v)
{
	size_t i = 0;

	while (i < n && v > le[i]) {
		i++;
	}
	h->b[i]++;
	h->n++;
	h->sum += v;
}

static void cpy(char *dst, size_t size, const char *s)
{
	snprintf(dst, size, "%s", s ? s : "");
}

static int cause_of(const struct fng_req *req)
{
	const char *d = req->error_detail ? req->error_detail : "";
	int st = req->resp.status;

	if (st == 429) {
		return 5;
	}
	if (st == 504 || strstr(d, "timed out")) {
		return 3;
	}
	if (strstr(d, "seccomp")) {
		return 1;
	}
	if (strstr(d, "out of memory")) {
		return 2;
	}
	if (strstr(d, "(SIG") || strstr(d, "(signal") || strstr(d, "(exit") ||
		strstr(d, "worker exited")) {
		return 0;
	}
	if (strstr(d, "returned") || strstr(d, "malformed")) {
		return 4;
	}
	return -1;
}

static struct apiws *ws_of(const char *api)
{
	for (unsigned i = 0; i < T.nw; i++) {
		if (strcmp(T.w[i].api, api) == 0) {
			return &T.w[i];
		}
	}
	if (T.nw == TMP_APIS) {
		return NULL;
	}
	cpy(T.w[T.nw].api, sizeof(T.w[0].api), api);
	return &T.w[T.nw++];
}

static struct fnser *fn_of(const char *name)
{
	for (unsigned i = 0; i < T.nf; i++) {
		if (strcmp(T.f[i].name, name) == 0) {
			return &T.f[i];
		}
	}
	if (T.nf == TMP_FNS) {
		return NULL;
	}
	cpy(T.f[T.nf].name, sizeof(T.f[0].name), name);
	return &T.f[T.nf++];
}

static struct series *series_of(const char *api, const char *stage, const char *route)
{
	for (unsigned i = 0; i < T.ns; i++) {
		struct series *s = &T.s[i];

		if (!strcmp(s->api, api) && !strcmp(s->stage, stage) && !strcmp(s->route, route)) {
			return s;
		}
	}
	if (T.ns == TMP_SERIES) {
		return NULL;
	}
	cpy(T.s[T.ns].api, sizeof(T.s[0].api), api);
	cpy(T.s[T.ns].stage, sizeof(T.s[0].stage), stage);
	cpy(T.s[T.ns].route, sizeof(T.s[0].route), route);
	return &T.s[T.ns++];
}

static void record_error(const struct fng_req *req, const char *api, const char *stage,
	const char *route, const char *fn)
{
	struct recent *r = &T.r[(T.rhead + T.rn) % TMP_RECENT];
	struct timespec ts;
	struct tm tm;

	if (T.rn == TMP_RECENT) {
		T.rhead = (T.rhead + 1) % TMP_RECENT;
	} else {
		T.rn++;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(r->time, sizeof(r->time), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000);
	snprintf(r->rid, sizeof(r->rid), "%.*s", (int)req->request_id_len, req->request_id);
	cpy(r->api, sizeof(r->api), api);
	cpy(r->stage, sizeof(r->stage), stage);
	cpy(r->route, sizeof(r->route), route);
	cpy(r->fn, sizeof(r->fn), fn);
	cpy(r->error, sizeof(r->error), req->error ? (req->error_detail ? req->error_detail :
		"error") : "the integration answered an error");
	r->status = req->resp.status;
	r->cause = cause_of(req);
}

static void record_route(struct series *s, const struct fng_req *req, uint64_t now)
{
	int st = req->resp.status;

	s->count++;
	s->e4 += st >= 400 && st < 500;
	s->e5 += st >= 500;
	for (unsigned i = 0; i < TMP_CODES; i++) {
		if (s->codes[i] == st || !s->codes[i]) {
			s->codes[i] = st;
			s->ncodes[i]++;
			break;
		}
	}
	hist_add(&s->lat, lat_le, NLAT, (double)(now - req->t_start) / 1e9);
	if (req->t_integration_end) {
		hist_add(&s->ilat, lat_le, NLAT,
			(double)(req->t_integration_end - req->t_integration_start) / 1e9);
	}
}

void fng__dashboard_tmp_record(const struct fng_req *req)
{
	const char *api = req->api ? req->api->name : "";
	const char *stage = req->stage ? req->stage->name : "";
	const char *route = req->match.route ? req->match.route->key : "";
	const char *fn = NULL;
	struct series *s;
	struct apiws *w;
	int st = req->resp.status;
	uint64_t now = uv_hrtime();

	/* A function's request that reached it (not one a stage refused before). */
	if (req->match.route && req->match.route->integration.type == FNG_INTEGRATION_FUNCTION &&
		req->t_integration_start) {
		fn = req->match.route->integration.function;
	}
	if (req->api && req->api->protocol == FNG_API_WEBSOCKET && (w = ws_of(api)) != NULL) {
		if (req->ws.accept && st == 101) {
			w->opened++;
		} else if (req->event == FNG_EVENT_DISCONNECT) {
			w->closed++;
		} else if (req->event == FNG_EVENT_MESSAGE) {
			w->msg_in++;
			w->msg_out += req->bytes_out ? 1 : 0;
		}
	}
	if (req->match.route && req->match.route->integration.type == FNG_INTEGRATION_ADMIN) {
		return; /* the admin API is not an API's traffic */
	}
	/* A schedule's run is no API's traffic: its function counts, no route does. */
	s = req->api ? series_of(api, stage, route) : NULL;
	if (s) {
		record_route(s, req, now);
	}
	if (fn) {
		struct fnser *f = fn_of(fn);
		int c = st >= 400 ? cause_of(req) : -1;

		if (f) {
			f->inv++;
			if (c >= 0) {
				f->err[c]++;
			}
			if (req->cost.set) {
				double kb = (double)req->cost.max_rss_kb;

				hist_add(&f->cpu, cpu_le, NCPU, (double)req->cost.cpu_us / 1e6);
				hist_add(&f->mem, mem_le, NMEM, kb * 1024);
			}
		}
	}
	if (st >= 500 || (fn && st >= 400)) {
		record_error(req, api, stage, route, fn);
	}
}

/* ---- the exposition ---- */

static void label(struct fng_buf *b, const char *name, const char *v, bool first)
{
	fng__buf_str(b, first ? "" : ",");
	fng__buf_str(b, name);
	fng__buf_str(b, "=\"");
	for (; *v; v++) {
		if (*v == '"' || *v == '\\') {
			fng__buf_append(b, "\\", 1);
			fng__buf_append(b, v, 1);
		} else if (*v == '\n') {
			fng__buf_str(b, "\\n");
		} else {
			fng__buf_append(b, v, 1);
		}
	}
	fng__buf_str(b, "\"");
}

static void route_labels(struct fng_buf *b, const struct series *s)
{
	label(b, "api", s->api, true);
	label(b, "stage", s->stage, false);
	label(b, "route", s->route, false);
}

static void head(struct fng_buf *b, const char *name, const char *type, const char *help)
{
	fng__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hist_out(struct fng_buf *b, const char *name, const struct hist *h,
	const double *le, size_t n, const char *labels)
{
	uint64_t cum = 0;

	for (size_t i = 0; i <= n; i++) {
		cum += h->b[i];
		if (i < n) {
			fng__buf_printf(b, "%s_bucket{%s,le=\"%g\"} %lu\n", name, labels, le[i],
				(unsigned long)cum);
		} else {
			fng__buf_printf(b, "%s_bucket{%s,le=\"+Inf\"} %lu\n", name, labels,
				(unsigned long)cum);
		}
	}
	fng__buf_printf(b, "%s_sum{%s} %.9g\n%s_count{%s} %lu\n", name, labels, h->sum, name,
		labels, (unsigned long)h->n);
}

/* A series' labels as text, for hist_out. */
static void labels_text(struct fng_buf *t, const struct series *s)
{
	t->len = 0;
	route_labels(t, s);
	fng__buf_append(t, "", 1);
}

int fng__metrics_render(struct fng_server *srv, struct fng_buf *b)
{
	struct fng_buf t = { 0 };

	(void)srv;
	head(b, "fngate_requests_total", "counter", "Requests (API Gateway Count).");
	for (unsigned i = 0; i < T.ns; i++) {
		fng__buf_str(b, "fngate_requests_total{");
		route_labels(b, &T.s[i]);
		fng__buf_printf(b, "} %lu\n", (unsigned long)T.s[i].count);
	}
	head(b, "fngate_responses_total", "counter", "Responses by status code.");
	for (unsigned i = 0; i < T.ns; i++) {
		for (unsigned k = 0; k < TMP_CODES && T.s[i].codes[k]; k++) {
			fng__buf_str(b, "fngate_responses_total{");
			route_labels(b, &T.s[i]);
			fng__buf_printf(b, ",code=\"%d\"} %lu\n", T.s[i].codes[k],
				(unsigned long)T.s[i].ncodes[k]);
		}
	}
	head(b, "fngate_4xx_errors_total", "counter", "4xx answers (API Gateway 4XXError).");
	for (unsigned i = 0; i < T.ns; i++) {
		fng__buf_str(b, "fngate_4xx_errors_total{");
		route_labels(b, &T.s[i]);
		fng__buf_printf(b, "} %lu\n", (unsigned long)T.s[i].e4);
	}
	head(b, "fngate_5xx_errors_total", "counter", "5xx answers (API Gateway 5XXError).");
	for (unsigned i = 0; i < T.ns; i++) {
		fng__buf_str(b, "fngate_5xx_errors_total{");
		route_labels(b, &T.s[i]);
		fng__buf_printf(b, "} %lu\n", (unsigned long)T.s[i].e5);
	}
	head(b, "fngate_latency_seconds", "histogram", "Latency from the request's head on.");
	for (unsigned i = 0; i < T.ns; i++) {
		labels_text(&t, &T.s[i]);
		hist_out(b, "fngate_latency_seconds", &T.s[i].lat, lat_le, NLAT, t.p);
	}
	head(b, "fngate_integration_latency_seconds", "histogram", "Integration latency.");
	for (unsigned i = 0; i < T.ns; i++) {
		labels_text(&t, &T.s[i]);
		hist_out(b, "fngate_integration_latency_seconds", &T.s[i].ilat, lat_le, NLAT, t.p);
	}
	head(b, "fngate_function_invocations_total", "counter", "Function invocations.");
	for (unsigned i = 0; i < T.nf; i++) {
		fng__buf_str(b, "fngate_function_invocations_total{");
		label(b, "function", T.f[i].name, true);
		label(b, "version", "", false);
		fng__buf_printf(b, "} %lu\n", (unsigned long)T.f[i].inv);
	}
	head(b, "fngate_function_errors_total", "counter", "Function errors by cause.");
	for (unsigned i = 0; i < T.nf; i++) {
		for (unsigned c = 0; c < NCAUSES; c++) {
			fng__buf_str(b, "fngate_function_errors_total{");
			label(b, "function", T.f[i].name, true);
			label(b, "version", "", false);
			label(b, "cause", causes[c], false);
			fng__buf_printf(b, "} %lu\n", (unsigned long)T.f[i].err[c]);
		}
	}
	head(b, "fngate_function_cpu_seconds", "histogram", "CPU time per invocation.");
	for (unsigned i = 0; i < T.nf; i++) {
		t.len = 0;
		label(&t, "function", T.f[i].name, true);
		label(&t, "version", "", false);
		fng__buf_append(&t, "", 1);
		hist_out(b, "fngate_function_cpu_seconds", &T.f[i].cpu, cpu_le, NCPU, t.p);
	}
	head(b, "fngate_function_max_rss_bytes", "histogram", "Peak memory per invocation.");
	for (unsigned i = 0; i < T.nf; i++) {
		t.len = 0;
		label(&t, "function", T.f[i].name, true);
		label(&t, "version", "", false);
		fng__buf_append(&t, "", 1);
		hist_out(b, "fngate_function_max_rss_bytes", &T.f[i].mem, mem_le, NMEM, t.p);
	}
	head(b, "fngate_websocket_connections", "gauge", "Open WebSocket connections.");
	for (unsigned i = 0; i < T.nw; i++) {
		fng__buf_str(b, "fngate_websocket_connections{");
		label(b, "api", T.w[i].api, true);
		fng__buf_printf(b, "} %lu\n", (unsigned long)(T.w[i].opened - T.w[i].closed));
	}
	head(b, "fngate_websocket_messages_in_total", "counter", "Messages from clients.");
	for (unsigned i = 0; i < T.nw; i++) {
		fng__buf_str(b, "fngate_websocket_messages_in_total{");
		label(b, "api", T.w[i].api, true);
		fng__buf_printf(b, "} %lu\n", (unsigned long)T.w[i].msg_in);
	}
	head(b, "fngate_websocket_messages_out_total", "counter", "Answers sent to clients.");
	for (unsigned i = 0; i < T.nw; i++) {
		fng__buf_str(b, "fngate_websocket_messages_out_total{");
		label(b, "api", T.w[i].api, true);
		fng__buf_printf(b, "} %lu\n", (unsigned long)T.w[i].msg_out);
	}
	fng__buf_finish(&t);
	return b->p ? 0 : -ENOMEM;
}

static void jstr(struct fng_buf *b, const char *key, const char *v, bool null_if_empty)
{
	fng__buf_printf(b, ",\"%s\":", key);
	if (null_if_empty && !*v) {
		fng__buf_str(b, "null");
		return;
	}
	fng__buf_str(b, "\"");
	fng__buf_json_escape(b, v, strlen(v));
	fng__buf_str(b, "\"");
}

int fng__metrics_recent_json(struct fng_server *srv, struct fng_buf *b)
{
	(void)srv;
	fng__buf_str(b, "{\"errors\":[");
	for (unsigned i = 0; i < T.rn; i++) {
		const struct recent *r = &T.r[(T.rhead + i) % TMP_RECENT];

		fng__buf_str(b, i ? ",{\"time\":\"" : "{\"time\":\"");
		fng__buf_str(b, r->time);
		fng__buf_str(b, "\"");
		jstr(b, "requestId", r->rid, false);
		jstr(b, "api", r->api, false);
		jstr(b, "stage", r->stage, false);
		jstr(b, "route", r->route, false);
		fng__buf_printf(b, ",\"status\":%d", r->status);
		jstr(b, "error", r->error, false);
		jstr(b, "cause", r->cause >= 0 ? causes[r->cause] : "", true);
		jstr(b, "function", r->fn, true);
		fng__buf_str(b, ",\"version\":null}");
	}
	fng__buf_str(b, "],\"deploys\":[]}");
	return b->p ? 0 : -ENOMEM;
}
