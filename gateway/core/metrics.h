/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_METRICS_H
#define FNG_GATEWAY_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "mem.h"

/*
 * Metrics: one registry per loop (srv->metrics, created by its first use), recorded into
 * with plain increments on the loop's own thread — no lock, no atomic — and read by the
 * exposition (fng__metrics_render), which sums the registries of every loop of the process.
 *
 * A module declares its families as `struct fng_metric_def` values of its own file and
 * registers them at start-up (fng__metrics_register); no file lists every metric. A family
 * is a counter, a gauge (changed by its module, or computed at scrape time by `collect`) or
 * a histogram of fixed buckets. Its series are keyed by label values that the module takes
 * from bounded sets (configured names, never a raw path); past max_series, what would be a
 * new series goes to one overflow series whose every label is "$overflow". Series live as
 * long as the loop: a reload never resets a counter.
 */

struct fng_server;

enum fng_metric_type {
	FNG_METRIC_COUNTER,
	FNG_METRIC_GAUGE,
	FNG_METRIC_HISTOGRAM,
};

#define FNG_METRIC_LABELS 4        /* label names per family, at most */
#define FNG_METRIC_FAMILIES 128    /* families registered in a process, at most */
#define FNG_METRIC_SERIES_MAX 1000 /* series per family and loop, unless the def says */
#define FNG_METRIC_VALUE_MAX 128   /* a longer label value is cut to this many bytes */
#define FNG_METRICS_RECENT 100     /* entries in each ring of recent events, per loop */

struct fng_metric_def {
	const char *name;     /* "fngate_requests_total" */
	const char *help;
	enum fng_metric_type type;
	const char *labels[FNG_METRIC_LABELS]; /* names; NULL after the last */
	/*
	 * A histogram's bucket upper bounds, ascending, in the unit values are observed in (an
	 * integer: ns, µs, KiB); the exposition shows bound / div (div 1e9: ns as seconds;
	 * 1.0/1024: KiB as bytes). +Inf is implicit.
	 */
	const uint64_t *bounds;
	unsigned nbounds;
	double div;
	unsigned max_series;  /* 0: FNG_METRIC_SERIES_MAX */
	/* A computed gauge: sets its series (fng__metric_set) on srv's loop before a scrape. */
	void (*collect)(struct fng_server *srv, struct fng_metric_def *def);
	unsigned id;          /* set by registration: 1 + its index; 0: not registered */
};

struct fng_metric_series {
	struct fng_hnode node;
	struct fng_metric_series *next;   /* the family's series, oldest first */
	const struct fng_metric_def *def;
	uint64_t count;                   /* counter; histogram: observations */
	double value;                     /* gauge */
	uint64_t sum;                     /* histogram: sum of observations (their unit) */
	uint64_t *buckets;                /* histogram: per bucket (not cumulative), nbounds + 1 */
	size_t klen;
	char key[];                       /* the label values, each NUL-terminated */
};

/*
 * Registers a family for the exposition (its HELP and TYPE show before any sample). Called
 * at start-up, before the loops run; registering def again is a no-op. 0, or -ENOSPC past
 * FNG_METRIC_FAMILIES, -EINVAL for a def without a name or a histogram without bounds.
 */
int fng__metrics_register(struct fng_metric_def *def);
/* Registers each def of a NULL-terminated array; the first error, or 0. */
int fng__metrics_register_all(struct fng_metric_def *const *defs);

/*
 * Whether srv records the request path's metrics (`metrics.enabled`): when off,
 * fng__metric_series() returns NULL and every recording below is skipped.
 */
void fng__metrics_enable(struct fng_server *srv, bool on);
bool fng__metrics_on(struct fng_server *srv);

/*
 * The series of def with the label values (one per label name of def; NULL reads as ""),
 * created on first use (and def registered if it was not). NULL when recording is off or
 * memory ran out. A series is never freed before its loop's registry: a module may keep the
 * pointer for the loop's life.
 */
struct fng_metric_series *fng__metric_series(struct fng_server *srv, struct fng_metric_def *def,
	const char *const *values);

static inline void fng__metric_add(struct fng_metric_series *s, uint64_t n)
{
	if (s) {
		s->count += n;
	}
}
static inline void fng__metric_set(struct fng_metric_series *s, double v)
{
	if (s) {
		s->value = v;
	}
}
static inline void fng__metric_gauge_add(struct fng_metric_series *s, double d)
{
	if (s) {
		s->value += d;
	}
}
/*
 * One observation of v (the def's unit) in a histogram: its bucket is the first bound >= v
 * (+Inf past the last), found by a binary search without branches on the data (latencies
 * are not predictable: a mispredicted branch per step would cost more than the search).
 */
static inline void fng__metric_observe(struct fng_metric_series *s, uint64_t v)
{
	const uint64_t *b;
	unsigned lo = 0, len;

	if (!s) {
		return;
	}
	b = s->def->bounds;
	len = s->def->nbounds;
	while (len > 1) {
		unsigned half = len / 2;

		lo += b[lo + half - 1] < v ? half : 0;
		len -= half;
	}
	lo += len == 1 && b[lo] < v;
	s->buckets[lo]++;
	s->count++;
	s->sum += v;
}

/* Sets every series of def on srv's loop to 0: a computed gauge's collect, before it sets. */
void fng__metrics_zero(struct fng_server *srv, struct fng_metric_def *def);

/* The same in one call, for what is recorded now and then (a deploy, a refusal). */
void fng__metric_inc(struct fng_server *srv, struct fng_metric_def *def,
	const char *const *values);
void fng__metric_observe_at(struct fng_server *srv, struct fng_metric_def *def,
	const char *const *values, uint64_t v);
void fng__metric_gauge_at(struct fng_server *srv, struct fng_metric_def *def,
	const char *const *values, double delta);

/*
 * A memo of series a hot path resolved for a pair of keys (a route and a stage of one config
 * snapshot), so that a request finds its series with one hash lookup and no string work:
 * s[] and tag[] are the caller's to fill and read (a fresh memo is all zero). gen names the
 * snapshot the keys belong to: a newer gen empties the memo; an older one (a request still
 * on the snapshot before a reload) gets NULL, as does a full memo (FNG_METRIC_MEMO_MAX) or
 * a loop out of memory: the caller then looks its series up by label.
 */
#define FNG_METRIC_MEMO_MAX 4096
struct fng_metric_memo {
	struct fng_hnode node;
	const void *a, *b;
	struct fng_metric_series *s[12];
	int tag[12];
};
struct fng_metric_memo *fng__metrics_memo(struct fng_server *srv, uint64_t gen, const void *a,
	const void *b);

/*
 * The Prometheus text exposition (format 0.0.4) of every registered family, summed over the
 * registries of all loops, appended to out. Computed gauges are collected on srv's loop;
 * other loops' were collected by their last fng__metrics_tick(). 0 or -ENOMEM.
 */
int fng__metrics_render(struct fng_server *srv, struct fng_buf *out);
/* Once a second per loop (the sweep): its computed gauges, for the other loops' scrapes. */
void fng__metrics_tick(struct fng_server *srv);

/* A refused or failed request, for the dashboard's list of recent errors (strings copied). */
struct fng_metrics_error {
	const char *request_id, *api, *stage, *route;
	int status;
	const char *error;    /* the message the client got */
	const char *cause;    /* crash, seccomp, oom, timeout, malformed, throttled...; or NULL */
	const char *function; /* or NULL */
	const char *version;  /* or NULL */
};
void fng__metrics_recent_error(struct fng_server *srv, const struct fng_metrics_error *e);
/* A deploy event: "deployed", "failed" or "removed", with a detail (the cause). */
void fng__metrics_recent_deploy(struct fng_server *srv, const char *function,
	const char *version, const char *event, const char *detail);
/*
 * {"errors":[...],"deploys":[...]}: the last FNG_METRICS_RECENT of each, newest last, over
 * every loop (docs/ARCHITECTURE.md shows the fields). 0 or -ENOMEM.
 */
int fng__metrics_recent_json(struct fng_server *srv, struct fng_buf *out);

/* Frees srv's registry (at the loop's end); srv->metrics is NULL after. */
void fng__metrics_free(struct fng_server *srv);

#endif
