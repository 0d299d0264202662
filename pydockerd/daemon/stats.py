"""`docker stats`: Docker's StatsJSON (API types/container.StatsResponse) from containerd's cgroup
Metrics of the task (v1 or v2, told apart by the Any's type URL as moby's stats_unix.go does),
the host's /proc/stat and the container's /proc/<pid>/net/dev."""
from __future__ import annotations

import functools
import os
from datetime import datetime, timezone
from typing import Any

from google.protobuf import json_format

from .container import ZERO_TIME

_CLK_TCK = os.sysconf("SC_CLK_TCK")
# memory.stat keys Docker reports (v1), by containerd's Metrics field names
_MEM_KEYS = ["cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout", "pgfault",
             "pgmajfault", "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable"]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def system_cpu_usage() -> int:
    """Host CPU time in ns, the sum of the first seven fields of /proc/stat's `cpu` line (as Docker)."""
    with open("/proc/stat") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] == "cpu":
                return sum(int(x) for x in parts[1:8]) * 1_000_000_000 // _CLK_TCK
    return 0


@functools.cache
def machine_memory() -> int:
    """MemTotal in bytes (read once: it bounds every sample's limit)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def online_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def net_dev(pid: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        name = name.strip()
        v = [int(x) for x in rest.split()]
        if name == "lo" or len(v) < 12:
            continue
        out[name] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                     "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return out


def empty_cpu() -> dict[str, Any]:
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def empty_stats(cid: str, name: str) -> dict[str, Any]:
    """What dockerd answers for a container that is not running."""
    return {"name": name, "id": cid, "read": ZERO_TIME, "preread": ZERO_TIME,
            "pids_stats": {}, "blkio_stats": {"io_service_bytes_recursive": None, "io_serviced_recursive": None,
                                              "io_queue_recursive": None, "io_service_time_recursive": None,
                                              "io_wait_time_recursive": None, "io_merged_recursive": None,
                                              "io_time_recursive": None, "sectors_recursive": None},
            "num_procs": 0, "storage_stats": {}, "cpu_stats": empty_cpu(), "precpu_stats": empty_cpu(),
            "memory_stats": {}}


def _blkio(entries: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [{"major": int(e.get("major", 0)), "minor": int(e.get("minor", 0)), "op": e.get("op", ""),
             "value": int(e.get("value", 0))} for e in entries or []]


V1_TYPE, V2_TYPE = "io.containerd.cgroups.v1.Metrics", "io.containerd.cgroups.v2.Metrics"


def decode_metrics(data: Any) -> Any:
    """Tasks.Metrics' Metric.data (an Any) → the v1 or v2 Metrics message; None for other types."""
    if data.type_url.endswith(V2_TYPE):
        from protos.containerd.types.cgroups.v2 import metrics_pb2  # noqa: PLC0415
    elif data.type_url.endswith(V1_TYPE):
        from protos.containerd.types.cgroups.v1 import metrics_pb2  # type: ignore[no-redef]  # noqa: PLC0415
    else:
        return None
    return metrics_pb2.Metrics.FromString(data.value)


def build(cid: str, name: str, metrics: Any, pid: int, networked: bool,
          prev: dict[str, Any] | None) -> dict[str, Any]:
    """One sample from a v1 or v2 Metrics message (or the Any holding one); `prev` (the previous
    sample, if any) fills preread and precpu_stats."""
    if metrics is not None and metrics.DESCRIPTOR.full_name == "google.protobuf.Any":
        metrics = decode_metrics(metrics)
    m = json_format.MessageToDict(metrics, preserving_proto_field_name=True,
                                  always_print_fields_with_no_presence=True) if metrics is not None else {}
    out = empty_stats(cid, name)
    out["read"] = _now()
    if metrics is not None and metrics.DESCRIPTOR.full_name == V2_TYPE:
        _fill_v2(out, m)
    else:
        _fill_v1(out, m)
    if networked:
        out["networks"] = net_dev(pid)
    if prev is not None:
        out["preread"] = prev["read"]
        out["precpu_stats"] = prev["cpu_stats"]
    return out


def _fill_v1(out: dict[str, Any], m: dict[str, Any]) -> None:
    pids = m.get("pids") or {}
    out["pids_stats"] = {"current": int(pids.get("current", 0))}
    if int(pids.get("limit", 0)):
        out["pids_stats"]["limit"] = int(pids["limit"])
    blk = m.get("blkio") or {}
    # cgroup v1: every list, empty ones as [] (moby copies each of containerd's; v2 fills only two)
    for docker_key, containerd_key in (("io_service_bytes_recursive", "io_service_bytes_recursive"),
                                       ("io_serviced_recursive", "io_serviced_recursive"),
                                       ("io_queue_recursive", "io_queued_recursive"),
                                       ("io_service_time_recursive", "io_service_time_recursive"),
                                       ("io_wait_time_recursive", "io_wait_time_recursive"),
                                       ("io_merged_recursive", "io_merged_recursive"),
                                       ("io_time_recursive", "io_time_recursive"),
                                       ("sectors_recursive", "sectors_recursive")):
        out["blkio_stats"][docker_key] = _blkio(blk.get(containerd_key))
    cpu = m.get("cpu") or {}
    usage, thr = cpu.get("usage") or {}, cpu.get("throttling") or {}
    out["cpu_stats"] = {
        "cpu_usage": {"total_usage": int(usage.get("total", 0)),
                      "percpu_usage": [int(x) for x in usage.get("per_cpu") or []],
                      "usage_in_kernelmode": int(usage.get("kernel", 0)),
                      "usage_in_usermode": int(usage.get("user", 0))},
        "system_cpu_usage": system_cpu_usage(), "online_cpus": online_cpus(),
        "throttling_data": {"periods": int(thr.get("periods", 0)),
                            "throttled_periods": int(thr.get("throttled_periods", 0)),
                            "throttled_time": int(thr.get("throttled_time", 0))}}
    mem = m.get("memory") or {}
    if mem:
        mu = mem.get("usage") or {}
        stats = {k: int(mem.get(k, 0)) for k in _MEM_KEYS}
        stats.update({"total_" + k: int(mem.get("total_" + k, 0)) for k in _MEM_KEYS})
        stats["hierarchical_memory_limit"] = int(mem.get("hierarchical_memory_limit", 0))
        limit = int(mu.get("limit", 0))
        host = machine_memory()
        if not limit or (host and limit > host):
            limit = host
        out["memory_stats"] = {"usage": int(mu.get("usage", 0)), "max_usage": int(mu.get("max", 0)),
                               "stats": stats, "failcnt": int(mu.get("failcnt", 0)), "limit": limit}


# memory.stat keys dockerd reports on cgroup v2 ("not compatible with v1"), containerd's field names
_V2_MEM_KEYS = ["anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty",
                "file_writeback", "anon_thp", "inactive_anon", "active_anon", "inactive_file", "active_file",
                "unevictable", "slab_reclaimable", "slab_unreclaimable", "pgfault", "pgmajfault",
                "workingset_refault", "workingset_activate", "workingset_nodereclaim", "pgrefill", "pgscan",
                "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed", "thp_fault_alloc",
                "thp_collapse_alloc"]


def _nonzero(**fields: int) -> dict[str, int]:
    """Go's `omitempty` on uint64 fields: zeros are left out."""
    return {k: v for k, v in fields.items() if v}


def _fill_v2(out: dict[str, Any], m: dict[str, Any]) -> None:
    """moby's statsV2: µs → ns, io.stat bytes as read/write service bytes, no per-CPU usage, no
    max_usage; failcnt is memory.events' oom count."""
    if "io" in m:
        out["blkio_stats"]["io_service_bytes_recursive"] = [
            {"major": int(e.get("major", 0)), "minor": int(e.get("minor", 0)), "op": op,
             "value": int(e.get(key, 0))}
            for e in (m["io"].get("usage") or []) for op, key in (("read", "rbytes"), ("write", "wbytes"))]
    cpu = m.get("cpu") or {}
    out["cpu_stats"] = {
        "cpu_usage": {"total_usage": int(cpu.get("usage_usec", 0)) * 1000,
                      "usage_in_kernelmode": int(cpu.get("system_usec", 0)) * 1000,
                      "usage_in_usermode": int(cpu.get("user_usec", 0)) * 1000},
        "system_cpu_usage": system_cpu_usage(), "online_cpus": online_cpus(),
        "throttling_data": {"periods": int(cpu.get("nr_periods", 0)),
                            "throttled_periods": int(cpu.get("nr_throttled", 0)),
                            "throttled_time": int(cpu.get("throttled_usec", 0)) * 1000}}
    mem = m.get("memory")
    if mem:
        limit = int(mem.get("usage_limit", 0))
        host = machine_memory()
        if host and limit > host:  # "max" (2^64-1): no limit, the machine's memory is the bound
            limit = host
        events = m.get("memory_events") or {}
        out["memory_stats"] = {"stats": {k: int(mem.get(k, 0)) for k in _V2_MEM_KEYS},
                               **_nonzero(usage=int(mem.get("usage", 0)), failcnt=int(events.get("oom", 0)),
                                          limit=limit)}
    pids = m.get("pids") or {}
    out["pids_stats"] = _nonzero(current=int(pids.get("current", 0)), limit=int(pids.get("limit", 0)))
