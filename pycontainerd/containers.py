"""Container records: spec (an Any holding JSON), runtime, snapshot; no process state."""
from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

from . import identifiers
from .errdefs import AlreadyExists, InvalidArgument, NotFound
from .metadata import Store

KIND = "container"
SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"


@dataclass
class AnyValue:
    """A protobuf Any kept as its type URL and raw bytes (the core never decodes foreign types)."""
    type_url: str = ""
    value: bytes = b""

    def to_dict(self) -> dict[str, str]:
        return {"type_url": self.type_url, "value": base64.b64encode(self.value).decode()}

    @classmethod
    def from_dict(cls, d: dict[str, str] | None) -> "AnyValue | None":
        return None if d is None else cls(d["type_url"], base64.b64decode(d["value"]))


@dataclass
class Container:
    id: str
    labels: dict[str, str] = field(default_factory=dict)
    image: str = ""
    runtime_name: str = ""
    runtime_options: AnyValue | None = None
    spec: AnyValue | None = None
    snapshotter: str = ""
    snapshot_key: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    extensions: dict[str, AnyValue] = field(default_factory=dict)
    sandbox: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["runtime_options"] = self.runtime_options.to_dict() if self.runtime_options else None
        d["spec"] = self.spec.to_dict() if self.spec else None
        d["extensions"] = {k: v.to_dict() for k, v in self.extensions.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Container":
        d = dict(d)
        d["runtime_options"] = AnyValue.from_dict(d.get("runtime_options"))
        d["spec"] = AnyValue.from_dict(d.get("spec"))
        d["extensions"] = {k: AnyValue.from_dict(v) for k, v in (d.get("extensions") or {}).items()}
        return cls(**d)


class ContainerStore:
    def __init__(self, meta: Store) -> None:
        self.meta = meta

    def get(self, ns: str, cid: str) -> Container:
        rec = self.meta.get(ns, KIND, cid)
        if rec is None:
            raise NotFound(f'container "{cid}" in namespace "{ns}"')
        return Container.from_dict(rec)

    def list(self, ns: str) -> list[Container]:
        return [Container.from_dict(r) for r in self.meta.list(ns, KIND)]

    @staticmethod
    def _validate(c: Container) -> None:
        identifiers.validate(c.id)
        if not c.runtime_name:
            raise InvalidArgument(f'container "{c.id}": must specify runtime name')
        if c.spec is None or not c.spec.type_url:
            raise InvalidArgument(f'container "{c.id}": spec must not be empty')
        if c.snapshot_key and not c.snapshotter:
            raise InvalidArgument(f'container "{c.id}": snapshotter must be set when snapshot key is set')

    def create(self, ns: str, c: Container) -> Container:
        self._validate(c)
        with self.meta.tx():
            if self.meta.get(ns, KIND, c.id) is not None:
                raise AlreadyExists(f'container "{c.id}"')
            now = time.time()
            c.created_at = c.updated_at = now
            self.meta.ensure_namespace(ns)
            self.meta.put(ns, KIND, c.id, c.to_dict())
        return c

    def update(self, ns: str, c: Container, paths: list[str]) -> Container:
        with self.meta.tx():
            cur = self.get(ns, c.id)
            if not paths:
                paths = ["labels", "image", "runtime", "spec", "snapshotter", "snapshotkey", "extensions"]
            for p in paths:
                if p == "labels":
                    cur.labels = dict(c.labels)
                elif p.startswith("labels."):
                    k = p[len("labels."):]
                    if c.labels.get(k):
                        cur.labels[k] = c.labels[k]
                    else:
                        cur.labels.pop(k, None)
                elif p == "image":
                    cur.image = c.image
                elif p == "spec":
                    cur.spec = c.spec
                elif p == "runtime":
                    cur.runtime_name, cur.runtime_options = c.runtime_name, c.runtime_options
                elif p in ("snapshotkey", "snapshot_key"):
                    cur.snapshot_key = c.snapshot_key
                elif p == "snapshotter":
                    cur.snapshotter = c.snapshotter
                elif p == "extensions":
                    cur.extensions = dict(c.extensions)
                elif p.startswith("extensions."):
                    k = p[len("extensions."):]
                    if k in c.extensions:
                        cur.extensions[k] = c.extensions[k]
                    else:
                        cur.extensions.pop(k, None)
                else:
                    raise InvalidArgument(f"cannot update {p!r} field on {c.id!r}")
            self._validate(cur)
            cur.updated_at = time.time()
            self.meta.put(ns, KIND, cur.id, cur.to_dict())
        return cur

    def delete(self, ns: str, cid: str) -> None:
        if not self.meta.delete(ns, KIND, cid):
            raise NotFound(f'container "{cid}" in namespace "{ns}"')
