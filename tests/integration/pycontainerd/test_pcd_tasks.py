"""Tasks through pycontainerd's shim with a real runtime (runc, and pyrunc): IO over FIFOs, exit codes,
kill, exec, stdin, terminal, events, errors and a daemon restart."""
from __future__ import annotations

import copy
import json
import os
import signal
import uuid

import grpc
import pytest
from google.protobuf import any_pb2

from protos.containerd.events import task_pb2 as task_events
from protos.containerd.services.tasks.v1 import tasks_pb2
from protos.containerd.types.task import task_pb2

from pcd_helpers import Task, mounts_under, subscribe

RUNTIMES = ["runc", "pyrunc"]


def _bundle(daemon, t: Task):
    return daemon.state / "io.containerd.runtime.v2.task" / t.c.ns / t.id


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_echo_output_and_exit_status(tasks, daemon, runtime):
    t = tasks(runtime, ["echo", "hi"])
    assert _bundle(daemon, t).is_dir()
    assert (_bundle(daemon, t) / "config.json").exists()
    assert t.get().status == task_pb2.CREATED
    assert t.run() == 0
    assert t.read("stdout") == b"hi\n"
    assert t.read("stderr") == b""
    p = t.get()
    assert p.status == task_pb2.STOPPED and p.exit_status == 0
    d = t.delete()
    assert d.exit_status == 0 and d.pid == p.pid
    assert not _bundle(daemon, t).exists()
    assert not mounts_under(str(daemon.state))
    with pytest.raises(grpc.RpcError) as e:
        t.get()
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_exit_code_and_stderr(tasks, runtime):
    t = tasks(runtime, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert t.run() == 3
    assert t.read("stdout") == b"out\n"
    assert t.read("stderr") == b"err\n"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_kill_reports_128_plus_signal(tasks, runtime):
    t = tasks(runtime, ["sleep", "100"])
    fut = t.wait_future()
    pid = t.start()
    assert t.get().status == task_pb2.RUNNING
    pids = t.c.tasks.ListPids(tasks_pb2.ListPidsRequest(container_id=t.id), metadata=t.md).processes
    assert pid in [p.pid for p in pids]
    t.c.tasks.Kill(tasks_pb2.KillRequest(container_id=t.id, signal=signal.SIGKILL), metadata=t.md)
    assert fut.result().exit_status == 128 + signal.SIGKILL
    with pytest.raises(grpc.RpcError) as e:
        t.c.tasks.Kill(tasks_pb2.KillRequest(container_id=t.id, signal=signal.SIGKILL), metadata=t.md)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == "process already finished: not found"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_exec_process(tasks, base_spec, runtime, tmp_path):
    t = tasks(runtime, ["sleep", "100"])
    t.start()
    out = str(tmp_path / "exec-out")
    os.mkfifo(out)
    fd = os.open(out, os.O_RDONLY | os.O_NONBLOCK)
    try:
        proc = dict(base_spec["process"], args=["sh", "-c", "echo from-exec; exit 5"], terminal=False)
        t.c.tasks.Exec(tasks_pb2.ExecProcessRequest(
            container_id=t.id, exec_id="e1", stdout=out,
            spec=any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Process",
                             value=json.dumps(proc).encode())), metadata=t.md)
        with pytest.raises(grpc.RpcError) as e:  # exec ids are unique per task
            t.c.tasks.Exec(tasks_pb2.ExecProcessRequest(container_id=t.id, exec_id="e1", spec=any_pb2.Any(
                type_url="x", value=json.dumps(proc).encode())), metadata=t.md)
        assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
        fut = t.wait_future("e1")
        assert t.start("e1") > 0
        assert fut.result().exit_status == 5
        assert t.read("exec", fd) == b"from-exec\n"
        assert t.get("e1").status == task_pb2.STOPPED
        t.c.tasks.DeleteProcess(tasks_pb2.DeleteProcessRequest(container_id=t.id, exec_id="e1"), metadata=t.md)
        with pytest.raises(grpc.RpcError) as e:
            t.get("e1")
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert t.get().status == task_pb2.RUNNING
    finally:
        os.close(fd)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_stdin_and_closeio(tasks, runtime):
    t = tasks(runtime, ["cat"], stdin=True)
    fut = t.wait_future()
    t.start()
    w = os.open(t.paths["stdin"], os.O_WRONLY | os.O_NONBLOCK)
    os.write(w, b"line one\nline two\n")
    os.close(w)
    t.c.tasks.CloseIO(tasks_pb2.CloseIORequest(container_id=t.id, stdin=True), metadata=t.md)
    assert fut.result().exit_status == 0
    assert t.read("stdout") == b"line one\nline two\n"


def test_terminal_and_resize(tasks):
    t = tasks("runc", ["sh", "-c", "sleep 0.3; tty; stty size"], terminal=True)
    t.c.tasks.ResizePty(tasks_pb2.ResizePtyRequest(container_id=t.id, width=100, height=30), metadata=t.md)
    assert t.run() == 0
    out = t.read("stdout").replace(b"\r\n", b"\n")
    assert b"/dev/pts/0\n" in out
    assert b"30 100\n" in out


def test_pause_resume(tasks):
    t = tasks("runc", ["sleep", "100"])
    t.start()
    t.c.tasks.Pause(tasks_pb2.PauseTaskRequest(container_id=t.id), metadata=t.md)
    assert t.get().status == task_pb2.PAUSED
    t.c.tasks.Resume(tasks_pb2.ResumeTaskRequest(container_id=t.id), metadata=t.md)
    assert t.get().status == task_pb2.RUNNING


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_runtime_error_leaves_nothing_behind(tasks, daemon, runtime):
    t = tasks(runtime, ["/nonexistent"], create=False)
    with pytest.raises(grpc.RpcError) as e:
        t.create()
    assert e.value.code() == grpc.StatusCode.UNKNOWN
    assert e.value.details().startswith("failed to create shim task: OCI runtime create failed: ")
    assert e.value.details().endswith(": unknown")
    assert "/nonexistent" in e.value.details()
    assert not _bundle(daemon, t).exists()
    assert not mounts_under(str(daemon.state))
    assert t.id not in [x.id for x in t.c.tasks.List(tasks_pb2.ListTasksRequest(), metadata=t.md).tasks]
    assert not _shim_processes(t.id)
    assert not [d for d in os.listdir("/sys/fs/cgroup/memory") if t.id in d]
    # and the container can be created again once fixed: nothing stale blocks it
    with pytest.raises(grpc.RpcError):
        t.create()


def test_missing_runtime_binary(tasks, daemon):
    t = tasks("runc", ["true"], binary="/nonexistent/runc", create=False)
    with pytest.raises(grpc.RpcError) as e:
        t.create()
    assert e.value.code() == grpc.StatusCode.UNKNOWN
    assert "/nonexistent/runc" in e.value.details()
    assert not _bundle(daemon, t).exists()
    assert not _shim_processes(t.id)


def _shim_processes(cid: str) -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if b"pycontainerd.shim" in cmd and cid.encode() in cmd:
                out.append(int(pid))
    return out


def test_task_exit_event(tasks, daemon):
    t = tasks("runc", ["sh", "-c", "exit 7"])
    stream, got = subscribe(t.c, ['topic=="/tasks/exit"'])
    assert t.run() == 7
    env = got.get(timeout=10)
    stream.cancel()
    assert env.topic == "/tasks/exit" and env.namespace == t.c.ns
    assert env.event.type_url == "containerd.events.TaskExit"
    ev = task_events.TaskExit.FromString(env.event.value)
    assert ev.container_id == t.id and ev.exit_status == 7


def test_update_resources(tasks):
    t = tasks("runc", ["sleep", "100"])
    t.start()
    limit = 64 << 20
    t.c.tasks.Update(tasks_pb2.UpdateTaskRequest(container_id=t.id, resources=any_pb2.Any(
        type_url="types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
        value=json.dumps({"memory": {"limit": limit}}).encode())), metadata=t.md)
    cg = f"/sys/fs/cgroup/memory/pcdtest-{t.id}/memory.limit_in_bytes"
    if not os.path.exists(cg):
        pytest.skip("no cgroup v1 memory controller")
    with open(cg) as f:
        assert int(f.read()) == limit


def test_exec_with_terminal(tasks, base_spec, tmp_path):
    t = tasks("runc", ["sleep", "100"])
    t.start()
    out = str(tmp_path / "exec-tty")
    os.mkfifo(out)
    fd = os.open(out, os.O_RDONLY | os.O_NONBLOCK)
    try:
        proc = dict(base_spec["process"], args=["sh", "-c", "sleep 0.3; stty size"], terminal=True)
        t.c.tasks.Exec(tasks_pb2.ExecProcessRequest(
            container_id=t.id, exec_id="tty1", stdout=out, terminal=True,
            spec=any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Process",
                             value=json.dumps(proc).encode())), metadata=t.md)
        fut = t.wait_future("tty1")
        t.start("tty1")
        t.c.tasks.ResizePty(tasks_pb2.ResizePtyRequest(container_id=t.id, exec_id="tty1", width=90, height=20),
                            metadata=t.md)
        assert fut.result().exit_status == 0
        assert t.read("exec", fd).replace(b"\r\n", b"\n") == b"20 90\n"
    finally:
        os.close(fd)


def test_task_options_choose_the_runtime(tasks, daemon):
    """CreateTaskRequest.options (containerd.runc.v1.Options) override the container's runtime."""
    from protos.containerd.types.runc.options import oci_pb2
    t = tasks("runc", ["true"], create=False)
    opts = any_pb2.Any(type_url="containerd.runc.v1.Options",
                       value=oci_pb2.Options(binary_name="/nonexistent/other-runc").SerializeToString())
    with pytest.raises(grpc.RpcError) as e:
        t.c.tasks.Create(tasks_pb2.CreateTaskRequest(container_id=t.id, rootfs=t.mounts, stdout=t.paths["stdout"],
                                                     options=opts), metadata=t.md)
    assert "/nonexistent/other-runc" in e.value.details()
    assert not _bundle(daemon, t).exists()


def test_metrics_report_the_task_cgroup(tasks):
    from protos.containerd.types.cgroups.v1 import metrics_pb2
    t = tasks("runc", ["sleep", "100"])
    t.start()
    if not os.path.isdir(f"/sys/fs/cgroup/memory/pcdtest-{t.id}"):
        pytest.skip("no cgroup v1 memory controller")
    resp = t.c.tasks.Metrics(tasks_pb2.MetricsRequest(filters=[f"id=={t.id}"]), metadata=t.md)
    assert [m.id for m in resp.metrics] == [t.id]
    data = resp.metrics[0].data
    assert data.type_url == "io.containerd.cgroups.v1.Metrics"
    m = metrics_pb2.Metrics.FromString(data.value)
    assert m.pids.current == 1
    assert m.memory.usage.usage > 0 and m.cpu.usage.total > 0
    with open(f"/sys/fs/cgroup/memory/pcdtest-{t.id}/memory.limit_in_bytes") as f:
        assert m.memory.usage.limit == int(f.read())
    assert not t.c.tasks.Metrics(tasks_pb2.MetricsRequest(filters=["id==nothing"]), metadata=t.md).metrics


def test_oom_kill_is_published(busybox, base_spec, tmp_path):
    if not os.path.exists("/sys/fs/cgroup/memory/memory.oom_control"):
        pytest.skip("no cgroup v1 memory controller")
    spec = copy.deepcopy(base_spec)
    spec["linux"].setdefault("resources", {})["memory"] = {"limit": 8 << 20, "swap": 8 << 20}
    stream, got = subscribe(busybox, ['topic=="/tasks/oom"'], timeout=60)
    t = Task(busybox, spec, "runc", tmp_path, ["dd", "if=/dev/zero", "of=/dev/null", "bs=32M", "count=1"])
    try:
        assert t.run() == 137
        env = got.get(timeout=10)
        assert task_events.TaskOOM.FromString(env.event.value).container_id == t.id
    finally:
        stream.cancel()
        t.close()


def test_terminal_runtime_error_leaves_nothing_behind(tasks, daemon):
    before = {d for d in os.listdir("/tmp") if d.startswith("pyshim-")}
    t = tasks("runc", ["/nonexistent"], terminal=True, create=False)
    with pytest.raises(grpc.RpcError) as e:
        t.create()
    assert "OCI runtime create failed" in e.value.details()
    assert not _bundle(daemon, t).exists()
    assert not _shim_processes(t.id)
    assert {d for d in os.listdir("/tmp") if d.startswith("pyshim-")} <= before  # console socket dir removed


def _cmdline(pid: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def test_an_init_without_its_own_pid_namespace_takes_its_processes_with_it(tasks):
    """containerd's ShouldKillAllOnExit: when an init in the host's pid namespace exits, the shim kills
    what it left in its cgroup before it reports the exit (not only at Delete), and stdio gets its EOF."""
    tag = str(9000 + uuid.uuid4().int % 1000)

    def host_pid(spec: dict) -> None:
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "pid"]

    t = tasks("pyrunc", ["sh", "-c", f"sleep {tag} & exit 3"], edit=host_pid)
    fut = t.wait_future()
    t.start()
    assert fut.result().exit_status == 3
    left = [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == ["sleep", tag]]
    assert left == []  # before any Delete
    assert t.read("stdout") == b""  # EOF: the background sleep no longer holds the FIFO
    assert t.delete().exit_status == 3
