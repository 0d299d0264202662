"""cgroup statistics of a task, read from the files of the cgroups its init process is in.

Which hierarchy a task is accounted in is read from its /proc/<pid>/cgroup: v1 controllers there (a v1
or hybrid host) give containerd/cgroups' v1 Metrics, only the unified `0::` entry gives the v2 Metrics.
The dicts carry the field names of io.containerd.cgroups.v1/.v2 so that `metrics_any` packs them into
the protobuf that Tasks.Metrics returns in Metric.data, with containerd's type URL.
"""
from __future__ import annotations

import os
from typing import Any

from .errdefs import NotFound

CGROUP_ROOT = "/sys/fs/cgroup"
PROC_ROOT = "/proc"
V1_TYPE, V2_TYPE = "io.containerd.cgroups.v1.Metrics", "io.containerd.cgroups.v2.Metrics"
_MAX_U64 = (1 << 64) - 1  # containerd's v2 reading of "max"
_MAX_U32 = (1 << 32) - 1
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_UNLIMITED = 0  # containerd reports "max" limits as 0


def cgroup_paths(pid: int) -> dict[str, str]:
    """controller → cgroup path (as seen from here) for the v1 hierarchies of `pid`; the unified
    hierarchy's entry (`0::/path`) is under the key ""."""
    try:
        with open(f"{PROC_ROOT}/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise NotFound(f"process {pid}") from None
    out = {}
    for line in lines:
        hier, controllers, path = line.split(":", 2)
        if hier == "0" and not controllers:
            out[""] = path
        for c in controllers.split(","):
            if c:
                out[c] = path
    return out


def is_v2(paths: dict[str, str]) -> bool:
    """True when the process is accounted only in the unified hierarchy (no v1 controller: pure v2)."""
    return "" in paths and all(c == "" or c.startswith("name=") for c in paths)


def unified_root() -> str:
    """Where the cgroup2 hierarchy is mounted: CGROUP_ROOT itself on a pure v2 host, else
    CGROUP_ROOT/unified (a hybrid host)."""
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        return CGROUP_ROOT
    return os.path.join(CGROUP_ROOT, "unified")


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


def _v1_metrics(paths: dict[str, str]) -> dict[str, Any]:
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


# --- cgroup v2 -----------------------------------------------------------------------------------

def _u64(path: str) -> int:
    """A single-value v2 file; "max" is 2^64-1 and a missing file 0, as containerd reads them."""
    v = _read(path)
    if v is None:
        return 0
    if v == "max":
        return _MAX_U64
    try:
        return int(v)
    except ValueError:
        return 0


def _psi(path: str) -> dict[str, Any] | None:
    """A *.pressure file: `some|full avg10=… avg60=… avg300=… total=…` lines."""
    text = _read(path)
    if text is None:
        return None
    out: dict[str, Any] = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        if kind not in ("some", "full"):
            continue
        data: dict[str, Any] = {}
        for f in fields:
            k, _, v = f.partition("=")
            if k in ("avg10", "avg60", "avg300"):
                data[k] = float(v)
            elif k == "total":
                data[k] = int(v)
        out[kind] = data
    return out


# memory.stat keys containerd's v2 MemoryStat carries (same names as the proto fields)
_V2_MEMORY_KEYS = ("anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
                   "file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file", "active_file",
                   "unevictable", "slab_reclaimable", "slab_unreclaimable", "pgfault", "pgmajfault",
                   "workingset_refault", "workingset_activate", "workingset_nodereclaim", "pgrefill", "pgscan",
                   "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed", "thp_fault_alloc",
                   "thp_collapse_alloc")


def _io_stat(d: str) -> list[dict[str, int]]:
    """io.stat: `MAJ:MIN rbytes=… wbytes=… rios=… wios=… dbytes=… dios=…` per device."""
    out = []
    for line in (_read(f"{d}/io.stat") or "").splitlines():
        dev, *fields = line.split()
        major, sep, minor = dev.partition(":")
        if not sep or not major.isdigit() or not minor.isdigit():
            continue
        entry = {"major": int(major), "minor": int(minor), "rbytes": 0, "wbytes": 0, "rios": 0, "wios": 0}
        for f in fields:
            k, _, v = f.partition("=")
            if k in entry and v.isdigit():
                entry[k] = int(v)
        out.append(entry)
    return out


def _rdma(path: str) -> list[dict[str, Any]]:
    """rdma.current/rdma.max: `DEVICE hca_handle=N hca_object=N` ("max" is 2^32-1)."""
    out = []
    for line in (_read(path) or "").splitlines():
        device, *fields = line.split()
        entry: dict[str, Any] = {"device": device, "hca_handles": 0, "hca_objects": 0}
        for f in fields:
            k, _, v = f.partition("=")
            n = _MAX_U32 if v == "max" else int(v) if v.isdigit() else 0
            if k == "hca_handle":
                entry["hca_handles"] = n
            elif k == "hca_object":
                entry["hca_objects"] = n
        out.append(entry)
    return out


def _hugetlb(d: str) -> list[dict[str, Any]]:
    """hugetlb.<size>.current/.max/.events for each page size the cgroup has files for."""
    try:
        names = os.listdir(d)
    except OSError:
        return []
    sizes = sorted({n.split(".")[1] for n in names if n.startswith("hugetlb.") and n.endswith(".current")})
    return [{"current": _u64(f"{d}/hugetlb.{size}.current"), "max": _u64(f"{d}/hugetlb.{size}.max"),
             "pagesize": size, "failcnt": _kv(f"{d}/hugetlb.{size}.events").get("max", 0)} for size in sizes]


def v2_metrics_of(d: str) -> dict[str, Any]:
    """The v2 Metrics of the cgroup directory `d` (containerd's cgroup2 Manager.Stat)."""
    m: dict[str, Any] = {"pids": {"current": _u64(f"{d}/pids.current"), "limit": _u64(f"{d}/pids.max")}}
    cpu = _kv(f"{d}/cpu.stat")
    m["cpu"] = {k: cpu.get(k, 0) for k in ("usage_usec", "user_usec", "system_usec", "nr_periods",
                                           "nr_throttled", "throttled_usec", "nr_bursts", "burst_usec")}
    if psi := _psi(f"{d}/cpu.pressure"):
        m["cpu"]["psi"] = psi
    raw = _kv(f"{d}/memory.stat")
    mem: dict[str, Any] = {k: raw.get(k, 0) for k in _V2_MEMORY_KEYS}
    mem.update(usage=_u64(f"{d}/memory.current"), usage_limit=_u64(f"{d}/memory.max"),
               max_usage=_u64(f"{d}/memory.peak"), swap_usage=_u64(f"{d}/memory.swap.current"),
               swap_limit=_u64(f"{d}/memory.swap.max"), swap_max_usage=_u64(f"{d}/memory.swap.peak"))
    if psi := _psi(f"{d}/memory.pressure"):
        mem["psi"] = psi
    m["memory"] = mem
    if events := _kv(f"{d}/memory.events"):
        m["memory_events"] = {k: events.get(k, 0) for k in ("low", "high", "max", "oom", "oom_kill",
                                                            "oom_group_kill")}
    m["io"] = {"usage": _io_stat(d)}
    if psi := _psi(f"{d}/io.pressure"):
        m["io"]["psi"] = psi
    m["rdma"] = {"current": _rdma(f"{d}/rdma.current"), "limit": _rdma(f"{d}/rdma.max")}
    m["hugetlb"] = _hugetlb(d)
    return m


def task_metrics(pid: int) -> tuple[str, dict[str, Any]]:
    """(type name, Metrics dict) for the cgroups `pid` is in: v1 where it has v1 controllers, else v2."""
    paths = cgroup_paths(pid)
    if is_v2(paths):
        d = os.path.join(unified_root(), paths[""].lstrip("/"))
        if not os.path.isdir(d):
            raise NotFound(f"cgroup {paths['']} of process {pid}")
        return V2_TYPE, v2_metrics_of(d)
    return V1_TYPE, _v1_metrics(paths)


def metrics_any(pid: int) -> Any:
    """Tasks.Metrics' Metric.data for `pid`: the v1 or v2 Metrics message in an Any with containerd's
    type URL (the message's full name)."""
    from google.protobuf import any_pb2, json_format  # noqa: PLC0415

    from protos.containerd.types.cgroups.v1 import metrics_pb2 as v1_pb2  # noqa: PLC0415
    from protos.containerd.types.cgroups.v2 import metrics_pb2 as v2_pb2  # noqa: PLC0415
    kind, stats = task_metrics(pid)
    msg = json_format.ParseDict(stats, (v2_pb2 if kind == V2_TYPE else v1_pb2).Metrics())
    return any_pb2.Any(type_url=kind, value=msg.SerializeToString())
