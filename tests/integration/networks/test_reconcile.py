"""A restart after a crash: the host is brought back in line with the store."""
from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from pycontainerd.networks import IPAMConfig, PortBinding, links, netns

from nethelpers import ask, free_subnets, http_get, in_ns, start_in_ns, stop


def crash(m) -> None:
    """What process death does to a manager: its sockets close, the host keeps the rest."""
    for eps in m.proxies.values():
        for p in eps:
            if p._accepting:
                asyncio.get_running_loop().remove_reader(p.sock.fileno())
                p._accepting = False
            if p._udp is not None:
                p._udp.close()
            p.sock.close()
    m.proxies.clear()
    for r in m.resolvers.values():
        if r._udp_transport is not None:
            r._udp_transport.close()
        if r._tcp_server is not None:
            r._tcp_server.close()
    m.resolvers.clear()
    m.started = False


async def test_reconcile_after_crash(env, tmp_path):
    m1 = await env.manager()
    (sub,) = free_subnets(1)
    net = await m1.create_network(f"pdtr{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)])
    gone = await m1.create_sandbox(f"r1{env.tag}")
    kept = await m1.create_sandbox(f"r2{env.tag}")
    e_gone = await m1.connect(net.id, gone.container_id, name="gone")
    e_kept = await m1.connect(net.id, kept.container_id, name="kept", ports=[PortBinding(80, "tcp", "127.0.0.1", 0)])
    host_port = e_kept.ports[0].host_port
    crash(m1)

    # While "down": one container went away, a connect was cut short (a stray veth in the
    # bridge), a sandbox create was cut short (an unrecorded netns), our iptables rules vanished.
    netns.delete(gone.path)
    stray = f"pdts{env.tag}"
    subprocess.run(["ip", "link", "add", stray, "type", "veth", "peer", "name", stray + "p"], check=True)
    subprocess.run(["ip", "link", "set", stray, "master", net.bridge], check=True)
    orphan = str(Path(m1.netns_dir) / "orphan")
    netns.create(orphan)
    subprocess.run(["iptables", "-F", f"{env.prefix}-FORWARD"], check=True)

    m2 = await env.manager()
    assert list(m2.sandboxes) == [kept.container_id]
    n2 = m2.get_network(net.id)
    assert [e.name for e in n2.endpoints.values()] == ["kept"]
    assert [e.name for e in m2.store.load_networks() for e in e.endpoints.values()] == ["kept"]
    assert not links.link_exists(stray) and not Path(orphan).exists()
    assert links.bridge_ports(net.bridge) == [e_kept.host_ifname]
    save = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True).stdout
    assert f"-A {env.prefix}-FORWARD -i {net.bridge} -o {net.bridge} -j ACCEPT" in save

    rc, _ = await in_ns(kept.path, "busybox", "ping", "-c1", "-W1", net.ipam[0].gateway)
    assert rc == 0
    assert await ask(kept.path, "kept") == f"0 {e_kept.ipv4}"   # the resolver is back
    (tmp_path / "index.html").write_text("still here\n")
    httpd = await start_in_ns(kept.path, "busybox", "httpd", "-f", "-p", "80", "-h", str(tmp_path))
    try:
        assert (await http_get(host_port)).endswith(b"still here\n")   # same host port as before
    finally:
        await stop(httpd)

    # The freed address is handed out again.
    again = await m2.create_sandbox(f"r3{env.tag}")
    assert (await m2.connect(net.id, again.container_id, name="again")).ipv4 == e_gone.ipv4


async def test_clean_shutdown_removes_rules_and_start_restores_them(env):
    m1 = await env.manager()
    (sub,) = free_subnets(1)
    net = await m1.create_network(f"pdtc{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)])
    await m1.close()
    save = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert env.prefix not in save
    assert links.link_exists(net.bridge)   # bridges outlive the daemon, like Docker's
    subprocess.run(["ip", "link", "del", net.bridge], check=True)   # …unless someone removes them
    m2 = await env.manager()
    assert links.link_kind(net.bridge) == "bridge"
    save = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert f"-A {env.prefix}-POSTROUTING -s {sub} ! -o {net.bridge} -j MASQUERADE" in save
    assert m2.get_network(net.name).id == net.id


async def test_crash_before_background_release_completes(env):
    """The daemon dies right after DeleteSandbox answered, before the veth and the port rules
    were deleted in the background: the next start removes both."""
    m1 = await env.manager()
    (sub,) = free_subnets(1)
    net = await m1.create_network(f"pdtb{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)])
    sb = await m1.create_sandbox(f"b1{env.tag}")
    ep = await m1.connect(net.id, sb.container_id, name="b1", ports=[PortBinding(80, "tcp", "127.0.0.1", 0)])
    await m1.delete_sandbox(sb.container_id)
    for t in list(m1.release_tasks):   # dies before the background deletion ran
        t.cancel()
    crash(m1)
    assert links.link_exists(ep.host_ifname)
    save = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert f"--to-destination {ep.ipv4}:80" in save

    m2 = await env.manager()
    assert not links.link_exists(ep.host_ifname) and links.bridge_ports(net.bridge) == []
    save = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert ep.ipv4 not in save
    assert m2.get_network(net.id).endpoints == {} and not m2.sandboxes
