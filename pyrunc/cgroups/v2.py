"""cgroup v2: one unified directory; controllers enabled top-down through cgroup.subtree_control."""
from __future__ import annotations

import os
import time

from ..errors import RuncError
from . import CGROUP_ROOT, read_file, read_pids, rmdir_tree, shares_to_weight, write_file


class V2Manager:
    def __init__(self, path: str, created: list[str], mount: str = CGROUP_ROOT) -> None:
        self.path = path
        self.mount = mount
        self.created = created
        self.paths = {"unified": path}

    @classmethod
    def for_path(cls, path: str, mount: str = CGROUP_ROOT, own: str | None = None) -> "V2Manager":
        if not os.path.isabs(path):
            if own is None:
                with open("/proc/self/cgroup") as f:
                    own = next((ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::")),
                               "/")
            path = os.path.join(own, path)
        return cls(os.path.normpath(mount + "/" + path), [], mount)

    def _enable_controllers(self) -> None:
        """Enable every available controller in each ancestor's subtree_control."""
        rel = os.path.relpath(self.path, self.mount)
        cur = self.mount
        for part in [] if rel == "." else rel.split("/"):
            try:
                avail = read_file(cur, "cgroup.controllers").split()
                enabled = set(read_file(cur, "cgroup.subtree_control").split())
            except OSError:
                avail, enabled = [], set()
            want = [c for c in avail if c not in enabled]
            if want:
                try:
                    write_file(cur, "cgroup.subtree_control", " ".join("+" + c for c in want))
                except RuncError:
                    # a controller may be busy (threaded/rt tasks); enable what we can
                    for c in want:
                        try:
                            write_file(cur, "cgroup.subtree_control", "+" + c)
                        except RuncError:
                            pass
            cur = os.path.join(cur, part)
            if not os.path.isdir(cur):
                os.mkdir(cur, 0o755)
                self.created.append(cur)

    def create(self) -> None:
        try:
            self._enable_controllers()
        except OSError as e:
            raise RuncError(f"mkdir {self.path}: {e.strerror.lower()}") from None

    def apply(self, pid: int) -> None:
        self.create()
        self.add(pid)

    def add(self, pid: int, sub: str | None = None, only: list | None = None) -> None:
        if only is not None and "unified" not in only:
            return
        write_file(os.path.join(self.path, sub) if sub else self.path, "cgroup.procs", pid)

    def self_join_files(self) -> list[str]:
        return []  # v2 moves whole processes only (cgroup.procs): see V1Manager

    def rest(self) -> list[str]:
        return ["unified"]

    def set(self, res: dict, devices: list | None = None) -> None:
        p = self.path
        if devices is not None:
            self.set_devices(devices)
        mem = res.get("memory") or {}
        limit, swap = mem.get("limit"), mem.get("swap")
        if limit not in (None, 0):
            write_file(p, "memory.max", "max" if limit == -1 else limit)
        if swap not in (None, 0):
            # v1 semantics (memory+swap) to v2 (swap only), like runc's ConvertMemorySwapToCgroupV2Value
            if swap == -1:
                val = "max"
            elif limit in (None, 0, -1):
                raise RuncError("unable to set swap limit without memory limit")
            elif swap < limit:
                raise RuncError(f"memory+swap limit ({swap}) should be greater than memory "
                                f"limit ({limit})")
            else:
                val = swap - limit
            write_file(p, "memory.swap.max", val)
        if mem.get("reservation") not in (None, 0):
            write_file(p, "memory.low", mem["reservation"])
        cpu = res.get("cpu") or {}
        if cpu.get("shares"):
            write_file(p, "cpu.weight", shares_to_weight(int(cpu["shares"])))
        quota, period = cpu.get("quota"), cpu.get("period")
        if quota not in (None, 0) or period:
            q = "max" if quota in (None, 0, -1) else str(quota)
            write_file(p, "cpu.max", f"{q} {period or 100000}")
        if cpu.get("cpus"):
            write_file(p, "cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            write_file(p, "cpuset.mems", cpu["mems"])
        pids = res.get("pids") or {}
        if pids.get("limit") not in (None, 0):
            write_file(p, "pids.max", "max" if pids["limit"] < 0 else pids["limit"])
        blk = res.get("blockIO") or {}
        if blk.get("weight"):
            # blkio.weight 10..1000 to io.weight 1..10000
            write_file(p, "io.weight", 1 + (int(blk["weight"]) - 10) * 9999 // 990)
        for key, name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                          ("throttleReadIOPSDevice", "riops"),
                          ("throttleWriteIOPSDevice", "wiops")):
            for td in blk.get(key) or []:
                write_file(p, "io.max", f"{td['major']}:{td['minor']} {name}={td['rate']}")
        for hp in res.get("hugepageLimits") or []:
            write_file(p, f"hugetlb.{hp['pageSize']}.max", hp["limit"])
        for key, val in (res.get("unified") or {}).items():
            if "/" in key or key.startswith("."):
                raise RuncError(f"unified resource {key!r} must be a file name (no paths)")
            write_file(p, key, val)

    def set_devices(self, rules: list) -> None:
        """v2 has no devices.allow/deny files: attach an eBPF filter compiled from the rules."""
        from . import devicefilter
        try:
            devicefilter.apply(self.path, rules)
        except devicefilter.DeviceRuleError as e:
            raise RuncError(f"invalid device rule: {e}") from None
        except OSError as e:
            raise RuncError(f"failed to apply the device filter to {self.path}: "
                            f"{e.strerror or e}") from None

    def _freeze(self, val: str) -> None:
        write_file(self.path, "cgroup.freeze", val)
        for _ in range(2000):
            try:
                events = read_file(self.path, "cgroup.events")
            except OSError:
                return
            if f"frozen {val}" in events:
                return
            time.sleep(0.001)
        raise RuncError("unable to freeze/thaw the cgroup")

    def freeze(self) -> None:
        self._freeze("1")

    def thaw(self) -> None:
        self._freeze("0")

    def frozen(self) -> bool:
        try:
            return read_file(self.path, "cgroup.freeze").strip() == "1"
        except OSError:
            return False

    def pids(self) -> list[int]:
        return read_pids(self.path)

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def destroy(self) -> None:
        """Remove what we created; a pre-existing cgroup is left alone."""
        if self.path in self.created:
            rmdir_tree(self.path)
        for d in sorted(self.created, key=len, reverse=True):
            if d != self.path:
                try:
                    os.rmdir(d)
                except OSError:
                    pass
