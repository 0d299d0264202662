"""An OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/<alg>/<hex>``) as a blob store.

The registry client reads and writes blobs through the small ``BlobStore`` protocol; this is its simplest
implementation (tests, ``skopeo``/``umoci`` interop). pycontainerd's content store implements the same
two methods.
"""
from __future__ import annotations

import json
import os
from typing import Protocol

from .descriptors import Descriptor
from .digests import validate_digest


class BlobStore(Protocol):
    def has(self, digest: str) -> bool:
        """True when a verified blob with this digest is present."""

    def path(self, digest: str) -> str:
        """Where the verified blob lives, or where the client commits it (via a temp name + rename)."""


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
