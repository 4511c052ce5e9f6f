/* SPDX-License-Identifier: MIT */
#ifndef FNG_GATEWAY_CORS_H
#define FNG_GATEWAY_CORS_H

#include "conf.h"
#include "origin.h"

/*
 * An API's CORS settings (cors.c), compiled when the configuration loads: the lists as the
 * request path checks them and the header values it sends, already joined.
 */
struct fng_cors {
	struct fng_origin_set origins;
	const char **methods;        /* as written (methods are case-sensitive) */
	unsigned nmethods;
	bool any_method;             /* "*" */
	const char **headers;        /* lower case */
	unsigned nheaders;
	bool any_header;             /* "*" */
	const char *methods_value;   /* "GET, HEAD, POST"; NULL with any_method */
	const char *expose_value;    /* NULL: none */
	const char *max_age_value;   /* NULL: not sent */
	uint64_t max_age_s;          /* UINT64_MAX: not set */
	bool credentials;
};

/* The `cors` row of an API (obj: struct fng_api). */
int fng__cors_conf(struct fng_conf *L, const struct fng_conf_node *v, void *obj);

#endif
