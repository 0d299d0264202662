"""``BlobStore`` over pycontainerd's content store, for one containerd namespace.

Duck-typed on the store (``exists``, ``info``, ``blob_path``, ``add_file``, ``update``, ``ingests``) so
this package stays free of the store's imports. On commit it records containerd's labels: GC references
from manifests and indexes to their children, and ``distribution.source`` (which push turns into
cross-repository mount candidates, as containerd does).
"""
from __future__ import annotations

import os
from typing import Any

from .descriptors import Descriptor
from .digests import validate_digest
from .manifests import child_gc_labels, distribution_source_label, mount_sources
from .mediatypes import INDEX_TYPES, MANIFEST_TYPES
from .reference import Reference, parse_reference

INGEST_SUBDIR = "registry"  # our downloads live beside the store's own ingests, never mistaken for them


class ContentStoreBlobs:
    def __init__(self, store: Any, namespace: str):
        self.store = store
        self.ns = namespace

    def has(self, digest: str) -> bool:
        return bool(self.store.exists(self.ns, digest))

    def path(self, digest: str) -> str:
        return str(self.store.blob_path(digest))

    def ingest_path(self, digest: str) -> str:
        alg, hex_ = validate_digest(digest).split(":", 1)
        d = os.path.join(self.store.ingests, INGEST_SUBDIR)
        os.makedirs(d, exist_ok=True)
        return os.path.join(d, f"{self.ns}-{alg}-{hex_}")

    def commit(self, desc: Descriptor, path: str, source: Reference | None = None) -> None:
        labels: dict[str, str] = {}
        if desc.media_type in INDEX_TYPES | MANIFEST_TYPES:
            with open(path, "rb") as f:
                labels.update(child_gc_labels(desc, f.read()))
        if source is not None:
            key, value = distribution_source_label(source.domain, source.path, self._label(desc.digest, source))
            labels[key] = value
        if self.has(desc.digest):
            os.unlink(path)
            self.store.update(self.ns, desc.digest, labels, [f"labels.{k}" for k in labels])
        else:
            self.store.add_file(self.ns, path, desc.digest, labels, move=True)

    def _label(self, digest: str, source: Reference) -> str:
        if not self.has(digest):
            return ""
        key = distribution_source_label(source.domain, source.path)[0]
        return str(self.store.info(self.ns, digest).labels.get(key, ""))

    def mount_candidates(self, target: Reference | str):
        """For ``RegistryClient.push(mount_candidates=…)``: repositories on ``target``'s registry each blob
        was pulled from."""
        ref = target if isinstance(target, Reference) else parse_reference(target)

        def lookup(digest: str) -> list[str]:
            if not self.has(digest):
                return []
            return mount_sources(dict(self.store.info(self.ns, digest).labels), ref.domain)

        return lookup
