#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""API keys, usage plans and quotas against the real daemon (issue 13).

Keys are made through the admin API (POST /@keys) and through `fngate keys` (another
process writing the same SQLite database); requests carry them in x-api-key or another
configured header. Checked: 403 for a missing, unknown, near-miss, revoked or planless key;
revocation on the next request, also from the command line; a plan's per-key throttle and
per-route throttle; a quota exact at its boundary with Retry-After until the period's end;
`kill -9` in the middle of a load run (what clients got against what the store says after a
restart: the store never says less, and at most one batch more); a clean stop recording the
exact count; keys never in the logs; and a full or read-only state_dir (a tmpfs mounted by the
test) answered by each plan's policy, logged, without a crash."""

import calendar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import (BIN, SLOW, Conn, Daemon, Tap, check, check_json_error, eq, exchange,  # noqa: E402
                 h2load, note, req)

tap = Tap(budget=150.0)
TOKEN = 'test-admin-token-0123456789'
AUTH = [('Authorization', 'Bearer ' + TOKEN)]


def config(state_dir, extra=''):
    return '''
server:
  listen: ["127.0.0.1:0"]
  default_api: t
  state_dir: "%s"
admin: { listen: "127.0.0.1:0", token: "%s" }
apis:
  t:
    stages:
      s: {}
      other: {}
      ck:
        client_throttle: { rate: 1, burst: 1, identity: api_key }
      pc: {}
    routes:
      "GET /k": { api_key_required: true, integration: { type: mock, body: "ok" } }
      "GET /slow": { api_key_required: true, integration: { type: mock, body: "ok" } }
      "GET /q": { api_key_required: true, integration: { type: mock, body: "ok" } }
      "GET /open": { integration: { type: mock, body: "open" } }
  h:
    api_key_header: X-Client-Key
    stages: { s: {} }
    routes:
      "GET /k": { api_key_required: true, integration: { type: mock, body: "ok" } }
usage_plans:
  basic:
    stages:
      - api: t
        stage: s
        route_throttles: { "GET /slow": { rate: 1, burst: 2 } }
      - { api: h, stage: s }
  tight:
    throttle: { rate: 1, burst: 3 }
    stages: [{ api: t, stage: other }, { api: t, stage: ck }]
  paced:
    throttle: { rate: 100, burst: 50 }
    stages: [{ api: t, stage: pc }]
  quota7:
    quota: { limit: 7, period: day, batch: 3 }
    stages: [{ api: t, stage: other }]
  big:
    quota: { limit: 100000000, period: month, batch: 50 }
    on_store_failure: open
    stages: [{ api: t, stage: s }]
  strict:
    quota: { limit: 100000000, period: week, batch: 5 }
    on_store_failure: closed
    stages: [{ api: t, stage: other }]
domains:
  h.test: [{ base_path: /, api: h, stage: s }]
%s''' % (state_dir, TOKEN, extra)


class Env:
    def __init__(self):
        self.state = tempfile.mkdtemp(prefix='fngate-keys-')
        self.d = Daemon(config(os.path.join(self.state, 'st')), listeners=2)

    def stop(self):
        self.d.stop()
        shutil.rmtree(self.state, ignore_errors=True)


_env = []


def env():
    if not _env:
        _env.append(Env())
        tap.on_exit(_env[0].stop)
    return _env[0]


def admin(d, method, path, body=None):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    return exchange(d.addrs[1][1], req(method, path, host='127.0.0.1', headers=AUTH,
                                       body=data), method)


def create(d, *plans, name=''):
    r = admin(d, 'POST', '/@keys', {'plans': list(plans), 'name': name})
    eq(r.status, 201, 'POST /@keys (%r)' % r.body[:200])
    o = r.json()
    check(o['key'].startswith('fng_') and len(o['key']) == 44, 'key format: %r' % o['key'])
    return o


def get(d, path, key=None, header='x-api-key', host='gw.test'):
    h = ['%s: %s' % (header, key)] if key is not None else []
    return exchange(d.port, req('GET', path, host=host, headers=h))


def refused(r, status, want):
    o = check_json_error(r, status)
    check(want in o['message'], 'the %d says %r: %r' % (status, want, o['message']))
    return o


@tap.case('a key-required route: no key, an unknown, near-miss or empty key is 403; a key of the plan is 200')
def _():
    d = env().d
    k = create(d, 'basic', name='ada')
    eq(get(d, '/s/open').status, 200, 'a route without api_key_required needs no key')
    refused(get(d, '/s/k'), 403, 'needs an API key')
    refused(get(d, '/s/k', key=''), 403, 'needs an API key')
    refused(get(d, '/s/k', key='fng_' + 'A' * 40), 403, 'not valid')
    near = k['key'][:-1] + ('a' if k['key'][-1] != 'a' else 'b')
    refused(get(d, '/s/k', key=near), 403, 'not valid')
    refused(get(d, '/s/k', key=k['key'] + 'x'), 403, 'not valid')
    r = get(d, '/s/k', key=k['key'])
    eq((r.status, r.body), (200, b'ok'), 'the key of a plan of the stage')
    # Another stage the plan is not attached to.
    refused(get(d, '/other/k', key=k['key']), 403, 'not in a usage plan of this stage')
    # A configured header name, matched case-insensitively; x-api-key is not read there.
    eq(get(d, '/k', key=k['key'], header='x-client-key', host='h.test').status, 200,
       'api_key_header: X-Client-Key')
    refused(get(d, '/k', key=k['key'], host='h.test'), 403, 'needs an API key')


@tap.case('admin API: the key is shown once; list, show and usage never show it; bad input is 400/404/405')
def _():
    d = env().d
    k = create(d, 'basic', 'quota7', name='grace "g" \u00e9')
    lst = admin(d, 'GET', '/@keys')
    eq(lst.status, 200, 'GET /@keys')
    check(k['key'].encode() not in lst.body, 'the list does not hold the key')
    ids = [o['id'] for o in lst.json()['keys']]
    check(k['id'] in ids, 'the new key is listed')
    one = admin(d, 'GET', '/@keys/' + k['id'])
    eq(one.status, 200, 'GET /@keys/{id}')
    o = one.json()
    eq((o['name'], o['plans'], o['revokedAt']), ('grace "g" \u00e9', ['basic', 'quota7'], None),
       'the record')
    check(k['key'].encode() not in one.body, 'the record does not hold the key')
    u = admin(d, 'GET', '/@keys/%s/usage' % k['id'])
    eq(u.status, 200, 'GET usage (%r)' % u.body)
    plans = {p['plan']: p for p in u.json()['usage']}
    eq((plans['quota7']['used'], plans['quota7']['quota'], plans['quota7']['period']),
       (0, 7, 'day'), 'usage of a fresh key')
    eq(admin(d, 'POST', '/@keys', {'plans': ['nope']}).status, 400, 'unknown plan')
    eq(admin(d, 'POST', '/@keys', {'plans': []}).status, 400, 'no plan')
    eq(admin(d, 'POST', '/@keys', b'{not json').status, 400, 'not JSON')
    eq(admin(d, 'POST', '/@keys', {'plans': ['basic'], 'name': 7}).status, 400, 'name not a string')
    eq(admin(d, 'GET', '/@keys/kAAAAAAAAAAA').status, 404, 'unknown id')
    eq(admin(d, 'GET', '/@keys/../etc').status, 404, 'a bad id')
    eq(admin(d, 'PUT', '/@keys').status, 405, 'PUT /@keys')
    eq(admin(d, 'DELETE', '/@keys/kAAAAAAAAAAA').status, 404, 'revoking an unknown id')
    r = exchange(d.addrs[1][1], req('GET', '/@keys', host='127.0.0.1'), 'GET')
    eq(r.status, 401, 'the key operations need the admin token')


@tap.case('revocation takes effect on the next request: through the admin API and through `fngate keys revoke`')
def _():
    e = env()
    d = e.d
    k = create(d, 'basic')
    eq(get(d, '/s/k', key=k['key']).status, 200, 'live key')
    eq(admin(d, 'DELETE', '/@keys/' + k['id']).status, 204, 'DELETE /@keys/{id}')
    refused(get(d, '/s/k', key=k['key']), 403, 'not valid')
    eq(admin(d, 'GET', '/@keys/' + k['id']).json()['revokedAt'] is not None, True, 'revokedAt set')
    # From another process: the command line writes the database, the next request sees it.
    k2 = create(d, 'basic')
    with Conn(d.port) as c:
        c.send(req('GET', '/s/k', headers=['x-api-key: ' + k2['key']]))
        eq(c.read_response().status, 200, 'live key (keep-alive connection)')
        p = subprocess.run([BIN, 'keys', '-c', d.config_path, 'revoke', k2['id']],
                           capture_output=True, timeout=30 * SLOW)
        eq(p.returncode, 0, 'fngate keys revoke (%r)' % p.stderr[-300:])
        c.send(req('GET', '/s/k', headers=['x-api-key: ' + k2['key']]))
        refused(c.read_response(), 403, 'not valid')


@tap.case("a plan's per-key throttle and its route throttle: 429 naming them, other keys unaffected")
def _():
    d = env().d
    a, b = create(d, 'tight'), create(d, 'tight')
    got = [get(d, '/other/k', key=a['key']).status for _ in range(3)]
    eq(got, [200] * 3, 'the burst of 3')
    r = refused(get(d, '/other/k', key=a['key']), 429, 'usage plan "tight"')
    eq(get(d, '/other/k', key=b['key']).status, 200, "another key's bucket is its own")
    # A stage's client_throttle by api_key: one bucket per accepted key.
    x, y = create(d, 'tight'), create(d, 'tight')
    eq(get(d, '/ck/k', key=x['key']).status, 200, 'key x: one')
    refused(get(d, '/ck/k', key=x['key']), 429, 'this client\'s throttle on stage "ck"')
    eq(get(d, '/ck/k', key=y['key']).status, 200, 'key y has its own client bucket')
    c = create(d, 'basic')
    eq([get(d, '/s/slow', key=c['key']).status for _ in range(2)], [200, 200], 'route burst 2')
    o = refused(get(d, '/s/slow', key=c['key']), 429, 'route "GET /slow" in usage plan "basic"')
    del r, o


@tap.case("a key's plan throttle under load: h2load at 4x its rate for 10 s; accepted <= rate x time + burst (+2 %), the rest 429, no 5xx")
def _():
    d = env().d
    k = create(d, 'paced')
    s, out = h2load(['--h1', '-c', '4', '--rps', '100', '-D', '10', '-H', 'x-api-key: ' + k['key'],
                     'http://127.0.0.1:%d/pc/k' % d.port], timeout=60 * SLOW)
    m = re.search(r'finished in ([\d.]+)s', out)
    check(m is not None, 'h2load says how long it ran')
    secs = float(m.group(1))
    rate, burst = 100, 50
    note('%.2f s: %d done, %d 2xx, %d 4xx, %d 5xx' % (secs, s['done'], s['2xx'], s['4xx'], s['5xx']))
    check(s['done'] > 2 * rate * secs, 'the load was well above the rate (%d in %.1f s)'
          % (s['done'], secs))
    check(s['2xx'] <= (rate * secs + burst) * 1.02, 'accepted %d <= %d/s x %.2f s + %d (+2 %%)'
          % (s['2xx'], rate, secs, burst))
    check(s['2xx'] >= rate * secs * 0.9, 'accepted %d >= 90 %% of the rate x time' % s['2xx'])
    eq(s['5xx'], 0, 'no 5xx')
    eq(s['2xx'] + s['4xx'], s['done'], 'every other answer a 4xx (the 429s)')


@tap.case('a quota of 7 a day is exact at the boundary (batches of 3); then 429 with Retry-After until 00:00 UTC')
def _():
    d = env().d
    k = create(d, 'quota7')
    got = [get(d, '/other/q', key=k['key']).status for _ in range(7)]
    eq(got, [200] * 7, 'seven requests')
    r = get(d, '/other/q', key=k['key'])
    o = refused(r, 429, 'quota of usage plan "quota7" (7 a day) is used up until')
    now = time.time()
    midnight = (int(now) // 86400 + 1) * 86400
    ra = int(r.header('retry-after'))
    check(abs(ra - (midnight - now)) <= 3, 'Retry-After %d ~ %d s to midnight UTC' % (ra, midnight - now))
    check(time.strftime('%Y-%m-%dT00:00:00Z', time.gmtime(midnight)) in o['message'],
          'the message names the reset: %r' % o['message'])
    eq(get(d, '/other/q', key=k['key']).status, 429, 'still refused')
    u = admin(d, 'GET', '/@keys/%s/usage' % k['id']).json()['usage'][0]
    eq((u['used'], u['remaining']), (7, 0), 'usage says 7 used, none left')
    # A second key of the plan has its own quota.
    eq(get(d, '/other/q', key=create(d, 'quota7')['key']).status, 200, 'another key')


@tap.case('keys never appear in the logs (stderr, access log)')
def _():
    e = env()
    d = e.d
    k = create(d, 'basic')
    get(d, '/s/k', key=k['key'])
    get(d, '/s/k', key=k['key'][:-2] + 'zz')
    time.sleep(0.3)
    text = '\n'.join(raw for raw, _ in d.logs)
    if os.path.exists(d.access_log):
        text += open(d.access_log, errors='replace').read()
    check(k['key'] not in text and k['key'][4:20] not in text, 'a key is in the logs')


def load(port, key, stop, counts, path='/s/q'):
    """Requests back to back on one connection until stop is set; counts 200s and others."""
    try:
        with Conn(port, timeout=5.0) as c:
            while not stop.is_set():
                c.send(req('GET', path, headers=['x-api-key: ' + key]))
                r = c.read_response()
                counts['ok' if r.status == 200 else 'other'] += 1
    except Exception as ex:  # the daemon was killed: what was answered is counted
        counts['ended'] = repr(ex)[:80]


def usage_of(d, kid, plan):
    for p in admin(d, 'GET', '/@keys/%s/usage' % kid).json()['usage']:
        if p['plan'] == plan:
            return p
    raise AssertionError('no usage of plan %s' % plan)


def stored(state_dir, kid, plan):
    """used, reserved as the database has them, read by sqlite3 from Python."""
    import sqlite3
    db = sqlite3.connect('file:%s/fngate.db?mode=ro' % state_dir, uri=True)
    try:
        row = db.execute('SELECT used, reserved FROM usage WHERE id=? AND plan=?',
                         (kid, plan)).fetchone()
    finally:
        db.close()
    return row


@tap.case('kill -9 in the middle of a load run loses no counted request: after a restart the store holds >= what clients got, <= that + one batch')
def _():
    state = tempfile.mkdtemp(prefix='fngate-kill9-')
    sd = os.path.join(state, 'st')
    try:
        d = Daemon(config(sd), listeners=2)
        k = create(d, 'big')
        stop = threading.Event()
        counts = [{'ok': 0, 'other': 0} for _ in range(4)]
        ts = [threading.Thread(target=load, args=(d.port, k['key'], stop, c)) for c in counts]
        for t in ts:
            t.start()
        time.sleep(1.5)
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait(10)
        stop.set()
        for t in ts:
            t.join(10)
        d.stop()
        ok = sum(c['ok'] for c in counts)
        other = sum(c['other'] for c in counts)
        check(ok > 100, 'the load run was served (%d ok)' % ok)
        eq(other, 0, 'nothing but 200 before the kill')
        used, reserved = stored(sd, k['id'], 'big')
        note('clients got %d; the store says used %d, reserved %d' % (ok, used, reserved))
        check(reserved >= ok, 'the store counts at least what clients got (%d < %d)' % (reserved, ok))
        # One batch ahead, and per connection one request granted whose answer was lost.
        check(reserved <= ok + 50 + len(ts), 'at most one batch more (%d > %d + 50 + %d)'
              % (reserved, ok, len(ts)))
        # Restarted on the same state: the counter goes on from the bound.
        d2 = Daemon(config(sd), listeners=2)
        try:
            eq(get(d2, '/s/q', key=k['key']).status, 200, 'served after the restart')
            eq(usage_of(d2, k['id'], 'big')['used'], reserved + 1, 'counting goes on from the bound')
        finally:
            d2.stop()
        eq(stored(sd, k['id'], 'big'), (reserved + 1, reserved + 1),
           'a clean stop records the exact count, its batch given back')
    finally:
        shutil.rmtree(state, ignore_errors=True)


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0700' % size, 'tmpfs', path],
                       capture_output=True)
    return p.returncode == 0


def fill(path):
    """Fills the file system of path; returns the filler's name."""
    f = os.path.join(path, 'filler')
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = b'\0' * 4096
        while True:
            os.write(fd, block)   # unbuffered: nothing left to flush at close
    except OSError:
        pass
    finally:
        os.close(fd)
    return f


@tap.case('a full, then read-only state_dir: a closed plan answers 503, an open one serves; logged; no crash; back when the disk is')
def _():
    state = tempfile.mkdtemp(prefix='fngate-full-')
    mnt = os.path.join(state, 'mnt')
    if not mount_tmpfs(mnt, '1m'):
        note('cannot mount a tmpfs here (not root?): case skipped')
        shutil.rmtree(state, ignore_errors=True)
        return
    d = None
    try:
        sd = os.path.join(mnt, 'st')
        d = Daemon(config(sd), listeners=2)
        strict, loose = create(d, 'strict'), create(d, 'big')
        eq(get(d, '/other/q', key=strict['key']).status, 200, 'closed plan before')
        eq(get(d, '/s/q', key=loose['key']).status, 200, 'open plan before')
        filler = fill(mnt)
        mark = d.log_mark()
        st = [get(d, '/other/q', key=strict['key']).status for _ in range(12)]
        lo = [get(d, '/s/q', key=loose['key']).status for _ in range(60)]
        check(503 in st and set(st) <= {200, 503}, 'closed plan: 503 once its batch is used (%r)' % st)
        r = get(d, '/other/q', key=strict['key'])
        refused(r, 503, 'quota store cannot record usage')
        eq(set(lo), {200}, 'open plan: served on (%r)' % sorted(set(lo)))
        check(d.wait_log(lambda o: o.get('msg') == 'quota store write failed', 5.0, mark),
              'the failure is logged')
        check(d.alive(), 'the daemon is alive')
        os.unlink(filler)
        time.sleep(1.3)  # the failure's rest
        got = [get(d, '/other/q', key=strict['key']).status for _ in range(3)]
        check(got[-1] == 200, 'closed plan serves again once the disk has room (%r)' % got)
        d.stop()
        d = None
        # Read-only: a file system cannot become read-only under files open for writing, so the
        # gateway starts again on it once it is (the database and its WAL files kept).
        subprocess.run(['mount', '-o', 'remount,ro', mnt], check=True)
        d = Daemon(config(sd), listeners=2)
        mark = d.log_mark()
        refused(get(d, '/other/q', key=strict['key']), 503, 'quota store cannot record usage')
        eq(get(d, '/s/q', key=loose['key']).status, 200, 'read-only: an open plan serves')
        refused(get(d, '/s/q', key='fng_' + 'B' * 40), 403, 'not valid')
        check(d.wait_log(lambda o: o.get('msg') == 'quota store write failed', 5.0, mark),
              'the failure is logged')
        check(d.alive(), 'the daemon is alive')
    finally:
        if d:
            d.stop()
        subprocess.run(['umount', mnt], capture_output=True)
        shutil.rmtree(state, ignore_errors=True)


tap.run()
