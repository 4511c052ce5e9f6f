#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Function-host benchmark: a fngate function route (examples/hello) against nginx `return 200`
# and against nginx + a FastCGI C handler doing the same work, side by side on loopback; the
# invocation cost at one connection; cold start (a new .so version dropped into the watched
# directory); worker respawn after a crash; and where the time goes (perf, strace, context
# switches, wake-up CPUs, CPU pinning, an IPC model).
#
#   bench/functions.sh            run, print the markdown section on stdout
#   bench/functions.sh --write    also replace the functions section of docs/BENCHMARKS.md
#
# Environment:
#   ROUNDS=3        wrk rounds per configuration (all configurations alternate; the order is
#                   reversed every other round)
#   DURATION=10     seconds per wrk run
#   WARMUP=2        seconds of an unrecorded wrk run per configuration before the rounds
#   CONNS=64        wrk connections for the throughput runs (the latency runs use 1)
#   QUIET_WAIT=60   before each wrk run, wait up to this many seconds for the (shared) machine
#                   to be under 10% busy (bench/runwrk.py); rounds run next to other load are
#                   flagged and left out of the medians when at least one round ran clean
#   PIN=1           also run the pinned configurations: servers (fngate with its supervisor and
#                   workers; nginx; nginx + FastCGI) on CPU PIN_SERVER, wrk on CPU PIN_CLIENT
#   PIN_SERVER=0 PIN_CLIENT=1
#   DEPLOYS=30      cold starts per method (rename, cp)
#   CRASHES=30      crash-respawn cycles
#   PROFILE=1       perf stat / perf record / strace / context-switch runs (0: skip)
#   NOCG=0          1: also time cold starts and respawns on a third fngate that finds no
#                   cgroups (private mount namespace, empty /sys/fs/cgroup): what the cgroup
#                   attach costs a spawn (a diagnosis, not a configuration to run; since workers
#                   start from a spare that joined its cgroups ahead of need, it costs nothing)
#   BUILD_DIR=build-bench
#                   meson build directory (created with --buildtype=release if missing); its
#                   uninstalled fngate.pc builds the handlers, as `make functions` does
#   FNGATE=path     use this fngate binary instead of BUILD_DIR/gateway/fngate (its build
#                   directory's meson-info gives the build type in the report)
#   FNGATE_NOTE=text
#                   a note on that binary for the report (e.g. the patch it carries)
#   KEEP_RESULTS=dir
#                   copy the raw results there; `python3 bench/fnreport.py DIR` regenerates
#                   the report
#
# Needs: wrk, nginx (/usr/sbin/nginx, private instances), spawn-fcgi and libfcgi-dev, gcc/cc,
# pkg-config, python3, meson + ninja, taskset; perf and strace for PROFILE=1 and for the
# spawn-to-READY trace. Run as root (the supervisor drops workers to uid 65534, cgroups).
# Every process started here is stopped by pid on exit.
set -eu

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
QUIET_WAIT=${QUIET_WAIT:-60}
PIN=${PIN:-1}
PIN_SERVER=${PIN_SERVER:-0}
PIN_CLIENT=${PIN_CLIENT:-1}
DEPLOYS=${DEPLOYS:-30}
CRASHES=${CRASHES:-30}
PROFILE=${PROFILE:-1}
BUILD_DIR=${BUILD_DIR:-build-bench}
NGINX=${NGINX:-/usr/sbin/nginx}
BODY='{"message":"hello, world","stage":"prod"}'

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_NAME=functions.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_args "$@"

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(id -u)" = 0 ] || die "run as root: workers drop to uid 65534 and get cgroups"
for tool in wrk cc gcc pkg-config python3 taskset spawn-fcgi meson ninja "$NGINX"; do
	command -v "$tool" >/dev/null || die "$tool not found"
done
[ -f /usr/include/fcgi_stdio.h ] || die "libfcgi-dev is not installed"
HAVE_PERF=0
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
	HAVE_PERF=1
fi
HAVE_STRACE=0
command -v strace >/dev/null && HAVE_STRACE=1

bench_tmp fngate-fnbench
chmod 755 "$TMP" # workers (uid 65534) read the functions directory's copies below it

RESULTS=$TMP/results
mkdir -p "$RESULTS/wrk/c$CONNS" "$RESULTS/wrk/c1" "$RESULTS/responses" "$RESULTS/prof"

# stop PID: SIGINT (perf and strace write their summaries on it), then wait for it.
stop() {
	kill -INT "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}


# fetch PORT PATH FILE: one GET on a fresh connection, the raw response saved to FILE; fails
# unless it is 200 with body BODY + "\n" (what hello answers for /prod/hello/world).
fetch() {
	python3 - "$1" "$2" "$3" "$BODY" <<'EOF'
import socket, sys
port, path, out, want = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].encode() + b"\n"
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(65536)
    if not d:
        break
    buf += d
head, _, body = buf.partition(b"\r\n\r\n")
clen = 0
for line in head.split(b"\r\n")[1:]:
    k, _, v = line.partition(b":")
    if k.strip().lower() == b"content-length":
        clen = int(v)
while len(body) < clen:
    d = s.recv(65536)
    if not d:
        break
    body += d
open(out, "wb").write(head + b"\r\n\r\n" + body)
status = head.split(b" ")[1] if head.startswith(b"HTTP/") else b"?"
if status != b"200" or body != want:
    sys.exit("unexpected response on port %d %s: %r" % (port, path, buf[:400]))
EOF
}

# ---- build: the gateway and the handlers, the way a user builds them ----

bench_fngate_build
SDK_FLAGS=$(PKG_CONFIG_PATH="$ROOT/$BUILD_DIR/meson-uninstalled" pkg-config --cflags --libs fngate)
HANDLER_CFLAGS="-shared -fPIC -O2 -Wall -Wextra"
BUILDS=$TMP/builds
mkdir -p "$BUILDS/variants"
# shellcheck disable=SC2086
cc $HANDLER_CFLAGS -o "$BUILDS/hello.so" examples/hello/hello.c $SDK_FLAGS
# shellcheck disable=SC2086
cc $HANDLER_CFLAGS -o "$BUILDS/fn_bench.so" bench/fn_bench.c $SDK_FLAGS
gcc -O2 -Wall -Wextra -o "$BUILDS/fcgi_hello" bench/fcgi_hello.c -lfcgi
# One build of bench/fn_bench.c per cold start, each with its own BENCH_VERSION (so its own
# content hash), compiled up front so that their mtimes are old by the time they are used.
seq 1 $((3 * DEPLOYS)) | xargs -P "$(nproc)" -I{} sh -c \
	"cc $HANDLER_CFLAGS -DBENCH_VERSION='\"{}\"' -o '$BUILDS/variants/v{}.so' bench/fn_bench.c $SDK_FLAGS"
chmod -R a+rX "$BUILDS"

# ---- fngate: two instances, one free to run anywhere, one pinned ----

# write_functions DIR: hello (pool 2 = the default), hello1 (pool 1), hellop/hellop1 (the same
# with recycling pushed out of the way, so that profiles see the same worker pids throughout),
# cold and crashy (bench/fn_bench.c) and their manifests.
write_functions() {
	local d=$1
	mkdir -p "$d"
	cp "$BUILDS/hello.so" "$d/hello.so"
	printf 'concurrency: 2\n' >"$d/hello.yaml"
	cp "$BUILDS/hello.so" "$d/hello1.so"
	printf 'concurrency: 1\n' >"$d/hello1.yaml"
	cp "$BUILDS/hello.so" "$d/hellop.so"
	printf 'concurrency: 2\nmax_invocations: 2000000000\n' >"$d/hellop.yaml"
	cp "$BUILDS/hello.so" "$d/hellop1.so"
	printf 'concurrency: 1\nmax_invocations: 2000000000\n' >"$d/hellop1.yaml"
	cp "$BUILDS/fn_bench.so" "$d/cold.so"
	cp "$BUILDS/fn_bench.so" "$d/crashy.so"
	chmod -R a+rX "$d"
	# An old mtime: deployed at the first scan, without the "still being written" wait.
	touch -d '-1 min' "$d"/*.so
}

# start_fngate NAME [CPU [nocg]]: runs fngate with its own functions directory; sets
# FNGATE_PORT, FNGATE_PID. CPU "" is no pinning. nocg: in a private mount namespace whose
# /sys/fs/cgroup is an empty tmpfs, so that the sandbox finds no cgroups and falls back to
# rlimits (a diagnosis of what cgroups cost a spawn, not a configuration to run).
start_fngate() {
	local name=$1 cpu=${2:-} mode=${3:-} dir=$TMP/$1 pre=()
	write_functions "$dir/functions"
	{
		bench_config "$dir/functions" -- "GET /hello/{name}=hello" "GET /hello1/{name}=hello1" \
			"GET /hellop/{name}=hellop" "GET /hellop1/{name}=hellop1" \
			"GET /cold/{name}=cold" "GET /crashy/{name}=crashy"
		cat <<EOF
      "GET /mock/hello/{name}":
        integration:
          type: mock
          headers: { content-type: application/json }
          body: "{\"message\":\"hello, \${request.path.name|json}\",\"stage\":\"\${context.stage|json}\"}\n"
EOF
	} >"$dir/fngate.yaml"
	[ -n "$cpu" ] && pre=(taskset -c "$cpu")
	if [ "$mode" = nocg ]; then
		# shellcheck disable=SC2016
		pre+=(unshare -m --propagation private sh -c \
			'mount -t tmpfs fngate-nocg /sys/fs/cgroup && exec "$0" "$@"')
	fi
	# Every function deployed before anything is measured.
	fngate_start "$name" "$dir/fngate.yaml" 6 "${pre[@]}"
	log "$name: pid $FNGATE_PID on 127.0.0.1:$FNGATE_PORT${cpu:+, pinned to CPU $cpu}"
}

# children PID: the direct children's pids.
children() { pgrep -P "$1" || true; }

# workers GATEWAY_PID FUNCTION: the pids of the function's workers (comm "fn:FUNCTION").
workers() {
	local sup w
	for sup in $(children "$1"); do
		for w in $(children "$sup"); do
			[ "$(cat "/proc/$w/comm" 2>/dev/null)" = "fn:$2" ] && echo "$w"
		done
	done
	return 0
}

# ---- nginx: return 200, and in front of FastCGI ----

cat >"$TMP/fcgikeeper.py" <<'EOF'
# Runs spawn-fcgi and stays the parent (a child subreaper) of the FastCGI processes it forks,
# so that they are stopped by this process's pid and reaped here; prints their pids.
import ctypes, os, re, signal, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
sock, n, app = sys.argv[1:4]
r = subprocess.run(["spawn-fcgi", "-s", sock, "-M", "0666", "-F", n, "-u", "nobody", "--", app],
                   capture_output=True, text=True)
pids = [int(p) for p in re.findall(r"PID: (\d+)", r.stdout + r.stderr)]
print(" ".join(map(str, pids)), flush=True)
if r.returncode != 0 or not pids:
    sys.stderr.write(r.stdout + r.stderr)
    sys.exit(1)
def stop(*_):
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
    except InterruptedError:
        pass
EOF

# start_nginx NAME KIND [CPU]: a private nginx, one worker, on a free loopback port. KIND:
# return (`return 200` with hello's body), fcgi (fastcgi_pass to 2 fcgi_hello processes on a
# UNIX socket, a new upstream connection per request: nginx's default), fcgika (the same with
# upstream keep-alive). Sets NGINX_PORT, NGINX_PIDS (the pids whose process trees are the
# server: master, and the FastCGI keeper).
start_nginx() {
	local name=$1 kind=$2 cpu=${3:-} dir=$TMP/$1 port location upstream="" keeper="" tries pre=()
	mkdir -p "$dir"
	[ -n "$cpu" ] && pre=(taskset -c "$cpu")
	case "$kind" in
	return)
		location="default_type application/json; return 200 '$BODY\\n';"
		;;
	fcgi | fcgika)
		"${pre[@]}" python3 "$TMP/fcgikeeper.py" "$dir/fcgi.sock" 2 "$BUILDS/fcgi_hello" \
			>"$dir/fcgi.pids" 2>"$TMP/$name-fcgi.err" &
		keeper=$!
		PIDS+=("$keeper")
		for _ in $(seq 50); do
			[ -s "$dir/fcgi.pids" ] && break
			sleep 0.1
		done
		[ -S "$dir/fcgi.sock" ] || die "$name: spawn-fcgi failed: $(cat "$TMP/$name-fcgi.err")"
		if [ "$kind" = fcgi ]; then
			location="include /etc/nginx/fastcgi_params; fastcgi_pass unix:$dir/fcgi.sock;"
		else
			upstream="upstream fcgi { server unix:$dir/fcgi.sock; keepalive 2; }"
			location="include /etc/nginx/fastcgi_params; fastcgi_pass fcgi; fastcgi_keep_conn on;"
		fi
		;;
	*) die "start_nginx: unknown kind $kind" ;;
	esac
	for tries in 1 2 3; do
		port=$(free_port)
		bench_nginx_conf "$dir" "	$upstream
	server {
		listen 127.0.0.1:$port;
		location / {
			$location
		}
	}"
		"${pre[@]}" "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' \
			2>"$TMP/$name.err" &
		NGINX_MASTER=$!
		PIDS+=("$NGINX_MASTER")
		for _ in $(seq 100); do
			kill -0 "$NGINX_MASTER" 2>/dev/null || break
			if [ -n "$(children "$NGINX_MASTER")" ] &&
				fetch "$port" /prod/hello/world "$dir/probe.txt" 2>/dev/null; then
				NGINX_PORT=$port
				NGINX_PIDS=$NGINX_MASTER${keeper:+,$keeper}
				log "$name: nginx master $NGINX_MASTER on 127.0.0.1:$port${keeper:+, FastCGI pids $(cat "$dir/fcgi.pids")}${cpu:+, pinned to CPU $cpu}"
				return 0
			fi
			sleep 0.1
		done
		wait "$NGINX_MASTER" 2>/dev/null || true
		log "$name: nginx did not start on port $port (try $tries)"
	done
	die "$name: could not start nginx"
}

# ---- the configurations ----

start_fngate fngate
GW=$FNGATE_PID GW_PORT=$FNGATE_PORT
start_nginx nginx return
NG_PORT=$NGINX_PORT NG_PIDS=$NGINX_PIDS
start_nginx fcgi fcgi
FC_PORT=$NGINX_PORT FC_PIDS=$NGINX_PIDS
if [ "$PIN" = 1 ]; then
	start_fngate fngate-pin "$PIN_SERVER"
	GWP=$FNGATE_PID GWP_PORT=$FNGATE_PORT
	start_nginx nginx-pin return "$PIN_SERVER"
	NGP_PORT=$NGINX_PORT NGP_PIDS=$NGINX_PIDS
	start_nginx fcgi-pin fcgi "$PIN_SERVER"
	FCP_PORT=$NGINX_PORT FCP_PIDS=$NGINX_PIDS
fi

# name|label|port|path|server pids|pinned
CONFIGS=(
	"fn2|fngate function hello, pool 2 (default)|$GW_PORT|/prod/hello/world|$GW|"
	"fn1|fngate function hello, pool 1|$GW_PORT|/prod/hello1/world|$GW|"
	"mock|fngate mock route (same body)|$GW_PORT|/prod/mock/hello/world|$GW|"
	"nginx|nginx return 200|$NG_PORT|/prod/hello/world|$NG_PIDS|"
	"fcgi|nginx + FastCGI (libfcgi, 2 processes)|$FC_PORT|/prod/hello/world|$FC_PIDS|"
)
LAT_CONFIGS=(fn2 mock nginx fcgi)
if [ "$PIN" = 1 ]; then
	CONFIGS+=(
		"fn2-pin|fngate function hello, pool 2, pinned|$GWP_PORT|/prod/hello/world|$GWP|1"
		"fn1-pin|fngate function hello, pool 1, pinned|$GWP_PORT|/prod/hello1/world|$GWP|1"
		"mock-pin|fngate mock route, pinned|$GWP_PORT|/prod/mock/hello/world|$GWP|1"
		"nginx-pin|nginx return 200, pinned|$NGP_PORT|/prod/hello/world|$NGP_PIDS|1"
		"fcgi-pin|nginx + FastCGI, pinned|$FCP_PORT|/prod/hello/world|$FCP_PIDS|1"
	)
	LAT_CONFIGS+=(fn2-pin mock-pin)
fi

config() { # config NAME: sets C_LABEL C_PORT C_PATH C_PIDS C_PIN
	local c
	for c in "${CONFIGS[@]}"; do
		if [ "${c%%|*}" = "$1" ]; then
			IFS='|' read -r _ C_LABEL C_PORT C_PATH C_PIDS C_PIN <<<"$c"
			return 0
		fi
	done
	die "no configuration $1"
}

# run_wrk NAME CONNS SECONDS OUT [QUIET]: wrk on NAME's URL, CPU accounting in OUT.cpu.
run_wrk() {
	local pre=() quiet=${5:-$QUIET_WAIT}
	config "$1"
	[ -n "$C_PIN" ] && pre=(taskset -c "$PIN_CLIENT")
	python3 bench/fnwrk.py --wait-quiet "$quiet" "$C_PIDS" "$4" -- \
		"${pre[@]}" wrk -t1 -c"$2" -d"$3"s --latency "http://127.0.0.1:$C_PORT$C_PATH"
}

NAMES=()
for c in "${CONFIGS[@]}"; do
	NAMES+=("${c%%|*}")
	config "${c%%|*}"
	fetch "$C_PORT" "$C_PATH" "$RESULTS/responses/${c%%|*}.txt" || die "${c%%|*} answers wrongly"
	echo "${c%%|*}|$C_LABEL|$C_PIN" >>"$RESULTS/configs.txt"
done

# ---- 1. throughput at CONNS connections, 2. latency at one connection ----

if [ "$WARMUP" -gt 0 ]; then
	for n in "${NAMES[@]}"; do
		run_wrk "$n" "$CONNS" "$WARMUP" "$TMP/warmup-$n.txt" 0
	done
fi
# rounds DIR CONNS NAME...: alternating rounds, the order reversed every other round.
rounds() {
	local dir=$1 conns=$2 r i order
	shift 2
	for ((r = 1; r <= ROUNDS; r++)); do
		order=("$@")
		if ((r % 2 == 0)); then
			order=()
			for ((i = $#; i >= 1; i--)); do order+=("${!i}"); done
		fi
		for n in "${order[@]}"; do
			run_wrk "$n" "$conns" "$DURATION" "$dir/$r-$n.txt"
			python3 bench/report.py --row "c$conns round $r/$ROUNDS $n" "$dir/$r-$n.txt" >&2 || true
		done
	done
}
rounds "$RESULTS/wrk/c$CONNS" "$CONNS" "${NAMES[@]}"
rounds "$RESULTS/wrk/c1" 1 "${LAT_CONFIGS[@]}"

# ---- 3. cold start, 4. respawn: with a spawn trace when perf can record one ----

SUP=$(children "$GW" | head -n1)
# A spawn request's size: a spare's recvmsg returning it is the hand-off of a worker.
printf '#include <stdio.h>\n#include "sandbox.h"\nint main(void) { printf("%%zu\\n", sizeof(struct fng_sb_spawn)); return 0; }\n' \
	>"$TMP/spawnsize.c"
cc -I sandbox -I sdk -o "$TMP/spawnsize" "$TMP/spawnsize.c"
SPAWN_SIZE=$("$TMP/spawnsize")
if [ "$HAVE_PERF" = 1 ]; then
	# Forks by the supervisor, hand-offs to its spare, and writes on fd 3 (the worker's
	# socketpair: its first one after the start is READY). perf's own output must not be
	# fd 3, hence the descriptors held open around it.
	perf record -a -k CLOCK_MONOTONIC -o "$TMP/spawn.data" \
		-e sched:sched_process_fork --filter "parent_pid == $SUP" \
		-e syscalls:sys_enter_write --filter 'fd == 3 && count < 64' \
		-e syscalls:sys_exit_recvmsg --filter "ret == $SPAWN_SIZE" \
		3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null 8</dev/null 9</dev/null \
		>/dev/null 2>"$TMP/perf-spawn.err" &
	PERF_SPAWN=$!
	PIDS+=("$PERF_SPAWN")
	sleep 1
fi
VAR=$BUILDS/variants
FUNCDIR=$TMP/fngate/functions
mapfile -t rename_set < <(for ((i = 1; i <= DEPLOYS; i++)); do echo "$VAR/v$i.so"; done)
mapfile -t cp_set < <(for ((i = DEPLOYS + 1; i <= 2 * DEPLOYS; i++)); do echo "$VAR/v$i.so"; done)
python3 bench/fndeploy.py cold "$GW_PORT" /prod/cold/world "$FUNCDIR" cold rename \
	"$RESULTS/cold-rename.csv" "${rename_set[@]}"
python3 bench/fndeploy.py cold "$GW_PORT" /prod/cold/world "$FUNCDIR" cold cp \
	"$RESULTS/cold-cp.csv" "${cp_set[@]}"
python3 bench/fndeploy.py respawn "$GW_PORT" /prod/crashy/world "$CRASHES" "$RESULTS/respawn.csv"
if [ "$HAVE_PERF" = 1 ]; then
	sleep 0.5
	stop "$PERF_SPAWN"
	perf script -i "$TMP/spawn.data" --ns -F pid,time,event,trace >"$RESULTS/spawn-trace.txt" \
		2>/dev/null || true
fi
kill -0 "$GW" 2>/dev/null || die "fngate died during the deploy/crash runs: $(tail -n3 "$TMP/fngate.err")"
grep -E '"msg":"function (updated|deployed)"' "$TMP/fngate.err" >"$RESULTS/deploy-log.txt" || true

# The same without cgroups (diagnosis): how much of a spawn is the cgroup attach.
if [ "${NOCG:-0}" = 1 ]; then
	start_fngate fngate-nocg "" nocg
	GWN=$FNGATE_PID GWN_PORT=$FNGATE_PORT
	SUPN=$(children "$GWN" | head -n1)
	sed -n 's/.*"msg":"function host".*"sandbox":"\([^"]*\)".*/\1/p' "$TMP/fngate-nocg.err" | head -n1 \
		>"$RESULTS/nocg-sandbox.txt"
	if [ "$HAVE_PERF" = 1 ]; then
		perf record -a -k CLOCK_MONOTONIC -o "$TMP/spawn-nocg.data" \
			-e sched:sched_process_fork --filter "parent_pid == $SUPN" \
			-e syscalls:sys_enter_write --filter 'fd == 3 && count < 64' \
			-e syscalls:sys_exit_recvmsg --filter "ret == $SPAWN_SIZE" \
			3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null 8</dev/null 9</dev/null \
			>/dev/null 2>"$TMP/perf-spawn-nocg.err" &
		PERF_SPAWN=$!
		PIDS+=("$PERF_SPAWN")
		sleep 1
	fi
	mapfile -t nocg_set < <(for ((i = 2 * DEPLOYS + 1; i <= 3 * DEPLOYS; i++)); do echo "$VAR/v$i.so"; done)
	python3 bench/fndeploy.py cold "$GWN_PORT" /prod/cold/world "$TMP/fngate-nocg/functions" cold \
		rename "$RESULTS/nocg-cold-rename.csv" "${nocg_set[@]}"
	python3 bench/fndeploy.py respawn "$GWN_PORT" /prod/crashy/world "$CRASHES" "$RESULTS/nocg-respawn.csv"
	if [ "$HAVE_PERF" = 1 ]; then
		sleep 0.5
		stop "$PERF_SPAWN"
		perf script -i "$TMP/spawn-nocg.data" --ns -F pid,time,event,trace \
			>"$RESULTS/spawn-trace-nocg.txt" 2>/dev/null || true
	fi
	kill -TERM "$GWN"
	wait "$GWN" 2>/dev/null || true
fi

# ---- 5. where the time goes ----

# ctx_snapshot PID...: "pid voluntary nonvoluntary" lines.
ctx_snapshot() {
	local p
	for p in "$@"; do
		awk -v p="$p" '/^voluntary_ctxt_switches/ { v = $2 } /^nonvoluntary_ctxt_switches/ { n = $2 }
			END { print p, v, n }' "/proc/$p/status"
	done
}

if [ "$PROFILE" = 1 ]; then
	P=$RESULTS/prof
	# prof_counts NAME GATEWAY FUNCTION|-: counts over one DURATION run: syscalls (perf stat
	# raw_syscalls) and context switches (/proc/PID/status) of the gateway and the workers.
	prof_counts() {
		local n=$1 gw=$2 fn=$3 ws="" pg="" pw=""
		run_wrk "$n" "$CONNS" 2 "$TMP/prewarm-$n.txt" 0 # the pool at full size
		# The quiet wait comes first: perf stat's window must cover the whole wrk run.
		wait_quiet "$QUIET_WAIT" >/dev/null
		[ "$fn" != - ] && ws=$(workers "$gw" "$fn" | tr '\n' ' ')
		{
			echo "workers=$ws"
			echo "before"
			ctx_snapshot "$gw" $ws
		} >"$P/ctx-$n.txt"
		if [ "$HAVE_PERF" = 1 ]; then
			perf stat -x, -e raw_syscalls:sys_enter,sched:sched_switch -p "$gw" \
				-o "$P/perfstat-$n-gateway.txt" -- sleep $((DURATION + 1)) 2>/dev/null &
			pg=$!
			PIDS+=("$pg")
			if [ -n "$ws" ]; then
				perf stat -x, -e raw_syscalls:sys_enter,sched:sched_switch \
					-p "$(echo $ws | tr ' ' ',')" -o "$P/perfstat-$n-workers.txt" \
					-- sleep $((DURATION + 1)) 2>/dev/null &
				pw=$!
				PIDS+=("$pw")
			fi
			sleep 0.3
		fi
		run_wrk "$n" "$CONNS" "$DURATION" "$P/wrk-$n.txt" 0
		{
			echo "after"
			ctx_snapshot "$gw" $ws
			echo "workers_after=$(workers "$gw" "$fn" | tr '\n' ' ')"
		} >>"$P/ctx-$n.txt"
		[ -n "$pg" ] && wait "$pg" 2>/dev/null
		[ -n "$pw" ] && wait "$pw" 2>/dev/null
		log "profile counts $n done"
	}
	# The same configurations, on the profiling functions (no recycling: stable pids).
	CONFIGS+=(
		"pfn2|hellop, pool 2|$GW_PORT|/prod/hellop/world|$GW|"
		"pfn1|hellop1, pool 1|$GW_PORT|/prod/hellop1/world|$GW|"
	)
	prof_counts pfn2 "$GW" hellop
	prof_counts pfn1 "$GW" hellop1
	prof_counts mock "$GW" -
	if [ "$PIN" = 1 ]; then
		CONFIGS+=(
			"pfn2-pin|hellop, pool 2, pinned|$GWP_PORT|/prod/hellop/world|$GWP|1"
			"pfn1-pin|hellop1, pool 1, pinned|$GWP_PORT|/prod/hellop1/world|$GWP|1"
		)
		prof_counts pfn2-pin "$GWP" hellop
		prof_counts pfn1-pin "$GWP" hellop1
	fi

	# strace -c: which system calls, per request (strace slows everything down many times;
	# the counts per request stay meaningful, the rates do not).
	if [ "$HAVE_STRACE" = 1 ]; then
		for n in pfn2 mock; do
			config "$n"
			ws=""
			[ "$n" = pfn2 ] && ws=$(workers "$GW" hellop)
			strace -c -f -p "$GW" -o "$P/strace-$n-gateway.txt" 2>/dev/null &
			sg=$!
			PIDS+=("$sg")
			sw=""
			if [ -n "$ws" ]; then
				# shellcheck disable=SC2046
				strace -c $(for w in $ws; do echo "-p $w"; done) -o "$P/strace-$n-workers.txt" 2>/dev/null &
				sw=$!
				PIDS+=("$sw")
			fi
			sleep 1
			wrk -t1 -c"$CONNS" -d5s "http://127.0.0.1:$C_PORT$C_PATH" >"$P/strace-$n-wrk.txt"
			stop "$sg"
			[ -n "$sw" ] && stop "$sw"
			sleep 0.5
			log "strace $n done"
		done
	fi

	# perf record -g, whole machine: where both CPUs go during the function benchmark. The
	# reports keep to this benchmark's processes (the gateway, its workers, wrk: other
	# sessions on a shared machine run processes with the same names); the whole-machine
	# summary by process name shows idle time and everything else.
	if [ "$HAVE_PERF" = 1 ]; then
		pruns=(pfn2 pfn1)
		[ "$PIN" = 1 ] && pruns+=(pfn2-pin)
		for n in "${pruns[@]}"; do
			config "$n"
			pre=()
			[ -n "$C_PIN" ] && pre=(taskset -c "$PIN_CLIENT")
			"${pre[@]}" wrk -t1 -c"$CONNS" -d8s "http://127.0.0.1:$C_PORT$C_PATH" >"$P/perf-$n-wrk.txt" &
			wp=$!
			PIDS+=("$wp")
			sleep 1.5
			gw=${C_PIDS%%,*}
			fn=hellop
			[ "${n#pfn1}" != "$n" ] && fn=hellop1
			mine="$gw,$(children "$gw" | tr '\n' ','),$(workers "$gw" "$fn" | tr '\n' ','),$wp"
			mine=$(echo "$mine" | tr -s ',' | sed 's/,$//')
			echo "$mine" >"$P/perf-$n-pids.txt"
			perf record -a -g -o "$TMP/perf-$n.data" -- sleep 5 >/dev/null 2>&1 || true
			wait "$wp" || true
			perf report -i "$TMP/perf-$n.data" --stdio --no-children --sort comm -g none \
				>"$P/perf-$n-all.txt" 2>/dev/null || true
			perf report -i "$TMP/perf-$n.data" --stdio --no-children --pid "$mine" \
				--sort comm,dso -g none --percent-limit 0.3 >"$P/perf-$n-dso.txt" 2>/dev/null || true
			perf report -i "$TMP/perf-$n.data" --stdio --no-children --pid "$mine" \
				--sort comm,sym -g none --percent-limit 0.4 >"$P/perf-$n-sym.txt" 2>/dev/null || true
			perf report -i "$TMP/perf-$n.data" --stdio --no-children --pid "$mine" \
				--sort sym -g caller,0.5,callee --max-stack 24 --percent-limit 3 >"$P/perf-$n-graph.txt" 2>/dev/null || true
			log "perf record $n done"
		done
	fi

	# Which CPU the gateway and the workers are woken on (sched_wakeup: the event's CPU is the
	# waker's, target_cpu the wakee's): how often a request crosses to the other vCPU.
	if [ "$HAVE_PERF" = 1 ]; then
		wruns=(pfn2 pfn1)
		[ "$PIN" = 1 ] && wruns+=(pfn2-pin)
		for n in "${wruns[@]}"; do
			config "$n"
			pre=()
			[ -n "$C_PIN" ] && pre=(taskset -c "$PIN_CLIENT")
			"${pre[@]}" wrk -t1 -c"$CONNS" -d5s "http://127.0.0.1:$C_PORT$C_PATH" >"$P/wake-$n-wrk.txt" &
			wp=$!
			PIDS+=("$wp")
			sleep 1.5
			gw=${C_PIDS%%,*}
			perf record -a -e sched:sched_wakeup -o "$TMP/wake-$n.data" -- sleep 2 >/dev/null 2>&1 || true
			wait "$wp" || true
			{
				echo "gateway=$gw wrk=$wp"
				perf script -i "$TMP/wake-$n.data" -F cpu,pid,trace 2>/dev/null |
					awk -v gw="$gw" -v wrk="$wp" '{
						# "WAKER_PID [CPU] comm=WAKEE pid=WAKEE_TID prio=N target_cpu=CPU"
						cpu = $2; gsub(/[][]/, "", cpu); tc = ""; pid = ""; comm = ""
						for (i = 2; i <= NF; i++) {
							if ($i ~ /^target_cpu=/) { tc = substr($i, 12) }
							if ($i ~ /^pid=/) { pid = substr($i, 5) }
							if ($i ~ /^comm=/) { comm = substr($i, 6) }
						}
						who = comm ~ /^fn:hellop/ ? "workers" : pid == gw ? "gateway" : comm == "wrk" ? "wrk" : ""
						if (who == "") next
						n[who]++
						if (cpu + 0 != tc + 0) x[who]++
					} END { for (w in n) print w, n[w], x[w] + 0 }'
			} >"$P/wake-$n.txt"
			log "wake-up CPUs $n done"
		done
	fi

	# The IPC model (bench/ipcbatch.c): cost per invocation vs invocations per worker wake-up.
	gcc -O2 -Wall -Wextra -o "$BUILDS/ipcbatch" bench/ipcbatch.c
	for m in "0 0" "0 1" "-1 -1"; do
		wait_quiet "$QUIET_WAIT" >/dev/null
		# shellcheck disable=SC2086
		"$BUILDS/ipcbatch" $m 100000 | sed "s/^/cpus=${m// /,} /" >>"$P/ipcbatch.txt"
	done
	log "ipcbatch done"
fi

# ---- nginx + FastCGI with upstream keep-alive: one run, for the record ----

start_nginx fcgika fcgika
CONFIGS+=("fcgika|nginx + FastCGI with upstream keep-alive|$NGINX_PORT|/prod/hello/world|$NGINX_PIDS|")
run_wrk fcgika "$CONNS" "$DURATION" "$RESULTS/fcgika.txt" || true
fetch "$NGINX_PORT" /prod/hello/world "$RESULTS/responses/fcgika.txt" 2>/dev/null || true

kill -0 "$GW" 2>/dev/null || die "fngate died during the benchmark"

# ---- meta and report ----

cmd=$(bench_command bench/functions.sh ROUNDS DURATION WARMUP CONNS QUIET_WAIT PIN DEPLOYS \
	CRASHES PROFILE NOCG FNGATE)
if printenv FNGATE_NOTE >/dev/null; then cmd="FNGATE_NOTE=... $cmd"; fi
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command=$cmd"
	echo "rounds=$ROUNDS"
	echo "duration=$DURATION"
	echo "warmup=$WARMUP"
	echo "conns=$CONNS"
	echo "pin=$PIN"
	echo "pin_server=$PIN_SERVER"
	echo "pin_client=$PIN_CLIENT"
	echo "deploys=$DEPLOYS"
	echo "crashes=$CRASHES"
	echo "nproc=$(nproc)"
	echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "kernel=$(uname -r)"
	echo "cgroups=$(awk '$3 == "cgroup2" { v2 = 1 } $3 == "cgroup" { v1 = 1 } END { print (v1 && v2) ? "v1+v2" : v1 ? "v1" : v2 ? "v2" : "none" }' /proc/mounts)"
	echo "nginx=$("$NGINX" -v 2>&1 | sed 's,.*nginx/,,')"
	echo "wrk=$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')"
	echo "spawnfcgi=$(spawn-fcgi -v 2>&1 | awk 'NR == 1 { print $2 }')"
	echo "libfcgi=$(dpkg-query -W -f '${Version}' libfcgi-bin 2>/dev/null || dpkg-query -W -f '${Version}' libfcgi0ldbl 2>/dev/null || echo '?')"
	echo "git=$GIT_REV"
	echo "fngate_bin=$FNGATE"
	echo "fngate_note=${FNGATE_NOTE:-}"
	echo "fngate_override=$([ "$FNGATE" = "$ROOT/$BUILD_DIR/gateway/fngate" ] && echo 0 || echo 1)"
	echo "buildtype=$(bench_buildtype "$FNGATE")"
	echo "sandbox=$(sed -n 's/.*"msg":"function host".*"sandbox":"\([^"]*\)".*/\1/p' "$TMP/fngate.err" | head -n1)"
	echo "have_perf=$HAVE_PERF"
	echo "have_strace=$HAVE_STRACE"
	echo "supervisor=$SUP"
} >"$RESULTS/meta.txt"

bench_report fnreport.py
