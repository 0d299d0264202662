"""Events servicer: publish, forward and subscribe."""
from __future__ import annotations

import time
from typing import Any

import grpc
from google.protobuf import empty_pb2

from protos.containerd.services.events.v1 import events_pb2, events_pb2_grpc

from ..errdefs import InvalidArgument
from .common import namespace, rpc, ts


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
