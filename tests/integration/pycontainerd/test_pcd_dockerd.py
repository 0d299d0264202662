"""The swap: Debian's real dockerd 20.10 running its containers on pycontainerd (`--containerd`)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from pcd_helpers import Daemon, cleanup_leftovers, mounts_under

DOCKERD, DOCKER = shutil.which("dockerd"), "/usr/bin/docker"
pytestmark = pytest.mark.skipif(DOCKERD is None or not os.path.exists(DOCKER), reason="docker.io is not installed")


class Dockerd:
    def __init__(self, base: Path, containerd: str, pcd: Daemon) -> None:
        self.base, self.sock, self.pcd = base, base / "d.sock", pcd
        self.cgroup_parent = f"/pcdtest-dockerd-{uuid.uuid4().hex[:6]}"
        self.log = open(base / "dockerd.log", "wb")
        self.proc = subprocess.Popen(
            [DOCKERD, "--containerd", containerd, "--data-root", str(base / "data"), "--exec-root",
             str(base / "exec"), "-H", f"unix://{self.sock}", "--pidfile", str(base / "dockerd.pid"),
             "--iptables=false", "--ip-masq=false", "--bridge=none", "--storage-driver", "overlay2",
             "--cgroup-parent", self.cgroup_parent], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while self.docker("version").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((base / "dockerd.log").read_text()[-3000:])
            time.sleep(0.2)

    def docker(self, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=str(self.base / "cfg"))
        try:
            return subprocess.run([DOCKER, *args], input=input, capture_output=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            # Say where it hung: both daemons' recent log lines, and pycontainerd's thread stacks.
            if self.pcd.proc is not None:
                self.pcd.proc.send_signal(signal.SIGUSR1)
            shims = []
            for pid_file in (self.pcd.state / "io.containerd.runtime.v2.task").glob("*/*/shim.pid"):
                try:
                    os.kill(int(pid_file.read_text()), signal.SIGUSR1)
                    shims.append(pid_file.parent / "shim.log")
                except (OSError, ValueError):
                    pass
            time.sleep(0.5)
            shim_logs = "".join(f"\n--- {p} ---\n{p.read_text(errors='replace')[-6000:]}" for p in shims if p.exists())
            dlog = (self.base / "dockerd.log").read_text(errors="replace").splitlines()[-40:]
            raise AssertionError(f"docker {' '.join(args)} timed out\n--- pycontainerd ---\n{self.pcd.log_tail(200)}"
                                 f"\n--- dockerd ---\n" + "\n".join(dlog) + shim_logs) from None

    def stop(self) -> None:
        ids = self.docker("ps", "-aq").stdout.split()
        if ids:
            self.docker("rm", "-f", *[i.decode() for i in ids])
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        for mp in mounts_under(str(self.base)):  # dockerd leaves its data-root bind mount
            subprocess.run(["umount", "-l", mp], capture_output=True)
        for hier in Path("/sys/fs/cgroup").iterdir():
            cg = hier / self.cgroup_parent.strip("/")
            if cg.is_dir():
                cg.rmdir()


@pytest.fixture(scope="module")
def dockerd(rootfs_tar):
    base = Path(tempfile.mkdtemp(prefix="pcd-dd-", dir="/tmp"))
    pcd = Daemon(base / "pcd")
    (base / "pcd").mkdir()
    pcd.start()
    d = None
    try:
        d = Dockerd(base, pcd.address, pcd)
        r = d.docker("import", str(rootfs_tar), "busybox:latest")
        assert r.returncode == 0, r.stderr
        yield d
    finally:
        if d is not None:
            d.stop()
        pcd.stop()
        leaks = cleanup_leftovers(pcd)
        shutil.rmtree(base, ignore_errors=True)
    assert not leaks, leaks


def test_docker_version_reports_pycontainerd(dockerd):
    r = dockerd.docker("version", "--format", "{{range .Server.Components}}{{.Name}} {{.Version}}\n{{end}}")
    assert r.returncode == 0, r.stderr
    assert "containerd 1.7.0-pycontainerd" in r.stdout.decode()


def test_docker_run_output_and_exit_codes(dockerd):
    r = dockerd.docker("run", "--rm", "busybox", "echo", "hello")
    assert (r.returncode, r.stdout) == (0, b"hello\n"), r.stderr
    r = dockerd.docker("run", "--rm", "busybox", "sh", "-c", "echo oops >&2; exit 3")
    assert (r.returncode, r.stderr) == (3, b"oops\n")


def test_docker_detached_logs_exec_stop(dockerd):
    name = f"pcd-{uuid.uuid4().hex[:6]}"
    r = dockerd.docker("run", "-d", "--name", name, "busybox", "sh", "-c", "echo started; exec sleep 100")
    assert r.returncode == 0, r.stderr
    for _ in range(50):
        if dockerd.docker("logs", name).stdout == b"started\n":
            break
        time.sleep(0.1)
    assert dockerd.docker("logs", name).stdout == b"started\n"
    r = dockerd.docker("exec", "-i", name, "cat", input=b"via exec stdin\n")
    assert (r.returncode, r.stdout) == (0, b"via exec stdin\n"), r.stderr
    assert dockerd.docker("pause", name).returncode == 0
    assert dockerd.docker("unpause", name).returncode == 0
    r = dockerd.docker("stop", "-t", "1", name)
    assert r.returncode == 0, r.stderr
    r = dockerd.docker("inspect", "--format", "{{.State.ExitCode}}", name)
    assert r.stdout.strip() == b"137"  # sleep ignores SIGTERM as PID 1; stop escalated to SIGKILL
    assert dockerd.docker("rm", name).returncode == 0


def test_docker_stats_reads_task_metrics(dockerd):
    name = f"pcd-{uuid.uuid4().hex[:6]}"
    assert dockerd.docker("run", "-d", "--name", name, "-m", "64m", "busybox", "sleep", "100").returncode == 0
    try:
        r = dockerd.docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", name)
        assert r.returncode == 0, r.stderr
        fields = r.stdout.decode().split()
        assert fields[0] == name and fields[-1] == "1"
        assert "64MiB" in r.stdout.decode()
    finally:
        dockerd.docker("rm", "-f", name)


def test_docker_sees_oom_kills(dockerd):
    if not os.path.exists("/sys/fs/cgroup/memory/memory.oom_control"):
        pytest.skip("no cgroup v1 memory controller")
    name = f"pcd-{uuid.uuid4().hex[:6]}"
    try:
        r = dockerd.docker("run", "--name", name, "-m", "8m", "--memory-swap", "8m", "busybox",
                           "dd", "if=/dev/zero", "of=/dev/null", "bs=32M", "count=1")
        assert r.returncode == 137, r.stderr
        r = dockerd.docker("inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", name)
        assert r.stdout.split() == [b"true", b"137"]
    finally:
        dockerd.docker("rm", "-f", name)


def test_docker_shows_the_runtime_error_as_with_containerd(dockerd):
    r = dockerd.docker("run", "--rm", "busybox", "/nonexistent")
    assert r.returncode == 127
    assert ('failed to create shim task: OCI runtime create failed: runc create failed: unable to start container '
            'process: exec: "/nonexistent": stat /nonexistent: no such file or directory: unknown.\n') \
        in r.stderr.decode(), r.stderr
