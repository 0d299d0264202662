"""CPU time by process kind, through cgroup v1 cpuacct groups (benchmark diagnostics only).

An engine's processes (and whatever they fork later: shims, runtimes) are moved into one cpuacct group
per kind for the duration of a measurement; container processes join their own cgroups, so they stay
out of it (except what a runtime's init does before it joins). The docker CLI's CPU is the benchmark's
reaped children's (RUSAGE_CHILDREN); the whole machine's busy time (/proc/stat) catches what no group
does (kernel threads tearing down namespaces, other processes). A shim that its containerd forks is
counted with that containerd: for Docker, containerd's column holds its shims and runc too. On a host without a v1 cpuacct hierarchy nothing is measured.
"""
from __future__ import annotations

import os
import resource
import uuid
from pathlib import Path

from benchmarks.peers import Daemon, all_procs, descendants

ROOT = Path("/sys/fs/cgroup/cpuacct")
MACHINE = "whole machine (incl. kernel threads)"


def kind_of(cmd: str) -> str:
    """The column a process of either engine is counted in."""
    exe = (cmd.split() or [""])[0]
    if "pydockerd" in cmd or "dockerd" in exe:
        return "engine (pydockerd / dockerd)"
    if "pycontainerd.zygote" in cmd or "pycontainerd.shim" in cmd or "containerd-shim" in cmd \
            or " serve --once" in cmd:
        return "shims (+ runtime create, init set-up)"
    if "pyrunc" in cmd and " serve --fd" in cmd:  # (a `serve --once` standby belongs to its spare shim)
        return "runtime server (pyrunc serve)"
    if "pycontainerd" in cmd or "containerd" in exe:
        return "containerd (pycontainerd / containerd)"
    return "other"


class CpuGroups:
    """Per-kind CPU of one engine: `snapshot()` returns ms by kind (plus "docker CLI") so far."""

    def __init__(self, d: Daemon) -> None:
        self.groups: dict[str, Path] = {}
        self.usable = (ROOT / "cpuacct.usage").exists()
        if not self.usable:
            return
        procs = all_procs()
        tag = uuid.uuid4().hex[:6]
        for pid in sorted(descendants(set(d.daemon_pids()), procs)):
            kind = kind_of(procs[pid][1])
            g = self.groups.get(kind)
            if g is None:
                g = ROOT / f"bench-{tag}-{len(self.groups)}"
                g.mkdir()
                self.groups[kind] = g
            try:
                (g / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass  # exited meanwhile

    def snapshot(self) -> dict[str, float]:
        out = {k: int((g / "cpuacct.usage").read_text()) / 1e6 for k, g in self.groups.items()}
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["docker CLI"] = (ru.ru_utime + ru.ru_stime) * 1000
        out[MACHINE] = machine_busy_ms()
        return out

    def close(self) -> None:
        """Move everything back to the root group and remove ours."""
        for g in self.groups.values():
            for pid in (g / "cgroup.procs").read_text().split():
                try:
                    (ROOT / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
            try:
                os.rmdir(g)
            except OSError:
                pass
        self.groups = {}


def machine_busy_ms() -> float:
    """CPU time the whole machine has been busy (every process and kernel thread), from /proc/stat."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq) * 1000 / os.sysconf("SC_CLK_TCK")


def per_container(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    return {k: (after[k] - before.get(k, 0.0)) / n for k in after}
