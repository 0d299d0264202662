"""Automatic subnets that avoid the host's routes; bridge name and MTU options."""
from __future__ import annotations

import subprocess

from pycontainerd.networks import IPAMConfig, NetworkManager, links

from nethelpers import free_subnets, in_ns


async def test_auto_subnet_skips_host_routes_and_other_networks(env):
    routed, taken, free = free_subnets(3)
    dummy = f"pdtd{env.tag}"
    subprocess.run(["ip", "link", "add", dummy, "type", "bridge"], check=True)   # no dummy module here
    subprocess.run(["ip", "addr", "add", routed.replace(".0/24", ".1/24"), "dev", dummy], check=True)
    env.pools = [routed, taken, free]   # the default bridge takes one too
    m = await env.manager()
    bridge_subnet = m.get_network("bridge").ipam[0].subnet
    assert bridge_subnet == taken          # the routed one was skipped
    net = await m.create_network(f"pdtauto{env.tag}")
    assert net.ipam[0].subnet == free and net.ipam[0].gateway == free.replace(".0/24", ".1")
    # An explicit subnet is the user's call even if routed (Docker checks only other networks).
    assert (await m.create_network(f"pdtexp{env.tag}", ipam_configs=[IPAMConfig(subnet=routed)])).ipam[0].subnet == routed


async def test_bridge_name_and_mtu_options(env):
    m = await env.manager()
    (sub,) = free_subnets(1)
    br = f"pdtn{env.tag}"
    net = await m.create_network(f"pdtopt{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)],
                                 options={"com.docker.network.bridge.name": br,
                                          "com.docker.network.driver.mtu": "1400"})
    assert net.bridge == br and links.link_kind(br) == "bridge"
    out = subprocess.run(["ip", "-o", "link", "show", br], capture_output=True, text=True).stdout
    assert " mtu 1400 " in out
    sb = await m.create_sandbox(f"o{env.tag}")
    await m.connect(net.id, sb.container_id, name="m")
    rc, out = await in_ns(sb.path, "ip", "-o", "link", "show", "eth0")
    assert " mtu 1400 " in out
    await m.disconnect(net.id, sb.container_id)
    await m.delete_network(net.id)
    assert not links.link_exists(br)


async def test_default_bridge_from_bip(env):
    (sub,) = free_subnets(1)
    cfg = env.config()
    cfg.default_subnet = sub.replace(".0/24", ".1/24")
    (env.dir / "resolv.conf").write_text("")
    m = NetworkManager(cfg)
    await m.start()
    env.managers.append(m)
    bridge = m.get_network("bridge")
    assert (bridge.ipam[0].subnet, bridge.ipam[0].gateway) == (sub, sub.replace(".0/24", ".1"))
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", env.bridge], capture_output=True, text=True).stdout
    assert f"inet {sub.replace('.0/24', '.1/24')}" in out


async def test_default_bridge_follows_changed_flags(env):
    m1 = await env.manager()
    old = m1.get_network("bridge")
    await m1.close()
    first = env.bridge
    env.bridge = f"pdtz{env.tag}"   # the daemon is restarted with another bridge name
    try:
        m2 = await env.manager()
        new = m2.get_network("bridge")
        assert new.bridge == env.bridge and links.link_kind(env.bridge) == "bridge"
        assert not links.link_exists(first)          # the old, unused device is gone
        assert new.ipam[0].subnet == old.ipam[0].subnet   # same pool order, same first free subnet
    finally:
        links.delete_link(first)
