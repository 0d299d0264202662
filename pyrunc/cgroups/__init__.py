"""Cgroup managers: v1 (one dir per controller) and v2 (one unified dir) behind one interface.

Manager API: ``paths`` (controller -> dir), ``create()``, ``apply(pid)`` (create + add),
``set(resources)``, ``add(pid)``,
``freeze()``, ``thaw()``, ``frozen()``, ``pids()``, ``destroy()``.
"""
from __future__ import annotations

import os

from ..errors import RuncError

CGROUP_ROOT = "/sys/fs/cgroup"


def is_v2_host(root: str = CGROUP_ROOT) -> bool:
    return os.path.exists(os.path.join(root, "cgroup.controllers"))


def resolve_path(cgroups_path: str | None, cid: str, systemd: bool) -> str:
    """The container's cgroup path as given to the manager (absolute or relative).

    With ``--systemd-cgroup`` a ``slice:prefix:name`` path is mapped onto the cgroupfs layout
    systemd would create (``/system.slice/prefix-name.scope``); no D-Bus here.
    """
    if systemd:
        p = cgroups_path or f"system.slice:runc:{cid}"
        parts = p.split(":")
        if len(parts) != 3:
            raise RuncError(f"expected cgroupsPath to be of format \"slice:prefix:name\" for "
                            f"systemd cgroups, got {p!r} instead")
        slice_, prefix, name = parts
        slice_ = slice_ or "system.slice"
        # nested slices: a-b.slice lives in a.slice/a-b.slice
        chain, acc = [], ""
        for piece in slice_[:-len(".slice")].split("-") if slice_.endswith(".slice") else [slice_]:
            acc = f"{acc}-{piece}" if acc else piece
            chain.append(acc + ".slice")
        if slice_ == "-.slice":
            chain = []
        unit = name if name.endswith(".slice") else f"{prefix}-{name}.scope" if prefix else \
            f"{name}.scope"
        return "/" + "/".join(chain + [unit])
    return cgroups_path if cgroups_path else cid


def new_manager(cgroups_path: str | None, cid: str, systemd: bool = False):
    path = resolve_path(cgroups_path, cid, systemd)
    if is_v2_host():
        from .v2 import V2Manager
        return V2Manager.for_path(path)
    from .v1 import V1Manager
    return V1Manager.for_path(path)


def from_state(paths: dict, created: list | None = None):
    if not paths:
        return None
    if "unified" in paths and len(paths) == 1 and is_v2_host():
        from .v2 import V2Manager
        return V2Manager(paths["unified"], created or [])
    from .v1 import V1Manager
    return V1Manager(paths, created or [])


def is_frozen(paths: dict) -> bool:
    fz = paths.get("freezer")
    if fz:
        try:
            with open(os.path.join(fz, "freezer.state")) as f:
                return f.read().strip() in ("FROZEN", "FREEZING")
        except OSError:
            return False
    uni = paths.get("unified")
    if uni and len(paths) == 1:
        try:
            with open(os.path.join(uni, "cgroup.freeze")) as f:
                return f.read().strip() == "1"
        except OSError:
            return False
    return False


def write_file(dirpath: str, name: str, value) -> None:
    path = os.path.join(dirpath, name)
    data = str(value)
    try:
        with open(path, "w") as f:
            f.write(data)
    except OSError as e:
        from ..errors import oserror_text
        raise RuncError(f"failed to write {data!r}: write {path}: {oserror_text(e)}") from None


def read_file(dirpath: str, name: str) -> str:
    with open(os.path.join(dirpath, name)) as f:
        return f.read()


def read_pids(path: str) -> list[int]:
    """All pids in a cgroup dir and its descendants."""
    pids: list[int] = []
    for dirpath, _dirs, files in os.walk(path):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    return pids


def make_dirs(path: str, created: list[str]) -> None:
    """mkdir -p ``path``, appending each dir made to ``created`` (what destroy removes: a
    pre-existing cgroup is left alone). OSError as os.mkdir raises it."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
        except FileExistsError:
            continue
        created.append(d)


def rmdir_tree(path: str) -> None:
    """Remove a cgroup dir and its children, retrying EBUSY while exiting tasks leave."""
    import time
    try:
        os.rmdir(path)  # the usual case: no sub-cgroups, no tasks left
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    if not os.path.isdir(path):
        return
    for dirpath, dirs, _files in os.walk(path, topdown=False):
        for attempt in range(50):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != 16 or attempt == 49:  # EBUSY
                    raise RuncError(f"unable to remove cgroup {dirpath}: {e.strerror}") from None
                time.sleep(0.01 * (1 + attempt // 10))


def device_rules(resources: dict, spec_devices: list) -> list[dict]:
    """The device rules runc applies: the spec's list, then its always-allowed devices
    (mknod of anything, console, pts, ptmx, tun and the default null/zero/full/tty/random).
    Devices in linux.devices are created but only usable if a rule allows them."""
    rules = list(resources.get("devices") or [])
    for t, ma, mi, acc in (("c", None, None, "m"), ("b", None, None, "m"), ("c", 5, 1, "rwm"),
                           ("c", 136, None, "rwm"), ("c", 5, 2, "rwm"), ("c", 10, 200, "rwm"),
                           ("c", 1, 3, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 7, "rwm"),
                           ("c", 5, 0, "rwm"), ("c", 1, 9, "rwm"), ("c", 1, 8, "rwm")):
        rules.append({"allow": True, "type": t, "major": ma, "minor": mi, "access": acc})
    return rules


def device_rule_text(rule: dict) -> str:
    t = rule.get("type") or "a"
    if t == "a":
        return "a *:* rwm" if not rule.get("access") else f"a *:* {rule['access']}"
    ma = rule.get("major")
    mi = rule.get("minor")
    ma = "*" if ma is None or ma == -1 else str(ma)
    mi = "*" if mi is None or mi == -1 else str(mi)
    return f"{t} {ma}:{mi} {rule.get('access') or 'rwm'}"


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) to cgroup v2 cpu.weight (1..10000), as runc converts it."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142
