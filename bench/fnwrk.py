#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs one wrk command and accounts for the CPU time of a whole server process tree.

    fnwrk.py [--wait-quiet SECONDS] PID[,PID...] OUT -- wrk ARGS...

bench/runwrk.py for servers made of several processes: the fngate gateway with its
supervisor and function workers, nginx with its FastCGI processes. OUT gets wrk's output;
OUT.cpu the same key=value lines as runwrk.py (elapsed, ncpu, busy, steal, server, wrk,
waited), so bench/report.py's parsers read it, where `server` is the CPU time (user+system) of
every PID given and all their descendants, including the descendants that exited and were
reaped meanwhile (their parent's cutime/cstime): a function worker recycled or crashed during
the run is still counted, through the supervisor that reaped it.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runwrk  # noqa: E402  (machine(), wait_quiet(), TCK)


def stat(pid):
    """(ppid, utime+stime+cutime+cstime in seconds) of pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is the state: ppid is fields[1], utime..cstime are fields[11..14]
    return int(fields[1]), sum(int(x) for x in fields[11:15]) / runwrk.TCK


def tree_cpu(roots):
    """CPU seconds of the roots and all their descendants (live ones; reaped ones through
    their parents' cutime/cstime)."""
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            s = stat(int(name))
            if s:
                procs[int(name)] = s
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo, total = set(), list(roots), 0.0
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in procs:
            continue
        seen.add(pid)
        total += procs[pid][1]
        todo += children.get(pid, [])
    return total


def main(argv):
    quiet = None
    if len(argv) > 2 and argv[1] == "--wait-quiet":
        quiet = float(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) < 5 or argv[3] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    roots = [int(p) for p in argv[1].split(",") if p]
    out, cmd = argv[2], argv[4:]
    waited = runwrk.wait_quiet(quiet) if quiet else 0.0
    b0, s0 = runwrk.machine()
    p0 = tree_cpu(roots)
    t0 = runwrk.time.monotonic()
    with open(out, "wb") as f:
        child = subprocess.Popen(cmd, stdout=f)
        _, status, ru = os.wait4(child.pid, 0)
    t1 = runwrk.time.monotonic()
    b1, s1 = runwrk.machine()
    p1 = tree_cpu(roots)
    with open(out + ".cpu", "w") as f:
        f.write("elapsed=%.3f\nncpu=%d\nbusy=%.2f\nsteal=%.2f\nserver=%.2f\nwrk=%.2f\nwaited=%.1f\n" % (
            t1 - t0, os.cpu_count(), b1 - b0, s1 - s0, p1 - p0, ru.ru_utime + ru.ru_stime, waited))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
