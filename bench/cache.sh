#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Response cache benchmark, two parts.
#
# Hit vs mock: one daemon, side by side, wrk rounds. `mock` is a mock route on a stage without
# a cache; `hit` is a function route (bench/cache_fn.c, built the way a user builds a handler)
# on a stage with `cache: { ttl_s: 3600 }`, warmed once, so every request of the run is a hit
# (checked: `x-cache: hit` and the mock's body before the rounds, no miss in the admin API's
# counters after); `bypass` is the mock route on the cached stage with the route's cache off
# (`x-cache: bypass`: what a cached stage costs a route it does not cache). Both answers carry
# the same 100-byte JSON body. Target: hit ≥ 0.95× mock req/s.
#
# Thundering herd: a second daemon, with an access log, serves the same handler built to sleep
# 200 ms on a stage with `cache: { ttl_s: 1 }`; 1000 keep-alive clients (h2load --h1) ask for
# one key as fast as they get answers for HERD_SECONDS, across several expiries. Each access
# log line with an integrationStatus is an invocation that answered (integrationLatencyUs ≥ 0
# alone is not: a queued request cancelled because its client left has one too, and no status):
# invocations vs requests, per expiry. Then the same herd on a route of that stage with
# `cache: { enabled: false }`, for contrast, and the admin API's `/@cache` counters of the stage.
#
#   bench/cache.sh            run, print the markdown section on stdout
#   bench/cache.sh --write    also replace the cache section of docs/BENCHMARKS.md
#
# Environment:
#   ROUNDS=3        wrk rounds; every variant runs once per round, the order rotating
#   DURATION=10     seconds per wrk run
#   WARMUP=2        seconds of an unrecorded run per variant first (0: none)
#   THREADS=1       wrk threads
#   CONNS=64        wrk connections
#   QUIET_WAIT=60   wait up to this long for a quiet machine before each run (bench/runwrk.py)
#   HERD_CLIENTS=1000  h2load connections of the herd
#   HERD_SECONDS=10    seconds of each herd run
#   HERD_TTL=1         the herd stage's ttl_s
#   HERD_SLEEP_MS=200  what the herd's function takes
#   HERD_CONCURRENCY=2 the herd function's workers
#   BUILD_DIR=build meson build directory
#   KEEP_RESULTS=dir
#                   copy the raw results there; `python3 bench/cachereport.py DIR` re-reports
#
# Needs: wrk, h2load, python3, cc, pkg-config, meson + ninja. Every process started here is
# stopped by pid on exit.
set -eu

HERD_CLIENTS=${HERD_CLIENTS:-1000}
HERD_SECONDS=${HERD_SECONDS:-10}
HERD_TTL=${HERD_TTL:-1}
HERD_SLEEP_MS=${HERD_SLEEP_MS:-200}
HERD_CONCURRENCY=${HERD_CONCURRENCY:-2}
BUILD_DIR=${BUILD_DIR:-build}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_NAME=cache.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_wrk_env
bench_args "$@"

for tool in wrk h2load python3 cc pkg-config; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
[ "$(ulimit -n)" -gt $((HERD_CLIENTS + 100)) ] ||
	die "the open-file limit $(ulimit -n) is too low for $HERD_CLIENTS clients"

bench_tmp fngate-cache
RESULTS=$TMP/results
mkdir -p "$RESULTS/wrk"
bench_fngate_build

# The handler, built the way a user builds one: fast for the hits, slow for the herd.
mkdir -p "$TMP/fn-main" "$TMP/fn-herd"
SDK=$(PKG_CONFIG_PATH="$ROOT/$BUILD_DIR/meson-uninstalled" pkg-config --cflags --libs fngate)
# shellcheck disable=SC2086 # SDK is a list of flags
cc -shared -fPIC -O2 -o "$TMP/fn-main/fast.so" bench/cache_fn.c $SDK
# shellcheck disable=SC2086
cc -shared -fPIC -O2 -DSLEEP_MS="$HERD_SLEEP_MS" -o "$TMP/fn-herd/slow.so" bench/cache_fn.c $SDK
printf 'concurrency: %s\n' "$HERD_CONCURRENCY" >"$TMP/fn-herd/slow.yaml"
chmod 755 "$TMP" "$TMP/fn-main" "$TMP/fn-herd"

# The handler's body, byte for byte (bench/cache_fn.c).
BODY='{"id":"item-0001","name":"bench item","price":1999,"currency":"EUR",'
BODY+='"tags":["a","b"],"stock":42000}'
YBODY=${BODY//\"/\\\"}
MOCK="{ type: mock, headers: { content-type: application/json }, body: \"$YBODY\\n\" }"
TOKEN=bench-cache-admin-token-0123456789
ADMIN_PORT=$(free_port)

{
	printf 'server:\n  listen: ["127.0.0.1:0"]\naccess_log: { path: "off" }\n'
	printf 'functions: { dir: "%s" }\n' "$TMP/fn-main"
	printf 'apis:\n  bench:\n    stages:\n      plain: {}\n'
	printf '      cached: { cache: { ttl_s: 3600 } }\n'
	printf '    routes:\n'
	printf '      "GET /m":\n        integration: %s\n' "$MOCK"
	printf '      "GET /mb":\n        integration: %s\n        cache: { enabled: false }\n' "$MOCK"
	printf '      "GET /fast":\n        integration: { type: function, function: fast }\n'
	printf 'admin: { listen: "127.0.0.1:%s", token: "%s" }\n' "$ADMIN_PORT" "$TOKEN"
} >"$TMP/main.yaml"
fngate_start main "$TMP/main.yaml" 1
MAIN_PID=$FNGATE_PID
MAIN_PORT=$FNGATE_PORT

HERD_ADMIN_PORT=$(free_port)
{
	printf 'server:\n  listen: ["127.0.0.1:0"]\n'
	printf 'access_log:\n  path: "%s"\n' "$TMP/access.log"
	printf '  fields: [path, status, integrationLatencyUs, integrationStatus]\n'
	printf 'functions: { dir: "%s" }\n' "$TMP/fn-herd"
	printf 'apis:\n  bench:\n    stages:\n      herd: { cache: { ttl_s: %s } }\n' "$HERD_TTL"
	printf '    routes:\n'
	printf '      "GET /slow":\n        integration: { type: function, function: slow }\n'
	printf '      "GET /slownc":\n        integration: { type: function, function: slow }\n'
	printf '        cache: { enabled: false }\n'
	printf 'admin: { listen: "127.0.0.1:%s", token: "%s" }\n' "$HERD_ADMIN_PORT" "$TOKEN"
} >"$TMP/herd.yaml"
fngate_start herd "$TMP/herd.yaml" 1
HERD_PID=$FNGATE_PID
HERD_PORT=$FNGATE_PORT

VARIANTS="mock hit bypass"
path_of() {
	case $1 in
	mock) echo /plain/m ;;
	hit) echo /cached/fast ;;
	bypass) echo /cached/mb ;;
	esac
}

# get PORT PATH: "STATUS X-CACHE BODY-MATCHES" of one request (x-cache "-" when absent), and
# the raw answer in $RESULTS/response-PATH.txt
get() {
	python3 - "$1" "$2" "$BODY" "$RESULTS/response-$(echo "$2" | tr / _).txt" <<'PY'
import socket, sys
port, path, body, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
buf = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    buf += d
open(out, "wb").write(buf)
head, _, got = buf.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
xc = [l.split(":", 1)[1].strip() for l in lines[1:] if l.lower().startswith("x-cache:")]
print(lines[0].split()[1], xc[0] if xc else "-", got == (body + "\n").encode())
PY
}

# Before anything is measured: the mock answers the body without x-cache; the function's first
# answer is a miss and its second a hit with the same body; the bypass route says so.
out=$(get "$MAIN_PORT" /plain/m)
[ "$out" = "200 - True" ] || die "mock: unexpected answer: $out"
out=$(get "$MAIN_PORT" /cached/fast)
[ "$out" = "200 miss True" ] || die "hit: the first request is not a miss: $out"
out=$(get "$MAIN_PORT" /cached/fast)
[ "$out" = "200 hit True" ] || die "hit: the second request is not a hit: $out"
out=$(get "$MAIN_PORT" /cached/mb)
[ "$out" = "200 bypass True" ] || die "bypass: unexpected answer: $out"

run_wrk() { # VARIANT SECONDS OUT
	python3 bench/runwrk.py --wait-quiet "$QUIET_WAIT" "$MAIN_PID" "$3" -- \
		wrk -t"$THREADS" -c"$CONNS" -d"$2"s --latency \
		"http://127.0.0.1:$MAIN_PORT$(path_of "$1")"
	if grep -q 'Non-2xx or 3xx responses' "$3"; then
		cat "$3" >&2
		die "$1: non-2xx answers in $3"
	fi
}

if [ "$WARMUP" -gt 0 ]; then
	for v in $VARIANTS; do
		run_wrk "$v" "$WARMUP" "$TMP/warmup-$v.txt"
	done
fi
bench_rounds run_wrk

admin_cache() { # PORT OUT
	curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$1/@cache" >"$2" ||
		die "GET /@cache on port $1 failed"
}
# Every request of the hit runs was a hit: the one miss is the check's.
admin_cache "$ADMIN_PORT" "$RESULTS/admin-main.json"

# The herd: each run alone on the herd daemon, the access log telling whose request ran the
# function (the path tells the runs apart).
herd() { # NAME PATH
	log "herd $1: $HERD_CLIENTS clients on $2 for ${HERD_SECONDS}s"
	wait_quiet "$QUIET_WAIT" >/dev/null
	h2load --h1 -c "$HERD_CLIENTS" -t 1 -D "$HERD_SECONDS" \
		"http://127.0.0.1:$HERD_PORT$2" >"$RESULTS/herd-$1.txt" 2>&1 ||
		{ cat "$RESULTS/herd-$1.txt" >&2; die "herd $1: h2load failed"; }
}
herd cached /herd/slow
herd nocache /herd/slownc
admin_cache "$HERD_ADMIN_PORT" "$RESULTS/admin-herd.json"

for p in "$MAIN_PID" "$HERD_PID"; do
	kill -0 "$p" 2>/dev/null || die "a daemon (pid $p) died during the benchmark"
	stop_pid "$p"
done
# A clean stop writes the access log out; a line lost would undercount.
grep -q '"msg":"access log write failed"' "$TMP/herd.err" &&
	die "the herd daemon lost access log lines: $(grep 'access log' "$TMP/herd.err")"
mv "$TMP/access.log" "$RESULTS/access.log"

cmd=$(bench_command bench/cache.sh ROUNDS DURATION WARMUP THREADS CONNS QUIET_WAIT \
	HERD_CLIENTS HERD_SECONDS HERD_TTL HERD_SLEEP_MS HERD_CONCURRENCY)
{
	bench_meta_common "$cmd"
	echo "git=$GIT_REV"
	echo "buildtype=$(bench_buildtype "$FNGATE")"
	echo "variants=$VARIANTS"
	echo "body_bytes=$((${#BODY} + 1))"
	echo "herd_clients=$HERD_CLIENTS"
	echo "herd_seconds=$HERD_SECONDS"
	echo "herd_ttl=$HERD_TTL"
	echo "herd_sleep_ms=$HERD_SLEEP_MS"
	echo "herd_concurrency=$HERD_CONCURRENCY"
	echo "herd_paths=cached:/herd/slow nocache:/herd/slownc"
} >"$RESULTS/meta.txt"

bench_report cachereport.py
