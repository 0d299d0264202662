"""What `docker diff` lists: a container's filesystem changes against its image (GET /containers/{id}/changes).

moby's rule (archive.ChangesDirs, what dockerd's overlay2 uses on kernels with redirect_dir and what its
containerd image store uses): the container's tree is compared with its image's tree. A path only in the
container's is Added (and everything below it); one only in the image's is Deleted (not what was below
it); one in both is Modified when its mode, owner, device or file capability differ, or, for what is not
a directory, its size or mtime. A directory with changes below it is listed as Modified before them.

Both trees are read-only mounts. An overlay's upper dir tells where the trees can differ at all: a
subtree the upper dir lacks shows the image's files unchanged and is not walked.
"""
from __future__ import annotations

import os
import stat
from typing import Any

MODIFY, ADD, DELETE = 0, 1, 2  # the API's Kind values


def _entries(root: str | None, path: str) -> dict[str, os.stat_result]:
    if root is None:
        return {}
    base = os.path.join(root, path.lstrip("/"))
    out = {}
    try:
        names = os.listdir(base)
    except (FileNotFoundError, NotADirectoryError):
        return out
    for name in names:
        try:
            out[name] = os.lstat(os.path.join(base, name))
        except FileNotFoundError:  # gone meanwhile (a running container)
            pass
    return out


def _same_time(a: os.stat_result, b: os.stat_result) -> bool:
    # Go's sameFsTime: equal, or equal seconds where either side has no nanoseconds
    return a.st_mtime_ns == b.st_mtime_ns or (
        a.st_mtime_ns // 10**9 == b.st_mtime_ns // 10**9 and (a.st_mtime_ns % 10**9 == 0 or b.st_mtime_ns % 10**9 == 0))


def _differs(old: os.stat_result, new: os.stat_result) -> bool:
    """moby's statDifferent: mode, owner, device; size and mtime only for what is not a directory."""
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != (new.st_mode, new.st_uid, new.st_gid, new.st_rdev):
        return True
    return not stat.S_ISDIR(old.st_mode) and (not _same_time(old, new) or old.st_size != new.st_size)


def _capability(root: str, path: str) -> bytes | None:
    try:
        return os.getxattr(os.path.join(root, path.lstrip("/")), "security.capability", follow_symlinks=False)
    except OSError:
        return None


def changes(new_root: str, old_root: str | None, upper: str | None = None) -> list[dict[str, Any]]:
    """The changes of tree `new_root` against `old_root` (None: an empty tree), in moby's order within a
    directory (sorted by name here; dockerd's follows its map order). `upper`: an overlay upper dir of
    `new_root`, to skip the subtrees it lacks."""
    out: list[dict[str, Any]] = []

    def touched(path: str) -> bool:
        return upper is None or os.path.lexists(os.path.join(upper, path.lstrip("/")))

    def walk(path: str, new: os.stat_result | None, old: os.stat_result | None, listed: bool) -> None:
        """`path` is in the new tree (stat `new`, None for the root) and maybe in the old one (`old`)."""
        at = len(out)  # where this directory goes if something below it changed and it is not listed yet
        if new is not None and old is None:
            out.append({"Path": path, "Kind": ADD})
            listed = True
        if new is not None and not stat.S_ISDIR(new.st_mode):
            return
        old_dir = new is None or (old is not None and stat.S_ISDIR(old.st_mode))
        old_children = _entries(old_root, path) if old_dir else {}
        for name, st in sorted(_entries(new_root, path).items()):
            child = f"{path.rstrip('/')}/{name}"
            old_st = old_children.pop(name, None)
            modified = old_st is not None and (
                _differs(old_st, st) or _capability(old_root or "", child) != _capability(new_root, child))
            if modified:
                out.append({"Path": child, "Kind": MODIFY})
            if old_st is None or touched(child):
                walk(child, st, old_st, modified)
        out.extend({"Path": f"{path.rstrip('/')}/{name}", "Kind": DELETE} for name in sorted(old_children))
        if len(out) > at and not listed and new is not None:
            out.insert(at, {"Path": path, "Kind": MODIFY})

    walk("/", None, None, True)
    return out


def upper_dir(mount: Any) -> str | None:
    """The upper dir of an overlay mount (None for any other mount)."""
    if mount.type != "overlay":
        return None
    return next((o.split("=", 1)[1] for o in mount.options if o.startswith("upperdir=")), None)
