"""containerd's filter syntax: `field==value,other~=regex`; several filters are OR'ed.

A filter is a comma-separated conjunction of selectors. Each selector is a field path
(dotted, with quoted components for keys such as labels."a.b"), an operator
(==, !=, ~=) and a value (bare or quoted). A bare field path tests for presence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .errdefs import InvalidArgument

Adaptor = Callable[[list[str]], "str | None"]


@dataclass
class Selector:
    path: list[str]
    op: str  # "", "==", "!=", "~="
    value: str = ""

    def match(self, adapt: Adaptor) -> bool:
        got = adapt(self.path)
        if self.op == "":
            return got is not None
        if self.op == "==":
            return got is not None and got == self.value
        if self.op == "!=":
            return got is None or got != self.value
        if got is None:
            return False
        return re.search(self.value, got) is not None


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'/":
        return s[1:-1].encode().decode("unicode_escape") if s[0] == '"' else s[1:-1]
    return s


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside quotes."""
    out, cur, quote = [], [], ""
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            cur.append(ch)
        elif ch == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _parse_selector(text: str) -> Selector:
    m = re.match(r'^\s*((?:[^=!~"]|"[^"]*")+?)\s*(==|!=|~=)\s*(.*?)\s*$', text)
    if m:
        field, op, value = m.group(1), m.group(2), _unquote(m.group(3))
        if op == "~=":
            try:
                re.compile(value)
            except re.error as exc:
                raise InvalidArgument(f"filters: invalid regexp {value!r}: {exc}") from None
    else:
        field, op, value = text.strip(), "", ""
    if not field:
        raise InvalidArgument(f"filters: parse error: [{text}]: expected field")
    path = [_unquote(p) for p in _split(field, ".")]
    return Selector(path, op, value)


def parse(filters: Iterable[str]) -> list[list[Selector]]:
    """Parse filters (OR of ANDs). An empty list matches everything."""
    out = []
    for f in filters:
        if not f.strip():
            continue
        out.append([_parse_selector(s) for s in _split(f, ",") if s.strip()])
    return out


def match(parsed: list[list[Selector]], adapt: Adaptor) -> bool:
    if not parsed:
        return True
    return any(all(sel.match(adapt) for sel in conj) for conj in parsed)


def dict_adaptor(fields: dict[str, Any]) -> Adaptor:
    """Adapt a flat dict of top-level fields; dict values (labels, annotations) take one more key."""

    def adapt(path: list[str]) -> str | None:
        if not path:
            return None
        v = fields.get(path[0])
        if isinstance(v, dict):
            if len(path) < 2:
                return None
            v = v.get(".".join(path[1:]))
            return None if v is None else str(v)
        if len(path) > 1 or v is None:
            return None
        return str(v)

    return adapt
