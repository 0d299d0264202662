"""Rendering of JSON message streams (pull, push, load, import, build) like pkg/jsonmessage."""
from __future__ import annotations

import time

from cli.errors import CLIError
from cli.units import go_duration, human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterable, TextIO


class StreamError(CLIError):
    """An errorDetail in the stream; `code` is the daemon's code (0 when absent)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message, 1)
        self.code = code


def progress_string(detail: dict, width: int, now: float | None = None) -> str:
    """JSONProgress.String: "[==>   ]  1.2MB/3.4MB 2s"."""
    current = detail.get("current") or 0
    total = detail.get("total") or 0
    units = detail.get("units") or ""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current, 4):>8}" if not units else f"{current} {units}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = ""
    if width > 110:
        bar = "[" + "=" * percentage + ">" + " " * max(50 - percentage, 0) + "] "
    if detail.get("hidecounts"):
        numbers = ""
    elif not units:
        numbers = f"{human_size(current, 4):>8}/{human_size(total, 4)}"
        if current > total:
            numbers = f"{human_size(current, 4):>8}"
    else:
        numbers = f"{current}/{total} {units}"
        if current > total:
            numbers = f"{current} {units}"
    left = ""
    start = detail.get("start") or 0
    if current > 0 and start > 0 and percentage < 50 and width > 50:
        elapsed = (now if now is not None else time.time()) - start
        remaining = int((total - current) * (elapsed / current))
        left = " " + go_duration(remaining)
    return bar + numbers + left


def _display(msg: dict, out: TextIO, terminal: bool, width: int) -> None:
    endl = ""
    detail = msg.get("progressDetail")
    has_progress = isinstance(detail, dict)
    if terminal and not msg.get("stream") and has_progress:
        out.write("\x1b[2K\r")  # clear the line
        endl = "\r"
    elif has_progress and progress_string(detail, width):
        return  # progress bars only make sense on a terminal
    if msg.get("id"):
        out.write(f"{msg['id']}: ")
    if msg.get("from"):
        out.write(f"(from {msg['from']}) ")
    status = msg.get("status") or ""
    if has_progress and terminal:
        out.write(f"{status} {progress_string(detail, width)}{endl}")
    elif msg.get("progress"):
        out.write(f"{status} {msg['progress']}{endl}")
    elif msg.get("stream"):
        out.write(f"{msg['stream']}{endl}")
    else:
        out.write(f"{status}{endl}\n")


def display_stream(messages: Iterable[dict], out: TextIO, terminal: bool | None = None,
                   aux: Callable[[dict], None] | None = None) -> None:
    """DisplayJSONMessagesStream: print messages, moving the cursor per layer id on a terminal.

    Raises StreamError on the first errorDetail (the Go CLI ignores a bare "error" field).
    """
    if terminal is None:
        try:
            terminal = out.isatty()
        except (AttributeError, ValueError):
            terminal = False
    width = 200
    if terminal:
        import os
        try:
            width = os.get_terminal_size(out.fileno()).columns
        except (OSError, ValueError, AttributeError):
            width = 80
    ids: dict[str, int] = {}
    for msg in messages:
        err = msg.get("errorDetail")
        if err:
            out.flush()
            raise StreamError(err.get("message") or "", err.get("code") or 0)
        if "aux" in msg and msg["aux"] is not None:
            if aux:
                aux(msg["aux"])
            continue
        mid = msg.get("id") or ""
        diff = 0
        if mid and (isinstance(msg.get("progressDetail"), dict) or msg.get("progress")):
            line = ids.get(mid)
            if line is None:
                line = len(ids)
                ids[mid] = line
                if terminal:
                    out.write("\n")
            diff = len(ids) - line
            if terminal and diff:
                out.write(f"\x1b[{diff}A")
        else:
            ids = {}
        _display(msg, out, terminal, width)
        if mid and terminal and diff:
            out.write(f"\x1b[{diff}B")
        out.flush()
