"""Platforms and their selection from an index, following containerd's ``platforms`` package.

Normalisation (x86_64 → amd64, aarch64 → arm64, armhf → arm/v7 …) and the preference order of
``platforms.Only`` (amd64 → lower amd64 variants → 386; arm64 → arm/v8 → v7 → v6 → v5) are containerd's,
so the same image resolves to the same manifest under pycontainerd and containerd.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence, TypeVar

from .errors import InvalidReferenceError

_KNOWN_OS = {"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux",
             "netbsd", "openbsd", "plan9", "solaris", "windows", "wasip1"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Platform":
        return cls(os=str(d.get("os", "")), architecture=str(d.get("architecture", "")),
                   variant=str(d.get("variant", "") or ""), os_version=str(d.get("os.version", "") or ""))

    def to_dict(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        if self.os_version:
            out["os.version"] = self.os_version
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


DEFAULT_PLATFORM = Platform("linux", "amd64")


def normalize(p: Platform) -> Platform:
    """containerd's ``platforms.Normalize``: lowercase, canonical arch names and variants."""
    os_ = (p.os or "linux").lower()
    if os_ == "macos":
        os_ = "darwin"
    arch, variant = p.architecture.lower(), p.variant.lower()
    if arch == "i386":
        arch, variant = "386", ""
    elif arch in ("x86_64", "x86-64", "amd64"):
        arch = "amd64"
        if variant == "v1":
            variant = ""
    elif arch in ("aarch64", "arm64"):
        arch = "arm64"
        if variant in ("8", "v8"):
            variant = ""
    elif arch == "armhf":
        arch, variant = "arm", "v7"
    elif arch == "armel":
        arch, variant = "arm", "v6"
    elif arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return Platform(os_, arch, variant, p.os_version)


def parse_platform(spec: str) -> Platform:
    """Parse ``os[/arch[/variant]]`` or a bare architecture (``arm64``) like containerd's ``platforms.Parse``."""
    parts = spec.strip().split("/")
    if not spec.strip() or len(parts) > 3 or any(not p for p in parts):
        raise InvalidReferenceError(f"invalid platform {spec!r}: expected os[/arch[/variant]]")
    if len(parts) == 1:
        word = parts[0].lower()
        if word in _KNOWN_OS:
            return normalize(Platform(word, DEFAULT_PLATFORM.architecture if word == "linux" else ""))
        return normalize(Platform("linux", word))
    return normalize(Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else ""))


def preference_order(wanted: Platform) -> list[Platform]:
    """The platforms ``wanted`` accepts, best first (containerd ``platformVector``)."""
    p = normalize(wanted)
    vector = [p]
    if p.architecture == "amd64":
        level = _variant_level(p.variant)
        for v in range(level - 1, 0, -1) if level > 1 else ():
            vector.append(normalize(Platform(p.os, "amd64", f"v{v}")))
        vector.append(Platform(p.os, "386"))
    elif p.architecture == "arm":
        level = _variant_level(p.variant)
        for v in range(level - 1, 4, -1) if level > 5 else ():
            vector.append(Platform(p.os, "arm", f"v{v}"))
    elif p.architecture == "arm64":
        vector += preference_order(Platform(p.os, "arm", p.variant or "v8"))
    return vector


def _variant_level(variant: str) -> int:
    try:
        return int(variant.lstrip("v"))
    except ValueError:
        return 0


def _key(p: Platform) -> tuple[str, str, str]:
    return (p.os, p.architecture, p.variant)


def rank(candidate: Platform, wanted: Platform) -> int | None:
    """Position of ``candidate`` in the preference order of ``wanted``; None when it does not match."""
    if candidate.os == "unknown" or candidate.architecture == "unknown":
        return None  # buildx attestation manifests
    key = _key(normalize(candidate))
    for i, p in enumerate(preference_order(wanted)):
        if _key(p) == key:
            return i
    return None


T = TypeVar("T")


def select(entries: Sequence[T], platforms_of: Iterable[Platform | None], wanted: Platform = DEFAULT_PLATFORM) -> T | None:
    """The best entry for ``wanted``: lowest rank wins, ties keep index order. Entries without a platform
    match last (containerd includes them when filtering an index)."""
    best: tuple[int, int, T] | None = None
    for i, (entry, plat) in enumerate(zip(entries, platforms_of)):
        r = 1_000 if plat is None else rank(plat, wanted)
        if r is None:
            continue
        if best is None or (r, i) < best[:2]:
            best = (r, i, entry)
    return None if best is None else best[2]
