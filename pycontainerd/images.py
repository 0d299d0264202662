"""Image records (name → target descriptor) and walking an image's manifest, config and layers."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from .content import ContentStore
from .errdefs import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from .metadata import Store

KIND = "image"

MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
INDEX_TYPES = (MT_DOCKER_LIST, MT_OCI_INDEX)
MANIFEST_TYPES = (MT_DOCKER_MANIFEST, MT_OCI_MANIFEST)


@dataclass
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: dict[str, str] | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Descriptor":
        return cls(d.get("mediaType", ""), d["digest"], int(d.get("size", 0)), dict(d.get("annotations") or {}),
                   d.get("platform"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = self.annotations
        if self.platform:
            out["platform"] = self.platform
        return out


@dataclass
class Image:
    name: str
    target: Descriptor
    labels: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target.__dict__, "labels": self.labels,
                "created_at": self.created_at, "updated_at": self.updated_at}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Image":
        return cls(d["name"], Descriptor(**d["target"]), d.get("labels", {}), d["created_at"], d["updated_at"])


class ImageStore:
    def __init__(self, meta: Store) -> None:
        self.meta = meta

    def get(self, ns: str, name: str) -> Image:
        rec = self.meta.get(ns, KIND, name)
        if rec is None:
            raise NotFound(f'image "{name}"')
        return Image.from_dict(rec)

    def list(self, ns: str) -> list[Image]:
        return [Image.from_dict(r) for r in self.meta.list(ns, KIND)]

    @staticmethod
    def _validate(img: Image) -> None:
        if not img.name:
            raise InvalidArgument("image name must not be empty", raw=True)
        if not img.target.digest or not img.target.media_type:
            raise InvalidArgument(f"image {img.name}: target must be set", raw=True)

    def create(self, ns: str, img: Image) -> Image:
        self._validate(img)
        with self.meta.tx():
            if self.meta.get(ns, KIND, img.name) is not None:
                raise AlreadyExists(f'image "{img.name}"')
            now = time.time()
            img.created_at = img.created_at or now
            img.updated_at = now
            self.meta.ensure_namespace(ns)
            self.meta.put(ns, KIND, img.name, img.to_dict())
        return img

    def update(self, ns: str, img: Image, paths: list[str]) -> Image:
        with self.meta.tx():
            cur = self.get(ns, img.name)
            if not paths:
                self._validate(img)
                cur.target, cur.labels = img.target, dict(img.labels)
            for p in paths:
                if p == "labels":
                    cur.labels = dict(img.labels)
                elif p.startswith("labels."):
                    k = p[len("labels."):]
                    if img.labels.get(k):
                        cur.labels[k] = img.labels[k]
                    else:
                        cur.labels.pop(k, None)
                elif p == "target":
                    cur.target = img.target
                elif p == "annotations" or p.startswith("annotations."):
                    cur.target.annotations = dict(img.target.annotations)
                else:
                    raise InvalidArgument(f"cannot update {p!r} field on image {img.name!r}")
            cur.updated_at = time.time()
            self.meta.put(ns, KIND, cur.name, cur.to_dict())
        return cur

    def put(self, ns: str, img: Image) -> tuple[Image, bool]:
        """Create or replace the target of `img.name`. Returns (image, created)."""
        try:
            return self.create(ns, img), True
        except AlreadyExists:
            return self.update(ns, img, ["target"]), False

    def delete(self, ns: str, name: str) -> None:
        if not self.meta.delete(ns, KIND, name):
            raise NotFound(f'image "{name}"')


# -- walking manifests

DEFAULT_PLATFORM = {"os": "linux", "architecture": "amd64"}


def _platform_matches(p: dict[str, str] | None) -> bool:
    if not p:
        return False
    arch = {"x86_64": "amd64", "x86-64": "amd64"}.get(p.get("architecture", ""), p.get("architecture", ""))
    return p.get("os") == "linux" and arch == "amd64"


def chain_ids(diff_ids: list[str]) -> list[str]:
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


@dataclass
class ResolvedImage:
    manifest: Descriptor
    config: Descriptor
    layers: list[Descriptor]
    diff_ids: list[str]
    config_json: dict[str, Any]

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)


def read_json(cs: ContentStore, ns: str, digest: str) -> dict[str, Any]:
    try:
        return json.loads(cs.read_bytes(ns, digest))
    except ValueError as exc:
        raise FailedPrecondition(f"invalid JSON in {digest}: {exc}", raw=True) from None


def resolve(cs: ContentStore, ns: str, target: Descriptor) -> ResolvedImage:
    """Follow an index (choosing linux/amd64) to a manifest and read its config."""
    desc = target
    for _ in range(4):
        doc = read_json(cs, ns, desc.digest)
        mt = desc.media_type or doc.get("mediaType", "")
        if mt in INDEX_TYPES or ("manifests" in doc and "layers" not in doc):
            chosen = next((Descriptor.from_json(m) for m in doc.get("manifests", [])
                           if _platform_matches(m.get("platform"))), None)
            if chosen is None:
                raise NotFound(f"no match for platform in manifest {desc.digest}")
            desc = chosen
            continue
        config = Descriptor.from_json(doc["config"])
        layers = [Descriptor.from_json(layer) for layer in doc.get("layers", [])]
        cfg = read_json(cs, ns, config.digest)
        diff_ids = list((cfg.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(layers):
            raise FailedPrecondition(f"mismatched image rootfs and manifest layers", raw=True)
        return ResolvedImage(desc, config, layers, diff_ids, cfg)
    raise FailedPrecondition(f"index nesting too deep at {target.digest}", raw=True)
