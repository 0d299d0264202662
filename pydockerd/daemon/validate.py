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
