"""Version, Introspection, Namespaces and Events servicers."""
from __future__ import annotations

import os
import time
from typing import Any

import grpc
from google.protobuf import empty_pb2

from protos.containerd.events import namespace_pb2 as ns_events
from protos.containerd.services.events.v1 import events_pb2, events_pb2_grpc
from protos.containerd.services.introspection.v1 import introspection_pb2, introspection_pb2_grpc
from protos.containerd.services.namespaces.v1 import namespace_pb2, namespace_pb2_grpc
from protos.containerd.services.version.v1 import version_pb2, version_pb2_grpc
from protos.containerd.types import platform_pb2

from .. import filters, identifiers
from ..errdefs import InvalidArgument
from ..metadata import NAMESPACE
from .common import namespace, rpc, ts

VERSION = "1.7.0-pycontainerd"
REVISION = "pycontainerd"

# The plugins this daemon really provides, in containerd's type/id naming.
PLUGINS = [
    ("io.containerd.content.v1", "content", []),
    ("io.containerd.snapshotter.v1", "overlayfs", []),
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
]


class VersionService(version_pb2_grpc.VersionServicer):
    @rpc
    async def Version(self, request: Any, context: grpc.aio.ServicerContext) -> version_pb2.VersionResponse:
        return version_pb2.VersionResponse(version=VERSION, revision=REVISION)


class IntrospectionService(introspection_pb2_grpc.IntrospectionServicer):
    def __init__(self, uuid: str) -> None:
        self.uuid = uuid

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
            if not filters.match(parsed, filters.dict_adaptor({"type": type_, "id": id_})):
                continue
            p = introspection_pb2.Plugin(type=type_, id=id_, requires=requires)
            if type_ in ("io.containerd.snapshotter.v1", "io.containerd.runtime.v2"):
                p.platforms.append(platform_pb2.Platform(os="linux", architecture="amd64"))
            out.append(p)
        return introspection_pb2.PluginsResponse(plugins=out)


class NamespacesService(namespace_pb2_grpc.NamespacesServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    def _get(self, name: str) -> namespace_pb2.Namespace:
        # containerd answers Get for a namespace that does not exist (yet) with empty labels:
        # clients such as dockerd read the labels of their namespace before anything created it.
        rec = self.d.meta.get("", NAMESPACE, name) or {}
        return namespace_pb2.Namespace(name=name, labels=rec.get("labels", {}))

    @rpc
    async def Get(self, request: namespace_pb2.GetNamespaceRequest,
                  context: grpc.aio.ServicerContext) -> namespace_pb2.GetNamespaceResponse:
        return namespace_pb2.GetNamespaceResponse(namespace=self._get(request.name))

    @rpc
    async def List(self, request: namespace_pb2.ListNamespacesRequest,
                   context: grpc.aio.ServicerContext) -> namespace_pb2.ListNamespacesResponse:
        parsed = filters.parse([request.filter] if request.filter else [])
        out = []
        for rec in self.d.meta.list("", NAMESPACE):
            if filters.match(parsed, filters.dict_adaptor({"name": rec["name"], "labels": rec.get("labels", {})})):
                out.append(namespace_pb2.Namespace(name=rec["name"], labels=rec.get("labels", {})))
        return namespace_pb2.ListNamespacesResponse(namespaces=out)

    @rpc
    async def Create(self, request: namespace_pb2.CreateNamespaceRequest,
                     context: grpc.aio.ServicerContext) -> namespace_pb2.CreateNamespaceResponse:
        name = request.namespace.name
        identifiers.validate(name)
        rec = self.d.meta.create_namespace(name, dict(request.namespace.labels))
        self.d.events.publish(name, "/namespaces/create", ns_events.NamespaceCreate(name=name, labels=rec["labels"]))
        return namespace_pb2.CreateNamespaceResponse(namespace=self._get(name))

    @rpc
    async def Update(self, request: namespace_pb2.UpdateNamespaceRequest,
                     context: grpc.aio.ServicerContext) -> namespace_pb2.UpdateNamespaceResponse:
        name = request.namespace.name
        identifiers.validate(name)
        with self.d.meta.tx():
            cur = self._get(name)  # Update creates the namespace, as containerd's SetLabel does
            labels = dict(cur.labels)
            paths = list(request.update_mask.paths) or ["labels"]
            for p in paths:
                if p == "labels":
                    labels = dict(request.namespace.labels)
                elif p.startswith("labels."):
                    k = p[len("labels."):]
                    v = request.namespace.labels.get(k, "")
                    if v:
                        labels[k] = v
                    else:
                        labels.pop(k, None)
                else:
                    raise InvalidArgument(f'cannot update "{p}" field', raw=True)
            self.d.meta.put("", NAMESPACE, name, {"name": name, "labels": labels})
        self.d.events.publish(name, "/namespaces/update", ns_events.NamespaceUpdate(name=name, labels=labels))
        return namespace_pb2.UpdateNamespaceResponse(namespace=self._get(name))

    @rpc
    async def Delete(self, request: namespace_pb2.DeleteNamespaceRequest,
                     context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        self.d.meta.delete_namespace(request.name)
        self.d.events.publish(request.name, "/namespaces/delete", ns_events.NamespaceDelete(name=request.name))
        return empty_pb2.Empty()


class EventsService(events_pb2_grpc.EventsServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @rpc
    async def Publish(self, request: events_pb2.PublishRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        if not request.topic.startswith("/"):
            raise InvalidArgument(f"envelope topic {request.topic!r} must start with '/'")
        self.d.events.forward(events_pb2.Envelope(timestamp=ts(time.time()), namespace=ns, topic=request.topic,
                                                  event=request.event))
        return empty_pb2.Empty()

    @rpc
    async def Forward(self, request: events_pb2.ForwardRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        self.d.events.forward(request.envelope)
        return empty_pb2.Empty()

    @rpc
    async def Subscribe(self, request: events_pb2.SubscribeRequest, context: grpc.aio.ServicerContext):
        sub = self.d.events.subscribe(list(request.filters))
        try:
            while True:
                yield await sub.queue.get()
        finally:
            self.d.events.unsubscribe(sub)
