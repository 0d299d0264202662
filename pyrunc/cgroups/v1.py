"""cgroup v1: one directory per mounted controller (plus the unified dir on hybrid hosts)."""
from __future__ import annotations

import os
import time

from ..errors import RuncError
from . import device_rule_text, make_dirs, read_file, read_pids, rmdir_tree, write_file

MOUNTINFO = "/proc/self/mountinfo"


_MOUNTS: dict[str, tuple[str, str]] | None = None


def mounts(mountinfo: str = MOUNTINFO) -> dict[str, tuple[str, str]]:
    """controller -> (mount point, root inside the hierarchy) for every v1 hierarchy. This process's
    own table is read once: create reads it, and the init it forks (the same mounts until it mounts the
    container's cgroups) reuses it; with many containers running, each read formats all their mounts."""
    global _MOUNTS
    if mountinfo == MOUNTINFO and _MOUNTS is not None:
        return _MOUNTS
    out: dict[str, tuple[str, str]] = {}
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(rfields) < 3:
                continue
            if rfields[0] == "cgroup":
                for opt in rfields[2].split(","):
                    if opt in ("rw", "ro") or opt.startswith("release_agent") or \
                            opt in ("noprefix", "clone_children", "xattr", "nsdelegate"):
                        continue
                    out.setdefault(opt, (fields[4], fields[3]))
            elif rfields[0] == "cgroup2":
                out.setdefault("unified", (fields[4], fields[3]))
    if mountinfo == MOUNTINFO:
        _MOUNTS = out
    return out


def own_cgroups(pid: str = "self") -> dict[str, str]:
    """controller -> this process's cgroup path (from /proc/<pid>/cgroup)."""
    out: dict[str, str] = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _hid, ctls, path = line.rstrip("\n").split(":", 2)
            if not ctls:
                out["unified"] = path
            for c in ctls.split(","):
                out[c] = path
    return out


class V1Manager:
    def __init__(self, paths: dict[str, str], created: list[str]) -> None:
        self.paths = paths
        self.created = created

    @classmethod
    def for_path(cls, path: str) -> "V1Manager":
        paths: dict[str, str] = {}
        own = None
        for ctl, (mnt, root) in mounts().items():
            if ctl == "unified" and not os.path.isdir(mnt):
                continue
            if os.path.isabs(path):
                inner = path
            else:
                if own is None:
                    own = own_cgroups()
                base = own.get(ctl, "/")
                if root != "/" and base.startswith(root):
                    base = base[len(root):] or "/"
                inner = os.path.join(base, path)
            paths[ctl] = os.path.normpath(mnt + "/" + inner)
        return cls(paths, [])

    # -- lifecycle ---------------------------------------------------------------------------
    def _mkdirs(self, ctl: str, path: str) -> None:
        make_dirs(path, self.created)
        if ctl == "cpuset":
            self._fill_cpuset(path)

    @staticmethod
    def _fill_cpuset(path: str) -> None:
        """An empty cpuset refuses tasks (ENOSPC): give every level from the hierarchy's root
        down to ``path`` its parent's cpus/mems when it has none (pre-existing parents too)."""
        chain = []
        p = path
        while os.path.exists(os.path.join(os.path.dirname(p), "cpuset.cpus")):
            chain.append(p)
            p = os.path.dirname(p)
        for d in reversed(chain):
            parent = os.path.dirname(d)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not read_file(d, name).strip():
                    write_file(d, name, read_file(parent, name).strip())

    def create(self) -> None:
        """Create every controller's dir (and missing parents)."""
        for ctl, path in self.paths.items():
            try:
                self._mkdirs(ctl, path)
            except OSError as e:
                raise RuncError(f"mkdir {path}: {e.strerror.lower()}") from None

    def apply(self, pid: int) -> None:
        """Create every controller's dir and move ``pid`` in."""
        self.create()
        self.add(pid)

    def add(self, pid: int, sub: str | None = None, only: list | None = None) -> None:
        for ctl, path in self.paths.items():
            if only is not None and ctl not in only:
                continue
            target = os.path.join(path, sub) if sub else path
            write_file(target, "cgroup.procs", pid)

    def self_join_files(self) -> list[str]:
        """The files a single-threaded process writes "0" to, to move itself in.

        Writing "0" (the writer's own thread) to a v1 ``tasks`` file migrates one thread
        without the global threadgroup rwsem, whose write side waits for an RCU grace
        period (~10 ms) each time it is taken after a quiet spell; a pid written to
        cgroup.procs always takes it. For a single-threaded process moving its only thread
        is moving the process. The v2 (unified) dir of a hybrid host refuses thread moves
        across domains: it is in ``rest()``, added with cgroup.procs by the parent."""
        return sorted({os.path.join(p, "tasks") for ctl, p in self.paths.items()
                       if ctl != "unified"})

    def rest(self) -> list[str]:
        return [ctl for ctl in self.paths if ctl == "unified"]

    def set(self, res: dict, devices: list | None = None) -> None:
        p = self.paths
        if res.get("unified"):
            raise RuncError("invalid configuration: linux.resources.unified needs cgroup v2")
        mem = res.get("memory") or {}
        if "memory" in p and mem:
            self._set_memory(p["memory"], mem)
        cpu = res.get("cpu") or {}
        if "cpu" in p:
            if cpu.get("shares"):
                write_file(p["cpu"], "cpu.shares", cpu["shares"])
            period, quota = cpu.get("period") or 0, cpu.get("quota") or 0
            retry_period = False
            if period:
                try:
                    write_file(p["cpu"], "cpu.cfs_period_us", period)
                except RuncError as e:
                    # a smaller period can exceed the parent's quota with the old quota
                    # (EINVAL): when a quota comes too, retry the period after it, as runc
                    if not quota or "invalid argument" not in e.msg:
                        raise
                    retry_period = True
            if quota:
                write_file(p["cpu"], "cpu.cfs_quota_us", quota)
                if retry_period:
                    write_file(p["cpu"], "cpu.cfs_period_us", period)
            if cpu.get("realtimePeriod"):
                write_file(p["cpu"], "cpu.rt_period_us", cpu["realtimePeriod"])
            if cpu.get("realtimeRuntime"):
                write_file(p["cpu"], "cpu.rt_runtime_us", cpu["realtimeRuntime"])
        if "cpuset" in p:
            if cpu.get("cpus"):
                write_file(p["cpuset"], "cpuset.cpus", cpu["cpus"])
            if cpu.get("mems"):
                write_file(p["cpuset"], "cpuset.mems", cpu["mems"])
        pids = res.get("pids") or {}
        if "pids" in p and pids.get("limit") is not None and pids["limit"] != 0:
            lim = pids["limit"]
            write_file(p["pids"], "pids.max", "max" if lim < 0 else lim)
        if "devices" in p and devices is not None:
            for rule in devices:
                name = "devices.allow" if rule.get("allow") else "devices.deny"
                write_file(p["devices"], name, device_rule_text(rule))
        blk = res.get("blockIO") or {}
        if "blkio" in p and blk:
            self._set_blkio(p["blkio"], blk)
        for hp in res.get("hugepageLimits") or []:
            if "hugetlb" in p:
                write_file(p["hugetlb"], f"hugetlb.{hp['pageSize']}.limit_in_bytes", hp["limit"])
        net = res.get("network") or {}
        if net.get("classID") and "net_cls" in p:
            write_file(p["net_cls"], "net_cls.classid", net["classID"])
        for prio in net.get("priorities") or []:
            if "net_prio" in p:
                write_file(p["net_prio"], "net_prio.ifpriomap", f"{prio['name']} {prio['priority']}")

    def _set_memory(self, path: str, mem: dict) -> None:
        # runc's setMemoryAndSwap: 0 means "leave as is"; the kernel wants memsw >= limit at
        # every step, so the order of the two writes depends on the current limit
        limit, swap = mem.get("limit") or 0, mem.get("swap") or 0
        has_swap = os.path.exists(os.path.join(path, "memory.memsw.limit_in_bytes"))
        if limit == -1 and swap == 0 and has_swap:
            swap = -1  # unlimited memory with swap unspecified: unlimited swap too
        if limit != 0 and swap != 0 and has_swap:
            cur = int(read_file(path, "memory.limit_in_bytes"))
            if swap == -1 or cur < swap:
                write_file(path, "memory.memsw.limit_in_bytes", swap)
                write_file(path, "memory.limit_in_bytes", limit)
            else:
                write_file(path, "memory.limit_in_bytes", limit)
                write_file(path, "memory.memsw.limit_in_bytes", swap)
        else:
            if limit != 0:
                write_file(path, "memory.limit_in_bytes", limit)
            if swap != 0:
                write_file(path, "memory.memsw.limit_in_bytes", swap)
        if mem.get("reservation") not in (None, 0):
            write_file(path, "memory.soft_limit_in_bytes", mem["reservation"])
        if mem.get("swappiness") is not None and 0 <= mem["swappiness"] <= 100:
            write_file(path, "memory.swappiness", mem["swappiness"])
        elif mem.get("swappiness") is not None and mem["swappiness"] != -1:
            raise RuncError(f"invalid value:{mem['swappiness']}. valid memory swappiness "
                            "range is 0-100")
        if mem.get("disableOOMKiller"):
            write_file(path, "memory.oom_control", 1)

    def _set_blkio(self, path: str, blk: dict) -> None:
        if blk.get("weight"):
            name = "blkio.weight" if os.path.exists(os.path.join(path, "blkio.weight")) \
                else "blkio.bfq.weight"
            write_file(path, name, blk["weight"])
        if blk.get("leafWeight"):
            write_file(path, "blkio.leaf_weight", blk["leafWeight"])
        for wd in blk.get("weightDevice") or []:
            if wd.get("weight"):
                write_file(path, "blkio.weight_device", f"{wd['major']}:{wd['minor']} {wd['weight']}")
        for key, name in (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
                          ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
                          ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
                          ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device")):
            for td in blk.get(key) or []:
                write_file(path, name, f"{td['major']}:{td['minor']} {td['rate']}")

    # -- freezer -----------------------------------------------------------------------------
    def _freezer(self, state: str) -> None:
        fz = self.paths.get("freezer")
        if not fz:
            raise RuncError("cannot pause/resume without the freezer cgroup")
        for _ in range(2000):
            write_file(fz, "freezer.state", state)
            if read_file(fz, "freezer.state").strip() == state:
                return
            time.sleep(0.001)
        raise RuncError(f"unable to set freezer state to {state}")

    def freeze(self) -> None:
        self._freezer("FROZEN")

    def thaw(self) -> None:
        self._freezer("THAWED")

    def frozen(self) -> bool:
        fz = self.paths.get("freezer")
        try:
            return bool(fz) and read_file(fz, "freezer.state").strip() != "THAWED"
        except OSError:
            return False

    def pids(self) -> list[int]:
        for ctl in ("devices", "freezer", "pids", "memory", "cpu"):
            path = self.paths.get(ctl)
            if path and os.path.isdir(path):
                return read_pids(path)
        return []

    def exists(self) -> bool:
        return any(os.path.isdir(p) for p in self.paths.values())

    def destroy(self) -> None:
        """Remove the dirs we created (deepest first, with any sub-cgroups made inside them);
        a cgroup that existed before the container is left alone, as runc does."""
        for ctl, path in self.paths.items():
            if path in self.created:
                rmdir_tree(path)
        for d in sorted(self.created, key=len, reverse=True):
            if d not in self.paths.values():
                try:
                    os.rmdir(d)
                except OSError:
                    pass
