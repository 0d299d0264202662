"""The daemon: wires the core stores to the gRPC servicers on a unix socket."""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc

from protos.containerd.events import task_pb2 as task_events
from protos.containerd.services.containers.v1 import containers_pb2_grpc
from protos.containerd.services.content.v1 import content_pb2_grpc
from protos.containerd.services.diff.v1 import diff_pb2_grpc
from protos.containerd.services.events.v1 import events_pb2_grpc
from protos.containerd.services.images.v1 import images_pb2_grpc
from protos.containerd.services.introspection.v1 import introspection_pb2_grpc
from protos.containerd.services.leases.v1 import leases_pb2_grpc
from protos.containerd.services.namespaces.v1 import namespace_pb2_grpc
from protos.containerd.services.snapshots.v1 import snapshots_pb2_grpc
from protos.containerd.services.tasks.v1 import tasks_pb2_grpc
from protos.containerd.services.version.v1 import version_pb2_grpc
from protos.pycontainerd.services.importer.v1 import importer_pb2_grpc
from protos.pycontainerd.services.registry.v1 import registry_pb2_grpc

from . import gc
from .containers import ContainerStore
from .content import ContentStore
from .errdefs import InvalidArgument
from .events import Exchange
from .images import ImageStore
from .importer import Importer
from .leases import LeaseManager
from .metadata import Store
from .mount import unmount_all
from .services import (containers, content, diff, distribution, events, images, importer, introspection,
                       leases, namespaces, snapshots, tasks, version)
from .services.common import ts
from .snapshots import Snapshotter, overlay
from .snapshots.native import NativeSnapshotter
from .snapshots.overlay import OverlaySnapshotter
from .tasks import TaskManager

log = logging.getLogger("pycontainerd")
MAX_MSG = 16 << 20  # containerd's default gRPC receive limit


@dataclass
class NetworksConfig:
    """Bridge networking (pycontainerd/networks), served as pycontainerd.services.networks.v1.Networks."""
    bridge: str = "pyd0"
    bip: str = ""
    chain_prefix: str = "PYDOCKER"
    iptables: bool = True
    userland_proxy: bool = True
    address_pools: list[str] = field(default_factory=list)
    remove_bridges_on_exit: bool = False


@dataclass
class Config:
    address: str
    root: str
    state: str
    runtime: str
    networks: NetworksConfig | None = None  # None: no Networks service, the host's network is untouched
    snapshotter: str = overlay.NAME  # the default snapshotter: imports and pulls unpack into it


SNAPSHOTTERS = (overlay.NAME, "native")


class _LogCalls(grpc.aio.ServerInterceptor):
    """--log-level debug: one line per call with its method and namespace."""

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        ns = dict(handler_call_details.invocation_metadata or ()).get("containerd-namespace", "")
        log.debug("call %s namespace=%s", handler_call_details.method, ns)
        return await continuation(handler_call_details)


class Daemon:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        for d in (cfg.root, cfg.state):
            os.makedirs(d, mode=0o711, exist_ok=True)
        self.meta = Store(os.path.join(cfg.root, "io.containerd.metadata.v1.bolt", "meta.db"))
        self.content = ContentStore(os.path.join(cfg.root, "io.containerd.content.v1.content"), self.meta)
        self.snapshotters = self._load_snapshotters(cfg)
        self.snapshotter: Snapshotter = self.snapshotters[cfg.snapshotter]
        self.images = ImageStore(self.meta)
        self.containers = ContainerStore(self.meta)
        self.leases = LeaseManager(self.meta)
        self.events = Exchange()
        self.tmp_dir = os.path.join(cfg.root, "tmpmounts")
        # Apply mounts left by a crash mid-unpack are stale: unmount, then start empty.
        if os.path.isdir(self.tmp_dir):
            unmount_all(self.tmp_dir)
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.importer = Importer(self.content, self.snapshotter, self.images, self.tmp_dir)
        self.tasks = TaskManager(cfg.state, cfg.runtime, self.containers, self._task_exited, self._task_oom)
        self.uuid = self._uuid()
        self.server: grpc.aio.Server | None = None
        self.networks: Any = None
        self._gc_locks: dict[str, asyncio.Lock] = {}
        self._background: set[asyncio.Task] = set()

    def _load_snapshotters(self, cfg: Config) -> dict[str, Snapshotter]:
        """Native always, overlayfs where the filesystem under the root takes overlay mounts (as containerd
        loads every snapshotter plugin that can work). A default that cannot load falls back to native."""
        if cfg.snapshotter not in SNAPSHOTTERS:
            raise ValueError(f"unknown snapshotter {cfg.snapshotter!r}: want one of {', '.join(SNAPSHOTTERS)}")
        out: dict[str, Snapshotter] = {}
        overlay_root = os.path.join(cfg.root, "io.containerd.snapshotter.v1.overlayfs")
        why = overlay.supported(overlay_root)
        self.snapshotter_status = {"native": "", overlay.NAME: why}  # for Introspection.Plugins
        if why:
            log.warning("overlayfs snapshotter not supported on the filesystem of %s: %s", cfg.root, why)
        else:
            out[overlay.NAME] = OverlaySnapshotter(overlay_root, self.meta)
        out["native"] = NativeSnapshotter(os.path.join(cfg.root, "io.containerd.snapshotter.v1.native"), self.meta)
        if cfg.snapshotter not in out:
            log.warning("falling back to the native snapshotter (every snapshot a full copy)")
            cfg.snapshotter = "native"
        log.info("snapshotters: %s (default %s)", ", ".join(out), cfg.snapshotter)
        return out

    def snapshotter_named(self, name: str) -> Snapshotter:
        """A loaded snapshotter by plugin id; '' is the default one."""
        if not name:
            return self.snapshotter
        try:
            return self.snapshotters[name]
        except KeyError:
            raise InvalidArgument(f"snapshotter not loaded: {name}") from None

    async def gc(self, ns: str, released: frozenset[str] = frozenset()) -> None:
        """Collect what `ns` no longer references (one collection per namespace at a time);
        `released`: targets of deleted images, whose content skips the young-object grace."""
        lock = self._gc_locks.setdefault(ns, asyncio.Lock())
        async with lock:
            await asyncio.to_thread(gc.collect, ns, self.content, list(self.snapshotters.values()), self.images,
                                    self.leases, None, released)

    def gc_soon(self, ns: str) -> None:
        """Schedule a collection, as containerd does after deletes that are not `sync`."""
        t = asyncio.ensure_future(self.gc(ns))
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    def _task_exited(self, ns: str, cid: str, exec_id: str, pid: int, status: int, exited_at: float) -> None:
        log.info("task %s/%s%s (pid %d) exited with status %d", ns, cid, f" exec {exec_id}" if exec_id else "",
                 pid, status)
        self.events.publish(ns, "/tasks/exit", task_events.TaskExit(
            container_id=cid, id=exec_id or cid, pid=pid, exit_status=status, exited_at=ts(exited_at)))

    def _task_oom(self, ns: str, cid: str) -> None:
        self.events.publish(ns, "/tasks/oom", task_events.TaskOOM(container_id=cid))

    def _uuid(self) -> str:
        path = os.path.join(self.cfg.root, "uuid")
        try:
            with open(path) as f:
                return f.read().strip()
        except FileNotFoundError:
            u = str(uuid.uuid4())
            with open(path + ".tmp", "w") as f:
                f.write(u)
            os.replace(path + ".tmp", path)
            return u

    async def start(self) -> None:
        await self.tasks.restore()
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", MAX_MSG),
                                          ("grpc.max_send_message_length", MAX_MSG)],
                                 interceptors=[_LogCalls()] if log.isEnabledFor(logging.DEBUG) else [])
        version_pb2_grpc.add_VersionServicer_to_server(version.VersionService(), server)
        introspection_pb2_grpc.add_IntrospectionServicer_to_server(introspection.IntrospectionService(
            self.uuid, self.snapshotter_status), server)
        namespace_pb2_grpc.add_NamespacesServicer_to_server(namespaces.NamespacesService(self), server)
        events_pb2_grpc.add_EventsServicer_to_server(events.EventsService(self), server)
        content_pb2_grpc.add_ContentServicer_to_server(content.ContentService(self), server)
        images_pb2_grpc.add_ImagesServicer_to_server(images.ImagesService(self), server)
        leases_pb2_grpc.add_LeasesServicer_to_server(leases.LeasesService(self), server)
        snapshots_pb2_grpc.add_SnapshotsServicer_to_server(snapshots.SnapshotsService(self), server)
        diff_pb2_grpc.add_DiffServicer_to_server(diff.DiffService(self), server)
        containers_pb2_grpc.add_ContainersServicer_to_server(containers.ContainersService(self), server)
        tasks_pb2_grpc.add_TasksServicer_to_server(tasks.TasksService(self), server)
        importer_pb2_grpc.add_ImporterServicer_to_server(importer.ImporterService(self), server)
        registry_pb2_grpc.add_RegistryServicer_to_server(distribution.RegistryService(self), server)
        if self.cfg.networks is not None:
            await self._start_networks(server, self.cfg.networks)
        addr = self.cfg.address
        os.makedirs(os.path.dirname(os.path.abspath(addr)), exist_ok=True)
        if os.path.exists(addr):
            os.unlink(addr)  # a stale socket from a previous run
        server.add_insecure_port(f"unix://{os.path.abspath(addr)}")
        await server.start()
        os.chmod(addr, 0o660)
        self.server = server
        log.info("serving on %s", addr)

    async def _start_networks(self, server: grpc.aio.Server, nc: NetworksConfig) -> None:
        # Imported here: the networks package pulls in pyroute2, which only this feature needs.
        from .networks.manager import ManagerConfig, NetworkManager
        from .networks.service import register
        manager = NetworkManager(ManagerConfig(
            root=os.path.join(self.cfg.root, "io.pydocker.networks"),
            state=os.path.join(self.cfg.state, "io.pydocker.networks"),
            default_bridge=nc.bridge, default_subnet=nc.bip, chain_prefix=nc.chain_prefix, iptables=nc.iptables,
            userland_proxy=nc.userland_proxy, subnet_pools=list(nc.address_pools)))
        await manager.start()
        register(server, manager)
        self.networks = manager

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(grace=1)
        if self.networks is not None:
            nc = self.cfg.networks
            await self.networks.close(remove_rules=True, remove_bridges=bool(nc and nc.remove_bridges_on_exit))
        for t in list(self.tasks.tasks.values()):
            for m in t.monitors():
                m.cancel()
        self.tasks.close()  # the shim zygote goes now rather than when it notices its socket closed
        self.meta.close()
        try:
            os.unlink(self.cfg.address)
        except OSError:
            pass

