"""Snapshots.Usage: containerd's sense by default (allocated blocks), Docker's size rule (overlay2's DiffSize)
when the call carries `pycontainerd-usage-rule: diffsize`, for the overlay and native snapshotters."""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from pycontainerd.errdefs import InvalidArgument
from pycontainerd.metadata import Store
from pycontainerd.services.snapshots import USAGE_RULE_HEADER, SnapshotsService
from pycontainerd.snapshots.base import USAGE_DIFFSIZE, diff_size, disk_usage
from pycontainerd.snapshots.native import NativeSnapshotter
from pycontainerd.snapshots.overlay import OverlaySnapshotter
from protos.containerd.services.snapshots.v1 import snapshots_pb2

NS = "moby"


def fs_of(sn, key: str) -> Path:  # type: ignore[no-untyped-def]
    return Path(sn._fs(sn.stat(NS, key).id))


def base_layer(sn) -> None:  # type: ignore[no-untyped-def]
    """A committed parent `base` holding bin/ls (to be deleted) and etc/motd (to be left alone)."""
    sn.prepare(NS, "base-active")
    root = fs_of(sn, "base-active")
    (root / "bin").mkdir()
    (root / "bin" / "ls").write_bytes(b"l" * 5000)
    (root / "etc").mkdir()
    (root / "etc" / "motd").write_bytes(b"m" * 300)
    sn.commit(NS, "base", "base-active")


def container_writes(root: Path) -> int:
    """What the container from the e2e test does to its writable layer; Docker's size of it."""
    (root / "big").write_bytes(b"\0" * 1048576)
    os.symlink("0123456789", root / "lnk")
    os.link(root / "big", root / "big2")  # a hard link: counted once
    (root / "tmp").mkdir()  # a directory: nothing
    return 1048576 + 10


def test_overlay_usage_by_dockers_rule_is_the_upper_dirs_file_lengths(tmp_path):
    sn = OverlaySnapshotter(str(tmp_path / "root"), Store(str(tmp_path / "meta" / "meta.db")))
    base_layer(sn)
    sn.prepare(NS, "c1", "base")
    upper = fs_of(sn, "c1")
    want = container_writes(upper)
    os.mkfifo(upper / "whiteout-like")  # a whiteout is a 0/0 device: 0 bytes, like any device or fifo
    size, inodes = sn.usage(NS, "c1", USAGE_DIFFSIZE)
    assert size == want  # the parent's files are not in the upper dir, so not counted
    blocks, containerd_inodes = sn.usage(NS, "c1")
    assert inodes == containerd_inodes == 4  # big (and big2), lnk, tmp, the fifo
    assert blocks != want and blocks % 512 == 0  # containerd's sense: allocated blocks, directories too
    assert sn.usage(NS, "base", USAGE_DIFFSIZE) == (5300, 4)  # a committed layer: its own files
    with pytest.raises(InvalidArgument):
        sn.usage(NS, "c1", "blocks")


def test_native_usage_by_dockers_rule_is_what_differs_from_the_parent(tmp_path):
    sn = NativeSnapshotter(str(tmp_path / "root"), Store(str(tmp_path / "meta" / "meta.db")))
    base_layer(sn)
    sn.prepare(NS, "c1", "base")
    root = fs_of(sn, "c1")  # a full copy of the parent
    want = container_writes(root)
    os.unlink(root / "bin" / "ls")  # a deletion: nothing
    (root / "etc" / "motd").write_bytes(b"changed")  # a modification: its new length
    size, inodes = sn.usage(NS, "c1", USAGE_DIFFSIZE)
    assert size == want + len(b"changed")
    assert inodes == disk_usage(str(root))[1]
    assert sn.usage(NS, "base", USAGE_DIFFSIZE)[0] == 5300  # no parent: the whole tree


def test_diff_size_skips_entries_that_vanish_but_not_a_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError):
        diff_size(str(tmp_path / "gone"))
    assert diff_size(str(tmp_path)) == (0, 0)


class Context:
    def __init__(self, *metadata: tuple[str, str]) -> None:
        self.md = (("containerd-namespace", NS), *metadata)

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.md

    async def abort(self, code, details):  # type: ignore[no-untyped-def]
        raise AssertionError(f"aborted: {code} {details}")


async def test_the_service_applies_the_rule_its_header_names(tmp_path):
    sn = OverlaySnapshotter(str(tmp_path / "root"), Store(str(tmp_path / "meta" / "meta.db")))
    base_layer(sn)
    sn.prepare(NS, "c1", "base")
    want = container_writes(fs_of(sn, "c1"))
    svc = SnapshotsService(SimpleNamespace(snapshotter_named=lambda name: sn))
    req = snapshots_pb2.UsageRequest(snapshotter="overlayfs", key="c1")
    docker = await svc.Usage(req, Context((USAGE_RULE_HEADER, USAGE_DIFFSIZE)))
    containerd = await svc.Usage(req, Context())
    assert docker.size == want != containerd.size
    assert containerd.size == sn.usage(NS, "c1")[0] and docker.inodes == containerd.inodes
