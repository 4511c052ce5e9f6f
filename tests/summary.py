#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reads meson's testlog.json from each build directory given and prints one line,
"N passed, N failed", counting TAP subtests (each `ok`/`not ok` line) where a test speaks
TAP and the test itself otherwise. Exits 1 if anything failed or no test ran."""
import json
import os
import re
import sys

passed = failed = skipped = 0
failures = []
for build in sys.argv[1:]:
    path = os.path.join(build, "meson-logs", "testlog.json")
    if not os.path.exists(path):
        print(f"summary: {path} missing: the {build} suite did not run", file=sys.stderr)
        failed += 1
        failures.append(f"{build}: no test log")
        continue
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            out = t.get("stdout") or ""
            oks = re.findall(r"^(not ok|ok)\b(.*)$((?:\n#.*)*)", out, re.M)
            result = t.get("result")
            if oks:
                for status, rest, diag in oks:
                    if "# SKIP" in rest:
                        skipped += 1
                    elif status == "ok":
                        passed += 1
                    else:
                        failed += 1
                        # The case's own diagnostics (the lines that say why), bounded.
                        why = [ln for ln in diag.split("\n") if ln.strip("# ")][:12]
                        failures.append(f"{build}: {t['name']}: {rest.strip()}" +
                                        "".join("\n    " + ln for ln in why))
                if result not in ("OK", "EXPECTEDFAIL", "SKIP"):
                    # A TAP test that crashed or timed out after its last line.
                    failed += 1
                    failures.append(f"{build}: {t['name']}: {result}")
            elif result == "SKIP":
                skipped += 1
            elif result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            else:
                failed += 1
                failures.append(f"{build}: {t['name']}: {result}")

for f in failures:
    print("FAILED:", f)
tail = f", {skipped} skipped" if skipped else ""
print(f"{passed} passed, {failed} failed{tail}")
sys.exit(1 if failed or passed == 0 else 0)
