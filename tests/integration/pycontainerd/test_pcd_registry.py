"""The Registry service: push and pull through pycontainerd/registry with Docker's progress messages."""
from __future__ import annotations

import json
import socket
import uuid

import grpc
import pytest

from protos.containerd.services.images.v1 import images_pb2
from protos.containerd.services.snapshots.v1 import snapshots_pb2
from protos.pycontainerd.services.registry.v1 import registry_pb2, registry_pb2_grpc


def _messages(stream) -> tuple[list[dict], list]:
    msgs, images = [], []
    for m in stream:
        if m.json:
            msgs.append(json.loads(m.json))
        images.extend(m.images)
    return msgs, images


def test_push_then_pull_into_another_namespace(daemon, busybox, registry):
    stub = registry_pb2_grpc.RegistryStub(daemon.channel)
    ref = f"{registry}/pcd/reg:v1"
    src = busybox.images.Get(images_pb2.GetImageRequest(name="docker.io/library/busybox:latest"),
                             metadata=busybox.md).image
    busybox.images.Create(images_pb2.CreateImageRequest(image=images_pb2.Image(name=ref, target=src.target)),
                          metadata=busybox.md)
    msgs, _ = _messages(stub.Push(registry_pb2.PushRequest(ref=ref, insecure_registries=[registry]),
                                  metadata=busybox.md))
    assert msgs[0]["status"] == f"The push refers to repository [{registry}/pcd/reg]"
    assert any(m.get("status") == "Pushed" for m in msgs)
    assert msgs[-1]["aux"]["Digest"] == src.target.digest

    ns = f"reg{uuid.uuid4().hex[:8]}"
    md = (("containerd-namespace", ns),)
    msgs, images = _messages(stub.Pull(registry_pb2.PullRequest(ref=ref, insecure_registries=[registry]), metadata=md))
    statuses = [m.get("status") for m in msgs]
    assert statuses[0] == "Pulling from pcd/reg"
    assert "Pull complete" in statuses
    assert f"Digest: {src.target.digest}" in statuses
    assert statuses[-1] == f"Status: Downloaded newer image for {ref}"
    assert [i.name for i in images] == [ref] and images[0].target.digest == src.target.digest
    # the layers are unpacked: the chain ID is a committed snapshot
    stub_sn = busybox.snapshots
    infos = [i for r in stub_sn.List(snapshots_pb2.ListSnapshotsRequest(snapshotter="overlayfs"), metadata=md)
             for i in r.info]
    assert [i.kind for i in infos] == [snapshots_pb2.COMMITTED]
    # pulling again changes nothing
    msgs, _ = _messages(stub.Pull(registry_pb2.PullRequest(ref=ref, insecure_registries=[registry]), metadata=md))
    assert msgs[-1]["status"] == f"Status: Image is up to date for {ref}"
    assert not any(m.get("status") == "Pull complete" for m in msgs)


def test_pull_errors_are_status_codes(daemon, registry):
    stub = registry_pb2_grpc.RegistryStub(daemon.channel)
    md = (("containerd-namespace", "regerr"),)
    with pytest.raises(grpc.RpcError) as e:
        _messages(stub.Pull(registry_pb2.PullRequest(ref=f"{registry}/nope/nothing:1",
                                                     insecure_registries=[registry]), metadata=md))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(grpc.RpcError) as e:
        _messages(stub.Pull(registry_pb2.PullRequest(ref=f"{closed}/x:1", insecure_registries=[closed]),
                            metadata=md))
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError) as e:
        _messages(stub.Pull(registry_pb2.PullRequest(ref="Not A Ref"), metadata=md))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
