"""Drop-in proof: real containerd 1.6 + containerd-shim-runc-v2 driving pyrunc via ctr."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from pyrunc_helpers import PYRUNC, find_cgroups, wait_for

for _bin in ("containerd", "ctr", "containerd-shim-runc-v2"):
    if shutil.which(_bin) is None:
        pytest.skip(f"{_bin} is not installed", allow_module_level=True)

CONFIG = """version = 2
root = "{base}/root"
state = "{base}/state"
[grpc]
  address = "{base}/containerd.sock"
[ttrpc]
  address = "{base}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  disable = true
"""


class Ctr:
    def __init__(self, base: Path, ns: str) -> None:
        self.base = base
        self.ns = ns
        self.sock = str(base / "containerd.sock")

    def __call__(self, *args: str, timeout: float = 60, check: bool = True):
        p = subprocess.run(["ctr", "-a", self.sock, "-n", self.ns, *args], capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p


@pytest.fixture(scope="module")
def containerd():
    base = Path(tempfile.mkdtemp(prefix="pyrunc-ctd-"))
    (base / "config.toml").write_text(CONFIG.format(base=base))
    log = open(base / "containerd.log", "wb")
    proc = subprocess.Popen(["containerd", "--config", str(base / "config.toml")],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    ns = f"pyrunc-ctd-{uuid.uuid4().hex[:6]}"
    ctr = Ctr(base, ns)
    try:
        ok = wait_for(lambda: os.path.exists(ctr.sock) and
                      ctr("version", check=False).returncode == 0, timeout=20)
        assert ok, (base / "containerd.log").read_text()[-2000:]
        yield ctr
    finally:
        for line in ctr("task", "ls", "-q", check=False).stdout.split():
            ctr("task", "kill", "-s", "SIGKILL", line, check=False)
            ctr("task", "rm", "-f", line, check=False)
        for line in ctr("containers", "ls", "-q", check=False).stdout.split():
            ctr("containers", "rm", line, check=False)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        with open("/proc/self/mountinfo") as f:
            left = [ln.split()[4] for ln in f if str(base) in ln]
        for mp in sorted(left, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
        shutil.rmtree(base, ignore_errors=True)
        cgs = find_cgroups(ns)
        for cg in cgs:
            try:
                os.rmdir(cg)
            except OSError:
                pass
        assert not left, left
        assert not cgs, cgs


def _id() -> str:
    return f"c{uuid.uuid4().hex[:8]}"


def test_ctr_run_rm(containerd, busybox_rootfs):
    p = containerd("run", "--rm", "--runc-binary", PYRUNC, "--rootfs", str(busybox_rootfs),
                   _id(), "/bin/echo", "hi")
    assert p.stdout == "hi\n"
    p = containerd("run", "--rm", "--runc-binary", PYRUNC, "--rootfs", str(busybox_rootfs),
                   _id(), "/bin/sh", "-c", "exit 7", check=False)
    assert p.returncode == 7


def test_ctr_run_tty(containerd, busybox_rootfs):
    if shutil.which("script") is None:
        pytest.skip("script(1) is needed to give ctr a terminal")
    cmd = (f"ctr -a {containerd.sock} -n {containerd.ns} run --rm -t --runc-binary {PYRUNC} "
           f"--rootfs {busybox_rootfs} {_id()} /bin/sh -c 'tty; echo hello-tty; exit 4'")
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 4, p.stdout + p.stderr
    assert "/dev/pts/" in p.stdout and "hello-tty" in p.stdout


def test_ctr_task_exec_ps_pause_kill(containerd, busybox_rootfs):
    cid = _id()
    containerd("run", "-d", "--runc-binary", PYRUNC, "--rootfs", str(busybox_rootfs), cid,
               "/bin/sleep", "100")
    try:
        p = containerd("task", "exec", "--exec-id", "e1", cid, "/bin/sh", "-c",
                       "echo in-exec; exit 3", check=False)
        assert p.returncode == 3 and p.stdout == "in-exec\n"
        ps = containerd("task", "ps", cid).stdout.split("\n")[1:]
        init_pid = int(ps[0].split()[0])
        # stats and OOM come from the init's cgroups: the memory one must be the container's
        with open(f"/proc/{init_pid}/cgroup") as f:
            mem = [ln for ln in f.read().splitlines() if ":memory:" in ln][0]
        assert mem.endswith(f"/{containerd.ns}/{cid}")
        assert "memory" in containerd("task", "metrics", cid).stdout
        containerd("task", "pause", cid)
        assert "PAUSED" in containerd("task", "ls").stdout
        containerd("task", "resume", cid)
        assert "RUNNING" in containerd("task", "ls").stdout
        containerd("task", "kill", "-s", "SIGKILL", cid)
        assert wait_for(lambda: "STOPPED" in containerd("task", "ls").stdout, timeout=20)
    finally:
        containerd("task", "rm", "-f", cid, check=False)
        containerd("containers", "rm", cid, check=False)
    assert find_cgroups(cid) == []


def test_ctr_reports_runtime_errors(containerd, busybox_rootfs):
    cid = _id()
    p = containerd("run", "--rm", "--runc-binary", PYRUNC, "--rootfs", str(busybox_rootfs), cid,
                   "/bin/nonexistent", check=False)
    assert p.returncode != 0
    assert "OCI runtime create failed" in p.stderr
    assert 'exec: "/bin/nonexistent": stat /bin/nonexistent: no such file or directory' \
        in p.stderr
    containerd("containers", "rm", cid, check=False)
