#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What a chat room left behind costs the gateway (docs/BENCHMARKS.md, "Topic memory").

Serves examples/fngate.yaml with the chat example built as a user builds it (the set-up of
tests/integration/test_browser.py, reused), then, 500 at a time, opens one anonymous client
per new room (/chat/ws?nick=anon&room=ROOM: $connect subscribes it to room.ROOM and publishes
its join), reads its own join and leaves (the handler publishes the leave). The rooms stay as
topics with a two-message history; the gateway's VmRSS (/proc/PID/status) after each step,
against a baseline taken after 300 warm-up rooms, gives the bytes per room.

Run from a build tree (ninja -C build):
  FNGATE_BIN=build/gateway/fngate FNGATE_BUILD_ROOT=build FNGATE_SOURCE_ROOT=. \\
  FNGATE_TEST_FUNCTIONS=build/tests/functions LD_LIBRARY_PATH=build/sdk python3 bench/topic_rooms.py
ROOMS (default 2000) sets how many rooms are measured."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                'integration'))
import test_browser as tb  # noqa: E402


def rss(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('no VmRSS')


def rooms(prefix, n):
    for i in range(n):
        c, r = tb.ws_open('/chat/ws?nick=anon&room=%s%d' % (prefix, i))
        if r.status != 101:
            raise RuntimeError('handshake: %d %r' % (r.status, r.body))
        tb.ws_message(c)  # its own join
        c.close()


def main():
    total = int(os.environ.get('ROOMS', '2000'))
    d = tb.Env.get()
    try:
        rooms('warm', 300)
        time.sleep(1)
        base = rss(d.proc.pid)
        print('| rooms | VmRSS (MiB) | bytes per room |')
        print('|---:|---:|---:|')
        done = 0
        while done < total:
            rooms('r%d_' % done, 500)
            done += 500
            time.sleep(1)
            now = rss(d.proc.pid)
            print('| %d | %.1f | %d |' % (done, now / 2**20, (now - base) // done))
    finally:
        tb.Env.close()


if __name__ == '__main__':
    main()
