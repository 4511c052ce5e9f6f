#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Topics, resumable sessions, the admin API (@connections, @topics), slow consumers,
scheduled invocations and the static integration, through a real daemon with raw-socket
WebSocket clients and raw HTTP. TAP output.

Environment: FNGATE_BIN, FNGATE_BUILD_ROOT, FNGATE_TEST_FUNCTIONS."""

import json
import os
import shutil
import struct
import subprocess
import time

from lib import BIN, SLOW, Tap, check, eq, exchange, req
from wsclient import EchoDaemon, logged

tap = Tap(budget=100, needs_workers=True)
TOKEN = 'test-admin-token-0123456789'
AUTH = [('Authorization', 'Bearer ' + TOKEN)]


SITE = None


def config(fdir):
    global SITE
    SITE = os.path.join(fdir, '..', 'site-%d' % os.getpid())
    os.makedirs(os.path.join(SITE, 'js'), exist_ok=True)
    with open(os.path.join(SITE, 'index.html'), 'w') as f:
        f.write('<!doctype html><title>t</title>index page\n')
    with open(os.path.join(SITE, 'js', 'app.js'), 'w') as f:
        f.write('console.log("app");\n')
    with open(os.path.join(SITE, '.hidden'), 'w') as f:
        f.write('secret\n')
    fn = '{ integration: { type: function, function: wsecho } }'
    routes = ['    routes:', '      $connect: ' + fn, '      $disconnect: ' + fn,
              '      $default: ' + fn]
    ws_api = lambda name, opts: ['  %s:' % name, '    protocol: websocket',
                                 '    websocket: { ping_ms: 0%s }' % opts,
                                 '    stages: { s: {} }'] + routes
    static = '{ integration: { type: static, root: "%s" } }' % SITE
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "off" }',
        # wsecho publishes to and subscribes to topics of every name the cases make up.
        'functions: { dir: "%s", grants: { wsecho: { topics: ["*"] } } }' % fdir,
        'admin: { listen: "127.0.0.1:0", token: "%s" }' % TOKEN,
        'schedules:',
        '  tick: { function: wsecho, every_ms: 200 }',
        'apis:',
    ] + ws_api('t', '') + ws_api('slow', ', send_queue_bytes: 65536')
        + ws_api('drop', ', send_queue_bytes: 65536, slow_consumer: drop_oldest')
        + ws_api('lim', ', message_rate: 5, message_burst: 5, max_duration_ms: 2000') + [
        '  site:',
        '    stages: { s: {} }',
        '    routes:',
        '      "GET /app/{file+}": ' + static,
        '      "GET /app": ' + static,
        'domains:',
        '  gw.test:',
        '    - { base_path: /t, api: t, stage: s }',
        '    - { base_path: /slow, api: slow, stage: s }',
        '    - { base_path: /drop, api: drop, stage: s }',
        '    - { base_path: /lim, api: lim, stage: s }',
        '    - { base_path: /, api: site, stage: s }',
        '  127.0.0.1:',
        '    - { base_path: /t, api: t, stage: s }',
    ]) + '\n'


Env = EchoDaemon(tap, config, listeners=2)


def admin(method, path, body=None, headers=None, ctype=None):
    d = Env.get()
    h = list(AUTH if headers is None else headers)
    if ctype:
        h.append(('Content-Type', ctype))
    return exchange(d.addrs[1][1], req(method, path, host='127.0.0.1', headers=h, body=body),
                    method)


def connect(path='/t', **kw):
    return Env.connect(path=path, **kw)


def whoami(ws):
    ws.text('whoami')
    return json.loads(ws.recv_message()[1])['connectionId']


def envelope(ws, timeout=5.0):
    op, p = ws.recv_message(timeout)
    eq(op, 1, 'topic deliveries are text')
    return json.loads(p)


def uniq(prefix):
    return '%s-%d-%d' % (prefix, os.getpid(), int(time.monotonic() * 1e6))


@tap.case('topics: a subscriber gets {"topic","seq","data"}; JSON data embedded, text as a string, binary as base64; unsubscribe stops it')
def _():
    t = uniq('room')
    a, b = connect(), connect()
    for ws in (a, b):
        ws.text('sub:' + t)
        eq(ws.recv_message(), (1, b'subscribed'), 'subscribe answer')
    a.text('pub:%s:{"x":[1,2]}' % t)
    for ws in (a, b):
        eq(envelope(ws), {'topic': t, 'seq': 1, 'data': {'x': [1, 2]}}, 'JSON delivery')
    eq(a.recv_message(), (1, b'published'),
       'the answer comes after the delivery the handler caused')
    a.text('pub:%s:plain "text"' % t)
    eq(envelope(a)['seq'], 2, 'the publisher\'s own copy')
    eq(a.recv_message(), (1, b'published'), 'publish answer')
    eq(envelope(b), {'topic': t, 'seq': 2, 'data': 'plain "text"'}, 'text delivery')
    r = admin('POST', '/@topics/' + t, body=b'\xff\x00\x01')
    eq(r.status, 200, 'admin publish status (%r)' % r.body)
    eq(r.json(), {'topic': t, 'seq': 3, 'recipients': 2}, 'admin publish answer')
    eq(envelope(b), {'topic': t, 'seq': 3, 'data': '/wAB', 'encoding': 'base64'},
       'binary delivery')
    b.text('unsub:' + t)
    eq(b.recv_message(), (1, b'unsubscribed'), 'unsubscribe answer')
    eq(envelope(a)['seq'], 3, 'A got the binary one too')
    eq(admin('POST', '/@topics/' + t, body=b'4').json()['recipients'], 1,
       'recipients after one unsubscribed')
    b.text('whoami')
    eq(json.loads(b.recv_message()[1])['eventType'], 'MESSAGE',
       'the unsubscribed client gets nothing before its own answer')
    for ws in (a, b):
        ws.close()


@tap.case('topics: subscribing in $connect takes effect at once; $connect and $disconnect see the handshake query and publish join/leave')
def _():
    t = uniq('lobby')
    a = connect('/t?sub=%s' % t)
    b = connect('/t?sub=%s&pub=%s' % (t, t))
    own = envelope(b)['data']
    bid = whoami(b)
    eq(own, 'hello from ' + bid, 'B sees its own join: it was subscribed before it published')
    eq(envelope(a)['data'], 'hello from ' + bid, 'A sees the join B published in $connect')
    b.send(8, struct.pack('!H', 1000))
    b.expect_close(1000)
    eq(envelope(a)['data'], 'bye ' + bid, '$disconnect published the leave (query kept)')
    a.close()


@tap.case('resume: resume=TOPIC:SEQ replays what was missed; past the history a gap signal comes first; a position from the future replays everything kept')
def _():
    t = uniq('feed')
    for i in range(1, 6):
        eq(admin('POST', '/@topics/' + t, body=b'"m%d"' % i).json()['seq'], i, 'seq')
    a = connect('/t?sub=%s&resume=%s:3' % (t, t))
    eq([envelope(a)['seq'] for _ in range(2)], [4, 5], 'messages after 3')
    admin('POST', '/@topics/' + t, body=b'"m6"')
    eq(envelope(a)['data'], 'm6', 'then live messages')
    a.close()
    b = connect('/t?sub=%s&resume=%s:6' % (t, t))
    admin('POST', '/@topics/' + t, body=b'"m7"')
    eq(envelope(b)['seq'], 7, 'an up-to-date client gets only new messages')
    b.close()
    for i in range(8, 8 + 300):
        admin('POST', '/@topics/' + t, body=b'%d' % i)
    last = 307
    c = connect('/t?resume=%s:2' % t)
    c.text('sub:' + t)
    first = envelope(c)
    eq(first, {'topic': t, 'gap': {'from': 3, 'to': last - 256}}, 'gap signal')
    seqs = [envelope(c)['seq'] for _ in range(256)]
    eq((seqs[0], seqs[-1]), (last - 255, last), 'then the 256 messages kept')
    eq(c.recv_message(), (1, b'subscribed'), 'then the answer to the subscribe')
    c.close()
    e = connect('/t?sub=%s&resume=%s:99999' % (t, t))
    eq(envelope(e), {'topic': t, 'gap': {'from': 1, 'to': last - 256}},
       'a position past the last seq (an earlier run) is treated as 0')
    e.close()


@tap.case('admin: 401 without a token, 403 with a wrong one, 404 elsewhere, 405 with Allow; nothing is sent')
def _():
    r = admin('GET', '/@connections', headers=[])
    eq(r.status, 401, 'no token')
    check('bearer' in (r.header('www-authenticate') or '').lower(), 'WWW-Authenticate')
    check('message' in r.json(), 'JSON message')
    eq(admin('GET', '/@connections', headers=[('Authorization', 'Bearer ' + 'x' * 27)]).status,
       403, 'wrong token')
    eq(admin('GET', '/@connections', headers=[('Authorization', 'Basic abc')]).status, 401,
       'another scheme')
    eq(admin('GET', '/@nothing').status, 404, 'unknown admin path')
    r = admin('PUT', '/@connections/AAAAAAAAAAAAAAAA', body=b'x')
    eq(r.status, 405, 'PUT on a connection')
    eq(r.header('allow'), 'GET, POST, DELETE', 'Allow')
    eq(admin('POST', '/@topics/bad%20name', body=b'x').status, 400, 'bad topic name')
    r = exchange(Env.get().port, req('GET', '/@connections', host='127.0.0.1', headers=AUTH))
    check(r.status == 404 or r.status >= 400, 'the admin API is not on the API listener')


@tap.case('admin: GET lists and describes connections, POST sends (text/binary), DELETE closes with $disconnect once, then 410 Gone')
def _():
    d = Env.get()
    t = uniq('adm')
    a = connect('/t?sub=%s' % t)
    aid = whoami(a)
    r = admin('GET', '/@connections/' + aid)
    eq(r.status, 200, 'GET connection')
    info = r.json()
    eq((info['connectionId'], info['api'], info['stage'], info['topics']), (aid, 't', 's', [t]),
       'connection info')
    check(info['connectedAt'] > 1e12 and info['lastActiveAt'] >= info['connectedAt'] - 1000,
          'timestamps in ms: %r' % info)
    lst = admin('GET', '/@connections?topic=' + t).json()
    eq(([c['connectionId'] for c in lst['connections']], lst['count']), ([aid], 1),
       'list by topic')
    check(aid in [c['connectionId'] for c in admin('GET', '/@connections').json()
                  ['connections']], 'in the full list')
    eq(admin('POST', '/@connections/' + aid, body=b'from admin').status, 204, 'POST')
    eq(a.recv_message(), (1, b'from admin'), 'text message')
    eq(admin('POST', '/@connections/' + aid, body=b'\x01\x02',
             ctype='application/octet-stream').status, 204, 'POST binary')
    eq(a.recv_message(), (2, b'\x01\x02'), 'binary message')
    mark = d.log_mark()
    eq(admin('DELETE', '/@connections/%s?code=4001&reason=bye' % aid).status, 204, 'DELETE')
    eq(a.expect_close(4001), b'bye', 'close reason')
    eq(logged(d, 'disconnect ' + aid, mark), 1, '$disconnect once')
    a.close()
    for m in ('GET', 'POST', 'DELETE'):
        r = admin(m, '/@connections/' + aid, body=b'x' if m == 'POST' else None)
        eq(r.status, 410, '%s after the close' % m)
    eq(admin('GET', '/@connections/short').status, 410, 'unknown id')
    eq(admin('DELETE', '/@connections/%s?code=1006' % aid).status, 400, 'a reserved code')
    # One close-code rule (sdk/wire_rules.h): codes never on the wire are refused up front,
    # any code that may travel gets as far as the connection (gone here: 410).
    for code in (999, 1004, 1005, 1015, 2999, 5000):
        eq(admin('DELETE', '/@connections/%s?code=%d' % (aid, code)).status, 400,
           'code %d refused' % code)
    for code in (1000, 1001, 1003, 1008, 1011, 1014, 3000, 4999):
        eq(admin('DELETE', '/@connections/%s?code=%d' % (aid, code)).status, 410,
           'code %d accepted' % code)
    time.sleep(0.3 * SLOW)
    eq(logged(d, 'disconnect ' + aid, mark, 0.1), 1, 'still once')


@tap.case('slow consumer "close": a client that does not read is closed with 1008 and gets $disconnect once; others are unaffected')
def _():
    d = Env.get()
    t = uniq('flood')
    slow = connect('/slow?sub=%s' % t, rcvbuf=4096)
    sid = whoami(slow)
    fast = connect('/t?sub=%s' % t)
    mark = d.log_mark()
    payload = b'"' + b'x' * 60000 + b'"'
    got = 0
    for i in range(200):
        r = admin('POST', '/@topics/' + t, body=payload)
        eq(r.status, 200, 'publish')
        got += 1
        eq(envelope(fast)['seq'], i + 1, 'the fast subscriber keeps up')
        if r.json()['recipients'] == 1:
            break
    check(got < 200, 'the slow client was dropped from the topic')
    code = None
    try:
        while True:
            fin, op, p = slow.recv(5)
            if op == 8:
                code = struct.unpack('!H', p[:2])[0]
                break
    except (EOFError, OSError):
        pass
    eq(code, 1008, 'close code for the slow consumer')
    eq(logged(d, 'disconnect ' + sid, mark), 1, '$disconnect once')
    slow.close()
    fast.close()


@tap.case('slow consumer "drop_oldest": old topic messages give way to a gap signal; the connection stays open and gets the newest')
def _():
    t = uniq('drop')
    c = connect('/drop?sub=%s' % t, rcvbuf=4096)
    payload = b'"' + b'y' * 20000 + b'"'
    n = 150
    for i in range(n):
        eq(admin('POST', '/@topics/' + t, body=payload).status, 200, 'publish')
    seen, gaps = [], []
    while not seen or seen[-1] != n:
        m = envelope(c)
        if 'gap' in m:
            gaps.append((m['gap']['from'], m['gap']['to']))
        else:
            seen.append(m['seq'])
    check(gaps, 'a gap signal arrived (seen %r)' % seen)
    eq(seen, sorted(seen), 'delivered in order')
    missing = set(range(1, n + 1)) - set(seen)
    covered = set(s for a, b in gaps for s in range(a, b + 1))
    eq(missing - covered, set(), 'every dropped message is covered by a gap signal')
    c.text('whoami')
    check(json.loads(c.recv_message()[1])['eventType'] == 'MESSAGE', 'still open')
    c.close()


@tap.case('message rate: beyond the burst a message is refused with a JSON message and reaches no handler; each connection has its own bucket; the bucket refills; the maximum duration closes 1001 with $disconnect once')
def _():
    d = Env.get()
    t0 = time.monotonic()
    c = connect('/lim')
    mark = d.log_mark()
    for _ in range(8):
        c.text('whoami')
    answers = [json.loads(c.recv_message()[1]) for _ in range(8)]
    refused = [a for a in answers if 'message' in a]
    eq(len(refused), 3, 'refused beyond a burst of 5: %r' % answers)
    cid = [a for a in answers if 'eventType' in a][0]['connectionId']
    eq(refused[0], {'message': 'Too Many Requests: message rate limit exceeded',
                    'connectionId': cid}, 'the refusal names the connection')
    other = connect('/lim')
    for _ in range(5):
        other.text('whoami')
    check(all('eventType' in json.loads(other.recv_message()[1]) for _ in range(5)),
          'another connection has a bucket of its own')
    other.close()
    eq(sorted(int(a['messageId']) for a in answers if 'eventType' in a), [1, 2, 3, 4, 5],
       'only admitted messages reached the handler')
    time.sleep(0.5)
    c.text('whoami')
    check('eventType' in json.loads(c.recv_message()[1]), 'admitted again after a refill')
    c.expect_close(1001, timeout=5 * SLOW)
    check(time.monotonic() - t0 >= 1.9, 'closed at the maximum duration (%.2f s)'
          % (time.monotonic() - t0))
    eq(logged(d, 'disconnect ' + cid, mark), 1, '$disconnect once')
    c.close()


@tap.case('a worker crash while handling a message: the client gets a JSON error, the connection stays open, $disconnect still comes exactly once')
def _():
    d = Env.get()
    c = connect('/t')
    cid = whoami(c)
    mark = d.log_mark()
    c.text('crash')
    err = json.loads(c.recv_message(10 * SLOW)[1])
    check('message' in err and err.get('connectionId') == cid, 'error message: %r' % err)
    eq(whoami(c), cid, 'the connection still works (a new worker answers)')
    c.send(8, struct.pack('!H', 1000))
    c.expect_close(1000)
    eq(logged(d, 'disconnect ' + cid, mark), 1, '$disconnect once')
    c.close()


WS_DIR = os.environ.get('FNGATE_WS_DIR') or os.path.join(os.path.dirname(__file__), '..', 'ws')
NODE_CLIENT = r"""
const WebSocket = require('ws');
const [url, admin, token, topic] = process.argv.slice(1);
const ws = new WebSocket(url);
const out = [];
const done = (code) => { console.log(JSON.stringify(out)); process.exit(code); };
setTimeout(() => done(2), 8000);
ws.on('open', () => ws.send('sub:' + topic));
ws.on('message', async (data, isBinary) => {
  const text = data.toString();
  out.push(isBinary ? 'binary:' + data.toString('hex') : text);
  if (text === 'subscribed') {
    const r = await fetch(admin + '/@topics/' + topic, { method: 'POST', body: '{"n":1}',
      headers: { authorization: 'Bearer ' + token } });
    out.push('admin:' + r.status);
  } else if (text.startsWith('{"topic"')) {
    ws.send(Buffer.from([0, 1, 2, 255]));
  } else if (isBinary) {
    ws.close(1000, 'bye');
  }
});
ws.on('close', (code) => { out.push('close:' + code); done(0); });
ws.on('error', (e) => { out.push('error:' + e.message); done(1); });
"""


@tap.case('independent clients: node ws subscribes, gets an admin publication, a binary echo, and closes cleanly')
def _():
    if not shutil.which('node') or not os.path.isdir(os.path.join(WS_DIR, 'node_modules', 'ws')):
        raise Fail('node and tests/ws/node_modules/ws are needed (.ci/deps.sh installs them)')
    d = Env.get()
    t = uniq('node')
    env = dict(os.environ, NODE_PATH=os.path.join(WS_DIR, 'node_modules'))
    p = subprocess.run(['node', '-e', NODE_CLIENT, 'ws://127.0.0.1:%d/t' % d.port,
                        'http://127.0.0.1:%d' % d.addrs[1][1], TOKEN, t],
                       capture_output=True, text=True, timeout=20 * SLOW, env=env)
    check(p.returncode == 0, 'node client exit %d: %s %s' % (p.returncode, p.stdout, p.stderr))
    got = json.loads(p.stdout.strip().splitlines()[-1])
    eq(got, ['subscribed', 'admin:200', '{"topic":"%s","seq":1,"data":{"n":1}}' % t,
             'binary:000102ff', 'close:1000'], 'what the node client saw')


@tap.case('independent clients: the libwebsockets client (fngate ws) talks to a WebSocket API and receives a topic message')
def _():
    probe = subprocess.run([BIN, 'ws'], capture_output=True, text=True, timeout=10)
    if 'without libwebsockets' in probe.stderr:
        raise Fail('fngate was built without libwebsockets (libwebsockets-dev is a dependency)')
    d = Env.get()
    t = uniq('lws')
    url = 'ws://127.0.0.1:%d/t?sub=%s' % (d.port, t)
    p = subprocess.Popen([BIN, 'ws', '-q', '-n', '2', '-t', str(int(10000 * SLOW)), '-s',
                          'whoami', url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 5 * SLOW
        while time.monotonic() < deadline:
            lst = admin('GET', '/@connections?topic=' + t).json()
            if lst['count']:
                break
            time.sleep(0.05)
        eq(lst['count'], 1, 'the lws client is subscribed')
        eq(admin('POST', '/@topics/' + t, body=b'"from admin"').status, 200, 'publish')
        out, err = p.communicate(timeout=15 * SLOW)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    eq(p.returncode, 0, 'fngate ws exit code (stderr %r)' % err)
    lines = out.splitlines()
    eq(len(lines), 2, 'two messages: %r' % out)
    eq(json.loads(lines[0])['eventType'], 'MESSAGE', 'whoami answer')
    eq(json.loads(lines[1]), {'topic': t, 'seq': 1, 'data': 'from admin'}, 'topic message')


@tap.case('schedules: the gateway invokes the function on its timer (event type SCHEDULE) and it publishes')
def _():
    a = connect('/t?sub=ticks')
    t0 = time.monotonic()
    got = [envelope(a, 3 * SLOW) for _ in range(3)]
    eq([g['data'] for g in got], ['tick'] * 3, 'three ticks')
    check(got[2]['seq'] > got[0]['seq'], 'increasing seq')
    check(time.monotonic() - t0 > 0.25, 'ticks are spaced (%.2f s)' % (time.monotonic() - t0))
    d = Env.get()
    check(d.wait_log(lambda o: o.get('msg') == 'schedule $schedule', 1) is not None,
          'the function saw route key $schedule')
    a.close()


@tap.case('static: files from the root with their content type, index for the directory, 404 for missing, dot files and traversal')
def _():
    port = Env.get().port
    r = exchange(port, req('GET', '/app/js/app.js'))
    eq(r.status, 200, 'file')
    eq(r.header('content-type'), 'text/javascript; charset=utf-8', 'content type')
    eq(r.body, b'console.log("app");\n', 'body')
    for path in ('/app', '/app/', '/app/index.html'):
        r = exchange(port, req('GET', path))
        eq((r.status, r.header('content-type')), (200, 'text/html; charset=utf-8'), path)
        check(b'index page' in r.body, 'index body for ' + path)
    for path in ('/app/nope.js', '/app/.hidden', '/app/../fngate.yaml', '/app/%2e%2e/x',
                 '/app/js/../../etc/passwd'):
        r = exchange(port, req('GET', path))
        check(r.status in (400, 404), '%s -> %d' % (path, r.status))
    r = exchange(port, req('HEAD', '/app/js/app.js'), 'HEAD')
    eq(r.status, 200, 'HEAD')


if __name__ == '__main__':
    tap.run()
