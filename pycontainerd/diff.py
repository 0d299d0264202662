"""Diff.Apply's core: apply a layer blob onto a set of mounts, return the uncompressed descriptor."""
from __future__ import annotations

import os
import tempfile

from . import archive
from .errdefs import InvalidArgument, NotImplementedErr, Unknown
from .mount import Mount, mount_all, unmount_all

LAYER_TYPES = {
    "application/vnd.docker.image.rootfs.diff.tar", "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
}


def uncompressed_media_type(media_type: str) -> str:
    if media_type.startswith("application/vnd.docker."):
        return "application/vnd.docker.image.rootfs.diff.tar"
    return "application/vnd.oci.image.layer.v1.tar"


def apply_to_mounts(blob_path: str, media_type: str, mounts: list[Mount], tmp_root: str) -> archive.Applied:
    """Apply a layer onto `mounts`: a lone rw bind is applied in place, anything else temp-mounted."""
    if media_type and media_type not in LAYER_TYPES:
        if media_type.endswith("+zstd"):
            raise NotImplementedErr(f"unsupported diff media type: {media_type}")
        raise NotImplementedErr(f"unsupported diff media type: {media_type}")
    if not mounts:
        raise InvalidArgument("no mounts to apply the diff to", raw=True)
    if len(mounts) == 1 and mounts[0].type == "bind" and "ro" not in mounts[0].options:
        return _apply(blob_path, mounts[0].source)
    os.makedirs(tmp_root, exist_ok=True)
    target = tempfile.mkdtemp(prefix="apply-", dir=tmp_root)
    try:
        mount_all(mounts, target)
        try:
            return _apply(blob_path, target)
        finally:
            unmount_all(target)
    finally:
        if not os.path.ismount(target):
            os.rmdir(target)


def _apply(blob_path: str, target: str) -> archive.Applied:
    try:
        return archive.apply_layer(blob_path, target)
    except archive.ApplyError as exc:
        raise Unknown(str(exc), raw=True) from None
