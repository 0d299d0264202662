"""Unpacking an image's layers into committed snapshots keyed by chain ID (as containerd's unpacker)."""
from __future__ import annotations

import secrets
from typing import Callable

from . import diff
from .content import ContentStore
from .errdefs import AlreadyExists, FailedPrecondition, NotFound
from .images import Descriptor, ResolvedImage
from .snapshots.overlay import OverlaySnapshotter

LABEL_UNCOMPRESSED = "containerd.io/uncompressed"


def unpack(cs: ContentStore, sn: OverlaySnapshotter, ns: str, img: ResolvedImage, tmp_root: str,
           progress: Callable[[str], None] = lambda s: None,
           on_extracted: Callable[[Descriptor], None] = lambda d: None) -> str:
    """Make sure every layer of `img` is a committed snapshot; return the top chain ID ("" for no layers).
    `on_extracted` is told about each layer this call extracted (layers already unpacked are skipped)."""
    parent = ""
    for layer, diff_id, chain in zip(img.layers, img.diff_ids, img.chain_ids):
        try:
            sn.stat(ns, chain)
            parent = chain
            continue
        except NotFound:
            pass
        key = f"extract-{secrets.token_hex(6)} {chain}"
        mounts = sn.prepare(ns, key, parent)
        try:
            applied = diff.apply_to_mounts(cs.blob_path(layer.digest), layer.media_type, mounts, tmp_root)
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
