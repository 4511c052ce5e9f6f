// SPDX-License-Identifier: MIT
/*
 * dashboard: the backend of a live chart (examples/dashboard/public/index.html). Every sample
 * goes to the topic "metrics" as {"t":MS_EPOCH,"name":NAME,"value":V}, and the gateway
 * delivers it to every subscribed page. One handler serves three kinds of events:
 *
 *   SCHEDULE (a `schedules:` entry)      publishes a synthetic sample, a sine plus noise
 *   POST /dashboard/metrics (HTTP)       publishes {"name":..,"value":number}, answers 202
 *   CONNECT (the `dashboard` WebSocket)  subscribes the connection to "metrics"
 *
 *     cc -shared -fPIC -o dashboard.so dashboard.c $(pkg-config --cflags --libs fngate jansson) -lm
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fngate.h>
#include <jansson.h>

#define TOPIC "metrics"
#define NAME_MAX_BYTES 64
#define TAU 6.283185307179586

/* jansson seeds its hash tables from /dev/urandom on first use: do it before the sandbox. */
static int init(void)
{
	json_object_seed(0);
	return 0;
}

/* Reading the clock is one of the few things a sandboxed worker may do. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A smooth signal from the time alone (the worker has no state it can rely on, and may not
 * open /dev/urandom): a slow and a faster sine, plus noise that is a hash of the time.
 */
static double synthetic(int64_t t)
{
	double s = (double)t / 1000.0;
	uint64_t h = (uint64_t)t * 0x9e3779b97f4a7c15u;

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9u;
	h ^= h >> 32;
	return 50.0 + 25.0 * sin(TAU * s / 60.0) + 8.0 * sin(TAU * s / 9.7 + 1.0) +
		((double)(h % 1000) / 1000.0 - 0.5) * 4.0;
}

/* Publishes {"t":T,"name":NAME,"value":V} to "metrics". */
static int publish(struct fng_ctx *ctx, int64_t t, const char *name, double value)
{
	json_t *msg;
	char *out;
	int rc;

	msg = json_pack("{s:I, s:s, s:f}", "t", (json_int_t)t, "name", name, "value", value);
	if (!msg) {
		return -1;
	}
	out = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	json_decref(msg);
	if (!out) {
		return -1;
	}
	rc = fng_ws_publish(ctx, TOPIC, out, strlen(out));
	free(out);
	if (rc != 0) {
		fng_log(ctx, FNG_LOG_WARN, "publishing to " TOPIC " failed");
	}
	return rc;
}

static int bad(struct fng_ctx *ctx, const char *why)
{
	return fng_response_json(ctx, 400, "{\"message\":\"%s\"}", fng_json_str(ctx, why));
}

/* POST /dashboard/metrics {"name":"cpu","value":0.5} */
static int post_metric(struct fng_ctx *ctx)
{
	size_t len;
	const char *body = fng_event_body(ctx, &len);
	json_error_t jerr;
	json_t *doc, *name, *value;
	int rc;

	doc = json_loadb(body, len, 0, &jerr);
	if (!doc) {
		return bad(ctx, jerr.text);
	}
	name = json_object_get(doc, "name");
	value = json_object_get(doc, "value");
	if (!json_is_string(name) || json_string_length(name) == 0 ||
			json_string_length(name) > NAME_MAX_BYTES) {
		rc = bad(ctx, "expected {\"name\": a string of 1-64 bytes, \"value\": a number}");
	} else if (!json_is_number(value)) {
		rc = bad(ctx, "expected {\"name\": ..., \"value\": a number}");
	} else if (publish(ctx, now_ms(), json_string_value(name), json_number_value(value))) {
		rc = fng_response_json(ctx, 503,
			"{\"message\":\"the sample could not be published\"}");
	} else {
		rc = fng_response_json(ctx, 202, "{\"published\":true}");
	}
	json_decref(doc);
	return rc;
}

static int dashboard(struct fng_ctx *ctx)
{
	const char *type = fng_event_type(ctx);

	if (strcmp(type, "SCHEDULE") == 0) {
		int64_t t = now_ms();

		return publish(ctx, t, "synthetic", synthetic(t));
	}
	if (strcmp(type, "CONNECT") == 0) {
		if (fng_ws_subscribe(ctx, fng_event_connection_id(ctx), TOPIC) != 0) {
			return fng_response_json(ctx, 500, "{\"message\":\"cannot subscribe\"}");
		}
		return 0;
	}
	if (strcmp(type, "DISCONNECT") == 0) {
		return 0;
	}
	if (strcmp(type, "MESSAGE") == 0) {
		return fng_response_printf(ctx, "{\"message\":\"the dashboard only pushes\"}");
	}
	if (strcmp(fng_event_method(ctx), "POST") != 0) {
		fng_response_header(ctx, "allow", "POST");
		return fng_response_json(ctx, 405, "{\"message\":\"POST a sample here\"}");
	}
	return post_metric(ctx);
}

FNG_HANDLER_EX(dashboard, init, NULL)
