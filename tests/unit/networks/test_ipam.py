from ipaddress import IPv4Address, IPv4Network

import pytest

from pycontainerd.networks import Forbidden, InvalidArgument, IPAMConfig, Unavailable, ipam


def test_default_pools_are_dockers():
    assert ipam.DEFAULT_POOLS[0] == IPv4Network("172.17.0.0/16")
    assert ipam.DEFAULT_POOLS[14] == IPv4Network("172.31.0.0/16")
    assert ipam.DEFAULT_POOLS[15] == IPv4Network("192.168.0.0/20")
    assert ipam.DEFAULT_POOLS[-1] == IPv4Network("192.168.240.0/20")


def test_choose_subnet_skips_used_and_routed():
    used = [IPv4Network("172.17.0.0/16"), IPv4Network("172.18.5.0/24")]
    assert ipam.choose_subnet(used) == IPv4Network("172.19.0.0/16")
    with pytest.raises(Unavailable, match="could not find an available, non-overlapping IPv4 address pool"):
        ipam.choose_subnet([IPv4Network("0.0.0.0/1"), IPv4Network("128.0.0.0/1")])


def test_validate_configs():
    out = ipam.validate_configs([IPAMConfig(subnet="10.9.0.0/16")], [])
    assert out == [IPAMConfig(subnet="10.9.0.0/16", gateway="10.9.0.1")]
    with pytest.raises(InvalidArgument, match="^invalid network config:\ninvalid subnet 10.9.0.7/16: it should be 10.9.0.0/16$"):
        ipam.validate_configs([IPAMConfig(subnet="10.9.0.7/16")], [])
    out = ipam.validate_configs([IPAMConfig(subnet="10.9.0.0/16", ip_range="10.9.5.0/24")], [])
    assert out[0].gateway == "10.9.5.1" and out[0].ip_range == "10.9.5.0/24"
    with pytest.raises(InvalidArgument, match="^invalid network config:\ninvalid subnet 10.9.0.0: invalid CIDR block notation$"):
        ipam.validate_configs([IPAMConfig(subnet="10.9.0.0")], [])
    with pytest.raises(Forbidden, match="^invalid pool request: Pool overlaps with other one on this address space$"):
        ipam.validate_configs([IPAMConfig(subnet="10.9.0.0/24")], [IPv4Network("10.9.0.0/16")])
    with pytest.raises(Forbidden, match="^invalid pool request: Pool overlaps"):
        ipam.validate_configs([IPAMConfig(subnet="10.9.0.0/24"), IPAMConfig(subnet="10.9.0.128/25")], [])
    with pytest.raises(InvalidArgument, match="^invalid network config:\ninvalid gateway 10.8.0.1: parent subnet 10.9.0.0/24 doesn't contain this address$"):
        ipam.validate_configs([IPAMConfig(subnet="10.9.0.0/24", gateway="10.8.0.1")], [])
    with pytest.raises(InvalidArgument, match="^invalid network config:\ninvalid ip-range 10.8.0.0/24: parent subnet 10.9.0.0/24 doesn't contain ip-range$"):
        ipam.validate_configs([IPAMConfig(subnet="10.9.0.0/24", ip_range="10.8.0.0/24")], [])


def test_allocate():
    cfg = [IPAMConfig(subnet="10.9.0.0/29", gateway="10.9.0.1")]
    used: set[IPv4Address] = set()
    got = []
    for _ in range(5):
        ip, _ = ipam.allocate(cfg, used, "n (id)")
        used.add(ip)
        got.append(str(ip))
    assert got == ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    with pytest.raises(Unavailable, match=r"^no available IPv4 addresses on this network's address pools: n \(id\)$"):
        ipam.allocate(cfg, used, "n (id)")
    used.discard(IPv4Address("10.9.0.4"))
    assert str(ipam.allocate(cfg, used, "n")[0]) == "10.9.0.4"   # released addresses come back
    with pytest.raises(Forbidden, match="^Address already in use$"):
        ipam.allocate(cfg, used, "n", "10.9.0.3")
    with pytest.raises(Forbidden, match="^Address already in use$"):
        ipam.allocate(cfg, used, "n", "10.9.0.7")   # broadcast
    with pytest.raises(InvalidArgument, match="^no configured subnet or ip-range contain the IP address 10.9.1.3$"):
        ipam.allocate(cfg, used, "n", "10.9.1.3")
    ranged = [IPAMConfig(subnet="10.9.0.0/24", gateway="10.9.0.1", ip_range="10.9.0.128/25")]
    assert str(ipam.allocate(ranged, set(), "n")[0]) == "10.9.0.129"
    assert str(ipam.allocate(ranged, set(), "n", "10.9.0.20")[0]) == "10.9.0.20"   # static outside range


def test_mac():
    assert ipam.mac_for(IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"
