#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Function authorizers (issue 12), through a real daemon. tests/functions/authz.c is the
authorizer (it logs "authorize TYPE IDENTITY" for every invocation, which the cases count);
tests/functions/authz_echo.c the protected handler (it logs "handler TYPE" for every
invocation and answers what the authorizer attached). Cases: an allowed request reaches the
handler with the principal and the typed context as text; the cache (a hit does not invoke the
authorizer, TTL 0 invokes it every time, a deny is cached, distinct identities — the
length-prefix case included — never share an entry, a failure is not cached); every refusal
with its exact status and message and the handler never invoked (a missing identity source or
a TOKEN the validation regex refuses: 401 without invoking; deny: 403; crash, timeout, no
decision, an error return, a function not deployed: 500); identity from the source IP and a
stage variable; a client leaving while its authorizer runs; a WebSocket $connect with and
without authorization, its context in later MESSAGE and DISCONNECT events; `fngate invoke` of
the authorizer with a Lambda authorizer's event. TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS."""

import json
import os
import shutil
import socket
import subprocess
import time

from lib import (BIN, SLOW, WRAPPER, SharedDaemon, Tap, check, check_json_error, eq, exchange,
                 open_tmpdir, req, test_so, wait_deployed)
from wsclient import WS

tap = Tap(budget=110, needs_workers=True)

FN = '{ type: function, function: authz_echo }'


def _config(fdir):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "off" }',
        'functions: { dir: "%s", defaults: { timeout_ms: 1000 } }' % fdir,
        'apis:',
        '  a:',
        '    authorizers:',
        '      tok: { type: token, function: authz, identity_source: '
        '$request.header.Authorization, validation_regex: "^Bearer " }',
        '      tok0: { type: token, function: authz, identity_source: '
        '$request.header.Authorization, ttl_s: 0 }',
        '      req: { type: request, function: authz, identity_source: '
        '[$request.header.x-a, $request.querystring.q] }',
        '      ip: { type: request, function: authz, identity_source: '
        '[$context.identity.sourceIp, $stageVariables.tier], ttl_s: 0 }',
        '      gone: { type: token, function: nosuch, identity_source: '
        '$request.header.Authorization }',
        '    stages: { s: { variables: { tier: gold } } }',
        '    routes:',
        '      "GET /t": { integration: %s, authorizer: tok }' % FN,
        '      "GET /t0": { integration: %s, authorizer: tok0 }' % FN,
        '      "GET /r": { integration: %s, authorizer: req }' % FN,
        '      "GET /ip": { integration: %s, authorizer: ip }' % FN,
        '      "GET /gone": { integration: %s, authorizer: gone }' % FN,
        '      "GET /open": { integration: %s }' % FN,
        '  w:',
        '    protocol: websocket',
        '    websocket: { ping_ms: 0 }',
        '    authorizers:',
        '      q: { type: request, function: authz, identity_source: '
        '[$request.querystring.token, $request.header.x-client] }',
        '    stages: { s: {} }',
        '    routes:',
        '      $connect: { integration: %s, authorizer: q }' % FN,
        '      $disconnect: { integration: %s }' % FN,
        '      $default: { integration: %s }' % FN,
        'domains:',
        '  gw.test:',
        '    - { base_path: /a, api: a, stage: s }',
        '    - { base_path: /w, api: w, stage: s }',
    ]) + '\n'


def _setup(d, fdir):
    mark = d.log_mark()
    fdir.install('authz', test_so('authz'))
    fdir.install('authz_echo', test_so('authz_echo'))
    wait_deployed(d, ['authz', 'authz_echo'], mark)


Env = SharedDaemon(tap, _config, _setup)


def get(path, token=None, headers=()):
    d = Env.get()
    h = list(headers)
    if token is not None:
        h.append(('Authorization', token))
    return exchange(d.port, req('GET', '/a' + path, headers=h))


def lines(d, mark, fn, prefix):
    """The messages of function fn's log lines since mark that start with prefix."""
    with d.cond:
        return [o.get('msg') for _, o in d.logs[mark:] if o and o.get('function') == fn and
                o.get('msg', '').startswith(prefix)]


def invocations(d, mark, want=None):
    """(authorizer invocations, handler invocations) since mark. With want, waits until the
    authorizer's count reaches it; in any case lets the log settle a little, so that a count
    that must stay 0 had its chance to grow."""
    if want:
        deadline = time.monotonic() + 3 * SLOW
        while len(lines(d, mark, 'authz', 'authorize')) < want and \
                time.monotonic() < deadline:
            time.sleep(0.02)
    time.sleep(0.15 * SLOW)
    return (len(lines(d, mark, 'authz', 'authorize')),
            len(lines(d, mark, 'authz_echo', 'handler')))


def settled(d):
    """A log mark once the lines of what ran before have arrived (they are written by a
    thread of the daemon, a little after the answers)."""
    time.sleep(0.2 * SLOW)
    return d.log_mark()


def refused(r, status, message):
    obj = check_json_error(r, status)
    eq(obj['message'], message, '%d message' % status)


@tap.case('allowed: the handler gets the principal and the context (string, number, boolean '
          'as text); the authorizer ran once')
def _():
    d = Env.get()
    mark = settled(d)
    r = get('/t', 'Bearer allow-ada')
    eq(r.status, 200, 'status (body %r)' % r.body)
    eq(r.json(), {'principalId': 'ada', 'user': 'ada', 'n': '42.5', 'big': '1e+300',
                  'admin': 'true', 'flag': 'false', 'sources': None}, 'requestContext.authorizer')
    eq(invocations(d, mark, 1), (1, 1), '(authorizer, handler) invocations')
    eq(lines(d, mark, 'authz', 'authorize'), ['authorize TOKEN Bearer allow-ada'],
       'the AUTHORIZER event: type TOKEN, the token')


@tap.case('cache: a hit does not invoke the authorizer; another identity does')
def _():
    d = Env.get()
    mark = settled(d)
    for _ in range(3):
        eq(get('/t', 'Bearer allow-cached').status, 200, 'status')
    eq(invocations(d, mark, 1), (1, 3), 'three requests, one authorizer invocation')
    mark = settled(d)
    eq(get('/t', 'Bearer allow-cachee').json()['principalId'], 'cachee', 'another identity')
    eq(get('/t', 'Bearer allow-cached').json()['principalId'], 'cached', 'the first, cached')
    eq(invocations(d, mark, 1), (1, 2), 'the new identity invoked it, the cached did not')


@tap.case('cache: ttl_s 0 invokes the authorizer for every request')
def _():
    d = Env.get()
    mark = settled(d)
    for _ in range(3):
        eq(get('/t0', 'Bearer allow-nocache').status, 200, 'status')
    eq(invocations(d, mark, 3), (3, 3), 'three requests, three invocations')


@tap.case('cache: a deny is cached and stays a deny (403), the handler never invoked')
def _():
    d = Env.get()
    mark = settled(d)
    for _ in range(3):
        refused(get('/t', 'Bearer deny-eve'), 403, 'Forbidden')
    eq(invocations(d, mark, 1), (1, 0), 'one invocation for three denies; no handler')


@tap.case('cache: distinct identities never share an entry, ("a","bc") != ("ab","c")')
def _():
    d = Env.get()
    mark = settled(d)
    r1 = get('/r?q=bc', headers=[('x-a', 'a')])
    r2 = get('/r?q=c', headers=[('x-a', 'ab')])
    eq((r1.status, r2.status), (200, 200), 'statuses')
    eq(r1.json()['principalId'], 'a|bc', 'first identity')
    eq(r2.json()['principalId'], 'ab|c', 'second identity: not the first\'s entry')
    eq(r1.json()['sources'], '2', 'identity sources in the REQUEST event')
    eq(invocations(d, mark, 2), (2, 2), 'two identities, two invocations')
    mark = settled(d)
    eq(get('/r?q=bc', headers=[('x-a', 'a')]).json()['principalId'], 'a|bc', 'cached')
    eq(get('/r?q=c', headers=[('x-a', 'ab')]).json()['principalId'], 'ab|c', 'cached')
    eq(invocations(d, mark), (0, 2), 'both cached apart')


@tap.case('missing identity source: 401 Unauthorized without invoking anything')
def _():
    d = Env.get()
    mark = settled(d)
    refused(get('/t'), 401, 'Unauthorized')
    refused(get('/t', ''), 401, 'Unauthorized')
    refused(get('/t0'), 401, 'Unauthorized')
    refused(get('/r?q=x'), 401, 'Unauthorized')
    refused(get('/r', headers=[('x-a', 'a')]), 401, 'Unauthorized')
    refused(get('/r?q=', headers=[('x-a', 'a')]), 401, 'Unauthorized')
    eq(invocations(d, mark), (0, 0), '(authorizer, handler) invocations')


@tap.case('TOKEN validation_regex: a token it refuses is 401 without invoking the authorizer')
def _():
    d = Env.get()
    mark = settled(d)
    refused(get('/t', 'Basic YWxsb3c='), 401, 'Unauthorized')
    refused(get('/t', 'bearer allow-x'), 401, 'Unauthorized')
    eq(invocations(d, mark), (0, 0), '(authorizer, handler) invocations')


@tap.case('authorizer crash, timeout, no decision, error return: 500 with the cause, handler '
          'never invoked, nothing cached')
def _():
    d = Env.get()
    cases = [
        ('Bearer crash', 'authorizer tok failed: function authz failed (SIGABRT)'),
        ('Bearer sleep', 'authorizer tok failed: function authz timed out after 1000 ms'),
        ('Bearer garbage', 'authorizer tok failed: function authz answered malformed: no '
                           'decision (allow or deny)'),
        ('Bearer fail', 'authorizer tok failed: function authz returned an error'),
    ]
    for token, message in cases:
        mark = settled(d)
        refused(get('/t', token), 500, message)
        refused(get('/t', token), 500, message)
        eq(invocations(d, mark, 2), (2, 0), '%s: invoked twice (not cached), no handler'
           % token)
    eq(get('/t', 'Bearer allow-after').status, 200, 'the authorizer works after its failures')


@tap.case('authorizer function not deployed: 500 naming it, handler never invoked')
def _():
    d = Env.get()
    mark = settled(d)
    refused(get('/gone', 'Bearer allow-x'), 500,
            'authorizer gone failed: function nosuch is not deployed')
    eq(invocations(d, mark), (0, 0), '(authorizer, handler) invocations')


@tap.case('REQUEST identity from the source IP and a stage variable; route ARN')
def _():
    d = Env.get()
    r = get('/ip')
    eq(r.status, 200, 'status (body %r)' % r.body)
    eq(r.json()['principalId'], '127.0.0.1|gold', 'principal from the identity sources')
    eq(get('/open').json()['principalId'], None, 'a route without authorizer: no context')


@tap.case('clients that leave while their authorizer runs or waits in its queue: nothing '
          'served for them, the daemon goes on')
def _():
    d = Env.get()
    mark = settled(d)
    socks = []
    for i in range(6):
        s = socket.create_connection(('127.0.0.1', d.port))
        s.sendall(req('GET', '/a/t0', headers=[('Authorization', 'Bearer slow-%d' % i)]))
        socks.append(s)
    time.sleep(0.1 * SLOW)
    for s in socks:
        s.close()
    time.sleep(1.0 * SLOW)
    n_auth, n_handler = invocations(d, mark)
    check(n_auth >= 1, 'the authorizer ran (%d)' % n_auth)
    eq(n_handler, 0, 'handler invocations for clients that left')
    eq(get('/t', 'Bearer allow-still').status, 200, 'the daemon still serves')


def ws_connect(query='', headers=()):
    return WS(Env.get().port, path='/w' + query, headers=headers)


@tap.case('WebSocket $connect: without the identity 401, denied 403, authorizer failure 500; '
          'no connection, no handler')
def _():
    d = Env.get()
    mark = settled(d)
    for query, headers, status, msg in [
            ('', [('x-client', 'c')], 401, 'Unauthorized'),
            ('?token=x', [], 401, 'Unauthorized'),
            ('?token=deny-1', [('x-client', 'c')], 403, 'Forbidden'),
            ('?token=crash', [('x-client', 'c')], 500,
             'authorizer q failed: function authz failed (SIGABRT)')]:
        ws = ws_connect(query, headers)
        eq(ws.status, status, 'handshake %s status' % query)
        check(ws.headers.get('upgrade') is None, 'no Upgrade in the refusal')
        eq(json.loads(ws.body)['message'], msg, 'handshake %s message' % query)
        ws.close()
    eq(invocations(d, mark, 2), (2, 0), 'the authorizer ran for the deny and the crash only; '
       'no handler')


@tap.case('WebSocket $connect allowed: the context reaches CONNECT, every MESSAGE and the '
          'DISCONNECT of the connection')
def _():
    d = Env.get()
    mark = settled(d)
    ws = ws_connect('?token=tk-1', [('x-client', 'cli')])
    eq(ws.status, 101, 'handshake (body %r)' % ws.body)
    for i in range(2):
        ws.text('hello %d' % i)
        op, p = ws.recv_message()
        got = json.loads(p)
        eq(got['principalId'], 'tk-1|cli', 'MESSAGE %d: principal' % i)
        eq(got['sources'], '2', 'MESSAGE %d: context' % i)
    ws.send(8, b'\x03\xe8')
    ws.close()
    o = d.wait_log(lambda o: o.get('function') == 'authz_echo' and
                   o.get('msg', '').startswith('disconnect'), 3 * SLOW, mark)
    check(o is not None, 'no DISCONNECT line; stderr:\n%s' % d.stderr_text(mark))
    eq(o['msg'], 'disconnect tk-1|cli -', 'DISCONNECT: the principal')
    eq(lines(d, mark, 'authz_echo', 'handler'),
       ['handler CONNECT', 'handler MESSAGE', 'handler MESSAGE', 'handler DISCONNECT'],
       'the handler\'s events')
    eq(invocations(d, mark)[0], 1, 'one authorizer invocation for the connection')


def invoke_authz(event):
    """fngate invoke of the test authorizer with event: (exit code, stdout, stderr)."""
    tmp = open_tmpdir('fngate-it-authz-')
    try:
        so = os.path.join(tmp, 'authz.so')
        shutil.copy(test_so('authz'), so)
        os.chmod(so, 0o644)
        path = os.path.join(tmp, 'event.json')
        with open(path, 'w') as f:
            json.dump(event, f)
        os.chmod(path, 0o644)
        p = subprocess.run(WRAPPER + [BIN, 'invoke', so, '--event', path], cwd=tmp,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30 * SLOW)
        return p.returncode, p.stdout.decode(), p.stderr.decode()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@tap.case('fngate invoke: a TOKEN event runs the authorizer and prints its typed answer; no '
          'decision exits 1 saying so')
def _():
    rc, out, err = invoke_authz({'type': 'TOKEN', 'authorizationToken': 'Bearer allow-ada',
                                 'methodArn': 'arn:aws:execute-api:r:1:a/s/GET/t'})
    eq(rc, 0, 'exit code (stderr %r)' % err)
    eq(json.loads(out), {'isAuthorized': True, 'principalId': 'ada',
                         'context': {'user': 'ada', 'n': 42.5, 'big': 1e300, 'admin': True,
                                     'flag': False},
                         'usageIdentifierKey': 'key-ada'}, 'the answer')
    rc, out, err = invoke_authz({'version': '2.0', 'type': 'REQUEST', 'routeArn': 'arn:x',
                                 'identitySource': ['deny-me', 'b'], 'routeKey': 'GET /r',
                                 'rawPath': '/r'})
    eq((rc, json.loads(out)['isAuthorized'], json.loads(out)['principalId']),
       (0, False, 'deny-me|b'), 'a REQUEST event denied')
    rc, out, err = invoke_authz({'type': 'TOKEN', 'authorizationToken': 'Bearer garbage'})
    eq(rc, 1, 'no decision: exit code')
    check('no decision' in err, 'no decision: said on stderr (%r)' % err)


tap.run()
