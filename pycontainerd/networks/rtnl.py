"""A small rtnetlink client for the per-container path (veth pairs, addresses, routes).

pyroute2 stays for the rarely used operations (bridges, dumps); this module exists because a
container start/stop is a handful of netlink messages and pyroute2's per-call machinery (its own
event loop, a socket per IPRoute) costs more than the kernel work. One request is one message
and one ack, built with ``struct``.

A ``Netlink`` socket is bound to the network namespace of the thread that opened it and stays
there, whichever thread uses it later (see netns.py).
"""
from __future__ import annotations

import errno
import os
import socket
import struct
import threading
from ipaddress import IPv4Address, IPv4Network

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLA_F_NESTED = 0x8000

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 4, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
IFF_UP = 0x1
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_NLMSGHDR = struct.Struct("=IHHII")      # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")    # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")     # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")     # family, dst_len, src_len, tos, table, protocol, scope, type, flags


def _attr(kind: int, data: bytes) -> bytes:
    n = 4 + len(data)
    return struct.pack("=HH", n, kind) + data + b"\0" * (-n & 3)


def _str(kind: int, text: str) -> bytes:
    return _attr(kind, text.encode() + b"\0")


def _u32(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("=I", value))


def _mac(text: str) -> bytes:
    return bytes(int(b, 16) for b in text.split(":"))


def _ifinfo(index: int = 0, up: bool = False) -> bytes:
    return _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP if up else 0)


# ---- message bodies (after the nlmsghdr), built apart from sending so they can be checked

def veth_body(name: str, peer: str, *, master: int = 0, mtu: int = 0, peer_mac: str = "",
              peer_netns_fd: int = -1, up: bool = True) -> bytes:
    """RTM_NEWLINK for a veth pair, the peer's attributes nested in IFLA_INFO_DATA/VETH_INFO_PEER."""
    peer_attrs = _str(IFLA_IFNAME, peer)
    if peer_mac:
        peer_attrs += _attr(IFLA_ADDRESS, _mac(peer_mac))
    if mtu:
        peer_attrs += _u32(IFLA_MTU, mtu)
    if peer_netns_fd >= 0:
        peer_attrs += _u32(IFLA_NET_NS_FD, peer_netns_fd)
    info = _attr(IFLA_INFO_KIND, b"veth") + _attr(
        IFLA_INFO_DATA | NLA_F_NESTED, _attr(VETH_INFO_PEER | NLA_F_NESTED, _ifinfo() + peer_attrs))
    body = _ifinfo(up=up) + _str(IFLA_IFNAME, name) + _attr(IFLA_LINKINFO | NLA_F_NESTED, info)
    if mtu:
        body += _u32(IFLA_MTU, mtu)
    if master:
        body += _u32(IFLA_MASTER, master)
    return body


def address_body(index: int, address: str, prefixlen: int) -> bytes:
    """RTM_NEWADDR: local = address, with the broadcast address below /31."""
    ip = IPv4Address(address).packed
    body = _IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
    body += _attr(IFA_LOCAL, ip) + _attr(IFA_ADDRESS, ip)
    if prefixlen < 31:
        brd = IPv4Network(f"{address}/{prefixlen}", strict=False).broadcast_address
        body += _attr(IFA_BROADCAST, brd.packed)
    return body


def default_route_body(gateway: str, oif: int) -> bytes:
    """RTM_NEWROUTE: default via ``gateway`` dev ``oif`` in the main table."""
    body = _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE,
                       RTN_UNICAST, 0)
    body += _attr(RTA_GATEWAY, IPv4Address(gateway).packed) + _u32(RTA_OIF, oif)
    return body


def message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body


class Netlink:
    """A NETLINK_ROUTE socket in the namespace it was opened in; requests are synchronous.

    Thread-safe: one request at a time (the socket is shared by whoever holds the object).
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        try:
            self.sock.bind((0, 0))
        except BaseException:
            self.sock.close()
            raise
        self._seq = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Netlink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one message with NLM_F_ACK and wait for its ack; returns the replies before it
        as (type, payload). A netlink error becomes OSError."""
        with self._lock:
            self._seq = (self._seq + 1) & 0xFFFFFFFF
            seq = self._seq
            self.sock.send(message(kind, flags, seq, body))
            replies: list[tuple[int, bytes]] = []
            while True:
                data = self.sock.recv(65536)
                off = 0
                while off + _NLMSGHDR.size <= len(data):
                    length, mtype, _, mseq, _ = _NLMSGHDR.unpack_from(data, off)
                    if length < _NLMSGHDR.size:
                        raise OSError(errno.EIO, "netlink: malformed reply")
                    if mseq == seq:
                        if mtype == NLMSG_ERROR:
                            code = struct.unpack_from("=i", data, off + _NLMSGHDR.size)[0]
                            if code:
                                raise OSError(-code, os.strerror(-code))
                            return replies
                        if mtype == NLMSG_DONE:
                            return replies
                        replies.append((mtype, data[off + _NLMSGHDR.size:off + length]))
                    off += (length + 3) & ~3

    # ---- links
    def add_veth(self, name: str, peer: str, *, master: int = 0, mtu: int = 0, peer_mac: str = "",
                 peer_netns_fd: int = -1, up: bool = True) -> None:
        """Create a veth pair in one message: ``name`` here (in ``master``, up), ``peer`` created
        directly in the namespace of ``peer_netns_fd`` with its MAC and MTU (left down: it is
        brought up once addressed)."""
        body = veth_body(name, peer, master=master, mtu=mtu, peer_mac=peer_mac, peer_netns_fd=peer_netns_fd, up=up)
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body)

    def delete_link(self, name: str) -> bool:
        """Delete an interface by name; False when there is none (deleting a veth end removes both)."""
        try:
            self.request(RTM_DELLINK, 0, _ifinfo() + _str(IFLA_IFNAME, name))
        except OSError as e:
            if e.errno == errno.ENODEV:
                return False
            raise
        return True

    def index_of(self, name: str) -> int:
        """The index of interface ``name`` in this socket's namespace (0 when there is none)."""
        try:
            replies = self.request(RTM_GETLINK, 0, _ifinfo() + _str(IFLA_IFNAME, name))
        except OSError as e:
            if e.errno == errno.ENODEV:
                return 0
            raise
        for mtype, payload in replies:
            if mtype == RTM_NEWLINK:
                return _IFINFOMSG.unpack_from(payload)[2]
        return 0

    def set_up(self, index: int) -> None:
        self.request(RTM_NEWLINK, 0, _ifinfo(index, up=True))

    # ---- addresses and routes
    def add_address(self, index: int, address: str, prefixlen: int) -> None:
        """An IPv4 address with its broadcast address, as Docker (vishvananda/netlink) adds it."""
        body = address_body(index, address, prefixlen)
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body)

    def replace_default_route(self, gateway: str, oif: int) -> None:
        body = default_route_body(gateway, oif)
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, body)

