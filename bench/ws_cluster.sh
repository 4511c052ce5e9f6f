#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# WebSocket across nodes (issue 17): topic fan-out on one node vs through the cluster's Redis.
# SUBS subscribers (bench/ws_bench_fn.c's WebSocket API) and one publisher, the admin API's
# POST /@topics/bench, driven by bench/ws_load.c broadcast on loopback, in three set-ups:
#
#   single   one gateway without cluster:, subscribers and publisher on it
#   local    a cluster node (redis-server on loopback): subscribers and publisher on one node,
#            every publication going through Redis (the script, then the channel) and back
#   cross    two cluster nodes: subscribers on node B, publications on node A's admin API
#
# Each run starts fresh gateways and an empty Redis (a topic's numbers start at 1); the order of
# the set-ups rotates each round. Reported: deliveries/s and publish-to-last-delivery latency
# (medians over the rounds), and lost / duplicate deliveries (all must be 0).
#
#   bench/ws_cluster.sh            run, print the markdown section on stdout
#   bench/ws_cluster.sh --write    also replace its section of docs/BENCHMARKS.md
#
# Environment:
#   ROUNDS=3 SUBS=1000 MSGS=2000 SIZE=64 WINDOW=32
#   BUILD_DIR=build-bench   meson build directory (created with --buildtype=release if missing)
#   FNGATE=path             use this fngate binary
#
# Needs: cc, pkg-config, libwebsockets-dev (ws_load links it), redis-server, python3, meson,
# ninja. Run as root (fngate's workers drop to uid 65534). No pinning: Redis, two gateways and
# the load generator share the two vCPUs. Every process started here is stopped by its pid.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_NAME=ws_cluster.sh
cd "$ROOT"
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_args "$@"

ROUNDS=${ROUNDS:-3}
SUBS=${SUBS:-1000}
MSGS=${MSGS:-2000}
SIZE=${SIZE:-64}
WINDOW=${WINDOW:-32}
BUILD_DIR=${BUILD_DIR:-build-bench}
VARIANTS="single local cross"

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(id -u)" = 0 ] || die "run as root: fngate's workers drop to uid 65534"
REDIS=$(command -v redis-server) || die "redis-server not found"
pkg-config --exists libwebsockets || die "libwebsockets-dev is not installed"

bench_tmp fngate-wscluster
chmod 755 "$TMP"
RESULTS=$TMP/results
mkdir -p "$RESULTS/runs"

bench_fngate_build
SDK_FLAGS=$(PKG_CONFIG_PATH="$ROOT/$BUILD_DIR/meson-uninstalled" pkg-config --cflags --libs fngate)
BUILDS=$TMP/builds
mkdir -p "$BUILDS"
# shellcheck disable=SC2086
cc -shared -fPIC -O2 -Wall -Wextra -o "$BUILDS/wsbench.so" bench/ws_bench_fn.c $SDK_FLAGS
# shellcheck disable=SC2086
cc -O2 -Wall -Wextra -o "$BUILDS/ws_load" bench/ws_load.c $(pkg-config --cflags --libs libwebsockets)
chmod -R a+rX "$BUILDS"
ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')

# start_redis: REDIS_PID, REDIS_PORT (an empty server, no persistence).
start_redis() {
	REDIS_PORT=$(free_port)
	mkdir -p "$TMP/redis"
	"$REDIS" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$TMP/redis" >"$TMP/redis.out" 2>&1 &
	REDIS_PID=$!
	PIDS+=("$REDIS_PID")
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	die "redis-server did not listen"
}

# start_node NAME [NODE_ID]: a gateway (a cluster node when NODE_ID is given); sets
# NODE_PID, NODE_PORT, NODE_ADMIN.
start_node() {
	local dir=$TMP/$1
	rm -rf "$dir"
	mkdir -p "$dir/functions"
	chmod 755 "$dir" "$dir/functions"
	cp "$BUILDS/wsbench.so" "$dir/functions/wsbench.so"
	touch -d '-1 min' "$dir/functions/wsbench.so"
	printf '%s\n' "$ADMIN_TOKEN" >"$dir/admin.token"
	NODE_ADMIN=$(free_port)
	cat >"$dir/fngate.yaml" <<EOF
server:
  listen: ["127.0.0.1:0"]
access_log: { path: "off" }
functions:
  dir: $dir/functions
  grants:
    wsbench: { topics: ["*"] }
apis:
  ws:
    protocol: websocket
    stages:
      b: {}
    routes:
      \$default:
        integration: { type: function, function: wsbench }
admin:
  listen: "127.0.0.1:$NODE_ADMIN"
  token_file: admin.token
EOF
	if [ -n "${2:-}" ]; then
		printf 'cluster:\n  redis: "127.0.0.1:%s"\n  node_id: %s\n' "$REDIS_PORT" "$2" \
			>>"$dir/fngate.yaml"
	fi
	fngate_start "$1" "$dir/fngate.yaml" 1
	NODE_PID=$FNGATE_PID
	NODE_PORT=$FNGATE_PORT
	if [ -n "${2:-}" ]; then
		for _ in $(seq 50); do
			grep -q '"msg":"cluster: redis up"' "$TMP/$1.err" && return 0
			sleep 0.1
		done
		die "$1 did not reach Redis"
	fi
}

# run VARIANT OUT: one broadcast run of VARIANT, ws_load's JSON line into OUT.
run() {
	local sub_port admin_port pids=()
	case "$1" in
	single)
		start_node single
		pids+=("$NODE_PID")
		sub_port=$NODE_PORT admin_port=$NODE_ADMIN
		;;
	local)
		start_redis
		start_node a node-a
		pids+=("$REDIS_PID" "$NODE_PID")
		sub_port=$NODE_PORT admin_port=$NODE_ADMIN
		;;
	cross)
		start_redis
		start_node a node-a
		admin_port=$NODE_ADMIN
		pids+=("$REDIS_PID" "$NODE_PID")
		start_node b node-b
		pids+=("$NODE_PID")
		sub_port=$NODE_PORT
		;;
	esac
	WS_LOAD_ADMIN_TOKEN=$ADMIN_TOKEN "$BUILDS/ws_load" broadcast -p "$sub_port" -P /b \
		-n "$SUBS" -m "$MSGS" -s "$SIZE" -W "$WINDOW" -A "127.0.0.1:$admin_port" \
		>"$2" 2>"$2.err" || log "$1: ws_load reported a problem: $(tail -n2 "$2.err")"
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		stop_pid "${pids[$i]}"
	done
}

{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command=$(bench_command bench/ws_cluster.sh ROUNDS SUBS MSGS SIZE WINDOW BUILD_DIR)"
	echo "machine=$(nproc) vCPU, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
	echo "fngate=$FNGATE (git $GIT_REV), $(bench_buildtype "$FNGATE")"
	echo "redis=$("$REDIS" --version | sed 's/ sha=.*//')"
	echo "load=$SUBS subscribers, $MSGS messages of $SIZE bytes, at most $WINDOW in flight"
} >"$RESULTS/meta.txt"

set -- $VARIANTS
for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	for ((i = 0; i < $#; i++)); do
		idx=$(((i + r - 1) % $# + 1))
		order+=("${!idx}")
	done
	for v in "${order[@]}"; do
		run "$v" "$RESULTS/runs/$r-$v.json"
		log "round $r/$ROUNDS $v: $(python3 -c 'import json,sys
j = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("%.0f deliveries/s, last delivery p50 %.2f ms" % (j["deliveries_per_s"],
      j["publish_to_last"]["p50_us"] / 1000))' "$RESULTS/runs/$r-$v.json" 2>/dev/null || echo failed)"
	done
done

bench_report ws_clusterreport.py
