"""Layer application through Diff.Apply: whiteouts on overlay snapshots, and tars that try to escape."""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import uuid

import grpc
import pytest

from protos.containerd.services.content.v1 import content_pb2
from protos.containerd.services.diff.v1 import diff_pb2
from protos.containerd.services.snapshots.v1 import snapshots_pb2
from protos.containerd.types import descriptor_pb2

SN = "overlayfs"
LAYER = "application/vnd.oci.image.layer.v1.tar"


def make_tar(entries: list[tuple]) -> bytes:
    """entries: (name, type, data_or_linkname[, mode])."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for e in entries:
            name, kind, payload = e[:3]
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.mode = e[3] if len(e) > 3 else (0o755 if kind == tarfile.DIRTYPE else 0o644)
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                ti.linkname = payload
                tf.addfile(ti)
            elif kind == tarfile.REGTYPE:
                ti.size = len(payload)
                tf.addfile(ti, io.BytesIO(payload))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def put_blob(c, data: bytes) -> descriptor_pb2.Descriptor:
    dgst = "sha256:" + hashlib.sha256(data).hexdigest()
    reqs = [content_pb2.WriteContentRequest(action=content_pb2.COMMIT, ref=f"l-{uuid.uuid4().hex}", data=data,
                                            total=len(data), expected=dgst)]
    list(c.content.Write(iter(reqs), metadata=c.md))
    return descriptor_pb2.Descriptor(media_type=LAYER, digest=dgst, size=len(data))


def apply(c, key: str, parent: str, data: bytes) -> diff_pb2.ApplyResponse:
    mounts = c.snapshots.Prepare(snapshots_pb2.PrepareSnapshotRequest(snapshotter=SN, key=key, parent=parent),
                                 metadata=c.md).mounts
    try:
        return c.diff.Apply(diff_pb2.ApplyRequest(diff=put_blob(c, data), mounts=mounts), metadata=c.md)
    except grpc.RpcError:
        c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter=SN, key=key), metadata=c.md)
        raise


def test_whiteouts_and_opaque_dirs_on_overlay(client, tmp_path):
    c = client
    l1 = make_tar([("d", tarfile.DIRTYPE, b""), ("d/a", tarfile.REGTYPE, b"a"), ("d/b", tarfile.REGTYPE, b"b"),
                   ("o", tarfile.DIRTYPE, b""), ("o/x", tarfile.REGTYPE, b"x"), ("o/sub", tarfile.DIRTYPE, b""),
                   ("o/sub/y", tarfile.REGTYPE, b"y"), ("f", tarfile.REGTYPE, b"f"),
                   ("t", tarfile.DIRTYPE, b"", 0o1777), ("s", tarfile.SYMTYPE, "d/b")])
    l2 = make_tar([("d/.wh.a", tarfile.REGTYPE, b""), (".wh.f", tarfile.REGTYPE, b""),
                   ("o/.wh..wh..opq", tarfile.REGTYPE, b""), ("o/new", tarfile.REGTYPE, b"new"),
                   ("t/file", tarfile.REGTYPE, b"in sticky dir"), ("h", tarfile.LNKTYPE, "d/b")])
    r1 = apply(c, "k1", "", l1)
    assert r1.applied.digest == "sha256:" + hashlib.sha256(l1).hexdigest()
    c.snapshots.Commit(snapshots_pb2.CommitSnapshotRequest(snapshotter=SN, name="L1", key="k1"), metadata=c.md)
    apply(c, "k2", "L1", l2)
    c.snapshots.Commit(snapshots_pb2.CommitSnapshotRequest(snapshotter=SN, name="L2", key="k2"), metadata=c.md)
    view = c.snapshots.View(snapshots_pb2.ViewSnapshotRequest(snapshotter=SN, key="v", parent="L2"),
                            metadata=c.md).mounts
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(view[0].options), str(mnt)], check=True)
    try:
        assert sorted(os.listdir(mnt)) == ["d", "h", "o", "s", "t"]
        assert os.listdir(mnt / "d") == ["b"]
        assert os.listdir(mnt / "o") == ["new"]
        assert os.readlink(mnt / "s") == "d/b"
        assert (mnt / "h").read_bytes() == b"b"
        assert os.stat(mnt / "t").st_mode & 0o7777 == 0o1777  # parent metadata kept from the lower layer
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    for key in ("v", "L2", "L1"):
        c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter=SN, key=key), metadata=c.md)


@pytest.mark.parametrize("entries", [
    [("esc", tarfile.SYMTYPE, "{outside}"), ("esc/pwned", tarfile.REGTYPE, b"x")],
    [("../../../../../../{outside_rel}/pwned", tarfile.REGTYPE, b"x")],
    [("/{outside_rel}/pwned", tarfile.REGTYPE, b"x")],
    [("lnk", tarfile.SYMTYPE, "../../../../../../../../{outside_rel}"), ("lnk/pwned", tarfile.REGTYPE, b"x")],
    [("hard", tarfile.LNKTYPE, "{outside}/victim"), ("hard", tarfile.REGTYPE, b"overwritten")],
], ids=["abs-symlink-parent", "dotdot", "absolute", "rel-symlink-parent", "hardlink-to-host"])
def test_layers_cannot_write_outside_the_snapshot(client, tmp_path, entries):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_bytes(b"original")
    fill = {"outside": str(outside), "outside_rel": str(outside).lstrip("/")}
    tar = make_tar([(e[0].format(**fill), e[1], e[2].format(**fill) if isinstance(e[2], str) else e[2])
                    for e in entries])
    key = f"evil-{uuid.uuid4().hex[:6]}"
    try:
        apply(client, key, "", tar)
        client.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter=SN, key=key), metadata=client.md)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNKNOWN  # refusing is fine; escaping is not
    assert sorted(os.listdir(outside)) == ["victim"]
    assert victim.read_bytes() == b"original"


def test_diff_of_a_container_snapshot_round_trips(busybox, tmp_path):
    """Diff.Diff(view of the image, container snapshot) → a layer that Diff.Apply reproduces."""
    import json as _json
    c = busybox
    from protos.containerd.services.images.v1 import images_pb2
    img = c.images.Get(images_pb2.GetImageRequest(name="docker.io/library/busybox:latest"), metadata=c.md).image
    read = lambda d: b"".join(r.data for r in c.content.Read(content_pb2.ReadContentRequest(digest=d), metadata=c.md))
    manifest = _json.loads(read(img.target.digest))
    chain = _json.loads(read(manifest["config"]["digest"]))["rootfs"]["diff_ids"][0]
    key = f"ctr-{uuid.uuid4().hex[:6]}"
    right = c.snapshots.Prepare(snapshots_pb2.PrepareSnapshotRequest(snapshotter=SN, key=key, parent=chain),
                                metadata=c.md).mounts
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(right[0].options), str(mnt)], check=True)
    try:
        (mnt / "added").write_text("new file")
        os.chmod(mnt / "added", 0o640)
        os.unlink(mnt / "etc" / "group")
        subprocess.run(["rm", "-rf", str(mnt / "home")], check=True)
        (mnt / "home").mkdir()          # an opaque directory now
        (mnt / "home" / "x").write_text("x")
        os.symlink("added", mnt / "link")
        os.link(mnt / "added", mnt / "hard")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    left = c.snapshots.View(snapshots_pb2.ViewSnapshotRequest(snapshotter=SN, key=key + "-v", parent=chain),
                            metadata=c.md).mounts
    try:
        d = c.diff.Diff(diff_pb2.DiffRequest(left=left, right=right, labels={"from": "test"}), metadata=c.md).diff
        assert d.media_type == "application/vnd.oci.image.layer.v1.tar+gzip"
        info = c.content.Info(content_pb2.InfoRequest(digest=d.digest), metadata=c.md).info
        assert info.labels["from"] == "test" and info.labels["containerd.io/uncompressed"].startswith("sha256:")
        import gzip
        names = tarfile.open(fileobj=io.BytesIO(gzip.decompress(read(d.digest)))).getnames()
        assert {"added", "etc/.wh.group", "home/.wh..wh..opq", "home/x", "link", "hard"} <= set(names)
        applied = apply(c, key + "-a", chain, gzip.decompress(read(d.digest)))
        assert applied.applied.digest == info.labels["containerd.io/uncompressed"]
        c.snapshots.Commit(snapshots_pb2.CommitSnapshotRequest(snapshotter=SN, name=key + "-c", key=key + "-a"),
                           metadata=c.md)
        v2 = c.snapshots.View(snapshots_pb2.ViewSnapshotRequest(snapshotter=SN, key=key + "-v2", parent=key + "-c"),
                              metadata=c.md).mounts
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(v2[0].options), str(mnt)], check=True)
        try:
            assert (mnt / "added").read_text() == "new file" and os.stat(mnt / "added").st_mode & 0o777 == 0o640
            assert not (mnt / "etc" / "group").exists() and (mnt / "etc" / "passwd").exists()
            assert os.listdir(mnt / "home") == ["x"]
            assert os.readlink(mnt / "link") == "added"
            assert os.stat(mnt / "hard").st_ino == os.stat(mnt / "added").st_ino
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
    finally:
        for k in (key + "-v2", key + "-c", key + "-v", key):
            try:
                c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter=SN, key=k), metadata=c.md)
            except grpc.RpcError:
                pass


def test_committing_a_used_container_snapshot_keeps_its_changes(busybox, tmp_path):
    """A build step's shortcut: commit the container's snapshot itself as the next layer."""
    import json as _json
    c = busybox
    from protos.containerd.services.images.v1 import images_pb2
    img = c.images.Get(images_pb2.GetImageRequest(name="docker.io/library/busybox:latest"), metadata=c.md).image
    read = lambda d: b"".join(r.data for r in c.content.Read(content_pb2.ReadContentRequest(digest=d), metadata=c.md))
    chain = _json.loads(read(_json.loads(read(img.target.digest))["config"]["digest"]))["rootfs"]["diff_ids"][0]
    key, new = f"step-{uuid.uuid4().hex[:6]}", f"sha256:{uuid.uuid4().hex * 2}"
    m = c.snapshots.Prepare(snapshots_pb2.PrepareSnapshotRequest(snapshotter=SN, key=key, parent=chain),
                            metadata=c.md).mounts
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(m[0].options), str(mnt)], check=True)
    try:
        os.unlink(mnt / "etc" / "group")
        (mnt / "step").write_text("built")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    c.snapshots.Commit(snapshots_pb2.CommitSnapshotRequest(snapshotter=SN, name=new, key=key), metadata=c.md)
    child = c.snapshots.Prepare(snapshots_pb2.PrepareSnapshotRequest(snapshotter=SN, key=key + "-next", parent=new),
                                metadata=c.md).mounts
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(child[0].options), str(mnt)], check=True)
    try:
        assert (mnt / "step").read_text() == "built"
        assert not (mnt / "etc" / "group").exists() and (mnt / "etc" / "passwd").exists()
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    for k in (key + "-next", new):
        c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter=SN, key=k), metadata=c.md)
