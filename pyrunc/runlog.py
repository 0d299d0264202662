"""runc-compatible log output: logrus-style lines in ``--log`` (json or text), or on stderr.

Kept tiny on purpose: the ``logging`` module costs ~20 ms of start-up.
"""
from __future__ import annotations

import os
import sys
import time

_fd: int | None = None
_json = False
_debug = False


def setup(path: str | None, fmt: str, debug: bool) -> None:
    global _fd, _json, _debug
    _json = fmt == "json"
    _debug = debug
    if _fd is not None:  # a second command in one process (pyrunc serve's standby): its own log only
        try:
            os.close(_fd)
        except OSError:
            pass  # closed already (the standby closes every inherited fd before its second command)
        _fd = None
    if path and path != "/dev/stderr":
        _fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)


def _line(level: str, msg: str) -> bytes:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    if _json:
        from . import jsonlite as json
        return (json.dumps({"level": level, "msg": msg, "time": stamp}, compact=True) + "\n").encode()
    return f'time="{stamp}" level={level} msg={_logfmt(msg)}\n'.encode()


_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/@^+")
_ESC = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _logfmt(value: str) -> str:
    """logrus' text formatter: bare when every character is safe, else Go-quoted (strconv.Quote:
    a newline shows as \\n, not as a line break)."""
    if all(c in _BARE for c in value):
        return value
    return go_quote(value)


def go_quote(value: str) -> str:
    """Go's %q / strconv.Quote of a string (control characters escaped)."""
    out = []
    for c in value:
        if c in _ESC:
            out.append(_ESC[c])
        elif c < " " or c == "\x7f":
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _write(data: bytes) -> None:
    try:
        os.write(_fd if _fd is not None else 2, data)
    except OSError:
        pass


def error(msg: str) -> None:
    """Log an error; with ``--log`` set, also print the bare message on stderr (as runc does)."""
    _write(_line("error", msg))
    if _fd is not None:
        try:
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def error_logged(msg: str) -> None:
    """An error that does not fail the command (runc's ``logrus.Error``): the log only."""
    _write(_line("error", msg))


def warn(msg: str) -> None:
    _write(_line("warning", msg))


def info(msg: str) -> None:
    _write(_line("info", msg))


def debug(msg: str) -> None:
    if _debug:
        _write(_line("debug", msg))


def log_fd() -> int | None:
    return _fd
