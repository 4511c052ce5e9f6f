// SPDX-License-Identifier: MIT
/*
 * The cluster client (cluster.h): two hiredis async connections to the `cluster:` Redis on the
 * loop, one for commands and scripts, one for subscriptions, and this node's registration
 * (cluster_node.h). Everything above it — shared limits, quotas, WebSocket fan-out — sends
 * commands through fng__cluster_command/eval and hears back exactly once.
 *
 * Exactly once, whatever Redis does. hiredis calls a command's callback once: with the reply,
 * or with NULL when the context is freed (a lost connection, our close). A command is a
 * `struct cmd` that hiredis holds (as privdata) until that call, and that our callers never
 * see. The caller's callback runs from the first of: the reply, the context's end, the
 * command's timeout (the record is then marked done and the late reply, when it comes, is
 * dropped), so the record outlives the caller's interest and is freed by hiredis' call only.
 * A command asked for while the connection is down never reaches hiredis: it gets its NULL
 * from the loop's next turn (an idle handle), never inside the call, and is freed then.
 *
 * A connection is "up" once its set-up (AUTH, SELECT, then a PING, pipelined behind the TCP
 * connect) has answered; until then, and from the moment it is lost, commands fail at once. A
 * lost or refused connection is tried again after a back-off that doubles from
 * reconnect_min_ms to reconnect_max_ms, with jitter, so that N gateways do not all knock at a
 * restarted Redis in the same millisecond. The outage is logged once ("cluster: redis down",
 * with its error) and its end once ("cluster: redis up", with its length).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "cluster.h"
#include "cluster_node.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "redis_uv.h"
#include "server.h"

#ifndef FNG_VERSION
#define FNG_VERSION "0.0.0"
#endif

#define STATE_CBS 8

/* Who hears of a state change (fng__cluster_on_state, fng__cluster_on_sub_state). */
struct state_cbs {
	struct {
		fng_cluster_state_cb cb;
		void *arg;
	} e[STATE_CBS];
	unsigned n;
};

/* One of the two connections. */
struct conn {
	struct fng_cluster *c;
	redisAsyncContext *ac;   /* NULL while down */
	uv_timer_t timer;        /* the connect timeout while connecting, else the retry delay */
	bool sub;
	bool up;                 /* set-up answered: commands go to Redis */
	bool failed;             /* the set-up was refused: why says how */
	uint32_t backoff_ms;     /* the next retry's delay (before jitter) */
	char why[200];           /* why the set-up failed */
};

struct cmd {
	struct fng_list link;    /* c->inflight (by deadline) or c->failed; unlinked when done */
	struct fng_cluster *c;
	fng_cluster_cb cb;
	void *arg;
	uint64_t deadline;       /* uv_now() ms */
	unsigned refs;           /* hiredis calls still owed to this record */
	bool done;               /* cb has run: a late reply is dropped */
	bool retried;            /* a script sent again with EVAL */
	/* A script's EVAL, kept for a NOSCRIPT answer: argv[1] is the text. */
	int argc;
	const char **argv;
	size_t *lens;
};

struct sub {
	struct fng_list link;
	struct fng_cluster *c;
	bool confirmed;          /* Redis confirmed it on the current subscriber connection */
	fng_cluster_message_cb on_message;
	void *arg;
	size_t clen;
	char channel[];
};

enum result { RES_OK, RES_ERROR, RES_TIMEOUT, RES_DOWN, RES__COUNT };

struct fng_cluster {
	struct fng_server *srv;
	struct fng_config *cfg;  /* the snapshot the cluster was made from (its own reference) */
	const struct fng_cluster_cfg *cc;
	struct conn cmd, sub;
	struct fng_list inflight;
	struct fng_list failed;
	struct fng_list subs;
	uv_timer_t timeout;      /* the oldest command in flight's deadline */
	uv_idle_t fail_soon;     /* runs the failed list's callbacks on the next turn */
	uv_timer_t heartbeat;
	struct state_cbs state, sub_state; /* the connection's, the subscriptions' */
	bool subscribed;         /* every subscription confirmed on the subscriber connection */
	bool closing;
	unsigned open_handles;   /* freed when the last one is closed */
	bool ever_up;
	bool left;               /* the node said goodbye (a drain): no registration again */
	uint64_t silent_since;   /* uv_now() ms of the first timeout since the last reply; 0 */
	char setup_err[200];     /* the last set-up refusal logged in this outage ("AUTH ...") */
	bool down_logged;        /* this outage's "redis down" is out */
	uint64_t down_since;     /* uv_now() ms when the outage began */
	uint64_t rnd;
	uint64_t started_ms;     /* wall clock, for the node record */
	char *listeners;         /* JSON array, for the node record */
	struct fng_cluster_script node_script;
	struct fng_metric_series *m_up, *m_reconnects, *m_results[RES__COUNT];
};

/* ---- metrics ---- */

static struct fng_metric_def m_up = {
	"fngate_cluster_redis_up", "Whether the cluster's Redis command connection is up (1) or "
	"not (0).", FNG_METRIC_GAUGE, { NULL },
};
static struct fng_metric_def m_reconnects = {
	"fngate_cluster_redis_reconnects_total", "Times the cluster's Redis command connection "
	"came back after it was lost.", FNG_METRIC_COUNTER, { NULL },
};
static struct fng_metric_def m_commands = {
	"fngate_cluster_commands_total", "Cluster commands and scripts by result: ok, error (an "
	"error reply), timeout (no answer within command_timeout_ms), down (Redis unreachable).",
	FNG_METRIC_COUNTER, { "result" },
};

struct fng_metric_def *const fng__cluster_metrics[] = { &m_up, &m_reconnects, &m_commands,
	NULL };

static const char *const result_names[RES__COUNT] = { "ok", "error", "timeout", "down" };

/* ---- helpers ---- */

static uint64_t next_rnd(struct fng_cluster *c)
{
	uint64_t z = (c->rnd += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void state_cbs_run(struct fng_cluster *c, const struct state_cbs *l, bool up)
{
	for (unsigned i = 0; i < l->n; i++) {
		l->e[i].cb(c, up, l->e[i].arg);
	}
}

static void set_state(struct fng_cluster *c, bool up)
{
	fng__metric_set(c->m_up, up ? 1 : 0);
	state_cbs_run(c, &c->state, up);
}

/*
 * The subscriber connection has every subscription again (up), or lost them: what was
 * published in between was not heard, and whoever needs it catches up now (cluster.h).
 */
static void set_sub_state(struct fng_cluster *c, bool up)
{
	if (c->subscribed == up) {
		return;
	}
	c->subscribed = up;
	state_cbs_run(c, &c->sub_state, up);
}

/* ---- commands: completion ---- */

/* Runs k's callback, once; the record stays until hiredis lets go of it (refs). */
static void cmd_finish(struct cmd *k, redisReply *reply, enum result r)
{
	struct fng_cluster *c = k->c;

	k->done = true;
	fng__list_remove(&k->link);
	fng__metric_add(c->m_results[r], 1);
	if (k->cb) {
		k->cb(c, reply, k->arg);
	}
}

static void cmd_free(struct cmd *k)
{
	free(k);
}

static int cmd_send(struct fng_cluster *c, struct cmd *k, int argc, const char **argv,
	const size_t *lens);

static bool noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0;
}

static void cmd_reply_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct cmd *k = priv;
	redisReply *reply = r;

	(void)ac;
	k->refs--;
	if (reply) {
		k->c->silent_since = 0; /* even a late reply: the connection is alive */
	}
	if (!k->done && reply && k->argv && !k->retried && noscript(reply)) {
		/* The script cache was flushed (Redis restarted?): send the text, same deadline. */
		k->retried = true;
		if (cmd_send(k->c, k, k->argc, k->argv, k->lens) == 0) {
			return;
		}
		reply = NULL;
	}
	if (!k->done) {
		cmd_finish(k, reply, !reply ? RES_DOWN :
			reply->type == REDIS_REPLY_ERROR ? RES_ERROR : RES_OK);
	}
	if (k->refs == 0) {
		cmd_free(k);
	}
}

static void fail_soon_cb(uv_idle_t *h)
{
	struct fng_cluster *c = h->data;
	struct fng_list batch;

	/* What fails from these callbacks waits for the next turn: no loop inside a turn. */
	fng__list_init(&batch);
	if (!fng__list_empty(&c->failed)) {
		batch.next = c->failed.next;
		batch.prev = c->failed.prev;
		batch.next->prev = &batch;
		batch.prev->next = &batch;
		fng__list_init(&c->failed);
	}
	while (!fng__list_empty(&batch)) {
		struct cmd *k = fng__container_of(batch.next, struct cmd, link);

		cmd_finish(k, NULL, RES_DOWN);
		cmd_free(k);
	}
	if (fng__list_empty(&c->failed)) {
		uv_idle_stop(&c->fail_soon);
	}
}

/* k fails without reaching Redis: its callback runs from the next turn. */
static void cmd_fail_later(struct fng_cluster *c, struct cmd *k)
{
	fng__list_append(&c->failed, &k->link);
	if (!c->closing) {
		uv_idle_start(&c->fail_soon, fail_soon_cb);
	}
}

/*
 * A connection that has answered nothing for this long while commands timed out is taken for
 * dead (a peer gone without a reset, a partition) and made again: without it, TCP would keep
 * it "up" for many minutes while every command times out.
 */
static uint64_t stall_ms(const struct fng_cluster *c)
{
	uint64_t ms = 5 * (uint64_t)c->cc->command_timeout_ms;

	return ms < 2000 ? 2000 : ms;
}

static void timeout_cb(uv_timer_t *t)
{
	struct fng_cluster *c = t->data;
	uint64_t now = uv_now(c->srv->loop);

	while (!fng__list_empty(&c->inflight)) {
		struct cmd *k = fng__container_of(c->inflight.next, struct cmd, link);

		if (k->deadline > now) {
			uv_timer_start(&c->timeout, timeout_cb, k->deadline - now, 0);
			break;
		}
		if (!c->silent_since) {
			c->silent_since = now;
		}
		/* hiredis still owes k its call: the late reply finds it done and frees it. */
		cmd_finish(k, NULL, RES_TIMEOUT);
	}
	if (c->silent_since && now - c->silent_since >= stall_ms(c) && c->cmd.ac && c->cmd.up) {
		struct conn *k = &c->cmd;

		k->failed = true;
		snprintf(k->why, sizeof(k->why), "no answer for %" PRIu64 " ms",
			now - c->silent_since);
		c->silent_since = 0;
		/* Pending callbacks run with NULL here; on_disconnect arms the retry. */
		redisAsyncFree(k->ac);
	}
}

/* Sends argv on the command connection for k: 0, or -EIO when hiredis would not take it. */
static int cmd_send(struct fng_cluster *c, struct cmd *k, int argc, const char **argv,
	const size_t *lens)
{
	if (!c->cmd.up || !c->cmd.ac || c->closing ||
		redisAsyncCommandArgv(c->cmd.ac, cmd_reply_cb, k, argc, argv, lens) != REDIS_OK) {
		return -EIO;
	}
	k->refs++;
	return 0;
}

/* k sent, or failed for the next turn; k is linked either way. */
static void cmd_start(struct fng_cluster *c, struct cmd *k, int argc, const char **argv,
	const size_t *lens)
{
	uint64_t now = uv_now(c->srv->loop);

	if (cmd_send(c, k, argc, argv, lens) != 0) {
		cmd_fail_later(c, k);
		return;
	}
	k->deadline = now + c->cc->command_timeout_ms;
	fng__list_append(&c->inflight, &k->link);
	/*
	 * The timer is armed for the oldest command's deadline, which is the earliest while the
	 * timeout is one value; should it ever be later (a timeout changed under a running
	 * client, as the unit test does), this command's own deadline wins.
	 */
	if (!uv_is_active((uv_handle_t *)&c->timeout) ||
		uv_timer_get_due_in(&c->timeout) > c->cc->command_timeout_ms) {
		uv_timer_start(&c->timeout, timeout_cb, c->cc->command_timeout_ms, 0);
	}
}

/* A record with extra bytes after it (a script's arguments), or NULL. */
static struct cmd *cmd_new(struct fng_cluster *c, size_t extra, fng_cluster_cb cb, void *arg)
{
	struct cmd *k = calloc(1, sizeof(*k) + extra);

	if (k) {
		k->c = c;
		k->cb = cb;
		k->arg = arg;
		fng__list_init(&k->link);
	}
	return k;
}

int fng__cluster_command(struct fng_cluster *c, int argc, const char *const *argv,
	const size_t *lens, fng_cluster_cb cb, void *arg)
{
	struct cmd *k;

	if (!c || argc < 1 || !argv || !lens) {
		return -EINVAL;
	}
	if (c->closing) {
		return -ESHUTDOWN;
	}
	k = cmd_new(c, 0, cb, arg);
	if (!k) {
		return -ENOMEM;
	}
	cmd_start(c, k, argc, (const char **)argv, lens);
	return 0;
}

static void script_sha(struct fng_cluster_script *s)
{
	static const char xd[] = "0123456789abcdef";
	unsigned char h[WC_SHA_DIGEST_SIZE];

	wc_ShaHash((const unsigned char *)s->text, (word32)strlen(s->text), h);
	for (int i = 0; i < WC_SHA_DIGEST_SIZE; i++) {
		s->sha1[2 * i] = xd[h[i] >> 4];
		s->sha1[2 * i + 1] = xd[h[i] & 15];
	}
	s->sha1[40] = '\0';
}

int fng__cluster_eval(struct fng_cluster *c, struct fng_cluster_script *script, int nkeys,
	int argc, const char *const *argv, const size_t *lens, fng_cluster_cb cb, void *arg)
{
	struct cmd *k;
	size_t bytes = 0;
	char *p;
	int n = argc + 3;

	if (!c || !script || !script->text || nkeys < 0 || argc < nkeys || (argc && !argv) ||
		(argc && !lens)) {
		return -EINVAL;
	}
	if (c->closing) {
		return -ESHUTDOWN;
	}
	if (!script->sha1[0]) {
		script_sha(script);
	}
	for (int i = 0; i < argc; i++) {
		bytes += lens[i];
	}
	/*
	 * One block: the record, the EVAL's argv and lengths, and a copy of the arguments (the
	 * caller's may be gone when NOSCRIPT comes back).
	 */
	k = cmd_new(c, (size_t)n * (sizeof(char *) + sizeof(size_t)) + bytes + 16, cb, arg);
	if (!k) {
		return -ENOMEM;
	}
	k->argc = n;
	k->argv = (const char **)(k + 1);
	k->lens = (size_t *)(k->argv + n);
	p = (char *)(k->lens + n);
	k->argv[0] = "EVAL";
	k->lens[0] = 4;
	k->argv[1] = script->text;
	k->lens[1] = strlen(script->text);
	k->lens[2] = (size_t)snprintf(p, 16, "%d", nkeys);
	k->argv[2] = p;
	p += 16;
	for (int i = 0; i < argc; i++) {
		memcpy(p, argv[i], lens[i]);
		k->argv[3 + i] = p;
		k->lens[3 + i] = lens[i];
		p += lens[i];
	}
	{
		/* EVALSHA first: the same argv with the digest in place of the text. */
		const char *a0 = k->argv[0], *a1 = k->argv[1];
		size_t l0 = k->lens[0], l1 = k->lens[1];

		k->argv[0] = "EVALSHA";
		k->lens[0] = 7;
		k->argv[1] = script->sha1;
		k->lens[1] = 40;
		cmd_start(c, k, n, k->argv, k->lens);
		k->argv[0] = a0;
		k->lens[0] = l0;
		k->argv[1] = a1;
		k->lens[1] = l1;
	}
	return 0;
}

/* ---- subscriptions ---- */

static void sub_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct sub *s = priv;
	redisReply *reply = r;

	(void)ac;
	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
		reply->element[0]->type != REDIS_REPLY_STRING) {
		return; /* the context's end */
	}
	if (strcmp(reply->element[0]->str, "subscribe") == 0 && !s->c->closing) {
		struct fng_cluster *c = s->c;
		bool all = true;

		s->confirmed = true;
		for (struct fng_list *it = c->subs.next; it != &c->subs && all; it = it->next) {
			all = fng__container_of(it, struct sub, link)->confirmed;
		}
		if (all && c->sub.up) {
			set_sub_state(c, true);
		}
		return;
	}
	if (strcmp(reply->element[0]->str, "message") != 0 ||
		reply->element[2]->type != REDIS_REPLY_STRING) {
		return;
	}
	s->on_message(s->c, reply->element[1]->str, reply->element[1]->len,
		reply->element[2]->str, reply->element[2]->len, s->arg);
}

static void sub_send(struct fng_cluster *c, struct sub *s)
{
	const char *argv[2] = { "SUBSCRIBE", s->channel };
	size_t lens[2] = { 9, s->clen };

	/* A refusal here means the connection is going: the next one subscribes again. */
	redisAsyncCommandArgv(c->sub.ac, sub_cb, s, 2, argv, lens);
}

static void conn_start(struct conn *k);
static void node_register(struct fng_cluster *c);

int fng__cluster_subscribe(struct fng_cluster *c, const char *channel,
	fng_cluster_message_cb on_message, void *arg)
{
	struct fng_list *it;
	struct sub *s;
	size_t n;

	if (!c || !channel || !on_message || !(n = strlen(channel))) {
		return -EINVAL;
	}
	if (c->closing) {
		return -ESHUTDOWN;
	}
	for (it = c->subs.next; it != &c->subs; it = it->next) {
		s = fng__container_of(it, struct sub, link);
		if (s->clen == n && memcmp(s->channel, channel, n) == 0) {
			return -EEXIST; /* hiredis keeps one callback per channel */
		}
	}
	s = calloc(1, sizeof(*s) + n + 1);
	if (!s) {
		return -ENOMEM;
	}
	s->c = c;
	s->on_message = on_message;
	s->arg = arg;
	s->clen = n;
	memcpy(s->channel, channel, n);
	fng__list_append(&c->subs, &s->link);
	if (c->sub.up && c->sub.ac) {
		sub_send(c, s);
	} else if (!c->sub.ac && !uv_is_active((uv_handle_t *)&c->sub.timer)) {
		/* The subscriber connection is made by the first subscription. */
		c->sub.backoff_ms = c->cc->reconnect_min_ms;
		conn_start(&c->sub);
	}
	return 0;
}

/* ---- connections ---- */

static void retry_cb(uv_timer_t *t)
{
	conn_start(t->data);
}

static void schedule_retry(struct conn *k)
{
	struct fng_cluster *c = k->c;
	uint64_t d = k->backoff_ms;

	if (c->closing) {
		return;
	}
	/* Half fixed, half random: spread, yet never much faster than the back-off. */
	d = d / 2 + next_rnd(c) % (d / 2 + 1);
	k->backoff_ms = k->backoff_ms * 2 > c->cc->reconnect_max_ms ? c->cc->reconnect_max_ms
								 : k->backoff_ms * 2;
	uv_timer_start(&k->timer, retry_cb, d, 0);
}

static void conn_down(struct conn *k, const char *why)
{
	struct fng_cluster *c = k->c;
	bool was_up = k->up;

	k->up = false;
	k->failed = false;
	if (k->sub) {
		for (struct fng_list *it = c->subs.next; it != &c->subs; it = it->next) {
			fng__container_of(it, struct sub, link)->confirmed = false;
		}
		set_sub_state(c, false);
		if (was_up) {
			fng__log("warn", "cluster: redis subscriber connection lost", "redis",
				c->cc->redis, "error", why, NULL);
		}
		return;
	}
	if (!c->down_logged) {
		c->down_logged = true;
		c->down_since = uv_now(c->srv->loop);
		fng__log("warn", "cluster: redis down", "redis", c->cc->redis, "error", why, NULL);
	}
	if (was_up) {
		set_state(c, false);
	}
}

static void conn_up(struct conn *k)
{
	struct fng_cluster *c = k->c;
	char ms[24];

	k->up = true;
	k->backoff_ms = c->cc->reconnect_min_ms;
	uv_timer_stop(&k->timer);
	if (k->sub) {
		for (struct fng_list *it = c->subs.next; it != &c->subs; it = it->next) {
			sub_send(c, fng__container_of(it, struct sub, link));
		}
		return;
	}
	c->silent_since = 0; /* the last connection's timeouts say nothing of this one */
	c->setup_err[0] = '\0';
	snprintf(ms, sizeof(ms), "%" PRIu64, uv_now(c->srv->loop) - c->down_since);
	fng__log("info", "cluster: redis up", "redis", c->cc->redis, "node", c->cc->node_id,
		c->down_logged ? "outage_ms" : NULL, ms, NULL);
	if (c->ever_up) {
		fng__metric_add(c->m_reconnects, 1);
	}
	c->ever_up = true;
	c->down_logged = false;
	if (!c->left) {
		node_register(c); /* at once: a reconnected node shows up before its next beat */
	}
	set_state(c, true);
}

/* A set-up command's answer: AUTH, SELECT, then PING, whose answer makes the connection up. */
static void setup_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct conn *k = ac->data;
	redisReply *reply = r;
	const char *what = priv;

	if (!k || !reply || k->failed) {
		return; /* the context's end: on_disconnect says why */
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		k->failed = true;
		snprintf(k->why, sizeof(k->why), "%s refused: %s", what, reply->str);
		redisAsyncDisconnect(ac);
		return;
	}
	if (strcmp(what, "PING") == 0) {
		uv_timer_stop(&k->timer);
		conn_up(k);
	}
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct conn *k = ac->data;

	if (!k || status == REDIS_OK) {
		return; /* connected: the set-up's answers follow */
	}
	/* hiredis frees ac when this returns. */
	k->ac = NULL;
	uv_timer_stop(&k->timer);
	conn_down(k, ac->errstr[0] ? ac->errstr : "connect failed");
	schedule_retry(k);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct conn *k = ac->data;
	char why[sizeof(k->why)];

	(void)status;
	if (!k) {
		return;
	}
	k->ac = NULL;
	if (k->c->closing) {
		return;
	}
	snprintf(why, sizeof(why), "%s", k->failed ? k->why :
		ac->errstr[0] ? ac->errstr : "connection closed by the server");
	/*
	 * A refused set-up (a password changed on a restarted Redis) is worth a line of its own
	 * even in the middle of an outage: retrying will not mend it. Once per distinct error.
	 */
	if (k->failed && !k->sub) {
		if (k->c->down_logged && strcmp(k->c->setup_err, why) != 0) {
			fng__log("error", "cluster: redis refused the connection's set-up", "redis",
				k->c->cc->redis, "error", why, NULL);
		}
		snprintf(k->c->setup_err, sizeof(k->c->setup_err), "%s", why);
	}
	uv_timer_stop(&k->timer);
	conn_down(k, why);
	schedule_retry(k);
}

/* The connection or its set-up took longer than connect_timeout_ms. */
static void connect_timeout_cb(uv_timer_t *t)
{
	struct conn *k = t->data;
	redisAsyncContext *ac = k->ac;

	if (!ac || k->up) {
		return;
	}
	k->ac = NULL;
	ac->data = NULL; /* its callbacks, run by the free, are no longer ours */
	redisAsyncFree(ac);
	conn_down(k, "connect timeout");
	schedule_retry(k);
}

static void setup_send(struct conn *k, const char *what, int argc, const char **argv,
	const size_t *lens)
{
	redisAsyncCommandArgv(k->ac, setup_cb, (void *)what, argc, argv, lens);
}

static void conn_start(struct conn *k)
{
	struct fng_cluster *c = k->c;
	const struct fng_cluster_cfg *cc = c->cc;
	redisAsyncContext *ac;
	char db[16];

	if (c->closing || k->ac) {
		return;
	}
	k->failed = false;
	ac = redisAsyncConnect(cc->host, cc->port);
	if (!ac || ac->err) {
		char why[sizeof(k->why)];

		snprintf(why, sizeof(why), "%s", ac ? ac->errstr : "out of memory");
		if (ac) {
			redisAsyncFree(ac);
		}
		conn_down(k, why);
		schedule_retry(k);
		return;
	}
	if (fng__redis_uv_attach(ac, c->srv->loop) != REDIS_OK) {
		redisAsyncFree(ac);
		conn_down(k, "cannot attach to the loop");
		schedule_retry(k);
		return;
	}
	ac->data = k;
	k->ac = ac;
	/* A peer that vanished without a reset is noticed by the kernel too, not only by us. */
	redisEnableKeepAlive(&ac->c);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	/* Pipelined behind the connect: one round trip for the whole set-up. */
	if (cc->password) {
		const char *argv[2] = { "AUTH", cc->password };
		size_t lens[2] = { 4, strlen(cc->password) };

		setup_send(k, "AUTH", 2, argv, lens);
	}
	if (cc->database) {
		const char *argv[2] = { "SELECT", db };
		size_t lens[2] = { 6, (size_t)snprintf(db, sizeof(db), "%u", cc->database) };

		setup_send(k, "SELECT", 2, argv, lens);
	}
	{
		/* Named for operators (CLIENT LIST); a Redis that refuses CLIENT is no matter. */
		char name[96];
		const char *argv[3] = { "CLIENT", "SETNAME", name };
		size_t lens[3] = { 6, 7, 0 };

		lens[2] = (size_t)snprintf(name, sizeof(name), "fngate:%s:%s", cc->node_id,
			k->sub ? "sub" : "cmd");
		redisAsyncCommandArgv(k->ac, NULL, NULL, 3, argv, lens);
	}
	{
		const char *argv[1] = { "PING" };
		size_t lens[1] = { 4 };

		setup_send(k, "PING", 1, argv, lens);
	}
	uv_timer_start(&k->timer, connect_timeout_cb, cc->connect_timeout_ms, 0);
}

/* ---- node registration ---- */

/*
 * The node's record and its place in the node set, in one script so that they never
 * disagree. Scores are Redis' own clock (TIME), not the nodes': a node whose clock is off
 * still expires on time. KEYS: the record, the set. ARGV: listeners, started, pid, version,
 * ttl, id.
 */
static const char node_register_lua[] =
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local ttl = tonumber(ARGV[5])\n"
	"redis.call('HSET', KEYS[1], 'listeners', ARGV[1], 'started', ARGV[2], 'pid', ARGV[3],\n"
	"\t'version', ARGV[4], 'seen', now)\n"
	"redis.call('PEXPIRE', KEYS[1], ttl)\n"
	"redis.call('ZADD', KEYS[2], now + ttl, ARGV[6])\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
	"return now\n";

static void node_register(struct fng_cluster *c)
{
	const struct fng_cluster_cfg *cc = c->cc;
	char key[256], set[256], started[24], pid[16], ttl[16];
	const char *argv[8];
	size_t lens[8];

	snprintf(key, sizeof(key), "%snode:%s", cc->key_prefix, cc->node_id);
	snprintf(set, sizeof(set), "%snodes", cc->key_prefix);
	snprintf(started, sizeof(started), "%" PRIu64, c->started_ms);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	snprintf(ttl, sizeof(ttl), "%u", cc->node_ttl_ms);
	argv[0] = key;
	argv[1] = set;
	argv[2] = c->listeners;
	argv[3] = started;
	argv[4] = pid;
	argv[5] = FNG_VERSION;
	argv[6] = ttl;
	argv[7] = cc->node_id;
	for (int i = 0; i < 8; i++) {
		lens[i] = strlen(argv[i]);
	}
	/* A missed heartbeat is made up by the next one: nothing to do with the answer. */
	fng__cluster_eval(c, &c->node_script, 2, 8, argv, lens, NULL, NULL);
}

static void heartbeat_cb(uv_timer_t *t)
{
	struct fng_cluster *c = t->data;

	if (c->cmd.up) {
		node_register(c);
	}
}

/* Static text of the script that lists live nodes, for cluster_node.h. */
static struct fng_cluster_script nodes_script = {
	.text = "local t = redis.call('TIME')\n"
		"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
		"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
		"local out = { now }\n"
		"for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
		"\tlocal h = redis.call('HMGET', ARGV[1] .. id, 'listeners', 'started', 'seen')\n"
		"\tif h[1] then\n"
		"\t\tout[#out + 1] = id\n"
		"\t\tout[#out + 1] = h[1]\n"
		"\t\tout[#out + 1] = h[2] or '0'\n"
		"\t\tout[#out + 1] = h[3] or '0'\n"
		"\tend\n"
		"end\n"
		"return out\n",
};

int fng__cluster_nodes(struct fng_cluster *c, fng_cluster_cb cb, void *arg)
{
	char set[256], rec[256];
	const char *argv[2] = { set, rec };
	size_t lens[2];

	if (!c) {
		return -EINVAL;
	}
	lens[0] = (size_t)snprintf(set, sizeof(set), "%snodes", c->cc->key_prefix);
	lens[1] = (size_t)snprintf(rec, sizeof(rec), "%snode:", c->cc->key_prefix);
	return fng__cluster_eval(c, &nodes_script, 1, 2, argv, lens, cb, arg);
}

void fng__cluster_leave(struct fng_server *srv)
{
	struct fng_cluster *c = srv->cluster;
	char key[256], set[256];
	const char *del[2] = { "DEL", key }, *zrem[3] = { "ZREM", set, NULL };
	size_t dlens[2], zlens[3];

	if (!c || c->closing) {
		return;
	}
	uv_timer_stop(&c->heartbeat);
	c->left = true;
	dlens[0] = 3;
	dlens[1] = (size_t)snprintf(key, sizeof(key), "%snode:%s", c->cc->key_prefix,
		c->cc->node_id);
	zrem[2] = c->cc->node_id;
	zlens[0] = 4;
	zlens[1] = (size_t)snprintf(set, sizeof(set), "%snodes", c->cc->key_prefix);
	zlens[2] = strlen(c->cc->node_id);
	/* Best effort: a node that cannot say goodbye expires after node_ttl_ms anyway. */
	fng__cluster_command(c, 2, del, dlens, NULL, NULL);
	fng__cluster_command(c, 3, zrem, zlens, NULL, NULL);
}

const char *fng__cluster_address(const struct fng_cluster *c)
{
	return c->cc->redis;
}

/* The listeners as a JSON array: [{"addr": "127.0.0.1:8080", "role": "http"}, ...]. */
static char *listeners_json(struct fng_server *srv)
{
	struct fng_buf b = { 0 };
	char *s;

	fng__buf_str(&b, "[");
	for (unsigned i = 0; i < srv->nlisteners; i++) {
		const struct fng_listener *l = &srv->listeners[i];

		fng__buf_str(&b, i ? ",{\"addr\":\"" : "{\"addr\":\"");
		fng__buf_str(&b, l->addr);
		fng__buf_str(&b, "\",\"role\":\"");
		fng__buf_str(&b, l->admin ? "admin" : l->tls ? "https" : l->pre_route ? "metrics"
									 : "http");
		fng__buf_str(&b, "\"}");
	}
	fng__buf_str(&b, "]");
	s = b.p ? strndup(b.p, b.len) : NULL;
	fng__buf_finish(&b);
	return s;
}

/* ---- life cycle ---- */

static void conn_init(struct fng_cluster *c, struct conn *k, bool sub)
{
	k->c = c;
	k->sub = sub;
	k->backoff_ms = c->cc->reconnect_min_ms;
	uv_timer_init(c->srv->loop, &k->timer);
	k->timer.data = k;
}

struct fng_cluster *fng__cluster(struct fng_server *srv)
{
	struct fng_cluster *c = srv->cluster;

	if (c) {
		return c->closing ? NULL : c;
	}
	if (!srv->cfg || !srv->cfg->cluster.on) {
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		return NULL;
	}
	c->listeners = listeners_json(srv);
	if (!c->listeners) {
		free(c);
		return NULL;
	}
	c->srv = srv;
	c->cfg = fng__config_ref(srv->cfg);
	c->cc = &c->cfg->cluster;
	c->rnd = uv_hrtime() ^ ((uint64_t)getpid() << 32);
	c->started_ms = wall_ms();
	c->down_since = uv_now(srv->loop);
	c->node_script.text = node_register_lua;
	fng__list_init(&c->inflight);
	fng__list_init(&c->failed);
	fng__list_init(&c->subs);
	conn_init(c, &c->cmd, false);
	conn_init(c, &c->sub, true);
	uv_timer_init(srv->loop, &c->timeout);
	c->timeout.data = c;
	uv_idle_init(srv->loop, &c->fail_soon);
	c->fail_soon.data = c;
	uv_timer_init(srv->loop, &c->heartbeat);
	c->heartbeat.data = c;
	c->open_handles = 5;
	c->m_up = fng__metric_series(srv, &m_up, NULL);
	c->m_reconnects = fng__metric_series(srv, &m_reconnects, NULL);
	for (int r = 0; r < RES__COUNT; r++) {
		const char *v[1] = { result_names[r] };

		c->m_results[r] = fng__metric_series(srv, &m_commands, v);
	}
	fng__metric_set(c->m_up, 0);
	srv->cluster = c;
	uv_timer_start(&c->heartbeat, heartbeat_cb, c->cc->heartbeat_ms, c->cc->heartbeat_ms);
	conn_start(&c->cmd);
	return c;
}

bool fng__cluster_up(const struct fng_cluster *c)
{
	return c && c->cmd.up && !c->closing;
}

const char *fng__cluster_node_id(const struct fng_cluster *c)
{
	return c->cc->node_id;
}

const char *fng__cluster_prefix(const struct fng_cluster *c)
{
	return c->cc->key_prefix;
}

static int state_cbs_add(struct state_cbs *l, fng_cluster_state_cb cb, void *arg)
{
	if (!cb) {
		return -EINVAL;
	}
	if (l->n == STATE_CBS) {
		return -ENOSPC;
	}
	l->e[l->n].cb = cb;
	l->e[l->n].arg = arg;
	l->n++;
	return 0;
}

int fng__cluster_on_sub_state(struct fng_cluster *c, fng_cluster_state_cb cb, void *arg)
{
	return c ? state_cbs_add(&c->sub_state, cb, arg) : -EINVAL;
}

int fng__cluster_on_state(struct fng_cluster *c, fng_cluster_state_cb cb, void *arg)
{
	return c ? state_cbs_add(&c->state, cb, arg) : -EINVAL;
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct fng_cluster *c = h->data;

	if (--c->open_handles) {
		return;
	}
	while (!fng__list_empty(&c->subs)) {
		struct sub *s = fng__container_of(c->subs.next, struct sub, link);

		fng__list_remove(&s->link);
		free(s);
	}
	fng__config_unref(c->cfg);
	free(c->listeners);
	free(c);
}

static void conn_close(struct conn *k)
{
	redisAsyncContext *ac = k->ac;

	k->up = false;
	if (ac) {
		/* Pending callbacks run here with NULL; on_disconnect sees closing and returns. */
		redisAsyncFree(ac);
		k->ac = NULL;
	}
	k->timer.data = k->c; /* as every handle's, for handle_closed_cb */
	uv_close((uv_handle_t *)&k->timer, handle_closed_cb);
}

static void settle_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

static void settle_closed_cb(uv_handle_t *h)
{
	*(bool *)h->data = false;
}

void fng__cluster_settle(struct fng_server *srv, uint32_t max_ms)
{
	struct fng_cluster *c = srv->cluster;
	uv_timer_t guard;
	bool over = false;

	if (!c || c->closing || fng__list_empty(&c->inflight)) {
		return;
	}
	/* The guard bounds the wait even when nothing else would wake the loop. */
	uv_timer_init(srv->loop, &guard);
	guard.data = &over;
	uv_timer_start(&guard, settle_cb, max_ms, 0);
	while (!over && !fng__list_empty(&c->inflight)) {
		uv_run(srv->loop, UV_RUN_ONCE);
	}
	/* On the stack: it must be closed before this returns. */
	over = true;
	uv_close((uv_handle_t *)&guard, settle_closed_cb);
	while (over) {
		uv_run(srv->loop, UV_RUN_NOWAIT);
	}
}

void fng__cluster_close(struct fng_server *srv)
{
	struct fng_cluster *c = srv->cluster;

	if (!c || c->closing) {
		return;
	}
	c->closing = true;
	conn_close(&c->cmd);
	conn_close(&c->sub);
	/* Commands that failed before (or during) the close: their NULL, now. */
	while (!fng__list_empty(&c->failed)) {
		struct cmd *k = fng__container_of(c->failed.next, struct cmd, link);

		cmd_finish(k, NULL, RES_DOWN);
		cmd_free(k);
	}
	uv_close((uv_handle_t *)&c->timeout, handle_closed_cb);
	uv_close((uv_handle_t *)&c->fail_soon, handle_closed_cb);
	uv_close((uv_handle_t *)&c->heartbeat, handle_closed_cb);
}
