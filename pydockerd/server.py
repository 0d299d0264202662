"""The HTTP side of pydockerd: the aiohttp app on a unix socket, moby's middlewares and routing.

Routing follows moby's `CreateMux`: every route exists as `/vX.Y/path` and `/path`; unknown paths
and unknown methods both answer 404 `page not found`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import stat
from typing import Any, Awaitable, Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from . import httputils
from .errors import DockerError
from .httputils import API_VERSION, ENGINE_VERSION, MIN_API_VERSION, version_tuple

log = logging.getLogger("pydockerd.server")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BACKEND_KEY = web.AppKey("backend", object)


class Router:
    """Registers each route twice, versioned and unversioned, as moby does."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def add(self, method: str, path: str, handler: Handler) -> None:
        self._app.router.add_route(method, r"/{version:v[0-9][0-9.]*}" + path, handler)
        self._app.router.add_route(method, path, handler)


@web.middleware
async def version_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reject API versions outside [min, max] with moby's texts."""
    version = request.match_info.get("version")
    if version:
        v = version[1:]
        if version_tuple(v) < version_tuple(MIN_API_VERSION):
            raise DockerErrorResponse(400, f"client version {v} is too old. Minimum supported API version is "
                                      f"{MIN_API_VERSION}, please upgrade your client to a newer version")
        if version_tuple(v) > version_tuple(API_VERSION):
            raise DockerErrorResponse(400, f"client version {v} is too new. Maximum supported API version is "
                                      f"{API_VERSION}")
    return await handler(request)


class DockerErrorResponse(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> web.Response:
    if status == 304:
        return web.Response(status=304)
    return httputils.json_response({"message": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DockerError as exc:
        if exc.status >= 500:
            log.error("%s %s: %s", request.method, request.path, exc.message)
        else:
            log.debug("%s %s: %s", request.method, request.path, exc.message)
        return error_response(exc.status, exc.message)
    except DockerErrorResponse as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            return error_response(404, "page not found")
        if exc.status >= 400:
            return error_response(exc.status, exc.reason)
        raise
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as exc:  # the client must get a JSON error, not a bare 500 page
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, str(exc) or exc.__class__.__name__)


async def _add_server_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = f"Docker/{ENGINE_VERSION} (linux)"
    response.headers["Api-Version"] = API_VERSION
    response.headers["Ostype"] = "linux"


class HijackAwareHandler(RequestHandler):
    """aiohttp's request handler, except that a half-close on a hijacked connection keeps it open."""

    hijacked: Any = None
    pending_eof = False

    def eof_received(self) -> bool | None:  # type: ignore[override]
        if self.hijacked is not None:
            self.hijacked.half_closed()
            return True  # keep the transport open: we still write the container's output
        req = getattr(self, "_current_request", None)
        if req is not None and req.headers.get("Upgrade", "").lower() == "tcp":
            # EOF before the handler answered an Upgrade request: the hijack picks it up later.
            self.pending_eof = True
            return True
        return super().eof_received()


class HijackAwareServer(Server):
    def __call__(self) -> RequestHandler:
        return HijackAwareHandler(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    async def _make_server(self) -> Server:
        server = await super()._make_server()
        # Same object and state; only the protocol factory differs.
        server.__class__ = HijackAwareServer
        return server


def make_app(backend: Any) -> web.Application:
    from .routers import build, containers, exec as exec_router, images, networks, system, volumes

    app = web.Application(middlewares=[error_middleware, version_middleware], client_max_size=0)
    app[BACKEND_KEY] = backend
    app.on_response_prepare.append(_add_server_headers)
    router = Router(app)
    system.setup(router, backend)
    images.setup(router, backend)
    containers.setup(router, backend)
    exec_router.setup(router, backend)
    networks.setup(router, backend)
    volumes.setup(router, backend)
    build.setup(router, backend)
    return app


class APIServer:
    """Serves the app on a unix socket (mode 0660, group `docker` when it exists)."""

    def __init__(self, app: web.Application, socket_path: str) -> None:
        self.app = app
        self.socket_path = socket_path
        self._runner: _Runner | None = None

    async def start(self) -> None:
        if os.path.exists(self.socket_path) and stat.S_ISSOCK(os.lstat(self.socket_path).st_mode):
            os.unlink(self.socket_path)
        os.makedirs(os.path.dirname(self.socket_path) or ".", exist_ok=True)
        self._runner = _Runner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.UnixSite(self._runner, self.socket_path)
        await site.start()
        os.chmod(self.socket_path, 0o660)
        try:
            import grp
            os.chown(self.socket_path, 0, grp.getgrnam("docker").gr_gid)
        except (KeyError, PermissionError):
            pass

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
