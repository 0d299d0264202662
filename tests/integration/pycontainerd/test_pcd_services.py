"""pycontainerd's metadata services over gRPC: namespaces, content, images, snapshots, containers, leases, diff."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile

import grpc
import pytest
from google.protobuf import any_pb2, empty_pb2, field_mask_pb2

from protos.containerd.services.containers.v1 import containers_pb2
from protos.containerd.services.content.v1 import content_pb2
from protos.containerd.services.diff.v1 import diff_pb2
from protos.containerd.services.images.v1 import images_pb2
from protos.containerd.services.leases.v1 import leases_pb2
from protos.containerd.services.namespaces.v1 import namespace_pb2
from protos.containerd.services.snapshots.v1 import snapshots_pb2
from protos.containerd.types import descriptor_pb2

from pcd_helpers import mounts_under


def code_of(excinfo) -> grpc.StatusCode:
    return excinfo.value.code()


def test_version_and_namespace_required(daemon):
    c = daemon.stubs()
    assert c.version.Version(empty_pb2.Empty()).version
    with pytest.raises(grpc.RpcError) as e:
        c.images.List(images_pb2.ListImagesRequest())  # no containerd-namespace metadata
    assert code_of(e) == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.details() == "namespace is required: failed precondition"


def test_namespaces(client, ns):
    c = client
    c.namespaces.Create(namespace_pb2.CreateNamespaceRequest(namespace=namespace_pb2.Namespace(name=ns,
                                                                                               labels={"a": "1"})))
    with pytest.raises(grpc.RpcError) as e:
        c.namespaces.Create(namespace_pb2.CreateNamespaceRequest(namespace=namespace_pb2.Namespace(name=ns)))
    assert code_of(e) == grpc.StatusCode.ALREADY_EXISTS
    got = c.namespaces.Get(namespace_pb2.GetNamespaceRequest(name=ns)).namespace
    assert dict(got.labels) == {"a": "1"}
    c.namespaces.Update(namespace_pb2.UpdateNamespaceRequest(
        namespace=namespace_pb2.Namespace(name=ns, labels={"b": "2"}),
        update_mask=field_mask_pb2.FieldMask(paths=["labels.b"])))
    got = c.namespaces.Get(namespace_pb2.GetNamespaceRequest(name=ns)).namespace
    assert dict(got.labels) == {"a": "1", "b": "2"}
    assert ns in [n.name for n in c.namespaces.List(namespace_pb2.ListNamespacesRequest()).namespaces]
    c.namespaces.Delete(namespace_pb2.DeleteNamespaceRequest(name=ns))
    assert ns not in [n.name for n in c.namespaces.List(namespace_pb2.ListNamespacesRequest()).namespaces]
    # as containerd: Get of a missing namespace answers empty labels; Delete is NOT_FOUND
    got = c.namespaces.Get(namespace_pb2.GetNamespaceRequest(name=ns)).namespace
    assert got.name == ns and not got.labels
    with pytest.raises(grpc.RpcError) as e:
        c.namespaces.Delete(namespace_pb2.DeleteNamespaceRequest(name=ns))
    assert code_of(e) == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == f'namespace "{ns}": not found'


def test_namespace_with_content_cannot_be_deleted(client, ns):
    _write_blob(client, b"keep me")
    with pytest.raises(grpc.RpcError) as e:
        client.namespaces.Delete(namespace_pb2.DeleteNamespaceRequest(name=ns))
    assert code_of(e) == grpc.StatusCode.FAILED_PRECONDITION


def _write_blob(c, data: bytes, ref: str = "ref1", expected: str | None = None) -> str:
    dgst = "sha256:" + hashlib.sha256(data).hexdigest()
    reqs = [content_pb2.WriteContentRequest(action=content_pb2.STAT, ref=ref),
            content_pb2.WriteContentRequest(action=content_pb2.WRITE, ref=ref, offset=0, data=data[:3]),
            content_pb2.WriteContentRequest(action=content_pb2.COMMIT, ref=ref, offset=3, data=data[3:],
                                            total=len(data), expected=expected or dgst,
                                            labels={"test": "yes"})]
    resps = list(c.content.Write(iter(reqs), metadata=c.md))
    assert [r.action for r in resps] == [content_pb2.STAT, content_pb2.WRITE, content_pb2.COMMIT]
    assert resps[1].offset == 3
    assert resps[-1].digest == dgst
    return dgst


def test_content_write_read_update_delete(client):
    c = client
    data = b"hello content store" * 1000
    dgst = _write_blob(c, data)
    info = c.content.Info(content_pb2.InfoRequest(digest=dgst), metadata=c.md).info
    assert info.size == len(data) and info.labels["test"] == "yes"
    chunks = list(c.content.Read(content_pb2.ReadContentRequest(digest=dgst), metadata=c.md))
    assert b"".join(ch.data for ch in chunks) == data
    part = list(c.content.Read(content_pb2.ReadContentRequest(digest=dgst, offset=5, size=7), metadata=c.md))
    assert b"".join(ch.data for ch in part) == data[5:12]
    # writing content that exists fails like containerd
    with pytest.raises(grpc.RpcError) as e:
        _write_blob(c, data, ref="ref2")
    assert code_of(e) == grpc.StatusCode.ALREADY_EXISTS
    c.content.Update(content_pb2.UpdateRequest(info=content_pb2.Info(digest=dgst, labels={"x": "y"}),
                                               update_mask=field_mask_pb2.FieldMask(paths=["labels.x"])),
                     metadata=c.md)
    info = c.content.Info(content_pb2.InfoRequest(digest=dgst), metadata=c.md).info
    assert dict(info.labels) == {"test": "yes", "x": "y"}
    listed = [i.digest for r in c.content.List(content_pb2.ListContentRequest(), metadata=c.md) for i in r.info]
    assert listed == [dgst]
    c.content.Delete(content_pb2.DeleteContentRequest(digest=dgst), metadata=c.md)
    with pytest.raises(grpc.RpcError) as e:
        c.content.Info(content_pb2.InfoRequest(digest=dgst), metadata=c.md)
    assert code_of(e) == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == f"content digest {dgst}: not found"


def test_content_bad_digest_and_resumable_ingest(client):
    c = client
    with pytest.raises(grpc.RpcError) as e:
        _write_blob(c, b"some data", ref="bad", expected="sha256:" + "0" * 64)
    assert code_of(e) == grpc.StatusCode.FAILED_PRECONDITION
    assert "unexpected commit digest" in e.value.details()
    # An interrupted ingest stays visible in ListStatuses and can be resumed, then aborted.
    list(c.content.Write(iter([content_pb2.WriteContentRequest(action=content_pb2.WRITE, ref="partial",
                                                               data=b"abc", total=6)]), metadata=c.md))
    st = c.content.Status(content_pb2.StatusRequest(ref="partial"), metadata=c.md).status
    assert (st.offset, st.total) == (3, 6)
    refs = [s.ref for s in c.content.ListStatuses(content_pb2.ListStatusesRequest(), metadata=c.md).statuses]
    assert "partial" in refs and "bad" in refs
    c.content.Abort(content_pb2.AbortRequest(ref="partial"), metadata=c.md)
    c.content.Abort(content_pb2.AbortRequest(ref="bad"), metadata=c.md)
    with pytest.raises(grpc.RpcError) as e:
        c.content.Status(content_pb2.StatusRequest(ref="partial"), metadata=c.md)
    assert code_of(e) == grpc.StatusCode.NOT_FOUND


def test_images_crud(client):
    c = client
    target = descriptor_pb2.Descriptor(media_type="application/vnd.oci.image.manifest.v1+json",
                                       digest="sha256:" + "a" * 64, size=10)
    img = images_pb2.Image(name="docker.io/library/x:1", target=target, labels={"l": "1"})
    c.images.Create(images_pb2.CreateImageRequest(image=img), metadata=c.md)
    with pytest.raises(grpc.RpcError) as e:
        c.images.Create(images_pb2.CreateImageRequest(image=img), metadata=c.md)
    assert code_of(e) == grpc.StatusCode.ALREADY_EXISTS
    img.target.digest = "sha256:" + "b" * 64
    c.images.Update(images_pb2.UpdateImageRequest(image=img, update_mask=field_mask_pb2.FieldMask(paths=["target"])),
                    metadata=c.md)
    got = c.images.Get(images_pb2.GetImageRequest(name=img.name), metadata=c.md).image
    assert got.target.digest == "sha256:" + "b" * 64 and dict(got.labels) == {"l": "1"}
    listed = c.images.List(images_pb2.ListImagesRequest(filters=['name~="x:"']), metadata=c.md).images
    assert [i.name for i in listed] == [img.name]
    assert not c.images.List(images_pb2.ListImagesRequest(filters=["name==nope"]), metadata=c.md).images
    c.images.Delete(images_pb2.DeleteImageRequest(name=img.name), metadata=c.md)
    with pytest.raises(grpc.RpcError) as e:
        c.images.Get(images_pb2.GetImageRequest(name=img.name), metadata=c.md)
    assert code_of(e) == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == 'image "docker.io/library/x:1": not found'


def test_import_rootfs_creates_image_and_snapshot(busybox):
    c = busybox
    img = c.images.Get(images_pb2.GetImageRequest(name="docker.io/library/busybox:latest"), metadata=c.md).image
    manifest = json.loads(b"".join(r.data for r in c.content.Read(
        content_pb2.ReadContentRequest(digest=img.target.digest), metadata=c.md)))
    config = json.loads(b"".join(r.data for r in c.content.Read(
        content_pb2.ReadContentRequest(digest=manifest["config"]["digest"]), metadata=c.md)))
    assert config["os"] == "linux" and config["architecture"] == "amd64"
    diff_id = config["rootfs"]["diff_ids"][0]
    info = c.snapshots.Stat(snapshots_pb2.StatSnapshotRequest(snapshotter="overlayfs", key=diff_id), metadata=c.md).info
    assert info.kind == snapshots_pb2.COMMITTED
    layer = manifest["layers"][0]
    assert layer["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    linfo = c.content.Info(content_pb2.InfoRequest(digest=layer["digest"]), metadata=c.md).info
    assert linfo.labels["containerd.io/uncompressed"] == diff_id


def _read(c, digest: str) -> bytes:
    return b"".join(r.data for r in c.content.Read(content_pb2.ReadContentRequest(digest=digest), metadata=c.md))


def _image_parts(c):
    img = c.images.Get(images_pb2.GetImageRequest(name="docker.io/library/busybox:latest"), metadata=c.md).image
    manifest_bytes = _read(c, img.target.digest)
    manifest = json.loads(manifest_bytes)
    config_bytes = _read(c, manifest["config"]["digest"])
    layer_bytes = _read(c, manifest["layers"][0]["digest"])
    return img, manifest_bytes, manifest, config_bytes, layer_bytes


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))


def test_import_oci_layout_and_docker_archive(busybox, daemon, tmp_path):
    img, manifest_bytes, manifest, config_bytes, layer_bytes = _image_parts(busybox)
    # OCI layout, named through containerd's annotation
    oci = tmp_path / "oci.tar"
    with tarfile.open(oci, "w") as tf:
        _add(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": img.target.media_type, "digest": img.target.digest, "size": img.target.size,
            "annotations": {"io.containerd.image.name": "example.com/copy/bb:oci",
                            "org.opencontainers.image.ref.name": "oci"}}]}
        _add(tf, "index.json", json.dumps(index).encode())
        for blob in (manifest_bytes, config_bytes, layer_bytes):
            _add(tf, "blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob)
    c = daemon.stubs("importoci")
    resp = c.import_tar(oci, "archive")
    assert [i.name for i in resp[-1].images] == ["example.com/copy/bb:oci"]
    assert "Loaded image: example.com/copy/bb:oci" in [r.status for r in resp]
    # docker-archive (docker save ≤ 24): uncompressed layer.tar in a directory
    import gzip
    raw_layer = gzip.decompress(layer_bytes)
    cfg_hex = hashlib.sha256(config_bytes).hexdigest()
    dock = tmp_path / "docker.tar"
    with tarfile.open(dock, "w") as tf:
        _add(tf, f"{cfg_hex}.json", config_bytes)
        _add(tf, "abc123/layer.tar", raw_layer)
        _add(tf, "abc123/VERSION", b"1.0")
        _add(tf, "manifest.json", json.dumps([{"Config": f"{cfg_hex}.json", "RepoTags": ["mybox:v1"],
                                                "Layers": ["abc123/layer.tar"]}]).encode())
    c2 = daemon.stubs("importdocker")
    resp = c2.import_tar(dock, "archive")
    assert [i.name for i in resp[-1].images] == ["docker.io/library/mybox:v1"]
    assert "Loaded image: mybox:v1" in [r.status for r in resp]
    diff_id = json.loads(config_bytes)["rootfs"]["diff_ids"][0]
    info = c2.snapshots.Stat(snapshots_pb2.StatSnapshotRequest(snapshotter="overlayfs", key=diff_id),
                             metadata=c2.md).info
    assert info.kind == snapshots_pb2.COMMITTED
    # garbage is refused with INVALID_ARGUMENT
    junk = tmp_path / "junk.tar"
    with tarfile.open(junk, "w") as tf:
        _add(tf, "hello.txt", b"hi")
    with pytest.raises(grpc.RpcError) as e:
        c2.import_tar(junk, "archive")
    assert code_of(e) == grpc.StatusCode.INVALID_ARGUMENT


def test_snapshots_prepare_mount_commit_remove(busybox, tmp_path, daemon):
    c = busybox
    img, _, manifest, config_bytes, _ = _image_parts(c)
    chain = json.loads(config_bytes)["rootfs"]["diff_ids"][0]
    sn = "overlayfs"
    mounts = c.snapshots.Prepare(snapshots_pb2.PrepareSnapshotRequest(snapshotter=sn, key="work1", parent=chain),
                                 metadata=c.md).mounts
    assert len(mounts) == 1 and mounts[0].type == "overlay"
    opts = {o.split("=", 1)[0]: o.split("=", 1)[1] for o in mounts[0].options if "=" in o}
    assert {"lowerdir", "upperdir", "workdir"} <= set(opts)
    target = tmp_path / "mnt"
    target.mkdir()
    import subprocess
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(mounts[0].options), str(target)], check=True)
    try:
        assert (target / "bin" / "busybox").exists()
        (target / "newfile").write_text("data")
        os.unlink(target / "etc" / "group")  # a whiteout in the upper dir
    finally:
        subprocess.run(["umount", str(target)], check=True)
    assert (target / "bin").exists() is False
    c.snapshots.Commit(snapshots_pb2.CommitSnapshotRequest(snapshotter=sn, name="layer2", key="work1"), metadata=c.md)
    with pytest.raises(grpc.RpcError) as e:
        c.snapshots.Stat(snapshots_pb2.StatSnapshotRequest(snapshotter=sn, key="work1"), metadata=c.md)
    assert code_of(e) == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == "snapshot work1 does not exist: not found"
    usage = c.snapshots.Usage(snapshots_pb2.UsageRequest(snapshotter=sn, key="layer2"), metadata=c.md)
    assert usage.inodes >= 2
    view = c.snapshots.View(snapshots_pb2.ViewSnapshotRequest(snapshotter=sn, key="view1", parent="layer2"),
                            metadata=c.md).mounts
    assert view[0].type == "overlay" and not any(o.startswith("upperdir") for o in view[0].options)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(view[0].options), str(target)], check=True)
    try:
        assert (target / "newfile").read_text() == "data"
        assert not (target / "etc" / "group").exists()
        assert (target / "etc" / "passwd").exists()
    finally:
        subprocess.run(["umount", str(target)], check=True)
    with pytest.raises(grpc.RpcError) as e:
        c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter=sn, key="layer2"), metadata=c.md)
    assert code_of(e) == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as e:
        c.snapshots.Prepare(snapshots_pb2.PrepareSnapshotRequest(snapshotter=sn, key="view1"), metadata=c.md)
    assert code_of(e) == grpc.StatusCode.ALREADY_EXISTS
    names = {i.name for r in c.snapshots.List(snapshots_pb2.ListSnapshotsRequest(snapshotter=sn), metadata=c.md)
             for i in r.info}
    assert {"layer2", "view1", chain} <= names
    c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter=sn, key="view1"), metadata=c.md)
    c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter=sn, key="layer2"), metadata=c.md)
    parentless = c.snapshots.Prepare(snapshots_pb2.PrepareSnapshotRequest(snapshotter=sn, key="empty"),
                                     metadata=c.md).mounts
    assert parentless[0].type == "bind" and "rbind" in parentless[0].options
    c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter=sn, key="empty"), metadata=c.md)
    assert not mounts_under(str(daemon.base))


def test_diff_apply_returns_uncompressed_digest(busybox):
    c = busybox
    _, _, manifest, config_bytes, _ = _image_parts(c)
    diff_id = json.loads(config_bytes)["rootfs"]["diff_ids"][0]
    mounts = c.snapshots.Prepare(snapshots_pb2.PrepareSnapshotRequest(snapshotter="overlayfs", key="apply1"),
                                 metadata=c.md).mounts
    try:
        layer = manifest["layers"][0]
        desc = descriptor_pb2.Descriptor(media_type=layer["mediaType"], digest=layer["digest"], size=layer["size"])
        applied = c.diff.Apply(diff_pb2.ApplyRequest(diff=desc, mounts=mounts), metadata=c.md).applied
        assert applied.digest == diff_id
        assert applied.media_type == "application/vnd.docker.image.rootfs.diff.tar"
        assert os.path.exists(os.path.join(mounts[0].source, "bin", "busybox"))
    finally:
        c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter="overlayfs", key="apply1"), metadata=c.md)


def _container(cid: str, spec: dict | None = None) -> containers_pb2.Container:
    ct = containers_pb2.Container(id=cid, image="docker.io/library/busybox:latest", labels={"k": "v"})
    ct.runtime.name = "io.containerd.runc.v2"
    ct.spec.CopyFrom(any_pb2.Any(type_url="types.containerd.io/opencontainers/runtime-spec/1/Spec",
                                 value=json.dumps(spec or {"ociVersion": "1.0.2"}).encode()))
    return ct


def test_containers_crud(client):
    c = client
    created = c.containers.Create(containers_pb2.CreateContainerRequest(container=_container("c1")),
                                  metadata=c.md).container
    assert created.created_at.seconds > 0
    with pytest.raises(grpc.RpcError) as e:
        c.containers.Create(containers_pb2.CreateContainerRequest(container=_container("c1")), metadata=c.md)
    assert code_of(e) == grpc.StatusCode.ALREADY_EXISTS
    bad = _container("bad")
    bad.runtime.name = ""
    with pytest.raises(grpc.RpcError) as e:
        c.containers.Create(containers_pb2.CreateContainerRequest(container=bad), metadata=c.md)
    assert code_of(e) == grpc.StatusCode.INVALID_ARGUMENT
    upd = _container("c1")
    upd.labels["k"] = "v2"
    c.containers.Update(containers_pb2.UpdateContainerRequest(
        container=upd, update_mask=field_mask_pb2.FieldMask(paths=["labels"])), metadata=c.md)
    got = c.containers.Get(containers_pb2.GetContainerRequest(id="c1"), metadata=c.md).container
    assert got.labels["k"] == "v2" and json.loads(got.spec.value) == {"ociVersion": "1.0.2"}
    assert [x.id for x in c.containers.List(containers_pb2.ListContainersRequest(filters=["labels.k==v2"]),
                                            metadata=c.md).containers] == ["c1"]
    assert [m.container.id for m in c.containers.ListStream(containers_pb2.ListContainersRequest(),
                                                            metadata=c.md)] == ["c1"]
    c.containers.Delete(containers_pb2.DeleteContainerRequest(id="c1"), metadata=c.md)
    with pytest.raises(grpc.RpcError) as e:
        c.containers.Get(containers_pb2.GetContainerRequest(id="c1"), metadata=c.md)
    assert code_of(e) == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == f'container "c1" in namespace "{c.ns}": not found'


def test_leases(client):
    c = client
    lease = c.leases.Create(leases_pb2.CreateRequest(labels={"containerd.io/gc.expire": "x"}), metadata=c.md).lease
    assert lease.id
    c.leases.AddResource(leases_pb2.AddResourceRequest(id=lease.id, resource=leases_pb2.Resource(
        id="sha256:" + "c" * 64, type="content")), metadata=c.md)
    res = c.leases.ListResources(leases_pb2.ListResourcesRequest(id=lease.id), metadata=c.md).resources
    assert [(r.id, r.type) for r in res] == [("sha256:" + "c" * 64, "content")]
    assert [x.id for x in c.leases.List(leases_pb2.ListRequest(), metadata=c.md).leases] == [lease.id]
    c.leases.Delete(leases_pb2.DeleteRequest(id=lease.id), metadata=c.md)
    with pytest.raises(grpc.RpcError) as e:
        c.leases.Delete(leases_pb2.DeleteRequest(id=lease.id), metadata=c.md)
    assert code_of(e) == grpc.StatusCode.NOT_FOUND


def test_lease_header_holds_written_content_and_snapshots(client):
    c = client
    lease = c.leases.Create(leases_pb2.CreateRequest(id="pull1"), metadata=c.md).lease
    md = c.md + (("containerd-lease", lease.id),)
    data = b"held by a lease"
    dgst = "sha256:" + hashlib.sha256(data).hexdigest()
    list(c.content.Write(iter([content_pb2.WriteContentRequest(action=content_pb2.COMMIT, ref="r", data=data,
                                                               total=len(data), expected=dgst)]), metadata=md))
    c.snapshots.Prepare(snapshots_pb2.PrepareSnapshotRequest(snapshotter="overlayfs", key="lk"), metadata=md)
    res = {(r.id, r.type) for r in c.leases.ListResources(leases_pb2.ListResourcesRequest(id=lease.id),
                                                          metadata=c.md).resources}
    assert res == {(dgst, "content"), ("lk", "snapshots/overlayfs")}
    c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter="overlayfs", key="lk"), metadata=c.md)
    c.leases.Delete(leases_pb2.DeleteRequest(id=lease.id, sync=True), metadata=c.md)
    # young content survives the collection that follows a lease delete (grace period)
    assert c.content.Info(content_pb2.InfoRequest(digest=dgst), metadata=c.md).info.digest == dgst


@pytest.mark.skipif(not os.path.exists("/usr/bin/skopeo"), reason="skopeo is not installed")
def test_import_archives_written_by_skopeo(busybox, daemon, tmp_path):
    """Real writers: skopeo's docker-archive (layer.tar symlinked to a top-level blob) and OCI layout."""
    import subprocess
    img, manifest_bytes, manifest, config_bytes, layer_bytes = _image_parts(busybox)
    oci = tmp_path / "src.tar"
    with tarfile.open(oci, "w") as tf:
        _add(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(tf, "index.json", json.dumps({"schemaVersion": 2, "manifests": [{
            "mediaType": img.target.media_type, "digest": img.target.digest, "size": img.target.size,
            "annotations": {"org.opencontainers.image.ref.name": "sk"}}]}).encode())
        for blob in (manifest_bytes, config_bytes, layer_bytes):
            _add(tf, "blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob)
    dock = tmp_path / "dock.tar"
    subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{oci}", f"docker-archive:{dock}:example/bb:sk"],
                   check=True, capture_output=True)
    c = daemon.stubs("skopeo")
    resp = c.import_tar(dock, "archive")
    assert [i.name for i in resp[-1].images] == ["docker.io/example/bb:sk"]
    assert "Loaded image: example/bb:sk" in [r.status for r in resp]
    # an OCI layout whose only name is a bare tag is imported untagged (dangling), with its ID reported
    ocidir = tmp_path / "ocidir"
    subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{oci}", f"oci:{ocidir}:sk"], check=True,
                   capture_output=True)
    layout = tmp_path / "layout.tar"
    with tarfile.open(layout, "w") as tf:
        for p in sorted(ocidir.rglob("*")):
            tf.add(p, arcname=str(p.relative_to(ocidir)), recursive=False)
    resp = c.import_tar(layout, "archive")
    dangling = resp[-1].images[0]
    assert dangling.name == "moby-dangling@" + dangling.target.digest
    cfg_digest = json.loads(_read(c, dangling.target.digest))["config"]["digest"]
    assert f"Loaded image ID: {cfg_digest}" in [r.status for r in resp]


def test_import_rootfs_with_a_config_and_without_a_name(daemon, rootfs_tar):
    c = daemon.stubs("rootfscfg")
    cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"], "Env": ["A=1"]}}
    resp = c.import_tar(rootfs_tar, "rootfs", "example.com/me/app:v2", json.dumps(cfg).encode())
    img = resp[-1].images[0]
    assert img.name == "example.com/me/app:v2"
    config = json.loads(_read(c, json.loads(_read(c, img.target.digest))["config"]["digest"]))
    assert config["config"] == {"Cmd": ["sh"], "Env": ["A=1"]}
    assert len(config["rootfs"]["diff_ids"]) == 1 and config["history"][-1]["comment"] == "Imported from tarball"
    assert [r.status for r in resp if r.status.startswith("Imported image: ")]
    # unnamed: a dangling image that still lists and unpacks
    resp = c.import_tar(rootfs_tar, "rootfs")
    assert resp[-1].images[0].name.startswith("moby-dangling@sha256:")
    with pytest.raises(grpc.RpcError) as e:
        c.import_tar(rootfs_tar, "rootfs", "x", b"not json")
    assert code_of(e) == grpc.StatusCode.INVALID_ARGUMENT
