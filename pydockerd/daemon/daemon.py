"""The backend the routers call: containers (create/start/stop/kill/rm/wait/attach/logs) and images.

Container lifecycle over containerd (docs/ARCHITECTURE.md, "Container and task flow"):
create prepares the writable snapshot (kept until rm, as Docker keeps a container's layer across
restarts); start writes the /etc files, builds the OCI spec, creates the containerd container, the
FIFOs and the task, then waits on the task; on exit the task and the containerd container are
deleted, the state recorded, and `--rm` containers removed by the daemon.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import re
import secrets
import shutil
import signal as _signal
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any, AsyncIterator, Callable, Iterable

from ..errors import (AlreadyExists, Conflict, DockerError, Forbidden, InvalidParameter, NotFound,
                      NotImplementedYet, NotModified, SystemError_, no_such_container)
from . import etcfiles, fsdiff, initlayer, network, oci, reference, validate
from . import filters as filters_mod
from .changes import apply_changes
from .container import ZERO_TIME, Container, ContainerStore, State, now_rfc3339, parse_rfc3339
from .containerd import ContainerdClient, Descriptor
from .events import EventBus
from .execs import ExecManager
from .health import HealthMonitor
from .images import HOST_ARCH, ImageService
from .logs import LogEntry, LogQuery, read_entries
from .names import NameRegistry
from .rootfs import copy_up, is_mounted, mounted, read_files, read_from_root, read_layered, run_command, unmount
from .signals import parse_signal
from .streams import FifoSet, StreamHub
from .users import ResolvedUser, resolve_user
from .volumes import VolumeMount, VolumeStore, parse_binds

log = logging.getLogger("pydockerd.daemon")

EXIT_CMD_NOT_FOUND, EXIT_EACCES, EXIT_UNKNOWN = 127, 126, 128


@dataclass
class DaemonConfig:
    data_root: str
    exec_root: str
    cgroup_parent: str = "/pydocker"
    default_runtime: str = "runc"
    runtimes: dict[str, str] = field(default_factory=dict)  # name → binary path
    insecure_registries: list[str] = field(default_factory=list)
    debug: bool = False


@dataclass(eq=False)
class Live:
    """In-memory companions of a container record: lock, streams, exit/removal notifications."""

    hub: StreamHub
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_exit: asyncio.Future | None = None
    removed: asyncio.Future | None = None
    fifos: FifoSet | None = None
    monitor: asyncio.Task | None = None
    stdin_task: asyncio.Task | None = None
    removing: bool = False
    # The rootfs mounts Snapshots.Prepare answered at create: the first start uses them instead of asking
    # again (a snapshot's mounts stay what they were until it is removed).
    mounts: list[Any] | None = None
    snapshot_removed: bool = False  # the exit of a --rm container took its writable layer already
    oom: asyncio.Event = field(default_factory=asyncio.Event)  # set by a /tasks/oom of this run
    restarting: bool = False  # a `docker restart` stops it: a --rm container is not removed by that stop
    volumes_announced: bool = False  # this run's volume `mount` events went out (`unmount` ones are due)

    def exit_future(self) -> asyncio.Future:
        if self.next_exit is None or self.next_exit.done():
            self.next_exit = asyncio.get_running_loop().create_future()
        return self.next_exit

    def removed_future(self) -> asyncio.Future:
        if self.removed is None:
            self.removed = asyncio.get_running_loop().create_future()
        return self.removed


def new_id() -> str:
    while True:
        cid = secrets.token_hex(32)
        # moby skips IDs whose short form is all digits (they read like numbers).
        if not cid[:12].isdigit():
            return cid


class Daemon:
    def __init__(self, cfg: DaemonConfig, client: ContainerdClient) -> None:
        self.cfg = cfg
        self.client = client
        self.images = ImageService(client)
        self.store = ContainerStore(os.path.join(cfg.data_root, "containers"))
        self.names = NameRegistry()
        self.containers: dict[str, Container] = {}
        self.live: dict[str, Live] = {}
        self.fifo_root = os.path.join(cfg.exec_root, "containerd")
        self.tmp_root = os.path.join(cfg.data_root, "tmp")
        os.makedirs(self.tmp_root, mode=0o700, exist_ok=True)
        self.cgroup_v2 = oci.cgroup_v2_unified()
        self.execs = ExecManager(self)
        self.health = HealthMonitor(self)
        self.events = EventBus()
        self.volumes = VolumeStore(os.path.join(cfg.data_root, "volumes"))
        self._init_layers: set[str] = set()  # images' init layers known to exist (see _init_layer)
        self._volume_users: dict[str, set[str]] = {}  # volume with options → who uses it (use_volumes)
        self._volume_locks: dict[str, asyncio.Lock] = {}
        self._init_locks: dict[str, asyncio.Lock] = {}
        self.shutting_down = False
        self._tasks: set[asyncio.Task] = set()
        self.networks_enabled = False  # set by `init()`: does containerd serve pycontainerd's Networks?
        self.started_at = time.time()

    # --- lookup -------------------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        """By full ID, exact name, or unique ID prefix (moby's GetContainer)."""
        if ref in self.containers:
            return self.containers[ref]
        by_name = self.names.get(ref)
        if by_name and by_name in self.containers:
            return self.containers[by_name]
        if ref and all(ch in "0123456789abcdef" for ch in ref):
            matches = [c for cid, c in self.containers.items() if cid.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
        raise no_such_container(ref)

    async def _watch_ooms(self) -> None:
        """containerd's /tasks/oom → State.OOMKilled and an `oom` event, as dockerd's event loop."""
        while not self.shutting_down:
            try:
                async for cid in self.client.oom_events():
                    c = self.containers.get(cid)
                    if c is None:
                        continue
                    c.State.OOMKilled = True
                    self.store.save(c)
                    self.container_event(c, "oom")
                    self._live(c).oom.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the subscription ends with pycontainerd
                log.debug("oom subscription ended: %s", exc)
            await asyncio.sleep(1)

    def _live(self, c: Container) -> Live:
        lv = self.live.get(c.ID)
        if lv is None:
            lv = self.live[c.ID] = Live(StreamHub(c.LogPath))
        return lv

    # --- startup / shutdown ---------------------------------------------------------------------
    async def init(self) -> None:
        self.networks_enabled = await self.client.has_networks()
        log.info("container networking: %s", "pycontainerd Networks service" if self.networks_enabled
                 else "private network namespaces (no Networks service)")
        await self.restore()
        await self._resync_volume_users()
        await self._sweep_scratch_snapshots()
        self._background(self._watch_ooms())
        for c in list(self.containers.values()):
            policy = (c.HostConfig.get("RestartPolicy") or {}).get("Name") or "no"
            if not c.State.Running and c.HasBeenStarted and not c.ManuallyStopped and (
                    policy == "always" or policy == "unless-stopped"):
                self._background(self._restart_later(c, 0))

    async def restore(self) -> None:
        """Load records; running containers whose task survived (a crash, not a shutdown) are adopted
        again (live restore), others that were running are stopped now."""
        for c in self.store.load_all():
            self.containers[c.ID] = c
            self.names.reserve(c.Name, c.ID)
            self._live(c)
        for c in list(self.containers.values()):
            if c.State.Running and await self._reattach(c):
                continue
            if c.State.Running or c.State.Status in ("running", "paused", "restarting", "removing"):
                code = await self._reap_stale_task(c)
                c.State.set_stopped(code)
                self.store.save(c)
                if c.HostConfig.get("AutoRemove"):
                    await self._remove(c)

    async def _reattach(self, c: Container) -> bool:
        """Live restore after a crash of the daemons: a task its shim kept is adopted again.

        The shim held the FIFOs' write ends all along, so what the container wrote meanwhile is
        waiting in them (the container blocks once a pipe is full: nothing is dropped); reading
        them again appends it to the json-file log. A task that exited meanwhile goes through the
        usual exit path, which records its real exit code."""
        try:
            proc = await self.client.get_task(c.ID)
        except DockerError:
            return False
        if proc.status not in (2, 3, 4):  # RUNNING, STOPPED, PAUSED
            return False
        lv = self._live(c)
        try:
            fifos = FifoSet.reopen(os.path.join(self.fifo_root, c.ID), "init")
        except OSError as exc:
            log.warning("cannot reopen the FIFOs of %s: %s", c.ID[:12], exc)
            return False
        lv.hub.begin_run()
        await fifos.start_copy(lv.hub)
        lv.fifos = fifos
        lv.oom.clear()
        waiter = asyncio.create_task(self.client.wait_task(c.ID))
        c.State.Pid = proc.pid or c.State.Pid
        c.State.Paused = proc.status == 4
        c.State.Status = "paused" if c.State.Paused else "running"
        self.store.save(c)
        lv.exit_future()
        if proc.status == 2:
            self.health.start(c)
            lv.stdin_task = await fifos.start_stdin(lv.hub, lambda: self._close_stdin(c.ID))
        lv.monitor = asyncio.create_task(self._monitor(c, lv, waiter))
        if proc.status == 3:
            # exited while we were away: record it (exit code, log tail) before we answer anyone
            try:
                await asyncio.wait_for(asyncio.shield(lv.monitor), 15)
            except asyncio.TimeoutError:
                log.warning("the exit of %s is still being processed", c.ID[:12])
        log.info("restored container %s (%s)", c.ID[:12], c.State.Status)
        return True

    async def _reap_stale_task(self, c: Container) -> int:
        code = 128 + _signal.SIGKILL
        try:
            await self.client.kill_task(c.ID, _signal.SIGKILL, all=True)
            code = await asyncio.wait_for(self.client.wait_task(c.ID), 10)
        except (DockerError, asyncio.TimeoutError):
            pass
        await self._cleanup_task(c.ID)
        await self._teardown_network(c)
        await self._release_mounts(c)
        FifoSet(os.path.join(self.fifo_root, c.ID)).close()
        return code

    async def shutdown(self) -> None:
        """Stop running containers (in parallel) as dockerd without live-restore does."""
        self.shutting_down = True
        for t in list(self._tasks):
            t.cancel()
        running = [c for c in self.containers.values() if c.State.Running]
        if running:
            await asyncio.gather(*(self._stop_for_shutdown(c) for c in running), return_exceptions=True)
        for lv in self.live.values():
            if lv.monitor is not None and not lv.monitor.done():
                try:
                    await asyncio.wait_for(asyncio.shield(lv.monitor), 5)
                except (asyncio.TimeoutError, Exception):
                    pass
        await asyncio.to_thread(self.store.flush)
        self._remove_cgroup_parent()

    def _remove_cgroup_parent(self) -> None:
        """Remove our (now empty) cgroup parent in every hierarchy; runtimes leave it behind."""
        if any(c.State.Running for c in self.containers.values()):
            return
        rel = self.cfg.cgroup_parent.strip("/")
        if not rel:
            return
        base = "/sys/fs/cgroup"
        try:
            hierarchies = [base] + [os.path.join(base, h) for h in os.listdir(base)]
        except OSError:
            return
        for h in hierarchies:
            path = os.path.join(h, rel)
            if os.path.isdir(path):
                try:
                    os.rmdir(path)  # fails (and is left) if anything is still inside
                except OSError:
                    pass

    async def _stop_for_shutdown(self, c: Container) -> None:
        timeout = c.Config.get("StopTimeout")
        try:
            await self.stop(c.ID, timeout if timeout is not None else 10, None, manual=False)
        except DockerError:
            pass

    # --- create ---------------------------------------------------------------------------------
    async def create(self, name: str, body: dict[str, Any], allow_scratch: bool = False,
                     init_layer: bool = True) -> tuple[str, list[str]]:
        """`allow_scratch`: the builder's containers on `FROM scratch` have no image. `init_layer`: the
        container's layer goes over the image's init layer (the builder's do not: each becomes a layer
        of an image by itself)."""
        config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
        host_config = dict(body.get("HostConfig") or {})
        image_ref = config.get("Image") or ""
        if not image_ref and not allow_scratch:
            raise InvalidParameter("No image specified")  # not a 404: that would make the CLI pull
        if host_config.get("AutoRemove") and (host_config.get("RestartPolicy") or {}).get("Name") not in (
                None, "", "no"):
            raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
        if name:
            name = self.names.validate(name)
        img = await self.images.resolve(image_ref, all_names=False) if image_ref else None
        merged = merge_image_config(config, img.container_config if img else {})
        entrypoint = list(merged.get("Entrypoint") or [])
        if entrypoint == [""]:
            entrypoint = []  # `--entrypoint ""`: reset, the image's entrypoint is not used either
        argv = entrypoint + list(merged.get("Cmd") or [])
        if not argv:
            raise InvalidParameter("No command specified")
        runtime = host_config.get("Runtime") or self.cfg.default_runtime
        if runtime not in self.cfg.runtimes:
            raise InvalidParameter(f"Unknown runtime specified {runtime}")
        host_config["Runtime"] = runtime
        host_config.setdefault("NetworkMode", "default")
        log_config = dict(host_config.get("LogConfig") or {})
        host_config["LogConfig"] = {"Type": log_config.get("Type") or "json-file",
                                    "Config": dict(log_config.get("Config") or {})}
        host_config.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
        oci.fill_defaults(host_config, self.cgroup_v2)
        # Validate what the spec needs now, not at start (moby rejects bad mounts/caps at create).
        oci.capabilities(host_config)
        network.validate_port_bindings(host_config)
        validate.create_settings(config, host_config)
        warnings = validate.log_driver_warnings(host_config.get("LogConfig") or {})
        for key in ("PidMode", "IpcMode"):
            mode = host_config.get(key) or ""
            if mode.startswith("container:"):
                self._other(mode.split(":", 1)[1])

        cid = new_id()
        if name:
            self.names.reserve(name, cid)
        else:
            name = self.names.generate(cid)
        cdir = self.store.dir_of(cid)
        created_snapshot = False
        new_volumes: list[str] = []
        try:
            volume_mounts = self._resolve_volumes(host_config, merged, new_volumes)
            if not merged.get("Hostname"):
                merged["Hostname"] = socket.gethostname() if host_config.get("NetworkMode") == "host" else cid[:12]
            merged["Image"] = image_ref
            merged.setdefault("Domainname", "")
            for k in ("AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"):
                merged[k] = bool(merged.get(k, False))
            for k in ("User", "WorkingDir"):
                merged[k] = merged.get(k) or ""
            merged.setdefault("Labels", {})
            if merged["Labels"] is None:
                merged["Labels"] = {}
            merged.setdefault("OnBuild", None)
            merged.setdefault("Volumes", None)
            c = Container(
                ID=cid, Name=name, Created=now_rfc3339(), Path=argv[0], Args=argv[1:], Config=merged,
                HostConfig=host_config, Image=img.id if img else "",
                LogPath="" if host_config["LogConfig"].get("Type") == "none" else os.path.join(cdir, f"{cid}-json.log"),
                HostnamePath=os.path.join(cdir, "hostname"), HostsPath=os.path.join(cdir, "hosts"),
                ResolvConfPath=os.path.join(cdir, "resolv.conf"),
                ChainID=img.chain_id if img else "", ImageName=image_ref,
                EndpointsConfig=dict((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}),
                VolumeMounts=[asdict(v) for v in volume_mounts],
            )
            os.makedirs(cdir, mode=0o710, exist_ok=True)
            mounts = await self._prepare_rootfs(cid, img.chain_id if img else "", init_layer)
            created_snapshot = True
            self.store.save(c)
        except BaseException:
            self.names.release(name)
            if created_snapshot:
                await self.ignore_missing(self.client.remove_snapshot(cid))
            for v in new_volumes:
                try:
                    self.volumes.remove(v, [])
                except DockerError:
                    pass
            shutil.rmtree(cdir, ignore_errors=True)
            raise
        self.containers[cid] = c
        self._live(c).mounts = mounts
        self.container_event(c, "create")
        return cid, warnings

    async def _prepare_rootfs(self, cid: str, chain: str, init_layer: bool) -> list[Any]:
        """The container's writable snapshot, over the image's init layer (made once per image)."""
        if not chain or not init_layer:
            return await self.client.prepare_snapshot(cid, chain)
        for _ in range(2):
            parent = await self._init_layer(chain)
            try:
                return await self.client.prepare_snapshot(cid, parent)
            except NotFound:
                self._init_layers.discard(parent)  # collected meanwhile: made again
        raise SystemError_(f"the init layer of {chain} keeps disappearing")

    async def _init_layer(self, chain: str) -> str:
        name = initlayer.snapshot_name(chain)
        if name in self._init_layers:
            return name
        async with self._init_locks.setdefault(chain, asyncio.Lock()):
            if name in self._init_layers:
                return name  # made (or found) by whoever held the lock before
            try:
                await self.client.snapshot_parent(name)
            except NotFound:
                key = f"init-{secrets.token_hex(8)}"
                mounts = await self.client.prepare_snapshot(key, chain, gc_root=False)
                try:
                    async with mounted(mounts, self.tmp_root, readonly=False) as root:
                        await asyncio.to_thread(initlayer.setup, root)
                    try:
                        await self.client.commit_snapshot(name, key)
                    except AlreadyExists:
                        pass
                except OSError as exc:
                    raise SystemError_(f"cannot make the init layer of {chain}: {exc}") from None
                finally:
                    await self.ignore_missing(self.client.remove_snapshot(key))
            self._init_layers.add(name)
        return name

    def _resolve_volumes(self, hc: dict[str, Any], config: dict[str, Any], created: list[str]) -> list[VolumeMount]:
        """Named (`-v name:/dst`, `--mount type=volume`) and anonymous (`-v /dst`, image VOLUME) volumes."""
        _, named = parse_binds(hc.get("Binds") or [])
        out: list[VolumeMount] = []

        def use(name: str, dst: str, rw: bool, mode: str = "") -> None:
            vol, new = self.volumes.create(name)
            if new:
                created.append(vol.Name)
                self.events.publish("volume", "create", vol.Name, {"driver": "local"})
            out.append(VolumeMount(vol.Name, dst, rw, vol.Anonymous, mode))

        for name, dst, rw, mode in named:
            use(name, dst, rw, mode)
        taken = {dst for _, dst, _, _ in named}
        for b in hc.get("Binds") or []:
            parts = b.split(":")
            if len(parts) >= 2:
                taken.add(parts[1])
        for m in hc.get("Mounts") or []:
            if m.get("Type") == "volume":
                driver = ((m.get("VolumeOptions") or {}).get("DriverConfig") or {}).get("Name") or ""
                if driver not in ("", "local"):  # (dockerd's 404 too)
                    raise NotFound(f"create {m.get('Source') or ''}: error looking up volume plugin {driver}: "
                                   f'plugin "{driver}" not found')
                use(m.get("Source") or "", m.get("Target", ""), not m.get("ReadOnly"))
            taken.add(m.get("Target", ""))
        taken.update((hc.get("Tmpfs") or {}).keys())
        for spec in hc.get("VolumesFrom") or []:
            # --volumes-from ref[:ro|rw]: the other container's volumes at the same places
            ref, _, mode = str(spec).partition(":")
            if mode not in ("", "ro", "rw"):
                raise InvalidParameter(f"invalid mode for volumes-from: {mode}")
            src = self._other(ref)
            for v in src.VolumeMounts:
                if v["Destination"] in taken:
                    continue
                taken.add(v["Destination"])
                rw = v["RW"] if mode == "" else mode == "rw"
                use(v["Name"], v["Destination"], rw)
        for dst in config.get("Volumes") or {}:
            dst = os.path.normpath(os.path.join("/", dst))  # an image's `VOLUME data` is /data, as moby
            if dst not in taken:
                use("", dst, True)
        return out

    def _other(self, ref: str) -> Container:
        """A container another one's settings name (--volumes-from, --pid/--ipc container:): missing, a
        400 as moby's (a 404 from create makes the docker CLI pull the image)."""
        try:
            return self.get(ref)
        except NotFound as exc:
            raise InvalidParameter(exc.message) from None

    def volume_users(self, name: str) -> list[str]:
        return [c.ID for c in self.containers.values() if any(v["Name"] == name for v in c.VolumeMounts)]

    @staticmethod
    async def ignore_missing(coro: Any) -> None:
        try:
            await coro
        except NotFound:
            pass
        except DockerError as exc:
            log.warning("cleanup: %s", exc.message)

    # --- start ----------------------------------------------------------------------------------
    async def start(self, ref: str, manual: bool = True) -> None:
        c = self.get(ref)
        lv = self._live(c)
        async with lv.lock:
            if c.State.Paused:
                raise Conflict("cannot start a paused container, try unpause instead")
            if c.State.Running:
                raise NotModified("container already started")
            if manual:
                c.ManuallyStopped = False
                c.RestartCount = 0
            if lv.removing:
                raise Conflict(f"removal of container {c.Name.lstrip('/')} is already in progress")
            try:
                await self._start_locked(c, lv)
            except DockerError as exc:
                await self._release_mounts(c)
                c.State.Error = exc.message
                if c.State.ExitCode == 0:
                    c.State.ExitCode = EXIT_UNKNOWN
                self.store.save(c)
                if c.HostConfig.get("AutoRemove"):
                    # moby removes a --rm container whose start failed; `wait?condition=removed` returns.
                    await self._remove(c)
                raise

    async def _start_locked(self, c: Container, lv: Live) -> None:
        mounts, lv.mounts = lv.mounts, None
        lv.snapshot_removed = False  # a start makes (or finds) the writable layer again
        if mounts is None:
            try:
                mounts = await self.client.snapshot_mounts(c.ID)
            except NotFound:
                mounts = await self._prepare_rootfs(c.ID, c.ChainID, True)
        netns = await self._setup_network(c)
        try:
            await self._create_and_start(c, lv, mounts, netns)
        except BaseException:
            await self._teardown_network(c)
            raise

    async def _setup_network(self, c: Container) -> str:
        """Sandbox, endpoints and /etc files; returns the netns path for the spec ("" = a new one)."""
        cfg, hc = c.Config, c.HostConfig
        mode = network.mode_of(hc)
        host_net = mode == "host"
        hostname = cfg.get("Hostname") or c.ID[:12]
        dns, search, opts = hc.get("Dns") or [], hc.get("DnsSearch") or [], hc.get("DnsOptions") or []
        extra = hc.get("ExtraHosts") or []
        netns = ""
        if mode.startswith("container:"):
            other = self.get(mode.split(":", 1)[1])
            if not other.State.Running:
                raise Conflict(f"cannot join network namespace of a non running container: container "
                               f"{other.ID} is not running")
            netns = f"/proc/{other.State.Pid}/ns/net"
            for src, dst in ((other.HostsPath, c.HostsPath), (other.ResolvConfPath, c.ResolvConfPath)):
                shutil.copyfile(src, dst)
            etcfiles.write_hostname(c.HostnamePath, hostname)
            return netns
        if not self.networks_enabled:
            etcfiles.write_hostname(c.HostnamePath, hostname)
            etcfiles.write_hosts(c.HostsPath, hostname, extra, host_net)
            etcfiles.write_resolv_conf(c.ResolvConfPath, dns, search, opts, host_net)
            return ""
        if host_net:
            files = await self.client.sandbox_files(c.ID, host_network=True, hostname=cfg.get("Hostname") or "",
                                                    dns=dns, search=search, options=opts, extra_hosts=extra)
        else:
            netns = await self.client.create_sandbox(c.ID, hostname, cfg.get("Domainname") or "", dns, search,
                                                     opts, extra)
            try:
                endpoints = []
                ports = network.port_bindings(hc, cfg)
                for i, net in enumerate(network.networks_to_join(hc, c.EndpointsConfig)):
                    ec = (c.EndpointsConfig or {}).get(net) or (
                        (c.EndpointsConfig or {}).get("default") if net == "bridge" else None) or {}
                    ep = await self.client.connect(
                        net, c.ID, c.Name.lstrip("/"), network.aliases_for(net, c.ID, ec),
                        ((ec.get("IPAMConfig") or {}).get("IPv4Address") or ""), ports if i == 0 else [])
                    endpoints.append(network.EndpointInfo.from_pb(net, ep))
                c.Endpoints = [asdict(e) for e in endpoints]
                files = await self.client.sandbox_files(c.ID)
            except BaseException as e:
                await self.ignore_missing(self.client.delete_sandbox(c.ID))
                c.Endpoints = []
                err = network.setup_failed(e)
                if err is e:
                    raise
                raise err from e
        for path, content in ((c.HostsPath, files.hosts), (c.ResolvConfPath, files.resolv_conf),
                              (c.HostnamePath, files.hostname)):
            etcfiles.write_file(path, content)
        return netns

    async def _teardown_network(self, c: Container) -> None:
        if self.networks_enabled and network.mode_of(c.HostConfig) != "host" \
                and not network.mode_of(c.HostConfig).startswith("container:"):
            await self.ignore_missing(self.client.delete_sandbox(c.ID))
        c.Endpoints = []

    async def connect_network(self, net: str, ref: str, endpoint_config: dict[str, Any]) -> None:
        """`docker network connect`: now if running, else at the next start."""
        c = self.get(ref)
        mode = network.mode_of(c.HostConfig)
        if mode in ("host", "none") or mode.startswith("container:"):
            raise Forbidden("container cannot be disconnected from host network or connected to host network"
                            if mode == "host" else "container sharing network namespace with another container "
                            "or host cannot be connected to any other network")
        lv = self._live(c)
        async with lv.lock:
            if c.State.Running and self.networks_enabled:
                before = await self.client.sandbox_files(c.ID)
                ep = await self.client.connect(
                    net, c.ID, c.Name.lstrip("/"), network.aliases_for(net, c.ID, endpoint_config),
                    (endpoint_config.get("IPAMConfig") or {}).get("IPv4Address") or "", [])
                info = network.EndpointInfo.from_pb(net, ep)
                after = await self.client.sandbox_files(c.ID)
                network.refresh_resolv_conf(c.ResolvConfPath, before.resolv_conf, after.resolv_conf)
                c.Endpoints = list(c.Endpoints) + [asdict(info)]
            else:
                await self.client.get_network(net)  # 404 `network X not found` now, not at start
            c.EndpointsConfig = {**(c.EndpointsConfig or {}), net: endpoint_config}
            self.store.save(c)

    async def disconnect_network(self, net: str, ref: str, force: bool) -> None:
        c = self.get(ref)
        lv = self._live(c)
        async with lv.lock:
            if c.State.Running and self.networks_enabled:
                await self.client.disconnect(net, c.ID, force)
                n = await self.client.get_network(net)
                c.Endpoints = [e for e in c.Endpoints if e.get("network_id") != n.id and e.get("network") != net]
            cfg = dict(c.EndpointsConfig or {})
            cfg.pop(net, None)
            c.EndpointsConfig = cfg
            self.store.save(c)

    def _shm_path(self, cid: str) -> str:
        return os.path.join(self.store.dir_of(cid), "mounts", "shm")

    async def _shareable_shm(self, c: Container) -> str:
        """--ipc shareable: the container's /dev/shm is a tmpfs on the host side (moby's ShmPath), so that
        a container joining its IPC namespace can bind the same one."""
        path = self._shm_path(c.ID)
        os.makedirs(path, exist_ok=True)
        if not is_mounted(path):
            size = int(c.HostConfig.get("ShmSize") or oci.DEFAULT_SHM_SIZE)
            try:
                await run_command("mount", "-t", "tmpfs", "-o", f"nosuid,nodev,noexec,mode=1777,size={size}",
                                  "shm", path)
            except OSError as exc:
                raise SystemError_(f"mounting shm tmpfs: {exc}") from None
        return path

    async def _release_shm(self, c: Container) -> None:
        if c.HostConfig.get("IpcMode") == "shareable" and is_mounted(self._shm_path(c.ID)):
            await unmount(self._shm_path(c.ID))

    def _joined_namespaces(self, hc: dict[str, Any]) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """--pid/--ipc container:<other>: its namespaces, and for IPC its /dev/shm too (moby's checks:
        the other container runs, and shares its IPC only if made with --ipc shareable)."""
        paths: dict[str, str] = {}
        mounts: list[dict[str, Any]] = []
        for kind, key in (("pid", "PidMode"), ("ipc", "IpcMode")):
            mode = hc.get(key) or ""
            if not mode.startswith("container:"):
                continue
            other = self.get(mode.split(":", 1)[1])
            if not other.State.Running:
                msg = f"container {other.ID} is not running"
                raise Conflict(msg if kind == "pid" else f"can't join IPC of container {other.ID}: {msg}")
            if kind == "ipc":
                if not is_mounted(self._shm_path(other.ID)):
                    raise InvalidParameter(f"can't join IPC of container {other.ID}: non-shareable IPC (hint: use "
                                           "IpcMode:shareable for the donor container)")
                mounts.append({"destination": "/dev/shm", "type": "bind", "source": self._shm_path(other.ID),
                               "options": ["rbind", "rprivate"]})
            paths[kind] = f"/proc/{other.State.Pid}/ns/{kind}"
        return paths, mounts

    async def use_volumes(self, c: Container, ref: str) -> None:
        """Volumes made with options (`-o type=tmpfs -o device=tmpfs ...`) are mounted while something
        uses them: `ref` (a starting or running container, a `docker cp`) now does. Counted per volume,
        under its lock, so that concurrent starts mount once and an exit never unmounts under another."""
        done: list[str] = []
        try:
            for v in c.VolumeMounts:
                name = v["Name"]
                argv = self.volumes.mount_argv(name)
                if argv is None:
                    continue
                async with self._volume_locks.setdefault(name, asyncio.Lock()):
                    users = self._volume_users.setdefault(name, set())
                    if not users and not is_mounted(self.volumes.mountpoint(name)):
                        try:
                            await run_command(*argv)
                        except OSError as exc:
                            raise SystemError_(f"error while mounting volume '{self.volumes.mountpoint(name)}': "
                                               f"failed to mount local volume: {exc}") from None
                    users.add(ref)
                done.append(name)
        except BaseException:
            await self._release(done, ref)
            raise

    async def _release_mounts(self, c: Container) -> None:
        """What a run held on the host (its shareable /dev/shm, its volumes made with options), once its
        task is gone: after an exit, a failed start, or found dead at a restart."""
        await self._release_shm(c)
        await self.release_volumes(c, c.ID)
        lv = self._live(c)
        if lv.volumes_announced:
            lv.volumes_announced = False
            for v in c.VolumeMounts:
                self.events.publish("volume", "unmount", v["Name"], {"container": c.ID, "driver": "local"})

    # keys of the snapshots this daemon makes for a moment (init layers being made, diff views, build steps):
    # whatever a crash left of them holds its image's layers, so they go at start
    SCRATCH_SNAPSHOTS = ("init-", "diff-view-", "build-view-", "build-src-", "build-unpack-", "build-copy-")

    async def _sweep_scratch_snapshots(self) -> None:
        try:
            names = await self.client.snapshot_names()
        except DockerError as exc:
            log.warning("cannot list snapshots: %s", exc.message)
            return
        for name in names:
            if name.startswith(self.SCRATCH_SNAPSHOTS):
                await self.ignore_missing(self.client.remove_snapshot(name))

    async def _resync_volume_users(self) -> None:
        """After a restart: the containers still running use their volumes; a volume with options left
        mounted by a crash with nobody using it now is unmounted."""
        for vol in self.volumes.list():
            if not vol.Options:
                continue
            users = {cid for cid in self.volume_users(vol.Name) if self.containers[cid].State.Running}
            self._volume_users[vol.Name] = users
            if not users and is_mounted(self.volumes.mountpoint(vol.Name)):
                await self._release([vol.Name], "")

    async def release_volumes(self, c: Container, ref: str) -> None:
        """`ref` no longer uses `c`'s volumes: the last user's release unmounts one made with options."""
        await self._release([v["Name"] for v in c.VolumeMounts], ref)

    async def _release(self, names: list[str], ref: str) -> None:
        for name in names:
            users = self._volume_users.get(name)
            if users is None or (ref and ref not in users):
                continue
            async with self._volume_locks.setdefault(name, asyncio.Lock()):
                users.discard(ref)
                path = self.volumes.mountpoint(name)
                if not users and is_mounted(path):
                    await unmount(path)

    async def _create_and_start(self, c: Container, lv: Live, mounts: list[Any], netns: str) -> None:
        cfg, hc = c.Config, c.HostConfig
        await self.use_volumes(c, c.ID)
        # dockerd's volume events: each volume is mounted for this run (unmount: _release_mounts)
        for v in c.VolumeMounts:
            self.events.publish("volume", "mount", v["Name"], {
                "container": c.ID, "destination": v["Destination"], "driver": "local", "propagation": "",
                "read/write": "true" if v["RW"] else "false"})
        lv.volumes_announced = bool(c.VolumeMounts)
        empty = [(v["Destination"], self.volumes.mountpoint(v["Name"])) for v in c.VolumeMounts]
        empty = [(d, mp) for d, mp in empty if os.path.isdir(mp) and not os.listdir(mp)]
        if empty:
            try:
                await copy_up(mounts, empty, self.tmp_root)
            except OSError as exc:
                raise SystemError_(f"failed to copy the image's content into a volume: {exc}") from None
        user = await self.resolve_user(c, mounts, cfg.get("User") or "")
        if hc.get("GroupAdd"):
            user.additional_gids = await self._group_add(c, mounts, user, hc["GroupAdd"])
        args = [c.Path, *c.Args]
        init_mounts = []
        if hc.get("Init"):
            # Docker's --init: its docker-init (tini) bind-mounted at /sbin/docker-init runs the command
            init_bin = shutil.which("docker-init") or shutil.which("tini-static") or shutil.which("tini")
            if not init_bin:
                raise SystemError_("docker-init binary not found")
            args = ["/sbin/docker-init", "--", *args]
            init_mounts = [{"destination": "/sbin/docker-init", "type": "bind",
                            "source": os.path.realpath(init_bin), "options": ["rbind", "rprivate", "ro"]}]
        ns_paths, shm = self._joined_namespaces(hc)
        init_mounts += shm
        if hc.get("IpcMode") == "shareable":
            init_mounts.append({"destination": "/dev/shm", "type": "bind", "source": await self._shareable_shm(c),
                                "options": ["rbind", "rprivate"]})
        spec = oci.build_spec(
            c.ID, cfg, hc, args,
            oci.SpecPaths(c.HostnamePath, c.HostsPath, c.ResolvConfPath),
            oci.SpecOptions(cgroup_parent=self.cfg.cgroup_parent, user=user, cgroup_v2=self.cgroup_v2,
                            netns_path=netns, ns_paths=ns_paths, extra_mounts=[
                                {"destination": v["Destination"], "type": "bind",
                                 "source": self.volumes.mountpoint(v["Name"]),
                                 "options": ["rbind", "rprivate", "rw" if v["RW"] else "ro"]}
                                for v in c.VolumeMounts] + init_mounts))
        runtime_bin = self.cfg.runtimes.get(hc.get("Runtime") or self.cfg.default_runtime, "")
        try:
            await self.client.create_container(c.ID, c.ImageName, spec, c.ID, runtime_bin)
        except AlreadyExists:
            # A leftover from a crash: it holds no process (we would know), so replace it.
            await self._cleanup_task(c.ID)
            await self.client.create_container(c.ID, c.ImageName, spec, c.ID, runtime_bin)

        tty = bool(cfg.get("Tty"))
        fifos = FifoSet.create(os.path.join(self.fifo_root, c.ID), "init",
                               with_stdin=bool(cfg.get("OpenStdin")), with_stderr=not tty)
        try:
            try:
                await self.client.create_task(c.ID, mounts, fifos.stdin, fifos.stdout, fifos.stderr, tty)
            except DockerError as exc:
                raise self._start_error(c, exc) from None
            lv.hub.begin_run()
            await fifos.start_copy(lv.hub)
            lv.oom.clear()
            c.State.OOMKilled = False
            waiter = asyncio.create_task(self.client.wait_task(c.ID))
            try:
                pid = await self.client.start_task(c.ID)
            except DockerError as exc:
                waiter.cancel()
                await self.ignore_missing(self.client.kill_task(c.ID, _signal.SIGKILL, all=True))
                await self._cleanup_task(c.ID)
                lv.hub.end_run()
                raise self._start_error(c, exc) from None
        except BaseException:
            fifos.close()
            await self.ignore_missing(self.client.delete_container(c.ID))
            raise
        lv.fifos = fifos
        c.State.set_running(pid)
        c.HasBeenStarted = True
        self.store.save(c)
        self.container_event(c, "start")
        self.health.start(c)
        lv.exit_future()  # exists before anyone can observe the running state
        lv.stdin_task = await fifos.start_stdin(lv.hub, lambda: self._close_stdin(c.ID))
        lv.monitor = asyncio.create_task(self._monitor(c, lv, waiter))

    async def _close_stdin(self, cid: str) -> None:
        await self.ignore_missing(self.client.close_stdin(cid))

    def _start_error(self, c: Container, exc: DockerError) -> DockerError:
        err, code = self.start_error_text(f"failed to create task for container: {exc.message}")
        if code:
            c.State.ExitCode = code
        return err

    @staticmethod
    def start_error_text(msg: str) -> tuple[DockerError, int]:
        """moby's translateContainerdStartErr: exit codes 127/126 and a 400 for a bad command."""
        low = msg.lower()
        code = 0
        if ("executable file not found" in low or "no such file or directory" in low
                or "system cannot find the file specified" in low):
            code = EXIT_CMD_NOT_FOUND
        if "permission denied" in low:
            code = EXIT_EACCES
        if "not a directory" in low:
            msg += (": Are you trying to mount a directory onto a file (or vice-versa)? Check if the "
                    "specified host path exists and is the expected type")
            code = EXIT_CMD_NOT_FOUND
        return (InvalidParameter(msg) if code else SystemError_(msg)), code

    async def resolve_user(self, c: Container, mounts: list[Any], spec: str) -> ResolvedUser:
        """`Config.User` to ids, reading the image's /etc/passwd and /etc/group when needed."""
        if spec == "0:0":
            return ResolvedUser(additional_gids=[0])  # an explicit group: no member groups
        u, _, g = (spec or "0").partition(":")
        numeric = u.isdigit() and (not g or g.isdigit())
        try:
            files = await self._etc_files(c, mounts)
        except OSError as exc:
            if numeric:
                return ResolvedUser(int(u), int(g) if g else 0, [int(g) if g else 0])
            raise SystemError_(f"unable to read the container's /etc/passwd: {exc}") from None
        try:
            return resolve_user(spec or "0", files["/etc/passwd"] or "", files["/etc/group"] or "")
        except InvalidParameter:
            if spec in ("", "0", "root"):
                return ResolvedUser(additional_gids=[0])  # root needs no passwd entry (FROM scratch)
            raise

    async def _etc_files(self, c: Container, mounts: list[Any]) -> dict[str, str]:
        """The container's /etc/passwd and /etc/group ("" when missing): from a running container's own
        root (exec), else straight from the snapshot's directories where that is certain, else from a
        read-only mount of it."""
        paths = ["/etc/passwd", "/etc/group"]
        if c.State.Running and c.State.Pid:
            return read_from_root(f"/proc/{c.State.Pid}/root", paths)
        files = {p: read_layered(mounts, p) for p in paths}
        if None in files.values():
            return await read_files(mounts, paths, self.tmp_root)
        return {p: text or "" for p, text in files.items()}

    async def _group_add(self, c: Container, mounts: list[Any], user: ResolvedUser,
                         groups: list[str]) -> list[int]:
        """HostConfig.GroupAdd (names from the image's /etc/group, or numbers) after the user's own groups."""
        out = list(user.additional_gids)
        group_text = None
        for g in groups:
            g = str(g)
            if g.isdigit():
                gid = int(g)
            else:
                if group_text is None:
                    try:
                        group_text = (await self._etc_files(c, mounts))["/etc/group"]
                    except OSError:
                        group_text = ""
                for line in group_text.splitlines():
                    parts = line.split(":")
                    if len(parts) >= 3 and parts[0] == g and parts[2].isdigit():
                        gid = int(parts[2])
                        break
                else:
                    raise InvalidParameter(f"Unable to find group {g}: no matching entries in group file")
            if gid not in out:
                out.append(gid)
        return out

    async def _cleanup_task(self, cid: str, remove_snapshot: bool = False) -> None:
        """Delete the task, then its containerd container (and with `remove_snapshot`, in parallel, the
        snapshot: the task's deletion unmounted it)."""
        await self.ignore_missing(self.client.delete_task(cid))
        if not remove_snapshot:
            await self.ignore_missing(self.client.delete_container(cid))
            return
        async def snapshot() -> None:
            try:
                await self.client.remove_snapshot(cid)
            except NotFound:
                pass
            except DockerError as exc:
                log.warning("cleanup: %s", exc.message)
                return  # the removal of the container tries again
            lv = self.live.get(cid)
            if lv is not None:
                lv.snapshot_removed = True

        await asyncio.gather(self.ignore_missing(self.client.delete_container(cid)), snapshot())

    # --- exit handling --------------------------------------------------------------------------
    async def _monitor(self, c: Container, lv: Live, waiter: asyncio.Task) -> None:
        try:
            code = await waiter
            self.health.stop(c.ID)
            if code == 128 + _signal.SIGKILL and c.HostConfig.get("Memory") and not lv.oom.is_set():
                # the kernel's OOM kill: its event may trail the exit by a moment
                try:
                    await asyncio.wait_for(lv.oom.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass
        except DockerError as exc:
            log.warning("wait for %s failed: %s", c.ID[:12], exc.message)
            code = EXIT_UNKNOWN
        except asyncio.CancelledError:
            raise
        if lv.fifos is not None:
            await lv.fifos.wait_drained(timeout=5)
        # --rm (no restart policy can go with it): the writable layer goes with the container, so it is
        # removed as soon as the task is gone, beside the containerd container record.
        auto_remove = bool(c.HostConfig.get("AutoRemove")) and not lv.restarting
        # The task's deletion (runtime delete, unmount, shim exit) and the sandbox's do not depend on
        # each other once the process is gone: overlap them.
        await asyncio.gather(self._cleanup_task(c.ID, remove_snapshot=auto_remove), self._teardown_network(c))
        await self._release_mounts(c)
        if lv.stdin_task is not None:
            lv.stdin_task.cancel()
            lv.stdin_task = None
        if lv.fifos is not None:
            lv.fifos.close()
            lv.fifos = None
        c.State.set_stopped(code)
        if not auto_remove:
            # An auto-removed record is deleted next: a synced write of it would only cost time (after
            # a crash in between, restore finds it running, reaps the task and removes it all the same).
            # A force-removed one is still written: its ManuallyStopped must survive a crash before the
            # removal, or a restart policy would start it again.
            self.store.save(c)
        self.container_event(c, "die", exitCode=str(code))
        lv.hub.end_run()
        fut = lv.exit_future()
        if not fut.done():
            fut.set_result(code)
        log.debug("container %s exited with %d", c.ID[:12], code)
        if self._should_restart(c, code):
            delay = min(0.1 * (2 ** min(c.RestartCount, 10)), 60.0)
            self._background(self._restart_later(c, delay))
            return
        if auto_remove:
            try:
                async with lv.lock:
                    if c.ID in self.containers and not lv.removing:
                        await self._remove(c)
            except DockerError as exc:
                log.warning("auto-remove of %s failed: %s", c.ID[:12], exc.message)
                if c.ID in self.containers:
                    self.store.save(c)

    def _should_restart(self, c: Container, code: int) -> bool:
        """Restart policies: always, unless-stopped, on-failure[:max] (never after docker stop/kill)."""
        if self.shutting_down or c.ManuallyStopped or c.ID not in self.containers:
            return False
        policy = c.HostConfig.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if name in ("always", "unless-stopped"):
            return True
        if name == "on-failure" and code != 0:
            limit = int(policy.get("MaximumRetryCount") or 0)
            return limit == 0 or c.RestartCount < limit
        return False

    def _background(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def measure_later(self, targets: Iterable[Descriptor]) -> None:
        """Measure new images' layer sizes in the background (after a pull, load, import, build or
        commit), so that the `docker images` that follows need not stream their blobs."""
        targets = list(targets)
        if targets and not self.shutting_down:
            self._background(self.images.measure(targets))

    async def _restart_later(self, c: Container, delay: float) -> None:
        await asyncio.sleep(delay)
        if c.ID not in self.containers or c.State.Running or c.ManuallyStopped or self.shutting_down:
            return
        try:
            await self.start(c.ID, manual=False)
            c.RestartCount += 1
            self.store.save(c)
            self.container_event(c, "restart")
        except DockerError as exc:
            log.warning("restart of %s failed: %s", c.ID[:12], exc.message)

    # --- stop / kill ----------------------------------------------------------------------------
    async def kill(self, ref: str, sig: str | None) -> None:
        try:
            c = self.get(ref)
        except NotFound as exc:
            raise NotFound(f"Cannot kill container: {ref}: {exc.message}") from None
        signo = parse_signal(sig) if sig else _signal.SIGKILL
        if not c.State.Running:
            raise Conflict(f"Cannot kill container: {ref}: Container {c.ID} is not running")
        c.ManuallyStopped = True
        self.container_event(c, "kill", signal=str(signo))
        try:
            await self.client.kill_task(c.ID, signo)
        except NotFound:
            pass  # exited meanwhile
        if c.State.Paused and c.State.Running and signo != _signal.SIGKILL:
            # as moby: resumed, so that the signal is delivered (the runtime thaws it for SIGKILL itself)
            try:
                await self.unpause(c.ID)
            except DockerError as exc:
                log.warning("cannot unpause %s after kill: %s", c.ID[:12], exc.message)
        if signo == _signal.SIGKILL:
            await self._wait_exit(c, None)

    async def _wait_exit(self, c: Container, timeout: float | None) -> bool:
        lv = self._live(c)
        if not c.State.Running:
            return True
        fut = lv.exit_future()
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def stop(self, ref: str, timeout: int | None, sig: str | None, manual: bool = True) -> None:
        c = self.get(ref)
        if not c.State.Running:
            raise NotModified("container already stopped")
        if manual:
            c.ManuallyStopped = True
        stop_signal = sig or c.Config.get("StopSignal") or "SIGTERM"
        signo = parse_signal(stop_signal)
        if timeout is None:
            t = c.Config.get("StopTimeout")
            timeout = 10 if t is None else int(t)
        await self._stop_signal(c, signo)
        if await self._wait_exit(c, None if timeout < 0 else float(timeout)):
            self.container_event(c, "stop")
            return
        log.info("container %s did not stop within %ds after %s; killing it", c.ID[:12], timeout, stop_signal)
        await self._stop_signal(c, _signal.SIGKILL)  # the init, as Docker (see remove)
        await self._wait_exit(c, None)
        self.container_event(c, "stop")

    async def _stop_signal(self, c: Container, signo: int) -> None:
        """One signal of a stop, with its kill event; a task that exits meanwhile is no error."""
        self.container_event(c, "kill", signal=str(int(signo)))
        try:
            await self.client.kill_task(c.ID, signo)
        except NotFound:
            pass
        except DockerError:
            # the task exited on its own just now and its shim is already going away: that is a stop
            if not await self._wait_exit(c, 5.0):
                raise

    # --- remove ---------------------------------------------------------------------------------
    async def remove(self, ref: str, force: bool, volumes: bool) -> None:
        c = self.get(ref)
        lv = self._live(c)
        if c.State.Running and not force:
            if c.State.Paused:
                raise Conflict(f'cannot remove container "{c.Name}": container is paused and must be unpaused first')
            raise Conflict(f'cannot remove container "{c.Name}": container is running: stop the '
                           "container before removing or force remove")
        if lv.removing:
            raise Conflict(f"removal of container {ref} is already in progress")
        c.RemoveVolumes = c.RemoveVolumes or volumes
        if c.State.Running:
            c.ManuallyStopped = True  # no restart policy for a container being removed
            self.container_event(c, "kill", signal=str(int(_signal.SIGKILL)))  # (dockerd's event too)
            try:
                # the init only, as Docker: its pid namespace ends with it, and the shim kills what an
                # init in the host's namespace leaves (containerd's ShouldKillAllOnExit)
                await self.client.kill_task(c.ID, _signal.SIGKILL)
            except NotFound:
                pass
            await self._wait_exit(c, None)
            if lv.monitor is not None:
                await asyncio.shield(lv.monitor)
        async with lv.lock:
            if c.ID not in self.containers:
                return  # auto-removed meanwhile
            if lv.removing:
                raise Conflict(f"removal of container {ref} is already in progress")
            await self._remove(c)


    async def _remove(self, c: Container) -> None:
        lv = self._live(c)
        lv.removing = True
        c.State.Status = "removing"
        self.container_event(c, "destroy")
        try:
            if not lv.snapshot_removed:
                await self.ignore_missing(self.client.remove_snapshot(c.ID))
        except BaseException:
            lv.removing = False
            raise
        await self._release_shm(c)  # (a crash may have left it: its directory is deleted next)
        self.store.delete(c.ID)
        self.execs.forget_container(c.ID)
        if c.RemoveVolumes or c.HostConfig.get("AutoRemove"):
            # anonymous volumes only, as Docker (named ones outlive their containers)
            for v in c.VolumeMounts:
                if v.get("Anonymous") and not [u for u in self.volume_users(v["Name"]) if u != c.ID]:
                    try:
                        self.volumes.remove(v["Name"], [])
                        self.events.publish("volume", "destroy", v["Name"], {"driver": "local"})
                    except DockerError:
                        pass
        self.names.release(c.Name)
        self.containers.pop(c.ID, None)
        self.live.pop(c.ID, None)
        lv.hub.end_run()
        fut = lv.removed_future()
        if not fut.done():
            fut.set_result(c.State.ExitCode)
        nxt = lv.next_exit
        if nxt is not None and not nxt.done():
            nxt.set_result(c.State.ExitCode)

    # --- wait -----------------------------------------------------------------------------------
    async def wait_prepare(self, ref: str, condition: str) -> asyncio.Future | int:
        """Validate now (so errors come before the 200), return the future to await or a code."""
        if condition not in ("", "not-running", "next-exit", "removed"):
            raise InvalidParameter(f"invalid condition: \"{condition}\"")
        c = self.get(ref)
        lv = self._live(c)
        if condition == "removed":
            return lv.removed_future()
        if condition == "next-exit":
            return lv.exit_future()
        if not c.State.Running:
            return c.State.ExitCode
        return lv.exit_future()

    async def restart(self, ref: str, timeout: int | None, sig: str | None) -> None:
        c = self.get(ref)
        if c.State.Running:
            # as moby: a --rm container is not removed by the stop of its restart (a flag in memory only:
            # a crash meanwhile must not leave the record without its --rm)
            lv = self._live(c)
            lv.restarting = True
            try:
                await self.stop(c.ID, timeout, sig)
            except NotModified:
                pass
            finally:
                lv.restarting = False
        await self.start(c.ID)
        self.container_event(c, "restart")

    async def commit(self, ref: str, repo: str, tag: str, author: str, comment: str, changes: list[str],
                     pause: bool, overrides: dict[str, Any]) -> str:
        """`docker commit`: the container's config (with `--change`s and body overrides) over its changes."""
        from .build_backend import DaemonBuildBackend
        c = self.get(ref)
        target = str(reference.parse_repo_tag(repo, tag)) if repo else ""
        config = {k: v for k, v in c.Config.items() if k in (
            "User", "ExposedPorts", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Volumes", "WorkingDir",
            "Entrypoint", "OnBuild", "Labels", "StopSignal", "Shell")}
        config.update({k: v for k, v in overrides.items() if v not in (None, "", [], {})})
        config = apply_changes(config, changes)
        paused = False
        if pause and c.State.Running and not c.State.Paused:
            await self.client.pause_task(c.ID)
            paused = True
        try:  # (its layer is sized as it is committed)
            image_id = await DaemonBuildBackend(self).commit_container(c.ID, config, author, comment)
        finally:
            if paused:
                await self.ignore_missing(self.client.resume_task(c.ID))
        if target:
            img = await self.images.resolve(image_id)
            assert img.target is not None
            await self.client.put_image(target, img.target)
        self.container_event(c, "commit", comment=comment)
        return image_id

    UPDATABLE = ("CpuShares", "Memory", "MemoryReservation", "MemorySwap", "NanoCpus", "CpuPeriod", "CpuQuota",
                 "CpusetCpus", "CpusetMems", "PidsLimit", "BlkioWeight", "RestartPolicy")

    async def update(self, ref: str, body: dict[str, Any]) -> list[str]:
        """`docker update`: resources (live via Tasks.Update when running) and the restart policy."""
        c = self.get(ref)
        unknown = [k for k, v in body.items() if k not in self.UPDATABLE and v not in (None, 0, "", [], {})]
        if unknown:
            raise InvalidParameter(f"updating {', '.join(sorted(unknown))} is not supported")
        policy = body.get("RestartPolicy") or {}
        if policy.get("Name") not in (None, "") and c.HostConfig.get("AutoRemove") and policy["Name"] != "no":
            raise InvalidParameter("Restart policy cannot be updated because AutoRemove is enabled for the container")
        # moby: NanoCpus and CpuPeriod/CpuQuota set the same limit, so one set blocks updating the other
        for key, what, other, other_what in (("NanoCpus", "Nano CPUs", "CpuPeriod", "CPU Period"),
                                             ("NanoCpus", "Nano CPUs", "CpuQuota", "CPU Quota"),
                                             ("CpuPeriod", "CPU Period", "NanoCpus", "NanoCPUs"),
                                             ("CpuQuota", "CPU Quota", "NanoCpus", "NanoCPUs")):
            if (body.get(key) or 0) > 0 and (c.HostConfig.get(other) or 0) > 0:
                raise Conflict(f"Cannot update container {c.ID}: Conflicting options: {what} cannot be updated "
                               f"as {other_what} has already been set")
        new_hc = dict(c.HostConfig)
        for k in self.UPDATABLE:
            if k in body and body[k] not in (None, 0, "") and k != "RestartPolicy":
                new_hc[k] = body[k]
        if policy.get("Name"):
            new_hc["RestartPolicy"] = {"Name": policy["Name"], "MaximumRetryCount": policy.get("MaximumRetryCount", 0)}
        if c.State.Running:
            await self.client.update_task(c.ID, oci.update_resources(new_hc))
        c.HostConfig = new_hc
        self.store.save(c)
        self.container_event(c, "update")
        return []

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        if not new_name:
            raise InvalidParameter("Neither old nor new names may be empty")
        new = self.names.validate(new_name)
        old = c.Name
        if new == old:
            raise InvalidParameter("Renaming a container with the same name as its current name")
        self.names.reserve(new, c.ID)
        self.names.release(old)
        c.Name = new
        self.store.save(c)
        self.container_event(c, "rename", oldName=old)

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        if not c.State.Running:
            raise Conflict(f"Container {c.ID} is not running")
        if c.State.Paused:
            raise Conflict(f"Container {c.ID} is already paused")
        await self.client.pause_task(c.ID)
        c.State.Paused, c.State.Status = True, "paused"
        self.store.save(c)
        self.container_event(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        if not c.State.Paused:
            raise Conflict(f"Container {c.ID} is not paused")
        await self.client.resume_task(c.ID)
        c.State.Paused, c.State.Status = False, "running"
        self.store.save(c)
        self.container_event(c, "unpause")

    async def stats(self, ref: str, stream: bool, one_shot: bool) -> AsyncIterator[dict[str, Any]]:
        """Samples of the container's resource use, one a second while `stream` (dockerd's collector)."""
        from . import stats as _stats  # noqa: PLC0415
        c = self.get(ref)
        networked = (c.HostConfig.get("NetworkMode") or "default") not in ("host", "none")
        prev: dict[str, Any] | None = None
        while True:
            if not c.State.Running or c.ID not in self.containers:
                yield _stats.empty_stats(c.ID, c.Name)
                if not stream:
                    return
                prev = None
                await asyncio.sleep(1)
                continue
            try:
                metrics = await self.client.metrics(c.ID)
            except NotFound:
                metrics = None
            sample = _stats.build(c.ID, c.Name, metrics, c.State.Pid, networked, prev)
            if not stream and not one_shot and prev is None:
                prev = sample  # like dockerd, --no-stream waits for a second sample to fill precpu
                await asyncio.sleep(1)
                continue
            yield sample
            if not stream:
                return
            prev = sample
            await asyncio.sleep(1)

    async def changes(self, ref: str) -> list[dict[str, Any]]:
        """`docker diff`: the container's filesystem against its image's (fsdiff has the rule), both
        mounted read-only: the container's snapshot and a view of its parent."""
        c = self.get(ref)
        mounts = await self.client.snapshot_mounts(c.ID)
        parent = await self.client.snapshot_parent(c.ID)
        upper = fsdiff.upper_dir(mounts[0]) if len(mounts) == 1 else None
        key = f"diff-view-{secrets.token_hex(8)}"
        try:
            async with contextlib.AsyncExitStack() as stack:
                new = await stack.enter_async_context(mounted(mounts, self.tmp_root))
                old = None
                if parent:
                    view = await self.client.view_snapshot(key, parent)
                    old = await stack.enter_async_context(mounted(view, self.tmp_root))
                return await asyncio.to_thread(fsdiff.changes, new, old, upper)
        except OSError as exc:
            raise SystemError_(str(exc)) from None
        finally:
            if parent:
                await self.ignore_missing(self.client.remove_snapshot(key))

    async def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        """moby's top: the host's `ps` output restricted to the container's pids."""
        c = self.get(ref)
        if not c.State.Running:
            raise Conflict(f"Container {c.ID} is not running")
        pids = set(await self.client.list_pids(c.ID))
        args = ps_args.split() if ps_args else ["-ef"]

        async def ps(*argv: str) -> tuple[int, bytes, bytes]:
            proc = await asyncio.create_subprocess_exec("ps", *argv, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate()
            return proc.returncode or 0, out, err
        # as moby: only the container's pids (`-q`, so `u` or `x` still list them); some options
        # (such as f) do not go with -q: then every process, filtered below
        code, out, err = await ps(*args, "-q", ",".join(str(p) for p in sorted(pids)))
        if code != 0:
            code, out, err = await ps(*args)
        if code != 0:
            first = err.decode(errors="replace").strip().splitlines()[:1]
            raise SystemError_(f"ps: {first[0] if first else f'exit status {code}'}")
        lines = out.decode(errors="replace").splitlines()
        if not lines:
            return {"Titles": [], "Processes": []}
        titles = lines[0].split()
        if "PID" not in titles:
            raise SystemError_("Couldn't find PID field in ps output")
        col = titles.index("PID")
        procs = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
                procs.append(fields)
        return {"Titles": titles, "Processes": procs}

    async def prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        until = filters_mod.check(filters, filters_mod.PRUNE_CONTAINERS)
        deleted = []
        for c in list(self.containers.values()):
            if c.State.Running or c.State.Paused:
                continue
            if not filters_mod.labels_match(filters, c.Config.get("Labels") or {}) \
                    or not filters_mod.older_than(until, parse_rfc3339(c.Created)):
                continue
            try:
                await self.remove(c.ID, False, False)
                deleted.append(c.ID)
            except DockerError:
                continue
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": 0}

    def container_event(self, c: Container, action: str, **extra: str) -> None:
        attrs = {k: str(v) for k, v in (c.Config.get("Labels") or {}).items()}
        attrs.update(image=c.Config.get("Image", ""), name=c.Name.lstrip("/"), **extra)
        self.events.publish("container", action, c.ID, attrs)

    # --- attach / logs / resize -----------------------------------------------------------------
    def hub(self, c: Container) -> StreamHub:
        return self._live(c).hub

    @staticmethod
    def check_log_reading(c: Container) -> None:
        """moby's ErrReadLogsNotSupported: `--log-driver none` keeps nothing to read."""
        if (c.HostConfig.get("LogConfig") or {}).get("Type") == "none":
            raise NotImplementedYet("configured logging driver does not support reading")

    def log_entries(self, c: Container, q: LogQuery) -> list[LogEntry]:
        return read_entries(c.LogPath, q)

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        if not c.State.Running:
            raise Conflict(f"Container {c.ID} is not running")
        await self.client.resize_pty(c.ID, width, height)

    # --- list / inspect -------------------------------------------------------------------------
    def inspect(self, ref: str) -> dict[str, Any]:
        c = self.get(ref)
        st = c.State
        state = {"Status": st.Status, "Running": st.Running, "Paused": st.Paused,
                 "Restarting": st.Restarting, "OOMKilled": st.OOMKilled, "Dead": st.Dead, "Pid": st.Pid,
                 "ExitCode": st.ExitCode, "Error": st.Error, "StartedAt": st.StartedAt,
                 "FinishedAt": st.FinishedAt}
        if c.Health:
            state["Health"] = c.Health
        return {
            "Id": c.ID, "Created": c.Created, "Path": c.Path, "Args": c.Args, "State": state,
            "Image": c.Image, "ResolvConfPath": c.ResolvConfPath, "HostnamePath": c.HostnamePath,
            "HostsPath": c.HostsPath, "LogPath": c.LogPath, "Name": c.Name,
            "RestartCount": c.RestartCount, "Driver": c.Driver, "Platform": c.Platform,
            "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
            "ExecIDs": self.execs.for_container(c.ID) or None,
            "HostConfig": full_host_config(c.HostConfig),
            "GraphDriver": {"Name": c.Driver, "Data": None},
            "Mounts": mount_points(c.HostConfig) + self._volume_points(c),
            "Config": c.Config,
            "NetworkSettings": network_settings(c),
        }

    def _volume_points(self, c: Container) -> list[dict[str, Any]]:
        return [{"Type": "volume", "Name": v["Name"], "Source": self.volumes.mountpoint(v["Name"]),
                 "Destination": v["Destination"], "Driver": "local", "Mode": v.get("Mode", "z"), "RW": v["RW"],
                 "Propagation": ""} for v in c.VolumeMounts]

    def list(self, all_: bool, limit: int, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
        """/containers/json, newest first, with moby's filters (container_matches; before/since here)."""
        check_filters(filters)
        # (the last of several values counts, as moby's WalkValues leaves it)
        before = self.get(filters["before"][-1]) if filters.get("before") else None
        since = self.get(filters["since"][-1]) if filters.get("since") else None
        cs = sorted(self.containers.values(), key=lambda c: c.Created, reverse=True)
        # moby lists stopped containers too with -a, a limit, or a status/exited filter.
        show_all = all_ or limit > 0 or "status" in filters or "exited" in filters
        out = []
        for c in cs:
            if before is not None:  # only what comes after it (older)
                if c.ID == before.ID:
                    before = None
                continue
            if since is not None and c.ID == since.ID:
                break  # only what came before it (newer)
            if not show_all and not c.State.Running:
                continue
            if not container_matches(c, filters, self._volume_points):
                continue
            out.append(summary(c, self._volume_points(c)))
            if limit > 0 and len(out) >= limit:
                break
        return out

    def counts(self) -> dict[str, int]:
        running = sum(1 for c in self.containers.values() if c.State.Running and not c.State.Paused)
        paused = sum(1 for c in self.containers.values() if c.State.Paused)
        total = len(self.containers)
        return {"Containers": total, "ContainersRunning": running, "ContainersPaused": paused,
                "ContainersStopped": total - running - paused}

    # --- images -----------------------------------------------------------------------------------
    def prepare_import(self, repo: str, tag: str, changes: list[str], message: str,
                       platform: str) -> tuple[str, bytes]:
        """Validate `docker import` parameters (before any output) → (image name, config JSON)."""
        ref = str(reference.parse_repo_tag(repo, tag)) if repo else ""
        now = now_rfc3339()
        os_, _, arch = (platform or f"linux/{HOST_ARCH}").partition("/")
        cfg = apply_changes({}, changes)
        config = {"architecture": arch or HOST_ARCH, "os": os_ or "linux", "created": now, "config": cfg,
                  "rootfs": {"type": "layers", "diff_ids": []},
                  "history": [{"created": now, "created_by": "", "comment": message or "Imported from -"}]}
        return ref, json.dumps(config).encode()

    async def import_rootfs(self, chunks: AsyncIterator[bytes], ref: str, config: bytes) -> str:
        """Stream a rootfs tar to the Importer; returns the new image's ID."""
        image_id = ""
        async for _status, images in self.images.import_stream(chunks, "rootfs", ref, config):
            for rec in images:
                image_id = (await self.images.from_record(rec)).id
            self.measure_later(rec.target for rec in images)
        if not image_id:
            raise SystemError_("import did not create an image")
        return image_id


def merge_image_config(user: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """moby's daemon.merge: the image config fills what the create request left empty."""
    out = dict(user)
    if not out.get("User"):
        out["User"] = image.get("User", "")
    if image.get("ExposedPorts"):
        ports = dict(image["ExposedPorts"])
        ports.update(out.get("ExposedPorts") or {})
        out["ExposedPorts"] = ports
    img_env = image.get("Env") or []
    if img_env:
        user_keys = {e.split("=", 1)[0] for e in out.get("Env") or []}
        # moby's order: the user's, then the image's the user did not set
        out["Env"] = list(out.get("Env") or []) + [e for e in img_env if e.split("=", 1)[0] not in user_keys]
    labels = dict(image.get("Labels") or {})
    labels.update(out.get("Labels") or {})
    out["Labels"] = labels
    if not out.get("Entrypoint"):
        if not out.get("Cmd"):
            out["Cmd"] = image.get("Cmd")
        out["Entrypoint"] = image.get("Entrypoint")
    if not out.get("WorkingDir"):
        out["WorkingDir"] = image.get("WorkingDir", "")
    if image.get("Volumes"):
        vols = dict(image["Volumes"])
        vols.update(out.get("Volumes") or {})
        out["Volumes"] = vols
    if not out.get("StopSignal") and image.get("StopSignal"):
        out["StopSignal"] = image["StopSignal"]
    if not out.get("Healthcheck") and image.get("Healthcheck"):
        out["Healthcheck"] = image["Healthcheck"]
    if not out.get("OnBuild") and image.get("OnBuild"):
        out["OnBuild"] = image["OnBuild"]
    return out


def full_host_config(hc: dict[str, Any]) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "default", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0], "CapAdd": None,
        "CapDrop": None, "CgroupnsMode": "host", "Dns": [], "DnsOptions": [], "DnsSearch": [],
        "ExtraHosts": None, "GroupAdd": None, "IpcMode": "private", "Cgroup": "", "Links": None,
        "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False,
        "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864,
        "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
        "CgroupParent": "", "BlkioWeight": 0, "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "",
        "CpusetMems": "", "Devices": [], "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": None, "OomKillDisable": False, "PidsLimit": None, "Ulimits": None,
        "Mounts": None, "Tmpfs": None, "MaskedPaths": oci.MASKED_PATHS, "ReadonlyPaths": oci.READONLY_PATHS,
    }
    out = dict(defaults)
    out.update({k: v for k, v in hc.items()})
    if hc.get("Privileged"):
        out["MaskedPaths"], out["ReadonlyPaths"] = None, None
    return out


def mount_points(hc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for bind in hc.get("Binds") or []:
        parts = bind.split(":")
        if len(parts) >= 2 and parts[0].startswith("/"):  # named volumes are listed as volumes
            mode = parts[2] if len(parts) == 3 else ""
            out.append({"Type": "bind", "Source": parts[0], "Destination": parts[1], "Mode": mode,
                        "RW": "ro" not in mode.split(","), "Propagation": "rprivate"})
    for m in hc.get("Mounts") or []:
        if m.get("Type") == "volume":
            continue
        out.append({"Type": m.get("Type", ""), "Source": m.get("Source", ""),
                    "Destination": m.get("Target", ""), "Mode": "", "RW": not m.get("ReadOnly"),
                    "Propagation": "rprivate" if m.get("Type") == "bind" else ""})
    return out


def _endpoints(c: Container) -> list[network.EndpointInfo]:
    return [network.EndpointInfo(**e) for e in c.Endpoints or []]


def network_settings(c: Container) -> dict[str, Any]:
    eps = _endpoints(c)
    nets = {e.network: e.settings() for e in eps}
    if not nets:
        names = network.networks_to_join(c.HostConfig, c.EndpointsConfig) or [network.mode_of(c.HostConfig)]
        nets = {n: network.empty_settings(network.aliases_for(n, c.ID, (c.EndpointsConfig or {}).get(n) or {}))
                for n in names if not n.startswith("container:")}
    primary = eps[0] if eps else None
    return {"Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": network.ports_map(c.Config, eps),
            "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": primary.endpoint_id if primary else "", "Gateway": primary.gateway if primary else "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": primary.ip if primary else "",
            "IPPrefixLen": primary.prefix_len if primary else 0, "IPv6Gateway": "",
            "MacAddress": primary.mac if primary else "", "Networks": nets}


def _human_duration(seconds: float) -> str:
    """Go's units.HumanDuration, used in `Up 5 seconds` / `Exited (0) 2 minutes ago`."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def status_text(st: State) -> str:
    now = time.time()
    if st.Status == "removing":
        return "Removal In Progress"
    if st.Running:
        up = "Up " + _human_duration(now - parse_rfc3339(st.StartedAt))
        return up + " (Paused)" if st.Paused else up
    if st.Dead:
        return "Dead"
    if st.FinishedAt == ZERO_TIME:
        return "Created"
    return f"Exited ({st.ExitCode}) {_human_duration(now - parse_rfc3339(st.FinishedAt))} ago"


def _health_suffix(c: Container) -> str:
    if not c.State.Running or not c.Health:
        return ""
    status = c.Health.get("Status", "")
    return " (health: starting)" if status == "starting" else f" ({status})"


def _quote(arg: str) -> str:
    return arg if arg and all(ch.isalnum() or ch in "-_./=:,@%+" for ch in arg) else "'" + arg.replace("'", "'\\''") + "'"


def summary(c: Container, volume_points: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A /containers/json entry; `volume_points` are its volumes' mount points (Daemon._volume_points),
    listed with its other mounts as moby does (the CLI counts them as LOCAL VOLUMES)."""
    cmd = " ".join(_quote(a) for a in [c.Path, *c.Args])
    mode = c.HostConfig.get("NetworkMode") or "default"
    return {
        "Id": c.ID, "Names": [c.Name], "Image": c.Config.get("Image", ""), "ImageID": c.Image,
        "Command": cmd, "Created": int(parse_rfc3339(c.Created)),
        "Ports": network.summary_ports(c.Config, _endpoints(c)),
        "Labels": c.Config.get("Labels") or {}, "State": c.State.Status,
        "Status": status_text(c.State) + _health_suffix(c),
        "HostConfig": {"NetworkMode": "bridge" if mode == "default" else mode},
        "NetworkSettings": {"Networks": network_settings(c)["Networks"]},
        "Mounts": mount_points(c.HostConfig) + list(volume_points or []),
    }


HEALTH_STATES = ("starting", "healthy", "unhealthy", "none")


@functools.lru_cache(maxsize=64)
def _ports(key: str, values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_ports_filter(key, list(values)))


def _ports_filter(key: str, values: list[str]) -> set[str]:
    """publish/expose values (`80`, `80/udp`, `8000-8010/tcp`) as the "port/proto" keys they match."""
    ports = set()
    for v in values:
        if ":" in v:
            raise InvalidParameter(f"filter for '{key}' should not contain ':': {v}")
        port, _, proto = v.partition("/")
        lo, _, hi = port.partition("-")
        if not lo.isdigit() or not (hi or lo).isdigit() or int(lo) > int(hi or lo) or int(hi or lo) > 65535:
            raise InvalidParameter(f"error while looking up for {key} {v}: invalid port range: {port}")
        ports.update(f"{n}/{proto or 'tcp'}" for n in range(int(lo), int(hi or lo) + 1))
    return ports


def check_filters(filters: dict[str, list[str]]) -> None:
    """The /containers/json filter keys and the values moby checks before listing (400 otherwise)."""
    for key, values in filters.items():
        if key not in ("id", "name", "status", "exited", "label", "ancestor", "before", "since", "network",
                       "volume", "health", "publish", "expose", "isolation", "is-task"):
            raise InvalidParameter(f"invalid filter '{key}'")
        for v in values:
            if key == "status" and v not in ("created", "restarting", "running", "removing", "paused", "exited",
                                             "dead"):
                raise InvalidParameter(f"invalid filter 'status={v}'")
            if key == "exited" and not re.fullmatch(r"-?[0-9]+", v):
                raise InvalidParameter(f'strconv.Atoi: parsing "{v}": invalid syntax')
            if key == "health" and v not in HEALTH_STATES:
                raise InvalidParameter(f"Unrecognised filter value for health: {v}")
            if key == "is-task" and v not in ("true", "false"):
                raise InvalidParameter(f"invalid filter 'is-task=[{' '.join(values)}]'")  # (moby prints the list)
        if key in ("publish", "expose"):
            _ports_filter(key, values)


def container_matches(c: Container, filters: dict[str, list[str]],
                      volume_points: Callable[[Container], list[dict[str, Any]]] | None = None) -> bool:
    """moby's /containers/json filters on one container (values checked by check_filters; before and
    since are positions in the list, Daemon.list applies them). The network and volume filters look at
    its /containers/json summary, made (with `volume_points`) only when one of them is asked."""
    entry: dict[str, Any] | None = None
    for key, values in filters.items():
        if not values or key in ("before", "since", "isolation"):  # (isolation: Windows only, moby ignores it)
            continue
        if key == "id":
            if not any(c.ID.startswith(v) for v in values):
                return False
        elif key == "name":
            if not any(re.search(v, c.Name) or re.search(v, c.Name.lstrip("/")) for v in values):
                return False
        elif key == "status":
            if c.State.Status not in values:
                return False
        elif key == "exited":
            if c.State.Running or c.State.FinishedAt == ZERO_TIME:
                return False
            if not any(int(v) == c.State.ExitCode for v in values):
                return False
        elif key == "label":
            if not filters_mod.labels_match({"label": values}, c.Config.get("Labels") or {}):
                return False
        elif key == "ancestor":
            if not any(v == c.Config.get("Image") or c.Image.startswith(v if v.startswith("sha256:") else "sha256:" + v)
                       or _same_repo(v, c.Config.get("Image", "")) for v in values):
                return False
        elif key == "health":
            if (c.Health.get("Status") if c.Health else "none") not in values:
                return False
        elif key == "is-task":
            if "true" in values:  # no container of this engine is a swarm task
                return False
        elif key in ("publish", "expose"):
            have = c.HostConfig.get("PortBindings") if key == "publish" else c.Config.get("ExposedPorts")
            if not _ports(key, tuple(values)) & set(have or {}):
                return False
        else:  # network, volume: by the container's summary
            if entry is None:
                entry = summary(c, volume_points(c) if volume_points else None)
            if key == "network":
                nets = (entry["NetworkSettings"] or {}).get("Networks") or {}
                if not any(v in nets or any((n or {}).get("NetworkID", "").startswith(v) for n in nets.values())
                           for v in values):
                    return False
            elif not any(v in (m.get("Name") or m.get("Source"), m.get("Destination"))
                         for m in entry["Mounts"] for v in values):
                return False
    return True


def _same_repo(a: str, b: str) -> bool:
    try:
        return str(reference.parse(a)) == str(reference.parse(b))
    except DockerError:
        return False
