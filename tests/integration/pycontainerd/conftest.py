"""Fixtures for pycontainerd alone over gRPC: a daemon on temp dirs, stubs, and a busybox image.

Every daemon gets its own root, state and socket under a temp dir; the finalizer stops it, kills
shims it left, force-deletes their containers, and fails if a mount or shim survived.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

if os.geteuid() != 0:
    pytest.skip("pycontainerd integration tests need root", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pcd_helpers import REPO, RUNC, Client, Task, daemon_fixture  # noqa: E402


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    yield from daemon_fixture()


@pytest.fixture
def ns(daemon) -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(daemon, ns) -> Client:
    return daemon.stubs(ns)


@pytest.fixture(scope="module")
def rootfs_tar(tmp_path_factory) -> Path:
    sys.path.insert(0, str(REPO))
    from scripts.busybox_rootfs import write_rootfs_tar
    return Path(write_rootfs_tar(str(tmp_path_factory.mktemp("bb") / "rootfs.tar")))


@pytest.fixture(scope="module")
def busybox(daemon, rootfs_tar) -> Client:
    """A client on a module namespace holding docker.io/library/busybox:latest (imported from a rootfs tar)."""
    c = daemon.stubs(f"bb{uuid.uuid4().hex[:8]}")
    resp = c.import_tar(rootfs_tar, "rootfs", "busybox:latest")
    assert resp[-1].images[0].name == "docker.io/library/busybox:latest"
    return c


@pytest.fixture(scope="session")
def base_spec(tmp_path_factory) -> dict:
    """runc's default spec, made non-interactive."""
    d = tmp_path_factory.mktemp("spec")
    subprocess.run([RUNC, "spec", "--bundle", str(d)], check=True)
    spec = json.loads((d / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["root"] = {"path": "rootfs", "readonly": False}
    return spec


@pytest.fixture
def tasks(busybox, base_spec, tmp_path):
    made: list[Task] = []

    def make(runtime: str, args: list[str], **kw) -> Task:
        t = Task(busybox, base_spec, runtime, tmp_path, args, **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


REGISTRY = shutil.which("docker-registry")


@pytest.fixture
def registry(tmp_path):
    """Debian's docker-registry on a free 127.0.0.1 port with a private config."""
    import socket
    import time
    import urllib.request
    if REGISTRY is None:
        pytest.skip("docker-registry is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    log = open(tmp_path / "registry.log", "wb")
    proc = subprocess.Popen([REGISTRY, "serve", str(tmp_path / "config.yml")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "registry.log").read_text())
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
