#!/usr/bin/env python3
"""Reads an Autobahn report and says what passed.

    summary.py REPORT_DIR AGENT SELECTED_CASES_FILE [--strict]

Prints one row per section, every case that was not OK with the suite's
reason, and last the line `autobahn: N passed, M failed`. A case passes when
the suite calls it OK or INFORMATIONAL (the RFC leaves that behaviour open),
and NON-STRICT too unless --strict is given (NON-STRICT is allowed but not
the strictest reading, e.g. invalid UTF-8 noticed at the end of a message
instead of at the first bad byte). UNIMPLEMENTED (a feature declined, such as
permessage-deflate) and FAILED fail, and so does a selected case with no
result at all (the server crashed or hung). Exit status 0 only when nothing
failed.
"""
import json
import os
import sys

SECTIONS = {
    "1": "framing", "2": "ping/pong", "3": "reserved bits", "4": "opcodes",
    "5": "fragmentation", "6": "UTF-8", "7": "closing", "9": "limits",
    "10": "misc", "12": "compression", "13": "compression parameters",
}
COLUMNS = ["OK", "INFORMATIONAL", "NON-STRICT", "UNIMPLEMENTED", "FAILED"]


def main():
    args = [a for a in sys.argv[1:] if a != "--strict"]
    strict = "--strict" in sys.argv[1:]
    report_dir, agent, selected_file = args
    with open(selected_file) as f:
        selected = [line.strip() for line in f if line.strip()]
    try:
        with open(os.path.join(report_dir, "index.json")) as f:
            results = json.load(f).get(agent, {})
    except (OSError, ValueError):
        results = {}

    passing = {"OK", "INFORMATIONAL"} | (set() if strict else {"NON-STRICT"})
    rows = {}
    problems = []
    for case in selected:
        result = results.get(case)
        status = result.get("behavior", "FAILED") if result else "NO RESULT"
        column = status if status in COLUMNS else "FAILED"
        row = rows.setdefault(case.split(".")[0], dict.fromkeys(COLUMNS, 0))
        row[column] += 1
        if status != "OK":
            problems.append((case, status, result))

    line = "%-28s %6s" + " %13s" * len(COLUMNS)
    print(line % (("section", "cases") + tuple(COLUMNS)))
    totals = dict.fromkeys(COLUMNS, 0)
    for section in sorted(rows, key=int):
        row = rows[section]
        name = "%s %s" % (section, SECTIONS.get(section, ""))
        print(line % ((name, sum(row.values())) + tuple(row[c] for c in COLUMNS)))
        for c in COLUMNS:
            totals[c] += row[c]
    print(line % (("total", len(selected)) + tuple(totals[c] for c in COLUMNS)))

    for case, status, result in problems:
        why = ""
        if result is None:
            why = "no result: the server crashed, hung or refused (see wstest.log)"
        elif result.get("reportfile"):
            try:
                with open(os.path.join(report_dir, result["reportfile"])) as f:
                    detail = json.load(f)
                why = "%s | close: %s" % (detail.get("result", ""),
                                          detail.get("resultClose", ""))
            except (OSError, ValueError):
                pass
        print("  %-9s %-13s %s" % (case, status, " ".join(why.split())))

    passed = sum(totals[c] for c in COLUMNS if c in passing)
    failed = len(selected) - passed
    print("autobahn: %d passed, %d failed%s" % (passed, failed,
                                                 " (strict)" if strict else ""))
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
