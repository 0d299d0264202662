"""stdcopy demultiplexing, detach keys and the hijack pump over a socketpair."""
import io
import os
import socket
import struct
import threading

import pytest

from cli.errors import CLIError
from cli.streams import demux, pump
from cli.tty import EscapeProxy, parse_detach_keys


def frame(kind: int, data: bytes) -> bytes:
    return bytes([kind, 0, 0, 0]) + struct.pack(">I", len(data)) + data


def test_demux_splits_streams():
    src = io.BytesIO(frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"x" * 70000))
    out, err = io.BytesIO(), io.BytesIO()
    demux(src.read, out, err)
    assert out.getvalue() == b"out\n" + b"x" * 70000 and err.getvalue() == b"err\n"


def test_demux_system_error_and_bad_header():
    with pytest.raises(CLIError, match="error from daemon in stream: oops"):
        demux(io.BytesIO(frame(3, b"oops")).read, io.BytesIO(), io.BytesIO())
    with pytest.raises(CLIError, match="Unrecognized input header: 9"):
        demux(io.BytesIO(frame(9, b"x")).read, io.BytesIO(), io.BytesIO())


def test_detach_keys():
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@") == b"a\x00"
    with pytest.raises(CLIError):
        parse_detach_keys("ctrl-1x")
    proxy = EscapeProxy(b"\x10\x11")
    assert proxy.feed(b"ab\x10") == (b"ab", False)
    assert proxy.feed(b"c") == (b"\x10c", False)
    assert proxy.feed(b"\x10\x11rest") == (b"", True)


def test_pump_half_closes_without_stdin_and_reads_to_eof():
    client, server = socket.socketpair()
    got = {}

    def serve():
        # The server must see EOF (the half-close) while still being able to send output.
        got["eof"] = server.recv(10) == b""
        server.sendall(frame(1, b"hello\n") + frame(2, b"warn\n"))
        server.close()

    t = threading.Thread(target=serve)
    t.start()
    out, err = io.BytesIO(), io.BytesIO()
    pump(client, client.makefile("rb"), False, None, out=out, err=err)
    t.join(5)
    assert got["eof"] and out.getvalue() == b"hello\n" and err.getvalue() == b"warn\n"


def test_pump_copies_stdin_then_half_closes():
    client, server = socket.socketpair()
    r, w = os.pipe()
    os.write(w, b"input data")
    os.close(w)
    received = []

    def serve():
        buf = b""
        while True:
            d = server.recv(100)
            if not d:
                break
            buf += d
        received.append(buf)
        server.sendall(b"raw tty output")
        server.close()

    t = threading.Thread(target=serve)
    t.start()
    out = io.BytesIO()
    pump(client, client.makefile("rb"), True, r, out=out, err=io.BytesIO())
    t.join(5)
    os.close(r)
    assert received == [b"input data"] and out.getvalue() == b"raw tty output"
