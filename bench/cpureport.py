#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the raw results of bench/cpu_isolation.sh into the cpu section of docs/BENCHMARKS.md.

    cpureport.py RESULTS_DIR                 print the section on stdout
    cpureport.py RESULTS_DIR --write DOC     also replace the cpu section of DOC

The section sits between <!-- cpu:begin --> and <!-- cpu:end -->; the hand-written analysis
between <!-- cpu-analysis:begin --> and <!-- cpu-analysis:end --> is kept when the section is
rewritten (read it again against the new numbers).

RESULTS_DIR holds meta.txt, wrk/cCONNS/ROUND-CASE.txt (wrk --latency output, with .cpu from
bench/fnwrk.py) for CASE in alone, attack, attack-off, alone-off, and
evidence-CASE-cCONNS-ROUND.txt (the attacker's workers: cgroup, nice, cpu.shares). Exits
non-zero (after printing) when a run is unusable: wrk errors, or an attack run whose
attacker was not spinning on every worker to the end.
"""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fnreport import NOISY_PCT, fmt_r, load_runs, med, used_rounds  # noqa: E402
from report import fmt_int, fmt_ms, fmt_pct, read_kv, section_main  # noqa: E402

BEGIN = "<!-- cpu:begin -->"
END = "<!-- cpu:end -->"
ABEGIN = "<!-- cpu-analysis:begin -->"
AEND = "<!-- cpu-analysis:end -->"
TARGET = 2.0

CASES = [
    ("alone", "alone (isolation on, the default)"),
    ("attack", "**attacker spinning, isolation on**"),
    ("attack-off", "attacker spinning, isolation off (`cpu_isolation: false`: before issue 9)"),
    ("alone-off", "alone, isolation off"),
]


def evidence(results, case, conns):
    """The first evidence file of case at conns, as text lines."""
    paths = sorted(glob.glob(os.path.join(results, "evidence-%s-c%s-*.txt" % (case, conns))))
    if not paths:
        return []
    with open(paths[0]) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def build(results):
    meta = read_kv(os.path.join(results, "meta.txt"))
    rounds = int(meta.get("rounds", "0"))
    conns_list = meta.get("conns", "1").split()
    attackers = int(meta.get("attackers", "2"))
    names = [c for c, _ in CASES]
    errors, tables, every = [], [], []
    verdicts = []
    for conns in conns_list:
        runs, errs = load_runs(results, conns, names, rounds)
        errors += errs
        for r in range(1, rounds + 1):
            for n in ("attack", "attack-off"):
                w = runs[n][r - 1]
                cpu = read_kv(os.path.join(results, "wrk", "c%s" % conns, "%d-%s.txt.cpu" % (r, n)))
                if w and int(cpu.get("spinning", "0")) < attackers:
                    errors.append("c%s round %d %s: %s of %d attacker workers still spinning at "
                                  "the end" % (conns, r, n, cpu.get("spinning", "?"), attackers))
        used, noisy = used_rounds(runs, rounds)
        m = {n: {k: med(runs, n, k, used) for k in ("p50", "p99", "rps", "other")} for n in names}
        tables.append((conns, used, noisy, m))
        a = m["attack"]["p99"]
        b = m["alone"]["p99"]
        if a is not None and b:
            verdicts.append("%s connection%s: %.2f× (%s)" % (
                conns, "" if conns == "1" else "s", a / b, "met" if a / b <= TARGET else
                "**not met**"))
        for r in range(1, rounds + 1):
            for n in names:
                w = runs[n][r - 1]
                if w:
                    cpu = read_kv(os.path.join(results, "wrk", "c%s" % conns,
                                               "%d-%s.txt.cpu" % (r, n)))
                    every.append((r, conns, n, w, cpu.get("spinning", "")))

    out = []
    w = out.append
    w(BEGIN)
    w("## CPU isolation: a function spinning on every worker it has, beside another (issue 9)")
    w("")
    w("Measured %s with `%s`." % (meta.get("date", "?"), meta.get("command", "?")))
    w("")
    w("- Machine: %s vCPU (`nproc`), %s, Linux %s; load average (1, 5, 15 min) %s before, "
      "%s after. A shared VM: other sessions' work shows as *other load* below; tail latency "
      "here moves with it, so compare within a round and read the medians." % (
          meta.get("nproc", "?"), meta.get("cpu", "?"), meta.get("kernel", "?"),
          meta.get("load_before", "?"), meta.get("load_after", "?")))
    w("- fngate: %s (git %s), build type `%s`. Sandbox as logged at start: %s." % (
        meta.get("fngate_bin", "?"), meta.get("git", "?"), meta.get("buildtype", "?"),
        meta.get("sandbox", "?")))
    w("- Victim: `examples/hello` (`GET /prod/hello/world`, the default pool of 2 workers) "
      "under wrk %s, `wrk -t1 -cN -d%ss --latency` after a 2 s warm-up, N in the table%s." % (
          meta.get("wrk", "?"), meta.get("duration", "?"),
          "; wrk runs in the gateway's cpu cgroup (`.../fngate-<pid>/active/gateway`, where the "
          "supervisor puts the gateway in both configurations), standing in for a client on "
          "another machine, which a spinning worker cannot delay"
          if meta.get("client_cg") == "1" else "; wrk is a plain process"))
    w("- Attacker: `bench/cpu_spin.c`, `concurrency: %d`, with %d requests in flight for the "
      "whole run (each spins until its 120 s deadline): every worker it has spins, from "
      "before the victim's run starts to after it ends." % (attackers, attackers))
    w("- Each case on a fresh fngate; within a round the cases alternate, the order reversed "
      "every other round. Isolation off is `functions: { cpu_isolation: false }`: no cpu "
      "cgroup, no nice, the workers compete as ordinary processes, as before issue 9.")
    w("")
    w("### Victim latency (median of the rounds)")
    w("")
    w("| victim load | case | p50 (ms) | p99 (ms) | p50 / alone | p99 / alone | victim req/s "
      "| rounds used |")
    w("|---|---|---:|---:|---:|---:|---:|---|")
    for conns, used, noisy, m in tables:
        for n, label in CASES:
            w("| %s conn. | %s | %s | %s | %s | %s | %s | %s |" % (
                conns, label, fmt_ms(m[n]["p50"]), fmt_ms(m[n]["p99"]),
                fmt_r(m[n]["p50"], m["alone"]["p50"]), fmt_r(m[n]["p99"], m["alone"]["p99"]),
                fmt_int(m[n]["rps"]), ", ".join(map(str, used)) + (
                    " (%s noisy)" % ", ".join(map(str, noisy)) if noisy else "")))
    w("")
    w("Target: the victim's p99 with the attacker spinning, isolation on, at most %.0f× its "
      "p99 alone: %s. A round is left out of the medians (\"noisy\") when, in any of its "
      "runs, processes other than wrk and this fngate used more than %d%% of the machine; "
      "when every round was noisy, all are used." % (TARGET, "; ".join(verdicts) or "n/a",
                                                     NOISY_PCT))
    w("")
    for conns in conns_list[:1]:
        for case, what in (("attack", "isolation on"), ("attack-off", "isolation off")):
            ev = evidence(results, case, conns)
            if ev:
                w("The attacker's workers during a run, %s (from `/proc/PID/cgroup`, "
                  "`/proc/PID/stat` and the cgroup's files; an idle cgroup shows "
                  "`cpu.shares` 3):" % what)
                w("")
                w("```")
                out.extend(ev)
                w("```")
                w("")
    w(ABEGIN)
    w("(analysis: to be written against these numbers)")
    w(AEND)
    w("")
    w("### Every run")
    w("")
    w("| round | conns | case | p50 (ms) | p99 (ms) | req/s | non-2xx | other load | "
      "attacker workers spinning at the end |")
    w("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r, conns, n, x, spinning in every:
        w("| %d | %s | %s | %s | %s | %s | %d | %s | %s |" % (
            r, conns, n, fmt_ms(x["p50"]), fmt_ms(x["p99"]), fmt_int(x["rps"]), x["non2xx"],
            fmt_pct(x["other"]), spinning or "-"))
    w("")
    w(END)
    return "\n".join(out) + "\n", errors


def main(argv):
    return section_main(argv, "cpureport", __doc__, build, (BEGIN, END), keep=(ABEGIN, AEND))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
