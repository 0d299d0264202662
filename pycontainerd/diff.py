"""Diff service core: apply a layer blob onto mounts (Apply) and turn a snapshot's changes into a layer (Diff)."""
from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

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
    check_media_type(media_type)
    with open(blob_path, "rb") as src:
        return apply_stream_to_mounts(src, media_type, mounts, tmp_root)


def check_media_type(media_type: str) -> None:
    if media_type and media_type not in LAYER_TYPES:
        raise NotImplementedErr(f"unsupported diff media type: {media_type}")


def apply_stream_to_mounts(src: BinaryIO, media_type: str, mounts: list[Mount], tmp_root: str,
                           applier: archive.ApplierServer | None = None) -> archive.Applied:
    """`apply_to_mounts` for a layer read from `src` (e.g. one still downloading); `applier` forks the
    chrooted child (a caller applying several layers starts one), else a process is started for it."""
    check_media_type(media_type)
    if not mounts:
        raise InvalidArgument("no mounts to apply the diff to", raw=True)
    if len(mounts) == 1 and mounts[0].type == "bind" and "ro" not in mounts[0].options:
        return _apply(src, mounts[0].source, applier)
    os.makedirs(tmp_root, exist_ok=True)
    target = tempfile.mkdtemp(prefix="apply-", dir=tmp_root)
    try:
        workdir = _mount_unsynced(mounts, target)
        try:
            return _apply(src, target, applier)
        finally:
            unmount_all(target)
            if workdir:
                _clear_volatile(workdir)
    finally:
        if not os.path.ismount(target):
            os.rmdir(target)


def _mount_unsynced(mounts: list[Mount], target: str) -> str:
    """Mount `mounts` on `target`; a lone overlay with `volatile` (Linux 5.10+), returning its workdir.

    Unmounting an overlay syncs its whole upper filesystem (every dirty page on it, other tenants' too:
    ~50 ms per 40 MB layer here). Docker and containerd write a layer straight into the upper directory
    and never sync it; `volatile` gives the mounted apply the same cost. The kernel then marks the workdir
    so that the next mount refuses it; `_clear_volatile` lifts that right after our own clean unmount."""
    if len(mounts) == 1 and mounts[0].type == "overlay" and "volatile" not in mounts[0].options:
        m = mounts[0]
        workdir = next((o.split("=", 1)[1] for o in m.options if o.startswith("workdir=")), "")
        if workdir and any(o.startswith("upperdir=") for o in m.options):
            try:
                mount_all([Mount(m.type, m.source, m.target, ["volatile", *m.options])], target)
                return workdir
            except OSError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: a kernel without volatile; mount as given
                    raise
    mount_all(mounts, target)
    return ""


def _clear_volatile(workdir: str) -> None:
    marker = os.path.join(workdir, "work", "incompat", "volatile")
    shutil.rmtree(marker, ignore_errors=True)
    try:
        os.rmdir(os.path.dirname(marker))
    except OSError:
        pass


def _apply(src: BinaryIO, target: str, applier: archive.ApplierServer | None) -> archive.Applied:
    try:
        return archive.apply_layer_stream(src, target, applier)
    except archive.ApplyError as exc:
        raise Unknown(str(exc), raw=True) from None


# -- Diff.Diff: the changes of an overlay snapshot as a layer tar

OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
_SKIP_XATTR_PREFIXES = ("trusted.overlay.", "security.selinux")


@dataclass
class Computed:
    path: str          # the (possibly compressed) layer file
    diff_id: str       # sha256 of the uncompressed tar
    compressed: bool


class _HashingWriter:
    """A file-like sink that hashes what passes through (the uncompressed tar stream)."""

    def __init__(self, dst: BinaryIO) -> None:
        self.dst, self.h = dst, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.h.update(data)
        return self.dst.write(data)

    def flush(self) -> None:
        self.dst.flush()


def upper_dir(mounts: list[Mount]) -> tuple[str, str] | None:
    """(upperdir, lowerdir option) of a single overlay mount, ("fs", "") of a lone rw bind, else None."""
    if len(mounts) != 1:
        return None
    m = mounts[0]
    if m.type == "bind" and "ro" not in m.options:
        return m.source, ""
    if m.type != "overlay":
        return None
    opts = dict(o.split("=", 1) for o in m.options if "=" in o)
    if "upperdir" not in opts:
        return None
    return opts["upperdir"], opts.get("lowerdir", "")


def _lower_dirs(mounts: list[Mount]) -> str:
    """The directory stack `left` presents, in overlay lowerdir notation (top first)."""
    if not mounts:
        return ""
    m = mounts[0]
    if len(mounts) == 1 and m.type == "bind":
        return m.source
    if len(mounts) == 1 and m.type == "overlay":
        opts = dict(o.split("=", 1) for o in m.options if "=" in o)
        return ":".join(p for p in (opts.get("upperdir", ""), opts.get("lowerdir", "")) if p)
    return "\0unsupported"


def compute_overlay_diff(left: list[Mount], right: list[Mount], out_dir: str, compress: bool) -> Computed:
    """Write the changes of `right` over `left` as a layer tar: `right` must be an overlay whose lower
    dirs are exactly `left` (a container snapshot over its image), so its upper dir is the diff."""
    upper = upper_dir(right)
    if upper is None:
        raise NotImplementedErr("diff is only supported for an overlay or bind snapshot over its parent")
    upperdir, lowerdir = upper
    if lowerdir == "" and len(left) == 1 and left[0].type == "bind":
        # a native snapshot (a full copy) over its parent's: the diff is what differs between the trees
        def write(sink: "_HashingWriter") -> None:
            _write_changes(left[0].source, upperdir, sink)
    elif lowerdir != _lower_dirs(left):
        raise InvalidArgument("the right mounts are not an overlay of the left mounts", raw=True)
    else:
        def write(sink: "_HashingWriter") -> None:
            _write_upper(upperdir, sink)
    os.makedirs(out_dir, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="diff-", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as raw:
            if compress:
                with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
                    hw = _HashingWriter(gz)  # type: ignore[arg-type]
                    write(hw)
            else:
                hw = _HashingWriter(raw)
                write(hw)
        return Computed(path, "sha256:" + hw.h.hexdigest(), compress)
    except BaseException:
        os.unlink(path)
        raise


class _GoTarFile(tarfile.TarFile):
    """Ends the archive as Go's archive/tar does: two zero blocks, no padding to tarfile's 10240-byte
    record. An empty diff is then the well-known 1024-byte empty tar (sha256:5f70bf18…) that Docker and
    containerd recognise as "no layer" (empty_layer history entries)."""

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.mode in ("a", "w", "x"):
                self.fileobj.write(tarfile.NUL * (tarfile.BLOCKSIZE * 2))
                self.offset += tarfile.BLOCKSIZE * 2
        finally:
            if not self._extfileobj:
                self.fileobj.close()


def _write_upper(upperdir: str, sink: "_HashingWriter") -> None:
    """Tar `upperdir`, turning overlay whiteouts (char 0:0) and opaque dirs into OCI whiteout entries."""
    with _GoTarFile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[arg-type]
        for dirpath, dirnames, filenames in os.walk(upperdir):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, upperdir)
            if rel_dir != ".":
                _add_entry(tf, dirpath, rel_dir)
                if _xattr(dirpath, OVERLAY_OPAQUE_XATTR) == b"y":
                    tf.addfile(_whiteout_info(os.path.join(rel_dir, archive.OPAQUE), dirpath))
            for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                full = os.path.join(dirpath, name)
                rel = os.path.normpath(os.path.join(rel_dir, name))
                st = os.lstat(full)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    tf.addfile(_whiteout_info(os.path.join(os.path.dirname(rel),
                                                           archive.WHITEOUT_PREFIX + name), full))
                    continue
                _add_entry(tf, full, rel)


def _write_changes(lower: str, upper: str, sink: "_HashingWriter") -> None:
    """Tar what `upper` changed against `lower` (snapshots/changes.py), deletions as OCI whiteouts."""
    from .snapshots.changes import DELETE, changes
    with _GoTarFile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[arg-type]
        for kind, rel in changes(lower, upper):
            if kind == DELETE:
                parent, name = os.path.split(rel)
                tf.addfile(_whiteout_info(os.path.join(parent, archive.WHITEOUT_PREFIX + name),
                                          os.path.join(upper, parent) if parent else upper))
            else:
                _add_entry(tf, os.path.join(upper, rel), rel)


def _xattr(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def _whiteout_info(name: str, like: str) -> tarfile.TarInfo:
    st = os.lstat(like)
    ti = tarfile.TarInfo(name)
    ti.mode, ti.uid, ti.gid, ti.mtime = 0o644, st.st_uid, st.st_gid, int(st.st_mtime)
    return ti


def _add_entry(tf: tarfile.TarFile, full: str, rel: str) -> None:
    ti = tf.gettarinfo(full, arcname=rel)
    ti.uname = ti.gname = ""  # names would come from the host's passwd, not the image's
    xattrs = {}
    try:
        names = os.listxattr(full, follow_symlinks=False)
    except OSError:
        names = []
    for n in names:
        if n.startswith(_SKIP_XATTR_PREFIXES):
            continue
        v = _xattr(full, n)
        if v is not None:
            xattrs["SCHILY.xattr." + n] = v.decode("utf-8", "surrogateescape")
    if xattrs:
        ti.pax_headers = xattrs
    if ti.isreg():
        with open(full, "rb") as f:
            tf.addfile(ti, f)
    else:
        tf.addfile(ti)
