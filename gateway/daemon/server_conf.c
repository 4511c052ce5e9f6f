// SPDX-License-Identifier: MIT
/*
 * The `server:` section: listen addresses, the Server header, the default API, and the
 * limits and timeouts the HTTP connection (http.c) and the prevalidator enforce.
 */
#include <stddef.h>
#include <sys/socket.h>

#include "conf.h"
#include "daemon.h"
#include "ip_policy.h"
#include "throttle.h"

#define OFF(member) offsetof(struct fng_config, member)

static int parse_listen(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		c->listen = fng__arena_alloc(c->arena, sizeof(char *));
		c->listen[0] = "127.0.0.1:8080";
		c->nlisten = 1;
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_SEQ, "listen")) {
		return -1;
	}
	if (v->n == 0 || v->n > 64) {
		fng__conf_err(L, v, "listen needs between 1 and 64 addresses");
		return -1;
	}
	c->listen = fng__arena_alloc(c->arena, v->n * sizeof(char *));
	for (unsigned i = 0; i < v->n; i++) {
		const char *s = fng__conf_str(L, v->kids[i], "listen address");
		struct sockaddr_storage ss;

		if (!s) {
			continue;
		}
		if (fng__config_parse_addr(s, &ss) != 0) {
			fng__conf_err(L, v->kids[i],
				"listen address \"%s\" must be IPv4:PORT or [IPv6]:PORT", s);
			continue;
		}
		c->listen[c->nlisten++] = s;
	}
	return 0;
}

static const struct fng_conf_key limits_keys[] = {
	{ "request_line_bytes", FNG_CONF_U32, OFF(limits.request_line_bytes), 8192, 64, 1 << 20 },
	{ "header_bytes", FNG_CONF_U32, OFF(limits.header_bytes), 32768, 256, 1 << 20 },
	{ "header_fields", FNG_CONF_U32, OFF(limits.header_fields), 100, 1, 10000 },
	{ "body_bytes", FNG_CONF_U64, OFF(limits.body_bytes), 10485760, 0, (uint64_t)1 << 40 },
	{ NULL },
};

static const struct fng_conf_key timeouts_keys[] = {
	{ "header_ms", FNG_CONF_U32, OFF(timeouts.header_ms), 10000, 1, 86400000 },
	{ "body_ms", FNG_CONF_U32, OFF(timeouts.body_ms), 30000, 1, 86400000 },
	{ "keepalive_ms", FNG_CONF_U32, OFF(timeouts.keepalive_ms), 75000, 1, 86400000 },
	{ "send_ms", FNG_CONF_U32, OFF(timeouts.send_ms), 60000, 1, 86400000 },
	{ "drain_ms", FNG_CONF_U32, OFF(timeouts.drain_ms), 10000, 0, 86400000 },
	{ NULL },
};

static int parse_limits(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return fng__conf_apply(L, v, limits_keys, obj, "server.limits");
}

static int parse_timeouts(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return fng__conf_apply(L, v, timeouts_keys, obj, "server.timeouts");
}

/* Checked here, resolved by server_finish once the APIs are known. */
static int parse_default_api(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return v && !fng__conf_str(L, v, "default_api") ? -1 : 0;
}

/* Where API keys and quota counters live (state/keydb.h); opened only when a plan needs it. */
static int parse_state_dir(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;
	const char *s = v ? fng__conf_str(L, v, "state_dir") : "/var/lib/fngate";

	if (!s) {
		return -1;
	}
	if (!*s) {
		fng__conf_err(L, v, "state_dir must not be empty");
		return -1;
	}
	c->state_dir = v ? fng__conf_relative(L, s) : s;
	return c->state_dir ? 0 : -1;
}

static const struct fng_conf_key server_keys[] = {
	{ "listen", FNG_CONF_FN, 0, .fn = parse_listen },
	{ "server_header", FNG_CONF_STR, OFF(server_header), .def_str = "fngate" },
	{ "default_api", FNG_CONF_FN, 0, .fn = parse_default_api },
	{ "limits", FNG_CONF_FN, 0, .fn = parse_limits },
	{ "timeouts", FNG_CONF_FN, 0, .fn = parse_timeouts },
	{ "trusted_proxies", FNG_CONF_FN, 0, .fn = fng__trusted_proxies_conf },
	{ "throttle", FNG_CONF_FN, 0, .fn = fng__server_throttle_conf },
	{ "state_dir", FNG_CONF_FN, 0, .fn = parse_state_dir },
	{ "tls", FNG_CONF_FN, 0, .fn = fng__server_tls_conf },
	{ "throttle_memory_bytes", FNG_CONF_U64, OFF(throttle.memory_bytes), (uint64_t)64 << 20,
		4096, (uint64_t)1 << 40 },
	{ NULL },
};

static int parse_server(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	return fng__conf_apply(L, v, server_keys, obj, "server");
}

/* default_api names an API (apis come after server); a lone API is the default one. */
static void server_finish(struct fng_conf *L)
{
	struct fng_config *c = L->cfg;
	const struct fng_conf_node *v =
		fng__conf_lookup(fng__conf_lookup(L->root, "server"), "default_api");

	if (v) {
		c->default_api = fng__config_api(c, (struct fng_str){ v->s, v->len });
		if (!c->default_api) {
			fng__conf_err(L, v, "default_api names unknown API \"%s\"", v->s);
		}
	} else if (c->napis == 1) {
		c->default_api = &c->apis[0];
	}
}

const struct fng_conf_module fng__server_conf = { "server", parse_server, server_finish };
