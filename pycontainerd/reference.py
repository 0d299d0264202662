"""Docker image reference normalisation (busybox → docker.io/library/busybox:latest)."""
from __future__ import annotations

import re

from .errdefs import InvalidArgument

_NAME_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def normalize(ref: str) -> str:
    """Return the fully qualified form: domain/path[:tag][@digest], with :latest when neither is given."""
    if not ref or ref != ref.strip():
        raise InvalidArgument(f"invalid reference format: {ref!r}", raw=True)
    name, digest = ref, ""
    if "@" in ref:
        name, digest = ref.split("@", 1)
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidArgument(f"invalid reference format: {ref!r}", raw=True)
    parts = name.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = ["docker.io"] + parts
    if parts[0] == "docker.io" and len(parts) == 2:
        parts.insert(1, "library")
    if parts[0] == "index.docker.io":
        parts[0] = "docker.io"
    for comp in parts[1:]:
        if not _NAME_COMPONENT.match(comp):
            raise InvalidArgument(f"invalid reference format: repository name must be lowercase: {ref!r}"
                                  if comp.lower() != comp else f"invalid reference format: {ref!r}", raw=True)
    out = "/".join(parts)
    if tag:
        out += ":" + tag
    elif not digest:
        out += ":latest"
    if digest:
        out += "@" + digest
    return out
