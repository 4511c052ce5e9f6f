# SPDX-License-Identifier: MIT
"""What the cluster tests share (test_cluster*.py): a redis-server of their own on a loopback
port, a node's admin API, log lines and metrics, and waiting for a condition."""

import json
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from lib import SLOW, exchange, free_port, req

REDIS = shutil.which('redis-server')
# The admin token of every cluster test's configuration.
TOKEN = 'test-admin-token-0123456789'
AUTH = [('Authorization', 'Bearer ' + TOKEN)]


class Redis:
    """A redis-server on 127.0.0.1:port, stopped by its pid."""

    def __init__(self, port, password=None):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix='fngate-it-redis-')
        args = [REDIS, '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                '--appendonly', 'no', '--dir', self.dir]
        if password:
            args += ['--requirepass', password]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(('127.0.0.1', port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop(signal.SIGKILL)
        raise AssertionError('redis-server did not listen on %d' % port)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args):
        """One command through redis-cli: its output, stripped."""
        p = subprocess.run(['redis-cli', '-p', str(self.port)] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=5)
        return p.stdout.decode().strip()


class Cluster:
    """A test file's cluster: a redis-server on a free port and one gateway per name, made by
    start(name, redis port) -> Daemon, then setup(cluster) if given; started on the first
    get(), stopped when the test exits. A case may replace .redis (a restart on .port)."""

    def __init__(self, tap, names, start, setup=None):
        self.tap, self.names, self.start, self.setup = tap, names, start, setup
        self.redis = self.port = None
        self.nodes = {}

    def get(self):
        if self.redis is None:
            self.port = free_port()
            self.redis = Redis(self.port)
            self.tap.on_exit(lambda: self.redis.stop())
            for n in self.names:
                d = self.start(n, self.port)
                self.tap.on_exit(d.stop)
                self.nodes[n] = d
            if self.setup:
                self.setup(self)
        return self


def admin(d, method, path, body=None):
    """A request to node d's admin listener (its second) with the token; a dict or list body
    is sent as JSON."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    return exchange(d.addrs[1][1], req(method, path, host='127.0.0.1', headers=AUTH, body=data),
                    method)


def metric(d, name, label=''):
    """The value of the first series of name (with label among its labels) on d's /metrics."""
    body = admin(d, 'GET', '/metrics').body.decode()
    m = re.search(r'^%s(?:\{[^}]*%s[^}]*\})? (\S+)$' % (re.escape(name), re.escape(label)),
                  body, re.M)
    return float(m.group(1)) if m else None


def logs(d, msg):
    """d's log lines with this msg, so far."""
    with d.cond:
        return [o for _, o in d.logs if o and o.get('msg') == msg]


def wait_for(what, fn, timeout):
    timeout *= SLOW
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError('%s: not within %.1f s (last: %r)' % (what, timeout, last))
