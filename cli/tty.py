"""Terminal handling for attached sessions: raw mode, window size, detach keys."""
from __future__ import annotations

import os

from cli.errors import CLIError

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def detach_keys(flag_value: str) -> str:
    """The detach sequence in force: --detach-keys, else the config's detachKeys, else ctrl-p,ctrl-q."""
    if flag_value:
        return flag_value
    from cli.config import setting
    return setting("detachKeys") or DEFAULT_DETACH_KEYS


def parse_detach_keys(spec: str) -> bytes:
    """Turn Docker's detach-key spec ("ctrl-p,ctrl-q", "a,ctrl-@") into the byte sequence."""
    out = bytearray()
    for key in spec.split(","):
        k = key.strip()
        if len(k) == 1:
            out.append(ord(k))
            continue
        if k.startswith("ctrl-") and len(k) == 6:
            c = k[5]
            if c == "@":
                out.append(0)
            elif "a" <= c <= "z":
                out.append(ord(c) - ord("a") + 1)
            elif c in "[\\]^_":
                out.append(ord(c) - ord("[") + 27)
            else:
                raise CLIError(f"Unknown character: '{k}'")
            continue
        raise CLIError(f"Unknown character: '{k}'")
    return bytes(out)


class EscapeProxy:
    """Watches input for the detach sequence; holds back a partial match until it is decided."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Return (bytes to forward, detached?)."""
        if not self.keys:
            return data, False
        out = bytearray()
        for b in data:
            if b == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    self.matched = 0
                    return bytes(out), True
                continue
            if self.matched:
                out += self.keys[: self.matched]
                self.matched = 0
                if b == self.keys[0]:
                    self.matched = 1
                    continue
            out.append(b)
        return bytes(out), False


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, cols) of the terminal on fd, or None when fd is not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


class RawMode:
    """Context manager putting a terminal fd in raw mode (moby/term MakeRaw) and restoring it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved = None

    def __enter__(self) -> "RawMode":
        if os.isatty(self.fd):
            import termios
            import tty
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            self.saved = None
