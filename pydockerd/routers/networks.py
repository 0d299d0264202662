"""/networks: list, inspect, create, delete, connect, disconnect (pycontainerd's Networks service)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ..daemon import filters as filters_mod
from ..daemon.daemon import Daemon
from ..errors import Forbidden, InvalidParameter, NotFound, NotImplementedYet
from ..httputils import json_response, parse_filters, read_json


def network_json(n: Any, d: Daemon) -> dict[str, Any]:
    containers = {}
    for ep in n.endpoints:
        containers[ep.container_id] = {
            "Name": ep.name, "EndpointID": ep.id, "MacAddress": ep.mac_address,
            "IPv4Address": f"{ep.ipv4_address}/{ep.prefix_len}" if ep.ipv4_address else "", "IPv6Address": ""}
    return {
        "Name": n.name, "Id": n.id, "Created": n.created or "0001-01-01T00:00:00Z", "Scope": n.scope or "local",
        "Driver": n.driver, "EnableIPv4": True, "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None,
                 "Config": [{k: v for k, v in (("Subnet", i.subnet), ("Gateway", i.gateway), ("IPRange", i.ip_range))
                             if v} for i in n.ipam]},
        "Internal": n.internal, "Attachable": n.attachable, "Ingress": False, "ConfigFrom": {"Network": ""},
        "ConfigOnly": False, "Containers": containers, "Options": dict(n.options), "Labels": dict(n.labels),
    }


def setup(router, d: Daemon) -> None:
    def need() -> None:
        if not d.networks_enabled:
            raise NotImplementedYet("networking is not enabled in this daemon (start it with --bridge NAME)")

    async def list_networks(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        filters_mod.check(filters, filters_mod.LIST_NETWORKS)
        if not d.networks_enabled:
            return json_response([])  # no Networks service: there are no networks to show
        nets = await d.client.list_networks(filters)
        return json_response([network_json(n, d) for n in nets])

    async def inspect(request: web.Request) -> web.Response:
        if not d.networks_enabled:
            # a 404, so `docker inspect X` moves on to the next object type
            raise NotFound(f"network {request.match_info['id']} not found")
        return json_response(network_json(await d.client.get_network(request.match_info["id"]), d))

    async def create(request: web.Request) -> web.Response:
        need()
        body = await read_json(request)
        name = body.get("Name") or ""
        if not name:
            raise InvalidParameter("network name must not be empty")
        ipam = [{"subnet": c.get("Subnet", ""), "gateway": c.get("Gateway", ""), "ip_range": c.get("IPRange", "")}
                for c in ((body.get("IPAM") or {}).get("Config") or [])]
        n = await d.client.create_network(name, body.get("Driver") or "bridge", ipam, bool(body.get("Internal")),
                                          bool(body.get("Attachable")), dict(body.get("Labels") or {}),
                                          {k: str(v) for k, v in (body.get("Options") or {}).items()})
        d.events.publish("network", "create", n.id, {"name": n.name, "type": n.driver})
        return json_response({"Id": n.id, "Warning": ""}, status=201)

    async def delete(request: web.Request) -> web.Response:
        if not d.networks_enabled:
            raise NotFound(f"network {request.match_info['id']} not found")
        n = await d.client.get_network(request.match_info["id"])
        try:
            await d.client.delete_network(n.id)
        except Forbidden as e:
            if "has active endpoints" in str(e):   # moby wraps libnetwork's ActiveEndpointsError
                raise Forbidden(f"error while removing network: {e}") from None
            raise
        d.events.publish("network", "destroy", n.id, {"name": n.name, "type": n.driver})
        return web.Response(status=204)

    async def connect(request: web.Request) -> web.Response:
        need()
        body = await read_json(request)
        await d.connect_network(request.match_info["id"], body.get("Container") or "",
                                body.get("EndpointConfig") or {})
        return web.Response(status=200)

    async def disconnect(request: web.Request) -> web.Response:
        need()
        body = await read_json(request)
        await d.disconnect_network(request.match_info["id"], body.get("Container") or "", bool(body.get("Force")))
        return web.Response(status=200)

    async def prune_networks(request: web.Request) -> web.Response:
        filters = parse_filters(request.query.get("filters"))
        filters_mod.check(filters, filters_mod.PRUNE_NETWORKS)
        if not d.networks_enabled:
            return json_response({"NetworksDeleted": None})
        deleted = await d.client.prune_networks(filters)
        for name in deleted:
            d.events.publish("network", "destroy", name, {"name": name})
        return json_response({"NetworksDeleted": deleted or None})

    router.add("POST", "/networks/prune", prune_networks)
    router.add("GET", "/networks", list_networks)
    router.add("GET", "/networks/{id}", inspect)
    router.add("POST", "/networks/create", create)
    router.add("DELETE", "/networks/{id}", delete)
    router.add("POST", "/networks/{id}/connect", connect)
    router.add("POST", "/networks/{id}/disconnect", disconnect)
