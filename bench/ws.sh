#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# WebSocket benchmark: fngate (a WebSocket API whose $default route is bench/ws_bench_fn.c, and
# its admin API's topic publish) against node's `ws` (bench/ws_peer_node.js) and libwebsockets
# (bench/ws_peer_lws.c), all speaking one protocol, driven by bench/ws_load.c on loopback:
#
#   idle       IDLE_CONNS connections held open: user-space memory per idle connection
#   echo       ECHO_CONNS connections doing round trips of ECHO_SIZE-byte messages
#   broadcast  SUBS subscribers, one publisher sending MSGS messages of SIZE bytes, at most
#              WINDOW in flight: deliveries/s, publish-to-delivery latency, losses
#
# The servers run one after the other (start, idle, echo, broadcast, stop), each round in the
# opposite order of the last.
#
#   bench/ws.sh            run, print the markdown section on stdout
#   bench/ws.sh --write    also replace the WebSocket section of docs/BENCHMARKS.md
#
# Environment:
#   ROUNDS=3          rounds (every server, every test); the report gives medians
#   QUICK=1           a smoke test: 1 round, echo 2 s, 200 messages, 1000 idle connections
#   ECHO_CONNS=32 ECHO_SIZE=64 ECHO_SECONDS=10 ECHO_WARMUP=1
#   SUBS=1000 MSGS=2000 SIZE=64 WINDOW=32
#   IDLE_CONNS=5000   (0: skip the memory measurement)
#   PIN=1             servers (fngate with its supervisor and workers; node; the lws peer) on
#                     CPU PIN_SERVER, ws_load on CPU PIN_CLIENT; PIN=0: no pinning
#   PIN_SERVER=0 PIN_CLIENT=1
#   QUIET_WAIT=60     before each measured run, wait up to this many seconds for the (shared)
#                     machine to be under 10% busy; runs next to other load are flagged
#   ENGINE=raw        ws_load's client engine (raw: epoll, lws: libwebsockets; see ws_load.c)
#   SERVERS="fngate node lws"
#                     which servers (a subset skips the others; ratios need all three)
#   ORDERING="connection parallel"
#                     fngate's websocket.message_order, one fngate run each: connection (the
#                     default: a connection's messages one after another; rows "fngate") and
#                     parallel (rows "fngate-parallel"); the admin API's broadcast runs with
#                     connection only (no message of a connection is involved)
#   TESTS="idle echo broadcast"
#                     which tests (IDLE_CONNS=0 also skips idle)
#   BUILD_DIR=build-bench
#                     meson build directory (created with --buildtype=release if missing)
#   FNGATE=path       use this fngate binary instead of BUILD_DIR/gateway/fngate
#   KEEP_RESULTS=dir  copy the raw results there; `python3 bench/wsreport.py DIR` regenerates
#                     the report
#
# Needs: cc, pkg-config, libwebsockets-dev, node + tests/ws/node_modules/ws (.ci/deps.sh),
# python3, meson + ninja, taskset, awk. Run as root (fngate's workers drop to uid 65534 and join
# cgroups). The open-file limit is raised to 20000. Every process started here is stopped by
# its pid on exit.
set -eu

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	ROUNDS=${ROUNDS:-1}
	ECHO_SECONDS=${ECHO_SECONDS:-2}
	MSGS=${MSGS:-200}
	IDLE_CONNS=${IDLE_CONNS:-1000}
	QUIET_WAIT=${QUIET_WAIT:-0}
fi
ROUNDS=${ROUNDS:-3}
ECHO_CONNS=${ECHO_CONNS:-32}
ECHO_SIZE=${ECHO_SIZE:-64}
ECHO_SECONDS=${ECHO_SECONDS:-10}
ECHO_WARMUP=${ECHO_WARMUP:-1}
SUBS=${SUBS:-1000}
MSGS=${MSGS:-2000}
SIZE=${SIZE:-64}
WINDOW=${WINDOW:-32}
IDLE_CONNS=${IDLE_CONNS:-5000}
PIN=${PIN:-1}
PIN_SERVER=${PIN_SERVER:-0}
PIN_CLIENT=${PIN_CLIENT:-1}
QUIET_WAIT=${QUIET_WAIT:-60}
ENGINE=${ENGINE:-raw}
SERVERS=${SERVERS:-fngate node lws}
ORDERING=${ORDERING:-connection parallel}
for o in $ORDERING; do
	case $o in
	connection | parallel) ;;
	*) echo "ws.sh: ORDERING: \"$o\" is neither connection nor parallel" >&2; exit 2 ;;
	esac
done
TESTS=${TESTS:-idle echo broadcast}
BUILD_DIR=${BUILD_DIR:-build-bench}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_NAME=ws.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_args "$@"

# Every connection is a descriptor in ws_load and in the server (they inherit the limit).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((IDLE_CONNS + SUBS + 200)) ]; then
	die "fd limit $(ulimit -n) is too low for IDLE_CONNS=$IDLE_CONNS SUBS=$SUBS"
fi
[ "$(id -u)" = 0 ] || die "run as root: fngate's workers drop to uid 65534 and get cgroups"
for tool in cc pkg-config node python3 meson ninja taskset; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
pkg-config --exists libwebsockets || die "libwebsockets-dev is not installed"
[ -f tests/ws/node_modules/ws/package.json ] || die "node's ws is not installed: run .ci/deps.sh"

bench_tmp fngate-wsbench
chmod 755 "$TMP" # workers (uid 65534) read the functions directory below it
RESULTS=$TMP/results
mkdir -p "$RESULTS/runs"

# ---- build ----

bench_fngate_build
grep -q fng_ws_publish sdk/fngate.h || die "sdk/fngate.h has no fng_ws_publish yet"
SDK_FLAGS=$(PKG_CONFIG_PATH="$ROOT/$BUILD_DIR/meson-uninstalled" pkg-config --cflags --libs fngate)
LWS_FLAGS=$(pkg-config --cflags --libs libwebsockets)
BUILDS=$TMP/builds
mkdir -p "$BUILDS"
# shellcheck disable=SC2086
cc -shared -fPIC -O2 -Wall -Wextra -o "$BUILDS/wsbench.so" bench/ws_bench_fn.c $SDK_FLAGS
# shellcheck disable=SC2086
cc -O2 -Wall -Wextra -o "$BUILDS/ws_load" bench/ws_load.c $LWS_FLAGS
# shellcheck disable=SC2086
cc -O2 -Wall -Wextra -I tests/ws -o "$BUILDS/ws_peer_lws" bench/ws_peer_lws.c $LWS_FLAGS
chmod -R a+rX "$BUILDS"

PRE_SERVER=()
PRE_CLIENT=()
if [ "$PIN" = 1 ]; then
	PRE_SERVER=(taskset -c "$PIN_SERVER")
	PRE_CLIENT=(taskset -c "$PIN_CLIENT")
fi

# ---- the servers: start_NAME sets SRV_PID (the process whose memory is measured and whose
# tree's CPU is counted), SRV_PORT, SRV_PATH; fngate also ADMIN_PORT ----

start_fngate() {
	local dir=$TMP/fngate
	rm -rf "$dir"
	mkdir -p "$dir/functions"
	chmod 755 "$dir" "$dir/functions"
	cp "$BUILDS/wsbench.so" "$dir/functions/wsbench.so"
	chmod a+r "$dir/functions/wsbench.so"
	touch -d '-1 min' "$dir/functions/wsbench.so"
	ADMIN_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
	printf '%s\n' "$ADMIN_TOKEN" >"$dir/admin.token"
	ADMIN_PORT=$(free_port)
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
    websocket: { message_order: ${MESSAGE_ORDER:-connection} }
    stages:
      b: {}
    routes:
      \$default:
        integration: { type: function, function: wsbench }
admin:
  listen: "127.0.0.1:$ADMIN_PORT"
  token_file: admin.token
EOF
	fngate_start fngate "$dir/fngate.yaml" 1 "${PRE_SERVER[@]}"
	SRV_PID=$FNGATE_PID
	SRV_PORT=$FNGATE_PORT
	SRV_PATH=/b
	FNGATE_SANDBOX=$(sed -n 's/.*"msg":"function host".*"sandbox":"\([^"]*\)".*/\1/p' \
		"$TMP/fngate.err" | head -n1)
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
	local i
	for i in $(seq 100); do
		kill -0 "$SRV_PID" 2>/dev/null || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

start_node() {
	local i
	: >"$TMP/node.out"
	"${PRE_SERVER[@]}" node bench/ws_peer_node.js 0 >"$TMP/node.out" 2>"$TMP/node.err" &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	SRV_PORT=""
	for i in $(seq 100); do
		kill -0 "$SRV_PID" 2>/dev/null ||
			die "node peer exited: $(tail -n5 "$TMP/node.err")"
		SRV_PORT=$(sed -n 's/^{"listening":\([0-9]*\)}$/\1/p' "$TMP/node.out")
		[ -n "$SRV_PORT" ] && break
		sleep 0.1
	done
	[ -n "$SRV_PORT" ] || die "node peer did not start"
	SRV_PATH=/
}

start_lws() {
	SRV_PORT=$(free_port)
	"${PRE_SERVER[@]}" "$BUILDS/ws_peer_lws" "$SRV_PORT" >"$TMP/lws.out" 2>"$TMP/lws.err" &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	wait_port "$SRV_PORT" || die "lws peer did not start: $(tail -n5 "$TMP/lws.err")"
	SRV_PATH=/
}

stop_server() {
	stop_pid "$SRV_PID" 100
}

# tree_cpu PID: CPU seconds of PID and every descendant, including reaped children (a recycled
# fngate worker's time stays in its supervisor's cutime/cstime).
tree_cpu() {
	python3 - "$1" <<'EOF'
import os, sys
tck = os.sysconf("SC_CLK_TCK")
kids = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            f = open("/proc/%s/stat" % d).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(f[1]), []).append((int(d), f))
def own(pid):
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(x) for x in f[11:15])
total, todo = 0, [int(sys.argv[1])]
while todo:
    p = todo.pop()
    total += own(p)
    todo += [k for k, _ in kids.get(p, [])]
print("%.2f" % (total / tck))
EOF
}

# machine_busy: CPU seconds the whole machine spent busy, and stolen, so far.
machine_busy() {
	awk '/^cpu / { printf "%.2f %.2f\n", ($2 + $3 + $4 + $7 + $8) / 100, $9 / 100 }' /proc/stat
}

# measure NAME OUT -- CMD...: runs a ws_load CMD after the quiet wait, with CPU accounting of
# the server's tree, ws_load and the machine; OUT gets ws_load's JSON line, OUT.cpu key=value.
measure() {
	local name=$1 out=$2 waited t0 t1 s0 s1 b0 b1 st0 st1 rc=0
	shift 3
	waited=$(wait_quiet "$QUIET_WAIT")
	s0=$(tree_cpu "$SRV_PID")
	read -r b0 st0 < <(machine_busy)
	t0=$(date +%s.%N)
	"${PRE_CLIENT[@]}" "$@" >"$out" 2>"$out.err" || rc=$?
	t1=$(date +%s.%N)
	read -r b1 st1 < <(machine_busy)
	s1=$(tree_cpu "$SRV_PID")
	awk -v w="$waited" -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v b0="$b0" -v b1="$b1" \
		-v st0="$st0" -v st1="$st1" -v rc="$rc" -v n="$(nproc)" 'BEGIN {
		printf "waited=%s\nwall=%.3f\nserver=%.2f\nbusy=%.2f\nsteal=%.2f\nncpu=%d\nrc=%s\n",
			w, t1 - t0, s1 - s0, b1 - b0, st1 - st0, n, rc }' >"$out.cpu"
	kill -0 "$SRV_PID" 2>/dev/null || die "$name died during $(basename "$out")"
	[ "$rc" = 0 ] || log "$name: $(basename "$out") reported a problem: $(tail -n3 "$out.err")"
	python3 bench/wsreport.py --row "$name" "$out" >&2 || true
}

# mem_sample PID PREFIX: PREFIX_rss=KiB, PREFIX_pd=KiB (Private_Dirty).
mem_sample() {
	echo "rss_$2=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")"
	echo "pd_$2=$(awk '/^Private_Dirty:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null ||
		echo 0)"
}

# idle NAME OUT: memory of SRV_PID before and while IDLE_CONNS idle connections are held.
idle() {
	local name=$1 out=$2 cpid ready=""
	sleep 1
	{
		echo "n=$IDLE_CONNS"
		mem_sample "$SRV_PID" before
	} >"$out.mem"
	"${PRE_CLIENT[@]}" "$BUILDS/ws_load" idle -E "$ENGINE" -p "$SRV_PORT" -P "$SRV_PATH" \
		-c "$IDLE_CONNS" -H 600 >"$out" 2>"$out.err" &
	cpid=$!
	PIDS+=("$cpid")
	for _ in $(seq 1200); do
		ready=$(grep '"event":"ready"' "$out" || true)
		[ -n "$ready" ] && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$ready" ] || die "$name: ws_load idle failed: $(tail -n3 "$out.err")"
	sleep 2 # deferred frees, timers
	mem_sample "$SRV_PID" held >>"$out.mem"
	kill -TERM "$cpid"
	wait "$cpid" || log "$name: ws_load idle reported a problem: $(tail -n3 "$out.err")"
	sleep 1
	mem_sample "$SRV_PID" closed >>"$out.mem"
	log "$name: idle $(tr '\n' ' ' <"$out.mem")"
}

want() { [[ " $TESTS " == *" $1 "* ]]; }

run_server() { # run_server NAME ROUND [MESSAGE_ORDER]
	local name=$1 r=$2 base
	MESSAGE_ORDER=${3:-connection}
	"start_$name"
	# fngate under message_order: parallel reports as its own server, fngate-parallel.
	[ "$MESSAGE_ORDER" = connection ] || name=$name-$MESSAGE_ORDER
	base=$RESULTS/runs/$r-$name
	log "round $r/$ROUNDS: $name pid $SRV_PID on 127.0.0.1:$SRV_PORT$SRV_PATH"
	if [ "$IDLE_CONNS" -gt 0 ] && want idle; then
		idle "$name" "$base-idle.json"
	fi
	if want echo; then
		measure "$name" "$base-echo.json" -- "$BUILDS/ws_load" echo -E "$ENGINE" \
			-p "$SRV_PORT" -P "$SRV_PATH" -c "$ECHO_CONNS" -s "$ECHO_SIZE" \
			-d "$ECHO_SECONDS" -w "$ECHO_WARMUP"
	fi
	want broadcast || { stop_server; return 0; }
	measure "$name" "$base-broadcast.json" -- "$BUILDS/ws_load" broadcast -E "$ENGINE" \
		-p "$SRV_PORT" -P "$SRV_PATH" -n "$SUBS" -m "$MSGS" -s "$SIZE" -W "$WINDOW"
	if [ "$name" = fngate ] && [ "$ENGINE" = raw ]; then
		# The same fan-out published through the admin API (no worker per message), the
		# window's worth of requests pipelined on one keep-alive connection.
		WS_LOAD_ADMIN_TOKEN=$ADMIN_TOKEN measure fngate-admin \
			"$RESULTS/runs/$r-fngate-admin-broadcast.json" -- \
			"$BUILDS/ws_load" broadcast -E raw -p "$SRV_PORT" -P "$SRV_PATH" -n "$SUBS" \
			-m "$MSGS" -s "$SIZE" -W "$WINDOW" -A "127.0.0.1:$ADMIN_PORT" -L "$WINDOW"
	fi
	stop_server
}

read -ra order <<<"$SERVERS"
for ((r = 1; r <= ROUNDS; r++)); do
	list=("${order[@]}")
	if ((r % 2 == 0)); then
		list=()
		for ((i = ${#order[@]} - 1; i >= 0; i--)); do list+=("${order[$i]}"); done
	fi
	for s in "${list[@]}"; do
		if [ "$s" = fngate ]; then
			for o in $ORDERING; do
				run_server fngate "$r" "$o"
			done
		else
			run_server "$s" "$r"
		fi
	done
done

# ---- meta and report ----

cmd=$(bench_command bench/ws.sh QUICK ROUNDS ECHO_CONNS ECHO_SIZE ECHO_SECONDS ECHO_WARMUP SUBS \
	MSGS SIZE WINDOW IDLE_CONNS PIN PIN_SERVER PIN_CLIENT QUIET_WAIT ENGINE SERVERS ORDERING TESTS \
	FNGATE)
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command=$cmd"
	echo "rounds=$ROUNDS"
	echo "servers=$SERVERS"
	echo "ordering=$ORDERING"
	echo "echo_conns=$ECHO_CONNS"
	echo "echo_size=$ECHO_SIZE"
	echo "echo_seconds=$ECHO_SECONDS"
	echo "echo_warmup=$ECHO_WARMUP"
	echo "subs=$SUBS"
	echo "msgs=$MSGS"
	echo "size=$SIZE"
	echo "window=$WINDOW"
	echo "idle_conns=$IDLE_CONNS"
	echo "pin=$PIN"
	echo "pin_server=$PIN_SERVER"
	echo "pin_client=$PIN_CLIENT"
	echo "engine=$ENGINE"
	echo "nproc=$(nproc)"
	echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "kernel=$(uname -r)"
	echo "node=$(node --version)"
	echo "ws=$(node -p 'require("./tests/ws/node_modules/ws/package.json").version')"
	echo "lws=$(dpkg-query -W -f '${Version}' libwebsockets-dev 2>/dev/null ||
		pkg-config --modversion libwebsockets)"
	echo "git=$GIT_REV"
	echo "fngate_bin=$FNGATE"
	echo "buildtype=$(bench_buildtype "$FNGATE")"
	echo "sandbox=${FNGATE_SANDBOX:-}"
} >"$RESULTS/meta.txt"

bench_report wsreport.py
