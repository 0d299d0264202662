"""The native snapshotter (containerd's `native`): every snapshot is a full copy of its parent's tree.

No overlayfs needed, so it works on any filesystem (the fallback when overlay mounts are refused).
`prepare`/`view` copy the parent's directory (owners, modes, timestamps, xattrs, hard links, symlinks,
device nodes, fifos and sockets preserved); mounts are a bind mount of the snapshot's own directory,
read-write for an active snapshot and read-only for a view. A layer applied onto it deletes what its
whiteouts name; its diff is a comparison with the parent (snapshots/changes.py).
"""
from __future__ import annotations

import errno
import os
import shutil
import stat

from ..mount import Mount
from .base import KIND_COMMITTED, KIND_VIEW, DirSnapshotter, Info, diff_size, disk_usage, docker_size
from .changes import ADD, MODIFY, changes

NAME = "native"
KIND = "snapshot.native"


class NativeSnapshotter(DirSnapshotter):
    name = NAME
    record_kind = KIND

    def _populate(self, ns: str, info: Info, parents: list[Info]) -> None:
        if parents:  # the nearest parent already holds the whole tree
            copy_tree(self._fs(parents[0].id), self._fs(info.id))

    def _mounts(self, ns: str, info: Info) -> list[Mount]:
        return [Mount("bind", self._fs(info.id), options=["ro" if info.kind == KIND_VIEW else "rw", "rbind"])]

    def _diff_usage(self, ns: str, info: Info) -> tuple[int, int]:
        """A full copy holds its parents' files too: Docker's size of the layer is that of what differs
        from the parent (moby's naive DiffSize, archive.ChangesSize: added or modified entries by
        diff_size's rule); the inodes as usage() counts them (a committed snapshot's are on record)."""
        fs = self._fs(info.id)
        if not info.parent:
            return diff_size(fs)
        parent = self._fs(self.stat(ns, info.parent).id)
        size, counted = 0, set()
        for kind, rel in changes(parent, fs):
            if kind in (ADD, MODIFY):
                try:
                    size += docker_size(os.lstat(os.path.join(fs, rel)), counted)
                except FileNotFoundError:  # gone since the comparison saw it
                    continue
        return size, info.inodes if info.kind == KIND_COMMITTED else disk_usage(fs)[1]


def copy_tree(src: str, dst: str) -> None:
    """Copy the contents of directory `src` into the existing directory `dst`, preserving everything a
    layer can carry. Hard links inside `src` stay hard links (to the copies)."""
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, str, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(src):
        out_dir = os.path.normpath(os.path.join(dst, os.path.relpath(dirpath, src)))
        dirs.append((out_dir, dirpath, os.lstat(dirpath)))
        for name in dirnames + filenames:
            s, d = os.path.join(dirpath, name), os.path.join(out_dir, name)
            st = os.lstat(s)
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(d, 0o700)  # real mode, owner and times once its contents are in
                continue
            if st.st_nlink > 1:
                first = links.get((st.st_dev, st.st_ino))
                if first is not None:
                    os.link(first, d)
                    continue
                links[(st.st_dev, st.st_ino)] = d
            _copy_entry(s, d, st)
    for out_dir, src_dir, st in reversed(dirs):  # deepest first: a parent's mtime is set last
        _set_meta(out_dir, src_dir, st)


def _copy_entry(s: str, d: str, st: os.stat_result) -> None:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        with open(s, "rb") as fi, open(d, "xb") as fo:
            _fast_copy(fi, fo, st.st_size)
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(s), d)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        os.mknod(d, stat.S_IFMT(mode) | 0o600, st.st_rdev)
    else:
        raise OSError(errno.EINVAL, f"cannot copy {s}: unknown file type {stat.S_IFMT(mode):o}")
    _set_meta(d, s, st)


def _fast_copy(fi, fo, size: int) -> None:  # type: ignore[no-untyped-def]
    """In-kernel copy (copy_file_range, which may reflink), falling back to read/write."""
    try:
        left = size
        while left > 0:
            n = os.copy_file_range(fi.fileno(), fo.fileno(), left)
            if n == 0:
                break
            left -= n
        if left == 0:
            return
    except OSError:
        pass
    fi.seek(0)
    fo.seek(0)
    fo.truncate()
    shutil.copyfileobj(fi, fo, 1 << 20)


def _set_meta(d: str, s: str, st: os.stat_result) -> None:
    """Owner first (chown clears set-id bits and file capabilities), then mode, xattrs, times."""
    link = stat.S_ISLNK(st.st_mode)
    os.chown(d, st.st_uid, st.st_gid, follow_symlinks=False)
    if not link:
        os.chmod(d, stat.S_IMODE(st.st_mode))
    try:
        names = os.listxattr(s, follow_symlinks=False)
    except OSError:
        names = []
    for n in names:
        try:
            os.setxattr(d, n, os.getxattr(s, n, follow_symlinks=False), follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EPERM):  # e.g. user.* on a symlink
                raise
    os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
