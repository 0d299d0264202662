"""/_ping, /version, /info, /events, /system/df."""
from __future__ import annotations

import asyncio
import time

from aiohttp import web

from ..daemon import system
from ..daemon.daemon import Daemon
from ..daemon.events import matches
from ..httputils import API_VERSION, json_bytes, json_response, parse_filters, request_version, version_tuple

_PING_HEADERS = {
    "Api-Version": API_VERSION, "Ostype": "linux", "Docker-Experimental": "false", "Swarm": "inactive",
    "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
    # "1": the classic /build endpoint (CLI 20.10 would switch to BuildKit on "2").
    "Builder-Version": "1",
}


def setup(router, d: Daemon) -> None:
    async def ping(request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return web.Response(body=b"", content_type="text/plain", charset="utf-8", headers=_PING_HEADERS)
        return web.Response(text="OK", content_type="text/plain", charset="utf-8", headers=_PING_HEADERS)

    async def version(request: web.Request) -> web.Response:
        try:
            cd_version, _ = await d.client.version(timeout=2)
        except Exception:
            cd_version = ""
        return json_response(system.version(cd_version))

    async def info(request: web.Request) -> web.Response:
        images = await d.images.list()
        return json_response(await system.info(d, len(images)))

    async def events(request: web.Request) -> web.StreamResponse:
        filters = parse_filters(request.query.get("filters"))
        since = _time_param(request.query.get("since", ""))
        until = _time_param(request.query.get("until", ""))
        if since is not None and until is not None and until < since:
            from ..errors import InvalidParameter
            raise InvalidParameter(f"`since` time ({request.query['since']}) cannot be after `until` time "
                                   f"({request.query['until']})")
        history, queue = d.events.subscribe()
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        try:
            await resp.prepare(request)
            now = time.time_ns()
            if since is not None or until is not None:  # (until alone replays too, as moby's buffer)
                for ev in history:
                    if ev.time_nano >= (since or 0) and (until is None or ev.time_nano <= until) \
                            and matches(ev, filters):
                        await resp.write(json_bytes(ev.to_json()) + b"\n")
            if until is not None and until <= now:
                await resp.write_eof()
                return resp
            while True:
                timeout = None if until is None else max(0.0, (until - time.time_ns()) / 1e9)
                try:
                    ev = await asyncio.wait_for(queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
                if matches(ev, filters):
                    await resp.write(json_bytes(ev.to_json()) + b"\n")
            await resp.write_eof()
        except ConnectionError:
            pass
        finally:
            d.events.unsubscribe(queue)
        return resp

    async def df(request: web.Request) -> web.Response:
        return json_response(await system.disk_usage(d, version_tuple(request_version(request))))

    router.add("GET", "/system/df", df)
    router.add("GET", "/events", events)
    router.add("GET", "/_ping", ping)
    router.add("HEAD", "/_ping", ping)
    router.add("GET", "/version", version)
    router.add("GET", "/info", info)


def _time_param(raw: str) -> int | None:
    """`since`/`until`: unix seconds with an optional fraction ("1717000000.123456789") → ns."""
    if not raw:
        return None
    sec, _, frac = raw.partition(".")
    try:
        return int(sec) * 1_000_000_000 + (int((frac + "000000000")[:9]) if frac else 0)
    except ValueError:
        from ..errors import InvalidParameter
        raise InvalidParameter(f"invalid timestamp: {raw}") from None
