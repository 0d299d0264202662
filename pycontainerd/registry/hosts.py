"""Which scheme to use for a registry host: HTTPS, or plain HTTP for loopback and insecure registries.

Like dockerd: loopback registries (127.0.0.0/8, ::1, ``localhost``) are always reachable over plain HTTP;
registries listed as insecure (host, host:port or CIDR) are tried over HTTPS without certificate checks
first, then over HTTP; every other registry needs verified HTTPS.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Endpoint:
    scheme: str          # "https" or "http"
    host: str            # host[:port] as in the reference (IPv6 in brackets)
    verify_tls: bool = True

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


def split_host_port(host: str) -> tuple[str, str]:
    """``[::1]:5000`` → (``::1``, ``5000``); ``localhost`` → (``localhost``, ``""``)."""
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1:]
        return host[1:end], rest[1:] if rest.startswith(":") else ""
    name, _, port = host.partition(":")
    return name, port


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    name, _ = split_host_port(host)
    if name.lower() == "localhost":
        return True
    ip = _ip(name)
    return ip is not None and ip.is_loopback


def is_insecure(host: str, insecure: Iterable[str]) -> bool:
    """Whether ``host`` is in the insecure list: exact ``host:port``, bare host name, or an IP in a CIDR."""
    name, _ = split_host_port(host)
    ip = _ip(name)
    for entry in insecure:
        entry = entry.strip().removeprefix("http://").removeprefix("https://").rstrip("/")
        if not entry:
            continue
        if "/" in entry:
            try:
                net = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                continue
            if ip is not None and ip.version == net.version and ip in net:
                return True
        elif entry == host or entry == name:
            return True
    return False


def endpoints_for(host: str, insecure: Iterable[str] = ()) -> list[Endpoint]:
    """The endpoints to try for ``host``, in order."""
    if is_loopback(host):
        return [Endpoint("http", host, verify_tls=False)]
    if is_insecure(host, insecure):
        return [Endpoint("https", host, verify_tls=False), Endpoint("http", host, verify_tls=False)]
    return [Endpoint("https", host)]
