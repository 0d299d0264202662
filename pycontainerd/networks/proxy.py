"""The userland proxy (what docker-proxy does): a listener on the host IP/port that relays TCP
connections and UDP datagrams to the container's IP/port.

It carries what the DNAT rule cannot: connections to 127.0.0.1:<port> (the OUTPUT rule skips
loopback) and a container reaching its own published port. The listening socket is bound
synchronously, so "address in use" is known before anything else is set up.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import threading
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

UDP_IDLE_TIMEOUT = 90.0   # docker-proxy's UDPConnTrackTimeout
SPLICE_CHUNK = 1 << 20
CONNECT_TIMEOUT = 10.0
F_SETPIPE_SZ = 1031


def bind_socket(proto: str, host_ip: str, port: int, listen: bool = True) -> socket.socket:
    """Bind (and for TCP listen on) host_ip:port; port 0 lets the kernel pick an ephemeral one.

    ``listen=False`` only reserves the port (Docker's "dummy proxy" without the userland proxy).
    """
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind)
    try:
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host_ip or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
        if proto == "tcp" and listen:
            s.listen(128)
        s.setblocking(False)
        return s
    except BaseException:
        s.close()
        raise


def _splice(src: socket.socket, dst: socket.socket) -> None:
    """One direction of a TCP relay, in its own thread: socket → pipe → socket with splice(2), so
    the bytes never pass through Python. EOF is passed on as a half-close, as docker-proxy does;
    an error tears both sockets down so the other direction ends too."""
    r, w = os.pipe()
    try:
        try:
            fcntl.fcntl(w, F_SETPIPE_SZ, SPLICE_CHUNK)
        except OSError:
            pass
        sfd, dfd = src.fileno(), dst.fileno()
        while True:
            n = os.splice(sfd, w, SPLICE_CHUNK, flags=os.SPLICE_F_MOVE)
            if n == 0:
                break
            while n > 0:
                n -= os.splice(r, dfd, n, flags=os.SPLICE_F_MOVE)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    finally:
        os.close(r)
        os.close(w)


@dataclass
class Proxy:
    proto: str
    sock: socket.socket
    container_ip: str
    container_port: int
    _udp: asyncio.DatagramTransport | None = None
    _tasks: set = field(default_factory=set)
    _accepting: bool = False
    _conns: set = field(default_factory=set)          # open TCP sockets (both ends of each relay)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host_port(self) -> int:
        return self.sock.getsockname()[1]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.proto == "tcp":
            # Accepting stays on the loop; each connection is relayed by two threads with splice(2)
            # (the loop also serves gRPC, and bulk copies through asyncio streams are slow).
            loop.add_reader(self.sock.fileno(), self._accept)
            self._accepting = True
        else:
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _UDPFrontend(self), sock=self.sock)

    async def stop(self) -> None:
        if self._accepting:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self._accepting = False
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        for t in list(self._tasks):
            t.cancel()
        self._tasks.clear()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.debug("proxy accept on %d: %s", self.host_port, e)
                return
            conn.setblocking(True)
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._relay_tcp, args=(conn,), daemon=True,
                             name=f"proxy-{self.host_port}").start()

    def _relay_tcp(self, client: socket.socket) -> None:
        backend = None
        try:
            try:
                backend = socket.create_connection((self.container_ip, self.container_port), CONNECT_TIMEOUT)
                backend.settimeout(None)
            except OSError as e:
                log.debug("proxy to %s:%d: %s", self.container_ip, self.container_port, e)
                return
            with self._lock:
                self._conns.add(backend)
            up = threading.Thread(target=_splice, args=(client, backend), daemon=True)
            up.start()
            _splice(backend, client)
            up.join()
        finally:
            with self._lock:
                self._conns.discard(client)
                if backend is not None:
                    self._conns.discard(backend)
            client.close()
            if backend is not None:
                backend.close()


class _UDPBackend(asyncio.DatagramProtocol):
    """One connected socket per client address, so replies find their way back."""

    def __init__(self, front: "_UDPFrontend", client) -> None:
        self.front = front
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.touch()

    def touch(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(UDP_IDLE_TIMEOUT, self.close)

    def datagram_received(self, data: bytes, addr) -> None:
        self.touch()
        if self.front.transport is not None and not self.front.transport.is_closing():
            self.front.transport.sendto(data, self.client)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.transport.close()
        self.front.backends.pop(self.client, None)


class _UDPFrontend(asyncio.DatagramProtocol):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.DatagramTransport | None = None
        self.backends: dict[object, _UDPBackend] = {}
        self.pending: dict[object, list[bytes]] = {}

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        be = self.backends.get(addr)
        if be is not None and be.transport is not None:
            be.touch()
            be.transport.sendto(data)
            return
        if addr in self.pending:
            self.pending[addr].append(data)
            return
        self.pending[addr] = [data]
        t = asyncio.ensure_future(self._connect(addr))
        self.proxy._tasks.add(t)
        t.add_done_callback(self.proxy._tasks.discard)

    async def _connect(self, addr) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, be = await loop.create_datagram_endpoint(
                lambda: _UDPBackend(self, addr),
                remote_addr=(self.proxy.container_ip, self.proxy.container_port))
        except OSError as e:
            log.debug("udp proxy: %s", e)
            self.pending.pop(addr, None)
            return
        self.backends[addr] = be
        for d in self.pending.pop(addr, []):
            be.transport.sendto(d)

    def connection_lost(self, exc) -> None:
        for be in list(self.backends.values()):
            be.close()
