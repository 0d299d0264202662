"""The per-task shim: runs the OCI runtime for one container and outlives pycontainerd.

Started as `python -m pycontainerd.shim start --namespace NS --id ID --bundle B --runtime R
--runtime-root ROOT` (it double-forks into a new session), or forked by the shim zygote
(pycontainerd/zygote.py) with the same arguments (a spare child that calls setsid); either way it
becomes a child subreaper, listens on `B/shim.sock` and reports "ok" to its starter once it serves.
Standard library only, and only the modules it needs: each import is start-up time for an exec'd shim.

Protocol: one JSON object per line on a unix stream socket, one request and one reply per
connection. Requests: {"op": create|start|exec|kill|wait|state|delete|resize|closeio|pause|
resume|pids|update|shutdown, ...}. Replies: {"ok": true, ...} or {"ok": false, "kind":
"not found"|"already exists"|"failed precondition"|"unknown", "error": "..."}.
"""
from __future__ import annotations

import ctypes
import errno
import faulthandler
import fcntl
import json
import os
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import termios
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing costs an exec'd shim start-up time
    from typing import Any

PR_SET_CHILD_SUBREAPER = 36
# Commands a runtime server may run for us: none starts a process (those must be our children).
SERVED = frozenset({"start", "kill", "delete", "state", "pause", "resume", "update", "ps"})
DRAIN_TIMEOUT = 2.0  # how long to wait for stdio EOF after a process exits (daemonised children keep pipes)


class ShimError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def sock_path(directory: str, name: str) -> tuple[str, int]:
    """A short path to `directory/name` via /proc/self/fd, so long bundle paths fit sun_path (108 bytes)."""
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{name}", fd


# -- reaping

class Reaper:
    """Reaps every child (we are a subreaper) and remembers exit statuses by pid."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.exited: dict[int, tuple[int, float]] = {}
        self.listeners: dict[int, Any] = {}
        self.forks = 0  # children started so far (wake() counts them)
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            with self.cond:
                forks = self.forks
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                # No children: sleep until wake() reports a new one. Comparing the count (not just
                # waiting for a notify) catches a child started between waitpid and this wait.
                with self.cond:
                    while self.forks == forks:
                        self.cond.wait()
                continue
            except InterruptedError:
                continue
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code  # signalled: 128+signal, as shells and containerd report
            with self.cond:
                self.exited[pid] = (code, time.time())
                cb = self.listeners.pop(pid, None)
                self.cond.notify_all()
            if cb is not None:
                cb(code)

    def wake(self) -> None:
        """Call after starting a child: the loop may be sleeping because there were none."""
        with self.cond:
            self.forks += 1
            self.cond.notify_all()

    def wait(self, pid: int) -> int:
        with self.cond:
            while pid not in self.exited:
                self.cond.wait()
            return self.exited.pop(pid)[0]

    def on_exit(self, pid: int, cb: Any) -> None:
        """Call cb(code) when `pid` exits (at once if it already has)."""
        with self.cond:
            if pid in self.exited:
                code = self.exited.pop(pid)[0]
            else:
                self.listeners[pid] = cb
                return
        cb(code)


# -- stdio

def _open_target(path: str, write: bool) -> int | None:
    """Open the shim's end of a stdio path: a FIFO (created if missing, as containerd's fifo package
    does) or, with the file:// scheme, a log file opened for appending."""
    if not path:
        return None
    if path.startswith("file://"):
        return os.open(path[len("file://"):], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    if path.startswith("fifo://"):
        path = path[len("fifo://"):]
    try:
        os.mkfifo(path, 0o700)
    except FileExistsError:
        pass
    # O_RDWR never blocks on a FIFO and survives the client closing and reopening its end.
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        raise ShimError("invalid argument", f"{path} is not a FIFO")
    return fd


class _Wake:
    """A pipe that wakes a poll() loop: threads block without timeouts and still stop on request."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.event = threading.Event()

    def set(self) -> None:
        if not self.event.is_set():
            self.event.set()
            try:
                os.write(self.w, b"x")
            except OSError:
                pass

    def is_set(self) -> bool:
        return self.event.is_set()

    def close(self) -> None:
        for fd in (self.r, self.w):
            try:
                os.close(fd)
            except OSError:
                pass


class Copier(threading.Thread):
    """Copies src → dst until EOF or `stop`; closes dst (and src) when done."""

    def __init__(self, src: int, dst: int, close_dst: bool = True) -> None:
        super().__init__(daemon=True)
        self.src, self.dst, self.close_dst = src, dst, close_dst
        self.stop = _Wake()

    def run(self) -> None:
        poller = select.poll()
        poller.register(self.src, select.POLLIN | select.POLLHUP | select.POLLERR)
        poller.register(self.stop.r, select.POLLIN)
        try:
            while True:
                ready = {fd for fd, _ in poller.poll()}
                if self.src not in ready:
                    return  # only the stop pipe: asked to stop
                try:
                    data = os.read(self.src, 65536)
                except OSError as exc:
                    if exc.errno == errno.EAGAIN:
                        continue
                    return  # EIO on a pty master once the slave side is gone
                if not data:
                    return
                view = memoryview(data)
                while view:
                    try:
                        n = os.write(self.dst, view)
                    except OSError:
                        return
                    view = view[n:]
        finally:
            try:
                os.close(self.src)
            except OSError:
                pass
            if self.close_dst and not _linger_fifo(self.dst):
                try:
                    os.close(self.dst)
                except OSError:
                    pass
            self.stop.close()


_LINGERING: set[int] = set()  # FIFO ends kept open until a reader takes what is left in them
_LINGER_LOCK = threading.Lock()


def _pending(fd: int) -> int:
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def _linger_fifo(fd: int) -> bool:
    """The output is over but the FIFO still holds bytes nobody read (the daemon is down: a live
    restore will read them). Closing our end (the only one) would discard them, so a thread keeps
    it open until they are read, then closes it (the reader's EOF); Delete closes it regardless."""
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode) or _pending(fd) == 0:
            return False
    except OSError:
        return False
    with _LINGER_LOCK:
        _LINGERING.add(fd)

    def wait() -> None:
        while True:
            with _LINGER_LOCK:
                if fd not in _LINGERING:
                    return  # closed by Delete
                if _pending(fd) == 0:
                    _LINGERING.discard(fd)
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                    return
            time.sleep(0.01)

    threading.Thread(target=wait, daemon=True).start()
    return True


def close_lingering() -> None:
    with _LINGER_LOCK:
        for fd in _LINGERING:
            try:
                os.close(fd)
            except OSError:
                pass
        _LINGERING.clear()


class StdinPump(threading.Thread):
    """Copies the stdin FIFO into the process; CloseIO drains what is buffered, then closes."""

    def __init__(self, fifo: int, dst: int) -> None:
        super().__init__(daemon=True)
        self.fifo, self.dst = fifo, dst
        self.close_req = _Wake()
        self.closed = threading.Event()
        os.set_blocking(fifo, False)

    def _pump_available(self) -> bool:
        while True:
            try:
                data = os.read(self.fifo, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            try:
                os.write(self.dst, data)
            except OSError:
                return False

    def run(self) -> None:
        poller = select.poll()
        poller.register(self.fifo, select.POLLIN)
        poller.register(self.close_req.r, select.POLLIN)
        try:
            while not self.close_req.is_set():
                ready = {fd for fd, _ in poller.poll()}
                if self.fifo in ready and not self._pump_available():
                    break
            if self.close_req.is_set():
                self._pump_available()  # what the client wrote before CloseIO
        finally:
            for fd in (self.fifo, self.dst):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.close_req.close()
            self.closed.set()


class OomWatcher(threading.Thread):
    """Counts OOM kills in the memory cgroup (v1) of the container's init via cgroup.event_control."""

    def __init__(self, pid: int, on_oom: Any) -> None:
        super().__init__(daemon=True)
        self.on_oom = on_oom
        self.dir = ""
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                for line in f:
                    _, controllers, path = line.rstrip("\n").split(":", 2)
                    if "memory" in controllers.split(","):
                        self.dir = os.path.join("/sys/fs/cgroup/memory", path.lstrip("/"))
        except OSError:
            pass

    def usable(self) -> bool:
        return bool(self.dir) and os.path.exists(os.path.join(self.dir, "cgroup.event_control"))

    def run(self) -> None:
        efd = os.eventfd(0, os.EFD_CLOEXEC)
        try:
            ofd = os.open(os.path.join(self.dir, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            os.close(efd)
            return
        try:
            with open(os.path.join(self.dir, "cgroup.event_control"), "w") as f:
                f.write(f"{efd} {ofd}")
            while True:
                os.eventfd_read(efd)
                # The kernel also signals when the cgroup is removed: that is the end, not an OOM.
                if not os.path.exists(os.path.join(self.dir, "memory.oom_control")):
                    return
                self.on_oom()
        except OSError:
            return
        finally:
            os.close(efd)
            os.close(ofd)


class Proc:
    """One process of the task: the init ("" id) or an exec."""

    __slots__ = ("id", "stdin", "stdout", "stderr", "terminal", "spec", "pid", "status", "exit_status",
                 "exited_at", "exited", "waiters", "copiers", "stdin_pump", "console")

    def __init__(self, id: str, stdin: str = "", stdout: str = "", stderr: str = "", terminal: bool = False,
                 spec: dict[str, Any] | None = None) -> None:
        self.id, self.stdin, self.stdout, self.stderr, self.terminal, self.spec = (
            id, stdin, stdout, stderr, terminal, spec)
        self.pid = 0
        self.status = "created"
        self.exit_status = 0
        self.exited_at = 0.0
        self.exited = threading.Event()
        self.waiters: list[socket.socket] = []  # parked `wait` connections, answered at the exit
        self.copiers: list[Copier] = []
        self.stdin_pump: StdinPump | None = None
        self.console: int | None = None

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "pid": self.pid, "status": self.status, "exit_status": self.exit_status,
                "exited_at": self.exited_at, "stdin": self.stdin, "stdout": self.stdout, "stderr": self.stderr,
                "terminal": self.terminal}


class Shim:
    def __init__(self, args: ShimArgs, standby: tuple[str, int, socket.socket] | None = None) -> None:
        """`standby`: (runtime, pid, socket) of the `RUNTIME serve --once` the zygote's spare started
        ahead of time for the shim it became (used if this task runs that runtime)."""
        self.a = args
        self.reaper = Reaper()
        self.procs: dict[str, Proc] = {}
        self.lock = threading.RLock()
        self.done = threading.Event()
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC)  # wakes the accept loop for shutdown
        self.oom_count = 0
        self.oom_waiters: list[socket.socket] = []  # parked `oom_wait` connections
        self.log_path = os.path.join(args.bundle, "log.json")
        self.devnull: int | None = None  # /dev/null for a served command's stdio (opened once)
        self.standby: tuple[str, int, socket.socket] | None = None
        self.kept: tuple[int, socket.socket] | None = None  # the standby after create, waiting for start
        if standby is not None and standby[0] != args.runtime:
            self._drop_standby(standby[1], standby[2])  # started for the default runtime; this task runs another
        else:
            self.standby = standby

    # -- runtime invocation

    def _runtime(self, *argv: str, stdin: Any = subprocess.DEVNULL, stdout: Any = subprocess.DEVNULL,
                 stderr: Any = subprocess.DEVNULL, input_data: bytes | None = None,
                 capture: bool = False) -> tuple[int, bytes]:
        cmd = [self.a.runtime, "--root", self.a.runtime_root, "--log", self.log_path, "--log-format", "json"]
        if self.a.systemd_cgroup:
            cmd.append("--systemd-cgroup")
        cmd += list(argv)
        out_r = None
        if capture:
            out_r, stdout = os.pipe()
        in_w = None
        if input_data is not None:
            stdin, in_w = os.pipe()
        # where the command goes: the standby that ran create (the init's start), a standby (create), the
        # runtime's server (commands that start no process), else an exec of the runtime
        pid: int | None = None
        standby = served = None
        with self.lock:
            kept, self.kept = self.kept, None
        if kept is not None and argv[0] == "start":
            pid = self._send_start_to_standby(kept, cmd[1:], stdin, stdout, stderr)
        elif kept is not None:
            # No other runtime command while the standby still holds the init as its child: let it go,
            # and the init comes to us, its subreaper.
            self._drop_standby(*kept)
        if argv[0] == "create":
            standby = self._send_to_standby(cmd[1:], stdin, stdout, stderr)
            pid = standby[0] if standby is not None else None
        if pid is None and argv[0] in SERVED:
            served = self._send_to_server(cmd[1:], stdin, stdout, stderr)
        p = None
        if served is None and pid is None:
            try:
                p = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=stderr, cwd=self.a.bundle,
                                     start_new_session=False)
            except OSError as exc:
                for fd in (out_r, stdout if capture else None, stdin if input_data is not None else None, in_w):
                    if fd is not None:
                        os.close(fd)
                raise ShimError("unknown", f"exec: {self.a.runtime!r}: {exc.strerror}") from None
            pid = p.pid
            self.reaper.wake()
        output = b""
        if input_data is not None:
            os.close(stdin)
            with os.fdopen(in_w, "wb") as f:  # type: ignore[arg-type]
                try:
                    f.write(input_data)
                except BrokenPipeError:
                    pass
        if capture:
            os.close(stdout)
            with os.fdopen(out_r, "rb") as f:  # type: ignore[arg-type]
                output = f.read()
        if served is not None:
            return _served_exit(served, output)
        if standby is not None:
            return self._standby_create_exit(*standby), output
        code = self.reaper.wait(pid)
        if p is not None:
            p.returncode = code  # the reaper waited for it; stop Popen from trying
        return code, output

    def _send_request(self, conn: socket.socket, argv: list[str], stdio: tuple[Any, ...], **extra: str) -> None:
        """One request to `RUNTIME serve` (pyrunc/server.py): the command line without the program, the
        directory to run in, and our stdin, stdout and stderr attached. OSError if it is gone."""
        fds = [self._devnull() if fd == subprocess.DEVNULL else fd for fd in stdio]
        socket.send_fds(conn, [json.dumps({"argv": argv, "cwd": self.a.bundle, **extra}).encode()], fds)

    def _send_to_standby(self, argv: list[str], *stdio: Any) -> tuple[int, socket.socket] | None:
        """Give `create` to the runtime standby the spare shim started (zygote.py), asking it to run the
        `start` that follows too: (its pid, the connection), or None when there is none or it is gone
        (then exec). The standby is our child, reaped like an exec'd runtime."""
        standby, self.standby = self.standby, None
        if standby is None:
            return None
        _, pid, conn = standby
        try:
            self._send_request(conn, argv, stdio, then="start")
        except OSError:
            conn.close()
            return None  # it died while the zygote still auto-reaped its children: nothing to wait for
        self.reaper.wake()
        return pid, conn

    def _standby_create_exit(self, pid: int, conn: socket.socket) -> int:
        """create's exit code, which the standby sends and then waits for our `start` (kept in self.kept);
        a standby that failed or died just exits with it."""
        try:
            reply = conn.recv(16)
        except OSError:
            reply = b""
        if reply == b"0":
            self.kept = (pid, conn)
            return 0
        conn.close()
        code = self.reaper.wait(pid)
        return int(reply) if reply.isdigit() else code

    def _send_start_to_standby(self, kept: tuple[int, socket.socket], argv: list[str], *stdio: Any) -> int | None:
        """The init's `start` to the standby that created it: its pid (its exit code is start's), or None."""
        pid, conn = kept
        try:
            self._send_request(conn, argv, stdio)
        except OSError:
            self._drop_standby(pid, conn)
            return None
        conn.close()
        return pid

    def _drop_standby(self, pid: int, conn: socket.socket) -> None:
        """Close a standby's socket (it exits on EOF) and reap it without waiting for it."""
        conn.close()
        self.reaper.on_exit(pid, _ignore)

    def _send_to_server(self, argv: list[str], *stdio: Any) -> socket.socket | None:
        """Hand a command that starts no process to the runtime's server (`pyrunc serve`, see
        pyrunc/server.py): the same command line and stdio without an interpreter start. None when there
        is no server or it does not answer (then the command is exec'd, as always for runc)."""
        if not self.a.runtime_server:
            return None
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.a.runtime_server)
            self._send_request(conn, argv, stdio)
        except OSError:
            conn.close()  # not started yet, or gone with a pycontainerd that died: exec it
            return None
        return conn

    def _devnull(self) -> int:
        if self.devnull is None:
            self.devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        return self.devnull

    def _runtime_error(self, offset: int, code: int, output: bytes = b"") -> str:
        """The last "level":"error" message the runtime logged since `offset` (runc's contract)."""
        msg = ""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                for line in f.read().splitlines():
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if entry.get("level") == "error" and entry.get("msg"):
                        msg = entry["msg"]
        except OSError:
            pass
        return msg or output.decode(errors="replace").strip() or f"exit status {code}"

    def _log_offset(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    # -- stdio setup

    def _setup_pipes(self, p: Proc) -> tuple[list[int], list[int]]:
        """Return (fds for the runtime's stdin/stdout/stderr, fds to close after it ran)."""
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        child, after = [devnull, devnull, devnull], [devnull]
        targets = []
        try:
            if p.stdin:
                fifo = _open_target(p.stdin, False)
                r, w = os.pipe2(os.O_CLOEXEC)
                child[0] = r
                after.append(r)
                p.stdin_pump = StdinPump(fifo, w)  # type: ignore[arg-type]
            for i, path in ((1, p.stdout), (2, p.stderr)):
                if path:
                    dst = _open_target(path, True)
                    targets.append(dst)
                    r, w = os.pipe2(os.O_CLOEXEC)
                    child[i] = w
                    after.append(w)
                    p.copiers.append(Copier(r, dst))  # type: ignore[arg-type]
        except BaseException:
            for fd in after + targets:
                os.close(fd)
            raise
        return child, after

    def _start_io(self, p: Proc) -> None:
        for c in p.copiers:
            c.start()
        if p.stdin_pump:
            p.stdin_pump.start()

    def _abort_io(self, p: Proc) -> None:
        """Stop running copiers; close the fds of ones that never started (a failed launch)."""
        threads: list[Any] = list(p.copiers) + ([p.stdin_pump] if p.stdin_pump else [])
        for t in threads:
            wake = t.stop if isinstance(t, Copier) else t.close_req
            if t.is_alive():
                wake.set()
                continue
            if t.ident is not None:
                continue  # ran and finished: it closed its own fds
            fds = (t.src, t.dst) if isinstance(t, Copier) else (t.fifo, t.dst)
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            wake.close()
        if p.console is not None and not any(t.is_alive() for t in threads):
            try:
                os.close(p.console)
            except OSError:
                pass
            p.console = None

    def _console_socket(self) -> tuple[socket.socket, str]:
        import tempfile  # only terminals need it
        d = tempfile.mkdtemp(prefix="pyshim-")
        path = os.path.join(d, "console.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(1)
        return s, path

    def _receive_console(self, s: socket.socket, p: Proc) -> None:
        s.settimeout(10)
        conn, _ = s.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        if not fds:
            raise ShimError("unknown", "console socket: no pty master received")
        master = fds[0]
        p.console = master
        if p.stdout:
            out = _open_target(p.stdout, True)
            p.copiers.append(Copier(os.dup(master), out))  # type: ignore[arg-type]
        if p.stdin:
            fifo = _open_target(p.stdin, False)
            p.stdin_pump = StdinPump(fifo, os.dup(master))  # type: ignore[arg-type]

    @staticmethod
    def _close_console_socket(s: socket.socket, path: str) -> None:
        try:
            s.shutdown(socket.SHUT_RDWR)  # wakes a thread still blocked in accept()
        except OSError:
            pass
        s.close()
        try:
            os.unlink(path)
            os.rmdir(os.path.dirname(path))
        except OSError:
            pass

    def _launch(self, p: Proc, argv_before_id: list[str], pid_file: str, what: str) -> None:
        """Run `runtime <argv> [--console-socket S] ID` with the process's stdio; set p.pid."""
        offset = self._log_offset()
        if p.terminal:
            cs, cpath = self._console_socket()
            argv = argv_before_id + ["--console-socket", cpath, self.a.id]
            result: dict[str, Any] = {}

            def recv() -> None:
                try:
                    self._receive_console(cs, p)
                except BaseException as exc:  # reported below if the runtime succeeded
                    result["error"] = exc

            t = threading.Thread(target=recv, daemon=True)
            t.start()
            try:
                code, out = self._runtime(*argv, capture=False)
                if code != 0:
                    raise ShimError("unknown", f"OCI runtime {what} failed: {self._runtime_error(offset, code, out)}")
                t.join(10)
                if "error" in result or p.console is None:
                    raise ShimError("unknown", f"failed to receive console: {result.get('error', 'timeout')}")
            except BaseException:
                self._close_console_socket(cs, cpath)
                t.join(1)
                self._abort_io(p)
                raise
            self._close_console_socket(cs, cpath)
        else:
            child, after = self._setup_pipes(p)
            try:
                code, out = self._runtime(*argv_before_id, self.a.id, stdin=child[0], stdout=child[1],
                                          stderr=child[2])
            finally:
                for fd in after:
                    os.close(fd)
            if code != 0:
                self._abort_io(p)
                raise ShimError("unknown", f"OCI runtime {what} failed: {self._runtime_error(offset, code, out)}")
        try:
            with open(pid_file) as f:
                p.pid = int(f.read().strip())
        except (OSError, ValueError) as exc:
            self._abort_io(p)
            raise ShimError("unknown", f"OCI runtime {what} failed: read pid file: {exc}") from None
        self._start_io(p)
        self.reaper.on_exit(p.pid, lambda code, p=p: threading.Thread(target=self._finish, args=(p, code),
                                                                       daemon=True).start())

    def _finish(self, p: Proc, code: int) -> None:
        """Drain stdio (bounded), close our FIFO ends, then publish the exit."""
        if not p.id and self._kills_all_on_exit():
            # containerd's ShouldKillAllOnExit: without a pid namespace of its own the init's end is not
            # its processes' end; they go now, not at delete, and stop holding its stdio open
            try:
                self._runtime("kill", "--all", self.a.id, "9")
            except Exception as exc:  # noqa: BLE001 - the exit is published regardless; delete kills them too
                sys.stderr.write(f"kill --all after the init's exit: {exc}\n")
        deadline = time.monotonic() + DRAIN_TIMEOUT
        for c in p.copiers:
            c.join(max(0.0, deadline - time.monotonic()))
            c.stop.set()
        for c in p.copiers:
            c.join(1)
        if p.stdin_pump:
            p.stdin_pump.close_req.set()
        if p.console is not None:
            try:
                os.close(p.console)
            except OSError:
                pass
            p.console = None
        with self.lock:
            p.exit_status = code
            p.exited_at = time.time()
            p.status = "stopped"
            p.exited.set()
            waiters, p.waiters = p.waiters, []
        for conn in waiters:
            _answer(conn, {"ok": True, **self._wait_reply(p)})

    # -- operations

    def _kills_all_on_exit(self) -> bool:
        """Whether the bundle's spec lacks a new pid namespace (none, or one joined by path)."""
        try:
            with open(os.path.join(self.a.bundle, "config.json")) as f:
                spec = json.load(f)
        except (OSError, ValueError):
            return False
        return not any(ns.get("type") == "pid" and not ns.get("path")
                       for ns in (spec.get("linux") or {}).get("namespaces") or [])

    def _proc(self, exec_id: str) -> Proc:
        p = self.procs.get(exec_id)
        if p is None:
            raise ShimError("not found", f"process {exec_id} does not exist" if exec_id else "task not created")
        return p

    def op_create(self, r: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if "" in self.procs:
                raise ShimError("already exists", f"task {self.a.id}")
            p = Proc("", r.get("stdin", ""), r.get("stdout", ""), r.get("stderr", ""), bool(r.get("terminal")))
            pid_file = os.path.join(self.a.bundle, "init.pid")
            try:
                self._launch(p, ["create", "--bundle", self.a.bundle, "--pid-file", pid_file], pid_file, "create")
            except BaseException:
                # Leave nothing behind: a half-created container is force-deleted.
                self._runtime("delete", "--force", self.a.id)
                raise
            self.procs[""] = p
        watcher = OomWatcher(p.pid, self._oom)
        if watcher.usable():
            watcher.start()
        return {"pid": p.pid}

    def _oom(self) -> None:
        with self.lock:
            self.oom_count += 1
            waiters, self.oom_waiters = self.oom_waiters, []
        for conn in waiters:
            _answer(conn, {"ok": True, "count": self.oom_count})

    def park_oom_wait(self, r: dict[str, Any], conn: socket.socket) -> dict[str, Any] | None:
        """Answer once the OOM count passes `seen` (or the shim shuts down) with the count; until then
        the connection waits in a list, not in a thread (a running task always has one such caller)."""
        seen = int(r.get("seen", 0))
        with self.lock:
            if self.oom_count <= seen and not self.done.is_set():
                self.oom_waiters = _prune(self.oom_waiters) + [conn]
                return None
            return {"count": self.oom_count}

    def op_start(self, r: dict[str, Any]) -> dict[str, Any]:
        exec_id = r.get("exec_id", "")
        with self.lock:
            p = self._proc(exec_id)
            if p.status != "created" or (exec_id and p.pid):
                raise ShimError("failed precondition", f"process {exec_id or self.a.id} is already started")
        if not exec_id:
            offset = self._log_offset()
            code, out = self._runtime("start", self.a.id)
            if code != 0:
                raise ShimError("unknown", f"OCI runtime start failed: {self._runtime_error(offset, code, out)}")
            with self.lock:
                if p.status == "created":
                    p.status = "running"
            return {"pid": p.pid}
        proc_file = os.path.join(self.a.bundle, f"exec-{exec_id}.json")
        pid_file = os.path.join(self.a.bundle, f"exec-{exec_id}.pid")
        with open(proc_file, "w") as f:
            json.dump(p.spec, f)
        try:
            self._launch(p, ["exec", "--process", proc_file, "--detach", "--pid-file", pid_file], pid_file, "exec")
        finally:
            for path in (proc_file, pid_file):
                try:
                    os.unlink(path)
                except OSError:
                    pass
        with self.lock:
            if p.status == "created":
                p.status = "running"
        return {"pid": p.pid}

    def op_exec(self, r: dict[str, Any]) -> dict[str, Any]:
        exec_id = r["exec_id"]
        with self.lock:
            init = self._proc("")
            if init.status == "stopped":
                raise ShimError("failed precondition", f"container {self.a.id} is stopped")
            if exec_id in self.procs:
                raise ShimError("already exists", f"id {exec_id}")
            self.procs[exec_id] = Proc(exec_id, r.get("stdin", ""), r.get("stdout", ""), r.get("stderr", ""),
                                       bool(r.get("terminal")), r["spec"])
        return {}

    def op_kill(self, r: dict[str, Any]) -> dict[str, Any]:
        exec_id, sig = r.get("exec_id", ""), int(r.get("signal") or signal.SIGTERM)
        p = self._proc(exec_id)
        if p.status == "stopped" or (exec_id and not p.pid):
            raise ShimError("not found", "process already finished")
        if exec_id:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                raise ShimError("not found", "process already finished") from None
            return {}
        offset = self._log_offset()
        code, out = self._runtime("kill", *(["--all"] if r.get("all") else []), self.a.id, str(sig))
        if code != 0:
            if p.exited.wait(0.1) or p.status == "stopped":
                raise ShimError("not found", "process already finished")
            raise ShimError("unknown", f"OCI runtime kill failed: {self._runtime_error(offset, code, out)}")
        return {}

    @staticmethod
    def _wait_reply(p: Proc) -> dict[str, Any]:
        return {"exit_status": p.exit_status, "exited_at": p.exited_at, "pid": p.pid}

    def park_wait(self, r: dict[str, Any], conn: socket.socket) -> dict[str, Any] | None:
        """The exit of a process: at once if it has exited, else parked until it does (no thread)."""
        p = self._proc(r.get("exec_id", ""))
        with self.lock:
            if not p.exited.is_set():
                p.waiters = _prune(p.waiters) + [conn]
                return None
        return self._wait_reply(p)

    def op_state(self, r: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if "exec_id" in r:
                return {"process": self._proc(r["exec_id"]).info()}
            return {"processes": [p.info() for p in self.procs.values()]}

    def op_delete(self, r: dict[str, Any]) -> dict[str, Any]:
        exec_id = r.get("exec_id", "")
        p = self._proc(exec_id)
        if exec_id:
            if p.pid and p.status != "stopped":
                raise ShimError("failed precondition", f"process must be stopped before deletion: {p.status}")
            with self.lock:
                self.procs.pop(exec_id, None)
            return {"pid": p.pid, "exit_status": p.exit_status, "exited_at": p.exited_at}
        if p.status in ("running", "paused") and not p.exited.is_set():
            # containerd's words (runtime/v2/runc/task/service.go → process state machine)
            raise ShimError("failed precondition", f"task must be stopped before deletion: {p.status}")
        offset = self._log_offset()
        code, out = self._runtime("delete", *(["--force"] if p.status == "created" else []), self.a.id)
        if code != 0:
            # runc refuses to delete a container it no longer knows: that is the goal anyway
            msg = self._runtime_error(offset, code, out)
            if "does not exist" not in msg and "not exist" not in msg:
                raise ShimError("unknown", f"OCI runtime delete failed: {msg}")
        if not p.exited.wait(5):
            raise ShimError("unknown", f"task {self.a.id}: init process did not exit after delete")
        for q in self.procs.values():
            if not q.pid:  # execs added but never started still hold their FIFOs
                self._abort_io(q)
        close_lingering()
        return {"pid": p.pid, "exit_status": p.exit_status, "exited_at": p.exited_at}

    def op_resize(self, r: dict[str, Any]) -> dict[str, Any]:
        p = self._proc(r.get("exec_id", ""))
        if p.console is None:
            return {}  # no terminal (or it has exited): nothing to resize, as containerd's shim answers
        fcntl.ioctl(p.console, termios.TIOCSWINSZ, struct.pack("HHHH", int(r["height"]), int(r["width"]), 0, 0))
        return {}

    def op_closeio(self, r: dict[str, Any]) -> dict[str, Any]:
        p = self._proc(r.get("exec_id", ""))
        if p.stdin_pump is not None:
            p.stdin_pump.close_req.set()
            if p.stdin_pump.is_alive():
                p.stdin_pump.closed.wait(5)
        return {}

    def _simple(self, what: str, *argv: str, input_data: bytes | None = None,
                capture: bool = False) -> bytes:
        offset = self._log_offset()
        code, out = self._runtime(*argv, input_data=input_data, capture=capture)
        if code != 0:
            raise ShimError("unknown", f"OCI runtime {what} failed: {self._runtime_error(offset, code, out)}")
        return out

    def op_pause(self, r: dict[str, Any]) -> dict[str, Any]:
        self._simple("pause", "pause", self.a.id)
        with self.lock:
            self._proc("").status = "paused"
        return {}

    def op_resume(self, r: dict[str, Any]) -> dict[str, Any]:
        self._simple("resume", "resume", self.a.id)
        with self.lock:
            p = self._proc("")
            if p.status == "paused":
                p.status = "running"
        return {}

    def op_pids(self, r: dict[str, Any]) -> dict[str, Any]:
        out = self._simple("ps", "ps", "--format", "json", self.a.id, capture=True)
        pids = json.loads(out or b"[]") or []
        execs = {p.pid: p.id for p in self.procs.values() if p.id and p.pid}
        return {"pids": [{"pid": pid, "exec_id": execs.get(pid, "")} for pid in pids]}

    def op_update(self, r: dict[str, Any]) -> dict[str, Any]:
        self._simple("update", "update", "--resources", "-", self.a.id,
                     input_data=json.dumps(r.get("resources") or {}).encode())
        return {}

    def op_shutdown(self, r: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            live = [p for p in self.procs.values() if p.pid and p.status != "stopped"]
            if live and not r.get("force"):
                raise ShimError("failed precondition", "shim has running processes")
        with self.lock:
            self.done.set()
            waiters, self.oom_waiters = self.oom_waiters, []
        for conn in waiters:  # release oom_wait callers
            _answer(conn, {"ok": True, "count": self.oom_count})
        return {}

    # -- serving

    def handle(self, conn: socket.socket) -> None:
        reply: dict[str, Any] | None = None
        try:
            with conn.makefile("rb") as f:
                line = f.readline()
            if not line:
                conn.close()
                return
            req = json.loads(line)
            op = str(req.get("op"))
            park = getattr(self, "park_" + op, None)
            if park is not None:
                result = park(req, conn)
                if result is None:
                    return  # parked: answered (and closed) by whoever ends the wait
                reply = {"ok": True, **result}
            else:
                fn = getattr(self, "op_" + op, None)
                if fn is None:
                    reply = {"ok": False, "kind": "not implemented", "error": f"unknown op {req.get('op')!r}"}
                else:
                    reply = {"ok": True, **fn(req)}
        except ShimError as exc:
            reply = {"ok": False, "kind": exc.kind, "error": str(exc)}
        except Exception as exc:
            import traceback  # only for the unexpected
            traceback.print_exc()
            reply = {"ok": False, "kind": "unknown", "error": str(exc)}
        _answer(conn, reply)
        if self.done.is_set():
            os.write(self.wake_w, b"x")  # the reply is out: the accept loop may stop now

    def serve(self, listener: socket.socket) -> None:
        handlers: list[threading.Thread] = []
        while not self.done.is_set():
            ready, _, _ = select.select([listener, self.wake_r], [], [])
            if self.wake_r in ready:
                break
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            t = threading.Thread(target=self.handle, args=(conn,), daemon=True)
            t.start()
            handlers = [h for h in handlers if h.is_alive()] + [t]
        listener.close()
        # Replies already decided (e.g. exits being reported) get a moment to go out before we exit.
        deadline = time.monotonic() + 1.0
        for h in handlers:
            h.join(max(0.0, deadline - time.monotonic()))


def _ignore(code: int) -> None:
    """For a child whose exit nobody waits for (a standby let go)."""


def _served_exit(conn: socket.socket, output: bytes) -> tuple[int, bytes]:
    """The exit code the runtime server sends when its child ends (and why, if it refused the command)."""
    reply = b""
    try:
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    except OSError:
        pass
    finally:
        conn.close()
    code, _, why = reply.decode(errors="replace").partition(" ")
    if not code.lstrip("-").isdigit():
        return 255, output or b"runtime server closed the connection before the command ended"
    n = int(code)
    return (128 - n if n < 0 else n), output or why.encode()


def _answer(conn: socket.socket, reply: dict[str, Any]) -> None:
    """Send the one reply of a connection and close it."""
    try:
        conn.sendall(json.dumps(reply).encode() + b"\n")
    except OSError:
        pass
    finally:
        conn.close()


def _prune(conns: list[socket.socket]) -> list[socket.socket]:
    """Drop (and close) parked connections whose client has gone: a restarted daemon waits anew."""
    alive = []
    for conn in conns:
        try:
            gone = conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            gone = False
        except OSError:
            gone = True
        if gone:
            conn.close()
        else:
            alive.append(conn)
    return alive


class ShimArgs:
    """The shim's command line: `start --namespace NS --id ID --bundle B --runtime R --runtime-root ROOT
    [--systemd-cgroup]` (parsed by hand: argparse would cost an exec'd shim ~8 ms of imports)."""

    __slots__ = ("namespace", "id", "bundle", "runtime", "runtime_root", "systemd_cgroup", "runtime_server")
    _VALUED = {"--namespace": "namespace", "--id": "id", "--bundle": "bundle", "--runtime": "runtime",
               "--runtime-root": "runtime_root"}
    _OPTIONAL = {"--runtime-server": "runtime_server"}  # the socket of `RUNTIME serve`, if it has one

    def __init__(self, namespace: str, id: str, bundle: str, runtime: str, runtime_root: str,
                 systemd_cgroup: bool = False, runtime_server: str = "") -> None:
        self.namespace, self.id, self.runtime, self.runtime_root = namespace, id, runtime, runtime_root
        self.bundle = os.path.abspath(bundle)
        self.systemd_cgroup = systemd_cgroup
        self.runtime_server = runtime_server

    @classmethod
    def parse(cls, argv: list[str]) -> ShimArgs:
        """Parse `start --opt value ...`; ValueError says what is wrong."""
        if not argv or argv[0] != "start":
            raise ValueError("the only action is `start`")
        got: dict[str, Any] = {"systemd_cgroup": False}
        it = iter(argv[1:])
        for opt in it:
            name, eq, value = opt.partition("=")
            if name == "--systemd-cgroup" and not eq:
                got["systemd_cgroup"] = True
                continue
            key = cls._VALUED.get(name) or cls._OPTIONAL.get(name)
            if key is None:
                raise ValueError(f"unrecognized argument: {opt}")
            if not eq:
                value = next(it, None)
                if value is None:
                    raise ValueError(f"argument {name}: expected one argument")
            got[key] = value
        missing = [o for o, k in cls._VALUED.items() if k not in got]
        if missing:
            raise ValueError(f"the following arguments are required: {', '.join(missing)}")
        return cls(**got)

    def argv(self) -> list[str]:
        out = ["start", "--namespace", self.namespace, "--id", self.id, "--bundle", self.bundle,
               "--runtime", self.runtime, "--runtime-root", self.runtime_root]
        if self.runtime_server:
            out += ["--runtime-server", self.runtime_server]
        return out + (["--systemd-cgroup"] if self.systemd_cgroup else [])


_LIBC: Any = None


def libc() -> Any:
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


def _start(args: ShimArgs) -> int:
    """Exec'd shim: double-fork a daemon that serves the shim socket; return once it is listening."""
    r, w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(w)
        os.waitpid(pid, 0)
        with os.fdopen(r, "rb") as f:
            status = f.read().decode(errors="replace")
        if status.startswith("ok"):
            return 0
        sys.stderr.write(status or "shim failed to start\n")
        return 1
    os.close(r)
    daemonize(args, w)


def daemonize(args: ShimArgs, status_fd: int) -> None:
    """In a child of whoever starts the shim: a new session, then fork the shim and exit so that it is
    reparented (it must outlive pycontainerd). The shim writes "ok" (or why it failed) to `status_fd`
    once it listens, then closes it. Never returns."""
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
    except BaseException as exc:
        os.write(status_fd, f"shim start failed: {exc}\n".encode())
        os._exit(1)
    become_shim(args, status_fd)


def become_shim(args: ShimArgs, status_fd: int, standby: tuple[str, int, socket.socket] | None = None) -> None:
    """Turn this process (a session leader nobody waits for) into the shim: listen on the bundle's
    socket, report "ok" on `status_fd`, serve until shut down, exit. Never returns."""
    try:
        if libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        # Our threads only block in poll/accept/waitpid and small handlers: 256 KiB stacks are plenty,
        # and each 8 MiB default stack would cost page tables and touched pages per thread.
        threading.stack_size(256 << 10)
        path, dirfd = sock_path(args.bundle, "shim.sock")
        try:
            os.unlink(os.path.join(args.bundle, "shim.sock"))
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        os.close(dirfd)
        os.chmod(os.path.join(args.bundle, "shim.sock"), 0o600)
        listener.listen(64)
        logfd = os.open(os.path.join(args.bundle, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        nullfd = os.open(os.devnull, os.O_RDWR)
        os.dup2(nullfd, 0)
        os.dup2(logfd, 1)
        os.dup2(logfd, 2)
        os.close(nullfd)
        os.close(logfd)
        os.chdir(args.bundle)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1` → thread stacks in shim.log
        shim = Shim(args, standby)
        with open(os.path.join(args.bundle, "shim.pid"), "w") as f:
            f.write(str(os.getpid()))
        os.write(status_fd, b"ok\n")
        os.close(status_fd)
    except BaseException as exc:
        os.write(status_fd, f"shim start failed: {exc}\n".encode())
        os._exit(1)
    try:
        shim.serve(listener)
    finally:
        try:
            os.unlink(os.path.join(args.bundle, "shim.sock"))
        except OSError:
            pass
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    try:
        args = ShimArgs.parse(sys.argv[1:] if argv is None else argv)
    except ValueError as exc:
        sys.stderr.write(f"pycontainerd-shim: error: {exc}\n")
        return 2
    return _start(args)


if __name__ == "__main__":
    sys.exit(main())
