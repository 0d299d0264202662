"""JSON records of networks and sandboxes, written atomically (temp file, rename).

Layout under the root: ``networks/<id>.json`` and ``sandboxes/<container id>.json``. A kill -9 at
any moment leaves either the old or the new file, never a torn one.

Only what outlives a reboot is fsynced: a network's creation. Per-container writes (sandboxes,
endpoints added to or removed from a network record) are not: what they describe (namespaces,
veths) dies with the machine and reconcile drops it, and a daemon crash loses no page cache.
ext4's replace-by-rename flush (auto_da_alloc, the default) keeps even those rewrites whole
across a power loss.
"""
from __future__ import annotations

import json
import os
import tempfile

from .model import Network, Sandbox


def _write_atomic(path: str, data: dict, durable: bool = True) -> None:
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if durable:
            dfd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class Store:
    def __init__(self, root: str) -> None:
        self.root = root
        self.net_dir = os.path.join(root, "networks")
        self.sb_dir = os.path.join(root, "sandboxes")
        os.makedirs(self.net_dir, exist_ok=True)
        os.makedirs(self.sb_dir, exist_ok=True)

    # networks
    def save_network(self, net: Network, durable: bool = True) -> None:
        """``durable=False`` for endpoint changes (see the module docstring)."""
        _write_atomic(os.path.join(self.net_dir, f"{net.id}.json"), net.to_dict(), durable)

    def delete_network(self, net_id: str) -> None:
        try:
            os.unlink(os.path.join(self.net_dir, f"{net_id}.json"))
        except FileNotFoundError:
            pass

    def load_networks(self) -> list[Network]:
        return [Network.from_dict(d) for d in self._load_all(self.net_dir)]

    # sandboxes
    def save_sandbox(self, sb: Sandbox) -> None:
        _write_atomic(os.path.join(self.sb_dir, f"{sb.container_id}.json"), sb.to_dict(), durable=False)

    def delete_sandbox(self, container_id: str) -> None:
        try:
            os.unlink(os.path.join(self.sb_dir, f"{container_id}.json"))
        except FileNotFoundError:
            pass

    def load_sandboxes(self) -> list[Sandbox]:
        return [Sandbox.from_dict(d) for d in self._load_all(self.sb_dir)]

    @staticmethod
    def _load_all(d: str) -> list[dict]:
        out = []
        for name in sorted(os.listdir(d)):
            if not name.endswith(".json"):
                continue   # skips the temp files an interrupted write may leave
            with open(os.path.join(d, name)) as f:
                out.append(json.load(f))
        return out
