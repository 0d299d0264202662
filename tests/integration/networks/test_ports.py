"""Published ports: the userland proxy on 127.0.0.1, DNAT rules, allocation errors."""
from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest

from pycontainerd.networks import Forbidden, IPAMConfig, PortBinding

from nethelpers import free_subnets, http_get, start_in_ns, stop

UDP_ECHO = ("import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.bind(('0.0.0.0', 5353))\n"
            "print('ready', flush=True)\n"
            "while True:\n"
            "    d, a = s.recvfrom(2048)\n"
            "    s.sendto(b'echo:' + d, a)\n")


async def test_published_tcp_and_udp_reachable_on_loopback(env, tmp_path):
    m = await env.manager()
    (sub,) = free_subnets(1)
    net = await m.create_network(f"pdtp{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)])
    sb = await m.create_sandbox(f"p{env.tag}")
    ep = await m.connect(net.id, sb.container_id, name="web",
                         ports=[PortBinding(80, "tcp", "127.0.0.1", 0), PortBinding(5353, "udp", "127.0.0.1", 0)])
    tcp = next(p for p in ep.ports if p.proto == "tcp")
    udp = next(p for p in ep.ports if p.proto == "udp")
    assert tcp.host_port > 0 and udp.host_port > 0

    save = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert (f"-A {env.prefix} -d 127.0.0.1/32 ! -i {net.bridge} -p tcp -m tcp --dport {tcp.host_port} "
            f"-j DNAT --to-destination {ep.ipv4}:80") in save

    (tmp_path / "index.html").write_text("hello from the sandbox\n")
    httpd = await start_in_ns(sb.path, "busybox", "httpd", "-f", "-p", "80", "-h", str(tmp_path))
    echo = await start_in_ns(sb.path, sys.executable, "-c", UDP_ECHO)
    try:
        body = await http_get(tcp.host_port)
        assert body.startswith(b"HTTP/1.") and body.endswith(b"hello from the sandbox\n")

        assert (await asyncio.wait_for(echo.stdout.readline(), 20)).strip() == b"ready"
        loop = asyncio.get_running_loop()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        try:
            await loop.sock_connect(s, ("127.0.0.1", udp.host_port))
            await loop.sock_sendall(s, b"ping")
            reply = await asyncio.wait_for(loop.sock_recv(s, 100), 10)
        finally:
            s.close()
        assert reply == b"echo:ping"
    finally:
        await stop(httpd)
        await stop(echo)

    await m.disconnect(net.id, sb.container_id)
    # The proxy is gone: the port is free for anyone again (SO_REUSEADDR: the relayed
    # connection may sit in TIME_WAIT), and its rules are removed.
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    probe.bind(("127.0.0.1", tcp.host_port))
    probe.listen()
    probe.close()
    save = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert f"--dport {tcp.host_port} " not in save


async def test_port_already_allocated(env):
    m = await env.manager()
    (sub,) = free_subnets(1)
    net = await m.create_network(f"pdtq{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)])
    s1 = await m.create_sandbox(f"q1{env.tag}")
    s2 = await m.create_sandbox(f"q2{env.tag}")
    e1 = await m.connect(net.id, s1.container_id, name="first", ports=[PortBinding(80, "tcp", "", 0)])
    port = e1.ports[0].host_port
    with pytest.raises(Forbidden) as ei:
        await m.connect(net.id, s2.container_id, name="second", ports=[PortBinding(80, "tcp", "127.0.0.1", port)])
    assert ei.value.message.startswith("driver failed programming external connectivity on endpoint second (")
    assert ei.value.message.endswith(f"): Bind for 127.0.0.1:{port} failed: port is already allocated")
    assert m.get_network(net.id).endpoint_of(s2.container_id) is None
    # The same port on another protocol is fine, and a range skips the taken port.
    e2 = await m.connect(net.id, s2.container_id, name="second",
                         ports=[PortBinding(80, "udp", "", port), PortBinding(81, "tcp", "", port, port + 20)])
    assert e2.ports[0].host_port == port
    assert port < e2.ports[1].host_port <= port + 20


async def test_dnat_without_userland_proxy(env, tmp_path):
    """--userland-proxy=false: only the DNAT rule carries traffic to the host's own bridge IP."""
    probe = socket.socket()
    probe.bind(("0.0.0.0", 0))
    port = probe.getsockname()[1]
    probe.close()
    cfg = env.config()
    cfg.userland_proxy = False
    (env.dir / "resolv.conf").write_text("")
    from pycontainerd.networks import NetworkManager
    m = NetworkManager(cfg)
    await m.start()
    env.managers.append(m)
    (sub,) = free_subnets(1)
    net = await m.create_network(f"pdtn{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)])
    sb = await m.create_sandbox(f"n{env.tag}")
    ep = await m.connect(net.id, sb.container_id, name="web", ports=[PortBinding(80, "tcp", "", port)])
    assert not m.proxies.get(ep.id) and ep.ports[0].host_port == port
    # The port is still held, as Docker's dummy proxy holds it.
    with pytest.raises(OSError):
        socket.socket().bind(("0.0.0.0", port))
    (tmp_path / "index.html").write_text("via dnat\n")
    httpd = await start_in_ns(sb.path, "busybox", "httpd", "-f", "-p", "80", "-h", str(tmp_path))
    try:
        # The bridge's own address is local to the host: OUTPUT → our nat chain → DNAT.
        for _ in range(50):
            try:
                r, w = await asyncio.open_connection(net.ipam[0].gateway, port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the DNAT'd port never answered")
        w.write(b"GET /index.html HTTP/1.0\r\n\r\n")
        await w.drain()
        body = await asyncio.wait_for(r.read(), 10)
        w.close()
        assert body.endswith(b"via dnat\n")
    finally:
        await stop(httpd)
