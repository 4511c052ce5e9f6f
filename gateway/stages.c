// SPDX-License-Identifier: MIT
/*
 * The request path. Every request, answered or refused, walks the stage table below in
 * order; the table is the design (nginx's phases). Head-phase stages decide from the request
 * head alone, so a request that will be refused is refused before its body is read;
 * body-phase stages see the whole body; final stages run for every request. The engine that
 * runs it is engine.c; each stage is a module in a file of its own.
 */
#include <stdio.h>
#include <time.h>
#include <uv.h>

#include "errors.h"
#include "stages.h"

static void log_str(struct fng_buf *b, const char *key, const char *v, size_t n, bool *first)
{
	fng__buf_printf(b, "%s\"%s\":\"", *first ? "" : ",", key);
	fng__buf_json_escape(b, v, n);
	fng__buf_append(b, "\"", 1);
	*first = false;
}

static void log_num(struct fng_buf *b, const char *key, int64_t v, bool *first)
{
	fng__buf_printf(b, "%s\"%s\":%lld", *first ? "" : ",", key, (long long)v);
	*first = false;
}

static int stage_access_log(struct fng_req *req)
{
	const struct fng_config *cfg = req->cfg;
	struct fng_buf line = { 0 };
	bool first = true;
	uint64_t now = uv_hrtime();

	if (!cfg->access_log.path || !req->ops->log) {
		return FNG_STAGE_NEXT;
	}
	fng__buf_append(&line, "{", 1);
	for (unsigned i = 0; i < cfg->access_log.nfields; i++) {
		const char *key = fng__log_field_names[cfg->access_log.fields[i]];

		switch ((enum fng_log_field)cfg->access_log.fields[i]) {
		case FNG_LOG_TIME: {
			struct timespec ts;
			struct tm tm;
			char t[64];

			clock_gettime(CLOCK_REALTIME, &ts);
			gmtime_r(&ts.tv_sec, &tm);
			snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
				tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
				tm.tm_sec, ts.tv_nsec / 1000000);
			log_str(&line, key, t, strlen(t), &first);
			break;
		}
		case FNG_LOG_REQUEST_ID:
			log_str(&line, key, req->request_id, req->request_id_len, &first);
			break;
		case FNG_LOG_IP:
			log_str(&line, key, req->ip, strlen(req->ip), &first);
			break;
		case FNG_LOG_METHOD:
			log_str(&line, key, req->method.p, req->method.len, &first);
			break;
		case FNG_LOG_PATH:
			log_str(&line, key, req->path.p, req->path.len, &first);
			break;
		case FNG_LOG_PROTOCOL:
			log_str(&line, key, req->http_minor ? "HTTP/1.1" : "HTTP/1.0", 8, &first);
			break;
		case FNG_LOG_ROUTE_KEY: {
			const char *k = req->match.route ? req->match.route->key : "";

			log_str(&line, key, k, strlen(k), &first);
			break;
		}
		case FNG_LOG_API: {
			const char *k = req->api ? req->api->name : "";

			log_str(&line, key, k, strlen(k), &first);
			break;
		}
		case FNG_LOG_STAGE: {
			const char *k = req->stage ? req->stage->name : "";

			log_str(&line, key, k, strlen(k), &first);
			break;
		}
		case FNG_LOG_STATUS:
			log_num(&line, key, req->conn || req->responded ? req->resp.status : 499,
				&first);
			break;
		case FNG_LOG_BYTES_IN:
			log_num(&line, key, (int64_t)req->bytes_in, &first);
			break;
		case FNG_LOG_BYTES_OUT:
			log_num(&line, key, (int64_t)req->bytes_out, &first);
			break;
		case FNG_LOG_LATENCY:
			log_num(&line, key, (int64_t)((now - req->t_start) / 1000), &first);
			break;
		case FNG_LOG_INTEGRATION_LATENCY:
			log_num(&line, key,
				req->t_integration_end
					? (int64_t)((req->t_integration_end - req->t_integration_start) / 1000)
					: -1,
				&first);
			break;
		case FNG_LOG_INTEGRATION_STATUS: {
			char s[16] = "";

			if (req->integration_status) {
				snprintf(s, sizeof(s), "%d", req->integration_status);
			}
			log_str(&line, key, s, strlen(s), &first);
			break;
		}
		case FNG_LOG_USER_AGENT: {
			const struct fng_header *h = fng__req_header(req, "user-agent", 10);

			log_str(&line, key, h ? h->value.p : "", h ? h->value.len : 0, &first);
			break;
		}
		case FNG_LOG_ERROR: {
			const char *e = "";

			if (req->error) {
				e = req->error_detail ? req->error_detail : fng_strerror(req->error);
			}
			log_str(&line, key, e, strlen(e), &first);
			break;
		}
		case FNG_LOG__COUNT:
			break;
		}
	}
	fng__buf_append(&line, "}", 1);
	if (line.p) {
		req->ops->log(req, line.p, line.len);
	}
	fng__buf_finish(&line);
	return FNG_STAGE_NEXT;
}

const struct fng_stage_def fng__stage_access_log = {
	.name = "access_log",
	.run = stage_access_log,
	.phase = FNG_PHASE_FINAL,
};

/*
 * The request path, in order: the only list of stages. A new stage is a file of its own
 * (stage_NAME.c, exporting its `const struct fng_stage_def fng__stage_NAME`) and one line
 * here. Stages still to come slot in where the comments stand.
 */
#define STAGES(X)                                                                          \
	/* head phase */                                                                  \
	X(endpoint)                                                                        \
	/* resource policy (IP/CIDR) */                                                   \
	X(route)                                                                           \
	/* CORS preflight, API key, authorizer, throttle */                               \
	X(body_limit)                                                                      \
	/* body phase: request validation, cache lookup */                                \
	X(integration)                                                                     \
	/* response transforms, cache store */                                            \
	/* final phase: every request, answered or refused */                             \
	X(respond)                                                                         \
	X(access_log)

#define DECLARE(name) extern const struct fng_stage_def fng__stage_##name;
STAGES(DECLARE)

#define ENTRY(name) &fng__stage_##name,
const struct fng_stage_def *const fng__stages[] = { STAGES(ENTRY) };

const unsigned fng__nstages = sizeof(fng__stages) / sizeof(fng__stages[0]);
