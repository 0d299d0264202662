"""The overlayfs snapshotter: active/view/committed snapshots in short numeric directories.

Mount conventions follow containerd's overlay snapshotter, so clients (ctr, pydockerd) can mount
what they get back: a parentless snapshot is a bind mount of its `fs`, one with parents is an
overlay with `lowerdir` (topmost first), `upperdir` and `workdir`. Keys are per namespace.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from ..metadata import Store
from ..mount import Mount, mount, unmount_all
from .base import KIND_ACTIVE, KIND_COMMITTED, KIND_VIEW, DirSnapshotter, Info, disk_usage

__all__ = ["NAME", "KIND", "KIND_VIEW", "KIND_ACTIVE", "KIND_COMMITTED", "Info", "OverlaySnapshotter",
           "disk_usage", "supported"]

NAME = "overlayfs"
KIND = "snapshot"


def _index_option() -> list[str]:
    # containerd adds index=off when the kernel enables the overlay index by default: with
    # index=on a lower dir shared by several overlays makes later mounts fail with EBUSY.
    try:
        with open("/sys/module/overlay/parameters/index") as f:
            return ["index=off"] if f.read().strip() == "Y" else []
    except OSError:
        return []


class OverlaySnapshotter(DirSnapshotter):
    name = NAME
    record_kind = KIND  # "snapshot": the records this snapshotter always had

    def __init__(self, root: str, meta: Store) -> None:
        super().__init__(root, meta)
        self._index = _index_option()

    def _populate(self, ns: str, info: Info, parents: list[Info]) -> None:
        if info.kind == KIND_ACTIVE:
            os.makedirs(os.path.join(self.dir, str(info.id), "work"), mode=0o711)

    def _mounts(self, ns: str, info: Info) -> list[Mount]:
        parents = self._chain(ns, info.parent)
        if not parents:
            ro = "ro" if info.kind == KIND_VIEW else "rw"
            return [Mount("bind", self._fs(info.id), options=[ro, "rbind"])]
        lower = ":".join(self._fs(p.id) for p in parents)
        if info.kind == KIND_VIEW:
            if len(parents) == 1:
                return [Mount("bind", self._fs(parents[0].id), options=["ro", "rbind"])]
            return [Mount("overlay", "overlay", options=[f"lowerdir={lower}"])]
        work = os.path.join(self.dir, str(info.id), "work")
        return [Mount("overlay", "overlay",
                      options=self._index + [f"workdir={work}", f"upperdir={self._fs(info.id)}", f"lowerdir={lower}"])]


def supported(root: str) -> str:
    """'' when an overlay with two lower dirs mounts on the filesystem under `root` (containerd's
    overlayutils.Supported), else why not."""
    os.makedirs(root, exist_ok=True)
    for stale in os.listdir(root):  # a check a crash interrupted
        if stale.startswith("overlay-check-"):
            unmount_all(os.path.join(root, stale))
            shutil.rmtree(os.path.join(root, stale), ignore_errors=True)
    base = tempfile.mkdtemp(prefix="overlay-check-", dir=root)
    try:
        dirs = {n: os.path.join(base, n) for n in ("lower1", "lower2", "upper", "work", "merged")}
        for d in dirs.values():
            os.mkdir(d)
        m = Mount("overlay", "overlay", options=_index_option() + [
            f"lowerdir={dirs['lower2']}:{dirs['lower1']}", f"upperdir={dirs['upper']}", f"workdir={dirs['work']}"])
        try:
            mount(m, dirs["merged"])
        except OSError as exc:
            return str(exc)
        unmount_all(dirs["merged"])
        return ""
    finally:
        shutil.rmtree(base, ignore_errors=True)
