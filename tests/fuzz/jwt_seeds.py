#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the hand-made seeds of the JWT corpus (tests/fuzz/corpus/jwt/seed-*).

Each seed is what tests/fuzz/jwt.c takes: one byte choosing the mode (0: a token verified as
it is; 1: HEADER.PAYLOAD as raw JSON, signed by the driver with the demo HS256 key; 2: a JWKS
document), then the input. Tokens are signed with the demo keys of examples/jwt (openssl for
RS256 and ES256), valid and forged in each class the authorizer refuses; the driver checks them
at 1800000000 (2027-01-15), so the times below are around that.

Run it from anywhere: `tests/fuzz/jwt_seeds.py` rewrites the seed files (RS256 signatures are
deterministic; ES256 ones are not, so those seeds change on each run). Inputs libFuzzer found
are kept beside them under their SHA-1 names.
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
JWT = os.path.join(HERE, '..', '..', 'examples', 'jwt')
OUT = os.path.join(HERE, 'corpus', 'jwt')
NOW = 1800000000


def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).decode().rstrip('=')


def claims(**over):
    c = {'iss': 'https://fngate.demo/', 'aud': 'fngate-demo', 'sub': 'alice',
         'scope': 'read', 'iat': NOW - 10, 'exp': NOW + 600}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def der_to_raw(der):
    i, out = 2, b''
    for _ in range(2):
        n = der[i + 1]
        out += der[i + 2:i + 2 + n].lstrip(b'\0').rjust(32, b'\0')
        i += 2 + n
    return out


def sign(alg, msg):
    if alg == 'HS256':
        with open(os.path.join(JWT, 'demo-hs256.secret')) as f:
            k = f.read().strip()
        return hmac.new(base64.urlsafe_b64decode(k + '=' * (-len(k) % 4)), msg,
                        hashlib.sha256).digest()
    key = os.path.join(JWT, 'demo-rs256.pem' if alg == 'RS256' else 'demo-es256.pem')
    sig = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', key], input=msg,
                         check=True, capture_output=True).stdout
    return der_to_raw(sig) if alg == 'ES256' else sig


def token(alg='RS256', kid='demo-rs256', hdr=None, payload=None):
    h = {'alg': alg, 'typ': 'JWT', 'kid': kid}
    h.update(hdr or {})
    m = b64u(json.dumps(h)) + '.' + b64u(json.dumps(payload or claims()))
    return m + '.' + b64u(sign(alg, m.encode()))


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.startswith('seed-'):
            os.remove(os.path.join(OUT, f))
    seeds = {}
    good = token()
    h, p, s = good.split('.')
    seeds['rs256'] = b'\0' + good.encode()
    seeds['es256'] = b'\0' + token('ES256', 'demo-es256').encode()
    seeds['hs256'] = b'\0' + token('HS256', 'demo-hs256').encode()
    seeds['none'] = b'\0' + (b64u('{"alg":"none"}') + '.' + p + '.').encode()
    seeds['confusion'] = b'\0' + token('HS256', 'demo-rs256').encode()
    seeds['jku'] = b'\0' + token(hdr={'jku': 'http://x/'}).encode()
    seeds['crit'] = b'\0' + token(hdr={'crit': ['exp']}).encode()
    seeds['padding'] = b'\0' + (h + '==.' + p + '.' + s).encode()
    seeds['four'] = b'\0' + (good + '.' + s).encode()
    seeds['expired'] = b'\0' + token(payload=claims(exp=NOW - 3600)).encode()
    seeds['dup-header'] = b'\0' + (b64u('{"alg":"RS256","alg":"none"}') + '.' + p + '.' +
                                   s).encode()
    # Mode 1: signed by the driver (HS256, kid demo-hs256), so the claims are reached.
    hs = '{"alg":"HS256","kid":"demo-hs256","typ":"JWT"}'
    for name, payload in [
            ('claims', json.dumps(claims(scp=['a', 'b'], n=1.5, o={'x': [1, None]}))),
            ('claims-dup', json.dumps(claims())[:-1] + ',"sub":"b"}'),
            ('claims-aud-list', json.dumps(claims(aud=['x', 'fngate-demo']))),
            ('claims-nbf', json.dumps(claims(nbf=NOW + 31))),
            ('claims-exp-real', json.dumps(claims(exp=NOW + 0.5))),
            ('claims-huge-int', json.dumps(claims())[:-1] + ',"exp":1e999}'),
            ('claims-deep', '{"a":' * 40 + '1' + '}' * 40),
            ('claims-not-object', '[1,2]')]:
        seeds[name] = b'\1' + (hs + '.' + payload).encode()
    seeds['header-cty'] = b'\1' + ('{"alg":"HS256","cty":"JWT"}.' +
                                   json.dumps(claims())).encode()
    # Mode 2: JWKS documents.
    with open(os.path.join(JWT, 'jwks.json'), 'rb') as f:
        seeds['jwks-demo'] = b'\2' + f.read()
    seeds['jwks-dup'] = b'\2{"keys":[],"keys":[]}'
    seeds['jwks-short-oct'] = b'\2{"keys":[{"kty":"oct","k":"AAAA"}]}'
    seeds['jwks-ec-bad'] = b'\2{"keys":[{"kty":"EC","crv":"P-256","x":"' + \
        b64u(b'\1' * 32).encode() + b'","y":"' + b64u(b'\2' * 32).encode() + b'"}]}'
    seeds['jwks-rsa-small'] = b'\2{"keys":[{"kty":"RSA","n":"' + b64u(b'\xff' * 64).encode() + \
        b'","e":"AQAB"}]}'
    seeds['jwks-okp'] = b'\2{"keys":[{"kty":"OKP","crv":"Ed25519","x":"' + \
        b64u(b'\3' * 32).encode() + b'"}]}'
    for name, data in seeds.items():
        with open(os.path.join(OUT, 'seed-' + name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
