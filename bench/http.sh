#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# HTTP benchmark: fngate (mock route) against nginx (`return 200`) on loopback.
#
#   bench/http.sh            run, print the markdown section on stdout
#   bench/http.sh --write    also replace the http section of docs/BENCHMARKS.md
#
# Environment:
#   ROUNDS=3        wrk rounds per server (fngate and nginx alternate, order flips each round)
#   DURATION=10     seconds per wrk run
#   WARMUP=2        seconds of an unrecorded wrk run per server before the rounds (0: none)
#   THREADS=1       wrk threads
#   CONNS=64        wrk connections
#   IDLE_CONNS=5000 idle keep-alive connections for the memory measurement (0: skip it)
#   QUIET_WAIT=60   before each wrk run, wait up to this many seconds for the (shared) machine to
#                   be under 10% busy; rounds that still ran next to other load are flagged and
#                   left out of the medians when at least one round ran clean
#   BUILD_DIR=build meson build directory (relative to the repository root)
#   KEEP_RESULTS=dir
#                   copy the raw results (wrk outputs, CPU and memory samples) there; the report
#                   can be regenerated with `python3 bench/report.py DIR`
#   FNGATE=path     use this fngate binary instead of building BUILD_DIR/gateway/fngate
#   FNGATE_STANDIN=nginx
#                   validation only: run a second nginx instance in place of fngate, to test
#                   this script without the daemon (the report says so in bold)
#
# Needs: wrk, nginx (/usr/sbin/nginx, run as a private instance, never the system service),
# gcc, python3, meson + ninja. Every process started here is stopped by pid on exit.
set -eu

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-1}
CONNS=${CONNS:-64}
IDLE_CONNS=${IDLE_CONNS:-5000}
QUIET_WAIT=${QUIET_WAIT:-60}
BUILD_DIR=${BUILD_DIR:-build}
FNGATE_STANDIN=${FNGATE_STANDIN:-}
NGINX=${NGINX:-/usr/sbin/nginx}
URL_PATH=/prod/hello

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_NAME=http.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_args "$@"

# 5000 idle connections need more than the default 1024 descriptors, in the client and in
# both servers (they inherit the limit).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$IDLE_CONNS" -gt 0 ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 200)) ]; then
	die "fd limit $(ulimit -n) is too low for IDLE_CONNS=$IDLE_CONNS"
fi

for tool in wrk gcc python3 "$NGINX"; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

bench_tmp fngate-bench

RESULTS=$TMP/results
mkdir -p "$RESULTS/wrk"


# fetch PORT FILE: one GET URL_PATH on a fresh connection; saves the raw response to FILE and
# fails unless it is `200` with body `hello\n`.
fetch() {
	python3 - "$1" "$URL_PATH" "$2" <<'EOF'
import socket, sys
port, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
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
if status != b"200" or body != b"hello\n":
    sys.exit("unexpected response on port %d: %r" % (port, buf[:300]))
EOF
}

# start_nginx NAME: a private nginx (one worker) on a free loopback port; sets NGINX_PORT,
# NGINX_MASTER, NGINX_WORKER.
start_nginx() {
	local name=$1 dir=$TMP/$1 port tries
	mkdir -p "$dir"
	for tries in 1 2 3; do
		port=$(free_port)
		bench_nginx_conf "$dir" "	server {
		listen 127.0.0.1:$port;
		location / {
			return 200 \"hello\\n\";
		}
	}"
		"$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;' \
			2>"$TMP/$name.err" &
		NGINX_MASTER=$!
		PIDS+=("$NGINX_MASTER")
		NGINX_WORKER=""
		for _ in $(seq 100); do
			kill -0 "$NGINX_MASTER" 2>/dev/null || break
			NGINX_WORKER=$(pgrep -P "$NGINX_MASTER" | head -n1 || true)
			if [ -n "$NGINX_WORKER" ] && fetch "$port" "$RESULTS/response-$name.txt" 2>/dev/null; then
				NGINX_PORT=$port
				log "$name: nginx master $NGINX_MASTER worker $NGINX_WORKER on 127.0.0.1:$port"
				return 0
			fi
			sleep 0.1
		done
		wait "$NGINX_MASTER" 2>/dev/null || true
		log "$name: nginx did not start on port $port (try $tries)"
	done
	die "$name: could not start nginx"
}

# start_fngate: builds (unless FNGATE is set) and runs fngate on 127.0.0.1:0; sets FNGATE_PORT,
# FNGATE_PID.
start_fngate() {
	if [ -z "${FNGATE:-}" ]; then
		[ -f gateway/meson.build ] || die "gateway/meson.build does not exist yet: nothing to build"
		if [ ! -f "$BUILD_DIR/build.ninja" ]; then
			meson setup "$BUILD_DIR" >&2
		fi
		ninja -C "$BUILD_DIR" >&2
		FNGATE=$BUILD_DIR/gateway/fngate
	fi
	[ -x "$FNGATE" ] || die "$FNGATE is not an executable"
	cat >"$TMP/fngate.yaml" <<'EOF'
server:
  listen: ["127.0.0.1:0"]
access_log: { path: "off" }
apis:
  bench:
    stages:
      prod: {}
    routes:
      "GET /hello":
        integration:
          type: mock
          headers: { content-type: text/plain }
          body: "hello\n"
EOF
	"$FNGATE" serve -c "$TMP/fngate.yaml" 2>"$TMP/fngate.err" >"$TMP/fngate.out" &
	FNGATE_PID=$!
	PIDS+=("$FNGATE_PID")
	FNGATE_PORT=""
	for _ in $(seq 100); do
		kill -0 "$FNGATE_PID" 2>/dev/null || die "fngate exited: $(tail -n5 "$TMP/fngate.err")"
		FNGATE_PORT=$(python3 - "$TMP/fngate.err" <<'EOF'
import json, sys
for line in open(sys.argv[1], errors="replace"):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    if isinstance(j, dict) and j.get("msg") == "listening" and str(j.get("addr", "")).startswith("127.0.0.1:"):
        print(j["addr"].rsplit(":", 1)[1])
        break
EOF
		)
		[ -n "$FNGATE_PORT" ] && break
		sleep 0.1
	done
	[ -n "$FNGATE_PORT" ] || die "fngate did not log a listening address within 10 s"
	fetch "$FNGATE_PORT" "$RESULTS/response-fngate.txt" || die "fngate does not answer $URL_PATH correctly"
	log "fngate: pid $FNGATE_PID on 127.0.0.1:$FNGATE_PORT"
}

# mem_sample PID PREFIX: prints PREFIX_rss=KiB and PREFIX_pd=KiB (Private_Dirty).
mem_sample() {
	local rss pd
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")
	pd=$(awk '/^Private_Dirty:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || true)
	echo "rss_$2=$rss"
	echo "pd_$2=${pd:-0}"
}

# idle_mem NAME PORT PID: memory of PID before, while IDLE_CONNS idle keep-alive connections
# are held open, and after they are closed.
idle_mem() {
	local name=$1 port=$2 pid=$3 out=$RESULTS/mem-$1.txt cpid ready="" held
	{
		echo "n=$IDLE_CONNS"
		echo "pid=$pid"
		mem_sample "$pid" before
	} >"$out"
	: >"$TMP/idle-$name.out"
	"$TMP/idleconns" 127.0.0.1 "$port" "$URL_PATH" "$IDLE_CONNS" 600 >"$TMP/idle-$name.out" \
		2>"$TMP/idle-$name.err" &
	cpid=$!
	PIDS+=("$cpid")
	for _ in $(seq 1200); do
		ready=$(grep '^ready ' "$TMP/idle-$name.out" || true)
		[ -n "$ready" ] && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$ready" ] || die "$name: idleconns failed: $(cat "$TMP/idle-$name.err")"
	sleep 2 # let the server settle (deferred frees, timers)
	mem_sample "$pid" held >>"$out"
	kill -TERM "$cpid"
	wait "$cpid" || log "$name: idleconns reported a problem: $(cat "$TMP/idle-$name.err")"
	held=$(awk '/^held / { print $2, $3 }' "$TMP/idle-$name.out")
	echo "held_open=${held% *}" >>"$out"
	echo "held_closed=${held#* }" >>"$out"
	sleep 2
	mem_sample "$pid" closed >>"$out"
	log "$name: $(tr '\n' ' ' <"$out")"
}

run_wrk() { # run_wrk PORT SERVER_PID SECONDS OUTFILE: wrk output in OUTFILE, CPU use in OUTFILE.cpu
	python3 bench/runwrk.py --wait-quiet "$QUIET_WAIT" "$2" "$4" -- \
		wrk -t"$THREADS" -c"$CONNS" -d"$3"s --latency "http://127.0.0.1:$1$URL_PATH"
}

gcc -O2 -Wall -Wextra -o "$TMP/idleconns" bench/idleconns.c

# The machine is shared: say so up front when something else is already using the CPUs (the
# report flags every affected round too).
busy=$(python3 - <<'EOF'
import os, time
def busy():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6]
b0 = busy(); time.sleep(2); b1 = busy()
print(round((b1 - b0) * 100 / (2 * os.sysconf("SC_CLK_TCK") * os.cpu_count())))
EOF
)
if [ "$busy" -gt 10 ]; then
	log "warning: the machine is already ${busy}% busy before the benchmark starts; results will be noisy"
	ps -eo pid,pcpu,comm --sort=-pcpu | sed -n '2,4p' | sed 's/^/http.sh:   /' >&2
fi

if [ -n "$FNGATE_STANDIN" ]; then
	[ "$FNGATE_STANDIN" = nginx ] || die "FNGATE_STANDIN must be nginx"
	start_nginx fngate
	FNGATE_PORT=$NGINX_PORT
	FNGATE_PID=$NGINX_WORKER
	FNGATE_BIN="nginx stand-in"
	BUILDTYPE="n/a"
else
	start_fngate
	FNGATE_BIN=$FNGATE
	BUILDTYPE=$(python3 - "$BUILD_DIR/meson-info/intro-buildoptions.json" <<'EOF' 2>/dev/null || echo "?"
import json, sys
o = {x["name"]: x["value"] for x in json.load(open(sys.argv[1]))}
print("%s, -O%s%s" % (o["buildtype"], o["optimization"], ", b_ndebug=" + str(o.get("b_ndebug")) if "b_ndebug" in o else ""))
EOF
	)
	[ -n "${FNGATE:-}" ] && [ "$FNGATE" != "$BUILD_DIR/gateway/fngate" ] && BUILDTYPE="? (FNGATE=$FNGATE)"
fi
start_nginx nginx

if [ "$IDLE_CONNS" -gt 0 ]; then
	idle_mem fngate "$FNGATE_PORT" "$FNGATE_PID"
	idle_mem nginx "$NGINX_PORT" "$NGINX_WORKER"
fi

if [ "$WARMUP" -gt 0 ]; then
	run_wrk "$FNGATE_PORT" "$FNGATE_PID" "$WARMUP" "$TMP/warmup-fngate.txt"
	run_wrk "$NGINX_PORT" "$NGINX_WORKER" "$WARMUP" "$TMP/warmup-nginx.txt"
fi
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order="fngate nginx"; else order="nginx fngate"; fi
	for s in $order; do
		if [ "$s" = fngate ]; then
			port=$FNGATE_PORT pid=$FNGATE_PID
		else
			port=$NGINX_PORT pid=$NGINX_WORKER
		fi
		run_wrk "$port" "$pid" "$DURATION" "$RESULTS/wrk/$r-$s.txt"
		python3 bench/report.py --row "round $r/$ROUNDS $s" "$RESULTS/wrk/$r-$s.txt" >&2
	done
done
kill -0 "$FNGATE_PID" 2>/dev/null || die "fngate died during the benchmark"

if git_rev=$(git rev-parse --short HEAD 2>/dev/null); then
	[ -n "$(git status --porcelain -- gateway 2>/dev/null)" ] && git_rev="$git_rev + uncommitted changes"
else
	git_rev="working tree, no commit yet"
fi
cmd=$(bench_command bench/http.sh ROUNDS DURATION WARMUP THREADS CONNS IDLE_CONNS QUIET_WAIT \
	FNGATE_STANDIN)
{
	bench_meta_common "$cmd"
	echo "kernel=$(uname -r)"
	echo "nginx=$("$NGINX" -v 2>&1 | sed 's,.*nginx/,,')"
	echo "wrk=$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')"
	echo "git=$git_rev"
	echo "fngate_bin=$FNGATE_BIN"
	echo "buildtype=$BUILDTYPE"
	echo "standin=$FNGATE_STANDIN"
} >"$RESULTS/meta.txt"

bench_report report.py
