/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_IP_POLICY_H
#define FNG_GATEWAY_IP_POLICY_H

#include "cidr.h"
#include "conf.h"

/*
 * A resource policy: who may call an API or one of its stages, by client address
 * (ip_policy.c). A NULL list is absent; an empty one is present and holds nothing.
 */
struct fng_ip_policy {
	const struct fng_cidr_set *allow; /* present: only these addresses */
	const struct fng_cidr_set *deny;  /* these never, whatever allow says */
};

/* The `policy` rows of an API (obj: struct fng_api) and of a stage (obj: struct fng_stage). */
int fng__api_policy_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
int fng__stage_policy_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);
/* The `server.trusted_proxies` row (obj: struct fng_config). */
int fng__trusted_proxies_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);

/*
 * Whether the address may pass policy p (NULL passes everything): not in its deny list, and
 * in its allow list when it has one.
 */
bool fng__ip_policy_allows(const struct fng_ip_policy *p, const struct fng_ip *ip);

/*
 * The client of a request that came through trusted proxies: peer is the address that
 * connected to us; the X-Forwarded-For fields (in the order received) are walked from the
 * right, and the first address that is not a trusted proxy is the client. Where every hop is
 * trusted it is the leftmost one; where an entry is not an address the walk stops and the
 * last trusted hop stands (what lies left of garbage cannot be trusted). Returns whether
 * *client differs from peer.
 */
bool fng__forwarded_client(const struct fng_cidr_set *trusted, const struct fng_ip *peer,
	const struct fng_str *values, unsigned nvalues, struct fng_ip *client);

#endif
