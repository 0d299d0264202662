"""Image sizes as Docker (overlay2) reports them: layers' DiffSizes, measured once and kept as a label on
the layer blob (Content.Update), summed per image; `system df`'s SharedSize and LayersSize."""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import tarfile
from types import SimpleNamespace
from typing import AsyncIterator

import pytest

from pydockerd.daemon import images as images_mod
from pydockerd.daemon.containerd import Descriptor, ImageRecord
from pydockerd.daemon.images import DIFF_SIZE_LABEL, ImageService, measure_diff_size
from pydockerd.daemon.system import disk_usage
from pydockerd.errors import NotFound

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes], symlinks: dict[str, str] | None = None,
              hardlinks: dict[str, str] | None = None, compress: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        d = tarfile.TarInfo("etc")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            tf.addfile(ti)
        for name, target in (hardlinks or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.LNKTYPE, target
            tf.addfile(ti)
    raw = buf.getvalue()
    return gzip.compress(raw) if compress else raw


class FakeContent:
    """The content and image calls ImageService makes, over dicts; counts the blob streams."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.labels: dict[str, dict[str, str]] = {}
        self.records: list[ImageRecord] = []
        self.streams: list[str] = []
        self.updates: list[tuple[str, str, str]] = []
        self.snapshots: dict[str, int] = {}  # chain ID -> its Usage by Docker's rule (unpacked layers)

    def add(self, data: bytes, labels: dict[str, str] | None = None) -> str:
        d = digest_of(data)
        self.blobs[d] = data
        self.labels[d] = dict(labels or {})
        return d

    def add_image(self, name: str, layers: list[bytes]) -> ImageRecord:
        digests = [self.add(b, {"containerd.io/uncompressed": digest_of(gzip.decompress(b))}) for b in layers]
        config = json.dumps({"architecture": images_mod.HOST_ARCH, "os": "linux", "rootfs": {
            "type": "layers", "diff_ids": [digest_of(gzip.decompress(b)) for b in layers]}}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                               "config": {"digest": self.add(config), "size": len(config)},
                               "layers": [{"digest": d, "size": len(self.blobs[d])} for d in digests]}).encode()
        rec = ImageRecord(name, Descriptor(MANIFEST, self.add(manifest), len(manifest)), {}, 0.0)
        self.records.append(rec)
        return rec

    async def read_blob(self, digest: str) -> bytes:
        if digest not in self.blobs:
            raise NotFound(f"content digest {digest}: not found")
        return self.blobs[digest]

    async def read_blob_chunks(self, digest: str) -> AsyncIterator[bytes]:
        self.streams.append(digest)
        data = await self.read_blob(digest)
        for i in range(0, len(data), 777):  # chunk edges fall anywhere in headers and gzip members
            await asyncio.sleep(0)
            yield data[i:i + 777]

    async def blob_labels(self, digest: str) -> dict[str, str]:
        await self.read_blob(digest)
        return dict(self.labels[digest])

    async def snapshot_diff_size(self, key: str) -> int:
        if key not in self.snapshots:
            raise NotFound(f"snapshot {key} does not exist")
        return self.snapshots[key]

    async def set_blob_label(self, digest: str, key: str, value: str) -> None:
        self.updates.append((digest, key, value))
        self.labels[digest][key] = value

    async def list_images(self) -> list[ImageRecord]:
        return list(self.records)


async def chunks_of(data: bytes, n: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), n):
        yield data[i:i + n]


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("chunk", [1, 511, 4096, 1 << 20])
async def test_diff_size_counts_files_and_symlink_targets_only(compress, chunk):
    long_name = "usr/share/" + "x" * 150 + "/file"  # a pax header, folded into the next entry
    tar = layer_tar({"etc/a": b"a" * 1000, "etc/empty": b"", long_name: b"b" * 513},
                    symlinks={"bin/sh": "/bin/busybox"}, hardlinks={"etc/a2": "etc/a"}, compress=compress)
    assert await measure_diff_size(chunks_of(tar, chunk)) == 1000 + 513 + len("/bin/busybox")


@pytest.mark.parametrize("chunk", [7, 1 << 20])
async def test_diff_size_of_a_layer_in_several_gzip_members(chunk):
    # as Go's gzip reader (and eStargz layers): members one after another make one stream
    raw = layer_tar({"a": b"a" * 1000, "b": b"b" * 5000}, compress=False)
    tar = gzip.compress(raw[:1536]) + gzip.compress(raw[1536:])
    assert await measure_diff_size(chunks_of(tar, chunk)) == 6000


async def test_diff_size_of_a_truncated_gzip_layer_is_an_error():
    tar = layer_tar({"a": b"a" * 100_000}, compress=True)
    with pytest.raises(ValueError):
        await measure_diff_size(chunks_of(tar[:len(tar) // 2], 4096))


async def test_diff_size_of_a_highly_compressed_layer_holds_little_memory():
    # 256 MiB of zeros gzip to ~250 KB: one chunk must not be decompressed in one piece
    import tracemalloc
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        info = tarfile.TarInfo("zeros")
        info.size = 256 << 20
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    tar = gzip.compress(raw.getvalue(), compresslevel=1)
    del raw
    tracemalloc.start()
    try:
        assert await measure_diff_size(chunks_of(tar, len(tar))) == 256 << 20
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak


async def test_a_layer_is_measured_once_and_its_size_kept_as_a_blob_label():
    store = FakeContent()
    layer = layer_tar({"f": b"z" * 4000}, symlinks={"l": "f"})
    rec = store.add_image("docker.io/library/one:latest", [layer])
    digest = digest_of(layer)
    svc = ImageService(store)  # type: ignore[arg-type]
    img = await svc.from_record(rec)
    # several asking at once (a listing and the background measurement): one stream
    assert await asyncio.gather(*(svc.size(img) for _ in range(5))) == [4001] * 5
    assert store.streams == [digest]
    # the label, by one Content.Update of that key only (the update mask keeps the GC labels)
    assert store.updates == [(digest, DIFF_SIZE_LABEL, "4001")]
    assert store.labels[digest] == {"containerd.io/uncompressed": digest_of(gzip.decompress(layer)),
                                    DIFF_SIZE_LABEL: "4001"}
    # a restarted daemon (a new service) reads the label and streams nothing
    again = ImageService(store)  # type: ignore[arg-type]
    assert await again.size(await again.from_record(rec)) == 4001
    assert store.streams == [digest] and len(store.updates) == 1


async def test_a_bad_label_is_measured_again():
    store = FakeContent()
    layer = layer_tar({"f": b"z" * 10})
    rec = store.add_image("docker.io/library/one:latest", [layer])
    store.labels[digest_of(layer)][DIFF_SIZE_LABEL] = "lots"
    svc = ImageService(store)  # type: ignore[arg-type]
    assert await svc.size(await svc.from_record(rec)) == 10
    assert store.labels[digest_of(layer)][DIFF_SIZE_LABEL] == "10"


async def test_image_size_sums_its_layers_not_the_compressed_blobs():
    store = FakeContent()
    base, top = layer_tar({"a": b"a" * 3000}), layer_tar({"b": b"b" * 200})
    rec = store.add_image("docker.io/library/two:latest", [base, top])
    svc = ImageService(store)  # type: ignore[arg-type]
    img = await svc.from_record(rec)
    assert await svc.size(img) == 3200 != len(base) + len(top)
    s = images_mod.summary(img, 3200, (1, 41))
    assert (s["Size"], s["VirtualSize"]) == (3200, 3200)
    assert "VirtualSize" not in images_mod.summary(img, 3200, (1, 50))
    i = images_mod.inspect(img, 3200)
    assert (i["Size"], i["VirtualSize"]) == (3200, 3200)


async def test_an_unreadable_layer_makes_the_size_unknown_not_the_listing_fail():
    store = FakeContent()
    layer = layer_tar({"a": b"a"})
    rec = store.add_image("docker.io/library/gone:latest", [layer])
    svc = ImageService(store)  # type: ignore[arg-type]
    img = await svc.from_record(rec)
    del store.blobs[digest_of(layer)]
    assert await svc.size(img) == -1
    await svc.measure([rec.target])  # the background measurement only logs
    store.blobs[digest_of(layer)] = b"\x1f\x8b" + b"not gzip at all" * 40  # corrupt: the same
    assert await svc.size(img) == -1
    store.blobs[digest_of(layer)] = layer  # a failure is not remembered
    assert await svc.size(img) == 1


async def test_background_measurement_covers_shared_layers_once():
    store = FakeContent()
    base = layer_tar({"a": b"a" * 100})
    one = store.add_image("docker.io/library/one:latest", [base, layer_tar({"b": b"b" * 7})])
    two = store.add_image("docker.io/library/two:latest", [base, layer_tar({"c": b"c" * 9})])
    svc = ImageService(store)  # type: ignore[arg-type]
    await svc.measure([one.target, two.target])
    assert sorted(store.streams) == sorted({digest_of(base), digest_of(store_layer(store, one, 1)),
                                            digest_of(store_layer(store, two, 1))})
    assert [await svc.size(await svc.from_record(r)) for r in (one, two)] == [107, 109]
    assert len(store.streams) == 3  # the listing found them all measured


def store_layer(store: FakeContent, rec: ImageRecord, n: int) -> bytes:
    manifest = json.loads(store.blobs[rec.target.digest])
    return store.blobs[manifest["layers"][n]["digest"]]


async def test_system_df_shared_size_and_layers_size_as_moby():
    store = FakeContent()
    base = layer_tar({"a": b"a" * 100})
    store.add_image("docker.io/library/one:latest", [base, layer_tar({"b": b"b" * 7})])
    store.add_image("docker.io/library/two:latest", [base, layer_tar({"c": b"c" * 9})])
    d = SimpleNamespace(images=ImageService(store), containers={},  # type: ignore[arg-type]
                        volumes=SimpleNamespace(list=lambda: []), list=lambda *_: [])
    df = await disk_usage(d)  # type: ignore[arg-type]
    by_tag = {i["RepoTags"][0]: i for i in df["Images"]}
    assert (by_tag["one:latest"]["Size"], by_tag["one:latest"]["SharedSize"]) == (107, 100)
    assert (by_tag["two:latest"]["Size"], by_tag["two:latest"]["SharedSize"]) == (109, 100)
    assert df["LayersSize"] == 100 + 7 + 9  # the shared base counted once
    assert "VirtualSize" in (await disk_usage(d, (1, 41)))["Images"][0]  # type: ignore[arg-type]


async def test_an_unpacked_layer_is_measured_on_its_snapshot_not_its_blob():
    store = FakeContent()
    rec = store.add_image("docker.io/library/unpacked:latest", [layer_tar({"f": b"z" * 4000})])
    svc = ImageService(store)  # type: ignore[arg-type]
    img = await svc.from_record(rec)
    [chain] = img.layer_chain_ids
    store.snapshots[chain] = 4000  # what the snapshotter walked
    await svc.measure([rec.target])
    assert store.streams == []  # the blob was not read back
    assert store.updates == [(img.layers[0], DIFF_SIZE_LABEL, "4000")]
    assert await svc.size(img) == 4000
