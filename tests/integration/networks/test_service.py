"""The Networks gRPC service on a unix socket: shapes, and errors as status codes."""
from __future__ import annotations

import grpc
import pytest

from protos.pycontainerd.services.networks.v1 import networks_pb2 as pb
from protos.pycontainerd.services.networks.v1 import networks_pb2_grpc as pb_grpc
from pycontainerd.networks.service import register

from nethelpers import free_subnets, in_ns


@pytest.fixture
async def client(env):
    m = await env.manager()
    server = grpc.aio.server()
    register(server, m)
    sock = env.dir / "net.sock"
    server.add_insecure_port(f"unix://{sock}")
    await server.start()
    channel = grpc.aio.insecure_channel(f"unix://{sock}")
    try:
        yield pb_grpc.NetworksStub(channel), m
    finally:
        await channel.close()
        await server.stop(None)


async def expect(code: grpc.StatusCode, message: str, call) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as ei:
        await call
    assert (ei.value.code(), ei.value.details()) == (code, message)


async def test_networks_over_grpc(client, env):
    stub, m = client
    (sub,) = free_subnets(1)
    name = f"pdtg{env.tag}"
    created = (await stub.Create(pb.CreateNetworkRequest(
        name=name, ipam=[pb.IPAMConfig(subnet=sub)], labels={"k": "v"}))).network
    assert len(created.id) == 64 and created.driver == "bridge" and created.scope == "local"
    assert created.ipam[0].gateway == sub.replace(".0/24", ".1")
    assert created.bridge == f"br-{created.id[:12]}" and created.created.endswith("Z")

    got = (await stub.Get(pb.GetNetworkRequest(ref=created.id[:8]))).network
    assert got.name == name
    listed = (await stub.List(pb.ListNetworksRequest(filters=[pb.Filter(key="type", values=["custom"])]))).networks
    assert [n.name for n in listed] == [name]
    builtin = (await stub.List(pb.ListNetworksRequest(filters=[pb.Filter(key="type", values=["builtin"])]))).networks
    assert sorted(n.name for n in builtin) == ["bridge", "host", "none"]

    await expect(grpc.StatusCode.ALREADY_EXISTS, f"network with name {name} already exists",
                 stub.Create(pb.CreateNetworkRequest(name=name)))
    await expect(grpc.StatusCode.NOT_FOUND, "network nope not found", stub.Get(pb.GetNetworkRequest(ref="nope")))
    await expect(grpc.StatusCode.PERMISSION_DENIED, "host is a pre-defined network and cannot be removed",
                 stub.Delete(pb.DeleteNetworkRequest(ref="host")))
    await expect(grpc.StatusCode.INVALID_ARGUMENT, "invalid network config:\ninvalid subnet nonsense: invalid CIDR block notation",
                 stub.Create(pb.CreateNetworkRequest(name="x" + name, ipam=[pb.IPAMConfig(subnet="nonsense")])))

    cid = f"g{env.tag}" * 4
    path = (await stub.CreateSandbox(pb.CreateSandboxRequest(
        container_id=cid, hostname="web", extra_hosts=["db.local:10.0.0.5"]))).netns_path
    assert path.endswith(f"/netns/{cid}")
    ep = (await stub.Connect(pb.ConnectRequest(
        network=name, container_id=cid, name="web", aliases=["www"],
        ports=[pb.PortBinding(container_port=80, host_ip="127.0.0.1")]))).endpoint
    assert ep.ipv4_address == sub.replace(".0/24", ".2") and ep.prefix_len == 24 and ep.ifname == "eth0"
    assert ep.ports[0].host_port > 0 and ep.ports[0].proto == "tcp"
    rc, out = await in_ns(path, "ip", "-4", "-o", "addr", "show", "eth0")
    assert f"{ep.ipv4_address}/24" in out

    ports = (await stub.Ports(pb.PortsRequest(container_id=cid))).ports
    assert [(p.container_ip, p.binding.container_port) for p in ports] == [(ep.ipv4_address, 80)]
    files = await stub.SandboxFiles(pb.SandboxFilesRequest(container_id=cid))
    assert files.hostname == "web\n"
    assert files.hosts.endswith(f"10.0.0.5\tdb.local\n{ep.ipv4_address}\tweb\n")
    assert "\n\nnameserver 127.0.0.11\n" in files.resolv_conf

    await expect(grpc.StatusCode.PERMISSION_DENIED, f"endpoint with name web already exists in network {name}",
                 stub.Connect(pb.ConnectRequest(network=name, container_id=cid, name="web")))
    await expect(grpc.StatusCode.PERMISSION_DENIED,
                 f'network {name} has active endpoints (name:"web" id:"{ep.id[:12]}")',
                 stub.Delete(pb.DeleteNetworkRequest(ref=name)))

    await stub.Disconnect(pb.DisconnectRequest(network=name, container_id=cid))
    await stub.DeleteSandbox(pb.DeleteSandboxRequest(container_id=cid))
    await expect(grpc.StatusCode.NOT_FOUND, f"sandbox for container {cid} not found",
                 stub.DeleteSandbox(pb.DeleteSandboxRequest(container_id=cid)))
    hostfiles = await stub.SandboxFiles(pb.SandboxFilesRequest(host_network=True, hostname="h",
                                                               extra_hosts=["x:10.0.0.9"]))
    assert hostfiles.hostname == "h\n" and hostfiles.hosts.endswith("10.0.0.9\tx\n")
    assert hostfiles.resolv_conf.endswith("\n\nnameserver 127.0.0.1\n\n"   # the host's file, no transform
                                          f"# Based on host file: '{env.dir}/resolv.conf'\n# Overrides: []\n")
    await expect(grpc.StatusCode.INVALID_ARGUMENT, "nonsense is not an ip address",
                 stub.CreateSandbox(pb.CreateSandboxRequest(container_id="bad" + cid,
                                                            dns=pb.DNSConfig(servers=["nonsense"]))))
    pruned = (await stub.Prune(pb.PruneNetworksRequest())).deleted
    assert list(pruned) == [name]
    assert [n.name for n in (await stub.List(pb.ListNetworksRequest())).networks] == ["bridge", "host", "none"]
