// SPDX-License-Identifier: MIT
/*
 * The operator dashboard: /@dashboard on the admin listener. It serves one page (HTML, its
 * script and its style, embedded in the binary from gateway/integration/dashboard/) and a
 * live feed, /@dashboard/live, a push-only WebSocket (ws/ws_push.c) that sends once a second
 * the metrics registry's Prometheus exposition and its recent errors and deploys. The page
 * draws its charts from those; nothing else is computed for it.
 *
 * Who may see it (docs/config.md, "Operator dashboard"): a browser cannot put the admin token
 * in an Authorization header of a page load or a WebSocket handshake, so the login page
 * (public, and showing nothing) sends the token itself in a POST to /@dashboard/session and
 * gets a session cookie back (HttpOnly, SameSite=Strict, Path=/@dashboard) holding a random
 * session id, not the token. The page, its script and its feed take that cookie or the token;
 * the rest of the admin API takes only the token. The token reaches the login page in the
 * URL's fragment, which no browser sends, so it is in no request line and no log. A request
 * that carries an Origin (every browser's WebSocket handshake and POST does) must come from
 * the admin listener's own origin: another site's page cannot use the operator's cookie.
 *
 * Bounds: FEEDS_MAX feeds per loop (503 past them), one frame per feed in flight (a feed that
 * has not taken the last tick's frame skips this one), FNG_DASH_SESSIONS sessions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "dashboard.h"
#include "errors.h"
#include "stages.h"
#include "ws.h"
#include "ws_push.h"

#define FEEDS_MAX 8
#define TICK_MS 1000

struct fng_dashboard {
	struct fng_server *srv;
	uv_timer_t tick;
	struct fng_ws_push *feeds[FEEDS_MAX];
	/* The admin token each feed was opened under: a reload that changes it ends the feed. */
	uint8_t feed_token[FEEDS_MAX][32];
	unsigned nfeeds;
	uint64_t seq;              /* frames built */
	uint64_t skipped;          /* frames a feed could not take: its previous one waited */
	struct fng_dash_sessions sessions;
};

/*
 * The answers' security headers. Scripts and styles only from this origin (no inline code:
 * the page loads app.js and app.css), connections only to it (the feed), never in a frame,
 * never cached, no Referer.
 */
static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
	"frame-ancestors 'none'";

static const struct {
	const char *name, *value;
} sec_headers[] = {
	{ "content-security-policy", csp },
	{ "x-content-type-options", "nosniff" },
	{ "x-frame-options", "DENY" },
	{ "cache-control", "no-store" },
	{ "referrer-policy", "no-referrer" },
	{ "cross-origin-opener-policy", "same-origin" },
	{ "cross-origin-resource-policy", "same-origin" },
};

/*
 * The paths under /@dashboard: which file, and whether it needs a session (the login page,
 * its script and the style show nothing of the gateway).
 */
static const struct {
	const char *path, *file;
	bool open;
} pages[] = {
	{ "", "dashboard.html", false },
	{ "/", "dashboard.html", false },
	{ "/app.js", "app.js", false },
	{ "/app.css", "app.css", true },
	{ "/login", "login.html", true },
	{ "/login.js", "login.js", true },
};

static void tick_cb(uv_timer_t *t);

static struct fng_dashboard *dash_get(struct fng_server *srv)
{
	struct fng_dashboard *d = srv->dashboard;

	if (d) {
		return d;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		return NULL;
	}
	d->srv = srv;
	uv_timer_init(srv->loop, &d->tick);
	d->tick.data = d;
	srv->dashboard = d;
	return d;
}

static void dash_free_cb(uv_handle_t *h)
{
	free(h->data);
}

void fng__dashboard_close(struct fng_server *srv)
{
	struct fng_dashboard *d = srv->dashboard;

	if (!d) {
		return;
	}
	srv->dashboard = NULL;
	/* Connections are gone by now (fng__server_finish aborts them first); in case not: */
	for (unsigned i = 0; i < d->nfeeds; i++) {
		fng__ws_push_set_owner(d->feeds[i], NULL);
	}
	uv_close((uv_handle_t *)&d->tick, dash_free_cb);
}

static void sec(struct fng_req *req)
{
	for (size_t i = 0; i < sizeof(sec_headers) / sizeof(sec_headers[0]); i++) {
		fng__resp_header(req, sec_headers[i].name, strlen(sec_headers[i].name),
			sec_headers[i].value, strlen(sec_headers[i].value));
	}
}

static const struct fng_dash_asset *asset(const char *name)
{
	for (unsigned i = 0; i < fng__dash_nassets; i++) {
		if (strcmp(fng__dash_assets[i].name, name) == 0) {
			return &fng__dash_assets[i];
		}
	}
	return NULL;
}

/* ---- who is asking ---- */

static bool session_cookie(const struct fng_req *req, struct fng_str *sid)
{
	for (unsigned i = 0; i < req->nheaders; i++) {
		if (fng__str_ieq(req->headers[i].name, "cookie", 6) &&
			fng__cookie_value(req->headers[i].value, FNG_DASH_COOKIE, sid)) {
			return true;
		}
	}
	return false;
}

/* A request with an Origin must come from a page of this listener's own origin. */
static int origin_check(struct fng_req *req)
{
	const struct fng_header *o = fng__req_header(req, "origin", 6);
	/* The Host header as sent, port included (req->host has it stripped). */
	const struct fng_header *h = fng__req_header(req, "host", 4);

	if (o && (!h || !fng__origin_same(o->value, h->value, false))) {
		req->error_detail = "the dashboard answers pages of its own origin only";
		return FNG_EFORBIDDEN;
	}
	return 0;
}

/*
 * The admin token in an Authorization header (as on the whole admin API), or else an open
 * session's cookie. 0, or the error for the edge.
 */
static int dash_authorize(struct fng_req *req, struct fng_dashboard *d)
{
	struct fng_str sid;

	if (fng__req_header(req, "authorization", 13)) {
		return fng__admin_authorize(req);
	}
	if (d && session_cookie(req, &sid) &&
		fng__dash_session_ok(&d->sessions, sid, req->cfg->admin.token,
			uv_now(req->srv->loop))) {
		return 0;
	}
	req->error_detail = "the dashboard needs a session: open /@dashboard/login with the admin "
		"token (docs/config.md, Operator dashboard)";
	return FNG_EUNAUTHORIZED;
}

/* ---- the live feed ---- */

static void feed_remove(struct fng_dashboard *d, struct fng_ws_push *p)
{
	for (unsigned i = 0; i < d->nfeeds; i++) {
		if (d->feeds[i] == p) {
			d->nfeeds--;
			d->feeds[i] = d->feeds[d->nfeeds];
			memcpy(d->feed_token[i], d->feed_token[d->nfeeds], 32);
			break;
		}
	}
	if (!d->nfeeds) {
		uv_timer_stop(&d->tick);
	}
}

static int feed_opened(struct fng_ws_push *p, void *data)
{
	struct fng_server *srv = data;
	struct fng_dashboard *d = srv->dashboard;

	if (!d || d->nfeeds == FEEDS_MAX) {
		return -EBUSY;
	}
	fng__dash_token_hash(srv->cfg->admin.token, d->feed_token[d->nfeeds]);
	d->feeds[d->nfeeds++] = p;
	fng__ws_push_set_owner(p, d);
	/* The first frame soon (not from here: the handshake still owns the connection). */
	uv_timer_start(&d->tick, tick_cb, 10, TICK_MS);
	return 0;
}

static void feed_closed(struct fng_ws_push *p)
{
	struct fng_dashboard *d = fng__ws_push_owner(p);

	if (d) {
		feed_remove(d, p);
	}
}

static const struct fng_ws_push_ops feed_ops = {
	.opened = feed_opened,
	.closed = feed_closed,
};

/*
 * One frame for every feed: {"seq","time","skipped","metrics":EXPOSITION,"recent":{...}}.
 * Built once per tick and shared; NULL without memory.
 */
static struct fng_wsmsg *build_frame(struct fng_dashboard *d)
{
	struct fng_buf text = { 0 }, b = { 0 };
	struct fng_wsmsg *m = NULL;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	fng__buf_str(&b, "{\"seq\":");
	fng__buf_u64(&b, ++d->seq);
	fng__buf_str(&b, ",\"time\":");
	fng__buf_u64(&b, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	fng__buf_str(&b, ",\"skipped\":");
	fng__buf_u64(&b, d->skipped);
	fng__buf_str(&b, ",\"metrics\":\"");
	if (fng__metrics_render(d->srv, &text) == 0 && text.len) {
		fng__buf_json_escape(&b, text.p, text.len);
	}
	fng__buf_str(&b, "\",\"recent\":");
	text.len = 0;
	if (fng__metrics_recent_json(d->srv, &text) == 0 && text.len) {
		fng__buf_append(&b, text.p, text.len);
	} else {
		fng__buf_str(&b, "{\"errors\":[],\"deploys\":[]}");
	}
	fng__buf_str(&b, "}");
	if (b.p) {
		m = fng__wsmsg_create(FNG_WS_TEXT, b.p, b.len);
	}
	fng__buf_finish(&text);
	fng__buf_finish(&b);
	return m;
}

/* Whether p is still open (a call above may have closed it, and a loopback frees at once). */
static bool feed_alive(const struct fng_dashboard *d, const struct fng_ws_push *p)
{
	for (unsigned i = 0; i < d->nfeeds; i++) {
		if (d->feeds[i] == p) {
			return true;
		}
	}
	return false;
}

static void tick_cb(uv_timer_t *t)
{
	struct fng_dashboard *d = t->data;
	struct fng_ws_push *feeds[FEEDS_MAX];
	bool stale[FEEDS_MAX];
	unsigned n = d->nfeeds;
	uint64_t now = uv_now(d->srv->loop);
	uint8_t token[32];
	struct fng_wsmsg *m;

	/* A copy: a feed may close under the calls below. */
	memcpy(feeds, d->feeds, n * sizeof(feeds[0]));
	fng__dash_token_hash(d->srv->cfg->admin.token, token);
	for (unsigned i = 0; i < n; i++) {
		stale[i] = memcmp(d->feed_token[i], token, sizeof(token)) != 0;
	}
	for (unsigned i = 0; i < n; i++) {
		if (stale[i] && feed_alive(d, feeds[i])) {
			fng__ws_push_close(feeds[i], FNG_WS_POLICY, "the admin token changed");
		}
		if (feed_alive(d, feeds[i])) {
			fng__ws_push_keepalive(feeds[i], now);
		}
	}
	if (!d->nfeeds || d->srv->draining) {
		return;
	}
	m = build_frame(d);
	if (!m) {
		return; /* the next tick tries again */
	}
	n = d->nfeeds;
	memcpy(feeds, d->feeds, n * sizeof(feeds[0]));
	for (unsigned i = 0; i < n; i++) {
		if (feed_alive(d, feeds[i]) && fng__ws_push_send(feeds[i], m) == -EBUSY) {
			d->skipped++;
		}
	}
	fng__wsmsg_unref(m);
}

static int live(struct fng_req *req, struct fng_dashboard *d)
{
	int err;

	if (!fng__str_eq(req->method, "GET", 3)) {
		return fng__admin_method_not_allowed(req, "GET", NULL, NULL);
	}
	if (d->nfeeds >= FEEDS_MAX) {
		req->error_detail = "too many dashboards are open on this gateway";
		return FNG_EUNAVAILABLE;
	}
	err = fng__ws_push_accept(req, &feed_ops, req->srv);
	if (err) {
		return err;
	}
	req->resp.status = 200; /* the response stage answers 101 */
	return FNG_STAGE_DONE;
}

/* ---- sessions ---- */

static int session(struct fng_req *req, struct fng_dashboard *d)
{
	char sid[FNG_DASH_SID_LEN + 1], cookie[160];
	struct fng_str old;
	int err;

	if (fng__str_eq(req->method, "POST", 4)) {
		/* Login: the admin token itself, never a cookie, opens a session. */
		err = fng__admin_authorize(req);
		if (err) {
			return err;
		}
		if (fng__dash_session_open(&d->sessions, req->cfg->admin.token,
			uv_now(req->srv->loop), sid) != 0) {
			req->error_detail = "no randomness for a session id";
			return FNG_EINTERNAL;
		}
		snprintf(cookie, sizeof(cookie), "%s=%s; Path=/@dashboard; Max-Age=%d; HttpOnly; "
			"SameSite=Strict", FNG_DASH_COOKIE, sid, FNG_DASH_SESSION_S);
		memset(sid, 0, sizeof(sid));
	} else if (fng__str_eq(req->method, "DELETE", 6)) {
		/* Logout: the session named by the cookie ends, whoever sent it (SameSite). */
		if (session_cookie(req, &old)) {
			fng__dash_session_end(&d->sessions, old);
		}
		snprintf(cookie, sizeof(cookie), "%s=; Path=/@dashboard; Max-Age=0; HttpOnly; "
			"SameSite=Strict", FNG_DASH_COOKIE);
	} else {
		return fng__admin_method_not_allowed(req, "POST", "DELETE", NULL);
	}
	req->resp.status = 204;
	sec(req);
	fng__resp_header(req, "set-cookie", 10, cookie, strlen(cookie));
	memset(cookie, 0, sizeof(cookie));
	return FNG_STAGE_DONE;
}

/* ---- the admin API's /@dashboard ---- */

static int dashboard_serve(struct fng_req *req, struct fng_str rest)
{
	struct fng_dashboard *d = dash_get(req->srv);
	const struct fng_dash_asset *a;
	int err;

	if (!d) {
		return UV_ENOMEM;
	}
	err = origin_check(req);
	if (err) {
		return err;
	}
	if (fng__str_eq(rest, "/session", 8)) {
		return session(req, d);
	}
	if (fng__str_eq(rest, "/live", 5)) {
		err = dash_authorize(req, d);
		return err ? err : live(req, d);
	}
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		if (!fng__str_eq(rest, pages[i].path, strlen(pages[i].path))) {
			continue;
		}
		if (!pages[i].open && (err = dash_authorize(req, d)) != 0) {
			return err;
		}
		if (!fng__str_eq(req->method, "GET", 3) && !fng__str_eq(req->method, "HEAD", 4)) {
			return fng__admin_method_not_allowed(req, "GET", "HEAD", NULL);
		}
		a = asset(pages[i].file);
		if (!a) {
			return FNG_EINTERNAL;
		}
		req->resp.status = 200;
		fng__resp_header(req, "content-type", 12, a->type, strlen(a->type));
		sec(req);
		fng__buf_append(&req->resp.body, a->data, a->len);
		return FNG_STAGE_DONE;
	}
	req->error_detail = "dashboard paths: /@dashboard, /@dashboard/login, /@dashboard/live, "
		"/@dashboard/session";
	return FNG_ENOT_FOUND;
}

const struct fng_admin_ext fng__dashboard_admin = {
	.prefix = "/@dashboard",
	.serve = dashboard_serve,
	.own_auth = true,
};
