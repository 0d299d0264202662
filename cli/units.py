"""Human-readable sizes, durations and times, as go-units and Go's time package print them."""
from __future__ import annotations

import time

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _go_g(value: float, precision: int) -> str:
    """Go's %.Ng: like Python's %g but an exponent has at least two digits (same as Python)."""
    return "%.*g" % (precision, value)


def human_size(size: float, precision: int = 3) -> str:
    """units.HumanSizeWithPrecision: decimal units, e.g. 1.99MB."""
    i = 0
    size = float(size)
    while size >= 1000.0 and i < len(_DECIMAL) - 1:
        size /= 1000.0
        i += 1
    return _go_g(size, precision) + _DECIMAL[i]


def bytes_size(size: float) -> str:
    """units.BytesSize: binary units with 4 significant digits, e.g. 23.54GiB."""
    i = 0
    size = float(size)
    while size >= 1024.0 and i < len(_BINARY) - 1:
        size /= 1024.0
        i += 1
    return _go_g(size, 4) + _BINARY[i]


def human_duration(seconds: float) -> str:
    """units.HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def since(unix: float, now: float | None = None) -> str:
    """"<duration> ago" as the CREATED columns print it."""
    return human_duration((now if now is not None else time.time()) - unix) + " ago"


def go_time_string(unix: float) -> str:
    """time.Unix(x, 0).String() in local time: 2026-11-28 08:01:01 +0000 UTC."""
    t = time.localtime(unix)
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", t)


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 (proleptic Gregorian); calendar.timegm would import locale and re."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_rfc3339(value: str) -> float | None:
    """Parse an RFC3339(Nano) timestamp into unix seconds; None for Go's zero time or junk."""
    if not value or value.startswith("0001-01-01"):
        return None
    try:
        date, _, rest = value.partition("T")
        y, mo, d = (int(p) for p in date.split("-"))
        tz = 0
        if rest.endswith("Z"):
            clock = rest[:-1]
        else:
            sign_at = max(rest.rfind("+"), rest.rfind("-"))
            clock, off = rest[:sign_at], rest[sign_at:]
            oh, om = off[1:].split(":")
            tz = (int(oh) * 3600 + int(om) * 60) * (1 if off[0] == "+" else -1)
        hms, _, frac = clock.partition(".")
        h, mi, s = (int(p) for p in hms.split(":"))
        base = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
        return base - tz + (float("0." + frac) if frac else 0.0)
    except (ValueError, IndexError):
        return None


def go_duration(seconds: float) -> str:
    """time.Duration.String() for whole seconds: 0s, 5s, 1m2s, 1h0m0s."""
    s = int(seconds)
    if s == 0:
        return "0s"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def parse_go_duration(text: str) -> float:
    """Parse a Go duration like 10s, 1m30s, 500ms, 2h; a bare number is seconds. ValueError if bad."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    total, num, i = 0.0, "", 0
    if not text:
        raise ValueError(text)
    while i < len(text):
        c = text[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        unit = ""
        while i < len(text) and not (text[i].isdigit() or text[i] == "."):
            unit += text[i]
            i += 1
        if not num or unit not in units:
            raise ValueError(text)
        total += float(num) * units[unit]
        num = ""
    if num:
        raise ValueError(text)
    return total


def parse_bytes(text: str) -> int:
    """units.RAMInBytes: 64m, 1g, 512kb, 1GiB, 1024 (binary multiples); ValueError with go-units' text."""
    sep = max(text.rfind(c) for c in "0123456789. ")
    if sep == -1:
        raise ValueError(f"invalid size: '{text}'")
    if text[sep] != " ":
        num, sfx = text[:sep + 1], text[sep + 1:]
    else:
        num, sfx = text[:sep], text[sep + 1:]
    try:
        size = float(num)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{num}": invalid syntax') from None
    if size < 0:
        raise ValueError(f"invalid size: '{text}'")
    if not sfx:
        return int(size)
    low = sfx.lower()
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    if len(low) > 3 or (low[0] == "b" and len(low) > 1) or (low[0] != "b" and low[0] not in mult) \
            or (len(low) == 2 and low[1] != "b") or (len(low) == 3 and low[1:] != "ib"):
        raise ValueError(f"invalid suffix: '{low}'")
    return int(size) if low[0] == "b" else int(size * mult[low[0]])
