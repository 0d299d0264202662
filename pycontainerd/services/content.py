"""Content servicer: Info/Update/List/Delete/Read/Status/ListStatuses/Write/Abort."""
from __future__ import annotations

import asyncio
from typing import Any

import grpc
from google.protobuf import empty_pb2

from protos.containerd.events import content_pb2 as content_events
from protos.containerd.services.content.v1 import content_pb2, content_pb2_grpc

from .. import filters
from ..content import Info, Status, Writer
from ..errdefs import InvalidArgument
from .common import hold, namespace, rpc, ts


def info_pb(i: Info) -> content_pb2.Info:
    return content_pb2.Info(digest=i.digest, size=i.size, created_at=ts(i.created_at), updated_at=ts(i.updated_at),
                            labels=i.labels)


def status_pb(s: Status) -> content_pb2.Status:
    return content_pb2.Status(started_at=ts(s.started_at), updated_at=ts(s.updated_at), ref=s.ref, offset=s.offset,
                              total=s.total, expected=s.expected)


class ContentService(content_pb2_grpc.ContentServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @property
    def cs(self):  # type: ignore[no-untyped-def]
        return self.d.content

    @rpc
    async def Info(self, request: content_pb2.InfoRequest, context: grpc.aio.ServicerContext) -> content_pb2.InfoResponse:
        return content_pb2.InfoResponse(info=info_pb(self.cs.info(namespace(context), request.digest)))

    @rpc
    async def Update(self, request: content_pb2.UpdateRequest,
                     context: grpc.aio.ServicerContext) -> content_pb2.UpdateResponse:
        info = self.cs.update(namespace(context), request.info.digest, dict(request.info.labels),
                              list(request.update_mask.paths))
        return content_pb2.UpdateResponse(info=info_pb(info))

    @rpc
    async def List(self, request: content_pb2.ListContentRequest, context: grpc.aio.ServicerContext):
        ns = namespace(context)
        parsed = filters.parse(request.filters)
        batch = []
        for i in self.cs.list(ns):
            if filters.match(parsed, filters.dict_adaptor({"digest": i.digest, "size": i.size, "labels": i.labels})):
                batch.append(info_pb(i))
            if len(batch) >= 100:
                yield content_pb2.ListContentResponse(info=batch)
                batch = []
        if batch:
            yield content_pb2.ListContentResponse(info=batch)

    @rpc
    async def Delete(self, request: content_pb2.DeleteContentRequest,
                     context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        self.cs.delete(ns, request.digest)
        self.d.events.publish(ns, "/content/delete", content_events.ContentDelete(digest=request.digest))
        return empty_pb2.Empty()

    @rpc
    async def Read(self, request: content_pb2.ReadContentRequest, context: grpc.aio.ServicerContext):
        for offset, data in self.cs.read_chunks(namespace(context), request.digest, request.offset, request.size):
            yield content_pb2.ReadContentResponse(offset=offset, data=data)

    @rpc
    async def Status(self, request: content_pb2.StatusRequest,
                     context: grpc.aio.ServicerContext) -> content_pb2.StatusResponse:
        return content_pb2.StatusResponse(status=status_pb(self.cs.status(namespace(context), request.ref)))

    @rpc
    async def ListStatuses(self, request: content_pb2.ListStatusesRequest,
                           context: grpc.aio.ServicerContext) -> content_pb2.ListStatusesResponse:
        parsed = filters.parse(request.filters)
        out = [status_pb(s) for s in self.cs.list_statuses(namespace(context))
               if filters.match(parsed, filters.dict_adaptor({"ref": s.ref}))]
        return content_pb2.ListStatusesResponse(statuses=out)

    @rpc
    async def Abort(self, request: content_pb2.AbortRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        self.cs.abort(namespace(context), request.ref)
        return empty_pb2.Empty()

    @rpc
    async def Write(self, request_iterator: Any, context: grpc.aio.ServicerContext):
        ns = namespace(context)
        it = request_iterator.__aiter__()
        try:
            req = await it.__anext__()
        except StopAsyncIteration:
            return
        if not req.ref:
            raise InvalidArgument("first message must have a reference")
        ref = req.ref
        w: Writer = self.cs.writer(ns, ref, req.total, req.expected)
        try:
            while True:
                if req.ref and req.ref != ref:
                    raise InvalidArgument(f"inconsistent ref in request: {req.ref!r} != {ref!r}", raw=True)
                if req.expected and not w.expected:
                    w.expected = req.expected
                if req.total and not w.total:
                    w.total = req.total
                resp = content_pb2.WriteContentResponse(action=req.action)
                if req.action == content_pb2.STAT:
                    pass
                elif req.action in (content_pb2.WRITE, content_pb2.COMMIT):
                    if req.data:
                        await asyncio.to_thread(w.write, req.data, req.offset)
                    if req.action == content_pb2.COMMIT:
                        resp.digest = await asyncio.to_thread(w.commit, req.total or w.total,
                                                              req.expected or w.expected, dict(req.labels))
                        hold(self.d, context, ns, resp.digest, "content")
                        resp.offset = w.offset
                        resp.total = w.offset
                        resp.started_at.CopyFrom(ts(w.started_at))
                        resp.updated_at.CopyFrom(ts(w.updated_at))
                        yield resp
                        return
                else:
                    raise InvalidArgument(f"unknown action {req.action}")
                st = w.status()
                resp.offset, resp.total = st.offset, st.total
                resp.digest = w.digest if req.action != content_pb2.STAT or st.offset else ""
                resp.started_at.CopyFrom(ts(st.started_at))
                resp.updated_at.CopyFrom(ts(st.updated_at))
                yield resp
                try:
                    req = await it.__anext__()
                except StopAsyncIteration:
                    return
        finally:
            w.close()
