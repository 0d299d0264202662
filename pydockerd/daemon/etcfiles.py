"""The /etc/hostname, /etc/hosts and /etc/resolv.conf files bind-mounted into containers."""
from __future__ import annotations

import os
import re

DEFAULT_DNS = ["8.8.8.8", "8.8.4.4"]
_LOCAL_NS = re.compile(r"^\s*nameserver\s+(127\.\d+\.\d+\.\d+|::1)\s*$", re.M)


def _write(path: str, content: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(content)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def write_file(path: str, content: str) -> None:
    _write(path, content)


def write_hostname(path: str, hostname: str) -> None:
    _write(path, hostname + "\n")


def hosts_content(hostname: str, extra_hosts: list[str], host_network: bool) -> str:
    if host_network:
        try:
            with open("/etc/hosts") as f:
                base = f.read()
        except OSError:
            base = "127.0.0.1\tlocalhost\n"
    else:
        base = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                "ff02::2\tip6-allrouters\n")
    lines = [base.rstrip("\n")]
    for entry in extra_hosts:
        name, _, ip = entry.partition(":")
        if ip:
            lines.append(f"{ip}\t{name}")
    return "\n".join(lines) + "\n"


def write_hosts(path: str, hostname: str, extra_hosts: list[str], host_network: bool) -> None:
    _write(path, hosts_content(hostname, extra_hosts, host_network))


def resolv_content(host_resolv: str, dns: list[str], search: list[str], options: list[str],
                   host_network: bool) -> str:
    """The host's resolv.conf without loopback nameservers (unreachable from a netns)."""
    if dns or search or options:
        out = [f"nameserver {d}" for d in dns] or [
            ln for ln in host_resolv.splitlines() if ln.strip().startswith("nameserver")]
        if search:
            out.append("search " + " ".join(search))
        if options:
            out.append("options " + " ".join(options))
        return "\n".join(out) + "\n"
    if host_network:
        return host_resolv
    content = _LOCAL_NS.sub("", host_resolv)
    if not re.search(r"^\s*nameserver\s", content, re.M):
        content = content.rstrip("\n") + "\n" + "".join(f"nameserver {d}\n" for d in DEFAULT_DNS)
    return content.lstrip("\n")


def write_resolv_conf(path: str, dns: list[str], search: list[str], options: list[str],
                      host_network: bool) -> None:
    try:
        with open("/etc/resolv.conf") as f:
            host = f.read()
    except OSError:
        host = ""
    _write(path, resolv_content(host, dns, search, options, host_network))
