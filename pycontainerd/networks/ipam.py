"""IPv4 address management: pool validation, automatic subnet choice, address allocation.

Pure logic over ``ipaddress`` objects; what is in use comes from the stored endpoints (so an
allocation survives a restart) and from the host's routing table (``host_routes``).
"""
from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Iterable

from .errors import Forbidden, InvalidArgument, Unavailable
from .model import IPAMConfig
from .netns import off_loop


def _default_pools() -> list[IPv4Network]:
    """Docker's default local address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s."""
    pools = [IPv4Network(f"172.{i}.0.0/16") for i in range(17, 32)]
    pools += list(IPv4Network("192.168.0.0/16").subnets(new_prefix=20))
    return pools


DEFAULT_POOLS: list[IPv4Network] = _default_pools()


def parse_cidr(text: str) -> IPv4Network:
    """Parse a subnet the way Docker accepts it (host bits allowed, masked off)."""
    try:
        if "/" not in text:
            raise ValueError
        return IPv4Network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"invalid CIDR address: {text}") from None


def parse_ip(text: str) -> IPv4Address:
    try:
        return IPv4Address(text)
    except ValueError:
        raise InvalidArgument(f"invalid IP address: {text}") from None


@off_loop
def host_routes() -> list[IPv4Network]:
    """Networks the host already reaches directly: main-table routes and interface addresses."""
    from pyroute2 import IPRoute
    nets: list[IPv4Network] = []
    with IPRoute() as ipr:
        for r in ipr.get_routes(family=2, table=254):
            dst, plen = r.get("dst"), r["dst_len"]
            if dst and plen:
                nets.append(IPv4Network(f"{dst}/{plen}", strict=False))
        for a in ipr.get_addr(family=2):
            addr = a.get("address")
            if addr and not addr.startswith("127."):
                nets.append(IPv4Network(f"{addr}/{a['prefixlen']}", strict=False))
    return nets


def choose_subnet(in_use: Iterable[IPv4Network], pools: list[IPv4Network] | None = None) -> IPv4Network:
    """The first default pool that overlaps neither another network nor a host route."""
    used = list(in_use)
    for cand in pools if pools is not None else DEFAULT_POOLS:
        if not any(cand.overlaps(u) for u in used):
            return cand
    raise Unavailable("could not find an available, non-overlapping IPv4 address pool among "
                      "the defaults to assign to the network")


def _first_host(net: IPv4Network) -> IPv4Address:
    return net.network_address + 1 if net.prefixlen < 31 else net.network_address


def validate_configs(configs: list[IPAMConfig], others: Iterable[IPv4Network]) -> list[IPAMConfig]:
    """Check user-given pools and fill in default gateways. ``others``: subnets of other networks.

    Returns normalised copies (canonical subnet text, gateway set).
    """
    others = list(others)
    seen: list[IPv4Network] = []
    out: list[IPAMConfig] = []
    for c in configs:
        subnet = parse_cidr(c.subnet)
        if any(subnet.overlaps(o) for o in others + seen):
            raise Forbidden("Pool overlaps with other one on this address space")
        seen.append(subnet)
        rng = None
        if c.ip_range:
            rng = parse_cidr(c.ip_range)
            if not rng.subnet_of(subnet):
                raise InvalidArgument(f"no matching subnet for range {c.ip_range}")
        if c.gateway:
            gw = parse_ip(c.gateway)
            if gw not in subnet:
                raise InvalidArgument(f"no matching subnet for gateway {c.gateway}")
        else:
            # Docker asks the pool (the ip-range when there is one) for its first free address.
            base = rng if rng is not None else subnet
            gw = _first_host(base)
            if gw == subnet.network_address:
                gw += 1
        for key, aux in c.aux_addresses.items():
            if parse_ip(aux) not in subnet:
                raise InvalidArgument(f"no matching subnet for aux-address {aux}")
        out.append(IPAMConfig(subnet=str(subnet), gateway=str(gw),
                              ip_range=str(rng) if rng is not None else "",
                              aux_addresses=dict(c.aux_addresses)))
    return out


def reserved(configs: list[IPAMConfig]) -> set[IPv4Address]:
    """Addresses never handed to endpoints: gateways and aux addresses."""
    res: set[IPv4Address] = set()
    for c in configs:
        if c.gateway:
            res.add(IPv4Address(c.gateway))
        res |= {IPv4Address(a) for a in c.aux_addresses.values()}
    return res


def allocate(configs: list[IPAMConfig], used: set[IPv4Address], net_label: str,
             preferred: str = "") -> tuple[IPv4Address, IPAMConfig]:
    """Pick an endpoint address: ``preferred`` (a static --ip) or the lowest free one.

    ``used`` holds the addresses of the network's other endpoints; ``net_label`` is
    "NAME (ID)" for the exhaustion message, as moby words it.
    """
    taken = used | reserved(configs)
    if preferred:
        ip = parse_ip(preferred)
        for c in configs:
            subnet = IPv4Network(c.subnet)
            if ip in subnet:
                if ip in taken or ip in (subnet.network_address, subnet.broadcast_address):
                    raise Forbidden("Address already in use")
                return ip, c
        raise InvalidArgument(f"invalid address {preferred}: It does not belong to any of this "
                              "network's subnets")
    for c in configs:
        subnet = IPv4Network(c.subnet)
        pool = IPv4Network(c.ip_range) if c.ip_range else subnet
        for ip in pool.hosts() if pool.prefixlen < 31 else pool:
            if ip in taken or ip in (subnet.network_address, subnet.broadcast_address):
                continue
            return ip, c
    raise Unavailable(f"no available IPv4 addresses on this network's address pools: {net_label}")


def mac_for(ip: IPv4Address) -> str:
    """Docker's MAC for an address: 02:42 followed by the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


__all__ = ["DEFAULT_POOLS", "parse_cidr", "parse_ip", "host_routes", "choose_subnet",
           "validate_configs", "reserved", "allocate", "mac_for"]
