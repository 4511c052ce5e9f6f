#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The WebSocket conformance runner (tests/ws/conformance.py), calibrated first against two
servers that are not fngate — node's ws and libwebsockets' own server side, each as a
plain echo server — then run against fngate (a WebSocket API whose $default route echoes
through a sandboxed function). Every server must pass every case; fngate must pass them
strictly (no NON-STRICT outcome). TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS, FNGATE_WS_DIR (tests/ws),
FNGATE_LWS_ECHO (the lws_echo binary)."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

from lib import (SLOW, Daemon, Fail, FnDir, Tap, check, diag, eq, free_port, install_batches,
                 test_so)

tap = Tap(budget=240, needs_workers=True)
WS_DIR = os.environ.get('FNGATE_WS_DIR') or os.path.join(os.path.dirname(__file__), '..', 'ws')
LWS_ECHO = os.environ.get('FNGATE_LWS_ECHO', '')
RUNNER = os.path.join(WS_DIR, 'conformance.py')


def run_runner(url, strict=False):
    """Runs the conformance runner; returns (passed, failed, nonstrict, output)."""
    args = [sys.executable, RUNNER, url] + (['--strict'] if strict else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=180 * SLOW)
    m = re.search(r'# (\d+) passed, (\d+) failed \((\d+) non-strict\)\s*$', p.stdout)
    if not m:
        raise Fail('the runner did not finish: exit %d\n%s\n%s' % (p.returncode, p.stdout[-2000:],
                                                                  p.stderr[-2000:]))
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), p.stdout


def report(name, res):
    passed, failed, nonstrict, out = res
    diag('%s: %d passed, %d failed, %d non-strict' % (name, passed, failed, nonstrict))
    for line in out.splitlines():
        if line.startswith('not ok') or 'NON-STRICT' in line or (
                line.startswith('# ') and 'passed' not in line):
            diag('  ' + line)
    check(passed > 150, 'only %d cases ran' % passed)
    eq(failed, 0, '%s: failed cases' % name)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@tap.case('calibration: node ws echo server passes every case')
def _():
    check(os.path.isfile(os.path.join(WS_DIR, 'node_modules', 'ws', 'package.json')),
          'node ws is not installed in %s (.ci/deps.sh does it)' % WS_DIR)
    proc = subprocess.Popen(['node', os.path.join(WS_DIR, 'node_echo.js'), '0'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().strip() or '0')
        if port <= 0:
            raise Fail('node echo server did not start: %s' % proc.stderr.read()[-500:])
        report('node ws', run_runner('ws://127.0.0.1:%d/' % port))
    finally:
        stop(proc)


@tap.case('calibration: libwebsockets echo server passes every case (non-strict outcomes allowed)')
def _():
    check(LWS_ECHO and os.access(LWS_ECHO, os.X_OK), 'lws_echo not built (libwebsockets-dev?)')
    port = free_port()
    proc = subprocess.Popen([LWS_ECHO, str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        report('libwebsockets', run_runner('ws://127.0.0.1:%d/' % port))
    finally:
        stop(proc)


@tap.case('fngate: a WebSocket API echoing through a function passes every case, strictly')
def _():
    fdir = FnDir()
    cfg = '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "off" }',
        'functions: { dir: "%s" }' % fdir.path,
        'apis:',
        '  echo:',
        '    protocol: websocket',
        '    websocket: { message_bytes: 4194304, frame_bytes: 4194304 }',
        '    stages: { s: {} }',
        '    routes:',
        '      $default: { integration: { type: function, function: wsecho } }',
    ]) + '\n'
    d = Daemon(cfg)
    try:
        install_batches(d, fdir, [('wsecho', test_so('wsecho'), None)])
        res = run_runner('ws://127.0.0.1:%d/s' % d.port, strict=True)
        report('fngate', res)
        eq(res[2], 0, 'fngate: non-strict outcomes')
        check(d.alive(), 'the gateway died during the run')
    finally:
        eq(d.stop(), 0, 'daemon exit code')
        fdir.cleanup()


if __name__ == '__main__':
    tap.run()
