#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`fngate new NAME` as a user runs it: NAME.c and NAME_test.c are written (never over an
existing file), both build with cc and the pkg-config lines it prints (the build tree's
meson-uninstalled/ .pc files standing in for installed ones), the generated test passes,
and it fails once the handler is broken; and libfngate-test exports exactly the functions
fngate_test.h declares. TAP output.

Environment: FNGATE_BIN, FNGATE_BUILD_ROOT, FNGATE_SOURCE_ROOT, FNGATE_SANITIZE (meson's
b_sanitize: a
sanitized build's libraries need the test program built with the same -fsanitize)."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ['FNGATE_BIN']
BUILD = os.environ['FNGATE_BUILD_ROOT']
SOURCE = os.environ['FNGATE_SOURCE_ROOT']
SANITIZE = os.environ.get('FNGATE_SANITIZE', 'none')

n = 0
failed = 0


def check(ok, what, detail=''):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print('%sok %d - %s' % ('' if ok else 'not ', n, what))
    if not ok and detail:
        for line in str(detail).splitlines():
            print('# ' + line)
    return ok


def run(args, cwd, env=None):
    return subprocess.run(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=120)


def pkg_config(*names):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(BUILD, 'meson-uninstalled'))
    p = run(['pkg-config', '--cflags', '--libs'] + list(names), '.', env)
    if p.returncode:
        raise SystemExit('pkg-config %s: %s' % (' '.join(names), p.stderr))
    return p.stdout.split()


def build(cwd, name):
    """NAME.so and NAME_test as the printed lines build them. None, or what failed."""
    san = ['-fsanitize=' + SANITIZE] if SANITIZE != 'none' else []
    p = run(['cc', '-shared', '-fPIC', '-o', name + '.so', name + '.c'] +
            pkg_config('fngate'), cwd)
    if p.returncode:
        return p.stderr
    p = run(['cc', '-Wall', '-Wextra', '-Werror', '-o', name + '_test', name + '_test.c'] +
            san + pkg_config('fngate-test'), cwd)
    return p.stderr if p.returncode else None


def run_test(cwd, name):
    # Not installed: the loader is told where the build tree's libraries are.
    libs = [os.path.join(BUILD, 'gateway', 'harness'), os.path.join(BUILD, 'sdk')]
    env = dict(os.environ, LD_LIBRARY_PATH=':'.join(libs))
    return run(['./' + name + '_test'], cwd, env)


def exports():
    """The library's exported symbols are fngate_test.h's functions, no more, no fewer."""
    lib = os.path.join(BUILD, 'gateway', 'harness', 'libfngate-test.so')
    p = run(['nm', '-D', '--defined-only', lib], '.')
    got = {l.split()[-1].split('@')[0] for l in p.stdout.splitlines() if l.strip()}
    got.discard('FNGATE_TEST_1')
    with open(os.path.join(SOURCE, 'gateway', 'harness', 'fngate_test.h')) as f:
        header = f.read()
    want = set(re.findall(r'^[a-z][^;(]*?\**\b(fng_test_\w+)\(', header, re.M))
    check(p.returncode == 0 and got == want and len(want) > 20,
          'libfngate-test exports exactly the %d functions of fngate_test.h' % len(want),
          'only exported: %s\nonly declared: %s' % (sorted(got - want), sorted(want - got)))


def main():
    exports()
    cwd = tempfile.mkdtemp(prefix='fngate-new-')
    try:
        p = run([BIN, 'new', 'greeter'], cwd)
        check(p.returncode == 0, 'fngate new greeter: exit 0', p.stderr)
        check(sorted(os.listdir(cwd)) == ['greeter.c', 'greeter_test.c'],
              'writes greeter.c and greeter_test.c', os.listdir(cwd))
        check('pkg-config --cflags --libs fngate)' in p.stdout and
              'cc -o greeter_test greeter_test.c $(pkg-config --cflags --libs fngate-test)'
              in p.stdout and './greeter_test' in p.stdout,
              'prints the build line of each and how to run the test', p.stdout)

        err = build(cwd, 'greeter')
        check(err is None, 'both build with cc + pkg-config', err)
        p = run_test(cwd, 'greeter')
        check(p.returncode == 0 and 'not ok' not in p.stdout and '1..6' in p.stdout,
              'the generated test passes (6 checks)', p.stdout + p.stderr)

        # A broken handler: the test must say so.
        with open(os.path.join(cwd, 'greeter.c')) as f:
            src = f.read()
        with open(os.path.join(cwd, 'greeter.c'), 'w') as f:
            f.write(src.replace('"world"', '"nobody"'))
        err = build(cwd, 'greeter')
        p = run_test(cwd, 'greeter')
        check(err is None and p.returncode != 0 and
              'not ok 6 - no name: greets the world' in p.stdout,
              'with a broken handler the generated test fails', p.stdout + p.stderr)
        with open(os.path.join(cwd, 'greeter.c'), 'w') as f:
            f.write(src.replace('return fng_response_json', 'return -1; fng_response_json'))
        err = build(cwd, 'greeter')
        p = run_test(cwd, 'greeter')
        check(err is None and p.returncode != 0 and 'got 502, want 200' in p.stdout,
              'a handler that fails: the test sees the 502', p.stdout + p.stderr)

        # Never over an existing file, and both or neither.
        with open(os.path.join(cwd, 'greeter_test.c')) as f:
            test_src = f.read()
        p = run([BIN, 'new', 'greeter'], cwd)
        check(p.returncode == 1 and 'greeter.c' in p.stderr,
              'again: exit 1, greeter.c exists', p.stderr)
        with open(os.path.join(cwd, 'greeter_test.c')) as f:
            check(f.read() == test_src, 'greeter_test.c untouched')
        os.unlink(os.path.join(cwd, 'greeter.c'))
        p = run([BIN, 'new', 'greeter'], cwd)
        check(p.returncode == 1 and 'greeter_test.c' in p.stderr,
              'only the test exists: exit 1', p.stderr)
        check(not os.path.exists(os.path.join(cwd, 'greeter.c')),
              'and greeter.c is not left behind')
        with open(os.path.join(cwd, 'greeter_test.c')) as f:
            check(f.read() == test_src, 'greeter_test.c untouched')
    finally:
        shutil.rmtree(cwd, ignore_errors=True)
    print('1..%d' % n)
    return 1 if failed else 0


sys.exit(main())
