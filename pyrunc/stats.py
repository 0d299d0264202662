"""``pyrunc events --stats``: runc's stats JSON shape, read from the container's cgroups."""
from __future__ import annotations

import os

from .state import State


def _int(path: str) -> int:
    try:
        with open(path) as f:
            v = f.read().strip()
        return int(v) if v != "max" else 0
    except (OSError, ValueError):
        return 0


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(" ")
                if v.strip().lstrip("-").isdigit():
                    out[k] = int(v)
    except OSError:
        pass
    return out


def stats(state: State) -> dict:
    paths = state.data.get("cgroup_paths") or {}
    data: dict = {"cpu": {"usage": {}, "throttling": {}}, "memory": {}, "pids": {},
                  "blkio": {}, "hugetlb": {}, "intel_rdt": {}, "network_interfaces": None}
    if set(paths) == {"unified"}:
        p = paths["unified"]
        cpu = _kv(os.path.join(p, "cpu.stat"))
        data["cpu"]["usage"] = {"total": cpu.get("usage_usec", 0) * 1000,
                                "user": cpu.get("user_usec", 0) * 1000,
                                "kernel": cpu.get("system_usec", 0) * 1000}
        data["cpu"]["throttling"] = {"periods": cpu.get("nr_periods", 0),
                                     "throttledPeriods": cpu.get("nr_throttled", 0),
                                     "throttledTime": cpu.get("throttled_usec", 0) * 1000}
        data["memory"] = {"usage": {"usage": _int(os.path.join(p, "memory.current")),
                                    "limit": _int(os.path.join(p, "memory.max"))},
                          "raw": _kv(os.path.join(p, "memory.stat"))}
        data["pids"] = {"current": _int(os.path.join(p, "pids.current")),
                        "limit": _int(os.path.join(p, "pids.max"))}
        return data
    acct = paths.get("cpuacct")
    if acct:
        st = _kv(os.path.join(acct, "cpuacct.stat"))
        tick = os.sysconf("SC_CLK_TCK")
        data["cpu"]["usage"] = {"total": _int(os.path.join(acct, "cpuacct.usage")),
                                "user": st.get("user", 0) * 1_000_000_000 // tick,
                                "kernel": st.get("system", 0) * 1_000_000_000 // tick}
    cpu = paths.get("cpu")
    if cpu:
        st = _kv(os.path.join(cpu, "cpu.stat"))
        data["cpu"]["throttling"] = {"periods": st.get("nr_periods", 0),
                                     "throttledPeriods": st.get("nr_throttled", 0),
                                     "throttledTime": st.get("throttled_time", 0)}
    mem = paths.get("memory")
    if mem:
        def entry(prefix: str) -> dict:
            return {"limit": _int(os.path.join(mem, prefix + "limit_in_bytes")),
                    "usage": _int(os.path.join(mem, prefix + "usage_in_bytes")),
                    "max": _int(os.path.join(mem, prefix + "max_usage_in_bytes")),
                    "failcnt": _int(os.path.join(mem, prefix + "failcnt"))}
        raw = _kv(os.path.join(mem, "memory.stat"))
        data["memory"] = {"cache": raw.get("total_cache", raw.get("cache", 0)),
                          "usage": entry("memory."), "swap": entry("memory.memsw."),
                          "kernel": entry("memory.kmem."), "kernelTCP": entry("memory.kmem.tcp."),
                          "raw": raw}
    pids = paths.get("pids")
    if pids:
        data["pids"] = {"current": _int(os.path.join(pids, "pids.current")),
                        "limit": _int(os.path.join(pids, "pids.max"))}
    return data
