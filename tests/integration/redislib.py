# SPDX-License-Identifier: MIT
"""What the cluster tests share (test_cluster.py, test_cluster_ws.py): a redis-server of their
own on a loopback port, and waiting for a condition."""

import shutil
import signal
import socket
import subprocess
import tempfile
import time

from lib import SLOW

REDIS = shutil.which('redis-server')


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
