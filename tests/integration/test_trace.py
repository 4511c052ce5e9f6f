#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Per-invocation cost and W3C trace context (issue 16), through a real daemon.

tests/functions/observe.c burns CPU (?spin_ms=N, by its own CPU clock), touches memory
(?touch_mb=N) and answers its trace context (fng_event_traceparent(), fng_event_tracestate(),
the event's traceparent and tracestate headers, fng_trace_child()). Cases: the access log's
integrationCpuUs for a 20 ms spin and integrationMaxRssKb after 50 MiB; -1 for both on a mock
route; a valid traceparent continued (trace id and flags kept, the client's span the parent in
the log, the gateway's span in the response header and the handler's traceparent, the
tracestate passed on); each malformed class starting a new trace with the tracestate dropped;
no traceparent; the gateway's own error answers carrying one; a handler's child span; a
function authorizer in the request's trace; WebSocket events in their connection's trace.
TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS."""

import json
import re

from lib import (SharedDaemon, Tap, check, eq, exchange, req, test_so, wait_deployed)
from wsclient import WS

tap = Tap(budget=90, needs_workers=True)

TP_RE = re.compile(r'^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$')
TID = '4bf92f3577b34da6a3ce929d0e0e4736'
PID = '00f067aa0ba902b7'
VALID = '00-%s-%s-01' % (TID, PID)
FN = '{ type: function, function: observe }'


def _config(fdir):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "@TMP@/access.log" }',
        'functions: { dir: "%s", defaults: { timeout_ms: 5000 } }' % fdir,
        'apis:',
        '  a:',
        '    authorizers:',
        '      tok: { type: token, function: observe, identity_source: '
        '$request.header.Authorization, ttl_s: 0 }',
        '    stages: { s: {} }',
        '    routes:',
        '      "GET /obs": { integration: %s }' % FN,
        '      "GET /authz": { integration: %s, authorizer: tok }' % FN,
        '      "GET /mock": { integration: { type: mock, status: 200, body: "m" } }',
        '  w:',
        '    protocol: websocket',
        '    websocket: { ping_ms: 0 }',
        '    stages: { s: {} }',
        '    routes:',
        '      $default: { integration: %s }' % FN,
        'domains:',
        '  gw.test:',
        '    - { base_path: /a, api: a, stage: s }',
        '    - { base_path: /w, api: w, stage: s }',
    ]) + '\n'


def _setup(d, fdir):
    mark = d.log_mark()
    # memory_mb: room for 50 MiB touched, and for an ASan build's shadow of it.
    fdir.install('observe', test_so('observe'), 'memory_mb: 512\n')
    wait_deployed(d, ['observe'], mark)


Env = SharedDaemon(tap, _config, _setup)


def get(path, headers=()):
    d = Env.get()
    r = exchange(d.port, req('GET', '/a' + path, headers=list(headers)))
    return r, d.access_for(r.header('x-request-id'))


def parse_tp(v, what):
    m = TP_RE.match(v or '')
    check(m is not None, '%s is not a version 00 traceparent: %r' % (what, v))
    check(m.group(1) != '0' * 32 and m.group(2) != '0' * 16, '%s has a zero id: %r' % (what, v))
    return m.group(1), m.group(2), m.group(3)


@tap.case('cost: a handler spinning 20 ms of CPU is logged with integrationCpuUs ~ 20000')
def _():
    r, e = get('/obs?spin_ms=20')
    eq(r.status, 200, 'status')
    cpu = e.get('integrationCpuUs')
    check(isinstance(cpu, int), 'integrationCpuUs is not an integer: %r' % (cpu,))
    # The lower bound is the spin itself; the upper one leaves room for a sanitizer build.
    check(18000 <= cpu < 400000, 'integrationCpuUs %r, expected about 20000' % cpu)
    check(isinstance(e.get('integrationMaxRssKb'), int) and e['integrationMaxRssKb'] > 0,
          'integrationMaxRssKb %r' % e.get('integrationMaxRssKb'))


@tap.case('cost: a handler touching 50 MiB is logged with integrationMaxRssKb > 51200')
def _():
    r, e = get('/obs?touch_mb=50')
    eq(r.status, 200, 'status')
    check(e.get('integrationMaxRssKb', 0) > 51200,
          'integrationMaxRssKb %r, expected over 51200' % e.get('integrationMaxRssKb'))
    check(0 <= e.get('integrationCpuUs', -1) < 2000000, 'integrationCpuUs %r'
          % e.get('integrationCpuUs'))


@tap.case('cost: no worker, no cost: a mock route logs -1 for both')
def _():
    r, e = get('/mock')
    eq(r.status, 200, 'status')
    eq((e.get('integrationCpuUs'), e.get('integrationMaxRssKb')), (-1, -1), 'cost of a mock')


@tap.case('trace: a valid traceparent is continued to the handler and back')
def _():
    r, e = get('/obs', [('traceparent', VALID), ('tracestate', 'congo=t61rcWkgMzE'),
                        ('tracestate', 'rojo=00f067aa0ba902b7')])
    eq(r.status, 200, 'status')
    tid, span, flags = parse_tp(r.header('traceparent'), 'response traceparent')
    eq((tid, flags), (TID, '01'), 'response: the client\'s trace id and flags')
    check(span != PID, 'the response names the gateway\'s span, not the client\'s')
    eq((e.get('traceId'), e.get('parentSpanId'), e.get('spanId')), (TID, PID, span),
       'access log: trace, the client\'s span as parent, the gateway\'s span')
    b = r.json()
    eq(b['traceparent'], r.header('traceparent'), 'fng_event_traceparent: the gateway\'s span')
    eq(b['header'], r.header('traceparent'), 'the event\'s traceparent header is rewritten')
    eq(b['tracestate'], 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', 'fng_event_tracestate')
    eq(b['stateHeader'], b['tracestate'], 'the event\'s tracestate header: the one kept')
    eq(b['childRc'], 0, 'fng_trace_child returns 0')
    ctid, cspan, cflags = parse_tp(b['child'], 'fng_trace_child')
    eq((ctid, cflags), (TID, '01'), 'child: same trace id and flags')
    check(cspan not in (span, PID), 'child: a span of its own: %s' % cspan)


@tap.case('trace: flags the client set are kept (00: not sampled)')
def _():
    r, e = get('/obs', [('traceparent', '00-%s-%s-00' % (TID, PID))])
    tid, _, flags = parse_tp(r.header('traceparent'), 'response traceparent')
    eq((tid, flags), (TID, '00'), 'trace id and flags')


@tap.case('trace: a later version is read by its version 00 fields and answered as 00')
def _():
    r, e = get('/obs', [('traceparent', 'cc-%s-%s-01-what-the-future-holds' % (TID, PID))])
    tid, _, _ = parse_tp(r.header('traceparent'), 'response traceparent')
    eq((tid, e.get('parentSpanId')), (TID, PID), 'trace and parent kept')


BAD = [
    ('too short', '00-%s-%s-0' % (TID, PID)),
    ('too long for version 00', VALID + '-00'),
    ('upper-case hex', '00-%s-%s-01' % (TID.upper(), PID)),
    ('zero trace id', '00-%s-%s-01' % ('0' * 32, PID)),
    ('zero parent id', '00-%s-%s-01' % (TID, '0' * 16)),
    ('version ff', 'ff-%s-%s-01' % (TID, PID)),
    ('bad separator', '00_%s-%s-01' % (TID, PID)),
    ('non-hex', '00-%s-%s-0g' % (TID, PID)),
    ('future version, no dash after', 'cc-%s-%s-01x' % (TID, PID)),
    ('trace id one short', '00-%s-%s-01' % (TID[:-1], PID + '0')),
]


def _bad(name, value, headers=None):
    def case():
        h = headers or [('traceparent', value), ('tracestate', 'congo=t61rcWkgMzE')]
        r, e = get('/obs', h)
        eq(r.status, 200, 'status')
        tid, span, flags = parse_tp(r.header('traceparent'), 'response traceparent')
        check(tid != TID, 'a new trace: %s' % tid)
        eq((e.get('traceId'), e.get('parentSpanId'), e.get('spanId'), flags),
           (tid, '', span, '01'), 'access log: the new trace, no parent; sampled')
        b = r.json()
        eq(b['traceparent'], r.header('traceparent'), 'the handler sees the new trace')
        eq((b['tracestate'], b['stateHeader']), ('', ''), 'tracestate dropped with it')
    tap.add('trace: %s is refused: a new trace' % name, case)


for _name, _value in BAD:
    _bad(_name, _value)
_bad('two traceparent headers', None, [('traceparent', VALID), ('traceparent', VALID)])
_bad('no traceparent', None, [('tracestate', 'congo=t61rcWkgMzE')])


@tap.case('trace: a malformed tracestate is dropped, the traceparent kept')
def _():
    for what, ts in [('33 members', ','.join('k%d=v' % i for i in range(33))),
                     ('over 512 bytes', 'k=' + 'v' * 256 + ',j=' + 'v' * 256),
                     ('a bad key', 'Congo=x'), ('a bad value', 'k=a,b=c=d'),
                     ('a key twice', 'k=1,k=2')]:
        r, e = get('/obs', [('traceparent', VALID), ('tracestate', ts)])
        eq(e.get('traceId'), TID, '%s: trace kept' % what)
        eq(r.json()['tracestate'], '', '%s: tracestate dropped' % what)
    r, _ = get('/obs', [('traceparent', VALID), ('tracestate', 'a=1 ,, b@c=2')])
    eq(r.json()['tracestate'], 'a=1 ,, b@c=2', 'spaces and an empty member: kept as sent')


@tap.case('trace: the gateway\'s own error answers carry a traceparent (404, 401)')
def _():
    d = Env.get()
    r = exchange(d.port, req('GET', '/a/nowhere', headers=[('traceparent', VALID)]))
    eq(r.status, 404, 'status')
    tid, span, _ = parse_tp(r.header('traceparent'), '404 traceparent')
    eq(tid, TID, '404 in the client\'s trace')
    e = d.access_for(r.header('x-request-id'))
    eq((e.get('traceId'), e.get('spanId')), (TID, span), 'logged')
    r = exchange(d.port, req('GET', '/a/authz'))
    eq(r.status, 401, 'no identity: 401')
    parse_tp(r.header('traceparent'), '401 traceparent')


@tap.case('trace: a function authorizer runs in the trace of the request it decides about')
def _():
    r, e = get('/authz', [('traceparent', VALID), ('Authorization', 'Bearer x')])
    eq(r.status, 200, 'status')
    b = r.json()
    tid, span, _ = parse_tp(b['traceparent'], 'handler traceparent')
    atp = b.get('authorizerTraceparent')
    atid, aspan, _ = parse_tp(atp, 'authorizer traceparent')
    eq((tid, atid), (TID, TID), 'both in the client\'s trace')
    check(aspan != span, 'the authorizer\'s invocation has a span of its own')


@tap.case('trace: WebSocket events are in their connection\'s trace, a span each')
def _():
    d = Env.get()
    ws = WS(d.port, path='/w', headers=[('traceparent', VALID)])
    eq(ws.status, 101, 'handshake')
    tid, hspan, _ = parse_tp(ws.headers.get('traceparent'), '101 traceparent')
    eq(tid, TID, 'the handshake continues the client\'s trace')
    spans = set()
    for i in range(2):
        ws.text('m%d' % i)
        _, p = ws.recv_message()
        b = json.loads(p)
        etid, espan, _ = parse_tp(b['traceparent'], 'MESSAGE event traceparent')
        eq(etid, TID, 'message %d in the connection\'s trace' % i)
        spans.add(espan)
    check(len(spans) == 2 and hspan not in spans, 'a span per event: %r' % spans)
    ents = d.wait_access(lambda e: e.get('spanId') in spans and e.get('parentSpanId') == hspan)
    check(ents is not None, 'an event\'s log line has the handshake\'s span as its parent')
    ws.close()


tap.run()
