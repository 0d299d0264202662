"""Docker's stdcopy framing for non-TTY attach and logs streams."""
from __future__ import annotations

import struct

STDIN, STDOUT, STDERR, SYSTEMERR = 0, 1, 2, 3


def frame(stream: int, payload: bytes) -> bytes:
    """One frame: type byte, three zero bytes, big-endian payload length, payload."""
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def demux(data: bytes) -> list[tuple[int, bytes]]:
    """Split a complete framed byte string into (stream, payload) pairs."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 8 <= len(data):
        stream, size = struct.unpack(">BxxxI", data[pos:pos + 8])
        out.append((stream, data[pos + 8:pos + 8 + size]))
        pos += 8 + size
    if pos != len(data):
        raise ValueError("truncated stdcopy frame")
    return out
