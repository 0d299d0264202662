"""Container logs in Docker's json-file format: `<data-root>/containers/<id>/<id>-json.log`.

One JSON object per line: `{"log":"hi\\n","stream":"stdout","time":"<RFC3339Nano>"}`. Output is
split into lines per stream (stdout and stderr kept apart), as Docker's log copier does; a partial
line is written when it reaches 16 KiB or when the stream ends.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from .container import now_rfc3339, parse_rfc3339
from .filters import until_cutoff

MAX_LINE = 16 * 1024


@dataclass
class LogEntry:
    stream: str  # "stdout" | "stderr"
    data: bytes
    time: str

    def to_line(self) -> bytes:
        obj = {"log": self.data.decode("utf-8", errors="replace"), "stream": self.stream, "time": self.time}
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class JSONFileWriter:
    """Appends entries to the log file; keeps a partial-line buffer per stream."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def write(self, stream: str, data: bytes) -> list[LogEntry]:
        """Add output; returns the complete entries written (for live followers)."""
        buf = self._partial[stream] + data
        entries = []
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            entries.append(LogEntry(stream, buf[:nl + 1], now_rfc3339()))
            buf = buf[nl + 1:]
        while len(buf) >= MAX_LINE:
            entries.append(LogEntry(stream, buf[:MAX_LINE], now_rfc3339()))
            buf = buf[MAX_LINE:]
        self._partial[stream] = buf
        self._append(entries)
        return entries

    def flush(self) -> list[LogEntry]:
        """Write out partial lines (the stream ended)."""
        entries = [LogEntry(s, b, now_rfc3339()) for s, b in self._partial.items() if b]
        self._partial = {"stdout": b"", "stderr": b""}
        self._append(entries)
        return entries

    def _append(self, entries: list[LogEntry]) -> None:
        if entries and self._fd >= 0:
            os.write(self._fd, b"".join(e.to_line() for e in entries))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass
class LogQuery:
    stdout: bool = True
    stderr: bool = True
    tail: int = -1  # -1: all
    since: float = 0.0
    until: float = 0.0
    timestamps: bool = False

    def wants(self, e: LogEntry) -> bool:
        if e.stream == "stdout" and not self.stdout:
            return False
        if e.stream == "stderr" and not self.stderr:
            return False
        if self.since or self.until:
            t = parse_rfc3339(e.time)
            if self.since and t < self.since:
                return False
            if self.until and t > self.until:
                return False
        return True


def read_entries(path: str, q: LogQuery) -> list[LogEntry]:
    """Entries of the file selected by the query (tail applied last)."""
    out: list[LogEntry] = []
    try:
        with open(path, "rb") as f:
            for line in f:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue  # a torn last line after a crash
                e = LogEntry(obj.get("stream", "stdout"), obj.get("log", "").encode(), obj.get("time", ""))
                if q.wants(e):
                    out.append(e)
    except FileNotFoundError:
        return []
    if q.tail >= 0:
        out = out[len(out) - q.tail:] if q.tail else []
    return out


def parse_time_param(value: str) -> float:
    """`since`/`until`: unix seconds with optional fraction ("1700000000.123456789"), or RFC3339 (with
    its zone offset): filters.until_cutoff's reading; 0 when empty."""
    return until_cutoff(value) if value else 0.0
