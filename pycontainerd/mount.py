"""Mounting containerd Mount records (bind/overlay/...) with the mount(2) syscall via ctypes."""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from dataclasses import dataclass, field

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 0x20, 0x400, 0x800, 0x1000, 0x4000
MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
MNT_DETACH = 2

_FLAGS = {
    "ro": (MS_RDONLY, True), "rw": (MS_RDONLY, False), "nosuid": (MS_NOSUID, True), "suid": (MS_NOSUID, False),
    "nodev": (MS_NODEV, True), "dev": (MS_NODEV, False), "noexec": (MS_NOEXEC, True), "exec": (MS_NOEXEC, False),
    "noatime": (MS_NOATIME, True), "nodiratime": (MS_NODIRATIME, True), "relatime": (MS_RELATIME, True),
    "strictatime": (MS_STRICTATIME, True), "bind": (MS_BIND, True), "rbind": (MS_BIND | MS_REC, True),
    "remount": (MS_REMOUNT, True), "defaults": (0, True),
}


@dataclass
class Mount:
    type: str
    source: str
    target: str = ""
    options: list[str] = field(default_factory=list)


def _mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                     data.encode() if data else None)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {source} to {target} (type {fstype or 'none'}, options {data!r}): {os.strerror(e)}")


def parse_options(options: list[str]) -> tuple[int, str]:
    flags, data = 0, []
    for opt in options:
        if opt in _FLAGS:
            bit, on = _FLAGS[opt]
            flags = flags | bit if on else flags & ~bit
        else:
            data.append(opt)
    return flags, ",".join(data)


def mount(m: Mount, target: str) -> None:
    """Mount one record onto `target`; bind mounts with `ro` are remounted read-only."""
    flags, data = parse_options(m.options)
    fstype = "" if m.type == "bind" else m.type
    if flags & MS_BIND:
        _mount(m.source, target, "", flags & (MS_BIND | MS_REC), "")
        if flags & MS_RDONLY:
            _mount("", target, "", flags | MS_REMOUNT | MS_BIND, "")
        return
    _mount(m.source, target, fstype, flags, data)


def mount_all(mounts: list[Mount], target: str) -> None:
    """Mount every record in order; undo the ones already done if one fails."""
    done: list[str] = []
    try:
        for m in mounts:
            # a mount's own target is relative to `target` (containerd's mount.All)
            dest = os.path.join(target, m.target.lstrip("/")) if m.target else target
            mount(m, dest)
            done.append(dest)
    except BaseException:
        for dest in reversed(done):
            unmount(dest)
        raise


def unmount(target: str, flags: int = 0) -> None:
    if _libc.umount2(target.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"unmount {target}: {os.strerror(e)}")


def _mountpoints_under(target: str) -> list[str]:
    real = os.path.realpath(target)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == real or mp.startswith(real.rstrip("/") + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def unmount_all(target: str) -> None:
    """Unmount everything mounted at or below `target`, deepest first (no error if nothing is)."""
    if os.path.ismount(target):
        # The common case, one mount (a rootfs): no scan of the mount table. With 50 containers that
        # table holds 50 overlay mounts with long options, formatted by the kernel on every read.
        try:
            unmount(target)
            if not os.path.ismount(target):
                return  # a plain umount fails (EBUSY) while anything is mounted below: nothing is
        except OSError:
            pass  # busy, or mounts below it: the scan finds them
    for _ in range(64):
        points = _mountpoints_under(target)
        if not points:
            return
        for mp in points:
            try:
                unmount(mp)
            except OSError as exc:
                if exc.errno == errno.EBUSY:
                    unmount(mp, MNT_DETACH)
                elif exc.errno not in (errno.EINVAL, errno.ENOENT):
                    raise


def is_mountpoint(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            real = os.path.realpath(path)
            return any(line.split()[4] == real for line in f)
    except OSError:
        return False
