"""Device nodes and the default /dev symlinks inside the container's /dev."""
from __future__ import annotations

import os
import stat

from . import syscalls as sc
from .mounts import secure_join

DEFAULT_DEVICES = [
    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
    {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5},
    {"path": "/dev/full", "type": "c", "major": 1, "minor": 7},
    {"path": "/dev/random", "type": "c", "major": 1, "minor": 8},
    {"path": "/dev/urandom", "type": "c", "major": 1, "minor": 9},
    {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0},
]
_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def all_devices(spec_devices: list[dict]) -> list[dict]:
    """Spec devices, plus the defaults the spec does not override."""
    paths = {d.get("path") for d in spec_devices}
    return [d for d in DEFAULT_DEVICES if d["path"] not in paths] + list(spec_devices)


def create(rootfs: str, dev: dict, bind: bool) -> None:
    """mknod one device (or, in a user namespace where mknod is refused, bind the host's)."""
    dest = secure_join(rootfs, dev["path"])
    os.makedirs(os.path.dirname(dest), 0o755, exist_ok=True)
    if bind:
        if not os.path.exists(dest):
            os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))
        sc.mount(dev["path"], dest, "bind", sc.MS_BIND)
        return
    kind = _TYPES.get(dev.get("type", "c"))
    if kind is None:
        raise OSError(22, f"{dev.get('type')} is not a valid device type for device {dev['path']}")
    mode = dev.get("fileMode")
    mode = 0o666 if mode is None else mode
    if os.path.lexists(dest):
        os.unlink(dest)
    os.mknod(dest, (mode & 0o7777) | kind, os.makedev(dev.get("major", 0), dev.get("minor", 0)))
    os.chmod(dest, mode & 0o7777)  # mknod is subject to the umask
    os.chown(dest, dev.get("uid", 0) or 0, dev.get("gid", 0) or 0)


def create_all(rootfs: str, spec_devices: list[dict], in_userns: bool, dev_is_tmpfs: bool) -> None:
    devs = all_devices(spec_devices) if dev_is_tmpfs else list(spec_devices)
    old = os.umask(0)
    try:
        for d in devs:
            create(rootfs, d, in_userns)
    finally:
        os.umask(old)


def setup_ptmx_and_links(rootfs: str) -> None:
    """/dev/ptmx -> pts/ptmx, and /dev/fd, stdin, stdout, stderr (and core when /proc/kcore)."""
    ptmx = os.path.join(rootfs, "dev/ptmx")
    if os.path.lexists(ptmx):
        os.unlink(ptmx)
    os.symlink("pts/ptmx", ptmx)
    links = [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"),
             ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")]
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "core"))
    for target, name in links:
        p = os.path.join(rootfs, "dev", name)
        if not os.path.lexists(p):
            os.symlink(target, p)
