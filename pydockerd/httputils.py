"""Small HTTP helpers shared by the routers: JSON bodies, query parsing, API versions."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .errors import InvalidParameter, TooLarge

API_VERSION = "1.50"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "28.2.2"


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200) -> web.Response:
    """A JSON response whose Content-Type is exactly `application/json`.

    aiohttp's `json_response` appends `; charset=utf-8`, and the Go client then prints the raw body
    instead of the `message` field.
    """
    return web.Response(body=json_bytes(obj) + b"\n", status=status, content_type="application/json")


def bool_value(request: web.Request, key: str, default: bool = False) -> bool:
    """moby's BoolValue: false only for "", 0, no, false, none (case-insensitive)."""
    if key not in request.query:
        return default
    return request.query[key].strip().lower() not in ("", "0", "no", "false", "none")


def int_value(request: web.Request, key: str, default: int | None = None) -> int | None:
    raw = request.query.get(key, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f"invalid value for {key}: {raw}") from None


def parse_filters(raw: str | None) -> dict[str, list[str]]:
    """Parse `filters` in both the map form (Go client) and the list form (docker-py)."""
    if not raw:
        return {}
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise InvalidParameter(f"invalid filter: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidParameter("invalid filter: filters must be a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out[key] = [k for k, enabled in value.items() if enabled]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif isinstance(value, str):
            out[key] = [value]
        else:
            raise InvalidParameter(f"invalid filter '{key}'")
    return out


def version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)


def request_version(request: web.Request) -> str:
    """The API version of the request (the `/vX.Y` prefix), or the maximum when unversioned."""
    v = request.match_info.get("version")
    return v[1:] if v else API_VERSION


MAX_JSON_BODY = 4 << 20  # JSON requests (create, update, exec…); archives and builds stream


async def read_json(request: web.Request) -> dict[str, Any]:
    """Read an optional JSON object body (empty body → {}), at most MAX_JSON_BODY bytes."""
    if (request.content_length or 0) > MAX_JSON_BODY:
        raise TooLarge(f"request body too large: more than {MAX_JSON_BODY} bytes")
    chunks, size = [], 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_JSON_BODY:
            raise TooLarge(f"request body too large: more than {MAX_JSON_BODY} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise InvalidParameter(f"invalid JSON: {exc}") from None
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise InvalidParameter("invalid JSON: expected an object")
    return obj
