"""Leases: named records holding resources (content, snapshots) that garbage collection keeps."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from .errdefs import AlreadyExists, NotFound
from .metadata import Store

KIND = "lease"


@dataclass
class Lease:
    id: str
    created_at: float
    labels: dict[str, str] = field(default_factory=dict)
    resources: list[tuple[str, str]] = field(default_factory=list)  # (id, type)


class LeaseManager:
    def __init__(self, meta: Store) -> None:
        self.meta = meta

    def _get(self, ns: str, lid: str) -> Lease:
        rec = self.meta.get(ns, KIND, lid)
        if rec is None:
            raise NotFound(f'lease "{lid}"')
        rec["resources"] = [tuple(r) for r in rec.get("resources", [])]
        return Lease(**rec)

    def create(self, ns: str, lid: str, labels: dict[str, str]) -> Lease:
        lid = lid or f"{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(4)}"
        with self.meta.tx():
            if self.meta.get(ns, KIND, lid) is not None:
                raise AlreadyExists(f'lease "{lid}"')
            lease = Lease(lid, time.time(), dict(labels))
            self.meta.ensure_namespace(ns)
            self.meta.put(ns, KIND, lid, lease.__dict__)
        return lease

    def delete(self, ns: str, lid: str) -> None:
        if not self.meta.delete(ns, KIND, lid):
            raise NotFound(f'lease "{lid}"')

    def list(self, ns: str) -> list[Lease]:
        return [self._get(ns, k) for k in self.meta.keys(ns, KIND)]

    def add_resource(self, ns: str, lid: str, rid: str, rtype: str) -> None:
        with self.meta.tx():
            lease = self._get(ns, lid)
            if (rid, rtype) not in lease.resources:
                lease.resources.append((rid, rtype))
            self.meta.put(ns, KIND, lid, lease.__dict__)

    def delete_resource(self, ns: str, lid: str, rid: str, rtype: str) -> None:
        with self.meta.tx():
            lease = self._get(ns, lid)
            lease.resources = [r for r in lease.resources if r != (rid, rtype)]
            self.meta.put(ns, KIND, lid, lease.__dict__)

    def resources(self, ns: str, lid: str) -> list[tuple[str, str]]:
        return self._get(ns, lid).resources
