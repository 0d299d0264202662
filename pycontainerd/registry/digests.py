"""Content digests: validation and incremental verification (OCI image-spec ``descriptor.md``)."""
from __future__ import annotations

import hashlib
import re

from .errors import InvalidReferenceError

# Algorithms the OCI spec registers, with the exact length of their hex encoding.
_ALGORITHMS = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$")


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is a well-formed sha256/sha512 digest, else raise ``InvalidReferenceError``."""
    m = _DIGEST_RE.match(digest)
    if not m:
        raise InvalidReferenceError(f"invalid digest {digest!r}: not of the form algorithm:hex")
    alg, enc = m.groups()
    if alg not in _ALGORITHMS:
        raise InvalidReferenceError(f"invalid digest {digest!r}: unsupported algorithm {alg}")
    if len(enc) != _ALGORITHMS[alg] or not re.fullmatch(r"[0-9a-f]+", enc):
        raise InvalidReferenceError(f"invalid digest {digest!r}: {alg} needs {_ALGORITHMS[alg]} lowercase hex digits")
    return digest


def hasher_for(digest: str) -> "hashlib._Hash":
    """A fresh hash object of the algorithm ``digest`` names."""
    return hashlib.new(validate_digest(digest).split(":", 1)[0])


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def short_id(digest: str) -> str:
    """Docker's 12-character id of a digest, as shown in progress lines."""
    return digest.split(":", 1)[-1][:12]
