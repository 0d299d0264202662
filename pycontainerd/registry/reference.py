"""Image references, parsed and normalised as Docker does (distribution ``reference`` package).

``busybox`` → ``docker.io/library/busybox:latest``; ``host:port/repo:tag``; ``repo@sha256:…``.
``familiar_string`` turns a normalised reference back into what users typed (``busybox:latest``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .digests import validate_digest
from .errors import InvalidReferenceError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"  # containerd maps docker.io to this host
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")

INVALID_FORMAT = "invalid reference format"


@dataclass(frozen=True)
class Reference:
    """A normalised reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The fully qualified repository name, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def api_host(self) -> str:
        """The host:port serving the registry API (Docker Hub's is not docker.io)."""
        return DOCKER_HUB_API_HOST if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def object(self) -> str:
        """What to ask ``/manifests/`` for: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def familiar_name(self) -> str:
        """``busybox`` for ``docker.io/library/busybox``, ``localhost:5000/x`` stays as is."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in path[len(OFFICIAL_REPO_PREFIX):]:
            path = path[len(OFFICIAL_REPO_PREFIX):]
        return path

    def familiar_string(self) -> str:
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str) -> "Reference":
        if not re.fullmatch(_TAG, tag):
            raise InvalidReferenceError(INVALID_FORMAT)
        return replace(self, tag=tag, digest="")

    def with_digest(self, digest: str) -> "Reference":
        return replace(self, digest=validate_digest(digest))

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()


def _split_docker_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    first = name[:i]
    # The first component is a host only if it looks like one: a dot, a port, "localhost", or uppercase.
    if i == -1 or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1:]
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_reference(text: str, *, default_tag: bool = True) -> Reference:
    """Parse a reference as ``docker pull`` does (``ParseNormalizedNamed`` then ``TagNameOnly``).

    With ``default_tag`` a reference without tag or digest gets ``:latest``.
    """
    if _IDENTIFIER_RE.match(text):
        raise InvalidReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_docker_domain(text)
    remote = remainder.split(":", 1)[0].split("@", 1)[0]
    if remote.lower() != remote:
        raise InvalidReferenceError(f"{INVALID_FORMAT}: repository name ({remote}) must be lowercase")
    m = _REFERENCE_RE.match(f"{domain}/{remainder}")
    if not text or not m:
        raise InvalidReferenceError(INVALID_FORMAT)
    name, tag, digest = m.group(1), m.group(2) or "", m.group(3) or ""
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReferenceError(
            f"{INVALID_FORMAT}: repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    if digest:
        try:
            validate_digest(digest)
        except InvalidReferenceError as e:
            raise InvalidReferenceError(f"{INVALID_FORMAT}: {e}") from None
    if default_tag and not tag and not digest:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=name[len(domain) + 1:], tag=tag, digest=digest)


def familiar(text: str) -> str:
    """The short form of a reference for display: ``docker.io/library/busybox:latest`` → ``busybox:latest``."""
    return parse_reference(text, default_tag=False).familiar_string()
