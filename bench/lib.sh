# SPDX-License-Identifier: MIT
# What the benchmark scripts share (sourced by bench/http.sh, bench/functions.sh and
# bench/ws.sh): their arguments, messages, a temporary directory removed on exit, and every
# process a script starts (appended to PIDS) stopped in reverse order, each by its own pid.
# Set ROOT and BENCH_NAME first.

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

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
