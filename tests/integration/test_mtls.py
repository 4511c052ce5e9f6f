#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Mutual TLS (issue 15), through a real daemon with a CA, client certificates and a CRL made
by `openssl ca` here. Three certificates on one listener: none.test (the default, no client
authentication), m.test (a client certificate required, a CRL) and opt.test (optional), so
that the settings of a context chosen by SNI are the ones that apply. A client without a
certificate, with one from an unknown CA, an expired one or a revoked one is refused in the
handshake with an alert, and nothing reaches a stage (no access-log line); a valid one reaches
the handler and a function authorizer as requestContext.identity.clientCert
(tests/functions/clientcert.c echoes it). TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS."""

import os
import shutil
import ssl
import subprocess
import tempfile
import time

from lib import (SLOW, Daemon, FnDir, Tap, check, eq, note, test_so, tls_request, wait_deployed)

tap = Tap(budget=90, needs_workers=True)

CA_CNF = '''
[ca]
default_ca = ca_default
[ca_default]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/issued
serial = {dir}/serial
crlnumber = {dir}/crlnumber
certificate = {dir}/ca.crt
private_key = {dir}/ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = policy_any
copy_extensions = copy
unique_subject = no
[policy_any]
commonName = supplied
organizationName = optional
'''


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, timeout=60, **kw)


class Certs:
    dir = None

    @classmethod
    def get(cls):
        if cls.dir is not None:
            return cls.dir
        d = cls.dir = tempfile.mkdtemp(prefix='fngate-mtls-')
        tap.on_exit(lambda: shutil.rmtree(d, ignore_errors=True))
        p = lambda n: os.path.join(d, n)
        ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
        os.mkdir(p('issued'))
        open(p('index.txt'), 'w').close()
        with open(p('serial'), 'w') as f:
            f.write('1000\n')
        with open(p('crlnumber'), 'w') as f:
            f.write('01\n')
        with open(p('ca.cnf'), 'w') as f:
            f.write(CA_CNF.format(dir=d))
        for ca, cn in (('ca', 'fngate Test CA'), ('evil', 'Evil CA')):
            run('openssl', 'req', '-x509', *ec, '-days', '30', '-keyout', p(ca + '.key'),
                '-out', p(ca + '.crt'), '-subj', '/CN=%s/O=Test' % cn)
        run('openssl', 'req', '-x509', *ec, '-days', '30', '-keyout', p('server.key'),
            '-out', p('server.crt'), '-subj', '/CN=m.test',
            '-addext', 'subjectAltName=DNS:m.test,DNS:opt.test,DNS:none.test')
        clients = {
            'alice': ['-days', '30'],
            'bob': ['-days', '30'],
            'old': ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z'],
        }
        for name, dates in clients.items():
            run('openssl', 'req', '-new', *ec, '-keyout', p(name + '.key'), '-out',
                p(name + '.csr'), '-subj', '/CN=%s/O=Test' % name, '-addext',
                'subjectAltName=DNS:%s.test,IP:10.0.0.7,email:%s@example.com,'
                'URI:spiffe://test/%s' % (name, name, name))
            run('openssl', 'ca', '-batch', '-config', p('ca.cnf'), '-in', p(name + '.csr'),
                '-out', p(name + '.crt'), '-notext', *dates)
        run('openssl', 'ca', '-batch', '-config', p('ca.cnf'), '-revoke', p('bob.crt'))
        run('openssl', 'ca', '-batch', '-config', p('ca.cnf'), '-gencrl', '-out', p('ca.crl'))
        run('openssl', 'req', '-x509', *ec, '-days', '30', '-keyout', p('mallory.key'),
            '-out', p('mallory.crt'), '-subj', '/CN=mallory/O=Test')
        return d


def config(fdir, c):
    return '\n'.join([
        'server:',
        '  listen: ["127.0.0.1:0"]',
        '  default_api: t',
        '  timeouts: { header_ms: 2000 }',
        '  tls:',
        '    listen: ["127.0.0.1:0"]',
        '    certificates:',
        '      - { cert: "{c}/server.crt", key: "{c}/server.key", names: [none.test] }',
        '      - cert: "{c}/server.crt"',
        '        key: "{c}/server.key"',
        '        names: [m.test]',
        '        client_auth: { ca: "{c}/ca.crt", crl: ["{c}/ca.crl"] }',
        '      - cert: "{c}/server.crt"',
        '        key: "{c}/server.key"',
        '        names: [opt.test]',
        '        client_auth: { ca: "{c}/ca.crt", required: false }',
        'access_log: { path: "@TMP@/access.log" }',
        'functions: { dir: "%s" }' % fdir,
        'apis:',
        '  t:',
        '    authorizers:',
        '      cc: { type: request, function: clientcert, ttl_s: 0,',
        '            identity_source: [$context.identity.sourceIp] }',
        '    stages: { s: {} }',
        '    routes:',
        '      "GET /cert": { integration: { type: function, function: clientcert } }',
        '      "GET /authz": { integration: { type: mock, body: "let in" }, authorizer: cc }',
    ]).replace('{c}', c) + '\n'


class Env:
    d = None

    @classmethod
    def get(cls):
        if cls.d is None:
            fdir = FnDir()
            tap.on_exit(fdir.cleanup)
            cls.d = Daemon(config(fdir.path, Certs.get()), listeners=2)
            tap.on_exit(cls.d.stop)
            mark = cls.d.log_mark()
            fdir.install('clientcert', test_so('clientcert'))
            wait_deployed(cls.d, ['clientcert'], mark)
        return cls.d


def client_ctx(who=None, tls12=False):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if tls12:
        c.maximum_version = ssl.TLSVersion.TLSv1_2
    if who:
        d = Certs.get()
        c.load_cert_chain(os.path.join(d, who + '.crt'), os.path.join(d, who + '.key'))
    return c


def get(host, who=None, path='/s/cert', tls12=False, sni=None):
    """(status line, body) of one request, or (None, why) when the TLS layer refused it."""
    port = Env.get().addrs[1][1]
    try:
        out = tls_request(port, client_ctx(who, tls12), host, path, sni, 5 * SLOW)[0]
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
        return None, str(e)
    if not out:
        return None, 'closed without an answer'
    head, _, body = out.partition(b'\r\n\r\n')
    return head.split(b'\r\n')[0].decode(), body.decode('utf-8', 'replace')


def fields(body):
    out = {}
    for line in body.splitlines():
        k, _, v = line.partition('=')
        out.setdefault(k, []).append(v)
    return out


@tap.case('a valid client certificate reaches the handler as requestContext.identity.clientCert')
def _():
    status, body = get('m.test', 'alice')
    eq(status, 'HTTP/1.1 200 OK', 'status (%s)' % body)
    f = fields(body)
    subj = subprocess.run(['openssl', 'x509', '-in', os.path.join(Certs.get(), 'alice.crt'),
                           '-noout', '-subject', '-issuer', '-nameopt', 'RFC2253'],
                          capture_output=True, check=True).stdout.decode().splitlines()
    eq(subj[0], 'subject=O=Test,CN=alice', 'openssl agrees on the RFC 2253 form')
    eq(f.get('subjectDN'), ['O=Test,CN=alice'], 'subject, RFC 2253 (the last RDN first)')
    eq(f.get('issuerDN'), ['O=Test,CN=fngate Test CA'], 'issuer')
    eq(f.get('serialNumber'), ['10:00'], 'serial (openssl ca counted from 1000)')
    check(f.get('notBefore', [''])[0].endswith('Z') and 'T' in f['notBefore'][0],
          'notBefore in ISO 8601 UTC: %s' % f.get('notBefore'))
    der = subprocess.run(['openssl', 'x509', '-in', os.path.join(Certs.get(), 'alice.crt'),
                          '-noout', '-fingerprint', '-sha256'], capture_output=True,
                         check=True).stdout.decode()
    want = der.strip().split('=', 1)[1].replace(':', '').lower()
    eq(f.get('sha256Fingerprint'), [want], 'SHA-256 of the DER')
    eq(sorted(f.get('san', [])), sorted(['DNS:alice.test', 'IP:10.0.0.7',
                                         'email:alice@example.com', 'URI:spiffe://test/alice']),
       'subject alternative names')
    end = subprocess.run(['openssl', 'x509', '-in', os.path.join(Certs.get(), 'alice.crt'),
                          '-noout', '-enddate', '-dateopt', 'iso_8601'], capture_output=True)
    if end.returncode == 0:
        note('openssl notAfter: %s, ours %s' % (end.stdout.decode().strip(), f.get('notAfter')))
    status, body = get('m.test', 'alice', tls12=True)
    check(status == 'HTTP/1.1 200 OK' and 'subjectDN=' in body, 'TLS 1.2 too: %s' % status)


def refused(host, who, tls12=False):
    status, why = get(host, who, tls12=tls12)
    check(status is None, '%s with %s (TLS %s): refused, got %s %r'
          % (host, who, '1.2' if tls12 else '1.3', status, why[:200]))
    note('%s / %s / %s: %s' % (host, who, '1.2' if tls12 else '1.3', why[:120]))
    return why.lower()


@tap.case('refused in the handshake: no certificate, unknown CA, expired, revoked; no stage runs')
def _():
    d = Env.get()
    time.sleep(0.3)
    before = len(d.access_entries())
    for tls12 in (False, True):
        why = refused('m.test', None, tls12)
        check('certificate' in why or 'closed' in why or 'eof' in why or 'alert' in why,
              'no certificate: %s' % why)
        why = refused('m.test', 'mallory', tls12)
        check('unknown ca' in why or 'unknown_ca' in why or 'alert' in why or 'closed' in why
              or 'eof' in why, 'unknown CA: %s' % why)
        refused('m.test', 'old', tls12)
        refused('m.test', 'bob', tls12)
        refused('opt.test', 'mallory', tls12)  # optional, but a certificate sent is verified
    time.sleep(0.5)
    eq(len(d.access_entries()), before, 'access-log lines for the refused handshakes')
    check(d.wait_log(lambda o: o.get('msg') == 'tls client authentication failed', timeout=2),
          'the daemon log says why')
    check(d.alive(), 'the daemon is alive')


def s_client(name, ver, who=None, sess_in=None, sess_out=None, err=False):
    d = Certs.get()
    args = ['openssl', 's_client', '-connect', '127.0.0.1:%d' % Env.get().addrs[1][1],
            '-servername', name, ver, '-ign_eof']
    if who:
        args += ['-cert', os.path.join(d, who + '.crt'), '-key', os.path.join(d, who + '.key')]
    if sess_in:
        args += ['-sess_in', sess_in]
    if sess_out:
        args += ['-sess_out', sess_out]
    p = subprocess.run(args, input=b'GET /s/cert HTTP/1.1\r\nHost: %s\r\nConnection: close'
                       b'\r\n\r\n' % name.encode(), capture_output=True, timeout=20 * SLOW)
    return (p.stdout + (p.stderr if err else b'')).decode('utf-8', 'replace')


@tap.case('the alerts wolfSSL sends (openssl s_client), TLS 1.3 and 1.2')
def _():
    # wolfSSL 5.5: bad_certificate for an unknown CA (not unknown_ca), and over TLS 1.2 a
    # missing certificate closes the connection without an alert.
    for who, v13, v12 in ((None, 'certificate required', 'unexpected eof'),
                          ('mallory', 'bad certificate', 'bad certificate'),
                          ('old', 'certificate expired', 'certificate expired'),
                          ('bob', 'certificate revoked', 'certificate revoked')):
        for ver, want in (('-tls1_3', v13), ('-tls1_2', v12)):
            text = s_client('m.test', ver, who, err=True).lower()
            check(want in text and 'http/1.1 200' not in text, '%s %s: %s (%s)' % (
                who or 'no certificate', ver, want,
                [l[:120] for l in text.splitlines() if 'alert' in l or 'eof' in l][:2]))


@tap.case('optional client authentication: served without a certificate, identified with one')
def _():
    status, body = get('opt.test')
    eq(status, 'HTTP/1.1 200 OK', 'no certificate: served')
    eq(body, 'no client certificate\n', 'no clientCert in the event')
    status, body = get('opt.test', 'alice')
    eq(status, 'HTTP/1.1 200 OK', 'with one: served')
    check('subjectDN=' in body and 'alice' in body, 'clientCert in the event: %r' % body[:200])
    status, body = get('none.test', 'alice')
    eq(body, 'no client certificate\n', 'a certificate without client_auth asks for none')
    status, body = get('nobody.test')
    eq(status, 'HTTP/1.1 200 OK', 'an unknown name: the default (no client_auth)')


@tap.case('SNI of a certificate without client_auth, Host of one with it: 421, no stage runs')
def _():
    d = Env.get()
    for sni in ('none.test', 'nobody.test', 'opt.test'):
        status, body = get('m.test', 'alice' if sni == 'opt.test' else None, sni=sni)
        eq(status, 'HTTP/1.1 421 Misdirected Request', 'SNI %s, Host m.test' % sni)
        check('SNI' in body, 'the message says why: %s' % body)
    e = d.wait_access(lambda e: str(e.get('status')) == '421')
    check(e is not None, 'the 421 is in the access log like any refused head')
    status, body = get('none.test', 'alice', sni='m.test')
    eq(status, 'HTTP/1.1 200 OK', 'a certificate with client_auth may serve a host without')
    status, body = get('opt.test', 'alice', sni='m.test')
    eq(status, 'HTTP/1.1 421 Misdirected Request', 'but not another one with client_auth')
    status, body = get('m.test:443', 'alice', sni='m.test')
    eq(status, 'HTTP/1.1 200 OK', 'a port in Host is left out')


@tap.case('a function authorizer sees the client certificate')
def _():
    status, body = get('opt.test', 'alice', path='/s/authz')
    eq((status, body), ('HTTP/1.1 200 OK', 'let in'), 'allowed with a certificate')
    status, body = get('opt.test', None, path='/s/authz')
    eq(status, 'HTTP/1.1 403 Forbidden', 'denied without one')


@tap.case('resumption: the identity comes back with the session; a session of another context '
          'does not pass client_auth')
def _():
    sess = os.path.join(Certs.get(), 'sess.pem')
    for ver in ('-tls1_2', '-tls1_3'):
        s_client('m.test', ver, 'alice', sess_out=sess)
        text = s_client('m.test', ver, 'alice', sess_in=sess)
        check('subjectDN=O=Test,CN=alice' in text, '%s: the identity read (%s)' % (
            ver, [l for l in text.splitlines() if 'New,' in l or 'Reused' in l]))
        for first in ('none.test', 'nobody.test', 'opt.test'):
            s_client(first, ver, sess_out=sess)
            text = s_client('m.test', ver, sess_in=sess)
            check('HTTP/1.1 200' not in text, '%s: a session of %s without a certificate is '
                  'refused on m.test (%s)' % (ver, first, [l for l in text.splitlines()
                                                           if 'Reused' in l or 'New,' in l]))


@tap.case('config: client_auth needs a readable CA; unknown keys are refused')
def _():
    c = Certs.get()
    opt = '        client_auth: { ca: "%s/ca.crt", required: false }\n' % c
    for bad, what in (('client_auth: { ca: "%s/nosuch.crt" }' % c, 'no such file'),
                      ('client_auth: { required: true }', 'ca'),
                      ('client_auth: { ca: "%s/ca.crt", crl: ["%s/nosuch.crl"] }' % (c, c),
                       'no such file'),
                      ('client_auth: { ca: "%s/ca.crt", verify: yes }' % c, 'verify')):
        text = config(c, c).replace('@TMP@', c).replace(opt, '        %s\n' % bad)
        check(text != config(c, c).replace('@TMP@', c), 'the case replaced the key')
        path = os.path.join(c, 'bad.yaml')
        with open(path, 'w') as f:
            f.write(text)
        p = subprocess.run([os.environ['FNGATE_BIN'], 'check', path], capture_output=True,
                           timeout=20)
        out = (p.stdout + p.stderr).decode('utf-8', 'replace')
        check(p.returncode != 0 and what in out, '%s: refused (%s)' % (bad, out.strip()[-200:]))


@tap.case('the daemon stops cleanly (exit 0: no leak or sanitizer report)')
def _():
    d = Env.get()
    rc = d.stop(cleanup=False)
    eq(rc, 0, 'exit code (stderr tail:\n%s)' % d.stderr_tail)


tap.run()
