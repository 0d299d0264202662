"""Bridges and veth pairs with pyroute2 (netlink), on the host and inside sandboxes."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from . import netns


@netns.off_loop
def link_exists(name: str) -> bool:
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=name))


@netns.off_loop
def link_kind(name: str) -> str:
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            return ""
        info = ipr.get_links(idx[0])[0].get_attr("IFLA_LINKINFO")
        return info.get_attr("IFLA_INFO_KIND") if info else ""


@netns.off_loop
def ensure_bridge(name: str, addresses: list[tuple[str, int]], mtu: int = 0) -> bool:
    """Create the bridge if missing, give it the gateway addresses and MTU, bring it up.

    Returns True when this call created the bridge (so the caller knows what to undo).
    """
    with IPRoute() as ipr:
        created = False
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            ipr.link("add", ifname=name, kind="bridge")
            created = True
            idx = ipr.link_lookup(ifname=name)
        i = idx[0]
        try:
            if mtu:
                ipr.link("set", index=i, mtu=mtu)
            have = {(a.get("address"), a["prefixlen"]) for a in ipr.get_addr(index=i, family=2)}
            for ip, plen in addresses:
                if (ip, plen) not in have:
                    ipr.addr("add", index=i, address=ip, prefixlen=plen)
            ipr.link("set", index=i, state="up")
        except BaseException:
            if created:
                ipr.link("del", index=i)
            raise
        return created


@netns.off_loop
def delete_link(name: str) -> bool:
    """Delete an interface if it exists (deleting one end of a veth removes both)."""
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            return False
        try:
            ipr.link("del", index=idx[0])
        except NetlinkError as e:
            if e.code != 19:   # ENODEV: gone meanwhile
                raise
        return True


@netns.off_loop
def bridge_ports(bridge: str) -> list[str]:
    """Names of the interfaces enslaved to ``bridge``."""
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=bridge)
        if not idx:
            return []
        return [l.get_attr("IFLA_IFNAME") for l in ipr.get_links()
                if l.get_attr("IFLA_MASTER") == idx[0]]


@netns.off_loop
def attach(port: str, bridge: str) -> bool:
    """Enslave ``port`` to ``bridge`` (again, e.g. after the bridge was recreated) and bring it up."""
    with IPRoute() as ipr:
        p, b = ipr.link_lookup(ifname=port), ipr.link_lookup(ifname=bridge)
        if not p or not b:
            return False
        if ipr.get_links(p[0])[0].get_attr("IFLA_MASTER") != b[0]:
            ipr.link("set", index=p[0], master=b[0])
        ipr.link("set", index=p[0], state="up")
        return True


def random_veth_name() -> str:
    """Docker's host-side naming: "veth" and 7 hex digits."""
    return "veth" + secrets.token_hex(4)[:7]


@dataclass
class ContainerIface:
    ifname: str          # name inside the sandbox (eth0, …)
    mac: str
    address: str
    prefixlen: int
    gateway: str = ""    # install a default route via this gateway when set
    mtu: int = 0


@netns.off_loop
def next_ifname(sandbox: str) -> str:
    """The first free ethN inside the sandbox."""
    def names() -> set[str]:
        with IPRoute() as ipr:
            return {l.get_attr("IFLA_IFNAME") for l in ipr.get_links()}
    have = netns.run_in(sandbox, names)
    n = 0
    while f"eth{n}" in have:
        n += 1
    return f"eth{n}"


@netns.off_loop
def plug_veth(bridge: str, host_if: str, sandbox: str, iface: ContainerIface) -> None:
    """Create a veth pair: host end in ``bridge``, the other moved into ``sandbox`` and configured.

    On any failure the pair is deleted again (in whichever namespace its ends are).
    """
    tmp = "vt" + secrets.token_hex(5)   # the container end's name until it is renamed inside
    with IPRoute() as ipr:
        br = ipr.link_lookup(ifname=bridge)
        if not br:
            raise RuntimeError(f"bridge {bridge} does not exist")
        ipr.link("add", ifname=host_if, kind="veth", peer=tmp)
        try:
            h = ipr.link_lookup(ifname=host_if)[0]
            p = ipr.link_lookup(ifname=tmp)[0]
            if iface.mtu:
                ipr.link("set", index=h, mtu=iface.mtu)
                ipr.link("set", index=p, mtu=iface.mtu)
            ipr.link("set", index=h, master=br[0])
            ipr.link("set", index=h, state="up")
            fd = os.open(sandbox, os.O_RDONLY | os.O_CLOEXEC)
            try:
                ipr.link("set", index=p, net_ns_fd=fd)
            finally:
                os.close(fd)
            netns.run_in(sandbox, lambda: _configure_inside(tmp, iface))
        except BaseException:
            left = ipr.link_lookup(ifname=host_if)
            if left:
                ipr.link("del", index=left[0])   # takes the peer with it, wherever it is
            raise


def _configure_inside(tmp: str, iface: ContainerIface) -> None:
    with IPRoute() as ipr:
        i = ipr.link_lookup(ifname=tmp)[0]
        ipr.link("set", index=i, ifname=iface.ifname, address=iface.mac)
        ipr.addr("add", index=i, address=iface.address, prefixlen=iface.prefixlen)
        ipr.link("set", index=i, state="up")
        lo = ipr.link_lookup(ifname="lo")
        if lo:
            ipr.link("set", index=lo[0], state="up")
        if iface.gateway:
            ipr.route("add", dst="0.0.0.0/0", gateway=iface.gateway, oif=i)


@netns.off_loop
def has_default_route(sandbox: str) -> bool:
    def check() -> bool:
        with IPRoute() as ipr:
            return any(not r.get("dst") and r["dst_len"] == 0
                       for r in ipr.get_routes(family=2, table=254))
    return netns.run_in(sandbox, check)


@netns.off_loop
def set_default_route(sandbox: str, ifname: str, gateway: str) -> None:
    def do() -> None:
        with IPRoute() as ipr:
            i = ipr.link_lookup(ifname=ifname)
            if i:
                ipr.route("replace", dst="0.0.0.0/0", gateway=gateway, oif=i[0])
    netns.run_in(sandbox, do)


@netns.off_loop
def unplug_inside(sandbox: str, ifname: str) -> None:
    """Delete an interface from inside a sandbox (when its host end is already gone)."""
    def do() -> None:
        with IPRoute() as ipr:
            i = ipr.link_lookup(ifname=ifname)
            if i:
                ipr.link("del", index=i[0])
    netns.run_in(sandbox, do)
