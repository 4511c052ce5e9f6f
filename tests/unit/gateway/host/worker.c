// SPDX-License-Identifier: MIT
/*
 * Unit tests for the worker state machine of the function host (gateway/host/dispatch.c,
 * gateway/host/pool.c): which frame a worker may send in which state (the dispatch table:
 * anything else kills the worker), the state a worker moves to once it answered (busy while
 * its pipeline holds more, recycled when its generation retired or it reached
 * max_invocations, else idle), and the invariant between a worker's state and its slots that
 * debug builds assert after every transition. Real workers, the supervisor and the wire are
 * covered by tests/integration/test_functions.py and test_hostile_*.py.
 */
#include "harness.h"
#include "host.h"

static const char *const names[] = { "SPAWNING", "STARTING", "IDLE", "BUSY", "RETIRING",
	"DEAD" };

static void frames(void)
{
	/* From a worker: type → the one state it may arrive in. */
	static const struct {
		uint8_t type;
		enum wstate state;
	} allowed[] = {
		{ FNG_WIRE_READY, W_STARTING },
		{ FNG_WIRE_RESULT, W_BUSY },
		{ FNG_WIRE_LOG, W_BUSY },
		{ FNG_WIRE_WS_SEND, W_BUSY },
		{ FNG_WIRE_WS_CLOSE, W_BUSY },
		{ FNG_WIRE_WS_PUBLISH, W_BUSY },
		{ FNG_WIRE_WS_SUBSCRIBE, W_BUSY },
		{ FNG_WIRE_WS_UNSUBSCRIBE, W_BUSY },
	};
	/* The gateway's own frames and unknown ones: never, whatever the state. */
	static const uint8_t never[] = { 0, FNG_WIRE_INVOKE, FNG_WIRE_SHUTDOWN, 11, 200, 255 };

	CHECK_INT(sizeof(names) / sizeof(names[0]), W__COUNT, "every state has a name here");
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		for (int s = 0; s < W__COUNT; s++) {
			bool want = s == (int)allowed[i].state;

			CHECK(fng__host_frame_allowed(allowed[i].type, s) == want,
				"frame %u %s while %s", allowed[i].type, want ? "allowed" : "refused",
				names[s]);
		}
	}
	for (size_t i = 0; i < sizeof(never); i++) {
		bool any = false;

		for (int s = 0; s < W__COUNT; s++) {
			any |= fng__host_frame_allowed(never[i], s);
		}
		CHECK(!any, "frame %u is refused in every state", never[i]);
	}
}

static void next_state(void)
{
	struct fng_gen g = { .limits.max_invocations = 3 };
	struct fng_worker w = { .gen = &g, .state = W_BUSY, .invocations = 1, .nslots = 2 };

	CHECK_INT(fng__host_next_state(&w), W_BUSY, "more invocations in its pipeline: busy");
	w.nslots = 0;
	CHECK_INT(fng__host_next_state(&w), W_IDLE, "its pipeline empty: idle");
	w.invocations = 3;
	CHECK_INT(fng__host_next_state(&w), W_RETIRING, "max_invocations reached: recycled");
	w.invocations = 4;
	CHECK_INT(fng__host_next_state(&w), W_RETIRING, "and beyond");
	w.nslots = 1;
	CHECK_INT(fng__host_next_state(&w), W_BUSY, "but not while invocations wait behind");
	w.nslots = 0;
	w.invocations = 0;
	g.retired = true;
	CHECK_INT(fng__host_next_state(&w), W_RETIRING, "a retired generation: recycled");
}

static void invariants(void)
{
	struct fng_worker w = { 0 };

	for (int s = 0; s < W__COUNT; s++) {
		w.state = s;
		w.nslots = 0;
		CHECK(fng__host_worker_ok(&w) == (s != W_BUSY), "%s with no invocation: %s",
			names[s], s != W_BUSY ? "fine" : "broken");
		w.nslots = 1;
		CHECK(fng__host_worker_ok(&w) == (s == W_BUSY || s == W_DEAD),
			"%s with one invocation: %s", names[s],
			s == W_BUSY || s == W_DEAD ? "fine" : "broken");
	}
	w.state = W_BUSY;
	w.nslots = MAX_PIPELINE;
	CHECK(fng__host_worker_ok(&w), "a full pipeline is fine");
	w.nslots = MAX_PIPELINE + 1;
	CHECK(!fng__host_worker_ok(&w), "one more than it holds is not");
	w.state = W__COUNT;
	w.nslots = 0;
	CHECK(!fng__host_worker_ok(&w), "a state out of range is not");
}

int main(void)
{
	frames();
	next_state();
	invariants();
	return fng_test_done();
}
