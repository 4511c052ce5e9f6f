# SPDX-License-Identifier: MIT
# What the benchmark scripts share (sourced by bench/http.sh, bench/functions.sh, bench/ws.sh
# and bench/cpu_isolation.sh): their arguments, messages, a temporary directory removed on
# exit, every process a script starts (appended to PIDS) stopped in reverse order, each by its
# own pid, and building and starting fngate. Set ROOT and BENCH_NAME first.

log() { echo "$BENCH_NAME: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# bench_args "$@": --write sets WRITE=1; -h prints the script's header comment.
bench_args() {
	WRITE=0
	for arg in "$@"; do
		case "$arg" in
		--write) WRITE=1 ;;
		-h | --help)
			sed -n '3,/^set -eu/p' "$ROOT/bench/$BENCH_NAME" | sed '$d; s/^# \{0,1\}//'
			exit 0
			;;
		*)
			echo "$BENCH_NAME: unknown argument $arg" >&2
			exit 2
			;;
		esac
	done
}

# stop_pid PID [TENTHS]: TERM, up to TENTHS tenths of a second (default 50) to exit, then KILL.
stop_pid() {
	kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
	kill -TERM "$1" 2>/dev/null || true
	for _ in $(seq "${2:-50}"); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# bench_tmp PREFIX: TMP becomes a fresh directory /tmp/PREFIX.XXXXXX; installs the traps.
bench_tmp() {
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	PIDS=()
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

cleanup() {
	local rc=$?
	# Stop in reverse order of start, each by its own pid.
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[$i]}"
	done
	if [ "$rc" -ne 0 ] && [ -d "$TMP" ]; then
		for f in "$TMP"/*.err "$TMP"/*/error.log; do
			[ -s "$f" ] && { log "--- $f"; tail -n 20 "$f" >&2; }
		done
	fi
	rm -rf "$TMP"
	exit "$rc"
}

# wait_quiet SECONDS: until the machine is under 10% busy over 2 s, SECONDS at most
# (bench/runwrk.py); prints how long it waited.
wait_quiet() {
	python3 -c "import sys; sys.path.insert(0, '$ROOT/bench'); import runwrk
print('%.0f' % runwrk.wait_quiet($1))"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_fngate_build: builds BUILD_DIR (set up --buildtype=release if missing; the handlers
# build against its SDK even when FNGATE names another binary) and makes FNGATE an absolute
# path, BUILD_DIR/gateway/fngate unless it was set. GIT_REV: the revision that was built
# (recorded now: the tree may move while the benchmark runs).
bench_fngate_build() {
	[ -f "$BUILD_DIR/build.ninja" ] || meson setup "$BUILD_DIR" --buildtype=release >&2
	ninja -C "$BUILD_DIR" >&2
	FNGATE=${FNGATE:-$BUILD_DIR/gateway/fngate}
	[ -x "$FNGATE" ] || die "$FNGATE is not an executable"
	FNGATE=$(cd "$(dirname "$FNGATE")" && pwd)/$(basename "$FNGATE")
	if ! GIT_REV=$(git rev-parse --short HEAD 2>/dev/null); then
		GIT_REV="working tree, no commit yet"
	elif [ -n "$(git status --porcelain -- gateway sandbox sdk 2>/dev/null)" ]; then
		GIT_REV="$GIT_REV + uncommitted changes"
	fi
}

# bench_buildtype FNGATE: "buildtype, -On, b_ndebug=..." of the meson build FNGATE is in.
bench_buildtype() {
	local info
	info=$(dirname "$(dirname "$1")")/meson-info/intro-buildoptions.json
	python3 - "$info" <<'EOF' 2>/dev/null || echo "?"
import json, sys
o = {x["name"]: x["value"] for x in json.load(open(sys.argv[1]))}
nd = ", b_ndebug=%s" % o["b_ndebug"] if "b_ndebug" in o else ""
print("%s, -O%s%s" % (o["buildtype"], o["optimization"], nd))
EOF
}

# fngate_start NAME CONFIG N [PREFIX...]: `PREFIX fngate serve -c CONFIG` (stderr in
# $TMP/NAME.err), waited for until it listens and N functions are deployed (each logs
# "function deployed" once); sets FNGATE_PID and FNGATE_PORT.
fngate_start() {
	local err=$TMP/$1.err port=""
	"${@:4}" "$FNGATE" serve -c "$2" 2>"$err" >"$TMP/$1.out" &
	FNGATE_PID=$!
	PIDS+=("$FNGATE_PID")
	deployed() { [ "$(grep -c '"msg":"function deployed"' "$err")" -ge "$1" ]; }
	for _ in $(seq 100); do
		kill -0 "$FNGATE_PID" 2>/dev/null || die "$1 exited: $(tail -n5 "$err")"
		port=$(sed -n 's/.*"msg":"listening","addr":"127\.0\.0\.1:\([0-9]*\)".*/\1/p' \
			"$err" | head -n1)
		[ -n "$port" ] && deployed "$3" && break
		sleep 0.1
	done
	[ -n "$port" ] || die "$1 did not log a listening address within 10 s"
	deployed "$3" || die "$1: the functions did not deploy: $(tail -n5 "$err")"
	FNGATE_PORT=$port
}

# bench_report REPORT.py: copies RESULTS to KEEP_RESULTS when set, then has REPORT.py print
# the markdown section (and with --write replace it in docs/BENCHMARKS.md).
bench_report() {
	if [ -n "${KEEP_RESULTS:-}" ]; then
		mkdir -p "$KEEP_RESULTS"
		cp -r "$RESULTS"/. "$KEEP_RESULTS"/
		log "raw results copied to $KEEP_RESULTS"
	fi
	if [ "$WRITE" = 1 ]; then
		python3 "bench/$1" "$RESULTS" --write docs/BENCHMARKS.md
	else
		python3 "bench/$1" "$RESULTS"
	fi
}

# bench_config FNDIR [OPTION...] -- [KEY=FUNCTION...]: a bench fngate config on stdout: a
# loopback listener on a free port, no access log, the functions of FNDIR (each OPTION one
# more `functions:` line, "key: value"), and API `bench`, stage `prod`, routing each KEY
# ("GET /hello/{name}") to FUNCTION. More routes may follow on stdout.
bench_config() {
	local r
	printf 'server:\n  listen: ["127.0.0.1:0"]\naccess_log: { path: "off" }\nfunctions:\n'
	printf '  dir: %s\n' "$1"
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		printf '  %s\n' "$1"
		shift
	done
	[ $# -gt 0 ] && shift
	printf 'apis:\n  bench:\n    stages:\n      prod: {}\n    routes:\n'
	for r in "$@"; do
		printf '      "%s":\n        integration: { type: function, function: %s }\n' \
			"${r%%=*}" "${r#*=}"
	done
}

# bench_command SCRIPT VAR...: the command line that reproduces this run: SCRIPT with the
# VARs that were set in the environment (and --write).
bench_command() {
	local cmd=$1 v
	shift
	for v in "$@"; do
		if printenv "$v" >/dev/null; then cmd="$v=$(printf '%q' "${!v}") $cmd"; fi
	done
	[ "$WRITE" = 1 ] && cmd="$cmd --write"
	echo "$cmd"
}

# bench_rounds RUN: RUN VARIANT SECONDS OUT for each of $VARIANTS, ROUNDS times into
# $RESULTS/wrk/ROUND-VARIANT.txt (wrk's or h2load's output), the order rotating each round so
# no variant always runs first or last.
bench_rounds() {
	local run=$1 n r i idx v
	set -- $VARIANTS
	n=$#
	for ((r = 1; r <= ROUNDS; r++)); do
		local order=()
		for ((i = 0; i < n; i++)); do
			idx=$(((i + r - 1) % n + 1))
			order+=("${!idx}")
		done
		for v in "${order[@]}"; do
			"$run" "$v" "$DURATION" "$RESULTS/wrk/$r-$v.txt"
			log "round $r/$ROUNDS $v: $(awk '/Requests\/sec/ { print $2 } /^finished in/ { print $4 }' \
				"$RESULTS/wrk/$r-$v.txt") req/s"
		done
	done
}

# The defaults of a side-by-side wrk bench's environment (its head documents each).
bench_wrk_env() {
	ROUNDS=${ROUNDS:-3}
	DURATION=${DURATION:-10}
	WARMUP=${WARMUP:-2}
	THREADS=${THREADS:-1}
	CONNS=${CONNS:-64}
	QUIET_WAIT=${QUIET_WAIT:-60}
}

# bench_nginx_conf DIR SERVERS: writes DIR/nginx.conf for a private nginx of one worker with
# its files in DIR, no access log, long keep-alive, and SERVERS (server blocks) in its http.
bench_nginx_conf() {
	local dir=$1 servers=$2 user=""
	[ "$(id -u)" = 0 ] && user="user root;"
	cat >"$dir/nginx.conf" <<EOF
$user
worker_processes 1;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
	worker_connections 16384;
}
http {
	access_log off;
	default_type text/plain;
	keepalive_timeout 300s;
	keepalive_requests 1000000;
	client_body_temp_path $dir/body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
$servers
}
EOF
}

# bench_meta_common CMD: the lines every wrk bench's meta.txt starts with (the run's date,
# its command line, rounds, durations, wrk's threads and connections, the machine).
bench_meta_common() {
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command=$1"
	echo "rounds=$ROUNDS"
	echo "duration=$DURATION"
	echo "warmup=$WARMUP"
	echo "threads=$THREADS"
	echo "conns=$CONNS"
	echo "nproc=$(nproc)"
	echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
}
