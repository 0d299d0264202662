"""Namespace kinds, and joining/creating them (the nsexec stages, in Python)."""
from __future__ import annotations

import os

NS_FLAGS = {
    "pid": 0x20000000, "network": 0x40000000, "mount": 0x20000, "ipc": 0x08000000,
    "uts": 0x04000000, "user": 0x10000000, "cgroup": 0x02000000, "time": 0x80,
}
# /proc/<pid>/ns/<name> for each spec type
PROC_NAME = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
             "user": "user", "cgroup": "cgroup", "time": "time"}
# setns order: user first (it grants the caps for the rest), mount last (paths change after it)
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")


def open_paths(spec_ns: list[dict]) -> list[tuple[str, int]]:
    """Open every namespace path up front (before any setns changes path resolution)."""
    out = []
    for kind in JOIN_ORDER:
        for ns in spec_ns:
            if ns.get("type") == kind and ns.get("path"):
                out.append((kind, os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)))
    return out


def join(fds: list[tuple[str, int]]) -> None:
    from .syscalls import setns
    for kind, fd in fds:
        try:
            setns(fd, NS_FLAGS[kind])
        except OSError as e:
            raise OSError(e.errno, f"failed to join {kind} namespace: {e.strerror}") from None
        finally:
            os.close(fd)


def unshare_flags(spec_ns: list[dict], without_user: bool = True) -> int:
    flags = 0
    for ns in spec_ns:
        if not ns.get("path") and not (without_user and ns["type"] == "user"):
            flags |= NS_FLAGS[ns["type"]]
    return flags


def ns_inode(pid: int | str, name: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{name}").st_ino
    except OSError:
        return None


def ns_paths_of(pid: int) -> dict[str, str]:
    """The namespace paths of a running init, keyed by spec type (what exec joins)."""
    return {kind: f"/proc/{pid}/ns/{name}" for kind, name in PROC_NAME.items()
            if os.path.exists(f"/proc/{pid}/ns/{name}")}


def loopback_up() -> None:
    """Bring ``lo`` up in a fresh network namespace (SIOCGIFFLAGS/SIOCSIFFLAGS)."""
    import _socket

    from .syscalls import if_flags
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        if_flags(s.fileno(), "lo", 0x1 | 0x40)  # IFF_UP | IFF_RUNNING
    finally:
        s.close()
