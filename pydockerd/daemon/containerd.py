"""A thin asyncio client of (py)containerd's gRPC API, in the `moby` namespace.

It turns gRPC status codes into pydockerd's error classes (NOT_FOUND → NotFound, …) and hides the
protobuf plumbing (Any-wrapped JSON specs, namespace metadata) from the rest of the backend.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import grpc
from google.protobuf import any_pb2, empty_pb2, field_mask_pb2

from protos.containerd.events import task_pb2 as task_events_pb2
from protos.containerd.services.containers.v1 import containers_pb2, containers_pb2_grpc
from protos.containerd.services.events.v1 import events_pb2, events_pb2_grpc
from protos.containerd.services.content.v1 import content_pb2, content_pb2_grpc
from protos.containerd.services.diff.v1 import diff_pb2, diff_pb2_grpc
from protos.containerd.services.images.v1 import images_pb2, images_pb2_grpc
from protos.containerd.services.snapshots.v1 import snapshots_pb2, snapshots_pb2_grpc
from protos.containerd.services.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from protos.containerd.services.version.v1 import version_pb2_grpc
from protos.containerd.types import mount_pb2
from protos.containerd.types.runc.options import oci_pb2 as runc_options_pb2
from protos.pycontainerd.services.importer.v1 import importer_pb2, importer_pb2_grpc
from protos.pycontainerd.services.networks.v1 import networks_pb2, networks_pb2_grpc
from protos.pycontainerd.services.registry.v1 import registry_pb2, registry_pb2_grpc

from ..errors import (AlreadyExists, DockerError, FailedPrecondition, Forbidden, InvalidParameter, NotFound,
                      NotImplementedYet, SystemError_, Unauthorized, Unavailable)

NAMESPACE = "moby"
SNAPSHOTTER = "overlayfs"
RUNTIME_NAME = "io.containerd.runc.v2"
SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"
RUNC_OPTIONS_TYPE_URL = "containerd.runc.v1.Options"
MAX_MSG = 16 << 20
# pycontainerd's Snapshots.Usage header that asks for Docker's size rule instead of containerd's
USAGE_RULE_HEADER, USAGE_RULE_DIFFSIZE = "pycontainerd-usage-rule", "diffsize"

T = TypeVar("T")

_CODES: dict[grpc.StatusCode, type[DockerError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidParameter,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNIMPLEMENTED: NotImplementedYet,
    grpc.StatusCode.PERMISSION_DENIED: Forbidden,
    grpc.StatusCode.UNAUTHENTICATED: Unauthorized,
}


def translate(exc: grpc.aio.AioRpcError) -> DockerError:
    cls = _CODES.get(exc.code(), SystemError_)
    return cls(exc.details() or exc.code().name.lower())


@dataclass
class Descriptor:
    media_type: str
    digest: str
    size: int


@dataclass
class ImageRecord:
    name: str
    target: Descriptor
    labels: dict[str, str]
    created: float  # unix seconds


def _image_record(img: Any) -> ImageRecord:
    t = img.target
    created = img.created_at.seconds + img.created_at.nanos / 1e9 if img.HasField("created_at") else 0.0
    return ImageRecord(img.name, Descriptor(t.media_type, t.digest, t.size), dict(img.labels), created)


def mounts_to_dicts(mounts: list[Any]) -> list[dict[str, Any]]:
    return [{"type": m.type, "source": m.source, "target": m.target, "options": list(m.options)}
            for m in mounts]


class ContainerdClient:
    """One channel to the containerd socket; every call carries `containerd-namespace: moby`."""

    def __init__(self, address: str, namespace: str = NAMESPACE) -> None:
        self.address = address
        self.namespace = namespace
        self._channel = grpc.aio.insecure_channel(
            f"unix://{address}",
            options=[("grpc.max_receive_message_length", MAX_MSG),
                     ("grpc.max_send_message_length", MAX_MSG)])
        self._md = (("containerd-namespace", namespace),)
        self.snapshotter = SNAPSHOTTER  # what snapshots are asked of (resolve_snapshotter)
        self.images = images_pb2_grpc.ImagesStub(self._channel)
        self.content = content_pb2_grpc.ContentStub(self._channel)
        self.snapshots = snapshots_pb2_grpc.SnapshotsStub(self._channel)
        self.containers = containers_pb2_grpc.ContainersStub(self._channel)
        self.tasks = tasks_pb2_grpc.TasksStub(self._channel)
        self.version_svc = version_pb2_grpc.VersionStub(self._channel)
        self.importer = importer_pb2_grpc.ImporterStub(self._channel)
        self.networks = networks_pb2_grpc.NetworksStub(self._channel)
        self.registry = registry_pb2_grpc.RegistryStub(self._channel)
        self.events = events_pb2_grpc.EventsStub(self._channel)
        self.diff = diff_pb2_grpc.DiffStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, fn: Callable[..., Awaitable[T]], req: Any, timeout: float | None = None,
                    metadata: tuple[tuple[str, str], ...] = ()) -> T:
        try:
            return await fn(req, metadata=self._md + metadata, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from None

    # --- version ------------------------------------------------------------------------------
    async def version(self, timeout: float | None = None) -> tuple[str, str]:
        resp = await self._call(self.version_svc.Version, empty_pb2.Empty(), timeout)
        return resp.version, resp.revision

    async def resolve_snapshotter(self, wanted: str) -> str:
        """Use `wanted` if containerd loaded it, else native (a filesystem without overlay support)."""
        from protos.containerd.services.introspection.v1 import introspection_pb2, introspection_pb2_grpc
        stub = introspection_pb2_grpc.IntrospectionStub(self._channel)
        resp = await self._call(stub.Plugins, introspection_pb2.PluginsRequest(
            filters=['type=="io.containerd.snapshotter.v1"']))
        ok = {p.id for p in resp.plugins if not p.init_err.message}
        self.snapshotter = wanted if wanted in ok or "native" not in ok else "native"
        return self.snapshotter

    async def wait_ready(self, timeout: float) -> None:
        """Poll Version until the server answers (it may still be starting)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await self.version(timeout=2)
                return
            except DockerError:
                if loop.time() > deadline:
                    raise Unavailable(f"containerd did not start: no answer on {self.address}") from None
                await asyncio.sleep(0.05)

    # --- images and content -------------------------------------------------------------------
    async def get_image(self, name: str) -> ImageRecord:
        resp = await self._call(self.images.Get, images_pb2.GetImageRequest(name=name))
        return _image_record(resp.image)

    async def list_images(self, filters: list[str] | None = None) -> list[ImageRecord]:
        resp = await self._call(self.images.List, images_pb2.ListImagesRequest(filters=filters or []))
        return [_image_record(i) for i in resp.images]

    async def put_image(self, name: str, target: Descriptor, labels: dict[str, str] | None = None) -> None:
        """Create the image record, or point an existing name at `target` (docker tag)."""
        from protos.containerd.types import descriptor_pb2
        img = images_pb2.Image(name=name, labels=labels or {}, target=descriptor_pb2.Descriptor(
            media_type=target.media_type, digest=target.digest, size=target.size))
        try:
            await self._call(self.images.Create, images_pb2.CreateImageRequest(image=img))
        except AlreadyExists:
            await self._call(self.images.Update, images_pb2.UpdateImageRequest(image=img))

    async def delete_image(self, name: str) -> None:
        await self._call(self.images.Delete, images_pb2.DeleteImageRequest(name=name, sync=True))

    async def read_blob(self, digest: str) -> bytes:
        chunks = []
        try:
            async for resp in self.content.Read(content_pb2.ReadContentRequest(digest=digest),
                                                metadata=self._md):
                chunks.append(resp.data)
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from None
        return b"".join(chunks)

    async def read_blob_chunks(self, digest: str) -> AsyncIterator[bytes]:
        try:
            async for resp in self.content.Read(content_pb2.ReadContentRequest(digest=digest),
                                                metadata=self._md):
                yield resp.data
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from None

    async def write_blob(self, data: bytes) -> str:
        """Store `data` in the content store (an existing blob is fine: content is addressed by digest)."""
        import hashlib
        import secrets
        digest = "sha256:" + hashlib.sha256(data).hexdigest()

        async def reqs() -> AsyncIterator[Any]:
            yield content_pb2.WriteContentRequest(action=content_pb2.COMMIT, ref=f"write-{secrets.token_hex(8)}",
                                                  total=len(data), expected=digest, offset=0, data=data)
        try:
            async for _ in self.content.Write(reqs(), metadata=self._md):
                pass
        except grpc.aio.AioRpcError as exc:
            err = translate(exc)
            if not isinstance(err, AlreadyExists) and "already exists" not in err.message:
                raise err from None
        return digest

    async def blob_size(self, digest: str) -> int:
        resp = await self._call(self.content.Info, content_pb2.InfoRequest(digest=digest))
        return resp.info.size

    async def blob_labels(self, digest: str) -> dict[str, str]:
        """Content.Info's labels of a blob."""
        resp = await self._call(self.content.Info, content_pb2.InfoRequest(digest=digest))
        return dict(resp.info.labels)

    async def set_blob_label(self, digest: str, key: str, value: str) -> None:
        """Content.Update of one label of a blob; the update mask `labels.<key>` keeps the others
        (containerd's GC references among them)."""
        await self._call(self.content.Update, content_pb2.UpdateRequest(
            info=content_pb2.Info(digest=digest, labels={key: value}),
            update_mask=field_mask_pb2.FieldMask(paths=[f"labels.{key}"])))

    async def pull(self, ref: str, platform: str, auth: str,
                   insecure: list[str]) -> AsyncIterator[tuple[bytes, list[ImageRecord]]]:
        """Registry.Pull: Docker JSON progress lines, then the image records written."""
        call = self.registry.Pull(registry_pb2.PullRequest(ref=ref, platform=platform, auth=auth,
                                                           insecure_registries=insecure), metadata=self._md)
        try:
            async for msg in call:
                yield msg.json, [_image_record(i) for i in msg.images]
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from None

    async def push(self, ref: str, auth: str, insecure: list[str]) -> AsyncIterator[bytes]:
        call = self.registry.Push(registry_pb2.PushRequest(ref=ref, auth=auth, insecure_registries=insecure),
                                  metadata=self._md)
        try:
            async for msg in call:
                yield msg.json
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from None

    async def login(self, server: str, username: str, password: str, insecure: list[str]) -> str:
        """Registry.Login (POST /auth): the registry host the credentials were accepted by."""
        resp = await self._call(self.registry.Login, registry_pb2.LoginRequest(
            server=server, username=username, password=password, insecure_registries=insecure))
        return resp.server

    async def import_archive(self, chunks: AsyncIterator[bytes], fmt: str, ref: str = "", config: bytes = b"",
                             quiet: bool = False) -> AsyncIterator[tuple[str, bytes, list[ImageRecord]]]:
        """Stream a tar to the Importer; yields (result line, Docker JSON progress message, images) as the
        server reports them, one of them set per message; `quiet`: no per-layer progress (docker load -q)."""

        async def requests() -> AsyncIterator[Any]:
            yield importer_pb2.ImportRequest(format=fmt, ref=ref, config=config, quiet=quiet)
            async for chunk in chunks:
                if chunk:
                    yield importer_pb2.ImportRequest(data=chunk)

        call = self.importer.Import(requests(), metadata=self._md)
        try:
            async for resp in call:
                yield resp.status, resp.json, [_image_record(i) for i in resp.images]
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from None

    # --- snapshots ----------------------------------------------------------------------------
    async def prepare_snapshot(self, key: str, parent: str, gc_root: bool = True) -> list[Any]:
        # A GC root: containerd collects snapshots no container record references, and a stopped
        # Docker container has no containerd container (its writable layer must stay until rm).
        # (Not for one that is committed next: the label would stay and hold it, and its parents, forever.)
        from datetime import datetime, timezone
        labels = {"containerd.io/gc.root": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")} if gc_root else {}
        resp = await self._call(self.snapshots.Prepare, snapshots_pb2.PrepareSnapshotRequest(
            snapshotter=self.snapshotter, key=key, parent=parent, labels=labels))
        return list(resp.mounts)

    async def diff_layer(self, left: list[Any], right: list[Any], media_type: str) -> Any:
        """Diff.Diff: the layer (a blob descriptor) of what `right` changed over `left`."""
        return (await self._call(self.diff.Diff, diff_pb2.DiffRequest(left=left, right=right,
                                                                       media_type=media_type))).diff

    async def apply_layer(self, layer: Any, mounts: list[Any]) -> None:
        """Diff.Apply: unpack layer `layer` onto the active snapshot with `mounts`."""
        await self._call(self.diff.Apply, diff_pb2.ApplyRequest(diff=layer, mounts=mounts))

    async def view_snapshot(self, key: str, parent: str) -> list[Any]:
        """A read-only view `key` of committed snapshot `parent` (remove it when done)."""
        resp = await self._call(self.snapshots.View, snapshots_pb2.ViewSnapshotRequest(
            snapshotter=self.snapshotter, key=key, parent=parent))
        return list(resp.mounts)

    async def commit_snapshot(self, name: str, key: str) -> None:
        """Active snapshot `key` becomes committed snapshot `name` (AlreadyExists if that exists)."""
        await self._call(self.snapshots.Commit, snapshots_pb2.CommitSnapshotRequest(
            snapshotter=self.snapshotter, name=name, key=key))

    async def snapshot_names(self) -> list[str]:
        """The names (keys) of every snapshot of this namespace's snapshotter."""
        out: list[str] = []
        try:
            async for resp in self.snapshots.List(snapshots_pb2.ListSnapshotsRequest(snapshotter=self.snapshotter),
                                                  metadata=self._md):
                out += [info.name for info in resp.info]
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from None
        return out

    async def snapshot_parent(self, key: str) -> str:
        """The parent of snapshot `key` ("" for none); NotFound if there is no such snapshot."""
        resp = await self._call(self.snapshots.Stat, snapshots_pb2.StatSnapshotRequest(
            snapshotter=self.snapshotter, key=key))
        return resp.info.parent

    async def snapshot_mounts(self, key: str) -> list[Any]:
        resp = await self._call(self.snapshots.Mounts, snapshots_pb2.MountsRequest(
            snapshotter=self.snapshotter, key=key))
        return list(resp.mounts)

    async def snapshot_diff_size(self, key: str) -> int:
        """Snapshots.Usage of `key` by Docker's rule (what `docker ps -s` calls SizeRw: file lengths and
        symlink target lengths, a hard link once), asked with pycontainerd's `pycontainerd-usage-rule`
        header; a real containerd ignores the header and answers in its own sense (allocated blocks)."""
        resp = await self._call(self.snapshots.Usage, snapshots_pb2.UsageRequest(snapshotter=self.snapshotter, key=key),
                                metadata=((USAGE_RULE_HEADER, USAGE_RULE_DIFFSIZE),))
        return resp.size

    async def remove_snapshot(self, key: str) -> None:
        await self._call(self.snapshots.Remove, snapshots_pb2.RemoveSnapshotRequest(
            snapshotter=self.snapshotter, key=key))

    # --- containers ---------------------------------------------------------------------------
    async def create_container(self, cid: str, image: str, spec: dict[str, Any], snapshot_key: str,
                               runtime_binary: str = "", labels: dict[str, str] | None = None) -> None:
        runtime = containers_pb2.Container.Runtime(name=RUNTIME_NAME)
        if runtime_binary:
            opts = runc_options_pb2.Options(binary_name=runtime_binary)
            runtime.options.CopyFrom(any_pb2.Any(type_url=RUNC_OPTIONS_TYPE_URL,
                                                 value=opts.SerializeToString()))
        container = containers_pb2.Container(
            id=cid, image=image, labels=labels or {}, runtime=runtime,
            spec=any_pb2.Any(type_url=SPEC_TYPE_URL, value=json.dumps(spec).encode()),
            snapshotter=self.snapshotter, snapshot_key=snapshot_key)
        await self._call(self.containers.Create, containers_pb2.CreateContainerRequest(container=container))

    async def delete_container(self, cid: str) -> None:
        await self._call(self.containers.Delete, containers_pb2.DeleteContainerRequest(id=cid))

    # --- tasks --------------------------------------------------------------------------------
    async def create_task(self, cid: str, rootfs: list[Any], stdin: str, stdout: str, stderr: str,
                          terminal: bool) -> int:
        resp = await self._call(self.tasks.Create, tasks_pb2.CreateTaskRequest(
            container_id=cid, rootfs=[mount_pb2.Mount(type=m.type, source=m.source, target=m.target,
                                                      options=list(m.options)) for m in rootfs],
            stdin=stdin, stdout=stdout, stderr=stderr, terminal=terminal))
        return resp.pid

    async def start_task(self, cid: str, exec_id: str = "") -> int:
        resp = await self._call(self.tasks.Start, tasks_pb2.StartRequest(container_id=cid, exec_id=exec_id))
        return resp.pid

    async def wait_task(self, cid: str, exec_id: str = "") -> int:
        resp = await self._call(self.tasks.Wait, tasks_pb2.WaitRequest(container_id=cid, exec_id=exec_id))
        return resp.exit_status

    async def kill_task(self, cid: str, signal: int, exec_id: str = "", all: bool = False) -> None:
        await self._call(self.tasks.Kill, tasks_pb2.KillRequest(
            container_id=cid, exec_id=exec_id, signal=signal, all=all))

    async def delete_task(self, cid: str) -> int:
        resp = await self._call(self.tasks.Delete, tasks_pb2.DeleteTaskRequest(container_id=cid))
        return resp.exit_status

    async def delete_process(self, cid: str, exec_id: str) -> int:
        resp = await self._call(self.tasks.DeleteProcess, tasks_pb2.DeleteProcessRequest(
            container_id=cid, exec_id=exec_id))
        return resp.exit_status

    async def get_task(self, cid: str, exec_id: str = "") -> Any:
        resp = await self._call(self.tasks.Get, tasks_pb2.GetRequest(container_id=cid, exec_id=exec_id))
        return resp.process

    async def resize_pty(self, cid: str, width: int, height: int, exec_id: str = "") -> None:
        await self._call(self.tasks.ResizePty, tasks_pb2.ResizePtyRequest(
            container_id=cid, exec_id=exec_id, width=width, height=height))

    async def oom_events(self) -> AsyncIterator[str]:
        """Container ids of /tasks/oom events in our namespace (until the connection ends)."""
        call = self.events.Subscribe(events_pb2.SubscribeRequest(
            filters=[f'topic=="/tasks/oom",namespace=="{self.namespace}"']), metadata=self._md)
        try:
            async for env in call:
                ev = task_events_pb2.TaskOOM()
                ev.ParseFromString(env.event.value)
                yield ev.container_id
        except grpc.aio.AioRpcError as exc:
            raise translate(exc) from None
        finally:
            call.cancel()

    async def metrics(self, cid: str) -> Any:
        """The task's cgroup metrics: Metric.data, an Any holding io.containerd.cgroups.v1 or .v2 Metrics
        (stats.build tells them apart by type URL), or None when it has none."""
        resp = await self._call(self.tasks.Metrics, tasks_pb2.MetricsRequest(filters=[f'id=="{cid}"']))
        for m in resp.metrics:
            if m.id == cid:
                return m.data
        return None

    async def update_task(self, cid: str, resources: dict[str, Any]) -> None:
        await self._call(self.tasks.Update, tasks_pb2.UpdateTaskRequest(
            container_id=cid, resources=any_pb2.Any(
                type_url="types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
                value=json.dumps(resources).encode())))

    async def pause_task(self, cid: str) -> None:
        await self._call(self.tasks.Pause, tasks_pb2.PauseTaskRequest(container_id=cid))

    async def resume_task(self, cid: str) -> None:
        await self._call(self.tasks.Resume, tasks_pb2.ResumeTaskRequest(container_id=cid))

    async def list_pids(self, cid: str) -> list[int]:
        resp = await self._call(self.tasks.ListPids, tasks_pb2.ListPidsRequest(container_id=cid))
        return [p.pid for p in resp.processes]

    async def close_stdin(self, cid: str, exec_id: str = "") -> None:
        await self._call(self.tasks.CloseIO, tasks_pb2.CloseIORequest(
            container_id=cid, exec_id=exec_id, stdin=True))

    async def exec_process(self, cid: str, exec_id: str, process: dict[str, Any], stdin: str,
                           stdout: str, stderr: str, terminal: bool) -> None:
        await self._call(self.tasks.Exec, tasks_pb2.ExecProcessRequest(
            container_id=cid, exec_id=exec_id, stdin=stdin, stdout=stdout, stderr=stderr,
            terminal=terminal,
            spec=any_pb2.Any(type_url=PROCESS_TYPE_URL, value=json.dumps(process).encode())))

    # --- networks (pycontainerd's own service) ----------------------------------------------
    async def has_networks(self) -> bool:
        try:
            await self._call(self.networks.List, networks_pb2.ListNetworksRequest(), timeout=10)
            return True
        except (NotImplementedYet, Unavailable):
            return False

    async def create_sandbox(self, cid: str, hostname: str, domainname: str, dns: list[str],
                             search: list[str], options: list[str], extra_hosts: list[str]) -> str:
        resp = await self._call(self.networks.CreateSandbox, networks_pb2.CreateSandboxRequest(
            container_id=cid, hostname=hostname, domainname=domainname,
            dns=networks_pb2.DNSConfig(servers=dns, search=search, options=options), extra_hosts=extra_hosts))
        return resp.netns_path

    async def delete_sandbox(self, cid: str) -> None:
        await self._call(self.networks.DeleteSandbox, networks_pb2.DeleteSandboxRequest(container_id=cid))

    async def sandbox_files(self, cid: str, host_network: bool = False, hostname: str = "",
                            dns: list[str] | None = None, search: list[str] | None = None,
                            options: list[str] | None = None, extra_hosts: list[str] | None = None) -> Any:
        return await self._call(self.networks.SandboxFiles, networks_pb2.SandboxFilesRequest(
            container_id=cid, host_network=host_network, hostname=hostname,
            dns=networks_pb2.DNSConfig(servers=dns or [], search=search or [], options=options or []),
            extra_hosts=extra_hosts or []))

    async def connect(self, network: str, cid: str, name: str, aliases: list[str], ipv4: str,
                      ports: list[dict[str, Any]]) -> Any:
        resp = await self._call(self.networks.Connect, networks_pb2.ConnectRequest(
            network=network, container_id=cid, name=name, aliases=aliases, ipv4_address=ipv4,
            ports=[networks_pb2.PortBinding(**p) for p in ports]))
        return resp.endpoint

    async def disconnect(self, network: str, cid: str, force: bool) -> None:
        await self._call(self.networks.Disconnect, networks_pb2.DisconnectRequest(
            network=network, container_id=cid, force=force))

    async def list_networks(self, filters: dict[str, list[str]] | None = None) -> list[Any]:
        resp = await self._call(self.networks.List, networks_pb2.ListNetworksRequest(filters=[
            networks_pb2.Filter(key=k, values=v) for k, v in (filters or {}).items()]))
        return list(resp.networks)

    async def get_network(self, ref: str) -> Any:
        resp = await self._call(self.networks.Get, networks_pb2.GetNetworkRequest(ref=ref))
        return resp.network

    async def create_network(self, name: str, driver: str, ipam: list[dict[str, Any]], internal: bool,
                             attachable: bool, labels: dict[str, str], options: dict[str, str]) -> Any:
        resp = await self._call(self.networks.Create, networks_pb2.CreateNetworkRequest(
            name=name, driver=driver, ipam=[networks_pb2.IPAMConfig(**i) for i in ipam], internal=internal,
            attachable=attachable, labels=labels, options=options))
        return resp.network

    async def prune_networks(self, filters: dict[str, list[str]]) -> list[str]:
        resp = await self._call(self.networks.Prune, networks_pb2.PruneNetworksRequest(filters=[
            networks_pb2.Filter(key=k, values=v) for k, v in filters.items()]))
        return list(resp.deleted)

    async def delete_network(self, ref: str) -> None:
        await self._call(self.networks.Delete, networks_pb2.DeleteNetworkRequest(ref=ref))
