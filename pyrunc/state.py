"""The per-container state dir (``<root>/<id>/``) and the status derived from the live system.

The stored status is never trusted: like runc, we look at the init's /proc entry (with its start
time, against pid reuse), the freezer, and whether exec.fifo still exists.
"""
from __future__ import annotations

import os
import time

from . import jsonlite as json
from .errors import RuncError

STATE_FILE = "state.json"
FIFO = "exec.fifo"
_ID_EXTRA = frozenset("+-._")


def validate_id(cid: str) -> None:
    if not cid:
        raise RuncError("container id cannot be empty")
    # runc's ^[\w+-\.]+$ (no `re`: it costs ~1.5 ms of start-up)
    if not all(c.isalnum() or c in _ID_EXTRA for c in cid) or not cid.isascii() \
            or cid in (".", ".."):
        raise RuncError(f"invalid id format: {cid}")


def now_rfc3339nano() -> str:
    ns = time.time_ns()
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return base + ("." + frac if frac else "") + "Z"


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a pid, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[19])


class State:
    """A container's saved state plus helpers to derive its live status."""

    def __init__(self, root: str, cid: str, data: dict) -> None:
        self.root = root
        self.id = cid
        self.data = data
        self.dir = os.path.join(root, cid)

    # -- persistence -------------------------------------------------------------------------
    @classmethod
    def load(cls, root: str, cid: str) -> "State":
        validate_id(cid)
        path = os.path.join(root, cid, STATE_FILE)
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            raise RuncError("container does not exist") from None
        except (OSError, ValueError) as e:
            raise RuncError(f"container does not exist: {e}") from None
        return cls(root, cid, data)

    def save(self) -> None:
        """Write state.json atomically (temp file + rename), mode 0600."""
        path = os.path.join(self.dir, STATE_FILE)
        tmp = os.path.join(self.dir, "." + STATE_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, json.dumps(self.data).encode())
        finally:
            os.close(fd)
        os.rename(tmp, path)

    # -- accessors ---------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return int(self.data.get("init_process_pid") or 0)

    @property
    def config(self) -> dict:
        return self.data["config"]

    @property
    def fifo(self) -> str:
        return os.path.join(self.dir, FIFO)

    def init_alive(self) -> bool:
        pid = self.pid
        if pid <= 0:
            return False
        st = proc_stat(pid)
        if st is None or st[0] in ("Z", "X", "x"):
            return False
        return st[1] == int(self.data.get("init_process_start") or 0)

    def frozen(self) -> bool:
        from .cgroups import is_frozen
        return is_frozen(self.data.get("cgroup_paths") or {})

    def status(self) -> str:
        if not self.init_alive():
            return "stopped"
        if self.frozen():
            return "paused"
        if os.path.exists(self.fifo):
            return "created"
        return "running"

    def oci_state(self, status: str | None = None) -> dict:
        """The OCI state object in runc's field order (pid 0 when stopped)."""
        status = status or self.status()
        out = {"ociVersion": self.data.get("ociVersion", "1.0.2-dev"), "id": self.id,
               "pid": 0 if status == "stopped" else self.pid, "status": status,
               "bundle": self.data.get("bundle", ""), "rootfs": self.data.get("rootfs", ""),
               "created": self.data.get("created", "")}
        ann = self.config.get("annotations")
        if ann:
            out["annotations"] = ann
        out["owner"] = self.data.get("owner", "")
        return out


def list_ids(root: str) -> list[str]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [n for n in names if os.path.exists(os.path.join(root, n, STATE_FILE))]
