"""What changed between two directory trees (containerd's continuity fs.Changes, double-walk form).

The diff of a native snapshot is its tree compared with its parent's: entries added or modified in
`upper` are written to the layer, entries gone from `lower` become whiteouts. Output is in tar order
(sorted, a directory before its contents); the directories leading to a change are included so that
an extraction recreates them with their owner and mode (as containerd's WriteDiff does).
"""
from __future__ import annotations

import os
import stat
from typing import Iterator

ADD, MODIFY, DELETE = "add", "modify", "delete"
DIR = "dir"  # an unchanged directory on the way to a change

# Xattrs that describe the storage, not the file (as the overlay diff skips them too).
_SKIP_XATTR_PREFIXES = ("trusted.overlay.", "security.selinux")


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for n in names:
        if n.startswith(_SKIP_XATTR_PREFIXES):
            continue
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            pass
    return out


def _same_content(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def same(lower: str, upper: str, la: os.stat_result, ua: os.stat_result) -> bool:
    """continuity's sameFile: type, mode, owner, device, size, mtime, xattrs, link target; a regular file
    whose mtime has no sub-second part (a copy may have lost it) is compared by content too."""
    if stat.S_IFMT(la.st_mode) != stat.S_IFMT(ua.st_mode) or la.st_mode != ua.st_mode:
        return False
    if (la.st_uid, la.st_gid) != (ua.st_uid, ua.st_gid):
        return False
    if stat.S_ISCHR(la.st_mode) or stat.S_ISBLK(la.st_mode):
        if la.st_rdev != ua.st_rdev:
            return False
    if stat.S_ISDIR(la.st_mode):
        return _xattrs(lower) == _xattrs(upper)  # a directory's mtime moves with its entries
    if la.st_size != ua.st_size or la.st_mtime_ns != ua.st_mtime_ns:
        return False
    if _xattrs(lower) != _xattrs(upper):
        return False
    if stat.S_ISLNK(la.st_mode):
        return os.readlink(lower) == os.readlink(upper)
    if stat.S_ISREG(la.st_mode) and la.st_mtime_ns % 1_000_000_000 == 0:
        return _same_content(lower, upper)
    return True


def changes(lower: str, upper: str) -> Iterator[tuple[str, str]]:
    """Yield (kind, path relative to the roots) for `upper` against `lower`: ADD, MODIFY, DELETE, or DIR
    for an unchanged parent directory of a later change. A deleted directory is one DELETE (its contents
    go with it); an added directory is followed by all of its contents."""
    yield from _walk(lower, upper, "")


def _entries(path: str) -> dict[str, os.stat_result]:
    out = {}
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return out
    for n in names:
        out[n] = os.lstat(os.path.join(path, n))
    return out


def _walk(lower: str, upper: str, rel: str) -> Iterator[tuple[str, str]]:
    """Changes below directory `rel`; DIR entries for `rel` itself are the caller's business."""
    lo = _entries(os.path.join(lower, rel)) if lower else {}
    up = _entries(os.path.join(upper, rel))
    for name in sorted(set(lo) | set(up)):
        path = os.path.join(rel, name) if rel else name
        l_st, u_st = lo.get(name), up.get(name)
        if u_st is None:
            yield DELETE, path
            continue
        u_dir = stat.S_ISDIR(u_st.st_mode)
        if l_st is None or stat.S_IFMT(l_st.st_mode) != stat.S_IFMT(u_st.st_mode):
            yield ADD, path  # a new type replaces the old entry when applied, no whiteout needed
            if u_dir:
                yield from _walk("", upper, path)  # everything below is new
            continue
        changed = not same(os.path.join(lower, path), os.path.join(upper, path), l_st, u_st)
        if not u_dir:
            if changed:
                yield MODIFY, path
            continue
        below = _walk(lower, upper, path)
        first = next(below, None)
        if changed:
            yield MODIFY, path
        elif first is not None:
            yield DIR, path
        if first is not None:
            yield first
            yield from below
