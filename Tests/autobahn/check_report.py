#!/usr/bin/env python3
"""Check an Autobahn TestSuite (fuzzingclient) report: OUTDIR/index.json.

Prints one summary line per section (case counts by behavior), then every bad
case, and exits 1 if there is any bad case, or no case at all (or fewer than
--expect-cases). A case is bad when its `behavior` is not OK, NON-STRICT or
INFORMATIONAL (UNIMPLEMENTED is allowed only for case ids starting with an
--allow-unimplemented prefix, e.g. "12." "13."), or when its `behaviorClose`
is not OK or INFORMATIONAL. Python 3, stdlib only.
"""
import argparse
import collections
import json
import os
import sys

GOOD_BEHAVIOR = {"OK", "NON-STRICT", "INFORMATIONAL"}
GOOD_CLOSE = {"OK", "INFORMATIONAL"}


def case_key(case_id):
    # "12.1.10" sorts after "12.1.9" and "2.1".
    return tuple(int(p) if p.isdigit() else 0 for p in case_id.split("."))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--allow-unimplemented", action="extend", nargs="+", default=[],
                    metavar="PREFIX",
                    help="case id prefixes for which UNIMPLEMENTED is accepted")
    ap.add_argument("--expect-cases", type=int, default=0, metavar="N",
                    help="fail if the report holds fewer than N cases")
    args = ap.parse_args()

    path = os.path.join(args.outdir, "index.json")
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print("check_report: cannot read %s: %s" % (path, e), file=sys.stderr)
        return 1

    sections = collections.defaultdict(collections.Counter)
    bad = []
    total = 0
    for agent in sorted(index):
        for case_id in sorted(index[agent], key=case_key):
            c = index[agent][case_id]
            total += 1
            behavior, close = c.get("behavior"), c.get("behaviorClose")
            sections[case_id.split(".")[0]][behavior] += 1
            ok = behavior in GOOD_BEHAVIOR or (
                behavior == "UNIMPLEMENTED"
                and any(case_id.startswith(p) for p in args.allow_unimplemented))
            if not ok or close not in GOOD_CLOSE:
                bad.append("  %s %s: behavior=%s behaviorClose=%s remoteCloseCode=%s (%s)" % (
                    agent, case_id, behavior, close, c.get("remoteCloseCode"),
                    c.get("reportfile")))

    for section in sorted(sections, key=case_key):
        counts = sections[section]
        print("section %-3s %4d cases: %s" % (section, sum(counts.values()), ", ".join(
            "%s=%d" % (b, n) for b, n in sorted(counts.items()))))
    if bad:
        print("%d bad case(s) (details in %s/<reportfile>):" % (len(bad), args.outdir))
        print("\n".join(bad))
    if total == 0 or total < args.expect_cases:
        print("check_report: %d case(s) in report, expected %s" % (
            total, args.expect_cases or "at least 1"))
        return 1
    print("autobahn: %d passed, %d failed" % (total - len(bad), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
