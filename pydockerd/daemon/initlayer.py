"""moby's init layer: what every container finds whether its image has it or not, kept below the
container's own layer so that `docker diff`, `docker commit` and the layer's size leave it out."""
from __future__ import annotations

import os

from ..scope import in_scope

def snapshot_name(chain: str) -> str:
    """The committed snapshot holding the init layer of the image whose top layer is `chain`."""
    return f"{chain}-init"


# path → "dir", "file" or a symlink's target (moby's initlayer.Setup)
ENTRIES = {
    "/dev/pts": "dir", "/dev/shm": "dir", "/proc": "dir", "/sys": "dir",
    "/.dockerenv": "file", "/etc/resolv.conf": "file", "/etc/hosts": "file", "/etc/hostname": "file",
    "/dev/console": "file", "/etc/mtab": "/proc/mounts",
}


def setup(root: str) -> None:
    """Create in the mounted tree `root` each entry the image lacks (root's, 0755), as moby does."""
    for path, kind in ENTRIES.items():
        target = in_scope(root, path)  # (an image's /etc may be a link: never out to the host's)
        if os.path.lexists(target):
            continue
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if kind == "dir":
            os.makedirs(target, mode=0o755, exist_ok=True)
        elif kind == "file":
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))
        else:
            os.symlink(kind, target)
