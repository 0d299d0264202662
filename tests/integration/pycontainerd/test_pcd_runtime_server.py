"""`pyrunc serve`: shims send kill/delete/... to the runtime's server, and create (then start) to the
standby their spare started (`pyrunc serve --once`); they exec the runtime when neither is there.

The daemon here runs pyrunc through a wrapper that records every exec of the runtime, so the tests see
which commands were exec'd and which the server or a standby ran.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from pcd_helpers import PYRUNC, Daemon, children, cleanup_leftovers, daemon_fixture


def _untimed(stderr: bytes) -> bytes:
    """runc-style log lines without their timestamps: two runs may straddle a second."""
    return re.sub(rb'time="[^"]*"', b'time="T"', stderr)


def _server_pid(daemon) -> int | None:
    for pid in children(daemon.proc.pid):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv:
            return pid
    return None


def _recording_runtime(base: Path) -> str:
    wrapper = base / "rt"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {base}/execs\nexec {PYRUNC} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    yield from daemon_fixture(runtime=_recording_runtime)


def _execs(daemon) -> list[list[str]]:
    """The runtime commands exec'd so far (global flags dropped)."""
    try:
        lines = (daemon.base / "execs").read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        words = line.split()
        while words and words[0].startswith("--"):
            words = words[2:] if words[0] in ("--root", "--log", "--log-format") else words[1:]
        out.append(words)
    return out


def _lifecycle(tasks) -> tuple[str, int]:
    t = tasks("default", ["sleep", "100"])
    fut = t.wait_future()
    t.start()
    from protos.containerd.services.tasks.v1 import tasks_pb2
    t.c.tasks.Kill(tasks_pb2.KillRequest(container_id=t.id, signal=9), metadata=t.md)
    code = fut.result().exit_status
    t.delete()
    return t.id, code


def test_nothing_is_execd_for_a_task_with_a_server_and_a_standby(daemon, tasks):
    assert _server_pid(daemon), "pycontainerd started no `serve` for a runtime whose features offer it"
    sock = daemon.state / "runtime.sock"
    assert sock.is_socket() and (sock.stat().st_mode & 0o777) == 0o600
    cid, code = _lifecycle(tasks)
    assert code == 137
    ran = [w for w in _execs(daemon) if cid in w]
    assert ran == [], ran  # create ran in a standby, the rest in the server: nothing exec'd for it
    standbys = [w for w in _execs(daemon) if w[:2] == ["serve", "--once"]]
    assert standbys, "no spare shim started a standby"


def test_commands_are_execd_when_the_server_is_gone(daemon, tasks):
    pid = _server_pid(daemon)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.02)
    cid, code = _lifecycle(tasks)
    assert code == 137
    ran = [w[0] for w in _execs(daemon) if cid in w]
    assert ran == ["kill", "delete"], ran  # start went to the standby that ran create


def test_a_task_killed_before_its_start_is_reaped_by_its_shim(daemon, tasks):
    """Until start, the init is a child of the standby that created it; anything else lets the standby
    go, so the init's exit reaches the shim."""
    from protos.containerd.services.tasks.v1 import tasks_pb2
    t = tasks("default", ["sleep", "100"])
    fut = t.wait_future()
    t.c.tasks.Kill(tasks_pb2.KillRequest(container_id=t.id, signal=9), metadata=t.md)
    assert fut.result().exit_status == 137
    assert t.delete().exit_status == 137


def _serve(tmp_path):
    """A `pyrunc serve` on a socket of our own: (process, socket path)."""
    path = str(tmp_path / "s.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(8)
    proc = subprocess.Popen([PYRUNC, "serve", "--fd", str(ls.fileno())], stdin=subprocess.PIPE,
                            pass_fds=(ls.fileno(),))
    ls.close()
    return proc, path


def _ask(path: str, argv: list[str], cwd: str = "/") -> tuple[str, bytes, bytes]:
    import json
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    socket.send_fds(c, [json.dumps({"argv": argv, "cwd": cwd}).encode()], [null, out_w, err_w])
    for fd in (null, out_w, err_w):
        os.close(fd)
    reply = b""
    while chunk := c.recv(4096):
        reply += chunk
    c.close()
    with os.fdopen(out_r, "rb") as o, os.fdopen(err_r, "rb") as e:
        return reply.decode(), o.read(), e.read()


def test_a_served_command_answers_as_the_execd_one(tmp_path):
    proc, path = _serve(tmp_path)
    try:
        root = str(tmp_path / "root")
        execd = subprocess.run([PYRUNC, "--root", root, "state", "nosuch"], capture_output=True)
        code, out, err = _ask(path, ["--root", root, "state", "nosuch"])
        assert (int(code), out, _untimed(err)) == (execd.returncode, execd.stdout, _untimed(execd.stderr))
        assert execd.returncode == 1 and b"container does not exist" in err
        features = subprocess.run([PYRUNC, "features"], capture_output=True).stdout
        assert _ask(path, ["features"]) == ("0", features, b"")
        # kill without --all runs in the server's own process: the same answer, its --log written and
        # closed again, and the server serves on
        log = tmp_path / "log.json"
        argv = ["--root", root, "--log", str(log), "--log-format", "json", "kill", "nosuch", "KILL"]
        execd = subprocess.run([PYRUNC, *argv], capture_output=True)
        execd_log = log.read_text()
        log.unlink()
        bundle = tmp_path / "bundle"
        bundle.mkdir()
        code, out, err = _ask(path, argv, cwd=str(bundle))
        assert (int(code), out, _untimed(err)) == (execd.returncode, execd.stdout, _untimed(execd.stderr))
        assert execd.returncode == 1 and b"container does not exist" in err
        assert '"msg":"container does not exist"' in log.read_text() and '"msg":"container does not exist"' in execd_log
        assert not [fd for fd in os.listdir(f"/proc/{proc.pid}/fd")
                    if os.readlink(f"/proc/{proc.pid}/fd/{fd}") == str(log)]
        assert os.readlink(f"/proc/{proc.pid}/cwd") == "/"  # not the bundle it ran in
        # a bundle deleted before its kill arrives fails that kill alone
        bundle.rmdir()
        code, out, err = _ask(path, argv, cwd=str(bundle))
        assert code.startswith("255 serve: ") and "No such file or directory" in code, code
        assert _ask(path, ["features"]) == ("0", features, b"")
        # create/run/exec start processes the client must be the parent of: refused, never run
        code, out, err = _ask(path, ["--root", root, "create", "--bundle", str(tmp_path), "x"])
        assert code.startswith("255 ") and "not served" in code and not os.path.exists(f"{root}/x")
    finally:
        proc.stdin.close()  # EOF on stdin: the server ends
        assert proc.wait(10) == 0
    assert not os.path.exists(path) or _refused(path)


def test_requests_queued_when_the_server_is_told_to_end_are_still_answered(tmp_path):
    import json
    proc, path = _serve(tmp_path)
    root = str(tmp_path / "root")
    clients = []
    try:
        os.kill(proc.pid, signal.SIGSTOP)  # requests pile up in the listen queue meanwhile
        null = os.open(os.devnull, os.O_RDWR)
        for _ in range(3):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            socket.send_fds(c, [json.dumps({"argv": ["--root", root, "state", "nosuch"], "cwd": "/"}).encode()],
                            [null, null, null])
            clients.append(c)
        os.close(null)
        proc.stdin.close()  # EOF, seen together with the queued clients
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    replies = []
    for c in clients:
        reply = b""
        while chunk := c.recv(64):
            reply += chunk
        c.close()
        replies.append(reply)
    assert replies == [b"1"] * 3  # `state` of a missing container: exit status 1, each one answered
    assert proc.wait(10) == 0


def test_a_standby_runs_the_one_command_it_is_sent(tmp_path):
    import json
    root = str(tmp_path / "root")
    execd = subprocess.run([PYRUNC, "--root", root, "state", "nosuch"], capture_output=True)
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([PYRUNC, "serve", "--once", "--fd", str(theirs.fileno())], pass_fds=(theirs.fileno(),))
    theirs.close()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDWR)
    socket.send_fds(ours, [json.dumps({"argv": ["--root", root, "state", "nosuch"], "cwd": "/"}).encode()],
                    [null, null, err_w])
    for fd in (null, err_w):
        os.close(fd)
    ours.close()
    assert proc.wait(10) == execd.returncode == 1  # the command's exit code is the standby's
    with os.fdopen(err_r, "rb") as e:
        assert _untimed(e.read()) == _untimed(execd.stderr)
    # a standby nobody needed (its socket closed) just exits
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([PYRUNC, "serve", "--once", "--fd", str(theirs.fileno())], pass_fds=(theirs.fileno(),))
    theirs.close()
    ours.close()
    assert proc.wait(10) == 0


def _refused(path: str) -> bool:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect(path)
    except ConnectionRefusedError:
        return True
    finally:
        c.close()
    return False


def test_the_server_ends_with_the_daemon(tmp_path_factory, rootfs_tar):
    base = Path(tempfile.mkdtemp(prefix="pcd-", dir="/tmp"))
    d = Daemon(base, runtime=PYRUNC)
    try:
        d.start()
        pid = _server_pid(d)
        assert pid
        d.proc.kill()  # not even a chance to clean up
        d.proc.wait()
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    finally:
        d.stop()
        cleanup_leftovers(d)
        shutil.rmtree(base, ignore_errors=True)
