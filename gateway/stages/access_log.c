// SPDX-License-Identifier: MIT
/*
 * The access log stage: the last final-phase stage of the request path, run for every
 * request, answered or refused, after the response has been handed to the connection.
 *
 * Each field is a row of the table below: its key and a getter that appends its JSON value.
 * The loader compiles `access_log.fields` into a format once per config snapshot (each
 * field's separator and key pre-rendered, next to its getter), the way nginx and h2o compile
 * their log formats, so a line costs one walk over the format.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "errors.h"
#include "access_log.h"
#include "conf.h"
#include "dashboard.h"
#include "stages.h"

static void put_str(struct fng_buf *b, const char *v, size_t n)
{
	fng__buf_append(b, "\"", 1);
	fng__buf_json_escape(b, v, n);
	fng__buf_append(b, "\"", 1);
}

static void put_cstr(struct fng_buf *b, const char *v)
{
	put_str(b, v, strlen(v));
}

static void put_num(struct fng_buf *b, int64_t v)
{
	fng__buf_printf(b, "%lld", (long long)v);
}

/* ---- the getters, one per field ---- */

/* ISO 8601 UTC with milliseconds: 2026-01-31T12:00:00.123Z */
static void get_time(struct fng_buf *b, const struct fng_req *req, const struct fng_alog_now *now)
{
	struct tm tm;
	char t[64];

	(void)req;
	gmtime_r(&now->wall.tv_sec, &tm);
	snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		now->wall.tv_nsec / 1000000);
	put_cstr(b, t);
}

static void get_request_id(struct fng_buf *b, const struct fng_req *req,
	const struct fng_alog_now *now)
{
	(void)now;
	put_str(b, req->request_id, req->request_id_len);
}

static void get_ip(struct fng_buf *b, const struct fng_req *req, const struct fng_alog_now *now)
{
	(void)now;
	put_cstr(b, req->ip);
}

static void get_method(struct fng_buf *b, const struct fng_req *req, const struct fng_alog_now *now)
{
	(void)now;
	put_str(b, req->method.p, req->method.len);
}

static void get_path(struct fng_buf *b, const struct fng_req *req, const struct fng_alog_now *now)
{
	(void)now;
	put_str(b, req->path.p, req->path.len);
}

static void get_protocol(struct fng_buf *b, const struct fng_req *req,
	const struct fng_alog_now *now)
{
	(void)now;
	put_cstr(b, req->http_minor ? "HTTP/1.1" : "HTTP/1.0");
}

static void get_route_key(struct fng_buf *b, const struct fng_req *req,
	const struct fng_alog_now *now)
{
	(void)now;
	put_cstr(b, req->match.route ? req->match.route->key : "");
}

static void get_api(struct fng_buf *b, const struct fng_req *req, const struct fng_alog_now *now)
{
	(void)now;
	put_cstr(b, req->api ? req->api->name : "");
}

static void get_stage(struct fng_buf *b, const struct fng_req *req, const struct fng_alog_now *now)
{
	(void)now;
	put_cstr(b, req->stage ? req->stage->name : "");
}

/* 499 (nginx's "client closed request") when the client left before it was answered. */
static void get_status(struct fng_buf *b, const struct fng_req *req, const struct fng_alog_now *now)
{
	(void)now;
	put_num(b, fng__req_has_client(req) || req->responded ? req->resp.status : 499);
}

static void get_bytes_in(struct fng_buf *b, const struct fng_req *req,
	const struct fng_alog_now *now)
{
	(void)now;
	put_num(b, (int64_t)req->bytes_in);
}

static void get_bytes_out(struct fng_buf *b, const struct fng_req *req,
	const struct fng_alog_now *now)
{
	(void)now;
	put_num(b, (int64_t)req->bytes_out);
}

/* Microseconds from the head being read to the line being written. */
static void get_latency(struct fng_buf *b, const struct fng_req *req,
	const struct fng_alog_now *now)
{
	put_num(b, (int64_t)((now->mono - req->t_start) / 1000));
}

/* Microseconds the integration took; -1 when none ran to completion. */
static void get_integration_latency(struct fng_buf *b, const struct fng_req *req,
	const struct fng_alog_now *now)
{
	(void)now;
	put_num(b, req->t_integration_end
			? (int64_t)((req->t_integration_end - req->t_integration_start) / 1000)
			: -1);
}

/* A string, "" when no integration ran. */
static void get_integration_status(struct fng_buf *b, const struct fng_req *req,
	const struct fng_alog_now *now)
{
	char s[16] = "";

	(void)now;
	if (req->integration_status) {
		snprintf(s, sizeof(s), "%d", req->integration_status);
	}
	put_cstr(b, s);
}

static void get_user_agent(struct fng_buf *b, const struct fng_req *req,
	const struct fng_alog_now *now)
{
	const struct fng_header *h = fng__req_header(req, "user-agent", 10);

	(void)now;
	put_str(b, h ? h->value.p : "", h ? h->value.len : 0);
}

/* Why the gateway refused the request (its JSON message); "" for an answered request. */
static void get_error(struct fng_buf *b, const struct fng_req *req, const struct fng_alog_now *now)
{
	const char *e = "";

	(void)now;
	if (req->error) {
		e = req->error_detail ? req->error_detail : fng_strerror(req->error);
	}
	put_cstr(b, e);
}

/*
 * The field table. A field is one enum value (stages/access_log.h, where the order is the
 * default order of a line) and one row here; the unit test checks no row is missing.
 */
static const struct {
	const char *key;
	void (*get)(struct fng_buf *b, const struct fng_req *req, const struct fng_alog_now *now);
} fields[FNG_ALOG__COUNT] = {
	[FNG_ALOG_TIME] = { "time", get_time },
	[FNG_ALOG_REQUEST_ID] = { "requestId", get_request_id },
	[FNG_ALOG_IP] = { "ip", get_ip },
	[FNG_ALOG_METHOD] = { "method", get_method },
	[FNG_ALOG_PATH] = { "path", get_path },
	[FNG_ALOG_PROTOCOL] = { "protocol", get_protocol },
	[FNG_ALOG_ROUTE_KEY] = { "routeKey", get_route_key },
	[FNG_ALOG_API] = { "api", get_api },
	[FNG_ALOG_STAGE] = { "stage", get_stage },
	[FNG_ALOG_STATUS] = { "status", get_status },
	[FNG_ALOG_BYTES_IN] = { "bytesIn", get_bytes_in },
	[FNG_ALOG_BYTES_OUT] = { "bytesOut", get_bytes_out },
	[FNG_ALOG_LATENCY] = { "latencyUs", get_latency },
	[FNG_ALOG_INTEGRATION_LATENCY] = { "integrationLatencyUs", get_integration_latency },
	[FNG_ALOG_INTEGRATION_STATUS] = { "integrationStatus", get_integration_status },
	[FNG_ALOG_USER_AGENT] = { "userAgent", get_user_agent },
	[FNG_ALOG_ERROR] = { "error", get_error },
};

const char *fng__alog_field_name(enum fng_alog_field f)
{
	return (unsigned)f < FNG_ALOG__COUNT ? fields[f].key : NULL;
}

int fng__alog_field_find(const char *name)
{
	for (unsigned i = 0; i < FNG_ALOG__COUNT; i++) {
		if (fields[i].key && strcmp(fields[i].key, name) == 0) {
			return (int)i;
		}
	}
	return -1;
}

/* ---- the compiled format ---- */

const struct fng_alog_format *fng__alog_compile(struct fng_arena *arena, const uint8_t *ids,
	unsigned n)
{
	struct fng_alog_format *f;

	f = fng__arena_zalloc(arena, sizeof(*f) + n * sizeof(f->items[0]));
	if (!f) {
		return NULL;
	}
	for (unsigned i = 0; i < n; i++) {
		struct fng_alog_item *it = &f->items[i];
		const char *key;
		char *pre;
		size_t klen;

		if (ids[i] >= FNG_ALOG__COUNT || !fields[ids[i]].get) {
			return NULL;
		}
		key = fields[ids[i]].key;
		klen = strlen(key);
		/* `,"key":` (no comma before the first field): keys need no JSON escaping. */
		it->pre_len = (i ? 1 : 0) + klen + 3;
		pre = fng__arena_alloc(arena, it->pre_len + 1);
		if (!pre) {
			return NULL;
		}
		snprintf(pre, it->pre_len + 1, "%s\"%s\":", i ? "," : "", key);
		it->pre = pre;
		it->get = fields[ids[i]].get;
	}
	f->n = n;
	return f;
}

void fng__alog_render(struct fng_buf *b, const struct fng_alog_format *f,
	const struct fng_req *req, const struct fng_alog_now *now)
{
	fng__buf_append(b, "{", 1);
	for (unsigned i = 0; f && i < f->n; i++) {
		fng__buf_append(b, f->items[i].pre, f->items[i].pre_len);
		f->items[i].get(b, req, now);
	}
	fng__buf_append(b, "}", 1);
}

/* ---- the stage ---- */

int fng__alog_stage_run(struct fng_req *req)
{
	const struct fng_config *cfg = req->cfg;
	struct fng_buf line = { 0 };
	struct fng_alog_now now;

	/* TEMPORARY: replaced by the metrics registry at merge (integration/dashboard_tmp.c). */
	fng__dashboard_tmp_record(req);
	if (!cfg->access_log.path || !req->ops->log) {
		return FNG_STAGE_NEXT;
	}
	now.mono = uv_hrtime();
	clock_gettime(CLOCK_REALTIME, &now.wall);
	fng__alog_render(&line, cfg->access_log.format, req, &now);
	if (line.p) {
		req->ops->log(req, line.p, line.len);
	}
	fng__buf_finish(&line);
	return FNG_STAGE_NEXT;
}

/* ---- its configuration: the access_log section ---- */

/* The field list as written (c->access_log.fields), then compiled into the stage's format. */
static int parse_log_fields(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	uint8_t *ids = fng__arena_alloc(c->arena, FNG_ALOG__COUNT);

	c->access_log.fields = ids;
	c->access_log.nfields = 0;
	if (!ids) {
		fng__conf_err(L, v, "access_log.fields: out of memory");
		return -1;
	}
	if (!v) {
		for (unsigned i = 0; i < FNG_ALOG__COUNT; i++) {
			ids[i] = (uint8_t)i;
		}
		c->access_log.nfields = FNG_ALOG__COUNT;
	} else if (!fng__conf_want(L, v, FNG_CONF_SEQ, "access_log.fields")) {
		return -1;
	}
	for (unsigned i = 0; v && i < v->n; i++) {
		const struct fng_conf_node *f = v->kids[i];
		int j;

		if (!fng__conf_want(L, f, FNG_CONF_SCALAR, "access log field")) {
			continue;
		}
		j = fng__alog_field_find(f->s);
		if (j < 0) {
			fng__conf_err(L, f, "unknown access log field \"%s\"", f->s);
			continue;
		}
		for (unsigned k = 0; k < c->access_log.nfields; k++) {
			if (ids[k] == j) {
				fng__conf_err(L, f, "access log field \"%s\" listed twice", f->s);
			}
		}
		if (c->access_log.nfields < FNG_ALOG__COUNT) {
			ids[c->access_log.nfields++] = (uint8_t)j;
		}
	}
	c->access_log.format = fng__alog_compile(c->arena, ids, c->access_log.nfields);
	if (!c->access_log.format) {
		fng__conf_err(L, v, "access_log.fields: out of memory");
		return -1;
	}
	return 0;
}

static const struct fng_conf_key access_log_keys[] = {
	{ "path", FNG_CONF_STR, offsetof(struct fng_config, access_log.path), .def_str = "-" },
	{ "fields", FNG_CONF_FN, 0, .fn = parse_log_fields },
	{ NULL },
};

static int parse_access_log(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return fng__conf_apply(L, v, access_log_keys, obj, "access_log");
}

/* "off" turns the log off; "-" (the default) is standard output. */
static void finish_access_log(struct fng_conf *L)
{
	struct fng_config *c = L->cfg;

	if (c->access_log.path && strcmp(c->access_log.path, "off") == 0) {
		c->access_log.path = NULL;
	}
}

const struct fng_conf_module fng__access_log_conf = {
	.key = "access_log",
	.parse = parse_access_log,
	.finish = finish_access_log,
};

const struct fng_stage_def fng__stage_access_log = {
	.name = "access_log",
	.run = fng__alog_stage_run,
	.phase = FNG_PHASE_FINAL,
};
