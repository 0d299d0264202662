"""Leases servicer."""
from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import empty_pb2

from protos.containerd.services.leases.v1 import leases_pb2, leases_pb2_grpc

from .. import filters
from .common import namespace, rpc, ts


class LeasesService(leases_pb2_grpc.LeasesServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @rpc
    async def Create(self, request: leases_pb2.CreateRequest, context: grpc.aio.ServicerContext) -> leases_pb2.CreateResponse:
        lease = self.d.leases.create(namespace(context), request.id, dict(request.labels))
        return leases_pb2.CreateResponse(lease=leases_pb2.Lease(id=lease.id, created_at=ts(lease.created_at),
                                                                labels=lease.labels))

    @rpc
    async def Delete(self, request: leases_pb2.DeleteRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        self.d.leases.delete(ns, request.id)
        if request.sync:
            await self.d.gc(ns)
        else:
            self.d.gc_soon(ns)
        return empty_pb2.Empty()

    @rpc
    async def List(self, request: leases_pb2.ListRequest, context: grpc.aio.ServicerContext) -> leases_pb2.ListResponse:
        parsed = filters.parse(request.filters)
        out = [leases_pb2.Lease(id=x.id, created_at=ts(x.created_at), labels=x.labels)
               for x in self.d.leases.list(namespace(context))
               if filters.match(parsed, filters.dict_adaptor({"id": x.id, "labels": x.labels}))]
        return leases_pb2.ListResponse(leases=out)

    @rpc
    async def AddResource(self, request: leases_pb2.AddResourceRequest,
                          context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        self.d.leases.add_resource(namespace(context), request.id, request.resource.id, request.resource.type)
        return empty_pb2.Empty()

    @rpc
    async def DeleteResource(self, request: leases_pb2.DeleteResourceRequest,
                             context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        self.d.leases.delete_resource(namespace(context), request.id, request.resource.id, request.resource.type)
        return empty_pb2.Empty()

    @rpc
    async def ListResources(self, request: leases_pb2.ListResourcesRequest,
                            context: grpc.aio.ServicerContext) -> leases_pb2.ListResourcesResponse:
        res = self.d.leases.resources(namespace(context), request.id)
        return leases_pb2.ListResourcesResponse(resources=[leases_pb2.Resource(id=i, type=t) for i, t in res])
