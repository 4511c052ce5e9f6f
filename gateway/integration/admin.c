// SPDX-License-Identifier: MIT
/*
 * The admin API, served on its own listener (`admin.listen`, loopback by default in the
 * examples) and only to requests carrying `Authorization: Bearer <admin.token>`. It is API
 * Gateway's @connections management API plus topics:
 *
 *   GET    /@connections[?topic=T]   the open connections (of topic T)
 *   GET    /@connections/{id}        one connection; 410 once it is gone
 *   POST   /@connections/{id}        the body as a message to it (text if UTF-8, binary if
 *                                    Content-Type is application/octet-stream or not UTF-8)
 *   DELETE /@connections/{id}        close it (1000, or ?code=&reason=); 204
 *   POST   /@topics/{topic}          publish the body to topic
 *   GET    /@topics/{topic}          the topic's last sequence number
 *   /@keys...                        API keys (admin_keys.c)
 *   /@cache...                       the response caches (stages/cache.c, registered)
 *   /@dashboard...                   the operator dashboard (dashboard.c, registered)
 *   /@cluster                        the cluster's nodes (cluster_admin.c, registered)
 *
 * Requests walk the same stage table as API traffic (parsing, limits, access log): the
 * endpoint stage sends them here as an integration of their own.
 */
#include <assert.h>
#include <stdlib.h>
#include <uv.h>

#include "admin.h"
#include "errors.h"
#include "stages.h"
#include "topic.h"
#include "ws.h"
#include "ws_conn.h"

#define ADMIN_BODY_BYTES (1u << 20)

static const struct fng_route admin_route = {
	.key = "$admin",
	.integration = { .type = FNG_INTEGRATION_ADMIN },
};

int fng__admin_pre_route(struct fng_req *req)
{
	req->match.route = &admin_route;
	req->body_limit = ADMIN_BODY_BYTES < req->cfg->limits.body_bytes ? ADMIN_BODY_BYTES
									 : req->cfg->limits.body_bytes;
	return FNG_STAGE_NEXT;
}

/* Compares in time independent of where the first difference is. */
static bool token_ok(struct fng_str got, const char *want)
{
	size_t n = strlen(want);
	unsigned char d = got.len != n;

	for (size_t i = 0; i < n; i++) {
		d |= (unsigned char)(want[i] ^ (i < got.len ? got.p[i] : 0));
	}
	return d == 0;
}

int fng__admin_authorize(struct fng_req *req)
{
	const struct fng_header *h = fng__req_header(req, "authorization", 13);
	struct fng_str v;

	if (!h || h->value.len < 7 || strncasecmp(h->value.p, "Bearer ", 7) != 0) {
		req->error_detail = "the admin API needs Authorization: Bearer <admin token>";
		req->challenge = "Bearer realm=\"fngate-admin\"";
		return FNG_EUNAUTHORIZED;
	}
	v = (struct fng_str){ h->value.p + 7, h->value.len - 7 };
	if (!token_ok(v, req->cfg->admin.token)) {
		req->error_detail = "wrong admin token";
		return FNG_EFORBIDDEN;
	}
	return 0;
}

int fng__admin_method_not_allowed(struct fng_req *req, const char *a, const char *b,
	const char *c)
{
	const char *m[] = { a, b, c };

	req->match.nallow = 0;
	for (unsigned i = 0; i < 3 && m[i]; i++) {
		req->match.allow[req->match.nallow++] = m[i];
	}
	return FNG_EMETHOD_NOT_ALLOWED;
}

static int json_answer(struct fng_req *req, int status, struct fng_buf *b)
{
	req->resp.status = status;
	fng__resp_header(req, "content-type", 12, "application/json", 16);
	if (b->p) {
		fng__buf_append(&req->resp.body, b->p, b->len);
		fng__buf_str(&req->resp.body, "\n");
	}
	fng__buf_finish(b);
	return FNG_STAGE_DONE;
}

static bool query_u32(struct fng_req *req, const char *name, uint32_t *out)
{
	struct fng_str v;
	uint32_t n = 0;

	if (!fng__req_query(req, (struct fng_str){ name, strlen(name) }, &v) || !v.len ||
		v.len > 9) {
		return false;
	}
	for (size_t i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9') {
			return false;
		}
		n = n * 10 + (uint32_t)(v.p[i] - '0');
	}
	*out = n;
	return true;
}

static int connection(struct fng_req *req, struct fng_str id)
{
	struct fng_buf b = { 0 };
	int err;

	if (fng__str_eq(req->method, "GET", 3)) {
		err = fng__ws_info_json(req->srv, id.p, id.len, &b);
		if (err == 0) {
			return json_answer(req, 200, &b);
		}
	} else if (fng__str_eq(req->method, "POST", 4)) {
		const struct fng_header *ct = fng__req_header(req, "content-type", 12);
		bool binary = ct && ct->value.len >= 24 &&
			strncasecmp(ct->value.p, "application/octet-stream", 24) == 0;

		err = fng__ws_push(req->srv, id.p, id.len, req->body.p, req->body.len, binary, NULL);
		if (err == 0) {
			req->resp.status = 204;
			return FNG_STAGE_DONE;
		}
	} else if (fng__str_eq(req->method, "DELETE", 6)) {
		uint32_t code = 1000;
		struct fng_str reason = { "", 0 };

		if (query_u32(req, "code", &code) && !fng__ws_close_code_ok(code)) {
			req->error_detail = "code must be 1000-1003, 1007-1014 or 3000-4999";
			return FNG_EBAD_REQUEST;
		}
		fng__req_query(req, FNG_STR("reason"), &reason);
		if (reason.len > 123) {
			req->error_detail = "reason is longer than 123 bytes";
			return FNG_EBAD_REQUEST;
		}
		err = fng__ws_close_id(req->srv, id.p, id.len, (int)code, reason.p, reason.len, NULL);
		if (err == 0) {
			req->resp.status = 204;
			return FNG_STAGE_DONE;
		}
	} else {
		return fng__admin_method_not_allowed(req, "GET", "POST", "DELETE");
	}
	fng__buf_finish(&b);
	if (err == -ENOENT) {
		req->error_detail = "no such connection, or it is gone";
		return FNG_EGONE;
	}
	return err;
}

static int topic(struct fng_req *req, struct fng_str name)
{
	struct fng_buf b = { 0 };
	uint64_t seq = 0;
	size_t n = 0;
	int err;

	if (!fng__topic_name_ok(name.p, name.len)) {
		req->error_detail = "a topic name is 1-128 characters of A-Z a-z 0-9 _ . ~ : / -";
		return FNG_EBAD_REQUEST;
	}
	if (fng__str_eq(req->method, "GET", 3)) {
		seq = fng__topic_last_seq(req->srv, name.p, name.len);
	} else if (fng__str_eq(req->method, "POST", 4)) {
		err = fng__topic_publish(req->srv, name.p, name.len, req->body.p, req->body.len, &seq, &n);
		if (err == -ENOSPC) {
			req->error_detail = "too many topics: every one of them has subscribers";
			return FNG_EUNAVAILABLE;
		}
		if (err) {
			return err;
		}
	} else {
		return fng__admin_method_not_allowed(req, "GET", "POST", NULL);
	}
	fng__buf_str(&b, "{\"topic\":\"");
	fng__buf_append(&b, name.p, name.len);
	fng__buf_str(&b, "\",\"seq\":");
	fng__buf_u64(&b, seq);
	if (fng__str_eq(req->method, "POST", 4)) {
		fng__buf_str(&b, ",\"recipients\":");
		fng__buf_u64(&b, n);
	}
	fng__buf_str(&b, "}");
	return json_answer(req, 200, &b);
}

static bool prefix(struct fng_str path, const char *p, struct fng_str *rest)
{
	size_t n = strlen(p);

	if (path.len <= n || memcmp(path.p, p, n) != 0) {
		return false;
	}
	*rest = (struct fng_str){ path.p + n, path.len - n };
	return true;
}

static const struct fng_admin_ext *exts[8];

void fng__admin_register(const struct fng_admin_ext *ext)
{
	for (unsigned i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		if (!exts[i] || exts[i] == ext) {
			exts[i] = ext;
			return;
		}
	}
	assert(!"more admin extensions than exts[] holds");
}

/* The extension serving path, or NULL. */
static const struct fng_admin_ext *find_ext(struct fng_str path)
{
	for (unsigned i = 0; i < sizeof(exts) / sizeof(exts[0]) && exts[i]; i++) {
		size_t n = strlen(exts[i]->prefix);

		if (path.len >= n && memcmp(path.p, exts[i]->prefix, n) == 0 &&
			(path.len == n || path.p[n] == '/')) {
			return exts[i];
		}
	}
	return NULL;
}

static int admin_start(struct fng_req *req)
{
	struct fng_str path = req->path, rest;
	const struct fng_admin_ext *ext = find_ext(path);
	int err;

	/* An extension that checks its callers itself (the dashboard's sessions) does it first. */
	err = ext && ext->own_auth ? 0 : fng__admin_authorize(req);
	if (err) {
		return err;
	}
	if (ext) {
		size_t n = strlen(ext->prefix);

		return ext->serve(req, (struct fng_str){ path.p + n, path.len - n });
	}
	if (fng__str_eq(path, "/@connections", 13) || fng__str_eq(path, "/@connections/", 14)) {
		struct fng_buf b = { 0 };
		struct fng_str t = { "", 0 };

		if (!fng__str_eq(req->method, "GET", 3)) {
			return fng__admin_method_not_allowed(req, "GET", NULL, NULL);
		}
		fng__req_query(req, FNG_STR("topic"), &t);
		fng__ws_list_json(req->srv, t.p, t.len, &b);
		return json_answer(req, 200, &b);
	}
	if (prefix(path, "/@connections/", &rest) && !memchr(rest.p, '/', rest.len)) {
		return connection(req, rest);
	}
	if (prefix(path, "/@topics/", &rest)) {
		return topic(req, rest);
	}
	if (fng__str_eq(path, "/@keys", 6) || prefix(path, "/@keys/", &rest)) {
		return fng__admin_keys(req, path.len == 6 ? (struct fng_str){ "", 0 } :
			(struct fng_str){ path.p + 6, path.len - 6 });
	}
	req->error_detail = "admin paths: /@connections, /@connections/{id}, /@topics/{topic}, "
		"/@keys, /@keys/{id}, /@keys/{id}/usage, /@cache, /@dashboard, /@cluster";
	return FNG_ENOT_FOUND;
}

static void admin_cancel(struct fng_req *req)
{
	const struct fng_admin_ext *ext = find_ext(req->path);

	/* Everything else happens in start; a key operation waits for its job. */
	if (ext) {
		if (ext->cancel) {
			ext->cancel(req);
		}
		return;
	}
	fng__admin_keys_cancel(req);
}

const struct fng_integration_ops fng__admin_ops = {
	.name = "admin",
	.start = admin_start,
	.cancel = admin_cancel,
};
