"""What every snapshotter shares: per-namespace records (active/view/committed), numbered directories, the
parent chain, commit/remove/update/usage. Subclasses say how a snapshot's directory is filled and mounted."""
from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import dataclass, field

from ..errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from ..metadata import Store
from ..mount import Mount

KIND_VIEW, KIND_ACTIVE, KIND_COMMITTED = "view", "active", "committed"


@dataclass
class Info:
    name: str
    id: int
    kind: str
    parent: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    size: int = 0
    inodes: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class DirSnapshotter:
    """Snapshots as directories `<root>/snapshots/<id>/fs`, records in the metadata store under `record_kind`."""

    name = ""             # the snapshotter's plugin id (what clients put in `snapshotter`)
    record_kind = ""      # metadata record kind; each snapshotter has its own key space

    def __init__(self, root: str, meta: Store) -> None:
        self.root = root
        self.meta = meta
        self.dir = os.path.join(root, "snapshots")
        os.makedirs(self.dir, exist_ok=True)

    # -- what subclasses provide

    def _populate(self, ns: str, info: Info, parents: list[Info]) -> None:
        """Fill a new snapshot's directory (called once its record and `fs` exist)."""

    def _mounts(self, ns: str, info: Info) -> list[Mount]:
        raise NotImplementedError

    # -- records

    def _get(self, ns: str, key: str) -> Info | None:
        rec = self.meta.get(ns, self.record_kind, key)
        return None if rec is None else Info(**rec)

    def stat(self, ns: str, key: str) -> Info:
        info = self._get(ns, key)
        if info is None:
            raise NotFound(f"snapshot {key} does not exist")
        return info

    def list(self, ns: str) -> list[Info]:
        return [Info(**r) for r in self.meta.list(ns, self.record_kind)]

    def _next_id(self) -> int:
        with self.meta.tx():
            rec = self.meta.get("", "sequence", self.record_kind) or {"next": 1}
            n = rec["next"]
            self.meta.put("", "sequence", self.record_kind, {"next": n + 1})
        return n

    def _fs(self, sid: int) -> str:
        return os.path.join(self.dir, str(sid), "fs")

    def _chain(self, ns: str, parent: str) -> list[Info]:
        """The parent and its ancestors, nearest first."""
        out = []
        while parent:
            p = self.stat(ns, parent)
            out.append(p)
            parent = p.parent
        return out

    # -- operations

    def prepare(self, ns: str, key: str, parent: str = "", labels: dict[str, str] | None = None) -> list[Mount]:
        return self._create(ns, KIND_ACTIVE, key, parent, labels or {})

    def view(self, ns: str, key: str, parent: str = "", labels: dict[str, str] | None = None) -> list[Mount]:
        return self._create(ns, KIND_VIEW, key, parent, labels or {})

    def _create(self, ns: str, kind: str, key: str, parent: str, labels: dict[str, str]) -> list[Mount]:
        if not key:
            raise InvalidArgument("key must not be empty")
        with self.meta.tx():
            self._check_new(ns, key, parent)
            sid = self._next_id()
            path = os.path.join(self.dir, str(sid))
            os.makedirs(os.path.join(path, "fs"), mode=0o755)
        try:
            now = time.time()
            info = Info(key, sid, kind, parent, dict(labels), now, now)
            # outside the store's lock: a native snapshot copies its parent's whole tree here
            self._populate(ns, info, self._chain(ns, parent))
            with self.meta.tx():
                self._check_new(ns, key, parent)  # again: the lock was let go meanwhile
                self.meta.ensure_namespace(ns)
                self.meta.put(ns, self.record_kind, key, info.to_dict())
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return self._mounts(ns, info)

    def _check_new(self, ns: str, key: str, parent: str) -> None:
        if self._get(ns, key) is not None:
            raise AlreadyExists(f"snapshot {key}")
        if parent:
            p = self._get(ns, parent)
            if p is None:
                raise NotFound(f"parent snapshot {parent} does not exist")
            if p.kind != KIND_COMMITTED:
                raise InvalidArgument(f"parent {parent} is not committed snapshot", raw=True)

    def mounts(self, ns: str, key: str) -> list[Mount]:
        info = self.stat(ns, key)
        if info.kind == KIND_COMMITTED:
            raise FailedPrecondition(f"snapshot {key} is committed, mounts are only available for active and view "
                                     "snapshots", raw=True)
        return self._mounts(ns, info)

    def commit(self, ns: str, name: str, key: str, labels: dict[str, str] | None = None) -> Info:
        size, inodes = disk_usage(self._fs(self.stat(ns, key).id))  # a walk: not under the store's lock
        with self.meta.tx():
            info = self.stat(ns, key)
            if info.kind != KIND_ACTIVE:
                raise FailedPrecondition(f"snapshot {key} is not active", raw=True)
            if self._get(ns, name) is not None:
                raise AlreadyExists(f"snapshot {name}")
            now = time.time()
            new = Info(name, info.id, KIND_COMMITTED, info.parent, dict(labels or info.labels), now, now, size, inodes)
            self.meta.delete(ns, self.record_kind, key)
            self.meta.put(ns, self.record_kind, name, new.to_dict())
        shutil.rmtree(os.path.join(self.dir, str(info.id), "work"), ignore_errors=True)
        return new

    def remove(self, ns: str, key: str) -> None:
        with self.meta.tx():
            info = self.stat(ns, key)
            if any(s.parent == key for s in self.list(ns)):
                raise FailedPrecondition("cannot remove snapshot with child", raw=True)
            self.meta.delete(ns, self.record_kind, key)
            path = os.path.join(self.dir, str(info.id))
            trash = os.path.join(self.dir, f"rm-{info.id}")
            if os.path.exists(path):
                os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def update(self, ns: str, key: str, labels: dict[str, str], paths: list[str]) -> Info:
        with self.meta.tx():
            info = self.stat(ns, key)
            new = dict(info.labels)
            for p in paths or ["labels"]:
                if p == "labels":
                    new = dict(labels)
                elif p.startswith("labels."):
                    k = p[len("labels."):]
                    if labels.get(k):
                        new[k] = labels[k]
                    else:
                        new.pop(k, None)
                else:
                    raise InvalidArgument(f"cannot update {p!r} field on snapshot {key!r}")
            info.labels = new
            info.updated_at = time.time()
            self.meta.put(ns, self.record_kind, key, info.to_dict())
        return info

    def usage(self, ns: str, key: str, rule: str = "") -> tuple[int, int]:
        """(size, inodes) of what the snapshot itself holds. containerd's rule by default: allocated
        blocks; `rule` USAGE_DIFFSIZE: the size by Docker's rule (diff_size), inodes as containerd's."""
        info = self.stat(ns, key)
        if rule == USAGE_DIFFSIZE:
            return self._diff_usage(ns, info)
        if rule:
            raise InvalidArgument(f"unknown usage rule {rule!r}")
        if info.kind == KIND_COMMITTED:
            return info.size, info.inodes
        return disk_usage(self._fs(info.id))

    def _diff_usage(self, ns: str, info: Info) -> tuple[int, int]:
        """Docker's DiffSize of the snapshot's own layer; here the directory holds exactly that layer
        (an overlay upper dir: what the container added or changed, deletions as 0-sized whiteouts)."""
        return diff_size(self._fs(info.id))

    def cleanup(self) -> None:
        """Remove directories no record points to (left by a crash between rename and rmtree)."""
        used = {str(r["id"]) for ns in self.meta.keys("", "namespace") for r in self.meta.list(ns, self.record_kind)}
        for name in os.listdir(self.dir):
            if name not in used:
                shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)


# The `usage` rule that answers with Docker's size instead of containerd's (services/snapshots.py).
USAGE_DIFFSIZE = "diffsize"


def disk_usage(path: str) -> tuple[int, int]:
    size, inodes, seen = 0, 0, set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            inodes += 1
            size += st.st_blocks * 512
    return size, inodes


def diff_size(path: str) -> tuple[int, int]:
    """(size, inodes) of a tree: the size as Docker's overlay2 DiffSize and local volumes report it (moby's
    pkg/directory.Size): every entry that is not a directory counts its st_size (a file its length, a
    symlink its target's length, a whiteout or other device nothing), a hard-linked inode once, by inode
    number alone as moby keys it; entries that vanish during the walk are skipped (a running container
    writes meanwhile). inodes: the tree's distinct inodes, as containerd's disk_usage counts them.
    (pydockerd's sizes.directory_size applies the same rule to volumes: the layers share no code.)"""
    os.lstat(path)  # a missing root is an error (moby's too), a missing entry below it is not
    size, counted, inodes = 0, set(), set()
    todo = [path]
    while todo:
        try:
            it = os.scandir(todo.pop())
        except FileNotFoundError:
            continue
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                inodes.add((st.st_dev, st.st_ino))
                if stat.S_ISDIR(st.st_mode):
                    todo.append(entry.path)
                else:
                    size += docker_size(st, counted)
    return size, len(inodes)


def docker_size(st: os.stat_result, counted: set[int]) -> int:
    """What one entry adds to Docker's DiffSize: its st_size unless it is a directory or an inode
    already `counted` (a hard link counts once)."""
    if stat.S_ISDIR(st.st_mode) or not st.st_size or st.st_ino in counted:
        return 0
    counted.add(st.st_ino)
    return st.st_size
