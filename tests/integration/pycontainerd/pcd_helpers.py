"""Helpers for the pycontainerd integration tests: a daemon process on temp dirs and gRPC stubs."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc

REPO = Path(__file__).resolve().parents[3]
RUNC = shutil.which("runc") or "/usr/sbin/runc"
PYRUNC = str(REPO / "bin" / "pyrunc")

if not (REPO / "protos" / "containerd" / "services" / "tasks" / "v1" / "tasks_pb2.py").exists():
    subprocess.run(["sh", str(REPO / "scripts" / "genprotos.sh"), sys.executable], check=True, capture_output=True)

from protos.containerd.services.containers.v1 import containers_pb2_grpc  # noqa: E402
from protos.containerd.services.content.v1 import content_pb2_grpc  # noqa: E402
from protos.containerd.services.diff.v1 import diff_pb2_grpc  # noqa: E402
from protos.containerd.services.events.v1 import events_pb2_grpc  # noqa: E402
from protos.containerd.services.images.v1 import images_pb2_grpc  # noqa: E402
from protos.containerd.services.leases.v1 import leases_pb2_grpc  # noqa: E402
from protos.containerd.services.namespaces.v1 import namespace_pb2_grpc  # noqa: E402
from protos.containerd.services.snapshots.v1 import snapshots_pb2_grpc  # noqa: E402
from protos.containerd.services.tasks.v1 import tasks_pb2_grpc  # noqa: E402
from protos.containerd.services.version.v1 import version_pb2_grpc  # noqa: E402
from protos.pycontainerd.services.importer.v1 import importer_pb2, importer_pb2_grpc  # noqa: E402


def mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        mps = [line.split()[4] for line in f]
    return sorted((m for m in mps if m == prefix or m.startswith(prefix.rstrip("/") + "/")), key=len, reverse=True)


@dataclass
class Daemon:
    base: Path
    runtime: str = RUNC
    proc: subprocess.Popen | None = None
    channel: grpc.Channel | None = None

    @property
    def address(self) -> str:
        return str(self.base / "pcd.sock")

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def root(self) -> Path:
        return self.base / "root"

    def start(self) -> None:
        self.log = open(self.base / "pycontainerd.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pycontainerd", "--address", self.address, "--root", str(self.root),
             "--state", str(self.state), "--runtime", self.runtime, "--log-level", "debug"],
            cwd=str(REPO), stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.address):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pycontainerd did not start:\n{self.log_tail()}")
            time.sleep(0.05)
        self.channel = grpc.insecure_channel(f"unix://{self.address}")
        grpc.channel_ready_future(self.channel).result(timeout=10)

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join((self.base / "pycontainerd.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stubs(self, ns: str = "default") -> "Client":
        assert self.channel is not None
        return Client(self.channel, ns)


@dataclass
class Client:
    channel: grpc.Channel
    ns: str
    md: tuple = field(init=False)

    def __post_init__(self) -> None:
        self.md = (("containerd-namespace", self.ns),)
        ch = self.channel
        self.version = version_pb2_grpc.VersionStub(ch)
        self.namespaces = namespace_pb2_grpc.NamespacesStub(ch)
        self.content = content_pb2_grpc.ContentStub(ch)
        self.images = images_pb2_grpc.ImagesStub(ch)
        self.leases = leases_pb2_grpc.LeasesStub(ch)
        self.snapshots = snapshots_pb2_grpc.SnapshotsStub(ch)
        self.diff = diff_pb2_grpc.DiffStub(ch)
        self.containers = containers_pb2_grpc.ContainersStub(ch)
        self.tasks = tasks_pb2_grpc.TasksStub(ch)
        self.events = events_pb2_grpc.EventsStub(ch)
        self.importer = importer_pb2_grpc.ImporterStub(ch)

    def import_tar(self, path: str | Path, fmt: str, ref: str = "", config: bytes = b"") -> list:
        def reqs():
            yield importer_pb2.ImportRequest(format=fmt, ref=ref, config=config)
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    yield importer_pb2.ImportRequest(data=chunk)
        return list(self.importer.Import(reqs(), metadata=self.md))


def cleanup_leftovers(d: Daemon) -> list[str]:
    """Kill shims, force-delete containers and unmount what a test left; describe each leak."""
    leaks = []
    task_root = d.state / "io.containerd.runtime.v2.task"
    if task_root.is_dir():
        for ns_dir in task_root.iterdir():
            for bundle in ns_dir.iterdir():
                leaks.append(f"task bundle {bundle}")
                pid_file = bundle / "shim.pid"
                if pid_file.exists():
                    try:
                        os.kill(int(pid_file.read_text()), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                for rt in (RUNC, PYRUNC):
                    subprocess.run([rt, "--root", str(d.state / "runc" / ns_dir.name), "delete", "--force",
                                    bundle.name], capture_output=True)
    # ctr's default spec puts containers in cgroup /<namespace>/<id>; runc removes only the leaf.
    runc_roots = d.state / "runc"
    if runc_roots.is_dir():
        for ns_dir in runc_roots.iterdir():
            for hier in Path("/sys/fs/cgroup").iterdir():
                cg = hier / ns_dir.name
                if cg.is_dir():
                    try:
                        cg.rmdir()
                    except OSError:
                        leaks.append(f"cgroup {cg}")
    for mp in mounts_under(str(d.base)):
        leaks.append(f"mount {mp}")
        subprocess.run(["umount", "-l", mp], capture_output=True)
    return leaks


