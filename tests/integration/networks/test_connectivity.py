"""Bridges, veths and isolation: containers-like namespaces on user-defined networks."""
from __future__ import annotations

import subprocess

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
    assert "UP" in out or "UNKNOWN" in out
    assert m.sandbox_files(sb.container_id)["hosts"].splitlines()[-1].endswith("ip6-allrouters")
