"""/containers/*: create, list, inspect, start, stop, kill, wait, attach, logs, resize, remove."""
from __future__ import annotations

import asyncio

from aiohttp import web

from ..daemon import archive, sizes, validate
from ..daemon.daemon import Daemon
from ..daemon.logs import LogEntry, LogQuery, parse_time_param
from ..errors import Conflict, Forbidden, InvalidParameter
from ..hijack import MULTIPLEXED_STREAM, RAW_STREAM, HijackedConnection
from ..httputils import bool_value, int_value, json_bytes, json_response, parse_filters, read_json
from ..stdcopy import STDERR, STDOUT, frame


def _render(entry_stream: str, data: bytes, tty: bool, prefix: bytes = b"") -> bytes:
    payload = prefix + data
    if tty:
        return payload
    return frame(STDERR if entry_stream == "stderr" else STDOUT, payload)


def _log_bytes(e: LogEntry, tty: bool, timestamps: bool, details: bool = False) -> bytes:
    # moby: [timestamp ][attrs ]line; the json-file entries here carry no attrs, so --details adds " "
    prefix = ((e.time + " ").encode() if timestamps else b"") + (b" " if details else b"")
    return _render(e.stream, e.data, tty, prefix)


def setup(router, d: Daemon) -> None:
    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        validate.create_body(body)
        cid, warnings = await d.create(request.query.get("name", ""), body)
        return json_response({"Id": cid, "Warnings": warnings}, status=201)

    async def list_containers(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        limit = int_value(request, "limit", -1) or -1
        out = d.list(bool_value(request, "all"), limit, filters)
        if bool_value(request, "size"):  # `docker ps -s`: a walk of each writable layer, so only when asked
            await sizes.add_sizes(d, out)
        return json_response(out)

    async def inspect(request: web.Request) -> web.Response:
        info = d.inspect(request.match_info["id"])
        if bool_value(request, "size"):  # `docker inspect --size`
            info = await sizes.inspect_with_sizes(d, info)
        return json_response(info)

    async def start(request: web.Request) -> web.Response:
        await d.start(request.match_info["id"])
        return web.Response(status=204)

    async def stop(request: web.Request) -> web.Response:
        await d.stop(request.match_info["id"], int_value(request, "t"), request.query.get("signal") or None)
        return web.Response(status=204)

    async def kill(request: web.Request) -> web.Response:
        await d.kill(request.match_info["id"], request.query.get("signal") or None)
        return web.Response(status=204)

    async def remove(request: web.Request) -> web.Response:
        if bool_value(request, "link"):
            # `rm -l` removes a legacy link (/parent/alias), which this engine never makes: the name given
            # is a container's own, and that is moby's refusal, not a removal of the container
            d.get(request.match_info["id"])
            raise InvalidParameter("Conflict, cannot remove the default link name of the container")
        await d.remove(request.match_info["id"], bool_value(request, "force"), bool_value(request, "v"))
        return web.Response(status=204)

    async def wait(request: web.Request) -> web.StreamResponse:
        target = await d.wait_prepare(request.match_info["id"], request.query.get("condition", ""))
        # Headers now: `docker run` waits for them before it calls start.
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        if isinstance(target, int):
            code = target
        else:
            # `docker run -d` drops this connection: stop waiting then, leave the container alone.
            closed = asyncio.create_task(_until_closed(request))
            shielded = asyncio.ensure_future(asyncio.shield(target))
            await asyncio.wait({shielded, closed}, return_when=asyncio.FIRST_COMPLETED)
            closed.cancel()
            shielded.cancel()
            if not target.done():
                return resp
            code = target.result()
        try:
            await resp.write(json_bytes({"StatusCode": code, "Error": None}) + b"\n")
            await resp.write_eof()
        except ConnectionError:
            pass
        return resp

    async def resize(request: web.Request) -> web.Response:
        h, w = int_value(request, "h", 0), int_value(request, "w", 0)
        await d.resize(request.match_info["id"], h or 0, w or 0)
        return web.Response(status=200)

    async def logs(request: web.Request) -> web.StreamResponse:
        c = d.get(request.match_info["id"])
        d.check_log_reading(c)
        stdout, stderr = bool_value(request, "stdout"), bool_value(request, "stderr")
        if not (stdout or stderr):
            raise InvalidParameter("Bad parameters: you must choose at least one stream")
        tail_raw = request.query.get("tail", "all")
        tail = -1 if tail_raw in ("", "all") else int(tail_raw) if tail_raw.lstrip("-").isdigit() else -1
        q = LogQuery(stdout=stdout, stderr=stderr, tail=tail,
                     since=parse_time_param(request.query.get("since", "")),
                     until=parse_time_param(request.query.get("until", "")),
                     timestamps=bool_value(request, "timestamps"))
        tty, details = bool(c.Config.get("Tty")), bool_value(request, "details")
        follow = bool_value(request, "follow") and c.State.Running
        hub = d.hub(c)
        entries = d.log_entries(c, q)
        # Subscribing right after the synchronous file read (no await between) misses no line.
        queue = hub.follow() if follow else None
        resp = web.StreamResponse(status=200, headers={"Content-Type": RAW_STREAM if tty else MULTIPLEXED_STREAM})
        try:
            await resp.prepare(request)
            if entries:
                await resp.write(b"".join(_log_bytes(e, tty, q.timestamps, details) for e in entries))
            while queue is not None:
                e = await queue.get()
                if e is None:
                    break
                if q.wants(e):
                    await resp.write(_log_bytes(e, tty, q.timestamps, details))
            await resp.write_eof()
        except ConnectionError:
            pass
        finally:
            if queue is not None:
                hub.unfollow(queue)
        return resp

    async def attach(request: web.Request) -> web.StreamResponse:
        c = d.get(request.match_info["id"])
        if c.State.Paused:
            raise Conflict(f"container {request.match_info['id']} is paused, unpause the container before attach")
        tty = bool(c.Config.get("Tty"))
        want_stdin = bool_value(request, "stdin")
        want_out, want_err = bool_value(request, "stdout"), bool_value(request, "stderr")
        hub = d.hub(c)
        stream = bool_value(request, "stream")
        # Subscribe before answering, so output produced right after start is not missed.
        sub = hub.attach(want_out, want_err) if stream else None
        conn = HijackedConnection(request)
        stdin_task = None
        try:
            await conn.upgrade(RAW_STREAM if tty else MULTIPLEXED_STREAM)
            d.container_event(c, "attach")
            if bool_value(request, "logs"):
                for e in d.log_entries(c, LogQuery(stdout=want_out, stderr=want_err)):
                    await conn.write(_render(e.stream, e.data, tty))
            if sub is None:
                return conn.response
            if want_stdin and c.Config.get("OpenStdin"):
                # moby closes the container's stdin at the client's EOF only without a TTY
                # (`CloseStdin && !TTY`): a TTY session's EOF is usually a detach.
                stdin_task = asyncio.create_task(
                    _pump_stdin(conn, hub, bool(c.Config.get("StdinOnce")) and not tty))
            # A full close by the client (detach) ends the stream; the container keeps running.
            asyncio.get_running_loop().create_task(_on_gone(conn, sub.queue))
            while True:
                item = await sub.queue.get()
                if item is None:
                    break
                stream_name, data = item
                if not await conn.write(_render(stream_name, data, tty)):
                    break
        finally:
            if sub is not None:
                hub.detach(sub)
            if stdin_task is not None:
                stdin_task.cancel()
            conn.close()
        return conn.response

    async def restart(request: web.Request) -> web.Response:
        await d.restart(request.match_info["id"], int_value(request, "t"), request.query.get("signal") or None)
        return web.Response(status=204)

    async def rename(request: web.Request) -> web.Response:
        d.rename(request.match_info["id"], request.query.get("name", ""))
        return web.Response(status=204)

    async def pause(request: web.Request) -> web.Response:
        await d.pause(request.match_info["id"])
        return web.Response(status=204)

    async def unpause(request: web.Request) -> web.Response:
        await d.unpause(request.match_info["id"])
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.StreamResponse:
        stream = bool_value(request, "stream", True)
        one_shot = bool_value(request, "one-shot")
        if one_shot and stream:
            raise InvalidParameter("cannot have stream=true and one-shot=true")
        samples = d.stats(request.match_info["id"], stream, one_shot)
        first = await samples.__anext__()  # a missing container is a 404 before any body
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        try:
            await resp.write(json_bytes(first) + b"\n")
            async for s in samples:
                await resp.write(json_bytes(s) + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            await samples.aclose()
        return resp

    async def changes(request: web.Request) -> web.Response:
        return json_response(await d.changes(request.match_info["id"]))

    async def top(request: web.Request) -> web.Response:
        return json_response(await d.top(request.match_info["id"], request.query.get("ps_args", "")))

    async def prune(request: web.Request) -> web.Response:
        return json_response(await d.prune(parse_filters(request.query.get("filters"))))

    async def archive_head(request: web.Request) -> web.Response:
        c = d.get(request.match_info["id"])
        path = _archive_path(request)
        async with archive.container_root(d, c, write=False) as root:
            _, header = await archive.stat_path(root, path, c)
        return web.Response(status=200, headers={"X-Docker-Container-Path-Stat": header})

    async def archive_get(request: web.Request) -> web.StreamResponse:
        c = d.get(request.match_info["id"])
        path = _archive_path(request)
        async with archive.container_root(d, c, write=False) as root:
            _, header = await archive.stat_path(root, path, c)
            proc = await archive.read_tar(root, path, c)
            d.container_event(c, "archive-path")  # (dockerd's events for docker cp)
            resp = await _relay_tar(request, proc, {"X-Docker-Container-Path-Stat": header})
        return resp

    async def archive_put(request: web.Request) -> web.Response:
        c = d.get(request.match_info["id"])
        path = _archive_path(request)
        if c.HostConfig.get("ReadonlyRootfs"):
            raise Forbidden("container rootfs is marked read-only")
        async with archive.container_root(d, c, write=True) as root:
            await archive.write_tar(root, path, c, request.content.iter_chunked(1 << 16),
                                    bool_value(request, "noOverwriteDirNonDir"), bool_value(request, "copyUIDGID"))
        d.container_event(c, "extract-to-dir")
        return web.Response(status=200)

    async def export(request: web.Request) -> web.StreamResponse:
        c = d.get(request.match_info["id"])
        async with archive.container_root(d, c, write=False, snapshot_only=True) as root:
            proc = await archive.export_tar(root)
            resp = await _relay_tar(request, proc)
        d.container_event(c, "export")
        return resp

    router.add("GET", "/containers/{id}/export", export)
    router.add("HEAD", "/containers/{id}/archive", archive_head)
    router.add("GET", "/containers/{id}/archive", archive_get)
    router.add("PUT", "/containers/{id}/archive", archive_put)
    async def update(request: web.Request) -> web.Response:
        body = await read_json(request)
        validate.update_body(body)
        warnings = await d.update(request.match_info["id"], body)
        return json_response({"Warnings": warnings})

    async def commit(request: web.Request) -> web.Response:
        image_id = await d.commit(request.query.get("container", ""), request.query.get("repo", ""),
                                  request.query.get("tag", ""), request.query.get("author", ""),
                                  request.query.get("comment", ""), request.query.getall("changes", []),
                                  bool_value(request, "pause", True), await read_json(request))
        return json_response({"Id": image_id}, status=201)

    router.add("POST", "/commit", commit)
    router.add("POST", "/containers/{id}/update", update)
    router.add("POST", "/containers/create", create)
    router.add("POST", "/containers/prune", prune)
    router.add("POST", "/containers/{id}/restart", restart)
    router.add("POST", "/containers/{id}/rename", rename)
    router.add("POST", "/containers/{id}/pause", pause)
    router.add("POST", "/containers/{id}/unpause", unpause)
    router.add("GET", "/containers/{id}/top", top)
    router.add("GET", "/containers/{id}/changes", changes)
    router.add("GET", "/containers/{id}/stats", stats)
    router.add("GET", "/containers/json", list_containers)
    router.add("GET", "/containers/{id}/json", inspect)
    router.add("POST", "/containers/{id}/start", start)
    router.add("POST", "/containers/{id}/stop", stop)
    router.add("POST", "/containers/{id}/kill", kill)
    router.add("POST", "/containers/{id}/wait", wait)
    router.add("POST", "/containers/{id}/resize", resize)
    router.add("POST", "/containers/{id}/attach", attach)
    router.add("GET", "/containers/{id}/logs", logs)
    router.add("DELETE", "/containers/{id}", remove)


async def _until_closed(request: web.Request) -> None:
    while request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(0.5)


async def _on_gone(conn: HijackedConnection, queue: asyncio.Queue) -> None:
    await conn.gone.wait()
    queue.put_nowait(None)


async def _pump_stdin(conn: HijackedConnection, hub, stdin_once: bool) -> None:
    while True:
        data = await conn.read()
        if data is None:
            break
        hub.stdin.put_nowait(data)
    # StdinOnce closes the container's stdin when the client's stdin ends (a half-close), not
    # when the client goes away altogether (a detach: the container keeps its stdin).
    if stdin_once and not conn.gone.is_set():
        hub.stdin.put_nowait(None)


async def _relay_tar(request: web.Request, proc, headers: dict[str, str] | None = None) -> web.StreamResponse:
    """Stream a tar-writing child's stdout as the response; a client that goes away kills the child."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar", **(headers or {})})
    await resp.prepare(request)
    assert proc.stdout is not None
    try:
        while chunk := await proc.stdout.read(1 << 16):
            await resp.write(chunk)
        await resp.write_eof()
    except ConnectionError:
        proc.kill()
    await proc.wait()
    return resp


def _archive_path(request: web.Request) -> str:
    """The `path` query of the archive endpoints (docker cp), required as moby requires it."""
    path = request.query.get("path", "")
    if not path:
        raise InvalidParameter("path is required")
    return path
