"""pyrunc vs runc on the same busybox bundle with `true` as the process.

  sudo .venv/bin/python benchmarks/bench_runtime.py [--runs 20]

Measures `run` wall time, and the shim's sequence create + start + wait + delete (the
benchmark is the subreaper that reaps the init, as containerd's shim is). Alternating runs,
medians, ratios printed. Target (issue 3): run <= 1.0x runc, the shim sequence <= 1.5x.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.common import alternate, arg, loadavg, table  # noqa: E402
from scripts.busybox_rootfs import make_rootfs  # noqa: E402

PYRUNC = str(REPO / "bin" / "pyrunc")
RUNC = shutil.which("runc") or "/usr/sbin/runc"


def make_bundle(base: Path) -> Path:
    bundle = base / "bundle"
    bundle.mkdir()
    make_rootfs(str(bundle / "rootfs"))
    subprocess.run([RUNC, "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    cfg["root"]["readonly"] = True
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle



def main() -> None:
    runs = arg("--runs", 20)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: reap the orphaned inits like a shim
    base = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    try:
        bundle = make_bundle(base)
        roots = {"pyrunc": base / "state-pyrunc", "runc": base / "state-runc"}
        bins = {"pyrunc": PYRUNC, "runc": RUNC}

        def run(rt: str):
            def go():
                cid = "b" + uuid.uuid4().hex[:8]
                cp = subprocess.run([bins[rt], "--root", str(roots[rt]), "run", "--bundle", str(bundle), cid],
                                    stdin=subprocess.DEVNULL, capture_output=True)
                if cp.returncode != 0:
                    raise SystemExit(f"{rt} run failed: {cp.stderr.decode()}")
            return go

        def shim_sequence(rt: str):
            def go():
                cid = "s" + uuid.uuid4().hex[:8]
                pidfile = base / f"{cid}.pid"
                g = [bins[rt], "--root", str(roots[rt]), "--log", str(base / f"{rt}.log"), "--log-format", "json"]
                subprocess.run([*g, "create", "--bundle", str(bundle), "--pid-file", str(pidfile), cid],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               check=True)
                pid = int(pidfile.read_text())
                subprocess.run([*g, "start", cid], check=True, capture_output=True)
                os.waitpid(pid, 0)
                subprocess.run([*g, "delete", cid], check=True, capture_output=True)
            return go

        load0 = loadavg(1)
        res = alternate({"pyrunc run": run("pyrunc"), "runc run": run("runc"),
                         "pyrunc seq": shim_sequence("pyrunc"), "runc seq": shim_sequence("runc")}, runs)
        print(table("OCI runtime: pyrunc vs runc (busybox bundle, process `true`)", [
            ("run", res["pyrunc run"], res["runc run"], "pyrunc", "runc"),
            ("create+start+wait+delete", res["pyrunc seq"], res["runc seq"], "pyrunc", "runc"),
        ], target="run <= 1.0x, sequence <= 1.5x"))
        # the machine is shared: spread and load show how far the medians can be trusted
        for name, vals in res.items():
            v = sorted(vals)
            print(f"  {name:12} min {v[0]:6.1f}  p25 {v[len(v) // 4]:6.1f}  "
                  f"p75 {v[3 * len(v) // 4]:6.1f}  max {v[-1]:6.1f} ms")
        print(f"  load average (1 min) before {load0}, after {loadavg(1)}")
    finally:
        for rt in ("pyrunc", "runc"):
            subprocess.run([PYRUNC if rt == "pyrunc" else RUNC, "--root", str(base / f"state-{rt}"), "list"],
                           capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
