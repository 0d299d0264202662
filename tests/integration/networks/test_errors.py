"""Bad input gets Docker's words, and a failed call leaves nothing half-created."""
from __future__ import annotations

import pytest

from pycontainerd.networks import (Conflict, Forbidden, InvalidArgument, IPAMConfig, NetworkError, NotFound,
                                   links)

from nethelpers import free_subnets


async def test_network_errors(env):
    m = await env.manager()
    sub, sub2 = free_subnets(2)
    name = f"pdte{env.tag}"
    net = await m.create_network(name, ipam_configs=[IPAMConfig(subnet=sub, gateway="")],
                                 labels={"a": "1"})
    assert net.ipam[0].gateway == sub.replace(".0/24", ".1")

    state = env.state()
    with pytest.raises(InvalidArgument, match=r"^invalid network config:\ninvalid subnet 10\.1\.2: invalid CIDR block notation$"):
        await m.create_network(f"x{env.tag}", ipam_configs=[IPAMConfig(subnet="10.1.2")])
    with pytest.raises(Forbidden, match=r"^invalid pool request: Pool overlaps with other one on this address space$"):
        await m.create_network(f"x{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)])
    gw_out = sub2.replace(".0/24", ".200")
    with pytest.raises(InvalidArgument, match=rf"^invalid network config:\ninvalid gateway {gw_out}: parent subnet .* doesn't contain this address$"):
        await m.create_network(f"x{env.tag}", ipam_configs=[IPAMConfig(subnet=sub2.replace(".0/24", ".0/25"),
                                                                          gateway=sub2.replace(".0/24", ".200"))])
    with pytest.raises(Conflict, match=rf"^network with name {name} already exists$"):
        await m.create_network(name)
    with pytest.raises(Conflict, match=r"^network with name bridge already exists$"):
        await m.create_network("bridge")
    with pytest.raises(NotFound, match=r'^plugin "macvlanx" not found$'):
        await m.create_network(f"x{env.tag}", driver="macvlanx")
    # None of the failures above left a bridge, rule or record.
    assert env.state() == state
    assert [n.name for n in m.list_networks({"type": ["custom"]})] == [name]

    with pytest.raises(NotFound, match=r"^network nosuch not found$"):
        m.get_network("nosuch")
    for pre in ("bridge", "host", "none"):
        with pytest.raises(Forbidden, match=rf"^{pre} is a pre-defined network and cannot be removed$"):
            await m.delete_network(pre)

    assert m.get_network(net.id[:10]) is net
    assert [n.name for n in m.list_networks({"label": ["a=1"]})] == [name]
    assert m.list_networks({"label": ["a=2"]}) == []
    assert {n.name for n in m.list_networks({"type": ["builtin"]})} == {"bridge", "host", "none"}
    assert {n.name for n in m.list_networks({"driver": ["null"]})} == {"none"}
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'colour'$"):
        m.list_networks({"colour": ["red"]})

    sb = await m.create_sandbox(f"e{env.tag}")
    ep = await m.connect(name, sb.container_id, name="web", ipv4=sub.replace(".0/24", ".50"))
    assert ep.ipv4 == sub.replace(".0/24", ".50") and ep.static_ip
    with pytest.raises(Forbidden, match=rf'^network {name} has active endpoints \(name:"web" id:"{ep.id[:12]}"\)$'):
        await m.delete_network(name)
    with pytest.raises(Forbidden, match=rf"^endpoint with name web already exists in network {name}$"):
        await m.connect(name, sb.container_id, name="web")

    sb2 = await m.create_sandbox(f"f{env.tag}")
    before = env.state()
    with pytest.raises(Forbidden, match=r"^Address already in use$"):
        await m.connect(name, sb2.container_id, name="web2", ipv4=sub.replace(".0/24", ".50"))
    with pytest.raises(Forbidden, match=r"^Address already in use$"):   # the gateway is taken too
        await m.connect(name, sb2.container_id, name="web2", ipv4=net.ipam[0].gateway)
    with pytest.raises(InvalidArgument, match=r"^invalid address 10\.0\.0\.300: |^invalid IP address"):
        await m.connect(name, sb2.container_id, name="web2", ipv4="10.0.0.300")
    with pytest.raises(InvalidArgument, match=r"^no configured subnet or ip-range contain the IP address "):
        await m.connect(name, sb2.container_id, name="web2", ipv4=sub2.replace(".0/24", ".5"))
    with pytest.raises(InvalidArgument, match=r"^user specified IP address is supported on user defined networks only$"):
        await m.connect("bridge", sb2.container_id, name="web2", ipv4="172.17.0.9")
    assert env.state() == before
    assert len(m.get_network(name).endpoints) == 1

    # A fresh address goes to the lowest free one, after the gateway.
    ep2 = await m.connect(name, sb2.container_id, name="web2")
    assert ep2.ipv4 == sub.replace(".0/24", ".2")
    await m.disconnect(name, sb2.container_id)
    with pytest.raises(NetworkError, match=rf"^container {sb2.container_id} is not connected to network {name}$"):
        await m.disconnect(name, sb2.container_id)
    await m.disconnect(name, sb2.container_id, force=True)


async def test_failed_connect_undoes_everything(env):
    """A port that cannot be bound fails the connect after the veth exists: all of it goes."""
    m = await env.manager()
    (sub,) = free_subnets(1)
    net = await m.create_network(f"pdtu{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)])
    sb = await m.create_sandbox(f"u{env.tag}")
    import socket
    from pycontainerd.networks import PortBinding
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        before = env.state()
        with pytest.raises(Forbidden, match=rf"^driver failed programming external connectivity on endpoint "
                                            rf"pub \([0-9a-f]{{64}}\): failed to bind host port for "
                                            rf"127\.0\.0\.1:{port}:[0-9.]+:80/tcp: address already in use$"):
            await m.connect(net.id, sb.container_id, name="pub",
                            ports=[PortBinding(81, "tcp", "127.0.0.1", 0), PortBinding(80, "tcp", "127.0.0.1", port)])
        assert env.state() == before
        assert links.bridge_ports(net.bridge) == []
        assert m.get_network(net.id).endpoints == {}
        assert m.store.load_networks() and all(not n.endpoints for n in m.store.load_networks())
        # And the address was not leaked either.
        ep = await m.connect(net.id, sb.container_id, name="pub")
        assert ep.ipv4 == sub.replace(".0/24", ".2")
    finally:
        blocker.close()
