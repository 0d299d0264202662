"""An OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``) as a blob store.

The registry client reads and writes blobs through the small ``BlobStore`` protocol; this is its simplest
implementation (tests, ``skopeo``/``umoci`` interop). pycontainerd's content store implements the same
two methods.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Protocol

from .descriptors import Descriptor
from .digests import validate_digest

if TYPE_CHECKING:
    from .reference import Reference


class BlobStore(Protocol):
    """What the client needs from a content store. Downloads go to ``ingest_path`` (the client writes
    ``<ingest_path>.partial`` and renames it to ``ingest_path`` once verified), then ``commit`` takes the
    file in. A stable ingest path per digest lets an interrupted download resume."""

    def has(self, digest: str) -> bool:
        """True when a verified blob with this digest is present."""

    def path(self, digest: str) -> str:
        """The readable file of a present blob (push reads layers, pull re-reads manifests and configs)."""

    def ingest_path(self, digest: str) -> str:
        """Where to download ``digest`` before it is committed."""

    def commit(self, desc: Descriptor, path: str, source: "Reference") -> None:
        """Take the verified file at ``path`` into the store (``source`` says where it was pulled from)."""


class LayoutStore:
    def __init__(self, root: str):
        self.root = root
        os.makedirs(os.path.join(root, "blobs"), exist_ok=True)
        marker = os.path.join(root, "oci-layout")
        if not os.path.exists(marker):
            with open(marker, "w") as f:
                json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def path(self, digest: str) -> str:
        alg, hex_ = validate_digest(digest).split(":", 1)
        return os.path.join(self.root, "blobs", alg, hex_)

    def has(self, digest: str) -> bool:
        return os.path.isfile(self.path(digest))

    def ingest_path(self, digest: str) -> str:
        alg, hex_ = validate_digest(digest).split(":", 1)
        os.makedirs(os.path.join(self.root, "ingest"), exist_ok=True)
        return os.path.join(self.root, "ingest", f"{alg}-{hex_}")

    def commit(self, desc: Descriptor, path: str, source: "Reference | None" = None) -> None:
        dest = self.path(desc.digest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(path, dest)

    def write(self, data: bytes, digest: str) -> str:
        """Store ``data`` under ``digest`` atomically (the caller computed the digest)."""
        p = self.path(digest)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tmp = p + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
        return p

    def read(self, digest: str) -> bytes:
        with open(self.path(digest), "rb") as f:
            return f.read()

    def index(self) -> list[Descriptor]:
        try:
            with open(os.path.join(self.root, "index.json")) as f:
                data = json.load(f)
        except FileNotFoundError:
            return []
        return [Descriptor.from_dict(d, what="index.json entry") for d in data.get("manifests", [])]

    def set_index(self, manifests: list[Descriptor]) -> None:
        data = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [d.to_dict() for d in manifests]}
        tmp = os.path.join(self.root, "index.json.tmp")
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, os.path.join(self.root, "index.json"))
