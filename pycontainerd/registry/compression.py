"""Opening downloaded layers uncompressed, and their DiffIDs and ChainIDs.

Gzip is always supported; zstd only when the optional ``zstandard`` module imports. Docker's
``…rootfs.diff.tar`` may still be gzip, so the first bytes decide, not only the media type.
"""
from __future__ import annotations

import gzip
import hashlib
from typing import BinaryIO

from .errors import ManifestUnsupportedError
from .mediatypes import sniff_compression, zstd_available


def open_layer(path: str) -> BinaryIO:
    """A binary stream of the uncompressed tar in the layer blob at ``path`` (closing it closes the file)."""
    with open(path, "rb") as f:
        kind = sniff_compression(f.read(4))
    if kind == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if kind == "zstd":
        if not zstd_available():
            raise ManifestUnsupportedError(
                f"layer {path} is zstd-compressed, which needs the zstandard Python module")
        import zstandard
        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)  # type: ignore[return-value]
    return open(path, "rb")


def diff_id(path: str) -> str:
    """sha256 of the uncompressed layer: what the image config lists in ``rootfs.diff_ids``."""
    h = hashlib.sha256()
    with open_layer(path) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainIDs (image-spec ``config.md``): containerd keys committed snapshots by them."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out
