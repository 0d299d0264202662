import asyncio
from ipaddress import IPv4Address

import pytest

from pycontainerd.networks import dnswire
from pycontainerd.networks.resolver import Resolver, ResolverCallbacks


def test_query_roundtrip():
    q = dnswire.parse_query(dnswire.build_query(7, "Web.Example", dnswire.TYPE_A))
    assert (q.id, q.question.name, q.question.qtype) == (7, "web.example", dnswire.TYPE_A)
    resp = dnswire.build_response(q, a=[IPv4Address("10.0.0.2"), IPv4Address("10.0.0.3")])
    rcode, answers = dnswire.parse_answers(resp)
    assert rcode == 0 and [v for _, v in answers] == [IPv4Address("10.0.0.2"), IPv4Address("10.0.0.3")]
    assert resp[:2] == b"\x00\x07"
    ptr = dnswire.build_response(q, ptr=["web.net"])
    assert dnswire.parse_answers(ptr)[1] == [(dnswire.TYPE_PTR, "web.net")]


def test_malformed():
    with pytest.raises(dnswire.DNSFormatError):
        dnswire.parse_query(b"\x00\x01")
    bad = dnswire.build_query(1, "a", 1)[:-6] + b"\xc0\x0c"   # a pointer to itself
    with pytest.raises(dnswire.DNSFormatError):
        dnswire.parse_query(bad)


def test_reverse_name():
    assert dnswire.reverse_name_to_ip("2.0.18.172.in-addr.arpa") == IPv4Address("172.18.0.2")
    assert dnswire.reverse_name_to_ip("example.com") is None


async def test_resolver_answers_and_forwards():
    loop = asyncio.get_running_loop()

    class Upstream(asyncio.DatagramProtocol):
        def connection_made(self, t):
            self.t = t

        def datagram_received(self, data, addr):
            q = dnswire.parse_query(data)
            self.t.sendto(dnswire.build_response(q, rcode=dnswire.RCODE_NXDOMAIN), addr)

    t, _ = await loop.create_datagram_endpoint(Upstream, local_addr=("127.0.0.1", 0))
    port = t.get_extra_info("sockname")[1]
    names = {"web": [IPv4Address("10.1.0.2")]}
    r = Resolver("/nonexistent", ResolverCallbacks(
        lookup=names.get, reverse=lambda ip: ["web.net"] if str(ip) == "10.1.0.2" else None,
        upstreams=lambda: [("127.0.0.1", port)]))
    try:
        a = await r.handle(dnswire.build_query(1, "web", dnswire.TYPE_A))
        assert dnswire.parse_answers(a) == (0, [(1, IPv4Address("10.1.0.2"))])
        aaaa = await r.handle(dnswire.build_query(2, "web", dnswire.TYPE_AAAA))
        assert dnswire.parse_answers(aaaa) == (0, [])
        ptr = await r.handle(dnswire.build_query(3, "2.0.1.10.in-addr.arpa", dnswire.TYPE_PTR))
        assert dnswire.parse_answers(ptr) == (0, [(12, "web.net")])
        other = await r.handle(dnswire.build_query(4, "elsewhere", dnswire.TYPE_A))
        assert dnswire.parse_answers(other)[0] == dnswire.RCODE_NXDOMAIN   # the upstream's answer
        r.cb.upstreams = lambda: []
        other = await r.handle(dnswire.build_query(5, "elsewhere", dnswire.TYPE_A))
        assert dnswire.parse_answers(other)[0] == dnswire.RCODE_SERVFAIL
        assert await r.handle(b"junk") is None
    finally:
        t.close()
