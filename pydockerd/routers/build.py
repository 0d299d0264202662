"""POST /build: the classic builder (pydockerd.builder) over the daemon's build backend."""
from __future__ import annotations

from aiohttp import web

from ..builder import driver
from ..builder.errors import BuildError, DockerfileError
from ..daemon import images as images_mod
from ..daemon.build_backend import DaemonBuildBackend
from ..daemon.daemon import Daemon
from ..errors import DockerError, InvalidParameter
from ..httputils import json_response


class _StreamOutput:
    """The driver's Output: JSON messages on the response, written as they come."""

    def __init__(self, resp: web.StreamResponse) -> None:
        self.resp = resp

    async def stdout(self, text: str) -> None:
        await self.resp.write(driver.json_stream(text))

    async def stderr(self, text: str) -> None:
        await self.resp.write(driver.json_stderr(text))

    async def aux(self, obj: object) -> None:
        await self.resp.write(driver.json_aux(obj))

    async def progress(self, message: bytes) -> None:
        await self.resp.write(message + b"\r\n")


def setup(router, d: Daemon) -> None:
    async def build(request: web.Request) -> web.StreamResponse:
        if request.query.get("version", "1") == "2":
            raise InvalidParameter("BuildKit is not supported by this daemon; set DOCKER_BUILDKIT=0")
        if request.query.get("remote"):
            raise InvalidParameter("remote build contexts are not supported; send the context in the body")
        try:
            options, dockerfile = driver.options_from_query(request.query)
            ctx = await driver.read_context_async(request.content.iter_chunked(1 << 16), dockerfile,
                                                  tmp_root=d.tmp_root)
        except DockerfileError as exc:
            raise InvalidParameter(exc.message) from None
        backend = DaemonBuildBackend(d, options.host_config, pull=options.pull)
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        try:
            # planning errors (unknown --target, malformed instructions) come before any output: moby
            # answers them with an HTTP error, not in the stream
            build_driver = driver.BuildDriver(ctx, backend, _StreamOutput(resp), options)
        except DockerError:
            ctx.cleanup()
            raise
        try:
            await resp.prepare(request)
            try:
                await build_driver.build()
            except BuildError as exc:
                await resp.write(driver.json_error(exc.message, getattr(exc, "code", None)))
            except DockerError as exc:  # from the backend, after output started: in-band
                await resp.write(driver.json_error(exc.message))
            await resp.write_eof()
        except ConnectionError:
            pass
        finally:
            await backend.cleanup()
            ctx.cleanup()
            d.measure_later(backend.written)  # failed builds keep their steps' images too
        return resp

    async def prune(request: web.Request) -> web.Response:
        """The classic builder's cache is its step images: drop those nothing kept builds on."""
        used = {c.Image for c in d.containers.values()}
        deleted = await images_mod.prune(d.images, {"dangling": ["true"]}, used)
        caches = [x["Deleted"] for x in deleted if "Deleted" in x]
        return json_response({"CachesDeleted": caches or None, "SpaceReclaimed": 0})

    router.add("POST", "/build", build)
    router.add("POST", "/build/prune", prune)
