// SPDX-License-Identifier: MIT
/*
 * Frames from workers: the dispatch table says which frame a worker may send in which state
 * (READY while starting; RESULT, LOG and the WebSocket calls while busy); anything else kills
 * the worker. A RESULT ends the running invocation; the WebSocket calls are checked against
 * the function's grants before they reach a connection or a topic.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "fngate.h"
#include "grants.h"
#include "host.h"
#include "server.h"
#include "stages.h"
#include "topic.h"
#include "ws.h"
#include "ws_cluster.h"
#include "ws_conn.h"

void fng__host_worker_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fng_worker *w = h->data;

	if (fng__buf_reserve(&w->in, 64 * 1024)) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = w->in.p + w->in.len;
	buf->len = w->in.cap - w->in.len;
}

static int on_ready(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b, size_t n)
{
	uint32_t abi;
	struct fng_wire_str name;
	void *h = NULL;

	if (w->ready_seen || fng__wire_decode_ready(b, n, &abi, &name, &h)) {
		return -1;
	}
	fng__wire_free(h);
	/* Not trusted yet: the supervisor checks its filters first (fng__host_on_verified). */
	w->ready_seen = true;
	if (fng__host_ctl_send(fns, FNG_SB_VERIFY,
		&(struct fng_sb_verify){ FNG_SB_VERIFY, w->pid })) {
		fng__host_worker_refuse(fns, w, "cannot have its sandbox verified: out of memory",
			false);
	}
	return 0;
}

/*
 * What an invocation costs beyond its handler's own run time when nothing else waits: the
 * frames' round trip between the vCPUs and their encoding (30-67 us measured on this machine
 * kind, DESIGN.md), added to the worker's report before it is compared with the gateway's.
 */
#define WIRE_ALLOWANCE_NS 50000

static int on_result(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b, size_t n)
{
	struct fng_req *req = w->slots[0].req;
	struct fng_fn *fn = w->gen->fn;
	uint64_t ran = uv_hrtime() - w->started_ns, wall;
	int rc;

	assert(w->state == W_BUSY && w->nslots >= 1);
	if (fng__host_result_decode(req, w->gen, b, n, &rc, &wall)) {
		return -1;
	}
	uv_timer_stop(&w->timer);
	/*
	 * The run-time averages: pipelining and admission (host/queue.c). What the gateway
	 * measures includes the time the RESULT waited while the loop did other work (a storm
	 * of handshakes); the worker's own measure of its handler does not. The smaller one is
	 * the sample: a worker that under-reports only has more of its own requests admitted,
	 * which its deadline then answers (504), within its queue bound.
	 */
	fng__host_service_sample(fn, wall && wall + WIRE_ALLOWANCE_NS < ran ?
		wall + WIRE_ALLOWANCE_NS : ran);
	w->invocations++;
	memmove(&w->slots[0], &w->slots[1], --w->nslots * sizeof(w->slots[0]));
	if (req) {
		fng__host_complete(fns, req, rc);
	}
	if (w->nslots) {
		fng__host_head_started(fns, w);
		fng__host_pump_soon(fns, fn);
	} else {
		fng__host_worker_idle(fns, w);
	}
	FNG_HOST_CHECK(w);
	return 0;
}

/*
 * A handler's fng_log() line: into the log if its function's rate limit allows (fnlog.c).
 * A flood (FLOOD_BYTES dropped in one read) stops the worker's socket being read until the
 * next log tick (100 ms), as its output pipe is (host/output.c): its writes then wait in the
 * socket instead of the loop decoding and dropping frames at the flooder's pace (milliseconds
 * of the loop per read burst: every route's latency).
 */
static int on_log(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b, size_t n)
{
	static const char *const levels[] = { [FNG_LOG_DEBUG] = "debug", [FNG_LOG_INFO] = "info",
		[FNG_LOG_WARN] = "warn", [FNG_LOG_ERROR] = "error" };
	struct fng_fn *fn = w->gen->fn;
	struct fng_wire_str msg;
	int level;
	void *h = NULL;

	if (fng__wire_decode_log(b, n, &level, &msg, &h)) {
		return -1;
	}
	if (!fng__fnlog_line(&fn->log, &fns->logs, uv_now(fns->loop), fn->name,
		level >= FNG_LOG_DEBUG && level <= FNG_LOG_ERROR ? levels[level] : "info", msg.p,
		msg.len, w->nslots && w->slots[0].req ? w->slots[0].req->request_id : NULL, "log") &&
		(w->log_dropped += msg.len + 1) >= FLOOD_BYTES) {
		uv_read_stop((uv_stream_t *)&w->pipe);
		w->in_paused = true;
		fns->out_paused = true;
	}
	fng__wire_free(h);
	return 0;
}

/*
 * A WS_* frame outside the function's policy: dropped, never reaching the connection or the
 * topic, and logged at most once a second per function with the number refused since the
 * line before (a handler calling in a loop must not flood the log).
 */
static void ws_refused(struct fng_functions *fns, struct fng_worker *w, const char *action,
	const struct fng_wire_str *id, const struct fng_wire_str *topic)
{
	struct fng_fn *fn = w->gen->fn;
	uint64_t now = uv_now(fns->loop);
	char cause[320], count[12];

	fn->refused++;
	if (fn->refused_at && now - fn->refused_at < 1000) {
		return;
	}
	snprintf(count, sizeof(count), "%u", fn->refused);
	if (topic) {
		snprintf(cause, sizeof(cause), "topic %s is not granted to function %s "
			"(functions.grants.%s.topics)", topic->p, fn->name, fn->name);
	} else {
		const char *api = fng__ws_api_name(fns->srv, w->nslots ? w->slots[0].req : NULL, id->p,
			id->len);

		snprintf(cause, sizeof(cause), "the connection belongs to WebSocket API %s: "
			"function %s may act on those of the APIs routed to it and of "
			"functions.grants.%s.connections", api ? api : "?", fn->name, fn->name);
	}
	fng__log("warn", "WebSocket call refused", "function", fn->name, "action", action,
		topic ? "topic" : "connectionId", topic ? topic->p : id->p, "cause", cause,
		"refused", count, NULL);
	fn->refused_at = now;
	fn->refused = 0;
}

/*
 * Whether a connection held by another node (ws_cluster.h) may be acted on by policy: its API
 * is known here by the tag its id starts with (sdk/grants.h).
 */
static bool remote_ok(struct fng_functions *fns, const struct fng_fn_policy *policy,
	const struct fng_wire_str *id)
{
	const struct fng_config *cfg = fns->srv->cfg;
	char tag[FNG_CONN_TAG_LEN];

	if (!fng__ws_cluster_on(fns->srv) || id->len != FNG_CONN_ID_LEN) {
		return false;
	}
	for (unsigned i = 0; cfg && i < cfg->napis; i++) {
		const struct fng_api *api = &cfg->apis[i];

		if (api->protocol != FNG_API_WEBSOCKET) {
			continue;
		}
		fng__conn_tag(api->name, tag);
		if (memcmp(tag, id->p, FNG_CONN_TAG_LEN) == 0 &&
			fng__policy_api_ok(policy, api->name)) {
			return true;
		}
	}
	return false;
}

/*
 * A handler's message for a WebSocket connection (fng_ws_send): gone connections drop it; one
 * held by another cluster node gets it through Redis (fire and forget).
 */
static int on_ws_send(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n)
{
	struct fng_wire_str id, data;
	void *h = NULL;
	bool binary;
	int err;

	if (fng__wire_decode_ws_send(b, n, &id, &data, &binary, &h)) {
		return -1;
	}
	err = fng__ws_push(fns->srv, id.p, id.len, data.p, data.len, binary, w->gen->fn->policy);
	if (err == -EACCES) {
		ws_refused(fns, w, "send", &id, NULL);
	} else if (err == -ENOENT && remote_ok(fns, w->gen->fn->policy, &id)) {
		fng__ws_cluster_remote(fns->srv, binary ? FNG_WS_REMOTE_BINARY : FNG_WS_REMOTE_TEXT,
			id.p, id.len, 0, data.p, data.len, NULL, NULL);
	}
	fng__wire_free(h);
	return 0;
}

/* A handler closing a WebSocket connection (fng_ws_close); a bad code is a malformed frame. */
static int on_ws_close(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n)
{
	struct fng_wire_str id, reason;
	uint32_t code;
	void *h = NULL;
	int err;

	if (fng__wire_decode_ws_close(b, n, &id, &code, &reason, &h)) {
		return -1;
	}
	/* fng_ws_close() refuses any other code: a worker that sends one bypassed the SDK. */
	if (!fng__ws_close_code_ok(code)) {
		fng__wire_free(h);
		return -1;
	}
	err = fng__ws_close_id(fns->srv, id.p, id.len, (int)code, reason.p, reason.len,
		w->gen->fn->policy);
	if (err == -EACCES) {
		ws_refused(fns, w, "close", &id, NULL);
	} else if (err == -ENOENT && remote_ok(fns, w->gen->fn->policy, &id)) {
		fng__ws_cluster_remote(fns->srv, FNG_WS_REMOTE_CLOSE, id.p, id.len, (int)code,
			reason.p, reason.len, NULL, NULL);
	}
	fng__wire_free(h);
	return 0;
}

/* A handler publishing to a topic (fng_ws_publish); a bad name is dropped and logged. */
static int on_ws_publish(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n)
{
	struct fng_wire_str topic, data;
	void *h = NULL;
	int err;

	if (fng__wire_decode_ws_publish(b, n, &topic, &data, &h)) {
		return -1;
	}
	if (!fng__grants_topic_ok(&w->gen->fn->policy->grants, topic.p, topic.len)) {
		ws_refused(fns, w, "publish", NULL, &topic);
		fng__wire_free(h);
		return 0;
	}
	err = fng__topic_publish(fns->srv, topic.p, topic.len, data.p, data.len, NULL, NULL);
	if (err) {
		fng__log("warn", "publish dropped", "function", w->gen->fn->name, "topic", topic.p,
			"error", err == -EINVAL ? "invalid topic name" : err == -ENOSPC ?
			"too many topics" : fng_strerror(err), NULL);
	}
	fng__wire_free(h);
	return 0;
}

/*
 * fng_ws_subscribe / fng_ws_unsubscribe: both the connection and the topic must be the
 * function's. The running request is passed along: during $connect the connection is not
 * open yet and subscribes when it is.
 */
static int ws_sub(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b, size_t n,
	bool on)
{
	const struct fng_fn_policy *policy = w->gen->fn->policy;
	const char *action = on ? "subscribe" : "unsubscribe";
	struct fng_wire_str id, topic;
	void *h = NULL;
	int err;

	if (fng__wire_decode_ws_sub(b, n, &id, &topic, &h)) {
		return -1;
	}
	if (!fng__grants_topic_ok(&policy->grants, topic.p, topic.len)) {
		ws_refused(fns, w, action, NULL, &topic);
		fng__wire_free(h);
		return 0;
	}
	err = fng__ws_subscribe(fns->srv, w->nslots ? w->slots[0].req : NULL, id.p, id.len, topic.p,
		topic.len, on, policy);
	if (err == -EACCES) {
		ws_refused(fns, w, action, &id, NULL);
	} else if (err == -EINVAL || err == -ENOSPC) {
		fng__log("warn", "subscription dropped", "function", w->gen->fn->name, "topic",
			topic.p, "error", err == -EINVAL ? "invalid topic name" :
			"too many topics (256 per connection, 65536 in all)", NULL);
	}
	fng__wire_free(h);
	return 0;
}

static int on_ws_subscribe(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n)
{
	return ws_sub(fns, w, b, n, true);
}

static int on_ws_unsubscribe(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n)
{
	return ws_sub(fns, w, b, n, false);
}

/*
 * What a worker may send, and when. The state column makes READY once (only while
 * starting), RESULT once per INVOKE (only while busy; it ends the busy state) and LOG many
 * (only while busy). Anything else kills the worker.
 */
static const struct {
	uint8_t type;
	uint8_t states; /* bit per enum wstate */
	int (*handle)(struct fng_functions *, struct fng_worker *, const uint8_t *, size_t);
} dispatch[] = {
	{ FNG_WIRE_READY, 1u << W_STARTING, on_ready },
	{ FNG_WIRE_RESULT, 1u << W_BUSY, on_result },
	{ FNG_WIRE_LOG, 1u << W_BUSY, on_log },
	{ FNG_WIRE_WS_SEND, 1u << W_BUSY, on_ws_send },
	{ FNG_WIRE_WS_CLOSE, 1u << W_BUSY, on_ws_close },
	{ FNG_WIRE_WS_PUBLISH, 1u << W_BUSY, on_ws_publish },
	{ FNG_WIRE_WS_SUBSCRIBE, 1u << W_BUSY, on_ws_subscribe },
	{ FNG_WIRE_WS_UNSUBSCRIBE, 1u << W_BUSY, on_ws_unsubscribe },
};

/* The row of dispatch for a frame of type arriving in state, or -1: the worker is killed. */
static int dispatch_row(uint8_t type, enum wstate state)
{
	for (size_t i = 0; i < sizeof(dispatch) / sizeof(dispatch[0]); i++) {
		if (dispatch[i].type == type && (dispatch[i].states & (1u << state))) {
			return (int)i;
		}
	}
	return -1;
}

bool fng__host_frame_allowed(uint8_t type, enum wstate state)
{
	return dispatch_row(type, state) >= 0;
}

/*
 * Handles the frames in w->in, through the dispatch table, until none is complete or the
 * worker's reading is paused (on_log: its function is over its log limit; the frames left
 * wait for the next log tick).
 */
static void worker_frames(struct fng_functions *fns, struct fng_worker *w)
{
	size_t off = 0;

	w->log_dropped = 0;
	while (w->state != W_DEAD && !w->in_paused) {
		uint8_t type;
		const uint8_t *body;
		size_t blen;
		int i;
		long n = fng__wire_frame((const uint8_t *)w->in.p + off, w->in.len - off,
			FNG_WIRE_MAX_DEFAULT, &type, &body, &blen);

		if (n == 0) {
			break;
		}
		if (n < 0) {
			fng__host_worker_protocol_error(fns, w,
				n == -EMSGSIZE ? "an oversized frame" : "a malformed frame");
			return;
		}
		i = dispatch_row(type, w->state);
		if (i < 0) {
			fng__host_worker_protocol_error(fns, w, "an unexpected frame");
			return;
		}
		if (dispatch[i].handle(fns, w, body, blen)) {
			fng__host_worker_protocol_error(fns, w, "a malformed frame");
			return;
		}
		FNG_HOST_CHECK(w);
		off += (size_t)n;
	}
	fng__buf_consume(&w->in, off);
	if (w->in.len == 0 && w->in.cap > 256 * 1024) {
		fng__buf_finish(&w->in);
	}
}

void fng__host_worker_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fng_worker *w = s->data;
	struct fng_functions *fns = w->fns;

	if (nread < 0) {
		uv_read_stop(s);
		w->pipe_eof = true;
		if (!w->exited) {
			if (w->state == W_BUSY) {
				snprintf(w->cause, sizeof(w->cause), "worker exited");
			}
			uv_timer_start(&w->timer, fng__host_exit_wait_cb, EXIT_WAIT_MS, 0);
		} else {
			fng__host_worker_died(fns, w);
		}
		return;
	}
	w->in.len += (size_t)nread;
	worker_frames(fns, w);
}

void fng__functions_log_tick(struct fng_functions *fns, uint64_t now_ms)
{
	for (unsigned i = 0; i < fns->nfns; i++) {
		fng__fnlog_tick(&fns->fns[i]->log, now_ms, fns->fns[i]->name);
	}
	/* Workers paused for being over their limit are read again (frames left first). */
	if (!fns->out_paused) {
		return;
	}
	fns->out_paused = false; /* set again by a worker that goes over meanwhile */
	for (struct fng_list *it = fns->workers.next; it != &fns->workers;) {
		struct fng_worker *w = fng__container_of(it, struct fng_worker, all);

		it = it->next; /* a frame may end w */
		if (w->out_paused && w->out_open) {
			w->out_paused = false;
			uv_read_start((uv_stream_t *)&w->out, fng__host_out_alloc_cb,
				fng__host_out_read_cb);
		}
		if (w->in_paused) {
			w->in_paused = false;
			if (w->pipe_open && !w->pipe_eof) {
				uv_read_start((uv_stream_t *)&w->pipe, fng__host_worker_alloc_cb,
					fng__host_worker_read_cb);
			}
			worker_frames(fns, w);
		}
	}
}
