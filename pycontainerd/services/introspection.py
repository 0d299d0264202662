"""Introspection servicer: the server's identity and its plugins."""
from __future__ import annotations

import os
from typing import Any

import grpc

from protos.containerd.services.introspection.v1 import introspection_pb2, introspection_pb2_grpc
from protos.containerd.types import platform_pb2

from .. import filters
from .common import rpc


SNAPSHOTTER = "io.containerd.snapshotter.v1"

# The plugins this daemon really provides, in containerd's type/id naming (ctr plugins ls).
PLUGINS = [
    ("io.containerd.content.v1", "content", []),
    (SNAPSHOTTER, "native", []),
    (SNAPSHOTTER, "overlayfs", []),
    ("io.containerd.metadata.v1", "bolt", ["io.containerd.content.v1", "io.containerd.snapshotter.v1"]),
    ("io.containerd.differ.v1", "walking", ["io.containerd.metadata.v1"]),
    ("io.containerd.event.v1", "exchange", []),
    ("io.containerd.lease.v1", "manager", ["io.containerd.metadata.v1"]),
    ("io.containerd.runtime.v2", "task", ["io.containerd.event.v1"]),
    ("io.containerd.service.v1", "containers-service", ["io.containerd.metadata.v1"]),
    ("io.containerd.service.v1", "content-service", ["io.containerd.metadata.v1"]),
    ("io.containerd.service.v1", "diff-service", ["io.containerd.differ.v1"]),
    ("io.containerd.service.v1", "images-service", ["io.containerd.metadata.v1"]),
    ("io.containerd.service.v1", "leases-service", ["io.containerd.lease.v1"]),
    ("io.containerd.service.v1", "namespaces-service", ["io.containerd.metadata.v1"]),
    ("io.containerd.service.v1", "snapshots-service", ["io.containerd.snapshotter.v1"]),
    ("io.containerd.service.v1", "tasks-service", ["io.containerd.runtime.v2"]),
    ("io.containerd.grpc.v1", "containers", ["io.containerd.service.v1"]),
    ("io.containerd.grpc.v1", "content", ["io.containerd.service.v1"]),
    ("io.containerd.grpc.v1", "diff", ["io.containerd.service.v1"]),
    ("io.containerd.grpc.v1", "events", ["io.containerd.event.v1"]),
    ("io.containerd.grpc.v1", "images", ["io.containerd.service.v1"]),
    ("io.containerd.grpc.v1", "introspection", []),
    ("io.containerd.grpc.v1", "leases", ["io.containerd.service.v1"]),
    ("io.containerd.grpc.v1", "namespaces", ["io.containerd.service.v1"]),
    ("io.containerd.grpc.v1", "snapshots", ["io.containerd.service.v1"]),
    ("io.containerd.grpc.v1", "tasks", ["io.containerd.service.v1"]),
    ("io.containerd.grpc.v1", "version", []),
    ("io.containerd.grpc.v1", "importer", ["io.containerd.service.v1"]),
    ("io.containerd.grpc.v1", "registry", ["io.containerd.service.v1"]),
]


class IntrospectionService(introspection_pb2_grpc.IntrospectionServicer):
    def __init__(self, uuid: str, snapshotters: dict[str, str] | None = None) -> None:
        """`snapshotters`: plugin id → '' when loaded, else why not (listed with an init error, as
        containerd lists a snapshotter plugin that was skipped)."""
        self.uuid = uuid
        self.snapshotters = {"overlayfs": ""} if snapshotters is None else snapshotters

    @rpc
    async def Server(self, request: Any, context: grpc.aio.ServicerContext) -> introspection_pb2.ServerResponse:
        pidns = os.stat("/proc/self/ns/pid").st_ino
        return introspection_pb2.ServerResponse(uuid=self.uuid, pid=os.getpid(), pidns=pidns)

    @rpc
    async def Plugins(self, request: introspection_pb2.PluginsRequest,
                      context: grpc.aio.ServicerContext) -> introspection_pb2.PluginsResponse:
        parsed = filters.parse(request.filters)
        out = []
        for type_, id_, requires in PLUGINS:
            if type_ == SNAPSHOTTER and id_ not in self.snapshotters:
                continue
            if not filters.match(parsed, filters.dict_adaptor({"type": type_, "id": id_})):
                continue
            p = introspection_pb2.Plugin(type=type_, id=id_, requires=requires)
            if type_ == SNAPSHOTTER and self.snapshotters[id_]:
                p.init_err.code = 9  # FAILED_PRECONDITION, containerd's "skip plugin"
                p.init_err.message = f"skip plugin: {self.snapshotters[id_]}"
            if type_ in ("io.containerd.snapshotter.v1", "io.containerd.runtime.v2"):
                p.platforms.append(platform_pb2.Platform(os="linux", architecture="amd64"))
            out.append(p)
        return introspection_pb2.PluginsResponse(plugins=out)
