#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The built-in JWT authorizer (issue 12) through a real daemon.

A forgery corpus made here, with keys made here (openssl for RSA, P-256 and Ed25519
signatures, Python's hmac for HS256): every class of bad token the issue names is refused
with 401 (403 for a missing scope) and the JSON message of its class, never echoing the token,
and reaches no integration (the access log's integrationStatus stays empty for every one of
them: 0 invocations). exp and nbf are tried exactly at the leeway boundary; keys rotate through
the JWKS file and SIGHUP (the verification cache does not outlive a reload); a loopback URL
JWKS is served by a Python http.server: first fetch, refresh, stale-if-error, then 503.
`fngate token` signs with the demo keys of examples/jwt. TAP output.

Environment: FNGATE_BIN, FNGATE_SOURCE_ROOT."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import subprocess
import tempfile
import threading
import time

from lib import (BIN, WRAPPER, Conn, Daemon, FnDir, SLOW, Tap, check, check_json_error, diag, eq,
                 note, req, test_so, wait_deployed)

tap = Tap(budget=100)

SRC = os.environ.get('FNGATE_SOURCE_ROOT') or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
ISS = 'https://issuer.test/'
AUD = 'api-test'
LEEWAY = 5


# ------------------------------------------------------------------- keys ---

def write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return path


def tmpdir(prefix):
    """A temporary directory removed when the file's cases end."""
    d = tempfile.mkdtemp(prefix=prefix)
    tap.on_exit(lambda: subprocess.run(['rm', '-rf', d]))
    return d


def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).decode().rstrip('=')


def jenc(obj):
    return b64u(json.dumps(obj, separators=(',', ':')))


def _hex_block(text, label):
    m = re.search(label + r':\s*\n((?:\s+[0-9a-f:]+\n)+)', text)
    return bytes.fromhex(re.sub(r'[\s:]', '', m.group(1)))


class Keys:
    """Keys made once for the whole file: two RSA, one P-256, one Ed25519, one HMAC."""

    def __init__(self):
        self.dir = tmpdir('fngate-jwt-keys-')
        self.pem = {}
        for name, args in [('rs1', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']),
                           ('rs2', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']),
                           ('es1', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']),
                           ('ed1', ['-algorithm', 'ed25519'])]:
            path = os.path.join(self.dir, name + '.pem')
            subprocess.run(['openssl', 'genpkey'] + args + ['-out', path], check=True,
                           capture_output=True)
            self.pem[name] = path
        self.hs = os.urandom(32)
        self.jwk = {}
        for name in ('rs1', 'rs2'):
            t = self._text(name)
            n = _hex_block(t, 'Modulus').lstrip(b'\0')
            e = int(re.search(r'Exponent: (\d+)', t).group(1))
            self.jwk[name] = {'kty': 'RSA', 'kid': name, 'use': 'sig', 'n': b64u(n),
                              'e': b64u(e.to_bytes((e.bit_length() + 7) // 8, 'big'))}
        pub = _hex_block(self._text('es1'), 'pub')
        self.jwk['es1'] = {'kty': 'EC', 'kid': 'es1', 'crv': 'P-256', 'x': b64u(pub[1:33]),
                           'y': b64u(pub[33:])}
        pub = _hex_block(self._text('ed1'), 'pub')
        self.jwk['ed1'] = {'kty': 'OKP', 'kid': 'ed1', 'crv': 'Ed25519', 'x': b64u(pub)}
        self.jwk['hs1'] = {'kty': 'oct', 'kid': 'hs1', 'k': b64u(self.hs)}
        with open(self.pem['rs1'].replace('.pem', '.pub'), 'wb') as f:
            f.write(self.pubpem('rs1'))

    def _text(self, name):
        return subprocess.run(['openssl', 'pkey', '-in', self.pem[name], '-text_pub', '-noout'],
                              check=True, capture_output=True, text=True).stdout

    def pubpem(self, name):
        return subprocess.run(['openssl', 'pkey', '-in', self.pem[name], '-pubout'],
                              check=True, capture_output=True).stdout

    def jwks(self, *names):
        return json.dumps({'keys': [self.jwk[n] for n in names]})

    def sign(self, alg, key, msg):
        """The JWS signature of msg (bytes) for alg with key (a name, or raw HMAC bytes)."""
        if alg == 'HS256':
            secret = key if isinstance(key, bytes) else self.hs
            return hmac.new(secret, msg, hashlib.sha256).digest()
        if alg == 'EdDSA':
            path = os.path.join(self.dir, 'msg')
            with open(path, 'wb') as f:
                f.write(msg)
            return subprocess.run(['openssl', 'pkeyutl', '-sign', '-rawin', '-inkey',
                                   self.pem[key], '-in', path], check=True,
                                  capture_output=True).stdout
        sig = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', self.pem[key]],
                             input=msg, check=True, capture_output=True).stdout
        return der_to_raw(sig) if alg == 'ES256' else sig


def der_to_raw(der):
    """An ECDSA DER signature as JWS wants it: r || s, 32 bytes each."""
    assert der[0] == 0x30
    i = 2
    out = b''
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b'\0').rjust(32, b'\0')
        i += 2 + n
    return out


KEYS = None


def keys():
    global KEYS
    if KEYS is None:
        KEYS = Keys()
    return KEYS


def claims(**over):
    now = int(time.time())
    c = {'iss': ISS, 'aud': AUD, 'sub': 'alice', 'scope': 'read write', 'iat': now,
         'exp': now + 600}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def token(alg='RS256', kid='rs1', key=None, hdr=None, payload=None, raw_header=None,
          raw_payload=None, sig=None):
    """A compact JWS: header {alg, typ, kid} (+ hdr), payload claims() (or payload), signed
    with key (default: the key named kid) unless sig is given."""
    h = {'alg': alg, 'typ': 'JWT'}
    if kid is not None:
        h['kid'] = kid
    h.update(hdr or {})
    hs = b64u(raw_header) if raw_header is not None else jenc(h)
    ps = b64u(raw_payload) if raw_payload is not None else jenc(payload or claims())
    msg = (hs + '.' + ps).encode()
    if sig is None:
        sig = keys().sign(alg, key if key is not None else kid, msg)
    return hs + '.' + ps + '.' + (sig if isinstance(sig, str) else b64u(sig))


# ----------------------------------------------------------------- daemon ---

def fng(*args):
    p = subprocess.run(WRAPPER + [BIN] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    note('fngate %s -> rc %d: %s %s' % (args[0], p.returncode, p.stdout[:300], p.stderr[:300]))
    return p


def config(jwks_file, extra_auth='', leeway=LEEWAY, cache='true'):
    return '''
server: { listen: ["127.0.0.1:0"] }
access_log: { path: "@TMP@/access.log", fields: [requestId, path, status, integrationStatus] }
apis:
  a:
    stages: { s: {} }
    authorizers:
      strict:
        type: jwt
        issuer: "%(iss)s"
        audience: [other, %(aud)s]
        algorithms: [RS256, ES256, EdDSA]
        leeway_s: %(leeway)d
        cache: %(cache)s
        jwks: { file: "%(jwks)s" }
      all:
        type: jwt
        issuer: "%(iss)s"
        audience: %(aud)s
        algorithms: [RS256, ES256, HS256, EdDSA]
        leeway_s: %(leeway)d
        cache: %(cache)s
        jwks: { file: "%(jwks)s" }
%(extra)s
    routes:
      "GET /strict":
        authorizer: strict
        integration: { type: mock, body: "hello ${context.authorizer.claims.sub}" }
      "GET /all":
        authorizer: all
        integration:
          type: mock
          body: '{"sub":"${context.authorizer.principalId|json}","scope":"${context.authorizer.claims.scope|json}","n":"${context.authorizer.claims.n|json}","o":"${context.authorizer.claims.o|json}","scopes":"${context.authorizer.scopes|json}"}'
      "GET /admin":
        authorizer: all
        authorization_scopes: [admin, root]
        integration: { type: mock, body: "admin" }
      "GET /open":
        integration: { type: mock, body: "open" }
''' % {'iss': ISS, 'aud': AUD, 'leeway': leeway, 'cache': cache, 'jwks': jwks_file,
       'extra': extra_auth}


class Env:
    """One daemon for the corpus cases: its JWKS file holds rs1, es1, ed1, hs1."""
    d = None

    @classmethod
    def get(cls):
        if cls.d is None:
            k = keys()
            tmp = tmpdir('fngate-jwt-')
            path = os.path.join(tmp, 'jwks.json')
            write(path, k.jwks('rs1', 'es1', 'ed1', 'hs1'))
            cls.d = Daemon(config(path))
            tap.on_exit(cls.d.stop)
        return cls.d


def get(d, path, tok=None, auth=None):
    headers = []
    if auth is not None:
        headers.append(('Authorization', auth))
    elif tok is not None:
        headers.append(('Authorization', 'Bearer ' + tok))
    with Conn(d.port, 5.0 * SLOW) as c:
        c.send(req('GET', '/s' + path, headers=headers))
        return c.read_response('GET')


def refused(d, path, tok, message, status=401, auth=None):
    r = get(d, path, tok, auth)
    obj = check_json_error(r, status)
    eq(obj['message'], message, 'message')
    if status == 401:
        check((r.header('www-authenticate') or '').startswith('Bearer'),
              'a 401 without a Bearer challenge: %r' % r.header('www-authenticate'))
    for seg in (tok or '').split('.'):
        check(len(seg) < 8 or seg not in r.raw.decode('latin-1'),
              'the response echoes the token')
    return r.header('x-request-id')


def accepted(d, path, tok):
    r = get(d, path, tok)
    eq(r.status, 200, 'status (body %r)' % r.body[:200])
    return r


# ----------------------------------------------------------------- corpus ---

def U(cls):
    return 'Unauthorized: ' + cls


def corpus():
    """(name, path, token, expected message)."""
    k = keys()
    now = int(time.time())
    good = token()
    h, p, s = good.split('.')
    out = []

    def add(name, tok, msg, path='/all'):
        out.append((name, path, tok, msg))

    for spelling in ('none', 'None', 'NONE', 'nOnE'):
        add('alg %s, no signature' % spelling, jenc({'alg': spelling}) + '.' + p + '.',
            U('unsigned (alg none)'))
        add('alg %s, a signature' % spelling, jenc({'alg': spelling, 'kid': 'rs1'}) + '.' + p +
            '.' + s, U('unsigned (alg none)'))
    add('HS256 where only RS256, ES256, EdDSA are allowed', token('HS256', 'hs1'),
        U('algorithm not allowed'), '/strict')
    add('alg RS512', token('RS256', hdr={'alg': 'RS512'}), U('algorithm not allowed'))
    add('alg HS384', token('HS256', 'hs1', hdr={'alg': 'HS384'}), U('algorithm not allowed'))
    add('alg rs256 (wrong case)', token('RS256', hdr={'alg': 'rs256'}),
        U('algorithm not allowed'))
    add('no alg', token(raw_header=json.dumps({'typ': 'JWT', 'kid': 'rs1'}), sig=s),
        U('algorithm not allowed'))
    add('alg a number', token(raw_header='{"alg":256,"kid":"rs1"}', sig=s),
        U('algorithm not allowed'))
    add('RS/HS confusion: HS256 keyed with the RSA public key, kid of the RSA key',
        token('HS256', 'rs1', key=k.pubpem('rs1')), U('key does not fit the algorithm'))
    add('RS/HS confusion: HS256 keyed with the RSA modulus', token(
        'HS256', 'rs1', key=base64.urlsafe_b64decode(k.jwk['rs1']['n'] + '==')),
        U('key does not fit the algorithm'))
    add('ES256 signed, kid of the RSA key', token('ES256', 'rs1', key='es1'),
        U('key does not fit the algorithm'))
    add('unknown kid', token(kid='nope', key='rs1'), U('unknown key id'))
    add('kid of a key from another set', token(kid='rs2'), U('unknown key id'))
    add('kid a number', token(hdr={'kid': 7}, kid=None, key='rs1'), U('malformed token'))
    for name, val in [('jku', 'http://127.0.0.1:1/jwks'), ('x5u', 'http://127.0.0.1:1/c.pem'),
                      ('jwk', k.jwk['rs2']), ('x5c', ['MIIB'])]:
        add('header %s' % name, token(hdr={name: val}), U('forbidden header %s' % name))
    add('crit [exp]', token(hdr={'crit': ['exp']}), U('unsupported crit header'))
    add('crit []', token(hdr={'crit': []}), U('unsupported crit header'))
    add('crit [b64] with b64 false', token(hdr={'crit': ['b64'], 'b64': False}),
        U('unsupported crit header'))
    add('cty JWT (nested)', token(hdr={'cty': 'JWT'}), U('nested token'))
    add('cty jwt (nested)', token(hdr={'cty': 'jwt'}), U('nested token'))
    add('a JWT as the payload', token(raw_payload=good), U('malformed JSON'))
    add('typ JOSE', token(hdr={'typ': 'JOSE'}), U('unsupported typ'))
    # base64url
    add('padding in the header', h + '==.' + p + '.' + s, U('malformed base64url'))
    add('padding in the signature', h + '.' + p + '.' + s + '=', U('malformed base64url'))
    add('standard alphabet (+ /)', h + '.' + p.replace('-', '+').replace('_', '/') + '+/.' + s,
        U('malformed base64url'))
    add('non-canonical trailing bits', token(raw_header='{"alg":"RS256","kid":"rs1"}x')
        .split('.')[0][:-1] + 'z.' + p + '.' + s, U('malformed base64url'))
    add('a length of 4n+1', h + 'A.' + p + '.' + s, U('malformed base64url'))
    add('a percent-encoded byte', h + '.' + p + '%3D.' + s, U('malformed base64url'))
    # shape
    add('two segments', h + '.' + p, U('malformed token'))
    add('four segments (trailing data)', good + '.' + s, U('malformed token'))
    add('trailing dot', good + '.', U('malformed token'))
    add('empty header', '.' + p + '.' + s, U('malformed token'))
    add('empty payload', h + '..' + s, U('malformed token'))
    add('empty signature, alg RS256', h + '.' + p + '.', U('malformed token'))
    add('JWE-like five segments', 'a.b.c.d.e', U('malformed token'))
    # JSON
    add('header not JSON', b64u('{alg:RS256}') + '.' + p + '.' + s, U('malformed JSON'))
    add('header an array', b64u('["RS256"]') + '.' + p + '.' + s, U('malformed JSON'))
    add('header with trailing bytes', b64u('{"alg":"RS256","kid":"rs1"} x') + '.' + p + '.' + s,
        U('malformed JSON'))
    add('duplicate alg in the header', b64u('{"alg":"RS256","kid":"rs1","alg":"none"}') + '.' +
        p + '.' + s, U('duplicate JSON key'))
    add('duplicate sub in the payload (signed)', token(raw_payload=json.dumps(claims())[:-1] +
        ',"sub":"mallory"}'), U('duplicate JSON key'))
    add('nested duplicate in the payload (signed)', token(raw_payload=json.dumps(claims())[:-1] +
        ',"o":{"a":1,"a":2}}'), U('duplicate JSON key'))
    add('payload not JSON (signed)', token(raw_payload='{"iss":'), U('malformed JSON'))
    add('payload a string (signed)', token(raw_payload='"x"'), U('malformed JSON'))
    add('payload with a NUL (signed)', token(raw_payload=json.dumps(claims())[:-1] +
        ',"x":"a\\u0000b"}'), U('malformed JSON'))
    # size
    add('over max_token_bytes', token(payload=claims(pad='x' * 9000)), U('token too large'))
    add('257 claims (signed)', token(payload=claims(**{'c%d' % i: 0 for i in range(251)})),
        U('token too large'))
    # signatures
    bad = bytearray(base64.urlsafe_b64decode(s + '=' * (-len(s) % 4)))
    bad[10] ^= 1
    add('RS256 signature with a bit flipped', h + '.' + p + '.' + b64u(bytes(bad)),
        U('signature does not verify'))
    add('RS256 signed by another key, same kid', token(key='rs2'),
        U('signature does not verify'))
    add('RS256 signature truncated', h + '.' + p + '.' + b64u(bytes(bad[:-3])),
        U('signature does not verify'))
    add('payload changed after signing', h + '.' + jenc(claims(sub='mallory')) + '.' + s,
        U('signature does not verify'))
    es = token('ES256', 'es1')
    esh, esp, ess = es.split('.')
    der = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', k.pem['es1']],
                         input=(esh + '.' + esp).encode(), capture_output=True).stdout
    add('ES256 with a DER signature', esh + '.' + esp + '.' + b64u(der),
        U('signature does not verify'))
    add('ES256 with r and s swapped', esh + '.' + esp + '.' + b64u(
        base64.urlsafe_b64decode(ess + '==')[32:] + base64.urlsafe_b64decode(ess + '==')[:32]),
        U('signature does not verify'))
    add('HS256 with another secret', token('HS256', 'hs1', key=os.urandom(32)),
        U('signature does not verify'))
    add('EdDSA signature of another message', token('EdDSA', 'ed1', sig=k.sign(
        'EdDSA', 'ed1', b'other')), U('signature does not verify'))
    # claims
    add('wrong issuer', token(payload=claims(iss='https://evil.test/')), U('wrong issuer'))
    add('issuer with a trailing space', token(payload=claims(iss=ISS + ' ')), U('wrong issuer'))
    add('no issuer', token(payload=claims(iss=None)), U('wrong issuer'))
    add('wrong audience', token(payload=claims(aud='someone-else')), U('wrong audience'))
    add('audience list without ours', token(payload=claims(aud=['x', 'y'])),
        U('wrong audience'))
    add('no audience', token(payload=claims(aud=None)), U('wrong audience'))
    add('no exp', token(payload=claims(exp=None)), U('missing exp'))
    add('exp a string', token(payload=claims(exp=str(now + 600))), U('malformed claim'))
    add('expired an hour ago', token(payload=claims(exp=now - 3600)), U('token expired'))
    add('nbf in an hour', token(payload=claims(nbf=now + 3600)), U('token not yet valid'))
    add('iat in an hour', token(payload=claims(iat=now + 3600)), U('token issued in the future'))
    add('sub a number', token(payload=claims(sub=42)), U('malformed claim'))
    add('scp a number', token(payload=claims(scp=1)), U('malformed claim'))
    return out


@tap.case('forgery corpus: every class refused with 401 and its message, no token echoed')
def _():
    d = Env.get()
    cases = corpus()
    ids = []
    failures = []
    for name, path, tok, msg in cases:
        try:
            ids.append(refused(d, path, tok, msg))
        except AssertionError as e:
            failures.append('%s: %s' % (name, e))
    tap_ids.extend(ids)
    check(not failures, '%d of %d refused wrongly:\n%s' % (len(failures), len(cases),
                                                           '\n'.join(failures)))
    diag('%d forged tokens, %d classes' % (len(cases), len({c[3] for c in cases})))


tap_ids = []


@tap.case('missing or non-Bearer credentials: 401 "Unauthorized" with a Bearer challenge')
def _():
    d = Env.get()
    tap_ids.append(refused(d, '/all', None, 'Unauthorized'))
    tap_ids.append(refused(d, '/all', None, 'Unauthorized', auth='Basic YTpi'))
    tap_ids.append(refused(d, '/all', None, 'Unauthorized', auth='Bearer'))
    tap_ids.append(refused(d, '/all', None, 'Unauthorized', auth='Bearer    '))
    tap_ids.append(refused(d, '/all', None, 'Unauthorized: malformed token',
                           auth='Bearer a b c'))


@tap.case('a missing scope: 403 "Forbidden: insufficient scope"; scope or scp grant it')
def _():
    d = Env.get()
    tap_ids.append(refused(d, '/admin', token(), 'Forbidden: insufficient scope', status=403))
    tap_ids.append(refused(d, '/admin', token(payload=claims(scope=None)),
                           'Forbidden: insufficient scope', status=403))
    tap_ids.append(refused(d, '/admin', token(payload=claims(scope='administrator')),
                           'Forbidden: insufficient scope', status=403))
    accepted(d, '/admin', token(payload=claims(scope='read root')))
    accepted(d, '/admin', token(payload=claims(scope=None, scp=['x', 'admin'])))
    accepted(d, '/admin', token(payload=claims(scope=None, scp='admin')))


@tap.case('RS256, ES256, EdDSA and HS256 tokens accepted; claims reach the integration')
def _():
    d = Env.get()
    for alg, kid in [('RS256', 'rs1'), ('ES256', 'es1'), ('EdDSA', 'ed1'), ('HS256', 'hs1')]:
        r = accepted(d, '/all', token(alg, kid, payload=claims(
            sub='bob-' + alg, n=12, o={'a': [1, True]}, scp=['s1', 's2'])))
        obj = json.loads(r.body)
        eq(obj, {'sub': 'bob-' + alg, 'scope': 'read write', 'n': '12',
                 'o': '{"a":[1,true]}', 'scopes': 'read write s1 s2'}, alg + ' claims')
    r = accepted(d, '/strict', token('ES256', 'es1'))
    eq(r.body, b'hello alice', 'body')
    # A token without kid: the only key of its family.
    accepted(d, '/all', token('ES256', None, key='es1'))
    # aud as a list holding ours; typ at+jwt.
    accepted(d, '/strict', token(payload=claims(aud=['x', AUD]), hdr={'typ': 'at+jwt'}))


@tap.case('0 invocations: no refused request reached the integration (access log)')
def _():
    d = Env.get()
    check(len(tap_ids) > 80, 'the corpus ran (%d refusals)' % len(tap_ids))
    want = set(tap_ids)
    seen = {}
    deadline = time.monotonic() + 3 * SLOW
    while time.monotonic() < deadline:
        seen = {e['requestId']: e for e in d.access_entries() if e.get('requestId') in want}
        if len(seen) == len(want):
            break
        time.sleep(0.1)
    eq(len(seen), len(want), 'access-log lines of refused requests')
    invoked = [e for e in seen.values() if e.get('integrationStatus') not in (None, '', '-')]
    check(not invoked, '%d refused requests reached the integration: %s' % (len(invoked),
                                                                          invoked[:3]))
    diag('%d refused requests, 0 integration runs' % len(want))


def at_second_start():
    """Waits for the start of a second and returns it: what follows runs within it."""
    t = time.time()
    if t - int(t) > 0.3:
        time.sleep(1.0 - (t - int(t)) + 0.01)
    return int(time.time())


def boundary(d, cases):
    """cases: [(payload builder of now, accepted?)]. Retried when a second tick got between
    minting and checking."""
    for attempt in range(5):
        now = at_second_start()
        results = [get(d, '/all', token('HS256', 'hs1', payload=build(now))).status
                   for build, _ in cases]
        if int(time.time()) == now:
            for (build, ok), st in zip(cases, results):
                eq(st, 200 if ok else 401, 'status for %r' % build(now))
            return
    raise AssertionError('could not run the boundary within one second')


@tap.case('exp and nbf exactly at the leeway boundary (leeway_s 5)')
def _():
    d = Env.get()
    boundary(d, [
        (lambda now: claims(exp=now - LEEWAY + 1), True),   # now < exp + leeway
        (lambda now: claims(exp=now - LEEWAY), False),      # now == exp + leeway: expired
        (lambda now: claims(nbf=now + LEEWAY), True),       # nbf <= now + leeway
        (lambda now: claims(nbf=now + LEEWAY + 1), False),
        (lambda now: claims(iat=now + LEEWAY), True),
        (lambda now: claims(iat=now + LEEWAY + 1), False),
    ])


@tap.case('a cached verification ends when the token expires (exp + leeway)')
def _():
    d = Env.get()
    now = at_second_start()
    tok = token('HS256', 'hs1', payload=claims(exp=now - LEEWAY + 2))
    accepted(d, '/all', tok)
    accepted(d, '/all', tok)  # a cache hit, if the cache is on
    time.sleep(max(0.0, now + 2 - time.time()) + 0.05)
    refused(d, '/all', tok, U('token expired'))


@tap.case('key rotation through the JWKS file and SIGHUP: new kid accepted, removed refused, '
          'the cache does not outlive the reload')
def _():
    k = keys()
    tmp = tmpdir('fngate-jwt-rot-')
    path = os.path.join(tmp, 'jwks.json')
    write(path, k.jwks('rs1'))
    with Daemon(config(path)) as d:
        t1, t2 = token(kid='rs1'), token(kid='rs2')
        accepted(d, '/strict', t1)
        accepted(d, '/strict', t1)  # from the cache
        refused(d, '/strict', t2, U('unknown key id'))
        write(path, k.jwks('rs1', 'rs2'))
        eq(d.reload().get('msg'), 'config reloaded', 'reload')
        accepted(d, '/strict', t2)
        accepted(d, '/strict', t1)
        write(path, k.jwks('rs2'))
        eq(d.reload().get('msg'), 'config reloaded', 'reload')
        refused(d, '/strict', t1, U('unknown key id'))
        accepted(d, '/strict', t2)
        # A JWKS that does not parse: the reload fails, the running keys stay.
        write(path, '{"keys": [')
        eq(d.reload().get('msg'), 'reload failed', 'reload of a broken JWKS')
        accepted(d, '/strict', t2)


class JwksServer:
    """A loopback http.server answering the current JWKS (or an error status)."""

    def __init__(self):
        self.body = b''
        self.status = 200
        self.hits = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                self.send_response(outer.status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def url_config(port, refresh=1, stale=2):
    return '''
server: { listen: ["127.0.0.1:0"] }
apis:
  a:
    stages: { s: {} }
    authorizers:
      u:
        type: jwt
        issuer: "%s"
        audience: %s
        jwks: { url: "http://127.0.0.1:%d/keys.json", refresh_s: %d, stale_if_error_s: %d }
    routes:
      "GET /u":
        authorizer: u
        integration: { type: mock, body: "ok" }
''' % (ISS, AUD, port, refresh, stale)


def wait_status(d, tok, status, timeout):
    deadline = time.monotonic() + timeout * SLOW
    while True:
        r = get(d, '/u', tok)
        if r.status == status or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


@tap.case('JWKS from a loopback URL: first fetch, refresh, stale-if-error, then 503, recovery')
def _():
    k = keys()
    js = JwksServer()
    try:
        js.body = k.jwks('rs1').encode()
        with Daemon(url_config(js.port)) as d:
            t1, t2 = token(kid='rs1'), token(kid='rs2')
            accepted(d, '/u', t1)  # waits for the first fetch
            refused(d, '/u', t2, U('unknown key id'))
            js.body = k.jwks('rs1', 'rs2').encode()
            eq(wait_status(d, t2, 200, 4).status, 200, 'new kid after a refresh')
            js.status = 500
            fail_from = time.monotonic()
            r = get(d, '/u', t1)
            eq(r.status, 200, 'stale keys serve within stale_if_error_s')
            r = wait_status(d, t1, 503, 6)
            check_json_error(r, 503)
            eq(r.json()['message'], 'Service Unavailable: JWKS unavailable', 'message')
            check(time.monotonic() - fail_from >= 1.0, '503 came too early')
            check(d.wait_log(lambda o: o.get('msg') == 'JWKS fetch failed', 2) is not None,
                  'no "JWKS fetch failed" log line')
            js.status = 200
            eq(wait_status(d, t1, 200, 4).status, 200, 'keys again once the URL answers')
    finally:
        js.close()


@tap.case('JWKS from a URL that never answers: 503 JWKS unavailable after the first fetch')
def _():
    js = JwksServer()
    js.status = 404
    try:
        with Daemon(url_config(js.port)) as d:
            r = get(d, '/u', token())
            check_json_error(r, 503)
    finally:
        js.close()


@tap.case('config: refused keys (non-loopback url, bad JWKS, unknown algorithm, no audience)')
def _():
    k = keys()
    tmp = tmpdir('fngate-jwt-cfg-')
    good = os.path.join(tmp, 'good.json')
    write(good, k.jwks('rs1'))
    cases = [
        ('jwks: { url: "http://10.0.0.1/keys" }', 'not loopback'),
        ('jwks: { url: "http://example.com/keys" }', 'not loopback'),
        ('jwks: { url: "https://127.0.0.1/keys" }', 'http://'),
        ('jwks: { url: "http://127.0.0.1:99999/keys" }', 'http://'),
        ('jwks: { file: "%s", url: "http://127.0.0.1/k" }' % good, 'file alone'),
        ('jwks: { file: "%s/none.json" }' % tmp, 'no such file'),
        ('jwks: { file: "%s" }\n        algorithms: [RS384]' % good, 'RS384'),
    ]
    bad = [('dup.json', '{"keys": [], "keys": []}', 'duplicate'),
           ('short.json', json.dumps({'keys': [{'kty': 'oct', 'k': b64u(b'x' * 16)}]}),
            '32 to 256 bytes'),
           ('dupkid.json', json.dumps({'keys': [k.jwk['rs1'], k.jwk['rs1']]}), 'twice'),
           ('empty.json', json.dumps({'keys': [{'kty': 'RSA', 'use': 'enc'}]}), 'no key'),
           ('offcurve.json', json.dumps({'keys': [dict(k.jwk['es1'], y=k.jwk['es1']['x'])]}),
            'not on P-256')]
    for name, text, why in bad:
        p = os.path.join(tmp, name)
        write(p, text)
        cases.append(('jwks: { file: "%s" }' % p, why))
    for jwks, why in cases:
        cfg = url_config(1).replace(
            'jwks: { url: "http://127.0.0.1:1/keys.json", refresh_s: 1, '
            'stale_if_error_s: 2 }', jwks)
        p = os.path.join(tmp, 'c.yaml')
        write(p, cfg)
        r = fng('check', p)
        check(r.returncode == 1 and why in r.stdout + r.stderr,
              'check of %r: rc %d, %r' % (jwks, r.returncode, r.stdout + r.stderr))
    p = os.path.join(tmp, 'c.yaml')
    write(p, url_config(1).replace('        audience: %s\n' % AUD, ''))
    r = fng('check', p)
    check(r.returncode == 1 and 'audience' in r.stdout + r.stderr,
          'no audience: %r' % (r.stdout + r.stderr))


@tap.case('`fngate token` with the demo keys of examples/jwt; the demo route answers the sub')
def _():
    jdir = os.path.join(SRC, 'examples', 'jwt')
    cfg = '''
server: { listen: ["127.0.0.1:0"] }
apis:
  a:
    stages: { dev: {} }
    authorizers:
      demo-jwt:
        type: jwt
        issuer: https://fngate.demo/
        audience: [fngate-demo]
        algorithms: [RS256, ES256, HS256]
        jwks: { file: "%s/jwks.json" }
    routes:
      "GET /secure/hello":
        authorizer: demo-jwt
        authorization_scopes: [read]
        integration:
          type: mock
          body: '{"message":"hello, ${context.authorizer.claims.sub|json}"}'
''' % jdir
    with Daemon(cfg) as d:
        for key, kid in [('demo-rs256.pem', 'demo-rs256'), ('demo-es256.pem', 'demo-es256'),
                         ('demo-hs256.secret', 'demo-hs256')]:
            r = fng('token', '--key', os.path.join(jdir, key), '--kid', kid, '--iss',
                     'https://fngate.demo/', '--aud', 'fngate-demo', '--sub', 'alice',
                     '--scope', 'read', '--ttl', '60')
            eq(r.returncode, 0, 'fngate token exit status (%s)' % r.stderr)
            with Conn(d.port, 5.0 * SLOW) as c:
                c.send(req('GET', '/dev/secure/hello',
                           headers=[('Authorization', 'Bearer ' + r.stdout.strip())]))
                resp = c.read_response('GET')
            eq((resp.status, resp.body), (200, b'{"message":"hello, alice"}'), key)
        r = fng('token', '--key', os.path.join(jdir, 'demo-rs256.pem'), '--alg', 'ES256',
                 '--iss', 'x', '--aud', 'y')
        eq(r.returncode, 1, 'a key of another algorithm than --alg')


@tap.case('claims reach a real handler (fng_event_authorizer "claims.NAME"); forged tokens '
          'invoke it 0 times (counted by its log lines)')
def _():
    if any('valgrind' in w for w in WRAPPER):
        diag('skipped: function workers cannot run under valgrind')
        return
    k = keys()
    fdir = FnDir()
    tap.on_exit(fdir.cleanup)
    path = write(os.path.join(tmpdir('fngate-jwt-fn-'), 'jwks.json'), k.jwks('rs1', 'es1'))
    cfg = config(path).replace('server: {', 'functions: { dir: "%s" }\nserver: {' % fdir.path)
    cfg += ('      "GET /fn":\n'
            '        authorizer: strict\n'
            '        integration: { type: function, function: jwt_echo }\n')
    with Daemon(cfg) as d:
        mark = d.log_mark()
        fdir.install('jwt_echo', test_so('jwt_echo'))
        wait_deployed(d, ['jwt_echo'], mark)
        mark = d.log_mark()
        r = accepted(d, '/fn', token('ES256', 'es1', payload=claims(
            sub='ada', n=7, o={'k': [1]}, scp=['x'])))
        eq(json.loads(r.body), {'principalId': 'ada', 'sub': 'ada', 'n': '7', 'o': '{"k":[1]}',
                                'scopes': 'read write x'}, 'what the handler read')
        check(d.wait_log(lambda o: o.get('function') == 'jwt_echo' and o.get('msg') == 'handler',
                         3 * SLOW, since=mark) is not None, 'the handler logs its invocation')
        forged = [c for c in corpus() if c[1] == '/all'][:40]
        for name, _, tok, msg in forged:
            got = get(d, '/fn', tok).status
            check(got in (401, 403), '%s: status %d' % (name, got))
        time.sleep(0.3 * SLOW)  # a late line would have had its chance to arrive
        with d.cond:
            handled = [o for _, o in d.logs[mark:] if o and o.get('function') == 'jwt_echo' and
                       o.get('msg') == 'handler']
        eq(len(handled), 1, 'handler invocations (1 accepted, %d forged)' % len(forged))
        diag('%d forged tokens, 0 handler invocations' % len(forged))


@tap.case('the corpus daemon exits with 0 after SIGTERM (no leak, no sanitizer report)')
def _():
    d = Env.get()
    eq(d.stop(), 0, 'exit code (stderr tail: %s)' % getattr(d, 'stderr_tail', ''))


tap.run()
