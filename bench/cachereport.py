#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Report of bench/cache.sh: `cachereport.py RESULTS_DIR [--write docs/BENCHMARKS.md]`.

Hit vs mock: per variant (mock route on a stage without a cache, cache hit of a function
route, mock route with the route's cache off on the cached stage) the median over the rounds of
req/s, p50, p99 and server CPU per request, and the ratio to mock req/s within each round
(median, min-max). admin-main.json must show one miss only (the check's): else a hit run
was not all hits.

Thundering herd: per run (herd-NAME.txt, h2load's output; access.log, the herd daemon's
`path, status, integrationLatencyUs, integrationStatus` lines), the requests answered, their
status codes, the invocations (lines with an integrationStatus: the function ran and answered)
and, cached, the invocations per refresh period (TTL + the function's run time), with the
stage's `/@cache` counters (admin-herd.json). A hand-written block between the keep markers
survives a rewrite.
"""
import collections
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import (NOISY_PCT, fmt_int, fmt_ms, fmt_pct, fmt_us, median, medians_against,  # noqa: E402
                    notes_and_rounds, read_rounds, response_block, section_main)

BEGIN = "<!-- cache:begin -->"
END = "<!-- cache:end -->"
KEEP = ("<!-- cache:notes:begin -->", "<!-- cache:notes:end -->")
TARGET = 0.95
BASE = "mock"
LABELS = {
    "mock": "mock route, stage without a cache",
    "hit": "**function route, cache hit**",
    "bypass": "mock route on the cached stage, route cache off (`bypass`)",
}
HERD_LABELS = {"cached": "cached (`ttl_s: %s`)", "nocache": "route cache off (`enabled: false`)"}


def parse_h2load(path):
    """finished in S s, R req/s; requests done; status code classes."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    m = re.search(r"finished in ([0-9.]+)s, ([0-9.]+) req/s", text)
    if m:
        out["secs"], out["rps"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    if m:
        out.update(zip(("total", "started", "done", "ok", "failed", "errored", "timeout"),
                       map(int, m.groups())))
    return out


def read_access(path):
    """path -> {"lines", "status": Counter, "ran", "ran_status": Counter}"""
    per = collections.defaultdict(lambda: {"lines": 0, "status": collections.Counter(),
                                           "ran": 0})
    if not os.path.exists(path):
        return per
    with open(path, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            p = per[o["path"]]
            p["lines"] += 1
            p["status"][o["status"]] += 1
            if o.get("integrationStatus") not in (None, ""):
                p["ran"] += 1
    return per


def admin_stage(path, stage):
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        for s in json.load(f).get("stages", []):
            if s.get("stage") == stage:
                return s
    return None


def build(results):
    meta, variants, rounds, runs, errors = read_rounds(results)
    med, used = medians_against(runs, rounds, variants, BASE)

    main = admin_stage(os.path.join(results, "admin-main.json"), "cached")
    if main is None:
        errors.append("admin-main.json: no counters of stage cached")
    elif main["misses"] != 1:
        errors.append("stage cached: %d misses, not 1: the hit runs were not all hits"
                      % main["misses"])

    out = [BEGIN, "## Response cache: a cache hit vs a mock route, and a thundering herd", ""]
    out.append("Measured %s with `%s`: %s, one daemon, wrk `-t%s -c%s -d%ss --latency`, %d "
               "rounds with the order rotating, each variant after a %ss warm-up run; %s vCPU "
               "(%s), revision %s. The function (bench/cache_fn.c, built with cc + pkg-config "
               "as a user builds a handler) answers the same %s-byte JSON body as the mock "
               "route; its stage has `cache: { ttl_s: 3600 }` and its one key was stored "
               "before the runs, so every request of the `hit` runs is answered from the cache "
               "(checked: `x-cache: hit` and the body before, one miss in all in `/@cache` "
               "after). No access log." % (
                   meta.get("date"), meta.get("command"), meta.get("buildtype"),
                   meta.get("threads"), meta.get("conns"), meta.get("duration"), rounds,
                   meta.get("warmup"), meta.get("nproc"), meta.get("cpu"), meta.get("git"),
                   meta.get("body_bytes")))
    out.append("")
    out.append("| variant | rounds | req/s | × mock (min-max) | p50 ms | p99 ms "
               "| server CPU µs/req | other load |")
    out.append("|---|---|---|---|---|---|---|---|")
    for v in variants:
        m = med[v]
        ratios = m["ratios"]
        mark = ""
        if v == "hit" and ratios:
            mark = " ✓" if median(ratios) >= TARGET else " ✗"
        out.append("| %s | %s | %s | %s%s | %s | %s | %s | %s |" % (
            LABELS.get(v, v), ",".join(map(str, used[v])), fmt_int(m["rps"]),
            "—" if v == BASE else
            "%.2f (%.2f-%.2f)" % (median(ratios), min(ratios), max(ratios)) if ratios else "n/a",
            mark, fmt_ms(m["p50"]), fmt_ms(m["p99"]), fmt_us(m["cpu_us"]),
            fmt_pct(m["other"])))
    out.append("")
    out.append("Medians over the rounds listed: those in which neither the variant nor mock "
               "ran beside more than %d%% of other load (all rounds when none did). Target: a "
               "hit ≥ %.2f× mock req/s (✓ met, ✗ not met, by the req/s ratio within each "
               "round)." % (NOISY_PCT, TARGET))
    sizes = []
    for v, path in (("mock", "/plain/m"), ("hit", "/cached/fast"), ("bypass", "/cached/mb")):
        b = response_block(os.path.join(results, "response-%s.txt" % path.replace("/", "_")))
        if b:
            extra = [ln.split(":", 1)[0] for ln in b[0].split("\n")[1:]
                     if ln.split(":", 1)[0].lower() in ("x-cache", "age",
                                                         "x-fngate-function-version")]
            sizes.append("%s %d + %d%s" % (v, b[1], b[2], " (%s)" % ", ".join(
                "`%s`" % e for e in extra) if extra else ""))
    if sizes:
        out.append("")
        out.append("Answer bytes, headers + body (a `Connection: close` request's, before the "
                   "runs): %s." % "; ".join(sizes))
    if main is not None:
        out.append("")
        out.append("`/@cache`, stage `cached`, after the runs: %s hits, %s miss, %s bypass "
                   "(the `bypass` variant's requests), %s stored." % (
                       fmt_int(main["hits"]), main["misses"], fmt_int(main["bypass"]),
                       main["stored"]))
    out.append("")

    # ---- the herd ----
    ttl = int(meta.get("herd_ttl", "1"))
    sleep_ms = int(meta.get("herd_sleep_ms", "200"))
    conc = meta.get("herd_concurrency")
    period = ttl + sleep_ms / 1000.0
    access = read_access(os.path.join(results, "access.log"))
    paths = dict(x.split(":", 1) for x in meta.get("herd_paths", "").split())
    out.append("### Thundering herd: %s clients on one key" % meta.get("herd_clients"))
    out.append("")
    out.append("A second daemon, with an access log (`path, status, integrationLatencyUs, "
               "integrationStatus`), serves the same handler built to sleep %d ms "
               "(`concurrency: %s`: %s workers) on a stage with `cache: { ttl_s: %d }`. h2load "
               "(`--h1 -c %s -t 1 -D %s`) keeps %s keep-alive connections asking for one key "
               "(`GET /herd/slow`), each sending its next request as soon as it has an answer, "
               "for %s s, across several expiries; then the same on a route of the stage with "
               "`cache: { enabled: false }` (`GET /herd/slownc`, same function). Requests are "
               "the access log's lines of the path (those h2load left unanswered at its stop "
               "too, as 499), invocations those with an "
               "`integrationStatus` (the function ran and answered). Expected with the cache: "
               "one invocation per refresh period, TTL + the function's %d ms (the entry is "
               "stored when the invocation ends and is fresh for the TTL from then), "
               "⌈seconds / %.1f⌉ in all." % (
                   sleep_ms, conc, conc, ttl, meta.get("herd_clients"),
                   meta.get("herd_seconds"), meta.get("herd_clients"), meta.get("herd_seconds"),
                   sleep_ms, period))
    out.append("")
    out.append("| run | seconds | requests | req/s | status codes | invocations "
               "| expected | invocations per period | requests per invocation |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for name in ("cached", "nocache"):
        h = parse_h2load(os.path.join(results, "herd-%s.txt" % name))
        a = access.get(paths.get(name))
        if not h or "secs" not in h or a is None:
            errors.append("herd %s: no h2load result or no access log lines" % name)
            continue
        secs = h["secs"]
        codes = ", ".join("%s × %s" % (fmt_int(n), s) for s, n in sorted(a["status"].items()))
        if name == "cached":
            expected = math.ceil(secs / period)
            exp = "%d" % expected
            per = "%.2f" % (a["ran"] / (secs / period))
            if not a["ran"]:
                errors.append("herd cached: no invocation in the access log")
            if set(a["status"]) != {200}:
                errors.append("herd cached: answers other than 200: %s" % codes)
        else:
            # at most concurrency workers, each one invocation per sleep
            exp = "≤ %d (%s workers × %.0f/s)" % (int(conc) * secs * 1000 // sleep_ms, conc,
                                                   1000 / sleep_ms)
            per = "—"
        out.append("| %s | %.2f | %s | %s | %s | %s | %s | %s | %s |" % (
            HERD_LABELS[name] % ttl if "%" in HERD_LABELS[name] else HERD_LABELS[name],
            secs, fmt_int(a["lines"]), fmt_int(a["lines"] / secs), codes, fmt_int(a["ran"]),
            exp, per, fmt_int(a["lines"] / a["ran"]) if a["ran"] else "n/a"))
    out.append("")
    herd = admin_stage(os.path.join(results, "admin-herd.json"), "herd")
    if herd is None:
        errors.append("admin-herd.json: no counters of stage herd")
    else:
        out.append("`/@cache`, stage `herd`, after both runs: %s hits, %s misses, %s "
                   "coalesced, %s stale, %s stored, %s bypass (the uncached route's "
                   "requests). A miss is a leader (it ran the function); a coalesced request "
                   "waited for a leader's answer and got it with `x-cache: hit`, and is not "
                   "among the hits." % (
                       fmt_int(herd["hits"]), fmt_int(herd["misses"]),
                       fmt_int(herd["coalesced"]), fmt_int(herd["stale"]),
                       fmt_int(herd["stored"]), fmt_int(herd["bypass"])))
        out.append("")
        out.append("Status 499: a request whose client left (h2load stopping with requests "
                   "queued); 429: refused at once by the function's admission "
                   "(docs/config.md, \"Admission and deadlines\").")
        out.append("")
    notes_and_rounds(out, KEEP, END, runs, rounds, variants)
    return "\n".join(out) + "\n", errors


if __name__ == "__main__":
    sys.exit(section_main(sys.argv, "cachereport.py", __doc__, build, (BEGIN, END), keep=KEEP))
