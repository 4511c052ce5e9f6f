#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Shared caches across nodes (issue 17, `cluster.shared_caches`): three gateways and a
redis-server of the test's own. The response cache: an answer stored through node A is a hit
on B and C with the same body and no invocation there (tests/functions/cacheable.c, counted
from each node's access log); a purge on B's admin /@cache (stage, tag) makes the next request
a miss on A and C; a client's refresh on B reaches A's and C's copies; the TTL holds across nodes; a function authorizer's decision made on A is
reused on B without an invocation (tests/functions/authz.c logs each one); a node without
`shared_caches` writes no cache key to Redis; hostile bytes put in Redis (truncated, garbage, a
length past the end, a trailing byte) are a miss and the handler answers; Redis frozen
(SIGSTOP): misses after command_timeout_ms, clients leaving while a lookup waits, sharing again
after SIGCONT; Redis stopped: requests still answered (misses), no 5xx, no stall. Skipped
without redis-server.
"""

import signal
import socket
import os
import sys
import time

from lib import SLOW, Daemon, FnDir, Tap, check, eq, exchange, req, test_so, wait_deployed
from redislib import REDIS, TOKEN, Cluster, admin

tap = Tap(budget=60, needs_workers=True)
FN = '{ type: function, function: cacheable }'


def config(port, node, fdir, prefix='fngc:', shared=True):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"], default_api: t }',
        'access_log: { path: "@TMP@/access.log", fields: [requestId, method, path, stage, '
        'status, integrationStatus] }',
        'functions: { dir: "%s", defaults: { timeout_ms: 3000, concurrency: 2 } }' % fdir,
        'admin: { listen: "127.0.0.1:0", token: "%s" }' % TOKEN,
        'apis:',
        '  t:',
        '    authorizers:',
        '      tok: { type: token, function: authz, identity_source: '
        '$request.header.Authorization, ttl_s: 30 }',
        '    stages:',
        '      prod: { cache: { ttl_s: 30 } }',
        '      open: { cache: { ttl_s: 30, require_authorization: false } }',
        '    routes:',
        '      "GET /c/{what}": { integration: %s, cache: { key: { query: [q] } } }' % FN,
        '      "GET /s/{what}": { integration: %s, cache: { ttl_s: 2, key: { query: [q] } } }'
        % FN,
        '      "GET /a": { integration: { type: mock, body: "ok" }, authorizer: tok, '
        'cache: { enabled: false } }',
        'cluster:',
        '  redis: "127.0.0.1:%d"' % port,
        '  node_id: %s' % node,
        '  key_prefix: "%s"' % prefix,
        '  command_timeout_ms: 100',
        '  reconnect_min_ms: 50',
        '  reconnect_max_ms: 300',
        '  shared_caches: [response, authorizer]' if shared else '',
    ]) + '\n'


# One functions directory for the three nodes.
FDIR = FnDir()
tap.on_exit(FDIR.cleanup)


def _deploy(e):
    marks = {n: d.log_mark() for n, d in e.nodes.items()}
    FDIR.install('cacheable', test_so('cacheable'))
    FDIR.install('authz', test_so('authz'))
    for n, d in e.nodes.items():
        wait_deployed(d, ['cacheable', 'authz'], marks[n])


env = Cluster(tap, ('a', 'b', 'c'),
              lambda n, port: Daemon(config(port, n, FDIR.path), listeners=2), _deploy).get


def node(n):
    return env().nodes[n]


def get(n, path, headers=(), stage='prod'):
    return exchange(node(n).port, req('GET', '/' + stage + path, headers=list(headers)))


def invocations(n, prefix):
    time.sleep(0.2 * SLOW)
    return sum(1 for e in node(n).access_entries()
               if e.get('path', '').startswith('/prod' + prefix) and e.get('integrationStatus'))


def authorizations(n, ident):
    d = node(n)
    with d.cond:
        return sum(1 for _, o in d.logs if o and o.get('function') == 'authz' and
                   o.get('msg') == 'authorize TOKEN Bearer ' + ident)


@tap.case('an answer stored through A is a hit on B and C: same body, no invocation there')
def _():
    r = get('a', '/c/plain?q=1')
    eq(r.status, 200, 'A answers')
    eq(r.header('x-cache'), 'miss', 'A: a miss')
    time.sleep(0.1 * SLOW)  # the write to Redis is fire and forget
    for n in ('b', 'c'):
        rn = get(n, '/c/plain?q=1')
        eq(rn.header('x-cache'), 'hit', '%s: a hit' % n)
        eq(rn.body, r.body, '%s: the same body' % n)
        eq(invocations(n, '/c/plain'), 0, '%s: the handler not invoked' % n)
        eq(get(n, '/c/plain?q=1').header('x-cache'), 'hit', '%s: then a local hit' % n)
    eq(invocations('a', '/c/plain'), 1, 'one invocation in all')
    check(env().redis.cli('--scan', '--pattern', 'fngc:rc:*') != '', 'an entry under PREFIX rc:')


@tap.case('a purge on B (stage, then tag) makes the next request a miss on A and C')
def _():
    path = '/c/plain?q=purge'
    old = get('a', path).body
    time.sleep(0.1 * SLOW)
    for n in ('b', 'c'):
        r = get(n, path)
        eq(r.header('x-cache'), 'hit', '%s: a hit before' % n)
        eq(r.body, old, '%s: the same body before' % n)
    eq(admin(node('b'), 'DELETE', '/@cache/stages/t/prod').status, 200, 'stage purge on B')
    time.sleep(0.2 * SLOW)
    # A misses (its copy and Redis' are gone) and stores anew; C's copy is gone too: it gets
    # A's new answer from Redis or misses, never the purged one.
    r = get('a', path)
    eq(r.header('x-cache'), 'miss', 'A: a miss after')
    check(r.body != old, 'A: a new answer')
    time.sleep(0.1 * SLOW)
    rc = get('c', path)
    eq(rc.body, r.body, 'C: A\'s new answer, not the purged one')
    eq(rc.header('x-cache'), 'hit', 'C: a hit (from Redis)')

    path = '/c/tagged?q=purge2'
    old = get('a', path).body
    time.sleep(0.1 * SLOW)
    eq(get('c', path).header('x-cache'), 'hit', 'C: a tagged entry shared')
    eq(admin(node('b'), 'DELETE', '/@cache/tags/tag-a').status, 200, 'tag purge on B')
    time.sleep(0.2 * SLOW)
    r = get('c', path)
    eq(r.header('x-cache'), 'miss', 'C: tagged: a miss after')
    check(r.body != old, 'C: a new answer')
    time.sleep(0.1 * SLOW)
    ra = get('a', path)
    check(ra.body != old, 'A: not the purged answer')


@tap.case('a client\'s refresh (Cache-Control: max-age=0) on B: the others drop their copy')
def _():
    path = '/c/plain?q=refresh'
    old = get('a', path, stage='open').body
    time.sleep(0.1 * SLOW)
    eq(get('c', path, stage='open').body, old, 'C: a copy of A\'s answer')
    r = get('b', path, [('Cache-Control', 'max-age=0')], stage='open')
    eq(r.header('x-cache'), 'miss', 'B: the refresh is a miss')
    check(r.body != old, 'B: a new answer')
    time.sleep(0.2 * SLOW)
    for n in ('a', 'c'):
        rn = get(n, path, stage='open')
        eq(rn.body, r.body, '%s: B\'s new answer, not its old copy' % n)
        eq(rn.header('x-cache'), 'hit', '%s: a hit (from Redis)' % n)


@tap.case('the TTL holds across nodes: a 2 s entry stored on A is a miss on B after it')
def _():
    old = get('a', '/s/plain?q=ttl').body
    time.sleep(1.1)
    r = get('b', '/s/plain?q=ttl')
    eq(r.header('x-cache'), 'hit', 'B: a hit within the TTL')
    eq(r.body, old, 'B: A\'s answer')
    age = int(r.header('age') or '0')
    check(1 <= age <= 2, 'B: Age counts from A\'s store (%d)' % age)
    time.sleep(1.2)
    r = get('c', '/s/plain?q=ttl')
    eq(r.header('x-cache'), 'miss', 'C: a miss after the TTL')
    check(r.body != old, 'C: a new answer')


@tap.case('a function authorizer\'s decision made on A is reused on B and C without invoking it')
def _():
    h = [('Authorization', 'Bearer allow-shared1')]
    eq(get('a', '/a', h).status, 200, 'A: allowed')
    time.sleep(0.1 * SLOW)
    eq(get('b', '/a', h).status, 200, 'B: allowed')
    eq(get('c', '/a', h).status, 200, 'C: allowed')
    h = [('Authorization', 'Bearer deny-shared2')]
    eq(get('a', '/a', h).status, 403, 'A: denied')
    time.sleep(0.1 * SLOW)
    eq(get('b', '/a', h).status, 403, 'B: denied (shared)')
    time.sleep(0.2 * SLOW)
    eq(authorizations('a', 'allow-shared1'), 1, 'A: invoked once')
    eq(authorizations('b', 'allow-shared1'), 0, 'B: not invoked')
    eq(authorizations('c', 'allow-shared1'), 0, 'C: not invoked')
    eq(authorizations('b', 'deny-shared2'), 0, 'B: a denial reused too')


@tap.case('without shared_caches: no cache key written to Redis')
def _():
    d = Daemon(config(env().port, 'd', FDIR.path, prefix='fngoff:', shared=False),
               listeners=2)
    try:
        deadline = time.monotonic() + 5 * SLOW
        while time.monotonic() < deadline:
            r = exchange(d.port, req('GET', '/prod/c/plain?q=off'))
            if r.status == 200:
                break
            time.sleep(0.1)
        eq(exchange(d.port, req('GET', '/prod/c/plain?q=off')).header('x-cache'), 'hit',
           'a local hit')
        exchange(d.port, req('GET', '/prod/a', headers=[('Authorization', 'Bearer allow-off')]))
        time.sleep(0.2 * SLOW)
        eq(env().redis.cli('--scan', '--pattern', 'fngoff:rc*'), '', 'no response cache key')
        eq(env().redis.cli('--scan', '--pattern', 'fngoff:az*'), '', 'no authorizer cache key')
    finally:
        d.stop()


def resp(*args):
    """One command to the test's Redis in RESP (binary-safe keys, unlike redis-cli's)."""
    out = b'*%d\r\n' % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    with socket.create_connection(('127.0.0.1', env().port), 2) as so:
        so.sendall(out)
        so.settimeout(2)
        data = b''
        while True:
            chunk = so.recv(65536)
            data += chunk
            if not chunk or parse(data) is not None:
                return parse(data)[0]


def parse(b, i=0):
    """(value, next index) of the RESP reply at b[i:], or None while incomplete."""
    e = b.find(b'\r\n', i)
    if e < 0:
        return None
    t, line = b[i:i + 1], b[i + 1:e]
    if t in (b'+', b'-', b':'):
        return (int(line) if t == b':' else line), e + 2
    if t == b'$':
        n = int(line)
        if n < 0:
            return None, e + 2
        return (b[e + 2:e + 2 + n], e + 4 + n) if len(b) >= e + 4 + n else None
    n, j, items = int(line), e + 2, []
    for _ in range(max(n, 0)):
        r = parse(b, j)
        if r is None:
            return None
        items.append(r[0])
        j = r[1]
    return items, j


@tap.case('hostile bytes in Redis (truncated, garbage, a huge length, a trailing byte): a miss, '
          'the handler answers')
def _():
    def cases(v):
        return [v[:len(v) // 2], b'garbage', v[:26] + b'\xff\xff\xff\xff' + v[30:], v + b'x']

    for i in range(4):
        path = '/c/plain?q=hostile%d' % i
        good = get('a', path).body
        time.sleep(0.1 * SLOW)
        keys = [k for k in resp('KEYS', 'fngc:rc:*') if b'hostile%d' % i in k]
        eq(len(keys), 1, 'case %d: one shared entry' % i)
        value = resp('GET', keys[0])
        eq(get('c', path).body, good, 'case %d: C reads the good bytes' % i)
        resp('SET', keys[0], cases(value)[i], 'PX', 30000)
        before = invocations('b', '/c/plain')
        r = get('b', path)
        eq(r.status, 200, 'case %d: B answers' % i)
        eq(r.header('x-cache'), 'miss', 'case %d: B: a miss' % i)
        check(r.body != good, 'case %d: B: the handler\'s answer' % i)
        eq(invocations('b', '/c/plain') - before, 1, 'case %d: B invoked' % i)


@tap.case('Redis frozen (SIGSTOP): misses after command_timeout_ms, no 5xx, clients that leave '
          'while a lookup waits are let go; it answers again after SIGCONT')
def _():
    pid = env().redis.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        for i in range(5):
            for n in ('a', 'b'):
                t0 = time.monotonic()
                r = get(n, '/c/plain?q=frozen%d' % i)
                dt = time.monotonic() - t0
                eq(r.status, 200, '%s: 200 with Redis frozen' % n)
                eq(r.header('x-cache'), 'miss', '%s: a miss' % n)
                check(dt < 1.0 * SLOW, '%s: within the command timeout (%.3f s)' % (n, dt))
        for i in range(20):
            so = socket.create_connection(('127.0.0.1', node('c').port), 2)
            so.sendall(req('GET', '/prod/c/plain?q=gone%d' % i))
            time.sleep(0.01)
            so.close()
        h = [('Authorization', 'Bearer allow-frozen')]
        eq(get('c', '/a', h).status, 200, 'C: the authorizer invoked after the timeout')
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(0.5 * SLOW)
    eq(get('c', '/c/plain?q=gone0').status, 200, 'C still serves')
    deadline = time.monotonic() + 10 * SLOW
    while time.monotonic() < deadline:
        get('a', '/c/plain?q=thawed')
        time.sleep(0.2)
        if get('b', '/c/plain?q=thawed').header('x-cache') == 'hit':
            break
    eq(get('b', '/c/plain?q=thawed').header('x-cache'), 'hit', 'shared again after SIGCONT')


@tap.case('Redis stopped: requests still answered (misses), no 5xx, no stall')
def _():
    env().redis.stop(signal.SIGKILL)
    for i in range(10):
        for n in ('a', 'b', 'c'):
            t0 = time.monotonic()
            r = get(n, '/c/plain?q=down%d' % i)
            dt = time.monotonic() - t0
            eq(r.status, 200, '%s: 200 without Redis' % n)
            check(dt < 1.0 * SLOW, '%s: no stall (%.3f s)' % (n, dt))
    h = [('Authorization', 'Bearer allow-down')]
    for n in ('a', 'b'):
        eq(get(n, '/a', h).status, 200, '%s: authorized without Redis' % n)


if __name__ == '__main__':
    if not REDIS:
        print('1..0 # SKIP redis-server not found', flush=True)
        sys.exit(0)
    tap.run()
