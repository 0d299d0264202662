"""Docker image references: normalising `busybox` to `docker.io/library/busybox:latest` and back."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidParameter

DEFAULT_DOMAIN = "docker.io"
OFFICIAL_PREFIX = "library/"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
HEX_ID = re.compile(r"^(sha256:)?[0-9a-f]{1,64}$")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The fully qualified repository name (`docker.io/library/busybox`)."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    @property
    def familiar_name(self) -> str:
        if self.domain == DEFAULT_DOMAIN:
            path = self.path
            if path.startswith(OFFICIAL_PREFIX) and path.count("/") == 1:
                path = path[len(OFFICIAL_PREFIX):]
            return path
        return self.name

    def familiar(self) -> str:
        """moby's FamiliarString: `busybox:latest`, `myorg/app:1`, `localhost:5000/x:y`."""
        s = self.familiar_name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


def parse(ref: str, default_tag: str = "latest") -> Reference:
    """Parse and normalise a reference; a missing tag (and digest) becomes `latest`."""
    if not ref or ref != ref.strip():
        raise InvalidParameter(f"invalid reference format: {ref!r}")
    name, digest = ref, ""
    if "@" in name:
        name, digest = name.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidParameter("invalid reference format")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidParameter("invalid reference format")
    if not name:
        raise InvalidParameter("invalid reference format")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if path != path.lower():
        raise InvalidParameter("invalid reference format: repository name must be lowercase")
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    for comp in path.split("/"):
        if not _COMPONENT.match(comp):
            raise InvalidParameter("invalid reference format")
    if not tag and not digest:
        tag = default_tag
    return Reference(domain, path, tag, digest)


def parse_repo_tag(repo: str, tag: str) -> Reference:
    """`repo` + `tag` query parameters of tag/import/pull; the tag may also be inside `repo`."""
    ref = parse(repo, default_tag="")
    if tag:
        if ref.tag or ref.digest:
            raise InvalidParameter("invalid reference format")
        if not _TAG.match(tag):
            raise InvalidParameter("invalid tag format")
        ref = Reference(ref.domain, ref.path, tag)
    elif not ref.tag and not ref.digest:
        ref = Reference(ref.domain, ref.path, "latest")
    return ref


def familiar_string(full: str) -> str:
    """Familiar form of a stored (fully qualified) image name; names that do not parse are kept."""
    try:
        return parse(full, default_tag="").familiar()
    except InvalidParameter:
        return full
