"""How shims start: forked by pycontainerd's shim zygote (or exec'd when it is gone), outliving the daemon."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pcd_helpers import REPO, RUNC, children, subscribe, zygote_pids

from protos.containerd.events import task_pb2 as task_events
from protos.containerd.services.tasks.v1 import tasks_pb2
from protos.containerd.types.task import task_pb2


def _cmdline(pid: int) -> list[str]:
    return open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").split("\0")[:-1]


def _wait_for(cond, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    return cond()


def _arg_area_in_stack(pid: int) -> bool:
    """Whether /proc/PID/cmdline still reads the argument area exec left on the stack."""
    st = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    arg_start = int(st[48 - 3])  # proc(5) numbers the fields from 1; st starts at field 3
    for line in open(f"/proc/{pid}/maps"):
        if line.rstrip().endswith("[stack]"):
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            return lo <= arg_start < hi
    return False


def _bundle(daemon, t) -> Path:
    return daemon.state / "io.containerd.runtime.v2.task" / t.c.ns / t.id


def _zygote(daemon) -> list[int]:
    """The daemon's zygote (its spare child shares the command line until it becomes a shim)."""
    return [p for p in zygote_pids(daemon.state) if p in children(daemon.proc.pid)]


def test_shim_is_forked_by_the_zygote_and_shows_the_shim_command_line(tasks, daemon):
    zygotes = _wait_for(lambda: _zygote(daemon))
    assert len(zygotes) == 1
    t = tasks("runc", ["sleep", "100"])
    pid = t.start()
    bundle = _bundle(daemon, t)
    shim_pid = int((bundle / "shim.pid").read_text())
    assert _cmdline(shim_pid) == [sys.executable, "-m", "pycontainerd.shim", "start", "--namespace", t.c.ns,
                                  "--id", t.id, "--bundle", str(bundle), "--runtime", RUNC, "--runtime-root",
                                  str(daemon.state / "runc" / t.c.ns)]
    assert not _arg_area_in_stack(shim_pid)  # forked (its command line was rewritten), not exec'd
    # not the daemon's child, in a session of its own (signals to the daemon's group miss it), parent of
    # the container (it outlives the zygote: see the kill -9 test)
    assert shim_pid not in children(daemon.proc.pid)
    assert os.getsid(shim_pid) == shim_pid != os.getsid(daemon.proc.pid)
    assert pid in children(shim_pid)
    fut = t.wait_future()
    t.c.tasks.Kill(tasks_pb2.KillRequest(container_id=t.id, signal=signal.SIGKILL), metadata=t.md)
    assert fut.result().exit_status == 128 + signal.SIGKILL


def test_tasks_still_start_when_the_zygote_is_killed(tasks, daemon):
    old = _wait_for(lambda: _zygote(daemon))
    assert len(old) == 1
    os.kill(old[0], signal.SIGKILL)
    _wait_for(lambda: old[0] not in zygote_pids(daemon.state))
    batch = [tasks("runc", ["sh", "-c", "echo hi; exit 3"], create=False) for _ in range(4)]
    with ThreadPoolExecutor(len(batch)) as ex:  # all at once: only one new zygote comes of it
        list(ex.map(lambda t: t.create(), batch))
    for t in batch:
        assert t.run() == 3
        assert t.read("stdout") == b"hi\n"
    new = _wait_for(lambda: _zygote(daemon))
    assert len(new) == 1 and new != old  # a new zygote serves the next tasks
    t = tasks("runc", ["true"])
    assert t.run() == 0
    shim_pid = int((_bundle(daemon, t) / "shim.pid").read_text())
    assert not _arg_area_in_stack(shim_pid)


def test_zygote_ends_with_a_killed_daemon_and_its_shims_live_on(tasks, daemon, busybox):
    t = tasks("pyrunc", ["sleep", "100"])
    pid = t.start()
    shim_pid = int((_bundle(daemon, t) / "shim.pid").read_text())
    zygote = _wait_for(lambda: _zygote(daemon))
    daemon.proc.kill()  # kill -9: nothing runs in the daemon to stop the zygote
    daemon.proc.wait()
    try:
        assert _wait_for(lambda: not zygote_pids(daemon.state), 5), f"zygote {zygote} outlived its daemon"
        assert os.path.exists(f"/proc/{shim_pid}") and os.path.exists(f"/proc/{pid}")
    finally:
        daemon.stop()
        daemon.start()
        busybox.channel = daemon.channel  # the module's client follows the new daemon
        busybox.__post_init__()
    assert len(_wait_for(lambda: _zygote(daemon))) == 1
    got = t.get()
    assert got.status == task_pb2.RUNNING and got.pid == pid
    fut = t.wait_future()
    t.c.tasks.Kill(tasks_pb2.KillRequest(container_id=t.id, signal=signal.SIGKILL), metadata=t.md)
    assert fut.result().exit_status == 137


# -- the zygote and the exec'd shim on their own (a bundle without a container: only the shim's socket)

def _start_zygote() -> tuple[subprocess.Popen, socket.socket]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen([sys.executable, "-S", "-m", "pycontainerd.zygote", "--fd", str(theirs.fileno())],
                            pass_fds=(theirs.fileno(),), env=dict(os.environ, PYTHONPATH=str(REPO)))
    theirs.close()
    return proc, ours


def _request(sock: socket.socket, payload: bytes) -> bytes:
    r, w = os.pipe()
    socket.send_fds(sock, [payload], [w])
    os.close(w)
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    return out


def _shim_call(bundle: Path, op: str, **kw) -> dict:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(bundle / "shim.sock"))
        s.sendall(json.dumps({"op": op, **kw}).encode() + b"\n")
        return json.loads(s.makefile("rb").readline())


def _shim_args(bundle: Path, cid: str) -> list[str]:
    return ["start", "--namespace", "zt", "--id", cid, "--bundle", str(bundle), "--runtime", RUNC,
            "--runtime-root", str(bundle / "runc")]


def _shutdown(bundle: Path) -> None:
    pid = int((bundle / "shim.pid").read_text())
    assert _shim_call(bundle, "shutdown") == {"ok": True}
    assert _wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
                     open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z")


def test_zygote_forks_shims_reports_errors_and_exits_when_its_peer_closes(tmp_path):
    proc, sock = _start_zygote()
    try:
        bundles = [tmp_path / f"b{i}" for i in range(2)]
        for i, b in enumerate(bundles):
            b.mkdir()
            assert _request(sock, json.dumps(_shim_args(b, f"c{i}")).encode()) == b"ok\n"
            assert _shim_call(b, "state") == {"ok": True, "processes": []}
        # A shim that cannot start says why; the zygote carries on.
        assert _request(sock, json.dumps(_shim_args(tmp_path / "missing", "c9")).encode()).startswith(
            b"shim start failed: ")
        assert _request(sock, json.dumps(["start", "--id"]).encode()) == (
            b"shim start failed: argument --id: expected one argument\n")
        assert _request(sock, b"{not json").startswith(b"shim start failed: ")
        assert proc.poll() is None
    finally:
        sock.close()
    try:
        assert proc.wait(5) == 0  # its peer is gone: so is the zygote
        for b in bundles:  # the shims outlive it
            assert _shim_call(b, "state") == {"ok": True, "processes": []}
    finally:
        for b in bundles:
            if (b / "shim.sock").exists():
                _shutdown(b)


def test_exec_shim_starts_without_site_and_refuses_bad_arguments(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-S", "-m", "pycontainerd.shim"]
    cp = subprocess.run(cmd + _shim_args(tmp_path, "e1"), env=env, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
    try:
        assert _shim_call(tmp_path, "state") == {"ok": True, "processes": []}
        assert _arg_area_in_stack(int((tmp_path / "shim.pid").read_text()))
    finally:
        _shutdown(tmp_path)
    cp = subprocess.run(cmd + ["start", "--id", "x"], env=env, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 2
    assert "the following arguments are required: --namespace, --bundle, --runtime, --runtime-root" in cp.stderr
    cp = subprocess.run(cmd + ["stop"], env=env, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 2 and "the only action is `start`" in cp.stderr


@pytest.mark.parametrize("runtime", ["runc", "pyrunc"])
def test_exit_event_comes_before_delete_of_a_task_that_exited_at_once(tasks, daemon, runtime):
    """Delete publishes the pending exit first (it does not wait out the delay after Start), as containerd
    orders /tasks/exit before /tasks/delete."""
    t = tasks(runtime, ["sh", "-c", "exit 5"])
    stream, got = subscribe(t.c, [f'topic=="/tasks/exit",namespace=="{t.c.ns}"',
                                  f'topic=="/tasks/delete",namespace=="{t.c.ns}"'])
    fut = t.wait_future()
    t.start()
    assert fut.result().exit_status == 5
    r = t.delete()  # at once: the exit may not have been published yet
    assert r.exit_status == 5
    assert not _bundle(daemon, t).exists()
    events = [got.get(timeout=10) for _ in range(2)]
    stream.cancel()
    assert [e.topic for e in events] == ["/tasks/exit", "/tasks/delete"]
    ev = task_events.TaskExit.FromString(events[0].event.value)
    assert ev.container_id == t.id and ev.exit_status == 5
