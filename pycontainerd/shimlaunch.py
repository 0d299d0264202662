"""Starting shims: forked by the shim zygote while it runs, else exec'd.

The zygote (pycontainerd/zygote.py) is started with the daemon and ends with it (it exits when its
socket's other end, held only by this process, closes). A shim forked by it is the same program, with
the same arguments and command line, as `python -S -m pycontainerd.shim start …`: only faster to start
and lighter (it shares the interpreter's pages). If the zygote is missing or dies, shims are exec'd and
a new zygote is started, unless it keeps dying. PYCONTAINERD_SHIM_ZYGOTE=0 in pycontainerd's environment
execs every shim (for comparison, or a platform where the zygote cannot rewrite its children's
command lines).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time

log = logging.getLogger("pycontainerd.shimlaunch")
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT = 30.0  # a shim that has not reported by then is not coming
SEND_TIMEOUT = 2.0  # a zygote that takes no request for this long has failed: the shim is exec'd
MAX_QUICK_DEATHS = 3  # zygotes that died within QUICK seconds of starting before we stop trying
QUICK = 10.0


class ShimStartError(Exception):
    """The shim reported that it could not start (its message, e.g. a bind error)."""


class _ZygoteFailed(Exception):
    """The zygote went away without passing the request on: exec the shim instead."""


def _env() -> dict[str, str]:
    # -S skips site (and the editable install's finder): the shim is stdlib-only and finds itself here.
    return dict(os.environ, PYTHONPATH=_REPO_ROOT)


class ShimLauncher:
    """Starts shims for the task manager; `state` only labels the zygote's command line."""

    def __init__(self, state: str, use_zygote: bool = True) -> None:
        self.state = state
        self.use_zygote = use_zygote
        self.standby = ""  # a runtime with `serve`: each spare shim starts a standby of it (zygote.py)
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._started_at = 0.0
        self._quick_deaths = 0
        self._send_lock: asyncio.Lock | None = None  # one sender waits for room at a time (one writer per fd)
        self._killed: list[subprocess.Popen] = []  # failed zygotes, reaped once they are gone

    # -- the zygote

    def start(self) -> None:
        """Start the zygote (if enabled and not running); it imports the shim while we go on."""
        if not self.use_zygote or self._alive():
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-S", "-m", "pycontainerd.zygote", "--fd", str(theirs.fileno()),
                 "--state", self.state, *(["--standby", self.standby] if self.standby else [])],
                stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), env=_env(), cwd="/")
        except OSError as exc:
            log.warning("cannot start the shim zygote (shims will be exec'd): %s", exc)
            ours.close()
            self.use_zygote = False
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._started_at = time.monotonic()

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self._sock is not None

    def _lost(self) -> None:
        """The zygote failed a request: stop it, and start another unless zygotes keep dying young.
        Called on the event loop: the failed zygote is killed, not waited for (subprocess reaps it)."""
        if time.monotonic() - self._started_at < QUICK:
            self._quick_deaths += 1
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._killed.append(self._proc)
        self._proc = None
        self.close()
        if self._quick_deaths >= MAX_QUICK_DEATHS:
            log.warning("the shim zygote keeps dying: shims will be exec'd")
            self.use_zygote = False
        else:
            self.start()

    def close(self) -> None:
        """Stop the zygote (the shims it forked are not its children and live on)."""
        if self._sock is not None:
            self._sock.close()  # EOF: the zygote exits
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    # -- launching

    async def launch(self, shim_args: list[str]) -> None:
        """Start a shim with `shim_args` (`start --namespace …`); return once it listens.
        Raises ShimStartError with the shim's own message when it cannot start."""
        if self._killed:
            self._killed = [p for p in self._killed if p.poll() is None]  # reap what _lost killed
        if self.use_zygote and not self._alive():
            if self._proc is not None:
                self._lost()
            else:
                self.start()
        sock = self._sock if self._alive() else None
        if sock is not None:
            try:
                await self._fork(sock, shim_args)
                return
            except _ZygoteFailed as exc:
                log.warning("shim zygote failed (%s); exec'ing the shim", exc)
                if self._sock is sock:  # the other requests it failed find it replaced already
                    self._lost()
        await self._exec(shim_args)

    async def _fork(self, sock: socket.socket, shim_args: list[str]) -> None:
        r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            await self._send(sock, json.dumps(shim_args).encode(), w)
            os.close(w)
            w = -1
            status = await _read_to_eof(r, START_TIMEOUT)
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
        if status.startswith(b"ok"):
            return
        if not status:
            raise _ZygoteFailed("no status from the forked shim")
        raise ShimStartError(status.decode(errors="replace").strip())

    async def _send(self, sock: socket.socket, request: bytes, fd: int) -> None:
        """Hand the zygote a request; a burst that fills its socket waits for room (the zygote reads
        as fast as it forks), only a zygote that takes nothing for SEND_TIMEOUT has failed."""
        if self._send_lock is None:
            self._send_lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        sock_fd = sock.fileno()
        async with self._send_lock:
            deadline = loop.time() + SEND_TIMEOUT  # from our turn: the senders before us had theirs
            while True:
                try:
                    socket.send_fds(sock, [request], [fd])
                    return
                except BlockingIOError:
                    pass
                except OSError as exc:
                    raise _ZygoteFailed(f"send: {exc}") from None
                if not await _wait_fd(sock_fd, deadline, writable=True):
                    raise _ZygoteFailed("send: the zygote takes no requests")

    async def _exec(self, shim_args: list[str]) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-S", "-m", "pycontainerd.shim", *shim_args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=_env(), cwd="/")
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise ShimStartError(err.decode(errors="replace").strip() or f"shim exited with {proc.returncode}")


async def _wait_fd(fd: int, deadline: float, writable: bool = False) -> bool:
    """Wait until `fd` is readable (or writable); False once the loop's clock passes `deadline`."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if writable else (loop.add_reader, loop.remove_reader)
    add(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, max(0.0, deadline - loop.time()))
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        remove(fd)


async def _read_to_eof(fd: int, timeout: float) -> bytes:
    """Everything written to the non-blocking pipe `fd` until all writers closed it."""
    deadline = asyncio.get_running_loop().time() + timeout
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            if not await _wait_fd(fd, deadline):
                raise ShimStartError("timed out waiting for the shim to start")
            continue
        if not chunk:
            return data
        data += chunk
