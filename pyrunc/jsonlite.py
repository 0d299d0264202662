"""JSON through the C accelerator ``_json`` only: the ``json`` package imports ``re`` and
compiles its regexes (~3-5 ms), paid by every short command (state, start, kill, delete)."""
from __future__ import annotations

import _json

_ws = " \t\n\r"


def _bad_constant(name: str):
    raise ValueError(f"invalid JSON constant {name}")


class _Ctx:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_bad_constant)
    memo: dict = {}


_scan = _json.make_scanner(_Ctx())
_esc = _json.encode_basestring_ascii


def _default(o):
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


_enc = _json.make_encoder(None, _default, _esc, None, ": ", ", ", False, False, True)
_enc_compact = _json.make_encoder(None, _default, _esc, None, ":", ",", False, False, True)


def loads(s: str | bytes):
    if isinstance(s, (bytes, bytearray)):
        s = s.decode("utf-8")
    i, n = 0, len(s)
    while i < n and s[i] in _ws:
        i += 1
    try:
        obj, end = _scan(s, i)
    except (StopIteration, SystemError, ValueError):
        # error path only: the C scanner needs json.decoder loaded to raise a proper error,
        # so let the full module produce its message
        import json
        return json.loads(s)
    while end < n and s[end] in _ws:
        end += 1
    if end != n:
        raise ValueError(f"invalid character after top-level value at offset {end}")
    return obj


def load(f):
    return loads(f.read())


def dumps(obj, indent: int | str | None = None, compact: bool = False) -> str:
    """``json.dumps`` output (ensure_ascii); ``compact`` drops the spaces, like Go's encoder."""
    if compact:
        return "".join(_enc_compact(obj, 0))
    if indent is None:
        return "".join(_enc(obj, 0))
    pad = indent if isinstance(indent, str) else " " * indent
    return _pretty(obj, pad, "")


def _pretty(obj, pad: str, cur: str) -> str:
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        inner = cur + pad
        items = [f"{inner}{_esc(str(k))}: {_pretty(v, pad, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + cur + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        inner = cur + pad
        return "[\n" + ",\n".join(inner + _pretty(v, pad, inner) for v in obj) + "\n" + cur + "]"
    return "".join(_enc(obj, 0))
