"""Parsing and checking manifests and indexes (image-spec ``manifest.md`` / ``image-index.md``)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .descriptors import Descriptor
from .errors import ManifestUnsupportedError, RegistryProtocolError
from .mediatypes import (CONFIG_TYPES, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, INDEX_TYPES, LAYER_TYPES,
                         MANIFEST_TYPES, OCI_INDEX, OCI_MANIFEST, SCHEMA1_TYPES, layer_compression,
                         zstd_available)


def schema1_error(ref: str) -> ManifestUnsupportedError:
    """Docker's wording since schema1 support was removed."""
    return ManifestUnsupportedError(
        "[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support "
        f"has been removed. Suggest the author of {ref} to upgrade the image to the OCI Format or Docker "
        "Image manifest v2, schema 2. More information at https://docs.docker.com/go/deprecated-image-specs/")


def sniff_media_type(raw: bytes) -> str:
    """The media type of a manifest body whose Content-Type was missing or generic."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if not isinstance(data, dict):
        return ""
    if data.get("schemaVersion") == 1:
        return "application/vnd.docker.distribution.manifest.v1+prettyjws"
    mt = data.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    if "manifests" in data:
        return OCI_INDEX
    if "config" in data and "layers" in data:
        return OCI_MANIFEST
    return ""


def check_media_type(media_type: str, ref: str) -> str:
    """Refuse schema1 and anything that is not a manifest or index."""
    if media_type in SCHEMA1_TYPES:
        raise schema1_error(ref)
    if media_type not in INDEX_TYPES and media_type not in MANIFEST_TYPES:
        raise ManifestUnsupportedError(
            f"unsupported manifest media type {media_type or '(none)'} for {ref}: expected one of "
            f"{DOCKER_MANIFEST}, {DOCKER_MANIFEST_LIST}, {OCI_MANIFEST}, {OCI_INDEX}")
    return media_type


def _load(raw: bytes, desc: Descriptor, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RegistryProtocolError(f"{what} {desc.digest} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise RegistryProtocolError(f"{what} {desc.digest} is not a JSON object")
    if data.get("schemaVersion") == 1:
        raise schema1_error(what)
    if data.get("schemaVersion") != 2:
        raise ManifestUnsupportedError(f"{what} {desc.digest} has schemaVersion {data.get('schemaVersion')!r}, not 2")
    mt = data.get("mediaType")
    # A body claiming another type than the descriptor is an attempt to confuse clients (CVE-2021-41190).
    if mt and desc.media_type and mt != desc.media_type:
        raise ManifestUnsupportedError(f"{what} {desc.digest}: mediaType {mt} does not match the descriptor's {desc.media_type}")
    return data


def parse_index(raw: bytes, desc: Descriptor, what: str = "index") -> list[Descriptor]:
    data = _load(raw, desc, what)
    entries = data.get("manifests")
    if not isinstance(entries, list):
        raise RegistryProtocolError(f"{what} {desc.digest} has no manifests list")
    return [Descriptor.from_dict(e, what=f"{what} entry") for e in entries if isinstance(e, dict)]


@dataclass(frozen=True)
class ImageManifest:
    config: Descriptor
    layers: list[Descriptor]


def parse_image_manifest(raw: bytes, desc: Descriptor, what: str = "manifest") -> ImageManifest:
    data = _load(raw, desc, what)
    if not isinstance(data.get("config"), dict) or not isinstance(data.get("layers"), list):
        raise RegistryProtocolError(f"{what} {desc.digest} lacks config or layers")
    config = Descriptor.from_dict(data["config"], what=f"{what} config")
    layers = [Descriptor.from_dict(l, what=f"{what} layer") for l in data["layers"]]
    return ImageManifest(config=config, layers=layers)


def check_image_content(m: ImageManifest, what: str) -> None:
    """Refuse configs and layers we could not unpack (unknown types, zstd without ``zstandard``)."""
    if m.config.media_type not in CONFIG_TYPES:
        raise ManifestUnsupportedError(f"{what}: unsupported config media type {m.config.media_type}")
    for l in m.layers:
        if l.media_type not in LAYER_TYPES:
            raise ManifestUnsupportedError(f"{what}: unsupported layer media type {l.media_type} ({l.digest})")
        if layer_compression(l.media_type) == "zstd" and not zstd_available():
            raise ManifestUnsupportedError(
                f"{what}: layer {l.digest} is zstd-compressed, which needs the zstandard Python module")


# containerd's content labels (images/labels.go, remotes/docker): GC references from a manifest or index
# to its children, and where a blob was pulled from (push uses it to choose cross-repository mounts).
GC_REF_PREFIX = "containerd.io/gc.ref.content."
DISTRIBUTION_SOURCE_PREFIX = "containerd.io/distribution.source."


def child_gc_labels(desc: Descriptor, raw: bytes) -> dict[str, str]:
    """Labels that keep a manifest's config and layers (or an index's manifests) alive in the store."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    labels: dict[str, str] = {}
    if desc.media_type in INDEX_TYPES:
        for i, m in enumerate(data.get("manifests") or []):
            if isinstance(m, dict) and m.get("digest"):
                labels[f"{GC_REF_PREFIX}m.{i}"] = str(m["digest"])
    elif desc.media_type in MANIFEST_TYPES:
        if isinstance(data.get("config"), dict) and data["config"].get("digest"):
            labels[f"{GC_REF_PREFIX}config"] = str(data["config"]["digest"])
        for i, l in enumerate(data.get("layers") or []):
            if isinstance(l, dict) and l.get("digest"):
                labels[f"{GC_REF_PREFIX}l.{i}"] = str(l["digest"])
    return labels


def distribution_source_label(domain: str, path: str, existing: str = "") -> tuple[str, str]:
    """``containerd.io/distribution.source.<domain>`` = comma-separated repositories, ``path`` added."""
    repos = [r for r in existing.split(",") if r]
    if path not in repos:
        repos.append(path)
    return DISTRIBUTION_SOURCE_PREFIX + domain, ",".join(sorted(repos))


def mount_sources(labels: dict[str, str], domain: str) -> list[str]:
    """Repositories on ``domain`` a blob is known to exist in, from its distribution.source label."""
    return [r for r in labels.get(DISTRIBUTION_SOURCE_PREFIX + domain, "").split(",") if r]
