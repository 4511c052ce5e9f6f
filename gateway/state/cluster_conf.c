// SPDX-License-Identifier: MIT
/*
 * The `cluster:` section (docs/config.md, "Cluster"): the Redis server several gateways share
 * their limits, quotas and WebSocket fan-out through, and this node's name among them. It is
 * parsed here, beside the client that uses it (cluster.c); without the section the snapshot's
 * cluster.on stays false and nothing of the cluster runs.
 *
 * The address is an IP literal: a host name would need a resolver, and getaddrinfo() blocks;
 * hiredis 0.14 resolves on the caller's thread, which is the loop's. The password is read from
 * a file at load time (off the loop), so that a reconnection reads no disk.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "conf.h"
#include "cluster_node.h"

#define PASSWORD_FILE_MAX 4096
#define NODE_ID_MAX 64
#define PREFIX_MAX 128

static bool node_id_ok(const char *s, size_t n)
{
	if (n == 0 || n > NODE_ID_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			(ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')) {
			return false;
		}
	}
	return true;
}

static int parse_redis(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	const char *s = fng__conf_str(L, v, "cluster.redis");
	struct sockaddr_storage ss;
	char ip[INET6_ADDRSTRLEN];
	int port;

	if (!s) {
		return -1;
	}
	if (fng__config_parse_addr(s, &ss) != 0) {
		fng__conf_err(L, v, "cluster.redis \"%s\" must be IPv4:PORT or [IPv6]:PORT (an IP "
			"address: a host name would be resolved on the loop)", s);
		return -1;
	}
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

		uv_ip4_name(a, ip, sizeof(ip));
		port = ntohs(a->sin_port);
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

		uv_ip6_name(a, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
	}
	if (port == 0) {
		fng__conf_err(L, v, "cluster.redis \"%s\": port 0", s);
		return -1;
	}
	c->cluster.redis = s;
	c->cluster.host = fng__arena_strndup(c->arena, ip, strlen(ip));
	c->cluster.port = (uint16_t)port;
	return c->cluster.host ? 0 : -1;
}

/* The password from a file (its first line), so that it need not sit in the config. */
static int parse_password_file(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		return 0;
	}
	c->cluster.password = fng__conf_first_line(L, v, "cluster.password_file",
		PASSWORD_FILE_MAX);
	return c->cluster.password ? 0 : -1;
}

static int parse_prefix(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	const char *s = v ? fng__conf_str(L, v, "cluster.key_prefix") : "fngate:";

	if (!s) {
		return -1;
	}
	if (strlen(s) > PREFIX_MAX || strpbrk(s, " \t\r\n")) {
		fng__conf_err(L, v, "cluster.key_prefix must be at most %d characters without "
			"white space", PREFIX_MAX);
		return -1;
	}
	c->cluster.key_prefix = s;
	return 0;
}

/*
 * Default: the host name and the first listener's port ("web1-8080"), unique per gateway on
 * one machine as long as they listen on different ports. Characters outside the id's set
 * become '-'.
 */
static int parse_node_id(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	char id[NODE_ID_MAX + 1], host[256] = "";
	const char *port = NULL;
	size_t n;

	if (v) {
		const char *s = fng__conf_str(L, v, "cluster.node_id");

		if (!s) {
			return -1;
		}
		if (!node_id_ok(s, strlen(s))) {
			fng__conf_err(L, v, "cluster.node_id \"%s\" must be 1 to %d characters of "
				"[A-Za-z0-9._-]", s, NODE_ID_MAX);
			return -1;
		}
		c->cluster.node_id = s;
		return 0;
	}
	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0]) {
		strcpy(host, "fngate");
	}
	if (c->nlisten) {
		port = strrchr(c->listen[0], ':');
	}
	if (snprintf(id, sizeof(id), "%s%s%s", host, port ? "-" : "", port ? port + 1 : "") >=
		(int)sizeof(id)) {
		/* a long host name: its first NODE_ID_MAX characters (and no port) */
	}
	n = strlen(id);
	for (size_t i = 0; i < n; i++) {
		if (!node_id_ok(id + i, 1)) {
			id[i] = '-';
		}
	}
	c->cluster.node_id = fng__arena_strndup(c->arena, id, n);
	return c->cluster.node_id ? 0 : -1;
}

/*
 * How limits and quotas use the cluster (state/climits.h): `limits` and `quotas` are shared
 * (the default) or local, and `limits_on_failure` is local (rate/N per node) or closed (503).
 * Each keeps the word that is not the default as its bool.
 */
static int parse_choice(struct fng_conf *L, const struct fng_conf_node *v, bool *out,
	const char *what, const char *dflt, const char *other)
{
	const char *s = v ? fng__conf_str(L, v, what) : dflt;

	if (!s) {
		return -1;
	}
	if (strcmp(s, dflt) != 0 && strcmp(s, other) != 0) {
		fng__conf_err(L, v, "%s must be %s or %s, not \"%s\"", what, dflt, other, s);
		return -1;
	}
	*out = strcmp(s, other) == 0;
	return 0;
}

static int parse_limits(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return parse_choice(L, v, &((struct fng_config *)obj)->cluster_limits.local_limits,
		"cluster.limits", "shared", "local");
}

static int parse_quotas(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return parse_choice(L, v, &((struct fng_config *)obj)->cluster_limits.local_quotas,
		"cluster.quotas", "shared", "local");
}

static int parse_limits_failure(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return parse_choice(L, v, &((struct fng_config *)obj)->cluster_limits.limits_fail_closed,
		"cluster.limits_on_failure", "local", "closed");
}

/* cluster.shared_caches: a list of response and authorizer, each at most once. */
static int parse_shared(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_cluster_cfg *cc = &((struct fng_config *)obj)->cluster;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "cluster.shared_caches")) {
		return -1;
	}
	for (unsigned i = 0; i < v->n; i++) {
		const struct fng_conf_node *k = v->kids[i];
		const char *s = fng__conf_str(L, k, "cluster.shared_caches");
		bool *flag = NULL;

		if (!s) {
			return -1;
		}
		if (strcmp(s, "response") == 0) {
			flag = &cc->share_response;
		} else if (strcmp(s, "authorizer") == 0) {
			flag = &cc->share_authorizer;
		}
		if (!flag || *flag) {
			fng__conf_err(L, k, "cluster.shared_caches: \"%s\" %s (response, "
				"authorizer)", s, flag ? "twice" : "is not a shareable cache");
			return -1;
		}
		*flag = true;
	}
	return 0;
}

#define CL(f) offsetof(struct fng_config, cluster.f)
#define CLL(f) offsetof(struct fng_config, cluster_limits.f)

static const struct fng_conf_key cluster_keys[] = {
	{ "redis", FNG_CONF_FN, 0, .fn = parse_redis, .required = true },
	{ "password_file", FNG_CONF_FN, 0, .fn = parse_password_file },
	{ "database", FNG_CONF_U32, CL(database), .def = 0, .max = 15 },
	{ "key_prefix", FNG_CONF_FN, 0, .fn = parse_prefix },
	{ "node_id", FNG_CONF_FN, 0, .fn = parse_node_id },
	{ "connect_timeout_ms", FNG_CONF_U32, CL(connect_timeout_ms), .def = 1000, .min = 10,
		.max = 60000 },
	{ "command_timeout_ms", FNG_CONF_U32, CL(command_timeout_ms), .def = 200, .min = 1,
		.max = 60000 },
	{ "heartbeat_ms", FNG_CONF_U32, CL(heartbeat_ms), .def = 1000, .min = 50,
		.max = 600000 },
	{ "node_ttl_ms", FNG_CONF_U32, CL(node_ttl_ms), .def = 5000, .min = 100,
		.max = 3600000 },
	{ "reconnect_min_ms", FNG_CONF_U32, CL(reconnect_min_ms), .def = 100, .min = 10,
		.max = 600000 },
	{ "reconnect_max_ms", FNG_CONF_U32, CL(reconnect_max_ms), .def = 5000, .min = 10,
		.max = 600000 },
	{ "limits", FNG_CONF_FN, 0, .fn = parse_limits },
	{ "quotas", FNG_CONF_FN, 0, .fn = parse_quotas },
	{ "limits_on_failure", FNG_CONF_FN, 0, .fn = parse_limits_failure },
	{ "shared_caches", FNG_CONF_FN, 0, .fn = parse_shared },
	{ "shared_cache_entry_bytes", FNG_CONF_U32, CL(shared_entry_max), .def = 65536,
		.min = 256, .max = 16777216 },
	{ "lease", FNG_CONF_U32, CLL(lease), .def = 4, .min = 1, .max = 1000 },
	{ "lease_ms", FNG_CONF_U32, CLL(lease_ms), .def = 50, .min = 1, .max = 60000 },
	{ "expected_nodes", FNG_CONF_U32, CLL(expected_nodes), .def = 0, .max = 10000 },
	{ NULL },
};

static int parse_cluster(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	struct fng_cluster_cfg *cc = &c->cluster;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "cluster") ||
		fng__conf_apply(L, v, cluster_keys, obj, "cluster")) {
		return -1;
	}
	if (cc->node_ttl_ms <= cc->heartbeat_ms) {
		fng__conf_err(L, fng__conf_lookup(v, "node_ttl_ms"), "cluster.node_ttl_ms (%u) "
			"must be longer than cluster.heartbeat_ms (%u): a live node would expire "
			"between two heartbeats", cc->node_ttl_ms, cc->heartbeat_ms);
		return -1;
	}
	if (cc->reconnect_min_ms > cc->reconnect_max_ms) {
		fng__conf_err(L, fng__conf_lookup(v, "reconnect_min_ms"), "cluster."
			"reconnect_min_ms (%u) is more than cluster.reconnect_max_ms (%u)",
			cc->reconnect_min_ms, cc->reconnect_max_ms);
		return -1;
	}
	cc->on = true;
	return 0;
}

const struct fng_conf_module fng__cluster_conf = { "cluster", parse_cluster };

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool fng__cluster_cfg_same(const struct fng_cluster_cfg *a, const struct fng_cluster_cfg *b)
{
	return a->on == b->on && same_str(a->redis, b->redis) &&
		same_str(a->password, b->password) && a->database == b->database &&
		same_str(a->key_prefix, b->key_prefix) && same_str(a->node_id, b->node_id) &&
		a->connect_timeout_ms == b->connect_timeout_ms &&
		a->command_timeout_ms == b->command_timeout_ms &&
		a->heartbeat_ms == b->heartbeat_ms && a->node_ttl_ms == b->node_ttl_ms &&
		a->reconnect_min_ms == b->reconnect_min_ms &&
		a->reconnect_max_ms == b->reconnect_max_ms;
}
