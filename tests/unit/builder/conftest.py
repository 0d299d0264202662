"""Helpers for the builder tests: build-context tars made the way the docker CLI makes them."""
from __future__ import annotations

import io
import os
import stat
import tarfile
from typing import Callable

import pytest

TYPE_BITS = {tarfile.REGTYPE: 0o100000, tarfile.DIRTYPE: 0o40000, tarfile.SYMTYPE: 0o120000}


def cli_tar(files: dict[str, object], compress: str = "") -> bytes:
    """A context tar as the CLI sends it: PAX, uid/gid 0, modes with Go 1.8 type bits,
    directories named `dir/`. `files` maps a path to bytes (a 0644 file), `(bytes, mode)`,
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
            ti.mode |= TYPE_BITS[ti.type]
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


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
