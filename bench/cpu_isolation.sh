#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# CPU isolation benchmark (issue 9): a victim function (examples/hello) under a steady, small
# load — wrk with a fixed number of connections — measured alone and while an attacker
# function (bench/cpu_spin.c) spins on every worker it has, with CPU isolation on (the
# default) and off (`functions.cpu_isolation: false`: workers are plain processes, the
# behaviour before issue 9). Each case runs on a fresh fngate; the cases alternate within a
# round and the order is reversed every other round; the report gives the median of the
# rounds for the victim's p50 and p99 and their ratio to the victim alone.
#
#   bench/cpu_isolation.sh            run, print the markdown section on stdout
#   bench/cpu_isolation.sh --write    also replace the cpu section of docs/BENCHMARKS.md
#
# Environment:
#   ROUNDS=5        rounds (each: every case at every CONNS)
#   DURATION=10     seconds per wrk run
#   CONNS="1 2 4"   wrk connections (-t1) for the victim's load, each a table row
#   ATTACKERS=2     the attacker's concurrency (= workers), each kept busy by one request in
#                   flight for the whole run (its deadline, 120 s, is never reached)
#   QUIET_WAIT=60   before each run, wait up to this many seconds for the (shared) machine to
#                   be under 10% busy (bench/runwrk.py); runs next to other load are flagged
#                   and their rounds left out of the medians when at least one round ran clean
#   CLIENT_CG=1     run wrk in the gateway's cpu cgroup (".../fngate-<pid>/active/gateway",
#                   where the supervisor moves the gateway whether isolation is on or off):
#                   it stands in for a client on another machine, which a spinning worker
#                   cannot delay;
#                   sharing the gateway's group, it takes the CPU from an idle worker at once,
#                   as the gateway does (0: a plain process, delayed by a spinning worker as
#                   any other process on the machine)
#   BUILD_DIR=build-bench
#                   meson build directory (created with --buildtype=release if missing); its
#                   uninstalled fngate.pc builds the handlers, as `make functions` does
#   FNGATE=path     use this fngate binary instead of BUILD_DIR/gateway/fngate
#   KEEP_RESULTS=dir
#                   copy the raw results there; `python3 bench/cpureport.py DIR` regenerates
#                   the report
#
# Needs: wrk, curl, cc, pkg-config, python3, meson + ninja. Run as root (workers drop to
# uid 65534; cgroups). Every process started here is stopped by pid on exit.
set -eu

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-1 2 4}
ATTACKERS=${ATTACKERS:-2}
QUIET_WAIT=${QUIET_WAIT:-60}
CLIENT_CG=${CLIENT_CG:-1}
BUILD_DIR=${BUILD_DIR:-build-bench}
ATTACK_TIMEOUT_MS=120000

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_NAME=cpu_isolation.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_args "$@"

[ "$(id -u)" = 0 ] || die "run as root: workers drop to uid 65534 and get cgroups"
for tool in wrk curl cc pkg-config python3 meson ninja; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
[ $((ATTACK_TIMEOUT_MS / 1000)) -gt $((DURATION + 30)) ] || die "DURATION too long for the attack"
CPU_MNT=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpu(,|$)/ { print $2; exit }' /proc/mounts)
[ "$CLIENT_CG" = 0 ] || [ -n "$CPU_MNT" ] || die "CLIENT_CG=1 needs the v1 cpu controller"

bench_tmp fngate-cpubench
chmod 755 "$TMP"
RESULTS=$TMP/results
mkdir -p "$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- build: the gateway, the victim and the attacker, the way a user builds handlers ----

bench_fngate_build
SDK_FLAGS=$(PKG_CONFIG_PATH="$ROOT/$BUILD_DIR/meson-uninstalled" pkg-config --cflags --libs fngate)
mkdir -p "$TMP/builds"
# shellcheck disable=SC2086
cc -shared -fPIC -O2 -Wall -Wextra -o "$TMP/builds/hello.so" examples/hello/hello.c $SDK_FLAGS
# shellcheck disable=SC2086
cc -shared -fPIC -O2 -Wall -Wextra -o "$TMP/builds/spin.so" bench/cpu_spin.c $SDK_FLAGS
chmod -R a+rX "$TMP/builds"

# ---- one fngate per run ----

# start_fngate NAME on|off: fngate with the victim (hello, the default pool of 2) and the
# attacker (spin, ATTACKERS workers); sets FNGATE_PID and FNGATE_PORT.
start_fngate() {
	local dir=$TMP/$1
	mkdir -p "$dir/functions"
	cp "$TMP/builds/hello.so" "$TMP/builds/spin.so" "$dir/functions/"
	printf 'concurrency: %d\ntimeout_ms: %d\nqueue: 8\n' "$ATTACKERS" "$ATTACK_TIMEOUT_MS" \
		>"$dir/functions/spin.yaml"
	chmod -R a+rX "$dir"
	touch -d '-1 min' "$dir"/functions/*.so
	# The attacker's deadline is over functions.max.timeout_ms: the operator grants it.
	bench_config "$dir/functions" "cpu_isolation: $([ "$2" = on ] && echo true || echo false)" \
		"grants: { spin: { max: { timeout_ms: $ATTACK_TIMEOUT_MS } } }" \
		-- "GET /hello/{name}=hello" "GET /spin=spin" >"$dir/fngate.yaml"
	fngate_start "$1" "$dir/fngate.yaml" 2
}

# spinners: the attacker's worker pids (comm fn:spin) that are running or runnable.
spinners() {
	local sup w
	for sup in $(pgrep -P "$FNGATE_PID"); do
		for w in $(pgrep -P "$sup"); do
			[ "$(cat "/proc/$w/comm" 2>/dev/null)" = fn:spin ] || continue
			[ "$(awk '{ print $3 }' "/proc/$w/stat" 2>/dev/null)" = R ] && echo "$w"
		done
	done
	return 0
}

# cpu_cgroup PID: its cgroup in the v1 cpu hierarchy.
cpu_cgroup() { awk -F: '$2 ~ /(^|,)cpu(,|$)/ { print $3 }' "/proc/$1/cgroup"; }

# evidence FILE: where the attacker's workers are and what they weigh.
evidence() {
	local w rel
	for w in $(spinners); do
		rel=$(cpu_cgroup "$w")
		echo "pid=$w cgroup=$rel nice=$(awk '{ print $19 }' "/proc/$w/stat")" \
			"cpu.idle=$(cat "$CPU_MNT$rel/cpu.idle" 2>/dev/null || echo -)" \
			"cpu.shares=$(cat "$CPU_MNT$rel/cpu.shares" 2>/dev/null || echo -)"
	done >"$1"
	echo "gateway=$(cpu_cgroup "$FNGATE_PID")" >>"$1"
}

# run_case ROUND CONNS CASE: CASE is alone|attack|alone-off|attack-off.
run_case() {
	local r=$1 c=$2 name=$3 mode=on out cpids=() i victim
	[ "${name%-off}" != "$name" ] && mode=off
	out=$RESULTS/wrk/c$c/$r-$name.txt
	mkdir -p "$RESULTS/wrk/c$c"
	start_fngate "$name-$r-c$c" "$mode"
	CLIENT=()
	if [ "$CLIENT_CG" = 1 ]; then
		# shellcheck disable=SC2016
		CLIENT=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"'
			"$CPU_MNT$(cpu_cgroup "$FNGATE_PID")")
	fi
	victim=http://127.0.0.1:$FNGATE_PORT/prod/hello/world
	curl -sf -o /dev/null "$victim" || die "$name: the victim does not answer"
	"${CLIENT[@]}" wrk -t1 -c"$c" -d2s "$victim" >/dev/null
	wait_quiet "$QUIET_WAIT" >/dev/null
	if [ "${name#attack}" != "$name" ]; then
		for ((i = 0; i < ATTACKERS; i++)); do
			curl -s -o /dev/null -m $((ATTACK_TIMEOUT_MS / 1000 + 10)) \
				"http://127.0.0.1:$FNGATE_PORT/prod/spin" &
			cpids+=($!)
			PIDS+=($!)
		done
		for _ in $(seq 100); do
			[ "$(spinners | wc -l)" -ge "$ATTACKERS" ] && break
			sleep 0.05
		done
		[ "$(spinners | wc -l)" -ge "$ATTACKERS" ] || die "$name: the attacker is not busy"
		sleep 0.5
	fi
	python3 bench/fnwrk.py "$FNGATE_PID" "$out" -- "${CLIENT[@]}" \
		wrk -t1 -c"$c" -d"${DURATION}"s --latency "$victim"
	if [ "${name#attack}" != "$name" ]; then
		evidence "$RESULTS/evidence-$name-c$c-$r.txt"
		echo "spinning=$(spinners | wc -l)" >>"$out.cpu"
		for p in "${cpids[@]}"; do
			stop_pid "$p" 10
		done
	fi
	stop_pid "$FNGATE_PID"
	python3 bench/report.py --row "round $r/$ROUNDS c$c $name" "$out" >&2 || true
}

CASES=(alone attack attack-off alone-off)
for ((r = 1; r <= ROUNDS; r++)); do
	order=("${CASES[@]}")
	if ((r % 2 == 0)); then
		order=(alone-off attack-off attack alone)
	fi
	for c in $CONNS; do
		for n in "${order[@]}"; do
			run_case "$r" "$c" "$n"
		done
	done
done

# ---- meta and report ----

{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command=$(bench_command bench/cpu_isolation.sh ROUNDS DURATION CONNS ATTACKERS \
		QUIET_WAIT CLIENT_CG FNGATE)"
	echo "rounds=$ROUNDS"
	echo "duration=$DURATION"
	echo "conns=$CONNS"
	echo "attackers=$ATTACKERS"
	echo "client_cg=$CLIENT_CG"
	echo "nproc=$(nproc)"
	echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "kernel=$(uname -r)"
	echo "wrk=$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')"
	echo "git=$GIT_REV"
	echo "fngate_bin=$FNGATE"
	echo "buildtype=$(bench_buildtype "$FNGATE")"
	echo "sandbox=$(sed -n 's/.*"msg":"function host".*"sandbox":"\([^"]*\)".*/\1/p' \
		"$TMP"/alone-1-c*.err | head -n1)"
	echo "load_before=$LOAD_BEFORE"
	echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RESULTS/meta.txt"

bench_report cpureport.py
