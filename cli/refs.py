"""Image references, normalised as distribution/reference does (docker.io/library/busybox:latest)."""
from __future__ import annotations

from cli.errors import CLIError

DEFAULT_DOMAIN = "docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?"
_REF_PATTERN = (rf"^((?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::([\w][\w.-]{{0,127}}))?"
                r"(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}))?$")
_compiled: list = []


def _regexes() -> tuple:
    """Compile on first use: `re` is not needed by commands that only display names."""
    if not _compiled:
        import re
        _compiled.extend((re.compile(_REF_PATTERN), re.compile(r"^[^:@]+")))
    return _compiled[0], _compiled[1]


class Reference:
    """A parsed reference: domain, path, tag, digest."""

    def __init__(self, domain: str, path: str, tag: str | None, digest: str | None) -> None:
        self.domain, self.path, self.tag, self.digest = domain, path, tag, digest

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        if self.domain == DEFAULT_DOMAIN:
            return self.path[len("library/"):] if self.path.startswith("library/") else self.path
        return self.name

    def familiar(self) -> str:
        """reference.FamiliarString: busybox:latest, myreg:5000/app@sha256:…"""
        s = self.familiar_name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = "library/" + path
    return domain, path


def parse(ref: str, default_tag: bool = True) -> Reference:
    """ParseNormalizedNamed (+ TagNameOnly when default_tag): raise CLIError like the CLI."""
    if not ref or ref.startswith("sha256:") and len(ref) == 71:
        raise CLIError("invalid reference format")
    ref_rx, name_rx = _regexes()
    m = ref_rx.match(ref)
    if not m:
        name = name_rx.match(ref)
        if name and name.group(0) != name.group(0).lower() and ref_rx.match(ref.lower()):
            _, path = _split_domain(name.group(0))
            raise CLIError(f"invalid reference format: repository name ({path}) must be lowercase")
        raise CLIError("invalid reference format")
    domain, path = _split_domain(m.group(1))
    tag, digest = m.group(2), m.group(3)
    if default_tag and not tag and not digest:
        tag = "latest"
    return Reference(domain, path, tag, digest)


def familiar(ref: str) -> str:
    """Shorten a fully qualified name for display; leave anything unparsable alone."""
    try:
        return parse(ref, default_tag=False).familiar()
    except CLIError:
        return ref


def familiar_name(name: str) -> str:
    """reference.FamiliarName for a repository name the daemon returned (no regex needed)."""
    if name.startswith("docker.io/"):
        name = name[len("docker.io/"):]
        if name.startswith("library/") and name.count("/") == 1:
            name = name[len("library/"):]
    return name
