"""Filters as moby checks and applies them: the keys a list or prune accepts, `label`/`label!`, `until`."""
from __future__ import annotations

import re
import time

from ..errors import InvalidParameter

PRUNE_CONTAINERS = frozenset({"label", "label!", "until"})
PRUNE_VOLUMES = frozenset({"label", "label!", "all"})
PRUNE_IMAGES = frozenset({"dangling", "label", "label!", "until"})
PRUNE_NETWORKS = frozenset({"label", "label!", "until"})
LIST_VOLUMES = frozenset({"dangling", "name", "driver", "label"})
LIST_NETWORKS = frozenset({"dangling", "driver", "id", "label", "name", "scope", "type"})

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_SECONDS = re.compile(r"^-?\d+(\.\d+)?$")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def check(filters: dict[str, list[str]], accepted: frozenset[str]) -> float | None:
    """Refuse a key not in `accepted` (a prune ignoring a filter would remove too much); return the
    `until` cutoff (unix seconds, None without one), read once for the whole prune."""
    for key in filters:
        if key not in accepted:
            raise InvalidParameter(f"invalid filter '{key}'")
    for value in filters.get("dangling") or []:
        if value.lower() not in ("true", "false", "1", "0"):
            raise InvalidParameter(f"invalid filter 'dangling={value}'")
    if len(filters.get("until") or []) > 1:
        raise InvalidParameter("more than one until filter specified")
    until = filters.get("until") or []
    return until_cutoff(until[0]) if until else None


def _kv_match(f: str, labels: dict[str, str]) -> bool:
    k, eq, v = f.partition("=")
    return k in labels and (not eq or labels[k] == v)


def labels_match(filters: dict[str, list[str]], labels: dict[str, str]) -> bool:
    """moby: every `label` filter matches, and not every `label!` filter does."""
    if not all(_kv_match(f, labels) for f in filters.get("label") or []):
        return False
    negated = filters.get("label!") or []
    return not (negated and all(_kv_match(f, labels) for f in negated))


def until_cutoff(value: str, now: float | None = None) -> float:
    """`until` as moby's timetypes.GetTimestamp reads it: a Go duration before now (`24h`, `1h30m`,
    `-1h`), unix seconds (`1700000000.5`), or an RFC 3339 time or date, with its zone offset."""
    now = time.time() if now is None else now
    sign, body = (-1.0, value[1:]) if value.startswith("-") else (1.0, value)
    parts = _DURATION.findall(body)
    if parts and "".join(n + u for n, u in parts) == body:
        return now - sign * sum(float(n) * _UNIT[u] for n, u in parts)
    if _SECONDS.match(value):
        return float(value)
    from datetime import datetime, timezone
    text = value.replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:  # Python parses at most microseconds
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[:min(digits, 6)] + rest[digits:]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(f"failed to parse value as time or duration: \"{value}\"") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # (moby reads a zone-less time as UTC too)
    return when.timestamp()


def older_than(cutoff: float | None, created: float) -> bool:
    """Whether something created at `created` (unix seconds) passes the `until` cutoff check returned."""
    return cutoff is None or created < cutoff
