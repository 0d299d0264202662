"""OCI content descriptors (image-spec ``descriptor.md``) as a dataclass."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .digests import validate_digest
from .errors import RegistryProtocolError
from .platforms import Platform


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    urls: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, what: str = "descriptor") -> "Descriptor":
        try:
            digest = validate_digest(str(d["digest"]))
            size = int(d["size"])
        except (KeyError, TypeError, ValueError) as e:
            raise RegistryProtocolError(f"invalid {what}: {e}") from None
        if size < 0:
            raise RegistryProtocolError(f"invalid {what}: negative size {size}")
        plat = d.get("platform")
        return cls(
            media_type=str(d.get("mediaType", "")),
            digest=digest,
            size=size,
            platform=Platform.from_dict(plat) if isinstance(plat, dict) else None,
            annotations=dict(d.get("annotations") or {}),
            urls=tuple(d.get("urls") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        return out
