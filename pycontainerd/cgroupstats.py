"""cgroup v1 statistics of a task, read from the files of the cgroups its init process is in.

Shaped like containerd/cgroups' v1 Metrics (field names as in io.containerd.cgroups.v1), so the
Tasks servicer can turn the dict into the protobuf that Tasks.Metrics returns.
"""
from __future__ import annotations

import os
from typing import Any

from .errdefs import NotFound, NotImplementedErr

CGROUP_ROOT = "/sys/fs/cgroup"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_UNLIMITED = 0  # containerd reports "max" limits as 0


def cgroup_paths(pid: int) -> dict[str, str]:
    """controller → cgroup path (as seen from here) for the v1 hierarchies of `pid`."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise NotFound(f"process {pid}") from None
    out = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(","):
            if c:
                out[c] = path
    return out


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _int(path: str) -> int:
    v = _read(path)
    if v is None or v == "max":
        return _UNLIMITED
    try:
        return int(v)
    except ValueError:
        return 0


def _kv(path: str) -> dict[str, int]:
    out = {}
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _dir(paths: dict[str, str], controller: str) -> str | None:
    if controller not in paths:
        return None
    d = os.path.join(CGROUP_ROOT, controller, paths[controller].lstrip("/"))
    if not os.path.isdir(d):  # co-mounted controllers (cpu,cpuacct) live under the joined name
        for name in os.listdir(CGROUP_ROOT):
            if controller in name.split(","):
                d = os.path.join(CGROUP_ROOT, name, paths[controller].lstrip("/"))
                break
    return d if os.path.isdir(d) else None


_MEMORY_FIELDS = {
    "cache": "cache", "rss": "rss", "rss_huge": "rss_huge", "mapped_file": "mapped_file", "dirty": "dirty",
    "writeback": "writeback", "pgpgin": "pg_pg_in", "pgpgout": "pg_pg_out", "pgfault": "pg_fault",
    "pgmajfault": "pg_maj_fault", "inactive_anon": "inactive_anon", "active_anon": "active_anon",
    "inactive_file": "inactive_file", "active_file": "active_file", "unevictable": "unevictable",
    "hierarchical_memory_limit": "hierarchical_memory_limit", "hierarchical_memsw_limit": "hierarchical_swap_limit",
}


def _memory_entry(d: str, prefix: str) -> dict[str, int]:
    return {"limit": _int(f"{d}/{prefix}limit_in_bytes"), "usage": _int(f"{d}/{prefix}usage_in_bytes"),
            "max": _int(f"{d}/{prefix}max_usage_in_bytes"), "failcnt": _int(f"{d}/{prefix}failcnt")}


def _blkio(d: str, name: str) -> list[dict[str, Any]]:
    out = []
    for line in (_read(f"{d}/{name}") or "").splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        major, minor = (int(x) for x in parts[0].split(":"))
        dev = ""
        for uline in (_read(f"/sys/dev/block/{major}:{minor}/uevent") or "").splitlines():
            if uline.startswith("DEVNAME="):
                dev = "/dev/" + uline.split("=", 1)[1]
        out.append({"op": parts[1], "device": dev, "major": major, "minor": minor, "value": int(parts[2])})
    return out


def v1_metrics(pid: int) -> dict[str, Any]:
    """The v1 Metrics of the cgroups `pid` is in (controllers that are not mounted are left out)."""
    paths = cgroup_paths(pid)
    if set(paths) <= {"", "name=systemd"}:  # only the unified hierarchy
        raise NotImplementedErr("metrics for cgroup v2 are not supported")
    m: dict[str, Any] = {}
    if d := _dir(paths, "pids"):
        m["pids"] = {"current": _int(f"{d}/pids.current"), "limit": _int(f"{d}/pids.max")}
    cpu: dict[str, Any] = {}
    if d := _dir(paths, "cpuacct"):
        stat = _kv(f"{d}/cpuacct.stat")
        per_cpu = [int(x) for x in (_read(f"{d}/cpuacct.usage_percpu") or "").split()]
        cpu["usage"] = {"total": _int(f"{d}/cpuacct.usage"),
                        "kernel": stat.get("system", 0) * 1_000_000_000 // _CLK_TCK,
                        "user": stat.get("user", 0) * 1_000_000_000 // _CLK_TCK, "per_cpu": per_cpu}
    if d := _dir(paths, "cpu"):
        st = _kv(f"{d}/cpu.stat")
        cpu["throttling"] = {"periods": st.get("nr_periods", 0), "throttled_periods": st.get("nr_throttled", 0),
                             "throttled_time": st.get("throttled_time", 0)}
    if cpu:
        m["cpu"] = cpu
    if d := _dir(paths, "memory"):
        raw = _kv(f"{d}/memory.stat")
        mem: dict[str, Any] = {}
        for key, field in _MEMORY_FIELDS.items():
            mem[field] = raw.get(key, 0)
            if key in ("hierarchical_memory_limit", "hierarchical_memsw_limit"):
                continue
            mem["total_" + field] = raw.get("total_" + key, 0)
        mem["usage"] = _memory_entry(d, "memory.")
        mem["swap"] = _memory_entry(d, "memory.memsw.")
        mem["kernel"] = _memory_entry(d, "memory.kmem.")
        mem["kernel_tcp"] = _memory_entry(d, "memory.kmem.tcp.")
        m["memory"] = mem
        oom = _kv(f"{d}/memory.oom_control")
        m["memory_oom_control"] = {"oom_kill_disable": oom.get("oom_kill_disable", 0),
                                   "under_oom": oom.get("under_oom", 0), "oom_kill": oom.get("oom_kill", 0)}
    if d := _dir(paths, "blkio"):
        m["blkio"] = {"io_service_bytes_recursive": _blkio(d, "blkio.throttle.io_service_bytes_recursive"),
                      "io_serviced_recursive": _blkio(d, "blkio.throttle.io_serviced_recursive")}
    return m
