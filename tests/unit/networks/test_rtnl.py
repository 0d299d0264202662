"""rtnl's hand-built netlink messages, decoded by pyroute2's parsers (an independent encoder)."""
from __future__ import annotations

from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from pycontainerd.networks import rtnl


def decode(cls, kind: int, body: bytes):
    msg = cls(rtnl.message(kind, 0, 7, body))
    msg.decode()
    assert msg["header"]["length"] == 16 + len(body) and msg["header"]["sequence_number"] == 7
    return msg


def test_veth_pair_in_one_message():
    msg = decode(ifinfmsg, rtnl.RTM_NEWLINK, rtnl.veth_body(
        "veth1234567", "eth0", master=42, mtu=1450, peer_mac="02:42:ac:11:00:02", peer_netns_fd=9))
    assert msg["flags"] & 1 and msg["change"] & 1   # the host end comes up
    assert msg.get_attr("IFLA_IFNAME") == "veth1234567"
    assert msg.get_attr("IFLA_MASTER") == 42 and msg.get_attr("IFLA_MTU") == 1450
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    peer = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer.get_attr("IFLA_IFNAME") == "eth0"
    assert peer.get_attr("IFLA_ADDRESS") == "02:42:ac:11:00:02"
    assert peer.get_attr("IFLA_MTU") == 1450 and peer.get_attr("IFLA_NET_NS_FD") == 9
    assert peer["flags"] == 0   # the container end stays down until it has its address


def test_veth_without_options_has_no_stray_attributes():
    msg = decode(ifinfmsg, rtnl.RTM_NEWLINK, rtnl.veth_body("a", "b", up=False))
    assert msg["flags"] == 0
    assert msg.get_attr("IFLA_MASTER") is None and msg.get_attr("IFLA_MTU") is None
    peer = msg.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert peer.get_attr("IFLA_NET_NS_FD") is None and peer.get_attr("IFLA_ADDRESS") is None


def test_address_with_broadcast_like_docker():
    msg = decode(ifaddrmsg, rtnl.RTM_NEWADDR, rtnl.address_body(5, "172.18.0.2", 16))
    assert (msg["family"], msg["prefixlen"], msg["index"]) == (2, 16, 5)
    assert msg.get_attr("IFA_LOCAL") == msg.get_attr("IFA_ADDRESS") == "172.18.0.2"
    assert msg.get_attr("IFA_BROADCAST") == "172.18.255.255"
    assert decode(ifaddrmsg, rtnl.RTM_NEWADDR, rtnl.address_body(5, "10.0.0.1", 31)).get_attr("IFA_BROADCAST") is None


def test_default_route():
    msg = decode(rtmsg, rtnl.RTM_NEWROUTE, rtnl.default_route_body("172.18.0.1", 3))
    assert (msg["family"], msg["dst_len"], msg["table"]) == (2, 0, 254)
    assert msg.get_attr("RTA_GATEWAY") == "172.18.0.1" and msg.get_attr("RTA_OIF") == 3
    assert msg.get_attr("RTA_DST") is None
