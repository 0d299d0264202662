"""Per-container stdio plumbing: the FIFO copier, attach fan-out, log followers and stdin.

Output read from the container's FIFOs goes to the json-file log and to every live subscriber;
stdin written by attach clients is queued until the task exists, then pumped into the stdin FIFO.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from .logs import JSONFileWriter, LogEntry

log = logging.getLogger("pydockerd.streams")


@dataclass(eq=False)
class Subscriber:
    """A live reader of raw output chunks; receives None when the run ends."""

    stdout: bool = True
    stderr: bool = True
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)


class StreamHub:
    def __init__(self, log_path: str) -> None:
        self.log_path = log_path
        self.attachers: set[Subscriber] = set()
        self.followers: set[asyncio.Queue] = set()
        self.stdin: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._writer: JSONFileWriter | None = None

    # --- subscriptions ------------------------------------------------------------------------
    def attach(self, stdout: bool, stderr: bool) -> Subscriber:
        sub = Subscriber(stdout, stderr)
        self.attachers.add(sub)
        return sub

    def detach(self, sub: Subscriber) -> None:
        self.attachers.discard(sub)

    def follow(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue()
        self.followers.add(q)
        return q

    def unfollow(self, q: asyncio.Queue) -> None:
        self.followers.discard(q)

    # --- a run ----------------------------------------------------------------------------------
    def begin_run(self) -> None:
        self._writer = JSONFileWriter(self.log_path) if self.log_path else None  # ("": --log-driver none)
        # stdin queued by earlier runs' clients is stale; keep what was queued for this run.

    def publish(self, stream: str, data: bytes) -> None:
        for sub in list(self.attachers):
            if (stream == "stdout" and sub.stdout) or (stream == "stderr" and sub.stderr):
                sub.queue.put_nowait((stream, data))
        if self._writer is not None:
            self._publish_entries(self._writer.write(stream, data))

    def _publish_entries(self, entries: list[LogEntry]) -> None:
        for e in entries:
            for q in list(self.followers):
                q.put_nowait(e)

    def end_run(self) -> None:
        """The container exited and its output is drained: end every live stream."""
        if self._writer is not None:
            self._publish_entries(self._writer.flush())
            self._writer.close()
            self._writer = None
        for sub in list(self.attachers):
            sub.queue.put_nowait(None)
        self.attachers.clear()
        for q in list(self.followers):
            q.put_nowait(None)
        self.followers.clear()
        # Drop leftover stdin so the next start does not replay it.
        self.stdin = asyncio.Queue()


class _PipeReader(asyncio.Protocol):
    def __init__(self, hub: StreamHub, stream: str, done: asyncio.Future) -> None:
        self.hub, self.stream, self.done = hub, stream, done

    def data_received(self, data: bytes) -> None:
        self.hub.publish(self.stream, data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


@dataclass
class FifoSet:
    """The task's FIFOs: `<dir>/init-stdin|init-stdout|init-stderr`."""

    directory: str
    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    _fds: dict[str, int] = field(default_factory=dict)
    _transports: list[Any] = field(default_factory=list)
    done: list[asyncio.Future] = field(default_factory=list)

    @classmethod
    def create(cls, directory: str, prefix: str, with_stdin: bool, with_stderr: bool) -> "FifoSet":
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fs = cls(directory)
        for name, wanted in (("stdin", with_stdin), ("stdout", True), ("stderr", with_stderr)):
            if not wanted:
                continue
            path = os.path.join(directory, f"{prefix}-{name}")
            if os.path.exists(path):
                os.unlink(path)
            os.mkfifo(path, 0o600)
            setattr(fs, name, path)
        # Readers open now (non-blocking open of a FIFO read end never waits for a writer).
        fs._open_readers()
        return fs

    @classmethod
    def reopen(cls, directory: str, prefix: str) -> "FifoSet":
        """The FIFOs of a task that outlived us (its shim holds their write ends, with what the
        container wrote meanwhile still buffered in them): open the read ends again."""
        fs = cls(directory)
        for name in ("stdin", "stdout", "stderr"):
            path = os.path.join(directory, f"{prefix}-{name}")
            if os.path.exists(path):
                setattr(fs, name, path)
        fs._open_readers()
        return fs

    def _open_readers(self) -> None:
        for name in ("stdout", "stderr"):
            path = getattr(self, name)
            if path:
                self._fds[name] = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    async def start_copy(self, hub: StreamHub) -> None:
        """Call after Tasks.Create: attach the read ends to the loop."""
        loop = asyncio.get_running_loop()
        for name in ("stdout", "stderr"):
            fd = self._fds.pop(name, None)
            if fd is None:
                continue
            fut = loop.create_future()
            tr, _ = await loop.connect_read_pipe(lambda n=name, f=fut: _PipeReader(hub, n, f),
                                                 os.fdopen(fd, "rb", buffering=0))
            self._transports.append(tr)
            self.done.append(fut)

    async def start_stdin(self, hub: StreamHub, on_eof: Callable[[], Awaitable[None]]) -> asyncio.Task | None:
        if not self.stdin:
            return None
        loop = asyncio.get_running_loop()
        try:
            fd = os.open(self.stdin, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return None  # no reader left: the process already exited (and needs no stdin)
            raise
        tr, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(fd, "wb", buffering=0))
        self._transports.append(tr)
        queue = hub.stdin

        async def pump() -> None:
            try:
                while True:
                    chunk = await queue.get()
                    if chunk is None:
                        break
                    if tr.is_closing():
                        return
                    tr.write(chunk)
                tr.close()
                await on_eof()
            except Exception as exc:  # stdin failures must not take the container down
                log.debug("stdin pump: %s", exc)

        return asyncio.create_task(pump())

    async def wait_drained(self, timeout: float) -> None:
        if self.done:
            await asyncio.wait(self.done, timeout=timeout)

    def close(self) -> None:
        for tr in self._transports:
            tr.close()
        self._transports.clear()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        for name in ("stdin", "stdout", "stderr"):
            path = getattr(self, name)
            if path:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        try:
            os.rmdir(self.directory)
        except OSError:
            pass
