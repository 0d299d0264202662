"""Container networking through pycontainerd's Networks service (sandbox, endpoints, published ports).

Per container start (pycontainerd/networks/README.md): CreateSandbox → netns path for the spec;
Connect per network (with the published ports); SandboxFiles → /etc/hosts, resolv.conf, hostname.
On exit: DeleteSandbox. Without the service (e.g. the real containerd), containers get a private
network namespace holding only `lo`, and pydockerd writes the /etc files itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter


def mode_of(hc: dict[str, Any]) -> str:
    mode = hc.get("NetworkMode") or "default"
    return "bridge" if mode == "default" else mode


def networks_to_join(hc: dict[str, Any], endpoints_config: dict[str, Any]) -> list[str]:
    """Network names in connection order: the NetworkMode one first, then the extra ones."""
    mode = mode_of(hc)
    if mode in ("host", "none") or mode.startswith("container:"):
        return []
    out = [mode]
    for name in endpoints_config or {}:
        n = "bridge" if name == "default" else name
        if n not in out:
            out.append(n)
    return out


def _parse_port_key(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    try:
        return int(port), (proto or "tcp")
    except ValueError:
        raise InvalidParameter(f"invalid port specification: \"{key}\"") from None


def _valid_port_or_range(text: str, allow_range: bool) -> bool:
    """nat.ParsePort / nat.ParsePortRangeToInt: "" and 0..65535 (or ``lo-hi``) are valid."""
    if text == "":
        return True
    lo, sep, hi = text.partition("-") if allow_range else (text, "", "")
    try:
        a = int(lo)
        b = int(hi) if sep else a
    except ValueError:
        return False
    return 0 <= a <= 65535 and 0 <= b <= 65535 and (not sep or a <= b)


def validate_port_bindings(hc: dict[str, Any]) -> None:
    """moby's validatePortBindings, at create: 400 `invalid port specification: "X"`."""
    for key, binds in (hc.get("PortBindings") or {}).items():
        port = key.partition("/")[0]
        if not _valid_port_or_range(port, allow_range=False):
            raise InvalidParameter(f"invalid port specification: \"{port}\"")
        for b in binds or []:
            hp = str((b or {}).get("HostPort") or "")
            if not _valid_port_or_range(hp.partition("/")[0], allow_range=True):
                raise InvalidParameter(f"invalid port specification: \"{hp}\"")


def port_bindings(hc: dict[str, Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """HostConfig.PortBindings (+ PublishAllPorts) as Networks PortBinding fields."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()
    for key, binds in (hc.get("PortBindings") or {}).items():
        port, proto = _parse_port_key(key)
        seen.add((port, proto))
        for b in binds or [{}]:
            hp = str((b or {}).get("HostPort") or "")
            lo, _, hi = hp.partition("-")
            try:
                host_port = int(lo) if lo else 0
                host_end = int(hi) if hi else 0
            except ValueError:
                raise InvalidParameter(f"invalid port specification: \"{hp}\"") from None
            out.append({"container_port": port, "proto": proto, "host_ip": (b or {}).get("HostIp") or "",
                        "host_port": host_port, "host_port_end": host_end})
    if hc.get("PublishAllPorts"):
        for key in config.get("ExposedPorts") or {}:
            port, proto = _parse_port_key(key)
            if (port, proto) not in seen:
                out.append({"container_port": port, "proto": proto, "host_ip": "", "host_port": 0,
                            "host_port_end": 0})
    return out


@dataclass
class EndpointInfo:
    network: str
    network_id: str
    endpoint_id: str
    ip: str
    prefix_len: int
    gateway: str
    mac: str
    aliases: list[str]
    ports: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_pb(cls, network: str, ep: Any) -> "EndpointInfo":
        return cls(network, ep.network_id, ep.id, ep.ipv4_address, ep.prefix_len, ep.gateway, ep.mac_address,
                   list(ep.aliases), [{"container_port": p.container_port, "proto": p.proto or "tcp",
                                       "host_ip": p.host_ip, "host_port": p.host_port} for p in ep.ports])

    def settings(self) -> dict[str, Any]:
        return {"IPAMConfig": None, "Links": None, "Aliases": self.aliases or None, "MacAddress": self.mac,
                "DriverOpts": None, "NetworkID": self.network_id, "EndpointID": self.endpoint_id,
                "Gateway": self.gateway, "IPAddress": self.ip, "IPPrefixLen": self.prefix_len,
                "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}


PREDEFINED = ("bridge", "host", "none", "default")


def aliases_for(net: str, cid: str, endpoint_config: dict[str, Any]) -> list[str]:
    """Configured aliases, plus the short ID on user-defined networks (as moby; compose 1.29 checks it)."""
    aliases = list(endpoint_config.get("Aliases") or [])
    if net not in PREDEFINED and cid[:12] not in aliases:
        aliases.append(cid[:12])
    return aliases


def empty_settings(aliases: list[str] | None = None) -> dict[str, Any]:
    return {"IPAMConfig": None, "Links": None, "Aliases": aliases or None, "MacAddress": "", "DriverOpts": None,
            "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}


def ports_map(config: dict[str, Any], endpoints: list[EndpointInfo]) -> dict[str, Any]:
    """NetworkSettings.Ports: every exposed port, with its host bindings or null."""
    out: dict[str, Any] = {k: None for k in config.get("ExposedPorts") or {}}
    for ep in endpoints:
        for p in ep.ports:
            key = f"{p['container_port']}/{p['proto']}"
            out.setdefault(key, None)
            if out[key] is None:
                out[key] = []
            out[key].append({"HostIp": p["host_ip"] or "0.0.0.0", "HostPort": str(p["host_port"])})
    return out


def summary_ports(config: dict[str, Any], endpoints: list[EndpointInfo]) -> list[dict[str, Any]]:
    """`Ports` of /containers/json."""
    out: list[dict[str, Any]] = []
    published = set()
    for ep in endpoints:
        for p in ep.ports:
            published.add((p["container_port"], p["proto"]))
            out.append({"IP": p["host_ip"] or "0.0.0.0", "PrivatePort": p["container_port"],
                        "PublicPort": p["host_port"], "Type": p["proto"]})
    for key in config.get("ExposedPorts") or {}:
        port, proto = _parse_port_key(key)
        if (port, proto) not in published:
            out.append({"PrivatePort": port, "Type": proto})
    return out


def refresh_resolv_conf(path: str, before: str, after: str) -> None:
    """A running container's resolv.conf after `network connect`: Docker rewrites it in place when
    the embedded resolver starts (first user-defined network), unless the user has changed it
    since it was written. In place, since the file is bind-mounted into the container."""
    if before == after:
        return
    try:
        with open(path, "r+") as f:
            if f.read() != before:
                return
            f.seek(0)
            f.write(after)
            f.truncate()
    except OSError:
        pass


def setup_failed(e: BaseException) -> BaseException:
    """An endpoint error at start as moby 28 reports it: "failed to set up container networking: …",
    same class (status); anything else (cancellation, …) unchanged."""
    from ..errors import DockerError
    if isinstance(e, DockerError) and not e.message.startswith("failed to set up container networking: "):
        new = type(e).__new__(type(e))
        DockerError.__init__(new, f"failed to set up container networking: {e.message}")
        new.__dict__.update({k: v for k, v in e.__dict__.items() if k != "message"})
        return new
    return e
