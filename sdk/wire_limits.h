/* SPDX-License-Identifier: MIT */
#ifndef FNG_SDK_WIRE_LIMITS_H
#define FNG_SDK_WIRE_LIMITS_H

/*
 * Caps the wire codec enforces on both sides (docs/protocol.md, "Caps"). Encoders refuse to
 * write past them (-EMSGSIZE) and decoders refuse to read past them (-EPROTO), so whatever
 * one side encodes the other can decode. Internal, not installed.
 */

/* Containers nested inside a body, the body's own map included. */
#define FNG_WIRE_MAX_DEPTH 16
/*
 * msgpack objects in one body, counting map keys and values separately. msgpack-c allocates
 * 24 bytes per object of a container, so this bounds what one decode asks of the allocator
 * (~400 KiB) whatever the frame size.
 */
#define FNG_WIRE_MAX_OBJECTS 16384
/* Request headers (INVOKE) and response headers (RESULT): [name, value] pairs. */
#define FNG_WIRE_MAX_HEADERS 1000
/* Query parameters: [name, value] pairs. */
#define FNG_WIRE_MAX_QUERY 1000
/* Cookies in an event, Set-Cookie values in a result. */
#define FNG_WIRE_MAX_COOKIES 1000
/* Path parameters of the matched route. */
#define FNG_WIRE_MAX_PARAMS 100
/* Stage variables; values the authorizer attached. */
#define FNG_WIRE_MAX_VARS 1000
/* Bytes in a LOG message (fng_log() truncates to fit). */
#define FNG_WIRE_MAX_LOG 8192
/* Bytes in the handler name of READY. */
#define FNG_WIRE_MAX_NAME 255
/* A WebSocket connection id in WS_SEND / WS_CLOSE, and a close reason (125 - the code). */
#define FNG_WIRE_MAX_CONNECTION_ID 64
#define FNG_WIRE_MAX_CLOSE_REASON 123
/* A topic name in WS_PUBLISH / WS_SUBSCRIBE / WS_UNSUBSCRIBE. */
#define FNG_WIRE_MAX_TOPIC 128
/*
 * An AUTHORIZER event's identity sources; an authorizer's answer (RESULT's `authorizer`): its
 * context entries, the bytes of a context key and of a string value, and of principalId and
 * usageIdentifierKey. They bound what the gateway keeps per identity in its cache.
 */
#define FNG_WIRE_MAX_IDENTITY 16
#define FNG_WIRE_MAX_AUTHZ_CONTEXT 64
#define FNG_WIRE_MAX_AUTHZ_KEY 128
#define FNG_WIRE_MAX_AUTHZ_VALUE 1024
#define FNG_WIRE_MAX_AUTHZ_ID 1024
/* Subject alternative names of a client certificate (requestContext.identity.clientCert). */
#define FNG_WIRE_MAX_SANS 64
/*
 * RESULT's `cost`: the CPU time of one invocation (a day: far above any deadline, below any
 * overflow when summed) and the worker's peak resident set in KiB (1 TiB).
 */
#define FNG_WIRE_MAX_CPU_US (86400ull * 1000000)
#define FNG_WIRE_MAX_RSS_KB (1ull << 30)

#endif
