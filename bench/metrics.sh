#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Metrics benchmark: what recording the metrics costs a request. Two daemons, identical but for
# `metrics: { enabled: false }` on one, side by side in the same run, wrk rounds interleaved
# with the order rotating: a mock route (the cheapest request the gateway serves, where the
# stage `metrics` weighs most) and a function route (bench/cache_fn.c, built the way a user
# builds a handler: the function host's counters too). Both answer the same 100-byte JSON
# body. Before the rounds each daemon is checked: the one on counts a request in /metrics, the
# one off has no sample. Target: metrics on ≥ 0.97× metrics off req/s, on both routes.
#
#   bench/metrics.sh            run, print the markdown section on stdout
#   bench/metrics.sh --write    also replace the metrics section of docs/BENCHMARKS.md
#
# Environment:
#   ROUNDS=3        wrk rounds; every variant runs once per round, the order rotating
#   DURATION=10     seconds per wrk run
#   WARMUP=2        seconds of an unrecorded run per variant first (0: none)
#   THREADS=1       wrk threads
#   CONNS=64        wrk connections
#   QUIET_WAIT=60   wait up to this long for a quiet machine before each run (bench/runwrk.py)
#   BUILD_DIR=build meson build directory
#   KEEP_RESULTS=dir  copy the raw results there; `python3 bench/metricsreport.py DIR`
#                   re-reports
#
# Needs: wrk, curl, python3, cc, pkg-config, meson + ninja. Every process started here is
# stopped by pid on exit.
set -eu

BUILD_DIR=${BUILD_DIR:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_NAME=metrics.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_wrk_env
bench_args "$@"

for tool in wrk curl python3 cc pkg-config; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

bench_tmp fngate-metrics
RESULTS=$TMP/results
mkdir -p "$RESULTS/wrk" "$TMP/fn"
bench_fngate_build

SDK=$(PKG_CONFIG_PATH="$ROOT/$BUILD_DIR/meson-uninstalled" pkg-config --cflags --libs fngate)
# shellcheck disable=SC2086 # SDK is a list of flags
cc -shared -fPIC -O2 -o "$TMP/fn/fast.so" bench/cache_fn.c $SDK
chmod 755 "$TMP" "$TMP/fn"

# The handler's body, byte for byte (bench/cache_fn.c).
BODY='{"id":"item-0001","name":"bench item","price":1999,"currency":"EUR",'
BODY+='"tags":["a","b"],"stock":42000}'
YBODY=${BODY//\"/\\\"}
MOCK="{ type: mock, headers: { content-type: application/json }, body: \"$YBODY\\n\" }"
TOKEN=bench-metrics-admin-token-0123456789

declare -A PID PORT ADMIN
for d in on off; do
	ADMIN[$d]=$(free_port)
	{
		printf 'server:\n  listen: ["127.0.0.1:0"]\naccess_log: { path: "off" }\n'
		printf 'functions: { dir: "%s" }\n' "$TMP/fn"
		printf 'metrics: { enabled: %s }\n' "$([ "$d" = on ] && echo true || echo false)"
		printf 'admin: { listen: "127.0.0.1:%s", token: "%s" }\n' "${ADMIN[$d]}" "$TOKEN"
		printf 'apis:\n  bench:\n    stages:\n      prod: {}\n    routes:\n'
		printf '      "GET /m":\n        integration: %s\n' "$MOCK"
		printf '      "GET /fast":\n'
		printf '        integration: { type: function, function: fast }\n'
	} >"$TMP/$d.yaml"
	fngate_start "$d" "$TMP/$d.yaml" 1
	PID[$d]=$FNGATE_PID
	PORT[$d]=$FNGATE_PORT
done

VARIANTS="mock_on mock_off fn_on fn_off"
daemon_of() { echo "${1#*_}"; }
path_of() { case $1 in mock_*) echo /prod/m ;; fn_*) echo /prod/fast ;; esac; }

# metrics_of DAEMON: the exposition, on the admin listener with the token.
metrics_of() {
	curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:${ADMIN[$1]}/metrics" ||
		die "$1: GET /metrics failed"
}
for v in $VARIANTS; do
	got=$(curl -sf "http://127.0.0.1:${PORT[$(daemon_of "$v")]}$(path_of "$v")") ||
		die "$v: the request failed"
	[ "$got" = "$BODY" ] || die "$v: unexpected body: $got"
done
# Into files first: grep -q stopping early would make curl fail on a closed pipe.
metrics_of on >"$TMP/check-on.txt"
metrics_of off >"$TMP/check-off.txt"
grep -q '^fngate_requests_total{api="bench",stage="prod",route="GET /m"} 1$' \
	"$TMP/check-on.txt" || die "on: /metrics does not count the check's request"
grep -q '^fngate_requests_total{' "$TMP/check-off.txt" &&
	die "off: /metrics has a request sample with metrics.enabled false"

run_wrk() { # VARIANT SECONDS OUT
	python3 bench/runwrk.py --wait-quiet "$QUIET_WAIT" "${PID[$(daemon_of "$1")]}" "$3" -- \
		wrk -t"$THREADS" -c"$CONNS" -d"$2"s --latency \
		"http://127.0.0.1:${PORT[$(daemon_of "$1")]}$(path_of "$1")"
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

# What the daemon with metrics counted: every request of the runs, for the report.
metrics_of on >"$RESULTS/metrics-on.txt"
for d in on off; do
	kill -0 "${PID[$d]}" 2>/dev/null || die "$d died during the benchmark"
	stop_pid "${PID[$d]}"
done

cmd=$(bench_command bench/metrics.sh ROUNDS DURATION WARMUP THREADS CONNS QUIET_WAIT)
{
	bench_meta_common "$cmd"
	echo "git=$GIT_REV"
	echo "buildtype=$(bench_buildtype "$FNGATE")"
	echo "variants=$VARIANTS"
	echo "body_bytes=$((${#BODY} + 1))"
} >"$RESULTS/meta.txt"

bench_report metricsreport.py
