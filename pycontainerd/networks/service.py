"""The grpc.aio servicer of ``pycontainerd.services.networks.v1.Networks`` over NetworkManager.

Thin: converts messages, calls the manager, maps NetworkError kinds to status codes with
Docker's message as the status detail (pydockerd maps the code back to the HTTP status).
"""
from __future__ import annotations

import functools
import logging

import grpc

from protos.pycontainerd.services.networks.v1 import networks_pb2 as pb
from protos.pycontainerd.services.networks.v1 import networks_pb2_grpc as pb_grpc

from .errors import NetworkError
from .manager import NetworkManager
from .model import DNSConfig, Endpoint, IPAMConfig, Network, PortBinding

log = logging.getLogger(__name__)

CODES = {
    "not_found": grpc.StatusCode.NOT_FOUND,
    "conflict": grpc.StatusCode.ALREADY_EXISTS,
    "forbidden": grpc.StatusCode.PERMISSION_DENIED,
    "invalid_argument": grpc.StatusCode.INVALID_ARGUMENT,
    "unavailable": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "internal": grpc.StatusCode.INTERNAL,
}


def _rpc(fn):
    @functools.wraps(fn)
    async def wrapper(self, request, context):
        try:
            return await fn(self, request, context)
        except NetworkError as e:
            await context.abort(CODES.get(e.kind, grpc.StatusCode.UNKNOWN), e.message)
        except grpc.aio.AbortError:
            raise
        except Exception as e:   # netlink, iptables, OS errors: the host refused something
            log.exception("networks: %s failed", fn.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, str(e) or type(e).__name__)
    return wrapper


def port_to_pb(p: PortBinding) -> pb.PortBinding:
    return pb.PortBinding(container_port=p.container_port, proto=p.proto, host_ip=p.host_ip,
                          host_port=p.host_port, host_port_end=p.host_port_end)


def port_from_pb(p: pb.PortBinding) -> PortBinding:
    return PortBinding(container_port=p.container_port, proto=p.proto or "tcp", host_ip=p.host_ip,
                       host_port=p.host_port, host_port_end=p.host_port_end)


def endpoint_to_pb(ep: Endpoint) -> pb.Endpoint:
    return pb.Endpoint(id=ep.id, network_id=ep.network_id, container_id=ep.container_id, name=ep.name,
                       aliases=ep.aliases, ipv4_address=ep.ipv4, prefix_len=ep.prefixlen, gateway=ep.gateway,
                       mac_address=ep.mac, ifname=ep.ifname, host_ifname=ep.host_ifname,
                       ports=[port_to_pb(p) for p in ep.ports])


def network_to_pb(n: Network) -> pb.Network:
    return pb.Network(
        id=n.id, name=n.name, driver=n.driver, scope="local", created=n.created,
        ipam=[pb.IPAMConfig(subnet=c.subnet, gateway=c.gateway, ip_range=c.ip_range,
                            aux_addresses=c.aux_addresses) for c in n.ipam],
        internal=n.internal, attachable=n.attachable, labels=n.labels, options=n.options,
        endpoints=[endpoint_to_pb(e) for e in n.endpoints.values()], predefined=n.predefined,
        bridge=n.bridge)


def _filters(fs) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in fs:
        out.setdefault(f.key, []).extend(f.values)
    return out


class NetworksService(pb_grpc.NetworksServicer):
    def __init__(self, manager: NetworkManager) -> None:
        self.m = manager

    @_rpc
    async def Create(self, request, context):
        net = await self.m.create_network(
            request.name, request.driver or "bridge",
            [IPAMConfig(subnet=c.subnet, gateway=c.gateway, ip_range=c.ip_range,
                        aux_addresses=dict(c.aux_addresses)) for c in request.ipam],
            internal=request.internal, attachable=request.attachable,
            labels=dict(request.labels), options=dict(request.options))
        return pb.CreateNetworkResponse(network=network_to_pb(net))

    @_rpc
    async def Get(self, request, context):
        return pb.GetNetworkResponse(network=network_to_pb(self.m.get_network(request.ref)))

    @_rpc
    async def List(self, request, context):
        nets = self.m.list_networks(_filters(request.filters))
        return pb.ListNetworksResponse(networks=[network_to_pb(n) for n in nets])

    @_rpc
    async def Delete(self, request, context):
        await self.m.delete_network(request.ref)
        return pb.DeleteNetworkResponse()

    @_rpc
    async def Prune(self, request, context):
        return pb.PruneNetworksResponse(deleted=await self.m.prune(_filters(request.filters)))

    @_rpc
    async def CreateSandbox(self, request, context):
        dns = DNSConfig(servers=list(request.dns.servers), search=list(request.dns.search),
                        options=list(request.dns.options))
        sb = await self.m.create_sandbox(request.container_id, request.hostname, request.domainname,
                                         dns, list(request.extra_hosts))
        return pb.CreateSandboxResponse(netns_path=sb.path)

    @_rpc
    async def DeleteSandbox(self, request, context):
        await self.m.delete_sandbox(request.container_id)
        return pb.DeleteSandboxResponse()

    @_rpc
    async def SandboxFiles(self, request, context):
        if request.host_network:
            dns = DNSConfig(servers=list(request.dns.servers), search=list(request.dns.search),
                            options=list(request.dns.options))
            f = self.m.host_network_files(request.hostname, dns, list(request.extra_hosts))
        else:
            f = self.m.sandbox_files(request.container_id)
        return pb.SandboxFilesResponse(hosts=f["hosts"], resolv_conf=f["resolv.conf"], hostname=f["hostname"])

    @_rpc
    async def Connect(self, request, context):
        ep = await self.m.connect(request.network, request.container_id, request.name, list(request.aliases),
                                  request.ipv4_address, [port_from_pb(p) for p in request.ports])
        return pb.ConnectResponse(endpoint=endpoint_to_pb(ep))

    @_rpc
    async def Disconnect(self, request, context):
        await self.m.disconnect(request.network, request.container_id, request.force)
        return pb.DisconnectResponse()

    @_rpc
    async def Ports(self, request, context):
        out = [pb.PortMapping(network_id=n.id, container_ip=e.ipv4, binding=port_to_pb(p))
               for n, e, p in self.m.port_bindings(request.container_id)]
        return pb.PortsResponse(ports=out)


def register(server: grpc.aio.Server, manager: NetworkManager) -> NetworksService:
    """Add the Networks service to a grpc.aio server (the manager must be started by the caller)."""
    svc = NetworksService(manager)
    pb_grpc.add_NetworksServicer_to_server(svc, server)
    return svc
