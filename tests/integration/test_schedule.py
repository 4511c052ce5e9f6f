#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Scheduled invocations through a real daemon: a schedule every 100 ms (the shortest allowed) invoking the test handler
`ok` for a few seconds, read back from the access log. Every tick's line must carry the
handler's status (200, not 499: no client can leave a tick) and its own latency, which must not
grow from tick to tick (it grew with every tick while the invocation waited, in a sleeping
loop, for whatever timer came next). The bounds are loose sanity bounds, not targets. TAP output.

Environment: FNGATE_BIN, FNGATE_TEST_FUNCTIONS (tests/functions in the build tree)."""

import statistics
import time

from lib import SLOW, Daemon, FnDir, Tap, check, diag, eq, test_so, wait_deployed

tap = Tap(budget=60, needs_workers=True)
EVERY_MS = 100
RUN_S = 5.0


def config(fn_dir):
    return '\n'.join([
        'server: { listen: ["127.0.0.1:0"] }',
        'access_log: { path: "@TMP@/access.log", fields: [path, status, latencyUs, '
        'integrationLatencyUs, integrationStatus] }',
        'functions: { dir: "%s" }' % fn_dir,
        'schedules:',
        '  tick: { function: ok, every_ms: %d }' % EVERY_MS,
        'apis:',
        '  a:',
        '    stages: { s: {} }',
        '    routes:',
        '      "GET /": { integration: { type: mock, body: "x" } }',
    ]) + '\n'


@tap.case('schedules: every tick logs the handler\'s status (200) and a latency that does not '
          'drift over %d ticks' % int(RUN_S * 1000 / EVERY_MS))
def _():
    fns = FnDir()
    tap.on_exit(fns.cleanup)
    fns.install('ok', test_so('ok'))
    with Daemon(config(fns.path)) as d:
        wait_deployed(d, ['ok'], 0)
        # Ticks that came before the function was deployed were rightly answered 503.
        early = len([e for e in d.access_entries() if e.get('path') == '/tick'])
        time.sleep(RUN_S)
        ticks = [e for e in d.access_entries() if e.get('path') == '/tick'][early + 1:]
    want = RUN_S * 1000 / EVERY_MS
    check(len(ticks) >= want / 3, '%d ticks logged in %.1f s (every %d ms)'
          % (len(ticks), RUN_S, EVERY_MS))
    statuses = sorted({(e.get('status'), e.get('integrationStatus')) for e in ticks})
    eq(statuses, [(200, '200')], 'status and integration status of every tick')
    lat = [e['latencyUs'] for e in ticks]
    check(all(isinstance(v, int) and v >= 0 for v in lat), 'latencies are numbers')
    # The first ticks may meet a worker that is still starting: compare ticks 3-12 with the
    # last ten.
    first = statistics.median(lat[2:12])
    last = statistics.median(lat[-10:])
    diag('latency median, ticks 3-12: %d us; last 10: %d us' % (first, last))
    check(last <= first + 3000 * SLOW,
          'latency does not drift: last ticks %d us, early ticks %d us' % (last, first))
    check(max(lat[2:]) < 500000 * SLOW, 'no tick waits (max %d us)' % max(lat[2:]))


if __name__ == '__main__':
    tap.run()
