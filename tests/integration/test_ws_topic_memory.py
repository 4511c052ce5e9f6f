#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Topic memory as a whole (docs/config.md, "Topic memory"): publishers that make new topics
without end, through the admin API and through a handler, and chat-like rooms that stay after
their clients leave, must leave the gateway's resident memory bounded by `topics:` and not by
what was published. Loose bounds against /proc/PID/status (VmRSS); the figures are printed as
diagnostics (docs/BENCHMARKS.md). TAP output.

Environment: FNGATE_BIN, FNGATE_BUILD_ROOT, FNGATE_TEST_FUNCTIONS."""

import os

from lib import WRAPPER, Tap, check, diag, eq, exchange, req
from wsclient import EchoDaemon

tap = Tap(budget=110, needs_workers=True)
TOKEN = 'test-admin-token-0123456789'
AUTH = [('Authorization', 'Bearer ' + TOKEN)]
BUDGET = 16 << 20
MAX = 2000
MB = 1 << 20
MEASURED = None


def config(fdir):
    fn = '{ integration: { type: function, function: wsecho } }'
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "off" }',
        'functions: { dir: "%s", grants: { wsecho: { topics: ["*"] } } }' % fdir,
        'admin: { listen: "127.0.0.1:0", token: "%s" }' % TOKEN,
        'topics: { history_bytes: %d, max: %d }' % (BUDGET, MAX),
        'apis:',
        '  t:',
        '    protocol: websocket',
        '    websocket: { ping_ms: 0, frame_bytes: 262144, message_bytes: 262144 }',
        '    stages: { s: {} }',
        '    routes:',
        '      $connect: ' + fn,
        '      $disconnect: ' + fn,
        '      $default: ' + fn,
        'domains:',
        '  gw.test:',
        '    - { base_path: /t, api: t, stage: s }',
        '  127.0.0.1:',
        '    - { base_path: /t, api: t, stage: s }',
    ]) + '\n'


Env = EchoDaemon(tap, config, listeners=2)


def admin(method, path, body=None):
    d = Env.get()
    return exchange(d.addrs[1][1], req(method, path, host='127.0.0.1', headers=AUTH, body=body),
                    method, timeout=30)


def measured():
    """Whether resident sets mean anything: not under a wrapper (valgrind) nor a sanitizer,
    whose quarantine and shadow memory dwarf what is measured. The figures are printed
    either way; the bounds are checked only on plain builds."""
    global MEASURED
    if MEASURED is None:
        with open('/proc/%d/maps' % Env.get().proc.pid) as f:
            maps = f.read()
        MEASURED = not WRAPPER and 'libasan' not in maps and 'libtsan' not in maps
    return MEASURED


def rss():
    """The gateway's resident set in bytes (the process the test started)."""
    with open('/proc/%d/status' % Env.get().proc.pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise AssertionError('no VmRSS')


def last_seq(topic):
    r = admin('GET', '/@topics/' + topic)
    eq(r.status, 200, 'GET /@topics/%s' % topic)
    return r.json()['seq']


def publish(topic, body):
    r = admin('POST', '/@topics/' + topic, body=body)
    eq(r.status, 200, 'POST /@topics/%s (%r)' % (topic, r.body[:200]))
    return r.json()['seq']


@tap.case('rooms: clients joining a room each (subscribed and publishing in $connect, publishing when they leave), as the chat example: RSS per room reported, bounded')
def _():
    n = 400

    def rooms(prefix):
        for i in range(n):
            ws = Env.connect(path='/t?sub=%s-%d&pub=%s-%d' % (prefix, i, prefix, i))
            op, _ = ws.recv_message(10)
            eq(op, 1, 'the join came back on the room')
            ws.close()

    rooms('warm')
    base = rss()
    rooms('room')
    grown = rss() - base
    diag('RSS per room left behind: %d bytes (%d rooms)' % (max(grown, 0) // n, n))
    if measured():
        check(grown < n * 16 * 1024, 'RSS grew by %d bytes per room' % (grown // n))


@tap.case('budget: 1 MB messages to new topics without end (the admin API): RSS stays within the budget, the oldest topics go, the newest stay')
def _():
    big = b'"' + b'x' * (MB - 256) + b'"'
    for i in range(4):  # the allocator's and the listener's first use, before the baseline
        publish('warm-%d' % i, big)
    base = rss()
    peak = base
    n = 300  # 300 MB published; the budget keeps 16 of it
    for i in range(n):
        eq(publish('mb-%d' % i, big), 1, 'a new topic starts at seq 1')
        if i % 20 == 19:
            peak = max(peak, rss())
    peak = max(peak, rss())
    diag('RSS: %.1f MB before, %.1f MB at most while %d MB went to %d new topics '
         '(budget %d MB)' % (base / MB, peak / MB, n, n, BUDGET // MB))
    if measured():
        check(peak - base < 3 * BUDGET + 48 * MB,
              'RSS grew by %.1f MB: more than the budget allows' % ((peak - base) / MB))
    eq(last_seq('mb-0'), 0, 'the first topic went (its history, then its state)')
    eq(last_seq('mb-%d' % (n - 1)), 1, 'the last one stays')
    eq(publish('mb-0', b'1'), 1, 'a topic that went starts over at seq 1')


@tap.case('cap: small messages to more new topics than topics.max: the oldest make room, RSS stays flat')
def _():
    for i in range(MAX):
        publish('fill-%d' % i, b'1')
    base = rss()
    for i in range(MAX):
        publish('cap-%d' % i, b'1')
    grown = rss() - base
    diag('RSS grew by %.1f MB over %d more topics at the cap' % (grown / MB, MAX))
    eq(last_seq('fill-0'), 0, 'the least recently published topic went')
    eq(last_seq('cap-%d' % (MAX - 1)), 1, 'the newest stays')
    if measured():
        check(grown < 16 * MB, 'RSS grew by %.1f MB at a constant number of topics'
              % (grown / MB))


@tap.case('handler: a handler publishing 100 KB to new topics without end: RSS bounded too')
def _():
    ws = Env.connect(path='/t')
    data = 'y' * (100 * 1024)
    for i in range(20):
        ws.text('pub:hwarm-%d:%s' % (i, data))
        eq(ws.recv_message(10), (1, b'published'), 'published')
    base = rss()
    for i in range(600):  # 60 MB
        ws.text('pub:h-%d:%s' % (i, data))
        eq(ws.recv_message(10), (1, b'published'), 'published')
    grown = rss() - base
    diag('RSS grew by %.1f MB while a handler published 60 MB to 600 new topics'
         % (grown / MB))
    if measured():
        check(grown < 2 * BUDGET + 32 * MB, 'RSS grew by %.1f MB' % (grown / MB))
    eq(last_seq('h-0'), 0, 'the oldest went')
    eq(last_seq('h-599'), 1, 'the newest stays')
    ws.close()


if __name__ == '__main__':
    tap.run()
