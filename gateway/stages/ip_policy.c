// SPDX-License-Identifier: MIT
/*
 * Resource policies (head phase), two stages of one module:
 *
 * "client_ip", the first stage: when the peer is one of `server.trusted_proxies`, the client
 * is read from X-Forwarded-For and req->ip becomes its address, so the policy, the access
 * log, templates and the event's sourceIp all see the client, not the proxy.
 *
 * "ip_policy", right after "endpoint" (the API and stage are known, nothing else has been
 * spent): the API's and the stage's allow and deny lists. A refusal is a 403 that names the
 * policy, never the rule. WebSocket handshakes are HTTP requests and are checked here too;
 * a connection's later events carry the address their handshake was allowed with.
 */
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "ip_policy.h"
#include "stages.h"

/* ---- configuration ---- */

static int parse_allow(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_ip_policy *p = obj;

	return v ? fng__conf_cidrs(L, v, "policy.allow", &p->allow) : 0;
}

static int parse_deny(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_ip_policy *p = obj;

	return v ? fng__conf_cidrs(L, v, "policy.deny", &p->deny) : 0;
}

static const struct fng_conf_key policy_keys[] = {
	{ "allow", FNG_CONF_FN, 0, .fn = parse_allow },
	{ "deny", FNG_CONF_FN, 0, .fn = parse_deny },
	{ NULL },
};

static int parse_policy(struct fng_conf *L, const struct fng_conf_node *v,
	const struct fng_ip_policy **out)
{
	struct fng_ip_policy *p;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "policy")) {
		return -1;
	}
	p = fng__arena_zalloc(L->cfg->arena, sizeof(*p));
	if (!p) {
		fng__conf_err(L, v, "out of memory");
		return -1;
	}
	if (fng__conf_apply(L, v, policy_keys, p, "policy") != 0) {
		return -1;
	}
	if (!p->allow && !p->deny) {
		fng__conf_err(L, v, "policy needs an allow or a deny list");
		return -1;
	}
	*out = p;
	return 0;
}

int fng__api_policy_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return parse_policy(L, v, &((struct fng_api *)obj)->policy);
}

int fng__stage_policy_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return parse_policy(L, v, &((struct fng_stage *)obj)->policy);
}

int fng__trusted_proxies_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;

	return v ? fng__conf_cidrs(L, v, "trusted_proxies", &c->trusted_proxies) : 0;
}

/* ---- the client's address ---- */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

bool fng__forwarded_client(const struct fng_cidr_set *trusted, const struct fng_ip *peer,
	const struct fng_str *values, unsigned nvalues, struct fng_ip *client)
{
	*client = *peer;
	if (!fng__cidr_set_has(trusted, peer)) {
		return false;
	}
	for (unsigned i = nvalues; i-- > 0;) {
		const char *start = values[i].p, *end = start + values[i].len;

		while (end > start) {
			const char *e = end, *b = end;
			struct fng_ip hop;

			while (b > start && b[-1] != ',') {
				b--;
			}
			end = b > start ? b - 1 : start;
			while (b < e && is_ows(*b)) {
				b++;
			}
			while (e > b && is_ows(e[-1])) {
				e--;
			}
			if (b == e) {
				continue; /* an empty list element (RFC 9110 5.6.1) */
			}
			if (!fng__ip_parse(b, (size_t)(e - b), &hop)) {
				goto done;
			}
			*client = hop;
			if (!fng__cidr_set_has(trusted, &hop)) {
				goto done;
			}
		}
	}
done:
	return client->hi != peer->hi || client->lo != peer->lo;
}

/* The X-Forwarded-For fields the walk takes; more are a client's noise and are not read. */
#define XFF_MAX_FIELDS 16

static int client_ip(struct fng_req *req)
{
	const struct fng_cidr_set *trusted = req->cfg->trusted_proxies;
	struct fng_str values[XFF_MAX_FIELDS];
	unsigned n = 0;
	struct fng_ip peer, client;

	if (!trusted || req->event != FNG_EVENT_NONE ||
		!fng__ip_parse(req->ip, strlen(req->ip), &peer)) {
		return FNG_STAGE_NEXT;
	}
	/* The last fields are the nearest hops: keep those when there are too many. */
	for (unsigned i = 0; i < req->nheaders; i++) {
		if (fng__str_ieq(req->headers[i].name, "x-forwarded-for", 15)) {
			if (n == XFF_MAX_FIELDS) {
				memmove(values, values + 1, (n - 1) * sizeof(values[0]));
				n--;
			}
			values[n++] = req->headers[i].value;
		}
	}
	if (fng__forwarded_client(trusted, &peer, values, n, &client)) {
		fng__ip_format(&client, req->ip, sizeof(req->ip));
	}
	return FNG_STAGE_NEXT;
}

const struct fng_stage_def fng__stage_client_ip = {
	.name = "client_ip",
	.run = client_ip,
	.phase = FNG_PHASE_HEAD,
};

/* ---- the policy ---- */

bool fng__ip_policy_allows(const struct fng_ip_policy *p, const struct fng_ip *ip)
{
	if (!p) {
		return true;
	}
	if (fng__cidr_set_has(p->deny, ip)) {
		return false;
	}
	return !p->allow || fng__cidr_set_has(p->allow, ip);
}

/*
 * The API's policy and the stage's both apply: a deny in either refuses, and each allow list
 * present must hold the client (a stage narrows its API, it cannot widen it). An address
 * that cannot be read (no peer address) is refused by any policy.
 */
static int ip_policy(struct fng_req *req)
{
	const struct fng_ip_policy *ap, *sp;
	struct fng_ip ip;
	bool ok;
	char *msg;

	if (req->event != FNG_EVENT_NONE || !req->api) {
		return FNG_STAGE_NEXT;
	}
	ap = req->api->policy;
	sp = req->stage ? req->stage->policy : NULL;
	if (!ap && !sp) {
		return FNG_STAGE_NEXT;
	}
	ok = fng__ip_parse(req->ip, strlen(req->ip), &ip);
	if (ok && fng__ip_policy_allows(ap, &ip) && fng__ip_policy_allows(sp, &ip)) {
		return FNG_STAGE_NEXT;
	}
	msg = fng__arena_alloc(req->arena, 256);
	if (msg) {
		if (!ok || !fng__ip_policy_allows(ap, &ip)) {
			snprintf(msg, 256, "Forbidden: the resource policy of API \"%s\" refuses "
				"this client", req->api->name);
		} else {
			snprintf(msg, 256, "Forbidden: the resource policy of stage \"%s\" of API "
				"\"%s\" refuses this client", req->stage->name, req->api->name);
		}
	}
	req->error_detail = msg;
	return FNG_EFORBIDDEN;
}

const struct fng_stage_def fng__stage_ip_policy = {
	.name = "ip_policy",
	.run = ip_policy,
	.phase = FNG_PHASE_HEAD,
};
