"""The container's /etc/hosts, /etc/resolv.conf and /etc/hostname, as Docker writes them."""
from __future__ import annotations

import ipaddress

from .model import DNSConfig

DEFAULT_HOSTS = [
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
]
FALLBACK_NAMESERVERS = ["8.8.8.8", "8.8.4.4"]   # Docker's defaultIPv4Dns
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"
EMBEDDED_NAMESERVER = "127.0.0.11"


def hostname_file(hostname: str) -> str:
    return f"{hostname}\n"


def parse_extra_host(entry: str) -> tuple[str, str]:
    """``name:ip`` (or ``name=ip``) as --add-host takes it → (name, ip); IPv6 may be bracketed."""
    for sep in ("=", ":"):
        name, s, ip = entry.partition(sep)
        if s and name and ip:
            ip = ip.strip("[]")
            if ip != "host-gateway":
                ipaddress.ip_address(ip)
            return name, ip
    raise ValueError(f"invalid argument \"{entry}\" for \"--add-host\" flag")


def hosts_file(hostname: str, domainname: str = "", ip: str = "", extra_hosts: list[str] = (),
               host_gateway: str = "") -> str:
    """Docker's /etc/hosts: the defaults, the --add-host entries, then the container's own record.

    ``ip`` empty (network none) leaves out the container's own record.
    """
    lines = [f"{a}\t{n}" for a, n in DEFAULT_HOSTS]
    for entry in extra_hosts:
        name, addr = parse_extra_host(entry)
        if addr == "host-gateway":
            addr = host_gateway
        lines.append(f"{addr}\t{name}")
    if ip:
        fqdn = f"{hostname}.{domainname}" if domainname else hostname
        short = fqdn.split(".", 1)[0]
        lines.append(f"{ip}\t{fqdn} {short}" if short != fqdn else f"{ip}\t{fqdn}")
    return "\n".join(lines) + "\n"


def host_hosts_file(host_hosts: str, extra_hosts: list[str] = (), host_gateway: str = "") -> str:
    """--network host: the host's /etc/hosts plus the --add-host entries."""
    out = host_hosts if host_hosts.endswith("\n") or not host_hosts else host_hosts + "\n"
    for entry in extra_hosts:
        name, addr = parse_extra_host(entry)
        if addr == "host-gateway":
            addr = host_gateway
        out += f"{addr}\t{name}\n"
    return out


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    """(nameservers, search domains, options) of a resolv.conf."""
    ns: list[str] = []
    search: list[str] = []
    opts: list[str] = []
    for line in text.splitlines():
        f = line.split("#", 1)[0].split(";", 1)[0].split()
        if not f:
            continue
        if f[0] == "nameserver" and len(f) > 1:
            ns.append(f[1])
        elif f[0] in ("search", "domain"):
            search = f[1:]
        elif f[0] == "options":
            opts += f[1:]
    return ns, search, opts


def effective_host_resolv(text: str, systemd_resolv: str | None) -> str:
    """The host's resolv.conf as Docker reads it: when its only nameserver is systemd-resolved's
    stub (127.0.0.53), the real upstreams in ``systemd_resolv`` (file content, None if absent)."""
    if parse_resolv_conf(text)[0] == ["127.0.0.53"] and systemd_resolv is not None:
        return systemd_resolv
    return text


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def upstream_nameservers(host_resolv: str, dns: DNSConfig) -> list[str]:
    """The servers the embedded resolver forwards to: --dns, else the host's (loopback included,
    since the resolver dials them from the host namespace)."""
    if dns.servers:
        return list(dns.servers)
    return parse_resolv_conf(host_resolv)[0]


def resolv_conf(host_resolv: str, dns: DNSConfig, embedded: bool) -> str:
    """The container's resolv.conf.

    embedded (user-defined networks): ``nameserver 127.0.0.11`` and ``options ndots:0`` unless
    the user set ndots. Otherwise (default bridge): --dns or the host's servers minus loopback
    ones, falling back to Google's as Docker does.
    """
    host_ns, host_search, host_opts = parse_resolv_conf(host_resolv)
    search = list(dns.search) if dns.search else host_search
    opts = list(dns.options) if dns.options else host_opts
    if embedded:
        servers = [EMBEDDED_NAMESERVER]
        if not any(o.startswith("ndots:") for o in opts):
            opts = opts + ["ndots:0"]
    else:
        servers = list(dns.servers) if dns.servers else [s for s in host_ns if not _is_loopback(s)]
        if not servers:
            servers = list(FALLBACK_NAMESERVERS)
    lines = [f"nameserver {s}" for s in servers]
    # "." alone means "no search domains" (docker run --dns-search .).
    search = [s for s in search if s != "."]
    if search:
        lines.append("search " + " ".join(search))
    if opts:
        lines.append("options " + " ".join(opts))
    return "\n".join(lines) + "\n"


