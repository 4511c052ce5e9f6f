#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Cluster limits benchmark (issue 17): what a clustered decision costs against the local
# store. The same mock route behind a stage throttle, and behind the throttle plus an API
# key's usage plan with a quota, served by a gateway without `cluster:` (the local store and
# the SQLite quota) and by gateways sharing a redis-server started here: with leases of 4
# tokens (the default) and of 1 (one round trip per decision). Reported: req/s, the ratio to
# the local throttle within each round, p50/p99, and the clustered decision's cost in µs per
# request, (1/rps - 1/rps_local)·1e6 with the medians; and the round trips each clustered
# daemon sent (fngate_cluster_round_trips_total) per request, and the Redis server's own CPU
# per request (INFO cpu before and after each run). Every limit is far above the load: a
# single refused request fails the run.
#
#   bench/cluster_limits.sh            run, print the markdown section on stdout
#   bench/cluster_limits.sh --write    also replace its section of docs/BENCHMARKS.md
#
# Environment:
#   ROUNDS=3        wrk rounds; every variant runs once per round, the order rotating
#   DURATION=10     seconds per wrk run
#   WARMUP=2        seconds of an unrecorded run per variant first (0: none)
#   THREADS=1       wrk threads
#   CONNS=64        wrk connections, all with the same key
#   QUIET_WAIT=60   wait up to this long for a quiet machine before each run (bench/runwrk.py)
#   BUILD_DIR=build meson build directory
#   KEEP_RESULTS=dir
#                   copy the raw results there; `python3 bench/clusterreport.py DIR` re-reports
#
# Needs: wrk, redis-server, python3, meson + ninja. Every process started here (the Redis
# server too) is stopped by pid on exit.
set -eu

BUILD_DIR=${BUILD_DIR:-build}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_NAME=cluster_limits.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_wrk_env
bench_args "$@"

for tool in wrk redis-server redis-cli python3; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

bench_tmp fngate-cluster
RESULTS=$TMP/results
mkdir -p "$RESULTS/wrk"
bench_fngate_build

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
	>"$TMP/redis.log" 2>&1 &
PIDS+=("$!")
REDIS_PID=$!
for _ in $(seq 50); do
	[ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ] && break
	sleep 0.1
done
[ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ] || die "redis-server did not start"

BIG='{ rate: 1000000, burst: 1000000 }'
MOCK='{ type: mock, headers: { content-type: text/plain }, body: "hello\n" }'
config() { # STATE_DIR CLUSTER_LINES
	printf 'server:\n  listen: ["127.0.0.1:0"]\n  state_dir: "%s"\n' "$1"
	printf 'access_log: { path: "off" }\nmetrics: { listen: "127.0.0.1:0" }\n'
	[ -n "$2" ] && printf '%s\n' "$2"
	printf 'apis:\n  bench:\n    stages:\n      t: { throttle: %s }\n' "$BIG"
	printf '    routes:\n'
	printf '      "GET /t":\n        integration: %s\n' "$MOCK"
	printf '      "GET /q":\n        api_key_required: true\n        integration: %s\n' "$MOCK"
	printf 'usage_plans:\n  q:\n    quota: { limit: 1000000000000, period: month, batch: 1000 }\n'
	printf '    stages: [{ api: bench, stage: t }]\n'
}
cluster_lines() { # NODE LEASE
	printf 'cluster:\n  redis: "127.0.0.1:%s"\n  node_id: %s\n  key_prefix: "bench-%s:"\n' \
		"$RPORT" "$1" "$1"
	printf '  lease: %s\n' "$2"
}

# daemon -> its variants; variant -> path
DAEMONS="local cl4 cl1"
VARIANTS="local_t cl4_t cl1_t local_tq cl4_tq cl1_tq"
daemon_of() { echo "${1%_*}"; }
path_of() { case $1 in *_tq) echo /t/q ;; *) echo /t/t ;; esac; }

declare -A PID PORT KEY MPORT
for d in $DAEMONS; do
	case $d in
	local) lines="" ;;
	cl4) lines=$(cluster_lines cl4 4) ;;
	cl1) lines=$(cluster_lines cl1 1) ;;
	esac
	config "$TMP/state-$d" "$lines" >"$TMP/$d.yaml"
	KEY[$d]=$("$FNGATE" keys -c "$TMP/$d.yaml" create --plan q --quiet) ||
		die "$d: fngate keys create failed"
	fngate_start "$d" "$TMP/$d.yaml" 0
	PID[$d]=$FNGATE_PID
	PORT[$d]=$FNGATE_PORT
	MPORT[$d]=$(sed -n 's/.*"msg":"listening","addr":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' \
		"$TMP/$d.err" | sed -n 2p)
done

url_of() { echo "http://127.0.0.1:${PORT[$(daemon_of "$1")]}$(path_of "$1")"; }

redis_cpu() { # the Redis server's CPU seconds so far (user + system)
	redis-cli -p "$RPORT" info cpu | tr -d '\r' |
		awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.6f\n", s }'
}

round_trips() { # DAEMON: the limits and quotas round trips it counted so far
	python3 - "${MPORT[$1]}" <<'PY'
import re, sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read()
n = {"limits": 0, "quotas": 0}
for f, v in re.findall(rb'fngate_cluster_round_trips_total\{feature="(\w+)"\} (\d+)', t):
    n[f.decode()] = int(v)
print(n["limits"], n["quotas"])
PY
}

run_wrk() { # VARIANT SECONDS OUT
	local d before after
	d=$(daemon_of "$1")
	before="$(round_trips "$d") $(redis_cpu)"
	python3 bench/runwrk.py --wait-quiet "$QUIET_WAIT" "${PID[$d]}" "$3" -- \
		wrk -t"$THREADS" -c"$CONNS" -d"$2"s --latency -H "x-api-key: ${KEY[$d]}" \
		"$(url_of "$1")"
	if grep -q 'Non-2xx or 3xx responses' "$3"; then
		cat "$3" >&2
		die "$1: refused or failed requests in $3 (the limits are meant never to refuse)"
	fi
	after="$(round_trips "$d") $(redis_cpu)"
	echo "$1 $before $after" >>"$RESULTS/trips.txt"
}

for v in $VARIANTS; do
	out=$(curl -s -H "x-api-key: ${KEY[$(daemon_of "$v")]}" "$(url_of "$v")")
	[ "$out" = hello ] || die "$v: unexpected answer: $out"
done
if [ "$WARMUP" -gt 0 ]; then
	for v in $VARIANTS; do
		run_wrk "$v" "$WARMUP" "$TMP/warmup-$v.txt"
	done
fi
: >"$RESULTS/trips.txt"
bench_rounds run_wrk

for d in $DAEMONS; do
	kill -0 "${PID[$d]}" 2>/dev/null || die "$d died during the benchmark"
done
kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server died during the benchmark"

cmd=$(bench_command bench/cluster_limits.sh ROUNDS DURATION WARMUP THREADS CONNS QUIET_WAIT)
{
	bench_meta_common "$cmd"
	echo "git=$GIT_REV"
	echo "buildtype=$(bench_buildtype "$FNGATE")"
	echo "variants=$VARIANTS"
	echo "redis=$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')"
} >"$RESULTS/meta.txt"

bench_report clusterreport.py
