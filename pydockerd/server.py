"""The HTTP side of pydockerd: the aiohttp app on its unix sockets and TCP ports, moby's middlewares and routing.

Routing follows moby's `CreateMux`: every route exists as `/vX.Y/path` and `/path`; unknown paths
and unknown methods both answer 404 `page not found`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import ssl
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
    """Serves the app on its hosts: unix sockets (mode 0660, group `docker` when it exists) and TCP
    (`tcp://host:port`, with TLS when given an SSL context); a bare path is a unix socket."""

    def __init__(self, app: web.Application, *hosts: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.hosts = [h if "://" in h else "unix://" + h for h in hosts]
        self.ssl_context = ssl_context
        self._runner: _Runner | None = None
        self._sockets: list[str] = []
        self.addresses: list[str] = []  # where we listen, with the bound ports (`tcp://127.0.0.1:2376`)

    @property
    def socket_path(self) -> str:
        """The first unix socket served."""
        return next(h[len("unix://"):] for h in self.hosts if h.startswith("unix://"))

    async def start(self) -> None:
        self._runner = _Runner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            for host in self.hosts:
                if host.startswith("unix://"):
                    await self._start_unix(host[len("unix://"):])
                else:
                    await self._start_tcp(host)
        except BaseException:
            await self.stop()
            raise

    async def _start_unix(self, path: str) -> None:
        assert self._runner is not None
        if os.path.exists(path) and stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        await web.UnixSite(self._runner, path).start()
        self._sockets.append(path)
        self.addresses.append("unix://" + path)
        os.chmod(path, 0o660)
        try:
            import grp
            os.chown(path, 0, grp.getgrnam("docker").gr_gid)
        except (KeyError, PermissionError):
            pass

    async def _start_tcp(self, host: str) -> None:
        from .listeners import TLSSite, split_tcp  # noqa: PLC0415
        assert self._runner is not None
        name, port = split_tcp(host)
        site: web.BaseSite
        if self.ssl_context is not None:
            site = TLSSite(self._runner, name, port, self.ssl_context)
        else:
            site = web.TCPSite(self._runner, name, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise OSError(exc.errno, f"listen tcp {name}:{port}: {exc.strerror}") from None
        for sock in getattr(site, "_server").sockets:
            addr = sock.getsockname()
            self.addresses.append(f"tcp://[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"tcp://{addr[0]}:{addr[1]}")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for path in self._sockets:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self._sockets = []
