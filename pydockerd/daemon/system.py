"""`/version`, `/info` and `/system/df` contents."""
from __future__ import annotations

import asyncio
import logging
import os
import platform
import socket
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import DockerError
from ..httputils import API_VERSION, ENGINE_VERSION, MIN_API_VERSION
from .images import HOST_ARCH

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger("pydockerd.system")

GIT_COMMIT = "pydocker"
BUILD_TIME = "2026-11-28T00:00:00.000000000+00:00"


def version(containerd_version: str = "") -> dict[str, Any]:
    details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": GIT_COMMIT,
               "GoVersion": f"python{platform.python_version()}", "Os": "linux", "Arch": HOST_ARCH,
               "KernelVersion": platform.release(), "BuildTime": BUILD_TIME, "Experimental": "false"}
    components = [{"Name": "Engine", "Version": ENGINE_VERSION, "Details": details}]
    if containerd_version:
        components.append({"Name": "containerd", "Version": containerd_version,
                           "Details": {"GitCommit": ""}})
    return {"Platform": {"Name": "pydocker Engine"}, "Components": components, "Version": ENGINE_VERSION,
            "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": GIT_COMMIT,
            "GoVersion": details["GoVersion"], "Os": "linux", "Arch": HOST_ARCH,
            "KernelVersion": platform.release(), "BuildTime": BUILD_TIME}


def engine_id(data_root: str) -> str:
    """A stable engine ID kept in `<data-root>/engine-id` (as dockerd does)."""
    path = os.path.join(data_root, "engine-id")
    try:
        with open(path) as f:
            value = f.read().strip()
            if value:
                return value
    except FileNotFoundError:
        pass
    value = str(uuid.uuid4())
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(value)
    os.rename(tmp, path)
    return value


def _os_release() -> tuple[str, str]:
    name, ver = "Linux", ""
    try:
        with open("/etc/os-release") as f:
            kv = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        name = kv.get("PRETTY_NAME", name).strip('"')
        ver = kv.get("VERSION_ID", "").strip('"')
    except OSError:
        pass
    return name, ver


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


async def info(d: "Daemon", images_count: int) -> dict[str, Any]:
    os_name, os_ver = _os_release()
    cgroup_v2 = d.cgroup_v2
    counts = d.counts()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
    return {
        "ID": engine_id(d.cfg.data_root), **counts, "Images": images_count,
        "Driver": d.client.snapshotter, "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none", "null"],
                    "Authorization": None, "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
        "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True, "PidsLimit": True,
        "IPv4Forwarding": True, "Debug": d.cfg.debug, "NFd": len(os.listdir("/proc/self/fd")),
        "OomKillDisable": not cgroup_v2, "NGoroutines": 0, "SystemTime": now, "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs", "CgroupVersion": "2" if cgroup_v2 else "1", "NEventsListener": 0,
        "KernelVersion": platform.release(), "OperatingSystem": os_name, "OSVersion": os_ver,
        "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"],
                           "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True,
                                                          "Official": True}},
                           "Mirrors": []},
        "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(), "GenericResources": None,
        "DockerRootDir": d.cfg.data_root, "HttpProxy": os.environ.get("HTTP_PROXY", ""),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", ""), "NoProxy": os.environ.get("NO_PROXY", ""),
        "Name": socket.gethostname(), "Labels": [], "ExperimentalBuild": False,
        "ServerVersion": ENGINE_VERSION,
        "Runtimes": {name: {"path": path} for name, path in d.cfg.runtimes.items()},
        "DefaultRuntime": d.cfg.default_runtime,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                  "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": False, "Isolation": "", "InitBinary": "", "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""}, "CDISpecDirs": [],
        # what every container gets unless told otherwise (moby's list: the default seccomp profile, and a
        # private cgroup namespace on cgroup v2)
        "SecurityOptions": ["name=seccomp,profile=builtin"] + (["name=cgroupns"] if cgroup_v2 else []),
        "Containerd": {"Address": d.client.address, "Namespaces": {"Containers": "moby", "Plugins": "plugins.moby"}},
        "Warnings": [],
    }


async def disk_usage(d: "Daemon", api_version: tuple[int, ...] = (1, 50)) -> dict[str, Any]:
    """`docker system df` as moby 20.10 computes it: the images `docker images` lists (no intermediate
    build steps), each with its Size, its containers and its SharedSize (layers, by chain ID, another
    listed image has too); LayersSize counts every layer of every image once; every container with its
    SizeRw/SizeRootFs; every local volume with its UsageData (size of its data, containers using it)."""
    from . import sizes
    from .images import intermediates, summary as image_summary
    images = await d.images.list()
    hidden = intermediates(images)
    users: dict[str, int] = {}
    for c in d.containers.values():
        users[c.Image] = users.get(c.Image, 0) + 1
    layer_of: dict[str, str] = {}  # chain ID → layer blob digest, over all images (moby's getLayerRefs)
    refs: dict[str, int] = {}  # chain ID → how many listed images have that layer (moby counts as it lists)
    for img in images:
        for chain, digest in zip(img.layer_chain_ids, img.layers):
            layer_of[chain] = digest
            if img.id not in hidden:
                refs[chain] = refs.get(chain, 0) + 1
    # one measurement per layer (ImageService dedups); a layer whose blob is unreadable counts as nothing
    layer_sizes = dict(zip(layer_of, await asyncio.gather(*(_layer_size(d, g, ch) for ch, g in layer_of.items()))))
    image_list = []
    for img in images:
        if img.id in hidden:
            continue
        s = image_summary(img, await d.images.size(img), api_version)
        s["Containers"] = users.get(img.id, 0)
        s["SharedSize"] = sum(layer_sizes[ch] for ch in img.layer_chain_ids[:len(img.layers)] if refs[ch] > 1)
        image_list.append(s)
    containers = d.list(True, -1, {})
    await sizes.add_sizes(d, containers, images)
    vols = d.volumes.list()
    usage = await asyncio.gather(*(sizes.volume_usage(d, v) for v in vols))
    volumes = [{**d.volumes.to_json(v), "UsageData": u} for v, u in zip(vols, usage)]
    return {"LayersSize": sum(layer_sizes.values()), "Images": image_list, "Containers": containers,
            "Volumes": volumes, "BuildCache": []}


async def _layer_size(d: "Daemon", digest: str, chain: str) -> int:
    """A layer's DiffSize for `system df`; 0 (and a warning in the log) when its blob cannot be read,
    as moby leaves out a layer whose DiffSize fails."""
    try:
        return await d.images.layer_diff_size(digest, chain)
    except DockerError as exc:
        log.warning("cannot size layer %s: %s", digest, exc.message)
        return 0
