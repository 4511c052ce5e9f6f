// SPDX-License-Identifier: MIT
/*
 * For `fngate invoke`'s response shapes: a header given twice, two cookies, and a body of
 * three bytes that are not UTF-8 when the query has `binary`; for a WebSocket event its type,
 * connection id and message id; the request's method, path, every value of query parameter
 * `tag` and of header `x-multi` otherwise, as text.
 */
#include "fngate.h"

static int shapes(struct fng_ctx *ctx)
{
	static const unsigned char bin[] = { 0xff, 0x00, 0x80 };
	const char *v;

	fng_response_status(ctx, 200);
	fng_response_header(ctx, "x-a", "1");
	fng_response_header(ctx, "x-a", "2");
	fng_response_cookie(ctx, "a=1");
	fng_response_cookie(ctx, "b=2");
	if (fng_event_query(ctx, "binary")) {
		return fng_response_write(ctx, bin, sizeof(bin));
	}
	v = fng_event_type(ctx);
	if (v && *v) {
		/* A WebSocket event. */
		return fng_response_printf(ctx, "%s %s %s", v, fng_event_connection_id(ctx),
			fng_event_message_id(ctx));
	}
	fng_response_printf(ctx, "%s %s", fng_event_method(ctx), fng_event_raw_path(ctx));
	for (size_t i = 0; (v = fng_event_query_n(ctx, "tag", i)); i++) {
		fng_response_printf(ctx, " tag=%s", v);
	}
	for (size_t i = 0; (v = fng_event_header_n(ctx, "x-multi", i)); i++) {
		fng_response_printf(ctx, " x-multi=%s", v);
	}
	return 0;
}
FNG_HANDLER(shapes)
