"""Print the runtime conformance comparison written by runtime_tools.sh.

    python3 scripts/conformance/report.py RESULTS_DIR [--json]
    python3 scripts/conformance/report.py --verdict TAP_FILE EXIT_STATUS   (one test's verdict)

RESULTS_DIR holds one ``<runtime>.tsv`` per runtime (test, pass|fail, exit status, reason).
Prints a table test x runtime, the totals, and the tests runc passes but pyrunc fails (with
the reason). Exit status 0 when there is no such test, 1 otherwise.
"""
from __future__ import annotations

import json
import os
import sys

ORDER = ["runc", "pyrunc"]


def verdict(tap: str, rc: int) -> tuple[str, str]:
    """Classify one test's TAP output and exit status: ("pass"|"fail"|"skip", reason).

    A pass needs exit status 0 and no "not ok" (a test without any test point reports only
    failures: exit status 0 and silence is its success). runtime-tools' tests also
    report some failures only as a YAML block with an "error" key (the hook tests print no
    test point at all); the same key is a plain diagnostic when it follows an "ok" (an error
    that was expected, such as ``kill`` without an ID). So an "error" counts as a failure
    unless the block belongs to an "ok" line. A run whose every point is "# SKIP" is a skip.
    """
    if rc in (124, 137):
        return "fail", "timeout"
    last = ""          # "ok" / "not ok" of the test point the current YAML block belongs to
    in_yaml = False
    points = skips = 0
    first_bad = ""
    for line in tap.splitlines():
        if line.startswith("ok ") or line.startswith("not ok "):
            points += 1
            last = "ok" if line.startswith("ok ") else "not ok"
            if "# SKIP" in line or "# skip" in line:
                skips += 1
            if last == "not ok" and not first_bad:
                first_bad = line
            in_yaml = False
        elif line.strip() == "---":
            in_yaml = True
        elif line.strip() == "...":
            in_yaml = False
            last = ""  # one block per test point: a second one belongs to nothing
        elif in_yaml and line.strip().startswith('"error":') and not first_bad:
            if last != "ok" and line.split(":", 1)[1].strip() not in ('""', '"",'):
                first_bad = line.strip()
    if first_bad:
        return "fail", first_bad[:300]
    if rc != 0:
        return "fail", f"exit status {rc}"
    if points == 0:
        # some upstream tests have no test point: the hook tests print an "error" block when
        # something is wrong and only the empty plan when all went well; the *_fail tests
        # print nothing at all and exit 0 when the runtime refused the config, 1 when not
        return "pass", "no test point: the test reports only failures"
    if skips == points:
        return "skip", "every test point skipped"
    return "pass", ""


def load(results: str) -> dict[str, dict[str, tuple[str, str]]]:
    """Return {runtime: {test: (verdict, reason)}}."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for name in sorted(os.listdir(results)):
        if not name.endswith(".tsv"):
            continue
        rows: dict[str, tuple[str, str]] = {}
        with open(os.path.join(results, name)) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 2:
                    rows[parts[0]] = (parts[1], parts[3] if len(parts) > 3 else "")
        out[name[:-4]] = rows
    return out


def regressions(data: dict[str, dict[str, tuple[str, str]]], base: str = "runc",
                other: str = "pyrunc") -> list[tuple[str, str]]:
    """Tests ``base`` passes and ``other`` fails (or did not run), with other's reason."""
    b, o = data.get(base, {}), data.get(other, {})
    return [(t, o.get(t, ("missing", "not run"))[1] or o.get(t, ("missing", ""))[0])
            for t in sorted(b) if b[t][0] == "pass" and o.get(t, ("missing", ""))[0] != "pass"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    if argv[0] == "--verdict":
        with open(argv[1], errors="replace") as f:
            v, why = verdict(f.read(), int(argv[2]))
        print(f"{v}\t{why}".replace("\n", " "))
        return 0
    results = argv[0]
    data = load(results)
    runtimes = [r for r in ORDER if r in data] + [r for r in data if r not in ORDER]
    tests = sorted({t for rows in data.values() for t in rows})
    regs = regressions(data)
    if "--json" in argv:
        print(json.dumps({"runtimes": {r: {t: v[0] for t, v in data[r].items()} for r in runtimes},
                          "regressions": dict(regs)}, indent=1))
        return 1 if regs else 0
    suite = ""
    if os.path.exists(os.path.join(results, "suite")):
        suite = open(os.path.join(results, "suite")).read().strip()
    width = max([len(t) for t in tests] + [4])
    print(f"runtime conformance ({suite or 'unknown suite'}), results in {results}")
    print(f"{'test':<{width}}  " + "  ".join(f"{r:<6}" for r in runtimes) + "  note")
    print("-" * (width + 8 * len(runtimes) + 6))
    regset = {t for t, _ in regs}
    for t in tests:
        cells = [data[r].get(t, ("-", ""))[0] for r in runtimes]
        note = ""
        if t in regset:
            note = "<< runc passes, pyrunc fails"
        elif len(cells) == 2 and cells[0] != "pass" and cells[1] == "pass":
            note = "(pyrunc passes, runc fails)"
        print(f"{t:<{width}}  " + "  ".join(f"{c:<6}" for c in cells) + f"  {note}".rstrip())
    print()
    for r in runtimes:
        passed = sum(1 for v in data[r].values() if v[0] == "pass")
        print(f"{r}: {passed}/{len(data[r])} passed")
    if regs:
        print(f"\n{len(regs)} test(s) runc passes and pyrunc fails:")
        for t, reason in regs:
            print(f"  {t}: {reason}")
    else:
        print("\npyrunc passes every test runc passes")
    return 1 if regs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
