"""/containers/{id}/exec and /exec/{id}/{start,resize,json}."""
from __future__ import annotations

import asyncio

from aiohttp import web

from ..daemon.daemon import Daemon
from ..errors import Conflict, DockerError
from ..hijack import MULTIPLEXED_STREAM, RAW_STREAM, HijackedConnection
from ..httputils import int_value, json_response, read_json
from ..stdcopy import STDERR, STDOUT, frame


def setup(router, d: Daemon) -> None:
    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        exec_id = d.execs.create(request.match_info["id"], body)
        return json_response({"Id": exec_id}, status=201)

    async def inspect(request: web.Request) -> web.Response:
        return json_response(d.execs.get(request.match_info["id"]).inspect())

    async def resize(request: web.Request) -> web.Response:
        await d.execs.resize(request.match_info["id"], int_value(request, "h", 0) or 0,
                             int_value(request, "w", 0) or 0)
        return web.Response(status=200)

    async def start(request: web.Request) -> web.StreamResponse:
        body = await read_json(request)
        ex = d.execs.get(request.match_info["id"])
        if body.get("ConsoleSize") and len(body["ConsoleSize"]) == 2 and all(body["ConsoleSize"]):
            ex.size = (int(body["ConsoleSize"][0]), int(body["ConsoleSize"][1]))
        if body.get("Detach"):
            task = d.execs.start_background(ex.id)
            # Start errors (a missing executable) are still reported to the caller.
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if task in done and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
            return web.Response(status=200)
        if ex.started:
            raise Conflict(f"Error: Exec command {ex.id} has already run")
        tty = ex.tty
        conn = HijackedConnection(request)
        await conn.upgrade(RAW_STREAM if tty else MULTIPLEXED_STREAM)
        out: asyncio.Queue = asyncio.Queue()

        def output(stream: str, data: bytes) -> None:
            if (stream == "stdout" and ex.attach_stdout) or (stream == "stderr" and ex.attach_stderr):
                out.put_nowait(data if tty else frame(STDERR if stream == "stderr" else STDOUT, data))

        stdin: asyncio.Queue | None = asyncio.Queue() if ex.attach_stdin else None

        async def pump_stdin() -> None:
            while (data := await conn.read()) is not None:
                if stdin is not None:
                    stdin.put_nowait(data)
            if stdin is not None:
                stdin.put_nowait(None)

        async def writer() -> None:
            while (data := await out.get()) is not None:
                if not await conn.write(data):
                    return

        pump = asyncio.create_task(pump_stdin())
        write_task = asyncio.create_task(writer())
        try:
            await d.execs.start(ex.id, output, stdin)
        except DockerError as exc:
            msg = (exc.message + "\r\n").encode()
            out.put_nowait(msg if tty else frame(STDOUT, msg))
        finally:
            out.put_nowait(None)
            await write_task
            pump.cancel()
            conn.close()
        return conn.response

    router.add("POST", "/containers/{id}/exec", create)
    router.add("POST", "/exec/{id}/start", start)
    router.add("POST", "/exec/{id}/resize", resize)
    router.add("GET", "/exec/{id}/json", inspect)
