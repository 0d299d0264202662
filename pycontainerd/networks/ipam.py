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


def _prefix(text: str) -> IPv4Network | None:
    """A prefix as Go's netip.ParsePrefix takes it (host bits allowed here, checked by the caller)."""
    try:
        if "/" not in text:
            return None
        return IPv4Network(text, strict=False)
    except ValueError:
        return None


def _address_error(text: str, subnet: IPv4Network) -> str:
    """moby's validateAddress: "" when ``text`` is a valid address inside ``subnet``."""
    try:
        addr = IPv4Address(text)
    except ValueError:
        return "parent subnet is an IPv4 block" if ":" in text else "invalid address"
    if addr not in subnet:
        return f"parent subnet {subnet} doesn't contain this address"
    return ""


def check_configs(configs: list[IPAMConfig]) -> None:
    """moby's ValidateIPAM (API 1.44+): every problem at once, under "invalid network config:"."""
    errs: list[str] = []
    for c in configs:
        subnet = _prefix(c.subnet)
        if subnet is None:
            errs.append(f"invalid subnet {c.subnet}: invalid CIDR block notation")
            continue
        if c.subnet.split("/")[0] != str(subnet.network_address):
            errs.append(f"invalid subnet {c.subnet}: it should be {subnet}")
        if c.ip_range:
            rng = _prefix(c.ip_range)
            if rng is None:
                errs.append(f"invalid ip-range {c.ip_range}: invalid CIDR block notation")
            else:
                if rng.prefixlen < subnet.prefixlen:
                    errs.append(f"invalid ip-range {c.ip_range}: CIDR block is bigger than its parent subnet {subnet}")
                if c.ip_range.split("/")[0] != str(rng.network_address):
                    errs.append(f"invalid ip-range {c.ip_range}: it should be {rng}")
                if not subnet.overlaps(rng):
                    errs.append(f"invalid ip-range {c.ip_range}: parent subnet {subnet} doesn't contain ip-range")
        if c.gateway and (e := _address_error(c.gateway, subnet)):
            errs.append(f"invalid gateway {c.gateway}: {e}")
        for key, aux in c.aux_addresses.items():
            if e := _address_error(aux, subnet):
                errs.append(f"invalid auxiliary address {key}: {e}")
    if len(errs) == 1:
        raise InvalidArgument(f"invalid network config:\n{errs[0]}")
    if errs:
        raise InvalidArgument("invalid network config:\n* " + "\n* ".join(errs))


def validate_configs(configs: list[IPAMConfig], others: Iterable[IPv4Network]) -> list[IPAMConfig]:
    """Check user-given pools (Docker's texts) and fill in default gateways. ``others``: subnets of
    other networks.

    Returns normalised copies (canonical subnet text, gateway set).
    """
    check_configs(configs)
    others = list(others)
    seen: list[IPv4Network] = []
    out: list[IPAMConfig] = []
    for c in configs:
        subnet = IPv4Network(c.subnet)
        if any(subnet.overlaps(o) for o in others + seen):
            raise Forbidden("invalid pool request: Pool overlaps with other one on this address space")
        seen.append(subnet)
        rng = IPv4Network(c.ip_range) if c.ip_range else None
        if c.gateway:
            gw = IPv4Address(c.gateway)
        else:
            # Docker asks the pool (the ip-range when there is one) for its first free address.
            base = rng if rng is not None else subnet
            gw = _first_host(base)
            if gw == subnet.network_address:
                gw += 1
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
        raise InvalidArgument(f"no configured subnet or ip-range contain the IP address {preferred}")
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
           "check_configs", "validate_configs", "reserved", "allocate", "mac_for"]
