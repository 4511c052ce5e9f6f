// SPDX-License-Identifier: MIT
/*
 * Key sets of JWT authorizers whose `jwks` is a loopback URL: one source per URL per loop
 * (srv->jwt), living outside the immutable configuration snapshot so that a reload keeps the
 * keys it has. A source fetches in the thread pool (a blocking HTTP/1.0 GET with a deadline:
 * never on the loop), again every refresh_s after a success and every few seconds after a
 * failure; keys fetched at T serve until T + refresh_s + stale_if_error_s, then requests get
 * 503 "JWKS unavailable" until a fetch succeeds. The first requests of a source wait for its
 * first fetch (PENDING) rather than being refused while it is under way.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "errors.h"
#include "jwt_loop.h"
#include "log.h"
#include "server.h"
#include "stages.h"

#define BODY_MAX (1u << 20)
#define RETRY_MS 5000 /* after a failed fetch, unless refresh_s is shorter */

struct source {
	struct fng_list link;
	struct fng_jwt_loop *jl;
	/* A copy of the URL's settings: the snapshot that named it may go while a fetch runs. */
	struct fng_jwt_url u;
	char *url, *host, *path;
	struct sockaddr_storage addr;
	struct fng_jwks *keys;       /* the last set fetched, or NULL */
	uint64_t fetched_ms;         /* uv_now() of that fetch */
	bool tried;                  /* a fetch has ended (the first requests wait for it) */
	bool busy;                   /* a fetch is in the thread pool */
	uv_timer_t timer;
	uv_work_t work;
	/* The fetch's result, written by the thread pool. */
	int err;
	struct fng_jwks *got;
	char why[200];
	struct fng_list waiters;
};

struct waiter {
	struct fng_list link;
	struct fng_req *req;
	const struct fng_authorizer *a;
	const struct fng_route *route;
};

struct fng_jwt_loop *fng__jwt_loop(struct fng_server *srv)
{
	struct fng_jwt_loop *jl = srv->jwt;

	if (jl) {
		return jl;
	}
	jl = calloc(1, sizeof(*jl));
	if (!jl) {
		return NULL;
	}
	jl->srv = srv;
	fng__list_init(&jl->cache_fifo);
	fng__list_init(&jl->sources);
	srv->jwt = jl;
	return jl;
}

/* ---- the fetch, in the thread pool ---- */

static int wait_fd(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		uint64_t now = uv_hrtime() / 1000000;
		struct pollfd p = { .fd = fd, .events = ev };
		int n;

		if (now >= deadline) {
			return -ETIMEDOUT;
		}
		n = poll(&p, 1, (int)(deadline - now));
		if (n > 0) {
			return 0;
		}
		if (n < 0 && errno != EINTR) {
			return -errno;
		}
	}
}

static int get_body(struct fng_buf *resp, struct fng_buf *body)
{
	const char *end, *cl;
	size_t head;

	if (resp->len < 12 || (memcmp(resp->p, "HTTP/1.0 200", 12) != 0 &&
		memcmp(resp->p, "HTTP/1.1 200", 12) != 0)) {
		return -EPROTO;
	}
	end = memmem(resp->p, resp->len, "\r\n\r\n", 4);
	if (!end) {
		return -EPROTO;
	}
	head = (size_t)(end + 4 - resp->p);
	/* An HTTP/1.0 request is never answered chunked; a length must match what came. */
	if (memmem(resp->p, head, "\r\nTransfer-Encoding:", 20) ||
		memmem(resp->p, head, "\r\ntransfer-encoding:", 20)) {
		return -EPROTO;
	}
	cl = memmem(resp->p, head, "\r\nContent-Length:", 17);
	if (!cl) {
		cl = memmem(resp->p, head, "\r\ncontent-length:", 17);
	}
	if (cl && strtoull(cl + 17, NULL, 10) != resp->len - head) {
		return -EPROTO;
	}
	return fng__buf_append(body, resp->p + head, resp->len - head) ? -ENOMEM : 0;
}

int fng__jwt_http_get(const struct fng_jwt_url *u, size_t max, struct fng_buf *body)
{
	uint64_t deadline = uv_hrtime() / 1000000 + u->timeout_ms;
	struct fng_buf req = { 0 }, resp = { 0 };
	int fd, err = 0, soerr = 0;
	socklen_t slen = sizeof(soerr);
	size_t sent = 0;

	fd = socket(u->addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	if (connect(fd, (const struct sockaddr *)u->addr, u->addr->ss_family == AF_INET ?
		sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) != 0) {
		if (errno != EINPROGRESS) {
			err = -errno;
			goto out;
		}
		err = wait_fd(fd, POLLOUT, deadline);
		if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) == 0 && soerr) {
			err = -soerr;
		}
		if (err) {
			goto out;
		}
	}
	if (fng__buf_printf(&req, "GET %s HTTP/1.0\r\nHost: %s\r\nAccept: application/json\r\n"
		"User-Agent: fngate\r\n\r\n", u->path, u->host)) {
		err = -ENOMEM;
		goto out;
	}
	while (sent < req.len) {
		ssize_t n = send(fd, req.p + sent, req.len - sent, MSG_NOSIGNAL);

		if (n > 0) {
			sent += (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			err = -errno;
			goto out;
		} else if ((err = wait_fd(fd, POLLOUT, deadline)) != 0) {
			goto out;
		}
	}
	for (;;) {
		ssize_t n;

		if (fng__buf_reserve(&resp, 16384)) {
			err = -ENOMEM;
			goto out;
		}
		n = recv(fd, resp.p + resp.len, resp.cap - resp.len, 0);
		if (n == 0) {
			break;
		}
		if (n > 0) {
			resp.len += (size_t)n;
			if (resp.len > max + 16384) {
				err = -EFBIG;
				goto out;
			}
		} else if (errno != EAGAIN && errno != EINTR) {
			err = -errno;
			goto out;
		} else if ((err = wait_fd(fd, POLLIN, deadline)) != 0) {
			goto out;
		}
	}
	err = get_body(&resp, body);
out:
	close(fd);
	fng__buf_finish(&req);
	fng__buf_finish(&resp);
	return err;
}

static void fetch_work(uv_work_t *w)
{
	struct source *s = w->data;
	struct fng_buf body = { 0 };

	s->got = NULL;
	s->err = fng__jwt_http_get(&s->u, BODY_MAX, &body);
	if (s->err) {
		snprintf(s->why, sizeof(s->why), "%s", uv_strerror(s->err));
	} else if (fng__jwks_parse(body.p, body.len, &s->got, s->why, sizeof(s->why)) != 0) {
		s->err = -EINVAL;
	} else if (s->got->n == 0) {
		snprintf(s->why, sizeof(s->why), "no key fngate can verify with");
		fng__jwks_unref(s->got);
		s->got = NULL;
		s->err = -EINVAL;
	}
	fng__buf_finish(&body);
}

/* ---- the source, on the loop ---- */

static bool keys_usable(const struct source *s, uint64_t now)
{
	return s->keys && now < s->fetched_ms +
		((uint64_t)s->u.refresh_s + s->u.stale_if_error_s) * 1000;
}

static void fetch_start(struct source *s);

static void timer_cb(uv_timer_t *t)
{
	fetch_start(t->data);
}

static void resume_waiters(struct source *s)
{
	uint64_t now = uv_now(s->jl->srv->loop);

	while (!fng__list_empty(&s->waiters)) {
		struct waiter *w = fng__container_of(s->waiters.next, struct waiter, link);

		fng__list_remove(&w->link);
		fng__req_resume(w->req, fng__jwt_decide(w->req, w->a, w->route,
			keys_usable(s, now) && !s->jl->closing ? s->keys : NULL));
	}
}

static void fetch_done(uv_work_t *w, int status)
{
	struct source *s = w->data;
	uint64_t now = uv_now(s->jl->srv->loop);

	s->busy = false;
	s->tried = true;
	if (status == 0 && s->err == 0) {
		fng__jwks_unref(s->keys);
		s->keys = s->got;
		s->fetched_ms = now;
	} else if (!s->jl->closing) {
		fng__log("warn", "JWKS fetch failed", "url", s->url, "error", status ?
			uv_strerror(status) : s->why, "keys", keys_usable(s, now) ?
			"kept (stale)" : "none", NULL);
	}
	s->got = NULL;
	resume_waiters(s);
	if (!s->jl->closing) {
		uint64_t next = (uint64_t)s->u.refresh_s * 1000;

		uv_timer_start(&s->timer, timer_cb, status == 0 && s->err == 0 ? next :
			(next < RETRY_MS ? next : RETRY_MS), 0);
	}
}

static void fetch_start(struct source *s)
{
	if (s->busy || s->jl->closing) {
		return;
	}
	s->work.data = s;
	if (uv_queue_work(s->jl->srv->loop, &s->work, fetch_work, fetch_done) == 0) {
		s->busy = true;
	} else {
		uv_timer_start(&s->timer, timer_cb, RETRY_MS, 0);
	}
}

static void source_free(struct source *s)
{
	fng__jwks_unref(s->keys);
	free(s->url);
	free(s->host);
	free(s->path);
	free(s);
}

static struct source *source_new(struct fng_jwt_loop *jl, const struct fng_jwt_url *u)
{
	struct source *s = calloc(1, sizeof(*s));

	if (!s) {
		return NULL;
	}
	s->url = strdup(u->url);
	s->host = strdup(u->host);
	s->path = strdup(u->path);
	if (!s->url || !s->host || !s->path) {
		source_free(s);
		return NULL;
	}
	s->jl = jl;
	s->u = *u;
	s->u.url = s->url;
	s->u.host = s->host;
	s->u.path = s->path;
	memcpy(&s->addr, u->addr, sizeof(s->addr));
	s->u.addr = &s->addr;
	fng__list_init(&s->waiters);
	uv_timer_init(jl->srv->loop, &s->timer);
	s->timer.data = s;
	fng__list_append(&jl->sources, &s->link);
	fetch_start(s);
	return s;
}

int fng__jwt_url_start(struct fng_req *req, const struct fng_authorizer *a,
	const struct fng_route *route, struct fng_jwks **ks)
{
	const struct fng_jwt_url *u = a->jwt->url;
	struct fng_jwt_loop *jl = fng__jwt_loop(req->srv);
	struct source *s = NULL;
	struct waiter *w;

	*ks = NULL;
	if (!jl || jl->closing) {
		return fng__jwt_refuse(req, FNG_JWT_ENO_KEYS);
	}
	for (struct fng_list *it = jl->sources.next; it != &jl->sources && !s; it = it->next) {
		struct source *c = fng__container_of(it, struct source, link);

		if (strcmp(c->url, u->url) == 0) {
			s = c;
		}
	}
	if (s) {
		/* The latest snapshot's timings (a reload may have changed them). */
		s->u.refresh_s = u->refresh_s;
		s->u.stale_if_error_s = u->stale_if_error_s;
		s->u.timeout_ms = u->timeout_ms;
	} else if (!(s = source_new(jl, u))) {
		return -ENOMEM;
	}
	if (!s->tried && s->busy) {
		w = fng__arena_zalloc(req->arena, sizeof(*w));
		if (!w) {
			return -ENOMEM;
		}
		*w = (struct waiter){ .req = req, .a = a, .route = route };
		fng__list_append(&s->waiters, &w->link);
		return FNG_STAGE_PENDING;
	}
	if (keys_usable(s, uv_now(jl->srv->loop))) {
		*ks = fng__jwks_ref(s->keys);
		return 0;
	}
	return fng__jwt_refuse(req, FNG_JWT_ENO_KEYS);
}

void fng__jwt_loop_close(struct fng_server *srv)
{
	struct fng_jwt_loop *jl = srv->jwt;

	if (!jl) {
		return;
	}
	jl->closing = true;
	for (struct fng_list *it = jl->sources.next; it != &jl->sources; it = it->next) {
		struct source *s = fng__container_of(it, struct source, link);

		resume_waiters(s);
		uv_close((uv_handle_t *)&s->timer, NULL);
	}
}

void fng__jwt_loop_free(struct fng_server *srv)
{
	struct fng_jwt_loop *jl = srv->jwt;

	if (!jl) {
		return;
	}
	while (!fng__list_empty(&jl->sources)) {
		struct source *s = fng__container_of(jl->sources.next, struct source, link);

		fng__list_remove(&s->link);
		fng__jwks_unref(s->got);
		source_free(s);
	}
	fng__jwt_cache_free(jl);
	free(jl);
	srv->jwt = NULL;
}
