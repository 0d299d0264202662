"""OCI runtime spec generation with Docker's defaults (moby's `oci/defaults.go` + `daemon/oci_linux.go`)."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter, SystemError_
from . import seccomp as _seccomp
from .users import ResolvedUser

OCI_VERSION = "1.0.2-dev"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
_RLIMITS = {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
            "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as"}


DEFAULT_SHM_SIZE = 64 * 1024 * 1024


def swap_accounting() -> bool:
    """Whether the kernel limits swap per cgroup (moby's SwapLimit): else no swap limit is set."""
    if os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        return True  # cgroup v1 with swap accounting
    try:  # cgroup v2: the file exists in non-root groups when the kernel accounts swap
        with open("/proc/self/cgroup") as f:
            own = next((line.split("::", 1)[1].strip() for line in f if line.startswith("0::")), "")
    except OSError:
        return False
    return bool(own) and own != "/" and os.path.exists(f"/sys/fs/cgroup{own}/memory.swap.max")


def fill_defaults(hc: dict[str, Any], cgroup_v2: bool) -> None:
    """What moby writes into a new container's HostConfig (adaptContainerSettings and the daemon's
    defaults), so that inspect shows what the container gets: the shm size, IPC and cgroup namespace
    modes, swap at twice a memory limit, the masked and read-only /proc paths."""
    if not hc.get("ShmSize"):
        hc["ShmSize"] = DEFAULT_SHM_SIZE
    hc["IpcMode"] = hc.get("IpcMode") or "private"
    hc["CgroupnsMode"] = hc.get("CgroupnsMode") or ("private" if cgroup_v2 else "host")
    if (hc.get("Memory") or 0) > 0 and not hc.get("MemorySwap") and swap_accounting():
        hc["MemorySwap"] = hc["Memory"] * 2
    if not hc.get("Privileged"):
        if hc.get("MaskedPaths") is None:
            hc["MaskedPaths"] = list(MASKED_PATHS)
        if hc.get("ReadonlyPaths") is None:
            hc["ReadonlyPaths"] = list(READONLY_PATHS)


def default_mounts(shm_size: int = 0) -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size or DEFAULT_SHM_SIZE}"]},
    ]


def default_device_rules() -> list[dict[str, Any]]:
    def allow(kind: str, major: int | None, minor: int | None, access: str) -> dict[str, Any]:
        rule: dict[str, Any] = {"allow": True, "type": kind, "access": access}
        if major is not None:
            rule["major"] = major
        if minor is not None:
            rule["minor"] = minor
        return rule

    return [
        {"allow": False, "access": "rwm"},
        allow("c", None, None, "m"), allow("b", None, None, "m"),
        allow("c", 1, 3, "rwm"), allow("c", 1, 8, "rwm"), allow("c", 1, 7, "rwm"),
        allow("c", 5, 0, "rwm"), allow("c", 1, 5, "rwm"), allow("c", 1, 9, "rwm"),
        allow("c", 136, None, "rwm"), allow("c", 5, 2, "rwm"), allow("c", 10, 200, "rwm"),
    ]


def cgroup_v2_unified() -> bool:
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def replace_or_append_env(base: list[str], overrides: list[str]) -> list[str]:
    """moby's ReplaceOrAppendEnvValues: later values replace earlier ones in place; a bare KEY (the
    CLI sends `-e KEY` so when KEY is not set on its side) unsets it."""
    out = list(base)
    index = {e.split("=", 1)[0]: i for i, e in enumerate(out)}
    for e in overrides:
        key = e.split("=", 1)[0]
        if key in index:
            out[index[key]] = e
        else:
            index[key] = len(out)
            out.append(e)
    return [e for e in out if "=" in e]


def process_env(config: dict[str, Any]) -> list[str]:
    env = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={config.get('Hostname', '')}"]
    if config.get("Tty"):
        env.append("TERM=xterm")
    return replace_or_append_env(env, config.get("Env") or [])


def capabilities(host_config: dict[str, Any]) -> list[str]:
    if host_config.get("Privileged"):
        return list(ALL_CAPS)

    def norm(c: str) -> str:
        c = c.upper()
        return c if c == "ALL" or c.startswith("CAP_") else "CAP_" + c

    add = [norm(c) for c in host_config.get("CapAdd") or []]
    drop = [norm(c) for c in host_config.get("CapDrop") or []]
    for c in add + drop:
        if c != "ALL" and c not in ALL_CAPS:
            raise InvalidParameter(f"unknown capability: \"{c}\"")
    caps = list(ALL_CAPS) if "ALL" in add else list(DEFAULT_CAPS)
    for c in add:
        if c != "ALL" and c not in caps:
            caps.append(c)
    if "ALL" in drop:
        caps = [c for c in add if c != "ALL"]
    else:
        caps = [c for c in caps if c not in drop]
    return caps


def _device_node(host: str, ctr: str, perms: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    st = os.stat(host)
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        return None
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return ({"path": ctr, "type": kind, "major": major, "minor": minor, "fileMode": stat.S_IMODE(st.st_mode),
             "uid": st.st_uid, "gid": st.st_gid},
            {"allow": True, "type": kind, "major": major, "minor": minor, "access": perms})


def devices(hc: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """HostConfig.Devices (`--device /dev/x[:/dev/y[:rwm]]`, or a directory of them) as the spec's
    linux.devices and the cgroup rules that allow them."""
    nodes, rules = [], []
    for d in hc.get("Devices") or []:
        host = d.get("PathOnHost") or ""
        ctr, perms = d.get("PathInContainer") or host, d.get("CgroupPermissions") or "rwm"
        try:
            if os.path.isdir(host):
                for dirpath, _, files in os.walk(host):
                    for name in sorted(files):
                        path = os.path.join(dirpath, name)
                        found = _device_node(path, os.path.join(ctr, os.path.relpath(path, host)), perms)
                        if found:
                            nodes.append(found[0])
                            rules.append(found[1])
                continue
            found = _device_node(host, ctr, perms)
        except OSError as exc:
            raise SystemError_(f'error gathering device information while adding custom device "{host}": '
                               f"{os.strerror(exc.errno or 0).lower()}") from None
        if found is None:
            raise SystemError_(f'error gathering device information while adding custom device "{host}": '
                               "not a device node")
        nodes.append(found[0])
        rules.append(found[1])
    return nodes, rules


def update_resources(hc: dict[str, Any]) -> dict[str, Any]:
    """The LinuxResources of a `docker update` (no device rules: those do not change)."""
    res = _resources(hc)
    res.pop("devices", None)
    if (hc.get("PidsLimit") or 0) < 0:
        res["pids"] = {"limit": -1}  # `--pids-limit -1`: lift the limit ("max"), not leave the old one
    return res


def _resources(hc: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {"devices": default_device_rules()}
    if hc.get("Privileged"):
        res["devices"] = [{"allow": True, "access": "rwm"}]
    mem: dict[str, Any] = {}
    if hc.get("Memory"):
        mem["limit"] = int(hc["Memory"])
    if hc.get("MemoryReservation"):
        mem["reservation"] = int(hc["MemoryReservation"])
    if hc.get("MemorySwap"):
        mem["swap"] = int(hc["MemorySwap"])
    if hc.get("MemorySwappiness") not in (None, -1):
        mem["swappiness"] = int(hc["MemorySwappiness"])
    if hc.get("OomKillDisable"):
        mem["disableOOMKiller"] = True
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    if hc.get("CpuShares"):
        cpu["shares"] = int(hc["CpuShares"])
    if hc.get("NanoCpus"):
        cpu["period"] = 100000
        cpu["quota"] = int(hc["NanoCpus"]) * 100000 // 1_000_000_000
    if hc.get("CpuPeriod"):
        cpu["period"] = int(hc["CpuPeriod"])
    if hc.get("CpuQuota"):
        cpu["quota"] = int(hc["CpuQuota"])
    if hc.get("CpusetCpus"):
        cpu["cpus"] = hc["CpusetCpus"]
    if hc.get("CpusetMems"):
        cpu["mems"] = hc["CpusetMems"]
    if cpu:
        res["cpu"] = cpu
    if hc.get("PidsLimit") and int(hc["PidsLimit"]) > 0:
        res["pids"] = {"limit": int(hc["PidsLimit"])}
    if hc.get("BlkioWeight"):
        res["blockIO"] = {"weight": int(hc["BlkioWeight"])}
    return res


TMPFS_FLAGS = frozenset({"rw", "ro", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync", "async",
                         "dirsync", "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime",
                         "strictatime", "nostrictatime", "mand", "nomand", "tmpcopyup", "notmpcopyup"})
TMPFS_KEYS = frozenset({"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})


def tmpfs_options(opts: str) -> list[str]:
    """`--tmpfs /dst:opts`: mount flags and tmpfs' own key=value options, nothing else (moby's words)."""
    options = [o for o in opts.split(",") if o]
    bad = [o for o in options if o not in TMPFS_FLAGS and o.partition("=")[0] not in TMPFS_KEYS]
    if bad:
        raise InvalidParameter("invalid tmpfs option [" + " ".join(f'"{o}"' for o in bad) + "]")
    return options


def _user_mounts(hc: dict[str, Any]) -> list[dict[str, Any]]:
    """Binds (`/host:/ctr[:ro]`), HostConfig.Mounts (bind, tmpfs) and HostConfig.Tmpfs."""
    out: list[dict[str, Any]] = []
    for bind in hc.get("Binds") or []:
        parts = bind.split(":")
        if len(parts) < 2 or len(parts) > 3:
            raise InvalidParameter(f"invalid volume specification: '{bind}'")
        src, dst = parts[0], parts[1]
        mode = parts[2].split(",") if len(parts) == 3 else []
        if not os.path.isabs(dst):
            raise InvalidParameter(f"invalid volume specification: '{bind}': invalid mount config for "
                                   f"type \"bind\": invalid mount path: '{dst}' mount path must be absolute")
        if not os.path.isabs(src):
            continue  # a named volume: resolved by the daemon into SpecOptions.extra_mounts
        if not os.path.exists(src):
            os.makedirs(src, exist_ok=True)  # Docker creates a missing bind source for -v
        opts = ["rbind", "rprivate", "ro" if "ro" in mode else "rw"]
        out.append({"destination": dst, "type": "bind", "source": src, "options": opts})
    for m in hc.get("Mounts") or []:
        kind, src, dst = m.get("Type"), m.get("Source", ""), m.get("Target", "")
        if not dst or not os.path.isabs(dst):
            raise InvalidParameter(f"invalid mount config for type \"{kind}\": invalid mount path: "
                                   f"'{dst}' mount path must be absolute")
        if kind == "bind":
            if not os.path.exists(src):
                raise InvalidParameter(f"invalid mount config for type \"bind\": bind source path does "
                                       f"not exist: {src}")
            opts = ["rbind", "rprivate", "ro" if m.get("ReadOnly") else "rw"]
            out.append({"destination": dst, "type": "bind", "source": src, "options": opts})
        elif kind == "volume":
            continue  # resolved by the daemon into SpecOptions.extra_mounts
        elif kind == "tmpfs":
            opts = ["nosuid", "nodev", "noexec"]
            t = m.get("TmpfsOptions") or {}
            if t.get("SizeBytes"):
                opts.append(f"size={int(t['SizeBytes'])}")
            if t.get("Mode"):
                opts.append(f"mode={int(t['Mode']):o}")
            if m.get("ReadOnly"):
                opts.append("ro")
            out.append({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": opts})
        else:
            raise InvalidParameter(f"mount type \"{kind}\" is not supported")
    for dst, opts in (hc.get("Tmpfs") or {}).items():
        options = ["nosuid", "nodev", "noexec"] + tmpfs_options(opts or "")
        out.append({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": options})
    return out


@dataclass
class SpecPaths:
    hostname: str
    hosts: str
    resolv_conf: str


@dataclass
class SpecOptions:
    cgroup_parent: str = "/pydocker"
    user: ResolvedUser = field(default_factory=ResolvedUser)
    cgroup_v2: bool = False
    netns_path: str = ""
    extra_mounts: list[dict[str, Any]] = field(default_factory=list)  # resolved volumes
    ns_paths: dict[str, str] = field(default_factory=dict)  # "pid"/"ipc" → another container's namespace


def build_spec(cid: str, config: dict[str, Any], host_config: dict[str, Any], args: list[str],
               paths: SpecPaths, opts: SpecOptions) -> dict[str, Any]:
    """The config.json Docker would produce for this container."""
    hc = host_config
    privileged = bool(hc.get("Privileged"))
    caps = capabilities(hc)
    security = _seccomp.parse_security_opts(hc.get("SecurityOpt"))
    process: dict[str, Any] = {
        "terminal": bool(config.get("Tty")),
        "user": {"uid": opts.user.uid, "gid": opts.user.gid},
        "args": args,
        "env": process_env(config),
        "cwd": config.get("WorkingDir") or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": security["no_new_privileges"],
    }
    if opts.user.additional_gids:
        process["user"]["additionalGids"] = list(opts.user.additional_gids)
    if config.get("Tty") and hc.get("ConsoleSize") and any(hc["ConsoleSize"]):
        h, w = hc["ConsoleSize"][0], hc["ConsoleSize"][1]
        process["consoleSize"] = {"height": int(h), "width": int(w)}
    if hc.get("OomScoreAdj"):
        process["oomScoreAdj"] = int(hc["OomScoreAdj"])
    rlimits = []
    for u in hc.get("Ulimits") or []:
        name = str(u.get("Name", "")).lower()
        if name not in _RLIMITS:
            raise InvalidParameter(f"invalid ulimit type: {name}")
        rlimits.append({"type": "RLIMIT_" + name.upper(), "hard": int(u.get("Hard", 0)),
                        "soft": int(u.get("Soft", 0))})
    if rlimits:
        process["rlimits"] = rlimits

    if hc.get("ShmSize") is not None and int(hc["ShmSize"]) < 0:
        raise InvalidParameter("SHM size can not be less than 0")
    mounts = default_mounts(int(hc.get("ShmSize") or 0))
    if privileged:
        for m in mounts:
            if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"] + ["rw"]
    user_mounts = _user_mounts(hc) + list(opts.extra_mounts)
    taken = {m["destination"] for m in user_mounts}
    mounts = [m for m in mounts if m["destination"] not in taken]
    ro = ["ro"] if hc.get("ReadonlyRootfs") else []
    for dst, src in (("/etc/resolv.conf", paths.resolv_conf), ("/etc/hostname", paths.hostname),
                     ("/etc/hosts", paths.hosts)):
        if dst not in taken:
            mounts.append({"destination": dst, "type": "bind", "source": src,
                           "options": ["rbind", "rprivate"] + ro})
    mounts.extend(user_mounts)

    namespaces = [{"type": "mount"}]
    net_mode = hc.get("NetworkMode") or "default"
    if net_mode != "host":
        namespaces.append({"type": "network", "path": opts.netns_path} if opts.netns_path else {"type": "network"})
    if (hc.get("UTSMode") or "") != "host":
        namespaces.append({"type": "uts"})
    for kind, key, default in (("pid", "PidMode", ""), ("ipc", "IpcMode", "private")):
        if opts.ns_paths.get(kind):  # container:<other>: its namespace
            namespaces.append({"type": kind, "path": opts.ns_paths[kind]})
        elif (hc.get(key) or default) != "host":
            namespaces.append({"type": kind})
    cgroupns = hc.get("CgroupnsMode") or ("private" if opts.cgroup_v2 else "host")
    if cgroupns == "private":
        namespaces.append({"type": "cgroup"})

    parent = hc.get("CgroupParent") or opts.cgroup_parent
    linux: dict[str, Any] = {
        "resources": _resources(hc),
        "cgroupsPath": f"{parent.rstrip('/')}/{cid}" if parent.startswith("/") else f"/{parent.strip('/')}/{cid}",
        "namespaces": namespaces,
    }
    nodes, rules = devices(hc)
    if nodes:
        linux["devices"] = nodes
        if not privileged:
            linux["resources"]["devices"] += rules
    if hc.get("Sysctls"):
        linux["sysctl"] = dict(hc["Sysctls"])
    profile = _seccomp.spec_seccomp(security, caps, privileged)
    if profile is not None:
        linux["seccomp"] = profile
    if not privileged:
        # HostConfig.MaskedPaths/ReadonlyPaths replace the defaults when set (`--security-opt
        # systempaths=unconfined` makes the CLI send them empty)
        masked, ro_paths = hc.get("MaskedPaths"), hc.get("ReadonlyPaths")
        linux["maskedPaths"] = list(MASKED_PATHS) if masked is None else list(masked)
        linux["readonlyPaths"] = list(READONLY_PATHS) if ro_paths is None else list(ro_paths)

    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": "rootfs", "readonly": bool(hc.get("ReadonlyRootfs"))},
        "mounts": mounts,
        "linux": linux,
    }
    if (hc.get("UTSMode") or "") != "host":
        spec["hostname"] = config.get("Hostname") or cid[:12]
        if config.get("Domainname"):
            spec["domainname"] = config["Domainname"]
    return spec
