"""Bridges, veths and isolation: containers-like namespaces on user-defined networks."""
from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

from pycontainerd.networks import IPAMConfig, links

from nethelpers import free_subnets, in_ns


async def ping(ns: str, ip: str) -> bool:
    rc, _ = await in_ns(ns, "busybox", "ping", "-c1", "-W1", ip)
    return rc == 0


async def test_same_network_reach_and_other_network_isolated(env):
    m = await env.manager()
    sub_a, sub_b = free_subnets(2)
    a = await m.create_network(f"pdta{env.tag}", ipam_configs=[IPAMConfig(subnet=sub_a)])
    b = await m.create_network(f"pdtb{env.tag}", ipam_configs=[IPAMConfig(subnet=sub_b)])
    assert links.link_kind(a.bridge) == "bridge"
    s1, s2, s3 = [await m.create_sandbox(f"c{i}{env.tag}") for i in (1, 2, 3)]
    e1 = await m.connect(a.id, s1.container_id, name="one")
    e2 = await m.connect(a.name, s2.container_id, name="two")
    e3 = await m.connect(b.id[:12], s3.container_id, name="three")

    assert e1.ifname == "eth0" and e1.gateway == a.ipam[0].gateway
    assert e1.mac == "02:42:" + ":".join(f"{int(x):02x}" for x in e1.ipv4.split("."))
    assert await ping(s1.path, e2.ipv4)
    assert await ping(s2.path, e1.ipv4)
    # Isolation: network B reaches its own gateway but nothing on network A, and back.
    assert await ping(s3.path, e3.gateway)
    assert not await ping(s3.path, e1.ipv4)
    assert not await ping(s1.path, e3.ipv4)

    rc, out = await in_ns(s1.path, "ip", "-4", "route")
    assert f"default via {a.ipam[0].gateway} dev eth0" in out

    # A second network: eth1, no second default route, reachable at once.
    e1b = await m.connect(b.id, s1.container_id, name="one")
    assert e1b.ifname == "eth1"
    assert await ping(s1.path, e3.ipv4)
    rc, out = await in_ns(s1.path, "ip", "-4", "route")
    assert out.count("default") == 1

    # Disconnect removes the veth from both sides.
    await m.disconnect(a.id, s1.container_id)
    assert not links.link_exists(e1.host_ifname)
    rc, out = await in_ns(s1.path, "ip", "-o", "link")
    assert "eth0" not in out and "eth1" in out
    # The default route moved to the remaining network.
    rc, out = await in_ns(s1.path, "ip", "-4", "route")
    assert f"default via {b.ipam[0].gateway} dev eth1" in out


async def test_internal_network_has_no_way_out(env):
    m = await env.manager()
    sub_i, sub_o = free_subnets(2)
    internal = await m.create_network(f"pdti{env.tag}", internal=True, ipam_configs=[IPAMConfig(subnet=sub_i)])
    other = await m.create_network(f"pdto{env.tag}", ipam_configs=[IPAMConfig(subnet=sub_o)])
    s1, s2, s3 = [await m.create_sandbox(f"i{i}{env.tag}") for i in (1, 2, 3)]
    e1 = await m.connect(internal.id, s1.container_id, name="i1")
    e2 = await m.connect(internal.id, s2.container_id, name="i2")
    e3 = await m.connect(other.id, s3.container_id, name="o3")

    rc, out = await in_ns(s1.path, "ip", "-4", "route")
    assert "default" not in out
    assert await ping(s1.path, e2.ipv4)           # inside the internal network: fine
    assert not await ping(s1.path, e3.ipv4)       # out of it: no route
    assert not await ping(s3.path, e1.ipv4)       # into it: dropped
    save = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert f"-s {sub_i}" not in save              # no masquerade for an internal network
    assert f"-s {sub_o} ! -o {other.bridge} -j MASQUERADE" in save


async def test_none_and_host_networks_need_no_interfaces(env):
    m = await env.manager()
    names = {n.name: n for n in m.list_networks()}
    assert {"bridge", "host", "none"} <= set(names)
    assert names["bridge"].bridge == env.bridge
    assert links.link_kind(env.bridge) == "bridge"
    sb = await m.create_sandbox(f"n{env.tag}")
    ep = await m.connect("none", sb.container_id, name="quiet")
    assert ep.ipv4 == ""
    rc, out = await in_ns(sb.path, "ip", "-o", "link")
    assert [ln.split(":")[1].strip() for ln in out.splitlines()] == ["lo"]
    assert "<LOOPBACK,UP," in out, out   # lo is brought up when the namespace is made
    assert await ping(sb.path, "127.0.0.1")
    assert m.sandbox_files(sb.container_id)["hosts"].splitlines()[-1].endswith("ip6-allrouters")


async def test_removed_sandbox_releases_its_veth_and_address(env):
    """delete_sandbox finishes deleting veths in the background; a static address a removed
    container held is usable at once (the connect waits for the old veth), and the new one is
    reachable, with the interface as Docker configures it (MAC, broadcast, default route)."""
    m = await env.manager()
    (sub,) = free_subnets(1)
    net = await m.create_network(f"pdtr{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)])
    static = str(ipaddress.IPv4Network(sub).network_address + 9)
    old = await m.create_sandbox(f"old{env.tag}")
    e_old = await m.connect(net.id, old.container_id, ipv4=static)
    peer = await m.create_sandbox(f"peer{env.tag}")
    e_peer = await m.connect(net.id, peer.container_id)
    await m.delete_sandbox(old.container_id)
    assert not Path(old.path).exists()
    assert old.container_id not in {e.container_id for e in net.endpoints.values()}

    new = await m.create_sandbox(f"new{env.tag}")
    e_new = await m.connect(net.id, new.container_id, ipv4=static)
    assert e_new.ipv4 == static and not links.link_exists(e_old.host_ifname)
    assert await ping(peer.path, static)
    rc, out = await in_ns(new.path, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
    plen = ipaddress.IPv4Network(sub).prefixlen
    brd = ipaddress.IPv4Network(sub).broadcast_address
    assert f"inet {static}/{plen} brd {brd} scope global eth0" in out, out
    rc, out = await in_ns(new.path, "ip", "-o", "link", "show", "dev", "eth0")
    assert e_new.mac in out and "state UP" in out and "mtu 1500" in out, out
    rc, out = await in_ns(new.path, "ip", "-4", "route")
    assert f"default via {net.ipam[0].gateway} dev eth0" in out
    await m.settle()
    assert sorted(links.bridge_ports(net.bridge)) == sorted([e_peer.host_ifname, e_new.host_ifname])

    # A dynamic address is never one still held by a veth being deleted.
    await m.delete_sandbox(peer.container_id)
    again = await m.create_sandbox(f"again{env.tag}")
    e_again = await m.connect(net.id, again.container_id)
    if links.link_exists(e_peer.host_ifname):
        assert e_again.ipv4 != e_peer.ipv4
    await m.settle()
    assert sorted(links.bridge_ports(net.bridge)) == sorted([e_new.host_ifname, e_again.host_ifname])


async def test_interface_name_taken_inside_the_sandbox(env):
    """An eth0 the container made itself: the endpoint becomes eth1 and still works."""
    m = await env.manager()
    (sub,) = free_subnets(1)
    net = await m.create_network(f"pdtn{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)])
    sb = await m.create_sandbox(f"own{env.tag}")
    rc, out = await in_ns(sb.path, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "mine")
    assert rc == 0, out
    ep = await m.connect(net.id, sb.container_id)
    assert ep.ifname == "eth1"
    rc, out = await in_ns(sb.path, "ip", "-4", "route")
    assert f"default via {net.ipam[0].gateway} dev eth1" in out
    assert await ping(sb.path, net.ipam[0].gateway)
