// SPDX-License-Identifier: MIT
/*
 * echo: answers with the event it received, as JSON — handy to see what a handler gets
 * (method, path, route key, parameters, headers, body).
 *
 *     cc -shared -fPIC -o echo.so echo.c $(pkg-config --cflags --libs fngate)
 */
#include <fngate.h>

static const char *const headers[] = { "host", "user-agent", "content-type", "accept" };

static int echo(struct fng_ctx *ctx)
{
	const char *proxy = fng_event_path_param(ctx, "proxy");
	size_t len;
	const char *body = fng_event_body(ctx, &len);

	fng_response_json(ctx, 200,
		"{\"method\":\"%s\",\"rawPath\":\"%s\",\"rawQueryString\":\"%s\",\"routeKey\":\"%s\","
		"\"stage\":\"%s\",\"requestId\":\"%s\",\"sourceIp\":\"%s\",\"proxy\":\"%s\","
		"\"headers\":{",
		fng_event_method(ctx), fng_json_str(ctx, fng_event_raw_path(ctx)),
		fng_json_str(ctx, fng_event_raw_query(ctx)), fng_json_str(ctx, fng_event_route_key(ctx)),
		fng_json_str(ctx, fng_event_stage(ctx)), fng_json_str(ctx, fng_event_request_id(ctx)),
		fng_json_str(ctx, fng_event_source_ip(ctx)), fng_json_str(ctx, proxy ? proxy : ""));
	for (size_t i = 0, n = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		const char *v = fng_event_header(ctx, headers[i]);

		if (v) {
			fng_response_printf(ctx, "%s\"%s\":\"%s\"", n++ ? "," : "", headers[i],
				fng_json_str(ctx, v));
		}
	}
	/* The body as a JSON string; NUL bytes become spaces, the first 4 KiB are shown. */
	fng_response_printf(ctx, "},\"bodyLength\":%zu,\"body\":\"", len);
	if (len) {
		char buf[4096];
		size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;

		for (size_t i = 0; i < n; i++) {
			buf[i] = body[i] ? body[i] : ' ';
		}
		buf[n] = '\0';
		fng_response_printf(ctx, "%s", fng_json_str(ctx, buf));
	}
	return fng_response_printf(ctx, "\"}\n") < 0 ? -1 : 0;
}

FNG_HANDLER(echo)
