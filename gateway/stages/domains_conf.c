// SPDX-License-Identifier: MIT
/*
 * The `domains:` section: custom domain names, each mapping base paths to a stage of an API
 * (API Gateway's base path mappings), and the lookup of a request's Host among them.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chars.h"
#include "conf.h"

struct raw_mapping {
	const char *base_path, *api, *stage;
};

static const struct fng_conf_key mapping_keys[] = {
	{ "base_path", FNG_CONF_STR, offsetof(struct raw_mapping, base_path), .def_str = "/" },
	{ "api", FNG_CONF_STR, offsetof(struct raw_mapping, api), .required = true },
	{ "stage", FNG_CONF_STR, offsetof(struct raw_mapping, stage), .required = true },
	{ NULL },
};

static int cmp_mapping(const void *a, const void *b)
{
	const struct fng_mapping *x = a, *y = b;

	return x->base_len < y->base_len ? 1 : x->base_len > y->base_len ? -1 : 0;
}

static int parse_domains(struct fng_conf *L, const struct fng_conf_node *v, void *obj)
{
	struct fng_config *c = obj;

	if (!v) {
		return 0;
	}
	if (!fng__conf_want(L, v, FNG_CONF_MAP, "domains")) {
		return -1;
	}
	c->domains = fng__arena_zalloc(c->arena, (v->n / 2 + 1) * sizeof(*c->domains));
	for (unsigned i = 0; i < v->n; i += 2) {
		const struct fng_conf_node *k = v->kids[i], *list = v->kids[i + 1];
		struct fng_domain *d = &c->domains[c->ndomains];
		char *host;

		memset(d, 0, sizeof(*d));
		if (!fng__conf_want(L, k, FNG_CONF_SCALAR, "domain name") ||
			!fng__conf_want(L, list, FNG_CONF_SEQ, "domain")) {
			continue;
		}
		host = fng__arena_strndup(c->arena, k->s, k->len);
		fng__lower_n(host, k->len);
		for (size_t j = 0; j < k->len; j++) {
			if (!fng__is_dns_char((unsigned char)host[j])) {
				fng__conf_err(L, k, "invalid domain name \"%s\"", k->s);
				break;
			}
		}
		for (unsigned j = 0; j < i; j += 2) {
			if (strcasecmp(v->kids[j]->s, k->s) == 0) {
				fng__conf_err(L, k, "duplicate domain \"%s\"", k->s);
			}
		}
		d->host = host;
		d->host_len = k->len;
		d->maps = fng__arena_zalloc(c->arena, (list->n + 1) * sizeof(*d->maps));
		for (unsigned j = 0; j < list->n; j++) {
			struct raw_mapping raw;
			struct fng_mapping *m = &d->maps[d->nmaps];
			const struct fng_api *api;
			size_t bl;

			memset(m, 0, sizeof(*m));
			if (fng__conf_apply(L, list->kids[j], mapping_keys, &raw,
				    "base path mapping")) {
				continue;
			}
			bl = strlen(raw.base_path);
			if (raw.base_path[0] != '/' || (bl > 1 && raw.base_path[bl - 1] == '/') ||
				strpbrk(raw.base_path, "?#{} ")) {
				fng__conf_err(L, list->kids[j],
					"base_path \"%s\" must start with / and not end with /",
					raw.base_path);
				continue;
			}
			api = fng__config_api(c, (struct fng_str){ raw.api, strlen(raw.api) });
			if (!api) {
				fng__conf_err(L, list->kids[j], "unknown API \"%s\"", raw.api);
				continue;
			}
			m->api = api;
			m->stage = fng__api_stage(api,
				(struct fng_str){ raw.stage, strlen(raw.stage) });
			if (!m->stage) {
				fng__conf_err(L, list->kids[j], "API \"%s\" has no stage \"%s\"",
					raw.api, raw.stage);
				continue;
			}
			m->base_path = bl == 1 ? "" : raw.base_path;
			m->base_len = bl == 1 ? 0 : bl;
			for (unsigned x = 0; x < d->nmaps; x++) {
				const struct fng_mapping *o = &d->maps[x];

				if (o->base_len == m->base_len &&
					memcmp(o->base_path, m->base_path, m->base_len) == 0) {
					fng__conf_err(L, list->kids[j],
						"duplicate base_path \"%s\"", raw.base_path);
				}
			}
			d->nmaps++;
		}
		qsort(d->maps, d->nmaps, sizeof(*d->maps), cmp_mapping);
		c->ndomains++;
	}
	return 0;
}

const struct fng_conf_module fng__domains_conf = { "domains", parse_domains };

