"""The records the store keeps: networks, their IPAM pools and endpoints, and sandboxes."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
MTU_OPTION = "com.docker.network.driver.mtu"
# Options the default bridge carries in `docker network inspect bridge`.
ENABLE_ICC_OPTION = "com.docker.network.bridge.enable_icc"
ENABLE_MASQ_OPTION = "com.docker.network.bridge.enable_ip_masquerade"

DRIVERS = ("bridge", "host", "null")
PREDEFINED = ("bridge", "host", "none")


@dataclass
class IPAMConfig:
    """One address pool of a network (Docker's IPAM.Config entry)."""

    subnet: str
    gateway: str = ""
    ip_range: str = ""
    aux_addresses: dict[str, str] = field(default_factory=dict)


@dataclass
class PortBinding:
    """One published port: host_ip:host_port → container_port/proto (host_port 0 = ephemeral)."""

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0         # > host_port: a range to pick a free one from


@dataclass
class Endpoint:
    """A container's attachment to a network."""

    id: str
    network_id: str
    container_id: str
    name: str                      # the container's name, without the leading "/"
    aliases: list[str] = field(default_factory=list)
    ipv4: str = ""                 # address without prefix
    prefixlen: int = 0
    gateway: str = ""
    mac: str = ""
    ifname: str = ""               # inside the sandbox (eth0, eth1, …)
    host_ifname: str = ""          # the host end of the veth
    static_ip: bool = False
    ports: list[PortBinding] = field(default_factory=list)   # as bound (host ports resolved)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Endpoint":
        d = dict(d)
        d["ports"] = [PortBinding(**p) for p in d.get("ports", [])]
        return cls(**d)


@dataclass
class Network:
    id: str
    name: str
    driver: str                    # bridge | host | null
    created: str                   # RFC3339 with nanoseconds, as Docker prints it
    ipam: list[IPAMConfig] = field(default_factory=list)
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)   # by endpoint id
    predefined: bool = False

    @property
    def bridge(self) -> str:
        """The bridge device: the option, else Docker's "br-" + the first 12 digits of the id."""
        if self.driver != "bridge":
            return ""
        return self.options.get(BRIDGE_NAME_OPTION) or f"br-{self.id[:12]}"

    @property
    def mtu(self) -> int:
        try:
            return int(self.options.get(MTU_OPTION, "0") or 0)
        except ValueError:
            return 0

    @property
    def user_defined(self) -> bool:
        """Docker enables the embedded DNS only on networks that are not predefined."""
        return not self.predefined

    def endpoint_of(self, container_id: str) -> Endpoint | None:
        for ep in self.endpoints.values():
            if ep.container_id == container_id:
                return ep
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Network":
        d = dict(d)
        d["ipam"] = [IPAMConfig(**c) for c in d.get("ipam", [])]
        d["endpoints"] = {k: Endpoint.from_dict(v) for k, v in d.get("endpoints", {}).items()}
        return cls(**d)


@dataclass
class DNSConfig:
    """What the container's resolv.conf and the embedded resolver's upstreams come from."""

    servers: list[str] = field(default_factory=list)      # --dns
    search: list[str] = field(default_factory=list)       # --dns-search
    options: list[str] = field(default_factory=list)      # --dns-option


@dataclass
class Sandbox:
    """A container's network namespace."""

    container_id: str
    path: str                      # the bind-mounted nsfs file
    hostname: str = ""
    domainname: str = ""
    dns: DNSConfig = field(default_factory=DNSConfig)
    extra_hosts: list[str] = field(default_factory=list)   # "name:ip" as --add-host gives them

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Sandbox":
        d = dict(d)
        d["dns"] = DNSConfig(**d.get("dns", {}))
        return cls(**d)
