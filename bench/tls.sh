#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# TLS benchmark: fngate's TLS listener (wolfSSL, mock routes) against nginx (OpenSSL, `return
# 200`), side by side in one run, both with the same EC P-256 certificate made here, TLS 1.2
# and 1.3, session tickets on (nginx also `ssl_session_cache shared:SSL:10m`).
#
# Keep-alive throughput: wrk (`-t1 -c64`, https, each server's default cipher: fngate's order
# puts ChaCha20-Poly1305 first, nginx follows the client, whose OpenSSL asks for AES-256-GCM
# first), then h2load (`--h1`, same connections) with one TLS 1.3 suite forced from the client:
# ChaCha20-Poly1305 and AES-128-GCM, on the small body and on a 16 KiB one (where the cipher's
# cost shows: Debian's wolfSSL has no AES-NI assembly, OpenSSL has). wrk rounds and h2load
# rounds rotate their order each round.
#
# Handshakes: `openssl s_time` (one client, one connection after the other, each one
# HTTP/1.0 request) for HS_SECONDS: `-new` (a full handshake each) and `-reuse` (the session
# resumed), against each server, rotating; the rate is connections per wall second and the
# server's CPU per handshake.
#
# Memory per idle TLS connection: bench/tlsidle.py holds IDLE_CONNS keep-alive connections
# (one request each, then idle); (VmRSS held - before) / N of fngate and of the nginx worker.
#
#   bench/tls.sh            run, print the markdown section on stdout
#   bench/tls.sh --write    also replace the tls section of docs/BENCHMARKS.md
#
# Environment:
#   ROUNDS=3        rounds; every variant runs once per round, the order rotating
#   DURATION=5      seconds per wrk or h2load run
#   WARMUP=1        seconds of an unrecorded run per server first (0: none)
#   THREADS=1       wrk/h2load threads
#   CONNS=64        wrk/h2load connections
#   HS_SECONDS=5    seconds per s_time run
#   IDLE_CONNS=2000 idle TLS connections for the memory measurement (0: skip it)
#   QUIET_WAIT=5    wait up to this long for a quiet machine before each run (bench/runwrk.py)
#   BUILD_DIR=build meson build directory
#   KEEP_RESULTS=dir
#                   copy the raw results there; `python3 bench/tlsreport.py DIR` re-reports
#
# Needs: wrk, h2load, openssl, nginx (/usr/sbin/nginx, a private instance), curl, python3,
# meson + ninja. Every process started here is stopped by pid on exit.
set -eu

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
QUIET_WAIT=${QUIET_WAIT:-5}
HS_SECONDS=${HS_SECONDS:-5}
IDLE_CONNS=${IDLE_CONNS:-2000}
BUILD_DIR=${BUILD_DIR:-build}
NGINX=${NGINX:-/usr/sbin/nginx}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BENCH_NAME=tls.sh
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_wrk_env
bench_args "$@"

ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((IDLE_CONNS + 200)) ] ||
	die "the open-file limit $(ulimit -n) is too low for IDLE_CONNS=$IDLE_CONNS"
for tool in wrk h2load openssl curl python3 "$NGINX"; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

bench_tmp fngate-tls
RESULTS=$TMP/results
mkdir -p "$RESULTS/wrk" "$RESULTS/hs"
bench_fngate_build

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-keyout "$TMP/cert.key" -out "$TMP/cert.crt" -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
chmod 644 "$TMP/cert.key"
BODY_SMALL='hello\n'
BODY_BIG=$(head -c 16384 /dev/zero | tr '\0' x)

# ---- fngate ----
{
	printf 'server:\n  listen: ["127.0.0.1:0"]\n  tls:\n    listen: ["127.0.0.1:0"]\n'
	printf '    certificates: [{ cert: "%s", key: "%s", names: [localhost] }]\n' \
		"$TMP/cert.crt" "$TMP/cert.key"
	printf 'access_log: { path: "off" }\n'
	printf 'apis:\n  bench:\n    stages:\n      prod: {}\n    routes:\n'
	printf '      "GET /hello":\n        integration: { type: mock, headers: '
	printf '{ content-type: text/plain }, body: "%s" }\n' "$BODY_SMALL"
	printf '      "GET /big":\n        integration: { type: mock, headers: '
	printf '{ content-type: text/plain }, body: "%s" }\n' "$BODY_BIG"
} >"$TMP/fngate.yaml"
fngate_start fngate "$TMP/fngate.yaml" 0
FNGATE_TLS=""
for _ in $(seq 50); do
	FNGATE_TLS=$(sed -n 's/.*"msg":"listening","addr":"127\.0\.0\.1:\([0-9]*\)","role":"tls".*/\1/p' \
		"$TMP/fngate.err" | head -n1)
	[ -n "$FNGATE_TLS" ] && break
	sleep 0.1
done
[ -n "$FNGATE_TLS" ] || die "fngate logged no TLS listener"
log "fngate: pid $FNGATE_PID, TLS on 127.0.0.1:$FNGATE_TLS"

# ---- nginx ----
NDIR=$TMP/nginx
mkdir -p "$NDIR"
NGINX_TLS=$(free_port)
printf '%s' "$BODY_BIG" >"$NDIR/big.txt"
bench_nginx_conf "$NDIR" "	server {
		listen 127.0.0.1:$NGINX_TLS ssl;
		ssl_certificate $TMP/cert.crt;
		ssl_certificate_key $TMP/cert.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_session_cache shared:SSL:10m;
		ssl_session_tickets on;
		location /prod/hello {
			return 200 \"$BODY_SMALL\";
		}
		location = /prod/big {
			# \`return\` takes at most 4 KiB: the 16 KiB body is a file, its descriptor cached
			alias $NDIR/big.txt;
			open_file_cache max=16;
		}
	}"
"$NGINX" -p "$NDIR" -e "$NDIR/error.log" -c "$NDIR/nginx.conf" -g 'daemon off;' \
	2>"$TMP/nginx.err" &
NGINX_MASTER=$!
PIDS+=("$NGINX_MASTER")
NGINX_WORKER=""
for _ in $(seq 100); do
	kill -0 "$NGINX_MASTER" 2>/dev/null || die "nginx exited: $(cat "$TMP/nginx.err")"
	NGINX_WORKER=$(pgrep -P "$NGINX_MASTER" | head -n1 || true)
	[ -n "$NGINX_WORKER" ] && curl -sfk -o /dev/null "https://127.0.0.1:$NGINX_TLS/prod/hello" &&
		break
	sleep 0.1
done
[ -n "$NGINX_WORKER" ] || die "nginx did not start"
log "nginx: master $NGINX_MASTER, worker $NGINX_WORKER, TLS on 127.0.0.1:$NGINX_TLS"

port_of() { case $1 in fngate*) echo "$FNGATE_TLS" ;; *) echo "$NGINX_TLS" ;; esac; }
pid_of() { case $1 in fngate*) echo "$FNGATE_PID" ;; *) echo "$NGINX_WORKER" ;; esac; }

# Both answer the same bodies (checked), and what each negotiates by default, per version.
for s in fngate nginx; do
	p=$(port_of $s)
	curl -sk -D "$RESULTS/response-$s.txt.head" -o "$RESULTS/body-$s-small.txt" \
		"https://127.0.0.1:$p/prod/hello"
	curl -sk -o "$RESULTS/body-$s-big.txt" "https://127.0.0.1:$p/prod/big"
	[ "$(cat "$RESULTS/body-$s-small.txt")" = hello ] || die "$s: /prod/hello: wrong body"
	[ "$(wc -c <"$RESULTS/body-$s-big.txt")" = 16384 ] || die "$s: /prod/big: wrong body"
	for v in tls1_3 tls1_2; do
		openssl s_client -connect "127.0.0.1:$p" -servername localhost "-$v" </dev/null \
			>"$RESULTS/negotiated-$s-$v.txt" 2>&1 || true
	done
done

# ---- keep-alive rounds ----
run_ka() { # VARIANT SECONDS OUT
	local s=${1%%-*} rest="" path=/prod/hello suite
	[ "$1" = "${1#*-}" ] || rest=${1#*-}
	case $rest in *16k) path=/prod/big ;; esac
	if [ -z "$rest" ]; then
		python3 bench/runwrk.py --wait-quiet "$QUIET_WAIT" "$(pid_of "$s")" "$3" -- \
			wrk -t"$THREADS" -c"$CONNS" -d"$2"s --latency "https://127.0.0.1:$(port_of "$s")$path"
		grep -q 'Non-2xx or 3xx responses' "$3" && die "$1: non-2xx answers in $3"
		return 0
	fi
	case $rest in
	chacha*) suite=TLS_CHACHA20_POLY1305_SHA256 ;;
	aes128*) suite=TLS_AES_128_GCM_SHA256 ;;
	esac
	python3 bench/runwrk.py --wait-quiet "$QUIET_WAIT" "$(pid_of "$s")" "$3" -- \
		h2load --h1 -t"$THREADS" -c"$CONNS" -D"$2" --tls13-ciphers="$suite" \
		"https://127.0.0.1:$(port_of "$s")$path"
	grep -q ' 0 failed, 0 errored' "$3" || die "$1: failed requests in $3"
}

if [ "$WARMUP" -gt 0 ]; then
	for v in fngate nginx; do
		run_ka "$v" "$WARMUP" "$TMP/warmup-$v.txt"
	done
fi
VARIANTS="fngate nginx fngate-chacha nginx-chacha fngate-aes128 nginx-aes128"
VARIANTS+=" fngate-chacha-16k nginx-chacha-16k fngate-aes128-16k nginx-aes128-16k"
bench_rounds run_ka

# ---- handshakes ----
run_hs() { # VARIANT SECONDS OUT: VARIANT is SERVER-new or SERVER-reuse
	python3 bench/runwrk.py --wait-quiet "$QUIET_WAIT" "$(pid_of "${1%-*}")" "$3" -- \
		openssl s_time -connect "127.0.0.1:$(port_of "${1%-*}")" "-${1#*-}" -time "$2" \
		-www /prod/hello
}
HS_VARIANTS="fngate-new nginx-new fngate-reuse nginx-reuse"
for ((r = 1; r <= ROUNDS; r++)); do
	# shellcheck disable=SC2086 # a list of words
	set -- $HS_VARIANTS
	for ((i = 0; i < $#; i++)); do
		idx=$(((i + r - 1) % $# + 1))
		v=${!idx}
		run_hs "$v" "$HS_SECONDS" "$RESULTS/hs/$r-$v.txt"
		log "round $r/$ROUNDS $v: $(grep -m1 'connections in' "$RESULTS/hs/$r-$v.txt" || echo '?')"
	done
done

# ---- memory per idle TLS connection ----
mem_sample() { # PID PREFIX
	echo "rss_$2=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")"
	echo "pd_$2=$(awk '/^Private_Dirty:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0)"
}
idle_mem() { # SERVER
	local s=$1 out=$RESULTS/mem-$1.txt pid cpid ready="" held
	pid=$(pid_of "$s")
	{
		echo "n=$IDLE_CONNS"
		mem_sample "$pid" before
	} >"$out"
	python3 bench/tlsidle.py 127.0.0.1 "$(port_of "$s")" /prod/hello "$IDLE_CONNS" 600 \
		>"$TMP/idle-$s.out" 2>"$TMP/idle-$s.err" &
	cpid=$!
	PIDS+=("$cpid")
	for _ in $(seq 1200); do
		ready=$(grep '^ready ' "$TMP/idle-$s.out" || true)
		[ -n "$ready" ] && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$ready" ] || die "$s: tlsidle failed: $(cat "$TMP/idle-$s.err")"
	sleep 2
	mem_sample "$pid" held >>"$out"
	echo "cipher=$(echo "$ready" | awk '{ print $3 }')" >>"$out"
	kill -TERM "$cpid"
	wait "$cpid" || log "$s: tlsidle reported a problem: $(cat "$TMP/idle-$s.err")"
	held=$(awk '/^held / { print $2 }' "$TMP/idle-$s.out")
	echo "held_open=$held" >>"$out"
	sleep 1
	mem_sample "$pid" closed >>"$out"
	log "$s: $(tr '\n' ' ' <"$out")"
}
if [ "$IDLE_CONNS" -gt 0 ]; then
	idle_mem fngate
	idle_mem nginx
fi

kill -0 "$FNGATE_PID" 2>/dev/null || die "fngate died during the benchmark"

cmd=$(bench_command bench/tls.sh ROUNDS DURATION WARMUP THREADS CONNS HS_SECONDS IDLE_CONNS \
	QUIET_WAIT)
{
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command=$cmd"
	echo "rounds=$ROUNDS"
	echo "duration=$DURATION"
	echo "warmup=$WARMUP"
	echo "threads=$THREADS"
	echo "conns=$CONNS"
	echo "hs_seconds=$HS_SECONDS"
	echo "nproc=$(nproc)"
	echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "aes_ni=$(grep -qw aes /proc/cpuinfo && echo yes || echo no)"
	echo "git=$GIT_REV"
	echo "buildtype=$(bench_buildtype "$FNGATE")"
	echo "nginx=$("$NGINX" -v 2>&1 | sed 's,.*nginx/,,')"
	echo "openssl=$(openssl version)"
	echo "wolfssl=$(dpkg-query -W -f='${Version}' libwolfssl-dev 2>/dev/null || echo '?')"
	echo "variants=$VARIANTS"
	echo "hs_variants=$HS_VARIANTS"
} >"$RESULTS/meta.txt"

bench_report tlsreport.py
