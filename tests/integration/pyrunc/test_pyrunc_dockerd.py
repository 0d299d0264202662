"""Drop-in proof: real dockerd 20.10 with pyrunc added as a runtime (--add-runtime)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from pyrunc_helpers import PYRUNC, find_cgroups, wait_for

DOCKERD = shutil.which("dockerd")
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
if DOCKERD is None or DOCKER is None:
    pytest.skip("dockerd or docker is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def docker(busybox_rootfs_tar):
    # a short base path: dockerd's containerd socket path must fit in sun_path
    base = Path(tempfile.mkdtemp(prefix="prdk-", dir="/tmp"))
    tag = uuid.uuid4().hex[:6]
    parent = f"/pyrunc-dk-{tag}"
    sock = base / "d.sock"
    log = open(base / "dockerd.log", "wb")
    proc = subprocess.Popen(
        [DOCKERD, "-H", f"unix://{sock}", "--data-root", str(base / "data"),
         "--exec-root", str(base / "exec"), "--pidfile", str(base / "d.pid"), "--bridge=none",
         "--iptables=false", "--ip-masq=false", "--cgroup-parent", parent,
         "--containerd-namespace", f"prdk{tag}", "--containerd-plugins-namespace", f"prdkp{tag}",
         "--add-runtime", f"pyrunc={PYRUNC}"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")

    def run(*args, check=True, timeout=60):
        p = subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check:
            assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p
    try:
        assert wait_for(lambda: run("version", check=False).returncode == 0, timeout=30), \
            (base / "dockerd.log").read_text()[-3000:]
        run("import", str(busybox_rootfs_tar), "busybox:pyrunc")
        yield run
    finally:
        for cid in run("ps", "-aq", check=False).stdout.split():
            run("rm", "-f", cid, check=False)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        with open("/proc/self/mountinfo") as f:
            left = [ln.split()[4] for ln in f if str(base) in ln]
        # dockerd itself leaves <exec-root>/netns/default bound after --net host
        left = [mp for mp in left if not mp.endswith("/netns/default")]
        with open("/proc/self/mountinfo") as f:
            for mp in sorted((ln.split()[4] for ln in f if str(base) in ln), key=len,
                             reverse=True):
                subprocess.run(["umount", "-l", mp], check=False)
        shutil.rmtree(base, ignore_errors=True)
        cgs = find_cgroups(parent.strip("/"))
        for cg in cgs:
            for d, _, _ in sorted(os.walk(cg), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        assert not left, left


def test_docker_run_with_pyrunc(docker):
    p = docker("run", "--rm", "--runtime", "pyrunc", "busybox:pyrunc", "sh", "-c",
               "echo hi; exit 3", check=False)
    assert p.returncode == 3 and p.stdout == "hi\n", p.stderr


def test_docker_lifecycle_with_pyrunc(docker):
    name = f"prdk-{uuid.uuid4().hex[:6]}"
    docker("run", "-d", "--name", name, "--runtime", "pyrunc", "--memory", "64m",
           "busybox:pyrunc", "sleep", "100")
    try:
        p = docker("exec", name, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
        assert p.stdout.strip() == str(64 << 20)
        docker("pause", name)
        assert "Paused" in docker("ps", "--filter", f"name={name}", "--format",
                                  "{{.Status}}").stdout
        docker("unpause", name)
        docker("update", "--memory", "128m", "--memory-swap", "256m", name)
        p = docker("exec", name, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
        assert p.stdout.strip() == str(128 << 20)
        assert "sleep 100" in docker("top", name).stdout
        docker("stop", "-t", "1", name)
        p = docker("inspect", "-f", "{{.State.ExitCode}}", name)
        assert p.stdout.strip() == "137"
    finally:
        docker("rm", "-f", name, check=False)


def test_docker_shows_runtime_errors(docker):
    p = docker("run", "--rm", "--runtime", "pyrunc", "busybox:pyrunc", "/nonexist", check=False)
    assert p.returncode == 127
    assert 'exec: "/nonexist": stat /nonexist: no such file or directory' in p.stderr


@pytest.mark.parametrize("opts", [["--net", "host"], ["--pid", "host"], ["--ipc", "host"],
                                  ["--uts", "host"], ["--privileged"],
                                  ["--read-only", "--tmpfs", "/run"],
                                  ["--user", "1000:1000", "--cap-drop", "ALL"], ["--init"]])
def test_docker_host_namespaces_and_options(docker, opts):
    p = docker("run", "--rm", "--runtime", "pyrunc", *opts, "busybox:pyrunc", "sh", "-c",
               "echo ok-$(id -u)", check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("ok-")


def test_docker_joins_another_containers_namespaces(docker):
    name = f"prdk-{uuid.uuid4().hex[:6]}"
    docker("run", "-d", "--name", name, "--runtime", "pyrunc", "--ipc", "shareable",
           "busybox:pyrunc", "sleep", "100")
    try:
        p = docker("run", "--rm", "--runtime", "pyrunc", "--ipc", f"container:{name}",
                   "--pid", f"container:{name}", "--net", f"container:{name}",
                   "busybox:pyrunc", "ps", "-o", "pid,args")
        assert any(ln.split() == ["1", "sleep", "100"] for ln in p.stdout.splitlines())
    finally:
        docker("rm", "-f", name, check=False)
