"""Capability sets (bounding, effective, permitted, inheritable, ambient) and setuid with keepcaps."""
from __future__ import annotations

import os

from . import syscalls as sc

CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
CAP_NUM = {name: i for i, name in enumerate(CAPS)}
SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


_last_cap: int | None = None


def last_cap() -> int:
    global _last_cap
    if _last_cap is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _last_cap = int(f.read())
        except OSError:
            _last_cap = len(CAPS) - 1
    return _last_cap


def host_bounding() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return (1 << (last_cap() + 1)) - 1


def resolve(caps: dict | None, warn) -> dict[str, int]:
    """Masks for each set; unknown names and caps the host's bounding set lacks are dropped
    with a warning (runc warns rather than failing)."""
    caps = caps or {}
    bnd = host_bounding()
    out: dict[str, int] = {}
    warned: set[str] = set()
    for s in SETS:
        mask = 0
        for name in caps.get(s) or []:
            n = CAP_NUM.get(name)
            if n is None or n > last_cap():
                if name not in warned:
                    warn(f"unknown capability {name!r}: ignoring it")
                    warned.add(name)
                continue
            if not bnd & (1 << n):
                if name not in warned:
                    warn(f"capability {name!r} is not in the host's bounding set: dropping it")
                    warned.add(name)
                continue
            mask |= 1 << n
        out[s] = mask
    return out


def drop_bounding(bounding: int) -> None:
    for n in range(last_cap() + 1):
        if not bounding & (1 << n):
            try:
                sc.prctl(sc.PR_CAPBSET_DROP, n)
            except OSError as e:
                if e.errno != 22:  # EINVAL: cap unknown to this kernel
                    raise


def apply(masks: dict[str, int]) -> list[str]:
    """Set effective/permitted/inheritable, then raise the ambient ones.

    The kernel only raises an ambient cap that is also permitted and inheritable; like runc we
    skip the others (returned, for a warning) instead of failing the container.
    """
    sc.capset(masks["effective"], masks["permitted"], masks["inheritable"])
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    skipped = []
    for n in range(last_cap() + 1):
        if masks["ambient"] & (1 << n):
            try:
                sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, n)
            except OSError:
                skipped.append(CAPS[n])
    return skipped


def set_user(uid: int, gid: int, groups: list[int] | None, keep_caps: bool = True) -> None:
    """setgroups/setgid/setuid; PR_SET_KEEPCAPS keeps the permitted set across the uid change."""
    if keep_caps:
        sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    if groups is not None:
        os.setgroups(groups)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if keep_caps:
        sc.prctl(sc.PR_SET_KEEPCAPS, 0)
