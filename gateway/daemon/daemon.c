// SPDX-License-Identifier: MIT
/*
 * The composition root (daemon.h): it wires the layers together around one loop's state
 * (core's server.h): listeners, the set of connections and their timeout queues,
 * the current configuration (swapped atomically on SIGHUP, loaded on a thread-pool thread so
 * the loop never blocks on disk), graceful drain on SIGTERM, the access log, written in
 * batches by the thread pool, and what the service manager hears of it (core/notify.h: ready,
 * reloading, stopping). The daemon log is log.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "cluster_node.h"
#include "dashboard.h"
#include "errors.h"
#include "http.h"
#include "jwt.h"
#include "cache_stage.h"
#include "climits.h"
#include "keystate.h"
#include "limit.h"
#include "metrics.h"
#include "notify.h"
#include "transport.h"
#include "schedule.h"
#include "stages.h"
#include "topic.h"
#include "ws_cluster.h"
#include "ws_conn.h"
#include "daemon.h"

#define SWEEP_MS 100

static int alog_open(const struct fng_config *cfg, int *fd, bool *own)
{
	*own = false;
	*fd = -1;
	if (!cfg->access_log.path) {
		return 0;
	}
	if (strcmp(cfg->access_log.path, "-") == 0) {
		*fd = STDOUT_FILENO;
		return 0;
	}
	*fd = open(cfg->access_log.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (*fd < 0) {
		return -errno;
	}
	*own = true;
	return 0;
}

/* Switches the log to cfg's destination; keeps the old one if the new cannot be opened. */
static int alog_switch(struct fng_server *srv, const struct fng_config *cfg)
{
	struct fng_accesslog *l = &srv->alog;
	char *path = NULL;
	int fd, err;
	bool own;

	if (cfg->access_log.path && !(path = strdup(cfg->access_log.path))) {
		return UV_ENOMEM;
	}
	err = alog_open(cfg, &fd, &own);
	if (err) {
		free(path);
		return err;
	}
	fng__server_alog_sync(srv);
	free(l->path);
	l->path = path;
	if (l->own_fd) {
		if (l->writing) {
			l->retire_fd = l->fd; /* closed when the write in flight completes */
		} else {
			close(l->fd);
		}
	}
	l->fd = fd;
	l->own_fd = own;
	return 0;
}

/* ---- timeouts ---- */

static void sweep_cb(uv_timer_t *t)
{
	struct fng_server *srv = t->data;
	uint64_t now = uv_now(srv->loop);

	if (srv->fns) {
		fng__functions_log_tick(srv->fns, now);
	}
	fng__server_alog_tick(srv, false);
	fng__tcp_tick(srv, false);
	if (++srv->metrics_ticks % (1000 / SWEEP_MS) == 0) {
		fng__metrics_tick(srv);
	}

	for (unsigned q = FNG_TQ_NONE + 1; q < FNG_TQ__COUNT; q++) {
		struct fng_list *head = &srv->tq[q];

		/* Bounded per tick; entries added during this tick have later deadlines. */
		for (unsigned n = 0; n < 10000 && !fng__list_empty(head); n++) {
			struct fng_conn *c = fng__container_of(head->next, struct fng_conn, tlink);

			if (c->deadline > now) {
				break;
			}
			fng__list_remove(&c->tlink);
			fng__conn_expired(c);
			if (c->tq == q && c->tlink.next == &c->tlink) {
				c->tq = FNG_TQ_NONE;
			}
		}
	}
}

/* ---- listeners ---- */

/*
 * Listening sockets are made by hand so they carry SO_REUSEPORT (libuv 1.44 has no flag for
 * it): N loops, one per core, can each own a socket on the same port. tcp.c accepts on them.
 */
static int bind_listener(struct fng_server *srv, struct fng_listener *l, const char *addr)
{
	struct sockaddr_storage ss;
	int fd, one = 1, err;
	socklen_t slen;
	char host[64];
	int port;

	err = fng__config_parse_addr(addr, &ss);
	if (err) {
		return err;
	}
	slen = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, slen) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	err = uv_poll_init_socket(srv->loop, &l->poll, fd);
	if (err) {
		close(fd);
		return err;
	}
	l->poll.data = l;
	l->fd = fd;
	l->srv = srv;
	slen = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &slen);
	if (ss.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		snprintf(l->addr, sizeof(l->addr), "[%s]:%d", host, port);
	} else {
		uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		snprintf(l->addr, sizeof(l->addr), "%s:%d", host, port);
	}
	return 0;
}

/* ---- reload ---- */

struct reload_work {
	uv_work_t req;
	struct fng_server *srv;
	char *path;
	struct fng_config *cfg;
	struct fng_tls *tls;     /* the new certificates' contexts, made here off the loop */
	struct fng_buf errors;
	int err;
};

static void reload_work_cb(uv_work_t *req)
{
	struct reload_work *w = (struct reload_work *)req;
	char why[512];

	w->err = fng__config_load(w->path, &w->cfg, &w->errors);
	if (w->err || !w->cfg->tls.nlisten) {
		return;
	}
	/* Certificates and keys read again: a bad one keeps the running ones (and config). */
	w->tls = fng__tls_create(w->cfg, why, sizeof(why));
	if (!w->tls) {
		fng__buf_printf(&w->errors, "server.tls: %s\n", why);
		fng__config_unref(w->cfg);
		w->cfg = NULL;
		w->err = UV_EINVAL;
	}
}

static bool same_listen(const struct fng_config *a, const struct fng_config *b)
{
	if (a->tls.nlisten != b->tls.nlisten) {
		return false;
	}
	for (unsigned i = 0; i < a->tls.nlisten; i++) {
		if (strcmp(a->tls.listen[i], b->tls.listen[i]) != 0) {
			return false;
		}
	}
	if (a->nlisten != b->nlisten || !a->admin.listen != !b->admin.listen ||
		(a->admin.listen && strcmp(a->admin.listen, b->admin.listen) != 0)) {
		return false;
	}
	if (!a->metrics.listen != !b->metrics.listen ||
		(a->metrics.listen && strcmp(a->metrics.listen, b->metrics.listen) != 0)) {
		return false;
	}
	for (unsigned i = 0; i < a->nlisten; i++) {
		if (strcmp(a->listen[i], b->listen[i]) != 0) {
			return false;
		}
	}
	return true;
}

/* One warn line per line of cfg->warnings (what the loader left out, and why). */
static void log_config_warnings(const struct fng_config *cfg)
{
	for (const char *p = cfg->warnings; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len);

		fng__log("warn", "config warning", "warning", line ? line : "", NULL);
		free(line);
		p += len + (nl != NULL);
	}
}

static void on_sighup(uv_signal_t *s, int signum);

static void reload_after_cb(uv_work_t *req, int status)
{
	struct reload_work *w = (struct reload_work *)req;
	struct fng_server *srv = w->srv;
	struct fng_config *old = srv->cfg;
	const char *why = NULL; /* a refused reload's reason, for the service manager */
	int err;

	srv->reloading = false;
	if (w->err || status) {
		/* One line per error, and the first in the summary line. */
		char *nl = w->errors.p ? memchr(w->errors.p, '\n', w->errors.len) : NULL;

		if (nl) {
			*nl = '\0';
		}
		why = w->errors.p ? w->errors.p : "unknown";
		fng__log("error", "reload failed", "error", why,
			"action", "keeping the running configuration", NULL);
	} else if (srv->draining) {
		fng__config_unref(w->cfg);
	} else if (!same_listen(old, w->cfg)) {
		why = "server.listen changed: listeners are bound at start, restart to change them";
		fng__log("error", "reload failed", "error", why,
			"action", "keeping the running configuration", NULL);
		fng__config_unref(w->cfg);
	} else if ((err = alog_switch(srv, w->cfg)) != 0) {
		why = "cannot open access log";
		fng__log("error", "reload failed", "error", why, "detail",
			uv_strerror(err), "action", "keeping the running configuration", NULL);
		fng__config_unref(w->cfg);
	} else {
		if (srv->limits && w->cfg->throttle.memory_bytes != old->throttle.memory_bytes &&
			srv->limits->ops->set_budget(srv->limits, w->cfg->throttle.memory_bytes,
				uv_hrtime()) != 0) {
			fng__log("warn", "throttle_memory_bytes not applied: out of memory to rebuild "
				"the bucket table", "action", "the old budget stays", NULL);
		}
		if (!fng__cluster_cfg_same(&old->cluster, &w->cfg->cluster)) {
			fng__log("warn", "cluster: changes to the cluster section apply at the next "
				"start", "action", "the running cluster client keeps its settings",
				NULL);
		}
		if (srv->keys && strcmp(old->state_dir, w->cfg->state_dir) != 0) {
			fng__log("warn", "server.state_dir changed: it applies at the next start",
				"state_dir", old->state_dir, NULL);
		}
		if (w->tls) {
			/* New connections get the new certificates; established ones keep theirs. */
			for (unsigned i = 0; i < srv->nlisteners; i++) {
				if (srv->listeners[i].tls) {
					srv->listeners[i].tls = w->tls;
				}
			}
			fng__tls_unref(srv->tls);
			srv->tls = w->tls;
			w->tls = NULL;
		}
		srv->cfg = w->cfg;
		fng__config_unref(old);
		fng__metrics_enable(srv, !srv->cfg->metrics.off);
		if (srv->fns) {
			fng__functions_reconfigure(srv->fns, srv->cfg);
		}
		fng__schedules_update(srv);
		log_config_warnings(srv->cfg);
		fng__log("info", "config reloaded", "path", w->path, NULL);
	}
	/* The reload is over, applied or refused: the service manager hears which. */
	if (!srv->draining) {
		if (why) {
			fng__notify("READY=1\nSTATUS=reload failed, running the previous "
				"configuration: %.200s", why);
		} else {
			fng__notify("READY=1\nSTATUS=configuration reloaded");
		}
	}
	fng__tls_unref(w->tls); /* a reload that did not apply */
	fng__buf_finish(&w->errors);
	free(w->path);
	free(w);
	if (srv->reload_again && !srv->draining) {
		srv->reload_again = false;
		on_sighup(&srv->sig_hup, SIGHUP);
	}
}

static void on_sighup(uv_signal_t *s, int signum)
{
	struct fng_server *srv = s->data;
	struct reload_work *w;

	if (!srv->config_path || srv->draining) {
		return;
	}
	if (srv->reloading) {
		srv->reload_again = true; /* the file may have changed since that load began */
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w || !(w->path = strdup(srv->config_path))) {
		free(w);
		return;
	}
	w->srv = srv;
	srv->reloading = true;
	if (uv_queue_work(srv->loop, &w->req, reload_work_cb, reload_after_cb) != 0) {
		srv->reloading = false;
		free(w->path);
		free(w);
		return;
	}
	/* READY=1 follows in reload_after_cb, once it is applied or refused. */
	fng__notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration",
		fng__notify_monotonic_usec());
}

/* ---- drain ---- */

static void stop_loop_cb(uv_timer_t *t)
{
	struct fng_server *srv = t->data;
	struct fng_list *it, *next;

	/* Drain time is up: close what is left. */
	for (it = srv->conns.next; it != &srv->conns; it = next) {
		next = it->next;
		fng__conn_abort(fng__container_of(it, struct fng_conn, link));
	}
	fng__server_drained(srv);
}

void fng__server_drain(struct fng_server *srv)
{
	struct fng_list *it, *next;

	if (srv->draining) {
		return;
	}
	srv->draining = true;
	fng__notify("STOPPING=1\nSTATUS=draining");
	fng__schedules_stop(srv);
	fng__log("info", "draining", NULL);
	fng__cluster_leave(srv);
	for (unsigned i = 0; i < srv->nlisteners; i++) {
		fng__tcp_listener_close(&srv->listeners[i]);
	}
	for (it = srv->conns.next; it != &srv->conns; it = next) {
		next = it->next;
		fng__conn_drain(fng__container_of(it, struct fng_conn, link));
	}
	if (srv->nconns == 0 && srv->nevents == 0) {
		fng__server_drained(srv);
		return;
	}
	uv_timer_start(&srv->drain_timer, stop_loop_cb, srv->cfg->timeouts.drain_ms, 0);
}

static void on_sigterm(uv_signal_t *s, int signum)
{
	struct fng_server *srv = s->data;

	if (srv->draining && signum == SIGINT) {
		stop_loop_cb(&srv->drain_timer); /* a second ^C: stop now */
		return;
	}
	fng__server_drain(srv);
}

/* ---- life cycle ---- */

int fng__server_init(struct fng_server *srv, uv_loop_t *loop, struct fng_config *cfg,
	const char *config_path)
{
	int err;

	memset(srv, 0, sizeof(*srv));
	fng__arena_cache_enable();
	fng__integration_register(FNG_INTEGRATION_ADMIN, &fng__admin_ops);
	fng__admin_register(&fng__cache_admin);
	fng__integration_register(FNG_INTEGRATION_METRICS, &fng__metrics_ops);
	fng__admin_register(&fng__metrics_admin);
	/* Metric families, each module's own (core/metrics.h): the stages', the host's. */
	fng__stages_metrics_register();
	fng__metrics_register_all(fng__host_metrics);
	fng__metrics_register_all(fng__ws_metrics);
	fng__metrics_register_all(fng__cluster_metrics);
	fng__metrics_register_all(fng__ws_cluster_metrics);
	fng__metrics_register_all(fng__climits_metrics);
	fng__admin_register(&fng__dashboard_admin);
	fng__admin_register(&fng__cluster_admin);
	srv->loop = loop;
	srv->cfg = cfg;
	srv->config_path = config_path;
	log_config_warnings(cfg);
	fng__metrics_enable(srv, !cfg->metrics.off);
	fng__list_init(&srv->conns);
	fng__list_init(&srv->ws_dirty);
	for (unsigned i = 0; i < FNG_TQ__COUNT; i++) {
		fng__list_init(&srv->tq[i]);
	}
	if (getrandom(srv->rid_state, sizeof(srv->rid_state), 0) != sizeof(srv->rid_state)) {
		srv->rid_state[0] = uv_hrtime();
		srv->rid_state[1] = (uint64_t)getpid() << 32;
	}
	srv->alog.fd = -1;
	srv->alog.retire_fd = -1;
	/* The descriptor tcp.c gives up to refuse a connection when there is no other. */
	srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uv_timer_init(loop, &srv->accept_pause);
	srv->accept_pause.data = srv;
	err = alog_open(cfg, &srv->alog.fd, &srv->alog.own_fd);
	if (!err && cfg->access_log.path && !(srv->alog.path = strdup(cfg->access_log.path))) {
		err = UV_ENOMEM;
	}
	if (err) {
		fng__log("error", "cannot open access log", "path", cfg->access_log.path, "error",
			uv_strerror(err), NULL);
		return err;
	}
	uv_timer_init(loop, &srv->alog.timer);
	srv->alog.timer.data = srv;
	uv_timer_init(loop, &srv->sweep);
	srv->sweep.data = srv;
	uv_timer_init(loop, &srv->drain_timer);
	uv_timer_init(loop, &srv->sched_timer);
	srv->sched_timer.data = srv;
	uv_check_init(loop, &srv->ws_flush);
	srv->ws_flush.data = srv;
	uv_timer_init(loop, &srv->ws_flush_timer);
	srv->ws_flush_timer.data = srv;
	uv_timer_init(loop, &srv->ws_timer);
	srv->ws_timer.data = srv;
	srv->drain_timer.data = srv;
	uv_signal_init(loop, &srv->sig_hup);
	uv_signal_init(loop, &srv->sig_term);
	uv_signal_init(loop, &srv->sig_int);
	srv->sig_hup.data = srv->sig_term.data = srv->sig_int.data = srv;

	return 0;
}

/* Binds the next listener to addr, with its own routing (NULL: the APIs'); logs a failure. */
static int add_listener(struct fng_server *srv, const char *addr,
	int (*pre_route)(struct fng_req *req))
{
	struct fng_listener *l = &srv->listeners[srv->nlisteners];
	int err = bind_listener(srv, l, addr);

	if (err) {
		fng__log("error", "cannot listen", "addr", addr, "error", uv_strerror(err), NULL);
		return err;
	}
	l->pre_route = pre_route;
	srv->nlisteners++;
	return 0;
}

int fng__server_listen(struct fng_server *srv)
{
	const struct fng_config *cfg = srv->cfg;
	int err;

	srv->listeners = calloc(cfg->nlisten + 2 + cfg->tls.nlisten, sizeof(*srv->listeners));
	if (!srv->listeners) {
		return UV_ENOMEM;
	}
	for (unsigned i = 0; i < cfg->nlisten; i++) {
		if ((err = add_listener(srv, cfg->listen[i], NULL)) != 0) {
			return err;
		}
	}
	if (cfg->admin.listen) {
		if ((err = add_listener(srv, cfg->admin.listen, fng__admin_pre_route)) != 0) {
			return err;
		}
		srv->listeners[srv->nlisteners - 1].admin = true;
	}
	if (cfg->metrics.listen &&
		(err = add_listener(srv, cfg->metrics.listen, fng__metrics_pre_route)) != 0) {
		return err;
	}
	if (cfg->tls.nlisten) {
		/* Keys are read here, after the supervisor forked: no worker ever holds one. */
		char why[512];

		srv->tls = fng__tls_create(srv->cfg, why, sizeof(why));
		if (!srv->tls) {
			fng__log("error", "cannot start the TLS listeners", "error", why, NULL);
			return UV_EINVAL;
		}
	}
	for (unsigned i = 0; i < cfg->tls.nlisten; i++) {
		if ((err = add_listener(srv, cfg->tls.listen[i], NULL)) != 0) {
			return err;
		}
		srv->listeners[srv->nlisteners - 1].tls = srv->tls;
	}
	return 0;
}

int fng__server_start(struct fng_server *srv)
{
	int err;

	/* Signals first: a supervisor may signal as soon as it reads the "listening" line. */
	uv_signal_start(&srv->sig_hup, on_sighup, SIGHUP);
	uv_signal_start(&srv->sig_term, on_sigterm, SIGTERM);
	uv_signal_start(&srv->sig_int, on_sigterm, SIGINT);
	uv_timer_start(&srv->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
	fng__schedules_update(srv);
	for (unsigned i = 0; i < srv->nlisteners; i++) {
		const struct fng_listener *l = &srv->listeners[i];
		bool metrics = l->pre_route == fng__metrics_pre_route;

		err = fng__tcp_listen(&srv->listeners[i], 1024);
		if (err) {
			fng__log("error", "cannot listen", "addr", srv->listeners[i].addr, "error",
				uv_strerror(err), NULL);
			return err;
		}
		fng__log("info", "listening", "addr", l->addr,
			l->admin || l->tls || metrics ? "role" : NULL,
			l->admin ? "admin" : metrics ? "metrics" : "tls", NULL);
	}
	/* The cluster client, once the listeners it advertises are bound (state/cluster.h). */
	if (srv->cfg->cluster.on && !fng__cluster(srv)) {
		fng__log("error", "cluster: cannot start the client", "error", "out of memory", NULL);
		return UV_ENOMEM;
	}
	/* WebSocket fan-out and the connection registry on it (ws/ws_cluster.h). */
	err = fng__ws_cluster_start(srv);
	if (err) {
		fng__log("error", "cluster: cannot start WebSocket fan-out", "error",
			fng_strerror(err), NULL);
		return err;
	}
	fng__notify("READY=1\nMAINPID=%ld\nSTATUS=serving on %u listener%s", (long)getpid(),
		srv->nlisteners, srv->nlisteners == 1 ? "" : "s");
	return 0;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h)) {
		uv_close(h, NULL);
	}
}

void fng__server_finish(struct fng_server *srv)
{
	struct fng_list *it, *next;

	for (it = srv->conns.next; it != &srv->conns; it = next) {
		next = it->next;
		fng__conn_abort(fng__container_of(it, struct fng_conn, link));
	}
	if (srv->fns) {
		fng__functions_log_tick(srv->fns, UINT64_MAX); /* drop counts not yet reported */
	}
	fng__functions_close(srv->fns);
	/* Let connection close callbacks and the last log write run. */
	uv_run(srv->loop, UV_RUN_NOWAIT);
	fng__server_alog_sync(srv);
	for (unsigned i = 0; i < srv->nlisteners; i++) {
		fng__tcp_listener_close(&srv->listeners[i]);
	}
	uv_close((uv_handle_t *)&srv->sweep, NULL);
	uv_close((uv_handle_t *)&srv->drain_timer, NULL);
	uv_close((uv_handle_t *)&srv->sched_timer, NULL);
	uv_close((uv_handle_t *)&srv->ws_flush, NULL);
	uv_close((uv_handle_t *)&srv->ws_flush_timer, NULL);
	uv_close((uv_handle_t *)&srv->ws_timer, NULL);
	uv_close((uv_handle_t *)&srv->alog.timer, NULL);
	uv_close((uv_handle_t *)&srv->accept_pause, NULL);
	uv_close((uv_handle_t *)&srv->sig_hup, NULL);
	uv_close((uv_handle_t *)&srv->sig_term, NULL);
	uv_close((uv_handle_t *)&srv->sig_int, NULL);
	/*
	 * Quota batches not spent go back to Redis, and the node's goodbye with them: their
	 * answers are awaited (command_timeout_ms at most, and never over a second) before the
	 * client closes and drops what is still pending.
	 */
	fng__cquota_give_back(srv);
	if (srv->cfg->cluster.on) {
		uint32_t ms = srv->cfg->cluster.command_timeout_ms;

		fng__cluster_settle(srv, ms < 1000 ? ms : 1000);
	}
	fng__jwt_loop_close(srv);
	fng__keystate_close(srv);
	fng__climits_close(srv);
	fng__dashboard_close(srv);
	fng__ws_cluster_stop(srv);
	fng__cluster_close(srv);
	while (uv_run(srv->loop, UV_RUN_NOWAIT)) {
	}
	uv_walk(srv->loop, close_walk_cb, NULL);
	/* Pending thread-pool work (a reload, a log write) completes here. */
	uv_run(srv->loop, UV_RUN_DEFAULT);
	fng__server_alog_sync(srv);
	fng__server_alog_tick(srv, true);
	fng__tcp_tick(srv, true);
	if (srv->alog.own_fd) {
		close(srv->alog.fd);
	}
	free(srv->alog.path);
	srv->alog.path = NULL;
	if (srv->reserve_fd >= 0) {
		close(srv->reserve_fd);
	}
	fng__buf_finish(&srv->alog.pending);
	fng__buf_finish(&srv->alog.inflight);
	free(srv->listeners);
	fng__tls_unref(srv->tls);
	srv->tls = NULL;
	free(srv->sched);
	srv->sched = NULL;
	fng__heap_finish(&srv->ws_deadlines);
	fng__topics_free(srv);
	fng__jwt_loop_free(srv);
	fng__keystate_free(srv);
	fng__climits_free(srv);
	fng__cache_loop_free(srv);
	fng__metrics_free(srv);
	if (srv->limits) {
		srv->limits->ops->destroy(srv->limits);
		srv->limits = NULL;
	}
	fng__hmap_finish(&srv->ws_conns);
	srv->nsched = 0;
	fng__functions_free(srv->fns);
	srv->fns = NULL;
	fng__config_unref(srv->cfg);
	srv->cfg = NULL;
}
