"""Applying image layers (tar, plain or gzip) to a directory, safely.

The parent decompresses and hashes the stream (the digest of the uncompressed tar is the diff ID)
and pipes it into a child process that has chroot()ed into the target. Inside the chroot the kernel
resolves every path, so `..`, absolute names, symlinked parents and hardlinks to host files cannot
reach outside the target (moby's chrootarchive approach). tarfile.extractall is never used.

Whiteouts (`.wh.NAME`, `.wh..wh..opq`) delete from the target, so applying onto a mounted overlay
(as Diff.Apply and the importer do) makes the kernel record them as overlay whiteouts.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

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


READ_SIZE = 1 << 18   # compressed bytes read at a time
OUT_SIZE = 1 << 18    # most uncompressed bytes produced per step: a gzip bomb never fills memory


def iter_uncompressed(src: BinaryIO) -> Iterator[bytes]:
    """The uncompressed bytes of a layer stream (gzip when it starts with the magic, else plain tar).

    zlib directly rather than GzipFile: one C call per megabyte, output bounded by OUT_SIZE, the gzip
    trailer (CRC, length) checked by zlib. Concatenated gzip members are read on, as Go's reader does;
    anything else after a member is an error, and so is a stream that ends inside a member.
    """
    data = src.read(READ_SIZE)
    if data[:2] != GZIP_MAGIC:
        while data:
            yield data
            data = src.read(READ_SIZE)
        return
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    fed = False  # whether the current member has seen any input
    while True:
        while data:
            if d.eof:  # another member follows
                d, fed = zlib.decompressobj(16 + zlib.MAX_WBITS), False
            fed = True
            out = d.decompress(data, OUT_SIZE)
            if out:
                yield out
            data = d.eof and d.unused_data or d.unconsumed_tail
            # A full output buffer may leave output inside zlib with no input left: ask again.
            while not data and len(out) == OUT_SIZE and not d.eof:
                out = d.decompress(b"", OUT_SIZE)
                if out:
                    yield out
        data = src.read(READ_SIZE)
        if not data:
            if fed and not d.eof:
                raise EOFError("unexpected end of gzip stream")
            return


def _pipe_size(fd: int, size: int = 1 << 20) -> None:
    """A larger pipe to the child: fewer wake-ups per megabyte (best effort: F_SETPIPE_SZ may be capped)."""
    try:
        import fcntl
        fcntl.fcntl(fd, 1031, size)  # F_SETPIPE_SZ
    except (OSError, ImportError):
        pass


def apply_layer(blob_path: str, target: str) -> Applied:
    """Apply the layer at `blob_path` onto the directory `target` (in a chrooted child)."""
    with open(blob_path, "rb") as raw:
        return apply_layer_stream(raw, target)


def apply_layer_stream(src: BinaryIO, target: str, applier: "ApplierServer | None" = None) -> Applied:
    """Apply the layer read from `src` (gzip or plain tar; anything with `read(n)`, e.g. a blob that is
    still downloading) onto the directory `target`, in a chrooted child: a fresh process, or one forked
    by `applier`. The parent decompresses and hashes; the child only sees the plain tar."""
    child = applier.start(target) if applier is not None else _ExecChild(target)
    h, size = hashlib.sha256(), 0
    err: list[BaseException] = []
    try:
        _pipe_size(child.stdin)
        chunks = iter_uncompressed(src)
        while True:
            try:
                chunk = next(chunks, b"")
            except (OSError, EOFError, zlib.error) as exc:
                err.append(ApplyError(f"failed to read layer: {exc}"))
                break
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
            try:
                _write_all(child.stdin, chunk)
            except BrokenPipeError:
                # The child failed; keep hashing is pointless, its stderr says why.
                break
    finally:
        # Also when `src` raised (its download failed): the child sees the end of its input and stops.
        rc, stderr = child.finish()
    if err:
        child_msg = stderr.decode(errors="replace").strip().splitlines()
        if rc != 0 and child_msg and "refused tar entry" in child_msg[-1]:
            raise ApplyError(child_msg[-1])
        raise err[0]
    if rc != 0:
        msg = stderr.decode(errors="replace").strip().splitlines()
        raise ApplyError(msg[-1] if msg else f"layer applier exited with status {rc}")
    return Applied("sha256:" + h.hexdigest(), size)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_to_end(fd: int) -> bytes:
    out = bytearray()
    while chunk := os.read(fd, 1 << 16):
        out += chunk
    return bytes(out)


class _Child:
    """A chrooted applier at work: `stdin` takes the plain tar; `finish` ends the input and returns
    (exit status, stderr). The child writes one line to stderr at most (why it failed)."""

    stdin: int

    def finish(self) -> tuple[int, bytes]:
        raise NotImplementedError


class _ExecChild(_Child):
    def __init__(self, target: str) -> None:
        env = dict(os.environ, PYTHONPATH=_REPO_ROOT)
        # -S: the child needs only the stdlib and this module; skipping site saves a part of its start-up.
        self.proc = subprocess.Popen([sys.executable, "-S", "-m", "pycontainerd.archive", target],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env, cwd="/")
        self.stdin = self.proc.stdin.fileno()  # type: ignore[union-attr]

    def finish(self) -> tuple[int, bytes]:
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass
        stderr = self.proc.stderr.read()  # type: ignore[union-attr]
        self.proc.stderr.close()  # type: ignore[union-attr]
        return self.proc.wait(), stderr


class _ForkedChild(_Child):
    def __init__(self, server: "ApplierServer", stdin: int, stderr: int) -> None:
        self.server, self.stdin, self._stderr = server, stdin, stderr

    def finish(self) -> tuple[int, bytes]:
        os.close(self.stdin)
        try:
            stderr = _read_to_end(self._stderr)
        finally:
            os.close(self._stderr)
        return self.server._status(), stderr


class ApplierServer:
    """One process that forks a chrooted applier per layer, for a caller with several layers to apply
    (a pull): the interpreter starts and imports once, not once per layer (~35 ms of CPU each, more on a
    busy machine). It gets each layer's target and pipes over a socketpair (SCM_RIGHTS) and answers with
    the child's exit status; it exits when the socket closes. Use from one thread at a time."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, PYTHONPATH=_REPO_ROOT)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-m", "pycontainerd.archive", "--serve", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env, cwd="/")
        finally:
            theirs.close()
        self.sock = ours

    def start(self, target: str) -> _Child:
        r, w = os.pipe2(os.O_CLOEXEC)
        er, ew = os.pipe2(os.O_CLOEXEC)
        try:
            socket.send_fds(self.sock, [os.fsencode(target)], [r, ew])
        except OSError:
            for fd in (r, w, er, ew):
                os.close(fd)
            raise ApplyError(f"layer applier exited with status {self.proc.poll()}") from None
        os.close(r)
        os.close(ew)
        return _ForkedChild(self, w, er)

    def _status(self) -> int:
        msg = self.sock.recv(64)
        if not msg:
            raise ApplyError(f"layer applier exited with status {self.proc.wait()}")
        return int(msg)

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "ApplierServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


MAX_HEADER_DATA = 1 << 20


class _PipeReader:
    """The tar stream on a file descriptor, read exactly as far as asked (no read-ahead), so that a regular
    file's bytes can go from the pipe straight into the file with splice(2): no copy through Python, no
    megabyte buffers allocated and faulted in per chunk. Offers what ``TarInfo.fromtarfile`` reads headers
    with (``fileobj.read/tell``, ``encoding``, ``errors``, ``pax_headers``, ``offset``), so tarfile still
    parses every header format (ustar, pax, GNU long names)."""

    encoding = tarfile.ENCODING
    errors = "surrogateescape"

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.fileobj = self
        self.pax_headers: dict[str, str] = {}
        self.offset = 0
        self._pos = 0
        self._splice = hasattr(os, "splice")
        self._buf = memoryview(bytearray(1 << 16))

    # -- file-like, for tarfile's header parsing
    def read(self, n: int) -> bytes:
        if n > MAX_HEADER_DATA:  # a pax or long-name record is never this large (Go's reader: 1 MiB)
            raise tarfile.ReadError(f"tar header of {n} bytes is too large")
        out = bytearray()
        while len(out) < n:
            chunk = os.read(self.fd, n - len(out))
            if not chunk:
                break
            out += chunk
        self._pos += len(out)
        return bytes(out)

    def tell(self) -> int:
        return self._pos

    # -- members
    def members(self) -> Iterator[tarfile.TarInfo]:
        """Each member's header; the caller consumes its data (``copy_to``) or leaves it to be skipped."""
        first = True
        while True:
            self._skip_to(self.offset)
            try:
                m = tarfile.TarInfo.fromtarfile(self)  # type: ignore[arg-type]
            except tarfile.EmptyHeaderError:
                if first:
                    raise tarfile.ReadError("empty file") from None
                return
            except (tarfile.EOFHeaderError, tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as e:
                # tarfile's rules: bad at the start is an error, later it ends the archive
                if first:
                    raise tarfile.ReadError(str(e)) from None
                return
            except tarfile.SubsequentHeaderError as e:
                raise tarfile.ReadError(str(e)) from None
            first = False
            yield m

    def copy_to(self, out_fd: int, size: int) -> None:
        """The next ``size`` bytes of the stream into ``out_fd``."""
        left = size
        while left:
            n = 0
            if self._splice:
                try:
                    n = os.splice(self.fd, out_fd, min(left, 1 << 20))
                except OSError as e:
                    if e.errno != errno.EINVAL:
                        raise
                    self._splice = False  # not a pipe (a file on stdin): copy through a buffer
                    continue
            else:
                n = os.readv(self.fd, [self._buf[:min(left, len(self._buf))]])
                if n:
                    view = self._buf[:n]
                    while view:
                        view = view[os.write(out_fd, view):]
            if not n:
                raise tarfile.ReadError("unexpected end of data")
            left -= n
            self._pos += n

    def _skip_to(self, offset: int) -> None:
        while self._pos < offset:
            n = os.readv(self.fd, [self._buf[:min(offset - self._pos, len(self._buf))]])
            if not n:
                raise tarfile.ReadError("unexpected end of data")
            self._pos += n

    def drain(self) -> None:
        """Read to the end (the tar's trailing zeros and padding) so the writer never sees EPIPE."""
        while os.readv(self.fd, [self._buf]):
            pass


def apply_stream(stream: BinaryIO) -> int:
    """Apply a plain tar stream (a pipe, ideally) to "/" (the chroot). Returns the number of entries written."""
    written: set[str] = set()
    opaque: list[str] = []
    dirs: list[tuple[str, float]] = []
    known_dirs: set[str] = set()
    count = 0
    tar = _PipeReader(stream.fileno())
    for m in tar.members():
        try:
            if _apply_entry(tar, m, written, opaque, dirs, known_dirs):
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
    tar.drain()
    return count


def _apply_entry(tar: _PipeReader, m: tarfile.TarInfo, written: set[str], opaque: list[str],
                 dirs: list[tuple[str, float]], known_dirs: set[str]) -> bool:
    """Apply one tar entry (paths are absolute inside the chroot); False when nothing was written.
    `known_dirs` are parents already made sure of (three syscalls per entry saved); any removal
    forgets them all, as it may have taken one away."""
    name = os.path.normpath("/" + m.name)
    parent, base = os.path.split(name)
    if base == OPAQUE:
        opaque.append(parent)
        return False
    if base.startswith(WHITEOUT_PREFIX):
        _remove(os.path.join(parent, base[len(WHITEOUT_PREFIX):]))
        known_dirs.clear()
        return False
    if name != "/" and parent not in known_dirs:
        os.makedirs(parent, 0o755, exist_ok=True)
        known_dirs.add(parent)
    try:
        existing = os.lstat(name)
    except FileNotFoundError:
        existing = None
    if existing is not None and not (m.isdir() and stat.S_ISDIR(existing.st_mode)):
        _remove(name)
        known_dirs.clear()
    if m.isdir():
        if existing is None or not stat.S_ISDIR(existing.st_mode):
            os.mkdir(name, 0o700)
        dirs.append((name, m.mtime))
    elif m.isreg():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            if m.sparse is None:
                tar.copy_to(fd, m.size)
            else:  # GNU/pax sparse: the stored segments in order, holes between them
                for offset, length in m.sparse:
                    os.lseek(fd, offset, os.SEEK_SET)
                    tar.copy_to(fd, length)
                os.ftruncate(fd, m.size)
        finally:
            os.close(fd)
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


def _serve(fd: int) -> int:
    """ApplierServer's process: fork one child per request, answer with its exit status."""
    sock = socket.socket(fileno=fd)
    while True:
        msg, fds, _, _ = socket.recv_fds(sock, 4096, 2)
        if not msg:
            return 0
        if len(fds) != 2:
            for x in fds:
                os.close(x)
            sock.send(b"1")
            continue
        pid = os.fork()
        if pid == 0:  # the applier: its stdin and stderr are the caller's pipes
            rc = 1
            try:
                sock.close()
                os.dup2(fds[0], 0)
                os.dup2(fds[1], 2)
                os.close(fds[0])
                os.close(fds[1])
                rc = _child_main(os.fsdecode(msg))
                sys.stderr.flush()
            finally:
                os._exit(rc)
        os.close(fds[0])
        os.close(fds[1])
        _, status = os.waitpid(pid, 0)
        sock.send(str(os.waitstatus_to_exitcode(status)).encode())


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        sys.exit(_serve(int(sys.argv[2])))
    sys.exit(_child_main(sys.argv[1]))
