// SPDX-License-Identifier: MIT
/*
 * The function host's worker pools: a worker's life from the SPAWN request to its exit report
 * (READY and the supervisor's verification of its sandbox, recycling after max_invocations,
 * killing, the wait for its pipe and exit report, its libuv handles), the generations of a
 * function (pre-flight, activation, retirement, withdrawal), and the host's life cycle
 * (functions.h). Workers are made by the supervisor (host/super.c, sandbox/).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "authz_cache.h"
#include "errors.h"
#include "host.h"
#include "metrics.h"
#include "server.h"

static void gen_maybe_free(struct fng_functions *fns, struct fng_gen *g);
static void gen_activate(struct fng_functions *fns, struct fng_gen *g);
static struct fng_worker *worker_by(struct fng_functions *fns, uint32_t spawn_id, pid_t pid);

struct fng_fn *fng__host_fn_find(struct fng_functions *fns, const char *name)
{
	for (unsigned i = 0; i < fns->nfns; i++) {
		if (strcmp(fns->fns[i]->name, name) == 0) {
			return fns->fns[i];
		}
	}
	return NULL;
}

struct fng_fn *fng__host_fn_get(struct fng_functions *fns, const char *name)
{
	struct fng_fn *fn = fng__host_fn_find(fns, name);

	if (fn || fns->nfns == MAX_FUNCTIONS) {
		return fn;
	}
	fn = calloc(1, sizeof(*fn));
	if (!fn) {
		return NULL;
	}
	fn->fns = fns;
	snprintf(fn->name, sizeof(fn->name), "%s", name);
	fn->policy = fng__config_fn_policy(fns->cfg, fn->name);
	fn->service_ns = SERVICE_NS_UNKNOWN;
	fng__list_init(&fn->old);
	fng__list_init(&fn->queue);
	fns->fns[fns->nfns++] = fn;
	return fn;
}

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

/* Detaches w from everything and closes its handles; memory goes when they are closed. */
static void worker_destroy(struct fng_functions *fns, struct fng_worker *w)
{
	struct fng_gen *g = w->gen;
	struct fng_fn *fn;

	/* Its last words (a crash message) are usually there already: log them first. */
	fng__host_out_drain(w);
	fng__host_worker_fail_req(w, FNG_EBAD_GATEWAY, NULL);
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
		fng__host_pump(fns, fn);
	}
}

void fng__host_worker_kill(struct fng_worker *w)
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

/*
 * The worker was killed, asked to stop, or lost its pipe, and the rest of its ending has not
 * arrived in time (a worker ignoring SHUTDOWN, a late exit report): finish it now.
 */
void fng__host_exit_wait_cb(uv_timer_t *t)
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
	fng__host_worker_died(w->fns, w);
}

/* How many live requests wait behind the running one, as text for a log line. */
const char *fng__host_waiting_text(const struct fng_worker *w, char buf[12])
{
	unsigned n = 0;

	for (unsigned i = 1; i < w->nslots; i++) {
		n += w->slots[i].req != NULL;
	}
	snprintf(buf, 12, "%u", n);
	return buf;
}

void fng__host_worker_died(struct fng_functions *fns, struct fng_worker *w)
{
	if (fns->srv && (w->state == W_IDLE || w->state == W_BUSY || w->timed_out ||
		(w->state == W_DEAD && w->malformed)) && w->gen && w->gen->active) {
		const char *v[] = { w->gen->fn->name, w->gen->version };

		fng__metric_inc(fns->srv, &fng__m_fn_respawns, v);
	}
	const char *what = w->state == W_STARTING ? "worker failed to start" : "worker died";

	struct fng_req *head = w->nslots ? w->slots[0].req : NULL;

	if (w->state != W_DEAD || head) {
		if (head) {
			char detail[256], n[12];

			fng__log("error", "function failed", "function", w->gen->fn->name, "version",
				w->gen->version, "requestId", head->request_id, "cause", w->cause,
				"requeued", fng__host_waiting_text(w, n),
				NULL);
			snprintf(detail, sizeof(detail), "function %s failed (%s)", w->gen->fn->name,
				w->cause);
			fng__host_worker_fail_req(w, FNG_EBAD_GATEWAY, detail);
		} else if (w->state == W_STARTING && w->gen && !w->gen->active) {
			/* Handled by the deploy path below. */
		} else if (w->state != W_RETIRING) {
			fng__log("warn", what, "function", w->gen->fn->name, "version",
				w->gen->version, "cause", w->cause, NULL);
		}
	}
	if (w->state == W_STARTING && w->gen->active && !w->orphaned) {
		/*
		 * A live version whose new workers fail to start: back off instead of looping
		 * (2 ms after the first failure, doubling to 2048 ms from the eleventh on;
		 * docs/config.md). While it backs off with no worker alive, its requests get 503
		 * with this cause at once (host/queue.c) rather than waiting for their deadline.
		 */
		struct fng_gen *g = w->gen;
		unsigned shift = g->start_failures < 10 ? g->start_failures : 10;

		snprintf(g->start_error, sizeof(g->start_error), "%s", w->cause);
		g->start_failures++;
		g->backoff_until = uv_now(fns->loop) + (1u << shift) * 2;
		uv_timer_start(&fns->retry, fng__host_retry_cb, (1u << shift) * 2 + 1, 0);
	}
	if (w->state == W_STARTING && w->gen == w->gen->fn->pending && w->orphaned) {
		/* Its pre-flight died with the supervisor: ask the next one (0 or UV_ENOMEM). */
		w->state = W_DEAD;
		fng__host_worker_spawn(fns, w->gen);
	} else if (w->state == W_STARTING && w->gen == w->gen->fn->pending) {
		struct fng_gen *g = w->gen;

		fng__log("error", "deploy failed", "function", g->fn->name, "version", g->version,
			"cause", w->cause, "action",
			g->fn->current ? "keeping the running version" : "function not deployed", NULL);
		fng__host_metric_deploy(fns, g->fn->name, g->version, "failed", w->cause);
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
	w->malformed = returned;
	if (head) {
		char detail[192], n[12];

		fng__log("error", "function failed", "function", w->gen->fn->name, "requestId",
			head->request_id, "cause", cause, "requeued", fng__host_waiting_text(w, n),
			NULL);
		snprintf(detail, sizeof(detail), returned ? "function %s returned %s" :
			"function %s failed (%s)", w->gen->fn->name, cause);
		fng__host_worker_fail_req(w, FNG_EBAD_GATEWAY, detail);
	}
	fng__host_worker_kill(w);
	if (w->pipe_open && uv_is_active((uv_handle_t *)&w->pipe)) {
		uv_read_stop((uv_stream_t *)&w->pipe);
	}
	w->pipe_eof = true;
	uv_timer_start(&w->timer, fng__host_exit_wait_cb, EXIT_WAIT_MS, 0);
}

/* The worker sent something malformed or unexpected. */
void fng__host_worker_protocol_error(struct fng_functions *fns, struct fng_worker *w,
	const char *why)
{
	worker_abort(fns, w, why, true);
}

/* Its socket refused our frames (usually: it died an instant ago). */
void fng__host_worker_write_failed(struct fng_functions *fns, struct fng_worker *w, int err)
{
	char why[96];

	snprintf(why, sizeof(why), "write failed: %s", err ? uv_strerror(err) : "out of memory");
	worker_abort(fns, w, why, false);
}

/* The worker is what it claims: it takes traffic. */
static void worker_verified(struct fng_functions *fns, struct fng_worker *w)
{
	if (fns->srv) {
		const char *v[] = { w->gen->fn->name, w->gen->version };

		fng__metric_observe_at(fns->srv, &fng__m_fn_cold_start, v,
			uv_hrtime() - w->spawn_ns);
	}
	w->state = W_IDLE;
	w->gen->start_failures = 0;
	if (w->gen == w->gen->fn->pending) {
		gen_activate(fns, w->gen);
	}
	fng__host_pump(fns, w->gen->fn);
}

/*
 * The gateway will not use this starting worker (why): it is killed, and its exit reports
 * why — a failed start (a pending version's deploy fails; a live one backs off and starts
 * another). With cheated, the worker was caught outside its sandbox: a live version (it
 * behaved in its pre-flight and not now) is withdrawn and not deployed again until its files
 * change.
 */
void fng__host_worker_refuse(struct fng_functions *fns, struct fng_worker *w, const char *why,
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
		fng__host_fn_withdraw(fns, fn, "function was withdrawn");
	}
}

void fng__host_on_verified(struct fng_functions *fns, const struct fng_sb_verified *m)
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
		fng__host_ctl_send(fns, FNG_SB_VERIFY,
			&(struct fng_sb_verify){ FNG_SB_VERIFY, w->pid }) == 0) {
		return;
	}
	snprintf(why, sizeof(why), "sandbox not verified: %.*s", (int)sizeof(m->why), m->why);
	fng__host_worker_refuse(fns, w, why, m->err == -EPERM);
}

/* The worker answered its last invocation: recycle it, or make it available. */
enum wstate fng__host_next_state(const struct fng_worker *w)
{
	const struct fng_gen *g = w->gen;

	if (w->nslots) {
		return W_BUSY;
	}
	return g->retired || w->invocations >= g->limits.max_invocations ? W_RETIRING : W_IDLE;
}

bool fng__host_worker_ok(const struct fng_worker *w)
{
	switch (w->state) {
	case W_BUSY:
		return w->nslots >= 1 && w->nslots <= MAX_PIPELINE;
	case W_SPAWNING:
	case W_STARTING:
	case W_IDLE:
	case W_RETIRING:
		return w->nslots == 0;
	case W_DEAD:
		return w->nslots <= MAX_PIPELINE; /* its ending answers them */
	default:
		return false;
	}
}

void fng__host_worker_idle(struct fng_functions *fns, struct fng_worker *w)
{
	struct fng_gen *g = w->gen;

	assert(w->nslots == 0);
	if (fng__host_next_state(w) == W_RETIRING) {
		struct fng_wire_buf f = { 0 };

		/* Recycle: a graceful SHUTDOWN lets the handler's shutdown hook run. */
		w->state = W_RETIRING;
		if (fng__wire_encode_empty(&f, FNG_WIRE_SHUTDOWN) == 0) {
			uv_buf_t b = uv_buf_init((char *)f.p, (unsigned)f.len);

			uv_try_write((uv_stream_t *)&w->pipe, &b, 1);
		}
		fng__wire_buf_finish(&f);
		uv_timer_start(&w->timer, fng__host_exit_wait_cb, EXIT_WAIT_MS * 2, 0);
	} else {
		w->state = W_IDLE;
	}
	FNG_HOST_CHECK(w);
	fng__host_pump_soon(fns, g->fn);
}

/* Asks the supervisor (now, or the next one) for the worker w of w->gen. */
static void spawn_ask(struct fng_functions *fns, struct fng_worker *w)
{
	const struct fng_gen *g = w->gen;
	struct fng_sb_spawn sp = { 0 };

	sp.type = FNG_SB_SPAWN;
	sp.id = w->spawn_id;
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
	if (fng__host_ctl_send(fns, FNG_SB_SPAWN, &sp)) {
		fng__host_spawn_failed(fns, sp.id, UV_ENOMEM);
	}
}

int fng__host_worker_spawn(struct fng_functions *fns, struct fng_gen *g)
{
	struct fng_worker *w = calloc(1, sizeof(*w));

	if (!w) {
		return UV_ENOMEM;
	}
	w->fns = fns;
	w->gen = g;
	w->spawn_id = ++fns->next_spawn_id;
	w->spawn_ns = uv_hrtime();
	w->state = W_SPAWNING;
	w->pid = -1;
	w->handles = 1; /* the timer; each pipe adds one when it is made */
	uv_timer_init(fns->loop, &w->timer);
	w->timer.data = w;
	fng__list_append(&g->workers, &w->link);
	fng__list_append(&fns->workers, &w->all);
	g->nworkers++;
	spawn_ask(fns, w);
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

void fng__host_spawn_failed(struct fng_functions *fns, uint32_t id, int err)
{
	struct fng_worker *w = worker_by(fns, id, 0);

	fng__log("error", "cannot ask the supervisor for a worker", "error", uv_strerror(err),
		NULL);
	if (w) {
		snprintf(w->cause, sizeof(w->cause), "spawn failed: %s", uv_strerror(err));
		w->exited = true;
		w->state = W_STARTING;
		fng__host_worker_died(fns, w);
	}
}

/* The request to verify pid could not be sent: it is not used. */
void fng__host_verify_failed(struct fng_functions *fns, pid_t pid, int err)
{
	struct fng_worker *w = worker_by(fns, 0, pid);
	char why[96];

	if (w && w->state == W_STARTING && w->ready_seen) {
		snprintf(why, sizeof(why), "cannot have its sandbox verified: %s", uv_strerror(err));
		fng__host_worker_refuse(fns, w, why, false);
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

void fng__host_on_spawned(struct fng_functions *fns, const struct fng_sb_spawned *m, int fd,
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
		fng__host_worker_died(fns, w);
		return;
	}
	w->pid = m->pid;
	w->state = W_STARTING;
	w->out_open = worker_pipe(fns, w, &w->out, outfd);
	if (w->out_open) {
		uv_read_start((uv_stream_t *)&w->out, fng__host_out_alloc_cb,
			fng__host_out_read_cb);
	}
	w->pipe_open = worker_pipe(fns, w, &w->pipe, fd);
	if (!w->pipe_open || !w->out_open) {
		kill(w->pid, SIGKILL);
		snprintf(w->cause, sizeof(w->cause), "cannot watch the worker");
		w->pipe_eof = true;
		uv_timer_start(&w->timer, fng__host_exit_wait_cb, EXIT_WAIT_MS, 0);
		return;
	}
	uv_read_start((uv_stream_t *)&w->pipe, fng__host_worker_alloc_cb, fng__host_worker_read_cb);
}

void fng__host_on_exit_report(struct fng_functions *fns, const struct fng_sb_exit *m)
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
		fng__host_worker_died(fns, w);
	}
}

void fng__host_workers_orphaned(struct fng_functions *fns)
{
	struct fng_list *it;

	/*
	 * Workers not made yet are asked of the next supervisor again (the requests not sent were
	 * dropped with the dead one's socket). The others were its children and die with it
	 * (PR_SET_PDEATHSIG); no exit report will come: each ends when its socket closes, the
	 * running invocation with a 502, those pipelined behind it re-dispatched. Ending one may
	 * end others of its generation (the pump): the walk starts over after each.
	 */
	for (it = fns->workers.next; it != &fns->workers; it = it->next) {
		struct fng_worker *w = fng__container_of(it, struct fng_worker, all);

		if (w->state == W_SPAWNING) {
			spawn_ask(fns, w);
		}
	}
	it = fns->workers.next;
	while (it != &fns->workers) {
		struct fng_worker *w = fng__container_of(it, struct fng_worker, all);

		it = it->next;
		if (w->state == W_SPAWNING || w->orphaned) {
			continue;
		}
		w->orphaned = true;
		if (!w->exited) {
			if (!w->cause[0] || w->state == W_BUSY) {
				snprintf(w->cause, sizeof(w->cause), "its sandbox supervisor died");
			}
			w->exited = true;
		}
		if (w->pipe_eof || !w->pipe_open) {
			fng__host_worker_died(fns, w);
			it = fns->workers.next;
		}
	}
}

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
			fng__host_worker_idle(w->fns, w); /* sends SHUTDOWN */
		} else if (w->state == W_STARTING || w->state == W_SPAWNING) {
			fng__host_worker_kill(w);
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
	fng__host_metric_deploy(fns, fn->name, g->version, "deployed",
		old ? "updated" : "first version");
	if (old) {
		gen_retire(old);
		gen_maybe_free(fns, old);
	}
	fng__host_pump(fns, fn);
}

/* Abandons fn's version waiting for its pre-flight. */
void fng__host_gen_drop_pending(struct fng_functions *fns, struct fng_fn *fn)
{
	struct fng_gen *stale = fn->pending;

	fn->pending = NULL;
	gen_retire(stale);
	gen_maybe_free(fns, stale);
}

/* Takes fn's running version out of service; the requests queued for it get 503 (detail). */
void fng__host_fn_withdraw(struct fng_functions *fns, struct fng_fn *fn, const char *detail)
{
	struct fng_gen *g = fn->current;

	fn->current = NULL;
	gen_retire(g);
	gen_maybe_free(fns, g);
	fng__host_queue_fail(fn, detail);
}

int fng__functions_create(uv_loop_t *loop, struct fng_server *srv, int ctl, pid_t supervisor,
	const struct fng_config *cfg, struct fng_functions **out)
{
	struct fng_functions *fns = calloc(1, sizeof(*fns));
	const char *why;
	int err;

	if (!fns) {
		return UV_ENOMEM;
	}
	fns->loop = loop;
	fns->srv = srv;
	fng__list_init(&fns->workers);
	fng__list_init(&fns->sendq);
	snprintf(fns->dir, sizeof(fns->dir), "%s", cfg->functions.dir);
	fns->defaults = cfg->functions.defaults;
	fns->max_so_bytes = cfg->functions.max_so_bytes;
	fns->logs = cfg->functions.logs;
	fns->cpu_isolation = cfg->functions.cpu_isolation;
	fns->cfg = fng__config_ref((struct fng_config *)cfg);
	/* Without it answers are not kept: every request asks its authorizer. */
	fns->authz_cache = fng__authz_cache_create();
	err = fng__fnstore_create(cfg->functions.run_dir, &fns->store, &why);
	if (err) {
		fng__log("error", "cannot make the private copies' directory", "run_dir",
			cfg->functions.run_dir ? cfg->functions.run_dir : "(default)", "error", why,
			"detail", strerror(-err), NULL);
		fng__config_unref(fns->cfg);
		fng__authz_cache_destroy(fns->authz_cache);
		free(fns);
		return err;
	}
	fng__host_super_init(fns);
	fng__host_super_attach(fns, ctl, supervisor);
	uv_timer_init(loop, &fns->debounce);
	fns->debounce.data = fns;
	uv_check_init(loop, &fns->pump);
	fns->pump.data = fns;
	uv_idle_init(loop, &fns->pump_wake);
	uv_timer_init(loop, &fns->retry);
	fns->retry.data = fns;
	fng__host_queue_init(fns);
	err = fng__host_deploy_watch(fns);
	if (err) {
		fng__log("warn", "cannot watch the functions directory: no hot deploy", "dir",
			fns->dir, "error", uv_strerror(err), NULL);
	}
	fng__integration_register(FNG_INTEGRATION_FUNCTION, &fng__host_function_ops);
	fng__log("info", "function host", "dir", fns->dir, "copies", fng__fnstore_dir(fns->store),
		"sandbox", fng__sb_describe(), NULL);
	fng__host_deploy_scan(fns);
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
	/* An authorizer may now be another function, or the same with other rules. */
	fng__authz_cache_clear(fns->authz_cache);
	fns->defaults = cfg->functions.defaults;
	fns->max_so_bytes = cfg->functions.max_so_bytes;
	fns->cpu_isolation = cfg->functions.cpu_isolation;
	fns->defaults_gen++;
	fns->logs = cfg->functions.logs;
	if (strcmp(fns->dir, cfg->functions.dir) != 0) {
		fng__log("warn", "functions.dir changed: restart to watch the new directory", NULL);
	}
	fng__host_deploy_scan(fns);
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

		struct qitem *q;

		while ((q = fng__host_queue_pop(fn)) != NULL) {
			struct fng_req *r = q->req;

			fng__host_qitem_free(q);
			fng__host_complete(fns, r, FNG_EUNAVAILABLE);
		}
	}
	fng__host_ctl_drop(fns);
	while (!fng__list_empty(&fns->workers)) {
		struct fng_worker *w = fng__container_of(fns->workers.next, struct fng_worker, all);

		fng__host_worker_kill(w);
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
	fng__host_super_close(fns);
	uv_close((uv_handle_t *)&fns->debounce, fns_handle_closed);
	uv_close((uv_handle_t *)&fns->pump, fns_handle_closed);
	uv_close((uv_handle_t *)&fns->pump_wake, fns_handle_closed);
	uv_close((uv_handle_t *)&fns->retry, fns_handle_closed);
	fng__host_queue_close(fns);
	if (fns->watching) {
		uv_close((uv_handle_t *)&fns->watch, fns_handle_closed);
	}
	if (fns->inotify >= 0) {
		close(fns->inotify);
	}
	fng__config_unref(fns->cfg);
	fns->cfg = NULL;
	/* fns itself is freed by fng__functions_free once the loop ran the close callbacks. */
}

void fng__functions_free(struct fng_functions *fns)
{
	if (fns) {
		/* After the loop ran: no scan is copying into the store any more. */
		fng__fnstore_destroy(fns->store);
		fng__authz_cache_destroy(fns->authz_cache);
	}
	free(fns);
}
