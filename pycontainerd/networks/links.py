"""Bridges and veth pairs, on the host and inside sandboxes.

The per-container operations (plug_veth, delete_link(s)) use rtnl.py; the rest uses pyroute2.
"""
from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass

from pyroute2 import IPRoute

from . import netns, rtnl

log = logging.getLogger(__name__)


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


def delete_link(name: str) -> bool:
    """Delete an interface if it exists (deleting one end of a veth removes both)."""
    with rtnl.Netlink() as nl:
        return nl.delete_link(name)


def delete_links(names: list[str]) -> list[str]:
    """Delete several interfaces over one socket; returns the names that could not be deleted."""
    failed = []
    with rtnl.Netlink() as nl:
        for name in names:
            try:
                nl.delete_link(name)
            except OSError as e:
                log.warning("cannot delete %s: %s", name, e)
                failed.append(name)
    return failed


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


def plug_veth(bridge: str, host_if: str, sandbox: str, iface: ContainerIface,
              inside: rtnl.Netlink | None = None) -> tuple[str, str]:
    """Create a veth pair: host end ``host_if`` up in ``bridge``, the other end made directly in
    ``sandbox`` as ``iface.ifname`` with its MAC, then addressed, up, and the default route set.

    ``inside`` is a netlink socket in the sandbox (opened here when not given). A name already
    taken (a random host name, or an ethN the container made itself) is replaced by the next
    candidate; returns the (host, container) names used. On failure nothing is left behind.
    """
    own = inside is None
    if own:
        inside = netns.open_netlink(sandbox)
    try:
        with rtnl.Netlink() as host:
            br = host.index_of(bridge)
            if not br:
                raise RuntimeError(f"bridge {bridge} does not exist")
            fd = os.open(sandbox, os.O_RDONLY | os.O_CLOEXEC)
            try:
                for _ in range(32):
                    try:
                        host.add_veth(host_if, iface.ifname, master=br, mtu=iface.mtu, peer_mac=iface.mac,
                                      peer_netns_fd=fd)
                        break
                    except FileExistsError:
                        if host.index_of(host_if):
                            host_if = random_veth_name()
                        else:
                            iface.ifname = _next_free(inside, iface.ifname)
                else:
                    raise RuntimeError("no free interface name")
            finally:
                os.close(fd)
            try:
                idx = inside.index_of(iface.ifname)
                inside.add_address(idx, iface.address, iface.prefixlen)
                inside.set_up(idx)
                if iface.gateway:
                    inside.replace_default_route(iface.gateway, idx)
            except BaseException:
                host.delete_link(host_if)   # takes the peer with it
                raise
        return host_if, iface.ifname
    finally:
        if own:
            inside.close()


def _next_free(inside: rtnl.Netlink, ifname: str) -> str:
    n = int(ifname[3:]) + 1 if ifname.startswith("eth") and ifname[3:].isdigit() else 0
    while inside.index_of(f"eth{n}"):
        n += 1
    return f"eth{n}"


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
