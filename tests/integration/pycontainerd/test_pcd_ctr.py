"""Debian's real `ctr` (containerd 1.6 client) against pycontainerd."""
from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

CTR = shutil.which("ctr")
pytestmark = pytest.mark.skipif(CTR is None, reason="ctr is not installed")


def ctr(daemon, ns: str, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([CTR, "-a", daemon.address, "-n", ns, *args], input=input, capture_output=True,
                          timeout=timeout, cwd="/")


def table(out: bytes) -> list[list[str]]:
    return [line.split() for line in out.decode().splitlines()]


def test_ctr_version(daemon):
    r = ctr(daemon, "default", "version")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "Server:" in out and "1.7.0-pycontainerd" in out and "UUID:" in out


def test_ctr_lists(daemon, busybox):
    ns = busybox.ns
    r = ctr(daemon, ns, "namespaces", "ls")
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout)
    assert rows[0] == ["NAME", "LABELS"] and [ns] in rows[1:]
    r = ctr(daemon, ns, "images", "ls")
    assert r.returncode == 0, r.stderr
    assert b"failed" not in r.stderr
    rows = table(r.stdout)
    assert rows[0][:5] == ["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS"]
    row = next(x for x in rows if x[0] == "docker.io/library/busybox:latest")
    assert row[1] == "application/vnd.docker.distribution.manifest.v2+json" and "linux/amd64" in row
    r = ctr(daemon, ns, "containers", "ls")
    assert r.returncode == 0 and table(r.stdout)[0] == ["CONTAINER", "IMAGE", "RUNTIME"]
    r = ctr(daemon, ns, "tasks", "ls")
    assert r.returncode == 0 and table(r.stdout)[0] == ["TASK", "PID", "STATUS"]
    r = ctr(daemon, ns, "snapshots", "ls")
    assert r.returncode == 0 and "Committed" in r.stdout.decode()


def test_ctr_run_rm(daemon, busybox):
    ns = busybox.ns
    cid = f"ctr{uuid.uuid4().hex[:8]}"
    r = ctr(daemon, ns, "run", "--rm", "docker.io/library/busybox:latest", cid, "echo", "hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hi\n"
    r = ctr(daemon, ns, "run", "--rm", "docker.io/library/busybox:latest", cid, "sh", "-c", "exit 3")
    assert r.returncode == 3, r.stderr
    for what in ("containers", "tasks"):
        assert cid not in ctr(daemon, ns, what, "ls").stdout.decode()


def test_ctr_detached_task_lifecycle(daemon, busybox):
    ns = busybox.ns
    cid = f"ctr{uuid.uuid4().hex[:8]}"
    try:
        assert ctr(daemon, ns, "run", "-d", "docker.io/library/busybox:latest", cid, "sleep", "100").returncode == 0
        rows = table(ctr(daemon, ns, "tasks", "ls").stdout)
        assert [cid, "RUNNING"] == [x for x in rows if x[0] == cid][0][::2]
        r = ctr(daemon, ns, "tasks", "exec", "--exec-id", "e1", cid, "cat", "/etc/hostname")
        assert r.returncode == 0, r.stderr
        r = ctr(daemon, ns, "tasks", "rm", cid)
        assert r.returncode != 0 and b"must be stopped" in r.stderr
        assert ctr(daemon, ns, "tasks", "kill", "-s", "KILL", cid).returncode == 0
    finally:
        for _ in range(50):
            if "STOPPED" in ctr(daemon, ns, "tasks", "ls").stdout.decode() or \
                    cid not in ctr(daemon, ns, "tasks", "ls").stdout.decode():
                break
        ctr(daemon, ns, "tasks", "rm", "-f", cid)
        ctr(daemon, ns, "containers", "rm", cid)
    assert cid not in ctr(daemon, ns, "containers", "ls").stdout.decode()


def test_ctr_export_import_roundtrip(daemon, busybox, tmp_path):
    """ctr's client-side import drives Content.Write, Leases, Diff.Apply and Snapshots.Commit."""
    out = tmp_path / "bb.tar"
    r = ctr(daemon, busybox.ns, "images", "export", str(out), "docker.io/library/busybox:latest")
    assert r.returncode == 0, r.stderr
    ns = f"imp{uuid.uuid4().hex[:8]}"
    r = ctr(daemon, ns, "images", "import", str(out))
    assert r.returncode == 0, r.stderr
    assert b"unpacking docker.io/library/busybox:latest" in r.stdout
    r = ctr(daemon, ns, "run", "--rm", "docker.io/library/busybox:latest", "imp1", "cat", "/etc/passwd")
    assert r.returncode == 0 and r.stdout.startswith(b"root:x:0:0")


def test_ctr_push_pull_run_plain_http(daemon, busybox, registry):
    """`ctr images push/pull --plain-http`: Content.Read/Write/Info, Leases, Images.Create, Diff.Apply, Snapshots."""
    ref = f"{registry}/pcd/busybox:1"
    assert ctr(daemon, busybox.ns, "images", "tag", "docker.io/library/busybox:latest", ref).returncode == 0
    r = ctr(daemon, busybox.ns, "images", "push", "--plain-http", ref)
    assert r.returncode == 0, r.stderr
    ns = f"pull{uuid.uuid4().hex[:8]}"
    r = ctr(daemon, ns, "images", "pull", "--plain-http", ref)
    assert r.returncode == 0, r.stderr
    assert b"unpacking linux/amd64" in r.stdout
    r = ctr(daemon, ns, "run", "--rm", ref, "pulled1", "echo", "pulled")
    assert r.returncode == 0 and r.stdout == b"pulled\n", r.stderr
    rows = table(ctr(daemon, ns, "images", "ls").stdout)
    assert any(x[0] == ref for x in rows)
