"""`docker events`: an in-memory event bus with a bounded history, moby's message shape and filters."""
from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from typing import Any

HISTORY = 1024


@dataclass
class Event:
    type: str  # container | image | network | volume | daemon
    action: str
    actor_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time_nano: int = field(default_factory=time.time_ns)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        # Deprecated fields moby still fills (compose 1.29 reads status/id/from).
        if self.type in ("container", "image"):
            out["status"] = self.action
            out["id"] = self.actor_id
            if self.type == "container" and "image" in self.attributes:
                out["from"] = self.attributes["image"]
        out.update({"Type": self.type, "Action": self.action,
                    "Actor": {"ID": self.actor_id, "Attributes": dict(self.attributes)},
                    "scope": "local", "time": self.time_nano // 1_000_000_000, "timeNano": self.time_nano})
        return out


class EventBus:
    def __init__(self) -> None:
        self.history: collections.deque[Event] = collections.deque(maxlen=HISTORY)
        self.subscribers: set[asyncio.Queue] = set()

    def publish(self, type_: str, action: str, actor_id: str, attributes: dict[str, str] | None = None) -> None:
        ev = Event(type_, action, actor_id, dict(attributes or {}))
        self.history.append(ev)
        for q in list(self.subscribers):
            q.put_nowait(ev)

    def subscribe(self) -> tuple[list[Event], asyncio.Queue]:
        """The history so far and a queue of what follows (taken together: nothing missed)."""
        q: asyncio.Queue = asyncio.Queue()
        self.subscribers.add(q)
        return list(self.history), q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self.subscribers.discard(q)


def matches(ev: Event, filters: dict[str, list[str]]) -> bool:
    """moby's events filters: type, event, container, image, label, network, volume, scope."""
    for key, values in filters.items():
        if not values:
            continue
        if key == "type" and ev.type not in values:
            return False
        if key == "event" and ev.action not in values and ev.action.split(":")[0] not in values:
            return False
        if key == "container":
            if ev.type != "container":
                return False
            name = ev.attributes.get("name", "")
            if not any(ev.actor_id.startswith(v) or v == name for v in values):
                return False
        if key == "image":
            img = ev.attributes.get("image", "") if ev.type == "container" else ev.actor_id
            names = {img, img.split(":")[0], ev.attributes.get("name", "")}
            if not any(v in names or v == ev.actor_id for v in values):
                return False
        if key == "label":
            for v in values:
                k, eq, val = v.partition("=")
                if k not in ev.attributes or (eq and ev.attributes[k] != val):
                    return False
        if key in ("network", "volume"):
            if ev.type != key or not any(ev.actor_id.startswith(v) or v == ev.attributes.get("name") for v in values):
                return False
        if key == "scope" and "local" not in values:
            return False
    return True
