"""The embedded DNS server of a sandbox: 127.0.0.11 inside the container's netns, served from
the daemon's asyncio loop.

The sockets are created by a thread that enters the namespace (see ``netns.run_in``), so they
live in the container's namespace while the daemon stays in the host's. As Docker does, they
listen on random ports and nat rules inside the namespace send 127.0.0.11:53 there, so port 53
stays free for the container's own processes (a DNS server in a container keeps working); when
iptables cannot be used there, the sockets bind 127.0.0.11:53 itself. Names the manager
knows (container names, aliases, reverse lookups, scoped to shared networks) are answered
here; anything else is forwarded over UDP to the upstream servers, dialled from the host
namespace (Docker does that for loopback upstreams; for the others this is a simplification).
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Callable

from . import dnswire, netns

log = logging.getLogger(__name__)

RESOLVER_IP = "127.0.0.11"
FORWARD_TIMEOUT = 2.0
# nat chains inside the container's namespace (Docker calls them DOCKER_OUTPUT/DOCKER_POSTROUTING)
CHAIN_OUTPUT = "PYDOCKER_DNS_OUTPUT"
CHAIN_POSTROUTING = "PYDOCKER_DNS_POSTROUTING"

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


def _jumps() -> list[tuple[str, list[str]]]:
    return [(chain, ["-d", f"{RESOLVER_IP}/32", "-j", target])
            for chain, target in (("OUTPUT", CHAIN_OUTPUT), ("POSTROUTING", CHAIN_POSTROUTING))]


def redirect_rules(udp_port: int, tcp_port: int, jumps: bool = False) -> str:
    """iptables-restore input: 127.0.0.11:53 → the resolver's ports (replies keep port 53);
    with ``jumps`` also the jumps into our chains (for a nat table known to be without them)."""
    ip = f"{RESOLVER_IP}/32"
    hooks = "".join(f"-A {chain} {' '.join(spec)}\n" for chain, spec in _jumps()) if jumps else ""
    return (f"*nat\n:{CHAIN_OUTPUT} - [0:0]\n:{CHAIN_POSTROUTING} - [0:0]\n{hooks}"
            f"-A {CHAIN_OUTPUT} -d {ip} -p udp -m udp --dport 53 -j DNAT --to-destination {RESOLVER_IP}:{udp_port}\n"
            f"-A {CHAIN_OUTPUT} -d {ip} -p tcp -m tcp --dport 53 -j DNAT --to-destination {RESOLVER_IP}:{tcp_port}\n"
            f"-A {CHAIN_POSTROUTING} -s {ip} -p udp -m udp --sport {udp_port} -j SNAT --to-source :53\n"
            f"-A {CHAIN_POSTROUTING} -s {ip} -p tcp -m tcp --sport {tcp_port} -j SNAT --to-source :53\n"
            "COMMIT\n")


def install_redirect(sandbox: str, udp_port: int, tcp_port: int, fresh: bool = False) -> None:
    """Install (or, after a restart, replace) the redirect inside the sandbox's namespace.

    Processes started from a thread that entered the namespace run in it, so this is plain
    iptables. Declaring our chains in a --noflush restore empties them first. ``fresh``: no
    redirect was ever installed there, so the jumps go in the same restore (one exec, not five).
    """
    def do() -> None:
        cp = subprocess.run(["iptables-restore", "-w", "--noflush"],
                            input=redirect_rules(udp_port, tcp_port, jumps=fresh), text=True, capture_output=True)
        if cp.returncode != 0:
            raise OSError(f"iptables-restore in the sandbox: {cp.stderr.strip()}")
        if fresh:
            return
        for chain, spec in _jumps():
            if subprocess.run(["iptables", "-w", "-t", "nat", "-C", chain, *spec],
                              capture_output=True).returncode != 0:
                cp = subprocess.run(["iptables", "-w", "-t", "nat", "-A", chain, *spec],
                                    capture_output=True, text=True)
                if cp.returncode != 0:
                    raise OSError(f"iptables in the sandbox: {cp.stderr.strip()}")
    netns.run_in(sandbox, do)


def open_redirected_sockets(sandbox: str, fresh: bool = False) -> tuple[socket.socket, socket.socket]:
    """Sockets on random ports plus the redirect; falls back to port 53 if that fails."""
    udp, tcp = open_sockets(sandbox, port=0)
    try:
        install_redirect(sandbox, udp.getsockname()[1], tcp.getsockname()[1], fresh)
        return udp, tcp
    except (OSError, FileNotFoundError) as e:
        log.warning("embedded DNS: no redirect in %s (%s); binding port 53 itself", sandbox, e)
        udp.close()
        tcp.close()
    return open_sockets(sandbox, port=53)


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
    def __init__(self, sandbox: str, callbacks: ResolverCallbacks, fresh: bool = False) -> None:
        self.sandbox = sandbox
        self.cb = callbacks
        self.fresh = fresh   # no redirect installed in this namespace before
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        udp, tcp = await asyncio.to_thread(open_redirected_sockets, self.sandbox, self.fresh)
        self.fresh = False
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
