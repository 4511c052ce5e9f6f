#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# API key benchmark: the same mock route bare, behind an API key alone, behind a key whose
# usage plan has a throttle and the stage a per-IP throttle (without and with a quota), and
# with the quota's batch at 1000 (the default for this limit), 100 and 1: req/s ratios to
# bare, p50/p99, and what persisting the quota costs in µs per request and in SQLite
# transactions (each fsync'd) per second. Every request carries the same `x-api-key` header,
# the bare route's too (it ignores it), so reading the header is not counted as the feature's.
# Every limit is far above the load: a single refused request (429, 403) fails the run.
#
# Daemons: `main` serves bare, key, key+plan+ip nq (no quota) and key+plan+ip (quota, batch
# 1000); `b100` and `b1` serve the batch 100 and batch 1 variants alone. All three load the
# same configuration but for their state_dir. Only one variant of a daemon touches a quota
# counter, so the transactions it logs at exit ("quota store written") are that variant's
# writes: divided by the seconds wrk loaded it (warm-up included) they are its writes per
# second.
#
#   bench/apikeys.sh            run, print the markdown section on stdout
#   bench/apikeys.sh --write    also replace the apikeys section of docs/BENCHMARKS.md
#
# Environment:
#   ROUNDS=3        wrk rounds; every variant runs once per round, the order rotating
#   DURATION=10     seconds per wrk run
#   WARMUP=2        seconds of an unrecorded run per variant first (0: none)
#   THREADS=1       wrk threads
#   CONNS=64        wrk connections, all with the same key (one key's buckets and counter)
#   QUIET_WAIT=60   wait up to this long for a quiet machine before each run (bench/runwrk.py)
#   BUILD_DIR=build meson build directory
#   KEEP_RESULTS=dir
#                   copy the raw results there; `python3 bench/apikeysreport.py DIR` re-reports
#
# Needs: wrk, python3, meson + ninja. Every process started here is stopped by pid on exit.
set -eu

BUILD_DIR=${BUILD_DIR:-build}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_NAME=apikeys.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_wrk_env
bench_args "$@"

for tool in wrk python3; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

bench_tmp fngate-apikeys
RESULTS=$TMP/results
mkdir -p "$RESULTS/wrk"
bench_fngate_build

# Limits no run comes near: a throttle of a million a second, a quota of 10^12 a month.
BIG='{ rate: 1000000, burst: 1000000 }'
QUOTA='limit: 1000000000000, period: month'
MOCK='{ type: mock, headers: { content-type: text/plain }, body: "hello\n" }'
# One stage per variant: the per-IP throttle is a stage's, and a key's plan is the one
# attached to the stage. The key is in every plan.
PLANS="keyonly nq q1000 q100 q1"
config() { # STATE_DIR
	printf 'server:\n  listen: ["127.0.0.1:0"]\n  state_dir: "%s"\n' "$1"
	printf 'access_log: { path: "off" }\n'
	printf 'apis:\n  bench:\n    stages:\n      plain: {}\n'
	for s in nq q1000 q100 q1; do
		printf '      %s: { client_throttle: { %s, identity: source_ip } }\n' "$s" "${BIG:2:-2}"
	done
	printf '    routes:\n'
	printf '      "GET /bare":\n        integration: %s\n' "$MOCK"
	printf '      "GET /key":\n        api_key_required: true\n        integration: %s\n' "$MOCK"
	printf 'usage_plans:\n'
	printf '  keyonly: { stages: [{ api: bench, stage: plain }] }\n'
	printf '  nq: { throttle: %s, stages: [{ api: bench, stage: nq }] }\n' "$BIG"
	for b in 1000 100 1; do
		printf '  q%s:\n    throttle: %s\n    quota: { %s%s }\n' "$b" "$BIG" "$QUOTA" \
			"$([ "$b" = 1000 ] || echo ", batch: $b")" # 1000: the default, left out
		printf '    stages: [{ api: bench, stage: q%s }]\n' "$b"
	done
}

# daemon -> its variants; variant -> path
DAEMONS="main b100 b1"
VARIANTS="bare key nq q1000 q100 q1"
daemon_of() { case $1 in q100) echo b100 ;; q1) echo b1 ;; *) echo main ;; esac; }
path_of() {
	case $1 in
	bare) echo /plain/bare ;;
	key) echo /plain/key ;;
	*) echo "/$1/key" ;;
	esac
}

declare -A PID PORT KEY
for d in $DAEMONS; do
	config "$TMP/state-$d" >"$TMP/$d.yaml"
	args=()
	for p in $PLANS; do args+=(--plan "$p"); done
	KEY[$d]=$("$FNGATE" keys -c "$TMP/$d.yaml" create "${args[@]}" --quiet) ||
		die "$d: fngate keys create failed"
	fngate_start "$d" "$TMP/$d.yaml" 0
	PID[$d]=$FNGATE_PID
	PORT[$d]=$FNGATE_PORT
done

url_of() { echo "http://127.0.0.1:${PORT[$(daemon_of "$1")]}$(path_of "$1")"; }
key_of() { echo "${KEY[$(daemon_of "$1")]}"; }

check() { # VARIANT: one request with the key answers 200 hello, one without answers as it should
	local out
	out=$(python3 - "$(url_of "$1")" "$(key_of "$1")" <<'PY'
import sys, urllib.error, urllib.request
def get(key):
    req = urllib.request.Request(sys.argv[1], headers={"x-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
print(*get(sys.argv[2]), get("")[0])
PY
	)
	case $1 in
	bare) [ "$out" = "200 b'hello\\n' 200" ] ;;
	*) [ "$out" = "200 b'hello\\n' 403" ] ;;
	esac || die "$1: unexpected answers (with the key, without): $out"
}

run_wrk() { # VARIANT SECONDS OUT
	python3 bench/runwrk.py --wait-quiet "$QUIET_WAIT" "${PID[$(daemon_of "$1")]}" "$3" -- \
		wrk -t"$THREADS" -c"$CONNS" -d"$2"s --latency -H "x-api-key: $(key_of "$1")" \
		"$(url_of "$1")"
	# Every answer must be a 200: a refusal would measure the refusal, not the feature.
	if grep -q 'Non-2xx or 3xx responses' "$3"; then
		cat "$3" >&2
		die "$1: refused or failed requests in $3 (the limits are meant never to refuse)"
	fi
	# the seconds of load each daemon took, warm-up included (its writes per second)
	echo "$1 $(sed -n 's/^elapsed=//p' "$3.cpu")" >>"$RESULTS/loaded-$(daemon_of "$1").txt"
}

for v in $VARIANTS; do
	check "$v"
done
if [ "$WARMUP" -gt 0 ]; then
	for v in $VARIANTS; do
		run_wrk "$v" "$WARMUP" "$TMP/warmup-$v.txt"
	done
fi
bench_rounds run_wrk

# A clean stop writes the last counts and logs the quota store's transactions.
for d in $DAEMONS; do
	kill -0 "${PID[$d]}" 2>/dev/null || die "$d died during the benchmark"
	stop_pid "${PID[$d]}"
	{
		grep -o '"msg":"quota store written"[^}]*' "$TMP/$d.err" |
			sed -n 's/.*"transactions":"\([0-9]*\)".*"rows":"\([0-9]*\)".*/transactions=\1\nrows=\2/p'
	} >"$RESULTS/store-$d.txt"
	grep -q '"quota store write failed' "$TMP/$d.err" && die "$d: a quota store write failed"
done

cmd=$(bench_command bench/apikeys.sh ROUNDS DURATION WARMUP THREADS CONNS QUIET_WAIT)
{
	bench_meta_common "$cmd"
	echo "fs=$(df -T "$TMP" | awk 'NR == 2 { print $2 }')"
	echo "git=$GIT_REV"
	echo "buildtype=$(bench_buildtype "$FNGATE")"
	echo "variants=$VARIANTS"
	echo "daemons=$DAEMONS"
	echo "key_len=${#KEY[main]}"
} >"$RESULTS/meta.txt"

bench_report apikeysreport.py
