"""Garbage collection on the core stores: what images, leases and live snapshots reference stays."""
from __future__ import annotations

import time

import pytest

from pycontainerd import gc
from pycontainerd.content import ContentStore
from pycontainerd.errdefs import NotFound
from pycontainerd.images import Image, ImageStore, resolve
from pycontainerd.importer import Importer
from pycontainerd.leases import LeaseManager
from pycontainerd.metadata import Store
from pycontainerd.snapshots.overlay import OverlaySnapshotter


@pytest.fixture
def stores(tmp_path):
    meta = Store(str(tmp_path / "meta" / "meta.db"))
    cs = ContentStore(str(tmp_path / "content"), meta)
    sn = OverlaySnapshotter(str(tmp_path / "snapshots"), meta)
    ims = ImageStore(meta)
    leases = LeaseManager(meta)
    yield cs, sn, ims, leases, Importer(cs, sn, ims, str(tmp_path / "tmp"))
    meta.close()


def test_collect_follows_images_leases_and_live_snapshots(stores, rootfs_tar):
    cs, sn, ims, leases, importer = stores
    ns = "gc"
    (img,), cfg = importer.import_rootfs(ns, str(rootfs_tar), "busybox:latest", None)
    resolved = resolve(cs, ns, img.target)
    chain = resolved.chain_ids[-1]
    blobs = {img.target.digest, resolved.config.digest, resolved.layers[0].digest}
    ims.create(ns, Image("docker.io/library/other:1", img.target))
    sn.prepare(ns, "ctr1", chain)
    later = time.time() + 2 * gc.GRACE
    stray = cs.add_bytes(ns, b"nobody references me")

    # fresh content is protected by the grace period
    assert gc.collect(ns, cs, sn, ims, leases).content == []
    # an unreferenced blob goes; everything an image references stays
    assert gc.collect(ns, cs, sn, ims, leases, now=later).content == [stray]
    ims.delete(ns, img.name)
    assert gc.collect(ns, cs, sn, ims, leases, now=later).content == []
    # the last image gone: its blobs go, but the snapshot under a live container stays
    ims.delete(ns, "docker.io/library/other:1")
    lease = leases.create(ns, "keep", {})
    leases.add_resource(ns, lease.id, resolved.layers[0].digest, "content")
    out = gc.collect(ns, cs, sn, ims, leases, now=later)
    assert sorted(out.content) == sorted(blobs - {resolved.layers[0].digest})
    assert out.snapshots == []
    assert cs.exists(ns, resolved.layers[0].digest)  # held by the lease
    sn.remove(ns, "ctr1")
    out = gc.collect(ns, cs, sn, ims, leases, now=later)
    assert out.snapshots == [chain]
    with pytest.raises(NotFound):
        sn.stat(ns, chain)
    leases.delete(ns, lease.id)
    assert gc.collect(ns, cs, sn, ims, leases, now=later).content == [resolved.layers[0].digest]


def test_expired_leases_are_dropped(stores):
    cs, sn, ims, leases, _ = stores
    ns = "gcx"
    blob = cs.add_bytes(ns, b"held until the lease expires")
    old = leases.create(ns, "old", {"containerd.io/gc.expire": "2020-01-02T03:04:05.123456789Z"})
    new = leases.create(ns, "new", {"containerd.io/gc.expire": "2999-01-01T00:00:00Z"})
    leases.add_resource(ns, old.id, blob, "content")
    later = time.time() + 2 * gc.GRACE
    assert gc.collect(ns, cs, sn, ims, leases, now=later).content == [blob]
    assert [x.id for x in leases.list(ns)] == [new.id]


def test_released_image_frees_its_snapshots_in_every_snapshotter(stores, rootfs_tar, tmp_path):
    """One collection over several snapshotters: a deleted image's young snapshots go at once in the
    second snapshotter too (a pass per snapshotter lost `released` after the first removed the content)."""
    from pycontainerd.snapshots.native import NativeSnapshotter
    cs, sn, ims, leases, _ = stores
    native = NativeSnapshotter(str(tmp_path / "native"), sn.meta)
    ns = "gcn"
    (img,), _cfg = Importer(cs, native, ims, str(tmp_path / "tmp")).import_rootfs(
        ns, str(rootfs_tar), "busybox:native", None)
    chain = resolve(cs, ns, img.target).chain_ids[-1]
    native.stat(ns, chain)
    ims.delete(ns, img.name)
    out = gc.collect(ns, cs, [sn, native], ims, leases, released=frozenset({img.target.digest}))
    assert out.snapshots == [chain]
    with pytest.raises(NotFound):
        native.stat(ns, chain)
