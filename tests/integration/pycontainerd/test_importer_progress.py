"""Importer.Import's contract for `docker load`: per-layer JSON progress (`json`) unless `quiet`, result lines
in `status`, layers unpacked into the snapshotter the request names (the default when empty)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import uuid

import grpc
import pytest

from pcd_helpers import Client, children
from protos.containerd.services.snapshots.v1 import snapshots_pb2
from protos.pycontainerd.services.importer.v1 import importer_pb2


def _archive(*tags: list[str]) -> tuple[bytes, list[str], list[str]]:
    """A docker-archive with one image per tag list (two layers each); (its bytes, the first image's diff IDs,
    each image's ID)."""
    out = io.BytesIO()
    entries, first, ids = [], [], []
    with tarfile.open(fileobj=out, mode="w") as tf:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for repo_tags in tags:
            layers = []
            for i in range(2):
                buf = io.BytesIO()
                with tarfile.open(fileobj=buf, mode="w") as lt:
                    data = os.urandom(200_000)
                    info = tarfile.TarInfo(f"f{i}")
                    info.size = len(data)
                    lt.addfile(info, io.BytesIO(data))
                layers.append(buf.getvalue())
            diff_ids = ["sha256:" + hashlib.sha256(b).hexdigest() for b in layers]
            config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                                 "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
            cfg_name = hashlib.sha256(config).hexdigest() + ".json"
            add(cfg_name, config)
            for d, b in zip(diff_ids, layers):
                add(f"{d[7:]}/layer.tar", b)
            entries.append({"Config": cfg_name, "RepoTags": repo_tags,
                            "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]})
            first = first or diff_ids
            ids.append("sha256:" + cfg_name[:-5])
        add("manifest.json", json.dumps(entries).encode())
    return out.getvalue(), first, ids


def _load(c: Client, data: bytes, **opts) -> list:
    def reqs():
        yield importer_pb2.ImportRequest(format="archive", **opts)
        yield importer_pb2.ImportRequest(data=data)
    return list(c.importer.Import(reqs(), metadata=c.md))


def _chains(c: Client, snapshotter: str) -> set[str]:
    return {i.name for r in c.snapshots.List(snapshots_pb2.ListSnapshotsRequest(snapshotter=snapshotter),
                                             metadata=c.md) for i in r.info}


def test_progress_messages_unless_quiet(client):
    data, diff_ids, _ = _archive(["example.com/prog:1"])
    resp = _load(client, data)
    progress = [json.loads(r.json) for r in resp if r.json]
    assert all(not r.status for r in resp if r.json)  # one kind of content per message
    assert [m["id"] for m in progress if m["progressDetail"]["current"] == m["progressDetail"]["total"]] == \
        [d[7:19] for d in diff_ids]
    assert {m["status"] for m in progress} == {"Loading layer"}
    assert [r.status for r in resp if r.status] == ["Loaded image: example.com/prog:1"]
    assert [i.name for i in resp[-1].images] == ["example.com/prog:1"]

    other, _, _ = _archive(["example.com/prog:2"])
    quiet = _load(client, other, quiet=True)
    assert not [r for r in quiet if r.json]
    assert [r.status for r in quiet if r.status] == ["Loaded image: example.com/prog:2"]


def test_layers_go_to_the_named_snapshotter(client):
    data, diff_ids, _ = _archive([f"example.com/native-{uuid.uuid4().hex[:6]}:1"])
    before = _chains(client, "overlayfs")
    _load(client, data, snapshotter="native", quiet=True)
    assert diff_ids[0] in _chains(client, "native")  # the first layer's chain ID is its diff ID
    assert _chains(client, "overlayfs") == before
    with pytest.raises(grpc.RpcError) as err:
        _load(client, data, snapshotter="zfs")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "snapshotter not loaded: zfs" in err.value.details()


def test_image_ids_are_listed_as_moby_does(client):
    """moby prints "Loaded image ID" lines (for every image of the archive) only when its last image has no tag."""
    data, _, ids = _archive(["example.com/ids:a"], [])
    statuses = [r.status for r in _load(client, data, quiet=True) if r.status]
    assert statuses == ["Loaded image: example.com/ids:a"] + [f"Loaded image ID: {i}" for i in ids]
    data, _, ids = _archive([], ["example.com/ids:b"])
    statuses = [r.status for r in _load(client, data, quiet=True) if r.status]
    assert statuses == ["Loaded image: example.com/ids:b"]


def test_one_applier_process_serves_every_layer_of_a_load(daemon, client):
    """The layers of a load are applied by children forked from one applier process (its interpreter
    starts once per load, ~35 ms of CPU, not once per layer)."""
    import threading
    import time
    data, _, _ = _archive([f"example.com/one-{uuid.uuid4().hex[:6]}:1"], [f"example.com/two-{uuid.uuid4().hex[:6]}:1"])
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for pid in children(daemon.proc.pid):
                try:
                    if b"pycontainerd.archive" in open(f"/proc/{pid}/cmdline", "rb").read():
                        seen.add(pid)
                except OSError:
                    pass
            time.sleep(0.001)

    t = threading.Thread(target=watch)
    t.start()
    try:
        statuses = [r.status for r in _load(client, data, quiet=True) if r.status]
    finally:
        done.set()
        t.join()
    assert len(statuses) == 2  # two images, four layers
    assert len(seen) == 1, seen
