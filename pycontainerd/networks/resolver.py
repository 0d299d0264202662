"""The embedded DNS server of a sandbox: 127.0.0.11:53 inside the container's netns, served
from the daemon's asyncio loop.

The sockets are created by a thread that enters the namespace (see ``netns.run_in``), so they
live in the container's namespace while the daemon stays in the host's. Names the manager
knows (container names, aliases, reverse lookups, scoped to shared networks) are answered
here; anything else is forwarded over UDP to the upstream servers, dialled from the host
namespace (Docker does that for loopback upstreams; for the others this is a simplification).
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Callable

from . import dnswire, netns

log = logging.getLogger(__name__)

RESOLVER_IP = "127.0.0.11"
FORWARD_TIMEOUT = 2.0

Lookup = Callable[[str], "list[IPv4Address] | None"]      # None: not a name we own
Reverse = Callable[[IPv4Address], "list[str] | None"]
Upstreams = Callable[[], "list[tuple[str, int]]"]          # empty: do not forward


@dataclass
class ResolverCallbacks:
    lookup: Lookup
    reverse: Reverse
    upstreams: Upstreams


def open_sockets(sandbox: str, ip: str = RESOLVER_IP, port: int = 53) -> tuple[socket.socket, socket.socket]:
    """Bind the UDP and TCP sockets inside the sandbox's network namespace."""
    def make() -> tuple[socket.socket, socket.socket]:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((ip, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((ip, port))
            tcp.listen(64)
            udp.setblocking(False)
            tcp.setblocking(False)
            return udp, tcp
        except BaseException:
            udp.close()
            tcp.close()
            raise
    return netns.run_in(sandbox, make)


class _UDPServer(asyncio.DatagramProtocol):
    def __init__(self, resolver: "Resolver") -> None:
        self.resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.resolver._spawn(self._answer(data, addr))

    async def _answer(self, data: bytes, addr) -> None:
        resp = await self.resolver.handle(data)
        if resp is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(resp, addr)


class _ForwardProtocol(asyncio.DatagramProtocol):
    def __init__(self, fut: asyncio.Future) -> None:
        self.fut = fut

    def datagram_received(self, data: bytes, addr) -> None:
        if not self.fut.done():
            self.fut.set_result(data)

    def error_received(self, exc) -> None:
        if not self.fut.done():
            self.fut.set_exception(exc)


class Resolver:
    def __init__(self, sandbox: str, callbacks: ResolverCallbacks) -> None:
        self.sandbox = sandbox
        self.cb = callbacks
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        udp, tcp = await asyncio.to_thread(open_sockets, self.sandbox)
        loop = asyncio.get_running_loop()
        try:
            self._udp_transport, _ = await loop.create_datagram_endpoint(lambda: _UDPServer(self), sock=udp)
            self._tcp_server = await asyncio.start_server(self._serve_tcp, sock=tcp)
        except BaseException:
            await self.stop()
            udp.close()
            tcp.close()
            raise

    async def stop(self) -> None:
        if self._udp_transport is not None:
            self._udp_transport.close()
            self._udp_transport = None
        if self._tcp_server is not None:
            self._tcp_server.close()
            await self._tcp_server.wait_closed()
            self._tcp_server = None
        for t in list(self._tasks):
            t.cancel()
        self._tasks.clear()

    def _spawn(self, coro) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                hdr = await reader.readexactly(2)
                data = await reader.readexactly(struct.unpack("!H", hdr)[0])
                resp = await self.handle(data)
                if resp is None:
                    break
                writer.write(struct.pack("!H", len(resp)) + resp)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def handle(self, data: bytes) -> bytes | None:
        """The answer to one query message (None when it is not worth answering)."""
        try:
            q = dnswire.parse_query(data)
        except dnswire.DNSFormatError:
            return None
        qn = q.question
        if qn.qclass == dnswire.CLASS_IN:
            if qn.qtype in (dnswire.TYPE_A, dnswire.TYPE_AAAA):
                ips = self.cb.lookup(qn.name)
                if ips is not None:
                    # Containers have no IPv6 here: a known name gets an empty AAAA answer.
                    return dnswire.build_response(q, a=ips if qn.qtype == dnswire.TYPE_A else [])
            elif qn.qtype == dnswire.TYPE_PTR:
                ip = dnswire.reverse_name_to_ip(qn.name)
                names = self.cb.reverse(ip) if ip is not None else None
                if names:
                    return dnswire.build_response(q, ptr=names)
        return await self.forward(q, data)

    async def forward(self, q: dnswire.Query, data: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        for host, port in self.cb.upstreams()[:3]:
            fut = loop.create_future()
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _ForwardProtocol(fut), remote_addr=(host, port))
            except OSError as e:
                log.debug("dns upstream %s:%d: %s", host, port, e)
                continue
            try:
                transport.sendto(data)
                resp = await asyncio.wait_for(fut, FORWARD_TIMEOUT)
                if len(resp) >= 2 and resp[:2] == data[:2]:
                    return resp
            except (asyncio.TimeoutError, OSError) as e:
                log.debug("dns upstream %s:%d: %r", host, port, e)
            finally:
                transport.close()
        return dnswire.build_response(q, rcode=dnswire.RCODE_SERVFAIL, authoritative=False)
