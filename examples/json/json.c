// SPDX-License-Identifier: MIT
/*
 * json: parses a JSON body and computes on it. POST {"numbers": [1, 2, 3.5]} answers
 * {"count":3,"sum":6.5,"mean":2.1666...,"min":1,"max":3.5}; anything else is a 400 naming the
 * problem. Shows a handler using a library (jansson) — its .so is loaded before the sandbox
 * locks, like the handler itself.
 *
 *     cc -shared -fPIC -o json.so json.c $(pkg-config --cflags --libs fngate jansson)
 */
#include <fngate.h>
#include <jansson.h>

/*
 * jansson seeds its hash tables from /dev/urandom on first use; the sandbox forbids opening
 * files once the handler serves, so seed it here, while the init hook may still do such
 * things. (Learn mode — `learn: true` in json.yaml — is how one finds such a call.)
 */
static int init(void)
{
	json_object_seed(0);
	return 0;
}

static int bad(struct fng_ctx *ctx, const char *why)
{
	return fng_response_json(ctx, 400, "{\"message\":\"%s\"}\n", fng_json_str(ctx, why));
}

static int stats(struct fng_ctx *ctx)
{
	size_t len, i;
	const char *body = fng_event_body(ctx, &len);
	json_error_t jerr;
	json_t *doc, *numbers, *v;
	double sum = 0, min = 0, max = 0;
	int rc;

	doc = json_loadb(body, len, 0, &jerr);
	if (!doc) {
		return bad(ctx, jerr.text);
	}
	numbers = json_object_get(doc, "numbers");
	if (!json_is_array(numbers) || json_array_size(numbers) == 0) {
		json_decref(doc);
		return bad(ctx, "expected {\"numbers\": [...]} with at least one number");
	}
	json_array_foreach(numbers, i, v) {
		double x;

		if (!json_is_number(v)) {
			json_decref(doc);
			return bad(ctx, "numbers must contain only numbers");
		}
		x = json_number_value(v);
		sum += x;
		min = i == 0 || x < min ? x : min;
		max = i == 0 || x > max ? x : max;
	}
	rc = fng_response_json(ctx, 200,
		"{\"count\":%zu,\"sum\":%.17g,\"mean\":%.17g,\"min\":%.17g,\"max\":%.17g}\n",
		json_array_size(numbers), sum, sum / (double)json_array_size(numbers), min, max);
	json_decref(doc);
	return rc;
}

FNG_HANDLER_EX(stats, init, NULL)
