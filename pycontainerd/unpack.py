"""Unpacking an image's layers into committed snapshots keyed by chain ID (as containerd's unpacker)."""
from __future__ import annotations

import contextlib
import secrets
from typing import BinaryIO, Callable

from . import archive, diff
from .content import ContentStore
from .errdefs import AlreadyExists, FailedPrecondition, NotFound
from .images import Descriptor, ResolvedImage
from .snapshots.overlay import OverlaySnapshotter

LABEL_UNCOMPRESSED = "containerd.io/uncompressed"

# Opens a layer's compressed bytes. Reading to the end must mean "verified and in the content store":
# the store's own blobs are; a pull's tail readers (registry.feed) end only after verification and
# commit, raise if the download fails, and offer `settle()` to learn the download's outcome.
LayerSource = Callable[[Descriptor], BinaryIO]


def unpack(cs: ContentStore, sn: OverlaySnapshotter, ns: str, img: ResolvedImage, tmp_root: str,
           progress: Callable[[str], None] = lambda s: None,
           on_extracted: Callable[[Descriptor], None] = lambda d: None, *,
           source: LayerSource | None = None, appliers: "Appliers | None" = None) -> str:
    """Make sure every layer of `img` is a committed snapshot; return the top chain ID ("" for no layers).
    `on_extracted` is told about each layer this call extracted (layers already unpacked are skipped).
    `source` opens a layer's blob (default: the content store); a pull passes one that reads each layer
    while it downloads, so extraction keeps pace with the download instead of following it. `appliers`
    lets a caller that unpacks layer by layer (a load) share one applier process across its calls."""
    open_layer = source or (lambda layer: open(cs.blob_path(layer.digest), "rb"))
    with contextlib.nullcontext(appliers) if appliers is not None else Appliers() as use:
        return _unpack(cs, sn, ns, img, tmp_root, progress, on_extracted, open_layer, use.get)


class Appliers:
    """One process that forks every layer's chrooted applier, started when the first layer needs it
    and ended with the `with` block."""

    def __init__(self) -> None:
        self._server: archive.ApplierServer | None = None

    def get(self) -> archive.ApplierServer:
        if self._server is None:
            self._server = archive.ApplierServer()
        return self._server

    def __enter__(self) -> "Appliers":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None


def _unpack(cs: ContentStore, sn: OverlaySnapshotter, ns: str, img: ResolvedImage, tmp_root: str,
            progress: Callable[[str], None], on_extracted: Callable[[Descriptor], None],
            open_layer: LayerSource, get_applier: Callable[[], archive.ApplierServer]) -> str:
    parent = ""
    for layer, diff_id, chain in zip(img.layers, img.diff_ids, img.chain_ids):
        try:
            sn.stat(ns, chain)
            parent = chain
            continue
        except NotFound:
            pass
        diff.check_media_type(layer.media_type)
        key = f"extract-{secrets.token_hex(6)} {chain}"
        mounts = sn.prepare(ns, key, parent)
        try:
            src = open_layer(layer)
            try:
                applied = diff.apply_stream_to_mounts(src, layer.media_type, mounts, tmp_root, get_applier())
            except Exception:
                settle = getattr(src, "settle", None)
                if settle is not None:
                    settle()  # a download that failed (e.g. a digest mismatch) is the error to report
                raise
            finally:
                src.close()
            if applied.diff_id != diff_id:
                raise FailedPrecondition(f"wrong diff id calculated on extraction {diff_id!r}", raw=True)
            try:
                sn.commit(ns, chain, key)
            except AlreadyExists:
                sn.remove(ns, key)  # a concurrent unpack won the race; its snapshot is the same
        except BaseException:
            try:
                sn.remove(ns, key)
            except NotFound:
                pass
            raise
        try:
            info = cs.info(ns, layer.digest)
            if info.labels.get(LABEL_UNCOMPRESSED) != diff_id:
                cs.update(ns, layer.digest, {LABEL_UNCOMPRESSED: diff_id}, [f"labels.{LABEL_UNCOMPRESSED}"])
        except NotFound:
            pass
        progress(f"Loading layer {layer.digest} {layer.size}B")
        on_extracted(layer)
        parent = chain
    return parent
