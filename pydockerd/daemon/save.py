"""`docker save`: images as a tar in Docker 25+'s layout (an OCI image layout plus `manifest.json`).

The tar is produced as a stream: headers are built from content sizes, blobs are copied from the
content store as they are read.
"""
from __future__ import annotations

import json
import tarfile
import time
from typing import TYPE_CHECKING, AsyncIterator

from . import reference
from .images import Image

if TYPE_CHECKING:
    from .containerd import ContainerdClient

BLOCK = tarfile.BLOCKSIZE


def _header(name: str, size: int, mode: int = 0o644, kind: bytes = tarfile.REGTYPE) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime, ti.type = size, mode, int(time.time()), kind
    return ti.tobuf(format=tarfile.PAX_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * ((BLOCK - size % BLOCK) % BLOCK)


async def save_stream(client: "ContainerdClient", images: list[tuple[Image, list[str]]]) -> AsyncIterator[bytes]:
    """`images`: each image with the names (fully qualified) to record for it."""
    manifests_json, index_manifests = [], []
    blobs: dict[str, None] = {}
    for img, names in images:
        manifest = json.loads(await client.read_blob(img.manifest_digest))
        layers = [layer["digest"] for layer in manifest.get("layers", [])]
        for d in [img.manifest_digest, img.id, *layers]:
            blobs.setdefault(d)
        tags = []
        for n in names:
            try:
                ref = reference.parse(n, default_tag="")
            except Exception:
                continue
            if ref.tag:
                tags.append(ref.familiar())
                index_manifests.append({"mediaType": manifest.get("mediaType",
                                                                  "application/vnd.oci.image.manifest.v1+json"),
                                        "digest": img.manifest_digest,
                                        "size": await client.blob_size(img.manifest_digest),
                                        "annotations": {"io.containerd.image.name": str(ref),
                                                        "org.opencontainers.image.ref.name": ref.tag}})
        if not tags:
            index_manifests.append({"mediaType": manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json"),
                                    "digest": img.manifest_digest,
                                    "size": await client.blob_size(img.manifest_digest)})
        manifests_json.append({"Config": "blobs/sha256/" + img.id.split(":", 1)[1], "RepoTags": tags or None,
                               "Layers": ["blobs/sha256/" + d.split(":", 1)[1] for d in layers]})

    def small(name: str, data: bytes) -> bytes:
        return _header(name, len(data)) + data + _pad(len(data))

    yield small("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    yield _header("blobs/", 0, 0o755, tarfile.DIRTYPE) + _header("blobs/sha256/", 0, 0o755, tarfile.DIRTYPE)
    for digest in blobs:
        size = await client.blob_size(digest)
        yield _header("blobs/sha256/" + digest.split(":", 1)[1], size)
        written = 0
        async for chunk in client.read_blob_chunks(digest):
            written += len(chunk)
            yield chunk
        if written != size:
            raise OSError(f"content {digest}: read {written} bytes, expected {size}")
        yield _pad(size)
    yield small("index.json", json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                          "manifests": index_manifests}).encode())
    yield small("manifest.json", json.dumps(manifests_json).encode())
    yield b"\0" * (BLOCK * 2)
