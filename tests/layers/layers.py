#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The gateway's layers by symbol: no layer's library refers to a function or object that a
higher layer defines, but for the few tables a higher layer fills and a lower one walks
(ALLOWED). The build already refuses a lower layer including a higher one's header
(gateway/meson.build); this test catches the reference that needs no header (a declaration
in a lower header, defined above), which a static link would accept. TAP output.

Usage: layers.py BUILD_DIR NM"""

import os
import subprocess
import sys

# Lowest first, as gateway/meson.build orders them; the test harness (libfngate-test) sits
# on top, beside the command line whose event translation it uses.
LAYERS = ['core', 'config', 'state', 'pipeline', 'http', 'transport', 'ws', 'integration',
          'auth', 'host', 'stages', 'daemon', 'cli', 'harness']
# Registration points: a table the higher layer defines and the lower one reads.
ALLOWED = {
    'fng__stages': 'the stage table (stages/stages.c), run by pipeline/engine.c',
    'fng__nstages': 'its length',
    'fng__conf_modules': 'the config sections (daemon/conf_modules.c), walked by config.c',
}


def symbols(nm, lib):
    out = subprocess.run([nm, '--defined-only', '-g', lib], capture_output=True, text=True,
                         check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if len(l.split()) == 3}
    out = subprocess.run([nm, '-u', lib], capture_output=True, text=True, check=True).stdout
    undefined = {l.split()[-1] for l in out.splitlines() if l.strip() and not l.endswith(':')}
    return defined, undefined


def main():
    build, nm = sys.argv[1], sys.argv[2]
    libs = {}
    for layer in LAYERS:
        path = os.path.join(build, 'gateway', layer, 'libfngate-%s.a' % layer)
        libs[layer] = symbols(nm, path)
    n = 0
    failed = 0
    for i, layer in enumerate(LAYERS):
        _, undefined = libs[layer]
        for above in LAYERS[i + 1:]:
            defined, _ = libs[above]
            n += 1
            bad = sorted(s for s in undefined & defined if s not in ALLOWED)
            if bad:
                failed += 1
                print('not ok %d - %s refers to no symbol of %s' % (n, layer, above))
                for s in bad:
                    print('# %s is defined in %s' % (s, above))
            else:
                print('ok %d - %s refers to no symbol of %s' % (n, layer, above))
    print('1..%d' % n)
    return 1 if failed else 0


sys.exit(main())
