"""Build a busybox root filesystem offline from Debian's busybox-static.

Used by the README quick start (to make the default `busybox:latest` image through the normal
import path) and by every test that needs a rootfs or an image.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time

BUSYBOX = "/bin/busybox"

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:26:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
"""
DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555,
        "root": 0o700, "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755,
        "usr/sbin": 0o755, "sbin": 0o755, "var": 0o755, "var/www": 0o755, "var/spool": 0o755,
        "var/spool/mail": 0o755}


def applets() -> list[str]:
    """Return busybox's applets as install paths, e.g. ``/bin/sh``, ``/usr/bin/wget``."""
    out = subprocess.run([BUSYBOX, "--list-full"], check=True, capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def _entries() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    now = int(time.time())

    def info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.size, ti.linkname, ti.mtime = kind, mode, size, link, now
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    entries: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for d, mode in DIRS.items():
        entries.append((info(d, tarfile.DIRTYPE, mode), None))
    with open(BUSYBOX, "rb") as f:
        data = f.read()
    entries.append((info("bin/busybox", tarfile.REGTYPE, 0o755, len(data)), data))
    for path in applets():
        rel = path.lstrip("/")
        if rel == "bin/busybox":
            continue
        # relative symlinks keep the rootfs valid wherever it is mounted
        target = os.path.relpath("/bin/busybox", os.path.dirname(path))
        entries.append((info(rel, tarfile.SYMTYPE, 0o777, link=target), None))
    for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP),
                       ("etc/hostname", ""), ("etc/hosts", ""), ("etc/resolv.conf", "")):
        raw = text.encode()
        entries.append((info(name, tarfile.REGTYPE, 0o644, len(raw)), raw))
    return entries


def write_rootfs_tar(dest: str) -> str:
    """Write the busybox rootfs as an uncompressed tar at ``dest`` and return ``dest``."""
    tmp = dest + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in _entries():
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    os.replace(tmp, dest)
    return dest


def make_rootfs(dest: str) -> str:
    """Create a busybox rootfs directory at ``dest`` (for OCI bundles) and return ``dest``."""
    os.makedirs(dest, exist_ok=True)
    for d, mode in DIRS.items():
        p = os.path.join(dest, d)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, mode)
    shutil.copy2(BUSYBOX, os.path.join(dest, "bin/busybox"))
    for path in applets():
        rel = path.lstrip("/")
        if rel == "bin/busybox":
            continue
        p = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if not os.path.lexists(p):
            os.symlink(os.path.relpath("/bin/busybox", os.path.dirname(path)), p)
    for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP),
                       ("etc/hostname", ""), ("etc/hosts", ""), ("etc/resolv.conf", "")):
        with open(os.path.join(dest, name), "w") as f:
            f.write(text)
    return dest


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 2:
        sys.exit("usage: busybox_rootfs.py OUT.tar")
    print(write_rootfs_tar(sys.argv[1]))
