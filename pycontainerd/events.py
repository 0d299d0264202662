"""The event exchange: publish containerd events (Envelope{timestamp, namespace, topic, Any})."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import Message

from protos.containerd.services.events.v1 import events_pb2

from . import filters
from .services.common import ts

log = logging.getLogger("pycontainerd.events")


@dataclass
class _Subscriber:
    queue: asyncio.Queue
    parsed: list = field(default_factory=list)


class Exchange:
    def __init__(self) -> None:
        self._subs: list[_Subscriber] = []

    def publish(self, ns: str, topic: str, event: Message) -> None:
        # containerd's typeurl names proto events by their full name, without a URL prefix.
        any_ = any_pb2.Any(type_url=event.DESCRIPTOR.full_name, value=event.SerializeToString())
        self.forward(events_pb2.Envelope(timestamp=ts(time.time()), namespace=ns, topic=topic, event=any_))

    def forward(self, env: events_pb2.Envelope) -> None:
        fields: dict[str, Any] = {"namespace": env.namespace, "topic": env.topic}
        adapt = filters.dict_adaptor(fields)
        delivered = 0
        for sub in list(self._subs):
            if filters.match(sub.parsed, adapt):
                sub.queue.put_nowait(env)
                delivered += 1
        log.debug("event %s %s → %d subscriber(s)", env.namespace, env.topic, delivered)

    def subscribe(self, filter_strings: list[str]) -> _Subscriber:
        sub = _Subscriber(asyncio.Queue(), filters.parse(filter_strings))
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: _Subscriber) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
