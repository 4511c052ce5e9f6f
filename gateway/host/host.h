/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_HOST_H
#define FNG_GATEWAY_HOST_H

/*
 * The function host's private header: the state its files share. The public API is
 * functions.h. A function is a NAME.so in the functions directory; each content version of it
 * is a generation (struct fng_gen) with its own worker pool. The host is cut by concern:
 *
 *   host/pool.c      workers and generations: spawn, READY and verification, recycling,
 *                    killing, exit reports, handles; the host's life cycle
 *   host/dispatch.c  frames from workers through the dispatch table (RESULT, LOG, WS_*, READY)
 *   host/output.c    what workers write on stdout/stderr, as log lines of their function
 *   host/queue.c     requests waiting for a worker, deadlines, pipelining, the pump
 *   host/event.c     the `function` integration: events encoded into INVOKE frames, RESULTs
 *                    decoded into responses
 *   host/super.c     the supervisor client: the control socket (SPAWN, SPAWNED, VERIFY, EXIT)
 *   host/deploy.c    hot deploy: inotify, the scan off the loop thread, pre-flight, failures
 *   host/authz.c     function authorizers: identity, the result cache (authz_cache.c) and
 *                    AUTHORIZER invocations for the stage "authorize"
 *
 * A request is answered with API Gateway + Lambda semantics: crash, seccomp kill, out of
 * memory or a malformed answer → 502, deadline → 504, pool and queue full → 429, no such
 * function → 503. A new version takes traffic only after one of its workers said READY (ABI
 * checked, init hook succeeded) and the supervisor verified its sandbox; the old one finishes
 * what it has and retires. A failing pre-flight keeps the old version.
 *
 * Everything runs on the loop thread of the struct fng_functions it belongs to, reached from a
 * worker (w->fns), a function (fn->fns) or a request (its server's fns): nothing is global, so
 * two hosts on two loops can live in one process.
 */
#include <assert.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "config.h"
#include "fnlog.h"
#include "fnstore.h"
#include "functions.h"
#include "integration.h"
#include "mem.h"
#include "sandbox.h"
#include "wire.h"

struct fng_req;

#define MAX_FUNCTIONS 1024
#define MAX_COMPLETE 64
#define EXIT_WAIT_MS 1000
/*
 * A worker whose lines over its function's log limit add up to this much in one read is
 * flooding: it is not read again until the next log tick (host/dispatch.c, host/output.c). A
 * chatty but honest handler that loses a line now and then is never paused.
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
	W__COUNT
};

struct fng_fn;
struct fng_gen;

struct fng_worker {
	struct fng_list link;    /* gen->workers */
	struct fng_list all;     /* fns->workers, for exit reports */
	struct fng_functions *fns; /* its host (the loop it lives on) */
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
	bool orphaned;           /* its supervisor died (so did it): not a start failure */
	bool malformed;          /* killed for what it sent (a metric's cause: "malformed") */
	uint64_t spawn_ns;       /* uv_hrtime() when it was asked for: its cold start */
	bool head_unsent;        /* no byte of slots[0]'s INVOKE has reached its socket yet */
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
	struct fng_metric_series *m_invocations; /* its series, resolved at its first invocation */
	unsigned start_failures; /* in a row: spawning backs off */
	uint64_t backoff_until;  /* uv_now() ms */
	char start_error[96];    /* why its last worker failed to start (the 503's cause) */
};

struct fng_fn {
	struct fng_functions *fns; /* its host */
	char name[64];
	struct fng_gen *current, *pending;
	struct fng_list old;     /* retiring generations */
	struct fng_list queue;   /* requests waiting for a worker (struct qitem) */
	unsigned nqueue;
	uint64_t service_ns;     /* moving average of an invocation's run time */
	/*
	 * The run time admission estimates waits with (host/queue.c): 0 until the first
	 * invocation ran; then it follows faster runs at once and slower ones slowly, so that
	 * invocations held up by a busy loop do not shut the queue.
	 */
	uint64_t run_ns;
	bool pump_wanted;        /* pump_cb runs fng__host_pump for it */
	const struct fng_fn_policy *policy; /* what the operator allows it (in fns->cfg) */
	uint64_t refused_at;     /* uv_now() ms of its last "WebSocket call refused" line */
	unsigned refused;        /* its WebSocket calls refused since that line */
	uint64_t bad_status_at;  /* uv_now() ms of its last "status that is not an answer" line */
	unsigned bad_status;     /* such answers since that line, not logged */
	char header_logged[17];  /* the version a "reserved header dropped" line was logged for */
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

/* A request waiting for a worker: in its function's queue, earliest deadline first. */
struct qitem {
	struct fng_list link;
	struct fng_req *req;
	struct fng_fn *fn;
	struct fng_wire_buf frame; /* the INVOKE, encoded when the request arrived */
	uint64_t deadline;         /* uv_now() ms: queueing counts against the timeout */
};

struct fng_functions {
	uv_loop_t *loop;
	struct fng_server *srv;    /* the loop's state (WebSocket calls); NULL: none */
	/*
	 * The supervisor (host/super.c): its control socket and pid, -1 while there is none (it
	 * died and its replacement waits out a back-off). A poll handle of its own per supervisor:
	 * a closed libuv handle cannot be reused before its close callback.
	 */
	int ctl;
	pid_t supervisor;
	uv_poll_t *ctl_poll;
	uint64_t sup_since;        /* uv_now() ms the current supervisor was started */
	unsigned sup_deaths;       /* supervisors in a row that died young: the back-off */
	uv_timer_t sup_retry;      /* starts the next one once the back-off is over */
	uv_signal_t sigchld;       /* reaps a dead supervisor's orphans (we are a subreaper) */
	char sup_error[128];       /* why there is none now ("" while one runs) */
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
	uv_check_t pump;           /* runs fng__host_pump after the current I/O callbacks */
	uv_idle_t pump_wake;       /* keeps the loop's poll from sleeping until it has run */
	bool pump_pending;
	uv_timer_t retry;          /* re-pumps after a start-failure back-off */
	/*
	 * Answers queued requests at their deadline whatever the pools do: one timer for the
	 * whole host, armed for the earliest deadline of all queues (host/queue.c says why).
	 */
	uv_timer_t expire;
	uint64_t expire_at;        /* uv_now() ms it is armed for, while active */
	char out_buf[16384];       /* what workers wrote on stdout/stderr, read into here */
	bool out_paused;           /* a worker's output or socket is paused (a log flood) */
	struct fng_list sendq;     /* requests the control socket had no room for (ctl_msg) */
	bool want_write;
	/* The function authorizers' answers (host/authz.c), emptied on reload; NULL: none kept. */
	struct fng_authz_cache *authz_cache;
};

/*
 * Invariants of the worker state machine, checked in debug and sanitizer builds (the release
 * bench build defines NDEBUG). FNG_HOST_CHECK(w): w's slots agree with its state.
 */
#define FNG_HOST_CHECK(w) assert(fng__host_worker_ok(w))

/* ---- host/pool.c: workers and generations ---- */

struct fng_fn *fng__host_fn_find(struct fng_functions *fns, const char *name);
struct fng_fn *fng__host_fn_get(struct fng_functions *fns, const char *name);
/* Asks the supervisor for a worker of g (answered by fng__host_on_spawned). 0 or UV_ENOMEM. */
int fng__host_worker_spawn(struct fng_functions *fns, struct fng_gen *g);
void fng__host_worker_kill(struct fng_worker *w);
/* Ends a worker that lost its pipe, was killed or exited: answers and frees what it held. */
void fng__host_worker_died(struct fng_functions *fns, struct fng_worker *w);
void fng__host_worker_protocol_error(struct fng_functions *fns, struct fng_worker *w,
	const char *why);
void fng__host_worker_write_failed(struct fng_functions *fns, struct fng_worker *w, int err);
void fng__host_worker_refuse(struct fng_functions *fns, struct fng_worker *w, const char *why,
	bool cheated);
/* The worker answered its last invocation: recycle it, or make it available. */
void fng__host_worker_idle(struct fng_functions *fns, struct fng_worker *w);
void fng__host_exit_wait_cb(uv_timer_t *t);
const char *fng__host_waiting_text(const struct fng_worker *w, char buf[12]);
void fng__host_gen_drop_pending(struct fng_functions *fns, struct fng_fn *fn);
void fng__host_fn_withdraw(struct fng_functions *fns, struct fng_fn *fn, const char *detail);
/* The supervisor's answers (host/super.c reads them). */
void fng__host_on_spawned(struct fng_functions *fns, const struct fng_sb_spawned *m, int fd,
	int outfd);
void fng__host_on_exit_report(struct fng_functions *fns, const struct fng_sb_exit *m);
void fng__host_on_verified(struct fng_functions *fns, const struct fng_sb_verified *m);
void fng__host_spawn_failed(struct fng_functions *fns, uint32_t id, int err);
void fng__host_verify_failed(struct fng_functions *fns, pid_t pid, int err);
/*
 * The state a worker moves to once it answered an invocation (pure): BUSY while invocations
 * wait in its pipeline, RETIRING when its generation retired or it reached max_invocations,
 * else IDLE.
 */
enum wstate fng__host_next_state(const struct fng_worker *w);
/* Whether w's pipeline agrees with its state (pure; FNG_HOST_CHECK). */
bool fng__host_worker_ok(const struct fng_worker *w);

/* ---- host/dispatch.c: frames from workers ---- */

/* Whether a frame of this type may arrive from a worker in this state (the dispatch table). */
bool fng__host_frame_allowed(uint8_t type, enum wstate state);
void fng__host_worker_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void fng__host_worker_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- host/output.c: stdout and stderr ---- */

void fng__host_out_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void fng__host_out_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
void fng__host_out_drain(struct fng_worker *w);

/* ---- host/queue.c: requests waiting for a worker ---- */

/*
 * Queues q by its deadline: earliest first, and after the requests with the same deadline
 * (first come, first served while the timeout is the same).
 */
void fng__host_queue_push(struct fng_fn *fn, struct qitem *q);
/*
 * Back in the queue (a pipelined invocation that never started): by its deadline too, but
 * ahead of the requests with the same deadline, which came after it.
 */
void fng__host_queue_push_front(struct fng_fn *fn, struct qitem *q);
/* The earliest deadline of a request queued in fns (uv_now() ms), UINT64_MAX if none. */
uint64_t fng__host_queue_due(const struct fng_functions *fns);
/* A request of fn's queue whose deadline passed at now, taken off the queue; or NULL. */
struct qitem *fng__host_queue_expired(struct fng_fn *fn, uint64_t now);
/* Ends fns's deadline timer (the host is closing). */
void fng__host_queue_close(struct fng_functions *fns);
/* Starts fns's deadline timer (host creation). */
void fng__host_queue_init(struct fng_functions *fns);
/*
 * Whether fn's current version cannot start a worker: its last start failed and none of its
 * workers serves (idle or busy); with attempt, none is being started either.
 */
bool fng__host_cannot_start(const struct fng_fn *fn, bool attempt);
/* One invocation of fn ran for ran ns: the pipelining average and the admission estimate. */
void fng__host_service_sample(struct fng_fn *fn, uint64_t ran);
/*
 * How long, in ns, a request arriving now would wait for fn and run: the invocations ahead of
 * it (running, in pipelines, queued) and itself, shared among concurrency workers, at fn's
 * measured run time. 0 while no run time was measured.
 */
uint64_t fng__host_queue_estimate_ns(const struct fng_fn *fn);
/* The oldest request waiting, taken off the queue; NULL if none. */
struct qitem *fng__host_queue_pop(struct fng_fn *fn);
/* Takes req off fn's queue: its item (the caller frees it), or NULL if it is not there. */
struct qitem *fng__host_queue_take(struct fng_fn *fn, const struct fng_req *req);
/* Whether q's time ran out at now (uv_now() ms): it is answered 504 instead of invoked. */
bool fng__host_qitem_expired(const struct qitem *q, uint64_t now);
/* Frees an item taken off a queue (not its request). */
void fng__host_qitem_free(struct qitem *q);
/*
 * Whether fn's current generation can take one more request (else 429): it can still be
 * answered within its timeout by the estimate, and `queue` requests at most wait.
 */
bool fng__host_queue_admit(const struct fng_fn *fn);
/* Why fng__host_queue_admit() refused (a static string for the 429's message). */
const char *fng__host_queue_refusal(const struct fng_fn *fn);
/* Whether busy workers of fn may take invocations behind the running one. */
bool fng__host_pipelined(const struct fng_fn *fn);
/* A worker of g that can take one more invocation (idle, or busy with pipeline), or NULL. */
struct fng_worker *fng__host_pick_worker(struct fng_gen *g, bool pipeline);
/* Takes req out of w's pipeline (not the running slot): true if it was there. */
bool fng__host_slot_cancel(struct fng_worker *w, const struct fng_req *req);
/* A request of w's pipeline whose deadline passed at now, taken out of its slot; or NULL. */
struct fng_req *fng__host_slot_expired(struct fng_worker *w, uint64_t now);
/* When w's timer must fire: the running invocation's stop or a waiting request's deadline. */
uint64_t fng__host_worker_due(const struct fng_worker *w);
void fng__host_head_started(struct fng_functions *fns, struct fng_worker *w);
void fng__host_queue_fail(struct fng_fn *fn, const char *detail);
void fng__host_worker_fail_req(struct fng_worker *w, int err, const char *detail);
void fng__host_pump(struct fng_functions *fns, struct fng_fn *fn);
void fng__host_pump_soon(struct fng_functions *fns, struct fng_fn *fn);
void fng__host_retry_cb(uv_timer_t *t);
/*
 * Answers req (its holder, queue item or slot, already let go of it): in debug builds checks
 * first that nothing in the host still holds it, so that it cannot be answered twice.
 */
void fng__host_complete(struct fng_functions *fns, struct fng_req *req, int rc);
/*
 * Takes req out of the queue or a worker's pipeline and completes it with UV_ECANCELED: true.
 * false when it is not there (running: its RESULT completes it, or completed already).
 */
bool fng__host_cancel(struct fng_functions *fns, struct fng_req *req);

/* ---- host/authz.c: function authorizers ---- */

/* An AUTHORIZER invocation's own fields for its event (type, token, identity, route ARN). */
void fng__host_authz_event(struct fng_req *sub, struct fng_wire_event *ev);
/*
 * The RESULT r of an AUTHORIZER invocation sub: its answer kept for fng__host_authz_done, *rc
 * set (DONE; FNG_EBAD_GATEWAY with sub->error_detail for no decision or a failed handler;
 * -ENOMEM).
 */
void fng__host_authz_answer(struct fng_req *sub, const struct fng_wire_result *r, int *rc);
/* The AUTHORIZER invocation sub completed with rc: resumes the request it decided about. */
void fng__host_authz_done(struct fng_functions *fns, struct fng_req *sub, int rc);

/* ---- host/event.c: the `function` integration ---- */

extern const struct fng_integration_ops fng__host_function_ops;
/* The event for req (payload format 2.0 shape), framed into out. */
int fng__host_event_encode(struct fng_req *req, const struct fng_gen *g,
	struct fng_wire_buf *out);
/*
 * Decodes a RESULT frame of generation g. -1: malformed (the worker is killed). Else, with req
 * (NULL: answered already, the result is only checked), fills its response and sets *rc to the
 * code to resume it with; *wall_ns gets the handler's run time as the worker reported it (0:
 * not reported).
 */
int fng__host_result_decode(struct fng_req *req, const struct fng_gen *g, const uint8_t *b,
	size_t n, int *rc, uint64_t *wall_ns);

/* ---- host/super.c: the supervisor client ---- */

/*
 * Queues a request to the supervisor (FNG_SB_SPAWN or FNG_SB_VERIFY). 0 or -ENOMEM. Without a
 * supervisor the request waits for the next one.
 */
int fng__host_ctl_send(struct fng_functions *fns, uint32_t type, const void *msg);
/* Drops the requests not sent yet (the host is closing, or the supervisor died). */
void fng__host_ctl_drop(struct fng_functions *fns);
/* Makes the supervisor client's handles (no supervisor yet); the gateway a subreaper. */
void fng__host_super_init(struct fng_functions *fns);
/* Takes over the control socket ctl of the supervisor pid (started at uv_now()). */
void fng__host_super_attach(struct fng_functions *fns, int ctl, pid_t pid);
/* Closes the control socket (the supervisor ends its workers and exits) and reaps it. */
void fng__host_super_close(struct fng_functions *fns);
/* True while there is no supervisor: what waits for a new worker gets 503 (sup_error). */
static inline bool fng__host_no_supervisor(const struct fng_functions *fns)
{
	return fns->ctl < 0;
}
/* The workers of a supervisor that died died with it: see pool.c. */
void fng__host_workers_orphaned(struct fng_functions *fns);

/* ---- host/deploy.c: hot deploy ---- */

void fng__host_deploy_scan(struct fng_functions *fns);
int fng__host_deploy_watch(struct fng_functions *fns);

/* fn_metrics.c: the cause label of w's failure with err, and its recording. */
const char *fng__host_cause(const struct fng_worker *w, int err);
void fng__host_metric_fail(struct fng_worker *w, struct fng_req *req, int err);
/* A deploy event for the metrics and the dashboard's recent deploys (event: deployed...). */
void fng__host_metric_deploy(struct fng_functions *fns, const char *function,
	const char *version, const char *event, const char *detail);

#endif
