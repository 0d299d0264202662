"""Type and range checks of a container create body, with Docker's words, so bad input is a 400.

moby decodes the body into Go structs: a value of the wrong JSON type fails with encoding/json's
message ("json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Image of type
string"); the ranges are verifyPlatformContainerSettings' and the restart policy checks'."""
from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidParameter

_S, _B, _I, _SL, _OBJ, _STRSLICE, _MAPSS, _OBJL = ("string", "bool", "int64", "[]string", "object",
                                                   "strslice", "map[string]string", "[]object")
CONFIG = {
    **{k: _S for k in ("Hostname", "Domainname", "User", "Image", "WorkingDir", "StopSignal", "MacAddress")},
    **{k: _B for k in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce",
                       "NetworkDisabled", "ArgsEscaped")},
    **{k: _SL for k in ("Env", "OnBuild", "Shell")},
    "Cmd": _STRSLICE, "Entrypoint": _STRSLICE, "Labels": _MAPSS, "ExposedPorts": _OBJ, "Volumes": _OBJ,
    "StopTimeout": _I, "Healthcheck": _OBJ, "HostConfig": _OBJ, "NetworkingConfig": _OBJ,
}
HOST_CONFIG = {
    **{k: _I for k in ("Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares", "CpuPeriod",
                       "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "PidsLimit", "ShmSize",
                       "BlkioWeight", "OomScoreAdj", "MemorySwappiness", "CpuCount", "CpuPercent",
                       "KernelMemory", "KernelMemoryTCP")},
    **{k: _B for k in ("Privileged", "ReadonlyRootfs", "AutoRemove", "PublishAllPorts", "Init",
                       "OomKillDisable")},
    **{k: _S for k in ("NetworkMode", "PidMode", "IpcMode", "UTSMode", "CgroupParent", "CpusetCpus",
                       "CpusetMems", "Runtime", "ContainerIDFile", "CgroupnsMode", "UsernsMode", "Cgroup",
                       "VolumeDriver", "Isolation")},
    **{k: _SL for k in ("Binds", "CapAdd", "CapDrop", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts",
                        "GroupAdd", "SecurityOpt", "VolumesFrom", "Links", "MaskedPaths", "ReadonlyPaths")},
    "RestartPolicy": _OBJ, "LogConfig": _OBJ, "PortBindings": _OBJ, "Tmpfs": _MAPSS, "Sysctls": _MAPSS,
    "StorageOpt": _MAPSS, "Mounts": _OBJL, "Ulimits": _OBJL, "Devices": _OBJL, "ConsoleSize": "[2]uint",
}
RESTART_POLICY = {"Name": _S, "MaximumRetryCount": _I}


def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _fits(kind: str, v: Any) -> bool:
    if v is None:
        return True  # JSON null leaves a Go value at its zero
    if kind == _S:
        return isinstance(v, str)
    if kind == _B:
        return isinstance(v, bool)
    if kind == _I:
        return isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < (1 << 63)
    if kind == _SL:
        return isinstance(v, list) and all(isinstance(x, str) for x in v)
    if kind == _STRSLICE:
        return isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
    if kind == _MAPSS:
        return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
    if kind == _OBJ:
        return isinstance(v, dict)
    if kind == _OBJL:
        return isinstance(v, list) and all(isinstance(x, dict) for x in v)
    if kind == "[2]uint":
        return isinstance(v, list) and len(v) <= 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                           and x >= 0 for x in v)
    return True


def _check(obj: dict[str, Any], schema: dict[str, str], where: str) -> None:
    for key, kind in schema.items():
        if key in obj and not _fits(kind, obj[key]):
            v = obj[key]
            jt = _json_type(v)
            if isinstance(v, list) and kind in (_SL, _STRSLICE):
                jt = _json_type(next(x for x in v if not isinstance(x, str)))
                kind = "string"
            raise InvalidParameter(f"json: cannot unmarshal {jt} into Go struct field {where}.{key} "
                                   f"of type {'[]string' if kind == _STRSLICE else kind}")


def create_body(body: Any) -> None:
    if not isinstance(body, dict):
        raise InvalidParameter(f"json: cannot unmarshal {_json_type(body)} into Go value of type "
                               f"container.CreateRequest")
    _check(body, CONFIG, "ContainerConfigWrapper")
    hc = body.get("HostConfig") or {}
    _check(hc, HOST_CONFIG, "ContainerConfigWrapper.HostConfig")
    _check(hc.get("RestartPolicy") or {}, RESTART_POLICY, "ContainerConfigWrapper.HostConfig.RestartPolicy")
    host_config(hc)


def update_body(body: dict[str, Any]) -> None:
    """POST /containers/{id}/update: a container.UpdateConfig (resources and the restart policy)."""
    _check(body, HOST_CONFIG, "UpdateConfig")
    _check(body.get("RestartPolicy") or {}, RESTART_POLICY, "UpdateConfig.RestartPolicy")
    host_config(body, update=True)


def host_config(hc: dict[str, Any], update: bool = False) -> None:
    """Ranges and combinations (moby's verifyPlatformContainerResources and restart policy checks)."""
    mem = hc.get("Memory") or 0
    if mem and mem < 6 * 1024 * 1024:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    swap = hc.get("MemorySwap") or 0
    if mem and swap > 0 and swap < mem:
        raise InvalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    if not mem and swap > 0 and not update:
        raise InvalidParameter("You should always set the Memory limit when using Memoryswap limit, see usage")
    res = hc.get("MemoryReservation") or 0
    if res and res < 6 * 1024 * 1024:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")
    if mem and res and mem < res:
        raise InvalidParameter("Minimum memory limit can not be less than memory reservation limit, see usage")
    period, quota = hc.get("CpuPeriod") or 0, hc.get("CpuQuota") or 0
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if 0 < quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    _cpuset(hc.get("CpusetCpus") or "", "cpus")
    _cpuset(hc.get("CpusetMems") or "", "mems")
    if (hc.get("CpuShares") or 0) < 0:
        raise InvalidParameter(f"invalid CPU shares ({hc['CpuShares']}): value must be a positive integer")
    sw = hc.get("MemorySwappiness")
    if sw is not None and sw != -1 and not 0 <= sw <= 100:
        raise InvalidParameter(f"Invalid value: {sw}, valid memory swappiness range is 0-100")
    nano = hc.get("NanoCpus") or 0
    if nano and (hc.get("CpuPeriod") or hc.get("CpuQuota")):
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    ncpu = os.cpu_count() or 1
    if nano < 0 or nano > ncpu * 1_000_000_000:
        raise InvalidParameter(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")
    bw = hc.get("BlkioWeight") or 0
    if bw and not 10 <= bw <= 1000:
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    if (hc.get("ShmSize") or 0) < 0:
        raise InvalidParameter("SHM size can not be less than 0")
    osa = hc.get("OomScoreAdj") or 0
    if not -1000 <= osa <= 1000:
        raise InvalidParameter(f"Invalid value {osa}, range for oom score adj is [-1000, 1000]")
    rp = hc.get("RestartPolicy") or {}
    name = rp.get("Name") or ""
    retries = rp.get("MaximumRetryCount") or 0
    if name not in ("", "no", "always", "on-failure", "unless-stopped"):
        raise InvalidParameter(f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
                               f"'on-failure', or 'unless-stopped'")
    if retries and name != "on-failure":
        raise InvalidParameter("invalid restart policy: maximum retry count can only be used with 'on-failure'")
    if retries < 0:
        raise InvalidParameter("invalid restart policy: maximum retry count cannot be negative")


# -- create-time checks of what the spec is built from (moby refuses these at create, not at start) ---------
BIND_MODES = frozenset({"ro", "rw", "z", "Z", "shared", "rshared", "slave", "rslave", "private", "rprivate",
                        "nocopy", "consistent", "cached", "delegated"})
JSON_FILE_OPTS = frozenset({"max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex",
                            "tag"})
LOG_DRIVERS = ("json-file", "none")
# dockerd's other built-in drivers: accepted, the output kept as json-file (create warns so)
OTHER_LOG_DRIVERS = ("local", "journald", "syslog", "gelf", "fluentd", "awslogs", "splunk", "gcplogs",
                     "logentries", "etwlogs")
LOCAL_OPTS = frozenset({"max-size", "max-file", "compress"})


def _cpu_list(value: str) -> set[int] | None:
    """A cpuset list ("0-2,4") as numbers; None when malformed."""
    out: set[int] = set()
    for part in value.split(","):
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()) or (dash and int(hi) < int(lo)):
            return None
        out.update(range(int(lo), int(hi if dash else lo) + 1))
    return out


def _online(path: str) -> tuple[str, set[int]]:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return "", set()
    return text, _cpu_list(text) or set()


def _cpuset(value: str, kind: str) -> None:
    if not value:
        return
    path = "/sys/devices/system/cpu/online" if kind == "cpus" else "/sys/devices/system/node/online"
    wanted = _cpu_list(value)
    if wanted is None:
        raise InvalidParameter(f"Invalid value {value} for cpuset {kind}: invalid format: {value}")
    text, have = _online(path)
    if kind == "mems" and not text:
        text, have = "0", {0}  # no NUMA: one node
    if have and not wanted <= have:
        what = "CPUs" if kind == "cpus" else "memory nodes"
        raise InvalidParameter(f"Requested {what} are not available - requested {value}, available: {text}")


def _mount_points(hc: dict[str, Any]) -> None:
    """Binds, Mounts and Tmpfs as moby's validateMountConfig / volume spec parsing judge them."""
    seen: set[str] = set()

    def point(dst: str) -> None:
        dst = os.path.normpath(dst)
        if dst in seen:
            raise InvalidParameter(f"Duplicate mount point: {dst}")
        seen.add(dst)

    for bind in hc.get("Binds") or []:
        parts = bind.split(":")
        if len(parts) < 2 or len(parts) > 3:
            raise InvalidParameter(f"invalid volume specification: '{bind}'")
        src, dst = parts[0], parts[1]
        kind = "bind" if src.startswith("/") else "volume"
        if not dst.startswith("/"):
            raise InvalidParameter(f"invalid volume specification: '{bind}': invalid mount config for type "
                                   f"\"{kind}\": invalid mount path: '{dst}' mount path must be absolute")
        if os.path.normpath(dst) == "/":
            raise InvalidParameter(f"invalid volume specification: '{bind}': invalid mount config for type "
                                   f"\"{kind}\": invalid specification: destination can't be '/'")
        for mode in (parts[2].split(",") if len(parts) == 3 else []):
            if mode not in BIND_MODES:
                raise InvalidParameter(f"invalid mode: {parts[2]}")
        point(dst)
    for m in hc.get("Mounts") or []:
        kind, src, dst = m.get("Type") or "", m.get("Source") or "", m.get("Target") or ""
        bad = f"invalid mount config for type \"{kind}\": "
        if kind not in ("bind", "volume", "tmpfs"):
            raise InvalidParameter(bad + "mount type unknown")
        if not dst:
            raise InvalidParameter(bad + "field Target must not be empty")
        if not dst.startswith("/"):
            raise InvalidParameter(bad + f"invalid mount path: '{dst}' mount path must be absolute")
        if os.path.normpath(dst) == "/":
            raise InvalidParameter(bad + "invalid specification: destination can't be '/'")
        if kind == "bind":
            if not src:
                raise InvalidParameter(bad + "field Source must not be empty")
            if not os.path.exists(src):
                raise InvalidParameter(bad + f"bind source path does not exist: {src}")
        if kind == "tmpfs" and src:
            raise InvalidParameter(bad + "field Source must not be specified")
        point(dst)
    for dst, opts in (hc.get("Tmpfs") or {}).items():
        if not dst.startswith("/"):
            raise InvalidParameter(f"invalid mount path: '{dst}' mount path must be absolute")
        point(dst)  # (its options are judged at start, as moby does: oci.tmpfs_options)


def log_driver_warnings(lc: dict[str, Any]) -> list[str]:
    """Refuse an unknown log driver or a json-file/local option (moby's words); a built-in driver this
    engine does not have is accepted with a warning (its output is kept as json-file)."""
    kind = lc.get("Type") or "json-file"
    if kind not in LOG_DRIVERS and kind not in OTHER_LOG_DRIVERS:
        raise InvalidParameter(f'error looking up logging plugin {kind}: plugin "{kind}" not found')
    known = {"json-file": JSON_FILE_OPTS, "local": LOCAL_OPTS}.get(kind)
    for key in lc.get("Config") or {}:
        if known is not None and key not in known:
            raise InvalidParameter(f"unknown log opt '{key}' for {kind} log driver")
    if kind in OTHER_LOG_DRIVERS:
        return [f"pydocker has no {kind} logging driver: the container's output is kept as json-file"]
    return []


def create_settings(config: dict[str, Any], hc: dict[str, Any]) -> None:
    """What moby refuses at create besides types and ranges: working dir, stop signal, mounts, security
    and log options, storage options, isolation."""
    from . import seccomp
    from .signals import parse_signal
    wd = config.get("WorkingDir") or ""
    if wd and not wd.startswith("/"):
        raise InvalidParameter(f"the working directory '{wd}' is invalid, it needs to be an absolute path")
    if config.get("StopSignal"):
        parse_signal(config["StopSignal"])
    _mount_points(hc)
    seccomp.parse_security_opts(hc.get("SecurityOpt"))
    if hc.get("StorageOpt"):
        raise InvalidParameter("--storage-opt is supported only for overlay over xfs with 'pquota' mount option")
    iso = hc.get("Isolation") or ""
    if iso.lower() not in ("", "default"):
        raise InvalidParameter(f'Invalid isolation: "{iso}" - linux only supports \'default\'')
