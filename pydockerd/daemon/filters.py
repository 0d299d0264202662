"""Filters as moby checks and applies them: the keys a list or prune accepts, `label`/`label!`, `until`."""
from __future__ import annotations

import re
import time

from ..errors import InvalidParameter
from .container import parse_rfc3339

PRUNE_CONTAINERS = frozenset({"label", "label!", "until"})
PRUNE_VOLUMES = frozenset({"label", "label!", "all"})
PRUNE_IMAGES = frozenset({"dangling", "label", "label!", "until"})
PRUNE_NETWORKS = frozenset({"label", "label!", "until"})
LIST_VOLUMES = frozenset({"dangling", "name", "driver", "label"})

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def check(filters: dict[str, list[str]], accepted: frozenset[str]) -> None:
    """Refuse a key not in `accepted` (a prune ignoring a filter would remove too much)."""
    for key in filters:
        if key not in accepted:
            raise InvalidParameter(f"invalid filter '{key}'")
    for value in filters.get("until") or []:
        until_cutoff(value)


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
    """`until`: a Go duration before now (`24h`, `1h30m`), unix seconds, or an RFC 3339 time / date."""
    now = time.time() if now is None else now
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return now - sum(float(n) * _UNIT[u] for n, u in parts)
    try:
        return float(value)
    except ValueError:
        pass
    for form in (value, value + "T00:00:00Z"):
        try:
            return parse_rfc3339(form if form.endswith("Z") or "+" in form[10:] else form + "Z")
        except (ValueError, TypeError):
            continue
    raise InvalidParameter(f"failed to parse value as time or duration: \"{value}\"")


def older_than(filters: dict[str, list[str]], created: float) -> bool:
    """Whether something created at `created` (unix seconds) passes the `until` filters."""
    return all(created < until_cutoff(v) for v in filters.get("until") or [])
