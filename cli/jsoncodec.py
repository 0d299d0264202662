"""JSON on top of the C accelerator `_json`, without importing the `json` package.

`json` pulls in `re` (and through it enum, functools, collections): about a fifth of the CLI's
start-up. The C scanner and string encoders are the same code `json` itself uses.
"""
from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WS = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """The attributes _json.make_scanner reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict = {}


_scan = _json.make_scanner(_Context())
_enc_ascii = _json.encode_basestring_ascii
_enc_utf8 = _json.encode_basestring


class JSONDecodeError(ValueError):
    pass


def raw_decode(s: str, idx: int = 0) -> tuple[Any, int]:
    """Decode one JSON value starting at idx (after whitespace); return it and where it ended."""
    n = len(s)
    while idx < n and s[idx] in _WS:
        idx += 1
    try:
        return _scan(s, idx)
    except StopIteration as e:
        raise JSONDecodeError(f"Expecting value at char {e.value}") from None


def loads(data: str | bytes | bytearray) -> Any:
    s = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    obj, end = raw_decode(s)
    while end < len(s) and s[end] in _WS:
        end += 1
    if end != len(s):
        raise JSONDecodeError(f"Extra data at char {end}")
    return obj


def _float(f: float) -> str:
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "Infinity" if f > 0 else "-Infinity"
    return repr(f)


def dumps(obj: Any, indent: int | None = None, ensure_ascii: bool = True, sort_keys: bool = False,
          separators: tuple[str, str] | None = None) -> str:
    """json.dumps for the types JSON decoding yields (dict, list, tuple, str, int, float, bool, None)."""
    enc = _enc_ascii if ensure_ascii else _enc_utf8
    item_sep, key_sep = separators or ((",", ": ") if indent is not None else (", ", ": "))
    out: list[str] = []

    def emit(o: Any, level: int) -> None:
        if isinstance(o, str):
            out.append(enc(o))
        elif o is None:
            out.append("null")
        elif o is True:
            out.append("true")
        elif o is False:
            out.append("false")
        elif isinstance(o, int):
            out.append(int.__repr__(o))
        elif isinstance(o, float):
            out.append(_float(o))
        elif isinstance(o, dict):
            if not o:
                out.append("{}")
                return
            items = sorted(o.items()) if sort_keys else o.items()
            out.append("{")
            nl = "\n" + " " * (indent * (level + 1)) if indent is not None else ""
            first = True
            for k, v in items:
                if not first:
                    out.append(item_sep)
                first = False
                out.append(nl)
                if not isinstance(k, str):
                    k = "true" if k is True else "false" if k is False else "null" if k is None else str(k)
                out.append(enc(k))
                out.append(key_sep)
                emit(v, level + 1)
            if indent is not None:
                out.append("\n" + " " * (indent * level))
            out.append("}")
        elif isinstance(o, (list, tuple)):
            if not o:
                out.append("[]")
                return
            out.append("[")
            nl = "\n" + " " * (indent * (level + 1)) if indent is not None else ""
            for i, v in enumerate(o):
                if i:
                    out.append(item_sep)
                out.append(nl)
                emit(v, level + 1)
            if indent is not None:
                out.append("\n" + " " * (indent * level))
            out.append("]")
        else:
            raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    emit(obj, 0)
    return "".join(out)
