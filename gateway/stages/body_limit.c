// SPDX-License-Identifier: MIT
/*
 * Stage "body_limit" (head phase): a declared body over the stage's limit is refused before
 * it is read (a chunked body is held to the limit as it arrives, by the connection).
 */
#include "errors.h"
#include "stages.h"

static int body_limit(struct fng_req *req)
{
	if (req->has_body && !req->chunked && req->content_length > req->body_limit) {
		req->error_detail = "request body exceeds the stage's body limit";
		return FNG_EBODY_TOO_LARGE;
	}
	return FNG_STAGE_NEXT;
}

const struct fng_stage_def fng__stage_body_limit = {
	.name = "body_limit",
	.run = body_limit,
	.phase = FNG_PHASE_HEAD,
};
