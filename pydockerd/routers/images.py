"""/images/*: list, inspect, load (docker load), create from a tar (docker import)."""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from aiohttp import web

from ..daemon import images as images_mod
from ..daemon import reference
from ..daemon import save as save_mod
from ..daemon.daemon import Daemon
from ..errors import DockerError, InvalidParameter, NotFound
from ..httputils import bool_value, json_bytes, json_response, parse_filters, request_version, version_tuple


async def _body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(1 << 20):
        yield chunk


def _error_message(msg: str) -> bytes:
    """moby's streamformatter.FormatError: both fields (errorDetail for the CLI, error for docker-py)."""
    return json_bytes({"errorDetail": {"message": msg}, "error": msg}) + b"\r\n"


async def _json_stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    return resp


def setup(router, d: Daemon) -> None:
    async def list_images(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        imgs = await d.images.list()
        ref_filters = filters.get("reference", []) + ([request.query["filter"]] if request.query.get("filter") else [])
        dangling = filters.get("dangling")
        label_filters = filters.get("label", [])
        ver = version_tuple(request_version(request))
        show_all = bool_value(request, "all")
        shown: list[images_mod.Image] = []
        for key in filters:
            if key not in ("reference", "dangling", "label", "before", "since"):
                raise InvalidParameter(f"invalid filter '{key}'")
        if dangling and dangling[0].lower() not in ("true", "false", "1", "0"):
            raise InvalidParameter(f"invalid filter 'dangling={dangling[0]}'")
        before = [images_mod.created_seconds(await d.images.resolve(r)) for r in filters.get("before", [])]
        since = [images_mod.created_seconds(await d.images.resolve(r)) for r in filters.get("since", [])]
        hidden = set() if show_all else images_mod.intermediates(imgs)
        for img in imgs:
            created = images_mod.created_seconds(img)
            if any(created >= t for t in before) or any(created <= t for t in since):
                continue
            if img.id in hidden:
                continue
            if ref_filters and not any(_ref_match(p, img) for p in ref_filters):
                continue
            if dangling:
                want = dangling[0].lower() in ("true", "1")
                if want != (not img.repo_tags):
                    continue
            labels = img.container_config.get("Labels") or {}
            if label_filters and not all(_label_match(f, labels) for f in label_filters):
                continue
            shown.append(img)
        # sizes only of what is shown; layers the background measurement has not reached are measured now
        sizes = await asyncio.gather(*(d.images.size(img) for img in shown))
        out = [images_mod.summary(img, size, ver) for img, size in zip(shown, sizes)]
        out.sort(key=lambda s: s["Created"], reverse=True)
        return json_response(out)

    async def inspect_image(request: web.Request) -> web.Response:
        img = await d.images.resolve(request.match_info["name"])
        return json_response(images_mod.inspect(img, await d.images.size(img)))

    async def load(request: web.Request) -> web.StreamResponse:
        """`docker load`: per-layer "Loading layer" progress (not with quiet=1, which the CLI sends when its
        output is no terminal) and the result lines, as dockerd streams them."""
        quiet = bool_value(request, "quiet", True)  # moby: BoolValueOrDefault(r, "quiet", true)
        resp = await _json_stream(request)
        try:
            async for status, progress, records in d.images.import_messages(_body_chunks(request), "archive",
                                                                              quiet=quiet):
                d.measure_later(rec.target for rec in records)
                for rec in records:
                    d.events.publish("image", "load", rec.name, {"name": reference.familiar_string(rec.name)})
                if progress:
                    await resp.write(progress + b"\r\n")
                if status:
                    await resp.write(json_bytes({"stream": status.rstrip("\n") + "\n"}) + b"\r\n")
        except DockerError as exc:
            await resp.write(_error_message(exc.message))
        await resp.write_eof()
        return resp

    async def create(request: web.Request) -> web.StreamResponse:
        src = request.query.get("fromSrc", "")
        if request.query.get("fromImage"):
            return await pull(request)
        if src != "-":
            if src:
                raise InvalidParameter(f"importing from {src} is not supported; send the tar in the request body")
            raise InvalidParameter("fromImage or fromSrc is required")
        changes = request.query.getall("changes", [])
        repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
        message, platform = request.query.get("message", ""), request.query.get("platform", "")
        ref, config = d.prepare_import(repo, tag, changes, message, platform)
        resp = await _json_stream(request)
        try:
            image_id = await d.import_rootfs(_body_chunks(request), ref, config)
            d.events.publish("image", "import", image_id, {"name": reference.familiar_string(ref) if ref else ""})
            await resp.write(json_bytes({"status": image_id}) + b"\r\n")
        except DockerError as exc:
            await resp.write(_error_message(exc.message))
        await resp.write_eof()
        return resp

    async def pull(request: web.Request) -> web.StreamResponse:
        """`docker pull`: relay the Registry service's progress; errors before output are HTTP errors."""
        name, tag = request.query["fromImage"], request.query.get("tag", "")
        if tag and ("@" in name or ":" in name.rsplit("/", 1)[-1]):
            raise InvalidParameter("invalid reference format")
        if tag:
            name = f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"
        ref = reference.parse(name)
        stream = d.client.pull(str(ref), request.query.get("platform", ""),
                               request.headers.get("X-Registry-Auth", ""), d.cfg.insecure_registries)
        resp: web.StreamResponse | None = None
        try:
            async for line, records in stream:
                if resp is None:
                    resp = await _json_stream(request)
                if line:
                    await resp.write(line.rstrip(b"\n") + b"\r\n")
                d.measure_later(rec.target for rec in records)
                for rec in records:
                    d.events.publish("image", "pull", reference.familiar_string(rec.name),
                                     {"name": reference.familiar_string(rec.name)})
        except DockerError as exc:
            if resp is None:
                raise  # nothing written yet: a plain HTTP error (404 makes no sense to retry, 401 asks login)
            await resp.write(_error_message(exc.message))
        if resp is None:
            resp = await _json_stream(request)
        await resp.write_eof()
        return resp

    async def push(request: web.Request) -> web.StreamResponse:
        name, tag = request.match_info["name"], request.query.get("tag", "")
        ref = reference.parse(f"{name}:{tag}" if tag else name)
        try:
            await d.images.resolve(str(ref))
        except NotFound:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}") from None
        resp = await _json_stream(request)
        try:
            async for line in d.client.push(str(ref), request.headers.get("X-Registry-Auth", ""),
                                            d.cfg.insecure_registries):
                if line:
                    await resp.write(line.rstrip(b"\n") + b"\r\n")
            d.events.publish("image", "push", ref.familiar(), {"name": ref.familiar()})
        except DockerError as exc:
            await resp.write(_error_message(exc.message))
        await resp.write_eof()
        return resp

    async def tag(request: web.Request) -> web.Response:
        img = await d.images.resolve(request.match_info["name"])
        repo = request.query.get("repo", "")
        if not repo:
            raise InvalidParameter("repository name must have at least one component")
        ref = reference.parse_repo_tag(repo, request.query.get("tag", ""))
        if img.target is None:
            raise InvalidParameter("image has no target")
        try:
            old = (await d.client.get_image(str(ref))).target
        except NotFound:
            old = None
        await d.client.put_image(str(ref), img.target)
        if old is not None and old.digest != img.target.digest:
            # the image the tag left stays as <none>:<none> (moby-dangling@) unless another name holds it
            if not any(r.target.digest == old.digest for r in await d.client.list_images()):
                await d.client.put_image(f"moby-dangling@{old.digest}", old)
        d.events.publish("image", "tag", img.id, {"name": ref.familiar()})
        return web.Response(status=201)

    async def delete(request: web.Request) -> web.Response:
        users = {c.ID: (c.Image, c.State.Running) for c in d.containers.values()}
        image_id = (await d.images.resolve(request.match_info["name"])).id
        out = await images_mod.ImageDeleter(d.images).delete(request.match_info["name"],
                                                             bool_value(request, "force"), users)
        for item in out:
            for action, value in item.items():
                # an untag is the image's event: its ID, and its ID as the name too (as dockerd)
                target = image_id if action == "Untagged" else value
                d.events.publish("image", "untag" if action == "Untagged" else "delete", target, {"name": target})
        return json_response(out)

    async def history(request: web.Request) -> web.Response:
        return json_response(await images_mod.history(d.images, await d.images.resolve(request.match_info["name"])))

    async def save(request: web.Request) -> web.StreamResponse:
        refs = request.query.getall("names", []) or ([request.match_info["name"]] if "name" in request.match_info else [])
        if not refs:
            raise InvalidParameter("no images specified")
        chosen = []
        for r in refs:
            img = await d.images.resolve(r)  # 404 before any byte is written
            try:
                names = [str(reference.parse(r))] if not reference.HEX_ID.match(r) else img.names
            except DockerError:
                names = img.names
            chosen.append((img, [n for n in names if n in img.names] or img.names))
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/x-tar"})
        await resp.prepare(request)
        try:
            async for chunk in save_mod.save_stream(d.client, chosen):
                await resp.write(chunk)
            await resp.write_eof()
        except ConnectionError:
            pass
        for img, _ in chosen:
            d.events.publish("image", "save", img.id, {"name": img.repo_tags[0] if img.repo_tags else ""})
        return resp

    async def prune(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        used = {c.Image for c in d.containers.values()}
        deleted = await images_mod.prune(d.images, filters, used)
        for item in deleted:
            if "Deleted" in item:
                d.events.publish("image", "delete", item["Deleted"], {"name": item["Deleted"]})
        return json_response({"ImagesDeleted": deleted or None, "SpaceReclaimed": 0})

    async def auth(request: web.Request) -> web.Response:
        """`docker login`: POST /auth with an AuthConfig; the CLI stores the credentials on success."""
        try:
            body = await request.json()
        except ValueError:
            raise InvalidParameter("invalid JSON body for /auth") from None
        if not isinstance(body, dict):
            raise InvalidParameter("invalid JSON body for /auth")
        await d.client.login(str(body.get("serveraddress") or ""), str(body.get("username") or ""),
                             str(body.get("password") or ""), d.cfg.insecure_registries)
        return json_response({"Status": "Login Succeeded", "IdentityToken": ""})

    router.add("POST", "/auth", auth)
    router.add("POST", "/images/prune", prune)
    router.add("GET", "/images/get", save)
    router.add("GET", "/images/json", list_images)
    router.add("POST", "/images/load", load)
    router.add("POST", "/images/create", create)
    router.add("GET", "/images/{name:.+}/json", inspect_image)
    router.add("GET", "/images/{name:.+}/history", history)
    router.add("GET", "/images/{name:.+}/get", save)
    router.add("POST", "/images/{name:.+}/tag", tag)
    router.add("POST", "/images/{name:.+}/push", push)
    router.add("DELETE", "/images/{name:.+}", delete)


def _ref_match(pattern: str, img: Any) -> bool:
    import fnmatch
    for tag in img.repo_tags:
        repo = tag.rsplit(":", 1)[0]
        if fnmatch.fnmatch(tag, pattern) or fnmatch.fnmatch(repo, pattern):
            return True
    return False


def _label_match(f: str, labels: dict[str, str]) -> bool:
    k, eq, v = f.partition("=")
    return k in labels and (not eq or labels[k] == v)
