#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs one wrk command and accounts for the CPU time spent meanwhile.

    runwrk.py [--wait-quiet SECONDS] SERVER_PID OUT -- wrk ARGS...

wrk's output goes to OUT; OUT.cpu gets key=value lines: elapsed (s), ncpu, busy (CPU seconds
the whole machine spent outside idle/iowait, from /proc/stat), steal (CPU seconds taken by the
hypervisor), server (utime+stime of SERVER_PID, all threads) and wrk (utime+stime of wrk). On a
shared machine busy - server - wrk is what everything else used during the run: the report
flags rounds where that was large. With --wait-quiet, wrk starts only once the machine has been
less than 10% busy for 2 seconds, or after SECONDS at most (the wait is recorded as `waited`).
"""
import os
import subprocess
import sys
import time

TCK = os.sysconf("SC_CLK_TCK")


def machine():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest is inside user
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy / TCK, v[7] / TCK


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TCK  # utime stime


def wait_quiet(limit):
    """Waits until the machine is under 10% busy over 2 s, at most limit seconds."""
    start = time.monotonic()
    cap = 2 * os.cpu_count()
    while True:
        b0, _ = machine()
        time.sleep(2)
        b1, _ = machine()
        waited = time.monotonic() - start
        if (b1 - b0) * 100 / cap < 10 or waited >= limit:
            return waited


def main(argv):
    quiet = None
    if len(argv) > 2 and argv[1] == "--wait-quiet":
        quiet = float(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) < 5 or argv[3] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    pid, out, cmd = int(argv[1]), argv[2], argv[4:]
    waited = wait_quiet(quiet) if quiet else 0.0
    b0, s0, p0, t0 = *machine(), proc_cpu(pid), time.monotonic()
    with open(out, "wb") as f:
        child = subprocess.Popen(cmd, stdout=f)
        _, status, ru = os.wait4(child.pid, 0)
    t1 = time.monotonic()
    b1, s1 = machine()
    p1 = proc_cpu(pid)
    with open(out + ".cpu", "w") as f:
        f.write("elapsed=%.3f\nncpu=%d\nbusy=%.2f\nsteal=%.2f\nserver=%.2f\nwrk=%.2f\nwaited=%.1f\n" % (
            t1 - t0, os.cpu_count(), b1 - b0, s1 - s0, p1 - p0, ru.ru_utime + ru.ru_stime, waited))
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
