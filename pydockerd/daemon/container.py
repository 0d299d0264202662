"""The container record pydockerd keeps per container, stored as `config.v2.json`."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger("pydockerd.container")
ZERO_TIME = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    """Current time as RFC3339 with nanoseconds, the way Go prints time.Time."""
    return rfc3339_ns(time.time_ns())


def rfc3339_ns(ns: int) -> str:
    """Unix nanoseconds as RFC3339 with nanoseconds (Go's time.Time in JSON)."""
    base = datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ns % 1_000_000_000:09d}Z"


def parse_rfc3339(value: str) -> float:
    """Seconds since the epoch of an RFC3339 timestamp (nanoseconds truncated to micro)."""
    if not value or value.startswith("0001-"):
        return 0.0
    v = value.rstrip("Z")
    frac = ""
    if "." in v:
        v, frac = v.split(".", 1)
        # drop a trailing zone offset in the fraction part
        for sep in "+-":
            if sep in frac:
                frac = frac.split(sep, 1)[0]
    dt = datetime.strptime(v[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return dt.timestamp() + (float("0." + frac) if frac else 0.0)


@dataclass
class State:
    Status: str = "created"  # created|running|paused|restarting|removing|exited|dead
    Running: bool = False
    Paused: bool = False
    Restarting: bool = False
    OOMKilled: bool = False
    Dead: bool = False
    Pid: int = 0
    ExitCode: int = 0
    Error: str = ""
    StartedAt: str = ZERO_TIME
    FinishedAt: str = ZERO_TIME

    def set_running(self, pid: int) -> None:
        self.Status, self.Running, self.Pid = "running", True, pid
        self.ExitCode, self.Error = 0, ""
        self.StartedAt = now_rfc3339()
        self.FinishedAt = ZERO_TIME

    def set_stopped(self, exit_code: int, error: str = "") -> None:
        self.Status, self.Running, self.Paused, self.Pid = "exited", False, False, 0
        self.ExitCode, self.Error = exit_code, error
        self.FinishedAt = now_rfc3339()


@dataclass
class Container:
    ID: str
    Name: str  # always with the leading "/"
    Created: str
    Path: str
    Args: list[str]
    Config: dict[str, Any]
    HostConfig: dict[str, Any]
    Image: str  # the image ID, sha256:<config digest>
    LogPath: str = ""
    HostnamePath: str = ""
    HostsPath: str = ""
    ResolvConfPath: str = ""
    State: State = field(default_factory=State)
    RestartCount: int = 0
    Driver: str = "overlayfs"
    Platform: str = "linux"
    NetworkSettings: dict[str, Any] = field(default_factory=dict)
    # pydocker's own: the snapshot parent (chain ID of the image's top layer) and the image name used.
    ChainID: str = ""
    ImageName: str = ""
    HasBeenStarted: bool = False
    VolumeMounts: list[dict[str, Any]] = field(default_factory=list)  # volumes.VolumeMount
    RemoveVolumes: bool = False  # `rm -v` in progress: anonymous volumes go too
    ManuallyStopped: bool = False  # docker stop/kill: restart policies leave it alone
    Health: dict[str, Any] = field(default_factory=dict)  # State.Health while a healthcheck exists
    EndpointsConfig: dict[str, Any] = field(default_factory=dict)  # NetworkingConfig.EndpointsConfig
    Endpoints: list[dict[str, Any]] = field(default_factory=list)  # while running: network.EndpointInfo

    @property
    def short_id(self) -> str:
        return self.ID[:12]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Container":
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in obj.items() if k in known}
        state_known = {f.name for f in fields(State)}
        data["State"] = State(**{k: v for k, v in obj.get("State", {}).items() if k in state_known})
        return cls(**data)


class ContainerStore:
    """Atomic JSON records under `<data-root>/containers/<id>/config.v2.json`.

    A save writes a temporary file and renames it over the record at once (a restarted daemon, even
    after SIGKILL, reads the new record from the page cache), and leaves the fsync to a background thread
    that syncs what was saved since its last round in one batch: an fsync takes milliseconds, and on the
    event loop it held up every other request (≈13 ms per container in `run -d` + `rm -f`). `flush()`
    waits for that thread (shutdown calls it). After a power loss (not a process kill) a record saved in
    the last moments before its fsync may be the previous one, or on some filesystems empty: restore
    then skips it, and says so in the log."""

    FILENAME = "config.v2.json"

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, mode=0o710, exist_ok=True)
        self._dirty: set[str] = set()  # container dirs whose record is written but not yet fsync'd
        self._cond = threading.Condition()
        self._syncing = False
        self._syncer: threading.Thread | None = None

    def dir_of(self, cid: str) -> str:
        return os.path.join(self.root, cid)

    def save(self, c: Container) -> None:
        d = self.dir_of(c.ID)
        tmp = os.path.join(d, f".{self.FILENAME}.tmp")
        data = json.dumps(c.to_json(), separators=(",", ":")).encode()
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileNotFoundError:  # the first record of a container (no makedirs, and its stats, every save)
            os.makedirs(d, mode=0o710, exist_ok=True)
            fd = os.open(tmp, flags, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(d, self.FILENAME))
        with self._cond:
            self._dirty.add(d)
            if self._syncer is None:
                self._syncer = threading.Thread(target=self._sync_loop, name="container-store-sync", daemon=True)
                self._syncer.start()
            self._cond.notify()

    def _sync_loop(self) -> None:
        while True:
            with self._cond:
                while not self._dirty:
                    self._syncing = False
                    self._cond.notify_all()
                    self._cond.wait()
                batch, self._dirty = self._dirty, set()
                self._syncing = True
            for d in batch:
                for path in (os.path.join(d, self.FILENAME), d):  # the data, then the rename
                    try:
                        fd = os.open(path, os.O_RDONLY)
                    except OSError:
                        break  # removed meanwhile: nothing to make durable
                    try:
                        os.fsync(fd)
                    except OSError:
                        pass
                    finally:
                        os.close(fd)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every record saved so far is on disk."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._dirty or self._syncing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def load_all(self) -> list[Container]:
        out = []
        for cid in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, cid, self.FILENAME)
            try:
                with open(path, "rb") as f:
                    out.append(Container.from_json(json.load(f)))
            except FileNotFoundError:
                continue  # a half-created directory: nothing to restore
            except (ValueError, TypeError) as exc:
                log.warning("container %s: unreadable record %s skipped: %s", cid, path, exc)
        return out

    def delete(self, cid: str) -> None:
        import shutil
        shutil.rmtree(self.dir_of(cid), ignore_errors=True)
