/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_AUTH_JWT_LOOP_H
#define FNG_GATEWAY_AUTH_JWT_LOOP_H

/*
 * One loop's JWT state (srv->jwt), shared by jwt.c (the verification cache) and jwt_url.c
 * (the key sets of loopback URLs, their refresh timers and the requests waiting for a first
 * fetch). Private to gateway/auth.
 */

#include "jwt.h"
#include "request.h"

struct fng_jwt_loop {
	struct fng_server *srv;
	/* Verified tokens (jwt.c): bounded by entries and bytes, oldest out first. */
	struct fng_hmap cache;
	struct fng_list cache_fifo;
	size_t cache_n, cache_bytes;
	uint64_t hits, misses;
	/* URL key sources (jwt_url.c), by URL. */
	struct fng_list sources;
	bool closing;
};

/* srv's JWT state, made on first use; NULL without memory. */
struct fng_jwt_loop *fng__jwt_loop(struct fng_server *srv);
void fng__jwt_cache_free(struct fng_jwt_loop *jl);

/* Sets req's refusal for class why (jwt.h) and returns the error for the stage. */
int fng__jwt_refuse(struct fng_req *req, int why);
/* Decides req with the key set ks (NULL: none to be had): NEXT, or a refusal. */
int fng__jwt_decide(struct fng_req *req, const struct fng_authorizer *a,
	const struct fng_route *route, struct fng_jwks *ks);

/*
 * The key set of a URL authorizer for req: 0 and *ks (a reference), FNG_STAGE_PENDING (the
 * first fetch is under way: req resumes with the decision once it ends) or a refusal.
 */
int fng__jwt_url_start(struct fng_req *req, const struct fng_authorizer *a,
	const struct fng_route *route, struct fng_jwks **ks);

#endif
