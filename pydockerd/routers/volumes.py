"""/volumes: create, list, inspect, remove, prune (the local driver)."""
from __future__ import annotations

from aiohttp import web

from ..daemon import filters as filters_mod
from ..daemon.daemon import Daemon
from ..errors import DockerError
from ..httputils import bool_value, json_response, parse_filters, read_json


def setup(router, d: Daemon) -> None:
    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        vol, new = d.volumes.create(body.get("Name") or "", body.get("Labels") or {},
                                    body.get("DriverOpts") or {}, body.get("Driver") or "local")
        if new:
            d.events.publish("volume", "create", vol.Name, {"driver": "local"})
        return json_response(d.volumes.to_json(vol), status=201)

    def _matches(v, filters) -> bool:
        for key, values in filters.items():
            if key == "name" and not any(val in v.Name for val in values):
                return False
            if key == "label" and not filters_mod.labels_match({"label": values}, v.Labels or {}):
                return False
            if key == "dangling":
                dangling = not d.volume_users(v.Name)
                if dangling != (values[0].lower() in ("true", "1")):
                    return False
            if key == "driver" and "local" not in values:
                return False
        return True

    async def list_volumes(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        filters_mod.check(filters, filters_mod.LIST_VOLUMES)
        vols = [d.volumes.to_json(v) for v in d.volumes.list() if _matches(v, filters)]
        return json_response({"Volumes": vols, "Warnings": None})

    async def inspect(request: web.Request) -> web.Response:
        return json_response(d.volumes.to_json(d.volumes.get(request.match_info["name"])))

    async def remove(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            d.volumes.remove(name, d.volume_users(name))
        except DockerError as exc:
            if bool_value(request, "force") and exc.status == 404:
                return web.Response(status=204)
            raise
        d.events.publish("volume", "destroy", name, {"driver": "local"})
        return web.Response(status=204)

    async def prune(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        filters_mod.check(filters, filters_mod.PRUNE_VOLUMES)
        # API >= 1.42: only anonymous volumes unless all=true
        all_ = "all" in filters and filters["all"][0].lower() in ("true", "1")
        deleted = []
        for v in d.volumes.list():
            if d.volume_users(v.Name) or (not all_ and not v.Anonymous):
                continue
            if not filters_mod.labels_match(filters, v.Labels or {}):
                continue
            d.volumes.remove(v.Name, [])
            d.events.publish("volume", "destroy", v.Name, {"driver": "local"})
            deleted.append(v.Name)
        return json_response({"VolumesDeleted": deleted or None, "SpaceReclaimed": 0})

    router.add("POST", "/volumes/create", create)
    router.add("POST", "/volumes/prune", prune)
    router.add("GET", "/volumes", list_volumes)
    router.add("GET", "/volumes/{name}", inspect)
    router.add("DELETE", "/volumes/{name}", remove)
