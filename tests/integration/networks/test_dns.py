"""The embedded DNS at 127.0.0.11 inside sandboxes on user-defined networks."""
from __future__ import annotations

import asyncio
import sys
from ipaddress import IPv4Address

from pycontainerd.networks import DNSConfig, IPAMConfig, dnswire
from pycontainerd.networks.files import RESOLV_HEADER

HEADER = RESOLV_HEADER + "\n\n"

from nethelpers import ask, free_subnets, in_ns


BIND_53 = ("import socket\n"
           "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 53))\n"
           "t = socket.socket(); t.bind(('0.0.0.0', 53)); t.listen()\n"
           "print('bound')\n")


class FakeUpstream(asyncio.DatagramProtocol):
    """A resolver on 127.0.0.1 that knows one name, standing in for the host's upstream."""

    def __init__(self, name: str, ip: str) -> None:
        self.name, self.ip = name, IPv4Address(ip)
        self.queries: list[str] = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        q = dnswire.parse_query(data)
        self.queries.append(q.question.name)
        if q.question.name == self.name:
            self.transport.sendto(dnswire.build_response(q, a=[self.ip], authoritative=False), addr)
        else:
            self.transport.sendto(dnswire.build_response(q, rcode=dnswire.RCODE_NXDOMAIN), addr)


async def test_names_aliases_reverse_and_forwarding(env):
    loop = asyncio.get_running_loop()
    sub_a, sub_b = free_subnets(2)
    fake_ip = sub_b.replace(".0/24", ".99")
    transport, upstream = await loop.create_datagram_endpoint(
        lambda: FakeUpstream("outside.example", fake_ip), local_addr=("127.0.0.1", 0))
    up_port = transport.get_extra_info("sockname")[1]
    try:
        m = await env.manager()
        a = await m.create_network(f"pdtd{env.tag}", ipam_configs=[IPAMConfig(subnet=sub_a)])
        b = await m.create_network(f"pdtf{env.tag}", ipam_configs=[IPAMConfig(subnet=sub_b)])
        dns = DNSConfig(servers=[f"127.0.0.1:{up_port}"], search=["corp.example"], options=["timeout:2"])
        s1 = await m.create_sandbox(f"d1{env.tag}", hostname="alpha", dns=dns)
        s2 = await m.create_sandbox(f"d2{env.tag}")
        s3 = await m.create_sandbox(f"d3{env.tag}", dns=DNSConfig(servers=[f"127.0.0.1:{up_port}"]))
        e1 = await m.connect(a.id, s1.container_id, name="alpha")
        e2 = await m.connect(a.id, s2.container_id, name="beta", aliases=["db", "cache"])
        e3 = await m.connect(b.id, s3.container_id, name="gamma")

        # busybox's own nslookup, by name and by alias.
        rc, out = await in_ns(s1.path, "busybox", "nslookup", "beta", "127.0.0.11")
        assert rc == 0 and f"Address: {e2.ipv4}" in out, out
        rc, out = await in_ns(s1.path, "busybox", "nslookup", "cache", "127.0.0.11")
        assert rc == 0 and f"Address: {e2.ipv4}" in out, out

        assert await ask(s2.path, "alpha") == f"0 {e1.ipv4}"
        assert await ask(s2.path, f"alpha.{a.name}") == f"0 {e1.ipv4}"
        assert await ask(s1.path, "db", mode="tcp") == f"0 {e2.ipv4}"
        assert await ask(s1.path, s2.container_id[:12]) == f"0 {e2.ipv4}"
        assert await ask(s1.path, "db", dnswire.TYPE_AAAA) == "0"          # known, no IPv6
        rev = ".".join(reversed(e2.ipv4.split("."))) + ".in-addr.arpa"
        assert await ask(s1.path, rev, dnswire.TYPE_PTR) == f"0 beta.{a.name}"

        # Scoped: gamma shares no network with alpha, so the name is not ours → forwarded → NXDOMAIN.
        assert await ask(s3.path, "alpha") == "3"
        assert await ask(s3.path, "gamma") == f"0 {e3.ipv4}"
        # Other names go to the upstream (on the host's loopback, dialled from the host).
        assert await ask(s1.path, "outside.example") == f"0 {fake_ip}"
        assert upstream.queries == ["alpha", "outside.example"]   # our own names never leave

        # Port 53 stays free for the container's own processes: the resolver sits behind a DNAT.
        rc, out = await in_ns(s1.path, sys.executable, "-c", BIND_53)
        assert rc == 0 and out.strip() == "bound", out
        rc, out = await in_ns(s1.path, "iptables-save", "-t", "nat")
        assert "-A OUTPUT -d 127.0.0.11/32 -j PYDOCKER_DNS_OUTPUT" in out

        files = m.sandbox_files(s1.container_id)
        assert files["resolv.conf"] == (HEADER + "nameserver 127.0.0.11\nsearch corp.example\n"
                                        "options timeout:2 ndots:0\n\n"
                                        f"# Based on host file: '{env.dir}/resolv.conf' (internal resolver)\n"
                                        f"# ExtServers: [127.0.0.1:{up_port}]\n"
                                        "# Overrides: [nameservers search options]\n"
                                        "# Option ndots from: internal\n")
        assert files["hosts"].endswith(f"\n{e1.ipv4}\talpha\n")
        assert files["hostname"] == "alpha\n"

        # Disconnecting the last user-defined network stops the resolver in that sandbox.
        await m.disconnect(b.id, s3.container_id)
        assert await ask(s3.path, "gamma") == "refused"
    finally:
        transport.close()


async def test_default_bridge_has_no_embedded_dns(env):
    m = await env.manager()
    (env_resolv := env.dir / "resolv.conf").write_text("nameserver 127.0.0.53\nsearch lan\n")
    sb = await m.create_sandbox(f"b{env.tag}")
    ep = await m.connect("bridge", sb.container_id, name="plain")
    assert ep.ipv4 and ep.gateway == m.get_network("bridge").ipam[0].gateway
    assert await ask(sb.path, "plain") == "refused"
    assert m.sandbox_files(sb.container_id)["resolv.conf"] == (
        HEADER + "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\n\n"
        f"# Based on host file: '{env.dir}/resolv.conf' (legacy)\n# Used default nameservers.\n# Overrides: []\n")
    assert env_resolv.exists()
