"""Parent/child sync messages over a SOCK_SEQPACKET socketpair: ``kind`` + optional payload."""
from __future__ import annotations

import _socket as socket

from .errors import InitError, RuncError


def pair() -> tuple:
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock, kind: str, payload: str = "") -> None:
    send_bytes(sock, kind, payload.encode())


def send_bytes(sock, kind: str, payload: bytes) -> None:
    sock.send(kind.encode() + b"\n" + payload)


def recv_bytes(sock) -> tuple[str, bytes]:
    """Like recv, for a binary payload (up to 64 KiB)."""
    try:
        data = sock.recv(65536)
    except ConnectionResetError:
        return "eof", b""
    if not data:
        return "eof", b""
    kind, _, payload = data.partition(b"\n")
    return kind.decode(errors="replace"), payload


def recv(sock) -> tuple[str, str]:
    """Next message; ("eof", "") when the peer closed its end."""
    kind, payload = recv_bytes(sock)
    return kind, payload.decode(errors="replace")


def expect(sock, want: str) -> str:
    kind, payload = recv(sock)
    if kind == "error":
        raise InitError(payload)
    if kind != want:
        raise RuncError(f"unexpected sync message {kind!r}, want {want!r}")
    return payload
