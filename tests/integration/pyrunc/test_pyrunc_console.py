"""--console-socket: the pty master arrives over SCM_RIGHTS named /dev/ptmx; the slave is the
container's controlling terminal, /dev/console and fds 0-2."""
from __future__ import annotations

import os
import select
import socket
import subprocess



def _listener(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    return s


def _recv_master(listener: socket.socket) -> int:
    listener.settimeout(10)
    conn, _ = listener.accept()
    with conn:
        msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
    assert msg == b"/dev/ptmx"
    assert len(fds) == 1
    return fds[0]


def _read_all(fd: int, until: bytes, timeout: float = 10) -> bytes:
    import time
    buf = b""
    deadline = time.monotonic() + timeout
    while until not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO once the slave side is gone
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_create_with_console_socket(rt, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    listener = _listener(sock_path)
    cid = rt.new_id()
    b = rt.bundle(["sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty;"
                   " stty size; ls -l /dev/console | cut -c1; echo done"])
    rt.edit(b, lambda s: s["process"].update(terminal=True,
                                             consoleSize={"height": 33, "width": 101}))
    try:
        # create's own stdout/stderr are pipes: the init must not keep them (the shim waits
        # for EOF on them)
        p = subprocess.run(rt.argv("create", "--bundle", str(b), "--console-socket", sock_path,
                                   cid), capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
        assert p.returncode == 0, p.stderr
        master = _recv_master(listener)
        try:
            assert rt("start", cid).returncode == 0
            out = _read_all(master, b"done").decode().replace("\r", "")
        finally:
            os.close(master)
    finally:
        listener.close()
    lines = out.splitlines()
    assert lines[0].startswith("/dev/pts/") or lines[0] == "/dev/console"
    assert "all-tty" in lines
    assert "33 101" in lines
    assert "c" in lines  # /dev/console is the pty slave (a char device)
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"


def test_exec_with_console_socket(rt, tmp_path):
    cid = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    assert rt("run", "-d", "--bundle", str(b), cid).returncode == 0
    sock_path = str(tmp_path / "exec-console.sock")
    listener = _listener(sock_path)
    try:
        p = rt("exec", "--tty", "--detach", "--console-socket", sock_path, cid, "sh", "-c",
               "[ -t 0 ] && echo exec-tty; echo done")
        assert p.returncode == 0, p.stderr
        master = _recv_master(listener)
        try:
            out = _read_all(master, b"done").decode()
        finally:
            os.close(master)
    finally:
        listener.close()
    assert "exec-tty" in out


def test_terminal_without_console_socket_is_refused(rt):
    b = rt.bundle(["true"])
    rt.edit(b, lambda s: s["process"].update(terminal=True))
    cid = rt.new_id()
    p = rt("create", "--bundle", str(b), cid)
    assert p.returncode == 1
    assert "cannot allocate tty if runc will detach without setting console socket" in p.stderr
    assert not (rt.root / cid).exists()


def _under_pty(argv: list[str], send: bytes = b"") -> tuple[int, bytes]:
    """Run argv with a pty as its stdio (like an interactive shell); return (rc, output)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    if send:
        os.write(master, send)
    out = b""
    try:
        while True:
            r, _, _ = select.select([master], [], [], 20)
            if not r:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    return proc.wait(timeout=20), out


def test_run_in_foreground_with_terminal(rt):
    # `pyrunc spec` + `pyrunc run` from a terminal: pyrunc is the console's other end
    b = rt.bundle(["sh", "-c", "read line; echo got-$line; tty; exit 5"])
    rt.edit(b, lambda s: s["process"].update(terminal=True))
    rc, out = _under_pty(rt.argv("run", "--bundle", str(b), rt.new_id()), b"abc\n")
    assert rc == 5, out
    assert b"got-abc" in out and b"/dev/pts/" in out


def test_exec_in_foreground_with_tty(rt):
    cid = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    assert rt("run", "-d", "--bundle", str(b), cid).returncode == 0
    rc, out = _under_pty(rt.argv("exec", "-t", cid, "sh", "-c", "[ -t 1 ] && echo is-tty; exit 9"))
    assert rc == 9, out
    assert b"is-tty" in out
