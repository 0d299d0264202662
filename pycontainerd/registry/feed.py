"""Layers as they download, for an unpacker that runs beside the pull (extract while downloading).

The pull's downloads append each blob to a partial file; a ``BlobTail`` lets a reader in another thread
read that file as it grows (``pread`` on a descriptor opened before any rename) and tells it at the end
whether the blob verified. A reader never sees the end of a blob before its size and digest matched and
it was committed to the store, so what it extracted can be trusted exactly when ``read`` returned ``b""``;
a failed download makes ``read`` raise the download's error instead. Memory stays flat: the bytes are on
disk, the reader takes them at its own pace.
"""
from __future__ import annotations

import os
import threading


class BlobTail:
    """One blob that is being downloaded by this pull."""

    def __init__(self, digest: str, size: int) -> None:
        self.digest, self.size = digest, size
        self._cond = threading.Condition()
        self._fd = -1
        self._written = 0        # bytes readers may see
        self._live = False       # True while the bytes are shown as they are written
        self._done = False       # verified and committed
        self._error: BaseException | None = None

    # -- the download's side (event loop)

    def attach(self, path: str, offset: int) -> None:
        """The download starts writing ``path`` (already ``offset`` bytes long). A fresh download is shown
        as it grows; a resumed one only once it verified (a registry that ignores ``Range`` makes a resumed
        download start over, and a reader must never have seen bytes that are then rewritten)."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        with self._cond:
            if self._fd >= 0:
                os.close(self._fd)
            self._fd, self._written, self._live = fd, 0, offset == 0
            self._cond.notify_all()

    def grew(self, offset: int) -> None:
        if self._live:
            with self._cond:
                self._written = offset
                self._cond.notify_all()

    def finish(self, path: str) -> None:
        """Verified and committed to the store at ``path``: every byte is readable, then the end."""
        with self._cond:
            if self._fd < 0:  # never attached: another pull brought the blob
                self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            self._written, self._done = os.fstat(self._fd).st_size, True
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._cond:
            if not self._done and self._error is None:
                self._error = error
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            if not self._done and self._error is None:
                self._error = RuntimeError(f"download of {self.digest} ended")
            self._cond.notify_all()

    # -- the reader's side (any thread)

    def reader(self) -> "TailReader":
        return TailReader(self)

    def _settle(self) -> None:
        with self._cond:
            while not self._done and self._error is None:
                self._cond.wait()
            if self._error is not None and not self._done:
                raise self._error

    def _wait(self, pos: int, n: int) -> bytes:
        with self._cond:
            while True:
                if self._error is not None:
                    raise self._error
                if pos < self._written or self._done:
                    break
                self._cond.wait()
            if pos >= self._written:
                return b""
            return os.pread(self._fd, min(n, self._written - pos), pos)


class TailReader:
    """A file-like ``read(n)`` over a ``BlobTail``, with its own position (a layer may repeat in an image)."""

    def __init__(self, tail: BlobTail) -> None:
        self._tail, self._pos = tail, 0

    def read(self, n: int = 1 << 20) -> bytes:
        if n is None or n < 0:
            n = 1 << 20
        data = self._tail._wait(self._pos, n)
        self._pos += len(data)
        return data

    def close(self) -> None:
        """Nothing to release: the descriptor belongs to the tail (closed with the feed)."""

    def settle(self) -> None:
        """Wait for the download's outcome; raise its error if it failed. A reader whose consumer failed
        calls this first: bytes that do not match their digest explain a broken stream better than the
        decompressor's or the tar reader's complaint about them."""
        self._tail._settle()


class LayerFeed:
    """The layer blobs one pull downloads, by digest; layers it does not download are not in it (they were
    in the store already). Given to ``RegistryClient.pull(on_layers=…)`` callers."""

    def __init__(self, downloads: list[tuple[str, int]]) -> None:
        self.tails = {d: BlobTail(d, size) for d, size in downloads}

    def get(self, digest: str) -> BlobTail | None:
        return self.tails.get(digest)

    def fail(self, error: BaseException) -> None:
        """The pull failed: every reader still waiting gets ``error``."""
        for t in self.tails.values():
            t.fail(error)

    def close(self) -> None:
        for t in self.tails.values():
            t.close()

