"""Docker's JSON progress messages for pull and push.

The registry client reports typed ``ProgressEvent``s; ``PullProgress`` and ``PushProgress`` turn them
into the dicts dockerd streams (``{"status": "Downloading", "progressDetail": {...}, "progress": "[==>  ] …",
"id": "…"}``), so pydockerd can ``json.dumps`` each one onto the wire unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .digests import short_id

# Event kinds the client emits.
RESOLVED = "resolved"            # detail: the resolved manifest/index digest
LAYER_QUEUED = "queued"          # a layer to download (Docker: "Pulling fs layer")
LAYER_WAITING = "waiting"        # a blob waits for a download/upload slot
LAYER_EXISTS = "exists"          # already in the local store (pull) or in the registry (push)
DOWNLOADING = "downloading"      # current/total bytes
VERIFYING = "verifying"
DOWNLOADED = "downloaded"
PREPARING = "preparing"
PUSHING = "pushing"              # current/total bytes
PUSHED = "pushed"
MOUNTED = "mounted"              # detail: the repository path the blob was mounted from
MANIFEST_PUSHED = "manifest-pushed"  # detail: digest, total: manifest size


@dataclass(frozen=True)
class ProgressEvent:
    kind: str
    digest: str = ""
    current: int = 0
    total: int = 0
    detail: str = ""


ProgressCallback = Callable[[ProgressEvent], None]
MessageSink = Callable[[dict[str, Any]], None]

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]


def human_size(size: float) -> str:
    """go-units ``HumanSize``: decimal units, 4 significant digits (``1.234MB``, ``512B``)."""
    i = 0
    while size >= 1000.0 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{_UNITS[i]}"


def progress_bar(current: int, total: int) -> str:
    """jsonmessage ``JSONProgress.String()`` as dockerd renders it (width 200: bar plus counts)."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    pct = min(int(current / total * 100) // 2, 50)
    bar = "[" + "=" * pct + ">" + " " * (50 - pct) + "] "
    counts = f"{human_size(current):>8}" if current > total else f"{human_size(current):>8}/{human_size(total)}"
    return bar + counts


def status(text: str, id: str = "") -> dict[str, Any]:
    """A plain status line (``{"status": …}``, with ``id`` when it belongs to a layer or tag)."""
    msg: dict[str, Any] = {"status": text}
    if id:
        msg["id"] = id
    return msg


def layer_status(text: str, id: str) -> dict[str, Any]:
    """A per-layer line without bytes: dockerd always sends an empty progressDetail for these."""
    return {"status": text, "progressDetail": {}, "id": id}


def layer_progress(text: str, id: str, current: int, total: int) -> dict[str, Any]:
    detail: dict[str, int] = {}
    if current:
        detail["current"] = current
    if total:
        detail["total"] = total
    return {"status": text, "progressDetail": detail, "progress": progress_bar(current, total), "id": id}


def error_message(text: str) -> dict[str, Any]:
    """The final error of a stream: dockerd sends both ``errorDetail`` and ``error``."""
    return {"errorDetail": {"message": text}, "error": text}


class PullProgress:
    """Docker's pull transcript for one reference.

    The client's events drive the download lines; the unpacker calls ``extracting`` and ``pull_complete``;
    the caller ends with ``done(digest, updated)``.
    """

    def __init__(self, emit: MessageSink, *, repository_path: str, tag_or_digest: str, familiar_ref: str):
        self._emit = emit
        self._familiar = familiar_ref
        self._announced = False
        self._repo, self._tag = repository_path, tag_or_digest

    def start(self) -> None:
        """``latest: Pulling from library/busybox``."""
        if not self._announced:
            self._announced = True
            self._emit(status(f"Pulling from {self._repo}", self._tag))

    def __call__(self, ev: ProgressEvent) -> None:
        id = short_id(ev.digest) if ev.digest else ""
        if ev.kind == RESOLVED:
            self.start()
        elif ev.kind == LAYER_EXISTS:
            self._emit(layer_status("Already exists", id))
        elif ev.kind == LAYER_QUEUED:
            self._emit(layer_status("Pulling fs layer", id))
        elif ev.kind == LAYER_WAITING:
            self._emit(layer_status("Waiting", id))
        elif ev.kind == DOWNLOADING:
            self._emit(layer_progress("Downloading", id, ev.current, ev.total))
        elif ev.kind == VERIFYING:
            self._emit(layer_status("Verifying Checksum", id))
        elif ev.kind == DOWNLOADED:
            self._emit(layer_status("Download complete", id))

    def extracting(self, digest: str, current: int, total: int) -> None:
        self._emit(layer_progress("Extracting", short_id(digest), current, total))

    def pull_complete(self, digest: str) -> None:
        self._emit(layer_status("Pull complete", short_id(digest)))

    def done(self, digest: str, *, updated: bool) -> None:
        self._emit(status(f"Digest: {digest}"))
        if updated:
            self._emit(status(f"Status: Downloaded newer image for {self._familiar}"))
        else:
            self._emit(status(f"Status: Image is up to date for {self._familiar}"))


class PushProgress:
    """Docker's push transcript for one repository and tag."""

    def __init__(self, emit: MessageSink, *, repository_name: str, tag: str):
        self._emit = emit
        self._tag = tag
        self._emit(status(f"The push refers to repository [{repository_name}]"))

    def __call__(self, ev: ProgressEvent) -> None:
        id = short_id(ev.digest) if ev.digest else ""
        if ev.kind == PREPARING:
            self._emit(layer_status("Preparing", id))
        elif ev.kind == LAYER_WAITING:
            self._emit(layer_status("Waiting", id))
        elif ev.kind == PUSHING:
            self._emit(layer_progress("Pushing", id, ev.current, ev.total))
        elif ev.kind == PUSHED:
            self._emit(layer_status("Pushed", id))
        elif ev.kind == LAYER_EXISTS:
            self._emit(layer_status("Layer already exists", id))
        elif ev.kind == MOUNTED:
            self._emit(layer_status(f"Mounted from {ev.detail}", id))
        elif ev.kind == MANIFEST_PUSHED:
            self.done(ev.detail, ev.total)

    def done(self, digest: str, size: int) -> None:
        """``latest: digest: sha256:… size: 527`` and the aux message the CLI uses for content trust."""
        self._emit(status(f"{self._tag}: digest: {digest} size: {size}"))
        self._emit({"progressDetail": {}, "aux": {"Tag": self._tag, "Digest": digest, "Size": size}})
