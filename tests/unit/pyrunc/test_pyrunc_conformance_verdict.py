"""How scripts/conformance/report.py reads runtime-tools' TAP output (pass/fail/skip)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("conformance_report",
                                               REPO / "scripts" / "conformance" / "report.py")
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)

EXPECTED_ERROR = """TAP version 13
ok 1 - `kill` operation MUST generate an error if it is not provided the container ID
  ---
  {
    "error": "exit status 1",
    "reference": "https://github.com/opencontainers/runtime-spec/blob/v1.3.0/runtime.md#kill"
  }
  ...
ok 2 - `kill` operation MUST send the specified signal to the container process
1..2
"""

HOOK_FAILURE = """TAP version 13
  ---
  {
    "error": "Pre-start hooks MUST be called after the `start` operation is called"
  }
  ...
1..0
"""


def test_error_diagnostic_of_a_passing_point_is_not_a_failure():
    assert report.verdict(EXPECTED_ERROR, 0) == ("pass", "")


def test_error_block_without_a_point_is_a_failure():
    v, why = report.verdict(HOOK_FAILURE, 0)
    assert v == "fail" and "Pre-start hooks" in why


def test_tests_that_only_report_failures_pass_silently():
    assert report.verdict("TAP version 13\n1..0\n", 0)[0] == "pass"   # hook tests
    assert report.verdict("", 0)[0] == "pass"                         # *_fail tests
    assert report.verdict("", 1) == ("fail", "exit status 1")


def test_not_ok_exit_status_timeout_and_skip():
    assert report.verdict("ok 1 - a\nnot ok 2 - b\n1..2\n", 0) == ("fail", "not ok 2 - b")
    assert report.verdict("ok 1 - a\n1..1\n", 1)[0] == "fail"
    assert report.verdict("", 124) == ("fail", "timeout")
    assert report.verdict("1..1\nok 1 # SKIP no AppArmor\n", 0)[0] == "skip"


def test_second_block_after_a_point_belongs_to_nothing():
    late = '  ---\n  {\n    "error": "late"\n  }\n  ...\n'
    tap = EXPECTED_ERROR.replace("ok 2 -", late + "ok 2 -")
    assert report.verdict(tap, 0)[0] == "fail"


def test_regressions_are_what_runc_passes_and_pyrunc_does_not():
    data = {"runc": {"a": ("pass", ""), "b": ("fail", "x"), "c": ("pass", "")},
            "pyrunc": {"a": ("pass", ""), "b": ("pass", ""), "c": ("fail", "boom")}}
    assert report.regressions(data) == [("c", "boom")]
