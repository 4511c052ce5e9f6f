// SPDX-License-Identifier: MIT
/*
 * The function host, gateway side. A function is a NAME.so in the functions directory; each
 * content version of it is a generation with its own worker pool. The `function` integration
 * sends an INVOKE frame to an idle worker of the current generation and turns its RESULT (or
 * its death, or its deadline) into the response, with API Gateway + Lambda semantics: crash,
 * seccomp kill, out of memory or a malformed answer → 502, deadline → 504, pool and queue
 * full → 429, no such function → 503.
 *
 * Hot deploy: the directory is watched; a changed .so is hashed and copied into a private
 * per-version directory off the loop thread, one worker of the new generation is started and
 * must say READY (ABI checked, init hook succeeded) before the generation takes traffic; the
 * old one finishes what it has and retires. A failing pre-flight keeps the old version.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "grants.h"
#include "sandbox.h"
#include "wire.h"
#include "chars.h"
#include "errors.h"
#include "fnlog.h"
#include "fnstore.h"
#include "functions.h"
#include "integration.h"
#include "safefile.h"
#include "server.h"
#include "stages.h"
#include "ws_conn.h"

#define MAX_FUNCTIONS 1024
/* A manifest is a few lines of YAML. */
#define MANIFEST_MAX_BYTES (64 * 1024)
#define DEBOUNCE_MS 30
#define MAX_COMPLETE 64
#define EXIT_WAIT_MS 1000
/* A longer line a worker writes on its stdout or stderr is logged in pieces of this size. */
#define OUT_LINE_MAX 4096
/*
 * A worker whose lines over its function's log limit add up to this much in one read is
 * flooding: it is not read again until the next log tick (on_log, out_read_cb). A chatty but
 * honest handler that loses a line now and then is never paused.
 */
#define FLOOD_BYTES (16 * 1024)
#define MAX_PIPELINE 16
/*
 * A function whose invocations take longer than this on average is not pipelined; a new one
 * counts as slower until some of its invocations have shown otherwise.
 */
#define PIPELINE_MAX_SERVICE_NS (1000 * 1000)
#define SERVICE_NS_UNKNOWN (8 * PIPELINE_MAX_SERVICE_NS)

enum wstate {
	W_SPAWNING,  /* asked the supervisor; no pid yet */
	W_STARTING,  /* running; READY not yet seen, or seen and being verified (ready_seen) */
	W_IDLE,
	W_BUSY,      /* invocations sent: the first runs, the others wait in its socket */
	W_RETIRING,  /* SHUTDOWN sent */
	W_DEAD,      /* gone or being killed: waiting for the pipe and the exit report */
};

struct fng_fn;
struct fng_gen;

struct fng_worker {
	struct fng_list link;    /* gen->workers */
	struct fng_list all;     /* fns->workers, for exit reports */
	struct fng_gen *gen;
	uv_pipe_t pipe;
	uv_pipe_t out;           /* its stdout and stderr: lines become the function's log */
	struct fng_buf line;     /* a line of out not finished yet */
	uv_timer_t timer;        /* invocation deadline, or the wait for the exit report */
	uint32_t spawn_id;
	pid_t pid;
	enum wstate state;
	uint32_t invocations;
	/*
	 * Invocations sent, in order: slots[0] runs, the others wait unread in the worker's
	 * socket (the pipeline) and provably have not started — the runtime starts one only
	 * after writing the RESULT of the one before. A NULL req: answered already (cancelled, or
	 * timed out waiting); its RESULT is dropped.
	 */
	struct slot {
		struct fng_req *req;
		uint64_t deadline;   /* uv_now() ms: the request's answer is due */
	} slots[MAX_PIPELINE];
	unsigned nslots;
	uint64_t kill_at;        /* uv_now() ms: the running invocation is stopped */
	uint64_t started_ns;     /* uv_hrtime() when slots[0] started (about) */
	struct fng_buf outq;     /* INVOKE frames gathered by one pump, written at its end */
	struct fng_buf in;
	bool pipe_open, pipe_eof, exited, timed_out, out_open;
	bool out_paused;         /* over its log limit: out is not read until the next tick */
	bool in_paused;          /* the same for its socket (LOG frames): see on_log */
	size_t log_dropped;      /* bytes of LOG lines dropped in this read of its socket */
	bool ready_seen;         /* READY arrived: the supervisor is verifying its filters */
	uint8_t verify_tries;    /* verifications that could not be carried out (not a verdict) */
	bool refused;            /* killed by the gateway for the reason in cause */
	char cause[96];
	int handles;             /* open libuv handles; freed at 0 */
};

/* What a deployed file was when it was hashed: unchanged, it needs no new hash or copy. */
struct src_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns, ctime_ns;
};

static struct src_id src_of(const struct stat *st)
{
	return (struct src_id){ st->st_dev, st->st_ino, st->st_size,
		(int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
		(int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec };
}

struct fng_gen {
	struct fng_fn *fn;
	char version[17];        /* the first 16 hex digits of hash, for logs and headers */
	char hash[FNG_FNSTORE_HASH]; /* SHA-256 of the content: its copy in the store */
	char so_path[PATH_MAX];  /* the private copy (one reference held) */
	struct src_id src;       /* the NAME.so it was copied from */
	struct src_id manifest;  /* its NAME.yaml (all zero: none) */
	unsigned defaults_gen;   /* fns->defaults_gen its limits were computed with */
	struct fng_fn_limits limits;
	struct fng_list workers;
	unsigned nworkers;
	bool active, retired;
	struct fng_list link;    /* fn->old */
	unsigned start_failures; /* in a row: spawning backs off */
	uint64_t backoff_until;  /* uv_now() ms */
};

struct fng_fn {
	char name[64];
	struct fng_gen *current, *pending;
	struct fng_list old;     /* retiring generations */
	struct fng_list queue;   /* requests waiting for a worker (struct qitem) */
	unsigned nqueue;
	uint64_t service_ns;     /* moving average of an invocation's run time */
	bool pump_wanted;        /* pump_cb runs pool_pump for it */
	const struct fng_fn_policy *policy; /* what the operator allows it (in fns->cfg) */
	uint64_t refused_at;     /* uv_now() ms of its last "WebSocket call refused" line */
	unsigned refused;        /* its WebSocket calls refused since that line */
	struct fng_fnlog log;    /* the rate limit on its log lines (fng_log and stdout/stderr) */
	struct fn_failure {
		/*
		 * The last failed deploy, as the scan saw the files: while they stay the same the
		 * scan neither logs the failure again nor, for a failed pre-flight with the same
		 * limits, copies the file again.
		 */
		bool set, preflight;
		struct src_id src, manifest;
		char hash[FNG_FNSTORE_HASH];  /* preflight: the content that failed ... */
		struct fng_fn_limits limits; /* ... with these limits */
		char error[256];
	} failure;
};

struct qitem {
	struct fng_list link;
	struct fng_req *req;
	struct fng_fn *fn;
	struct fng_wire_buf frame; /* the INVOKE, encoded when the request arrived */
	uint64_t deadline;         /* uv_now() ms: queueing counts against the timeout */
};

struct fng_functions {
	uv_loop_t *loop;
	int ctl;
	pid_t supervisor;
	uv_poll_t ctl_poll;
	int inotify;               /* on dir, or -1 */
	uv_poll_t watch;
	uv_timer_t debounce;
	bool watching, scanning, rescan, closing;
	/* Names whose .so a writer closed or that were renamed in since the last scan. */
	char complete[MAX_COMPLETE][64];
	unsigned ncomplete;
	char dir[PATH_MAX];
	struct fng_config *cfg;    /* a reference: the functions' policies (and defaults) */
	struct fng_fnstore *store; /* the private copies of the .so files */
	uint64_t max_so_bytes;
	struct fng_fn_limits defaults;
	unsigned defaults_gen;     /* counts changes of the defaults (reloads) */
	struct fng_fnlog_cfg logs; /* functions.logs of the current config */
	bool cpu_isolation;        /* functions.cpu_isolation, for the spawns from now on */
	struct fng_fn *fns[MAX_FUNCTIONS];
	unsigned nfns;
	struct fng_list workers;
	uint32_t next_spawn_id;
	uv_check_t pump;           /* runs pool_pump after the current I/O callbacks */
	bool pump_pending;
	uv_timer_t retry;          /* re-pumps after a start-failure back-off */
	char out_buf[16384];       /* what workers wrote on stdout/stderr, read into here */
	bool out_paused;           /* a worker's output or socket is paused (out_read_cb, on_log) */
	struct fng_list sendq;     /* requests the control socket had no room for (ctl_msg) */
	bool want_write;
};

/* A request to the supervisor waiting in sendq. */
struct ctl_msg {
	struct fng_list link;
	uint32_t type;           /* FNG_SB_SPAWN or FNG_SB_VERIFY */
	union {
		struct fng_sb_spawn sp;
		struct fng_sb_verify v;
	} m;
};

static _Thread_local struct fng_functions *current_fns;

struct fng_functions *fng__functions_current(void)
{
	return current_fns;
}

static void worker_fail_req(struct fng_worker *w, int err, const char *detail);
static void pool_pump(struct fng_functions *fns, struct fng_fn *fn);
static void pump_cb(uv_check_t *h);
static int encode_event(struct fng_req *req, const struct fng_gen *g, struct fng_wire_buf *out);
static void gen_maybe_free(struct fng_functions *fns, struct fng_gen *g);

/* ---- lookup ---- */

static struct fng_fn *fn_find(struct fng_functions *fns, const char *name)
{
	for (unsigned i = 0; i < fns->nfns; i++) {
		if (strcmp(fns->fns[i]->name, name) == 0) {
			return fns->fns[i];
		}
	}
	return NULL;
}

static struct fng_fn *fn_get(struct fng_functions *fns, const char *name)
{
	struct fng_fn *fn = fn_find(fns, name);

	if (fn || fns->nfns == MAX_FUNCTIONS) {
		return fn;
	}
	fn = calloc(1, sizeof(*fn));
	if (!fn) {
		return NULL;
	}
	snprintf(fn->name, sizeof(fn->name), "%s", name);
	fn->policy = fng__config_fn_policy(fns->cfg, fn->name);
	fn->service_ns = SERVICE_NS_UNKNOWN;
	fng__list_init(&fn->old);
	fng__list_init(&fn->queue);
	fns->fns[fns->nfns++] = fn;
	return fn;
}

/* ---- workers ---- */

static void worker_handle_closed(uv_handle_t *h)
{
	struct fng_worker *w = h->data;

	if (--w->handles == 0) {
		fng__buf_finish(&w->in);
		fng__buf_finish(&w->outq);
		fng__buf_finish(&w->line);
		free(w);
	}
}

static void out_drain(struct fng_worker *w);

/* Detaches w from everything and closes its handles; memory goes when they are closed. */
static void worker_destroy(struct fng_functions *fns, struct fng_worker *w)
{
	struct fng_gen *g = w->gen;
	struct fng_fn *fn;

	/* Its last words (a crash message) are usually there already: log them first. */
	out_drain(w);
	worker_fail_req(w, FNG_EBAD_GATEWAY, NULL);
	fng__list_remove(&w->link);
	fng__list_remove(&w->all);
	g->nworkers--;
	w->gen = NULL;
	uv_close((uv_handle_t *)&w->timer, worker_handle_closed);
	if (w->pipe_open) {
		uv_close((uv_handle_t *)&w->pipe, worker_handle_closed);
	}
	if (w->out_open) {
		uv_close((uv_handle_t *)&w->out, worker_handle_closed);
	}
	fn = g->fn; /* g may be freed just below */
	gen_maybe_free(fns, g);
	if (!fns->closing) {
		pool_pump(fns, fn);
	}
}

static void worker_kill(struct fng_worker *w)
{
	if (w->pid > 0 && !w->exited) {
		kill(w->pid, SIGKILL);
	}
	w->state = W_DEAD;
}

/* The worker is gone: both the pipe EOF and the supervisor's exit report have arrived. */
static void worker_gone(struct fng_functions *fns, struct fng_worker *w)
{
	if (!(w->pipe_eof || !w->pipe_open) || !w->exited) {
		return;
	}
	uv_timer_stop(&w->timer);
	worker_destroy(fns, w);
}

static void worker_died(struct fng_functions *fns, struct fng_worker *w);
static void retry_cb(uv_timer_t *t);

/*
 * The worker was killed, asked to stop, or lost its pipe, and the rest of its ending has not
 * arrived in time (a worker ignoring SHUTDOWN, a late exit report): finish it now.
 */
static void exit_wait_cb(uv_timer_t *t)
{
	struct fng_worker *w = t->data;

	if (!w->exited) {
		if (w->pid > 0) {
			kill(w->pid, SIGKILL);
		}
		if (!w->cause[0]) {
			snprintf(w->cause, sizeof(w->cause), "worker exited");
		}
		w->exited = true;
	}
	if (w->pipe_open && !w->pipe_eof) {
		uv_read_stop((uv_stream_t *)&w->pipe);
		w->pipe_eof = true;
	}
	worker_died(current_fns, w);
}

/* How many live requests wait behind the running one, as text for a log line. */
static const char *waiting_text(const struct fng_worker *w, char buf[12])
{
	unsigned n = 0;

	for (unsigned i = 1; i < w->nslots; i++) {
		n += w->slots[i].req != NULL;
	}
	snprintf(buf, 12, "%u", n);
	return buf;
}

static void worker_died(struct fng_functions *fns, struct fng_worker *w)
{
	const char *what = w->state == W_STARTING ? "worker failed to start" : "worker died";

	struct fng_req *head = w->nslots ? w->slots[0].req : NULL;

	if (w->state != W_DEAD || head) {
		if (head) {
			char detail[256], n[12];

			fng__log("error", "function failed", "function", w->gen->fn->name, "version",
				w->gen->version, "requestId", head->request_id, "cause", w->cause,
				"requeued", waiting_text(w, n), NULL);
			snprintf(detail, sizeof(detail), "function %s failed (%s)", w->gen->fn->name,
				w->cause);
			worker_fail_req(w, FNG_EBAD_GATEWAY, detail);
		} else if (w->state == W_STARTING && w->gen && !w->gen->active) {
			/* Handled by the deploy path below. */
		} else if (w->state != W_RETIRING) {
			fng__log("warn", what, "function", w->gen->fn->name, "version",
				w->gen->version, "cause", w->cause, NULL);
		}
	}
	if (w->state == W_STARTING && w->gen->active) {
		/* A live version whose new workers fail to start: back off instead of looping. */
		struct fng_gen *g = w->gen;
		unsigned shift = g->start_failures < 10 ? g->start_failures : 10;

		g->start_failures++;
		g->backoff_until = uv_now(fns->loop) + (1u << shift) * 2;
		uv_timer_start(&fns->retry, retry_cb, (1u << shift) * 2 + 1, 0);
	}
	if (w->state == W_STARTING && w->gen == w->gen->fn->pending) {
		struct fng_gen *g = w->gen;

		fng__log("error", "deploy failed", "function", g->fn->name, "version", g->version,
			"cause", w->cause, "action",
			g->fn->current ? "keeping the running version" : "function not deployed", NULL);
		g->fn->failure = (struct fn_failure){ .set = true, .preflight = true,
			.src = g->src, .manifest = g->manifest, .limits = g->limits };
		snprintf(g->fn->failure.hash, sizeof(g->fn->failure.hash), "%s", g->hash);
		snprintf(g->fn->failure.error, sizeof(g->fn->failure.error),
			"its pre-flight failed before (%s); waiting for a new file", w->cause);
		g->fn->pending = NULL;
		g->retired = true;
	}
	w->state = W_DEAD;
	worker_gone(fns, w);
}

static void worker_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
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

/*
 * Ends a worker the gateway can no longer trust or reach: the running invocation gets a 502
 * ("function NAME returned WHY" when the worker sent something bad, else "function NAME
 * failed (WHY)"), the ones behind it are re-dispatched, and the worker is killed.
 */
static void worker_abort(struct fng_functions *fns, struct fng_worker *w, const char *why,
	bool returned)
{
	struct fng_req *head = w->nslots ? w->slots[0].req : NULL;
	char cause[sizeof(w->cause)];

	snprintf(cause, sizeof(cause), "%s", why); /* why may be w->cause */
	memcpy(w->cause, cause, sizeof(cause));
	if (head) {
		char detail[192], n[12];

		fng__log("error", "function failed", "function", w->gen->fn->name, "requestId",
			head->request_id, "cause", cause, "requeued", waiting_text(w, n), NULL);
		snprintf(detail, sizeof(detail), returned ? "function %s returned %s" :
			"function %s failed (%s)", w->gen->fn->name, cause);
		worker_fail_req(w, FNG_EBAD_GATEWAY, detail);
	}
	worker_kill(w);
	if (w->pipe_open && uv_is_active((uv_handle_t *)&w->pipe)) {
		uv_read_stop((uv_stream_t *)&w->pipe);
	}
	w->pipe_eof = true;
	uv_timer_start(&w->timer, exit_wait_cb, EXIT_WAIT_MS, 0);
}

/* The worker sent something malformed or unexpected. */
static void worker_protocol_error(struct fng_functions *fns, struct fng_worker *w,
	const char *why)
{
	worker_abort(fns, w, why, true);
}

/* Its socket refused our frames (usually: it died an instant ago). */
static void worker_write_failed(struct fng_functions *fns, struct fng_worker *w, int err)
{
	char why[96];

	snprintf(why, sizeof(why), "write failed: %s", err ? uv_strerror(err) : "out of memory");
	worker_abort(fns, w, why, false);
}

/* ---- frames from workers: the dispatch table ---- */

static int on_ready(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b, size_t n);
static int on_result(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b, size_t n);
static int on_log(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b, size_t n);
static int on_ws_send(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n);
static int on_ws_close(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n);
static int on_ws_publish(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n);
static int on_ws_subscribe(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n);
static int on_ws_unsubscribe(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n);

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
		size_t blen, i;
		long n = fng__wire_frame((const uint8_t *)w->in.p + off, w->in.len - off,
			FNG_WIRE_MAX_DEFAULT, &type, &body, &blen);

		if (n == 0) {
			break;
		}
		if (n < 0) {
			worker_protocol_error(fns, w,
				n == -EMSGSIZE ? "an oversized frame" : "a malformed frame");
			return;
		}
		for (i = 0; i < sizeof(dispatch) / sizeof(dispatch[0]); i++) {
			if (dispatch[i].type == type && (dispatch[i].states & (1u << w->state))) {
				break;
			}
		}
		if (i == sizeof(dispatch) / sizeof(dispatch[0])) {
			worker_protocol_error(fns, w, "an unexpected frame");
			return;
		}
		if (dispatch[i].handle(fns, w, body, blen)) {
			worker_protocol_error(fns, w, "a malformed frame");
			return;
		}
		off += (size_t)n;
	}
	fng__buf_consume(&w->in, off);
	if (w->in.len == 0 && w->in.cap > 256 * 1024) {
		fng__buf_finish(&w->in);
	}
}

static void worker_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fng_worker *w = s->data;
	struct fng_functions *fns = current_fns;

	if (nread < 0) {
		uv_read_stop(s);
		w->pipe_eof = true;
		if (!w->exited) {
			if (w->state == W_BUSY) {
				snprintf(w->cause, sizeof(w->cause), "worker exited");
			}
			uv_timer_start(&w->timer, exit_wait_cb, EXIT_WAIT_MS, 0);
		} else {
			worker_died(fns, w);
		}
		return;
	}
	w->in.len += (size_t)nread;
	worker_frames(fns, w);
}

/* ---- invocations ---- */

static void gen_activate(struct fng_functions *fns, struct fng_gen *g);
static void gen_retire(struct fng_gen *g);
static int worker_spawn(struct fng_functions *fns, struct fng_gen *g);
static int ctl_send(struct fng_functions *fns, uint32_t type, const void *msg);
static void worker_refuse(struct fng_functions *fns, struct fng_worker *w, const char *why,
	bool cheated);
static struct fng_worker *worker_by(struct fng_functions *fns, uint32_t spawn_id, pid_t pid);
static void fn_withdraw(struct fng_functions *fns, struct fng_fn *fn, const char *detail);
static void out_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void out_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static int on_ready(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b, size_t n)
{
	uint32_t abi;
	struct fng_wire_str name;
	void *h = NULL;

	if (w->ready_seen || fng__wire_decode_ready(b, n, &abi, &name, &h)) {
		return -1;
	}
	fng__wire_free(h);
	/* Not trusted yet: the supervisor checks its filters first (on_verified). */
	w->ready_seen = true;
	if (ctl_send(fns, FNG_SB_VERIFY, &(struct fng_sb_verify){ FNG_SB_VERIFY, w->pid })) {
		worker_refuse(fns, w, "cannot have its sandbox verified: out of memory", false);
	}
	return 0;
}

/* Requests waiting for fn, which no longer has a version, get the 503 they would get now. */
static void fail_queue(struct fng_fn *fn, const char *detail)
{
	while (!fng__list_empty(&fn->queue)) {
		struct qitem *q = fng__container_of(fn->queue.next, struct qitem, link);
		struct fng_req *r = q->req;

		fng__list_remove(&q->link);
		fn->nqueue--;
		fng__wire_buf_finish(&q->frame);
		free(q);
		r->error_detail = detail;
		fng__req_resume(r, FNG_EUNAVAILABLE);
	}
}

/* The worker is what it claims: it takes traffic. */
static void worker_verified(struct fng_functions *fns, struct fng_worker *w)
{
	w->state = W_IDLE;
	w->gen->start_failures = 0;
	if (w->gen == w->gen->fn->pending) {
		gen_activate(fns, w->gen);
	}
	pool_pump(fns, w->gen->fn);
}

/*
 * The gateway will not use this starting worker (why): it is killed, and its exit reports
 * why — a failed start (a pending version's deploy fails; a live one backs off and starts
 * another). With cheated, the worker was caught outside its sandbox: a live version (it
 * behaved in its pre-flight and not now) is withdrawn and not deployed again until its files
 * change.
 */
static void worker_refuse(struct fng_functions *fns, struct fng_worker *w, const char *why,
	bool cheated)
{
	struct fng_gen *g = w->gen;
	struct fng_fn *fn = g->fn;

	snprintf(w->cause, sizeof(w->cause), "%s", why);
	w->refused = true;
	if (w->pid > 0) {
		kill(w->pid, SIGKILL);
	}
	if (cheated && g->active && fn->current == g) {
		fng__log("error", "function withdrawn", "function", fn->name, "version",
			g->version, "cause", why, NULL);
		fn->failure = (struct fn_failure){ .set = true, .preflight = true, .src = g->src,
			.manifest = g->manifest, .limits = g->limits };
		snprintf(fn->failure.hash, sizeof(fn->failure.hash), "%s", g->hash);
		snprintf(fn->failure.error, sizeof(fn->failure.error), "withdrawn before (%s); "
			"waiting for a new file", why);
		fn_withdraw(fns, fn, "function was withdrawn");
	}
}

static void on_verified(struct fng_functions *fns, const struct fng_sb_verified *m)
{
	struct fng_worker *w = worker_by(fns, 0, m->pid);
	char why[160];

	if (!w || w->state != W_STARTING || !w->ready_seen) {
		return;
	}
	if (m->err == 0) {
		worker_verified(fns, w);
		return;
	}
	if (m->err == -ESRCH) {
		return; /* it died meanwhile: its exit report follows */
	}
	/* Not a verdict (it did not stop in time on a loaded machine, ...): ask again. */
	if (m->err != -EPERM && ++w->verify_tries < 3 &&
		ctl_send(fns, FNG_SB_VERIFY, &(struct fng_sb_verify){ FNG_SB_VERIFY, w->pid }) == 0) {
		return;
	}
	snprintf(why, sizeof(why), "sandbox not verified: %.*s", (int)sizeof(m->why), m->why);
	worker_refuse(fns, w, why, m->err == -EPERM);
}

static bool header_ok(const struct fng_wire_kv *kv)
{
	if (!fng__is_token(kv->k.p, kv->k.len)) {
		return false;
	}
	for (size_t i = 0; i < kv->v.len; i++) {
		unsigned char c = (unsigned char)kv->v.p[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			return false;
		}
	}
	return true;
}

static bool reserved_header(struct fng_wire_str k)
{
	static const char *const names[] = { "content-length", "transfer-encoding", "connection",
		"date", "server", "x-request-id", "x-fngate-function-version" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (fng__str_ieq((struct fng_str){ k.p, k.len }, names[i], strlen(names[i]))) {
			return true;
		}
	}
	return false;
}

static void pump_soon(struct fng_functions *fns, struct fng_fn *fn);

/* The worker answered its last invocation: recycle it, or make it available. */
static void worker_idle(struct fng_functions *fns, struct fng_worker *w)
{
	struct fng_gen *g = w->gen;

	if (g->retired || w->invocations >= g->limits.max_invocations) {
		struct fng_wire_buf f = { 0 };

		/* Recycle: a graceful SHUTDOWN lets the handler's shutdown hook run. */
		w->state = W_RETIRING;
		if (fng__wire_encode_empty(&f, FNG_WIRE_SHUTDOWN) == 0) {
			uv_buf_t b = uv_buf_init((char *)f.p, (unsigned)f.len);

			uv_try_write((uv_stream_t *)&w->pipe, &b, 1);
		}
		fng__wire_buf_finish(&f);
		uv_timer_start(&w->timer, exit_wait_cb, EXIT_WAIT_MS * 2, 0);
	} else {
		w->state = W_IDLE;
	}
	pump_soon(fns, g->fn);
}

static void deadline_cb(uv_timer_t *t);

/*
 * Arms the worker's timer for the earliest of: the running invocation's stop time, and the
 * deadline of a request still waiting in its pipeline.
 */
static void worker_arm(struct fng_functions *fns, struct fng_worker *w)
{
	uint64_t now = uv_now(fns->loop), at = w->kill_at;

	for (unsigned i = 1; i < w->nslots; i++) {
		if (w->slots[i].req && w->slots[i].deadline < at) {
			at = w->slots[i].deadline;
		}
	}
	uv_timer_start(&w->timer, deadline_cb, at > now ? at - now : 0, 0);
}

/* slots[0] starts running now (it was sent to an idle worker, or the one before it ended). */
static void head_started(struct fng_functions *fns, struct fng_worker *w)
{
	uint64_t now = uv_now(fns->loop);
	struct slot *h = &w->slots[0];

	w->started_ns = uv_hrtime();
	/*
	 * A request's answer is due timeout_ms after it arrived; the worker running it is
	 * stopped then. One whose time ran out while it waited was answered already: it still
	 * gets a full timeout_ms to run before its worker is reclaimed.
	 */
	w->kill_at = h->req && h->deadline > now ? h->deadline :
		now + w->gen->limits.timeout_ms;
	worker_arm(fns, w);
}

/*
 * Puts the pipelined invocations of a worker that is going away (they never started) back at
 * the front of their function's queue, in order, with their original deadlines; or, when
 * that is impossible (no deployed version, shutting down, no memory), answers them with err.
 */
static void requeue_pipeline(struct fng_functions *fns, struct fng_worker *w, int err)
{
	struct fng_fn *fn = w->gen->fn;

	for (unsigned i = w->nslots; i-- > 1;) {
		struct fng_req *req = w->slots[i].req;
		struct qitem *q;

		if (!req) {
			continue;
		}
		q = fns->closing || !fn->current ? NULL : calloc(1, sizeof(*q));
		if (q && encode_event(req, fn->current, &q->frame) == 0) {
			q->req = req;
			q->fn = fn;
			q->deadline = w->slots[i].deadline;
			fng__list_append(fn->queue.next, &q->link); /* at the front */
			fn->nqueue++;
			continue;
		}
		if (q) {
			fng__wire_buf_finish(&q->frame);
			free(q);
		}
		req->error_detail = "function is not available";
		fng__req_resume(req, err);
	}
	w->nslots = w->nslots ? 1 : 0;
	pump_soon(fns, fn);
}

static int on_result(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b, size_t n)
{
	struct fng_req *req = w->slots[0].req;
	struct fng_fn *fn = w->gen->fn;
	uint64_t ran = uv_hrtime() - w->started_ns;
	struct fng_wire_result r;
	void *h = NULL;

	if (fng__wire_decode_result(b, n, &r, &h)) {
		return -1;
	}
	for (size_t i = 0; i < r.nheaders; i++) {
		if (!header_ok(&r.headers[i])) {
			fng__wire_free(h);
			return -1;
		}
	}
	for (size_t i = 0; i < r.ncookies; i++) {
		struct fng_wire_kv kv = { { "set-cookie", 10 }, r.cookies[i] };

		if (!header_ok(&kv)) {
			fng__wire_free(h);
			return -1;
		}
	}
	uv_timer_stop(&w->timer);
	/* The run-time average that decides whether the function is pipelined (1/8 weight). */
	fn->service_ns = fn->service_ns - fn->service_ns / 8 + ran / 8;
	w->invocations++;
	memmove(&w->slots[0], &w->slots[1], --w->nslots * sizeof(w->slots[0]));
	if (req) {
		int rc = FNG_STAGE_DONE;

		if (r.failed) {
			req->error_detail = "function returned an error";
			rc = FNG_EBAD_GATEWAY;
		} else if (r.status < 100 || r.status > 599) {
			req->error_detail = "function returned an invalid status code";
			rc = FNG_EBAD_GATEWAY;
		} else {
			req->resp.status = r.status;
			for (size_t i = 0; i < r.nheaders; i++) {
				if (!reserved_header(r.headers[i].k)) {
					fng__resp_header(req, r.headers[i].k.p, r.headers[i].k.len,
						r.headers[i].v.p, r.headers[i].v.len);
				}
			}
			for (size_t i = 0; i < r.ncookies; i++) {
				fng__resp_header(req, "set-cookie", 10, r.cookies[i].p,
					r.cookies[i].len);
			}
			fng__resp_header(req, "x-fngate-function-version", 25, w->gen->version,
				strlen(w->gen->version));
			req->resp.has_body = r.has_body;
			if (fng__buf_append(&req->resp.body, r.body, r.body_len)) {
				rc = UV_ENOMEM;
			}
		}
		fng__wire_free(h);
		fng__req_resume(req, rc);
	} else {
		fng__wire_free(h);
	}
	if (w->nslots) {
		head_started(fns, w);
		pump_soon(fns, fn);
	} else {
		worker_idle(fns, w);
	}
	return 0;
}

/*
 * A handler's fng_log() line: into the log if its function's rate limit allows (fnlog.c).
 * A flood (FLOOD_BYTES dropped in one read) stops the worker's socket being read until the
 * next log tick (100 ms), as its output pipe is (out_read_cb): its writes then wait in the
 * socket instead of the loop decoding and dropping frames at the flooder's pace (milliseconds
 * of the loop per read burst: every route's latency).
 */
static int on_log(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b, size_t n)
{
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	struct fng_fn *fn = w->gen->fn;
	struct fng_wire_str msg;
	int level;
	void *h = NULL;

	if (fng__wire_decode_log(b, n, &level, &msg, &h)) {
		return -1;
	}
	if (!fng__fnlog_line(&fn->log, &fns->logs, uv_now(fns->loop), fn->name,
		level >= 0 && level <= 3 ? levels[level] : "info", msg.p, msg.len,
		w->nslots && w->slots[0].req ? w->slots[0].req->request_id : NULL, "log") &&
		(w->log_dropped += msg.len + 1) >= FLOOD_BYTES) {
		uv_read_stop((uv_stream_t *)&w->pipe);
		w->in_paused = true;
		fns->out_paused = true;
	}
	fng__wire_free(h);
	return 0;
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
			uv_read_start((uv_stream_t *)&w->out, out_alloc_cb, out_read_cb);
		}
		if (w->in_paused) {
			w->in_paused = false;
			if (w->pipe_open && !w->pipe_eof) {
				uv_read_start((uv_stream_t *)&w->pipe, worker_alloc_cb, worker_read_cb);
			}
			worker_frames(fns, w);
		}
	}
}

/* ---- what workers write on their stdout and stderr ---- */

/*
 * One line of it, as a log line of the function (with the request it was running, if any),
 * under the function's log rate limit like its fng_log() lines.
 */
static bool out_line(struct fng_worker *w, const char *p, size_t n)
{
	struct fng_functions *fns = current_fns;
	struct fng_fn *fn = w->gen->fn;

	if (n && p[n - 1] == '\r') {
		n--;
	}
	return fng__fnlog_line(&fn->log, &fns->logs, uv_now(fns->loop), fn->name, "info", p, n,
		w->nslots && w->slots[0].req ? w->slots[0].req->request_id : NULL, "stderr");
}

/*
 * Splits what the worker wrote into lines (w->line holds an unfinished one). Returns the bytes
 * of those its function's log limit dropped.
 */
static size_t out_feed(struct fng_worker *w, const char *p, size_t n)
{
	size_t dropped = 0;

	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n, room = OUT_LINE_MAX - w->line.len;
		bool end = nl != NULL;

		if (take >= room) {
			take = room;
			end = true;
			nl = NULL; /* cut: the rest is the next piece */
		}
		if (!w->line.len && end) {
			dropped += out_line(w, p, take) ? 0 : take + 1;
		} else if (fng__buf_append(&w->line, p, take) == 0 && end) {
			dropped += out_line(w, w->line.p, w->line.len) ? 0 : w->line.len + 1;
			w->line.len = 0;
		}
		p += take + (nl != NULL);
		n -= take + (nl != NULL);
	}
	return dropped;
}

static void out_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fng_functions *fns = current_fns;

	buf->base = fns->out_buf;
	buf->len = sizeof(fns->out_buf);
}

/*
 * What a worker writes on stdout/stderr. A worker flooding over its function's log limit
 * (FLOOD_BYTES dropped in one read) is not read from until the next log tick (100 ms): its
 * pipe fills and its writes wait, instead of the gateway spending a core reading and dropping
 * gigabytes of lines.
 */
static void out_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct fng_worker *w = s->data;

	if (nread > 0) {
		if (out_feed(w, buf->base, (size_t)nread) >= FLOOD_BYTES / 2) {
			uv_read_stop(s);
			w->out_paused = true;
			current_fns->out_paused = true;
		}
	} else if (nread < 0) {
		uv_read_stop(s);
		if (w->line.len) {
			out_line(w, w->line.p, w->line.len);
			w->line.len = 0;
		}
	}
}

/*
 * Reads what is in the worker's output pipe now, paused or not, and logs it with the running
 * request: before a failed invocation is answered (what it wrote is in the pipe already) and
 * when a worker is gone (its last words). Not before every RESULT: a read(2) there cost the
 * function path 15-19 % of its throughput here. There the order of readiness does the job —
 * a handler's output becomes readable before its RESULT does, and the loop handles events in
 * that order — except while a worker over its log limit is not being read.
 */
static void out_drain(struct fng_worker *w)
{
	struct fng_functions *fns = current_fns;
	uv_os_fd_t fd;

	if (!w->out_open) {
		return;
	}
	if (uv_fileno((uv_handle_t *)&w->out, &fd) == 0 && fns) {
		for (int i = 0; i < 8; i++) {
			ssize_t n = read(fd, fns->out_buf, sizeof(fns->out_buf));

			if (n <= 0) {
				break;
			}
			out_feed(w, fns->out_buf, (size_t)n);
		}
	}
	if (w->line.len) {
		out_line(w, w->line.p, w->line.len);
		w->line.len = 0;
	}
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
		const char *api = fng__ws_api_name(w->nslots ? w->slots[0].req : NULL, id->p,
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

/* A handler's message for a WebSocket connection (fng_ws_send): gone connections drop it. */
static int on_ws_send(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n)
{
	struct fng_wire_str id, data;
	void *h = NULL;
	bool binary;

	if (fng__wire_decode_ws_send(b, n, &id, &data, &binary, &h)) {
		return -1;
	}
	if (fng__ws_push(id.p, id.len, data.p, data.len, binary, w->gen->fn->policy) == -EACCES) {
		ws_refused(fns, w, "send", &id, NULL);
	}
	fng__wire_free(h);
	return 0;
}

/* A handler closing a WebSocket connection (fng_ws_close). */
static int on_ws_close(struct fng_functions *fns, struct fng_worker *w, const uint8_t *b,
	size_t n)
{
	struct fng_wire_str id, reason;
	uint32_t code;
	void *h = NULL;

	if (fng__wire_decode_ws_close(b, n, &id, &code, &reason, &h)) {
		return -1;
	}
	/* Codes a server may send: 1000, 1001, 1008, 1011-1014, and the 3000-4999 ranges. */
	if (code != 1000 && code != 1001 && code != 1008 && !(code >= 1011 && code <= 1014) &&
		!(code >= 3000 && code <= 4999)) {
		code = 1000;
	}
	if (fng__ws_close_id(id.p, id.len, (int)code, reason.p, reason.len,
		w->gen->fn->policy) == -EACCES) {
		ws_refused(fns, w, "close", &id, NULL);
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
	err = fng__topic_publish(topic.p, topic.len, data.p, data.len, NULL, NULL);
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
	err = fng__ws_subscribe(w->nslots ? w->slots[0].req : NULL, id.p, id.len, topic.p,
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

static void worker_fail_req(struct fng_worker *w, int err, const char *detail)
{
	struct fng_req *req = w->nslots ? w->slots[0].req : NULL;

	out_drain(w); /* what it wrote before it failed carries its request id */

	if (w->nslots > 1) {
		requeue_pipeline(current_fns, w, FNG_EUNAVAILABLE);
	}
	w->nslots = 0;
	if (req) {
		req->error_detail = detail ? fng__arena_strndup(req->arena, detail, strlen(detail))
					   : NULL;
		fng__req_resume(req, err);
	}
}

static void deadline_cb(uv_timer_t *t)
{
	struct fng_worker *w = t->data;
	struct fng_functions *fns = current_fns;
	uint64_t now = uv_now(fns->loop);
	struct fng_req *head = w->nslots ? w->slots[0].req : NULL;
	char detail[160], n[12];

	/* Requests whose time ran out while they waited behind the running one: 504, no kill. */
	for (unsigned i = 1; i < w->nslots; i++) {
		struct fng_req *r = w->slots[i].req;

		if (r && w->slots[i].deadline <= now) {
			w->slots[i].req = NULL;
			r->error_detail = "function timed out waiting for a worker";
			fng__req_resume(r, FNG_EGATEWAY_TIMEOUT);
		}
	}
	if (w->kill_at > now) {
		worker_arm(fns, w);
		return;
	}
	snprintf(w->cause, sizeof(w->cause), "timeout after %u ms", w->gen->limits.timeout_ms);
	fng__log("error", "function timed out", "function", w->gen->fn->name, "requestId",
		head ? head->request_id : "", "cause", w->cause, "requeued", waiting_text(w, n),
		NULL);
	snprintf(detail, sizeof(detail), "function %s timed out after %u ms", w->gen->fn->name,
		w->gen->limits.timeout_ms);
	worker_fail_req(w, FNG_EGATEWAY_TIMEOUT, detail);
	worker_kill(w);
	uv_timer_start(&w->timer, exit_wait_cb, EXIT_WAIT_MS, 0);
}

static void kv_lower(struct fng_arena *a, struct fng_wire_kv *kv, struct fng_str name,
	struct fng_str value)
{
	char *n = fng__arena_strndup(a, name.p, name.len);

	for (size_t i = 0; n && i < name.len; i++) {
		if (n[i] >= 'A' && n[i] <= 'Z') {
			n[i] = (char)(n[i] + 32);
		}
	}
	kv->k = (struct fng_wire_str){ n ? n : "", n ? name.len : 0 };
	kv->v = (struct fng_wire_str){ value.p, value.len };
}

static struct fng_wire_str ws(struct fng_str s)
{
	return (struct fng_wire_str){ s.p, s.len };
}

static struct fng_wire_str wcs(const char *s)
{
	return (struct fng_wire_str){ s ? s : "", s ? strlen(s) : 0 };
}

/* The event for req (payload format 2.0 shape), framed into out. */
static int encode_event(struct fng_req *req, const struct fng_gen *g, struct fng_wire_buf *out)
{
	struct fng_arena *a = req->arena;
	struct fng_wire_event ev = { 0 };
	struct fng_wire_kv *headers, *query, *params, *vars;
	struct fng_wire_str *cookies;
	size_t nq = 0, nc = 0;
	const struct fng_header *ua = fng__req_header(req, "user-agent", 10);
	uv_timeval64_t now;

	headers = fng__arena_alloc(a, (req->nheaders + 1) * sizeof(*headers));
	query = fng__arena_alloc(a, (req->query.len / 2 + 2) * sizeof(*query));
	params = fng__arena_alloc(a, (req->match.nparams + 1) * sizeof(*params));
	vars = fng__arena_alloc(a, ((req->stage ? req->stage->nvars : 0) + 1) * sizeof(*vars));
	cookies = fng__arena_alloc(a, (req->nheaders * 8 + 1) * sizeof(*cookies));
	if (!headers || !query || !params || !vars || !cookies) {
		return UV_ENOMEM;
	}
	for (unsigned i = 0; i < req->nheaders; i++) {
		kv_lower(a, &headers[i], req->headers[i].name, req->headers[i].value);
		if (fng__str_ieq(req->headers[i].name, "cookie", 6)) {
			const char *p = req->headers[i].value.p, *end = p + req->headers[i].value.len;

			while (p < end && nc < req->nheaders * 8) {
				const char *semi = memchr(p, ';', (size_t)(end - p));
				const char *e = semi ? semi : end;

				while (p < e && *p == ' ') {
					p++;
				}
				if (e > p) {
					cookies[nc++] = (struct fng_wire_str){ p, (size_t)(e - p) };
				}
				p = e + 1;
			}
		}
	}
	/* Query pairs, decoded ('+' is a space). */
	for (const char *p = req->query.p, *end = p + req->query.len; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		const char *ke = eq ? eq : pe;
		char *k = fng__arena_alloc(a, (size_t)(ke - p) + 1);
		char *v = fng__arena_alloc(a, (size_t)(pe - (eq ? eq + 1 : pe)) + 1);
		long kl, vl;

		if (!k || !v) {
			return UV_ENOMEM;
		}
		for (const char *q = p; q < ke; q++) {
			k[q - p] = *q == '+' ? ' ' : *q;
		}
		kl = fng__pct_decode(k, k, (size_t)(ke - p));
		vl = 0;
		if (eq) {
			for (const char *q = eq + 1; q < pe; q++) {
				v[q - eq - 1] = *q == '+' ? ' ' : *q;
			}
			vl = fng__pct_decode(v, v, (size_t)(pe - eq - 1));
		}
		if (kl > 0 && vl >= 0) {
			query[nq].k = (struct fng_wire_str){ k, (size_t)kl };
			query[nq++].v = (struct fng_wire_str){ v, (size_t)vl };
		}
		p = pe + 1;
	}
	for (unsigned i = 0; i < req->match.nparams; i++) {
		params[i].k = ws(req->match.params[i].name);
		params[i].v = ws(req->match.params[i].value);
	}
	for (unsigned i = 0; req->stage && i < req->stage->nvars; i++) {
		vars[i].k = wcs(req->stage->vars[i].name);
		vars[i].v = ws(req->stage->vars[i].value);
	}
	uv_gettimeofday(&now);
	ev.version = wcs("2.0");
	ev.route_key = wcs(req->match.route->key);
	ev.raw_path = ws(req->path);
	ev.raw_query = ws(req->query);
	ev.method = ws(req->method);
	ev.path = ws(req->path);
	ev.protocol = wcs(req->http_minor ? "HTTP/1.1" : "HTTP/1.0");
	ev.source_ip = wcs(req->ip);
	ev.user_agent = ua ? ws(ua->value) : wcs("");
	ev.request_id = (struct fng_wire_str){ req->request_id, req->request_id_len };
	ev.api = wcs(req->api ? req->api->name : "");
	ev.stage = wcs(req->stage ? req->stage->name : "");
	ev.domain = ws(req->host);
	ev.headers = headers;
	ev.nheaders = req->nheaders;
	ev.query = query;
	ev.nquery = nq;
	ev.path_params = params;
	ev.npath_params = req->match.nparams;
	ev.stage_vars = vars;
	ev.nstage_vars = req->stage ? req->stage->nvars : 0;
	ev.cookies = cookies;
	ev.ncookies = nc;
	ev.body = req->body.p;
	ev.body_len = req->body.len;
	ev.connection_id = wcs(req->ws_id);
	ev.event_type = wcs(req->ws_event ? req->ws_event : req->ws_accept ? "CONNECT" : NULL);
	ev.message_id = wcs(req->ws_message_id);
	ev.time_epoch_ms = now.tv_sec * 1000 + now.tv_usec / 1000;
	ev.deadline_epoch_ms = ev.time_epoch_ms + g->limits.timeout_ms;
	return fng__wire_encode_invoke(out, &ev);
}

struct invoke_write {
	uv_write_t req;
	struct fng_buf buf;
};

static void invoke_write_cb(uv_write_t *wr, int status)
{
	struct invoke_write *iw = (struct invoke_write *)wr;

	/* A failed write shows up as the worker's death on the read side. */
	fng__buf_finish(&iw->buf);
	free(iw);
}

/* Adds q to w's invocations; its frame is written with the others at the end of the pump. */
static void worker_invoke(struct fng_functions *fns, struct fng_worker *w, struct qitem *q)
{
	if (fng__buf_append(&w->outq, q->frame.p, q->frame.len)) {
		fng__wire_buf_finish(&q->frame);
		fng__req_resume(q->req, UV_ENOMEM);
		return;
	}
	fng__wire_buf_finish(&q->frame);
	w->slots[w->nslots++] = (struct slot){ q->req, q->deadline };
	if (w->nslots == 1) {
		w->state = W_BUSY;
		head_started(fns, w);
	} else {
		worker_arm(fns, w);
	}
}

/*
 * Writes the INVOKE frames a pump gathered for w: usually all at once into the socket buffer
 * (one write for several invocations when requests arrive together); what does not fit is
 * queued behind in libuv. A failed write is the worker's death.
 */
static void worker_flush(struct fng_functions *fns, struct fng_worker *w)
{
	struct invoke_write *iw;
	uv_buf_t b = uv_buf_init(w->outq.p, (unsigned)w->outq.len);
	int n = uv_try_write((uv_stream_t *)&w->pipe, &b, 1);

	if (n == (int)b.len) {
		w->outq.len = 0;
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		w->outq.len = 0;
		worker_write_failed(fns, w, n);
		return;
	}
	iw = calloc(1, sizeof(*iw));
	if (n > 0) {
		fng__buf_consume(&w->outq, (size_t)n);
	}
	if (!iw || fng__buf_append(&iw->buf, w->outq.p, w->outq.len)) {
		free(iw);
		w->outq.len = 0;
		worker_write_failed(fns, w, 0);
		return;
	}
	w->outq.len = 0;
	b = uv_buf_init((char *)iw->buf.p, (unsigned)iw->buf.len);
	n = uv_write(&iw->req, (uv_stream_t *)&w->pipe, &b, 1, invoke_write_cb);
	if (n) {
		fng__buf_finish(&iw->buf);
		free(iw);
		worker_write_failed(fns, w, n);
	}
}

/*
 * True if busy workers of fn may take more invocations behind the running one: its pool is
 * at its size (otherwise a new worker is the better place), and its invocations are short,
 * so that one waiting behind another is not held up for long.
 */
static bool pipelined(const struct fng_fn *fn)
{
	const struct fng_gen *g = fn->current;

	return g->limits.pipeline > 1 && fn->service_ns < PIPELINE_MAX_SERVICE_NS &&
		g->nworkers >= g->limits.concurrency;
}

/* A worker of g that can take one more invocation: idle (most recently used) or busy. */
static struct fng_worker *pick_worker(struct fng_gen *g, bool pipeline)
{
	struct fng_worker *best = NULL;

	/* Most recently used first: its caches are warm. */
	for (struct fng_list *it = g->workers.prev; it != &g->workers; it = it->prev) {
		struct fng_worker *w = fng__container_of(it, struct fng_worker, link);

		if (w->state == W_IDLE) {
			return w;
		}
		if (pipeline && w->state == W_BUSY && w->nslots < g->limits.pipeline &&
			w->invocations + w->nslots < g->limits.max_invocations &&
			(!best || w->nslots < best->nslots)) {
			best = w;
		}
	}
	return best;
}

/* Hands queued requests to idle workers of the current generation; starts workers. */
static void pool_pump(struct fng_functions *fns, struct fng_fn *fn)
{
	struct fng_gen *g = fn->current;
	unsigned starting = 0, waiting = 0;
	struct fng_list *it;

	if (!g || fns->closing) {
		return;
	}
	while (!fng__list_empty(&fn->queue)) {
		struct fng_worker *idle = pick_worker(g, pipelined(fn));
		struct qitem *q;

		if (!idle) {
			break;
		}
		q = fng__container_of(fn->queue.next, struct qitem, link);
		fng__list_remove(&q->link);
		fn->nqueue--;
		if (q->deadline <= uv_now(fns->loop)) {
			/* Its time ran out in the queue: no worker needs to die for it. */
			struct fng_req *r = q->req;

			fng__wire_buf_finish(&q->frame);
			free(q);
			r->error_detail = "function timed out waiting for a worker";
			fng__req_resume(r, FNG_EGATEWAY_TIMEOUT);
			continue;
		}
		worker_invoke(fns, idle, q);
		free(q);
	}
	for (it = g->workers.next; it != &g->workers;) {
		struct fng_worker *w = fng__container_of(it, struct fng_worker, link);

		it = it->next; /* a failed write ends w */
		if (w->state == W_SPAWNING || w->state == W_STARTING) {
			starting++;
		} else if (w->state == W_BUSY) {
			waiting += w->nslots - 1;
		}
		if (w->outq.len && w->state == W_BUSY) {
			worker_flush(fns, w);
		}
	}
	/*
	 * Start workers for what waits — in the queue or behind a running invocation (cold
	 * start) — and keep min_warm alive.
	 */
	while (g->nworkers < g->limits.concurrency && uv_now(fns->loop) >= g->backoff_until &&
		(starting < fn->nqueue + waiting || g->nworkers < g->limits.min_warm)) {
		if (worker_spawn(fns, g)) {
			break;
		}
		starting++;
	}
}

static void retry_cb(uv_timer_t *t)
{
	struct fng_functions *fns = t->data;

	for (unsigned i = 0; i < fns->nfns; i++) {
		pool_pump(fns, fns->fns[i]);
	}
}

/*
 * Runs pool_pump for fn after the current I/O callbacks: once per loop iteration, however
 * many RESULTs and requests for it came in that iteration.
 */
static void pump_soon(struct fng_functions *fns, struct fng_fn *fn)
{
	fn->pump_wanted = true;
	if (!fns->pump_pending && !fns->closing) {
		fns->pump_pending = true;
		uv_check_start(&fns->pump, pump_cb);
	}
}

static void pump_cb(uv_check_t *h)
{
	struct fng_functions *fns = h->data;

	uv_check_stop(h);
	fns->pump_pending = false;
	for (unsigned i = 0; i < fns->nfns; i++) {
		if (fns->fns[i]->pump_wanted) {
			fns->fns[i]->pump_wanted = false;
			pool_pump(fns, fns->fns[i]);
		}
	}
}

/*
 * The integration's start: fails up front (no deployment, queue full, event too large) or
 * queues the request and returns PENDING. Dispatch happens from a check handle right after
 * the current I/O callbacks, so no completion can run inside start().
 */
static int function_start(struct fng_req *req)
{
	struct fng_functions *fns = current_fns;
	const char *name = req->match.route->integration.function;
	struct fng_fn *fn = fns ? fn_find(fns, name) : NULL;
	struct qitem *q;
	int err;

	if (!fn || !fn->current) {
		char *d = fng__arena_alloc(req->arena, 128);

		if (d) {
			snprintf(d, 128, "function %s is not deployed", name);
		}
		req->error_detail = d;
		return FNG_EUNAVAILABLE;
	}
	{
		/*
		 * `queue` bounds the requests that must wait for a worker — in the queue or
		 * behind a running invocation — once idle workers have taken theirs.
		 */
		unsigned idle = 0, waiting = fn->nqueue;

		for (struct fng_list *it = fn->current->workers.next; it != &fn->current->workers;
			it = it->next) {
			struct fng_worker *w = fng__container_of(it, struct fng_worker, link);

			idle += w->state == W_IDLE;
			waiting += w->state == W_BUSY ? w->nslots - 1 : 0;
		}
		if (waiting + 1 > idle + fn->current->limits.queue) {
			req->error_detail = "function is at its concurrency limit";
			return FNG_ETHROTTLED;
		}
	}
	q = calloc(1, sizeof(*q));
	if (!q) {
		return UV_ENOMEM;
	}
	err = encode_event(req, fn->current, &q->frame);
	if (err) {
		fng__wire_buf_finish(&q->frame);
		free(q);
		req->error_detail = "request too large for the function payload limit";
		return err == -EMSGSIZE ? FNG_EBODY_TOO_LARGE : err;
	}
	q->req = req;
	q->fn = fn;
	q->deadline = uv_now(fns->loop) + fn->current->limits.timeout_ms;
	fng__list_append(&fn->queue, &q->link);
	fn->nqueue++;
	pump_soon(fns, fn);
	return FNG_STAGE_PENDING;
}

static void function_cancel(struct fng_req *req)
{
	struct fng_functions *fns = current_fns;

	/*
	 * Still queued, or sent but waiting behind another invocation: answer it now (its RESULT,
	 * if it runs, is dropped). Running: let the invocation finish; its answer is dropped.
	 */
	for (struct fng_list *it = fns ? fns->workers.next : NULL; it && it != &fns->workers;
		it = it->next) {
		struct fng_worker *w = fng__container_of(it, struct fng_worker, all);

		for (unsigned i = 1; i < w->nslots; i++) {
			if (w->slots[i].req == req) {
				w->slots[i].req = NULL;
				fng__req_resume(req, UV_ECANCELED);
				return;
			}
		}
	}
	for (unsigned i = 0; fns && i < fns->nfns; i++) {
		struct fng_fn *fn = fns->fns[i];

		for (struct fng_list *it = fn->queue.next; it != &fn->queue; it = it->next) {
			struct qitem *q = fng__container_of(it, struct qitem, link);

			if (q->req == req) {
				fng__list_remove(&q->link);
				fn->nqueue--;
				fng__wire_buf_finish(&q->frame);
				free(q);
				fng__req_resume(req, UV_ECANCELED);
				return;
			}
		}
	}
}

static const struct fng_integration_ops function_ops = {
	.name = "function",
	.start = function_start,
	.cancel = function_cancel,
};

/* ---- spawning and the supervisor ---- */

static void ctl_cb(uv_poll_t *p, int status, int events);

static void ctl_poll_update(struct fng_functions *fns)
{
	bool want = !fng__list_empty(&fns->sendq);

	if (want != fns->want_write && !fns->closing) {
		fns->want_write = want;
		uv_poll_start(&fns->ctl_poll, UV_READABLE | (want ? UV_WRITABLE : 0), ctl_cb);
	}
}

static void worker_spawn_failed(struct fng_functions *fns, uint32_t id, int err);
static void verify_failed(struct fng_functions *fns, pid_t pid, int err);

/*
 * Sends queued requests while the control socket takes them. A burst (many .so files dropped
 * at once) waits here for the supervisor instead of failing.
 */
static void ctl_flush(struct fng_functions *fns)
{
	while (!fng__list_empty(&fns->sendq)) {
		struct ctl_msg *m = fng__container_of(fns->sendq.next, struct ctl_msg, link);
		int err = m->type == FNG_SB_SPAWN ? fng__sb_send_spawn(fns->ctl, &m->m.sp) :
			fng__sb_send_verify(fns->ctl, m->m.v.pid);

		if (err == -EAGAIN || err == -EWOULDBLOCK) {
			break;
		}
		fng__list_remove(&m->link);
		if (err && m->type == FNG_SB_SPAWN) {
			worker_spawn_failed(fns, m->m.sp.id, err);
		} else if (err) {
			verify_failed(fns, m->m.v.pid, err);
		}
		free(m);
	}
	ctl_poll_update(fns);
}

/*
 * Queues a request to the supervisor (msg: a struct fng_sb_spawn or fng_sb_verify) and sends
 * what the socket takes. 0 or -ENOMEM.
 */
static int ctl_send(struct fng_functions *fns, uint32_t type, const void *msg)
{
	struct ctl_msg *m = calloc(1, sizeof(*m));

	if (!m) {
		return -ENOMEM;
	}
	m->type = type;
	if (type == FNG_SB_SPAWN) {
		memcpy(&m->m.sp, msg, sizeof(m->m.sp));
	} else {
		memcpy(&m->m.v, msg, sizeof(m->m.v));
	}
	fng__list_append(&fns->sendq, &m->link);
	ctl_flush(fns);
	return 0;
}

static int worker_spawn(struct fng_functions *fns, struct fng_gen *g)
{
	struct fng_sb_spawn sp = { 0 };
	struct fng_worker *w;

	w = calloc(1, sizeof(*w));
	if (!w) {
		return UV_ENOMEM;
	}
	sp.type = FNG_SB_SPAWN;
	sp.id = ++fns->next_spawn_id;
	sp.memory_mb = g->limits.memory_mb;
	sp.cpu_ms = g->limits.cpu_ms;
	/*
	 * CPU is shared per function: every function weighs 10000 (the top of the scale, so that
	 * the split and the supervisor's demotion stay distinct), split among its workers.
	 */
	sp.cpu_weight = 10000 / g->limits.concurrency;
	sp.cpu_off = !fns->cpu_isolation;
	sp.groups = g->limits.groups;
	sp.learn = g->limits.learn;
	sp.max_body = FNG_WIRE_MAX_DEFAULT;
	snprintf(sp.name, sizeof(sp.name), "%s", g->fn->name);
	snprintf(sp.so_path, sizeof(sp.so_path), "%s", g->so_path);
	memcpy(sp.env, g->limits.env, sizeof(sp.env));
	sp.grants = g->limits.grants;
	w->gen = g;
	w->spawn_id = sp.id;
	w->state = W_SPAWNING;
	w->pid = -1;
	w->handles = 1; /* the timer; each pipe adds one when it is made */
	uv_timer_init(fns->loop, &w->timer);
	w->timer.data = w;
	fng__list_append(&g->workers, &w->link);
	fng__list_append(&fns->workers, &w->all);
	g->nworkers++;
	if (ctl_send(fns, FNG_SB_SPAWN, &sp)) {
		worker_spawn_failed(fns, sp.id, UV_ENOMEM);
	}
	return 0;
}

static struct fng_worker *worker_by(struct fng_functions *fns, uint32_t spawn_id, pid_t pid)
{
	for (struct fng_list *it = fns->workers.next; it != &fns->workers; it = it->next) {
		struct fng_worker *w = fng__container_of(it, struct fng_worker, all);

		if ((spawn_id && w->spawn_id == spawn_id) || (pid > 0 && w->pid == pid)) {
			return w;
		}
	}
	return NULL;
}

static void worker_spawn_failed(struct fng_functions *fns, uint32_t id, int err)
{
	struct fng_worker *w = worker_by(fns, id, 0);

	fng__log("error", "cannot ask the supervisor for a worker", "error", uv_strerror(err),
		NULL);
	if (w) {
		snprintf(w->cause, sizeof(w->cause), "spawn failed: %s", uv_strerror(err));
		w->exited = true;
		w->state = W_STARTING;
		worker_died(fns, w);
	}
}

/* The request to verify pid could not be sent: it is not used. */
static void verify_failed(struct fng_functions *fns, pid_t pid, int err)
{
	struct fng_worker *w = worker_by(fns, 0, pid);
	char why[96];

	if (w && w->state == W_STARTING && w->ready_seen) {
		snprintf(why, sizeof(why), "cannot have its sandbox verified: %s", uv_strerror(err));
		worker_refuse(fns, w, why, false);
	}
}

/*
 * Makes h a pipe of w's on fd (closed on failure; h is then closed too). h counts in
 * w->handles from here on. True if it is open.
 */
static bool worker_pipe(struct fng_functions *fns, struct fng_worker *w, uv_pipe_t *h, int fd)
{
	w->handles++;
	uv_pipe_init(fns->loop, h, 0);
	h->data = w;
	if (uv_pipe_open(h, fd) == 0) {
		return true;
	}
	close(fd);
	uv_close((uv_handle_t *)h, worker_handle_closed);
	return false;
}

static void on_spawned(struct fng_functions *fns, const struct fng_sb_spawned *m, int fd,
	int outfd)
{
	struct fng_worker *w = worker_by(fns, m->id, 0);

	if (!w || w->state != W_SPAWNING) {
		if (fd >= 0) {
			close(fd);
		}
		if (outfd >= 0) {
			close(outfd);
		}
		if (m->pid > 0) {
			kill(m->pid, SIGKILL);
		}
		return;
	}
	if (m->err || fd < 0 || outfd < 0) {
		if (fd >= 0) {
			close(fd);
		}
		if (outfd >= 0) {
			close(outfd);
		}
		snprintf(w->cause, sizeof(w->cause), "spawn failed: %s",
			uv_strerror(m->err ? m->err : UV_EPROTO));
		w->exited = true;
		w->state = W_STARTING;
		worker_died(fns, w);
		return;
	}
	w->pid = m->pid;
	w->state = W_STARTING;
	w->out_open = worker_pipe(fns, w, &w->out, outfd);
	if (w->out_open) {
		uv_read_start((uv_stream_t *)&w->out, out_alloc_cb, out_read_cb);
	}
	w->pipe_open = worker_pipe(fns, w, &w->pipe, fd);
	if (!w->pipe_open || !w->out_open) {
		kill(w->pid, SIGKILL);
		snprintf(w->cause, sizeof(w->cause), "cannot watch the worker");
		w->pipe_eof = true;
		uv_timer_start(&w->timer, exit_wait_cb, EXIT_WAIT_MS, 0);
		return;
	}
	uv_read_start((uv_stream_t *)&w->pipe, worker_alloc_cb, worker_read_cb);
}

static void on_exit_report(struct fng_functions *fns, const struct fng_sb_exit *m)
{
	struct fng_worker *w = worker_by(fns, 0, m->pid);

	if (!w) {
		return;
	}
	if (!w->timed_out && !w->refused && w->state != W_DEAD) {
		snprintf(w->cause, sizeof(w->cause), "%.*s", (int)sizeof(m->cause), m->cause);
	} else if (!w->cause[0]) {
		snprintf(w->cause, sizeof(w->cause), "%.*s", (int)sizeof(m->cause), m->cause);
	}
	w->exited = true;
	if (w->pipe_eof || !w->pipe_open) {
		worker_died(fns, w);
	}
}

static void ctl_cb(uv_poll_t *p, int status, int events)
{
	struct fng_functions *fns = p->data;

	if (events & UV_WRITABLE) {
		ctl_flush(fns);
	}
	if (!(events & UV_READABLE) && status == 0) {
		return;
	}
	union {
		uint32_t type;
		struct fng_sb_spawned spawned;
		struct fng_sb_exit exit;
		struct fng_sb_verified verified;
		char raw[512];
	} m;

	for (int n = 0; n < 64; n++) {
		int fd = -1, outfd = -1;
		int type = fng__sb_recv(fns->ctl, &m, sizeof(m), &fd, &outfd);

		if (type == -EAGAIN || type == -EWOULDBLOCK) {
			return;
		}
		if (type <= 0) {
			fng__log("error", "supervisor is gone: functions cannot run", "error",
				type ? uv_strerror(type) : "EOF", NULL);
			uv_poll_stop(p);
			return;
		}
		if (type == FNG_SB_SPAWNED) {
			on_spawned(fns, &m.spawned, fd, outfd);
		} else if (type == FNG_SB_EXIT) {
			on_exit_report(fns, &m.exit);
		} else if (type == FNG_SB_VERIFIED) {
			on_verified(fns, &m.verified);
		}
	}
}

/* ---- generations ---- */

static void gen_maybe_free(struct fng_functions *fns, struct fng_gen *g)
{
	if (g->nworkers || g == g->fn->current || g == g->fn->pending) {
		return;
	}
	fng__list_remove(&g->link);
	fng__fnstore_unref(fns->store, g->hash);
	free(g);
}

static void gen_retire(struct fng_gen *g)
{
	g->retired = true;
	g->active = false;
	fng__list_append(&g->fn->old, &g->link);
	for (struct fng_list *it = g->workers.next; it != &g->workers;) {
		struct fng_worker *w = fng__container_of(it, struct fng_worker, link);

		it = it->next;
		if (w->state == W_IDLE) {
			w->invocations = UINT32_MAX - 1;
			worker_idle(current_fns, w); /* sends SHUTDOWN */
		} else if (w->state == W_STARTING || w->state == W_SPAWNING) {
			worker_kill(w);
		}
	}
}

static void gen_activate(struct fng_functions *fns, struct fng_gen *g)
{
	struct fng_fn *fn = g->fn;
	struct fng_gen *old = fn->current;

	fn->pending = NULL;
	fn->current = g;
	g->active = true;
	fng__log("info", old ? "function updated" : "function deployed", "function", fn->name,
		"version", g->version, "previous", old ? old->version : "", NULL);
	if (old) {
		gen_retire(old);
		gen_maybe_free(fns, old);
	}
	pool_pump(fns, fn);
}

/* ---- deploy: scanning the directory off the loop thread ---- */

struct scan_item {
	char name[64];
	char version[17];
	char hash[FNG_FNSTORE_HASH];
	char so_path[PATH_MAX];
	struct fng_fn_limits limits;
	struct src_id src, manifest;
	bool unstable, failed;
	bool preflight;            /* failed: the pre-flight of these very files failed before */
	bool refused;              /* failed: the manifest asks for more than the policy allows */
	bool holds_copy;           /* the scan holds a reference to the copy of hash */
	char error[256];
};

/* A deployed version the scan may reuse when its source file has not changed. */
struct scan_known {
	char name[64];
	char version[17];
	char hash[FNG_FNSTORE_HASH];
	char so_path[PATH_MAX];
	struct src_id src, manifest;
	struct fng_fn_limits limits; /* computed from that manifest and today's defaults */
};

/* A function's last failed deploy (struct fn_failure), for the scan to recognise it. */
struct scan_failed {
	char name[64];
	struct fn_failure f;
};

struct scan_work {
	uv_work_t req;
	struct fng_functions *fns;
	struct fng_fnstore *store;
	char dir[PATH_MAX];
	uint64_t max_so_bytes;
	struct fng_fn_limits defaults;
	struct fng_config *cfg;    /* a reference: each function's policy */
	struct scan_item *items;   /* grown on the thread pool: it is large (manifests) */
	unsigned nitems, cap;
	bool complete_read;        /* every entry of the directory was seen */
	struct scan_known *known;
	unsigned nknown;
	struct scan_failed *failed;
	unsigned nfailed;
	char (*complete)[64];
	unsigned ncomplete;
	bool retry;
};

static bool limits_equal(const struct fng_fn_limits *a, const struct fng_fn_limits *b)
{
	return a->timeout_ms == b->timeout_ms && a->memory_mb == b->memory_mb &&
	       a->cpu_ms == b->cpu_ms && a->concurrency == b->concurrency &&
	       a->min_warm == b->min_warm && a->max_invocations == b->max_invocations &&
	       a->queue == b->queue && a->pipeline == b->pipeline && a->groups == b->groups &&
	       a->learn == b->learn &&
	       memcmp(a->env, b->env, sizeof(a->env)) == 0 &&
	       memcmp(&a->grants, &b->grants, sizeof(a->grants)) == 0;
}

static bool scan_complete(const struct scan_work *sw, const char *name)
{
	for (unsigned i = 0; i < sw->ncomplete; i++) {
		if (strcmp(sw->complete[i], name) == 0) {
			return true;
		}
	}
	return false;
}

static const struct fn_failure *scan_failure(const struct scan_work *sw, const char *name)
{
	for (unsigned i = 0; i < sw->nfailed; i++) {
		if (strcmp(sw->failed[i].name, name) == 0) {
			return &sw->failed[i].f;
		}
	}
	return NULL;
}

/* it failed: why, formatted. */
static bool scan_fail(struct scan_item *it, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool scan_fail(struct scan_item *it, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(it->error, sizeof(it->error), fmt, ap);
	va_end(ap);
	it->failed = true;
	return false;
}

/*
 * The limits for it: those of a deployed version whose manifest (or its absence) has not
 * changed since, or its manifest read now through the file rules (safefile.h) and parsed over
 * the defaults. Sets it->manifest (the manifest's own metadata: a link is not followed). False
 * with it->error when the manifest is refused or invalid.
 */
static bool scan_limits(const struct scan_work *sw, int dirfd, struct scan_item *it)
{
	static const struct fng_safe_rules rules = { MANIFEST_MAX_BYTES, FNG_SAFE_OWNER };
	const struct fng_fn_policy *policy = fng__config_fn_policy(sw->cfg, it->name);
	struct fng_buf text = { 0 }, errors = { 0 };
	char file[80], label[PATH_MAX + 80];
	const char *why;
	struct stat st;
	int rc;

	snprintf(file, sizeof(file), "%s.yaml", it->name);
	memset(&it->manifest, 0, sizeof(it->manifest));
	if (fstatat(dirfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		it->manifest = src_of(&st);
	}
	for (unsigned i = 0; i < sw->nknown; i++) {
		const struct scan_known *k = &sw->known[i];

		if (strcmp(k->name, it->name) == 0 &&
			memcmp(&k->manifest, &it->manifest, sizeof(k->manifest)) == 0) {
			it->limits = k->limits;
			return true;
		}
	}
	snprintf(label, sizeof(label), "%s/%s", sw->dir, file);
	rc = fng__safe_read(dirfd, file, &rules, &text, &st, &why);
	if (rc == -ENOENT) {
		/* No manifest: the defaults. */
		rc = fng__manifest_load_string(label, "", 0, &sw->defaults, policy, &it->limits,
			&errors);
	} else if (rc < 0) {
		fng__buf_finish(&text);
		return scan_fail(it, "manifest %s refused: %s", file, why);
	} else {
		rc = fng__manifest_load_string(label, text.p ? text.p : "", text.len,
			&sw->defaults, policy, &it->limits, &errors);
	}
	if (rc) {
		it->refused = rc == UV_EPERM;
		scan_fail(it, "%.*s", (int)(errors.len ? errors.len - 1 : 0),
			errors.p ? errors.p : "");
	}
	fng__buf_finish(&text);
	fng__buf_finish(&errors);
	return rc == 0;
}

/*
 * Takes the copy of a deployed version whose file has not changed since, if the store still
 * has it (the scan then holds a reference of its own).
 */
static bool scan_reuse(const struct scan_work *sw, struct scan_item *it)
{
	for (unsigned i = 0; i < sw->nknown; i++) {
		const struct scan_known *k = &sw->known[i];

		if (strcmp(k->name, it->name) == 0 &&
			memcmp(&k->src, &it->src, sizeof(k->src)) == 0 &&
			fng__fnstore_hold(sw->store, k->hash)) {
			memcpy(it->version, k->version, sizeof(it->version));
			memcpy(it->hash, k->hash, sizeof(it->hash));
			memcpy(it->so_path, k->so_path, sizeof(it->so_path));
			it->holds_copy = true;
			return true;
		}
	}
	return false;
}

/* Opens NAME.so under the file rules and copies it into the store. */
static void scan_copy(const struct scan_work *sw, int dirfd, const char *file,
	struct scan_item *it)
{
	const struct fng_safe_rules rules = { sw->max_so_bytes, FNG_SAFE_OWNER };
	const char *why;
	struct stat st;
	int fd = fng__safe_open(dirfd, file, &rules, &st, &why), err;

	if (fd < 0) {
		scan_fail(it, "%s refused: %s", file, why);
		return;
	}
	err = fng__fnstore_put(sw->store, fd, sw->max_so_bytes, it->hash, it->so_path,
		sizeof(it->so_path));
	close(fd);
	if (err) {
		scan_fail(it, "%s: cannot copy: %s", file, err == -EFBIG ?
			"it grew larger than the configured maximum" : strerror(-err));
		return;
	}
	memcpy(it->version, it->hash, 16);
	it->version[16] = '\0';
	it->holds_copy = true;
}

/* One NAME.so of the directory: what to deploy, or why not. False: it is gone. */
static bool scan_one(struct scan_work *sw, int dirfd, const char *file, struct scan_item *it,
	int64_t now_ns)
{
	const struct fn_failure *last = scan_failure(sw, it->name);
	struct stat st;

	/* The entry itself: a link, a FIFO or a device is refused without being opened. */
	if (fstatat(dirfd, file, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT) {
			return false; /* deleted since readdir: gone, like a file never listed */
		}
		scan_fail(it, "%s: %s", file, strerror(errno));
		return true;
	}
	it->src = src_of(&st);
	if (!S_ISREG(st.st_mode)) {
		scan_fail(it, "%s refused: %s", file, fng__safe_kind(&st));
		return true;
	}
	/*
	 * Perhaps being written right now (a cp in progress): look again shortly — unless the
	 * watch saw its writer close it or it was renamed into place.
	 */
	if (st.st_size == 0 ||
		(now_ns - it->src.mtime_ns < 50 * 1000000LL && !scan_complete(sw, it->name))) {
		it->unstable = true;
		sw->retry = true;
		return true;
	}
	if (!scan_limits(sw, dirfd, it)) {
		return true;
	}
	/* The same files (and limits) failed their pre-flight: not copied or tried again. */
	if (last && last->preflight && !memcmp(&last->src, &it->src, sizeof(it->src)) &&
		!memcmp(&last->manifest, &it->manifest, sizeof(it->manifest)) &&
		limits_equal(&last->limits, &it->limits)) {
		it->preflight = true;
		scan_fail(it, "%s", last->error);
		return true;
	}
	if (!scan_reuse(sw, it)) {
		scan_copy(sw, dirfd, file, it);
	}
	return true;
}

static void scan_work_cb(uv_work_t *req)
{
	struct scan_work *sw = (struct scan_work *)req;
	int dirfd = open(sw->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int listfd = dirfd >= 0 ? dup(dirfd) : -1;
	DIR *d = listfd >= 0 ? fdopendir(listfd) : NULL;
	struct dirent *e;
	struct timespec now;
	int64_t now_ns;

	if (!d) {
		if (listfd >= 0) {
			close(listfd);
		}
		if (dirfd >= 0) {
			close(dirfd);
		}
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	sw->complete_read = true;
	while ((e = readdir(d)) != NULL && sw->nitems < MAX_FUNCTIONS) {
		size_t len = strlen(e->d_name);
		struct scan_item *it;

		if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0 || e->d_name[0] == '.' ||
			len - 3 >= sizeof(it->name)) {
			continue;
		}
		if (sw->nitems == sw->cap) {
			unsigned cap = sw->cap ? sw->cap * 2 : 16;
			struct scan_item *items = realloc(sw->items, cap * sizeof(*items));

			if (!items) {
				sw->complete_read = false;
				break;
			}
			sw->items = items;
			sw->cap = cap;
		}
		it = &sw->items[sw->nitems];
		memset(it, 0, sizeof(*it));
		memcpy(it->name, e->d_name, len - 3);
		if (!fng__config_name_ok(it->name)) {
			continue;
		}
		if (scan_one(sw, dirfd, e->d_name, it, now_ns)) {
			sw->nitems++;
		}
	}
	closedir(d);
	close(dirfd);
}

static void start_scan(struct fng_functions *fns);

static void debounce_cb(uv_timer_t *t)
{
	start_scan(t->data);
}

/* Drops the scan's own references to copies (new generations have taken theirs). */
static void scan_work_free(struct scan_work *sw)
{
	for (unsigned i = 0; i < sw->nitems; i++) {
		if (sw->items[i].holds_copy) {
			fng__fnstore_unref(sw->store, sw->items[i].hash);
		}
	}
	fng__config_unref(sw->cfg);
	free(sw->items);
	free(sw->known);
	free(sw->failed);
	free(sw->complete);
	free(sw);
}

/* Abandons fn's version waiting for its pre-flight. */
static void gen_drop_pending(struct fng_functions *fns, struct fng_fn *fn)
{
	struct fng_gen *stale = fn->pending;

	fn->pending = NULL;
	gen_retire(stale);
	gen_maybe_free(fns, stale);
}

/* Takes fn's running version out of service; the requests queued for it get 503 (detail). */
static void fn_withdraw(struct fng_functions *fns, struct fng_fn *fn, const char *detail)
{
	struct fng_gen *g = fn->current;

	fn->current = NULL;
	gen_retire(g);
	gen_maybe_free(fns, g);
	fail_queue(fn, detail);
}

/*
 * Whether generation g (may be NULL) runs with more than its function's policy allows now:
 * a reload lowered a maximum or took a grant back since it was deployed. why says how.
 */
static bool gen_over_policy(const struct fng_gen *g, char *why, size_t len)
{
	return g && fng__policy_check(g->fn->policy, g->fn->name, &g->limits, why, len);
}

/*
 * A scanned version that cannot deploy: logged — unless it is the failure already logged for
 * the same, unchanged files (a rescan says nothing new) — and remembered; the running version
 * keeps serving. Unless the manifest was refused by the operator's policy and the running
 * version is over that policy too (a reload lowered a maximum or took a grant back since it
 * was deployed): then it stops, as would a version whose grant of network access was revoked.
 */
static void deploy_failed(struct fng_functions *fns, struct fng_fn *fn,
	const struct scan_item *it)
{
	struct fn_failure *f = &fn->failure;
	char why[256];
	bool stop;

	if (it->refused && gen_over_policy(fn->pending, why, sizeof(why))) {
		gen_drop_pending(fns, fn);
	}
	stop = it->refused && gen_over_policy(fn->current, why, sizeof(why));
	if (!stop && (it->preflight || (f->set && !f->preflight &&
		!strcmp(f->error, it->error) && !memcmp(&f->src, &it->src, sizeof(f->src)) &&
		!memcmp(&f->manifest, &it->manifest, sizeof(f->manifest))))) {
		return;
	}
	*f = (struct fn_failure){ .set = true, .src = it->src, .manifest = it->manifest };
	snprintf(f->error, sizeof(f->error), "%s", it->error);
	if (!stop) {
		fng__log("error", "deploy failed", "function", it->name, "cause", it->error,
			"action", fn->current ? "keeping the running version" : "not deployed",
			NULL);
		return;
	}
	fng__log("error", "deploy failed", "function", it->name, "cause", it->error, "action",
		"stopping the running version: it is over the operator's limits since the reload",
		"version", fn->current->version, "detail", why, NULL);
	fn_withdraw(fns, fn, "function was stopped: over the operator's limits");
}

static void scan_after_cb(uv_work_t *req, int status)
{
	struct scan_work *sw = (struct scan_work *)req;
	struct fng_functions *fns = sw->fns;

	fns->scanning = false;
	if (fns->closing) {
		scan_work_free(sw);
		return;
	}
	/* Functions whose .so disappeared retire (if the scan saw the whole directory). */
	for (unsigned i = 0; i < fns->nfns && sw->complete_read; i++) {
		struct fng_fn *fn = fns->fns[i];
		bool found = false;

		for (unsigned j = 0; j < sw->nitems; j++) {
			found |= strcmp(sw->items[j].name, fn->name) == 0;
		}
		if (!found && fn->current) {
			struct fng_gen *g = fn->current;

			fng__log("info", "function removed", "function", fn->name, "version",
				g->version, NULL);
			fn_withdraw(fns, fn, "function was removed");
		}
	}
	for (unsigned j = 0; j < sw->nitems; j++) {
		struct scan_item *it = &sw->items[j];
		struct fng_fn *fn;
		struct fng_gen *g;

		if (it->unstable) {
			continue;
		}
		fn = fn_get(fns, it->name);
		if (!fn) {
			continue;
		}
		if (it->failed) {
			deploy_failed(fns, fn, it);
			continue;
		}
		/*
		 * Same .so and same manifest: nothing to do. A manifest change alone redeploys.
		 * The same content with the same limits as a failed pre-flight is not tried again.
		 */
		if ((fn->current && strcmp(fn->current->hash, it->hash) == 0 &&
			    limits_equal(&fn->current->limits, &it->limits)) ||
			(fn->pending && strcmp(fn->pending->hash, it->hash) == 0 &&
				limits_equal(&fn->pending->limits, &it->limits)) ||
			(fn->failure.set && fn->failure.preflight &&
				strcmp(fn->failure.hash, it->hash) == 0 &&
				limits_equal(&fn->failure.limits, &it->limits))) {
			continue;
		}
		g = calloc(1, sizeof(*g));
		if (!g) {
			continue;
		}
		g->fn = fn;
		snprintf(g->version, sizeof(g->version), "%s", it->version);
		snprintf(g->hash, sizeof(g->hash), "%s", it->hash);
		snprintf(g->so_path, sizeof(g->so_path), "%s", it->so_path);
		fng__fnstore_ref(fns->store, g->hash);
		g->src = it->src;
		g->manifest = it->manifest;
		g->defaults_gen = fns->defaults_gen;
		g->limits = it->limits;
		fng__list_init(&g->workers);
		fng__list_init(&g->link);
		if (fn->pending) {
			gen_drop_pending(fns, fn);
		}
		fn->pending = g;
		fn->failure.set = false;
		/* Pre-flight: one worker must load it and say READY before it takes traffic. */
		if (worker_spawn(fns, g)) {
			fn->pending = NULL;
			fng__fnstore_unref(fns->store, g->hash);
			free(g);
		}
	}
	if (fns->rescan) {
		/* Something changed while we scanned: look again now. */
		fns->rescan = false;
		start_scan(fns);
	} else if (sw->retry) {
		uv_timer_start(&fns->debounce, debounce_cb, 60, 0);
	} else if (!sw->complete_read) {
		/* The directory could not be read (gone, out of descriptors): try again later. */
		uv_timer_start(&fns->debounce, debounce_cb, 1000, 0);
	}
	scan_work_free(sw);
}

/* The deployed versions the scan may reuse: current and pending generations. */
static int scan_snapshot(struct fng_functions *fns, struct scan_work *sw)
{
	sw->known = calloc(2 * (size_t)fns->nfns + 1, sizeof(*sw->known));
	sw->failed = calloc((size_t)fns->nfns + 1, sizeof(*sw->failed));
	sw->complete = calloc(fns->ncomplete + 1, sizeof(*sw->complete));
	if (!sw->known || !sw->failed || !sw->complete) {
		return -ENOMEM;
	}
	for (unsigned i = 0; i < fns->nfns; i++) {
		struct fng_gen *gens[2] = { fns->fns[i]->current, fns->fns[i]->pending };

		for (unsigned j = 0; j < 2; j++) {
			struct scan_known *k = &sw->known[sw->nknown];

			if (!gens[j]) {
				continue;
			}
			memcpy(k->name, fns->fns[i]->name, sizeof(k->name));
			memcpy(k->version, gens[j]->version, sizeof(k->version));
			memcpy(k->hash, gens[j]->hash, sizeof(k->hash));
			memcpy(k->so_path, gens[j]->so_path, sizeof(k->so_path));
			k->src = gens[j]->src;
			k->manifest = gens[j]->manifest;
			k->limits = gens[j]->limits;
			/* Limits from older defaults must be computed again. */
			if (gens[j]->defaults_gen != fns->defaults_gen) {
				memset(&k->manifest, 0xff, sizeof(k->manifest));
			}
			sw->nknown++;
		}
		if (fns->fns[i]->failure.set) {
			struct scan_failed *f = &sw->failed[sw->nfailed++];

			memcpy(f->name, fns->fns[i]->name, sizeof(f->name));
			f->f = fns->fns[i]->failure;
		}
	}
	memcpy(sw->complete, fns->complete, fns->ncomplete * sizeof(*sw->complete));
	sw->ncomplete = fns->ncomplete;
	fns->ncomplete = 0;
	return 0;
}

static void start_scan(struct fng_functions *fns)
{
	struct scan_work *sw;

	if (fns->closing) {
		return;
	}
	if (fns->scanning) {
		fns->rescan = true;
		return;
	}
	sw = calloc(1, sizeof(*sw));
	if (!sw) {
		return;
	}
	if (scan_snapshot(fns, sw) < 0) {
		scan_work_free(sw);
		return;
	}
	sw->fns = fns;
	sw->store = fns->store;
	sw->max_so_bytes = fns->max_so_bytes;
	snprintf(sw->dir, sizeof(sw->dir), "%s", fns->dir);
	sw->defaults = fns->defaults;
	sw->cfg = fng__config_ref(fns->cfg);
	fns->scanning = true;
	if (uv_queue_work(fns->loop, &sw->req, scan_work_cb, scan_after_cb) != 0) {
		fns->scanning = false;
		scan_work_free(sw);
	}
}

/* NAME of "NAME.so" (3) or "NAME.yaml" (5), not hidden; 0 for another file. */
static size_t deploy_name(const char *file, char name[64])
{
	size_t len = strlen(file), ext;

	if (file[0] == '.') {
		return 0;
	}
	if (len > 3 && strcmp(file + len - 3, ".so") == 0) {
		ext = 3;
	} else if (len > 5 && strcmp(file + len - 5, ".yaml") == 0) {
		ext = 5;
	} else {
		return 0;
	}
	if (len - ext >= 64) {
		return 0;
	}
	memcpy(name, file, len - ext);
	name[len - ext] = '\0';
	return ext;
}

static void note_complete(struct fng_functions *fns, const char *name)
{
	for (unsigned i = 0; i < fns->ncomplete; i++) {
		if (strcmp(fns->complete[i], name) == 0) {
			return;
		}
	}
	if (fns->ncomplete < MAX_COMPLETE) {
		memcpy(fns->complete[fns->ncomplete++], name, 64);
	}
}

static void forget_complete(struct fng_functions *fns, const char *name)
{
	for (unsigned i = 0; i < fns->ncomplete; i++) {
		if (strcmp(fns->complete[i], name) == 0) {
			memcpy(fns->complete[i], fns->complete[--fns->ncomplete], 64);
			return;
		}
	}
}

/*
 * inotify on the functions directory (not uv_fs_event: it does not report IN_CLOSE_WRITE,
 * which is what says a cp has finished). A file renamed in, a writer closing it, or a
 * deletion is a deploy to make now; a file being created or written is not finished yet —
 * its close will come, and a debounced scan (which leaves files modified in the last 50 ms
 * for later) catches writers that never close.
 */
static void watch_cb(uv_poll_t *h, int status, int events)
{
	struct fng_functions *fns = h->data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool now = false, later = false;
	ssize_t n;

	while ((n = read(fns->inotify, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			char name[64];
			size_t kind;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				later = true;
				continue;
			}
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
				fng__log("warn", "the functions directory was removed or moved: "
					"no hot deploy until restart", "dir", fns->dir, NULL);
				continue;
			}
			kind = ev->len ? deploy_name(ev->name, name) : 0;
			if (!kind) {
				continue;
			}
			if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
				if (kind == 3) {
					note_complete(fns, name);
				}
				now = true;
			} else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
				now = true;
			} else {
				/* IN_CREATE, IN_MODIFY, IN_ATTRIB: a writer may still be at it. */
				if (kind == 3) {
					forget_complete(fns, name);
				}
				later = true;
			}
		}
	}
	if (now) {
		uv_timer_stop(&fns->debounce);
		start_scan(fns);
	} else if (later) {
		uv_timer_start(&fns->debounce, debounce_cb, DEBOUNCE_MS, 0);
	}
}

static int watch_start(struct fng_functions *fns)
{
	int err;

	fns->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fns->inotify < 0) {
		return -errno;
	}
	if (inotify_add_watch(fns->inotify, fns->dir, IN_CLOSE_WRITE | IN_MOVED_TO |
		IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF |
		IN_MOVE_SELF | IN_ONLYDIR) < 0) {
		err = -errno;
		goto fail;
	}
	err = uv_poll_init(fns->loop, &fns->watch, fns->inotify);
	if (err) {
		goto fail;
	}
	fns->watch.data = fns;
	fns->watching = true;
	return uv_poll_start(&fns->watch, UV_READABLE, watch_cb);
fail:
	close(fns->inotify);
	fns->inotify = -1;
	return err;
}

/* ---- life cycle ---- */

int fng__functions_create(uv_loop_t *loop, int ctl, pid_t supervisor,
	const struct fng_config *cfg, struct fng_functions **out)
{
	struct fng_functions *fns = calloc(1, sizeof(*fns));
	const char *why;
	int err;

	if (!fns) {
		return UV_ENOMEM;
	}
	fns->loop = loop;
	fns->ctl = ctl;
	fns->supervisor = supervisor;
	fng__list_init(&fns->workers);
	fng__list_init(&fns->sendq);
	snprintf(fns->dir, sizeof(fns->dir), "%s", cfg->functions.dir);
	fns->defaults = cfg->functions.defaults;
	fns->max_so_bytes = cfg->functions.max_so_bytes;
	fns->logs = cfg->functions.logs;
	fns->cpu_isolation = cfg->functions.cpu_isolation;
	fns->cfg = fng__config_ref((struct fng_config *)cfg);
	err = fng__fnstore_create(cfg->functions.run_dir, &fns->store, &why);
	if (err) {
		fng__log("error", "cannot make the private copies' directory", "run_dir",
			cfg->functions.run_dir ? cfg->functions.run_dir : "(default)", "error", why,
			"detail", strerror(-err), NULL);
		fng__config_unref(fns->cfg);
		free(fns);
		return err;
	}
	fcntl(ctl, F_SETFL, fcntl(ctl, F_GETFL) | O_NONBLOCK);
	uv_poll_init(loop, &fns->ctl_poll, ctl);
	fns->ctl_poll.data = fns;
	uv_poll_start(&fns->ctl_poll, UV_READABLE, ctl_cb);
	uv_timer_init(loop, &fns->debounce);
	fns->debounce.data = fns;
	uv_check_init(loop, &fns->pump);
	fns->pump.data = fns;
	uv_timer_init(loop, &fns->retry);
	fns->retry.data = fns;
	err = watch_start(fns);
	if (err) {
		fng__log("warn", "cannot watch the functions directory: no hot deploy", "dir",
			fns->dir, "error", uv_strerror(err), NULL);
	}
	current_fns = fns;
	fng__integration_register(FNG_INTEGRATION_FUNCTION, &function_ops);
	fng__log("info", "function host", "dir", fns->dir, "copies", fng__fnstore_dir(fns->store),
		"sandbox", fng__sb_describe(), NULL);
	start_scan(fns);
	*out = fns;
	return 0;
}

void fng__functions_reconfigure(struct fng_functions *fns, const struct fng_config *cfg)
{
	struct fng_config *old = fns->cfg;

	/* The gateway's checks follow the new policies at once; the workers' copies on redeploy. */
	fns->cfg = fng__config_ref((struct fng_config *)cfg);
	for (unsigned i = 0; i < fns->nfns; i++) {
		fns->fns[i]->policy = fng__config_fn_policy(fns->cfg, fns->fns[i]->name);
	}
	fng__config_unref(old);
	fns->defaults = cfg->functions.defaults;
	fns->max_so_bytes = cfg->functions.max_so_bytes;
	fns->cpu_isolation = cfg->functions.cpu_isolation;
	fns->defaults_gen++;
	fns->logs = cfg->functions.logs;
	if (strcmp(fns->dir, cfg->functions.dir) != 0) {
		fng__log("warn", "functions.dir changed: restart to watch the new directory", NULL);
	}
	start_scan(fns);
}

unsigned fng__functions_count(const struct fng_functions *fns)
{
	unsigned n = 0;

	for (unsigned i = 0; i < fns->nfns; i++) {
		n += fns->fns[i]->current != NULL;
	}
	return n;
}

static void fns_handle_closed(uv_handle_t *h)
{
}

void fng__functions_close(struct fng_functions *fns)
{
	if (!fns) {
		return;
	}
	fns->closing = true;
	for (unsigned i = 0; i < fns->nfns; i++) {
		struct fng_fn *fn = fns->fns[i];

		while (!fng__list_empty(&fn->queue)) {
			struct qitem *q = fng__container_of(fn->queue.next, struct qitem, link);
			struct fng_req *r = q->req;

			fng__list_remove(&q->link);
			fng__wire_buf_finish(&q->frame);
			free(q);
			fng__req_resume(r, FNG_EUNAVAILABLE);
		}
	}
	while (!fng__list_empty(&fns->sendq)) {
		struct ctl_msg *m = fng__container_of(fns->sendq.next, struct ctl_msg, link);

		fng__list_remove(&m->link);
		free(m);
	}
	while (!fng__list_empty(&fns->workers)) {
		struct fng_worker *w = fng__container_of(fns->workers.next, struct fng_worker, all);

		worker_kill(w);
		worker_destroy(fns, w);
	}
	for (unsigned i = 0; i < fns->nfns; i++) {
		struct fng_fn *fn = fns->fns[i];

		free(fn->current);
		free(fn->pending);
		while (!fng__list_empty(&fn->old)) {
			struct fng_gen *g = fng__container_of(fn->old.next, struct fng_gen, link);

			fng__list_remove(&g->link);
			free(g);
		}
		free(fn);
	}
	fns->nfns = 0;
	uv_close((uv_handle_t *)&fns->ctl_poll, fns_handle_closed);
	uv_close((uv_handle_t *)&fns->debounce, fns_handle_closed);
	uv_close((uv_handle_t *)&fns->pump, fns_handle_closed);
	uv_close((uv_handle_t *)&fns->retry, fns_handle_closed);
	if (fns->watching) {
		uv_close((uv_handle_t *)&fns->watch, fns_handle_closed);
	}
	if (fns->inotify >= 0) {
		close(fns->inotify);
	}
	close(fns->ctl); /* the supervisor sees EOF, kills what is left and exits */
	/* Reap it (it is our child); it needs a moment to kill and reap its workers. */
	for (int i = 0; i < 200 && fns->supervisor > 0; i++) {
		pid_t r = waitpid(fns->supervisor, NULL, WNOHANG);

		if (r == fns->supervisor || (r < 0 && errno != EINTR)) {
			break;
		}
		usleep(5000);
	}
	fng__config_unref(fns->cfg);
	fns->cfg = NULL;
	if (current_fns == fns) {
		current_fns = NULL;
	}
	/* fns itself is freed by fng__functions_free once the loop ran the close callbacks. */
}

void fng__functions_free(struct fng_functions *fns)
{
	if (fns) {
		/* After the loop ran: no scan is copying into the store any more. */
		fng__fnstore_destroy(fns->store);
	}
	free(fns);
}
