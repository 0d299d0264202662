"""Pull into and push from pycontainerd's real content store through ContentStoreBlobs."""
from __future__ import annotations

import pytest

from pycontainerd.registry import LayoutStore, RegistryClient
from pycontainerd.registry.contentstore import ContentStoreBlobs
from pycontainerd.registry.progress import MOUNTED

content = pytest.importorskip("pycontainerd.content")
metadata = pytest.importorskip("pycontainerd.metadata")


async def test_pull_into_content_store_then_mount_on_push(registry, repo, images, busybox_layer, tmp_path):
    src = LayoutStore(str(tmp_path / "src"))
    target = images.add_image(src, [busybox_layer])
    async with RegistryClient() as rc:
        await rc.push(f"{registry.host}/{repo}:v1", target, src)

    meta = metadata.Store(str(tmp_path / "cs" / "meta.db"))
    try:
        cs = content.ContentStore(str(tmp_path / "cs"), meta)
        blobs = ContentStoreBlobs(cs, "moby")
        async with RegistryClient() as rc:
            res = await rc.pull(f"{registry.host}/{repo}:v1", blobs)
        layer = res.layers[0].digest
        assert cs.read_bytes("moby", layer) == busybox_layer
        mlabels = cs.info("moby", target.digest).labels
        assert mlabels["containerd.io/gc.ref.content.config"] == res.config.digest
        assert mlabels["containerd.io/gc.ref.content.l.0"] == layer
        assert cs.info("moby", layer).labels[f"containerd.io/distribution.source.{registry.host}"] == repo
        assert not cs.exists("other-ns", layer)

        # Pushing to another repository of the same registry mounts the layer from where it came.
        events = []
        async with RegistryClient() as rc:
            await rc.push(f"{registry.host}/{repo}-2:v1", target, blobs,
                          mount_candidates=blobs.mount_candidates(f"{registry.host}/{repo}-2"),
                          progress=events.append)
        assert [(e.digest, e.detail) for e in events if e.kind == MOUNTED] == [(layer, repo)]
    finally:
        meta.close()
