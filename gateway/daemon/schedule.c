// SPDX-License-Identifier: MIT
/*
 * Scheduled invocations (`schedules:` in the config): the gateway invokes a function every
 * every_ms, the way EventBridge schedules invoke a Lambda. Each tick is a request of its own
 * (no connection) that walks the stage table with its route known — integration, access
 * log — and whose answer is dropped. A tick whose previous invocation is still running is
 * skipped (and counted), so a slow function is never invoked concurrently by its schedule.
 *
 * One timer per server, armed for the earliest due schedule. The per-schedule state is
 * rebuilt on reload; a schedule that keeps its name keeps its rhythm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "schedule.h"
#include "stages.h"

struct fng_sched_slot {
	char name[64];
	uint64_t next_at;          /* uv_now() ms */
	unsigned running;
	uint64_t skipped;
};

static void sched_respond(struct fng_req *req)
{
	req->bytes_out = req->resp.body.len;
}

static void sched_log(struct fng_req *req, const char *line, size_t len)
{
	fng__server_log_line(req->srv, line, len);
}

static struct fng_sched_slot *slot_by_name(struct fng_server *srv, const char *name)
{
	for (unsigned i = 0; i < srv->nsched; i++) {
		if (strcmp(srv->sched[i].name, name) == 0) {
			return &srv->sched[i];
		}
	}
	return NULL;
}

static void sched_finish(struct fng_req *req)
{
	struct fng_server *srv = req->srv;
	struct fng_sched_slot *s = slot_by_name(srv, req->path.p + 1);

	if (s && s->running) {
		s->running--;
	}
	fng__req_destroy(req);
	srv->nevents--;
	fng__server_maybe_drained(srv);
}

static const struct fng_req_ops sched_ops = {
	.respond = sched_respond,
	.finish = sched_finish,
	.log = sched_log,
};

static void invoke(struct fng_server *srv, const struct fng_schedule *sc)
{
	struct fng_req *req = fng__req_new_event(srv, srv->cfg, &sched_ops, sc->body,
		strlen(sc->body));
	char path[80];
	int n;

	if (!req) {
		return;
	}
	req->method = FNG_STR("POST");
	/* The path names the schedule: its slot is found by it when the request ends. */
	n = snprintf(path, sizeof(path), "/%s", sc->name);
	req->path = (struct fng_str){ fng__arena_strndup(req->arena, path, (size_t)n), (size_t)n };
	req->target = req->path;
	req->route_path = req->path;
	req->event = FNG_EVENT_SCHEDULE;
	req->match.route = &sc->route;
	req->body_limit = srv->cfg->limits.body_bytes;
	srv->nevents++;
	fng__req_run(req);
}

static void arm(struct fng_server *srv);

static void sched_timer_cb(uv_timer_t *t)
{
	struct fng_server *srv = t->data;
	const struct fng_config *cfg = srv->cfg;
	uint64_t now = uv_now(srv->loop);

	for (unsigned i = 0; i < cfg->nschedules && i < srv->nsched && !srv->draining; i++) {
		struct fng_sched_slot *s = &srv->sched[i];
		const struct fng_schedule *sc = &cfg->schedules[i];

		if (now < s->next_at) {
			continue;
		}
		/* The next tick keeps the rhythm; ticks missed while the loop was busy are skipped. */
		s->next_at += sc->every_ms;
		if (s->next_at <= now) {
			s->next_at = now + sc->every_ms;
		}
		if (s->running) {
			if (s->skipped++ % 100 == 0) {
				fng__log("warn", "schedule tick skipped", "schedule", sc->name, "reason",
					"the previous invocation is still running", NULL);
			}
			continue;
		}
		s->running++;
		invoke(srv, sc);
	}
	arm(srv);
}

static void arm(struct fng_server *srv)
{
	uint64_t now = uv_now(srv->loop), at = UINT64_MAX;

	for (unsigned i = 0; i < srv->nsched; i++) {
		if (srv->sched[i].next_at < at) {
			at = srv->sched[i].next_at;
		}
	}
	if (at == UINT64_MAX || srv->draining) {
		uv_timer_stop(&srv->sched_timer);
		return;
	}
	uv_timer_start(&srv->sched_timer, sched_timer_cb, at > now ? at - now : 1, 0);
}

int fng__schedules_update(struct fng_server *srv)
{
	const struct fng_config *cfg = srv->cfg;
	struct fng_sched_slot *slots = NULL;
	uint64_t now = uv_now(srv->loop);

	if (cfg->nschedules) {
		slots = calloc(cfg->nschedules, sizeof(*slots));
		if (!slots) {
			return UV_ENOMEM;
		}
	}
	for (unsigned i = 0; i < cfg->nschedules; i++) {
		const struct fng_schedule *sc = &cfg->schedules[i];
		struct fng_sched_slot *old = slot_by_name(srv, sc->name);

		snprintf(slots[i].name, sizeof(slots[i].name), "%s", sc->name);
		if (old) {
			slots[i] = *old;
		} else {
			slots[i].next_at = now + sc->every_ms;
		}
	}
	free(srv->sched);
	srv->sched = slots;
	srv->nsched = cfg->nschedules;
	arm(srv);
	return 0;
}

void fng__schedules_stop(struct fng_server *srv)
{
	uv_timer_stop(&srv->sched_timer);
}
