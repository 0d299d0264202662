"""Leases, Snapshots, Diff, Containers and Importer servicers."""
from __future__ import annotations

import asyncio
import json
import os
import tempfile
from typing import Any

import grpc
from google.protobuf import any_pb2, empty_pb2

from protos.containerd.events import container_pb2 as container_events
from protos.containerd.events import snapshot_pb2 as snapshot_events
from protos.containerd.services.containers.v1 import containers_pb2, containers_pb2_grpc
from protos.containerd.services.diff.v1 import diff_pb2, diff_pb2_grpc
from protos.containerd.services.leases.v1 import leases_pb2, leases_pb2_grpc
from protos.containerd.services.snapshots.v1 import snapshots_pb2, snapshots_pb2_grpc
from protos.pycontainerd.services.importer.v1 import importer_pb2, importer_pb2_grpc

from .. import diff, filters
from ..containers import AnyValue, Container
from ..errdefs import InvalidArgument, NotImplementedErr
from ..images import Descriptor
from ..importer import Importer
from ..snapshots import overlay
from .common import LineQueue, desc_to_pb, hold, from_ts, mounts_from_pb, mounts_to_pb, namespace, rpc, ts
from .images import image_pb


class LeasesService(leases_pb2_grpc.LeasesServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @rpc
    async def Create(self, request: leases_pb2.CreateRequest, context: grpc.aio.ServicerContext) -> leases_pb2.CreateResponse:
        lease = self.d.leases.create(namespace(context), request.id, dict(request.labels))
        return leases_pb2.CreateResponse(lease=leases_pb2.Lease(id=lease.id, created_at=ts(lease.created_at),
                                                                labels=lease.labels))

    @rpc
    async def Delete(self, request: leases_pb2.DeleteRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        self.d.leases.delete(ns, request.id)
        if request.sync:
            await self.d.gc(ns)
        else:
            self.d.gc_soon(ns)
        return empty_pb2.Empty()

    @rpc
    async def List(self, request: leases_pb2.ListRequest, context: grpc.aio.ServicerContext) -> leases_pb2.ListResponse:
        parsed = filters.parse(request.filters)
        out = [leases_pb2.Lease(id=x.id, created_at=ts(x.created_at), labels=x.labels)
               for x in self.d.leases.list(namespace(context))
               if filters.match(parsed, filters.dict_adaptor({"id": x.id, "labels": x.labels}))]
        return leases_pb2.ListResponse(leases=out)

    @rpc
    async def AddResource(self, request: leases_pb2.AddResourceRequest,
                          context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        self.d.leases.add_resource(namespace(context), request.id, request.resource.id, request.resource.type)
        return empty_pb2.Empty()

    @rpc
    async def DeleteResource(self, request: leases_pb2.DeleteResourceRequest,
                             context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        self.d.leases.delete_resource(namespace(context), request.id, request.resource.id, request.resource.type)
        return empty_pb2.Empty()

    @rpc
    async def ListResources(self, request: leases_pb2.ListResourcesRequest,
                            context: grpc.aio.ServicerContext) -> leases_pb2.ListResourcesResponse:
        res = self.d.leases.resources(namespace(context), request.id)
        return leases_pb2.ListResourcesResponse(resources=[leases_pb2.Resource(id=i, type=t) for i, t in res])


_KINDS = {overlay.KIND_VIEW: snapshots_pb2.VIEW, overlay.KIND_ACTIVE: snapshots_pb2.ACTIVE,
          overlay.KIND_COMMITTED: snapshots_pb2.COMMITTED}


def snap_info_pb(i: overlay.Info) -> snapshots_pb2.Info:
    return snapshots_pb2.Info(name=i.name, parent=i.parent, kind=_KINDS[i.kind], created_at=ts(i.created_at),
                              updated_at=ts(i.updated_at), labels=i.labels)


class SnapshotsService(snapshots_pb2_grpc.SnapshotsServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    def _sn(self, name: str) -> overlay.OverlaySnapshotter:
        if name not in ("overlayfs", ""):
            raise InvalidArgument(f"snapshotter not loaded: {name}")
        return self.d.snapshotter

    @rpc
    async def Prepare(self, request: snapshots_pb2.PrepareSnapshotRequest,
                      context: grpc.aio.ServicerContext) -> snapshots_pb2.PrepareSnapshotResponse:
        ns = namespace(context)
        mounts = self._sn(request.snapshotter).prepare(ns, request.key, request.parent, dict(request.labels))
        hold(self.d, context, ns, request.key, f"snapshots/{overlay.NAME}")
        self.d.events.publish(ns, "/snapshot/prepare", snapshot_events.SnapshotPrepare(
            key=request.key, parent=request.parent, snapshotter=overlay.NAME))
        return snapshots_pb2.PrepareSnapshotResponse(mounts=mounts_to_pb(mounts))

    @rpc
    async def View(self, request: snapshots_pb2.ViewSnapshotRequest,
                   context: grpc.aio.ServicerContext) -> snapshots_pb2.ViewSnapshotResponse:
        ns = namespace(context)
        mounts = self._sn(request.snapshotter).view(ns, request.key, request.parent, dict(request.labels))
        hold(self.d, context, ns, request.key, f"snapshots/{overlay.NAME}")
        return snapshots_pb2.ViewSnapshotResponse(mounts=mounts_to_pb(mounts))

    @rpc
    async def Mounts(self, request: snapshots_pb2.MountsRequest,
                     context: grpc.aio.ServicerContext) -> snapshots_pb2.MountsResponse:
        mounts = self._sn(request.snapshotter).mounts(namespace(context), request.key)
        return snapshots_pb2.MountsResponse(mounts=mounts_to_pb(mounts))

    @rpc
    async def Commit(self, request: snapshots_pb2.CommitSnapshotRequest,
                     context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        await asyncio.to_thread(self._sn(request.snapshotter).commit, ns, request.name, request.key,
                                dict(request.labels))
        hold(self.d, context, ns, request.name, f"snapshots/{overlay.NAME}")
        self.d.events.publish(ns, "/snapshot/commit", snapshot_events.SnapshotCommit(
            key=request.key, name=request.name, snapshotter=overlay.NAME))
        return empty_pb2.Empty()

    @rpc
    async def Remove(self, request: snapshots_pb2.RemoveSnapshotRequest,
                     context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        await asyncio.to_thread(self._sn(request.snapshotter).remove, ns, request.key)
        self.d.events.publish(ns, "/snapshot/remove", snapshot_events.SnapshotRemove(
            key=request.key, snapshotter=overlay.NAME))
        return empty_pb2.Empty()

    @rpc
    async def Stat(self, request: snapshots_pb2.StatSnapshotRequest,
                   context: grpc.aio.ServicerContext) -> snapshots_pb2.StatSnapshotResponse:
        info = self._sn(request.snapshotter).stat(namespace(context), request.key)
        return snapshots_pb2.StatSnapshotResponse(info=snap_info_pb(info))

    @rpc
    async def Update(self, request: snapshots_pb2.UpdateSnapshotRequest,
                     context: grpc.aio.ServicerContext) -> snapshots_pb2.UpdateSnapshotResponse:
        info = self._sn(request.snapshotter).update(namespace(context), request.info.name, dict(request.info.labels),
                                                    list(request.update_mask.paths))
        return snapshots_pb2.UpdateSnapshotResponse(info=snap_info_pb(info))

    @rpc
    async def List(self, request: snapshots_pb2.ListSnapshotsRequest, context: grpc.aio.ServicerContext):
        parsed = filters.parse(request.filters)
        out = [snap_info_pb(i) for i in self._sn(request.snapshotter).list(namespace(context))
               if filters.match(parsed, filters.dict_adaptor({"name": i.name, "parent": i.parent, "kind": i.kind,
                                                              "labels": i.labels}))]
        for start in range(0, len(out), 100):
            yield snapshots_pb2.ListSnapshotsResponse(info=out[start:start + 100])

    @rpc
    async def Usage(self, request: snapshots_pb2.UsageRequest,
                    context: grpc.aio.ServicerContext) -> snapshots_pb2.UsageResponse:
        size, inodes = await asyncio.to_thread(self._sn(request.snapshotter).usage, namespace(context), request.key)
        return snapshots_pb2.UsageResponse(size=size, inodes=inodes)

    @rpc
    async def Cleanup(self, request: snapshots_pb2.CleanupRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        await asyncio.to_thread(self._sn(request.snapshotter).cleanup)
        return empty_pb2.Empty()


class DiffService(diff_pb2_grpc.DiffServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @rpc
    async def Apply(self, request: diff_pb2.ApplyRequest, context: grpc.aio.ServicerContext) -> diff_pb2.ApplyResponse:
        ns = namespace(context)
        self.d.content.info(ns, request.diff.digest)
        applied = await asyncio.to_thread(diff.apply_to_mounts, self.d.content.blob_path(request.diff.digest),
                                          request.diff.media_type, mounts_from_pb(request.mounts), self.d.tmp_dir)
        return diff_pb2.ApplyResponse(applied=desc_to_pb(Descriptor(
            diff.uncompressed_media_type(request.diff.media_type), applied.diff_id, applied.size)))

    @rpc
    async def Diff(self, request: diff_pb2.DiffRequest, context: grpc.aio.ServicerContext) -> diff_pb2.DiffResponse:
        ns = namespace(context)
        media_type = request.media_type or "application/vnd.oci.image.layer.v1.tar+gzip"
        if media_type not in diff.LAYER_TYPES:
            raise NotImplementedErr(f"unsupported diff media type: {media_type}")
        compress = media_type.endswith("gzip")
        computed = await asyncio.to_thread(diff.compute_overlay_diff, mounts_from_pb(request.left),
                                           mounts_from_pb(request.right), self.d.tmp_dir, compress)
        try:
            labels = dict(request.labels)
            labels["containerd.io/uncompressed"] = computed.diff_id
            size = os.path.getsize(computed.path)
            digest = await asyncio.to_thread(self.d.content.add_file, ns, computed.path, None, labels, True)
        finally:
            if os.path.exists(computed.path):
                os.unlink(computed.path)
        return diff_pb2.DiffResponse(diff=desc_to_pb(Descriptor(media_type, digest, size)))


def _any_value(a: any_pb2.Any) -> AnyValue | None:
    return AnyValue(a.type_url, a.value) if a.type_url else None


def container_from_pb(c: containers_pb2.Container) -> Container:
    return Container(id=c.id, labels=dict(c.labels), image=c.image, runtime_name=c.runtime.name,
                     runtime_options=_any_value(c.runtime.options), spec=_any_value(c.spec),
                     snapshotter=c.snapshotter, snapshot_key=c.snapshot_key, created_at=from_ts(c.created_at),
                     updated_at=from_ts(c.updated_at),
                     extensions={k: AnyValue(v.type_url, v.value) for k, v in c.extensions.items()},
                     sandbox=c.sandbox)


def container_pb(c: Container) -> containers_pb2.Container:
    out = containers_pb2.Container(id=c.id, labels=c.labels, image=c.image, snapshotter=c.snapshotter,
                                   snapshot_key=c.snapshot_key, created_at=ts(c.created_at),
                                   updated_at=ts(c.updated_at), sandbox=c.sandbox)
    out.runtime.name = c.runtime_name
    if c.runtime_options:
        out.runtime.options.CopyFrom(any_pb2.Any(type_url=c.runtime_options.type_url, value=c.runtime_options.value))
    if c.spec:
        out.spec.CopyFrom(any_pb2.Any(type_url=c.spec.type_url, value=c.spec.value))
    for k, v in c.extensions.items():
        out.extensions[k].CopyFrom(any_pb2.Any(type_url=v.type_url, value=v.value))
    return out


def _container_adaptor(c: Container) -> filters.Adaptor:
    base = filters.dict_adaptor({"id": c.id, "image": c.image, "labels": c.labels, "snapshotter": c.snapshotter,
                                 "snapshotkey": c.snapshot_key})

    def adapt(path: list[str]) -> str | None:
        if path[:2] == ["runtime", "name"]:
            return c.runtime_name
        return base(path)

    return adapt


class ContainersService(containers_pb2_grpc.ContainersServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @rpc
    async def Get(self, request: containers_pb2.GetContainerRequest,
                  context: grpc.aio.ServicerContext) -> containers_pb2.GetContainerResponse:
        return containers_pb2.GetContainerResponse(container=container_pb(self.d.containers.get(namespace(context),
                                                                                                request.id)))

    def _list(self, request: containers_pb2.ListContainersRequest, ns: str) -> list[containers_pb2.Container]:
        parsed = filters.parse(request.filters)
        return [container_pb(c) for c in self.d.containers.list(ns) if filters.match(parsed, _container_adaptor(c))]

    @rpc
    async def List(self, request: containers_pb2.ListContainersRequest,
                   context: grpc.aio.ServicerContext) -> containers_pb2.ListContainersResponse:
        return containers_pb2.ListContainersResponse(containers=self._list(request, namespace(context)))

    @rpc
    async def ListStream(self, request: containers_pb2.ListContainersRequest, context: grpc.aio.ServicerContext):
        for c in self._list(request, namespace(context)):
            yield containers_pb2.ListContainerMessage(container=c)

    @rpc
    async def Create(self, request: containers_pb2.CreateContainerRequest,
                     context: grpc.aio.ServicerContext) -> containers_pb2.CreateContainerResponse:
        ns = namespace(context)
        c = self.d.containers.create(ns, container_from_pb(request.container))
        ev = container_events.ContainerCreate(id=c.id, image=c.image)
        ev.runtime.name = c.runtime_name
        self.d.events.publish(ns, "/containers/create", ev)
        return containers_pb2.CreateContainerResponse(container=container_pb(c))

    @rpc
    async def Update(self, request: containers_pb2.UpdateContainerRequest,
                     context: grpc.aio.ServicerContext) -> containers_pb2.UpdateContainerResponse:
        ns = namespace(context)
        c = self.d.containers.update(ns, container_from_pb(request.container), list(request.update_mask.paths))
        self.d.events.publish(ns, "/containers/update", container_events.ContainerUpdate(
            id=c.id, image=c.image, labels=c.labels, snapshot_key=c.snapshot_key))
        return containers_pb2.UpdateContainerResponse(container=container_pb(c))

    @rpc
    async def Delete(self, request: containers_pb2.DeleteContainerRequest,
                     context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        self.d.containers.delete(ns, request.id)
        self.d.events.publish(ns, "/containers/delete", container_events.ContainerDelete(id=request.id))
        return empty_pb2.Empty()


class ImporterService(importer_pb2_grpc.ImporterServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @rpc
    async def Import(self, request_iterator: Any, context: grpc.aio.ServicerContext):
        ns = namespace(context)
        os.makedirs(self.d.tmp_dir, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="import-", dir=self.d.tmp_dir)
        fmt, ref, config = "", "", b""
        first = True
        try:
            with os.fdopen(fd, "wb") as spool:
                async for req in request_iterator:
                    if first:
                        fmt, ref, config = req.format or "archive", req.ref, req.config
                        first = False
                    if req.data:
                        spool.write(req.data)
            if fmt not in ("archive", "rootfs"):
                raise InvalidArgument(f"unknown import format {fmt!r}: want \"archive\" or \"rootfs\"", raw=True)
            lines = LineQueue()
            importer: Importer = self.d.importer
            progress = lines.put

            def work() -> list:
                if fmt == "rootfs":
                    try:
                        cfg = json.loads(config) if config else None
                    except ValueError as exc:
                        raise InvalidArgument(f"invalid image config: {exc}", raw=True) from None
                    if cfg is not None and not isinstance(cfg, dict):
                        raise InvalidArgument("invalid image config: not a JSON object", raw=True)
                    return importer.import_rootfs(ns, path, ref, cfg, progress)[0]
                return importer.import_archive(ns, path, progress)

            job = asyncio.ensure_future(asyncio.to_thread(work))
            async for line in lines.drain_while(job):
                yield importer_pb2.ImportResponse(status=line)
            images = job.result()
            yield importer_pb2.ImportResponse(images=[image_pb(i) for i in images])
        finally:
            if os.path.exists(path):
                os.unlink(path)
