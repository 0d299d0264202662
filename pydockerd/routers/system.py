"""/_ping, /version, /info."""
from __future__ import annotations

from aiohttp import web

from ..daemon import system
from ..daemon.daemon import Daemon
from ..httputils import API_VERSION, json_response

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

    router.add("GET", "/_ping", ping)
    router.add("HEAD", "/_ping", ping)
    router.add("GET", "/version", version)
    router.add("GET", "/info", info)
