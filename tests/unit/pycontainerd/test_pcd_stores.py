"""Core stores without gRPC or root: metadata, content ingests, images, containers, chain IDs."""
from __future__ import annotations

import hashlib

import pytest

from pycontainerd.containers import AnyValue, Container, ContainerStore
from pycontainerd.content import ContentStore
from pycontainerd.errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable
from pycontainerd.images import Descriptor, Image, ImageStore, chain_ids
from pycontainerd.metadata import Store


@pytest.fixture
def meta(tmp_path):
    s = Store(str(tmp_path / "meta" / "meta.db"))
    yield s
    s.close()


def test_transaction_rolls_back(meta):
    with pytest.raises(RuntimeError):
        with meta.tx():
            meta.put("ns", "k", "a", {"v": 1})
            raise RuntimeError("boom")
    assert meta.get("ns", "k", "a") is None


def test_content_ingest_resume_and_commit(meta, tmp_path):
    cs = ContentStore(str(tmp_path / "content"), meta)
    data = b"0123456789" * 100
    dgst = "sha256:" + hashlib.sha256(data).hexdigest()
    w = cs.writer("ns", "ref", total=len(data), expected=dgst)
    w.write(data[:300])
    with pytest.raises(Unavailable):
        cs.writer("ns", "ref")  # locked while open
    w.close()
    w = cs.writer("ns", "ref")  # resumes: offset and digest state survive
    assert w.offset == 300 and w.total == len(data)
    w.write(b"garbage", offset=300)
    w.write(data[300:], offset=300)  # rewinding truncates
    assert w.commit(len(data), dgst) == dgst
    assert cs.read_bytes("ns", dgst) == data
    assert cs.list_statuses("ns") == []
    with pytest.raises(AlreadyExists):
        cs.writer("ns", "other", expected=dgst)
    with pytest.raises(NotFound):
        cs.info("other-ns", dgst)  # blobs belong to namespaces


def test_content_commit_checks_size_and_digest(meta, tmp_path):
    cs = ContentStore(str(tmp_path / "content"), meta)
    w = cs.writer("ns", "r")
    w.write(b"abc")
    with pytest.raises(FailedPrecondition, match="unexpected commit size 3, expected 4"):
        w.commit(4)
    with pytest.raises(FailedPrecondition, match="unexpected commit digest"):
        w.commit(3, "sha256:" + "0" * 64)
    w.close()
    with pytest.raises(InvalidArgument):
        cs.info("ns", "sha256:xyz")


def test_images_and_containers(meta):
    ims = ImageStore(meta)
    img = Image("docker.io/library/a:1", Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "1" * 64, 5))
    ims.create("ns", img)
    with pytest.raises(AlreadyExists, match='image "docker.io/library/a:1": already exists'):
        ims.create("ns", img)
    new, created = ims.put("ns", Image(img.name, Descriptor(img.target.media_type, "sha256:" + "2" * 64, 6)))
    assert not created and ims.get("ns", img.name).target.size == 6
    cs = ContainerStore(meta)
    c = Container("c1", runtime_name="io.containerd.runc.v2", spec=AnyValue("types.containerd.io/x", b"{}"))
    cs.create("ns", c)
    assert cs.get("ns", "c1").spec.value == b"{}"
    with pytest.raises(InvalidArgument):
        cs.create("ns", Container("bad id!", runtime_name="r", spec=AnyValue("t", b"{}")))
    cs.delete("ns", "c1")
    with pytest.raises(NotFound, match='container "c1" in namespace "ns": not found'):
        cs.delete("ns", "c1")


def test_chain_ids():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    want = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b]) == [a, want]
