"""Content store: blobs addressed by digest, written atomically through ingest refs.

Blobs live once on disk (`blobs/sha256/<hex>`); each namespace that owns a blob has a metadata
record (labels, times). Ingests are `ingest/<sha256(ns/ref)>/{data,ref,total,expected,startedat}`
so an interrupted write can be resumed or aborted, and only a verified commit renames into blobs/.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from .errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from .metadata import Store

KIND = "content"


@dataclass
class Info:
    digest: str
    size: int
    created_at: float
    updated_at: float
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Status:
    ref: str
    offset: int
    total: int
    expected: str
    started_at: float
    updated_at: float


def validate_digest(digest: str) -> str:
    """Return the hex part of a sha256 digest or raise InvalidArgument."""
    alg, _, hexpart = digest.partition(":")
    if alg != "sha256" or len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise InvalidArgument(f"invalid digest {digest!r}" if alg == "sha256" else f"unsupported digest algorithm: {digest!r}")
    return hexpart


class Writer:
    """An open ingest: appends data, tracks the digest, commits into the store."""

    def __init__(self, store: "ContentStore", ns: str, ref: str, path: str, total: int, expected: str) -> None:
        self.store, self.ns, self.ref, self.path = store, ns, ref, path
        self.total, self.expected = total, expected
        data = os.path.join(path, "data")
        self._f = open(data, "r+b" if os.path.exists(data) else "w+b")
        self._hash = hashlib.sha256()
        # Resume: re-hash what an earlier writer left behind.
        while chunk := self._f.read(1 << 20):
            self._hash.update(chunk)
        self.offset = self._f.tell()
        self.started_at = float(_read(path, "startedat") or time.time())
        self.updated_at = float(_read(path, "updatedat") or self.started_at)

    def status(self) -> Status:
        return Status(self.ref, self.offset, self.total, self.expected, self.started_at, self.updated_at)

    def write(self, data: bytes, offset: int | None = None) -> None:
        if offset is not None and offset != self.offset:
            if offset > self.offset:
                raise InvalidArgument(f"write offset {offset} must be less than or equal to current offset {self.offset}")
            # Rewind: truncate and recompute the digest of the kept prefix.
            self._f.truncate(offset)
            self._f.seek(0)
            self._hash = hashlib.sha256()
            remaining = offset
            while remaining:
                chunk = self._f.read(min(remaining, 1 << 20))
                self._hash.update(chunk)
                remaining -= len(chunk)
            self.offset = offset
        self._f.seek(self.offset)
        self._f.write(data)
        self._hash.update(data)
        self.offset += len(data)
        self.updated_at = time.time()
        _write(self.path, "updatedat", str(self.updated_at))

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def commit(self, size: int = 0, expected: str = "", labels: dict[str, str] | None = None) -> str:
        """Verify size and digest, then move the data into blobs/. Returns the digest."""
        self._f.flush()
        os.fsync(self._f.fileno())
        if size and size != self.offset:
            raise FailedPrecondition(f"unexpected commit size {self.offset}, expected {size}", raw=True)
        dgst = self.digest
        expected = expected or self.expected
        if expected and expected != dgst:
            raise FailedPrecondition(f"unexpected commit digest {dgst}, expected {expected}", raw=True)
        self.store._commit_file(self.ns, os.path.join(self.path, "data"), dgst, labels or {})
        self.close(remove=True)
        return dgst

    def close(self, remove: bool = False) -> None:
        if not self._f.closed:
            self._f.close()
        self.store._unlock(self.ns, self.ref)
        if remove:
            shutil.rmtree(self.path, ignore_errors=True)


def _read(d: str, name: str) -> str | None:
    try:
        with open(os.path.join(d, name)) as f:
            return f.read()
    except FileNotFoundError:
        return None


def _write(d: str, name: str, value: str) -> None:
    tmp = os.path.join(d, f".{name}.tmp")
    with open(tmp, "w") as f:
        f.write(value)
    os.replace(tmp, os.path.join(d, name))


class ContentStore:
    def __init__(self, root: str, meta: Store) -> None:
        self.root = root
        self.meta = meta
        self.blobs = os.path.join(root, "blobs", "sha256")
        self.ingests = os.path.join(root, "ingest")
        os.makedirs(self.blobs, exist_ok=True)
        os.makedirs(self.ingests, exist_ok=True)
        self._locks: set[tuple[str, str]] = set()
        self._mu = threading.Lock()

    # -- blobs

    def blob_path(self, digest: str) -> str:
        return os.path.join(self.blobs, validate_digest(digest))

    def info(self, ns: str, digest: str) -> Info:
        validate_digest(digest)
        rec = self.meta.get(ns, KIND, digest)
        path = self.blob_path(digest)
        if rec is None or not os.path.exists(path):
            raise NotFound(f"content digest {digest}")
        return Info(digest, os.path.getsize(path), rec["created_at"], rec["updated_at"], rec.get("labels", {}))

    def exists(self, ns: str, digest: str) -> bool:
        try:
            self.info(ns, digest)
            return True
        except NotFound:
            return False

    def list(self, ns: str) -> list[Info]:
        out = []
        for rec in self.meta.list(ns, KIND):
            path = os.path.join(self.blobs, rec["digest"].partition(":")[2])
            if os.path.exists(path):
                out.append(Info(rec["digest"], os.path.getsize(path), rec["created_at"], rec["updated_at"],
                                rec.get("labels", {})))
        return out

    def update(self, ns: str, digest: str, labels: dict[str, str], paths: list[str]) -> Info:
        """Update labels; `paths` are field-mask paths ("labels" or "labels.<key>"); empty = replace labels."""
        with self.meta.tx():
            cur = self.info(ns, digest)
            new = dict(cur.labels)
            if not paths:
                new = dict(labels)
            for p in paths:
                if p == "labels":
                    new = dict(labels)
                elif p.startswith("labels."):
                    key = p[len("labels."):]
                    if key in labels and labels[key]:
                        new[key] = labels[key]
                    else:
                        new.pop(key, None)
                else:
                    raise InvalidArgument(f"cannot update {p!r} field on content info {digest!r}")
            rec = {"digest": digest, "created_at": cur.created_at, "updated_at": time.time(), "labels": new}
            self.meta.put(ns, KIND, digest, rec)
        return self.info(ns, digest)

    def delete(self, ns: str, digest: str) -> None:
        with self.meta.tx():
            if not self.meta.delete(ns, KIND, digest):
                raise NotFound(f"content digest {digest}")
            if not self.meta.namespaces_referencing(KIND, digest):
                try:
                    os.unlink(self.blob_path(digest))
                except FileNotFoundError:
                    pass

    def open(self, ns: str, digest: str) -> BinaryIO:
        self.info(ns, digest)
        return open(self.blob_path(digest), "rb")

    def read_bytes(self, ns: str, digest: str) -> bytes:
        with self.open(ns, digest) as f:
            return f.read()

    def read_chunks(self, ns: str, digest: str, offset: int = 0, size: int = 0,
                    chunk: int = 1 << 20) -> Iterator[tuple[int, bytes]]:
        info = self.info(ns, digest)
        if offset < 0 or offset > info.size:
            raise InvalidArgument(f"offset {offset} out of range for {digest}")
        end = info.size if size <= 0 else min(info.size, offset + size)
        with open(self.blob_path(digest), "rb") as f:
            f.seek(offset)
            pos = offset
            while pos < end:
                data = f.read(min(chunk, end - pos))
                if not data:
                    break
                yield pos, data
                pos += len(data)

    def _commit_file(self, ns: str, src: str, digest: str, labels: dict[str, str]) -> None:
        """Rename `src` into blobs/ (or drop it if the blob is already there) and record it for `ns`."""
        dst = self.blob_path(digest)
        with self.meta.tx():
            if self.meta.get(ns, KIND, digest) is not None and os.path.exists(dst):
                os.unlink(src)
                raise AlreadyExists(f"content {digest}")
            if os.path.exists(dst):
                os.unlink(src)
            else:
                os.chmod(src, 0o444)
                os.replace(src, dst)
            now = time.time()
            self.meta.ensure_namespace(ns)
            self.meta.put(ns, KIND, digest, {"digest": digest, "created_at": now, "updated_at": now,
                                             "labels": dict(labels)})

    def add_file(self, ns: str, path: str, digest: str | None = None, labels: dict[str, str] | None = None,
                 move: bool = False) -> str:
        """Add a local file as a blob (hashing it unless `digest` is given); existing content is fine."""
        if digest is None:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            digest = "sha256:" + h.hexdigest()
        if self.exists(ns, digest):
            if move:
                os.unlink(path)
            return digest
        tmp = path
        if not move:
            tmp = os.path.join(self.ingests, f".add-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}")
            shutil.copyfile(path, tmp)
        try:
            self._commit_file(ns, tmp, digest, labels or {})
        except AlreadyExists:
            pass
        return digest

    def add_bytes(self, ns: str, data: bytes, labels: dict[str, str] | None = None) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self.exists(ns, digest):
            return digest
        tmp = os.path.join(self.ingests, f".add-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}")
        with open(tmp, "wb") as f:
            f.write(data)
        try:
            self._commit_file(ns, tmp, digest, labels or {})
        except AlreadyExists:
            pass
        return digest

    # -- ingests

    def _ingest_dir(self, ns: str, ref: str) -> str:
        return os.path.join(self.ingests, hashlib.sha256(f"{ns}/{ref}".encode()).hexdigest())

    def _unlock(self, ns: str, ref: str) -> None:
        with self._mu:
            self._locks.discard((ns, ref))

    def writer(self, ns: str, ref: str, total: int = 0, expected: str = "") -> Writer:
        """Open (or resume) the ingest `ref`. ALREADY_EXISTS when `expected` is already stored."""
        if not ref:
            raise InvalidArgument("ref must not be empty")
        if expected:
            validate_digest(expected)
            if self.exists(ns, expected):
                raise AlreadyExists(f"content {expected}")
        with self._mu:
            if (ns, ref) in self._locks:
                raise Unavailable(f"ref {ref} locked")
            self._locks.add((ns, ref))
        try:
            d = self._ingest_dir(ns, ref)
            os.makedirs(d, exist_ok=True)
            if _read(d, "ref") is None:
                _write(d, "ref", ref)
                _write(d, "ns", ns)
                _write(d, "startedat", str(time.time()))
            if total:
                _write(d, "total", str(total))
            if expected:
                _write(d, "expected", expected)
            return Writer(self, ns, ref, d, int(_read(d, "total") or 0), _read(d, "expected") or "")
        except BaseException:
            self._unlock(ns, ref)
            raise

    def status(self, ns: str, ref: str) -> Status:
        d = self._ingest_dir(ns, ref)
        if _read(d, "ref") != ref:
            raise NotFound(f"ref {ref}")
        return self._status_of(d)

    def _status_of(self, d: str) -> Status:
        started = float(_read(d, "startedat") or 0)
        try:
            offset = os.path.getsize(os.path.join(d, "data"))
        except FileNotFoundError:
            offset = 0
        return Status(_read(d, "ref") or "", offset, int(_read(d, "total") or 0), _read(d, "expected") or "",
                      started, float(_read(d, "updatedat") or started))

    def list_statuses(self, ns: str) -> list[Status]:
        out = []
        for name in sorted(os.listdir(self.ingests)):
            d = os.path.join(self.ingests, name)
            if os.path.isdir(d) and _read(d, "ns") == ns and _read(d, "ref"):
                out.append(self._status_of(d))
        return out

    def abort(self, ns: str, ref: str) -> None:
        d = self._ingest_dir(ns, ref)
        if _read(d, "ref") != ref:
            raise NotFound(f"ref {ref}")
        with self._mu:
            if (ns, ref) in self._locks:
                raise Unavailable(f"ref {ref} locked")
        shutil.rmtree(d, ignore_errors=True)
