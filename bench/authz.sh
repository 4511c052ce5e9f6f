#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Authorizer benchmark: the same mock route bare, behind the built-in JWT authorizer (RS256
# and ES256 tokens, verification cache on and off) and behind a function authorizer whose
# answer is cached (examples/authorizer, `type: token`, ttl 300 s), side by side in one daemon
# and one run: req/s ratios to bare and added p50/p99 latency. The bare route gets the same
# request, Authorization header included (it ignores it): bare-rs256, bare-es256 and bare-fn
# are the baselines of the RS256, ES256 and function rows, so reading a longer header is not
# counted as the authorizer's.
#
#   bench/authz.sh            run, print the markdown section on stdout
#   bench/authz.sh --write    also replace the authz section of docs/BENCHMARKS.md
#
# Environment:
#   ROUNDS=3        wrk rounds; every variant runs once per round, the order rotating
#   DURATION=10     seconds per wrk run
#   WARMUP=2        seconds of an unrecorded run per variant first (0: none)
#   THREADS=1       wrk threads
#   CONNS=64        wrk connections. Every request carries the same token: with the cache on
#                   that is its best case (all hits); with it off every request is verified,
#                   which is what a new token per request would cost either way
#   QUIET_WAIT=60   wait up to this long for a quiet machine before each run (bench/runwrk.py)
#   BUILD_DIR=build meson build directory
#   KEEP_RESULTS=dir
#                   copy the raw results there; `python3 bench/authzreport.py DIR` re-reports
#
# Needs: wrk, python3, meson + ninja. Every process started here is stopped by pid on exit.
set -eu

BUILD_DIR=${BUILD_DIR:-build}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_NAME=authz.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_wrk_env
bench_args "$@"

for tool in wrk python3 cc pkg-config; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

bench_tmp fngate-authz
RESULTS=$TMP/results
mkdir -p "$RESULTS/wrk"
bench_fngate_build

# The function authorizer, built the way a user builds a handler.
mkdir -p "$TMP/functions"
cc -shared -fPIC -O2 -o "$TMP/functions/authorizer.so" "$ROOT/examples/authorizer/authorizer.c" \
	$(PKG_CONFIG_PATH="$ROOT/$BUILD_DIR/meson-uninstalled" pkg-config --cflags --libs fngate)
chmod 755 "$TMP" "$TMP/functions"

JWT=$ROOT/examples/jwt
# One authorizer per cache setting, both over the demo keys.
authorizer() { # NAME CACHE
	cat <<YAML
      $1:
        type: jwt
        issuer: https://fngate.demo/
        audience: [fngate-demo]
        algorithms: [RS256, ES256]
        cache: $2
        jwks: { file: $JWT/jwks.json }
YAML
}
route() { # PATH AUTHORIZER(or -)
	printf '      "GET %s":\n' "$1"
	[ "$2" = - ] || printf '        authorizer: %s\n' "$2"
	printf '        integration: { type: mock, headers: { content-type: text/plain }, body: "hello\\n" }\n'
}
{
	printf 'server:\n  listen: ["127.0.0.1:0"]\naccess_log: { path: "off" }\n'
	printf 'functions: { dir: "%s" }\n' "$TMP/functions"
	printf 'apis:\n  bench:\n    stages:\n      prod: {}\n    authorizers:\n'
	authorizer cached true
	authorizer uncached false
	printf '      function:\n        type: token\n        function: authorizer\n'
	printf '        identity_source: $request.header.Authorization\n        ttl_s: 300\n' 
	printf '    routes:\n'
	route /bare -
	route /rs256/cache cached
	route /es256/cache cached
	route /rs256/nocache uncached
	route /es256/nocache uncached
	route /fn/cache function
} >"$TMP/fngate.yaml"
fngate_start fngate "$TMP/fngate.yaml" 1

token() { # KEYFILE KID
	"$FNGATE" token --key "$JWT/$1" --kid "$2" --iss https://fngate.demo/ --aud fngate-demo \
		--sub bench --scope read --ttl 86400
}
RS=$(token demo-rs256.pem demo-rs256)
ES=$(token demo-es256.pem demo-es256)

# variant NAME -> "PATH TOKEN"
VARIANTS="bare-rs256 bare-es256 rs256-cache es256-cache rs256-nocache es256-nocache bare-fn fn-cache"
path_of() { case $1 in bare*) echo /bare ;; *) echo "/${1%%-*}/${1#*-}" ;; esac; }
token_of() { case $1 in *rs256*) echo "$RS" ;; *es256*) echo "$ES" ;; *fn*) echo allow-bench ;; esac; }

check() { # VARIANT: one request answers 200 hello
	local tok out
	tok=$(token_of "$1")
	out=$(python3 - "$FNGATE_PORT" "/prod$(path_of "$1")" "$tok" <<'PY'
import socket, sys
port, path, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
h = "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" % path
if tok:
    h += "Authorization: Bearer %s\r\n" % tok
s.sendall((h + "\r\n").encode())
buf = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    buf += d
print(buf.split(b"\r\n", 1)[0].decode(), buf.endswith(b"hello\n"))
PY
	)
	[ "$out" = "HTTP/1.1 200 OK True" ] || die "$1: unexpected answer: $out"
}

run_wrk() { # VARIANT SECONDS OUT
	local tok hdr=()
	tok=$(token_of "$1")
	[ -n "$tok" ] && hdr=(-H "Authorization: Bearer $tok")
	python3 bench/runwrk.py --wait-quiet "$QUIET_WAIT" "$FNGATE_PID" "$3" -- \
		wrk -t"$THREADS" -c"$CONNS" -d"$2"s --latency "${hdr[@]}" \
		"http://127.0.0.1:$FNGATE_PORT/prod$(path_of "$1")"
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
kill -0 "$FNGATE_PID" 2>/dev/null || die "fngate died during the benchmark"

cmd=$(bench_command bench/authz.sh ROUNDS DURATION WARMUP THREADS CONNS QUIET_WAIT)
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command=$cmd"
	echo "rounds=$ROUNDS"
	echo "duration=$DURATION"
	echo "threads=$THREADS"
	echo "conns=$CONNS"
	echo "nproc=$(nproc)"
	echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "git=$GIT_REV"
	echo "buildtype=$(bench_buildtype "$FNGATE")"
	echo "variants=$VARIANTS"
	echo "token_rs256=${#RS}"
	echo "token_es256=${#ES}"
} >"$RESULTS/meta.txt"

bench_report authzreport.py
