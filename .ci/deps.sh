#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages fngate builds, tests and benchmarks with.
# Only missing packages are installed; sudo is used when not root.
set -eu

PKGS="build-essential pkg-config meson ninja-build clang libclang-rt-14-dev
libuv1-dev node-llhttp libfyaml-dev libjansson-dev
libwolfssl-dev libseccomp-dev libmsgpack-dev libwebsockets-dev libsqlite3-dev
libhiredis-dev redis-server
curl wrk nginx-light procps valgrind python3 openssl
libfcgi-dev spawn-fcgi nghttp2-client chromium testssl.sh prometheus"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# node and npm run the WebSocket peers (node's ws); any installation will do (Debian's, or
# NodeSource's nodejs, which carries npm).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
	SUDO=""
	if [ "$(id -u)" != 0 ]; then
		SUDO="sudo"
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# node's ws and playwright-core (which drives the chromium above in the example pages' test),
# pinned by tests/ws/package-lock.json, for the conformance calibration and tests.
WSDIR=$(dirname "$0")/../tests/ws
if [ ! -f "$WSDIR/node_modules/ws/package.json" ] ||
	[ ! -f "$WSDIR/node_modules/playwright-core/package.json" ]; then
	echo "deps: npm ci in tests/ws"
	(cd "$WSDIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
