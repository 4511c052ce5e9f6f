// SPDX-License-Identifier: MIT
/*
 * The metrics registry (metrics.h): families registered once per process by the modules that
 * own them, one registry of series per loop recorded into without locks on that loop's
 * thread, the Prometheus text exposition that sums the loops' registries, and the two rings
 * of recent events (errors, deploys) the operator dashboard shows. It sits in core so that
 * every layer can record; it knows no metric of its own.
 *
 * Reading another loop's registry from the scraping loop's thread is deliberate and
 * lock-free: series are only ever appended (the link is published with a release store and
 * read with an acquire load) and never freed while the process serves, and a counter read
 * while its loop adds to it is at worst one increment old (aligned 64-bit loads do not tear
 * on the machines fngate runs on). The hash maps are only touched by their own loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "server.h"

struct family {
	struct fng_hmap map;
	struct fng_metric_series *first, *last;
	unsigned n;
	struct fng_metric_series *overflow;
};

struct recent_err {
	uint64_t ms, seq;
	int status;
	char request_id[40], api[64], stage[64], route[160], error[256];
	char cause[24], function[64], version[24];
};

struct recent_deploy {
	uint64_t ms, seq;
	char function[64], version[24], event[12], detail[256];
};

struct fng_metrics {
	struct fng_metrics *next_loop; /* every loop's registry (loops_lock) */
	struct fng_server *srv;
	bool off;
	struct family fams[FNG_METRIC_FAMILIES];
	struct fng_hmap memo;
	unsigned nmemo;
	uint64_t memo_gen;
	struct recent_err errs[FNG_METRICS_RECENT];
	unsigned nerrs, errs_next;
	struct recent_deploy deploys[FNG_METRICS_RECENT];
	unsigned ndeploys, deploys_next;
};

static struct fng_metric_def *defs[FNG_METRIC_FAMILIES];
static atomic_uint ndefs;
static pthread_mutex_t loops_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fng_metrics *loops;
static atomic_uint_fast64_t recent_seq;

int fng__metrics_register(struct fng_metric_def *def)
{
	unsigned n;

	if (!def->name || (def->type == FNG_METRIC_HISTOGRAM && (!def->bounds || !def->div))) {
		return -EINVAL;
	}
	if (def->id) {
		return 0;
	}
	n = atomic_load(&ndefs);
	if (n == FNG_METRIC_FAMILIES) {
		return -ENOSPC;
	}
	defs[n] = def;
	def->id = n + 1;
	atomic_store(&ndefs, n + 1);
	return 0;
}

int fng__metrics_register_all(struct fng_metric_def *const *list)
{
	for (; *list; list++) {
		int err = fng__metrics_register(*list);

		if (err) {
			return err;
		}
	}
	return 0;
}

static struct fng_metrics *registry(struct fng_server *srv)
{
	struct fng_metrics *m = srv->metrics;

	if (m) {
		return m;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		return NULL;
	}
	m->srv = srv;
	pthread_mutex_lock(&loops_lock);
	m->next_loop = loops;
	loops = m;
	pthread_mutex_unlock(&loops_lock);
	srv->metrics = m;
	return m;
}

void fng__metrics_enable(struct fng_server *srv, bool on)
{
	struct fng_metrics *m = registry(srv);

	if (m) {
		m->off = !on;
	}
}

bool fng__metrics_on(struct fng_server *srv)
{
	return !srv->metrics || !srv->metrics->off;
}

/* The label values as the series key: each cut to FNG_METRIC_VALUE_MAX and NUL-terminated. */
static size_t make_key(const struct fng_metric_def *def, const char *const *values, char *key)
{
	size_t len = 0;

	for (unsigned i = 0; i < FNG_METRIC_LABELS && def->labels[i]; i++) {
		const char *v = values && values[i] ? values[i] : "";
		size_t n = strnlen(v, FNG_METRIC_VALUE_MAX);

		memcpy(key + len, v, n);
		len += n;
		key[len++] = '\0';
	}
	return len;
}

static struct fng_metric_series *series_new(const struct fng_metric_def *def, const char *key,
	size_t klen)
{
	size_t nb = def->type == FNG_METRIC_HISTOGRAM ? def->nbounds + 1 : 0;
	struct fng_metric_series *s = calloc(1, sizeof(*s) + klen + nb * sizeof(uint64_t) + 8);

	if (!s) {
		return NULL;
	}
	s->def = def;
	s->klen = klen;
	memcpy(s->key, key, klen);
	if (nb) {
		/* After the key, aligned. */
		uintptr_t p = ((uintptr_t)(s->key + klen) + 7) & ~(uintptr_t)7;

		s->buckets = (uint64_t *)p;
	}
	return s;
}

static void family_append(struct family *f, struct fng_metric_series *s)
{
	if (f->last) {
		__atomic_store_n(&f->last->next, s, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&f->first, s, __ATOMIC_RELEASE);
	}
	f->last = s;
}

/* The family's overflow series ("$overflow" for every label), made once. */
static struct fng_metric_series *overflow(struct family *f, const struct fng_metric_def *def)
{
	static const char *const of[FNG_METRIC_LABELS] = { "$overflow", "$overflow", "$overflow",
		"$overflow" };
	char key[FNG_METRIC_LABELS * 16];
	size_t klen;

	if (!f->overflow) {
		klen = make_key(def, of, key);
		f->overflow = series_new(def, key, klen);
		if (f->overflow) {
			family_append(f, f->overflow);
		}
	}
	return f->overflow;
}

struct fng_metric_series *fng__metric_series(struct fng_server *srv, struct fng_metric_def *def,
	const char *const *values)
{
	struct fng_metrics *m = registry(srv);
	char key[FNG_METRIC_LABELS * (FNG_METRIC_VALUE_MAX + 1)];
	struct fng_metric_series *s;
	struct family *f;
	size_t klen;
	uint64_t h;

	if (!m || m->off || (!def->id && fng__metrics_register(def) != 0)) {
		return NULL;
	}
	f = &m->fams[def->id - 1];
	klen = make_key(def, values, key);
	h = fng__hash(key, klen);
	for (struct fng_hnode *n = fng__hmap_chain(&f->map, h); n; n = n->next) {
		s = fng__container_of(n, struct fng_metric_series, node);
		if (n->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0) {
			return s;
		}
	}
	if (f->n >= (def->max_series ? def->max_series : FNG_METRIC_SERIES_MAX)) {
		return overflow(f, def);
	}
	s = series_new(def, key, klen);
	if (!s) {
		return NULL;
	}
	if (fng__hmap_add(&f->map, &s->node, h) != 0) {
		free(s);
		return NULL;
	}
	f->n++;
	family_append(f, s);
	return s;
}

void fng__metrics_zero(struct fng_server *srv, struct fng_metric_def *def)
{
	struct fng_metrics *m = srv->metrics;

	if (!m || !def->id) {
		return;
	}
	for (struct fng_metric_series *s = m->fams[def->id - 1].first; s; s = s->next) {
		s->value = 0;
	}
}

void fng__metric_inc(struct fng_server *srv, struct fng_metric_def *def,
	const char *const *values)
{
	fng__metric_add(fng__metric_series(srv, def, values), 1);
}

void fng__metric_observe_at(struct fng_server *srv, struct fng_metric_def *def,
	const char *const *values, uint64_t v)
{
	fng__metric_observe(fng__metric_series(srv, def, values), v);
}

void fng__metric_gauge_at(struct fng_server *srv, struct fng_metric_def *def,
	const char *const *values, double delta)
{
	fng__metric_gauge_add(fng__metric_series(srv, def, values), delta);
}

/* ---- the memo of a hot path's series ---- */

static void memo_clear(struct fng_metrics *m)
{
	FNG_HMAP_EACH(&m->memo, n) {
		free(fng__container_of(n, struct fng_metric_memo, node));
	}
	fng__hmap_finish(&m->memo);
	memset(&m->memo, 0, sizeof(m->memo));
	m->nmemo = 0;
}

struct fng_metric_memo *fng__metrics_memo(struct fng_server *srv, uint64_t gen, const void *a,
	const void *b)
{
	struct fng_metrics *m = registry(srv);
	struct fng_metric_memo *e;
	/* Two pointers mixed by multiplication: FNV's byte loop would cost more than the rest. */
	uint64_t h = ((uint64_t)(uintptr_t)a ^ (uint64_t)(uintptr_t)b * 0x9e3779b97f4a7c15ULL) *
		0xff51afd7ed558ccdULL;

	if (!m || gen < m->memo_gen) {
		return NULL;
	}
	if (gen > m->memo_gen) {
		/* A new snapshot: its routes are new objects (old keys may be reused memory). */
		memo_clear(m);
		m->memo_gen = gen;
	}
	h ^= h >> 29;
	for (struct fng_hnode *n = fng__hmap_chain(&m->memo, h); n; n = n->next) {
		e = fng__container_of(n, struct fng_metric_memo, node);
		if (n->hash == h && e->a == a && e->b == b) {
			return e;
		}
	}
	if (m->nmemo >= FNG_METRIC_MEMO_MAX || !(e = calloc(1, sizeof(*e)))) {
		return NULL;
	}
	e->a = a;
	e->b = b;
	if (fng__hmap_add(&m->memo, &e->node, h) != 0) {
		free(e);
		return NULL;
	}
	m->nmemo++;
	return e;
}

/* ---- the exposition ---- */

/* A series summed over the loops, for one family's output. */
struct acc {
	struct fng_hnode node;
	struct acc *next;
	const struct fng_metric_series *s; /* the first loop's: key and def */
	uint64_t count, sum;
	double value;
	uint64_t buckets[];
};

/* Text with `\` and `"` and newlines escaped (label values; HELP escapes no quote). */
static int put_escaped(struct fng_buf *out, const char *s, size_t n, bool quote)
{
	size_t start = 0;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		const char *rep = s[i] == '\\' ? "\\\\" : s[i] == '\n' ? "\\n" :
			(quote && s[i] == '"') ? "\\\"" : NULL;

		if (rep) {
			err = fng__buf_append(out, s + start, i - start) ?:
				fng__buf_append(out, rep, 2);
			start = i + 1;
		}
	}
	return err ?: fng__buf_append(out, s + start, n - start);
}

/* name{labels[,le="..."]} */
static int put_series(struct fng_buf *out, const struct fng_metric_def *def,
	const struct fng_metric_series *s, const char *suffix, const char *le)
{
	const char *v = s->key;
	bool any = false;
	int err = fng__buf_str(out, def->name) ?: fng__buf_str(out, suffix);

	for (unsigned i = 0; !err && i < FNG_METRIC_LABELS && def->labels[i]; i++) {
		size_t n = strlen(v);

		err = fng__buf_str(out, any ? ",": "{") ?: fng__buf_str(out, def->labels[i]) ?:
			fng__buf_str(out, "=\"") ?: put_escaped(out, v, n, true) ?:
			fng__buf_str(out, "\"");
		any = true;
		v += n + 1;
	}
	if (!err && le) {
		err = fng__buf_printf(out, "%sle=\"%s\"", any ? "," : "{", le);
		any = true;
	}
	return err ?: fng__buf_str(out, any ? "} " : " ");
}

static int put_double(struct fng_buf *out, double v)
{
	char t[32];

	return fng__buf_str(out, fng__num_text(t, v));
}

static int render_acc(struct fng_buf *out, const struct fng_metric_def *def,
	const struct acc *a)
{
	uint64_t cum = 0;
	char le[32];
	int err = 0;

	switch (def->type) {
	case FNG_METRIC_COUNTER:
		return put_series(out, def, a->s, "", NULL) ?: fng__buf_u64(out, a->count) ?:
			fng__buf_str(out, "\n");
	case FNG_METRIC_GAUGE:
		return put_series(out, def, a->s, "", NULL) ?: put_double(out, a->value) ?:
			fng__buf_str(out, "\n");
	case FNG_METRIC_HISTOGRAM:
		for (unsigned i = 0; !err && i <= def->nbounds; i++) {
			cum += a->buckets[i];
			if (i < def->nbounds) {
				fng__num_text(le, (double)def->bounds[i] / def->div);
			} else {
				strcpy(le, "+Inf");
			}
			err = put_series(out, def, a->s, "_bucket", le) ?: fng__buf_u64(out, cum) ?:
				fng__buf_str(out, "\n");
		}
		return err ?: put_series(out, def, a->s, "_sum", NULL) ?:
			put_double(out, (double)a->sum / def->div) ?: fng__buf_str(out, "\n") ?:
			put_series(out, def, a->s, "_count", NULL) ?: fng__buf_u64(out, a->count) ?:
			fng__buf_str(out, "\n");
	}
	return 0;
}

static const char *type_name(enum fng_metric_type t)
{
	return t == FNG_METRIC_COUNTER ? "counter" : t == FNG_METRIC_GAUGE ? "gauge" : "histogram";
}

/* One family over every loop: sums series of the same labels, in order of appearance. */
static int render_family(struct fng_buf *out, struct fng_metric_def *def)
{
	size_t nb = def->type == FNG_METRIC_HISTOGRAM ? def->nbounds + 1 : 0;
	struct fng_hmap map = { 0 };
	struct acc *first = NULL, **tail = &first, *a;
	int err = fng__buf_printf(out, "# HELP %s ", def->name) ?:
		put_escaped(out, def->help ? def->help : "", strlen(def->help ? def->help : ""),
			false) ?:
		fng__buf_printf(out, "\n# TYPE %s %s\n", def->name, type_name(def->type));

	for (struct fng_metrics *m = loops; m && !err; m = m->next_loop) {
		const struct fng_metric_series *s;

		s = __atomic_load_n(&m->fams[def->id - 1].first, __ATOMIC_ACQUIRE);
		for (; s && !err; s = __atomic_load_n(&s->next, __ATOMIC_ACQUIRE)) {
			uint64_t h = fng__hash(s->key, s->klen);

			a = NULL;
			for (struct fng_hnode *n = fng__hmap_chain(&map, h); n; n = n->next) {
				struct acc *x = fng__container_of(n, struct acc, node);

				if (n->hash == h && x->s->klen == s->klen &&
					memcmp(x->s->key, s->key, s->klen) == 0) {
					a = x;
					break;
				}
			}
			if (!a) {
				a = calloc(1, sizeof(*a) + nb * sizeof(uint64_t));
				if (!a || fng__hmap_add(&map, &a->node, h) != 0) {
					free(a);
					err = -ENOMEM;
					break;
				}
				a->s = s;
				*tail = a;
				tail = &a->next;
			}
			a->count += s->count;
			a->sum += s->sum;
			a->value += s->value;
			for (size_t i = 0; i < nb; i++) {
				a->buckets[i] += s->buckets[i];
			}
		}
	}
	for (a = first; a; a = first) {
		if (!err) {
			err = render_acc(out, def, a);
		}
		first = a->next;
		free(a);
	}
	fng__hmap_finish(&map);
	return err ? -ENOMEM : 0;
}

static void collect(struct fng_server *srv)
{
	unsigned n = atomic_load(&ndefs);

	for (unsigned i = 0; i < n; i++) {
		if (defs[i]->collect) {
			defs[i]->collect(srv, defs[i]);
		}
	}
}

void fng__metrics_tick(struct fng_server *srv)
{
	if (srv->metrics) {
		collect(srv);
	}
}

int fng__metrics_render(struct fng_server *srv, struct fng_buf *out)
{
	unsigned n = atomic_load(&ndefs);
	int err = 0;

	if (!registry(srv)) {
		return -ENOMEM;
	}
	collect(srv);
	pthread_mutex_lock(&loops_lock);
	for (unsigned i = 0; i < n && !err; i++) {
		err = render_family(out, defs[i]);
	}
	pthread_mutex_unlock(&loops_lock);
	return err;
}

/* ---- recent events ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src) ? (src) : "")

/* The ring's slot for a new entry: the oldest once it is full. */
static unsigned ring_take(unsigned *next, unsigned *n)
{
	unsigned i = *next;

	*next = (i + 1) % FNG_METRICS_RECENT;
	*n += *n < FNG_METRICS_RECENT;
	return i;
}

/* An entry's time and its place in the order of every loop's entries. */
static void stamp(uint64_t *ms, uint64_t *seq)
{
	*ms = now_ms();
	*seq = atomic_fetch_add(&recent_seq, 1);
}

void fng__metrics_recent_error(struct fng_server *srv, const struct fng_metrics_error *e)
{
	struct fng_metrics *m = registry(srv);
	struct recent_err *r;

	if (!m) {
		return;
	}
	r = &m->errs[ring_take(&m->errs_next, &m->nerrs)];
	stamp(&r->ms, &r->seq);
	r->status = e->status;
	COPY(r->request_id, e->request_id);
	COPY(r->api, e->api);
	COPY(r->stage, e->stage);
	COPY(r->route, e->route);
	COPY(r->error, e->error);
	COPY(r->cause, e->cause);
	COPY(r->function, e->function);
	COPY(r->version, e->version);
}

void fng__metrics_recent_deploy(struct fng_server *srv, const char *function,
	const char *version, const char *event, const char *detail)
{
	struct fng_metrics *m = registry(srv);
	struct recent_deploy *d;

	if (!m) {
		return;
	}
	d = &m->deploys[ring_take(&m->deploys_next, &m->ndeploys)];
	stamp(&d->ms, &d->seq);
	COPY(d->function, function);
	COPY(d->version, version);
	COPY(d->event, event);
	COPY(d->detail, detail);
}

/* "2026-12-07T08:00:00.123Z" */
static int put_time(struct fng_buf *out, uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[40];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	return fng__buf_printf(out, "\"%s.%03uZ\"", s, (unsigned)(ms % 1000));
}

/* ,"name":"value" or ,"name":null for "" (with null_empty). */
static int put_field(struct fng_buf *out, const char *name, const char *v, bool null_empty)
{
	if (null_empty && !*v) {
		return fng__buf_printf(out, ",\"%s\":null", name);
	}
	return fng__buf_printf(out, ",\"%s\":\"", name) ?:
		fng__buf_json_escape(out, v, strlen(v)) ?: fng__buf_str(out, "\"");
}

/* Entries of every loop's ring (each at stride bytes from base, seq at seq_off), by seq. */
struct pick {
	uint64_t seq;
	const void *e;
};

static int pick_cmp(const void *x, const void *y)
{
	const struct pick *a = x, *b = y;

	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Gathers the newest FNG_METRICS_RECENT entries of one ring over the loops, oldest first. */
static struct pick *gather(bool errors, size_t *n)
{
	size_t cap = 0, k = 0;
	struct pick *p;

	for (struct fng_metrics *m = loops; m; m = m->next_loop) {
		cap += errors ? m->nerrs : m->ndeploys;
	}
	p = calloc(cap ? cap : 1, sizeof(*p));
	if (!p) {
		return NULL;
	}
	for (struct fng_metrics *m = loops; m; m = m->next_loop) {
		unsigned cnt = errors ? m->nerrs : m->ndeploys;

		for (unsigned i = 0; i < cnt; i++) {
			if (errors) {
				p[k++] = (struct pick){ m->errs[i].seq, &m->errs[i] };
			} else {
				p[k++] = (struct pick){ m->deploys[i].seq, &m->deploys[i] };
			}
		}
	}
	qsort(p, k, sizeof(*p), pick_cmp);
	*n = k;
	return p;
}

int fng__metrics_recent_json(struct fng_server *srv, struct fng_buf *out)
{
	struct pick *p = NULL, *q = NULL;
	size_t n = 0, nd = 0, from;
	int err;

	if (!registry(srv)) {
		return -ENOMEM;
	}
	pthread_mutex_lock(&loops_lock);
	p = gather(true, &n);
	q = gather(false, &nd);
	pthread_mutex_unlock(&loops_lock);
	err = p && q ? fng__buf_str(out, "{\"errors\":[") : -ENOMEM;
	from = n > FNG_METRICS_RECENT ? n - FNG_METRICS_RECENT : 0;
	for (size_t i = from; i < n && !err; i++) {
		const struct recent_err *e = p[i].e;

		err = fng__buf_str(out, i > from ? ",{\"time\":" : "{\"time\":") ?:
			put_time(out, e->ms) ?: put_field(out, "requestId", e->request_id, false) ?:
			put_field(out, "api", e->api, false) ?:
			put_field(out, "stage", e->stage, false) ?:
			put_field(out, "route", e->route, false) ?:
			fng__buf_printf(out, ",\"status\":%d", e->status) ?:
			put_field(out, "error", e->error, false) ?:
			put_field(out, "cause", e->cause, true) ?:
			put_field(out, "function", e->function, true) ?:
			put_field(out, "version", e->version, true) ?: fng__buf_str(out, "}");
	}
	err = err ?: fng__buf_str(out, "],\"deploys\":[");
	from = nd > FNG_METRICS_RECENT ? nd - FNG_METRICS_RECENT : 0;
	for (size_t i = from; i < nd && !err; i++) {
		const struct recent_deploy *d = q[i].e;

		err = fng__buf_str(out, i > from ? ",{\"time\":" : "{\"time\":") ?:
			put_time(out, d->ms) ?: put_field(out, "function", d->function, false) ?:
			put_field(out, "version", d->version, false) ?:
			put_field(out, "event", d->event, false) ?:
			put_field(out, "detail", d->detail, false) ?: fng__buf_str(out, "}");
	}
	err = err ?: fng__buf_str(out, "]}");
	free(p);
	free(q);
	return err ? -ENOMEM : 0;
}

void fng__metrics_free(struct fng_server *srv)
{
	struct fng_metrics *m = srv->metrics, **pp;

	if (!m) {
		return;
	}
	pthread_mutex_lock(&loops_lock);
	for (pp = &loops; *pp; pp = &(*pp)->next_loop) {
		if (*pp == m) {
			*pp = m->next_loop;
			break;
		}
	}
	pthread_mutex_unlock(&loops_lock);
	for (unsigned i = 0; i < FNG_METRIC_FAMILIES; i++) {
		struct fng_metric_series *s = m->fams[i].first, *next;

		for (; s; s = next) {
			next = s->next;
			free(s);
		}
		fng__hmap_finish(&m->fams[i].map);
	}
	memo_clear(m);
	free(m);
	srv->metrics = NULL;
}
