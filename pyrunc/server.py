"""`pyrunc serve`: run runc commands for shims without an interpreter start per command.

Every `pyrunc start|kill|delete …` a shim execs pays for a Python start (~7 ms of CPU here) to do
~1 ms of work. A shim that was told of this server (pycontainerd passes its socket) sends the same
command line instead, with its stdin, stdout and stderr attached (SCM_RIGHTS) and the directory to run
in; the server forks a child from its already-imported self, the child runs `main(argv)` exactly as an
exec'd pyrunc would (same flags, `--log`, exit code), and the server sends back the exit code.

`kill` without `--all` runs in the server itself (a signal, nothing to wait for; see
_signals_init_only). Only commands that create no process stay here. `create`, `run` and `exec`
start processes the shim must be the parent of (it is their subreaper and reaps them): a child of
this server would hand them to the wrong process, so the shim execs those, as it execs every command
when no server answers.

Protocol, one command per connection on a SOCK_STREAM unix socket: the client sends one JSON object
`{"argv": [...], "cwd": "..."}` (argv without the program name) with exactly three fds; the server
answers with the exit code as decimal ASCII and closes. The listening socket is inherited (`--fd N`;
pycontainerd binds it with mode 0600); the server ends when its stdin reaches EOF (the process that
started it holds the other end) and after the commands in flight.

`pyrunc serve --once --fd N` is a standby for the one exec that cannot be served: N is a connected
socket, the same request arrives on it, and the standby runs that command itself (see serve_once).
"""
from __future__ import annotations

import os
import _socket
import struct
import sys

# Not json and socket: they import re and enum (~8 ms), which a standby would pay for on every create.
from . import jsonlite as json
from .errors import RuncError

# What a child of the server may run: commands that start no process of their own.
SERVED = frozenset({"start", "kill", "delete", "state", "pause", "resume", "update", "ps", "features"})
MAX_REQUEST = 1 << 16  # a command line with its paths; recvmsg allocates this much per request


def _preload_cgroup_driver() -> None:
    from . import cgroups
    if cgroups.is_v2_host():
        from .cgroups import v2  # noqa: F401
    else:
        from .cgroups import v1  # noqa: F401


def _preload() -> None:
    """Import what the served commands import, once, so that a forked child imports nothing."""
    import select  # noqa: F401  (start)

    from . import commands, container, hooks, jsonlite, state, stats  # noqa: F401
    from .cgroups import oom  # noqa: F401
    _preload_cgroup_driver()


def check(command: list[str]) -> None:
    """Refuse what is not a served command (`command` as _command gives it)."""
    cmd = command[0] if command else ""
    if cmd not in SERVED:
        raise RuncError(f"serve: {cmd or 'no command'} is not served (exec pyrunc for it)")


def _recv_request(conn) -> tuple[list[str], str, list[int], str]:
    """One request: (argv, cwd, [stdin, stdout, stderr], what the standby is to run next, see serve_once);
    ValueError when malformed, ([], "", [], "") at EOF."""
    data, anc, _, _ = conn.recvmsg(MAX_REQUEST, _socket.CMSG_SPACE(3 * 4))
    fds: list[int] = []
    for level, kind, raw in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds += struct.unpack(f"{len(raw) // 4}i", raw[:len(raw) - len(raw) % 4])
    if not data:
        for fd in fds:
            os.close(fd)
        return [], "", [], ""
    try:
        req = json.loads(data)
        argv, cwd, then = req["argv"], req.get("cwd") or "/", req.get("then") or ""
        if len(fds) != 3:
            raise ValueError("a request carries stdin, stdout and stderr")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or not isinstance(cwd, str):
            raise ValueError("argv must be a list of strings")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        for fd in fds:
            os.close(fd)
        raise ValueError(f"bad request: {exc}") from None
    return argv, cwd, fds, then


def _run(argv: list[str], cwd: str, fds: list[int]) -> None:
    """In the forked child: become `pyrunc argv` with the client's stdio. Never returns."""
    try:
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
        os.closerange(3, 1 << 16)  # the listener, the selector, other clients: none is the command's
        os.chdir(cwd)
        from .main import main
        main(argv, fast_exit=True)
    finally:
        os._exit(255)


def _run_here(argv: list[str], cwd: str, fds: list[int]) -> int:
    """Run `pyrunc argv` in this process with the client's stdio; its exit code. Our stdio and cwd come
    back. Raises OSError, before running anything (the client's fds closed), when `cwd` is gone or no fd
    is left to save ours: the caller answers that command alone."""
    try:
        os.chdir(cwd)  # first: a bundle deleted meanwhile fails here, with nothing swapped yet
        saved: list[int] = []
        try:
            for i in range(3):
                saved.append(os.dup(i))
        except OSError:
            for fd in saved:
                os.close(fd)
            raise
    except OSError:
        os.chdir("/")
        for fd in fds:
            os.close(fd)
        raise
    try:
        for i, fd in enumerate(fds):
            os.dup2(fd, i)
            os.close(fd)
        from .main import main
        try:
            main(argv)
        except SystemExit as e:  # main always ends this way without fast_exit
            return e.code if isinstance(e.code, int) else 0 if e.code is None else 1
        return 0
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        for i, fd in enumerate(saved):
            os.dup2(fd, i)
            os.close(fd)
        os.chdir("/")  # not the bundle: it is deleted soon, and the server outlives it
        from . import runlog
        runlog.setup(None, "text", False)  # closes the command's --log


def _command(argv: list[str]) -> list[str]:
    """The subcommand and its arguments, after the global flags ([] if none or they do not parse)."""
    from .main import _GLOBAL, parse_flags
    try:
        return parse_flags(argv, _GLOBAL)[1]
    except RuncError:
        return []


def _subcommand(argv: list[str]) -> str:
    return (_command(argv) or [""])[0]


def _signals_init_only(command: list[str]) -> bool:
    """`kill` without --all (`command` as _command gives it): one signal to the init (and a thaw for
    SIGKILL of a paused one), nothing to wait for. The server runs it in its own process: a forked child
    costs ~1.4 ms of CPU for ~0.1 ms of work, and this is what every `docker stop` and `rm -f` sends."""
    if not command or command[0] != "kill":
        return False
    from .main import _FLAGS, parse_flags
    try:
        opts, _ = parse_flags(command[1:], _FLAGS["kill"], "kill", interleaved=True)
    except RuncError:
        return False
    return not opts.get("all")


class _Server:
    def __init__(self, listener) -> None:
        import selectors
        self.listener = listener
        self.sel = selectors.DefaultSelector()
        self.read = selectors.EVENT_READ
        self.sel.register(listener, self.read, self._accept)
        self.sel.register(0, self.read, self._parent)
        self.closing = False
        self.children = 0
        self.pending = 0  # connections accepted whose request has not been read yet

    def loop(self) -> None:
        while not self.closing or self.children or self.pending:
            for key, _ in self.sel.select():
                key.data(key.fileobj)

    def _parent(self, _fd: int) -> None:
        try:
            if os.read(0, 4096):
                return
        except OSError:
            pass
        # The daemon that started us is gone (it removed the socket's path first, so new clients exec
        # the runtime): take the connections already queued, answer them and those in flight, then end.
        self.closing = True
        self.sel.unregister(0)
        while self._accept(self.listener):
            pass
        self.sel.unregister(self.listener)
        self.listener.close()

    def _accept(self, listener) -> bool:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return False
        self.pending += 1
        self.sel.register(conn, self.read, self._request)
        return True

    def _request(self, conn) -> None:
        self.sel.unregister(conn)
        self.pending -= 1
        try:
            argv, cwd, fds, _ = _recv_request(conn)
        except (OSError, ValueError) as exc:
            self._reply(conn, f"255 serve: {exc}")
            return
        if not argv:
            conn.close()
            return
        command = _command(argv)
        if _signals_init_only(command):
            try:
                code = str(_run_here(argv, cwd, fds))
            except Exception as exc:  # noqa: BLE001 - this command fails, the server serves on
                code = f"255 serve: {exc}"
            self._reply(conn, code)
            return
        try:
            check(command)
            pid = os.fork()
        except (OSError, RuncError) as exc:
            self._reply(conn, f"255 {exc.msg if isinstance(exc, RuncError) else exc}")
            for fd in fds:
                os.close(fd)
            return
        if pid == 0:
            _run(argv, cwd, fds)
        for fd in fds:
            os.close(fd)
        self.children += 1
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:  # out of fds (or no pidfds): wait for this one here rather than lose track of it
            _, status = os.waitpid(pid, 0)
            self.children -= 1
            self._reply(conn, str(os.waitstatus_to_exitcode(status)))
            return
        self.sel.register(pidfd, self.read, lambda fd, pid=pid, conn=conn: self._done(fd, pid, conn))

    def _done(self, pidfd: int, pid: int, conn) -> None:
        self.sel.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        self.children -= 1
        self._reply(conn, str(os.waitstatus_to_exitcode(status)))

    @staticmethod
    def _reply(conn, text: str) -> None:
        try:
            conn.sendall(text.encode())
        except OSError:
            pass  # the client went away: nothing to tell
        conn.close()


def _preload_create() -> None:
    """Import what `create` imports, so the command starts as soon as it arrives."""
    from . import (capabilities, commands, config, container, devices, jsonlite, mounts,  # noqa: F401
                   namespaces, process, seccomp, seccompprog, sigs, state, sync, syscalls)
    _preload_cgroup_driver()
    import _sha256  # noqa: F401  (the seccomp cache key)


def serve_once(fd: int) -> int:
    """A standby: started ahead of need (by pycontainerd's spare shim), imported, it runs the one command
    that arrives on the connected socket `fd` in this very process, `create` included: this process is a
    child of the shim, so the processes it starts are handed to the shim as an exec'd pyrunc's are. Its
    exit code is the command's. EOF before a command (the shim went away or uses another runtime): exit 0.

    A `create` sent with "then": "start" is answered on the socket instead (its exit code), and the
    standby, if it succeeded, waits for that `start` and runs it too (its exit code is then the standby's):
    one process for both calls. Meanwhile the init is still our child, so the client closes the socket
    instead when anything else comes first: we exit, and the init goes to the client, its subreaper."""
    _preload_create()
    conn = _socket.socket(fileno=fd)
    try:
        argv, cwd, fds, then = _recv_request(conn)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"pyrunc serve --once: {exc}\n")
        return 255
    if not argv:
        return 0
    if then != "start" or _subcommand(argv) != "create":
        conn.close()
        _run(argv, cwd, fds)
    code = _run_here(argv, cwd, fds)
    try:
        conn.sendall(str(code).encode())
    except OSError:
        return code
    if code != 0:
        return code
    try:
        argv, cwd, fds, _ = _recv_request(conn)
    except (OSError, ValueError):
        return 0
    conn.close()
    if not argv:
        return 0  # released: the init goes to the client as we exit
    if _subcommand(argv) != "start":
        os.write(fds[2], b"pyrunc serve --once: only start may follow create\n")
        return 255
    _run(argv, cwd, fds)
    return 255  # not reached


def serve(listen_fd: int) -> int:
    """Serve commands on the inherited listening socket until stdin closes."""
    import socket  # the server is long-lived: the full module is fine here
    listener = socket.socket(fileno=listen_fd)
    listener.setblocking(False)
    _preload()
    import gc
    gc.freeze()  # what the children inherit is never collected: no copy-on-write of the whole heap (~0.7 ms)
    _Server(listener).loop()
    return 0
