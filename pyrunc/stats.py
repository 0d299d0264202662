"""``pyrunc events --stats``: runc's stats JSON (its types.Stats), read from the container's
cgroups. Fields runc tags ``omitempty`` are left out when zero or empty, as Go's encoder does;
maps come out with sorted keys, as Go marshals them."""
from __future__ import annotations

import os

from .state import State


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _int(path: str) -> int:
    v = _read(path)
    try:
        return int(v) if v and v != "max" else 0
    except ValueError:
        return 0


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        k, _, v = line.partition(" ")
        if v.strip().lstrip("-").isdigit():
            out[k] = int(v)
    return out


def _ints(path: str) -> list[int]:
    return [int(x) for x in (_read(path) or "").split() if x.isdigit()]


def _omit(d: dict, *keys: str) -> dict:
    """Drop the ``omitempty`` fields among ``keys`` that hold a zero value."""
    for k in keys:
        if k in d and not d[k]:
            del d[k]
    return d


def _cpu_list(text: str | None) -> list[int]:
    """A cpuset list (``0-3,8``) as the numbers in it."""
    out: list[int] = []
    for part in (text or "").split(","):
        lo, _, hi = part.strip().partition("-")
        if lo.isdigit():
            out.extend(range(int(lo), int(hi if hi.isdigit() else lo) + 1))
    return out


def _blkio_entries(path: str) -> list[dict]:
    """``MAJ:MIN [Op] value`` lines (the bare ``Total`` line skipped) as runc's BlkioEntry."""
    out = []
    for line in (_read(path) or "").splitlines():
        f = line.replace(":", " ").split()
        if len(f) < 3 or not (f[0].isdigit() and f[1].isdigit() and f[-1].isdigit()):
            continue
        e = {"major": int(f[0]), "minor": int(f[1]), "op": f[2] if len(f) == 4 else "",
             "value": int(f[-1])}
        out.append(_omit(e, "major", "minor", "op", "value"))
    return out


# runc's blkio sources in order of preference: the first set whose first file has entries
# wins (BFQ with debug files, BFQ, CFQ, throttle recursive, throttle); JSON key per file
_SERVICED = ("ioServicedRecursive", "io_serviced_recursive")
_BYTES = ("ioServiceBytesRecursive", "io_service_bytes_recursive")
_CFQ_DEBUG = (("sectorsRecursive", "sectors_recursive"),
              ("ioServiceTimeRecursive", "io_service_time_recursive"),
              ("ioWaitTimeRecursive", "io_wait_time_recursive"),
              ("ioMergedRecursive", "io_merged_recursive"),
              ("ioQueueRecursive", "io_queued_recursive"),
              ("ioTimeRecursive", "time_recursive"))
_BLKIO_SETS = (
    [(k, "blkio.bfq." + f) for k, f in _CFQ_DEBUG + (_SERVICED, _BYTES)],
    [(k, "blkio.bfq." + f) for k, f in (_SERVICED, _BYTES)],
    [(k, "blkio." + f) for k, f in _CFQ_DEBUG + (_SERVICED, _BYTES)],
    [(k, "blkio.throttle." + f) for k, f in (_SERVICED, _BYTES)],
    [("ioServicedRecursive", "blkio.throttle.io_serviced"),
     ("ioServiceBytesRecursive", "blkio.throttle.io_service_bytes")],
)
_BLKIO_ORDER = ("ioServiceBytesRecursive", "ioServicedRecursive", "ioQueueRecursive",
                "ioServiceTimeRecursive", "ioWaitTimeRecursive", "ioMergedRecursive",
                "ioTimeRecursive", "sectorsRecursive")


# the numbers of runc's CPUSetStats (cpus and mems are lists), and Go's zero MemoryEntry
_CPUSET_FLAGS = {"cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0, "memory_migrate": 0,
                 "memory_spread_page": 0, "memory_spread_slab": 0, "memory_pressure": 0,
                 "sched_load_balance": 0, "sched_relax_domain_level": 0}
_ZERO_MEMORY_ENTRY = {"limit": 0, "failcnt": 0}


def _blkio(path: str) -> dict:
    got: dict = {}
    for files in _BLKIO_SETS:
        for key, name in files:
            entries = _blkio_entries(os.path.join(path, name))
            if not entries:
                break
            got[key] = entries
        if got:
            break
    return {k: got[k] for k in _BLKIO_ORDER if k in got}


def _page_sizes() -> list[str]:
    """The host's huge page sizes named as runc names them (``2MB``, ``1GB``)."""
    out = []
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return out
    for n in names:
        kb = n[len("hugepages-"):-len("kB")]
        if not (n.startswith("hugepages-") and n.endswith("kB") and kb.isdigit()):
            continue
        size, unit = float(int(kb) * 1024), 0
        while size >= 1024 and unit < 5:
            size, unit = size / 1024, unit + 1
        out.append(f"{size:g}{('B', 'KB', 'MB', 'GB', 'TB', 'PB')[unit]}")
    return out


def _memory_entry(mem: str, prefix: str) -> dict:
    e = {"limit": _int(os.path.join(mem, prefix + "limit_in_bytes")),
         "usage": _int(os.path.join(mem, prefix + "usage_in_bytes")),
         "max": _int(os.path.join(mem, prefix + "max_usage_in_bytes")),
         "failcnt": _int(os.path.join(mem, prefix + "failcnt"))}
    return _omit(e, "usage", "max")


def stats(state: State) -> dict:
    paths = state.data.get("cgroup_paths") or {}
    if set(paths) == {"unified"}:
        return _stats_v2(paths["unified"])
    usage: dict = {"total": 0, "percpu": [], "percpu_kernel": [], "percpu_user": [],
                   "kernel": 0, "user": 0}
    acct = paths.get("cpuacct")
    if acct:
        usage["total"] = _int(os.path.join(acct, "cpuacct.usage"))
        usage["percpu"] = _ints(os.path.join(acct, "cpuacct.usage_percpu"))
        rows = (_read(os.path.join(acct, "cpuacct.usage_all")) or "").splitlines()[1:]
        cols = [r.split() for r in rows]
        cols = [c for c in cols if len(c) == 3 and all(x.isdigit() for x in c)]
        usage["percpu_user"] = [int(c[1]) for c in cols]
        usage["percpu_kernel"] = [int(c[2]) for c in cols]
        st = _kv(os.path.join(acct, "cpuacct.stat"))
        tick = os.sysconf("SC_CLK_TCK")
        usage["user"] = st.get("user", 0) * 1_000_000_000 // tick
        usage["kernel"] = st.get("system", 0) * 1_000_000_000 // tick
    throttling: dict = {}
    if paths.get("cpu"):
        st = _kv(os.path.join(paths["cpu"], "cpu.stat"))
        throttling = {"periods": st.get("nr_periods", 0),
                      "throttledPeriods": st.get("nr_throttled", 0),
                      "throttledTime": st.get("throttled_time", 0)}
    data: dict = {"cpu": {"usage": _omit(usage, "total", "percpu", "percpu_kernel",
                                         "percpu_user"),
                          "throttling": _omit(throttling, "periods", "throttledPeriods",
                                              "throttledTime")}}
    cs = paths.get("cpuset")
    cpuset: dict = {"cpus": [], "cpu_exclusive": 0, "mems": [], **_CPUSET_FLAGS}  # (runc's field order)
    if cs:
        cpuset["cpus"] = _cpu_list(_read(os.path.join(cs, "cpuset.cpus")))
        cpuset["mems"] = _cpu_list(_read(os.path.join(cs, "cpuset.mems")))
        for k in _CPUSET_FLAGS:
            cpuset[k] = _int(os.path.join(cs, "cpuset." + k))
    data["cpuset"] = _omit(cpuset, "cpus", "mems")
    memory: dict = {}
    mem = paths.get("memory")
    if mem:
        raw = _kv(os.path.join(mem, "memory.stat"))
        memory = {"cache": raw.get("cache", 0),
                  "usage": _memory_entry(mem, "memory."),
                  "swap": _memory_entry(mem, "memory.memsw."),
                  "kernel": _memory_entry(mem, "memory.kmem."),
                  "kernelTCP": _memory_entry(mem, "memory.kmem.tcp."),
                  "raw": dict(sorted(raw.items()))}
    else:  # Go's zero MemoryEntry values: omitempty does not drop a struct
        memory = {k: dict(_ZERO_MEMORY_ENTRY) for k in ("usage", "swap", "kernel", "kernelTCP")}
    data["memory"] = _omit(memory, "cache", "raw")
    pids = paths.get("pids")
    data["pids"] = _omit({"current": _int(os.path.join(pids, "pids.current")) if pids else 0,
                          "limit": _int(os.path.join(pids, "pids.max")) if pids else 0},
                         "current", "limit")
    data["blkio"] = _blkio(paths["blkio"]) if paths.get("blkio") else {}
    hugetlb: dict = {}
    ht = paths.get("hugetlb")
    if ht:
        for size in sorted(_page_sizes()):
            p = os.path.join(ht, f"hugetlb.{size}.")
            hugetlb[size] = _omit({"usage": _int(p + "usage_in_bytes"),
                                   "max": _int(p + "max_usage_in_bytes"),
                                   "failcnt": _int(p + "failcnt")}, "usage", "max")
    data["hugetlb"] = hugetlb
    data["intel_rdt"] = {}
    data["network_interfaces"] = None
    return data


def _stats_v2(p: str) -> dict:
    cpu = _kv(os.path.join(p, "cpu.stat"))
    usage = _omit({"total": cpu.get("usage_usec", 0) * 1000,
                   "kernel": cpu.get("system_usec", 0) * 1000,
                   "user": cpu.get("user_usec", 0) * 1000}, "total")
    throttling = _omit({"periods": cpu.get("nr_periods", 0),
                        "throttledPeriods": cpu.get("nr_throttled", 0),
                        "throttledTime": cpu.get("throttled_usec", 0) * 1000},
                       "periods", "throttledPeriods", "throttledTime")
    raw = _kv(os.path.join(p, "memory.stat"))
    zero = _ZERO_MEMORY_ENTRY
    memory = _omit({"cache": raw.get("file", 0),
                    "usage": _omit({"limit": _int(os.path.join(p, "memory.max")),
                                    "usage": _int(os.path.join(p, "memory.current")),
                                    "failcnt": 0}, "usage"),
                    "swap": _omit({"limit": _int(os.path.join(p, "memory.swap.max")),
                                   "usage": _int(os.path.join(p, "memory.swap.current")),
                                   "failcnt": 0}, "usage"),
                    "kernel": dict(zero), "kernelTCP": dict(zero),
                    "raw": dict(sorted(raw.items()))}, "cache", "raw")
    pids = _omit({"current": _int(os.path.join(p, "pids.current")),
                  "limit": _int(os.path.join(p, "pids.max"))}, "current", "limit")
    return {"cpu": {"usage": usage, "throttling": throttling},
            "cpuset": dict(_CPUSET_FLAGS),
            "memory": memory, "pids": pids, "blkio": {}, "hugetlb": {}, "intel_rdt": {},
            "network_interfaces": None}
