"""The few Go formatting rules Docker's texts depend on: strconv.Quote, %q of slices, time.Duration.

Docker records instructions in `created_by` with Go's `%q`/`%v` verbs, and those strings are part of
the build cache key, so they must be byte-identical to what moby writes.
"""
from __future__ import annotations

import re

_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t",
            "\v": r"\v", "\\": "\\\\", '"': '\\"'}


def quote(s: str) -> str:
    """Go's strconv.Quote: printable runes kept, the rest escaped (\\x, \\u, \\U)."""
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= ord(ch) <= 0xDCFF:
            # An undecodable byte kept by surrogateescape: Go prints invalid UTF-8 as \xNN.
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def quote_slice(items: list[str] | None) -> str:
    """`%q` of a []string: `["a" "b"]` (a nil slice prints `[]`)."""
    return "[" + " ".join(quote(i) for i in items or []) + "]"


def value_slice(items: list[str] | None) -> str:
    """`%v` of a []string: `[a b]`."""
    return "[" + " ".join(items or []) + "]"


NANOSECOND = 1
MICROSECOND = 1000
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_UNITS = {"ns": NANOSECOND, "us": MICROSECOND, "\u00b5s": MICROSECOND, "\u03bcs": MICROSECOND,
          "ms": MILLISECOND, "s": SECOND, "m": MINUTE, "h": HOUR}
_NUM = re.compile(r"([0-9]*)(\.[0-9]*)?")
_MAX = (1 << 63) - 1


class DurationError(ValueError):
    pass


def parse_duration(s: str) -> int:
    """Go's time.ParseDuration, in nanoseconds, with its error texts."""
    orig = s
    invalid = DurationError(f"time: invalid duration {quote(orig)}")
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        m = _NUM.match(s)
        whole, frac = m.group(1), m.group(2) or ""
        if not whole and len(frac) <= 1:
            raise invalid
        s = s[m.end():]
        i = 0
        while i < len(s) and s[i] != "." and not s[i].isdigit():
            i += 1
        unit = s[:i]
        s = s[i:]
        if not unit:
            raise DurationError(f"time: missing unit in duration {quote(orig)}")
        if unit not in _UNITS:
            raise DurationError(f"time: unknown unit {quote(unit)} in duration {quote(orig)}")
        scale = _UNITS[unit]
        value = int(whole or "0") * scale
        if len(frac) > 1:
            digits = frac[1:]
            value += int(digits) * scale // (10 ** len(digits))
        total += value
        if total > _MAX:
            raise invalid
    return -total if neg else total


def _fmt_frac(v: int, prec: int) -> tuple[str, int]:
    digits = []
    printed = False
    for _ in range(prec):
        d = v % 10
        printed = printed or d != 0
        if printed:
            digits.append(str(d))
        v //= 10
    frac = "".join(reversed(digits))
    return ("." + frac if frac else ""), v


def format_duration(ns: int) -> str:
    """Go's time.Duration.String(): `1h0m0s`, `1.5s`, `300ms`, `0s`."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < SECOND:
        if u < MICROSECOND:
            out = f"{u}ns"
        elif u < MILLISECOND:
            frac, whole = _fmt_frac(u, 3)
            out = f"{whole}{frac}\u00b5s"
        else:
            frac, whole = _fmt_frac(u, 6)
            out = f"{whole}{frac}ms"
    else:
        frac, secs = _fmt_frac(u, 9)
        out = f"{secs % 60}{frac}s"
        mins = secs // 60
        if mins:
            out = f"{mins % 60}m" + out
            hours = mins // 60
            if hours:
                out = f"{hours}h" + out
    return "-" + out if neg else out
