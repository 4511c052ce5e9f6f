// SPDX-License-Identifier: MIT
/*
 * Tests for gateway/core/metrics.c without a loop: counters, gauges (set and computed at
 * scrape) and histograms rendered in the Prometheus text format (HELP, TYPE, cumulative
 * buckets with an inclusive `le`, +Inf, _sum, _count), label values escaped, the series cap
 * and its overflow series, recording switched off, two loops' registries summed by one
 * exposition, the hot path's memo across snapshots, and the rings of recent errors and
 * deploys (at most 100 each, newest last, nulls where nothing is known).
 */
#include <stdlib.h>

#include "harness.h"
#include "metrics.h"
#include "server.h"

static struct fng_server a, b;

static const uint64_t bounds[] = { 10, 100, 1000 };

static struct fng_metric_def m_count = {
	"t_requests_total", "Requests.", FNG_METRIC_COUNTER, { "api", "route" },
};
static struct fng_metric_def m_gauge = {
	"t_open", "Open things.", FNG_METRIC_GAUGE, { "api" },
};
static struct fng_metric_def m_hist = {
	"t_latency_seconds", "Latency.", FNG_METRIC_HISTOGRAM, { "route" }, bounds, 3, 1000,
};
static struct fng_metric_def m_capped = {
	"t_capped_total", "Capped.", FNG_METRIC_COUNTER, { "route" }, .max_series = 3,
};
static struct fng_metric_def m_plain = {
	"t_plain_total", "No \\labels\nat all.", FNG_METRIC_COUNTER,
};

static int collected;

static void collect(struct fng_server *srv, struct fng_metric_def *def)
{
	const char *v[] = { "x" };

	collected++;
	fng__metric_set(fng__metric_series(srv, def, v), 42.5);
}

static struct fng_metric_def m_computed = {
	"t_computed", "Computed.", FNG_METRIC_GAUGE, { "api" }, .collect = collect,
};

static struct fng_metric_def *const all[] = { &m_count, &m_gauge, &m_hist, &m_capped,
	&m_plain, &m_computed, NULL };

static char *render(struct fng_server *srv)
{
	struct fng_buf out = { 0 };

	if (fng__metrics_render(srv, &out) != 0 || fng__buf_append(&out, "", 1) != 0) {
		fng__buf_finish(&out);
		return strdup("");
	}
	return out.p;
}

static bool has(const char *text, const char *line)
{
	const char *p = text;
	size_t n = strlen(line);

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n') {
			return true;
		}
		p++;
	}
	return false;
}

static void test_kinds(void)
{
	const char *v1[] = { "api1", "GET /x" }, *v2[] = { "api1", "GET /y" };
	const char *h[] = { "GET /x" };
	struct fng_metric_series *s;
	char *t;

	fng__metric_inc(&a, &m_count, v1);
	fng__metric_inc(&a, &m_count, v1);
	s = fng__metric_series(&a, &m_count, v2);
	fng__metric_add(s, 5);
	CHECK(s == fng__metric_series(&a, &m_count, v2), "the same labels: the same series");
	fng__metric_gauge_at(&a, &m_gauge, (const char *[]){ "api1" }, 3);
	fng__metric_gauge_at(&a, &m_gauge, (const char *[]){ "api1" }, -1);
	/* 10 is in le=0.01 (bounds are inclusive), 11 in le=0.1, 5000 only in +Inf. */
	fng__metric_observe_at(&a, &m_hist, h, 10);
	fng__metric_observe_at(&a, &m_hist, h, 11);
	fng__metric_observe_at(&a, &m_hist, h, 5000);
	for (uint64_t x = 0; x <= 1001; x++) {
		unsigned want = x <= 10 ? 0 : x <= 100 ? 1 : x <= 1000 ? 2 : 3;
		struct fng_metric_series *hs = fng__metric_series(&a, &m_hist,
			(const char *[]){ "scan" });
		uint64_t before = hs->buckets[want];

		fng__metric_observe(hs, x);
		if (hs->buckets[want] != before + 1) {
			CHECK(false, "%llu lands in bucket %u", (unsigned long long)x, want);
			break;
		}
	}
	CHECK(fng__metric_series(&a, &m_hist, (const char *[]){ "scan" })->count == 1002,
		"0..1001: each in the first bucket whose bound is >= it");
	fng__metric_inc(&a, &m_plain, NULL);
	t = render(&a);
	CHECK(has(t, "# HELP t_requests_total Requests."), "HELP");
	CHECK(has(t, "# TYPE t_requests_total counter"), "TYPE counter");
	CHECK(has(t, "t_requests_total{api=\"api1\",route=\"GET /x\"} 2"), "a counter");
	CHECK(has(t, "t_requests_total{api=\"api1\",route=\"GET /y\"} 5"), "another series");
	CHECK(has(t, "# TYPE t_open gauge") && has(t, "t_open{api=\"api1\"} 2"), "a gauge");
	CHECK(has(t, "# TYPE t_latency_seconds histogram"), "TYPE histogram");
	CHECK(has(t, "t_latency_seconds_bucket{route=\"GET /x\",le=\"0.01\"} 1"), "le 0.01");
	CHECK(has(t, "t_latency_seconds_bucket{route=\"GET /x\",le=\"0.1\"} 2"), "cumulative");
	CHECK(has(t, "t_latency_seconds_bucket{route=\"GET /x\",le=\"1\"} 2"), "le 1");
	CHECK(has(t, "t_latency_seconds_bucket{route=\"GET /x\",le=\"+Inf\"} 3"), "+Inf");
	CHECK(has(t, "t_latency_seconds_sum{route=\"GET /x\"} 5.021"), "_sum in seconds");
	CHECK(has(t, "t_latency_seconds_count{route=\"GET /x\"} 3"), "_count");
	CHECK(has(t, "# HELP t_plain_total No \\\\labels\\nat all.") &&
		has(t, "t_plain_total 1"), "no labels; HELP escaped");
	CHECK(has(t, "t_computed{api=\"x\"} 42.5") && collected == 1,
		"a computed gauge, collected at the scrape");
	free(t);
}

static void test_escape_and_cap(void)
{
	const char *v[] = { "a\"b\\c\nd" };
	char name[16];
	char *t;

	fng__metric_inc(&a, &m_capped, v);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		fng__metric_inc(&a, &m_capped, (const char *[]){ name });
	}
	t = render(&a);
	CHECK(has(t, "t_capped_total{route=\"a\\\"b\\\\c\\nd\"} 1"), "label value escaped");
	CHECK(has(t, "t_capped_total{route=\"r0\"} 1") && has(t, "t_capped_total{route=\"r1\"} 1"),
		"series up to the cap");
	CHECK(!strstr(t, "route=\"r2\""), "no series past the cap");
	CHECK(has(t, "t_capped_total{route=\"$overflow\"} 8"), "the rest in the overflow series");
	free(t);
}

static void test_off_and_loops(void)
{
	const char *v[] = { "api1", "GET /x" };
	char *t;

	fng__metrics_enable(&b, false);
	CHECK(fng__metric_series(&b, &m_count, v) == NULL, "off: no series");
	fng__metrics_enable(&b, true);
	fng__metric_add(fng__metric_series(&b, &m_count, v), 40);
	fng__metric_observe_at(&b, &m_hist, (const char *[]){ "GET /x" }, 1);
	t = render(&a);
	CHECK(has(t, "t_requests_total{api=\"api1\",route=\"GET /x\"} 42"),
		"two loops' counters summed");
	CHECK(has(t, "t_latency_seconds_count{route=\"GET /x\"} 4") &&
		has(t, "t_latency_seconds_bucket{route=\"GET /x\",le=\"0.01\"} 2"),
		"two loops' histograms summed");
	free(t);
}

static void test_memo(void)
{
	int k1 = -1, k2 = -1;
	struct fng_metric_memo *m = fng__metrics_memo(&a, 5, &k1, &k2);

	CHECK(m && !m->s[0], "a fresh memo");
	m->s[0] = fng__metric_series(&a, &m_plain, NULL);
	CHECK(fng__metrics_memo(&a, 5, &k1, &k2) == m, "found again");
	CHECK(fng__metrics_memo(&a, 4, &k1, &k2) == NULL, "an older snapshot: no memo");
	m = fng__metrics_memo(&a, 6, &k1, &k2);
	CHECK(m && !m->s[0], "a newer snapshot: emptied");
}

static void test_recent(void)
{
	struct fng_buf out = { 0 };
	char id[40];

	for (int i = 0; i < 150; i++) {
		snprintf(id, sizeof(id), "req-%d", i);
		fng__metrics_recent_error(&a, &(struct fng_metrics_error){ .request_id = id,
			.api = "api1", .stage = "prod", .route = "GET /x", .status = 502,
			.error = "function \"f\" failed", .cause = i % 2 ? "crash" : NULL,
			.function = "f", .version = i % 2 ? "abc" : NULL });
	}
	fng__metrics_recent_deploy(&b, "hello", "0123", "deployed", "first version");
	CHECK_INT(fng__metrics_recent_json(&a, &out), 0, "recent json");
	fng__buf_append(&out, "", 1);
	CHECK(!strncmp(out.p, "{\"errors\":[{\"time\":\"", 20), "starts with the errors");
	CHECK(!strstr(out.p, "\"req-49\"") && strstr(out.p, "\"req-50\"") &&
		strstr(out.p, "\"req-149\"") < strstr(out.p, "],\"deploys\""), "the newest 100");
	CHECK(strstr(out.p, "\"req-50\"") < strstr(out.p, "\"req-149\""), "newest last");
	CHECK(strstr(out.p, "\"requestId\":\"req-149\",\"api\":\"api1\",\"stage\":\"prod\","
		"\"route\":\"GET /x\",\"status\":502,\"error\":\"function \\\"f\\\" failed\","
		"\"cause\":\"crash\",\"function\":\"f\",\"version\":\"abc\"}") != NULL,
		"an error's fields, escaped");
	CHECK(strstr(out.p, "\"cause\":null,\"function\":\"f\",\"version\":null}") != NULL,
		"nulls");
	CHECK(strstr(out.p, "\"deploys\":[{\"time\":\"") && strstr(out.p, "\"function\":\"hello\","
		"\"version\":\"0123\",\"event\":\"deployed\",\"detail\":\"first version\"}]}"),
		"a deploy, from the other loop");
	fng__buf_finish(&out);
}

int main(void)
{
	CHECK_INT(fng__metrics_register_all(all), 0, "families registered");
	CHECK_INT(fng__metrics_register(&m_count), 0, "again: a no-op");
	test_kinds();
	test_escape_and_cap();
	test_off_and_loops();
	test_memo();
	test_recent();
	fng__metrics_free(&a);
	fng__metrics_free(&b);
	CHECK(a.metrics == NULL && b.metrics == NULL, "registries freed");
	return fng_test_done();
}
