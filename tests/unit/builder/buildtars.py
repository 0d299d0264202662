"""Helpers for the builder tests: build-context tars made the way the docker CLI makes them."""
from __future__ import annotations

import io
import os
import stat
import tarfile
from typing import Callable

import pytest

def cli_tar(files: dict[str, object], compress: str = "") -> bytes:
    """A context tar as docker CLI 28 sends it: PAX, uid/gid 0, permission bits only in the
    mode (CLI 20.10 adds Go 1.8 type bits, see `with_type_bits`), directories named `dir/`. `files` maps a path to bytes (a 0644 file), `(bytes, mode)`,
    `None` (a 0755 directory) or `("->", target)` (a symlink)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:" + compress if compress else "w",
                      format=tarfile.PAX_FORMAT) as tf:
        for name, spec in files.items():
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.uid = ti.gid = 0
            data = None
            if spec is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                ti.name = name.rstrip("/") + "/"
            elif isinstance(spec, tuple) and spec[0] == "->":
                ti.type, ti.mode, ti.linkname = tarfile.SYMTYPE, 0o777, spec[1]
            else:
                content, mode = spec if isinstance(spec, tuple) else (spec, 0o644)
                data = content
                ti.type, ti.mode, ti.size = tarfile.REGTYPE, mode, len(content)
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def with_type_bits(files: dict[str, bytes]) -> bytes:
    """Regular files as docker CLI 20.10 sends them: mode 0100644 (Python's writer masks the
    type bits, so the header is patched and its checksum recomputed)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
            tf.addfile(ti, io.BytesIO(data))
    raw = bytearray(buf.getvalue())
    pos = 0
    while pos < len(raw) and raw[pos:pos + 512] != bytes(512):
        hdr = raw[pos:pos + 512]
        size = int(hdr[124:136].rstrip(b"\0 ") or b"0", 8)
        hdr[100:108] = b"0100644\0"
        hdr[148:156] = b" " * 8
        hdr[148:156] = b"%06o\0 " % sum(hdr)
        raw[pos:pos + 512] = hdr
        pos += 512 + -(-size // 512) * 512
    return bytes(raw)


# The context docker 20.10 was checked against (see test_builder_context.py for its hashes).
REFERENCE_FILES: dict[str, object] = {
    "Dockerfile": b"FROM busybox\n",
    "a.txt": b"hello\n",
    "dir": None,
    "dir/b.txt": b"b\n",
    "dir/sub": None,
    "dir/sub/c": b"c\n",
    "run.sh": (b"#!/bin/sh\n", 0o755),
    "link": ("->", "a.txt"),
}


@pytest.fixture
def make_tar() -> Callable[..., io.BytesIO]:
    def make(files: dict[str, object], compress: str = "") -> io.BytesIO:
        return io.BytesIO(cli_tar(files, compress))
    return make


@pytest.fixture
def reference_tar() -> io.BytesIO:
    return io.BytesIO(cli_tar(REFERENCE_FILES))


def is_mode(path: str, mode: int) -> bool:
    return stat.S_IMODE(os.lstat(path).st_mode) == mode
