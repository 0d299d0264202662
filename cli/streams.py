"""Container stdio over the API: stdcopy demultiplexing and pumping a hijacked attach/exec socket."""
from __future__ import annotations

import os
import _socket
import struct
import sys
import threading

from cli.errors import CLIError
from cli.tty import EscapeProxy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Callable


class DetachedError(Exception):
    """The user typed the detach key sequence."""


def _read_exact(read: Callable[[int], bytes], n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def demux(read: Callable[[int], bytes], out: BinaryIO, err: BinaryIO) -> None:
    """stdcopy.StdCopy: split an 8-byte-header framed stream into stdout and stderr."""
    while True:
        header = _read_exact(read, 8)
        if not header:
            return
        if len(header) < 8:
            return  # truncated frame at EOF: Go's StdCopy returns without error on io.EOF
        kind, size = header[0], struct.unpack(">I", header[4:8])[0]
        payload = _read_exact(read, size)
        if kind == 3:
            raise CLIError(f"error from daemon in stream: {payload.decode(errors='replace')}")
        if kind not in (0, 1, 2):
            raise CLIError(f"Unrecognized input header: {kind}")
        target = err if kind == 2 else out
        target.write(payload)
        target.flush()
        if len(payload) < size:
            return


def copy_raw(read: Callable[[int], bytes], out: BinaryIO) -> None:
    while True:
        data = read(65536)
        if not data:
            return
        out.write(data)
        out.flush()


def pump(sock: _socket.socket, fp: BinaryIO, tty: bool, stdin_fd: int | None,
         detach_keys: bytes = b"", out: BinaryIO | None = None, err: BinaryIO | None = None) -> None:
    """Copy the hijacked connection's output to out/err and (optionally) stdin into it.

    Without stdin the write side is shut down at once, as the Go CLI does; the server keeps sending
    output until the process is gone. Raises DetachedError when the detach keys were typed.
    """
    out = out or sys.stdout.buffer
    err = err or sys.stderr.buffer
    detached = threading.Event()

    def read(n: int) -> bytes:
        try:
            return fp.read1(n)
        except (OSError, ValueError):
            return b""  # closed by the stdin side on detach

    def send_stdin() -> None:
        proxy = EscapeProxy(detach_keys)
        try:
            while True:
                try:
                    data = os.read(stdin_fd, 32768)
                except OSError:
                    data = b""
                if not data:
                    break
                data, hit = proxy.feed(data)
                if data:
                    sock.sendall(data)
                if hit:
                    detached.set()
                    sock.shutdown(_socket.SHUT_RDWR)
                    return
            if half_close:
                sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    # A TLS socket cannot be half-closed from Python (shutdown() drops the TLS layer), so over TLS
    # the daemon never sees the client's EOF; plain sockets get the CLI's CloseWrite.
    half_close = not hasattr(sock, "unwrap")
    if stdin_fd is None:
        if half_close:
            try:
                sock.shutdown(_socket.SHUT_WR)
            except OSError:
                pass
    else:
        threading.Thread(target=send_stdin, daemon=True).start()
    try:
        if tty:
            copy_raw(read, out)
        else:
            demux(read, out, err)
    finally:
        try:
            sock.close()
        except OSError:
            pass
    if detached.is_set():
        raise DetachedError()
