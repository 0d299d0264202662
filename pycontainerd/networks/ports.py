"""Parsing of published-port specs, as ``docker run -p`` takes them (Docker's nat.ParsePortSpec).

Self-contained (standard library only) so pydockerd can use the same parser.
Form: ``[ip:][hostPort:]containerPort[/tcp|/udp|/sctp]`` with ``a-b`` ranges; IPv6 ip in brackets.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass


class PortSpecError(ValueError):
    """A malformed spec; the message is Docker's."""


@dataclass(frozen=True)
class PortMapping:
    """One container port and where on the host to publish it.

    host_port == 0 means ephemeral. host_port_end > host_port is a range to pick one from
    (``-p 8000-8010:80``).
    """

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"


def _parse_range(text: str, what: str) -> tuple[int, int]:
    start_s, sep, end_s = text.partition("-")
    try:
        start = int(start_s)
        end = int(end_s) if sep else start
    except ValueError:
        raise PortSpecError(f"Invalid {what}: {text}") from None
    if not (0 <= start <= 65535 and 0 <= end <= 65535) or end < start:
        raise PortSpecError(f"Invalid {what}: {text}")
    return start, end


def _split(raw: str) -> tuple[str, str, str]:
    """Split into (ip, hostPort, containerPort); the ip may be a bracketed IPv6 address."""
    if raw.startswith("["):
        close = raw.find("]")
        if close < 0 or raw[close + 1:close + 2] != ":":
            raise PortSpecError(f"Invalid ip address: {raw}")
        ip = raw[1:close]
        rest = raw[close + 2:]
        host, sep, cont = rest.rpartition(":")
        if not sep:
            raise PortSpecError(f"Invalid hostPort: {rest}")
        return ip, host, cont
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    # An unbracketed IPv6 address: everything before the last two fields.
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_port_spec(spec: str) -> list[PortMapping]:
    """Parse one ``-p`` value into mappings, one per container port."""
    raw, slash, proto = spec.rpartition("/")
    if not slash:
        raw, proto = spec, "tcp"
    proto = proto.lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise PortSpecError(f"Invalid proto: {proto}")
    ip, host, cont = _split(raw)
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise PortSpecError(f"Invalid ip address: {ip}") from None
    if not cont:
        raise PortSpecError(f"No port specified: {spec}<empty>")
    c_start, c_end = _parse_range(cont, "containerPort")
    if c_start == 0:
        raise PortSpecError(f"Invalid containerPort: {cont}")
    h_start = h_end = 0
    if host:
        h_start, h_end = _parse_range(host, "hostPort")
    n_cont = c_end - c_start
    n_host = h_end - h_start
    if host and n_host != n_cont and not (n_cont == 0 and n_host > 0):
        raise PortSpecError(f"Invalid ranges specified for container and host Ports: {cont} and {host}")
    out = []
    for i in range(n_cont + 1):
        if not host:
            out.append(PortMapping(c_start + i, proto, ip, 0, 0))
        elif n_cont == 0 and n_host > 0:
            out.append(PortMapping(c_start, proto, ip, h_start, h_end))   # pick one of the range
        else:
            out.append(PortMapping(c_start + i, proto, ip, h_start + i, 0))
    return out


def format_binding(host_ip: str, host_port: int, container_port: int, proto: str) -> str:
    """Human form as ``docker ps`` prints it: ``0.0.0.0:8080->80/tcp``."""
    ip = host_ip or "0.0.0.0"
    if ":" in ip:
        ip = f"[{ip}]"
    return f"{ip}:{host_port}->{container_port}/{proto}"
