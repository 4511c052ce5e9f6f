#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The service manager's readiness protocol (sd_notify without libsystemd, issue 16): a
datagram socket of this test as NOTIFY_SOCKET, once a path and once an abstract name; the
daemon says READY=1 (with MAINPID and STATUS) once it listens, RELOADING=1 with MONOTONIC_USEC
on SIGHUP and READY=1 once the new configuration is applied (STATUS says so) or refused
(STATUS says why), STOPPING=1 when SIGTERM starts the drain; nothing breaks without
NOTIFY_SOCKET or with one nobody reads. And `systemd-analyze verify` of dist/fngate.service
where systemd-analyze exists. TAP output.

Environment: FNGATE_BIN, FNGATE_SOURCE_ROOT."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from lib import BIN, Daemon, Tap, check, diag, eq

tap = Tap(budget=60)

CONFIG = '\n'.join([
    'server: { listen: ["127.0.0.1:0"] }',
    'access_log: { path: "off" }',
    'apis:',
    '  a:',
    '    stages: { s: {} }',
    '    routes:',
    '      "GET /m": { integration: { type: mock, status: 200, body: "m" } }',
]) + '\n'


class Listener:
    """An AF_UNIX datagram socket the daemon is told of through NOTIFY_SOCKET."""

    def __init__(self, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.dir = None
        if abstract:
            name = 'fngate-it-notify-%d-%d' % (os.getpid(), time.monotonic_ns())
            self.sock.bind('\0' + name)
            self.env = '@' + name
        else:
            self.dir = tempfile.mkdtemp(prefix='fngate-it-notify-')
            path = os.path.join(self.dir, 'notify')
            self.sock.bind(path)
            self.env = path

    def recv(self, timeout=5.0):
        """The next datagram as a dict of its KEY=VALUE lines."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            raise AssertionError('no notification within %.1f s' % timeout)
        out = {}
        for line in data.decode().split('\n'):
            if line:
                k, _, v = line.partition('=')
                out[k] = v
        return out

    def none(self, wait=0.3):
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(4096) is None
        except socket.timeout:
            return True

    def close(self):
        self.sock.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def start(listener, config=CONFIG):
    os.environ['NOTIFY_SOCKET'] = listener.env
    try:
        return Daemon(config)
    finally:
        del os.environ['NOTIFY_SOCKET']


def lifecycle(abstract):
    lst = Listener(abstract)
    d = start(lst)
    try:
        m = lst.recv()
        eq(m.get('READY'), '1', 'READY=1 once listening')
        eq(m.get('MAINPID'), str(d.proc.pid), 'MAINPID is the daemon')
        check(m.get('STATUS', '').startswith('serving'), 'STATUS: %r' % m.get('STATUS'))
        check(d.port > 0, 'listening')

        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        obj = d.reload()
        eq(obj.get('msg'), 'config reloaded', 'reload applied')
        m = lst.recv()
        eq(m.get('RELOADING'), '1', 'SIGHUP: RELOADING=1')
        usec = int(m.get('MONOTONIC_USEC', '0'))
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        check(before <= usec <= after, 'MONOTONIC_USEC %d within [%d, %d]' % (usec, before,
                                                                               after))
        m = lst.recv()
        eq(m.get('READY'), '1', 'READY=1 once the new configuration is applied')
        eq(m.get('STATUS'), 'configuration reloaded', 'STATUS of an applied reload')

        obj = d.reload(CONFIG.replace('apis:', 'apis: [oops'))
        eq(obj.get('msg'), 'reload failed', 'a broken configuration is refused')
        eq(lst.recv().get('RELOADING'), '1', 'a refused reload starts as one too')
        m = lst.recv()
        eq(m.get('READY'), '1', 'READY=1 after the refusal: the old configuration serves')
        check(m.get('STATUS', '').startswith('reload failed'), 'STATUS says why: %r'
              % m.get('STATUS'))

        d.signal(signal.SIGTERM)
        m = lst.recv()
        eq(m.get('STOPPING'), '1', 'SIGTERM: STOPPING=1')
        eq(d.wait_exit(15), 0, 'exit code after the drain')
        check(lst.none(), 'nothing after STOPPING=1')
    finally:
        d.stop()
        lst.close()


@tap.case('notify: a socket path: READY, RELOADING + MONOTONIC_USEC, READY, STOPPING')
def _():
    lifecycle(False)


@tap.case('notify: an abstract socket (@name): the same')
def _():
    lifecycle(True)


@tap.case('notify: a socket nobody listens on, and none at all: the daemon serves anyway')
def _():
    d = None
    gone = tempfile.mkdtemp(prefix='fngate-it-notify-')
    try:
        os.environ['NOTIFY_SOCKET'] = os.path.join(gone, 'nobody')
        d = Daemon(CONFIG)
        del os.environ['NOTIFY_SOCKET']
        eq(d.reload().get('msg'), 'config reloaded', 'reload with nobody listening')
        check(d.wait_log(lambda o: o.get('msg', '').startswith('sd_notify failed'), 2)
              is not None, 'the failure is logged')
        eq(len([1 for _, o in d.logs if o and o.get('msg', '').startswith('sd_notify')]), 1,
           'once')
    finally:
        os.environ.pop('NOTIFY_SOCKET', None)
        if d:
            d.stop()
        shutil.rmtree(gone, ignore_errors=True)
    with Daemon(CONFIG) as d:
        eq(d.reload().get('msg'), 'config reloaded', 'no NOTIFY_SOCKET: reload as ever')


@tap.case('dist/fngate.service passes systemd-analyze verify')
def _():
    tool = shutil.which('systemd-analyze')
    unit = os.path.join(os.environ.get('FNGATE_SOURCE_ROOT', '.'), 'dist', 'fngate.service')
    check(os.path.isfile(unit), 'dist/fngate.service exists')
    if not tool:
        diag('SKIP: no systemd-analyze here')
        return
    tmp = tempfile.mkdtemp(prefix='fngate-it-unit-')
    try:
        # The unit names /usr/local/bin/fngate; verify checks that ExecStart exists, so the
        # copy points at this build's binary instead.
        with open(unit) as f:
            text = f.read()
        check('/usr/local/bin/fngate' in text, 'the unit runs /usr/local/bin/fngate')
        copy = os.path.join(tmp, 'fngate.service')
        with open(copy, 'w') as f:
            f.write(text.replace('/usr/local/bin/fngate', os.path.abspath(BIN)))
        p = subprocess.run([tool, 'verify', copy], capture_output=True, text=True, timeout=60)
        # Lines about units other than ours (the host's own) are not ours to fix.
        ours = [l for l in (p.stdout + p.stderr).splitlines()
                if 'fngate' in l and 'Unit is bound to inactive' not in l]
        eq(ours, [], 'systemd-analyze verify: no complaint about fngate.service')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


tap.run()
