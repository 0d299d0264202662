"""Helpers for the pycontainerd integration tests: a daemon process on temp dirs and gRPC stubs."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import copy

import grpc
from google.protobuf import any_pb2

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
from protos.containerd.services.containers.v1 import containers_pb2  # noqa: E402
from protos.containerd.services.content.v1 import content_pb2  # noqa: E402
from protos.containerd.services.images.v1 import images_pb2  # noqa: E402
from protos.containerd.services.snapshots.v1 import snapshots_pb2  # noqa: E402
from protos.containerd.services.tasks.v1 import tasks_pb2  # noqa: E402
from protos.containerd.types.runc.options import oci_pb2  # noqa: E402
from protos.containerd.types.task import task_pb2  # noqa: E402


def mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        mps = [line.split()[4] for line in f]
    return sorted((m for m in mps if m == prefix or m.startswith(prefix.rstrip("/") + "/")), key=len, reverse=True)


@dataclass
class Daemon:
    base: Path
    runtime: str = RUNC
    extra: list[str] = field(default_factory=list)
    stuck: bool = False  # set when the daemon ignored SIGTERM
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
             "--state", str(self.state), "--runtime", self.runtime, "--log-level", "debug", *self.extra],
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
                self.proc.send_signal(signal.SIGUSR1)  # thread stacks into the log, for the failure report
                time.sleep(0.5)
                self.proc.kill()
                self.proc.wait()
                self.stuck = True
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


def subscribe(c: "Client", filters: list[str], timeout: float = 30):
    """Subscribe to `filters` on the daemon's event stream: (the stream, to cancel; a queue of envelopes)."""
    import queue
    import threading
    from protos.containerd.services.events.v1 import events_pb2
    got: queue.Queue = queue.Queue()
    stream = c.events.Subscribe(events_pb2.SubscribeRequest(filters=filters), timeout=timeout)

    def consume() -> None:
        try:
            for env in stream:
                got.put(env)
        except grpc.RpcError:
            pass  # cancelled at the end of the test

    threading.Thread(target=consume, daemon=True).start()
    time.sleep(0.2)  # the subscription is registered when the first message could flow
    return stream, got


def children(ppid: int) -> list[int]:
    """The pids whose parent is `ppid`."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = open(f"/proc/{p}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
                out.append(int(p))
    return out


def daemon_fixture(prefix: str = "pcd-", **kw):
    """Generator body of a module fixture: a private daemon (Daemon's keyword arguments), stopped and
    checked for leftovers afterwards."""
    import tempfile
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    d = Daemon(base, **{k: v(base) if callable(v) else v for k, v in kw.items()})
    d.start()
    yield d
    d.stop()
    leaks = cleanup_leftovers(d)
    shutil.rmtree(base, ignore_errors=True)
    assert not leaks, f"left behind: {leaks}"


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
    deadline = time.monotonic() + 3
    while zygote_pids(d.state) and time.monotonic() < deadline:
        time.sleep(0.05)  # it exits when it reads EOF from the daemon that just stopped
    for pid in zygote_pids(d.state):  # the shim zygote ends with its daemon
        leaks.append(f"shim zygote {pid}")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return leaks


def zygote_pids(state: Path) -> list[int]:
    """Shim zygotes (alive, not zombies) of the daemon whose state dir is `state`."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
            zombie = open(f"/proc/{p}/stat", "rb").read().rsplit(b")", 1)[1].split()[0] == b"Z"
        except OSError:
            continue
        if b"pycontainerd.zygote" in cmd and str(state).encode() in cmd and not zombie:
            out.append(int(p))
    return out




def _chain_id(c) -> str:
    img = c.images.Get(images_pb2.GetImageRequest(name="docker.io/library/busybox:latest"), metadata=c.md).image
    read = lambda d: b"".join(r.data for r in c.content.Read(content_pb2.ReadContentRequest(digest=d), metadata=c.md))
    manifest = json.loads(read(img.target.digest))
    return json.loads(read(manifest["config"]["digest"]))["rootfs"]["diff_ids"][0]


class Task:
    """One container + task with FIFOs, torn down by `close()`."""

    def __init__(self, c, base_spec: dict, runtime: str, tmp_path, args: list[str], *, stdin: bool = False,
                 terminal: bool = False, binary: str | None = None, create: bool = True,
                 edit: Callable[[dict], None] | None = None) -> None:
        self.c, self.md = c, c.md
        self.id = f"t{uuid.uuid4().hex[:8]}"
        spec = copy.deepcopy(base_spec)
        if edit is not None:
            edit(spec)
        spec["process"]["args"] = args
        spec["process"]["terminal"] = terminal
        spec["linux"]["cgroupsPath"] = f"/pcdtest-{self.id}"
        spec["hostname"] = self.id
        self.mounts = c.snapshots.Prepare(snapshots_pb2.PrepareSnapshotRequest(
            snapshotter="overlayfs", key=self.id, parent=_chain_id(c)), metadata=self.md).mounts
        ct = containers_pb2.Container(id=self.id, image="docker.io/library/busybox:latest", snapshotter="overlayfs",
                                      snapshot_key=self.id)
        ct.runtime.name = "io.containerd.runc.v2"
        binary = binary or (PYRUNC if runtime == "pyrunc" else None)
        if binary:
            ct.runtime.options.CopyFrom(any_pb2.Any(type_url="containerd.runc.v1.Options",
                                                    value=oci_pb2.Options(binary_name=binary).SerializeToString()))
        ct.spec.CopyFrom(any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec",
                                     value=json.dumps(spec).encode()))
        c.containers.Create(containers_pb2.CreateContainerRequest(container=ct), metadata=self.md)
        self.dir = tmp_path / self.id
        self.dir.mkdir()
        self.paths = {}
        self.fds = {}
        for name in ("stdout", "stderr") + (("stdin",) if stdin else ()):
            p = str(self.dir / f"init-{name}")
            os.mkfifo(p, 0o600)
            self.paths[name] = p
        for name in ("stdout", "stderr"):
            self.fds[name] = os.open(self.paths[name], os.O_RDONLY | os.O_NONBLOCK)
        self.created = False
        self.terminal = terminal
        if create:
            self.create()

    def create(self) -> tasks_pb2.CreateTaskResponse:
        r = self.c.tasks.Create(tasks_pb2.CreateTaskRequest(
            container_id=self.id, rootfs=self.mounts, stdout=self.paths["stdout"],
            stderr="" if self.terminal else self.paths["stderr"], stdin=self.paths.get("stdin", ""),
            terminal=self.terminal), metadata=self.md)
        self.created = True
        return r

    def wait_future(self, exec_id: str = ""):
        return self.c.tasks.Wait.future(tasks_pb2.WaitRequest(container_id=self.id, exec_id=exec_id),
                                        metadata=self.md, timeout=60)

    def start(self, exec_id: str = "") -> int:
        return self.c.tasks.Start(tasks_pb2.StartRequest(container_id=self.id, exec_id=exec_id), metadata=self.md).pid

    def run(self) -> int:
        fut = self.wait_future()
        self.start()
        return fut.result().exit_status

    def read(self, name: str, fd: int | None = None) -> bytes:
        """Everything written to a FIFO until the shim closed it (EOF)."""
        fd = self.fds[name] if fd is None else fd
        out, deadline = b"", time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            if not chunk:
                return out
            out += chunk
        raise AssertionError(f"no EOF on {name}; got {out!r}")

    def get(self, exec_id: str = "") -> task_pb2.Process:
        return self.c.tasks.Get(tasks_pb2.GetRequest(container_id=self.id, exec_id=exec_id), metadata=self.md).process

    def delete(self) -> tasks_pb2.DeleteResponse:
        r = self.c.tasks.Delete(tasks_pb2.DeleteTaskRequest(container_id=self.id), metadata=self.md)
        self.created = False
        return r

    def close(self) -> None:
        if self.created:
            try:
                self.c.tasks.Kill(tasks_pb2.KillRequest(container_id=self.id, signal=9, all=True), metadata=self.md)
            except grpc.RpcError:
                pass
            try:
                self.wait_future().result()
            except grpc.RpcError:
                pass
            self.delete()
        self.c.containers.Delete(containers_pb2.DeleteContainerRequest(id=self.id), metadata=self.md)
        self.c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter="overlayfs", key=self.id),
                                metadata=self.md)
        for fd in self.fds.values():
            os.close(fd)
