/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CACHE_STAGE_H
#define FNG_GATEWAY_CACHE_STAGE_H

#include "conf.h"

struct fng_server;

/* A stage's response cache (`stages.S.cache`). */
struct fng_stage_cache {
	uint64_t capacity_bytes;
	uint32_t ttl_s;                   /* the default TTL; 0: nothing is stored */
	uint64_t max_entry_bytes;
	uint32_t stale_while_revalidate_s;
	uint32_t stale_if_error_s;
	bool require_authorization;       /* a client's max-age=0 needs the permission */
	bool forbid_unauthorized;         /* ... and is answered 403 without it (else ignored) */
	bool all_routes;                  /* every route cached (else those with a cache block) */
	uint32_t coalesce_wait_ms;        /* a waiter's limit; 0: the route function's timeout */
};

#define FNG_CACHE_MAX_TTL_S 3600
#define FNG_CACHE_MAX_KEYS 16

/* A route's cache settings (`routes.R.cache`). */
struct fng_route_cache {
	bool enabled;                     /* default true: cached when the stage caches */
	int64_t ttl_s;                    /* -1: the stage's */
	const char **methods;             /* upper case; default GET, HEAD */
	unsigned nmethods;
	const char **query;               /* key parameters: query string names */
	unsigned nquery;
	const char **headers;             /* key parameters: header names, lower case */
	unsigned nheaders;
	bool shared;                      /* one entry for every identity (authorizer, key) */
	bool cookies;                     /* responses with Set-Cookie may be stored */
};

/* The `cache` rows of a stage and of a route. */
int fng__stage_cache_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
int fng__route_cache_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);

/* Per-stage counters, for the admin API and metrics. */
struct fng_cache_counters {
	uint64_t hits, misses, stale, coalesced, bypass, stored, refreshes; /* evictions: the store's */
	uint64_t shared_hits;   /* of hits: found in Redis (cluster.shared_caches: response) */
};

/*
 * The admin API's purges: every entry of a stage (route NULL), of a route of it, or tagged
 * tag in every stage (api and stage NULL). Returns the entries dropped. With the response cache
 * shared (cluster.shared_caches), the purge also reaches Redis and the other nodes (one
 * script: the shared generation incremented, the purge published on PREFIX rcinv); the count
 * is this node's.
 */
uint64_t fng__cache_purge(struct fng_server *srv, const char *api, const char *stage,
	const char *route, const char *tag);
/* Appends {"api","stage","entries","bytes","capacity", counters...} of every stage's cache. */
struct fng_buf;
void fng__cache_stats_json(struct fng_server *srv, struct fng_buf *b);
/* The admin API's /@cache, for fng__admin_register(). */
struct fng_admin_ext;
extern const struct fng_admin_ext fng__cache_admin;
/* Frees the loop's caches (the loop has stopped). */
void fng__cache_loop_free(struct fng_server *srv);

#endif
