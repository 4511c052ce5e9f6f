# SPDX-License-Identifier: MIT
# What the benchmark scripts share (sourced by bench/http.sh and bench/functions.sh):
# messages, a temporary directory removed on exit, and every process a script starts
# (appended to PIDS) stopped in reverse order, each by its own pid. Set BENCH_NAME first.

log() { echo "$BENCH_NAME: $*" >&2; }
die() {
	log "$*"
	exit 1
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
	local rc=$? pid
	# Stop in reverse order of start, each by its own pid.
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		pid=${PIDS[$i]}
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
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
