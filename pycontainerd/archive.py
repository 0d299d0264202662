"""Applying image layers (tar, plain or gzip) to a directory, safely.

The parent decompresses and hashes the stream (the digest of the uncompressed tar is the diff ID)
and pipes it into a child process that has chroot()ed into the target. Inside the chroot the kernel
resolves every path, so `..`, absolute names, symlinked parents and hardlinks to host files cannot
reach outside the target (moby's chrootarchive approach). tarfile.extractall is never used.

Whiteouts (`.wh.NAME`, `.wh..wh..opq`) delete from the target, so applying onto a mounted overlay
(as Diff.Apply and the importer do) makes the kernel record them as overlay whiteouts.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import threading
import zlib
from dataclasses import dataclass
from typing import BinaryIO

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
GZIP_MAGIC = b"\x1f\x8b"
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ApplyError(Exception):
    pass


@dataclass
class Applied:
    diff_id: str  # sha256 of the uncompressed tar
    size: int     # uncompressed size


def is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def uncompressed_reader(f: BinaryIO) -> BinaryIO:
    """Wrap `f` in a gzip reader when it starts with the gzip magic (layers may say either)."""
    head = f.read(2)
    f.seek(0)
    return gzip.GzipFile(fileobj=f, mode="rb") if head == GZIP_MAGIC else f  # type: ignore[return-value]


def apply_layer(blob_path: str, target: str) -> Applied:
    """Apply the layer at `blob_path` onto the directory `target` (in a chrooted child)."""
    env = dict(os.environ, PYTHONPATH=_REPO_ROOT)
    child = subprocess.Popen([sys.executable, "-m", "pycontainerd.archive", target], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd="/")
    h, size = hashlib.sha256(), 0
    err: list[BaseException] = []
    out: dict[str, bytes] = {}

    def collect() -> None:
        out["stdout"] = child.stdout.read()  # type: ignore[union-attr]

    def collect_err() -> None:
        out["stderr"] = child.stderr.read()  # type: ignore[union-attr]

    readers = [threading.Thread(target=collect), threading.Thread(target=collect_err)]
    for t in readers:
        t.start()
    try:
        with open(blob_path, "rb") as raw:
            src = uncompressed_reader(raw)
            while True:
                try:
                    chunk = src.read(1 << 20)
                except (OSError, EOFError, zlib.error) as exc:
                    err.append(ApplyError(f"failed to read layer: {exc}"))
                    break
                if not chunk:
                    break
                h.update(chunk)
                size += len(chunk)
                try:
                    child.stdin.write(chunk)  # type: ignore[union-attr]
                except BrokenPipeError:
                    # The child failed; keep hashing is pointless, its stderr says why.
                    break
    finally:
        try:
            child.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass
        rc = child.wait()
        for t in readers:
            t.join()
    if rc != 0:
        msg = out.get("stderr", b"").decode(errors="replace").strip().splitlines()
        raise ApplyError(msg[-1] if msg else f"layer applier exited with status {rc}")
    if err:
        raise err[0]
    return Applied("sha256:" + h.hexdigest(), size)


# -- child side: runs chrooted into the target, every path below is absolute inside the chroot


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _prune_opaque(d: str, written: set[str]) -> None:
    """Remove everything under `d` that this layer did not write (an opaque directory)."""
    try:
        names = os.listdir(d)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        p = os.path.join(d, name)
        if p not in written:
            _remove(p)
        elif os.path.isdir(p) and not os.path.islink(p):
            _prune_opaque(p, written)


def _set_meta(path: str, m: tarfile.TarInfo) -> None:
    os.lchown(path, m.uid, m.gid)
    if not m.issym():
        # chmod after chown: chown clears setuid/setgid bits
        os.chmod(path, stat.S_IMODE(m.mode))
    for key, value in m.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            try:
                os.setxattr(path, key[len("SCHILY.xattr."):], value.encode("utf-8", "surrogateescape"),
                            follow_symlinks=False)
            except OSError:
                pass  # unsupported xattr namespaces are skipped, as containerd does (ENOTSUP)
    if not m.isdir():
        os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)


def apply_stream(stream: BinaryIO) -> int:
    """Apply a plain tar stream to "/" (the chroot). Returns the number of entries written."""
    written: set[str] = set()
    opaque: list[str] = []
    dirs: list[tuple[str, float]] = []
    count = 0
    tf = tarfile.open(fileobj=stream, mode="r|")
    for m in tf:
        try:
            if _apply_entry(tf, m, written, opaque, dirs):
                count += 1
        except OSError as exc:
            # Name the refused entry: inside the chroot, a path that tried to leave fails here.
            what = f"{exc.strerror} ({exc.filename})" if exc.strerror and exc.filename else str(exc)
            raise ApplyError(f"refused tar entry {m.name!r}: {what}") from None
    for d in opaque:
        _prune_opaque(d, written)
    # Directory times last: creating entries inside them changed their mtime.
    for d, mtime in reversed(dirs):
        try:
            os.utime(d, (mtime, mtime), follow_symlinks=False)
        except FileNotFoundError:
            pass
    # Drain the tar padding so the parent never sees EPIPE.
    while stream.read(1 << 16):
        pass
    return count


def _apply_entry(tf: tarfile.TarFile, m: tarfile.TarInfo, written: set[str], opaque: list[str],
                 dirs: list[tuple[str, float]]) -> bool:
    """Apply one tar entry (paths are absolute inside the chroot); False when nothing was written."""
    name = os.path.normpath("/" + m.name)
    parent, base = os.path.split(name)
    if base == OPAQUE:
        opaque.append(parent)
        return False
    if base.startswith(WHITEOUT_PREFIX):
        _remove(os.path.join(parent, base[len(WHITEOUT_PREFIX):]))
        return False
    if name != "/":
        os.makedirs(parent, 0o755, exist_ok=True)
    try:
        existing = os.lstat(name)
    except FileNotFoundError:
        existing = None
    if existing is not None and not (m.isdir() and stat.S_ISDIR(existing.st_mode)):
        _remove(name)
    if m.isdir():
        if existing is None or not stat.S_ISDIR(existing.st_mode):
            os.mkdir(name, 0o700)
        dirs.append((name, m.mtime))
    elif m.isreg():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out, tf.extractfile(m) as src:  # type: ignore[union-attr]
            shutil.copyfileobj(src, out, 1 << 20)
    elif m.issym():
        os.symlink(m.linkname, name)
    elif m.islnk():
        os.link(os.path.normpath("/" + m.linkname), name, follow_symlinks=False)
    elif m.ischr() or m.isblk():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(name, kind | 0o600, os.makedev(m.devmajor, m.devminor))
    elif m.isfifo():
        os.mkfifo(name, 0o600)
    else:
        return False  # unknown types (e.g. GNU sparse leftovers) are skipped
    if name != "/" or m.isdir():
        _set_meta(name, m)
    written.add(name)
    return True


def _child_main(target: str) -> int:
    stream = sys.stdin.buffer
    try:
        os.chroot(target)
        os.chdir("/")
        os.umask(0o022)
        n = apply_stream(stream)
    except Exception as exc:  # reported to the parent as the error text
        print(f"failed to extract layer: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps({"entries": n}))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
