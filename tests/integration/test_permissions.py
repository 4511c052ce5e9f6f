#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What a function may ask for and reach, through a real daemon (issue 9).

Manifests are bounded by the operator (functions.max, functions.grants): one asking for more
memory, workers, CPU, a sandbox group or learn mode than its function is granted is refused
at pre-flight with the reason logged, no worker starts for it, and a running version keeps
serving; granted, the same asks deploy. A reload that lowers a maximum or takes a grant back
stops the versions over it. WebSocket calls are scoped: a handler of API wa (tests/functions/
wsgrab.c) reaching for a connection of API wb or a topic it was not granted gets -1, the wb
client receives nothing and stays open, the refusal is logged (at most once a second per
function, with a count); its own connections and granted topics work. TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS."""

import json
import os
import re
import time

from lib import (SharedDaemon, SLOW, Daemon, FnDir, Tap, check, check_json_error, deploy_event, eq,
                 exchange, install_batches, req, test_so, wait_deployed)
from wsclient import WS

tap = Tap(budget=100, needs_workers=True)

# Functions of API a (HTTP), each behind ANY /NAME, all built from tests/functions/ok.c.
HTTP_FNS = ['pmmem', 'pmwarm', 'pmwarm3', 'pmcpu', 'pmcpu0', 'pmnetno', 'pmlearnno', 'pmbig',
            'pmnet', 'pmlearn', 'pmkeep']


def config(fdir, max_memory=None, net_grant=True):
    """max_memory: functions.max.memory_mb (None: the default, 512); net_grant: whether pmnet
    is granted sandbox: [net]."""
    # concurrency: 8 written out: its default is 4x the CPUs available (docs/config.md), and
    # the cases below ask for more than 8.
    fmax = 'max: { cpu_ms: 60000, concurrency: 8%s }' % (
        ', memory_mb: %d' % max_memory if max_memory else '')
    lines = [
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "off" }',
        'functions:',
        '  dir: "%s"' % fdir,
        '  ' + fmax,
        '  grants:',
        '    pmlearn: { learn: true }',
        '    pmbig: { max: { memory_mb: 1024, concurrency: 12 } }',
        '    wsgrab: { topics: ["granted.*"] }',
        '    wsecho: { topics: ["*"] }',
    ]
    if net_grant:
        lines.append('    pmnet: { sandbox: [net] }')
    lines += ['apis:', '  a:', '    stages: { s: {} }', '    routes:']
    lines += ['      "ANY /%s": { integration: { type: function, function: %s } }' % (n, n)
              for n in HTTP_FNS]
    for api, fn in (('wa', 'wsgrab'), ('wb', 'wsecho')):
        route = '{ integration: { type: function, function: %s } }' % fn
        lines += ['  %s:' % api, '    protocol: websocket', '    websocket: { ping_ms: 0 }',
                  '    stages: { s: {} }', '    routes:',
                  '      $connect: ' + route, '      $default: ' + route]
    lines += ['domains:', '  gw.test:',
              '    - { base_path: /wa, api: wa, stage: s }',
              '    - { base_path: /wb, api: wb, stage: s }',
              '    - { base_path: /, api: a, stage: s }']
    return '\n'.join(lines) + '\n'


Env = SharedDaemon(tap, config, lambda d, fdir: install_batches(d, fdir, [
    ('wsgrab', test_so('wsgrab'), None), ('wsecho', test_so('wsecho'), None)]))


def workers(name):
    """Processes that are workers of function name (their comm is fn:NAME)."""
    n = 0
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                with open('/proc/%s/comm' % pid) as f:
                    n += f.read().strip() == 'fn:' + name[:12]
            except OSError:
                pass
    return n


def get(name):
    return exchange(Env.get().port, req('GET', '/' + name))


def refused(o, name, cause_re, action):
    check(o is not None, 'no deploy log line for %s' % name)
    eq(o.get('msg'), 'deploy failed', '%s: log line' % name)
    check(re.search(cause_re, o.get('cause', '')), '%s: cause %r does not match %r'
          % (name, o.get('cause'), cause_re))
    eq(o.get('action'), action, '%s: action' % name)


# ------------------------------------------------------------------ manifests ---

OVER = [
    ('pmmem', 'memory_mb: 10240\n',
     r"memory_mb 10240 is over the operator's maximum 512 \(functions\.max\.memory_mb\)$"),
    ('pmwarm', 'concurrency: 100\nmin_warm: 100\n',
     r"concurrency 100 is over the operator's maximum 8 \(functions\.max\.concurrency\)$"),
    ('pmwarm3', 'concurrency: 4\nmin_warm: 3\n',
     r"min_warm 3 is over the operator's maximum 2 \(functions\.max\.min_warm\)$"),
    ('pmcpu', 'cpu_ms: 90000\n',
     r"cpu_ms 90000 is over the operator's maximum 60000 \(functions\.max\.cpu_ms\)$"),
    ('pmcpu0', 'cpu_ms: 0\n',
     r"cpu_ms 0 \(no limit\) is over the operator's maximum 60000 \(functions\.max\.cpu_ms\)$"),
    ('pmnetno', 'sandbox: [net]\n',
     r'sandbox group net is not granted to function pmnetno '
     r'\(functions\.grants\.pmnetno\.sandbox\)$'),
    ('pmlearnno', 'learn: true\n',
     r'learn is not granted to function pmlearnno \(functions\.grants\.pmlearnno\.learn\)$'),
    ('pmbig', 'memory_mb: 2048\n',
     r"memory_mb 2048 is over the operator's maximum 1024 "
     r"\(functions\.grants\.pmbig\.max\.memory_mb\)$"),
]


@tap.case('manifests: over functions.max (memory_mb 10240, concurrency/min_warm 100, min_warm 3, cpu_ms 90000, cpu_ms 0 = none) or a grant\'s max, sandbox: [net] and learn without a grant -> "deploy failed" naming key, value and maximum; no worker, 503')
def _():
    d = Env.get()
    mark = d.log_mark()
    for name, manifest, _ in OVER:
        Env.fdir.install(name, test_so('ok'), manifest)
    for name, manifest, cause in OVER:
        refused(deploy_event(d, name, mark), name, cause, 'not deployed')
        check(re.search(r'%s\.yaml:\d+:\d+: ' % name, deploy_event(d, name, mark)['cause']),
              '%s: the cause points into the manifest' % name)
    time.sleep(0.2 * SLOW)
    for name, _, _ in OVER:
        eq(workers(name), 0, 'worker processes of %s' % name)
        obj = check_json_error(get(name), 503)
        eq(obj['message'], 'function %s is not deployed' % name, '%s: message' % name)


@tap.case('manifests: the same asks within a grant deploy (sandbox: [net], learn: true, memory_mb 1024 + concurrency 12 under grants.pmbig.max)')
def _():
    d = Env.get()
    mark = d.log_mark()
    Env.fdir.install('pmnet', test_so('ok'), 'sandbox: [net]\n')
    Env.fdir.install('pmlearn', test_so('ok'), 'learn: true\n')
    Env.fdir.manifest('pmbig', 'memory_mb: 1024\nconcurrency: 12\n')
    wait_deployed(d, ['pmnet', 'pmlearn', 'pmbig'], mark)
    for name in ('pmnet', 'pmlearn', 'pmbig'):
        r = get(name)
        eq((r.status, r.body), (200, b'ok'), '%s answers' % name)


@tap.case('manifests: a running version keeps serving when its new manifest asks for more than allowed')
def _():
    d = Env.get()
    mark = d.log_mark()
    v = Env.fdir.install('pmkeep', test_so('ok'))
    wait_deployed(d, ['pmkeep'], mark)
    r = get('pmkeep')
    eq((r.status, r.header('x-fngate-function-version')), (200, v), 'before')
    n = workers('pmkeep')
    mark = d.log_mark()
    Env.fdir.manifest('pmkeep', 'min_warm: 2\nconcurrency: 100\nmemory_mb: 10240\n')
    refused(deploy_event(d, 'pmkeep', mark), 'pmkeep',
            r"memory_mb 10240 is over the operator's maximum 512", 'keeping the running version')
    for _ in range(3):
        r = get('pmkeep')
        eq((r.status, r.header('x-fngate-function-version')), (200, v), 'after the refusal')
    eq(workers('pmkeep'), n, 'worker processes of pmkeep (no more started)')


@tap.case('reload: a lowered functions.max.memory_mb and a sandbox grant taken back stop the versions now over them (logged, 503); restoring them redeploys')
def _():
    d = Env.get()
    mark = d.log_mark()
    Env.fdir.manifest('pmkeep', 'memory_mb: 256\n')
    o = d.wait_log(lambda o: o.get('function') == 'pmkeep' and o.get('msg') in (
        'function updated', 'function deployed'), 5 * SLOW, mark)
    check(o is not None, 'pmkeep with memory_mb 256 was not deployed:\n%s' % d.stderr_text(mark))
    eq(get('pmnet').status, 200, 'pmnet before the reload')
    mark = d.log_mark()
    d.reload(config(Env.fdir.path, max_memory=200, net_grant=False))
    stop = 'stopping the running version: it is over the operator\'s limits since the reload'
    refused(deploy_event(d, 'pmkeep', mark), 'pmkeep',
            r"memory_mb 256 is over the operator's maximum 200 \(functions\.max\.memory_mb\)",
            stop)
    refused(deploy_event(d, 'pmnet', mark), 'pmnet',
            r'sandbox group net is not granted to function pmnet', stop)
    for name in ('pmkeep', 'pmnet'):
        obj = check_json_error(get(name), 503)
        eq(obj['message'], 'function %s is not deployed' % name, '%s after the reload' % name)
    deadline = time.monotonic() + 3 * SLOW
    while (workers('pmkeep') or workers('pmnet')) and time.monotonic() < deadline:
        time.sleep(0.05)
    eq((workers('pmkeep'), workers('pmnet')), (0, 0), 'their workers are gone')
    eq(get('pmlearn').status, 200, 'a function within the new limits keeps serving')
    mark = d.log_mark()
    d.reload(config(Env.fdir.path))
    wait_deployed(d, ['pmkeep', 'pmnet'], mark)
    eq((get('pmkeep').status, get('pmnet').status), (200, 200), 'after restoring')


# ------------------------------------------------------------------ WebSocket ---

def connect(api, query=''):
    ws = WS(Env.get().port, path='/%s%s' % (api, query))
    eq(ws.status, 101, 'handshake to %s (body %r)' % (api, ws.body))
    return ws


def ask(ws, text):
    """wsgrab's answer to text: the return code its SDK call gave."""
    ws.text(text)
    op, p = ws.recv_message()
    return json.loads(p)['rc']


def whoami(ws):
    ws.text('whoami')
    return json.loads(ws.recv_message()[1])['connectionId']


def quiet(ws, what):
    """ws received nothing and is still open: its next message is the answer to whoami."""
    ws.text('whoami')
    op, p = ws.recv_message()
    check(p.startswith(b'{"connectionId"'), '%s: received %r before its own answer' % (what, p))


def pair():
    """A client of wa (wsgrab), one of wb (wsecho) and the wb client's connection id."""
    b = connect('wb')
    return connect('wa'), b, whoami(b)


def refusals(d, since, **match):
    with d.cond:
        return [o for _, o in d.logs[since:] if o and o.get('msg') == 'WebSocket call refused'
                and all(o.get(k) == v for k, v in match.items())]


@tap.case('ws scope: wsgrab (API wa) on a connection of API wb: send, close, subscribe, unsubscribe -> -1; the wb client receives nothing and stays open; refusal logged naming wb')
def _():
    d = Env.get()
    a, b, bid = pair()
    aid = whoami(a)
    check(aid[:4] != bid[:4], 'connection ids of wa and wb carry different API tags (%s, %s)'
          % (aid, bid))
    time.sleep(1.05)        # a fresh second: the first refusal is logged at once
    mark = d.log_mark()
    eq(ask(a, 'send:' + bid), -1, 'fng_ws_send to wb\'s connection')
    o = d.wait_log(lambda o: o.get('msg') == 'WebSocket call refused', 3 * SLOW, mark)
    check(o is not None, 'no "WebSocket call refused" line')
    eq((o.get('function'), o.get('action'), o.get('connectionId')), ('wsgrab', 'send', bid),
       'the refusal line')
    check('WebSocket API wb' in o.get('cause', ''), 'cause names API wb: %r' % o.get('cause'))
    eq(ask(a, 'close:' + bid), -1, 'fng_ws_close of wb\'s connection')
    eq(ask(a, 'sub:%s:granted.b' % bid), -1, 'fng_ws_subscribe of wb\'s connection')
    eq(ask(a, 'unsub:%s:granted.b' % bid), -1, 'fng_ws_unsubscribe of wb\'s connection')
    eq(ask(a, 'pub:granted.b'), 0, 'publishing to granted.b (nobody subscribed)')
    quiet(b, 'the wb client')
    for ws in (a, b):
        ws.close()


@tap.case('ws scope: topics not granted -> -1 (publish, subscribe of its own connection, $connect subscription); a wb subscriber gets nothing; granted.* works')
def _():
    d = Env.get()
    t = 'secret.%d' % os.getpid()
    b = connect('wb')
    b.text('sub:' + t)
    eq(b.recv_message(), (1, b'subscribed'), 'wb client subscribed (wsecho may use any topic)')
    mark = d.log_mark()
    a = connect('wa', '?sub=' + t)
    a2 = connect('wa', '?sub=granted.c')
    o = d.wait_log(lambda o: o.get('msg', '').startswith('connect sub ' + t), 3 * SLOW, mark)
    eq(o and o['msg'], 'connect sub %s rc -1' % t, '$connect subscribing to a topic not granted')
    o = d.wait_log(lambda o: o.get('msg', '').startswith('connect sub granted.c'), 3 * SLOW,
                   mark)
    eq(o and o['msg'], 'connect sub granted.c rc 0', '$connect subscribing to a granted topic')
    aid = whoami(a)
    eq(ask(a, 'pub:' + t), -1, 'publish to %s' % t)
    eq(ask(a, 'sub:%s:%s' % (aid, t)), -1, 'subscribe its own connection to %s' % t)
    quiet(b, 'the wb subscriber of %s' % t)
    quiet(a, 'wsgrab\'s own client (not subscribed to %s)' % t)
    # Granted: its own connections and granted.*.
    eq(ask(a, 'sub:%s:granted.room' % aid), 0, 'subscribe its own connection to granted.room')
    # A delivery the handler caused comes before its answer.
    a.text('pub:granted.room')
    eq(json.loads(a.recv_message()[1]), {'topic': 'granted.room', 'seq': 1, 'data': 'grabbed'},
       'delivery to its subscriber')
    eq(json.loads(a.recv_message()[1]), {'rc': 0}, 'publish to granted.room')
    a2.text('pub:granted.c')
    eq(json.loads(a2.recv_message()[1]), {'topic': 'granted.c', 'seq': 1, 'data': 'grabbed'},
       'the $connect subscription works')
    eq(json.loads(a2.recv_message()[1]), {'rc': 0}, 'publish to granted.c')
    a2id = whoami(a2)
    eq(ask(a, 'send:' + a2id), 0, 'send to another connection of wa')
    eq(a2.recv_message(), (1, b'grabbed'), 'the message sent')
    eq(ask(a, 'close:' + a2id), 0, 'close another connection of wa')
    a2.expect_close(4001)
    for ws in (a, b):
        ws.close()


@tap.case('ws scope: 1000 refused calls in a loop -> one log line; the next one a second later carries the count')
def _():
    d = Env.get()
    a, b, bid = pair()
    time.sleep(1.05)
    mark = d.log_mark()
    eq(ask(a, 'flood:%s:1000' % bid), 1000, 'calls that returned -1')
    time.sleep(0.3)
    lines = refusals(d, mark, function='wsgrab')
    eq(len(lines), 1, 'refusal lines during the flood')
    time.sleep(1.05)
    mark2 = d.log_mark()
    eq(ask(a, 'send:' + bid), -1, 'one more')
    o = d.wait_log(lambda o: o.get('msg') == 'WebSocket call refused', 3 * SLOW, mark2)
    check(o is not None, 'no refusal line a second later')
    eq(o.get('refused'), '1000', 'refusals counted since the line before (999 + this one)')
    quiet(b, 'the wb client')
    for ws in (a, b):
        ws.close()


tap.run()
