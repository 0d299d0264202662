"""The build context: safe extraction of the uploaded tar, the Dockerfile, checksums, COPY/ADD sources.

Checksums are what the classic builder puts in `COPY file:<hex> in /dst`: per entry, sha256 over
the tarsum v1 header fields (name, mode, uid, gid, size, typeflag, linkname, user and group
names — blank for the context —, devmajor, devminor, xattrs; no mtime) followed by the content. A directory's checksum is
`dir:` + sha256 of the sorted checksums of everything under it, several sources `multi:` + sha256
of theirs in order. Changing a file's content or mode changes its checksum; touching it does not.
"""
from __future__ import annotations

import bz2
import errno
import grp
import gzip
import hashlib
import io
import lzma
import os
import posixpath
import pwd
import re
import shutil
import stat
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

from . import dockerignore
from .gofmt import quote
from .dockerfile import Dockerfile, parse_dockerfile
from ..scope import in_scope
from .errors import BuildError

DEFAULT_DOCKERFILE = "Dockerfile"
_CHUNK = 1 << 20
_MAX_LINKS = 255


class ContextError(BuildError):
    """The context tar is unusable (bad archive, an entry escaping the directory); moby answers
    these with a plain error, so 500."""


# ---------------------------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------------------------

def tarsum_header(name: str, mode: int, uid: int, gid: int, size: int, typeflag: str,
                  linkname: str = "", devmajor: int = 0, devminor: int = 0,
                  xattrs: dict[str, str] | None = None, uname: str = "", gname: str = "") -> bytes:
    """The bytes tarsum v1 hashes before an entry's content. The context's tarsum blanks user
    and group names; moby's lazy source (files on disk) keeps the host's names for the ids."""
    fields = [("name", name), ("mode", str(mode)), ("uid", str(uid)), ("gid", str(gid)),
              ("size", str(size)), ("typeflag", typeflag), ("linkname", linkname),
              ("uname", uname), ("gname", gname), ("devmajor", str(devmajor)),
              ("devminor", str(devminor))]
    for key in sorted(xattrs or {}):
        fields.append((key, xattrs[key]))  # type: ignore[index]
    return "".join(k + v for k, v in fields).encode("utf-8", "surrogateescape")


def _hash_strings(prefix: str, items: list[str]) -> str:
    return prefix + ":" + hashlib.sha256(",".join(items).encode("utf-8", "surrogateescape")).hexdigest()


def _type_bits(mode: int) -> int:
    """Go 1.8 tar type bits Docker adds to header modes (archive.fillGo18FileTypeBits)."""
    if stat.S_ISREG(mode):
        return 0o100000
    if stat.S_ISDIR(mode):
        return 0o40000
    if stat.S_ISLNK(mode):
        return 0o120000
    if stat.S_ISCHR(mode):
        return 0o20000
    if stat.S_ISBLK(mode):
        return 0o60000
    if stat.S_ISFIFO(mode):
        return 0o10000
    if stat.S_ISSOCK(mode):
        return 0o140000
    return 0


def _typeflag(mode: int) -> str:
    """The tar type a file on disk gets (regular, dir, symlink, char, block, fifo)."""
    for test, flag in ((stat.S_ISDIR, "5"), (stat.S_ISLNK, "2"), (stat.S_ISCHR, "3"),
                       (stat.S_ISBLK, "4"), (stat.S_ISFIFO, "6")):
        if test(mode):
            return flag
    return "0"


def _xattrs_on_disk(path: str) -> dict[str, str]:
    """security.capability is the one xattr moby puts in the header it hashes."""
    try:
        value = os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return {}
    return {"security.capability": value.decode("utf-8", "surrogateescape")}


def _host_name(lookup, ident: int) -> str:
    try:
        return lookup(ident)[0]
    except KeyError:
        return ""


def file_hash(full_path: str, rel_name: str) -> str:
    """Checksum of a file on disk (moby's lazy source, for `COPY --from` and downloads).

    Like Go's tar.FileInfoHeader, the user and group names are the daemon host's names for the
    file's ids, so the sums equal dockerd's on the same host."""
    st = os.lstat(full_path)
    is_dir = stat.S_ISDIR(st.st_mode)
    name = rel_name.rstrip("/") + ("/" if is_dir else "")
    link = os.readlink(full_path) if stat.S_ISLNK(st.st_mode) else ""
    typeflag = _typeflag(st.st_mode)
    size = st.st_size if stat.S_ISREG(st.st_mode) else 0
    mode = stat.S_IMODE(st.st_mode) | _type_bits(st.st_mode)
    dev = st.st_rdev if typeflag in ("3", "4") else 0
    h = hashlib.sha256(tarsum_header(name, mode, st.st_uid, st.st_gid, size, typeflag, link,
                                     os.major(dev) if dev else 0, os.minor(dev) if dev else 0,
                                     _xattrs_on_disk(full_path),
                                     uname=_host_name(pwd.getpwuid, st.st_uid),
                                     gname=_host_name(grp.getgrgid, st.st_gid)))
    if stat.S_ISREG(st.st_mode) and size:
        with open(full_path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Scoped paths
# ---------------------------------------------------------------------------------------------

def _go_clean(path: str) -> str:
    return dockerignore.clean(path)


def _forbidden(path: str, full: str = "") -> BuildError:
    return BuildError(f"forbidden path outside the build context: {path} ({full})")


def resolve_scoped(root: str, path: str) -> str:
    """Resolve `path` inside `root` following symlinks as if `root` were `/` (moby's
    FollowSymlinkInScope). A path that lexically leaves the root is refused."""
    root = os.path.abspath(root)
    joined = _go_clean(root + "/" + path)  # Go's filepath.Join: an absolute `path` stays inside
    if joined != root and not joined.startswith(root.rstrip("/") + "/"):
        raise _forbidden(path)
    try:
        return in_scope(root, joined[len(root):], _MAX_LINKS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BuildError(f"evalSymlinksInScope: too many links in {joined}") from None
        raise


# ---------------------------------------------------------------------------------------------
# Safe extraction
# ---------------------------------------------------------------------------------------------

_MAGIC = [(b"\x1f\x8b\x08", "gz"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"),
          (b"\x28\xb5\x2f\xfd", "zst")]


def detect_compression(head: bytes) -> str:
    """'' for a plain stream, else gz / bz2 / xz / zst, as archive.DetectCompression."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return ""


class _Peekable(io.RawIOBase):
    """A non-seekable stream with its first bytes put back after sniffing."""

    def __init__(self, stream: BinaryIO, head: bytes) -> None:
        self.stream = stream
        self.head = head

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.stream.read(len(b))
        b[:len(data)] = data
        return len(data)


def decompress_stream(stream: BinaryIO) -> BinaryIO:
    """Auto-detect gzip/bzip2/xz; a plain stream is returned as it is."""
    head = b""
    while len(head) < 6:
        chunk = stream.read(6 - len(head))
        if not chunk:
            break
        head += chunk
    raw = io.BufferedReader(_Peekable(stream, head), _CHUNK)
    kind = detect_compression(head)
    if kind == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "bz2":
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    if kind == "zst":
        raise ContextError("zstd compressed build contexts are not supported")
    return raw  # type: ignore[return-value]


class _BlockPadded(io.RawIOBase):
    """Ends a tar stream on a block boundary. The CLI's `-f -` context (moby's
    ReplaceFileTarWrapper) stops right after the last entry's data, without padding or
    trailer; Go's tar reader takes that as a clean end, Python's stream reader would not.
    `eof_at` tells where the real data ended, so a file cut short is still an error."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.count = 0
        self.eof_at: int | None = None
        self.pad = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self.eof_at is None:
            data = self.stream.read(len(b))
            if data:
                b[:len(data)] = data
                self.count += len(data)
                return len(data)
            self.eof_at = self.count
            self.pad = -self.count % tarfile.BLOCKSIZE
        n = min(len(b), self.pad)
        b[:n] = b"\0" * n
        self.pad -= n
        return n


def _breakout(name: str, dest: str) -> ContextError:
    return ContextError(f"{quote(name)} is outside of {quote(dest)}")


def _safe_parent(root: str, rel: str) -> str:
    """Create the parent directories of `rel` under `root`, refusing any that is a symlink."""
    parent = root
    for part in [p for p in posixpath.dirname(rel).split("/") if p]:
        parent = os.path.join(parent, part)
        try:
            st = os.lstat(parent)
        except FileNotFoundError:
            os.mkdir(parent, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise ContextError(f"{quote(rel)} is outside of {quote(root)}: "
                               "a parent directory is a symlink")
        if not stat.S_ISDIR(st.st_mode):
            raise ContextError(f"cannot create {quote(rel)}: a parent is not a directory")
    return parent


def _remove_existing(path: str, keep_dir: bool) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _entry_name(ti: tarfile.TarInfo) -> str:
    name = ti.name
    return name + "/" if ti.isdir() and not name.endswith("/") else name


def _xattrs(ti: tarfile.TarInfo) -> dict[str, str]:
    prefix = "SCHILY.xattr."
    return {k[len(prefix):]: v for k, v in ti.pax_headers.items() if k.startswith(prefix)}


def _scoped_parent(root: str, rel: str) -> str:
    """Parent directory of `rel` with symlinks resolved inside `root` (as a chrooted untar
    sees them), created 0755 where missing."""
    parent = resolve_scoped(root, posixpath.dirname(rel) or ".")
    os.makedirs(parent, 0o755, exist_ok=True)
    return parent


def extract_tar(stream: BinaryIO, dest: str, *, in_scope: bool = False) -> dict[str, str]:
    """Extract a (possibly compressed) tar stream into the existing directory `dest`.

    Every entry is checked: `..` escapes are refused, hard links must point inside. For a build
    context (`in_scope=False`) absolute names and symlinked parents are refused outright. For
    ADD into an image root (`in_scope=True`) names are taken relative to `dest` and symlinked
    parents are followed inside it, as Docker's chrooted untar does.
    Returns the tarsum of every entry by clean relative path.
    """
    dest = os.path.abspath(dest)
    parent_of = (lambda rel: _scoped_parent(dest, rel)) if in_scope else (lambda rel: _safe_parent(dest, rel))
    sums: dict[str, str] = {}
    dir_modes: list[tuple[str, int, float]] = []
    is_root = os.geteuid() == 0
    padded = _BlockPadded(decompress_stream(stream))
    try:
        tf = tarfile.open(fileobj=io.BufferedReader(padded, _CHUNK), mode="r|")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ContextError(f"failed to read the build context: {exc}") from None
    try:
        for ti in tf:
            raw_name = ti.name
            if raw_name.startswith("/") and not in_scope:
                raise _breakout(raw_name, dest)
            rel = _go_clean(raw_name.lstrip("/") if in_scope else raw_name)
            if rel == ".":
                continue
            if rel == ".." or rel.startswith("../"):
                raise _breakout(raw_name, dest)
            typeflag = ti.type.decode() if ti.type != tarfile.AREGTYPE else "0"
            if typeflag == "7":
                typeflag = "0"  # contiguous files are regular files
            h = hashlib.sha256(tarsum_header(_entry_name(ti), ti.mode, ti.uid, ti.gid, ti.size,
                                             "5" if ti.isdir() else typeflag, ti.linkname,
                                             ti.devmajor, ti.devminor, _xattrs(ti)))
            parent = parent_of(rel)
            path = os.path.join(parent, posixpath.basename(rel))
            if ti.isdir():
                _remove_existing(path, keep_dir=True)
                if not os.path.isdir(path):
                    os.mkdir(path, 0o700)
                dir_modes.append((path, ti.mode & 0o7777, ti.mtime))
            elif ti.isreg():
                _remove_existing(path, keep_dir=False)
                src = tf.extractfile(ti)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while src is not None and (chunk := src.read(_CHUNK)):
                        h.update(chunk)
                        out.write(chunk)
                if padded.eof_at is not None and padded.eof_at < ti.offset_data + ti.size:
                    raise tarfile.ReadError("unexpected end of data")
                os.chmod(path, ti.mode & 0o7777)
            elif ti.issym():
                _remove_existing(path, keep_dir=False)
                os.symlink(ti.linkname, path)
            elif ti.islnk():
                target_rel = _go_clean(ti.linkname)
                if in_scope:
                    target_rel = _go_clean(ti.linkname.lstrip("/"))
                if (ti.linkname.startswith("/") and not in_scope) or target_rel == ".." \
                        or target_rel.startswith("../"):
                    raise _breakout(ti.linkname, dest)
                target = os.path.join(parent_of(target_rel), posixpath.basename(target_rel))
                _remove_existing(path, keep_dir=False)
                os.link(target, path, follow_symlinks=False)
            elif ti.isfifo():
                _remove_existing(path, keep_dir=False)
                os.mkfifo(path, ti.mode & 0o7777)
            elif ti.ischr() or ti.isblk():
                if not is_root:
                    continue  # device nodes need privileges; they are useless in a context anyway
                _remove_existing(path, keep_dir=False)
                kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK
                os.mknod(path, kind | (ti.mode & 0o7777), os.makedev(ti.devmajor, ti.devminor))
            else:
                continue  # PAX globals and unknown types carry nothing to extract
            if is_root:
                os.lchown(path, ti.uid, ti.gid)
            if not ti.isdir() and not ti.issym():
                os.utime(path, (ti.mtime, ti.mtime), follow_symlinks=False)
            sums.setdefault(rel, h.hexdigest())  # tarsum's GetFile answers the first entry
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
        raise ContextError(f"failed to read the build context: {exc}") from None
    finally:
        tf.close()
    # Directories last: their modes may forbid writing into them, and extraction changes mtimes.
    for path, mode, mtime in reversed(dir_modes):
        os.chmod(path, mode)
        os.utime(path, (mtime, mtime))
    return sums


# ---------------------------------------------------------------------------------------------
# Sources (the build context, or the root of a stage or image for COPY --from)
# ---------------------------------------------------------------------------------------------

class Source:
    """A directory COPY/ADD read from, with the checksum of each path (moby's builder.Source)."""

    def __init__(self, root: str, sums: dict[str, str] | None = None) -> None:
        self.root = os.path.abspath(root)
        self.sums = sums  # None: compute from disk (lazy source)
        self._lazy: dict[str, str] = {}

    def full_path(self, path: str) -> str:
        """Where `path` is on disk, symlinks resolved inside the root (FullPath's error text)."""
        return resolve_scoped(self.root, path)

    def rel(self, full: str) -> str:
        r = os.path.relpath(full, self.root)
        return "." if r == "." else r

    def hash(self, path: str) -> str:
        """Checksum of a path (symlinks in it resolved in scope); the path itself when unknown."""
        full = self.full_path(path)
        rel = self.rel(full)
        if self.sums is not None:
            return self.sums.get(rel, path)
        if rel in self._lazy:
            return self._lazy[rel]
        try:
            os.lstat(full)
        except OSError:
            return rel
        self._lazy[rel] = file_hash(full, rel)
        return self._lazy[rel]

    def remove(self, path: str) -> None:
        full = self.full_path(path)
        if full == self.root:
            return
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        elif os.path.lexists(full):
            os.unlink(full)

    def walk(self, top: str) -> Iterator[tuple[str, bool]]:
        """(relative path, is_dir) in Go filepath.Walk order: lexical, top first, no symlink descent."""
        full = self.full_path(top) if top not in ("", ".") else self.root
        stack = [full]
        while stack:
            cur = stack.pop()
            is_dir = os.path.isdir(cur) and not os.path.islink(cur)
            yield self.rel(cur), is_dir
            if is_dir:
                try:
                    names = sorted(os.listdir(cur))
                except OSError:
                    continue
                stack.extend(os.path.join(cur, n) for n in reversed(names))


@dataclass
class BuildContext:
    """An extracted context: its directory, the parsed Dockerfile and the checksums."""

    source: Source
    dockerfile: Dockerfile
    dockerfile_name: str
    dockerfile_bytes: bytes
    tmpdir: str = ""

    def cleanup(self) -> None:
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = ""


def read_context(stream: BinaryIO, dockerfile: str = "", tmp_root: str | None = None) -> BuildContext:
    """Extract the context tar into a new temp directory, read and parse the Dockerfile, and drop
    the Dockerfile and .dockerignore when .dockerignore excludes them (moby's remotecontext).

    `dockerfile` is the request's `dockerfile=` parameter (default `Dockerfile`; with
    `docker build -f -` the CLI sends `.dockerfile.<random>` and lists it in .dockerignore).
    """
    name = dockerfile or DEFAULT_DOCKERFILE
    tmpdir = tempfile.mkdtemp(prefix="docker-builder", dir=tmp_root)
    try:
        sums = extract_tar(stream, tmpdir)
        source = Source(tmpdir, sums)
        data, name = _read_dockerfile(source, name)
        parsed = parse_dockerfile(data, name)
        ignore_path = os.path.join(tmpdir, dockerignore.DOCKERIGNORE)
        if os.path.isfile(ignore_path) and not os.path.islink(ignore_path):
            with open(ignore_path, "rb") as f:
                patterns = dockerignore.read_patterns(f.read())
            for path in dockerignore.build_files_to_remove(patterns, name):
                source.remove(path)
        return BuildContext(source=source, dockerfile=parsed, dockerfile_name=name,
                            dockerfile_bytes=data, tmpdir=tmpdir)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise


def _read_dockerfile(source: Source, name: str) -> tuple[bytes, str]:
    try:
        full = source.full_path(name)
        with open(full, "rb") as f:
            return f.read(), name
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        pass
    if name == DEFAULT_DOCKERFILE:
        lower = name.lower()
        if os.path.exists(source.full_path(lower)):
            return _read_dockerfile(source, lower)
    # a plain error in moby (500), kept word for word for old clients
    raise BuildError(f"Cannot locate specified Dockerfile: {name}")


# ---------------------------------------------------------------------------------------------
# COPY / ADD sources
# ---------------------------------------------------------------------------------------------

def is_url(s: str) -> bool:
    """urlutil.IsURL: only http and https sources are downloaded."""
    return s.startswith("http://") or s.startswith("https://")


def contains_wildcards(name: str) -> bool:
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "*?[":
            return True
        i += 1
    return False


def _class_match(pattern: str, i: int, ch: str) -> tuple[bool, int]:
    """Match one [...] class starting after '['; returns (matched, index after ']')."""
    negate = False
    if i < len(pattern) and pattern[i] == "^":
        negate = True
        i += 1
    matched = False
    first = True
    while True:
        if i >= len(pattern):
            raise ValueError("syntax error in pattern")
        if pattern[i] == "]" and not first:
            i += 1
            break
        lo = pattern[i]
        if lo == "\\":
            i += 1
            if i >= len(pattern):
                raise ValueError("syntax error in pattern")
            lo = pattern[i]
        i += 1
        hi = lo
        if i + 1 < len(pattern) and pattern[i] == "-" and pattern[i + 1] != "]":
            hi = pattern[i + 1]
            i += 2
            if hi == "\\":
                if i >= len(pattern):
                    raise ValueError("syntax error in pattern")
                hi = pattern[i]
                i += 1
        if lo <= ch <= hi:
            matched = True
        first = False
    return matched != negate, i


def glob_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match: `*` and `?` never match '/', classes `[a-z]` / `[^a]`, `\\` escapes."""
    def match_from(pi: int, ni: int) -> bool:
        while pi < len(pattern):
            ch = pattern[pi]
            if ch == "*":
                while pi < len(pattern) and pattern[pi] == "*":
                    pi += 1
                if pi == len(pattern):
                    return "/" not in name[ni:]
                for k in range(ni, len(name) + 1):
                    if match_from(pi, k):
                        return True
                    if k < len(name) and name[k] == "/":
                        return False
                return False
            if ni >= len(name):
                return False
            if ch == "?":
                if name[ni] == "/":
                    return False
                pi += 1
                ni += 1
            elif ch == "[":
                if name[ni] == "/":
                    return False
                ok, pi = _class_match(pattern, pi + 1, name[ni])
                if not ok:
                    return False
                ni += 1
            else:
                if ch == "\\":
                    pi += 1
                    if pi >= len(pattern):
                        raise ValueError("syntax error in pattern")
                    ch = pattern[pi]
                if name[ni] != ch:
                    return False
                pi += 1
                ni += 1
        return ni == len(name)
    try:
        return match_from(0, 0)
    except ValueError:
        return False


@dataclass
class CopyInfo:
    """One source to copy: `path` relative to the source root, and its checksum."""

    path: str
    hash: str
    is_url: bool = False
    no_decompress: bool = False


@dataclass
class CopySources:
    """The resolved sources of a COPY/ADD and the checksum that goes into the cache key."""

    cmd_name: str
    infos: list[CopyInfo] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    dest: str = ""

    @property
    def hash(self) -> str:
        if len(self.infos) == 1:
            return self.infos[0].hash
        return _hash_strings("multi", [i.hash for i in self.infos])


def _calc_copy_info(source: Source, orig: str, allow_wildcards: bool,
                    from_image: bool) -> list[CopyInfo]:
    if orig.startswith("/"):
        orig = orig[1:]
    if orig.startswith("./"):
        orig = orig[2:]
    if allow_wildcards and contains_wildcards(orig):
        infos: list[CopyInfo] = []
        for rel, _ in source.walk("."):
            if rel == ".":
                continue
            if glob_match(orig, rel):
                infos += _calc_copy_info(source, rel, False, from_image)
        return infos
    full = source.full_path(orig)
    try:
        is_dir = stat.S_ISDIR(os.stat(full).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        msg = f"stat {orig}: file does not exist"
        if not from_image:
            msg = "file not found in build context or excluded by .dockerignore: " + msg
        raise BuildError(msg) from None
    if not is_dir:
        return [CopyInfo(orig, "file:" + source.hash(orig))]
    hashes = []
    for rel, _ in source.walk(orig):
        if rel == ".":
            continue
        hashes.append(source.hash(rel))
    return [CopyInfo(orig, _hash_strings("dir", sorted(hashes)))]


def resolve_sources(source: Source | None, args: list[str], cmd_name: str, *,
                    allow_urls: bool = False, from_image: bool = False,
                    url_hashes: dict[str, str] | None = None) -> CopySources:
    """Resolve the sources of `COPY/ADD src... dest` (already expanded) as moby's copier does.

    URLs (ADD only) are listed in `.urls`; their checksum comes from `url_hashes` (filled by the
    executor after downloading, see `download_filename`/`file_hash`) or is the URL itself.
    Errors read `COPY failed: …` like Docker's.
    """
    dest = args[-1]
    out = CopySources(cmd_name=cmd_name, dest=dest)
    try:
        for orig in args[:-1]:
            if is_url(orig):
                if not allow_urls:
                    raise BuildError("source can't be a URL for COPY")
                out.urls.append(orig)
                out.infos.append(CopyInfo(orig, (url_hashes or {}).get(orig, orig), is_url=True,
                                          no_decompress=True))
                continue
            if source is None:
                raise BuildError("missing build context")
            out.infos += _calc_copy_info(source, orig, True, from_image)
        if not out.infos:
            raise BuildError("no source files were specified")
    except BuildError as exc:
        raise BuildError(f"{cmd_name} failed: {exc.message}") from None
    if len(out.infos) > 1 and not dest.endswith("/"):
        raise BuildError(f"When using {cmd_name} with more than one source file, the destination "
                         "must be a directory and end with a /")
    return out


def normalize_dest(working_dir: str, dest: str) -> str:
    """Where a COPY destination is in the image: relative to WORKDIR, keeping a trailing '/'."""
    if dest.startswith("/"):
        return dest
    out = _go_clean(posixpath.join("/", working_dir or "", dest))
    return out + "/" if dest.endswith("/") else out


def copy_target(dest: str, src_path: str, dest_is_dir: bool) -> str:
    """Destination path of a single file source: inside `dest` when it ends in '/' or already is
    a directory in the image, else `dest` itself."""
    if dest.endswith("/") or dest_is_dir:
        return posixpath.join(dest, posixpath.basename(src_path.rstrip("/")))
    return dest


def is_archive(path: str) -> bool:
    """ADD extracts a local file when it reads as a tar (plain, gzip, bzip2 or xz), as moby's
    isArchivePath: a tar header must decode."""
    try:
        with open(path, "rb") as f:
            stream = decompress_stream(f)  # type: ignore[arg-type]
            block = stream.read(tarfile.BLOCKSIZE)
    except (OSError, EOFError, lzma.LZMAError, ContextError):
        return False
    if len(block) < tarfile.BLOCKSIZE or block == b"\0" * tarfile.BLOCKSIZE:
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


_CD_FILENAME = re.compile(r"""filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))""", re.IGNORECASE)


def download_filename(url_path: str, content_disposition: str = "") -> str:
    """The name ADD gives a downloaded file: the URL path's base name, else the
    Content-Disposition filename, else '' (then `dest` must not end in '/')."""
    if url_path and not url_path.endswith("/"):
        base = posixpath.basename(url_path)
        if base:
            return base
    if content_disposition:
        m = _CD_FILENAME.search(content_disposition)
        if m:
            fname = m.group(1) if m.group(1) is not None else m.group(2)
            fname = re.sub(r"\\(.)", r"\1", fname)
            if fname and not fname.endswith("/"):
                return posixpath.basename(fname)
    return ""


UNNAMED_DOWNLOAD = "__unnamed__"


def walk_files(root: str, matcher: dockerignore.PatternMatcher | None,
               on_entry: Callable[[str, bool], None]) -> None:
    """Walk a directory as the CLI does to make a context, skipping what .dockerignore excludes
    (descending into excluded directories only when an exception may re-include something)."""
    src = Source(root)
    stack = ["."]
    while stack:
        rel = stack.pop()
        full = os.path.join(src.root, rel) if rel != "." else src.root
        is_dir = os.path.isdir(full) and not os.path.islink(full)
        excluded = rel != "." and matcher is not None and matcher.matches(rel)
        if excluded and not (is_dir and matcher is not None and matcher.must_walk(rel)):
            continue
        if rel != "." and not excluded:
            on_entry(rel, is_dir)
        if is_dir:
            names = sorted(os.listdir(full))
            stack.extend(n if rel == "." else posixpath.join(rel, n) for n in reversed(names))
