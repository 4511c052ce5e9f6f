#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`fngate keys`: the real command against a temporary configuration whose state_dir is in a
temporary directory. A key is printed once, by create, and found nowhere after: not in list,
show or usage output, not in any byte of the state directory (only its SHA-256 is); list,
show, revoke and usage; unknown plans and ids refused; a world-writable state_dir refused; the
state_dir made 0700 and its files 0600. TAP output.

Environment: FNGATE_BIN."""

import calendar
import hashlib
import json
import os
import re
import sqlite3
import stat
import subprocess
import tempfile
import time

from lib import BIN, Tap, check, eq, short

tap = Tap(budget=60)

CONFIG = '''
server: { listen: ["127.0.0.1:0"], state_dir: "%(state)s" }
apis:
  shop:
    stages: { prod: {} }
    routes:
      "GET /a": { integration: { type: mock } }
usage_plans:
  demo:
    quota: { limit: 1000, period: day }
    stages: [ { api: shop, stage: prod } ]
  gold:
    throttle: { rate: 10, burst: 20 }
    stages: [ { api: shop, stage: prod } ]
'''

KEY = re.compile(r'fng_[0-9A-Za-z]{40}')


class Env:
    """A temporary directory with fngate.yaml; state_dir is DIR/state (not made yet)."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix='fngate-it-keys-')
        self.dir = self.tmp.name
        self.state = os.path.join(self.dir, 'state')
        self.config = os.path.join(self.dir, 'fngate.yaml')
        with open(self.config, 'w') as f:
            f.write(CONFIG % {'state': self.state})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.tmp.cleanup()

    def run(self, *args, want=0, env=None, cwd=None, config=True):
        argv = [BIN, 'keys'] + (['-c', self.config] if config else []) + list(args)
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=20, env=env, cwd=cwd)
        check(p.returncode >= 0, '`%s` died of signal %d' % (' '.join(argv), -p.returncode))
        if want is not None:
            eq(p.returncode, want, '`%s` exit status (stdout %s, stderr %s)'
               % (' '.join(args), short(p.stdout), short(p.stderr)))
        return p

    def create(self, *plans, name=None):
        """(key, id) of a new key."""
        args = ['create'] + [a for p in plans for a in ('--plan', p)]
        if name is not None:
            args += ['--name', name]
        p = self.run(*args)
        key = re.search(r'^key: (\S+)$', p.stdout, re.M)
        kid = re.search(r'^id: (\S+)$', p.stdout, re.M)
        check(key and kid, 'create output: %s' % short(p.stdout))
        return key.group(1), kid.group(1)

    def state_bytes(self):
        """Every file of the state directory, concatenated."""
        out = b''
        for f in sorted(os.listdir(self.state)):
            with open(os.path.join(self.state, f), 'rb') as fh:
                out += fh.read()
        return out


@tap.case('create: the key is fng_ + 40 base62, printed once with its id and plans')
def _():
    with Env() as e:
        p = e.run('create', '--plan', 'demo', '--plan', 'gold', '--name', "ada's laptop")
        lines = p.stdout.splitlines()
        check(KEY.fullmatch(lines[0][len('key: '):]) and lines[0].startswith('key: '),
              'first line is the key: %r' % lines[0])
        check(re.fullmatch(r'id: k[0-9A-Za-z]{11}', lines[1]), 'then the id: %r' % lines[1])
        check("name: ada's laptop" in lines and 'plans: demo, gold' in lines,
              'name and plans: %r' % lines)
        check(lines[-1] == 'note: the key is shown only now; fngate stores its SHA-256',
              'the note last: %r' % lines[-1])
        eq(p.stderr, '', 'nothing on stderr')
        q = e.run('create', '--plan', 'demo', '--quiet')
        check(KEY.fullmatch(q.stdout.strip()) and q.stdout.count('\n') == 1,
              '--quiet prints the key alone: %r' % q.stdout)
        check(q.stdout.strip() != lines[0][5:], 'a second key is another one')


@tap.case('create: state_dir made 0700, its files 0600')
def _():
    with Env() as e:
        e.create('demo')
        eq(stat.S_IMODE(os.lstat(e.state).st_mode), 0o700, 'state_dir mode')
        files = sorted(os.listdir(e.state))
        check('fngate.db' in files and 'keys.gen' in files, 'files: %r' % files)
        for f in files:
            eq(stat.S_IMODE(os.lstat(os.path.join(e.state, f)).st_mode), 0o600, f + ' mode')
        eq(os.path.getsize(os.path.join(e.state, 'keys.gen')), 8, 'keys.gen size')


@tap.case('the key is shown once: list, show, usage and the state directory never hold it')
def _():
    with Env() as e:
        key, kid = e.create('demo', 'gold', name='k1')
        outs = [e.run('list').stdout, e.run('list', '--json').stdout, e.run('show', kid).stdout,
                e.run('usage', kid).stdout]
        e.run('revoke', kid)
        outs += [e.run('show', kid).stdout, e.run('list').stdout]
        for o in outs:
            check(key not in o and key[4:] not in o, 'output holds the key: %s' % short(o))
        data = e.state_bytes()
        hexkey = key.encode().hex()
        for needle in (key.encode(), key[4:].encode(), hexkey.encode(), hexkey.upper().encode()):
            check(needle not in data, 'the state directory holds %r' % needle[:12])
        digest = hashlib.sha256(key.encode()).digest()
        check(digest in data, 'the key\'s SHA-256 is what is stored')
        check(digest.hex().encode() not in data, 'as bytes, not hex')


@tap.case('list: one line per key (id, state, created, plans, name); --json lines')
def _():
    with Env() as e:
        eq(e.run('list').stdout, '', 'no state_dir yet: no key, exit 0')
        check(not os.path.exists(e.state), 'list did not make the state_dir')
        before = int(time.time())
        _, k1 = e.create('demo', 'gold', name='ada laptop')
        _, k2 = e.create('demo')
        lines = e.run('list').stdout.splitlines()
        eq(len(lines), 2, 'two lines')
        m = re.fullmatch(r'(k\w{11})  live     (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)  demo,gold  '
                         r'ada laptop', lines[0])
        check(m and m.group(1) == k1, 'first line: %r' % lines[0])
        created = calendar.timegm(time.strptime(m.group(2), '%Y-%m-%dT%H:%M:%SZ'))
        check(before - 1 <= created <= time.time() + 1, 'created now: %s' % m.group(2))
        check(re.fullmatch(k2 + r'  live     \S+Z  demo', lines[1]), 'second: %r' % lines[1])
        js = [json.loads(l) for l in e.run('list', '--json').stdout.splitlines()]
        eq([j['id'] for j in js], [k1, k2], 'JSON ids in creation order')
        eq((js[0]['name'], js[0]['plans'], js[0]['state'], js[0]['revoked']),
           ('ada laptop', ['demo', 'gold'], 'live', None), 'JSON record')
        eq(js[0]['created'], m.group(2), 'JSON created')


@tap.case('show and revoke: the record, revoked once, the first time kept')
def _():
    with Env() as e:
        _, kid = e.create('demo', name='n')
        out = e.run('show', kid).stdout.splitlines()
        eq(out[:3], ['id: ' + kid, 'name: n', 'plans: demo'], 'show')
        eq(out[-1], 'state: live', 'live')
        eq(e.run('revoke', kid).stdout, kid + ': revoked\n', 'revoke')
        show = e.run('show', kid).stdout
        m = re.search(r'^state: revoked (\S+Z)$', show, re.M)
        check(m, 'revoked in show: %s' % short(show))
        time.sleep(1.1)
        again = e.run('revoke', kid).stdout
        eq(again, '%s: already revoked %s\n' % (kid, m.group(1)), 'revoking again')
        check(' revoked ' in e.run('list').stdout, 'list says revoked')
        eq(json.loads(e.run('list', '--json').stdout)['state'], 'revoked', 'JSON state')


def day_start(t):
    return t - t % 86400


def iso(t):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))


@tap.case('usage: 0 used, the day\'s quota, resets at tomorrow 00:00 UTC; no quota said')
def _():
    with Env() as e:
        _, kid = e.create('demo', 'gold')
        t0 = int(time.time())
        out = e.run('usage', kid).stdout
        t1 = int(time.time())
        lines = out.splitlines()
        eq(lines[0], 'id: %s (live)' % kid, 'header')
        want = ['demo: period day from %s, used 0, quota 1000, remaining 1000, resets at %s'
                % (iso(day_start(t)), iso(day_start(t) + 86400)) for t in (t0, t1)]
        check(lines[1] in want, 'demo line: %r, want %r' % (lines[1], want[0]))
        eq(lines[2], 'gold: no quota', 'gold line')

        # A row of this period counts; one of an earlier period does not.
        db = sqlite3.connect(os.path.join(e.state, 'fngate.db'))
        db.execute('INSERT INTO usage VALUES (?, ?, ?, ?, ?)',
                   (kid, 'demo', day_start(int(time.time())), 42, 50))
        db.commit()
        line = e.run('usage', kid).stdout.splitlines()[1]
        check('used 42, quota 1000, remaining 958' in line, 'this period: %r' % line)
        db.execute('UPDATE usage SET period_start = ?, used = 999', (day_start(t0) - 86400,))
        db.commit()
        db.close()
        line = e.run('usage', kid).stdout.splitlines()[1]
        check('used 0, quota 1000, remaining 1000' in line, 'last period\'s row: %r' % line)


@tap.case('refused: unknown plan (exit 1, the known ones named), unknown id, usage errors')
def _():
    with Env() as e:
        p = e.run('create', '--plan', 'demo', '--plan', 'nope', want=1)
        eq(p.stderr, 'fngate keys: unknown usage plan nope (known: demo, gold)\n', 'message')
        eq(p.stdout, '', 'no key printed')
        check(not os.path.exists(e.state), 'nothing was created')
        e.create('demo')
        for sub in ('show', 'revoke', 'usage'):
            p = e.run(sub, 'kNOSUCHKEY00', want=1)
            eq(p.stderr, 'fngate keys: no key kNOSUCHKEY00\n', sub + ' of an unknown id')
        p = e.run('create', '--plan', 'demo', '--name', 'a\x01b', want=1)
        check('control character' in p.stderr, 'a name with a control: %s' % p.stderr)
        e.run(want=2)
        e.run('create', want=2)
        e.run('frob', want=2)
        e.run('show', want=2)
        e.run('list', '--plan', 'demo', want=2)
        e.run('list', 'extra', want=2)
        check(e.run('-h').stdout.startswith('usage: fngate keys'), '-h')


@tap.case('refused: a world-writable or symlinked state_dir, naming it')
def _():
    with Env() as e:
        os.mkdir(e.state)
        os.chmod(e.state, 0o777)
        p = e.run('create', '--plan', 'demo', want=1)
        check(e.state in p.stderr and 'writable by group or others' in p.stderr,
              'stderr: %s' % p.stderr)
        eq(os.listdir(e.state), [], 'nothing written into it')
        os.rmdir(e.state)
        real = os.path.join(e.dir, 'real')
        os.mkdir(real, 0o700)
        os.symlink(real, e.state)
        p = e.run('create', '--plan', 'demo', want=1)
        check(e.state in p.stderr and 'symbolic link' in p.stderr, 'stderr: %s' % p.stderr)


@tap.case('config: -c, --config, $FNGATE_CONFIG, ./fngate.yaml; errors as FILE:LINE:COL')
def _():
    with Env() as e:
        _, kid = e.create('demo')
        env = dict(os.environ, FNGATE_CONFIG=e.config)
        check(kid in e.run('list', config=False, env=env, cwd='/').stdout, '$FNGATE_CONFIG')
        env.pop('FNGATE_CONFIG')
        check(kid in e.run('list', config=False, env=env, cwd=e.dir).stdout, './fngate.yaml')
        check(kid in e.run('list', '--config', e.config, config=False).stdout, '--config')
        bad = os.path.join(e.dir, 'bad.yaml')
        with open(bad, 'w') as f:
            f.write('server: { listen: 3 }\nusage_plans: {}\n')
        p = e.run('-c', bad, 'list', config=False, want=1)
        check(re.match(re.escape(bad) + r':\d+:\d+: ', p.stderr), 'stderr: %s' % p.stderr)


if __name__ == '__main__':
    tap.run()
