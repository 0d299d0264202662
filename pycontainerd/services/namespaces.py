"""Namespaces servicer."""
from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import empty_pb2

from protos.containerd.events import namespace_pb2 as ns_events
from protos.containerd.services.namespaces.v1 import namespace_pb2, namespace_pb2_grpc

from .. import filters, identifiers
from ..errdefs import InvalidArgument
from ..metadata import NAMESPACE
from .common import rpc


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
