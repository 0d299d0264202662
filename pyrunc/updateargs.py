"""``update``'s inputs read as runc reads them: its flags with Go's number parsers and
go-units' sizes, and ``-r`` decoded into the spec's LinuxResources types (a value of the wrong
JSON type fails with encoding/json's message instead of reaching a cgroup file).

Imported by ``cmd_update`` only."""
from __future__ import annotations

import _json

from .errors import RuncError, oserror_text

_INT_RANGE = {"int64": (-(1 << 63), (1 << 63) - 1), "uint64": (0, (1 << 64) - 1),
              "uint32": (0, (1 << 32) - 1), "uint16": (0, (1 << 16) - 1)}


# --- flags -----------------------------------------------------------------------------------

def _go_syntax_int(text: str, base: int) -> int | None:
    """The integer strconv.Parse{Int,Uint}(text, base) would read, None on a syntax error
    (base 0: 0x/0o/0b prefixes, a leading 0 for octal, underscores between digits)."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or body != body.strip():
        return None
    if base == 10:
        if not body.isascii() or not body.isdigit():
            return None
        val = int(body)
    else:
        # underscores only between digits (or after a base prefix): Go's underscoreOK
        if body[:1] == "_" or body[-1:] == "_" or "__" in body:
            return None
        lower = body.lower()
        try:
            if lower.startswith(("0x", "0o", "0b")):
                val = int(body, 0)
            elif len(body) > 1 and body[0] == "0":
                digits = body[1:].lstrip("_")
                val = int(digits, 8) if digits else 0
            else:
                if not body.replace("_", "").isascii() or not body.replace("_", "").isdigit():
                    return None
                val = int(body)
        except ValueError:
            return None
    return -val if text[:1] == "-" else val


def int_flag(opts: dict, name: str) -> int:
    """A urfave/cli IntFlag (Go's flag package: base 0, 64 bits); 0 when not given. A bad
    value is a usage error, found while the flags are parsed (before the container is)."""
    text = opts.get(name)
    if text is None:
        return 0
    val = _go_syntax_int(text, 0)
    if val is None:
        raise RuncError(f'invalid value "{text}" for flag -{name}: parse error')
    lo, hi = _INT_RANGE["int64"]
    if not lo <= val <= hi:
        raise RuncError(f'invalid value "{text}" for flag -{name}: value out of range')
    return val


def strconv_int(name: str, text: str, unsigned: bool) -> int:
    """strconv.ParseUint/ParseInt(text, 10, 64) with runc's ``invalid value for`` wrapping."""
    fn = "ParseUint" if unsigned else "ParseInt"
    val = None if unsigned and text[:1] in "+-" else _go_syntax_int(text, 10)
    if val is None:
        raise RuncError(f'invalid value for {name}: strconv.{fn}: parsing "{text}": '
                        "invalid syntax")
    lo, hi = _INT_RANGE["uint64" if unsigned else "int64"]
    if not lo <= val <= hi:
        raise RuncError(f'invalid value for {name}: strconv.{fn}: parsing "{text}": '
                        "value out of range")
    return val


_RAM_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(name: str, text: str) -> int:
    """docker/go-units RAMInBytes (``512m``, ``1.5g``, ``10 MiB``; binary units), ``-1`` as
    unlimited, as ``runc update --memory*``."""
    if text == "-1":
        return -1
    s = text
    # the grammar: digits(.digits)* [space] [kmgtp] [i] [b], case-insensitive
    if s[-1:] in "bB" and s:
        s = s[:-1]
    if s[-1:] in "iI" and s:
        s = s[:-1]
    unit = ""
    if s[-1:].lower() in ("k", "m", "g", "t", "p") and s:
        unit, s = s[-1].lower(), s[:-1]
    if s.endswith(" "):
        s = s[:-1]
    parts = s.split(".")
    if not s or not all(p and p.isascii() and p.isdigit() for p in parts):
        raise RuncError(f"invalid value for {name}: invalid size: '{text}'")
    if len(parts) > 2:
        raise RuncError(f'invalid value for {name}: strconv.ParseFloat: parsing "{s}": '
                        "invalid syntax")
    return int(float(s) * _RAM_UNITS[unit])


# --- -r: JSON into specs.LinuxResources --------------------------------------------------------

class _Float(str):
    """A JSON number that is not an integer, kept as its literal (Go quotes it in errors)."""


class _Ctx:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = _Float
    parse_int = int
    memo: dict = {}

    @staticmethod
    def parse_constant(name):
        raise ValueError(f"invalid JSON constant {name}")


_scan = _json.make_scanner(_Ctx())


def _struct(go_name: str, /, **fields) -> tuple:
    return ("struct", go_name, fields)


def _slice(elem) -> tuple:
    return ("slice", elem)


def _map(elem) -> tuple:
    return ("map", elem)


_THROTTLE = _slice(_struct("LinuxThrottleDevice", major="int64", minor="int64", rate="uint64"))
RESOURCES = _struct(
    "LinuxResources",
    devices=_slice(_struct("LinuxDeviceCgroup", allow="bool", type="string", major="int64",
                           minor="int64", access="string")),
    memory=_struct("LinuxMemory", limit="int64", reservation="int64", swap="int64",
                   kernel="int64", kernelTCP="int64", swappiness="uint64",
                   disableOOMKiller="bool", useHierarchy="bool", checkBeforeUpdate="bool"),
    cpu=_struct("LinuxCPU", shares="uint64", quota="int64", burst="uint64", period="uint64",
                realtimeRuntime="int64", realtimePeriod="uint64", cpus="string", mems="string",
                idle="int64"),
    pids=_struct("LinuxPids", limit="int64"),
    blockIO=_struct("LinuxBlockIO", weight="uint16", leafWeight="uint16",
                    weightDevice=_slice(_struct("LinuxWeightDevice", major="int64",
                                                minor="int64", weight="uint16",
                                                leafWeight="uint16")),
                    throttleReadBpsDevice=_THROTTLE, throttleWriteBpsDevice=_THROTTLE,
                    throttleReadIOPSDevice=_THROTTLE, throttleWriteIOPSDevice=_THROTTLE),
    hugepageLimits=_slice(_struct("LinuxHugepageLimit", pageSize="string", limit="uint64")),
    network=_struct("LinuxNetwork", classID="uint32",
                    priorities=_slice(_struct("LinuxInterfacePriority", name="string",
                                              priority="uint32"))),
    rdma=_map(_struct("LinuxRdma", hcaHandles="uint32", hcaObjects="uint32")),
    unified=_map("string"),
)


def _go_name(t) -> str:
    if isinstance(t, str):
        return t
    if t[0] == "struct":
        return "specs." + t[1]
    return ("[]" if t[0] == "slice" else "map[string]") + _go_name(t[1])


def _json_kind(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, _Float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


def _convert(v, t, where: tuple[str, list[str]] | None):
    """``v`` as the Go type ``t`` would hold it; nulls dropped (Go leaves such fields alone).
    ``where``: the innermost struct's name and the JSON field path, for the message."""
    def bad(kind: str):
        if where is None:
            return RuncError(f"json: cannot unmarshal {kind} into Go value of type "
                             f"{_go_name(t)}")
        return RuncError(f"json: cannot unmarshal {kind} into Go struct field "
                         f"{where[0]}.{'.'.join(where[1])} of type {_go_name(t)}")

    kind = _json_kind(v)
    if isinstance(t, str):
        if t == "bool" or t == "string":
            if kind != t:
                raise bad(kind)
            return v
        if kind != "number":
            raise bad(kind)
        lo, hi = _INT_RANGE[t]
        if isinstance(v, _Float) or not lo <= v <= hi:
            raise bad(f"number {v}")
        return v
    if t[0] == "struct":
        if kind != "object":
            raise bad(kind)
        out = {}
        fields = t[2]
        lowered = {k.lower(): k for k in fields}
        path = where[1] if where else []
        for key, val in v.items():
            # encoding/json matches keys case-insensitively when no field has the exact name
            name = key if key in fields else lowered.get(key.lower())
            if name is None or val is None:
                continue
            out[name] = _convert(val, fields[name], (t[1], path + [name]))
        return out
    if t[0] == "slice":
        if kind != "array":
            raise bad(kind)
        return [_convert(e, t[1], where) for e in v if e is not None]
    if kind != "object":
        raise bad(kind)
    return {k: _convert(e, t[1], where) for k, e in v.items() if e is not None}


def _decode_first(text: str):
    """The first JSON value of ``text``, as Go's json.Decoder reads it (what follows is not
    looked at); a syntax error in Go's words where the common ones are easy to name."""
    i = 0
    while i < len(text) and text[i] in " \t\n\r":
        i += 1
    if i == len(text):
        raise RuncError("EOF")
    try:
        return _scan(text, i)[0]
    except (StopIteration, ValueError, SystemError):
        pass
    import json
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        raise RuncError(_go_syntax_error(text, e.pos, e.msg)) from None
    raise RuncError("invalid JSON")  # not reached: the scanner and json agree


_AFTER = {"Expecting value": "looking for beginning of value",
          "Expecting property name enclosed in double quotes":
              "looking for beginning of object key string",
          "Expecting ':' delimiter": "after object key",
          "Extra data": "after top-level value"}


def _go_syntax_error(text: str, pos: int, msg: str) -> str:
    """encoding/json's text for the syntax error Python's json found at ``pos``."""
    if pos >= len(text.rstrip()):
        return "unexpected EOF"
    c = text[pos]
    for lit in ("null", "true", "false"):
        if c == lit[0]:  # Python names the literal's start; Go the first wrong letter in it
            for k, want in enumerate(lit):
                if pos + k >= len(text):
                    return "unexpected EOF"
                if text[pos + k] != want:
                    return (f"invalid character {_go_char(text[pos + k])} in literal {lit} "
                            f"(expecting {_go_char(want)})")
    if msg == "Expecting ',' delimiter":
        # inside an object or an array: the innermost bracket open before pos says which
        # (brackets inside strings may mislead it: only the wording depends on it)
        depth, inner = 0, "{"
        for i in range(pos - 1, -1, -1):
            ch = text[i]
            if ch in "]}":
                depth += 1
            elif ch in "[{":
                if depth == 0:
                    inner = ch
                    break
                depth -= 1
        where = "after object key:value pair" if inner == "{" else "after array element"
        return f"invalid character {_go_char(c)} {where}"
    return f"invalid character {_go_char(c)} {_AFTER.get(msg, msg)}"


def _go_char(c: str) -> str:
    """Go's quoteChar: 'x', with a quote or a control character escaped."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    if c.isprintable():
        return f"'{c}'"
    return "'" + repr(c)[1:-1] + "'"


def read_resources(src: str, stdin) -> dict:
    """``update -r FILE`` / ``-r -``: the file decoded into LinuxResources' types."""
    try:
        if src == "-":
            text = stdin.read()
        else:
            with open(src, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
    except OSError as e:
        raise RuncError(f"open {src}: {oserror_text(e)}") from None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    v = _decode_first(text)
    if v is None:
        return {}
    return _convert(v, RESOURCES, None)
