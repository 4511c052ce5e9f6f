#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The per-stage response cache (issue 14), through a real daemon. tests/functions/cacheable.c
answers what it was asked and when (so a stored answer is told from a new one); invocations
are counted from the access log (a line whose integration answered). Cases: miss, hit (same body,
Age), expiry; bypass (a disabled route, POST, TTL 0, a stage without cache); key parameters
(a keyed query parameter or header misses, an unkeyed one hits and never changes the body: a
poisoning attempt); what the handler says (no-store, private, Set-Cookie, fng_response_cache's
TTL and tags, 5xx, an answer over max_entry_bytes); callers kept apart on a route behind an
authorizer unless shared; a client's Cache-Control: max-age=0 ignored, forbidden or honoured
with the permission; the admin API's purges by tag, route and stage and its figures;
coalescing (100 concurrent misses, one invocation); stale-while-revalidate (one refresh
however many requests) and stale-if-error (the function crashes: the stale answer, marked);
eviction within the capacity. TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS."""

import json
import os
import threading
import time
import urllib.parse

from lib import (SLOW, Daemon, FnDir, Tap, check, eq, exchange, req, test_so,
                 wait_deployed)

tap = Tap(budget=120, needs_workers=True)
TOKEN = 'test-admin-token-0123456789'
FN = '{ type: function, function: cacheable }'


def config(fdir):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "@TMP@/access.log", fields: [requestId, method, path, stage, '
        'status, integrationStatus, integrationLatencyUs] }',
        'functions: { dir: "%s", defaults: { timeout_ms: 3000, concurrency: 2 } }' % fdir,
        'admin: { listen: "127.0.0.1:0", token: "%s" }' % TOKEN,
        'apis:',
        '  t:',
        '    authorizers:',
        '      tok: { type: token, function: authz, identity_source: '
        '$request.header.Authorization, ttl_s: 0 }',
        '    stages:',
        '      s: { cache: { ttl_s: 2, capacity_bytes: 1048576, max_entry_bytes: 102400 } }',
        '      w: { cache: { ttl_s: 1, stale_while_revalidate_s: 30 } }',
        '      e: { cache: { ttl_s: 1, stale_if_error_s: 30 } }',
        '      inv: { cache: { ttl_s: 60, unauthorized_invalidation: forbid } }',
        '      cw: { cache: { ttl_s: 60, coalesce_wait_ms: 300 } }',
        '      off: {}',
        '    routes:',
        '      "GET /c/{what}": { integration: %s, cache: { key: { query: [q], headers: '
        '[x-k] } } }' % FN,
        '      "POST /c/{what}": { integration: %s }' % FN,
        '      "GET /nc/{what}": { integration: %s, cache: { enabled: false } }' % FN,
        '      "GET /t0/{what}": { integration: %s, cache: { ttl_s: 0 } }' % FN,
        '      "GET /a/{what}": { integration: %s, authorizer: tok }' % FN,
        '      "GET /sh/{what}": { integration: %s, authorizer: tok, cache: { shared: true } }'
        % FN,
        '      "GET /m": { integration: { type: mock, body: "mock" } }',
        'domains:',
        '  gw.test:',
        '    - { base_path: /s, api: t, stage: s }',
        '    - { base_path: /w, api: t, stage: w }',
        '    - { base_path: /e, api: t, stage: e }',
        '    - { base_path: /inv, api: t, stage: inv }',
        '    - { base_path: /cw, api: t, stage: cw }',
        '    - { base_path: /off, api: t, stage: off }',
    ]) + '\n'


class Env:
    d = fdir = None

    @classmethod
    def get(cls):
        if cls.d is None:
            cls.fdir = FnDir()
            cls.d = Daemon(config(cls.fdir.path), listeners=2)
            tap.on_exit(cls.d.stop)
            mark = cls.d.log_mark()
            cls.fdir.install('cacheable', test_so('cacheable'))
            cls.fdir.install('authz', test_so('authz'))
            wait_deployed(cls.d, ['cacheable', 'authz'], mark)
        return cls.d


def get(path, headers=(), method='GET'):
    return exchange(Env.get().port, req(method, path, headers=list(headers)), method)


def admin(method, path):
    d = Env.get()
    return exchange(d.addrs[1][1], req(method, path, host='127.0.0.1',
                                       headers=[('Authorization', 'Bearer ' + TOKEN)]), method)


def body(r):
    return json.loads(r.body.decode())


def uniq(prefix):
    return '%s%d' % (prefix, int(time.monotonic() * 1e6))


def invocations(path_prefix, since=0):
    """Access-log lines whose integration answered, for paths starting with path_prefix."""
    time.sleep(0.2 * SLOW)
    return sum(1 for e in Env.get().access_entries()[since:]
               if e.get('path', '').startswith(path_prefix) and e.get('integrationStatus'))


def xc(r):
    return r.header('x-cache')


@tap.case('miss, then hit with the same body and an Age; expiry after the TTL; Age grows')
def _():
    q = uniq('a')
    r1 = get('/s/c/plain?q=' + q)
    eq((r1.status, xc(r1)), (200, 'miss'), 'first: miss')
    r2 = get('/s/c/plain?q=' + q)
    eq((r2.status, xc(r2)), (200, 'hit'), 'second: hit')
    eq(r2.body, r1.body, 'the hit is the stored body')
    check(r2.header('age') is not None and r2.header('age').isdigit(), 'Age on a hit')
    eq(r1.header('age'), None, 'no Age on a miss')
    time.sleep(1.1)
    r3 = get('/s/c/plain?q=' + q)
    eq((xc(r3), r3.header('age')), ('hit', '1'), 'a second later: hit, Age 1')
    time.sleep(1.1)
    r4 = get('/s/c/plain?q=' + q)
    eq(xc(r4), 'miss', 'after the TTL (2 s): miss')
    check(body(r4)['t'] != body(r1)['t'], 'a new answer')


@tap.case('bypass: a disabled route, POST, a TTL of 0; a stage without a cache has no x-cache')
def _():
    for path, method in (('/s/nc/plain', 'GET'), ('/s/c/plain', 'POST'), ('/s/t0/plain', 'GET')):
        r1, r2 = get(path, method=method), get(path, method=method)
        eq((xc(r1), xc(r2)), ('bypass', 'bypass'), '%s %s: bypass' % (method, path))
        check(body(r1)['t'] != body(r2)['t'], '%s %s: invoked each time' % (method, path))
    r = get('/off/c/plain')
    eq((r.status, xc(r)), (200, None), 'a stage without a cache: no x-cache')
    r = get('/s/nothing/here')
    eq((r.status, xc(r)), (404, 'bypass'), 'a 404 on a cached stage: bypass')


@tap.case('key parameters: a keyed query parameter or header misses; unkeyed ones hit and cannot change the body (poisoning)')
def _():
    q = uniq('k')
    first = get('/s/c/plain?q=%s&u=one' % q, headers=[('x-h', 'one'), ('x-k', 'K1')])
    eq(xc(first), 'miss', 'first')
    r = get('/s/c/plain?q=%s&u=evil' % q, headers=[('x-h', '<script>evil</script>'),
                                                   ('x-k', 'K1')])
    eq(xc(r), 'hit', 'another u and x-h: hit')
    eq(r.body, first.body, 'the unkeyed values never reach the cached body')
    check(b'evil' not in r.body, 'no trace of the attempt')
    eq(xc(get('/s/c/plain?q=%s&u=one' % q, headers=[('x-h', 'one'), ('x-k', 'K2')])), 'miss',
       'another x-k: miss')
    eq(xc(get('/s/c/plain?q=%s2&u=one' % q, headers=[('x-h', 'one'), ('x-k', 'K1')])), 'miss',
       'another q: miss')
    eq(xc(get('/s/c/plain?u=one', headers=[('x-k', 'K1')])), 'miss', 'no q at all: its own entry')
    eq(xc(get('/s/c/plain?q=&u=one', headers=[('x-k', 'K1')])), 'miss',
       'an empty q is not an absent q')


@tap.case('the handler decides: no-store, private, Set-Cookie and TTL 0 not stored; 5xx not stored; over max_entry_bytes not stored; its own TTL')
def _():
    for what in ('nostore', 'private', 'cookie', 'zero', 'fail', 'big'):
        q = uniq(what)
        r1 = get('/s/c/%s?q=%s' % (what, q))
        r2 = get('/s/c/%s?q=%s' % (what, q))
        eq((xc(r1), xc(r2)), ('miss', 'miss'), '%s: never stored' % what)
    q = uniq('mid')
    eq([xc(get('/s/c/mid?q=' + q)) for _ in range(2)], ['miss', 'hit'], 'a 50 KB answer is')
    q = uniq('short')
    eq([xc(get('/s/c/short?q=' + q)) for _ in range(2)], ['miss', 'hit'], 'short: stored')
    time.sleep(1.1)
    eq(xc(get('/s/c/short?q=' + q)), 'miss', "the handler's TTL of 1 s, not the stage's 2 s")


@tap.case('callers apart behind an authorizer (unless the route is shared)')
def _():
    q = uniq('id')
    a1 = get('/s/a/plain?q=' + q, headers=[('Authorization', 'Bearer allow-ann')])
    b1 = get('/s/a/plain?q=' + q, headers=[('Authorization', 'Bearer allow-bob')])
    eq((xc(a1), xc(b1)), ('miss', 'miss'), 'each caller misses once')
    eq((body(a1)['p'], body(b1)['p']), ('ann', 'bob'), 'each got their own answer')
    a2 = get('/s/a/plain?q=' + q, headers=[('Authorization', 'Bearer allow-ann')])
    eq((xc(a2), body(a2)['p']), ('hit', 'ann'), "ann's hit is ann's")
    eq(get('/s/a/plain?q=' + q).status, 401, 'no token: the authorizer still refuses first')
    s1 = get('/s/sh/plain?q=' + q, headers=[('Authorization', 'Bearer allow-ann')])
    s2 = get('/s/sh/plain?q=' + q, headers=[('Authorization', 'Bearer allow-bob')])
    eq((xc(s1), xc(s2)), ('miss', 'hit'), 'shared: one entry for both')


@tap.case("a client's Cache-Control: max-age=0: ignored without the permission, 403 where configured, honoured with it")
def _():
    q = uniq('inv')
    first = get('/s/a/plain?q=' + q, headers=[('Authorization', 'Bearer allow-ann')])
    r = get('/s/a/plain?q=' + q, headers=[('Authorization', 'Bearer allow-ann'),
                                          ('Cache-Control', 'max-age=0')])
    eq((xc(r), r.body), ('hit', first.body), 'ignored: the stored answer')
    r = get('/inv/c/plain?q=' + q, headers=[('Cache-Control', 'max-age=0')])
    eq(r.status, 403, 'forbid: 403')
    check(b'invalidate' in r.body, 'the 403 says why: %r' % r.body)
    r1 = get('/s/a/plain?q=' + q, headers=[('Authorization', 'Bearer inval-ann')])
    r2 = get('/s/a/plain?q=' + q, headers=[('Authorization', 'Bearer inval-ann'),
                                           ('Cache-Control', 'max-age=0')])
    eq(xc(r2), 'miss', 'with the permission: refreshed')
    check(body(r2)['t'] != body(r1)['t'], 'a new answer')
    eq(get('/s/a/plain?q=' + q, headers=[('Authorization', 'Bearer inval-ann')]).body, r2.body,
       'and stored')


@tap.case('admin API: purge by tag, by route and by stage; figures per stage')
def _():
    q = uniq('p')
    get('/s/c/tagged?q=' + q)
    eq(xc(get('/s/c/tagged?q=' + q)), 'hit', 'tagged: stored')
    r = admin('DELETE', '/@cache/tags/tag-b')
    eq(r.status, 200, 'purge by tag')
    check(r.json()['purged'] >= 1, 'purged: %r' % r.body)
    eq(xc(get('/s/c/tagged?q=' + q)), 'miss', 'gone after the tag purge')
    get('/s/c/plain?q=' + q)
    eq(xc(get('/s/c/plain?q=' + q)), 'hit', 'plain stored')
    r = admin('DELETE', '/@cache/stages/t/s?route=' + urllib.parse.quote('GET /nc/{what}'))
    eq(xc(get('/s/c/plain?q=' + q)), 'hit', "another route's purge leaves it")
    r = admin('DELETE', '/@cache/stages/t/s?route=' + urllib.parse.quote('GET /c/{what}'))
    check(r.json()['purged'] >= 1, 'route purge: %r' % r.body)
    eq(xc(get('/s/c/plain?q=' + q)), 'miss', 'gone after the route purge')
    r = admin('DELETE', '/@cache/stages/t/s')
    check(r.status == 200 and r.json()['purged'] >= 1, 'stage purge: %r' % r.body)
    eq(xc(get('/s/c/plain?q=' + q)), 'miss', 'gone after the stage purge')
    st = admin('GET', '/@cache')
    eq(st.status, 200, 'GET /@cache')
    s = [x for x in st.json()['stages'] if x['api'] == 't' and x['stage'] == 's'][0]
    check(s['hits'] > 0 and s['misses'] > 0 and s['bypass'] > 0 and s['bytes'] <= s['capacity'],
          'figures: %r' % s)
    eq(admin('DELETE', '/@cache/nothing').status, 404, 'unknown cache path')
    eq(admin('DELETE', '/@cache/tags/bad%20tag').status, 400, 'a tag the handlers could not set')
    eq(admin('DELETE', '/@cache/tags/a%2Fb').json(), {'purged': 0}, 'a tag with a / as %2F')
    eq(admin('POST', '/@cache/tags/x').status, 405, 'POST')


@tap.case('coalescing: 100 concurrent misses for one key make one invocation; all get its body')
def _():
    q = uniq('herd')
    since = len(Env.get().access_entries())
    out = [None] * 100

    def one(i):
        try:
            out[i] = get('/s/c/slow?q=' + q)
        except Exception as ex:  # noqa: BLE001
            out[i] = ex
    ts = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    bad = [o for o in out if not hasattr(o, 'status') or o.status != 200]
    eq(len(bad), 0, 'all 100 answered 200 (%r)' % bad[:2])
    eq(len({o.body for o in out}), 1, 'one body for all')
    eq(invocations('/s/c/slow', since), 1, 'one invocation')
    xs = sorted(xc(o) for o in out)
    eq(xs.count('miss'), 1, 'one miss (the leader)')


@tap.case("a waiter whose own deadline passes gets its 504; the leader and a later waiter get the answer")
def _():
    q = uniq('cw')
    out = {}

    def one(name, delay):
        time.sleep(delay)
        out[name] = get('/cw/c/slow?q=' + q)
    ts = [threading.Thread(target=one, args=a) for a in
          (('leader', 0), ('early', 0.1), ('late', 0.35))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    eq((out['leader'].status, xc(out['leader'])), (200, 'miss'), 'the leader (500 ms)')
    eq(out['early'].status, 504, 'waiting from 0.1 s, 300 ms: 504 at 0.4 s')
    check(b'did not come in time' in out['early'].body, 'the 504 says why')
    eq((out['late'].status, xc(out['late'])), (200, 'hit'), 'waiting from 0.35 s: the answer')
    eq(out['late'].body, out['leader'].body, "the leader's body")


@tap.case('stale-while-revalidate: an expired answer is served stale while one refresh runs')
def _():
    q = uniq('swr')
    first = get('/w/c/slow?q=' + q)
    time.sleep(1.1)
    since = len(Env.get().access_entries())
    rs = [get('/w/c/slow?q=' + q) for _ in range(5)]
    eq([xc(r) for r in rs], ['stale'] * 5, 'stale, at once, while the refresh runs')
    check(all(r.body == first.body for r in rs), 'the stale body')
    time.sleep(0.8)
    r = get('/w/c/slow?q=' + q)
    eq(xc(r), 'hit', 'after the refresh: a hit')
    check(r.body != first.body, 'the refreshed body')
    eq(invocations('/w/c/slow', since), 1, 'one refresh for five stale answers')


@tap.case('stale-if-error: the function crashes; the stale answer is served, marked stale')
def _():
    q = uniq('sie')
    first = get('/e/c/plain?q=' + q)
    time.sleep(1.1)
    r = get('/e/c/plain?q=' + q, headers=[('x-mode', 'crash')])
    eq((r.status, xc(r)), (200, 'stale'), 'the crash answered with the stale entry')
    eq(r.body, first.body, 'its body')
    r = get('/s/c/plain?q=' + q, headers=[('x-mode', 'crash')])
    eq((r.status, xc(r)), (502, 'miss'), 'without a window the crash is a 502')


@tap.case('eviction: a stage filled past its capacity stays within it')
def _():
    for i in range(40):
        get('/s/c/mid?q=%s' % uniq('ev%d-' % i))
    st = admin('GET', '/@cache').json()
    s = [x for x in st['stages'] if x['api'] == 't' and x['stage'] == 's'][0]
    check(s['evictions'] > 0 and s['bytes'] <= s['capacity'] == 1048576, 'figures: %r' % s)


@tap.case('the daemon stops cleanly after all that (exit 0: no leak or sanitizer report)')
def _():
    d = Env.get()
    rc = d.stop(cleanup=False)
    eq(rc, 0, 'exit code (stderr tail:\n%s)' % d.stderr_tail)


tap.run()
