"""Helpers for pyrunc's integration tests: bundles on the busybox rootfs, a private state root,
and a cleanup that force-deletes every container a test made and reports what leaked."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PYRUNC = str(REPO / "bin" / "pyrunc")

def spec_for(rootfs: str, args: list[str], **over) -> dict:
    """runc's example spec (from `pyrunc spec`), non-tty, writable root, with ``args``."""
    sys.path.insert(0, str(REPO))
    from pyrunc.spec import example
    spec = example()
    spec["root"] = {"path": rootfs, "readonly": False}
    spec["process"]["terminal"] = False
    spec["process"]["args"] = args
    for k, v in over.items():
        spec[k] = v
    return spec


class Runtime:
    """Runs pyrunc with a private --root and remembers container ids for cleanup."""

    def __init__(self, base: Path, rootfs: Path) -> None:
        self.base = base
        self.root = base / "state"
        self.rootfs = rootfs
        self.log = base / "log.json"
        self.ids: list[str] = []
        self.cgroups: list[str] = []

    def new_id(self, prefix: str = "pyrunc-t") -> str:
        cid = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.ids.append(cid)
        return cid

    def bundle(self, args: list[str], rootfs: Path | None = None, **over) -> Path:
        b = Path(tempfile.mkdtemp(prefix="bundle-", dir=self.base))
        spec = spec_for(str(rootfs or self.rootfs), args, **over)
        (b / "config.json").write_text(json.dumps(spec))
        return b

    @staticmethod
    def edit(bundle: Path, fn) -> None:
        spec = json.loads((bundle / "config.json").read_text())
        fn(spec)
        (bundle / "config.json").write_text(json.dumps(spec))

    def argv(self, *args: str) -> list[str]:
        return [PYRUNC, "--root", str(self.root), "--log", str(self.log), "--log-format", "json",
                *args]

    def __call__(self, *args: str, timeout: float = 30, input: bytes | None = None,
                 pass_fds=(), stdin=None) -> subprocess.CompletedProcess:
        """Run pyrunc with stdout/stderr in files (a blocked init holds its stdio: pipes
        would never reach EOF)."""
        with tempfile.TemporaryFile(dir=self.base) as out, \
                tempfile.TemporaryFile(dir=self.base) as err:
            p = subprocess.run(self.argv(*args), stdout=out, stderr=err, timeout=timeout,
                               input=input, pass_fds=pass_fds,
                               stdin=stdin if input is None else None)
            out.seek(0)
            err.seek(0)
            p.stdout, p.stderr = out.read().decode(), err.read().decode()
        return p

    def state(self, cid: str) -> dict:
        p = self("state", cid)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    def wait_status(self, cid: str, status: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(cid)
            if st["status"] == status or time.monotonic() > deadline:
                return st
            time.sleep(0.02)

    def last_error(self) -> dict | None:
        if not self.log.exists():
            return None
        errs = [json.loads(ln) for ln in self.log.read_text().splitlines()
                if ln.strip() and json.loads(ln).get("level") == "error"]
        return errs[-1] if errs else None

    def cleanup(self) -> list[str]:
        leaks = []
        for cid in self.ids:
            self("delete", "--force", cid)
        for cid in self.ids:
            if (self.root / cid).exists():
                leaks.append(f"state dir left: {cid}")
            for cg in find_cgroups(cid):
                leaks.append(f"cgroup left: {cg}")
                try:
                    os.rmdir(cg)
                except OSError:
                    pass
        return leaks


def find_cgroups(name: str) -> list[str]:
    found = []
    for dirpath, dirs, _ in os.walk("/sys/fs/cgroup"):
        if os.path.basename(dirpath) == name:
            found.append(dirpath)
            dirs[:] = []
    return found


def wait_for(pred, timeout: float = 10, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)
