"""JSON records of networks and sandboxes, written atomically (temp file, fsync, rename).

Layout under the root: ``networks/<id>.json`` and ``sandboxes/<container id>.json``. A kill -9 at
any moment leaves either the old or the new file, never a torn one.
"""
from __future__ import annotations

import json
import os
import tempfile

from .model import Network, Sandbox


def _write_atomic(path: str, data: dict) -> None:
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
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
    def save_network(self, net: Network) -> None:
        _write_atomic(os.path.join(self.net_dir, f"{net.id}.json"), net.to_dict())

    def delete_network(self, net_id: str) -> None:
        try:
            os.unlink(os.path.join(self.net_dir, f"{net_id}.json"))
        except FileNotFoundError:
            pass

    def load_networks(self) -> list[Network]:
        return [Network.from_dict(d) for d in self._load_all(self.net_dir)]

    # sandboxes
    def save_sandbox(self, sb: Sandbox) -> None:
        _write_atomic(os.path.join(self.sb_dir, f"{sb.container_id}.json"), sb.to_dict())

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
