"""`pyrunc serve`: run runc commands for shims without an interpreter start per command.

Every `pyrunc start|kill|delete …` a shim execs pays for a Python start (~7 ms of CPU here) to do
~1 ms of work. A shim that was told of this server (pycontainerd passes its socket) sends the same
command line instead, with its stdin, stdout and stderr attached (SCM_RIGHTS) and the directory to run
in; the server forks a child from its already-imported self, the child runs `main(argv)` exactly as an
exec'd pyrunc would (same flags, `--log`, exit code), and the server sends back the exit code.

Only commands that create no process stay here. `create`, `run` and `exec` start processes the shim
must be the parent of (it is their subreaper and reaps them): a child of this server would hand them
to the wrong process, so the shim execs those, as it execs every command when no server answers.

Protocol, one command per connection on a SOCK_STREAM unix socket: the client sends one JSON object
`{"argv": [...], "cwd": "..."}` (argv without the program name) with exactly three fds; the server
answers with the exit code as decimal ASCII and closes. The listening socket is inherited (`--fd N`;
pycontainerd binds it with mode 0600); the server ends when its stdin reaches EOF (the process that
started it holds the other end) and after the commands in flight.
"""
from __future__ import annotations

import json
import os
import selectors
import socket
import sys

from .errors import RuncError

# What a child of the server may run: commands that start no process of their own.
SERVED = frozenset({"start", "kill", "delete", "state", "pause", "resume", "update", "ps", "features"})
MAX_REQUEST = 1 << 20


def _preload() -> None:
    """Import what the served commands import, once, so that a forked child imports nothing."""
    from . import commands, container, jsonlite, state, stats  # noqa: F401
    from .cgroups import oom  # noqa: F401


def check(argv: list) -> None:
    """Refuse what is not a served command line (the subcommand follows the global flags)."""
    from .main import _GLOBAL, parse_flags
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise RuncError("serve: argv must be a list of strings")
    _, rest = parse_flags(argv, _GLOBAL)
    if not rest or rest[0] not in SERVED:
        raise RuncError(f"serve: {rest[0] if rest else 'no command'!s} is not served (exec pyrunc for it)")


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


class _Server:
    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.sel = selectors.DefaultSelector()
        self.sel.register(listener, selectors.EVENT_READ, self._accept)
        self.sel.register(0, selectors.EVENT_READ, self._parent)
        self.closing = False
        self.children = 0

    def loop(self) -> None:
        while not self.closing or self.children:
            for key, _ in self.sel.select():
                key.data(key.fileobj)

    def _parent(self, _fd: int) -> None:
        try:
            if os.read(0, 4096):
                return
        except OSError:
            pass
        # the daemon that started us is gone: take no new commands, finish those in flight
        self.closing = True
        self.sel.unregister(0)
        self.sel.unregister(self.listener)
        self.listener.close()

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        self.sel.register(conn, selectors.EVENT_READ, self._request)

    def _request(self, conn: socket.socket) -> None:
        self.sel.unregister(conn)
        fds: list[int] = []
        try:
            data, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 3)
            req = json.loads(data)
            argv, cwd = req["argv"], req.get("cwd") or "/"
            if len(fds) != 3:
                raise RuncError("serve: a request carries stdin, stdout and stderr")
            check(argv)
            pid = os.fork()
        except (OSError, ValueError, KeyError, TypeError, RuncError) as exc:
            msg = exc.msg if isinstance(exc, RuncError) else f"serve: bad request: {exc}"
            self._reply(conn, f"255 {msg}")
            for fd in fds:
                os.close(fd)
            return
        if pid == 0:
            _run(argv, cwd, fds)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.children += 1
        self.sel.register(pidfd, selectors.EVENT_READ, lambda fd, pid=pid, conn=conn: self._done(fd, pid, conn))

    def _done(self, pidfd: int, pid: int, conn: socket.socket) -> None:
        self.sel.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        self.children -= 1
        self._reply(conn, str(os.waitstatus_to_exitcode(status)))

    @staticmethod
    def _reply(conn: socket.socket, text: str) -> None:
        try:
            conn.sendall(text.encode())
        except OSError:
            pass  # the client went away: nothing to tell
        conn.close()


def serve(listen_fd: int) -> int:
    """Serve commands on the inherited listening socket until stdin closes."""
    listener = socket.socket(fileno=listen_fd)
    listener.setblocking(False)
    _preload()
    _Server(listener).loop()
    return 0


if __name__ == "__main__":  # pragma: no cover - run through `pyrunc serve`
    sys.exit(serve(int(sys.argv[1])))
