"""NetworkManager: networks, sandboxes and endpoints, kept consistent with the host.

Every operation that changes the host does so step by step with an undo list; a failure
unwinds what it did, so no bridge, veth, rule, proxy or namespace outlives a failed call.
The store is written after the host is in the new state (and, for creates, the network
record first so a crash in between is repaired by ``reconcile``).
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from ipaddress import IPv4Address, IPv4Network, ip_address
from typing import Any, Callable

from . import files, ipam, links, netns, rtnl
from .errors import Conflict, Forbidden, InvalidArgument, NetworkError, NotFound
from .iptables import Firewall, ensure_ip_forward
from .model import (BRIDGE_NAME_OPTION, ENABLE_ICC_OPTION, ENABLE_MASQ_OPTION, MTU_OPTION,
                    DNSConfig, Endpoint, IPAMConfig, Network, PortBinding, Sandbox)
from .proxy import Proxy, bind_socket
from .resolver import Resolver, ResolverCallbacks

log = logging.getLogger(__name__)

DRIVER_ALIASES = {"bridge": "bridge", "host": "host", "null": "null", "none": "null"}


def now_rfc3339() -> str:
    dt = datetime.now(timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond * 1000:09d}Z"


class _Undo:
    """Collects undo steps; ``run`` plays them back newest first and never raises."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], Any]] = []

    def push(self, fn: Callable[[], Any]) -> None:
        self.steps.append(fn)

    async def run(self) -> None:
        for fn in reversed(self.steps):
            try:
                # Undo steps touch netlink/iptables: keep them off the loop thread. A step
                # that returns a coroutine (async cleanup) is awaited here, on the loop.
                r = await asyncio.to_thread(fn)
                if asyncio.iscoroutine(r):
                    await r
            except Exception:  # keep unwinding: the other steps still need to happen
                log.exception("undo step failed")
        self.steps.clear()


@dataclass
class ManagerConfig:
    root: str                                  # persistent store (networks, sandboxes)
    state: str                                 # runtime state (netns files)
    default_bridge: str = "pyd0"               # device of the predefined "bridge" network
    default_subnet: str = ""                   # like dockerd --bip (gateway/prefix or subnet); "" = pick
    chain_prefix: str = "PYDOCKER"
    iptables: bool = True                      # dockerd --iptables
    userland_proxy: bool = True
    host_resolv_conf: str = "/etc/resolv.conf"
    systemd_resolv_conf: str = files.SYSTEMD_RESOLV_CONF
    subnet_pools: list[str] = field(default_factory=list)   # replaces Docker's default pools


class NetworkManager:
    def __init__(self, config: ManagerConfig) -> None:
        from .store import Store
        self.cfg = config
        self.store = Store(config.root)
        self.netns_dir = os.path.join(config.state, "netns")
        self.fw = Firewall(config.chain_prefix) if config.iptables else None
        self.networks: dict[str, Network] = {}
        self.sandboxes: dict[str, Sandbox] = {}
        self.proxies: dict[str, list[Proxy]] = {}        # endpoint id → its proxies
        self.reserved: dict[str, list] = {}              # endpoint id → port-holding sockets (no proxy)
        self.resolvers: dict[str, Resolver] = {}         # container id → embedded DNS
        self.netlinks: dict[str, rtnl.Netlink] = {}      # container id → netlink socket in its sandbox
        self.untouched: set[str] = set()   # sandboxes made here whose nat table we never wrote to
        # Veths of removed sandboxes still being deleted: their addresses stay taken meanwhile.
        self.releasing: dict[str, dict[str, asyncio.Task]] = {}   # network id → ip → task
        self.release_tasks: set[asyncio.Task] = set()
        self.lock = asyncio.Lock()
        self.pools = ([IPv4Network(p) for p in config.subnet_pools] if config.subnet_pools
                      else list(ipam.DEFAULT_POOLS))
        self.started = False

    # ================================================================ lifecycle
    async def start(self) -> None:
        """Load the store, create the predefined networks, then make the host match the store."""
        async with self.lock:
            os.makedirs(self.netns_dir, exist_ok=True)
            for net in self.store.load_networks():
                self.networks[net.id] = net
            for sb in self.store.load_sandboxes():
                self.sandboxes[sb.container_id] = sb
            await self._ensure_predefined()
            await self._reconcile()
            self.started = True

    async def close(self, remove_rules: bool = True, remove_bridges: bool = False) -> None:
        """Stop proxies and resolvers; on a clean shutdown also remove our iptables chains.

        Bridges, sandboxes and endpoints stay (containers outlive the daemon) unless
        ``remove_bridges`` (used when nothing else runs, e.g. tests) removes the bridges too.
        """
        await self.settle()
        async with self.lock:
            for nl in self.netlinks.values():
                nl.close()
            self.netlinks.clear()
            for eps in list(self.proxies.values()):
                for p in eps:
                    await p.stop()
            self.proxies.clear()
            for socks in self.reserved.values():
                for sock in socks:
                    sock.close()
            self.reserved.clear()
            for r in list(self.resolvers.values()):
                await r.stop()
            self.resolvers.clear()
            if self.fw is not None and remove_rules:
                await asyncio.to_thread(self.fw.teardown)
            if remove_bridges:
                for net in self.networks.values():
                    if net.driver == "bridge":
                        await asyncio.to_thread(links.delete_link, net.bridge)
            self.started = False

    async def _ensure_predefined(self) -> None:
        await self._apply_bridge_flags()
        have = {n.name for n in self.networks.values() if n.predefined}
        if "bridge" not in have:
            await self._create_default_bridge()
        for name, driver in (("host", "host"), ("none", "null")):
            if name not in have:
                net = Network(id=secrets.token_hex(32), name=name, driver=driver, created=now_rfc3339(),
                              predefined=True)
                self.networks[net.id] = net
                self.store.save_network(net)

    async def _apply_bridge_flags(self) -> None:
        """If the default bridge's device name or --bip changed since the last run, rebuild the
        predefined "bridge" network from the new flags (only while nothing is attached to it)."""
        old = next((n for n in self.networks.values() if n.predefined and n.name == "bridge"), None)
        if old is None or old.endpoints:
            return
        want_subnet = ""
        if self.cfg.default_subnet:
            want_subnet = str(ipam.parse_cidr(self.cfg.default_subnet if "/" in self.cfg.default_subnet
                                              else f"{self.cfg.default_subnet}/16"))
        if old.bridge == self.cfg.default_bridge and (not want_subnet or old.ipam[0].subnet == want_subnet):
            return
        log.info("default bridge changed (%s → %s): recreating the bridge network", old.bridge,
                 self.cfg.default_bridge)
        del self.networks[old.id]
        self.store.delete_network(old.id)
        if await asyncio.to_thread(links.link_kind, old.bridge) == "bridge" and \
                not await asyncio.to_thread(links.bridge_ports, old.bridge):
            await asyncio.to_thread(links.delete_link, old.bridge)

    async def _create_default_bridge(self) -> None:
        if self.cfg.default_subnet:
            iface = self.cfg.default_subnet
            gw, _, plen = iface.partition("/")
            subnet = ipam.parse_cidr(iface if plen else f"{iface}/16")
            gw_ip = IPv4Address(gw) if IPv4Address(gw) != subnet.network_address else subnet.network_address + 1
            cfg = IPAMConfig(subnet=str(subnet), gateway=str(gw_ip))
        else:
            used = await asyncio.to_thread(self._used_subnets_with_host)
            subnet = ipam.choose_subnet(used, self.pools)
            cfg = IPAMConfig(subnet=str(subnet), gateway=str(subnet.network_address + 1))
        options = {BRIDGE_NAME_OPTION: self.cfg.default_bridge, ENABLE_ICC_OPTION: "true",
                   ENABLE_MASQ_OPTION: "true", "com.docker.network.bridge.default_bridge": "true",
                   "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0", MTU_OPTION: "1500"}
        net = Network(id=secrets.token_hex(32), name="bridge", driver="bridge", created=now_rfc3339(),
                      ipam=[cfg], options=options, predefined=True)
        self.networks[net.id] = net
        self.store.save_network(net)   # the bridge itself is made by reconcile

    # ================================================================ reconcile
    async def _reconcile(self) -> None:
        """Repair the host after a crash: drop endpoints whose sandbox is gone, remove stray
        veths and netns files, recreate bridges, rules, proxies and resolvers."""
        # 1. sandboxes whose namespace is gone
        for cid, sb in list(self.sandboxes.items()):
            if not netns.is_namespace(sb.path):
                log.info("reconcile: sandbox of %s is gone", cid[:12])
                netns.delete(sb.path)
                del self.sandboxes[cid]
                self.store.delete_sandbox(cid)
        # 2. endpoints without a live sandbox or without their veth
        for net in self.networks.values():
            changed = False
            for ep_id, ep in list(net.endpoints.items()):
                gone = ep.container_id not in self.sandboxes
                if not gone and net.driver == "bridge" and not await asyncio.to_thread(links.link_exists, ep.host_ifname):
                    gone = True
                if gone:
                    log.info("reconcile: removing endpoint %s of %s", ep.name, net.name)
                    if ep.host_ifname:
                        await asyncio.to_thread(links.delete_link, ep.host_ifname)
                    del net.endpoints[ep_id]
                    changed = True
            if changed:
                self.store.save_network(net, durable=False)
        # 3. netns files nobody owns (a crash inside create_sandbox)
        known = {sb.path for sb in self.sandboxes.values()}
        for name in os.listdir(self.netns_dir):
            p = os.path.join(self.netns_dir, name)
            if p not in known:
                netns.delete(p)
        # 4. bridges, stray veths, rules
        if self.fw is not None:
            await asyncio.to_thread(self.fw.setup)
        for net in self.networks.values():
            if net.driver != "bridge":
                continue
            try:
                await self._restore_bridge(net)
            except Exception:   # one broken network must not keep the daemon from starting
                log.exception("reconcile: cannot restore network %s (%s)", net.name, net.bridge)
        # 5. published ports and resolvers
        for net in self.networks.values():
            for ep in net.endpoints.values():
                if ep.ports:
                    try:
                        ep.ports = await self._publish(net, ep, [replace(p, host_port_end=0) for p in ep.ports])
                    except Exception as e:
                        log.error("reconcile: cannot publish ports of %s: %s", ep.name, e)
        for cid in self.sandboxes:
            try:
                await self._sync_resolver(cid)
            except Exception:
                log.exception("reconcile: no embedded DNS for %s", cid[:12])

    async def _restore_bridge(self, net: Network) -> None:
        await asyncio.to_thread(self._bring_up_bridge, net)
        mine = {ep.host_ifname for ep in net.endpoints.values()}
        for port in mine:
            await asyncio.to_thread(links.attach, port, net.bridge)   # the bridge may be new
        for port in await asyncio.to_thread(links.bridge_ports, net.bridge):
            if port not in mine:
                await asyncio.to_thread(links.delete_link, port)
        if self.fw is not None:
            await asyncio.to_thread(self.fw.add_network, net.bridge, [c.subnet for c in net.ipam], net.internal)

    def _bring_up_bridge(self, net: Network) -> None:
        addrs = [(c.gateway, IPv4Network(c.subnet).prefixlen) for c in net.ipam if c.gateway]
        links.ensure_bridge(net.bridge, addrs, net.mtu)
        if not net.internal:
            ensure_ip_forward()

    # ================================================================ lookups
    def _used_subnets(self, exclude: str = "") -> list[IPv4Network]:
        return [IPv4Network(c.subnet) for n in self.networks.values() if n.id != exclude for c in n.ipam]

    def _used_subnets_with_host(self) -> list[IPv4Network]:
        return self._used_subnets() + ipam.host_routes()

    def get_network(self, ref: str) -> Network:
        """By full id, then exact name, then unique id prefix (Docker's FindNetwork order)."""
        if ref in self.networks:
            return self.networks[ref]
        by_name = [n for n in self.networks.values() if n.name == ref]
        if by_name:
            return by_name[0]
        by_prefix = [n for n in self.networks.values() if ref and n.id.startswith(ref)]
        if len(by_prefix) == 1:
            return by_prefix[0]
        if len(by_prefix) > 1:
            raise InvalidArgument(f"network {ref} is ambiguous ({len(by_prefix)} matches found based on ID prefix)")
        raise NotFound(f"network {ref} not found")

    def list_networks(self, filters: dict[str, list[str]] | None = None) -> list[Network]:
        filters = filters or {}
        for key in filters:
            if key not in ("name", "id", "label", "driver", "type", "scope", "dangling"):
                raise InvalidArgument(f"invalid filter '{key}'")
        for t in filters.get("type", []):
            if t not in ("custom", "builtin"):
                raise InvalidArgument(f"invalid filter: 'type'='{t}'")
        out = []
        for n in sorted(self.networks.values(), key=lambda n: n.created):
            if "name" in filters and not any(v in n.name for v in filters["name"]):
                continue
            if "id" in filters and not any(n.id.startswith(v) for v in filters["id"]):
                continue
            if "driver" in filters and n.driver not in [DRIVER_ALIASES.get(v, v) for v in filters["driver"]]:
                continue
            if "type" in filters and ("builtin" if n.predefined else "custom") not in filters["type"]:
                continue
            if "scope" in filters and "local" not in filters["scope"]:
                continue
            if "label" in filters and not all(_label_match(n.labels, v) for v in filters["label"]):
                continue
            if "dangling" in filters:
                want = filters["dangling"][0].lower() in ("1", "true")
                if want != (not n.predefined and not n.endpoints):
                    continue
            out.append(n)
        return out

    def sandbox(self, container_id: str) -> Sandbox:
        sb = self.sandboxes.get(container_id)
        if sb is None:
            raise NotFound(f"sandbox for container {container_id} not found")
        return sb

    def endpoints_of(self, container_id: str) -> list[tuple[Network, Endpoint]]:
        return [(n, ep) for n in self.networks.values() for ep in n.endpoints.values()
                if ep.container_id == container_id]

    # ================================================================ networks
    async def create_network(self, name: str, driver: str = "bridge", ipam_configs: list[IPAMConfig] = (),
                             internal: bool = False, attachable: bool = False,
                             labels: dict[str, str] | None = None,
                             options: dict[str, str] | None = None) -> Network:
        async with self.lock:
            return await self._create_network(name, driver or "bridge", list(ipam_configs), internal,
                                              attachable, dict(labels or {}), dict(options or {}))

    async def _create_network(self, name: str, driver: str, configs: list[IPAMConfig], internal: bool,
                              attachable: bool, labels: dict[str, str], options: dict[str, str]) -> Network:
        if not name:
            raise InvalidArgument("network name must not be empty")
        if any(n.name == name for n in self.networks.values()):
            raise Conflict(f"network with name {name} already exists")
        drv = DRIVER_ALIASES.get(driver)
        if drv is None:
            raise NotFound(f"plugin \"{driver}\" not found")
        if drv in ("host", "null"):
            raise Forbidden(f"only one instance of \"{driver}\" network is allowed")
        if MTU_OPTION in options:
            try:
                mtu = int(options[MTU_OPTION])
            except ValueError:
                raise InvalidArgument(f"invalid MTU value: {options[MTU_OPTION]!r}") from None
            if mtu < 68 or mtu > 65535:
                raise InvalidArgument(f"invalid MTU value: {mtu}")
        net = Network(id=secrets.token_hex(32), name=name, driver=drv, created=now_rfc3339(),
                      internal=internal, attachable=attachable, labels=labels, options=options)
        br = net.bridge
        if len(br) > 15 or not br:
            raise InvalidArgument(f"bridge name {br!r} is too long")
        if any(n.bridge == br for n in self.networks.values()):
            raise Forbidden(f"bridge name {br} is already in use")   # moby: conflicts with network
        if configs:
            net.ipam = ipam.validate_configs(configs, self._used_subnets())
        else:
            used = await asyncio.to_thread(self._used_subnets_with_host)
            net.ipam = ipam.validate_configs([IPAMConfig(subnet=str(ipam.choose_subnet(used, self.pools)))], [])
        if await asyncio.to_thread(links.link_exists, br) and await asyncio.to_thread(links.link_kind, br) != "bridge":
            raise Forbidden(f"device {br} already exists and is not a bridge")
        undo = _Undo()
        try:
            # Record first: a crash after this point leaves a record that reconcile completes.
            self.networks[net.id] = net
            self.store.save_network(net)
            undo.push(lambda: (self.networks.pop(net.id, None), self.store.delete_network(net.id)))
            created = await asyncio.to_thread(
                links.ensure_bridge, br,
                [(c.gateway, IPv4Network(c.subnet).prefixlen) for c in net.ipam], net.mtu)
            if created:
                undo.push(lambda: links.delete_link(br))
            if self.fw is not None:
                await asyncio.to_thread(self.fw.add_network, br, [c.subnet for c in net.ipam], internal)
                undo.push(lambda: self.fw.remove_network(br, [c.subnet for c in net.ipam], internal))
            if not internal:
                await asyncio.to_thread(ensure_ip_forward)
        except BaseException:
            await undo.run()
            raise
        return net

    async def delete_network(self, ref: str) -> None:
        async with self.lock:
            net = self.get_network(ref)
            await self.settle()   # the bridge goes with its last ports
            await self._delete_network(net)

    async def _delete_network(self, net: Network) -> None:
        if net.predefined:
            raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
        if net.endpoints:
            eps = ", ".join(f'name:"{ep.name}" id:"{ep.id[:12]}"' for ep in net.endpoints.values())
            raise Forbidden(f"network {net.name} has active endpoints ({eps})")
        if self.fw is not None:
            await asyncio.to_thread(self.fw.remove_network, net.bridge, [c.subnet for c in net.ipam], net.internal)
        await asyncio.to_thread(links.delete_link, net.bridge)
        del self.networks[net.id]
        self.store.delete_network(net.id)

    async def prune(self, filters: dict[str, list[str]] | None = None) -> list[str]:
        """Remove user-defined networks without endpoints; returns their names."""
        filters = dict(filters or {})
        until = filters.pop("until", None)
        async with self.lock:
            await self.settle()
            gone = []
            for net in self.list_networks({**filters, "type": ["custom"]}):
                if net.endpoints:
                    continue
                if until and not _created_before(net.created, until[0]):
                    continue
                await self._delete_network(net)
                gone.append(net.name)
            return gone

    # ================================================================ sandboxes
    async def create_sandbox(self, container_id: str, hostname: str = "", domainname: str = "",
                             dns: DNSConfig | None = None, extra_hosts: list[str] = ()) -> Sandbox:
        """A fresh network namespace for a container (lo up), at <state>/netns/<container id>."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", container_id or ""):
            raise InvalidArgument(f"invalid container id {container_id!r}")
        for h in extra_hosts:
            try:
                files.parse_extra_host(h)
            except ValueError as e:
                raise InvalidArgument(str(e)) from None
        for server in (dns.servers if dns else []):
            try:
                host, port = _split_hostport(server)
                ip_address(host)
                if not 0 < port < 65536:
                    raise ValueError
            except ValueError:
                raise InvalidArgument(f"{server} is not an ip address") from None
        async with self.lock:
            if container_id in self.sandboxes:
                raise Conflict(f"sandbox for container {container_id} already exists")
            path = os.path.join(self.netns_dir, container_id)
            sb = Sandbox(container_id=container_id, path=path, hostname=hostname or container_id[:12],
                         domainname=domainname, dns=dns or DNSConfig(), extra_hosts=list(extra_hosts))
            nl = await asyncio.to_thread(netns.create, path)
            try:
                self.store.save_sandbox(sb)
            except BaseException:
                nl.close()
                netns.delete(path)
                raise
            self.sandboxes[container_id] = sb
            self.netlinks[container_id] = nl
            self.untouched.add(container_id)
            return sb

    async def delete_sandbox(self, container_id: str) -> None:
        """Disconnect the container from every network and remove its namespace.

        What a new container could collide with goes now: endpoint records and names, host ports
        (proxies, held sockets), the DNS server, the namespace's mount. Deleting the port rules
        and the veths (each an RCU wait in the kernel, ~20 ms) finishes in the background; their
        addresses stay taken until then, and what needs them gone (a static --ip, publishing
        ports, removing a network, shutdown) waits for it. After a crash in between, reconcile
        removes the veths (bridge ports nobody owns) and resets our chains.
        """
        async with self.lock:
            sb = self.sandbox(container_id)
            veths: list[tuple[str, str, str]] = []
            rules: list = []
            for net, ep in self.endpoints_of(container_id):
                await self._close_ports(ep)
                rules += self._port_rules(net, ep)
                net.endpoints.pop(ep.id, None)
                self.store.save_network(net, durable=False)
                if net.driver == "bridge" and ep.host_ifname:
                    veths.append((net.id, ep.ipv4, ep.host_ifname))
            r = self.resolvers.pop(container_id, None)
            if r is not None:
                await r.stop()
            nl = self.netlinks.pop(container_id, None)
            if nl is not None:
                nl.close()
            self.untouched.discard(container_id)
            netns.delete(sb.path)
            del self.sandboxes[container_id]
            self.store.delete_sandbox(container_id)
            if veths or rules:
                self._release_later(veths, rules)

    def _release_later(self, veths: list[tuple[str, str, str]], rules: list) -> None:
        """Delete port rules, then (network id, ip, host veth), in the background, holding the
        addresses till done; publishing waits for it (an old DNAT rule would shadow a new one)."""
        task = asyncio.get_running_loop().create_task(self._release(veths, rules))
        for net_id, ip, _ in veths:
            if ip:
                self.releasing.setdefault(net_id, {})[ip] = task
        self.release_tasks.add(task)
        task.add_done_callback(self.release_tasks.discard)

    async def _release(self, veths: list[tuple[str, str, str]], rules: list) -> None:
        me = asyncio.current_task()
        try:
            if rules:
                try:
                    await asyncio.to_thread(self.fw.delete_present, rules)
                except Exception:   # reconcile at the next start resets our chains
                    log.exception("cannot delete port rules")
            if veths:
                await asyncio.to_thread(links.delete_links, [h for _, _, h in veths])
        except Exception:   # the namespace is unmounted: the kernel removes the pair with it
            log.exception("cannot delete veths %s", [h for _, _, h in veths])
        finally:
            for net_id, ip, _ in veths:
                held = self.releasing.get(net_id, {})
                if held.get(ip) is me:
                    del held[ip]
                if not held:
                    self.releasing.pop(net_id, None)

    async def settle(self) -> None:
        """Wait until the veths of removed sandboxes are deleted."""
        while self.release_tasks:
            await asyncio.gather(*list(self.release_tasks), return_exceptions=True)

    def _host_resolv(self) -> str:
        return self._host_resolv_source()[0]

    def _host_resolv_source(self) -> tuple[str, str]:
        """(content, path) of the host's resolv.conf as Docker reads it (systemd-resolved's real
        file when the host's only lists the stub)."""
        text = _read(self.cfg.host_resolv_conf)
        systemd = _read_or_none(self.cfg.systemd_resolv_conf)
        eff = files.effective_host_resolv(text, systemd)
        return eff, (self.cfg.systemd_resolv_conf if eff is not text else self.cfg.host_resolv_conf)

    def sandbox_files(self, container_id: str) -> dict[str, str]:
        """The container's /etc/hosts, /etc/resolv.conf and /etc/hostname contents."""
        sb = self.sandbox(container_id)
        host_resolv, source = self._host_resolv_source()
        eps = self.endpoints_of(container_id)
        embedded = any(n.user_defined and n.driver == "bridge" for n, _ in eps)
        ip = next((ep.ipv4 for _, ep in eps if ep.ipv4), "")
        gw = next((c.gateway for n in self.networks.values() if n.name == "bridge" for c in n.ipam), "")
        hosts = files.hosts_file(sb.hostname, sb.domainname, ip, sb.extra_hosts, host_gateway=gw)
        return {"hosts": hosts,
                "resolv.conf": files.resolv_conf(host_resolv, sb.dns, embedded, source),
                "hostname": files.hostname_file(sb.hostname)}

    def host_network_files(self, hostname: str, dns: DNSConfig | None = None,
                           extra_hosts: list[str] = ()) -> dict[str, str]:
        """The same files for --network host (no sandbox): the host's hosts and resolv.conf
        (loopback servers are fine there), --add-host, --dns* overrides."""
        dns = dns or DNSConfig()
        resolv = files.resolv_conf(_read(self.cfg.host_resolv_conf), dns, embedded=False,
                                   source=self.cfg.host_resolv_conf, host_network=True)
        gw = next((c.gateway for n in self.networks.values() if n.name == "bridge" for c in n.ipam), "")
        try:
            hosts = files.host_hosts_file(_read("/etc/hosts"), extra_hosts, host_gateway=gw)
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
        return {"hosts": hosts, "resolv.conf": resolv,
                "hostname": files.hostname_file(hostname or os.uname().nodename)}

    # ================================================================ endpoints
    async def connect(self, network_ref: str, container_id: str, name: str = "", aliases: list[str] = (),
                      ipv4: str = "", ports: list[PortBinding] = ()) -> Endpoint:
        """Attach a container's sandbox to a network: veth, address, routes, ports, DNS."""
        async with self.lock:
            net = self.get_network(network_ref)
            sb = self.sandbox(container_id)
            name = name or container_id[:12]
            if net.endpoint_of(container_id) is not None or any(e.name == name for e in net.endpoints.values()):
                raise Forbidden(f"endpoint with name {name} already exists in network {net.name}")
            if ipv4 and net.predefined:
                raise InvalidArgument("user specified IP address is supported on user defined networks only")
            if aliases and net.predefined:
                raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
            if ports and net.driver != "bridge":
                ports = []   # host and none publish nothing (Docker ignores -p there)
            ep = Endpoint(id=secrets.token_hex(32), network_id=net.id, container_id=container_id, name=name,
                          aliases=list(dict.fromkeys(aliases)))
            undo = _Undo()
            try:
                if net.driver == "bridge":
                    await self._plug(net, sb, ep, ipv4, undo)
                    if ports:
                        ep.ports = await self._publish(net, ep, list(ports))
                        undo.push(lambda: self._unpublish(net, ep))
                net.endpoints[ep.id] = ep
                undo.push(lambda: net.endpoints.pop(ep.id, None))
                self.store.save_network(net, durable=False)
                await self._sync_resolver(container_id)
            except BaseException:
                await undo.run()
                if ep.id not in net.endpoints:
                    self.store.save_network(net, durable=False)
                raise
            return ep

    async def _plug(self, net: Network, sb: Sandbox, ep: Endpoint, ipv4: str, undo: _Undo) -> None:
        held = self.releasing.get(net.id, {})
        if ipv4 and held:
            # a static address may be one still held by a removed container: wait for it
            await asyncio.gather(*set(held.values()), return_exceptions=True)
        used = {IPv4Address(e.ipv4) for e in net.endpoints.values() if e.ipv4}
        used |= {IPv4Address(i) for i in self.releasing.get(net.id, {})}
        ip, pool = ipam.allocate(net.ipam, used, f"{net.name} ({net.id})", ipv4)
        subnet = IPv4Network(pool.subnet)
        ep.ipv4, ep.prefixlen, ep.gateway = str(ip), subnet.prefixlen, pool.gateway
        ep.mac, ep.static_ip = ipam.mac_for(ip), bool(ipv4)
        # Our records know the sandbox's interfaces; plug_veth copes with one made behind our back.
        mine = [e for _, e in self.endpoints_of(sb.container_id)]
        taken = {e.ifname for e in mine if e.ifname}
        n = 0
        while f"eth{n}" in taken:
            n += 1
        # The first network that can route out provides the default route (Docker's gateway
        # endpoint). A sandbox without endpoints has none yet: no need to look.
        gateway = ""
        if not net.internal and (not mine or not await asyncio.to_thread(links.has_default_route, sb.path)):
            gateway = pool.gateway
        iface = links.ContainerIface(f"eth{n}", ep.mac, ep.ipv4, ep.prefixlen, gateway, net.mtu)
        inside = await self._netlink(sb)
        ep.host_ifname, ep.ifname = await asyncio.to_thread(
            links.plug_veth, net.bridge, links.random_veth_name(), sb.path, iface, inside)
        undo.push(lambda: links.delete_link(ep.host_ifname))

    async def _netlink(self, sb: Sandbox) -> rtnl.Netlink:
        """The sandbox's netlink socket (opened again for sandboxes from before a restart)."""
        nl = self.netlinks.get(sb.container_id)
        if nl is None:
            nl = await asyncio.to_thread(netns.open_netlink, sb.path)
            self.netlinks[sb.container_id] = nl
        return nl

    async def disconnect(self, network_ref: str, container_id: str, force: bool = False) -> None:
        async with self.lock:
            net = self.get_network(network_ref)
            ep = net.endpoint_of(container_id)
            if ep is None:
                if force:
                    return
                # An unclassified error in moby too (HTTP 500), same words.
                raise NetworkError(f"container {container_id} is not connected to network {net.name}")
            await self._disconnect(net, ep)
            await self._sync_resolver(container_id)

    async def _disconnect(self, net: Network, ep: Endpoint) -> None:
        await self._unpublish(net, ep)
        if net.driver == "bridge" and ep.host_ifname:
            sb = self.sandboxes.get(ep.container_id)
            had_default = False
            if sb is not None and netns.is_namespace(sb.path):
                had_default = ep.gateway and not net.internal and await asyncio.to_thread(
                    _routes_via, sb.path, ep.ifname)
            await asyncio.to_thread(links.delete_link, ep.host_ifname)
            if had_default and sb is not None:
                await self._move_default_route(sb, exclude=net.id)
        net.endpoints.pop(ep.id, None)
        self.store.save_network(net, durable=False)

    async def _move_default_route(self, sb: Sandbox, exclude: str) -> None:
        for n, e in self.endpoints_of(sb.container_id):
            if n.id != exclude and n.driver == "bridge" and not n.internal and e.gateway:
                await asyncio.to_thread(links.set_default_route, sb.path, e.ifname, e.gateway)
                return

    # ================================================================ ports
    def _port_taken(self, proto: str, host_ip: str, port: int, exclude: str) -> bool:
        any_ip = ("", "0.0.0.0", "::")
        for n in self.networks.values():
            for e in n.endpoints.values():
                if e.id == exclude:
                    continue
                for p in e.ports:
                    if p.proto == proto and p.host_port == port and (
                            p.host_ip == host_ip or p.host_ip in any_ip or host_ip in any_ip):
                        return True
        return False

    async def _publish(self, net: Network, ep: Endpoint, wanted: list[PortBinding]) -> list[PortBinding]:
        """Bind every port (proxy + DNAT); all or nothing. Returns the bindings as made."""
        made: list[PortBinding] = []
        proxies: list[Proxy] = []
        held: list = []
        rules: list = []
        try:
            for pb in wanted:
                if pb.proto not in ("tcp", "udp", "sctp"):
                    raise InvalidArgument(f"invalid proto: {pb.proto}")
                host_ip = pb.host_ip or "0.0.0.0"
                sock, port = self._bind_host_port(net, ep, pb, host_ip, made)
                if sock is not None and self.cfg.userland_proxy:
                    p = Proxy(pb.proto, sock, ep.ipv4, pb.container_port)
                    proxies.append(p)
                    await p.start()
                elif sock is not None:
                    held.append(sock)
                bound = PortBinding(pb.container_port, pb.proto, pb.host_ip, port)
                made.append(bound)
                if self.fw is not None:
                    rules.extend(self.fw.port_rules(net.bridge, pb.proto, host_ip, port, ep.ipv4,
                                                    pb.container_port))
            if rules:
                await self.settle()   # rules of removed containers go first
                await asyncio.to_thread(self.fw.add_new, rules)   # all ports' rules in one exec
        except BaseException:
            for p in proxies:
                await p.stop()
            for sock in held:
                sock.close()
            if self.fw is not None and rules and made and len(made) == len(wanted):
                await asyncio.to_thread(self.fw.delete_all, rules)   # add_new may have been cut short
            raise
        if proxies:
            self.proxies.setdefault(ep.id, []).extend(proxies)
        if held:
            self.reserved.setdefault(ep.id, []).extend(held)
        return made

    def _bind_host_port(self, net: Network, ep: Endpoint, pb: PortBinding, host_ip: str,
                        made: list[PortBinding]):
        """Reserve a host port: returns (listening socket or None, port)."""
        first = pb.host_port
        last = pb.host_port_end if pb.host_port_end > pb.host_port else pb.host_port
        spec = f"{host_ip}:{first}" + (f"-{last}" if last != first else "")
        prefix = f"driver failed programming external connectivity on endpoint {ep.name} ({ep.id})"
        last_err: str = ""
        for port in range(first, last + 1):
            if port and (self._port_taken(pb.proto, host_ip, port, ep.id) or any(
                    m.proto == pb.proto and m.host_port == port and (m.host_ip or "0.0.0.0") in (host_ip, "0.0.0.0")
                    for m in made)):
                last_err = f"Bind for {spec} failed: port is already allocated"
                continue
            if pb.proto == "sctp":
                if port == 0:
                    raise InvalidArgument("an ephemeral sctp port is not supported")
                return None, port   # rules only: no sctp proxy
            try:
                # Without the userland proxy the socket only holds the port (Docker's dummy proxy).
                sock = bind_socket(pb.proto, host_ip, port, listen=self.cfg.userland_proxy)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:   # held by something else on the host (moby 28's words)
                    last_err = (f"failed to bind host port for {host_ip}:{port}:{ep.ipv4}:{pb.container_port}"
                                f"/{pb.proto}: address already in use")
                    continue
                raise InvalidArgument(f"{prefix}: Error starting userland proxy: {e.strerror}") from None
            return sock, sock.getsockname()[1]
        raise Forbidden(f"{prefix}: {last_err}")

    async def _unpublish(self, net: Network, ep: Endpoint) -> None:
        await self._close_ports(ep)
        rules = self._port_rules(net, ep)
        if rules:
            await asyncio.to_thread(self.fw.delete_present, rules)

    async def _close_ports(self, ep: Endpoint) -> None:
        """Free the endpoint's host ports (proxies, held sockets); its rules are separate."""
        for p in self.proxies.pop(ep.id, []):
            await p.stop()
        for sock in self.reserved.pop(ep.id, []):
            sock.close()

    def _port_rules(self, net: Network, ep: Endpoint) -> list:
        if self.fw is None:
            return []
        return [r for pb in ep.ports for r in self.fw.port_rules(
            net.bridge, pb.proto, pb.host_ip or "0.0.0.0", pb.host_port, ep.ipv4, pb.container_port)]

    def port_bindings(self, container_id: str) -> list[tuple[Network, Endpoint, PortBinding]]:
        return [(n, e, p) for n, e in self.endpoints_of(container_id) for p in e.ports]

    # ================================================================ embedded DNS
    def _dns_networks(self, container_id: str) -> list[Network]:
        return [n for n, _ in self.endpoints_of(container_id) if n.user_defined and n.driver == "bridge"]

    async def _sync_resolver(self, container_id: str) -> None:
        """Run the embedded DNS while the container is on a user-defined network."""
        want = bool(self._dns_networks(container_id))
        have = self.resolvers.get(container_id)
        if want and have is None:
            sb = self.sandboxes[container_id]
            cb = ResolverCallbacks(lookup=lambda q, c=container_id: self.dns_lookup(c, q),
                                   reverse=lambda ip, c=container_id: self.dns_reverse(c, ip),
                                   upstreams=lambda c=container_id: self.dns_upstreams(c))
            r = Resolver(sb.path, cb, fresh=container_id in self.untouched)
            self.untouched.discard(container_id)   # even if the start fails half-way
            await r.start()
            self.resolvers[container_id] = r
        elif not want and have is not None:
            await have.stop()
            del self.resolvers[container_id]

    def dns_lookup(self, container_id: str, qname: str) -> list[IPv4Address] | None:
        """Addresses for a name as the container sees it: names and aliases of containers on
        the user-defined networks it shares (also ``name.network``); None when unknown."""
        found: list[IPv4Address] = []
        known = False
        for net in self._dns_networks(container_id):
            for ep in net.endpoints.values():
                names = {ep.name.lower(), ep.container_id[:12].lower(), *(a.lower() for a in ep.aliases)}
                names |= {f"{n}.{net.name.lower()}" for n in list(names)}
                if qname in names:
                    known = True
                    if ep.ipv4 and IPv4Address(ep.ipv4) not in found:
                        found.append(IPv4Address(ep.ipv4))
        return found if known else None

    def dns_reverse(self, container_id: str, ip: IPv4Address) -> list[str] | None:
        for net in self._dns_networks(container_id):
            for ep in net.endpoints.values():
                if ep.ipv4 == str(ip):
                    return [f"{ep.name}.{net.name}"]
        return None

    def dns_upstreams(self, container_id: str) -> list[tuple[str, int]]:
        nets = self._dns_networks(container_id)
        if nets and all(n.internal for n in nets):
            return []   # an internal network has no way out, names included
        sb = self.sandboxes.get(container_id)
        if sb is None:
            return []
        out = []
        for s in files.upstream_nameservers(self._host_resolv(), sb.dns):
            host, port = _split_hostport(s)
            if host and host != files.EMBEDDED_NAMESERVER:
                out.append((host, port))
        return out


def _split_hostport(s: str) -> tuple[str, int]:
    """``1.2.3.4`` / ``1.2.3.4:5353`` / ``[::1]:53`` → (host, port)."""
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else 53
    if s.count(":") == 1:
        host, _, port = s.partition(":")
        return host, int(port)
    return s, 53


def _routes_via(sandbox: str, ifname: str) -> bool:
    """Whether the sandbox's default route leaves through ``ifname``."""
    from pyroute2 import IPRoute

    def check() -> bool:
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=ifname)
            return bool(idx) and any(r["dst_len"] == 0 and r.get_attr("RTA_OIF") == idx[0]
                                     for r in ipr.get_routes(family=2, table=254))
    return netns.run_in(sandbox, check)


def _label_match(labels: dict[str, str], expr: str) -> bool:
    key, sep, value = expr.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _created_before(created: str, until: str) -> bool:
    try:
        ts = datetime.fromisoformat(created[:26].rstrip("Z") + "+00:00") if "T" in created else None
        if until.replace(".", "", 1).isdigit():
            limit = datetime.fromtimestamp(float(until), timezone.utc)
        else:
            limit = datetime.fromisoformat(until.replace("Z", "+00:00"))
        return ts is not None and ts < limit
    except ValueError:
        raise InvalidArgument(f"invalid filter 'until={until}'") from None


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _read_or_none(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None
