"""Containers servicer."""
from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2, empty_pb2

from protos.containerd.events import container_pb2 as container_events
from protos.containerd.services.containers.v1 import containers_pb2, containers_pb2_grpc

from .. import filters
from ..containers import AnyValue, Container
from .common import from_ts, namespace, rpc, ts


def _any_value(a: any_pb2.Any) -> AnyValue | None:
    return AnyValue(a.type_url, a.value) if a.type_url else None


def container_from_pb(c: containers_pb2.Container) -> Container:
    return Container(id=c.id, labels=dict(c.labels), image=c.image, runtime_name=c.runtime.name,
                     runtime_options=_any_value(c.runtime.options), spec=_any_value(c.spec),
                     snapshotter=c.snapshotter, snapshot_key=c.snapshot_key, created_at=from_ts(c.created_at),
                     updated_at=from_ts(c.updated_at),
                     extensions={k: AnyValue(v.type_url, v.value) for k, v in c.extensions.items()},
                     sandbox=c.sandbox)


def container_pb(c: Container) -> containers_pb2.Container:
    out = containers_pb2.Container(id=c.id, labels=c.labels, image=c.image, snapshotter=c.snapshotter,
                                   snapshot_key=c.snapshot_key, created_at=ts(c.created_at),
                                   updated_at=ts(c.updated_at), sandbox=c.sandbox)
    out.runtime.name = c.runtime_name
    if c.runtime_options:
        out.runtime.options.CopyFrom(any_pb2.Any(type_url=c.runtime_options.type_url, value=c.runtime_options.value))
    if c.spec:
        out.spec.CopyFrom(any_pb2.Any(type_url=c.spec.type_url, value=c.spec.value))
    for k, v in c.extensions.items():
        out.extensions[k].CopyFrom(any_pb2.Any(type_url=v.type_url, value=v.value))
    return out


def _container_adaptor(c: Container) -> filters.Adaptor:
    base = filters.dict_adaptor({"id": c.id, "image": c.image, "labels": c.labels, "snapshotter": c.snapshotter,
                                 "snapshotkey": c.snapshot_key})

    def adapt(path: list[str]) -> str | None:
        if path[:2] == ["runtime", "name"]:
            return c.runtime_name
        return base(path)

    return adapt


class ContainersService(containers_pb2_grpc.ContainersServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @rpc
    async def Get(self, request: containers_pb2.GetContainerRequest,
                  context: grpc.aio.ServicerContext) -> containers_pb2.GetContainerResponse:
        return containers_pb2.GetContainerResponse(container=container_pb(self.d.containers.get(namespace(context),
                                                                                                request.id)))

    def _list(self, request: containers_pb2.ListContainersRequest, ns: str) -> list[containers_pb2.Container]:
        parsed = filters.parse(request.filters)
        return [container_pb(c) for c in self.d.containers.list(ns) if filters.match(parsed, _container_adaptor(c))]

    @rpc
    async def List(self, request: containers_pb2.ListContainersRequest,
                   context: grpc.aio.ServicerContext) -> containers_pb2.ListContainersResponse:
        return containers_pb2.ListContainersResponse(containers=self._list(request, namespace(context)))

    @rpc
    async def ListStream(self, request: containers_pb2.ListContainersRequest, context: grpc.aio.ServicerContext):
        for c in self._list(request, namespace(context)):
            yield containers_pb2.ListContainerMessage(container=c)

    @rpc
    async def Create(self, request: containers_pb2.CreateContainerRequest,
                     context: grpc.aio.ServicerContext) -> containers_pb2.CreateContainerResponse:
        ns = namespace(context)
        c = self.d.containers.create(ns, container_from_pb(request.container))
        ev = container_events.ContainerCreate(id=c.id, image=c.image)
        ev.runtime.name = c.runtime_name
        self.d.events.publish(ns, "/containers/create", ev)
        return containers_pb2.CreateContainerResponse(container=container_pb(c))

    @rpc
    async def Update(self, request: containers_pb2.UpdateContainerRequest,
                     context: grpc.aio.ServicerContext) -> containers_pb2.UpdateContainerResponse:
        ns = namespace(context)
        c = self.d.containers.update(ns, container_from_pb(request.container), list(request.update_mask.paths))
        self.d.events.publish(ns, "/containers/update", container_events.ContainerUpdate(
            id=c.id, image=c.image, labels=c.labels, snapshot_key=c.snapshot_key))
        return containers_pb2.UpdateContainerResponse(container=container_pb(c))

    @rpc
    async def Delete(self, request: containers_pb2.DeleteContainerRequest,
                     context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        self.d.containers.delete(ns, request.id)
        self.d.events.publish(ns, "/containers/delete", container_events.ContainerDelete(id=request.id))
        return empty_pb2.Empty()
