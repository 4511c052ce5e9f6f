// SPDX-License-Identifier: MIT
/*
 * HTTP/1.1 connections: the first stop of every request. Input is pre-validated
 * (prevalidate.c), parsed by llhttp, checked for framing ambiguities llhttp leaves to us, and
 * handed to the stage table as a request; responses are serialized here. One request per
 * connection is in the stage table at a time, so pipelined responses leave in order; input
 * that arrives meanwhile waits in c->in (bounded).
 *
 * Ownership: a connection owns its current request until the request enters the stage table;
 * from then on the request finishes itself (ops->finish) and the connection only takes its
 * response. When the connection dies first, the request is detached (req->conn = NULL) and
 * still finishes exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "body.h"
#include "chars.h"
#include "errors.h"
#include "http.h"
#include "stages.h"

#define IN_HIGH (64 * 1024)   /* input held while a request is processed */
#define OUT_HIGH (256 * 1024) /* output queued before we stop reading requests */
#define LINGER_MS 2000

static const llhttp_settings_t settings;

static void flush(struct fng_conn *c);
static void process_buffered(struct fng_conn *c);
static void begin_close(struct fng_conn *c);
static void close_now(struct fng_conn *c);

/* ---- timeouts ---- */

static uint32_t tq_ms(const struct fng_conn *c, unsigned tq)
{
	const struct fng_config *cfg = c->srv->cfg;

	switch (tq) {
	case FNG_TQ_HEADER: return cfg->timeouts.header_ms;
	case FNG_TQ_BODY: return cfg->timeouts.body_ms;
	case FNG_TQ_IDLE: return cfg->timeouts.keepalive_ms;
	case FNG_TQ_SEND: return cfg->timeouts.send_ms;
	case FNG_TQ_LINGER: return LINGER_MS;
	}
	return 0;
}

/*
 * Puts c on the timeout queue its state calls for. The deadline is set when c enters a
 * queue, not on every event: a client trickling bytes does not extend its header or body
 * deadline. Each queue holds one duration, so it stays sorted by deadline.
 */
static void update_tq(struct fng_conn *c)
{
	unsigned tq;

	if (c->state == FNG_CONN_CLOSED) {
		tq = FNG_TQ_NONE;
	} else if (c->flushing) {
		tq = FNG_TQ_SEND;
	} else if (c->state == FNG_CONN_CLOSING) {
		tq = c->fin_sent ? FNG_TQ_LINGER : FNG_TQ_SEND;
	} else if (c->state == FNG_CONN_REQUEST || c->state == FNG_CONN_WS) {
		/* The integration keeps its own deadline; a WebSocket its own timer. */
		tq = FNG_TQ_NONE;
	} else if (c->state == FNG_CONN_BODY) {
		tq = FNG_TQ_BODY;
	} else if (c->pv.off || c->in.len || !c->served) {
		tq = FNG_TQ_HEADER;
	} else {
		tq = FNG_TQ_IDLE;
	}
	if (tq == c->tq) {
		return;
	}
	fng__list_remove(&c->tlink);
	c->tq = (uint8_t)tq;
	if (tq != FNG_TQ_NONE) {
		c->deadline = uv_now(c->srv->loop) + tq_ms(c, tq);
		fng__list_append(&c->srv->tq[tq], &c->tlink);
	}
}

/* ---- requests ---- */

static void req_respond(struct fng_req *req);
static void req_finish(struct fng_req *req);
static void req_log(struct fng_req *req, const char *line, size_t len);

static const struct fng_req_ops req_ops = {
	.respond = req_respond,
	.finish = req_finish,
	.log = req_log,
};

static struct fng_req *new_req(struct fng_conn *c)
{
	struct fng_arena *a = fng__arena_create();
	struct fng_req *req;

	if (!a) {
		return NULL;
	}
	req = fng__arena_zalloc(a, sizeof(*req));
	if (!req) {
		fng__arena_destroy(a);
		return NULL;
	}
	req->arena = a;
	req->ops = &req_ops;
	req->conn = c;
	req->srv = c->srv;
	req->cfg = fng__config_ref(c->srv->cfg);
	req->t_start = c->req_start ? c->req_start : uv_hrtime();
	req->keep_alive = true;
	req->resp.cache_ttl_s = -1;
	req->method = FNG_STR("");
	req->path = FNG_STR("");
	req->http_major = 1;
	req->http_minor = 1;
	if (c->peer.sa.sa_family == AF_INET) {
		uv_ip4_name(&c->peer.in4, req->ip, sizeof(req->ip));
	} else if (c->peer.sa.sa_family == AF_INET6) {
		uv_ip6_name(&c->peer.in6, req->ip, sizeof(req->ip));
	}
	if (fng__req_set_client_cert(req, c->client_cert) != 0) {
		fng__config_unref(req->cfg);
		fng__arena_destroy(a);
		return NULL;
	}
	if (c->pre_route) {
		c->pre_route(req);
	}
	c->req = req;
	return req;
}

static void set_request_id(struct fng_conn *c, struct fng_req *req)
{
	const struct fng_header *h = fng__req_header(req, "x-request-id", 12);

	if (h && h->value.len >= 1 && h->value.len <= 128) {
		size_t i;

		for (i = 0; i < h->value.len; i++) {
			char ch = h->value.p[i];

			if (!fng__is_alnum((unsigned char)ch) && !(ch && strchr("-_.:", ch))) {
				break;
			}
		}
		if (i == h->value.len) {
			memcpy(req->request_id, h->value.p, h->value.len);
			req->request_id[h->value.len] = '\0';
			req->request_id_len = h->value.len;
			return;
		}
	}
	fng__server_request_id(c->srv, req->request_id);
	req->request_id_len = 36;
}

/*
 * Refuses the request being read (or one that has not even got a request yet) and closes
 * the connection after the answer: the rest of its input cannot be trusted.
 */
static void refuse(struct fng_conn *c, int err, const char *why)
{
	struct fng_req *req = c->req ? c->req : new_req(c);

	if (!req) {
		close_now(c);
		return;
	}
	if (!req->request_id_len) {
		set_request_id(c, req);
	}
	req->keep_alive = false;
	c->close_after = true;
	c->state = FNG_CONN_REQUEST;
	fng__req_fail(req, err, why);
}

/* ---- llhttp callbacks: spans point into the arena copy of the head ---- */

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct fng_conn *c = p->data;

	c->req->target = (struct fng_str){ at, len };
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct fng_conn *c = p->data;
	struct fng_req *req = c->req;

	if (req->nheaders >= c->pv.fields) {
		return -1; /* cannot happen: the pre-validator counted them */
	}
	req->headers[req->nheaders++] = (struct fng_header){ { at, len }, { "", 0 } };
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct fng_conn *c = p->data;
	struct fng_req *req = c->req;

	while (len && (at[len - 1] == ' ' || at[len - 1] == '\t')) {
		len--;
	}
	if (req->nheaders) {
		req->headers[req->nheaders - 1].value = (struct fng_str){ at, len };
	}
	return 0;
}

/* Payload bytes from the body decoder. */
static int on_body_data(void *ctx, const char *at, size_t len)
{
	struct fng_conn *c = ctx;
	struct fng_req *req = c->req;

	if (req->body.len + len > req->body_limit) {
		return FNG_EBODY_TOO_LARGE;
	}
	return fng__buf_append(&req->body, at, len);
}

/* Framing facts are read here: llhttp resets its flags once the message is complete. */
static int on_headers_complete(llhttp_t *p)
{
	struct fng_conn *c = p->data;
	struct fng_req *req = c->req;

	req->keep_alive = llhttp_should_keep_alive(p);
	req->upgrade = p->upgrade;
	req->chunked = (p->flags & F_CHUNKED) != 0;
	req->content_length = (p->flags & F_CONTENT_LENGTH) ? p->content_length : 0;
	req->has_body = req->chunked || req->content_length > 0;
	req->http_major = p->http_major;
	req->http_minor = p->http_minor;
	req->method = (struct fng_str){ llhttp_method_name(p->method),
		strlen(llhttp_method_name(p->method)) };
	return 0;
}

static const llhttp_settings_t settings = {
	.on_headers_complete = on_headers_complete,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
};

/* ---- head checks llhttp leaves to us ---- */

static bool ieq_token(struct fng_str v, const char *tok)
{
	return fng__str_ieq(v, tok, strlen(tok));
}

static bool is_unreserved_or_sub(char ch)
{
	return fng__is_alnum((unsigned char)ch) || (ch && strchr("-._~!$&'()*+,;=%", ch));
}

/* RFC 3986 authority without userinfo: reg-name or [IPv6], then an optional :port. */
static bool valid_host(struct fng_str h)
{
	size_t i = 0;

	if (h.len == 0) {
		return false;
	}
	if (h.p[0] == '[') {
		for (i = 1; i < h.len && h.p[i] != ']'; i++) {
			char ch = h.p[i];

			if (fng__hexval((unsigned char)ch) < 0 && ch != ':' && ch != '.') {
				return false;
			}
		}
		if (i == h.len || i == 1) {
			return false;
		}
		i++;
	} else {
		while (i < h.len && h.p[i] != ':') {
			if (!is_unreserved_or_sub(h.p[i])) {
				return false;
			}
			i++;
		}
		if (i == 0) {
			return false;
		}
	}
	if (i < h.len) {
		size_t digits = 0;

		if (h.p[i++] != ':') {
			return false;
		}
		for (; i < h.len; i++, digits++) {
			if (h.p[i] < '0' || h.p[i] > '9' || digits == 5) {
				return false;
			}
		}
	}
	return true;
}

/* Host without its port (and without IPv6 brackets' port). */
static struct fng_str host_name(struct fng_str h)
{
	size_t i = h.len;

	if (h.len && h.p[0] == '[') {
		const char *rb = memchr(h.p, ']', h.len);

		return rb ? (struct fng_str){ h.p, (size_t)(rb - h.p) + 1 } : h;
	}
	while (i > 0 && h.p[i - 1] != ':') {
		i--;
	}
	return i ? (struct fng_str){ h.p, i - 1 } : h;
}

/*
 * Checks the head semantically and fills req. Returns 0 or an error with *why set. The
 * pre-validator guaranteed clean bytes; this is about meaning: framing headers that could be
 * read two ways, the Host, the target form, Expect.
 */
static int check_head(struct fng_conn *c, struct fng_req *req, const char **why)
{
	const struct fng_header *host = NULL, *te = NULL;
	unsigned nhost = 0, ncl = 0, nte = 0;
	struct fng_str t = req->target;
	const char *q;

	for (unsigned i = 0; i < req->nheaders; i++) {
		const struct fng_header *h = &req->headers[i];

		if (ieq_token(h->name, "host")) {
			host = h;
			nhost++;
		} else if (ieq_token(h->name, "content-length")) {
			ncl++;
		} else if (ieq_token(h->name, "transfer-encoding")) {
			te = h;
			nte++;
		} else if (ieq_token(h->name, "expect")) {
			if (!ieq_token(h->value, "100-continue")) {
				*why = "unsupported Expect value";
				return FNG_EEXPECTATION_FAILED;
			}
			req->expect_continue = true;
		}
	}
	if (req->http_major != 1 || req->http_minor > 1) {
		*why = "only HTTP/1.0 and HTTP/1.1 are supported";
		return FNG_EVERSION;
	}
	if (nhost > 1) {
		*why = "more than one Host header";
		return FNG_EBAD_REQUEST;
	}
	if (!host && req->http_minor == 1) {
		*why = "missing Host header";
		return FNG_EBAD_REQUEST;
	}
	/* An empty Host is legal (RFC 9112 3.2): it selects the default endpoint. */
	if (host && host->value.len && !valid_host(host->value)) {
		*why = "invalid Host header";
		return FNG_EBAD_REQUEST;
	}
	if (ncl > 1) {
		*why = "more than one Content-Length header";
		return FNG_EBAD_REQUEST;
	}
	if (nte) {
		if (ncl) {
			*why = "both Content-Length and Transfer-Encoding";
			return FNG_EBAD_REQUEST;
		}
		if (req->http_minor == 0) {
			*why = "Transfer-Encoding in an HTTP/1.0 request";
			return FNG_EBAD_REQUEST;
		}
		if (nte > 1) {
			*why = "more than one Transfer-Encoding header";
			return FNG_EBAD_REQUEST;
		}
		if (!ieq_token(te->value, "chunked")) {
			size_t n = te->value.len;

			if (n >= 7 && strncasecmp(te->value.p + n - 7, "chunked", 7) == 0) {
				*why = "unsupported transfer coding (only chunked)";
				return FNG_ENOT_IMPLEMENTED;
			}
			*why = "Transfer-Encoding does not end in chunked";
			return FNG_EBAD_REQUEST;
		}
	}
	/* Request target: origin-form, or absolute-form whose authority replaces Host. */
	if (t.len && t.p[0] == '/') {
		req->host = host ? host->value : FNG_STR("");
	} else if (t.len > 7 && (strncasecmp(t.p, "http://", 7) == 0 ||
					(t.len > 8 && strncasecmp(t.p, "https://", 8) == 0))) {
		size_t skip = t.p[4] == ':' ? 7 : 8;
		const char *slash = memchr(t.p + skip, '/', t.len - skip);
		const char *qm = memchr(t.p + skip, '?', t.len - skip);
		const char *aend = slash ? slash : t.p + t.len;

		if (qm && qm < aend) {
			aend = qm;
		}
		req->host = (struct fng_str){ t.p + skip, (size_t)(aend - t.p - skip) };
		if (!valid_host(req->host)) {
			*why = "invalid authority in request target";
			return FNG_EBAD_REQUEST;
		}
		t = slash ? (struct fng_str){ slash, (size_t)(t.p + t.len - slash) } : FNG_STR("/");
		if (qm && qm < slash) {
			*why = "invalid request target";
			return FNG_EBAD_REQUEST;
		}
	} else {
		*why = "unsupported request target form";
		return FNG_EBAD_REQUEST;
	}
	req->host = host_name(req->host);
	if (req->conn && req->conn->host_ok && !req->conn->host_ok(req->conn, req->host)) {
		*why = "this host needs the TLS client authentication of its own certificate: "
		       "name it in SNI";
		return FNG_EMISDIRECTED;
	}
	if (memchr(t.p, '#', t.len)) {
		*why = "fragment in request target";
		return FNG_EBAD_REQUEST;
	}
	q = memchr(t.p, '?', t.len);
	req->path = q ? (struct fng_str){ t.p, (size_t)(q - t.p) } : t;
	req->query = q ? (struct fng_str){ q + 1, (size_t)(t.p + t.len - q - 1) } : FNG_STR("");
	return 0;
}

/* ---- reading ---- */

/* The request's body (if any) has been read: run the body-phase stages. */
static void dispatch(struct fng_conn *c)
{
	struct fng_req *req = c->req;

	req->body_complete = true;
	c->state = FNG_CONN_REQUEST;
	fng__req_run(req);
}

static void on_head(struct fng_conn *c, const char *head, size_t len)
{
	const struct fng_config *cfg = c->srv->cfg;
	struct fng_req *req = new_req(c);
	uint32_t start = fng__prevalid_line_start(&c->pv);
	llhttp_t *parser;
	llhttp_errno_t e;
	const char *why = NULL;
	char *copy;
	int err;

	if (!req) {
		close_now(c);
		return;
	}
	req->bytes_in = len;
	copy = fng__arena_alloc(req->arena, len);
	req->headers = fng__arena_alloc(req->arena, (c->pv.fields + 1) * sizeof(*req->headers));
	if (!copy || !req->headers) {
		refuse(c, UV_ENOMEM, "out of memory");
		return;
	}
	memcpy(copy, head, len);
	/*
	 * llhttp sees heads only, one request each (bodies go through body.c), so its state
	 * lives in the request arena, not in the connection: idle connections stay small.
	 */
	parser = fng__arena_alloc(req->arena, sizeof(*parser));
	if (!parser) {
		refuse(c, UV_ENOMEM, "out of memory");
		return;
	}
	llhttp_init(parser, HTTP_REQUEST, &settings);
	parser->data = c;
	e = llhttp_execute(parser, copy + start, len - start);
	if (e != HPE_OK && e != HPE_PAUSED && e != HPE_PAUSED_UPGRADE) {
		refuse(c, e == HPE_INVALID_VERSION ? FNG_EVERSION : FNG_EBAD_REQUEST,
			llhttp_get_error_reason(parser));
		return;
	}
	req->upgrade = req->upgrade || e == HPE_PAUSED_UPGRADE;
	set_request_id(c, req);
	err = check_head(c, req, &why);
	if (!err && req->has_body && !req->chunked && req->content_length > cfg->limits.body_bytes) {
		err = FNG_EBODY_TOO_LARGE;
		why = "request body exceeds the gateway's body limit";
	}
	if (err) {
		refuse(c, err, why);
		return;
	}
	if (req->has_body) {
		c->bp = fng__arena_alloc(req->arena, sizeof(*c->bp));
		if (!c->bp) {
			refuse(c, UV_ENOMEM, "out of memory");
			return;
		}
		fng__body_init(c->bp, req->chunked, req->content_length, cfg->limits.header_bytes,
			cfg->limits.header_fields);
		req->body_limit = cfg->limits.body_bytes;
		c->state = FNG_CONN_BODY;
	} else {
		req->body_complete = true;
		c->state = FNG_CONN_REQUEST;
	}
	/* Head phase: may refuse (then the request is finished already) before any body byte. */
	if (!fng__req_run(req)) {
		return;
	}
	if (c->state == FNG_CONN_BODY && req->expect_continue && req->http_minor == 1) {
		fng__buf_str(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
	}
}

static size_t feed_body(struct fng_conn *c, const char *p, size_t len)
{
	long n = fng__body_parse(c->bp, p, len, on_body_data, c);

	if (n < 0) {
		refuse(c, (int)n, n == FNG_EBODY_TOO_LARGE ? "request body exceeds the body limit"
							   : c->bp->error);
		return len;
	}
	c->req->bytes_in += (size_t)n;
	if (fng__body_done(c->bp)) {
		c->bp = NULL;
		dispatch(c);
	}
	return (size_t)n;
}

/*
 * Consumes what it can of p[0..len) and returns how much. Unconsumed bytes (a partial head,
 * or requests waiting behind the one in progress) stay with the caller, who keeps them in
 * c->in and presents them again from the same first byte.
 */
static size_t process(struct fng_conn *c, const char *p, size_t len)
{
	size_t off = 0;
	int rc;

	c->in_process = true;
	while (off < len) {
		if (c->state == FNG_CONN_HEAD) {
			if (c->flushing && c->out.len > OUT_HIGH) {
				break; /* the client is not reading its responses */
			}
			if (c->pv.off == 0) {
				c->req_start = uv_hrtime();
			}
			rc = fng__prevalid_scan(&c->pv, p + off, len - off);
			if (rc == FNG_PV_MORE) {
				break;
			}
			if (rc < 0) {
				refuse(c, rc, c->pv.error);
				off = len;
				break;
			}
			off += c->pv.off;
			on_head(c, p + off - c->pv.off, c->pv.off);
		} else if (c->state == FNG_CONN_BODY) {
			off += feed_body(c, p + off, len - off);
		} else if (c->state >= FNG_CONN_CLOSING) {
			off = len; /* after the last response nothing more is read */
		} else {
			break;     /* a request is in the stage table: input waits */
		}
	}
	c->in_process = false;
	return off;
}

static void process_buffered(struct fng_conn *c)
{
	size_t n;

	if (!c->in.len || c->state == FNG_CONN_CLOSED) {
		return;
	}
	n = process(c, c->in.p, c->in.len);
	fng__buf_consume(&c->in, n);
	if (c->in.len == 0) {
		fng__buf_finish(&c->in);
	}
}

void fng__conn_on_data(struct fng_conn *c, const char *data, size_t len)
{
	size_t n;

	if (c->state == FNG_CONN_CLOSED) {
		return;
	}
	if (c->state == FNG_CONN_CLOSING) {
		return; /* lingering: discard */
	}
	if (c->state == FNG_CONN_WS) {
		c->up->on_data(c, data, len);
		flush(c);
		update_tq(c);
		return;
	}
	if (c->in.len) {
		if (fng__buf_append(&c->in, data, len)) {
			close_now(c);
			return;
		}
		process_buffered(c);
	} else {
		n = process(c, data, len);
		if (n < len && c->state < FNG_CONN_CLOSING &&
			fng__buf_append(&c->in, data + n, len - n)) {
			close_now(c);
			return;
		}
	}
	if (c->state == FNG_CONN_WS) {
		/* Upgraded inside process(): the rest of the input is frames. */
		c->up->on_data(c, NULL, 0);
		flush(c);
		update_tq(c);
		return;
	}
	/*
	 * Input piling up behind a request in progress, or behind responses the client does not
	 * read, stops reading until it drains. (A partial head alone is bounded by the limits.)
	 */
	if (c->in.len > IN_HIGH && c->reading &&
		!(c->state == FNG_CONN_HEAD && !c->flushing && c->pv.off)) {
		c->ops->read_stop(c);
		c->reading = false;
	}
	flush(c);
	update_tq(c);
}

void fng__conn_on_eof(struct fng_conn *c, int status)
{
	if (c->state == FNG_CONN_CLOSED) {
		return;
	}
	if (status < 0 && status != UV_EOF) {
		fng__conn_abort(c);
		return;
	}
	if (c->reading) {
		c->ops->read_stop(c);
		c->reading = false;
	}
	switch (c->state) {
	case FNG_CONN_WS:
		c->up->on_eof(c);
		break;
	case FNG_CONN_REQUEST:
		/*
		 * EOF while the request is in flight: like nginx, take it as the client giving up
		 * (a half-closing HTTP/1.1 client is rare; a vanished one is not). The request is
		 * cancelled and logged as 499; a running function finishes, its answer dropped.
		 */
		fng__conn_abort(c);
		break;
	case FNG_CONN_CLOSING:
		close_now(c);
		break;
	default:
		/* Mid-head or mid-body, or idle: nothing can be answered. */
		fng__conn_abort(c);
		break;
	}
}

/* ---- writing ---- */

static void req_respond(struct fng_req *req)
{
	struct fng_conn *c = req->conn;
	struct fng_resp *r = &req->resp;
	const struct fng_config *cfg = req->cfg;
	struct fng_buf *o = &c->out;
	size_t before = o->len;
	bool head = fng__str_eq(req->method, "HEAD", 4);
	bool no_body = r->status < 200 || r->status == 204 || r->status == 304;
	bool chunked = r->chunked && req->http_minor == 1 && !no_body;
	/* Upgrade on an HTTP API is ignored: the answer is plain HTTP. */
	bool close = c->close_after || !req->keep_alive || !req->body_complete || c->srv->draining;
	char tp[56];

	if (req->ws.accept && !req->error && r->status >= 200 && r->status < 300 &&
		!c->close_after && req->body_complete && !c->srv->draining) {
		/* A WebSocket handshake that $connect accepted (or that has no $connect). */
		fng__buf_str(o, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			"Connection: Upgrade\r\nSec-WebSocket-Accept: ");
		fng__buf_str(o, req->ws.accept);
		if (req->ws.protocol) {
			fng__buf_str(o, "\r\nSec-WebSocket-Protocol: ");
			fng__buf_str(o, req->ws.protocol);
		}
		fng__buf_str(o, "\r\nx-request-id: ");
		fng__buf_append(o, req->request_id, req->request_id_len);
		if (fng__req_traceparent(req, tp)) {
			/* The connection's trace (stage "trace"), as every answer carries it. */
			fng__buf_str(o, "\r\ntraceparent: ");
			fng__buf_str(o, tp);
		}
		fng__buf_str(o, "\r\n\r\n");
		r->status = 101;
		req->bytes_out = o->len - before;
		c->upgrading = true;
		return;
	}
	if (r->status < 100 || r->status > 599) {
		r->status = 500;
	}
	if (fng__buf_reserve(o, 256 + r->body.len)) {
		c->close_after = true;
		return;
	}
	/* No printf on this path: it showed up as the largest user-space cost in perf. */
	{
		char line[16] = "HTTP/1.1 000 ";

		line[9] = (char)('0' + r->status / 100);
		line[10] = (char)('0' + r->status / 10 % 10);
		line[11] = (char)('0' + r->status % 10);
		fng__buf_append(o, line, 13);
	}
	fng__buf_str(o, fng__status_reason(r->status));
	fng__buf_append(o, "\r\n", 2);
	if (cfg->server_header && cfg->server_header[0]) {
		fng__buf_append(o, "Server: ", 8);
		fng__buf_str(o, cfg->server_header);
		fng__buf_append(o, "\r\n", 2);
	}
	fng__buf_str(o, "Date: ");
	fng__buf_append(o, fng__server_date(c->srv), 29);
	fng__buf_str(o, "\r\n");
	if (c->hsts) {
		fng__buf_str(o, "Strict-Transport-Security: ");
		fng__buf_str(o, c->hsts);
		fng__buf_str(o, "\r\n");
	}
	for (unsigned i = 0; i < r->nheaders; i++) {
		fng__buf_append(o, r->headers[i].name.p, r->headers[i].name.len);
		fng__buf_append(o, ": ", 2);
		fng__buf_append(o, r->headers[i].value.p, r->headers[i].value.len);
		fng__buf_append(o, "\r\n", 2);
	}
	fng__buf_str(o, "x-request-id: ");
	fng__buf_append(o, req->request_id, req->request_id_len);
	fng__buf_str(o, "\r\n");
	if (chunked) {
		fng__buf_str(o, "Transfer-Encoding: chunked\r\n");
	} else if (!no_body) {
		fng__buf_str(o, "Content-Length: ");
		fng__buf_u64(o, r->body.len);
		fng__buf_str(o, "\r\n");
	}
	if (close) {
		fng__buf_str(o, "Connection: close\r\n\r\n");
	} else if (req->http_minor == 0) {
		fng__buf_str(o, "Connection: keep-alive\r\n\r\n");
	} else {
		fng__buf_str(o, "\r\n");
	}
	if (!head && !no_body) {
		if (chunked) {
			if (r->body.len) {
				fng__buf_printf(o, "%zx\r\n", r->body.len);
				fng__buf_append(o, r->body.p, r->body.len);
				fng__buf_str(o, "\r\n");
			}
			fng__buf_str(o, "0\r\n\r\n");
		} else {
			fng__buf_append(o, r->body.p, r->body.len);
		}
	}
	req->bytes_out = o->len - before;
	c->close_after = close;
}

static void req_log(struct fng_req *req, const char *line, size_t len)
{
	/* req->srv, not the connection: the client may have gone while the request ran. */
	fng__server_log_line(req->srv, line, len);
}

static void req_finish(struct fng_req *req)
{
	struct fng_conn *c = req->conn;
	const struct fng_upgrade_ops *up = req->upgrade_ops;
	bool upgrade = c && c->upgrading && !c->close_after && up && up->start(c, req) == 0;

	if (c && c->upgrading && !upgrade) {
		c->close_after = true; /* the 101 is out but no WebSocket state: end it */
	}
	fng__req_destroy(req);
	if (!c) {
		return; /* the connection went away while the request was in flight */
	}
	c->req = NULL;
	c->bp = NULL;
	c->served = true;
	c->srv->requests++;
	c->upgrading = false;
	if (upgrade) {
		c->up = up;
		/* Frames the client sent right after its handshake are in c->in already. */
		c->state = FNG_CONN_WS;
		if (!c->in_process) {
			c->up->on_data(c, NULL, 0);
			if (!c->reading && c->state == FNG_CONN_WS) {
				c->reading = c->ops->read_start(c) == 0;
			}
			flush(c);
			update_tq(c);
		}
		return;
	}
	if (c->close_after) {
		begin_close(c);
	} else {
		c->state = FNG_CONN_HEAD;
		fng__prevalid_init(&c->pv, c->srv->cfg->limits.request_line_bytes,
			c->srv->cfg->limits.header_bytes, c->srv->cfg->limits.header_fields);
	}
	if (!c->in_process) {
		/* Finished asynchronously: carry on with waiting input and send the answer. */
		process_buffered(c);
		if (!c->reading && c->state < FNG_CONN_CLOSING) {
			c->reading = c->ops->read_start(c) == 0;
		}
		flush(c);
		update_tq(c);
	}
}

static void after_flush(struct fng_conn *c)
{
	if (c->state == FNG_CONN_CLOSING) {
		if (!c->fin_sent) {
			c->fin_sent = true;
			c->ops->shutdown(c);
			if (!c->reading) {
				c->reading = c->ops->read_start(c) == 0; /* linger: read to EOF */
			}
		}
		update_tq(c);
		return;
	}
	if (c->in.len && c->state == FNG_CONN_HEAD) {
		process_buffered(c);
		if (c->out.len) {
			flush(c);
			return;
		}
	}
	if (!c->reading && c->state != FNG_CONN_REQUEST && !c->paused) {
		c->reading = c->ops->read_start(c) == 0;
	}
	if (c->state == FNG_CONN_WS && !c->out.len) {
		fng__buf_finish(&c->out); /* the 101 is out: WebSocket output has its own queue */
	}
	if (c->state == FNG_CONN_HEAD && !c->in.len) {
		fng__buf_finish(&c->out); /* idle: hold no buffers */
		if (c->srv->draining && !c->pv.off) {
			close_now(c);
			return;
		}
	}
	update_tq(c);
}

/* Output waiting: bytes in c->out, then (WebSocket) frames in the send queue. */
static bool out_pending(const struct fng_conn *c)
{
	return c->out.len || (c->up && c->up->queued(c));
}

static void flush(struct fng_conn *c)
{
	int rc = 1;

	if (c->flushing || c->state == FNG_CONN_CLOSED) {
		return;
	}
	if (!out_pending(c)) {
		if (c->state == FNG_CONN_CLOSING && !c->fin_sent) {
			after_flush(c);
		}
		return;
	}
	c->flushing = true;
	while (rc == 1 && out_pending(c)) {
		rc = c->out.len ? c->ops->flush(c) : c->up->write(c);
	}
	if (rc == 0) {
		update_tq(c);
		return;
	}
	c->flushing = false;
	if (rc < 0) {
		fng__conn_abort(c);
		return;
	}
	after_flush(c);
}

void fng__conn_on_flushed(struct fng_conn *c, int status)
{
	c->flushing = false;
	if (c->state == FNG_CONN_CLOSED) {
		return;
	}
	if (status < 0) {
		fng__conn_abort(c);
		return;
	}
	if (c->up) {
		c->up->written(c);
	}
	if (out_pending(c)) {
		flush(c);
		return;
	}
	after_flush(c);
}

/* ---- closing ---- */

static void begin_close(struct fng_conn *c)
{
	if (c->state >= FNG_CONN_CLOSING) {
		return;
	}
	c->state = FNG_CONN_CLOSING;
	fng__buf_finish(&c->in);
	if (!c->in_process) {
		flush(c);
	}
}

static void close_now(struct fng_conn *c)
{
	if (c->state == FNG_CONN_CLOSED) {
		return;
	}
	c->state = FNG_CONN_CLOSED;
	update_tq(c);
	if (c->req) {
		struct fng_req *req = c->req;

		c->req = NULL;
		c->bp = NULL;
		fng__req_cancel(req); /* finishes it (logged as 499) now or when it resumes */
	}
	c->reading = false;
	c->ops->close(c);
}

void fng__conn_abort(struct fng_conn *c)
{
	close_now(c);
}

void fng__conn_on_closed(struct fng_conn *c)
{
	struct fng_server *srv = c->srv;

	if (c->up) {
		c->up->on_closed(c); /* $disconnect, for a WebSocket */
	}
	fng__list_remove(&c->link);
	fng__list_remove(&c->tlink);
	fng__buf_finish(&c->in);
	fng__buf_finish(&c->out);
	srv->nconns--;
	fng__server_maybe_drained(srv);
}

void fng__conn_flush(struct fng_conn *c)
{
	if (!c->in_process) {
		flush(c);
		update_tq(c);
	}
}

void fng__conn_finish(struct fng_conn *c)
{
	begin_close(c);
	update_tq(c);
}

void fng__conn_pause(struct fng_conn *c, bool pause)
{
	c->paused = pause;
	if (pause && c->reading) {
		c->ops->read_stop(c);
		c->reading = false;
	} else if (!pause && !c->reading && c->state == FNG_CONN_WS) {
		c->reading = c->ops->read_start(c) == 0;
	}
}

void fng__conn_drain(struct fng_conn *c)
{
	if (c->state == FNG_CONN_WS) {
		c->up->drain(c);
		return;
	}
	if (c->state == FNG_CONN_HEAD && !c->pv.off && !c->in.len && !c->flushing) {
		close_now(c);
	}
	/* Otherwise the response in progress carries Connection: close (req_respond). */
}

void fng__conn_expired(struct fng_conn *c)
{
	switch (c->tq) {
	case FNG_TQ_HEADER:
		if (c->pv.off || c->in.len) {
			refuse(c, FNG_EREQUEST_TIMEOUT, "timed out reading the request head");
			flush(c);
			update_tq(c);
		} else {
			close_now(c);
		}
		break;
	case FNG_TQ_BODY:
		refuse(c, FNG_EREQUEST_TIMEOUT, "timed out reading the request body");
		flush(c);
		update_tq(c);
		break;
	default:
		close_now(c);
		break;
	}
}

void fng__conn_init(struct fng_conn *c, struct fng_server *srv,
	const struct fng_transport_ops *ops)
{
	const struct fng_config *cfg = srv->cfg;

	c->ops = ops;
	c->srv = srv;
	fng__list_init(&c->tlink);
	fng__list_append(&srv->conns, &c->link);
	srv->nconns++;
	fng__prevalid_init(&c->pv, cfg->limits.request_line_bytes, cfg->limits.header_bytes,
		cfg->limits.header_fields);
	c->state = FNG_CONN_HEAD;
	c->tq = FNG_TQ_NONE;
}

void fng__conn_start(struct fng_conn *c)
{
	c->reading = c->ops->read_start(c) == 0;
	if (!c->reading) {
		close_now(c);
		return;
	}
	if (c->srv->draining) {
		close_now(c);
		return;
	}
	update_tq(c);
}
